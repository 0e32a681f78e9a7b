package interceptor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/convert"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
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

// sortedReasons is outcome with the parts of the reason sorted, and the
// answer without it.
func sortedReasons(r judge.Result) string {
	parts := strings.Split(r.Decision.Reason, "; ")
	slices.Sort(parts)
	out, _ := json.Marshal(r.Output)
	return fmt.Sprintf("%s|%d|%s|%s", r.Decision.Effect, r.Decision.Code, strings.Join(parts, "; "), strings.ReplaceAll(string(out), r.Decision.Reason, "(reason)"))
}

// TestDialectsDecideAlike: every sample and adversarial event is decided
// alike, to the byte of the answer and every finding, by the default
// bundle, by its twin written in CEL ValidatingPolicies
// (testdata/bundles/default-cel), and by the default bundle as toolgate
// convert rewrites it (its policies that convert in CEL, the rest as they
// were).
func TestDialectsDecideAlike(t *testing.T) {
	twin, err := bundle.Load(testutil.DefaultBundleInCEL(t, policies.FS), "cel")
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := convert.Bundle(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for p, data := range files {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	converted, err := bundle.Load(fsys, "converted")
	if err != nil {
		t.Fatal(err)
	}
	if len(converted.CELPolicies) < 15 {
		t.Fatalf("only %d policies converted", len(converted.CELPolicies))
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	var shared interceptor.Config
	kyverno := handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Now, c.NewID = now, func() string { return testID }
		shared = *c
	})
	like := func(b *bundle.Bundle) *interceptor.Handler {
		return handlerWith(t, func(c *interceptor.Config) {
			c.Approvals, c.ApprovalKeys, c.GrantKey = &approval.Memory{}, shared.ApprovalKeys, shared.GrantKey
			c.Now, c.NewID = now, func() string { return testID }
			c.Engine, c.Catalog, c.Redactor, c.Sessions = b.Engine, b.Catalog, b.Redactor, b.Sessions
		})
	}
	others := map[string]*interceptor.Handler{"CEL twin": like(twin), "converted": like(converted)}
	var events []string
	for _, dir := range []string{"../../testdata/events", adversarialDir} {
		f, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		events = append(events, f...)
	}
	if len(events) < 250 {
		t.Fatalf("%d events", len(events))
	}
	for _, f := range events {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a := kyverno.Handle(context.Background(), payload)
		for name, h := range others {
			b := h.Handle(context.Background(), payload)
			oa, ob := outcome(a), outcome(b)
			if name == "converted" {
				// A bundle of both dialects runs the kyverno-json policies
				// first: a denial's reasons come in another order.
				oa, ob = sortedReasons(a), sortedReasons(b)
			}
			if oa != ob {
				t.Errorf("%s, %s:\nkyverno-json %.600s\n%-12s %.600s", filepath.Base(f), name, oa, name, ob)
			}
			// Audit-only findings, which the answer does not show, too.
			if fa, fb := findings(a.Decision.Findings), findings(b.Decision.Findings); !slices.Equal(fa, fb) {
				t.Errorf("%s, %s: findings\nkyverno-json %q\n%-12s %q", filepath.Base(f), name, fa, name, fb)
			}
		}
	}
}
