package policy

import (
	"context"
	"slices"
)

// Explainer is an Engine that can say each rule's outcome on a document,
// for authors and bundle tests.
type Explainer interface {
	Engine
	// Explain runs every rule on doc and returns each one's outcome, in
	// order. It is slower than Evaluate and not for the request path.
	Explain(doc map[string]any) []RuleResult
	// Rules names every rule, in the order Explain reports them.
	Rules() []Rule
}

// Rule names one rule of one policy.
type Rule struct {
	Policy, Name string
}

// Rules implements Explainer.
func (k *Kyverno) Rules() []Rule {
	var out []Rule
	for _, p := range k.policies {
		for _, r := range p.rules {
			out = append(out, Rule{p.name, r.name})
		}
	}
	return out
}

// Join returns an Engine that evaluates each of engines in turn, its
// result all their findings: the policies of a bundle in two dialects.
// One engine is returned as it is.
func Join(engines ...Explainer) Explainer {
	if len(engines) == 1 {
		return engines[0]
	}
	return joined(engines)
}

type joined []Explainer

func (j joined) Evaluate(ctx context.Context, doc map[string]any) Result {
	var res Result
	for _, e := range j {
		r := e.Evaluate(ctx, doc)
		res.Findings = append(res.Findings, r.Findings...)
		if ctx.Err() != nil && slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Policy == "(deadline)" }) {
			return res // said once
		}
	}
	if ctx.Err() != nil && !res.Denied() {
		// An engine may have run out of time after its last rule, or
		// skipped its rules, and said nothing: the next one was still
		// owed its say.
		res.Findings = append(res.Findings, Finding{Policy: "(deadline)", Kind: Error, Mode: ModeEnforce, Answered: true,
			Message: "policy evaluation stopped: no time left", Detail: ctx.Err().Error()})
	}
	return res
}

func (j joined) AllowsEach(ctx context.Context) func(doc map[string]any) bool {
	each := make([]func(map[string]any) bool, len(j))
	for i, e := range j {
		each[i] = e.AllowsEach(ctx)
	}
	return func(doc map[string]any) bool {
		for _, allows := range each {
			if !allows(doc) {
				return false
			}
		}
		return true
	}
}

func (j joined) Explain(doc map[string]any) []RuleResult {
	var out []RuleResult
	for _, e := range j {
		out = append(out, e.Explain(doc)...)
	}
	return out
}

func (j joined) Rules() []Rule {
	var out []Rule
	for _, e := range j {
		out = append(out, e.Rules()...)
	}
	return out
}
