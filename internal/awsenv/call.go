package awsenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service is an AWS API of the JSON protocol (Secrets Manager, KMS, ...)
// called with SigV4-signed requests. It stands in for a service's SDK
// client where the function makes one or two calls: an SDK client costs
// its package init on every cold start (Secrets Manager's: 1.5-4 ms) and
// most of a megabyte of binary.
type Service struct {
	// Name is the signing name and the endpoint's first label
	// ("secretsmanager"); Target prefixes operations in X-Amz-Target.
	Name, Target string
	// Version is the JSON protocol version: "1.1" for most services.
	Version     string
	Region      string
	Endpoint    string // "" for https://<Name>.<Region>.amazonaws.com
	Credentials aws.CredentialsProvider
	HTTP        *http.Client
}

// FromEnv returns s configured by the Lambda environment: the region, the
// function's credentials, and the endpoint override of service (as in
// AWS_ENDPOINT_URL_<service>).
func (s Service) FromEnv(getenv func(string) string, service string, hc *http.Client) (*Service, error) {
	region, err := Region(getenv)
	if err != nil {
		return nil, err
	}
	endpoint, err := Endpoint(getenv, service)
	if err != nil {
		return nil, fmt.Errorf("%s %w", s.Name, err)
	}
	s.Region, s.Endpoint, s.Credentials, s.HTTP = region, endpoint, Credentials(getenv), hc
	return &s, nil
}

// APIError is an error answer of the service.
type APIError struct {
	Operation string
	Status    int
	Code      string // the exception's name, as the SDKs' ErrorCode
	Message   string
	// Reasons are the codes of a cancelled DynamoDB transaction's
	// CancellationReasons, one per item, "None" for an item that did not
	// cancel it.
	Reasons []string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s: %s (HTTP %d)", e.Operation, e.Code, e.Message, e.Status)
}

// Call runs operation with in marshalled as its request and decodes the
// answer into out. Throttling, server errors and failed connections are
// retried twice, after 25 and 50 ms (jittered), within ctx, as the SDKs'
// standard retryer does.
func (s *Service) Call(ctx context.Context, operation string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", operation, err)
	}
	for attempt := 0; ; attempt++ {
		err = s.call(ctx, operation, body, out)
		if err == nil || attempt == 2 || !retryable(err) {
			return err
		}
		wait := time.Duration(25<<attempt)*time.Millisecond/2 + time.Duration(rand.Int64N(int64(25<<attempt)*int64(time.Millisecond)/2))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// retryable reports whether a failed call may succeed when tried again.
func retryable(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		var nerr net.Error
		return errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
	}
	switch apiErr.Code {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"TooManyRequestsException", "ThrottledException", "RequestThrottled":
		return true
	}
	return apiErr.Status >= 500
}

func (s *Service) call(ctx context.Context, operation string, body []byte, out any) error {
	data, err := s.send(ctx, operation, "application/x-amz-json-"+s.Version, s.Target+"."+operation, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: answer: %w", operation, err)
	}
	return nil
}

// Query runs action of a service of the query protocol (SNS: Target "",
// Version "2010-03-31") with params, retried as Call is. The answer, XML,
// is not read: the few such calls made here need only to know it worked.
func (s *Service) Query(ctx context.Context, action string, params url.Values) error {
	form := url.Values{"Action": {action}, "Version": {s.Version}}
	for k, v := range params {
		form[k] = v
	}
	body := []byte(form.Encode())
	for attempt := 0; ; attempt++ {
		_, err := s.send(ctx, action, "application/x-www-form-urlencoded; charset=utf-8", "", body)
		if err == nil || attempt == 2 || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(25<<attempt) * time.Millisecond):
		}
	}
}

// send signs and sends one request and returns the answer's body; an
// answer other than 200 is an *APIError.
func (s *Service) send(ctx context.Context, operation, contentType, target string, body []byte) ([]byte, error) {
	endpoint := s.Endpoint
	if endpoint == "" {
		domain := "amazonaws.com"
		if strings.HasPrefix(s.Region, "cn-") {
			domain = "amazonaws.com.cn"
		}
		endpoint = "https://" + s.Name + "." + s.Region + "." + domain
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), s.Name, s.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: sign: %w", operation, err)
	}
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	defer resp.Body.Close()
	// Answers of these APIs are small; a bound keeps a broken endpoint
	// from filling memory.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(operation, resp.StatusCode, data)
	}
	return data, nil
}

// apiError reads the JSON protocol's error body: {"__type": "...#Code",
// "message": "..."} (some services spell it "Message"), or the query
// protocol's XML <Code> and <Message>.
func apiError(operation string, status int, data []byte) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Upper   string `json:"Message"`
		Reasons []struct {
			Code string `json:"Code"`
		} `json:"CancellationReasons"`
	}
	if json.Unmarshal(data, &e) != nil {
		var x struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		_ = xml.Unmarshal(data, &x)
		e.Type, e.Message = x.Code, x.Message
	}
	code := e.Type
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = http.StatusText(status)
	}
	msg := e.Message
	if msg == "" {
		msg = e.Upper
	}
	apiErr := &APIError{Operation: operation, Status: status, Code: code, Message: msg}
	for _, r := range e.Reasons {
		apiErr.Reasons = append(apiErr.Reasons, r.Code)
	}
	return apiErr
}
