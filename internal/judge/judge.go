// Package judge decides on one MCP message the gateway hands the
// interceptor: the call is read (see call), its attribute document built,
// the bundle's policies evaluated, and the stores it is handed consulted
// (approvals, rate limits, session histories, task bindings); the
// decision is then rendered once into the gateway's output (see render).
//
// A Judge never returns an error: whatever cannot be read or checked is a
// denial in the Result, with a finding that says why.
package judge

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/pins"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/render"
	"github.com/toolgate/toolgate/internal/state"
	"github.com/toolgate/toolgate/internal/trace"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Config is what a Judge judges with. Engine is required; every other
// field has a default, set in one place (OrDefaults).
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
	// Logger receives the warnings of a judgement (a redaction rule whose
	// match failed); the default discards them.
	Logger *slog.Logger
	// Tracer traces each judgement's steps; nil traces nothing.
	Tracer trace.Tracer
	// Verifier verifies bearer tokens; nil trusts the gateway's authorizer
	// and reads them unverified.
	Verifier *identity.Verifier
	// Limits bound the input read before any policy runs; zero fields take
	// the defaults of call.DefaultLimits.
	Limits call.Limits
	// RateLimits are the bundle's rate limits, counted in State at the
	// REQUEST point for the calls the policies allow; nil has none.
	RateLimits *ratelimit.Set
	// Containments are the bundle's containments: at the REQUEST point,
	// a caller they hold is denied, and denials are counted in State.
	Containments *ratelimit.Containments
	// Pins are the bundle's tool pins: at the RESPONSE point, listed
	// definitions are judged against them; nil pins nothing.
	Pins *pins.Set
	// Definitions says which policies read tool.definition (see
	// policy.ReadersOf): a call's judgement at the REQUEST point
	// reads what was last listed of its tool only when some do, and a
	// definition that cannot be read denies it when an enforcing one
	// does.
	Definitions policy.Mode
	// State holds the counts, the session histories and the task
	// bindings; nil denies every call a limit matches (unless the limit
	// fails open), and every task's messages.
	State state.Store
	// Sessions says which policies read the document's session (see
	// policy.ReadersOf): none (""), only audit-mode ones (a history
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
	// StateTimeout bounds each round trip to a store (default
	// DefaultStateTimeout): past it the read or write is an error, which
	// denies unless what it was for fails open.
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
	// each zero field takes approval.DefaultLimits'.
	ApprovalLimits approval.Limits
	// ApprovalsOff says why approvals are off, in words that end the
	// sentence "this call needs an approval, and ...": every call that
	// needs one is denied with it. Without Approvals, ApprovalKeys and
	// GrantKey approvals are off whatever it says.
	ApprovalsOff string
	// ApprovalURL is where approvers decide, with {id} for the approval's
	// id: a URL elicitation sends the user there. "" sends none.
	ApprovalURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultStateTimeout bounds one round trip to a store.
const DefaultStateTimeout = 300 * time.Millisecond

// OrDefaults returns c with every unset field at its default. A nil
// Engine becomes one that denies everything.
func (c Config) OrDefaults() Config {
	if c.Engine == nil {
		c.Engine = policy.Broken(fmt.Errorf("no policy engine configured"))
	}
	c.DenyStatus = cmp.Or(c.DenyStatus, http.StatusOK)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = trace.Nop{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Limits = c.Limits.OrDefaults()
	c.StateTimeout = cmp.Or(c.StateTimeout, DefaultStateTimeout)
	c.SessionTTL = cmp.Or(c.SessionTTL, 24*time.Hour)
	c.SessionWindow = cmp.Or(c.SessionWindow, 24*time.Hour)
	c.TaskTTL = cmp.Or(c.TaskTTL, 24*time.Hour)
	if c.ApprovalsOff == "" && (c.Approvals == nil || c.ApprovalKeys == nil || c.GrantKey == nil) {
		c.ApprovalsOff = "approvals are not configured (APPROVAL_TABLE, APPROVAL_KEY_SECRET_ARN, APPROVAL_SIGNING_KEY_ARN)"
	}
	c.ApprovalLimits = c.ApprovalLimits.OrDefaults()
	return c
}

// A Judge decides on the messages of one bundle. It is safe for
// concurrent use.
type Judge struct {
	cfg     Config
	builder attributes.Builder
}

// New returns a Judge for cfg, with its defaults set.
func New(cfg Config) *Judge {
	cfg = cfg.OrDefaults()
	return &Judge{cfg: cfg, builder: attributes.Builder{Environment: cfg.Environment, Catalog: cfg.Catalog, Verifier: cfg.Verifier}}
}

// Result is the judgement of one message.
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
	// Containment is what each containment watching the message did, when
	// it did something: held the caller, counted its denial, began its
	// quarantine, or failed.
	Containment []ratelimit.ContainmentOutcome
	// Definitions is what a tools/list answer's judgement saw of its
	// tools' definitions: changes, and pins made on first use.
	Definitions []pins.Outcome

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

// Unreadable is the judgement of an event that could not be decoded.
func (j *Judge) Unreadable(id string, err error) Result {
	return j.reject(Result{}, id, nil, decision.CodeInvalidRequest, "malformed interceptor event", err)
}

// steps traces a judgement's consecutive steps as sibling spans: next
// ends the current step and starts another, so that no return path leaves
// a span open.
type steps struct {
	ctx    context.Context
	tracer trace.Tracer
	cur    trace.Span
}

func (j *Judge) steps(ctx context.Context) *steps {
	return &steps{ctx: ctx, tracer: j.cfg.Tracer}
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

// Request judges a client's message at the REQUEST point.
func (j *Judge) Request(ctx context.Context, id string, ev *gateway.MCPEvent) Result {
	st := j.steps(ctx)
	defer st.end()
	r := Result{Phase: attributes.PhaseRequest}
	req, cerr := call.Read(ev, attributes.PhaseRequest, j.cfg.Limits, j.cfg.Now())
	if cerr != nil {
		if cerr.Message != nil {
			r.Method = cerr.Message.Method
		}
		return j.reject(r, id, cerr.Message, unreadCode(cerr), cerr.What, cerr.Err)
	}
	body, msg, in, tool := req.Body, req.Message, req.Input, req.Tool
	r.Method = msg.Method
	value := j.decide(st, id, &in, &r)
	watched := j.cfg.Containments.Watch(value)
	held := watched.Enforcing() && j.hold(st, watched, &r)
	if r.Decision.Effect == decision.Approval && in.TaskCall {
		// Input to a task whose call needs an approval: what the approver
		// saw did not hold it (and a call that ran on none has its results
		// denied).
		r.Decision = laterInput(r.Decision)
	}
	if r.Decision.Effect == decision.Approval {
		st.next("approval")
		body = j.approve(st.ctx, &msg, tool, body, r.Document, &r)
	}
	// The history first: a call decided again on it and then denied must
	// spend no rate-limit count; one a limit then refuses stays in its
	// history, which errs toward more history.
	if r.Decision.Effect == decision.Allow && r.session != nil && !in.TaskCall {
		// A task's input is judged on the session's history, and adds
		// nothing to it: its call was recorded when it was made.
		st.next("session")
		if v := j.recordSession(st, id, &in, &r); v != nil {
			value = v
		}
	}
	if r.Decision.Effect == decision.Allow && j.cfg.RateLimits.Len() > 0 && !in.TaskCall {
		// A task's input is part of a call that was counted.
		st.next("ratelimit")
		j.limit(st.ctx, value, &r)
	}
	if r.Decision.Effect == decision.Allow && r.approval != nil {
		j.forwarded(st.ctx, &r)
	}
	if callers := countedBy(&r, j.cfg.Containments.CountsPolicy); !held && j.cfg.State != nil && callers != nil && watched.Counts() {
		st.next("containment")
		j.countDenial(st.ctx, watched, callers, &r)
	}
	st.next("respond")
	r.Output = render.Output(r.Decision, &msg, body, nil, j.cfg.DenyStatus)
	if r.approval != nil && r.Decision.Effect != decision.Allow {
		j.seal(st.ctx, &r, &msg)
	}
	return r
}

// decide builds the attribute document for in and evaluates it into r,
// tracing both steps. It returns the document's value. A task's message is
// first checked against the task's binding, and in becomes its call's if
// it carries the call's result.
func (j *Judge) decide(st *steps, id string, in *attributes.Input, r *Result) map[string]any {
	st.next("attributes")
	doc := j.builder.Build(st.ctx, *in)
	r.Document = &doc
	r.Decision.ID = id
	if in.Task != "" {
		st.next("task")
		if !j.readTask(st.ctx, in, &doc, r) {
			return doc.Value()
		}
		if in.TaskCall {
			doc = j.builder.Build(st.ctx, *in)
		}
	}
	// What was last listed of a called tool is read while the history is.
	// Without a table, audit-only policies see it unread (said at load),
	// as they see no history.
	var definition <-chan definitionRead
	if j.cfg.Definitions != "" && j.cfg.Pins != nil && doc.Action == attributes.ActionCall && doc.Phase == attributes.PhaseRequest &&
		(j.cfg.State != nil || j.cfg.Definitions == policy.ModeEnforce) {
		definition = j.readDefinition(st.ctx, doc.Tool.QualifiedName)
	}
	// The history is read at the REQUEST point, where calls are recorded;
	// the RESPONSE point judges the same call again without it. Without a
	// table, audit-only session policies see no history (the
	// configuration's choice, said at load); enforcing ones deny.
	if j.cfg.Sessions != "" && doc.Action == attributes.ActionCall && doc.Phase == attributes.PhaseRequest &&
		(j.cfg.State != nil || j.cfg.Sessions == policy.ModeEnforce) {
		st.next("session")
		if !j.readSession(st.ctx, &doc, r) {
			if definition != nil {
				<-definition
			}
			return doc.Value()
		}
	}
	if definition != nil && !j.takeDefinition(<-definition, &doc, r) {
		return doc.Value()
	}
	value := doc.Value()
	st.next("evaluate")
	pre := r.Decision.Findings // an audit finding of an unread history
	r.Decision = decision.FromResult(id, j.cfg.Engine.Evaluate(st.ctx, value))
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
func (j *Judge) reject(r Result, id string, msg *mcp.Message, code int, what string, err error) Result {
	r.Decision = unjudged(r.Phase, id, code, what, err)
	r.Output = render.Output(r.Decision, msg, nil, nil, j.cfg.DenyStatus)
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

// HTTP passes an HTTP-target event through unchanged: this project
// governs MCP traffic only, and says so in the record.
func (j *Judge) HTTP(id string, raw json.RawMessage) Result {
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
