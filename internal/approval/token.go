package approval

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Keys holds the keys that sign in-band approval states. A key has an id so
// that keys can be rotated: states signed with the previous key still verify
// while it is kept.
type Keys interface {
	// Current returns the key that signs new states.
	Current(ctx context.Context) (kid string, key []byte, err error)
	// Lookup returns the key with id kid.
	Lookup(ctx context.Context, kid string) ([]byte, error)
}

// StaticKey is a single key that never rotates: a random one per process
// for local runs and bundle tests, where no state outlives the process.
type StaticKey struct {
	ID  string
	Key []byte
}

// RandomKey returns a StaticKey of 32 random bytes.
func RandomKey() StaticKey {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms
	return StaticKey{ID: "local", Key: k}
}

// Current implements Keys.
func (k StaticKey) Current(context.Context) (string, []byte, error) { return k.ID, k.Key, nil }

// Lookup implements Keys.
func (k StaticKey) Lookup(_ context.Context, kid string) ([]byte, error) {
	if kid != k.ID {
		return nil, fmt.Errorf("unknown key %q", kid)
	}
	return k.Key, nil
}

// State is what an in-band approval state (a multi round-trip
// requestState) binds: the call, when it lapses and a nonce that makes it
// single-use.
type State struct {
	Binding string `json:"b"`
	Expires int64  `json:"e"` // epoch seconds
	Nonce   string `json:"n"`
}

// statePrefix marks a requestState as this project's, so that a target's
// own multi round-trip state passes through untouched.
const statePrefix = "tg1."

// IsState reports whether a requestState is one of ours.
func IsState(s string) bool { return strings.HasPrefix(s, statePrefix) }

// NewState returns the state of a confirmation of the call bound by
// binding, lapsing ttl after now, with a fresh nonce.
func NewState(binding string, now time.Time, ttl time.Duration) State {
	n := make([]byte, 16)
	_, _ = rand.Read(n)
	return State{Binding: binding, Expires: now.Add(ttl).Unix(), Nonce: hex.EncodeToString(n)}
}

// Errors of Verify. The caller's reason names which; none quotes the state.
var (
	ErrStateMalformed = errors.New("the approval state is malformed")
	ErrStateForged    = errors.New("the approval state's signature does not verify")
	ErrStateExpired   = errors.New("the approval state has expired")
	ErrStateOtherCall = errors.New("the approval state was given for another call")
)

var b64 = base64.RawURLEncoding

// Sign returns st as a requestState: tg1.<key id>.<payload>.<HMAC-SHA256
// of everything before it>. The state is signed, not encrypted: it holds a
// digest, a time and a nonce, nothing the caller may not see.
func Sign(ctx context.Context, keys Keys, st State) (string, error) {
	kid, key, err := keys.Current(ctx)
	if err != nil {
		return "", fmt.Errorf("approval signing key: %w", err)
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	signed := statePrefix + b64.EncodeToString([]byte(kid)) + "." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(mac(key, signed)), nil
}

func mac(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Verify checks a requestState: its signature under the key it names, its
// expiry at now and that it binds binding. It returns the state; the
// caller consumes its nonce.
func Verify(ctx context.Context, keys Keys, token, binding string, now time.Time) (State, error) {
	var st State
	parts := strings.Split(strings.TrimPrefix(token, statePrefix), ".")
	if !IsState(token) || len(parts) != 3 {
		return st, ErrStateMalformed
	}
	kid, err1 := b64.DecodeString(parts[0])
	payload, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return st, ErrStateMalformed
	}
	key, err := keys.Lookup(ctx, string(kid))
	if err != nil {
		return st, fmt.Errorf("%w: key %q: %v", ErrStateForged, kid, err)
	}
	if !hmac.Equal(sig, mac(key, token[:strings.LastIndexByte(token, '.')])) {
		return st, ErrStateForged
	}
	if err := json.Unmarshal(payload, &st); err != nil || st.Nonce == "" || st.Binding == "" {
		return st, ErrStateMalformed
	}
	if now.Unix() >= st.Expires {
		return st, ErrStateExpired
	}
	if !hmac.Equal([]byte(st.Binding), []byte(binding)) {
		return st, ErrStateOtherCall
	}
	return st, nil
}

// A seal marks an answer as the REQUEST point's own: the RESPONSE point,
// which the gateway shows that answer, passes on what carries a valid
// seal for the call, and nothing else that a call still needing approval
// would return. It is an HMAC, under the in-band states' keys, over the
// decision id, the call's binding and the canonical answer without the
// seal.

// Seals of answers and proofs of requests: an HMAC under the keys, over
// the prefix (what is sealed), the decision id, the call's binding and the
// sealed bytes. Their parts are the decision id, the key id and the HMAC.
const (
	sealPrefix  = "tgs1."
	proofPrefix = "tgr1."
)

// Seal returns the seal of answer, the canonical form of the REQUEST
// point's answer, made by decision id for the call bound by binding.
func Seal(ctx context.Context, keys Keys, id, binding string, answer []byte) (string, error) {
	return seal(ctx, keys, sealPrefix, id, binding, answer)
}

// Unseal checks seal on answer (canonical, without the seal) for the call
// bound by binding, and returns the id of the decision that made it.
func Unseal(ctx context.Context, keys Keys, seal, binding string, answer []byte) (string, error) {
	return unseal(ctx, keys, sealPrefix, seal, binding, answer)
}

func seal(ctx context.Context, keys Keys, prefix, id, binding string, body []byte) (string, error) {
	kid, key, err := keys.Current(ctx)
	if err != nil {
		return "", fmt.Errorf("approval signing key: %w", err)
	}
	head := prefix + id + "." + b64.EncodeToString([]byte(kid))
	return head + "." + b64.EncodeToString(sealMAC(key, head, binding, body)), nil
}

func sealMAC(key []byte, head, binding string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(head + "\n" + binding + "\n"))
	m.Write(body)
	return m.Sum(nil)
}

func unseal(ctx context.Context, keys Keys, prefix, token, binding string, body []byte) (string, error) {
	parts := strings.Split(strings.TrimPrefix(token, prefix), ".")
	if !strings.HasPrefix(token, prefix) || len(parts) != 3 || parts[0] == "" {
		return "", ErrStateMalformed
	}
	kid, err1 := b64.DecodeString(parts[1])
	sig, err2 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2); err != nil {
		return "", ErrStateMalformed
	}
	key, err := keys.Lookup(ctx, string(kid))
	if err != nil {
		return "", fmt.Errorf("%w: key %q: %v", ErrStateForged, kid, err)
	}
	if !hmac.Equal(sig, sealMAC(key, token[:strings.LastIndexByte(token, '.')], binding, body)) {
		return "", ErrStateForged
	}
	return parts[0], nil
}
