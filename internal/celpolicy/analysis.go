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
	// escaped are the member paths whose value an expression uses other
	// than by selecting a member of it (bound to a variable, iterated,
	// passed to a function, selected optionally: object.tool.?definition):
	// every member under them may be read.
	escaped []string
	// environments are the strings object.environment is compared with.
	environments []string
}

// has reports whether the member at path (dotted) may be read.
func (r *reads) has(path string) bool {
	if r.whole || r.paths[path] {
		return true
	}
	for _, e := range r.escaped {
		if strings.HasPrefix(path, e+".") {
			return true
		}
	}
	return false
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
				if parent, ok := e.Parent(); !ok || parent.Kind() != ast.SelectKind {
					r.escaped = append(r.escaped, strings.Join(path, "."))
				}
				if len(path) > 2 && problem == "" {
					problem = undeclaredKey(path[:2], path[2], declared)
				}
			}
		case ast.CallKind:
			call := e.AsCall()
			if msg := r.compared(call, declared); msg != "" && problem == "" {
				problem = msg
			}
			// A key of the claims or of session.labelCalls, written as a
			// literal: claims["cognito:groups"], claims.?dept,
			// 'destructive' in object.session.labelCalls.
			args := call.Args()
			if len(args) != 2 || problem != "" {
				continue
			}
			m, key := args[0], args[1]
			switch call.FunctionName() {
			case "_[_]", "_?._", "_[?_]":
			case "@in":
				m, key = args[1], args[0]
			default:
				continue
			}
			if path, ok := docPath(m); ok && len(path) == 2 {
				if names := stringLiterals(key); len(names) == 1 && key.Kind() == ast.LiteralKind {
					problem = undeclaredKey(path, names[0], declared)
				}
			}
		}
	}
	return loops, problem
}

// undeclaredKey says that the key name of the map at path (the claims,
// or session.labelCalls, whose keys are labels) is read though the bundle
// declares its claims or labels and not that one; "" when it may be.
func undeclaredKey(path []string, name string, declared policy.Declared) string {
	var known []string
	var msg string
	switch {
	case path[0] == "principal" && path[1] == "claims":
		known, msg = declared.Claims, fmt.Sprintf("reads claim %q, which the catalog's claims do not declare", name)
	case path[0] == "session" && path[1] == "labelCalls":
		known, msg = declared.Labels, fmt.Sprintf("reads the calls of label %q, which the catalog gives no tool (its labels are %s)", name, strings.Join(declared.Labels, ", "))
	default:
		return ""
	}
	if known == nil || slices.Contains(known, name) {
		return ""
	}
	if hint := policy.Nearest(known, name); hint != "" {
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
	s, _ := attributes.Schema().Member(path...) // "[]" steps into a list
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
