package app_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/policies"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestBadConfigurationDenies: a function that cannot be configured still
// answers, denying, and logs why.
func TestBadConfigurationDenies(t *testing.T) {
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, vars := range []map[string]string{
		{"POLICY_SOURCE": "/nonexistent"},
		{"POLICY_SOURCE": "s3://bucket/prefix"},                                                        // no AWS region
		{"POLICY_SOURCE": "s3://Bad_Bucket/prefix", "AWS_REGION": "us-east-1"},                         // not a bucket name
		{"POLICY_SOURCE": "s3://bucket/prefix", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "x"}, // not a URL
		{"POLICY_REFRESH_SECONDS": "-1"},
		{"DENY_STATUS_CODE": "teapot"},
		{"METRICS_DIMENSIONS": "Phase,Principal"},
		{"METRICS_NAMESPACE": "AWS/Lambda"},
		{"JWKS_URL": "http://idp.example/jwks.json"}, // not https
		{"JWT_AUDIENCE": "gateway"},                  // without JWKS_URL
		{"MAX_EVENT_BYTES": "-1"},
		{"ENVIRONMENT": "Production"},                                                   // policies compare names exactly
		{"AWS_LAMBDA_FUNCTION_NAME": "interceptor"},                                     // production, no one verifies tokens
		{"AWS_LAMBDA_FUNCTION_NAME": "interceptor", "JWT_VERIFIED_BY_GATEWAY": "maybe"}, // not a boolean
	} {
		var logs bytes.Buffer
		h, err := app.NewHandler(env(vars), policies.FS, &logs, nil)
		if err == nil {
			t.Errorf("%v: no error", vars)
		}
		if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Deny {
			t.Errorf("%v: %s", vars, r.Decision.Effect)
		}
		if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "denying every request") ||
			!strings.Contains(logs.String(), `"result":"error"`) {
			t.Errorf("%v: not logged: %s", vars, logs.String())
		}
		// A bundle that fails to load is counted, for the alarm.
		if failed := strings.Contains(logs.String(), `"BundleLoadFailures":1`); failed != (vars["POLICY_SOURCE"] != "") {
			t.Errorf("%v: BundleLoadFailures metric %v: %s", vars, failed, logs.String())
		}
	}
	for _, vars := range []map[string]string{
		{"ENVIRONMENT": "dev"},
		{"AWS_LAMBDA_FUNCTION_NAME": "interceptor", "JWT_VERIFIED_BY_GATEWAY": "true"},
		{}, // a local run
	} {
		h, err := app.NewHandler(env(vars), policies.FS, &bytes.Buffer{}, nil)
		if err != nil || h.Bundle() == nil {
			t.Fatalf("%v: %v", vars, err)
		}
		if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Allow || r.Document.Environment != cmp.Or(vars["ENVIRONMENT"], "production") {
			t.Errorf("%v: good configuration: %+v", vars, r.Decision)
		}
	}
}

// TestEnvironmentNoPolicyNames: a deployment whose ENVIRONMENT the
// bundle does not declare (a misspelt "prod" where the default bundle
// knows production, staging and dev) denies every call and logs why; with
// a bundle that declares no environments, one that no policy names is
// said at load.
func TestEnvironmentNoPolicyNames(t *testing.T) {
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := app.NewHandler(env(map[string]string{"ENVIRONMENT": "prod"}), policies.FS, &logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Deny || len(r.Decision.Findings) != 1 ||
		!strings.Contains(r.Decision.Findings[0].Detail, "not one of the bundle's environments") {
		t.Errorf("undeclared environment: %+v", r.Decision)
	}
	if !strings.Contains(logs.String(), `ENVIRONMENT \"prod\" is not one of the bundle's environments (production, staging, dev)`) {
		t.Errorf("not said: %s", logs.String())
	}
	logs.Reset()
	if _, err := app.NewHandler(env(map[string]string{"ENVIRONMENT": "prod", "POLICY_SOURCE": "../../testdata/bundles/minimal"}), policies.FS, &logs, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","message":"no policy names this deployment's ENVIRONMENT`) {
		t.Errorf("not said: %s", logs.String())
	}
	logs.Reset()
	if _, err := app.NewHandler(env(nil), policies.FS, &logs, nil); err != nil || strings.Contains(logs.String(), "no policy names") {
		t.Errorf("production: %v %s", err, logs.String())
	}
}

// TestUnverifiedStagingFrontingProduction: a deployed function outside
// production that reads tokens unverified still denies everything when its
// catalog pins a target to production (the default bundle pins billing).
func TestUnverifiedStagingFrontingProduction(t *testing.T) {
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, _ := app.NewHandler(env(map[string]string{"ENVIRONMENT": "staging", "AWS_LAMBDA_FUNCTION_NAME": "interceptor"}), policies.FS, &logs, nil)
	if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Deny || !strings.Contains(logs.String(), "the catalog pins a target to production") {
		t.Errorf("%+v\n%s", r.Decision, logs.String())
	}
	h, _ = app.NewHandler(env(map[string]string{"ENVIRONMENT": "staging", "AWS_LAMBDA_FUNCTION_NAME": "interceptor", "JWT_VERIFIED_BY_GATEWAY": "true"}), policies.FS, &logs, nil)
	if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Allow {
		t.Errorf("stated: %+v", r.Decision)
	}
}

// TestLogFormats: Lambda's JSON log format (timestamp, level, message) by
// default and with AWS_LAMBDA_LOG_FORMAT=JSON, text with Text; metrics are
// JSON lines either way, and off with METRICS=off.
func TestLogFormats(t *testing.T) {
	payload, err := os.ReadFile("../../testdata/events/denied-delete-production.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		vars            map[string]string
		record, metrics string // a fragment each line must show; "" for none
	}{
		{nil, `"level":"WARN","message":"decision","schema_version":1`, `"_aws":{`},
		{map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON"}, `"level":"WARN","message":"decision"`, `"_aws":{`},
		{map[string]string{"AWS_LAMBDA_LOG_FORMAT": "Text"}, `level=WARN message=decision schema_version=1`, `"_aws":{`},
		{map[string]string{"METRICS": "off"}, `"message":"decision"`, ""},
	} {
		var logs bytes.Buffer
		h, err := app.NewHandler(env(tt.vars), policies.FS, &logs, nil)
		if err != nil {
			t.Fatal(err)
		}
		logs.Reset() // the bundle's load message
		h.Handle(context.Background(), payload)
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if !strings.Contains(lines[0], tt.record) || !strings.HasPrefix(lines[0], map[bool]string{true: "time", false: `{"timestamp":`}[tt.vars["AWS_LAMBDA_LOG_FORMAT"] == "Text"]) {
			t.Errorf("%v: record %s", tt.vars, lines[0])
		}
		metrics := lines[1:]
		if (len(metrics) > 0) != (tt.metrics != "") {
			t.Errorf("%v: metric lines %q", tt.vars, metrics)
		}
		for _, m := range metrics {
			if !json.Valid([]byte(m)) || !strings.Contains(m, tt.metrics) {
				t.Errorf("%v: metric line %s", tt.vars, m)
			}
		}
	}
}

// TestPartialApprovalsRefused: approvals need the shared table, the key
// that seals and confirms, and the key that proves grants together. A
// deployment with only some of them (an in-band confirmation kept in one
// instance would replay on another) is told so at load, and every call
// that needs an approval is denied with that reason; other calls are
// decided as usual.
func TestPartialApprovalsRefused(t *testing.T) {
	refund, err := os.ReadFile("../../testdata/events/approval-needed.json")
	if err != nil {
		t.Fatal(err)
	}
	allowed, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	for _, tt := range []struct {
		vars       map[string]string
		reason     string
		loadsError bool
	}{
		{nil, "approvals are not configured", false},
		{map[string]string{"APPROVAL_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:k"}, "APPROVAL_TABLE and APPROVAL_SIGNING_KEY_ARN not set (a confirmation kept in one instance could be used again on another)", true},
		{map[string]string{"APPROVAL_TABLE": "t", "APPROVAL_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:k"}, "APPROVAL_SIGNING_KEY_ARN not set", true},
		{map[string]string{"APPROVAL_TABLE": "t", "APPROVAL_SIGNING_KEY_ARN": "arn:aws:kms:us-east-1:1:key/k"}, "APPROVAL_KEY_SECRET_ARN not set", true},
	} {
		var logs bytes.Buffer
		h, err := app.NewHandler(env(tt.vars), policies.FS, &logs, nil)
		if err != nil {
			t.Fatalf("%v: %v", tt.vars, err)
		}
		if got := strings.Contains(logs.String(), `"level":"ERROR","message":"approvals are off`); got != tt.loadsError {
			t.Errorf("%v: an ERROR at load: %v\n%s", tt.vars, got, logs.String())
		}
		if r := h.Handle(context.Background(), refund); r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, tt.reason) {
			t.Errorf("%v: %+v, want denied with %q", tt.vars, r.Decision, tt.reason)
		}
		if r := h.Handle(context.Background(), allowed); r.Decision.Effect != decision.Allow {
			t.Errorf("%v: a call that needs no approval: %+v", tt.vars, r.Decision)
		}
	}
}

// TestApproverRoles: each approvals function is configured for its role,
// and a configuration that is not one answers every request with why.
func TestApproverRoles(t *testing.T) {
	srv := moto.Start(t)
	table, key := srv.CreateTable(t, "toolgate-approvals"), srv.CreateKey(t, "ECC_NIST_P256")
	secret := srv.CreateSecret(t, "toolgate-approval-key", strings.Repeat("0123456789abcdef", 3))
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string // "" configures
	}{
		{"approvers", map[string]string{"APPROVAL_FUNCTION_ROLE": "approvers", "APPROVAL_TABLE": table, "APPROVAL_KEY_SECRET_ARN": secret, "APPROVAL_SIGNING_KEY_ARN": key}, ""},
		{"approvers by default", map[string]string{"APPROVAL_TABLE": table, "APPROVAL_KEY_SECRET_ARN": secret, "APPROVAL_SIGNING_KEY_ARN": key}, ""},
		{"the workflow's, which signs nothing", map[string]string{"APPROVAL_FUNCTION_ROLE": "workflow", "APPROVAL_TABLE": table, "APPROVAL_KEY_SECRET_ARN": secret}, ""},
		{"an unknown role", map[string]string{"APPROVAL_FUNCTION_ROLE": "admin", "APPROVAL_TABLE": table, "APPROVAL_KEY_SECRET_ARN": secret}, "want approvers or workflow"},
		{"approvers without a signing key", map[string]string{"APPROVAL_TABLE": table, "APPROVAL_KEY_SECRET_ARN": secret}, "APPROVAL_SIGNING_KEY_ARN is required"},
		{"no table", map[string]string{"APPROVAL_FUNCTION_ROLE": "workflow", "APPROVAL_KEY_SECRET_ARN": secret}, "APPROVAL_TABLE"},
		{"no proof key", map[string]string{"APPROVAL_FUNCTION_ROLE": "workflow", "APPROVAL_TABLE": table}, "APPROVAL_KEY_SECRET_ARN"},
	} {
		var logs bytes.Buffer
		h, err := app.NewApprover(srv.Env(tt.env), &logs)
		out, _ := h.Invoke(context.Background(), []byte(`{"action":"list"}`))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(string(out), tt.want) || !strings.Contains(logs.String(), tt.want)):
			t.Errorf("%s: %v; answered %s; logged %s; want %q", tt.name, err, out, logs.String(), tt.want)
		}
	}
}
