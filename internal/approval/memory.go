package approval

import (
	"cmp"
	"context"
	"fmt"
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
	requester map[string]*requests
	forwarded map[string][]time.Time // binding → the marks' expiries
	waiters   map[string]string
}

// requests is what Limits count of one requester.
type requests struct {
	pending     map[string]int64
	count       int
	windowStart int64
}

func (m *Memory) init() {
	if m.byBinding == nil {
		m.byBinding, m.bindings, m.nonces = map[string]Approval{}, map[string]string{}, map[string]time.Time{}
		m.requester, m.forwarded, m.waiters = map[string]*requests{}, map[string][]time.Time{}, map[string]string{}
	}
}

// Request implements Store.
func (m *Memory) Request(_ context.Context, a Approval, now time.Time, lim Limits) (Approval, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if old := m.byBinding[a.Binding]; old.Alive(now) {
		return old, false, nil
	}
	r := m.requester[a.Requester]
	if r == nil {
		r = &requests{pending: map[string]int64{}}
		m.requester[a.Requester] = r
	}
	if err := reserve(r.pending, &r.count, &r.windowStart, a.ID, a.Expires, now, lim); err != nil {
		return Approval{}, false, err
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

// Settle implements Store.
func (m *Memory) Settle(_ context.Context, a Approval, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, err := m.byID(a.ID)
	if err != nil {
		return err
	}
	if old.Status != Pending || !now.Before(old.Expires) {
		return fmt.Errorf("%w: it changed while deciding", ErrDecided)
	}
	m.byBinding[a.Binding] = a
	if r := m.requester[a.Requester]; r != nil {
		delete(r.pending, a.ID)
	}
	return nil
}

// MarkForwarded implements Store.
func (m *Memory) MarkForwarded(_ context.Context, binding string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.forwarded[binding] = append(m.forwarded[binding], expires)
	return nil
}

// TakeForwarded implements Store.
func (m *Memory) TakeForwarded(_ context.Context, binding string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	marks := slices.DeleteFunc(m.forwarded[binding], func(exp time.Time) bool { return !now.Before(exp) })
	if len(marks) == 0 {
		delete(m.forwarded, binding)
		return false, nil
	}
	m.forwarded[binding] = marks[1:]
	return true, nil
}

// PeekForwarded implements Store.
func (m *Memory) PeekForwarded(_ context.Context, binding string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.forwarded[binding], now.Before), nil
}

// SetWaiter implements Store.
func (m *Memory) SetWaiter(_ context.Context, id, token string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.waiters[id]; ok {
		return false, nil
	}
	m.waiters[id] = token
	return true, nil
}

// Waiter implements Store.
func (m *Memory) Waiter(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	return m.waiters[id], nil
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
