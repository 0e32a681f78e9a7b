package awsenv_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/toolgate/toolgate/internal/awsenv"
)

var creds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
})

// TestCall: a signed JSON-protocol request; throttling and server errors
// are retried twice, client errors never; a refused condition, or a
// transaction cancelled only by conditions and conflicts, is
// ErrConditionFailed.
func TestCall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int // status of each attempt; the last one's body decides
		body     string
		attempts int32
		want     string // "" for success, else a part of the error; "condition" for ErrConditionFailed
	}{
		{"ok", []int{200}, `{"Item":{"pk":{"S":"k"}}}`, 1, ""},
		{"a server error, then ok", []int{500, 200}, `{"Item":{"pk":{"S":"k"}}}`, 2, ""},
		{"throttled twice, then ok", []int{400, 400, 200}, `{"Item":{"pk":{"S":"k"}}}`, 3, ""},
		{"throttled three times", []int{400, 400, 400}, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`, 3, "ProvisionedThroughputExceededException: slow down (HTTP 400)"},
		{"a client error is not retried", []int{400}, `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}`, 1, "GetItem: ValidationException: bad key (HTTP 400)"},
		{"a refused condition", []int{400}, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`, 1, "condition"},
		{"a transaction cancelled by a condition", []int{400}, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"The conditional request failed"}]}`, 1, "condition"},
		{"a transaction cancelled by another", []int{400}, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"TransactionConflict"},{"Code":"None"}]}`, 1, "condition"},
		{"a transaction cancelled by throttling is an error", []int{400}, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed"},{"Code":"ThrottlingError"}]}`, 1, "TransactionCanceledException"},
		{"a transaction cancelled for no reason given is an error", []int{400}, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled"}`, 1, "TransactionCanceledException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				if r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.GetItem" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
					!strings.Contains(r.Header.Get("Authorization"), "Credential=AKID/") || !strings.Contains(r.Header.Get("Authorization"), "/dynamodb/aws4_request") {
					t.Errorf("request headers %v", r.Header)
				}
				status := tc.answers[min(i, len(tc.answers)-1)]
				w.WriteHeader(status)
				if status == 400 && i < len(tc.answers)-1 {
					_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}`))
					return
				}
				if i == len(tc.answers)-1 {
					_, _ = w.Write([]byte(tc.body))
				}
			}))
			defer srv.Close()
			db := awsenv.NewDynamoDB("us-east-1", srv.URL, creds, nil)
			out, err := db.Do(context.Background(), "GetItem", &awsenv.Request{TableName: "t", Key: awsenv.Item{"pk": awsenv.S("k")}})
			switch {
			case tc.want == "" && (err != nil || out.Item["pk"].S == nil || *out.Item["pk"].S != "k"):
				t.Errorf("got %+v, %v", out, err)
			case tc.want == "condition" && !errors.Is(err, awsenv.ErrConditionFailed):
				t.Errorf("got %v, want ErrConditionFailed", err)
			case tc.want != "" && tc.want != "condition" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if got := n.Load(); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
		})
	}
}

// TestCallStopsWithContext: no retry outlives the caller's deadline.
func TestCallStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db := awsenv.NewDynamoDB("us-east-1", srv.URL, creds, nil)
	if _, err := db.Do(ctx, "GetItem", &awsenv.Request{TableName: "t"}); err == nil {
		t.Fatal("a cancelled call succeeded")
	}
}
