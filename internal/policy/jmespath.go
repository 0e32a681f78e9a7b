package policy

import (
	"fmt"
	"reflect"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/jmespath-community/go-jmespath/pkg/interpreter"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"github.com/jmespath-community/go-jmespath/pkg/util"
	"github.com/kyverno/kyverno-json/pkg/core/compilers/jp"
)

// jpCompiler compiles JMESPath expressions, parsed by go-jmespath's parser,
// into Go closures, one per node, instead of walking the syntax tree on
// every evaluation as go-jmespath's interpreter does (which made
// interpreting expressions half of a decision's cost once the assertion
// trees were ours). The node kinds policies use are compiled here, each with
// the interpreter's semantics, read from it: fields, sub-expressions,
// comparisons, and/or/not, literals, @, variables, function calls (through
// the same function caller: kyverno-json's functions and its type checks),
// pipes, flattening, projections, filters, indexes and multi-select lists.
// Any other node (let, slices, arithmetic, hashes, $, …) and any value the
// interpreter reaches by reflection is handed to the interpreter itself.
// TestExpressionsMatchInterpreter holds the two to the same results.
type jpCompiler struct {
	caller  interpreter.FunctionCaller
	options []jp.Option
}

// expr is a compiled JMESPath expression: jp.Program's shape.
type expr = func(value any, b binding.Bindings) (any, error)

func newJPCompiler(caller interpreter.FunctionCaller) *jpCompiler {
	return &jpCompiler{caller: caller, options: []jp.Option{jp.WithFunctionCaller(caller)}}
}

// Options are the interpreter's options: messages are formatted by
// kyverno-json with them.
func (c *jpCompiler) Options() []jp.Option { return c.options }

// Compile parses statement and compiles it.
func (c *jpCompiler) Compile(statement string) (jp.Program, error) {
	ast, err := parseJMESPath(statement)
	if err != nil {
		return nil, err
	}
	return c.compile(ast), nil
}

// parseJMESPath parses a JMESPath expression. go-jmespath's lexer panics on
// some input (an identifier followed by a byte beyond ASCII): that is a
// parse error here, so that a bundle with one fails to load with the
// place of the expression rather than crashing the command.
func parseJMESPath(statement string) (ast parsing.ASTNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the expression cannot be parsed (%v)", r)
		}
	}()
	return parsing.NewParser().Parse(statement)
}

// interpret runs node in go-jmespath's interpreter, as kyverno-json runs a
// whole expression (no root value).
func (c *jpCompiler) interpret(node parsing.ASTNode) expr {
	return func(value any, b binding.Bindings) (any, error) {
		return interpreter.NewInterpreter(nil, b).Execute(node, value, interpreter.WithFunctionCaller(c.caller))
	}
}

func (c *jpCompiler) compile(node parsing.ASTNode) expr {
	switch node.NodeType {
	case parsing.ASTField:
		name := node.Value.(string)
		slow := c.interpret(node)
		return func(value any, b binding.Bindings) (any, error) {
			if value == nil {
				return nil, nil
			}
			if m, ok := value.(map[string]any); ok {
				return m[name], nil
			}
			return slow(value, b)
		}
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		left, right := c.compile(node.Children[0]), c.compile(node.Children[1])
		return func(value any, b binding.Bindings) (any, error) {
			v, err := left(value, b)
			if err != nil || v == nil {
				return nil, err
			}
			return right(v, b)
		}
	case parsing.ASTComparator:
		return c.comparator(node)
	case parsing.ASTAndExpression:
		left, right := c.compile(node.Children[0]), c.compile(node.Children[1])
		return func(value any, b binding.Bindings) (any, error) {
			v, err := left(value, b)
			if err != nil {
				return nil, err
			}
			if util.IsFalse(v) {
				return v, nil
			}
			return right(value, b)
		}
	case parsing.ASTOrExpression:
		left, right := c.compile(node.Children[0]), c.compile(node.Children[1])
		return func(value any, b binding.Bindings) (any, error) {
			v, err := left(value, b)
			if err != nil {
				return nil, err
			}
			if util.IsFalse(v) {
				return right(value, b)
			}
			return v, nil
		}
	case parsing.ASTNotExpression:
		inner := c.compile(node.Children[0])
		return func(value any, b binding.Bindings) (any, error) {
			v, err := inner(value, b)
			if err != nil {
				return nil, err
			}
			return util.IsFalse(v), nil
		}
	case parsing.ASTLiteral:
		literal := node.Value
		return func(any, binding.Bindings) (any, error) { return literal, nil }
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return func(value any, _ binding.Bindings) (any, error) { return value, nil }
	case parsing.ASTVariable:
		name := node.Value.(string)
		return func(_ any, b binding.Bindings) (any, error) {
			if b == nil {
				b = binding.NewBindings()
			}
			return binding.Resolve(name, b)
		}
	case parsing.ASTFunctionExpression:
		return c.function(node)
	case parsing.ASTPipe:
		steps := make([]expr, len(node.Children))
		for i, child := range node.Children {
			steps[i] = c.compile(child)
		}
		return func(value any, b binding.Bindings) (any, error) {
			var err error
			for _, step := range steps {
				if value, err = step(value, b); err != nil {
					return nil, err
				}
			}
			return value, nil
		}
	case parsing.ASTFlatten:
		return c.flatten(node)
	case parsing.ASTProjection:
		return c.projection(node)
	case parsing.ASTFilterProjection:
		return c.filter(node)
	case parsing.ASTIndex:
		index := node.Value.(int)
		slow := c.interpret(node)
		return func(value any, b binding.Bindings) (any, error) {
			list, ok := value.([]any)
			if !ok {
				return slow(value, b)
			}
			i := index
			if i < 0 {
				i += len(list)
			}
			if i >= 0 && i < len(list) {
				return list[i], nil
			}
			return nil, nil
		}
	case parsing.ASTMultiSelectList:
		items := make([]expr, len(node.Children))
		for i, child := range node.Children {
			items[i] = c.compile(child)
		}
		return func(value any, b binding.Bindings) (any, error) {
			collected, err := evalAll(items, value, b)
			if err != nil {
				return nil, err // a nil value, not a nil list, as the interpreter's
			}
			return collected, nil
		}
	}
	return c.interpret(node)
}

func (c *jpCompiler) comparator(node parsing.ASTNode) expr {
	left, right := c.compile(node.Children[0]), c.compile(node.Children[1])
	op, ok := node.Value.(parsing.TokType)
	switch {
	case !ok:
		return c.interpret(node)
	case op == parsing.TOKEQ || op == parsing.TOKNE:
		return func(value any, b binding.Bindings) (any, error) {
			l, err := left(value, b)
			if err != nil {
				return nil, err
			}
			r, err := right(value, b)
			if err != nil {
				return nil, err
			}
			return equal(l, r) == (op == parsing.TOKEQ), nil
		}
	case op == parsing.TOKGT || op == parsing.TOKGTE || op == parsing.TOKLT || op == parsing.TOKLTE:
		return func(value any, b binding.Bindings) (any, error) {
			l, err := left(value, b)
			if err != nil {
				return nil, err
			}
			r, err := right(value, b)
			if err != nil {
				return nil, err
			}
			ln, ok := number(l)
			if !ok {
				return nil, nil
			}
			rn, ok := number(r)
			if !ok {
				return nil, nil
			}
			switch op {
			case parsing.TOKGT:
				return ln > rn, nil
			case parsing.TOKGTE:
				return ln >= rn, nil
			case parsing.TOKLT:
				return ln < rn, nil
			default:
				return ln <= rn, nil
			}
		}
	}
	return c.interpret(node)
}

// equal is the interpreter's util.ObjsEqual (reflect.DeepEqual), without
// reflection for two strings or two float64s.
func equal(l, r any) bool {
	switch l := l.(type) {
	case string:
		if r, ok := r.(string); ok {
			return l == r
		}
	case float64:
		if r, ok := r.(float64); ok {
			return l == r
		}
	}
	return util.ObjsEqual(l, r)
}

// number is the interpreter's util.ToNumber, without reflection for a
// float64.
func number(v any) (float64, bool) {
	if f, ok := v.(float64); ok {
		return f, true
	}
	return util.ToNumber(v)
}

func (c *jpCompiler) function(node parsing.ASTNode) expr {
	name, ok := node.Value.(string)
	if !ok {
		return c.interpret(node)
	}
	args := make([]expr, len(node.Children))
	for i, child := range node.Children {
		if child.NodeType == parsing.ASTExpRef {
			// The interpreter passes an expression argument as a
			// function of the data it is applied to.
			inner := c.compile(child.Children[0])
			args[i] = func(_ any, b binding.Bindings) (any, error) {
				return func(data any) (any, error) { return inner(data, b) }, nil
			}
			continue
		}
		args[i] = c.compile(child)
	}
	if e, ok := c.native(name, args); ok && !refers(node) {
		if f := node.Children[0]; name == "length" && f.NodeType == parsing.ASTFilterProjection && len(f.Children) == 3 {
			return c.filterCount(f, e)
		}
		return e
	}
	return func(value any, b binding.Bindings) (any, error) {
		resolved, err := evalAll(args, value, b)
		if err != nil {
			return nil, err
		}
		return c.caller.CallFunction(name, resolved)
	}
}

// evalAll evaluates each of exprs on value, in order, stopping at the
// first error: a multi-select list's items, a function's arguments.
func evalAll(exprs []expr, value any, b binding.Bindings) ([]any, error) {
	out := make([]any, 0, len(exprs))
	for _, e := range exprs {
		v, err := e(value, b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// leftList evaluates the left side of a flatten or a filter as the
// interpreter does: an error there is dropped (null), a value that is not a
// list is null, and a Go slice of another type is handed, with the whole
// node, to the interpreter (slow). done says the node's value is out.
func leftList(left, slow expr, value any, b binding.Bindings) (list []any, out any, done bool, err error) {
	v, err := left(value, b)
	if err != nil {
		return nil, nil, true, nil
	}
	if list, ok := v.([]any); ok {
		return list, nil, false, nil
	}
	if util.IsSliceType(v) {
		out, err = slow(value, b)
		return nil, out, true, err
	}
	return nil, nil, true, nil
}

// refers says whether a function call passes an expression reference
// (&expr) as an argument.
func refers(node parsing.ASTNode) bool {
	for _, child := range node.Children {
		if child.NodeType == parsing.ASTExpRef {
			return true
		}
	}
	return false
}

func (c *jpCompiler) flatten(node parsing.ASTNode) expr {
	left := c.compile(node.Children[0])
	slow := c.interpret(node)
	return func(value any, b binding.Bindings) (any, error) {
		list, out, done, err := leftList(left, slow, value, b)
		if done {
			return out, err
		}
		n := 0
		for _, element := range list {
			if inner, ok := element.([]any); ok {
				n += len(inner)
			} else {
				n++
			}
		}
		flattened := make([]any, 0, n)
		for _, element := range list {
			if inner, ok := element.([]any); ok {
				flattened = append(flattened, inner...)
			} else if util.IsSliceType(element) {
				rv := reflect.ValueOf(element)
				for i := range rv.Len() {
					flattened = append(flattened, rv.Index(i).Interface())
				}
			} else {
				flattened = append(flattened, element)
			}
		}
		return flattened, nil
	}
}

func (c *jpCompiler) projection(node parsing.ASTNode) expr {
	left, right := c.compile(node.Children[0]), c.compile(node.Children[1])
	slow := c.interpret(node)
	// A string is sliced (s[1:]) through a projection of this shape only.
	first := node.Children[0]
	allowString := first.NodeType == parsing.ASTIndexExpression && len(first.Children) > 1 && first.Children[1].NodeType == parsing.ASTSlice
	projection := func(value any, b binding.Bindings) (any, error) {
		v, err := left(value, b)
		if err != nil {
			return nil, err
		}
		list, ok := v.([]any)
		if !ok {
			if util.IsSliceType(v) {
				return slow(value, b)
			}
			if s, ok := v.(string); ok && allowString {
				return s, nil
			}
			return nil, nil
		}
		collected := make([]any, 0, len(list))
		for _, element := range list {
			current, err := right(element, b)
			if err != nil {
				return nil, err
			}
			if current != nil {
				collected = append(collected, current)
			}
		}
		return collected, nil
	}
	if first.NodeType != parsing.ASTFlatten {
		return projection
	}
	return c.flatProjection(first.Children[0], right, projection)
}

// flatProjection is a projection of a flatten (x[].y, [a, b][].y, x[][]):
// it projects the elements the flatten lists without building the
// flattened list, nor the multi-select list of up to four items a flatten
// of one (as grant tables are read: [principal.groups,
// principal.scopes][]), and so allocates only its result. A value that
// go-jmespath reads by reflection is handed to projection, the node
// compiled as is.
func (c *jpCompiler) flatProjection(source parsing.ASTNode, right, projection expr) expr {
	var items []expr
	var left expr
	if source.NodeType == parsing.ASTMultiSelectList && len(source.Children) <= 4 {
		for _, child := range source.Children {
			items = append(items, c.compile(child))
		}
	} else {
		left = c.compile(source)
	}
	return func(value any, b binding.Bindings) (any, error) {
		var held [4]any
		var outer []any
		if left == nil {
			for i, item := range items {
				v, err := item(value, b)
				if err != nil {
					return nil, nil // the flatten drops the error: null
				}
				held[i] = v
			}
			outer = held[:len(items)]
		} else {
			v, err := left(value, b)
			if err != nil {
				return nil, nil
			}
			list, ok := v.([]any)
			if !ok {
				if util.IsSliceType(v) {
					return projection(value, b)
				}
				return nil, nil
			}
			outer = list
		}
		n := 0
		for _, element := range outer {
			if inner, ok := element.([]any); ok {
				n += len(inner)
			} else if util.IsSliceType(element) {
				return projection(value, b)
			} else {
				n++
			}
		}
		collected := make([]any, 0, n)
		project := func(element any) error {
			current, err := right(element, b)
			if err == nil && current != nil {
				collected = append(collected, current)
			}
			return err
		}
		for _, element := range outer {
			if inner, ok := element.([]any); ok {
				for _, e := range inner {
					if err := project(e); err != nil {
						return nil, err
					}
				}
			} else if err := project(element); err != nil {
				return nil, err
			}
		}
		return collected, nil
	}
}

// filterCount is length(x[?c]): the number of elements the filter keeps,
// counted without building the list. Where the filter's value is not a
// list, it is general, the call compiled as is.
func (c *jpCompiler) filterCount(filter parsing.ASTNode, general expr) expr {
	left, right, cond := c.compile(filter.Children[0]), c.compile(filter.Children[1]), c.compile(filter.Children[2])
	return func(value any, b binding.Bindings) (any, error) {
		v, err := left(value, b)
		list, ok := v.([]any)
		if err != nil || !ok {
			return general(value, b)
		}
		_, n, err := kept(list, cond, right, b, false)
		if err != nil {
			return nil, err
		}
		return boxed(n), nil
	}
}

// kept runs a filter on list: the projection right of each element cond
// keeps, but nil ones; collected only when collect is true, counted
// always.
func kept(list []any, cond, right expr, b binding.Bindings, collect bool) (collected []any, n int, err error) {
	if collect {
		collected = []any{}
	}
	for _, element := range list {
		keep, err := cond(element, b)
		if err != nil {
			return nil, 0, err
		}
		if util.IsFalse(keep) {
			continue
		}
		current, err := right(element, b)
		if err != nil {
			return nil, 0, err
		}
		if current != nil {
			n++
			if collect {
				collected = append(collected, current)
			}
		}
	}
	return collected, n, nil
}

func (c *jpCompiler) filter(node parsing.ASTNode) expr {
	if len(node.Children) < 3 {
		return c.interpret(node)
	}
	left, right, cond := c.compile(node.Children[0]), c.compile(node.Children[1]), c.compile(node.Children[2])
	slow := c.interpret(node)
	return func(value any, b binding.Bindings) (any, error) {
		list, out, done, err := leftList(left, slow, value, b)
		if done {
			return out, err
		}
		collected, _, err := kept(list, cond, right, b, true)
		if err != nil {
			return nil, err // a nil value, not a nil list, as the interpreter's
		}
		return collected, nil
	}
}
