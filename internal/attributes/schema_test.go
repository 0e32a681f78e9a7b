package attributes_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
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
			if err := conforms(d.Value(), attributes.Schema(), "document"); err != nil {
				t.Error(err)
			}
		})
	}
}

// conforms returns the first place where v departs from s.
func conforms(v any, s *attributes.Shape, at string) error {
	if s.Type == "" {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		if s.Type != "object" {
			return fmt.Errorf("%s: an object, the schema says %s", at, s.Type)
		}
		for name, m := range v {
			f := s.Elem
			if s.Fields != nil {
				if f = s.Fields[name]; f == nil {
					return fmt.Errorf("%s.%s: not in the schema", at, name)
				}
			}
			if f == nil {
				continue
			}
			if err := conforms(m, f, at+"."+name); err != nil {
				return err
			}
		}
		for name, f := range s.Fields {
			if _, ok := v[name]; !ok && !f.Optional {
				return fmt.Errorf("%s.%s: required by the schema, absent", at, name)
			}
		}
	case []any:
		if s.Type != "array" {
			return fmt.Errorf("%s: an array, the schema says %s", at, s.Type)
		}
		for i, e := range v {
			if err := conforms(e, s.Elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	default:
		want := map[string][]string{"string": {"string"}, "float64": {"number"}, "bool": {"boolean"}}[fmt.Sprintf("%T", v)]
		if !slices.Contains(want, s.Type) {
			return fmt.Errorf("%s: %T, the schema says %s", at, v, s.Type)
		}
	}
	return nil
}
