package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
)

// Quarantine is one caller held by a Containment document: every call of
// the key the containment watches is denied until Until.
type Quarantine struct {
	// Key is where the quarantine is kept: the containment's name and a
	// digest of the caller's key, never a principal id in the clear.
	Key string
	// Containment names the Containment document that began it.
	Containment string
	// Subject is the caller's key, field by field ("principal.id": "u-1"),
	// so that an operator can tell whom it holds.
	Subject map[string]string
	// Began and Until are when it began and when it ends.
	Began, Until time.Time
	// Denials is the count of denials that began it, in the window
	// counted under Counter.
	Denials int64
	Counter string
}

// Quarantines keeps the quarantines containment begins, shared by every
// instance.
type Quarantines interface {
	// Quarantine returns the quarantine under key, and false when none is
	// in force at now.
	Quarantine(ctx context.Context, key string, now time.Time) (Quarantine, bool, error)
	// BeginQuarantine keeps q unless a quarantine is in force under q.Key
	// at now, atomically across every instance: it reports whether it
	// began q, so that exactly one call says a quarantine began.
	BeginQuarantine(ctx context.Context, q Quarantine, now time.Time) (bool, error)
	// Quarantines lists the quarantines in force at now.
	Quarantines(ctx context.Context, now time.Time) ([]Quarantine, error)
	// LiftQuarantine ends the quarantine under key and forgets the
	// denials counted in the window that began it (else the next denial
	// would begin it again). It reports whether there was one.
	LiftQuarantine(ctx context.Context, key string) (bool, error)
}

// QuarantinePrefix begins every quarantine's key.
const QuarantinePrefix = "q#"

// Table attributes of a quarantine.
const (
	attrQuarantineContainment = "qc"
	attrQuarantineSubject     = "qs"
	attrQuarantineBegan       = "qb"
	attrQuarantineUntil       = "qu"
	attrQuarantineDenials     = "qn"
	attrQuarantineCounter     = "qk"
)

// BeginQuarantine implements Quarantines with a conditional UpdateItem:
// written when no quarantine is kept under the key, or it has ended.
func (d *DynamoDB) BeginQuarantine(ctx context.Context, q Quarantine, now time.Time) (bool, error) {
	subject, err := json.Marshal(q.Subject)
	if err != nil {
		return false, fmt.Errorf("begin quarantine: %w", err)
	}
	_, err = d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:           d.table,
		Key:                 awsenv.Item{AttrKey: awsenv.S(q.Key)},
		UpdateExpression:    "SET #c = :c, #s = :s, #b = :b, #u = :u, #n = :n, #k = :k, #x = :x",
		ConditionExpression: "attribute_not_exists(#u) OR #u <= :now",
		ExpressionAttributeNames: map[string]string{"#c": attrQuarantineContainment, "#s": attrQuarantineSubject,
			"#b": attrQuarantineBegan, "#u": attrQuarantineUntil, "#n": attrQuarantineDenials, "#k": attrQuarantineCounter, "#x": AttrExpires},
		ExpressionAttributeValues: awsenv.Item{
			":c": awsenv.S(q.Containment), ":s": awsenv.S(string(subject)), ":k": awsenv.S(q.Counter),
			":b": millis(q.Began), ":u": millis(q.Until), ":now": millis(now),
			":n": awsenv.N(strconv.FormatInt(q.Denials, 10)),
			// The table's time-to-live removes it a day after it ends.
			":x": awsenv.N(strconv.FormatInt(q.Until.Add(24*time.Hour).Unix(), 10)),
		},
	})
	if errors.Is(err, awsenv.ErrConditionFailed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("begin quarantine in DynamoDB table %s: %w", d.table, err)
	}
	return true, nil
}

// Quarantine implements Quarantines with a consistent read.
func (d *DynamoDB) Quarantine(ctx context.Context, key string, now time.Time) (Quarantine, bool, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{
		TableName:      d.table,
		Key:            awsenv.Item{AttrKey: awsenv.S(key)},
		ConsistentRead: true,
	})
	if err != nil {
		return Quarantine{}, false, fmt.Errorf("read quarantine from DynamoDB table %s: %w", d.table, err)
	}
	if len(out.Item) == 0 {
		return Quarantine{}, false, nil
	}
	q, err := quarantineOf(key, out.Item)
	if err != nil {
		return Quarantine{}, false, fmt.Errorf("read quarantine from DynamoDB table %s: %w", d.table, err)
	}
	return q, q.Until.After(now), nil
}

// Quarantines implements Quarantines with a Scan: an operator's listing,
// never a call's.
func (d *DynamoDB) Quarantines(ctx context.Context, now time.Time) ([]Quarantine, error) {
	req := &awsenv.Request{
		TableName:                 d.table,
		FilterExpression:          "begins_with(#k, :q) AND #u > :now",
		ExpressionAttributeNames:  map[string]string{"#k": AttrKey, "#u": attrQuarantineUntil},
		ExpressionAttributeValues: awsenv.Item{":q": awsenv.S(QuarantinePrefix), ":now": millis(now)},
		ConsistentRead:            true,
	}
	var list []Quarantine
	for {
		page, err := d.client.Do(ctx, "Scan", req)
		if err != nil {
			return nil, fmt.Errorf("list quarantines in DynamoDB table %s: %w", d.table, err)
		}
		for _, it := range page.Items {
			k := it[AttrKey]
			if k.S == nil {
				continue
			}
			q, err := quarantineOf(*k.S, it)
			if err != nil {
				return nil, fmt.Errorf("list quarantines in DynamoDB table %s: %w", d.table, err)
			}
			list = append(list, q)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		req.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sortQuarantines(list)
	return list, nil
}

// LiftQuarantine implements Quarantines: DeleteItem of the quarantine,
// then of the count that began it.
func (d *DynamoDB) LiftQuarantine(ctx context.Context, key string) (bool, error) {
	if !strings.HasPrefix(key, QuarantinePrefix) {
		return false, fmt.Errorf("lift quarantine: %q is not a quarantine's key", key)
	}
	out, err := d.client.Do(ctx, "DeleteItem", &awsenv.Request{
		TableName:    d.table,
		Key:          awsenv.Item{AttrKey: awsenv.S(key)},
		ReturnValues: "ALL_OLD",
	})
	if err != nil {
		return false, fmt.Errorf("lift quarantine in DynamoDB table %s: %w", d.table, err)
	}
	if len(out.Attributes) == 0 {
		return false, nil
	}
	if c := out.Attributes[attrQuarantineCounter]; c.S != nil && *c.S != "" {
		if _, err := d.client.Do(ctx, "DeleteItem", &awsenv.Request{TableName: d.table, Key: awsenv.Item{AttrKey: awsenv.S(*c.S)}}); err != nil {
			return true, fmt.Errorf("lift quarantine in DynamoDB table %s: the quarantine is lifted, but its count of denials is not: %w", d.table, err)
		}
	}
	return true, nil
}

// quarantineOf reads the quarantine item under key.
func quarantineOf(key string, it awsenv.Item) (Quarantine, error) {
	q := Quarantine{Key: key}
	str := func(name string) string {
		if v := it[name]; v.S != nil {
			return *v.S
		}
		return ""
	}
	num := func(name string) (int64, bool) {
		v := it[name]
		if v.N == nil {
			return 0, false
		}
		n, err := strconv.ParseInt(*v.N, 10, 64)
		return n, err == nil
	}
	began, okB := num(attrQuarantineBegan)
	until, okU := num(attrQuarantineUntil)
	if !okB || !okU {
		return q, fmt.Errorf("quarantine %s: no begin or end", key)
	}
	q.Began, q.Until = time.UnixMilli(began).UTC(), time.UnixMilli(until).UTC()
	q.Denials, _ = num(attrQuarantineDenials)
	q.Containment, q.Counter = str(attrQuarantineContainment), str(attrQuarantineCounter)
	if s := str(attrQuarantineSubject); s != "" {
		if err := json.Unmarshal([]byte(s), &q.Subject); err != nil {
			return q, fmt.Errorf("quarantine %s: its subject: %w", key, err)
		}
	}
	return q, nil
}

func millis(t time.Time) awsenv.Value { return awsenv.N(strconv.FormatInt(t.UnixMilli(), 10)) }

// sortQuarantines orders quarantines by containment, then by beginning.
func sortQuarantines(list []Quarantine) {
	slices.SortFunc(list, func(a, b Quarantine) int {
		if c := strings.Compare(a.Containment, b.Containment); c != 0 {
			return c
		}
		return a.Began.Compare(b.Began)
	})
}

// memoryQuarantines is Memory's part of Quarantines; Memory.mu guards it.
type memoryQuarantines map[string]Quarantine

// BeginQuarantine implements Quarantines.
func (m *Memory) BeginQuarantine(_ context.Context, q Quarantine, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.quarantines[q.Key]; ok && old.Until.After(now) {
		return false, nil
	}
	if m.quarantines == nil {
		m.quarantines = memoryQuarantines{}
	}
	m.quarantines[q.Key] = q
	return true, nil
}

// Quarantine implements Quarantines.
func (m *Memory) Quarantine(_ context.Context, key string, now time.Time) (Quarantine, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.quarantines[key]
	return q, ok && q.Until.After(now), nil
}

// Quarantines implements Quarantines.
func (m *Memory) Quarantines(_ context.Context, now time.Time) ([]Quarantine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var list []Quarantine
	for _, q := range m.quarantines {
		if q.Until.After(now) {
			list = append(list, q)
		}
	}
	sortQuarantines(list)
	return list, nil
}

// LiftQuarantine implements Quarantines.
func (m *Memory) LiftQuarantine(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.quarantines[key]
	if !ok {
		return false, nil
	}
	delete(m.quarantines, key)
	delete(m.counts, q.Counter)
	return true, nil
}
