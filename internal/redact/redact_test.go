package redact

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/codec"
)

// Test values. The AWS ones are AWS's documented examples.
const (
	accessKeyID = "AKIAIOSFODNN7EXAMPLE"
	secretKey   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	jwt         = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2ln"
	card        = "4111 1111 1111 1111" // a Visa test number
	pemKey      = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc=\n-----END RSA PRIVATE KEY-----"
)

// allDetectors is a Scrubber with every built-in detector.
func allDetectors(t testing.TB) Scrubber {
	t.Helper()
	all, err := Compile([]Rule{{Name: "all", Detectors: Detectors()}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := all.Select(nil)
	return s
}

func TestDetectors(t *testing.T) {
	s := allDetectors(t)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"access key id", "key " + accessKeyID + " here", "key [REDACTED:aws-access-key-id] here"},
		{"temporary key id", "ASIAY34FZKBOKMUTVV7A", "[REDACTED:aws-access-key-id]"},
		{"key id inside a longer word", "XAKIAIOSFODNN7EXAMPLE", "XAKIAIOSFODNN7EXAMPLE"},
		{"key id too short", "AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPL"},
		{"secret key", `"SecretAccessKey": "` + secretKey + `"`, `"SecretAccessKey": "[REDACTED:aws-secret-access-key]"`},
		{"git hash is not a secret", "commit 3f786850e387550fdab836ed7e6dc881de23001b", "commit 3f786850e387550fdab836ed7e6dc881de23001b"},
		{"41 characters are not a secret key", secretKey + "A", secretKey + "A"},
		{"base64 with padding is not a secret key", secretKey + "==", secretKey + "=="},
		{"bearer token", "Authorization: Bearer abc.def-ghi_jkl~/+==", "Authorization: Bearer [REDACTED:bearer-token]"},
		{"bearer in any case", "BEARER xyz12345", "BEARER [REDACTED:bearer-token]"},
		{"bearer token that is a JWT", "bearer " + jwt, "bearer [REDACTED:bearer-token]"},
		{"bearer in prose", "the bearer of bad news, bearer instruments", "the bearer of bad news, bearer instruments"},
		{"bearer token too short to be one", "Bearer x", "Bearer x"},
		{"bare JWT", "token=" + jwt + ";", "token=[REDACTED:jwt];"},
		{"unsigned JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "[REDACTED:jwt]"},
		{"private key", "key:\n" + pemKey + "\nend", "key:\n[REDACTED:private-key]\nend"},
		{"truncated private key", "-----BEGIN PRIVATE KEY-----\nMIIE", "[REDACTED:private-key]"},
		{"openssh private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "[REDACTED:private-key]"},
		{"public key stays", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"email", "mail jane.doe+tools@example.co.uk now", "mail [REDACTED:email] now"},
		{"two emails", "a@b.io,c@d.io", "[REDACTED:email],[REDACTED:email]"},
		{"not an email", "user@localhost and @handle", "user@localhost and @handle"},
		{"card with spaces", "card " + card + ", exp 12/29", "card [REDACTED:card-number], exp 12/29"},
		{"card with dashes", "5555-5555-5555-4444", "[REDACTED:card-number]"},
		{"card without separators", "pan=378282246310005.", "pan=[REDACTED:card-number]."},
		{"card after a date", "2024-01-15 4111111111111111", "2024-01-15 [REDACTED:card-number]"},
		{"amex grouping", "3782 822463 10005", "[REDACTED:card-number]"},
		{"a version list is not a card", "go versions: 1.21.0 1.21.1 1.21.2 1.22.0 1.22.1", "go versions: 1.21.0 1.21.1 1.21.2 1.22.0 1.22.1"},
		{"an OID is not a card", "policy 1.3.6.1.4.1.44947.1.1.1", "policy 1.3.6.1.4.1.44947.1.1.1"},
		{"page numbers are not a card", "Pages 23 45 67 89 101 112 131", "Pages 23 45 67 89 101 112 131"},
		{"Luhn failure is not a card", "4111 1111 1111 1112", "4111 1111 1111 1112"},
		{"millisecond timestamp is not a card", "1767225600000", "1767225600000"},
		{"part of a longer number", "41111111111111119999999", "41111111111111119999999"},
		{"nothing to find", "VPC peering connects two VPCs.", "VPC peering connects two VPCs."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := Counts{}
			got := s.String(tc.in, counts)
			if got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if want := strings.Count(tc.want, "[REDACTED:"); total(counts) != want {
				t.Errorf("counts %v, want %d replacements", counts, want)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for in, want := range map[string]bool{
		"4111111111111111": true, "4111 1111 1111 1111": true, "378282246310005": true,
		"6011111111111117": true, "4111111111111112": false, "1234567812345678": false,
	} {
		if got := luhn(in); got != want {
			t.Errorf("luhn(%s) = %v", in, got)
		}
	}
}

func TestCustomPattern(t *testing.T) {
	r, err := Compile([]Rule{{Name: "ids", Patterns: []Pattern{{Name: "employee-id", Regex: `\bEMP-[0-9]{6}\b`}}}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := r.Select(nil)
	counts := Counts{}
	if got := s.String("EMP-123456 and EMP-12345", counts); got != "[REDACTED:employee-id] and EMP-12345" {
		t.Errorf("got %q", got)
	}
	if counts["employee-id"] != 1 {
		t.Errorf("counts %v", counts)
	}
}

func TestCompileErrors(t *testing.T) {
	for name, rules := range map[string][]Rule{
		"no name":            {{Detectors: []string{Email}}},
		"duplicate name":     {{Name: "a", Detectors: []string{Email}}, {Name: "a", Detectors: []string{JWT}}},
		"nothing to detect":  {{Name: "a"}},
		"unknown detector":   {{Name: "a", Detectors: []string{"emails"}}},
		"bad regex":          {{Name: "a", Patterns: []Pattern{{Name: "x", Regex: "("}}}},
		"matches everything": {{Name: "a", Patterns: []Pattern{{Name: "x", Regex: "a*"}}}},
		"bad pattern name":   {{Name: "a", Patterns: []Pattern{{Name: "X Y", Regex: "x"}}}},
		"shadows a built-in": {{Name: "a", Patterns: []Pattern{{Name: Email, Regex: "x"}}}},
		"empty match":        {{Name: "a", Detectors: []string{Email}, Match: &v1alpha1.Match{}}},
	} {
		if _, err := Compile(rules); err == nil {
			t.Errorf("%s: Compile succeeded", name)
		}
	}
}

// TestSelect checks that rules apply where their match says: which tools
// and which principals.
func TestSelect(t *testing.T) {
	var spec Spec
	data, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		t.Fatal(err)
	}
	r, err := Compile(spec.Rules)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(target string, groups ...string) map[string]any {
		g := []any{}
		for _, s := range groups {
			g = append(g, s)
		}
		return map[string]any{"tool": map[string]any{"target": target}, "principal": map[string]any{"groups": g}}
	}
	for _, tc := range []struct {
		name  string
		doc   map[string]any
		rules []string
	}{
		{"credentials apply to every tool", doc("docs"), []string{"credentials"}},
		{"personal data on the crm target", doc("crm"), []string{"credentials", "personal-data"}},
		{"support sees personal data", doc("crm", "support"), []string{"credentials"}},
	} {
		s, errs := r.Select(tc.doc)
		if len(errs) > 0 {
			t.Errorf("%s: %v", tc.name, errs)
		}
		if strings.Join(s.Rules, ",") != strings.Join(tc.rules, ",") {
			t.Errorf("%s: rules %v, want %v", tc.name, s.Rules, tc.rules)
		}
	}
	// A match that fails to evaluate applies the rule.
	s, errs := r.Select(map[string]any{"tool": map[string]any{"target": "crm"}, "principal": map[string]any{"groups": 42.0}})
	if len(errs) == 0 || !strings.Contains(strings.Join(s.Rules, ","), "personal-data") {
		t.Errorf("error in exclude: rules %v errors %v; want personal-data applied and an error", s.Rules, errs)
	}
}

// TestBody redacts every string of a tool result, keys and numbers untouched.
func TestBody(t *testing.T) {
	r, err := Compile([]Rule{{Name: "all", Detectors: Detectors()}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := r.Select(nil)
	in := `{"jsonrpc":"2.0","id":12345678901234567890,"result":{"content":[{"type":"text","text":"key ` + accessKeyID + `"}],` +
		`"structuredContent":{"user":{"email":"a@example.com","cards":["` + card + `"]},"count":1.50}},"error":{"message":"Bearer 0123456789"}}`
	v, err := codec.DecodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	counts := Counts{}
	if !s.Body(v.(map[string]any), Message{}, counts) {
		t.Fatal("nothing redacted")
	}
	out, _ := json.Marshal(v)
	want := `{"error":{"message":"Bearer [REDACTED:bearer-token]"},"id":12345678901234567890,"jsonrpc":"2.0","result":{"content":[{"text":"key [REDACTED:aws-access-key-id]","type":"text"}],"structuredContent":{"count":1.50,"user":{"cards":["[REDACTED:card-number]"],"email":"[REDACTED:email]"}}}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if want := (Counts{AWSAccessKeyID: 1, Email: 1, CardNumber: 1, BearerToken: 1}); !maps.Equal(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	if s.Body(map[string]any{"result": map[string]any{"content": []any{}}}, Message{}, Counts{}) {
		t.Error("Body reported a change in a clean result")
	}
	// An id is the client's own only when it is the request's; any other
	// is the target's text.
	for _, own := range []bool{true, false} {
		msg := map[string]any{"jsonrpc": "2.0", "id": "key " + accessKeyID, "result": map[string]any{}}
		if changed := s.Body(msg, Message{OwnID: own}, Counts{}); changed == own {
			t.Errorf("own id %v: redacted %v: %v", own, changed, msg["id"])
		}
	}
	// A list's cursor is the client's: a page token inside it is not a
	// secret to redact.
	cursor := base64.StdEncoding.EncodeToString([]byte(`{"offset":50,"token":"abcdef123"}`))
	page := map[string]any{"tools": []any{}, "nextCursor": cursor}
	if s.Body(map[string]any{"jsonrpc": "2.0", "id": 1, "result": page}, Message{OwnID: true, List: true}, Counts{}) || page["nextCursor"] != cursor {
		t.Errorf("nextCursor changed: %v", page["nextCursor"])
	}
	// But only a list's, and only a string: any other nextCursor is the
	// target's text, read as the rest (a review found a tool's answer
	// passing a key in one).
	for _, tc := range []struct {
		page   bool
		cursor any
	}{
		{false, "ghp_0123456789abcdefghijABCDEFGHIJ012345"},
		{true, map[string]any{"text": "AKIAIOSFODNN7EXAMPLE"}},
		{true, []any{"ghp_0123456789abcdefghijABCDEFGHIJ012345"}},
	} {
		result := map[string]any{"content": []any{}, "nextCursor": tc.cursor}
		if !s.Body(map[string]any{"jsonrpc": "2.0", "id": 1, "result": result}, Message{OwnID: true, List: tc.page}, Counts{}) {
			t.Errorf("page %v: a secret in nextCursor %v passed", tc.page, result["nextCursor"])
		}
	}
}

// TestEmptyMemberName: a member named "" is read as any other (it was
// taken for "no member to skip", and its secret passed).
func TestEmptyMemberName(t *testing.T) {
	s := allDetectors(t)
	for _, v := range []map[string]any{
		{"a": map[string]any{"": "ghp_0123456789abcdefghijABCDEFGHIJ012345"}},
		{"a": map[string]any{"": "ghp_0123456789abcdefghijABCDEFGHIJ012345", "b": "x"}},
		{"result": map[string]any{"": "AKIAIOSFODNN7EXAMPLE"}},
	} {
		counts := Counts{}
		if s.Body(v, Message{}, counts); len(counts) == 0 {
			t.Errorf("a secret under an empty name passed: %v", v)
		}
	}
}

// BenchmarkScrub100KB redacts a 100 KB tool result: log lines with an
// occasional secret, with every built-in detector on.
func BenchmarkScrub100KB(b *testing.B) {
	r, err := Compile([]Rule{{Name: "all", Detectors: Detectors()}})
	if err != nil {
		b.Fatal(err)
	}
	s, _ := r.Select(nil)
	text := result100KB()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.String(text, Counts{})
	}
}

func result100KB() string {
	var sb strings.Builder
	secrets := []string{accessKeyID, secretKey, "Bearer " + jwt, card, "ops@example.com", pemKey}
	for i := 0; sb.Len() < 100<<10; i++ {
		sb.WriteString("2026-11-23T10:00:00Z INFO request 7f3a9c handled in 12 ms by api-0 (GET /v1/orders/12345, status 200)\n")
		if i%20 == 0 {
			sb.WriteString("2026-11-23T10:00:01Z WARN leaked: " + secrets[(i/20)%len(secrets)] + "\n")
		}
	}
	return sb.String()
}

// TestEvasions: every way an outside review got a secret past the built-in
// detectors, and the classes they stand for: encodings a model decodes,
// look-alike characters, separators, and secrets split across array items.
func TestEvasions(t *testing.T) {
	s := allDetectors(t)
	pem := []string{"-----BEGIN RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEA7bq98", "c2VjcmV0", "-----END RSA PRIVATE KEY-----"}
	b64pem := "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVBCi0tLS0tRU5EIFJTQSBQUklWQVRFIEtFWS0tLS0tCg=="
	for _, tc := range []struct {
		name, in string
		gone     []string // must not survive
		keep     []string // must survive
	}{
		// AWS secrets.
		{"secret after =", "AWS_SECRET_ACCESS_KEY=" + secretKey, []string{secretKey}, []string{"AWS_SECRET_ACCESS_KEY="}},
		{"export line", "export AWS_SECRET_ACCESS_KEY=" + secretKey + "\n", []string{secretKey}, []string{"export"}},
		{".env quoted", `AWS_SECRET_ACCESS_KEY="` + secretKey + `"`, []string{secretKey}, nil},
		{"docker inspect Env", `"Env": ["PATH=/usr/bin", "AWS_SECRET_ACCESS_KEY=` + secretKey + `"]`, []string{secretKey}, []string{"PATH=/usr/bin"}},
		{"query parameter", "https://x.example/cb?secret=s3cr3t-value-123&next=2", []string{"s3cr3t-value-123"}, []string{"next=2"}},
		{"client_secret in YAML", "client_secret: Zm9vYmFyYmF6cXV4", []string{"Zm9vYmFyYmF6cXV4"}, nil},
		{"escaped slashes in text", `{"k":"wJalrXUtnFEMI\/K7MDENG\/bPxRfiCYEXAMPLEKEY"}`, []string{"wJalrXUtnFEMI", "EXAMPLEKEY"}, nil},
		{"key id after _", "key_" + accessKeyID, []string{accessKeyID}, []string{"key_"}},
		{"key id after %3D", "id%3D" + accessKeyID, []string{accessKeyID}, nil},
		{"key id percent-encoded", "%41%4B%49%41IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		// Private keys.
		{"lower-case PEM", strings.ToLower(pemKey), []string{"miiepaibaakcaqea"}, nil},
		{"PEM with JSON escapes", strings.ReplaceAll(pemKey, "\n", `\n`), []string{"MIIEpAIBAAKCAQEA"}, nil},
		{"base64 PEM (Kubernetes Secret data)", `data: {tls.key: "` + b64pem + `"}`, []string{"LS0tLS1CRUdJTi"}, []string{"tls.key"}},
		{"PuTTY key", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAAIBEZ7\nPrivate-MAC: 4a5b6c\nafter", []string{"AAAAIBEZ7", "4a5b6c"}, []string{"after"}},
		// Bearer tokens and JWTs.
		{"Bearer%20", "Authorization=Bearer%20abcdefgh12345678", []string{"abcdefgh12345678"}, nil},
		{"Bearer:", "Bearer:abcdefgh12345678", []string{"abcdefgh12345678"}, nil},
		{"Bearer+", "auth=Bearer+abcdefgh12345678", []string{"abcdefgh12345678"}, nil},
		{"Bearer NBSP", "Bearer\u00a0abcdefgh12345678", []string{"abcdefgh12345678"}, nil},
		{"JWT with a spaced header", "eyAiYWxnIjogIlJTMjU2IiB9.eyJzdWIiOiJ1In0.c2ln", []string{"eyAiYWxnIjogIlJTMjU2IiB9"}, nil},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ", []string{"OKOawDo13gRp2ojaHV7"}, nil},
		// Card numbers.
		{"card with dots", "4111.1111.1111.1111", []string{"4111.1111"}, nil},
		{"card with NBSP", "4111\u00a01111\u00a01111\u00a01111", []string{"1111\u00a01111"}, nil},
		{"card with double spaces", "4111  1111  1111  1111", []string{"1111  1111"}, nil},
		{"card with slashes", "4111/1111/1111/1111", []string{"1111/1111"}, nil},
		{"card after _", "pan_4111111111111111", []string{"4111111111111111"}, []string{"pan_"}},
		{"fullwidth card", "４１１１１１１１１１１１１１１１", []string{"４１１１"}, nil},
		// E-mail addresses.
		{"percent-encoded @", "anna%40example.com", []string{"anna"}, nil},
		{"&#64;", "anna&#64;example.com", []string{"anna"}, nil},
		{"&commat;", "anna&commat;example.com", []string{"anna"}, nil},
		{"fullwidth ＠", "anna＠example.com", []string{"anna"}, nil},
		{"IDN domain", "info@bücher.example", []string{"info@", "bücher"}, nil},
		{"non-ASCII local part", "jörg.meier@example.de", []string{"jörg", "meier"}, nil},
		{"\\u0040", `anna\u0040example.com`, []string{"anna"}, nil},
		// Escapes and look-alikes a model reads through (the classes of
		// an attack round on tool names, here on secrets).
		{"\\x40", `anna\x40example.com`, []string{"anna"}, nil},
		{"\\u{40}", `anna\u{40}example.com`, []string{"anna"}, nil},
		{"&#64 without ;", "anna&#64example.com", []string{"anna"}, nil},
		{"&#x000040;", "anna&#x000040;example.com", []string{"anna"}, nil},
		{"&#64 after 17 zeros", "anna&#" + strings.Repeat("0", 17) + "64;example.com", []string{"anna"}, nil},
		{"\\u{40} after 17 zeros", `anna\u{` + strings.Repeat("0", 17) + `40}example.com`, []string{"anna"}, nil},
		{"tag characters", "key: " + tags(accessKeyID), []string{tags(accessKeyID)}, nil},
		{"small capitals key id", "ᴀᴋɪᴀ" + accessKeyID[4:], []string{accessKeyID[4:]}, nil},
		{"negative squared key id", "🅰🅺🅸🅰" + accessKeyID[4:], []string{accessKeyID[4:]}, nil},
		{"circled digits card", "⓸⓵⓵⓵ ⓵⓵⓵⓵ ⓵⓵⓵⓵ ⓵⓵⓵⓵", []string{"⓵⓵⓵⓵ ⓵⓵⓵⓵"}, nil},
		{"dingbat digits card", "❹❶❶❶ ❶❶❶❶ ❶❶❶❶ ❶❶❶❶", []string{"❶❶❶❶ ❶❶❶❶"}, nil},
		// Markup a model reads through, and escapes of other kinds (the
		// third attack round's).
		{"markdown bold in a key id", "key AKIA**IOSFODNN7EXAMPLE**", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"code span in a key id", "AKIA`IOSFODNN7EXAMPLE`", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"HTML tags in a key id", "AKIA<b>IOSFODNN7EXAMPLE</b>", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"HTML tags in a card", "card 4111<b>1111</b>1111<b>1111</b>", []string{"4111<b>"}, nil},
		{"HTML tags in a token", "ghp_abcdefghijklmnopqrst<b>uvwxyz0123456789</b>", []string{"abcdefghijklmnopqrst"}, nil},
		{"HTML tags around @", "anna<b>@</b>example.com", []string{"anna"}, nil},
		{"ideographic full stop", "anna@example。com", []string{"anna"}, nil},
		{"&#x40 then hex letters", "anna&#x40example.com", []string{"anna"}, nil},
		{"%u0040", "anna%u0040example.com", []string{"anna"}, nil},
		{"octal escape", `anna\100example.com`, []string{"anna"}, nil},
		// The fourth round's: markup written as escapes, references read
		// two ways, tags with quoted ">" and comments, legacy names, and
		// a finding the first reading saw only in part.
		{"escaped tag", "aws_access_key_id = AKIA&lt;b&gt;IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"JSON-escaped tag", `AKIA\u003cb\u003eIOSFODNN7EXAMPLE`, []string{"IOSFODNN7EXAMPLE"}, nil},
		{"percent-encoded tag", "AKIA%3Cb%3EIOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"&#65313 without ;", "&#65313KIAIOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"&#65312 without ;", "anna&#65312example.com", []string{"anna"}, nil},
		{"quoted > in a tag", `AKIA<b title=">">IOSFODNN7EXAMPLE`, []string{"IOSFODNN7EXAMPLE"}, nil},
		{"> in a comment", "AKIA<!-- > -->IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"&shy without ;", "AKIA&shyIOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"part found as written", "me@x.AKIAIOSF<b></b>ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		// The fifth round's.
		{"long entity name", "AKIAIOSF&ZeroWidthSpace;ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		{"&shy with a ; later", "AKIAIOSFODNN7EXAMP&shyLE;", []string{"IOSFODNN7EXAMP"}, nil},
		{"&shy in a card", "41111111111111&shy11;", []string{"41111111111111"}, nil},
		{"a reference read as ASCII makes a tag", "AKIA&#x3cb>IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"a tag read through joins a reference", "AKIAIOSF&<b>#x4fDNN7EXAMPLE", []string{"DNN7EXAMPLE"}, nil},
		{"markup in base64", "QUtJQTxiPjwvYj5JT1NGT0ROTjdFWEFNUExF", []string{"QUtJQTxiPjwvYj5JT1NGT0ROTjdFWEFNUExF"}, nil},
		{"a quote outside a value", `AKIA<b a"b>IOSFODNN7EXAMPLE`, []string{"IOSFODNN7EXAMPLE"}, nil},
		{"< in a tag's name", "AKIA<b<>IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"<!-->", "AKIA<!-->IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"<!--->", "AKIA<!--->IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"--!>", "AKIA<!--x--!>IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"a link target with parentheses", "[AKIAIOSF](x(y))ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		{"&LT;b&GT;", "AKIA&LT;b&GT;IOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		// The sixth round's.
		{"= in a tag's name", `AKIA<b=">IOSFODNN7EXAMPLE">`, []string{"IOSFODNN7EXAMPLE\">"}, nil},
		{"== before a quote", `AKIA<b a==">IOSFODNN7EXAMPLE">`, []string{"IOSFODNN7EXAMPLE\">"}, nil},
		{"a bogus comment's quote", `AKIA<!x a=">IOSFODNN7EXAMPLE">`, []string{"IOSFODNN7EXAMPLE\">"}, nil},
		{"a link title's (", `[AKIA](x "(")IOSFODNN7EXAMPLE)`, []string{"IOSFODNN7EXAMPLE)"}, nil},
		{"an escaped ( in a link", `[AKIA](x\()IOSFODNN7EXAMPLE)`, []string{"IOSFODNN7EXAMPLE)"}, nil},
		{"a long comment elsewhere", "AKIA<b>IOSFODNN7EXAMPLE <!--" + strings.Repeat("x", 5000) + "-->", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"&NegativeMediumSpace;", "AKIAIOSF&NegativeMediumSpace;ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		{"&thinsp; in a card", "4111&thinsp;1111&thinsp;1111&thinsp;1111", []string{"1111&thinsp;1111"}, nil},
		// The seventh round's: WHATWG's other names, markdown's link
		// brackets and reference links, CDATA.
		{"&Omicron;", "key AKIAI&Omicron;SFODNN7EXAMPLE", []string{"SFODNN7EXAMPLE"}, nil},
		{"&Alpha;", "key &Alpha;KIAIOSFODNN7EXAMPLE", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"&Fopf; in a token", "token ghp_R4nd0mT0k3nV4lu3&Fopf;0rT3st1ngPurp0s3sXyZ", []string{"R4nd0mT0k3nV4lu3"}, nil},
		{"&Eopf; in a secret key", "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCY&Eopf;XAMPLEKEY", []string{"bPxRfiCY"}, nil},
		{"a link's text", "key AKIAIOSF[ODNN7EXAMPLE](https://x)", []string{"ODNN7EXAMPLE"}, nil},
		{"an empty link", "key AKIAIOSF[](#)ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		{"an image", "key AKIAIOSF![](x.png)ODNN7EXAMPLE", []string{"ODNN7EXAMPLE"}, nil},
		{"a reference link", "key [AKIAIOSF][r]ODNN7EXAMPLE\n\n[r]: https://x", []string{"ODNN7EXAMPLE"}, nil},
		{"a shortcut reference link", "key [AKIAIOSF]ODNN7EXAMPLE\n\n[AKIAIOSF]: https://x", []string{"ODNN7EXAMPLE"}, nil},
		{"a link around @", "mail anna[@](mailto:anna)example.com", []string{"anna"}, nil},
		{"CDATA", "key AKIA<![CDATA[IOSFODNN7EXAMPLE]]>", []string{"IOSFODNN7EXAMPLE"}, nil},
		{"CDATA around @", "mail anna<![CDATA[@]]>example.com", []string{"anna"}, nil},
		// Pages and code stay read, not replaced.
		{"a page of comments", strings.Repeat(`<div class="item"><!--[--><span>hello world</span><!--]--><!----></div>`, 1500), nil, []string{"hello world"}},
		{"code with <", strings.Repeat("if (a<b) { x = y; }\n", 1000) + "x > 1\n", nil, []string{"if (a<b)"}},
		{"key block beside an address", "-----BEGIN RSA PRIVATE KEY<b></b>-----\nComment: anna@example.com\nMIIEpAIBAAKCAQEA7bq98secretbody\nc2VjcmV0\n-----END RSA PRIVATE KEY<b></b>-----", []string{"secretbody"}, nil},
		{"Cyrillic key id", "АКІА" + accessKeyID[4:], []string{accessKeyID[4:]}, nil},
		{"math monospace key id", "\U0001D670\U0001D67A\U0001D678\U0001D670" + accessKeyID[4:], []string{accessKeyID[4:]}, nil},
		// Format characters, which show nothing, split nothing.
		{"zero-width space in a key id", "AKIA\u200bIOSFODNN7EXAMPLE", []string{"IOSFODNN7"}, nil},
		{"soft hyphen in a key id", "AKIA\u00adIOSFODNN7EXAMPLE", []string{"IOSFODNN7"}, nil},
		{"word joiner in an address", "jane\u2060@example.com", []string{"jane"}, nil},
		{"zero-width spaces in a card", "4111\u200b1111\u200b1111\u200b1111", []string{"1111"}, nil},
		{"&shy; in a key id", "AKIA&shy;IOSFODNN7EXAMPLE", []string{"IOSFODNN7"}, nil},
		// Nothing to find stays as it was, encodings included.
		{"plain percent text", "100% of 50%20 runs", nil, []string{"100% of 50%20 runs"}},
		{"entities in prose", "Q&amp;A &lt;b&gt;", nil, []string{"Q&amp;A &lt;b&gt;"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.String(tc.in, Counts{})
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("String(%q) = %q: %q survived", tc.in, got, g)
				}
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("String(%q) = %q: %q was lost", tc.in, got, k)
				}
			}
		})
	}
	t.Run("PEM split across array items", func(t *testing.T) {
		items := []any{"before"}
		for _, p := range pem {
			items = append(items, p)
		}
		items = append(items, "after")
		counts := Counts{}
		out := s.Value(items, counts).([]any)
		joined, _ := json.Marshal(out)
		for _, g := range pem {
			if strings.Contains(string(joined), g) {
				t.Errorf("%q survived: %s", g, joined)
			}
		}
		if out[0] != "before" || out[len(out)-1] != "after" || counts[PrivateKey] != 1 {
			t.Errorf("items %s, counts %v", joined, counts)
		}
	})
	t.Run("card as a JSON number", func(t *testing.T) {
		counts := Counts{}
		v := s.Value(map[string]any{"pan": json.Number("4111111111111111"), "n": json.Number("4711"), "f": float64(4111111111111111)}, counts).(map[string]any)
		if v["pan"] != "[REDACTED:card-number]" || v["f"] != "[REDACTED:card-number]" || v["n"] != json.Number("4711") {
			t.Errorf("got %v", v)
		}
	})
}

// tags writes s in Unicode tag characters, which show nothing and which a
// model reads as the ASCII they spell.
func tags(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(0xE0000 + r)
	}
	return b.String()
}
