package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/policies"
)

// taskEvent is an event of method with params by the user sub (in group),
// as the REQUEST point sees it or, with answer, as the RESPONSE point does.
func taskEvent(t *testing.T, sub, group, method, params, answer string) []byte {
	t.Helper()
	tok, err := policytest.UnsignedToken(map[string]any{"sub": sub, "username": sub, "cognito:groups": []string{group}})
	if err != nil {
		t.Fatal(err)
	}
	ev := `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"Bearer ` + tok +
		`"},"body":{"jsonrpc":"2.0","id":5,"method":"` + method + `","params":` + params + `}}`
	if answer != "" {
		ev += `,"gatewayResponse":{"statusCode":200,"body":` + answer + `}`
	}
	return []byte(ev + `}}`)
}

// TestTasks: a task a call creates is bound to that call; its later
// messages pass only for the call's caller, and the result it carries, by
// tasks/result or inline in tasks/get, is judged as the call's result:
// redacted, filtered, and held to the RESPONSE policies.
func TestTasks(t *testing.T) {
	store := &state.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) { c.State = store })
	run := func(payload []byte) judge.Result {
		t.Helper()
		r := h.Handle(context.Background(), payload)
		if err := r.Output.Validate(); err != nil {
			t.Fatalf("invalid output: %v", err)
		}
		return r
	}
	body := func(r judge.Result) string {
		if resp := r.Output.MCP.TransformedGatewayResponse; resp != nil {
			return string(resp.Body)
		}
		return string(r.Output.MCP.TransformedGatewayRequest.Body)
	}
	search := `{"name":"docs___search_docs","arguments":{"query":"vpc"},"task":{"ttl":60000}}`
	created := run(taskEvent(t, "bob", "developers", "tools/call", search,
		`{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-1","status":"working","createdAt":"2026-12-06T10:00:00Z","ttl":60000}}}`))
	if created.Decision.Effect != decision.Allow || !strings.Contains(body(created), `"taskId":"t-1"`) {
		t.Fatalf("the call that creates a task: %+v %s", created.Decision, body(created))
	}
	// The tasks extension's shape binds too.
	if r := run(taskEvent(t, "bob", "developers", "tools/call", search,
		`{"jsonrpc":"2.0","id":5,"result":{"resultType":"task","taskId":"t-2","status":"working"}}`)); r.Decision.Effect != decision.Allow {
		t.Fatalf("a 2026-07-28 task: %+v", r.Decision)
	}

	// Another caller whose target chose the same id binds it for itself:
	// it neither blocks nor takes bob's.
	if r := run(taskEvent(t, "eve", "developers", "tools/call", `{"name":"github___search_issues","arguments":{"q":"x"}}`,
		`{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-1","status":"working"}}}`)); r.Decision.Effect != decision.Allow {
		t.Fatalf("eve's t-1: %+v", r.Decision)
	}
	if r := run(taskEvent(t, "eve", "developers", "tasks/result", `{"taskId":"t-1"}`, `{"jsonrpc":"2.0","id":5,"result":{"content":[]}}`)); r.Decision.Effect != decision.Allow ||
		r.Document.Tool.QualifiedName != "github___search_issues" {
		t.Fatalf("eve's t-1 is her call: %+v %+v", r.Decision, r.Document.Tool)
	}

	secret := `AKIAIOSFODNN7EXAMPLE`
	result := `{"content":[{"type":"text","text":"found it, key ` + secret + `"}]}`
	for _, tt := range []struct {
		name, sub, method, params, answer string
		allow                             bool
		reason                            string
	}{
		{"the caller polls", "bob", "tasks/get", `{"taskId":"t-1"}`, "", true, ""},
		{"another caller polls", "mallory", "tasks/get", `{"taskId":"t-1"}`, "", false, "cannot be tied to a call this caller was allowed to make"},
		{"another caller fetches", "mallory", "tasks/result", `{"taskId":"t-1"}`, "", false, "cannot be tied"},
		{"another caller cancels", "mallory", "tasks/cancel", `{"taskId":"t-1"}`, "", false, "cannot be tied"},
		{"another caller answers its input", "mallory", "tasks/update", `{"taskId":"t-1","inputResponses":{}}`, "", false, "cannot be tied"},
		{"a task no call created", "bob", "tasks/result", `{"taskId":"t-forged"}`, "", false, "cannot be tied"},
		{"a task id that is not a string", "bob", "tasks/get", `{"taskId":1}`, "", false, "params.taskId must be"},
		{"the result, at the RESPONSE point of another caller", "mallory", "tasks/result", `{"taskId":"t-1"}`, `{"jsonrpc":"2.0","id":5,"result":` + result + `}`, false, "cannot be tied"},
		{"a result for a task no call created", "bob", "tasks/result", `{"taskId":"t-forged"}`, `{"jsonrpc":"2.0","id":5,"result":` + result + `}`, false, "cannot be tied"},
	} {
		r := run(taskEvent(t, tt.sub, "developers", tt.method, tt.params, tt.answer))
		if (r.Decision.Effect == decision.Allow) != tt.allow || !strings.Contains(r.Decision.Reason, tt.reason) {
			t.Errorf("%s: %s %q", tt.name, r.Decision.Effect, r.Decision.Reason)
		}
		if !tt.allow && strings.Contains(body(r), secret) {
			t.Errorf("%s: the result got through: %s", tt.name, body(r))
		}
	}

	// The result is the call's: redacted as a docs___search_docs result
	// is, whichever method carries it.
	for method, answer := range map[string]string{
		"tasks/result": `{"jsonrpc":"2.0","id":5,"result":` + result + `}`,
		"tasks/get":    `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-1","status":"completed","result":` + result + `}}`,
	} {
		r := run(taskEvent(t, "bob", "developers", method, `{"taskId":"t-1"}`, answer))
		if r.Decision.Effect != decision.Allow || strings.Contains(body(r), secret) || r.Document.Action != "call" ||
			r.Document.Tool.QualifiedName != "docs___search_docs" || r.Document.Tool.Arguments["query"] != "vpc" || r.Document.MCP.TaskID != "t-1" {
			t.Errorf("%s: %+v %s\n%+v", method, r.Decision, body(r), r.Document)
		}
	}

	// A search run as a task: its result shows no tool the caller may not
	// call, as a search's result does.
	if r := run(taskEvent(t, "bob", "developers", "tools/call", `{"name":"x_amz_bedrock_agentcore_search","arguments":{"query":"pods"}}`,
		`{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-search","status":"working"}}}`)); r.Decision.Effect != decision.Allow {
		t.Fatalf("a search task: %+v", r.Decision)
	}
	r := run(taskEvent(t, "bob", "developers", "tasks/result", `{"taskId":"t-search"}`,
		`{"jsonrpc":"2.0","id":5,"result":{"structuredContent":{"tools":[{"name":"k8s___get-pod"},{"name":"k8s___delete-pod"}]},"content":[{"type":"text","text":"k8s___get-pod, k8s___delete-pod"}]}}`))
	if r.Decision.Effect != decision.Allow || strings.Contains(body(r), "k8s___delete-pod") || !strings.Contains(body(r), "k8s___get-pod") {
		t.Errorf("a search task's result: %+v %s", r.Decision, body(r))
	}

	// What a search task says besides its result, or instead of it,
	// names no hidden tool; an answer with both a result and an error is
	// not passed.
	for name, answer := range map[string]string{
		"status message": `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-search","status":"completed","statusMessage":"also k8s___delete-pod","result":{"content":[{"type":"text","text":"k8s___get-pod"}]}}}`,
		"failed":         `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-search","status":"failed","error":{"code":-32000,"message":"try k8s___delete-pod","data":{"tools":["k8s___delete-pod"]}}}}`,
		"an error":       `{"jsonrpc":"2.0","id":5,"error":{"code":-32000,"message":"try k8s___delete-pod"}}`,
	} {
		r := run(taskEvent(t, "bob", "developers", "tasks/get", `{"taskId":"t-search"}`, answer))
		if r.Decision.Effect != decision.Allow || strings.Contains(body(r), "k8s___delete-pod") {
			t.Errorf("%s: %+v %s", name, r.Decision, body(r))
		}
	}
	r = run(taskEvent(t, "bob", "developers", "tasks/get", `{"taskId":"t-1"}`,
		`{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-1","status":"failed","result":{"content":[]},"error":{"code":1,"message":"`+secret+`"}}}`))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "both a result and an error") {
		t.Errorf("a result and an error: %+v", r.Decision)
	}

	// A task list shows the caller's own tasks only.
	r = run(taskEvent(t, "bob", "developers", "tasks/list", `{}`,
		`{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"t-1","status":"working"},{"taskId":"t-alice","status":"working","statusMessage":"payroll export"},{"status":"x"}]}}`))
	if r.Decision.Effect != decision.Allow || !strings.Contains(body(r), `"t-1"`) || strings.Contains(body(r), "t-alice") || strings.Contains(body(r), "payroll") {
		t.Errorf("tasks/list: %+v %s", r.Decision, body(r))
	}
	r = run(taskEvent(t, "bob", "developers", "tasks/list", `{}`,
		`{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"t-search","status":"completed","statusMessage":"found k8s___delete-pod"}]}}`))
	if r.Decision.Effect != decision.Allow || !strings.Contains(body(r), "t-search") || strings.Contains(body(r), "k8s___delete-pod") {
		t.Errorf("tasks/list: %+v %s", r.Decision, body(r))
	}
}

// TestTaskApproval: the result of a task whose call needed an approval
// passes only if the call ran on a grant; and without a state table no
// task is bound, so none is created and none is read.
func TestTaskApproval(t *testing.T) {
	store := &state.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) { c.State = store })
	refund := state.Task{Principal: "u-root", Tool: "billing___refund_payment", Arguments: map[string]any{"payment": "p-1", "amount": json.Number("10")}}
	approved := refund
	approved.Approved = true
	for id, task := range map[string]state.Task{"t-granted": approved, "t-ungranted": refund} {
		if err := store.BindTask(context.Background(), id, task, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// Input a task that ran on an approval takes later is what no one
	// approved.
	if r := h.Handle(context.Background(), taskEvent(t, "u-root", "platform-admins", "tasks/update",
		`{"taskId":"t-granted","inputResponses":{"iban":{"action":"accept","content":{"iban":"XX00-ATTACKER"}}}}`, "")); r.Decision.Effect != decision.Deny ||
		!strings.Contains(r.Decision.Reason, "covers no input given later") {
		t.Errorf("tasks/update of an approved task: %+v", r.Decision)
	}
	// And input to a task whose call needs an approval it ran without is
	// denied, not sent to approvers as a call of its own.
	if r := h.Handle(context.Background(), taskEvent(t, "u-root", "platform-admins", "tasks/update",
		`{"taskId":"t-ungranted","inputResponses":{}}`, "")); r.Decision.Effect != decision.Deny ||
		!strings.Contains(r.Decision.Reason, "covers no input given later") || r.Decision.Approval != nil {
		t.Errorf("tasks/update of an ungranted task: %+v", r.Decision)
	}
	// So is input it asks for (MCP 2025-11-25), which the client would
	// answer outside any task message: on the stream of its result, or on
	// any other stream when the request names the task; what else it
	// streams passes.
	const forTask = `,"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t-granted"}}`
	for _, tt := range []struct {
		method, params, answer string
		allow                  bool
	}{
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":"e-1","method":"elicitation/create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"}}}`, false},
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":null,"method":"Elicitation/Create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"}}}`, false},
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":"e-2","method":"sampling/createMessage","params":{"messages":[],"maxTokens":10}}`, false},
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":5,"error":{"code":"-32042","message":"URL elicitation required","data":{"elicitations":[{"mode":"url","elicitationId":"x","url":"https://x.example/iban","message":"enter the IBAN"}]}}}`, false},
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":5,"error":{"code":-32042,"message":"URL elicitation required","data":{"elicitations":[{"mode":"url","elicitationId":"x","url":"https://x.example/iban","message":"enter the IBAN"}]}}}`, false},
		{"tasks/result", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}`, true},
		{"tasks/cancel", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":"e-3","method":"elicitation/create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"}` + forTask + `}}`, false},
		{"tasks/cancel", `{"taskId":"t-granted"}`, `{"jsonrpc":"2.0","id":"e-6","method":"elicitation/create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"}}}`, false},
		{"tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`, `{"jsonrpc":"2.0","id":"e-4","method":"elicitation/create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"}` + forTask + `}}`, false},
		{"tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`, `{"jsonrpc":"2.0","id":"e-7","method":"elicitation/create","params":{"mode":"form","message":"Which IBAN?","requestedSchema":{"type":"object"},"_Meta":{"io.modelcontextprotocol/related-task":{"TaskId":"t-granted"}}}}`, false},
		{"tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`, `{"jsonrpc":"2.0","id":"e-5","method":"elicitation/create","params":{"mode":"form","message":"Which region?","requestedSchema":{"type":"object"}}}`, true},
	} {
		r := h.Handle(context.Background(), taskEvent(t, "u-root", "platform-admins", tt.method, tt.params, tt.answer))
		if (r.Decision.Effect == decision.Allow) != tt.allow || !tt.allow && !strings.Contains(r.Decision.Reason, "covers no input given later") {
			t.Errorf("%s on the stream of %s: %+v", tt.answer, tt.method, r.Decision)
		}
	}
	for id, allow := range map[string]bool{"t-granted": true, "t-ungranted": false} {
		r := h.Handle(context.Background(), taskEvent(t, "u-root", "platform-admins", "tasks/result", `{"taskId":"`+id+`"}`,
			`{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"REFUND-RAN"}]}}`))
		if (r.Decision.Effect == decision.Allow) != allow {
			t.Errorf("%s: %+v", id, r.Decision)
		}
		if !allow && (!strings.Contains(r.Decision.Reason, "needs an approval, and it ran on none") || strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), "REFUND-RAN")) {
			t.Errorf("%s: %+v", id, r.Decision)
		}
	}

	none := handlerWith(t, func(c *interceptor.Config) {})
	r := none.Handle(context.Background(), taskEvent(t, "bob", "developers", "tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`,
		`{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-1","status":"working"}}}`))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "could not be bound") {
		t.Errorf("a task without a state table: %+v", r.Decision)
	}
	r = none.Handle(context.Background(), taskEvent(t, "bob", "developers", "tasks/get", `{"taskId":"t-1"}`, ""))
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable {
		t.Errorf("tasks/get without a state table: %+v", r.Decision)
	}
}

// TestTaskResultsOnlyWhereJudged: a task's result reaches the caller only
// in the answers judged as its call (tasks/get, tasks/result). One the
// target puts anywhere else (a tasks/cancel, tasks/update or tasks/list
// answer, a notification of a task on any stream) is denied, and so is a
// subscription to notifications of tasks, which carry results on a stream
// the RESPONSE point may never see.
func TestTaskResultsOnlyWhereJudged(t *testing.T) {
	store := &state.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) { c.State = store; c.Environment = "staging" })
	for id, sub := range map[string]string{"t-bob": "bob", "t-alice": "alice"} {
		task := state.Task{Principal: sub, Tool: "docs___search_docs", Arguments: map[string]any{"query": "vpc"}}
		if err := store.BindTask(context.Background(), id, task, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	const secret = "INVOICE-TEXT-7"
	result := `{"content":[{"type":"text","text":"` + secret + `"}]}`
	for _, tt := range []struct {
		name, method, params, answer string
		allow                        bool
	}{
		{"a cancelled task", "tasks/cancel", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-bob","status":"cancelled"}}`, true},
		{"a result in a tasks/cancel answer", "tasks/cancel", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-bob","status":"completed","result":` + result + `}}`, false},
		{"an error in a tasks/cancel answer", "tasks/cancel", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-bob","status":"failed","error":{"code":1,"message":"` + secret + `"}}}}`, false},
		{"a result in a tasks/update answer", "tasks/update", `{"taskId":"t-bob","inputResponses":{}}`, `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-bob","status":"completed","result":` + result + `}}`, false},
		{"the caller's task list", "tasks/list", `{}`, `{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"t-bob","status":"working"}]}}`, true},
		{"a result in a tasks/list entry", "tasks/list", `{}`, `{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"t-bob","status":"completed","result":` + result + `}]}}`, false},
		{"a notification of a task with its result", "tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`,
			`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t-alice","status":"completed","result":` + result + `}}`, false},
		{"a notification of a task's status", "tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`,
			`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t-bob","status":"working"}}`, true},
		// Named in another case, or one level down: a client matching
		// names in any case reads them as the result.
		{"a Result in a notification", "tools/call", `{"name":"docs___search_docs","arguments":{"query":"vpc"}}`,
			`{"jsonrpc":"2.0","method":"Notifications/Tasks/Status","params":{"Task":{"taskId":"t-alice","status":"completed","Result":` + result + `}}}`, false},
		{"an ERROR under a cancelled task", "tasks/cancel", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-bob","status":"failed","ERROR":{"code":1,"message":"` + secret + `"}}}}`, false},
		{"a task's result in a tasks/list entry", "tasks/list", `{}`, `{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"t-bob","task":{"result":` + result + `}}]}}`, false},
		{"a tasks/get answer of another task", "tasks/get", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-alice","status":"completed","result":` + result + `}}`, false},
		{"a tasks/get answer of the task", "tasks/get", `{"taskId":"t-bob"}`, `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-bob","status":"working"}}`, true},
		{"listening to tasks", "subscriptions/listen", `{"notifications":{"taskIds":["t-alice"]}}`, "", false},
		{"listening to tasks, in another case", "subscriptions/listen", `{"Notifications":{"TASKIDS":["t-alice"]}}`, "", false},
		{"listening, the method in another case", "Subscriptions/Listen", `{"notifications":{"taskIds":["t-alice"]}}`, "", false},
		{"listening to lists", "subscriptions/listen", `{"notifications":{"toolsListChanged":true}}`, "", true},
	} {
		r := h.Handle(context.Background(), taskEvent(t, "bob", "developers", tt.method, tt.params, tt.answer))
		if err := r.Output.Validate(); err != nil {
			t.Fatalf("%s: invalid output: %v", tt.name, err)
		}
		if (r.Decision.Effect == decision.Allow) != tt.allow {
			t.Errorf("%s: %s %q", tt.name, r.Decision.Effect, r.Decision.Reason)
		}
		if out := r.Output.MCP.TransformedGatewayResponse; !tt.allow && out != nil && strings.Contains(string(out.Body), secret) {
			t.Errorf("%s: the result got through: %s", tt.name, out.Body)
		}
	}
}

// TestTaskIDsNotRecorded: a task id is the caller's or the target's text,
// which may hold anything: no record holds one, whether the caller asked
// for it or a tasks/list answer named another caller's.
func TestTaskIDsNotRecorded(t *testing.T) {
	var logs bytes.Buffer
	store := &state.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) {
		c.State = store
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	secret := "password=hunter2hunter2 AKIAIOSFODNN7EXAMPLE"
	if r := h.Handle(context.Background(), taskEvent(t, "bob", "developers", "tasks/get", `{"taskId":"`+secret+`"}`, "")); r.Decision.Effect != decision.Deny {
		t.Fatalf("an unbound task: %+v", r.Decision)
	}
	r := h.Handle(context.Background(), taskEvent(t, "bob", "developers", "tasks/list", `{}`,
		`{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"working"}]}}`))
	if r.Decision.Effect != decision.Allow || r.Decision.TasksHidden != 1 || strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), "786512e2") {
		t.Fatalf("tasks/list: %+v", r.Decision)
	}
	for _, s := range []string{"hunter2", "AKIAIOSFODNN7EXAMPLE", "786512e2"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a record holds %q:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"tasks_hidden":1`) {
		t.Errorf("the record does not count the hidden task:\n%s", logs.String())
	}
}

// TestSearchAnswerIDs: a search answer's id is left as it is only when it
// is the request's own; an id the target chose (a request it streams, an
// answer to another id) names no hidden tool.
func TestSearchAnswerIDs(t *testing.T) {
	h := handlerWith(t, func(c *interceptor.Config) {})
	search := `{"name":"x_amz_bedrock_agentcore_search","arguments":{"query":"pods"}}`
	for _, tt := range []struct {
		name, answer string
		hidden       bool // the hidden name must be gone
	}{
		{"a request the target streams", `{"jsonrpc":"2.0","id":"k8s___delete-pod","method":"elicitation/create","params":{"mode":"form","message":"ok?","requestedSchema":{"type":"object"}}}`, true},
		{"an answer to another id", `{"jsonrpc":"2.0","id":"k8s___delete-pod","result":{"structuredContent":{"tools":[{"name":"k8s___get-pod"}]}}}`, true},
		{"the answer to the request", `{"jsonrpc":"2.0","id":5,"result":{"structuredContent":{"tools":[{"name":"k8s___get-pod"}]}}}`, false},
	} {
		r := h.Handle(context.Background(), taskEvent(t, "bob", "developers", "tools/call", search, tt.answer))
		if err := r.Output.Validate(); err != nil {
			t.Fatalf("%s: invalid output: %v", tt.name, err)
		}
		out := r.Output.MCP.TransformedGatewayResponse
		if tt.hidden && r.Decision.Effect == decision.Allow && strings.Contains(string(out.Body), "k8s___delete-pod") {
			t.Errorf("%s: the hidden tool is named: %s", tt.name, out.Body)
		}
		if !tt.hidden && (r.Decision.Effect != decision.Allow || !strings.Contains(string(out.Body), `"id":5`)) {
			t.Errorf("%s: %+v %s", tt.name, r.Decision, out.Body)
		}
	}
}

// TestTaskInputJudgedAsCall: input a tasks/update gives a task is judged
// as its call's, with the call's tool and arguments: a credential store
// asked for later is refused as one in the arguments is. The update is
// not counted as another call by a rate limit.
func TestTaskInputJudgedAsCall(t *testing.T) {
	store := &state.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) {
		b, err := bundle.Load(policies.FS, "embedded")
		if err != nil {
			t.Fatal(err)
		}
		c.State, c.Environment, c.RateLimits = store, "dev", b.RateLimits
	})
	for id, tool := range map[string]string{"t-read": "ops___read_file", "t-run": "ops___run_command"} {
		task := state.Task{Principal: "u-alice", Tool: tool, Arguments: map[string]any{}}
		if err := store.BindTask(context.Background(), id, task, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, params string
		allow        bool
		reason       string
	}{
		{"a credential store", `{"taskId":"t-read","inputResponses":{"which":{"action":"accept","content":{"path":"~/.aws/credentials"}}}}`, false, "/@inputResponses/which/content/path"},
		{"an ordinary file", `{"taskId":"t-read","inputResponses":{"which":{"action":"accept","content":{"path":"/var/log/app/current.log"}}}}`, true, ""},
		{"a command that prints the environment", `{"taskId":"t-run","inputResponses":{"cmd":{"action":"accept","content":{"command":"env"}}}}`, false, "credentials are kept"},
		{"no input", `{"taskId":"t-read"}`, true, ""},
		{"an ordinary command", `{"taskId":"t-run","inputResponses":{"cmd":{"action":"accept","content":{"command":"df -h /var"}}}}`, true, ""},
		{"input that is not an object", `{"taskId":"t-read","inputResponses":[]}`, false, "inputResponses must be an object"},
	} {
		// At both points: RESPONSE never widens REQUEST.
		for _, answer := range []string{"", `{"jsonrpc":"2.0","id":5,"result":{"taskId":"t-read","status":"working"}}`} {
			r := h.Handle(context.Background(), taskEvent(t, "u-alice", "sre", "tasks/update", tt.params, answer))
			if (r.Decision.Effect == decision.Allow) != tt.allow || !strings.Contains(r.Decision.Reason, tt.reason) {
				t.Errorf("%s (answer %q): %s %q", tt.name, answer, r.Decision.Effect, r.Decision.Reason)
			}
			if tt.allow && (r.Document.Action != "call" || !strings.HasPrefix(r.Document.Tool.QualifiedName, "ops___") || len(r.RateLimits) != 0) {
				t.Errorf("%s: judged as %s of %q, rate limits %+v", tt.name, r.Document.Action, r.Document.Tool.QualifiedName, r.RateLimits)
			}
		}
	}
}

// TestTaskInputSeesHistory: a tasks/update is judged on the session's
// history as its call would be now (an enforcing lethal-trifecta rule
// refuses input to a post after private data and untrusted content), and
// adds nothing to that history.
func TestTaskInputSeesHistory(t *testing.T) {
	b, err := bundle.Open("../../testdata/bundles/trifecta-enforced", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := &state.Memory{}
	h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "dev", Engine: b.Engine, Catalog: b.Catalog, State: store,
		Sessions: b.Sessions, StateTimeout: 10 * time.Second}})
	ctx := context.Background()
	post := `{"name":"slack___post_message","arguments":{"channel":"#ext"},"task":{"ttl":60000}}`
	update := `{"taskId":"t-post","inputResponses":{"text":{"action":"accept","content":{"text":"invoice i-1"}}}}`
	if r := h.Handle(ctx, taskEvent(t, "u-eve", "x", "tools/call", post, "")); r.Decision.Effect != decision.Allow {
		t.Fatalf("a post in a clean session: %+v", r.Decision)
	}
	if r := h.Handle(ctx, taskEvent(t, "u-eve", "x", "tools/call", post,
		`{"jsonrpc":"2.0","id":5,"result":{"task":{"taskId":"t-post","status":"input_required"}}}`)); r.Decision.Effect != decision.Allow {
		t.Fatalf("its task: %+v", r.Decision)
	}
	for range 2 { // the history holds the post once, however often input is given
		if r := h.Handle(ctx, taskEvent(t, "u-eve", "x", "tasks/update", update, "")); r.Decision.Effect != decision.Allow ||
			!r.Document.Session.Tracked || r.Document.Session.Calls != 1 {
			t.Fatalf("input in a clean session: %+v, session %+v", r.Decision, r.Document.Session)
		}
	}
	for _, c := range []string{`{"name":"billing___get_invoice","arguments":{"id":"i-1"}}`, `{"name":"web___fetch","arguments":{"url":"https://x.example"}}`} {
		if r := h.Handle(ctx, taskEvent(t, "u-eve", "x", "tools/call", c, "")); r.Decision.Effect != decision.Allow {
			t.Fatalf("%s: %+v", c, r.Decision)
		}
	}
	r := h.Handle(ctx, taskEvent(t, "u-eve", "x", "tasks/update", update, ""))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "private data and untrusted content") {
		t.Errorf("input to the post after the trifecta: %+v, session labels %v", r.Decision, r.Document.Session.Labels)
	}
}
