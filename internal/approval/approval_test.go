package approval_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policy"
)

// stores returns the two stores under one contract: in process, and in a
// table of moto's DynamoDB on loopback.
func stores(t testing.TB) map[string]approval.Store {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-approvals")
	ddb, err := approval.FromEnv(srv.Env(nil), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]approval.Store{"memory": &approval.Memory{}, "dynamodb": ddb}
}

var t0 = time.Now().Truncate(time.Second)

// key signs the decisions of these tests, as the approvals function would;
// keys prove the requests, as the REQUEST point does.
var (
	key  = approval.NewLocalKey()
	keys = approval.RandomKey()
)

// decide decides as the decision path does.
func decide(st approval.Store, id string, d approval.Decision, at time.Time) (approval.Approval, error) {
	return approval.Decide(context.Background(), st, key, keys, id, d, at)
}

// unlimited are limits that no test of the other rules reaches.
var unlimited = approval.Limits{MaxPending: 1000, MaxRequests: 1000, Window: time.Hour}

// pending is a request of alice's, proven as the REQUEST point proves it.
func pending(id, binding string, req approval.Requirement) approval.Approval {
	a, err := approval.Prove(context.Background(), keys, approval.Approval{ID: id, Binding: binding, Status: approval.Pending, Requester: "alice",
		Tool: "k8s___delete-pod", Requirement: req, Created: t0, Expires: t0.Add(req.TTL())})
	if err != nil {
		panic(err)
	}
	return a
}

var (
	ops    = approval.Requirement{Groups: [][]string{{"ops", "sre"}}, TTLSeconds: 600}
	caller = approval.Requirement{TTLSeconds: 600}
)

// TestLifecycle: a request is pending until decided; a grant is used once;
// the next identical call asks anew.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, created, err := st.Request(ctx, pending("id1", "b1", ops), t0, unlimited)
			if err != nil || !created || a.Status != approval.Pending {
				t.Fatalf("request: %+v %v %v", a, created, err)
			}
			again, created, err := st.Request(ctx, pending("id2", "b1", ops), t0.Add(time.Second), unlimited)
			if err != nil || created || again.ID != "id1" {
				t.Fatalf("a second request for the same call: %+v %v %v", again, created, err)
			}
			if got, ok, err := st.Consume(ctx, "b1", t0); err != nil || ok || got.Status != approval.Pending {
				t.Fatalf("consumed a pending approval: %+v %v %v", got, ok, err)
			}
			list, err := st.List(ctx, t0)
			if err != nil || len(list) != 1 || list[0].ID != "id1" {
				t.Fatalf("list: %+v %v", list, err)
			}
			dec, err := decide(st, "id1", approval.Decision{Approve: true, By: "bob", Groups: []string{"sre"}, Comment: "ok"}, t0.Add(time.Minute))
			if err != nil || dec.Status != approval.Approved || dec.DecidedBy != "bob" || !dec.Expires.Equal(t0.Add(11*time.Minute)) ||
				dec.Grant == nil || !strings.Contains(dec.Grant.Statement, `"comment":"ok"`) {
				t.Fatalf("approve: %+v %v", dec, err)
			}
			if _, err := decide(st, "id1", approval.Decision{Approve: false, By: "carol", Groups: []string{"ops"}}, t0.Add(time.Minute)); !errors.Is(err, approval.ErrDecided) {
				t.Fatalf("decided twice: %v", err)
			}
			if _, ok, err := st.Consume(ctx, "other", t0.Add(2*time.Minute)); err != nil || ok {
				t.Fatalf("consumed another call's grant: %v %v", ok, err)
			}
			used, ok, err := st.Consume(ctx, "b1", t0.Add(2*time.Minute))
			if err != nil || !ok || used.Status != approval.Used || used.DecidedBy != "bob" {
				t.Fatalf("consume: %+v %v %v", used, ok, err)
			}
			if _, ok, err := st.Consume(ctx, "b1", t0.Add(2*time.Minute)); err != nil || ok {
				t.Fatalf("consumed twice: %v %v", ok, err)
			}
			if got, err := st.Get(ctx, "id1"); err != nil || got.Status != approval.Used {
				t.Fatalf("get: %+v %v", got, err)
			}
			next, created, err := st.Request(ctx, pending("id3", "b1", ops), t0.Add(3*time.Minute), unlimited)
			if err != nil || !created || next.ID != "id3" {
				t.Fatalf("a request after the grant was used: %+v %v %v", next, created, err)
			}
			if _, err := st.Get(ctx, "nope"); !errors.Is(err, approval.ErrNotFound) {
				t.Fatalf("get unknown: %v", err)
			}
		})
	}
}

// TestDecideRefuses: every decision a rule forbids is refused with a
// message that says which rule, and changes nothing.
func TestDecideRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		req  approval.Requirement
		dec  approval.Decision
		at   time.Duration
		want error
		text string
	}{
		{"own request", ops, approval.Decision{Approve: true, By: "alice", Groups: []string{"ops"}}, 0, approval.ErrNotPermitted, "own call"},
		{"not in the group", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"dev"}}, 0, approval.ErrNotPermitted, "none of the groups"},
		{"reject needs the group too", ops, approval.Decision{By: "bob"}, 0, approval.ErrNotPermitted, "none of the groups"},
		{"no approver", ops, approval.Decision{Approve: true}, 0, approval.ErrNotPermitted, "unknown"},
		{"someone else's confirmation", caller, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, 0, approval.ErrNotPermitted, "only the caller"},
		{"expired", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, 11 * time.Minute, approval.ErrExpired, "expired"},
		{"a comment of 501 characters", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}, Comment: strings.Repeat("é", 501)}, 0, approval.ErrComment, "at most 500"},
		{"a decision too large to sign", ops, approval.Decision{Approve: true, By: "bob", Groups: append([]string{"ops"}, strings.Fields(strings.Repeat("group-of-the-approver ", 100))...),
			Comment: strings.Repeat("<", 500)}, 0, approval.ErrTooLarge, "at most 4096"},
		{"a comment not UTF-8", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}, Comment: "ok\xff"}, 0, approval.ErrComment, "UTF-8"},
		{"two group policies, one met", approval.Requirement{Groups: [][]string{{"ops"}, {"security"}}, TTLSeconds: 600},
			approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, 0, approval.ErrNotPermitted, "[security]"},
	}
	for name, st := range stores(t) {
		for i, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				id, b := "r"+string(rune('a'+i)), "rb"+string(rune('a'+i))
				if _, _, err := st.Request(ctx, pending(id, b, tt.req), t0, unlimited); err != nil {
					t.Fatal(err)
				}
				_, err := decide(st, id, tt.dec, t0.Add(tt.at))
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("error %v, want %v with %q", err, tt.want, tt.text)
				}
				if a, err := st.Get(ctx, id); err != nil || a.Status != approval.Pending {
					t.Fatalf("a refused decision changed the approval: %+v %v", a, err)
				}
			})
		}
	}
}

// TestConsumeExactlyOnce: 16 concurrent retries of an approved call; one
// gets the grant.
func TestConsumeExactlyOnce(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, _, err := st.Request(ctx, pending("c1", "cb", ops), t0, unlimited); err != nil {
				t.Fatal(err)
			}
			if _, err := decide(st, "c1", approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, t0); err != nil {
				t.Fatal(err)
			}
			var got atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					_, ok, err := st.Consume(ctx, "cb", t0.Add(time.Second))
					if err != nil {
						t.Error(err)
					}
					if ok {
						got.Add(1)
					}
				})
			}
			wg.Wait()
			if n := got.Load(); n != 1 {
				t.Errorf("%d retries consumed the grant, want exactly 1", n)
			}
		})
	}
}

// TestGrantExpires: a grant not used within its TTL is gone, and so is a
// pending request nobody decided.
func TestGrantExpires(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st.Request(ctx, pending("e1", "eb", ops), t0, unlimited)
			if _, err := decide(st, "e1", approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, t0); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := st.Consume(ctx, "eb", t0.Add(11*time.Minute)); err != nil || ok {
				t.Fatalf("consumed an expired grant: %v %v", ok, err)
			}
			if list, _ := st.List(ctx, t0.Add(11*time.Minute)); len(list) != 0 {
				t.Fatalf("expired approvals listed: %+v", list)
			}
		})
	}
}

func TestNonceOnce(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if err := st.UseNonce(context.Background(), "n1", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := st.UseNonce(context.Background(), "n1", t0.Add(time.Minute)); !errors.Is(err, approval.ErrReplayed) {
				t.Fatalf("second use: %v", err)
			}
		})
	}
}

// TestRequire: approvers of several policies combine; the shortest TTL wins.
func TestRequire(t *testing.T) {
	f := func(ttl int64, approvers ...string) policy.Finding {
		return policy.Finding{Mode: policy.ModeApproval, Message: "m" + strings.Join(approvers, ""), Approval: &policy.Approval{Approvers: approvers, TTLSeconds: ttl}}
	}
	r := approval.Require([]policy.Finding{f(900, "caller"), f(300, "ops", "sre"), f(600, "ops", "sre"), f(1200, "security")})
	if r.Caller() || len(r.Groups) != 2 || r.TTLSeconds != 300 || len(r.Reasons) != 3 {
		t.Fatalf("%+v", r)
	}
	if c := approval.Require([]policy.Finding{f(900, "caller")}); !c.Caller() || c.TTLSeconds != 900 {
		t.Fatalf("caller only: %+v", c)
	}
}

// TestBinding: a grant for one call binds no other.
func TestBinding(t *testing.T) {
	base := approval.Call{Principal: "alice", Actor: "agent", Tool: "t___x", Environment: "prod", Arguments: map[string]any{"n": 2.5, "s": "a"}}
	same := base
	same.Arguments = map[string]any{"s": "a", "n": 2.50}
	if base.Binding() != same.Binding() || base.Binding() == "" {
		t.Fatal("the same call binds differently")
	}
	for name, change := range map[string]func(*approval.Call){
		"principal":   func(c *approval.Call) { c.Principal = "bob" },
		"actor":       func(c *approval.Call) { c.Actor = "" },
		"tool":        func(c *approval.Call) { c.Tool = "t___y" },
		"environment": func(c *approval.Call) { c.Environment = "dev" },
		"arguments":   func(c *approval.Call) { c.Arguments = map[string]any{"n": 2.5, "s": "a", "force": true} },
		"separator":   func(c *approval.Call) { c.Principal, c.Actor = "alice\x00agent", "" },
		"params":      func(c *approval.Call) { c.Params = map[string]any{"inputResponses": map[string]any{"x": "y"}} },
	} {
		c := base
		change(&c)
		if c.Binding() == base.Binding() {
			t.Errorf("another %s binds the same", name)
		}
	}
}

// BenchmarkGrantCheck is what a retry's grant check costs in each store:
// the Consume of an approved grant (a consistent GetItem and a conditional
// UpdateItem in DynamoDB; here moto on loopback, so the SDK's work plus
// moto's, not DynamoDB's latency).
func BenchmarkGrantCheck(b *testing.B) {
	ctx := context.Background()
	for name, st := range stores(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				id, binding := fmt.Sprintf("g%d", i), fmt.Sprintf("gb%d", i)
				if _, _, err := st.Request(ctx, pending(id, binding, ops), t0, unlimited); err != nil {
					b.Fatal(err)
				}
				if _, err := decide(st, id, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, t0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, ok, err := st.Consume(ctx, binding, t0.Add(time.Second)); err != nil || !ok {
					b.Fatalf("consume: %v %v", ok, err)
				}
			}
		})
	}
}

// TestLimits: a requester has at most MaxPending approvals pending and
// makes at most MaxRequests new requests a window; asking again for a call
// that is pending is no new request; a decided or lapsed approval frees
// its place.
func TestLimits(t *testing.T) {
	ctx := context.Background()
	lim := approval.Limits{MaxPending: 2, MaxRequests: 3, Window: time.Hour}
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			req := func(id string, at time.Duration) error {
				_, _, err := st.Request(ctx, pending(id, "lb-"+id, ops), t0.Add(at), lim)
				return err
			}
			for _, id := range []string{"l1", "l2"} {
				if err := req(id, 0); err != nil {
					t.Fatal(err)
				}
			}
			// The same call again is the pending approval, not a new one.
			if a, created, err := st.Request(ctx, pending("l1-again", "lb-l1", ops), t0, lim); err != nil || created || a.ID != "l1" {
				t.Fatalf("asked again: %+v %v %v", a, created, err)
			}
			var le *approval.LimitError
			if err := req("l3", 0); !errors.As(err, &le) || !le.Pending || le.Max != 2 || le.RetryAfter != 10*time.Minute {
				t.Fatalf("third pending: %v (%+v), want the pending limit, retry in 10m", err, le)
			}
			if _, err := decide(st, "l1", approval.Decision{By: "bob", Groups: []string{"ops"}}, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := req("l3", time.Minute); err != nil {
				t.Fatalf("after a decision: %v", err)
			}
			// Three new requests in the window: the fourth waits for it.
			if err := req("l4", 11*time.Minute); !errors.As(err, &le) || le.Pending || le.Max != 3 || le.RetryAfter != 49*time.Minute {
				t.Fatalf("fourth in the window: %v (%+v), want the request limit, retry in 49m", err, le)
			}
			if err := req("l4", time.Hour+time.Second); err != nil {
				t.Fatalf("in the next window, with the others lapsed: %v", err)
			}
		})
	}
}

// TestForwarded: each forwarded grant lets one result through the
// RESPONSE point, within its expiry.
func TestForwarded(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if ok, err := st.TakeForwarded(ctx, "fb", t0); err != nil || ok {
				t.Fatalf("a mark nobody made: %v %v", ok, err)
			}
			for range 2 {
				if err := st.MarkForwarded(ctx, "fb", t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			for i, want := range []bool{true, true, false} {
				if ok, err := st.PeekForwarded(ctx, "fb", t0.Add(time.Minute)); err != nil || ok != want {
					t.Fatalf("peek %d: %v %v, want %v", i, ok, err, want)
				}
				if ok, err := st.TakeForwarded(ctx, "fb", t0.Add(time.Minute)); err != nil || ok != want {
					t.Fatalf("take %d: %v %v, want %v", i, ok, err, want)
				}
			}
			if err := st.MarkForwarded(ctx, "fb2", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.PeekForwarded(ctx, "fb2", t0.Add(time.Minute)); err != nil || ok {
				t.Fatalf("an expired mark, peeked: %v %v", ok, err)
			}
			if ok, err := st.TakeForwarded(ctx, "fb2", t0.Add(time.Minute)); err != nil || ok {
				t.Fatalf("an expired mark: %v %v", ok, err)
			}
		})
	}
}

// TestWaiter: the first task token stands.
func TestWaiter(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if tt, err := st.Waiter(ctx, "w1"); err != nil || tt != "" {
				t.Fatalf("no waiter: %q %v", tt, err)
			}
			if ok, err := st.SetWaiter(ctx, "w1", "token-1", t0.Add(time.Hour)); err != nil || !ok {
				t.Fatalf("set: %v %v", ok, err)
			}
			if ok, err := st.SetWaiter(ctx, "w1", "token-2", t0.Add(time.Hour)); err != nil || ok {
				t.Fatalf("set again: %v %v", ok, err)
			}
			if tt, err := st.Waiter(ctx, "w1"); err != nil || tt != "token-1" {
				t.Fatalf("waiter: %q %v", tt, err)
			}
		})
	}
}

// TestLimitsOrDefaults: a deployment that sets one limit keeps the
// defaults of the others; a zero one would refuse every request, or none.
func TestLimitsOrDefaults(t *testing.T) {
	d := approval.DefaultLimits()
	for _, tt := range []struct{ in, want approval.Limits }{
		{approval.Limits{}, d},
		{approval.Limits{MaxPending: 2}, approval.Limits{MaxPending: 2, MaxRequests: d.MaxRequests, Window: d.Window}},
		{approval.Limits{MaxRequests: 7, Window: time.Minute}, approval.Limits{MaxPending: d.MaxPending, MaxRequests: 7, Window: time.Minute}},
	} {
		if got := tt.in.OrDefaults(); got != tt.want {
			t.Errorf("%+v.OrDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
