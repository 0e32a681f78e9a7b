package approver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approver"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/testutil"
)

// workflow is the approval workflow of the template, running in moto's
// Step Functions interpreter, with the approvals function wired as in
// Lambda (app.NewApprover) against moto's DynamoDB and KMS.
type workflow struct {
	t        *testing.T
	srv      *moto.Server
	fn       *approver.Handler // the approvers'
	flow     *approver.Handler // the workflow's
	store    approval.Store
	verifier *approval.KMSKey
	keys     approval.Keys
	machine  string
	idp      *testutil.IdP
	logs     *testutil.Buffer
	// notices returns what approvers were told since it was last called.
	notices func() []string
}

func newWorkflow(t *testing.T) *workflow {
	srv := moto.StartWorkflows(t)
	table, key := srv.CreateTable(t, "toolgate-approvals"), srv.CreateKey(t, "ECC_NIST_P256")
	secret := srv.CreateSecret(t, "toolgate-approval-key", strings.Repeat("0123456789abcdef", 3))
	topic := srv.CreateTopic(t, "toolgate-approvals")
	w := &workflow{t: t, srv: srv, idp: testutil.NewIdP(t), logs: &testutil.Buffer{}, notices: srv.Subscribe(t, topic)}
	env := srv.Env(map[string]string{"APPROVAL_FUNCTION_ROLE": "approvers", "APPROVAL_TABLE": table, "APPROVAL_SIGNING_KEY_ARN": key,
		"APPROVAL_KEY_SECRET_ARN": secret, "JWKS_URL": w.idp.URL, "JWT_ISSUER": testutil.Issuer, "JWT_AUDIENCE": "agent-app", "JWT_TOKEN_USE": "access"})
	var err error
	if w.fn, err = app.NewApprover(env, w.logs); err != nil {
		t.Fatal(err)
	}
	// The workflow's function, configured as the template configures it.
	if w.flow, err = app.NewApprover(srv.Env(map[string]string{"APPROVAL_FUNCTION_ROLE": "workflow", "APPROVAL_TABLE": table,
		"APPROVAL_KEY_SECRET_ARN": secret, "APPROVAL_TOPIC_ARN": topic, "AWS_ENDPOINT_URL_SNS": srv.Endpoint}), w.logs); err != nil {
		t.Fatal(err)
	}
	if w.store, err = approval.FromEnv(env, table, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	// The interceptor's side: the public key only, and the key that
	// proves requests.
	w.verifier, _ = approval.KMSKeyFromEnv(env, key, http.DefaultClient)
	w.keys, _ = approval.SecretKeysFromEnv(env, secret, http.DefaultClient)
	definition, err := os.ReadFile("../../functions/approvals/workflow.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	def := strings.NewReplacer("${ApprovalTopicArn}", topic,
		"${ApprovalWorkflowFunctionArn}", srv.CreateFunction(t, "toolgate-approval-workflow")).Replace(string(definition))
	var out struct{ StateMachineArn string }
	srv.JSON(t, "states", "1.0", "AWSStepFunctions.CreateStateMachine", map[string]string{
		"name": "toolgate-approvals", "definition": def, "roleArn": "arn:aws:iam::123456789012:role/workflow"}, &out)
	w.machine = out.StateMachineArn
	t.Cleanup(func() {
		if strings.Contains(w.logs.String(), "eyJ") {
			t.Error("the approvals function logged a token")
		}
	})
	return w
}

// request records a pending approval of a refund by alice that
// platform-admins decide, lapsing after ttl, as the interceptor does.
func (w *workflow) request(id string, ttl time.Duration) approval.Approval {
	w.t.Helper()
	return w.requestOf(id, "billing___refund_payment", ttl)
}

// requestOf is request of a call of tool.
func (w *workflow) requestOf(id, tool string, ttl time.Duration) approval.Approval {
	w.t.Helper()
	call := approval.Call{Principal: "alice", Tool: tool, Environment: "production", Arguments: map[string]any{"payment": id, "amount": 10.0}}
	display, _ := call.Display()
	now := time.Now()
	a := approval.Approval{ID: id, Binding: call.Binding(), Status: approval.Pending, Requester: "alice", Tool: call.Tool, Environment: call.Environment,
		Display: display, Requirement: approval.Requirement{Groups: [][]string{{"platform-admins"}}, TTLSeconds: int64(ttl / time.Second), Reasons: []string{"refunds need an admin"}},
		Created: now, Expires: now.Add(ttl)}
	a, err := approval.Prove(context.Background(), w.keys, a)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, created, err := w.store.Request(context.Background(), a, now, approval.DefaultLimits()); err != nil || !created {
		w.t.Fatalf("request %s: %v %v", id, created, err)
	}
	return a
}

// start starts the workflow of approval id as the table's stream does
// (its id alone), and returns the execution. The workflow's first step
// invokes the approvals function to tell approvers; moto's Lambda does not
// run it, so the function answers here, as Lambda would run it, and its
// answer is handed to the state machine.
func (w *workflow) start(id string) string {
	w.t.Helper()
	payload, _ := json.Marshal(approver.Request{Action: approver.ActionNotify, ID: id})
	out, err := w.flow.Invoke(context.Background(), payload)
	if err != nil {
		w.t.Fatal(err)
	}
	w.srv.QueueLambdaResult(w.t, out)
	var exec struct{ ExecutionArn string }
	w.srv.JSON(w.t, "states", "1.0", "AWSStepFunctions.StartExecution", map[string]string{
		"stateMachineArn": w.machine, "name": id, "input": `{"approval": {"id": "` + id + `"}}`}, &exec)
	return exec.ExecutionArn
}

// waiting starts the workflow of approval id and runs its wait as Lambda
// would; it returns the execution, waiting for a decision.
func (w *workflow) waiting(id string) string {
	w.t.Helper()
	exec := w.start(id)
	if r := w.invoke(w.invoked(exec)); !r.OK {
		w.t.Fatalf("await: %+v", r)
	}
	return exec
}

type event struct {
	Type      string
	Scheduled *struct {
		ResourceType, Resource, Parameters string
	} `json:"taskScheduledEventDetails"`
}

func (w *workflow) history(execution string) []event {
	var out struct{ Events []event }
	w.srv.JSON(w.t, "states", "1.0", "AWSStepFunctions.GetExecutionHistory", map[string]string{"executionArn": execution}, &out)
	return out.Events
}

// invoked waits until the execution waits on the approvals function and
// returns the payload, which Lambda would hand it.
func (w *workflow) invoked(execution string) approver.Request {
	w.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, e := range w.history(execution) {
			if e.Scheduled != nil && e.Scheduled.ResourceType == "lambda" && e.Scheduled.Resource == "invoke.waitForTaskToken" {
				var p struct{ Payload approver.Request }
				if err := json.Unmarshal([]byte(e.Scheduled.Parameters), &p); err != nil {
					w.t.Fatal(err)
				}
				return p.Payload
			}
		}
	}
	w.t.Fatalf("the workflow never invoked the approvals function: %+v", w.history(execution))
	return approver.Request{}
}

// end waits for the execution to end and returns its status and output.
func (w *workflow) end(execution string) (status string, output map[string]any) {
	w.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var out struct{ Status, Output, Error string }
		w.srv.JSON(w.t, "states", "1.0", "AWSStepFunctions.DescribeExecution", map[string]string{"executionArn": execution}, &out)
		if out.Status != "RUNNING" {
			_ = json.Unmarshal([]byte(out.Output), &output)
			return out.Status + out.Error, output
		}
	}
	w.t.Fatalf("the execution never ended: %+v", w.history(execution))
	return "", nil
}

// invoke runs the function that serves req's action (the workflow's for
// notify and await) on req as Lambda does, from its raw payload.
func (w *workflow) invoke(req approver.Request) approver.Response {
	w.t.Helper()
	fn := w.fn
	if req.Action == approver.ActionNotify || req.Action == approver.ActionAwait {
		fn = w.flow
	}
	return w.invokeOn(fn, req)
}

// invokeOn runs fn on req as Lambda does.
func (w *workflow) invokeOn(fn *approver.Handler, req approver.Request) approver.Response {
	w.t.Helper()
	payload, _ := json.Marshal(req)
	out, err := fn.Invoke(context.Background(), payload)
	if err != nil {
		w.t.Fatalf("the function returned an error (Lambda would report a failure): %v", err)
	}
	var resp approver.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		w.t.Fatal(err)
	}
	return resp
}

// TestWorkflowDecided: the workflow tells approvers every argument, waits
// with its task token, and ends with the decision the approvals function
// verified, signed and wrote; the grant verifies with the public key alone.
func TestWorkflowDecided(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-decided", time.Minute)
	exec := w.start(a.ID)
	wait := w.invoked(exec)
	if wait.Action != approver.ActionAwait || wait.ID != a.ID || wait.TaskToken == "" {
		t.Fatalf("the workflow invoked %+v", wait)
	}
	notices := w.notices()
	if len(notices) != 1 {
		t.Fatalf("approvers were told %d times: %q", len(notices), notices)
	}
	for _, want := range []string{"Approval appr-decided requested by alice", "Every argument that will run:\namount: 10\npayment: \"appr-decided\"",
		"refunds need an admin", "toolgate approvals approve -token FILE appr-decided"} {
		if !strings.Contains(notices[0], want) {
			t.Errorf("the notice lacks %q:\n%s", want, notices[0])
		}
	}
	// The execution's history, kept for months, holds no argument.
	history, _ := json.Marshal(w.history(exec))
	if strings.Contains(string(history), "amount") || strings.Contains(string(history), "p-1") {
		t.Errorf("the workflow's history holds the arguments: %s", history)
	}
	if r := w.invoke(wait); !r.OK {
		t.Fatalf("await: %+v", r)
	}
	// Approvers are told once, whoever asks again.
	if r := w.invoke(approver.Request{Action: approver.ActionNotify, ID: a.ID}); r.OK || !strings.Contains(r.Error, "told of it already") || len(w.notices()) != 0 {
		t.Fatalf("a second notice: %+v", r)
	}
	// A second await (a retried step) changes nothing.
	if r := w.invoke(approver.Request{Action: approver.ActionAwait, ID: a.ID, TaskToken: "another-token"}); r.OK {
		t.Fatalf("a second await was taken: %+v", r)
	}
	r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Approve: true, Token: w.idp.Token(t, "bob", []string{"platform-admins"}, nil), Comment: "CHG-7"})
	if !r.OK || r.Approval.Status != approval.Approved || r.Approval.Grant != nil {
		t.Fatalf("decide: %+v", r)
	}
	status, out := w.end(exec)
	if status != "SUCCEEDED" || out["status"] != "approved" || out["by"] != "bob" {
		t.Fatalf("the workflow ended %s with %v", status, out)
	}
	got, err := w.store.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := approval.VerifyGrant(context.Background(), w.verifier, got, a.Binding, a.Requirement, "alice", time.Now()); err != nil || st.By != "bob" {
		t.Fatalf("the written grant: %+v %v", st, err)
	}
}

// TestWorkflowDecidedFirst: a decision made before the workflow waits is
// found by the wait, which ends at once.
func TestWorkflowDecidedFirst(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-early", time.Minute)
	if r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Token: w.idp.Token(t, "bob", []string{"platform-admins"}, nil)}); !r.OK {
		t.Fatalf("decide: %+v", r)
	}
	exec := w.waiting(a.ID)
	if status, out := w.end(exec); status != "SUCCEEDED" || out["status"] != "rejected" {
		t.Fatalf("the workflow ended %s with %v", status, out)
	}
}

// TestWorkflowLapses: nobody decides; the wait ends at the approval's TTL
// and says so. The workflow of an approval that does not exist ends at
// once.
func TestWorkflowLapses(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-lapse", time.Second)
	exec := w.waiting(a.ID)
	if status, out := w.end(exec); status != "SUCCEEDED" || out["status"] != "lapsed" {
		t.Fatalf("the workflow ended %s with %v", status, out)
	}
	if status, _ := w.end(w.start("appr-none")); status != "FAILEDApprovalNotFollowed" {
		t.Fatalf("the workflow of no approval ended %s", status)
	}
}

// TestDecideRefused: the function decides only as the verified holder of
// a person's token, under the approval's rules; a refusal is an answer,
// never a function error, and writes nothing.
func TestDecideRefused(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-refused", time.Minute)
	other := testutil.NewIdP(t)
	machine := w.idp.Token(t, "agent-app", nil, map[string]any{"username": nil, "cognito:groups": nil})
	for _, tt := range []struct{ name, token, want string }{
		{"no token", "", "no token"},
		{"a forged token", other.Token(t, "bob", []string{"platform-admins"}, nil), "your token was refused"},
		{"a machine's token", machine, "decided by people"},
		{"a delegated token (an agent acting for bob)", w.idp.Token(t, "bob", []string{"platform-admins"}, map[string]any{"act": map[string]any{"sub": "agent-7"}}), "acts for someone else"},
		{"a Keycloak service account", w.idp.Token(t, "9f2c-uuid", []string{"platform-admins"}, map[string]any{"username": nil, "preferred_username": "service-account-agent-app"}), "decided by people"},
		{"an Entra app-only token", w.idp.Token(t, "app-oid", []string{"platform-admins"}, map[string]any{"username": nil, "idtyp": "app"}), "decided by people"},
		{"a token that names no user", w.idp.Token(t, "some-sub", []string{"platform-admins"}, map[string]any{"username": nil}), "decided by people"},
		{"an act without a sub", w.idp.Token(t, "bob", []string{"platform-admins"}, map[string]any{"act": map[string]any{"client_id": "agent-7"}}), "acts for someone else"},
		{"an act whose sub is a number", w.idp.Token(t, "bob", []string{"platform-admins"}, map[string]any{"act": map[string]any{"sub": 7}}), "acts for someone else"},
		{"a Google service account", w.idp.Token(t, "1234567890", []string{"platform-admins"}, map[string]any{"username": nil, "email": "agent@proj.iam.gserviceaccount.com"}), "decided by people"},
		{"the requester", w.idp.Token(t, "alice", []string{"platform-admins"}, nil), "cannot approve their own call"},
		{"outside the groups", w.idp.Token(t, "carol", []string{"developers"}, nil), "none of the groups"},
	} {
		if r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Approve: true, Token: tt.token}); r.OK || !strings.Contains(r.Error, tt.want) {
			t.Errorf("%s: %+v, want refused with %q", tt.name, r, tt.want)
		}
	}
	if r := w.invoke(approver.Request{Action: "grant", ID: a.ID}); r.OK || !strings.Contains(r.Error, "serves decide, show and list") {
		t.Errorf("an unknown action: %+v", r)
	}
	if out, err := w.fn.Invoke(context.Background(), []byte("not json")); err != nil || !bytes.Contains(out, []byte(`"ok":false`)) {
		t.Errorf("a payload that is not JSON: %s %v", out, err)
	}
	if got, err := w.store.Get(context.Background(), a.ID); err != nil || got.Status != approval.Pending || got.Grant != nil {
		t.Fatalf("after the refusals: %+v %v", got, err)
	}
}

// TestTamperedRequest: someone who can write the table changes what the
// approver is shown (a refund of 950000 made to read 10): approvers are not
// told of it, and no one can approve it.
func TestTamperedRequest(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-tampered", time.Minute)
	a.Display = "amount: 1\npayment: \"appr-tampered\""
	if err := w.store.Settle(context.Background(), a, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, _ := w.end(w.start(a.ID)); status != "FAILEDApprovalNotFollowed" {
		t.Fatalf("the workflow of a tampered request ended %s", status)
	}
	if n := w.notices(); len(n) != 0 {
		t.Fatalf("approvers were told of a tampered request: %q", n)
	}
	r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Approve: true, Token: w.idp.Token(t, "bob", []string{"platform-admins"}, nil)})
	if r.OK || !strings.Contains(r.Error, "changed after it was made") {
		t.Fatalf("decide a tampered request: %+v", r)
	}
}

// TestRolesApart: whoever may invoke the approvers' function cannot
// announce a request, nor take over the wait that tells approvers of the
// outcome (the first task token stands), and the workflow's function
// neither decides nor reads approvals.
func TestRolesApart(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-roles", time.Minute)
	for _, req := range []approver.Request{{Action: approver.ActionNotify, ID: a.ID}, {Action: approver.ActionAwait, ID: a.ID, TaskToken: "attacker"}} {
		if r := w.invokeOn(w.fn, req); r.OK || !strings.Contains(r.Error, "serves decide, show and list") {
			t.Errorf("the approvers' function served %s: %+v", req.Action, r)
		}
	}
	if n := w.notices(); len(n) != 0 {
		t.Fatalf("approvers were told: %q", n)
	}
	bob := w.idp.Token(t, "bob", []string{"platform-admins"}, nil)
	for _, req := range []approver.Request{{Action: approver.ActionDecide, ID: a.ID, Approve: true, Token: bob}, {Action: approver.ActionShow, ID: a.ID, Token: bob}, {Action: approver.ActionList, Token: bob}} {
		if r := w.invokeOn(w.flow, req); r.OK || !strings.Contains(r.Error, "serves notify and await") {
			t.Errorf("the workflow's function served %s: %+v", req.Action, r)
		}
	}
	// The workflow's own steps then run as if no one had tried.
	exec := w.waiting(a.ID)
	if r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Approve: true, Token: bob}); !r.OK {
		t.Fatalf("decide: %+v", r)
	}
	if status, out := w.end(exec); status != "SUCCEEDED" || out["status"] != "approved" {
		t.Fatalf("the workflow ended %s with %v", status, out)
	}
}

// TestReadsNeedAnApprover: what a request will run is shown to whoever
// may decide it, and to its requester, with a verified person's token;
// to anyone else it does not exist.
func TestReadsNeedAnApprover(t *testing.T) {
	w := newWorkflow(t)
	a := w.request("appr-read", time.Minute)
	for _, tt := range []struct {
		name, token string
		sees        bool
		refused     string
	}{
		{"no token", "", false, "no token"},
		{"a forged token", testutil.NewIdP(t).Token(t, "bob", []string{"platform-admins"}, nil), false, "your token was refused"},
		{"a machine's token", w.idp.Token(t, "agent-app", nil, map[string]any{"username": nil, "cognito:groups": nil}), false, "decided by people"},
		{"outside the groups", w.idp.Token(t, "carol", []string{"developers"}, nil), false, ""},
		{"an approver", w.idp.Token(t, "bob", []string{"platform-admins"}, nil), true, ""},
		{"the requester", w.idp.Token(t, "alice", []string{"developers"}, nil), true, ""},
	} {
		show := w.invoke(approver.Request{Action: approver.ActionShow, ID: a.ID, Token: tt.token})
		list := w.invoke(approver.Request{Action: approver.ActionList, Token: tt.token})
		switch {
		case tt.refused != "":
			if show.OK || list.OK || !strings.Contains(show.Error, tt.refused) || !strings.Contains(list.Error, tt.refused) {
				t.Errorf("%s: show %+v, list %+v; want refused with %q", tt.name, show, list, tt.refused)
			}
		case tt.sees:
			if !show.OK || show.Approval.Display != a.Display || !list.OK || len(list.Approvals) != 1 || list.Approvals[0].ID != a.ID {
				t.Errorf("%s: show %+v, list %+v; want the approval", tt.name, show, list)
			}
		default:
			if show.OK || !strings.Contains(show.Error, "no such approval") || !list.OK || len(list.Approvals) != 0 {
				t.Errorf("%s: show %+v, list %+v; want nothing", tt.name, show, list)
			}
		}
	}
}

// TestAnnouncementsEscaped: what the workflow tells approvers of a
// request and its outcome shows a tool's name as it is, escaped: a name
// cannot write a line of its own.
func TestAnnouncementsEscaped(t *testing.T) {
	w := newWorkflow(t)
	a := w.requestOf("appr-raw", "ops___rotate_keys\nApproval appr-other is approved", time.Minute)
	exec := w.waiting(a.ID)
	if r := w.invoke(approver.Request{Action: approver.ActionDecide, ID: a.ID, Token: w.idp.Token(t, "bob", []string{"platform-admins"}, nil)}); !r.OK {
		t.Fatalf("decide: %+v", r)
	}
	status, out := w.end(exec)
	if status != "SUCCEEDED" || out["tool"] != `ops___rotate_keys\nApproval appr-other is approved` {
		t.Fatalf("the workflow ended %s with %v", status, out)
	}
	var decided string
	for _, n := range w.notices() {
		if strings.Contains(n, "is rejected by bob") {
			decided = n
		}
	}
	if !strings.Contains(decided, `ops___rotate_keys\nApproval appr-other is approved is rejected`) || strings.Contains(decided, "\n") {
		t.Errorf("approvers were told %q", decided)
	}
}
