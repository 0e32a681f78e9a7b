package codec_test

import (
	"encoding/json"
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
	if _, err := codec.DecodeJSON([]byte(`{`)); err == nil {
		t.Error("truncated JSON decoded")
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
