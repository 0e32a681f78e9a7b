package convert_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/celpolicy"
	"github.com/toolgate/toolgate/internal/convert"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// converted is the default bundle with every policy that converts
// rewritten in CEL, and the notes.
func converted(t *testing.T) (fstest.MapFS, []string) {
	t.Helper()
	files, notes, err := convert.Bundle(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for p, data := range files {
		out[p] = &fstest.MapFile{Data: data}
	}
	return out, notes
}

// TestDefaultBundle: the default bundle converted loads, and passes its own
// test cases, its converted policies in CEL and the rest as they were.
func TestDefaultBundle(t *testing.T) {
	fsys, notes := converted(t)
	for _, n := range notes {
		t.Log(n)
	}
	b, err := bundle.Load(fsys, "converted")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d policies converted, %d kept", len(b.CELPolicies), len(b.Policies))
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s %s:\n%s", r.Where, r.Name, r.Diff)
		}
	}
}

// TestPolicy: what converts, to what; what does not, and why.
func TestPolicy(t *testing.T) {
	doc := func(rules string) string {
		return "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p, annotations: {policies.toolgate.dev/mode: audit}}\nspec:\n  rules:\n" + rules
	}
	for _, tc := range []struct {
		name, rules           string
		match, check, message string // the converted CEL
		err                   string
	}{
		{name: "literal trees",
			rules: "  - name: r\n    match: {any: [{action: call, environment: production}, {action: list, list: {kind: tool}}]}\n    assert: {all: [{message: 'no {{ tool.qualifiedName }}', check: {tool: {operation: read}}}]}\n",
			match: `(object.action == "call" && object.environment == "production") || (object.action == "list" && object.list.kind == "tool")`,
			check: `object.tool.operation == "read"`, message: `"no " + object.tool.qualifiedName`},
		{name: "an exclude",
			rules: "  - name: r\n    match: {all: [{action: other}]}\n    exclude: {any: [{mcp: {kind: response}}]}\n    assert: {all: [{check: {principal: {authenticated: true}}}]}\n",
			match: `(object.action == "other") && !(object.mcp.kind == "response")`, check: `object.principal.authenticated`},
		{name: "expressions, functions, a filter",
			rules: "  - name: r\n    context: [{name: ops, variable: [sre]}]\n    assert: {all: [{check: {\"(tool.risk == 'low' || length(principal.groups[?contains($ops, @)]) > `0`)\": true, \"(contains(tool.labels, 'pii'))\": false}}]}\n",
			check: `!(("pii" in object.tool.labels)) && ((object.tool.risk == "low") || (size(object.principal.groups.filter(e, (e in variables.ops))) > 0))`},
		{name: "a claim, which may be absent",
			rules: "  - name: r\n    assert: {all: [{check: {principal: {claims: {dept: eng}}}}]}\n",
			check: `(has(object.principal.claims.dept) && object.principal.claims.dept == "eng")`},
		{name: "a tree under the optional response",
			rules: "  - name: r\n    assert: {all: [{check: {response: {(size <= `10`): true}}}]}\n",
			check: `has(object.response) && ((object.response.size <= 10))`},
		{name: "JMESPath's value-returning or", rules: "  - name: r\n    assert: {all: [{check: {((session.labelCalls.x || `0`) > `1`): false}}]}\n",
			err: "orexpression of values that are not booleans does not convert"},
		{name: "an order between absent members", rules: "  - name: r\n    assert: {all: [{check: {(tool.arguments.n > `1`): false}}]}\n",
			err: "> between members that may be absent"},
		{name: "a loop", rules: "  - name: r\n    assert: {all: [{check: {~.(tool.labels): {(@ == 'x'): false}}}]}\n",
			err: "loops, bindings and other compilers do not convert"},
		{name: "a lookup", rules: "  - name: r\n    assert: {all: [{check: {\"(lookup(tool, 'risk') == 'low')\": true}}]}\n",
			err: "lookup() on these arguments does not convert"},
		{name: "a message of another type", rules: "  - name: r\n    assert: {all: [{message: '{{ session.calls }} calls', check: {phase: request}}]}\n",
			err: "only strings convert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.DecodePolicy([]byte(doc(tc.rules)))
			if err != nil {
				t.Fatal(err)
			}
			c, err := convert.Policy(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Spec.ValidationActions, []string{"Audit"}) || c.Metadata.Annotations[policy.ModeAnnotation] != "" {
				t.Errorf("actions %v, annotations %v", c.Spec.ValidationActions, c.Metadata.Annotations)
			}
			var match string
			if len(c.Spec.MatchConditions) > 0 {
				match = c.Spec.MatchConditions[0].Expression
			}
			if match != tc.match || c.Spec.Validations[0].Expression != tc.check || c.Spec.Validations[0].MessageExpression != tc.message {
				t.Errorf("match %s\ncheck %s\nmessage %s", match, c.Spec.Validations[0].Expression, c.Spec.Validations[0].MessageExpression)
			}
			// What converts compiles, type-checked.
			if _, err := celpolicy.Compile([]*celpolicy.Policy{c}, policy.Declared{}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFileKeepsWhatCELRefuses: a policy whose CEL form does not compile
// (a context list of mixed types, which JMESPath takes) is kept as it was.
func TestFileKeepsWhatCELRefuses(t *testing.T) {
	doc := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: r\n    context: [{name: mixed, variable: [1, a]}]\n    assert: {all: [{check: {\"(contains($mixed, tool.name))\": true}}]}\n"
	out, notes, err := convert.File("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != doc || len(notes) != 1 || !strings.Contains(notes[0], "p.yaml:1: kept: policy p: its CEL form does not compile") {
		t.Errorf("out %s\nnotes %q", out, notes)
	}
}
