// Package app is the function's composition root: it turns the
// configuration read by package config into a ready interceptor handler,
// with its logger, metrics, tracer, token verifier, state and approval
// stores and policy bundle. A configuration or bundle error never stops the
// function: it yields a handler that denies everything and says why.
package app

import (
	"cmp"
	"context"
	"errors"
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
	"github.com/toolgate/toolgate/internal/approver"
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
	lw := &lockedWriter{w: w}
	return slog.New(recordLines{slog.NewJSONHandler(lw, opts), lw})
}

// recordLines is the JSON handler with one shortcut: the decision record,
// the line every invocation writes, is encoded by the record itself
// (decisionlog.Record.AppendJSON) rather than by slog, which marshalled
// its nested values by reflection: 0.7 µs against 3.2. The line is the
// same, byte for byte (TestRecordLinesAreSlogs). Every other line, and
// every logger derived with attributes or a group, is slog's.
type recordLines struct {
	slog.Handler
	w *lockedWriter
}

func (h recordLines) Handle(ctx context.Context, r slog.Record) error {
	rec := decisionRecord(r)
	if rec == nil {
		return h.Handler.Handle(ctx, r)
	}
	bp := lineBuffers.Get().(*[]byte)
	b := append((*bp)[:0], `{"timestamp":"`...)
	b = r.Time.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(append(append(b, `","level":"`...), r.Level.String()...), `","message":"decision",`...)
	b = append(rec.AppendJSON(b), "}\n"...)
	_, err := h.w.Write(b)
	if cap(b) <= maxKept {
		*bp = b
		lineBuffers.Put(bp)
	}
	return err
}

var lineBuffers = sync.Pool{New: func() any { return new([]byte) }}

// decisionRecord returns the decision record that r logs, as the
// interceptor logs one (the record alone, under the empty key), or nil
// for any other line, and for one whose time is not an ordinary one
// (none, which slog leaves out, or a year outside 1 to 9999): slog
// writes those.
func decisionRecord(r slog.Record) *decisionlog.Record {
	if r.Message != decisionlog.Message || r.NumAttrs() != 1 || r.Time.IsZero() || r.Time.Year() < 1 || r.Time.Year() > 9999 {
		return nil
	}
	var rec *decisionlog.Record
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" && a.Value.Kind() == slog.KindLogValuer {
			rec, _ = a.Value.Any().(*decisionlog.Record)
		}
		return false
	})
	return rec
}

// lockedWriter serializes the writes of the JSON handler and of its
// shortcut, which would otherwise each hold a lock of their own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter serializes the writes of the logger and the metrics, which
// share the function's standard output: Lambda may run several invocations
// at once in one process, and a line must never be cut by another. While
// an invocation runs (see Handler), the lines written are kept and written
// together as it ends: each write to the runtime's pipe is a system call
// that wakes the pipe's reader, and a denial wrote three (its record and
// two metrics lines). The cost: a process that dies inside an invocation
// (out of memory, a fatal runtime error, a Lambda timeout) loses the
// lines that invocation had written, where before they were out; its
// record, written last, never was. A write that fails loses what it held
// of every invocation running. Standard error is not kept.
type lineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	open int // invocations running
	kept []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open > 0 {
		l.kept = append(l.kept, p...)
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lineWriter) begin() {
	l.mu.Lock()
	l.open++
	l.mu.Unlock()
}

// end writes what was kept, the lines of every invocation running: an
// invocation's lines are out when it answers, even while others run.
func (l *lineWriter) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if len(l.kept) > 0 {
		_, _ = l.w.Write(l.kept) // as the logger and the metrics: best effort
	}
	l.kept = l.kept[:0]
	if cap(l.kept) > maxKept {
		l.kept = nil // one large answer's record must not stay in memory
	}
}

// maxKept is the most a lineWriter keeps allocated between invocations.
const maxKept = 64 << 10

// Handler is the interceptor function's handler: a reload.Handler whose
// invocations write their lines once, as they end.
type Handler struct {
	*reload.Handler
	out *lineWriter
}

// Invoke implements lambda.Handler.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	h.out.begin()
	defer h.out.end()
	return h.Handler.Invoke(ctx, payload)
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

// approvals wires the approval stores and keys into c, or says in
// c.ApprovalsOff why approvals are off: each of the table, the key that
// seals and confirms, and the key that proves grants is needed, and a
// deployment that configures only some of them (in-band confirmations
// without the shared table would replay on another instance) is told so
// at load, and denies every call that needs an approval with that reason.
func approvals(cfg config.Config, getenv func(string) string, c *interceptor.Config, logger *slog.Logger) error {
	if cfg.ApprovalTable == config.MemoryState {
		c.Approvals, c.ApprovalKeys, c.GrantKey = &approval.Memory{}, approval.RandomKey(), approval.NewLocalKey()
		return nil
	}
	var missing []string
	for _, s := range []struct{ name, value string }{
		{"APPROVAL_TABLE", cfg.ApprovalTable}, {"APPROVAL_KEY_SECRET_ARN", cfg.ApprovalKeySecret}, {"APPROVAL_SIGNING_KEY_ARN", cfg.ApprovalSigningKey},
	} {
		if s.value == "" {
			missing = append(missing, s.name)
		}
	}
	switch len(missing) {
	case 0:
	case 3:
		c.ApprovalsOff = "approvals are not configured (APPROVAL_TABLE, APPROVAL_KEY_SECRET_ARN, APPROVAL_SIGNING_KEY_ARN)"
		return nil
	default:
		c.ApprovalsOff = "approvals are off: " + strings.Join(missing, " and ") + " not set"
		if cfg.ApprovalTable == "" {
			c.ApprovalsOff += " (a confirmation kept in one instance could be used again on another)"
		}
		logger.Error("approvals are off: every call that needs an approval is denied", "missing", missing)
		return nil
	}
	hc := &http.Client{}
	store, err := approval.FromEnv(getenv, cfg.ApprovalTable, hc)
	if err != nil {
		return err
	}
	keys, err := approval.SecretKeysFromEnv(getenv, cfg.ApprovalKeySecret, hc)
	if err != nil {
		return err
	}
	grants, err := approval.KMSKeyFromEnv(getenv, cfg.ApprovalSigningKey, hc)
	if err != nil {
		return err
	}
	c.Approvals, c.ApprovalKeys, c.GrantKey = store, keys, grants
	return nil
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
func NewHandler(getenv func(string) string, embedded fs.FS, w io.Writer, newTracer func(*slog.Logger) trace.Tracer) (*Handler, error) {
	out := &lineWriter{w: w}
	h, err := newHandler(getenv, embedded, out, newTracer)
	return &Handler{Handler: h, out: out}, err
}

func newHandler(getenv func(string) string, embedded fs.FS, w io.Writer, newTracer func(*slog.Logger) trace.Tracer) (*reload.Handler, error) {
	cfg, err := config.FromEnv(getenv)
	logger := Logger(w, cfg.LogLevel, cfg.LogText)
	var tracer trace.Tracer
	if newTracer != nil {
		tracer = newTracer(logger)
	}
	var emf *metrics.EMF
	if err == nil && cfg.MetricsOn {
		emf, err = metrics.New(w, cfg.MetricsNamespace, cfg.MetricsDimensions, nil)
	}
	// The handler's configuration as the environment set it; what follows
	// adds what is built from the other settings.
	icfg := cfg.Config
	icfg.Logger, icfg.Tracer, icfg.Metrics = logger, tracer, emf
	if err == nil && cfg.JWT.JWKSURL != "" {
		icfg.Verifier, err = verifier(cfg.JWT, logger)
	}
	if cfg.StateTable == config.MemoryState {
		icfg.State = &state.Memory{}
	} else if err == nil && cfg.StateTable != "" {
		var store *state.DynamoDB
		if store, err = state.FromEnv(getenv, cfg.StateTable, &http.Client{}); err == nil {
			icfg.State = store
		}
	}
	if err == nil {
		err = approvals(cfg, getenv, &icfg, logger)
	}
	// Unverified, a token is whatever the caller wrote: a deployed
	// function reads them so in production (the deployment's, or a target
	// the catalog pins to it) only on the deployment's word that the
	// gateway verified them.
	unverified := getenv("AWS_LAMBDA_FUNCTION_NAME") != "" && cfg.JWT.JWKSURL == "" && !cfg.GatewayVerifiesTokens
	if err == nil && unverified && cfg.Environment == "production" {
		err = errUnverifiedProduction
	}
	var broken func(source string) func(error) *interceptor.Handler
	build := func(b *bundle.Bundle) *interceptor.Handler {
		if unverified && b.Catalog.PinsEnvironment("production") {
			logger.Error("the catalog pins a target to production: denying every request", "bundle", b.Source, "error", errUnverifiedProduction.Error())
			return broken(b.Source)(errUnverifiedProduction)
		}
		if !b.Catalog.KnowsEnvironment(cfg.Environment) {
			err := fmt.Errorf("ENVIRONMENT %q is not one of the bundle's environments (%s): policies compare names exactly, so no rule written for an environment would apply",
				cfg.Environment, strings.Join(b.Catalog.Environments, ", "))
			logger.Error("invalid configuration: denying every request", "bundle", b.Source, "error", err.Error())
			return broken(b.Source)(err)
		}
		if !b.Environments()[cfg.Environment] {
			logger.Warn("no policy names this deployment's ENVIRONMENT: no rule written for an environment applies (is it misspelt?)",
				"environment", cfg.Environment, "bundle", b.Source)
		}
		c := icfg
		c.Engine, c.Catalog, c.Redactor, c.RateLimits, c.Containments, c.Sessions = b.Engine, b.Catalog, b.Redactor, b.RateLimits, b.Containments, b.Sessions
		c.Pins, c.Definitions = b.Pins, b.Definitions
		if c.State == nil && (b.Sessions != "" || b.RateLimits.Len() > 0 || b.Containments.Len() > 0 || b.Pins != nil) {
			logger.Warn("no STATE_TABLE: calls that rate limits match are denied, audit-only session policies see no history, enforcing ones deny; "+
				"audit-only containments count nothing, enforcing ones deny every authenticated caller; no tool is pinned on first use, "+
				"audit-only policies see calls' tool definitions unread, enforcing ones deny",
				"bundle", b.Source, "rate_limits", b.RateLimits.Len(), "containments", b.Containments.Len(), "sessions", string(b.Sessions),
				"first_use_pins", b.Pins.FirstUse())
		}
		c.Bundle = decisionlog.Bundle{Source: b.Source, Digest: b.Digest, Version: b.Version, ETag: b.ETag}
		for _, l := range b.Layers {
			c.Bundle.Layers = append(c.Bundle.Layers, decisionlog.Layer{Source: l.Source, Digest: l.Digest})
		}
		return interceptor.New(c)
	}
	broken = func(source string) func(error) *interceptor.Handler {
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
	b, err := bundle.Open(cfg.PolicySource, embedded, s3bundle.Fetcher(getenv))
	if err != nil {
		logger.Error("policy bundle failed to load: denying every request", "error", err.Error())
		emf.BundleLoadFailure()
		return reload.Static(broken(cmp.Or(cfg.PolicySource, "embedded"))(err), nil), err
	}
	logger.Info("policy bundle loaded", "bundle", b.Source, "digest", b.Digest, "policies", len(b.PolicyNames()), "environment", cfg.Environment)
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
		// The margin, and as much again to decide in.
		Reserve: 2 * cmp.Or(cfg.DeadlineMargin, interceptor.DefaultDeadlineMargin),
		Build:   build,
		Broken:  broken(source),
		Logger:  logger.With("environment", cfg.Environment),
		Metrics: emf,
	})
}

// errUnverifiedProduction is why a deployed function that reads tokens
// unverified denies every request in production.
var errUnverifiedProduction = errors.New("in production a deployed function verifies bearer tokens (JWKS_URL), unless JWT_VERIFIED_BY_GATEWAY=true states that the gateway's JWT authorizer does")

// NewApprover builds an approvals function (see package approver) for the
// environment read through getenv. APPROVAL_FUNCTION_ROLE says which:
// "approvers" (the default), which decides, shows and lists with the
// approver's token verified by the interceptor's JWT settings and signs
// decisions with APPROVAL_SIGNING_KEY_ARN; or "workflow", which tells
// approvers of requests (APPROVAL_TOPIC_ARN) and registers the workflow's
// wait. Both read APPROVAL_TABLE and APPROVAL_KEY_SECRET_ARN (the key the
// REQUEST point proves requests with). It logs to w. On a configuration
// error it logs it and returns, with the error, a handler that refuses
// every request with it.
func NewApprover(getenv func(string) string, w io.Writer) (*approver.Handler, error) {
	cfg, err := config.FromEnv(getenv)
	logger := Logger(&lineWriter{w: w}, cfg.LogLevel, cfg.LogText)
	fail := func(err error) (*approver.Handler, error) {
		logger.Error("invalid configuration: refusing every request", "error", err.Error())
		return approver.Broken(err), err
	}
	if err != nil {
		return fail(err)
	}
	role := approver.Role(cmp.Or(strings.TrimSpace(getenv("APPROVAL_FUNCTION_ROLE")), string(approver.RoleApprovers)))
	if role != approver.RoleApprovers && role != approver.RoleWorkflow {
		return fail(fmt.Errorf("APPROVAL_FUNCTION_ROLE %q: want approvers or workflow", role))
	}
	if cfg.ApprovalTable == "" || cfg.ApprovalTable == config.MemoryState || cfg.ApprovalKeySecret == "" {
		return fail(errors.New("APPROVAL_TABLE (a DynamoDB table) and APPROVAL_KEY_SECRET_ARN are required"))
	}
	hc := &http.Client{}
	c := approver.Config{Role: role, Logger: logger}
	if c.Store, err = approval.FromEnv(getenv, cfg.ApprovalTable, hc); err != nil {
		return fail(err)
	}
	if c.Keys, err = approval.SecretKeysFromEnv(getenv, cfg.ApprovalKeySecret, hc); err != nil {
		return fail(err)
	}
	states, err := approver.StepFunctionsAPI.FromEnv(getenv, "SFN", hc)
	if err != nil {
		return fail(err)
	}
	c.Workflow = approver.StepFunctions{API: states}
	if role == approver.RoleWorkflow {
		if topic := strings.TrimSpace(getenv("APPROVAL_TOPIC_ARN")); topic != "" {
			sns, err := approver.SNSAPI.FromEnv(getenv, "SNS", hc)
			if err != nil {
				return fail(err)
			}
			c.Approvers = approver.SNS{API: sns, Topic: topic}
		}
		return approver.New(c), nil
	}
	if cfg.ApprovalSigningKey == "" {
		return fail(errors.New("APPROVAL_SIGNING_KEY_ARN is required: the approvers' function signs decisions"))
	}
	if c.Signer, err = approval.KMSKeyFromEnv(getenv, cfg.ApprovalSigningKey, hc); err != nil {
		return fail(err)
	}
	if cfg.JWT.JWKSURL != "" {
		if c.Verifier, err = verifier(cfg.JWT, logger); err != nil {
			return fail(err)
		}
	} else {
		logger.Error("no JWKS_URL: approvers' tokens cannot be verified, so every request is refused")
	}
	return approver.New(c), nil
}
