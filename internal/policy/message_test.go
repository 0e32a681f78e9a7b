package policy_test

import (
	"context"
	"testing"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/policy"
)

// TestMessagesFormatEveryType: a message template prints whatever JSON
// value its expression gives, not "ERR (... not a string)".
func TestMessagesFormatEveryType(t *testing.T) {
	doc := map[string]any{"session": map[string]any{"labelCalls": map[string]any{"destructive": float64(3)}, "tracked": true,
		"labels": []any{"a", "b"}}, "tool": map[string]any{"qualifiedName": "k8s___delete-pod"}}
	for _, tt := range []struct{ template, want string }{
		{"made {{ session.labelCalls.destructive }} destructive calls", "made 3 destructive calls"},
		{"tracked: {{ session.tracked }}", "tracked: true"},
		{"labels {{ session.labels }}", `labels ["a","b"]`},
		{"tool {{ tool.qualifiedName }}", "tool k8s___delete-pod"},
		{"{{ session.none }} and {{tool.qualifiedName|length(@)}}", "null and 16"},
	} {
		p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n" +
			"  - {name: r, assert: {all: [{message: \"" + tt.template + "\", check: {\"(`false`)\": true}}]}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
		if err != nil {
			t.Fatal(err)
		}
		r := e.Evaluate(context.Background(), doc)
		if len(r.Findings) != 1 || r.Findings[0].Message != tt.want {
			t.Errorf("%s: %+v, want %q", tt.template, r.Findings, tt.want)
		}
	}
}
