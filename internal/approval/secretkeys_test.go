package approval_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/moto"
)

// TestSecretKeysRotate: states are signed with the secret's current
// version; after a rotation new states use the new version and states
// signed before it still verify.
func TestSecretKeysRotate(t *testing.T) {
	ctx := context.Background()
	srv := moto.Start(t)
	env := srv.Env(nil)
	sm := secretsmanager.New(secretsmanager.Options{Region: moto.Region, BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}, nil
		}))})
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("toolgate-approval-key"), SecretString: aws.String(strings.Repeat("k", 48))})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := approval.SecretKeysFromEnv(env, *created.ARN, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	keys.Now = func() time.Time { return now }
	old, err := approval.Sign(ctx, keys, approval.NewState("b", now, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String(strings.Repeat("n", 48))}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(6 * time.Minute) // past the cache: the rotation shows
	fresh, err := approval.Sign(ctx, keys, approval.NewState("b", now, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(fresh, ".")[1] == strings.Split(old, ".")[1] {
		t.Fatal("the rotated secret signs with the old version")
	}
	cold, _ := approval.SecretKeysFromEnv(env, *created.ARN, http.DefaultClient) // another instance
	for name, tok := range map[string]string{"before the rotation": old, "after it": fresh} {
		if _, err := approval.Verify(ctx, cold, tok, "b", time.Now()); err != nil && !errors.Is(err, approval.ErrStateExpired) {
			t.Errorf("a state signed %s does not verify: %v", name, err)
		}
	}
	// A state that names a version the secret does not have is forged.
	parts := strings.Split(fresh, ".")
	parts[1] = "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw" // 00000000-0000-0000-0000-000000000000
	if _, err := approval.Verify(ctx, cold, strings.Join(parts, "."), "b", time.Now()); !errors.Is(err, approval.ErrStateForged) {
		t.Errorf("unknown version: %v", err)
	}
	// A secret too short to be a key is refused, not used.
	short, _ := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("short"), SecretString: aws.String("pw")})
	weak, _ := approval.SecretKeysFromEnv(env, *short.ARN, http.DefaultClient)
	if _, err := approval.Sign(ctx, weak, approval.NewState("b", now, time.Minute)); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("a short secret: %v", err)
	}
}

// TestSecretKeysRead: a binary secret is a key as well; a missing secret
// and a request moto cannot authenticate are errors that say which, and
// nothing is signed.
func TestSecretKeysRead(t *testing.T) {
	ctx := context.Background()
	srv := moto.Start(t)
	sm := secretsmanager.New(secretsmanager.Options{Region: moto.Region, BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}, nil
		}))})
	bin, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("binary-key"), SecretBinary: []byte(strings.Repeat("\x01", 40))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	keys, _ := approval.SecretKeysFromEnv(srv.Env(nil), *bin.ARN, http.DefaultClient)
	if _, err := approval.Sign(ctx, keys, approval.NewState("b", now, time.Minute)); err != nil {
		t.Errorf("a binary secret: %v", err)
	}
	missing, _ := approval.SecretKeysFromEnv(srv.Env(nil), "no-such-secret", http.DefaultClient)
	if _, err := approval.Sign(ctx, missing, approval.NewState("b", now, time.Minute)); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("a missing secret: %v", err)
	}
	forged := srv.Env(map[string]string{})
	wrongKey := func(k string) string {
		if k == "AWS_SECRET_ACCESS_KEY" {
			return "not-the-key"
		}
		return forged(k)
	}
	denied, _ := approval.SecretKeysFromEnv(wrongKey, *bin.ARN, http.DefaultClient)
	if _, err := approval.Sign(ctx, denied, approval.NewState("b", now, time.Minute)); err == nil || !strings.Contains(err.Error(), "HTTP 4") {
		t.Errorf("a request signed with the wrong key: %v", err)
	}
}
