package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/pins"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/internal/strictjson"
	"github.com/toolgate/toolgate/internal/toollist"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Response judges the target's answer at the RESPONSE point. The request is judged again, with
// the target's answer in the document: a request the policies deny never
// gets its result through, whether or not the REQUEST point ran, and a
// policy may deny a result by what it holds. An allowed answer has the tools
// the caller may not call removed from tool lists and what the redaction
// rules find replaced; an answer with nothing to change is echoed unchanged.
func (j *Judge) Response(ctx context.Context, id string, ev *gateway.MCPEvent) Result {
	st := j.steps(ctx)
	defer st.end()
	r := Result{Phase: attributes.PhaseResponse}
	resp := ev.GatewayResponse
	if !gateway.ValidStatus(statusOf(resp)) {
		// Echoed, it would make the output invalid; shaping the denial
		// with it would too.
		resp.StatusCode = 0
		return j.rejectResponse(r, id, nil, resp, "the target's response could not be read", errStatus)
	}
	status := statusOf(resp)
	raw, err := gateway.NormalizeBody(resp.Body)
	if err == nil && raw != nil {
		// Numbers are not held to float64 precision: results carry 64-bit
		// ids, and no request is judged by them.
		err = strictjson.Check(raw, j.cfg.Limits.JSON())
	}
	if err != nil {
		return j.rejectResponse(r, id, nil, resp, "the target's response could not be read", err)
	}
	var body map[string]any
	if raw != nil {
		v, err := codec.DecodeJSON(raw)
		if body, _ = v.(map[string]any); err != nil || body == nil {
			return j.rejectResponse(r, id, nil, resp, "the target's response is not a JSON-RPC message", errNotMessage)
		}
	}
	req, cerr := call.Read(ev, attributes.PhaseResponse, j.cfg.Limits, j.cfg.Now())
	if cerr != nil {
		// The REQUEST point denied this request as unreadable, with
		// this reason: its answer is denied the same way (with that
		// point's decision id when the body is its denial); anything
		// else in the body is the target's.
		if cerr.Message == nil {
			denied := Result{Phase: r.Phase, Decision: unjudged(r.Phase, id, unreadCode(cerr), cerr.What, cerr.Err)}
			if out, prev, ok := render.RepeatOf(denied.Decision, nil, body, resp, j.cfg.DenyStatus); ok {
				return repeat(denied, out, prev)
			}
			return j.rejectResponse(r, id, answering(body), resp, "the request this response answers could not be read", cerr.Err)
		}
		r.Method = cerr.Message.Method
		denied := r
		denied.Decision = unjudged(r.Phase, id, unreadCode(cerr), cerr.What, cerr.Err)
		if out, prev, ok := render.RepeatOf(denied.Decision, cerr.Message, body, resp, j.cfg.DenyStatus); ok {
			return repeat(denied, out, prev)
		}
		return j.rejectResponse(r, id, cerr.Message, resp, cerr.What, cerr.Err)
	}
	msg, in, tool := req.Message, req.Input, req.Tool
	r.Method = msg.Method
	if err := mcp.CheckAnswer(body); body != nil && err != nil {
		// Denied with the request's id: the answer's is the target's.
		return j.rejectResponse(r, id, &msg, resp, "the target's response could not be read", err)
	}
	if body != nil && !fromTarget(body) && !echoesID(body["id"], msg.ID) {
		// A client files an answer under its id: one with another
		// request's would be judged as this call's and read as that one's
		// (a search's list, unfiltered).
		return j.rejectResponse(r, id, &msg, resp, "the target's response could not be read", errOtherID)
	}
	if err := checkTaskAnswer(msg.Method, in.Task, body); err != nil {
		return j.rejectResponse(r, id, &msg, resp, "the task's answer could not be judged", err)
	}
	in.Response = &attributes.Response{StatusCode: status, Size: len(raw), Streaming: resp.IsStreamingResponse}
	if body != nil {
		// A task's answer is judged as its call's: what it carries of
		// the call's result is the body the policies see.
		in.Response.Body = plain(taskAnswer(msg.Method, body))
		in.Response.Kind, in.Response.Method = messageKind(body)
	}
	value := j.decide(st, id, &in, &r)
	if r.Decision.Effect != decision.Deny && asksInput(in.Response) {
		st.next("task")
		j.taskInput(st.ctx, body, &r)
	}
	if r.Decision.Effect == decision.Approval && r.task != nil {
		// The task's call needed an approval: its results are the
		// grant's if the call ran on one, and denied if not.
		j.settleTask(&r)
	}
	if r.Decision.Effect == decision.Approval {
		// Approval is asked and checked at the REQUEST point. Here the
		// answer passes if it is that point's own (sealed), or the
		// result of a call it granted; else it is denied.
		st.next("approval")
		j.settle(st.ctx, &msg, tool, body, r.Document, &r)
		if r.Repeat {
			st.next("respond")
			r.Output = gateway.Respond(status, resp.Headers, raw)
			return r
		}
	}
	if r.Decision.Effect == decision.Deny {
		st.next("respond")
		if out, prev, ok := render.RepeatOf(r.Decision, &msg, body, resp, j.cfg.DenyStatus); ok {
			return repeat(r, out, prev)
		}
		r.Output = render.Output(r.Decision, &msg, nil, resp, j.cfg.DenyStatus)
		return r
	}
	st.next("filter")
	if err := j.filterTools(st.ctx, in, body, &r); err != nil {
		return j.rejectResponse(r, id, &msg, resp, "the tool list could not be filtered", err)
	}
	switch {
	case msg.Method == mcp.MethodToolsCall && body != nil:
		st.next("task")
		if err := j.bindTask(st.ctx, body, r.Document, &r); err != nil {
			return j.rejectResponse(r, id, &msg, resp, "the task this call created could not be bound to it", err)
		}
	case msg.Method == mcp.MethodTasksList && body != nil:
		st.next("task")
		if err := j.filterTasks(st.ctx, body, r.Document, &r.Decision); err != nil {
			return j.rejectResponse(r, id, &msg, resp, "the task list could not be filtered", err)
		}
	}
	st.next("respond")
	// An answer's id is the request's (above); a request the target sends
	// names its own.
	return j.finish(r, resp, raw, body, redact.Message{OwnID: !fromTarget(body), List: mcp.IsList(r.Method)}, value)
}

// repeat answers with out, the denial the REQUEST point gave (see
// render.RepeatOf), so that the caller and the two records agree on its
// decision id prev; it is counted once.
func repeat(r Result, out gateway.Output, prev string) Result {
	r.Repeat, r.RepeatOf, r.Output = true, prev, out
	return r
}

// messageKind returns the kind of a JSON-RPC message the target sent, and
// its method if it is a server-to-client request or notification.
func messageKind(body map[string]any) (kind, method string) {
	m, ok := body["method"].(string)
	switch {
	case ok && body["id"] != nil:
		return mcp.KindRequest, m
	case ok:
		return mcp.KindNotification, m
	}
	return mcp.KindResponse, ""
}

// finish redacts the body, of which m says what is the client's own, with
// the rules that apply to the document value and answers with it:
// unchanged (byte for byte) when nothing was hidden or redacted.
func (j *Judge) finish(r Result, resp *gateway.Response, raw json.RawMessage, body map[string]any, m redact.Message, value map[string]any) Result {
	status := statusOf(resp)
	changed := len(r.Decision.Hidden) > 0 || r.Decision.TasksHidden > 0
	if body != nil {
		scrubber, errs := j.cfg.Redactor.Select(value)
		for _, err := range errs {
			j.cfg.Logger.Warn("redaction rule match failed; the rule was applied", "decision_id", r.Decision.ID, "error", err.Error())
		}
		counts := redact.Counts{}
		if scrubber.Body(body, m, counts) {
			r.Decision.Redactions, changed = counts, true
		}
	}
	out := raw
	if changed {
		var err error
		if out, err = codec.MarshalJSON(body); err != nil {
			return j.rejectResponse(r, r.Decision.ID, nil, resp, "the filtered response could not be encoded", err)
		}
	}
	if n := codec.EscapedLen(out) + headersLen(resp.Headers); n > maxAnswer {
		// The output escapes <, > and & (as encoding/json does): a
		// megabyte of "<" is six.
		return j.rejectResponse(r, r.Decision.ID, nil, resp, "the response is too large to answer with",
			fmt.Errorf("%d bytes once encoded, %d at most", n, maxAnswer))
	}
	if !changed {
		r.Output = gateway.Respond(status, resp.Headers, raw)
		return r
	}
	r.Output = gateway.Respond(status, render.WithoutLength(resp.Headers), out)
	return r
}

// headersLen bounds what h takes in the output, escaped as a body is.
func headersLen(h gateway.Headers) int {
	n := 0
	for k, v := range h {
		n += codec.EscapedLen([]byte(k)) + codec.EscapedLen([]byte(v)) + 6 // quotes, colon, comma
	}
	return n
}

// maxAnswer bounds an answer: Lambda returns at most 6 MB, the envelope
// included. Escaping, and markers longer than what they replace, can grow
// an answer; past this it is denied, not lost with an invocation error.
const maxAnswer = 6<<20 - 64<<10

// filterTools removes from a list answer what the caller may not use: the
// tools of a tools/list result or a search tool result, the prompts of a
// prompts/list, the resources of a resources/list, the templates of a
// resources/templates/list, each judged as a document of action list about
// it, with its definition judged against its pin (see pins). In what is
// left, no hidden tool is named anywhere. It records the names removed in
// r's decision.
func (j *Judge) filterTools(ctx context.Context, in attributes.Input, body map[string]any, r *Result) error {
	d := &r.Decision
	if body == nil {
		return nil
	}
	var list struct{ kind, member, key string }
	switch {
	case in.Method == mcp.MethodToolsList, (in.Method == mcp.MethodToolsCall || in.TaskCall) && in.QualifiedTool == toollist.SearchTool:
		list.kind = attributes.ListTool
	case in.Method == mcp.MethodPromptsList:
		list.kind, list.member, list.key = attributes.ListPrompt, "prompts", "name"
	case in.Method == mcp.MethodResourcesList:
		list.kind, list.member, list.key = attributes.ListResource, "resources", "uri"
	case in.Method == mcp.MethodResourcesTemplatesList:
		list.kind, list.member, list.key = attributes.ListTemplate, "resourceTemplates", "uriTemplate"
	case in.Method == mcp.MethodTasksList:
		// Its tasks are filtered by whose they are (filterTasks); what
		// they say names no hidden tool.
	default:
		return nil
	}
	answer := taskAnswer(in.Method, body)
	result, _ := answer["result"].(map[string]any)
	var read map[string]attributes.Definition // the definitions read of the tools listed
	if j.cfg.Pins != nil && list.kind == attributes.ListTool {
		var err error
		if read, err = j.definitions(ctx, in.Method, result, r); err != nil {
			return err
		}
		in.Definitions = func(name string) attributes.Definition { return read[name] }
	}
	values, allows := j.builder.ListValues(ctx, in), j.cfg.Engine.AllowsEach(ctx)
	judge := func(kind string) toollist.Keep {
		seen := map[string]bool{}
		return func(name string) bool {
			k, ok := seen[name]
			if !ok {
				// Past MaxJudged distinct names an answer's further names
				// are hidden unjudged: 95,000 made-up names in a search
				// text cost seconds of policy evaluation, which a target
				// must not buy.
				k = len(seen) < MaxJudged && allows(values(kind, name))
				seen[name] = k
			}
			return k
		}
	}
	tools := judge(attributes.ListTool)
	if read != nil && in.Method != mcp.MethodToolsList && j.cfg.Definitions == policy.ModeEnforce {
		// A search answer's tool whose definition was not read (past
		// MaxSearched) is hidden: enforcing policies judge definitions,
		// and an unread one is no answer.
		judged := tools
		tools = func(name string) bool {
			_, ok := read[name]
			return ok && judged(name)
		}
	}
	var hidden []string
	var err error
	switch {
	case result == nil || in.Method == mcp.MethodTasksList:
		result = nil // scrubbed whole below
	case in.Method == mcp.MethodToolsList:
		hidden, err = toollist.FilterList(result, tools)
	case list.kind == attributes.ListTool:
		hidden, err = toollist.FilterSearch(result, tools)
	default:
		if hidden, err = toollist.FilterEntries(result, list.member, list.key, judge(list.kind)); err == nil {
			hidden = append(hidden, toollist.ScrubEntries(result, list.member, list.key, tools)...)
		}
	}
	// What else the answer says (an error instead of a list, a task's
	// status around its result) names no hidden tool either.
	skip := ""
	if result != nil {
		skip = "result"
	}
	if task, ok := body["result"].(map[string]any); ok && in.Method == mcp.MethodTasksGet {
		hidden = append(hidden, toollist.ScrubExcept(task, tools, skip)...)
		skip = "result"
	}
	except := []string{skip, "jsonrpc"}
	if !fromTarget(body) {
		except = append(except, "id") // the request's (see Response)
	}
	hidden = append(hidden, toollist.ScrubExcept(body, tools, except...)...)
	d.Hidden = hidden
	return err
}

// fromTarget reports whether body is a message the target sends (a
// request or a notification): its method is a string, as mcp.CheckAnswer
// requires of any.
func fromTarget(body map[string]any) bool {
	_, ok := body["method"].(string)
	return ok
}

// echoesID reports whether id, an answer's, is req, the request's as sent,
// or null. Numbers are the same when their text is, or their doubles are
// and lie below 2^53: from there, two integers round alike that a client
// keeping them exact (Python's) tells apart.
func echoesID(id any, req json.RawMessage) bool {
	switch v := id.(type) {
	case nil:
		return true
	case string:
		var s string
		return json.Unmarshal(req, &s) == nil && s == v
	case json.Number:
		return sameNumber(string(v), string(bytes.TrimSpace(req)))
	}
	return false
}

// sameNumber reports whether a and b, JSON numbers, are the same id.
func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && fa == fb && math.Abs(fa) < 1<<53
}

// definitions judges the definitions a tools/list result lists against
// their pins, before anything is filtered out of it, and makes them the
// list documents'; a search answer's tools, which are not definitions,
// are what this instance knows of each. A tools/list whose definitions
// could not be checked against the state table is denied when an
// enforcing policy reads them, and an audit finding when only audit ones
// do.
func (j *Judge) definitions(ctx context.Context, method string, result map[string]any, r *Result) (map[string]attributes.Definition, error) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	defs := map[string]attributes.Definition{}
	var err error
	if method == mcp.MethodToolsList {
		entries, _ := result["tools"].([]any)
		defs, r.Definitions, err = j.cfg.Pins.List(ctx, j.cfg.State, entries, j.cfg.Now())
	} else if j.cfg.Definitions != "" {
		names, _ := toollist.SearchNames(result, pins.MaxSearched)
		defs, err = j.cfg.Pins.Named(ctx, j.cfg.State, names, j.cfg.Now())
	}
	if err == nil || j.cfg.State == nil && j.cfg.Definitions != policy.ModeEnforce {
		return defs, nil // without a table: the bundle's pins alone (said at load)
	}
	// What failed goes to the log: the caller is told only that it did.
	j.cfg.Logger.Warn("tool definitions could not be checked against the state table", "decision_id", r.Decision.ID, "error", err.Error())
	if j.cfg.Definitions == policy.ModeEnforce {
		return nil, errDefinitions
	}
	r.Decision.Findings = append(r.Decision.Findings, policy.Finding{Policy: "(definition)", Kind: policy.Error, Mode: policy.ModeAudit,
		Message: errDefinitions.Error()})
	return defs, nil
}

// errDefinitions is what the caller is told of definitions that could not
// be checked, whatever the table said.
var errDefinitions = errors.New("the tools' definitions could not be checked against the state table")

// MaxJudged is the most distinct tool names judged for one tool list or
// search answer; further names are hidden.
const MaxJudged = 5000

var (
	errNotMessage = errors.New("not a JSON object")
	errStatus     = errors.New("not an HTTP status")
	errTaskAnswer = errors.New("it holds both a result and an error")
	errOtherID    = errors.New("its id is not the request's")
)

// rejectResponse denies a response that could not be judged.
func (j *Judge) rejectResponse(r Result, id string, msg *mcp.Message, resp *gateway.Response, what string, err error) Result {
	r.Decision = unjudged(r.Phase, id, decision.CodeUndecidable, what, err)
	r.Output = render.Output(r.Decision, msg, nil, resp, j.cfg.DenyStatus)
	return r
}

// statusOf returns the target's status, 200 when the event has none.
func statusOf(resp *gateway.Response) int {
	if resp.StatusCode == 0 {
		return http.StatusOK
	}
	return resp.StatusCode
}

// answering returns a message with the id of the response body, so that a
// denial of a response whose request is unreadable still answers that id:
// a number only, since a string the target chose may say anything, and a
// denial is not redacted.
func answering(body map[string]any) *mcp.Message {
	switch body["id"].(type) {
	case json.Number, float64:
	default:
		return nil // none, text, or not an id
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
