package judge

import (
	"errors"
	"fmt"
	"testing"

	"github.com/toolgate/toolgate/internal/approval"

	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
)

// TestCountedBy: a containment counts the denials that are the caller's
// doing, and none that another caller or the target caused.
func TestCountedBy(t *testing.T) {
	// The bundle's policies but the one that reads tool definitions.
	counts := func(p string) bool { return p == "tool-allow-list" || p == "(no-get-pod)" }
	finding := func(p string, kind policy.Kind, mode policy.Mode) policy.Finding {
		return policy.Finding{Policy: p, Kind: kind, Mode: mode}
	}
	denied := func(code int, fs ...policy.Finding) decision.Decision {
		d := decision.Denied("d", code, "no")
		d.Findings = fs
		return d
	}
	own := ratelimit.Outcome{Limit: "per-caller", Result: ratelimit.Exceeded, Key: []string{"principal.id", "principal.actor"}}
	perUser := ratelimit.Outcome{Limit: "per-user", Result: ratelimit.Exceeded, Key: []string{"principal.id"}}
	shared := ratelimit.Outcome{Limit: "per-tool", Result: ratelimit.Exceeded, Key: []string{"tool.qualifiedName"}}
	for _, tt := range []struct {
		name string
		r    Result
		want bool
	}{
		{"allowed", Result{Decision: decision.Decision{Effect: decision.Allow}}, false},
		{"a policy's violation", Result{Decision: denied(decision.CodePolicyDenied, finding("tool-allow-list", policy.Violation, policy.ModeEnforce))}, true},
		{"a policy's error", Result{Decision: denied(decision.CodeUndecidable, finding("tool-allow-list", policy.Error, policy.ModeEnforce))}, true},
		{"an audit finding alone", Result{Decision: denied(decision.CodeUndecidable, finding("tool-allow-list", policy.Violation, policy.ModeAudit))}, false},
		{"the interceptor's own failure", Result{Decision: denied(decision.CodeUndecidable, finding("(session)", policy.Error, policy.ModeEnforce))}, false},
		{"a changed definition alone", Result{Decision: denied(decision.CodePolicyDenied, finding("pinned-tool-definitions", policy.Violation, policy.ModeEnforce))}, false},
		{"a changed definition and another policy", Result{Decision: denied(decision.CodePolicyDenied,
			finding("pinned-tool-definitions", policy.Violation, policy.ModeEnforce), finding("tool-allow-list", policy.Violation, policy.ModeEnforce))}, true},
		{"an approver", Result{Decision: denied(decision.CodePolicyDenied)}, true},
		{"the caller's own rate limit", Result{Decision: denied(decision.CodeRateLimited), RateLimits: []ratelimit.Outcome{own}}, true},
		{"a limit others spend", Result{Decision: denied(decision.CodeRateLimited), RateLimits: []ratelimit.Outcome{shared}}, false},
		{"both limits", Result{Decision: denied(decision.CodeRateLimited), RateLimits: []ratelimit.Outcome{shared, own}}, true},
		{"a limit that could not be counted", Result{Decision: denied(decision.CodeUndecidable, policy.Finding{Policy: "hot", Rule: ratelimit.FindingRule, Kind: policy.Error, Mode: policy.ModeEnforce}),
			RateLimits: []ratelimit.Outcome{{Limit: "hot", Result: ratelimit.Error, Key: []string{"tool.qualifiedName"}}}}, false},
		{"a shared limit exceeded and another not counted", Result{Decision: denied(decision.CodeUndecidable,
			policy.Finding{Policy: "per-tool", Rule: ratelimit.FindingRule, Kind: policy.Violation, Mode: policy.ModeEnforce},
			policy.Finding{Policy: "hot", Rule: ratelimit.FindingRule, Kind: policy.Error, Mode: policy.ModeEnforce}),
			RateLimits: []ratelimit.Outcome{shared, {Limit: "hot", Result: ratelimit.Error}}}, false},
		{"the caller's own limit exceeded and another not counted", Result{Decision: denied(decision.CodeUndecidable,
			policy.Finding{Policy: "per-caller", Rule: ratelimit.FindingRule, Kind: policy.Violation, Mode: policy.ModeEnforce},
			policy.Finding{Policy: "hot", Rule: ratelimit.FindingRule, Kind: policy.Error, Mode: policy.ModeEnforce}),
			RateLimits: []ratelimit.Outcome{own, {Limit: "hot", Result: ratelimit.Error}}}, true},
		{"a task bound to no call of the caller's (or no longer)", Result{Decision: denied(decision.CodePolicyDenied, finding("(task)", policy.Violation, policy.ModeEnforce))}, false},
		{"an approval that could not be confirmed", Result{Decision: denied(decision.CodeUndecidable, finding("(approval)", policy.Error, policy.ModeEnforce))}, false},
		{"an approval confirmation forged or replayed", Result{Decision: denied(decision.CodePolicyDenied,
			policy.Finding{Policy: "(approval)", Rule: ruleConfirmation, Kind: policy.Error, Mode: policy.ModeEnforce})}, true},
		{"an approval grant the policies no longer allow", Result{Decision: denied(decision.CodePolicyDenied, finding("(approval)", policy.Error, policy.ModeEnforce))}, false},
		{"a policy of the bundle's named like a step", Result{Decision: denied(decision.CodePolicyDenied, finding("(no-get-pod)", policy.Violation, policy.ModeEnforce))}, true},
		{"a limit every agent of the user spends", Result{Decision: denied(decision.CodeRateLimited), RateLimits: []ratelimit.Outcome{perUser}}, false},
		{"the approvals pending of every agent of the user", Result{Decision: denied(decision.CodeRateLimited)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The containment tells callers apart by principal and agent.
			callers := countedBy(&tt.r, counts)
			if got := callers != nil && callers([]string{"principal.id", "principal.actor"}); got != tt.want {
				t.Errorf("counted = %v, want %v", got, tt.want)
			}
		})
	}
	// Keyed on the principal alone, a containment holds the user for
	// what any of its agents does: a per-user limit then counts.
	r := Result{Decision: denied(decision.CodeRateLimited), RateLimits: []ratelimit.Outcome{perUser}}
	if callers := countedBy(&r, counts); callers == nil || !callers([]string{"principal.id"}) {
		t.Error("a per-user limit's refusal, not counted toward a per-user containment")
	}
}

// TestBadConfirmation: only a confirmation the caller forged, altered or
// moved is marked as its doing; one that expired or was used twice, a key
// store that failed, or a grant the policies no longer allow, is not.
func TestBadConfirmation(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{approval.ErrStateForged, true},
		{approval.ErrStateMalformed, true},
		{approval.ErrStateOtherCall, true},
		{fmt.Errorf("nonce: %w", approval.ErrReplayed), false},
		{fmt.Errorf("%w: key %q: %v", approval.ErrStateForged, "k1", "context deadline exceeded"), false},
		{approval.ErrStateExpired, false},
		{approval.ErrNotPermitted, false},
		{errors.New("the table did not answer"), false},
	} {
		d := (&Judge{}).denyApproval(decision.Denied("d", decision.CodeUndecidable, ""), decision.CodePolicyDenied, "approval not confirmed", tt.err)
		if got := d.Findings[len(d.Findings)-1].Rule == ruleConfirmation; got != tt.want {
			t.Errorf("%v: marked %v, want %v", tt.err, got, tt.want)
		}
	}
}
