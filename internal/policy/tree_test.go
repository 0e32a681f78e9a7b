package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/compilers"
	jpcompiler "github.com/kyverno/kyverno-json/pkg/core/compilers/jp"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DiffWithKyverno evaluates every rule of p on resource twice, with
// kyverno-json's own walker (jsonengine's compile functions) and
// go-jmespath's interpreter, and with this package's trees and compiled
// expressions, and describes each way the two differ: whether a clause
// fails or errs, and each violation's message and failed paths. vars are
// bound as a scan's --bindings are. kyverno-json visits keys in random
// order, so failures are compared as sets.
func DiffWithKyverno(p *v1alpha1.ValidatingPolicy, resource any, vars map[string]any) []string {
	var diffs []string
	c, ref := defaultCompilers(), referenceCompilers()
	if p.Spec.Compiler != nil {
		c = c.WithDefaultCompiler(string(*p.Spec.Compiler))
		ref = ref.WithDefaultCompiler(string(*p.Spec.Compiler))
	}
	b := binding.NewBindings().Register("$payload", binding.NewBinding(resource)).Register("$policy", binding.NewBinding(*p))
	for k, v := range vars {
		b = b.Register("$"+k, binding.NewBinding(v))
	}
	for i, r := range p.Spec.Rules {
		rc, rref := c, ref
		if r.Compiler != nil {
			rc = rc.WithDefaultCompiler(string(*r.Compiler))
			rref = rref.WithDefaultCompiler(string(*r.Compiler))
		}
		path := field.NewPath("spec", "rules").Index(i)
		diff := func(format string, args ...any) {
			diffs = append(diffs, fmt.Sprintf("policy %s rule %s: ", p.Name, r.Name)+fmt.Sprintf(format, args...))
		}
		theirContext, ferr := jsonengine.CompileContextEntries(path.Child("context"), rref, r.Context...)
		if ferr != nil {
			diff("context: %v", ferr)
			continue
		}
		ourContext, ferr := jsonengine.CompileContextEntries(path.Child("context"), rc, r.Context...)
		if ferr != nil {
			diff("context: %v", ferr)
			continue
		}
		theirBindings := theirContext(resource, b.Register("$rule", binding.NewBinding(r)))
		rb := ourContext(resource, b.Register("$rule", binding.NewBinding(r)))
		for _, cl := range []struct {
			name string
			m    *v1alpha1.Match
		}{{"match", r.Match}, {"exclude", r.Exclude}} {
			theirs, ferr := jsonengine.CompileMatch(path.Child(cl.name), rref, cl.m)
			ours, err := compileClause(loc{path: path.Child(cl.name)}, rc, cl.m)
			if (ferr != nil) != (err != nil) || (theirs == nil) != (ours == nil) {
				diff("%s compiles: kyverno-json %v, ours %v", cl.name, ferr, err)
				continue
			}
			if ours == nil {
				continue
			}
			errs, terr := theirs(resource, theirBindings)
			failed, oerr := ours.failed(resource, rb)
			switch {
			case (terr != nil) != (oerr != nil):
				diff("%s errs: kyverno-json %v, ours %v", cl.name, terr, oerr)
			case terr == nil && (len(errs) > 0) != failed:
				diff("%s fails: kyverno-json %v (%v), ours %v", cl.name, len(errs) > 0, errs, failed)
			}
		}
		theirs, ferr := jsonengine.CompileAssert(path.Child("assert"), rref, r.Assert)
		ours, err := compileAssert(loc{path: path.Child("assert")}, rc, r.Assert)
		if (ferr != nil) != (err != nil) {
			diff("assert compiles: kyverno-json %v, ours %v", ferr, err)
			continue
		}
		if ours == nil {
			continue
		}
		results, terr := theirs(resource, theirBindings)
		violations, oerr := ours.eval(getWalk(false), resource, rb)
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

// referenceCompilers are defaultCompilers with kyverno-json's own JMESPath
// compiler, which runs go-jmespath's interpreter: what jpCompiler is held to.
func referenceCompilers() compilers.Compilers {
	c := compilers.DefaultCompilers
	c.Jp = jpcompiler.NewCompiler(jpcompiler.WithFunctionCaller(functionCaller()))
	return c.WithDefaultCompiler(compilers.CompilerJP)
}

// DiffExpression evaluates a JMESPath expression on value, with vars bound,
// compiled by jpCompiler and by kyverno-json's compiler, and describes how
// the two results differ ("" when they do not). Errors are compared by
// their presence: their texts are the interpreter's own in both.
func DiffExpression(statement string, value any, vars map[string]any) string {
	ours, oerr := compileGuarded(defaultCompilers(), statement)
	theirs, terr := compileGuarded(referenceCompilers(), statement)
	if (oerr != nil) != (terr != nil) {
		return fmt.Sprintf("%q compiles: ours %v, kyverno-json %v", statement, oerr, terr)
	}
	if oerr != nil {
		return ""
	}
	b := binding.NewBindings()
	for k, v := range vars {
		b = b.Register("$"+k, binding.NewBinding(v))
	}
	got, gerr := run(ours, value, b)
	want, werr := run(theirs, value, b)
	if (gerr != nil) != (werr != nil) {
		return fmt.Sprintf("%q errs: ours %v, kyverno-json %v", statement, gerr, werr)
	}
	sorted := mapOrdered(statement)
	if !reflect.DeepEqual(canonical(got, sorted), canonical(want, sorted)) {
		return fmt.Sprintf("%q: ours %#v, kyverno-json %#v", statement, got, want)
	}
	return ""
}

// mapOrdered reports whether an expression can list a map's members in
// Go's random map order, in the interpreter as here: a projection of a
// map's values (tool.*) or keys()/values().
func mapOrdered(statement string) bool {
	return strings.Contains(statement, "*") || strings.Contains(statement, "keys") || strings.Contains(statement, "values")
}

// canonical is v with every function (an expression reference, &expr,
// which does not compare) and every NaN made one marker each and, when sorted (for an
// expression that is mapOrdered), every list sorted.
func canonical(v any, sorted bool) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = canonical(v[i], sorted)
		}
		if sorted {
			slices.SortFunc(out, func(a, b any) int { return strings.Compare(fmt.Sprintf("%#v", a), fmt.Sprintf("%#v", b)) })
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canonical(x, sorted)
		}
		return out
	}
	if s, ok := v.(string); ok && sorted && (strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{")) {
		// A list in map order written out (to_string(*)): compared as the
		// list it writes, sorted.
		var parsed any
		if json.Unmarshal([]byte(s), &parsed) == nil {
			return canonical(parsed, sorted)
		}
	}
	if f, ok := v.(float64); ok && math.IsNaN(f) {
		return "(NaN)" // NaN is no value equal to itself, but both engines computed it
	}
	if v != nil && reflect.TypeOf(v).Kind() == reflect.Func {
		return "(function)"
	}
	return v
}

// compileGuarded compiles statement with c's JMESPath compiler, with a
// panic (go-jmespath's lexer panics on some input) as an error.
func compileGuarded(c compilers.Compilers, statement string) (p func(any, binding.Bindings) (any, error), err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Jp.Compile(statement)
}

// run runs a program, with a panic (go-jmespath's functions panic on some
// Go types) as an error: the engine's evaluation recovers one so.
func run(p func(any, binding.Bindings) (any, error), value any, b binding.Bindings) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p(value, b)
}

// WildcardMatch is wildcardMatch, for FuzzWildcard.
var WildcardMatch = Wildcard
