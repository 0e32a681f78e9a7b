// Package state keeps what decisions share across every Lambda instance:
// rate-limit counters, in one DynamoDB table (or, for bundle tests and local
// runs, in process). Both stores keep the same contract, and the same tests
// run against both.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/toolgate/toolgate/pkg/awsenv"
)

// Counter counts calls per key.
type Counter interface {
	// Hit counts one call against key unless key has counted limit calls
	// already, atomically across every caller of every instance. A key is
	// one window of one limit: the caller puts the window in it. expires is
	// when the count may be forgotten. Hit returns the count after the call
	// (limit when it was refused) and whether the call was counted.
	Hit(ctx context.Context, key string, limit int64, expires time.Time) (count int64, ok bool, err error)
}

// Table attribute names: the partition key, the count, and the expiry that
// the table's time-to-live setting reads (epoch seconds).
const (
	AttrKey     = "pk"
	AttrCount   = "n"
	AttrExpires = "expires"
)

// DynamoDB is a Counter in a DynamoDB table whose partition key is the
// string AttrKey. It is safe for concurrent use.
type DynamoDB struct {
	client *dynamodb.Client
	table  string
}

// NewDynamoDB returns the store in table, reached through client.
func NewDynamoDB(client *dynamodb.Client, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table}
}

// FromEnv returns the store in table with a client configured by the
// Lambda environment (see awsenv; AWS_ENDPOINT_URL_DYNAMODB overrides the
// endpoint). The SDK's retries stay on: a throttled request is retried
// within the caller's deadline.
func FromEnv(getenv func(string) string, table string, hc *http.Client) (*DynamoDB, error) {
	region, err := awsenv.Region(getenv)
	if err != nil {
		return nil, err
	}
	endpoint, err := awsenv.Endpoint(getenv, "DYNAMODB")
	if err != nil {
		return nil, fmt.Errorf("DynamoDB %w", err)
	}
	opts := dynamodb.Options{Region: region, Credentials: awsenv.Credentials(getenv), HTTPClient: hc}
	if endpoint != "" {
		opts.BaseEndpoint = aws.String(endpoint)
	}
	return NewDynamoDB(dynamodb.New(opts), table), nil
}

// Hit adds one to the count with a conditional UpdateItem: the condition
// refuses the update once the count has reached limit, so concurrent
// callers never count past it.
func (d *DynamoDB) Hit(ctx context.Context, key string, limit int64, expires time.Time) (int64, bool, error) {
	out, err := d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &d.table,
		Key:                      map[string]types.AttributeValue{AttrKey: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression:         aws.String("ADD #n :one SET #x = if_not_exists(#x, :x)"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :limit"),
		ExpressionAttributeNames: map[string]string{"#n": AttrCount, "#x": AttrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":limit": &types.AttributeValueMemberN{Value: strconv.FormatInt(limit, 10)},
			":x":     &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return limit, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: %w", d.table, err)
	}
	n, ok := out.Attributes[AttrCount].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: no count in the answer", d.table)
	}
	count, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: %w", d.table, err)
	}
	return count, true, nil
}

// Memory is a Counter in process, for bundle tests and local runs: the
// contract of DynamoDB within one process. It is safe for concurrent use.
type Memory struct {
	// Now is the clock expiry is judged by (default time.Now).
	Now func() time.Time

	mu     sync.Mutex
	counts map[string]memoryCount
}

type memoryCount struct {
	n       int64
	expires time.Time
}

// Hit implements Counter.
func (m *Memory) Hit(_ context.Context, key string, limit int64, expires time.Time) (int64, bool, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]memoryCount{}
	}
	c, ok := m.counts[key]
	if ok && now().After(c.expires) {
		c = memoryCount{} // a table's TTL would have removed it
	}
	if c.n >= limit {
		return limit, false, nil
	}
	if c.n == 0 {
		c.expires = expires
	}
	c.n++
	m.counts[key] = c
	return c.n, true, nil
}
