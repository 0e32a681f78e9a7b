package policy

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/compilers"
	"github.com/kyverno/kyverno-json/pkg/core/matching"
	k8sjson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file evaluates kyverno-json's assertion trees with kyverno-json's
// semantics (its expression syntax, compilers, JMESPath functions and value
// matching, all reused from the library) but not its walker, which formats a
// path for every key it visits, copies bindings per key and visits a map's
// keys in random order. Here:
//   - keys are visited in sorted order, so that which of several errors a
//     rule reports, and the order of its failures, never change;
//   - a binding ("key -> name") is seen by its own subtree only (kyverno-json
//     also lets the siblings visited after it see it, in random order; the
//     path checker refuses a policy that reads a sibling's binding);
//   - a failing path is formatted only when a failure is kept: a match
//     clause only counts failures.
// TestTreesMatchKyverno holds it to kyverno-json's walker.

// tree is a compiled assertion tree.
type tree interface {
	assert(w *walk, value any, b binding.Bindings) error
}

// walk is the state of one evaluation of a tree: the path from the root
// to the node being evaluated and the failures found.
type walk struct {
	// keep says to keep each failure with its path; without it, failures
	// are only counted.
	keep bool
	// verdict says only whether an assertion holds is wanted (a list's
	// items): no failure is kept and no message formatted.
	verdict bool
	n       int
	fails   []fail
	// path is where the walk is: pointers, so that a step costs a word
	// (a key's segment is its tree's, an index's is shared).
	path []*segment
}

// fail is one failed node: its path, formatted as field.Path formats it,
// and kyverno-json's error type for it.
type fail struct {
	path string
	typ  field.ErrorType
}

// segment is one step of a path: a map key (child), an index in a slice or
// a key of a map looped over (~).
type segment struct {
	name  string // a child's name
	key   string // a looped map's key
	index int    // a slice index, when name and key are empty and isKey is false
	isKey bool
}

func (w *walk) fail(typ field.ErrorType) {
	w.n++
	if w.keep {
		w.fails = append(w.fails, fail{path: w.String(), typ: typ})
	}
}

// String formats the current path as field.Path's String does.
func (w *walk) String() string {
	if len(w.path) == 0 {
		return "<nil>"
	}
	var sb strings.Builder
	for i, s := range w.path {
		switch {
		case s.isKey:
			sb.WriteString("[" + s.key + "]")
		case s.name != "":
			if i > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(s.name)
		case s.name == "" && s.key == "" && s.index < 0:
			sb.WriteString("[]") // a child named ""
		default:
			sb.WriteString("[" + strconv.Itoa(s.index) + "]")
		}
	}
	return sb.String()
}

func (w *walk) internal(err error) error {
	return &field.Error{Type: field.ErrorTypeInternal, Field: w.String(), Detail: err.Error()}
}

func (w *walk) typeInvalid(value any, detail string) error {
	return &field.Error{Type: field.ErrorTypeTypeInvalid, Field: w.String(), BadValue: value, Detail: detail}
}

func (w *walk) push(s *segment) { w.path = append(w.path, s) }
func (w *walk) pop()            { w.path = w.path[:len(w.path)-1] }

// indexes are the segments of the first indexes of a slice.
var indexes = func() (s [256]segment) {
	for i := range s {
		s[i].index = i
	}
	return s
}()

// at is the segment of index i.
func at(i int) *segment {
	if i < len(indexes) {
		return &indexes[i]
	}
	return &segment{index: i}
}

// child is the segment of a map key named name.
func child(name string) segment {
	if name == "" {
		return segment{index: -1}
	}
	return segment{name: name}
}

// loc is where a compiled part of a policy is: its path as kyverno-json
// names it in errors, and the same as member names and indexes in the
// policy's YAML document (as Problem.At), so that a bundle can say at which
// file and line an expression does not compile. at is nil where the
// document is not a policy's (a RateLimit's or a Redaction's match).
type loc struct {
	path *field.Path
	at   []any
}

func (l loc) child(name string) loc {
	if l.at != nil {
		l.at = with(l.at, name)
	}
	return loc{path: l.path.Child(name), at: l.at}
}

func (l loc) index(i int) loc {
	if l.at != nil {
		l.at = with(l.at, i)
	}
	return loc{path: l.path.Index(i), at: l.at}
}

// fail places a compile error.
func (l loc) fail(err *field.Error) error {
	if l.at == nil {
		return err
	}
	return &FieldError{At: l.at, Err: err}
}

// compileTree compiles t as kyverno-json's AssertionTree.Compile does, and
// fails where it fails, with the same errors.
func compileTree(l loc, c compilers.Compilers, t v1alpha1.AssertionTree) (tree, error) {
	b, err := t.MarshalJSON()
	if err != nil {
		return nil, l.fail(field.InternalError(l.path, err))
	}
	var raw any
	// The library's own decoding, which reads whole numbers as int64.
	if err := k8sjson.Unmarshal(b, &raw); err != nil {
		return nil, l.fail(field.InternalError(l.path, err))
	}
	return parseTree(l, raw, c)
}

func parseTree(l loc, v any, c compilers.Compilers) (tree, error) {
	switch v := v.(type) {
	case []any:
		n := make(sliceTree, len(v))
		for i := range v {
			sub, err := parseTree(l.index(i), v[i], c)
			if err != nil {
				return nil, err
			}
			n[i] = sub
		}
		return n, nil
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		n := make(mapTree, 0, len(keys))
		for _, k := range keys {
			kl := l.child(k)
			e, err := parseKey(kl, k, c)
			if err != nil {
				return nil, err
			}
			if e.sub, err = parseTree(kl, v[k], c); err != nil {
				return nil, err
			}
			n = append(n, e)
		}
		return n, nil
	default:
		return parseScalar(l, v, c)
	}
}

// sliceTree asserts a slice of as many values, each against its tree.
type sliceTree []tree

func (n sliceTree) assert(w *walk, value any, b binding.Bindings) error {
	if value == nil {
		w.fail(field.ErrorTypeInvalid) // "value is null"
		return nil
	}
	items, ok := value.([]any)
	if !ok {
		rv := reflect.ValueOf(value)
		if rv.Kind() != reflect.Slice {
			return w.typeInvalid(value, "expected a slice")
		}
		items = make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
	}
	if len(items) != len(n) {
		w.fail(field.ErrorTypeInvalid) // "lengths of slices don't match"
		return nil
	}
	for i := range n {
		w.push(at(i))
		err := n[i].assert(w, items[i], b)
		w.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

// mapTree asserts, for each of its keys in order, the value the key
// projects against the key's tree.
type mapTree []keyTree

type keyTree struct {
	name    string
	segment segment // the key's step of a path
	// field is the member a literal key reads; program, when not nil,
	// computes the projection of an expression key instead.
	field   string
	program compilers.Program
	foreach bool
	// foreachName and bindingName, without their "$", are the variables a
	// loop binds to each index or key and a binding to the projection.
	foreachName, bindingName string
	sub                      tree
}

func parseKey(l loc, k string, c compilers.Compilers) (keyTree, error) {
	e := keyTree{name: k, segment: child(k)}
	expr := parseExpression(k)
	e.foreach, e.foreachName, e.bindingName = expr.Foreach, expr.ForeachName, expr.Binding
	if compiler := c.Compiler(expr.Compiler); compiler != nil {
		program, err := compiler.Compile(expr.Statement)
		if err != nil {
			return e, l.fail(field.Invalid(l.path, expr.Statement, err.Error()))
		}
		e.program = program
	} else {
		e.field = expr.Statement
	}
	if e.foreachName != "" {
		e.foreachName = "$" + e.foreachName
	}
	if e.bindingName != "" {
		e.bindingName = "$" + e.bindingName
	}
	return e, nil
}

func (n mapTree) assert(w *walk, value any, b binding.Bindings) error {
	if len(n) == 0 {
		if value == nil {
			w.fail(field.ErrorTypeInvalid) // "invalid value, must not be null"
		}
		return nil
	}
	for i := range n {
		w.push(&n[i].segment)
		err := n[i].assert(w, value, b)
		w.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

// project returns what the key reads from value.
func (e *keyTree) project(value any, b binding.Bindings) (projected any, found bool, err error) {
	if e.program != nil {
		projected, err := e.program(value, b)
		return projected, err == nil, err
	}
	if value == nil {
		return nil, false, nil
	}
	if m, ok := value.(map[string]any); ok {
		projected, found = m[e.field]
		return projected, found, nil
	}
	rv := reflect.ValueOf(value)
	if rv.Kind() != reflect.Map {
		return nil, false, fmt.Errorf("projection not recognized")
	}
	if rv.Type().Key().Kind() != reflect.String {
		// kyverno-json's MapIndex with a string key panics here; the
		// evaluation's recover makes that an error, as this is.
		return nil, false, fmt.Errorf("projection not recognized: map keys are not strings")
	}
	v := rv.MapIndex(reflect.ValueOf(e.field).Convert(rv.Type().Key()))
	if !v.IsValid() {
		return nil, false, nil
	}
	return v.Interface(), true, nil
}

// assert is one key's part of mapTree.assert; the key is on w's path.
func (e *keyTree) assert(w *walk, value any, b binding.Bindings) error {
	projected, found, err := e.project(value, b)
	if err != nil {
		return w.internal(err)
	}
	if !found {
		w.fail(field.ErrorTypeRequired) // "field not found in the input object"
		return nil
	}
	if e.bindingName != "" {
		b = b.Register(e.bindingName, binding.NewBinding(projected))
	}
	if !e.foreach {
		return e.sub.assert(w, projected, b)
	}
	switch p := projected.(type) {
	case []any:
		for i, item := range p {
			if err := e.item(w, at(i), i, item, b); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(p)) {
			if err := e.item(w, &segment{key: k, isKey: true}, k, p[k], b); err != nil {
				return err
			}
		}
		return nil
	}
	rv := reflect.ValueOf(projected)
	switch rv.Kind() {
	case reflect.Slice:
		for i := range rv.Len() {
			if err := e.item(w, at(i), i, rv.Index(i).Interface(), b); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		for _, k := range keys {
			if err := e.item(w, &segment{key: fmt.Sprint(k.Interface()), isKey: true}, k.Interface(), rv.MapIndex(k).Interface(), b); err != nil {
				return err
			}
		}
		return nil
	}
	return w.typeInvalid(projected, "expected a slice or a map")
}

// item asserts one item of a loop: at index or key s, bound to
// foreachName when the loop names it.
func (e *keyTree) item(w *walk, s *segment, name any, item any, b binding.Bindings) error {
	if e.foreachName != "" {
		b = b.Register(e.foreachName, binding.NewBinding(name))
	}
	w.push(s)
	err := e.sub.assert(w, item, b)
	w.pop()
	return err
}

// scalarTree asserts that a value matches a constant or what an
// expression computes from the value.
type scalarTree struct {
	constant any
	program  compilers.Program
}

func parseScalar(l loc, v any, c compilers.Compilers) (tree, error) {
	s, ok := v.(string)
	if !ok {
		return scalarTree{constant: v}, nil
	}
	expr := parseExpression(s)
	if expr.Foreach {
		return nil, l.fail(field.Invalid(l.path, s, "foreach is not supported in scalar projections"))
	}
	if expr.Binding != "" {
		return nil, l.fail(field.Invalid(l.path, s, "binding is not supported in scalar projections"))
	}
	compiler := c.Compiler(expr.Compiler)
	if compiler == nil {
		return scalarTree{constant: expr.Statement}, nil
	}
	program, err := compiler.Compile(expr.Statement)
	if err != nil {
		return nil, l.fail(field.Invalid(l.path, expr.Statement, err.Error()))
	}
	return scalarTree{program: program}, nil
}

func (n scalarTree) assert(w *walk, value any, b binding.Bindings) error {
	expected := n.constant
	if n.program != nil {
		var err error
		if expected, err = n.program(value, b); err != nil {
			return w.internal(err)
		}
	}
	ok, err := match(expected, value)
	if err != nil {
		return w.internal(err)
	}
	if !ok {
		w.fail(field.ErrorTypeInvalid) // "Expected value: …"
	}
	return nil
}

// match is kyverno-json's matching.Match, without reflection for the
// scalars of one type that nearly every check compares, and with an
// expected map's keys in sorted order: matching.Match walks them in Go's
// random order and stops at the first mismatch, so a key that errs was
// reported on some calls and not on others (a denial or a skip). Here
// every key is matched and an error wins, which is one of the outcomes
// kyverno-json can give, and always the same one.
func match(expected, actual any) (bool, error) {
	switch e := expected.(type) {
	case string:
		if a, ok := actual.(string); ok {
			return e == a, nil
		}
	case bool:
		if a, ok := actual.(bool); ok {
			return e == a, nil
		}
	case float64:
		if a, ok := actual.(float64); ok {
			return e == a, nil
		}
	case int64:
		if a, ok := actual.(int64); ok {
			return e == a, nil
		}
	case nil:
		return matching.Equal(expected, actual)
	case map[string]any:
		if a, ok := actual.(map[string]any); ok {
			// JSON objects, the usual case: keys sorted as strings,
			// without reflection.
			matched := true
			for _, k := range slices.Sorted(maps.Keys(e)) {
				av, found := a[k]
				if !found {
					matched = false
					continue
				}
				ok, err := match(e[k], av)
				if err != nil {
					return false, err
				}
				matched = matched && ok
			}
			return matched, nil
		}
	}
	ev := reflect.ValueOf(expected)
	switch ev.Kind() {
	case reflect.Slice:
		av := reflect.ValueOf(actual)
		if actual == nil || av.Kind() != reflect.Slice {
			return false, fmt.Errorf("invalid actual value, must be a slice, found %s", kindOf(actual))
		}
		if ev.Len() != av.Len() {
			return false, nil
		}
		for i := range ev.Len() {
			if ok, err := match(ev.Index(i).Interface(), av.Index(i).Interface()); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case reflect.Map:
		av := reflect.ValueOf(actual)
		if actual == nil || av.Kind() != reflect.Map {
			return false, fmt.Errorf("invalid actual value, must be a map, found %s", kindOf(actual))
		}
		keys := ev.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		matched := true
		for _, k := range keys {
			if !k.Type().AssignableTo(av.Type().Key()) {
				return false, fmt.Errorf("invalid actual value: its keys are not %s", k.Type())
			}
			a := av.MapIndex(k)
			if !a.IsValid() {
				matched = false
				continue
			}
			ok, err := match(ev.MapIndex(k).Interface(), a.Interface())
			if err != nil {
				return false, err
			}
			matched = matched && ok
		}
		return matched, nil
	}
	return matching.Equal(expected, actual)
}

// kindOf is the kind kyverno-json names in its errors ("invalid" for nil).
func kindOf(v any) reflect.Kind {
	if v == nil {
		return reflect.Invalid
	}
	return reflect.TypeOf(v).Kind()
}

// walks are reused: a walk's path and failures are the only allocations
// of an evaluation that finds nothing.
var walks = sync.Pool{New: func() any { return &walk{path: make([]*segment, 0, 16)} }}

func getWalk(keep bool) *walk {
	w := walks.Get().(*walk)
	w.reset(keep)
	w.verdict = false
	return w
}

// reset readies w for another walk; the failures it kept are the last
// walk's, not w's.
func (w *walk) reset(keep bool) {
	w.keep, w.n, w.fails, w.path = keep, 0, nil, w.path[:0]
}

func putWalk(w *walk) {
	w.fails = nil
	walks.Put(w)
}

// clause is a compiled match or exclude clause, evaluated as kyverno-json's
// jsonengine.CompileMatch evaluates one.
type clause struct{ any, all []tree }

func compileClause(l loc, c compilers.Compilers, m *v1alpha1.Match) (*clause, error) {
	if m == nil {
		return nil, nil
	}
	if len(m.Any) == 0 && len(m.All) == 0 {
		return nil, l.fail(field.Invalid(l.path, m, "an empty match is not valid"))
	}
	if m.Compiler != nil {
		c = c.WithDefaultCompiler(string(*m.Compiler))
	}
	var cl clause
	for i, t := range m.Any {
		n, err := compileTree(l.child("any").index(i), c, t)
		if err != nil {
			return nil, err
		}
		cl.any = append(cl.any, n)
	}
	for i, t := range m.All {
		n, err := compileTree(l.child("all").index(i), c, t)
		if err != nil {
			return nil, err
		}
		cl.all = append(cl.all, n)
	}
	return &cl, nil
}

// failed reports whether resource fails the clause: no "any" tree holds
// (when there are some) or an "all" tree fails. An error ends the
// evaluation.
func (cl *clause) failed(resource any, b binding.Bindings) (bool, error) {
	w := getWalk(false)
	defer putWalk(w)
	return cl.failedOn(w, resource, b)
}

// failedOn is failed with w as its walk.
func (cl *clause) failedOn(w *walk, resource any, b binding.Bindings) (bool, error) {
	w.reset(false)
	for _, t := range cl.any {
		before := w.n
		if err := t.assert(w, resource, b); err != nil {
			return true, err
		}
		if w.n == before {
			return false, nil // kyverno-json does not run "all" then
		}
	}
	for _, t := range cl.all {
		if err := t.assert(w, resource, b); err != nil {
			return true, err
		}
	}
	return w.n > 0, nil
}

// assertClause is a rule's compiled assert, evaluated as kyverno-json's
// jsonengine.CompileAssert evaluates one.
type assertClause struct {
	any, all []assertion
}

type assertion struct {
	check   tree
	message *v1alpha1.Message
	c       compilers.Compilers
}

// violation is a failed assertion: its author's message, formatted and
// trimmed ("" when it has none), and the failed paths.
type violation struct {
	message string
	fails   []fail
}

func compileAssert(l loc, c compilers.Compilers, a v1alpha1.Assert) (*assertClause, error) {
	if a.Compiler != nil {
		c = c.WithDefaultCompiler(string(*a.Compiler))
	}
	if len(a.Any) == 0 && len(a.All) == 0 {
		return nil, l.fail(field.Invalid(l.path, a, "an empty assert is not valid"))
	}
	compile := func(l loc, list []v1alpha1.Assertion) ([]assertion, error) {
		var out []assertion
		for i, in := range list {
			ac := c
			if in.Compiler != nil {
				ac = ac.WithDefaultCompiler(string(*in.Compiler))
			}
			check, err := compileTree(l.index(i).child("check"), ac, in.Check)
			if err != nil {
				return nil, err
			}
			out = append(out, assertion{check: check, message: in.Message, c: ac})
		}
		return out, nil
	}
	var ac assertClause
	var err error
	if ac.any, err = compile(l.child("any"), a.Any); err != nil {
		return nil, err
	}
	if ac.all, err = compile(l.child("all"), a.All); err != nil {
		return nil, err
	}
	return &ac, nil
}

// eval returns the violations: those of every "any" assertion when none
// holds, else those of the "all" assertions. An error ends the evaluation
// and comes with the violations found before it.
// w is the walk each assertion reuses.
func (ac *assertClause) eval(w *walk, resource any, b binding.Bindings) ([]violation, error) {
	if len(ac.any) != 0 {
		var fails []violation
		for i := range ac.any {
			v, err := ac.any[i].eval(w, resource, b)
			if err != nil {
				return fails, err
			}
			if v == nil {
				fails = nil
				break
			}
			fails = append(fails, *v)
		}
		if fails != nil {
			return fails, nil
		}
	}
	var fails []violation
	for i := range ac.all {
		v, err := ac.all[i].eval(w, resource, b)
		if err != nil {
			return fails, err
		}
		if v != nil {
			fails = append(fails, *v)
		}
	}
	return fails, nil
}

// eval returns the assertion's violation, or nil when it holds.
func (a *assertion) eval(w *walk, resource any, b binding.Bindings) (*violation, error) {
	w.reset(!w.verdict)
	if err := a.check.assert(w, resource, b); err != nil {
		return nil, err
	}
	if w.n == 0 {
		return nil, nil
	}
	v := &violation{fails: w.fails}
	w.fails = nil // the violation's
	if a.message != nil && !w.verdict {
		v.message = strings.TrimSpace(a.message.Format(resource, b, a.c.Jp.Options()...))
	}
	return v, nil
}
