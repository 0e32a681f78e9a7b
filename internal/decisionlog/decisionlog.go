// Package decisionlog defines the decision record: the one structured log
// line the interceptor writes per decision, so that an auditor can find, by
// decision id or trace id, who asked for what, which rule said no and why,
// under which bundle. Its shape is versioned by SchemaVersion and documented
// in docs/operations.md; fields are only ever added within a version.
package decisionlog

import (
	"log/slog"
	"slices"
)

// SchemaVersion is the record's schema version, logged as schema_version.
const SchemaVersion = 1

// Message is the log message of every decision record, what a log filter
// (and the audit export's subscription filter) selects on.
const Message = "decision"

// Results of a rate limit for a call.
const (
	RateLimitOK       = "ok"        // counted, within the limit
	RateLimitExceeded = "exceeded"  // over the limit: denied
	RateLimitError    = "error"     // the count could not be read: denied
	RateLimitFailOpen = "fail_open" // the count could not be read: allowed (failOpen)
)

// Results of a containment for a message.
const (
	ContainmentQuarantined = "quarantined" // the caller is held: denied (enforce) or would be (audit)
	ContainmentCounted     = "counted"     // the message's denial was counted
	ContainmentBegan       = "began"       // the message's denial began the caller's quarantine
	ContainmentError       = "error"       // the quarantine or the count could not be read
	ContainmentFailOpen    = "fail_open"   // the quarantine could not be read: allowed (failOpen)
)

// Results.
const (
	Allow     = "allow"      // allowed, no finding
	Deny      = "deny"       // denied by a policy or because the input is malformed
	AuditDeny = "audit_deny" // allowed, but an audit-mode policy failed
	// ApprovalRequired: the call waits for an approval; the caller was
	// asked for one (see Record.Approval).
	ApprovalRequired = "approval_required"
	Error            = "error" // no decision could be made (bundle, evaluation or internal error): denied
)

// Record is one decision. Raw tool arguments and tokens never appear in it,
// except Arguments when the deployment explicitly asks for them.
type Record struct {
	SchemaVersion int    `json:"schema_version"`
	DecisionID    string `json:"decision_id"`
	// TraceID is the X-Ray trace id (the trace header's Root).
	TraceID string `json:"trace_id,omitempty"`
	// RequestID is the Lambda invocation's request id.
	RequestID   string     `json:"request_id,omitempty"`
	SessionID   string     `json:"session_id,omitempty"`
	Phase       string     `json:"phase"`
	Method      string     `json:"method,omitempty"`
	Principal   *Principal `json:"principal,omitempty"`
	Tool        *Tool      `json:"tool,omitempty"`
	Environment string     `json:"environment,omitempty"`
	Result      string     `json:"result"`
	// Repeat marks a RESPONSE point decision that passes on the REQUEST
	// point's denial of the same call (the gateway runs both): counting
	// denials, count it once.
	Repeat bool `json:"repeat,omitempty"`
	// RepeatOf is the decision id of the REQUEST point's denial that a
	// repeat gives again: the caller saw that id.
	RepeatOf string `json:"repeat_of,omitempty"`
	// Reason is what the caller was told on a denial.
	Reason string `json:"reason,omitempty"`
	// Code is the JSON-RPC error code of a denial.
	Code     int      `json:"code,omitempty"`
	Policies []Policy `json:"policies,omitempty"`
	Bundle   Bundle   `json:"bundle"`
	// ArgsSHA256 is the SHA-256 of the canonical tool arguments (see
	// codec.ArgsDigest): it proves which arguments were judged without showing them.
	ArgsSHA256 string `json:"args_sha256,omitempty"`
	// Arguments are the raw tool arguments, only with LOG_ARGUMENTS=true.
	Arguments map[string]any `json:"arguments,omitempty"`
	// ToolsHidden counts the tools removed from a tool list; Hidden names the
	// first of them (at most MaxHidden).
	ToolsHidden int      `json:"tools_hidden,omitempty"`
	Hidden      []string `json:"hidden,omitempty"`
	// TasksHidden counts the other callers' tasks removed from a
	// tasks/list answer; their ids are not recorded.
	TasksHidden int            `json:"tasks_hidden,omitempty"`
	Redactions  map[string]int `json:"redactions,omitempty"`
	// RateLimits is what each rate limit that matched the call did.
	RateLimits []RateLimit `json:"rate_limits,omitempty"`
	// Containment is what each containment watching the message did, when
	// it did something (see the containment results).
	Containment []Containment `json:"containment,omitempty"`
	// Definitions is what a tools/list answer's judgement saw of its
	// tools' definitions against their pins: changes, and pins made on
	// first use (at most MaxHidden; DefinitionsChanged counts the
	// changes).
	Definitions        []Definition `json:"definitions,omitempty"`
	DefinitionsChanged int          `json:"definitions_changed,omitempty"`
	// ApprovalRequired is set when an approval policy asked for an
	// approval, whatever became of it; Approval says what did.
	ApprovalRequired bool      `json:"approval_required,omitempty"`
	Approval         *Approval `json:"approval,omitempty"`
	// Approved says who approved the call, when, and which approval.
	Approved  *Approved `json:"approved,omitempty"`
	LatencyUS int64     `json:"latency_us"`
}

// Approval is what became of a call's need for an approval.
type Approval struct {
	// Status is confirm, requested, pending, granted, rejected or failed.
	Status  string     `json:"status"`
	Channel string     `json:"channel,omitempty"`
	ID      string     `json:"id,omitempty"`
	Groups  [][]string `json:"groups,omitempty"`
	// Expired is set when a standing approval of the call had lapsed.
	Expired bool `json:"expired,omitempty"`
}

// Approved names the grant a call was allowed under.
type Approved struct {
	By      string `json:"by"`
	At      string `json:"at"`
	ID      string `json:"id,omitempty"` // "" for an in-band confirmation
	Channel string `json:"channel"`
	// Comment is what the approver said, as they signed it.
	Comment string `json:"comment,omitempty"`
}

// RateLimit is one rate limit's outcome for a call (see the RateLimit
// results).
type RateLimit struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Count  int64  `json:"count"`
	Limit  int64  `json:"limit"`
}

// Containment is one containment's outcome for a message.
type Containment struct {
	Name   string `json:"name"`
	Mode   string `json:"mode"`
	Result string `json:"result"`
	// Count is the denials counted in the window; Threshold the count that
	// begins a quarantine.
	Count     int64 `json:"count,omitempty"`
	Threshold int64 `json:"threshold"`
	// Until is when the quarantine ends (RFC 3339), for quarantined and
	// began.
	Until string `json:"until,omitempty"`
}

// Definition is one tool's definition seen in a list against its pin.
type Definition struct {
	Tool string `json:"tool"`
	// Status is changed, or pinned (a pin made on first use).
	Status string `json:"status"`
	Pin    string `json:"pin"`
	Digest string `json:"digest"`
	// First: this change was recorded first by this decision, across
	// every instance (or this pin was made by it).
	First bool `json:"first,omitempty"`
}

// MaxHidden bounds the hidden tool names in one record, so a huge tool
// list's record stays small; ToolsHidden always has the count.
const MaxHidden = 100

// Principal is who asked: identifiers only, never the token.
type Principal struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Actor    string `json:"actor,omitempty"`
	// Username and Groups are the token's, so that an auditor reads who
	// without a directory lookup.
	Username string   `json:"username,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	// Verification is how the token was checked, or why it was refused.
	Verification string `json:"verification,omitempty"`
}

// Tool is the tool a call or result is about.
type Tool struct {
	Target    string `json:"target,omitempty"`
	Name      string `json:"name,omitempty"`
	Operation string `json:"operation,omitempty"`
	Risk      string `json:"risk,omitempty"`
}

// Policy is one policy rule that failed or could not be evaluated.
type Policy struct {
	Name    string `json:"name"`
	Rule    string `json:"rule,omitempty"`
	Mode    string `json:"mode"` // enforce or audit
	Kind    string `json:"kind"` // violation or error
	Message string `json:"message,omitempty"`
	// Detail says what failed, for operators. The interceptor logs an
	// error's detail only at debug level: it may quote argument values.
	Detail string `json:"detail,omitempty"`
}

// Bundle identifies the policy bundle that decided: where it came from, its
// content digest (the same for the same files from any source) and, for a
// bundle from S3, the archive object's version id and ETag.
type Bundle struct {
	Source  string `json:"source"`
	Digest  string `json:"digest"`
	Version string `json:"version,omitempty"`
	ETag    string `json:"etag,omitempty"`
	// Layers name each bundle of a composed one, base first, with its
	// own digest (Digest is theirs together).
	Layers []Layer `json:"layers,omitempty"`
}

// Layer is one bundle of a composed one.
type Layer struct {
	Source string `json:"source"`
	Digest string `json:"digest"`
}

// Level is the record's log level: INFO for allow, WARN for deny and
// audit_deny and for HTTP pass-throughs (unchecked), ERROR for error.
func (r *Record) Level() slog.Level {
	switch {
	case r.Result == Error:
		return slog.LevelError
	case r.Result == Deny || r.Result == AuditDeny || r.Phase == "http":
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// DeniedBy returns the names of the enforcing policies that failed, each
// once, in order.
func (r *Record) DeniedBy() []string {
	var names []string
	for _, p := range r.Policies {
		if p.Mode == "enforce" && !slices.Contains(names, p.Name) {
			names = append(names, p.Name)
		}
	}
	return names
}

// LogValue makes a Record a slog group. Logged under the empty key, its fields
// become the log line's top-level fields, named as the JSON tags above.
func (r *Record) LogValue() slog.Value {
	a := make([]slog.Attr, 0, 24)
	a = append(a, slog.Int("schema_version", r.SchemaVersion), slog.String("decision_id", r.DecisionID))
	a = appendString(a, "trace_id", r.TraceID)
	a = appendString(a, "request_id", r.RequestID)
	a = appendString(a, "session_id", r.SessionID)
	a = append(a, slog.String("phase", r.Phase))
	a = appendString(a, "method", r.Method)
	if p := r.Principal; p != nil {
		a = append(a, slog.Any("principal", p))
	}
	if t := r.Tool; t != nil {
		a = append(a, slog.Any("tool", t))
	}
	a = appendString(a, "environment", r.Environment)
	a = append(a, slog.String("result", r.Result))
	if r.Repeat {
		a = append(a, slog.Bool("repeat", true))
	}
	a = appendString(a, "repeat_of", r.RepeatOf)
	a = appendString(a, "reason", r.Reason)
	if r.Code != 0 {
		a = append(a, slog.Int("code", r.Code))
	}
	if len(r.Policies) > 0 {
		a = append(a, slog.Any("policies", r.Policies))
	}
	a = append(a, slog.Any("bundle", r.Bundle))
	a = appendString(a, "args_sha256", r.ArgsSHA256)
	if r.Arguments != nil {
		a = append(a, slog.Any("arguments", r.Arguments))
	}
	if r.ToolsHidden > 0 {
		a = append(a, slog.Int("tools_hidden", r.ToolsHidden), slog.Any("hidden", r.Hidden))
	}
	if r.TasksHidden > 0 {
		a = append(a, slog.Int("tasks_hidden", r.TasksHidden))
	}
	if len(r.Redactions) > 0 {
		a = append(a, slog.Any("redactions", r.Redactions))
	}
	if len(r.RateLimits) > 0 {
		a = append(a, slog.Any("rate_limits", r.RateLimits))
	}
	if len(r.Containment) > 0 {
		a = append(a, slog.Any("containment", r.Containment))
	}
	if len(r.Definitions) > 0 {
		a = append(a, slog.Any("definitions", r.Definitions))
	}
	if r.DefinitionsChanged > 0 {
		a = append(a, slog.Int("definitions_changed", r.DefinitionsChanged))
	}
	if r.ApprovalRequired {
		a = append(a, slog.Bool("approval_required", true), slog.Any("approval", r.Approval))
	}
	if r.Approved != nil {
		a = append(a, slog.Any("approved", r.Approved))
	}
	a = append(a, slog.Int64("latency_us", r.LatencyUS))
	return slog.GroupValue(a...)
}

func appendString(a []slog.Attr, key, v string) []slog.Attr {
	if v == "" {
		return a
	}
	return append(a, slog.String(key, v))
}
