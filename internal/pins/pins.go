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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
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
// server says about a listing, not what the model reads). An entry that
// has no RFC 8785 form (a number beyond a double) is digested in its JSON
// form with members sorted: it must never go without a digest, or a
// target could keep a tool out of pinning; "" when it is not a JSON
// object.
func Digest(entry any) string {
	m, ok := entry.(map[string]any)
	if !ok {
		return ""
	}
	if d := codec.DigestWithout(m, "_meta", "sha256:"); d != "" {
		return d
	}
	m = maps.Clone(m)
	delete(m, "_meta")
	b, err := codec.MarshalJSON(m)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// key is the name a tool's pin is kept and looked up under: its wire name
// in lower case, so that a name in another case (which a gateway or a
// client may take for the same tool) shares its pin.
func key(name string) string { return strings.ToLower(name) }

var validDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Set is a bundle's pins, and what this instance knows of the state
// table's. It is safe for concurrent use. A nil Set pins nothing.
type Set struct {
	spec  Spec
	tools map[string]string // spec.Tools by key

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

// Compile checks a ToolPins document.
func Compile(spec Spec) (*Set, error) {
	tools := make(map[string]string, len(spec.Tools))
	for _, name := range slices.Sorted(maps.Keys(spec.Tools)) {
		target, tool := mcp.SplitToolName(name)
		if (target == "" || tool == "") && name != mcp.SearchTool || strings.ContainsAny(name, "*? \t\n") {
			return nil, fmt.Errorf("spec.tools: %q is not a tool's wire name (target___tool, no wildcard or blank)", name)
		}
		if d := spec.Tools[name]; !validDigest.MatchString(d) {
			return nil, fmt.Errorf("spec.tools.%s: %q is not a digest: want sha256: and 64 lower-case hex digits, as toolgate pin writes", name, d)
		}
		if _, dup := tools[key(name)]; dup {
			return nil, fmt.Errorf("spec.tools: %q is pinned twice, in two cases", name)
		}
		tools[key(name)] = spec.Tools[name]
	}
	return &Set{spec: spec, tools: tools, known: map[string]knowledge{}}, nil
}

// Forgetful returns a Set with s's pins that knows nothing of a table:
// for a store of its own (each bundle test case has one).
func (s *Set) Forgetful() *Set {
	if s == nil {
		return nil
	}
	return &Set{spec: s.spec, tools: s.tools, known: map[string]knowledge{}}
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

// Bounds of one list's work: the tools judged (a list's further tools are
// hidden unjudged, see judge.MaxJudged), the first-use pins made and the
// changes recorded (the rest are judged all the same, and recorded by a
// later list).
const (
	MaxListed    = 5000
	MaxFirstUse  = 100
	MaxRecorded  = 100
	readParallel = 8
)

// listed is one tool of a list: every definition listed under its name
// (in any case), and the names it was listed under.
type listed struct {
	digests []string
	names   []string
	// digest and name back the slices while they hold one each (almost
	// every tool): no allocation of its own.
	digest, name [1]string
}

// List judges the definitions of a tools/list answer's entries against
// their pins, at now: it returns each listed tool's definition, by wire
// name, what a record keeps, and an error when the state table could not
// be read or written (the definitions are then what the bundle's pins and
// this instance know). A tool listed twice with two definitions is
// changed unless both are its pin. A first-use pin is made for each
// unpinned tool (at most MaxFirstUse, chosen at random when more are
// new), each change is recorded (at most MaxRecorded: a conditional
// write, once per new digest across every instance), and a change
// recorded before is cleared when the pin is listed again (at most
// MaxRecorded). A change that is not recorded (past the bounds, or a
// write or the read failed) marks its target instead, for markFor.
func (s *Set) List(ctx context.Context, store state.Pins, entries []any, now time.Time) (map[string]attributes.Definition, []Outcome, error) {
	if s == nil {
		return nil, nil, nil
	}
	tools := make(map[string]*listed, len(entries))
	all := make([]listed, 0, min(len(entries), MaxListed)) // one allocation for every tool
	order := make([]string, 0, cap(all))
	for _, e := range entries {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			continue
		}
		k := key(name)
		d := Digest(e)
		t, ok := tools[k]
		if !ok {
			if len(order) == MaxListed {
				continue
			}
			all = append(all, listed{digest: [1]string{d}, name: [1]string{name}})
			t = &all[len(all)-1]
			t.digests, t.names = t.digest[:], t.name[:]
			tools[k], order = t, append(order, k)
			continue
		}
		if !slices.Contains(t.digests, d) {
			t.digests = append(t.digests, d)
		}
		if !slices.Contains(t.names, name) {
			t.names = append(t.names, name)
		}
	}
	var errs []error
	table := store // marks go to it even when what it holds is unknown
	known, fresh, err := s.read(ctx, store, order, now)
	if err != nil {
		errs = append(errs, err)
		store = nil // what the table holds is unknown: write nothing else
	} else if store == nil && s.spec.TrustOnFirstUse {
		errs = append(errs, state.ErrNoStore)
	}
	defs := make(map[string]attributes.Definition, len(order))
	var outs []Outcome
	var mu sync.Mutex // guards defs, outs, errs and marks while the writes run
	done := func(t *listed, d attributes.Definition, o []Outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range t.names {
			defs[n] = d
		}
		outs = append(outs, o...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	marks := map[string]bool{} // targets with a change not recorded
	unrecorded := func(k string) {
		mu.Lock()
		defer mu.Unlock()
		marks[targetOf(k)] = true
	}
	// Changes are written first, then first-use pins, then clears: a
	// list that runs out of time loses the least telling writes.
	var changes, firsts, clears []func(context.Context)
	var unpinned []string
	for _, k := range order {
		t, st := tools[k], known[k]
		pin := s.pinOf(k, st)
		d := judged(pin, t.digests)
		done(t, d, nil, nil)
		switch {
		case store == nil:
			if d.Status == attributes.DefinitionChanged {
				unrecorded(k) // known without the table, and not recorded in it
			}
		case pin == "" && s.spec.TrustOnFirstUse:
			unpinned = append(unpinned, k)
		case pin == "":
		case d.Status == attributes.DefinitionChanged && fresh[k] && st.Changed == d.Digest:
			// Recorded already, as the table said just now.
			outs = append(outs, Outcome{Tool: t.names[0], Status: d.Status, Pin: pin, Digest: d.Digest})
		case d.Status == attributes.DefinitionChanged && len(changes) < MaxRecorded,
			d.Status == attributes.DefinitionPinned && st.Changed != "" && len(clears) < MaxRecorded:
			// A change is written unless the table just said it holds it
			// (another instance may have cleared it since this one knew);
			// a pin listed again clears one (a clear left for a later
			// list leaves the tool changed meanwhile).
			write := func(ctx context.Context) {
				o, err := s.see(ctx, store, k, t.names[0], pin, d.Digest, now)
				if err != nil && d.Status == attributes.DefinitionChanged {
					unrecorded(k)
				}
				done(t, d, o, err)
			}
			if d.Status == attributes.DefinitionChanged {
				changes = append(changes, write)
			} else {
				clears = append(clears, write)
			}
		case d.Status == attributes.DefinitionChanged:
			// Past what one list records: the tool's target is marked
			// instead, so that its calls are not judged on a table that
			// lacks the change.
			unrecorded(k)
			outs = append(outs, Outcome{Tool: t.names[0], Status: d.Status, Pin: pin, Digest: d.Digest})
		}
	}
	if len(unpinned) > MaxFirstUse {
		// Which unpinned tools are pinned is not the list's order: a
		// target that put 100 new names before a tool would keep it
		// unpinned for ever.
		rand.Shuffle(len(unpinned), func(i, j int) { unpinned[i], unpinned[j] = unpinned[j], unpinned[i] })
	}
	for i, k := range unpinned {
		t := tools[k]
		if i >= MaxFirstUse {
			if len(t.digests) > 1 {
				unrecorded(k) // listed changed, and no pin says so to its calls
			}
			continue
		}
		firsts = append(firsts, func(ctx context.Context) {
			p, err := store.PinFirst(ctx, k, t.digests[0], now)
			if err != nil {
				if len(t.digests) > 1 {
					unrecorded(k)
				}
				done(t, judged("", t.digests), nil, err)
				return
			}
			s.learn(k, func(kn *knowledge) { kn.pin = p })
			d := judged(p, t.digests)
			o := []Outcome{{Tool: t.names[0], Status: attributes.DefinitionPinned, Pin: p, Digest: p, First: p == t.digests[0]}}
			if d.Status == attributes.DefinitionChanged {
				if o, err = s.see(ctx, store, k, t.names[0], p, d.Digest, now); err != nil {
					unrecorded(k)
				}
			}
			done(t, d, o, err)
		})
	}
	run(ctx, slices.Concat(changes, firsts, clears))
	if table != nil && len(marks) > 0 {
		// The marks have their own time: they are what keeps calls from
		// reading pinned when the writes before them ran out of it.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markWithin)
		defer cancel()
		for _, target := range slices.Sorted(maps.Keys(marks)) {
			if _, err := table.SeeDefinition(mctx, markerKey(target), "", unrecordedMark(now), now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	slices.SortFunc(outs, func(a, b Outcome) int { return strings.Compare(a.Tool, b.Tool) })
	return defs, outs, errors.Join(errs...)
}

// markWithin is the time the marks of a list have, whatever its writes
// before them took.
const markWithin = time.Second

// see records that the tool k (listed as name) was listed as digest
// against pin, and returns what a record keeps of it.
func (s *Set) see(ctx context.Context, store state.Pins, k, name, pin, digest string, now time.Time) ([]Outcome, error) {
	first, err := store.SeeDefinition(ctx, k, pin, digest, now)
	if err != nil {
		return nil, err
	}
	changed := ""
	var o []Outcome
	if digest != pin {
		changed = digest
		o = append(o, Outcome{Tool: name, Status: attributes.DefinitionChanged, Pin: pin, Digest: digest, First: first})
	}
	s.learn(k, func(kn *knowledge) { kn.changed = changed })
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

// judged is the definition of a tool listed as digests against pin: the
// first digest that is not the pin is the one judged.
func judged(pin string, digests []string) attributes.Definition {
	digest := digests[0]
	if pin == "" {
		status := attributes.DefinitionUnpinned
		if len(digests) > 1 {
			status = attributes.DefinitionChanged // two definitions: one is not the other
		}
		return attributes.Definition{Status: status, Digest: digest}
	}
	for _, d := range digests {
		if d != pin {
			return attributes.Definition{Status: attributes.DefinitionChanged, Digest: d, Pin: pin}
		}
	}
	return attributes.Definition{Status: attributes.DefinitionPinned, Digest: digest, Pin: pin}
}

// pinOf returns the pin of the tool k: the bundle's, else, trusting on
// first use, the first use's as the table (st, when read) or this
// instance knows it.
func (s *Set) pinOf(k string, st state.PinState) string {
	if p, ok := s.tools[k]; ok {
		return p
	}
	if !s.spec.TrustOnFirstUse {
		return ""
	}
	if st.Pin != "" {
		return st.Pin
	}
	return s.knowledgeOf(k).pin
}

func (s *Set) knowledgeOf(k string) knowledge {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[k]
}

// learn updates what this instance knows of the tool k, while it has
// room; nothing depends on the room, only how often the table is read.
func (s *Set) learn(k string, update func(*knowledge)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kn, ok := s.known[k]
	if !ok && len(s.known) >= maxKnown {
		return
	}
	update(&kn)
	if kn == (knowledge{}) {
		delete(s.known, k) // a tool without state is not remembered
		return
	}
	s.known[k] = kn
}

// remember keeps st, the table's state of the tool k read at now; a tool
// without state is forgotten.
func (s *Set) remember(k string, st state.PinState, now time.Time) {
	kn := knowledge{}
	if st != (state.PinState{}) {
		kn = knowledge{pin: st.Pin, changed: st.Changed, at: now}
	}
	s.learn(k, func(old *knowledge) { *old = kn })
}

// read returns the state of the tools keys, from the table for those this
// instance has not read for cacheFor (at most readParallel BatchGetItems
// at once), else from what it knows; with no store, what it knows.
func (s *Set) read(ctx context.Context, store state.Pins, keys []string, now time.Time) (out map[string]state.PinState, fresh map[string]bool, err error) {
	out = make(map[string]state.PinState, len(keys))
	fresh = map[string]bool{}
	var stale []string
	s.mu.Lock()
	for _, k := range keys {
		kn, ok := s.known[k]
		if ok {
			out[k] = state.PinState{Pin: kn.pin, Changed: kn.changed}
		}
		if !ok || now.Sub(kn.at) >= cacheFor || now.Before(kn.at) {
			stale = append(stale, k)
		}
	}
	s.mu.Unlock()
	if store == nil || len(stale) == 0 {
		return out, fresh, nil
	}
	var chunks [][]string
	for len(stale) > 0 {
		n := min(len(stale), 100)
		chunks, stale = append(chunks, stale[:n]), stale[n:]
	}
	got := make([]map[string]state.PinState, len(chunks))
	errs := make([]error, len(chunks))
	sem := make(chan struct{}, readParallel)
	var wg sync.WaitGroup
	for i, c := range chunks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			got[i], errs[i] = store.PinStates(ctx, c)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, fresh, err
	}
	for i, c := range chunks {
		for _, k := range c {
			out[k], fresh[k] = got[i][k], true
			s.remember(k, got[i][k], now)
		}
	}
	return out, fresh, nil
}

// Call returns the definition of the tool a call names, as the table
// says it was last listed: changed while a change is recorded, else its
// pin. It reads the table (a call must not be judged on what another
// instance has since seen changed).
func (s *Set) Call(ctx context.Context, store state.Pins, name string, now time.Time) (attributes.Definition, error) {
	if s == nil {
		return attributes.Definition{Status: attributes.DefinitionUnread}, nil
	}
	k := key(name)
	bundlePin := s.tools[k]
	if store == nil {
		return attributes.Definition{Status: attributes.DefinitionUnread, Pin: bundlePin}, state.ErrNoStore
	}
	mk := markerKey(targetOf(k))
	got, err := store.PinStates(ctx, []string{k, mk})
	if err != nil {
		return attributes.Definition{Status: attributes.DefinitionUnread, Pin: bundlePin}, err
	}
	return s.stated(k, got[k], got[mk], now), nil
}

// markFor is how long a target's tools are judged changed after a list
// of it showed a change that was not recorded.
const markFor = 10 * time.Minute

// targetOf returns the target of the tool k ("" for the search tool).
func targetOf(k string) string {
	target, _ := mcp.SplitToolName(k)
	return target
}

// markerKey is where a target's mark of changes not recorded is kept:
// no tool's key (a tool's has the ___ separator, or is the search tool).
func markerKey(target string) string { return "(unrecorded)" + target }

// unrecordedMark is the mark written at now: a new one each time, so that
// the write refreshes when it was made.
func unrecordedMark(now time.Time) string {
	return "unrecorded@" + strconv.FormatInt(now.UnixNano(), 10)
}

// marked reports whether the mark st of a target is in force at now.
func marked(st state.PinState, now time.Time) bool {
	return strings.HasPrefix(st.Changed, "unrecorded@") && now.Sub(st.ChangedAt) < markFor
}

// stated is the definition the table's state st says the tool k has, as
// last listed, mark being its target's mark; st is remembered. A tool of
// a marked target is changed: a list showed a change of it that was not
// recorded, and it may be this tool's.
func (s *Set) stated(k string, st, mark state.PinState, now time.Time) attributes.Definition {
	s.remember(k, st, now)
	pin := s.tools[k]
	if pin == "" && s.spec.TrustOnFirstUse {
		pin = st.Pin
	}
	switch {
	case pin == "":
		return attributes.Definition{Status: attributes.DefinitionUnpinned}
	case st.Changed != "" && st.Changed != pin:
		return attributes.Definition{Status: attributes.DefinitionChanged, Digest: st.Changed, Pin: pin}
	case marked(mark, now):
		return attributes.Definition{Status: attributes.DefinitionChanged, Digest: "unrecorded", Pin: pin}
	}
	return attributes.Definition{Status: attributes.DefinitionPinned, Digest: pin, Pin: pin}
}

// Named returns the definitions of the tools a search answer names, as
// the table says they were last listed (see Call): a search answer's
// entries are not tools/list entries (their shape is the search's), so
// they are judged by what was listed. At most MaxSearched names are read;
// the others are unread.
func (s *Set) Named(ctx context.Context, store state.Pins, names []string, now time.Time) (map[string]attributes.Definition, error) {
	if s == nil {
		return nil, nil
	}
	keys := make([]string, 0, min(len(names), MaxSearched)+1)
	byKey := map[string][]string{}
	for _, n := range names {
		k := key(n)
		if _, ok := byKey[k]; !ok && len(keys) == MaxSearched {
			continue
		}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], n)
	}
	defs := make(map[string]attributes.Definition, len(names))
	if store == nil {
		return defs, state.ErrNoStore
	}
	tools := len(keys)
	for _, k := range keys[:tools] {
		if mk := markerKey(targetOf(k)); !slices.Contains(keys, mk) {
			keys = append(keys, mk)
		}
	}
	got, err := store.PinStates(ctx, keys)
	if err != nil {
		return defs, err
	}
	for _, k := range keys[:tools] {
		d := s.stated(k, got[k], got[markerKey(targetOf(k))], now)
		for _, n := range byKey[k] {
			defs[n] = d
		}
	}
	return defs, nil
}

// MaxSearched is the most tools of one search answer whose definitions
// are read.
const MaxSearched = 100
