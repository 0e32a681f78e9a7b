package interceptor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/policies"
)

// findings are what is compared of a decision's findings: rule names
// differ between dialects (a CEL validation has none).
func findings(fs []policy.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s: %s", f.Policy, f.Kind, f.Mode, f.Message))
	}
	slices.Sort(out)
	return out
}

// TestDialectsDecideAlike: every sample and adversarial event is decided
// alike, to the byte of the answer, by the default bundle and by its twin
// written in CEL ValidatingPolicies (testdata/bundles/default-cel).
func TestDialectsDecideAlike(t *testing.T) {
	cel, err := bundle.Load(testutil.DefaultBundleInCEL(t, policies.FS), "cel")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	var shared interceptor.Config
	kyverno := handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Now, c.NewID = now, func() string { return testID }
		shared = *c
	})
	inCEL := handlerWith(t, func(c *interceptor.Config) {
		c.Approvals, c.ApprovalKeys, c.GrantKey = &approval.Memory{}, shared.ApprovalKeys, shared.GrantKey
		c.Now, c.NewID = now, func() string { return testID }
		c.Engine, c.Catalog, c.Redactor, c.Sessions = cel.Engine, cel.Catalog, cel.Redactor, cel.Sessions
	})
	var files []string
	for _, dir := range []string{"../../testdata/events", adversarialDir} {
		f, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		files = append(files, f...)
	}
	if len(files) < 250 {
		t.Fatalf("%d events", len(files))
	}
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, b := kyverno.Handle(context.Background(), payload), inCEL.Handle(context.Background(), payload)
		if oa, ob := outcome(a), outcome(b); oa != ob {
			t.Errorf("%s:\nkyverno-json %.600s\nCEL          %.600s", filepath.Base(f), oa, ob)
		}
		// Audit-only findings, which the answer does not show, too.
		if fa, fb := findings(a.Decision.Findings), findings(b.Decision.Findings); !slices.Equal(fa, fb) {
			t.Errorf("%s: findings\nkyverno-json %q\nCEL          %q", filepath.Base(f), fa, fb)
		}
	}
}
