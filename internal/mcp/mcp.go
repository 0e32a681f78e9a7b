// Package mcp parses the JSON-RPC 2.0 messages of the Model Context Protocol
// that pass through the gateway, and the gateway's tool naming scheme.
package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/codec"
)

// Methods whose params this project reads, or whose answers it filters.
const (
	MethodToolsCall              = "tools/call"
	MethodToolsList              = "tools/list"
	MethodPromptsGet             = "prompts/get"
	MethodPromptsList            = "prompts/list"
	MethodResourcesRead          = "resources/read"
	MethodResourcesSubscribe     = "resources/subscribe"
	MethodResourcesUnsubscribe   = "resources/unsubscribe"
	MethodResourcesList          = "resources/list"
	MethodResourcesTemplatesList = "resources/templates/list"
	MethodCompletionComplete     = "completion/complete"
	MethodTasksGet               = "tasks/get"
	MethodTasksResult            = "tasks/result"
	MethodTasksCancel            = "tasks/cancel"
	MethodTasksUpdate            = "tasks/update"
	MethodTasksList              = "tasks/list"
	// MethodSubscriptionsListen opens a stream of the notifications a
	// client names (MCP 2026-07-28).
	MethodSubscriptionsListen = "subscriptions/listen"
	// Requests a server sends the client for input: a user's answer, a
	// model's completion.
	MethodElicitationCreate     = "elicitation/create"
	MethodSamplingCreateMessage = "sampling/createMessage"
)

// ReadMethods returns the methods whose params this project reads, or
// whose answers it filters.
func ReadMethods() []string { return slices.Clone(readMethods) }

// readMethods are the methods whose params this project reads: a case
// variant of one is refused, not judged as some other method.
var readMethods = []string{MethodToolsCall, MethodToolsList, MethodPromptsGet, MethodPromptsList, MethodResourcesRead,
	MethodResourcesSubscribe, MethodResourcesUnsubscribe, MethodResourcesList, MethodResourcesTemplatesList,
	MethodTasksGet, MethodTasksResult, MethodTasksCancel, MethodTasksUpdate, MethodTasksList, MethodCompletionComplete,
	MethodSubscriptionsListen}

// TargetSeparator joins target and tool names on the wire: "<target>___<tool>".
const TargetSeparator = "___"

// SearchTool is the wire name of AgentCore Gateway's built-in semantic
// search tool, the one tool without a target. Its results list tools too.
const SearchTool = "x_amz_bedrock_agentcore_search"

// Errors returned by Parse and ParseToolCall.
var (
	ErrBatch         = errors.New("JSON-RPC batches are not supported")
	ErrNotObject     = errors.New("JSON-RPC message is not an object")
	ErrNoMethod      = errors.New("JSON-RPC request has no method")
	ErrInvalidID     = errors.New("JSON-RPC id must be a string, a number or null")
	ErrToolName      = fmt.Errorf("tools/call params.name must be a non-empty string of at most %d bytes", MaxName)
	ErrToolArguments = errors.New("tools/call params.arguments must be an object")
	ErrParams        = errors.New("params must be an object")
	// A multi round-trip retry's members, when present, have these types.
	ErrInputResponses = errors.New("tools/call params.inputResponses must be an object")
	ErrRequestState   = errors.New("tools/call params.requestState must be a string")
	ErrMethodCase     = errors.New("method differs from a known MCP method only in case")
	ErrMemberCase     = errors.New("a member's name differs from a protocol member's only in case")
	ErrAnswerVersion  = errors.New(`jsonrpc must be "2.0"`)
	ErrAnswerID       = errors.New("id must be a string, a number or null")
	ErrAnswerMethod   = errors.New("method must be a string, and a message with one has no result or error")
	ErrPromptName     = fmt.Errorf("prompts/get params.name must be a non-empty string of at most %d bytes", MaxName)
	ErrPromptArgs     = errors.New("prompts/get params.arguments must be an object of strings")
	ErrResourceURI    = errors.New("params.uri must be a non-empty string")
	ErrTaskID         = errors.New("params.taskId must be a non-empty string of at most 256 bytes")
	ErrTaskInputs     = errors.New("tasks/update params.inputResponses must be an object")
	// ErrTaskNotifications: notifications of a task carry its result on a
	// stream the RESPONSE point may never see, judged as no call's.
	ErrTaskNotifications = errors.New("notifications of tasks carry results that are not judged as their calls': poll with tasks/get")
	ErrCompletionRef     = errors.New(`completion/complete params.ref must be {"type":"ref/prompt","name":...} or {"type":"ref/resource","uri":...}`)
)

// Message is one JSON-RPC 2.0 message. ID keeps the id exactly as sent (nil
// for a notification) so that it can be echoed byte for byte.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

// Parse decodes a request or notification from a body that is a JSON object or
// array. A batch (array) is reported as ErrBatch: MCP no longer allows them and
// judging one element at a time would let the rest through. Members are
// looked up by their exact names, as the gateway and MCP servers do:
// encoding/json's struct decoding would also take "Method" or "METHOD" for
// "method".
func Parse(body json.RawMessage) (Message, error) {
	var m Message
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		return m, ErrBatch
	}
	if len(b) == 0 || b[0] != '{' {
		return m, ErrNotObject
	}
	var members map[string]json.RawMessage
	if err := codec.UnmarshalJSON(b, &members); err != nil {
		return m, fmt.Errorf("%w: %v", ErrNotObject, err)
	}
	if err := exactNames(members, messageMembers); err != nil {
		return m, err
	}
	m.ID, m.Params, m.Result, m.Error = members["id"], members["params"], members["result"], members["error"]
	if v, ok := members["jsonrpc"]; ok && codec.UnmarshalJSON(v, &m.JSONRPC) != nil {
		return m, fmt.Errorf("%w: jsonrpc is not a string", ErrNotObject)
	}
	if m.ID != nil {
		switch id := bytes.TrimSpace(m.ID); {
		case string(id) == "null":
			// JSON-RPC allows a null id; echo it as sent.
		case len(id) > 0 && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')):
		default:
			return m, ErrInvalidID
		}
	}
	method, hasMethod := members["method"]
	if hasMethod && codec.UnmarshalJSON(method, &m.Method) != nil {
		return m, ErrNoMethod
	}
	if !hasMethod && m.ID != nil && (m.Result == nil) != (m.Error == nil) {
		// A client's answer to a server request (elicitation, sampling,
		// roots in MCP 2025-11-25 and earlier): a kind of its own.
		return m, nil
	}
	if m.Method == "" {
		return m, ErrNoMethod
	}
	// Method names are case-sensitive, so "Tools/Call" is some other
	// method to a policy; a lenient router would run it as a tool call.
	for _, known := range readMethods {
		if m.Method != known && strings.EqualFold(m.Method, known) {
			return m, ErrMethodCase
		}
	}
	return m, nil
}

// Message kinds, the attribute document's mcp.kind.
const (
	KindRequest      = "request"      // a method with an id: expects an answer
	KindNotification = "notification" // a method without an id
	KindResponse     = "response"     // a result or error answering the other side's request
)

// IsNotification reports whether the message is a method call without an id,
// which expects no answer.
func (m Message) IsNotification() bool { return m.ID == nil && m.Method != "" }

// IsResponse reports whether the message answers a request (it has a result
// or an error and no method).
func (m Message) IsResponse() bool { return m.Method == "" && (m.Result != nil || m.Error != nil) }

// Kind returns the message's kind (see the Kind constants).
func (m Message) Kind() string {
	switch {
	case m.IsResponse():
		return KindResponse
	case m.IsNotification():
		return KindNotification
	}
	return KindRequest
}

// IDValue returns the id as a JSON value: a float64 for a number, a string, or
// nil when absent or null.
func (m Message) IDValue() any {
	if m.ID == nil {
		return nil
	}
	// Every call reads its id, nearly always a plain string or a number:
	// those are read here as encoding/json reads them (FuzzIDValue), the
	// rest by encoding/json itself.
	id := bytes.TrimSpace(m.ID)
	if n := len(id); n >= 2 && id[0] == '"' && id[n-1] == '"' && plainString(id[1:n-1]) {
		return string(id[1 : n-1])
	}
	if len(id) > 0 && (id[0] == '-' || id[0] >= '0' && id[0] <= '9') {
		f, err := strconv.ParseFloat(string(id), 64)
		if err != nil {
			return nil // beyond float64, as encoding/json refuses it
		}
		return f
	}
	var v any
	if err := json.Unmarshal(id, &v); err != nil {
		return nil
	}
	return v
}

// plainString reports whether s, the inside of a JSON string, means
// itself: no escape, no control byte, valid UTF-8.
func plainString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return utf8.Valid(s)
}

// IsList reports whether method is one of the paginated lists, whose
// results carry a nextCursor.
func IsList(method string) bool {
	switch method {
	case MethodToolsList, MethodPromptsList, MethodResourcesList, MethodResourcesTemplatesList, MethodTasksList:
		return true
	}
	return false
}

// ToolCall is the params of a tools/call request.
type ToolCall struct {
	Name      string
	Arguments map[string]any
	// ProtocolVersion is the MCP version in params._meta (2026-07-28
	// clients send it with every request), or "".
	ProtocolVersion string
	// InputResponses and RequestState are a multi round-trip retry's
	// answers and the state it echoes (MCP 2026-07-28), or empty.
	InputResponses map[string]any
	RequestState   string
}

// RelatedTaskMeta is the _meta key by which a message names the task it is
// part of (MCP 2025-11-25).
const RelatedTaskMeta = "io.modelcontextprotocol/related-task"

// ProtocolVersionMeta is the _meta key of the MCP version of a request.
const ProtocolVersionMeta = "io.modelcontextprotocol/protocolVersion"

// Protocol versions this project answers in their own terms.
const (
	Version20250326 = "2025-03-26"
	Version20250618 = "2025-06-18"
	Version20251125 = "2025-11-25" // URL elicitation, the -32042 error
	Version20260728 = "2026-07-28" // stateless; multi round-trip input requests
)

// ParseToolCall decodes the params of a tools/call request. Missing or null
// arguments are an empty object; arguments of any other type than object are
// an error. Members are looked up by their exact names (see Parse).
func ParseToolCall(params json.RawMessage) (ToolCall, error) {
	p := bytes.TrimSpace(params)
	if len(p) == 0 || p[0] != '{' {
		return ToolCall{}, ErrParams
	}
	v, err := codec.UnmarshalAny(p) // one decoding pass; types checked after
	if err != nil {
		return ToolCall{}, fmt.Errorf("%w: %v", ErrParams, err)
	}
	members, _ := v.(map[string]any) // p starts with '{
	if err := exactNames(members, paramsMembers); err != nil {
		return ToolCall{}, err
	}
	var call ToolCall
	if name, ok := members["name"].(string); ok && name != "" && len(name) <= MaxName {
		call.Name = name
	} else {
		return ToolCall{}, ErrToolName
	}
	switch args := members["arguments"].(type) {
	case nil:
		call.Arguments = map[string]any{}
	case map[string]any:
		call.Arguments = args
	default:
		return ToolCall{}, ErrToolArguments
	}
	if meta, ok := members["_meta"].(map[string]any); ok {
		call.ProtocolVersion, _ = meta[ProtocolVersionMeta].(string)
	}
	switch v := members["inputResponses"].(type) {
	case nil:
	case map[string]any:
		call.InputResponses = v
	default:
		return ToolCall{}, ErrInputResponses
	}
	switch v := members["requestState"].(type) {
	case nil:
	case string:
		call.RequestState = v
	default:
		return ToolCall{}, ErrRequestState
	}
	return call, nil
}

// PromptGet is the params of a prompts/get request.
type PromptGet struct {
	Name      string
	Arguments map[string]any // the template's arguments: strings; {} when none
}

// ParsePromptGet decodes the params of a prompts/get request, members by
// their exact names.
func ParsePromptGet(params json.RawMessage) (PromptGet, error) {
	members, err := paramsObject(params)
	if err != nil {
		return PromptGet{}, err
	}
	var g PromptGet
	if name, ok := members["name"].(string); ok && name != "" && len(name) <= MaxName {
		g.Name = name
	} else {
		return PromptGet{}, ErrPromptName
	}
	switch args := members["arguments"].(type) {
	case nil:
		g.Arguments = map[string]any{}
	case map[string]any:
		for _, v := range args {
			if _, ok := v.(string); !ok {
				return PromptGet{}, ErrPromptArgs
			}
		}
		g.Arguments = args
	default:
		return PromptGet{}, ErrPromptArgs
	}
	return g, nil
}

// ParseResourceURI decodes the uri of a resources/read, subscribe or
// unsubscribe request.
func ParseResourceURI(params json.RawMessage) (string, error) {
	members, err := paramsObject(params)
	if err != nil {
		return "", err
	}
	uri, ok := members["uri"].(string)
	if !ok || uri == "" {
		return "", ErrResourceURI
	}
	return uri, nil
}

// ParseCompletionRef decodes what a completion/complete request completes
// the arguments of: a prompt (its wire name) or a resource template (its
// URI); the other is "".
func ParseCompletionRef(params json.RawMessage) (prompt, uri string, err error) {
	members, err := paramsObject(params)
	if err != nil {
		return "", "", err
	}
	ref, _ := members["ref"].(map[string]any)
	if err := exactNames(ref, paramsMembers); err != nil {
		return "", "", err
	}
	switch ref["type"] {
	case "ref/prompt":
		prompt, _ = ref["name"].(string)
	case "ref/resource":
		uri, _ = ref["uri"].(string)
	}
	if prompt == "" && uri == "" {
		return "", "", ErrCompletionRef
	}
	return prompt, uri, nil
}

// MaxName bounds a tool's or a prompt's name in a request: MCP names are
// short (the specification suggests at most 128 characters), and a name is
// stored in session histories and written to decision records.
const MaxName = 256

// MaxTaskID bounds a task id: ids are the target's, and bound in the
// state table.
const MaxTaskID = 256

// ParseTaskID decodes the taskId of a tasks/get, tasks/result,
// tasks/cancel or tasks/update request.
func ParseTaskID(params json.RawMessage) (string, error) {
	members, err := paramsObject(params)
	if err != nil {
		return "", err
	}
	id, ok := members["taskId"].(string)
	if !ok || id == "" || len(id) > MaxTaskID {
		return "", ErrTaskID
	}
	return id, nil
}

// ParseTaskUpdate decodes the taskId of a tasks/update request and the
// input responses it gives the task's call (an object, or nil when absent).
func ParseTaskUpdate(params json.RawMessage) (id string, inputs map[string]any, err error) {
	if id, err = ParseTaskID(params); err != nil {
		return "", nil, err
	}
	members, _ := paramsObject(params) // read once already
	switch v := members["inputResponses"].(type) {
	case nil:
	case map[string]any:
		inputs = v
	default:
		return "", nil, ErrTaskInputs
	}
	return id, inputs, nil
}

// ListensToTasks returns ErrTaskNotifications if the params of a
// subscriptions/listen ask for notifications of tasks: a member of
// params.notifications named taskIds, in any case.
func ListensToTasks(params json.RawMessage) error {
	members, err := paramsObject(params)
	if err != nil {
		return err
	}
	for k, v := range members {
		if !strings.EqualFold(k, "notifications") {
			continue
		}
		n, _ := v.(map[string]any)
		for k := range n {
			if strings.EqualFold(k, "taskIds") {
				return ErrTaskNotifications
			}
		}
	}
	return nil
}

// CreatedTask returns the id of the task a tools/call result creates
// instead of answering: result.task.taskId (MCP 2025-11-25), or
// result.taskId with resultType "task" (the tasks extension of
// 2026-07-28); "" when it creates none.
func CreatedTask(result map[string]any) string {
	if task, ok := result["task"].(map[string]any); ok {
		id, _ := task["taskId"].(string)
		return id
	}
	if result["resultType"] == "task" {
		id, _ := result["taskId"].(string)
		return id
	}
	return ""
}

func paramsObject(params json.RawMessage) (map[string]any, error) {
	p := bytes.TrimSpace(params)
	if len(p) == 0 || p[0] != '{' {
		return nil, ErrParams
	}
	var members map[string]any
	if err := codec.UnmarshalJSON(p, &members); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParams, err)
	}
	if err := exactNames(members, paramsMembers); err != nil {
		return nil, err
	}
	return members, nil
}

// Member names of the protocol, at the message's level, a request's params
// (and a completion's ref), and an answer's result. A decoder that matches
// names in any case (encoding/json) reads "Arguments" or "argumentſ" as
// "arguments": such a name is refused where these are read, or what a
// policy judged ({} for the arguments) would not be what the tool runs.
var (
	messageMembers = []string{"jsonrpc", "id", "method", "params", "result", "error"}
	paramsMembers  = []string{"name", "arguments", "_meta", "task", "inputResponses", "requestState", "uri", "taskId", "ref", "type",
		"cursor", "argument", "context"}
	resultMembers = []string{"content", "structuredContent", "isError", "_meta", "tools", "prompts", "resources", "resourceTemplates",
		"nextCursor", "task", "taskId", "resultType", "status", "statusMessage", "result", "error", "tasks", "messages", "contents",
		"description", "completion"}
)

// exactNames returns ErrMemberCase if a member of m is named as one of
// known is, but for case (strings.EqualFold folds as encoding/json does:
// "ſ" is "s"). Of several, it names the first in sorted order: the same
// message gets the same reason, whatever order the map gives.
func exactNames[V any](m map[string]V, known []string) error {
	first, found := "", false
	for k := range m {
		for _, n := range known {
			if k != n && strings.EqualFold(k, n) {
				if !found || k < first {
					first, found = k, true
				}
				break
			}
		}
	}
	if found {
		return fmt.Errorf("%w: %q", ErrMemberCase, first)
	}
	return nil
}

// CheckAnswer refuses an answer of a target whose message or result has a
// member named as a protocol member is, but for case: a client that
// matches names in any case would read what was never judged. It refuses
// a jsonrpc other than "2.0" and an id that is not a string, a number or
// null too: neither is read as the rest of the answer is (see
// redact.Scrubber.Body), so neither may carry text; and a method that is
// not a string, or beside a result or an error, which makes the message a
// request to one reader and an answer to another.
func CheckAnswer(body map[string]any) error {
	if err := exactNames(body, messageMembers); err != nil {
		return err
	}
	if v, ok := body["jsonrpc"]; ok && v != "2.0" {
		return ErrAnswerVersion
	}
	if v, ok := body["method"]; ok {
		// A message is a request (or a notification) or an answer:
		// read as one by some clients and as the other by others (Python's
		// files a method with an error as the error of its id), it would
		// be judged as what the client does not read.
		_, text := v.(string)
		if _, result := body["result"]; !text || result {
			return ErrAnswerMethod
		}
		if _, e := body["error"]; e {
			return ErrAnswerMethod
		}
	}
	switch body["id"].(type) {
	case nil, string, json.Number, float64:
	default:
		return ErrAnswerID
	}
	if result, ok := body["result"].(map[string]any); ok {
		if err := exactNames(result, resultMembers); err != nil {
			return err
		}
		if inner, ok := result["result"].(map[string]any); ok { // a task's inline result
			return exactNames(inner, resultMembers)
		}
	}
	return nil
}

// SplitToolName splits a wire tool name "<target>___<tool>" at the first
// separator. A name without a separator (such as the gateway's search tool)
// has no target.
func SplitToolName(qualified string) (target, tool string) {
	if i := strings.Index(qualified, TargetSeparator); i >= 0 {
		return qualified[:i], qualified[i+len(TargetSeparator):]
	}
	return "", qualified
}

// Reasons InspectName gives for a suspicious tool name.
const (
	NameNonASCII     = "non_ascii"     // a character outside ASCII
	NameControl      = "control"       // a control character
	NameInvisible    = "invisible"     // a format character: zero-width, bidi override, ...
	NameCombining    = "combining"     // a combining mark or variation selector
	NameWhitespace   = "whitespace"    // a space of any kind
	NameReplacement  = "replacement"   // U+FFFD: the name was not valid UTF-8 or held an unpaired surrogate
	NameMixedScripts = "mixed_scripts" // letters of two scripts, as in a Cyrillic "а" among Latin ones
	NameSeparator    = "separator"     // an empty target or tool, or more than one "___"
)

// scripts are the scripts whose letters InspectName tells apart; a letter of
// any other script counts as one more.
var scripts = []*unicode.RangeTable{
	unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Armenian, unicode.Hebrew,
	unicode.Arabic, unicode.Devanagari, unicode.Thai, unicode.Georgian, unicode.Hangul,
	unicode.Hiragana, unicode.Katakana, unicode.Han, unicode.Cherokee,
}

// InspectName returns why a wire tool name (or target name) looks crafted to
// be read as another name, or an empty list. Real tool names are ASCII
// identifiers; a name that a human or a pattern would read as another one is
// how a malicious target or caller gets past an allow-list.
func InspectName(name string) []string {
	var found [8]bool // indexed like order below
	const (
		nonASCII = iota
		control
		invisible
		combining
		whitespace
		replacement
		mixed
		separator
	)
	script := -1
	for _, r := range name {
		if r >= utf8.RuneSelf {
			found[nonASCII] = true
		}
		switch {
		case r == utf8.RuneError:
			found[replacement] = true
		case unicode.IsControl(r):
			found[control] = true
		case unicode.Is(unicode.Cf, r):
			found[invisible] = true
		case unicode.In(r, unicode.Mn, unicode.Me):
			found[combining] = true
		case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
			found[whitespace] = true
		case unicode.IsLetter(r):
			s := len(scripts)
			for i, t := range scripts {
				if unicode.Is(t, r) {
					s = i
					break
				}
			}
			if script >= 0 && s != script {
				found[mixed] = true
			}
			script = s
		}
	}
	if n := strings.Count(name, TargetSeparator); n > 1 || strings.Contains(name, TargetSeparator+"_") ||
		strings.HasPrefix(name, TargetSeparator) || (n == 1 && strings.HasSuffix(name, TargetSeparator)) {
		found[separator] = true
	}
	order := [8]string{NameNonASCII, NameControl, NameInvisible, NameCombining, NameWhitespace, NameReplacement, NameMixedScripts, NameSeparator}
	reasons := []string{}
	for i, f := range found {
		if f {
			reasons = append(reasons, order[i])
		}
	}
	return reasons
}
