package policy

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
)

// formatted returns a with each message's expressions wrapped in
// to_string, so that a template that inserts a number, a boolean, a list
// or null prints it ("3 destructive calls") where kyverno-json prints
// "ERR (... not a string)". A string prints as before.
func formatted(a v1alpha1.Assert) v1alpha1.Assert {
	wrap := func(list []v1alpha1.Assertion) []v1alpha1.Assertion {
		list = slices.Clone(list)
		for i := range list {
			if m := list[i].Message; m != nil {
				list[i].Message = toStringMessage(m.Original())
			}
		}
		return list
	}
	a.Any, a.All = wrap(a.Any), wrap(a.All)
	return a
}

// toStringMessage returns the template with every {{ expr }} made
// {{ to_string((expr)) }}.
func toStringMessage(template string) *v1alpha1.Message {
	text := templateExpr.ReplaceAllStringFunc(template, func(m string) string {
		expr := strings.TrimSpace(m[2 : len(m)-2])
		return "{{ to_string((" + expr + ")) }}"
	})
	var out v1alpha1.Message
	data, _ := json.Marshal(text)
	_ = out.UnmarshalJSON(data) // a string always decodes
	return &out
}
