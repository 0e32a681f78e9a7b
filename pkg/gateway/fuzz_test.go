package gateway_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/pkg/gateway"
)

// seedEvents adds every event of the project's corpora to f.
func seedEvents(f *testing.F) {
	for _, pattern := range []string{"../../testdata/events/*.json", "../../testdata/adversarial/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzDecode: decoding any payload never panics, and an event it accepts
// has exactly one of mcp and http, and an mcp event a request or a response
// whose request body is a JSON object or array or an error.
func FuzzDecode(f *testing.F) {
	seedEvents(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := gateway.Decode(payload)
		if err != nil {
			return
		}
		if (ev.MCP == nil) == (ev.HTTP == nil) {
			t.Fatalf("accepted an event with mcp %v and http %v", ev.MCP != nil, ev.HTTP != nil)
		}
		if ev.MCP == nil {
			return
		}
		if ev.MCP.GatewayRequest == nil && ev.MCP.GatewayResponse == nil {
			t.Fatal("accepted an mcp event with neither request nor response")
		}
		body, err := ev.MCP.RequestBody()
		if err == nil {
			b := bytes.TrimSpace(body)
			if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
				t.Fatalf("request body %q is not an object or array", body)
			}
		}
		if ev.MCP.IsResponse() {
			_, _ = gateway.NormalizeBody(ev.MCP.GatewayResponse.Body)
		}
	})
}
