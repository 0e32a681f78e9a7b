package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
)

// Table layout. One item per call binding holds the approval that stands
// for that call, so that requesting, deciding and consuming are each one
// conditional write on one item; an index item per id finds it for the CLI;
// a nonce item per used in-band state refuses a replay. Every item expires
// (the table's TTL attribute), and every read checks the expiry itself:
// DynamoDB deletes expired items late.
const (
	attrKey     = "pk"
	attrID      = "id"
	attrStatus  = "st"
	attrExpires = "expires"
	attrDoc     = "doc"
	attrBinding = "binding"

	prefixBinding = "b#"
	prefixID      = "a#"
	prefixNonce   = "n#"
)

// DynamoDB is a Store in a DynamoDB table whose partition key is the string
// "pk" and whose TTL attribute is "expires". It is safe for concurrent use.
type DynamoDB struct {
	client *awsenv.DynamoDB
	table  string
}

// NewDynamoDB returns the store in table, reached through client.
func NewDynamoDB(client *awsenv.DynamoDB, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table}
}

// FromEnv returns the store in table with a client configured by the
// Lambda environment (see awsenv).
func FromEnv(getenv func(string) string, table string, hc *http.Client) (*DynamoDB, error) {
	client, err := awsenv.DynamoDBFromEnv(getenv, hc)
	if err != nil {
		return nil, err
	}
	return NewDynamoDB(client, table), nil
}

func s(v string) awsenv.Value { return awsenv.S(v) }

func epoch(t time.Time) awsenv.Value { return awsenv.N(strconv.FormatInt(t.Unix(), 10)) }

func key(k string) awsenv.Item { return awsenv.Item{attrKey: s(k)} }

// item is a's item under its binding.
func item(a Approval) (awsenv.Item, error) {
	doc, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return awsenv.Item{
		attrKey: s(prefixBinding + a.Binding), attrID: s(a.ID), attrStatus: s(string(a.Status)),
		attrExpires: epoch(a.Expires), attrDoc: s(string(doc)),
	}, nil
}

func fromItem(it awsenv.Item) (Approval, error) {
	var a Approval
	doc := it[attrDoc].S
	if doc == nil {
		return a, errors.New("approval item without a document")
	}
	if err := json.Unmarshal([]byte(*doc), &a); err != nil {
		return a, fmt.Errorf("approval item: %w", err)
	}
	return a, nil
}

func refused(err error) bool { return errors.Is(err, awsenv.ErrConditionFailed) }

func (d *DynamoDB) wrap(op string, err error) error {
	return fmt.Errorf("%s in DynamoDB table %s: %w", op, d.table, err)
}

// byBinding reads the approval under binding, strongly consistent: a
// decision just made must be seen by the retry that follows it.
func (d *DynamoDB) byBinding(ctx context.Context, binding string) (Approval, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{TableName: d.table, Key: key(prefixBinding + binding), ConsistentRead: true})
	if err != nil {
		return Approval{}, d.wrap("read approval", err)
	}
	if out.Item == nil {
		return Approval{}, nil
	}
	a, err := fromItem(out.Item)
	if err != nil {
		return Approval{}, d.wrap("read approval", err)
	}
	return a, nil
}

// Request implements Store with a conditional PutItem: it writes only over
// no approval, a used one or an expired one.
func (d *DynamoDB) Request(ctx context.Context, a Approval, now time.Time) (Approval, bool, error) {
	it, err := item(a)
	if err != nil {
		return Approval{}, false, d.wrap("request approval", err)
	}
	// The index item first: an index without its approval finds nothing
	// and expires; an approval without an index could not be decided.
	_, err = d.client.Do(ctx, "PutItem", &awsenv.Request{TableName: d.table, Item: awsenv.Item{
		attrKey: s(prefixID + a.ID), attrBinding: s(a.Binding), attrExpires: epoch(a.Expires.Add(a.Requirement.TTL() + time.Hour)),
	}})
	if err != nil {
		return Approval{}, false, d.wrap("request approval", err)
	}
	_, err = d.client.Do(ctx, "PutItem", &awsenv.Request{
		TableName:                d.table,
		Item:                     it,
		ConditionExpression:      "attribute_not_exists(#k) OR #x <= :now OR #s = :used",
		ExpressionAttributeNames: map[string]string{"#k": attrKey, "#x": attrExpires, "#s": attrStatus},
		ExpressionAttributeValues: awsenv.Item{
			":now": epoch(now), ":used": s(string(Used)),
		},
	})
	if err == nil {
		return a, true, nil
	}
	if !refused(err) {
		return Approval{}, false, d.wrap("request approval", err)
	}
	old, err := d.byBinding(ctx, a.Binding)
	if err != nil {
		return Approval{}, false, err
	}
	if !old.Alive(now) {
		// Used or lapsed between the write and the read (or within the
		// second DynamoDB's expiry condition rounds to): the caller asks
		// again on the next call.
		return Approval{}, false, fmt.Errorf("request approval: the standing approval %s just ended; retry", old.ID)
	}
	return old, false, nil
}

// Consume implements Store: the grant becomes used with a conditional
// UpdateItem that only an approved, unexpired grant of that id passes, so
// that exactly one of concurrent retries gets it.
func (d *DynamoDB) Consume(ctx context.Context, binding string, now time.Time) (Approval, bool, error) {
	a, err := d.byBinding(ctx, binding)
	if err != nil {
		return Approval{}, false, err
	}
	if !a.Alive(now) || a.Status != Approved {
		return a, false, nil
	}
	used := a
	used.Status, used.UsedAt = Used, now
	ok, err := d.update(ctx, used, Approved, now)
	if err != nil || !ok {
		return a, false, err
	}
	return used, true, nil
}

// update writes a over its item if the item still holds the same approval
// in status from, unexpired at now. It reports whether it did.
func (d *DynamoDB) update(ctx context.Context, a Approval, from Status, now time.Time) (bool, error) {
	doc, err := json.Marshal(a)
	if err != nil {
		return false, d.wrap("update approval", err)
	}
	_, err = d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                d.table,
		Key:                      key(prefixBinding + a.Binding),
		UpdateExpression:         "SET #s = :to, #d = :doc, #x = :exp",
		ConditionExpression:      "#i = :id AND #s = :from AND #x > :now",
		ExpressionAttributeNames: map[string]string{"#s": attrStatus, "#d": attrDoc, "#x": attrExpires, "#i": attrID},
		ExpressionAttributeValues: awsenv.Item{
			":to": s(string(a.Status)), ":doc": s(string(doc)), ":exp": epoch(a.Expires),
			":id": s(a.ID), ":from": s(string(from)), ":now": epoch(now),
		},
	})
	if refused(err) {
		return false, nil
	}
	if err != nil {
		return false, d.wrap("update approval", err)
	}
	return true, nil
}

// Get implements Store.
func (d *DynamoDB) Get(ctx context.Context, id string) (Approval, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{TableName: d.table, Key: key(prefixID + id), ConsistentRead: true})
	if err != nil {
		return Approval{}, d.wrap("read approval "+id, err)
	}
	b := out.Item[attrBinding].S
	if b == nil {
		return Approval{}, ErrNotFound
	}
	a, err := d.byBinding(ctx, *b)
	if err != nil {
		return Approval{}, err
	}
	if a.ID != id {
		// A later request for the same call took the item over.
		return Approval{}, ErrNotFound
	}
	return a, nil
}

// List implements Store with a Scan: the table holds approvals that live
// minutes, so it stays small.
func (d *DynamoDB) List(ctx context.Context, now time.Time) ([]Approval, error) {
	var out []Approval
	req := &awsenv.Request{
		TableName:                d.table,
		FilterExpression:         "begins_with(#k, :b) AND #x > :now AND #s <> :used",
		ExpressionAttributeNames: map[string]string{"#k": attrKey, "#x": attrExpires, "#s": attrStatus},
		ExpressionAttributeValues: awsenv.Item{
			":b": s(prefixBinding), ":now": epoch(now), ":used": s(string(Used)),
		},
		ConsistentRead: true,
	}
	for {
		page, err := d.client.Do(ctx, "Scan", req)
		if err != nil {
			return nil, d.wrap("list approvals", err)
		}
		for _, it := range page.Items {
			a, err := fromItem(it)
			if err != nil {
				return nil, d.wrap("list approvals", err)
			}
			if a.Alive(now) {
				out = append(out, a)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		req.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sortApprovals(out)
	return out, nil
}

// Decide implements Store: the rules are checked on the item read, and the
// write is conditional on the item being unchanged since (same id, still
// pending, unexpired), so that two approvers cannot both decide.
func (d *DynamoDB) Decide(ctx context.Context, id string, dec Decision, now time.Time) (Approval, error) {
	a, err := d.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	if err := decide(&a, dec, now); err != nil {
		return a, err
	}
	ok, err := d.update(ctx, a, Pending, now)
	if err != nil {
		return Approval{}, err
	}
	if !ok {
		return Approval{}, fmt.Errorf("%w: it changed while deciding", ErrDecided)
	}
	return a, nil
}

// UseNonce implements Store with a conditional PutItem.
func (d *DynamoDB) UseNonce(ctx context.Context, nonce string, expires time.Time) error {
	_, err := d.client.Do(ctx, "PutItem", &awsenv.Request{
		TableName:                d.table,
		Item:                     awsenv.Item{attrKey: s(prefixNonce + nonce), attrExpires: epoch(expires)},
		ConditionExpression:      "attribute_not_exists(#k)",
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if refused(err) {
		return ErrReplayed
	}
	if err != nil {
		return d.wrap("record approval state", err)
	}
	return nil
}
