package reload_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/reload"
	"github.com/toolgate/toolgate/internal/s3bundle"
)

// clock is a settable time.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

type fixture struct {
	proxy  *moto.Proxy
	client *s3bundle.Client
	loc    s3bundle.Location
	clock  *clock
}

// newFixture serves the bundle from moto.FakeS3: what is tested here is
// when checks run, not S3 (s3bundle and app test against moto's).
func newFixture(t *testing.T) *fixture {
	s := moto.FakeS3(t)
	s.CreateBucket(t, "policies")
	p := s.Proxy(t)
	c, err := s3bundle.FromEnv(s.Env(map[string]string{"AWS_ENDPOINT_URL_S3": p.Endpoint}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{proxy: p, client: c, loc: s3bundle.Location{Bucket: "policies", Prefix: "p"}, clock: newClock()}
}

func (f *fixture) publish(t *testing.T) {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.WriteArchive(&buf, os.DirFS("../../testdata/bundles/minimal")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Put(context.Background(), f.loc, buf.Bytes(), ""); err != nil {
		t.Fatal(err)
	}
	f.proxy.Requests() // count only the function's requests
}

func (f *fixture) config(interval time.Duration) reload.Config {
	return reload.Config{
		Client: f.client, Location: f.loc, Interval: interval, Timeout: 10 * time.Second, StartTimeout: 10 * time.Second,
		Build: func(b *bundle.Bundle) *interceptor.Handler {
			return interceptor.New(interceptor.Config{Config: judge.Config{Engine: b.Engine}})
		},
		Broken: func(err error) *interceptor.Handler {
			return interceptor.New(interceptor.Config{Config: judge.Config{Engine: policy.Broken(err)}})
		},
		Logger: slog.New(slog.DiscardHandler),
		Now:    f.clock.now,
	}
}

var readCall = []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":{},"body":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"docs___get_page","arguments":{}}}}}}`)

// TestInterval: at most one check per interval, whatever the traffic.
func TestInterval(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	h, err := reload.New(context.Background(), f.config(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.proxy.Requests()); n != 1 {
		t.Fatalf("start: %d requests", n)
	}
	for _, step := range []struct {
		advance  time.Duration
		requests int
	}{{0, 0}, {30 * time.Second, 0}, {29 * time.Second, 0}, {time.Second, 1}, {0, 0}, {59 * time.Second, 0}, {time.Second, 1}, {time.Hour, 1}} {
		f.clock.advance(step.advance)
		for range 3 {
			if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Allow {
				t.Fatalf("%s: %s", r.Decision.Effect, r.Decision.Reason)
			}
		}
		if got := len(f.proxy.Requests()); got != step.requests {
			t.Errorf("after +%s: %d requests, want %d", step.advance, got, step.requests)
		}
	}
}

// TestRetryWhileBroken: with no bundle in force, checks come every 10 s
// however long the interval, so that a function recovers soon.
func TestRetryWhileBroken(t *testing.T) {
	f := newFixture(t)
	h, err := reload.New(context.Background(), f.config(time.Hour))
	if err == nil || h.Bundle() != nil {
		t.Fatalf("nothing published: %v, %+v", err, h.Bundle())
	}
	f.publish(t)
	f.clock.advance(9 * time.Second)
	if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Deny || len(f.proxy.Requests()) != 0 {
		t.Fatalf("before the retry: %s", r.Decision.Effect)
	}
	f.clock.advance(time.Second)
	if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Allow || len(f.proxy.Requests()) != 1 {
		t.Fatalf("at the retry: %s (%s)", r.Decision.Effect, r.Decision.Reason)
	}
	f.clock.advance(30 * time.Minute) // a bundle in force: back to the interval
	h.Handle(context.Background(), readCall)
	if n := len(f.proxy.Requests()); n != 0 {
		t.Errorf("%d requests within the interval", n)
	}
}

// TestChecksDoNotQueue: while one invocation waits on a slow check, the
// others decide with the bundle in force without waiting.
func TestChecksDoNotQueue(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	h, err := reload.New(context.Background(), f.config(0))
	if err != nil {
		t.Fatal(err)
	}
	f.proxy.SetMode(moto.Stall)
	var wg sync.WaitGroup
	var checked atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.Handle(context.Background(), readCall) // runs the check, stalled
		checked.Store(true)
	}()
	for f.proxy.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range 5 {
		if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Allow {
			t.Errorf("%s during a check", r.Decision.Effect)
		}
	}
	if checked.Load() || f.proxy.Waiting() != 1 {
		t.Errorf("the stalled check ended, or others queued behind it (%d waiting)", f.proxy.Waiting())
	}
	f.proxy.SetMode(moto.Pass)
	wg.Wait()
}

func TestStatic(t *testing.T) {
	broken := errors.New("no bundle")
	h := reload.Static(interceptor.New(interceptor.Config{Config: judge.Config{Engine: policy.Broken(broken)}}), nil)
	if h.Bundle() != nil || h.Refresh(context.Background()) != nil {
		t.Error("a static handler has a bundle or checks")
	}
	out, err := h.Invoke(context.Background(), readCall)
	if err != nil || !strings.Contains(string(out), "transformedGatewayResponse") {
		t.Errorf("%s, %v", out, err)
	}
}

// TestCheckKeepsTheDeadline: a check that outlasts the invocation's time
// (here a stalled S3; a large bundle's tests would do the same) goes on in
// the background, and the invocation answers before its deadline with the
// bundle in force. Lambda ends an invocation that runs past its deadline
// with an error, which the gateway does not read as a denial.
func TestCheckKeepsTheDeadline(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	cfg := f.config(0)
	cfg.Reserve = time.Second
	h, err := reload.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.proxy.SetMode(moto.Stall)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := h.Handle(ctx, readCall)
	if ctx.Err() != nil {
		t.Fatal("the invocation answered after its deadline")
	}
	if r.Decision.Effect != decision.Allow {
		t.Errorf("%s (%s): want the bundle in force's decision", r.Decision.Effect, r.Decision.Reason)
	}
	if n := f.proxy.Waiting(); n != 1 {
		t.Errorf("%d checks waiting on S3 after the invocation, want the one still going", n)
	}
	f.proxy.SetMode(moto.Pass)
	// Refresh waits for the check in progress, then checks again.
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.Bundle() == nil {
		t.Error("no bundle in force after the background check")
	}
}

// TestPanickingBuildIsRejected: a bundle whose handler cannot be built
// (Build panics) is rejected like one that fails its tests: the bundle in
// force stays, the process lives, and every later check reports the
// published bundle as still rejected rather than as current.
func TestPanickingBuildIsRejected(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	cfg := f.config(0)
	build := cfg.Build
	var panics atomic.Bool
	cfg.Build = func(b *bundle.Bundle) *interceptor.Handler {
		if panics.Load() {
			panic("cannot build")
		}
		return build(b)
	}
	h, err := reload.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := h.Bundle()
	panics.Store(true)
	// The same bundle, one comment longer: another archive that loads.
	files := fstest.MapFS{}
	for _, name := range []string{"policy.yaml", "tests/read-only.yaml"} {
		b, err := os.ReadFile("../../testdata/bundles/minimal/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	files["policy.yaml"].Data = append(files["policy.yaml"].Data, "\n# republished\n"...)
	var buf bytes.Buffer
	if err := bundle.WriteArchive(&buf, files); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Put(context.Background(), f.loc, buf.Bytes(), ""); err != nil {
		t.Fatal(err)
	}
	if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Allow {
		t.Fatalf("%s: the bundle in force must stay", r.Decision.Effect)
	}
	if h.Bundle() != before {
		t.Error("the bundle in force changed")
	}
	if err := h.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "still rejected") {
		t.Errorf("a later check: %v, want the bundle still rejected", err)
	}

	// At a cold start too: the function starts, and denies.
	h, err = reload.New(context.Background(), cfg)
	if err == nil || h.Bundle() != nil {
		t.Fatalf("a first bundle whose handler panics: %v, %v", err, h.Bundle())
	}
	if r := h.Handle(context.Background(), readCall); r.Decision.Effect != decision.Deny {
		t.Errorf("%s with no bundle in force", r.Decision.Effect)
	}
}

// TestEveryDueCheckRuns: with checks due on every invocation, each of a
// run of invocations checks. A check's lock was released only after the
// waiting invocation had gone on, so the next one could find it still
// held and skip its check.
func TestEveryDueCheckRuns(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	h, err := reload.New(context.Background(), f.config(0))
	if err != nil {
		t.Fatal(err)
	}
	f.proxy.Requests()
	for range 50 {
		h.Handle(context.Background(), readCall)
	}
	if n := len(f.proxy.Requests()); n != 50 {
		t.Errorf("%d checks for 50 invocations", n)
	}
}
