package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DiffWithKyverno evaluates every rule of p on resource twice, with
// kyverno-json's own walker (jsonengine's compile functions) and with this
// package's trees, and describes each way the two differ: whether a clause
// fails or errs, and each violation's message and failed paths. vars are
// bound as a scan's --bindings are. kyverno-json visits keys in random
// order, so failures are compared as sets.
func DiffWithKyverno(p *v1alpha1.ValidatingPolicy, resource any, vars map[string]any) []string {
	var diffs []string
	c := defaultCompilers()
	if p.Spec.Compiler != nil {
		c = c.WithDefaultCompiler(string(*p.Spec.Compiler))
	}
	b := binding.NewBindings().Register("$payload", binding.NewBinding(resource)).Register("$policy", binding.NewBinding(*p))
	for k, v := range vars {
		b = b.Register("$"+k, binding.NewBinding(v))
	}
	for i, r := range p.Spec.Rules {
		rc := c
		if r.Compiler != nil {
			rc = rc.WithDefaultCompiler(string(*r.Compiler))
		}
		path := field.NewPath("spec", "rules").Index(i)
		diff := func(format string, args ...any) {
			diffs = append(diffs, fmt.Sprintf("policy %s rule %s: ", p.Name, r.Name)+fmt.Sprintf(format, args...))
		}
		context, ferr := jsonengine.CompileContextEntries(path.Child("context"), rc, r.Context...)
		if ferr != nil {
			diff("context: %v", ferr)
			continue
		}
		rb := context(resource, b.Register("$rule", binding.NewBinding(r)))
		for _, cl := range []struct {
			name string
			m    *v1alpha1.Match
		}{{"match", r.Match}, {"exclude", r.Exclude}} {
			theirs, ferr := jsonengine.CompileMatch(path.Child(cl.name), rc, cl.m)
			ours, err := compileClause(path.Child(cl.name), rc, cl.m)
			if (ferr != nil) != (err != nil) || (theirs == nil) != (ours == nil) {
				diff("%s compiles: kyverno-json %v, ours %v", cl.name, ferr, err)
				continue
			}
			if ours == nil {
				continue
			}
			errs, terr := theirs(resource, rb)
			failed, oerr := ours.failed(resource, rb)
			switch {
			case (terr != nil) != (oerr != nil):
				diff("%s errs: kyverno-json %v, ours %v", cl.name, terr, oerr)
			case terr == nil && (len(errs) > 0) != failed:
				diff("%s fails: kyverno-json %v (%v), ours %v", cl.name, len(errs) > 0, errs, failed)
			}
		}
		theirs, ferr := jsonengine.CompileAssert(path.Child("assert"), rc, r.Assert)
		ours, err := compileAssert(path.Child("assert"), rc, r.Assert)
		if (ferr != nil) != (err != nil) {
			diff("assert compiles: kyverno-json %v, ours %v", ferr, err)
			continue
		}
		if ours == nil {
			continue
		}
		results, terr := theirs(resource, rb)
		violations, oerr := ours.eval(resource, rb)
		if (terr != nil) != (oerr != nil) {
			diff("assert errs: kyverno-json %v, ours %v", terr, oerr)
			continue
		}
		if len(results) != len(violations) {
			diff("assert: kyverno-json %d violations, ours %d", len(results), len(violations))
			continue
		}
		for j, res := range results {
			msg := res.Message
			if k := strings.LastIndex(msg, "(CHECK="); k >= 0 {
				msg = strings.TrimSpace(msg[:k])
			}
			if msg != violations[j].message {
				diff("violation %d message: kyverno-json %q, ours %q", j, msg, violations[j].message)
			}
			var want, got []string
			for _, e := range res.ErrorList {
				want = append(want, e.Field+": "+string(e.Type))
			}
			for _, f := range violations[j].fails {
				got = append(got, f.path+": "+string(f.typ))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				diff("violation %d: kyverno-json %q, ours %q", j, want, got)
			}
		}
	}
	return diffs
}
