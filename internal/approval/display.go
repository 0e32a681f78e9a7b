package approval

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/toolgate/toolgate/internal/codec"
)

// MaxDisplay is the most characters an approval shows of a call: about a
// screen, what a person can still read before deciding. A call that does
// not fit is denied, never shown in part: what an approver does not see
// must not run.
const MaxDisplay = 4000

// ErrTooLong is the error of Display for a call that cannot be shown whole.
var ErrTooLong = errors.New("the arguments are too long to be shown whole to whoever approves")

// Display renders what c will run as an approver reads it: one line
// per member, "path: value", where path names the member from the top
// (payment.card.last4, items[2]) and value is its JSON text; the call's
// other params (a target's input responses, its request state, a task),
// which the tool reads too, follow as "@inputResponses...".
//
// Nothing is left out and nothing is disguised: every member and every
// character of every value appears; characters a reader could not see
// (controls, format, bidi and other default-ignorable characters, blank
// letters, spaces other than U+0020) and letters of another script inside
// a word of ASCII letters (a Cyrillic "а" in "pаypal") are written as \u
// escapes; a string with letters or digits of another script names them
// after it ("৪০১৭" (Bengali)); numbers are shown as the double the
// policies and the binding read. Only the value of a member whose name says it is a secret
// (password, api_key, client_secret, token, ...) is masked, and the mask
// says so and how long it is: masking by shape would let a value that
// merely looks like a credential hide a host or a command. Members that
// move money or data (amounts, accounts, recipients, URLs, commands) come
// first, the rest in the canonical order of their paths. It fails with
// ErrTooLong past MaxDisplay characters, and on values JSON cannot hold.
func (c Call) Display() (string, error) {
	d := &display{}
	if err := d.flatten("", c.Arguments, true, false); err != nil {
		return "", err
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, codec.CompareUTF16)
	for _, k := range keys {
		if err := d.flatten("@"+join("", k), c.Params[k], false, false); err != nil {
			return "", err
		}
	}
	lines := d.lines
	slices.SortStableFunc(lines, func(a, b line) int {
		if a.risky != b.risky {
			if a.risky {
				return -1
			}
			return 1
		}
		return 0 // flatten wrote them in canonical order
	})
	var b strings.Builder
	n := 0
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
			n++
		}
		b.WriteString(l.text)
		if n += utf8.RuneCountInString(l.text); n > MaxDisplay {
			return "", fmt.Errorf("%w (more than %d characters)", ErrTooLong, MaxDisplay)
		}
	}
	if len(lines) == 0 {
		return "(no arguments)", nil
	}
	return b.String(), nil
}

type line struct {
	text  string
	risky bool
}

// display is a display being made: its lines, in canonical order, and how
// many values it masked.
type display struct {
	lines  []line
	masked int
}

// maxMaskedValues is the most values one display masks: a call has a few
// credentials, and values beyond them are shown.
const maxMaskedValues = 8

// flatten appends a line per scalar (or empty container) in v, named by
// path, in canonical order; secret says v is the value of a member whose
// name is a secret's, which masks it if it is a string, and only then.
func (d *display) flatten(path string, v any, top, secret bool) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 && !top {
			d.lines = append(d.lines, line{text: path + ": {}", risky: riskyPath(path)})
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, codec.CompareUTF16)
		for _, k := range keys {
			if err := d.flatten(join(path, k), v[k], false, secretName(k)); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if len(v) == 0 {
			d.lines = append(d.lines, line{text: path + ": []", risky: riskyPath(path)})
			return nil
		}
		for i, e := range v {
			if err := d.flatten(path+"["+strconv.Itoa(i)+"]", e, false, false); err != nil {
				return err
			}
		}
		return nil
	}
	if s, ok := v.(string); ok && secret && len(s) <= maxMasked && d.masked < maxMaskedValues {
		d.masked++
		d.lines = append(d.lines, line{text: fmt.Sprintf("%s: [masked: a secret of %d characters]", path, utf8.RuneCountInString(s)), risky: riskyPath(path)})
		return nil
	}
	text, err := scalar(v)
	if err != nil {
		return fmt.Errorf("argument %s: %w", path, err)
	}
	d.lines = append(d.lines, line{text: path + ": " + text, risky: riskyPath(path)})
	return nil
}

// join names member k of the member at path: bare when it is a plain
// name, quoted (as the value would be) when it is not, so that a name with
// a dot, a bracket, a colon or an "@" cannot pass for a path.
func join(path, k string) string {
	name := k
	if !plainName(k) {
		name = quote(k)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func plainName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r < utf8.RuneSelf && (r == '_' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')) {
			return false
		}
	}
	return true
}

// maxMasked is the longest value a secret's name masks: credentials are
// short, and a long value under such a name is shown, as anything else.
const maxMasked = 1024

// scalar writes a scalar as JSON: strings quoted, numbers as the double
// they are read as.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(v), nil
	case string:
		return quote(v), nil
	case json.Number, float64:
		b, err := codec.Canonical(v)
		return string(b), err
	}
	return "", fmt.Errorf("%T is not a JSON value", v)
}

// secretNames are member names, lower case without separators, whose
// values are credentials.
var secretNames = map[string]bool{
	"password": true, "passwd": true, "passphrase": true, "secret": true, "clientsecret": true, "apikey": true,
	"apisecret": true, "apitoken": true, "accesskey": true, "secretkey": true, "secretaccesskey": true,
	"privatekey": true, "signingkey": true, "token": true, "accesstoken": true, "refreshtoken": true, "idtoken": true,
	"sessiontoken": true, "authtoken": true, "bearertoken": true, "authorization": true, "cookie": true,
	"credential": true, "credentials": true,
}

// secretName reports whether a member named k holds a secret: its name,
// in any case and separator style (client_secret, ClientSecret,
// CLIENT-SECRET), is one of secretNames, or ends in password or secret.
func secretName(k string) bool {
	n := make([]rune, 0, len(k))
	for _, r := range strings.ToLower(k) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n = append(n, r)
		}
	}
	s := string(n)
	return secretNames[s] || strings.HasSuffix(s, "password") || strings.HasSuffix(s, "secret")
}

// quote writes s as a JSON string in which every character is what it
// looks like (see Visible), followed by the scripts of its letters and
// digits beyond ASCII and the Latin-1 letters: "аӏісе@раураӏ.сом"
// (Cyrillic) reads as itself, not as alice@paypal.com, and "৪০১৭"
// (Bengali) not as 8017.
func quote(s string) string {
	q := `"` + Visible(s) + `"`
	if names := scriptsOf(s); names != "" {
		q += " (" + names + ")"
	}
	return q
}

// scriptsOf names, comma-separated in alphabetical order, the scripts of
// the letters and digits of s that are neither ASCII nor Latin-1 letters;
// "" if there are none.
func scriptsOf(s string) string {
	var names []string
	for _, r := range s {
		if r < utf8.RuneSelf || latin1Letter(r) || !unicode.In(r, unicode.L, unicode.Nd, unicode.Nl, unicode.No) {
			continue
		}
		name := "Unknown"
		for _, n := range scriptNames {
			if unicode.Is(unicode.Scripts[n], r) {
				name = n
				break
			}
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// scriptNames are the names of unicode.Scripts, sorted (the scripts
// partition the characters, so the order only makes the search repeatable).
var scriptNames = slices.Sorted(maps.Keys(unicode.Scripts))

// Visible returns s with every character a reader could mistake written
// as an escape (\n, \t, \", \\, \uXXXX), on one line. In text that holds
// an ASCII letter or digit, that is every character beyond ASCII but the
// letters of Latin-1 (é, ü, ß): a Cyrillic "а" in "pаypal", a label
// "аррӏе" beside ".com", a Bengali digit beside ASCII ones, a combining
// mark, a look-alike dot or slash, a right-to-left letter that would
// reorder the digits around it. In text of another script alone, the
// characters no one sees as themselves (see unseen) and those that stand
// for others (compatibility characters: ⅾ, 𝚊, ﬁ); and every character
// beyond ASCII of text that is not in canonical composed form (NFC), which
// could render as other text does. Policies' messages, comments and names
// are shown through it too.
func Visible(s string) string {
	var b strings.Builder
	mixed := hasASCIIAlnum(s)
	// Text not in canonical composed form (a letter and its accent as two
	// characters, Hangul as jamo) renders as other text does: it is
	// escaped whole, so that two calls never read the same.
	decomposed := !norm.NFC.IsNormalString(s)
	marks := 0 // combining marks in a row
	for _, r := range s {
		if unicode.Is(unicode.M, r) {
			marks++
		} else {
			marks = 0
		}
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' || r < utf8.RuneSelf && unicode.IsGraphic(r):
			b.WriteRune(r)
		case unseen(r) || mixed && !latin1Letter(r) || marks > 2 || decomposed || compatible(r) || latinLookalike(r):
			if r > 0xFFFF {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// latinLookalike reports whether r is a Latin letter beyond Latin-1 and
// Latin Extended-A (the letters of European languages): small capitals,
// IPA and phonetic letters (ᴘᴀʏᴘᴀʟ, ɑ) read as ASCII, in text of no other
// letters as anywhere.
func latinLookalike(r rune) bool { return r > 0x17F && unicode.Is(unicode.Latin, r) }

// compatible reports whether r is a compatibility character, one that
// stands for another (ⅾ for d, 𝚊 for a, ﬁ for fi, ² for 2).
func compatible(r rune) bool {
	var buf [utf8.UTFMax]byte
	return !norm.NFKC.IsNormal(buf[:utf8.EncodeRune(buf[:], r)])
}

func hasASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// latin1Letter reports whether r is a letter of Latin-1 Supplement (À to
// ÿ, not × or ÷): accented letters that look like nothing else.
func latin1Letter(r rune) bool {
	return r >= 0xC0 && r <= 0xFF && r != 0xD7 && r != 0xF7
}

// unseen reports whether r, not ASCII, is a character a reader would not
// see as itself: not graphic, a space other than U+0020, private use,
// invalid, a variation selector or another default-ignorable character
// (U+034F, U+17B4...), a letter or symbol that renders blank (U+3164
// HANGUL FILLER, U+2800 BRAILLE BLANK, U+1D159...), or a fullwidth form of
// an ASCII character. (A third combining mark in a row is escaped too:
// stacks of them draw over the lines around.)
func unseen(r rune) bool {
	switch {
	case r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.In(r, unicode.Zs, unicode.Co,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
		return true
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return true
	}
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x180E, 0x2062, 0x2063, 0x2064, 0x1D159, 0x1D173, 0x1D174, 0x1D175,
		0x1D176, 0x1D177, 0x1D178, 0x1D179, 0x1D17A:
		return true
	}
	return false
}

// riskyWords are the words of member names that move money or data, or
// name where it goes: an approver reads them first.
var riskyWords = map[string]bool{
	"amount": true, "amounts": true, "sum": true, "total": true, "price": true, "cost": true, "fee": true, "quantity": true,
	"qty": true, "currency": true, "value": true,
	"account": true, "accounts": true, "iban": true, "bic": true, "swift": true, "routing": true, "card": true, "wallet": true,
	"recipient": true, "recipients": true, "to": true, "cc": true, "bcc": true, "payee": true, "beneficiary": true,
	"destination": true, "dest": true, "target": true, "address": true, "email": true, "phone": true,
	"url": true, "urls": true, "uri": true, "link": true, "endpoint": true, "host": true, "webhook": true, "domain": true,
	"command": true, "cmd": true, "script": true, "query": true, "sql": true,
}

// riskyPath reports whether a word of any member name in path is risky;
// names split at case changes, digits and punctuation (toAccount,
// to_account, TO-ACCOUNT).
func riskyPath(path string) bool {
	var word []rune
	flush := func() bool {
		w := strings.ToLower(string(word))
		word = word[:0]
		return riskyWords[w]
	}
	prev := rune(0)
	for _, r := range path {
		switch {
		case unicode.IsLetter(r):
			if unicode.IsUpper(r) && unicode.IsLower(prev) && flush() {
				return true
			}
			word = append(word, r)
		default:
			if flush() {
				return true
			}
		}
		prev = r
	}
	return flush()
}
