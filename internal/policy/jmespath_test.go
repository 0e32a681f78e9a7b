package policy_test

import (
	"strings"
	"testing"

	"github.com/kyverno/pkg/ext/wildcard"

	"github.com/toolgate/toolgate/internal/policy"
)

// jmespathValue has every JSON type and some Go types go-jmespath reaches
// by reflection only ([]string, map[string]string, int).
func jmespathValue() map[string]any {
	return map[string]any{
		"tool": map[string]any{
			"name": "k8s___delete-pod", "risk": "high", "labels": []any{"destructive", "external-communication"},
			"arguments": map[string]any{"namespace": "prod", "count": float64(3), "tags": []any{"a", "b", nil, []any{"c", "d"}}},
			"wildcards": []any{}, "empty": "", "null": nil, "flag": false, "zero": float64(0),
		},
		"principal": map[string]any{"groups": []any{"developers", "sre"}, "scopes": []any{"openid"}, "authenticated": true},
		"items": []any{
			map[string]any{"n": float64(1), "s": "x", "l": []any{float64(1), float64(2)}},
			map[string]any{"n": float64(2), "s": "y", "l": []any{}},
			map[string]any{"n": nil, "s": "", "l": nil},
			"scalar", float64(7), nil, []any{"nested", []any{"deeper"}},
		},
		"strs":   []string{"p", "q"},
		"ints":   []int{1, 2, 3},
		"labels": map[string]string{"team": "a"},
		"int":    int(5),
		"text":   "hello world",
	}
}

// expressions covers every node kind jpCompiler compiles, the shapes the
// interpreter treats specially (errors it drops, strings it slices, Go
// slices and maps it reads by reflection) and the kinds handed to it.
var expressions = []string{
	// fields and sub-expressions
	"tool", "tool.name", "tool.missing", "tool.missing.deeper", "tool.null.x", "tool.name.x", "items.n",
	"labels.team", "int.x", "strs.x", `"tool"."risk"`,
	// comparisons
	"tool.risk == 'high'", "tool.risk != 'high'", "tool.arguments.count > `2`", "tool.arguments.count >= `3`",
	"tool.arguments.count < `3`", "tool.arguments.count <= `2.5`", "tool.risk > `1`", "tool.null < `1`", "int > `4`",
	"tool.labels == ['destructive', 'external-communication']", "tool.labels == `[\"destructive\",\"external-communication\"]`",
	"tool.arguments.count == `3`", "int == `5`", "tool.null == null", "tool.missing == tool.null", "`{}` == `{}`",
	"tool.arguments.count == '3'", "`1` == `1.0`", "tool.wildcards == `[]`",
	// and, or, not, truthiness
	"tool.risk == 'high' && tool.flag", "tool.flag || tool.risk", "tool.empty || 'default'", "tool.wildcards || `[1]`",
	"tool.null && `1`", "!tool.flag", "!tool.labels", "!tool.wildcards", "!tool.zero", "!strs", "!labels", "tool.zero && 'x'",
	"principal.authenticated && tool.risk != 'low' || 'fallback'",
	// literals, @, variables
	"`true`", "'raw'", "`null`", "@", "@.tool.risk", "$x", "$x.y", "$missing", "$list[0]", "$list[?@ == 'b']",
	// functions, including expression arguments and type errors
	"length(tool.labels)", "length(tool.wildcards)", "length(tool.name)", "length(`3`)", "contains(tool.labels, 'destructive')",
	"contains(principal.groups, 'sre') && contains(tool.labels, 'x')", "join(', ', tool.labels)", "join(', ', tool.arguments.tags)",
	"to_string(tool.arguments)", "max([`1`, `5`, `3`])", "max(items[].n)", "sort_by(items[?n].{n: n}, &n)[].n",
	"lookup(`{\"a\": 1}`, 'a')", "lookup(tool.arguments, 'namespace')", "wildcard('k8s___*', tool.name)",
	"regex_match('^k8s', tool.name)", "starts_with(tool.name, 'k8s')", "keys(tool.arguments)", "values(labels)",
	"map(&length(@), principal.groups)", "length(strs)", "contains(strs, 'p')", "not_a_function(@)", "abs(tool.name)",
	"to_number('12')", "type(int)", "merge(tool.arguments, `{\"x\": 1}`)",
	// pipes, flatten, projections, filters, indexes, multi-select lists
	"tool.labels | [0]", "items[].l[]", "items[].l", "items[]", "items[][]", "strs[]", "ints[]", "items[*].s",
	"[principal.groups, principal.scopes][]", "[principal.groups, principal.scopes][].length(@)",
	"[principal.groups, principal.scopes][].lookup(`{\"sre\": \"high\"}`, @)[]", "items[?n > `1`].s", "items[?n].s",
	"items[?l].n", "tool.labels[?@ == 'destructive']", "strs[?@ == 'q']", "tool.missing[?x]", "tool.name[?x]",
	"tool.labels[0]", "tool.labels[-1]", "tool.labels[5]", "strs[1]", "ints[-1]", "tool.name[0]", "[tool.name, tool.risk]",
	"[tool.missing]", "items[0].l[1]", "tool.arguments.tags[].length(@)", "tool.name[1:4]", "tool.name[::-1]", "strs[1:]",
	"items[*].l[0]", "*.risk", "tool.*", "tool.arguments.*", "tool.{n: name, r: risk}", "{a: tool.risk}",
	// kinds the interpreter runs
	"let $y = tool.risk in $y", "let $y = tool in $y.name", "$", "tool.arguments.count + `1`", "-tool.arguments.count",
	"tool.arguments.count * `2`", "tool.arguments.count % `2`", "tool.name[:3]", "items[?n == `1`] | [0].s",
	"to_string(tool.labels[?@ != 'x'])", "length(items[?s == ''])", "items[?length(l || `[]`) > `0`].n",
	"contains(tool.labels || `[]`, 'external-communication')", "(tool.risk == 'high')", "tool.risk == 'high' == `true`",
	// the functions compiled natively, on the types they answer and on the
	// ones left to the function caller
	"lookup(tool.labels, `1`)", "lookup(tool.labels, `7`)", "lookup(tool.labels, `0.5`)", "lookup(tool.arguments, `1`)",
	"lookup(labels, 'team')", "lookup(tool.name, 'x')", "lookup(tool.arguments, tool.missing)", "lookup(tool.missing, 'a')",
	"wildcard('k8s___?elete-*', tool.name)", "wildcard('*', tool.null)", "wildcard(tool.zero, tool.name)", "wildcard('', tool.empty)",
	"wildcard('**pod', tool.name)", "wildcard('k8s*', strs)", "contains(tool.name, 'delete')", "contains(tool.name, `1`)",
	"contains(tool.arguments.tags, `[\"c\", \"d\"]`)", "contains(items[].n, `2`)", "contains(tool.arguments, 'namespace')",
	"contains(tool.null, 'x')", "contains(ints, `2`)", "length(tool.arguments)", "length(labels)", "length(int)", "length(tool.null)",
	"length('héllo')", "length(items)", "max(tool.labels)", "max(`[]`)", "max([tool.risk, `1`])", "max(`[1, 3, 2]`)",
	"max(`[3, 1]`)", "max([`1`, tool.risk])", "max(tool.name)", "max(ints)", "max(strs)", "max(items[].n)", "max([tool.null])",
	// projections of flattens, compiled without the flattened list
	"[tool.labels, abs(tool.name)][].length(@)", "[tool.labels, tool.name][].length(@)", "[strs, tool.labels][].length(@)",
	"ints[].x", "items[][].n", "items[].l[].to_string(@)", "[tool.name, tool.risk, int, tool.labels, tool.wildcards][].length(@)",
	"length(tool.labels[?@ != 'x'])", "length(items[?n].s)", "length(items[?abs(s)])", "length(items[?n].abs(s))", "length(strs[?@])",
	"length(tool.name[?@])", "length(tool.missing[?@])", "length(items[?n])", "length(items[?s].l[0])",
	"tool.labels[].abs(@)", "tool.name[].x", "tool.missing[][]", "[tool.missing, tool.null][].x", "[][].x", "[`[1, [2]]`][][]", "[principal.groups, principal.scopes][].lookup(`{\"sre\": [\"k8s___*\"]}`, @)[] | [?wildcard(@, tool.name)]",
}

// TestExpressionsMatchInterpreter: jpCompiler computes what go-jmespath's
// interpreter computes, and errs where it errs, on every expression above.
func TestExpressionsMatchInterpreter(t *testing.T) {
	vars := map[string]any{"x": map[string]any{"y": "z"}, "list": []any{"a", "b"}}
	for _, e := range expressions {
		if d := policy.DiffExpression(e, jmespathValue(), vars); d != "" {
			t.Error(d)
		}
		if d := policy.DiffExpression(e, nil, vars); d != "" {
			t.Errorf("on null: %s", d)
		}
	}
}

// FuzzExpressions: any expression, compiled, computes what the
// interpreter computes.
func FuzzExpressions(f *testing.F) {
	for _, e := range expressions {
		f.Add(e)
	}
	vars := map[string]any{"x": map[string]any{"y": "z"}, "list": []any{"a", "b"}}
	f.Fuzz(func(t *testing.T, e string) {
		if d := policy.DiffExpression(e, jmespathValue(), vars); d != "" {
			t.Error(d)
		}
	})
}

// FuzzWildcard: the wildcard(pattern, name) the compiler answers itself
// matches as kyverno's does, on any pair of strings.
func FuzzWildcard(f *testing.F) {
	for _, c := range [][2]string{
		{"k8s___*", "k8s___get-pod"}, {"*", ""}, {"", ""}, {"?", "é"}, {"a*b*c", "aXbYc"}, {"a*b*c", "aXbYcZ"},
		{"*?", ""}, {"\xff", "\ufffd"}, {"\ufffd", "\xff"}, {"?", "\xff"}, {"**", "x"}, {"a?c*", "abc"}, {"*x*", "yyy"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// The original backtracks exponentially in the number of stars.
		if strings.Count(pattern, "*") > 6 || len(name) > 64 {
			t.Skip()
		}
		if got, want := policy.WildcardMatch(pattern, name), wildcard.Match(pattern, name); got != want {
			t.Errorf("wildcard(%q, %q) = %v, kyverno's %v", pattern, name, got, want)
		}
	})
}
