package policy

import (
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
)

// bindings is a persistent linked list of variable bindings. The library's
// own implementation copies a map on every Register, and a rule registers
// several ($payload, $policy, $rule, each context entry, each projection
// binding), which made copying the largest single cost of evaluating a
// simple rule. Lookups walk a list of a handful of entries.
type bindings struct {
	name   string
	value  binding.Binding
	parent binding.Bindings // a *bindings, a rule's context (slot) or nil
}

func (b *bindings) Get(name string) (binding.Binding, error) {
	for n := b; n != nil; {
		if n.name == name {
			return n.value, nil
		}
		next, ok := n.parent.(*bindings)
		if !ok && n.parent != nil {
			return n.parent.Get(name)
		}
		n = next
	}
	return nil, fmt.Errorf("variable not defined: %s", name)
}

func (b *bindings) Register(name string, value binding.Binding) binding.Bindings {
	return &bindings{name: name, value: value, parent: b}
}

// payload binds $payload to a document, in one allocation.
type payload struct {
	bindings
	value any
}

// Value is the document: payload is its own binding.
func (p *payload) Value() (any, error) { return p.value, nil }

func newPayload(doc any) *bindings {
	p := &payload{value: doc}
	p.bindings = bindings{name: "$payload", value: p}
	return &p.bindings
}
