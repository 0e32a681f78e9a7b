package policy

import (
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Matcher selects documents with a Kyverno JSON match and exclude clause,
// the same clauses a ValidatingPolicy rule has. Other bundle documents (such
// as redaction rules) use it to say where they apply, in the policy language.
type Matcher struct {
	match, exclude *clause
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
	var err error
	if m.match, err = compileClause(loc{path: field.NewPath("match")}, c, match); err != nil {
		return nil, err
	}
	if m.exclude, err = compileClause(loc{path: field.NewPath("exclude")}, c, exclude); err != nil {
		return nil, err
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
		failed, err := m.match.failed(resource, b)
		if err != nil {
			return true, err
		}
		if failed {
			return false, nil
		}
	}
	if m.exclude != nil {
		failed, err := m.exclude.failed(resource, b)
		if err != nil {
			return true, err
		}
		if !failed {
			return false, nil
		}
	}
	return true, nil
}
