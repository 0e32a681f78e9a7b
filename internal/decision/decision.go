// Package decision holds the interceptor's decision as a value and turns it
// into the gateway output: continue to the target, or answer the caller with
// a denial shaped for MCP clients.
package decision

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Effect is what the decision does to the message.
type Effect string

// Effects.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
	// Approval: the call waits for an approval; the caller is told how
	// to give or get one (see Prompt).
	Approval Effect = "approval"
)

// JSON-RPC error codes of denials of methods other than tools/call. The first
// two are in JSON-RPC's implementation-defined server error range.
const (
	CodePolicyDenied   = -32001 // a policy denied the request
	CodeUndecidable    = -32002 // no decision could be made (bundle, evaluation or internal error): fail closed
	CodeRateLimited    = -32003 // a rate limit of the bundle is exceeded
	CodeInvalidRequest = -32600 // the event or its JSON-RPC body is malformed
	CodeInvalidParams  = -32602 // tools/call params are malformed
	// CodeURLElicitationRequired is MCP 2025-11-25's error that sends the
	// user to a URL before a retry; 2026-07-28 removed it.
	CodeURLElicitationRequired = -32042
)

// NotificationDenyStatus is the HTTP status of a denied notification: MCP's
// Streamable HTTP transport answers a notification it does not accept with an
// error status and, at most, a JSON-RPC error without an id.
const NotificationDenyStatus = http.StatusForbidden

// Decision is the interceptor's verdict on one message.
type Decision struct {
	ID     string `json:"id"`
	Effect Effect `json:"effect"`
	// Reason is shown to the caller on a denial: the policy authors' messages,
	// or a description of what was malformed. Never evaluation internals.
	Reason string `json:"reason"`
	// Code is the JSON-RPC error code a denial would carry.
	Code     int              `json:"code,omitempty"`
	Findings []policy.Finding `json:"findings,omitempty"`
	// Hidden names the tools removed from a tool list answer.
	Hidden []string `json:"hidden,omitempty"`
	// Redactions counts the replacements in a tool result per detector.
	Redactions map[string]int `json:"redactions,omitempty"`
	// RetryAfter is the seconds a rate-limited caller should wait; a
	// JSON-RPC error carries it as data.retryAfter.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Approval is set when policies asked for an approval.
	Approval *ApprovalState `json:"approval,omitempty"`
}

// ApprovalState is what became of a call that needs an approval.
type ApprovalState struct {
	// Status is confirm (the caller is asked in band), requested (a new
	// out-of-band request), pending (one already waits), granted,
	// rejected, limited (too many requests) or failed (it could not be
	// asked or checked: a denial); at the RESPONSE point, asked or
	// forwarded.
	Status string `json:"status"`
	// Channel is in-band or out-of-band.
	Channel string `json:"channel"`
	// ID is the out-of-band approval's id.
	ID string `json:"id,omitempty"`
	// Groups are the groups an approver must be in, one of each list;
	// none when the caller confirms.
	Groups [][]string `json:"groups,omitempty"`
	// By and At say who granted it and when (RFC 3339).
	By string `json:"by,omitempty"`
	At string `json:"at,omitempty"`
	// Comment is the approver's, from the signed grant, escaped as
	// approval.Visible does.
	Comment string `json:"comment,omitempty"`
	// Expired: an approval of the call had lapsed before this one.
	Expired bool `json:"expired,omitempty"`
	// Prompt is how the caller is asked; only for effect approval.
	Prompt *Prompt `json:"-"`
}

// Approval statuses and channels.
const (
	ApprovalConfirm   = "confirm"
	ApprovalRequested = "requested"
	ApprovalPending   = "pending"
	ApprovalGranted   = "granted"
	ApprovalRejected  = "rejected"
	ApprovalFailed    = "failed"
	// ApprovalLimited: a new request was refused, its requester having
	// asked for as many as the limits allow.
	ApprovalLimited = "limited"
	// ApprovalAsked: the RESPONSE point passed the REQUEST point's own
	// answer in the approval flow (a question or a denial).
	ApprovalAsked = "asked"
	// ApprovalForwarded: the RESPONSE point passed the result of a call
	// the REQUEST point granted and forwarded.
	ApprovalForwarded = "forwarded"

	InBand    = "in-band"
	OutOfBand = "out-of-band"
)

// Prompt is an answer that asks for an approval, in the caller's MCP
// version: a multi round-trip input request (2026-07-28), the -32042 URL
// elicitation error (2025-11-25) or a tool error that says what to do.
type Prompt struct {
	// Version is the client's MCP protocol version ("" when unknown).
	Version string
	// Message is shown to the user: what is asked and why.
	Message string
	// URL is where an approver decides, for an out-of-band approval; ""
	// asks the caller to confirm in a form (in band).
	URL string
	// ID is the out-of-band approval's id (the -32042 elicitationId).
	ID string
	// RequestState is the signed state of an in-band confirmation.
	RequestState string
}

// ConfirmField is the property of the in-band confirmation form.
const ConfirmField = "approve"

// InputRequestID is the key of the approval's multi round-trip input request.
const InputRequestID = "toolgate.approval"

// FromResult decides on a policy result: any enforcing finding denies;
// else any approval finding makes the call wait for an approval (deny
// overrides approval, approval overrides allow).
func FromResult(id string, r policy.Result) Decision {
	d := Decision{ID: id, Effect: Allow, Findings: r.Findings}
	enforced := r.Enforced()
	if len(enforced) == 0 {
		if approvals := r.Approvals(); len(approvals) > 0 {
			d.Effect, d.Reason = Approval, approvals[0].Message
		}
		return d
	}
	d.Effect, d.Code = Deny, CodePolicyDenied
	for _, f := range enforced {
		if f.Kind == policy.Error {
			d.Code = CodeUndecidable
		}
	}
	d.Reason = reasonOf(d.Findings, func(f policy.Finding) string { return f.Message })
	return d
}

// reasonOf joins the distinct messages of the enforcing findings, as
// message gives them, in order: a denial's reason.
func reasonOf(findings []policy.Finding, message func(policy.Finding) string) string {
	var msgs []string
	seen := map[string]bool{}
	for _, f := range findings {
		if m := message(f); f.Mode == policy.ModeEnforce && !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

// RecordReason returns d's reason as a record holds it: with the message
// of each finding that may quote the call's arguments
// (Finding.QuotesArguments) replaced by withheld, rebuilt from the
// findings, never by searching for the messages' text, which another
// message could overlap; a reason not made from them that holds such a
// message is withheld whole.
func (d Decision) RecordReason(withheld string) string {
	quoting := slices.ContainsFunc(d.Findings, func(f policy.Finding) bool { return f.QuotesArguments && f.Message != "" })
	if !quoting {
		return d.Reason
	}
	if d.Effect == Deny && d.Reason == reasonOf(d.Findings, func(f policy.Finding) string { return f.Message }) {
		return reasonOf(d.Findings, func(f policy.Finding) string {
			if f.QuotesArguments {
				return withheld
			}
			return f.Message
		})
	}
	for _, f := range d.Findings {
		if f.QuotesArguments && f.Message != "" && strings.Contains(d.Reason, f.Message) {
			return withheld
		}
	}
	return d.Reason
}

// Denied returns a denial that no policy produced: a malformed event or body,
// or a failure of the interceptor itself.
func Denied(id string, code int, reason string) Decision {
	return Decision{ID: id, Effect: Deny, Code: code, Reason: reason}
}

// Output renders the decision on a request. msg is the parsed JSON-RPC
// message, or nil when the body could not be parsed; body is what an allow
// forwards, unchanged. An allow never echoes the caller's headers: the gateway
// would forward an echoed Authorization header to the target.
func (d Decision) Output(msg *mcp.Message, body json.RawMessage, denyStatus int) gateway.Output {
	if d.Effect == Allow {
		return gateway.Continue(body)
	}
	if d.Effect == Approval && msg != nil && msg.Method == mcp.MethodToolsCall && d.Approval != nil && d.Approval.Prompt != nil {
		return gateway.Respond(http.StatusOK, nil, d.Approval.Prompt.answer(msg.ID, d.ID))
	}
	text := d.Text()
	var id json.RawMessage = json.RawMessage("null")
	if msg != nil {
		if msg.IsNotification() || msg.IsResponse() {
			// Neither expects an answer to match: a client's answer to a
			// server request is acknowledged, or refused, by status.
			return gateway.Respond(NotificationDenyStatus, nil, rpcError(nil, d.Code, text, d.RetryAfter))
		}
		id = msg.ID
		if msg.Method == mcp.MethodToolsCall {
			// MCP clients show a tool error to the model, which can then
			// explain the refusal; AgentCore Policy denies the same way.
			return gateway.Respond(denyStatus, nil, toolError(id, text))
		}
	}
	return gateway.Respond(denyStatus, nil, rpcError(id, d.Code, text, d.RetryAfter))
}

// Text is the denial's text as the caller sees it: the reason and the
// decision id an operator looks the record up by. This is the only place
// the format is written; RepeatOf is the only place it is read.
func (d Decision) Text() string {
	return "Denied: " + d.Reason + " (decision " + d.ID + ")"
}

// RepeatOf reports whether body, a JSON-RPC message decoded with UseNumber,
// is exactly the denial d gives msg, but under an earlier decision's id: the
// REQUEST point's answer to the same call, which the gateway shows the
// RESPONSE point. It returns that earlier id. Nothing in body is trusted:
// the denial is rebuilt from d and must equal body in every member, so a
// target that imitates a denial gains nothing by it, neither extra bytes
// nor a record marked as a repeat of a different denial.
func (d Decision) RepeatOf(msg *mcp.Message, body map[string]any, denyStatus int) (string, bool) {
	if d.Effect != Deny || body == nil {
		return "", false
	}
	prev, ok := denialID(body)
	if !ok {
		return "", false
	}
	d.ID = prev
	want, err := codec.DecodeJSON(d.Output(msg, nil, denyStatus).MCP.TransformedGatewayResponse.Body)
	if err != nil || !reflect.DeepEqual(want, body) {
		return "", false
	}
	return prev, true
}

// denialID returns the decision id at the end of a denial text in body,
// where Output puts one; it says nothing yet about the rest of body.
func denialID(body map[string]any) (string, bool) {
	var text string
	if e, ok := body["error"].(map[string]any); ok {
		text, _ = e["message"].(string)
	} else if r, ok := body["result"].(map[string]any); ok {
		if c, ok := r["content"].([]any); ok && len(c) == 1 {
			item, _ := c[0].(map[string]any)
			text, _ = item["text"].(string)
		}
	}
	const suffix, idLen = ")", 32
	i := len(text) - len(suffix) - idLen
	if i < 0 || !strings.HasSuffix(text, suffix) || !strings.HasSuffix(text[:i], " (decision ") {
		return "", false
	}
	id := text[i : i+idLen]
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return id, true
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// answer renders the prompt as the JSON-RPC answer to request id.
func (p *Prompt) answer(id json.RawMessage, decisionID string) json.RawMessage {
	type envelope struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   any             `json:"error,omitempty"`
	}
	type elicit struct {
		Mode            string         `json:"mode"`
		Message         string         `json:"message"`
		RequestedSchema map[string]any `json:"requestedSchema,omitempty"`
		URL             string         `json:"url,omitempty"`
		ElicitationID   string         `json:"elicitationId,omitempty"`
	}
	switch {
	case p.Version >= mcp.Version20260728:
		e := elicit{Mode: "url", Message: p.Message, URL: p.URL}
		if p.URL == "" {
			e.Mode, e.RequestedSchema = "form", map[string]any{
				"type": "object",
				"properties": map[string]any{ConfirmField: map[string]any{
					"type": "boolean", "title": "Approve this call", "description": p.Message}},
				"required": []string{ConfirmField},
			}
		}
		type input struct {
			Method string `json:"method"`
			Params elicit `json:"params"`
		}
		return marshal(envelope{JSONRPC: "2.0", ID: id, Result: struct {
			ResultType    string           `json:"resultType"`
			InputRequests map[string]input `json:"inputRequests"`
			RequestState  string           `json:"requestState,omitempty"`
		}{"input_required", map[string]input{InputRequestID: {"elicitation/create", e}}, p.RequestState}})
	case p.Version == mcp.Version20251125 && p.URL != "":
		type data struct {
			Elicitations []elicit `json:"elicitations"`
		}
		return marshal(envelope{JSONRPC: "2.0", ID: id, Error: struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    data   `json:"data"`
		}{CodeURLElicitationRequired, p.Message + " (decision " + decisionID + ")",
			data{[]elicit{{Mode: "url", Message: p.Message, URL: p.URL, ElicitationID: p.ID}}}}})
	default:
		return toolError(id, p.Message+" (decision "+decisionID+")")
	}
}

func toolError(id json.RawMessage, text string) json.RawMessage {
	return marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, struct {
		IsError bool          `json:"isError"`
		Content []textContent `json:"content"`
	}{true, []textContent{{"text", text}}}})
}

func rpcError(id json.RawMessage, code int, text string, retryAfter int) json.RawMessage {
	type retry struct {
		RetryAfter int `json:"retryAfter"`
	}
	type rpcErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    *retry `json:"data,omitempty"`
	}
	e := rpcErr{code, text, nil}
	if retryAfter > 0 {
		e.Data = &retry{retryAfter}
	}
	if id == nil {
		return marshal(struct {
			JSONRPC string `json:"jsonrpc"`
			Error   rpcErr `json:"error"`
		}{"2.0", e})
	}
	return marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcErr          `json:"error"`
	}{"2.0", id, e})
}

func marshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings and numbers are marshalled here.
		return json.RawMessage(`{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"Denied"}}`)
	}
	return b
}
