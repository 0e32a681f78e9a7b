package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/compilers"
	"github.com/kyverno/kyverno-json/pkg/core/expression"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kyverno evaluates Kyverno JSON ValidatingPolicies. Every rule is compiled
// once, by Compile; Evaluate only runs compiled rules. (kyverno-json's own
// jsonengine recompiles every rule on every call, which costs far more than
// the evaluation itself.)
type Kyverno struct {
	policies []compiledPolicy
}

type compiledPolicy struct {
	name     string
	mode     Mode
	approval *Approval // of an approval policy
	binding  binding.Binding
	rules    []compiledRule
}

type compiledRule struct {
	name    string
	binding binding.Binding
	eval    ruleFunc
	// guards are, per field of guardFields, the only values the rule's
	// match clause can accept (nil: any).
	guards [len(guardFields)]literals
	// listKinds, when not nil, are the only values of list.kind a
	// document of action list can have for the rule to match it.
	listKinds map[string]bool
	// quotesArguments, answered: see Finding.
	quotesArguments, answered bool
}

// ruleFunc evaluates one rule on resource, whose member action is action
// (of any type), with w as its clauses' walk: matched is false when the match or exclude
// clause skips the rule; err is an evaluation error. shared, when not nil,
// holds the context values that documents of one list answer share.
type ruleFunc func(w *walk, resource any, action any, b binding.Bindings, shared shared) (violations []violation, matched bool, err error)

// shared holds, for a series of documents that differ only in the fields of
// listVarying, the context values that read none of them: computed for the
// first document, used for all.
type shared map[*contextEntry]*slot

// Compile compiles policies, which must have passed DecodePolicy. Policies are
// evaluated in the order given.
func Compile(policies []*v1alpha1.ValidatingPolicy) (*Kyverno, error) {
	k := &Kyverno{}
	base := defaultCompilers()
	names := map[string]bool{}
	for pi, p := range policies {
		if names[p.Name] {
			return nil, &PolicyError{Index: pi, Err: fmt.Errorf("duplicate policy name %q", p.Name)}
		}
		names[p.Name] = true
		mode, approval, err := modeOf(p)
		if err != nil {
			return nil, &PolicyError{Index: pi, Err: err}
		}
		c, compiler := base, compilers.CompilerJP
		if p.Spec.Compiler != nil {
			compiler = string(*p.Spec.Compiler)
			c = c.WithDefaultCompiler(compiler)
		}
		cp := compiledPolicy{name: p.Name, mode: mode, approval: approval}
		if spec, err := json.Marshal(p.Spec); err != nil || mentions(spec, "$policy") {
			cp.binding = binding.NewBinding(*p)
		}
		rules := loc{path: field.NewPath("spec", "rules"), at: []any{"spec", "rules"}}
		for i, r := range p.Spec.Rules {
			eval, err := compileRule(rules.index(i), c, compiler, r)
			if err != nil {
				return nil, &PolicyError{Index: pi, Err: fmt.Errorf("policy %s rule %s: %w", p.Name, r.Name, err)}
			}
			raw, err := json.Marshal(r) // read for what the rule mentions
			if err != nil {
				raw = nil // mentions everything: when in doubt, bind
			}
			var rb binding.Binding
			if mentions(raw, "$rule") {
				rb = binding.NewBinding(r)
			}
			cp.rules = append(cp.rules, compiledRule{name: r.Name, binding: rb, eval: eval,
				guards: guardsOf(r.Match), listKinds: listKinds(r.Match), quotesArguments: quotesArguments(r),
				answered: answered(raw)})
		}
		k.policies = append(k.policies, cp)
	}
	return k, nil
}

// PolicyError is an error of the policy at Index of those Compile was
// given. Where the error is an expression that does not compile, its chain
// holds a FieldError that says where in the policy's document.
type PolicyError struct {
	Index int
	Err   error
}

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

// Evaluate runs every rule of every policy on doc. A rule whose match clause
// does not match is skipped; a failed assertion is a violation; a rule that
// cannot be evaluated is an error, which denies like a violation.
func (k *Kyverno) Evaluate(ctx context.Context, doc map[string]any) Result {
	return k.evaluate(ctx, doc, nil)
}

// AllowsEach returns a function that reports whether no enforcing policy
// denies a document, for a series of documents that differ only in tool and
// environment: the tools of one list answer. It stops at the first denial,
// skips audit-only policies and computes context variables that read
// neither field once for the series, so it costs far less per document than
// Evaluate. The function is not safe for concurrent use.
func (k *Kyverno) AllowsEach(ctx context.Context) func(doc map[string]any) bool {
	sh := shared{}
	return func(doc map[string]any) bool { return !k.evaluate(ctx, doc, sh).Denied() }
}

// evaluate runs the rules on doc. With sh (a list series), it returns at the
// first enforcing finding and skips audit-only policies.
func (k *Kyverno) evaluate(ctx context.Context, doc map[string]any, sh shared) (res Result) {
	verdictOnly := sh != nil
	var current *compiledPolicy
	var currentRule string
	defer func() {
		if r := recover(); r != nil {
			f := Finding{Policy: "(engine)", Kind: Error, Mode: ModeEnforce, Message: "policy evaluation failed", Answered: true}
			if current != nil {
				f.Policy, f.Rule, f.Mode = current.name, currentRule, errorMode(current.mode)
				f.Message = fmt.Sprintf("policy %s rule %s could not be evaluated", current.name, currentRule)
			}
			f.Detail = fmt.Sprintf("panic: %v", r)
			res.Findings = append(res.Findings, f)
		}
	}()
	var fields guarded
	fields.read(doc)
	action := fields.strings[0]
	list, _ := doc["list"].(map[string]any)
	kind, isKind := list["kind"].(string)
	var resource any = doc
	payload := newPayload(resource)
	w := getWalk(false)
	w.verdict = verdictOnly
	defer putWalk(w)
	for i := range k.policies {
		p := &k.policies[i]
		if verdictOnly && p.mode == ModeAudit {
			// Nothing an audit-only policy finds denies. An approval
			// policy's errors do (see errorMode): it is run.
			continue
		}
		current = p
		pb := bind(payload, "$policy", p.binding)
		for _, r := range p.rules {
			if fields.skip(&r.guards) || action == "list" && r.listKinds != nil && (!isKind || !r.listKinds[kind]) {
				continue
			}
			currentRule = r.name
			if err := ctx.Err(); err != nil {
				// The caller has answered already (a denial); stop rather
				// than hold a worker and the document.
				res.Findings = append(res.Findings, Finding{Policy: "(deadline)", Kind: Error, Mode: ModeEnforce, Answered: true,
					Message: "policy evaluation stopped: no time left", Detail: err.Error()})
				return res
			}
			violations, matched, panicked, err := r.safeEval(w, resource, fields.values[0], bind(pb, "$rule", r.binding), sh)
			if !matched {
				continue
			}
			if err != nil {
				// An approval policy that cannot be evaluated denies: no
				// one could say what they approve.
				f := Finding{
					Policy: p.name, Rule: r.name, Kind: Error, Mode: errorMode(p.mode),
					Message: fmt.Sprintf("policy %s rule %s could not be evaluated", p.name, r.name),
					Detail:  describeError(err), Answered: r.answered,
				}
				if panicked {
					f.Detail, f.Answered = err.Error(), true
				}
				res.Findings = append(res.Findings, f)
			}
			for _, v := range violations {
				res.Findings = append(res.Findings, Finding{
					Policy: p.name, Rule: r.name, Kind: Violation, Mode: p.mode,
					Message: authorMessage(v.message, p, r.name),
					Detail:  describeViolations(v.fails), Approval: p.approval, QuotesArguments: r.quotesArguments,
					Answered: r.answered,
				})
			}
			if verdictOnly && res.Denied() {
				return res
			}
		}
	}
	return res
}

// safeEval runs the rule, a panic in it (a JMESPath function given data it
// cannot take: kyverno-json's at() out of range) an error of the rule
// alone. Caught for the whole evaluation, a panic in an audit-only policy
// ended it there and skipped every policy after it, enforcing ones
// included: a caller who could make one policy panic switched the rest
// off.
func (r *compiledRule) safeEval(w *walk, resource, action any, b binding.Bindings, sh shared) (violations []violation, matched, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			w.reset(w.keep) // what the walk was doing is abandoned
			violations, matched, panicked, err = nil, true, true, fmt.Errorf("panic: %v", p)
		}
	}()
	violations, matched, err = r.eval(w, resource, action, b, sh)
	return violations, matched, false, err
}

// mentions reports whether raw, a policy or rule as JSON, mentions
// variable: a policy that never reads $policy, or a rule $rule, need not
// bind it on every call. (A longer name that starts with it counts, and a
// nil raw mentions everything: when in doubt, bind.)
func mentions(raw []byte, variable string) bool {
	return raw == nil || bytes.Contains(raw, []byte(variable))
}

// answered reports whether a rule, raw as JSON, may depend on the
// target's answer (see Finding.Answered): it mentions the response or
// $payload, or one of its expressions reads the document whole (@ at the
// top). Every expression is read as if at the document's top, which errs
// on the side of true.
func answered(raw []byte) bool {
	if mentions(raw, "response") || mentions(raw, "$payload") {
		return true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true
	}
	whole := false
	var walk func(v any)
	check := func(s string) {
		if strings.Contains(s, "{{") { // a template; the regexp costs more than this test
			for _, m := range templateExpr.FindAllStringSubmatch(s, -1) {
				if !readsOnly(strings.TrimSpace(m[1]), nil, func(string) bool { return true }) {
					whole = true
				}
			}
		}
		if e := parseExpression(s); e.Compiler != "" && !readsOnly(e.Statement, nil, func(string) bool { return true }) {
			whole = true
		}
	}
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				check(k)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			check(v)
		}
	}
	walk(v)
	return whole
}

// bind registers name in b, unless value is nil (never read).
func bind(b binding.Bindings, name string, value binding.Binding) binding.Bindings {
	if value == nil {
		return b
	}
	return b.Register(name, value)
}

// errorMode is the mode of an evaluation error of a policy of mode m.
func errorMode(m Mode) Mode {
	if m == ModeApproval {
		return ModeEnforce
	}
	return m
}

// compileRule compiles a rule and composes its parts as kyverno-json's
// jsonengine.CompileRule does (context, match, exclude, assert), without
// building a response record for every rule evaluated, and with literal
// context variables bound once here rather than on every call.
func compileRule(l loc, c compilers.Compilers, compiler string, r v1alpha1.ValidatingRule) (ruleFunc, error) {
	if r.Compiler != nil {
		compiler = string(*r.Compiler)
		c = c.WithDefaultCompiler(compiler)
	}
	context, err := compileContext(l.child("context"), c, compiler, r.Context)
	if err != nil {
		return nil, err
	}
	match, err := compileClause(l.child("match"), c, r.Match)
	if err != nil {
		return nil, err
	}
	byAction, err := matchesByAction(l.child("match"), c, r.Match)
	if err != nil {
		return nil, err
	}
	exclude, err := compileClause(l.child("exclude"), c, r.Exclude)
	if err != nil {
		return nil, err
	}
	assert, err := compileAssert(l.child("assert"), c, formatted(r.Assert))
	if err != nil {
		return nil, err
	}
	return func(w *walk, resource any, action any, b binding.Bindings, sh shared) ([]violation, bool, error) {
		b = context(resource, b, sh)
		match := match
		// Only a string action picks a clause specialised for it: another
		// value runs the whole clause, as kyverno-json does.
		if s, isString := action.(string); isString && byAction[s] != nil {
			match = byAction[s]
		}
		if match != nil {
			if failed, err := match.failedOn(w, resource, b); err != nil {
				return nil, true, err
			} else if failed {
				return nil, false, nil
			}
		}
		if exclude != nil {
			if failed, err := exclude.failedOn(w, resource, b); err != nil {
				return nil, true, err
			} else if !failed {
				return nil, false, nil
			}
		}
		violations, err := assert.eval(w, resource, b)
		return violations, true, err
	}, nil
}

// contextEntry is a compiled context entry: a constant, bound once, or an
// expression, evaluated lazily, at most once per evaluation.
type contextEntry struct {
	name     string
	constant binding.Binding
	eval     func(any, binding.Bindings) (any, error)
	// listShared is true for an expression that reads neither tool nor
	// environment: the documents of one list answer share its value.
	listShared bool
}

// matchesByAction compiles, for each action a match clause names in literal
// "any" trees, the clause with only the trees that can match that action,
// without their action key.
// A list document then does not run the trees written for calls (a failed
// tree costs more than a matching one: kyverno-json formats its error).
func matchesByAction(l loc, c compilers.Compilers, m *v1alpha1.Match) (map[string]*clause, error) {
	if m == nil || len(m.Any) < 2 || !literalOnly(m) {
		// The trees it would leave out must run: one may err.
		return nil, nil
	}
	out := map[string]*clause{}
	kinds := listKinds(m)
	for action := range literalValues(m, "action") {
		specialized := *m
		specialized.Any = nil
		for i := range m.Any {
			if v, ok := literalOf(&m.Any[i], "action"); !ok || v == action {
				tree := m.Any[i]
				if ok {
					// The clause runs only on documents of this action
					// (the string itself, which the literal equals).
					tree = withoutKey(tree, "action")
				}
				if action == "list" && len(kinds) == 1 {
					// The rule is skipped for a list document of
					// another kind (evaluate), so its trees need not
					// check the kind of one they run on.
					tree = withoutKey(tree, "list")
				}
				specialized.Any = append(specialized.Any, tree)
			}
		}
		f, err := compileClause(l, c, &specialized)
		if err != nil {
			return nil, err
		}
		out[action] = f
	}
	return out, nil
}

// withoutKey returns tree without its top-level key k.
func withoutKey(tree v1alpha1.AssertionTree, k string) v1alpha1.AssertionTree {
	v, err := Plain(&tree)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return tree
	}
	delete(m, k)
	return v1alpha1.NewAssertionTree(m)
}

func actionOf(resource any) any {
	doc, _ := resource.(map[string]any)
	return doc["action"]
}

// compileContext compiles a rule's context entries. An entry whose variable
// is an expression is evaluated lazily, at most once per evaluation, as
// kyverno-json does; any other value is a constant, bound once. compiler is
// the rule's default compiler.
func compileContext(l loc, c compilers.Compilers, compiler string, entries []v1alpha1.ContextEntry) (func(any, binding.Bindings, shared) binding.Bindings, error) {
	var compiled []*contextEntry
	// Variables a list-shared expression may use: the policy, the rule and
	// entries that are themselves constant or shared.
	sharable := map[string]bool{"$policy": true, "$rule": true}
	for i, e := range entries {
		ec, ecompiler := c, compiler
		if e.Compiler != nil {
			ecompiler = string(*e.Compiler)
			ec = ec.WithDefaultCompiler(ecompiler)
		}
		vl := l.index(i).child("variable")
		vpath := vl.path
		handler, ferr := e.Variable.Compile(vpath, ec)
		if ferr != nil {
			return nil, vl.fail(ferr)
		}
		raw, err := Plain(&e.Variable)
		if err != nil {
			return nil, err
		}
		name := "$" + e.Name
		stmt, isString := raw.(string)
		if !isString {
			v, err := handler(nil, nil)
			if err != nil {
				return nil, field.InternalError(vpath, err)
			}
			compiled = append(compiled, &contextEntry{name: name, constant: binding.NewBinding(v)})
			sharable[name] = true
			continue
		}
		entry := &contextEntry{name: name, eval: func(resource any, b binding.Bindings) (any, error) {
			v, err := handler(resource, b)
			if err != nil {
				return nil, field.InternalError(vpath, err)
			}
			return v, nil
		}}
		if expr := parseExpression(stmt); !expr.Foreach && expr.Binding == "" &&
			(expr.Compiler == compilers.CompilerJP || (expr.Compiler == expression.CompilerDefault && ecompiler == compilers.CompilerJP)) {
			entry.listShared = readsOnly(expr.Statement, listVarying, func(v string) bool { return sharable[v] })
		}
		sharable[name] = entry.listShared
		compiled = append(compiled, entry)
	}
	if len(compiled) == 0 {
		return func(_ any, b binding.Bindings, _ shared) binding.Bindings { return b }, nil
	}
	return func(resource any, b binding.Bindings, sh shared) binding.Bindings {
		return newFrame(compiled, resource, b, sh)
	}, nil
}

// authorMessage is the policy author's formatted message, or a generic one
// when there is none.
func authorMessage(msg string, p *compiledPolicy, rule string) string {
	switch {
	case msg != "":
		return msg
	case p.approval != nil:
		return fmt.Sprintf("policy %s rule %s needs approval", p.name, rule)
	default:
		return fmt.Sprintf("denied by policy %s rule %s", p.name, rule)
	}
}

// describeErrors lists the failing paths and the kind of failure, without the
// values found there: those may be tool arguments, which are never logged.
func describeErrors(fails []fail) string {
	parts := make([]string, 0, len(fails))
	for _, f := range fails {
		parts = append(parts, f.path+": "+string(f.typ))
	}
	return strings.Join(parts, "; ")
}

// describeViolations is describeErrors without the document's keys: a
// rule that loops (~) over a map names in the path each key it fails on,
// and a key of the call's arguments is the caller's data, which a
// decision record must not hold. A path is kept up to its first loop,
// which only the policy wrote.
func describeViolations(fails []fail) string {
	parts := make([]string, 0, len(fails))
	for _, f := range fails {
		path := f.path
		if i := strings.IndexByte(path, '~'); i >= 0 {
			path = path[:i] + "~(in a loop)"
		}
		parts = append(parts, path+": "+string(f.typ))
	}
	return strings.Join(parts, "; ")
}

func describeError(err error) string {
	var fe *field.Error
	if errors.As(err, &fe) {
		detail := fe.Field + ": " + string(fe.Type)
		if fe.Type == field.ErrorTypeInternal {
			detail += ": " + fe.Detail
		}
		return detail
	}
	return err.Error()
}
