// Package state keeps what decisions share across every Lambda instance:
// rate-limit counters, session histories and task bindings, in one
// DynamoDB table (or, for
// bundle tests and local runs, in process). Both stores keep the same
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
	// Record adds one call of tool, with its labels, at now to the history
	// under key, forgotten at expires unless recorded to again. Counts and
	// labels are added atomically; the list of tools is prev's, read before
	// deciding, plus tool, and keeps the last keep.
	Record(ctx context.Context, key string, prev History, tool string, labels []string, now, expires time.Time, keep int) error
}

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

// Record writes one call with one UpdateItem: ADD for the counts and the
// label set, so that concurrent calls of one session lose nothing there.
func (d *DynamoDB) Record(ctx context.Context, key string, prev History, tool string, labels []string, now, expires time.Time, keep int) error {
	names := map[string]string{"#c": AttrCalls, "#f": AttrFirst, "#l": AttrLast, "#t": AttrTools, "#x": AttrExpires}
	values := awsenv.Item{
		":one": awsenv.N("1"),
		":now": awsenv.N(strconv.FormatInt(now.UnixMilli(), 10)),
		":x":   awsenv.N(strconv.FormatInt(expires.Unix(), 10)),
	}
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
	for _, t := range lastTools(prev.Tools, tool, keep) {
		list = append(list, awsenv.S(t))
	}
	values[":t"] = awsenv.Value{L: list}
	_, err := d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                 d.table,
		Key:                       awsenv.Item{AttrKey: awsenv.S(key)},
		UpdateExpression:          "ADD " + strings.Join(add, ", ") + " SET #f = if_not_exists(#f, :now), #l = :now, #t = :t, #x = :x",
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("record session in DynamoDB table %s: %w", d.table, err)
	}
	return nil
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

	mu       sync.Mutex
	counts   map[string]memoryCount
	sessions map[string]memorySession
	tasks    map[string]memoryTask
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

// History implements Sessions.
func (m *Memory) History(_ context.Context, key string) (History, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok || m.now().After(s.expires) {
		return newHistory(), nil
	}
	h := s.h
	h.Labels, h.Tools, h.LabelCalls = slices.Clone(h.Labels), slices.Clone(h.Tools), maps.Clone(h.LabelCalls)
	return h, nil
}

// Record implements Sessions.
func (m *Memory) Record(_ context.Context, key string, prev History, tool string, labels []string, now, expires time.Time, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[string]memorySession{}
	}
	s, ok := m.sessions[key]
	if !ok || m.now().After(s.expires) {
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
	s.h.Last, s.h.Tools, s.expires = now, lastTools(prev.Tools, tool, keep), expires
	m.sessions[key] = s
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
