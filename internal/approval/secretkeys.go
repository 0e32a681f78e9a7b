package approval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
)

// SecretKeys reads the signing keys from an AWS Secrets Manager secret:
// the version in stage AWSCURRENT signs, and any version verifies by its
// version id, so that a rotation leaves states signed a moment before it
// valid (AWSPREVIOUS) for their few minutes. The key is the secret's
// string or binary value, at least 32 bytes; it is never logged and never
// in the function's environment, which holds only the secret's ARN.
type SecretKeys struct {
	api    *awsenv.Service
	secret string
	// TTL is how long a version read is trusted to still be current
	// (default 5 minutes): a rotation takes effect within it.
	TTL time.Duration
	Now func() time.Time

	mu      sync.Mutex
	current cachedKey
	byID    map[string]cachedKey
}

type cachedKey struct {
	kid string
	key []byte
	err error
	at  time.Time
}

// NewSecretKeys returns the keys in secret (an ARN or name) through api,
// Secrets Manager.
func NewSecretKeys(api *awsenv.Service, secret string) *SecretKeys {
	return &SecretKeys{api: api, secret: secret, TTL: 5 * time.Minute, Now: time.Now, byID: map[string]cachedKey{}}
}

// SecretKeysFromEnv returns the keys in secret with a client configured by
// the Lambda environment (AWS_ENDPOINT_URL_SECRETS_MANAGER overrides the
// endpoint). It calls GetSecretValue itself, signed, rather than through
// the SDK's Secrets Manager client, whose package init cost every cold
// start 1.5-4 ms for one call every five minutes.
func SecretKeysFromEnv(getenv func(string) string, secret string, hc *http.Client) (*SecretKeys, error) {
	api, err := secretsManager.FromEnv(getenv, "SECRETS_MANAGER", hc)
	if err != nil {
		return nil, fmt.Errorf("approval key secret: %w", err)
	}
	return NewSecretKeys(api, secret), nil
}

// secretsManager is Secrets Manager's JSON protocol.
var secretsManager = awsenv.Service{Name: "secretsmanager", Target: "secretsmanager", Version: "1.1"}

// versionID is the shape of Secrets Manager version ids (UUIDs): a state
// naming anything else is refused without a request.
var versionID = regexp.MustCompile(`^[0-9a-fA-F-]{32,64}$`)

// Current implements Keys.
func (k *SecretKeys) Current(ctx context.Context) (string, []byte, error) {
	k.mu.Lock()
	c := k.current
	k.mu.Unlock()
	if c.key != nil && k.Now().Sub(c.at) < k.TTL {
		return c.kid, c.key, nil
	}
	c = k.read(ctx, getSecretValue{SecretID: k.secret, VersionStage: "AWSCURRENT"})
	if c.err != nil {
		return "", nil, c.err
	}
	k.mu.Lock()
	k.current, k.byID[c.kid] = c, c
	k.mu.Unlock()
	return c.kid, c.key, nil
}

// Lookup implements Keys. A failed read is remembered for a second, so
// that states naming unknown versions cost one request a second at most.
func (k *SecretKeys) Lookup(ctx context.Context, kid string) ([]byte, error) {
	if !versionID.MatchString(kid) {
		return nil, errors.New("not a secret version id")
	}
	k.mu.Lock()
	c, ok := k.byID[kid]
	k.mu.Unlock()
	if ok && (c.err == nil || k.Now().Sub(c.at) < time.Second) {
		return c.key, c.err
	}
	c = k.read(ctx, getSecretValue{SecretID: k.secret, VersionID: kid})
	k.mu.Lock()
	if len(k.byID) > 64 { // versions are few; ids that failed are not kept long
		clear(k.byID)
	}
	k.byID[kid] = c
	k.mu.Unlock()
	return c.key, c.err
}

// getSecretValue is the request of Secrets Manager's GetSecretValue.
type getSecretValue struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId,omitempty"`
	VersionStage string `json:"VersionStage,omitempty"`
}

func (k *SecretKeys) read(ctx context.Context, in getSecretValue) cachedKey {
	c := cachedKey{at: k.Now()}
	var out struct {
		VersionID    string  `json:"VersionId"`
		SecretString *string `json:"SecretString"`
		SecretBinary []byte  `json:"SecretBinary"` // base64 on the wire
	}
	if err := k.api.Call(ctx, "GetSecretValue", in, &out); err != nil {
		c.err = fmt.Errorf("read approval key secret: %w", err)
		return c
	}
	c.key = out.SecretBinary
	if out.SecretString != nil {
		c.key = []byte(*out.SecretString)
	}
	if len(c.key) < 32 {
		c.key, c.err = nil, errors.New("the approval key secret holds fewer than 32 bytes")
		return c
	}
	c.kid = out.VersionID
	return c
}
