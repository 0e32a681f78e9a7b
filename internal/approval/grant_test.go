package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/moto"
)

// decided returns approval id for binding, decided by the decision path
// (signed by signer) as d under req.
func decided(t *testing.T, signer approval.Signer, id, binding string, req approval.Requirement, d approval.Decision) approval.Approval {
	t.Helper()
	st := &approval.Memory{}
	a := pending(id, binding, req)
	if _, _, err := st.Request(context.Background(), a, t0, unlimited); err != nil {
		t.Fatal(err)
	}
	a, err := approval.Decide(context.Background(), st, signer, keys, id, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestVerifyGrant: a grant is what the decision path signed for exactly
// this call, and nothing someone wrote into the table: every change to a
// signed grant, and every grant for something else, grants nothing.
func TestVerifyGrant(t *testing.T) {
	ctx := context.Background()
	other := approval.NewLocalKey()
	bob := approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}
	good := decided(t, key, "g1", "gb1", ops, bob)
	if st, err := approval.VerifyGrant(ctx, key, good, "gb1", ops, "alice", t0.Add(time.Minute)); err != nil || st.By != "bob" || st.Kind != approval.KindApprover {
		t.Fatalf("the signed grant: %+v %v", st, err)
	}
	restate := func(a approval.Approval, change func(*approval.Statement)) approval.Approval {
		var st approval.Statement
		if err := json.Unmarshal([]byte(a.Grant.Statement), &st); err != nil {
			t.Fatal(err)
		}
		change(&st)
		b, _ := json.Marshal(st)
		g := *a.Grant
		g.Statement = string(b)
		a.Grant = &g
		return a
	}
	tests := []struct {
		name      string
		a         approval.Approval
		binding   string
		req       approval.Requirement
		principal string
		at        time.Duration
		want      error
	}{
		{"a row with no grant", func() approval.Approval { a := good; a.Grant = nil; return a }(), "gb1", ops, "alice", time.Minute, approval.ErrNoGrant},
		{"a row that names itself approved by someone else", func() approval.Approval { a := good; a.DecidedBy = "mallory"; a.Grant = nil; return a }(), "gb1", ops, "alice", time.Minute, approval.ErrNoGrant},
		{"the approver changed in the statement", restate(good, func(s *approval.Statement) { s.By = "mallory" }), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"groups added to the statement", restate(good, func(s *approval.Statement) { s.Groups = append(s.Groups, "security") }), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"the expiry stretched", restate(good, func(s *approval.Statement) { s.Expires += 86400 }), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"signed by another key", decided(t, other, "g1", "gb1", ops, bob), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"a key id that is not ours", func() approval.Approval { a := good; g := *a.Grant; g.KeyID = "arn:aws:kms:x"; a.Grant = &g; return a }(), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"a signature that is not base64", func() approval.Approval { a := good; g := *a.Grant; g.Signature = "!"; a.Grant = &g; return a }(), "gb1", ops, "alice", time.Minute, approval.ErrForgedGrant},
		{"another call's grant moved to this one", good, "gb2", ops, "alice", time.Minute, approval.ErrGrantOther},
		{"another approval's grant under this id", func() approval.Approval { a := good; a.ID = "g2"; return a }(), "gb1", ops, "alice", time.Minute, approval.ErrGrantOther},
		{"a rejection", decided(t, key, "g1", "gb1", ops, approval.Decision{By: "bob", Groups: []string{"ops"}}), "gb1", ops, "alice", time.Minute, approval.ErrNotPermitted},
		{"lapsed", good, "gb1", ops, "alice", 11 * time.Minute, approval.ErrExpired},
		{"a caller's confirmation for a group's approval", decided(t, key, "g1", "gb1", caller, approval.Decision{Approve: true, By: "alice"}), "gb1", ops, "alice", time.Minute, approval.ErrNotPermitted},
		{"an approver's grant for a caller's confirmation", good, "gb1", caller, "alice", time.Minute, approval.ErrNotPermitted},
		{"a requirement tightened since", good, "gb1", approval.Requirement{Groups: [][]string{{"security"}}, TTLSeconds: 600}, "alice", time.Minute, approval.ErrNotPermitted},
		{"the approver is the caller", good, "gb1", ops, "bob", time.Minute, approval.ErrNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := approval.VerifyGrant(ctx, key, tt.a, tt.binding, tt.req, tt.principal, t0.Add(tt.at)); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	confirmation := decided(t, key, "g3", "gb3", caller, approval.Decision{Approve: true, By: "alice"})
	if st, err := approval.VerifyGrant(ctx, key, confirmation, "gb3", caller, "alice", t0); err != nil || st.Kind != approval.KindCaller {
		t.Fatalf("the caller's own confirmation: %+v %v", st, err)
	}
}

// TestKMSKey: against moto's KMS, the decision path signs with the key
// and the interceptor, holding only its public key, verifies; a key of
// another kind is refused.
func TestKMSKey(t *testing.T) {
	srv := moto.Start(t)
	ctx := context.Background()
	arn := srv.CreateKey(t, "ECC_NIST_P256")
	signer, err := approval.KMSKeyFromEnv(srv.Env(nil), arn, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	verifier, _ := approval.KMSKeyFromEnv(srv.Env(nil), arn, http.DefaultClient)
	a := decided(t, signer, "k1", "kb1", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}})
	if a.Grant.KeyID != arn {
		t.Fatalf("grant by key %q, want %q", a.Grant.KeyID, arn)
	}
	if _, err := approval.VerifyGrant(ctx, verifier, a, "kb1", ops, "alice", t0); err != nil {
		t.Fatalf("a grant KMS signed: %v", err)
	}
	if _, err := approval.VerifyGrant(ctx, verifier, decided(t, key, "k1", "kb1", ops, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}), "kb1", ops, "alice", t0); !errors.Is(err, approval.ErrForgedGrant) {
		t.Fatalf("a grant signed by another key: %v", err)
	}
	rsa, _ := approval.KMSKeyFromEnv(srv.Env(nil), srv.CreateKey(t, "RSA_2048"), http.DefaultClient)
	if err := rsa.Verify(ctx, "x", []byte("m"), []byte("s")); err == nil || !strings.Contains(err.Error(), "want ECC_NIST_P256") {
		t.Fatalf("an RSA key: %v", err)
	}
}

// TestDecideRefusesTamperedRequests: whoever can write the table cannot
// change what an approver is shown, the call a grant is for, who may
// decide or how long a grant lasts: the decision path decides only on the
// request as the REQUEST point proved it.
func TestDecideRefusesTamperedRequests(t *testing.T) {
	ctx := context.Background()
	for name, tamper := range map[string]func(*approval.Approval){
		"the display":         func(a *approval.Approval) { a.Display = "amount: 10" },
		"the binding":         func(a *approval.Approval) { a.Binding = "another call" },
		"the TTL":             func(a *approval.Approval) { a.Requirement.TTLSeconds = 10 * 365 * 86400 },
		"the groups":          func(a *approval.Approval) { a.Requirement.Groups = [][]string{{"developers"}} },
		"the requester":       func(a *approval.Approval) { a.Requester = "mallory" },
		"the creation":        func(a *approval.Approval) { a.Created = a.Created.Add(time.Hour) },
		"no proof":            func(a *approval.Approval) { a.Proof = "" },
		"another one's proof": func(a *approval.Approval) { a.Proof = pending("other", a.Binding, ops).Proof },
	} {
		t.Run(name, func(t *testing.T) {
			st := &approval.Memory{}
			a := pending("tp1", "tpb1", ops)
			a.Display = "amount: 950000"
			a, _ = approval.Prove(ctx, keys, a)
			tamper(&a)
			if _, _, err := st.Request(ctx, a, t0, unlimited); err != nil {
				t.Fatal(err)
			}
			if _, err := approval.Decide(ctx, st, key, keys, "tp1", approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, t0); !errors.Is(err, approval.ErrTampered) {
				t.Fatalf("decided a tampered request: %v", err)
			}
		})
	}
	// A pending request stretched in the table still lapses when its
	// proof says.
	st := &approval.Memory{}
	stretched := pending("tp3", "tpb3", ops)
	stretched.Expires = stretched.Expires.Add(time.Hour)
	st.Request(ctx, stretched, t0, unlimited)
	if _, err := approval.Decide(ctx, st, key, keys, "tp3", approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}}, t0.Add(11*time.Minute)); !errors.Is(err, approval.ErrExpired) {
		t.Fatalf("decided a request past its proven lapse: %v", err)
	}
	// A grant the decision path signed for longer than today's policies
	// allow does not stand, whoever made the request ask for it.
	long := approval.Requirement{Groups: ops.Groups, TTLSeconds: 10 * 365 * 86400}
	a := decided(t, key, "tp2", "tpb2", long, approval.Decision{Approve: true, By: "bob", Groups: []string{"ops"}})
	if _, err := approval.VerifyGrant(ctx, key, a, "tpb2", ops, "alice", t0); !errors.Is(err, approval.ErrNotPermitted) {
		t.Fatalf("a grant longer than the policies allow: %v", err)
	}
}
