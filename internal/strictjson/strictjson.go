// Package strictjson rejects JSON text that parsers read differently. The
// interceptor judges its own parse of a message, while the gateway and the
// tool each parse the same bytes again; wherever JSON leaves a choice to the
// parser (which of two equal keys wins, whether "Name" is "name", what a
// 20-digit integer is, what an unpaired surrogate is), two parsers can see two
// different requests, and a policy would approve one while the tool runs the
// other. Messages that leave such a choice are refused instead.
package strictjson

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Errors returned by Check; they never quote the input.
var (
	ErrSyntax       = errors.New("not valid JSON")
	ErrDepth        = errors.New("nested too deep")
	ErrDuplicateKey = errors.New("an object has two keys that are equal or differ only in case")
	ErrUnicode      = errors.New("invalid UTF-8 or unpaired surrogate escape")
	ErrNumber       = errors.New("an integer beyond ±2^53 or a number beyond float64 range")
	ErrValues       = errors.New("too many values")
)

// Options says what Check enforces beyond its always-on rules.
type Options struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed; the
	// outermost value is depth 1. Zero means no limit.
	MaxDepth int
	// MaxValues is the most values (objects, arrays, strings other than
	// keys, numbers, literals) allowed; zero means no limit. Decoded into
	// Go, a value costs tens to hundreds of bytes whatever its length in the
	// text, so it is values, not bytes, that bound memory.
	MaxValues int
	// ExactNumbers rejects integer literals that a float64 cannot hold
	// exactly (beyond ±2^53) and numbers beyond float64 range: Go and
	// JavaScript round them, Python and Java do not.
	ExactNumbers bool
}

// maxExact is the largest integer magnitude that every JSON parser reads
// the same: 2^53.
const maxExact = 1 << 53

// Check reports the first problem in b, which must be a valid JSON text (as
// every body of a decoded event is): Check notices some syntax errors but
// does not look for all of them. It always
// rejects invalid UTF-8, unpaired surrogate escapes, and two keys of one
// object that are equal after decoding escapes and folding case (Go's
// encoding/json matches struct fields case-insensitively, and which of two
// equal keys wins differs between parsers). It works in one pass without
// recursion, so no input can exhaust the stack.
func Check(b []byte, opts Options) error {
	_, err := CheckCount(b, opts)
	return err
}

// CheckCount is Check that also returns how many values it read: each
// object, array, string (member names aside), number and literal.
func CheckCount(b []byte, opts Options) (values int, err error) {
	if !utf8.Valid(b) {
		return 0, ErrUnicode
	}
	s := scanners.Get().(*scanner)
	s.b, s.i, s.opts, s.values = b, 0, opts, 0
	s.stack, s.buf, s.arena = s.stack[:0], s.buf[:0], s.arena[:0]
	err = s.run()
	values, s.b = s.values, nil
	if cap(s.arena) <= maxKept && cap(s.stack) <= maxKept {
		scanners.Put(s) // a huge message's buffers are not kept
	}
	return values, err
}

// scanners keep their stacks and arenas between checks: every call is
// checked two to four times (the event's body, the params, the token).
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// maxKept bounds the buffers a pooled scanner keeps.
const maxKept = 64 << 10

type frame struct {
	object bool
	keys   []span // folded keys, in the scanner's arena
	// index holds the hashes of keys once an object has many, so that a
	// key is compared only with the keys whose hash it shares.
	index map[uint64]struct{}
}

// span is a folded key in the scanner's arena.
type span struct{ off, end int }

// seed hashes keys for frame indexes.
var seed = maphash.MakeSeed()

// add records a folded key, held in s.buf, in frame f and reports whether
// it was new. Keys are copied into the scanner's arena, not allocated one
// by one.
func (s *scanner) add(f *frame) bool {
	key := s.buf
	var h uint64
	if f.index != nil {
		h = maphash.Bytes(seed, key)
		if _, maybe := f.index[h]; maybe && s.has(f, key) {
			return false
		}
		f.index[h] = struct{}{}
	} else if s.has(f, key) {
		return false
	}
	off := len(s.arena)
	s.arena = append(s.arena, key...)
	f.keys = append(f.keys, span{off, len(s.arena)})
	if f.index == nil && len(f.keys) > 16 {
		f.index = make(map[uint64]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.index[maphash.Bytes(seed, s.arena[k.off:k.end])] = struct{}{}
		}
	}
	return true
}

// has reports whether f holds key.
func (s *scanner) has(f *frame, key []byte) bool {
	for _, k := range f.keys {
		if string(s.arena[k.off:k.end]) == string(key) {
			return true
		}
	}
	return false
}

type scanner struct {
	b      []byte
	i      int
	opts   Options
	stack  []frame
	values int
	buf    []byte // the key being checked, folded
	arena  []byte // the folded keys of the open objects that have few
}

// value counts one value against the limit.
func (s *scanner) value() error {
	s.values++
	if s.opts.MaxValues > 0 && s.values > s.opts.MaxValues {
		return ErrValues
	}
	return nil
}

// push opens an object or array, reusing the key list of the last one
// closed at this depth: most objects are small, and a list per object was
// most of the check's allocations.
func (s *scanner) push(object bool) {
	if len(s.stack) < cap(s.stack) {
		s.stack = s.stack[:len(s.stack)+1]
		f := &s.stack[len(s.stack)-1]
		f.object, f.keys, f.index = object, f.keys[:0], nil
		return
	}
	s.stack = append(s.stack, frame{object: object})
}

// fold puts fold(string(raw)) in s.buf, without allocating for an ASCII
// key.
func (s *scanner) fold(raw []byte) {
	for _, c := range raw {
		if c >= utf8.RuneSelf {
			s.buf = append(s.buf[:0], fold(string(raw))...)
			return
		}
	}
	s.buf = append(s.buf[:0], raw...)
	for i, c := range s.buf {
		if c >= 'a' && c <= 'z' {
			s.buf[i] = c - 'a' + 'A'
		}
	}
}

// run walks a JSON text: it needs to know only where strings, numbers and
// nesting begin and end.
func (s *scanner) run() error {
	expectKey := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '{' || c == '[':
			if err := s.value(); err != nil {
				return err
			}
			s.push(c == '{')
			if s.opts.MaxDepth > 0 && len(s.stack) > s.opts.MaxDepth {
				return ErrDepth
			}
			expectKey = c == '{'
			s.i++
		case c == '}' || c == ']':
			if len(s.stack) == 0 {
				return ErrSyntax
			}
			if f := &s.stack[len(s.stack)-1]; len(f.keys) > 0 {
				s.arena = s.arena[:f.keys[0].off] // its keys are the arena's last
			}
			s.stack = s.stack[:len(s.stack)-1]
			s.i++
		case c == ',':
			expectKey = len(s.stack) > 0 && s.stack[len(s.stack)-1].object
			s.i++
		case c == ':':
			expectKey = false
			s.i++
		case c == '"':
			str, escaped, err := s.str()
			if err != nil {
				return err
			}
			if expectKey && len(s.stack) > 0 {
				if escaped {
					var key string
					if err := json.Unmarshal(str, &key); err != nil {
						return ErrSyntax
					}
					s.buf = append(s.buf[:0], fold(key)...)
				} else {
					s.fold(str[1 : len(str)-1])
				}
				if !s.add(&s.stack[len(s.stack)-1]) {
					return ErrDuplicateKey
				}
				expectKey = false
			} else if err := s.value(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := s.value(); err != nil {
				return err
			}
			start := s.i
			for s.i < len(s.b) && isNumberByte(s.b[s.i]) {
				s.i++
			}
			if s.opts.ExactNumbers && !exact(s.b[start:s.i]) {
				return ErrNumber
			}
		case c == 't' || c == 'f' || c == 'n': // true, false, null: their other letters are none of these
			if err := s.value(); err != nil {
				return err
			}
			s.i++
		default: // white space, and the rest of a literal
			s.i++
		}
	}
	return nil
}

// str scans the string starting at s.i and returns it with its quotes,
// whether it holds escapes, and ErrUnicode for an unpaired surrogate escape.
func (s *scanner) str() ([]byte, bool, error) {
	start := s.i
	s.i++
	escaped := false
	pendingHigh := false // the previous escape was a high surrogate
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			if pendingHigh {
				return nil, false, ErrUnicode
			}
			s.i++
			return s.b[start:s.i], escaped, nil
		}
		if c != '\\' {
			if pendingHigh {
				return nil, false, ErrUnicode
			}
			s.i++
			continue
		}
		escaped = true
		if s.i+1 >= len(s.b) {
			return nil, false, ErrSyntax
		}
		if s.b[s.i+1] != 'u' {
			if pendingHigh {
				return nil, false, ErrUnicode
			}
			s.i += 2
			continue
		}
		if s.i+6 > len(s.b) {
			return nil, false, ErrSyntax
		}
		r, err := strconv.ParseUint(string(s.b[s.i+2:s.i+6]), 16, 16)
		if err != nil {
			return nil, false, ErrSyntax
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if pendingHigh {
				return nil, false, ErrUnicode
			}
			pendingHigh = true
		case r >= 0xDC00 && r < 0xE000:
			if !pendingHigh {
				return nil, false, ErrUnicode
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return nil, false, ErrUnicode
			}
		}
		s.i += 6
	}
	return nil, false, ErrSyntax
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// exact reports whether every parser reads the number literal n alike: an
// integer within ±2^53, or a literal whose decimal value is the double it
// reads as, written in its shortest form (19.99, 1e21, 0.1 are;
// 0.1000000000000000001 and 12345678901234567.0 are not: a parser of exact
// decimals reads them as another number than a parser of doubles, and than
// the policies). The literal's own digits and exponent are compared, never
// only what strconv makes of them.
func exact(n []byte) bool {
	fraction := false
	for _, c := range n {
		if c == '.' || c == 'e' || c == 'E' {
			fraction = true
			break
		}
	}
	if !fraction {
		if len(n) < 16 { // at most 15 digits: below 2^53
			return true
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		return err == nil && v >= -maxExact && v <= maxExact
	}
	neg, digits, exp, ok := decimal(n)
	switch {
	case !ok:
		return false
	case digits == "":
		return true // zero, however written
	case exp > 310 || exp < -324:
		// Beyond the doubles; strconv, which stops reading an exponent's
		// digits past 10000, could even read it as a small number.
		return false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f == 0 {
		return false // overflow (infinity elsewhere), or too small: zero to some, not to others
	}
	sneg, sdigits, sexp, _ := decimal([]byte(strconv.FormatFloat(f, 'e', -1, 64)))
	return neg == sneg && digits == sdigits && exp == sexp
}

// decimal reads a JSON number literal as sign, significant digits (no
// leading or trailing zeros; "" for zero) and the decimal exponent of the
// first of them: the value is 0.digits × 10^exp.
func decimal(n []byte) (neg bool, digits string, exp int, ok bool) {
	s := string(n)
	if neg = strings.HasPrefix(s, "-"); neg {
		s = s[1:]
	}
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		v, err := strconv.Atoi(e)
		if err != nil || v > 1<<20 || v < -(1<<20) {
			return false, "", 0, false
		}
		exp = v
	}
	whole, frac, _ := strings.Cut(mant, ".")
	all := whole + frac
	exp += len(whole)
	lead := len(all) - len(strings.TrimLeft(all, "0"))
	digits = strings.TrimRight(all[lead:], "0")
	return neg, digits, exp - lead, true
}

// fold maps a key to a representative of the keys equal to it under Unicode
// simple case folding, the equivalence strings.EqualFold and encoding/json's
// field matching use: the smallest rune of each rune's folding orbit, so that
// "K", "k" and the Kelvin sign all fold to "K".
func fold(key string) string {
	ascii := true
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		b := []byte(key)
		for i, c := range b {
			if c >= 'a' && c <= 'z' {
				b[i] = c - 'a' + 'A'
			}
		}
		return string(b)
	}
	out := make([]rune, 0, len(key))
	for _, r := range key {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = append(out, least)
	}
	return string(out)
}
