package interceptor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// ProtocolVersionHeader carries the client's MCP version on every request
// after the handshake (and on every request of a stateless 2026-07-28
// client).
const ProtocolVersionHeader = "MCP-Protocol-Version"

// approve decides on a call that policies allow but some approval policy
// says needs an approval, at the REQUEST point. It grants the call when
// the retry carries a valid in-band confirmation or an approver's grant of
// this exact call exists (and the policies, shown the grant, still allow
// it); it asks for an approval otherwise; anything it cannot check denies.
// It returns the body to forward on a grant.
func (h *Handler) approve(ctx context.Context, msg *mcp.Message, call mcp.ToolCall, body json.RawMessage, doc *attributes.Document, r *Result) json.RawMessage {
	d := &r.Decision
	req := approval.Require(policy.Result{Findings: d.Findings}.Approvals())
	state := &decision.ApprovalState{Groups: req.Groups}
	d.Approval = state
	fail := func(code int, reason string, err error) json.RawMessage {
		state.Status = decision.ApprovalFailed
		*d = h.denyApproval(*d, code, reason, err)
		return nil
	}
	if msg.Method != mcp.MethodToolsCall {
		return fail(decision.CodeUndecidable, "approval is only supported for tools/call", nil)
	}
	p := &doc.Principal
	if !p.Authenticated || p.ID == "" {
		return fail(decision.CodePolicyDenied, "this call needs an approval, which needs an authenticated caller", nil)
	}
	c := approval.Call{Principal: p.ID, Actor: p.Actor, Tool: call.Name, Environment: doc.Environment, Arguments: call.Arguments}
	binding := c.Binding()
	if binding == "" {
		return fail(decision.CodeInvalidParams, "the arguments cannot be bound to an approval", nil)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StateTimeout)
	defer cancel()
	now := h.cfg.Now()
	version := protocolVersion(doc.Request.Headers, call)

	// A confirmation in band: the retry of a 2026-07-28 client.
	if approval.IsState(call.RequestState) {
		if !req.Caller() || h.cfg.ApprovalKeys == nil {
			return fail(decision.CodePolicyDenied, "this call's approval cannot be confirmed in band", nil)
		}
		st, err := approval.Verify(ctx, h.cfg.ApprovalKeys, call.RequestState, binding, now)
		if err != nil {
			return fail(decision.CodePolicyDenied, "approval not confirmed: "+stateReason(err), err)
		}
		if !confirmed(call.InputResponses) {
			state.Status = decision.ApprovalRejected
			*d = decision.Denied(d.ID, decision.CodePolicyDenied, "approval declined by the caller")
			d.Approval = state
			return nil
		}
		if err := h.approvalStore().UseNonce(ctx, st.Nonce, time.Unix(st.Expires, 0)); err != nil {
			if errors.Is(err, approval.ErrReplayed) {
				return fail(decision.CodePolicyDenied, "approval not confirmed: the confirmation was used already", err)
			}
			return fail(decision.CodeUndecidable, "approval could not be checked: the approval table did not answer", err)
		}
		grant := attributes.Approval{Granted: true, By: p.ID, At: now.UTC().Format(time.RFC3339), Channel: decision.InBand}
		return h.granted(ctx, body, doc, grant, r)
	}

	// A grant out of band: an approver decided on this exact call.
	if h.cfg.Approvals != nil {
		a, consumed, err := h.cfg.Approvals.Consume(ctx, binding, now)
		if err != nil {
			return fail(decision.CodeUndecidable, "approval could not be checked: the approval table did not answer", err)
		}
		alive := a.Alive(now)
		if alive {
			state.ID = a.ID
		}
		state.Expired = !alive && a.ID != "" && a.Status != approval.Used
		switch {
		case consumed:
			// The grant was made under the requirement of its time; it
			// must satisfy today's (a bundle may have tightened it).
			if err := req.Permits(a.DecidedBy, a.DeciderGroups, a.Requester); err != nil {
				return fail(decision.CodePolicyDenied, "the approval "+a.ID+" no longer satisfies the policies: "+err.Error(), err)
			}
			grant := attributes.Approval{Granted: true, By: a.DecidedBy, At: a.DecidedAt.UTC().Format(time.RFC3339), ID: a.ID, Channel: decision.OutOfBand}
			return h.granted(ctx, body, doc, grant, r)
		case alive && a.Status == approval.Rejected:
			state.Status, state.By, state.At = decision.ApprovalRejected, a.DecidedBy, a.DecidedAt.UTC().Format(time.RFC3339)
			*d = decision.Denied(d.ID, decision.CodePolicyDenied, fmt.Sprintf("approval %s was rejected by %s", a.ID, a.DecidedBy))
			d.Approval = state
			return nil
		case alive && a.Status == approval.Pending && refusedToWait(call.InputResponses):
			// The user turned the approval page down: asking again would
			// only loop the client. The request stays for approvers.
			state.Status = decision.ApprovalPending
			*d = decision.Denied(d.ID, decision.CodePolicyDenied, fmt.Sprintf("approval %s is pending, and the caller declined to wait for it", a.ID))
			d.Approval = state
			return nil
		case alive && a.Status == approval.Pending:
			state.Status = decision.ApprovalPending
			h.prompt(d, state, outOfBandPrompt(version, h.approvalURL(a.ID), a, req))
			return nil
		}
	}

	// Nothing stands for this call yet: ask.
	if req.Caller() && version >= mcp.Version20260728 && h.cfg.ApprovalKeys != nil {
		token, err := approval.Sign(ctx, h.cfg.ApprovalKeys, approval.NewState(binding, now, req.TTL()))
		if err != nil {
			return fail(decision.CodeUndecidable, "approval could not be asked: no signing key", err)
		}
		state.Status, state.Channel = decision.ApprovalConfirm, decision.InBand
		h.prompt(d, state, &decision.Prompt{Version: version, RequestState: token,
			Message: fmt.Sprintf("Approve the call of %s with %s? %s", call.Name, summary(call.Arguments), strings.Join(req.Reasons, "; "))})
		return nil
	}
	if h.cfg.Approvals == nil {
		return fail(decision.CodePolicyDenied, "this call needs an approval, and no approval table is configured (APPROVAL_TABLE)", nil)
	}
	a := approval.Approval{
		ID: d.ID, Binding: binding, Status: approval.Pending, Requester: p.ID, Actor: p.Actor, Tool: call.Name,
		Environment: doc.Environment, ArgsDigest: decisionlog.ArgsDigest(call.Arguments), Summary: summary(call.Arguments),
		Requirement: req, Created: now, Expires: now.Add(req.TTL()),
	}
	a, created, err := h.cfg.Approvals.Request(ctx, a, now)
	if err != nil {
		return fail(decision.CodeUndecidable, "approval could not be requested: the approval table did not answer", err)
	}
	state.ID, state.Status = a.ID, decision.ApprovalPending
	if created {
		state.Status = decision.ApprovalRequested
	}
	h.prompt(d, state, outOfBandPrompt(version, h.approvalURL(a.ID), a, req))
	return nil
}

// granted re-evaluates the policies with the grant in the document: they
// may read who approved. The call is allowed unless an enforcing policy now
// denies it. It returns the body to forward, without the confirmation.
func (h *Handler) granted(ctx context.Context, body json.RawMessage, doc *attributes.Document, grant attributes.Approval, r *Result) json.RawMessage {
	doc.Approval = grant
	pre := r.Decision
	r.Decision = decision.FromResult(pre.ID, h.cfg.Engine.Evaluate(ctx, doc.Value()))
	r.Decision.Findings = append(pre.Findings[:0:0], r.Decision.Findings...)
	state := pre.Approval
	state.Status, state.Channel, state.By, state.At, state.ID = decision.ApprovalGranted, grant.Channel, grant.By, grant.At, grant.ID
	r.Decision.Approval = state
	if r.Decision.Effect != decision.Allow {
		return nil
	}
	out, err := stripConfirmation(body)
	if err != nil {
		r.Decision = h.denyApproval(r.Decision, decision.CodeUndecidable, "the approved call could not be forwarded", err)
		return nil
	}
	return out
}

// prompt makes d ask for an approval with p.
func (h *Handler) prompt(d *decision.Decision, state *decision.ApprovalState, p *decision.Prompt) {
	if state.Channel == "" {
		state.Channel = decision.OutOfBand
	}
	state.Prompt = p
	d.Effect, d.Reason = decision.Approval, p.Message
}

// denyApproval denies an approval that could not be asked or checked, with
// an error finding for the record.
func (h *Handler) denyApproval(d decision.Decision, code int, reason string, err error) decision.Decision {
	out := decision.Denied(d.ID, code, reason)
	out.Approval, out.Findings = d.Approval, slices.Clip(d.Findings)
	if err != nil {
		out.Findings = append(out.Findings, policy.Finding{Policy: "(approval)", Kind: policy.Error, Mode: policy.ModeEnforce, Message: reason, Detail: err.Error()})
	}
	return out
}

func (h *Handler) approvalStore() approval.Store {
	if h.cfg.Approvals != nil {
		return h.cfg.Approvals
	}
	return h.nonces
}

// approvalURL is where an approver decides on approval id: ApprovalURL
// with {id} replaced, or "" when none is configured.
func (h *Handler) approvalURL(id string) string {
	return strings.ReplaceAll(h.cfg.ApprovalURL, "{id}", id)
}

// outOfBandPrompt asks the caller to get approval id a: a URL
// elicitation where the client's version has one and a URL is
// configured, else a tool error that says what to do.
func outOfBandPrompt(version, url string, a approval.Approval, req approval.Requirement) *decision.Prompt {
	who := "you confirm it with: toolgate approvals approve " + a.ID
	if !req.Caller() {
		who = "an approver in " + req.GroupsText() + " approves it"
	}
	msg := fmt.Sprintf("Approval requested: id %s, for %s (%s). Retry the same call once %s; the request lapses at %s.",
		a.ID, a.Tool, strings.Join(req.Reasons, "; "), who, a.Expires.UTC().Format(time.RFC3339))
	p := &decision.Prompt{Version: version, Message: msg, URL: url, ID: a.ID}
	if url == "" && version >= mcp.Version20260728 {
		// A multi round-trip input request needs a URL; without one the
		// caller is told in a tool error.
		p.Version = mcp.Version20251125
	}
	return p
}

// protocolVersion returns the client's MCP version: the header, else the
// request's _meta (a 2026-07-28 client sends both).
func protocolVersion(headers map[string]string, call mcp.ToolCall) string {
	if v, ok := gateway.Headers(headers).Get(ProtocolVersionHeader); ok && v != "" {
		return v
	}
	return call.ProtocolVersion
}

// ourResponse is a multi round-trip retry's answer to our input request:
// its action (accept, decline, cancel; "" when there is none) and content.
func ourResponse(responses map[string]any) (action string, content map[string]any) {
	r, _ := responses[decision.InputRequestID].(map[string]any)
	action, _ = r["action"].(string)
	content, _ = r["content"].(map[string]any)
	return action, content
}

// confirmed reports whether the caller accepted the confirmation form.
func confirmed(responses map[string]any) bool {
	action, content := ourResponse(responses)
	if action != "accept" {
		return false
	}
	v, present := content[decision.ConfirmField]
	// A client that returns accept without content confirmed the only
	// question asked; one that says false did not.
	return !present || v == true
}

// refusedToWait reports whether a multi round-trip retry declined or
// cancelled our URL elicitation.
func refusedToWait(responses map[string]any) bool {
	action, _ := ourResponse(responses)
	return action == "decline" || action == "cancel"
}

// stateReason is the caller's reason for a state that failed verification.
func stateReason(err error) string {
	for _, e := range []error{approval.ErrStateExpired, approval.ErrStateOtherCall, approval.ErrStateForged, approval.ErrStateMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "the approval state could not be verified"
}

// summaryLimit bounds the argument summary shown to approvers.
const summaryLimit = 1000

// builtinScrubber redacts the summary; built once, at start-up.
var builtinScrubber = redact.Builtins()

// summary is the arguments as an approver reads them: JSON with every
// secret the built-in detectors know replaced, cut to summaryLimit.
func summary(args map[string]any) string {
	b, err := codec.MarshalJSON(args)
	if err != nil {
		return "(arguments that cannot be shown)"
	}
	s := builtinScrubber.String(strings.TrimSpace(string(b)), redact.Counts{})
	if len(s) > summaryLimit {
		s = strings.ToValidUTF8(s[:summaryLimit], "") + "…"
	}
	return s
}

// stripConfirmation removes this project's multi round-trip members from
// a tools/call body (our requestState, our input response), so that the
// tool sees the call as the caller first made it; anything else, such as
// a target's own state, is kept.
func stripConfirmation(body json.RawMessage) (json.RawMessage, error) {
	v, err := codec.DecodeJSON(body)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	params, _ := m["params"].(map[string]any)
	if params == nil {
		return body, nil
	}
	changed := false
	if s, _ := params["requestState"].(string); approval.IsState(s) {
		delete(params, "requestState")
		changed = true
	}
	if rs, ok := params["inputResponses"].(map[string]any); ok {
		if _, ours := rs[decision.InputRequestID]; ours {
			delete(rs, decision.InputRequestID)
			changed = true
		}
		if len(rs) == 0 {
			delete(params, "inputResponses")
		}
	}
	if !changed {
		return body, nil
	}
	return codec.MarshalJSON(m)
}
