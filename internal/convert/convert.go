// Package convert rewrites kyverno-json policies as Kyverno CEL
// ValidatingPolicies, the dialect upstream names as kyverno-json's
// successor. It converts what it can say exactly in CEL, and says of every
// rule it cannot why: a policy is converted whole or not at all, so that a
// bundle converted is a bundle that decides as before, its unconverted
// policies left as they were.
package convert

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/expression"
	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/celpolicy"
	"github.com/toolgate/toolgate/internal/policy"
)

// Policy returns p as a CEL ValidatingPolicy of the same name, mode,
// effect and messages, or, when a rule cannot be said exactly in CEL, nil
// and why, naming the rule.
func Policy(p *v1alpha1.ValidatingPolicy) (*celpolicy.Policy, error) {
	out := &celpolicy.Policy{
		APIVersion: celpolicy.APIVersion,
		Kind:       celpolicy.Kind,
		Metadata:   celpolicy.Metadata{Name: p.Name, Labels: p.Labels},
		Spec: celpolicy.Spec{
			Evaluation:        celpolicy.Evaluation{Mode: celpolicy.ModeJSON},
			ValidationActions: []string{celpolicy.ActionDeny},
		},
	}
	for k, v := range p.Annotations {
		if k == policy.ModeAnnotation {
			if v == string(policy.ModeAudit) {
				out.Spec.ValidationActions = []string{celpolicy.ActionAudit}
			}
			continue
		}
		if out.Metadata.Annotations == nil {
			out.Metadata.Annotations = map[string]string{}
		}
		out.Metadata.Annotations[k] = v
	}
	if p.Spec.Compiler != nil && *p.Spec.Compiler != expression.CompilerJP {
		return nil, fmt.Errorf("policy %s: compiler %s: only JMESPath converts", p.Name, *p.Spec.Compiler)
	}
	for _, r := range p.Spec.Rules {
		if err := rule(out, r, len(p.Spec.Rules) > 1); err != nil {
			return nil, fmt.Errorf("policy %s rule %s: %w", p.Name, r.Name, err)
		}
	}
	return out, nil
}

// rule adds r's variables and validations to out. When the policy has one
// rule, its match is the policy's match condition; with several, each
// validation holds when its rule does not match.
func rule(out *celpolicy.Policy, r v1alpha1.ValidatingRule, several bool) error {
	if r.Compiler != nil && *r.Compiler != expression.CompilerJP {
		return fmt.Errorf("compiler %s: only JMESPath converts", *r.Compiler)
	}
	c := &converter{types: map[string]cexpr{}}
	prefix := ""
	if several {
		prefix = identifierOf(r.Name) + "_"
	}
	for _, e := range r.Context {
		if e.Compiler != nil && *e.Compiler != expression.CompilerJP {
			return fmt.Errorf("context %s: compiler %s: only JMESPath converts", e.Name, *e.Compiler)
		}
		v, err := policy.Plain(&e.Variable)
		if err != nil {
			return err
		}
		var src string
		if s, ok := v.(string); ok && isExpression(s) {
			x, err := c.expression(s, nil)
			if err != nil {
				return fmt.Errorf("context %s: %w", e.Name, err)
			}
			src = x.src
			c.types[e.Name] = x
		} else {
			if src, err = literal(v); err != nil {
				return fmt.Errorf("context %s: %w", e.Name, err)
			}
			c.types[e.Name] = cexpr{src: src, kind: kindOf(v)}
		}
		name := prefix + identifierOf(e.Name)
		if slices.ContainsFunc(out.Spec.Variables, func(v celpolicy.NamedCondition) bool { return v.Name == name }) {
			return fmt.Errorf("context %s: its CEL name %s is another variable's", e.Name, name)
		}
		x := c.types[e.Name]
		x.src = "variables." + name
		c.types[e.Name] = x
		out.Spec.Variables = append(out.Spec.Variables, celpolicy.NamedCondition{Name: name, Expression: src})
	}
	match, err := c.match(r.Match, r.Exclude)
	if err != nil {
		return err
	}
	if !several && match != "" {
		out.Spec.MatchConditions = append(out.Spec.MatchConditions, celpolicy.NamedCondition{Name: r.Name, Expression: match})
	}
	if r.Assert.Compiler != nil || len(r.Assert.Any) > 0 {
		return fmt.Errorf("assert.any and compilers in assert do not convert")
	}
	if len(r.Identifier) > 0 || len(r.Feedback) > 0 {
		return fmt.Errorf("identifier and feedback do not convert")
	}
	for i, a := range r.Assert.All {
		tree, err := policy.Plain(&a.Check)
		if err != nil {
			return err
		}
		check, err := c.tree(tree, nil)
		if err != nil {
			return fmt.Errorf("assert.all[%d]: %w", i, err)
		}
		if several && match != "" {
			check = "!(" + match + ") || " + check
		}
		v := celpolicy.Validation{Expression: check}
		if a.Message != nil {
			if v.Message, v.MessageExpression, err = c.message(a.Message.Original()); err != nil {
				return fmt.Errorf("assert.all[%d].message: %w", i, err)
			}
		}
		out.Spec.Validations = append(out.Spec.Validations, v)
	}
	return nil
}

// converter translates one rule's trees and expressions.
type converter struct {
	types map[string]cexpr // $name → variables.x, and what it holds
	// item, inside a filter, is what @ is: the element's variable.
	item *cexpr
	// within is an optional member a tree is read under once its presence
	// is tested (response): what is under it is there when it is.
	within []string
}

// present reports whether the document has the member at path whenever
// the condition being written is evaluated.
func (c *converter) present(path []string) bool {
	if c.within != nil && len(path) > len(c.within) && slices.Equal(path[:len(c.within)], c.within) {
		_, always := shapeAt(c.within).Member(path[len(c.within):]...)
		return always
	}
	return present(path)
}

// cexpr is a CEL expression and what it evaluates to.
type cexpr struct {
	src  string
	kind kind
	// elem is what a list's elements are, when known.
	elem kind
	// path is the document member it reads, when it is one.
	path []string
}

type kind int

const (
	anyKind kind = iota
	boolKind
	stringKind
	numberKind
	listKind
	mapKind
)

// match returns the CEL condition of a match and exclude: "" for none.
func (c *converter) match(m, exclude *v1alpha1.Match) (string, error) {
	in, err := c.clauses(m)
	if err != nil {
		return "", fmt.Errorf("match: %w", err)
	}
	out, err := c.clauses(exclude)
	if err != nil {
		return "", fmt.Errorf("exclude: %w", err)
	}
	switch {
	case out == "":
		return in, nil
	case in == "":
		return "!(" + out + ")", nil
	}
	return "(" + in + ") && !(" + out + ")", nil
}

func (c *converter) clauses(m *v1alpha1.Match) (string, error) {
	if m == nil {
		return "", nil
	}
	if m.Compiler != nil {
		return "", fmt.Errorf("compilers in a match do not convert")
	}
	anyOf, err := c.trees(m.Any)
	if err != nil {
		return "", err
	}
	allOf, err := c.trees(m.All)
	if err != nil {
		return "", err
	}
	var parts []string
	if len(anyOf) > 0 {
		parts = append(parts, group(anyOf, " || "))
	}
	if len(allOf) > 0 {
		parts = append(parts, group(allOf, " && "))
	}
	return strings.Join(parts, " && "), nil
}

// trees returns the condition of each tree.
func (c *converter) trees(ts []v1alpha1.AssertionTree) ([]string, error) {
	var out []string
	for _, t := range ts {
		v, err := policy.Plain(&t)
		if err != nil {
			return nil, err
		}
		x, err := c.tree(v, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func group(xs []string, op string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return "(" + strings.Join(xs, ")"+op+"(") + ")"
}

// tree returns the condition that an assertion tree holds at path.
func (c *converter) tree(v any, at []string) (string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("a tree that is not an object does not convert")
	}
	var parts []string
	for _, key := range sortedKeys(m) {
		e := expression.Parse(key)
		if e.Foreach || e.Binding != "" || e.Compiler != "" && e.Compiler != expression.CompilerDefault && e.Compiler != expression.CompilerJP {
			return "", fmt.Errorf("key %s: loops, bindings and other compilers do not convert", key)
		}
		var member cexpr
		if e.Compiler == "" {
			member = c.member(append(slices.Clip(at), e.Statement))
		} else {
			x, err := c.expression(e.Statement, at)
			if err != nil {
				return "", fmt.Errorf("key %s: %w", key, err)
			}
			member = x
		}
		value := m[key]
		if sub, ok := value.(map[string]any); ok {
			if member.path == nil || member.kind != mapKind {
				return "", fmt.Errorf("key %s: a tree under what is not a member object does not convert", key)
			}
			optional := !c.present(member.path)
			if optional {
				if c.within != nil {
					return "", fmt.Errorf("key %s: a tree under two optional members does not convert", key)
				}
				c.within = member.path
			}
			x, err := c.tree(sub, member.path)
			if optional {
				c.within = nil
			}
			if err != nil {
				return "", err
			}
			if optional {
				// kyverno-json finds no object there: the tree fails.
				x = "has(" + member.src + ") && (" + x + ")"
			}
			parts = append(parts, x)
			continue
		}
		x, err := c.equals(member, value)
		if err != nil {
			return "", fmt.Errorf("key %s: %w", key, err)
		}
		parts = append(parts, x)
	}
	if len(parts) == 0 {
		return "true", nil
	}
	return strings.Join(parts, " && "), nil
}

// equals returns the condition that x equals the literal v, as
// kyverno-json compares them (an absent member equals nothing).
//
// kyverno-json reads a string value as it reads a key: "(...)" is an
// expression, "\\x\\" an escaped literal; and it errs, which denies, where
// the value's type is not the member's ("true" against true): CEL's
// == would say false, so such a comparison does not convert, nor one
// with a member of no fixed type (an argument, a claim), whose type the
// caller chooses.
func (c *converter) equals(x cexpr, v any) (string, error) {
	if s, ok := v.(string); ok {
		e := expression.Parse(s)
		if e.Foreach || e.Binding != "" || e.Compiler != "" {
			return "", fmt.Errorf("the value %s, an expression, does not convert", s)
		}
		v = e.Statement
	}
	if kindOf(v) != x.kind {
		if x.kind == anyKind {
			return "", fmt.Errorf("a comparison with a member of no fixed type does not convert (kyverno-json errs on a value of another type, CEL's == is false)")
		}
		return "", fmt.Errorf("a comparison of %s with a member of another type does not convert (kyverno-json errs, CEL's == is false)", jsonType(v))
	}
	if b, ok := v.(bool); ok {
		if x.path != nil && !c.present(x.path) {
			if b {
				return "(has(" + x.src + ") && " + x.src + ")", nil
			}
			return "(has(" + x.src + ") && !" + x.src + ")", nil
		}
		if b {
			return x.src, nil
		}
		return "!(" + x.src + ")", nil
	}
	switch v.(type) {
	case string, float64:
	default:
		return "", fmt.Errorf("a comparison with %s does not convert", jsonType(v))
	}
	lit, err := literal(v)
	if err != nil {
		return "", err
	}
	if x.path != nil && !c.present(x.path) {
		return "(has(" + x.src + ") && " + x.src + " == " + lit + ")", nil
	}
	return x.src + " == " + lit, nil
}

// member is the document member at path.
func (c *converter) member(path []string) cexpr {
	x := cexpr{src: "object", path: path}
	for _, p := range path {
		if identifier.MatchString(p) {
			x.src += "." + p
		} else {
			x.src += "[" + strconv.Quote(p) + "]"
		}
	}
	x.kind = kindOfShape(shapeAt(path))
	return x
}

// expression translates a JMESPath expression read at path.
func (c *converter) expression(s string, at []string) (cexpr, error) {
	node, err := parse(s)
	if err != nil {
		return cexpr{}, err
	}
	return c.node(node, at)
}

func parse(s string) (n parsing.ASTNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%q does not parse", s)
		}
	}()
	return parsing.NewParser().Parse(s)
}

func (c *converter) node(n parsing.ASTNode, at []string) (cexpr, error) {
	switch n.NodeType {
	case parsing.ASTField:
		return c.member(append(slices.Clip(at), n.Value.(string))), nil
	case parsing.ASTSubexpression:
		left, err := c.node(n.Children[0], at)
		if err != nil || left.path == nil || n.Children[1].NodeType != parsing.ASTField {
			return cexpr{}, unsupported(n)
		}
		return c.node(n.Children[1], left.path)
	case parsing.ASTCurrentNode:
		switch {
		case c.item != nil:
			return *c.item, nil
		case at == nil:
			return cexpr{}, unsupported(n)
		}
		return c.member(at), nil
	case parsing.ASTMultiSelectList:
		// A list of literals ([\'a\', \'b\']).
		var parts []string
		for _, e := range n.Children {
			if e.NodeType != parsing.ASTLiteral {
				return cexpr{}, unsupported(n)
			}
			lit, err := literal(e.Value)
			if err != nil {
				return cexpr{}, err
			}
			parts = append(parts, lit)
		}
		return cexpr{src: "[" + strings.Join(parts, ", ") + "]", kind: listKind}, nil
	case parsing.ASTFilterProjection:
		// list[?cond]: the elements for which cond holds, as a list.
		list, err := c.node(n.Children[0], at)
		if err != nil || list.kind != listKind || list.path != nil && !c.present(list.path) || c.item != nil ||
			n.Children[1].NodeType != parsing.ASTIdentity && n.Children[1].NodeType != parsing.ASTCurrentNode {
			return cexpr{}, unsupported(n)
		}
		item := cexpr{src: "e", kind: anyKind}
		if elem := shapeOfList(list); elem != nil {
			item.kind = kindOfShape(elem)
		} else if list.elem != anyKind {
			item.kind = list.elem
		}
		c.item = &item
		cond, err := c.node(n.Children[2], at)
		c.item = nil
		if err != nil || !c.definite(cond) {
			return cexpr{}, unsupported(n)
		}
		return cexpr{src: list.src + ".filter(e, " + cond.src + ")", kind: listKind, elem: item.kind}, nil
	case parsing.ASTVariable:
		name := strings.TrimPrefix(n.Value.(string), "$")
		if x, ok := c.types[name]; ok {
			return x, nil
		}
		return cexpr{}, fmt.Errorf("$%s: only the rule's context variables convert", name)
	case parsing.ASTLiteral:
		src, err := literal(n.Value)
		return cexpr{src: src, kind: kindOf(n.Value)}, err
	case parsing.ASTComparator:
		left, right, err := c.operands(n, at)
		if err != nil {
			return cexpr{}, err
		}
		return c.comparison(n, left, right)
	case parsing.ASTAndExpression, parsing.ASTOrExpression:
		left, right, err := c.operands(n, at)
		if err != nil {
			return cexpr{}, err
		}
		if !c.definite(left) || !c.definite(right) {
			// JMESPath's && and || return a value, not a bool.
			return cexpr{}, fmt.Errorf("%s of values that are not booleans does not convert", strings.ToLower(strings.TrimPrefix(n.NodeType.String(), "AST")))
		}
		op := " && "
		if n.NodeType == parsing.ASTOrExpression {
			op = " || "
		}
		return cexpr{src: "(" + left.src + op + right.src + ")", kind: boolKind}, nil
	case parsing.ASTNotExpression:
		x, err := c.node(n.Children[0], at)
		if err != nil || !c.definite(x) {
			return cexpr{}, unsupported(n)
		}
		return cexpr{src: "!(" + x.src + ")", kind: boolKind}, nil
	case parsing.ASTFunctionExpression:
		return c.function(n, at)
	}
	return cexpr{}, unsupported(n)
}

// operands translates the two operands of a binary node.
func (c *converter) operands(n parsing.ASTNode, at []string) (left, right cexpr, err error) {
	if left, err = c.node(n.Children[0], at); err != nil {
		return cexpr{}, cexpr{}, err
	}
	right, err = c.node(n.Children[1], at)
	return left, right, err
}

// definite reports whether x is a bool that is never null: a comparison,
// a function's answer, or a document member that is always there.
func (c *converter) definite(x cexpr) bool {
	return x.kind == boolKind && (x.path == nil || c.present(x.path))
}

func (c *converter) comparison(n parsing.ASTNode, left, right cexpr) (cexpr, error) {
	ops := map[parsing.TokType]string{parsing.TOKEQ: "==", parsing.TOKNE: "!=", parsing.TOKLT: "<", parsing.TOKLTE: "<=", parsing.TOKGT: ">", parsing.TOKGTE: ">="}
	op, ok := ops[n.Value.(parsing.TokType)]
	if !ok {
		return cexpr{}, unsupported(n)
	}
	absent := left.path != nil && !c.present(left.path) || right.path != nil && !c.present(right.path)
	switch {
	case op != "==" && op != "!=":
		// null < 1 is null in JMESPath, which no check equals.
		if absent || left.kind != numberKind && left.kind != stringKind || left.kind != right.kind {
			return cexpr{}, fmt.Errorf("%s between members that may be absent or of other types does not convert", op)
		}
	case absent:
		return cexpr{}, fmt.Errorf("%s with a member that may be absent does not convert", op)
	}
	return cexpr{src: "(" + left.src + " " + op + " " + right.src + ")", kind: boolKind}, nil
}

// function translates the JMESPath functions that have an exact CEL
// counterpart on the types the arguments have.
func (c *converter) function(n parsing.ASTNode, at []string) (cexpr, error) {
	name := n.Value.(string)
	var args []cexpr
	for _, a := range n.Children {
		x, err := c.node(a, at)
		if err != nil {
			return cexpr{}, err
		}
		if x.path != nil && !c.present(x.path) {
			return cexpr{}, fmt.Errorf("%s() of a member that may be absent does not convert", name)
		}
		args = append(args, x)
	}
	want := func(kinds ...kind) bool {
		if len(args) != len(kinds) {
			return false
		}
		for i, k := range kinds {
			if args[i].kind != k {
				return false
			}
		}
		return true
	}
	switch {
	case name == "contains" && want(listKind, stringKind):
		return cexpr{src: "(" + args[1].src + " in " + args[0].src + ")", kind: boolKind}, nil
	case name == "contains" && want(stringKind, stringKind):
		return cexpr{src: args[0].src + ".contains(" + args[1].src + ")", kind: boolKind}, nil
	case name == "length" && (want(listKind) || want(stringKind) || want(mapKind)):
		return cexpr{src: "size(" + args[0].src + ")", kind: numberKind}, nil
	case name == "starts_with" && want(stringKind, stringKind):
		return cexpr{src: args[0].src + ".startsWith(" + args[1].src + ")", kind: boolKind}, nil
	case name == "ends_with" && want(stringKind, stringKind):
		return cexpr{src: args[0].src + ".endsWith(" + args[1].src + ")", kind: boolKind}, nil
	case name == "wildcard" && want(stringKind, stringKind):
		return cexpr{src: "wildcard(" + args[0].src + ", " + args[1].src + ")", kind: boolKind}, nil
	case name == "regex_match" && want(stringKind, stringKind):
		return cexpr{src: args[1].src + ".matches(" + args[0].src + ")", kind: boolKind}, nil
	case name == "join" && want(stringKind, listKind):
		return cexpr{src: args[1].src + ".join(" + args[0].src + ")", kind: stringKind}, nil
	case name == "to_string" && want(stringKind):
		return args[0], nil
	case name == "keys" && want(mapKind):
		return cexpr{src: args[0].src + ".map(k, k)", kind: listKind, elem: stringKind}, nil
	}
	return cexpr{}, fmt.Errorf("%s() on these arguments does not convert", name)
}

// message returns a template's text, or the CEL expression that makes it
// when it has {{ }} parts.
func (c *converter) message(tmpl string) (text, expr string, err error) {
	parts := template.FindAllStringSubmatchIndex(tmpl, -1)
	if len(parts) == 0 {
		return tmpl, "", nil
	}
	var pieces []string
	last := 0
	for _, m := range parts {
		if m[0] > last {
			pieces = append(pieces, strconv.Quote(tmpl[last:m[0]]))
		}
		x, err := c.expression(strings.TrimSpace(tmpl[m[2]:m[3]]), nil)
		if err != nil {
			return "", "", fmt.Errorf("{{%s}}: %w", tmpl[m[2]:m[3]], err)
		}
		switch x.kind {
		case stringKind:
			pieces = append(pieces, x.src)
		default:
			return "", "", fmt.Errorf("{{%s}}: only strings convert", tmpl[m[2]:m[3]])
		}
		last = m[1]
	}
	if last < len(tmpl) {
		pieces = append(pieces, strconv.Quote(tmpl[last:]))
	}
	return "", strings.Join(pieces, " + "), nil
}

var (
	template   = regexp.MustCompile(`{{(.*?)}}`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// present reports whether the document always has the member at path.
func present(path []string) bool {
	_, always := attributes.Schema().Member(path...)
	return always
}

// shapeAt is the shape of the member at path; nil when there is none.
func shapeAt(path []string) *attributes.Shape {
	s, _ := attributes.Schema().Member(path...)
	return s
}

// shapeOfList is the shape of the elements of a document list.
func shapeOfList(x cexpr) *attributes.Shape {
	if x.path == nil {
		return nil
	}
	if s := shapeAt(x.path); s != nil && s.Type == "array" {
		return s.Elem
	}
	return nil
}

func kindOfShape(s *attributes.Shape) kind {
	if s == nil {
		return anyKind
	}
	return map[string]kind{"boolean": boolKind, "string": stringKind, "number": numberKind, "array": listKind, "object": mapKind}[s.Type]
}

func kindOf(v any) kind {
	switch v.(type) {
	case bool:
		return boolKind
	case string:
		return stringKind
	case float64:
		return numberKind
	case []any:
		return listKind
	case map[string]any:
		return mapKind
	}
	return anyKind
}

// literal writes a JSON value as a CEL literal.
func literal(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(v), nil
	case string:
		return strconv.Quote(v), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case []any:
		var parts []string
		for _, e := range v {
			s, err := literal(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(v) {
			s, err := literal(v[k])
			if err != nil {
				return "", err
			}
			parts = append(parts, strconv.Quote(k)+": "+s)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("%T does not convert", v)
}

func isExpression(s string) bool {
	e := expression.Parse(s)
	return e.Compiler != "" || e.Foreach || e.Binding != ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// identifierOf is name as a CEL identifier: other characters as "_".
func identifierOf(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

func unsupported(n parsing.ASTNode) error {
	return fmt.Errorf("%s does not convert", strings.TrimPrefix(n.NodeType.String(), "AST"))
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// File rewrites the documents of one bundle file: each kyverno-json
// ValidatingPolicy that converts becomes its CEL ValidatingPolicy; every
// other document, and a policy that does not convert, stays as written.
// notes say, at file:line, what was converted and what was not, and why.
func File(name string, data []byte) (out []byte, notes []string, err error) {
	docs := bundle.SplitDocuments(name, data)
	var parts [][]byte
	for _, d := range docs {
		if !strings.Contains(string(d.Data), policy.KyvernoAPIVersion) {
			parts = append(parts, d.Data)
			continue
		}
		p, err := policy.DecodePolicy(d.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.Where(), err)
		}
		var y []byte
		c, err := Policy(p)
		if err == nil {
			// What CEL refuses though JMESPath took it (a list literal of
			// mixed types) keeps the policy as it was: the CEL form is
			// read back as a bundle would read it, and compiled.
			if y, err = yaml.Marshal(c); err != nil {
				return nil, nil, err
			}
			back, derr := celpolicy.Decode(y)
			if derr == nil {
				_, derr = celpolicy.Compile([]*celpolicy.Policy{back}, policy.Declared{})
			}
			if derr != nil {
				err = fmt.Errorf("policy %s: its CEL form does not compile: %w", p.Name, derr)
			}
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: kept: %v", d.Where(), err))
			parts = append(parts, d.Data)
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: policy %s converted", d.Where(), p.Name))
		parts = append(parts, y)
	}
	for i, p := range parts {
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, p...)
		if len(p) > 0 && p[len(p)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out, notes, nil
}

// Bundle converts every YAML file of the bundle in fsys (see File),
// returning each file's new contents by path, and the notes of all.
func Bundle(fsys fs.FS) (files map[string][]byte, notes []string, err error) {
	files = map[string][]byte{}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p != "." && strings.HasPrefix(d.Name(), "."):
			return fs.SkipDir
		case d.IsDir() || !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml"):
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out, n, err := File(p, data)
		if err != nil {
			return err
		}
		files[p], notes = out, append(notes, n...)
		return nil
	})
	return files, notes, err
}
