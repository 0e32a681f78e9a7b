// Package approval keeps approvals of tool calls: the requests a policy of
// effect approval makes, the decisions of approvers and the grants they
// give, each bound to one exact call (principal, actor, tool, environment
// and a digest of the arguments) and used once. Approvals live in a
// DynamoDB table shared by every Lambda instance and the CLI (or, for local
// runs, in process); both stores keep the same contract, and the same tests
// run against both.
package approval

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/policy"
)

// Status is where an approval stands.
type Status string

// Statuses. An approval is pending until an approver decides; a grant
// (approved) is used by the first retry of the call it is bound to.
const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Rejected Status = "rejected"
	Used     Status = "used"
)

// Errors of Decide and UseNonce.
var (
	ErrNotFound     = errors.New("no such approval")
	ErrDecided      = errors.New("the approval was decided already")
	ErrExpired      = errors.New("the approval has expired")
	ErrNotPermitted = errors.New("not permitted to decide this approval")
	ErrReplayed     = errors.New("the approval state was used already")
	ErrComment      = fmt.Errorf("a decision's comment is at most %d characters of UTF-8", MaxComment)
)

// MaxComment bounds a decision's comment: a change ticket and a sentence,
// which the grant signs and the record of the call it granted carries.
const MaxComment = 500

// Limits bound the approvals one requester can have asked for: every new
// request notifies approvers, and a flood of them is an attack on their
// attention. A request beyond them is refused with a LimitError.
type Limits struct {
	// MaxPending is the most approvals a requester may have pending at
	// once.
	MaxPending int
	// MaxRequests is the most new requests a requester may make in
	// Window.
	MaxRequests int
	Window      time.Duration
}

// MaxWindow is the longest Limits.Window.
const MaxWindow = 24 * time.Hour

// DefaultLimits are on unless configured otherwise: five pending, twenty
// new requests an hour.
func DefaultLimits() Limits { return Limits{MaxPending: 5, MaxRequests: 20, Window: time.Hour} }

// OrDefaults returns l with each zero field at DefaultLimits'.
func (l Limits) OrDefaults() Limits {
	d := DefaultLimits()
	return Limits{MaxPending: cmp.Or(l.MaxPending, d.MaxPending), MaxRequests: cmp.Or(l.MaxRequests, d.MaxRequests), Window: cmp.Or(l.Window, d.Window)}
}

// LimitError refuses a request beyond Limits.
type LimitError struct {
	// Pending: MaxPending was reached (else MaxRequests in the window).
	Pending bool
	Max     int
	// RetryAfter is when a slot frees at the latest: the first pending
	// approval's expiry, or the window's end.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	if e.Pending {
		return fmt.Sprintf("%d approvals of yours are pending already, the most allowed", e.Max)
	}
	return fmt.Sprintf("you have asked for %d approvals in the last window, the most allowed", e.Max)
}

// Requirement is who may approve a call, combined from the approval
// findings of its decision.
type Requirement struct {
	// Groups lists, for each approval policy that names groups, the
	// groups one of which the approver must be in. With none, the caller
	// approves their own call.
	Groups [][]string `json:"groups,omitempty"`
	// TTLSeconds is the shortest TTL of the findings: how long the request
	// waits and the grant lasts.
	TTLSeconds int64 `json:"ttlSeconds"`
	// Reasons are the policies' messages, shown to the approver.
	Reasons []string `json:"reasons"`
}

// Require combines approval findings into one requirement: an approver must
// satisfy every policy that asked, and the shortest TTL wins.
func Require(findings []policy.Finding) Requirement {
	var r Requirement
	for _, f := range findings {
		if f.Approval == nil {
			continue
		}
		if !slices.Contains(r.Reasons, f.Message) {
			r.Reasons = append(r.Reasons, f.Message)
		}
		if r.TTLSeconds == 0 || f.Approval.TTLSeconds < r.TTLSeconds {
			r.TTLSeconds = f.Approval.TTLSeconds
		}
		if f.Approval.Caller() {
			continue
		}
		if !slices.ContainsFunc(r.Groups, func(g []string) bool { return slices.Equal(g, f.Approval.Approvers) }) {
			r.Groups = append(r.Groups, f.Approval.Approvers)
		}
	}
	if r.TTLSeconds == 0 {
		r.TTLSeconds = int64(policy.DefaultApprovalTTL / time.Second)
	}
	return r
}

// Caller reports whether the requester approves their own call.
func (r Requirement) Caller() bool { return len(r.Groups) == 0 }

// GroupsText names the groups an approver must be in: "g1 or g2, and in
// g3".
func (r Requirement) GroupsText() string {
	parts := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		parts[i] = strings.Join(g, " or ")
	}
	return strings.Join(parts, ", and in ")
}

// TTL is the requirement's TTL as a duration.
func (r Requirement) TTL() time.Duration { return time.Duration(r.TTLSeconds) * time.Second }

// Permits says why approver, a member of groups, may not approve requester's
// call under r, or nil when they may. The caller's own call is theirs to
// confirm; a group approval is never the requester's.
func (r Requirement) Permits(approver string, groups []string, requester string) error {
	if approver == "" {
		return fmt.Errorf("%w: the approver is unknown", ErrNotPermitted)
	}
	if r.Caller() {
		if approver != requester {
			return fmt.Errorf("%w: only the caller %s confirms this call", ErrNotPermitted, requester)
		}
		return nil
	}
	if approver == requester {
		return fmt.Errorf("%w: the requester cannot approve their own call", ErrNotPermitted)
	}
	for _, any := range r.Groups {
		if !slices.ContainsFunc(any, func(g string) bool { return slices.Contains(groups, g) }) {
			return fmt.Errorf("%w: the approver is in none of the groups %v", ErrNotPermitted, any)
		}
	}
	return nil
}

// Call is the exact call an approval is bound to, and shows (see
// Display).
type Call struct {
	Principal   string
	Actor       string
	Tool        string // qualified, as on the wire
	Environment string
	Arguments   map[string]any
	// Params are the call's other params that reach the tool: a target's
	// own input responses and request state, a task. Not _meta, the
	// protocol's, nor this project's own confirmation members.
	Params map[string]any
}

// Binding returns the digest that binds an approval to c: a grant for one
// call is no grant for another caller, tool, environment or any other
// arguments or params. It is "" when they cannot be digested.
func (c Call) Binding() string {
	args := c.Arguments
	if args == nil {
		args = map[string]any{}
	}
	digest := codec.Digest(args)
	if digest == "" {
		return ""
	}
	fields := []string{"toolgate-approval-v1", c.Principal, c.Actor, c.Tool, c.Environment, digest}
	if len(c.Params) > 0 {
		// Only with params, so that a call without any binds as before.
		if digest = codec.Digest(c.Params); digest == "" {
			return ""
		}
		fields = append(fields, digest)
	}
	h := sha256.New()
	for _, s := range fields {
		// Length-prefixed: no two lists of fields write the same bytes.
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Approval is one request for approval and what became of it.
type Approval struct {
	// ID is the id of the decision that requested the approval.
	ID          string `json:"id"`
	Binding     string `json:"binding"`
	Status      Status `json:"status"`
	Requester   string `json:"requester"`
	Actor       string `json:"actor"`
	Tool        string `json:"tool"`
	Environment string `json:"environment"`
	ArgsDigest  string `json:"argsDigest"`
	// Display is the whole arguments as the approver is shown them (see
	// Display).
	Display     string      `json:"display"`
	Requirement Requirement `json:"requirement"`
	Created     time.Time   `json:"created"`
	// Expires is when a pending approval lapses, or a grant does.
	Expires   time.Time `json:"expires"`
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// DeciderGroups are the approver's groups when they decided.
	DeciderGroups []string  `json:"deciderGroups,omitempty"`
	Comment       string    `json:"comment,omitempty"`
	UsedAt        time.Time `json:"usedAt,omitzero"`
	// Proof is the REQUEST point's seal of the request as it made it (see
	// Prove): the decision path decides only on a request whose proof
	// verifies, so that no one who can write the table can change what
	// an approver is shown, or the call a grant is for, or its TTL.
	Proof string `json:"proof"`
	// Grant is the decision path's signature of the decision: without
	// one that verifies, an approved approval grants nothing.
	Grant *Grant `json:"grant,omitempty"`
}

// ErrTampered is the error of Decide for a request whose proof does not
// verify: someone changed it after the REQUEST point wrote it.
var ErrTampered = errors.New("the approval request was changed after it was made: it cannot be decided")

// request is what a request's proof covers: everything an approver is
// shown and everything a grant of it is made of.
// Not the expiry, which a decision changes: a pending request lapses at
// its creation plus its requirement's TTL (see Lapses), both proven.
func (a Approval) request() ([]byte, error) {
	return json.Marshal(struct {
		ID, Binding, Requester, Actor, Tool, Environment, ArgsDigest, Display string
		Requirement                                                           Requirement
		Created                                                               int64
	}{a.ID, a.Binding, a.Requester, a.Actor, a.Tool, a.Environment, a.ArgsDigest, a.Display, a.Requirement, a.Created.Unix()})
}

// Lapses is when a, pending, lapses, as its proof says.
func (a Approval) Lapses() time.Time { return time.Unix(a.Created.Unix(), 0).Add(a.Requirement.TTL()) }

// Prove returns a, a new pending request, with its proof made with keys.
func Prove(ctx context.Context, keys Keys, a Approval) (Approval, error) {
	b, err := a.request()
	if err != nil {
		return a, err
	}
	a.Proof, err = seal(ctx, keys, proofPrefix, a.ID, a.Binding, b)
	return a, err
}

// CheckProof reports whether a, as read, is the request its proof says
// (ErrTampered if not).
func CheckProof(ctx context.Context, keys Keys, a Approval) error {
	b, err := a.request()
	if err == nil {
		var id string
		if id, err = unseal(ctx, keys, proofPrefix, a.Proof, a.Binding, b); err == nil && id != a.ID {
			err = ErrStateOtherCall
		}
	}
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrTampered, err)
	}
	return nil
}

// Alive reports whether a still stands for its call at now: a used one does
// not (the next identical call asks anew), nor does an expired one.
func (a *Approval) Alive(now time.Time) bool {
	return a.ID != "" && a.Status != Used && now.Before(a.Expires)
}

// Decision is an approver's verdict on a pending approval.
type Decision struct {
	Approve bool
	// By is the approver's identity (the principal id of their token);
	// Groups are their groups.
	By      string
	Groups  []string
	Comment string
}

// decide applies d to a at now, or says why it may not.
func decide(a *Approval, d Decision, now time.Time) error {
	switch {
	case a.Status != Pending:
		return fmt.Errorf("%w: it is %s", ErrDecided, a.Status)
	case !now.Before(a.Expires) || !now.Before(a.Lapses()):
		return fmt.Errorf("%w: at %s", ErrExpired, a.Expires.UTC().Format(time.RFC3339))
	case !utf8.ValidString(d.Comment) || utf8.RuneCountInString(d.Comment) > MaxComment:
		return ErrComment
	}
	// Rejecting is as restricted as approving: a requester who could
	// reject could not harm, but one rule is easier to audit.
	if err := a.Requirement.Permits(d.By, d.Groups, a.Requester); err != nil {
		return err
	}
	a.Status, a.DecidedBy, a.DecidedAt, a.DeciderGroups, a.Comment = Rejected, d.By, now, d.Groups, d.Comment
	if d.Approve {
		// The grant lasts the TTL from the approval, not from the request.
		a.Status, a.Expires = Approved, now.Add(a.Requirement.TTL())
	}
	return nil
}

// Decide records d on the pending approval id, as the decision path does
// once it has verified the approver's token (d.By and d.Groups come from
// it): it checks the request's proof with keys (the REQUEST point's), that
// the approval is still pending and unexpired and that the approver may
// decide it, signs the decision with signer, and writes it over the
// pending approval in one conditional write.
func Decide(ctx context.Context, store Store, signer Signer, keys Keys, id string, d Decision, now time.Time) (Approval, error) {
	a, err := store.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	if err := CheckProof(ctx, keys, a); err != nil {
		return a, err
	}
	if err := decide(&a, d, now); err != nil {
		return a, err
	}
	kind := KindApprover
	if a.Requirement.Caller() {
		kind = KindCaller
	}
	groups := d.Groups
	if groups == nil {
		groups = []string{}
	}
	a.Grant, err = sign(ctx, signer, Statement{Version: 1, Kind: kind, Approval: a.ID, Binding: a.Binding, Decision: a.Status,
		By: d.By, Groups: groups, Decided: now.Unix(), Expires: a.Expires.Unix(), Comment: d.Comment})
	if err != nil {
		return Approval{}, err
	}
	if err := store.Settle(ctx, a, now); err != nil {
		return Approval{}, err
	}
	return a, nil
}

// Store keeps approvals.
type Store interface {
	// Request records a, a pending approval, for its binding, unless an
	// approval for that binding is alive (pending, approved or rejected,
	// and not expired): it then returns that one and created false. A
	// new request beyond lim for a.Requester is refused with a
	// *LimitError.
	Request(ctx context.Context, a Approval, now time.Time, lim Limits) (_ Approval, created bool, _ error)
	// Consume uses the grant of binding, once: of concurrent callers,
	// exactly one gets consumed true. It returns the approval it found
	// (used, expired or not yet approved when not consumed; see Alive); a
	// zero Approval when there is none. The caller verifies the grant.
	Consume(ctx context.Context, binding string, now time.Time) (_ Approval, consumed bool, _ error)
	// Get returns the approval with id, or ErrNotFound.
	Get(ctx context.Context, id string) (Approval, error)
	// List returns the approvals alive at now, oldest first.
	List(ctx context.Context, now time.Time) ([]Approval, error)
	// Settle writes a, a decided approval, over its pending self, if it
	// is still pending and unexpired at now, atomically (ErrDecided if
	// not), and frees its place among its requester's pending ones.
	Settle(ctx context.Context, a Approval, now time.Time) error
	// UseNonce records the use of an in-band approval state's nonce, kept
	// until expires; a second use is ErrReplayed.
	UseNonce(ctx context.Context, nonce string, expires time.Time) error
	// MarkForwarded records that the REQUEST point forwarded a granted
	// call of binding, until expires; TakeForwarded uses one such mark
	// at the RESPONSE point (for the call's result), reporting whether
	// there was one; PeekForwarded reports it without using it (for the
	// target's requests that a streamed call sends before its result).
	MarkForwarded(ctx context.Context, binding string, expires time.Time) error
	TakeForwarded(ctx context.Context, binding string, now time.Time) (bool, error)
	PeekForwarded(ctx context.Context, binding string, now time.Time) (bool, error)
	// SetWaiter records, once, the task token of the workflow that waits
	// for approval id's decision; a second token is refused (false).
	// Waiter returns it ("" when none).
	SetWaiter(ctx context.Context, id, token string, expires time.Time) (bool, error)
	Waiter(ctx context.Context, id string) (string, error)
}

// retryAfter is the time until the earliest of the pending expiries, at
// least a second.
func retryAfter(pending map[string]int64, now time.Time) time.Duration {
	first := int64(0)
	for _, exp := range pending {
		if first == 0 || exp < first {
			first = exp
		}
	}
	return max(time.Unix(first, 0).Sub(now), time.Second)
}

// reserve applies lim to a new request of id, expiring at expires, given
// the requester's pending approvals (id → expiry, epoch seconds) and their
// count of requests in the window starting at windowStart; it updates
// them, or returns the *LimitError.
func reserve(pending map[string]int64, count *int, windowStart *int64, id string, expires, now time.Time, lim Limits) error {
	for k, exp := range pending {
		if exp <= now.Unix() {
			delete(pending, k)
		}
	}
	if lim.MaxPending > 0 && len(pending) >= lim.MaxPending {
		return &LimitError{Pending: true, Max: lim.MaxPending, RetryAfter: retryAfter(pending, now)}
	}
	if lim.Window > 0 && now.Sub(time.Unix(*windowStart, 0)) >= lim.Window {
		*windowStart, *count = now.Unix(), 0
	}
	if lim.MaxRequests > 0 && *count >= lim.MaxRequests {
		return &LimitError{Max: lim.MaxRequests, RetryAfter: max(time.Unix(*windowStart, 0).Add(lim.Window).Sub(now), time.Second)}
	}
	pending[id] = expires.Unix()
	*count++
	return nil
}
