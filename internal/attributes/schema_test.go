package attributes_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"github.com/toolgate/toolgate/internal/attributes"
)

var update = flag.Bool("update", false, "rewrite docs/attribute-document.schema.json")

const schemaFile = "../../docs/attribute-document.schema.json"

// TestJSONSchemaPublished: the schema in docs is the one the Go types give
// (go test ./internal/attributes -run TestJSONSchemaPublished -update
// rewrites it).
func TestJSONSchemaPublished(t *testing.T) {
	got, err := attributes.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the Go types give: run go test ./internal/attributes -run TestJSONSchemaPublished -update", schemaFile)
	}
}

// TestValueConforms: the document policies evaluate, for every action and
// phase, has exactly the members the schema names, of the types it names.
func TestValueConforms(t *testing.T) {
	b := attributes.Builder{Environment: "production"}
	token := bearer(`{"sub":"u","cognito:groups":["sre"],"department":"ops","act":{"sub":"agent"}}`)
	for _, in := range []attributes.Input{
		{Phase: "request", Method: "tools/call", ID: float64(1), QualifiedTool: "k8s___delete-pod", Arguments: map[string]any{"pod": "*"},
			Headers: map[string]string{"Authorization": token, "Mcp-Session-Id": "s"}, Now: now},
		{Phase: "response", Method: "tools/call", ID: "a", QualifiedTool: "k8s___get-pod", Now: now,
			Response: &attributes.Response{StatusCode: 200, Size: 10, Kind: "response", Body: map[string]any{"result": nil}}},
		{Phase: "response", Method: "tools/list", QualifiedTool: "k8s___get-pod", Now: now},
		{Phase: "request", Method: "prompts/get", Prompt: "crm___summarize", PromptArgs: map[string]any{"c": "1"}, Now: now},
		{Phase: "request", Method: "resources/read", ResourceURI: "https://docs.example.com/a", Now: now},
		{Phase: "request", Method: "tasks/get", Task: "t-1", Now: now},
		{Phase: "request", Method: "ping", Now: now},
	} {
		t.Run(in.Method+" "+in.Phase, func(t *testing.T) {
			d := b.Build(context.Background(), in)
			if in.Method == "tools/call" && in.Phase == "request" {
				d.SetSession(attributes.SessionFromMCP, 2, []string{"destructive"}, map[string]int64{"destructive": 2}, now, now, []string{"k8s___get-pod"})
			}
			if err := attributes.Schema().Check(d.Value(), "document"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCheck: a document that departs from the schema is named where.
func TestCheck(t *testing.T) {
	b := attributes.Builder{Environment: "production"}
	for _, tt := range []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"as built", func(map[string]any) {}, ""},
		{"a member too many", func(d map[string]any) { d["enviroment"] = "x" }, "document.enviroment: not in the schema"},
		{"a member missing", func(d map[string]any) { delete(d, "session") }, "document.session: required by the schema, absent"},
		{"a wrong type", func(d map[string]any) { d["tool"].(map[string]any)["labels"] = "x" }, "document.tool.labels: a string, where the schema has a list"},
		{"a null", func(d map[string]any) { d["phase"] = nil }, "document.phase: null, where the schema has a string"},
		{"an optional member absent", func(d map[string]any) { delete(d["tool"].(map[string]any), "arguments") }, ""},
		{"open members", func(d map[string]any) { d["tool"].(map[string]any)["arguments"] = map[string]any{"x": []any{nil}} }, ""},
	} {
		doc := b.Build(context.Background(), attributes.Input{Phase: "request", Method: "tools/call", QualifiedTool: "docs___get", Now: now})
		d := doc.Value()
		tt.change(d)
		err := attributes.Schema().Check(d, "document")
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestMember: a member's shape, and whether every document has it.
func TestMember(t *testing.T) {
	for _, tc := range []struct {
		path          []string
		typ           string
		found, always bool
	}{
		{[]string{"tool", "name"}, "string", true, true},
		{[]string{"response"}, "object", true, false},
		{[]string{"response", "size"}, "number", true, false},
		{[]string{"principal", "claims", "dept"}, "", true, false},
		{[]string{"session", "labelCalls", "x"}, "number", true, false},
		{[]string{"tool", "labels", "0"}, "string", true, false},
		{[]string{"tool", "nmae"}, "", false, false},
	} {
		s, always := attributes.Schema().Member(tc.path...)
		if (s != nil) != tc.found || always != tc.always || s != nil && s.Type != tc.typ {
			t.Errorf("%v: shape %+v, always %v", tc.path, s, always)
		}
	}
}
