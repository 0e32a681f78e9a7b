package policy

import (
	"regexp"
	"slices"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
)

// shape is what a message template may read of a part of the attribute
// document: all of it (safe), the members named in fields, or, for a nil
// *shape, nothing, since it may hold the call's arguments or the target's
// answer.
type shape struct {
	safe   bool
	fields map[string]*shape
}

var safe = &shape{safe: true}

// readable is what a record may hold of the document: who (from the
// token), which tool (which the record names anyway), which method, the
// session's counts, the approval, the time. Not what the caller or the
// target writes freely: the arguments or what is derived from them
// (tool.wildcards), a prompt's name and arguments, a resource's URI or any
// part of it, the JSON-RPC id, the client's headers, the answer's body or
// the method of a message the target streams.
var readable = &shape{fields: map[string]*shape{
	"version": safe, "phase": safe, "action": safe, "environment": safe, "principal": safe,
	"session": safe, "approval": safe, "time": safe, "list": safe,
	"mcp": {fields: map[string]*shape{"method": safe, "kind": safe}},
	"tool": {fields: map[string]*shape{
		"name": safe, "target": safe, "qualifiedName": safe, "operation": safe, "risk": safe, "labels": safe,
		"suspicious": safe, "suspiciousReasons": safe,
		// Of a command, what the catalog and this project's reader say,
		// not what the command says (its service, operation, options).
		"command": {fields: map[string]*shape{
			"dialect": safe, "argument": safe, "parsed": safe, "error": safe,
			"aws": {fields: map[string]*shape{"class": safe, "critical": safe, "credentials": safe}},
		}},
		// Digests of definitions: what was pinned and what was seen.
		"definition": safe,
	}},
	"response": {fields: map[string]*shape{"statusCode": safe, "size": safe, "streaming": safe, "kind": safe}},
}}

// templateExpr finds a message's expressions as kyverno-json does.
var templateExpr = regexp.MustCompile(`{{(.*?)}}`)

// quotesArguments reports whether a message of r may put into its text
// what a record must not hold: an expression of its template that reads
// anything beyond readable, a variable (other than $payload, the
// document), the document whole, or that does not parse. It is an
// allow-list, so it errs on the side of withholding.
func quotesArguments(r v1alpha1.ValidatingRule) bool {
	if slices.ContainsFunc(r.Context, func(e v1alpha1.ContextEntry) bool { return e.Name == "payload" }) {
		return true // $payload is then the entry, not the document
	}
	for _, a := range append(slices.Clip(r.Assert.Any), r.Assert.All...) {
		if a.Message == nil {
			continue
		}
		if messageQuotes(a.Message.Original()) {
			return true
		}
	}
	return false
}

// messageQuotes reports whether message, a template, may quote what a
// record must not hold (see quotesArguments).
func messageQuotes(message string) bool {
	for _, m := range templateExpr.FindAllStringSubmatch(message, -1) {
		ast, err := parseJMESPath(strings.TrimSpace(m[1]))
		if err != nil || reads(ast, readable) != safe {
			return true
		}
	}
	return false
}

// reads returns the shape of what n yields when evaluated on a value of
// shape cur: safe, a partly readable member, or nil when what it yields
// may hold what a record must not.
func reads(n parsing.ASTNode, cur *shape) *shape {
	child := func(i int, s *shape) *shape {
		if i >= len(n.Children) {
			return nil
		}
		return reads(n.Children[i], s)
	}
	switch n.NodeType {
	case parsing.ASTLiteral:
		return safe
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return cur
	case parsing.ASTRootNode:
		return readable
	case parsing.ASTVariable:
		if n.Value == "$payload" {
			return readable
		}
		return nil
	case parsing.ASTField:
		name, _ := n.Value.(string)
		switch {
		case cur == nil:
			return nil
		case cur.safe:
			return safe
		}
		return cur.fields[name]
	case parsing.ASTSubexpression, parsing.ASTIndexExpression, parsing.ASTPipe:
		return child(1, child(0, cur))
	case parsing.ASTIndex, parsing.ASTSlice, parsing.ASTFlatten:
		// Elements of an array: safe only within a safe whole.
		if len(n.Children) > 0 {
			cur = child(0, cur)
		}
		return all(cur)
	case parsing.ASTProjection, parsing.ASTValueProjection, parsing.ASTFilterProjection:
		elem := all(child(0, cur))
		if n.NodeType == parsing.ASTFilterProjection && all(child(2, elem)) == nil {
			return nil // which elements pass says something of them
		}
		return all(child(1, elem))
	case parsing.ASTFunctionExpression:
		// Every argument, and every expression passed by reference
		// (sort_by(list, &key)), must be safe: a function can return any
		// part of what it is given.
		for _, c := range n.Children {
			if c.NodeType == parsing.ASTExpRef {
				if all(reads(c.Children[0], safe)) == nil {
					return nil
				}
			} else if all(reads(c, cur)) == nil {
				return nil
			}
		}
		return safe
	case parsing.ASTComparator, parsing.ASTOrExpression, parsing.ASTAndExpression, parsing.ASTNotExpression,
		parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression, parsing.ASTMultiSelectList,
		parsing.ASTMultiSelectHash, parsing.ASTKeyValPair:
		for i := range n.Children {
			if all(child(i, cur)) == nil {
				return nil
			}
		}
		return safe
	}
	return nil // let, bindings, and whatever a later parser adds
}

// all returns s if it is wholly safe, else nil: a partly readable member
// yielded whole (tool, the document) holds what is not readable.
func all(s *shape) *shape {
	if s == safe {
		return safe
	}
	return nil
}
