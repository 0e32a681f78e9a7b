package policy

import "github.com/jmespath-community/go-jmespath/pkg/binding"

// frame binds a rule's context entries for one evaluation, in one
// allocation for up to four entries (two beyond): a slot per entry, evaluated at most
// once and only when read, as kyverno-json's delegates are. (A delegate, its
// sync.OnceValues and a binding per entry were a quarter of a decision's
// allocations.) A frame belongs to one evaluation, on one goroutine.
type frame struct {
	entries  []*contextEntry
	parent   binding.Bindings
	resource any
	slots    []slot
	inline   [4]slot // the slots of a rule with few entries, as most have
}

// slot is entry i of a frame. It is the entry's binding, and the bindings
// seen by the entry after it: entries 0..i, then the frame's parent.
type slot struct {
	f     *frame
	i     int
	done  bool
	value any
	err   error
	// shared, for a list-shared entry of a series of list documents, is
	// the first document's slot, whose value the others use.
	shared *slot
}

// newFrame binds entries for one evaluation of resource and returns the
// bindings the rule's clauses see.
func newFrame(entries []*contextEntry, resource any, parent binding.Bindings, sh shared) binding.Bindings {
	f := &frame{entries: entries, parent: parent, resource: resource}
	if len(entries) <= len(f.inline) {
		f.slots = f.inline[:len(entries)]
	} else {
		f.slots = make([]slot, len(entries))
	}
	for i, e := range entries {
		s := &f.slots[i]
		s.f, s.i = f, i
		if e.listShared && sh != nil {
			if first, ok := sh[e]; ok {
				s.shared = first
			} else {
				sh[e] = s
			}
		}
	}
	return &f.slots[len(entries)-1]
}

// Value evaluates the entry once, with the entries before it bound.
func (s *slot) Value() (any, error) {
	if s.shared != nil {
		return s.shared.Value()
	}
	if !s.done {
		var view binding.Bindings = s.f.parent
		if s.i > 0 {
			view = &s.f.slots[s.i-1]
		}
		s.value, s.err = s.f.entries[s.i].eval(s.f.resource, view)
		s.done = true
	}
	return s.value, s.err
}

// Get finds name among entries i down to 0, then in the frame's parent.
func (s *slot) Get(name string) (binding.Binding, error) {
	for j := s.i; j >= 0; j-- {
		if e := s.f.entries[j]; e.name == name {
			if e.constant != nil {
				return e.constant, nil
			}
			return &s.f.slots[j], nil
		}
	}
	return s.f.parent.Get(name)
}

// Register binds name in front of the slot's bindings.
func (s *slot) Register(name string, value binding.Binding) binding.Bindings {
	return &bindings{name: name, value: value, parent: s}
}
