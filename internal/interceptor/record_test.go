package interceptor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/trace"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// secretsOf returns what an event carries that no log line may show: the
// bearer token and its three parts, and every string in the tool
// arguments and in the target's result, six characters or longer.
func secretsOf(t *testing.T, payload []byte) []string {
	t.Helper()
	var ev struct {
		MCP *gateway.MCPEvent `json:"mcp"`
	}
	if json.Unmarshal(payload, &ev) != nil || ev.MCP == nil {
		return nil
	}
	var out []string
	if req := ev.MCP.GatewayRequest; req != nil {
		auth, _ := req.Headers.Get("Authorization")
		if tok, ok := strings.CutPrefix(auth, "Bearer "); ok && tok != "" {
			out = append(out, tok)
			for part := range strings.SplitSeq(tok, ".") {
				if len(part) >= 6 {
					out = append(out, part)
				}
			}
		}
		if body, err := ev.MCP.RequestBody(); err == nil {
			var msg struct {
				Params struct {
					Arguments any `json:"arguments"`
				} `json:"params"`
			}
			_ = json.Unmarshal(body, &msg)
			if args, ok := msg.Params.Arguments.(map[string]any); ok { // else rejected, unread
				out = appendStrings(out, args)
			}
		}
	}
	if resp := ev.MCP.GatewayResponse; resp != nil {
		var body struct {
			Result any `json:"result"`
		}
		_ = json.Unmarshal(resp.Body, &body)
		out = appendStrings(out, body.Result)
	}
	return out
}

func appendStrings(out []string, v any) []string {
	switch v := v.(type) {
	case string:
		if len(v) >= 6 {
			out = append(out, v)
		}
	case []any:
		for _, e := range v {
			out = appendStrings(out, e)
		}
	case map[string]any:
		for k, e := range v {
			if k != "tools" { // tool names are logged when hidden, by design
				out = appendStrings(out, e)
			}
		}
	}
	return out
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestDecisionRecords runs every event and reads back its log: exactly one
// decision record, of schema version 1, naming the decision, its trace,
// request and bundle, classified as the decision was, with the arguments'
// digest for calls; and no line shows the token, an argument or a result
// string.
func TestDecisionRecords(t *testing.T) {
	const traceRoot = "1-6741b2a0-00000000000000000000beef"
	//lint:ignore SA1029 aws-lambda-go puts the trace header under this string key
	ctx := context.WithValue(context.Background(), trace.HeaderKey, "Root="+traceRoot+";Sampled=1")
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	seen := map[string]bool{}
	for _, file := range events(t) {
		payload, _ := os.ReadFile(file)
		var logs bytes.Buffer
		r := newHandler(t, &logs).Handle(ctx, payload)
		var records []decisionlog.Record
		sc := bufio.NewScanner(&logs)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Msg string `json:"msg"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: log line is not JSON: %s", file, sc.Bytes())
			}
			if line.Msg == decisionlog.Message {
				var rec decisionlog.Record
				_ = json.Unmarshal(sc.Bytes(), &rec)
				records = append(records, rec)
			}
			for _, s := range secretsOf(t, payload) {
				if bytes.Contains(sc.Bytes(), []byte(s)) {
					t.Errorf("%s: log shows %q:\n%s", file, s, sc.Bytes())
				}
			}
		}
		if len(records) != 1 {
			t.Fatalf("%s: %d decision records", file, len(records))
		}
		rec := records[0]
		if rec.SchemaVersion != 1 || rec.DecisionID != r.Decision.ID || rec.TraceID != traceRoot || rec.RequestID != "req-1" ||
			rec.Bundle.Source != "embedded" || !strings.HasPrefix(rec.Bundle.Digest, "sha256:") || rec.Phase != r.Phase || rec.LatencyUS < 0 {
			t.Errorf("%s: record %+v", file, rec)
		}
		want := map[decision.Effect]string{decision.Allow: "allow", decision.Deny: "deny"}[r.Decision.Effect]
		switch {
		case r.Decision.Code == decision.CodeUndecidable:
			want = "error"
		case r.Decision.Effect == decision.Allow && len(r.Decision.Findings) > 0:
			want = "audit_deny"
		}
		if rec.Result != want {
			t.Errorf("%s: result %s, want %s", file, rec.Result, want)
		}
		seen[rec.Result] = true
		if d := r.Document; d != nil && d.Action == "call" {
			if !hex64.MatchString(rec.ArgsSHA256) || rec.ArgsSHA256 != codec.ArgsDigest(d.Tool.Arguments) {
				t.Errorf("%s: args_sha256 %q", file, rec.ArgsSHA256)
			}
			if rec.Tool == nil || rec.Tool.Name != d.Tool.Name || rec.Principal == nil || rec.Principal.ID != d.Principal.ID ||
				rec.Principal.Username != d.Principal.Username || !slices.Equal(rec.Principal.Groups, d.Principal.Groups) {
				t.Errorf("%s: who and what: %+v %+v", file, rec.Principal, rec.Tool)
			}
			if len(d.Principal.Groups) > 0 {
				seen["groups"] = true
			}
		} else if rec.ArgsSHA256 != "" {
			t.Errorf("%s: args_sha256 without a call", file)
		}
		if rec.Arguments != nil {
			t.Errorf("%s: arguments logged by default", file)
		}
	}
	for _, result := range []string{"allow", "deny", "groups"} {
		if !seen[result] {
			t.Errorf("no event yields %s", result)
		}
	}
}

// TestLogArguments: the raw arguments are logged when, and only when,
// the deployment asks for them.
func TestLogArguments(t *testing.T) {
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	allowAll, err := policy.Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		var logs bytes.Buffer
		h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: allowAll, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, LogArguments: on})
		h.Handle(context.Background(), payload)
		var rec decisionlog.Record
		_ = json.Unmarshal(logs.Bytes(), &rec)
		if (rec.Arguments != nil) != on || (on && len(rec.Arguments) == 0) {
			t.Errorf("LogArguments %v: arguments %v", on, rec.Arguments)
		}
	}
}

// TestErrorResult: a decision that could not be made is logged as an
// error at level ERROR.
func TestErrorResult(t *testing.T) {
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	var logs bytes.Buffer
	h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: panicky{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}})
	h.Handle(context.Background(), payload)
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"decision"`) || !strings.Contains(logs.String(), `"result":"error"`) {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestAuditDenyResult: an allowed decision with an audit finding is logged
// as audit_deny, at level WARN, naming the audit policy.
func TestAuditDenyResult(t *testing.T) {
	e := compile(t, `apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata:
  name: watch-calls
  annotations: {policies.toolgate.dev/mode: audit}
spec:
  rules:
  - name: never
    match: {all: [{action: call}]}
    assert: {all: [{message: watched, check: {action: other}}]}
`)
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	var logs bytes.Buffer
	r := interceptor.New(interceptor.Config{Config: judge.Config{Engine: e, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}}).Handle(context.Background(), payload)
	var rec decisionlog.Record
	_ = json.Unmarshal(logs.Bytes(), &rec)
	if r.Decision.Effect != decision.Allow || rec.Result != decisionlog.AuditDeny || len(rec.Policies) != 1 || rec.Policies[0].Mode != "audit" ||
		!strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("decision %+v, log:\n%s", r.Decision, logs.String())
	}
}

// compile compiles one policy document.
func compile(t *testing.T, doc string) policy.Engine {
	t.Helper()
	p, err := policy.DecodePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestMessagesQuotingArgumentsWithheld: a policy message that quotes the
// call's arguments, directly or through a context variable, reaches the
// caller, never the decision record.
func TestMessagesQuotingArgumentsWithheld(t *testing.T) {
	for name, tt := range map[string]struct{ event, rule, secret string }{
		"in the message": {"allowed-call", `{name: r, match: {all: [{action: call}]}, assert: {all: [{message: "no {{ tool.arguments.query }} here", check: {action: other}}]}}`, "vpc peering"},
		"through context": {"allowed-call", `{name: r, match: {all: [{action: call}]}, context: [{name: q, variable: "(tool.arguments.query)"}], ` +
			`assert: {all: [{message: "no {{ $q }} here", check: {action: other}}]}}`, "vpc peering"},
		"a context named payload": {"allowed-call", `{name: r, match: {all: [{action: call}]}, context: [{name: payload, variable: "({tool: {name: tool.arguments.query}})"}], ` +
			`assert: {all: [{message: "no {{ $payload.tool.name }} here", check: {action: other}}]}}`, "vpc peering"},
		"a message that begins another": {"allowed-call", `{name: r, match: {all: [{action: call}]}, assert: {all: [{message: "q {{ tool.arguments.query }}", check: {action: other}}, ` +
			`{message: "q {{ tool.arguments.query }} and {{ tool.arguments.query }}", check: {phase: response}}]}}`, "vpc peering"},
		"the whole tool":     {"allowed-call", `{name: r, match: {all: [{action: call}]}, assert: {all: [{message: "no {{ to_string(tool) }} here", check: {action: other}}]}}`, "vpc peering"},
		"the whole document": {"allowed-call", `{name: r, match: {all: [{action: call}]}, assert: {all: [{message: "no {{ to_string(@) }} here", check: {action: other}}]}}`, "vpc peering"},
		"the answer":         {"response-point", `{name: r, match: {all: [{phase: response}]}, assert: {all: [{message: "no {{ to_string(response) }} here", check: {action: other}}]}}`, "VPC peering connects"},
	} {
		t.Run(name, func(t *testing.T) {
			e := compile(t, "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: quote}\nspec:\n  rules:\n  - "+tt.rule+"\n")
			payload, _ := os.ReadFile("../../testdata/events/" + tt.event + ".json")
			var logs bytes.Buffer
			r := interceptor.New(interceptor.Config{Config: judge.Config{Engine: e, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}}).Handle(context.Background(), payload)
			if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, tt.secret) {
				t.Fatalf("the caller is not told: %+v", r.Decision)
			}
			if strings.Contains(logs.String(), tt.secret) || !strings.Contains(logs.String(), "quotes the call's arguments, withheld") {
				t.Errorf("the record holds the value, or does not say it withheld it:\n%s", logs.String())
			}
		})
	}
}

// TestLoopKeysNotLogged: a rule that loops over a map of the arguments
// fails on a key, which the engine names in its path; the record keeps the
// path the policy wrote, not the caller's key.
func TestLoopKeysNotLogged(t *testing.T) {
	e := compile(t, "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: labels}\nspec:\n  rules:\n"+
		"  - {name: short, match: {all: [{action: call}]}, assert: {all: [{message: labels are short, check: {tool: {\"~.(arguments.labels || `{}`)\": {\"(length(@) <= `16`)\": true}}}}]}}\n")
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	payload = bytes.ReplaceAll(payload, []byte(`"query": "vpc peering"`), []byte(`"labels": {"ssn 078-05-1120; card 4111]": "a much too long label value"}`))
	var logs bytes.Buffer
	r := interceptor.New(interceptor.Config{Config: judge.Config{Engine: e, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}}).Handle(context.Background(), payload)
	if r.Decision.Effect != decision.Deny || r.Decision.Reason != "labels are short" {
		t.Fatalf("decision %+v", r.Decision)
	}
	if strings.Contains(logs.String(), "078-05") || strings.Contains(logs.String(), "4111") || !strings.Contains(logs.String(), `"detail":"tool.~(in a loop): FieldValueInvalid"`) {
		t.Errorf("the record holds the key, or not the path:\n%s", logs.String())
	}
}

// TestOutcomeNames: a limit's or a containment's outcome is written into
// the decision record as ratelimit names it, so the record's schema
// (decisionlog, and the metrics and alarms that read it) must name the
// same outcomes.
func TestOutcomeNames(t *testing.T) {
	for _, c := range [][2]string{
		{ratelimit.OK, decisionlog.RateLimitOK}, {ratelimit.Exceeded, decisionlog.RateLimitExceeded},
		{ratelimit.Error, decisionlog.RateLimitError}, {ratelimit.FailOpen, decisionlog.RateLimitFailOpen},
		{ratelimit.Quarantined, decisionlog.ContainmentQuarantined}, {ratelimit.Counted, decisionlog.ContainmentCounted},
		{ratelimit.Began, decisionlog.ContainmentBegan}, {ratelimit.Error, decisionlog.ContainmentError},
		{ratelimit.FailOpen, decisionlog.ContainmentFailOpen},
	} {
		if c[0] != c[1] {
			t.Errorf("ratelimit writes %q where the record schema says %q", c[0], c[1])
		}
	}
}
