package policy_test

import (
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/policy"
)

// TestWarnings: a rule that matches every listed item but checks tools is
// named, since listed prompts and resources now reach it; a rule that
// names the kind, or reads no tool, is not.
func TestWarnings(t *testing.T) {
	for _, tt := range []struct {
		rule string
		warn bool
	}{
		{`{name: r, match: {any: [{action: call}, {action: list}]}, assert: {all: [{check: {tool: {target: docs}}}]}}`, true},
		{`{name: r, match: {all: [{action: list}]}, context: [{name: t, variable: (tool.qualifiedName)}], assert: {all: [{check: {($t): x}}]}}`, true},
		{`{name: r, match: {any: [{action: list, list: {kind: tool}}]}, assert: {all: [{check: {tool: {target: docs}}}]}}`, false},
		{`{name: r, match: {any: [{action: list}]}, assert: {all: [{message: "no {{ tool.name }}", check: {principal: {authenticated: true}}}]}}`, false},
		{`{name: r, match: {any: [{action: call}]}, assert: {all: [{check: {tool: {target: docs}}}]}}`, false},
		{`{name: r, match: {any: [{action: call}]}, context: [{name: payload, variable: x}], assert: {all: [{check: {action: call}}]}}`, true},
		{`{name: r, match: {any: [{action: prompt}, {action: read}, {action: list, list: {kind: template}}]}, assert: {all: [{check: {action: call}}]}}`, false},
		{`{name: r, assert: {all: [{check: {action: call}}]}}`, false}, // no match: validate used to panic
	} {
		p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - " + tt.rule + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		w := policy.Warnings(p)
		if (len(w) > 0) != tt.warn || tt.warn && !strings.Contains(w[0], "rule r") {
			t.Errorf("%s: warnings %q, want %v", tt.rule, w, tt.warn)
		}
	}
}

// TestWarnsOfStepNames: a policy named in parentheses reads as one of the
// interceptor's own steps; validate says so, a release before refusing it.
func TestWarnsOfStepNames(t *testing.T) {
	p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: (no-get-pod)}\nspec: {rules: [{name: r, assert: {all: [{check: {action: call}}]}}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := policy.Warnings(p); len(w) != 1 || !strings.Contains(w[0], "policy (no-get-pod): a name in parentheses") {
		t.Errorf("warnings %q", w)
	}
}
