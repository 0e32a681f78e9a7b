package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/toolgate/toolgate/internal/approver"
	"github.com/toolgate/toolgate/internal/awsenv"
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

// service returns the SDK's default configuration, which must name a
// region, and the endpoint override of service ("DYNAMODB": as in
// AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL; "" for none).
func (a *awsAccess) service(ctx context.Context, service string) (aws.Config, string, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return cfg, "", fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, "", errors.New("no AWS region: set AWS_REGION or a profile's region")
	}
	endpoint, err := awsenv.Endpoint(a.env, service)
	return cfg, endpoint, err
}

// invoke invokes the approvals function (see package approver) with req,
// synchronously, with the SDK's default credentials and region;
// AWS_ENDPOINT_URL_LAMBDA, else AWS_ENDPOINT_URL, overrides the endpoint.
// Lambda's Invoke is one signed REST call: the SDK's Lambda client would
// add a module for it.
func (a *awsAccess) invoke(ctx context.Context, function string, req approver.Request) (approver.Response, error) {
	var resp approver.Response
	cfg, endpoint, err := a.service(ctx, "LAMBDA")
	if err != nil {
		return resp, err
	}
	if endpoint == "" {
		endpoint = "https://lambda." + cfg.Region + ".amazonaws.com"
	}
	body, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/2015-03-31/functions/"+url.PathEscape(function)+"/invocations", bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return resp, fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, hr, hex.EncodeToString(sum[:]), "lambda", cfg.Region, time.Now()); err != nil {
		return resp, err
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return resp, fmt.Errorf("invoke %s: %w", function, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 6<<20))
	if err != nil {
		return resp, fmt.Errorf("invoke %s: %w", function, err)
	}
	if res.StatusCode != http.StatusOK {
		return resp, fmt.Errorf("invoke %s: HTTP %d: %s", function, res.StatusCode, bytes.TrimSpace(out))
	}
	if fe := res.Header.Get("X-Amz-Function-Error"); fe != "" {
		return resp, fmt.Errorf("invoke %s: the function failed (%s): %s", function, fe, bytes.TrimSpace(out))
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("invoke %s: not an answer of the approvals function: %w", function, err)
	}
	return resp, nil
}
