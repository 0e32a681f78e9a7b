package redact

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
)

// Decoding bounds. A model decodes base64 it is shown without being
// asked, so redaction looks inside what a command-running tool encodes
// (base64 FILE, xxd -p FILE, gzip | base64) as well; these bounds keep a
// hostile answer from making that expensive.
const (
	// minEncoded is the shortest run decoded: 24 base64 characters are 18
	// bytes, shorter than any credential the detectors know but a PIN.
	minEncoded = 24
	// maxLayers is how many encodings deep a secret is looked for:
	// base64 of gzip of base64 is two.
	maxLayers = 2
	// maxInflated bounds what one gzip or zlib stream inflates to.
	maxInflated = 64 << 10
	// maxDecodedPerText bounds the bytes decoded while reading one text,
	// all layers together: 4 MB, four times the largest answer passed.
	// Candidates beyond it are not decoded.
	maxDecodedPerText = 4 << 20
)

// encoded is a run of a text that may be an encoding, and how.
type encoded struct {
	start, end int
	hex        bool
}

// candidates returns the runs of s that may hold an encoded secret: base64
// or base64url runs of at least minEncoded characters, also wrapped at
// 60, 64 or 76 columns as base64 and xxd print them, and even runs of hex
// digits.
func candidates(s string) []encoded {
	var out []encoded
	for i := 0; i < len(s); {
		if !isB64(s[i]) {
			i++
			continue
		}
		start, line := i, 0
		j := i
		for j < len(s) {
			c := s[j]
			switch {
			case isB64(c):
				j++
				line++
				continue
			case c == '=':
				j++
				continue
			case c == '\n' || c == '\r':
				// A line break inside a wrapped run: the line before it is a
				// whole column width, and the run goes on.
				k := j
				if s[k] == '\r' && k+1 < len(s) && s[k+1] == '\n' {
					k++
				}
				if (line == 60 || line == 64 || line == 76) && k+1 < len(s) && isB64(s[k+1]) {
					j, line = k+1, 0
					continue
				}
			}
			break
		}
		if j-start >= minEncoded {
			run := s[start:j]
			allHex := true
			for k := 0; k < len(run); k++ {
				if c := run[k]; !isHexDigit(c) && c != '\n' && c != '\r' {
					allHex = false
					break
				}
			}
			out = append(out, encoded{start, j, allHex})
		}
		i = j
		if i == start {
			i++
		}
	}
	return out
}

// decodeRun returns the bytes run encodes, or nil if it is not an encoding
// that decodes to text or to a compressed stream.
func decodeRun(run string, asHex bool) []byte {
	compact := strings.NewReplacer("\n", "", "\r", "").Replace(run)
	if asHex {
		if len(compact)%2 == 0 {
			if b, err := hex.DecodeString(compact); err == nil {
				return b
			}
		}
		// A hex run is also base64 of something: try that too.
	}
	trimmed := strings.TrimRight(compact, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(trimmed); err == nil {
			return b
		}
		// A run whose length is off by the bytes before or after it that
		// are not part of it: decode the longest prefix that is whole.
		if n := len(trimmed) / 4 * 4; n >= minEncoded && n < len(trimmed) {
			if b, err := enc.DecodeString(trimmed[:n]); err == nil {
				return b
			}
		}
	}
	return nil
}

// inflate returns what b decompresses to, if it is a gzip or zlib stream,
// at most maxInflated bytes; b itself otherwise.
func inflate(b []byte) []byte {
	var r io.Reader
	switch {
	case len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return b
		}
		r = zr
	case len(b) > 2 && b[0] == 0x78 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0:
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			return b
		}
		r = zr
	default:
		return b
	}
	out, err := io.ReadAll(io.LimitReader(r, maxInflated))
	if len(out) == 0 && err != nil {
		return b
	}
	return out // a truncated stream's start is still read
}

// runStart returns where the encoded run that s ends with starts (len(s)
// if s does not end with one); runEnd where the one s starts with ends.
func runStart(s string) int {
	i := len(s)
	for i > 0 && (isB64(s[i-1]) || s[i-1] == '=' || s[i-1] == '\n' || s[i-1] == '\r') {
		i--
	}
	for i < len(s) && !isB64(s[i]) {
		i++ // not from a line break or padding
	}
	return i
}

func runEnd(s string) int {
	i := 0
	for i < len(s) && (isB64(s[i]) || s[i] == '=' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isB64(c byte) bool      { return isAlnum(c) || c == '+' || c == '/' || c == '-' || c == '_' }
func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
