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
// a nonce item per used in-band state refuses a replay; a requester item
// counts their requests against the limits; a forwarded item per binding
// counts the granted calls whose results the RESPONSE point may pass; a
// waiter item per approval holds the workflow's task token. Every item
// expires (the table's TTL attribute), and every read checks the expiry
// itself: DynamoDB deletes expired items late.
const (
	attrKey     = "pk"
	attrID      = "id"
	attrStatus  = "st"
	attrExpires = "expires"
	attrDoc     = "doc"
	attrBinding = "binding"
	attrVersion = "v"
	attrCount   = "n"
	attrToken   = "tt"

	prefixBinding   = "b#"
	prefixID        = "a#"
	prefixNonce     = "n#"
	prefixRequester = "p#"
	prefixForwarded = "f#"
	prefixWaiter    = "w#"
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

// Request implements Store. An approval alive for the binding is returned
// as it is; else the requester's limits are applied (an optimistic update
// of their item), and the approval is written with a conditional PutItem,
// only over no approval, a used one or an expired one.
func (d *DynamoDB) Request(ctx context.Context, a Approval, now time.Time, lim Limits) (Approval, bool, error) {
	old, err := d.byBinding(ctx, a.Binding)
	if err != nil {
		return Approval{}, false, err
	}
	if old.Alive(now) {
		return old, false, nil
	}
	it, err := item(a)
	if err != nil {
		return Approval{}, false, d.wrap("request approval", err)
	}
	if err := d.requests(ctx, a.Requester, now, func(r *requestsDoc) error {
		return reserve(r.Pending, &r.Count, &r.WindowStart, a.ID, a.Expires, now, lim)
	}); err != nil {
		return Approval{}, false, err
	}
	// The index item first: an index without its approval finds nothing
	// and expires; an approval without an index could not be decided.
	_, err = d.client.Do(ctx, "PutItem", &awsenv.Request{TableName: d.table, Item: awsenv.Item{
		attrKey: s(prefixID + a.ID), attrBinding: s(a.Binding), attrExpires: epoch(a.Expires.Add(a.Requirement.TTL() + time.Hour)),
	}})
	if err != nil {
		d.release(ctx, a.Requester, a.ID, now)
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
	d.release(ctx, a.Requester, a.ID, now) // not a new request after all, or none was made
	if !refused(err) {
		return Approval{}, false, d.wrap("request approval", err)
	}
	old, err = d.byBinding(ctx, a.Binding)
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

// Settle implements Store: the write is conditional on the item being
// unchanged since it was read (same id, still pending, unexpired), so that
// two approvers cannot both decide.
func (d *DynamoDB) Settle(ctx context.Context, a Approval, now time.Time) error {
	ok, err := d.update(ctx, a, Pending, now)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: it changed while deciding", ErrDecided)
	}
	d.release(ctx, a.Requester, a.ID, now)
	return nil
}

// requestsDoc is a requester item's document: what Limits count.
type requestsDoc struct {
	Pending     map[string]int64 `json:"pending"` // approval id → expiry, epoch seconds
	Count       int              `json:"count"`
	WindowStart int64            `json:"windowStart"`
}

// requests applies change to requester's item: read, changed and written
// back only if no one wrote it since (its version), tried again a few
// times when someone did. An error of change is returned as it is.
func (d *DynamoDB) requests(ctx context.Context, requester string, now time.Time, change func(*requestsDoc) error) error {
	k := key(prefixRequester + requester)
	for range 5 {
		out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{TableName: d.table, Key: k, ConsistentRead: true})
		if err != nil {
			return d.wrap("read requests", err)
		}
		doc, version := requestsDoc{}, "0"
		if out.Item != nil {
			if err := json.Unmarshal([]byte(deref(out.Item[attrDoc].S)), &doc); err != nil {
				return d.wrap("read requests", err)
			}
			version = deref(out.Item[attrVersion].N)
		}
		if doc.Pending == nil {
			doc.Pending = map[string]int64{}
		}
		if err := change(&doc); err != nil {
			return err
		}
		// The item lives as long as what it counts.
		expires := doc.WindowStart + int64(MaxWindow/time.Second)
		for _, exp := range doc.Pending {
			expires = max(expires, exp)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return d.wrap("write requests", err)
		}
		next, _ := strconv.ParseInt(version, 10, 64)
		it := awsenv.Item{attrKey: s(prefixRequester + requester), attrDoc: s(string(b)),
			attrVersion: awsenv.N(strconv.FormatInt(next+1, 10)), attrExpires: awsenv.N(strconv.FormatInt(max(expires, now.Unix()+60), 10))}
		_, err = d.client.Do(ctx, "PutItem", &awsenv.Request{
			TableName:                 d.table,
			Item:                      it,
			ConditionExpression:       "attribute_not_exists(#k) OR #v = :v",
			ExpressionAttributeNames:  map[string]string{"#k": attrKey, "#v": attrVersion},
			ExpressionAttributeValues: awsenv.Item{":v": awsenv.N(version)},
		})
		if !refused(err) {
			if err != nil {
				return d.wrap("write requests", err)
			}
			return nil
		}
	}
	return d.wrap("write requests", errors.New("too many concurrent requests; retry"))
}

// release frees approval id's place among requester's pending approvals.
// It is best effort: a place it fails to free frees itself when the
// approval expires.
func (d *DynamoDB) release(ctx context.Context, requester, id string, now time.Time) {
	_ = d.requests(ctx, requester, now, func(r *requestsDoc) error {
		if _, ok := r.Pending[id]; !ok {
			return errNothing
		}
		delete(r.Pending, id)
		return nil
	})
}

var errNothing = errors.New("nothing to change")

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// MarkForwarded implements Store: one more mark on the binding's item.
func (d *DynamoDB) MarkForwarded(ctx context.Context, binding string, expires time.Time) error {
	_, err := d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                 d.table,
		Key:                       key(prefixForwarded + binding),
		UpdateExpression:          "ADD #n :one SET #x = :exp",
		ExpressionAttributeNames:  map[string]string{"#n": attrCount, "#x": attrExpires},
		ExpressionAttributeValues: awsenv.Item{":one": awsenv.N("1"), ":exp": epoch(expires)},
	})
	if err != nil {
		return d.wrap("record forwarded call", err)
	}
	return nil
}

// TakeForwarded implements Store: one mark fewer, if there is one that has
// not expired, in one conditional write.
func (d *DynamoDB) TakeForwarded(ctx context.Context, binding string, now time.Time) (bool, error) {
	_, err := d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                 d.table,
		Key:                       key(prefixForwarded + binding),
		UpdateExpression:          "ADD #n :minus",
		ConditionExpression:       "#n > :zero AND #x > :now",
		ExpressionAttributeNames:  map[string]string{"#n": attrCount, "#x": attrExpires},
		ExpressionAttributeValues: awsenv.Item{":minus": awsenv.N("-1"), ":zero": awsenv.N("0"), ":now": epoch(now)},
	})
	if refused(err) {
		return false, nil
	}
	if err != nil {
		return false, d.wrap("use forwarded call", err)
	}
	return true, nil
}

// PeekForwarded implements Store with a consistent GetItem.
func (d *DynamoDB) PeekForwarded(ctx context.Context, binding string, now time.Time) (bool, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{TableName: d.table, Key: key(prefixForwarded + binding), ConsistentRead: true})
	if err != nil {
		return false, d.wrap("read forwarded call", err)
	}
	n, _ := strconv.ParseInt(deref(out.Item[attrCount].N), 10, 64)
	x, _ := strconv.ParseInt(deref(out.Item[attrExpires].N), 10, 64)
	return n > 0 && x > now.Unix(), nil
}

// SetWaiter implements Store with a conditional PutItem.
func (d *DynamoDB) SetWaiter(ctx context.Context, id, token string, expires time.Time) (bool, error) {
	_, err := d.client.Do(ctx, "PutItem", &awsenv.Request{
		TableName:                d.table,
		Item:                     awsenv.Item{attrKey: s(prefixWaiter + id), attrToken: s(token), attrExpires: epoch(expires)},
		ConditionExpression:      "attribute_not_exists(#k)",
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if refused(err) {
		return false, nil
	}
	if err != nil {
		return false, d.wrap("record waiter", err)
	}
	return true, nil
}

// Waiter implements Store.
func (d *DynamoDB) Waiter(ctx context.Context, id string) (string, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{TableName: d.table, Key: key(prefixWaiter + id), ConsistentRead: true})
	if err != nil {
		return "", d.wrap("read waiter", err)
	}
	return deref(out.Item[attrToken].S), nil
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
