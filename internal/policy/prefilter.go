package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
)

// guardFields are the document's fields, in the order a decision reads
// them, whose literal values in a match clause let a rule be skipped
// without running it: a rule for calls on the hundreds of list documents
// of one tools/list answer, a rule for a command tool (aws) on the calls
// of every other tool.
var guardFields = [...]string{"action", "phase", "tool.command.dialect"}

// guardPaths are guardFields split into member names, once.
var guardPaths = func() (paths [len(guardFields)][]string) {
	for i, f := range guardFields {
		paths[i] = strings.Split(f, ".")
	}
	return paths
}()

// guardsOf returns the values of each of guardFields that m can accept;
// none (any value) unless m is written in literals only (see literalOnly).
func guardsOf(m *v1alpha1.Match) (g [len(guardFields)]literals) {
	if !literalOnly(m) {
		return g
	}
	for i, f := range guardFields {
		g[i] = literalsOf(literalValues(m, f))
	}
	return g
}

// guarded holds a document's values of guardFields, read once per
// decision, and each as a string ("" when it is not one).
type guarded struct {
	values  [len(guardFields)]any
	strings [len(guardFields)]string
}

func (f *guarded) read(doc map[string]any) {
	for i, path := range guardPaths {
		var v any = doc
		for _, name := range path {
			m, _ := v.(map[string]any)
			v = m[name]
		}
		f.values[i] = v
		f.strings[i], _ = v.(string)
	}
}

// skip reports whether a rule of guards g cannot match the document.
func (f *guarded) skip(g *[len(guardFields)]literals) bool {
	for i := range g {
		if g[i].skips(f.values[i], f.strings[i]) {
			return true
		}
	}
	return false
}

// literalOnly reports whether every tree of m is written in literals, keys
// and values (no expression, foreach or binding). kyverno-json runs every
// tree of a match, and an expression that errs makes the rule an error,
// which denies, even where a literal already failed; a rule may be skipped
// for a literal without running its match only when nothing in it could
// err. (A literal key on a value of another type errs too, but bundles are
// checked at load against the document's schema, which documents keep.)
func literalOnly(m *v1alpha1.Match) bool {
	if m == nil {
		return true
	}
	for _, tree := range append(slices.Clip(m.Any), m.All...) {
		v, err := Plain(&tree)
		if err != nil || !literalValue(v) {
			return false
		}
	}
	return true
}

func literalValue(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for key, value := range v {
			if !isLiteral(key) || !literalValue(value) {
				return false
			}
		}
	case []any:
		for _, item := range v {
			if !literalValue(item) {
				return false
			}
		}
	case string:
		return isLiteral(v)
	}
	return true
}

// literals are the only values of a document's field that a rule's match
// clause can accept; nil when it can accept any. They are few, so a scan
// is cheaper than a map on each of a decision's rules.
type literals []string

// literalsOf returns the members of allowed as literals: nil when allowed
// is nil, empty (nothing matches) when it is empty.
func literalsOf(allowed map[string]bool) literals {
	if allowed == nil {
		return nil
	}
	return slices.AppendSeq(make(literals, 0, len(allowed)), maps.Keys(allowed))
}

// skips reports whether a rule that accepts only l cannot match a document
// whose field holds value (s when a string). Only string values are
// decided here; anything else goes through the match clause.
func (l literals) skips(value any, s string) bool {
	if l == nil {
		return false
	}
	if _, isString := value.(string); !isString {
		return false
	}
	return !slices.Contains(l, s)
}

// literalValues returns the values of field that a match clause can accept,
// or nil when it can accept any. Only literal top-level entries count
// (`action: call`), and a clause is read as kyverno-json's CompileMatch runs
// it: any tree of "any" matching is enough (and "all" is then not checked);
// without "any", every tree of "all" must match.
func literalValues(m *v1alpha1.Match, field string) map[string]bool {
	if m == nil {
		return nil
	}
	if len(m.Any) > 0 {
		union := map[string]bool{}
		for i := range m.Any {
			v, ok := literalOf(&m.Any[i], field)
			if !ok {
				return nil
			}
			union[v] = true
		}
		return union
	}
	var allowed map[string]bool
	for i := range m.All {
		v, ok := literalOf(&m.All[i], field)
		if !ok {
			continue
		}
		if allowed == nil {
			allowed = map[string]bool{v: true}
		} else if !allowed[v] {
			return map[string]bool{} // two different literals: nothing matches
		}
	}
	return allowed
}

// listKinds returns the values of list.kind that a document of action
// list must hold for m to match it, or nil when m may match any (or it
// cannot tell). One answer's hundreds of list documents then skip the
// rules written for another kind of item without running their match.
func listKinds(m *v1alpha1.Match) map[string]bool {
	if m == nil || !literalOnly(m) {
		return nil
	}
	kindOf := func(tree *v1alpha1.AssertionTree) (string, bool) {
		v, err := Plain(tree)
		if err != nil {
			return "", false
		}
		top, _ := v.(map[string]any)
		for key, value := range top {
			if !isLiteral(key) || key != "list" {
				continue
			}
			list, _ := value.(map[string]any)
			kind, ok := list["kind"].(string)
			if len(list) != 1 || !ok || !isLiteral(kind) {
				return "", false
			}
			return kind, true
		}
		return "", false
	}
	if len(m.Any) > 0 {
		kinds := map[string]bool{}
		for i := range m.Any {
			action, ok := literalOf(&m.Any[i], "action")
			switch {
			case ok && action != "list":
				continue // matches no list document
			case !ok:
				return nil
			}
			kind, ok := kindOf(&m.Any[i])
			if !ok {
				return nil
			}
			kinds[kind] = true
		}
		return kinds
	}
	for i := range m.All {
		if kind, ok := kindOf(&m.All[i]); ok {
			return map[string]bool{kind: true}
		}
	}
	return nil
}

// literalOf returns the literal string an assertion tree requires of field,
// a member or a path of members (tool.command.dialect), when its keys and
// value are all plain (not expressions).
func literalOf(tree *v1alpha1.AssertionTree, field string) (string, bool) {
	v, err := Plain(tree)
	if err != nil {
		return "", false
	}
	for _, name := range strings.Split(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v, ok = nil, false
		for key, value := range m {
			if isLiteral(key) && key == name {
				v, ok = value, true
			}
		}
		if !ok {
			return "", false
		}
	}
	s, ok := v.(string)
	if !ok || !isLiteral(s) {
		return "", false
	}
	return parseExpression(s).Statement, true
}

// isLiteral reports whether kyverno-json reads s as itself rather than as
// an expression, a foreach or a binding.
func isLiteral(s string) bool {
	e := parseExpression(s)
	return !e.Foreach && e.Binding == "" && e.Compiler == "" && e.Statement == s
}

// Environments returns the environments the policies name in a match or
// exclude clause (environment: production): an environment none names is
// treated as no other is, which a typo ("prod") would make of production.
func Environments(ps []*v1alpha1.ValidatingPolicy) map[string]bool {
	out := map[string]bool{}
	for _, p := range ps {
		for _, r := range p.Spec.Rules {
			for _, m := range []*v1alpha1.Match{r.Match, r.Exclude} {
				if m == nil {
					continue
				}
				for _, tree := range append(slices.Clip(m.Any), m.All...) {
					if env, ok := literalOf(&tree, "environment"); ok {
						out[env] = true
					}
				}
			}
		}
	}
	return out
}

// Warnings returns what p does that a release loads but its author may not
// mean, one line each, for "toolgate validate" to say before a later
// release refuses it.
func Warnings(p *v1alpha1.ValidatingPolicy) []string {
	var out []string
	if strings.HasPrefix(p.Name, "(") {
		out = append(out, fmt.Sprintf("policy %s: a name in parentheses reads, in records and findings, as one of the interceptor's own steps ((session), (task)); a later release refuses it: rename it", p.Name))
	}
	for _, r := range p.Spec.Rules {
		for _, e := range r.Context {
			if e.Name == "payload" || e.Name == "policy" || e.Name == "rule" {
				out = append(out, fmt.Sprintf("policy %s rule %s: context entry %s hides $%s, which the engine binds; a later release refuses it: rename it", p.Name, r.Name, e.Name, e.Name))
			}
		}
		// A rule about tools reads them in its context or checks; one that
		// reads no tool (who the caller is) means every listed item.
		checks := []any{r.Context}
		for _, a := range append(slices.Clip(r.Assert.Any), r.Assert.All...) {
			v, _ := Plain(&a.Check)
			checks = append(checks, v)
		}
		body, _ := json.Marshal(checks)
		if r.Match == nil || !strings.Contains(string(body), "tool") {
			continue
		}
		for _, tree := range append(slices.Clip(r.Match.Any), r.Match.All...) {
			v, _ := Plain(&tree)
			m, _ := v.(map[string]any)
			if action, ok := literalOf(&tree, "action"); ok && action == "list" && m["list"] == nil {
				out = append(out, fmt.Sprintf("policy %s rule %s matches action list without list.kind: it also sees listed prompts, resources and templates, whose tool strings are empty; add list: {kind: tool} if it is about tools", p.Name, r.Name))
				break
			}
		}
	}
	return out
}
