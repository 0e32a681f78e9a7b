package interceptor

import (
	"context"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/decision"
)

// A judge decides on one event under the decision id id. The handler is
// one judge, read, wrapped in the concerns every event shares, each a
// judge around a judge as http.TimeoutHandler is a handler around one:
//
//	guarded(recorded(timely(guarded(bounded(read)))))
//
// An event is bounded in size before it is read, judged by its deadline
// on a worker (guarded there too, since a panic on a worker would end the
// process), traced and recorded once, and a panic anywhere, recording
// included, is a denial.
type judge func(ctx context.Context, id string, payload []byte) Result

// chain builds the handler's judge (see judge).
func (h *Handler) chain() judge {
	return h.guarded(h.recorded(h.timely(h.guarded(h.bounded(h.read)))))
}

// guarded answers a panic in next with a denial.
func (h *Handler) guarded(next judge) judge {
	return func(ctx context.Context, id string, payload []byte) (r Result) {
		defer func() {
			if p := recover(); p != nil {
				h.panicked(ctx, id, p)
				r = h.internalError(id)
			}
		}()
		return next(ctx, id, payload)
	}
}

// bounded denies an event over the size limit without reading it.
func (h *Handler) bounded(next judge) judge {
	return func(ctx context.Context, id string, payload []byte) Result {
		if len(payload) > h.cfg.Limits.MaxEventBytes {
			return h.reject(Result{}, id, nil, decision.CodeInvalidRequest, "malformed interceptor event",
				fmt.Errorf("%w: %d bytes, limit %d", call.ErrTooLarge, len(payload), h.cfg.Limits.MaxEventBytes))
		}
		return next(ctx, id, payload)
	}
}

// recorded traces next's decision as one span, and writes its decision
// record and metrics.
func (h *Handler) recorded(next judge) judge {
	return func(ctx context.Context, id string, payload []byte) Result {
		start := time.Now()
		ctx, span := h.cfg.Tracer.Start(ctx, "toolgate")
		r := next(ctx, id, payload)
		rec := h.record(ctx, r, time.Since(start))
		annotate(span, rec)
		span.End()
		h.log(ctx, rec)
		return r
	}
}
