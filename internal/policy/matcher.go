package policy

import (
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Matcher selects documents with a Kyverno JSON match and exclude clause,
// the same clauses a ValidatingPolicy rule has. Other bundle documents (such
// as redaction rules) use it to say where they apply, in the policy language.
type Matcher struct {
	match, exclude func(any, binding.Bindings) (field.ErrorList, error)
}

// CompileMatcher compiles match and exclude; either may be nil. A matcher
// with neither matches every document.
func CompileMatcher(match, exclude *v1alpha1.Match) (*Matcher, error) {
	for _, m := range []*v1alpha1.Match{match, exclude} {
		if m == nil {
			continue
		}
		if err := normalizeTrees(m.Any); err != nil {
			return nil, err
		}
		if err := normalizeTrees(m.All); err != nil {
			return nil, err
		}
	}
	c := defaultCompilers()
	var m Matcher
	var ferr *field.Error
	if m.match, ferr = jsonengine.CompileMatch(field.NewPath("match"), c, match); ferr != nil {
		return nil, ferr
	}
	if m.exclude, ferr = jsonengine.CompileMatch(field.NewPath("exclude"), c, exclude); ferr != nil {
		return nil, ferr
	}
	return &m, nil
}

// Matches reports whether doc matches the match clause and not the exclude
// clause. An evaluation error is returned with matched true: callers that
// protect something (redaction) then apply, failing closed.
func (m *Matcher) Matches(doc map[string]any) (matched bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			matched, err = true, fmt.Errorf("match panicked: %v", r)
		}
	}()
	var resource any = doc
	b := &bindings{name: "$payload", value: binding.NewBinding(resource)}
	if m.match != nil {
		errs, err := m.match(resource, b)
		if err != nil {
			return true, err
		}
		if len(errs) != 0 {
			return false, nil
		}
	}
	if m.exclude != nil {
		errs, err := m.exclude(resource, b)
		if err != nil {
			return true, err
		}
		if len(errs) == 0 {
			return false, nil
		}
	}
	return true, nil
}
