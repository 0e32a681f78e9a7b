// Package reload serves interceptor events with the current policy bundle.
// A bundle from S3 is kept current: at most once per interval an invocation
// asks S3 whether the archive changed (a conditional GET), and a changed
// archive replaces the bundle only after it has loaded, compiled and passed
// its own tests. Anything less leaves the last good bundle in force.
package reload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/metrics"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/s3bundle"
)

// Config configures a Handler that follows a bundle in S3.
type Config struct {
	Client   *s3bundle.Client
	Location s3bundle.Location
	// Interval is the least time between two checks; zero checks on every
	// invocation.
	Interval time.Duration
	// Timeout bounds a check's request, so that no tool call waits long
	// for S3; StartTimeout bounds the first load, before any call waits.
	Timeout, StartTimeout time.Duration
	// Reserve is the time an invocation keeps back from its deadline to
	// decide in: it waits for a check only until then, and the check goes
	// on in the background (see Handler.handler).
	Reserve time.Duration
	// Build returns the handler that decides with b.
	Build func(b *bundle.Bundle) *interceptor.Handler
	// Broken returns the handler that denies everything, saying err.
	Broken  func(err error) *interceptor.Handler
	Logger  *slog.Logger
	Metrics *metrics.EMF
	Now     func() time.Time
}

// retryBroken is the most time between checks while no bundle is in force,
// so that a cold start that found S3 unreachable stops denying soon after
// S3 is back, without a request on every denied call.
const retryBroken = 10 * time.Second

// Handler decides with the bundle in force. It is safe for concurrent use:
// an invocation takes the bundle in force when it starts and decides with it
// to the end, whatever replaces it meanwhile.
type Handler struct {
	cfg     Config
	current atomic.Pointer[state]
	// due is when the next check may run, in Unix nanoseconds; zero for a
	// handler that never checks.
	due atomic.Int64

	mu sync.Mutex // held by the one check in progress
	// seen is the ETag of the archive last fetched, loaded or not: the next
	// check asks S3 for anything else. rejected is why it was not loaded.
	seen     string
	rejected error
}

type state struct {
	bundle  *bundle.Bundle // nil while none is in force
	handler *interceptor.Handler
}

// Static returns a Handler that decides with h and bundle b (nil when h
// denies everything) and never checks for another.
func Static(h *interceptor.Handler, b *bundle.Bundle) *Handler {
	r := &Handler{}
	r.current.Store(&state{bundle: b, handler: h})
	return r
}

// New loads the bundle at cfg.Location and returns a Handler following it.
// When the first load fails, the Handler denies everything until a later
// check loads a good bundle, and New returns the error too.
func New(ctx context.Context, cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.check(ctx)
	if h.current.Load() == nil {
		h.current.Store(&state{handler: cfg.Broken(err)})
	}
	return h, err
}

// Bundle returns the bundle in force; nil when none is.
func (h *Handler) Bundle() *bundle.Bundle { return h.current.Load().bundle }

// Invoke implements lambda.Handler.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.handler(ctx).Invoke(ctx, payload)
}

// Handle decides on one event.
func (h *Handler) Handle(ctx context.Context, payload []byte) judge.Result {
	return h.handler(ctx).Handle(ctx, payload)
}

// handler starts a check when one is due and no other is running, waits
// for it as long as ctx's deadline allows (see Config.Reserve), then
// returns the handler in force. A check is bounded in its request but not
// in loading and testing what it fetched: a large bundle's tests could
// outlast the invocation, which Lambda would then end with an error. So
// the check runs on its own goroutine, and one that outlasts the wait
// goes on in the background (in the invocations that follow, as Lambda
// runs a frozen process only while it invokes it), holding h.mu so that
// no other starts; the invocation decides with the bundle in force.
func (h *Handler) handler(ctx context.Context) *interceptor.Handler {
	if due := h.due.Load(); due != 0 && h.cfg.Now().UnixNano() >= due && h.mu.TryLock() {
		if h.cfg.Now().UnixNano() < h.due.Load() { // checked meanwhile
			h.mu.Unlock()
			return h.current.Load().handler
		}
		done := make(chan struct{})
		go func() {
			// Unlocked before done closes: an invocation that waited
			// for this check returns, and the next one's check must not
			// find the lock still held (it would skip a due check).
			defer close(done)
			defer h.mu.Unlock()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Timeout)
			defer cancel()
			_ = h.check(cctx) // logged and counted; the last good bundle stays
		}()
		var stop <-chan time.Time
		if deadline, ok := ctx.Deadline(); ok {
			t := time.NewTimer(time.Until(deadline) - h.cfg.Reserve)
			defer t.Stop()
			stop = t.C
		}
		select {
		case <-done:
		case <-stop:
		case <-ctx.Done():
		}
	}
	return h.current.Load().handler
}

// Refresh checks for a new bundle now, waiting for a check in progress.
func (h *Handler) Refresh(ctx context.Context) error {
	if h.cfg.Client == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	return h.check(ctx)
}

// check fetches the archive unless it is the one last seen, and puts it in
// force if it is good. Every failure is logged and counted. h.mu is held.
// A panic (building the new bundle's handler) is a failure too: nothing
// of a check may end the process, in Lambda's init phase or after it.
func (h *Handler) check(ctx context.Context) (err error) {
	defer h.schedule()
	defer func() {
		if p := recover(); p != nil {
			// Rejected, as a bundle that fails to load is: the archive
			// is seen, and later checks keep the alarm up.
			h.rejected = fmt.Errorf("panic: %v", p)
			err = h.failed(h.current.Load(), "policy bundle check failed", s3bundle.Object{}, h.rejected)
		}
	}()
	cur := h.current.Load()
	start := time.Now()
	data, obj, err := h.cfg.Client.Get(ctx, h.cfg.Location, h.seen)
	switch {
	case errors.Is(err, s3bundle.ErrNotModified):
		if h.rejected != nil {
			// Counted on every check, so that an alarm stays raised for
			// as long as the published bundle is not the one in force.
			return h.failed(cur, "published policy bundle still rejected", obj, h.rejected)
		}
		return nil
	case err != nil:
		return h.failed(cur, "policy bundle check failed", obj, err)
	}
	h.seen, h.rejected = obj.ETag, nil
	if cur != nil && cur.bundle != nil && cur.bundle.ETag == obj.ETag {
		return nil // the bundle in force, published again
	}
	b, err := accept(data, h.cfg.Location, obj)
	if err != nil {
		h.rejected = err
		return h.failed(cur, "policy bundle rejected", obj, err)
	}
	h.current.Store(&state{bundle: b, handler: h.cfg.Build(b)})
	args := []any{"bundle", b.Source, "version", b.Version, "etag", b.ETag, "digest", b.Digest,
		"policies", len(b.Policies), "tests", len(b.Tests), "load_ms", time.Since(start).Milliseconds()}
	if cur != nil && cur.bundle != nil {
		args = append(args, "previous_version", cur.bundle.Version, "previous_digest", cur.bundle.Digest)
	}
	h.cfg.Logger.Info("policy bundle loaded", args...)
	return nil
}

// schedule sets when the next check is due: an interval after this one,
// or sooner while no bundle is in force.
func (h *Handler) schedule() {
	next := h.cfg.Interval
	if cur := h.current.Load(); cur == nil || cur.bundle == nil {
		next = min(next, retryBroken)
	}
	h.due.Store(h.cfg.Now().Add(next).UnixNano())
}

// accept loads an archive and runs its tests: a bundle is good only if it
// has test cases and all of them pass.
func accept(data []byte, l s3bundle.Location, obj s3bundle.Object) (b *bundle.Bundle, err error) {
	// A bundle that makes loading panic is rejected like any other: the
	// panic must not escape into the invocation, which would fail it.
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("panic while loading the bundle: %v", p)
		}
	}()
	b, err = bundle.ReadArchive(data, l.URL())
	if err != nil {
		return nil, err
	}
	b.Version, b.ETag = obj.VersionID, obj.ETag
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		return nil, fmt.Errorf("bundle tests: %w", err)
	}
	if len(results) == 0 {
		return nil, errors.New("bundle tests: the bundle has no test cases")
	}
	var failed []string
	for _, r := range results {
		if !r.Pass {
			failed = append(failed, r.Where+" "+r.Name)
		}
	}
	if len(failed) > 0 {
		names, _ := json.Marshal(failed)
		return nil, fmt.Errorf("bundle tests: %d of %d failed: %s", len(failed), len(results), names)
	}
	return b, nil
}

// failed logs and counts a failed check and returns its error.
func (h *Handler) failed(cur *state, msg string, obj s3bundle.Object, err error) error {
	args := []any{"bundle", h.cfg.Location.URL(), "error", err.Error()}
	if obj.ETag != "" {
		args = append(args, "version", obj.VersionID, "etag", obj.ETag)
	}
	if cur != nil && cur.bundle != nil {
		args = append(args, "in_force_version", cur.bundle.Version, "in_force_digest", cur.bundle.Digest)
	} else {
		args = append(args, "in_force", "none: denying every request")
	}
	h.cfg.Logger.Error(msg, args...)
	h.cfg.Metrics.BundleLoadFailure()
	return fmt.Errorf("%s: %w", msg, err)
}
