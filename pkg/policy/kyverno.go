package policy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
	"github.com/jmespath-community/go-jmespath/pkg/interpreter"
	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"github.com/kyverno/kyverno-json/pkg/core/compilers"
	jpcompiler "github.com/kyverno/kyverno-json/pkg/core/compilers/jp"
	"github.com/kyverno/kyverno-json/pkg/jp"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"
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
	name    string
	mode    Mode
	binding binding.Binding
	rules   []compiledRule
}

type compiledRule struct {
	name    string
	binding binding.Binding
	eval    ruleFunc
}

// ruleFunc evaluates one rule: matched is false when the match or exclude
// clause skips the rule; err is an evaluation error.
type ruleFunc func(resource any, b binding.Bindings) (violations jsonengine.Results, matched bool, err error)

// Compile compiles policies, which must have passed DecodePolicy. Policies are
// evaluated in the order given.
func Compile(policies []*v1alpha1.ValidatingPolicy) (*Kyverno, error) {
	k := &Kyverno{}
	base := defaultCompilers()
	names := map[string]bool{}
	for _, p := range policies {
		if names[p.Name] {
			return nil, fmt.Errorf("duplicate policy name %q", p.Name)
		}
		names[p.Name] = true
		mode, err := modeOf(p)
		if err != nil {
			return nil, err
		}
		c := base
		if p.Spec.Compiler != nil {
			c = c.WithDefaultCompiler(string(*p.Spec.Compiler))
		}
		cp := compiledPolicy{name: p.Name, mode: mode, binding: binding.NewBinding(*p)}
		path := field.NewPath("spec", "rules")
		for i, r := range p.Spec.Rules {
			eval, err := compileRule(path.Index(i), c, r)
			if err != nil {
				return nil, fmt.Errorf("policy %s rule %s: %w", p.Name, r.Name, err)
			}
			cp.rules = append(cp.rules, compiledRule{name: r.Name, binding: binding.NewBinding(r), eval: eval})
		}
		k.policies = append(k.policies, cp)
	}
	return k, nil
}

// Evaluate runs every rule of every policy on doc. A rule whose match clause
// does not match is skipped; a failed assertion is a violation; a rule that
// cannot be evaluated is an error, which denies like a violation.
func (k *Kyverno) Evaluate(doc map[string]any) (res Result) {
	var current *compiledPolicy
	var currentRule string
	defer func() {
		if r := recover(); r != nil {
			f := Finding{Policy: "(engine)", Kind: Error, Mode: ModeEnforce, Message: "policy evaluation failed"}
			if current != nil {
				f.Policy, f.Rule, f.Mode = current.name, currentRule, current.mode
				f.Message = fmt.Sprintf("policy %s rule %s could not be evaluated", current.name, currentRule)
			}
			f.Detail = fmt.Sprintf("panic: %v", r)
			res.Findings = append(res.Findings, f)
		}
	}()
	var resource any = doc
	payload := &bindings{name: "$payload", value: binding.NewBinding(resource)}
	for i := range k.policies {
		p := &k.policies[i]
		current = p
		pb := payload.Register("$policy", p.binding)
		for _, r := range p.rules {
			currentRule = r.name
			violations, matched, err := r.eval(resource, pb.Register("$rule", r.binding))
			if !matched {
				continue
			}
			if err != nil {
				res.Findings = append(res.Findings, Finding{
					Policy: p.name, Rule: r.name, Kind: Error, Mode: p.mode,
					Message: fmt.Sprintf("policy %s rule %s could not be evaluated", p.name, r.name),
					Detail:  describeError(err),
				})
				continue
			}
			for _, v := range violations {
				res.Findings = append(res.Findings, Finding{
					Policy: p.name, Rule: r.name, Kind: Violation, Mode: p.mode,
					Message: authorMessage(v.Message, p.name, r.name),
					Detail:  describeErrors(v.ErrorList),
				})
			}
		}
	}
	return res
}

// compileRule compiles a rule with kyverno-json's compile functions and
// composes them as its jsonengine.CompileRule does (context, match, exclude,
// assert), without building a response record for every rule evaluated, and
// with literal context variables bound once here rather than on every call.
func compileRule(path *field.Path, c compilers.Compilers, r v1alpha1.ValidatingRule) (ruleFunc, error) {
	if r.Compiler != nil {
		c = c.WithDefaultCompiler(string(*r.Compiler))
	}
	context, err := compileContext(path.Child("context"), c, r.Context)
	if err != nil {
		return nil, err
	}
	match, ferr := jsonengine.CompileMatch(path.Child("match"), c, r.Match)
	if ferr != nil {
		return nil, ferr
	}
	exclude, ferr := jsonengine.CompileMatch(path.Child("exclude"), c, r.Exclude)
	if ferr != nil {
		return nil, ferr
	}
	assert, ferr := jsonengine.CompileAssert(path.Child("assert"), c, r.Assert)
	if ferr != nil {
		return nil, ferr
	}
	return func(resource any, b binding.Bindings) (jsonengine.Results, bool, error) {
		b = context(resource, b)
		if match != nil {
			if errs, err := match(resource, b); err != nil {
				return nil, true, err
			} else if len(errs) != 0 {
				return nil, false, nil
			}
		}
		if exclude != nil {
			if errs, err := exclude(resource, b); err != nil {
				return nil, true, err
			} else if len(errs) == 0 {
				return nil, false, nil
			}
		}
		violations, err := assert(resource, b)
		return violations, true, err
	}, nil
}

// compileContext compiles a rule's context entries. An entry whose variable
// is an expression is evaluated lazily, at most once per evaluation, as
// kyverno-json does; any other value is a constant, bound once.
func compileContext(path *field.Path, c compilers.Compilers, entries []v1alpha1.ContextEntry) (func(any, binding.Bindings) binding.Bindings, error) {
	type entry struct {
		name     string
		constant binding.Binding
		eval     func(any, binding.Bindings) (any, error)
	}
	var compiled []entry
	for i, e := range entries {
		ec := c
		if e.Compiler != nil {
			ec = ec.WithDefaultCompiler(string(*e.Compiler))
		}
		vpath := path.Index(i).Child("variable")
		handler, ferr := e.Variable.Compile(vpath, ec)
		if ferr != nil {
			return nil, ferr
		}
		raw, err := plain(&e.Variable)
		if err != nil {
			return nil, err
		}
		if _, isString := raw.(string); !isString {
			v, err := handler(nil, nil)
			if err != nil {
				return nil, field.InternalError(vpath, err)
			}
			compiled = append(compiled, entry{name: "$" + e.Name, constant: binding.NewBinding(v)})
			continue
		}
		compiled = append(compiled, entry{name: "$" + e.Name, eval: func(resource any, b binding.Bindings) (any, error) {
			v, err := handler(resource, b)
			if err != nil {
				return nil, field.InternalError(vpath, err)
			}
			return v, nil
		}})
	}
	return func(resource any, b binding.Bindings) binding.Bindings {
		for _, e := range compiled {
			if e.constant != nil {
				b = b.Register(e.name, e.constant)
				continue
			}
			outer, eval := b, e.eval
			b = b.Register(e.name, binding.NewDelegate(sync.OnceValues(func() (any, error) { return eval(resource, outer) })))
		}
		return b
	}, nil
}

// authorMessage strips the "(CHECK=path)" suffix kyverno-json appends, leaving
// the policy author's words, or a generic message when there are none.
func authorMessage(msg, policy, rule string) string {
	if i := strings.LastIndex(msg, "(CHECK="); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if msg == "" {
		return fmt.Sprintf("denied by policy %s rule %s", policy, rule)
	}
	return msg
}

// describeErrors lists the failing paths and the kind of failure, without the
// values found there: those may be tool arguments, which are never logged.
func describeErrors(errs field.ErrorList) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.Field+": "+string(e.Type))
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

// defaultCompilers returns kyverno-json's compilers with JMESPath as the
// default and a regex_match that compiles each pattern once.
var defaultCompilers = sync.OnceValue(func() compilers.Compilers {
	funcs := jp.GetFunctions(context.Background())
	for i := range funcs {
		if funcs[i].Name == "regex_match" {
			funcs[i].Handler = regexMatch
		}
	}
	c := compilers.DefaultCompilers
	c.Jp = jpcompiler.NewCompiler(jpcompiler.WithFunctionCaller(interpreter.NewFunctionCaller(funcs...)))
	return c.WithDefaultCompiler(compilers.CompilerJP)
})

// maxCachedPatterns bounds the regex cache: patterns normally come from
// policies, but a policy may build one from input, and input is unbounded.
const maxCachedPatterns = 1024

var (
	regexCache   sync.Map // pattern -> *regexp.Regexp
	regexCount   int
	regexCountMu sync.Mutex
)

func compileCached(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	regexCountMu.Lock()
	if regexCount < maxCachedPatterns {
		if _, loaded := regexCache.LoadOrStore(pattern, re); !loaded {
			regexCount++
		}
	}
	regexCountMu.Unlock()
	return re, nil
}

// regexMatch is kyverno-json's regex_match(pattern, value) with a pattern
// cache. value may be a string, number or boolean.
func regexMatch(args []any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("regex_match: want 2 arguments, got %d", len(args))
	}
	pattern, ok := args[0].(string)
	if !ok {
		return nil, errors.New("regex_match: argument 1 must be a string")
	}
	var s string
	switch v := args[1].(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		s = strconv.Itoa(v)
	case bool:
		s = strconv.FormatBool(v)
	default:
		return nil, errors.New("regex_match: argument 2 must be a string or a number")
	}
	re, err := compileCached(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex_match: %w", err)
	}
	return re.MatchString(s), nil
}
