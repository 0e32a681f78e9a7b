package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/policy"
)

// TestPaths: every path a rule reads is checked against the attribute
// document's schema: a member the document cannot have is an error that
// names the nearest valid names; a claim is a warning unless the bundle
// declares its claims; what the checker cannot follow is not an error.
func TestPaths(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rule   string
		claims []string
		want   []string // one substring per problem, "warning: " first for a warning; none for a clean rule
		at     string   // where the first problem is
	}{
		{"clean", `{name: r, match: {all: [{action: call, environment: production, tool: {risk: high}}]}, assert: {all: [{check: {"(contains(principal.groups, 'sre'))": true}}]}}`, nil, nil, ""},
		{"misspelt match key", `{name: r, match: {all: [{enviroment: production}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"`enviroment` is not a member of the document (did you mean `environment`?)"}, "[spec rules 0 match all 0 enviroment]"},
		{"case of a nested key", `{name: r, match: {all: [{tool: {qualifiedname: x}}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"`qualifiedname` is not a member of tool (did you mean `qualifiedName`?)"}, "[spec rules 0 match all 0 tool qualifiedname]"},
		{"a claim at the top", `{name: r, assert: {all: [{check: {(department == 'contractors'): false}}]}}`, nil,
			[]string{"`department` is not a member of the document (did you mean `principal.claims.department`, a claim of the token?)"}, "[spec rules 0 assert all 0 check (department == 'contractors')]"},
		{"a member elsewhere", `{name: r, assert: {all: [{check: {"(contains(groups, 'sre'))": true}}]}}`, nil,
			[]string{"did you mean `principal.groups`?"}, ""},
		{"inside a function and a comparison", `{name: r, assert: {all: [{check: {(length(tool.argument) > ` + "`2`" + `): false}}]}}`, nil,
			[]string{"`argument` is not a member of tool (did you mean `arguments`?)"}, ""},
		{"a member of a list", `{name: r, assert: {all: [{check: {(tool.labels.destructive): null}}]}}`, nil,
			[]string{"tool.labels is a list: it has no member `destructive`"}, ""},
		{"arguments are open", `{name: r, assert: {all: [{check: {tool: {arguments: {anything: {at: {all: 1}}}}, (tool.arguments.x.y): null}}]}}`, nil, nil, ""},
		{"headers and label counts are open", `{name: r, assert: {all: [{check: {(request.headers."x-env"): null, (session.labelCalls.destructive || ` + "`0`" + ` < ` + "`3`" + `): true}}]}}`, nil, nil, ""},
		{"a context variable", `{name: r, context: [{name: t, variable: (tool)}], assert: {all: [{check: {($t.qualifiedname): x}}]}}`, nil,
			[]string{"`qualifiedname` is not a member of tool"}, "[spec rules 0 assert all 0 check ($t.qualifiedname)]"},
		{"a context variable's expression", `{name: r, context: [{name: t, variable: (tool.nme)}], assert: {all: [{check: {($t): x}}]}}`, nil,
			[]string{"`nme` is not a member of tool (did you mean `name`?)"}, "[spec rules 0 context 0 variable]"},
		{"a binding with spaces is a member name", `{name: r, assert: {all: [{check: {(tool) -> t: {name: x}}}]}}`, nil, []string{"`(tool) ` is not a member of the document"}, ""},
		{"a binding", `{name: r, assert: {all: [{check: {(tool)->t: {(name): x, ($t.nam): x}}}]}}`, nil, []string{"`nam` is not a member of tool"}, ""},
		{"a binding a sibling reads", `{name: r, assert: {all: [{check: {(tool)->t: {name: x}, ($t.name): x}}]}}`, nil,
			[]string{"reads $t, which its sibling `(tool)->t` binds: kyverno-json evaluates a map's keys in random order"}, "[spec rules 0 assert all 0 check ($t.name)]"},
		{"siblings that bind the same name", `{name: r, assert: {all: [{check: {(principal.groups)->v: {"(contains($v, 'sre'))": true}, (principal.scopes)->v: {"(contains($v, 'read'))": true}}}]}}`, nil, nil, ""},
		{"a string that is not an expression", `{name: r, assert: {all: [{check: {(tool)->t: {name: x}, tool: {name: "$t"}}}]}}`, nil, nil, ""},
		{"a misspelt value", `{name: r, match: {all: [{action: call, tool: {risk: crtical}}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"tool.risk is compared with \"crtical\", which it never holds: it is one of low, medium, high, critical (did you mean `critical`?)"}, "[spec rules 0 match all 0 tool risk]"},
		{"a misspelt value in an expression", `{name: r, assert: {all: [{check: {"(tool.operation == 'delet')": false}}]}}`, nil,
			[]string{"tool.operation is compared with \"delet\", which it never holds"}, ""},
		{"a misspelt phase in a check", `{name: r, assert: {all: [{check: {phase: respons}}]}}`, nil, []string{"phase is compared with \"respons\""}, ""},
		{"an environment in an expression", `{name: r, assert: {all: [{check: {"(environment == 'prodution')": true}}]}}`, nil, nil, ""},
		{"root is null", `{name: r, match: {all: [{action: call, ($.tool.risk): critical}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"`$` is always null here"}, ""},
		{"an undefined variable", `{name: r, assert: {all: [{check: {(tool)->t: {($tt.risk == 'critical'): false}}}]}}`, nil,
			[]string{"$tt is not defined here"}, ""},
		{"a loop index", `{name: r, assert: {all: [{check: {~i.(tool.labels): {($i): 0}}}]}}`, nil, nil, ""},
		{"$policy and $rule", `{name: r, assert: {all: [{check: {($rule.name): r, ($policy.name): p}}]}}`, nil, nil, ""},
		{"a binding a sibling's subtree reads", `{name: r, assert: {all: [{check: {(tool)->t: {name: x}, principal: {(id == $t.name): false}}}]}}`, nil,
			[]string{"reads $t, which its sibling"}, ""},
		{"each element", `{name: r, assert: {all: [{check: {"~.(tool.labels)": {"(@ == 'x')": false}, "(principal.groups[?@ == 'x'].nme)": null}}]}}`, nil,
			[]string{"an element of principal.groups is a string: it has no member `nme`"}, ""},
		{"a projection", `{name: r, assert: {all: [{check: {"(session.tools[*].name)": null}}]}}`, nil, []string{"is a string: it has no member `name`"}, ""},
		{"a message template", `{name: r, assert: {all: [{message: "{{ tool.nam }} is denied", check: {action: call}}]}}`, nil,
			[]string{"`nam` is not a member of tool"}, "[spec rules 0 assert all 0 message]"},
		{"payload", `{name: r, assert: {all: [{check: {($payload.tool.nam): x}}]}}`, nil, []string{"`nam` is not a member of tool"}, ""},
		{"an exclude", `{name: r, exclude: {any: [{principal: {group: sre}}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"`group` is not a member of principal (did you mean `groups`?)"}, "[spec rules 0 exclude any 0 principal group]"},
		{"a sort_by key", `{name: r, assert: {all: [{check: {"(sort_by(session.tools, &nme))": null}}]}}`, nil, []string{"is a string: it has no member `nme`"}, ""},
		{"an undeclared claim", `{name: r, assert: {all: [{check: {principal: {claims: {department: x}}}}]}}`, nil,
			[]string{"warning: reads claim `department`, which the bundle does not declare"}, ""},
		{"a declared claim", `{name: r, assert: {all: [{check: {(principal.claims.department): x}}]}}`, []string{"department"}, nil, ""},
		{"a misspelt declared claim", `{name: r, assert: {all: [{check: {(principal.claims.departement): x}}]}}`, []string{"department"},
			[]string{"reads claim `departement`, which the catalog's claims do not declare (did you mean `principal.claims.department`?)"}, ""},
		{"a multi-select hash", `{name: r, assert: {all: [{check: {"({n: tool.nam})": null}}]}}`, nil, []string{"`nam` is not a member of tool"}, ""},
		{"a multi-select list", `{name: r, assert: {all: [{check: {"([tool.name, principal.grups])": null}}]}}`, nil, []string{"`grups` is not a member of principal"}, ""},
		{"a slice", `{name: r, assert: {all: [{check: {"(session.tools[0:2].nme)": null}}]}}`, nil, []string{"is a string: it has no member `nme`"}, ""},
		{"let", `{name: r, assert: {all: [{check: {"(let $t = tool in $t.nam)": null}}]}}`, nil, []string{"`nam` is not a member of tool (did you mean `name`?)"}, ""},
		{"let, clean", `{name: r, assert: {all: [{check: {"(let $t = tool, $n = principal.id in [$n, $t.risk])": null}}]}}`, nil, nil, ""},
		{"let's bindings do not see each other", `{name: r, assert: {all: [{check: {"(let $t = tool, $n = $t.name in $n)": x}}]}}`, nil, []string{"$t is not defined here"}, ""},
		{"let's variable outside it", `{name: r, assert: {all: [{check: {"([let $t = tool in $t.name, $t])": null}}]}}`, nil, []string{"$t is not defined here"}, ""},
		{"CEL is not followed", `{name: r, assert: {all: [{check: {(cel;object.nope): x}}]}}`, nil, nil, ""},
		{"an escaped key is a member name", `{name: r, match: {all: [{\(action)\: call}]}, assert: {all: [{check: {action: call}}]}}`, nil,
			[]string{"`(action)` is not a member of the document"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - " + tt.rule + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := policy.Paths(p, policy.Declared{Claims: tt.claims})
			if len(got) != len(tt.want) {
				t.Fatalf("%d problems, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				msg := got[i].Message
				if got[i].Warning {
					msg = "warning: " + msg
				}
				if !strings.Contains(msg, w) {
					t.Errorf("problem %d: %q, want %q", i, msg, w)
				}
			}
			if tt.at != "" && fmt.Sprint(got[0].At) != tt.at {
				t.Errorf("at %v, want %s", got[0].At, tt.at)
			}
		})
	}
}

// TestAnnotations: an annotation of our prefix that is not ours is refused
// with the nearest one named; others' annotations are left alone.
func TestAnnotations(t *testing.T) {
	for _, tt := range []struct{ annotations, want string }{
		{`{policies.toolgate.dev/approver: data-owners, policies.toolgate.dev/effect: approval}`, "unknown annotation policies.toolgate.dev/approver (did you mean policies.toolgate.dev/approvers?)"},
		{`{policies.toolgate.dev/Mode: audit}`, "did you mean policies.toolgate.dev/mode?"},
		{`{Policies.Toolgate.Dev/mode: audit}`, "unknown annotation"},
		{`{example.com/owner: team-a, policies.toolgate.dev/mode: audit}`, ""},
		{`{policy.toolgate.dev/approvers: data-owners}`, "unknown annotation policy.toolgate.dev/approvers"},
		{`{policies.toolgate.io/approvers: data-owners}`, "unknown annotation policies.toolgate.io/approvers"},
		{`{policies.tolgate.dev/approvers: data-owners}`, "unknown annotation policies.tolgate.dev/approvers"},
		{`{kubernetes.io/description: x, app.kubernetes.io/name: web}`, ""},
		{`{toolgate.acme.com/ticket: SEC-12, acme-toolgate.example.com/owner: a, toolgate.dev/owner: b}`, ""},
		{`{policies.toolgate.dev.mode: audit}`, "unknown annotation policies.toolgate.dev.mode"},
	} {
		_, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p, annotations: " + tt.annotations +
			"}\nspec:\n  rules:\n  - {name: r, assert: {all: [{check: {action: call}}]}}\n"))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.annotations, err, tt.want)
		}
	}
}

// TestPathsEnvironments: with declared environments, an environment a rule
// compares the document's with, literally or in an expression, must be
// one of them.
func TestPathsEnvironments(t *testing.T) {
	for rule, want := range map[string]string{
		`{name: r, match: {all: [{environment: prodution}]}, assert: {all: [{check: {action: call}}]}}`: "environment is compared with \"prodution\", which it never holds: the catalog's environments are production, dev (did you mean `production`?)",
		`{name: r, assert: {all: [{check: {"(environment == 'prodution')": true}}]}}`:                   "environment is compared with \"prodution\"",
		`{name: r, assert: {all: [{check: {"('stage' != $payload.environment)": true}}]}}`:              "environment is compared with \"stage\"",
		`{name: r, match: {all: [{environment: dev}]}, assert: {all: [{check: {action: call}}]}}`:       "",
	} {
		checkOne(t, rule, policy.Declared{Environments: []string{"production", "dev"}}, want)
	}
}

// TestPathsLabels: a label a rule looks for must be one the catalog gives
// some tool, or it is never in a document.
func TestPathsLabels(t *testing.T) {
	for rule, want := range map[string]string{
		`{name: r, assert: {all: [{check: {"(contains(tool.labels, 'destructve'))": false}}]}}`:                           "an element of tool.labels is compared with \"destructve\", which it never holds: the catalog gives no tool that label",
		`{name: r, assert: {all: [{check: {"(session.labelCalls.destructve || ` + "`0`" + ` < ` + "`3`" + `)": true}}]}}`: "a label is compared with \"destructve\"",
		`{name: r, assert: {all: [{check: {"(contains(session.labels, 'private-data'))": false}}]}}`:                      "",
		`{name: r, assert: {all: [{check: {tool: {labels: [destructive]}}}]}}`:                                            "",
		`{name: r, assert: {all: [{check: {tool: {labels: [destuctive]}}}]}}`:                                             "(did you mean `destructive`?)",
	} {
		checkOne(t, rule, policy.Declared{Labels: []string{"destructive", "private-data"}}, want)
	}
}

// checkOne checks the paths of a one-rule policy: one problem saying
// want, or none for "".
func checkOne(t *testing.T, rule string, declared policy.Declared, want string) {
	t.Helper()
	p, err := policy.DecodePolicy([]byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - " + rule + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := policy.Paths(p, declared)
	if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || !strings.Contains(got[0].Message, want)) {
		t.Errorf("%s: %+v, want %q", rule, got, want)
	}
}
