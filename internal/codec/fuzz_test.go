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
