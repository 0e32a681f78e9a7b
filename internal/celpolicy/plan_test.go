package celpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/policy"
)

// planExprs are expressions of every construct plans know, and some
// they do not, beside those of the default bundle's CEL twin.
var planExprs = []string{
	`object.action == 'call'`,
	`'call' == object.action`,
	`object.action != 'call'`,
	`object.phase in ['request', 'response']`,
	`!(object.action == 'prompt' || object.action == 'list' && object.list.kind == 'prompt')`,
	`object.principal.authenticated`,
	`!object.principal.authenticated`,
	`object.principal.authenticated == false`,
	`object.principal.authenticated != true`,
	`'external-communication' in object.tool.labels`,
	`'cognito:groups' in object.principal.claims`,
	`'destructive' in object.session.labelCalls`,
	`object.tool.command.parsed && object.tool.command.dialect == 'aws'`,
	`object.environment == 'production' || object.tool.arguments.x == 'y'`,
	`object.tool.arguments.flag`,
	`object.tool.arguments.flag == true || object.tool.arguments.name in ['a', 'b']`,
	`'a' in object.tool.arguments.list && object.action == 'call'`,
	`has(object.tool.arguments.flag) || object.action == 'call'`,
	`has(object.tool.arguments) && !has(object.tool.arguments.x)`,
	`object.action == 'call' && object.tool.labels.exists(l, l == 'pii')`,
	`object.action == 'call' || object.tool.labels.exists(l, l == 'pii')`,
	`object.tool.labels.all(l, l != 'pii') && object.tool.labels.exists_one(l, l == 'x')`,
	`object.tool.labels.filter(l, l != 'x').size() < 2`,
	`object.tool.labels.map(l, l + '!').exists(l, l.endsWith('a!'))`,
	`object.principal.claims.exists(k, k.startsWith('cognito'))`,
	`true && object.action == 'call'`,
	`false || !(object.phase == 'request')`,
	`(object.action == 'call' ? object.phase : object.environment) == 'request'`,
	`object.tool.arguments.n > 2 && object.tool.arguments.n <= 5.5 || object.tool.arguments.n >= 10`,
	`object.tool.arguments.n < 3`,
	`size(object.tool.arguments) > 1 || object.tool.arguments.name.size() == 1`,
	`object.tool.arguments.name.contains('a') || object.tool.arguments.name.matches('^c')`,
	`{'a': 1, 'c': 3}[object.tool.arguments.name] == 1`,
	`[object.tool.arguments.name, object.tool.arguments.x][1] == 'y' && [1, 2][object.session.labelCalls.destructive] == 2`,
	`{object.tool.arguments.name: true}['a']`,
	`(object.principal.groups + object.principal.scopes).exists(g, wildcard('dev*', g))`,
	`cel.bind(g, object.principal.groups, g.size() > 0 && g[0] == 'developers')`,
	`object.tool.arguments.list.exists(x, x == 'a')`,
	`object.principal.claims['cognito:groups'].exists(g, g == 'sre')`,
	`object.tool.?arguments.?flag.orValue(false)`,
	`size(object.tool.labels) == 0 || size(object.principal.claims) > 1 || size(object.tool.arguments.name) == 1`,
	`object.principal.groups.exists(g, g in variables.grants && variables.grants[g].exists(p, wildcard(p, object.tool.arguments.name)))`,
	`(object.principal.groups + object.tool.labels).all(g, g != 'x')`,
	`(object.principal.groups + object.tool.arguments.list).exists(g, g == 'a')`,
	`object.principal.claims.all(k, k != 'sub') && object.tool.arguments.list.exists(k, k == 'a')`,
	`variables.grants[object.tool.arguments.name].size() > 0`,
	`object.tool.arguments.name in variables.grants || object.tool.arguments.n in {'a': 1}`,
	`{'a': 1, 'b': 2}[object.tool.arguments.name] > 1`,
	`object.tool.labels.exists(l, l == 'pii') == false`,
	`object.tool.labels.exists(object, object == 'pii') || object.tool.labels.all(variables, variables != 'x')`,
	`[1, 2, 3].exists(x, x == object.tool.arguments.n)`,
	`[object.tool.arguments.n].all(x, x < 3)`,
	`object.tool.labels.map(l, size(l)).exists(n, n > 3)`,
	`object.tool.arguments.x == null || object.principal.claims.sub == null`,
	`object.tool.arguments.n == 1 || object.tool.arguments.n == 1.0 || object.tool.arguments.n == 1u`,
	`object.tool.arguments.name < 'b' || object.tool.arguments.n >= 2u`,
	`object.tool.labels + ['x'] == ['x'] || object.tool.arguments.name + 'x' == 'ax'`,
	`variables.risky && object.action == 'call'`,
}

// plansOff is e with no plans: every expression runs in cel-go.
func plansOff(e *Engine) *Engine {
	out := &Engine{}
	for _, c := range e.policies {
		c.conditions = slices.Clone(c.conditions)
		c.variables = slices.Clone(c.variables)
		c.validations = slices.Clone(c.validations)
		for i := range c.conditions {
			c.conditions[i].plan = nil
		}
		for i := range c.variables {
			c.variables[i].plan = nil
		}
		for i := range c.validations {
			c.validations[i].check.plan = nil
			if m := c.validations[i].messageExpr; m != nil {
				off := *m
				off.plan = nil
				c.validations[i].messageExpr = &off
			}
		}
		out.policies = append(out.policies, c)
	}
	return out
}

// programs returns p's programs, in order.
func programs(c *compiled) []program {
	out := slices.Clone(c.conditions)
	for _, v := range c.variables {
		out = append(out, v.program)
	}
	for _, v := range c.validations {
		out = append(out, v.check)
		if v.messageExpr != nil {
			out = append(out, *v.messageExpr)
		}
	}
	return out
}

// planEngines compiles planExprs, each a policy with two variables, the
// default bundle's CEL twin and the policies of testdata, once; off is
// the same engine with every plan taken out.
var planEngines = sync.OnceValues(func() (*Engine, error) {
	var ps []*Policy
	for i, expr := range planExprs {
		p, err := Decode([]byte(policyText("[Deny]", `"`+expr+`"`,
			"  variables:", `  - {name: num, expression: "object.tool.arguments.n"}`,
			`  - {name: risky, expression: "variables.num > 3 || object.tool.risk == 'critical'"}`,
			`  - {name: grants, expression: "{'sre': ['k8s___*', 'docs___*'], 'developers': ['docs___*']}"}`)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", expr, err)
		}
		p.Metadata.Name = fmt.Sprintf("p%d", i)
		ps = append(ps, p)
	}
	twin, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bundles", "default-cel", "*.yaml"))
	own, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if len(twin) == 0 || len(own) == 0 {
		return nil, errors.New("no CEL twin of the default bundle, or no testdata")
	}
	for _, f := range append(twin, own...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			p, err := Decode([]byte(doc))
			if err != nil {
				// testdata holds policies that fail to decode on purpose.
				continue
			}
			ps = append(ps, p)
		}
	}
	return Compile(ps, policy.Declared{})
})

// samePlans checks every plan of on against cel-go on doc (off is on
// without plans), and the engine's findings with plans and without; it
// returns how many values plans computed and how many they left to CEL.
func samePlans(t testing.TB, on, off *Engine, doc map[string]any) (computed, silent int) {
	t.Helper()
	ctx := context.Background()
	actOn, actOff := on.activation(ctx, doc), newActivation(ctx, doc)
	defer on.release(actOn)
	for j := range on.policies {
		actOn.variables.bind(ctx, actOn, &on.policies[j])
		actOff.variables.bind(ctx, actOff, &off.policies[j])
		cel := programs(&off.policies[j])
		for k, p := range programs(&on.policies[j]) {
			got := actOn.run(p)
			if got == nil {
				silent++
				continue
			}
			computed++
			want, err := eval(ctx, cel[k], actOff)
			if err != nil || want.Type() != got.Type() || types.Equal(want, got) != types.True {
				t.Fatalf("%s %s on %v: the plan computes %v (%s), CEL %v (%v)", on.policies[j].name, p.name, doc, got, got.Type(), want, err)
			}
		}
	}
	if a, b := on.Evaluate(ctx, doc), off.Evaluate(ctx, doc); !slices.Equal(a.Findings, b.Findings) {
		t.Fatalf("on %v: findings with plans\n%+v\nwithout\n%+v", doc, a.Findings, b.Findings)
	}
	return computed, silent
}

// TestPlanIsCEL: the value a plan computes is CEL's, of the same type,
// on documents of every kind a caller can make: members missing, of other
// types, lists of mixed values. Where CEL fails, the plan must say
// nothing. And every finding of the engine is the same with plans as
// without.
func TestPlanIsCEL(t *testing.T) {
	on, err := planEngines()
	if err != nil {
		t.Fatal(err)
	}
	off := plansOff(on)
	rng := rand.New(rand.NewPCG(1, 2))
	computed, silent := 0, 0
	for i := range 3000 {
		doc := randomDocument(rng)
		if i%2 == 0 {
			// The document the interceptor builds has every member the
			// schema requires; a random one of the schema's types is
			// completed so.
			if full, err := attributes.Schema().Complete(doc, "document"); err == nil {
				doc = full
			}
		}
		c, s := samePlans(t, on, off, doc)
		computed, silent = computed+c, silent+s
	}
	t.Logf("plans computed %d values and left %d to CEL", computed, silent)
	if computed < 50000 || silent < 10000 {
		t.Errorf("plans computed %d values and left %d: too few of one to hold plans to CEL", computed, silent)
	}
}

// FuzzPlan holds plans to cel-go on documents the fuzzer writes.
func FuzzPlan(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, err := json.Marshal(randomDocument(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	on, err := planEngines()
	if err != nil {
		f.Fatal(err)
	}
	off := plansOff(on)
	f.Fuzz(func(t *testing.T, b []byte) {
		var doc map[string]any
		if json.Unmarshal(b, &doc) != nil || doc == nil {
			return
		}
		samePlans(t, on, off, doc)
	})
}

// randomDocument is a document whose members a formula reads are each
// absent, of their type or of another.
func randomDocument(rng *rand.Rand) map[string]any {
	pick := func(vs ...any) any { return vs[rng.IntN(len(vs))] }
	doc := map[string]any{}
	set := func(m map[string]any, k string, v any) {
		if v != nil {
			m[k] = v
		}
	}
	set(doc, "action", pick("call", "list", "prompt", "read", "other", 1.0, true, nil))
	set(doc, "phase", pick("request", "response", nil, false))
	set(doc, "environment", pick("production", "staging", nil, []any{"production"}))
	list := map[string]any{}
	set(list, "kind", pick("tool", "prompt", "resource", nil, 2.0))
	set(doc, "list", pick(list, list, nil, "tool"))
	principal := map[string]any{}
	set(principal, "authenticated", pick(true, false, "true", nil, 1.0))
	set(principal, "claims", pick(map[string]any{"cognito:groups": []any{"sre"}, "sub": "u"}, map[string]any{"sub": nil}, map[string]any{}, nil, []any{"cognito:groups"}))
	set(principal, "groups", pick([]any{"developers"}, []any{"sre", "developers"}, []any{}, nil, []any{1.0}, "sre"))
	set(principal, "scopes", pick([]any{"openid"}, []any{}, nil))
	set(doc, "principal", pick(principal, principal, nil))
	tool := map[string]any{}
	set(tool, "labels", pick([]any{}, []any{"external-communication"}, []any{"x", 1.0, map[string]any{"a": 1.0}, []any{"pii"}}, []any{"pii", "external-communication"}, "external-communication", nil))
	command := map[string]any{}
	set(command, "dialect", pick("aws", "none", nil, 3.0))
	set(command, "parsed", pick(true, false, nil, "yes"))
	set(tool, "command", pick(command, command, nil))
	set(tool, "risk", pick("low", "critical", nil))
	args := map[string]any{}
	set(args, "flag", pick(true, false, "true", nil, []any{true}))
	set(args, "name", pick("a", "c", nil, 1.0))
	set(args, "list", pick([]any{"a"}, []any{1.0, "b"}, map[string]any{"a": true}, "a", nil))
	set(args, "x", pick("y", "z", nil))
	set(args, "n", pick(1.0, 2.5, 3.0, 10.0, -1.0, "3", nil, true))
	set(tool, "arguments", pick(args, args, nil, "args"))
	set(doc, "tool", pick(tool, tool, tool, nil))
	session := map[string]any{}
	set(session, "labels", pick([]any{"private-data", "untrusted-content"}, []any{}, nil))
	set(session, "labelCalls", pick(map[string]any{"destructive": 4.0}, map[string]any{}, nil, []any{"destructive"}))
	set(doc, "session", pick(session, nil))
	return doc
}

// TestPlansOnHardShapes: the shapes a review found plans computing other
// than cel-go, each held to cel-go now on the documents that showed it.
func TestPlansOnHardShapes(t *testing.T) {
	args := func(members map[string]any) map[string]any {
		return map[string]any{"action": "list", "tool": map[string]any{"labels": []any{}, "arguments": members}}
	}
	for _, tc := range []struct {
		name, check string
		conditions  []string
		variables   []string // name, expression
		docs        []map[string]any
	}{
		// Kyverno's matching: a false condition skips the policy though
		// another cannot be evaluated, and which one a plan computes
		// changes nothing.
		{name: "a false condition beside one that fails", check: "false",
			conditions: []string{"object.tool.arguments.n > 3", "object.action == 'call'"},
			docs:       []map[string]any{args(map[string]any{}), args(map[string]any{"n": 5.0})}},
		// cel-go binds an empty list as a list that grows when added to:
		// plans leave such loops to cel-go.
		{name: "a list bound empty, then added to",
			check: "cel.bind(g, object.tool.arguments.paths, (g + ['/tmp/x']).all(p, p.startsWith('/tmp/')) && !('/tmp/x' in g))",
			docs: []map[string]any{args(map[string]any{"paths": []any{}}), args(map[string]any{"paths": []any{"/tmp/a"}}),
				args(map[string]any{"paths": []any{"/etc/passwd"}})}},
		{name: "a list bound empty, added to where || does not look",
			check: "cel.bind(g, object.tool.labels, dyn(g + ['a']).size() > 5 || size(g) == 0)",
			docs:  []map[string]any{args(nil)}},
		{name: "a list bound empty, added to in a loop's range",
			check: "cel.bind(g, object.tool.labels, {'k': g + ['a']}.all(k, true) && size(g) != 1)",
			docs:  []map[string]any{args(nil)}},
		{name: "an accumulator added to by name",
			check: "size(object.tool.arguments.l.map(x, (__result__ + [true]).exists(y, y))) == 2",
			docs:  []map[string]any{args(map[string]any{"l": []any{1.0, 2.0}})}},
		// A loop variable named as exists' accumulator shadows it.
		{name: "a loop variable named __result__",
			check: "object.tool.arguments.confirmed.exists(__result__, __result__ == true)",
			docs:  []map[string]any{args(map[string]any{"confirmed": []any{true}}), args(map[string]any{"confirmed": []any{false}})}},
		// A constant that holds cel-go's growing list is no constant.
		{name: "a constant variable holding a growing list", check: "size(variables.v + [object.action]) == 1",
			variables: []string{"v", "cel.bind(g, [], [g])[0]"},
			docs:      []map[string]any{args(nil), args(nil), args(nil)}},
		{name: "a constant variable folded with a growing list", check: "size(variables.v + ['x']) == 1",
			variables: []string{"v", "cel.bind(g, [], [g])[0]"}, docs: []map[string]any{args(nil), args(nil)}},
		// A constant is cel-go's value, not its plan's.
		{name: "a constant cel-go computes", check: "variables.v",
			variables: []string{"v", "[true].exists(__result__, true)"}, docs: []map[string]any{args(nil)}},
		{name: "a constant holding a growing list in an optional", check: "size(variables.v.value() + ['x']) == 1",
			variables: []string{"v", "cel.bind(g, [], optional.of(g))"}, docs: []map[string]any{args(nil), args(nil), args(nil)}},
		// A plan never makes cel-go compute a variable cel-go would not
		// have computed (its || stops at a true left side).
		{name: "a variable cel-go would not compute", check: "size(variables.v[0]) == 0 || variables.w == 5",
			variables: []string{"v", "cel.bind(g, [], [g])", "w", "size(variables.v[0] + ['x'])"}, docs: []map[string]any{args(nil)}},
		{name: "a variable computed in cel-go's order", check: "variables.t || variables.w == 1",
			variables: []string{"v", "cel.bind(g, [], [g])", "t", "size(variables.v) == 1", "w", "size(variables.v[0] + ['x'])"},
			docs:      []map[string]any{args(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []string
			if len(tc.conditions) > 0 {
				extra = append(extra, "  matchConditions:")
				for i, c := range tc.conditions {
					extra = append(extra, fmt.Sprintf("  - {name: c%d, expression: %q}", i, c))
				}
			}
			if len(tc.variables) > 0 {
				extra = append(extra, "  variables:")
				for i := 0; i < len(tc.variables); i += 2 {
					extra = append(extra, fmt.Sprintf("  - {name: %s, expression: %q}", tc.variables[i], tc.variables[i+1]))
				}
			}
			on := compileText(t, policyText("[Deny]", fmt.Sprintf("%q", tc.check), extra...))
			off := plansOff(on)
			for _, doc := range tc.docs {
				samePlans(t, on, off, doc)
			}
		})
	}
}

// TestNestedLoopsStopAtTheDeadline: once the context is done, a plan's
// loops stop at their next step, outer ones too, and the expression is
// not run again in cel-go: about interruptEvery steps in all, where each
// inner loop's end was taken for an element's and the outer loops ran on.
func TestNestedLoopsStopAtTheDeadline(t *testing.T) {
	l := make([]any, 300)
	for i := range l {
		l[i] = fmt.Sprint(i)
	}
	p, err := Decode([]byte(policyText("[Deny]",
		`"object.tool.arguments.l.all(a, object.tool.arguments.l.all(b, object.tool.arguments.l.exists_one(c, c == a || c == b) || a != b))"`)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	act := e.activation(ctx, map[string]any{"tool": map[string]any{"arguments": map[string]any{"l": l}}})
	defer e.release(act)
	act.variables.bind(ctx, act, &e.policies[0])
	v, err := eval(ctx, e.policies[0].validations[0].check, act)
	if err == nil || describe(err) != "operation interrupted" || v != nil {
		t.Errorf("got %v (%v), want the loop interrupted", v, err)
	}
	if act.steps > interruptEvery {
		t.Errorf("%d steps after the context was done, want at most %d", act.steps, interruptEvery)
	}
}

// TestPlanPanicInAVariable: a variable's plan that panics, read by an
// expression cel-go runs, is computed by cel-go: the decision is the one
// made without plans.
func TestPlanPanicInAVariable(t *testing.T) {
	p, err := Decode([]byte(policyText("[Deny]", `"variables.name.lowerAscii() == 'a'"`,
		"  variables:", "  - {name: name, expression: object.tool.name}")))
	if err != nil {
		t.Fatal(err)
	}
	on, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	off := plansOff(on)
	on.policies[0].variables[0].plan = func(*activation, int) ref.Val { panic("a plan's mistake") }
	doc := map[string]any{"tool": map[string]any{"name": "A"}}
	ctx := context.Background()
	if a, b := on.Evaluate(ctx, doc), off.Evaluate(ctx, doc); a.Denied() || !slices.Equal(a.Findings, b.Findings) {
		t.Errorf("with the panicking plan %+v, without plans %+v", a.Findings, b.Findings)
	}
}

// TestConstantsAreBounded: a constant is looked at for at most
// maxConstantValues values, so that one list shared at every level of a
// deep one (8^9 leaves, built in microseconds) is no constant, rather
// than a load that walks it for minutes; and a match condition's plan
// runs once a decision, not again before cel-go.
func TestConstantsAreBounded(t *testing.T) {
	adapter := types.DefaultTypeAdapter
	var v ref.Val = types.NewStringList(adapter, []string{"a"})
	for range 9 {
		v = types.NewRefValList(adapter, []ref.Val{v, v, v, v, v, v, v, v})
	}
	budget := maxConstantValues
	if immutable(v, &budget) {
		t.Error("a list of 8^9 leaves is taken for a constant")
	}
	budget = maxConstantValues
	if !immutable(types.NewStringList(adapter, []string{"a", "b"}), &budget) {
		t.Error("a list of two strings is not taken for a constant")
	}

	p, err := Decode([]byte(policyText("[Deny]", `"true"`, "  matchConditions:",
		`  - {name: all-a, expression: "object.tool.arguments.l.all(x, x.startsWith('a'))"}`)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile([]*Policy{p}, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	l := make([]any, 1000)
	for i := range l {
		l[i] = "a"
	}
	l[len(l)-1] = 1.0 // the plan says nothing on it; cel-go decides
	ctx := context.Background()
	act := e.activation(ctx, map[string]any{"tool": map[string]any{"arguments": map[string]any{"l": l}}})
	defer e.release(act)
	e.policies[0].evaluate(ctx, act, &policy.Result{}, nil, false)
	if act.steps > len(l) {
		t.Errorf("the condition's plan ran %d steps over %d elements: more than once", act.steps, len(l))
	}
}
