package attributes

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Shape is what one part of the attribute document can hold. Policies are
// checked against it when a bundle loads, so that a path the document
// cannot have (a misspelt field) fails there instead of never matching.
type Shape struct {
	// Type is the JSON type: object, array, string, number or boolean;
	// "" for any JSON value (what the caller or the target wrote).
	Type string
	// Fields are an object's members when they are fixed (a struct).
	Fields map[string]*Shape
	// Elem is the shape of an array's elements, or of an object's values
	// when its member names are open (a map: claims, headers, arguments);
	// nil for any value.
	Elem *Shape
	// Optional is true for a member the document omits when it does not
	// apply (response, tool.arguments, prompt.arguments).
	Optional bool
}

// Open reports whether s has member names that are not fixed: an object
// whose names are data, or any value.
func (s *Shape) Open() bool {
	return s == nil || s.Type == "" || s.Type == "object" && s.Fields == nil
}

// Schema returns the shape of the v1 attribute document. It is read from
// the Go types that build the document, so the two cannot drift; Value is
// held to it by tests.
var Schema = sync.OnceValue(func() *Shape { return shapeOf(reflect.TypeFor[Document]()) })

// ClaimsShape returns the shape of principal.claims, whose names are the
// token's: a bundle may declare the ones its policies read.
func ClaimsShape() *Shape { return Schema().Fields["principal"].Fields["claims"] }

func shapeOf(t reflect.Type) *Shape {
	switch t.Kind() {
	case reflect.Pointer:
		return shapeOf(t.Elem())
	case reflect.String:
		return &Shape{Type: "string"}
	case reflect.Bool:
		return &Shape{Type: "boolean"}
	case reflect.Int, reflect.Int64, reflect.Float64:
		return &Shape{Type: "number"}
	case reflect.Slice:
		return &Shape{Type: "array", Elem: shapeOf(t.Elem())}
	case reflect.Map:
		s := &Shape{Type: "object"}
		if t.Elem().Kind() != reflect.Interface {
			s.Elem = shapeOf(t.Elem())
		}
		return s
	case reflect.Struct:
		s := &Shape{Type: "object", Fields: map[string]*Shape{}}
		for f := range t.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fs := shapeOf(f.Type)
			fs.Optional = strings.Contains(opts, "omit")
			s.Fields[name] = fs
		}
		return s
	}
	return &Shape{} // interface: any JSON value
}

// JSONSchema renders the document's shape as a JSON Schema (draft
// 2020-12), the form published in docs/attribute-document.schema.json.
func JSONSchema() ([]byte, error) {
	out := jsonSchema(Schema())
	out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	out["$id"] = "https://toolgate.dev/schemas/attribute-document/" + Version + ".json"
	out["title"] = "toolgate attribute document " + Version
	return json.MarshalIndent(out, "", "  ")
}

func jsonSchema(s *Shape) map[string]any {
	if s == nil || s.Type == "" {
		return map[string]any{}
	}
	out := map[string]any{"type": s.Type}
	switch {
	case s.Type == "array":
		out["items"] = jsonSchema(s.Elem)
	case s.Fields != nil:
		props := map[string]any{}
		var required []string
		for name, f := range s.Fields {
			props[name] = jsonSchema(f)
			if !f.Optional {
				required = append(required, name)
			}
		}
		slices.Sort(required)
		out["properties"], out["required"], out["additionalProperties"] = props, required, false
	case s.Type == "object" && s.Elem != nil:
		out["additionalProperties"] = jsonSchema(s.Elem)
	}
	return out
}
