package approval

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/redact"
)

// MaxDisplay is the most characters an approval shows of a call's
// arguments: about a screen, what a person can still read before deciding.
// A call whose arguments do not fit is denied, never shown in part: what an
// approver does not see must not run.
const MaxDisplay = 4000

// ErrTooLong is the error of Display for arguments that cannot be shown
// whole.
var ErrTooLong = errors.New("the arguments are too long to be shown whole to whoever approves")

// secrets finds credential-shaped text in the arguments shown; e-mail
// addresses are not masked: a recipient is what an approver must see.
var secrets = redact.Secrets()

// Display renders a call's arguments as an approver reads them: one line
// per member, "path: value", where path names the member from the top
// (payment.card.last4, items[2]) and value is its JSON text. Nothing is
// left out: every member and every character of every value appears, with
// characters a reader could not see (controls, format and bidi characters,
// spaces other than U+0020) written as \u escapes, and numbers as the
// double the policies and the binding read. Only credential-shaped text is
// masked, with a marker that says so. Members that move money or data
// (amounts, accounts, recipients, URLs, commands) come first, the rest in
// the canonical order of their paths. It fails with ErrTooLong past
// MaxDisplay characters, and on values JSON cannot hold.
func Display(args map[string]any) (string, error) {
	var lines []line
	if err := flatten(&lines, "", args, true); err != nil {
		return "", err
	}
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

// flatten appends a line per scalar (or empty container) in v, named by
// path, in canonical order; risky marks members under a risky name.
func flatten(lines *[]line, path string, v any, top bool) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 && !top {
			*lines = append(*lines, line{text: path + ": {}", risky: riskyPath(path)})
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, codec.CompareUTF16)
		for _, k := range keys {
			if err := flatten(lines, join(path, k), v[k], false); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if len(v) == 0 {
			*lines = append(*lines, line{text: path + ": []", risky: riskyPath(path)})
			return nil
		}
		for i, e := range v {
			if err := flatten(lines, path+"["+strconv.Itoa(i)+"]", e, false); err != nil {
				return err
			}
		}
		return nil
	}
	text, err := scalar(v)
	if err != nil {
		return fmt.Errorf("argument %s: %w", path, err)
	}
	*lines = append(*lines, line{text: path + ": " + text, risky: riskyPath(path)})
	return nil
}

// join names member k of the member at path: bare when it is a plain
// name, quoted (as the value would be) when it is not, so that a name with
// a dot, a bracket or a colon cannot pass for a path.
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

// scalar writes a scalar as JSON: strings masked and quoted, numbers as
// the double they are read as.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(v), nil
	case string:
		return quote(secrets.String(v, redact.Counts{})), nil
	case json.Number, float64:
		b, err := codec.Canonical(v)
		return string(b), err
	}
	return "", fmt.Errorf("%T is not a JSON value", v)
}

// quote writes s as a JSON string in which every character is visible:
// beyond JSON's own escapes, characters that are not graphic (controls,
// format and bidi characters, zero-width ones, private-use and unassigned
// ones) and spaces other than U+0020 are written as \u escapes.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
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
		case r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Co, r):
			if r > 0xFFFF {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
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
