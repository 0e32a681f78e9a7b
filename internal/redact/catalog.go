package redact

import (
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/toolgate/toolgate/internal/fold"
)

// Detectors of credentials that announce themselves: a vendor's token
// prefix, an "Authorization: Basic" header, a password in a URL, and the
// value of anything named like a secret. The prefixes and lengths follow
// the vendors' published formats (and gitleaks' rules, which we measured
// and did not adopt as a library: see docs/performance.md, "Redaction").
const (
	GitHubToken    = "github-token"   // ghp_ gho_ ghu_ ghs_ ghr_ github_pat_
	GitLabToken    = "gitlab-token"   // glpat- and GitLab's other token prefixes
	SlackToken     = "slack-token"    // xoxb- xoxp- xoxa- xoxr- xoxs- xoxe- xapp-, and webhook URLs
	StripeKey      = "stripe-key"     // sk_live_ rk_live_ (and _test_), whsec_
	GoogleKey      = "google-api-key" // AIza API keys, GOCSPX- client secrets, ya29. access tokens
	AzureKey       = "azure-key"      // storage account keys, Entra ID client secrets
	NPMToken       = "npm-token"      // npm_
	PyPIToken      = "pypi-token"     // pypi-AgEIcHlwaS5vcmc (a macaroon for pypi.org)
	BasicAuth      = "basic-auth"     // the credentials of "Basic <base64 of user:password>"
	URLPassword    = "url-password"   // the password of scheme://user:password@host
	SecretField    = "secret-field"   // the value of a member or assignment named like a secret
	maxTokenLength = 1024
)

// prefixed finds tokens that start with one of prefixes (not inside a
// longer word) and go on with at least min and at most max characters that
// body accepts.
func prefixed(prefixes []string, body func(byte) bool, min, max int) func(string) [][2]int {
	return func(s string) [][2]int {
		var spans [][2]int
		for _, p := range prefixes {
			for i := 0; ; {
				k := strings.Index(s[i:], p)
				if k < 0 {
					break
				}
				start := i + k
				j := start + len(p)
				for j < len(s) && j-start-len(p) <= max && body(s[j]) {
					j++
				}
				i = j
				if n := j - start - len(p); n < min || n > max || (start > 0 && isAlnum(s[start-1])) {
					continue
				}
				spans = append(spans, [2]int{start, j})
			}
		}
		return sortSpans(spans)
	}
}

// anyOf returns what finders find, in order, without overlaps (the first
// finder's span wins).
func anyOf(finders ...func(string) [][2]int) func(string) [][2]int {
	return func(s string) [][2]int {
		var spans [][2]int
		for _, f := range finders {
			spans, _ = claim(spans, f(s))
		}
		return spans
	}
}

func isTokenChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }
func isBase64URL(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

var (
	findGitHubTokens = anyOf(
		prefixed([]string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, isAlnum, 36, 251),
		prefixed([]string{"github_pat_"}, isWord, 22, 244),
	)
	findGitLabTokens = prefixed([]string{"glpat-", "gloas-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glsoat-"}, isTokenChar, 20, 255)
	findSlackTokens  = anyOf(
		prefixed([]string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-"}, isTokenChar, 10, 255),
		regexFinder(regexp.MustCompile(`hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}`), 0),
	)
	findStripeKeys = prefixed([]string{"sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"}, isAlnum, 16, 247)
	findGoogleKeys = anyOf(
		prefixed([]string{"AIza"}, isBase64URL, 35, 35),
		prefixed([]string{"GOCSPX-"}, isBase64URL, 28, 28),
		prefixed([]string{"ya29."}, isBase64URL, 20, maxTokenLength),
	)
	findAzureKeys  = anyOf(findStorageKeys, findEntraSecrets)
	findNPMTokens  = prefixed([]string{"npm_"}, isAlnum, 36, 36)
	findPyPITokens = prefixed([]string{"pypi-AgEIcHlwaS5vcmc"}, isBase64URL, 50, maxTokenLength)
)

// findStorageKeys finds an Azure storage account key, 64 bytes in
// base64, after "AccountKey" and "=" or ":" (a connection string, a CLI's
// JSON).
func findStorageKeys(s string) [][2]int {
	var spans [][2]int
	for i := 0; ; {
		k := fold.Index(s[i:], "accountkey")
		if k < 0 {
			return spans
		}
		j := i + k + len("accountkey")
		i = j
		j = skip(s, j, "\"' \t")
		if j >= len(s) || (s[j] != '=' && s[j] != ':') {
			continue
		}
		start := skip(s, j+1, "\"' \t")
		end := start
		for end < len(s) && isBase64(s[end]) {
			end++
		}
		if end-start == 86 && strings.HasPrefix(s[end:], "==") {
			spans = append(spans, [2]int{start, end + 2})
			i = end + 2
		}
	}
}

// findEntraSecrets finds an Entra ID (Azure AD) client secret: three
// characters, a digit, "Q~" and 31 to 34 more, found from its "Q~".
func findEntraSecrets(s string) [][2]int {
	var spans [][2]int
	entra := func(c byte) bool { return isAlnum(c) || c == '_' || c == '~' || c == '.' }
	for i := 0; ; {
		k := strings.Index(s[i:], "Q~")
		if k < 0 {
			return spans
		}
		q := i + k
		i = q + 2
		start := q - 4
		if start < 0 || !isDigit(s[q-1]) || !entra(s[start]) || !entra(s[start+1]) || !entra(s[start+2]) ||
			(start > 0 && (entra(s[start-1]) || s[start-1] == '-')) {
			continue
		}
		end := q + 2
		for end < len(s) && (entra(s[end]) || s[end] == '-') {
			end++
		}
		if n := end - q - 2; n >= 31 && n <= 34 {
			spans = append(spans, [2]int{start, end})
			i = end
		}
	}
}

// skip returns the first index from i on of a byte not in set.
func skip(s string, i int, set string) int {
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

// basicAuthRe finds the credentials after "Basic" in an Authorization
// header or a curl -u / --header argument.
var basicAuthRe = regexp.MustCompile(`(?i)\bbasic[ \t]+([A-Za-z0-9+/]{4,}={0,2})`)

// findBasicAuth finds base64 credentials after "Basic" that decode to
// user:password: "basic training" is prose.
func findBasicAuth(s string) [][2]int {
	if fold.Index(s, "basic") < 0 {
		return nil
	}
	var spans [][2]int
	for _, m := range basicAuthRe.FindAllStringSubmatchIndex(s, -1) {
		enc := s[m[2]:m[3]]
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
		}
		if err == nil && strings.IndexByte(string(dec), ':') > 0 && printable(dec) {
			spans = append(spans, [2]int{m[2], m[3]})
		}
	}
	return spans
}

// urlPasswordRe finds the password of scheme://user:password@host: a
// database URL, a git remote, a proxy; the user may be empty
// (redis://:password@host) and the password may hold "@" (the last one
// before the host ends it). Its counted repeats make it the costliest
// pattern to compile (0.7 ms): it is compiled on the first text with a
// "://", not at every cold start.
var urlPasswordRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/'"<>]{0,128}:([^\s/'"<>]{1,256})@[A-Za-z0-9\[]`)
})

func findURLPasswords(s string) [][2]int {
	if !strings.Contains(s, "://") {
		return nil
	}
	return regexFinder(urlPasswordRe(), 1)(s)
}

// secretHints are what a secret's name contains, in lower case: only
// names with one are read as words.
var secretHints = []string{"secret", "pass", "pwd", "token", "key", "credential", "auth", "pat", "cookie"}

// findSecretFields finds the value given to a name SecretName accepts, in
// JSON, YAML, .env, PHP, a query string, a header, XML or a command line:
//   - name, an optional quote, ":", "=" or "=>", and a value: a quoted
//     one whole (spaces and all), else up to white space, a quote or &,;<>;
//     in YAML, a value on the next line (password:\n  x, password: |);
//   - after "Authorization:" and a scheme (Token, Digest...), the
//     credentials that follow it;
//   - --name value and --name=value on a command line;
//   - <name>value</name>.
//
// A value must be at least 6 characters. It works from each ":", "=",
// "--" and "<", so it reads text without one at the cost of a byte scan.
func findSecretFields(s string) [][2]int {
	var spans [][2]int
	add := func(v, end int) {
		if end-v >= 6 && (len(spans) == 0 || spans[len(spans)-1][1] <= v) {
			spans = append(spans, [2]int{v, end})
		}
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ':' || s[i] == '=':
			// The name, back from the separator.
			e := i
			for e > 0 && (s[e-1] == ' ' || s[e-1] == '\t') {
				e--
			}
			if e > 0 && (s[e-1] == '"' || s[e-1] == '\'') {
				e--
			}
			b := e
			for b > 0 && e-b < 64 && (isWord(s[b-1]) || s[b-1] == '.' || s[b-1] == '-') {
				b--
			}
			if b == e || !isUpper(s[b]) && !isLower(s[b]) || (b > 0 && isWord(s[b-1])) || !hinted(s[b:e]) || !SecretName(s[b:e]) {
				continue
			}
			v := i + 1
			if s[i] == '=' && v < len(s) && s[v] == '>' {
				v++ // PHP's =>
			}
			v = skip(s, v, " \t")
			if s[i] == ':' && v < len(s) && (s[v] == '|' || s[v] == '>') {
				v++ // a YAML block scalar
				v = skip(s, v, " \t-+")
			}
			if v < len(s) && (s[v] == '\n' || s[v] == '\r') && s[i] == ':' {
				// YAML: the value is the next line, indented.
				v = skip(s, v, "\r\n")
				v = skip(s, v, " \t")
			}
			if v < len(s) && s[v] == '-' && v+1 < len(s) && s[v+1] == ' ' {
				v = skip(s, v+1, " \t") // a YAML list's first item
			}
			for v < len(s) && (s[v] == '!' || s[v] == '&') {
				v = skip(s, skipWord(s, v), " \t") // a YAML tag or anchor
			}
			v, end := valueAt(s, v)
			name := strings.ToLower(s[b:e])
			switch {
			case strings.HasSuffix(name, "authorization"):
				// Any scheme (Bearer, Token, SSWS, Bot...): a first word
				// followed by another is the scheme, the rest the
				// credentials.
				if next := skip(s, end, " \t"); next > end && next < len(s) && s[next] != '\n' && s[next] != '\r' {
					v, end = next, lineEnd(s, next)
				}
			case strings.HasSuffix(name, "cookie"):
				end = lineEnd(s, v) // every cookie of the header
			}
			add(v, end)
			i = max(i, end-1)
		case s[i] == '-' && i+1 < len(s) && s[i+1] == '-' && (i == 0 || !isWord(s[i-1]) && s[i-1] != '-'):
			b := i + 2
			e := b
			for e < len(s) && e-b < 64 && (isWord(s[e]) || s[e] == '-') {
				e++
			}
			if e == b || e >= len(s) || (s[e] != ' ' && s[e] != '=') || !hinted(s[b:e]) || !SecretName(s[b:e]) {
				continue
			}
			v, end := valueAt(s, skip(s, e+1, " \t"))
			add(v, end)
			i = max(i, end-1)
		case s[i] == '<' && i+1 < len(s) && s[i+1] != '/':
			e := i + 1
			for e < len(s) && e-i < 64 && (isWord(s[e]) || s[e] == '-' || s[e] == '.' || s[e] == ':') {
				e++
			}
			if e >= len(s) || (s[e] != '>' && s[e] != ' ') || !hinted(s[i+1:e]) || !SecretName(s[i+1:e]) {
				continue
			}
			if s[e] == ' ' { // attributes
				k := strings.IndexByte(s[e:min(len(s), e+256)], '>')
				if k < 0 {
					continue
				}
				e += k
			}
			close := strings.Index(s[e+1:min(len(s), e+1+256)], "</")
			if close > 0 {
				add(e+1, e+1+close)
				i = e + close
			}
		}
	}
	return spans
}

// lineEnd returns where the line that holds i ends.
func lineEnd(s string, i int) int {
	for i < len(s) && s[i] != '\n' && s[i] != '\r' {
		i++
	}
	return i
}

// skipWord returns the end of the word at i.
func skipWord(s string, i int) int {
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
		i++
	}
	return i
}

// valueAt returns the value that starts at v: a quoted one up to its
// closing quote (at most 256 characters), else up to white space, a quote
// or &,;<>.
func valueAt(s string, v int) (start, end int) {
	if v < len(s) && (s[v] == '"' || s[v] == '\'') {
		if k := strings.IndexByte(s[v+1:min(len(s), v+1+256)], s[v]); k > 0 {
			return v + 1, v + 1 + k
		}
		v++
	}
	end = v
	for end < len(s) && strings.IndexByte(" \t\r\n\v\f\"'&,;<>", s[end]) < 0 {
		end++
	}
	return v, end
}

// hinted reports whether name holds one of secretHints, in any case.
func hinted(name string) bool {
	for _, h := range secretHints {
		if fold.Index(name, h) >= 0 {
			return true
		}
	}
	return false
}

// SecretName reports whether a member or variable name says its value is a
// secret, in any case and separator style: client_secret, ClientSecret,
// password, DB_PASSWORD, secret_access_key, api-key, apiKey, token,
// access_token, private_key, credentials, Authorization. A count of tokens
// (max_tokens, input_tokens) and a page's token (nextToken,
// continuation_token) are not secrets.
func SecretName(name string) bool {
	var words []string
	if name != "" && isLowerWord(name) {
		// Most member names of an answer (type, name, description):
		// one word, with nothing to fold, split or trim.
		words = []string{name}
	} else {
		words = splitName(fold.String(name))
		for i, w := range words {
			words[i] = strings.TrimRight(w, "0123456789") // PASSWORD1, DB_PASSWORD_2
		}
		words = slices.DeleteFunc(words, func(w string) bool { return w == "" })
	}
	if len(words) == 0 {
		return false
	}
	// pass_word, Pass-Phrase: one word written as two.
	for i := 0; i+1 < len(words); i++ {
		if j := words[i] + words[i+1]; j == "password" || j == "passphrase" || j == "passcode" || j == "apikey" {
			words = append(append(words[:i:i], j), words[i+2:]...)
		}
	}
	last := words[len(words)-1]
	prev := ""
	if len(words) > 1 {
		prev = words[len(words)-2]
	}
	switch last {
	case "value", "text", "plain", "plaintext", "string", "binary", "raw", "b64", "base64", "hex", "base":
		// password_value, secret_key_base: the secret's own word before it.
		if len(words) > 1 {
			return SecretName(strings.Join(words[:len(words)-1], "_")) || prev == "key" && slices.Contains(words, "secret")
		}
		return false
	case "secret", "secrets", "password", "passwords", "passwd", "passphrase", "passphrases", "passcode", "credential", "credentials",
		"authorization", "apikey", "apikeys", "privatekey", "pat", "cookie", "cookies", "auth", "bearer":
		// auth: a Docker config.json's base64 user:password.
		return true
	case "token":
		switch prev {
		case "next", "page", "continuation", "pagination", "sync", "cursor", "marker", "starting", "resume", "resumption", "progress", "idempotency", "client":
			// A page's place, a progress notification's correlation, a
			// request's idempotency key.
			return false
		}
		return true
	case "key", "keys":
		switch prev {
		case "secret", "api", "private", "access", "signing", "encryption", "master", "account", "client", "auth", "session", "app":
			// access_key alone is AWS's key id, which the key id detector
			// finds; it is redacted here too, being half a credential.
			return true
		}
	case "pass", "pwd":
		return len(words) > 1 // db_pass, user_pwd; "pass" alone is a verb
	}
	return false
}

// splitName splits a name into lower-case words at separators and at
// lower-to-upper case changes: ClientSecret, client_secret, client-secret,
// CLIENT_SECRET, clientSecret all give [client secret]. "apiKey" gives
// [api key]; "APIKey" gives [api key].
func splitName(name string) []string {
	// Words are slices of name, lowered only when they hold a capital:
	// every member name of an answer is split, and most are lower case.
	var words []string
	start := -1 // of the word being read
	word := func(end int) {
		words = append(words, strings.ToLower(name[start:end]))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isLower(c) || isDigit(c):
		case isUpper(c):
			// A new word at aB, and at the last capital of a run
			// followed by a lower-case letter (APIKey: API, Key).
			if i > 0 && (isLower(name[i-1]) || isDigit(name[i-1]) || (isUpper(name[i-1]) && i+1 < len(name) && isLower(name[i+1]))) {
				word(i)
				start = i
			}
		default:
			if start >= 0 {
				word(i)
			}
			start = -1
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		word(len(name))
	}
	return words
}

// printable reports whether b is text: what a decoded credential is.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return len(b) > 0
}

func sortSpans(spans [][2]int) [][2]int {
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	return spans
}
