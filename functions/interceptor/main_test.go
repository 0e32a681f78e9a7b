package main_test

// A black-box test of the real bootstrap: it is built as Lambda builds it,
// started as a process, and served interceptor events by a small
// implementation of the Lambda Runtime API on loopback. This is what catches
// a broken main.

import (
	"bytes"
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
)

// bootstrap is the host build; arm64 runs the linux/arm64 build that Lambda
// runs, under qemu user-mode emulation, when qemu-aarch64-static is
// installed (CI installs it and sets REQUIRE_ARM64_BOOTSTRAP so that a
// missing emulator fails instead of skipping).
var (
	bootstrap string
	arm64     []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootstrap")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	if err := build(bootstrap, "", ""); err != nil {
		fmt.Fprintln(os.Stderr, "build bootstrap:", err)
		os.Exit(1)
	}
	if qemu, err := exec.LookPath("qemu-aarch64-static"); err == nil {
		path := filepath.Join(dir, "bootstrap-arm64")
		if err := build(path, "linux", "arm64"); err != nil {
			fmt.Fprintln(os.Stderr, "build linux/arm64 bootstrap:", err)
			os.Exit(1)
		}
		arm64 = []string{qemu, path}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds the bootstrap as the Makefile does for Lambda.
func build(out, goos, goarch string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
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
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case inv := <-rt.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:interceptor")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root="+traceRoot+";Parent=1234567890abcdef;Sampled=1")
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
func (rt *runtimeAPI) start(t testing.TB, argv []string, env ...string) *syncBuffer {
	cmd := rt.run(t, argv, env...)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Stdout.(*syncBuffer)
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
		"PATH=" + os.Getenv("PATH"),
	}, env...)
	out := &syncBuffer{}
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
	if n := daemon.subsegments(t, traceRoot); n != len(files) {
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

// subsegments counts the "toolgate" subsegments of trace root received,
// waiting briefly for the last datagrams.
func (d *xrayDaemon) subsegments(t *testing.T, root string) int {
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
		if n > 0 && n >= len(d.docs) {
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

// BenchmarkColdStart measures process start to first answer of the real
// bootstrap: what a Lambda cold start adds beyond the runtime's own.
func BenchmarkColdStart(b *testing.B) {
	payload, err := os.ReadFile("../../testdata/events/allowed-call.json")
	if err != nil {
		b.Fatal(err)
	}
	rt := newRuntimeAPI(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := rt.run(b, []string{bootstrap})
		res := rt.invoke(b, payload)
		total += time.Since(start)
		cmd.Process.Kill()
		cmd.Wait()
		if res.error {
			b.Fatal(string(res.body))
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-answer")
}
