package policies_test

import (
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/testutil"
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

// TestBundleInCEL runs the default bundle's own test cases on its CEL
// twin (testdata/bundles/default-cel): the second dialect decides every
// case as the first does.
func TestBundleInCEL(t *testing.T) {
	b, err := bundle.Load(testutil.DefaultBundleInCEL(t, policies.FS), "cel")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Policies) != 0 || len(b.CELPolicies) < 15 {
		t.Fatalf("%d kyverno-json and %d CEL policies", len(b.Policies), len(b.CELPolicies))
	}
	embedded, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.PolicyNames(), embedded.PolicyNames(); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("policies\n%v\nwant\n%v", got, want)
	}
	if b.Sessions != embedded.Sessions || b.Definitions != embedded.Definitions {
		t.Errorf("reads sessions %q definitions %q, want %q %q", b.Sessions, b.Definitions, embedded.Sessions, embedded.Definitions)
	}
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
