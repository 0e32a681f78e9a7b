package codec

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// appendValue appends the JSON encoding of v, a value as DecodeJSON gives
// them (maps, slices, strings, json.Number, booleans, nil), as
// encoding/json's Encoder writes it without HTML escaping: member names
// sorted, the same escapes. keys is scratch space for the member names.
// It reports false for anything else (another type, a json.Number that is
// no JSON number), and the caller then leaves it to encoding/json. An
// answer's body is re-encoded so after it was filtered or redacted, and
// encoding/json's reflection over a 500-tool list was a tenth of the
// list's cost.
func appendValue(dst []byte, v any, keys *[]string) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		if v {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case string:
		return appendString(dst, v, true), true
	case json.Number:
		if !validNumber(string(v)) {
			return dst, false
		}
		return append(dst, v...), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, e, keys); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		// The names of this object sit at the end of keys while its
		// members are written; members' own objects append after them.
		start := len(*keys)
		for k := range v {
			*keys = append(*keys, k)
		}
		names := (*keys)[start:]
		slices.SortFunc(names, strings.Compare)
		dst = append(dst, '{')
		for i, k := range names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k, true)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendValue(dst, v[k], keys); !ok {
				return dst, false
			}
		}
		*keys = (*keys)[:start]
		return append(dst, '}'), true
	}
	return dst, false
}

// AppendList appends l as a JSON array, each element written by elem, and
// null for a nil l, as encoding/json writes a slice.
func AppendList[T any](dst []byte, l []T, elem func([]byte, T) []byte) []byte {
	if l == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, e := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, e)
	}
	return append(dst, ']')
}

// AppendString appends s quoted as encoding/json does without HTML
// escaping: ", \ and control characters escaped, each invalid byte as
// \ufffd, and U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, true) }

// AppendSlogString appends s quoted as log/slog's JSON handler writes a
// string: as AppendString, but \b and \f as \u0008 and \u000c.
func AppendSlogString(dst []byte, s string) []byte { return appendString(dst, s, false) }

// appendString is AppendString, or with short false AppendSlogString.
func appendString(dst []byte, s string, short bool) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\b' && short:
				dst = append(dst, '\\', 'b')
			case c == '\f' && short:
				dst = append(dst, '\\', 'f')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validNumber reports whether s is a JSON number (RFC 8259, section 6).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}
