package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/awsenv"
)

// PinState is what the state table knows of one tool's definition.
type PinState struct {
	// Pin is the digest of the first definition seen (trust on first
	// use); "" when none was recorded.
	Pin string
	// Changed is the digest of the last definition seen that differs
	// from the tool's pin (the bundle's, or the first seen), since
	// ChangedAt; "" when the last one seen was the pin.
	Changed   string
	ChangedAt time.Time
}

// Pins keeps the definitions seen of tools, by wire name, shared by every
// instance.
type Pins interface {
	// PinStates returns the states of names; a name without one has the
	// zero state.
	PinStates(ctx context.Context, names []string) (map[string]PinState, error)
	// PinFirst records digest as name's pin unless it has one already,
	// atomically across every instance, and returns the pin in force: the
	// first definition seen wins, and is never replaced.
	PinFirst(ctx context.Context, name, digest string, now time.Time) (string, error)
	// SeeDefinition records that name's definition was seen as digest
	// while its pin is pin. A digest other than the pin is recorded as
	// the change, and first reports whether this digest was not the
	// change recorded already (so that one instance says it first); the
	// pin itself clears a change recorded before.
	SeeDefinition(ctx context.Context, name, pin, digest string, now time.Time) (first bool, err error)
}

// Table attributes of a tool's definition.
const (
	attrPinName      = "dn"
	attrPin          = "dp"
	attrPinAt        = "dpa"
	attrPinChanged   = "dc"
	attrPinChangedAt = "dca"
)

// pinKey is the partition key of name's definitions: a digest, so that
// any name makes a key of one length.
func pinKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "pin#" + hex.EncodeToString(sum[:16])
}

// batchGetMax is the most keys one BatchGetItem reads.
const batchGetMax = 100

// PinStates implements Pins with consistent BatchGetItems of at most 100
// keys, reading again the keys DynamoDB leaves unprocessed.
func (d *DynamoDB) PinStates(ctx context.Context, names []string) (map[string]PinState, error) {
	out := make(map[string]PinState, len(names))
	byKey := make(map[string]string, len(names))
	var keys []awsenv.Item
	for _, n := range names {
		k := pinKey(n)
		if _, dup := byKey[k]; !dup {
			byKey[k] = n
			keys = append(keys, awsenv.Item{AttrKey: awsenv.S(k)})
		}
	}
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), batchGetMax)]
		keys = keys[len(chunk):]
		for attempt := 0; len(chunk) > 0; attempt++ {
			if attempt == 5 {
				return nil, fmt.Errorf("read tool definitions from DynamoDB table %s: keys left unprocessed", d.table)
			}
			resp, err := d.client.Do(ctx, "BatchGetItem", &awsenv.Request{
				RequestItems: map[string]awsenv.Keys{d.table: {Keys: chunk, ConsistentRead: true}},
			})
			if err != nil {
				return nil, fmt.Errorf("read tool definitions from DynamoDB table %s: %w", d.table, err)
			}
			for _, it := range resp.Responses[d.table] {
				if k := it[AttrKey]; k.S != nil {
					if name, ok := byKey[*k.S]; ok {
						out[name] = pinStateOf(it)
					}
				}
			}
			chunk = resp.UnprocessedKeys[d.table].Keys
			if len(chunk) > 0 {
				select {
				case <-ctx.Done():
					return nil, fmt.Errorf("read tool definitions from DynamoDB table %s: %w", d.table, ctx.Err())
				case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
				}
			}
		}
	}
	return out, nil
}

func pinStateOf(it awsenv.Item) PinState {
	var p PinState
	if v := it[attrPin]; v.S != nil {
		p.Pin = *v.S
	}
	if v := it[attrPinChanged]; v.S != nil {
		p.Changed = *v.S
	}
	if v := it[attrPinChangedAt]; v.N != nil {
		if ms, err := strconv.ParseInt(*v.N, 10, 64); err == nil {
			p.ChangedAt = time.UnixMilli(ms).UTC()
		}
	}
	return p
}

// PinFirst implements Pins with an UpdateItem that sets the pin only if
// absent.
func (d *DynamoDB) PinFirst(ctx context.Context, name, digest string, now time.Time) (string, error) {
	out, err := d.client.Do(ctx, "UpdateItem", &awsenv.Request{
		TableName:                 d.table,
		Key:                       awsenv.Item{AttrKey: awsenv.S(pinKey(name))},
		UpdateExpression:          "SET #p = if_not_exists(#p, :d), #pa = if_not_exists(#pa, :now), #n = :n",
		ExpressionAttributeNames:  map[string]string{"#p": attrPin, "#pa": attrPinAt, "#n": attrPinName},
		ExpressionAttributeValues: awsenv.Item{":d": awsenv.S(digest), ":now": millis(now), ":n": awsenv.S(name)},
		ReturnValues:              "ALL_NEW",
	})
	if err != nil {
		return "", fmt.Errorf("pin a tool's definition in DynamoDB table %s: %w", d.table, err)
	}
	p := out.Attributes[attrPin]
	if p.S == nil {
		return "", fmt.Errorf("pin a tool's definition in DynamoDB table %s: no pin in the answer", d.table)
	}
	return *p.S, nil
}

// SeeDefinition implements Pins with a conditional UpdateItem: a change
// is written when it is not the one recorded, and cleared when there is
// one.
func (d *DynamoDB) SeeDefinition(ctx context.Context, name, pin, digest string, now time.Time) (bool, error) {
	req := &awsenv.Request{
		TableName:                d.table,
		Key:                      awsenv.Item{AttrKey: awsenv.S(pinKey(name))},
		ExpressionAttributeNames: map[string]string{"#c": attrPinChanged, "#ca": attrPinChangedAt},
	}
	if digest == pin {
		req.UpdateExpression, req.ConditionExpression = "REMOVE #c, #ca", "attribute_exists(#c)"
	} else {
		req.UpdateExpression = "SET #c = :d, #ca = :now, #n = :n"
		req.ConditionExpression = "attribute_not_exists(#c) OR #c <> :d"
		req.ExpressionAttributeNames["#n"] = attrPinName
		req.ExpressionAttributeValues = awsenv.Item{":d": awsenv.S(digest), ":now": millis(now), ":n": awsenv.S(name)}
	}
	_, err := d.client.Do(ctx, "UpdateItem", req)
	if errors.Is(err, awsenv.ErrConditionFailed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record a tool's definition in DynamoDB table %s: %w", d.table, err)
	}
	return digest != pin, nil
}

// PinStates implements Pins.
func (m *Memory) PinStates(_ context.Context, names []string) (map[string]PinState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]PinState, len(names))
	for _, n := range names {
		if p, ok := m.pins[n]; ok {
			out[n] = p
		}
	}
	return out, nil
}

// PinFirst implements Pins.
func (m *Memory) PinFirst(_ context.Context, name, digest string, _ time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins == nil {
		m.pins = map[string]PinState{}
	}
	p := m.pins[name]
	if p.Pin == "" {
		p.Pin = digest
		m.pins[name] = p
	}
	return p.Pin, nil
}

// SeeDefinition implements Pins.
func (m *Memory) SeeDefinition(_ context.Context, name, pin, digest string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins == nil {
		m.pins = map[string]PinState{}
	}
	p := m.pins[name]
	if digest == pin {
		p.Changed, p.ChangedAt = "", time.Time{}
		m.pins[name] = p
		return false, nil
	}
	if p.Changed == digest {
		return false, nil
	}
	p.Changed, p.ChangedAt = digest, now.UTC().Truncate(time.Millisecond)
	m.pins[name] = p
	return true, nil
}
