package policies_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// TestListCallConsistency is the guarantee behind tools/list filtering, as a
// property of the default bundle: for every principal and environment, every
// tool hidden from a tools/list answer is denied on call with every argument
// set tried, and every tool shown is allowed with at least one. Any bundle
// gets the same check from toolgate test -consistency; this one adds callers
// and argument sets beyond the bundle's own cases.
func TestListCallConsistency(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	opts := policytest.ConsistencyOptions{
		Principals: map[string]map[string]any{
			"no groups":       {"sub": "u-1"},
			"developers":      {"sub": "u-2", "cognito:groups": []string{"developers"}},
			"sre":             {"sub": "u-3", "cognito:groups": []string{"sre"}},
			"finance":         {"sub": "u-4", "groups": []string{"finance"}},
			"platform-admins": {"sub": "u-5", "cognito:groups": []string{"platform-admins"}},
			"two groups":      {"sub": "u-6", "cognito:groups": []string{"developers", "finance"}},
			"docs scope":      {"sub": "bot", "client_id": "bot", "scope": "toolgate/docs.read"},
			"github scope":    {"sub": "bot", "client_id": "bot", "scope": "toolgate/github openid"},
		},
		Arguments: []map[string]any{
			{"namespace": "web", "pod": "web-0"}, {"query": "q"}, {"id": "42", "amount": 1},
			{"namespace": "*"}, {"all": true}, {"paths": []any{"logs/*"}},
		},
	}
	found, err := policytest.Consistency(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
}
