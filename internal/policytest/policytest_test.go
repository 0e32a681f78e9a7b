package policytest_test

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policytest"
)

func TestRunReportsFailures(t *testing.T) {
	b, err := bundle.Open("../../testdata/bundles/failing-tests", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	want := []struct {
		pass bool
		diff string
	}{
		{false, "decision: want allow, got deny"},
		{false, "denying policies: want [some-other-policy], got [read-only]"},
		{true, ""},
	}
	for i, w := range want {
		r := results[i]
		if r.Pass != w.pass || !strings.Contains(r.Diff, w.diff) {
			t.Errorf("case %d (%s): pass %v diff %q; want pass %v diff containing %q", i, r.Name, r.Pass, r.Diff, w.pass, w.diff)
		}
	}
}

func TestRunRejectsMalformedCases(t *testing.T) {
	policy, err := os.ReadFile("../../testdata/bundles/minimal/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	head := "apiVersion: toolgate.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n  cases:\n"
	for name, cases := range map[string]string{
		"no input":      "  - name: c\n    expect: {decision: allow}\n",
		"two inputs":    "  - name: c\n    request: {method: ping}\n    attributes: {}\n    expect: {decision: allow}\n",
		"bad decision":  "  - name: c\n    request: {method: ping}\n    expect: {decision: maybe}\n",
		"unknown field": "  - name: c\n    request: {method: ping}\n    expected: {decision: allow}\n",
		"claims alone":  "  - name: c\n    claims: {sub: x}\n    attributes: {}\n    expect: {decision: allow}\n",
	} {
		fsys := fstest.MapFS{"p.yaml": {Data: policy}, "t.yaml": {Data: []byte(head + cases)}}
		b, err := bundle.Load(fsys, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policytest.Run(b, policytest.Options{}); err == nil || !strings.Contains(err.Error(), "t.yaml:1") {
			t.Errorf("%s: error %v, want one naming t.yaml:1", name, err)
		}
	}
}

// TestUndeclaredEnvironmentFails: a case in an environment the catalog
// does not declare fails (the function would deny every call there); one
// in a declared environment runs.
func TestUndeclaredEnvironmentFails(t *testing.T) {
	policy, err := os.ReadFile("../../testdata/bundles/minimal/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"p.yaml": {Data: policy},
		"c.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [production, dev]}\n")},
		"t.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n  cases:\n" +
			"  - {name: prod, environment: prod, request: {method: ping}, expect: {decision: allow}}\n" +
			"  - {name: dev, environment: dev, request: {method: ping}, expect: {decision: allow}}\n")}}
	b, err := bundle.Load(fsys, "test")
	if err != nil {
		t.Fatal(err)
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Pass || !strings.Contains(results[0].Diff, `environment "prod" is not one of the catalog's environments (production, dev)`) || !results[1].Pass {
		t.Errorf("%+v", results)
	}
}

// TestErrorsFailCases: a rule that cannot be evaluated denies (fail
// closed), so a case that expects that denial fails unless it lists the
// policy in expect.errors; a partial attributes document is judged whole,
// and a member the document cannot have fails the case.
func TestErrorsFailCases(t *testing.T) {
	policy := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: sizes}\nspec:\n  rules:\n" +
		"  - {name: short, match: {all: [{action: call}]}, assert: {all: [{check: {\"(length(tool.arguments.size) < `5`)\": true}}]}}\n"
	cases := "apiVersion: toolgate.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n  cases:\n" +
		"  - {name: crash taken for a denial, attributes: {action: call, tool: {arguments: {size: 3}}}, expect: {decision: deny}}\n" +
		"  - {name: crash expected, attributes: {action: call, tool: {arguments: {size: 3}}}, expect: {decision: deny, errors: [sizes]}}\n" +
		"  - {name: a real denial, attributes: {action: call, tool: {arguments: {size: toolong}}}, expect: {decision: deny, policies: [sizes]}}\n" +
		"  - {name: a misspelt member, attributes: {action: call, tool: {argument: {size: x}}}, expect: {decision: allow}}\n"
	b, err := bundle.Load(fstest.MapFS{"p.yaml": {Data: []byte(policy)}, "t.yaml": {Data: []byte(cases)}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		pass bool
		diff string
	}{
		{false, "policies that could not be evaluated: want [], got [sizes]"},
		{true, ""},
		{true, ""},
		{false, "attributes.tool.argument: not in the schema"},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results", len(results))
	}
	for i, w := range want {
		if r := results[i]; r.Pass != w.pass || !strings.Contains(r.Diff, w.diff) {
			t.Errorf("%s: pass %v diff %q, want %v %q", r.Name, r.Pass, r.Diff, w.pass, w.diff)
		}
	}
}

// TestAttributesCompleted: a partial attributes document gets what the
// function always sets for its action and phase (a call's arguments, the
// response), and an environment the catalog does not declare fails.
func TestAttributesCompleted(t *testing.T) {
	policy := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: few}\nspec:\n  rules:\n" +
		"  - {name: few-arguments, match: {all: [{action: call}]}, assert: {all: [{check: {tool: {arguments: {\"(length(@) < `10`)\": true}}}}]}}\n" +
		"  - {name: small, match: {all: [{phase: response}]}, assert: {all: [{check: {response: {\"(size < `10`)\": true}}}]}}\n"
	cases := "apiVersion: toolgate.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n  cases:\n" +
		"  - {name: a call, attributes: {action: call, phase: request}, expect: {decision: allow}}\n" +
		"  - {name: a response, attributes: {action: call, phase: response}, expect: {decision: allow}}\n" +
		"  - {name: an unknown environment, attributes: {action: call, environment: prod}, expect: {decision: allow}}\n"
	catalog := "apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nspec: {environments: [production, dev]}\n"
	b, err := bundle.Load(fstest.MapFS{"p.yaml": {Data: []byte(policy)}, "c.yaml": {Data: []byte(catalog)}, "t.yaml": {Data: []byte(cases)}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 || !results[0].Pass || !results[1].Pass || results[2].Pass ||
		!strings.Contains(results[2].Diff, `attributes.environment "prod" is not one of the catalog's environments (production, dev)`) {
		t.Errorf("%+v", results)
	}
}
