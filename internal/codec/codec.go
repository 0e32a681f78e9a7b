// Package codec holds the encodings the other packages share: JSON values
// that keep numbers exact and text as written, and strict YAML documents.
package codec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// DecodeJSON decodes one JSON value, numbers as json.Number so that they
// are re-encoded exactly as sent.
func DecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// MarshalJSON encodes v without HTML escaping, so that text passes through
// as it was written ("<b>&" stays "<b>&").
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
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
