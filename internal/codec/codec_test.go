package codec_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/codec"
)

func TestJSON(t *testing.T) {
	v, err := codec.DecodeJSON([]byte(`{"n":2.50,"big":12345678901234567890,"s":"<b>&"}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.(map[string]any)["n"]; n != json.Number("2.50") {
		t.Errorf("number %#v, want it as sent", n)
	}
	out, err := codec.MarshalJSON(v)
	if err != nil || string(out) != `{"big":12345678901234567890,"n":2.50,"s":"<b>&"}` {
		t.Errorf("%s %v", out, err)
	}
	// As encoding/json: the last duplicate wins, bad UTF-8 is U+FFFD, and
	// what follows the first value is not read.
	v, err = codec.DecodeJSON([]byte("{\"a\":[1,true,null,{}],\"a\":[\"x\xff\",\"\\ud800\",-0.5e3,false]} trailing"))
	if got, _ := codec.MarshalJSON(v); err != nil || string(got) != `{"a":["x�","�",-0.5e3,false]}` {
		t.Errorf("%s, %v", got, err)
	}
	for _, in := range []string{`{`, `{"SECRET":}`, `[1,SECRET]`, `{"a" "SECRET"}`} {
		if _, err := codec.DecodeJSON([]byte(in)); err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type doc struct {
		Name string `json:"name"`
	}
	for _, tt := range []struct{ in, err string }{
		{"name: a\n", ""},
		{"name: a\nnmae: b\n", `unknown field "nmae"`},
		{"name: a\nname: b\n", `key "name" already set`},
		{"name: a\n---\nname: b\n", "line 2: more than one YAML document"},
		{"name: a\n--- # next\nname: b\n", "more than one"},
	} {
		var d doc
		err := codec.DecodeStrict([]byte(tt.in), &d)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.err)
		}
	}
	for line, want := range map[string]bool{"---": true, "--- \r\n": true, "--- # c": true, "----": false, " ---": false, "a: ---": false} {
		if codec.IsSeparator([]byte(line)) != want {
			t.Errorf("IsSeparator(%q) != %v", line, want)
		}
	}
}

// TestUnmarshalJSON: the one-pass decoder reads what encoding/json reads
// (the last duplicate wins, bad UTF-8 is U+FFFD), matches names exactly,
// and its errors, which reach the caller, never quote the input.
func TestUnmarshalJSON(t *testing.T) {
	type msg struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	for _, tt := range []struct {
		in   string
		want msg
		err  string
	}{
		{in: `{"method":"a","method":"b"}`, want: msg{Method: "b"}},
		{in: `{"method":"\ud800x"}`, want: msg{Method: "\uFFFDx"}},
		{in: "{\"method\":\"\xffx\"}", want: msg{Method: "\uFFFDx"}},
		{in: `{"Method":"a"}`, want: msg{}},
		{in: `{"params": {"a" : 1}}`, want: msg{Params: json.RawMessage(`{"a" : 1}`)}},
		{in: `{"method":"SECRET`, err: "unexpected end of JSON input"},
		{in: `{"method":1}`, err: "cannot decode JSON number at byte 10 into string"},
		{in: `{"SECRET":tru}`, err: "invalid JSON at byte"},
		{in: `{"method":"a"} SECRET`, err: "invalid JSON at byte"},
	} {
		var got msg
		err := codec.UnmarshalJSON([]byte(tt.in), &got)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "SECRET")):
			t.Errorf("%s: error %v, want %q without the input", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got.Method != tt.want.Method || string(got.Params) != string(tt.want.Params)):
			t.Errorf("%s: %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestMarshalIsEncodingJSON: Marshal gives encoding/json's bytes, raw
// messages with blanks and HTML characters, line separators, maps and
// omitted fields included; invalid UTF-8 is the one difference.
func TestMarshalIsEncodingJSON(t *testing.T) {
	type inner struct {
		Body   json.RawMessage `json:"body,omitempty"`
		Status int             `json:"statusCode"`
	}
	type outer struct {
		Version string            `json:"version"`
		Inner   *inner            `json:"inner,omitempty"`
		Headers map[string]string `json:"headers,omitempty"`
		Nil     *inner            `json:"nil,omitempty"`
	}
	for _, v := range []any{
		outer{Version: "1.0", Inner: &inner{Body: json.RawMessage(`{ "a" : [1, 2.50, "<b>&"] ,"z":null }`), Status: 200}},
		outer{Version: "x\u2028y<>&", Headers: map[string]string{"b": "2", "a": "<1>"}},
		map[string]any{"n": 1e21, "f": 0.1, "s": []any{"é", true, nil}},
		json.RawMessage(`  "only"  `),
	} {
		want, werr := json.Marshal(v)
		got, gerr := codec.Marshal(v)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%#v) = %s, %v; encoding/json gives %s, %v", v, got, gerr, want, werr)
		}
	}
	// Invalid UTF-8: the same value, the replacement character unescaped.
	if got, _ := codec.Marshal("y\xff"); string(got) != "\"y\ufffd\"" {
		t.Errorf("Marshal of invalid UTF-8 = %s", got)
	}
	if _, err := codec.Marshal(json.RawMessage(`{"a":`)); err == nil {
		t.Error("a raw message that is not JSON was encoded")
	}
}

// TestUnmarshalAnyIsEncodingJSON: UnmarshalAny decodes as encoding/json's
// Unmarshal into an any does, and fails where it fails.
func TestUnmarshalAnyIsEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"b":[true,null,"x\u00e9\ud83d\ude00",-0,1e2,0.1,12345678901234567],"c":{"d":{}},"e":[]}`,
		`{"a":1,"a":{"b":2}}`, `"\ud800"`, "\"\xff\"", `[1,2]`, `3`, `null`,
		`{"a":1e400}`, `{"a":1} x`, `{"a":1}{}`, `{"a":`, ``, ` {"a" : 1 } `,
	} {
		var want any
		werr := json.Unmarshal([]byte(in), &want)
		b := []byte(in)
		got, gerr := codec.UnmarshalAny(b)
		if (werr != nil) != (gerr != nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("UnmarshalAny(%q) = %#v, %v; encoding/json gives %#v, %v", in, got, gerr, want, werr)
		}
		// Both decoders parse the caller's bytes in place: the message
		// they came from is passed on, and must be as it was sent.
		_, _ = codec.DecodeJSON(b)
		if string(b) != in {
			t.Errorf("decoding %q changed it to %q", in, b)
		}
	}
}

// TestEscapedLen: what Marshal writes of a raw message is never longer
// than EscapedLen says.
func TestEscapedLen(t *testing.T) {
	for _, raw := range []string{`{"a":"x"}`, `{"a":"<<>>&&"}`, `{ "a" : "<b>" , "c": [1, 2] }`, `"` + strings.Repeat("<", 1000) + `"`,
		"\"\u2028\u2029<\""} {
		out, err := codec.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if n := codec.EscapedLen([]byte(raw)); len(out) > n {
			t.Errorf("%s: written in %d bytes, EscapedLen %d", raw, len(out), n)
		}
	}
	if n := codec.EscapedLen([]byte(`"<>&"`)); n != 20 {
		t.Errorf("EscapedLen = %d, want 20", n)
	}
}
