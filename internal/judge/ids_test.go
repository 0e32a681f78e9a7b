package judge

import (
	"encoding/json"
	"testing"
)

// TestEchoesID: an answer's id is the request's when a client would file it
// under the request: the same string, or the same number (whatever its
// form, within 2^53 where doubles keep integers exact, or the same text).
func TestEchoesID(t *testing.T) {
	for _, tt := range []struct {
		answer any
		req    string
		want   bool
	}{
		{nil, `5`, true},
		{"a", `"a"`, true},
		{"1", `"\u0031"`, true},
		{"1", `1`, false},
		{json.Number("1"), `"1"`, false},
		{json.Number("5"), ` 5 `, true},
		{json.Number("5.0"), `5`, true},
		{json.Number("5e0"), `5`, true},
		{json.Number("-0"), `0`, true},
		{json.Number("77"), `5`, false},
		{json.Number("9007199254740992"), `9007199254740993`, false}, // alike as doubles, not to Python
		{json.Number("12345678901234567890"), `12345678901234567890`, true},
		{json.Number("1e400"), `1e400`, true}, // beyond a double: the same text
		{json.Number("5"), ``, false},         // a notification has no answer
		{true, `true`, false},
	} {
		if got := echoesID(tt.answer, json.RawMessage(tt.req)); got != tt.want {
			t.Errorf("echoesID(%#v, %s) = %v, want %v", tt.answer, tt.req, got, tt.want)
		}
	}
}
