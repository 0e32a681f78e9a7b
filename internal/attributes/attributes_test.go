package attributes_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/command"
)

var now = time.Date(2026, 11, 23, 12, 30, 0, 0, time.FixedZone("CET", 3600))

func bearer(claims string) string {
	enc := base64.RawURLEncoding
	return "Bearer " + enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".sig"
}

func TestBuild(t *testing.T) {
	b := attributes.Builder{Environment: "dev", Catalog: &catalog.Catalog{
		Targets: map[string]catalog.Target{"billing": {Environment: "production"}},
		Tools:   map[string]catalog.Tool{"k8s___delete-pod": {Risk: "critical"}},
	}}
	tests := []struct {
		name  string
		in    attributes.Input
		check func(t *testing.T, d attributes.Document)
	}{
		{"tools/call", attributes.Input{Phase: "request", Method: "tools/call", ID: float64(0),
			Headers:       map[string]string{"Authorization": bearer(`{"sub":"u","cognito:groups":["sre"]}`), "Mcp-Session-Id": "s-1", "X-Env": "production"},
			QualifiedTool: "k8s___delete-pod", Arguments: map[string]any{"pod": "a"}, Now: now},
			func(t *testing.T, d attributes.Document) {
				want := attributes.Tool{Name: "delete-pod", Target: "k8s", QualifiedName: "k8s___delete-pod", Operation: "delete", Risk: "critical", Labels: []string{}, SuspiciousReasons: []string{}, Arguments: map[string]any{"pod": "a"}, Wildcards: []string{}, CredentialStores: []string{}, Command: command.None(), Definition: attributes.Definition{Status: "unread"}}
				if !reflect.DeepEqual(d.Tool, want) {
					t.Errorf("tool %+v", d.Tool)
				}
				if d.Action != "call" || d.MCP.ID != float64(0) || d.MCP.SessionID != "s-1" || !d.Principal.Authenticated {
					t.Errorf("doc %+v", d)
				}
				if d.Environment != "dev" {
					t.Errorf("environment %q: must come from configuration, never from a header", d.Environment)
				}
				if _, ok := d.Request.Headers["authorization"]; ok {
					t.Error("authorization header in the document")
				}
				if d.Request.Headers["x-env"] != "production" {
					t.Errorf("headers %v: want lower-case names", d.Request.Headers)
				}
				if d.Time.Now != "2026-11-23T11:30:00Z" {
					t.Errorf("time %s: want RFC 3339 UTC", d.Time.Now)
				}
			}},
		{"lower-case authorization", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "docs___get",
			Headers: map[string]string{"authorization": bearer(`{"sub":"u"}`), "cookie": "c=1", "Proxy-Authorization": "x"}, Now: now},
			func(t *testing.T, d attributes.Document) {
				if !d.Principal.Authenticated || len(d.Request.Headers) != 0 {
					t.Errorf("principal %+v headers %v", d.Principal, d.Request.Headers)
				}
				if d.Tool.Arguments == nil {
					t.Error("a call without arguments must have an empty arguments object")
				}
			}},
		{"target environment override", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "billing___get_invoice", Now: now},
			func(t *testing.T, d attributes.Document) {
				if d.Environment != "production" {
					t.Errorf("environment %q", d.Environment)
				}
			}},
		{"list at response has no arguments", attributes.Input{Phase: "response", Method: "tools/list", QualifiedTool: "k8s___get-pod",
			Arguments: map[string]any{"x": 1}, Response: &attributes.Response{StatusCode: 200, Body: map[string]any{}}, Now: now},
			func(t *testing.T, d attributes.Document) {
				if d.Action != "list" || d.Tool.Arguments != nil || d.Response == nil {
					t.Errorf("doc %+v", d)
				}
			}},
		{"look-alike tool name", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "k8s___dеlete-pod\u200b", Now: now},
			func(t *testing.T, d attributes.Document) {
				if !d.Tool.Suspicious || !reflect.DeepEqual(d.Tool.SuspiciousReasons, []string{"non_ascii", "invisible", "mixed_scripts"}) {
					t.Errorf("tool %+v", d.Tool)
				}
				if d.Tool.Risk == "critical" {
					t.Error("a look-alike name matched the catalog entry it imitates")
				}
			}},
		{"two authorization headers that differ", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "docs___get",
			Headers: map[string]string{"authorization": bearer(`{"sub":"u"}`), "Authorization": bearer(`{"sub":"admin"}`)}, Now: now},
			func(t *testing.T, d attributes.Document) {
				if d.Principal.Authenticated || d.Principal.Verification != "ambiguous" {
					t.Errorf("principal %+v", d.Principal)
				}
			}},
		{"two equal authorization headers", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "docs___get",
			Headers: map[string]string{"authorization": bearer(`{"sub":"u"}`), "AUTHORIZATION": bearer(`{"sub":"u"}`)}, Now: now},
			func(t *testing.T, d attributes.Document) {
				if !d.Principal.Authenticated || d.Principal.ID != "u" || d.Principal.Verification != "off" {
					t.Errorf("principal %+v", d.Principal)
				}
			}},
		{"identity headers are not identity", attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "docs___get",
			Headers: map[string]string{"X-Amzn-Oidc-Identity": "admin", "X-User": "admin", "X-Forwarded-User": "admin", "X-Environment": "sandbox"}, Now: now},
			func(t *testing.T, d attributes.Document) {
				if d.Principal.Authenticated || d.Principal.ID != "" || d.Principal.Verification != "no_token" || d.Environment != "dev" {
					t.Errorf("principal %+v environment %q", d.Principal, d.Environment)
				}
			}},
		{"other method", attributes.Input{Phase: "request", Method: "initialize", ID: "1", Now: now},
			func(t *testing.T, d attributes.Document) {
				if d.Action != "other" || !reflect.DeepEqual(d.Tool, attributes.Tool{Labels: []string{}, SuspiciousReasons: []string{}, Wildcards: []string{}, CredentialStores: []string{}, Command: command.None(), Definition: attributes.Definition{Status: "unread"}}) || d.Principal.Type != "anonymous" {
					t.Errorf("doc %+v", d)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := b.Build(context.Background(), tt.in)
			if d.Version != attributes.Version || d.Phase != tt.in.Phase || d.MCP.Method != tt.in.Method {
				t.Errorf("version/phase/method %s %s %s", d.Version, d.Phase, d.MCP.Method)
			}
			tt.check(t, d)
			// Value must be exactly what policies would see of the JSON form.
			js, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(js, &want); err != nil {
				t.Fatal(err)
			}
			if got := d.Value(); !reflect.DeepEqual(normalize(t, got), want) {
				t.Errorf("Value() differs from the JSON form\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

// normalize round-trips v so that argument values (already JSON values)
// compare equal; the document's own fields must already be plain JSON values.
func normalize(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, v) {
		t.Errorf("Value() holds non-JSON types:\n%#v\n%#v", v, out)
	}
	return out
}

// TestListValues checks that the shared list document equals the document
// Build gives each listed tool.
func TestListValues(t *testing.T) {
	b := attributes.Builder{Environment: "dev", Catalog: &catalog.Catalog{
		Targets: map[string]catalog.Target{"billing": {Environment: "production"}},
		Tools:   map[string]catalog.Tool{"k8s___delete-pod": {Risk: "critical"}},
	}}
	in := attributes.Input{Phase: "response", Method: "tools/list", ID: float64(3),
		Headers: map[string]string{"Authorization": bearer(`{"sub":"u","groups":["sre"]}`)}, Now: now}
	values := b.ListValues(context.Background(), in)
	for _, name := range []string{"k8s___delete-pod", "billing___get_invoice", "docs___search", "x_amz_bedrock_agentcore_search"} {
		in.QualifiedTool = name
		want := b.Build(context.Background(), in)
		want.Action, want.List.Kind = attributes.ActionList, attributes.ListTool
		if got := values(attributes.ListTool, name); !reflect.DeepEqual(got, want.Value()) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want.Value())
		}
	}
	// A listed prompt or resource is described as a prompts/get or a
	// resources/read of it is, without the tool.
	p := values(attributes.ListPrompt, "crm___summarize")
	if p["prompt"].(map[string]any)["target"] != "crm" || p["tool"].(map[string]any)["qualifiedName"] != "" || p["list"].(map[string]any)["kind"] != "prompt" {
		t.Errorf("a listed prompt: %v", p)
	}
	r := values(attributes.ListResource, "File:///etc/Passwd")
	if res := r["resource"].(map[string]any); res["scheme"] != "file" || res["path"] != "/etc/Passwd" || r["prompt"].(map[string]any)["name"] != "" {
		t.Errorf("a listed resource: %v", r)
	}
}

// TestPromptsAndResources: prompts/get and resources/read are documents
// of their own actions, describing the prompt and its arguments, the
// resource and its URI's parts.
func TestPromptsAndResources(t *testing.T) {
	b := attributes.Builder{Environment: "production"}
	d := b.Build(context.Background(), attributes.Input{Phase: "request", Method: "prompts/get", Prompt: "crm___summarize",
		PromptArgs: map[string]any{"customer": "c-1"}, Now: now})
	if d.Action != attributes.ActionPrompt || d.Prompt.Target != "crm" || d.Prompt.Name != "summarize" || d.Prompt.Arguments["customer"] != "c-1" {
		t.Errorf("prompts/get: %+v", d)
	}
	d = b.Build(context.Background(), attributes.Input{Phase: "request", Method: "resources/read", ResourceURI: "HTTPS://Docs.Example.com/a/b?x=1", Now: now})
	if d.Action != attributes.ActionRead || d.Resource.Scheme != "https" || d.Resource.Host != "docs.example.com" || d.Resource.Path != "/a/b" {
		t.Errorf("resources/read: %+v", d.Resource)
	}
	js, _ := json.Marshal(d)
	var want map[string]any
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if got := d.Value(); !reflect.DeepEqual(normalize(t, got), want) {
		t.Errorf("Value() differs from the JSON form\n got %#v\nwant %#v", got, want)
	}
}

// TestListVarying: the documents ListValues gives for one answer differ
// only in ListVarying, which an engine relies on to compute the rest once.
func TestListVarying(t *testing.T) {
	b := attributes.Builder{Environment: "dev"}
	values := b.ListValues(context.Background(), attributes.Input{Phase: "response", Method: "tools/list", Headers: map[string]string{"Authorization": bearer(`{"sub":"u-1"}`)}, Now: now})
	var docs []map[string]any
	for _, item := range [][2]string{{attributes.ListTool, "k8s___delete-pod"}, {attributes.ListTool, "docs___search"},
		{attributes.ListPrompt, "crm___summarize"}, {attributes.ListResource, "file:///etc/passwd"}, {attributes.ListTemplate, "docs://{path}"}} {
		docs = append(docs, maps.Clone(values(item[0], item[1])))
	}
	for _, d := range docs[1:] {
		for k := range d {
			if !reflect.DeepEqual(d[k], docs[0][k]) && !attributes.ListVarying[k] {
				t.Errorf("%s differs between listed items, and is not in ListVarying", k)
			}
		}
	}
	for k := range attributes.ListVarying {
		if _, ok := docs[0][k]; !ok {
			t.Errorf("ListVarying names %s, which the document has not", k)
		}
	}
}

// TestSessionKey: a history is keyed by Mcp-Session-Id, else AgentCore
// Policy's session header, else (a stateless MCP 2026-07-28 request) the
// principal alone; always with the principal and the actor, so the same
// session id of another caller is another history.
func TestSessionKey(t *testing.T) {
	b := attributes.Builder{}
	key := func(sub, actor string, headers map[string]string) (string, string) {
		claims := `{"sub":"` + sub + `"`
		if actor != "" {
			claims += `,"act":{"sub":"` + actor + `"}`
		}
		h := map[string]string{"Authorization": bearer(claims + `}`)}
		for k, v := range headers {
			h[k] = v
		}
		d := b.Build(context.Background(), attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "a___b", Headers: h, Now: time.Now()})
		return d.SessionKey()
	}
	mcp := map[string]string{"Mcp-Session-Id": "s-1", "MCP-Protocol-Version": "2025-11-25"}
	policyHeader := map[string]string{"X-Amzn-Bedrock-AgentCore-Policy-Session-Id": "s-1", "MCP-Protocol-Version": "2026-07-28"}
	stateless := map[string]string{"MCP-Protocol-Version": "2026-07-28"}
	k1, src := key("ann", "", mcp)
	if src != attributes.SessionFromMCP || !strings.HasPrefix(k1, "s#") || strings.Contains(k1, "ann") || strings.Contains(k1, "s-1") {
		t.Errorf("Mcp-Session-Id: %q %q", k1, src)
	}
	if k, src := key("ann", "", policyHeader); src != attributes.SessionFromPolicy || k == k1 {
		t.Errorf("policy session header: %q %q", k, src)
	}
	kp, src := key("ann", "", stateless)
	if src != attributes.SessionFromPrincipal {
		t.Errorf("stateless: %q", src)
	}
	if k, _ := key("ann", "", stateless); k != kp {
		t.Error("the principal's sessionless calls do not share one history")
	}
	for name, other := range map[string]string{
		"another principal, same session id":  func() string { k, _ := key("eve", "", mcp); return k }(),
		"another actor, same session id":      func() string { k, _ := key("ann", "agent-2", mcp); return k }(),
		"the principal's sessionless history": kp,
	} {
		if other == k1 {
			t.Errorf("%s: same key", name)
		}
	}
}
