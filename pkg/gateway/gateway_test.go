package gateway_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/toolgate/toolgate/pkg/gateway"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		err      error
		response bool
		http     bool
	}{
		{"request", `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}}}}`, nil, false, false},
		{"response", `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}},"gatewayResponse":{"statusCode":200,"body":{}}}}`, nil, true, false},
		{"null response is a request", `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}},"gatewayResponse":null}}`, nil, false, false},
		{"minor version", `{"interceptorInputVersion":"1.1","mcp":{"gatewayRequest":{}}}`, nil, false, false},
		{"http", `{"interceptorInputVersion":"1.0","http":{"gatewayRequest":{}}}`, nil, false, true},
		{"leading space", " \n" + `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{}}}`, nil, false, false},
		{"empty", ``, gateway.ErrNotJSON, false, false},
		{"array", `[]`, gateway.ErrNotJSON, false, false},
		{"truncated", `{"interceptorInputVersion":"1.0","mcp":{`, gateway.ErrNotJSON, false, false},
		{"mcp not an object", `{"interceptorInputVersion":"1.0","mcp":"x"}`, gateway.ErrNotJSON, false, false},
		{"no version", `{"mcp":{"gatewayRequest":{}}}`, gateway.ErrVersion, false, false},
		{"major version 2", `{"interceptorInputVersion":"2.0","mcp":{"gatewayRequest":{}}}`, gateway.ErrVersion, false, false},
		{"neither", `{"interceptorInputVersion":"1.0"}`, gateway.ErrNoTarget, false, false},
		{"null mcp", `{"interceptorInputVersion":"1.0","mcp":null}`, gateway.ErrNoTarget, false, false},
		{"both", `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{}},"http":{}}`, gateway.ErrBothTargets, false, false},
		{"empty mcp", `{"interceptorInputVersion":"1.0","mcp":{}}`, gateway.ErrNoRequest, false, false},
		// Names are exact: another casing is another, unknown, member.
		{"GatewayRequest", `{"interceptorInputVersion":"1.0","mcp":{"GatewayRequest":{"body":{}}}}`, gateway.ErrNoRequest, false, false},
		{"MCP", `{"interceptorInputVersion":"1.0","MCP":{"gatewayRequest":{"body":{}}}}`, gateway.ErrNoTarget, false, false},
		{"InterceptorInputVersion", `{"InterceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}}}}`, gateway.ErrVersion, false, false},
		// A repeated member is read as encoding/json reads it: the last wins.
		{"repeated mcp", `{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{}}},"mcp":null}`, gateway.ErrNoTarget, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := gateway.Decode([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got := ev.HTTP != nil; got != tt.http {
				t.Errorf("http %v, want %v", got, tt.http)
			}
			if ev.MCP != nil && ev.MCP.IsResponse() != tt.response {
				t.Errorf("IsResponse %v, want %v", ev.MCP.IsResponse(), tt.response)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	var h gateway.Headers
	in := `{"Authorization":"Bearer a","x-list":["a","b"],"X-Num":3,"X-Null":null,"mcp-session-id":"s"}`
	if err := json.Unmarshal([]byte(in), &h); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"authorization", "Bearer a", true},
		{"AUTHORIZATION", "Bearer a", true},
		{"Mcp-Session-Id", "s", true},
		{"X-List", "a, b", true},
		{"x-num", "3", true},
		{"x-null", "", false},
		{"missing", "", false},
	}
	for _, tt := range tests {
		if got, ok := h.Get(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if err := json.Unmarshal([]byte(`{"a":{"b":1}}`), &h); err == nil {
		t.Error("an object header value was accepted")
	}
}

// TestHeadersTwoCasings pins the choice between two spellings of one name:
// deterministic, whatever the map order.
func TestHeadersTwoCasings(t *testing.T) {
	h := gateway.Headers{"authorization": "lower", "Authorization": "upper"}
	for i := 0; i < 50; i++ {
		if got, _ := h.Get("AUTHORIZATION"); got != "upper" {
			t.Fatalf("got %q, want the lexically smallest spelling's value", got)
		}
	}
}

func TestRequestBody(t *testing.T) {
	tests := []struct {
		name   string
		parsed string // the gatewayRequest.body member, raw; "" for absent
		raw    string // rawGatewayRequest.body
		want   string
		err    error
	}{
		{"object", `{"id":1}`, ``, `{"id":1}`, nil},
		{"object wins over raw", `{"id":1}`, `{"id":2}`, `{"id":1}`, nil},
		{"string", `"{\"id\":1}"`, ``, `{"id":1}`, nil},
		{"string with spaces", `" {\"id\":1} "`, ``, `{"id":1}`, nil},
		{"null uses raw", `null`, `{"id":2}`, `{"id":2}`, nil},
		{"absent uses raw", ``, `{"id":2}`, `{"id":2}`, nil},
		{"array", `[{"id":1}]`, ``, `[{"id":1}]`, nil},
		{"null and no raw", `null`, ``, ``, gateway.ErrBodyMissing},
		{"number", `42`, ``, ``, gateway.ErrBodyNotJSON},
		{"string not json", `"hello"`, ``, ``, gateway.ErrBodyNotJSON},
		{"string of a string", `"\"x\""`, ``, ``, gateway.ErrBodyNotJSON},
		{"raw not json", `null`, `hello`, ``, gateway.ErrBodyNotJSON},
		{"raw truncated", ``, `{"id":`, ``, gateway.ErrBodyNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &gateway.MCPEvent{
				GatewayRequest:    &gateway.Request{Body: json.RawMessage(tt.parsed)},
				RawGatewayRequest: &gateway.RawRequest{Body: quote(t, tt.raw)},
			}
			got, err := ev.RequestBody()
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("body %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	obj := json.RawMessage(`{}`)
	tests := []struct {
		name string
		out  gateway.Output
		ok   bool
	}{
		{"continue", gateway.Continue(obj), true},
		{"respond", gateway.Respond(200, nil, obj), true},
		{"respond without body", gateway.Respond(202, nil, nil), true},
		{"no version", gateway.Output{MCP: gateway.Continue(obj).MCP}, false},
		{"both", gateway.Output{InterceptorOutputVersion: "1.0", MCP: &gateway.MCPOutput{
			TransformedGatewayRequest:  &gateway.TransformedRequest{Body: obj},
			TransformedGatewayResponse: &gateway.TransformedResponse{StatusCode: 200, Body: obj}}}, false},
		{"neither", gateway.Output{InterceptorOutputVersion: "1.0", MCP: &gateway.MCPOutput{}}, false},
		{"no target", gateway.Output{InterceptorOutputVersion: "1.0"}, false},
		{"string body", gateway.Respond(200, nil, json.RawMessage(`"{}"`)), false},
		{"bad status", gateway.Respond(0, nil, obj), false},
	}
	for _, tt := range tests {
		if err := tt.out.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func quote(t *testing.T, s string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
