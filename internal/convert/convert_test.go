package convert_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/attributes"
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
		{name: "a member of a nested object",
			rules: "  - name: r\n    assert: {all: [{check: {tool: {definition: {status: changed}}}}]}\n",
			check: `object.tool.definition.status == "changed"`},
		// The ninth attack round's: each of these converted, and the
		// CEL form allowed what the original denied.
		{name: "a claim, whose type the caller chooses", rules: "  - name: r\n    assert: {all: [{check: {principal: {claims: {dept: eng}}}}]}\n",
			err: "a member of no fixed type does not convert"},
		{name: "an argument against a boolean", rules: "  - name: r\n    match: {all: [{tool: {arguments: {force: true}}}]}\n    assert: {all: [{check: {principal: {authenticated: true}}}]}\n",
			err: "a member of no fixed type does not convert"},
		{name: "a number against a string", rules: "  - name: r\n    assert: {all: [{check: {session: {calls: '5'}}}]}\n",
			err: "a member of another type does not convert"},
		{name: "an expression as a value", rules: "  - name: r\n    context: [{name: prod, variable: files___remove}]\n    match: {all: [{tool: {name: ($prod)}}]}\n    assert: {all: [{check: {tool: {operation: read}}}]}\n",
			err: "an expression, does not convert"},
		{name: "an escaped value", rules: "  - name: r\n    assert: {all: [{check: {tool: {name: '\\files___remove\\'}}}]}\n",
			check: `object.tool.name == "files___remove"`},
		{name: "two rules' variables of one CEL name", rules: "  - name: a\n    context: [{name: b_c, variable: x}]\n    assert: {all: [{check: {\"(tool.name == $b_c)\": false}}]}\n" +
			"  - name: a_b\n    context: [{name: c, variable: y}]\n    assert: {all: [{check: {\"(tool.name == $c)\": false}}]}\n",
			err: "its CEL name a_b_c is another variable's"},
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

// TestConvertedDecidesAlike: what converts decides every document as the
// original does, in mode and effect, arguments of every type included
// (the ninth attack round compared them so).
func TestConvertedDecidesAlike(t *testing.T) {
	head := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p%s}\nspec:\n  rules:\n"
	policies := []string{
		fmt.Sprintf(head, "") + "  - name: r\n    match: {all: [{action: call, tool: {operation: delete}}]}\n    exclude: {any: [{environment: dev}]}\n    assert: {all: [{check: {\"(contains(principal.groups, 'admins'))\": true}}]}\n",
		fmt.Sprintf(head, ", annotations: {policies.toolgate.dev/effect: approval}") + "  - name: r\n    match: {any: [{tool: {risk: critical}}, {tool: {risk: high}}]}\n    assert: {all: [{check: {approval: {granted: true}}}]}\n",
		fmt.Sprintf(head, ", annotations: {policies.toolgate.dev/mode: audit}") + "  - name: a\n    assert: {all: [{check: {\"(length(tool.wildcards))\": 0}}]}\n  - name: b\n    match: {all: [{phase: response}]}\n    assert: {all: [{check: {response: {\"(size <= `10`)\": true}}}]}\n",
		fmt.Sprintf(head, "") + "  - name: r\n    assert: {all: [{check: {tool: {name: '\\files___remove\\'}}}]}\n",
	}
	var docs []map[string]any
	for _, env := range []string{"production", "dev"} {
		for _, args := range []map[string]any{{}, {"force": true}, {"force": "true"}, {"mode": 5.0}, {"path": "etc"}} {
			for _, risk := range []string{"low", "high", "critical"} {
				for _, phase := range []string{"request", "response"} {
					d := map[string]any{"phase": phase, "action": "call", "environment": env,
						"principal": map[string]any{"groups": []any{"devs"}},
						"tool":      map[string]any{"name": "files___remove", "operation": "delete", "risk": risk, "arguments": args, "wildcards": []any{}}}
					if phase == "response" {
						d["response"] = map[string]any{"size": 20.0}
					}
					doc, err := attributes.Schema().Complete(d, "document")
					if err != nil {
						t.Fatal(err)
					}
					docs = append(docs, doc)
				}
			}
		}
	}
	for i, src := range policies {
		p, err := policy.DecodePolicy([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		original, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
		if err != nil {
			t.Fatal(err)
		}
		c, err := convert.Policy(p)
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		converted, err := celpolicy.Compile([]*celpolicy.Policy{c}, policy.Declared{})
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docs {
			a, b := original.Evaluate(context.Background(), doc), converted.Evaluate(context.Background(), doc)
			if a.Denied() != b.Denied() || len(a.Approvals()) != len(b.Approvals()) || len(a.Audited()) != len(b.Audited()) {
				t.Errorf("policy %d, %v: kyverno-json %+v, CEL %+v", i, doc["tool"], a.Findings, b.Findings)
			}
		}
	}
}
