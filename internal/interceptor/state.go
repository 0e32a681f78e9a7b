package interceptor

import (
	"context"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/state"
)

// sessionKeep is how many of a session's last tools its history keeps.
const sessionKeep = 10

// readSession puts the call's session history in doc. A history that
// cannot be read denies the call when an enforcing policy reads it (it
// reports false, with r's decision made), and is an audit finding when only
// audit policies do.
func (h *Handler) readSession(ctx context.Context, doc *attributes.Document, r *Result) bool {
	key, source := doc.SessionKey()
	hist, err := state.History{}, state.ErrNoStore
	if h.cfg.State != nil {
		ctx, cancel := context.WithTimeout(ctx, h.cfg.StateTimeout)
		hist, err = h.cfg.State.History(ctx, key)
		cancel()
	}
	if err != nil {
		return h.sessionFailed(r, "the session history could not be read", err)
	}
	doc.SetSession(source, hist.Calls, hist.Labels, hist.LabelCalls, hist.First, hist.Last, hist.Tools)
	r.session = &sessionCall{key: key, prev: hist, tool: doc.Tool.QualifiedName, labels: doc.Tool.Labels}
	return true
}

// recordSession adds an allowed call to its session's history (at the
// REQUEST point: only there is a history read).
func (h *Handler) recordSession(ctx context.Context, r *Result) {
	s, now := r.session, h.cfg.Now()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StateTimeout)
	defer cancel()
	if err := h.cfg.State.Record(ctx, s.key, s.prev, s.tool, s.labels, now, now.Add(h.cfg.SessionTTL), sessionKeep); err != nil {
		h.sessionFailed(r, "the session history could not be recorded", err)
	}
}

// sessionFailed handles a session history that could not be read or
// written: a denial when enforcing policies read it, else an audit
// finding. It reports whether the decision may go on.
func (h *Handler) sessionFailed(r *Result, what string, err error) bool {
	f := policy.Finding{Policy: "(session)", Kind: policy.Error, Mode: h.cfg.Sessions, Message: what, Detail: err.Error()}
	if h.cfg.Sessions != policy.ModeEnforce {
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
func (h *Handler) limit(ctx context.Context, value map[string]any, r *Result) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StateTimeout)
	defer cancel()
	r.RateLimits = h.cfg.RateLimits.Check(ctx, h.cfg.State, value, h.cfg.Now())
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
