package ratelimit_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/state"
)

func match(t *testing.T, y string) *v1alpha1.Match {
	t.Helper()
	var m v1alpha1.Match
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func doc(principal, op string) map[string]any {
	return map[string]any{"action": "call", "principal": map[string]any{"id": principal, "actor": ""},
		"tool": map[string]any{"operation": op, "qualifiedName": "k8s___x"}}
}

// failing is a store that cannot be reached.
type failing struct{}

func (failing) Hit(context.Context, string, int64, time.Time) (int64, bool, error) {
	return 0, false, errors.New("unreachable")
}

func TestCheck(t *testing.T) {
	l, err := ratelimit.Compile("deletes", ratelimit.Spec{Match: match(t, `{any: [{tool: {operation: delete}}]}`),
		Exclude: match(t, `{any: [{principal: {id: robot}}]}`), Key: []string{"principal.id"}, Limit: 2, Window: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := ratelimit.NewSet([]*ratelimit.Limit{l})
	at := time.Date(2026, 1, 1, 12, 0, 15, 0, time.UTC) // 45 s before the window ends
	clock := at
	store := &state.Memory{Now: func() time.Time { return clock }}
	check := func(d map[string]any, at time.Time) []ratelimit.Outcome {
		clock = at
		return set.Check(context.Background(), store, d, at)
	}
	for i := range 2 {
		if o := check(doc("ann", "delete"), at); len(o) != 1 || o[0].Result != ratelimit.OK || o[0].Count != int64(i+1) {
			t.Fatalf("call %d: %+v", i+1, o)
		}
	}
	o := check(doc("ann", "delete"), at)
	if len(o) != 1 || o[0].Result != ratelimit.Exceeded || o[0].RetryAfter != 45 || !slices.Equal(o[0].Key, []string{"principal.id"}) {
		t.Fatalf("third call: %+v", o)
	}
	if v := ratelimit.Denial(o); v.Reason != "rate limit deletes exceeded (2 calls per 1m); retry after 45 s" || v.RetryAfter != 45 || v.Undecidable {
		t.Errorf("denial %q %d %v", v.Reason, v.RetryAfter, v.Undecidable)
	}
	if o := check(doc("bob", "delete"), at); o[0].Result != ratelimit.OK {
		t.Errorf("another key: %+v", o)
	}
	if o := check(doc("ann", "read"), at); len(o) != 0 {
		t.Errorf("a call the limit does not match: %+v", o)
	}
	if o := check(doc("robot", "delete"), at); len(o) != 0 {
		t.Errorf("an excluded caller: %+v", o)
	}
	if o := check(doc("ann", "delete"), at.Add(45*time.Second)); o[0].Result != ratelimit.OK || o[0].Count != 1 {
		t.Errorf("the next window: %+v", o)
	}
	if o := set.Check(context.Background(), failing{}, doc("ann", "delete"), at); o[0].Result != ratelimit.Error || o[0].Err == nil {
		t.Errorf("unreachable store: %+v", o)
	}
	if o := set.Check(context.Background(), nil, doc("ann", "delete"), at); o[0].Result != ratelimit.Error || !errors.Is(o[0].Err, state.ErrNoStore) {
		t.Errorf("no store: %+v", o)
	}
	var none *ratelimit.Set
	if none.Len() != 0 || none.Check(context.Background(), store, doc("ann", "delete"), at) != nil {
		t.Error("a nil set limits")
	}
}

func TestFailOpenAndDayWindows(t *testing.T) {
	l, err := ratelimit.Compile("daily", ratelimit.Spec{Limit: 1, Window: "1d", FailOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := ratelimit.NewSet([]*ratelimit.Limit{l})
	at := time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC)
	if o := set.Check(context.Background(), failing{}, doc("ann", "read"), at); o[0].Result != ratelimit.FailOpen {
		t.Errorf("fail open: %+v", o)
	}
	if v := ratelimit.Denial(set.Check(context.Background(), failing{}, doc("ann", "read"), at)); v.Reason != "" {
		t.Errorf("a fail-open limit denied: %q", v.Reason)
	}
	store := &state.Memory{Now: func() time.Time { return at }}
	set.Check(context.Background(), store, doc("ann", "read"), at)
	if o := set.Check(context.Background(), store, doc("ann", "read"), at); o[0].Result != ratelimit.Exceeded || o[0].RetryAfter != 3600 {
		t.Errorf("a day's window ends at UTC midnight: %+v", o)
	}
}

// TestSeveralLimits: every limit that matches counts the call, each in its
// own window, and any one exceeded denies.
// TestCovers: a limit's refusal is one caller's only when the limit
// counts that caller's calls alone, as the containment tells callers
// apart.
func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		key, caller []string
		want        bool
	}{
		{[]string{"principal.id"}, []string{"principal.id"}, true},
		{[]string{"principal.id", "tool.name"}, []string{"principal.id"}, true},
		{[]string{"principal"}, []string{"principal.id", "principal.actor"}, true},
		{[]string{"principal.id"}, []string{"principal.id", "principal.actor"}, false}, // every agent of the user spends it
		{[]string{"tool.qualifiedName"}, []string{"principal.id"}, false},
		{nil, []string{"principal.id"}, false},
		{[]string{"principal.claims.sub"}, []string{"principal.id"}, false},
		{[]string{"principal.i"}, []string{"principal.id"}, false},
	} {
		if got := ratelimit.Covers(tt.key, tt.caller); got != tt.want {
			t.Errorf("Covers(%v, %v) = %v, want %v", tt.key, tt.caller, got, tt.want)
		}
	}
}

func TestSeveralLimits(t *testing.T) {
	perMinute, _ := ratelimit.Compile("per-minute", ratelimit.Spec{Limit: 2, Window: "1m"})
	perDay, _ := ratelimit.Compile("per-day", ratelimit.Spec{Limit: 3, Window: "1d"})
	set, err := ratelimit.NewSet([]*ratelimit.Limit{perMinute, perDay})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &state.Memory{Now: func() time.Time { return at }}
	results := func() string {
		o := set.Check(context.Background(), store, doc("ann", "read"), at)
		return o[0].Result + "," + o[1].Result
	}
	for i, want := range []string{"ok,ok", "ok,ok", "exceeded,ok"} {
		if got := results(); got != want {
			t.Fatalf("call %d: %s, want %s", i+1, got, want)
		}
	}
	at = at.Add(time.Minute)
	if got := results(); got != "ok,exceeded" {
		t.Errorf("next minute: %s, want the day's limit exceeded", got)
	}
}
