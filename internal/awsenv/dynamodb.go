package awsenv

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DynamoDB calls the few DynamoDB operations the function uses (GetItem,
// BatchGetItem, PutItem, UpdateItem, DeleteItem, TransactWriteItems, Scan)
// as signed JSON requests. The SDK's DynamoDB
// client cost 3.2 MB of binary and 0.7-1.6 ms of package init on every
// cold start for four operations.
type DynamoDB struct{ api Service }

// NewDynamoDB returns the client for region with credentials; endpoint ""
// is DynamoDB's own in the region.
func NewDynamoDB(region, endpoint string, credentials aws.CredentialsProvider, hc *http.Client) *DynamoDB {
	api := dynamoDB
	api.Region, api.Endpoint, api.Credentials, api.HTTP = region, endpoint, credentials, hc
	return &DynamoDB{api: api}
}

// dynamoDB is DynamoDB's JSON protocol.
var dynamoDB = Service{Name: "dynamodb", Target: "DynamoDB_20120810", Version: "1.0"}

// Item is a DynamoDB item, or a key, in the wire format.
type Item map[string]Value

// Value is an attribute value in DynamoDB's JSON: exactly one member set.
type Value struct {
	S  *string  `json:"S,omitempty"`
	N  *string  `json:"N,omitempty"`
	SS []string `json:"SS,omitempty"`
	L  []Value  `json:"L,omitempty"` // DynamoDB refuses an empty list here: send at least one
}

// S is a string value.
func S(s string) Value { return Value{S: &s} }

// N is a number value in its decimal spelling.
func N(n string) Value { return Value{N: &n} }

// ErrConditionFailed is a write refused by its condition expression.
var ErrConditionFailed = errors.New("the condition was not met")

// Request is the request of one operation; each uses the members it has.
type Request struct {
	TableName                 string            `json:"TableName,omitempty"`
	Key                       Item              `json:"Key,omitempty"`
	Item                      Item              `json:"Item,omitempty"`
	UpdateExpression          string            `json:"UpdateExpression,omitempty"`
	ConditionExpression       string            `json:"ConditionExpression,omitempty"`
	FilterExpression          string            `json:"FilterExpression,omitempty"`
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames,omitempty"`
	ExpressionAttributeValues Item              `json:"ExpressionAttributeValues,omitempty"`
	ReturnValues              string            `json:"ReturnValues,omitempty"`
	ConsistentRead            bool              `json:"ConsistentRead,omitempty"`
	ExclusiveStartKey         Item              `json:"ExclusiveStartKey,omitempty"`
	TransactItems             []TransactItem    `json:"TransactItems,omitempty"`
	// RequestItems are BatchGetItem's keys, by table.
	RequestItems map[string]Keys `json:"RequestItems,omitempty"`
}

// Keys are the keys of one table that BatchGetItem reads.
type Keys struct {
	Keys           []Item `json:"Keys"`
	ConsistentRead bool   `json:"ConsistentRead,omitempty"`
}

// TransactItem is one item of TransactWriteItems: exactly one member set,
// each a Request with a table, a key, a condition and, for Update, an
// update expression.
type TransactItem struct {
	Update         *Request `json:"Update,omitempty"`
	ConditionCheck *Request `json:"ConditionCheck,omitempty"`
}

// Response is what the operations answer.
type Response struct {
	Item             Item   `json:"Item"`
	Attributes       Item   `json:"Attributes"`
	Items            []Item `json:"Items"`
	LastEvaluatedKey Item   `json:"LastEvaluatedKey"`
	// Responses and UnprocessedKeys are BatchGetItem's, by table.
	Responses       map[string][]Item `json:"Responses"`
	UnprocessedKeys map[string]Keys   `json:"UnprocessedKeys"`
}

// Do runs operation ("GetItem", "PutItem", "UpdateItem",
// "TransactWriteItems", "Scan"). A write refused by its condition is
// ErrConditionFailed, and so is a transaction cancelled only by conditions
// or by a concurrent transaction on one of its items: either way, what
// was read has changed, and nothing was written.
func (d *DynamoDB) Do(ctx context.Context, operation string, req *Request) (*Response, error) {
	var out Response
	err := d.api.Call(ctx, operation, req, &out)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Code == "ConditionalCheckFailedException" || conflicted(apiErr)) {
		return nil, ErrConditionFailed
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// conflicted reports whether a transaction was cancelled only because
// its conditions failed or another transaction held one of its items.
func conflicted(e *APIError) bool {
	if e.Code != "TransactionCanceledException" || len(e.Reasons) == 0 {
		return false
	}
	for _, r := range e.Reasons {
		if r != "None" && r != "ConditionalCheckFailed" && r != "TransactionConflict" {
			return false
		}
	}
	return true
}
