package celpolicy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/policy"
)

// load compiles the policies of testdata/<names>.yaml, in order.
func load(t testing.TB, names ...string) *Engine {
	t.Helper()
	var ps []*Policy
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		ps = append(ps, p)
	}
	e, err := Compile(ps, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// compileText decodes and compiles the one policy of text.
func compileText(t testing.TB, text string) *Engine {
	t.Helper()
	p, err := Decode([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// document is a whole attribute document: partial's members, and the
// empty value of every other one the schema requires.
func document(t testing.TB, partial map[string]any) map[string]any {
	t.Helper()
	doc, err := attributes.Schema().Complete(partial, "document")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func call(env, operation, risk string, args map[string]any) map[string]any {
	return map[string]any{
		"phase": "request", "action": "call", "environment": env,
		"tool": map[string]any{"name": "files___remove", "operation": operation, "risk": risk, "arguments": args},
	}
}

// finding is what a test compares of a finding.
type finding struct {
	rule    string
	kind    policy.Kind
	mode    policy.Mode
	message string
}

func TestEvaluate(t *testing.T) {
	e := load(t, "no-delete-in-production", "audit-wide-calls", "approve-writes")
	many := map[string]any{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
	for _, tc := range []struct {
		name string
		doc  map[string]any
		want []finding
	}{
		{"a read in production", call("production", "read", "low", map[string]any{}), nil},
		{"a delete in staging", call("staging", "delete", "low", map[string]any{}), nil},
		{"a delete in production", call("production", "delete", "low", map[string]any{}),
			[]finding{{"validations[0]", policy.Violation, policy.ModeEnforce, "tool files___remove deletes, and this is production"}}},
		{"a critical tool", call("staging", "read", "critical", map[string]any{}),
			[]finding{{"validations[1]", policy.Violation, policy.ModeEnforce, "critical tools are refused"}}},
		// The first validation that fails is the policy's finding, as
		// Kyverno evaluates them.
		{"both", call("production", "delete", "critical", map[string]any{}), []finding{
			{"validations[0]", policy.Violation, policy.ModeEnforce, "tool files___remove deletes, and this is production"}}},
		{"four arguments: audited", call("staging", "read", "low", many),
			[]finding{{"validations[0]", policy.Violation, policy.ModeAudit, "a call with more than three arguments"}}},
		{"a write: approval", call("staging", "write", "low", map[string]any{}),
			[]finding{{"validations[0]", policy.Violation, policy.ModeApproval, "writes need an approval"}}},
		{"a write approved", func() map[string]any {
			d := call("staging", "write", "low", map[string]any{})
			d["approval"] = map[string]any{"granted": true}
			return d
		}(), nil},
		{"a list: no policy applies", map[string]any{"phase": "request", "action": "list", "environment": "production"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Evaluate(context.Background(), document(t, tc.doc))
			var got []finding
			for _, f := range res.Findings {
				got = append(got, finding{f.Rule, f.Kind, f.Mode, f.Message})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings\n got %v\nwant %v", got, tc.want)
			}
			allowed := e.AllowsEach(context.Background())(document(t, tc.doc))
			if allowed == res.Denied() {
				t.Errorf("AllowsEach says %v, Evaluate denied=%v", allowed, res.Denied())
			}
		})
	}
}

func TestApprovalFromAnnotations(t *testing.T) {
	e := load(t, "approve-writes")
	res := e.Evaluate(context.Background(), document(t, call("staging", "write", "low", map[string]any{})))
	if len(res.Findings) != 1 || res.Findings[0].Approval == nil {
		t.Fatalf("findings %+v", res.Findings)
	}
	a := res.Findings[0].Approval
	if !slices.Equal(a.Approvers, []string{"sre"}) || a.TTLSeconds != 1800 {
		t.Errorf("approval %+v, want approvers [sre] and 1800 s", a)
	}
}

// policyText is a policy of one validation, expr, in JSON mode.
func policyText(actions, expr string, extra ...string) string {
	return strings.Join(append([]string{
		"apiVersion: policies.kyverno.io/v1",
		"kind: ValidatingPolicy",
		"metadata: {name: p}",
		"spec:",
		"  evaluation: {mode: JSON}",
		"  validationActions: " + actions,
		"  validations:",
		"  - expression: " + expr,
	}, extra...), "\n")
}

// TestFailsClosed: whatever an expression meets in the document, a
// validation it cannot evaluate denies, in the policy's mode.
func TestFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		doc        map[string]any
	}{
		{"a missing argument", `object.tool.arguments.path != "/etc"`, call("staging", "read", "low", map[string]any{})},
		{"an argument of another type", `object.tool.arguments.count > 3`, call("staging", "read", "low", map[string]any{"count": "many"})},
		{"a response at the request point", `object.response.statusCode == 200`, call("staging", "read", "low", map[string]any{})},
		{"a bad pattern from the document", `object.tool.name.matches(object.tool.arguments.pattern)`,
			call("staging", "read", "low", map[string]any{"pattern": "("})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []struct {
				actions string
				want    policy.Mode
			}{{"[Deny]", policy.ModeEnforce}, {"[Audit]", policy.ModeAudit}} {
				e := compileText(t, policyText(mode.actions, "'"+tc.expr+"'"))
				res := e.Evaluate(context.Background(), document(t, tc.doc))
				if len(res.Findings) != 1 || res.Findings[0].Kind != policy.Error || res.Findings[0].Mode != mode.want {
					t.Fatalf("%s: findings %+v, want one error in mode %s", mode.actions, res.Findings, mode.want)
				}
				if d := res.Findings[0].Detail; strings.Contains(d, "/etc") || strings.Contains(d, "many") || strings.Contains(d, "pattern") && tc.name != "a bad pattern from the document" {
					t.Errorf("detail %q quotes the document", d)
				}
			}
		})
	}
}

// TestLoopStopsAtDeadline: a loop over a hostile list stops once the
// deadline passes, denying.
func TestLoopStopsAtDeadline(t *testing.T) {
	big := make([]any, 20000)
	for i := range big {
		big[i] = "x"
	}
	e := compileText(t, policyText("[Audit]", "'object.tool.arguments.list.all(a, object.tool.arguments.list.all(b, a == b))'"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := e.Evaluate(ctx, document(t, call("staging", "read", "low", map[string]any{"list": big})))
	if len(res.Findings) != 1 || res.Findings[0].Kind != policy.Error || res.Findings[0].Mode != policy.ModeAudit {
		t.Fatalf("findings %+v, want the loop's error", res.Findings)
	}
}

func TestDeadline(t *testing.T) {
	e := load(t, "no-delete-in-production")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := e.Evaluate(ctx, document(t, call("staging", "read", "low", map[string]any{})))
	if !res.Denied() || res.Findings[0].Policy != "(deadline)" {
		t.Errorf("findings %+v, want the deadline's denial", res.Findings)
	}
	if e.AllowsEach(ctx)(document(t, call("staging", "read", "low", map[string]any{}))) {
		t.Error("AllowsEach allows once ctx is done")
	}
	// Audit-only policies too: AllowsEach skips them, not the deadline.
	audit := load(t, "audit-wide-calls")
	if audit.AllowsEach(ctx)(document(t, call("staging", "read", "low", map[string]any{}))) {
		t.Error("AllowsEach of audit-only policies allows once ctx is done")
	}
}

// TestLoadErrors: an author's mistake fails at compile, naming the member
// and saying what is wrong.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		at        []any
		want      string
	}{
		{"a misspelt path", policyText("[Deny]", "object.tol.name == 'x'"),
			[]any{"spec", "validations", 0, "expression"}, "undefined field 'tol'"},
		{"a misspelt nested path", policyText("[Deny]", "object.tool.operaton == 'x'"),
			[]any{"spec", "validations", 0, "expression"}, "undefined field 'operaton'"},
		{"a string compared with a list", policyText("[Deny]", "object.tool.labels == 'x'"),
			[]any{"spec", "validations", 0, "expression"}, "no matching overload"},
		{"not a bool", policyText("[Deny]", "object.tool.name"),
			[]any{"spec", "validations", 0, "expression"}, "the expression is string, not bool"},
		{"a syntax error", policyText("[Deny]", "object.tool.name =="),
			[]any{"spec", "validations", 0, "expression"}, "Syntax error"},
		{"a variable read before it is declared", policyText("[Deny]", "variables.first", "  variables:", "  - {name: first, expression: variables.later}", "  - {name: later, expression: 'true'}"),
			[]any{"spec", "variables", 0, "expression"}, "undefined field 'later'"},
		{"a misspelt variable", policyText("[Deny]", "variables.isProd", "  variables:", "  - {name: isProduction, expression: \"object.environment == 'production'\"}"),
			[]any{"spec", "validations", 0, "expression"}, "undefined field 'isProd'"},
		{"a message expression that is no string", policyText("[Deny]", "'true'", "    messageExpression: object.tool.labels"),
			[]any{"spec", "validations", 0, "messageExpression"}, "not string"},
		// cel-go v0.20.1's checker panics on format() of a receiver that
		// is no literal: an error at the member, not a crash at load.
		{"an expression cel-go's checker panics on", policyText("[Deny]", "'true'", `    messageExpression: "('tool %s' + '').format([object.tool.qualifiedName])"`),
			[]any{"spec", "validations", 0, "messageExpression"}, "could not be compiled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile([]*Policy{p}, policy.Declared{})
			var pe *policy.PolicyError
			var fe *policy.FieldError
			if !errors.As(err, &pe) || !errors.As(err, &fe) {
				t.Fatalf("error %v: want a PolicyError around a FieldError", err)
			}
			if !slices.Equal(fe.At, tc.at) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error at %v: %v\nwant at %v: %q", fe.At, err, tc.at, tc.want)
			}
		})
	}
}

// TestDecodeErrors: what a ValidatingPolicy may say that toolgate cannot
// honour, or an author cannot mean, is refused when it loads.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"Ignore", policyText("[Deny]", "'true'") + "\n  failurePolicy: Ignore", "fails closed"},
		{"no actions", strings.Replace(policyText("[Deny]", "'true'"), "  validationActions: [Deny]\n", "", 1), "validationActions is required"},
		{"Deny and Warn", policyText("[Deny, Warn]", "'true'"), "Deny and Warn"},
		{"an unknown action", policyText("[Block]", "'true'"), `"Block"`},
		{"Kubernetes mode", strings.Replace(policyText("[Deny]", "'true'"), "mode: JSON", "mode: Kubernetes", 1), "only JSON"},
		{"no mode", strings.Replace(policyText("[Deny]", "'true'"), "  evaluation: {mode: JSON}\n", "", 1), "only JSON"},
		{"matchConstraints", policyText("[Deny]", "'true'") + "\n  matchConstraints: {}", "unknown field"},
		{"the mode annotation", strings.Replace(policyText("[Deny]", "'true'"), "metadata: {name: p}", "metadata: {name: p, annotations: {policies.toolgate.dev/mode: audit}}", 1), "validationActions"},
		{"a misspelt annotation", strings.Replace(policyText("[Deny]", "'true'"), "metadata: {name: p}", "metadata: {name: p, annotations: {policies.toolgate.dev/approver: sre}}", 1), "did you mean"},
		{"no validation", strings.Replace(policyText("[Deny]", "'true'"), "  validations:\n  - expression: 'true'", "", 1), "validations is empty"},
		{"a variable twice", policyText("[Deny]", "'true'", "  variables:", "  - {name: a, expression: 'true'}", "  - {name: a, expression: 'false'}"), `"a" twice`},
		{"a variable name CEL cannot read", policyText("[Deny]", "'true'", "  variables:", "  - {name: is-prod, expression: 'true'}"), "CEL identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	e := load(t, "no-delete-in-production", "audit-wide-calls")
	var got []string
	for _, r := range e.Explain(document(t, call("production", "delete", "low", map[string]any{}))) {
		got = append(got, r.Policy+"/"+r.Rule+" "+r.Outcome)
	}
	want := []string{"no-delete-in-production/validations[0] fail", "no-delete-in-production/validations[1] skip", "audit-wide-calls/validations[0] pass"}
	if !slices.Equal(got, want) {
		t.Errorf("explain\n got %q\nwant %q", got, want)
	}
}

// BenchmarkEvaluate: one decision on three policies (a denial's
// messageExpression included), the shape of a small bundle.
func BenchmarkEvaluate(b *testing.B) {
	e := load(b, "no-delete-in-production", "audit-wide-calls", "approve-writes")
	for _, tc := range []struct {
		name string
		doc  map[string]any
	}{
		{"allowed", document(b, call("production", "read", "low", map[string]any{"path": "/tmp/x"}))},
		{"denied", document(b, call("production", "delete", "low", map[string]any{"path": "/tmp/x"}))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(context.Background(), tc.doc)
			}
		})
	}
}

// TestLiterals: a document member compared with a value it never holds
// (a misspelt risk, an environment, label or claim the catalog does not
// declare) fails to compile, as kyverno-json's path checks fail.
func TestLiterals(t *testing.T) {
	declared := policy.Declared{Claims: []string{"department", "cognito:groups"}, Environments: []string{"production", "staging"}, Labels: []string{"pii", "external"}}
	for _, tc := range []struct{ name, expr, want string }{
		{"a misspelt risk", `object.tool.risk == "crtical"`, `"crtical", which it never holds: it is one of low, medium, high, critical (did you mean "critical"?)`},
		{"a misspelt risk on the right", `"crtical" != object.tool.risk`, `"crtical"`},
		{"a misspelt action in a list", `object.action in ["call", "lst"]`, `"lst"`},
		{"an undeclared environment", `object.environment == "prod"`, `the catalog's environments are production, staging`},
		{"an undeclared label", `"pi" in object.tool.labels`, `the catalog gives no tool that label`},
		{"an undeclared claim", `object.principal.claims.departement == "x"`, `reads claim "departement", which the catalog's claims do not declare (did you mean "department"?)`},
		{"an undeclared claim by index", `object.principal.claims["cognito:group"] == "x"`, `"cognito:group"`},
		{"an undeclared claim in has()", `has(object.principal.claims.dept)`, `reads claim "dept"`},
		{"an undeclared claim in in", `!("departement" in object.principal.claims)`, `reads claim "departement"`},
		{"an undeclared claim selected optionally", `object.principal.claims.?departement.orValue("x") != "y"`, `reads claim "departement"`},
		{"an undeclared label's calls", `!("destructve" in object.session.labelCalls)`, `reads the calls of label "destructve"`},
		{"an undeclared label's calls in has()", `!has(object.session.labelCalls.destructve)`, `reads the calls of label "destructve"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode([]byte(policyText("[Deny]", "'"+tc.expr+"'")))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile([]*Policy{p}, declared)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	for _, expr := range []string{`object.tool.risk == "critical"`, `object.environment in ["production", "staging"]`, `"pii" in object.tool.labels`,
		`object.principal.claims.department == "x"`, `object.principal.claims["cognito:groups"] == "x"`, `object.tool.name == "anything"`} {
		p, err := Decode([]byte(policyText("[Deny]", "'"+expr+"'")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compile([]*Policy{p}, declared); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

func TestReadersAndEnvironments(t *testing.T) {
	compile := func(actions string, exprs ...string) *Engine {
		t.Helper()
		var ps []*Policy
		for _, expr := range exprs {
			p, err := Decode([]byte(policyText(actions, "'"+expr+"'")))
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		e, err := Compile(ps, policy.Declared{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name                  string
		e                     *Engine
		sessions, definitions policy.Mode
	}{
		{"neither", compile("[Deny]", `object.tool.name != "x"`), "", ""},
		{"the session, enforced", compile("[Deny]", `object.session.calls < 100`), policy.ModeEnforce, ""},
		{"the session, audited", compile("[Audit]", `has(object.session.labels)`), policy.ModeAudit, ""},
		{"a definition", compile("[Deny]", `object.tool.definition.status != "changed"`), "", policy.ModeEnforce},
		{"the document whole", compile("[Audit]", `[object].size() == 1`), policy.ModeAudit, policy.ModeAudit},
		// A member used as a value reads all under it (the eighth attack
		// round's: each of these read tool.definition unseen, and a call
		// of a tool whose definition changed was allowed).
		{"a definition through a comprehension", compile("[Deny]", `[object.tool].all(t, t.definition.status != "changed")`), "", policy.ModeEnforce},
		{"a definition through dyn()", compile("[Deny]", `dyn(object.tool).definition.status != "changed"`), "", policy.ModeEnforce},
		{"a definition through a ternary", compile("[Deny]", `(true ? object.tool : object.tool).definition.status != "changed"`), "", policy.ModeEnforce},
		{"a definition selected optionally", compile("[Deny]", `object.tool.?definition.?status.orValue("") != "changed"`), "", policy.ModeEnforce},
		{"a definition through optional.of", compile("[Deny]", `optional.of(object.tool).value().definition.status != "changed"`), "", policy.ModeEnforce},
		{"a member beside the definition", compile("[Deny]", `object.tool.name != "x"`), "", ""},
	} {
		r := tc.e.Readers()
		if r.Sessions != tc.sessions || r.Definitions != tc.definitions {
			t.Errorf("%s: sessions %q definitions %q, want %q %q", tc.name, r.Sessions, r.Definitions, tc.sessions, tc.definitions)
		}
	}
	// Through a variable.
	p, err := Decode([]byte(policyText("[Deny]", `"variables.t.definition.status != 'changed'"`, "  variables:", "  - {name: t, expression: object.tool}")))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil || v.Readers().Definitions != policy.ModeEnforce {
		t.Errorf("a definition through a variable: %v %+v", err, v.Readers())
	}
	e := compile("[Deny]", `object.environment == "production" || object.environment in ["staging", "dev"]`)
	if got := e.Environments(); len(got) != 3 || !got["production"] || !got["staging"] || !got["dev"] {
		t.Errorf("environments %v", got)
	}
}

// TestDetailHoldsNoData: an error's detail names its kind, never the
// document's data, whatever cel-go's message holds.
func TestDetailHoldsNoData(t *testing.T) {
	const secret = "eyJhbGciOi-secret-value"
	for _, expr := range []string{
		`timestamp("2026-11-23T12:00:00Z").getHours(object.principal.claims.zoneinfo) >= 9`,
		`object.tool.arguments.list.slice(0, int(object.tool.arguments.n)).size() > 0`,
		`object.tool.arguments[object.principal.claims.zoneinfo] == 1`,
		`int(object.principal.claims.zoneinfo) > 0`,
		`object.tool.name.matches(object.principal.claims.zoneinfo + "(")`,
	} {
		e := compileText(t, policyText("[Deny]", "'"+expr+"'"))
		doc := call("staging", "read", "low", map[string]any{"list": []any{"a"}, "n": 123456789.0})
		doc["principal"] = map[string]any{"claims": map[string]any{"zoneinfo": secret}}
		res := e.Evaluate(context.Background(), document(t, doc))
		if len(res.Findings) != 1 || res.Findings[0].Kind != policy.Error {
			t.Fatalf("%s: %+v", expr, res.Findings)
		}
		if d := res.Findings[0].Detail; strings.Contains(d, "secret") || strings.Contains(d, "123456789") {
			t.Errorf("%s: detail %q", expr, d)
		}
	}
}

// TestAnsweredWhenWhole: a policy that reads the document whole may read
// the response, so its findings are the RESPONSE point's own.
func TestAnsweredWhenWhole(t *testing.T) {
	e := compileText(t, policyText("[Deny]", `"dyn(object)['re' + 'sponse'].size <= 100"`))
	doc := call("staging", "read", "low", map[string]any{})
	doc["phase"], doc["response"] = "response", map[string]any{"size": 1000.0}
	res := e.Evaluate(context.Background(), document(t, doc))
	if len(res.Findings) != 1 || !res.Findings[0].Answered {
		t.Errorf("findings %+v, want one marked Answered", res.Findings)
	}
}

// TestKyvernoLibraries: Kyverno's hash, JSON and time functions give
// Kyverno's results (TestAgainstKyverno compares them with Kyverno's own
// command line where it is built).
func TestKyvernoLibraries(t *testing.T) {
	for _, expr := range []string{
		`sha256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"`,
		`hash.md5("a") == md5("a") && md5("a") == "0cc175b9c0f1b6a831c399e269772661"`,
		`sha1("a") == "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"`,
		`json.unmarshal('{"x": [1, 2.5, "a"], "y": {"b": true}}').y.b`,
		`json.marshal({"b": "2", "a": "1"}) == '{"a":"1","b":"2"}'`,
		`json.marshal(json.unmarshal('[1, 2.5, null, true, "x"]')) == '[1,2.5,null,true,"x"]'`,
		`time.toCron(timestamp("2026-11-23T12:34:56Z")) == "34 12 23 11 1"`,
		`time.truncate(timestamp("2026-11-23T12:34:56Z"), duration("1h")) == timestamp("2026-11-23T12:00:00Z")`,
		`time.now() > timestamp("2026-01-01T00:00:00Z")`,
		`cel.bind(n, "ab", n + n) == "abab"`,
	} {
		p, err := Decode([]byte(policyText("[Deny]", "'"+strings.ReplaceAll(expr, "'", "''")+"'")))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile([]*Policy{p}, policy.Declared{})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if res := e.Evaluate(context.Background(), document(t, call("staging", "read", "low", map[string]any{}))); len(res.Findings) != 0 {
			t.Errorf("%s: %+v", expr, res.Findings)
		}
	}
	// What is no JSON is an error, which denies.
	e := compileText(t, policyText("[Deny]", `'json.unmarshal("{") == null'`))
	if res := e.Evaluate(context.Background(), document(t, call("staging", "read", "low", map[string]any{}))); !res.Denied() {
		t.Errorf("unmarshal of no JSON: %+v", res.Findings)
	}
}

// TestVariablesAsKyverno: as Kyverno's engine does, a variable is
// evaluated when an expression first reads it and kept for the policy's
// other expressions; one no expression reads is never evaluated, so its
// error is no finding; a variable that reads neither the document nor
// the clock is computed once, when it compiles.
func TestVariablesAsKyverno(t *testing.T) {
	p, err := Decode([]byte(policyText("[Deny]", `"variables.risk != 'critical'"`,
		`  - expression: "variables.risk in variables.table"`,
		"  variables:",
		"  - {name: unread, expression: object.tool.arguments.missing}",
		`  - {name: table, expression: "{'low': 1, 'high': 3}"}`,
		"  - {name: now, expression: time.now()}",
		"  - {name: risk, expression: object.tool.risk}")))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	c := &e.policies[0]
	for i, want := range []bool{false, true, false, false} {
		if got := c.variables[i].constant != nil; got != want {
			t.Errorf("variable %s: constant %v, want %v", c.variables[i].name, got, want)
		}
	}
	act := newActivation(context.Background(), document(t, call("staging", "read", "low", map[string]any{})))
	var res policy.Result
	c.evaluate(context.Background(), act, &res, nil, false)
	if len(res.Findings) != 0 {
		t.Fatalf("findings %+v, want none: the variable that fails is never read", res.Findings)
	}
	// The table, a constant, is read where the validation is planned.
	for i, want := range []bool{false, false, false, true} {
		if got := act.variables.values[i].val != nil; got != want {
			t.Errorf("variable %s: evaluated %v, want %v", c.variables[i].name, got, want)
		}
	}
	if v := act.variables.values[3].val; v.Equal(types.String("low")) != types.True {
		t.Errorf("risk = %v", v)
	}
}
