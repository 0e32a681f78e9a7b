package main_test

// A black-box test of the real bootstrap: it is built as Lambda builds it,
// started as a process, and served interceptor events by a small
// implementation of the Lambda Runtime API on loopback. This is what catches
// a broken main.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/toolgate/toolgate/internal/testutil"
)

// bootstrap is the host build; arm64 runs the linux/arm64 build that Lambda
// runs, under qemu user-mode emulation, when qemu-aarch64-static is
// installed (CI installs it and sets REQUIRE_ARM64_BOOTSTRAP so that a
// missing emulator fails instead of skipping). bootstrapOTel is the host
// build with -tags otel (OpenTelemetry instead of X-Ray); bare is
// testdata/bare, the baseline of the side-by-side benchmarks.
var (
	bootstrap     string
	arm64         []string
	bootstrapOTel string
	bare          string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootstrap")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap, bootstrapOTel, bare = filepath.Join(dir, "bootstrap"), filepath.Join(dir, "bootstrap-otel"), filepath.Join(dir, "bare")
	if err := build(bootstrap, "", "", "."); err != nil {
		fmt.Fprintln(os.Stderr, "build bootstrap:", err)
		os.Exit(1)
	}
	if err := build(bootstrapOTel, "", "", ".", "otel"); err != nil {
		fmt.Fprintln(os.Stderr, "build bootstrap with OpenTelemetry:", err)
		os.Exit(1)
	}
	if err := build(bare, "", "", "./testdata/bare"); err != nil {
		fmt.Fprintln(os.Stderr, "build the bare function:", err)
		os.Exit(1)
	}
	if qemu, err := exec.LookPath("qemu-aarch64-static"); err == nil {
		path := filepath.Join(dir, "bootstrap-arm64")
		if err := build(path, "linux", "arm64", "."); err != nil {
			fmt.Fprintln(os.Stderr, "build linux/arm64 bootstrap:", err)
			os.Exit(1)
		}
		arm64 = []string{qemu, path}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds pkg as the Makefile builds the bootstrap for Lambda, with
// extra build tags.
func build(out, goos, goarch, pkg string, tags ...string) error {
	cmd := exec.Command("go", "build", "-tags", strings.Join(append([]string{"lambda.norpc"}, tags...), ","),
		"-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = os.Environ()
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// binaries returns the builds to test, as command lines.
func binaries(t *testing.T) map[string][]string {
	out := map[string][]string{"host": {bootstrap}}
	switch {
	case arm64 != nil:
		out["linux-arm64"] = arm64
	case os.Getenv("REQUIRE_ARM64_BOOTSTRAP") != "":
		t.Fatal("REQUIRE_ARM64_BOOTSTRAP is set but qemu-aarch64-static is not installed")
	default:
		t.Log("qemu-aarch64-static not installed: the linux/arm64 build is not run")
	}
	return out
}

// runtimeAPI implements the parts of the Lambda Runtime API a function uses.
type runtimeAPI struct {
	srv     *httptest.Server
	events  chan invocation
	mu      sync.Mutex
	results map[string]chan result
	initErr chan string
	done    chan struct{}
	seq     int
	// sampled is the trace header's sampling decision: "1" unless a
	// benchmark measures the common, unsampled invocation.
	sampled string
}

type invocation struct {
	id      string
	payload []byte
}

type result struct {
	body  []byte
	error bool
}

func newRuntimeAPI(t testing.TB) *runtimeAPI {
	rt := &runtimeAPI{
		events:  make(chan invocation),
		results: map[string]chan result{},
		initErr: make(chan string, 1),
		done:    make(chan struct{}),
		sampled: "1",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case inv := <-rt.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:interceptor")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root="+traceRoot+";Parent=1234567890abcdef;Sampled="+rt.sampled)
			w.Header().Set("Content-Type", "application/json")
			w.Write(inv.payload)
		case <-r.Context().Done():
		case <-rt.done:
		}
	})
	reply := func(isErr bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			rt.mu.Lock()
			ch := rt.results[r.PathValue("id")]
			rt.mu.Unlock()
			if ch != nil {
				ch <- result{body: body, error: isErr}
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", reply(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", reply(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case rt.initErr <- string(body):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	rt.srv = httptest.NewServer(mux)
	t.Cleanup(func() { close(rt.done); rt.srv.Close() })
	return rt
}

// start runs the bootstrap against rt with extra environment variables and
// returns its standard output (the function's log).
func (rt *runtimeAPI) start(t testing.TB, argv []string, env ...string) *testutil.Buffer {
	cmd := rt.run(t, argv, env...)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Stdout.(*testutil.Buffer)
}

// run starts the bootstrap given as a command line; the caller stops it.
func (rt *runtimeAPI) run(t testing.TB, argv []string, env ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(rt.srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=interceptor",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"ENVIRONMENT=production",
		// As behind a gateway whose JWT authorizer verifies tokens: the
		// events carry unsigned ones.
		"JWT_VERIFIED_BY_GATEWAY=true",
		"PATH=" + os.Getenv("PATH"),
	}, env...)
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func (rt *runtimeAPI) invoke(t testing.TB, payload []byte) result {
	rt.mu.Lock()
	rt.seq++
	id := fmt.Sprintf("req-%04d", rt.seq)
	ch := make(chan result, 1)
	rt.results[id] = ch
	rt.mu.Unlock()
	select {
	case rt.events <- invocation{id, payload}:
	case msg := <-rt.initErr:
		t.Fatalf("function reported an init error: %s", msg)
	case <-time.After(10 * time.Second):
		t.Fatal("function never asked for an invocation")
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("function never answered")
	}
	return result{}
}

var decisionID = regexp.MustCompile(`[0-9a-f]{32}`)

// TestBootstrapAnswersEveryEvent sends every testdata event to the real
// bootstrap and compares its answers with the golden outputs.
func TestBootstrapAnswersEveryEvent(t *testing.T) {
	for name, argv := range binaries(t) {
		t.Run(name, func(t *testing.T) { answersEveryEvent(t, argv) })
	}
}

// traceRoot is the trace id of the runtime API's trace header.
const traceRoot = "1-67891233-abcdef012345678912345678"

func answersEveryEvent(t *testing.T, argv []string) {
	rt := newRuntimeAPI(t)
	daemon := newXRayDaemon(t)
	logs := rt.start(t, argv, "AWS_XRAY_DAEMON_ADDRESS="+daemon.addr, "AWS_LAMBDA_LOG_FORMAT=JSON")
	files, _ := filepath.Glob("../../testdata/events/*.json")
	if len(files) < 12 {
		t.Fatalf("want at least a dozen events, got %d", len(files))
	}
	for _, file := range files {
		payload, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		res := rt.invoke(t, payload)
		if res.error {
			t.Errorf("%s: function returned an error: %s", file, res.body)
			continue
		}
		var got bytes.Buffer
		if err := json.Indent(&got, res.body, "", "  "); err != nil {
			t.Errorf("%s: answer is not JSON: %s", file, res.body)
			continue
		}
		got.WriteString("\n")
		want, err := os.ReadFile(filepath.Join("../../testdata/golden", filepath.Base(file)))
		if err != nil {
			t.Fatal(err)
		}
		// Decision ids are random; the ones in the goldens are normalized too.
		normalized := decisionID.ReplaceAll(got.Bytes(), []byte("0123456789abcdef0123456789abcdef"))
		want = decisionID.ReplaceAll(want, []byte("0123456789abcdef0123456789abcdef"))
		if !bytes.Equal(normalized, want) {
			t.Errorf("%s: answer differs from golden\ngot:\n%s\nwant:\n%s", file, normalized, want)
		}
	}
	// The function's stdout reaches the buffer through a pipe: wait for the
	// last record rather than race its copy.
	out := logs.String()
	for deadline := time.Now().Add(5 * time.Second); strings.Count(out, `"message":"decision"`) < len(files) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		out = logs.String()
	}
	if !strings.Contains(out, `"request_id":"req-0001"`) {
		t.Errorf("decision log lacks the Lambda request id:\n%s", out)
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("log contains a token:\n%s", out)
	}
	// Every line is JSON (records and metrics; nothing from the X-Ray SDK),
	// and every decision record carries the runtime's trace id.
	records := 0
	for line := range strings.Lines(out) {
		var rec struct {
			Message string `json:"message"`
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
		}
		if rec.Message == "decision" {
			records++
			if rec.TraceID != traceRoot {
				t.Errorf("decision record without the trace id: %s", line)
			}
		}
	}
	if records != len(files) {
		t.Errorf("%d decision records for %d events", records, len(files))
	}
	// The sampled invocations' subsegments reached the daemon, in the trace.
	if n := daemon.subsegments(t, traceRoot, len(files)); n != len(files) {
		t.Errorf("daemon received %d subsegments of trace %s, want %d", n, traceRoot, len(files))
	}
}

// xrayDaemon is a loopback UDP socket where the X-Ray daemon would listen.
type xrayDaemon struct {
	addr string
	mu   sync.Mutex
	docs [][]byte
}

func newXRayDaemon(t *testing.T) *xrayDaemon {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	d := &xrayDaemon{addr: conn.LocalAddr().String()}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 64*1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if _, doc, ok := bytes.Cut(buf[:n], []byte("\n")); ok {
				d.mu.Lock()
				d.docs = append(d.docs, bytes.Clone(doc))
				d.mu.Unlock()
			}
		}
	}()
	return d
}

// subsegments waits, up to 5 seconds, for want subsegments of trace root
// (UDP datagrams may still be on their way when the last answer is read)
// and returns how many arrived.
func (d *xrayDaemon) subsegments(t *testing.T, root string, want int) int {
	n := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		d.mu.Lock()
		n = 0
		for _, doc := range d.docs {
			var s struct {
				Name    string `json:"name"`
				TraceID string `json:"trace_id"`
			}
			if json.Unmarshal(doc, &s) == nil && s.Name == "toolgate" && s.TraceID == root {
				n++
			}
		}
		d.mu.Unlock()
		if n >= want {
			break
		}
	}
	return n
}

// TestBootstrapWithBrokenBundleDenies starts the function with a policy
// source that does not exist: it must still answer, denying every request.
func TestBootstrapWithBrokenBundleDenies(t *testing.T) {
	rt := newRuntimeAPI(t)
	logs := rt.start(t, []string{bootstrap}, "POLICY_SOURCE=/nonexistent/bundle")
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		t.Fatal(err)
	}
	res := rt.invoke(t, payload)
	if res.error || !bytes.Contains(res.body, []byte(`"transformedGatewayResponse"`)) || !bytes.Contains(res.body, []byte(`"isError":true`)) {
		t.Fatalf("want a denial, got %s", res.body)
	}
	// The log reaches the buffer through a pipe: wait for it rather than
	// race its copy.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "/nonexistent/bundle") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "/nonexistent/bundle") {
		t.Errorf("the bundle error is not logged:\n%s", logs.String())
	}
}

func TestBootstrapLocalCommand(t *testing.T) {
	out, err := exec.Command(bootstrap, "invoke", "../../testdata/events/denied-delete-production.json").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"decision: deny", "destructive tool k8s___delete-pod", `"transformedGatewayResponse"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkAgainstBareRuntime runs the real bootstrap and a bare
// aws-lambda-go function (testdata/bare, which echoes the event) side by
// side through the same loopback Runtime API, alternating one invocation
// of each so that both see the same machine, on a 1.2 KB denied tools/call.
// It reports each one's time and toolgate's as a multiple of the bare one:
// warm, one process each serving every invocation; cold, process start to
// first answer; for the default build (X-Ray) and the otel one, on
// unsampled invocations, as most are. (ns/op is the pair's.)
func BenchmarkAgainstBareRuntime(b *testing.B) {
	payload, err := os.ReadFile("../../testdata/events/denied-delete-production.json")
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, unit string, toolgate, baseline time.Duration) {
		n := float64(b.N)
		b.ReportMetric(float64(toolgate.Microseconds())/n, "toolgate-µs/op")
		b.ReportMetric(float64(baseline.Microseconds())/n, "bare-µs/op")
		b.ReportMetric(float64(toolgate)/float64(baseline), "x-bare-"+unit)
	}
	for _, build := range []struct{ name, path string }{{"xray", bootstrap}, {"otel", bootstrapOTel}} {
		b.Run("warm/"+build.name, func(b *testing.B) {
			rt, base := newRuntimeAPI(b), newRuntimeAPI(b)
			rt.sampled, base.sampled = "0", "0"
			rt.start(b, []string{build.path})
			base.start(b, []string{bare})
			rt.invoke(b, payload) // each process's first invocation is the cold one
			base.invoke(b, payload)
			var toolgate, baseline time.Duration
			for b.Loop() {
				start := time.Now()
				if r := base.invoke(b, payload); r.error {
					b.Fatal(string(r.body))
				}
				mid := time.Now()
				if r := rt.invoke(b, payload); r.error {
					b.Fatal(string(r.body))
				}
				toolgate, baseline = toolgate+time.Since(mid), baseline+mid.Sub(start)
			}
			report(b, "warm", toolgate, baseline)
		})
		b.Run("cold/"+build.name, func(b *testing.B) {
			first := func(argv []string) time.Duration {
				// A runtime API per process, as Lambda gives each sandbox
				// its own: a killed process's pending /next must not take
				// the next process's event.
				rt := newRuntimeAPI(b)
				rt.sampled = "0"
				start := time.Now()
				cmd := rt.run(b, argv)
				r := rt.invoke(b, payload)
				d := time.Since(start)
				cmd.Process.Kill()
				cmd.Wait()
				if r.error {
					b.Fatal(string(r.body))
				}
				return d
			}
			var toolgate, baseline time.Duration
			for b.Loop() {
				baseline += first([]string{bare})
				toolgate += first([]string{build.path})
			}
			report(b, "cold", toolgate, baseline)
		})
	}
}

// TestBootstrapOTel: the bootstrap built with -tags otel exports each
// sampled invocation's spans over OTLP/HTTP, in the runtime's trace, before
// it answers, and still answers when nothing listens.
func TestBootstrapOTel(t *testing.T) {
	var mu sync.Mutex
	var roots []*tracepb.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("not an OTLP export: %v", err)
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if s.Name == "toolgate" {
						roots = append(roots, s)
					}
				}
			}
		}
		mu.Unlock()
	}))
	defer collector.Close()
	rt := newRuntimeAPI(t)
	logs := rt.start(t, []string{bootstrapOTel}, "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL)
	wantTrace := strings.ReplaceAll(strings.TrimPrefix(traceRoot, "1-"), "-", "")
	for i, name := range []string{"denied-delete-production.json", "allowed-call.json", "tools-list.json"} {
		payload, err := os.ReadFile("../../testdata/events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if res := rt.invoke(t, payload); res.error {
			t.Fatalf("%s: %s", name, res.body)
		}
		mu.Lock()
		n := len(roots)
		mu.Unlock()
		if n != i+1 {
			t.Fatalf("after %s answered, %d toolgate spans exported, want %d\n%s", name, n, i+1, logs)
		}
	}
	for _, s := range roots {
		if hex.EncodeToString(s.TraceId) != wantTrace || hex.EncodeToString(s.ParentSpanId) != "1234567890abcdef" {
			t.Errorf("span in trace %x under %x, want %s under the function's segment", s.TraceId, s.ParentSpanId, wantTrace)
		}
	}
	collector.Close()
	payload, _ := os.ReadFile("../../testdata/events/allowed-call.json")
	if res := rt.invoke(t, payload); res.error || !bytes.Contains(res.body, []byte("transformedGatewayRequest")) {
		t.Fatalf("with no collector: %s", res.body)
	}
}
