package redact

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// wrap breaks s into lines of n characters, as base64 (76), openssl (64)
// and xxd -p (60) print.
func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// xxdOf and hexdumpOf print s as xxd and hexdump -C do.
func xxdOf(s string) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		line := s[off:min(len(s), off+16)]
		fmt.Fprintf(&b, "%08x:", off)
		for i := 0; i < len(line); i += 2 {
			fmt.Fprintf(&b, " %x", line[i:min(len(line), i+2)])
		}
		fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(line, "\n", "."))
	}
	return b.String()
}

func hexdumpOf(s string) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		line := s[off:min(len(s), off+16)]
		fmt.Fprintf(&b, "%08x ", off)
		for i := 0; i < len(line); i++ {
			fmt.Fprintf(&b, " %02x", line[i])
		}
		fmt.Fprintf(&b, "  |%s|\n", strings.ReplaceAll(line, "\n", "."))
	}
	return b.String()
}

func zipped(name, s string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create(name)
	f.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func zlibbed(s string) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// TestEncodings: a secret in each encoding a command-running tool
// produces, up to two layers deep, is found and its whole encoded run
// replaced; ordinary encoded data and three layers are left alone.
func TestEncodings(t *testing.T) {
	s := allDetectors(t)
	b64 := base64.StdEncoding.EncodeToString
	file := "[default]\naws_access_key_id = " + accessKeyID + "\ngithub = " + ghp + "\n"
	long := strings.Repeat("log line without secrets, just text for the encoder to chew on\n", 8) + file
	for _, tc := range []struct {
		name, in, want string // want: "" for unchanged, else the marker expected in place of the run
	}{
		{"base64", "cat creds | base64: " + b64([]byte(file)), "github-token"},
		{"base64url", base64.RawURLEncoding.EncodeToString([]byte("token=" + ghp + "??>>")), "github-token"},
		{"base64 wrapped at 76", "$ base64 ~/.aws/credentials\n" + wrap(b64([]byte(long)), 76) + "\n$ ", "github-token"},
		{"base64 wrapped at 64", wrap(b64([]byte(long)), 64), "github-token"},
		{"hex (xxd -p)", wrap(hex.EncodeToString([]byte(file)), 60), "github-token"},
		{"gzip in base64", "H4s: " + b64(gzipped(long)), "github-token"},
		{"zlib in base64", b64(zlibbed(long)), "github-token"},
		{"base64 of base64", b64([]byte(b64([]byte(file)))), "github-token"},
		{"a key block in base64", b64([]byte(pemKey)), "private-key"},
		{"a password in base64", b64([]byte("DB_PASSWORD=hunter2hunter2\n")), "secret-field"},
		{"after an assignment", "DATA=" + b64([]byte("token "+ghp)), "github-token"},
		{"after a path", "https://x.example/dl/" + b64([]byte("token "+ghp+" end")), "github-token"},
		{"glued to an id", "id" + b64([]byte("creds: "+ghp)), "github-token"},
		{"base64 wrapped at 72", wrap(b64([]byte(long)), 72), "github-token"},
		{"hex after 0x", "0x" + hex.EncodeToString([]byte(file)), "github-token"},
		{"hex of odd length", hex.EncodeToString([]byte(file)) + "a", "github-token"},
		// bzip2 is charged its block (900 KB at -9), more than a small
		// answer's budget: it is replaced unread.
		{"bzip2 in base64 (bzip2 -9 | base64 -w0)", "QlpoOTFBWSZTWbkdQPIAABvfgAAQQAB+gicv3VC+716gIABIqaAGINAaMnpABkDG9UGjQDQAADQMRRgdKJD1CWEK3iOfJR8TivGCkolBSRAMmVxgWbpni+fmqBOjI70J4mEbDIsXJh6NRkEJbWdRRKsp0F/F3JFOFCQuR1A8gA==", "undecoded"},
		{"zip in base64", b64(zipped("creds", file)), "github-token"},
		{"xxd", "$ xxd creds\n" + xxdOf(file) + "$ ", "github-token"},
		{"hexdump -C", hexdumpOf(file), "github-token"},
		{"three layers are not read", b64([]byte(b64([]byte(b64([]byte(file)))))), ""},
		{"base64 of prose", b64([]byte("nothing to see here, only words and more words")), ""},
		{"a sha256", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ""},
		{"a uuid and a path", "550e8400-e29b-41d4-a716-446655440000 /usr/local/lib/python3.11/site-packages/", ""},
		{"an image", b64(bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}, 200)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := Counts{}
			got := s.String(tc.in, counts)
			if tc.want == "" {
				if got != tc.in {
					t.Errorf("changed:\n%q\n%q", tc.in, got)
				}
				return
			}
			if !strings.Contains(got, "[REDACTED:"+tc.want+"]") || counts[tc.want] == 0 {
				t.Errorf("want [REDACTED:%s], got %q (%v)", tc.want, got, counts)
			}
			// No line of the encoded run survives.
			for _, line := range strings.Split(tc.in, "\n") {
				if len(line) >= minEncoded && strings.Contains(got, line) && !strings.HasPrefix(line, "$ ") {
					t.Errorf("a line of the run survives: %q", line)
				}
			}
		})
	}
}

// FuzzRedact holds the decoder and the redactor together: whatever the
// text around a planted GitHub token, and wherever the text is split into
// two content items, and in whichever supported encoding the text is
// shown, the answer stays JSON of the same shape and the token survives
// neither as itself nor in its encoding.
func FuzzRedact(f *testing.F) {
	f.Add("log line\nmore ", " tail", uint8(0), uint16(3))
	f.Add("", "", uint8(1), uint16(0))
	f.Add("key=", "&x=1", uint8(2), uint16(10))
	f.Add("\x00\x01binary", "\xff", uint8(3), uint16(7))
	f.Add("a\nb", "c", uint8(4), uint16(40))
	f.Add("p", "q", uint8(5), uint16(1))
	s := allDetectors(f)
	f.Fuzz(func(t *testing.T, before, after string, encoding uint8, split uint16) {
		if len(before)+len(after) > 4096 {
			return
		}
		plain := before + " " + ghp + " " + after
		var text string
		switch encoding % 6 {
		case 0:
			text = plain
		case 1:
			text = base64.StdEncoding.EncodeToString([]byte(plain))
		case 2:
			text = base64.RawURLEncoding.EncodeToString([]byte(plain))
		case 3:
			text = wrap(base64.StdEncoding.EncodeToString([]byte(plain)), 76)
		case 4:
			text = wrap(hex.EncodeToString([]byte(plain)), 60)
		case 5:
			text = base64.StdEncoding.EncodeToString(gzipped(plain))
		}
		cut := int(split) % (len(text) + 1)
		in := map[string]any{"content": []any{
			map[string]any{"type": "text", "text": text[:cut]},
			map[string]any{"type": "text", "text": text[cut:]},
		}, "structuredContent": map[string]any{"out": text}}
		out := s.Value(in, Counts{}).(map[string]any)

		content, ok := out["content"].([]any)
		if !ok || len(content) != 2 || len(out) != 2 {
			t.Fatalf("shape changed: %#v", out)
		}
		var joined strings.Builder
		for _, c := range content {
			m, ok := c.(map[string]any)
			if !ok || len(m) != 2 || m["type"] != "text" {
				t.Fatalf("item changed: %#v", c)
			}
			txt, ok := m["text"].(string)
			if !ok {
				t.Fatalf("text not a string: %#v", m)
			}
			joined.WriteString(txt)
		}
		structured, _ := out["structuredContent"].(map[string]any)
		whole, ok := structured["out"].(string)
		if !ok || len(structured) != 1 {
			t.Fatalf("structuredContent changed: %#v", out["structuredContent"])
		}
		for _, got := range []string{joined.String(), whole} {
			if strings.Contains(got, ghp) || strings.Contains(got, ghp[:20]) && strings.Contains(got, ghp[20:]) {
				t.Fatalf("the token survives: %q", got)
			}
			if encoding%6 != 0 && strings.Contains(strings.NewReplacer("\n", "").Replace(got), strings.NewReplacer("\n", "").Replace(text)) {
				t.Fatalf("the encoded text survives whole: %q", got)
			}
		}
	})
}

// TestDecodeBudget: decoding is bounded for the whole answer; a run the
// budget no longer covers is replaced, undecoded, so a flood of small
// gzip streams that inflate a thousandfold hides nothing behind it.
func TestDecodeBudget(t *testing.T) {
	s := allDetectors(t)
	bomb := base64.StdEncoding.EncodeToString(gzipped(strings.Repeat("A", 64<<10)))
	var items []any
	for range 40 {
		items = append(items, map[string]any{"type": "text", "text": "blob " + bomb + " end"})
	}
	items = append(items, map[string]any{"type": "text", "text": "creds " + base64.StdEncoding.EncodeToString([]byte("token "+ghp)) + " end"})
	counts := Counts{}
	out := s.Value(map[string]any{"content": items}, counts).(map[string]any)
	last := out["content"].([]any)[40].(map[string]any)["text"].(string)
	if strings.Contains(last, base64.StdEncoding.EncodeToString([]byte("token " + ghp))[:24]) || counts[Undecoded] == 0 {
		t.Errorf("the last item %q, counts %v: want the run replaced once the budget is spent", last, counts)
	}
	// Bombs within the budget are read and left alone.
	small := Counts{}
	if got := s.String("blob "+bomb+" end", small); got != "blob "+bomb+" end" || len(small) != 0 {
		t.Errorf("one compressed run: %v", small)
	}
}

// BenchmarkScrubHostile is redaction of answers written to be expensive:
// 100 KB of small gzip streams that each inflate to 64 KB, and 1 MB of
// e-mail addresses (100,000 findings).
func BenchmarkScrubHostile(b *testing.B) {
	s := allDetectors(b)
	bomb := base64.StdEncoding.EncodeToString(gzipped(strings.Repeat("A", 64<<10)))
	bombs := map[string]any{}
	for i := 0; len(bombs)*len(bomb) < 100<<10; i++ {
		bombs[fmt.Sprint("k", i)] = bomb
	}
	emails := strings.Repeat("x@y.io ", 1<<20/7)
	keys := func() any {
		m := map[string]any{}
		for i := range 2000 {
			m[fmt.Sprintf("u%d@example.com", i)] = i
		}
		return m
	}
	list := func() any {
		l := make([]any, 40000)
		for i := range l {
			l[i] = "x@y.io"
		}
		return l
	}
	items := func() any {
		l := make([]any, 15000)
		for i := range l {
			l[i] = map[string]any{"type": "text", "text": fmt.Sprintf("line %d of the log", i)}
		}
		return map[string]any{"content": l}
	}
	numbers := func() any {
		l := make([]any, 15000)
		for i := range l {
			l[i] = map[string]any{"id": float64(i), "ok": true, "size": float64(i * 7)}
		}
		return l
	}
	for _, c := range []struct {
		name string
		v    func() any
	}{{"email-keys-2000", keys}, {"emails-list-40000", list}, {"content-items-15000", items}, {"numbers-15000-rows", numbers}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				v := c.v()
				b.StartTimer()
				s.Value(v, Counts{})
			}
		})
	}
	b.Run("gzip-100KB", func(b *testing.B) {
		for b.Loop() {
			m := map[string]any{}
			for k, v := range bombs {
				m[k] = v
			}
			s.Value(m, Counts{})
		}
	})
	b.Run("emails-1MB", func(b *testing.B) {
		for b.Loop() {
			s.String(emails, Counts{})
		}
	})
}
