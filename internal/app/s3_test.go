package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/s3bundle"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/policies"
)

// The bundles the S3 tests publish. The read call is allowed by readOnly
// and denied by callsClosed, so each decision shows which bundle made it.
var (
	readOnly = os.DirFS("../../testdata/bundles/minimal")
	// callsClosed denies every tool call, and says so in its tests.
	callsClosed = fstest.MapFS{
		"policy.yaml": {Data: []byte(`apiVersion: json.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: calls-closed}
spec:
  rules:
  - name: no-calls
    match: {all: [{action: call}]}
    assert: {all: [{message: "tool calls are closed", check: {phase: response}}]}
`)},
		"tests.yaml": {Data: []byte(`apiVersion: toolgate.dev/v1alpha1
kind: PolicyTest
metadata: {name: calls-closed}
spec:
  cases:
  - name: a read is denied
    request: {jsonrpc: "2.0", id: 1, method: tools/call, params: {name: docs___search_docs, arguments: {}}}
    expect: {decision: deny, policies: [calls-closed]}
`)},
	}
	failingTests = os.DirFS("../../testdata/bundles/failing-tests")
	// untested is a good policy without test cases.
	untested = fstest.MapFS{"policy.yaml": callsClosed["policy.yaml"]}
)

// s3Env is an S3 deployment under test: moto behind a proxy, a bucket, and
// a publisher.
type s3Env struct {
	moto   *moto.Server
	proxy  *moto.Proxy
	client *s3bundle.Client
	loc    s3bundle.Location
}

func newS3Env(t *testing.T) *s3Env {
	s := moto.Start(t)
	s.CreateBucket(t, "policies")
	c, err := s3bundle.FromEnv(s.Env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &s3Env{moto: s, proxy: s.Proxy(t), client: c, loc: s3bundle.Location{Bucket: "policies", Prefix: "prod"}}
}

// publish uploads fsys's archive, or raw bytes, as the next version.
func (e *s3Env) publish(t *testing.T, bundleFS fs.FS, raw []byte) s3bundle.Object {
	t.Helper()
	if bundleFS != nil {
		var buf bytes.Buffer
		if err := bundle.WriteArchive(&buf, bundleFS); err != nil {
			t.Fatal(err)
		}
		raw = buf.Bytes()
	}
	o, err := e.client.Put(context.Background(), e.loc, raw, "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// handler is the function as Lambda runs it, following s3://policies/prod
// through the proxy.
func (e *s3Env) handler(t *testing.T, logs *testutil.Buffer, vars map[string]string) (*app.Handler, error) {
	t.Helper()
	all := map[string]string{"POLICY_SOURCE": "s3://policies/prod", "POLICY_REFRESH_SECONDS": "0", "AWS_ENDPOINT_URL_S3": e.proxy.Endpoint}
	for k, v := range vars {
		all[k] = v
	}
	return app.NewHandler(e.moto.Env(all), policies.FS, logs, nil)
}

func readCall(t testing.TB) []byte {
	t.Helper()
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json") // docs___search_docs
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func digest(t *testing.T, fsys fs.FS) string {
	t.Helper()
	b, err := bundle.Load(fsys, "test")
	if err != nil {
		t.Fatal(err)
	}
	return b.Digest
}

// decisionBundles returns, per decision id, the bundle its record names.
func decisionBundles(t *testing.T, logs string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Message    string            `json:"message"`
			DecisionID string            `json:"decision_id"`
			Bundle     map[string]string `json:"bundle"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Message == "decision" {
			out[rec.DecisionID] = rec.Bundle
		}
	}
	return out
}

// TestS3BundleLifecycle follows one function through a bundle's life in
// S3: every step a policy change can take, good or bad.
func TestS3BundleLifecycle(t *testing.T) {
	e := newS3Env(t)
	payload := readCall(t)
	logs := &testutil.Buffer{}
	v1 := e.publish(t, readOnly, nil)
	h, err := e.handler(t, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := h.Bundle()
	// decide decides on the read call, wanting want, and returns the
	// bundle the decision's record names.
	decide := func(want decision.Effect) map[string]string {
		t.Helper()
		r := h.Handle(context.Background(), payload)
		if r.Decision.Effect != want {
			t.Fatalf("decision %s (%s), want %s", r.Decision.Effect, r.Decision.Reason, want)
		}
		return decisionBundles(t, logs.String())[r.Decision.ID]
	}

	t.Run("first load", func(t *testing.T) {
		if first == nil || first.Version != v1.VersionID || first.ETag != v1.ETag || first.Digest != digest(t, readOnly) ||
			first.Source != "s3://policies/prod/bundle.tar.gz" {
			t.Fatalf("bundle in force: %+v, published %+v", first, v1)
		}
		logs.Take()
		e.proxy.Requests()
		named := decide(decision.Allow)
		want := map[string]string{"source": "s3://policies/prod/bundle.tar.gz", "digest": first.Digest, "version": v1.VersionID, "etag": v1.ETag}
		if fmt.Sprint(named) != fmt.Sprint(want) {
			t.Errorf("decision record names bundle %v, want %v", named, want)
		}
	})

	t.Run("unchanged bundle: one conditional request, no recompilation", func(t *testing.T) {
		e.proxy.Requests()
		for range 3 {
			decide(decision.Allow)
		}
		reqs := e.proxy.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d requests for 3 invocations: %+v", len(reqs), reqs)
		}
		for _, r := range reqs {
			if r.Method != "GET" || r.IfNoneMatch != v1.ETag || r.Status != 304 {
				t.Errorf("request %+v, want a GET with If-None-Match %s answered 304", r, v1.ETag)
			}
		}
		if h.Bundle() != first {
			t.Error("an unchanged bundle was loaded again")
		}
		if l := logs.Take(); strings.Contains(l, "policy bundle") {
			t.Errorf("unchanged refresh logged: %s", l)
		}
	})

	var v2 s3bundle.Object
	t.Run("changed bundle takes effect", func(t *testing.T) {
		v2 = e.publish(t, callsClosed, nil)
		named := decide(decision.Deny)
		if named["version"] != v2.VersionID || named["digest"] != digest(t, callsClosed) {
			t.Errorf("decision names %v, want version %s", named, v2.VersionID)
		}
		l := logs.Take()
		if !strings.Contains(l, `"msg":"policy bundle loaded"`) && !strings.Contains(l, `"message":"policy bundle loaded"`) {
			t.Errorf("no load logged: %s", l)
		}
		if !strings.Contains(l, `"previous_version":"`+v1.VersionID+`"`) {
			t.Errorf("load log does not name the previous version: %s", l)
		}
	})

	for _, bad := range []struct {
		name    string
		fsys    fs.FS
		raw     []byte
		message string
	}{
		{"corrupt archive", nil, []byte("this is not a gzip'd tar"), "gzip: invalid header"},
		{"bundle that does not compile", fstest.MapFS{"p.yaml": {Data: []byte("apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, asert: {}}]}\n")}}, nil, `p.yaml:4:26: json: unknown field \"asert\"`},
		{"bundle whose own tests fail", failingTests, nil, "bundle tests: 2 of 3 failed"},
		{"bundle without tests", untested, nil, "the bundle has no test cases"},
	} {
		t.Run(bad.name+" is rejected, last good stays", func(t *testing.T) {
			inForce := h.Bundle()
			o := e.publish(t, bad.fsys, bad.raw)
			named := decide(decision.Deny)
			if h.Bundle() != inForce || named["version"] != v2.VersionID {
				t.Fatalf("bundle in force %+v, decision names %v; want version %s", h.Bundle(), named, v2.VersionID)
			}
			l := logs.Take()
			for _, want := range []string{`"policy bundle rejected"`, bad.message, `"version":"` + o.VersionID + `"`, `"in_force_version":"` + v2.VersionID + `"`, `"BundleLoadFailures":1`} {
				if !strings.Contains(l, want) {
					t.Errorf("log lacks %s: %s", want, l)
				}
			}
			// Asked again, S3 answers "not modified": the rejection is
			// counted again, so that an alarm stays raised, and nothing
			// is loaded again.
			e.proxy.Requests()
			decide(decision.Deny)
			if reqs := e.proxy.Requests(); len(reqs) != 1 || reqs[0].Status != 304 || reqs[0].IfNoneMatch != o.ETag {
				t.Errorf("requests %+v, want one answered 304 for %s", reqs, o.ETag)
			}
			if l := logs.Take(); !strings.Contains(l, "published policy bundle still rejected") || !strings.Contains(l, `"BundleLoadFailures":1`) {
				t.Errorf("second check: %s", l)
			}
		})
	}

	t.Run("good bundle after a rejected one", func(t *testing.T) {
		v3 := e.publish(t, readOnly, nil)
		named := decide(decision.Allow)
		if named["version"] != v3.VersionID || named["digest"] != first.Digest {
			t.Errorf("decision names %v, want version %s", named, v3.VersionID)
		}
	})

	t.Run("S3 unreachable after start: last good stays", func(t *testing.T) {
		inForce := h.Bundle()
		e.proxy.SetMode(moto.Refuse)
		defer e.proxy.SetMode(moto.Pass)
		decide(decision.Allow)
		if h.Bundle() != inForce {
			t.Error("bundle changed")
		}
		if l := logs.Take(); !strings.Contains(l, "policy bundle check failed") || !strings.Contains(l, `"BundleLoadFailures":1`) {
			t.Errorf("failure not logged and counted: %s", l)
		}
	})

	t.Run("S3 answering too slowly: last good stays", func(t *testing.T) {
		slow, err := e.handler(t, logs, map[string]string{"POLICY_REFRESH_TIMEOUT_MS": "300"})
		if err != nil {
			t.Fatal(err)
		}
		e.proxy.SetMode(moto.Stall)
		defer e.proxy.SetMode(moto.Pass)
		start := time.Now()
		r := slow.Handle(context.Background(), payload)
		// Not a performance target: a bound that tells a timeout from a hang.
		if waited := time.Since(start); r.Decision.Effect != decision.Allow || waited > 10*time.Second {
			t.Errorf("decision %s after %s", r.Decision.Effect, waited)
		}
		if l := logs.Take(); !strings.Contains(l, "context deadline exceeded") {
			t.Errorf("timeout not logged: %s", l)
		}
	})

	t.Run("S3 stopped: last good stays", func(t *testing.T) {
		e.moto.Stop()
		decide(decision.Allow)
		if l := logs.Take(); !strings.Contains(l, "policy bundle check failed") {
			t.Errorf("failure not logged: %s", l)
		}
	})
}

// TestS3ColdStart: a function that cannot load its bundle at start denies
// everything, says why, and recovers once S3 is back.
func TestS3ColdStart(t *testing.T) {
	e := newS3Env(t)
	payload := readCall(t)
	logs := &testutil.Buffer{}

	t.Run("nothing published", func(t *testing.T) {
		h, err := e.handler(t, logs, nil)
		if err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
			t.Errorf("error %v, want NoSuchKey", err)
		}
		if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Deny || r.Decision.Reason != "the policy bundle could not be loaded" {
			t.Errorf("decision %s: %s", r.Decision.Effect, r.Decision.Reason)
		}
		if l := logs.Take(); !strings.Contains(l, "NoSuchKey") {
			t.Errorf("log does not say why: %s", l)
		}
	})

	e.publish(t, readOnly, nil)
	e.proxy.SetMode(moto.Refuse)
	logs.Take()
	h, err := e.handler(t, logs, nil)
	if err == nil || h.Bundle() != nil {
		t.Fatalf("unreachable S3 at start: error %v, bundle %+v", err, h.Bundle())
	}
	r := h.Handle(context.Background(), payload)
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable || r.Decision.Reason != "the policy bundle could not be loaded" {
		t.Errorf("decision %s (%d): %s", r.Decision.Effect, r.Decision.Code, r.Decision.Reason)
	}
	l := logs.Take()
	for _, want := range []string{`"in_force":"none: denying every request"`, "policy bundle check failed", `"error":"GET s3://policies/prod/bundle.tar.gz: EOF"`, `"BundleLoadFailures":1`, `"result":"error"`, `"source":"s3://policies/prod/bundle.tar.gz"`} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s: %s", want, l)
		}
	}

	e.proxy.SetMode(moto.Pass)
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Allow {
		t.Errorf("after S3 came back: %s (%s)", r.Decision.Effect, r.Decision.Reason)
	}
}

// TestS3SwapUnderLoad swaps bundles while invocations run (run it with
// -race): every decision must be the one its recorded bundle makes, and
// every record must name a bundle that was published.
func TestS3SwapUnderLoad(t *testing.T) {
	e := newS3Env(t)
	payload := readCall(t)
	logs := &testutil.Buffer{}
	published := map[string]bool{e.publish(t, readOnly, nil).VersionID: true}
	h, err := e.handler(t, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]decision.Effect{digest(t, readOnly): decision.Allow, digest(t, callsClosed): decision.Deny}
	var (
		mu      sync.Mutex
		results = map[string]decision.Effect{}
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := h.Handle(context.Background(), payload)
				mu.Lock()
				results[r.Decision.ID] = r.Decision.Effect
				mu.Unlock()
			}
		}()
	}
	for i := range 6 {
		next := fs.FS(callsClosed)
		if i%2 == 1 {
			next = readOnly
		}
		published[e.publish(t, next, nil).VersionID] = true
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	named := decisionBundles(t, logs.String())
	for id, effect := range results {
		b, ok := named[id]
		if !ok {
			t.Fatalf("decision %s has no record", id)
		}
		if effect != want[b["digest"]] {
			t.Errorf("decision %s: %s, but its bundle %s makes %s", id, effect, b["digest"], want[b["digest"]])
		}
		if !published[b["version"]] {
			t.Errorf("decision %s names version %s, never published", id, b["version"])
		}
	}
	if len(results) < 50 {
		t.Errorf("only %d decisions during the swaps", len(results))
	}
	versions := map[string]bool{}
	for _, b := range named {
		versions[b["version"]] = true
	}
	if len(versions) < 3 {
		t.Errorf("decisions were made by %d bundle versions; the swaps did not happen under load", len(versions))
	}
}
