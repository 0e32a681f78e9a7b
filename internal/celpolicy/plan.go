package celpolicy

import (
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/toolgate/toolgate/internal/policy"
)

// A plan is an expression's checked tree turned into Go functions, which
// compute CEL's value without cel-go's interpreter where they can, and
// say nothing (nil) where they cannot: a function they do not know, a
// member the document does not have, a value of a type an operator does
// not take, anything that would be an error in CEL. On nil, cel-go runs
// the expression, so a plan decides nothing that CEL would not; it only
// computes sooner what CEL computes. cel-go's interpreter spends 60 to
// 110 ns on a member compared with a literal and about 130 ns on a step
// of a loop, most of it resolving attributes through activations and
// checking argument types at run time; a plan spends a few.
//
// Each operator a plan knows calls what cel-go's own implementation
// calls (types.Equal, Compare, Contains, Add, Find), and answers only when
// that returns a value: TestPlanIsCEL holds every plan to CEL on random
// documents.
type plan func(a *activation, base int) ref.Val

// planner turns checked trees into plans.
type planner struct {
	adapter types.Adapter
	// policy is the policy whose expression it plans, with the variables
	// declared so far.
	policy *compiled
	// members numbers the members of the document plans read, for the
	// whole engine: a decision reads each once (activation.members).
	members *members
	// scope is the comprehension variables in scope, innermost last; a
	// variable's slot is its index here.
	scope []string
	// slots is the most slots a plan of this tree uses at once.
	slots int
}

// planned is a subtree's plan, and what the planner knows of it.
type planned struct {
	run plan
	// constant is the value when it is the same on every document (a
	// literal, a list of them): computed once, when the plan is made.
	constant ref.Val
	// member is the number of the member of the document it reads, plus
	// one; 0 when it reads none.
	member int
	path   []string
	// call and operands are the function a call's plan calls and its
	// operands' plans, for the planner to read the shape of what it made
	// (see quantifier).
	call     string
	operands []planned
}

// unknown is the plan of what a planner does not know.
var unknown = planned{}

func (p planned) known() bool { return p.run != nil }

func constant(v ref.Val) planned {
	return planned{run: func(*activation, int) ref.Val { return v }, constant: v}
}

// planOf returns the plan of the checked expression e and the slots it
// needs; nil when the planner knows nothing of it.
func planOf(e ast.Expr, adapter types.Adapter, policy *compiled, members *members) (plan, int) {
	p := &planner{adapter: adapter, policy: policy, members: members}
	pl := p.plan(e)
	return pl.run, p.slots
}

// plan returns e's plan.
func (p *planner) plan(e ast.Expr) planned {
	switch e.Kind() {
	case ast.LiteralKind:
		return constant(e.AsLiteral())
	case ast.IdentKind:
		return p.ident(e.AsIdent())
	case ast.SelectKind:
		return p.selection(e)
	case ast.CallKind:
		return p.call(e)
	case ast.ListKind:
		return p.list(e.AsList())
	case ast.MapKind:
		return p.mapLiteral(e.AsMap())
	case ast.ComprehensionKind:
		return p.comprehension(e.AsComprehension())
	}
	return unknown
}

// fold is pl's value computed once, when every part of it is constant.
func fold(pl planned, parts ...planned) (out planned) {
	for _, part := range parts {
		if part.constant == nil {
			return pl
		}
	}
	defer func() {
		if recover() != nil {
			out = pl
		}
	}()
	if v := pl.run(nil, 0); v != nil {
		return constant(v)
	}
	return pl
}

func (p *planner) slot(name string) (int, bool) {
	for i := len(p.scope) - 1; i >= 0; i-- {
		if p.scope[i] == name {
			return i, true
		}
	}
	return 0, false
}

func (p *planner) ident(name string) planned {
	if i, ok := p.slot(name); ok {
		return planned{run: func(a *activation, base int) ref.Val { return a.slots[base+i] }}
	}
	if name == "object" {
		adapter := p.adapter
		return planned{run: func(a *activation, _ int) ref.Val { return adapter.NativeToValue(a.object) }}
	}
	return unknown
}

func (p *planner) selection(e ast.Expr) planned {
	sel := e.AsSelect()
	field := types.String(sel.FieldName())
	if !sel.IsTestOnly() {
		// A member of the document: read from the maps that hold it, once
		// a decision.
		if path, ok := plainPath(e); ok {
			if _, shadowed := p.slot("object"); !shadowed {
				return p.member(path)
			}
		}
		// A variable of the policy.
		if op := sel.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "variables" {
			if _, shadowed := p.slot("variables"); !shadowed {
				i, ok := p.policy.varIndex[string(field)]
				if !ok {
					return unknown
				}
				if k := p.policy.variables[i].constant; k != nil {
					return constant(k)
				}
				return planned{run: func(a *activation, _ int) ref.Val {
					if v := a.variables.planned(i); v != nil && !types.IsUnknownOrError(v) {
						return v
					}
					return nil
				}}
			}
		}
	}
	op := p.plan(sel.Operand())
	if !op.known() {
		return unknown
	}
	if sel.IsTestOnly() {
		// has(x.f) on a map: whether it holds the key.
		return planned{run: func(a *activation, base int) ref.Val {
			m, ok := op.run(a, base).(traits.Mapper)
			if !ok {
				return nil
			}
			v, found := m.Find(field)
			if v != nil && types.IsError(v) {
				return nil
			}
			return types.Bool(found)
		}}
	}
	return planned{run: func(a *activation, base int) ref.Val {
		return find(op.run(a, base), field)
	}}
}

// member is the plan that reads the member at path of the document.
func (p *planner) member(path []string) planned {
	id := p.members.number(path)
	adapter := p.adapter
	return planned{member: id + 1, path: path, run: func(a *activation, _ int) ref.Val {
		m := a.member(id, path)
		if m.value == nil && m.found {
			m.value = value(adapter, m.raw)
		}
		return m.value
	}}
}

// members numbers the members of the document plans read, and each of
// their parents, so that a decision reads tool once for tool.risk and
// tool.labels.
type members struct {
	ids   map[string]int // by dotted path
	paths []memberPath   // by number
}

// memberPath is a member: its parent's number (-1 for the document's
// own) and its key there.
type memberPath struct {
	parent int
	key    string
}

// number is the number of the member at path, numbering it and its
// parents the first time.
func (ms *members) number(path []string) int {
	id := -1
	for i := range path {
		key := strings.Join(path[:i+1], ".")
		next, ok := ms.ids[key]
		if !ok {
			next = len(ms.paths)
			ms.ids[key] = next
			ms.paths = append(ms.paths, memberPath{parent: id, key: path[i]})
		}
		id = next
	}
	return id
}

// value is raw as CEL reads it: what adapter makes of it, but for a list
// of JSON, whose elements are made once rather than on every read (the
// same values; cel-go's own list of them reads each through reflection).
func value(adapter types.Adapter, raw any) ref.Val {
	if l, ok := raw.([]any); ok {
		elems := make([]ref.Val, len(l))
		for i, e := range l {
			if elems[i] = adapter.NativeToValue(e); types.IsUnknownOrError(elems[i]) {
				return nil
			}
		}
		return types.NewRefValList(adapter, elems)
	}
	if v := adapter.NativeToValue(raw); !types.IsUnknownOrError(v) {
		return v
	}
	return nil
}

// member is the member of the document numbered id, at path: read from
// its parent on the decision's first read of it.
func (a *activation) member(id int, path []string) *member {
	if id >= len(a.members) || id >= len(a.paths) {
		// An activation made without the engine's numbering.
		raw, found := at(a.object, path)
		return &member{read: true, found: found, raw: raw}
	}
	m := &a.members[id]
	if !m.read {
		m.read = true
		var parent any = a.object
		if mp := a.paths[id]; mp.parent >= 0 {
			pm := a.member(mp.parent, path[:len(path)-1])
			if !pm.found {
				return m
			}
			parent = pm.raw
		}
		if pm, ok := parent.(map[string]any); ok {
			m.raw, m.found = pm[a.paths[id].key]
		}
	}
	return m
}

// member is a member of the document as a decision reads it.
type member struct {
	read, found bool
	raw         any     // its Go value
	value       ref.Val // its CEL value, once made
}

// at is the value at path in doc, and whether there is one.
func at(doc map[string]any, path []string) (any, bool) {
	var v any = doc
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// plainPath is the member a chain of plain selections from object reads;
// a presence test (has()) is no member.
func plainPath(e ast.Expr) ([]string, bool) {
	for s := e; s.Kind() == ast.SelectKind; s = s.AsSelect().Operand() {
		if s.AsSelect().IsTestOnly() {
			return nil, false
		}
	}
	return docPath(e)
}

// find is m[key] when m is a map that holds key; nil otherwise.
func find(m ref.Val, key ref.Val) ref.Val {
	mm, ok := m.(traits.Mapper)
	if !ok {
		return nil
	}
	v, found := mm.Find(key)
	if !found || v == nil || types.IsError(v) || types.IsUnknown(v) {
		return nil
	}
	return v
}

func (p *planner) call(e ast.Expr) planned {
	call := e.AsCall()
	args := call.Args()
	if call.IsMemberFunction() {
		args = append([]ast.Expr{call.Target()}, args...)
	}
	name := call.FunctionName()
	switch {
	case (name == "_&&_" || name == "_||_") && len(args) == 2:
		return p.logical(name == "_||_", args[0], args[1])
	case name == "_?_:_" && len(args) == 3:
		c, t, f := p.plan(args[0]), p.plan(args[1]), p.plan(args[2])
		if !c.known() || !t.known() && !f.known() {
			return unknown
		}
		t, f = orNil(t), orNil(f)
		return planned{run: func(a *activation, base int) ref.Val {
			switch c.run(a, base) {
			case types.True:
				return t.run(a, base)
			case types.False:
				return f.run(a, base)
			}
			return nil
		}}
	case name == "matches" && len(args) == 2 && args[1].Kind() == ast.LiteralKind:
		pattern, ok := args[1].AsLiteral().(types.String)
		if !ok {
			return unknown
		}
		re, err := regexp.Compile(string(pattern))
		if err != nil {
			return unknown
		}
		s := p.plan(args[0])
		if !s.known() {
			return unknown
		}
		return planned{run: func(a *activation, base int) ref.Val {
			if v, ok := s.run(a, base).(types.String); ok {
				return types.Bool(re.MatchString(string(v)))
			}
			return nil
		}}
	}
	op := operator(name, len(args))
	if op == nil {
		return unknown
	}
	parts := make([]planned, len(args))
	for i, arg := range args {
		if parts[i] = p.plan(arg); !parts[i].known() {
			return unknown
		}
	}
	if name == "size" && len(parts) == 1 && parts[0].member != 0 {
		// The size of a list or map of the document, read from the Go
		// value without making a CEL one.
		id, path, slow := parts[0].member-1, parts[0].path, parts[0].run
		return planned{run: func(a *activation, base int) ref.Val {
			m := a.member(id, path)
			switch c := m.raw.(type) {
			case []any:
				return types.Int(len(c))
			case map[string]any:
				return types.Int(len(c))
			}
			if v, ok := slow(a, base).(traits.Sizer); ok {
				return known(v.Size())
			}
			return nil
		}}
	}
	if len(parts) == 1 {
		x := parts[0].run
		return fold(planned{run: func(a *activation, base int) ref.Val {
			v := x(a, base)
			if v == nil {
				return nil
			}
			return known(op(v, nil))
		}}, parts...)
	}
	if pl, ok := compared(name, parts[0], parts[1]); ok {
		return pl
	}
	if pl, ok := lookedUp(name, parts[0], parts[1]); ok {
		return pl
	}
	x, y := parts[0].run, parts[1].run
	return fold(planned{run: func(a *activation, base int) ref.Val {
		l := x(a, base)
		if l == nil {
			return nil
		}
		r := y(a, base)
		if r == nil {
			return nil
		}
		return known(op(l, r))
	}, call: name, operands: parts}, parts...)
}

// lookedUp is the plan of a string looked up in a constant map of string
// keys (g in variables.grants, variables.grants[g]): read from a Go map
// made once, where CEL hashes its values on every look-up. The key found
// is the value CEL finds; a key that is not a string, CEL decides.
func lookedUp(name string, l, r planned) (planned, bool) {
	m := r.constant
	if name == "_[_]" {
		m = l.constant
	}
	mm, ok := m.(traits.Mapper)
	if !ok || name != "@in" && name != "_[_]" {
		return planned{}, false
	}
	table := map[string]ref.Val{}
	for it := mm.Iterator(); it.HasNext() == types.True; {
		k, ok := it.Next().(types.String)
		if !ok {
			return planned{}, false
		}
		v, found := mm.Find(k)
		if !found || v == nil || types.IsUnknownOrError(v) {
			return planned{}, false
		}
		table[string(k)] = v
	}
	key := l.run
	if name == "_[_]" {
		key = r.run
	}
	return planned{run: func(a *activation, base int) ref.Val {
		k, ok := key(a, base).(types.String)
		if !ok {
			return nil
		}
		v, found := table[string(k)]
		if name == "@in" {
			return types.Bool(found)
		}
		return v // nil when there is none: an error in CEL
	}}, true
}

// orNil is pl, or a plan that says nothing.
func orNil(pl planned) planned {
	if !pl.known() {
		return planned{run: func(*activation, int) ref.Val { return nil }}
	}
	return pl
}

// compared is the plan of a member of the document compared with a
// constant (object.action == 'call', object.phase in ['request'],
// 'pii' in object.tool.labels): the member's Go value is compared where it
// is a string, a bool, a list or a map of JSON, without making a CEL value
// of it; equal to what CEL's ==, != and in compute, which compare a
// string only with a string and a bool only with a bool.
func compared(name string, l, r planned) (planned, bool) {
	if name == "_==_" || name == "_!=_" {
		if l.member == 0 {
			l, r = r, l
		}
		if l.member == 0 || r.constant == nil {
			return planned{}, false
		}
		id, path, want, negate := l.member-1, l.path, r.constant, name == "_!=_"
		slow := l.run
		var test func(raw any) (bool, bool)
		switch w := want.(type) {
		case types.String:
			test = func(raw any) (bool, bool) { s, ok := raw.(string); return s == string(w), ok }
		case types.Bool:
			test = func(raw any) (bool, bool) { b, ok := raw.(bool); return b == bool(w), ok }
		default:
			return planned{}, false
		}
		return planned{run: func(a *activation, base int) ref.Val {
			m := a.member(id, path)
			if !m.found {
				return nil
			}
			if eq, ok := test(m.raw); ok {
				return types.Bool(eq != negate)
			}
			v := slow(a, base)
			if v == nil {
				return nil
			}
			eq, ok := types.Equal(v, want).(types.Bool)
			if !ok {
				return nil
			}
			return types.Bool(bool(eq) != negate)
		}}, true
	}
	if name != "@in" {
		return planned{}, false
	}
	switch {
	case l.member != 0 && r.constant != nil:
		// object.phase in ['request', 'response']
		list, ok := r.constant.(traits.Lister)
		if !ok {
			return planned{}, false
		}
		var strs []string
		for i := types.Int(0); i < list.Size().(types.Int); i++ {
			s, ok := list.Get(i).(types.String)
			if !ok {
				return planned{}, false
			}
			strs = append(strs, string(s))
		}
		id, path, slow := l.member-1, l.path, l.run
		return planned{run: func(a *activation, base int) ref.Val {
			m := a.member(id, path)
			if !m.found {
				return nil
			}
			if s, ok := m.raw.(string); ok {
				return types.Bool(slices.Contains(strs, s))
			}
			v := slow(a, base)
			if v == nil {
				return nil
			}
			return known(list.Contains(v))
		}}, true
	case r.member != 0 && l.constant != nil:
		// 'pii' in object.tool.labels, 'k' in object.principal.claims
		s, ok := l.constant.(types.String)
		if !ok {
			return planned{}, false
		}
		id, path, slow, elem := r.member-1, r.path, r.run, l.constant
		return planned{run: func(a *activation, base int) ref.Val {
			m := a.member(id, path)
			if !m.found {
				return nil
			}
			switch c := m.raw.(type) {
			case []any:
				// A string element equal to it is found; any other element
				// CEL compares in its own way.
				plain := true
				for _, e := range c {
					switch e := e.(type) {
					case string:
						if e == string(s) {
							return types.True
						}
					default:
						plain = false
					}
				}
				if plain {
					return types.False
				}
			case []string:
				return types.Bool(slices.Contains(c, string(s)))
			case map[string]any:
				_, ok := c[string(s)]
				return types.Bool(ok)
			}
			v, ok := slow(a, base).(traits.Container)
			if !ok {
				return nil
			}
			return known(v.Contains(elem))
		}}, true
	}
	return planned{}, false
}

// known is v, or nil when v is an error.
func known(v ref.Val) ref.Val {
	if v == nil || types.IsUnknownOrError(v) {
		return nil
	}
	return v
}

// logical is x && y (or x || y), in Kleene's logic, which is CEL's: a
// false (true) settles it whatever the other is, an error included.
func (p *planner) logical(or bool, x, y ast.Expr) planned {
	l, r := p.plan(x), p.plan(y)
	if !l.known() && !r.known() {
		return unknown
	}
	l, r = orNil(l), orNil(r)
	operands := []planned{l, r}
	settles, other := types.False, types.True
	if or {
		settles, other = types.True, types.False
	}
	return fold(planned{run: func(a *activation, base int) ref.Val {
		lv := l.run(a, base)
		if lv == settles {
			return settles
		}
		rv := r.run(a, base)
		switch {
		case rv == settles:
			return settles
		case lv == other && rv == other:
			return other
		}
		return nil
	}, operands: operands}, l, r)
}

// operator returns the implementation of the function name of arity
// arguments that plans know (the second argument nil for one), each what
// cel-go's standard library calls; nil for the others.
func operator(name string, arity int) func(l, r ref.Val) ref.Val {
	switch arity {
	case 1:
		switch name {
		case "!_":
			return func(v, _ ref.Val) ref.Val {
				if b, ok := v.(types.Bool); ok {
					return !b
				}
				return nil
			}
		case "@not_strictly_false":
			// The condition of all and exists: true but for false.
			return func(v, _ ref.Val) ref.Val {
				if b, ok := v.(types.Bool); ok {
					return b
				}
				return types.True
			}
		case "size":
			return func(v, _ ref.Val) ref.Val {
				if s, ok := v.(traits.Sizer); ok {
					return s.Size()
				}
				return nil
			}
		}
	case 2:
		switch name {
		case "_==_":
			return func(l, r ref.Val) ref.Val { return types.Equal(l, r) }
		case "_!=_":
			return func(l, r ref.Val) ref.Val {
				if b, ok := types.Equal(l, r).(types.Bool); ok {
					return !b
				}
				return nil
			}
		case "_<_", "_<=_", "_>_", "_>=_":
			// As cel-go's: the comparison of the left with the right,
			// -1, 0 or 1, read for the operator.
			var want [3]types.Bool // for -1, 0, 1
			switch name {
			case "_<_":
				want = [3]types.Bool{true, false, false}
			case "_<=_":
				want = [3]types.Bool{true, true, false}
			case "_>_":
				want = [3]types.Bool{false, false, true}
			case "_>=_":
				want = [3]types.Bool{false, true, true}
			}
			return func(l, r ref.Val) ref.Val {
				c, ok := l.(traits.Comparer)
				if !ok {
					return nil
				}
				if n, ok := c.Compare(r).(types.Int); ok && n >= -1 && n <= 1 {
					return want[n+1]
				}
				return nil
			}
		case "@in":
			return func(l, r ref.Val) ref.Val {
				if c, ok := r.(traits.Container); ok {
					return c.Contains(l)
				}
				return nil
			}
		case "_+_":
			return func(l, r ref.Val) ref.Val {
				if x, ok := l.(traits.Adder); ok {
					return x.Add(r)
				}
				return nil
			}
		case "_[_]":
			return func(l, r ref.Val) ref.Val {
				switch c := l.(type) {
				case traits.Mapper:
					return find(c, r)
				case traits.Lister:
					if i, ok := r.(types.Int); ok && i >= 0 && i < c.Size().(types.Int) {
						return c.Get(i)
					}
				}
				return nil
			}
		case "startsWith", "endsWith", "contains":
			test := strings.HasPrefix
			switch name {
			case "endsWith":
				test = strings.HasSuffix
			case "contains":
				test = strings.Contains
			}
			return func(l, r ref.Val) ref.Val {
				s, ok1 := l.(types.String)
				t, ok2 := r.(types.String)
				if !ok1 || !ok2 {
					return nil
				}
				return types.Bool(test(string(s), string(t)))
			}
		case "wildcard":
			return func(l, r ref.Val) ref.Val {
				pattern, ok1 := l.(types.String)
				s, ok2 := r.(types.String)
				if !ok1 || !ok2 {
					return nil
				}
				return types.Bool(policy.Wildcard(string(pattern), string(s)))
			}
		}
	}
	return nil
}

func (p *planner) list(l ast.ListExpr) planned {
	if len(l.OptionalIndices()) > 0 {
		return unknown
	}
	elems := make([]planned, l.Size())
	for i, e := range l.Elements() {
		if elems[i] = p.plan(e); !elems[i].known() {
			return unknown
		}
	}
	adapter := p.adapter
	return fold(planned{run: func(a *activation, base int) ref.Val {
		vals := make([]ref.Val, len(elems))
		for i, e := range elems {
			if vals[i] = e.run(a, base); vals[i] == nil {
				return nil
			}
		}
		return types.NewRefValList(adapter, vals)
	}}, elems...)
}

func (p *planner) mapLiteral(m ast.MapExpr) planned {
	parts := make([]planned, 0, 2*m.Size())
	for _, e := range m.Entries() {
		en := e.AsMapEntry()
		if en.IsOptional() {
			return unknown
		}
		k, v := p.plan(en.Key()), p.plan(en.Value())
		if !k.known() || !v.known() {
			return unknown
		}
		parts = append(parts, k, v)
	}
	adapter := p.adapter
	return fold(planned{run: func(a *activation, base int) ref.Val {
		vals := make(map[ref.Val]ref.Val, len(parts)/2)
		for i := 0; i < len(parts); i += 2 {
			k, v := parts[i].run(a, base), parts[i+1].run(a, base)
			switch k.(type) {
			case types.String, types.Int, types.Uint, types.Bool:
			default:
				return nil // a key CEL refuses, or none
			}
			if _, twice := vals[k]; twice || v == nil {
				return nil
			}
			vals[k] = v
		}
		return types.NewRefValMap(adapter, vals)
	}}, parts...)
}

// step counts a step of a loop, and reports whether the loop may go on:
// not once the context is done, after which every loop stops at its next
// step, an inner one's end not taken for an element's.
func (a *activation) step() bool {
	if a.stopped {
		return false
	}
	a.steps++
	if a.steps%interruptEvery == 0 && a.ctx.Err() != nil {
		a.stopped = true
	}
	return !a.stopped
}

// comprehension is CEL's loop (all, exists, map, filter, cel.bind are
// written with it): the accumulator starts at its initial value; for each
// element of the range (a list's elements, a map's keys) while the
// condition holds, it becomes the step's value; the result is read from
// it. A loop looks at the context every interruptEvery steps and says
// nothing once it is done: CEL then stops the loop with its error.
func (p *planner) comprehension(c ast.ComprehensionExpr) planned {
	iterRange, accuInit := p.plan(c.IterRange()), p.plan(c.AccuInit())
	if !iterRange.known() || !accuInit.known() {
		return unknown
	}
	p.scope = append(p.scope, c.AccuVar())
	accu := len(p.scope) - 1
	result := p.plan(c.Result())
	p.scope = append(p.scope, c.IterVar())
	iter := len(p.scope) - 1
	p.slots = max(p.slots, len(p.scope))
	cond, step := p.plan(c.LoopCondition()), p.plan(c.LoopStep())
	p.scope = p.scope[:accu]
	if !result.known() || !cond.known() || !step.known() {
		return unknown
	}
	if pl, ok := quantifier(c, iterRange, step, accu, iter); ok {
		return pl
	}
	return planned{run: func(a *activation, base int) ref.Val {
		r, ok := iterRange.run(a, base).(traits.Iterable)
		if !ok {
			return nil
		}
		init := accuInit.run(a, base)
		if init == nil {
			return nil
		}
		if l, ok := init.(traits.Lister); ok && l.Size() == types.IntZero {
			// cel-go builds a list that starts empty in place, and a list
			// bound so (cel.bind(x, [], ...)) then grows when added to:
			// cel-go computes such loops.
			return nil
		}
		a.slots[base+accu] = init
	loop:
		for it := r.Iterator(); it.HasNext() == types.True; {
			if !a.step() {
				return nil
			}
			a.slots[base+iter] = it.Next()
			switch cond.run(a, base) {
			case types.True:
			case types.False:
				break loop
			default:
				return nil
			}
			v := step.run(a, base)
			if v == nil {
				return nil
			}
			a.slots[base+accu] = v
		}
		return result.run(a, base)
	}}
}

// quantifier is the plan of the comprehension c when it is the expansion
// of exists or all: x.exists(e, p) starts from false, runs while it is not
// true and steps to accu || p; all starts from true, runs while it is not
// false and steps to accu && p. Their value is p's, or-ed (and-ed) over
// the elements in Kleene's logic, which is how CEL's steps compute it: a
// true (false) settles it whatever the others are, errors included, and
// elements after it are not looked at.
func quantifier(c ast.ComprehensionExpr, iterRange, step planned, accu, iter int) (planned, bool) {
	init := c.AccuInit()
	if c.IterVar() == c.AccuVar() || init.Kind() != ast.LiteralKind || c.Result().Kind() != ast.IdentKind || c.Result().AsIdent() != c.AccuVar() {
		return planned{}, false
	}
	start, ok := init.AsLiteral().(types.Bool)
	if !ok {
		return planned{}, false
	}
	// The step: accu || p (exists) or accu && p (all), p its second operand.
	want := "_||_"
	if start == types.True {
		want = "_&&_"
	}
	e := c.LoopStep()
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != want || len(e.AsCall().Args()) != 2 {
		return planned{}, false
	}
	if x := e.AsCall().Args()[0]; x.Kind() != ast.IdentKind || x.AsIdent() != c.AccuVar() || len(step.operands) != 2 {
		return planned{}, false
	}
	// The condition: @not_strictly_false(!accu) (exists), or
	// @not_strictly_false(accu) (all).
	cond := c.LoopCondition()
	if cond.Kind() != ast.CallKind || cond.AsCall().FunctionName() != "@not_strictly_false" || len(cond.AsCall().Args()) != 1 {
		return planned{}, false
	}
	arg := cond.AsCall().Args()[0]
	if start == types.False {
		if arg.Kind() != ast.CallKind || arg.AsCall().FunctionName() != "!_" || len(arg.AsCall().Args()) != 1 {
			return planned{}, false
		}
		arg = arg.AsCall().Args()[0]
	}
	if arg.Kind() != ast.IdentKind || arg.AsIdent() != c.AccuVar() {
		return planned{}, false
	}
	pred := step.operands[1].run
	settles := !start // exists: true settles it; all: false
	// x + y, two lists, is looped over as x then y, without making the
	// list of both.
	ranges := []plan{iterRange.run}
	if iterRange.call == "_+_" && len(iterRange.operands) == 2 {
		ranges = []plan{iterRange.operands[0].run, iterRange.operands[1].run}
	}
	// judge binds elem and runs the predicate on it: done when the loop
	// ends there (settled, or stopped at the deadline, v nil).
	judge := func(a *activation, base int, elem ref.Val, unsettled *bool) (v ref.Val, done bool) {
		if !a.step() {
			return nil, true
		}
		a.slots[base+iter] = elem
		switch pred(a, base) {
		case settles:
			return settles, true
		case start:
		default:
			*unsettled = true
		}
		return nil, false
	}
	return planned{run: func(a *activation, base int) ref.Val {
		// The accumulator is not kept: a predicate that names it (which
		// only __result__ could) reads nothing, and CEL decides.
		a.slots[base+accu] = nil
		unsettled := false
		var lists [2]traits.Lister
		for i, r := range ranges {
			v := r(a, base)
			if lists[i], _ = v.(traits.Lister); lists[i] != nil {
				continue
			}
			m, ok := v.(traits.Mapper)
			if !ok || len(ranges) > 1 {
				return nil
			}
			// A map's keys.
			for it := m.Iterator(); it.HasNext() == types.True; {
				if v, done := judge(a, base, it.Next(), &unsettled); done {
					return v
				}
			}
			return unsettledOr(unsettled, start)
		}
		for _, l := range lists[:len(ranges)] {
			n := l.Size().(types.Int)
			for i := types.Int(0); i < n; i++ {
				if v, done := judge(a, base, l.Get(i), &unsettled); done {
					return v
				}
			}
		}
		return unsettledOr(unsettled, start)
	}}, true
}

// unsettledOr is nil when a loop met an element it could not judge, else v.
func unsettledOr(unsettled bool, v ref.Val) ref.Val {
	if unsettled {
		return nil
	}
	return v
}
