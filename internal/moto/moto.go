// Package moto runs moto's server on loopback for integration tests: real
// S3 and DynamoDB APIs that check Signature Version 4 signatures and IAM
// permissions, so that tests exercise the bytes the function sends to AWS.
package moto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/toolgate/toolgate/internal/testutil"
)

// Region is the region the server's buckets are in.
const Region = "us-east-1"

// Server is a running moto server.
type Server struct {
	// Endpoint is the server's base URL, e.g. "http://127.0.0.1:5000".
	Endpoint string
	// AccessKeyID and SecretAccessKey belong to an IAM user allowed s3:*,
	// dynamodb:*, secretsmanager:*, kms:* and states:*; every request must be signed with
	// them.
	AccessKeyID, SecretAccessKey string

	cmd   *exec.Cmd
	front *httptest.Server
}

// Start starts moto_server on a free loopback port, stopped when t ends. If
// moto_server is not installed, t is skipped, or fails when REQUIRE_MOTO=1
// (as in CI).
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

// StartWorkflows starts a moto_server that runs Step Functions state
// machines for real (moto's ASL interpreter: states, paths, intrinsic
// functions, task tokens, timeouts, catchers), with Lambda functions that
// are only recorded, not run: a test plays the function's part with the
// task token the execution history shows. It does not check IAM, as the
// interpreter's own calls to the other services are not signed by any
// user of it; use Start to test what the function's own calls send.
func StartWorkflows(t testing.TB) *Server {
	t.Helper()
	s := start(t, false)
	body := `{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`
	resp, err := http.Post(s.Endpoint+"/moto-api/config", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("moto config: %s", resp.Status)
	}
	return s
}

func start(t testing.TB, auth bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("REQUIRE_MOTO") == "1" {
			t.Fatalf("moto_server not found (pip install \"moto[server]\"): %v", err)
		}
		t.Skip("moto_server not installed: pip install \"moto[server]\"")
	}
	// Port 0: moto_server binds a free port itself and names it. Choosing
	// one here and passing it on would leave a moment in which another
	// test's server could take it.
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", "0")
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=false")
	s := &Server{cmd: cmd}
	var back atomic.Pointer[httputil.ReverseProxy]
	if auth {
		// The first three requests (the IAM user, its key and its policy)
		// need no signature; every later one is authenticated and
		// authorized.
		cmd.Env = append(cmd.Env, "INITIAL_NO_AUTH_ACTION_COUNT=3")
	} else {
		// The state machine interpreter calls the other services at
		// localhost:MOTO_PORT: the front, started first, so that its port
		// is known, and not one at a time, since a request of the
		// interpreter may arrive while another is answered.
		s.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { back.Load().ServeHTTP(w, r) }))
		t.Cleanup(s.front.Close)
		cmd.Env = append(cmd.Env, "MOTO_PORT="+s.front.URL[strings.LastIndexByte(s.front.URL, ':')+1:])
	}
	logs := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("moto_server log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			s.Endpoint = "http://127.0.0.1:" + m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not say where it listens:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !auth {
		s.AccessKeyID, s.SecretAccessKey = "AKIDWORKFLOWS", "unchecked"
		back.Store(s.reverseProxy(t))
		s.Endpoint = s.front.URL
		return s
	}
	s.user(t)
	s.serialize(t)
	return s
}

// serialize puts a loopback front before the server that hands it one
// request at a time. moto applies an UpdateItem as a read and a write with
// no lock, so concurrent requests can lose an update; DynamoDB applies each
// request to an item atomically. One at a time, moto keeps that guarantee
// while the clients still race each other.
func (s *Server) serialize(t testing.TB) {
	var mu sync.Mutex
	rp := s.reverseProxy(t)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s.Endpoint, s.front = front.URL, front
}

// Stop stops the server: S3 and DynamoDB become unreachable.
func (s *Server) Stop() {
	if s.front != nil {
		s.front.Close() // connections are refused, as by a server that is gone
	}
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

var (
	listening   = regexp.MustCompile(`Running on http://127\.0\.0\.1:(\d+)`)
	accessKeyRE = regexp.MustCompile(`<AccessKeyId>([^<]+)`)
	secretRE    = regexp.MustCompile(`<SecretAccessKey>([^<]+)`)
)

// user creates the IAM user whose key signs every later request.
func (s *Server) user(t testing.TB) {
	t.Helper()
	iam := func(form url.Values) string {
		form.Set("Version", "2010-05-08")
		body := form.Encode()
		req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// moto routes by the service in the signature's scope.
		sign(t, req, []byte(body), "iam", aws.Credentials{AccessKeyID: "AKIDSETUP", SecretAccessKey: "setup"})
		return s.send(t, req, http.StatusOK)
	}
	iam(url.Values{"Action": {"CreateUser"}, "UserName": {"toolgate"}})
	out := iam(url.Values{"Action": {"CreateAccessKey"}, "UserName": {"toolgate"}})
	s.AccessKeyID, s.SecretAccessKey = match(t, accessKeyRE, out), match(t, secretRE, out)
	iam(url.Values{"Action": {"PutUserPolicy"}, "UserName": {"toolgate"}, "PolicyName": {"s3"},
		"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","dynamodb:*","secretsmanager:*","kms:*","states:*"],"Resource":"*"}]}`}})
}

func match(t testing.TB, re *regexp.Regexp, s string) string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %s", re, s)
	}
	return m[1]
}

// Env returns a getenv that points the AWS settings at the server (or at
// vars' AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL_DYNAMODB, a Proxy's), with
// the other variables from vars.
func (s *Server) Env(vars map[string]string) func(string) string {
	return func(k string) string {
		switch k {
		case "AWS_REGION":
			return Region
		case "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SFN":
			if v := vars[k]; v != "" {
				return v
			}
			return s.Endpoint
		case "AWS_ACCESS_KEY_ID":
			return s.AccessKeyID
		case "AWS_SECRET_ACCESS_KEY":
			return s.SecretAccessKey
		}
		return vars[k]
	}
}

// CreateBucket creates a bucket with versioning on.
func (s *Server) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	s.S3(t, http.MethodPut, "/"+bucket, nil, http.StatusOK)
	s.S3(t, http.MethodPut, "/"+bucket+"?versioning",
		[]byte(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`), http.StatusOK)
}

// S3 sends a signed S3 request for path (with any query) and returns the
// body, failing t unless the status is want.
func (s *Server) S3(t testing.TB, method, path string, body []byte, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sign(t, req, body, "s3", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	return s.send(t, req, want)
}

func (s *Server) send(t testing.TB, req *http.Request, want int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL, resp.Status, want, out)
	}
	return string(out)
}

func sign(t testing.TB, req *http.Request, body []byte, service string, creds aws.Credentials) {
	t.Helper()
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, Region, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Mode is what a Proxy does with requests.
type Mode int32

const (
	// Pass forwards requests to the server.
	Pass Mode = iota
	// Refuse drops each connection without an answer, as an unreachable
	// S3 would.
	Refuse
	// Stall holds each request unanswered until the client gives up or the
	// mode changes.
	Stall
)

// Request is one request a Proxy saw, with the status it answered.
type Request struct {
	Method, IfNoneMatch string
	// Target is a DynamoDB request's operation (X-Amz-Target).
	Target string
	Status int
}

// Proxy is a loopback reverse proxy in front of a Server that records each
// request and can stop answering. Clients sign for the proxy's host, which
// it passes on unchanged, so the server's signature check still holds.
type Proxy struct {
	Endpoint string

	mode    atomic.Int32
	waiting atomic.Int32
	mu      sync.Mutex
	reqs    []Request
}

// reverseProxy forwards to s as the client sent it: clients sign for the
// proxy's host, which goes on unchanged, so the server's signature check
// still holds.
func (s *Server) reverseProxy(t testing.TB) *httputil.ReverseProxy {
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}, ErrorLog: log.New(io.Discard, "", 0)}
}

// Proxy starts a proxy in front of s, closed when t ends.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{}
	rp := s.reverseProxy(t)
	// Recorded before the client can read the answer, so that a request
	// is never counted late.
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.reqs = append(p.reqs, Request{Method: resp.Request.Method, IfNoneMatch: resp.Request.Header.Get("If-None-Match"),
			Target: strings.TrimPrefix(resp.Request.Header.Get("X-Amz-Target"), "DynamoDB_20120810."), Status: resp.StatusCode})
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch Mode(p.mode.Load()) {
		case Refuse:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		case Stall:
			p.waiting.Add(1)
			defer p.waiting.Add(-1)
			for Mode(p.mode.Load()) == Stall {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Endpoint = srv.URL
	return p
}

// SetMode sets what the proxy does with the requests that follow.
func (p *Proxy) SetMode(m Mode) { p.mode.Store(int32(m)) }

// Waiting returns the number of requests stalled now.
func (p *Proxy) Waiting() int { return int(p.waiting.Load()) }

// Requests returns the requests forwarded since the last call.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reqs
	p.reqs = nil
	return r
}

// CreateTable creates a state table as the template does (partition key
// state.AttrKey, a string; on-demand) and returns its name.
func (s *Server) CreateTable(t testing.TB, name string) string {
	t.Helper()
	body := `{"TableName":"` + name + `","BillingMode":"PAY_PER_REQUEST",` +
		`"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],` +
		`"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}`
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.CreateTable")
	sign(t, req, []byte(body), "dynamodb", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	s.send(t, req, http.StatusOK)
	return name
}

// CreateSecret creates a Secrets Manager secret holding value and returns
// its ARN.
func (s *Server) CreateSecret(t testing.TB, name, value string) string {
	t.Helper()
	var out struct{ ARN string }
	s.JSON(t, "secretsmanager", "1.1", "secretsmanager.CreateSecret", map[string]string{"Name": name, "SecretString": value}, &out)
	if out.ARN == "" {
		t.Fatalf("create secret %s: no ARN", name)
	}
	return out.ARN
}

// CreateKey creates a KMS key of spec (ECC_NIST_P256, RSA_2048, ...) for
// SIGN_VERIFY and returns its ARN.
func (s *Server) CreateKey(t testing.TB, spec string) string {
	t.Helper()
	var out struct{ KeyMetadata struct{ Arn string } }
	s.JSON(t, "kms", "1.1", "TrentService.CreateKey", map[string]string{"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"}, &out)
	if out.KeyMetadata.Arn == "" {
		t.Fatalf("create key %s: no ARN", spec)
	}
	return out.KeyMetadata.Arn
}

// JSON calls operation of a service of AWS's JSON protocol (target as in
// X-Amz-Target, "AWSStepFunctions.StartExecution"; version "1.0" or "1.1")
// with in, and decodes the answer into out (nil: ignored).
func (s *Server) JSON(t testing.TB, service, version, target string, in, out any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+version)
	req.Header.Set("X-Amz-Target", target)
	sign(t, req, body, service, aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	answer := s.send(t, req, http.StatusOK)
	if out != nil {
		if err := json.Unmarshal([]byte(answer), out); err != nil {
			t.Fatalf("%s: %v: %s", target, err, answer)
		}
	}
}

// CreateTopic creates an SNS topic and returns its ARN.
func (s *Server) CreateTopic(t testing.TB, name string) string {
	t.Helper()
	form := url.Values{"Action": {"CreateTopic"}, "Name": {name}, "Version": {"2010-03-31"}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, []byte(form), "sns", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	return match(t, regexp.MustCompile(`<TopicArn>([^<]+)`), s.send(t, req, http.StatusOK))
}

// CreateFunction creates a Lambda function named name (which a
// StartWorkflows server records invocations of, without running it) and
// returns its ARN.
func (s *Server) CreateFunction(t testing.TB, name string) string {
	t.Helper()
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name},
		"AssumeRolePolicyDocument": {`{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, []byte(form), "iam", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	role := match(t, regexp.MustCompile(`<Arn>([^<]+)`), s.send(t, req, http.StatusOK))
	body, _ := json.Marshal(map[string]any{"FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Role": role, "Code": map[string]any{"ZipFile": emptyZip}})
	req, _ = http.NewRequest(http.MethodPost, s.Endpoint+"/2015-03-31/functions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sign(t, req, body, "lambda", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	var out struct{ FunctionArn string }
	if err := json.Unmarshal([]byte(s.send(t, req, http.StatusCreated)), &out); err != nil || out.FunctionArn == "" {
		t.Fatalf("create function %s: %v", name, err)
	}
	return out.FunctionArn
}

// emptyZip is a zip archive of one empty file, "bootstrap", base64.
const emptyZip = "UEsDBBQAAAAAAGUhhl0AAAAAAAAAAAAAAAAJAAAAYm9vdHN0cmFwUEsBAhQDFAAAAAAAZSGGXQAAAAAAAAAAAAAAAAkAAAAAAAAAAAAAAIABAAAAAGJvb3RzdHJhcFBLBQYAAAAAAQABADcAAAAnAAAAAAA="

// QueueLambdaResult makes result the answer of the next invocation of a
// Lambda function (on a StartWorkflows server, whose functions are not
// run): a test hands the state machine what the function would answer.
func (s *Server) QueueLambdaResult(t testing.TB, result []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"region": Region, "results": []string{string(result)}})
	resp, err := http.Post(s.Endpoint+"/moto-api/static/lambda-simple/response", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("queue a Lambda result: %s", resp.Status)
	}
}

// Subscribe subscribes a new SQS queue to an SNS topic and returns a
// function that returns the messages published since (their Message).
func (s *Server) Subscribe(t testing.TB, topic string) func() []string {
	t.Helper()
	name := "sub-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var q struct{ QueueUrl string }
	s.JSON(t, "sqs", "1.0", "AmazonSQS.CreateQueue", map[string]string{"QueueName": name}, &q)
	form := url.Values{"Action": {"Subscribe"}, "Version": {"2010-03-31"}, "TopicArn": {topic}, "Protocol": {"sqs"},
		"Endpoint": {"arn:aws:sqs:" + Region + ":123456789012:" + name}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, []byte(form), "sns", aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
	s.send(t, req, http.StatusOK)
	return func() []string {
		var out struct{ Messages []struct{ Body string } }
		s.JSON(t, "sqs", "1.0", "AmazonSQS.ReceiveMessage", map[string]any{"QueueUrl": q.QueueUrl, "MaxNumberOfMessages": 10}, &out)
		var msgs []string
		for _, m := range out.Messages {
			var n struct{ Message string }
			if err := json.Unmarshal([]byte(m.Body), &n); err != nil {
				t.Fatalf("not an SNS notification: %s", m.Body)
			}
			msgs = append(msgs, n.Message)
		}
		return msgs
	}
}
