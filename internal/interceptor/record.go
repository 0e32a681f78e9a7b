package interceptor

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/trace"
)

// record describes the decision for the log, the metrics and the trace. It
// never holds the token, and holds the tool arguments only when configured.
func (h *Handler) record(ctx context.Context, r Result, latency time.Duration) *decisionlog.Record {
	d := &r.Decision
	rec := &decisionlog.Record{
		SchemaVersion: decisionlog.SchemaVersion,
		DecisionID:    d.ID,
		TraceID:       trace.ID(ctx),
		Phase:         r.Phase,
		Method:        r.Method,
		Result:        result(d),
		Repeat:        r.Repeat,
		RepeatOf:      r.RepeatOf,
		Reason:        d.Reason,
		Code:          d.Code,
		Bundle:        h.cfg.Bundle,
		Redactions:    d.Redactions,
		LatencyUS:     latency.Microseconds(),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		rec.RequestID = lc.AwsRequestID
	}
	if doc := r.Document; doc != nil {
		rec.Environment = doc.Environment
		rec.SessionID = doc.MCP.SessionID
		p := doc.Principal
		rec.Principal = &decisionlog.Principal{ID: p.ID, Type: p.Type, ClientID: p.ClientID, Actor: p.Actor, Verification: p.Verification}
		if t := doc.Tool; t.QualifiedName != "" {
			rec.Tool = &decisionlog.Tool{Target: t.Target, Name: t.Name, Operation: t.Operation, Risk: t.Risk}
		}
		if doc.Action == attributes.ActionCall {
			rec.ArgsSHA256 = decisionlog.ArgsDigest(doc.Tool.Arguments)
			if h.cfg.LogArguments {
				rec.Arguments = doc.Tool.Arguments
			}
		}
	}
	debug := h.cfg.Logger.Enabled(ctx, slog.LevelDebug)
	for _, f := range d.Findings {
		p := decisionlog.Policy{Name: f.Policy, Rule: f.Rule, Mode: string(f.Mode), Kind: string(f.Kind), Message: f.Message, Detail: f.Detail}
		if f.Kind == policy.Error && !debug {
			// An error's detail may quote the values it choked on, which
			// can be tool arguments; a violation's names only paths.
			p.Detail = ""
		}
		rec.Policies = append(rec.Policies, p)
	}
	for _, o := range r.RateLimits {
		rec.RateLimits = append(rec.RateLimits, decisionlog.RateLimit{Name: o.Limit, Result: o.Result, Count: o.Count, Limit: o.Max})
	}
	if a := d.Approval; a != nil {
		rec.ApprovalRequired = true
		rec.Approval = &decisionlog.Approval{Status: a.Status, Channel: a.Channel, ID: a.ID, Groups: a.Groups, Expired: a.Expired}
		if a.Status == decision.ApprovalGranted {
			rec.Approved = &decisionlog.Approved{By: a.By, At: a.At, ID: a.ID, Channel: a.Channel}
		}
	}
	if w := withholding(d.Findings, r.Document); w != nil {
		rec.Reason = w.Replace(rec.Reason)
		for i := range rec.Policies {
			rec.Policies[i].Message = w.Replace(rec.Policies[i].Message)
		}
	}
	if n := len(d.Hidden); n > 0 {
		// Tool names are not secret, and say why an agent did not see a tool.
		rec.ToolsHidden, rec.Hidden = n, d.Hidden[:min(n, decisionlog.MaxHidden)]
	}
	return rec
}

// withheldMessage stands in a record for a policy's message that may quote
// the call's arguments or the target's answer.
const withheldMessage = "(a message that quotes the call's arguments, withheld)"

// withholding returns what replaces, in a record, the messages of findings
// that may quote the call's arguments or the target's answer: those whose
// template reads them (Finding.QuotesArguments), and those whose message,
// made from a template, holds any of their member names or values (three
// characters or more; a number as the policies read it). The caller was
// shown them; a record never holds an argument value. Nil when none.
func withholding(findings []policy.Finding, doc *attributes.Document) *strings.Replacer {
	var quoted []string
	var values []string
	for _, f := range findings {
		if f.Message == "" || !f.QuotesArguments && !f.Templated {
			continue
		}
		if !f.QuotesArguments {
			if values == nil {
				values = documentValues(doc)
			}
			if !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(f.Message, v) }) {
				continue
			}
		}
		quoted = append(quoted, f.Message, withheldMessage)
	}
	if quoted == nil {
		return nil
	}
	return strings.NewReplacer(quoted...)
}

// maxValues bounds the values a record checks messages against.
const maxValues = 4096

// documentValues returns the call's argument names and values and the
// target's answer's values, of three characters or more, as a message
// would render them (a number as the policies read it).
func documentValues(doc *attributes.Document) []string {
	out := []string{}
	if doc == nil {
		return out
	}
	var walk func(v any, keys bool)
	walk = func(v any, keys bool) {
		if len(out) >= maxValues {
			return
		}
		var s string
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if keys && utf8.RuneCountInString(k) >= 3 {
					out = append(out, k)
				}
				walk(e, keys)
			}
			return
		case []any:
			for _, e := range v {
				walk(e, keys)
			}
			return
		case string:
			s = v
		case float64, json.Number:
			b, _ := codec.Canonical(v)
			s = string(b)
		}
		if utf8.RuneCountInString(s) >= 3 {
			out = append(out, s)
		}
	}
	walk(doc.Tool.Arguments, true)
	if doc.Response != nil {
		walk(doc.Response.Body, false)
	}
	return out
}

// result classifies a decision for the record.
func result(d *decision.Decision) string {
	switch {
	case d.Effect == decision.Approval:
		return decisionlog.ApprovalRequired
	case d.Effect == decision.Allow && slices.ContainsFunc(d.Findings, func(f policy.Finding) bool { return f.Mode != policy.ModeApproval }):
		return decisionlog.AuditDeny // an allowed decision's other findings are audit findings
	case d.Effect == decision.Allow:
		return decisionlog.Allow
	case d.Code == decision.CodeUndecidable:
		return decisionlog.Error
	}
	return decisionlog.Deny
}

// log writes the decision record and its metrics.
func (h *Handler) log(ctx context.Context, rec *decisionlog.Record) {
	h.cfg.Logger.LogAttrs(ctx, rec.Level(), decisionlog.Message, slog.Any("", rec))
	h.cfg.Metrics.Decision(rec)
}

// annotate puts what a trace search filters on onto the invocation's span.
func annotate(span trace.Span, rec *decisionlog.Record) {
	span.Annotate("result", rec.Result)
	span.Annotate("phase", rec.Phase)
	span.Annotate("decision_id", rec.DecisionID)
	if t := rec.Tool; t != nil {
		name := t.Name
		if t.Target != "" {
			name = t.Target + mcp.TargetSeparator + t.Name
		}
		span.Annotate("tool", name)
	}
	if names := rec.DeniedBy(); len(names) > 0 {
		span.Annotate("policy", strings.Join(names, ","))
	}
}
