// Package state keeps what decisions share across every Lambda instance:
// rate-limit counters, session histories, task bindings, quarantines and
// the tool definitions seen, in one DynamoDB table (or, for bundle tests
// and local runs, in process). Both stores keep the same
// contract, and the same tests run against both.
package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
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

// ErrNoStore is the error of a count or a history when no state table is
// configured.
var ErrNoStore = errors.New("no state table is configured (STATE_TABLE)")

// Store is everything decisions share.
type Store interface {
	Counter
	Sessions
	Tasks
	Quarantines
	Pins
}

// History is what one session has done so far.
type History struct {
	// Calls counts the calls recorded.
	Calls int64
	// Labels are the catalog labels of every tool called, sorted.
	Labels []string
	// LabelCalls counts the calls per label.
	LabelCalls map[string]int64
	// First and Last are when the first and the last call were recorded;
	// zero for a history without calls.
	First, Last time.Time
	// Tools are the last tools called, oldest first.
	Tools []string
}

// newHistory returns the history of a session without calls.
func newHistory() History {
	return History{Labels: []string{}, LabelCalls: map[string]int64{}, Tools: []string{}}
}

// Sessions keeps session histories.
type Sessions interface {
	// History returns the history under key (an empty one for a new key).
	History(ctx context.Context, key string) (History, error)
	// Record adds one call of tool, with its labels, at now, to the
	// histories of entries that have an expiry, keeping the last keep
	// tools, provided that no history of entries has changed since it
	// was read: all or nothing, atomically across every instance. When
	// one has changed it writes nothing and returns ErrChanged, and the
	// caller reads them again and decides again, so that a decision saw
	// every call recorded before its own.
	Record(ctx context.Context, entries []Entry, tool string, labels []string, now time.Time, keep int) error
}

// Entry is one history a call is recorded against.
type Entry struct {
	// Key is where the history is.
	Key string
	// Read is the history as the decision read it. Its Calls, which each
	// record adds one to, tells whether it has changed since.
	Read History
	// Expires is when the history may be forgotten unless recorded to
	// again; zero for a history that is only checked, not recorded to.
	Expires time.Time
}

// ErrChanged is the error of a Record that wrote nothing because a
// history changed after it was read.
var ErrChanged = errors.New("a session history changed while the call was decided")

// Table attribute names: the partition key, a counter's count, the expiry
// that the table's time-to-live setting reads (epoch seconds), and a
// session's calls, labels, per-label counts (prefix), first and last call
// (epoch milliseconds) and last tools.
const (
	AttrKey        = "pk"
	AttrCount      = "n"
	AttrExpires    = "expires"
	AttrCalls      = "calls"
	AttrLabels     = "labels"
	AttrLabelCalls = "lc#"
	AttrFirst      = "first"
	AttrLast       = "last"
	AttrTools      = "tools"
)

// DynamoDB is a Counter in a DynamoDB table whose partition key is the
// string AttrKey. It is safe for concurrent use.
type DynamoDB struct {
	client *awsenv.DynamoDB
	table  string
}

// NewDynamoDB returns the store in table, reached through client.
func NewDynamoDB(client *awsenv.DynamoDB, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table}
}

// FromEnv returns the store in table with a client configured by the
// Lambda environment (see awsenv; AWS_ENDPOINT_URL_DYNAMODB overrides the
// endpoint). A throttled request is retried within the caller's deadline.
func FromEnv(getenv func(string) string, table string, hc *http.Client) (*DynamoDB, error) {
	client, err := awsenv.DynamoDBFromEnv(getenv, hc)
	if err != nil {
		return nil, err
	}
	return NewDynamoDB(client, table), nil
}

// Hit adds one to the count with a conditional UpdateItem: the condition
// refuses the update once the count has reached limit, so concurrent
// callers never count past it.
func (d *DynamoDB) Hit(ctx context.Context, key string, limit int64, expires time.Time) (int64, bool, error) {
	out, err := d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                d.table,
		Key:                      awsenv.Item{AttrKey: awsenv.S(key)},
		UpdateExpression:         "ADD #n :one SET #x = if_not_exists(#x, :x)",
		ConditionExpression:      "attribute_not_exists(#n) OR #n < :limit",
		ExpressionAttributeNames: map[string]string{"#n": AttrCount, "#x": AttrExpires},
		ExpressionAttributeValues: awsenv.Item{
			":one":   awsenv.N("1"),
			":limit": awsenv.N(strconv.FormatInt(limit, 10)),
			":x":     awsenv.N(strconv.FormatInt(expires.Unix(), 10)),
		},
		ReturnValues: "UPDATED_NEW",
	})
	if errors.Is(err, awsenv.ErrConditionFailed) {
		return limit, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: %w", d.table, err)
	}
	n := out.Attributes[AttrCount].N
	if n == nil {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: no count in the answer", d.table)
	}
	count, err := strconv.ParseInt(*n, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("count in DynamoDB table %s: %w", d.table, err)
	}
	return count, true, nil
}

// History reads the history under key with a consistent read.
func (d *DynamoDB) History(ctx context.Context, key string) (History, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{
		TableName:      d.table,
		Key:            awsenv.Item{AttrKey: awsenv.S(key)},
		ConsistentRead: true,
	})
	if err != nil {
		return History{}, fmt.Errorf("read session from DynamoDB table %s: %w", d.table, err)
	}
	h := newHistory()
	for name, v := range out.Item {
		switch {
		case v.N != nil:
			n, _ := strconv.ParseInt(*v.N, 10, 64)
			switch {
			case name == AttrCalls:
				h.Calls = n
			case name == AttrFirst:
				h.First = time.UnixMilli(n).UTC()
			case name == AttrLast:
				h.Last = time.UnixMilli(n).UTC()
			case strings.HasPrefix(name, AttrLabelCalls):
				h.LabelCalls[strings.TrimPrefix(name, AttrLabelCalls)] = n
			}
		case v.SS != nil:
			if name == AttrLabels {
				h.Labels = append(h.Labels, v.SS...)
			}
		case v.L != nil:
			if name == AttrTools {
				for _, e := range v.L {
					if e.S != nil {
						h.Tools = append(h.Tools, *e.S)
					}
				}
			}
		}
	}
	slices.Sort(h.Labels)
	return h, nil
}

// Record writes one call with one TransactWriteItems: an update of each
// history recorded to and a check of each history only read, each on the
// condition that its count of calls is still the one read.
func (d *DynamoDB) Record(ctx context.Context, entries []Entry, tool string, labels []string, now time.Time, keep int) error {
	items := make([]awsenv.TransactItem, 0, len(entries))
	for _, e := range entries {
		item := &awsenv.Request{TableName: d.table, Key: awsenv.Item{AttrKey: awsenv.S(e.Key)},
			ExpressionAttributeNames: map[string]string{"#c": AttrCalls}, ConditionExpression: "attribute_not_exists(#c)"}
		values := awsenv.Item{}
		if e.Read.Calls > 0 {
			item.ConditionExpression = "#c = :read"
			values[":read"] = awsenv.N(strconv.FormatInt(e.Read.Calls, 10))
		}
		if e.Expires.IsZero() {
			if len(values) > 0 {
				item.ExpressionAttributeValues = values
			}
			items = append(items, awsenv.TransactItem{ConditionCheck: item})
			continue
		}
		item.UpdateExpression = recordUpdate(item.ExpressionAttributeNames, values, e, tool, labels, now, keep)
		item.ExpressionAttributeValues = values
		items = append(items, awsenv.TransactItem{Update: item})
	}
	_, err := d.client.Do(ctx, "TransactWriteItems", &awsenv.Request{TransactItems: items})
	if errors.Is(err, awsenv.ErrConditionFailed) {
		return ErrChanged
	}
	if err != nil {
		return fmt.Errorf("record session in DynamoDB table %s: %w", d.table, err)
	}
	return nil
}

// recordUpdate returns the update expression that adds one call to the
// history of e, with its names and values put in names and values: ADD
// for the counts and the label set, SET for the times and the last tools.
func recordUpdate(names map[string]string, values awsenv.Item, e Entry, tool string, labels []string, now time.Time, keep int) string {
	names["#f"], names["#l"], names["#t"], names["#x"] = AttrFirst, AttrLast, AttrTools, AttrExpires
	values[":one"] = awsenv.N("1")
	values[":now"] = awsenv.N(strconv.FormatInt(now.UnixMilli(), 10))
	values[":x"] = awsenv.N(strconv.FormatInt(e.Expires.Unix(), 10))
	add := []string{"#c :one"}
	if len(labels) > 0 {
		names["#labels"] = AttrLabels
		values[":labels"] = awsenv.Value{SS: labels}
		add = append(add, "#labels :labels")
	}
	for i, l := range labels {
		n := "#lc" + strconv.Itoa(i)
		names[n] = AttrLabelCalls + l
		add = append(add, n+" :one")
	}
	var list []awsenv.Value // never empty: it ends with tool
	for _, t := range lastTools(e.Read.Tools, tool, keep) {
		list = append(list, awsenv.S(t))
	}
	values[":t"] = awsenv.Value{L: list}
	return "ADD " + strings.Join(add, ", ") + " SET #f = if_not_exists(#f, :now), #l = :now, #t = :t, #x = :x"
}

// lastTools returns prev and tool, the last keep of them.
func lastTools(prev []string, tool string, keep int) []string {
	tools := append(slices.Clone(prev), tool)
	if len(tools) > keep {
		tools = tools[len(tools)-keep:]
	}
	return tools
}

// Memory is a Store in process, for bundle tests and local runs: the
// contract of DynamoDB within one process. It is safe for concurrent use.
type Memory struct {
	// Now is the clock expiry is judged by (default time.Now).
	Now func() time.Time

	mu          sync.Mutex
	counts      map[string]memoryCount
	sessions    map[string]memorySession
	tasks       map[string]memoryTask
	quarantines memoryQuarantines
	pins        map[string]PinState
}

type memorySession struct {
	h       History
	expires time.Time
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// session returns the session under key, unless it has none or it has
// expired (a table's TTL would have removed it). m.mu is held.
func (m *Memory) session(key string) (memorySession, bool) {
	s, ok := m.sessions[key]
	if !ok || m.now().After(s.expires) {
		return memorySession{}, false
	}
	return s, true
}

// History implements Sessions.
func (m *Memory) History(_ context.Context, key string) (History, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.session(key)
	if !ok {
		return newHistory(), nil
	}
	h := s.h
	h.Labels, h.Tools, h.LabelCalls = slices.Clone(h.Labels), slices.Clone(h.Tools), maps.Clone(h.LabelCalls)
	return h, nil
}

// Record implements Sessions.
func (m *Memory) Record(_ context.Context, entries []Entry, tool string, labels []string, now time.Time, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[string]memorySession{}
	}
	for _, e := range entries {
		if s, _ := m.session(e.Key); s.h.Calls != e.Read.Calls {
			return ErrChanged
		}
	}
	for _, e := range entries {
		if e.Expires.IsZero() {
			continue
		}
		s, ok := m.session(e.Key)
		if !ok {
			s = memorySession{h: newHistory()}
			s.h.First = now
		}
		s.h.Calls++
		for _, l := range labels {
			if !slices.Contains(s.h.Labels, l) {
				s.h.Labels = append(s.h.Labels, l)
			}
			s.h.LabelCalls[l]++
		}
		slices.Sort(s.h.Labels)
		s.h.Last, s.h.Tools, s.expires = now, lastTools(e.Read.Tools, tool, keep), e.Expires
		m.sessions[e.Key] = s
	}
	return nil
}

type memoryCount struct {
	n       int64
	expires time.Time
}

// Hit implements Counter.
func (m *Memory) Hit(_ context.Context, key string, limit int64, expires time.Time) (int64, bool, error) {
	now := m.now
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
