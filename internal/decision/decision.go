// Package decision holds the interceptor's decision as a value: its effect,
// reason, code and findings, and what it did (approvals, rate limits,
// hidden tools, redactions). Package render turns it into the gateway's
// output.
package decision

import (
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/policy"
)

// Effect is what the decision does to the message.
type Effect string

// Effects.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
	// Approval: the call waits for an approval; the caller is told how
	// to give or get one (see Prompt).
	Approval Effect = "approval"
)

// JSON-RPC error codes of denials of methods other than tools/call. The first
// two are in JSON-RPC's implementation-defined server error range.
const (
	CodePolicyDenied   = -32001 // a policy denied the request
	CodeUndecidable    = -32002 // no decision could be made (bundle, evaluation or internal error): fail closed
	CodeRateLimited    = -32003 // a rate limit of the bundle is exceeded
	CodeQuarantined    = -32004 // a containment of the bundle holds the caller
	CodeInvalidRequest = -32600 // the event or its JSON-RPC body is malformed
	CodeInvalidParams  = -32602 // tools/call params are malformed
	// CodeURLElicitationRequired is MCP 2025-11-25's error that sends the
	// user to a URL before a retry; 2026-07-28 removed it.
	CodeURLElicitationRequired = -32042
)

// Decision is the interceptor's verdict on one message.
type Decision struct {
	ID     string `json:"id"`
	Effect Effect `json:"effect"`
	// Reason is shown to the caller on a denial: the policy authors' messages,
	// or a description of what was malformed. Never evaluation internals.
	Reason string `json:"reason"`
	// Code is the JSON-RPC error code a denial would carry.
	Code     int              `json:"code,omitempty"`
	Findings []policy.Finding `json:"findings,omitempty"`
	// Hidden names the tools removed from a tool list answer.
	Hidden []string `json:"hidden,omitempty"`
	// TasksHidden counts the other callers' tasks removed from a
	// tasks/list answer.
	TasksHidden int `json:"tasksHidden,omitempty"`
	// Redactions counts the replacements in a tool result per detector.
	Redactions map[string]int `json:"redactions,omitempty"`
	// RetryAfter is the seconds a rate-limited caller should wait; a
	// JSON-RPC error carries it as data.retryAfter.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Approval is set when policies asked for an approval.
	Approval *ApprovalState `json:"approval,omitempty"`
}

// ApprovalState is what became of a call that needs an approval.
type ApprovalState struct {
	// Status is confirm (the caller is asked in band), requested (a new
	// out-of-band request), pending (one already waits), granted,
	// rejected, limited (too many requests) or failed (it could not be
	// asked or checked: a denial); at the RESPONSE point, asked or
	// forwarded.
	Status string `json:"status"`
	// Channel is in-band or out-of-band.
	Channel string `json:"channel"`
	// ID is the out-of-band approval's id.
	ID string `json:"id,omitempty"`
	// Groups are the groups an approver must be in, one of each list;
	// none when the caller confirms.
	Groups [][]string `json:"groups,omitempty"`
	// By and At say who granted it and when (RFC 3339).
	By string `json:"by,omitempty"`
	At string `json:"at,omitempty"`
	// Comment is the approver's, from the signed grant, escaped as
	// approval.Visible does.
	Comment string `json:"comment,omitempty"`
	// Expired: an approval of the call had lapsed before this one.
	Expired bool `json:"expired,omitempty"`
	// Prompt is how the caller is asked; only for effect approval.
	Prompt *Prompt `json:"-"`
}

// Approval statuses and channels.
const (
	ApprovalConfirm   = "confirm"
	ApprovalRequested = "requested"
	ApprovalPending   = "pending"
	ApprovalGranted   = "granted"
	ApprovalRejected  = "rejected"
	ApprovalFailed    = "failed"
	// ApprovalLimited: a new request was refused, its requester having
	// asked for as many as the limits allow.
	ApprovalLimited = "limited"
	// ApprovalAsked: the RESPONSE point passed the REQUEST point's own
	// answer in the approval flow (a question or a denial).
	ApprovalAsked = "asked"
	// ApprovalForwarded: the RESPONSE point passed the result of a call
	// the REQUEST point granted and forwarded.
	ApprovalForwarded = "forwarded"

	InBand    = "in-band"
	OutOfBand = "out-of-band"
)

// Prompt is an answer that asks for an approval, in the caller's MCP
// version: a multi round-trip input request (2026-07-28), the -32042 URL
// elicitation error (2025-11-25) or a tool error that says what to do.
type Prompt struct {
	// Version is the client's MCP protocol version ("" when unknown).
	Version string
	// Message is shown to the user: what is asked and why.
	Message string
	// URL is where an approver decides, for an out-of-band approval; ""
	// asks the caller to confirm in a form (in band).
	URL string
	// ID is the out-of-band approval's id (the -32042 elicitationId).
	ID string
	// RequestState is the signed state of an in-band confirmation.
	RequestState string
}

// ConfirmField is the property of the in-band confirmation form.
const ConfirmField = "approve"

// InputRequestID is the key of the approval's multi round-trip input request.
const InputRequestID = "toolgate.approval"

// FromResult decides on a policy result: any enforcing finding denies;
// else any approval finding makes the call wait for an approval (deny
// overrides approval, approval overrides allow).
func FromResult(id string, r policy.Result) Decision {
	d := Decision{ID: id, Effect: Allow, Findings: r.Findings}
	enforced := r.Enforced()
	if len(enforced) == 0 {
		if approvals := r.Approvals(); len(approvals) > 0 {
			d.Effect, d.Reason = Approval, approvals[0].Message
		}
		return d
	}
	d.Effect, d.Code = Deny, CodePolicyDenied
	for _, f := range enforced {
		if f.Kind == policy.Error {
			d.Code = CodeUndecidable
		}
	}
	d.Reason = reasonOf(d.Findings, func(f policy.Finding) string { return f.Message })
	return d
}

// reasonOf joins the distinct messages of the enforcing findings, as
// message gives them, in order: a denial's reason.
func reasonOf(findings []policy.Finding, message func(policy.Finding) string) string {
	var msgs []string
	seen := map[string]bool{}
	for _, f := range findings {
		if m := message(f); f.Mode == policy.ModeEnforce && !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

// RecordReason returns d's reason as a record holds it: with the message
// of each finding that may quote the call's arguments
// (Finding.QuotesArguments) replaced by withheld, rebuilt from the
// findings, never by searching for the messages' text, which another
// message could overlap; a reason not made from them that holds such a
// message is withheld whole.
func (d Decision) RecordReason(withheld string) string {
	quoting := slices.ContainsFunc(d.Findings, func(f policy.Finding) bool { return f.QuotesArguments && f.Message != "" })
	if !quoting {
		return d.Reason
	}
	if d.Effect == Deny && d.Reason == reasonOf(d.Findings, func(f policy.Finding) string { return f.Message }) {
		return reasonOf(d.Findings, func(f policy.Finding) string {
			if f.QuotesArguments {
				return withheld
			}
			return f.Message
		})
	}
	for _, f := range d.Findings {
		if f.QuotesArguments && f.Message != "" && strings.Contains(d.Reason, f.Message) {
			return withheld
		}
	}
	return d.Reason
}

// Denied returns a denial that no policy produced: a malformed event or body,
// or a failure of the interceptor itself.
func Denied(id string, code int, reason string) Decision {
	return Decision{ID: id, Effect: Deny, Code: code, Reason: reason}
}
