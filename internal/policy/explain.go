package policy

import (
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
)

// Outcomes of a rule in an explanation.
const (
	Pass  = "pass"  // the rule matched and its assertions held
	Fail  = "fail"  // the rule matched and an assertion failed
	Fault = "error" // the rule could not be evaluated
	Skip  = "skip"  // the rule's match or exclude clause left the document out
)

// RuleResult is one rule's outcome on a document.
type RuleResult struct {
	Policy  string `json:"policy"`
	Rule    string `json:"rule"`
	Mode    Mode   `json:"mode"`
	Outcome string `json:"outcome"`
	// Findings are a failed or faulted rule's findings, details included.
	Findings []Finding `json:"findings,omitempty"`
}

// Explain runs every rule of every policy on doc and returns each rule's
// outcome, for an author asking why a document was decided as it was. It is
// slower than Evaluate and not for the request path.
func (k *Kyverno) Explain(doc map[string]any) (out []RuleResult) {
	var resource any = doc
	payload := newPayload(resource)
	for i := range k.policies {
		p := &k.policies[i]
		pb := bind(payload, "$policy", p.binding)
		for _, r := range p.rules {
			out = append(out, explainRule(p, r, resource, pb))
		}
	}
	return out
}

func explainRule(p *compiledPolicy, r compiledRule, resource any, pb binding.Bindings) (res RuleResult) {
	res = RuleResult{Policy: p.name, Rule: r.name, Mode: p.mode, Outcome: Pass}
	fault := func(detail string) {
		res.Outcome = Fault
		res.Findings = append(res.Findings, Finding{Policy: p.name, Rule: r.name, Kind: Error, Mode: errorMode(p.mode),
			Message: fmt.Sprintf("policy %s rule %s could not be evaluated", p.name, r.name), Detail: detail})
	}
	defer func() {
		if v := recover(); v != nil {
			fault(fmt.Sprintf("panic: %v", v))
		}
	}()
	w := getWalk(false)
	defer putWalk(w)
	violations, matched, err := r.eval(w, resource, actionOf(resource), bind(pb, "$rule", r.binding), nil)
	switch {
	case !matched:
		res.Outcome = Skip
	case err != nil:
		fault(describeError(err))
	}
	for _, v := range violations {
		if res.Outcome != Fault { // a failed check before an error: the rule errored, as the decision says
			res.Outcome = Fail
		}
		res.Findings = append(res.Findings, Finding{Policy: p.name, Rule: r.name, Kind: Violation, Mode: p.mode,
			Message: authorMessage(v.message, p, r.name), Detail: describeErrors(v.fails), Approval: p.approval, QuotesArguments: r.quotesArguments})
	}
	return res
}
