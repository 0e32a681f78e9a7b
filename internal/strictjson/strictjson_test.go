package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/strictjson"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		in   string
		opts strictjson.Options
		want error
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a___b","arguments":{"x":[1,{"y":null}]}}}`, strictjson.Options{MaxDepth: 5, ExactNumbers: true}, nil},
		{`"just a string"`, strictjson.Options{}, nil},
		{`{"a":1,"a":2}`, strictjson.Options{}, strictjson.ErrDuplicateKey},
		{`{"params":{},"Params":{}}`, strictjson.Options{}, strictjson.ErrDuplicateKey},
		{`{"name":"x","na\u006de":"y"}`, strictjson.Options{}, strictjson.ErrDuplicateKey},
		{`{"params":{},"param\u017f":{}}`, strictjson.Options{}, strictjson.ErrDuplicateKey}, // long s folds to s
		{`{"kind":1,"\u212aind":2}`, strictjson.Options{}, strictjson.ErrDuplicateKey},       // Kelvin sign folds to k
		{`{"a":{"b":1},"b":{"a":1}}`, strictjson.Options{}, nil},                             // same keys, other objects
		{`[{"a":1},{"a":1}]`, strictjson.Options{}, nil},
		{`{"a":"a","b":"a"}`, strictjson.Options{}, nil}, // equal values are not keys
		{`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"K3":3}`, strictjson.Options{}, strictjson.ErrDuplicateKey},
		{`{"s":"\ud83d\ude00"}`, strictjson.Options{}, nil},
		{`{"s":"\ud800"}`, strictjson.Options{}, strictjson.ErrUnicode},
		{`{"s":"\udc00x"}`, strictjson.Options{}, strictjson.ErrUnicode},
		{`{"s":"\ud800\u0041"}`, strictjson.Options{}, strictjson.ErrUnicode},
		{`{"s":"\ud800\n"}`, strictjson.Options{}, strictjson.ErrUnicode},
		{"{\"s\":\"\xff\"}", strictjson.Options{}, strictjson.ErrUnicode},
		{`]`, strictjson.Options{}, strictjson.ErrSyntax},
		{`{"a":[1,"x",true,false,null,{}]}`, strictjson.Options{MaxValues: 8}, nil},
		{`{"a":[1,"x",true,false,null,{}]}`, strictjson.Options{MaxValues: 7}, strictjson.ErrValues},
		{`{"a":[1.5e3,-2]}`, strictjson.Options{MaxValues: 4}, nil},
		{`{"a":[1.5e3,-2]}`, strictjson.Options{MaxValues: 3}, strictjson.ErrValues},
		{`"abc`, strictjson.Options{}, strictjson.ErrSyntax},
		{deep(64), strictjson.Options{MaxDepth: 64}, nil},
		{deep(65), strictjson.Options{MaxDepth: 64}, strictjson.ErrDepth},
		{deep(5000), strictjson.Options{}, nil},
		{`{"n":9007199254740992,"m":-9007199254740992,"f":0.1,"e":1e300,"z":-0}`, strictjson.Options{ExactNumbers: true}, nil},
		{`{"n":9007199254740993}`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`{"n":-9007199254740993}`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`{"n":100000000000000000000000}`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`{"n":100000000000000000000000}`, strictjson.Options{}, nil},
		{`{"n":1e400}`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[1e400]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		// Fractions and exponents: the literal must be the double it reads
		// as, in its shortest form; a decimal parser would read the others
		// as another number than the policies see.
		{`[19.99,0.1,1e21,1E-7,2.50,100.000,-0.0,0e5,123456789012345.6,0.30000000000000004,5e-324,1.7976931348623157e308]`, strictjson.Options{ExactNumbers: true}, nil},
		{`[12345678901234567.0]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[12345678901234567e0]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[4111111111111111.1]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[0.1000000000000000001]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[1e-400]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[1.00000000000000011102230246251565404236316680908203125]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[1e99999999999]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		// strconv stops reading an exponent past 10000 digits' worth and
		// reads this as 1; Python and JavaScript read infinity.
		{`[0.` + strings.Repeat("0", 9999) + `1e1000000]`, strictjson.Options{ExactNumbers: true}, strictjson.ErrNumber},
		{`[0.` + strings.Repeat("0", 9999) + `1e10000]`, strictjson.Options{ExactNumbers: true}, nil},
		{`[0.1000000000000000001]`, strictjson.Options{}, nil},
	}
	for _, tt := range tests {
		if got := strictjson.Check([]byte(tt.in), tt.opts); !errors.Is(got, tt.want) {
			t.Errorf("Check(%.60s, %+v) = %v, want %v", tt.in, tt.opts, got, tt.want)
		}
	}
}

// reference is Check written the slow, obvious way with encoding/json's
// tokenizer, to test Check against.
func reference(b []byte, maxDepth, maxValues int) error {
	if !json.Valid(b) {
		return strictjson.ErrSyntax
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   []string
		key    bool // the next string is a key
	}
	var stack []*frame
	values := 0
	count := func() error {
		values++
		if maxValues > 0 && values > maxValues {
			return strictjson.ErrValues
		}
		return nil
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return strictjson.ErrSyntax
		}
		top := func() *frame {
			if len(stack) == 0 {
				return nil
			}
			return stack[len(stack)-1]
		}
		isKey := top() != nil && top().object && top().key
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if err := count(); err != nil {
					return err
				}
				if f := top(); f != nil && f.object {
					f.key = true
				}
				stack = append(stack, &frame{object: v == '{', key: v == '{'})
				if maxDepth > 0 && len(stack) > maxDepth {
					return strictjson.ErrDepth
				}
			default:
				stack = stack[:len(stack)-1]
				if f := top(); f != nil && f.object {
					f.key = true
				}
			}
			continue
		case string:
			if isKey {
				for _, k := range top().keys {
					if strings.EqualFold(k, v) {
						return strictjson.ErrDuplicateKey
					}
				}
				top().keys = append(top().keys, v)
				top().key = false
				continue
			}
		}
		if err := count(); err != nil {
			return err
		}
		if f := top(); f != nil && f.object {
			f.key = true
		}
	}
}

// FuzzCheck compares Check with the reference on every valid UTF-8 JSON text
// without surrogate escapes, where the two must agree on duplicates and depth.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"a":{"b":[{"c":1,"C":2}]}}`, `[[[[]]]]`, `{"\u212a":1,"k":2}`, `{"x":"y","y":"x"}`, `{"a\"b":1,"A\"B":1}`} {
		f.Add([]byte(s), 3, 5)
	}
	f.Fuzz(func(t *testing.T, b []byte, depth, values int) {
		depth %= 8
		values %= 16
		got := strictjson.Check(b, strictjson.Options{MaxDepth: depth, MaxValues: values})
		if !json.Valid(b) || bytes.Contains(b, []byte(`\u`)) || bytes.Contains(b, []byte(`\U`)) {
			return // surrogates are Check's alone; the rest is compared
		}
		want := reference(b, depth, values)
		if errors.Is(got, strictjson.ErrUnicode) {
			return
		}
		// Both stop at the first problem; they may meet a different one
		// first, but must agree on whether there is one.
		if (got == nil) != (want == nil) {
			t.Fatalf("Check(%q, %d, %d) = %v, reference %v", b, depth, values, got, want)
		}
	})
}

func BenchmarkCheck2KB(b *testing.B) {
	var args strings.Builder
	for i := range 40 {
		args.WriteString(`"key` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":"value value value",`)
	}
	msg := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"github___create-issue","arguments":{` + args.String() + `"n":12345}}}`)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := strictjson.Check(msg, strictjson.Options{MaxDepth: 64, ExactNumbers: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckCount: the values counted are what a decoder makes of the
// text, member names aside.
func TestCheckCount(t *testing.T) {
	for in, want := range map[string]int{`1`: 1, `[]`: 1, `{}`: 1, `[1,{"a":"b"},true]`: 5, `{"a":{"b":[null,"x"]},"c":-1.5}`: 6} {
		if n, err := strictjson.CheckCount([]byte(in), strictjson.Options{}); err != nil || n != want {
			t.Errorf("CheckCount(%s) = %d, %v; want %d", in, n, err, want)
		}
	}
}
