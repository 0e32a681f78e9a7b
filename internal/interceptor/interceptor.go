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
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/metrics"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/internal/state"
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
	// the defaults of call.DefaultLimits.
	Limits call.Limits
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

// Handler handles interceptor events. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	builder attributes.Builder
	// work hands judgements to idle workers (see dispatch).
	work chan judgement
	// abandoned counts judgements still running after their invocation
	// was answered with a denial for want of time.
	abandoned atomic.Int32
	// judge is read in the wrappers every event goes through (see judge).
	judge judge
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
	cfg.Limits = cfg.Limits.OrDefaults()
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
	h := &Handler{cfg: cfg, builder: attributes.Builder{Environment: cfg.Environment, Catalog: cfg.Catalog, Verifier: cfg.Verifier},
		work: make(chan judgement)}
	h.judge = h.chain()
	return h
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
func (h *Handler) Handle(ctx context.Context, payload []byte) Result {
	return h.judge(ctx, h.cfg.NewID(), payload)
}

func (h *Handler) panicked(ctx context.Context, id string, p any) {
	defer func() { _ = recover() }() // a logger that panics too must not escape
	h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "panic", slog.String("decision_id", id), slog.String("panic", fmt.Sprint(p)))
}

func (h *Handler) internalError(id string) Result {
	r := Result{Decision: decision.Denied(id, decision.CodeUndecidable, "internal error")}
	r.Output = render.Output(r.Decision, nil, nil, nil, h.cfg.DenyStatus)
	return r
}

// read decides on one event that is within the size limit: it decodes it
// and hands it to the point it was sent at.
func (h *Handler) read(ctx context.Context, id string, payload []byte) (r Result) {
	st := &steps{ctx: ctx, tracer: h.cfg.Tracer}
	defer st.end()
	st.next("decode")
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
	req, cerr := call.Read(ev, attributes.PhaseRequest, h.cfg.Limits, h.cfg.Now())
	if cerr != nil {
		if cerr.Message != nil {
			r.Method = cerr.Message.Method
		}
		return h.reject(r, id, cerr.Message, unreadCode(cerr), cerr.What, cerr.Err)
	}
	body, msg, in, tool := req.Body, req.Message, req.Input, req.Tool
	r.Method = msg.Method
	value := h.decide(st, id, &in, &r)
	if r.Decision.Effect == decision.Approval {
		st.next("approval")
		body = h.approve(st.ctx, &msg, tool, body, r.Document, &r)
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
	r.Output = render.Output(r.Decision, &msg, body, nil, h.cfg.DenyStatus)
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

// unreadCode is the JSON-RPC code of a request that could not be read.
func unreadCode(e *call.Error) int {
	if e.Params {
		return decision.CodeInvalidParams
	}
	return decision.CodeInvalidRequest
}

// reject denies input that could not be judged: what is wrong goes to the
// caller ("what: err"), and the same as an error finding to the log. The
// error texts come from decoding and never quote the input.
func (h *Handler) reject(r Result, id string, msg *mcp.Message, code int, what string, err error) Result {
	r.Decision = unjudged(r.Phase, id, code, what, err)
	r.Output = render.Output(r.Decision, msg, nil, nil, h.cfg.DenyStatus)
	return r
}

// unjudged is the denial of input of phase that could not be judged.
func unjudged(phase, id string, code int, what string, err error) decision.Decision {
	reason := what + ": " + err.Error()
	source := phase // the stage that failed stands where a policy name would
	if source == "" {
		source = "event"
	}
	d := decision.Denied(id, code, reason)
	d.Findings = []policy.Finding{{Policy: "(" + source + ")", Kind: policy.Error, Mode: policy.ModeEnforce, Message: reason}}
	return d
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
