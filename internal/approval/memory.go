package approval

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Store in process, for bundle tests and local runs: approvals
// last as long as the process. It is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	byBinding map[string]Approval
	bindings  map[string]string // id → binding
	nonces    map[string]time.Time
}

func (m *Memory) init() {
	if m.byBinding == nil {
		m.byBinding, m.bindings, m.nonces = map[string]Approval{}, map[string]string{}, map[string]time.Time{}
	}
}

// Request implements Store.
func (m *Memory) Request(_ context.Context, a Approval, now time.Time) (Approval, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if old := m.byBinding[a.Binding]; old.Alive(now) {
		return old, false, nil
	}
	m.byBinding[a.Binding], m.bindings[a.ID] = a, a.Binding
	return a, true, nil
}

// Consume implements Store.
func (m *Memory) Consume(_ context.Context, binding string, now time.Time) (Approval, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	a := m.byBinding[binding]
	if !a.Alive(now) || a.Status != Approved {
		return a, false, nil
	}
	a.Status, a.UsedAt = Used, now
	m.byBinding[binding] = a
	return a, true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID(id)
}

// byID returns the approval with id; m.mu is held.
func (m *Memory) byID(id string) (Approval, error) {
	m.init()
	a, ok := m.byBinding[m.bindings[id]]
	if !ok || a.ID != id {
		return Approval{}, ErrNotFound
	}
	return a, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, now time.Time) ([]Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Approval
	for _, a := range m.byBinding {
		if a.Alive(now) {
			out = append(out, a)
		}
	}
	sortApprovals(out)
	return out, nil
}

// Decide implements Store.
func (m *Memory) Decide(_ context.Context, id string, d Decision, now time.Time) (Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.byID(id)
	if err != nil {
		return a, err
	}
	if err := decide(&a, d, now); err != nil {
		return a, err
	}
	m.byBinding[a.Binding] = a
	return a, nil
}

// UseNonce implements Store.
func (m *Memory) UseNonce(_ context.Context, nonce string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, used := m.nonces[nonce]; used {
		return ErrReplayed
	}
	m.nonces[nonce] = expires
	return nil
}

func sortApprovals(as []Approval) {
	slices.SortFunc(as, func(a, b Approval) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
}
