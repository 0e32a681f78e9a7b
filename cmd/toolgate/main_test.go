package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/policies"
)

// TestPublishWithAProfile: with no credentials in the environment, only an
// AWS profile (as a person logged in with SSO would have), toolgate
// publishes a bundle through the SDK's S3 client and reads it back from S3,
// against moto, which checks every signature.
func TestPublishWithAProfile(t *testing.T) {
	srv := moto.Start(t)
	srv.CreateBucket(t, "policies")
	withProfile(t, srv)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		a := newAWS(os.Getenv)
		code := cli.Main(args, cli.Env{Embedded: policies.FS, Getenv: a.getenv, Stdout: &out, Stderr: &errOut, Store: a.store})
		return code, out.String() + errOut.String()
	}
	code, out := run("publish", "-to", "s3://policies/prod", "../../testdata/bundles/minimal")
	if code != 0 || !strings.Contains(out, "published: s3://policies/prod/bundle.tar.gz") || !regexp.MustCompile(`(?m)^version: \S+$`).MatchString(out) {
		t.Fatalf("publish: exit %d\n%s", code, out)
	}
	if code, out := run("publish", "-to", "s3://policies/prod", "../../testdata/bundles/minimal"); code != 0 || !strings.Contains(out, "unchanged:") {
		t.Errorf("publish again: exit %d\n%s", code, out)
	}
	if code, out := run("test", "s3://policies/prod"); code != 0 || !strings.Contains(out, "0 failed") {
		t.Errorf("test from S3 with the profile's credentials: exit %d\n%s", code, out)
	}
}

// withProfile leaves the process with no AWS credentials in its
// environment, only a profile with moto's (as a person logged in with SSO
// would have).
func withProfile(t *testing.T, srv *moto.Server) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("AWS_CONFIG_FILE", write("config", "[profile policy-admin]\nregion = "+moto.Region+"\n"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", write("credentials",
		"[policy-admin]\naws_access_key_id = "+srv.AccessKeyID+"\naws_secret_access_key = "+srv.SecretAccessKey+"\n"))
	t.Setenv("AWS_PROFILE", "policy-admin")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
}
