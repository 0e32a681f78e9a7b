package ratelimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/state"
)

func caller(id, actor string) map[string]any {
	return map[string]any{"action": "call", "principal": map[string]any{"id": id, "actor": actor},
		"tool": map[string]any{"operation": "read", "qualifiedName": "k8s___x"}}
}

func everyKey([]string) bool { return true }

func containments(t *testing.T, specs map[string]ratelimit.ContainmentSpec) *ratelimit.Containments {
	t.Helper()
	var list []*ratelimit.Containment
	for name, spec := range specs {
		c, err := ratelimit.CompileContainment(name, spec)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, c)
	}
	s, err := ratelimit.NewContainments(list, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestContainment: denials are counted per caller; the one that reaches
// the threshold begins the quarantine, whose read holds every later
// message of that caller, and of no other, until it ends.
func TestContainment(t *testing.T) {
	s := containments(t, map[string]ratelimit.ContainmentSpec{"c": {Key: []string{"principal.id", "principal.actor"},
		Exclude: match(t, `{any: [{principal: {id: robot}}]}`), Threshold: 3, Window: "10m", Quarantine: "1h"}})
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &state.Memory{Now: func() time.Time { return at }}
	ctx := context.Background()
	ann := s.Watch(caller("ann", "bot"))
	for i, want := range []string{ratelimit.Counted, ratelimit.Counted, ratelimit.Began, ratelimit.Quarantined} {
		if o := ann.Held(ctx, store, at); len(o) != 0 && i < 3 {
			t.Fatalf("denial %d: held before the threshold: %+v", i+1, o)
		}
		o := ann.Count(ctx, store, at, everyKey)
		if len(o) != 1 || o[0].Result != want {
			t.Fatalf("denial %d: %+v, want %s", i+1, o, want)
		}
		if want == ratelimit.Began && (o[0].Count != 3 || !o[0].Until.Equal(at.Add(time.Hour)) || o[0].RetryAfter != 3600) {
			t.Fatalf("began: %+v", o[0])
		}
	}
	o := ann.Held(ctx, store, at.Add(59*time.Minute))
	if len(o) != 1 || o[0].Result != ratelimit.Quarantined || o[0].RetryAfter != 60 {
		t.Fatalf("held: %+v", o)
	}
	v := ratelimit.HeldVerdict(o)
	if !strings.Contains(v.Reason, "quarantined by containment c until 2026-01-01T13:00:00Z after 3 denials in 10m; retry after 60 s") ||
		v.RetryAfter != 60 || len(v.Findings) != 1 || v.Findings[0].Policy != "c" {
		t.Fatalf("verdict: %+v", v)
	}
	// Another actor of the same principal is another caller.
	if o := s.Watch(caller("ann", "other")).Held(ctx, store, at); len(o) != 0 {
		t.Fatalf("another actor held: %+v", o)
	}
	if o := ann.Held(ctx, store, at.Add(time.Hour)); len(o) != 0 {
		t.Fatalf("held after the end: %+v", o)
	}
	// An excluded caller's denials do not count; a caller without a
	// principal id (an anonymous one) is not watched.
	if w := s.Watch(caller("robot", "bot")); w.Len() != 1 || w.Counts() {
		t.Fatal("an excluded caller's denial counts")
	}
	if w := s.Watch(caller("", "bot")); w.Len() != 0 {
		t.Fatal("a caller without a principal id is watched")
	}
	if w := s.Watch(map[string]any{"action": "call"}); w.Len() != 0 {
		t.Fatal("a document without a principal is watched")
	}
}

// TestContainmentModes: an audit-only containment reads nothing (a
// message costs it no request) and reports what began in audit mode; an
// enforcing one that cannot read the quarantine denies, unless it fails
// open.
func TestContainmentModes(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	audit := containments(t, map[string]ratelimit.ContainmentSpec{"a": {Key: []string{"principal.id"}, Threshold: 1, Window: "1m", Quarantine: "1m", Mode: "audit"}})
	w := audit.Watch(caller("ann", ""))
	if w.Enforcing() || !audit.Audit() {
		t.Fatal("audit-only reads as enforcing")
	}
	if o := w.Held(context.Background(), nil, at); len(o) != 0 {
		t.Fatalf("audit-only read: %+v", o)
	}
	o := w.Count(context.Background(), &state.Memory{}, at, everyKey)
	f := ratelimit.CountFindings(o)
	if len(o) != 1 || o[0].Result != ratelimit.Began || len(f) != 1 || f[0].Mode != "audit" || f[0].Policy != "a" {
		t.Fatalf("audit began: %+v %+v", o, f)
	}
	for _, failOpen := range []bool{false, true} {
		s := containments(t, map[string]ratelimit.ContainmentSpec{"e": {Key: []string{"principal.id"}, Threshold: 1, Window: "1m", Quarantine: "1m", FailOpen: failOpen}})
		o := s.Watch(caller("ann", "")).Held(context.Background(), nil, at)
		v := ratelimit.HeldVerdict(o)
		if failOpen && (len(o) != 1 || o[0].Result != ratelimit.FailOpen || v.Reason != "") ||
			!failOpen && (len(o) != 1 || o[0].Result != ratelimit.Error || !v.Undecidable || v.Reason != "containment e could not be checked") {
			t.Errorf("failOpen %v: %+v %+v", failOpen, o, v)
		}
	}
}

func TestCompileContainmentRejects(t *testing.T) {
	ok := ratelimit.ContainmentSpec{Key: []string{"principal.id"}, Threshold: 1, Window: "1m", Quarantine: "1h"}
	for _, tt := range []struct {
		name string
		edit func(*ratelimit.ContainmentSpec)
		want string
	}{
		{"threshold", func(s *ratelimit.ContainmentSpec) { s.Threshold = 0 }, "spec.threshold 0"},
		{"no key", func(s *ratelimit.ContainmentSpec) { s.Key = nil }, "spec.key: name principal.id"},
		{"no principal id", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.actor"} }, "spec.key: name principal.id"},
		{"key of the tool", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"tool.name"} }, `spec.key[0] "tool.name": want principal.id, principal.actor`},
		{"a claim", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.id", "principal.claims.org"} }, `spec.key[1] "principal.claims.org"`},
		{"a user name a token may lack", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.id", "principal.username"} }, `spec.key[1] "principal.username"`},
		{"a client id any public client has", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.id", "principal.clientId"} }, `spec.key[1] "principal.clientId"`},
		{"shared by many", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.id", "principal.type"} }, `spec.key[1] "principal.type"`},
		{"the whole principal", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal"} }, `spec.key[0] "principal"`},
		{"twice", func(s *ratelimit.ContainmentSpec) { s.Key = []string{"principal.id", "principal.id"} }, `spec.key[1] "principal.id": named twice`},
		{"audit failing open", func(s *ratelimit.ContainmentSpec) { s.Mode, s.FailOpen = "audit", true }, "spec.failOpen"},
		{"window", func(s *ratelimit.ContainmentSpec) { s.Window = "2d" }, `spec.window: "2d"`},
		{"quarantine too short", func(s *ratelimit.ContainmentSpec) { s.Quarantine = "30s" }, `spec.quarantine: "30s": want whole seconds from 1m to 168h, or 1d to 7d`},
		{"quarantine in days", func(s *ratelimit.ContainmentSpec) { s.Quarantine = "0d" }, `spec.quarantine: "0d"`},
		{"quarantine in parts of days", func(s *ratelimit.ContainmentSpec) { s.Quarantine = "1.5d" }, `spec.quarantine: "1.5d"`},
		{"mode", func(s *ratelimit.ContainmentSpec) { s.Mode = "warn" }, `spec.mode "warn"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := ok
			tt.edit(&spec)
			if _, err := ratelimit.CompileContainment("c", spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	spec := ok
	spec.Quarantine = "7d"
	if _, err := ratelimit.CompileContainment("c", spec); err != nil {
		t.Fatalf("7d: %v", err)
	}
}

// TestContainmentKeys: each key's values are kept apart (no two callers'
// values run together into one key), and what a quarantine keeps of
// whom it holds is bounded.
func TestContainmentKeys(t *testing.T) {
	s := containments(t, map[string]ratelimit.ContainmentSpec{"c": {Key: []string{"principal.id", "principal.actor"}, Threshold: 1, Window: "1m", Quarantine: "1h"}})
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &state.Memory{}
	ctx := context.Background()
	if o := s.Watch(caller("alice\x00", "bot")).Count(ctx, store, at, everyKey); len(o) != 1 || o[0].Result != ratelimit.Began {
		t.Fatalf("attacker: %+v", o)
	}
	if o := s.Watch(caller("alice", "\x00bot")).Held(ctx, store, at); len(o) != 0 {
		t.Fatalf("another caller is held for the attacker's denials: %+v", o)
	}
	long := strings.Repeat("é", 1000)
	s.Watch(caller(long, "")).Count(ctx, store, at, everyKey)
	list, _ := store.Quarantines(ctx, at)
	for _, q := range list {
		if v := q.Subject["principal.id"]; strings.HasPrefix(v, "é") && (len(v) > 256+len("…") || !strings.HasSuffix(v, "…")) {
			t.Fatalf("subject of %d bytes kept", len(v))
		}
	}
}
