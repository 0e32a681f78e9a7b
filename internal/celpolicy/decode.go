// Package celpolicy evaluates Kyverno's CEL ValidatingPolicy
// (policies.kyverno.io/v1) in its JSON evaluation mode on attribute
// documents: the second policy dialect, beside kyverno-json's. Policies are
// type-checked against the attribute document's schema when they compile,
// so a misspelt path or a comparison of the wrong types fails there, and
// evaluate to the same findings, modes and approvals as the first dialect.
package celpolicy

import (
	"fmt"
	"slices"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/policy"
)

// Kyverno's API version and kind of a CEL ValidatingPolicy.
const (
	APIVersion = "policies.kyverno.io/v1"
	Kind       = "ValidatingPolicy"
)

// ModeJSON is the evaluation mode of a policy on a JSON payload that is
// not a Kubernetes resource, the only one evaluated here.
const ModeJSON = "JSON"

// Policy is a ValidatingPolicy document, the members Kyverno's JSON mode
// reads. Members of Kubernetes admission (matchConstraints, webhooks,
// autogen, auditAnnotations) are refused when decoding: here they would
// have no effect.
type Policy struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata is a policy's name and annotations.
type Metadata struct {
	Name        string            `json:"name"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Spec is what a policy checks.
type Spec struct {
	Evaluation Evaluation `json:"evaluation"`
	// ValidationActions: Deny enforces, Audit and Warn only report (audit
	// mode).
	ValidationActions []string `json:"validationActions"`
	// FailurePolicy is Fail (the default): an expression that cannot be
	// evaluated denies. Ignore is refused.
	FailurePolicy   string           `json:"failurePolicy,omitempty"`
	MatchConditions []NamedCondition `json:"matchConditions,omitempty"`
	Variables       []NamedCondition `json:"variables,omitempty"`
	Validations     []Validation     `json:"validations"`
}

// Evaluation says how a policy is evaluated.
type Evaluation struct {
	Mode string `json:"mode"`
}

// NamedCondition is a named CEL expression: a match condition (true for
// the policy to apply) or a variable.
type NamedCondition struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// Validation is one check: its expression must be true. Message, or the
// string messageExpression evaluates to, says why it is not.
type Validation struct {
	Expression        string `json:"expression"`
	Message           string `json:"message,omitempty"`
	MessageExpression string `json:"messageExpression,omitempty"`
}

// Validation actions.
const (
	ActionDeny  = "Deny"
	ActionAudit = "Audit"
	ActionWarn  = "Warn"
)

// Decode decodes and checks one ValidatingPolicy document (YAML or JSON).
// An error in one member is a *policy.FieldError naming it.
func Decode(doc []byte) (*Policy, error) {
	var p Policy
	if err := codec.DecodeStrict(doc, &p); err != nil {
		return nil, err
	}
	if p.APIVersion != APIVersion || p.Kind != Kind {
		return nil, fmt.Errorf("apiVersion/kind %s/%s: want %s/%s", p.APIVersion, p.Kind, APIVersion, Kind)
	}
	if p.Metadata.Name == "" {
		return nil, fieldError([]any{"metadata"}, "metadata.name is required")
	}
	name := p.Metadata.Name
	if err := policy.CheckAnnotations(name, p.Metadata.Annotations); err != nil {
		return nil, err
	}
	if _, ok := p.Metadata.Annotations[policy.ModeAnnotation]; ok {
		return nil, fieldError([]any{"metadata", "annotations", policy.ModeAnnotation},
			"policy %s: annotation %s is for kyverno-json policies: a ValidatingPolicy says Audit in spec.validationActions", name, policy.ModeAnnotation)
	}
	if _, _, err := modeOf(&p); err != nil {
		return nil, err
	}
	s := &p.Spec
	if s.Evaluation.Mode != ModeJSON {
		return nil, fieldError([]any{"spec"}, "policy %s: spec.evaluation.mode is %q: only %s evaluates here (the document is not a Kubernetes resource)", name, s.Evaluation.Mode, ModeJSON)
	}
	switch s.FailurePolicy {
	case "", "Fail":
	case "Ignore":
		return nil, fieldError([]any{"spec", "failurePolicy"}, "policy %s: failurePolicy Ignore would let a call through when its expressions cannot be evaluated; toolgate fails closed (Fail)", name)
	default:
		return nil, fieldError([]any{"spec", "failurePolicy"}, "policy %s: failurePolicy %q is neither Fail nor Ignore", name, s.FailurePolicy)
	}
	if len(s.Validations) == 0 {
		return nil, fieldError([]any{"spec"}, "policy %s: spec.validations is empty", name)
	}
	for i, v := range s.Validations {
		if v.Expression == "" {
			return nil, fieldError([]any{"spec", "validations", i}, "policy %s: spec.validations[%d].expression is required", name, i)
		}
	}
	for _, list := range []struct {
		name  string
		items []NamedCondition
	}{{"matchConditions", s.MatchConditions}, {"variables", s.Variables}} {
		seen := map[string]bool{}
		for i, c := range list.items {
			at := []any{"spec", list.name, i}
			switch {
			case c.Name == "":
				return nil, fieldError(at, "policy %s: spec.%s[%d].name is required", name, list.name, i)
			case seen[c.Name]:
				return nil, fieldError(at, "policy %s: spec.%s: %q twice", name, list.name, c.Name)
			case c.Expression == "":
				return nil, fieldError(at, "policy %s: spec.%s[%d].expression is required", name, list.name, i)
			case list.name == "variables" && !identifier(c.Name):
				return nil, fieldError(at, "policy %s: variable %q: a name is a CEL identifier (letters, digits, _)", name, c.Name)
			}
			seen[c.Name] = true
		}
	}
	return &p, nil
}

// modeOf returns the mode of p's findings and the approval they need:
// validationActions say enforce (Deny) or audit (Audit, Warn), and the
// effect annotations make an enforcing policy's findings need approval.
func modeOf(p *Policy) (policy.Mode, *policy.Approval, error) {
	actions := p.Spec.ValidationActions
	if len(actions) == 0 {
		return "", nil, fieldError([]any{"spec"}, "policy %s: spec.validationActions is required: [Deny] enforces, [Audit] reports", p.Metadata.Name)
	}
	for i, a := range actions {
		if a != ActionDeny && a != ActionAudit && a != ActionWarn {
			return "", nil, fieldError([]any{"spec", "validationActions", i}, "policy %s: validation action %q is none of Deny, Audit, Warn", p.Metadata.Name, a)
		}
	}
	if slices.Contains(actions, ActionDeny) && slices.Contains(actions, ActionWarn) {
		return "", nil, fieldError([]any{"spec", "validationActions"}, "policy %s: validationActions Deny and Warn together: a call cannot be both refused and warned of", p.Metadata.Name)
	}
	mode := policy.ModeAudit
	if slices.Contains(actions, ActionDeny) {
		mode = policy.ModeEnforce
	}
	m, a, err := policy.EffectOf(p.Metadata.Name, p.Metadata.Annotations, mode)
	if err != nil {
		return "", nil, &policy.FieldError{At: []any{"metadata", "annotations"}, Err: err}
	}
	return m, a, nil
}

// identifier reports whether s is a CEL identifier.
func identifier(s string) bool {
	for i, c := range []byte(s) {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

func fieldError(at []any, format string, args ...any) error {
	return &policy.FieldError{At: at, Err: fmt.Errorf(format, args...)}
}
