// Package policytest runs a bundle's own test cases, so that a policy change
// can be reviewed and tested like code. A case gives an input (a whole
// interceptor event, a JSON-RPC request with the caller's claims, or an
// attribute document) and the expected decision and denying policies.
package policytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/state"
)

// File is a PolicyTest document.
type File struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Cases []Case `json:"cases"`
	} `json:"spec"`
}

// Case is one test case. Exactly one of Event, Request and Attributes is set.
type Case struct {
	Name string `json:"name"`
	// Environment is the deployment's ENVIRONMENT for this case (default:
	// the runner's).
	Environment string `json:"environment,omitempty"`
	// Event is a whole interceptor event.
	Event map[string]any `json:"event,omitempty"`
	// Request is a JSON-RPC request body, sent with Claims (if any) as an
	// unsigned bearer token and with Headers.
	Request map[string]any    `json:"request,omitempty"`
	Claims  map[string]any    `json:"claims,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Response, with Request, is the target's JSON-RPC answer: the case is
	// then judged at the RESPONSE point.
	Response map[string]any `json:"response,omitempty"`
	// Attributes is an attribute document, given straight to the policies.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Before are JSON-RPC requests sent first, with the same claims and
	// headers, in the same session: the history a session policy judges.
	// Their decisions are not checked.
	Before []map[string]any `json:"before,omitempty"`
	// Times sends the event or request this many times (default 1) within
	// one rate-limit window, counted in process by a store that keeps
	// DynamoDB's contract; Expect is about the last. "The 6th call in a
	// minute is denied" is times: 6.
	Times int `json:"times,omitempty"`
	// Approved, with Request, runs the call, lets Approved.By (with
	// Approved.Groups) approve the approval it asks for, as the CLI would,
	// and runs it again: Expect is about the retry. By "caller" is the
	// caller confirming their own call. A refused approval fails the case
	// with the refusal.
	Approved *Approver `json:"approved,omitempty"`
	Expect   Expect    `json:"expect"`
}

// Approver is who approves a case's call.
type Approver struct {
	By     string   `json:"by"`
	Groups []string `json:"groups,omitempty"`
}

// Expect is a case's expected outcome.
type Expect struct {
	Decision decision.Effect `json:"decision"`
	// Policies, when given, is the exact set of policies whose enforced
	// findings deny.
	Policies []string `json:"policies,omitempty"`
	// Audit, when given, is the exact set of audit-only policies that would
	// have denied.
	Audit []string `json:"audit,omitempty"`
	// Approvals, when given, is the exact set of approval policies that
	// asked for an approval.
	Approvals []string `json:"approvals,omitempty"`
	// Errors is the exact set of policies whose rules could not be
	// evaluated. A rule that errors denies (fail closed), so without it a
	// case that expects a denial would pass on a crash: any error not
	// listed here fails the case.
	Errors []string `json:"errors,omitempty"`
	// Tools, when given, is the exact set of tools left in the answer's tool
	// list (result.tools, or result.structuredContent.tools of a search).
	Tools []string `json:"tools,omitempty"`
	// Prompts, Resources and Templates, when given, are the exact sets of
	// prompt names (result.prompts), resource URIs (result.resources) and
	// URI templates (result.resourceTemplates) left in the answer.
	Prompts   []string `json:"prompts,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Templates []string `json:"templates,omitempty"`
	// Redactions, when given, is the exact number of replacements per
	// detector in the answer.
	Redactions map[string]int `json:"redactions,omitempty"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Where string // file:line:column of the case
	Name  string
	Pass  bool
	// Diff says what differed, when Pass is false.
	Diff string
	// Rules are the outcome of each rule ("policy/rule") on the case's
	// document: policy.Pass, Fail, Fault or Skip.
	Rules map[string]string
}

// Options configure Run.
type Options struct {
	// Environment is the default deployment environment (default "production").
	Environment string
}

// Run runs every test case of b. It returns an error only when a test
// document cannot be decoded.
func Run(b *bundle.Bundle, opts Options) ([]CaseResult, error) {
	if opts.Environment == "" {
		opts.Environment = "production"
	}
	docs, err := decode(b)
	if err != nil {
		return nil, err
	}
	now := func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }
	var out []CaseResult
	for _, d := range docs {
		for i, c := range d.file.Spec.Cases {
			where := d.cases[i]
			env := c.Environment
			if env == "" {
				env = opts.Environment
			}
			if !b.Catalog.KnowsEnvironment(env) {
				// As the function would deny every call there, the
				// case is wrong, not the policies.
				out = append(out, CaseResult{Where: where, Name: c.Name, Diff: fmt.Sprintf(
					"environment %q is not one of the catalog's environments (%s)", env, strings.Join(b.Catalog.Environments, ", "))})
				continue
			}
			if c.Attributes != nil {
				// A partial document is judged as the whole one the
				// function would build with those values; a member the
				// document cannot have fails the case.
				if c.Attributes, err = completeAttributes(c.Attributes, b); err != nil {
					out = append(out, CaseResult{Where: where, Name: c.Name, Diff: err.Error()})
					continue
				}
			}
			approvals, signer, keys := &approval.Memory{}, approval.NewLocalKey(), approval.RandomKey()
			h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: env, Engine: b.Engine, Catalog: b.Catalog, Redactor: b.Redactor, RateLimits: b.RateLimits, Containments: b.Containments, Pins: b.Pins.Forgetful(), Definitions: b.Definitions, Sessions: b.Sessions, State: &state.Memory{Now: now}, Now: now, Approvals: approvals, ApprovalKeys: keys, GrantKey: signer}})
			var got decision.Decision
			var listed lists
			var doc map[string]any
			var err error
			for _, req := range c.Before {
				earlier := Case{Request: req, Claims: c.Claims, Headers: c.Headers}
				if _, _, _, err = earlier.run(h, b.Engine); err != nil {
					break
				}
			}
			for i := 0; err == nil && i < max(1, c.Times); i++ {
				got, listed, doc, err = c.run(h, b.Engine)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: case %q: %w", where, c.Name, err)
			}
			res := CaseResult{Where: where, Name: c.Name}

			if c.Approved != nil {
				got, listed, doc, res.Diff = c.approve(h, approvals, signer, keys, got, now())
			}
			res.Rules = outcomes(b.Engine, doc)
			if res.Diff == "" {
				res.Diff = c.Expect.diff(got, listed)
			}
			res.Pass = res.Diff == ""
			out = append(out, res)
		}
	}
	return out, nil
}

// Check decodes b's test documents strictly and checks their cases'
// shape without running them; it returns the number of cases.
func Check(b *bundle.Bundle) (int, error) {
	docs, err := decode(b)
	n := 0
	for _, d := range docs {
		n += len(d.file.Spec.Cases)
	}
	return n, err
}

type testDoc struct {
	where string
	file  File
	// cases are where each case is: "file:line:column".
	cases []string
}

func decode(b *bundle.Bundle) ([]testDoc, error) {
	var docs []testDoc
	var errs []error
	for _, doc := range b.Tests {
		var f File
		if err := codec.DecodeStrict(doc.Data, &f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", doc.Where(), err))
			continue
		}
		if f.APIVersion != bundle.APIVersion || f.Kind != bundle.KindTest {
			errs = append(errs, fmt.Errorf("%s: not a %s/%s document", doc.Where(), bundle.APIVersion, bundle.KindTest))
			continue
		}
		for i, c := range f.Spec.Cases {
			if err := c.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: case %d (%s): %w", doc.Where(), i, c.Name, err))
			}
		}
		td := testDoc{where: doc.Where(), file: f}
		for i := range f.Spec.Cases {
			td.cases = append(td.cases, bundle.Position(doc, []any{"spec", "cases", i}))
		}
		docs = append(docs, td)
	}
	return docs, errors.Join(errs...)
}

func (c Case) validate() error {
	n := 0
	for _, set := range []bool{c.Event != nil, c.Request != nil, c.Attributes != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one of event, request and attributes")
	}
	if (c.Claims != nil || c.Headers != nil || c.Response != nil) && c.Request == nil {
		return fmt.Errorf("claims, headers and response go with request")
	}
	if (c.Expect.Tools != nil || c.Expect.Prompts != nil || c.Expect.Resources != nil || c.Expect.Templates != nil || c.Expect.Redactions != nil) &&
		c.Response == nil && c.Event == nil {
		return fmt.Errorf("expect.tools, prompts, resources, templates and redactions need a response")
	}
	if c.Times < 0 || (c.Times > 1 && c.Attributes != nil) {
		return fmt.Errorf("times must be positive, and goes with event or request")
	}
	if c.Before != nil && c.Request == nil {
		return fmt.Errorf("before goes with request")
	}
	if c.Approved != nil && (c.Request == nil || c.Times > 1) {
		return fmt.Errorf("approved goes with request, once")
	}
	if c.Expect.Decision != decision.Allow && c.Expect.Decision != decision.Deny && c.Expect.Decision != decision.Approval {
		return fmt.Errorf("expect.decision must be allow, deny or approval")
	}
	return nil
}

// approve decides, as c.Approved, on the approval that got asks for, and
// runs the call again. It returns the retry's decision, or why there was
// nothing to approve or the approval was refused.
func (c Case) approve(h *interceptor.Handler, store approval.Store, signer approval.Signer, keys approval.Keys, got decision.Decision, now time.Time) (decision.Decision, lists, map[string]any, string) {
	if got.Effect != decision.Approval || got.Approval == nil || got.Approval.ID == "" {
		return got, lists{}, nil, fmt.Sprintf("approved: the call asked for no approval (decision %s: %s)", got.Effect, got.Reason)
	}
	by := c.Approved.By
	if by == policy.ApproverCaller {
		a, err := store.Get(context.Background(), got.Approval.ID)
		if err != nil {
			return got, lists{}, nil, "approved: " + err.Error()
		}
		by = a.Requester
	}
	if _, err := approval.Decide(context.Background(), store, signer, keys, got.Approval.ID, approval.Decision{Approve: true, By: by, Groups: c.Approved.Groups}, now); err != nil {
		return got, lists{}, nil, "approved: refused: " + err.Error()
	}
	retry, listed, doc, err := c.run(h, nil)
	if err != nil {
		return got, lists{}, nil, "approved: " + err.Error()
	}
	return retry, listed, doc, ""
}

// completeAttributes returns a case's partial attribute document as the
// whole one the function would build with those values: checked against
// the schema (and the bundle's environments), every member filled, and the
// members the function sets only for some documents set for those:
// tool.arguments for a call, prompt.arguments for a prompt, response at
// the RESPONSE point.
func completeAttributes(doc map[string]any, b *bundle.Bundle) (map[string]any, error) {
	schema := attributes.Schema()
	whole, err := schema.Complete(doc, "attributes")
	if err != nil {
		return nil, err
	}
	if env, _ := whole["environment"].(string); env != "" && !b.Catalog.KnowsEnvironment(env) {
		return nil, fmt.Errorf("attributes.environment %q is not one of the catalog's environments (%s)", env, strings.Join(b.Catalog.Environments, ", "))
	}
	set := func(parent, member string, shape *attributes.Shape) {
		m := whole[parent].(map[string]any)
		if _, ok := m[member]; !ok {
			m[member], _ = shape.Complete(map[string]any{}, "")
		}
	}
	switch whole["action"] {
	case attributes.ActionCall:
		set("tool", "arguments", schema.Fields["tool"].Fields["arguments"])
	case attributes.ActionPrompt:
		set("prompt", "arguments", schema.Fields["prompt"].Fields["arguments"])
	}
	if _, ok := whole["response"]; !ok && whole["phase"] == attributes.PhaseResponse {
		whole["response"], _ = schema.Fields["response"].Complete(map[string]any{}, "")
	}
	return whole, nil
}

// RuleCoverage says whether some case saw a rule pass (its match held and
// its checks held) and some case saw it fail (a check failed).
type RuleCoverage struct {
	Policy, Rule   string
	Passed, Failed bool
}

// Coverage returns the coverage of each rule of b's policies, in bundle
// order, from the outcomes of results.
func Coverage(b *bundle.Bundle, results []CaseResult) []RuleCoverage {
	var out []RuleCoverage
	for _, r := range b.Engine.Rules() {
		c := RuleCoverage{Policy: r.Policy, Rule: r.Name}
		for _, res := range results {
			switch res.Rules[r.Policy+"/"+r.Name] {
			case policy.Pass:
				c.Passed = true
			case policy.Fail:
				c.Failed = true
			}
		}
		out = append(out, c)
	}
	return out
}

// outcomes returns each rule's outcome on doc, for coverage; nil when the
// engine cannot explain or no document was built.
func outcomes(engine policy.Engine, doc map[string]any) map[string]string {
	k, ok := engine.(policy.Explainer)
	if !ok || doc == nil {
		return nil
	}
	out := map[string]string{}
	for _, r := range k.Explain(doc) {
		out[r.Policy+"/"+r.Rule] = r.Outcome
	}
	return out
}

// run returns the decision, what is listed in the answer, and the
// attribute document the policies judged (nil when none was built).
func (c Case) run(h *interceptor.Handler, engine policy.Engine) (decision.Decision, lists, map[string]any, error) {
	if c.Attributes != nil {
		return decision.FromResult("test", engine.Evaluate(context.Background(), c.Attributes)), lists{}, c.Attributes, nil
	}
	var r judge.Result
	if c.Event != nil {
		payload, err := json.Marshal(c.Event)
		if err != nil {
			return decision.Decision{}, lists{}, nil, err
		}
		r = h.Handle(context.Background(), payload)
	} else {
		var err error
		if r, err = handle(h, c.Claims, c.Headers, c.Request, c.Response); err != nil {
			return decision.Decision{}, lists{}, nil, err
		}
	}
	var doc map[string]any
	if r.Document != nil {
		doc = r.Document.Value()
	}
	return r.Decision, listedItems(r), doc, nil
}

// lists are the names left in an answer's lists, each sorted.
type lists struct{ tools, prompts, resources, templates []string }

// item is an entry of a list answer: a tool or prompt (Name), a resource
// (URI) or a template (URITemplate).
type item struct {
	Name        string `json:"name"`
	URI         string `json:"uri"`
	URITemplate string `json:"uriTemplate"`
}

// listedItems returns the names in the answer's lists.
func listedItems(r judge.Result) lists {
	if r.Output.MCP == nil || r.Output.MCP.TransformedGatewayResponse == nil {
		return lists{}
	}
	var body struct {
		Result struct {
			Tools             []item `json:"tools"`
			Prompts           []item `json:"prompts"`
			Resources         []item `json:"resources"`
			ResourceTemplates []item `json:"resourceTemplates"`
			StructuredContent struct {
				Tools []item `json:"tools"`
			} `json:"structuredContent"`
		} `json:"result"`
	}
	if json.Unmarshal(r.Output.MCP.TransformedGatewayResponse.Body, &body) != nil {
		return lists{}
	}
	tools := body.Result.Tools
	if tools == nil {
		tools = body.Result.StructuredContent.Tools
	}
	names := func(items []item, name func(item) string) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, name(it))
		}
		sort.Strings(out)
		return out
	}
	byName, byURI, byTemplate := func(it item) string { return it.Name }, func(it item) string { return it.URI }, func(it item) string { return it.URITemplate }
	return lists{tools: names(tools, byName), prompts: names(body.Result.Prompts, byName),
		resources: names(body.Result.Resources, byURI), templates: names(body.Result.ResourceTemplates, byTemplate)}
}

// UnsignedToken returns a JWT carrying claims with a placeholder signature.
// It is accepted wherever the interceptor does not verify signatures.
func UnsignedToken(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".unsigned", nil
}

func (e Expect) diff(got decision.Decision, listed lists) string {
	var diffs []string
	for _, l := range []struct {
		kind      string
		want, got []string
	}{{"tools", e.Tools, listed.tools}, {"prompts", e.Prompts, listed.prompts}, {"resources", e.Resources, listed.resources}, {"templates", e.Templates, listed.templates}} {
		if l.want != nil && !sameSet(l.want, l.got) {
			diffs = append(diffs, fmt.Sprintf("%s listed: want %v, got %v", l.kind, sorted(l.want), l.got))
		}
	}
	if e.Redactions != nil && !maps.Equal(e.Redactions, got.Redactions) {
		diffs = append(diffs, fmt.Sprintf("redactions: want %v, got %v", e.Redactions, got.Redactions))
	}
	if got.Effect != e.Decision {
		diffs = append(diffs, fmt.Sprintf("decision: want %s, got %s", e.Decision, got.Effect))
	}
	enforced, audited, approvals := policiesOf(got.Findings)
	if e.Approvals != nil && !sameSet(e.Approvals, approvals) {
		diffs = append(diffs, fmt.Sprintf("approval policies: want %v, got %v", sorted(e.Approvals), approvals))
	}
	if e.Policies != nil && !sameSet(e.Policies, enforced) {
		diffs = append(diffs, fmt.Sprintf("denying policies: want %v, got %v", sorted(e.Policies), enforced))
	}
	if e.Audit != nil && !sameSet(e.Audit, audited) {
		diffs = append(diffs, fmt.Sprintf("audit policies: want %v, got %v", sorted(e.Audit), audited))
	}
	if errored := erroredPolicies(got.Findings); !sameSet(e.Errors, errored) {
		diffs = append(diffs, fmt.Sprintf("policies that could not be evaluated: want %v, got %v (a rule that errors denies; list it in expect.errors if the case means it)",
			sorted(e.Errors), errored))
	}
	if len(diffs) > 0 && len(got.Findings) > 0 {
		var lines []string
		for _, f := range got.Findings {
			line := fmt.Sprintf("    %s %s/%s: %s", f.Mode, f.Policy, f.Rule, f.Message)
			if f.Kind == policy.Error && f.Detail != "" {
				line += " (" + f.Detail + ")"
			}
			lines = append(lines, line)
		}
		diffs = append(diffs, "findings:\n"+strings.Join(lines, "\n"))
	} else if len(diffs) > 0 && got.Effect != decision.Allow {
		diffs = append(diffs, "reason: "+got.Reason)
	}
	return strings.Join(diffs, "\n")
}

// erroredPolicies returns the policies of fs's error findings, the
// findings of rules that could not be evaluated.
func erroredPolicies(fs []policy.Finding) []string {
	out := []string{}
	for _, f := range fs {
		// "(request)", "(event)"...: the input was refused before any
		// policy ran, which is what such a case expects.
		if f.Kind == policy.Error && !strings.HasPrefix(f.Policy, "(") && !slices.Contains(out, f.Policy) {
			out = append(out, f.Policy)
		}
	}
	sort.Strings(out)
	return out
}

func policiesOf(fs []policy.Finding) (enforced, audited, approvals []string) {
	enforced, audited, approvals = []string{}, []string{}, []string{}
	for _, f := range fs {
		if f.Mode == policy.ModeApproval && !slices.Contains(approvals, f.Policy) {
			approvals = append(approvals, f.Policy)
		}
		if f.Mode == policy.ModeEnforce && !slices.Contains(enforced, f.Policy) {
			enforced = append(enforced, f.Policy)
		}
		if f.Mode == policy.ModeAudit && !slices.Contains(audited, f.Policy) {
			audited = append(audited, f.Policy)
		}
	}
	sort.Strings(enforced)
	sort.Strings(audited)
	sort.Strings(approvals)
	return enforced, audited, approvals
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func sameSet(want, got []string) bool { return slices.Equal(sorted(want), got) }
