// Package policy evaluates authorization policies on attribute documents. The
// rest of the project sees only the Engine interface, so that a second policy
// dialect can be added without touching its callers; the Kyverno JSON dialect
// (json.kyverno.io/v1alpha1 ValidatingPolicy) is the one implemented here.
package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
)

// Engine evaluates a bundle's policies. Evaluate never panics and never fails:
// every problem is a Finding of kind error, which denies.
type Engine interface {
	// Evaluate judges one attribute document, given as plain JSON values.
	// It stops between rules once ctx is done, with an error finding.
	Evaluate(ctx context.Context, doc map[string]any) Result
	// AllowsEach returns a function reporting whether Evaluate would not
	// deny a document, for a series of documents that differ only in tool
	// and environment (the tools of one list answer), sharing work between
	// them. Once ctx is done it reports false. The function is not safe for
	// concurrent use.
	AllowsEach(ctx context.Context) func(doc map[string]any) bool
}

// Mode says whether a policy's failures deny (enforce) or are only reported (audit).
type Mode string

// Policy modes, set with the ModeAnnotation.
const (
	ModeEnforce Mode = "enforce"
	ModeAudit   Mode = "audit"
	// ModeApproval is the mode of the findings of an enforcing policy whose
	// effect is approval: they do not deny, they make the call wait for an
	// approval (see Approval).
	ModeApproval Mode = "approval"
)

// Annotations a policy may carry.
const (
	// AnnotationPrefix is the prefix of them all: any other key under it
	// is refused.
	AnnotationPrefix      = "policies.toolgate.dev/"
	ModeAnnotation        = "policies.toolgate.dev/mode"
	DescriptionAnnotation = "policies.toolgate.dev/description"
	// EffectAnnotation is deny (the default: a failed rule denies) or
	// approval (a failed rule makes the call need an approval).
	EffectAnnotation = "policies.toolgate.dev/effect"
	// ApproversAnnotation names who may approve: caller (the default: the
	// user confirms in their own client) or a comma-separated list of
	// groups, of which the approver must be in one and never the requester.
	ApproversAnnotation = "policies.toolgate.dev/approvers"
	// ApprovalTTLAnnotation is how long a request waits and a grant lasts,
	// as a Go duration between 1m and 24h (default 15m).
	ApprovalTTLAnnotation = "policies.toolgate.dev/approval-ttl"
)

// Effects a policy may have, set with the EffectAnnotation.
const (
	EffectDeny     = "deny"
	EffectApproval = "approval"
)

// ApproverCaller is the approvers value that lets the requester approve
// their own call, in band.
const ApproverCaller = "caller"

// Approval says what approval a finding of an approval policy needs.
type Approval struct {
	// Approvers is [ApproverCaller] or the groups one of which the approver
	// must be in.
	Approvers []string `json:"approvers"`
	// TTLSeconds is how long the request waits and a grant lasts.
	TTLSeconds int64 `json:"ttlSeconds"`
}

// Caller reports whether the requester may approve.
func (a *Approval) Caller() bool { return slices.Equal(a.Approvers, []string{ApproverCaller}) }

// Kind of a finding.
type Kind string

// Finding kinds.
const (
	Violation Kind = "violation" // an assertion failed
	Error     Kind = "error"     // the rule could not be evaluated
)

// Finding is one failed rule.
type Finding struct {
	Policy string `json:"policy"`
	Rule   string `json:"rule"`
	Kind   Kind   `json:"kind"`
	Mode   Mode   `json:"mode"`
	// Message is the policy author's message, or a generic one: it may be
	// shown to the caller, so it never carries evaluation internals.
	Message string `json:"message"`
	// Detail says what failed, for operators; it is logged, never returned.
	Detail string `json:"detail,omitempty"`
	// QuotesArguments: the rule's message may put the call's arguments,
	// or the target's answer, into its text: its template reads more of
	// the document than who, which tool and method, the session and the
	// time. The caller may see it; a decision record must not hold it.
	QuotesArguments bool `json:"-"`
	// Answered: the finding may depend on the target's answer: its rule
	// mentions the response, or evaluation itself failed (which a large
	// or odd answer can cause). A denial with such a finding is the
	// RESPONSE point's own, never a repeat of the REQUEST point's,
	// whatever its text.
	Answered bool `json:"-"`
	// Approval is set on the findings of approval policies.
	Approval *Approval `json:"approval,omitempty"`
}

// Result is the outcome of evaluating one document.
type Result struct {
	Findings []Finding `json:"findings,omitempty"`
}

// Denied reports whether an enforcing policy failed or could not be evaluated.
func (r Result) Denied() bool {
	for _, f := range r.Findings {
		if f.Mode == ModeEnforce {
			return true
		}
	}
	return false
}

// Enforced returns the findings that deny.
func (r Result) Enforced() []Finding { return r.filter(ModeEnforce) }

// Audited returns the findings of audit-only policies: would-denies.
func (r Result) Audited() []Finding { return r.filter(ModeAudit) }

// Approvals returns the findings that make the call need an approval.
func (r Result) Approvals() []Finding { return r.filter(ModeApproval) }

func (r Result) filter(m Mode) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Mode == m {
			out = append(out, f)
		}
	}
	return out
}

// Broken returns an Engine that denies every document with err's message. It
// stands in for a bundle that failed to load or compile, so that the failure
// fails closed instead of leaving no engine at all.
func Broken(err error) Engine { return broken{err} }

type broken struct{ err error }

func (b broken) AllowsEach(context.Context) func(map[string]any) bool {
	return func(map[string]any) bool { return false }
}

func (b broken) Evaluate(context.Context, map[string]any) Result {
	return Result{Findings: []Finding{{
		Policy:  "(bundle)",
		Kind:    Error,
		Mode:    ModeEnforce,
		Message: "the policy bundle could not be loaded",
		Detail:  fmt.Sprint(b.err),
	}}}
}

// Readers says what a bundle's policies read of the state the interceptor
// keeps, decided once when it loads: a bundle whose policies never read a
// session needs no history, and one whose policies never read a tool's
// definition reads none.
type Readers struct {
	// Sessions and Definitions are enforce when an enforcing policy reads
	// the document's session member (tool.definition), audit when only
	// audit-only ones do, else "".
	Sessions, Definitions Mode
	// DefinitionPolicies names the policies that read tool.definition:
	// their denials judge what a target listed, not what the caller sent.
	DefinitionPolicies []string
}

// ReadersOf returns what policies read. A policy reads the session when
// its JSON has "session" as a key or a path that starts with it
// (session.calls, but not mcp.sessionId or $session), and a definition
// when it has "definition" as a key or a path step (tool.definition); when
// its JSON cannot be had, it reads both.
func ReadersOf(policies []*v1alpha1.ValidatingPolicy) Readers {
	var r Readers
	for _, p := range policies {
		b, err := json.Marshal(p.Spec)
		audit := Mode(p.Annotations[ModeAnnotation]) == ModeAudit
		if err != nil || hasWord(b, "session", "$.") {
			r.Sessions = stronger(r.Sessions, audit)
		}
		if err != nil || hasWord(b, "definition", "$") {
			r.Definitions = stronger(r.Definitions, audit)
			r.DefinitionPolicies = append(r.DefinitionPolicies, p.Name)
		}
	}
	return r
}

// Join returns what the policies of r and o read, together.
func (r Readers) Join(o Readers) Readers {
	both := func(a, b Mode) Mode {
		if a == ModeEnforce || b == ModeEnforce {
			return ModeEnforce
		}
		return max(a, b) // audit or ""
	}
	return Readers{Sessions: both(r.Sessions, o.Sessions), Definitions: both(r.Definitions, o.Definitions),
		DefinitionPolicies: append(slices.Clip(r.DefinitionPolicies), o.DefinitionPolicies...)}
}

// stronger is the reader mode m once a policy (audit-only or not) reads.
func stronger(m Mode, audit bool) Mode {
	if !audit {
		return ModeEnforce
	}
	if m == "" {
		return ModeAudit
	}
	return m
}

// hasWord reports whether word is in b as a word: not after a letter, a
// digit, "_" or one of the bytes of notAfter, nor before a letter, a digit
// or "_" (the regexp (^|[^A-Za-z0-9_<notAfter>])word\b, without a regexp
// engine: this runs over every policy at every cold start).
func hasWord(b []byte, word, notAfter string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(word))
		if j < 0 {
			return false
		}
		at, end := i+j, i+j+len(word)
		before := at == 0 || !isWordByte(b[at-1]) && bytes.IndexByte([]byte(notAfter), b[at-1]) < 0
		after := end == len(b) || !isWordByte(b[end])
		if before && after {
			return true
		}
		i = at + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
