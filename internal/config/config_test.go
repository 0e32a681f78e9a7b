package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/policies"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want config.Config
		err  string
	}{
		{"defaults", nil, config.Config{Environment: "production", DenyStatus: 200, Metrics: true}, ""},
		{"set", map[string]string{"ENVIRONMENT": " dev ", "POLICY_SOURCE": "/opt/bundle", "DENY_STATUS_CODE": "403", "LOG_LEVEL": "DEBUG"},
			config.Config{Environment: "dev", PolicySource: "/opt/bundle", DenyStatus: 403, LogLevel: slog.LevelDebug, Metrics: true}, ""},
		{"lambda log level wins", map[string]string{"LOG_LEVEL": "debug", "AWS_LAMBDA_LOG_LEVEL": "WARN"},
			config.Config{Environment: "production", DenyStatus: 200, LogLevel: slog.LevelWarn, Metrics: true}, ""},
		{"logs and metrics", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "Text", "LOG_ARGUMENTS": "true", "METRICS_NAMESPACE": "Toolgate/prod",
			"METRICS_DIMENSIONS": "Phase, Result,Environment"},
			config.Config{Environment: "production", DenyStatus: 200, LogText: true, LogArguments: true, Metrics: true,
				MetricsNamespace: "Toolgate/prod", MetricsDimensions: []string{"Phase", "Result", "Environment"}}, ""},
		{"json format, metrics off", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON", "METRICS": "off"},
			config.Config{Environment: "production", DenyStatus: 200}, ""},
		{"bad format", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "xml"}, config.Config{}, "AWS_LAMBDA_LOG_FORMAT"},
		{"bad boolean", map[string]string{"LOG_ARGUMENTS": "yes please"}, config.Config{}, "LOG_ARGUMENTS"},
		{"bad status", map[string]string{"DENY_STATUS_CODE": "abc"}, config.Config{}, "DENY_STATUS_CODE"},
		{"status out of range", map[string]string{"DENY_STATUS_CODE": "100"}, config.Config{}, "DENY_STATUS_CODE"},
		{"bad level", map[string]string{"LOG_LEVEL": "loud"}, config.Config{}, "log level"},
		{"jwt", map[string]string{"JWKS_URL": "https://idp/jwks.json", "JWT_ISSUER": "https://idp", "JWT_AUDIENCE": "a, b,", "JWT_TOKEN_USE": "access", "JWT_LEEWAY_SECONDS": "5"},
			config.Config{Environment: "production", DenyStatus: 200, Metrics: true, JWT: identity.VerifierConfig{
				JWKSURL: "https://idp/jwks.json", Issuer: "https://idp", Audiences: []string{"a", "b"}, TokenUse: "access", Leeway: 5 * time.Second}}, ""},
		{"limits", map[string]string{"MAX_EVENT_BYTES": "1000", "MAX_JSON_DEPTH": "10", "MAX_ARGUMENT_BYTES": "500", "DEADLINE_MARGIN_MS": "50"},
			config.Config{Environment: "production", DenyStatus: 200, Metrics: true, Limits: interceptor.Limits{MaxEventBytes: 1000, MaxDepth: 10, MaxArgumentBytes: 500},
				DeadlineMargin: 50 * time.Millisecond}, ""},
		{"issuer without jwks", map[string]string{"JWT_ISSUER": "https://idp"}, config.Config{}, "JWKS_URL"},
		{"bad leeway", map[string]string{"JWKS_URL": "https://idp/jwks.json", "JWT_LEEWAY_SECONDS": "-1"}, config.Config{}, "JWT_LEEWAY_SECONDS"},
		{"bad depth", map[string]string{"MAX_JSON_DEPTH": "0"}, config.Config{}, "MAX_JSON_DEPTH"},
		{"bad margin", map[string]string{"DEADLINE_MARGIN_MS": "soon"}, config.Config{}, "DEADLINE_MARGIN_MS"},
		{"refresh", map[string]string{"POLICY_SOURCE": "s3://policies/prod", "POLICY_REFRESH_SECONDS": "0", "POLICY_REFRESH_TIMEOUT_MS": "250"},
			config.Config{Environment: "production", PolicySource: "s3://policies/prod", DenyStatus: 200, Metrics: true, PolicyRefreshTimeout: 250 * time.Millisecond}, ""},
		{"refresh negative", map[string]string{"POLICY_REFRESH_SECONDS": "-1"}, config.Config{}, "POLICY_REFRESH_SECONDS"},
		{"refresh over a day", map[string]string{"POLICY_REFRESH_SECONDS": "86401"}, config.Config{}, "POLICY_REFRESH_SECONDS"},
		{"refresh timeout zero", map[string]string{"POLICY_REFRESH_TIMEOUT_MS": "0"}, config.Config{}, "POLICY_REFRESH_TIMEOUT_MS"},
		{"refresh timeout words", map[string]string{"POLICY_REFRESH_TIMEOUT_MS": "fast"}, config.Config{}, "POLICY_REFRESH_TIMEOUT_MS"},
	}
	for _, tt := range tests {
		if tt.want.JWT.Leeway == 0 {
			tt.want.JWT.Leeway = 30 * time.Second // the default
		}
		if tt.vars["POLICY_REFRESH_SECONDS"] == "" {
			tt.want.PolicyRefresh = time.Minute // the default
		}
		if tt.vars["POLICY_REFRESH_TIMEOUT_MS"] == "" {
			tt.want.PolicyRefreshTimeout = time.Second // the default
		}
		got, err := config.FromEnv(env(tt.vars))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
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
	} {
		var logs bytes.Buffer
		h, err := config.NewHandler(env(vars), policies.FS, &logs, nil)
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
	h, err := config.NewHandler(env(map[string]string{"ENVIRONMENT": "dev"}), policies.FS, &bytes.Buffer{}, nil)
	if err != nil || h.Bundle() == nil {
		t.Fatal(err)
	}
	if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Allow || r.Document.Environment != "dev" {
		t.Errorf("good configuration: %+v", r.Decision)
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
		h, err := config.NewHandler(env(tt.vars), policies.FS, &logs, nil)
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
