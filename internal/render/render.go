// Package render turns a decision on a message into the gateway's output:
// the request forwarded to the target, or an answer to the caller (a denial
// shaped for MCP clients, an approval's prompt in the caller's protocol
// version), once, with the target's headers at the RESPONSE point.
package render

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// NotificationDenyStatus is the HTTP status of a denied notification: MCP's
// Streamable HTTP transport answers a notification it does not accept with an
// error status and, at most, a JSON-RPC error without an id.
const NotificationDenyStatus = http.StatusForbidden

// Output renders d on a message. msg is the parsed JSON-RPC message, or nil
// when the body could not be parsed; body is what an allow forwards,
// unchanged. An allow never echoes the caller's headers: the gateway would
// forward an echoed Authorization header to the target. target, at the
// RESPONSE point, is the target's answer, whose headers a denial keeps
// (Mcp-Session-Id must survive) and, for a streamed answer, its status too:
// only a stream's first event may set them, so no event changes them.
func Output(d decision.Decision, msg *mcp.Message, body json.RawMessage, target *gateway.Response, denyStatus int) gateway.Output {
	if d.Effect == decision.Allow {
		return gateway.Continue(body)
	}
	out := answer(d, msg, denyStatus)
	if target != nil {
		t := out.MCP.TransformedGatewayResponse
		t.Headers = WithoutLength(target.Headers)
		if target.IsStreamingResponse && target.StatusCode != 0 {
			t.StatusCode = target.StatusCode
		}
	}
	return out
}

// answer is d's answer to the caller.
func answer(d decision.Decision, msg *mcp.Message, denyStatus int) gateway.Output {
	if d.Effect == decision.Approval && msg != nil && msg.Method == mcp.MethodToolsCall && d.Approval != nil && d.Approval.Prompt != nil {
		return gateway.Respond(http.StatusOK, nil, prompt(d.Approval.Prompt, msg.ID, d.ID))
	}
	text := Text(d)
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
func Text(d decision.Decision) string {
	return "Denied: " + d.Reason + " (decision " + d.ID + ")"
}

// RepeatOf reports whether body, a JSON-RPC message decoded with UseNumber,
// is exactly the denial d gives msg, but under an earlier decision's id: the
// REQUEST point's answer to the same call, which the gateway shows the
// RESPONSE point. It returns that earlier id, and the output that answers
// with that denial again (with target's headers, as Output renders it):
// rendered once, to compare and to answer. Nothing in body is trusted:
// the denial is rebuilt from d and must equal body in every member, so a
// target that imitates a denial gains nothing by it, neither extra bytes
// nor a record marked as a repeat of a different denial. And a denial that
// may depend on the answer (policy.Finding.Answered) is never a repeat:
// the target could have made its answer cause that denial and look like
// it, under an id of its choosing, and hidden the denial from the metrics.
func RepeatOf(d decision.Decision, msg *mcp.Message, body map[string]any, target *gateway.Response, denyStatus int) (gateway.Output, string, bool) {
	if d.Effect != decision.Deny || body == nil || slices.ContainsFunc(d.Findings, func(f policy.Finding) bool { return f.Answered }) {
		// A denial that may depend on the answer is the RESPONSE point's
		// own: the target could have written that answer to look like the
		// denial it causes, under a decision id of its choosing.
		return gateway.Output{}, "", false
	}
	prev, ok := denialID(body)
	if !ok {
		return gateway.Output{}, "", false
	}
	d.ID = prev
	out := Output(d, msg, nil, target, denyStatus)
	want, err := codec.DecodeJSON(out.MCP.TransformedGatewayResponse.Body)
	if err != nil || !reflect.DeepEqual(want, body) {
		return gateway.Output{}, "", false
	}
	return out, prev, true
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

// prompt renders p as the JSON-RPC answer to request id.
func prompt(p *decision.Prompt, id json.RawMessage, decisionID string) json.RawMessage {
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
				"properties": map[string]any{decision.ConfirmField: map[string]any{
					"type": "boolean", "title": "Approve this call", "description": p.Message}},
				"required": []string{decision.ConfirmField},
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
		}{"input_required", map[string]input{decision.InputRequestID: {mcp.MethodElicitationCreate, e}}, p.RequestState}})
	case p.Version == mcp.Version20251125 && p.URL != "":
		type data struct {
			Elicitations []elicit `json:"elicitations"`
		}
		return marshal(envelope{JSONRPC: "2.0", ID: id, Error: struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    data   `json:"data"`
		}{decision.CodeURLElicitationRequired, p.Message + " (decision " + decisionID + ")",
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

// WithoutLength returns headers without Content-Length, which a changed
// body would contradict.
func WithoutLength(headers gateway.Headers) map[string]string {
	if headers == nil {
		return nil
	}
	out := make(map[string]string, len(headers))
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") {
			out[k] = v
		}
	}
	return out
}
