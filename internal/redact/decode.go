package redact

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
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
	// minWrap is the shortest line a wrapped run is taken to continue
	// after.
	minWrap = 40
	// maxRealigned is the longest run also decoded from its 2nd, 3rd and
	// 4th character, for a prefix that is not part of it (a path before
	// the base64, "id" glued to it).
	maxRealigned = 16 << 10
	// maxLayers is how many encodings deep a secret is looked for:
	// base64 of gzip of base64 is two.
	maxLayers = 2
	// decodeAllowance and decodeRatio bound the bytes decoded and
	// inflated while redacting one answer, all texts and layers together:
	// 256 KB, and twice the bytes of text read. A run the budget does not
	// cover is replaced, undecoded (see Undecoded), so that a flood of
	// small compressed runs (gzip inflates a thousandfold) buys neither
	// time nor a way past, while an answer's own images and files (base64
	// is 4/3 of what it holds) are read whole.
	decodeAllowance = 256 << 10
	decodeRatio     = 2
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
				// Padding ends a run; "=" inside one is an assignment
				// (DATA=<base64>), which starts the next.
				for j < len(s) && s[j] == '=' {
					j++
				}
			case c == '\n' || c == '\r':
				// A line break inside a wrapped run: the line before it is
				// at least minWrap columns (base64 prints 76, openssl 64,
				// xxd -p 60), and the run goes on.
				k := j
				if s[k] == '\r' && k+1 < len(s) && s[k+1] == '\n' {
					k++
				}
				if line >= minWrap && k+1 < len(s) && isB64(s[k+1]) {
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

// decodeRun returns what run may encode: its hex bytes (also after "0x",
// and of an odd run without its first or last digit), or its base64 or
// base64url bytes; for a run of at most maxRealigned characters, also from
// each of the next three characters on, since a prefix glued to a run
// (a path, "id") shifts every group of four. Nil when none decodes.
func decodeRun(run string, asHex bool) [][]byte {
	compact := run
	if strings.ContainsAny(run, "\n\r") {
		compact = lineBreaks.Replace(run)
	}
	var out [][]byte
	if asHex || strings.HasPrefix(compact, "0x") || strings.HasPrefix(compact, "0X") {
		digits := compact
		if !asHex {
			digits = compact[2:]
		}
		tries := []string{digits}
		if len(digits)%2 == 1 {
			tries = []string{digits[1:], digits[:len(digits)-1]}
		}
		for _, d := range tries {
			if b, err := hex.DecodeString(d); err == nil && len(b) > 0 {
				out = append(out, b)
			}
		}
		if len(out) > 0 && asHex {
			return out
		}
	}
	trimmed := strings.TrimRight(compact, "=")
	shifts := 1
	if len(trimmed) <= maxRealigned {
		shifts = 4
	}
	for k := range shifts {
		t := trimmed[k:]
		if len(t) < minEncoded {
			break
		}
		if n := len(t) % 4; n == 1 {
			t = t[:len(t)-1] // a stray character at the end
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(t); err == nil {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// lineBreaks removes the line breaks of a wrapped run. Built once: a
// Replacer builds its tables on first use, and a list answer holds
// hundreds of runs.
var lineBreaks = strings.NewReplacer("\n", "", "\r", "")

// inflate returns what b decompresses to, if it is a gzip, zlib or bzip2
// stream or a zip archive (its files one after another), and true; b
// itself and true if it is none of them; false if it inflates to more
// than limit bytes (nil: limit bytes were spent finding out; b: it was
// refused before any work). A stream cut short is read as far as it goes.
func inflate(b []byte, limit int) ([]byte, bool) {
	var readers []io.Reader
	switch {
	case len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return b, true
		}
		readers = append(readers, zr)
	case len(b) > 2 && b[0] == 0x78 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0:
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			return b, true
		}
		readers = append(readers, zr)
	case len(b) > 4 && string(b[:3]) == "BZh" && b[3] >= '1' && b[3] <= '9':
		// bzip2 decodes a whole block (100 to 900 KB) before it yields a
		// byte: the block is what it costs.
		if int(b[3]-'0')*100<<10 > limit {
			return b, false // refused before any work
		}
		readers = append(readers, bzip2.NewReader(bytes.NewReader(b)))
	case len(b) > 4 && string(b[:4]) == "PK\x03\x04":
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return b, true
		}
		if len(zr.File) > maxZipEntries {
			return b, false // refused before any work
		}
		for _, f := range zr.File {
			readers = append(readers, &lazyEntry{f: f})
		}
	default:
		return b, true
	}
	if limit <= 0 {
		return nil, false
	}
	out, err := io.ReadAll(io.LimitReader(io.MultiReader(readers...), int64(limit)+1))
	if len(out) > limit {
		return nil, false
	}
	if len(out) == 0 && err != nil {
		return b, true
	}
	return out, true
}

// dump is a block of hex dump lines (xxd, hexdump -C, od -A x -t x1z) and
// the bytes their hex columns hold.
type dump struct {
	start, end int
	bytes      []byte
}

// dumps finds hex dump blocks in s: lines of an offset (six or more hex
// digits, then ":" or white space) and hex groups (of 2 or 4 digits),
// followed by the dump's text column. Their text column splits what it
// shows over lines (ghp_R4nd0m... / ...T0k3n), so the bytes are read from
// the hex columns instead.
func dumps(s string) []dump {
	var out []dump
	var cur *dump
	for i := 0; i < len(s); {
		end := strings.IndexByte(s[i:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		if b, ok := dumpLine(s[i:end]); ok {
			if cur == nil {
				out = append(out, dump{start: i})
				cur = &out[len(out)-1]
			}
			cur.bytes, cur.end = append(cur.bytes, b...), end
		} else {
			cur = nil
		}
		i = end + 1
	}
	return out
}

// dumpLine returns the bytes of one hex dump line: at most 16, from the
// hex groups after the offset.
func dumpLine(line string) ([]byte, bool) {
	o := 0
	for o < len(line) && isHexDigit(line[o]) {
		o++
	}
	if o < 6 || o == len(line) || (line[o] != ':' && line[o] != ' ') {
		return nil, false
	}
	var out []byte
	for _, g := range strings.Fields(line[o+1:]) {
		if len(out) >= 16 || (len(g) != 2 && len(g) != 4) {
			break
		}
		b, err := hex.DecodeString(g)
		if err != nil {
			break
		}
		out = append(out, b...)
	}
	return out, len(out) > 0
}

// maxZipEntries bounds the files of a zip archive read: each costs a
// reader.
const maxZipEntries = 64

// lazyEntry opens a zip file when it is first read, and closes it at its
// end, so that an archive's readers are not all open at once. A file that
// cannot be read ends there.
type lazyEntry struct {
	f    *zip.File
	rc   io.ReadCloser
	done bool
}

func (e *lazyEntry) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	if e.rc == nil {
		rc, err := e.f.Open()
		if err != nil {
			e.done = true
			return 0, io.EOF
		}
		e.rc = rc
	}
	n, err := e.rc.Read(p)
	if err != nil {
		e.rc.Close()
		e.done = true
		return n, io.EOF
	}
	return n, nil
}

func isB64(c byte) bool      { return isAlnum(c) || c == '+' || c == '/' || c == '-' || c == '_' }
func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
