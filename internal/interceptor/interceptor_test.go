package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/trace"
	"github.com/toolgate/toolgate/pkg/gateway"
	"github.com/toolgate/toolgate/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const testID = "0123456789abcdef0123456789abcdef"

func newHandler(t testing.TB, logs *bytes.Buffer) *interceptor.Handler {
	t.Helper()
	return handlerWith(t, func(c *interceptor.Config) {
		c.Now = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
		c.NewID = func() string { return testID }
		if logs != nil {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
	})
}

func events(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/events/*.json")
	if err != nil || len(files) < 12 {
		t.Fatalf("want at least a dozen events in testdata/events, got %d (%v)", len(files), err)
	}
	return files
}

// TestGolden runs every event in testdata/events through the handler and
// compares the output with testdata/golden/<event>.json. Run with -update
// after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	h := newHandler(t, nil)
	for _, file := range events(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatalf("Invoke returned an error: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			pretty.WriteString("\n")
			golden := filepath.Join("../../testdata/golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/interceptor -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", golden, pretty.Bytes(), want)
			}
		})
	}
}

// TestContract checks the invariants the gateway relies on for every event:
// the output version, exactly one transformed member, a JSON object body, and
// no caller header echoed toward the target.
func TestContract(t *testing.T) {
	h := newHandler(t, nil)
	for _, file := range events(t) {
		payload, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r := h.Handle(context.Background(), payload)
		if err := r.Output.Validate(); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		if r.Output.MCP != nil && r.Output.MCP.TransformedGatewayRequest != nil {
			if r.Decision.Effect != decision.Allow {
				t.Errorf("%s: a %s forwards the request", file, r.Decision.Effect)
			}
			if len(r.Output.MCP.TransformedGatewayRequest.Headers) != 0 {
				t.Errorf("%s: an allow echoes headers to the target", file)
			}
			if b := r.Output.MCP.TransformedGatewayRequest.Body; len(b) == 0 || b[0] != '{' {
				t.Errorf("%s: forwarded body is not a JSON object: %s", file, b)
			}
		}
		if r.Decision.Effect == decision.Deny && (r.Output.MCP == nil || r.Output.MCP.TransformedGatewayResponse == nil) {
			t.Errorf("%s: a denial must answer with transformedGatewayResponse", file)
		}
	}
}

// TestDecisions pins the decision for each named event: what a user relies on.
func TestDecisions(t *testing.T) {
	tests := []struct {
		event  string
		effect decision.Effect
		code   int
	}{
		{"allowed-call", decision.Allow, 0},
		{"allowed-call-2kb", decision.Allow, 0},
		{"denied-delete-production", decision.Deny, decision.CodePolicyDenied},
		{"unauthenticated-call", decision.Deny, decision.CodePolicyDenied},
		{"headers-absent", decision.Deny, decision.CodePolicyDenied},
		{"headers-empty", decision.Deny, decision.CodePolicyDenied},
		{"tools-list", decision.Allow, 0},
		{"initialize", decision.Allow, 0},
		{"notification-initialized", decision.Allow, 0},
		{"ping", decision.Allow, 0},
		{"lowercase-headers", decision.Allow, 0},
		{"body-as-string", decision.Allow, 0},
		{"null-body-raw-fallback", decision.Allow, 0},
		{"null-body-no-raw", decision.Deny, decision.CodeInvalidRequest},
		{"malformed-event", decision.Deny, decision.CodeInvalidRequest},
		{"unsupported-version", decision.Deny, decision.CodeInvalidRequest},
		{"batch-request", decision.Deny, decision.CodeInvalidRequest},
		{"invalid-tool-arguments", decision.Deny, decision.CodeInvalidParams},
		{"wildcard-arguments", decision.Deny, decision.CodePolicyDenied},
		{"string-id-call", decision.Allow, 0},
		{"delegated-agent-call", decision.Allow, 0},
		{"response-point", decision.Allow, 0},
		{"response-after-request-denial", decision.Deny, decision.CodePolicyDenied},
		{"response-after-request-denial-body", decision.Deny, decision.CodePolicyDenied},
		{"response-body-as-string", decision.Allow, 0},
		{"response-notification-202", decision.Allow, 0},
		{"response-search-structured", decision.Allow, 0},
		{"response-search-text", decision.Allow, 0},
		{"response-secrets", decision.Allow, 0},
		{"response-redact-100kb", decision.Allow, 0},
		{"response-secrets-finance", decision.Allow, 0},
		{"response-streamed-first-event", decision.Allow, 0},
		{"response-streamed-denied", decision.Deny, decision.CodePolicyDenied},
		{"response-target-error", decision.Allow, 0},
		{"response-tools-list", decision.Allow, 0},
		{"response-tools-list-500", decision.Allow, 0},
		{"response-tools-list-anonymous", decision.Deny, decision.CodePolicyDenied}, // every method needs authentication
		{"response-unreadable-request", decision.Deny, decision.CodeUndecidable},
		{"http-target-passthrough", decision.Allow, 0},
		{"approval-needed", decision.Deny, decision.CodePolicyDenied}, // approvals are not configured here
	}
	h := newHandler(t, nil)
	if len(tests) != len(events(t)) {
		t.Errorf("%d events pinned, %d in testdata/events: pin every event", len(tests), len(events(t)))
	}
	for _, tt := range tests {
		payload, err := os.ReadFile("../../testdata/events/" + tt.event + ".json")
		if err != nil {
			t.Fatal(err)
		}
		r := h.Handle(context.Background(), payload)
		if r.Decision.Effect != tt.effect || r.Decision.Code != tt.code {
			t.Errorf("%s: got %s code %d (%s), want %s code %d", tt.event, r.Decision.Effect, r.Decision.Code, r.Decision.Reason, tt.effect, tt.code)
		}
	}
}

// TestDeniedCallShape checks the denial of a tools/call in detail: HTTP 200,
// the id echoed, a tool result with isError and a text naming the policy
// message and the decision id.
func TestDeniedCallShape(t *testing.T) {
	h := newHandler(t, nil)
	payload, _ := os.ReadFile("../../testdata/events/denied-delete-production.json")
	r := h.Handle(context.Background(), payload)
	resp := r.Output.MCP.TransformedGatewayResponse
	if resp.StatusCode != 200 {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	var body struct {
		ID     json.RawMessage `json:"id"`
		Result struct {
			IsError bool `json:"isError"`
			Content []struct{ Type, Text string }
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body.ID) != "8" || !body.Result.IsError || len(body.Result.Content) != 1 {
		t.Fatalf("unexpected body %s", resp.Body)
	}
	text := body.Result.Content[0].Text
	for _, want := range []string{"destructive tool k8s___delete-pod is not allowed in production", testID} {
		if !strings.Contains(text, want) {
			t.Errorf("denial text %q lacks %q", text, want)
		}
	}
}

func TestDenyStatusIsConfigurable(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: "production", Engine: b.Engine, Catalog: b.Catalog, DenyStatus: 403}})
	payload, _ := os.ReadFile("../../testdata/events/denied-delete-production.json")
	if got := h.Handle(context.Background(), payload).Output.MCP.TransformedGatewayResponse.StatusCode; got != 403 {
		t.Errorf("status %d, want 403", got)
	}
}

// TestIDsAsSent checks that the JSON-RPC id is echoed exactly, 0 included.
func TestIDsAsSent(t *testing.T) {
	h := newHandler(t, nil)
	for _, id := range []string{`0`, `"0"`, `-1`, `1.5`, `"abc"`, `12345678901234567890123`, `null`} {
		payload := []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{},"body":` +
			`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"docs___search_docs","arguments":{}}}}}}`)
		r := h.Handle(context.Background(), payload)
		var body struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(r.Output.MCP.TransformedGatewayResponse.Body, &body); err != nil {
			t.Fatal(err)
		}
		if string(body.ID) != id {
			t.Errorf("id %s echoed as %s", id, body.ID)
		}
	}
}

// TestHostileInputs feeds inputs no gateway should send. Each must end in a
// valid output, a denial wherever the input could not be decoded, and never
// an error or a panic.
func TestHostileInputs(t *testing.T) {
	h := newHandler(t, nil)
	inputs := []string{
		``, `null`, `[]`, `"x"`, `42`, `{`, `{}`, `{"mcp":null}`, `{"interceptorInputVersion":"1.0"}`,
		`{"interceptorInputVersion":"1.0","mcp":{}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":null}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":42}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":"not json"}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":"\"nested string\""}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":{},"method":"ping"}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call"}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":{}},"body":{"jsonrpc":"2.0","id":1,"method":"ping"}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}}},"http":{"gatewayRequest":{}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}},"gatewayResponse":{"statusCode":"200"}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}},"gatewayResponse":{"statusCode":200,"body":"plain text"}}}`,
		`{"interceptorInputVersion":"1.0","http":42}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/list"}},"gatewayResponse":{"statusCode":200,"body":[]}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/list"}},"gatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"x"}}}}}}`,
		`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}},"gatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":1,"result":{"content":[]}}}}}`,
		"\xff\xfe{}",
	}
	for _, in := range inputs {
		out, err := h.Invoke(context.Background(), []byte(in))
		if err != nil {
			t.Errorf("%q: error %v", in, err)
			continue
		}
		var o gateway.Output
		if err := json.Unmarshal(out, &o); err != nil {
			t.Errorf("%q: output is not JSON: %v", in, err)
			continue
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%q: %v: %s", in, err, out)
		}
		if r := h.Handle(context.Background(), []byte(in)); r.Decision.Effect != decision.Deny {
			t.Errorf("%q: %s (%s), want deny", in, r.Decision.Effect, r.Decision.Reason)
		}
	}
}

// TestErrorDetailsStayOutOfLogs: an evaluation error's detail can quote the
// argument it choked on; it is logged only at debug level.
func TestErrorDetailsStayOutOfLogs(t *testing.T) {
	e := compile(t, `apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: numeric}
spec:
  rules:
  - name: max
    match: {all: [{action: call}]}
    assert:
      all:
      - check:
          (max(tool.arguments.q) > `+"`1`"+`): true
`)
	payload := []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"q":"secret-argument-value"}}}}}}`)
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs bytes.Buffer
		h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: e, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))}})
		r := h.Handle(context.Background(), payload)
		if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable {
			t.Fatalf("%+v", r.Decision)
		}
		if leaked := strings.Contains(logs.String(), "secret-argument-value"); leaked != (level == slog.LevelDebug) {
			t.Errorf("level %s: argument value in log = %v:\n%s", level, leaked, logs.String())
		}
	}
}

type panicky struct{}

func (panicky) Evaluate(context.Context, map[string]any) policy.Result { panic("boom") }
func (panicky) AllowsEach(context.Context) func(map[string]any) bool   { panic("boom") }

func TestPanicIsDenial(t *testing.T) {
	h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: panicky{}}})
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var o gateway.Output
	if err := json.Unmarshal(out, &o); err != nil || o.Validate() != nil || o.MCP.TransformedGatewayResponse == nil {
		t.Fatalf("panic did not become a denial: %s", out)
	}
	if !bytes.Contains(o.MCP.TransformedGatewayResponse.Body, []byte(`"id":7`)) && !bytes.Contains(o.MCP.TransformedGatewayResponse.Body, []byte(`"id":null`)) {
		t.Errorf("unexpected body %s", o.MCP.TransformedGatewayResponse.Body)
	}
}

func TestBrokenBundleDeniesEverything(t *testing.T) {
	h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: policy.Broken(os.ErrNotExist)}})
	for _, file := range events(t) {
		payload, _ := os.ReadFile(file)
		r := h.Handle(context.Background(), payload)
		if r.Phase != "http" && r.Decision.Effect != decision.Deny {
			t.Errorf("%s: %s with a broken bundle", file, r.Decision.Effect)
		}
	}
}

// TestLogsKeepSecrets checks that no decision log line carries the bearer
// token or a tool argument value.
func TestLogsKeepSecrets(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	for _, file := range events(t) {
		payload, _ := os.ReadFile(file)
		h.Handle(context.Background(), payload)
	}
	out := logs.String()
	if strings.Count(out, "\n") < len(events(t)) {
		t.Fatalf("want one log line per decision, got:\n%s", out)
	}
	for _, secret := range []string{"eyJ", "Bearer", "vpc peering", "api-0", "payments", "raw fallback", "not-a-jwt"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"decision_id":"` + testID + `"`, `"result":"deny"`, `"name":"no-destructive-in-production"`, `"name":"(event)"`, `"name":"(request)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// BenchmarkHandler2KB is the whole handler, raw payload to marshalled output,
// on a 2 KB allowed tools/call event.
func BenchmarkHandler2KB(b *testing.B) {
	h := newHandler(b, nil)
	payload, err := os.ReadFile("../../testdata/events/allowed-call-2kb.json")
	if err != nil {
		b.Fatal(err)
	}
	if len(payload) < 2000 {
		b.Fatalf("event is %d bytes, want about 2 KB", len(payload))
	}
	// As under Lambda, the invocation has a deadline, so the decision is
	// made on a goroutine raced against it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := h.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// panicLog is a log handler that panics, as a broken writer might.
type panicLog struct{ slog.Handler }

func (panicLog) Enabled(context.Context, slog.Level) bool  { return true }
func (panicLog) Handle(context.Context, slog.Record) error { panic("log") }

// panicTracer's spans panic when annotated, after the decision is made.
type panicTracer struct{}

func (panicTracer) Start(ctx context.Context, _ string) (context.Context, trace.Span) {
	return ctx, panicSpan{}
}

type panicSpan struct{}

func (panicSpan) Annotate(string, string) { panic("annotate") }
func (panicSpan) End()                    {}

// TestPanicAnywhereIsDenial: the promise covers the whole invocation, not
// only the judgement: recording, tracing and logging may panic too, and an
// allowed call must then not pass.
func TestPanicAnywhereIsDenial(t *testing.T) {
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	for name, edit := range map[string]func(*interceptor.Config){
		"logger": func(c *interceptor.Config) { c.Logger = slog.New(panicLog{}) },
		"tracer": func(c *interceptor.Config) { c.Tracer = panicTracer{} },
	} {
		t.Run(name, func(t *testing.T) {
			h := handlerWith(t, edit)
			out, err := h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			var o gateway.Output
			if err := json.Unmarshal(out, &o); err != nil || o.Validate() != nil || o.MCP.TransformedGatewayResponse == nil ||
				!bytes.Contains(o.MCP.TransformedGatewayResponse.Body, []byte("internal error")) {
				t.Fatalf("a panic did not become a denial: %s", out)
			}
		})
	}
}
