package policy

import "testing"

func TestReadsOnly(t *testing.T) {
	known := func(v string) bool { return v == "$grants" || v == "$rank" }
	for stmt, want := range map[string]bool{
		"principal.groups": true,
		"max([principal.groups, principal.scopes][].lookup($grants, @) | [].lookup($rank, @)) || `0`": true,
		"[principal.groups, principal.scopes][].lookup($grants, @)[]":                                 true,
		"principal.groups[?@ == 'sre']":                                                               true,
		"length(principal.groups) > `0` && mcp.method == 'tools/list'":                                true,
		"sort_by(principal.claims.items, &tool)":                                                      true, // tool of each element, not of the document
		"tool.risk":                                                                                   false,
		"environment":                                                                                 false,
		"principal.tool":                                                                              true,
		"[tool, principal][0]":                                                                        false,
		"@":                                                                                           false,
		"keys(@)":                                                                                     false,
		"values(@)[0].risk":                                                                           false,
		"$.tool":                                                                                      false,
		"$payload.tool":                                                                               false,
		"$unknown":                                                                                    false,
		"*.risk":                                                                                      false,
		"[]":                                                                                          false,
		"principal | tool":                                                                            true, // tool of principal
		"tool | principal":                                                                            false,
		"let $x = principal in $x":                                                                    false,
		"not valid jmespath ((":                                                                       false,
		"{a: tool}":                                                                                   false,
		"{a: principal.id, b: `1`}":                                                                   true,
		"principal.groups[0]":                                                                         true,
		"tool.arguments[?@ == '*']":                                                                   false,
		"!(principal.authenticated)":                                                                  true,
		"-(principal.claims.n)":                                                                       true,
		"principal.claims.n + tool.x":                                                                 false,
		"\"tool\".risk":                                                                               false, // a quoted identifier is a field
	} {
		if got := readsOnly(stmt, listVarying, known); got != want {
			t.Errorf("readsOnly(%s) = %v, want %v", stmt, got, want)
		}
	}
}
