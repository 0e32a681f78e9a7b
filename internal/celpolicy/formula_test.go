package celpolicy

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/policy"
)

// formulaExprs are boolean expressions whose tops formulas read, beside
// those of the default bundle's CEL twin.
var formulaExprs = []string{
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
	`object.action == 'call' && object.tool.labels.exists(l, l == 'pii')`,
	`object.action == 'call' || object.tool.labels.exists(l, l == 'pii')`,
	`true && object.action == 'call'`,
	`false || !(object.phase == 'request')`,
	`(object.action == 'call' ? object.phase : object.environment) == 'request'`,
}

// TestFormulaIsCEL: what a formula decides is what CEL computes, on
// documents of every kind a caller can make: members missing, of other
// types, lists of mixed values. Where CEL fails, the formula must not
// decide.
func TestFormulaIsCEL(t *testing.T) {
	var ps []*Policy
	for _, expr := range formulaExprs {
		p, err := Decode([]byte(policyText("[Deny]", `"`+expr+`"`)))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		p.Metadata.Name = "p" + string(rune('a'+len(ps)))
		ps = append(ps, p)
	}
	twin, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bundles", "default-cel", "*.yaml"))
	if len(twin) == 0 {
		t.Fatal("no CEL twin of the default bundle")
	}
	for _, f := range twin {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			p, err := Decode([]byte(doc))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			ps = append(ps, p)
		}
	}
	e, err := Compile(ps, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	var programs []program
	for _, c := range e.policies {
		programs = append(programs, c.conditions...)
		for _, v := range c.validations {
			programs = append(programs, v.check)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	decided := map[tri]int{}
	for i := range 4000 {
		doc := randomDocument(rng)
		if i%2 == 0 {
			// The document the interceptor builds has every member the
			// schema requires; a random one of the schema's types is
			// completed so.
			if full, err := attributes.Schema().Complete(doc, "document"); err == nil {
				doc = full
			}
		}
		act := newActivation(doc)
		for _, p := range programs {
			if p.decides == nil {
				continue
			}
			got := p.decides.eval(doc)
			decided[got]++
			if got == unknown {
				continue
			}
			act.variables.bind(context.Background(), act, &compiled{})
			raw := p
			raw.decides = nil
			want, err := eval(context.Background(), raw, act)
			if err != nil || (want != types.True && want != types.False) {
				t.Fatalf("%s on %v: the formula says %v, CEL %v (%v)", p.name, doc, got, want, err)
			}
			if (got == yes) != (want == types.True) {
				t.Fatalf("%s on %v: the formula says %v, CEL %v", p.name, doc, got, want)
			}
		}
	}
	t.Logf("decided %d yes, %d no; %d left to CEL", decided[yes], decided[no], decided[unknown])
	if decided[yes] < 1000 || decided[no] < 1000 || decided[unknown] < 1000 {
		t.Errorf("decided %v: too few of a kind to hold the formulas to CEL", decided)
	}
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
	set(principal, "claims", pick(map[string]any{"cognito:groups": []any{"sre"}}, map[string]any{}, nil, []any{"cognito:groups"}))
	set(principal, "groups", pick([]any{"developers"}, []any{}, nil))
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
	set(tool, "arguments", pick(args, args, nil, "args"))
	set(doc, "tool", pick(tool, tool, tool, nil))
	session := map[string]any{}
	set(session, "labels", pick([]any{"private-data", "untrusted-content"}, []any{}, nil))
	set(session, "labelCalls", pick(map[string]any{"destructive": 4.0}, map[string]any{}, nil, []any{"destructive"}))
	set(doc, "session", pick(session, nil))
	return doc
}
