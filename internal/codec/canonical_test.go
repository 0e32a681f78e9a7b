package codec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf16"
)

// referenceString is canonicalString written the obvious way, rune by rune.
func referenceString(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// randomString draws from the characters where the fast paths could go
// wrong: escapes, control characters, multi-byte and supplementary
// characters on both sides of the surrogate range, and invalid bytes.
func randomString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\uD7FF", "\uE000", "\uFFFD", "\uFFFF",
		"😀", "\U00010000", "\U0010FFFF", "\xff", "\xc3", "\xed\xa0\x80"}
	var b []byte
	for range r.IntN(8) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

func TestCanonicalStringMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		s := randomString(r)
		var b bytes.Buffer
		canonicalString(&b, s)
		if got, want := b.String(), referenceString(s); got != want {
			t.Fatalf("canonicalString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestCompareUTF16 holds the comparison to UTF-16 code unit order, which
// RFC 8785 sorts member names by.
func TestCompareUTF16(t *testing.T) {
	want := func(x, y string) int { return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y))) }
	for _, tt := range [][2]string{{"", ""}, {"a", ""}, {"a", "b"}, {"ab", "a"}, {"\uE000", "😀"}, {"\uFFFF", "\U00010000"},
		{"\uD7FF", "😀"}, {"😀", "😁"}, {"\U0010FFFF", "\U00010000"}, {"\xff", "\uFFFD"}, {"\xff", "\uFFFE"}} {
		if got := CompareUTF16(tt[0], tt[1]); got != want(tt[0], tt[1]) {
			t.Errorf("CompareUTF16(%q, %q) = %d, want %d", tt[0], tt[1], got, want(tt[0], tt[1]))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		x, y := randomString(r), randomString(r)
		if got := CompareUTF16(x, y); got != want(x, y) {
			t.Fatalf("CompareUTF16(%q, %q) = %d, want %d", x, y, got, want(x, y))
		}
	}
}

// TestArgsDigest pins the canonical form. The expected digests were
// computed independently: printf '%s' '<canonical JSON>' | sha256sum.
func TestArgsDigest(t *testing.T) {
	digest := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	// The canonical forms are RFC 8785's own examples (section 3.2.2 and
	// appendix B) and the cases this project's arguments raise.
	tests := []struct {
		in        string // JSON, decoded as the handler decodes arguments
		canonical string
	}{
		{`{}`, `{}`},
		{`{"b":[1,2.50,{"d":null,"c":true}],"a":"<x>&"}`, `{"a":"<x>&","b":[1,2.5,{"c":true,"d":null}]}`},
		{`{"n":2.50}`, `{"n":2.5}`},
		{`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001,-0,1e21,1e-7,100,0.000001]}`,
			`{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27,0,1e+21,1e-7,100,0.000001]}`},
		{`{"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","ls":"\u2028"}`, "{\"ls\":\"\u2028\",\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"},
		{`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
			"{\"\\r\":2,\"1\":4,\"\u0080\":6,\"ö\":7,\"€\":1,\"😀\":5,\"\ufb33\":3}"},
	}
	for _, tt := range tests {
		var args map[string]any
		if err := json.Unmarshal([]byte(tt.in), &args); err != nil {
			t.Fatal(err)
		}
		if got, want := ArgsDigest(args), digest(tt.canonical); got != want {
			t.Errorf("ArgsDigest(%s) = %s, want the digest of %s", tt.in, got, tt.canonical)
		}
	}
	if ArgsDigest(nil) != digest("{}") {
		t.Error("nil arguments digest as {}")
	}
	if got := ArgsDigest(map[string]any{"n": json.Number("2.50")}); got != digest(`{"n":2.5}`) {
		t.Errorf("json.Number: %s", got)
	}
	// A known value, computed with sha256sum over the canonical form.
	if got := ArgsDigest(map[string]any{}); got != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("{}: %s", got)
	}
}

// TestDigestWithout: the digest of an object without a member is the
// digest of the object with the member deleted, and the prefix only
// prefixes it.
func TestDigestWithout(t *testing.T) {
	for _, v := range []map[string]any{
		{"_meta": map[string]any{"a": 1.0}, "name": "x", "inputSchema": map[string]any{"_meta": "kept below the top"}},
		{"name": "no meta"},
		{"_meta": nil},
		{"": "empty key", "_meta": 1.0},
	} {
		without := maps.Clone(v)
		delete(without, "_meta")
		if got, want := DigestWithout(v, "_meta", "sha256:"), "sha256:"+Digest(without); got != want {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
	}
	if DigestWithout(map[string]any{"n": math.Inf(1)}, "_meta", "p") != "" {
		t.Error("a value with no canonical form has a digest")
	}
}
