package celpolicy

import (
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/toolgate/toolgate/internal/attributes"
)

// schema declares the attribute document's shape to cel-go's checker: each
// object of fixed members (a Go struct of the document) is a CEL object
// type whose fields have their types, so that object.tol.name, or a string
// compared with a list, fails to type-check. Values stay plain JSON at run
// time: a field is read from the map that holds it, never through the
// type.
type schema struct {
	types.Provider                                   // CEL's own types
	structs        map[string]map[string]*types.Type // object type name → field → type
}

// documentType is the type name of the whole document, bound as object.
const documentType = "toolgate.Document"

func newSchema() (*schema, error) {
	base, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	// The types cel.OptionalTypes registers in the registry it replaces.
	if err := base.RegisterType(types.OptionalType); err != nil {
		return nil, err
	}
	s := &schema{Provider: base, structs: map[string]map[string]*types.Type{}}
	s.declare(attributes.Schema(), documentType)
	return s, nil
}

// declare returns the CEL type of a member of shape sh, declaring the
// object types under it, named from name.
func (s *schema) declare(sh *attributes.Shape, name string) *types.Type {
	switch {
	case sh == nil:
		return types.DynType
	case sh.Type == "string":
		return types.StringType
	case sh.Type == "boolean":
		return types.BoolType
	case sh.Type == "array":
		return types.NewListType(s.declare(sh.Elem, name+".item"))
	case sh.Type == "object" && sh.Fields != nil:
		fields := map[string]*types.Type{}
		for _, f := range slices.Sorted(maps.Keys(sh.Fields)) {
			fields[f] = s.declare(sh.Fields[f], name+"."+typeName(f))
		}
		s.structs[name] = fields
		return types.NewObjectType(name)
	case sh.Type == "object":
		return types.NewMapType(types.StringType, s.declare(sh.Elem, name+".value"))
	}
	// A number is dyn: the document holds it as a double, and a policy
	// compares it with integer literals (calls > 5), which CEL's checker
	// refuses between double and int and its runtime compares as numbers.
	return types.DynType
}

// typeName is a member name as a part of a type name.
func typeName(member string) string {
	if member == "" {
		return "_"
	}
	return strings.ToUpper(member[:1]) + member[1:]
}

// FindStructType implements types.Provider.
func (s *schema) FindStructType(name string) (*types.Type, bool) {
	if _, ok := s.structs[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return s.Provider.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (s *schema) FindStructFieldNames(name string) ([]string, bool) {
	if fields, ok := s.structs[name]; ok {
		return slices.Sorted(maps.Keys(fields)), true
	}
	return s.Provider.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider. The field type has no
// accessors: the interpreter then reads the member from the map it is in.
func (s *schema) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if fields, ok := s.structs[name]; ok {
		t, ok := fields[field]
		if !ok {
			return nil, false
		}
		return &types.FieldType{Type: t}, true
	}
	return s.Provider.FindStructFieldType(name, field)
}

// NewValue implements types.Provider: no document type is built by a
// policy (toolgate.Document{...} is not a value).
func (s *schema) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := s.structs[name]; ok {
		return types.NewErr("%s cannot be built in an expression", name)
	}
	return s.Provider.NewValue(name, fields)
}
