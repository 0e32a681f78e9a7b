package judge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// ProtocolVersionHeader carries the client's MCP version on every request
// after the handshake (and on every request of a stateless 2026-07-28
// client).
const ProtocolVersionHeader = "MCP-Protocol-Version"

// ForwardedTTL is how long after the REQUEST point forwards a granted call
// the RESPONSE point passes its result: a result that comes later is
// denied, as one of a call that was never granted.
const ForwardedTTL = time.Hour

// approvable is what both points work out alike about a call that needs
// an approval: the requirement, the exact call and its binding, and what
// an approver is shown. It is nil, with a denial, when no approval can be
// asked for the call at all; that denial depends only on the call and the
// configuration, so that the RESPONSE point reaches the very same one.
type approvable struct {
	req     approval.Requirement
	call    approval.Call
	binding string
	display string
}

func (j *Judge) approvable(msg *mcp.Message, call mcp.ToolCall, doc *attributes.Document, d *decision.Decision) (*approvable, *decision.Decision) {
	req := approval.Require(policy.Result{Findings: d.Findings}.Approvals())
	state := &decision.ApprovalState{Groups: req.Groups, Status: decision.ApprovalFailed}
	deny := func(code int, reason string) (*approvable, *decision.Decision) {
		out := decision.Denied(d.ID, code, reason)
		out.Approval, out.Findings = state, slices.Clip(d.Findings)
		return nil, &out
	}
	if j.cfg.ApprovalsOff != "" {
		return deny(decision.CodePolicyDenied, "this call needs an approval, and "+j.cfg.ApprovalsOff)
	}
	if msg.Method != mcp.MethodToolsCall {
		return deny(decision.CodeUndecidable, "approval is only supported for tools/call")
	}
	p := &doc.Principal
	if !p.Authenticated || p.ID == "" {
		return deny(decision.CodePolicyDenied, "this call needs an approval, which needs an authenticated caller")
	}
	params, err := otherParams(msg.Params)
	if err != nil {
		return deny(decision.CodeInvalidParams, "the arguments cannot be bound to an approval")
	}
	c := approval.Call{Principal: p.ID, Actor: p.Actor, Tool: call.Name, Environment: doc.Environment, Arguments: call.Arguments, Params: params}
	binding := c.Binding()
	if binding == "" {
		return deny(decision.CodeInvalidParams, "the arguments cannot be bound to an approval")
	}
	display, err := c.Display()
	if errors.Is(err, approval.ErrTooLong) {
		return deny(decision.CodePolicyDenied, fmt.Sprintf("this call needs an approval, and its arguments are longer than an approval can show (%d characters): "+
			"nothing runs that its approver has not seen whole", approval.MaxDisplay))
	}
	if err != nil {
		return deny(decision.CodeInvalidParams, "the arguments cannot be shown to an approver")
	}
	return &approvable{req: req, call: c, binding: binding, display: display}, nil
}

// otherParams returns the members of a tools/call's params that reach the
// tool besides its name and arguments: a target's own input responses and
// request state, a task. They are shown to whoever approves and bound to
// the grant like the arguments. Not _meta, which is the protocol's (a
// client sets a new progress token on every request), nor this project's
// own request state and input response, which a confirmation adds.
func otherParams(raw json.RawMessage) (map[string]any, error) {
	v, err := codec.DecodeJSON(raw)
	params, _ := v.(map[string]any)
	if err != nil || params == nil {
		return nil, errNotMessage
	}
	delete(params, "name")
	delete(params, "arguments")
	delete(params, "_meta")
	if s, _ := params["requestState"].(string); approval.IsState(s) {
		delete(params, "requestState")
	}
	if rs, ok := params["inputResponses"].(map[string]any); ok {
		delete(rs, decision.InputRequestID)
		if len(rs) == 0 {
			delete(params, "inputResponses")
		}
	}
	return params, nil
}

// approve decides on a call that policies allow but some approval policy
// says needs an approval, at the REQUEST point. It grants the call when
// the retry carries a valid in-band confirmation or a grant of this exact
// call, signed by the decision path, exists (and the policies, shown the
// grant, still allow it); it asks for an approval otherwise; anything it
// cannot check denies. It returns the body to forward on a grant.
func (j *Judge) approve(ctx context.Context, msg *mcp.Message, call mcp.ToolCall, body json.RawMessage, doc *attributes.Document, r *Result) json.RawMessage {
	d := &r.Decision
	ap, denied := j.approvable(msg, call, doc, d)
	if denied != nil {
		*d = *denied
		return nil
	}
	r.approval = ap
	req, binding := ap.req, ap.binding
	state := &decision.ApprovalState{Groups: req.Groups}
	d.Approval = state
	fail := func(code int, reason string, err error) json.RawMessage {
		state.Status = decision.ApprovalFailed
		*d = j.denyApproval(*d, code, reason, err)
		return nil
	}
	refuse := func(status, reason string) json.RawMessage {
		state.Status = status
		*d = decision.Denied(d.ID, decision.CodePolicyDenied, reason)
		d.Approval = state
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	now := j.cfg.Now()
	version := protocolVersion(doc.Request.Headers, call)
	p := &doc.Principal

	// A confirmation in band: the retry of a 2026-07-28 client.
	if approval.IsState(call.RequestState) {
		if !req.Caller() {
			return fail(decision.CodePolicyDenied, "this call's approval cannot be confirmed in band", nil)
		}
		st, err := approval.Verify(ctx, j.cfg.ApprovalKeys, call.RequestState, binding, now)
		if err != nil {
			return fail(decision.CodePolicyDenied, "approval not confirmed: "+stateReason(err), err)
		}
		if !confirmed(call.InputResponses) {
			return refuse(decision.ApprovalRejected, "approval declined by the caller")
		}
		if err := j.cfg.Approvals.UseNonce(ctx, st.Nonce, time.Unix(st.Expires, 0)); err != nil {
			if errors.Is(err, approval.ErrReplayed) {
				return fail(decision.CodePolicyDenied, "approval not confirmed: the confirmation was used already", err)
			}
			return fail(decision.CodeUndecidable, "approval could not be checked: the approval table did not answer", err)
		}
		grant := attributes.Approval{Granted: true, By: p.ID, At: now.UTC().Format(time.RFC3339), Channel: decision.InBand}
		return j.granted(ctx, body, doc, grant, "", r)
	}

	// A grant out of band: the decision path decided on this exact call.
	a, consumed, err := j.cfg.Approvals.Consume(ctx, binding, now)
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
		st, err := approval.VerifyGrant(ctx, j.cfg.GrantKey, a, binding, req, p.ID, now)
		switch {
		case errors.Is(err, approval.ErrNoGrant) || errors.Is(err, approval.ErrForgedGrant) || errors.Is(err, approval.ErrGrantOther):
			// A row the decision path did not sign: someone wrote the
			// table. It grants nothing, and the record says so loudly.
			return fail(decision.CodeUndecidable, "approval "+a.ID+" grants nothing: its grant was not signed by the approvals function", err)
		case err != nil:
			return fail(decision.CodePolicyDenied, "the approval "+a.ID+" no longer satisfies the policies: "+err.Error(), err)
		}
		grant := attributes.Approval{Granted: true, By: st.By, At: time.Unix(st.Decided, 0).UTC().Format(time.RFC3339), ID: a.ID, Channel: decision.OutOfBand}
		return j.granted(ctx, body, doc, grant, approval.Visible(st.Comment), r)
	case alive && a.Status == approval.Rejected:
		state.By, state.At = a.DecidedBy, a.DecidedAt.UTC().Format(time.RFC3339)
		return refuse(decision.ApprovalRejected, fmt.Sprintf("approval %s was rejected by %s", a.ID, a.DecidedBy))
	case alive && a.Status == approval.Pending && refusedToWait(call.InputResponses):
		// The user turned the approval page down: asking again would
		// only loop the client. The request stays for approvers.
		return refuse(decision.ApprovalPending, fmt.Sprintf("approval %s is pending, and the caller declined to wait for it", a.ID))
	case alive && a.Status == approval.Pending:
		state.Status = decision.ApprovalPending
		j.prompt(d, state, outOfBandPrompt(version, j.approvalURL(a.ID), a, req))
		return nil
	}

	// Nothing stands for this call yet: ask.
	if req.Caller() && version >= mcp.Version20260728 {
		token, err := approval.Sign(ctx, j.cfg.ApprovalKeys, approval.NewState(binding, now, req.TTL()))
		if err != nil {
			return fail(decision.CodeUndecidable, "approval could not be asked: no signing key", err)
		}
		state.Status, state.Channel = decision.ApprovalConfirm, decision.InBand
		j.prompt(d, state, &decision.Prompt{Version: version, RequestState: token,
			Message: fmt.Sprintf("Approve the call of %s with these arguments?\n%s\n(%s)", approval.Visible(call.Name), ap.display,
				approval.Visible(strings.Join(req.Reasons, "; ")))})
		return nil
	}
	a = approval.Approval{
		ID: d.ID, Binding: binding, Status: approval.Pending, Requester: p.ID, Actor: p.Actor, Tool: call.Name,
		Environment: doc.Environment, ArgsDigest: codec.Digest(ap.call.Arguments), Display: ap.display,
		Requirement: req, Created: now, Expires: now.Add(req.TTL()),
	}
	if a, err = approval.Prove(ctx, j.cfg.ApprovalKeys, a); err != nil {
		return fail(decision.CodeUndecidable, "approval could not be requested: no signing key", err)
	}
	a, created, err := j.cfg.Approvals.Request(ctx, a, now, j.cfg.ApprovalLimits)
	var limit *approval.LimitError
	if errors.As(err, &limit) {
		state.Status = decision.ApprovalLimited
		*d = decision.Denied(d.ID, decision.CodeRateLimited, "approval not requested: "+limit.Error())
		d.Approval, d.RetryAfter = state, int(math.Ceil(limit.RetryAfter.Seconds()))
		return nil
	}
	if err != nil {
		return fail(decision.CodeUndecidable, "approval could not be requested: the approval table did not answer", err)
	}
	state.ID, state.Status = a.ID, decision.ApprovalPending
	if created {
		state.Status = decision.ApprovalRequested
	}
	j.prompt(d, state, outOfBandPrompt(version, j.approvalURL(a.ID), a, req))
	return nil
}

// granted re-evaluates the policies with the grant in the document: they
// may read who approved. The call is allowed unless an enforcing policy now
// denies it. It returns the body to forward, without the confirmation.
func (j *Judge) granted(ctx context.Context, body json.RawMessage, doc *attributes.Document, grant attributes.Approval, comment string, r *Result) json.RawMessage {
	doc.Approval = grant
	pre := r.Decision
	r.Decision = decision.FromResult(pre.ID, j.cfg.Engine.Evaluate(ctx, doc.Value()))
	r.Decision.Findings = append(pre.Findings[:0:0], r.Decision.Findings...)
	state := pre.Approval
	state.Status, state.Channel, state.By, state.At, state.ID, state.Comment = decision.ApprovalGranted, grant.Channel, grant.By, grant.At, grant.ID, comment
	r.Decision.Approval = state
	if r.Decision.Effect != decision.Allow {
		return nil
	}
	out, err := stripConfirmation(body)
	if err != nil {
		r.Decision = j.denyApproval(r.Decision, decision.CodeUndecidable, "the approved call could not be forwarded", err)
		return nil
	}
	return out
}

// forwarded records, before an allowed call that an approval granted is
// forwarded, that its result may pass the RESPONSE point once; it denies
// the call when that cannot be recorded.
func (j *Judge) forwarded(ctx context.Context, r *Result) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	if err := j.cfg.Approvals.MarkForwarded(ctx, r.approval.binding, j.cfg.Now().Add(ForwardedTTL)); err != nil {
		r.Decision = j.denyApproval(r.Decision, decision.CodeUndecidable, "the approved call could not be recorded: the approval table did not answer", err)
	}
}

// seal marks the REQUEST point's answer to a call in the approval flow as
// its own, so that the RESPONSE point passes exactly it (see
// approval.Seal); an answer that cannot be sealed is a denial, which the
// RESPONSE point also gives.
func (j *Judge) seal(ctx context.Context, r *Result, msg *mcp.Message) {
	t := r.Output.MCP.TransformedGatewayResponse
	body, err := codec.DecodeJSON(t.Body)
	m, _ := body.(map[string]any)
	if err == nil {
		err = errNotMessage
		if slot := sealSlot(m, true); slot != nil {
			var canon []byte
			if canon, err = codec.Canonical(m); err == nil {
				var s string
				if s, err = approval.Seal(ctx, j.cfg.ApprovalKeys, r.Decision.ID, r.approval.binding, canon); err == nil {
					slot[sealMember] = s
					t.Body, err = codec.MarshalJSON(m)
				}
			}
		}
	}
	if err != nil {
		r.Decision = j.denyApproval(r.Decision, decision.CodeUndecidable, "approval could not be asked: no signing key", err)
		r.Output = render.Output(r.Decision, msg, nil, nil, j.cfg.DenyStatus)
	}
}

// sealMember holds the seal: in the result's _meta, or in the error's data.
const sealMember = "dev.toolgate/seal"

// sealSlot returns the object of body that holds the seal (made, empty,
// if create is set and there is none), or nil when there is none or body
// is no JSON-RPC answer. The seal covers the answer with the slot as it
// is before the seal goes in, made or not.
func sealSlot(body map[string]any, create bool) map[string]any {
	parent, name := body["result"], "_meta"
	if parent == nil {
		parent, name = body["error"], "data"
	}
	p, ok := parent.(map[string]any)
	if !ok {
		return nil
	}
	slot, ok := p[name].(map[string]any)
	if !ok && create && p[name] == nil {
		slot = map[string]any{}
		p[name] = slot
	}
	return slot
}

// sealedBy returns the id of the REQUEST point's decision whose sealed
// answer body is, for the call bound by binding. body is left as it was.
func (j *Judge) sealedBy(ctx context.Context, body map[string]any, binding string) (string, bool) {
	slot := sealSlot(body, false)
	s, ok := slot[sealMember].(string)
	if !ok {
		return "", false
	}
	delete(slot, sealMember)
	canon, err := codec.Canonical(body)
	slot[sealMember] = s
	if err != nil {
		return "", false
	}
	id, err := approval.Unseal(ctx, j.cfg.ApprovalKeys, s, binding, canon)
	return id, err == nil
}

// settle decides, at the RESPONSE point, on a call that still needs an
// approval. The answer passes when it is the REQUEST point's own (sealed)
// question or denial, or the result of a call that point granted and
// forwarded (a mark, used by the result once; the target's requests
// before it in a stream only need it to exist); anything else is denied:
// RESPONSE never turns "needs approval" into an allow.
func (j *Judge) settle(ctx context.Context, msg *mcp.Message, call mcp.ToolCall, body map[string]any, doc *attributes.Document, r *Result) {
	d := &r.Decision
	ap, denied := j.approvable(msg, call, doc, d)
	if denied != nil {
		*d = *denied
		return
	}
	if prev, ok := j.sealedBy(ctx, body, ap.binding); ok {
		r.Repeat, r.RepeatOf = true, prev
		d.Approval = &decision.ApprovalState{Groups: ap.req.Groups, Status: decision.ApprovalAsked}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.StateTimeout)
	defer cancel()
	forwarded := j.cfg.Approvals.TakeForwarded
	input := asksInput(doc.Response)
	if resp := doc.Response; resp != nil && resp.Kind != mcp.KindResponse || input {
		// A message the target sends in a streamed call before its
		// result (progress, a log line), or one that asks for input:
		// the result uses the mark.
		forwarded = j.cfg.Approvals.PeekForwarded
	}
	taken, err := forwarded(ctx, ap.binding, j.cfg.Now())
	state := &decision.ApprovalState{Groups: ap.req.Groups, Status: decision.ApprovalFailed}
	switch {
	case err != nil:
		*d = j.denyApproval(*d, decision.CodeUndecidable, "approval could not be checked: the approval table did not answer", err)
	case !taken:
		out := decision.Denied(d.ID, decision.CodePolicyDenied, "this call needs an approval, and the REQUEST point granted none")
		out.Findings = d.Findings
		*d = out
	case input:
		*d = laterInput(*d)
	default:
		d.Effect, d.Reason, state.Status = decision.Allow, "", decision.ApprovalForwarded
	}
	d.Approval = state
}

// errLaterInput is why a call that runs on an approval may not ask for
// input: an approver approved the call as it was shown, and input it takes
// later (an IBAN, a recipient, a model's text) is what no one approved.
var errLaterInput = errors.New("this call ran on an approval, which covers no input given later")

// laterInput is d denied for errLaterInput, its findings kept.
func laterInput(d decision.Decision) decision.Decision {
	out := decision.Denied(d.ID, decision.CodePolicyDenied, errLaterInput.Error())
	out.Findings = d.Findings
	return out
}

// asksInput reports whether resp is how the target asks the client for
// input: an elicitation or a sampling request (its method in any case, with
// an id or not), or a -32042 error that sends the user to a URL.
func asksInput(resp *attributes.Response) bool {
	if resp == nil {
		return false
	}
	if resp.Kind != mcp.KindResponse {
		return strings.EqualFold(resp.Method, mcp.MethodElicitationCreate) || strings.EqualFold(resp.Method, mcp.MethodSamplingCreateMessage)
	}
	body, _ := resp.Body.(map[string]any)
	e, _ := body["error"].(map[string]any)
	code := e["code"]
	if s, ok := code.(string); ok {
		// Read as a number by lax clients (Python's).
		code, _ = strconv.ParseFloat(strings.TrimSpace(s), 64)
	}
	return code == float64(decision.CodeURLElicitationRequired)
}

// prompt makes d ask for an approval with p. The record's reason stays the
// policies' messages: the prompt can show the arguments, the record never.
func (j *Judge) prompt(d *decision.Decision, state *decision.ApprovalState, p *decision.Prompt) {
	if state.Channel == "" {
		state.Channel = decision.OutOfBand
	}
	state.Prompt = p
	d.Effect = decision.Approval
}

// denyApproval denies an approval that could not be asked or checked, with
// an error finding for the record.
func (j *Judge) denyApproval(d decision.Decision, code int, reason string, err error) decision.Decision {
	out := decision.Denied(d.ID, code, reason)
	out.Approval, out.Findings = d.Approval, slices.Clip(d.Findings)
	if err != nil {
		f := policy.Finding{Policy: "(approval)", Kind: policy.Error, Mode: policy.ModeEnforce, Message: reason, Detail: err.Error()}
		if badConfirmation(err) {
			f.Rule = ruleConfirmation
		}
		out.Findings = append(out.Findings, f)
	}
	return out
}

// ruleConfirmation is the rule of an (approval) finding whose
// confirmation the caller forged, altered or moved to another call: the
// caller's doing, which containment counts.
const ruleConfirmation = "confirmation"

// badConfirmation reports whether err says the caller's confirmation was
// forged, altered or moved. Not a signing key that could not be looked
// up (the key store's failure, wrapped as forged), nor one used twice (a
// retry after a denial that came later in the same call used it).
func badConfirmation(err error) bool {
	return err == approval.ErrStateForged || errors.Is(err, approval.ErrStateMalformed) || errors.Is(err, approval.ErrStateOtherCall)
}

// approvalURL is where an approver decides on approval id: ApprovalURL
// with {id} replaced, or "" when none is configured.
func (j *Judge) approvalURL(id string) string {
	return strings.ReplaceAll(j.cfg.ApprovalURL, "{id}", id)
}

// outOfBandPrompt asks the caller to get approval id a: a URL
// elicitation where the client's version has one and a URL is
// configured, else a tool error that says what to do.
func outOfBandPrompt(version, url string, a approval.Approval, req approval.Requirement) *decision.Prompt {
	who := "you confirm it with: toolgate approvals approve " + a.ID
	if !req.Caller() {
		who = "an approver in " + approval.Visible(req.GroupsText()) + " approves it"
	}
	msg := fmt.Sprintf("Approval requested: id %s, for %s (%s). Retry the same call once %s; the request lapses at %s.",
		a.ID, approval.Visible(a.Tool), approval.Visible(strings.Join(req.Reasons, "; ")), who, a.Expires.UTC().Format(time.RFC3339))
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
