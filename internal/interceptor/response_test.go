package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/policies"
)

// secrets are the values the response events carry that no caller covered
// by the default redaction rules may see.
var secrets = []string{
	"AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A",
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
	"2YotnFZFEjr1zCsicMWpAA", "eyJhbGciOiJSUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9", "MIIEpAIBAAKCAQEA7bq98",
	"jane.doe@example.com", "ops@example.com", "4111 1111 1111 1111", "5555-5555-5555-4444",
}

// TestResponses pins what the RESPONSE point does to each response event:
// the tools hidden, the replacements by detector, and what must and must not
// be in the answer.
func TestResponses(t *testing.T) {
	tests := []struct {
		event      string
		effect     decision.Effect
		hidden     []string
		redactions redact.Counts
		contains   []string // in the answer's body
		absent     []string // from the answer's body
		status     int
		headers    map[string]string // nil: not checked
	}{
		{event: "response-tools-list", effect: decision.Allow,
			hidden:   []string{"k8s___delete-pod", "k8s___restart-deployment", "billing___get_invoice", "billing___refund_payment"},
			contains: []string{`"nextCursor":"c2"`, `"name":"github___create_issue"`, `"name":"x_amz_bedrock_agentcore_search"`, `"inputSchema":{`},
			status:   200, headers: map[string]string{"Mcp-Session-Id": "s-7f3a", "Content-Type": "application/json"}},
		// An anonymous caller gets no list at all: every method but the
		// handshake needs authentication (it used to get an empty list).
		{event: "response-tools-list-anonymous", effect: decision.Deny,
			contains: []string{"tools/list requires an authenticated caller"}, absent: []string{"docs___search_docs"}, status: 200},
		{event: "response-search-structured", effect: decision.Allow,
			hidden:   []string{"k8s___delete-pod", "billing___refund_payment", "k8s___delete-pod", "billing___refund_payment"},
			contains: []string{"k8s___get-pod", "github___search_issues"}, absent: []string{"delete-pod", "refund_payment"}, status: 200},
		{event: "response-search-text", effect: decision.Allow,
			hidden: []string{"k8s___delete-pod", "billing___refund_payment", "k8s___delete-pod"},
			// The prose item names a hidden tool: it goes whole.
			contains: []string{"k8s___get-pod"}, absent: []string{"delete-pod", "refund_payment", "Best match"}, status: 200},
		{event: "response-secrets", effect: decision.Allow,
			redactions: redact.Counts{"aws-access-key-id": 2, "aws-secret-access-key": 2, "bearer-token": 1, "jwt": 2, "private-key": 1, "email": 2, "card-number": 2},
			contains:   []string{`"number":4711`, `"amount":12.5`, "[REDACTED:private-key]"}, absent: secrets, status: 200},
		{event: "response-secrets-finance", effect: decision.Allow, redactions: redact.Counts{"aws-access-key-id": 1},
			contains: []string{"jane.doe@example.com", "4111 1111 1111 1111"}, absent: []string{"AKIAIOSFODNN7EXAMPLE"}, status: 200},
		{event: "response-streamed-first-event", effect: decision.Allow, redactions: redact.Counts{"aws-access-key-id": 1},
			absent: []string{"AKIAIOSFODNN7EXAMPLE"}, status: 200, headers: map[string]string{"Mcp-Session-Id": "s-7f3a", "Content-Type": "text/event-stream"}},
		{event: "response-streamed-denied", effect: decision.Deny,
			contains: []string{`"isError":true`, `"id":12`}, absent: []string{"restarted"},
			status: 200, headers: map[string]string{"Mcp-Session-Id": "s-7f3a", "Content-Type": "text/event-stream"}},
		{event: "response-after-request-denial", effect: decision.Deny,
			contains: []string{`"id":8`, `"isError":true`, "not allowed in production"}, status: 200},
		{event: "response-after-request-denial-body", effect: decision.Deny,
			contains: []string{"decision 5f0c2a9e8d7b6a5f4e3d2c1b0a998877"}, status: 200},
		{event: "response-target-error", effect: decision.Allow, redactions: redact.Counts{"aws-access-key-id": 1},
			contains: []string{`"code":-32603`}, absent: []string{"AKIAIOSFODNN7EXAMPLE"}, status: 200},
		{event: "response-notification-202", effect: decision.Allow, status: 202},
		{event: "response-unreadable-request", effect: decision.Deny,
			contains: []string{`"id":9`, `"code":-32002`}, absent: []string{"customer data"}, status: 200},
	}
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			payload, err := os.ReadFile("../../testdata/events/" + tt.event + ".json")
			if err != nil {
				t.Fatal(err)
			}
			r := h.Handle(context.Background(), payload)
			if err := r.Output.Validate(); err != nil {
				t.Fatal(err)
			}
			if r.Decision.Effect != tt.effect {
				t.Errorf("%s (%s), want %s", r.Decision.Effect, r.Decision.Reason, tt.effect)
			}
			if !sameElements(r.Decision.Hidden, tt.hidden) {
				t.Errorf("hidden %v, want %v", r.Decision.Hidden, tt.hidden)
			}
			if !maps.Equal(r.Decision.Redactions, map[string]int(tt.redactions)) {
				t.Errorf("redactions %v, want %v", r.Decision.Redactions, tt.redactions)
			}
			resp := r.Output.MCP.TransformedGatewayResponse
			if resp == nil {
				t.Fatal("no transformedGatewayResponse at the RESPONSE point")
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.headers != nil && !maps.Equal(resp.Headers, tt.headers) {
				t.Errorf("headers %v, want %v", resp.Headers, tt.headers)
			}
			body := string(resp.Body)
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("answer lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("answer contains %q:\n%s", s, body)
				}
			}
		})
	}
	for _, s := range append(secrets, "customer data", "restarted") {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log contains %q", s)
		}
	}
	if !strings.Contains(logs.String(), `"redactions":{`) || !strings.Contains(logs.String(), `"tools_hidden":4`) {
		t.Errorf("log lacks redaction counts or hidden tools:\n%s", logs.String())
	}
}

// TestUnchangedResponseIsEchoedExactly: an answer with nothing to hide or
// redact goes back byte for byte, numbers beyond float64 included.
func TestUnchangedResponseIsEchoedExactly(t *testing.T) {
	h := newHandler(t, nil)
	body := `{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"ok <b>&amp;</b>"}],"structuredContent":{"big":123456789012345678901234567890,"f":1.10},"isError":false}}`
	payload := []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"` + bearerOf(t, "developers") + `"},` +
		`"body":{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"github___search_issues","arguments":{}}}},` +
		`"gatewayResponse":{"statusCode":200,"body":` + body + `}}}`)
	r := h.Handle(context.Background(), payload)
	if got := string(r.Output.MCP.TransformedGatewayResponse.Body); got != body {
		t.Errorf("got  %s\nwant %s", got, body)
	}
}

// bearerOf returns an unsigned bearer token of a user in group.
func bearerOf(t testing.TB, group string) string {
	t.Helper()
	token, err := policytest.UnsignedToken(map[string]any{"sub": "u-1", "cognito:groups": []string{group}})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + token
}

func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// BenchmarkToolsList500 is the whole handler on a tools/list answer of 500
// tools (265 KB): decode, one evaluation per tool, re-encode.
func BenchmarkToolsList500(b *testing.B) {
	benchmarkEvent(b, "response-tools-list-500")
}

// BenchmarkToolsList500Pinned is BenchmarkToolsList500 with the default
// bundle's pins: each of the 500 definitions hashed (RFC 8785, SHA-256)
// and judged against its first-use pin, as a warm instance does (the
// pins read from the store once, then known).
func BenchmarkToolsList500Pinned(b *testing.B) {
	bu, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		b.Fatal(err)
	}
	h := handlerWith(b, func(c *interceptor.Config) {
		c.Now = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
		c.NewID = func() string { return testID }
		c.Pins, c.Definitions, c.State = bu.Pins, bu.Definitions, &state.Memory{}
	})
	payload, err := os.ReadFile("../../testdata/events/response-tools-list-500.json")
	if err != nil {
		b.Fatal(err)
	}
	if r := h.Handle(context.Background(), payload); len(r.Definitions) == 0 || len(r.Decision.Hidden) == 0 {
		b.Fatalf("nothing pinned or hidden: %+v", r.Decision)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedact100KB is the whole handler on a tool result of 100 KB of
// log lines with secrets in them, every default redaction rule applying.
func BenchmarkRedact100KB(b *testing.B) {
	benchmarkEvent(b, "response-redact-100kb")
}

// BenchmarkRedact1MB is BenchmarkRedact100KB's text ten times over: a
// result of 1 MB, just under result-size-limit's 1 MiB.
func BenchmarkRedact1MB(b *testing.B) {
	h := newHandler(b, nil)
	data, err := os.ReadFile("../../testdata/events/response-redact-100kb.json")
	if err != nil {
		b.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		b.Fatal(err)
	}
	item := ev["mcp"].(map[string]any)["gatewayResponse"].(map[string]any)["body"].(map[string]any)["result"].(map[string]any)["content"].([]any)[0].(map[string]any)
	item["text"] = strings.Repeat(item["text"].(string), 10)
	payload, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	if r := h.Handle(context.Background(), payload); len(r.Decision.Redactions) == 0 || r.Decision.Effect != decision.Allow {
		b.Fatalf("nothing redacted: %+v", r.Decision)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkEvent(b *testing.B, event string) {
	h := newHandler(b, nil)
	payload, err := os.ReadFile("../../testdata/events/" + event + ".json")
	if err != nil {
		b.Fatal(err)
	}
	r := h.Handle(context.Background(), payload)
	if len(r.Decision.Hidden) == 0 && len(r.Decision.Redactions) == 0 {
		b.Fatalf("%s: nothing hidden or redacted: %+v", event, r.Decision)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHiddenToolsLogBounded: a list that hides hundreds of tools logs their
// number and only the first hundred names.
func TestHiddenToolsLogBounded(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	payload, err := os.ReadFile("../../testdata/events/response-tools-list-500.json")
	if err != nil {
		t.Fatal(err)
	}
	h.Handle(context.Background(), payload)
	var record struct {
		ToolsHidden int      `json:"tools_hidden"`
		Hidden      []string `json:"hidden"`
	}
	if err := json.Unmarshal(logs.Bytes(), &record); err != nil {
		t.Fatal(err)
	}
	if record.ToolsHidden != 320 || len(record.Hidden) != 100 {
		t.Errorf("tools_hidden %d, %d names logged; want 320 and 100", record.ToolsHidden, len(record.Hidden))
	}
}

// TestRequestDenialRepeats: the RESPONSE point gives the REQUEST point's
// own denial again under the REQUEST's decision id, marked as a repeat;
// anything that only looks like one of our denials is judged as what it is.
func TestRequestDenialRepeats(t *testing.T) {
	ids := []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	next := 0
	h := handlerWith(t, func(c *interceptor.Config) {
		c.NewID = func() string { next++; return ids[(next-1)%2] }
	})
	admin := bearerOf(t, "platform-admins")
	withResponse := func(request []byte, body string) []byte { return atResponse(t, request, []byte(body)) }
	request := func(body string) []byte {
		return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{"Authorization":"` + admin + `"},"body":` + body + `}}}`)
	}
	denied := []struct{ name, body string }{
		{"policy", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"k8s___delete-pod","arguments":{"pod":"a"}}}`},
		{"invalid params", `{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"k8s___get-pod","arguments":[1]}}`},
		{"unreadable", `{"jsonrpc":"2.0","id":3}`},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			next = 0
			req := h.Handle(context.Background(), request(tt.body))
			if req.Decision.Effect != decision.Deny || req.Decision.ID != ids[0] {
				t.Fatalf("request: %+v", req.Decision)
			}
			own := string(req.Output.MCP.TransformedGatewayResponse.Body)
			resp := h.Handle(context.Background(), withResponse(request(tt.body), own))
			if !resp.Repeat || resp.RepeatOf != ids[0] || resp.Decision.ID != ids[1] {
				t.Fatalf("repeat %v of %q, decision %s", resp.Repeat, resp.RepeatOf, resp.Decision.ID)
			}
			if got := string(resp.Output.MCP.TransformedGatewayResponse.Body); got != own {
				t.Errorf("answer %s, want the REQUEST's %s", got, own)
			}
			// The same denial with one member more is the target's, not ours.
			var v map[string]any
			_ = json.Unmarshal([]byte(own), &v)
			v["data"] = strings.Repeat("k", 64)
			spoof, _ := json.Marshal(v)
			next = 0
			resp = h.Handle(context.Background(), withResponse(request(tt.body), string(spoof)))
			if resp.Repeat || resp.Decision.Effect != decision.Deny || strings.Contains(string(resp.Output.MCP.TransformedGatewayResponse.Body), "kkkk") {
				t.Errorf("spoofed denial: repeat %v, %s", resp.Repeat, resp.Output.MCP.TransformedGatewayResponse.Body)
			}
		})
	}
	// An allowed call whose target answers with our denial's text is an
	// ordinary answer: the size limit and redaction apply, no repeat.
	allowed := request(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"docs___search_docs","arguments":{"query":"q"}}}`)
	big := `{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"Denied: x (decision ` + ids[0] + `)","data":"` + strings.Repeat("d", 1_100_000) + `"}}`
	if r := h.Handle(context.Background(), withResponse(allowed, big)); r.Repeat || r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "1 MiB") {
		t.Errorf("1.1 MB imitation: repeat %v, %s %q", r.Repeat, r.Decision.Effect, r.Decision.Reason)
	}
	leak := `{"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":[{"type":"text","text":"Denied: x\n\nkey AKIAIOSFODNN7EXAMPLE (decision ` + ids[0] + `)"}]}}`
	r := h.Handle(context.Background(), withResponse(allowed, leak))
	if r.Repeat || strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), "AKIAIOSFODNN7EXAMPLE") {
		t.Errorf("imitation with a secret: repeat %v, %s", r.Repeat, r.Output.MCP.TransformedGatewayResponse.Body)
	}
}

// TestServerRequestsAreJudged: a server-to-client request on a stream is in
// the document (response.kind, response.method), so a policy can refuse it.
func TestServerRequestsAreJudged(t *testing.T) {
	h := handlerWith(t, func(c *interceptor.Config) {
		c.Engine = compile(t, `apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: no-sampling}
spec:
  rules:
  - name: no-sampling
    match: {all: [{phase: response}]}
    assert:
      all:
      - message: servers may not ask this client's model
        check:
          response:
            (kind == 'request' && method == 'sampling/createMessage'): false`)
	})
	event := func(body string) []byte {
		return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"body":{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"docs___search_docs","arguments":{}}}},
			"gatewayResponse":{"statusCode":200,"isStreamingResponse":true,"body":` + body + `}}}`)
	}
	r := h.Handle(context.Background(), event(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{"messages":[]}}`))
	if r.Decision.Effect != decision.Deny || r.Document.Response.Kind != "request" || r.Document.Response.Method != "sampling/createMessage" {
		t.Errorf("sampling request: %s %q, response %+v", r.Decision.Effect, r.Decision.Reason, r.Document.Response)
	}
	if body := string(r.Output.MCP.TransformedGatewayResponse.Body); !strings.Contains(body, `"id":11`) || strings.Contains(body, "sampling") {
		t.Errorf("the denial answers the call: %s", body)
	}
	r = h.Handle(context.Background(), event(`{"jsonrpc":"2.0","id":11,"result":{"content":[]}}`))
	if r.Decision.Effect != decision.Allow || r.Document.Response.Kind != "response" {
		t.Errorf("result: %s %q, response %+v", r.Decision.Effect, r.Decision.Reason, r.Document.Response)
	}
}

// TestForgedRepeat: a target that answers with a copy of the denial its
// answer causes (here one of more than 1 MiB, padded inside the object),
// under a decision id of its choosing, is denied as the RESPONSE point's own
// denial, not recorded as a repeat of a REQUEST-point denial that never was
// (a repeat is not counted again in the metrics).
func TestForgedRepeat(t *testing.T) {
	h := handlerWith(t, func(c *interceptor.Config) {})
	base, err := os.ReadFile("../../testdata/events/response-point.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(base, &ev); err != nil {
		t.Fatal(err)
	}
	const fake = "deadbeefdeadbeefdeadbeefdeadbeef"
	text := "Denied: the result of tool docs___search_docs is larger than the 1 MiB an agent may receive (decision " + fake + ")"
	denial, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7,
		"result": map[string]any{"isError": true, "content": []any{map[string]any{"type": "text", "text": text}}}})
	padded := string(denial[:1]) + strings.Repeat(" ", 1<<20) + string(denial[1:])
	ev["mcp"].(map[string]any)["gatewayResponse"].(map[string]any)["body"] = padded
	payload, _ := json.Marshal(ev)
	r := h.Handle(context.Background(), payload)
	if r.Decision.Effect != decision.Deny {
		t.Fatalf("effect %s, want a denial", r.Decision.Effect)
	}
	if r.Repeat || strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), fake) {
		t.Errorf("the target's answer was taken as the REQUEST point's denial %s", r.RepeatOf)
	}
}
