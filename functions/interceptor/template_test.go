package main

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "sigs.k8s.io/yaml/goyaml.v3"

	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/metrics"
)

// node returns the value at path (mapping keys) below n, or nil.
func node(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// plain turns a node into comparable Go values, keeping CloudFormation
// short-form tags (!If, !Sub, !Ref) as "tag:" keys.
func plain(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		var s []any
		for _, c := range n.Content {
			s = append(s, plain(c))
		}
		v = s
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return map[string]any{"tag:" + n.Tag: v}
	}
	return v
}

// templateResources returns the template's Resources.
func templateResources(t *testing.T) *yaml.Node {
	t.Helper()
	src, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	return node(doc.Content[0], "Resources")
}

// TestTemplateWatchesTheMetricsTheCodeWrites: the alarms, the dashboard and
// the audit export name the metrics, namespace and log message the function
// actually writes, so a rename in the code cannot silently blind them.
func TestTemplateWatchesTheMetricsTheCodeWrites(t *testing.T) {
	resources := templateResources(t)
	namespace := plain(node(resources, "InterceptorFunction", "Properties", "Environment", "Variables", "METRICS_NAMESPACE"))
	if namespace == nil {
		t.Fatal("the function's METRICS_NAMESPACE is not set")
	}
	ours := []string{metrics.Denials, metrics.EvaluationErrors, metrics.BundleLoadFailures, metrics.RateLimited, metrics.StateErrors, metrics.QuarantinesBegun, metrics.ToolDefinitionChanged}
	var alarmed []string
	for i := 0; i+1 < len(resources.Content); i += 2 {
		name, r := resources.Content[i].Value, resources.Content[i+1]
		if node(r, "Type").Value != "AWS::CloudWatch::Alarm" {
			continue
		}
		props := node(r, "Properties")
		if node(props, "Namespace").Value == "AWS/Lambda" {
			continue
		}
		if !reflect.DeepEqual(plain(node(props, "Namespace")), namespace) {
			t.Errorf("%s: namespace %v, the function writes to %v", name, plain(node(props, "Namespace")), namespace)
		}
		metric := node(props, "MetricName").Value
		if !slices.Contains(ours, metric) || node(props, "Dimensions") != nil {
			t.Errorf("%s: metric %s with dimensions %v: the function writes %v without dimensions", name, metric, node(props, "Dimensions"), ours)
		}
		alarmed = append(alarmed, metric)
	}
	slices.Sort(alarmed)
	slices.Sort(ours)
	if !slices.Equal(alarmed, ours) {
		t.Errorf("alarms on %v, want one on each of %v", alarmed, ours)
	}
	// The operator's page counts them as the template does (with the
	// function's own error alarm).
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
	if n := len(alarmed) + 1; n >= len(words) || strings.Count(string(ops), "creates "+words[n]+" alarms") != 1 {
		t.Errorf("docs/operations.md does not say the template creates %d alarms", n)
	}

	// The dashboard is valid JSON once substituted, and names our metrics.
	sub := node(resources, "Dashboard", "Properties", "DashboardBody")
	if sub.Tag != "!Sub" || len(sub.Content) != 2 {
		t.Fatalf("DashboardBody: want !Sub [body, variables]")
	}
	if !reflect.DeepEqual(plain(node(sub.Content[1], "Namespace")), namespace) {
		t.Errorf("dashboard namespace %v, the function writes to %v", plain(node(sub.Content[1], "Namespace")), namespace)
	}
	body := strings.NewReplacer("${DenialAlarmThreshold}", "50", "${Namespace}", "NS").Replace(sub.Content[0].Value)
	body = regexp.MustCompile(`\$\{[A-Za-z:.]+\}`).ReplaceAllString(body, "x")
	if !json.Valid([]byte(body)) {
		t.Fatalf("dashboard body is not JSON:\n%s", body)
	}
	known := []string{metrics.Decisions, metrics.Latency, metrics.Denials, metrics.PolicyDenials, metrics.EvaluationErrors, metrics.BundleLoadFailures}
	shown := map[string]bool{}
	for _, m := range regexp.MustCompile(`MetricName=\\"(\w+)\\"|"NS", "(\w+)"`).FindAllStringSubmatch(body, -1) {
		shown[m[1]+m[2]] = true
	}
	for name := range shown {
		if !slices.Contains(known, name) {
			t.Errorf("dashboard shows metric %s, which the function does not write", name)
		}
	}
	if len(shown) != len(known) {
		t.Errorf("dashboard shows %v, want every one of %v", shown, known)
	}
	for _, dims := range regexp.MustCompile(`\{NS,([\w,]+)\}`).FindAllStringSubmatch(body, -1) {
		if d := strings.Split(dims[1], ","); !slices.Equal(d, metrics.DefaultDimensions()) && !slices.Equal(d, []string{"Policy"}) {
			t.Errorf("dashboard searches dimensions %v, not written by default", d)
		}
	}

	// The audit export selects exactly the decision records.
	pattern := node(resources, "AuditSubscriptionFilter", "Properties", "FilterPattern").Value
	if pattern != `{ $.message = "`+decisionlog.Message+`" }` {
		t.Errorf("audit export filter %q does not select the decision records", pattern)
	}
}

// TestTemplateApprovalsLeastPrivilege: approvers may only invoke the
// approvals function, never read or write the table; only the approvals
// function may sign with the grant key, and the interceptor may only read
// its public key; the workflow's definition is the file the tests run,
// and names only the substitutions the template gives it.
func TestTemplateApprovalsLeastPrivilege(t *testing.T) {
	resources := templateResources(t)
	approver := node(resources, "ApproverPolicy", "Properties", "PolicyDocument", "Statement")
	for _, st := range approver.Content {
		for _, a := range plainList(plain(node(st, "Action"))) {
			if a != "lambda:InvokeFunction" {
				t.Errorf("approvers are granted %s: they may invoke the approvals function, nothing else", a)
			}
		}
		if r := jsonOf(plain(node(st, "Resource"))); r != `{"tag:!GetAtt":"ApprovalsFunction.Arn"}` {
			t.Errorf("approvers may invoke %s: the approvals function only, not the workflow's", r)
		}
	}
	// One program in two roles: approvers invoke one, the workflow alone
	// the other.
	for fn, role := range map[string]string{"ApprovalsFunction": "approvers", "ApprovalWorkflowFunction": "workflow"} {
		if v := node(resources, fn, "Properties", "Environment", "Variables", "APPROVAL_FUNCTION_ROLE"); v == nil || v.Value != role {
			t.Errorf("%s: APPROVAL_FUNCTION_ROLE is not %s", fn, role)
		}
	}
	invokers := 0
	for _, name := range resourceNames(resources) {
		if strings.Contains(jsonOf(plain(node(resources, name))), "ApprovalWorkflowFunction") && name != "ApprovalWorkflowFunction" {
			invokers++
			if name != "ApprovalWorkflowStateMachine" {
				t.Errorf("%s names the workflow's function: only the workflow may invoke it", name)
			}
		}
	}
	if invokers != 1 {
		t.Errorf("the workflow's function is named by %d resources, want the state machine", invokers)
	}
	statements := node(resources, "ApprovalSigningKey", "Properties", "KeyPolicy", "Statement")
	allowed := map[string]any{}
	denied := map[string]any{}
	for _, st := range statements.Content {
		principal := jsonOf(plain(node(st, "Principal")))
		var action any
		if n := node(st, "NotAction"); n != nil {
			action = map[string]any{"not": plain(n)}
		} else {
			action = plain(node(st, "Action"))
		}
		if node(st, "Effect").Value == "Deny" {
			denied[jsonOf(action)] = jsonOf(plain(node(st, "Condition")))
			continue
		}
		allowed[principal] = action
	}
	wantAllowed := map[string]any{
		`{"AWS":{"tag:!Sub":"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}`: map[string]any{"not": []any{"kms:Sign"}},
		`{"AWS":{"tag:!GetAtt":"ApprovalsFunctionRole.Arn"}}`:                      "kms:Sign",
		`{"AWS":{"tag:!GetAtt":"InterceptorFunctionRole.Arn"}}`:                    "kms:GetPublicKey",
	}
	wantDenied := map[string]any{
		`"kms:Sign"`:        `{"ArnNotEquals":{"aws:PrincipalArn":{"tag:!GetAtt":"ApprovalsFunctionRole.Arn"}}}`,
		`"kms:CreateGrant"`: `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Sign"]}}`,
	}
	if !reflect.DeepEqual(allowed, wantAllowed) || !reflect.DeepEqual(denied, wantDenied) {
		t.Errorf("the grant key's policy:\n allows %v\n  denies %v\nwant %v\n and %v", allowed, denied, wantAllowed, wantDenied)
	}
	if spec := node(resources, "ApprovalSigningKey", "Properties", "KeySpec").Value; spec != "ECC_NIST_P256" {
		t.Errorf("the grant key is %s; the function verifies ECDSA P-256", spec)
	}
	for _, fn := range []string{"InterceptorFunction", "ApprovalsFunction"} {
		if v := plain(node(resources, fn, "Properties", "Environment", "Variables", "APPROVAL_SIGNING_KEY_ARN")); !strings.Contains(jsonOf(v), "ApprovalSigningKey.Arn") {
			t.Errorf("%s: APPROVAL_SIGNING_KEY_ARN is %v", fn, v)
		}
	}
	sm := node(resources, "ApprovalWorkflowStateMachine", "Properties")
	def, err := os.ReadFile("../../" + node(sm, "DefinitionUri").Value)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(def) {
		t.Fatal("the workflow definition is not JSON")
	}
	subs := node(sm, "DefinitionSubstitutions")
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(string(def), -1) {
		if node(subs, m[1]) == nil {
			t.Errorf("the workflow names ${%s}, which the template does not substitute", m[1])
		}
	}
}

func resourceNames(resources *yaml.Node) []string {
	var names []string
	for i := 0; i+1 < len(resources.Content); i += 2 {
		names = append(names, resources.Content[i].Value)
	}
	return names
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func plainList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}
