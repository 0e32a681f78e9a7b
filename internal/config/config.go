// Package config reads the function's configuration from its environment
// variables and checks it; package app builds the handler from it.
package config

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/interceptor"
)

// Config is the function's configuration.
type Config struct {
	// Config is the handler's configuration, as far as the environment
	// sets it, in the one value the handler is built from; a setting left
	// unset stays zero and takes the handler's default (see
	// judge.Config.OrDefaults), set in that one place:
	//   - ENVIRONMENT: Environment; unset means "production", the
	//     strictest assumption;
	//   - DENY_STATUS_CODE: DenyStatus, the HTTP status of denials;
	//   - LOG_ARGUMENTS=true: LogArguments, raw tool arguments in decision
	//     records (they can carry secrets: off by default);
	//   - MAX_EVENT_BYTES, MAX_JSON_DEPTH, MAX_ARGUMENT_BYTES,
	//     MAX_JSON_VALUES: Limits;
	//   - DEADLINE_MARGIN_MS: DeadlineMargin, kept back from the invocation
	//     deadline to answer in;
	//   - STATE_TIMEOUT_MS: StateTimeout, the bound of one round trip to
	//     the state or approval table;
	//   - SESSION_TTL_SECONDS: SessionTTL; SESSION_WINDOW_SECONDS (at most
	//     604800): SessionWindow; TASK_TTL_SECONDS (at most 604800): TaskTTL;
	//   - APPROVAL_URL (https, or http for localhost; with {id}):
	//     ApprovalURL; APPROVAL_MAX_PENDING, APPROVAL_MAX_REQUESTS and
	//     APPROVAL_WINDOW_SECONDS (at most 86400): ApprovalLimits.
	//
	// The stores, keys, verifier, logger, tracer and metrics it names are
	// built by package app from the settings below.
	interceptor.Config
	// PolicySource (POLICY_SOURCE): empty for the embedded bundle, a
	// directory path, or s3://bucket/prefix for the bundle archive published
	// there, kept current.
	PolicySource string
	// PolicyRefresh (POLICY_REFRESH_SECONDS, default 60; 0 checks on every
	// invocation) is the least time between two checks for a new bundle in
	// S3, and PolicyRefreshTimeout (POLICY_REFRESH_TIMEOUT_MS, default 1000)
	// bounds one check.
	PolicyRefresh, PolicyRefreshTimeout time.Duration
	// LogLevel (AWS_LAMBDA_LOG_LEVEL, else LOG_LEVEL): debug, info, warn, error.
	LogLevel slog.Level
	// LogText (AWS_LAMBDA_LOG_FORMAT=Text) writes logs as text; JSON, the
	// default, is Lambda's JSON log format.
	LogText bool
	// GatewayVerifiesTokens (JWT_VERIFIED_BY_GATEWAY=true) states that the
	// gateway's CUSTOM_JWT authorizer verifies every bearer token, so that
	// a function in production may read them unverified (no JWKS_URL).
	GatewayVerifiesTokens bool
	// MetricsOn (METRICS=off turns them off) writes CloudWatch embedded
	// metric format records to the log.
	MetricsOn bool
	// MetricsNamespace (METRICS_NAMESPACE): metrics.DefaultNamespace if empty.
	MetricsNamespace string
	// MetricsDimensions (METRICS_DIMENSIONS, comma-separated) are the
	// dimensions of the Decisions and Latency metrics; nil for the default.
	MetricsDimensions []string
	// JWT turns on token verification when JWT.JWKSURL (JWKS_URL) is set;
	// JWT_ISSUER, JWT_AUDIENCE (comma-separated), JWT_TOKEN_USE and
	// JWT_LEEWAY_SECONDS (default 30) refine it.
	JWT identity.VerifierConfig
	// StateTable (STATE_TABLE) is the DynamoDB table of rate-limit counts;
	// MemoryState counts in process (local runs: each Lambda instance would
	// count alone); empty: a bundle's rate limits deny what they match
	// (unless they fail open).
	StateTable string
	// ApprovalTable (APPROVAL_TABLE) is the DynamoDB table of approvals;
	// MemoryState keeps them in process (local runs); empty: a call that
	// needs an approval is denied unless its caller confirms in band.
	ApprovalTable string
	// ApprovalKeySecret (APPROVAL_KEY_SECRET_ARN) is the Secrets Manager
	// secret whose value signs in-band confirmations and seals the
	// answers of the approval flow.
	ApprovalKeySecret string
	// ApprovalSigningKey (APPROVAL_SIGNING_KEY_ARN) is the KMS key
	// (ECC_NIST_P256) whose signature makes a decision a grant: the
	// approvals function signs with it, the interceptor verifies.
	// Approvals need all three of ApprovalTable, ApprovalKeySecret and
	// ApprovalSigningKey; with an in-process table (MemoryState) the keys
	// are made in process.
	ApprovalSigningKey string
}

// checkApprovalURL refuses an approval URL a user should not be sent to:
// not https (but for a local approval page), or without the {id} that
// names the approval.
func checkApprovalURL(s string) error {
	u, err := url.Parse(strings.ReplaceAll(s, "{id}", "id"))
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1")) {
		return fmt.Errorf("APPROVAL_URL %q: want an https URL", s)
	}
	if !strings.Contains(s, "{id}") {
		return fmt.Errorf("APPROVAL_URL %q: want {id} where the approval's id goes", s)
	}
	return nil
}

// MemoryState is the STATE_TABLE (and APPROVAL_TABLE) value that keeps
// state in process.
const MemoryState = "memory"

// FromEnv reads the configuration through getenv.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		PolicySource: strings.TrimSpace(getenv("POLICY_SOURCE")),
		MetricsOn:    true,

		PolicyRefresh:        60 * time.Second,
		PolicyRefreshTimeout: time.Second,

		MetricsNamespace: strings.TrimSpace(getenv("METRICS_NAMESPACE")),
	}
	c.Environment = cmp.Or(strings.TrimSpace(getenv("ENVIRONMENT")), "production")
	if !catalog.ValidEnvironment(c.Environment) {
		return c, fmt.Errorf("ENVIRONMENT %q: want lower-case letters, digits and dashes (policies compare names exactly: \"Production\" is not production)", c.Environment)
	}
	if s := strings.TrimSpace(getenv("POLICY_REFRESH_SECONDS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 86400 {
			return c, fmt.Errorf("POLICY_REFRESH_SECONDS %q: want seconds from 0 to 86400", s)
		}
		c.PolicyRefresh = time.Duration(n) * time.Second
	}
	if s := strings.TrimSpace(getenv("POLICY_REFRESH_TIMEOUT_MS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return c, fmt.Errorf("POLICY_REFRESH_TIMEOUT_MS %q: want milliseconds from 1 to 10000", s)
		}
		c.PolicyRefreshTimeout = time.Duration(n) * time.Millisecond
	}
	if s := strings.TrimSpace(getenv("DENY_STATUS_CODE")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 200 || n > 599 {
			return c, fmt.Errorf("DENY_STATUS_CODE %q: want an HTTP status from 200 to 599", s)
		}
		c.DenyStatus = n
	}
	switch f := strings.ToLower(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_FORMAT"))); f {
	case "", "json":
	case "text":
		c.LogText = true
	default:
		return c, fmt.Errorf("AWS_LAMBDA_LOG_FORMAT %q: want JSON or Text", f)
	}
	var err error
	if c.GatewayVerifiesTokens, err = boolean(getenv, "JWT_VERIFIED_BY_GATEWAY", false); err != nil {
		return c, err
	}
	if c.LogArguments, err = boolean(getenv, "LOG_ARGUMENTS", false); err != nil {
		return c, err
	}
	if c.MetricsOn, err = boolean(getenv, "METRICS", true); err != nil {
		return c, err
	}
	if s := strings.TrimSpace(getenv("METRICS_DIMENSIONS")); s != "" {
		for d := range strings.SplitSeq(s, ",") {
			c.MetricsDimensions = append(c.MetricsDimensions, strings.TrimSpace(d))
		}
	}
	if err := jwtFromEnv(getenv, &c.JWT); err != nil {
		return c, err
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{
		{"MAX_EVENT_BYTES", &c.Limits.MaxEventBytes},
		{"MAX_JSON_DEPTH", &c.Limits.MaxDepth},
		{"MAX_ARGUMENT_BYTES", &c.Limits.MaxArgumentBytes},
		{"MAX_JSON_VALUES", &c.Limits.MaxValues},
	} {
		if *n.dst, err = positive(getenv, n.name); err != nil {
			return c, err
		}
	}
	ms, err := positive(getenv, "DEADLINE_MARGIN_MS")
	if err != nil {
		return c, err
	}
	c.DeadlineMargin = time.Duration(ms) * time.Millisecond
	c.StateTable = strings.TrimSpace(getenv("STATE_TABLE"))
	if ms, err = positive(getenv, "STATE_TIMEOUT_MS"); err != nil {
		return c, err
	}
	c.StateTimeout = time.Duration(ms) * time.Millisecond
	if ms, err = positive(getenv, "SESSION_TTL_SECONDS"); err != nil {
		return c, err
	}
	c.SessionTTL = time.Duration(ms) * time.Second
	if ms, err = positive(getenv, "SESSION_WINDOW_SECONDS"); err != nil {
		return c, err
	}
	if ms > 7*86400 {
		return c, fmt.Errorf("SESSION_WINDOW_SECONDS %d: want at most 604800 (a week)", ms)
	}
	c.SessionWindow = time.Duration(ms) * time.Second
	if ms, err = positive(getenv, "TASK_TTL_SECONDS"); err != nil {
		return c, err
	}
	if ms > 7*86400 {
		return c, fmt.Errorf("TASK_TTL_SECONDS %d: want at most 604800 (a week)", ms)
	}
	c.TaskTTL = time.Duration(ms) * time.Second
	c.ApprovalTable = strings.TrimSpace(getenv("APPROVAL_TABLE"))
	c.ApprovalKeySecret = strings.TrimSpace(getenv("APPROVAL_KEY_SECRET_ARN"))
	c.ApprovalSigningKey = strings.TrimSpace(getenv("APPROVAL_SIGNING_KEY_ARN"))
	for _, n := range []struct {
		name string
		dst  *int
	}{{"APPROVAL_MAX_PENDING", &c.ApprovalLimits.MaxPending}, {"APPROVAL_MAX_REQUESTS", &c.ApprovalLimits.MaxRequests}} {
		v, err := positive(getenv, n.name)
		if err != nil {
			return c, err
		}
		*n.dst = v
	}
	window, err := positive(getenv, "APPROVAL_WINDOW_SECONDS")
	if err != nil {
		return c, err
	}
	if window > 0 {
		c.ApprovalLimits.Window = time.Duration(window) * time.Second
		if c.ApprovalLimits.Window > approval.MaxWindow {
			return c, fmt.Errorf("APPROVAL_WINDOW_SECONDS %d: want at most %d", window, int(approval.MaxWindow/time.Second))
		}
	}
	if c.ApprovalURL = strings.TrimSpace(getenv("APPROVAL_URL")); c.ApprovalURL != "" {
		if err := checkApprovalURL(c.ApprovalURL); err != nil {
			return c, err
		}
	}
	level := getenv("AWS_LAMBDA_LOG_LEVEL")
	if level == "" {
		level = getenv("LOG_LEVEL")
	}
	if level != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
			return c, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	return c, nil
}

// jwtFromEnv reads the token verification settings. Refining settings
// without JWKS_URL would silently check nothing, so they are an error.
func jwtFromEnv(getenv func(string) string, c *identity.VerifierConfig) error {
	c.JWKSURL = strings.TrimSpace(getenv("JWKS_URL"))
	c.Issuer = strings.TrimSpace(getenv("JWT_ISSUER"))
	c.TokenUse = strings.TrimSpace(getenv("JWT_TOKEN_USE"))
	for a := range strings.SplitSeq(getenv("JWT_AUDIENCE"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Audiences = append(c.Audiences, a)
		}
	}
	c.Leeway = 30 * time.Second
	if s := strings.TrimSpace(getenv("JWT_LEEWAY_SECONDS")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 600 {
			return fmt.Errorf("JWT_LEEWAY_SECONDS %q: want seconds from 0 to 600", s)
		}
		c.Leeway = time.Duration(n) * time.Second
	}
	if c.JWKSURL == "" {
		for _, name := range []string{"JWT_ISSUER", "JWT_AUDIENCE", "JWT_TOKEN_USE", "JWT_LEEWAY_SECONDS"} {
			if strings.TrimSpace(getenv(name)) != "" {
				return fmt.Errorf("%s is set but JWKS_URL is not: tokens would not be verified", name)
			}
		}
	}
	return nil
}

// positive reads a positive integer setting; unset is 0.
func positive(getenv func(string) string, name string) (int, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive integer", name, s)
	}
	return n, nil
}

// boolean reads a true/false setting; unset is def.
func boolean(getenv func(string) string, name string, def bool) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "":
		return def, nil
	case "true", "on", "1":
		return true, nil
	case "false", "off", "0":
		return false, nil
	default:
		return def, fmt.Errorf("%s %q: want true or false", name, v)
	}
}
