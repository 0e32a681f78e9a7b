package bundle_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/policies"
)

func TestLoadEmbedded(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Policies) < 5 || b.Catalog == nil || len(b.Tests) < 5 || b.Engine == nil || b.Redactor == nil {
		t.Errorf("policies %d catalog %v tests %d", len(b.Policies), b.Catalog != nil, len(b.Tests))
	}
	for _, p := range b.Policies {
		if p.Annotations[policy.DescriptionAnnotation] == "" {
			t.Errorf("policy %s has no one-line description", p.Name)
		}
	}
}

// TestDigestIsContentAddressed: the same files give the same digest wherever
// they are loaded from; a change of one byte changes it.
func TestDigestIsContentAddressed(t *testing.T) {
	embedded, err := bundle.Open("", policies.FS, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := bundle.Open("../../policies", policies.FS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Digest != dir.Digest || !strings.HasPrefix(embedded.Digest, "sha256:") {
		t.Errorf("embedded %s, directory %s", embedded.Digest, dir.Digest)
	}
	if dir.Source != "dir:../../policies" || embedded.Source != "embedded" {
		t.Errorf("sources %s, %s", embedded.Source, dir.Source)
	}
	fsys := fstest.MapFS{}
	for _, name := range []string{"policy.yaml", "tests/read-only.yaml"} {
		data, err := os.ReadFile("../../testdata/bundles/minimal/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: data}
	}
	a, err := bundle.Load(fsys, "a")
	if err != nil {
		t.Fatal(err)
	}
	fsys["policy.yaml"].Data = append(fsys["policy.yaml"].Data, '\n')
	b, err := bundle.Load(fsys, "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest == b.Digest {
		t.Error("a changed file kept the digest")
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		source string
		want   string // error substring; "" for success
	}{
		{"", ""},
		{"../../testdata/bundles/minimal", ""},
		{"s3://bucket/prefix", "unsupported source"},
		{"https://example.com/bundle", "unsupported source"},
		{"/nonexistent/bundle", "no such file"},
		{"../../testdata/bundles/minimal/policy.yaml", "not a directory"},
		{"../../testdata/bundles/broken-policy", `policies.yaml:21:5: json: unknown field "asert"`},
		{"../../testdata/events", "no policies found"},
	}
	for _, tt := range tests {
		_, err := bundle.Open(tt.source, policies.FS, nil)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.source, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: error %v, want one containing %q", tt.source, err, tt.want)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	policy := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {phase: request}}]}}]}\n"
	catalog := "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {defaultRisk: low}\n"
	redaction := "apiVersion: toolgate.dev/v1alpha1\nkind: Redaction\nmetadata: {name: r}\nspec:\n rules:\n - name: r\n"
	limit := func(name, spec string) string {
		return "# a limit\napiVersion: toolgate.dev/v1alpha1\nkind: RateLimit\nmetadata: {name: " + name + "}\nspec: {" + spec + "}\n"
	}
	contain := func(name, spec string) string {
		return "# a containment\napiVersion: toolgate.dev/v1alpha1\nkind: Containment\nmetadata: {name: " + name + "}\nspec: {" + spec + "}\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown kind", map[string]string{"p.yaml": policy, "x.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, `x.yaml:1: unknown document apiVersion "v1" kind "ConfigMap"`},
		{"two catalogs", map[string]string{"p.yaml": policy, "c.yaml": catalog + "---\n" + catalog}, "c.yaml:5: a bundle has at most one ToolCatalog"},
		{"bad catalog", map[string]string{"p.yaml": policy, "c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {defaultRisk: extreme}\n"}, "defaultRisk"},
		{"catalog unknown field", map[string]string{"p.yaml": policy, "c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {tool: {}}\n"}, "unknown field"},
		{"duplicate policy", map[string]string{"a.yaml": policy, "b.yaml": policy}, `duplicate policy name "p"`},
		{"only comments", map[string]string{"a.yaml": "# nothing\n---\n# more\n"}, "no policies found"},
		{"redaction unknown detector", map[string]string{"p.yaml": policy, "r.yaml": redaction + "   detectors: [ssn]\n"}, `r.yaml:1: redaction rule r: unknown detector "ssn"`},
		{"redaction unknown field", map[string]string{"p.yaml": policy, "r.yaml": redaction + "   detector: [email]\n"}, `unknown field "detector"`},
		{"rate limit without a limit", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "window: 1m")}, "l.yaml:1: spec.limit 0: want at least 1"},
		{"rate limit window too long", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 2d")}, `l.yaml:1: spec.window: "2d": want whole seconds from 1s to 24h, or 1d`},
		{"rate limit window in milliseconds", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1500ms")}, "spec.window"},
		{"rate limit key not a document field", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, key: [user.id]")}, `spec.key[0] "user.id": not a field of the attribute document`},
		{"rate limit match reads $rule, which only a policy has", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, match: {any: [{($rule.name): x}]}")},
			"l.yaml:5:45: rate limit l: $rule is not defined here"},
		{"rate limit unknown field", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, burst: 3")}, `l.yaml:5:30: json: unknown field "burst"`},
		{"rate limit exceeded", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, exceeded: queue")}, `spec.exceeded "queue": want deny`},
		{"rate limit bad name", map[string]string{"p.yaml": policy, "l.yaml": limit("Calls", "limit: 1, window: 1m")}, `metadata.name "Calls"`},
		{"containment without a threshold", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], window: 1m, quarantine: 1h")}, "c.yaml:1: spec.threshold 0: want at least 1"},
		{"containment keyed on what the caller chooses", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id, mcp.sessionId], threshold: 5, window: 1m, quarantine: 1h")},
			`c.yaml:1: spec.key[1] "mcp.sessionId": want principal.id, principal.actor or principal.issuer`},
		{"containment keyed on what many callers share", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id, principal.groups], threshold: 5, window: 1m, quarantine: 1h")},
			`c.yaml:1: spec.key[1] "principal.groups": want principal.id,`},
		{"containment keyed without the principal's id", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.actor], threshold: 5, window: 1m, quarantine: 1h")},
			"c.yaml:1: spec.key: name principal.id"},
		{"containment audit-only failing open", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], threshold: 5, window: 1m, quarantine: 1h, mode: audit, failOpen: true")},
			"c.yaml:1: spec.failOpen: an audit-only containment reads no quarantine"},
		{"containment without a key", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "threshold: 5, window: 1m, quarantine: 1h")}, "c.yaml:1: spec.key: name principal.id"},
		{"containment key misspelt", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.actr], threshold: 5, window: 1m, quarantine: 1h")}, `c.yaml:1: spec.key[0] "principal.actr": want principal.id`},
		{"containment quarantine too long", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], threshold: 5, window: 1m, quarantine: 8d")},
			`c.yaml:1: spec.quarantine: "8d": want whole seconds from 1m to 168h, or 1d to 7d`},
		{"containment mode misspelt", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], threshold: 5, window: 1m, quarantine: 1h, mode: Audit")}, `spec.mode "Audit": want enforce or audit`},
		{"containment unknown field", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], threshold: 5, window: 1m, quarantine: 1h, limit: 3")}, `unknown field "limit"`},
		{"containment twice", map[string]string{"p.yaml": policy, "c.yaml": contain("c", "key: [principal.id], threshold: 5, window: 1m, quarantine: 1h") + "---\n" + contain("c", "key: [principal.id], threshold: 6, window: 1m, quarantine: 1h")}, "two Containment documents are named c"},
		{"two ToolPins", map[string]string{"p.yaml": policy, "a.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolPins\nspec: {trustOnFirstUse: true}\n---\napiVersion: toolgate.dev/v1alpha1\nkind: ToolPins\nspec: {}\n"},
			"a.yaml:5: a bundle has at most one ToolPins document; the other is at a.yaml:1"},
		{"ToolPins misspelt", map[string]string{"p.yaml": policy, "a.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolPins\nspec: {trustOnFirstUsage: true}\n"}, `a.yaml:3:8: json: unknown field "trustOnFirstUsage"`},
		{"ToolPins digest", map[string]string{"p.yaml": policy, "a.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolPins\nspec: {tools: {k8s___get-pod: sha256:abc}}\n"}, `a.yaml:1: spec.tools.k8s___get-pod: "sha256:abc" is not a digest`},
		{"rate limit twice", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m") + "---\n" + limit("l", "limit: 2, window: 1m")}, "two RateLimit documents are named l"},
		{"redaction without rules", map[string]string{"p.yaml": policy, "r.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: Redaction\nspec: {rules: []}\n"}, "spec.rules is empty"},
		{"every error reported", map[string]string{"p.yaml": policy, "x.yaml": "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n"}, `x.yaml:1: unknown document apiVersion "v1" kind "A"` + "\n" + `x.yaml:4: unknown document apiVersion "v1" kind "B"`},
		{"rate limit key misspelt", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, key: [principal.idd]")}, "l.yaml:5:36: rate limit l: `idd` is not a member of principal (did you mean `id`?)"},
		{"rate limit match misspelt", map[string]string{"p.yaml": policy, "l.yaml": limit("l", "limit: 1, window: 1m, match: {any: [{tool: {operaton: execute}}]}")}, "rate limit l: `operaton` is not a member of tool (did you mean `operation`?)"},
		{"environment not declared", map[string]string{"c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [production, dev]}\n",
			"p.yaml": "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    match: {all: [{environment: prod}]}\n    assert: {all: [{check: {phase: request}}]}\n"},
			"p.yaml:7:20: policy p: environment is compared with \"prod\", which it never holds: the catalog's environments are production, dev"},
		{"target environment not declared", map[string]string{"p.yaml": policy, "c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [production], targets: {billing: {environment: staging}}}\n"},
			`target "billing": environment "staging" is not one of environments (production)`},
		{"no environments", map[string]string{"p.yaml": policy, "c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: []}\n"}, "environments: empty"},
		{"claim not declared", map[string]string{"c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {claims: [department]}\n",
			"p.yaml": "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {principal: {claims: {dept: x}}}}]}}]}\n"},
			"policy p: reads claim `dept`, which the catalog's claims do not declare"},
		{"a base disabling what it does not have", map[string]string{"p.yaml": policy, "b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec:\n  bundle: embedded\n  disable: [risk-cieling]\n"},
			`b.yaml:5:13: spec.disable: the base has no policy, RateLimit, Containment or Redaction rule named "risk-cieling" (did you mean "risk-ceiling"?)`},
		{"a bundle policy with a base policy's name", map[string]string{"p.yaml": strings.Replace(policy, "{name: p}", "{name: risk-ceiling}", 1),
			"b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n"},
			`b.yaml:1: "risk-ceiling" is also the name of the base's: list it in spec.replace to replace the base's, or rename it`},
		{"a replacement the base does not have", map[string]string{"p.yaml": policy, "b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded, replace: [tool-allowlist]}\n"},
			`spec.replace: the base has no policy, RateLimit, Containment or Redaction rule named "tool-allowlist" (did you mean "tool-allow-list"?)`},
		{"a directory base of a bundle not opened from a directory", map[string]string{"p.yaml": policy, "b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: ../platform}\n"},
			`b.yaml:3:8: base ../platform: a directory base is read from beside a bundle opened from a directory`},
		{"two bases", map[string]string{"p.yaml": policy, "b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n---\napiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n"},
			"a bundle has at most one BundleBase"},
		{"a catalog that breaks the base's", map[string]string{"p.yaml": policy, "b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n",
			"c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [prod]}\n"},
			"the catalog over the base's: target \"billing\": environment \"production\" is not one of environments (prod)"},
		{"an expression that does not parse", map[string]string{"p.yaml": "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    assert:\n      all:\n      - check:\n          (length(tool.labels) ==): true\n"},
			`p.yaml:10:11: policy p rule r: spec.rules[0].assert.all[0].check.(length(tool.labels) ==): Invalid value: "length(tool.labels) ==": SyntaxError: Incomplete expression`},
		{"a context variable that does not parse", map[string]string{"p.yaml": "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    context:\n    - {name: x, variable: (tool.risk ==)}\n    assert: {all: [{check: {phase: request}}]}\n"},
			`p.yaml:8:17: policy p rule r: spec.rules[0].context[0].variable`},
		{"an expression the JMESPath lexer panics on", map[string]string{"p.yaml": "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    assert: {all: [{check: {\"(A\\u0080)\": true}}]}\n"},
			"p.yaml:7:29: policy p rule r: spec.rules[0].assert.all[0].check.(A\u0080): Invalid value: \"A\\u0080\": the expression cannot be parsed"},
		{"redaction rule names across files", map[string]string{"p.yaml": policy, "r.yaml": redaction + "   detectors: [email]\n", "s.yaml": redaction + "   detectors: [jwt]\n"}, `duplicate redaction rule "r"`},
		// CEL ValidatingPolicies: each error at its member's line, with
		// cel-go's message.
		{"a CEL path misspelt", map[string]string{"q.yaml": celPolicy("q", "object.tol.name == 'x'")},
			"q.yaml:9:5: policy q: ERROR: <input>:1:7: undefined field 'tol'"},
		{"a CEL validation that is no bool", map[string]string{"q.yaml": celPolicy("q", "object.tool.name")}, "q.yaml:9:5: policy q: the expression is string, not bool"},
		{"a CEL policy failing open", map[string]string{"q.yaml": celPolicy("q", "true") + "  failurePolicy: Ignore\n"}, "q.yaml:10:3: policy q: failurePolicy Ignore"},
		{"a CEL policy misspelt", map[string]string{"q.yaml": strings.Replace(celPolicy("q", "true"), "validations:", "validation:", 1)}, `q.yaml:8:3: json: unknown field "validation"`},
		{"a CEL environment not declared", map[string]string{"c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [production, dev]}\n",
			"q.yaml": celPolicy("q", "object.environment != 'prod'")}, `q.yaml:9:5: policy q: object.environment is compared with "prod", which it never holds: the catalog's environments are production, dev`},
		{"a CEL claim not declared", map[string]string{"c.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {claims: [department]}\n",
			"q.yaml": celPolicy("q", "object.principal.claims.dept == 'x'")}, `reads claim "dept", which the catalog's claims do not declare`},
		{"a policy name in both dialects", map[string]string{"p.yaml": policy, "q.yaml": celPolicy("p", "true")}, `q.yaml:1: duplicate policy name "p" (also at p.yaml:1)`},
		{"a CEL policy with a base policy's name", map[string]string{"q.yaml": celPolicy("risk-ceiling", "true"),
			"b.yaml": "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n"},
			`"risk-ceiling" is also the name of the base's`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			_, err := bundle.Load(fsys, "test")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// celPolicy is a CEL ValidatingPolicy named name of one validation, expr,
// on line 9 (its expression member at column 5).
func celPolicy(name, expr string) string {
	return "apiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata:\n  name: " + name +
		"\nspec:\n  evaluation: {mode: JSON}\n  validationActions: [Deny]\n  validations:\n  - expression: \"" + expr + "\"\n"
}

// TestCELPolicies: a bundle's policies in both dialects are evaluated
// together, explained together, and replace a base's in either.
func TestCELPolicies(t *testing.T) {
	b, err := bundle.Load(fstest.MapFS{
		"p.yaml": {Data: []byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    assert: {all: [{check: {(tool.risk != 'critical'): true}}]}\n")},
		"q.yaml": {Data: []byte(celPolicy("q", "object.tool.operation != 'delete'") + "---\n" + strings.Replace(celPolicy("s", "object.session.calls < 10"), "[Deny]", "[Audit]", 1))},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.PolicyNames(); !slices.Equal(got, []string{"p", "q", "s"}) {
		t.Errorf("policies %v", got)
	}
	if b.Sessions != policy.ModeAudit {
		t.Errorf("sessions %q: the audit-only CEL policy reads them", b.Sessions)
	}
	doc := map[string]any{"tool": map[string]any{"risk": "critical", "operation": "delete"}, "session": map[string]any{"calls": 20.0}}
	var got []string
	for _, f := range b.Engine.Evaluate(t.Context(), doc).Findings {
		got = append(got, f.Policy+" "+string(f.Mode))
	}
	if want := []string{"p enforce", "q enforce", "s audit"}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	var rules []string
	for _, r := range b.Engine.Rules() {
		rules = append(rules, r.Policy+"/"+r.Name)
	}
	if want := []string{"p/r", "q/validations[0]", "s/validations[0]"}; !slices.Equal(rules, want) {
		t.Errorf("rules %v, want %v", rules, want)
	}

	// A done context denies, though the kyverno-json engine, whose rules
	// match no call, says nothing of it (the eighth attack round's: the
	// CEL policies after it were skipped, and the call allowed).
	mixed, err := bundle.Load(fstest.MapFS{
		"a.yaml": {Data: []byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: lists}\nspec:\n  rules:\n  - name: r\n    match: {any: [{action: list}]}\n    assert: {all: [{check: {tool: {(operation == 'delete'): false}}}]}\n")},
		"b.yaml": {Data: []byte(celPolicy("calls", "object.tool.operation != 'delete'"))},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if res := mixed.Engine.Evaluate(ctx, map[string]any{"action": "call", "tool": map[string]any{"operation": "read"}}); !res.Denied() {
		t.Errorf("a done context: %+v", res.Findings)
	}

	// A base's kyverno-json policy replaced by a CEL one.
	b, err = bundle.Load(fstest.MapFS{
		"b.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded, replace: [risk-ceiling]}\n")},
		"q.yaml": {Data: []byte(celPolicy("risk-ceiling", "object.tool.risk != 'critical'"))},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(b.PolicyNames(), " "), "risk-ceiling"); n != 1 || len(b.CELPolicies) != 1 {
		t.Errorf("risk-ceiling %d times, %d CEL policies", n, len(b.CELPolicies))
	}
}

// TestTypos: the typos a new user made in a first bundle, each of which
// used to load and silently weaken it, fail the load, each at its line
// and column, with the name meant.
func TestTypos(t *testing.T) {
	_, err := bundle.Open("../../testdata/bundles/typos", nil, nil)
	if err == nil {
		t.Fatal("the bundle loaded")
	}
	for _, want := range []string{
		"policies.yaml:9:5: policy refunds-need-data-owners: unknown annotation policies.toolgate.dev/approver (did you mean policies.toolgate.dev/approvers?)",
		"policies.yaml:32:9: policy no-contractor-exports-in-production: `enviroment` is not a member of the document (did you mean `environment`?)",
		"policies.yaml:37:11: policy no-contractor-exports-in-production: `department` is not a member of the document (did you mean `principal.claims.department`, a claim of the token?)",
		"redaction.yaml:10:16: redaction: rule crm-emails: `qualifiedname` is not a member of tool (did you mean `qualifiedName`?)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks\n%s\n%s", want, err)
		}
	}
}

// TestOnDefault: a bundle that builds on the default one has the default's
// policies, limits and redaction but for what it disables or replaces,
// the default catalog with its entries over it, its own tests, and the
// digests of both layers.
func TestOnDefault(t *testing.T) {
	b, err := bundle.Open("../../testdata/bundles/on-default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range b.Policies {
		names = append(names, p.Name)
	}
	for _, want := range []string{"crm-read-only-exports", "tool-allow-list", "risk-ceiling", "require-authentication", "no-destructive-in-production", "approve-critical-calls"} {
		if !slices.Contains(names, want) {
			t.Errorf("policies %v lack %s", names, want)
		}
	}
	if len(names) != 23 {
		t.Errorf("policies %v: want the base's 22, two of them replaced, and the bundle's own", names)
	}
	for _, p := range b.Policies {
		if data, _ := json.Marshal(p); p.Name == "tool-allow-list" && !strings.Contains(string(data), "crm-users") {
			t.Errorf("tool-allow-list is the base's, not the bundle's")
		}
	}
	if b.RateLimits.Len() != 1 || b.Redactor == nil || len(b.Tests) != 1 {
		t.Errorf("limits %d, redactor %v, tests %d", b.RateLimits.Len(), b.Redactor != nil, len(b.Tests))
	}
	if _, ok := b.Catalog.Tools["crm___*"]; !ok || b.Catalog.Targets["billing"].Environment != "production" || len(b.Catalog.Environments) != 3 {
		t.Errorf("catalog %+v", b.Catalog)
	}
	base, err := bundle.Open("", policies.FS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Layers) != 2 || b.Layers[0] != (bundle.Layer{Source: "embedded", Digest: base.Digest}) || b.Layers[1] != (bundle.Layer{Source: b.Source, Digest: b.Digest}) || b.Digest == base.Digest {
		t.Errorf("layers %+v, digest %s", b.Layers, b.Digest)
	}
}

// TestPathWarnings: a claim read by a bundle that declares none is a
// warning, at its line, for validate.
func TestPathWarnings(t *testing.T) {
	b, err := bundle.Load(fstest.MapFS{"p.yaml": {Data: []byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    assert: {all: [{check: {\"(principal.claims.department)\": x}}]}\n")}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if w := b.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "p.yaml:7:29: policy p: reads claim `department`, which the bundle does not declare") {
		t.Errorf("warnings %q", w)
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "# header\n---\na: 1\n---   \n# only a comment\n--- \nb: 2\nc: |\n  text\n"
	docs := bundle.SplitDocuments("f.yaml", []byte(in))
	if len(docs) != 2 {
		t.Fatalf("got %d documents: %+v", len(docs), docs)
	}
	if docs[0].Where() != "f.yaml:3" || string(docs[0].Data) != "a: 1\n" {
		t.Errorf("first: %s %q", docs[0].Where(), docs[0].Data)
	}
	if docs[1].Where() != "f.yaml:7" || !strings.HasPrefix(string(docs[1].Data), "b: 2\n") {
		t.Errorf("second: %s %q", docs[1].Where(), docs[1].Data)
	}
}

// BenchmarkOpenEmbedded is the default bundle's load at a cold start:
// read, decode and compile every document.
func BenchmarkOpenEmbedded(b *testing.B) {
	for b.Loop() {
		if _, err := bundle.Open("", policies.FS, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCatalogOverBase: a bundle's catalog goes over the base's field by
// field: a label added keeps the tool's risk and labels, an empty target
// keeps the base's pin, and a field it does change is warned of.
func TestCatalogOverBase(t *testing.T) {
	b, err := bundle.Load(fstest.MapFS{
		"b.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded}\n")},
		"c.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec:\n  targets: {billing: {}, k8s: {environment: dev}}\n" +
			"  tools:\n    k8s___delete-pod: {labels: [audited]}\n    k8s___get-pod: {risk: high}\n")},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	del := b.Catalog.Tools["k8s___delete-pod"]
	if del.Risk != "critical" || !slices.Equal(del.Labels, []string{"destructive", "audited"}) || b.Catalog.Targets["billing"].Environment != "production" {
		t.Errorf("merged: %+v, billing %+v", del, b.Catalog.Targets["billing"])
	}
	w := strings.Join(b.Warnings(), "\n")
	for _, want := range []string{"c.yaml:1: catalog tool k8s___get-pod: risk high, where the base's is low"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
}

// TestDefinitionsWithoutPins: policies that judge tool definitions in a
// bundle that pins none load, and validate says every definition is
// unread.
func TestDefinitionsWithoutPins(t *testing.T) {
	b, err := bundle.Load(fstest.MapFS{"p.yaml": {Data: []byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    match: {any: [{action: call}]}\n    assert: {all: [{check: {tool: {definition: {(status == 'changed'): false}}}}]}\n")}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(b.Warnings(), "\n"); !strings.Contains(w, "test: policies read tool.definition, and the bundle has no ToolPins document") {
		t.Errorf("warnings %q", w)
	}
}
