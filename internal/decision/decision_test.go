package decision_test

import (
	"encoding/json"
	"testing"

	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
)

func TestFromResult(t *testing.T) {
	v := func(p, msg string, mode policy.Mode) policy.Finding {
		return policy.Finding{Policy: p, Kind: policy.Violation, Mode: mode, Message: msg}
	}
	e := policy.Finding{Policy: "e", Kind: policy.Error, Mode: policy.ModeEnforce, Message: "policy e rule r could not be evaluated"}
	tests := []struct {
		name   string
		r      policy.Result
		effect decision.Effect
		code   int
		reason string
	}{
		{"no findings", policy.Result{}, decision.Allow, 0, ""},
		{"audit only", policy.Result{Findings: []policy.Finding{v("a", "x", policy.ModeAudit)}}, decision.Allow, 0, ""},
		{"violation", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce)}}, decision.Deny, decision.CodePolicyDenied, "no"},
		{"messages joined once", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce), v("q", "no", policy.ModeEnforce), v("r", "never", policy.ModeEnforce)}},
			decision.Deny, decision.CodePolicyDenied, "no; never"},
		{"error", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce), e}}, decision.Deny, decision.CodeUndecidable, "no; policy e rule r could not be evaluated"},
	}
	for _, tt := range tests {
		d := decision.FromResult("id-1", tt.r)
		if d.Effect != tt.effect || d.Code != tt.code || d.Reason != tt.reason || d.ID != "id-1" {
			t.Errorf("%s: got %+v", tt.name, d)
		}
	}
}

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
		out := tt.d.Output(tt.msg, body, tt.status)
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
