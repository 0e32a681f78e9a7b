package s3bundle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/policies"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		key     string
		wantErr string
	}{
		{in: "s3://policies/toolgate/prod", want: Location{"policies", "toolgate/prod"}, key: "toolgate/prod/bundle.tar.gz"},
		{in: "s3://policies/toolgate/", want: Location{"policies", "toolgate"}, key: "toolgate/bundle.tar.gz"},
		{in: "s3://my.bucket-1", want: Location{"my.bucket-1", ""}, key: "bundle.tar.gz"},
		{in: "s3://b/p", wantErr: "invalid bucket name"},
		{in: "s3://Policies/p", wantErr: "invalid bucket name"},
		{in: "s3://bucket_x/p", wantErr: "invalid bucket name"},
		{in: "s3://-bucket/p", wantErr: "invalid bucket name"},
		{in: "s3://bucket../p", wantErr: "invalid bucket name"},
		{in: "s3:///p", wantErr: "invalid bucket name"},
		{in: "s3://bucket/a b", wantErr: `prefix character ' '`},
		{in: "s3://bucket/a%2F", wantErr: `prefix character '%'`},
		{in: "s3://bucket/a?versionId=1", wantErr: `prefix character '?'`},
		{in: "s3://bucket/ä", wantErr: `prefix character 'ä'`},
		{in: "s3://bucket/a//b", wantErr: "empty path segment"},
		{in: "https://bucket/p", wantErr: "want s3://bucket/prefix"},
		{in: "S3://bucket/p", wantErr: "want s3://bucket/prefix"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case got != tt.want || got.Key() != tt.key || got.URL() != "s3://"+tt.want.Bucket+"/"+tt.key:
			t.Errorf("%q: %+v key %q url %q", tt.in, got, got.Key(), got.URL())
		}
	}
}

func TestObjectURL(t *testing.T) {
	l := Location{"policies", "tg"}
	tests := []struct {
		c    Client
		l    Location
		want string
	}{
		{Client{Region: "eu-west-1"}, l, "https://policies.s3.eu-west-1.amazonaws.com/tg/bundle.tar.gz"},
		{Client{Region: "cn-north-1"}, l, "https://policies.s3.cn-north-1.amazonaws.com.cn/tg/bundle.tar.gz"},
		{Client{Region: "us-east-1"}, Location{"my.policies", ""}, "https://s3.us-east-1.amazonaws.com/my.policies/bundle.tar.gz"},
		{Client{Region: "us-east-1", Endpoint: "http://127.0.0.1:5000"}, l, "http://127.0.0.1:5000/policies/tg/bundle.tar.gz"},
	}
	for _, tt := range tests {
		if got := tt.c.objectURL(tt.l); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.c, got, tt.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	c, err := FromEnv(env(map[string]string{"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9/"}), nil)
	if err != nil || c.Region != "eu-west-1" || c.Endpoint != "http://127.0.0.1:9" {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := c.Credentials.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("credentials without keys: %v", err)
	}
	c, _ = FromEnv(env(map[string]string{"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL_S3": "http://s3", "AWS_ENDPOINT_URL": "http://other",
		"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}), nil)
	creds, err := c.Credentials.Retrieve(context.Background())
	if err != nil || c.Region != "us-east-1" || c.Endpoint != "http://s3" || creds.AccessKeyID != "AKID" || creds.SessionToken != "token" {
		t.Errorf("%+v %+v %v", c, creds, err)
	}
	for _, vars := range []map[string]string{{}, {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "127.0.0.1:9000"}, {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "ftp://x"}} {
		if _, err := FromEnv(env(vars), nil); err == nil {
			t.Errorf("%v: no error", vars)
		}
	}
}

// TestAgainstS3 runs every request against moto's S3, which checks each
// signature against the IAM user's key, and against moto.FakeS3, which the
// logic tests of other packages use: both must answer alike.
func TestAgainstS3(t *testing.T) {
	t.Run("moto", func(t *testing.T) { againstS3(t, moto.Start(t), true) })
	t.Run("fake", func(t *testing.T) { againstS3(t, moto.FakeS3(t), false) })
}

func againstS3(t *testing.T, s *moto.Server, signatures bool) {
	s.CreateBucket(t, "policies")
	c, err := FromEnv(s.Env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l := Location{"policies", "team-a/prod"}
	if _, err := c.Head(ctx, l); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head before publishing: %v", err)
	}
	if _, _, err := c.Get(ctx, l, ""); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("get before publishing: %v", err)
	}
	var archive bytes.Buffer
	if err := bundle.WriteArchive(&archive, policies.FS); err != nil {
		t.Fatal(err)
	}
	put, err := c.Put(ctx, l, archive.Bytes(), "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	if put.VersionID == "" || put.ETag == "" {
		t.Errorf("put: %+v", put)
	}
	data, got, err := c.Get(ctx, l, "")
	if err != nil || !bytes.Equal(data, archive.Bytes()) || got != put {
		t.Fatalf("get: %+v, %v (%d bytes, want %d)", got, err, len(data), archive.Len())
	}
	if _, got, err := c.Get(ctx, l, put.ETag); !errors.Is(err, ErrNotModified) || got.ETag != put.ETag {
		t.Errorf("conditional get of an unchanged archive: %+v, %v", got, err)
	}
	if head, err := c.Head(ctx, l); err != nil || head != put {
		t.Errorf("head: %+v, %v", head, err)
	}
	second, err := c.Put(ctx, l, append(archive.Bytes()[:archive.Len():archive.Len()], 0), "sha256:def")
	if err != nil || second.VersionID == put.VersionID || second.ETag == put.ETag {
		t.Fatalf("second put: %+v, %v", second, err)
	}
	if _, got, err := c.Get(ctx, l, put.ETag); err != nil || got != second {
		t.Errorf("conditional get of a changed archive: %+v, %v", got, err)
	}

	if signatures { // A wrong secret is refused by S3's signature check.
		bad, _ := FromEnv(func(k string) string {
			if k == "AWS_SECRET_ACCESS_KEY" {
				return "wrong"
			}
			return s.Env(nil)(k)
		}, nil)
		if _, _, err := bad.Get(ctx, l, ""); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
			t.Errorf("wrong secret: %v", err)
		}
	}
	// An unreachable endpoint is an error, not a hang.
	s.Stop()
	if _, _, err := c.Get(ctx, l, ""); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("stopped server: %v", err)
	}
}
