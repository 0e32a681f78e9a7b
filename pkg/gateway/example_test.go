package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/toolgate/toolgate/pkg/gateway"
)

// An interceptor decodes the gateway's event, looks at the point it was
// sent at, and answers with exactly one transformed member.
func ExampleDecode() {
	payload := []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{` +
		`"headers":{"Content-Type":"application/json"},` +
		`"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"docs___search","arguments":{"q":"x"}}}}}}`)
	ev, err := gateway.Decode(payload)
	if err != nil {
		fmt.Println("deny:", err)
		return
	}
	body, _ := ev.MCP.RequestBody()
	ct, _ := ev.MCP.GatewayRequest.Headers.Get("content-type")
	fmt.Println("response point:", ev.MCP.IsResponse(), "content type:", ct)

	out := gateway.Continue(body) // forward the request unchanged
	if err := out.Validate(); err != nil {
		fmt.Println("invalid output:", err)
		return
	}
	wire, _ := json.Marshal(out)
	fmt.Println(string(wire))
	// Output:
	// response point: false content type: application/json
	// {"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayRequest":{"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"docs___search","arguments":{"q":"x"}}}}}}
}

// BenchmarkDecode2KB decodes a 2 KB tools/call event with Decode, and with
// the standard library's encoding/json into the same types: the measure of
// what keeping this package on the standard library alone would cost.
func BenchmarkDecode2KB(b *testing.B) {
	payload, err := os.ReadFile("../../testdata/events/allowed-call-2kb.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gateway.Decode(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev gateway.Event
			if err := json.Unmarshal(payload, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
