package decisionlog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/decisionlog"
)

// TestRecordLogsAsItsSchema: a record logged through slog's JSON handler
// reads back as the same record, so the JSON tags (the documented schema)
// and the logged field names cannot drift apart.
func TestRecordLogsAsItsSchema(t *testing.T) {
	full := decisionlog.Record{
		SchemaVersion: decisionlog.SchemaVersion,
		DecisionID:    "0123456789abcdef0123456789abcdef",
		TraceID:       "1-6741b2a0-0123456789abcdef01234567",
		RequestID:     "c6af9ac6-7b61-11e6-9a41-93e812345678",
		SessionID:     "session-1",
		Phase:         "response",
		Method:        "tools/call",
		Principal:     &decisionlog.Principal{ID: "user-1", Type: "user", ClientID: "client-1", Actor: "agent-1"},
		Tool:          &decisionlog.Tool{Target: "ops", Name: "restart", Operation: "write", Risk: "high"},
		Environment:   "production",
		Result:        decisionlog.Deny,
		Repeat:        true,
		Reason:        "no",
		Code:          -32001,
		Policies:      []decisionlog.Policy{{Name: "p", Rule: "r", Mode: "enforce", Kind: "violation", Message: "no", Detail: "tool.risk"}},
		Bundle:        decisionlog.Bundle{Source: "embedded", Digest: "sha256:ab"},
		ArgsSHA256:    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		Arguments:     map[string]any{"q": "x"},
		ToolsHidden:   2,
		Hidden:        []string{"a___b", "c___d"},
		Redactions:    map[string]int{"email": 3},
		LatencyUS:     17,
	}
	minimal := decisionlog.Record{SchemaVersion: 1, DecisionID: "d", Phase: "request", Result: decisionlog.Allow}
	for _, rec := range []decisionlog.Record{full, minimal} {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info(decisionlog.Message, slog.Any("", &rec))
		var got decisionlog.Record
		dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("logged\n%s\nread back %+v\nwant      %+v", buf.Bytes(), got, rec)
		}
		// Every logged field is a schema field (plus slog's own three).
		var fields map[string]any
		_ = json.Unmarshal(buf.Bytes(), &fields)
		schema := map[string]bool{"time": true, "level": true, "msg": true}
		for i := range reflect.TypeFor[decisionlog.Record]().NumField() {
			tag, _, _ := bytes.Cut([]byte(reflect.TypeFor[decisionlog.Record]().Field(i).Tag.Get("json")), []byte(","))
			schema[string(tag)] = true
		}
		for k := range fields {
			if !schema[k] {
				t.Errorf("logged field %q is not in the schema", k)
			}
		}
	}
}

func TestLevel(t *testing.T) {
	for result, want := range map[string]slog.Level{
		decisionlog.Allow: slog.LevelInfo, decisionlog.AuditDeny: slog.LevelWarn,
		decisionlog.Deny: slog.LevelWarn, decisionlog.Error: slog.LevelError,
	} {
		if got := (&decisionlog.Record{Result: result}).Level(); got != want {
			t.Errorf("%s: %s, want %s", result, got, want)
		}
	}
}
