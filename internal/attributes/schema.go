package attributes

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp"
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
	// Enum, for a string, is every value it can hold; nil when any.
	Enum []string
}

// Schema returns the shape of the v1 attribute document. It is read from
// the Go types that build the document, so the two cannot drift; Value is
// held to it by tests.
var Schema = sync.OnceValue(func() *Shape {
	s := shapeOf(reflect.TypeFor[Document]())
	for path, values := range enums {
		f := s
		for name := range strings.SplitSeq(path, ".") {
			f = f.Fields[name]
		}
		f.Enum = values
	}
	return s
})

// enums are the values of the document's closed-vocabulary strings; ""
// where a member does not apply to every document.
var enums = map[string][]string{
	"phase":                  {PhaseRequest, PhaseResponse},
	"action":                 {ActionCall, ActionList, ActionPrompt, ActionRead, ActionOther},
	"list.kind":              {"", ListTool, ListPrompt, ListResource, ListTemplate},
	"mcp.kind":               {"", mcp.KindRequest, mcp.KindNotification, mcp.KindResponse},
	"principal.type":         {identity.TypeUser, identity.TypeMachine, identity.TypeAnonymous},
	"tool.operation":         {"", catalog.OpRead, catalog.OpWrite, catalog.OpDelete, catalog.OpExecute, catalog.OpUnknown},
	"tool.risk":              {"", catalog.RiskLow, catalog.RiskMedium, catalog.RiskHigh, catalog.RiskCritical},
	"session.source":         {"", SessionFromMCP, SessionFromPolicy, SessionFromPrincipal},
	"approval.channel":       {"", "in-band", "out-of-band"},
	"response.kind":          {"", mcp.KindRequest, mcp.KindNotification, mcp.KindResponse},
	"tool.definition.status": {DefinitionPinned, DefinitionChanged, DefinitionUnpinned, DefinitionUnread},
}

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
	if s.Enum != nil {
		out["enum"] = s.Enum
	}
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

// Member returns the shape of the member at path below s (a step below an
// object of open member names, or a list, is its values' shape) and
// whether a document always has it: no step is optional or a key of such
// an object. The shape is nil when s has no such member, and of type ""
// where any JSON value may be.
func (s *Shape) Member(path ...string) (member *Shape, always bool) {
	always = true
	for _, p := range path {
		switch {
		case s == nil:
			return nil, false
		case s.Fields != nil:
			f := s.Fields[p]
			if f == nil {
				return nil, false
			}
			s, always = f, always && !f.Optional
		default:
			s, always = s.Elem, false
			if s == nil {
				s = &Shape{} // any JSON value, which may have members of its own
			}
		}
	}
	return s, always
}

// Check returns where v, a document as plain JSON values, first departs
// from s: a member s does not have, a member it requires that v lacks, or
// a value of another type. at names v in the error ("document").
func (s *Shape) Check(v any, at string) error {
	if s == nil || s.Type == "" {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		if s.Type != "object" {
			return fmt.Errorf("%s: an object, where the schema has %s", at, article(s.Type))
		}
		for _, name := range slices.Sorted(maps.Keys(v)) {
			f := s.Elem
			if s.Fields != nil {
				if f = s.Fields[name]; f == nil {
					return fmt.Errorf("%s.%s: not in the schema", at, name)
				}
			}
			if err := f.Check(v[name], at+"."+name); err != nil {
				return err
			}
		}
		for _, name := range slices.Sorted(maps.Keys(s.Fields)) {
			if _, ok := v[name]; !ok && !s.Fields[name].Optional {
				return fmt.Errorf("%s.%s: required by the schema, absent", at, name)
			}
		}
	case []any:
		if s.Type != "array" {
			return fmt.Errorf("%s: a list, where the schema has %s", at, article(s.Type))
		}
		for i, e := range v {
			if err := s.Elem.Check(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	default:
		if t := map[string]string{"string": "string", "float64": "number", "bool": "boolean"}[fmt.Sprintf("%T", v)]; t != s.Type {
			return fmt.Errorf("%s: %s, where the schema has %s", at, jsonType(v), article(s.Type))
		}
		if str, ok := v.(string); ok && s.Enum != nil && !slices.Contains(s.Enum, str) {
			return fmt.Errorf("%s: %q is not one of %q", at, str, s.Enum)
		}
	}
	return nil
}

// Complete returns v with every member s requires that v lacks set to its
// empty value (as a document the function builds holds it: "", 0, false,
// [], {}), after checking v against s. A test case's partial document is
// then judged as a whole one with those values would be.
func (s *Shape) Complete(v map[string]any, at string) (map[string]any, error) {
	if err := s.checkPresent(v, at); err != nil {
		return nil, err
	}
	return s.fill(v).(map[string]any), nil
}

// checkPresent is Check of the members v has.
func (s *Shape) checkPresent(v any, at string) error {
	m, ok := v.(map[string]any)
	if !ok || s.Fields == nil {
		return s.Check(v, at)
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		f := s.Fields[name]
		if f == nil {
			return fmt.Errorf("%s.%s: not in the schema", at, name)
		}
		if err := f.checkPresent(m[name], at+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// fill returns v with the members s requires filled in.
func (s *Shape) fill(v any) any {
	if s == nil || s.Fields == nil {
		if v == nil && s != nil {
			return s.empty()
		}
		return v
	}
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(s.Fields))
	for name, f := range s.Fields {
		if mv, ok := m[name]; ok {
			out[name] = f.fill(mv)
		} else if !f.Optional {
			out[name] = f.empty()
		}
	}
	return out
}

// empty is the value of s in a document where it does not apply.
func (s *Shape) empty() any {
	switch s.Type {
	case "string":
		return ""
	case "number":
		return float64(0)
	case "boolean":
		return false
	case "array":
		return []any{}
	case "object":
		return s.fill(map[string]any{})
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func article(t string) string {
	switch t {
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	return "a " + t
}
