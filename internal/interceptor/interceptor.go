// Package interceptor is the Lambda handler: interceptor event in, gateway
// output out. It is the edge only: an event is decoded and handed to the
// judge of its point (see judge), and the concerns every event shares wrap
// that (see wrap.go). It never returns an error and never lets a panic
// escape: the gateway retries a failed invocation and then fails the call,
// so every failure is answered with a well-formed denial instead.
package interceptor

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/metrics"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Config configures a Handler: how events are judged, and what the edge
// adds around each judgement. Engine is required; the rest have defaults.
type Config struct {
	judge.Config
	// Bundle identifies the policy bundle in decision records.
	Bundle decisionlog.Bundle
	// LogArguments puts raw tool arguments into decision records. Off by
	// default: arguments can carry secrets and personal data.
	LogArguments bool
	// Metrics receives each decision's metrics; nil writes none.
	Metrics *metrics.EMF
	// DeadlineMargin is the time kept back from the invocation deadline to
	// answer in: a decision not made by then is a denial (default
	// DefaultDeadlineMargin).
	DeadlineMargin time.Duration
	// NewID returns each decision's id (default NewID).
	NewID func() string
}

// DefaultDeadlineMargin is Config.DeadlineMargin's default.
const DefaultDeadlineMargin = 250 * time.Millisecond

// Handler handles interceptor events. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	judge *judge.Judge
	// work hands judgements to idle workers (see dispatch).
	work chan judgement
	// abandoned counts judgements still running after their invocation
	// was answered with a denial for want of time.
	abandoned atomic.Int32
	// run is read, in the wrappers every event goes through (see stage).
	run stage
}

// New returns a Handler for cfg. A nil Engine denies everything.
func New(cfg Config) *Handler {
	cfg.Config = cfg.Config.OrDefaults()
	cfg.DeadlineMargin = cmp.Or(cfg.DeadlineMargin, DefaultDeadlineMargin)
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	h := &Handler{cfg: cfg, judge: judge.New(cfg.Config), work: make(chan judgement)}
	h.run = h.chain()
	return h
}

// NewID returns a random 128-bit decision id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// fallbackOutput is the answer when even marshalling the output failed.
var fallbackOutput = []byte(`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"Denied: internal error"}}}}}`)

// Invoke implements lambda.Handler on the raw payload, so that even a payload
// that is not JSON reaches this code and is denied rather than retried.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (out []byte, _ error) {
	defer func() {
		if p := recover(); p != nil {
			h.panicked(ctx, "", p)
			out = fallbackOutput
		}
	}()
	r := h.Handle(ctx, payload)
	out, err := codec.Marshal(r.Output)
	if err == nil && len(out) > maxOutput {
		// Past what Lambda returns: the gateway would get an invocation
		// error, and retry. (The RESPONSE point denies such answers with
		// a record; this is the last resort.)
		err = fmt.Errorf("output of %d bytes", len(out))
	}
	if err != nil {
		h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "output not encoded", slog.String("decision_id", r.Decision.ID), slog.String("error", err.Error()))
		return fallbackOutput, nil
	}
	return out, nil
}

// maxOutput is the most a synchronous Lambda invocation returns.
const maxOutput = 6 << 20

// Handle decides on one event. A panic anywhere in it, recording and
// logging included, is answered with a denial.
func (h *Handler) Handle(ctx context.Context, payload []byte) judge.Result {
	return h.run(ctx, h.cfg.NewID(), payload)
}

func (h *Handler) panicked(ctx context.Context, id string, p any) {
	defer func() { _ = recover() }() // a logger that panics too must not escape
	h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "panic", slog.String("decision_id", id), slog.String("panic", fmt.Sprint(p)))
}

// denied is a denial made at the edge, with no judgement: a panic, a
// deadline. finding, when set, is its record's error finding.
func (h *Handler) denied(id, reason, finding string) judge.Result {
	r := judge.Result{Decision: decision.Denied(id, decision.CodeUndecidable, reason)}
	if finding != "" {
		r.Decision.Findings = []policy.Finding{{Policy: finding, Kind: policy.Error, Mode: policy.ModeEnforce, Message: reason}}
	}
	r.Output = render.Output(r.Decision, nil, nil, nil, h.cfg.DenyStatus)
	return r
}

// read decodes an event that is within the size limit and hands it to
// the judge of the point it was sent at.
func (h *Handler) read(ctx context.Context, id string, payload []byte) judge.Result {
	_, span := h.cfg.Tracer.Start(ctx, "decode")
	ev, err := gateway.Decode(payload)
	span.End()
	switch {
	case err != nil:
		return h.judge.Unreadable(id, err)
	case ev.HTTP != nil:
		return h.judge.HTTP(id, ev.HTTP)
	case ev.MCP.IsResponse():
		return h.judge.Response(ctx, id, ev.MCP)
	default:
		return h.judge.Request(ctx, id, ev.MCP)
	}
}
