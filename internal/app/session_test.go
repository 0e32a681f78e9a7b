package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// sessionBundle writes a bundle whose only policy is the trifecta rule, in
// mode, with a catalog of labels, and returns its directory.
func sessionBundle(t *testing.T, mode string) string {
	dir := t.TempDir()
	writeFile(t, dir, "policy.yaml", []byte(`apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata:
  name: trifecta
  annotations: {policies.toolgate.dev/mode: `+mode+`}
spec:
  rules:
  - name: no-external-after-private-and-untrusted
    match: {all: [{action: call, phase: request}]}
    assert:
      all:
      - message: the session has read private data and untrusted content
        check:
          (contains(session.labels, 'private-data') && contains(session.labels, 'untrusted-content') && contains(tool.labels, 'external-communication')): false
`))
	writeFile(t, dir, "catalog.yaml", []byte(`apiVersion: toolgate.dev/v1alpha1
kind: ToolCatalog
metadata: {name: c}
spec:
  tools:
    crm___get_customer: {labels: [private-data]}
    web___fetch: {labels: [untrusted-content]}
    mail___send: {labels: [external-communication]}
`))
	return dir
}

// sessionCall is a call of tool by sub in MCP session sid.
func sessionCall(t *testing.T, sub, sid, tool string) []byte {
	t.Helper()
	token, err := policytest.UnsignedToken(map[string]any{"sub": sub})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"Bearer %s","Mcp-Session-Id":%q},
		"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{}}}}}}`, token, sid, tool))
}

// enforcingSessions is the handler of an enforcing trifecta policy with
// histories in moto's DynamoDB.
func enforcingSessions(t *testing.T) *app.Handler {
	t.Helper()
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-sessions")
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "POLICY_SOURCE": sessionBundle(t, "enforce")}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSessionsInDynamoDB: an enforcing trifecta policy, with histories in
// moto's DynamoDB: the third step of the trifecta is denied, another
// principal in the same session id starts clean, and the history shows in
// the document.
func TestSessionsInDynamoDB(t *testing.T) {
	h := enforcingSessions(t)
	ctx := context.Background()
	for _, tool := range []string{"crm___get_customer", "web___fetch"} {
		if r := h.Handle(ctx, sessionCall(t, "u-ann", "s-1", tool)); r.Decision.Effect != decision.Allow {
			t.Fatalf("%s: %+v", tool, r.Decision)
		}
	}
	r := h.Handle(ctx, sessionCall(t, "u-ann", "s-1", "mail___send"))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "private data and untrusted content") {
		t.Fatalf("trifecta: %+v", r.Decision)
	}
	s := r.Document.Session
	if !s.Tracked || s.Source != "mcp-session-id" || s.Calls != 2 || strings.Join(s.Tools, ",") != "crm___get_customer,web___fetch" || s.First == "" {
		t.Errorf("session %+v", s)
	}
	// The same session id under another principal is another history: one
	// caller can neither read nor poison another's.
	if r := h.Handle(ctx, sessionCall(t, "u-eve", "s-1", "mail___send")); r.Decision.Effect != decision.Allow || r.Document.Session.Calls != 0 {
		t.Errorf("another principal: %+v %+v", r.Decision, r.Document.Session)
	}
	// The denied call was not recorded: the history is still two calls.
	if r := h.Handle(ctx, sessionCall(t, "u-ann", "s-1", "crm___get_customer")); r.Document.Session.Calls != 2 {
		t.Errorf("after a denial: %+v", r.Document.Session)
	}
}

// TestFreshSessionIDsResetNothing: a caller who sends a new Mcp-Session-Id
// (or the policy session header, or none) with every call still carries
// its history: the principal's window counts every call, so the trifecta
// is denied across three sessions; another principal starts clean.
func TestFreshSessionIDsResetNothing(t *testing.T) {
	h := enforcingSessions(t)
	ctx := context.Background()
	if r := h.Handle(ctx, sessionCall(t, "u-ann", "s-1", "crm___get_customer")); r.Decision.Effect != decision.Allow {
		t.Fatalf("first: %+v", r.Decision)
	}
	// The second call without a session id at all.
	second := []byte(strings.Replace(string(sessionCall(t, "u-ann", "", "web___fetch")), `,"Mcp-Session-Id":""`, "", 1))
	if r := h.Handle(ctx, second); r.Decision.Effect != decision.Allow {
		t.Fatalf("second: %+v", r.Decision)
	}
	r := h.Handle(ctx, sessionCall(t, "u-ann", "s-fresh", "mail___send"))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "private data and untrusted content") || r.Document.Session.Calls != 2 {
		t.Fatalf("a fresh session id: %+v %+v", r.Decision, r.Document.Session)
	}
	if r := h.Handle(ctx, sessionCall(t, "u-eve", "s-fresh", "mail___send")); r.Decision.Effect != decision.Allow || r.Document.Session.Calls != 0 {
		t.Errorf("another principal: %+v %+v", r.Decision, r.Document.Session)
	}
}

// TestSessionStoreFailure: with the table unreachable, an enforcing session
// policy denies (error); an audit-only one decides without the history and
// says so as an audit finding.
func TestSessionStoreFailure(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-sessions")
	proxy.SetMode(moto.Refuse)
	for mode, want := range map[string]decision.Effect{"enforce": decision.Deny, "audit": decision.Allow} {
		t.Run(mode, func(t *testing.T) {
			var logs bytes.Buffer
			h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint,
				"POLICY_SOURCE": sessionBundle(t, mode), "STATE_TIMEOUT_MS": "200"}), policies.FS, &logs, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := h.Handle(context.Background(), sessionCall(t, "u-ann", "s-1", "web___fetch"))
			if r.Decision.Effect != want || r.Document.Session.Tracked {
				t.Fatalf("%+v", r.Decision)
			}
			if mode == "enforce" && (r.Decision.Code != decision.CodeUndecidable || !strings.Contains(r.Decision.Reason, "session history could not be read")) {
				t.Errorf("%+v", r.Decision)
			}
			if !strings.Contains(logs.String(), `"name":"(session)"`) {
				t.Errorf("the log does not say the history was unavailable:\n%s", logs.String())
			}
		})
	}
}

// TestNoStateRequestsWhenUnused: a bundle with no rate limit and no policy
// reading session makes no DynamoDB request at all.
func TestNoStateRequestsWhenUnused(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-unused")
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint,
		"POLICY_SOURCE": "../../testdata/bundles/minimal"}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		h.Handle(context.Background(), sessionCall(t, "u-ann", "s-1", "docs___search_docs"))
	}
	if n := len(proxy.Requests()); n != 0 {
		t.Errorf("%d DynamoDB requests from a bundle that needs no state", n)
	}
}

// TestSessionReadOnlyAtRequest: the RESPONSE point judges the call again
// without reading the history: at the REQUEST point, three GetItems (the
// session and the principal's current and previous window) and two
// writes in one transaction (the session and the current window, on the
// condition that none of the three changed) per call, not per message.
func TestSessionReadOnlyAtRequest(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-sessions")
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint,
		"POLICY_SOURCE": sessionBundle(t, "enforce")}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := sessionCall(t, "u-ann", "s-1", "web___fetch")
	var ev map[string]any
	if err := json.Unmarshal(req, &ev); err != nil {
		t.Fatal(err)
	}
	ev["mcp"].(map[string]any)["gatewayResponse"] = map[string]any{"statusCode": 200, "body": map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"content": []any{}}}}
	resp, _ := json.Marshal(ev)
	if r := h.Handle(context.Background(), req); r.Decision.Effect != decision.Allow {
		t.Fatalf("request: %+v", r.Decision)
	}
	if r := h.Handle(context.Background(), resp); r.Decision.Effect != decision.Allow || r.Phase != "response" || r.Document.Session.Tracked {
		t.Fatalf("response: %+v %s %+v", r.Decision, r.Phase, r.Document.Session)
	}
	if got := targets(proxy); got["GetItem"] != 3 || got["TransactWriteItems"] != 1 || len(got) != 2 {
		t.Errorf("DynamoDB requests for one call and its response: %v, want 3 GetItems and 1 TransactWriteItems", got)
	}
}

// TestSessionBurst: calls of one principal sent at the same moment are
// judged one after another, as a sequence is (R9): of 8 destructive calls
// sent at once, each in a fresh session, under an enforcing "at most 3
// destructive calls", exactly 3 run, and the history holds those 3.
func TestSessionBurst(t *testing.T) {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-burst")
	dir := "../../testdata/bundles/at-most-three"
	// moto answers one request at a time: a generous timeout, so that
	// what is tested is the order of decisions, not moto's speed.
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "POLICY_SOURCE": dir, "STATE_TIMEOUT_MS": "10000"}),
		policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	reasons := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := h.Handle(context.Background(), sessionCall(t, "u-ann", fmt.Sprintf("s-%d", i), "k8s___delete-pod"))
			if r.Decision.Effect == decision.Allow {
				reasons[i] = "allowed"
				return
			}
			reasons[i] = r.Decision.Reason
		})
	}
	wg.Wait()
	allowed := 0
	for _, r := range reasons {
		switch {
		case r == "allowed":
			allowed++
		case !strings.Contains(r, "3 destructive calls") && !strings.Contains(r, "send the call again"):
			t.Errorf("denied for another reason: %s", r)
		}
	}
	if allowed != 3 {
		t.Errorf("%d of %d destructive calls sent at once ran, want 3: %q", allowed, n, reasons)
	}
	r := h.Handle(context.Background(), sessionCall(t, "u-ann", "s-last", "k8s___delete-pod"))
	if r.Decision.Effect != decision.Deny || r.Document.Session.LabelCalls["destructive"] != 3 {
		t.Errorf("after the burst: %+v %+v", r.Decision, r.Document.Session)
	}
}
