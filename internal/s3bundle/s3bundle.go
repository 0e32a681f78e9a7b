// Package s3bundle reads and writes policy bundle archives in Amazon S3.
//
// A bundle is one object, <prefix>/bundle.tar.gz, so that publishing is
// atomic and the bucket's versioning keeps every version ever published.
// Requests are signed with aws-sdk-go-v2's Signature Version 4 signer
// rather than sent through its S3 client: the function makes two kinds of
// request, and the S3 client would add 7.6 MB (28%) to the Lambda binary.
package s3bundle

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/toolgate/toolgate/internal/awsenv"

	"github.com/toolgate/toolgate/internal/bundle"
)

// Location is where a bundle lives: s3://Bucket/Prefix.
type Location struct {
	Bucket, Prefix string
}

// ParseURL parses "s3://bucket/prefix". The prefix may be empty; it is
// limited to the characters S3 calls safe, so that keys need no escaping.
func ParseURL(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("bundle location %q: want s3://bucket/prefix", s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if !validBucket(bucket) {
		return Location{}, fmt.Errorf("bundle location %q: invalid bucket name %q", s, bucket)
	}
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/!-_.*'()", r)) {
			return Location{}, fmt.Errorf("bundle location %q: prefix character %q: use letters, digits and /!-_.*'()", s, r)
		}
	}
	if strings.Contains(prefix, "//") {
		return Location{}, fmt.Errorf("bundle location %q: empty path segment in prefix", s)
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

// validBucket applies S3's general purpose bucket naming rules.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '.' || b[0] == '-' || b[len(b)-1] == '.' || b[len(b)-1] == '-' || strings.Contains(b, "..") {
		return false
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// Key is the archive's object key.
func (l Location) Key() string {
	if l.Prefix == "" {
		return bundle.ArchiveName
	}
	return l.Prefix + "/" + bundle.ArchiveName
}

// URL is the archive's s3:// URL, the source named in decision records.
func (l Location) URL() string { return "s3://" + l.Bucket + "/" + l.Key() }

// Object identifies one version of an archive.
type Object struct {
	ETag      string // as S3 sends it, quotes included
	VersionID string // empty in a bucket without versioning
	// Digest is the bundle digest the publisher recorded in the object's
	// metadata; empty for objects not written by Put.
	Digest string
}

// ErrNotModified is Get's answer when the archive still has the ETag given.
var ErrNotModified = errors.New("not modified")

// ErrNotFound is Head's answer when there is no archive.
var ErrNotFound = errors.New("no bundle archive")

// Client makes signed S3 requests.
type Client struct {
	// HTTP sends the requests; it should have a timeout or callers a
	// context deadline.
	HTTP *http.Client
	// Credentials sign the requests.
	Credentials aws.CredentialsProvider
	// Region is the bucket's region.
	Region string
	// Endpoint replaces S3's endpoint for the region (an S3-compatible
	// server, e.g. "http://127.0.0.1:5000"); requests to it are path-style.
	Endpoint string
}

// FromEnv returns a client configured by the standard AWS environment
// variables: AWS_REGION (else AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3
// (else AWS_ENDPOINT_URL), and the credentials AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets for the
// function's role.
func FromEnv(getenv func(string) string, hc *http.Client) (*Client, error) {
	region, err := awsenv.Region(getenv)
	if err != nil {
		return nil, err
	}
	endpoint, err := awsenv.Endpoint(getenv, "S3")
	if err != nil {
		return nil, fmt.Errorf("S3 %w", err)
	}
	return &Client{HTTP: hc, Region: region, Endpoint: endpoint, Credentials: awsenv.Credentials(getenv)}, nil
}

// Get fetches the archive at l. With etag set, it is a conditional request:
// ErrNotModified when the archive's ETag is still etag.
func (c *Client) Get(ctx context.Context, l Location, etag string) ([]byte, Object, error) {
	return c.get(ctx, l, etag, "")
}

// GetVersion fetches one version of the archive at l.
func (c *Client) GetVersion(ctx context.Context, l Location, version string) ([]byte, Object, error) {
	if version == "" {
		return nil, Object{}, fmt.Errorf("GET %s: no version id", l.URL())
	}
	return c.get(ctx, l, "", version)
}

func (c *Client) get(ctx context.Context, l Location, etag, version string) ([]byte, Object, error) {
	req, err := c.request(ctx, http.MethodGet, l, nil)
	if err != nil {
		return nil, Object{}, err
	}
	if version != "" {
		req.URL.RawQuery = url.Values{"versionId": {version}}.Encode()
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if err := c.sign(req, nil); err != nil {
		return nil, Object{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, Object{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, object(resp), ErrNotModified
	default:
		return nil, Object{}, failure(req, resp)
	}
	// One byte over the limit says the archive is too large.
	data, err := io.ReadAll(io.LimitReader(resp.Body, bundle.MaxArchiveBytes+1))
	if err != nil {
		return nil, Object{}, fmt.Errorf("GET %s: %w", l.URL(), err)
	}
	return data, object(resp), nil
}

// fetchTimeout bounds reading a base bundle.
const fetchTimeout = 30 * time.Second

// Fetcher returns how a bundle reads a base published to S3, with a
// client configured by the environment (see FromEnv) when it is first
// needed: a bundle without such a base needs no AWS configuration.
func Fetcher(getenv func(string) string) bundle.Fetch {
	return func(prefix, version string) ([]byte, error) {
		l, err := ParseURL(prefix)
		if err != nil {
			return nil, err
		}
		c, err := FromEnv(getenv, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		data, o, err := c.GetVersion(ctx, l, version)
		if err == nil && o.VersionID != version {
			err = fmt.Errorf("GET %s: asked for version %s, S3 answered with version %q", l.URL(), version, o.VersionID)
		}
		return data, err
	}
}

// Head returns the identity of the archive at l, or ErrNotFound.
func (c *Client) Head(ctx context.Context, l Location) (Object, error) {
	req, err := c.request(ctx, http.MethodHead, l, nil)
	if err != nil {
		return Object{}, err
	}
	if err := c.sign(req, nil); err != nil {
		return Object{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return Object{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return object(resp), nil
	case http.StatusNotFound:
		return Object{}, ErrNotFound
	}
	return Object{}, failure(req, resp)
}

// Put writes data as the archive at l, recording digest in its metadata,
// and returns the new object's identity. S3 checks the body against its
// MD5 and SHA-256.
func (c *Client) Put(ctx context.Context, l Location, data []byte, digest string) (Object, error) {
	req, err := c.request(ctx, http.MethodPut, l, data)
	if err != nil {
		return Object{}, err
	}
	sum := md5.Sum(data)
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	req.Header.Set("Content-Type", "application/gzip")
	req.Header.Set("X-Amz-Meta-Digest", digest)
	if err := c.sign(req, data); err != nil {
		return Object{}, err
	}
	resp, err := c.do(req)
	if err != nil {
		return Object{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Object{}, failure(req, resp)
	}
	o := object(resp)
	o.Digest = digest
	return o, nil
}

// request builds a request for l's archive, to be signed once its headers
// are set.
func (c *Client) request(ctx context.Context, method string, l Location, body []byte) (*http.Request, error) {
	u := c.objectURL(l)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, l.URL(), err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return req, nil
}

func (c *Client) sign(req *http.Request, body []byte) error {
	creds, err := c.Credentials.Retrieve(req.Context())
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if body != nil {
		req.Header.Set("X-Amz-Checksum-Sha256", base64.StdEncoding.EncodeToString(sum[:]))
	}
	// S3 signs the path as sent, not escaped a second time.
	err = v4.NewSigner().SignHTTP(req.Context(), creds, req, hash, "s3", c.Region, time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		return fmt.Errorf("%s %s: sign: %w", req.Method, req.URL, err)
	}
	return nil
}

// objectURL addresses the object virtual-hosted style on AWS, and
// path-style on a custom endpoint or for a bucket whose dots would break
// the certificate's wildcard.
func (c *Client) objectURL(l Location) string {
	if c.Endpoint != "" {
		return c.Endpoint + "/" + l.Bucket + "/" + l.Key()
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(c.Region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	if strings.Contains(l.Bucket, ".") {
		return "https://s3." + c.Region + "." + domain + "/" + l.Bucket + "/" + l.Key()
	}
	return "https://" + l.Bucket + ".s3." + c.Region + "." + domain + "/" + l.Key()
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL is in the message already, as s3://.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%s s3://%s: %w", req.Method, strings.TrimPrefix(req.URL.Path, "/"), err)
	}
	return resp, nil
}

func object(resp *http.Response) Object {
	return Object{
		ETag:      resp.Header.Get("ETag"),
		VersionID: resp.Header.Get("X-Amz-Version-Id"),
		Digest:    resp.Header.Get("X-Amz-Meta-Digest"),
	}
}

// failure turns an S3 error response into an error naming S3's code.
func failure(req *http.Request, resp *http.Response) error {
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = xml.Unmarshal(body, &e) // a HEAD, or a proxy's page, has no S3 error
	msg := fmt.Sprintf("%s %s: %s", req.Method, req.URL.Redacted(), resp.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return errors.New(msg)
}
