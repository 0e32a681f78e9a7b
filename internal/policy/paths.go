package policy

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/expression"

	"github.com/toolgate/toolgate/internal/attributes"
)

// Problem is a path a policy reads that the attribute document cannot
// have: an error, since such a match never applies and such a check never
// sees what it was written for. Reading a claim the bundle does not
// declare is a warning, unless the bundle declares its claims.
type Problem struct {
	// At is where in the YAML document: member names and indexes.
	At      []any
	Message string
	Warning bool
}

// labelOf returns the shape of one label of tool.labels or
// session.labels; labelCalls that of session.labelCalls, keyed by label.
func labelOf(parent string) *attributes.Shape {
	return attributes.Schema().Fields[parent].Fields["labels"].Elem
}
func labelCalls() *attributes.Shape {
	return attributes.Schema().Fields["session"].Fields["labelCalls"]
}

// Declared is what a bundle declares of the documents it will see: nil
// when it declares nothing of that kind.
type Declared struct {
	// Claims are the token claims its policies may read.
	Claims []string
	// Environments are the deployment environments it knows.
	Environments []string
	// Labels are the labels its catalog gives tools: no other label is
	// ever in tool.labels or session.labels.
	Labels []string
}

// Paths checks every path p reads (match, exclude and assert trees, the
// JMESPath expressions in their keys and values, context variables and
// message templates) against the attribute document's schema, and every
// environment it compares the document's with literally against the
// declared ones.
func Paths(p *v1alpha1.ValidatingPolicy, declared Declared) []Problem {
	c := &pathChecker{declared: declared}
	lang := compilerOf(p.Spec.Compiler, expression.CompilerJP)
	for i, r := range p.Spec.Rules {
		at := []any{"spec", "rules", i}
		rlang := compilerOf(r.Compiler, lang)
		// $policy and $rule are bound while a policy is evaluated (not
		// followed: they are the policy's own YAML).
		env := map[string]*node{"$payload": document(), "$policy": nil, "$rule": nil}
		for j, e := range r.Context {
			v, err := Plain(&e.Variable)
			if err != nil {
				continue
			}
			env["$"+e.Name] = c.scalar(v, document(), env, compilerOf(e.Compiler, rlang), with(at, "context", j, "variable"))
		}
		for _, m := range []struct {
			name  string
			match *v1alpha1.Match
		}{{"match", r.Match}, {"exclude", r.Exclude}} {
			c.match(m.match, with(at, m.name), env, rlang)
		}
		alang := compilerOf(r.Assert.Compiler, rlang)
		for _, list := range []struct {
			name       string
			assertions []v1alpha1.Assertion
		}{{"any", r.Assert.Any}, {"all", r.Assert.All}} {
			for k, a := range list.assertions {
				aat := with(at, "assert", list.name, k)
				v, err := Plain(&a.Check)
				if err == nil {
					c.tree(v, document(), env, compilerOf(a.Compiler, alang), with(aat, "check"))
				}
				if a.Message != nil {
					for _, m := range templateExpr.FindAllStringSubmatch(a.Message.Original(), -1) {
						c.expr(strings.TrimSpace(m[1]), document(), env, with(aat, "message"))
					}
				}
			}
		}
	}
	return c.out
}

// MatchPaths checks the paths a match or exclude clause of a RateLimit or
// a Redaction reads, as Paths does a policy's; at is where the clause is.
func MatchPaths(m *v1alpha1.Match, at []any, declared Declared) []Problem {
	c := &pathChecker{declared: declared}
	c.match(m, at, map[string]*node{"$payload": document()}, expression.CompilerJP)
	return c.out
}

// FieldPath checks a dotted path of the document (a RateLimit key).
func FieldPath(dotted string, at []any, declared Declared) []Problem {
	c := &pathChecker{declared: declared}
	n := document()
	for name := range strings.SplitSeq(dotted, ".") {
		if n = c.field(n, name, at); n == nil {
			break
		}
	}
	return c.out
}

// node is a part of the document as a policy reaches it: its shape and
// how a message names it.
type node struct {
	shape *attributes.Shape
	name  string
}

func document() *node { return &node{shape: attributes.Schema(), name: "the document"} }

type pathChecker struct {
	declared Declared
	out      []Problem
}

func with(at []any, more ...any) []any { return append(slices.Clip(at), more...) }

func compilerOf(c *v1alpha1.Compiler, inherited string) string {
	if c == nil || *c == "" {
		return inherited
	}
	return string(*c)
}

func (c *pathChecker) match(m *v1alpha1.Match, at []any, env map[string]*node, lang string) {
	if m == nil {
		return
	}
	lang = compilerOf(m.Compiler, lang)
	for _, list := range []struct {
		name  string
		trees []v1alpha1.AssertionTree
	}{{"any", m.Any}, {"all", m.All}} {
		for i := range list.trees {
			if v, err := Plain(&list.trees[i]); err == nil {
				c.tree(v, document(), env, lang, with(at, list.name, i))
			}
		}
	}
}

// key is a key of an assertion tree's map, as kyverno-json parses it.
type key struct {
	name string
	expr expression.Expression
}

// tree checks an assertion tree evaluated on a value reached as cur, as
// kyverno-json's assertion walker evaluates one: a member name projects a
// member, an expression key is evaluated on the value, a "~" key iterates
// what it projects, and a string value in parentheses is evaluated on
// what its key projected.
func (c *pathChecker) tree(v any, cur *node, env map[string]*node, lang string, at []any) {
	switch v := v.(type) {
	case map[string]any:
		env = maps.Clone(env)
		keys := make([]key, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			keys = append(keys, key{k, parseExpression(k)})
		}
		// Keys that bind first: kyverno-json visits a map's keys in random
		// order, and a sibling may read the binding.
		slices.SortStableFunc(keys, func(a, b key) int {
			return cmp.Compare(boolInt(b.expr.Binding != ""), boolInt(a.expr.Binding != ""))
		})
		c.siblingBindings(v, keys, at)
		for _, k := range keys {
			e := k.expr
			var projected *node
			if e.Compiler == "" {
				projected = c.field(cur, e.Statement, with(at, k.name))
			} else {
				projected = c.evaluate(e, cur, env, lang, with(at, k.name))
			}
			if e.Binding != "" {
				env["$"+e.Binding] = projected
			}
			if e.Foreach {
				projected = elements(projected)
			}
			sub := env
			if e.ForeachName != "" {
				sub = maps.Clone(env)
				sub["$"+e.ForeachName] = nil // an index or a key
			}
			c.tree(v[k.name], projected, sub, lang, with(at, k.name))
		}
	case []any:
		for i, e := range v {
			c.tree(e, elements(cur), env, lang, with(at, i))
		}
	case string:
		if e := parseExpression(v); e.Compiler == "" && !e.Foreach && e.Binding == "" {
			c.literal(cur, e.Statement, at)
			return
		}
		c.scalar(v, cur, env, lang, at)
	}
}

// siblingBindings refuses a binding that a sibling key reads: kyverno-json
// visits a map's keys in random order and a binding made under one key is
// seen by the keys visited after it, so such a policy passes or fails at
// random. A binding read under its own key is fine, and so is a sibling
// that binds the same name before reading it.
func (c *pathChecker) siblingBindings(v map[string]any, keys []key, at []any) {
	for _, b := range keys {
		if b.expr.Binding == "" {
			continue
		}
		for _, k := range keys {
			if k.name != b.name && readsVariable(k.name, v[k.name], "$"+b.expr.Binding) {
				c.problem(with(at, k.name), fmt.Sprintf("reads $%s, which its sibling %s binds: kyverno-json evaluates a map's keys in random order, so the binding may not be made yet; read it under %s instead",
					b.expr.Binding, quote(b.name), quote(b.name)))
			}
		}
	}
}

// readsVariable reports whether the key of an assertion tree, or the tree
// under it, reads the variable name, not counting what is under a key
// that binds that name again.
func readsVariable(key string, v any, name string) bool {
	e := parseExpression(key)
	if e.Compiler != "" && exprReads(e.Statement, name) {
		return true
	}
	if e.Binding == strings.TrimPrefix(name, "$") {
		return false
	}
	return valueReads(v, name)
}

func valueReads(v any, name string) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if readsVariable(k, sub, name) {
				return true
			}
		}
	case []any:
		for _, sub := range v {
			if valueReads(sub, name) {
				return true
			}
		}
	case string:
		if e := parseExpression(v); e.Compiler != "" {
			return exprReads(e.Statement, name)
		}
	}
	return false
}

// exprReads reports whether a JMESPath expression reads the variable name.
func exprReads(statement, name string) bool {
	ast, err := parseJMESPath(statement)
	if err != nil {
		return false
	}
	var walk func(n parsing.ASTNode) bool
	walk = func(n parsing.ASTNode) bool {
		if n.NodeType == parsing.ASTVariable && n.Value == name {
			return true
		}
		return slices.ContainsFunc(n.Children, walk)
	}
	return walk(ast)
}

// scalar checks a value that may be an expression, evaluated on cur, and
// returns what it yields.
func (c *pathChecker) scalar(v any, cur *node, env map[string]*node, lang string, at []any) *node {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	e := parseExpression(s)
	if e.Compiler == "" {
		return nil
	}
	return c.evaluate(e, cur, env, lang, at)
}

// evaluate checks an expression of a key or value in the language it is
// written in; only JMESPath is checked.
func (c *pathChecker) evaluate(e expression.Expression, cur *node, env map[string]*node, lang string, at []any) *node {
	if e.Compiler == expression.CompilerDefault {
		e.Compiler = lang
	}
	if e.Compiler != expression.CompilerJP {
		return nil
	}
	return c.expr(e.Statement, cur, env, at)
}

// expr checks a JMESPath expression evaluated on cur. One that does not
// parse is left to the compiler, which refuses it with its own error.
func (c *pathChecker) expr(s string, cur *node, env map[string]*node, at []any) *node {
	ast, err := parseJMESPath(s)
	if err != nil {
		return nil
	}
	return c.ast(ast, cur, env, at)
}

// ast returns what n yields evaluated on cur (nil: it cannot tell), and
// records every field n reads that cur cannot have.
func (c *pathChecker) ast(n parsing.ASTNode, cur *node, env map[string]*node, at []any) *node {
	child := func(i int, on *node) *node {
		if i >= len(n.Children) {
			return nil
		}
		return c.ast(n.Children[i], on, env, at)
	}
	switch n.NodeType {
	case parsing.ASTField:
		name, _ := n.Value.(string)
		return c.field(cur, name, at)
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return cur
	case parsing.ASTRootNode:
		c.problem(at, "`$` is always null here (kyverno-json evaluates expressions without a root): the document is `$payload`")
		return nil
	case parsing.ASTVariable:
		name, _ := n.Value.(string)
		v, ok := env[name]
		if !ok {
			c.problem(at, fmt.Sprintf("%s is not defined here: variables are context entries, bindings (->) and loop indexes (~name.) of the keys above, $payload, and in a policy $policy and $rule", name))
		}
		return v
	case parsing.ASTSubexpression, parsing.ASTPipe:
		return child(1, child(0, cur))
	case parsing.ASTIndexExpression:
		if len(n.Children) == 2 && n.Children[1].NodeType == parsing.ASTSlice {
			return child(0, cur) // a slice of a list is a list
		}
		return elements(child(0, cur))
	case parsing.ASTFlatten:
		return child(0, cur)
	case parsing.ASTProjection, parsing.ASTValueProjection, parsing.ASTFilterProjection:
		left := child(0, cur)
		var elem *node
		if n.NodeType == parsing.ASTValueProjection {
			elem = values(left)
		} else {
			elem = elements(left)
			if left != nil && left.shape.Type == "array" && left.shape.Elem != nil && left.shape.Elem.Type == "array" &&
				len(n.Children) > 0 && n.Children[0].NodeType == parsing.ASTFlatten {
				elem = elements(elem) // a flattened list of lists
			}
		}
		if n.NodeType == parsing.ASTFilterProjection {
			child(2, elem)
		}
		right := child(1, elem)
		if right == nil {
			return nil
		}
		return &node{shape: &attributes.Shape{Type: "array", Elem: right.shape}, name: right.name + " of each"}
	case parsing.ASTFunctionExpression:
		var list *node
		for _, a := range n.Children {
			if a.NodeType != parsing.ASTExpRef {
				if r := c.ast(a, cur, env, at); list == nil && r != nil && r.shape.Type == "array" {
					list = r
				}
			}
		}
		// contains(tool.labels, 'destructive'): the literal is an element.
		if n.Value == "contains" && len(n.Children) == 2 && list != nil {
			if lit, ok := n.Children[1].Value.(string); ok && n.Children[1].NodeType == parsing.ASTLiteral {
				c.literal(elements(list), lit, at)
			}
		}
		// An expression passed by reference (sort_by(list, &key)) is
		// evaluated on the elements of the list it is given.
		for _, a := range n.Children {
			if a.NodeType == parsing.ASTExpRef && len(a.Children) > 0 {
				c.ast(a.Children[0], elements(list), env, at)
			}
		}
		return nil
	case parsing.ASTComparator:
		// A closed vocabulary compared with a literal string.
		if len(n.Children) == 2 {
			left, right := child(0, cur), child(1, cur)
			for _, pair := range [][2]int{{0, 1}, {1, 0}} {
				side := []*node{left, right}[pair[0]]
				if lit, ok := n.Children[pair[1]].Value.(string); ok && n.Children[pair[1]].NodeType == parsing.ASTLiteral {
					c.literal(side, lit, at)
				}
			}
		}
		return nil
	case parsing.ASTOrExpression, parsing.ASTAndExpression, parsing.ASTNotExpression,
		parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression, parsing.ASTMultiSelectList,
		parsing.ASTMultiSelectHash, parsing.ASTKeyValPair, parsing.ASTIndex, parsing.ASTSlice:
		for i := range n.Children {
			child(i, cur)
		}
		if n.NodeType == parsing.ASTSlice || n.NodeType == parsing.ASTIndex {
			return cur
		}
		return nil
	case parsing.ASTLetExpression:
		// let $a = x, $b = y in body: each binding is read where the let
		// is, in its scope (go-jmespath binds them all at once: $b cannot
		// read $a); the body sees them all.
		if len(n.Children) != 2 {
			return nil
		}
		scoped := maps.Clone(env)
		for _, b := range n.Children[0].Children {
			if b.NodeType == parsing.ASTBinding && len(b.Children) == 2 {
				name, _ := b.Children[0].Value.(string)
				scoped[name] = c.ast(b.Children[1], cur, env, at)
			}
		}
		return c.ast(n.Children[1], cur, scoped, at)
	}
	return nil // literals, and whatever a later parser adds: not followed
}

// field returns the member name of cur, recording a problem when cur
// cannot have it.
func (c *pathChecker) field(cur *node, name string, at []any) *node {
	if cur == nil || cur.shape.Type == "" {
		return nil
	}
	s := cur.shape
	switch {
	case s == attributes.ClaimsShape():
		c.claim(name, at)
		return nil
	case s == labelCalls() && c.declared.Labels != nil && !slices.Contains(c.declared.Labels, name):
		c.literal(&node{shape: s.Elem, name: "a label"}, name, at)
		return &node{shape: s.Elem, name: cur.name + "." + name}
	case s.Type == "object" && s.Fields == nil:
		if s.Elem == nil {
			return nil
		}
		return &node{shape: s.Elem, name: cur.name + "." + name}
	case s.Type != "object":
		c.problem(at, fmt.Sprintf("%s is %s: it has no member %s", cur.name, article(s.Type), quote(name)))
		return nil
	}
	if f := s.Fields[name]; f != nil {
		return &node{shape: f, name: strings.TrimPrefix(cur.name+"."+name, "the document.")}
	}
	msg := fmt.Sprintf("%s is not a member of %s", quote(name), cur.name)
	if hint := suggest(s, name, cur.name == "the document"); hint != "" {
		msg += " (did you mean " + hint + "?)"
	}
	c.problem(at, msg)
	return nil
}

// claim checks a read of principal.claims.name against the claims the
// bundle declares.
func (c *pathChecker) claim(name string, at []any) {
	switch claims := c.declared.Claims; {
	case claims == nil:
		c.out = append(c.out, Problem{At: at, Warning: true, Message: fmt.Sprintf(
			"reads claim %s, which the bundle does not declare: a token without it reads as null; declare the claims your policies read (the catalog's claims) to have such reads checked", quote(name))})
	case !slices.Contains(claims, name):
		msg := fmt.Sprintf("reads claim %s, which the catalog's claims do not declare", quote(name))
		if hint := Nearest(claims, name); hint != "" {
			msg += " (did you mean " + quote("principal.claims."+hint) + "?)"
		}
		c.problem(at, msg)
	}
}

// literal checks a string the document's member reached as n is compared
// with: a closed vocabulary's (tool.risk, action...) or, when the bundle
// declares them, an environment's. A misspelt one ("crtical") never
// matches, which switches a rule off.
func (c *pathChecker) literal(n *node, value string, at []any) {
	allowed, what := c.allowed(n)
	if allowed == nil || slices.Contains(allowed, value) {
		return
	}
	msg := fmt.Sprintf("%s is compared with %q, which it never holds: %s", n.name, value, what)
	if hint := Nearest(allowed, value); hint != "" {
		msg += " (did you mean " + quote(hint) + "?)"
	}
	c.problem(at, msg)
}

// allowed returns the values n can hold, and how to say so; nil when any.
func (c *pathChecker) allowed(n *node) ([]string, string) {
	switch {
	case n == nil:
		return nil, ""
	case n.shape == attributes.Schema().Fields["environment"] && c.declared.Environments != nil:
		return c.declared.Environments, "the catalog's environments are " + strings.Join(c.declared.Environments, ", ")
	case c.declared.Labels != nil && (n.shape == labelOf("tool") || n.shape == labelOf("session") || n.name == "a label"):
		return c.declared.Labels, "the catalog gives no tool that label (its labels are " + strings.Join(c.declared.Labels, ", ") + ")"
	case n.shape.Enum != nil:
		var named []string
		for _, v := range n.shape.Enum {
			if v != "" {
				named = append(named, v)
			}
		}
		return n.shape.Enum, "it is one of " + strings.Join(named, ", ")
	}
	return nil, ""
}

func (c *pathChecker) problem(at []any, msg string) {
	c.out = append(c.out, Problem{At: at, Message: msg})
}

// suggest returns the names nearest to name: a member of s spelt alike,
// else a member of that name elsewhere in the document, else, at the
// document's top, the claim of that name.
func suggest(s *attributes.Shape, name string, top bool) string {
	if hint := Nearest(slices.Sorted(maps.Keys(s.Fields)), name); hint != "" {
		return quote(hint)
	}
	var found []string
	var walk func(s *attributes.Shape, prefix string)
	walk = func(s *attributes.Shape, prefix string) {
		for _, k := range slices.Sorted(maps.Keys(s.Fields)) {
			if strings.EqualFold(k, name) {
				found = append(found, quote(prefix+k))
			}
			walk(s.Fields[k], prefix+k+".")
		}
	}
	walk(attributes.Schema(), "")
	if len(found) > 0 {
		return strings.Join(found, " or ")
	}
	if top && identifier.MatchString(name) {
		return quote("principal.claims."+name) + ", a claim of the token"
	}
	return ""
}

// identifier is what a claim's name looks like.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_:.-]*$`)

// Nearest returns the candidate spelt most like name: equal but for case,
// or at most a third of its letters apart; "" when none is.
func Nearest(candidates []string, name string) string {
	best, bestD := "", len(name)/3+1
	for _, k := range candidates {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := distance(strings.ToLower(k), strings.ToLower(name)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, counting a swap of two
// neighbours as one edit (enviroment, recieve).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// elements is what iterating n yields: an array's elements, an object's
// values (a "~" key iterates either).
func elements(n *node) *node {
	if n == nil {
		return nil
	}
	if n.shape.Type == "array" {
		if n.shape.Elem == nil {
			return nil
		}
		return &node{shape: n.shape.Elem, name: "an element of " + n.name}
	}
	return values(n)
}

// values is an object's values, when they share a shape.
func values(n *node) *node {
	if n == nil || n.shape.Type != "object" || n.shape.Fields != nil || n.shape.Elem == nil {
		return nil
	}
	return &node{shape: n.shape.Elem, name: "a value of " + n.name}
}

func article(t string) string {
	if t == "array" {
		return "a list"
	}
	if t == "object" {
		return "an object"
	}
	return "a " + t
}

func quote(s string) string { return "`" + s + "`" }

// parseExpression is expression.Parse, without its four regular
// expressions for what can only be a literal.
func parseExpression(s string) expression.Expression {
	if !strings.ContainsAny(s, "(~\\") && !strings.Contains(s, "->") {
		return expression.Expression{Statement: s}
	}
	return expression.Parse(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
