// Package interceptor is the Lambda handler: interceptor event in, gateway
// output out. It never returns an error and never lets a panic escape: the
// gateway retries a failed invocation and then fails the call, so every
// failure is answered with a well-formed denial instead.
package interceptor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/pkg/attributes"
	"github.com/toolgate/toolgate/pkg/catalog"
	"github.com/toolgate/toolgate/pkg/decision"
	"github.com/toolgate/toolgate/pkg/gateway"
	"github.com/toolgate/toolgate/pkg/mcp"
	"github.com/toolgate/toolgate/pkg/policy"
	"github.com/toolgate/toolgate/pkg/redact"
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
	// Bundle identifies the policy bundle in decision logs.
	Bundle string
	Logger *slog.Logger
	Now    func() time.Time
	NewID  func() string
}

// Handler handles interceptor events. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	builder attributes.Builder
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	return &Handler{cfg: cfg, builder: attributes.Builder{Environment: cfg.Environment, Catalog: cfg.Catalog}}
}

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
}

// fallbackOutput is the answer when even marshalling the output failed.
var fallbackOutput = []byte(`{"interceptorOutputVersion":"1.0","mcp":{"transformedGatewayResponse":{"statusCode":200,"body":{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"Denied: internal error"}}}}}`)

// Invoke implements lambda.Handler on the raw payload, so that even a payload
// that is not JSON reaches this code and is denied rather than retried.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r := h.Handle(ctx, payload)
	out, err := json.Marshal(r.Output)
	if err != nil {
		return fallbackOutput, nil
	}
	return out, nil
}

// Handle decides on one event.
func (h *Handler) Handle(ctx context.Context, payload []byte) (r Result) {
	start := time.Now()
	id := h.cfg.NewID()
	defer func() {
		if p := recover(); p != nil {
			r = Result{Decision: decision.Denied(id, decision.CodeUndecidable, "internal error")}
			r.Output = r.Decision.Output(nil, nil, h.cfg.DenyStatus)
			h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "panic", slog.String("decision_id", id), slog.String("panic", fmt.Sprint(p)))
		}
		h.logDecision(ctx, r, time.Since(start))
	}()
	ev, err := gateway.Decode(payload)
	switch {
	case err != nil:
		return h.reject(r, id, nil, decision.CodeInvalidRequest, "malformed interceptor event", err)
	case ev.HTTP != nil:
		return h.passHTTP(id, ev.HTTP)
	case ev.MCP.IsResponse():
		return h.response(id, ev.MCP)
	default:
		return h.request(id, ev.MCP)
	}
}

func (h *Handler) request(id string, ev *gateway.MCPEvent) Result {
	r := Result{Phase: attributes.PhaseRequest}
	body, err := ev.RequestBody()
	if err != nil {
		return h.reject(r, id, nil, decision.CodeInvalidRequest, "no JSON-RPC request body", err)
	}
	msg, err := mcp.Parse(body)
	if err != nil {
		return h.reject(r, id, nil, decision.CodeInvalidRequest, "invalid JSON-RPC request", err)
	}
	r.Method = msg.Method
	in := attributes.Input{
		Phase:   attributes.PhaseRequest,
		Method:  msg.Method,
		ID:      msg.IDValue(),
		Headers: ev.GatewayRequest.Headers,
		Now:     h.cfg.Now(),
	}
	if msg.Method == mcp.MethodToolsCall {
		call, err := mcp.ParseToolCall(msg.Params)
		if err != nil {
			return h.reject(r, id, &msg, decision.CodeInvalidParams, "invalid tools/call params", err)
		}
		in.QualifiedTool, in.Arguments = call.Name, call.Arguments
	}
	doc := h.builder.Build(in)
	r.Document = &doc
	r.Decision = decision.FromResult(id, h.cfg.Engine.Evaluate(doc.Value()))
	r.Output = r.Decision.Output(&msg, body, h.cfg.DenyStatus)
	return r
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
	if err := json.Unmarshal(raw, &ev); err != nil || (ev.GatewayRequest == nil && ev.GatewayResponse == nil) {
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

// maxLoggedHidden bounds the hidden tool names in one decision record.
const maxLoggedHidden = 100

// logDecision writes one record per decision. It never logs the token or the
// tool arguments: only identifiers, the tool's name and the findings.
func (h *Handler) logDecision(ctx context.Context, r Result, latency time.Duration) {
	level := slog.LevelInfo
	if r.Decision.Effect == decision.Deny {
		level = slog.LevelWarn
	}
	if r.Phase == "http" {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("decision_id", r.Decision.ID),
		slog.String("result", string(r.Decision.Effect)),
		slog.String("phase", r.Phase),
		slog.String("method", r.Method),
		slog.String("reason", r.Decision.Reason),
		slog.String("bundle", h.cfg.Bundle),
		slog.Int64("latency_us", latency.Microseconds()),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("request_id", lc.AwsRequestID))
	}
	if r.Decision.Code != 0 {
		attrs = append(attrs, slog.Int("code", r.Decision.Code))
	}
	if d := r.Document; d != nil {
		attrs = append(attrs,
			slog.String("environment", d.Environment),
			slog.String("session_id", d.MCP.SessionID),
			slog.Group("principal",
				slog.String("id", d.Principal.ID), slog.String("type", d.Principal.Type),
				slog.String("client_id", d.Principal.ClientID), slog.String("actor", d.Principal.Actor)),
		)
		if d.Tool.QualifiedName != "" {
			attrs = append(attrs, slog.Group("tool",
				slog.String("target", d.Tool.Target), slog.String("name", d.Tool.Name),
				slog.String("operation", d.Tool.Operation), slog.String("risk", d.Tool.Risk)))
		}
	}
	if len(r.Decision.Findings) > 0 {
		attrs = append(attrs, slog.Any("policies", h.loggable(ctx, r.Decision.Findings)))
	}
	if n := len(r.Decision.Hidden); n > 0 {
		// Tool names are not secret, and say why an agent did not see a
		// tool; the first maxLoggedHidden keep a huge list's record small.
		attrs = append(attrs, slog.Int("tools_hidden", n), slog.Any("hidden", r.Decision.Hidden[:min(n, maxLoggedHidden)]))
	}
	if len(r.Decision.Redactions) > 0 {
		attrs = append(attrs, slog.Any("redactions", r.Decision.Redactions))
	}
	h.cfg.Logger.LogAttrs(ctx, level, "decision", attrs...)
}

// loggable returns findings fit for the log. A violation's detail names only
// paths; an error's detail may quote the values it choked on, which can be
// tool arguments, so it is logged only at debug level.
func (h *Handler) loggable(ctx context.Context, fs []policy.Finding) []policy.Finding {
	if h.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		return fs
	}
	out := make([]policy.Finding, len(fs))
	for i, f := range fs {
		if f.Kind == policy.Error {
			f.Detail = ""
		}
		out[i] = f
	}
	return out
}
