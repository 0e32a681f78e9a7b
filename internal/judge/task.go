package judge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/internal/toollist"
)

// Tasks (MCP 2025-11-25 tasks/*, the tasks extension of 2026-07-28): a
// tools/call may be answered with a task instead of its result, which the
// client then polls for (tasks/get) and fetches (tasks/result, or inline
// in tasks/get). The RESPONSE point binds the task's id to the call it
// allowed, in the state table; every later message of the task is denied
// unless it comes from that call's caller, and the result it carries is
// judged as that call's (RESPONSE policies, size, search filtering,
// redaction).

// errUnbound is why a task's message is denied: its id is bound to no
// call of this caller.
var errUnbound = errors.New("the task cannot be tied to a call this caller was allowed to make")

// readTask reads the call in.Task is bound to, for doc's caller, into
// r.task. A message that carries the call's result (a tasks/result or
// tasks/get answer) or gives it input (a tasks/update) is then judged as
// that call: in becomes its document's input. A task bound to no call of
// this caller, or whose binding cannot be read, denies r.
func (j *Judge) readTask(ctx context.Context, in *attributes.Input, doc *attributes.Document, r *Result) bool {
	t, ok, err := j.binding(ctx, doc, in.Task)
	switch {
	case err != nil:
		r.Decision = decision.Denied(r.Decision.ID, decision.CodeUndecidable, "the task could not be checked against the state table")
		r.Decision.Findings = []policy.Finding{{Policy: "(task)", Kind: policy.Error, Mode: policy.ModeEnforce, Message: r.Decision.Reason, Detail: err.Error()}}
		return false
	case !ok || !owns(doc, t):
		// The reason names no task: the caller chose the id, and a record
		// holds what a caller chose only as a digest.
		r.Decision = decision.Denied(r.Decision.ID, decision.CodePolicyDenied, errUnbound.Error())
		r.Decision.Findings = []policy.Finding{{Policy: "(task)", Kind: policy.Violation, Mode: policy.ModeEnforce, Message: r.Decision.Reason}}
		return false
	}
	if t.Approved && in.Method == mcp.MethodTasksUpdate {
		r.Decision = decision.Denied(r.Decision.ID, decision.CodePolicyDenied, errLaterInput.Error())
		r.Decision.Findings = []policy.Finding{{Policy: "(task)", Kind: policy.Violation, Mode: policy.ModeEnforce, Message: r.Decision.Reason}}
		return false
	}
	r.task = &t
	if in.Phase == attributes.PhaseResponse && (in.Method == mcp.MethodTasksResult || in.Method == mcp.MethodTasksGet) ||
		in.Method == mcp.MethodTasksUpdate {
		// A result is its call's answer, and input is its call's input:
		// either is judged as the call, the input with its arguments, at
		// both points (RESPONSE never widens REQUEST).
		in.QualifiedTool, in.Arguments, in.TaskCall = t.Tool, t.Arguments, true
	}
	return true
}

// binding reads the call task is bound to for doc's caller; ok is false
// when it is bound to none.
func (j *Judge) binding(ctx context.Context, doc *attributes.Document, task string) (t state.Task, ok bool, err error) {
	if j.cfg.State == nil {
		return t, false, state.ErrNoStore
	}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	return j.cfg.State.Task(ctx, doc.Principal.ID, doc.Principal.Actor, task)
}

// owns reports whether t is a call of doc's caller: the same principal,
// acting through the same agent (or none).
func owns(doc *attributes.Document, t state.Task) bool {
	return doc.Principal.Authenticated && t.Principal == doc.Principal.ID && t.Actor == doc.Principal.Actor
}

// bindTask binds the task the allowed tools/call answer body creates, if
// it creates one, to the call doc describes. It returns why it could not:
// the task's messages would all be denied, so its creation is too.
func (j *Judge) bindTask(ctx context.Context, body map[string]any, doc *attributes.Document, r *Result) error {
	result, _ := body["result"].(map[string]any)
	id := mcp.CreatedTask(result)
	if id == "" {
		return nil
	}
	if len(id) > mcp.MaxTaskID {
		return fmt.Errorf("the task id is longer than %d bytes", mcp.MaxTaskID)
	}
	if j.cfg.State == nil {
		return state.ErrNoStore
	}
	approved := r.Decision.Approval != nil && r.Decision.Approval.Status == decision.ApprovalForwarded
	t := state.Task{Principal: doc.Principal.ID, Actor: doc.Principal.Actor, Tool: doc.Tool.QualifiedName, Arguments: doc.Tool.Arguments, Approved: approved}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	return j.cfg.State.BindTask(ctx, id, t, j.cfg.Now().Add(j.cfg.TaskTTL))
}

// maxListedTasks bounds the tasks of one tasks/list answer that are
// looked up; the rest are hidden.
const maxListedTasks = 50

// filterTasks removes from a tasks/list answer the tasks that are not
// bound to a call of doc's caller, and counts them in d: their ids are
// other callers', which a record does not hold.
func (j *Judge) filterTasks(ctx context.Context, body map[string]any, doc *attributes.Document, d *decision.Decision) error {
	result, _ := body["result"].(map[string]any)
	if result == nil {
		return nil
	}
	if j.cfg.State == nil {
		return state.ErrNoStore
	}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	var failed error
	looked := 0
	hidden, err := toollist.FilterEntries(result, "tasks", "taskId", func(id string) bool {
		if looked++; looked > maxListedTasks || failed != nil {
			return false
		}
		t, ok, err := j.cfg.State.Task(ctx, doc.Principal.ID, doc.Principal.Actor, id)
		failed = err
		return err == nil && ok && owns(doc, t)
	})
	d.TasksHidden += len(hidden)
	return errors.Join(err, failed)
}

// Why an answer that carries a task's result cannot be judged as its call's.
var (
	errStrayResult = errors.New("a task's result is judged as its call's only in a tasks/get or tasks/result answer")
	errOtherTask   = errors.New("it names another task than the one asked for")
)

// checkTaskAnswer returns why body, the answer to a request of method
// about task (or none), carries a task's result that cannot be judged as
// its call's: both a result and an error in a tasks/get answer (which of
// the two a client reads is its own choice), one anywhere else than a
// tasks/get or tasks/result answer (see strayResult), or a tasks/get
// answer about another task (judged as the asked one's call, it would be
// filed by the client under the other).
func checkTaskAnswer(method, task string, body map[string]any) error {
	result, _ := body["result"].(map[string]any)
	switch {
	case method == mcp.MethodTasksGet && result["result"] != nil && result["error"] != nil:
		return errTaskAnswer
	case strayResult(method, body):
		return errStrayResult
	case method == mcp.MethodTasksGet && result["taskId"] != nil && result["taskId"] != any(task):
		return errOtherTask
	}
	return nil
}

// strayResult reports whether body, the answer to a request of method,
// carries a task's result or error outside the answers that are judged as
// the task's call (tasks/get, tasks/result): in a tasks/cancel, tasks/update
// or tasks/list answer, or in the params of a message the target sends (a
// notification of a task), on whatever call's stream. Neither protocol
// version puts one there, and no message a target sends has a result or an
// error in its params; a target that does would pass a call's result
// unjudged.
func strayResult(method string, body map[string]any) bool {
	if hasOutcome(body["params"]) {
		return true
	}
	result, _ := body["result"].(map[string]any)
	switch method {
	case mcp.MethodTasksCancel, mcp.MethodTasksUpdate:
		return hasOutcome(result)
	case mcp.MethodTasksList:
		tasks, _ := result["tasks"].([]any)
		return slices.ContainsFunc(tasks, hasOutcome)
	}
	return false
}

// hasOutcome reports whether v is an object with a result or an error, or
// a task member that has one, each named in any case: a client that matches
// names in any case reads "Result" as the result.
func hasOutcome(v any) bool {
	t, _ := v.(map[string]any)
	for k, e := range t {
		switch {
		case e == nil:
		case strings.EqualFold(k, "result"), strings.EqualFold(k, "error"):
			return true
		case strings.EqualFold(k, "task") && hasOutcome(e):
			return true
		}
	}
	return false
}

// relatedTasks returns the tasks a message the target sends names in its
// params' _meta (io.modelcontextprotocol/related-task), each member read in
// any case, as a client that matches names in any case reads it.
func relatedTasks(body map[string]any) []string {
	var ids []string
	for _, params := range members(body, "params") {
		for _, meta := range members(params, "_meta") {
			for _, related := range members(meta, mcp.RelatedTaskMeta) {
				for _, id := range members(related, "taskId") {
					if s, ok := id.(string); ok {
						ids = append(ids, s)
					}
				}
			}
		}
	}
	return ids
}

// members returns the values of v's members named name in any case, when v
// is an object.
func members(v any, name string) []any {
	m, _ := v.(map[string]any)
	var out []any
	for k, e := range m {
		if strings.EqualFold(k, name) {
			out = append(out, e)
		}
	}
	return out
}

// taskInput denies in r a request for input (body) on the stream of a
// message of a task that ran on an approval, or one that names a task (see
// relatedTasks) bound to no call of the caller or to one that ran on an
// approval: a client gives the input to that task, on whatever stream the
// request came.
func (j *Judge) taskInput(ctx context.Context, body map[string]any, r *Result) {
	if r.task != nil && r.task.Approved {
		r.Decision = laterInput(r.Decision)
		return
	}
	for _, task := range relatedTasks(body) {
		t, ok, err := j.binding(ctx, r.Document, task)
		reason := ""
		switch {
		case err != nil:
			reason = "the task this request is for could not be checked against the state table"
		case !ok || !owns(r.Document, t):
			reason = "this request is for a task that cannot be tied to a call this caller was allowed to make"
		case t.Approved:
			reason = errLaterInput.Error()
		default:
			continue
		}
		out := decision.Denied(r.Decision.ID, decision.CodePolicyDenied, reason)
		out.Findings = append(r.Decision.Findings, policy.Finding{Policy: "(task)", Kind: policy.Violation, Mode: policy.ModeEnforce, Message: reason})
		r.Decision = out
		return
	}
}

// taskAnswer returns the part of a task message's answer that is the
// call's: a tasks/get answer's inlined result (or error), as the tools/call
// answer it stands for; the answer itself otherwise.
func taskAnswer(method string, body map[string]any) map[string]any {
	result, _ := body["result"].(map[string]any)
	if method != mcp.MethodTasksGet || result == nil {
		return body
	}
	answer := map[string]any{"jsonrpc": body["jsonrpc"], "id": body["id"]}
	switch {
	case result["result"] != nil:
		answer["result"] = result["result"]
	case result["error"] != nil:
		answer["error"] = result["error"]
	default:
		return body
	}
	return answer
}

// settleTask decides a task's message whose call needs an approval (r's
// policies see no grant): its results pass if the call ran on a grant,
// which the binding says, and are denied if not.
func (j *Judge) settleTask(r *Result) {
	d := &r.Decision
	if r.task.Approved {
		d.Effect, d.Reason = decision.Allow, ""
		d.Approval = &decision.ApprovalState{Status: decision.ApprovalForwarded}
		return
	}
	out := decision.Denied(d.ID, decision.CodePolicyDenied, "this task's call needs an approval, and it ran on none")
	out.Findings = d.Findings
	*d = out
}
