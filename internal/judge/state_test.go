package judge

import (
	"testing"

	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
)

// TestCountable: a containment counts the denials that are the caller's
// doing, and none that another caller or the target caused.
func TestCountable(t *testing.T) {
	spared := func(p string) bool { return p == "pinned-tool-definitions" }
	finding := func(p string, kind policy.Kind, mode policy.Mode) policy.Finding {
		return policy.Finding{Policy: p, Kind: kind, Mode: mode}
	}
	denied := func(code int, fs ...policy.Finding) decision.Decision {
		d := decision.Denied("d", code, "no")
		d.Findings = fs
		return d
	}
	own := ratelimit.Outcome{Limit: "per-caller", Result: ratelimit.Exceeded}
	shared := ratelimit.Outcome{Limit: "per-tool", Result: ratelimit.Exceeded, Shared: true}
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
		{"an approval request limit", Result{Decision: denied(decision.CodeRateLimited)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := countable(&tt.r, spared); got != tt.want {
				t.Errorf("countable = %v, want %v", got, tt.want)
			}
		})
	}
}
