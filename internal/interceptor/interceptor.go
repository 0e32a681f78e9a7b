// Package interceptor is the Lambda handler: interceptor event in, gateway
// output out. It never returns an error and never lets a panic escape: the
// gateway retries a failed invocation and then fails the call, so every
// failure is answered with a well-formed denial instead.
package interceptor

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/metrics"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/internal/strictjson"
	"github.com/toolgate/toolgate/internal/trace"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Config configures a Handler. Engine is required; the rest have defaults.
type Config struct {
	// Environment is the deployment's environment, as policies see it.
	Environment string
	// DenyStatus is the HTTP status of a denial (default 200: MCP clients treat
	// other statuses as transport failures and drop the session).
	DenyStatus int
	Engine     policy.Engine
	Catalog    *catalog.Catalog
	// Redactor redacts tool results at the RESPONSE point; nil redacts nothing.
	Redactor *redact.Redactor
	// Bundle identifies the policy bundle in decision records.
	Bundle decisionlog.Bundle
	// Logger receives one decision record per decision (see decisionlog).
	Logger *slog.Logger
	// LogArguments puts raw tool arguments into decision records. Off by
	// default: arguments can carry secrets and personal data.
	LogArguments bool
	// Metrics receives each decision's metrics; nil writes none.
	Metrics *metrics.EMF
	// Tracer traces each invocation's steps; nil traces nothing.
	Tracer trace.Tracer
	// Verifier verifies bearer tokens; nil trusts the gateway's authorizer
	// and reads them unverified.
	Verifier *identity.Verifier
	// Limits bound the input read before any policy runs; zero fields take
	// the defaults of DefaultLimits.
	Limits Limits
	// DeadlineMargin is the time kept back from the invocation deadline to
	// answer in: a decision not made by then is a denial (default 250ms).
	DeadlineMargin time.Duration
	// RateLimits are the bundle's rate limits, counted in State at the
	// REQUEST point for the calls the policies allow; nil has none.
	RateLimits *ratelimit.Set
	// State holds the counts, the session histories and the task
	// bindings; nil denies every call a limit matches (unless the limit
	// fails open), and every task's messages.
	State state.Store
	// Sessions says which policies read the document's session (see
	// policy.SessionReaders): none (""), only audit-mode ones (a history
	// that cannot be read or written is then an audit finding and the call
	// is decided without it), or enforcing ones (it is then a denial).
	Sessions policy.Mode
	// SessionTTL is how long a session's history is kept after its last
	// call (default 24h).
	SessionTTL time.Duration
	// SessionWindow is the window of a principal's history (default 24h):
	// the document sees the current window's calls and the previous
	// one's, whatever session ids the client sends.
	SessionWindow time.Duration
	// TaskTTL is how long a task's id stays bound to the call that created
	// it (default 24h): its messages are denied after.
	TaskTTL time.Duration
	// StateTimeout bounds the counting of one call (default 300ms): past
	// it the count is an error, which denies unless the limit fails open.
	StateTimeout time.Duration
	// Approvals keeps out-of-band approvals, the nonces of used in-band
	// confirmations and the marks of forwarded grants; it must be shared
	// by every instance (a DynamoDB table), or single use would not hold.
	Approvals approval.Store
	// ApprovalKeys sign in-band confirmations (MCP 2026-07-28 clients) and
	// seal the REQUEST point's answers in the approval flow.
	ApprovalKeys approval.Keys
	// GrantKey verifies the decision path's signed grants.
	GrantKey approval.Verifier
	// ApprovalLimits bound the approvals a requester can have asked for;
	// zero fields take approval.DefaultLimits.
	ApprovalLimits approval.Limits
	// ApprovalsOff says why approvals are off, in words that end the
	// sentence "this call needs an approval, and ...": every call that
	// needs one is denied with it. Without Approvals, ApprovalKeys and
	// GrantKey approvals are off whatever it says.
	ApprovalsOff string
	// ApprovalURL is where approvers decide, with {id} for the approval's
	// id: a URL elicitation sends the user there. "" sends none.
	ApprovalURL string
	Now         func() time.Time
	NewID       func() string
}

// Limits bound what the handler reads. Anything beyond them is denied before
// a policy runs: policies see only input of a size and shape they can judge.
type Limits struct {
	// MaxEventBytes is the largest event.
	MaxEventBytes int
	// MaxDepth is the deepest nesting of objects and arrays in a JSON-RPC
	// message, request or response; the message itself is depth 1, so a
	// tool call's arguments may nest MaxDepth-3 deep.
	MaxDepth int
	// MaxArgumentBytes is the largest tools/call params (the arguments and
	// the tool's name), as sent.
	MaxArgumentBytes int
	// MaxValues is the most JSON values in a JSON-RPC message, request or
	// response: what a message costs in memory once decoded.
	MaxValues int
}

// DefaultLimits returns limits that admit every event a gateway can send (Lambda caps a
// synchronous invocation's payload at 6 MB) as long as it decodes within a
// 128 MB function: 6 MB of strings does, 6 MB of tiny objects does not, so
// values are bounded too. No real tool's arguments nest anywhere near 64
// deep.
func DefaultLimits() Limits {
	return Limits{MaxEventBytes: 6 << 20, MaxDepth: 64, MaxArgumentBytes: 6 << 20, MaxValues: 100_000}
}

// Handler handles interceptor events. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	builder attributes.Builder
	// work hands judgements to idle workers (see dispatch).
	work chan judgement
	// abandoned counts judgements still running after their invocation
	// was answered with a denial for want of time.
	abandoned atomic.Int32
}

// New returns a Handler for cfg. A nil Engine denies everything.
func New(cfg Config) *Handler {
	if cfg.Engine == nil {
		cfg.Engine = policy.Broken(fmt.Errorf("no policy engine configured"))
	}
	if cfg.DenyStatus == 0 {
		cfg.DenyStatus = http.StatusOK
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracer == nil {
		cfg.Tracer = trace.Nop{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	def := DefaultLimits()
	cfg.Limits.MaxEventBytes = cmp.Or(cfg.Limits.MaxEventBytes, def.MaxEventBytes)
	cfg.Limits.MaxDepth = cmp.Or(cfg.Limits.MaxDepth, def.MaxDepth)
	cfg.Limits.MaxArgumentBytes = cmp.Or(cfg.Limits.MaxArgumentBytes, def.MaxArgumentBytes)
	cfg.Limits.MaxValues = cmp.Or(cfg.Limits.MaxValues, def.MaxValues)
	cfg.DeadlineMargin = cmp.Or(cfg.DeadlineMargin, 250*time.Millisecond)
	cfg.StateTimeout = cmp.Or(cfg.StateTimeout, DefaultStateTimeout)
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, 24*time.Hour)
	cfg.SessionWindow = cmp.Or(cfg.SessionWindow, 24*time.Hour)
	cfg.TaskTTL = cmp.Or(cfg.TaskTTL, 24*time.Hour)
	if cfg.ApprovalsOff == "" && (cfg.Approvals == nil || cfg.ApprovalKeys == nil || cfg.GrantKey == nil) {
		cfg.ApprovalsOff = "approvals are not configured (APPROVAL_TABLE, APPROVAL_KEY_SECRET_ARN, APPROVAL_SIGNING_KEY_ARN)"
	}
	if cfg.ApprovalLimits == (approval.Limits{}) {
		cfg.ApprovalLimits = approval.DefaultLimits()
	}
	return &Handler{cfg: cfg, builder: attributes.Builder{Environment: cfg.Environment, Catalog: cfg.Catalog, Verifier: cfg.Verifier},
		work: make(chan judgement)}
}

// DefaultStateTimeout bounds the rate-limit counting of one call.
const DefaultStateTimeout = 300 * time.Millisecond

// NewID returns a random 128-bit decision id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Result is the outcome of one invocation.
type Result struct {
	Output   gateway.Output
	Decision decision.Decision
	Phase    string
	Method   string
	// Document is the attribute document the policies saw; nil when none was
	// built (malformed input, pass-through).
	Document *attributes.Document
	// Repeat: the RESPONSE point gave the REQUEST point's denial again,
	// whose decision id is RepeatOf.
	Repeat   bool
	RepeatOf string
	// RateLimits is what each rate limit that matched the call did.
	RateLimits []ratelimit.Outcome

	session  *sessionCall // the call's session, when tracked
	approval *approvable  // the call in the approval flow, when it reached it
	task     *state.Task  // the call a tasks/* message's task is bound to
}

// sessionCall is what recording a call in its histories needs: the
// histories as the decision read them, and the call.
type sessionCall struct {
	entries []state.Entry
	tool    string
	labels  []string
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
	out, err := json.Marshal(r.Output)
	if err != nil {
		return fallbackOutput, nil
	}
	return out, nil
}

// Handle decides on one event. A panic anywhere in it, recording and
// logging included, is answered with a denial.
func (h *Handler) Handle(ctx context.Context, payload []byte) (r Result) {
	id := h.cfg.NewID()
	defer func() {
		if p := recover(); p != nil {
			h.panicked(ctx, id, p)
			r = h.internalError(id)
		}
	}()
	return h.handle(ctx, id, payload)
}

func (h *Handler) panicked(ctx context.Context, id string, p any) {
	defer func() { _ = recover() }() // a logger that panics too must not escape
	h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "panic", slog.String("decision_id", id), slog.String("panic", fmt.Sprint(p)))
}

func (h *Handler) internalError(id string) Result {
	r := Result{Decision: decision.Denied(id, decision.CodeUndecidable, "internal error")}
	r.Output = r.Decision.Output(nil, nil, h.cfg.DenyStatus)
	return r
}

func (h *Handler) handle(ctx context.Context, id string, payload []byte) Result {
	start := time.Now()
	ctx, span := h.cfg.Tracer.Start(ctx, "toolgate")
	r := h.inTime(ctx, id, payload)
	rec := h.record(ctx, r, time.Since(start))
	annotate(span, rec)
	span.End()
	h.log(ctx, rec)
	return r
}

// judge decides on one event; a panic is a denial.
func (h *Handler) judge(ctx context.Context, id string, payload []byte) (r Result) {
	st := &steps{ctx: ctx, tracer: h.cfg.Tracer}
	defer func() {
		if p := recover(); p != nil {
			h.panicked(ctx, id, p)
			r = h.internalError(id)
		}
		st.end()
	}()
	st.next("decode")
	if len(payload) > h.cfg.Limits.MaxEventBytes {
		return h.reject(r, id, nil, decision.CodeInvalidRequest, "malformed interceptor event", fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, len(payload), h.cfg.Limits.MaxEventBytes))
	}
	ev, err := gateway.Decode(payload)
	switch {
	case err != nil:
		return h.reject(r, id, nil, decision.CodeInvalidRequest, "malformed interceptor event", err)
	case ev.HTTP != nil:
		return h.passHTTP(id, ev.HTTP)
	case ev.MCP.IsResponse():
		return h.response(st, id, ev.MCP)
	default:
		return h.request(st, id, ev.MCP)
	}
}

var errTooLarge = errors.New("too large")

// json returns the options that hold a message to the limits.
func (l Limits) json() strictjson.Options {
	return strictjson.Options{MaxDepth: l.MaxDepth, MaxValues: l.MaxValues}
}

// readRequest reads the client's JSON-RPC message from the gateway's parse
// of it. That parse is authoritative, not the raw body: it is what the
// gateway forwards to the tool unless the interceptor answers otherwise, and
// an allowed request is answered with exactly the bytes judged here. Bytes
// that parsers could read differently are refused (see strictjson). It
// returns what failed and why.
func (h *Handler) readRequest(ev *gateway.MCPEvent) (json.RawMessage, mcp.Message, string, error) {
	body, err := ev.RequestBody()
	if err != nil {
		return nil, mcp.Message{}, "no JSON-RPC request body", err
	}
	if err := strictjson.Check(body, h.cfg.Limits.json()); err != nil {
		return nil, mcp.Message{}, "ambiguous or oversized JSON-RPC request", err
	}
	msg, err := mcp.Parse(body)
	if err != nil {
		return nil, mcp.Message{}, "invalid JSON-RPC request", err
	}
	return body, msg, "", nil
}

// toolCall reads the params of a tools/call within the argument limit. Its
// numbers must mean the same to every parser, since policies judge them; the
// id's need not, as it is only echoed byte for byte.
func (h *Handler) toolCall(msg *mcp.Message) (mcp.ToolCall, error) {
	if err := strictjson.Check(msg.Params, strictjson.Options{ExactNumbers: true}); err != nil {
		return mcp.ToolCall{}, err
	}
	// The params, not the arguments alone, are measured: they are the
	// arguments and the tool's name, and need no second decoding pass.
	if n := len(msg.Params); n > h.cfg.Limits.MaxArgumentBytes {
		return mcp.ToolCall{}, fmt.Errorf("arguments %w: params of %d bytes, limit %d", errTooLarge, n, h.cfg.Limits.MaxArgumentBytes)
	}
	return mcp.ParseToolCall(msg.Params)
}

// params reads what the document needs of a message's params into in: a
// tools/call's tool and arguments (returned too), a prompts/get's prompt
// and arguments, a resources/read's (or subscribe's, unsubscribe's) URI,
// the prompt or URI a completion/complete completes, a tasks/* request's
// task id. It returns what failed and why.
func (h *Handler) params(msg *mcp.Message, in *attributes.Input) (mcp.ToolCall, string, error) {
	var call mcp.ToolCall
	var err error
	switch msg.Method {
	case mcp.MethodToolsCall:
		if call, err = h.toolCall(msg); err != nil {
			return call, "invalid tools/call params", err
		}
		in.QualifiedTool, in.Arguments = call.Name, call.Arguments
	case mcp.MethodPromptsGet:
		g, err := mcp.ParsePromptGet(msg.Params)
		if err != nil {
			return call, "invalid prompts/get params", err
		}
		in.Prompt, in.PromptArgs = g.Name, g.Arguments
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		if in.ResourceURI, err = mcp.ParseResourceURI(msg.Params); err != nil {
			return call, "invalid " + msg.Method + " params", err
		}
	case mcp.MethodCompletionComplete:
		// Completing a prompt's or a template's arguments reads from it:
		// it is judged as a get of the prompt, or a read of the resource.
		if in.Prompt, in.ResourceURI, err = mcp.ParseCompletionRef(msg.Params); err != nil {
			return call, "invalid completion/complete params", err
		}
	case mcp.MethodTasksGet, mcp.MethodTasksResult, mcp.MethodTasksCancel, mcp.MethodTasksUpdate:
		if in.Task, err = mcp.ParseTaskID(msg.Params); err != nil {
			return call, "invalid " + msg.Method + " params", err
		}
	}
	return call, "", nil
}

// steps traces an invocation's consecutive steps as sibling spans: next
// ends the current step and starts another, so that no return path leaves
// a span open.
type steps struct {
	ctx    context.Context
	tracer trace.Tracer
	cur    trace.Span
}

func (s *steps) next(name string) {
	s.end()
	_, s.cur = s.tracer.Start(s.ctx, name)
}

func (s *steps) end() {
	if s.cur != nil {
		s.cur.End()
		s.cur = nil
	}
}

func (h *Handler) request(st *steps, id string, ev *gateway.MCPEvent) Result {
	r := Result{Phase: attributes.PhaseRequest}
	body, msg, what, err := h.readRequest(ev)
	if err != nil {
		return h.reject(r, id, nil, decision.CodeInvalidRequest, what, err)
	}
	r.Method = msg.Method
	in := attributes.Input{
		Phase:   attributes.PhaseRequest,
		Method:  msg.Method,
		Kind:    msg.Kind(),
		ID:      msg.IDValue(),
		Headers: ev.GatewayRequest.Headers,
		Now:     h.cfg.Now(),
	}
	call, what, err := h.params(&msg, &in)
	if err != nil {
		return h.reject(r, id, &msg, decision.CodeInvalidParams, what, err)
	}
	if err := mcp.CheckHeaders(ev.GatewayRequest.Headers, msg, call.Name); err != nil {
		return h.reject(r, id, &msg, decision.CodeInvalidRequest, "ambiguous request", err)
	}
	value := h.decide(st, id, &in, &r)
	if r.Decision.Effect == decision.Approval {
		st.next("approval")
		body = h.approve(st.ctx, &msg, call, body, r.Document, &r)
	}
	// The history first: a call decided again on it and then denied must
	// spend no rate-limit count; one a limit then refuses stays in its
	// history, which errs toward more history.
	if r.Decision.Effect == decision.Allow && r.session != nil {
		st.next("session")
		if v := h.recordSession(st, id, &in, &r); v != nil {
			value = v
		}
	}
	if r.Decision.Effect == decision.Allow && h.cfg.RateLimits.Len() > 0 {
		st.next("ratelimit")
		h.limit(st.ctx, value, &r)
	}
	if r.Decision.Effect == decision.Allow && r.approval != nil {
		h.forwarded(st.ctx, &r)
	}
	st.next("respond")
	r.Output = r.Decision.Output(&msg, body, h.cfg.DenyStatus)
	if r.approval != nil && r.Decision.Effect != decision.Allow {
		h.seal(st.ctx, &r, &msg)
	}
	return r
}

// decide builds the attribute document for in and evaluates it into r,
// tracing both steps. It returns the document's value. A task's message is
// first checked against the task's binding, and in becomes its call's if
// it carries the call's result.
func (h *Handler) decide(st *steps, id string, in *attributes.Input, r *Result) map[string]any {
	st.next("attributes")
	doc := h.builder.Build(st.ctx, *in)
	r.Document = &doc
	r.Decision.ID = id
	if in.Task != "" {
		st.next("task")
		if !h.readTask(st.ctx, in, &doc, r) {
			return doc.Value()
		}
		if in.TaskCall {
			doc = h.builder.Build(st.ctx, *in)
		}
	}
	// The history is read at the REQUEST point, where calls are recorded;
	// the RESPONSE point judges the same call again without it. Without a
	// table, audit-only session policies see no history (the
	// configuration's choice, said at load); enforcing ones deny.
	if h.cfg.Sessions != "" && doc.Action == attributes.ActionCall && doc.Phase == attributes.PhaseRequest &&
		(h.cfg.State != nil || h.cfg.Sessions == policy.ModeEnforce) {
		st.next("session")
		if !h.readSession(st.ctx, &doc, r) {
			return doc.Value()
		}
	}
	value := doc.Value()
	st.next("evaluate")
	pre := r.Decision.Findings // an audit finding of an unread history
	r.Decision = decision.FromResult(id, h.cfg.Engine.Evaluate(st.ctx, value))
	r.Decision.Findings = append(pre, r.Decision.Findings...)
	return value
}

// reject denies input that could not be judged: what is wrong goes to the
// caller ("what: err"), and the same as an error finding to the log. The
// error texts come from decoding and never quote the input.
func (h *Handler) reject(r Result, id string, msg *mcp.Message, code int, what string, err error) Result {
	reason := what + ": " + err.Error()
	source := r.Phase // the stage that failed stands where a policy name would
	if source == "" {
		source = "event"
	}
	r.Decision = decision.Denied(id, code, reason)
	r.Decision.Findings = []policy.Finding{{Policy: "(" + source + ")", Kind: policy.Error, Mode: policy.ModeEnforce, Message: reason}}
	r.Output = r.Decision.Output(msg, nil, h.cfg.DenyStatus)
	return r
}

// passHTTP passes an HTTP-target event through unchanged: this project
// governs MCP traffic only, and says so in the log.
func (h *Handler) passHTTP(id string, raw json.RawMessage) Result {
	var ev struct {
		GatewayRequest *struct {
			Body json.RawMessage `json:"body"`
		} `json:"gatewayRequest"`
		GatewayResponse *struct {
			StatusCode int             `json:"statusCode"`
			Body       json.RawMessage `json:"body"`
		} `json:"gatewayResponse"`
	}
	r := Result{Phase: "http"}
	if err := json.Unmarshal(raw, &ev); err != nil || (ev.GatewayRequest == nil && ev.GatewayResponse == nil) ||
		(ev.GatewayResponse != nil && ev.GatewayResponse.StatusCode != 0 && !gateway.ValidStatus(ev.GatewayResponse.StatusCode)) {
		r.Decision = decision.Denied(id, decision.CodeInvalidRequest, "malformed HTTP interceptor event")
		r.Output = gateway.Output{InterceptorOutputVersion: gateway.OutputVersion, HTTP: &gateway.HTTPOutput{
			TransformedGatewayResponse: &gateway.TransformedResponse{StatusCode: http.StatusForbidden},
		}}
		return r
	}
	r.Decision = decision.Decision{ID: id, Effect: decision.Allow, Reason: "HTTP target events are passed through unchecked"}
	out := &gateway.HTTPOutput{}
	if ev.GatewayResponse != nil {
		status := ev.GatewayResponse.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		out.TransformedGatewayResponse = &gateway.TransformedResponse{StatusCode: status, Body: nullToNil(ev.GatewayResponse.Body)}
	} else {
		out.TransformedGatewayRequest = &gateway.TransformedRequest{Body: nullToNil(ev.GatewayRequest.Body)}
	}
	r.Output = gateway.Output{InterceptorOutputVersion: gateway.OutputVersion, HTTP: out}
	return r
}

func nullToNil(b json.RawMessage) json.RawMessage {
	if string(b) == "null" {
		return nil
	}
	return b
}
