package policies_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/policies"
)

// TestListCallConsistency is the guarantee behind tools/list filtering, as a
// property of the default bundle: for every principal and environment in the
// tables, every tool hidden from a tools/list answer is denied on call with
// every argument set tried, and every tool shown is allowed with at least one.
// Bundle authors can copy this test for their own bundles.
func TestListCallConsistency(t *testing.T) {
	b, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	principals := map[string]map[string]any{
		"anonymous":       nil,
		"no groups":       {"sub": "u-1"},
		"developers":      {"sub": "u-2", "cognito:groups": []string{"developers"}},
		"sre":             {"sub": "u-3", "cognito:groups": []string{"sre"}},
		"finance":         {"sub": "u-4", "groups": []string{"finance"}},
		"platform-admins": {"sub": "u-5", "cognito:groups": []string{"platform-admins"}},
		"two groups":      {"sub": "u-6", "cognito:groups": []string{"developers", "finance"}},
		"docs scope":      {"sub": "bot", "client_id": "bot", "scope": "toolgate/docs.read"},
		"github scope":    {"sub": "bot", "client_id": "bot", "scope": "toolgate/github openid"},
	}
	var tools []string
	for name := range b.Catalog.Tools {
		if !slices.Contains([]rune(name), '*') {
			tools = append(tools, name)
		}
	}
	for _, target := range []string{"docs", "github", "k8s", "billing", "crm"} {
		for _, verb := range []string{"get", "list", "search", "create", "update", "delete", "restart", "exec", "frobnicate"} {
			tools = append(tools, fmt.Sprintf("%s___%s_thing", target, verb))
		}
	}
	argumentSets := []map[string]any{
		{}, {"namespace": "web", "pod": "web-0"}, {"query": "q"}, {"id": "42", "amount": 1},
		{"namespace": "*"}, {"all": true}, {"paths": []any{"logs/*"}},
	}
	for _, env := range []string{"production", "dev"} {
		// A call that needs an approval can be made: it is listed.
		h := interceptor.New(interceptor.Config{Environment: env, Engine: b.Engine, Catalog: b.Catalog, Redactor: b.Redactor,
			Approvals: &approval.Memory{}, ApprovalKeys: approval.RandomKey(), GrantKey: approval.NewLocalKey()})
		for who, claims := range principals {
			shown := listed(t, h, claims, tools)
			for _, tool := range tools {
				allowed := 0
				for _, args := range argumentSets {
					if e := call(t, h, claims, tool, args); e == decision.Allow || e == decision.Approval {
						allowed++
					}
				}
				switch visible := slices.Contains(shown, tool); {
				case visible && allowed == 0:
					t.Errorf("%s, %s: %s is listed but every call is denied", env, who, tool)
				case !visible && allowed > 0:
					t.Errorf("%s, %s: %s is hidden but %d calls are allowed", env, who, tool, allowed)
				}
			}
		}
	}
}

// listed returns the tools a tools/list answer keeps for the caller.
func listed(t *testing.T, h *interceptor.Handler, claims map[string]any, tools []string) []string {
	t.Helper()
	var list []any
	for _, name := range tools {
		list = append(list, map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}})
	}
	r := h.Handle(context.Background(), event(t, claims,
		map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
		map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"tools": list}}))
	var body struct {
		Result struct{ Tools []struct{ Name string } }
	}
	if err := json.Unmarshal(r.Output.MCP.TransformedGatewayResponse.Body, &body); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range body.Result.Tools {
		names = append(names, tool.Name)
	}
	return names
}

func call(t *testing.T, h *interceptor.Handler, claims map[string]any, tool string, args map[string]any) decision.Effect {
	t.Helper()
	req := map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}}
	return h.Handle(context.Background(), event(t, claims, req, nil)).Decision.Effect
}

func event(t *testing.T, claims map[string]any, req, resp map[string]any) []byte {
	t.Helper()
	headers := map[string]any{}
	if claims != nil {
		token, err := policytest.UnsignedToken(claims)
		if err != nil {
			t.Fatal(err)
		}
		headers["Authorization"] = "Bearer " + token
	}
	mcp := map[string]any{"gatewayRequest": map[string]any{"headers": headers, "body": req}}
	if resp != nil {
		mcp["gatewayResponse"] = map[string]any{"statusCode": 200, "body": resp}
	}
	payload, err := json.Marshal(map[string]any{"interceptorInputVersion": "1.0", "mcp": mcp})
	if err != nil {
		t.Fatal(err)
	}
	return payload
}
