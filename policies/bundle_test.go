package policies_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// TestBundle runs the default bundle's own test cases (tests/*.yaml), the
// same ones "bootstrap test" runs.
func TestBundle(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 30 {
		t.Errorf("only %d cases", len(results))
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s %s:\n%s", r.Where, r.Name, r.Diff)
		}
	}
}
