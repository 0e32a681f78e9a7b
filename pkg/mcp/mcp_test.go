package mcp_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/pkg/mcp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		err          error
		method       string
		id           any
		notification bool
	}{
		{"call", `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`, nil, "tools/call", float64(7), false},
		{"zero id", `{"jsonrpc":"2.0","id":0,"method":"ping"}`, nil, "ping", float64(0), false},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"ping"}`, nil, "ping", "a", false},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil, "ping", nil, false},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, "notifications/initialized", nil, true},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, mcp.ErrBatch, "", nil, false},
		{"not object", `"x"`, mcp.ErrNotObject, "", nil, false},
		{"no method", `{"jsonrpc":"2.0","id":1}`, mcp.ErrNoMethod, "", nil, false},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":3}`, mcp.ErrNotObject, "", nil, false},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, mcp.ErrInvalidID, "", nil, false},
		{"bool id", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, mcp.ErrInvalidID, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mcp.Parse([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if m.Method != tt.method || !reflect.DeepEqual(m.IDValue(), tt.id) || m.IsNotification() != tt.notification {
				t.Errorf("got method %q id %#v notification %v", m.Method, m.IDValue(), m.IsNotification())
			}
		})
	}
}

func TestParseToolCall(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want mcp.ToolCall
		err  error
	}{
		{"full", `{"name":"k8s___get-pod","arguments":{"pod":"a"}}`, mcp.ToolCall{Name: "k8s___get-pod", Arguments: map[string]any{"pod": "a"}}, nil},
		{"no arguments", `{"name":"t"}`, mcp.ToolCall{Name: "t", Arguments: map[string]any{}}, nil},
		{"null arguments", `{"name":"t","arguments":null}`, mcp.ToolCall{Name: "t", Arguments: map[string]any{}}, nil},
		{"array arguments", `{"name":"t","arguments":[1]}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"string arguments", `{"name":"t","arguments":"{}"}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"no name", `{"arguments":{}}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"empty name", `{"name":""}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"number name", `{"name":7}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"params array", `[]`, mcp.ToolCall{}, mcp.ErrParams},
		{"params absent", ``, mcp.ToolCall{}, mcp.ErrParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mcp.ParseToolCall([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSplitToolName(t *testing.T) {
	tests := []struct{ in, target, tool string }{
		{"k8s___delete-pod", "k8s", "delete-pod"},
		{"a___b___c", "a", "b___c"},
		{"x_amz_bedrock_agentcore_search", "", "x_amz_bedrock_agentcore_search"},
		{"___tool", "", "tool"},
		{"target___", "target", ""},
		{"a__b", "", "a__b"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if target, tool := mcp.SplitToolName(tt.in); target != tt.target || tool != tt.tool {
			t.Errorf("SplitToolName(%q) = %q, %q; want %q, %q", tt.in, target, tool, tt.target, tt.tool)
		}
	}
}
