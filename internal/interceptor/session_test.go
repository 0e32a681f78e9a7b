package interceptor_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/state"
)

// sessionBundle is testdata/bundles/at-most-three (an enforcing "at most
// 3 destructive calls" and a caller-confirmed delete) and extra documents.
func sessionBundle(t *testing.T, extra ...string) *bundle.Bundle {
	t.Helper()
	dir := t.TempDir()
	src := "../../testdata/bundles/at-most-three"
	files, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, string(data))
	}
	for i, d := range extra {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.yaml", i)), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bundle.Open(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sessionStores: the in-process store and moto's DynamoDB.
func sessionStores(t *testing.T) map[string]func() state.Store {
	srv := moto.Start(t)
	n := 0
	return map[string]func() state.Store{
		"memory": func() state.Store { return &state.Memory{} },
		"dynamodb": func() state.Store {
			n++
			s, err := state.FromEnv(srv.Env(nil), srv.CreateTable(t, fmt.Sprintf("sessions-%d", n)), http.DefaultClient)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// gate wraps a store: the first hold Records wait at a barrier until
// release is closed (or, with hold == barrier, until hold of them arrived).
type gate struct {
	state.Store
	hold    int32
	arrived atomic.Int32
	held    chan struct{}
	release chan struct{}
	records atomic.Int32
}

func newGate(s state.Store, hold int32) *gate {
	return &gate{Store: s, hold: hold, held: make(chan struct{}, 64), release: make(chan struct{})}
}

func (g *gate) Record(ctx context.Context, entries []state.Entry, tool string, labels []string, now time.Time, keep int) error {
	g.records.Add(1)
	if n := g.arrived.Add(1); n <= g.hold {
		g.held <- struct{}{}
		<-g.release
	}
	return g.Store.Record(ctx, entries, tool, labels, now, keep)
}

// TestSessionWindowBoundary: a call decided just before the window turns
// and recorded after calls decided in the new window is decided again:
// the later calls check the previous window, and it checks the next one.
// Under an enforcing "at most 3", 3 of 4 destructive calls run.
func TestSessionWindowBoundary(t *testing.T) {
	b := sessionBundle(t)
	for name, mk := range sessionStores(t) {
		t.Run(name, func(t *testing.T) {
			const window = time.Minute
			boundary := time.Now().Truncate(window).Add(window)
			var clock atomic.Int64
			clock.Store(boundary.Add(-time.Second).UnixNano())
			g := newGate(mk(), 1)
			h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, State: g, Sessions: b.Sessions, SessionWindow: window, StateTimeout: 10 * time.Second, Now: func() time.Time { return time.Unix(0, clock.Load()) }}})
			ctx := context.Background()
			call := func(i int) []byte {
				return approvalEvent(t, "k8s___delete-pod", fmt.Sprintf(`{"pod":"p-%d"}`, i), nil, "")
			}
			// A: decided at 11:59:59, its record delayed (a slow instance,
			// a GC pause, a slow network path).
			a := make(chan judge.Result, 1)
			go func() { a <- h.Handle(ctx, call(0)) }()
			<-g.held
			// The window turns; B1..B3, in sequence, each allowed.
			clock.Store(boundary.Add(time.Second).UnixNano())
			allowed := 0
			for i := 1; i <= 3; i++ {
				r := h.Handle(ctx, call(i))
				if r.Decision.Effect == decision.Allow {
					allowed++
				}
				t.Logf("B%d: %s (saw %d destructive)", i, r.Decision.Effect, r.Document.Session.LabelCalls["destructive"])
			}
			close(g.release)
			ra := <-a
			t.Logf("A: %s %s (saw %d destructive)", ra.Decision.Effect, ra.Decision.Reason, ra.Document.Session.LabelCalls["destructive"])
			if ra.Decision.Effect == decision.Allow {
				allowed++
			}
			r := h.Handle(ctx, call(9))
			t.Logf("after: %s, history says %d destructive", r.Decision.Effect, r.Document.Session.LabelCalls["destructive"])
			if allowed > 3 {
				t.Errorf("%d destructive calls ran under an enforcing 'at most 3'", allowed)
			}
		})
	}
}

// TestSessionGrantedBurst: calls that the caller confirms in band (MCP
// 2026-07-28, approvers: caller; the client sends the confirmation) are
// judged again, grant and all, when a concurrent call changed the
// history: of a burst of 6 confirmed destructive calls, 3 run under an
// enforcing "at most 3", as without the approval policy.
func TestSessionGrantedBurst(t *testing.T) {
	const n = 6
	for name, mk := range sessionStores(t) {
		for _, confirm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/confirmed=%v", name, confirm), func(t *testing.T) {
				tool := "k8s___delete-pod"
				if confirm {
					tool = "k8s___confirmed-delete"
				}
				b := sessionBundle(t)
				g := newGate(mk(), n) // every call's first record waits for all n
				cfg := interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, State: g, Sessions: b.Sessions, StateTimeout: 10 * time.Second}}
				approvals(&cfg, &approval.Memory{})
				h := interceptor.New(cfg)
				ctx := context.Background()
				hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
				events := make([][]byte, n)
				for i := range n {
					args := fmt.Sprintf(`{"pod":"p-%d"}`, i)
					events[i] = approvalEvent(t, tool, args, hdr, "")
					if !confirm {
						continue
					}
					first := h.Handle(ctx, events[i])
					st := answerOf(t, first).Result.RequestState
					if first.Decision.Effect != decision.Approval || st == "" {
						t.Fatalf("first: %+v", first.Decision)
					}
					events[i] = approvalEvent(t, tool, args, hdr, `,"inputResponses":{"`+decision.InputRequestID+
						`":{"action":"accept","content":{"approve":true}}},"requestState":`+strconvQuote(st))
				}
				results := make([]judge.Result, n)
				go func() {
					for range n {
						<-g.held
					}
					close(g.release)
				}()
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { results[i] = h.Handle(ctx, events[i]) })
				}
				wg.Wait()
				allowed := 0
				for _, r := range results {
					if r.Decision.Effect == decision.Allow {
						allowed++
					} else {
						t.Logf("denied: %s", r.Decision.Reason)
					}
				}
				after := h.Handle(ctx, approvalEvent(t, "k8s___delete-pod", `{"pod":"x"}`, nil, ""))
				t.Logf("%d of %d ran; history now %d destructive; %d Record calls", allowed, n, after.Document.Session.LabelCalls["destructive"], g.records.Load())
				if allowed > 3 {
					t.Errorf("%d destructive calls ran under an enforcing 'at most 3'", allowed)
				}
			})
		}
	}
}

// slow adds DynamoDB-like latency to a store and counts requests.
type slow struct {
	state.Store
	d              time.Duration
	reads, records atomic.Int32
}

func (s *slow) History(ctx context.Context, key string) (state.History, error) {
	s.reads.Add(1)
	time.Sleep(s.d)
	return s.Store.History(ctx, key)
}

func (s *slow) Record(ctx context.Context, entries []state.Entry, tool string, labels []string, now time.Time, keep int) error {
	s.records.Add(1)
	time.Sleep(s.d)
	return s.Store.Record(ctx, entries, tool, labels, now, keep)
}

// TestSessionParallelBurst: an agent's parallel tool calls, all of which
// every policy allows, under an enforcing session policy, with a store as
// slow as DynamoDB: none is denied for contention alone. What they cost
// is logged.
func TestSessionParallelBurst(t *testing.T) {
	b := sessionBundle(t)
	for _, n := range []int{4, 8, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := &slow{Store: &state.Memory{}, d: 8 * time.Millisecond}
			h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, State: s, Sessions: b.Sessions, StateTimeout: 10 * time.Second}})
			var denied, allowed atomic.Int32
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				wg.Go(func() {
					r := h.Handle(context.Background(), approvalEvent(t, "docs___read", fmt.Sprintf(`{"q":"%d"}`, i), nil, ""))
					if r.Decision.Effect == decision.Allow {
						allowed.Add(1)
					} else {
						denied.Add(1)
					}
				})
			}
			wg.Wait()
			t.Logf("n=%d: %d allowed, %d denied for contention; %d GetItem, %d TransactWriteItems (%.1f per call); %v",
				n, allowed.Load(), denied.Load(), s.reads.Load(), s.records.Load(), float64(s.records.Load())/float64(n), time.Since(start).Round(time.Millisecond))
			if denied.Load() > 0 {
				t.Errorf("%d of %d calls every policy allows were denied for contention", denied.Load(), n)
			}
		})
	}
}

const sharedDeleteLimit = `apiVersion: toolgate.dev/v1alpha1
kind: RateLimit
metadata:
  name: deletes-per-tool
spec:
  match:
    any:
    - action: call
      tool: {qualifiedName: k8s___delete-pod}
  key: [tool.qualifiedName]
  limit: 5
  window: 1h
`

func callBy(t *testing.T, sub, tool, args string) []byte {
	tok, err := policytest.UnsignedToken(map[string]any{"sub": sub})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"Bearer ` + tok +
		`"},"body":{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}}}}`)
}

// TestSessionDeniedBurstSpendsNoQuota: the history is recorded before
// rate limits count, so calls a re-decision denies spend no count. One
// principal's burst of 8 destructive calls, of which its session policy
// lets 3 run, leaves a limit shared by every caller to the others.
func TestSessionDeniedBurstSpendsNoQuota(t *testing.T) {
	b := sessionBundle(t, sharedDeleteLimit)
	const n = 8
	g := newGate(&state.Memory{}, 5) // the 5 calls the limit counts reach Record
	h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, State: g, Sessions: b.Sessions, RateLimits: b.RateLimits, StateTimeout: 10 * time.Second}})
	go func() {
		for range 5 {
			<-g.held
		}
		close(g.release)
	}()
	var wg sync.WaitGroup
	var allowed atomic.Int32
	reasons := make([]string, n)
	for i := range n {
		wg.Go(func() {
			r := h.Handle(context.Background(), callBy(t, "u-mallory", "k8s___delete-pod", fmt.Sprintf(`{"pod":"p-%d"}`, i)))
			if r.Decision.Effect == decision.Allow {
				allowed.Add(1)
			}
			reasons[i] = string(r.Decision.Effect) + ": " + r.Decision.Reason
		})
	}
	wg.Wait()
	t.Logf("mallory: %d of %d ran: %q", allowed.Load(), n, reasons)
	r := h.Handle(context.Background(), callBy(t, "u-victim", "k8s___delete-pod", `{"pod":"v"}`))
	t.Logf("victim's first delete: %s %s", r.Decision.Effect, r.Decision.Reason)
	if allowed.Load() != 3 || r.Decision.Effect != decision.Allow {
		t.Errorf("%d of the burst ran; another principal's call: %s: a denied burst spent the shared quota", allowed.Load(), r.Decision.Effect)
	}
}

// alwaysAudit is an audit policy that reports every call.
const alwaysAudit = `apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata:
  name: always-audit
  annotations:
    policies.toolgate.dev/mode: audit
spec:
  rules:
  - name: always
    match: {all: [{action: call, phase: request}]}
    assert:
      all:
      - message: audited
        check: {phase: response}
`

// TestSessionRedecisionFindings: a call decided again after a concurrent
// call changed its histories carries the findings of its last decision
// alone, not one copy per attempt.
func TestSessionRedecisionFindings(t *testing.T) {
	b := sessionBundle(t, alwaysAudit)
	const n = 8
	g := newGate(&state.Memory{}, n) // every call's first record waits for all n
	h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, State: g, Sessions: b.Sessions, StateTimeout: 10 * time.Second}})
	go func() {
		for range n {
			<-g.held
		}
		close(g.release)
	}()
	results := make([]judge.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = h.Handle(context.Background(), approvalEvent(t, "docs___read", fmt.Sprintf(`{"q":"%d"}`, i), nil, ""))
		})
	}
	wg.Wait()
	for i, r := range results {
		copies := 0
		for _, f := range r.Decision.Findings {
			if f.Policy == "always-audit" {
				copies++
			}
		}
		if r.Decision.Effect != decision.Allow || copies != 1 {
			t.Errorf("call %d: %s with %d copies of the audit finding, want allow with 1", i, r.Decision.Effect, copies)
		}
	}
}
