// Package config turns the function's environment variables into a ready
// interceptor handler. A configuration or bundle error never stops the
// function: it yields a handler that denies everything and says why.
package config

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/metrics"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/reload"
	"github.com/toolgate/toolgate/internal/s3bundle"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/internal/trace"
)

// Config is the function's configuration.
type Config struct {
	// Environment (ENVIRONMENT) is the deployment's environment. Unset means
	// "production": the strictest assumption.
	Environment string
	// PolicySource (POLICY_SOURCE): empty for the embedded bundle, a
	// directory path, or s3://bucket/prefix for the bundle archive published
	// there, kept current.
	PolicySource string
	// PolicyRefresh (POLICY_REFRESH_SECONDS, default 60; 0 checks on every
	// invocation) is the least time between two checks for a new bundle in
	// S3, and PolicyRefreshTimeout (POLICY_REFRESH_TIMEOUT_MS, default 1000)
	// bounds one check.
	PolicyRefresh, PolicyRefreshTimeout time.Duration
	// DenyStatus (DENY_STATUS_CODE) is the HTTP status of denials, 200 by default.
	DenyStatus int
	// LogLevel (AWS_LAMBDA_LOG_LEVEL, else LOG_LEVEL): debug, info, warn, error.
	LogLevel slog.Level
	// LogText (AWS_LAMBDA_LOG_FORMAT=Text) writes logs as text; JSON, the
	// default, is Lambda's JSON log format.
	LogText bool
	// LogArguments (LOG_ARGUMENTS=true) puts raw tool arguments into
	// decision records. Arguments can carry secrets: off by default.
	LogArguments bool
	// Metrics (METRICS=off turns them off) writes CloudWatch embedded metric
	// format records to the log.
	Metrics bool
	// MetricsNamespace (METRICS_NAMESPACE): metrics.DefaultNamespace if empty.
	MetricsNamespace string
	// MetricsDimensions (METRICS_DIMENSIONS, comma-separated) are the
	// dimensions of the Decisions and Latency metrics; nil for the default.
	MetricsDimensions []string
	// JWT turns on token verification when JWT.JWKSURL (JWKS_URL) is set;
	// JWT_ISSUER, JWT_AUDIENCE (comma-separated), JWT_TOKEN_USE and
	// JWT_LEEWAY_SECONDS (default 30) refine it.
	JWT identity.VerifierConfig
	// Limits: MAX_EVENT_BYTES, MAX_JSON_DEPTH, MAX_ARGUMENT_BYTES,
	// MAX_JSON_VALUES; zero
	// fields take interceptor.DefaultLimits.
	Limits interceptor.Limits
	// DeadlineMargin (DEADLINE_MARGIN_MS) is kept back from the invocation
	// deadline to answer in; zero takes the handler's default.
	DeadlineMargin time.Duration
	// StateTable (STATE_TABLE) is the DynamoDB table of rate-limit counts;
	// MemoryState counts in process (local runs: each Lambda instance would
	// count alone); empty: a bundle's rate limits deny what they match
	// (unless they fail open). StateTimeout (STATE_TIMEOUT_MS, default 300) bounds the
	// counting of one call.
	StateTable   string
	StateTimeout time.Duration
	// SessionTTL (SESSION_TTL_SECONDS, default 86400) is how long a
	// session's history is kept after its last call.
	SessionTTL time.Duration
	// ApprovalTable (APPROVAL_TABLE) is the DynamoDB table of approvals;
	// MemoryState keeps them in process (local runs); empty: a call that
	// needs an approval is denied unless its caller confirms in band.
	ApprovalTable string
	// ApprovalURL (APPROVAL_URL) is where approvers decide, with {id} for
	// the approval's id; an https URL (http only for localhost).
	ApprovalURL string
	// ApprovalKeySecret (APPROVAL_KEY_SECRET_ARN) is the Secrets Manager
	// secret whose value signs in-band confirmations; empty confirms
	// nothing in band, except with an in-process approval table, where a
	// random key per process signs.
	ApprovalKeySecret string
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
		Environment:  strings.TrimSpace(getenv("ENVIRONMENT")),
		PolicySource: strings.TrimSpace(getenv("POLICY_SOURCE")),
		DenyStatus:   200,
		Metrics:      true,

		PolicyRefresh:        60 * time.Second,
		PolicyRefreshTimeout: time.Second,

		MetricsNamespace: strings.TrimSpace(getenv("METRICS_NAMESPACE")),
	}
	if c.Environment == "" {
		c.Environment = "production"
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
	if c.LogArguments, err = boolean(getenv, "LOG_ARGUMENTS", false); err != nil {
		return c, err
	}
	if c.Metrics, err = boolean(getenv, "METRICS", true); err != nil {
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
	c.ApprovalTable = strings.TrimSpace(getenv("APPROVAL_TABLE"))
	c.ApprovalKeySecret = strings.TrimSpace(getenv("APPROVAL_KEY_SECRET_ARN"))
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

// Logger returns a logger at level in Lambda's JSON log format (timestamp,
// level, message and the record's fields), or in text.
func Logger(w io.Writer, level slog.Level, text bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// syncWriter serializes the writes of the logger and the metrics, which
// share the function's standard output: Lambda may run several invocations
// at once in one process, and a line must never be cut by another.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// verifier returns the token verifier with its keys fetched. A JWKS that
// cannot be fetched is not a configuration error: tokens count as unverified
// until a later refetch succeeds.
func verifier(cfg identity.VerifierConfig, logger *slog.Logger) (*identity.Verifier, error) {
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	if err := v.Refresh(context.Background()); err != nil {
		logger.Error("JWKS could not be fetched: every token counts as unverified until it can", "jwks_url", cfg.JWKSURL, "error", err.Error())
	} else {
		logger.Info("JWT verification on", "jwks_url", cfg.JWKSURL, "issuer", cfg.Issuer, "audiences", cfg.Audiences, "token_use", cfg.TokenUse)
	}
	return v, nil
}

// startTimeout bounds the first load of a bundle from S3. It runs in
// Lambda's init phase (10 s at most), before any tool call waits.
const startTimeout = 5 * time.Second

// NewHandler builds the handler for the environment read through getenv,
// deciding with the bundle named by POLICY_SOURCE (embedded: the default
// bundle). It logs, and writes metrics, to w, and traces with the tracer
// newTracer returns for its logger (nil: no tracing). On any error it logs
// the error and returns, with the error, a handler that denies every
// request with the reason; for a bundle in S3, until a later check loads a
// good one.
func NewHandler(getenv func(string) string, embedded fs.FS, w io.Writer, newTracer func(*slog.Logger) trace.Tracer) (*reload.Handler, error) {
	w = &syncWriter{w: w}
	cfg, err := FromEnv(getenv)
	logger := Logger(w, cfg.LogLevel, cfg.LogText)
	var tracer trace.Tracer
	if newTracer != nil {
		tracer = newTracer(logger)
	}
	var emf *metrics.EMF
	if err == nil && cfg.Metrics {
		emf, err = metrics.New(w, cfg.MetricsNamespace, cfg.MetricsDimensions, nil)
	}
	icfg := interceptor.Config{
		Environment:    cfg.Environment,
		DenyStatus:     cfg.DenyStatus,
		Logger:         logger,
		LogArguments:   cfg.LogArguments,
		Metrics:        emf,
		Tracer:         tracer,
		Limits:         cfg.Limits,
		DeadlineMargin: cfg.DeadlineMargin,
	}
	if err == nil && cfg.JWT.JWKSURL != "" {
		icfg.Verifier, err = verifier(cfg.JWT, logger)
	}
	icfg.StateTimeout, icfg.SessionTTL = cfg.StateTimeout, cfg.SessionTTL
	if cfg.StateTable == MemoryState {
		icfg.State = &state.Memory{}
	} else if err == nil && cfg.StateTable != "" {
		var store *state.DynamoDB
		if store, err = state.FromEnv(getenv, cfg.StateTable, &http.Client{}); err == nil {
			icfg.State = store
		}
	}
	icfg.ApprovalURL = cfg.ApprovalURL
	switch {
	case cfg.ApprovalTable == MemoryState:
		icfg.Approvals, icfg.ApprovalKeys = &approval.Memory{}, approval.RandomKey()
	case err == nil && cfg.ApprovalTable != "":
		var store *approval.DynamoDB
		if store, err = approval.FromEnv(getenv, cfg.ApprovalTable, &http.Client{}); err == nil {
			icfg.Approvals = store
		}
	}
	if err == nil && cfg.ApprovalKeySecret != "" {
		var keys *approval.SecretKeys
		if keys, err = approval.SecretKeysFromEnv(getenv, cfg.ApprovalKeySecret, &http.Client{}); err == nil {
			icfg.ApprovalKeys = keys
		}
	}
	build := func(b *bundle.Bundle) *interceptor.Handler {
		c := icfg
		c.Engine, c.Catalog, c.Redactor, c.RateLimits, c.Sessions = b.Engine, b.Catalog, b.Redactor, b.RateLimits, b.Sessions
		if c.State == nil && (b.Sessions != "" || b.RateLimits.Len() > 0) {
			logger.Warn("no STATE_TABLE: calls that rate limits match are denied, audit-only session policies see no history, enforcing ones deny",
				"bundle", b.Source, "rate_limits", b.RateLimits.Len(), "sessions", string(b.Sessions))
		}
		c.Bundle = decisionlog.Bundle{Source: b.Source, Digest: b.Digest, Version: b.Version, ETag: b.ETag}
		return interceptor.New(c)
	}
	broken := func(source string) func(error) *interceptor.Handler {
		return func(err error) *interceptor.Handler {
			c := icfg
			c.Engine = policy.Broken(err)
			c.Bundle.Source = source // no digest: nothing loaded
			return interceptor.New(c)
		}
	}
	if err != nil {
		logger.Error("invalid configuration: denying every request", "error", err.Error())
		return reload.Static(broken("")(err), nil), err
	}
	if strings.HasPrefix(cfg.PolicySource, "s3://") {
		return fromS3(cfg, getenv, logger, emf, build, broken)
	}
	b, err := bundle.Open(cfg.PolicySource, embedded)
	if err != nil {
		logger.Error("policy bundle failed to load: denying every request", "error", err.Error())
		emf.BundleLoadFailure()
		return reload.Static(broken(cmp.Or(cfg.PolicySource, "embedded"))(err), nil), err
	}
	logger.Info("policy bundle loaded", "bundle", b.Source, "digest", b.Digest, "policies", len(b.Policies), "environment", cfg.Environment)
	return reload.Static(build(b), b), nil
}

// fromS3 returns the handler following the bundle published under the
// POLICY_SOURCE prefix.
func fromS3(cfg Config, getenv func(string) string, logger *slog.Logger, emf *metrics.EMF,
	build func(*bundle.Bundle) *interceptor.Handler, broken func(source string) func(error) *interceptor.Handler) (*reload.Handler, error) {
	source := cfg.PolicySource
	fail := func(err error) (*reload.Handler, error) {
		logger.Error("policy bundle failed to load: denying every request", "error", err.Error())
		emf.BundleLoadFailure()
		return reload.Static(broken(source)(err), nil), err
	}
	loc, err := s3bundle.ParseURL(cfg.PolicySource)
	if err != nil {
		return fail(err)
	}
	source = loc.URL()
	// S3 answers a request for the wrong region with a redirect; following
	// it would only fail later and less clearly.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	client, err := s3bundle.FromEnv(getenv, hc)
	if err != nil {
		return fail(fmt.Errorf("load bundle %s: %w", loc.URL(), err))
	}
	return reload.New(context.Background(), reload.Config{
		Client:       client,
		Location:     loc,
		Interval:     cfg.PolicyRefresh,
		Timeout:      cfg.PolicyRefreshTimeout,
		StartTimeout: startTimeout,
		Build:        build,
		Broken:       broken(source),
		Logger:       logger.With("environment", cfg.Environment),
		Metrics:      emf,
	})
}
