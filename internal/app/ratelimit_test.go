package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// call returns an event calling tool as an SRE.
func call(t *testing.T, tool string) []byte {
	t.Helper()
	token, err := policytest.UnsignedToken(map[string]any{"sub": "u-sam", "username": "sam", "cognito:groups": []string{"sre"}})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"Bearer %s"},
		"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"namespace":"web","deployment":"web"}}}}}}`, token, tool))
}

// TestRateLimitInDynamoDB: the default bundle's execute limit, counted in
// moto's DynamoDB through the handler Lambda builds: 30 calls pass, the 31st
// is denied with when to retry, in the answer, the record and the metrics.
func TestRateLimitInDynamoDB(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-state")
	var logs bytes.Buffer
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint}), policies.FS, &logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The limit counts per minute of the clock: 31 calls that straddle a
	// minute's end would count in two windows.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 15*time.Second {
		time.Sleep(left + time.Second)
	}
	for i := range 30 {
		if r := h.Handle(ctx, call(t, "k8s___restart-deployment")); r.Decision.Effect != decision.Allow {
			t.Fatalf("call %d: %s %q", i+1, r.Decision.Effect, r.Decision.Reason)
		}
	}
	r := h.Handle(ctx, call(t, "k8s___restart-deployment"))
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeRateLimited || r.Decision.RetryAfter < 1 || r.Decision.RetryAfter > 60 ||
		!strings.Contains(r.Decision.Reason, "rate limit execute-calls-per-caller exceeded (30 calls per 1m); retry after") {
		t.Fatalf("31st call: %+v", r.Decision)
	}
	if body := string(r.Output.MCP.TransformedGatewayResponse.Body); !strings.Contains(body, "retry after") || !strings.Contains(body, `"isError":true`) {
		t.Errorf("answer %s", body)
	}
	// Per call of these sessionless calls: the principal's two window
	// histories (the default bundle's session policy reads them),
	// recording the call the policies allowed in the current window (a
	// transaction that also checks the previous and the next), and the
	// limit's count, which the 31st call exceeds; that denial is counted
	// by the default bundle's (audit-only) containment, which reads
	// nothing for a call it does not deny. What was last listed of the
	// tool is read with the histories (the default bundle's
	// pinned-tool-definitions reads it).
	if got := targets(proxy); got["GetItem"] != 2*31 || got["BatchGetItem"] != 31 || got["UpdateItem"] != 31+1 || got["TransactWriteItems"] != 31 || len(got) != 4 {
		t.Errorf("DynamoDB requests for 31 limited calls: %v, want 62 GetItem, 31 BatchGetItem, 32 UpdateItem, 31 TransactWriteItems", got)
	}
	// A read matches no limit: no count, only the history.
	if r := h.Handle(ctx, call(t, "k8s___get-pod")); r.Decision.Effect != decision.Allow {
		t.Fatalf("read: %+v", r.Decision)
	}
	if got := targets(proxy); got["GetItem"] != 2 || got["BatchGetItem"] != 1 || got["TransactWriteItems"] != 1 || len(got) != 3 {
		t.Errorf("a call no limit matches: %v, want two GetItems and one TransactWriteItems of the history, one BatchGetItem of the tool's definition", got)
	}
	out := logs.String()
	for _, want := range []string{`"rate_limits":[{"name":"execute-calls-per-caller","result":"exceeded","count":30,"limit":30}]`,
		`"RateLimit":"execute-calls-per-caller","RateLimited":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(out, "u-sam") && strings.Contains(out, `"pk"`) {
		t.Error("a principal id in the clear in a table key")
	}
}

// limitBundle is a bundle of one allow-all policy and one limit, which
// fails open or not.
func limitBundle(failOpen bool) fstest.MapFS {
	return fstest.MapFS{
		"policy.yaml": {Data: []byte(`apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: open}
spec:
  rules:
  - name: r
    match: {all: [{action: call}]}
    assert: {all: [{check: {version: v1}}]}
`)},
		"limit.yaml": {Data: []byte(fmt.Sprintf(`apiVersion: toolgate.dev/v1alpha1
kind: RateLimit
metadata: {name: calls}
spec:
  match: {any: [{action: call}]}
  key: [principal.id]
  limit: 5
  window: 1h
  failOpen: %v
`, failOpen))},
	}
}

// TestRateLimitStoreFailures: DynamoDB refusing connections, stalled past
// STATE_TIMEOUT_MS, or throttling: the call is denied (result error) unless
// the limit fails open, and each is recorded and counted.
func TestRateLimitStoreFailures(t *testing.T) {
	srv := moto.Start(t)
	proxy := srv.Proxy(t)
	table := srv.CreateTable(t, "toolgate-state")
	var throttled atomic.Int64
	throttling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		throttled.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`))
	}))
	defer throttling.Close()
	for _, tt := range []struct {
		name     string
		mode     moto.Mode
		endpoint string
	}{
		{"refused", moto.Refuse, proxy.Endpoint},
		{"stalled", moto.Stall, proxy.Endpoint},
		{"throttling", moto.Pass, throttling.URL},
	} {
		for _, failOpen := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/failOpen=%v", tt.name, failOpen), func(t *testing.T) {
				dir := t.TempDir()
				for name, f := range limitBundle(failOpen) {
					writeFile(t, dir, name, f.Data)
				}
				writeFile(t, dir, "tests.yaml", []byte(`apiVersion: toolgate.dev/v1alpha1
kind: PolicyTest
metadata: {name: t}
spec:
  cases:
  - name: the 6th call is denied
    request: {jsonrpc: "2.0", id: 1, method: tools/call, params: {name: docs___a, arguments: {}}}
    claims: {sub: u}
    times: 6
    expect: {decision: deny, policies: [calls]}
`))
				var logs bytes.Buffer
				h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": tt.endpoint,
					"POLICY_SOURCE": dir, "STATE_TIMEOUT_MS": "200"}), policies.FS, &logs, nil)
				if err != nil {
					t.Fatal(err)
				}
				proxy.SetMode(tt.mode)
				defer proxy.SetMode(moto.Pass)
				r := h.Handle(context.Background(), call(t, "k8s___restart-deployment"))
				want, result := decision.Deny, "error"
				if failOpen {
					want, result = decision.Allow, "fail_open"
				}
				if r.Decision.Effect != want || (!failOpen && (r.Decision.Code != decision.CodeUndecidable || !strings.Contains(r.Decision.Reason, "rate limit calls could not be checked"))) {
					t.Fatalf("%+v", r.Decision)
				}
				for _, s := range []string{`"result":"` + result + `"`, `"RateLimit":"calls","StateErrors":1`} {
					if !strings.Contains(logs.String(), s) {
						t.Errorf("log lacks %s:\n%s", s, logs.String())
					}
				}
			})
		}
	}
	if throttled.Load() < 2 {
		t.Errorf("a throttled request was not retried (%d attempts)", throttled.Load())
	}
}

// TestRateLimitWithoutTable: a bundle with limits and no STATE_TABLE denies
// what the limits match, saying why, and nothing else.
func TestRateLimitWithoutTable(t *testing.T) {
	h, err := app.NewHandler(func(string) string { return "" }, policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := h.Handle(context.Background(), call(t, "k8s___restart-deployment"))
	if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "could not be checked") {
		t.Errorf("execute call: %+v", r.Decision)
	}
	if r := h.Handle(context.Background(), call(t, "k8s___get-pod")); r.Decision.Effect != decision.Allow {
		t.Errorf("read: %+v", r.Decision)
	}
}

// targets counts the DynamoDB requests since the last call by operation.
func targets(p *moto.Proxy) map[string]int {
	n := map[string]int{}
	for _, r := range p.Requests() {
		n[r.Target]++
	}
	return n
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkState: what state adds to a call, against moto's DynamoDB on
// loopback. With the default bundle (its session policy reads the history):
// a limited call is a GetItem and two UpdateItems (the count, the session),
// an unlimited one a GetItem and an UpdateItem. A bundle that reads no
// session and has no limit ("stateless") makes no request.
func BenchmarkState(b *testing.B) {
	srv := moto.Start(b)
	table := srv.CreateTable(b, "toolgate-bench")
	h, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "LOG_LEVEL": "error", "METRICS": "off"}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	token, _ := policytest.UnsignedToken(map[string]any{"sub": "u-sam", "username": "sam", "cognito:groups": []string{"sre"}})
	event := func(tool string) []byte {
		return []byte(fmt.Sprintf(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"Bearer %s"},
		"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"namespace":"web","deployment":"web"}}}}}}`, token, tool))
	}
	stateless, err := app.NewHandler(srv.Env(map[string]string{"STATE_TABLE": table, "LOG_LEVEL": "error", "METRICS": "off",
		"POLICY_SOURCE": "../../testdata/bundles/minimal"}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, tool string
		h          interface {
			Handle(context.Context, []byte) judge.Result
		}
	}{{"limited", "k8s___restart-deployment", h}, {"unlimited", "k8s___get-pod", h}, {"stateless", "docs___search_docs", stateless}} {
		payload := event(tc.tool)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tc.h.Handle(context.Background(), payload)
			}
		})
	}
}

// TestRateLimitAcrossProcesses: two handlers in two processes (as two
// Lambda instances), each with 8 concurrent invocations, hammer one limit
// in one table: exactly limit calls are allowed in all.
func TestRateLimitAcrossProcesses(t *testing.T) {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-procs")
	dir := t.TempDir()
	for name, f := range limitBundle(false) {
		writeFile(t, dir, name, f.Data)
	}
	env := srv.Env(nil)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHammerChild$", "-test.count=1")
		// The test is of atomicity across processes, not of latency: a
		// loaded machine (two processes of 8 goroutines, -race, moto in
		// Python) must not turn a slow count into a denial.
		cmd.Env = append(os.Environ(), "HAMMER_BUNDLE="+dir, "STATE_TABLE="+table, "STATE_TIMEOUT_MS=10000", "AWS_REGION="+env("AWS_REGION"),
			"AWS_ENDPOINT_URL_DYNAMODB="+env("AWS_ENDPOINT_URL_DYNAMODB"),
			"AWS_ACCESS_KEY_ID="+env("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY="+env("AWS_SECRET_ACCESS_KEY"))
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
		var n int
		o := outs[i].String()
		if k := strings.Index(o, "allowed "); k < 0 || func() bool { _, err := fmt.Sscanf(o[k:], "allowed %d", &n); return err != nil }() {
			t.Fatalf("process %d printed no count:\n%s", i, o)
		}
		total += n
	}
	if total != 5 {
		t.Errorf("%d calls allowed in two processes, want exactly the limit, 5", total)
	}
}

// TestHammerChild is one process of TestRateLimitAcrossProcesses.
func TestHammerChild(t *testing.T) {
	dir := os.Getenv("HAMMER_BUNDLE")
	if dir == "" {
		t.Skip("run by TestRateLimitAcrossProcesses")
	}
	h, err := app.NewHandler(func(k string) string {
		if k == "POLICY_SOURCE" {
			return dir
		}
		return os.Getenv(k)
	}, policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if r := h.Handle(context.Background(), call(t, "k8s___restart-deployment")); r.Decision.Effect == decision.Allow {
					allowed.Add(1)
				} else if r.Decision.Code != decision.CodeRateLimited {
					t.Errorf("%+v", r.Decision)
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("allowed %d\n", allowed.Load())
}
