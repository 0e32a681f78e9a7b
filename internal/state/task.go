package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/codec"
)

// Task is what a task id is bound to: the tools/call that created it, as
// it was allowed. A task's later messages (tasks/get, tasks/result,
// tasks/cancel, tasks/update) are only for its caller, and its result is
// judged as that call's.
type Task struct {
	// Principal and Actor are the caller's principal id and acting agent.
	Principal, Actor string
	// Tool is the wire name of the tool called; Arguments its arguments.
	Tool      string
	Arguments map[string]any
	// Approved says the call ran on an approval (it was granted once, and
	// its results are the grant's).
	Approved bool
}

// ErrTaskTaken is the error of BindTask when the id is bound to another
// call of the same caller already: a target that reuses task ids.
var ErrTaskTaken = errors.New("the task id is bound to another call")

// Tasks binds task ids to the calls that created them. Ids are bound per
// caller (principal and actor): targets choose them, and one caller's ids
// can neither take nor block another's.
type Tasks interface {
	// BindTask binds id, for t's caller, to t until expires. Binding the
	// same call again (a retried answer) succeeds; another call's binding
	// is refused with ErrTaskTaken.
	BindTask(ctx context.Context, id string, t Task, expires time.Time) error
	// Task returns the call id is bound to for the caller principal and
	// actor, and false when it is bound to none (never, or no longer).
	Task(ctx context.Context, principal, actor, id string) (Task, bool, error)
}

// Table attributes of a task binding.
const (
	attrTaskPrincipal = "tp"
	attrTaskActor     = "ta"
	attrTaskTool      = "tt"
	attrTaskArguments = "targs"
	attrTaskApproved  = "tapp"
)

// taskKey is the partition key of task id's binding for a caller: a digest,
// so that no id or principal can pass for another's.
func taskKey(principal, actor, id string) string {
	b, _ := json.Marshal([]string{principal, actor, id})
	sum := sha256.Sum256(b)
	return "task#" + hex.EncodeToString(sum[:])
}

// BindTask implements Tasks with a conditional UpdateItem: the item is
// written if it is absent, expired, or the same call's.
func (d *DynamoDB) BindTask(ctx context.Context, id string, t Task, expires time.Time) error {
	args, err := codec.Canonical(t.Arguments)
	if err != nil {
		return fmt.Errorf("bind task: %w", err)
	}
	_, err = d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:        d.table,
		Key:              awsenv.Item{AttrKey: awsenv.S(taskKey(t.Principal, t.Actor, id))},
		UpdateExpression: "SET #p = :p, #a = :a, #t = :t, #args = :args, #app = :app, #x = :x",
		ConditionExpression: "attribute_not_exists(#p) OR #x < :now OR " +
			"(#p = :p AND #a = :a AND #t = :t AND #args = :args)",
		ExpressionAttributeNames: map[string]string{"#p": attrTaskPrincipal, "#a": attrTaskActor, "#t": attrTaskTool,
			"#args": attrTaskArguments, "#app": attrTaskApproved, "#x": AttrExpires},
		ExpressionAttributeValues: awsenv.Item{
			":p": awsenv.S(t.Principal), ":a": awsenv.S(t.Actor), ":t": awsenv.S(t.Tool), ":args": awsenv.S(string(args)),
			":app": awsenv.N(map[bool]string{false: "0", true: "1"}[t.Approved]),
			":x":   awsenv.N(strconv.FormatInt(expires.Unix(), 10)), ":now": awsenv.N(strconv.FormatInt(time.Now().Unix(), 10)),
		},
	})
	if errors.Is(err, awsenv.ErrConditionFailed) {
		return ErrTaskTaken
	}
	if err != nil {
		return fmt.Errorf("bind task in DynamoDB table %s: %w", d.table, err)
	}
	return nil
}

// Task implements Tasks with a consistent read. An item past its expiry
// is no binding, whether or not the table's time-to-live removed it yet.
func (d *DynamoDB) Task(ctx context.Context, principal, actor, id string) (Task, bool, error) {
	out, err := d.client.Do(ctx, "GetItem", &awsenv.Request{
		TableName:      d.table,
		Key:            awsenv.Item{AttrKey: awsenv.S(taskKey(principal, actor, id))},
		ConsistentRead: true,
	})
	if err != nil {
		return Task{}, false, fmt.Errorf("read task from DynamoDB table %s: %w", d.table, err)
	}
	it := out.Item
	str := func(name string) (string, bool) {
		if v, ok := it[name]; ok && v.S != nil {
			return *v.S, true
		}
		return "", false
	}
	p, okP := str(attrTaskPrincipal)
	a, okA := str(attrTaskActor)
	tool, okT := str(attrTaskTool)
	args, okArgs := str(attrTaskArguments)
	x, okX := it[AttrExpires]
	if !okP || !okA || !okT || !okArgs || !okX || x.N == nil {
		return Task{}, false, nil
	}
	if exp, err := strconv.ParseInt(*x.N, 10, 64); err != nil || time.Now().Unix() > exp {
		return Task{}, false, nil
	}
	t := Task{Principal: p, Actor: a, Tool: tool}
	if v, ok := it[attrTaskApproved]; ok && v.N != nil {
		t.Approved = *v.N == "1"
	}
	decoded, err := codec.DecodeJSON([]byte(args))
	if t.Arguments, _ = decoded.(map[string]any); err != nil || t.Arguments == nil {
		return Task{}, false, fmt.Errorf("read task from DynamoDB table %s: its arguments are not an object", d.table)
	}
	return t, true, nil
}

type memoryTask struct {
	t       Task
	args    string
	expires time.Time
}

// BindTask implements Tasks.
func (m *Memory) BindTask(_ context.Context, id string, t Task, expires time.Time) error {
	args, err := codec.Canonical(t.Arguments)
	if err != nil {
		return fmt.Errorf("bind task: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tasks == nil {
		m.tasks = map[string]memoryTask{}
	}
	key := taskKey(t.Principal, t.Actor, id)
	if old, ok := m.tasks[key]; ok && !m.now().After(old.expires) &&
		(old.t.Principal != t.Principal || old.t.Actor != t.Actor || old.t.Tool != t.Tool || old.args != string(args)) {
		return ErrTaskTaken
	}
	m.tasks[key] = memoryTask{t: t, args: string(args), expires: expires}
	return nil
}

// Task implements Tasks.
func (m *Memory) Task(_ context.Context, principal, actor, id string) (Task, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mt, ok := m.tasks[taskKey(principal, actor, id)]
	if !ok || m.now().After(mt.expires) {
		return Task{}, false, nil
	}
	decoded, err := codec.DecodeJSON([]byte(mt.args))
	t := mt.t
	t.Arguments, _ = decoded.(map[string]any)
	return t, err == nil, err
}
