package interceptor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/judge"
)

// timely has next judge the event on a worker, and denies it if no
// decision is made by the invocation's deadline less the margin: a Lambda
// timeout is an error, which the gateway retries and may end in a
// pass-through. The late judgement runs on and is discarded.
func (h *Handler) timely(next stage) stage {
	return func(ctx context.Context, id string, payload []byte) judge.Result {
		return h.inTime(ctx, id, payload, next)
	}
}

func (h *Handler) inTime(ctx context.Context, id string, payload []byte, next stage) judge.Result {
	deadline, ok := ctx.Deadline()
	if !ok {
		return next(ctx, id, payload)
	}
	left := time.Until(deadline) - h.cfg.DeadlineMargin
	if left <= 0 {
		return h.late(id, "no decision before the invocation deadline")
	}
	if h.abandoned.Load() > 0 {
		// A judgement that missed its deadline has not stopped yet: the
		// input or the bundle makes evaluation stall, and more work would
		// only pile up goroutines, each holding its payload.
		return h.late(id, "an earlier decision is still running past its deadline")
	}
	jctx, cancel := context.WithTimeout(ctx, left) // stops the judgement between rules
	defer cancel()
	done := make(chan judge.Result, 1) // buffered: a late judgement must not block
	state := new(atomic.Int32)
	h.dispatch(judgement{next, jctx, id, payload, done, state})
	timer := time.NewTimer(left)
	defer timer.Stop()
	select {
	case r := <-done:
		return r
	case <-timer.C:
		if !state.CompareAndSwap(running, abandoned) {
			return <-done // it finished as the timer fired
		}
		h.abandoned.Add(1)
		return h.late(id, "no decision before the invocation deadline")
	}
}

// States of a judgement, shared by the invocation and the worker.
const (
	running int32 = iota
	finished
	abandoned
)

// judgement is one event to judge on a worker goroutine.
type judgement struct {
	stage   stage
	ctx     context.Context
	id      string
	payload []byte
	done    chan<- judge.Result
	state   *atomic.Int32 // running, then finished or abandoned
}

// workerIdle is how long a worker waits for more work before it exits.
const workerIdle = time.Minute

// dispatch gives j to an idle worker, or starts one. Workers outlive a
// judgement because a fresh goroutine's stack grows by copying on every
// decision: reusing one took 40-80µs off a 2 KB decision.
func (h *Handler) dispatch(j judgement) {
	select {
	case h.work <- j:
	default:
		go h.worker(j)
	}
}

func (h *Handler) worker(j judgement) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		r := j.stage(j.ctx, j.id, j.payload)
		if !j.state.CompareAndSwap(running, finished) {
			h.abandoned.Add(-1) // discarded: the invocation answered already
		}
		j.done <- r
		idle.Reset(workerIdle)
		select {
		case j = <-h.work:
		case <-idle.C:
			return
		}
	}
}

func (h *Handler) late(id, reason string) judge.Result {
	return h.denied(id, reason, "(deadline)")
}
