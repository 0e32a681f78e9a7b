package codec

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Canonical returns v, a JSON value as DecodeJSON or encoding/json decode
// it, in the JSON Canonicalization Scheme (RFC 8785): keys sorted by UTF-16
// code units, no insignificant whitespace, minimal string escapes, numbers
// as IEEE doubles written the way ECMAScript does. Numbers are read as
// doubles, as policies see them, so 2.50 and 2.5 are one value. It fails on
// what JSON cannot hold (NaN, a Go type that is not a JSON value).
func Canonical(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := canonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Digest returns the hex SHA-256 of v's canonical form (see Canonical), ""
// when v has none. Any RFC 8785 implementation reproduces it: approvals bind
// to it and decision records carry it, so it must never change.
func Digest(v any) string { return DigestWithout(v, "", "") }

// DigestWithout is Digest of v without its member skip when v is an
// object (the object as if skip were deleted, without copying it), with
// prefix before the hex digits.
func DigestWithout(v any, skip, prefix string) string {
	b := digestBuffers.Get().(*bytes.Buffer)
	defer func() {
		if b.Cap() <= 64<<10 { // a huge value's buffer is not kept
			b.Reset()
			digestBuffers.Put(b)
		}
	}()
	var err error
	if m, ok := v.(map[string]any); ok && skip != "" {
		err = canonicalObject(b, m, skip)
	} else {
		err = canonical(b, v)
	}
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b.Bytes())
	out := make([]byte, len(prefix), len(prefix)+hex.EncodedLen(len(sum)))
	copy(out, prefix)
	return string(hex.AppendEncode(out, sum[:]))
}

// digestBuffers hold the canonical forms Digest hashes: every decision
// record digests the call's arguments.
var digestBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ArgsDigest is the digest of a call's arguments that decision records
// carry: it proves which arguments were judged without showing them. Nil
// (no arguments) digests as {}; "" when args hold something JSON cannot
// (NaN).
func ArgsDigest(args map[string]any) string {
	if args == nil {
		args = map[string]any{}
	}
	return Digest(args)
}

var errNotJSON = errors.New("not a JSON value")

// canonical writes v, a JSON value as encoding/json decodes it, in RFC 8785
// form.
func canonical(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		canonicalString(b, v)
	case float64:
		return canonicalNumber(b, v)
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return err
		}
		return canonicalNumber(b, f)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		return canonicalObject(b, v, "")
	default:
		return errNotJSON
	}
	return nil
}

// canonicalObject writes the object v, without its member skip, in RFC
// 8785 form.
func canonicalObject(b *bytes.Buffer, v map[string]any, skip string) error {
	var small [16]string // most objects are small: their keys sort here
	keys := small[:0]
	for k := range v {
		if k != skip || skip == "" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, CompareUTF16)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		canonicalString(b, k)
		b.WriteByte(':')
		if err := canonical(b, v[k]); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// CompareUTF16 orders strings by their UTF-16 code units, as RFC 8785
// sorts member names, without converting them. Code point order is the
// same, but for a character beyond U+FFFF against one from U+E000 to
// U+FFFF: the first's leading unit, a surrogate (U+D800 to U+DBFF), sorts
// first. Two characters beyond U+FFFF keep their order.
func CompareUTF16(x, y string) int {
	for x != "" && y != "" {
		a, na := utf8.DecodeRuneInString(x)
		b, nb := utf8.DecodeRuneInString(y)
		if a != b {
			if a > 0xFFFF && b <= 0xFFFF {
				a = 0xD800
			} else if b > 0xFFFF && a <= 0xFFFF {
				b = 0xD800
			}
			return cmp.Compare(a, b)
		}
		x, y = x[na:], y[nb:]
	}
	return cmp.Compare(len(x), len(y))
}

// canonicalString escapes only what JSON requires: quote, backslash and
// control characters, the short forms where there is one. Runs that need
// no escape are copied whole; invalid UTF-8 is written as U+FFFD.
func canonicalString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
			b.WriteString(s[start:i])
			b.WriteRune(utf8.RuneError)
			i++
			start = i
			continue
		}
		b.WriteString(s[start:i])
		switch c {
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
			fmt.Fprintf(b, `\u%04x`, c)
		}
		i++
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// canonicalNumber writes f as ECMAScript's Number.prototype.toString does:
// the shortest digits that read back as f, in plain notation from 1e-6 up
// to 1e21 and in exponent notation (1e+21, 1e-7) outside.
func canonicalNumber(b *bytes.Buffer, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errNotJSON
	}
	if f == 0 {
		b.WriteByte('0') // -0 too
		return nil
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		b.WriteString(mant)
		b.WriteByte('e')
		b.WriteByte(sign)
		b.WriteString(exp)
		return nil
	}
	b.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
	return nil
}
