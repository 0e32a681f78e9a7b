// Package pins holds tool definitions to the ones reviewed. A target can
// change a tool's description (an instruction to the model) or its input
// schema (a new capability) after it was reviewed, and MCP 2026-07-28
// makes lists stateless, so a list may differ on every request. A bundle's
// ToolPins document pins tools by wire name to the digest of their
// definition; trusting on first use, it pins every other tool to the
// first definition of it seen, in the state table. Each listed definition
// is then pinned, changed or unpinned, which the attribute document says
// (tool.definition) and policies decide on.
package pins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/state"
)

// Spec is the spec of a ToolPins document.
type Spec struct {
	// TrustOnFirstUse pins each tool that Tools does not name to the
	// first definition of it seen, in the state table (first writer wins,
	// across every instance, for good).
	TrustOnFirstUse bool `json:"trustOnFirstUse,omitempty"`
	// Tools pins tools by wire name to the digest of their definition, as
	// toolgate pin writes them.
	Tools map[string]string `json:"tools,omitempty"`
}

// Digest returns the digest of a tools/list entry: "sha256:" and the hex
// SHA-256 of its RFC 8785 form, without _meta (which carries what a
// server says about a listing, not what the model reads); "" when it is
// not a JSON object.
func Digest(entry any) string {
	m, ok := entry.(map[string]any)
	if !ok {
		return ""
	}
	if _, ok := m["_meta"]; ok {
		m = maps.Clone(m)
		delete(m, "_meta")
	}
	d := codec.Digest(m)
	if d == "" {
		return ""
	}
	return "sha256:" + d
}

var validDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Set is a bundle's pins, and what this instance knows of the state
// table's. It is safe for concurrent use. A nil Set pins nothing.
type Set struct {
	spec Spec

	mu    sync.Mutex
	known map[string]knowledge
}

// knowledge is what this instance last read or wrote of a tool's state:
// a first-use pin is never replaced, so it is kept; a change may be
// cleared by another instance, so it is read again after cacheFor.
type knowledge struct {
	pin, changed string
	at           time.Time
}

// cacheFor is how long a tool's state read from the table serves lists
// before it is read again; maxKnown bounds the tools remembered.
const (
	cacheFor = time.Minute
	maxKnown = 10000
)

// MaxFirstUse is the most tools one list pins on first use: a target
// that lists thousands of new names buys at most this many writes, and
// the rest stay unpinned until a later list.
const MaxFirstUse = 100

// Compile checks a ToolPins document.
func Compile(spec Spec) (*Set, error) {
	for _, name := range slices.Sorted(maps.Keys(spec.Tools)) {
		if target, tool := mcp.SplitToolName(name); target == "" || tool == "" || strings.ContainsAny(name, "*?") {
			return nil, fmt.Errorf("spec.tools: %q is not a tool's wire name (target___tool, no wildcard)", name)
		}
		if d := spec.Tools[name]; !validDigest.MatchString(d) {
			return nil, fmt.Errorf("spec.tools.%s: %q is not a digest: want sha256: and 64 lower-case hex digits, as toolgate pin writes", name, d)
		}
	}
	return &Set{spec: spec, known: map[string]knowledge{}}, nil
}

// Forgetful returns a Set with s's pins that knows nothing of a table:
// for a store of its own (each bundle test case has one).
func (s *Set) Forgetful() *Set {
	if s == nil {
		return nil
	}
	return &Set{spec: s.spec, known: map[string]knowledge{}}
}

// FirstUse reports whether s pins tools on first use.
func (s *Set) FirstUse() bool { return s != nil && s.spec.TrustOnFirstUse }

// Outcome is what a list did of one tool's definition that a record
// keeps: a change seen, or a pin made on first use.
type Outcome struct {
	Tool   string `json:"tool"`
	Status string `json:"status"`
	Pin    string `json:"pin"`
	Digest string `json:"digest"`
	// First: this instance recorded the change first (across every
	// instance), or made the pin.
	First bool `json:"first,omitempty"`
}

// List judges the definitions of a tools/list answer's entries against
// their pins, at now: it returns each listed tool's definition, what a
// record keeps, and an error when the state table could not be read or
// written (the definitions are then what the bundle's pins and this
// instance know). A first-use pin is made for each unpinned tool (at
// most MaxFirstUse), a change is recorded once per new digest, and a
// change recorded before is cleared when the pin is listed again.
func (s *Set) List(ctx context.Context, store state.Pins, entries []any, now time.Time) (map[string]attributes.Definition, []Outcome, error) {
	if s == nil {
		return nil, nil, nil
	}
	listed := make(map[string]string, len(entries)) // name: digest, a changed one if any
	var order []string
	for _, e := range entries {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			continue
		}
		d := Digest(e)
		prev, seen := listed[name]
		if !seen {
			order = append(order, name)
		}
		// A name listed twice with two definitions: at most one is the
		// pin, and the other is what is judged.
		if !seen || prev == s.pinOf(name) {
			listed[name] = d
		}
	}
	var errs []error
	if store == nil {
		if s.spec.TrustOnFirstUse {
			errs = append(errs, state.ErrNoStore)
		}
	} else if err := s.refresh(ctx, store, order, now); err != nil {
		errs = append(errs, err)
		store = nil // what the table holds is unknown: write nothing
	}
	defs := make(map[string]attributes.Definition, len(order))
	var outs []Outcome
	var mu sync.Mutex // guards defs, outs and errs while the writes run
	done := func(name string, d attributes.Definition, o []Outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		defs[name] = d
		outs = append(outs, o...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	var writes []func(context.Context)
	firstUse := 0
	for _, name := range order {
		digest, pin := listed[name], s.pinOf(name)
		d := judged(pin, digest)
		defs[name] = d
		switch {
		case store == nil || digest == "":
		case pin == "" && s.spec.TrustOnFirstUse && firstUse < MaxFirstUse:
			firstUse++
			writes = append(writes, func(ctx context.Context) {
				p, err := store.PinFirst(ctx, name, digest, now)
				if err != nil {
					done(name, d, nil, err)
					return
				}
				s.learn(name, func(k *knowledge) { k.pin = p })
				d := judged(p, digest)
				o := []Outcome{{Tool: name, Status: d.Status, Pin: p, Digest: digest, First: p == digest}}
				if d.Status == attributes.DefinitionChanged {
					o, err = s.see(ctx, store, name, p, digest, now)
				}
				done(name, d, o, err)
			})
		case pin == "":
		case s.knowledgeOf(name).changed != changedOf(d):
			// What the table holds differs from what was listed: a
			// change to record, or one to clear.
			writes = append(writes, func(ctx context.Context) {
				o, err := s.see(ctx, store, name, pin, digest, now)
				done(name, d, o, err)
			})
		case d.Status == attributes.DefinitionChanged:
			outs = append(outs, Outcome{Tool: name, Status: d.Status, Pin: pin, Digest: digest})
		}
	}
	run(ctx, writes)
	slices.SortFunc(outs, func(a, b Outcome) int { return strings.Compare(a.Tool, b.Tool) })
	return defs, outs, errors.Join(errs...)
}

// changedOf is the change d records: its digest when changed, else "".
func changedOf(d attributes.Definition) string {
	if d.Status == attributes.DefinitionChanged {
		return d.Digest
	}
	return ""
}

// see records that name's definition was listed as digest against pin,
// and returns what a record keeps of it.
func (s *Set) see(ctx context.Context, store state.Pins, name, pin, digest string, now time.Time) ([]Outcome, error) {
	first, err := store.SeeDefinition(ctx, name, pin, digest, now)
	if err != nil {
		return nil, err
	}
	changed := ""
	var o []Outcome
	if digest != pin {
		changed = digest
		o = append(o, Outcome{Tool: name, Status: attributes.DefinitionChanged, Pin: pin, Digest: digest, First: first})
	}
	s.learn(name, func(k *knowledge) { k.changed = changed })
	return o, nil
}

// run runs fns, at most 16 at once.
func run(ctx context.Context, fns []func(context.Context)) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, fn := range fns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(ctx)
		})
	}
	wg.Wait()
}

// judged is a definition of digest against pin.
func judged(pin, digest string) attributes.Definition {
	switch {
	case pin == "":
		return attributes.Definition{Status: attributes.DefinitionUnpinned, Digest: digest}
	case digest == pin:
		return attributes.Definition{Status: attributes.DefinitionPinned, Digest: digest, Pin: pin}
	}
	return attributes.Definition{Status: attributes.DefinitionChanged, Digest: digest, Pin: pin}
}

// pinOf returns name's pin: the bundle's, else the first use's this
// instance knows.
func (s *Set) pinOf(name string) string {
	if p, ok := s.spec.Tools[name]; ok {
		return p
	}
	return s.knowledgeOf(name).pin
}

func (s *Set) knowledgeOf(name string) knowledge {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[name]
}

// learn updates what this instance knows of name, while it has room.
func (s *Set) learn(name string, update func(*knowledge)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.known[name]
	if !ok && len(s.known) >= maxKnown {
		return
	}
	update(&k)
	s.known[name] = k
}

// refresh reads the state of the names this instance has not read for
// cacheFor.
func (s *Set) refresh(ctx context.Context, store state.Pins, names []string, now time.Time) error {
	var stale []string
	s.mu.Lock()
	for _, n := range names {
		if k, ok := s.known[n]; !ok || now.Sub(k.at) >= cacheFor || now.Before(k.at) {
			stale = append(stale, n)
		}
	}
	s.mu.Unlock()
	if len(stale) == 0 {
		return nil
	}
	got, err := store.PinStates(ctx, stale)
	if err != nil {
		return err
	}
	for _, n := range stale {
		st := got[n]
		s.learn(n, func(k *knowledge) { *k = knowledge{pin: st.Pin, changed: st.Changed, at: now} })
	}
	return nil
}

// Call returns the definition of the tool a call names, as the table
// says it was last listed: changed while a change is recorded, else its
// pin. It reads the table (a call must not be judged on what another
// instance has since seen changed).
func (s *Set) Call(ctx context.Context, store state.Pins, name string, now time.Time) (attributes.Definition, error) {
	if s == nil {
		return attributes.Definition{Status: attributes.DefinitionUnread}, nil
	}
	bundlePin := s.spec.Tools[name]
	if store == nil {
		if bundlePin == "" && s.spec.TrustOnFirstUse {
			return attributes.Definition{Status: attributes.DefinitionUnread}, state.ErrNoStore
		}
		// Without a table no change is recorded: the bundle's pin is
		// all there is to say.
		return attributes.Definition{Status: attributes.DefinitionUnread, Pin: bundlePin}, state.ErrNoStore
	}
	got, err := store.PinStates(ctx, []string{name})
	if err != nil {
		return attributes.Definition{Status: attributes.DefinitionUnread, Pin: bundlePin}, err
	}
	st := got[name]
	s.learn(name, func(k *knowledge) { *k = knowledge{pin: st.Pin, changed: st.Changed, at: now} })
	pin := bundlePin
	if pin == "" && s.spec.TrustOnFirstUse {
		pin = st.Pin
	}
	switch {
	case pin == "":
		return attributes.Definition{Status: attributes.DefinitionUnpinned}, nil
	case st.Changed != "" && st.Changed != pin:
		return attributes.Definition{Status: attributes.DefinitionChanged, Digest: st.Changed, Pin: pin}, nil
	}
	return attributes.Definition{Status: attributes.DefinitionPinned, Digest: pin, Pin: pin}, nil
}

// Known returns what this instance knows of name's definition without
// reading the table: for the tools a search answer names, which are not
// definitions to judge (a search's shape is its own).
func (s *Set) Known(name string) attributes.Definition {
	if s == nil {
		return attributes.Definition{Status: attributes.DefinitionUnread}
	}
	k := s.knowledgeOf(name)
	pin := s.pinOf(name)
	switch {
	case pin != "" && k.changed != "" && k.changed != pin:
		return attributes.Definition{Status: attributes.DefinitionChanged, Digest: k.changed, Pin: pin}
	case pin != "" && (!k.at.IsZero() || k.pin != ""):
		return attributes.Definition{Status: attributes.DefinitionPinned, Digest: pin, Pin: pin}
	}
	return attributes.Definition{Status: attributes.DefinitionUnread, Pin: pin}
}
