package judge

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/state"
)

// sessionKeep is how many of a session's last tools its history keeps.
const sessionKeep = 10

// readSession puts the call's history in doc: its session's (by
// Mcp-Session-Id or the policy session header), and, whatever session ids
// the client sends, its principal's (and actor's) in the current and the
// previous SessionWindow, merged so that the document sees more history,
// never less. A history that cannot be read denies the call when an
// enforcing policy reads it (it reports false, with r's decision made),
// and is an audit finding when only audit policies do.
func (j *Judge) readSession(ctx context.Context, doc *attributes.Document, r *Result) bool {
	key, source := doc.SessionKey()
	now := j.cfg.Now()
	current, previous, next := doc.PrincipalKeys(now, j.cfg.SessionWindow)
	keys := []string{current, previous}
	if source != attributes.SessionFromPrincipal {
		keys = append(keys, key)
	}
	hists := make([]state.History, len(keys))
	errs := make([]error, len(keys))
	if j.cfg.State == nil {
		errs[0] = state.ErrNoStore
	} else {
		ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Go(func() { hists[i], errs[i] = j.cfg.State.History(ctx, k) })
		}
		wg.Wait()
		cancel()
	}
	if err := errors.Join(errs...); err != nil {
		return j.sessionFailed(r, "the session history could not be read", err)
	}
	m := mergeHistories(hists)
	doc.SetSession(source, m.Calls, m.Labels, m.LabelCalls, m.First, m.Last, m.Tools)
	// The previous window is checked, not recorded to: a call made just
	// before the windows turned is then seen by one made just after.
	r.session = &sessionCall{tool: doc.Tool.QualifiedName, labels: doc.Tool.Labels, entries: []state.Entry{
		{Key: current, Read: hists[0], Expires: now.Add(2 * j.cfg.SessionWindow)}, {Key: previous, Read: hists[1]}}}
	if len(keys) == 3 {
		r.session.entries = append(r.session.entries, state.Entry{Key: key, Read: hists[2], Expires: now.Add(j.cfg.SessionTTL)})
	}
	// And the next window must still be empty: a call recorded there, once
	// the windows turned, was decided without this one.
	r.session.entries = append(r.session.entries, state.Entry{Key: next})
	return true
}

// mergeHistories is the history a document sees of a call's histories:
// the principal's current and previous window (hists[0] and [1], which
// add up) and its session's (hists[2], when there is one), of which each
// count is the larger: more history, never less.
func mergeHistories(hists []state.History) state.History {
	cur, prev := hists[0], hists[1]
	m := state.History{Calls: cur.Calls + prev.Calls, LabelCalls: map[string]int64{}, Tools: cur.Tools, First: prev.First, Last: cur.Last}
	if m.First.IsZero() {
		m.First = cur.First
	}
	if m.Last.IsZero() {
		m.Last = prev.Last
	}
	if len(m.Tools) == 0 {
		m.Tools = prev.Tools
	}
	for _, h := range []state.History{cur, prev} {
		for l, n := range h.LabelCalls {
			m.LabelCalls[l] += n
		}
	}
	if len(hists) == 3 {
		s := hists[2]
		m.Calls = max(m.Calls, s.Calls)
		for l, n := range s.LabelCalls {
			m.LabelCalls[l] = max(m.LabelCalls[l], n)
		}
		if !s.First.IsZero() && (m.First.IsZero() || s.First.Before(m.First)) {
			m.First = s.First
		}
		if s.Last.After(m.Last) {
			m.Last, m.Tools = s.Last, s.Tools
		}
	}
	labels := map[string]bool{}
	for _, h := range hists {
		for _, l := range h.Labels {
			labels[l] = true
		}
	}
	m.Labels = slices.Sorted(maps.Keys(labels))
	if m.Tools == nil {
		m.Tools = []string{}
	}
	return m
}

// sessionAttempts bounds how many times a call is decided again because a
// concurrent call of its principal was recorded first; each waits longer,
// up to sessionBackoff, and none outlives the invocation's deadline.
const (
	sessionAttempts = 10
	sessionBackoff  = 250 * time.Millisecond
)

// recordSession adds an allowed call to its histories (at the REQUEST
// point: only there is a history read): its principal's current window,
// and its session, if it has one. A call is recorded only against the
// histories its decision read: when a concurrent call of the principal
// was recorded in between, the call is decided again on the histories
// as they are now, so that a burst sent at once is judged call after
// call, as a sequence is. A call granted by an approver keeps its grant:
// the policies judge it again on the new histories with the grant. It
// returns the document's value when the call was decided again, else nil.
func (j *Judge) recordSession(st *steps, id string, in *attributes.Input, r *Result) (value map[string]any) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(st.ctx, j.cfg.StateTimeout)
		err := j.cfg.State.Record(ctx, r.session.entries, r.session.tool, r.session.labels, j.cfg.Now(), sessionKeep)
		cancel()
		// Full jitter over a doubling window, so that the calls of a
		// burst do not meet again, sized to a DynamoDB round trip.
		wait := time.Duration(rand.Int64N(int64(min(10*time.Millisecond<<attempt, sessionBackoff))))
		deadline, hasDeadline := st.ctx.Deadline()
		switch {
		case err == nil:
			return
		case !errors.Is(err, state.ErrChanged):
			j.sessionFailed(r, "the session history could not be recorded", err)
			return
		case attempt == sessionAttempts || hasDeadline && time.Until(deadline) < wait+2*j.cfg.StateTimeout:
			j.sessionFailed(r, "concurrent calls of this principal kept changing its session history: send the call again", err)
			return
		}
		select {
		case <-st.ctx.Done():
			j.sessionFailed(r, "the session history could not be recorded", st.ctx.Err())
			return
		case <-time.After(wait):
		}
		if r.approval != nil {
			if !j.readSession(st.ctx, r.Document, r) {
				return
			}
			// The grant stands; the policies judge the call again on
			// the histories as they are now, with it.
			granted := r.Decision.Approval
			value = r.Document.Value()
			if d := decision.FromResult(id, j.cfg.Engine.Evaluate(st.ctx, value)); d.Effect != decision.Allow {
				d.Approval = granted
				r.Decision = d
				return
			}
			continue
		}
		// A new decision: the last attempt's findings are not carried on.
		r.Decision = decision.Decision{ID: id}
		value = j.decide(st, id, in, r)
		switch r.Decision.Effect {
		case decision.Allow:
		case decision.Approval:
			// The approval path starts from the call as sent: the caller
			// sends it again and is asked then.
			d := decision.Denied(id, decision.CodeUndecidable,
				"a concurrent call changed the session history and this call now needs approval: send it again")
			d.Findings = r.Decision.Findings
			r.Decision = d
			return
		default:
			return
		}
	}
}

// sessionFailed handles a session history that could not be read or
// written: a denial when enforcing policies read it, else an audit
// finding. It reports whether the decision may go on.
func (j *Judge) sessionFailed(r *Result, what string, err error) bool {
	return unread(r, "(session)", j.cfg.Sessions, what, err)
}

// unread handles state that policies of mode read (a session history, a
// tool's definition) and that could not be read: a denial when the mode
// is enforce, else an audit finding of source. It reports whether the
// decision may go on.
func unread(r *Result, source string, mode policy.Mode, what string, err error) bool {
	f := policy.Finding{Policy: source, Kind: policy.Error, Mode: mode, Message: what, Detail: err.Error()}
	if mode != policy.ModeEnforce {
		r.Decision.Findings = append(r.Decision.Findings, f)
		return true
	}
	r.Decision = decision.Denied(r.Decision.ID, decision.CodeUndecidable, what)
	r.Decision.Findings = []policy.Finding{f}
	return false
}

// limit counts an allowed call against the rate limits that match it, and
// denies it if one is exceeded or cannot be counted (and does not fail
// open). Only the REQUEST point counts: the RESPONSE point judges the same
// call again.
func (j *Judge) limit(ctx context.Context, value map[string]any, r *Result) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	r.RateLimits = j.cfg.RateLimits.Check(ctx, j.cfg.State, value, j.cfg.Now())
	v := ratelimit.Denial(r.RateLimits)
	if v.Reason == "" {
		return
	}
	code := decision.CodeRateLimited
	if v.Undecidable {
		code = decision.CodeUndecidable
	}
	d := decision.Denied(r.Decision.ID, code, v.Reason)
	d.RetryAfter = v.RetryAfter
	d.Findings = append(r.Decision.Findings, v.Findings...) // audit findings stay
	r.Decision = d
}

// hold denies the message when an enforcing containment watching it holds
// its caller, or cannot tell whether it does (and does not fail open): the
// policies' findings stay, and the approval flow, the history and the
// rate limits are spared what the caller sends while held. It reports
// whether the message's denial is spared the count too: its caller is
// held, or whether it is could not be read.
func (j *Judge) hold(st *steps, watched ratelimit.Watched, r *Result) bool {
	st.next("containment")
	ctx, cancel := context.WithTimeout(st.ctx, j.cfg.StateTimeout)
	defer cancel()
	outcomes := watched.Held(ctx, j.cfg.State, j.cfg.Now())
	r.Containment = append(r.Containment, outcomes...)
	v := ratelimit.HeldVerdict(outcomes)
	if v.Reason == "" {
		return len(outcomes) > 0 // failed open: the count would fail as the read did
	}
	code := decision.CodeQuarantined
	if v.Undecidable {
		code = decision.CodeUndecidable
	}
	d := decision.Denied(r.Decision.ID, code, v.Reason)
	d.RetryAfter = v.RetryAfter
	d.Findings = append(r.Decision.Findings, v.Findings...)
	r.Decision = d
	return true
}

// countedBy returns whether r's denial counts toward a containment keyed
// on key: it counts when it is the caller's doing. One by a policy or an
// approver counts, also when a policy's rule erred (on what the caller
// sent, often: the error makes it -32002, and must not spare the caller
// the count); one by a rate limit counts where the limit counts the
// caller's calls alone (see ratelimit.Covers; an approver's queue is per
// principal id); an approval confirmation that does not verify counts.
// Nil when it counts toward none: one of the interceptor's own steps (a
// table, a bundle, a limit that could not be counted, a task binding,
// which may have expired: their findings name no policy of the bundle's,
// "(session)"), or one by policies that counts leaves out alone (those
// that judge what a target listed: a target that changes a tool would
// have its callers held).
func countedBy(r *Result, counts func(policy string) bool) func(key []string) bool {
	d := r.Decision
	if d.Effect != decision.Deny {
		return nil
	}
	var keys [][]string
	for _, o := range r.RateLimits {
		if o.Result == ratelimit.Exceeded {
			keys = append(keys, o.Key)
		}
	}
	if d.Code == decision.CodeRateLimited && len(keys) == 0 {
		keys = [][]string{{"principal.id"}} // the approvals pending per requester
	}
	others := false // findings of spared policies or of the interceptor's own steps
	for _, f := range d.Findings {
		switch {
		case f.Mode != policy.ModeEnforce || f.Kind != policy.Violation && f.Kind != policy.Error:
		case f.Rule == ratelimit.FindingRule && slices.ContainsFunc(r.RateLimits, func(o ratelimit.Outcome) bool { return o.Limit == f.Policy }):
			// A limit's: its outcome says (keys).
		case counts(f.Policy):
			return everyKey
		case f.Policy == "(approval)" && f.Rule == ruleConfirmation:
			return everyKey // a confirmation forged, altered or moved to another call
		default:
			others = true
		}
	}
	switch {
	case len(keys) > 0:
		return func(key []string) bool {
			return slices.ContainsFunc(keys, func(k []string) bool { return ratelimit.Covers(k, key) })
		}
	case d.Code == decision.CodePolicyDenied && !others:
		return everyKey // an approver's, which carries no finding of its own
	}
	return nil
}

func everyKey([]string) bool { return true }

// countDenial counts a denied message against the containments watching
// it; a quarantine it begins, or a count that fails, is a finding of the
// denial.
func (j *Judge) countDenial(ctx context.Context, watched ratelimit.Watched, callers func(key []string) bool, r *Result) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	outcomes := watched.Count(ctx, j.cfg.State, j.cfg.Now(), callers)
	r.Containment = append(r.Containment, outcomes...)
	r.Decision.Findings = append(r.Decision.Findings, ratelimit.CountFindings(outcomes)...)
}

// definitionRead is what was last listed of a called tool.
type definitionRead struct {
	def attributes.Definition
	err error
}

// readDefinition reads what was last listed of the tool name, while the
// caller goes on.
func (j *Judge) readDefinition(ctx context.Context, name string) <-chan definitionRead {
	out := make(chan definitionRead, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
		defer cancel()
		d, err := j.cfg.Pins.Call(ctx, j.cfg.State, name, j.cfg.Now())
		out <- definitionRead{d, err}
	}()
	return out
}

// takeDefinition puts a called tool's definition in doc. One that could
// not be read denies the call when an enforcing policy reads it (it
// reports false, with r's decision made), and is an audit finding when
// only audit policies do.
func (j *Judge) takeDefinition(read definitionRead, doc *attributes.Document, r *Result) bool {
	doc.Tool.Definition = read.def
	return read.err == nil || unread(r, "(definition)", j.cfg.Definitions, "what was last listed of the tool could not be read", read.err)
}
