// Package attributes builds the attribute document: the single JSON document
// that every policy sees. Its shape is a public, versioned interface; see
// docs/attributes.md. Fields are always present (with empty
// values when they do not apply) unless documented otherwise, so that policies
// need no null checks.
package attributes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/command"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Version is the version of the document's shape. It changes only with an
// incompatible change; fields may be added within a version.
const Version = "v1"

// Phases and actions.
const (
	PhaseRequest  = "request"
	PhaseResponse = "response"

	ActionCall   = "call"   // a tools/call
	ActionList   = "list"   // one tool, prompt, resource or template being considered for a list answer
	ActionPrompt = "prompt" // a prompts/get, or a completion/complete of a prompt's arguments
	ActionRead   = "read"   // a resources/read, subscribe or unsubscribe, or a completion/complete of a template's
	ActionOther  = "other"  // every other method
)

// Kinds of listed items, the document's list.kind.
const (
	ListTool     = "tool"
	ListPrompt   = "prompt"
	ListResource = "resource"
	ListTemplate = "template" // a resource template (resources/templates/list)
)

// Document is the attribute document.
type Document struct {
	Version   string             `json:"version"`
	Phase     string             `json:"phase"`
	Action    string             `json:"action"`
	MCP       MCP                `json:"mcp"`
	Principal identity.Principal `json:"principal"`
	Tool      Tool               `json:"tool"`
	Prompt    Prompt             `json:"prompt"`
	Resource  Resource           `json:"resource"`
	// List says what a document of action list is about: list.kind is
	// tool, prompt, resource or template; "" for other actions.
	List        List      `json:"list"`
	Environment string    `json:"environment"`
	Request     Request   `json:"request"`
	Response    *Response `json:"response,omitempty"` // phase response only
	Session     Session   `json:"session"`
	Approval    Approval  `json:"approval"`
	Time        Time      `json:"time"`
}

// Approval is the approval standing for this call (see docs/approvals.md):
// policies are evaluated again with Granted true once an
// approver has approved the exact call, so that a rule may read who did.
type Approval struct {
	Granted bool   `json:"granted"`
	By      string `json:"by"` // the approver's principal id
	At      string `json:"at"` // when, RFC 3339
	ID      string `json:"id"` // the out-of-band approval's id; "" in band
	// Channel is in-band (the caller confirmed in their client) or
	// out-of-band (an approver decided with the CLI).
	Channel string `json:"channel"`
}

// Session is the history of the caller's session before this call, read
// from the state table when the bundle's policies read it (see
// docs/sessions.md). Its fields are empty when Tracked is false.
type Session struct {
	// Tracked is true when the history was read for this call: the bundle
	// reads session, the action is call, the phase is request and the table
	// answered.
	Tracked bool `json:"tracked"`
	// Source is what keys the history, always with the principal and the
	// actor: mcp-session-id, policy-session-id (AgentCore Policy's
	// x-amzn-bedrock-agentcore-policy-session-id header) or, with neither
	// (stateless MCP 2026-07-28 requests), principal: every sessionless
	// call of the principal and actor shares one history.
	Source     string           `json:"source"`
	Calls      int64            `json:"calls"`
	Labels     []string         `json:"labels"`
	LabelCalls map[string]int64 `json:"labelCalls"`
	// First and Last are the times of the first and last call, RFC 3339.
	First string   `json:"first"`
	Last  string   `json:"last"`
	Tools []string `json:"tools"` // the last tools called, oldest first
}

// Session sources.
const (
	SessionFromMCP       = "mcp-session-id"
	SessionFromPolicy    = "policy-session-id"
	SessionFromPrincipal = "principal"
)

// PolicySessionHeader is the session header of AgentCore Policy's temporal
// policies, which clients already send.
const PolicySessionHeader = "x-amzn-bedrock-agentcore-policy-session-id"

// SessionKey returns the state table key of the document's session
// history and what keys it. The key is a digest of the principal, the
// actor and the session id, so that one caller can neither read nor poison
// another's history, and no id is in the table in the clear.
func (d *Document) SessionKey() (key, source string) {
	id, source := d.MCP.SessionID, SessionFromMCP
	if id == "" {
		id, source = d.Request.Headers[PolicySessionHeader], SessionFromPolicy
	}
	if id == "" {
		source = SessionFromPrincipal
	}
	sum := sha256.Sum256([]byte(d.Principal.ID + "\x00" + d.Principal.Actor + "\x00" + source + "\x00" + id))
	return "s#" + hex.EncodeToString(sum[:16]), source
}

// PrincipalKeys returns the state table keys of the principal's (and its
// actor's) histories in the window holding now, in the one before and in
// the one after: whatever session ids the client sends, its calls are
// also counted here, so that a fresh session id starts no empty history.
func (d *Document) PrincipalKeys(now time.Time, window time.Duration) (current, previous, next string) {
	key := func(i int64) string {
		sum := sha256.Sum256([]byte(d.Principal.ID + "\x00" + d.Principal.Actor + "\x00window\x00" + strconv.FormatInt(i, 10)))
		return "w#" + hex.EncodeToString(sum[:16])
	}
	i := now.Unix() / int64(window/time.Second)
	return key(i), key(i - 1), key(i + 1)
}

// SetSession puts a session history, read under source, in the document.
func (d *Document) SetSession(source string, calls int64, labels []string, labelCalls map[string]int64, first, last time.Time, tools []string) {
	d.Session = Session{Tracked: true, Source: source, Calls: calls, Labels: labels, LabelCalls: labelCalls, Tools: tools}
	if !first.IsZero() {
		d.Session.First, d.Session.Last = first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339)
	}
}

// MCP describes the JSON-RPC message.
type MCP struct {
	Method string `json:"method"`
	// Kind is request, notification or response (a client's answer to a
	// server request, whose method is empty): see the mcp.Kind constants.
	Kind      string `json:"kind"`
	ID        any    `json:"id"` // as sent: number, string or null
	SessionID string `json:"sessionId"`
	// TaskID is the taskId of a tasks/get, tasks/result, tasks/cancel or
	// tasks/update; "" otherwise.
	TaskID string `json:"taskId"`
}

// Tool describes the tool a message is about. Its strings are empty when the
// action is other.
type Tool struct {
	Name          string `json:"name"`
	Target        string `json:"target"`
	QualifiedName string `json:"qualifiedName"`
	Operation     string `json:"operation"`
	Risk          string `json:"risk"`
	// Labels are the catalog's labels of the tool and its target; [] when
	// none.
	Labels []string `json:"labels"`
	// Suspicious is true when the wire name looks crafted to pass for
	// another (see mcp.InspectName); SuspiciousReasons lists why.
	Suspicious        bool           `json:"suspicious"`
	SuspiciousReasons []string       `json:"suspiciousReasons"`
	Arguments         map[string]any `json:"arguments,omitzero"` // action call only: {} when none were sent
	// Wildcards are the JSON Pointers of the arguments that ask for
	// everything (see Wildcards); [] when none do or the action is not call.
	Wildcards []string `json:"wildcards"`
	// CredentialStores are the JSON Pointers of the arguments that name a
	// place credentials are kept (see CredentialStores); [] when none do
	// or the action is not call.
	CredentialStores []string `json:"credentialStores"`
	// Command is what the command line the tool carries in an argument
	// does, for a tool the catalog says carries one (see package command);
	// its dialect is "" for other tools and actions other than call.
	Command command.Command `json:"command"`
	// Definition is what is known of the tool's definition against its
	// pin (see Definition): for a tool listed, its listed definition;
	// for a call at the REQUEST point, the last one listed.
	Definition Definition `json:"definition"`
}

// Definition is a tool's definition (its tools/list entry but _meta) as
// a bundle's ToolPins judge it.
type Definition struct {
	// Status is DefinitionPinned, DefinitionChanged, DefinitionUnpinned
	// or DefinitionUnread.
	Status string `json:"status"`
	// Digest is the definition's ("sha256:" and the hex SHA-256 of its
	// RFC 8785 form): the listed one, or for a call the changed one last
	// listed, else the pin; "" when unknown.
	Digest string `json:"digest"`
	// Pin is the digest the tool is pinned to: by the bundle, or by its
	// first definition seen; "" when none.
	Pin string `json:"pin"`
}

// Definition statuses.
const (
	DefinitionPinned   = "pinned"   // the definition is the pinned one
	DefinitionChanged  = "changed"  // it differs from the pin
	DefinitionUnpinned = "unpinned" // the tool has no pin
	// DefinitionUnread: nothing was read of it (the bundle has no
	// ToolPins, the RESPONSE point of a call, a prompt's or resource's
	// document).
	DefinitionUnread = "unread"
)

// Prompt describes the prompt a message is about: a prompts/get, or one
// listed prompt. Its strings are empty for other messages.
type Prompt struct {
	Name          string `json:"name"`
	Target        string `json:"target"`
	QualifiedName string `json:"qualifiedName"` // as on the wire: <target>___<prompt>
	// Arguments are the template's arguments of a prompts/get (strings);
	// absent otherwise.
	Arguments map[string]any `json:"arguments,omitzero"`
}

// Resource describes the resource a message is about: a resources/read,
// subscribe or unsubscribe, or one listed resource or template. Its strings
// are empty for other messages. Scheme and Host are lower case; a URI that
// does not parse has only URI.
type Resource struct {
	URI    string `json:"uri"` // as sent; a template's uriTemplate
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Path   string `json:"path"`
}

// List says what a document of action list is about.
type List struct {
	Kind string `json:"kind"`
}

// Request holds request data that is not identity. Headers are the client's,
// with lower-case names and credentials removed: untrusted input.
type Request struct {
	Headers map[string]string `json:"headers"`
}

// Response describes the target's answer at the RESPONSE point. It is absent
// from the documents of action list, which are about one listed tool.
type Response struct {
	StatusCode int `json:"statusCode"`
	// Size is the length of the body in bytes, as received.
	Size int `json:"size"`
	// Streaming is true for an event of a streamed response.
	Streaming bool `json:"streaming"`
	// Kind is the kind of the target's message: response (the answer to
	// the request), or request or notification for a message the server
	// sends the client on a stream (sampling/createMessage,
	// elicitation/create, ...); empty when there is no body.
	Kind string `json:"kind"`
	// Method is the method of a server-to-client request or notification.
	Method string `json:"method"`
	// Body is the JSON-RPC message as the target sent it (before redaction),
	// or null when there was none.
	Body any `json:"body"`
}

// Time holds the evaluation time.
type Time struct {
	Now string `json:"now"` // RFC 3339, UTC
}

// Input is what Build needs to know about one message.
type Input struct {
	Phase         string
	Method        string
	Kind          string // the message's kind (mcp.Message.Kind)
	ID            any
	Headers       map[string]string // as received, any case
	QualifiedTool string            // wire tool name, for call and list
	Arguments     map[string]any    // call only; nil is an empty object
	// Inputs are the input responses a message gives its call (a
	// tools/call retry's, a tasks/update's): what the target reads as the
	// call's input besides its arguments.
	Inputs      map[string]any
	Prompt      string         // wire prompt name, for prompts/get
	PromptArgs  map[string]any // prompts/get only
	ResourceURI string         // for resources/read, subscribe, unsubscribe
	Task        string         // the taskId of a tasks/* request
	// TaskCall says the message carries the result of the task's tools/call
	// (a tasks/result or tasks/get answer): the document is that call's,
	// of QualifiedTool with Arguments.
	TaskCall bool
	Response *Response
	// Definitions returns what is known of the definition of the tool the
	// message calls or lists, by wire name; nil knows none (unread).
	Definitions func(name string) Definition
	Now         time.Time
}

// Builder builds documents for one deployment.
type Builder struct {
	// Environment is the deployment's environment (ENVIRONMENT).
	Environment string
	// Catalog is the bundle's tool catalog; nil uses the defaults.
	Catalog *catalog.Catalog
	// Verifier verifies bearer tokens; nil reads them unverified.
	Verifier *identity.Verifier
}

// sensitiveHeaders never reach the document: policies have no business with
// credentials, and documents may be printed or logged.
var sensitiveHeaders = map[string]bool{
	"authorization":        true,
	"proxy-authorization":  true,
	"cookie":               true,
	"x-amz-security-token": true,
}

// Build returns the document for in. ctx bounds a JWKS refetch.
func (b Builder) Build(ctx context.Context, in Input) Document {
	d := Document{
		Version:     Version,
		Phase:       in.Phase,
		Action:      ActionOther,
		MCP:         MCP{Method: in.Method, Kind: in.Kind, ID: in.ID},
		Environment: b.Environment,
		Request:     Request{Headers: make(map[string]string, len(in.Headers))},
		Response:    in.Response,
		Time:        Time{Now: in.Now.UTC().Format(time.RFC3339)},
		Tool: Tool{Labels: []string{}, SuspiciousReasons: []string{}, Wildcards: []string{}, CredentialStores: []string{}, Command: command.None(),
			Definition: Definition{Status: DefinitionUnread}},
		Session: Session{Labels: []string{}, LabelCalls: map[string]int64{}, Tools: []string{}},
	}
	for name, v := range in.Headers {
		if lower := strings.ToLower(name); !sensitiveHeaders[lower] {
			d.Request.Headers[lower] = v
		}
	}
	headers := gateway.Headers(in.Headers)
	d.MCP.SessionID, _ = headers.Get("Mcp-Session-Id")
	d.MCP.TaskID = in.Task
	d.Principal = b.principal(ctx, in.Headers)

	switch {
	case in.Method == mcp.MethodToolsCall || in.TaskCall:
		d.Action = ActionCall
	case in.Phase == PhaseResponse && in.QualifiedTool != "" && in.Method == mcp.MethodToolsList:
		d.Action, d.List.Kind = ActionList, ListTool
	case in.Method == mcp.MethodPromptsGet || in.Method == mcp.MethodCompletionComplete && in.Prompt != "":
		d.Action, d.Prompt = ActionPrompt, prompt(in.Prompt)
		d.Prompt.Arguments = in.PromptArgs
		if d.Prompt.Arguments == nil {
			d.Prompt.Arguments = map[string]any{}
		}
	case in.Method == mcp.MethodResourcesRead || in.Method == mcp.MethodResourcesSubscribe || in.Method == mcp.MethodResourcesUnsubscribe ||
		in.Method == mcp.MethodCompletionComplete && in.ResourceURI != "":
		d.Action, d.Resource = ActionRead, resource(in.ResourceURI)
	}
	if d.Action != ActionOther {
		var cmd *catalog.Command
		d.Tool, d.Environment, cmd = b.toolOf(in.QualifiedTool, d.Environment)
		d.Tool.Definition = definitionOf(in.Definitions, in.QualifiedTool)
		if d.Action == ActionCall {
			d.Tool.Arguments = in.Arguments
			if d.Tool.Arguments == nil {
				d.Tool.Arguments = map[string]any{}
			}
			d.Tool.Wildcards, d.Tool.CredentialStores = scanArguments(d.Tool.Arguments, in.Inputs)
			if cmd != nil {
				d.Tool.Command = command.Read(cmd.Dialect, cmd.Argument, d.Tool.Arguments)
			}
		}
	}
	return d
}

// principal identifies the caller by the Authorization header. The gateway
// passes headers as a map, so one header can arrive under two spellings; if
// they disagree, which one the gateway's authorizer checked is unknowable,
// and the caller is anonymous.
func (b Builder) principal(ctx context.Context, headers map[string]string) identity.Principal {
	auth, found := "", false
	for name, v := range headers {
		if !strings.EqualFold(name, "Authorization") {
			continue
		}
		if found && v != auth {
			p := identity.Anonymous()
			p.Verification = identity.AmbiguousToken
			return p
		}
		auth, found = v, true
	}
	return b.Verifier.Principal(ctx, auth)
}

// tool describes the tool with wire name qualified, and the environment it
// runs in (env, unless the catalog puts its target in another).
func (b Builder) tool(qualified, env string) (Tool, string) {
	t, env, _ := b.toolOf(qualified, env)
	return t, env
}

// toolOf is tool, with the command the catalog says the tool carries.
func (b Builder) toolOf(qualified, env string) (Tool, string, *catalog.Command) {
	target, name := mcp.SplitToolName(qualified)
	entry := b.Catalog.Lookup(target, name)
	if entry.Environment != "" {
		env = entry.Environment
	}
	reasons := mcp.InspectName(qualified)
	return Tool{Name: name, Target: target, QualifiedName: qualified, Operation: entry.Operation, Risk: entry.Risk, Labels: entry.Labels,
		Suspicious: len(reasons) > 0, SuspiciousReasons: reasons, Wildcards: []string{}, CredentialStores: []string{},
		Command: command.None()}, env, entry.Command
}

// ListVarying are the document's top-level fields that differ between the
// documents ListValues gives for one answer; all others are the same, and
// an engine may compute once what reads only them.
var ListVarying = map[string]bool{"tool": true, "prompt": true, "resource": true, "list": true, "environment": true}

// ListValues returns a function that gives the document value (see Value)
// of action list for each item of one answer listing tools (kind
// ListTool: its wire name), prompts (ListPrompt: its wire name), resources
// (ListResource: its URI) or templates (ListTemplate: its URI template):
// in describes the answer; its QualifiedTool, Arguments and Response are
// ignored. Only the item and the environment differ between items, so the
// rest is built once; the map returned, and its "tool" member, are reused by
// the next call.
func (b Builder) ListValues(ctx context.Context, in Input) func(kind, name string) map[string]any {
	in.QualifiedTool, in.Arguments, in.Response, in.Prompt, in.ResourceURI = "", nil, nil, "", ""
	d := b.Build(ctx, in)
	d.Action = ActionList
	v := d.Value()
	emptyTool, emptyPrompt, emptyResource := d.Tool.value(), d.Prompt.value(), d.Resource.value()
	item := make(map[string]any, 14) // each tool's, in turn
	return func(kind, name string) map[string]any {
		v["tool"], v["prompt"], v["resource"], v["environment"] = emptyTool, emptyPrompt, emptyResource, b.Environment
		v["list"] = listKind(kind)
		switch kind {
		case ListTool:
			t, env := b.tool(name, b.Environment)
			t.Definition = definitionOf(in.Definitions, name)
			t.fill(item)
			v["tool"], v["environment"] = item, env
		case ListPrompt:
			p := prompt(name)
			v["prompt"] = p.value()
		default:
			r := resource(name)
			v["resource"] = r.value()
		}
		return v
	}
}

// prompt describes the prompt with wire name qualified.
func prompt(qualified string) Prompt {
	target, name := mcp.SplitToolName(qualified)
	return Prompt{Name: name, Target: target, QualifiedName: qualified}
}

// resource describes the resource at uri.
func resource(uri string) Resource {
	r := Resource{URI: uri}
	if u, err := url.Parse(uri); err == nil {
		r.Scheme, r.Host, r.Path = strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Path
		if r.Path == "" {
			r.Path = u.Opaque
		}
	}
	return r
}

// listKind returns the value of list {kind}.
func listKind(kind string) map[string]any {
	if v, ok := listKinds[kind]; ok {
		return v
	}
	return map[string]any{"kind": kind}
}

// noPrompt, noResource and listKinds are the values of an empty prompt,
// an empty resource and each list.kind, which documents share: the engine
// reads documents and never changes them.
var (
	noPrompt   = map[string]any{"name": "", "target": "", "qualifiedName": ""}
	noResource = map[string]any{"uri": "", "scheme": "", "host": "", "path": ""}
	listKinds  = map[string]map[string]any{"": {"kind": ""}, ListTool: {"kind": ListTool}, ListPrompt: {"kind": ListPrompt},
		ListResource: {"kind": ListResource}, ListTemplate: {"kind": ListTemplate}}
)

func (p *Prompt) value() map[string]any {
	if p.QualifiedName == "" && p.Arguments == nil {
		return noPrompt
	}
	v := map[string]any{"name": p.Name, "target": p.Target, "qualifiedName": p.QualifiedName}
	if p.Arguments != nil {
		v["arguments"] = p.Arguments
	}
	return v
}

func (r *Resource) value() map[string]any {
	if *r == (Resource{}) {
		return noResource
	}
	return map[string]any{"uri": r.URI, "scheme": r.Scheme, "host": r.Host, "path": r.Path}
}

// Value returns the document as plain JSON values (maps, slices, strings,
// float64, bool, nil), the form the policy engine evaluates. It is what
// json.Unmarshal of json.Marshal(d) would give, without the round trip.
func (d *Document) Value() map[string]any {
	headers := make(map[string]any, len(d.Request.Headers))
	for k, v := range d.Request.Headers {
		headers[k] = v
	}
	tool := d.Tool.value()
	p := &d.Principal
	v := map[string]any{
		"version": word(d.Version),
		"phase":   word(d.Phase),
		"action":  word(d.Action),
		"mcp": map[string]any{
			"method":    word(d.MCP.Method),
			"kind":      word(d.MCP.Kind),
			"id":        d.MCP.ID,
			"sessionId": d.MCP.SessionID,
			"taskId":    d.MCP.TaskID,
		},
		"principal": map[string]any{
			"authenticated": p.Authenticated,
			"id":            p.ID,
			"type":          word(p.Type),
			"clientId":      p.ClientID,
			"username":      p.Username,
			"issuer":        p.Issuer,
			"groups":        strings2any(p.Groups),
			"scopes":        strings2any(p.Scopes),
			"actor":         p.Actor,
			"claims":        p.Claims,
			"verification":  word(p.Verification),
		},
		"tool":        tool,
		"prompt":      d.Prompt.value(),
		"resource":    d.Resource.value(),
		"list":        listKind(d.List.Kind),
		"environment": d.Environment,
		"request":     map[string]any{"headers": headers},
		"time":        map[string]any{"now": d.Time.Now},
		"session":     d.Session.value(),
		"approval":    d.Approval.value(),
	}
	if d.Response != nil {
		v["response"] = map[string]any{
			"statusCode": float64(d.Response.StatusCode),
			"size":       float64(d.Response.Size),
			"streaming":  d.Response.Streaming,
			"kind":       d.Response.Kind,
			"method":     d.Response.Method,
			"body":       d.Response.Body,
		}
	}
	return v
}

// vocabulary holds the values the document's fields take from a fixed
// vocabulary, each stored in an interface once: a string put in a
// map[string]any is otherwise an allocation on every call.
var vocabulary = func() map[string]any {
	w := map[string]any{}
	for _, s := range []string{Version, PhaseRequest, PhaseResponse, ActionCall, ActionList, ActionPrompt, ActionRead, ActionOther,
		mcp.KindRequest, mcp.KindNotification, mcp.KindResponse, identity.TypeUser, identity.TypeMachine, identity.TypeAnonymous,
		identity.Off, identity.Verified, catalog.OpRead, catalog.OpWrite, catalog.OpUnknown, catalog.OpExecute, catalog.OpDelete,
		catalog.RiskLow, catalog.RiskMedium, catalog.RiskHigh, catalog.RiskCritical,
		DefinitionPinned, DefinitionChanged, DefinitionUnpinned, DefinitionUnread} {
		w[s] = s
	}
	for _, m := range mcp.ReadMethods() {
		w[m] = m
	}
	return w
}()

// word is s as an interface, without allocating for a word of the vocabulary.
func word(s string) any {
	if v, ok := vocabulary[s]; ok {
		return v
	}
	return s
}

// noApproval is the approval of a call that has none, which documents
// share.
var noApproval = (&Approval{}).fields()

func (a *Approval) value() map[string]any {
	if *a == (Approval{}) {
		return noApproval
	}
	return a.fields()
}

func (a *Approval) fields() map[string]any {
	return map[string]any{"granted": a.Granted, "by": a.By, "at": a.At, "id": a.ID, "channel": a.Channel}
}

// noSession is the session of a call whose history was not read, which
// documents share.
var noSession = (&Session{}).fields()

func (s *Session) value() map[string]any {
	if !s.Tracked && s.Source == "" && s.Calls == 0 && len(s.Labels) == 0 && len(s.LabelCalls) == 0 &&
		s.First == "" && s.Last == "" && len(s.Tools) == 0 {
		return noSession
	}
	return s.fields()
}

func (s *Session) fields() map[string]any {
	counts := make(map[string]any, len(s.LabelCalls))
	for k, n := range s.LabelCalls {
		counts[k] = float64(n)
	}
	return map[string]any{
		"tracked": s.Tracked, "source": s.Source, "calls": float64(s.Calls), "labels": strings2any(s.Labels),
		"labelCalls": counts, "first": s.First, "last": s.Last, "tools": strings2any(s.Tools),
	}
}

func (t *Tool) value() map[string]any {
	v := make(map[string]any, 14)
	t.fill(v)
	return v
}

// fill sets the members of t's value in v, which may hold another tool's:
// a list's items share one map (see ListValues).
func (t *Tool) fill(v map[string]any) {
	v["name"], v["target"], v["qualifiedName"] = t.Name, t.Target, t.QualifiedName
	v["operation"], v["risk"], v["labels"] = word(t.Operation), word(t.Risk), strings2any(t.Labels)
	v["suspicious"] = t.Suspicious
	// strings2any: never null, so policies need no null check
	v["suspiciousReasons"], v["wildcards"], v["credentialStores"] = strings2any(t.SuspiciousReasons), strings2any(t.Wildcards), strings2any(t.CredentialStores)
	v["command"], v["definition"] = commandValue(&t.Command), definitionValue(&t.Definition)
	if t.Arguments != nil {
		v["arguments"] = t.Arguments
	} else {
		delete(v, "arguments")
	}
}

// noDefinition is the definition of a tool of which nothing was read,
// which documents share.
var noDefinition = map[string]any{"status": DefinitionUnread, "digest": "", "pin": ""}

// definitionOf returns the definition known of name, unread when none is.
func definitionOf(defs func(string) Definition, name string) Definition {
	if defs != nil {
		if d := defs(name); d.Status != "" {
			return d
		}
	}
	return Definition{Status: DefinitionUnread}
}

func definitionValue(d *Definition) map[string]any {
	if *d == (Definition{Status: DefinitionUnread}) {
		return noDefinition
	}
	return map[string]any{"status": word(d.Status), "digest": d.Digest, "pin": d.Pin}
}

// noCommand is the command of a tool that carries none, which documents
// share.
var noCommand = commandFields(&command.Command{AWS: command.None().AWS})

func commandValue(c *command.Command) map[string]any {
	if c.Dialect == "" {
		return noCommand
	}
	return commandFields(c)
}

func commandFields(c *command.Command) map[string]any {
	a := &c.AWS
	return map[string]any{
		"dialect": c.Dialect, "argument": c.Argument, "parsed": c.Parsed, "error": c.Error,
		"aws": map[string]any{
			"service": a.Service, "operation": a.Operation, "class": a.Class, "critical": a.Critical, "credentials": a.Credentials,
			"region":  a.Region,
			"profile": a.Profile, "endpointUrl": a.EndpointURL, "globals": plain(a.Globals), "parameters": plain(a.Parameters),
			"positional": strings2any(a.Positional),
		},
	}
}

// plain is m with its lists of strings as []any, as JSON decodes them.
func plain(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if list, ok := v.([]string); ok {
			v = strings2any(list)
		}
		out[k] = v
	}
	return out
}

func strings2any(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
