package config_test

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/identity"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// with is the configuration of an empty environment, changed by edit.
func with(edit func(*config.Config)) config.Config {
	var c config.Config
	c.Environment, c.MetricsOn = "production", true
	if edit != nil {
		edit(&c)
	}
	return c
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want config.Config
		err  string
	}{
		{"defaults", nil, with(nil), ""},
		{"set", map[string]string{"ENVIRONMENT": " dev ", "POLICY_SOURCE": "/opt/bundle", "DENY_STATUS_CODE": "403", "LOG_LEVEL": "DEBUG"},
			with(func(c *config.Config) {
				c.Environment = "dev"
				c.PolicySource = "/opt/bundle"
				c.DenyStatus = 403
				c.LogLevel = slog.LevelDebug
			}), ""},
		{"lambda log level wins", map[string]string{"LOG_LEVEL": "debug", "AWS_LAMBDA_LOG_LEVEL": "WARN"},
			with(func(c *config.Config) { c.LogLevel = slog.LevelWarn }), ""},
		{"logs and metrics", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "Text", "LOG_ARGUMENTS": "true", "METRICS_NAMESPACE": "Toolgate/prod",
			"METRICS_DIMENSIONS": "Phase, Result,Environment"},
			with(func(c *config.Config) {
				c.LogText = true
				c.LogArguments = true
				c.MetricsNamespace = "Toolgate/prod"
				c.MetricsDimensions = []string{"Phase", "Result", "Environment"}
			}), ""},
		{"json format, metrics off", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON", "METRICS": "off"},
			with(func(c *config.Config) { c.MetricsOn = false }), ""},
		{"bad format", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "xml"}, config.Config{}, "AWS_LAMBDA_LOG_FORMAT"},
		{"bad boolean", map[string]string{"LOG_ARGUMENTS": "yes please"}, config.Config{}, "LOG_ARGUMENTS"},
		{"bad status", map[string]string{"DENY_STATUS_CODE": "abc"}, config.Config{}, "DENY_STATUS_CODE"},
		{"status out of range", map[string]string{"DENY_STATUS_CODE": "100"}, config.Config{}, "DENY_STATUS_CODE"},
		{"bad level", map[string]string{"LOG_LEVEL": "loud"}, config.Config{}, "log level"},
		{"jwt", map[string]string{"JWKS_URL": "https://idp/jwks.json", "JWT_ISSUER": "https://idp", "JWT_AUDIENCE": "a, b,", "JWT_TOKEN_USE": "access", "JWT_LEEWAY_SECONDS": "5"},
			with(func(c *config.Config) {
				c.JWT = identity.VerifierConfig{
					JWKSURL: "https://idp/jwks.json", Issuer: "https://idp", Audiences: []string{"a", "b"}, TokenUse: "access", Leeway: 5 * time.Second}
			}), ""},
		{"limits", map[string]string{"MAX_EVENT_BYTES": "1000", "MAX_JSON_DEPTH": "10", "MAX_ARGUMENT_BYTES": "500", "DEADLINE_MARGIN_MS": "50"},
			with(func(c *config.Config) {
				c.Limits = call.Limits{MaxEventBytes: 1000, MaxDepth: 10, MaxArgumentBytes: 500}
				c.DeadlineMargin = 50 * time.Millisecond
			}), ""},
		{"issuer without jwks", map[string]string{"JWT_ISSUER": "https://idp"}, config.Config{}, "JWKS_URL"},
		{"bad leeway", map[string]string{"JWKS_URL": "https://idp/jwks.json", "JWT_LEEWAY_SECONDS": "-1"}, config.Config{}, "JWT_LEEWAY_SECONDS"},
		{"bad depth", map[string]string{"MAX_JSON_DEPTH": "0"}, config.Config{}, "MAX_JSON_DEPTH"},
		{"bad margin", map[string]string{"DEADLINE_MARGIN_MS": "soon"}, config.Config{}, "DEADLINE_MARGIN_MS"},
		{"refresh", map[string]string{"POLICY_SOURCE": "s3://policies/prod", "POLICY_REFRESH_SECONDS": "0", "POLICY_REFRESH_TIMEOUT_MS": "250"},
			with(func(c *config.Config) {
				c.PolicySource = "s3://policies/prod"
				c.PolicyRefreshTimeout = 250 * time.Millisecond
			}), ""},
		{"approvals", map[string]string{"APPROVAL_TABLE": "t", "APPROVAL_KEY_SECRET_ARN": "arn:s", "APPROVAL_SIGNING_KEY_ARN": "arn:k",
			"APPROVAL_MAX_PENDING": "2", "APPROVAL_MAX_REQUESTS": "7", "APPROVAL_WINDOW_SECONDS": "600"},
			with(func(c *config.Config) {
				c.ApprovalTable = "t"
				c.ApprovalKeySecret = "arn:s"
				c.ApprovalSigningKey = "arn:k"
				c.ApprovalLimits = approval.Limits{MaxPending: 2, MaxRequests: 7, Window: 10 * time.Minute}
			}), ""},
		{"one approval limit", map[string]string{"APPROVAL_MAX_PENDING": "2"}, with(func(c *config.Config) { c.ApprovalLimits.MaxPending = 2 }), ""},
		{"approval limit zero", map[string]string{"APPROVAL_MAX_PENDING": "0"}, config.Config{}, "APPROVAL_MAX_PENDING"},
		{"approval window over a day", map[string]string{"APPROVAL_WINDOW_SECONDS": "86401"}, config.Config{}, "APPROVAL_WINDOW_SECONDS"},
		{"refresh negative", map[string]string{"POLICY_REFRESH_SECONDS": "-1"}, config.Config{}, "POLICY_REFRESH_SECONDS"},
		{"refresh over a day", map[string]string{"POLICY_REFRESH_SECONDS": "86401"}, config.Config{}, "POLICY_REFRESH_SECONDS"},
		{"refresh timeout zero", map[string]string{"POLICY_REFRESH_TIMEOUT_MS": "0"}, config.Config{}, "POLICY_REFRESH_TIMEOUT_MS"},
		{"refresh timeout words", map[string]string{"POLICY_REFRESH_TIMEOUT_MS": "fast"}, config.Config{}, "POLICY_REFRESH_TIMEOUT_MS"},
		{"task ttl", map[string]string{"TASK_TTL_SECONDS": "3600"}, with(func(c *config.Config) { c.TaskTTL = time.Hour }), ""},
		{"task ttl over a week", map[string]string{"TASK_TTL_SECONDS": "604801"}, config.Config{}, "TASK_TTL_SECONDS"},
		{"environment in another case", map[string]string{"ENVIRONMENT": "Production"}, config.Config{}, "ENVIRONMENT"},
		{"task ttl zero", map[string]string{"TASK_TTL_SECONDS": "0"}, config.Config{}, "TASK_TTL_SECONDS"},
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
