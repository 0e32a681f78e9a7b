package codec_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/codec"
)

// FuzzDecodeJSON holds the one-pass decoders to encoding/json, which the
// rest of the code (and kyverno-json) was written against: where
// encoding/json reads a value, they read the same value, and where it
// refuses one, they refuse it too.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[1,"x",true,null,{"b":[]}]`, "\"\xff\xed\xa0\x80\"", `"\ud800\udc00\ud800"`,
		`{"n":-0.5e3} x`, `1 2`, `{"a":`, `{"a" 1}`, `{"method":"tools/call","params":{"name":"t","arguments":{"k":1e400}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		wantErr := dec.Decode(&want)
		got, err := codec.DecodeJSON(b)
		if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeJSON(%q) = %#v, %v; encoding/json: %#v, %v", b, got, err, want, wantErr)
		}
		var wantMap, gotMap map[string]any
		wantErr = json.Unmarshal(b, &wantMap)
		err = codec.UnmarshalJSON(b, &gotMap)
		if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(gotMap, wantMap) {
			t.Fatalf("UnmarshalJSON(%q) = %#v, %v; encoding/json: %#v, %v", b, gotMap, err, wantMap, wantErr)
		}
		var wantAny any
		wantErr = json.Unmarshal(b, &wantAny)
		gotAny, err := codec.UnmarshalAny(b)
		if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(gotAny, wantAny) {
			t.Fatalf("UnmarshalAny(%q) = %#v, %v; encoding/json: %#v, %v", b, gotAny, err, wantAny, wantErr)
		}
	})
}

// FuzzMarshalJSON holds MarshalJSON, which writes decoded values without
// reflection, to encoding/json's Encoder without HTML escaping: the same
// bytes for every decoded value, every string (invalid UTF-8 included) and
// every json.Number, valid or not.
func FuzzMarshalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x\u2028<&>"],"c":{}}`, `[]`, `"\u0000\b\f\n\r\t\u001f\"\\"`, `{"z":{"y":{"x":[{"b":0,"a":-1.5e+3}]}}}`} {
		f.Add([]byte(s), "\xff\xfe\u2029", "1e5")
	}
	f.Add([]byte(`null`), "", "")
	f.Add([]byte(`{}`), "a\x7fb", "-01")
	f.Fuzz(func(t *testing.T, b []byte, s, number string) {
		reference := func(v any) ([]byte, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			err := enc.Encode(v)
			return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
		}
		values := []any{s, json.Number(number), map[string]any{s: []any{json.Number(number), s}}, []any(nil), map[string]any(nil)}
		if v, err := codec.DecodeJSON(b); err == nil {
			values = append(values, v, map[string]any{s: v})
		}
		for _, v := range values {
			got, err := codec.MarshalJSON(v)
			want, wantErr := reference(v)
			if (err == nil) != (wantErr == nil) || err == nil && !bytes.Equal(got, want) {
				t.Fatalf("MarshalJSON(%#v) = %s, %v; encoding/json: %s, %v", v, got, err, want, wantErr)
			}
		}
	})
}
