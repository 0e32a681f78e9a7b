package decisionlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/trace"
)

// Options say what Describe puts into a record beyond the decision.
type Options struct {
	// Bundle identifies the bundle that decided.
	Bundle Bundle
	// Arguments puts the raw tool arguments into the record. Off by
	// default: arguments can carry secrets and personal data.
	Arguments bool
	// Details keeps the detail of an error finding, which may quote the
	// values the policy choked on: only for a debug log.
	Details bool
}

// Describe is the record of judgement r, made in latency. It never holds
// the token, and holds the tool arguments only when o says so.
func Describe(ctx context.Context, r judge.Result, latency time.Duration, o Options) *Record {
	d := &r.Decision
	method, plainNames := callerNamed(r.Method)
	rec := &Record{
		SchemaVersion: SchemaVersion,
		DecisionID:    d.ID,
		TraceID:       trace.ID(ctx),
		Phase:         r.Phase,
		Method:        method,
		Result:        result(d),
		Repeat:        r.Repeat,
		RepeatOf:      r.RepeatOf,
		Code:          d.Code,
		Bundle:        o.Bundle,
		Redactions:    d.Redactions,
		LatencyUS:     latency.Microseconds(),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		rec.RequestID = lc.AwsRequestID
	}
	if doc := r.Document; doc != nil {
		rec.Environment = doc.Environment
		// The caller sends the session id: a record holds it as it holds
		// a name the caller chose, and a digest still joins a session's
		// records.
		rec.SessionID, _ = callerNamed(doc.MCP.SessionID)
		p := doc.Principal
		rec.Principal = &Principal{ID: p.ID, Type: p.Type, ClientID: p.ClientID, Actor: p.Actor, Verification: p.Verification,
			Username: p.Username, Groups: p.Groups}
		if t := doc.Tool; t.QualifiedName != "" {
			target, tok := callerNamed(t.Target)
			name, nok := callerNamed(t.Name)
			rec.Tool = &Tool{Target: target, Name: name, Operation: t.Operation, Risk: t.Risk}
			plainNames = plainNames && tok && nok
		}
		if doc.Action == attributes.ActionCall {
			rec.ArgsSHA256 = codec.ArgsDigest(doc.Tool.Arguments)
			if o.Arguments {
				rec.Arguments = doc.Tool.Arguments
			}
		}
	}
	for _, f := range d.Findings {
		p := Policy{Name: f.Policy, Rule: f.Rule, Mode: string(f.Mode), Kind: string(f.Kind), Message: f.Message, Detail: f.Detail}
		if f.Kind == policy.Error && !o.Details {
			// An error's detail may quote the values it choked on, which
			// can be tool arguments; a violation's names only paths.
			p.Detail = ""
		}
		rec.Policies = append(rec.Policies, p)
	}
	for _, o := range r.RateLimits {
		rec.RateLimits = append(rec.RateLimits, RateLimit{Name: o.Limit, Result: o.Result, Count: o.Count, Limit: o.Max})
	}
	// Changes first: past MaxHidden, pins made on first use are left out
	// before any change is.
	for _, changed := range []bool{true, false} {
		for _, o := range r.Definitions {
			if (o.Status == attributes.DefinitionChanged) != changed {
				continue
			}
			if changed {
				rec.DefinitionsChanged++
			}
			if len(rec.Definitions) < MaxHidden {
				// A target names its tools: a name it made up is kept as
				// a hidden one is (no secret, no text of its own).
				rec.Definitions = append(rec.Definitions, Definition{Tool: hiddenName(o.Tool), Status: o.Status, Pin: o.Pin, Digest: o.Digest, First: o.First})
			}
		}
	}
	for _, o := range r.Containment {
		c := Containment{Name: o.Containment, Mode: o.Mode, Result: o.Result, Count: o.Count, Threshold: o.Max}
		if !o.Until.IsZero() {
			c.Until = o.Until.UTC().Format(time.RFC3339)
		}
		rec.Containment = append(rec.Containment, c)
	}
	if a := d.Approval; a != nil {
		rec.ApprovalRequired = true
		rec.Approval = &Approval{Status: a.Status, Channel: a.Channel, ID: a.ID, Groups: a.Groups, Expired: a.Expired}
		if a.Status == decision.ApprovalGranted {
			// An approver may paste a credential into a comment: the
			// record holds none.
			rec.Approved = &Approved{By: a.By, At: a.At, ID: a.ID, Channel: a.Channel, Comment: secrets.String(a.Comment, redact.Counts{})}
		}
	}
	// What the caller was shown may quote its arguments; a record holds
	// no argument value.
	rec.Reason = d.RecordReason(withheldMessage)
	for i, f := range d.Findings {
		if f.QuotesArguments && f.Message != "" {
			rec.Policies[i].Message = withheldMessage
		}
	}
	if !plainNames {
		// The caller named its method or tool with something a record
		// does not hold, and any text may quote that name, however
		// transformed: none is kept.
		if rec.Reason != "" {
			rec.Reason = withheldName
		}
		for i := range rec.Policies {
			if rec.Policies[i].Message != "" {
				rec.Policies[i].Message = withheldName
			}
		}
	}
	rec.TasksHidden = d.TasksHidden
	if n := len(d.Hidden); n > 0 {
		// Tool names are not secret, and say why an agent did not see a tool.
		rec.ToolsHidden = n
		for _, name := range d.Hidden[:min(n, MaxHidden)] {
			rec.Hidden = append(rec.Hidden, hiddenName(name))
		}
	}
	return rec
}

// hiddenName is how a record names an item removed from a list answer:
// as it is named if that is a name (letters, digits, "_", "-", ".", at most
// 128) in which no detector of secrets finds one and no run looks like a
// key (see tokenLike), else by a digest of it,
// since the target wrote it and it may hold anything: a URI's path, a key
// posing as a tool name.
func hiddenName(name string) string {
	if len(name) > 128 {
		return digestName(name)
	}
	// A pure function of the name, and a target lists the same tools call
	// after call: each name ran through every detector of secrets, a
	// 500-tool list's hundred hidden names 0.7 ms a list.
	hiddenNames.mu.Lock()
	shown, ok := hiddenNames.m[name]
	hiddenNames.mu.Unlock()
	if ok {
		return shown
	}
	// A name may be a slice of a whole answer's text (one found in
	// prose): the memory keeps a copy of it, never the answer.
	name = strings.Clone(name)
	shown = digestName(name)
	if strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == "" && name != "" &&
		secrets.String(name, redact.Counts{}) == name && !tokenLike(name) {
		shown = name
	}
	hiddenNames.mu.Lock()
	if hiddenNames.m == nil || len(hiddenNames.m) >= maxHiddenNames {
		hiddenNames.m = make(map[string]string) // full: start over
	}
	hiddenNames.m[name] = shown
	hiddenNames.mu.Unlock()
	return shown
}

// callerNamed returns how a record shows a name the caller chose (a
// method, a tool's target or name), and whether that is the name itself:
// as hiddenName shows a name, each "/"-separated part of it judged so,
// since a caller may name anything, a key included.
func callerNamed(name string) (string, bool) {
	if name == "" {
		return "", true
	}
	for part := range strings.SplitSeq(name, "/") {
		if hiddenName(part) != part {
			return digestName(name), false
		}
	}
	return name, true
}

// hiddenNames holds hiddenName's answers for names of at most 128 bytes,
// at most maxHiddenNames of them (about 1 MB).
var hiddenNames struct {
	mu sync.Mutex
	m  map[string]string
}

const maxHiddenNames = 4096

func digestName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// tokenLike reports whether name holds a run of 16 or more letters and
// digits mixing both: what API keys look like (sk_live_..., ghp_...,
// xoxb-...), which no detector of secrets knows by its prefix, and no
// tool's name.
func tokenLike(name string) bool {
	run, letters, digits := 0, false, false
	for i := 0; i <= len(name); i++ {
		if i < len(name) && (name[i] >= '0' && name[i] <= '9' || name[i] >= 'a' && name[i] <= 'z' || name[i] >= 'A' && name[i] <= 'Z') {
			run++
			letters = letters || name[i] > '9'
			digits = digits || name[i] <= '9'
			continue
		}
		if run >= 16 && letters && digits {
			return true
		}
		run, letters, digits = 0, false, false
	}
	return false
}

// secrets finds credentials in the names a record would hold.
var secrets = redact.Secrets()

// withheldMessage stands in a record for a policy's message that may quote
// the call's arguments or the target's answer.
const withheldMessage = "(a message that quotes the call's arguments, withheld)"

// withheldName stands in a record for a reason or a policy's message when
// the caller named its method or tool with what a record does not hold
// (see callerNamed).
const withheldName = "(a message that may quote a name the caller chose, withheld)"

// result classifies a decision for the record.
func result(d *decision.Decision) string {
	switch {
	case d.Effect == decision.Approval:
		return ApprovalRequired
	case d.Effect == decision.Allow && slices.ContainsFunc(d.Findings, func(f policy.Finding) bool { return f.Mode != policy.ModeApproval }):
		return AuditDeny // an allowed decision's other findings are audit findings
	case d.Effect == decision.Allow:
		return Allow
	case d.Code == decision.CodeUndecidable:
		return Error
	}
	return Deny
}
