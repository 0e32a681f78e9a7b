package policy_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/policies"
)

func defaultBundle(t testing.TB) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// documents returns the attribute documents of the sample and adversarial
// events, in production and in dev.
func documents(t testing.TB, b *bundle.Bundle) []*attributes.Document {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/events/*.json")
	adversarial, _ := filepath.Glob("../../testdata/adversarial/*.json")
	files = append(files, adversarial...)
	var docs []*attributes.Document
	for _, env := range []string{"production", "dev"} {
		h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: env, Engine: b.Engine, Catalog: b.Catalog}})
		for _, f := range files {
			payload, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if r := h.Handle(context.Background(), payload); r.Document != nil {
				docs = append(docs, r.Document)
			}
		}
	}
	if len(docs) < 10 {
		t.Fatalf("only %d documents", len(docs))
	}
	return docs
}

func naive(doc map[string]any, ps []*v1alpha1.ValidatingPolicy) []string {
	resp := jsonengine.New().Run(context.Background(), jsonengine.Request{Resource: doc, Policies: ps})
	var out []string
	for _, p := range resp.Policies {
		for _, r := range p.Rules {
			switch {
			case r.Error != nil:
				out = append(out, fmt.Sprintf("%s/%s error", p.Policy.Name, r.Rule.Name))
			case len(r.Violations) > 0:
				for range r.Violations {
					out = append(out, fmt.Sprintf("%s/%s violation", p.Policy.Name, r.Rule.Name))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func compiled(doc map[string]any, e policy.Engine) []string {
	var out []string
	for _, f := range e.Evaluate(context.Background(), doc).Findings {
		out = append(out, fmt.Sprintf("%s/%s %s", f.Policy, f.Rule, f.Kind))
	}
	sort.Strings(out)
	return out
}

// TestCompiledMatchesNaive checks that compiling once gives the same findings
// as kyverno-json's own engine, which compiles on every call.
func TestCompiledMatchesNaive(t *testing.T) {
	b := defaultBundle(t)
	denied := 0
	for _, d := range documents(t, b) {
		doc := d.Value()
		want, got := naive(doc, b.Policies), compiled(doc, b.Engine)
		if !slices.Equal(want, got) {
			t.Errorf("%s %s: compiled %v, naive %v", d.Environment, d.Tool.QualifiedName, got, want)
		}
		if len(got) > 0 {
			denied++
		}
	}
	if denied == 0 {
		t.Fatal("no document failed any policy: the comparison proves nothing")
	}
	// The documents of list answers, whose rules the engine skips by
	// action and list kind without running their match.
	for _, env := range []string{"production", "dev"} {
		for _, group := range []string{"developers", "platform-admins"} {
			values := attributes.Builder{Environment: env, Catalog: b.Catalog}.ListValues(context.Background(), attributes.Input{
				Phase: attributes.PhaseResponse, Method: "tools/list", Headers: map[string]string{"Authorization": bearer(group)}})
			for _, item := range [][2]string{{attributes.ListTool, "k8s___delete-pod"}, {attributes.ListTool, "docs___search_docs"},
				{attributes.ListPrompt, "docs___summarize"}, {attributes.ListPrompt, "billing___refund_letter"},
				{attributes.ListResource, "docs://guides/vpc.md"}, {attributes.ListResource, "file:///etc/passwd"}, {attributes.ListTemplate, "billing://{id}"}} {
				doc := maps.Clone(values(item[0], item[1]))
				// A list's verdicts skip messages and failure paths: the
				// same verdict, and the walk they used goes back clean.
				allows := b.Engine.AllowsEach(context.Background())(doc)
				if want, got := naive(doc, b.Policies), compiled(doc, b.Engine); !slices.Equal(want, got) {
					t.Errorf("%s %s listed %s %s: compiled %v, naive %v", env, group, item[0], item[1], got, want)
				}
				res := b.Engine.Evaluate(context.Background(), doc)
				if allows == res.Denied() {
					t.Errorf("%s %s listed %s %s: AllowsEach %v, Evaluate denied %v", env, group, item[0], item[1], allows, res.Denied())
				}
				findings := res.Findings
				if k, ok := b.Engine.(*policy.Kyverno); ok {
					b.Engine.AllowsEach(context.Background())(doc)
					for _, rr := range k.Explain(doc) {
						findings = append(findings, rr.Findings...)
					}
				}
				for _, f := range findings {
					if f.Kind == policy.Violation && (f.Message == "" || f.Detail == "") {
						t.Errorf("%s %s listed %s %s: a violation without message or detail after a verdict: %+v", env, group, item[0], item[1], f)
					}
				}
			}
		}
	}
}

// bearer is an unsigned bearer token of a user in group.
func bearer(group string) string {
	enc := base64.RawURLEncoding
	return "Bearer " + enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." +
		enc.EncodeToString([]byte(`{"sub":"u-1","username":"u","exp":4102444800,"cognito:groups":["`+group+`"]}`)) + ".sig"
}

func benchDoc(b testing.TB) (*bundle.Bundle, *attributes.Document) {
	bn := defaultBundle(b)
	for _, d := range documents(b, bn) {
		// The typical allowed call of testdata/events/allowed-call.json.
		if d.Environment == "production" && d.MCP.ID == float64(7) && d.Phase == attributes.PhaseRequest {
			return bn, d
		}
	}
	b.Fatal("no allowed-call document")
	return nil, nil
}

// The decision benchmarks evaluate an attribute document that is already
// built, as the handler does after its attribute-building step; building the
// document is measured by BenchmarkValue and, end to end, by the handler's
// benchmark. The engine does not modify the document, so one value serves
// every iteration.

// BenchmarkDecision is one decision with the default bundle on the document
// of an allowed tools/call: every rule of every policy evaluated. It reports
// the median and 99th percentile of single decisions.
func BenchmarkDecision(b *testing.B) {
	bn, d := benchDoc(b)
	doc := d.Value()
	timed(b, func() {
		if bn.Engine.Evaluate(context.Background(), doc).Denied() {
			b.Fatal("denied")
		}
	})
}

// BenchmarkNaiveJSONEngine is the baseline: kyverno-json's jsonengine on the
// same bundle and document, recompiling every rule on every call.
func BenchmarkNaiveJSONEngine(b *testing.B) {
	bn, d := benchDoc(b)
	doc := d.Value()
	timed(b, func() {
		jsonengine.New().Run(context.Background(), jsonengine.Request{Resource: doc, Policies: bn.Policies})
	})
}

// timed runs op b.N times and reports the median and 99th percentile of
// single runs besides the mean.
func timed(b *testing.B, op func()) {
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		op()
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(p50(durations), "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds())/1000, "p99-µs")
}

func p50(sorted []time.Duration) float64 { return float64(sorted[len(sorted)/2].Nanoseconds()) / 1000 }

// BenchmarkSpeedup interleaves one compiled decision and one naive
// jsonengine run per iteration, so that both see the same machine load, and
// reports the ratio of their medians: how many times faster compiling once is.
func BenchmarkSpeedup(b *testing.B) {
	bn, d := benchDoc(b)
	doc := d.Value()
	fast, slow := interleaved(b, func() {
		bn.Engine.Evaluate(context.Background(), doc)
	}, func() {
		jsonengine.New().Run(context.Background(), jsonengine.Request{Resource: doc, Policies: bn.Policies})
	})
	b.ReportMetric(fast, "compiled-p50-µs")
	b.ReportMetric(slow, "naive-p50-µs")
	b.ReportMetric(slow/fast, "speedup-x")
}

// interleaved runs one and other alternately, b.N times each, so that
// both see the same machine load, and returns their medians in µs.
func interleaved(b *testing.B, one, other func()) (float64, float64) {
	var a, c []time.Duration
	for b.Loop() {
		start := time.Now()
		one()
		a = append(a, time.Since(start))
		start = time.Now()
		other()
		c = append(c, time.Since(start))
	}
	slices.Sort(a)
	slices.Sort(c)
	return p50(a), p50(c)
}

// BenchmarkValue is the attribute-building step's conversion of the document
// into the plain values the engine evaluates.
func BenchmarkValue(b *testing.B) {
	_, d := benchDoc(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.Value()
	}
}

// TestEvaluateStopsWhenCancelled: once the context is done, evaluation
// stops at the next rule with an enforcing error, which denies, and a list
// series allows nothing.
func TestEvaluateStopsWhenCancelled(t *testing.T) {
	bn, d := benchDoc(t)
	doc := d.Value()
	if bn.Engine.Evaluate(context.Background(), doc).Denied() {
		t.Fatal("the document is allowed with time left")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := bn.Engine.Evaluate(ctx, doc)
	if !r.Denied() || len(r.Findings) != 1 || r.Findings[0].Policy != "(deadline)" || r.Findings[0].Kind != policy.Error {
		t.Errorf("cancelled: %+v", r)
	}
	if bn.Engine.AllowsEach(ctx)(doc) {
		t.Error("a cancelled list series allowed a tool")
	}
}

// TestExplainFailThenError: a rule whose first check fails and whose
// second cannot be evaluated is an error in the explanation, as in the
// decision, with both findings.
func TestExplainFailThenError(t *testing.T) {
	p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n" +
		"  - {name: r, assert: {all: [{message: first, check: {\"(`false`)\": true}}, {check: {\"(length(`3`))\": 1}}]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"action": "call"}
	var kinds []policy.Kind
	for _, f := range e.Evaluate(context.Background(), doc).Findings {
		kinds = append(kinds, f.Kind)
	}
	rr := e.Explain(doc)
	if len(rr) != 1 || rr[0].Outcome != policy.Fault || len(rr[0].Findings) != 2 || len(kinds) != 2 {
		t.Errorf("explain %+v, decision findings %v", rr, kinds)
	}
}

// TestDeterministic: every shipped policy gives the same findings, details
// and messages included, on every run over every sample document.
// kyverno-json visits a map's keys in random order, so a policy whose
// outcome depended on it (a binding a sibling reads, refused at load)
// would differ between runs.
func TestDeterministic(t *testing.T) {
	b := defaultBundle(t)
	for _, d := range documents(t, b) {
		doc := d.Value()
		first := b.Engine.Evaluate(context.Background(), doc).Findings
		for range 20 {
			if got := b.Engine.Evaluate(context.Background(), doc).Findings; !reflect.DeepEqual(got, first) {
				t.Fatalf("%s %s: findings differ between runs:\n%+v\n%+v", d.Phase, d.Tool.QualifiedName, first, got)
			}
		}
	}
}

// TestSkippedRulesMatchNaive: a rule is skipped for a document's action,
// phase or command dialect, or runs only the trees written for its action,
// only where kyverno-json's engine, which runs every tree, would find
// nothing either: a match with an expression that errs is an error (a
// denial) for every document, and a document whose action is not a string
// runs the whole match. Found by an attack: each of these matches was
// skipped, and the call allowed, where kyverno-json denied.
func TestSkippedRulesMatchNaive(t *testing.T) {
	matches := []string{
		"{any: [{action: call, tool: {command: {dialect: aws}}, \"(starts_with(tool.command.aws.parameters.bucket, 'prod-'))\": true}]}",
		"{all: [{action: call}, {\"(contains(tool.arguments.query, 'secret'))\": true}]}",
		"{all: [{phase: response, \"(length(response.content) > `0`)\": true}]}",
		"{any: [{action: call}], all: [{\"(length(tool.arguments.paths))\": 1}]}",
		"{any: [{action: list, \"(length(tool.arguments.paths) > `0`)\": true}, {action: call}]}",
		"{any: [{action: \"\"}, {action: call, tool: {name: x}}]}",
		"{any: [{action: call, tool: {command: {dialect: aws}}}]}",
		"{any: [{action: list, list: {kind: tool}}, {action: call, tool: {name: y}}]}",
	}
	docs := []map[string]any{
		{"action": "call", "phase": "request", "tool": map[string]any{"name": "y", "command": map[string]any{"dialect": ""}}},
		{"action": "list", "phase": "response", "list": map[string]any{"kind": "tool"}, "tool": map[string]any{"name": "y", "command": map[string]any{"dialect": ""}}},
		{"action": "call", "phase": "request", "tool": map[string]any{"name": "y", "command": map[string]any{"dialect": "aws",
			"aws": map[string]any{"parameters": map[string]any{}}}}},
		{"action": nil, "phase": "request", "tool": map[string]any{"name": "y"}},
	}
	for _, m := range matches {
		p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n" +
			"  - {name: r, match: " + m + ", assert: {all: [{check: {\"(`false`)\": true}}]}}\n"))
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		e, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docs {
			if want, got := naive(doc, []*v1alpha1.ValidatingPolicy{p}), compiled(doc, e); !slices.Equal(want, got) {
				t.Errorf("match %s on %v: compiled %v, kyverno-json %v", m, doc, got, want)
			}
		}
	}
}
