// Package approver is the decision path of out-of-band approvals: the
// Lambda function that approvers invoke (through "toolgate approvals
// approve|reject") and that the approval workflow waits on. It is the only
// place a decision becomes a grant: it verifies the approver's JWT as the
// interceptor verifies callers, checks the approval's rules, signs the
// decision with a key only it may use, and writes it over the pending
// approval in one conditional write. Whoever may only invoke it can decide
// only as the holder of the token they present; whoever may only write the
// approval table can grant nothing, since the interceptor verifies the
// signature. The workflow's steps (announce a request, wait for its
// decision) are served by the same program in another role, which only
// the workflow may invoke.
package approver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/identity"
)

// Actions of a Request.
const (
	// ActionDecide is an approver's decision on a pending approval.
	ActionDecide = "decide"
	// ActionAwait is the workflow's wait for a decision: it registers the
	// task token that a decision completes.
	ActionAwait = "await"
	// ActionNotify is the workflow's first step: tell approvers of a
	// request, as the REQUEST point proved it.
	ActionNotify = "notify"
	// ActionShow and ActionList answer approvals as their proofs say
	// they were requested, to whoever may decide them or asked for them
	// (with their token): approvers read them so, never from the table.
	ActionShow = "show"
	ActionList = "list"
)

// Role says which actions a function serves: the approvers' (decide, show,
// list), or the workflow's (notify, await). They are two functions, so that
// whoever may invoke the approvers' cannot announce a request, nor take over
// the wait that tells approvers of its outcome: only the workflow's role may
// invoke the workflow's.
type Role string

// Roles.
const (
	RoleApprovers Role = "approvers"
	RoleWorkflow  Role = "workflow"
)

// Request is the function's event.
type Request struct {
	Action string `json:"action"`
	ID     string `json:"id"`
	// Token is the approver's JWT, for the approvers' actions; Approve
	// and Comment are a decision's.
	Approve bool   `json:"approve,omitempty"`
	Token   string `json:"token,omitempty"`
	Comment string `json:"comment,omitempty"`
	// TaskToken is the workflow's, for ActionAwait.
	TaskToken string `json:"taskToken,omitempty"`
}

// Response is the function's answer. A refusal is an answer (OK false and
// Error), never a function error: there is nothing to retry.
type Response struct {
	OK       bool               `json:"ok"`
	Error    string             `json:"error,omitempty"`
	Approval *approval.Approval `json:"approval,omitempty"`
	// Approvals are a list's, verified; Tampered names those whose proof
	// does not verify.
	Approvals []approval.Approval `json:"approvals,omitempty"`
	Tampered  []string            `json:"tampered,omitempty"`
	// Notice is what the workflow keeps of a request it was told of:
	// never the arguments, which its execution history would hold for
	// months.
	Notice *Notice `json:"notice,omitempty"`
}

// Notice is a request as the workflow sees it, its texts as approvers
// read them (approval.Visible).
type Notice struct {
	ID          string `json:"id"`
	Requester   string `json:"requester"`
	Tool        string `json:"tool"`
	Environment string `json:"environment"`
	Expires     string `json:"expires"`
	// TTLSeconds is how long the workflow waits for a decision.
	TTLSeconds int64 `json:"ttlSeconds"`
}

// Publisher tells approvers.
type Publisher interface {
	Publish(ctx context.Context, subject, message string) error
}

// Outcome is what a decision tells the waiting workflow: who decided what
// on which approval, never the arguments; its texts as approvers read
// them (approval.Visible).
type Outcome struct {
	ID        string          `json:"id"`
	Status    approval.Status `json:"status"`
	Tool      string          `json:"tool"`
	Requester string          `json:"requester"`
	By        string          `json:"by"`
	DecidedAt string          `json:"decidedAt"`
}

// Workflow ends the wait of a workflow execution with a decision's
// outcome.
type Workflow interface {
	Succeed(ctx context.Context, taskToken string, output []byte) error
}

// Config configures a Handler.
type Config struct {
	// Role is the actions the function serves (default RoleApprovers).
	Role   Role
	Store  approval.Store
	Signer approval.Signer
	// Keys verify the proofs of requests (the REQUEST point's keys).
	Keys approval.Keys
	// Verifier verifies approvers' tokens; nil refuses every decision (a
	// decision must name a verified approver).
	Verifier *identity.Verifier
	// Workflow completes waiting workflows; nil when there is none.
	Workflow Workflow
	// Approvers hears of new requests (an SNS topic); nil tells no one.
	Approvers Publisher
	Logger    *slog.Logger
	Now       func() time.Time
	// Timeout bounds one invocation's work (default 20 s).
	Timeout time.Duration
}

// Handler handles the function's events. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	broken error
}

// Broken returns a Handler that refuses every request with err: the
// function's configuration could not be read.
func Broken(err error) *Handler { return &Handler{broken: err} }

// New returns the Handler of cfg.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Role == "" {
		cfg.Role = RoleApprovers
	}
	return &Handler{cfg: cfg}
}

// Invoke implements lambda.Handler on the raw payload: every event gets an
// answer, and nothing is retried.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var req Request
	var resp Response
	if err := json.Unmarshal(payload, &req); err != nil {
		resp = Response{Error: "the request is not a JSON object of the approvals function"}
	} else {
		resp = h.Handle(ctx, req)
	}
	return json.Marshal(resp)
}

// Handle answers one request.
func (h *Handler) Handle(ctx context.Context, req Request) Response {
	if h.broken != nil {
		return Response{Error: "the approvals function is misconfigured: " + h.broken.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	switch {
	case h.cfg.Role == RoleWorkflow && req.Action == ActionNotify:
		return h.notify(ctx, req)
	case h.cfg.Role == RoleWorkflow && req.Action == ActionAwait:
		return h.await(ctx, req)
	case h.cfg.Role == RoleWorkflow:
		return Response{Error: fmt.Sprintf("action %q: the workflow's approvals function serves notify and await; approvers invoke the other", req.Action)}
	case req.Action == ActionDecide:
		return h.decide(ctx, req)
	case req.Action == ActionShow:
		return h.show(ctx, req)
	case req.Action == ActionList:
		return h.list(ctx, req)
	}
	return Response{Error: fmt.Sprintf("action %q: the approvals function serves decide, show and list", req.Action)}
}

// decide verifies the approver and records their decision, signed.
func (h *Handler) decide(ctx context.Context, req Request) Response {
	log := h.cfg.Logger.With("approval_id", req.ID, "approve", req.Approve)
	approver, err := h.approver(ctx, req.Token)
	if err != nil {
		log.Warn("decision refused", "reason", err.Error())
		return Response{Error: err.Error()}
	}
	log = log.With("by", approver.ID)
	a, err := approval.Decide(ctx, h.cfg.Store, h.cfg.Signer, h.cfg.Keys, req.ID,
		approval.Decision{Approve: req.Approve, By: approver.ID, Groups: approver.Groups, Comment: req.Comment}, h.cfg.Now())
	if err != nil {
		log.Warn("decision refused", "reason", err.Error())
		return Response{Error: req.ID + ": " + err.Error()}
	}
	log.Info("approval decided", "status", string(a.Status), "tool", a.Tool, "requester", a.Requester)
	if token, err := h.cfg.Store.Waiter(ctx, a.ID); err != nil {
		log.Error("the waiting workflow could not be found", "error", err.Error())
	} else if token != "" {
		h.complete(ctx, token, a)
	}
	a.Grant, a.Proof = nil, "" // the interceptor's to read, not the approver's
	return Response{OK: true, Approval: &a}
}

// approver verifies the token of a decision, a show or a list: a
// person's, signed by the identity provider the interceptor trusts,
// unexpired.
func (h *Handler) approver(ctx context.Context, token string) (identity.Principal, error) {
	if h.cfg.Verifier == nil {
		return identity.Principal{}, errors.New("the approvals function has no JWKS_URL: it cannot verify approvers, so it shows and decides nothing")
	}
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bearer "))
	if token == "" {
		return identity.Principal{}, errors.New("no token: approvals are read and decided by the holder of a verified token")
	}
	p := h.cfg.Verifier.Principal(ctx, "Bearer "+token)
	switch {
	case p.Verification != identity.Verified:
		return p, fmt.Errorf("your token was refused (%s)", p.Verification)
	case p.Actor != "" || p.Claims["act"] != nil || p.Claims["may_act"] != nil:
		return p, errors.New("your token acts for someone else (act): approvals are decided by people themselves, not by an agent on their behalf")
	case p.Type != identity.TypeUser || serviceAccount(p):
		return p, errors.New("your token is a machine's (client credentials): approvals are decided by people")
	}
	return p, nil
}

// serviceAccount reports whether a token the identity package reads as a
// user's is a service's after all: it names no user (Entra app-only
// tokens), says it is an application's (idtyp), or names a Keycloak or
// Google service account. Deciding needs a person, so the doubt refuses.
func serviceAccount(p identity.Principal) bool {
	idtyp, _ := p.Claims["idtyp"].(string)
	user := strings.ToLower(p.Username)
	email, _ := p.Claims["email"].(string)
	return p.Username == "" || strings.EqualFold(idtyp, "app") || strings.HasPrefix(user, "service-account-") ||
		strings.HasSuffix(user, ".gserviceaccount.com") || strings.HasSuffix(strings.ToLower(email), ".gserviceaccount.com")
}

// notify tells approvers of request req.ID: who asks, for what, why, who
// may decide, every argument that will run and how to decide. Only a
// request whose proof verifies is announced: a row someone wrote is not.
// The answer holds no argument.
func (h *Handler) notify(ctx context.Context, req Request) Response {
	a, err := h.verified(ctx, req.ID)
	if err == nil && a.Status == approval.Pending {
		// Told once: whoever may invoke the function cannot flood the
		// approvers with one request.
		if err = h.cfg.Store.UseNonce(ctx, "notify#"+a.ID, a.Lapses()); errors.Is(err, approval.ErrReplayed) {
			err = errors.New("approvers were told of it already")
		}
	}
	if err != nil {
		h.cfg.Logger.Warn("approval not announced", "approval_id", req.ID, "reason", err.Error())
		return Response{Error: req.ID + ": " + err.Error()}
	}
	// Decided already (before its workflow began): nothing to tell, and
	// the wait that follows ends at once with the decision.
	if h.cfg.Approvers != nil && a.Status == approval.Pending {
		if err := h.cfg.Approvers.Publish(ctx, "toolgate: approval requested", notice(a)); err != nil {
			h.cfg.Logger.Error("approvers could not be told", "approval_id", a.ID, "error", err.Error())
			return Response{Error: req.ID + ": approvers could not be told: " + err.Error()}
		}
	}
	lapses := a.Lapses()
	v := approval.Visible // the workflow puts them into what approvers read
	return Response{OK: true, Notice: &Notice{ID: v(a.ID), Requester: v(a.Requester), Tool: v(a.Tool), Environment: v(a.Environment),
		Expires: lapses.UTC().Format(time.RFC3339), TTLSeconds: max(int64(time.Until(lapses)/time.Second), 1)}}
}

// notice is what approvers are told of a: every field as a reader sees it
// (approval.Visible), and every argument.
func notice(a approval.Approval) string {
	v := approval.Visible
	who := "the requester, confirming their own call"
	if !a.Requirement.Caller() {
		who = "a member of " + v(a.Requirement.GroupsText()) + ", not the requester"
	}
	return fmt.Sprintf("Approval %s requested by %s (agent %s) for %s in %s.\n\nWhy: %s\nWho may decide: %s.\n\n"+
		"Every argument that will run:\n%s\n\nDecide before %s:\n  toolgate approvals show %s\n  toolgate approvals approve -token FILE %s\n  toolgate approvals reject -token FILE %s\n",
		a.ID, v(a.Requester), v(cmp.Or(a.Actor, "none")), v(a.Tool), v(a.Environment), v(strings.Join(a.Requirement.Reasons, "; ")), who,
		a.Display, a.Lapses().UTC().Format(time.RFC3339), a.ID, a.ID, a.ID)
}

// verified returns approval id as its proof says it was requested, or why
// it cannot: what approvers are shown and what they decide is only ever
// what the REQUEST point wrote.
func (h *Handler) verified(ctx context.Context, id string) (approval.Approval, error) {
	a, err := h.cfg.Store.Get(ctx, id)
	if err == nil {
		err = approval.CheckProof(ctx, h.cfg.Keys, a)
	}
	a.Grant, a.Proof = nil, ""
	return a, err
}

// show answers approval req.ID, verified, to whoever may decide it or
// asked for it.
func (h *Handler) show(ctx context.Context, req Request) Response {
	reader, err := h.approver(ctx, req.Token)
	if err != nil {
		return Response{Error: err.Error()}
	}
	a, err := h.verified(ctx, req.ID)
	if err == nil && !mayRead(reader, a) {
		err = approval.ErrNotFound // as if absent: ids are not for guessing
	}
	if err != nil {
		return Response{Error: req.ID + ": " + err.Error()}
	}
	return Response{OK: true, Approval: &a}
}

// mayRead reports whether reader may see approval a, every argument of it:
// they may decide it, or it is their own call.
func mayRead(reader identity.Principal, a approval.Approval) bool {
	return reader.ID == a.Requester || a.Requirement.Permits(reader.ID, reader.Groups, a.Requester) == nil
}

// maxListed is the most approvals one list answers (a Lambda answer is
// at most 6 MB): the oldest first.
const maxListed = 200

// list answers the approvals that stand that the reader may see (see
// show), each verified; those whose proof does not verify are named as
// tampered, and not shown.
func (h *Handler) list(ctx context.Context, req Request) Response {
	reader, err := h.approver(ctx, req.Token)
	if err != nil {
		return Response{Error: err.Error()}
	}
	all, err := h.cfg.Store.List(ctx, h.cfg.Now())
	if err != nil {
		return Response{Error: err.Error()}
	}
	resp := Response{OK: true, Approvals: []approval.Approval{}}
	for _, a := range all {
		if err := approval.CheckProof(ctx, h.cfg.Keys, a); err != nil {
			resp.Tampered = append(resp.Tampered, a.ID)
			continue
		}
		if mayRead(reader, a) && len(resp.Approvals) < maxListed {
			a.Grant, a.Proof = nil, ""
			resp.Approvals = append(resp.Approvals, a)
		}
	}
	return resp
}

// await registers the workflow's task token for approval req.ID. Written
// before the approval is read again, so that a decision made meanwhile is
// seen by one of the two: either the decision finds the token, or this
// finds the decision and completes the wait itself.
func (h *Handler) await(ctx context.Context, req Request) Response {
	if req.TaskToken == "" || req.ID == "" {
		return Response{Error: "await needs the approval id and the task token"}
	}
	// Nothing here ends a wait with a failure: a token handed in by
	// mistake must not end another execution. A wait that nothing
	// completes lapses at the approval's TTL.
	fail := func(err error) Response { return Response{Error: req.ID + ": " + err.Error()} }
	a, err := h.cfg.Store.Get(ctx, req.ID)
	if err != nil {
		return fail(err)
	}
	set, err := h.cfg.Store.SetWaiter(ctx, req.ID, req.TaskToken, a.Expires.Add(time.Hour))
	if err != nil {
		return fail(err)
	}
	if !set {
		// The first token stands: a second await (a retried step)
		// changes nothing.
		return fail(errors.New("a workflow waits for it already"))
	}
	if a, err = h.cfg.Store.Get(ctx, req.ID); err != nil {
		return fail(err)
	}
	if a.Status != approval.Pending {
		h.complete(ctx, req.TaskToken, a)
	}
	return Response{OK: true}
}

// complete ends the workflow's wait with a's outcome. The workflow may
// have ended already (it lapsed, or the other side completed it): that is
// logged, not an error of the decision.
func (h *Handler) complete(ctx context.Context, token string, a approval.Approval) {
	if h.cfg.Workflow == nil {
		return
	}
	v := approval.Visible // the workflow puts them into what approvers read
	o := Outcome{ID: v(a.ID), Status: a.Status, Tool: v(a.Tool), Requester: v(a.Requester), By: v(a.DecidedBy)}
	if !a.DecidedAt.IsZero() {
		o.DecidedAt = a.DecidedAt.UTC().Format(time.RFC3339)
	}
	out, err := json.Marshal(o)
	if err == nil {
		err = h.cfg.Workflow.Succeed(ctx, token, out)
	}
	if err != nil {
		h.cfg.Logger.Info("the approval's workflow was not waiting", "approval_id", a.ID, "error", err.Error())
	}
}

// StepFunctions is the Workflow of AWS Step Functions: SendTaskSuccess,
// called signed (see awsenv.Service).
type StepFunctions struct{ API *awsenv.Service }

// StepFunctionsAPI is Step Functions' JSON protocol, to configure with
// FromEnv.
var StepFunctionsAPI = awsenv.Service{Name: "states", Target: "AWSStepFunctions", Version: "1.0"}

// Succeed implements Workflow.
func (s StepFunctions) Succeed(ctx context.Context, taskToken string, output []byte) error {
	return s.API.Call(ctx, "SendTaskSuccess", struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}{taskToken, string(output)}, &struct{}{})
}

// SNS is the Publisher of an SNS topic: Publish, called signed (query
// protocol).
type SNS struct {
	API   *awsenv.Service
	Topic string
}

// SNSAPI is SNS's query protocol, to configure with FromEnv.
var SNSAPI = awsenv.Service{Name: "sns", Version: "2010-03-31"}

// Publish implements Publisher.
func (s SNS) Publish(ctx context.Context, subject, message string) error {
	return s.API.Query(ctx, "Publish", url.Values{"TopicArn": {s.Topic}, "Subject": {subject}, "Message": {message}})
}
