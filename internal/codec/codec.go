// Package codec holds the encodings the other packages share: JSON values
// that keep numbers exact and text as written, and strict YAML documents.
package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"sigs.k8s.io/yaml"
)

// DecodeJSON decodes the first JSON value of b, numbers as json.Number so
// that they are re-encoded exactly as sent, in one pass; what follows the
// value is not read, as with encoding/json's Decoder. It and UnmarshalAny
// read b through a bytes.Buffer, which jsontext parses in place and never
// writes to: from a bytes.Reader it copied the input into buffers it grew
// as it went (2 KB and 7 allocations of a 2 KB call's 22 KB and 190).
func DecodeJSON(b []byte) (any, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(b), v1Semantics)
	v, err := decodeValue(dec, false)
	if err != nil {
		return nil, describe(err)
	}
	return v, nil
}

// UnmarshalAny decodes b, one whole JSON text, as encoding/json's
// Unmarshal into an any does (numbers as float64, one beyond float64's
// range an error, anything after the value an error), without its
// reflection: a tool call's arguments are decoded so on every call.
func UnmarshalAny(b []byte) (any, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(b), v1Semantics)
	v, err := decodeValue(dec, true)
	if err == nil {
		if _, end := dec.ReadToken(); end != io.EOF {
			err = errTrailing
		}
	}
	if err != nil {
		return nil, describe(err)
	}
	return v, nil
}

var (
	errTrailing = errors.New("invalid JSON after the value")
	errNumber   = errors.New("a number beyond float64 range")
)

// decodeValue reads one value from dec: objects as map[string]any, arrays
// as []any, numbers as json.Number, or as float64 with floats.
func decodeValue(dec *jsontext.Decoder, floats bool) (any, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 'f', 't':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		if floats {
			f, err := strconv.ParseFloat(tok.String(), 64)
			if err != nil {
				return nil, errNumber
			}
			return f, nil
		}
		return json.Number(tok.String()), nil
	case '[':
		list := []any{}
		for dec.PeekKind() != ']' {
			v, err := decodeValue(dec, floats)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.ReadToken()
		return list, err
	case '{':
		obj := map[string]any{}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			name := tok.String() // the token is void after the next read
			v, err := decodeValue(dec, floats)
			if err != nil {
				return nil, err
			}
			obj[name] = v
		}
		_, err := dec.ReadToken()
		return obj, err
	}
	return nil, fmt.Errorf("unexpected %v", tok.Kind())
}

// v1Semantics makes the v2 decoder read input as encoding/json does: of
// two equal member names the last wins (replacing the first's value, not
// merging into it), and invalid UTF-8 or an unpaired surrogate escape
// becomes U+FFFD. Input that parsers could read differently is refused
// before any of it is decoded (see strictjson), so the two decoders never
// disagree on what a policy judges.
var v1Semantics = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true), jsonv1.MergeWithLegacySemantics(true))

// UnmarshalJSON decodes data into v in one pass, several times faster
// than encoding/json, which validates the whole input before decoding it.
// Member names match exactly. Its errors name the kind of fault and the
// byte offset, never a part of the input (v2's would quote member names),
// since they reach the caller.
func UnmarshalJSON(data []byte, v any) error {
	if err := jsonv2.Unmarshal(data, v, v1Semantics); err != nil {
		return describe(err)
	}
	return nil
}

// describe turns a decoding error into one that names the kind of fault
// and its byte offset only.
func describe(err error) error {
	if err == errTrailing || err == errNumber {
		return err
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			return errors.New("unexpected end of JSON input")
		}
		return fmt.Errorf("invalid JSON at byte %d", syn.ByteOffset)
	}
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) {
		if sem.GoType == nil {
			return fmt.Errorf("cannot decode the JSON value at byte %d", sem.ByteOffset)
		}
		return fmt.Errorf("cannot decode JSON %s at byte %d into %v", kinds[sem.JSONKind], sem.ByteOffset, sem.GoType)
	}
	return errors.New("invalid JSON")
}

// kinds names the JSON kinds in errors.
var kinds = map[jsontext.Kind]string{'n': "null", 'f': "boolean", 't': "boolean", '"': "string", '0': "number", '{': "object", '[': "array"}

// MarshalJSON encodes v without HTML escaping, so that text passes through
// as it was written ("<b>&" stays "<b>&"). A value as DecodeJSON gives
// them is written without reflection (see appendValue), to the same bytes.
func MarshalJSON(v any) ([]byte, error) {
	bp := buffers.Get().(*[]byte)
	var keys []string
	b, ok := appendValue((*bp)[:0], v, &keys)
	if ok {
		out := bytes.Clone(b)
		if cap(b) <= maxBuffer {
			*bp = b
			buffers.Put(bp)
		}
		return out, nil
	}
	buffers.Put(bp)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// buffers keep MarshalJSON's buffers between calls, as encoding/json
// keeps its own: grown from nothing for each answer, a 100 KB one was
// copied four times over. One past maxBuffer is not kept.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

const maxBuffer = 1 << 20

// EscapedLen returns at most how long the JSON text b becomes as a raw
// message that Marshal writes: each <, > and & is escaped in six bytes,
// and each U+2028 and U+2029 (three bytes) in six (compacting only
// shortens it).
func EscapedLen(b []byte) int {
	html := bytes.Count(b, []byte{'<'}) + bytes.Count(b, []byte{'>'}) + bytes.Count(b, []byte{'&'})
	separators := bytes.Count(b, []byte("\u2028")) + bytes.Count(b, []byte("\u2029"))
	return len(b) + 5*html + 3*separators
}

// Marshal encodes v to the bytes encoding/json's Marshal gives (HTML
// escaped, raw messages compacted), in one pass: encoding/json validates
// and compacts a raw message after its own marshaller produced it, two
// thirds of the time of encoding a 2 KB answer. One difference: a Go
// string that is not valid UTF-8 has each bad byte written as the
// character U+FFFD, where encoding/json writes the escape \ufffd (the
// same JSON value); strings decoded from JSON are always valid.
func Marshal(v any) ([]byte, error) {
	return jsonv2.Marshal(v, jsonv1.DefaultOptionsV1())
}

// IsSeparator reports whether line separates two YAML documents of a
// stream ("---", or "--- " and more).
func IsSeparator(line []byte) bool {
	t := bytes.TrimRight(line, " \t\r\n")
	return bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- "))
}

// DecodeStrict decodes one YAML or JSON document into v, rejecting duplicate
// keys and fields that v does not have: a misspelt key in a policy would
// otherwise be ignored silently and weaken it.
func DecodeStrict(doc []byte, v any) error {
	// The YAML decoder reads the first document of a stream and ignores the
	// rest; a second document here would be silently dropped.
	for i, line := range bytes.Split(doc, []byte("\n")) {
		if i > 0 && IsSeparator(line) {
			return fmt.Errorf("line %d: more than one YAML document", i+1)
		}
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the document")
	}
	return nil
}
