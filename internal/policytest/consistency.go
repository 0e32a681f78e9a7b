package policytest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
)

// ConsistencyOptions widen what Consistency tries beyond what the bundle
// itself names.
type ConsistencyOptions struct {
	// Principals are more callers, by name, as token claims (nil claims:
	// an anonymous caller).
	Principals map[string]map[string]any
	// Arguments are more argument sets tried on every tool.
	Arguments []map[string]any
}

// Inconsistency is a tool that a list answer shows to a caller who may
// never call it, or hides from one who may.
type Inconsistency struct {
	Environment, Principal, Tool string
	// Listed says whether the list answer kept the tool; Allowed how many
	// of the argument sets tried were allowed (or asked for an approval).
	Listed  bool
	Allowed int
}

func (i Inconsistency) String() string {
	if i.Listed {
		return fmt.Sprintf("%s, %s: %s is listed but every call tried is denied", i.Environment, i.Principal, i.Tool)
	}
	return fmt.Sprintf("%s, %s: %s is hidden but %d calls tried are allowed", i.Environment, i.Principal, i.Tool, i.Allowed)
}

// Consistency checks the guarantee behind list filtering on b: for every
// environment the catalog declares (else production and dev), every
// distinct caller of b's test cases (and anonymous, and opts.Principals),
// every tool the catalog or the cases name (and made-up ones of every
// target the catalog names and every operation), a tool hidden from a tools/list answer is denied
// on every call tried, and a tool shown is allowed (or asks for an
// approval) on at least one. The calls tried have no arguments, the
// distinct arguments of b's cases, and opts.Arguments.
func Consistency(b *bundle.Bundle, opts ConsistencyOptions) ([]Inconsistency, error) {
	docs, err := decode(b)
	if err != nil {
		return nil, err
	}
	principals := map[string]map[string]any{"anonymous": nil}
	maps.Copy(principals, opts.Principals)
	tools := map[string]bool{}
	seen := map[string]bool{}
	distinct := func(v any) bool { // once per JSON value
		data, _ := json.Marshal(v)
		if seen[string(data)] {
			return false
		}
		seen[string(data)] = true
		return true
	}
	for _, claims := range principals {
		distinct(claims)
	}
	arguments := []map[string]any{}
	for _, args := range append([]map[string]any{{}}, opts.Arguments...) {
		if distinct(args) {
			arguments = append(arguments, args)
		}
	}
	for _, d := range docs {
		for _, c := range d.file.Spec.Cases {
			if c.Claims != nil && distinct(c.Claims) {
				principals[fmt.Sprintf("the caller of %q", c.Name)] = c.Claims
			}
			if params, _ := c.Request["params"].(map[string]any); c.Request["method"] == "tools/call" && params != nil {
				if args, ok := params["arguments"].(map[string]any); ok && distinct(args) {
					arguments = append(arguments, args)
				}
				// A name with two separators is hidden from every list
				// whatever the policies say: no tool is named so.
				if name, ok := params["name"].(string); ok && strings.Count(name, "___") <= 1 {
					tools[name] = true
				}
			}
		}
	}
	environments := []string{"production", "dev"}
	if b.Catalog != nil {
		for name := range b.Catalog.Tools {
			target, _, ok := strings.Cut(name, "___")
			if !strings.ContainsAny(name, "*?") {
				tools[name] = true
			}
			if !ok {
				continue
			}
			madeUp(tools, target)
		}
		for target := range b.Catalog.Targets {
			madeUp(tools, target)
		}
		if b.Catalog.Environments != nil {
			environments = b.Catalog.Environments
		}
	}
	names := slices.Sorted(maps.Keys(tools))
	if len(tools) == 0 {
		return nil, fmt.Errorf("consistency: no tool to try: name tools in the catalog or call them in the bundle's cases")
	}
	var out []Inconsistency
	for _, env := range environments {
		// Every call that asks for an approval is one more request of its
		// caller: no limit, so that the hundredth call is judged as the
		// first would be.
		h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: env, Engine: b.Engine, Catalog: b.Catalog, Redactor: b.Redactor, Approvals: &approval.Memory{}, ApprovalKeys: approval.RandomKey(), GrantKey: approval.NewLocalKey(), ApprovalLimits: approval.Limits{MaxPending: math.MaxInt, MaxRequests: math.MaxInt, Window: time.Hour}}})
		for _, who := range slices.Sorted(maps.Keys(principals)) {
			claims := principals[who]
			shown, err := listedTools(h, claims, names)
			if err != nil {
				return nil, err
			}
			for _, tool := range names {
				allowed := 0
				for _, args := range arguments {
					req := map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}}
					r, err := handle(h, claims, nil, req, nil)
					if err != nil {
						return nil, err
					}
					if e := r.Decision.Effect; e == decision.Allow || e == decision.Approval {
						allowed++
					}
				}
				if listed := slices.Contains(shown, tool); listed != (allowed > 0) {
					out = append(out, Inconsistency{Environment: env, Principal: who, Tool: tool, Listed: listed, Allowed: allowed})
				}
			}
		}
	}
	return out, nil
}

// madeUp adds to tools a made-up tool of target for each operation class
// a name can say (and one it cannot).
func madeUp(tools map[string]bool, target string) {
	for _, verb := range []string{"get", "list", "search", "create", "update", "delete", "restart", "exec", "frobnicate"} {
		tools[target+"___"+verb+"_thing"] = true
	}
}

// listedTools returns the tools a tools/list answer of tools keeps for
// the caller.
func listedTools(h *interceptor.Handler, claims map[string]any, tools []string) ([]string, error) {
	var list []any
	for _, name := range tools {
		list = append(list, map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}})
	}
	r, err := handle(h, claims, nil, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
		map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"tools": list}})
	if err != nil {
		return nil, err
	}
	return listedItems(r).tools, nil
}

// handle runs a request (and, with resp, its answer) by a caller with
// claims, sent with headers, through h.
func handle(h *interceptor.Handler, claims map[string]any, extra map[string]string, req, resp map[string]any) (judge.Result, error) {
	headers := map[string]any{}
	for k, v := range extra {
		headers[k] = v
	}
	if claims != nil {
		token, err := UnsignedToken(claims)
		if err != nil {
			return judge.Result{}, err
		}
		headers["Authorization"] = "Bearer " + token
	}
	mcp := map[string]any{"gatewayRequest": map[string]any{"path": "/mcp", "httpMethod": "POST", "headers": headers, "body": req}}
	if resp != nil {
		mcp["gatewayResponse"] = map[string]any{"statusCode": 200, "body": resp}
	}
	payload, err := json.Marshal(map[string]any{"interceptorInputVersion": "1.0", "mcp": mcp})
	if err != nil {
		return judge.Result{}, err
	}
	return h.Handle(context.Background(), payload), nil
}
