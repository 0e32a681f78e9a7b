package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/internal/s3bundle"
)

// awsAccess resolves the SDK's default configuration once, when a command
// first needs AWS.
type awsAccess struct {
	env  func(string) string
	once sync.Once
	cfg  aws.Config
	err  error
}

func newAWS(env func(string) string) *awsAccess { return &awsAccess{env: env} }

func (a *awsAccess) config(ctx context.Context) (aws.Config, error) {
	a.once.Do(func() {
		a.cfg, a.err = awsconfig.LoadDefaultConfig(ctx)
	})
	return a.cfg, a.err
}

// getenv answers the AWS_* variables that reading a bundle from S3 needs
// (the function's own client reads only those) from the SDK's
// configuration when the environment lacks them: a profile or SSO login
// works for every command.
func (a *awsAccess) getenv(name string) string {
	if v := a.env(name); v != "" {
		return v
	}
	switch name {
	case "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN":
	default:
		return ""
	}
	cfg, err := a.config(context.Background())
	if err != nil {
		return ""
	}
	if name == "AWS_REGION" {
		return cfg.Region
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		return ""
	}
	switch name {
	case "AWS_ACCESS_KEY_ID":
		return creds.AccessKeyID
	case "AWS_SECRET_ACCESS_KEY":
		return creds.SecretAccessKey
	}
	return creds.SessionToken
}

// store returns the SDK's S3 client as publish's store.
func (a *awsAccess) store(ctx context.Context, getenv func(string) string) (cli.Store, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION or a profile's region")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// An S3-compatible endpoint (moto, MinIO) is path-style.
		if e := strings.TrimRight(cmp.Or(getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL")), "/"); e != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(e), true
		}
	})
	return sdkStore{client}, nil
}

// sdkStore publishes through the SDK's S3 client.
type sdkStore struct{ c *s3.Client }

func (s sdkStore) Head(ctx context.Context, l s3bundle.Location) (s3bundle.Object, error) {
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.Bucket), Key: aws.String(l.Key())})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey") {
			return s3bundle.Object{}, s3bundle.ErrNotFound
		}
		return s3bundle.Object{}, fmt.Errorf("HEAD %s: %w", l.URL(), err)
	}
	return s3bundle.Object{VersionID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag), Digest: out.Metadata["digest"]}, nil
}

func (s sdkStore) Put(ctx context.Context, l s3bundle.Location, data []byte, digest string) (s3bundle.Object, error) {
	sum := md5.Sum(data)
	out, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(l.Bucket),
		Key:         aws.String(l.Key()),
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/gzip"),
		ContentMD5:  aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		Metadata:    map[string]string{"digest": digest},
	})
	if err != nil {
		return s3bundle.Object{}, fmt.Errorf("PUT %s: %w", l.URL(), err)
	}
	return s3bundle.Object{VersionID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag), Digest: digest}, nil
}
