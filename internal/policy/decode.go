package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/codec"
)

// Kyverno JSON's API version and kind.
const (
	KyvernoAPIVersion = "json.kyverno.io/v1alpha1"
	KyvernoKind       = "ValidatingPolicy"
)

// DecodePolicy decodes and checks one ValidatingPolicy document.
func DecodePolicy(doc []byte) (*v1alpha1.ValidatingPolicy, error) {
	var p v1alpha1.ValidatingPolicy
	if err := codec.DecodeStrict(doc, &p); err != nil {
		return nil, err
	}
	if p.APIVersion != KyvernoAPIVersion || p.Kind != KyvernoKind {
		return nil, fmt.Errorf("apiVersion/kind %s/%s: want %s/%s", p.APIVersion, p.Kind, KyvernoAPIVersion, KyvernoKind)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("metadata.name is required")
	}
	if err := CheckAnnotations(p.Name, p.Annotations); err != nil {
		return nil, err
	}
	if _, _, err := modeOf(&p); err != nil {
		return nil, err
	}
	if len(p.Spec.Rules) == 0 {
		return nil, fmt.Errorf("policy %s: spec.rules is empty", p.Name)
	}
	seen := map[string]bool{}
	for i, r := range p.Spec.Rules {
		if r.Name == "" {
			return nil, fmt.Errorf("policy %s: spec.rules[%d].name is required", p.Name, i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("policy %s: duplicate rule name %q", p.Name, r.Name)
		}
		seen[r.Name] = true
		if r.Identifier != "" || len(r.Feedback) > 0 {
			return nil, fmt.Errorf("policy %s rule %s: identifier and feedback are not supported: they would have no effect on decisions", p.Name, r.Name)
		}
	}
	if err := normalize(&p); err != nil {
		return nil, fmt.Errorf("policy %s: %w", p.Name, err)
	}
	return &p, nil
}

// FieldError is an error in one member of a policy document, so that it
// can be reported at that member's line.
type FieldError struct {
	At  []any // as Problem.At
	Err error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// knownAnnotations are the annotations of the policies.toolgate.dev/
// prefix a policy may carry.
var knownAnnotations = []string{ModeAnnotation, DescriptionAnnotation, EffectAnnotation, ApproversAnnotation, ApprovalTTLAnnotation}

// CheckAnnotations refuses an annotation of our prefix that the policy
// named name does not read: a misspelt one ("approver" for "approvers")
// would silently leave the default in force (self-approval).
func CheckAnnotations(name string, annotations map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if slices.Contains(knownAnnotations, k) || !oursMisspelt(k) {
			continue
		}
		msg := fmt.Sprintf("policy %s: unknown annotation %s", name, k)
		if hint := Nearest(knownAnnotations, k); hint != "" {
			msg += " (did you mean " + hint + "?)"
		} else {
			msg += ": the annotations of " + AnnotationPrefix + " are " + strings.Join(knownAnnotations, ", ")
		}
		return &FieldError{At: []any{"metadata", "annotations", k}, Err: errors.New(msg)}
	}
	return nil
}

// oursMisspelt reports whether an annotation key looks meant for us: our
// prefix in any case, or one a few letters from it (policy.toolgate.dev/,
// policies.toolgate.io/), with or without its slash. Other prefixes that
// name toolgate (toolgate.acme.com/ticket) are someone else's.
func oursMisspelt(k string) bool {
	k = strings.ToLower(k)
	prefix, _, ok := strings.Cut(k, "/")
	if !ok { // policies.toolgate.dev.mode
		prefix = k[:min(len(k), len(AnnotationPrefix)-1)]
	}
	return distance(prefix+"/", AnnotationPrefix) <= 4
}

// modeOf returns the mode of p's findings and, for an approval policy, the
// approval they need. An approval policy in audit mode reports would-need-
// approvals as audit findings.
func modeOf(p *v1alpha1.ValidatingPolicy) (Mode, *Approval, error) {
	mode := ModeEnforce
	switch m := Mode(p.Annotations[ModeAnnotation]); m {
	case "", ModeEnforce:
	case ModeAudit:
		mode = ModeAudit
	default:
		return "", nil, fmt.Errorf("policy %s: annotation %s: %q is neither enforce nor audit", p.Name, ModeAnnotation, m)
	}
	return EffectOf(p.Name, p.Annotations, mode)
}

// EffectOf returns the mode of the findings of the policy named name, whose
// own mode (enforce or audit) is mode, and the approval they need, from
// its effect annotations.
func EffectOf(name string, annotations map[string]string, mode Mode) (Mode, *Approval, error) {
	approvers, hasApprovers := annotations[ApproversAnnotation]
	ttl, hasTTL := annotations[ApprovalTTLAnnotation]
	switch e := annotations[EffectAnnotation]; e {
	case "", EffectDeny:
		if hasApprovers || hasTTL {
			return "", nil, fmt.Errorf("policy %s: annotations %s and %s need %s: %s", name, ApproversAnnotation, ApprovalTTLAnnotation, EffectAnnotation, EffectApproval)
		}
		return mode, nil, nil
	case EffectApproval:
	default:
		return "", nil, fmt.Errorf("policy %s: annotation %s: %q is neither %s nor %s", name, EffectAnnotation, e, EffectDeny, EffectApproval)
	}
	a := &Approval{Approvers: []string{ApproverCaller}, TTLSeconds: int64(DefaultApprovalTTL / time.Second)}
	if hasApprovers {
		a.Approvers = nil
		for _, g := range strings.Split(approvers, ",") {
			if g = strings.TrimSpace(g); g == "" {
				return "", nil, fmt.Errorf("policy %s: annotation %s: empty approver in %q", name, ApproversAnnotation, approvers)
			}
			a.Approvers = append(a.Approvers, g)
		}
		if slices.Contains(a.Approvers, ApproverCaller) && len(a.Approvers) > 1 {
			return "", nil, fmt.Errorf("policy %s: annotation %s: %s cannot be combined with groups", name, ApproversAnnotation, ApproverCaller)
		}
	}
	if hasTTL {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			return "", nil, fmt.Errorf("policy %s: annotation %s: %q is not a duration between 1m and 24h", name, ApprovalTTLAnnotation, ttl)
		}
		a.TTLSeconds = int64(d / time.Second)
	}
	if mode == ModeEnforce {
		mode = ModeApproval
	}
	return mode, a, nil
}

// DefaultApprovalTTL is how long an approval request waits and a grant
// lasts when the policy does not say.
const DefaultApprovalTTL = 15 * time.Minute

// normalize re-decodes every free-form value of p (context variables,
// assertion trees, feedback) with encoding/json. kyverno-json decodes them
// with Kubernetes' JSON decoder, which turns integers into int64, while
// documents hold float64: JMESPath functions such as max() then reject the
// mix and comparisons between the two fail.
func normalize(p *v1alpha1.ValidatingPolicy) error {
	for i := range p.Spec.Rules {
		r := &p.Spec.Rules[i]
		for j := range r.Context {
			v, err := Plain(&r.Context[j].Variable)
			if err != nil {
				return err
			}
			r.Context[j].Variable = v1alpha1.NewAny(v)
		}
		for j := range r.Feedback {
			if r.Feedback[j].Value == nil {
				continue
			}
			v, err := Plain(r.Feedback[j].Value)
			if err != nil {
				return err
			}
			a := v1alpha1.NewAny(v)
			r.Feedback[j].Value = &a
		}
		for _, m := range []*v1alpha1.Match{r.Match, r.Exclude} {
			if m == nil {
				continue
			}
			if err := normalizeTrees(m.Any); err != nil {
				return err
			}
			if err := normalizeTrees(m.All); err != nil {
				return err
			}
		}
		for _, list := range [][]v1alpha1.Assertion{r.Assert.Any, r.Assert.All} {
			for j := range list {
				v, err := Plain(&list[j].Check)
				if err != nil {
					return err
				}
				list[j].Check = v1alpha1.NewAssertionTree(v)
			}
		}
	}
	return nil
}

func normalizeTrees(trees []v1alpha1.AssertionTree) error {
	for i := range trees {
		v, err := Plain(&trees[i])
		if err != nil {
			return err
		}
		trees[i] = v1alpha1.NewAssertionTree(v)
	}
	return nil
}

// Plain returns a kyverno-json value (a tree, a context variable) as
// plain JSON values, as encoding/json decodes them.
func Plain(m json.Marshaler) (any, error) {
	b, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
