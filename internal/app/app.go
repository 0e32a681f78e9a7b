// Package app is the function's composition root: it turns the
// configuration read by package config into a ready interceptor handler,
// with its logger, metrics, tracer, token verifier, state and approval
// stores and policy bundle. A configuration or bundle error never stops the
// function: it yields a handler that denies everything and says why.
package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/config"
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
	cfg, err := config.FromEnv(getenv)
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
	if cfg.StateTable == config.MemoryState {
		icfg.State = &state.Memory{}
	} else if err == nil && cfg.StateTable != "" {
		var store *state.DynamoDB
		if store, err = state.FromEnv(getenv, cfg.StateTable, &http.Client{}); err == nil {
			icfg.State = store
		}
	}
	icfg.ApprovalURL = cfg.ApprovalURL
	switch {
	case cfg.ApprovalTable == config.MemoryState:
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
func fromS3(cfg config.Config, getenv func(string) string, logger *slog.Logger, emf *metrics.EMF,
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
