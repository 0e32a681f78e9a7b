package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/policies"
)

// token is a developer's token (the gateway verified it; see TestJWKS for
// verification by the interceptor).
const token = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3Qta2V5IiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1LWJvYiIsInVzZXJuYW1lIjoiYm9iIiwiY29nbml0bzpncm91cHMiOlsiZGV2ZWxvcGVycyJdLCJjbGllbnRfaWQiOiJhZ2VudC1hcHAiLCJ0b2tlbl91c2UiOiJhY2Nlc3MiLCJzY29wZSI6Im9wZW5pZCIsImlzcyI6Imh0dHBzOi8vY29nbml0by1pZHAudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vdXMtZWFzdC0xX0VYQU1QTEUiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NzIyNTYwMH0.c2lnbmF0dXJlLW5vdC1jaGVja2VkLWhlcmU"

// callEvent is a REQUEST event of a docs search with arguments args (JSON).
func callEvent(args string, headers map[string]string) []byte {
	if headers == nil {
		headers = map[string]string{"Authorization": token}
	}
	h, _ := json.Marshal(headers)
	return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":` + string(h) +
		`,"body":{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"docs___search_docs","arguments":` + args + `}}}}}`)
}

func nested(depth int) string {
	return `{"query":"q","deep":` + strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth) + `}`
}

// handlerWith returns a handler of the default bundle in production, with
// edit applied to its configuration.
func handlerWith(t testing.TB, edit func(*interceptor.Config)) *interceptor.Handler {
	t.Helper()
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	cfg := interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, Redactor: b.Redactor}, Bundle: decisionlog.Bundle{Source: b.Source, Digest: b.Digest}}
	edit(&cfg)
	return interceptor.New(cfg)
}

// TestLimits: input beyond a limit is denied, with a reason naming the
// limit, before any policy runs; input at the limit is judged.
func TestLimits(t *testing.T) {
	h := handlerWith(t, func(c *interceptor.Config) {
		c.Limits = call.Limits{MaxEventBytes: 2000, MaxDepth: 8, MaxArgumentBytes: 100}
	})
	pad := func(n int) string { return `{"query":"` + strings.Repeat("x", n) + `"}` }
	// The params are {"name":"docs___search_docs","arguments":<args>}.
	params := len(`{"name":"docs___search_docs","arguments":{"query":""}}`)
	tests := []struct {
		name    string
		payload []byte
		effect  decision.Effect
		reason  string
	}{
		{"arguments at the limit", callEvent(pad(100-params), nil), decision.Allow, ""},
		{"arguments over the limit", callEvent(pad(101-params), nil), decision.Deny, "arguments too large: params of 101 bytes, limit 100"},
		// The message is depth 1, params 2, arguments 3, so "deep" nests 8-4.
		{"depth at the limit", callEvent(nested(5), nil), decision.Allow, ""},
		{"depth over the limit", callEvent(nested(6), nil), decision.Deny, "nested too deep"},
		{"event over the limit", callEvent(`{"query":"q"}`, map[string]string{"Authorization": token, "X-Pad": strings.Repeat("p", 2000)}), decision.Deny, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Handle(context.Background(), tt.payload)
			if r.Decision.Effect != tt.effect || !strings.Contains(r.Decision.Reason, tt.reason) {
				t.Fatalf("%s %q, want %s %q", r.Decision.Effect, r.Decision.Reason, tt.effect, tt.reason)
			}
			if tt.effect == decision.Deny && r.Document != nil {
				t.Error("a policy saw input beyond a limit")
			}
			if err := r.Output.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// worstCases are the largest events a gateway can send (6 MB), at and
// beyond the default limits, and whether each is allowed.
func worstCases() map[string]struct {
	payload []byte
	allow   bool
} {
	const size = 6<<20 - 4096 // the envelope and token take the rest
	long := strings.Repeat("v", 170)
	wide := `{"query":"q","items":[` + strings.Repeat(`{"k":"`+long+`","n":1},`, 33_000) + `{}]}` // 99,004 values
	keys := new(strings.Builder)
	keys.WriteString(`{"query":"q"`)
	for i := 0; keys.Len() < size-100; i++ {
		fmt.Fprintf(keys, `,"k%d":%d`, i, i)
	}
	keys.WriteString(`}`)
	raw := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"docs___search_docs","arguments":{"query":"q","file":"` + strings.Repeat("A", size/2-200) + `"}}}`
	quoted, _ := json.Marshal(raw)
	withRaw := []byte(`{"interceptorInputVersion":"1.0","mcp":{"rawGatewayRequest":{"body":` + string(quoted) +
		`},"gatewayRequest":{"headers":{"Authorization":"` + token + `"},"body":` + raw + `}}}`)
	type c = struct {
		payload []byte
		allow   bool
	}
	// A target's answers: a tools/list whose one description fills the
	// event, read through the redaction view (a view once cost sixteen
	// bytes for each byte of a text with one escape).
	listing := func(description string) []byte {
		return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"` + token +
			`"},"body":{"jsonrpc":"2.0","id":1,"method":"tools/list"}},"gatewayResponse":{"statusCode":200,"body":` +
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"docs___search_docs","inputSchema":{"type":"object"},"description":"` +
			description + `"}]}}}}}`)
	}
	return map[string]c{
		// As long as an answer can be and still be answered with (see
		// judge's maxAnswer); texts flooded with escapes or marks are not
		// read (redaction replaces them whole), so they may be longer.
		"answer, one escape":      {listing(strings.Repeat("A", size-70_000) + "%2541"), true},
		"answer, escapes":         {listing(strings.Repeat("%2541", size/5)), true},
		"answer, other script":    {listing(strings.Repeat("日", size/3-25_000) + "%2541"), true},
		"answer, invisible marks": {listing(strings.Repeat("a\u200b", size/4)), true},
		"answer, open tags":       {listing(strings.Repeat("<a", size/2-100) + ">"), true},
		"one string":              {callEvent(`{"query":"q","file":"`+strings.Repeat("A", size)+`"}`, nil), true},
		"raw and parsed":          {withRaw, true},
		"wide list":               {callEvent(wide, nil), true},
		"many keys":               {callEvent(keys.String(), nil), false}, // 700,000 values
		"deep arrays":             {callEvent(nested(size/2-100), nil), false},
		"deep objects":            {callEvent(`{"query":"q","a":`+strings.Repeat(`{"a":`, size/6)+`1`+strings.Repeat(`}`, size/6)+`}`, nil), false},
	}
}

// TestWorstCaseEvents: the biggest events the gateway can send are judged
// within the default limits or denied beyond them, never a crash; and each
// is handled within 100 MB of peak memory (Lambda's 128 MB less room for
// the runtime), measured on a separate process.
func TestWorstCaseEvents(t *testing.T) {
	if path := os.Getenv("TOOLGATE_WORST_CASE"); path != "" {
		payload, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The collector as a 128 MB function's main sets it.
		awsenv.SetGC(func(k string) string {
			if k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
				return "128"
			}
			return os.Getenv(k)
		})
		newHandler(t, nil).Invoke(context.Background(), payload)
		// VmHWM, not the parent's rusage: a child's ru_maxrss can carry
		// the parent's high-water mark across fork and exec.
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Skip("no /proc/self/status")
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fmt.Printf("peak-kib %s\n", strings.TrimSpace(strings.TrimSuffix(kb, "kB")))
			}
		}
		return
	}
	h := newHandler(t, nil)
	dir := t.TempDir()
	for name, tc := range worstCases() {
		if len(tc.payload) > call.DefaultLimits().MaxEventBytes {
			t.Fatalf("%s: %d bytes, more than a gateway sends", name, len(tc.payload))
		}
		r := h.Handle(context.Background(), tc.payload)
		if err := r.Output.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tc.allow != (r.Decision.Effect == decision.Allow) {
			t.Errorf("%s (%d bytes): %s %q", name, len(tc.payload), r.Decision.Effect, r.Decision.Reason)
		}
		if testing.Short() || raceEnabled {
			continue // .ci/run measures without -race
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, tc.payload, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorstCaseEvents$")
		cmd.Env = append(os.Environ(), "TOOLGATE_WORST_CASE="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		var kib int
		if i := bytes.Index(out, []byte("peak-kib ")); i < 0 {
			t.Skipf("peak memory not measurable here: %s", out)
		} else if _, err := fmt.Sscan(string(out[i+len("peak-kib "):]), &kib); err != nil {
			t.Fatal(err)
		}
		peak := kib >> 10
		t.Logf("%s: %d bytes, peak RSS %d MiB", name, len(tc.payload), peak)
		if peak > 100 {
			t.Errorf("%s: peak RSS %d MiB, more than a 128 MB function can spare", name, peak)
		}
	}
	over := callEvent(`{"query":"`+strings.Repeat("x", 6<<20)+`"}`, nil)
	if r := h.Handle(context.Background(), over); r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "too large") {
		t.Errorf("event over 6 MiB: %s %q", r.Decision.Effect, r.Decision.Reason)
	}
}

func BenchmarkWorstCase(b *testing.B) {
	h := newHandler(b, nil)
	for name, tc := range worstCases() {
		b.Run(strings.ReplaceAll(name, " ", "-"), func(b *testing.B) {
			b.SetBytes(int64(len(tc.payload)))
			b.ReportAllocs()
			for b.Loop() {
				h.Handle(context.Background(), tc.payload)
			}
		})
	}
}

// stalled is an engine that does not answer until released.
type stalled struct {
	policy.Engine
	release chan struct{}
}

// Evaluate ignores ctx, like a rule stuck inside one evaluation.
func (s stalled) Evaluate(ctx context.Context, doc map[string]any) policy.Result {
	<-s.release
	return s.Engine.Evaluate(ctx, doc)
}

// TestDeadline: a decision not made by the deadline less the margin is a
// denial, answered before the deadline; the late decision is discarded.
func TestDeadline(t *testing.T) {
	release := make(chan struct{})
	var logs bytes.Buffer
	h := handlerWith(t, func(c *interceptor.Config) {
		c.Engine = stalled{Engine: c.Engine, release: release}
		c.DeadlineMargin = 50 * time.Millisecond
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	r := h.Handle(ctx, payload)
	answered := time.Now()
	close(release)
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable || !strings.Contains(r.Decision.Reason, "deadline") {
		t.Fatalf("%+v", r.Decision)
	}
	if answered.After(deadline) {
		t.Errorf("answered %v after the deadline", answered.Sub(deadline))
	}
	if err := r.Output.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"result":"error"`) || strings.Contains(logs.String(), `"result":"allow"`) {
		t.Errorf("log: %s", logs.String())
	}

	// With one P, as the function runs in a sandbox of less than one vCPU
	// (awsenv.Procs), a judgement that holds the processor still does not
	// hold the answer.
	func() {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		released := new(atomic.Bool)
		defer released.Store(true)
		h := handlerWith(t, func(c *interceptor.Config) {
			c.Engine = spinning{Engine: c.Engine, released: released}
			c.DeadlineMargin = 50 * time.Millisecond
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		deadline, _ := ctx.Deadline()
		r := h.Handle(ctx, payload)
		if answered := time.Now(); answered.After(deadline) {
			t.Errorf("one P: answered %v after the deadline", answered.Sub(deadline))
		}
		if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "deadline") {
			t.Fatalf("one P: %+v", r.Decision)
		}
	}()

	// No time left at all: denied without judging.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if r := h.Handle(ctx, payload); r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "deadline") {
		t.Fatalf("%+v", r.Decision)
	}

	// With time enough, the decision is the policies'.
	h = newHandler(t, nil)
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := h.Handle(ctx, payload); r.Decision.Effect != decision.Allow {
		t.Fatalf("%+v", r.Decision)
	}
}

// spinning is an engine whose evaluation holds the processor, as a
// runaway expression would, until released.
type spinning struct {
	policy.Engine
	released *atomic.Bool
}

func (s spinning) Evaluate(ctx context.Context, doc map[string]any) policy.Result {
	for !s.released.Load() {
	}
	return s.Engine.Evaluate(ctx, doc)
}

// slowToStop is an engine whose first evaluation notices its context's
// end only after a while, as one does between rules.
type slowToStop struct {
	policy.Engine
	first *atomic.Bool
}

func (s slowToStop) Evaluate(ctx context.Context, doc map[string]any) policy.Result {
	if s.first.Swap(false) {
		<-ctx.Done()
		time.Sleep(30 * time.Millisecond)
	}
	return s.Engine.Evaluate(ctx, doc)
}

// TestParentCancelled: an invocation's context cancelled before its
// deadline ends the judgement, which says so: it is no missed deadline,
// and the next call, right after, is judged.
func TestParentCancelled(t *testing.T) {
	first := new(atomic.Bool)
	first.Store(true)
	h := handlerWith(t, func(c *interceptor.Config) { c.Engine = slowToStop{c.Engine, first} })
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	time.AfterFunc(20*time.Millisecond, cancel)
	if r := h.Handle(ctx, payload); r.Decision.Effect != decision.Deny || strings.Contains(r.Decision.Reason, "deadline") {
		t.Fatalf("cancelled: %+v", r.Decision)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := h.Handle(ctx, payload); r.Decision.Effect != decision.Allow {
		t.Fatalf("the next call: %+v", r.Decision)
	}
}

// settledGoroutines is the number of goroutines once those of earlier
// tests that are still ending have ended (on a busy machine one can
// outlive its test by a few milliseconds): the count when it stops
// falling, read every 10 ms for at most a second.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// TestLateJudgementsDoNotPileUp: with an evaluation that never returns, 100
// timed-out invocations leave one judgement running, not 100: while it
// runs, new work is refused at once. Once it ends, decisions resume.
func TestLateJudgementsDoNotPileUp(t *testing.T) {
	release := make(chan struct{})
	h := handlerWith(t, func(c *interceptor.Config) {
		c.Engine = stalled{Engine: c.Engine, release: release}
		c.DeadlineMargin = time.Millisecond
	})
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	before := settledGoroutines()
	refused := 0
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		r := h.Handle(ctx, payload)
		cancel()
		if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable {
			t.Fatalf("%+v", r.Decision)
		}
		if strings.Contains(r.Decision.Reason, "still running") {
			refused++
		}
	}
	if grown := settledGoroutines() - before; grown > 2 {
		t.Errorf("%d goroutines more after 100 late judgements, want at most 2", grown)
	}
	if refused != 99 {
		t.Errorf("%d refused at once, want 99", refused)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r := h.Handle(ctx, payload)
		cancel()
		if r.Decision.Effect == decision.Allow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decisions did not resume: %+v", r.Decision)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
