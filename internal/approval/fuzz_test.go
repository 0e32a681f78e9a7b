package approval_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/codec"
)

// FuzzDisplay holds what an approver is shown to its promises for any
// arguments: one line per scalar or empty container, nothing a reader
// could not see but the line breaks between them, and a refusal past the
// bound, never a cut.
func FuzzDisplay(f *testing.F) {
	for _, s := range []string{`{"amount":10,"to":"x"}`, `{"a":{"b":[1,{"c":"\u202e"}]}}`, `{"k\n":"v\u200b"}`, `{"":{},"x":[]}`,
		`{"note":"ok\namount: 1","a.b":null}`, `{"n":1e21,"m":-0,"s":"\ud83d\ude00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := codec.DecodeJSON([]byte(s))
		args, ok := v.(map[string]any)
		if err != nil || !ok {
			return
		}
		out, err := approval.Call{Arguments: args}.Display()
		if errors.Is(err, approval.ErrTooLong) {
			return
		}
		if err != nil {
			t.Fatalf("Display(%s): %v", s, err)
		}
		if len([]rune(out)) > approval.MaxDisplay {
			t.Fatalf("%d characters shown, more than %d", len([]rune(out)), approval.MaxDisplay)
		}
		for _, r := range out {
			if r != '\n' && r != ' ' && (!unicode.IsGraphic(r) || unicode.Is(unicode.Zs, r)) {
				t.Fatalf("Display(%s) shows %U, which a reader cannot see:\n%s", s, r, out)
			}
		}
		if n, want := strings.Count(out, "\n")+1, leaves(args); len(args) > 0 && n != want {
			t.Fatalf("Display(%s): %d lines for %d members:\n%s", s, n, want, out)
		}
	})
}

// leaves counts the scalars and empty containers below v.
func leaves(v any) int {
	var members []any
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			members = append(members, e)
		}
	case []any:
		members = v
	default:
		return 1
	}
	n := 0
	for _, e := range members {
		n += leaves(e)
	}
	return max(n, 1)
}
