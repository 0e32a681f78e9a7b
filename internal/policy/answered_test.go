package policy

import (
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
)

// TestAnswered: a rule may depend on the target's answer when it names
// the response or $payload, or reads the document whole, in a check or in
// a message; a rule that reads neither may not (its denial at the
// RESPONSE point is then the REQUEST point's again).
func TestAnswered(t *testing.T) {
	for _, tt := range []struct {
		rule string
		want bool
	}{
		{`{name: r, assert: {all: [{check: {tool: {name: x}}}]}}`, false},
		{`{name: r, assert: {all: [{message: "no {{ tool.name }}", check: {tool: {name: x}}}]}}`, false},
		{`{name: r, assert: {all: [{check: {response: {statusCode: 200}}}]}}`, true},
		{`{name: r, assert: {all: [{check: {(length(to_string(@)) < ` + "`10`" + `): true}}]}}`, true},
		{`{name: r, assert: {all: [{message: "saw {{ to_string(@) }}", check: {tool: {name: x}}}]}}`, true},
		{`{name: r, assert: {all: [{check: {($payload.tool.name): x}}]}}`, true},
	} {
		var r v1alpha1.ValidatingRule
		if err := yaml.Unmarshal([]byte(tt.rule), &r); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := answered(raw); got != tt.want {
			t.Errorf("answered(%s) = %v, want %v", tt.rule, got, tt.want)
		}
	}
	if !answered(nil) {
		t.Error("a rule that cannot be read must count as answered")
	}
}
