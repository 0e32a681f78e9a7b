package interceptor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/trace"
)

// A stage decides on one event under the decision id id. The handler is
// one stage, read, wrapped in the concerns every event shares, each a
// stage around a stage as http.TimeoutHandler is a handler around one:
//
//	guarded(recorded(timely(guarded(bounded(read)))))
//
// An event is bounded in size before it is read, judged by its deadline
// on a worker (guarded there too, since a panic on a worker would end the
// process), traced and recorded once, and a panic anywhere, recording
// included, is a denial.
type stage func(ctx context.Context, id string, payload []byte) judge.Result

// chain builds the handler's stage (see stage).
func (h *Handler) chain() stage {
	return h.guarded(h.recorded(h.timely(h.guarded(h.bounded(h.read)))))
}

// guarded answers a panic in next with a denial.
func (h *Handler) guarded(next stage) stage {
	return func(ctx context.Context, id string, payload []byte) (r judge.Result) {
		defer func() {
			if p := recover(); p != nil {
				h.panicked(ctx, id, p)
				r = h.denied(id, "internal error", "")
			}
		}()
		return next(ctx, id, payload)
	}
}

// bounded denies an event over the size limit without reading it.
func (h *Handler) bounded(next stage) stage {
	return func(ctx context.Context, id string, payload []byte) judge.Result {
		if len(payload) > h.cfg.Limits.MaxEventBytes {
			return h.judge.Unreadable(id, fmt.Errorf("%w: %d bytes, limit %d", call.ErrTooLarge, len(payload), h.cfg.Limits.MaxEventBytes))
		}
		return next(ctx, id, payload)
	}
}

// recorded traces next's decision as one span, and writes its decision
// record and metrics.
func (h *Handler) recorded(next stage) stage {
	return func(ctx context.Context, id string, payload []byte) judge.Result {
		start := time.Now()
		ctx, span := h.cfg.Tracer.Start(ctx, "toolgate")
		r := next(ctx, id, payload)
		rec := decisionlog.Describe(ctx, r, time.Since(start), decisionlog.Options{
			Bundle: h.cfg.Bundle, Arguments: h.cfg.LogArguments, Details: h.cfg.Logger.Enabled(ctx, slog.LevelDebug)})
		annotate(span, rec)
		span.End()
		h.log(ctx, rec)
		return r
	}
}

// log writes the decision record and its metrics.
func (h *Handler) log(ctx context.Context, rec *decisionlog.Record) {
	h.cfg.Logger.LogAttrs(ctx, rec.Level(), decisionlog.Message, slog.Any("", rec))
	h.cfg.Metrics.Decision(rec)
}

// annotate puts what a trace search filters on onto the invocation's span.
func annotate(span trace.Span, rec *decisionlog.Record) {
	span.Annotate("result", rec.Result)
	span.Annotate("phase", rec.Phase)
	span.Annotate("decision_id", rec.DecisionID)
	if t := rec.Tool; t != nil {
		name := t.Name
		if t.Target != "" {
			name = t.Target + mcp.TargetSeparator + t.Name
		}
		span.Annotate("tool", name)
	}
	if names := rec.DeniedBy(); len(names) > 0 {
		span.Annotate("policy", strings.Join(names, ","))
	}
}
