package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/policies"
)

// TestExplainAgreesWithEvaluate: the explanation an author reads is the
// decision the function makes. For every sample event, the failed rules of
// an explanation are exactly the findings of the evaluation, and every rule
// of the bundle is accounted for.
func TestExplainAgreesWithEvaluate(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	k := b.Engine.(*policy.Kyverno)
	rules := 0
	for _, p := range b.Policies {
		rules += len(p.Spec.Rules)
	}
	h := interceptor.New(interceptor.Config{Config: judge.Config{Engine: b.Engine, Catalog: b.Catalog, Redactor: b.Redactor}})
	files, _ := filepath.Glob("../testdata/events/*.json")
	outcomes := map[string]int{}
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := h.Handle(context.Background(), payload)
		if r.Document == nil {
			continue
		}
		doc := r.Document.Value()
		explained := k.Explain(doc)
		if len(explained) != rules {
			t.Errorf("%s: %d rules explained, bundle has %d", f, len(explained), rules)
		}
		var failed []policy.Finding
		for _, rr := range explained {
			outcomes[rr.Outcome]++
			failed = append(failed, rr.Findings...)
		}
		if want := k.Evaluate(context.Background(), doc).Findings; !reflect.DeepEqual(failed, want) {
			t.Errorf("%s: explanation findings %+v, evaluation %+v", f, failed, want)
		}
	}
	for _, o := range []string{policy.Pass, policy.Fail, policy.Skip} {
		if outcomes[o] == 0 {
			t.Errorf("no rule had outcome %s over the sample events: %v", o, outcomes)
		}
	}
}
