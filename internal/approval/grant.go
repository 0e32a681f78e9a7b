package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A decision on an approval is proof, not a table row: the decision path
// (the approvals function, after it verified the approver's token) signs
// what was decided, and the interceptor verifies the signature before a
// grant runs a call. Whoever can write the approval table but cannot use
// the signing key can grant nothing.

// Kinds of grants. A caller's confirmation of their own call never
// satisfies a requirement of approver groups, and an approver's grant never
// stands for a caller's confirmation.
const (
	KindApprover = "approver"
	KindCaller   = "caller"
)

// Grant is a signed decision: Statement, as signed, and the signature.
type Grant struct {
	// Statement is the JSON of a Statement, exactly the bytes signed.
	Statement string `json:"statement"`
	// KeyID names the key that signed (a KMS key ARN).
	KeyID string `json:"keyId"`
	// Signature is the base64 of an ECDSA P-256 SHA-256 signature (ASN.1)
	// over grantContext followed by Statement.
	Signature string `json:"signature"`
}

// Statement is what a grant says.
type Statement struct {
	Version  int    `json:"v"`
	Kind     string `json:"kind"`
	Approval string `json:"approval"`
	// Binding is the call's binding (see Call.Binding): the principal,
	// actor, tool, environment and arguments.
	Binding  string `json:"binding"`
	Decision Status `json:"decision"`
	// By is the approver's principal id, Groups their groups, from their
	// verified token.
	By      string   `json:"by"`
	Groups  []string `json:"groups"`
	Decided int64    `json:"decided"` // epoch seconds
	Expires int64    `json:"expires"` // epoch seconds: the grant's end
	// Comment is the approver's, signed so that the record of the call
	// the grant allowed can carry it (the table's copy could be anyone's).
	Comment string `json:"comment,omitempty"`
}

// grantContext separates these signatures from any other use of the key.
const grantContext = "toolgate-grant-v1\n"

// Signer signs statements; only the decision path holds one.
type Signer interface {
	Sign(ctx context.Context, message []byte) (keyID string, signature []byte, err error)
}

// Verifier checks a signature made by the one key it trusts.
type Verifier interface {
	Verify(ctx context.Context, keyID string, message, signature []byte) error
}

// Errors of VerifyGrant.
var (
	ErrNoGrant     = errors.New("the approval carries no signed grant")
	ErrForgedGrant = errors.New("the approval's grant does not verify")
	ErrGrantOther  = errors.New("the approval's grant was given for another call")
)

// maxSigned is the most a statement and its context may be: KMS signs a
// raw message of at most 4,096 bytes.
const maxSigned = 4096

// ErrTooLarge is Decide's answer to a decision whose statement KMS cannot
// sign: a long comment of characters JSON escapes, and many groups.
var ErrTooLarge = errors.New("the decision is too large to sign: shorten the comment")

// sign signs st.
func sign(ctx context.Context, s Signer, st Statement) (*Grant, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if n := len(grantContext) + len(b); n > maxSigned {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLarge, n, maxSigned)
	}
	kid, sig, err := s.Sign(ctx, append([]byte(grantContext), b...))
	if err != nil {
		return nil, fmt.Errorf("sign the decision: %w", err)
	}
	return &Grant{Statement: string(b), KeyID: kid, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// VerifyGrant checks that a, an approval found for the call bound by
// binding, holds a grant the decision path signed for exactly that call,
// and that the grant satisfies req for principal at now. It returns the
// signed statement: who approved and when are read from it, never from the
// table's other fields.
func VerifyGrant(ctx context.Context, v Verifier, a Approval, binding string, req Requirement, principal string, now time.Time) (Statement, error) {
	var st Statement
	g := a.Grant
	if g == nil || g.Statement == "" || g.Signature == "" {
		return st, ErrNoGrant
	}
	sig, err := base64.StdEncoding.DecodeString(g.Signature)
	if err != nil {
		return st, fmt.Errorf("%w: malformed signature", ErrForgedGrant)
	}
	if err := v.Verify(ctx, g.KeyID, append([]byte(grantContext), g.Statement...), sig); err != nil {
		return st, fmt.Errorf("%w: %v", ErrForgedGrant, err)
	}
	if err := json.Unmarshal([]byte(g.Statement), &st); err != nil || st.Version != 1 {
		return st, fmt.Errorf("%w: malformed statement", ErrForgedGrant)
	}
	switch {
	case st.Binding != binding || st.Approval != a.ID:
		return st, ErrGrantOther
	case st.Decision != Approved:
		return st, fmt.Errorf("%w: it is a %s decision", ErrNotPermitted, st.Decision)
	case now.Unix() >= st.Expires:
		return st, fmt.Errorf("%w: the grant lapsed at %s", ErrExpired, time.Unix(st.Expires, 0).UTC().Format(time.RFC3339))
	case st.Expires-st.Decided > req.TTLSeconds:
		// Longer than today's policies give a grant.
		return st, fmt.Errorf("%w: the grant lasts longer than the policies allow (%s)", ErrNotPermitted, req.TTL())
	case req.Caller() && st.Kind != KindCaller:
		return st, fmt.Errorf("%w: the call needs the caller's own confirmation", ErrNotPermitted)
	case !req.Caller() && st.Kind != KindApprover:
		return st, fmt.Errorf("%w: the caller's own confirmation cannot stand for an approver's", ErrNotPermitted)
	}
	// The grant was made under the requirement of its time; it must
	// satisfy today's (a bundle may have tightened it).
	if err := req.Permits(st.By, st.Groups, principal); err != nil {
		return st, err
	}
	return st, nil
}

// LocalKey is an ECDSA P-256 key in process that signs and verifies: the
// decision path of local runs and bundle tests, where the approvals and
// the function share one process.
type LocalKey struct {
	ID  string
	key *ecdsa.PrivateKey
}

// NewLocalKey returns a fresh key. It is made at start-up, and panics only
// if crypto/rand fails, which it does not on supported platforms.
func NewLocalKey() *LocalKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &LocalKey{ID: "local", key: k}
}

// Sign implements Signer.
func (k *LocalKey) Sign(_ context.Context, message []byte) (string, []byte, error) {
	sum := sha256.Sum256(message)
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, sum[:])
	return k.ID, sig, err
}

// Verify implements Verifier.
func (k *LocalKey) Verify(_ context.Context, keyID string, message, signature []byte) error {
	return verifyECDSA(&k.key.PublicKey, k.ID, keyID, message, signature)
}

// verifyECDSA checks an ECDSA SHA-256 signature by the key named want.
func verifyECDSA(pub *ecdsa.PublicKey, want, keyID string, message, signature []byte) error {
	if keyID != want {
		return fmt.Errorf("signed by key %q, not by the approvals key", keyID)
	}
	sum := sha256.Sum256(message)
	if !ecdsa.VerifyASN1(pub, sum[:], signature) {
		return errors.New("bad signature")
	}
	return nil
}
