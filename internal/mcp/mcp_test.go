package mcp_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/mcp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		err          error
		method       string
		id           any
		notification bool
	}{
		{"call", `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`, nil, "tools/call", float64(7), false},
		{"zero id", `{"jsonrpc":"2.0","id":0,"method":"ping"}`, nil, "ping", float64(0), false},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"ping"}`, nil, "ping", "a", false},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil, "ping", nil, false},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, "notifications/initialized", nil, true},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, mcp.ErrBatch, "", nil, false},
		{"not object", `"x"`, mcp.ErrNotObject, "", nil, false},
		{"no method", `{"jsonrpc":"2.0","id":1}`, mcp.ErrNoMethod, "", nil, false},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":3}`, mcp.ErrNoMethod, "", nil, false},
		{"method in other case", `{"jsonrpc":"2.0","id":1,"Method":"ping"}`, mcp.ErrMemberCase, "", nil, false},
		{"another case of a member is refused", `{"jsonrpc":"2.0","id":1,"method":"tools/call","METHOD":"ping"}`, mcp.ErrMemberCase, "", nil, false},
		{"params in another case alone", `{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"x"}}`, mcp.ErrMemberCase, "", nil, false},
		{"tools method in other case", `{"jsonrpc":"2.0","id":1,"method":"Tools/Call"}`, mcp.ErrMethodCase, "", nil, false},
		{"float id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, nil, "ping", 1.5, false},
		{"negative id", `{"jsonrpc":"2.0","id":-3,"method":"ping"}`, nil, "ping", float64(-3), false},
		{"array id", `{"jsonrpc":"2.0","id":[1],"method":"ping"}`, mcp.ErrInvalidID, "", nil, false},
		{"jsonrpc not a string", `{"jsonrpc":2,"id":1,"method":"ping"}`, mcp.ErrNotObject, "", nil, false},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, mcp.ErrInvalidID, "", nil, false},
		{"bool id", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, mcp.ErrInvalidID, "", nil, false},
		{"client's result", `{"jsonrpc":"2.0","id":"srv-1","result":{"action":"accept"}}`, nil, "", "srv-1", false},
		{"client's error", `{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}`, nil, "", float64(4), false},
		{"result and error", `{"jsonrpc":"2.0","id":4,"result":{},"error":{}}`, mcp.ErrNoMethod, "", nil, false},
		{"result without id", `{"jsonrpc":"2.0","result":{}}`, mcp.ErrNoMethod, "", nil, false},
		{"result with empty method", `{"jsonrpc":"2.0","id":1,"method":"","result":{}}`, mcp.ErrNoMethod, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mcp.Parse([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			kind := map[bool]string{true: mcp.KindResponse, false: mcp.KindRequest}[tt.method == ""]
			if tt.notification {
				kind = mcp.KindNotification
			}
			if m.Kind() != kind {
				t.Errorf("kind %q, want %q", m.Kind(), kind)
			}
			if m.Method != tt.method || !reflect.DeepEqual(m.IDValue(), tt.id) || m.IsNotification() != tt.notification {
				t.Errorf("got method %q id %#v notification %v", m.Method, m.IDValue(), m.IsNotification())
			}
		})
	}
}

func TestParseToolCall(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want mcp.ToolCall
		err  error
	}{
		{"full", `{"name":"k8s___get-pod","arguments":{"pod":"a"}}`, mcp.ToolCall{Name: "k8s___get-pod", Arguments: map[string]any{"pod": "a"}}, nil},
		{"a name of the longest", `{"name":"github___get_` + strings.Repeat("x", 256-len("github___get_")) + `"}`,
			mcp.ToolCall{Name: "github___get_" + strings.Repeat("x", 256-len("github___get_")), Arguments: map[string]any{}}, nil},
		{"a name too long to store or record", `{"name":"github___get_` + strings.Repeat("x", 257-len("github___get_")) + `"}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"other-case members refused", `{"name":"docs___read","Name":"k8s___delete-pod","arguments":{},"Arguments":{"x":1}}`, mcp.ToolCall{}, mcp.ErrMemberCase},
		{"arguments in another case alone", `{"name":"t","Arguments":{"issues":["*"]}}`, mcp.ToolCall{}, mcp.ErrMemberCase},
		{"arguments with a long s", `{"name":"t","argumentſ":{"issues":["*"]}}`, mcp.ToolCall{}, mcp.ErrMemberCase},
		{"a name with a Kelvin sign is no member of the protocol", `{"name":"t","Kelvin":1}`, mcp.ToolCall{Name: "t", Arguments: map[string]any{}}, nil},
		{"no arguments", `{"name":"t"}`, mcp.ToolCall{Name: "t", Arguments: map[string]any{}}, nil},
		{"null arguments", `{"name":"t","arguments":null}`, mcp.ToolCall{Name: "t", Arguments: map[string]any{}}, nil},
		{"array arguments", `{"name":"t","arguments":[1]}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"string arguments", `{"name":"t","arguments":"{}"}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"no name", `{"arguments":{}}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"empty name", `{"name":""}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"number name", `{"name":7}`, mcp.ToolCall{}, mcp.ErrToolName},
		{"number arguments", `{"name":"t","arguments":1}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"true arguments", `{"name":"t","arguments":true}`, mcp.ToolCall{}, mcp.ErrToolArguments},
		{"params array", `[]`, mcp.ToolCall{}, mcp.ErrParams},
		{"params absent", ``, mcp.ToolCall{}, mcp.ErrParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mcp.ParseToolCall([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSplitToolName(t *testing.T) {
	tests := []struct{ in, target, tool string }{
		{"k8s___delete-pod", "k8s", "delete-pod"},
		{"a___b___c", "a", "b___c"},
		{"x_amz_bedrock_agentcore_search", "", "x_amz_bedrock_agentcore_search"},
		{"___tool", "", "tool"},
		{"target___", "target", ""},
		{"a__b", "", "a__b"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if target, tool := mcp.SplitToolName(tt.in); target != tt.target || tool != tt.tool {
			t.Errorf("SplitToolName(%q) = %q, %q; want %q, %q", tt.in, target, tool, tt.target, tt.tool)
		}
	}
}

func TestInspectName(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"k8s___delete-pod", []string{}},
		{"x_amz_bedrock_agentcore_search", []string{}},
		{"github___create_issue", []string{}},
		{"k8s___dеlete-pod", []string{mcp.NameNonASCII, mcp.NameMixedScripts}}, // Cyrillic е
		{"кубер___get", []string{mcp.NameNonASCII, mcp.NameMixedScripts}},
		{"докс___читать", []string{mcp.NameNonASCII}}, // one script, not ASCII
		{"k8s___get\u200b-pod", []string{mcp.NameNonASCII, mcp.NameInvisible}},
		{"k8s___get\u202e-pod", []string{mcp.NameNonASCII, mcp.NameInvisible}},
		{"k8s___get\ufeff", []string{mcp.NameNonASCII, mcp.NameInvisible}},
		{"k8s___get\x00pod", []string{mcp.NameControl}},
		{"k8s___get\npod", []string{mcp.NameControl}},
		{"k8s___get pod", []string{mcp.NameWhitespace}},
		{"k8s___get\u00a0pod", []string{mcp.NameNonASCII, mcp.NameWhitespace}},
		{"k8s___e\u0301", []string{mcp.NameNonASCII, mcp.NameCombining}},
		{"k8s___get\ufe0f", []string{mcp.NameNonASCII, mcp.NameCombining}},
		{"k8s___get\ufffd", []string{mcp.NameNonASCII, mcp.NameReplacement}},
		{"k8s___get\xff", []string{mcp.NameNonASCII, mcp.NameReplacement}}, // invalid UTF-8 decodes as U+FFFD
		{"___delete-pod", []string{mcp.NameSeparator}},
		{"k8s___", []string{mcp.NameSeparator}},
		{"a___b___c", []string{mcp.NameSeparator}},
		{"k8s____delete", []string{mcp.NameSeparator}},
		{"ｋ8s___get", []string{mcp.NameNonASCII}}, // fullwidth k: one script (Latin)
	}
	for _, tt := range tests {
		if got := mcp.InspectName(tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("InspectName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzToolName: splitting and inspecting any name never panics, the split
// loses nothing, and a name of plain ASCII identifier characters with one
// separator between non-empty parts is never suspicious.
func FuzzToolName(f *testing.F) {
	for _, s := range []string{"k8s___delete-pod", "x_amz_bedrock_agentcore_search", "a___b___c", "k8s___dеlete", "k8s___get\u200b", "____", "\xff___\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		target, tool := mcp.SplitToolName(name)
		if !strings.Contains(name, mcp.TargetSeparator) && (target != "" || tool != name) {
			t.Fatalf("no separator but split %q into %q + %q", name, target, tool)
		}
		if strings.Contains(name, mcp.TargetSeparator) && target+mcp.TargetSeparator+tool != name {
			t.Fatalf("split %q into %q + %q", name, target, tool)
		}
		reasons := mcp.InspectName(name)
		if reasons == nil {
			t.Fatal("nil reasons")
		}
		plain := true
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
				plain = false
			}
		}
		if plain && strings.Count(name, mcp.TargetSeparator) <= 1 && !strings.Contains(name, "____") &&
			!strings.HasPrefix(name, mcp.TargetSeparator) && !strings.HasSuffix(name, mcp.TargetSeparator) && len(reasons) > 0 {
			t.Fatalf("plain name %q flagged %v", name, reasons)
		}
		if !plain && !utf8.ValidString(name) && !slices.Contains(reasons, mcp.NameReplacement) {
			t.Fatalf("invalid UTF-8 %q not flagged: %v", name, reasons)
		}
	})
}

// TestMemberCaseReasonIsSteady: of several members named as protocol
// members but for case, the refusal names the same one every time, so
// one message always gets one reason (a map's order is random).
func TestMemberCaseReasonIsSteady(t *testing.T) {
	params := `{"name":"t","NAME":"u","Arguments":{},"_META":{},"inputresponses":{}}`
	for range 100 {
		_, err := mcp.ParseToolCall([]byte(params))
		if !errors.Is(err, mcp.ErrMemberCase) || !strings.HasSuffix(err.Error(), `: "Arguments"`) {
			t.Fatalf("got %v, want the first in sorted order, Arguments", err)
		}
	}
}

// FuzzIDValue holds IDValue to encoding/json's reading of the id.
func FuzzIDValue(f *testing.F) {
	for _, id := range []string{`1`, `-0`, `30`, `1e400`, `-1.5e-7`, `123456789012345678901234567890`, `"req-1"`, `""`, `"a\"b"`,
		`"\u00e9"`, "\"\xff\"", "\"é日\"", `"\t"`, "\"\t\"", `null`, ` 7 `, ` "x" `, `"\ud800"`, `"<&>"`} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !json.Valid([]byte(id)) {
			return // an id is a JSON value: Parse leaves no other
		}
		var want any
		if json.Unmarshal([]byte(id), &want) != nil {
			want = nil // 1e400
		}
		got := mcp.Message{ID: json.RawMessage(id)}.IDValue()
		if !reflect.DeepEqual(got, want) && !(isNaN(got) && isNaN(want)) {
			t.Errorf("IDValue(%q) = %#v, encoding/json reads %#v", id, got, want)
		}
	})
}

func isNaN(v any) bool { f, ok := v.(float64); return ok && f != f }
