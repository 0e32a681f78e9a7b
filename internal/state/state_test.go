package state_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/state"
)

// stores returns the two stores under one contract: in process, and in a
// table of moto's DynamoDB on loopback.
func stores(t *testing.T) map[string]state.Store {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-state")
	ddb, err := state.FromEnv(srv.Env(nil), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]state.Store{"memory": &state.Memory{}, "dynamodb": ddb}
}

// TestCounterContract: both stores count to the limit and no further, keep
// keys apart, and refuse without counting.
func TestCounterContract(t *testing.T) {
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	for name, c := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for i := int64(1); i <= 3; i++ {
				if n, ok, err := c.Hit(ctx, "k1", 3, exp); err != nil || !ok || n != i {
					t.Fatalf("hit %d: %d %v %v", i, n, ok, err)
				}
			}
			for range 2 {
				if n, ok, err := c.Hit(ctx, "k1", 3, exp); err != nil || ok || n != 3 {
					t.Fatalf("past the limit: %d %v %v", n, ok, err)
				}
			}
			if n, ok, err := c.Hit(ctx, "k2", 3, exp); err != nil || !ok || n != 1 {
				t.Fatalf("another key: %d %v %v", n, ok, err)
			}
			// A higher limit for the same key (a bundle that raised it)
			// counts on from where the count is.
			if n, ok, err := c.Hit(ctx, "k1", 5, exp); err != nil || !ok || n != 4 {
				t.Fatalf("raised limit: %d %v %v", n, ok, err)
			}
		})
	}
}

// TestCounterUnderContention: 32 goroutines hammer one key; exactly limit
// calls are counted.
func TestCounterUnderContention(t *testing.T) {
	const limit, callers, each = 25, 32, 4
	for name, c := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var passed atomic.Int64
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for range each {
						_, ok, err := c.Hit(context.Background(), "hot", limit, time.Now().Add(time.Minute))
						if err != nil {
							t.Error(err)
						}
						if ok {
							passed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := passed.Load(); got != limit {
				t.Errorf("%d calls passed, want exactly %d", got, limit)
			}
		})
	}
}

// TestMemoryExpiry: the in-process store forgets a count after its expiry,
// as the table's time-to-live does.
func TestMemoryExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &state.Memory{Now: func() time.Time { return now }}
	m.Hit(context.Background(), "k", 1, now.Add(time.Second))
	if _, ok, _ := m.Hit(context.Background(), "k", 1, now.Add(time.Second)); ok {
		t.Fatal("counted past the limit")
	}
	now = now.Add(2 * time.Second)
	if _, ok, _ := m.Hit(context.Background(), "k", 1, now.Add(time.Second)); !ok {
		t.Fatal("an expired count was kept")
	}
}

// TestUnreachable: a store that cannot be reached is an error, never a
// count.
func TestUnreachable(t *testing.T) {
	env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"}
	c, err := state.FromEnv(func(k string) string { return env[k] }, "t", http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, ok, err := c.Hit(ctx, "k", 5, time.Now()); err == nil || ok {
		t.Fatalf("unreachable: ok %v err %v", ok, err)
	}
}

// TestSessionContract: both stores keep a session's calls, labels, counts
// per label, first and last time and last tools, per key.
func TestSessionContract(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	exp := time.Now().Add(time.Hour)
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h, err := s.History(ctx, "s1")
			if err != nil || h.Calls != 0 || len(h.Labels) != 0 || len(h.Tools) != 0 || !h.First.IsZero() {
				t.Fatalf("new session: %+v %v", h, err)
			}
			calls := []struct {
				tool   string
				labels []string
			}{{"billing___get_invoice", []string{"private-data"}}, {"web___fetch", []string{"untrusted-content", "external-communication"}},
				{"k8s___delete-pod", []string{"destructive"}}, {"k8s___delete-pod", []string{"destructive"}}}
			for i, c := range calls {
				prev, err := s.History(ctx, "s1")
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Record(ctx, []state.Entry{{Key: "s1", Read: prev, Expires: exp}}, c.tool, c.labels, t0.Add(time.Duration(i)*time.Minute), 3); err != nil {
					t.Fatal(err)
				}
			}
			h, err = s.History(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			want := state.History{Calls: 4, Labels: []string{"destructive", "external-communication", "private-data", "untrusted-content"},
				LabelCalls: map[string]int64{"destructive": 2, "external-communication": 1, "private-data": 1, "untrusted-content": 1},
				First:      t0, Last: t0.Add(3 * time.Minute), Tools: []string{"web___fetch", "k8s___delete-pod", "k8s___delete-pod"}}
			if !reflect.DeepEqual(h, want) {
				t.Errorf("history\n got %+v\nwant %+v", h, want)
			}
			if other, _ := s.History(ctx, "s2"); other.Calls != 0 {
				t.Errorf("another key: %+v", other)
			}
		})
	}
}

// TestSessionUnderContention: concurrent calls of one principal, each
// reading its histories and recording against what it read, are recorded
// one after another: none is lost, and each recorded call had read every
// call recorded before it (R9: a burst judged without each other).
func TestSessionUnderContention(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			var mu sync.Mutex
			seen := map[int64]bool{} // the calls each recorded call had read
			for i := range 12 {
				wg.Go(func() {
					label := fmt.Sprintf("l%d", i%4)
					for {
						cur, err1 := s.History(ctx, "busy")
						prev, err2 := s.History(ctx, "busy-before")
						if err := errors.Join(err1, err2); err != nil {
							t.Error(err)
							return
						}
						entries := []state.Entry{{Key: "busy", Read: cur, Expires: time.Now().Add(time.Hour)}, {Key: "busy-before", Read: prev}}
						err := s.Record(ctx, entries, fmt.Sprintf("t%d", i), []string{label, "all"}, time.Now(), 20)
						if errors.Is(err, state.ErrChanged) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if seen[cur.Calls] {
							t.Errorf("two calls were decided on the same %d earlier calls", cur.Calls)
						}
						seen[cur.Calls] = true
						mu.Unlock()
						return
					}
				})
			}
			wg.Wait()
			h, err := s.History(ctx, "busy")
			if err != nil {
				t.Fatal(err)
			}
			if h.Calls != 12 || h.LabelCalls["all"] != 12 || h.LabelCalls["l0"] != 3 || len(h.Labels) != 5 || len(h.Tools) != 12 {
				t.Errorf("%+v", h)
			}
			if before, _ := s.History(ctx, "busy-before"); before.Calls != 0 {
				t.Errorf("a history only checked was written: %+v", before)
			}
		})
	}
}

// TestSessionRecordChanged: a record against a history that changed
// after it was read, recorded to or only checked, writes nothing to any
// of its histories and says so.
func TestSessionRecordChanged(t *testing.T) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			record := func(entries ...state.Entry) error {
				return s.Record(ctx, entries, "k8s___delete-pod", []string{"destructive"}, time.Now(), 10)
			}
			if err := record(state.Entry{Key: "a", Expires: exp}, state.Entry{Key: "b", Expires: exp}); err != nil {
				t.Fatal(err)
			}
			a, _ := s.History(ctx, "a")
			b, _ := s.History(ctx, "b")
			for _, c := range []struct {
				name    string
				entries []state.Entry
			}{
				{"stale second", []state.Entry{{Key: "a", Read: a, Expires: exp}, {Key: "b", Expires: exp}}},
				{"stale first", []state.Entry{{Key: "a", Expires: exp}, {Key: "b", Read: b, Expires: exp}}},
				{"stale check", []state.Entry{{Key: "c", Expires: exp}, {Key: "a"}}},
				{"read ahead", []state.Entry{{Key: "a", Read: state.History{Calls: 2}, Expires: exp}}},
			} {
				if err := record(c.entries...); !errors.Is(err, state.ErrChanged) {
					t.Errorf("%s: %v, want ErrChanged", c.name, err)
				}
			}
			for _, k := range []string{"a", "b", "c"} {
				if h, _ := s.History(ctx, k); h.Calls != map[string]int64{"a": 1, "b": 1, "c": 0}[k] {
					t.Errorf("%s: %d calls after refused records", k, h.Calls)
				}
			}
			if err := record(state.Entry{Key: "a", Read: a, Expires: exp}, state.Entry{Key: "b", Read: b}); err != nil {
				t.Errorf("fresh: %v", err)
			}
			if h, _ := s.History(ctx, "b"); h.Calls != 1 {
				t.Errorf("checked history written: %+v", h)
			}
		})
	}
}

// TestTaskContract: both stores bind a task id, per caller, to the call
// that created it, again to the same call, never to another of the same
// caller; another caller's id is another binding; a binding is forgotten
// at expiry.
func TestTaskContract(t *testing.T) {
	ctx := context.Background()
	call := state.Task{Principal: "u-1", Actor: "agent-7", Tool: "docs___export", Arguments: map[string]any{"q": "x", "n": 2.0}, Approved: true}
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := s.Task(ctx, "u-1", "agent-7", "t-1"); ok || err != nil {
				t.Fatalf("unbound: %v %v", ok, err)
			}
			if err := s.BindTask(ctx, "t-1", call, time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.BindTask(ctx, "t-1", call, time.Now().Add(time.Minute)); err != nil {
				t.Fatalf("the same call again: %v", err)
			}
			got, ok, err := s.Task(ctx, "u-1", "agent-7", "t-1")
			gotArgs, _ := codec.Canonical(got.Arguments)
			got.Arguments = call.Arguments
			if err != nil || !ok || !reflect.DeepEqual(got, call) || string(gotArgs) != `{"n":2,"q":"x"}` {
				t.Fatalf("bound: %+v %v %v", got, ok, err)
			}
			for what, other := range map[string]state.Task{
				"another tool":      {Principal: call.Principal, Actor: call.Actor, Tool: "docs___delete", Arguments: call.Arguments},
				"another arguments": {Principal: call.Principal, Actor: call.Actor, Tool: call.Tool, Arguments: map[string]any{"q": "y"}},
			} {
				if err := s.BindTask(ctx, "t-1", other, time.Now().Add(time.Minute)); !errors.Is(err, state.ErrTaskTaken) {
					t.Errorf("%s: %v, want ErrTaskTaken", what, err)
				}
			}
			// Another caller's t-1 is theirs: it neither takes nor sees
			// this one.
			eve := state.Task{Principal: "u-2", Actor: call.Actor, Tool: call.Tool, Arguments: call.Arguments}
			if err := s.BindTask(ctx, "t-1", eve, time.Now().Add(time.Minute)); err != nil {
				t.Fatalf("another caller's id: %v", err)
			}
			for _, who := range [][2]string{{"u-2", "agent-7"}, {"u-1", ""}} {
				if got, ok, err := s.Task(ctx, who[0], who[1], "t-1"); err != nil || ok && got.Principal == "u-1" && who[0] != "u-1" || who[0] == "u-1" && ok {
					t.Errorf("%v reads %+v %v %v", who, got, ok, err)
				}
			}
			if err := s.BindTask(ctx, "t-2", call, time.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.Task(ctx, "u-1", "agent-7", "t-2"); ok || err != nil {
				t.Fatalf("expired: %v %v", ok, err)
			}
			other := call
			other.Tool = "x___y"
			if err := s.BindTask(ctx, "t-2", other, time.Now().Add(time.Minute)); err != nil {
				t.Fatalf("an expired binding is free: %v", err)
			}
		})
	}
}

// TestQuarantineContract: both stores begin a quarantine once while it is
// in force, again once it has ended, list those in force, and lift one
// with the count of denials that began it.
func TestQuarantineContract(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond).UTC()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := s.Hit(ctx, "ct#c#d#1", 2, now.Add(time.Hour)); err != nil || !ok {
				t.Fatal(ok, err)
			}
			q := state.Quarantine{Key: "q#c#d", Containment: "c", Subject: map[string]string{"principal.id": "u-1"},
				Began: now, Until: now.Add(time.Hour), Denials: 2, Counter: "ct#c#d#1"}
			if _, ok, err := s.Quarantine(ctx, q.Key, now); err != nil || ok {
				t.Fatalf("before: %v %v", ok, err)
			}
			// Of 8 instances beginning it at once, one does.
			var began atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					ok, err := s.BeginQuarantine(ctx, q, now)
					if err != nil {
						t.Error(err)
					}
					if ok {
						began.Add(1)
					}
				})
			}
			wg.Wait()
			if began.Load() != 1 {
				t.Fatalf("%d began it, want 1", began.Load())
			}
			got, ok, err := s.Quarantine(ctx, q.Key, now.Add(time.Minute))
			if err != nil || !ok || !reflect.DeepEqual(got, q) {
				t.Fatalf("read: %+v %v %v, want %+v", got, ok, err, q)
			}
			if list, err := s.Quarantines(ctx, now); err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], q) {
				t.Fatalf("list: %+v %v", list, err)
			}
			// Ended: no longer in force, listed, or in the way of another.
			later := now.Add(time.Hour)
			if _, ok, err := s.Quarantine(ctx, q.Key, later); err != nil || ok {
				t.Fatalf("ended: %v %v", ok, err)
			}
			if list, err := s.Quarantines(ctx, later); err != nil || len(list) != 0 {
				t.Fatalf("list after the end: %+v %v", list, err)
			}
			q2 := q
			q2.Began, q2.Until = later, later.Add(time.Hour)
			if ok, err := s.BeginQuarantine(ctx, q2, later); err != nil || !ok {
				t.Fatalf("again after the end: %v %v", ok, err)
			}
			if ok, err := s.LiftQuarantine(ctx, q.Key); err != nil || !ok {
				t.Fatalf("lift: %v %v", ok, err)
			}
			if _, ok, err := s.Quarantine(ctx, q.Key, later); err != nil || ok {
				t.Fatalf("lifted: %v %v", ok, err)
			}
			if n, ok, err := s.Hit(ctx, "ct#c#d#1", 2, now.Add(time.Hour)); err != nil || !ok || n != 1 {
				t.Fatalf("the count that began it after the lift: %d %v %v, want a new count", n, ok, err)
			}
			if ok, err := s.LiftQuarantine(ctx, q.Key); err != nil || ok {
				t.Fatalf("lift of none: %v %v", ok, err)
			}
		})
	}
}

// TestPinContract: both stores keep the first definition seen of a tool
// as its pin, whoever races to record it; record a change once per new
// digest, and clear it when the pin is seen again; and read any number of
// tools at once (past one BatchGetItem's 100 keys).
func TestPinContract(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			pins := make([]string, 8)
			var wg sync.WaitGroup
			for i := range pins {
				wg.Go(func() {
					p, err := s.PinFirst(ctx, "k8s___get-pod", fmt.Sprintf("sha256:%d", i), now)
					if err != nil {
						t.Error(err)
					}
					pins[i] = p
				})
			}
			wg.Wait()
			for _, p := range pins {
				if p != pins[0] || p == "" {
					t.Fatalf("instances saw pins %v, want one", pins)
				}
			}
			pin := pins[0]
			for i, step := range []struct {
				digest string
				first  bool
				want   string
			}{{"sha256:new", true, "sha256:new"}, {"sha256:new", false, "sha256:new"}, {"sha256:newer", true, "sha256:newer"}, {pin, false, ""}, {pin, false, ""}} {
				first, err := s.SeeDefinition(ctx, "k8s___get-pod", pin, step.digest, now)
				if err != nil || first != step.first {
					t.Fatalf("step %d: first %v %v, want %v", i, first, err, step.first)
				}
				got, err := s.PinStates(ctx, []string{"k8s___get-pod"})
				if st := got["k8s___get-pod"]; err != nil || st.Pin != pin || st.Changed != step.want || (step.want != "") != st.ChangedAt.Equal(now) {
					t.Fatalf("step %d: %+v %v", i, st, err)
				}
			}
			// A tool pinned by a bundle has no pin here, only its changes.
			if first, err := s.SeeDefinition(ctx, "github___x", "sha256:bundle", "sha256:other", now); !first || err != nil {
				t.Fatal(first, err)
			}
			var names []string
			for i := range 230 {
				names = append(names, fmt.Sprintf("t___%d", i))
				if i%7 == 0 {
					if _, err := s.PinFirst(ctx, names[i], "sha256:x", now); err != nil {
						t.Fatal(err)
					}
				}
			}
			names = append(names, "github___x", "t___0")
			got, err := s.PinStates(ctx, names)
			if err != nil || len(got) != 33+1 || got["t___7"].Pin != "sha256:x" || got["github___x"] != (state.PinState{Changed: "sha256:other", ChangedAt: now}) {
				t.Fatalf("%d states %v: %+v", len(got), err, got["github___x"])
			}
		})
	}
}
