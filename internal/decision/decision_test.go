package decision_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/policy"
)

func TestFromResult(t *testing.T) {
	v := func(p, msg string, mode policy.Mode) policy.Finding {
		return policy.Finding{Policy: p, Kind: policy.Violation, Mode: mode, Message: msg}
	}
	e := policy.Finding{Policy: "e", Kind: policy.Error, Mode: policy.ModeEnforce, Message: "policy e rule r could not be evaluated"}
	tests := []struct {
		name   string
		r      policy.Result
		effect decision.Effect
		code   int
		reason string
	}{
		{"no findings", policy.Result{}, decision.Allow, 0, ""},
		{"audit only", policy.Result{Findings: []policy.Finding{v("a", "x", policy.ModeAudit)}}, decision.Allow, 0, ""},
		{"violation", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce)}}, decision.Deny, decision.CodePolicyDenied, "no"},
		{"messages joined once", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce), v("q", "no", policy.ModeEnforce), v("r", "never", policy.ModeEnforce)}},
			decision.Deny, decision.CodePolicyDenied, "no; never"},
		{"error", policy.Result{Findings: []policy.Finding{v("p", "no", policy.ModeEnforce), e}}, decision.Deny, decision.CodeUndecidable, "no; policy e rule r could not be evaluated"},
	}
	for _, tt := range tests {
		d := decision.FromResult("id-1", tt.r)
		if d.Effect != tt.effect || d.Code != tt.code || d.Reason != tt.reason || d.ID != "id-1" {
			t.Errorf("%s: got %+v", tt.name, d)
		}
	}
}
