package redact

import (
	"regexp"
	"strings"
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
var order = []string{PrivateKey, BearerToken, JWT, AWSAccessKeyID, AWSSecretAccessKey, CardNumber, Email}

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
// end of the string.
var privateKeyRe = regexp.MustCompile(`-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|$)`)

func findPrivateKeys(s string) [][2]int {
	if !strings.Contains(s, "PRIVATE KEY") {
		return nil
	}
	return regexFinder(privateKeyRe, 0)(s)
}

// findBearerTokens finds the token after the word "bearer" (any case) and
// white space: at least 8 characters of an RFC 6750 b64token, not a word.
func findBearerTokens(s string) [][2]int {
	var spans [][2]int
	for i := 0; ; {
		k := indexFold(s[i:], "bearer")
		if k < 0 {
			return spans
		}
		k += i
		i = k + len("bearer")
		if k > 0 && isWord(s[k-1]) {
			continue
		}
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
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

// indexFold is strings.Index ignoring ASCII case, without allocating.
func indexFold(s, lowerSubstr string) int {
	n := len(lowerSubstr)
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == lowerSubstr[0] && strings.EqualFold(s[i:i+n], lowerSubstr) {
			return i
		}
	}
	return -1
}

// A JWS in compact form: a header and a payload that are base64url JSON
// objects ("eyJ" is the encoding of `{"`), and a signature that may be empty.
var jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

func findJWTs(s string) [][2]int { return regexFinder(jwtRe, 0)(s) }

// accessKeyPrefixes are the four-letter prefixes of AWS access key ids and
// other unique ids of the same shape.
var accessKeyPrefixes = map[string]bool{
	"AKIA": true, "ASIA": true, "ABIA": true, "ACCA": true, "AGPA": true, "AIDA": true,
	"AIPA": true, "ANPA": true, "ANVA": true, "APKA": true, "AROA": true,
}

// findAccessKeyIDs finds 20-character ids: a known prefix and 16 upper-case
// letters or digits, not inside a longer word.
func findAccessKeyIDs(s string) [][2]int {
	var spans [][2]int
	for i := 0; i+20 <= len(s); i++ {
		if s[i] != 'A' || !accessKeyPrefixes[s[i:i+4]] || (i > 0 && isWord(s[i-1])) {
			continue
		}
		j := i + 4
		for j < i+20 && (isUpper(s[j]) || isDigit(s[j])) {
			j++
		}
		if j == i+20 && (j == len(s) || !isWord(s[j])) {
			spans = append(spans, [2]int{i, j})
			i = j - 1
		}
	}
	return spans
}

// findSecretKeys finds the shape of an AWS secret access key: a run of
// exactly 40 base64 characters, not part of a longer run, with upper- and
// lower-case letters and digits. (Git hashes are lower-case hex and do not
// match.)
func findSecretKeys(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		if !isBase64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && (isBase64(s[j]) || s[j] == '=') {
			j++
		}
		if j-i == 40 && isBase64Run(s[i:j]) {
			spans = append(spans, [2]int{i, j})
		}
		i = j
	}
	return spans
}

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
// separated by one space or dash, that start like a card number (2 to 6) and
// pass the Luhn check. Within a longer run of groups (a date before a card
// number) every window of whole groups is tried.
func findCardNumbers(s string) [][2]int {
	var spans [][2]int
	var buf [8][2]int
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || (i > 0 && isWord(s[i-1])) {
			i++
			continue
		}
		groups := digitGroups(buf[:0], s, i)
		end := groups[len(groups)-1][1]
		if end < len(s) && isWord(s[end]) {
			i = end // part of a longer word: not a number on its own
			continue
		}
		for a := 0; a < len(groups); a++ {
			n := 0
			for b := a; b < len(groups) && n <= 19; b++ {
				n += groups[b][1] - groups[b][0]
				if n >= 13 && n <= 19 && s[groups[a][0]] >= '2' && s[groups[a][0]] <= '6' && luhn(s[groups[a][0]:groups[b][1]]) {
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

// digitGroups appends to groups the runs of digits from i on that are joined
// by single spaces or dashes.
func digitGroups(groups [][2]int, s string, i int) [][2]int {
	for {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		groups = append(groups, [2]int{i, j})
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
			i = j + 1
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

// emailDomainRe matches the domain after an '@', anchored.
var emailDomainRe = regexp.MustCompile(`^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

// findEmails finds addresses around each '@': a local part of letters,
// digits and ._%+- before it, a dotted domain after it.
func findEmails(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		at := strings.IndexByte(s[i:], '@')
		if at < 0 {
			break
		}
		at += i
		start := at
		for start > i && isLocal(s[start-1]) {
			start--
		}
		if start < at {
			if m := emailDomainRe.FindStringIndex(s[at+1:]); m != nil {
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
func isWord(c byte) bool   { return isDigit(c) || isUpper(c) || isLower(c) || c == '_' }
func isBase64(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) || c == '/' || c == '+' }
func isLocal(c byte) bool {
	return isDigit(c) || isUpper(c) || isLower(c) || strings.IndexByte("._%+-", c) >= 0
}
