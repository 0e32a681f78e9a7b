package render_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/pkg/gateway"
)

func TestOutput(t *testing.T) {
	call := &mcp.Message{JSONRPC: "2.0", ID: json.RawMessage(`7`), Method: "tools/call"}
	list := &mcp.Message{JSONRPC: "2.0", ID: json.RawMessage(`"a"`), Method: "tools/list"}
	note := &mcp.Message{JSONRPC: "2.0", Method: "notifications/initialized"}
	deny := decision.Denied("d1", decision.CodePolicyDenied, "no")
	body := json.RawMessage(`{"jsonrpc":"2.0","id":7,"method":"tools/call"}`)
	tests := []struct {
		name   string
		d      decision.Decision
		msg    *mcp.Message
		status int
		want   string
	}{
		{"allow forwards the body unchanged, without headers", decision.Decision{ID: "d0", Effect: decision.Allow}, call, 200,
			`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayRequest":{"body":{"jsonrpc":"2.0","id":7,"method":"tools/call"}}}}`},
		{"denied call is a tool error", deny, call, 200,
			`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":[{"type":"text","text":"Denied: no (decision d1)"}]}}}}}`},
		{"denied method is a JSON-RPC error", deny, list, 403,
			`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":403,"body":{"jsonrpc":"2.0","id":"a","error":{"code":-32001,"message":"Denied: no (decision d1)"}}}}}`},
		{"denied notification has no id", deny, note, 200,
			`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":403,"body":{"jsonrpc":"2.0","error":{"code":-32001,"message":"Denied: no (decision d1)"}}}}}`},
		{"unparsed message gets a null id", decision.Denied("d2", decision.CodeInvalidRequest, "bad <json> & co"), nil, 200,
			`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Denied: bad \u003cjson\u003e \u0026 co (decision d2)"}}}}}`},
	}
	for _, tt := range tests {
		out := render.Output(tt.d, tt.msg, body, nil, tt.status)
		if err := out.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		got, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestOutputAtResponse: a denial at the RESPONSE point keeps the target's
// headers but Content-Length, and a streamed answer's status.
func TestOutputAtResponse(t *testing.T) {
	call := &mcp.Message{JSONRPC: "2.0", ID: json.RawMessage(`7`), Method: "tools/call"}
	deny := decision.Denied("d1", decision.CodePolicyDenied, "no")
	target := &gateway.Response{StatusCode: 202, Headers: gateway.Headers{"Mcp-Session-Id": "s1", "Content-Length": "99"}}
	out := render.Output(deny, call, nil, target, 200)
	got := out.MCP.TransformedGatewayResponse
	if got.StatusCode != 200 || len(got.Headers) != 1 || got.Headers["Mcp-Session-Id"] != "s1" {
		t.Errorf("not streamed: status %d, headers %v", got.StatusCode, got.Headers)
	}
	target.IsStreamingResponse = true
	if got := render.Output(deny, call, nil, target, 200).MCP.TransformedGatewayResponse; got.StatusCode != 202 {
		t.Errorf("streamed: status %d, want the stream's 202", got.StatusCode)
	}
}

// TestRepeatOf: the REQUEST point's denial, seen again at the RESPONSE
// point, is recognised with its decision id; anything else is not.
func TestRepeatOf(t *testing.T) {
	call := &mcp.Message{JSONRPC: "2.0", ID: json.RawMessage(`7`), Method: "tools/call"}
	first := decision.Denied("0123456789abcdef0123456789abcdef", decision.CodePolicyDenied, "no")
	again := decision.Denied("fedcba9876543210fedcba9876543210", decision.CodePolicyDenied, "no")
	body := func(d decision.Decision) map[string]any {
		v, err := codec.DecodeJSON(render.Output(d, call, nil, nil, 200).MCP.TransformedGatewayResponse.Body)
		if err != nil {
			t.Fatal(err)
		}
		return v.(map[string]any)
	}
	target := &gateway.Response{StatusCode: 200, Headers: gateway.Headers{"Mcp-Session-Id": "s-1"}}
	out, prev, ok := render.RepeatOf(again, call, body(first), target, 200)
	if !ok || prev != first.ID {
		t.Errorf("the first denial: %q %v", prev, ok)
	}
	// The answer is the first denial, as Output renders it there, whole.
	if want := render.Output(first, call, nil, target, 200); !reflect.DeepEqual(out, want) {
		t.Errorf("answered with %+v, want %+v", out, want)
	}
	other := decision.Denied(first.ID, decision.CodePolicyDenied, "another reason")
	if _, _, ok := render.RepeatOf(again, call, body(other), nil, 200); ok {
		t.Error("a denial with another reason is not a repeat")
	}
	if _, _, ok := render.RepeatOf(decision.Decision{ID: again.ID, Effect: decision.Allow}, call, body(first), nil, 200); ok {
		t.Error("only a denial repeats")
	}
}
