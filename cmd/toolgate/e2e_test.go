package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/pkg/gateway"
	"github.com/toolgate/toolgate/policies"
)

// The end-to-end tests run the official MCP Go SDK's client against its
// server through a small emulation of AgentCore Gateway that hands every
// message to the interceptor (wired exactly as in Lambda, by
// app.NewHandler, with the default bundle, moto's DynamoDB and Secrets
// Manager, and JWT verification against a loopback IdP) at REQUEST and
// RESPONSE. The server's tools count their runs: what the interceptor
// holds back never runs, what is approved runs exactly once.

const approvalPage = "https://approvals.example.test/approvals/{id}"

// targets is the MCP server behind the gateway: tools named as the gateway
// names them (target___tool), each counting its runs.
type targets struct {
	srv       *httptest.Server
	mu        sync.Mutex
	runs      map[string]int
	sawBearer atomic.Bool // a request reached the tools with an Authorization header
	// sawOurs: a call reached a tool with the interceptor's own input
	// response or request state, which it must strip.
	sawOurs atomic.Bool
}

func newTargets(t *testing.T) *targets {
	tg := &targets{runs: map[string]int{}}
	server := mcp.NewServer(&mcp.Implementation{Name: "targets", Version: "1.0.0"}, nil)
	for _, name := range []string{"billing___refund_payment", "slack___post_message", "docs___search_docs"} {
		server.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				if _, ok := req.Params.InputResponses["toolgate.approval"]; ok || strings.HasPrefix(req.Params.RequestState, "tg1.") {
					tg.sawOurs.Store(true)
				}
				tg.mu.Lock()
				tg.runs[name]++
				tg.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " ran"}}}, nil
			})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			tg.sawBearer.Store(true)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *targets) ran(tool string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.runs[tool]
}

// gatewayEmulator is the part of AgentCore Gateway the interceptor sees: it
// turns each POST into an interceptor event (passRequestHeaders on),
// answers with a REQUEST short-circuit or forwards the transformed request
// to the target, and hands every answer to the RESPONSE point. It forwards
// only the client's MCP headers (Mcp-*: version, session, and the method,
// name and parameter headers of 2026-07-28), never its Authorization.
type gatewayEmulator struct {
	t      *testing.T
	fn     *app.Handler
	target string
}

func (g *gatewayEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "the gateway takes POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	headers := gateway.Headers{}
	for name := range r.Header {
		headers[name] = r.Header.Get(name)
	}
	raw, _ := json.Marshal(string(body))
	req := &gateway.Request{Path: "/mcp", HTTPMethod: http.MethodPost, Headers: headers, Body: body}
	mcpEvent := &gateway.MCPEvent{RawGatewayRequest: &gateway.RawRequest{Body: raw}, GatewayRequest: req}
	out := g.invoke(mcpEvent)
	var resp *gateway.TransformedResponse
	if out.MCP.TransformedGatewayResponse != nil {
		resp = out.MCP.TransformedGatewayResponse
	} else {
		resp = g.forward(r, out.MCP.TransformedGatewayRequest)
	}
	if len(resp.Body) > 0 {
		// The RESPONSE point runs after a short-circuit too.
		mcpEvent.GatewayResponse = &gateway.Response{StatusCode: resp.StatusCode, Headers: resp.Headers, Body: resp.Body}
		if out := g.invoke(mcpEvent); out.MCP.TransformedGatewayResponse != nil {
			resp = out.MCP.TransformedGatewayResponse
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	if len(resp.Body) > 0 && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(resp.Body)
}

// invoke runs the function on one event and checks the output is one the
// gateway acts on.
func (g *gatewayEmulator) invoke(e *gateway.MCPEvent) gateway.Output {
	payload, err := json.Marshal(gateway.Event{InterceptorInputVersion: "1.0", MCP: e})
	if err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := g.fn.Invoke(ctx, payload)
	if err != nil {
		g.t.Errorf("the interceptor returned an error (the gateway would retry): %v", err)
	}
	var out gateway.Output
	if err := json.Unmarshal(b, &out); err != nil || out.Validate() != nil || out.MCP == nil {
		g.t.Errorf("output the gateway cannot act on: %v %v\n%s", err, out.Validate(), b)
		return gateway.Respond(http.StatusInternalServerError, nil, nil)
	}
	return out
}

func (g *gatewayEmulator) forward(client *http.Request, tr *gateway.TransformedRequest) *gateway.TransformedResponse {
	req, err := http.NewRequest(http.MethodPost, g.target, bytes.NewReader(tr.Body))
	if err != nil {
		g.t.Fatal(err)
	}
	for name := range client.Header {
		if name == "Content-Type" || name == "Accept" || strings.HasPrefix(name, "Mcp-") {
			req.Header.Set(name, client.Header.Get(name))
		}
	}
	for k, v := range tr.Headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Errorf("target: %v", err)
		return &gateway.TransformedResponse{StatusCode: http.StatusBadGateway}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	headers := map[string]string{}
	for _, name := range []string{"Content-Type", "Mcp-Session-Id"} {
		if v := res.Header.Get(name); v != "" {
			headers[name] = v
		}
	}
	return &gateway.TransformedResponse{StatusCode: res.StatusCode, Headers: headers, Body: body}
}

// e2e is one gateway with its interceptor, targets, approval table and
// approvers' command.
type e2e struct {
	t       *testing.T
	gateway *httptest.Server
	targets *targets
	cli     *approvalsCLI
	store   approval.Store // the approval table, as anyone who may write it
	logs    *testutil.Buffer
	alice   string // the requester's token: a platform admin
	bob     string // another platform admin's token file
}

func newE2E(t *testing.T) *e2e {
	srv := moto.Start(t)
	approvals := srv.CreateTable(t, "toolgate-approvals")
	state := srv.CreateTable(t, "toolgate-state")
	cli, store := approvalsCLIOn(t, srv, approvals)
	env := srv.Env(map[string]string{
		"ENVIRONMENT": "production", "STATE_TABLE": state,
		"APPROVAL_TABLE": approvals, "APPROVAL_KEY_SECRET_ARN": cli.secret, "APPROVAL_SIGNING_KEY_ARN": cli.key, "APPROVAL_URL": approvalPage,
		"JWKS_URL": cli.idp.URL, "JWT_ISSUER": testIssuer, "JWT_AUDIENCE": "agent-app", "JWT_TOKEN_USE": "access",
	})
	logs := &testutil.Buffer{}
	fn, err := app.NewHandler(env, policies.FS, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := newTargets(t)
	gw := httptest.NewServer(&gatewayEmulator{t: t, fn: fn, target: tg.srv.URL})
	t.Cleanup(gw.Close)
	e := &e2e{t: t, gateway: gw, targets: tg, cli: cli, store: store, logs: logs,
		alice: cli.idp.Token(t, "alice", []string{"platform-admins"}, nil),
		bob:   cli.tokenFile(cli.idp.Token(t, "bob", []string{"platform-admins"}, nil))}
	t.Cleanup(func() {
		if tg.sawBearer.Load() {
			t.Error("a caller's Authorization header reached the tools")
		}
		if tg.sawOurs.Load() {
			t.Error("the interceptor's own input response or request state reached a tool")
		}
		if strings.Contains(logs.String(), e.alice) {
			t.Error("the function logged a bearer token")
		}
	})
	return e
}

// bearer adds the agent's token to every request, as an agent runtime does.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// connect connects an SDK client speaking version through the gateway,
// with elicit as its elicitation handler (nil: none).
func (e *e2e) connect(version string, elicit func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error)) *mcp.ClientSession {
	e.t.Helper()
	opts := &mcp.ClientOptions{ElicitationHandler: elicit}
	if elicit != nil {
		opts.Capabilities = &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{
			Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1.0.0"}, opts)
	transport := &mcp.StreamableClientTransport{Endpoint: e.gateway.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{e.alice}}, DisableStandaloneSSE: true, MaxRetries: -1}
	cs, err := client.Connect(context.Background(), transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		e.t.Fatalf("connect %s through the gateway: %v\n%s", version, err, e.logs)
	}
	e.t.Cleanup(func() { _ = cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		e.t.Fatalf("negotiated %s, want %s", got, version)
	}
	return cs
}

func call(cs *mcp.ClientSession, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	return cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// approve decides approval id as bob with the approvers' command.
func (e *e2e) approve(id string) {
	e.t.Helper()
	if code, out := e.cli.run("", "approve", "-token", e.bob, "-comment", "checked", id); code != 0 {
		e.t.Fatalf("toolgate approvals approve %s: exit %d\n%s", id, code, out)
	}
}

var refund = map[string]any{"payment": "p-1", "amount": 10}

// TestE2EPlainCallsPass: the handshake of every version, tools/list and a
// call no policy holds back go through, once each.
func TestE2EPlainCallsPass(t *testing.T) {
	e := newE2E(t)
	for i, v := range []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"} {
		cs := e.connect(v, nil)
		tools, err := cs.ListTools(context.Background(), nil)
		if err != nil || len(tools.Tools) != 3 {
			t.Fatalf("%s: tools/list: %v %+v", v, err, tools)
		}
		res, err := call(cs, "docs___search_docs", map[string]any{"query": "vpc peering"})
		if err != nil || res.IsError || text(res) != "docs___search_docs ran" {
			t.Fatalf("%s: tools/call: %v %+v", v, err, res)
		}
		if n := e.targets.ran("docs___search_docs"); n != i+1 {
			t.Fatalf("%s: the tool ran %d times, want %d", v, n, i+1)
		}
	}
}

// TestE2EInBandConfirmation: a 2026-07-28 client is asked in band (a form
// naming the tool) and its user's answer decides: accept runs the call
// once, decline runs nothing.
func TestE2EInBandConfirmation(t *testing.T) {
	e := newE2E(t)
	var asked []*mcp.ElicitParams
	answer := "accept"
	cs := e.connect("2026-07-28", func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked = append(asked, r.Params)
		if answer != "accept" {
			return &mcp.ElicitResult{Action: answer}, nil
		}
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}, nil
	})
	msg := map[string]any{"channel": "general", "text": "release is out"}
	res, err := call(cs, "slack___post_message", msg)
	if err != nil || res.IsError || text(res) != "slack___post_message ran" {
		t.Fatalf("accepted call: %v %+v\n%s", err, res, e.logs)
	}
	if len(asked) != 1 || asked[0].Mode != "form" || !strings.Contains(asked[0].Message, "slack___post_message") {
		t.Fatalf("asked %+v, want one form naming the tool", asked)
	}
	if n := e.targets.ran("slack___post_message"); n != 1 {
		t.Fatalf("the accepted call ran %d times, want 1", n)
	}
	for _, a := range []string{"decline", "cancel"} {
		answer = a
		res, err = call(cs, "slack___post_message", msg)
		if err != nil || !res.IsError || !strings.Contains(text(res), "declined") && !strings.Contains(text(res), a) {
			t.Errorf("%s: %v %+v, want a denial that says so", a, err, res)
		}
	}
	if n := e.targets.ran("slack___post_message"); n != 1 {
		t.Fatalf("after declining the tool ran %d times, want 1", n)
	}
}

var approvalID = regexp.MustCompile(`Approval requested: id ([0-9a-f]+),`)

// TestE2EOutOfBandURL: a 2026-07-28 client is sent to the approval page
// (an MRTR URL elicitation); the approver decides with toolgate approvals
// while the user looks at the page; the client's retry runs the call once.
// A user who leaves the page without an approval, or declines it, runs
// nothing.
func TestE2EOutOfBandURL(t *testing.T) {
	e := newE2E(t)
	decide, action := true, "accept"
	var pages []string
	cs := e.connect("2026-07-28", func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		if r.Params.Mode != "url" {
			return nil, errors.New("want a URL elicitation, got " + r.Params.Mode)
		}
		pages = append(pages, r.Params.URL)
		if decide {
			e.approve(path.Base(r.Params.URL))
		}
		return &mcp.ElicitResult{Action: action}, nil
	})
	res, err := call(cs, "billing___refund_payment", refund)
	if err != nil || res.IsError || text(res) != "billing___refund_payment ran" {
		t.Fatalf("approved call: %v %+v\n%s", err, res, e.logs)
	}
	if len(pages) != 1 || !strings.HasPrefix(pages[0], "https://approvals.example.test/approvals/") {
		t.Fatalf("sent to %v, want the approval page once", pages)
	}
	if n := e.targets.ran("billing___refund_payment"); n != 1 {
		t.Fatalf("the approved call ran %d times, want 1", n)
	}
	// The grant was used: the same call asks again, and without an
	// approver's decision the client gives up; the tool never runs.
	decide = false
	if res, err := call(cs, "billing___refund_payment", refund); err == nil && !res.IsError {
		t.Fatalf("the second call ran on a used grant: %+v", res)
	}
	if n := e.targets.ran("billing___refund_payment"); n != 1 {
		t.Fatalf("an unapproved call reached the tool: ran %d times", n)
	}
	// A user who declines the page is told so at once, not asked again.
	action, pages = "decline", nil
	res, err = call(cs, "billing___refund_payment", refund)
	if err != nil || !res.IsError || !strings.Contains(text(res), "declined to wait") || len(pages) != 1 {
		t.Fatalf("declined page: %v %+v, shown %d times", err, res, len(pages))
	}
	if n := e.targets.ran("billing___refund_payment"); n != 1 {
		t.Fatalf("a declined call reached the tool: ran %d times", n)
	}
}

// TestE2EURLElicitationRequired: a 2025-11-25 client gets -32042 with the
// approval page; once an approver has approved with toolgate approvals,
// the same call runs once; other arguments are another call.
func TestE2EURLElicitationRequired(t *testing.T) {
	e := newE2E(t)
	cs := e.connect("2025-11-25", nil)
	_, err := call(cs, "billing___refund_payment", refund)
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("got %v, want a -32042 error", err)
	}
	var data struct{ Elicitations []mcp.ElicitParams }
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("error data %s: %v", rpcErr.Data, err)
	}
	el := data.Elicitations[0]
	if el.Mode != "url" || el.ElicitationID == "" || el.URL != strings.ReplaceAll(approvalPage, "{id}", el.ElicitationID) {
		t.Fatalf("elicitation %+v, want the approval page of its id", el)
	}
	if n := e.targets.ran("billing___refund_payment"); n != 0 {
		t.Fatalf("the unapproved call ran %d times", n)
	}
	e.approve(el.ElicitationID)
	if res, err := call(cs, "billing___refund_payment", map[string]any{"payment": "p-1", "amount": 10000}); !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("other arguments: %v %+v, want a new approval asked for", err, res)
	}
	res, err := call(cs, "billing___refund_payment", refund)
	if err != nil || res.IsError {
		t.Fatalf("approved retry: %v %+v\n%s", err, res, e.logs)
	}
	if n := e.targets.ran("billing___refund_payment"); n != 1 {
		t.Fatalf("the approved call ran %d times, want 1", n)
	}
}

// TestE2EOlderClients: a client of 2025-06-18 or 2025-03-26 reads the
// approval request as an error result that names the id, and runs the call
// by retrying once it is approved.
func TestE2EOlderClients(t *testing.T) {
	e := newE2E(t)
	for i, v := range []string{"2025-06-18", "2025-03-26"} {
		cs := e.connect(v, nil)
		args := map[string]any{"payment": "p-" + v, "amount": 10}
		res, err := call(cs, "billing___refund_payment", args)
		if err != nil || !res.IsError {
			t.Fatalf("%s: %v %+v, want an error result", v, err, res)
		}
		m := approvalID.FindStringSubmatch(text(res))
		if m == nil || !strings.Contains(text(res), "Retry the same call") {
			t.Fatalf("%s: %q names no approval id", v, text(res))
		}
		if n := e.targets.ran("billing___refund_payment"); n != i {
			t.Fatalf("%s: the unapproved call ran", v)
		}
		e.approve(m[1])
		res, err = call(cs, "billing___refund_payment", args)
		if err != nil || res.IsError {
			t.Fatalf("%s: approved retry: %v %+v", v, err, res)
		}
		if n := e.targets.ran("billing___refund_payment"); n != i+1 {
			t.Fatalf("%s: the approved call ran %d times in all, want %d", v, n, i+1)
		}
	}
}

// TestE2EHeaderNamesAnotherTool: a 2026-07-28 request whose Mcp-Name
// header names a harmless tool while its body calls another is refused
// before either runs.
func TestE2EHeaderNamesAnotherTool(t *testing.T) {
	e := newE2E(t)
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"billing___refund_payment","arguments":{"payment":"p-1","amount":10},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	req, err := http.NewRequest(http.MethodPost, e.gateway.URL+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "docs___search_docs"} {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Transport: bearer{e.alice}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(answer), "Mcp-Name names another tool") {
		t.Errorf("answer %d %s, want the mismatch refused", res.StatusCode, answer)
	}
	if e.targets.ran("billing___refund_payment")+e.targets.ran("docs___search_docs") != 0 {
		t.Error("a tool ran")
	}
}

// TestE2EForgedTableWriteGrantsNothing: someone who can write the approval
// table (but cannot use the approvals function's key) marks a pending
// request approved by an admin; the retry is denied, and the tool never
// runs. The same request approved through the approvals function then runs
// once.
func TestE2EForgedTableWriteGrantsNothing(t *testing.T) {
	e := newE2E(t)
	cs := e.connect("2025-06-18", nil)
	res, err := call(cs, "billing___refund_payment", refund)
	m := approvalID.FindStringSubmatch(text(res))
	if err != nil || m == nil {
		t.Fatalf("first call: %v %+v", err, res)
	}
	a, err := e.store.Get(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	a.Status, a.DecidedBy, a.DeciderGroups, a.DecidedAt, a.Expires = approval.Approved, "bob", []string{"platform-admins"}, time.Now(), time.Now().Add(10*time.Minute)
	if err := e.store.Settle(context.Background(), a, time.Now()); err != nil {
		t.Fatalf("the table write: %v", err)
	}
	res, err = call(cs, "billing___refund_payment", refund)
	if err != nil || !res.IsError || !strings.Contains(text(res), "grants nothing") {
		t.Fatalf("retry on the forged row: %v %q", err, text(res))
	}
	if n := e.targets.ran("billing___refund_payment"); n != 0 {
		t.Fatalf("a forged row ran the tool %d times", n)
	}
	if !strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Error("no ERROR record for the forged grant")
	}
	// Asked anew, and approved on the decision path: it runs once.
	res, _ = call(cs, "billing___refund_payment", refund)
	if m = approvalID.FindStringSubmatch(text(res)); m == nil {
		t.Fatalf("asked again: %q", text(res))
	}
	e.approve(m[1])
	if res, err := call(cs, "billing___refund_payment", refund); err != nil || res.IsError {
		t.Fatalf("approved retry: %v %q", err, text(res))
	}
	if n := e.targets.ran("billing___refund_payment"); n != 1 {
		t.Fatalf("the approved call ran %d times, want 1", n)
	}
}

// TestE2EPaddedArgumentsShown: an agent pads a refund with a long argument
// that sorts before the amount; the approver is shown the amount first and
// every character of the padding; arguments too long to show whole are
// denied and never run.
func TestE2EPaddedArgumentsShown(t *testing.T) {
	e := newE2E(t)
	cs := e.connect("2025-06-18", nil)
	padding := strings.Repeat("p", 3000)
	res, err := call(cs, "billing___refund_payment", map[string]any{"a_note": padding, "amount": 99999, "payment": "p-9"})
	m := approvalID.FindStringSubmatch(text(res))
	if err != nil || m == nil {
		t.Fatalf("first call: %v %+v", err, res)
	}
	code, out := e.cli.run("", "show", "-token", e.bob, m[1])
	if !strings.Contains(out, "arguments:\n") {
		t.Fatalf("toolgate approvals show: exit %d\n%s", code, out)
	}
	args := out[strings.Index(out, "arguments:\n"):]
	if code != 0 || !strings.HasPrefix(args, "arguments:\n  amount: 99999\n") || !strings.Contains(args, `a_note: "`+padding+`"`) || !strings.Contains(args, `payment: "p-9"`) {
		t.Fatalf("toolgate approvals show: exit %d\n%s", code, out)
	}
	res, err = call(cs, "billing___refund_payment", map[string]any{"a_note": strings.Repeat("p", 5000), "amount": 99999, "payment": "p-9"})
	if err != nil || !res.IsError || !strings.Contains(text(res), "longer than an approval can show") {
		t.Fatalf("arguments too long to show: %v %q", err, text(res))
	}
	if n := e.targets.ran("billing___refund_payment"); n != 0 {
		t.Fatalf("the tool ran %d times", n)
	}
}

// TestE2EPinLiveListing: toolgate pin lists the tools through the gateway
// as a client does, and pins each to the digest the interceptor computed
// of the target's answer when it pinned it on first use: the pins a
// reviewer writes are the ones the function compares.
func TestE2EPinLiveListing(t *testing.T) {
	e := newE2E(t)
	var out, errOut bytes.Buffer
	code := cli.Main([]string{"pin", "-url", e.gateway.URL + "/mcp", "-token", e.cli.tokenFile(e.alice)},
		cli.Env{Embedded: policies.FS, Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut, Store: newAWS(func(string) string { return "" }).store})
	if code != 0 {
		t.Fatalf("pin: exit %d\n%s%s\n%s", code, out.String(), errOut.String(), e.logs)
	}
	pinned := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^    (\w+): (sha256:[0-9a-f]{64})$`).FindAllStringSubmatch(out.String(), -1) {
		pinned[m[1]] = m[2]
	}
	recorded := map[string]string{}
	for _, m := range regexp.MustCompile(`"tool":"(\w+)","status":"pinned","pin":"(sha256:[0-9a-f]{64})"`).FindAllStringSubmatch(e.logs.String(), -1) {
		recorded[m[1]] = m[2]
	}
	if len(pinned) != 3 || !maps.Equal(pinned, recorded) {
		t.Fatalf("toolgate pin wrote %v, the interceptor pinned %v", pinned, recorded)
	}
}
