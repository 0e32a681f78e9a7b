package celpolicy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/policy"
)

// reads is what a policy's expressions read of the document, found in
// their checked trees once, when they compile.
type reads struct {
	// whole: an expression uses object other than through its members
	// (object passed whole, object["tool"]): it may read anything.
	whole bool
	// paths are the member paths read (tool.name, session.calls), each
	// with its prefixes.
	paths map[string]bool
	// environments are the strings object.environment is compared with.
	environments []string
}

func (r *reads) has(path string) bool {
	return r.whole || r.paths[path]
}

// analyse records what the checked expression a reads, and returns
// whether it loops (has a comprehension) and the first string it compares
// a member of the document with that the member never holds (a misspelt
// risk, an environment or label the catalog does not declare), as a
// message; "" for none.
func (r *reads) analyse(a *cel.Ast, declared policy.Declared) (loops bool, problem string) {
	if r.paths == nil {
		r.paths = map[string]bool{}
	}
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a.NativeRep()), ast.AllMatcher()) {
		switch e.Kind() {
		case ast.ComprehensionKind:
			loops = true
		case ast.IdentKind:
			if e.AsIdent() != "object" {
				continue
			}
			if parent, ok := e.Parent(); !ok || parent.Kind() != ast.SelectKind {
				r.whole = true
			}
		case ast.SelectKind:
			if path, ok := docPath(e); ok {
				r.paths[strings.Join(path, ".")] = true
				if len(path) > 2 && path[0] == "principal" && path[1] == "claims" && problem == "" {
					problem = undeclaredClaim(path[2], declared)
				}
			}
		case ast.CallKind:
			call := e.AsCall()
			if msg := r.compared(call, declared); msg != "" && problem == "" {
				problem = msg
			}
			// object.principal.claims["cognito:groups"]
			if args := call.Args(); call.FunctionName() == "_[_]" && len(args) == 2 && problem == "" {
				if path, ok := docPath(args[0]); ok && slices.Equal(path, []string{"principal", "claims"}) {
					if names := stringLiterals(args[1]); len(names) == 1 {
						problem = undeclaredClaim(names[0], declared)
					}
				}
			}
		}
	}
	return loops, problem
}

// undeclaredClaim says that the claim name is read though the bundle
// declares its claims and not that one; "" when it may be read.
func undeclaredClaim(name string, declared policy.Declared) string {
	if declared.Claims == nil || slices.Contains(declared.Claims, name) {
		return ""
	}
	msg := fmt.Sprintf("reads claim %q, which the catalog's claims do not declare", name)
	if hint := policy.Nearest(declared.Claims, name); hint != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	}
	return msg
}

// compared checks a comparison of a document member with string
// literals: m == 'x', m != 'x', m in ['x', 'y'], 'x' in m (a list).
func (r *reads) compared(call ast.CallExpr, declared policy.Declared) string {
	args := call.Args()
	if len(args) != 2 {
		return ""
	}
	var path []string
	var literals []string
	member := func(e ast.Expr) bool {
		p, ok := docPath(e)
		path = p
		return ok
	}
	switch call.FunctionName() {
	case "_==_", "_!=_":
		switch {
		case member(args[0]):
			literals = stringLiterals(args[1])
		case member(args[1]):
			literals = stringLiterals(args[0])
		}
	case "@in":
		switch {
		case member(args[1]):
			literals = stringLiterals(args[0]) // 'pii' in object.tool.labels
			path = append(slices.Clip(path), "[]")
		case args[1].Kind() == ast.ListKind && member(args[0]):
			for _, el := range args[1].AsList().Elements() {
				literals = append(literals, stringLiterals(el)...)
			}
		}
	}
	if len(literals) == 0 {
		return ""
	}
	name := strings.TrimSuffix(strings.Join(path, "."), ".[]")
	if name == "environment" {
		r.environments = append(r.environments, literals...)
	}
	allowed, what := allowedValues(path, declared)
	for _, l := range literals {
		if allowed == nil || slices.Contains(allowed, l) {
			continue
		}
		msg := fmt.Sprintf("object.%s is compared with %q, which it never holds: %s", name, l, what)
		if hint := policy.Nearest(allowed, l); hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		}
		return msg
	}
	return ""
}

// allowedValues returns the values the member at path (a list's element
// when it ends in "[]") can hold, and how to say so; nil when any.
func allowedValues(path []string, declared policy.Declared) ([]string, string) {
	switch name := strings.Join(path, "."); {
	case name == "environment" && declared.Environments != nil:
		return declared.Environments, "the catalog's environments are " + strings.Join(declared.Environments, ", ")
	case (name == "tool.labels.[]" || name == "session.labels.[]") && declared.Labels != nil:
		return declared.Labels, "the catalog gives no tool that label (its labels are " + strings.Join(declared.Labels, ", ") + ")"
	}
	s := attributes.Schema()
	for _, p := range path {
		switch {
		case s == nil:
			return nil, ""
		case p == "[]":
			s = s.Elem
		default:
			s = s.Fields[p]
		}
	}
	if s == nil || s.Enum == nil {
		return nil, ""
	}
	var named []string
	for _, v := range s.Enum {
		if v != "" {
			named = append(named, v)
		}
	}
	return s.Enum, "it is one of " + strings.Join(named, ", ")
}

// docPath returns the member path a chain of selections from object reads
// (object.tool.risk is tool, risk).
func docPath(e ast.Expr) ([]string, bool) {
	var rev []string
	for e.Kind() == ast.SelectKind {
		rev = append(rev, e.AsSelect().FieldName())
		e = e.AsSelect().Operand()
	}
	if e.Kind() != ast.IdentKind || e.AsIdent() != "object" || len(rev) == 0 {
		return nil, false
	}
	slices.Reverse(rev)
	return rev, true
}

// stringLiterals returns e's value when it is a string literal, or the
// string elements of a list literal.
func stringLiterals(e ast.Expr) []string {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			return []string{string(s)}
		}
	case ast.ListKind:
		var out []string
		for _, el := range e.AsList().Elements() {
			out = append(out, stringLiterals(el)...)
		}
		return out
	}
	return nil
}
