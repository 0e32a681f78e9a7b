package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/policies"
)

// containBundle is a bundle whose one policy allows only get-pod, and an
// enforcing containment: 6 denials of a principal in an hour hold it for
// ten minutes.
func containBundle(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, dir, "policy.yaml", []byte(`apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: only-get-pod}
spec:
  rules:
  - name: r
    match: {all: [{action: call}]}
    assert: {all: [{message: only get-pod, check: {tool: {name: get-pod}}}]}
`))
	writeFile(t, dir, "containment.yaml", []byte(`apiVersion: toolgate.dev/v1alpha1
kind: Containment
metadata: {name: refused}
spec:
  key: [principal.id]
  threshold: 6
  window: 1h
  quarantine: 10m
`))
	return dir
}

// childEnv is the environment of a handler process on table.
func childEnv(srv *moto.Server, dir, table string) []string {
	env := srv.Env(nil)
	return append(os.Environ(), "CHILD_BUNDLE="+dir, "STATE_TABLE="+table, "STATE_TIMEOUT_MS=10000", "AWS_REGION="+env("AWS_REGION"),
		"AWS_ENDPOINT_URL_DYNAMODB="+env("AWS_ENDPOINT_URL_DYNAMODB"),
		"AWS_ACCESS_KEY_ID="+env("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY="+env("AWS_SECRET_ACCESS_KEY"))
}

// runChild runs the test named child in a new process (a Lambda
// instance), with env and variable set, and returns what it printed.
func runChild(t *testing.T, env []string, child, variable string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(slices.Clone(env), variable)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s process: %v\n%s", variable, err, out)
	}
	return string(out)
}

// TestContainmentAcrossProcesses: two handler processes (two Lambda
// instances) of 8 concurrent invocations each send one principal's 16
// refused calls at one table: exactly one of them begins the quarantine,
// and a third process then refuses the principal a call its policy
// allows, with when to retry. Lifted, the call passes.
func TestContainmentAcrossProcesses(t *testing.T) {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-contain")
	env := childEnv(srv, containBundle(t), table)
	outs := make([]string, 2)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() { outs[i] = runChild(t, env, "TestContainChild", "CONTAIN_MODE=refused") })
	}
	wg.Wait()
	began := 0
	for i, o := range outs {
		var n int
		if k := strings.Index(o, "began "); k < 0 || func() bool { _, err := fmt.Sscanf(o[k:], "began %d", &n); return err != nil }() {
			t.Fatalf("process %d printed no count:\n%s", i, o)
		}
		began += n
	}
	if began != 1 {
		t.Fatalf("%d calls began the quarantine in two processes, want exactly 1", began)
	}
	if o := runChild(t, env, "TestContainChild", "CONTAIN_MODE=allowed"); !strings.Contains(o, "decision deny -32004") {
		t.Fatalf("a held principal's allowed call:\n%s", o)
	}
	// What an operator sees and does (toolgate quarantine list and lift).
	store, err := state.FromEnv(srv.Env(nil), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	list, err := store.Quarantines(context.Background(), time.Now())
	if err != nil || len(list) != 1 || list[0].Containment != "refused" || list[0].Subject["principal.id"] != "u-sam" || list[0].Denials != 6 {
		t.Fatalf("quarantines: %+v %v", list, err)
	}
	if ok, err := store.LiftQuarantine(context.Background(), list[0].Key); !ok || err != nil {
		t.Fatalf("lift: %v %v", ok, err)
	}
	if o := runChild(t, env, "TestContainChild", "CONTAIN_MODE=allowed"); !strings.Contains(o, "decision allow 0") {
		t.Fatalf("a lifted principal's allowed call:\n%s", o)
	}
}

// TestContainChild is one process of TestContainmentAcrossProcesses.
func TestContainChild(t *testing.T) {
	dir := os.Getenv("CHILD_BUNDLE")
	if dir == "" {
		t.Skip("run by TestContainmentAcrossProcesses")
	}
	var logs testutil.Buffer
	h, err := app.NewHandler(func(k string) string {
		if k == "POLICY_SOURCE" {
			return dir
		}
		return os.Getenv(k)
	}, policies.FS, &logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CONTAIN_MODE") == "allowed" {
		r := h.Handle(context.Background(), call(t, "k8s___get-pod"))
		fmt.Printf("decision %s %d %q\n", r.Decision.Effect, r.Decision.Code, r.Decision.Reason)
		return
	}
	var wg sync.WaitGroup
	var denied atomic.Int64
	for range 8 {
		wg.Go(func() {
			if r := h.Handle(context.Background(), call(t, "k8s___restart-deployment")); r.Decision.Effect == decision.Deny {
				denied.Add(1)
			}
		})
	}
	wg.Wait()
	if denied.Load() != 8 {
		t.Errorf("%d of 8 refused calls denied", denied.Load())
	}
	fmt.Printf("began %d\n", strings.Count(logs.String(), `"result":"began"`))
}

// TestContainmentInDynamoDB: what a held caller and an operator see in
// one instance: the denial that begins the quarantine says so in its
// record and metrics (QuarantinesBegun), the next call is refused with
// -32004 and data.retryAfter, and allowed calls cost no request.
func TestContainmentInDynamoDB(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-state")
	dir := containBundle(t)
	var logs bytes.Buffer
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint, "POLICY_SOURCE": dir}), policies.FS, &logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := h.Handle(ctx, call(t, "k8s___get-pod")); r.Decision.Effect != decision.Allow {
		t.Fatalf("allowed call: %+v", r.Decision)
	}
	if got := targets(proxy); got["GetItem"] != 1 || len(got) != 1 {
		t.Errorf("an allowed call: %v, want the quarantine's GetItem alone", got)
	}
	for i := range 6 {
		if r := h.Handle(ctx, call(t, "k8s___restart-deployment")); r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodePolicyDenied {
			t.Fatalf("refused call %d: %+v", i+1, r.Decision)
		}
	}
	if got := targets(proxy); got["GetItem"] != 6 || got["UpdateItem"] != 7 || len(got) != 2 {
		t.Errorf("6 refused calls: %v, want 6 GetItem (the quarantine), 7 UpdateItem (6 counts, the quarantine)", got)
	}
	r := h.Handle(ctx, call(t, "k8s___get-pod"))
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeQuarantined || r.Decision.RetryAfter < 590 || r.Decision.RetryAfter > 600 ||
		!strings.Contains(r.Decision.Reason, "quarantined by containment refused until ") || !strings.Contains(r.Decision.Reason, "after 6 denials in 1h") {
		t.Fatalf("held: %+v", r.Decision)
	}
	if body := string(r.Output.MCP.TransformedGatewayResponse.Body); !strings.Contains(body, "retry after") || !strings.Contains(body, `"isError":true`) {
		t.Errorf("answer %s", body)
	}
	if got := targets(proxy); got["GetItem"] != 1 || len(got) != 1 {
		t.Errorf("a held call: %v, want one GetItem and no count", got)
	}
	out := logs.String()
	for _, want := range []string{`"containment":[{"name":"refused","mode":"enforce","result":"began","count":6,"threshold":6,"until":"`,
		`"Containment":"refused","QuarantinesBegun":1`, `"containment":[{"name":"refused","mode":"enforce","result":"quarantined","count":6,"threshold":6,"until":"`,
		`"Containment":"refused","Quarantined":1`, `{"name":"refused","rule":"containment","mode":"enforce","kind":"violation","message":"quarantine began: 6 denials in 1h; held until `} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Count(out, `"result":"began"`) != 1 {
		t.Errorf("%d records say the quarantine began, want 1", strings.Count(out, `"result":"began"`))
	}
}

// TestHeldWhateverItSends: what a containment's match and exclude read
// may be the caller's to choose (a header here), so they only choose the
// denials counted: a held caller is refused every message, excluded or
// not; and a denial that a policy's rule erred on is counted, though the
// error makes it -32002.
func TestHeldWhateverItSends(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "policy.yaml", []byte(`apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: only-get-pod}
spec:
  rules:
  - name: r
    match: {all: [{action: call}]}
    assert: {all: [{message: only get-pod, check: {tool: {name: get-pod}}}]}
---
apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: erring}
spec:
  rules:
  - name: r
    match: {all: [{action: call}]}
    assert: {all: [{check: {(length(tool.arguments.names || '') > `+"`100`"+`): false}}]}
`))
	writeFile(t, dir, "containment.yaml", []byte(`apiVersion: toolgate.dev/v1alpha1
kind: Containment
metadata: {name: refused}
spec:
  exclude: {any: [{request: {headers: {x-health-check: "1"}}}]}
  key: [principal.id]
  threshold: 3
  window: 1h
  quarantine: 10m
`))
	h := memoryHandler(t, dir)
	ctx := context.Background()
	// Refused by a policy and by a rule's error, then by the error alone
	// (on what the caller sent): each is -32002, and each counts.
	for i, tool := range []string{"k8s___restart-deployment", "k8s___get-pod", "k8s___get-pod"} {
		erring := bytes.Replace(call(t, tool), []byte(`"arguments":{`), []byte(`"arguments":{"names":5,`), 1)
		r := h.Handle(ctx, erring)
		if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable {
			t.Fatalf("refused call %d with an erring rule: %+v", i+1, r.Decision)
		}
	}
	healthCheck := bytes.Replace(call(t, "k8s___get-pod"), []byte(`"headers":{`), []byte(`"headers":{"X-Health-Check":"1",`), 1)
	for name, payload := range map[string][]byte{"a call": call(t, "k8s___get-pod"), "an excluded call": healthCheck} {
		if r := h.Handle(ctx, payload); r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeQuarantined {
			t.Errorf("%s of the held caller: %+v", name, r.Decision)
		}
	}
}

// memoryHandler is the function's handler on the bundle at source (the
// embedded default when ""), with its state in memory.
func memoryHandler(t *testing.T, source string) *app.Handler {
	t.Helper()
	h, err := app.NewHandler(func(k string) string {
		return map[string]string{"POLICY_SOURCE": source, "STATE_TABLE": "memory"}[k]
	}, policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
