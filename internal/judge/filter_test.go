package judge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// newJudge returns a judge of the default bundle in production, with
// engine e instead of the bundle's when it is set.
func newJudge(t testing.TB, e policy.Engine) *judge.Judge {
	t.Helper()
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		e = b.Engine
	}
	return judge.New(judge.Config{Environment: "production", Engine: e, Catalog: b.Catalog, Redactor: b.Redactor})
}

// compile compiles one policy document.
func compile(t *testing.T, doc string) policy.Engine {
	t.Helper()
	p, err := policy.DecodePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile([]*v1alpha1.ValidatingPolicy{p})
	if err != nil {
		t.Fatal(err)
	}
	return e
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

// BenchmarkFilter500 is the evaluation pass alone: the 500 tools of a decoded
// tools/list answer judged and filtered, without decoding or encoding JSON.
func BenchmarkFilter500(b *testing.B) {
	h := newJudge(b, nil)
	payload, err := os.ReadFile("../../testdata/events/response-tools-list-500.json")
	if err != nil {
		b.Fatal(err)
	}
	var ev struct {
		MCP struct {
			GatewayRequest struct {
				Headers map[string]string `json:"headers"`
			} `json:"gatewayRequest"`
			GatewayResponse struct {
				Body map[string]any `json:"body"`
			} `json:"gatewayResponse"`
		} `json:"mcp"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		b.Fatal(err)
	}
	in := attributes.Input{Phase: attributes.PhaseResponse, Method: "tools/list", Headers: ev.MCP.GatewayRequest.Headers, Now: time.Now()}
	tools := ev.MCP.GatewayResponse.Body["result"].(map[string]any)["tools"].([]any)
	if len(tools) != 500 {
		b.Fatalf("%d tools", len(tools))
	}
	var hidden []string
	for b.Loop() {
		body := map[string]any{"result": map[string]any{"tools": slices.Clone(tools)}}
		if hidden, err = h.FilterTools(in, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(hidden)), "hidden")
}

// counting is an engine that allows every tool and counts the judgements.
type counting struct {
	policy.Engine
	n *atomic.Int64
}

func (c counting) AllowsEach(context.Context) func(map[string]any) bool {
	return func(map[string]any) bool { c.n.Add(1); return true }
}

// TestSearchTextWorkIsBounded: a search answer naming 20,000 made-up tools
// costs at most MaxJudged judgements; the names past it are hidden.
func TestSearchTextWorkIsBounded(t *testing.T) {
	var n atomic.Int64
	h := newJudge(t, counting{compile(t, allowAll), &n})
	var text strings.Builder
	for i := range 20_000 {
		fmt.Fprintf(&text, "t%d___x ", i)
	}
	body := map[string]any{"result": map[string]any{"content": []any{map[string]any{"type": "text", "text": text.String()}}}}
	in := attributes.Input{Phase: attributes.PhaseResponse, Method: "tools/call", QualifiedTool: "x_amz_bedrock_agentcore_search", Now: time.Now()}
	hidden, err := h.FilterTools(in, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != judge.MaxJudged {
		t.Errorf("%d judgements, want %d", got, judge.MaxJudged)
	}
	if len(hidden) != 20_000-judge.MaxJudged {
		t.Errorf("%d hidden, want %d", len(hidden), 20_000-judge.MaxJudged)
	}
}

const allowAll = `apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: allow-all}
spec:
  rules:
  - name: r
    match: {all: [{phase: never}]}
    assert: {all: [{check: {phase: never}}]}`

// BenchmarkSearch95000Names: a search answer of 1 MB naming 95,000
// made-up tools, judged by the default bundle (2.5 s before the bound).
func BenchmarkSearch95000Names(b *testing.B) {
	h := newJudge(b, nil)
	var text strings.Builder
	for i := range 95_000 {
		fmt.Fprintf(&text, "t%d___x ", i)
	}
	in := attributes.Input{Phase: attributes.PhaseResponse, Method: "tools/call", QualifiedTool: "x_amz_bedrock_agentcore_search",
		Headers: map[string]string{"Authorization": bearerOf(b, "platform-admins")}, Now: time.Now()}
	for b.Loop() {
		body := map[string]any{"result": map[string]any{"content": []any{map[string]any{"type": "text", "text": text.String()}}}}
		if _, err := h.FilterTools(in, body); err != nil {
			b.Fatal(err)
		}
	}
}
