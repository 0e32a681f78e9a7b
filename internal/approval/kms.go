package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
)

// kms is KMS's JSON protocol, called signed (see awsenv.Service): the two
// calls made here do not justify the SDK client's package init.
var kms = awsenv.Service{Name: "kms", Target: "TrentService", Version: "1.1"}

// KMSKey is an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY). The
// decision path signs with it (kms:Sign, which only its role may call); the
// interceptor verifies with its public key (kms:GetPublicKey), read once
// and kept: the private key never leaves KMS, and the function could not
// sign a grant if it tried.
type KMSKey struct {
	api *awsenv.Service
	arn string

	mu     sync.Mutex
	pub    *ecdsa.PublicKey
	failed time.Time // when the last read of the public key failed
	err    error
}

// NewKMSKey returns the key arn through api, KMS.
func NewKMSKey(api *awsenv.Service, arn string) *KMSKey { return &KMSKey{api: api, arn: arn} }

// KMSKeyFromEnv returns the key arn with a client configured by the
// Lambda environment (AWS_ENDPOINT_URL_KMS overrides the endpoint).
func KMSKeyFromEnv(getenv func(string) string, arn string, hc *http.Client) (*KMSKey, error) {
	api, err := kms.FromEnv(getenv, "KMS", hc)
	if err != nil {
		return nil, fmt.Errorf("approval signing key: %w", err)
	}
	return NewKMSKey(api, arn), nil
}

// Sign implements Signer with kms:Sign (ECDSA_SHA_256 over the message).
func (k *KMSKey) Sign(ctx context.Context, message []byte) (string, []byte, error) {
	var out struct {
		KeyID     string `json:"KeyId"`
		Signature []byte `json:"Signature"` // base64 on the wire
	}
	err := k.api.Call(ctx, "Sign", struct {
		KeyID            string `json:"KeyId"`
		Message          []byte `json:"Message"`
		MessageType      string `json:"MessageType"`
		SigningAlgorithm string `json:"SigningAlgorithm"`
	}{k.arn, message, "RAW", "ECDSA_SHA_256"}, &out)
	if err != nil {
		return "", nil, err
	}
	// The grant names the key it was configured with, which verifiers
	// compare with theirs; KMS answers with the key's ARN.
	return k.arn, out.Signature, nil
}

// Verify implements Verifier, locally, with the key's public key.
func (k *KMSKey) Verify(ctx context.Context, keyID string, message, signature []byte) error {
	pub, err := k.publicKey(ctx)
	if err != nil {
		return err
	}
	return verifyECDSA(pub, k.arn, keyID, message, signature)
}

// publicKey reads the public key once; a failed read is tried again after
// a second, not on every call.
func (k *KMSKey) publicKey(ctx context.Context) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pub != nil {
		return k.pub, nil
	}
	if k.err != nil && time.Since(k.failed) < time.Second {
		return nil, k.err
	}
	var out struct {
		PublicKey []byte `json:"PublicKey"` // DER SubjectPublicKeyInfo, base64 on the wire
		KeyUsage  string `json:"KeyUsage"`
	}
	err := k.api.Call(ctx, "GetPublicKey", struct {
		KeyID string `json:"KeyId"`
	}{k.arn}, &out)
	if err == nil {
		err = k.setPublicKey(out.PublicKey, out.KeyUsage)
	}
	if err != nil {
		k.err, k.failed = fmt.Errorf("read the approval signing key's public key: %w", err), time.Now()
		return nil, k.err
	}
	return k.pub, nil
}

func (k *KMSKey) setPublicKey(der []byte, usage string) error {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return err
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() || usage != "SIGN_VERIFY" {
		return fmt.Errorf("key %s is a %T for %s; want ECC_NIST_P256 for SIGN_VERIFY", k.arn, pub, usage)
	}
	k.pub = ec
	return nil
}
