package redact

import (
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/toolgate/toolgate/internal/fold"
	"unicode"
	"unicode/utf8"
)

// Built-in detectors.
const (
	PrivateKey         = "private-key"           // PEM private key blocks, also cut off ones
	BearerToken        = "bearer-token"          // the token after "Bearer"
	JWT                = "jwt"                   // JSON Web Tokens (JWS compact form)
	AWSAccessKeyID     = "aws-access-key-id"     // AKIA..., ASIA... key ids
	AWSSecretAccessKey = "aws-secret-access-key" // 40-character base64 secrets
	CardNumber         = "card-number"           // payment card numbers that pass the Luhn check
	Email              = "email"                 // e-mail addresses
)

// order is the order built-ins run in: enclosing secrets before what they
// may contain.
var order = []string{PrivateKey, BearerToken, BasicAuth, URLPassword, JWT, GitHubToken, GitLabToken, SlackToken, StripeKey,
	GoogleKey, AzureKey, NPMToken, PyPIToken, AWSAccessKeyID, AWSSecretAccessKey, SecretField, CardNumber, Email}

// Detectors returns the names of the built-in detectors, in the order they run.
func Detectors() []string { return append([]string(nil), order...) }

// detector finds spans to replace in a string.
type detector struct {
	name  string
	order int
	find  func(s string) [][2]int
}

var builtins = func() map[string]*detector {
	finders := map[string]func(string) [][2]int{
		PrivateKey:         findPrivateKeys,
		BearerToken:        findBearerTokens,
		JWT:                findJWTs,
		AWSAccessKeyID:     findAccessKeyIDs,
		AWSSecretAccessKey: findSecretKeys,
		CardNumber:         findCardNumbers,
		Email:              findEmails,
		GitHubToken:        findGitHubTokens,
		GitLabToken:        findGitLabTokens,
		SlackToken:         findSlackTokens,
		StripeKey:          findStripeKeys,
		GoogleKey:          findGoogleKeys,
		AzureKey:           findAzureKeys,
		NPMToken:           findNPMTokens,
		PyPIToken:          findPyPITokens,
		BasicAuth:          findBasicAuth,
		URLPassword:        findURLPasswords,
		SecretField:        findSecretFields,
	}
	m := make(map[string]*detector, len(order))
	for i, name := range order {
		m[name] = &detector{name: name, order: i, find: finders[name]}
	}
	return m
}()

// regexFinder returns the spans of group in every match of re.
func regexFinder(re *regexp.Regexp, group int) func(string) [][2]int {
	return func(s string) [][2]int {
		var spans [][2]int
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if m[2*group] >= 0 && m[2*group+1] > m[2*group] {
				spans = append(spans, [2]int{m[2*group], m[2*group+1]})
			}
		}
		return spans
	}
}

// A key block without its END line (a truncated result) is redacted to the
// end of the text. Any case: a model reads "-----begin rsa private key-----"
// as a key too.
var privateKeyRe = regexp.MustCompile(`(?i)-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|$)`)

// keyEndRe is a private key block's END line.
var keyEndRe = regexp.MustCompile(`(?i)-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----`)

// A PuTTY key file, from its first line to its MAC (or the end).
var puttyKeyRe = regexp.MustCompile(`(?i)PuTTY-User-Key-File-[0-9]+:[\s\S]*?(?:Private-MAC: *[0-9a-f]+|$)`)

// A base64-encoded PEM block (as Kubernetes Secret data holds one): "-----BEGIN"
// encodes as "LS0tLS1CRUdJTi".
var base64PEMRe = regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}`)

func findPrivateKeys(s string) [][2]int {
	var spans [][2]int
	if fold.Index(s, "private key") >= 0 {
		spans = append(spans, regexFinder(privateKeyRe, 0)(s)...)
	}
	if fold.Index(s, "putty-user-key-file-") >= 0 {
		spans = append(spans, regexFinder(puttyKeyRe, 0)(s)...)
	}
	// A key's body and END line without its BEGIN line (the header in
	// another item, or cut off): from where the body starts.
	if fold.Index(s, "-----end") >= 0 {
		for _, m := range keyEndRe.FindAllStringIndex(s, -1) {
			b := m[0]
			for b > 0 && (isBase64(s[b-1]) || s[b-1] == '=' || s[b-1] == '\n' || s[b-1] == '\r' || s[b-1] == ' ') {
				b--
			}
			if m[0]-b >= 64 {
				spans = append(spans, [2]int{b, m[1]})
			}
		}
	}
	if strings.Contains(s, "LS0tLS1CRUdJTi") {
		for _, m := range base64PEMRe.FindAllStringIndex(s, -1) {
			run := strings.TrimRight(s[m[0]:m[1]], "=")
			decoded, err := base64.RawStdEncoding.DecodeString(run[:len(run)/4*4])
			if err == nil && fold.Index(string(decoded), "private key") >= 0 {
				spans = append(spans, [2]int{m[0], m[1]})
			}
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	return spans
}

// findBearerTokens finds the token after the word "bearer" (any case) and a
// separator (white space, ":", "=", or "+" as in form encoding): at least 8
// characters of an RFC 6750 b64token, not a word.
func findBearerTokens(s string) [][2]int {
	var spans [][2]int
	for i := 0; ; {
		k := fold.Index(s[i:], "bearer")
		if k < 0 {
			return spans
		}
		k += i
		i = k + len("bearer")
		if k > 0 && isWord(s[k-1]) {
			continue
		}
		j := i
		for j < len(s) && strings.IndexByte(" \t\n\r:=+", s[j]) >= 0 {
			j++
		}
		if j == i {
			continue
		}
		start := j
		for j < len(s) && (isWord(s[j]) || strings.IndexByte("-.~+/", s[j]) >= 0) {
			j++
		}
		for j > start && j < len(s) && s[j] == '=' {
			j++
		}
		if tok := s[start:j]; len(tok) >= 8 && !isLowerWord(tok) {
			spans = append(spans, [2]int{start, j})
			i = j
		}
	}
}

// isLowerWord reports whether s is all lower-case letters: "bearer" followed
// by a word of prose ("the bearer of", "bearer instruments") is no token.
func isLowerWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLower(s[i]) {
			return false
		}
	}
	return true
}

// A JWS (three parts) or JWE (five) in compact form whose header is a
// base64url JSON object: "e" and "y" or "w" start the encoding of "{" and
// any next character, so a header written with spaces ("eyAi") is found.
var jwtRe = regexp.MustCompile(`e[wy][A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}`)

func findJWTs(s string) [][2]int {
	var spans [][2]int
	for _, m := range jwtRe.FindAllStringIndex(s, -1) {
		parts := strings.Split(s[m[0]:m[1]], ".")
		if len(parts) == 4 {
			parts = parts[:3] // a JWS and a sentence's full stop
		}
		header, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
		h := strings.TrimSpace(string(header))
		if err != nil || !strings.HasPrefix(h, "{") || !(strings.Contains(h, `"alg"`) || strings.Contains(h, `"enc"`)) {
			continue
		}
		end := m[0] + len(strings.Join(parts, "."))
		if len(parts) == 3 && parts[1] == "" {
			continue
		}
		spans = append(spans, [2]int{m[0], end})
	}
	return spans
}

// accessKeyPrefixes are the four-letter prefixes of AWS access key ids and
// other unique ids of the same shape.
var accessKeyPrefixes = map[string]bool{
	"AKIA": true, "ASIA": true, "ABIA": true, "ACCA": true, "AGPA": true, "AIDA": true,
	"AIPA": true, "ANPA": true, "ANVA": true, "APKA": true, "AROA": true,
}

// findAccessKeyIDs finds 20-character ids: a known prefix and 16 upper-case
// letters or digits, not inside a longer run of letters and digits ("_"
// joins words, not ids: key_AKIA... is a key).
func findAccessKeyIDs(s string) [][2]int {
	var spans [][2]int
	for i := 0; i+20 <= len(s); i++ {
		if s[i] != 'A' || !accessKeyPrefixes[s[i:i+4]] || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		j := i + 4
		for j < i+20 && (isUpper(s[j]) || isDigit(s[j])) {
			j++
		}
		if j == i+20 && (j == len(s) || !isAlnum(s[j])) {
			spans = append(spans, [2]int{i, j})
			i = j - 1
		}
	}
	return spans
}

// findSecretKeys finds the shape of an AWS secret access key: a run of
// exactly 40 base64 characters, not part of a longer run and not padded ("="
// followed by more ends a run: AWS_SECRET_ACCESS_KEY=wJal... is a name and a
// key), with upper- and
// lower-case letters and digits (git hashes are lower-case hex and do not
// match). It also finds the value of any key or parameter named like a
// secret (secret=, client_secret:, "SecretAccessKey": "..."), whatever
// its shape.
func findSecretKeys(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		if !isBase64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64(s[j]) {
			j++
		}
		k := j
		for k < len(s) && s[k] == '=' {
			k++
		}
		padded := k > j && (k == len(s) || !isBase64(s[k])) // "=" then more is an assignment
		if j-i == 40 && !padded && isBase64Run(s[i:j]) {
			spans = append(spans, [2]int{i, j})
		}
		i = j
	}
	if fold.Index(s, "secret") >= 0 {
		spans, _ = claim(spans, regexFinder(secretValueRe, 1)(s))
	}
	return spans
}

// secretValueRe matches a value assigned to a name that ends in "secret",
// "secret key" or "secret access key" in any spelling, in JSON, YAML, .env,
// a query string or a command line.
var secretValueRe = regexp.MustCompile(`(?i)secret(?:[_ -]?access)?(?:[_ -]?key)?["']?\s*[:=]\s*["']?([^\s"'&,;<>]{6,})`)

func isBase64Run(s string) bool {
	var upper, lower, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUpper(c):
			upper = true
		case isLower(c):
			lower = true
		case isDigit(c):
			digit = true
		case c == '/' || c == '+':
		default:
			return false
		}
	}
	return upper && lower && digit
}

// findCardNumbers finds 13 to 19 digits, written together or in groups
// separated by one or two spaces, dashes, dots or slashes, that start like a
// card number (2 to 6) and pass the Luhn check. Within a longer run of
// groups (a date before a card number) every window of whole groups is
// tried. "_" may precede one (pan_4111...).
func findCardNumbers(s string) [][2]int {
	var spans [][2]int
	var buf [8][2]int
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || (i > 0 && isAlnum(s[i-1])) {
			i++
			continue
		}
		groups := digitGroups(buf[:0], s, i)
		end := groups[len(groups)-1][1]
		if end < len(s) && isAlnum(s[end]) {
			i = end // part of a longer word: not a number on its own
			continue
		}
		for a := 0; a < len(groups); a++ {
			n := 0
			for b := a; b < len(groups) && n <= 19; b++ {
				n += groups[b][1] - groups[b][0]
				if n >= 13 && n <= 19 && s[groups[a][0]] >= '2' && s[groups[a][0]] <= '6' && cardGrouping(s, groups[a:b+1]) && luhn(s[groups[a][0]:groups[b][1]]) {
					spans = append(spans, [2]int{groups[a][0], groups[b][1]})
					a = b
					break
				}
			}
		}
		i = end
	}
	return spans
}

// cardGrouping reports whether groups, runs of digits in s, are written
// as a card number is: one run, or runs of four with one separator
// throughout and a shorter or equal last one (4-4-4-4, 4-4-4-4-3), or
// American Express's and Diners' 4-6-5 and 4-6-4. Version lists
// (1.21.0 1.21.1), OIDs and page numbers are grouped otherwise.
func cardGrouping(s string, groups [][2]int) bool {
	if len(groups) == 1 {
		return true
	}
	sep := s[groups[0][1]:groups[1][0]]
	for i := 1; i < len(groups); i++ {
		if s[groups[i-1][1]:groups[i][0]] != sep {
			return false
		}
	}
	lens := make([]int, len(groups))
	for i, g := range groups {
		lens[i] = g[1] - g[0]
	}
	if len(lens) == 3 && lens[0] == 4 && lens[1] == 6 && (lens[2] == 5 || lens[2] == 4) {
		return true
	}
	for _, l := range lens[:len(lens)-1] {
		if l != 4 {
			return false
		}
	}
	return lens[len(lens)-1] <= 4
}

// digitGroups appends to groups the runs of digits from i on that are joined
// by one or two separators.
func digitGroups(groups [][2]int, s string, i int) [][2]int {
	for {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		groups = append(groups, [2]int{i, j})
		k := j
		for k < len(s) && k < j+2 && strings.IndexByte(" -./", s[k]) >= 0 {
			k++
		}
		if k > j && k < len(s) && isDigit(s[k]) {
			i = k
			continue
		}
		return groups
	}
}

// luhn checks the Luhn checksum of the digits in s, ignoring separators.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// emailDomainRe matches, anchored, the domain after an '@': dotted labels
// of any script (@bücher.example, @例え.jp), at most 255 bytes. Its
// Unicode classes cost 0.4 ms to compile: it is compiled on the first
// '@' the detector reads, not at every cold start.
var emailDomainRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[\p{L}\p{N}\p{M}-]+(?:\.[\p{L}\p{N}\p{M}-]+)*\.[\p{L}\p{M}]{2,}`)
})

// findEmails finds addresses around each '@': a local part of letters and
// digits of any script and ._%+- before it (jörg.meier@), a domain after
// it. Scanning from each '@' keeps it linear and cheap on text without one.
func findEmails(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		at := strings.IndexByte(s[i:], '@')
		if at < 0 {
			break
		}
		at += i
		start := at
		for start > i {
			r, size := utf8.DecodeLastRuneInString(s[i:start])
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || strings.ContainsRune("._%+-", r)) {
				break
			}
			start -= size
		}
		if start < at {
			if m := emailDomainRe().FindStringIndex(s[at+1 : min(len(s), at+1+255)]); m != nil {
				end := at + 1 + m[1]
				spans = append(spans, [2]int{start, end})
				i = end
				continue
			}
		}
		i = at + 1
	}
	return spans
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }
func isAlnum(c byte) bool  { return isDigit(c) || isUpper(c) || isLower(c) }
func isBase64(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) || c == '/' || c == '+' }
