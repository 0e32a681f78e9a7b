package celpolicy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/toolgate/toolgate/internal/policy"
)

// Engine is a bundle's compiled CEL policies. It implements policy.Engine.
type Engine struct {
	policies []compiled
	// members numbers the members of the document the plans read (see
	// activation.members).
	members members
	// activations are kept between decisions: a decision's activation
	// holds a slot for each member, and made anew it was most of what a
	// decision allocated.
	activations sync.Pool
}

var _ policy.Explainer = (*Engine)(nil)

type compiled struct {
	name     string
	mode     policy.Mode
	approval *policy.Approval
	// answered: an expression of the policy mentions the response, so its
	// findings may depend on the target's answer (see policy.Finding).
	answered bool
	// reads is what the policy's expressions read of the document.
	reads      reads
	conditions []program
	variables  []variable
	// varIndex is each variable's index in variables, by name.
	varIndex    map[string]int
	validations []validation
}

// variable is a policy's variable: its program and, when its expression
// reads neither the document nor another variable nor the clock, its
// value, computed once when it compiles (a table of grants is built once,
// not per call).
type variable struct {
	program
	constant ref.Val
}

type program struct {
	name string
	prg  cel.Program
	// loops: the expression has a comprehension (all, exists, map...),
	// which looks at the context as it runs; one without runs in a bounded
	// number of steps and is evaluated without a context to watch.
	loops bool
	// plan computes the expression's value without cel-go's interpreter
	// where it can (see plan), with slots for its loops' variables; nil
	// when it knows nothing of the expression.
	plan  plan
	slots int
}

type validation struct {
	rule    string // validations[i]
	check   program
	message string
	// messageExpr, when set, computes the message from the document: it
	// may quote the call's arguments (policy.Finding.QuotesArguments).
	messageExpr *program
}

// interruptEvery is how many steps of a plan's loops run between two
// looks at the context (cel-go's look at it every step): a policy's loop
// over a hostile list stops at the deadline, an error, which denies. (cel-go's cost limit is no bound
// here: at v0.20.1 its tracker costs time quadratic in the steps taken, a
// minute for one all() over 200,000 items. A bound on the cost, estimated
// from the document's size limits when a policy compiles, is the way to
// refuse such loops before they run.)
const interruptEvery = 100

// Compile type-checks and compiles policies, in order, against the
// attribute document and what the bundle declares of it (claims,
// environments, labels; nothing when declared is empty). An error is a
// *policy.PolicyError naming the policy, around a *policy.FieldError
// naming the member, with cel-go's message.
func Compile(policies []*Policy, declared policy.Declared) (*Engine, error) {
	e := &Engine{}
	if len(policies) == 0 {
		return e, nil
	}
	s, err := newSchema()
	if err != nil {
		return nil, err
	}
	base, err := cel.NewEnv(
		// As Kyverno's environment: a list or map literal holds one type,
		// and a timestamp without a zone is UTC.
		cel.HomogeneousAggregateLiterals(),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders(), ext.Bindings(),
		// kyverno-json's wildcard(), for policies written in both
		// dialects: wildcard('k8s___get-*', object.tool.qualifiedName).
		cel.Function("wildcard", cel.Overload("wildcard_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(pattern, name ref.Val) ref.Val {
				p, ok1 := pattern.(types.String)
				n, ok2 := name.(types.String)
				if !ok1 || !ok2 {
					return types.NewErr("wildcard: want two strings")
				}
				return types.Bool(policy.Wildcard(string(p), string(n)))
			}))),
		cel.Lib(kyvernoLibrary{}),
		// Last: the options above register their types in the environment's
		// own registry, which the schema's replaces (see newSchema).
		cel.CustomTypeProvider(s),
		cel.Variable("object", types.NewObjectType(documentType)),
	)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	e.members.ids = map[string]int{}
	for i, p := range policies {
		c, err := compilePolicy(base, s, i, p, declared, &e.members)
		if err != nil {
			return nil, &policy.PolicyError{Index: i, Err: err}
		}
		e.policies = append(e.policies, c)
	}
	return e, nil
}

func compilePolicy(base *cel.Env, s *schema, index int, p *Policy, declared policy.Declared, members *members) (compiled, error) {
	mode, approval, err := modeOf(p)
	if err != nil {
		return compiled{}, err
	}
	c := compiled{name: p.Metadata.Name, mode: mode, approval: approval, varIndex: map[string]int{}}
	// The policy's variables are fields of an object type of its own, each
	// of the type its expression has, so variables.x is checked as object.x
	// is; each is declared once compiled, so a variable reads only those
	// before it.
	varsType := fmt.Sprintf("toolgate.Variables%d", index)
	s.structs[varsType] = map[string]*types.Type{}
	env, err := base.Extend(cel.Variable("variables", types.NewObjectType(varsType)))
	if err != nil {
		return compiled{}, fmt.Errorf("policy %s: %w", c.name, err)
	}
	compile := func(at []any, expr string, want *types.Type) (out program, checked *cel.Ast, err error) {
		defer func() {
			// cel-go v0.20.1's checker can panic on what it was given
			// (the format extension on a receiver that is no literal):
			// the policy's error, at its member, never a crash at load.
			if r := recover(); r != nil {
				out, checked, err = program{}, nil, fieldError(at, "policy %s: the expression could not be compiled (cel-go: %v)", c.name, r)
			}
		}()
		c.answered = c.answered || strings.Contains(expr, "response")
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return program{}, nil, fieldError(at, "policy %s: %s", c.name, iss.Err())
		}
		t := ast.OutputType()
		if want != nil && !t.IsExactType(want) && !t.IsExactType(types.DynType) {
			return program{}, nil, fieldError(at, "policy %s: the expression is %s, not %s", c.name, t, want)
		}
		loops, msg := c.reads.analyse(ast, declared)
		if msg != "" {
			return program{}, nil, fieldError(at, "policy %s: %s", c.name, msg)
		}
		// A loop in cel-go looks at the context every step: with a
		// coarser check, nested loops each ran up to that many steps past
		// the deadline.
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(1))
		if err != nil {
			return program{}, nil, fieldError(at, "policy %s: %v", c.name, err)
		}
		pl, slots := planOf(ast.NativeRep().Expr(), env.CELTypeAdapter(), &c, members)
		return program{prg: prg, loops: loops, plan: pl, slots: slots}, ast, nil
	}
	for i, m := range p.Spec.MatchConditions {
		prg, _, err := compile([]any{"spec", "matchConditions", i, "expression"}, m.Expression, types.BoolType)
		if err != nil {
			return compiled{}, err
		}
		prg.name = "matchConditions[" + m.Name + "]"
		c.conditions = append(c.conditions, prg)
	}
	for i, v := range p.Spec.Variables {
		prg, ast, err := compile([]any{"spec", "variables", i, "expression"}, v.Expression, nil)
		if err != nil {
			return compiled{}, err
		}
		t := ast.OutputType()
		s.structs[varsType][v.Name] = t
		prg.name = v.Name
		c.varIndex[v.Name] = len(c.variables)
		c.variables = append(c.variables, variable{program: prg, constant: constantOf(ast, prg)})
	}
	for i, v := range p.Spec.Validations {
		check, _, err := compile([]any{"spec", "validations", i, "expression"}, v.Expression, types.BoolType)
		if err != nil {
			return compiled{}, err
		}
		val := validation{rule: fmt.Sprintf("validations[%d]", i), check: check, message: v.Message}
		if v.MessageExpression != "" {
			m, _, err := compile([]any{"spec", "validations", i, "messageExpression"}, v.MessageExpression, types.StringType)
			if err != nil {
				return compiled{}, err
			}
			val.messageExpr = &m
		}
		c.validations = append(c.validations, val)
	}
	// A policy that reads the document whole may read the response.
	c.answered = c.answered || c.reads.whole
	return c, nil
}

// Rules implements policy.Explainer: a policy's rules are its
// validations, validations[0] and on.
func (e *Engine) Rules() []policy.Rule {
	var out []policy.Rule
	for _, p := range e.policies {
		for _, v := range p.validations {
			out = append(out, policy.Rule{Policy: p.name, Name: v.rule})
		}
	}
	return out
}

// Readers says what the policies read of the state the interceptor keeps
// (see policy.Readers): a policy reads the session when an expression
// reads object.session, a definition when one reads
// object.tool.definition, and both when one uses object whole.
func (e *Engine) Readers() policy.Readers {
	var r policy.Readers
	for _, p := range e.policies {
		audit := p.mode == policy.ModeAudit
		if p.reads.has("session") {
			r.Sessions = stronger(r.Sessions, audit)
		}
		if p.reads.has("tool.definition") {
			r.Definitions = stronger(r.Definitions, audit)
			r.DefinitionPolicies = append(r.DefinitionPolicies, p.name)
		}
	}
	return r
}

// stronger is the reader mode m once a policy (audit-only or not) reads.
func stronger(m policy.Mode, audit bool) policy.Mode {
	switch {
	case !audit:
		return policy.ModeEnforce
	case m == "":
		return policy.ModeAudit
	}
	return m
}

// Environments returns the environments the policies compare
// object.environment with (see policy.Environments).
func (e *Engine) Environments() map[string]bool {
	out := map[string]bool{}
	for _, p := range e.policies {
		for _, env := range p.reads.environments {
			out[env] = true
		}
	}
	return out
}

// Evaluate runs every policy on doc: a policy whose match conditions are
// not all true is skipped; a validation that is false is a violation; one
// that cannot be evaluated (a missing member, a loop past the deadline, a
// panic) is an error, which denies like a violation.
func (e *Engine) Evaluate(ctx context.Context, doc map[string]any) policy.Result {
	var res policy.Result
	e.decide(ctx, doc, func(act *activation) {
		res = policy.Result{}
		for i := range e.policies {
			if e.policies[i].evaluate(ctx, act, &res, nil, false) {
				return
			}
		}
	})
	return res
}

// decide runs f on an activation of doc, and when a plan panics (which
// TestPlanIsCEL and FuzzPlan look for, and none is known to), runs it
// again with every expression in cel-go: a decision pays for one recover,
// not one per expression.
func (e *Engine) decide(ctx context.Context, doc map[string]any, f func(*activation)) {
	if !e.attempt(ctx, doc, f, false) {
		e.attempt(ctx, doc, f, true)
	}
}

func (e *Engine) attempt(ctx context.Context, doc map[string]any, f func(*activation), plansOff bool) (done bool) {
	act := e.activation(ctx, doc)
	act.plansOff = plansOff
	defer func() {
		if !plansOff && recover() != nil {
			done = false
		}
		e.release(act)
	}()
	f(act)
	return true
}

// AllowsEach implements policy.Engine: it skips audit-only policies and
// stops at the first finding that denies.
func (e *Engine) AllowsEach(ctx context.Context) func(doc map[string]any) bool {
	return func(doc map[string]any) bool {
		if ctx.Err() != nil {
			return false
		}
		allowed := true
		e.decide(ctx, doc, func(act *activation) {
			var res policy.Result
			allowed = true
			for i := range e.policies {
				if e.policies[i].mode == policy.ModeAudit {
					continue // nothing an audit-only policy finds denies
				}
				if e.policies[i].evaluate(ctx, act, &res, nil, true) || res.Denied() {
					allowed = false
					return
				}
			}
		})
		return allowed
	}
}

// Explain runs every validation of every policy on doc and returns each
// one's outcome, for an author asking why a document was decided as it
// was.
func (e *Engine) Explain(doc map[string]any) []policy.RuleResult {
	var out []policy.RuleResult
	e.decide(context.Background(), doc, func(act *activation) {
		out = nil
		for i := range e.policies {
			e.policies[i].evaluate(context.Background(), act, nil, &out, false)
		}
	})
	return out
}

// evaluate runs p on the document act binds, adding its findings to res
// and, when explain is set, each validation's outcome to it. It reports whether evaluation must
// stop: ctx is done (a finding says so), or, with verdict, a finding
// denies.
func (p *compiled) evaluate(ctx context.Context, act *activation, res *policy.Result, explain *[]policy.RuleResult, verdict bool) (stop bool) {
	if res == nil {
		res = &policy.Result{}
	}
	if err := ctx.Err(); err != nil {
		res.Findings = append(res.Findings, policy.Finding{Policy: "(deadline)", Kind: policy.Error, Mode: policy.ModeEnforce, Answered: true,
			Message: "policy evaluation stopped: no time left", Detail: err.Error()})
		return true
	}
	act.variables.bind(ctx, act, p)
	explained := func(rule, outcome string, findings ...policy.Finding) {
		if explain != nil {
			*explain = append(*explain, policy.RuleResult{Policy: p.name, Rule: rule, Mode: p.mode, Outcome: outcome, Findings: findings})
		}
	}
	fault := func(rule string, err error) policy.Finding {
		// An approval policy that cannot be evaluated denies: no one
		// could say what they approve.
		mode := p.mode
		if mode == policy.ModeApproval {
			mode = policy.ModeEnforce
		}
		f := policy.Finding{Policy: p.name, Rule: rule, Kind: policy.Error, Mode: mode, Answered: true,
			Message: fmt.Sprintf("policy %s rule %s could not be evaluated", p.name, rule), Detail: describe(err)}
		res.Findings = append(res.Findings, f)
		return f
	}
	// As Kyverno's engine matches: a condition that is false skips the
	// policy, whatever the others give, errors included; when none is
	// false, the first that cannot be evaluated (or is no bool) is the
	// policy's finding. What plans compute is looked at first.
	skip := func() bool {
		for _, val := range p.validations {
			explained(val.rule, policy.Skip)
		}
		return false
	}
	act.conditions = act.conditions[:0]
	for _, m := range p.conditions {
		v := act.run(m)
		if v == types.False {
			return skip()
		}
		act.conditions = append(act.conditions, v)
	}
	failed, failure := "", error(nil)
	for i, m := range p.conditions {
		v, err := act.conditions[i], error(nil)
		if v == nil {
			// Its plan, if any, said nothing in the pass above.
			inCEL := m
			inCEL.plan = nil
			v, err = eval(ctx, inCEL, act)
		}
		switch {
		case v == types.False:
			return skip()
		case err == nil && v != types.True:
			err = fmt.Errorf("the condition is %s, not a bool", v.Type())
		}
		if err != nil && failure == nil {
			failed, failure = m.name, err
		}
	}
	if failure != nil {
		f := fault(failed, failure)
		for _, val := range p.validations {
			explained(val.rule, policy.Fault, f)
		}
		return verdict
	}
	// As Kyverno evaluates them: in order, up to the first that fails or
	// cannot be evaluated, whose finding is the policy's; the rest are not
	// evaluated.
	for i, val := range p.validations {
		v, err := eval(ctx, val.check, act)
		switch {
		case err != nil:
			explained(val.rule, policy.Fault, fault(val.rule, err))
		case v == types.True:
			explained(val.rule, policy.Pass)
			continue
		case v == types.False:
			f := policy.Finding{Policy: p.name, Rule: val.rule, Kind: policy.Violation, Mode: p.mode, Approval: p.approval,
				Message: p.message(ctx, val, act, verdict), QuotesArguments: val.messageExpr != nil, Answered: p.answered}
			res.Findings = append(res.Findings, f)
			explained(val.rule, policy.Fail, f)
		default:
			explained(val.rule, policy.Fault, fault(val.rule, fmt.Errorf("the expression is %s, not a bool", v.Type())))
		}
		for _, rest := range p.validations[i+1:] {
			explained(rest.rule, policy.Skip)
		}
		return verdict && res.Denied()
	}
	return false
}

// message is the message of a failed validation: its messageExpression's,
// when it evaluates to a one-line string, else its message, else a
// generic one.
func (p *compiled) message(ctx context.Context, val validation, act *activation, verdict bool) string {
	if val.messageExpr != nil && !verdict {
		if v, err := eval(ctx, *val.messageExpr, act); err == nil {
			if s, ok := v.Value().(string); ok && s != "" && !strings.ContainsAny(s, "\r\n") {
				return s
			}
		}
	}
	switch {
	case val.message != "":
		return val.message
	case p.approval != nil:
		return fmt.Sprintf("policy %s rule %s needs approval", p.name, val.rule)
	default:
		return fmt.Sprintf("denied by policy %s rule %s", p.name, val.rule)
	}
}

// eval computes p's value: its plan's, or when the plan says nothing,
// cel-go's, a panic in it an error of its own.
func eval(ctx context.Context, p program, act *activation) (v ref.Val, err error) {
	if v := act.run(p); v != nil {
		return v, nil
	}
	if act.stopped {
		// A plan's loop saw the context done: running the expression
		// again in cel-go would loop again.
		return nil, errInterrupted
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	if p.loops {
		v, _, err = p.prg.ContextEval(ctx, act)
	} else {
		v, _, err = p.prg.Eval(act)
	}
	return v, err
}

// errInterrupted is a loop stopped at the deadline, as cel-go says it.
var errInterrupted = errors.New("operation interrupted")

// describe is the kind of an evaluation error, one of errorKinds: cel-go's
// messages may hold a key or a value of the document ("no such key:
// <key>", "unknown time zone <claim>"), which is the caller's data and
// never logged, so none is kept as it is.
func describe(err error) string {
	msg := err.Error()
	for _, k := range errorKinds {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return "the expression could not be evaluated"
}

// errorKinds are the evaluation errors a Detail names, by a part of their
// message that holds no data.
var errorKinds = []string{
	"no such key", "no such attribute", "no such overload", "no matching overload", "no such field",
	"division by zero", "modulus by zero", "index out of range", "index out of bounds", "cannot slice",
	"invalid UTF-8", "unknown time zone", "timestamp", "duration", "type conversion error", "range error",
	"error parsing regexp", "operation interrupted", "operation cancelled", "panic", "is not a bool",
}

// activation binds object and variables for one decision, and holds what
// plans use as they run.
type activation struct {
	ctx       context.Context
	object    map[string]any
	variables variables
	// slots are the values of the variables of the loops plans run, each
	// plan's from the base it is given; steps counts their steps.
	slots []ref.Val
	steps int
	// members are the members of the document plans read, by number,
	// each read once a decision; paths say where each is.
	members []member
	paths   []memberPath
	// plansOff: every expression runs in cel-go. stopped: a plan's loop
	// saw the context done, and every loop stops.
	plansOff, stopped bool
	// conditions are the match conditions' values that plans computed,
	// nil for none, while a policy is evaluated.
	conditions []ref.Val
}

// newActivation binds doc for every policy.
func newActivation(ctx context.Context, doc map[string]any) *activation {
	return &activation{ctx: ctx, object: doc}
}

// activation binds doc for e's policies, until release.
func (e *Engine) activation(ctx context.Context, doc map[string]any) *activation {
	a, _ := e.activations.Get().(*activation)
	if a == nil {
		a = &activation{members: make([]member, len(e.members.paths)), paths: e.members.paths}
	}
	a.ctx, a.object = ctx, doc
	return a
}

// release returns a to e once its decision is made, holding nothing of it.
func (e *Engine) release(a *activation) {
	clear(a.members)
	clear(a.slots[:cap(a.slots)])
	clear(a.variables.values[:cap(a.variables.values)])
	clear(a.conditions[:cap(a.conditions)])
	*a = activation{members: a.members, paths: a.paths, slots: a.slots[:0], conditions: a.conditions[:0],
		variables: variables{values: a.variables.values[:0]}}
	e.activations.Put(a)
}

// planned is run for a variable's plan, which cel-go may be the one
// reading (a variable is read where it is used): a plan that panics there
// says nothing, and cel-go computes the variable.
func (a *activation) planned(p program) (v ref.Val) {
	defer func() {
		if recover() != nil {
			v = nil
		}
	}()
	return a.run(p)
}

// run is the value p's plan computes on a's document, nil when there is no
// plan or it says nothing. A plan that panics is recovered once a
// decision (see Engine.decide).
func (a *activation) run(p program) ref.Val {
	if p.plan == nil || a.plansOff {
		return nil
	}
	base := len(a.slots)
	for range p.slots {
		a.slots = append(a.slots, nil)
	}
	v := p.plan(a, base)
	a.slots = a.slots[:base]
	return v
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "object":
		return a.object, true
	case "variables":
		return &a.variables, a.variables.policy != nil && len(a.variables.policy.variables) > 0
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// variables are one policy's variables while it is evaluated, as CEL
// reads them (a map): each is evaluated when an expression first reads
// it, as Kyverno's engine does, and kept until the policy is done; one
// that fails holds its error, which the expression that reads it then
// has. A variable no expression reads is never evaluated.
type variables struct {
	ctx    context.Context
	act    *activation
	policy *compiled
	values []computed // by index; nil until evaluated
}

var (
	_ ref.Val       = (*variables)(nil)
	_ traits.Mapper = (*variables)(nil)
)

// bind makes v p's variables, none evaluated yet.
func (v *variables) bind(ctx context.Context, act *activation, p *compiled) {
	v.ctx, v.act, v.policy = ctx, act, p
	v.values = slices.Grow(v.values[:0], len(p.variables))[:len(p.variables)]
	clear(v.values)
}

// Find implements traits.Mapper.
func (v *variables) Find(key ref.Val) (ref.Val, bool) {
	name, ok := key.(types.String)
	if !ok || v.policy == nil {
		return nil, false
	}
	i, ok := v.policy.varIndex[string(name)]
	if !ok {
		return nil, false
	}
	return v.get(i), true
}

// get is the value of the i-th variable, evaluated on first read (by its
// plan, else by cel-go): what cel-go reads.
func (v *variables) get(i int) ref.Val {
	if c := &v.values[i]; c.val == nil {
		if v.planned(i); c.val == nil {
			vr := &v.policy.variables[i]
			inCEL := vr.program
			inCEL.plan = nil
			val, err := eval(v.ctx, inCEL, v.act)
			if err != nil {
				val = types.NewErr("variable %s (%s)", vr.name, describe(err))
			}
			*c = computed{val: val, byCEL: true}
		}
	}
	return v.values[i].val
}

// planned is the value of the i-th variable that plans read: its constant,
// or what its plan computes, once; nil when the plan says nothing, or when
// cel-go computed it. A plan never makes cel-go compute a variable, which
// cel-go itself might not have computed (its || stops at a true left
// side), and reads no value cel-go computed: one can hold cel-go's mutable
// list (a list bound with cel.bind to an empty list grows in place when
// added to), which a plan, evaluating its operands in another order,
// would read otherwise.
func (v *variables) planned(i int) ref.Val {
	c := &v.values[i]
	if c.val == nil && !c.unplanned {
		vr := &v.policy.variables[i]
		if c.val = vr.constant; c.val == nil {
			c.val = v.act.planned(vr.program)
			c.unplanned = c.val == nil
		}
	}
	if c.byCEL {
		return nil
	}
	return c.val
}

// computed is a variable's value; byCEL: cel-go computed it; unplanned:
// its plan said nothing.
type computed struct {
	val              ref.Val
	byCEL, unplanned bool
}

// Get implements traits.Indexer.
func (v *variables) Get(key ref.Val) ref.Val {
	if val, ok := v.Find(key); ok {
		return val
	}
	return types.NewErr("no such key")
}

// Contains implements traits.Container.
func (v *variables) Contains(key ref.Val) ref.Val {
	_, ok := v.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (v *variables) Size() ref.Val { return types.Int(len(v.values)) }

// Iterator implements traits.Iterable: the variables' names.
func (v *variables) Iterator() traits.Iterator {
	names := make([]string, len(v.policy.variables))
	for i, vr := range v.policy.variables {
		names[i] = vr.name
	}
	return types.NewStringList(types.DefaultTypeAdapter, names).Iterator()
}

// ConvertToNative implements ref.Val: variables are read, never converted.
func (v *variables) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("variables cannot be converted")
}

// ConvertToType implements ref.Val.
func (v *variables) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return v.Type().(ref.Val)
	}
	return types.NewErr("variables cannot be converted to %s", t.TypeName())
}

// Equal implements ref.Val: variables equal only themselves.
func (v *variables) Equal(other ref.Val) ref.Val { return types.Bool(other == ref.Val(v)) }

// Type implements ref.Val.
func (v *variables) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (v *variables) Value() any { return v }

// constantOf is the value of a variable's checked expression a when it
// reads neither the document nor another variable nor the clock, and has
// no loop (cel.bind is one), so that every evaluation has the same value
// and the computation is as long as the expression: a table of grants.
// nil when it may differ, fails, takes longer than constantTime, or is
// not plainly immutable (see immutable). cel-go computes it, not p's plan:
// a plan is held to cel-go, not the other way round.
func constantOf(a *cel.Ast, p program) (v ref.Val) {
	if p.loops {
		return nil
	}
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a.NativeRep()), ast.AllMatcher()) {
		switch {
		case e.Kind() == ast.IdentKind && (e.AsIdent() == "object" || e.AsIdent() == "variables"):
			return nil
		case e.Kind() == ast.CallKind && e.AsCall().FunctionName() == "time.now":
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), constantTime)
	defer cancel()
	p.plan = nil
	v, err := eval(ctx, p, newActivation(ctx, nil))
	budget := maxConstantValues
	if err != nil || !immutable(v, &budget) {
		return nil
	}
	return v
}

// constantTime bounds the computation of a constant variable at load.
const constantTime = 50 * time.Millisecond

// maxConstantValues bounds the values immutable looks at in a constant.
const maxConstantValues = 100_000

// immutable reports whether v is a value of CEL's own types that no one
// can change, within budget values looked at: cel-go's mutable list (in a
// list, a map or an optional) is not, and nor is a value of a type it does
// not know.
func immutable(v ref.Val, budget *int) bool {
	if *budget--; *budget < 0 {
		return false
	}
	switch c := v.(type) {
	case types.Bool, types.Int, types.Uint, types.Double, types.String, types.Bytes, types.Null, types.Timestamp, types.Duration:
		return true
	case *types.Optional:
		return !c.HasValue() || immutable(c.GetValue(), budget)
	case traits.MutableLister:
		return false
	case traits.Lister:
		for i := types.Int(0); i < c.Size().(types.Int); i++ {
			if !immutable(c.Get(i), budget) {
				return false
			}
		}
		return true
	case traits.Mapper:
		for it := c.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if val, _ := c.Find(k); val == nil || !immutable(k, budget) || !immutable(val, budget) {
				return false
			}
		}
		return true
	}
	return false
}
