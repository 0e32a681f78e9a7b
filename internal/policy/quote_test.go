package policy

import "testing"

// TestMessageQuotes: a message may name who, which tool, prompt or method,
// the session and the time; any template that can reach the arguments, what
// is derived from them, the answer, the headers or a resource's URI, by
// whatever path, is one a record withholds.
func TestMessageQuotes(t *testing.T) {
	for _, tt := range []struct {
		message string
		quotes  bool
	}{
		{"no template", false},
		{"tool {{ tool.qualifiedName }} is {{ tool.risk }} risk", false},
		{"{{ action == 'call' && 'tool calls' || 'listing' }} need a caller", false},
		{"{{ mcp.method || 'this message' }}", false},
		{"{{ join(', ', tool.suspiciousReasons) }} {{ to_string(session.labelCalls.destructive) }}", false},
		{"{{ principal.id }} in {{ environment }} at {{ time.now }}, {{ mcp.method }} {{ mcp.kind }}, {{ response.statusCode }}", false},
		{"{{ $payload.tool.name }} {{ @.tool.name }} {{ tool | name }}", false},
		{"{{ sort_by(session.tools[*].{n: @}, &n)[0].n }}", false},
		{"{{ `\"literal\"` }}", false},

		{"{{ tool.arguments.amount }}", true},
		{"{{ join(', ', tool.wildcards) }}", true},
		{"{{ to_string(tool) }}", true},
		{"{{ to_string(@) }}", true},
		{"{{ tool.* | to_string(@) }}", true},
		{"{{ values(tool)[0] }}", true},
		{"{{ keys(tool.arguments)[0] }}", true},
		{"{{ tool | arguments.x }}", true},
		{"{{ tool.qualifiedName || tool.arguments.x }}", true},
		{"{{ $payload.tool.arguments.x }}", true},
		{"{{ $.tool.arguments.x }}", true},
		{"{{ $labels }}", true},
		{"{{ prompt.arguments.q }}", true},
		{"{{ resource.uri }}", true},
		{"{{ resource.scheme }}", true},
		{"{{ prompt.name }}", true},
		{"{{ to_string(mcp.id) }}", true},
		{"{{ mcp.sessionId }}", true},
		{"{{ response.method }}", true},
		{"{{ resource.path }}", true},
		{"{{ request.headers.x }}", true},
		{"{{ response.body.result }}", true},
		{"{{ session.tools[?tool.arguments.x == 'y'] | to_string(@) }}", false}, // an element's members
		{"{{ session.tools[?$payload.tool.arguments.x == 'y'] | to_string(@) }}", true},
		{"{{ sort_by(session.tools, &$payload.tool.arguments.x) | to_string(@) }}", true},
		{"{{ let $x = tool in $x.name }}", true},
		{"{{ tool.arguments. }}", true}, // does not parse
		{"first {{ tool.name }} then {{ tool.arguments.x }}", true},
	} {
		if got := messageQuotes(tt.message); got != tt.quotes {
			t.Errorf("messageQuotes(%q) = %v, want %v", tt.message, got, tt.quotes)
		}
	}
}
