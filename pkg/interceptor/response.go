package interceptor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/toolgate/toolgate/pkg/attributes"
	"github.com/toolgate/toolgate/pkg/decision"
	"github.com/toolgate/toolgate/pkg/gateway"
	"github.com/toolgate/toolgate/pkg/mcp"
	"github.com/toolgate/toolgate/pkg/redact"
	"github.com/toolgate/toolgate/pkg/strictjson"
	"github.com/toolgate/toolgate/pkg/toollist"
)

// response answers the RESPONSE point. The request is judged again, with
// the target's answer in the document: a request the policies deny never
// gets its result through, whether or not the REQUEST point ran, and a
// policy may deny a result by what it holds. An allowed answer has the tools
// the caller may not call removed from tool lists and what the redaction
// rules find replaced; an answer with nothing to change is echoed unchanged.
func (h *Handler) response(st *steps, id string, ev *gateway.MCPEvent) Result {
	r := Result{Phase: attributes.PhaseResponse}
	resp := ev.GatewayResponse
	if !gateway.ValidStatus(statusOf(resp)) {
		// Echoed, it would make the output invalid; shaping the denial
		// with it would too.
		resp.StatusCode = 0
		return h.rejectResponse(r, id, nil, resp, "the target's response could not be read", errStatus)
	}
	status := statusOf(resp)
	raw, err := gateway.NormalizeBody(resp.Body)
	if err == nil && raw != nil {
		// Numbers are not held to float64 precision: results carry 64-bit
		// ids, and no request is judged by them.
		err = strictjson.Check(raw, h.cfg.Limits.json())
	}
	if err != nil {
		return h.rejectResponse(r, id, nil, resp, "the target's response could not be read", err)
	}
	var body map[string]any
	if raw != nil {
		v, err := redact.Decode(raw)
		if body, _ = v.(map[string]any); err != nil || body == nil {
			return h.rejectResponse(r, id, nil, resp, "the target's response is not a JSON-RPC message", errNotMessage)
		}
	}
	_, msg, _, err := h.readRequest(ev)
	if err != nil {
		if isOwnDenial(body) {
			// The REQUEST point's denial of this unreadable request.
			r.Decision = decision.Denied(id, decision.CodeInvalidRequest, "request denied at the REQUEST point")
			r.Repeat = true
			return h.finish(r, resp, raw, body, map[string]any{})
		}
		return h.rejectResponse(r, id, answering(body), resp, "the request this response answers could not be read", err)
	}
	r.Method = msg.Method
	in := attributes.Input{
		Phase:  attributes.PhaseResponse,
		Method: msg.Method,
		ID:     msg.IDValue(),
		Now:    h.cfg.Now(),
	}
	if ev.GatewayRequest != nil {
		in.Headers = ev.GatewayRequest.Headers
	}
	if msg.Method == mcp.MethodToolsCall {
		call, err := h.toolCall(&msg)
		if err != nil {
			if isOwnDenial(body) {
				r.Decision = decision.Denied(id, decision.CodeInvalidParams, "request denied at the REQUEST point")
				r.Repeat = true
				return h.finish(r, resp, raw, body, map[string]any{})
			}
			return h.rejectResponse(r, id, &msg, resp, "invalid tools/call params", err)
		}
		in.QualifiedTool, in.Arguments = call.Name, call.Arguments
	}
	var bodyValue any
	if body != nil {
		bodyValue = plain(body)
	}
	in.Response = &attributes.Response{StatusCode: status, Size: len(raw), Streaming: resp.IsStreamingResponse, Body: bodyValue}
	value := h.decide(st, id, in, &r)
	if r.Decision.Effect == decision.Deny {
		st.next("respond")
		if !isOwnDenial(body) {
			r.Output = shapeDenial(r.Decision.Output(&msg, nil, h.cfg.DenyStatus), resp)
			return r
		}
		// The caller keeps the denial the REQUEST point gave it.
		r.Repeat = true
		return h.finish(r, resp, raw, body, value)
	}
	st.next("filter")
	if err := h.filterTools(st.ctx, in, body, &r.Decision); err != nil {
		return h.rejectResponse(r, id, &msg, resp, "the tool list could not be filtered", err)
	}
	st.next("respond")
	return h.finish(r, resp, raw, body, value)
}

// finish redacts the body with the rules that apply to the document value
// and answers with it: unchanged (byte for byte) when nothing was hidden or
// redacted.
func (h *Handler) finish(r Result, resp *gateway.Response, raw json.RawMessage, body map[string]any, value map[string]any) Result {
	status := statusOf(resp)
	changed := len(r.Decision.Hidden) > 0
	if body != nil {
		scrubber, errs := h.cfg.Redactor.Select(value)
		for _, err := range errs {
			h.cfg.Logger.Warn("redaction rule match failed; the rule was applied", "decision_id", r.Decision.ID, "error", err.Error())
		}
		counts := redact.Counts{}
		if scrubber.Body(body, counts) {
			r.Decision.Redactions, changed = counts, true
		}
	}
	if !changed {
		r.Output = gateway.Respond(status, resp.Headers, raw)
		return r
	}
	out, err := toollist.Marshal(body)
	if err != nil {
		return h.rejectResponse(r, r.Decision.ID, nil, resp, "the filtered response could not be encoded", err)
	}
	r.Output = gateway.Respond(status, withoutLength(resp.Headers), out)
	return r
}

// filterTools removes the tools the caller may not call from a tools/list
// result or a search tool result, judging each tool as a call of it with
// action list and no arguments. It records the names removed in d.
func (h *Handler) filterTools(ctx context.Context, in attributes.Input, body map[string]any, d *decision.Decision) error {
	result, _ := body["result"].(map[string]any)
	if result == nil {
		return nil
	}
	var filter func(map[string]any, toollist.Keep) ([]string, error)
	switch {
	case in.Method == mcp.MethodToolsList:
		filter = toollist.FilterList
	case in.Method == mcp.MethodToolsCall && in.QualifiedTool == toollist.SearchTool:
		filter = toollist.FilterSearch
	default:
		return nil
	}
	values, allows := h.builder.ListValues(ctx, in), h.cfg.Engine.AllowsEach()
	seen := map[string]bool{}
	keep := func(name string) bool {
		k, ok := seen[name]
		if !ok {
			k = allows(values(name))
			seen[name] = k
		}
		return k
	}
	hidden, err := filter(result, keep)
	d.Hidden = hidden
	return err
}

var (
	errNotMessage = errors.New("not a JSON object")
	errStatus     = errors.New("not an HTTP status")
)

// rejectResponse denies a response that could not be judged.
func (h *Handler) rejectResponse(r Result, id string, msg *mcp.Message, resp *gateway.Response, what string, err error) Result {
	r = h.reject(r, id, msg, decision.CodeUndecidable, what, err)
	r.Output = shapeDenial(r.Output, resp)
	return r
}

// shapeDenial keeps the target's response headers (Mcp-Session-Id must
// survive) and, for a streamed response, its status too: only the first
// event of a stream may set them, so no event changes them.
func shapeDenial(out gateway.Output, resp *gateway.Response) gateway.Output {
	t := out.MCP.TransformedGatewayResponse
	t.Headers = withoutLength(resp.Headers)
	if resp.IsStreamingResponse && resp.StatusCode != 0 {
		t.StatusCode = resp.StatusCode
	}
	return out
}

// statusOf returns the target's status, 200 when the event has none.
func statusOf(resp *gateway.Response) int {
	if resp.StatusCode == 0 {
		return http.StatusOK
	}
	return resp.StatusCode
}

// withoutLength returns headers without Content-Length, which a changed
// body would contradict.
func withoutLength(headers gateway.Headers) map[string]string {
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

// ownDenial matches the text of this interceptor's denials (see
// decision.Output).
var ownDenial = regexp.MustCompile(`(?s)^Denied: .* \(decision [0-9a-f]{32}\)$`)

// isOwnDenial reports whether a response is a denial this interceptor wrote
// at the REQUEST point: a JSON-RPC error or a tool error with its text. A
// target could imitate one; it still goes through redaction.
func isOwnDenial(body map[string]any) bool {
	if body == nil {
		return false
	}
	if e, ok := body["error"].(map[string]any); ok {
		text, _ := e["message"].(string)
		return body["result"] == nil && ownDenial.MatchString(text)
	}
	result, _ := body["result"].(map[string]any)
	content, _ := result["content"].([]any)
	if isError, _ := result["isError"].(bool); !isError || len(content) != 1 {
		return false
	}
	item, _ := content[0].(map[string]any)
	text, _ := item["text"].(string)
	return ownDenial.MatchString(text) && len(result) == 2
}

// answering returns a message with the id of the response body, so that a
// denial of a response whose request is unreadable still answers that id.
func answering(body map[string]any) *mcp.Message {
	if body == nil || body["id"] == nil {
		return nil
	}
	id, err := json.Marshal(body["id"])
	if err != nil {
		return nil
	}
	return &mcp.Message{JSONRPC: "2.0", ID: id}
}

// plain returns v with json.Number values as float64, the form policies
// evaluate. v is a message decoded with UseNumber, which keeps numbers exact
// for re-encoding; it is not changed.
func plain(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64) // out of range gives ±Inf, still a number
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	default:
		return v
	}
}
