package policy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/policy"
)

const header = "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\n"

func TestDecodePolicyRejects(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"misspelt field", header + "metadata: {name: p}\nspec:\n  rules:\n  - name: r\n    asert: {all: [{check: {a: 1}}]}\n", "unknown field"},
		{"duplicate key", header + "metadata: {name: p}\nspec:\n  rules:\n  - name: r\n    name: s\n    assert: {all: [{check: {a: 1}}]}\n", "already set"},
		{"wrong kind", "apiVersion: json.kyverno.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "apiVersion/kind"},
		{"wrong version", "apiVersion: json.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "apiVersion/kind"},
		{"no name", header + "spec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "metadata.name"},
		{"no rules", header + "metadata: {name: p}\nspec: {rules: []}\n", "spec.rules is empty"},
		{"unnamed rule", header + "metadata: {name: p}\nspec: {rules: [{assert: {all: [{check: {a: 1}}]}}]}\n", "name is required"},
		{"duplicate rule", header + "metadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}, {name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "duplicate rule"},
		{"bad mode", header + "metadata: {name: p, annotations: {policies.toolgate.dev/mode: warn}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "neither enforce nor audit"},
		{"bad effect", header + "metadata: {name: p, annotations: {policies.toolgate.dev/effect: ask}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "neither deny nor approval"},
		{"approvers without approval", header + "metadata: {name: p, annotations: {policies.toolgate.dev/approvers: ops}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "need policies.toolgate.dev/effect"},
		{"caller and groups", header + "metadata: {name: p, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/approvers: 'caller,ops'}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "cannot be combined"},
		{"empty approver", header + "metadata: {name: p, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/approvers: 'ops,'}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "empty approver"},
		{"ttl too long", header + "metadata: {name: p, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/approval-ttl: 48h}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "between 1m and 24h"},
		{"ttl not a duration", header + "metadata: {name: p, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/approval-ttl: soon}}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n", "between 1m and 24h"},
		{"feedback", header + "metadata: {name: p}\nspec: {rules: [{name: r, feedback: [{name: f, value: 1}], assert: {all: [{check: {a: 1}}]}}]}\n", "not supported"},
		{"not yaml", "{{{", "yaml"},
		{"two documents", header + "metadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {a: 1}}]}}]}\n---\n" + header, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.DecodePolicy([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.want)) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestCompileRejectsBadExpressions(t *testing.T) {
	p, err := policy.DecodePolicy([]byte(header + "metadata: {name: p}\nspec:\n  rules:\n  - name: r\n    assert:\n      all:\n      - check:\n          (foo[): 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p}); err == nil || !strings.Contains(err.Error(), "policy p rule r") {
		t.Errorf("error %v, want one naming the policy and rule", err)
	}
	if _, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p, p}); err == nil {
		t.Error("duplicate policy names accepted")
	}
}

func compile(t *testing.T, docs ...string) policy.Engine {
	t.Helper()
	var ps []*v1alpha1.ValidatingPolicy
	for _, d := range docs {
		p, err := policy.DecodePolicy([]byte(header + d))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	e, err := policy.Compile(ps)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func findings(r policy.Result) string {
	var parts []string
	for _, f := range r.Findings {
		parts = append(parts, fmt.Sprintf("%s/%s:%s:%s:%s", f.Policy, f.Rule, f.Kind, f.Mode, f.Message))
	}
	return strings.Join(parts, " | ")
}

func TestEvaluate(t *testing.T) {
	limit := `metadata: {name: limit}
spec:
  rules:
  - name: small
    match: {all: [{action: call}]}
    assert:
      all:
      - message: "too many: {{ tool.name }}"
        check:
          tool:
            arguments:
              (count <= ` + "`10`" + `): true
`
	typed := `metadata: {name: typed}
spec:
  rules:
  - name: upper
    assert:
      all:
      - check:
          (to_upper(tool.name) == 'X'): true
`
	audit := `metadata: {name: watch, annotations: {policies.toolgate.dev/mode: audit}}
spec:
  rules:
  - name: no-x
    assert:
      all:
      - message: x seen
        check: {tool: {name: z}}
`
	integers := `metadata: {name: integers}
spec:
  rules:
  - name: max
    context:
    - {name: ranks, variable: {low: 1, high: 3}}
    assert:
      all:
      - message: integer literals compare with document numbers
        check:
          (max([lookup($ranks, 'low'), tool.arguments.count]) == tool.arguments.count): true
`
	regex := `metadata: {name: regex}
spec:
  rules:
  - name: id-format
    assert:
      all:
      - message: bad id
        check:
          (regex_match('^[a-z]+-[0-9]+$', tool.arguments.id)): true
`
	// self reads $rule and $policy, which are bound only for the
	// policies and rules that mention them: a missing one would err.
	self := `metadata: {name: self}
spec:
  rules:
  - name: named
    match: {all: [{action: other}]}
    assert:
      all:
      - check:
          ($rule.name == 'named' && $policy.name == 'self'): true
`
	e := compile(t, limit, typed, audit, integers, regex, self)
	tests := []struct {
		name string
		doc  map[string]any
		want string
	}{
		{"all pass but audit", map[string]any{"action": "call", "tool": map[string]any{"name": "x", "arguments": map[string]any{"count": 3.0, "id": "pod-1"}}},
			"watch/no-x:violation:audit:x seen"},
		{"violation with message", map[string]any{"action": "call", "tool": map[string]any{"name": "x", "arguments": map[string]any{"count": 11.0, "id": "pod-1"}}},
			"limit/small:violation:enforce:too many: x | watch/no-x:violation:audit:x seen"},
		{"match skips", map[string]any{"action": "other", "tool": map[string]any{"name": "z", "arguments": map[string]any{"count": 11.0, "id": "pod-1"}}},
			"typed/upper:violation:enforce:denied by policy typed rule upper"},
		{"regex", map[string]any{"action": "other", "tool": map[string]any{"name": "x", "arguments": map[string]any{"count": 1.0, "id": "POD"}}},
			"watch/no-x:violation:audit:x seen | regex/id-format:violation:enforce:bad id"},
		{"evaluation error fails closed", map[string]any{"action": "other", "tool": map[string]any{"name": 42.0, "arguments": map[string]any{"count": "many", "id": 7.0}}},
			"typed/upper:error:enforce:policy typed rule upper could not be evaluated | watch/no-x:error:audit:policy watch rule no-x could not be evaluated | integers/max:error:enforce:policy integers rule max could not be evaluated | regex/id-format:violation:enforce:bad id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findings(e.Evaluate(context.Background(), tt.doc)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	audit := policy.Finding{Policy: "a", Kind: policy.Violation, Mode: policy.ModeAudit}
	enforce := policy.Finding{Policy: "e", Kind: policy.Error, Mode: policy.ModeEnforce}
	if (policy.Result{Findings: []policy.Finding{audit}}).Denied() {
		t.Error("an audit finding denied")
	}
	r := policy.Result{Findings: []policy.Finding{audit, enforce}}
	if !r.Denied() || len(r.Enforced()) != 1 || len(r.Audited()) != 1 {
		t.Errorf("%+v", r)
	}
}

func TestBroken(t *testing.T) {
	r := policy.Broken(errors.New("load bundle x: no such file")).Evaluate(context.Background(), nil)
	if !r.Denied() || !strings.Contains(r.Findings[0].Detail, "no such file") {
		t.Errorf("%+v", r)
	}
}

func TestReadersOf(t *testing.T) {
	for _, tt := range []struct {
		check               string
		session, definition bool
	}{
		{`{session: {calls: 3}}`, true, false},
		{`{"(contains(session.labels, 'private-data'))": false}`, true, false},
		{`{(session.calls < ` + "`3`" + `): true}`, true, false},
		{`{mcp: {sessionId: s-1}}`, false, false},
		{`{(mcp.sessionId == 'x'): false}`, false, false},
		{`{($session == 'x'): false}`, false, false},
		{`{tool: {name: sessions}}`, false, false},
		{`{tool: {definition: {status: pinned}}}`, false, true},
		{`{(tool.definition.status == 'changed'): false}`, false, true},
		{`{($definition == 'x'): false}`, false, false},
		{`{tool: {name: redefinition}}`, false, false},
		{`{tool: {name: definitions}}`, false, false},
	} {
		p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: " + tt.check + "}]}}]}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.check, err)
		}
		mode := func(reads bool, m policy.Mode) policy.Mode {
			if reads {
				return m
			}
			return ""
		}
		want := policy.Readers{Sessions: mode(tt.session, policy.ModeEnforce), Definitions: mode(tt.definition, policy.ModeEnforce)}
		if tt.definition {
			want.DefinitionPolicies = []string{"p"}
		}
		if got := policy.ReadersOf([]*v1alpha1.ValidatingPolicy{p}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", tt.check, got, want)
		}
		p.Annotations = map[string]string{policy.ModeAnnotation: "audit"}
		want.Sessions, want.Definitions = mode(tt.session, policy.ModeAudit), mode(tt.definition, policy.ModeAudit)
		if got := policy.ReadersOf([]*v1alpha1.ValidatingPolicy{p}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s, audit only: %+v, want %+v", tt.check, got, want)
		}
	}
}

func TestApprovalPolicies(t *testing.T) {
	e := compile(t,
		"metadata: {name: deletes, annotations: {policies.toolgate.dev/effect: approval}}\nspec: {rules: [{name: r, assert: {all: [{message: deleting needs approval, check: {(op != 'delete'): true}}]}}]}\n",
		"metadata: {name: prod, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/approvers: 'ops, sre', policies.toolgate.dev/approval-ttl: 5m}}\nspec: {rules: [{name: r, assert: {all: [{check: {(env != 'prod'): true}}]}}]}\n",
		"metadata: {name: shadow, annotations: {policies.toolgate.dev/effect: approval, policies.toolgate.dev/mode: audit}}\nspec: {rules: [{name: r, assert: {all: [{check: {(op != 'delete'): true}}]}}]}\n",
		"metadata: {name: broken, annotations: {policies.toolgate.dev/effect: approval}}\nspec: {rules: [{name: r, assert: {all: [{check: {(max(list)): 1}}]}}]}\n",
	)
	tests := []struct {
		name string
		doc  map[string]any
		want string // approvals | enforced | audited
	}{
		{"nothing to approve", map[string]any{"op": "get", "env": "dev", "list": []any{1.0}}, "|" + "|"},
		{"caller approves", map[string]any{"op": "delete", "env": "dev", "list": []any{1.0}}, "deletes:deleting needs approval:[caller]/900||shadow"},
		{"groups approve", map[string]any{"op": "get", "env": "prod", "list": []any{1.0}}, "prod:policy prod rule r needs approval:[ops sre]/300||"},
		{"an approval policy that fails denies", map[string]any{"op": "get", "env": "dev", "list": "x"}, "|broken|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Evaluate(context.Background(), tt.doc)
			var approvals, enforced, audited []string
			for _, f := range r.Approvals() {
				approvals = append(approvals, fmt.Sprintf("%s:%s:%v/%d", f.Policy, f.Message, f.Approval.Approvers, f.Approval.TTLSeconds))
			}
			for _, f := range r.Enforced() {
				enforced = append(enforced, f.Policy)
			}
			for _, f := range r.Audited() {
				audited = append(audited, f.Policy)
			}
			got := strings.Join(approvals, ",") + "|" + strings.Join(enforced, ",") + "|" + strings.Join(audited, ",")
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if r.Denied() != (len(enforced) > 0) {
				t.Errorf("Denied() = %v with enforced %v: approvals must not deny", r.Denied(), enforced)
			}
			// A list's verdict is Evaluate's: an approval policy that
			// fails hides the item too.
			if allows := e.AllowsEach(context.Background())(tt.doc); allows == r.Denied() {
				t.Errorf("AllowsEach = %v, Evaluate denied %v", allows, r.Denied())
			}
		})
	}
	// A list answer shows a tool that needs approval: it can be called.
	if !e.AllowsEach(context.Background())(map[string]any{"op": "delete", "env": "prod", "list": []any{1.0}}) {
		t.Error("AllowsEach hides a tool that only needs approval")
	}
}

// TestMapMatchDeterministic: a check whose expected value is an object
// computed by an expression matched its keys in Go's random map order in
// kyverno-json, stopping at the first mismatch, so a key that errs decided
// some calls and not others. Every key is matched now, and the error wins.
func TestMapMatchDeterministic(t *testing.T) {
	e := compile(t, `metadata: {name: p}
spec:
  rules:
  - name: r
    match:
      any:
      - tool: "(`+"`"+`{\"risk\": \"low\", \"arguments\": {\"path\": \"/tmp\"}}`+"`"+`)"
    assert:
      all:
      - check: {tool: {name: never}}
`)
	// risk mismatches; arguments is not an object: an error.
	doc := map[string]any{"action": "call", "tool": map[string]any{"name": "x", "risk": "high", "arguments": "not-an-object"}}
	for range 200 {
		if got := findings(e.Evaluate(context.Background(), doc)); got != "p/r:error:enforce:policy p rule r could not be evaluated" {
			t.Fatalf("got %q", got)
		}
	}
}

// TestPanicIsTheRuleAlone: a rule that panics on the data (kyverno-json's
// at() indexes without a bounds check) is an error of that rule, in its
// policy's mode, and every other rule still runs. Caught for the whole
// evaluation, a panic in an audit-only policy switched off the enforcing
// policies after it (found by an attack round).
func TestPanicIsTheRuleAlone(t *testing.T) {
	panics := func(name, mode string) string {
		return "metadata: {name: " + name + ", annotations: {policies.toolgate.dev/mode: " + mode + "}}\n" +
			"spec: {rules: [{name: r, assert: {all: [{check: {\"(at(split(name, '#'), `1`) != 'x')\": true}}]}}]}\n"
	}
	denyEvil := "metadata: {name: z-deny-evil}\nspec: {rules: [{name: r, assert: {all: [{check: {(name != 'evil'): true}}]}}]}\n"
	for _, tt := range []struct {
		name   string
		docs   []string
		doc    string
		denied bool
		want   string // policy:kind:mode of each finding
	}{
		{"audit panic, enforcing denial after it", []string{panics("a-audit", "audit"), denyEvil}, "evil", true, "a-audit:error:audit z-deny-evil:violation:enforce"},
		{"audit panic alone", []string{panics("a-audit", "audit"), denyEvil}, "good", false, "a-audit:error:audit"},
		{"enforcing panic", []string{panics("a-enforce", "enforce"), denyEvil}, "good", true, "a-enforce:error:enforce"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := compile(t, tt.docs...)
			doc := map[string]any{"name": tt.doc}
			r := e.Evaluate(context.Background(), doc)
			var got []string
			for _, f := range r.Findings {
				got = append(got, fmt.Sprintf("%s:%s:%s", f.Policy, f.Kind, f.Mode))
				if f.Kind == policy.Error && !strings.HasPrefix(f.Detail, "panic: ") {
					t.Errorf("detail %q, want the panic", f.Detail)
				}
			}
			if strings.Join(got, " ") != tt.want || r.Denied() != tt.denied {
				t.Errorf("findings %v denied %v, want %s denied %v", got, r.Denied(), tt.want, tt.denied)
			}
			if allows := e.AllowsEach(context.Background())(doc); allows == r.Denied() {
				t.Errorf("AllowsEach %v, Evaluate denied %v", allows, r.Denied())
			}
		})
	}
}
