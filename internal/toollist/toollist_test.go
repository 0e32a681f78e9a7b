package toollist

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/codec"
)

// keep lets the tools of the docs target through.
func keep(name string) bool { return strings.HasPrefix(name, "docs___") }

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := codec.MarshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilterList(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		hidden         []string
		err            error
	}{
		{
			name:   "hides refused tools, keeps every other field",
			in:     `{"tools":[{"name":"docs___a","inputSchema":{"type":"object"}},{"name":"k8s___delete-pod"},{"name":"docs___b","annotations":{"x":1}}],"nextCursor":"c2","_meta":{"m":true}}`,
			want:   `{"_meta":{"m":true},"nextCursor":"c2","tools":[{"inputSchema":{"type":"object"},"name":"docs___a"},{"annotations":{"x":1},"name":"docs___b"}]}`,
			hidden: []string{"k8s___delete-pod"},
		},
		{
			name:   "entries without a string name are removed",
			in:     `{"tools":[{"name":7},"docs___a",null,{}]}`,
			want:   `{"tools":[]}`,
			hidden: []string{unnamed, unnamed, unnamed, unnamed},
		},
		{
			// With the name replaced, what a text says of a hidden tool
			// would pass in any structure the filter does not read as
			// one (XML, YAML): a listed tool's text that names one goes
			// whole.
			name: "a listed tool's text that names a hidden tool goes whole, wherever it is",
			in: `{"tools":[{"name":"docs___a","title":"like k8s___delete-pod","description":"call billing___refund_payment first",` +
				`"_meta":{"see":"k8s___delete-pod","k8s___exec":{"x":1}},"annotations":{"hint":["github___x"]},` +
				`"inputSchema":{"properties":{"q":{"description":"or k8s＿＿＿delete-pod"}}}}]}`,
			want: `{"tools":[{"_meta":{"see":"[REDACTED:tool]"},"annotations":{"hint":["[REDACTED:tool]"]},` +
				`"description":"[REDACTED:tool]","inputSchema":{"properties":{"q":{"description":"[REDACTED:tool]"}}},` +
				`"name":"docs___a","title":"[REDACTED:tool]"}]}`,
			// In the order of the entry's sorted member names, each member's
			// value before its name.
			hidden: []string{"k8s___exec", "k8s___delete-pod", "github___x", "billing___refund_payment", "k8s___delete-pod", "k8s___delete-pod"},
		},
		{
			name:   "nor anywhere else in the result",
			in:     `{"tools":[{"name":"docs___a"}],"_meta":{"see":"billing___refund_payment"},"nextCursor":"after:k8s___delete-pod"}`,
			want:   `{"_meta":{"see":"[REDACTED:tool]"},"nextCursor":"[REDACTED:tool]","tools":[{"name":"docs___a"}]}`,
			hidden: []string{"billing___refund_payment", "k8s___delete-pod"},
		},
		{
			name:   "a name joined to a kept one, or behind markdown escapes",
			in:     `{"tools":[{"name":"docs___a","description":"see docs___x.billing___refund_payment or billing\\_\\_\\_refund\\_payment"}]}`,
			want:   `{"tools":[{"description":"[REDACTED:tool]","name":"docs___a"}]}`,
			hidden: []string{"docs___x.billing___refund_payment", "billing___refund_payment"},
		},
		{
			name:   "a hidden name split by a format character, or spelt with &UnderBar;",
			in:     `{"tools":[{"name":"docs___a","description":"billing\u200b___refund_payment, billing___\u2060refund_payment, billing&UnderBar;&UnderBar;&UnderBar;refund_payment"}]}`,
			want:   `{"tools":[{"description":"[REDACTED:tool]","name":"docs___a"}]}`,
			hidden: []string{"billing___refund_payment", "billing___refund_payment", "billing___refund_payment"},
		},
		{name: "empty list", in: `{"tools":[]}`, want: `{"tools":[]}`},
		{name: "no tools field", in: `{"nextCursor":"x"}`, want: `{"nextCursor":"x"}`},
		{name: "tools is not an array", in: `{"tools":{"name":"k8s___x"}}`, err: ErrShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(t, tc.in)
			hidden, err := FilterList(r, keep)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if got := encode(t, r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(hidden, tc.hidden) {
				t.Errorf("hidden %v, want %v", hidden, tc.hidden)
			}
		})
	}
}

func TestFilterSearch(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		hidden         []string
		err            bool
	}{
		{
			name:   "structured content",
			in:     `{"structuredContent":{"tools":[{"name":"k8s___delete-pod"},{"name":"docs___a"}]},"content":[]}`,
			want:   `{"content":[],"structuredContent":{"tools":[{"name":"docs___a"}]}}`,
			hidden: []string{"k8s___delete-pod"},
		},
		{
			name:   "JSON object in text",
			in:     `{"content":[{"type":"text","text":"{\"tools\": [{\"name\": \"docs___a\", \"description\": \"<b>&\"}, {\"name\": \"billing___refund_payment\"}]}"}]}`,
			want:   `{"content":[{"text":"{\"tools\":[{\"description\":\"<b>&\",\"name\":\"docs___a\"}]}","type":"text"}]}`,
			hidden: []string{"billing___refund_payment"},
		},
		{
			name:   "JSON array in text",
			in:     `{"content":[{"type":"text","text":" [{\"name\":\"k8s___x\"},{\"name\":\"docs___a\"}] "}]}`,
			want:   `{"content":[{"text":"[{\"name\":\"docs___a\"}]","type":"text"}]}`,
			hidden: []string{"k8s___x"},
		},
		{
			name:   "tool lists nested deeper",
			in:     `{"structuredContent":{"results":[{"tools":[{"name":"k8s___x"}]}]}}`,
			want:   `{"structuredContent":{"results":[]}}`, // the group lost an entry: it goes whole
			hidden: []string{"k8s___x"},
		},
		{
			name:   "an entry wrapping its tool",
			in:     `{"structuredContent":{"results":[{"tool":{"name":"k8s___x","description":"poison"},"score":0.9},{"tool":{"name":"docs___a"},"score":0.5}]}}`,
			want:   `{"structuredContent":{"results":[{"score":0.5,"tool":{"name":"docs___a"}}]}}`,
			hidden: []string{"k8s___x"},
		},
		{
			name:   "a named object as the content",
			in:     `{"structuredContent":{"name":"k8s___x","description":"poison"},"content":[]}`,
			want:   `{"content":[]}`,
			hidden: []string{"k8s___x"},
		},
		{
			name:   "prose naming tools",
			in:     `{"content":[{"type":"text","text":"Try k8s___delete-pod. Or docs___search_docs."}]}`,
			want:   `{"content":[]}`,
			hidden: []string{"k8s___delete-pod"},
		},
		{
			name: "untouched text stays byte for byte",
			in:   `{"content":[{"type":"text","text":"{ \"tools\": [ {\"name\": \"docs___a\"} ] }"}]}`,
			want: `{"content":[{"text":"{ \"tools\": [ {\"name\": \"docs___a\"} ] }","type":"text"}]}`,
		},
		// Whatever the shape, no hidden name reaches the caller.
		{name: "structured tools not an array", in: `{"structuredContent":{"tools":"k8s___x"}}`,
			want: `{}`, hidden: []string{"k8s___x"}}, // an object whose member is a refused name is about that tool
		{name: "list under another key", in: `{"structuredContent":{"results":[{"name":"billing___refund_payment"},{"name":"docs___a"}]}}`,
			want: `{"structuredContent":{"results":[{"name":"docs___a"}]}}`, hidden: []string{"billing___refund_payment"}},
		{name: "Tools and Name in other case", in: `{"structuredContent":{"Tools":[{"Name":"k8s___x"},{"Name":"docs___a"},{"id":1}]}}`,
			want: `{"structuredContent":{"Tools":[{"Name":"docs___a"}]}}`, hidden: []string{"k8s___x", "(unnamed)"}},
		{name: "prose in structured content", in: `{"structuredContent":{"summary":"best match billing___refund_payment"}}`,
			want: `{"structuredContent":{"summary":"best match [REDACTED:tool]"}}`, hidden: []string{"billing___refund_payment"}},
		{name: "resource text", in: `{"content":[{"type":"resource","resource":{"uri":"x","text":"use k8s___x"}}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "title and description", in: `{"structuredContent":{"tools":[{"name":"docs___a","title":"like k8s___x","description":"or k8s___x"}]}}`,
			want: `{"structuredContent":{"tools":[]}}`, hidden: []string{"k8s___x", "k8s___x"}},
		{name: "content is an object", in: `{"content":{"type":"text","text":"k8s___x"}}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "JSON string inside JSON text", in: `{"content":[{"type":"text","text":"{\"data\":\"{\\\"name\\\":\\\"k8s___x\\\"}\"}"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		// A refused tool's description goes with it, whatever holds it.
		{name: "the result is one tool", in: `{"name":"k8s___x","description":"poison","content":[]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "a text that is one tool", in: `{"content":[{"type":"text","text":"{\"name\":\"k8s___x\",\"description\":\"poison\"}"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "tools keyed by name", in: `{"structuredContent":{"tools":{"k8s___x":{"description":"poison"},"docs___a":{"description":"ok"}}}}`,
			want: `{"structuredContent":{"tools":{"docs___a":{"description":"ok"}}}}`, hidden: []string{"k8s___x"}},
		{name: "names that are not bare", in: `{"structuredContent":{"results":[{"name":" k8s___x","d":"poison"},{"name":"ｋ８ｓ＿＿＿ｘ","d":"poison"},` +
			`{"name":"k8s___x (v2)","d":"poison"},{"name":{"id":"k8s___x"},"d":"poison"},{"name":"docs___a"}]}}`,
			want: `{"structuredContent":{"results":[{"name":"docs___a"}]}}`, hidden: []string{" k8s___x", "ｋ８ｓ＿＿＿ｘ", "k8s___x (v2)", "k8s___x"}},
		{name: "keyed by name under any key", in: `{"structuredContent":{"matches":{"k8s___x":{"d":"poison"},"docs___a":{"d":"ok"}}}}`,
			want: `{"structuredContent":{"matches":{"docs___a":{"d":"ok"}}}}`, hidden: []string{"k8s___x"}},
		{name: "keyed by name with a name of its own", in: `{"structuredContent":{"tools":{"k8s___x":{"name":"x","d":"poison"}}}}`,
			want: `{"structuredContent":{"tools":{}}}`, hidden: []string{"k8s___x"}},
		{name: "repeated keys in a JSON text", in: `{"content":[{"type":"text","text":"{\"name\":\"k8s___x\",\"name\":\"docs___a\",\"d\":\"poison\"}"}]}`,
			want: `{"content":[]}`, hidden: []string{"(ambiguous)"}},
		{name: "a name in a list beside what is said of it", in: `{"structuredContent":{"results":[{"tool":[{"name":"k8s___x"}],"d":"poison"},{"names":[["k8s___x"]],"d":"poison"},{"name":"docs___a"}]}}`,
			want: `{"structuredContent":{"results":[{"name":"docs___a"}]}}`, hidden: []string{"k8s___x", "k8s___x"}},
		{name: "a text that says something beside a list", in: `{"content":[{"type":"text","text":"{\"match\":[{\"name\":\"k8s___x\"}],\"d\":\"poison\"}"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "a text of tools keyed by name", in: `{"content":[{"type":"text","text":"{\"tools\":{\"k8s___x\":{\"d\":\"poison\"},\"docs___a\":{\"d\":\"ok\"}}}"}]}`,
			want: `{"content":[{"text":"{\"tools\":{\"docs___a\":{\"d\":\"ok\"}}}","type":"text"}]}`, hidden: []string{"k8s___x"}},
		// Past what an answer's texts may decode: prose, whose hidden name
		// takes the item with it.
		{name: "a text of too many values", in: `{"content":[{"type":"text","text":"[` + strings.Repeat(`{},`, 110_000) + `\"k8s___x\"]"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "line separators written raw", in: "{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"tools\\\":[{\\\"name\\\":\\\"k8s___x\\\"},{\\\"name\\\":\\\"docs___a\\\",\\\"d\\\":\\\"a\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028\u2028b\\\"}]}\"}]}",
			want: `{"content":[{"text":"{\"tools\":[{\"d\":\"a\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028\\u2028b\",\"name\":\"docs___a\"}]}","type":"text"}]}`, hidden: []string{"k8s___x"}},
		{name: "named under other keys", in: `{"structuredContent":{"a":{"tool_name":"k8s___x","d":"poison"},"b":{"qualifiedName":"k8s___x","d":"poison"},"c":{"id":"k8s___x","d":"poison"}}}`,
			want: `{"structuredContent":{}}`, hidden: []string{"k8s___x", "k8s___x", "k8s___x"}},
		{name: "escaped underscores", in: `{"content":[{"type":"text","text":"k8s\\u005f\\u005f\\u005fx"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
		{name: "fullwidth name", in: `{"content":[{"type":"text","text":"ｋ８ｓ＿＿＿ｘ"}]}`,
			want: `{"content":[]}`, hidden: []string{"k8s___x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(t, tc.in)
			hidden, err := FilterSearch(r, keep)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if got := encode(t, r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(hidden, tc.hidden) {
				t.Errorf("hidden %v, want %v", hidden, tc.hidden)
			}
		})
	}
}

// TestFilterEntries: a prompts, resources or templates list keeps the
// entries its own judge keeps; in what is left, a hidden tool is named
// nowhere, but an entry's own name stands as judged.
func TestFilterEntries(t *testing.T) {
	prompts := func(name string) bool { return name != "billing___refund_letter" }
	for _, tc := range []struct {
		name, member, key, in, want string
		keep                        Keep
		hidden                      []string
		err                         error
	}{
		{
			name: "prompts", member: "prompts", key: "name", keep: prompts,
			in: `{"prompts":[{"name":"github___triage","description":"then call k8s___delete-pod"},{"name":"billing___refund_letter"},{"name":7},"x"],` +
				`"_meta":{"k8s___exec":"see billing___refund_payment"},"nextCursor":"c"}`,
			want: `{"_meta":{},"nextCursor":"c","prompts":[{"description":"[REDACTED:tool]","name":"github___triage"}]}`,
			// The entries removed, then the names replaced in member order.
			hidden: []string{"billing___refund_letter", unnamed, unnamed, "k8s___exec", "k8s___delete-pod"},
		},
		{
			name: "resources by URI", member: "resources", key: "uri", keep: func(uri string) bool { return strings.HasPrefix(uri, "docs://") },
			in:     `{"resources":[{"uri":"docs://a","name":"k8s___delete-pod"},{"uri":"file:///etc/passwd"},{"name":"no uri"}]}`,
			want:   `{"resources":[{"name":"[REDACTED:tool]","uri":"docs://a"}]}`,
			hidden: []string{"file:///etc/passwd", unnamed, "k8s___delete-pod"},
		},
		{
			name: "an entry whose own name names a hidden tool goes", member: "resources", key: "uri", keep: func(string) bool { return true },
			in:     `{"resources":[{"uri":"docs://guides/billing___refund_payment.md"},{"uri":"docs://guides/docs___intro.md"}]}`,
			want:   `{"resources":[{"uri":"docs://guides/docs___intro.md"}]}`,
			hidden: []string{"docs://guides/billing___refund_payment.md"},
		},
		{
			name: "a prompt named as a tool is judged as a prompt, but not with two separators", member: "prompts", key: "name", keep: func(string) bool { return true },
			in:     `{"prompts":[{"name":"k8s___summarize"},{"name":"docs___billing___refund_payment"}]}`,
			want:   `{"prompts":[{"name":"k8s___summarize"}]}`,
			hidden: []string{"docs___billing___refund_payment"},
		},
		{name: "no list", member: "resourceTemplates", key: "uriTemplate", keep: prompts, in: `{}`, want: `{}`},
		{name: "not a list", member: "prompts", key: "name", keep: prompts, in: `{"prompts":{"name":"x"}}`, err: ErrShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(t, tc.in)
			hidden, err := FilterEntries(r, tc.member, tc.key, tc.keep)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			hidden = append(hidden, ScrubEntries(r, tc.member, tc.key, keep)...)
			if got := encode(t, r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(hidden, tc.hidden) {
				t.Errorf("hidden %v, want %v", hidden, tc.hidden)
			}
		})
	}
}

// nested returns JSON text inside JSON text, depth levels deep, its
// quotes and backslashes escaped as \u0022 and \u005c so that it grows
// only quadratically: key at each level, inner at the bottom.
func nested(depth int, key, inner string) string {
	s := inner
	for range depth {
		s = `"{\u0022` + key + `\u0022:` + strings.NewReplacer(`\`, `\u005c`, `"`, `\u0022`).Replace(s) + `}"`
	}
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		panic(err)
	}
	return out
}

// TestDeepTextIsBounded: JSON inside text inside JSON is read as JSON
// only a few levels deep, and a rewrite never grows the text: a target's
// description of a few KB once became an 8 MB answer, or took minutes.
func TestDeepTextIsBounded(t *testing.T) {
	for _, tt := range []struct{ key, bottom string }{{"x", `"nope___x"`}, {"name", `"docs___a"`}} {
		key, text := tt.key, nested(20, tt.key, tt.bottom)
		in, _ := json.Marshal(map[string]any{"structuredContent": map[string]any{"tools": []any{map[string]any{"name": "docs___a", "description": text}}}})
		calls := 0
		keep := func(n string) bool { calls++; return n == "docs___a" }
		r := decode(t, string(in))
		if _, err := FilterSearch(r, keep); err != nil {
			t.Fatal(err)
		}
		if out := encode(t, r); len(out) > len(in) {
			t.Errorf("%s: %d bytes in, %d out", key, len(in), len(out))
		}
		if calls > 100 {
			t.Errorf("%s: %d judgements of a text of %d bytes", key, calls, len(text))
		}
		listed := `{"tools":[{"name":"docs___a","description":` + string(mustJSON(t, text)) + `}]}`
		l := decode(t, listed)
		if _, err := FilterList(l, keep); err != nil {
			t.Fatal(err)
		}
		if out := encode(t, l); len(out) > len(listed) {
			t.Errorf("%s: a list of %d bytes became %d", key, len(listed), len(out))
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProseDoesNotGrow: a text of many short hidden names, each replaced
// with a longer marker, goes whole instead of growing the answer.
func TestProseDoesNotGrow(t *testing.T) {
	keep := func(n string) bool { return n == "docs___a" }
	// Prose outside any list, where a name is replaced and the text
	// stays (a listed item's text goes whole).
	one := decode(t, `{"summary":"use a___b"}`)
	many := decode(t, `{"summary":"`+strings.Repeat("a___b ", 1000)+`"}`)
	for _, r := range []map[string]any{one, many} {
		if _, err := FilterSearch(r, keep); err != nil {
			t.Fatal(err)
		}
	}
	if got := encode(t, one); got != `{"summary":"use [REDACTED:tool]"}` {
		t.Errorf("one name: %s", got)
	}
	if got := encode(t, many); got != `{"summary":"[REDACTED:tool]"}` {
		t.Errorf("many names: %s", got)
	}
}

// TestLargeSearchTextKeepsAllowedTools: the gateway's search text is read
// as JSON however long its descriptions are (it is few values), so a
// hidden tool goes alone, not with every allowed one.
func TestLargeSearchTextKeepsAllowedTools(t *testing.T) {
	keep := func(n string) bool { return n != "k8s___delete-pod" }
	text := mustJSON(t, map[string]any{"tools": []map[string]any{
		{"name": "k8s___get-pod", "description": "Read a pod." + strings.Repeat(" x", 600<<10)},
		{"name": "k8s___delete-pod", "description": "Delete a pod."},
		{"name": "github___search_issues", "description": "Search issues."}}})
	r := map[string]any{"content": []any{map[string]any{"type": "text", "text": string(text)}}}
	if _, err := FilterSearch(r, keep); err != nil {
		t.Fatal(err)
	}
	out := encode(t, r)
	if !strings.Contains(out, "github___search_issues") || !strings.Contains(out, "k8s___get-pod") || strings.Contains(out, "delete-pod") {
		t.Errorf("%.300s", out)
	}
}

// TestHiddenNameWithASuffix: a hidden name read with a separator after it
// (in italics, before a dash) is that name, though the longer run is one
// keep allows (the seventh attack round's).
func TestHiddenNameWithASuffix(t *testing.T) {
	keep := func(n string) bool { return n != "k8s___delete-pod" }
	for _, d := range []string{"Delete with _k8s___delete-pod_ first.", "Delete with k8s___delete-pod—then retry.",
		"Delete with k8s___delete-pod–or not.", "Delete with K8S___DELETE-POD_ first.", "Delete with k8s___delete-pod.then first."} {
		r := map[string]any{"tools": []any{
			map[string]any{"name": "docs___a", "description": d},
			map[string]any{"name": "k8s___delete-pod", "description": "Delete a pod."}}}
		if _, err := FilterList(r, keep); err != nil {
			t.Fatal(err)
		}
		if out := encode(t, r); strings.Contains(strings.ToLower(out), "delete-pod") {
			t.Errorf("%q: %s", d, out)
		}
	}
	// A name that only starts like a hidden one, and that the filter
	// did not hide, stays.
	r := map[string]any{"tools": []any{map[string]any{"name": "docs___a", "description": "Use k8s___delete-pods-safely first."}}}
	if _, err := FilterList(r, keep); err != nil || !strings.Contains(encode(t, r), "k8s___delete-pods-safely") {
		t.Errorf("%s %v", encode(t, r), err)
	}
}

// TestTextValuesBudgetSpent: once an answer's texts decoded as many values
// as they may, the next text is prose however it is written (strictjson
// reads a bound of 0 as none).
func TestTextValuesBudgetSpent(t *testing.T) {
	keep := func(n string) bool { return n != "k8s___x" }
	first := `["docs___a"` + strings.Repeat(`,0`, maxTextValues-2) + `]`
	second := `[{"name":"k8s___x"},{"name":"docs___a"}]`
	r := map[string]any{"content": []any{
		map[string]any{"type": "text", "text": first},
		map[string]any{"type": "text", "text": second}}}
	if _, err := FilterSearch(r, keep); err != nil {
		t.Fatal(err)
	}
	// Decoded, the second would lose only its hidden entry; as prose, its
	// item goes with the hidden name.
	if c := r["content"].([]any); len(c) != 1 {
		t.Errorf("the second text was decoded past the budget: %.200v", c)
	}
}

// TestUnreadTextGoesWhole: a text that looks like JSON but is not read as
// JSON (past the answer's budget, too deep) and names a hidden tool goes
// whole, also in a listed tool's description, where no item removes it:
// with only the name replaced, what it says of the hidden tool would pass.
func TestUnreadTextGoesWhole(t *testing.T) {
	keep := func(n string) bool { return strings.HasPrefix(n, "docs___") }
	secret := `[{"name":"github___delete_repo","description":"deletes any repository"}]`
	spend := `{"a":["é"` + strings.Repeat(`,0`, maxTextValues-3) + `]}`
	deep := nested(5, "x", string(mustJSON(t, secret)))
	for name, tools := range map[string][]any{
		"budget spent":   {map[string]any{"name": "docs___a", "description": spend}, map[string]any{"name": "docs___b", "description": secret}},
		"too deep":       {map[string]any{"name": "docs___b", "description": deep}},
		"zero-width":     {map[string]any{"name": "docs___b", "description": "\u200b" + secret}},
		"byte order":     {map[string]any{"name": "docs___b", "description": "\ufeff" + secret}},
		"fenced":         {map[string]any{"name": "docs___b", "description": "```json\n" + secret + "\n```"}},
		"after a word":   {map[string]any{"name": "docs___b", "description": "Related tools: " + secret}},
		"fullwidth":      {map[string]any{"name": "docs___b", "description": "［" + secret[1:len(secret)-1] + "］"}},
		"in annotations": {map[string]any{"name": "docs___b", "annotations": map[string]any{"title": "\u200b" + secret}}},
		// Brackets a model reads through an encoding, and other
		// opening brackets (found by this stop's attack round).
		"html entities":     {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "&#91;", "]", "&#93;", "{", "&#123;", "}", "&#125;").Replace(secret)}},
		"named entities":    {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "&lbrack;", "]", "&rbrack;", "{", "&lbrace;", "}", "&rbrace;").Replace(secret)}},
		"percent":           {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "%5B", "]", "%5D", "{", "%7B", "}", "%7D").Replace(secret)}},
		"json escapes":      {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", `\u005b`, "]", `\u005d`, "{", `\u007b`, "}", `\u007d`).Replace(secret)}},
		"small brackets":    {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "\ufe5d", "]", "\ufe5e", "{", "\ufe5b", "}", "\ufe5c").Replace(secret)}},
		"ornament brackets": {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "", "]", "", "{", "\u2774", "}", "\u2775").Replace(secret)}},
		"brace pieces":      {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "", "]", "", "{", "\u23a8", "}", "\u23ac").Replace(secret)}},
		"guillemets":        {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "", "]", "", "{", "«", "}", "»").Replace(secret)}},
		"bare members":      {map[string]any{"name": "docs___b", "description": strings.NewReplacer("[", "", "]", "", "{", "", "}", "").Replace(secret)}},
	} {
		r := map[string]any{"tools": tools}
		if _, err := FilterList(r, keep); err != nil {
			t.Fatal(err)
		}
		if out := encode(t, r); strings.Contains(out, "deletes any repository") || strings.Contains(out, "delete_repo") {
			t.Errorf("%s: %.300s", name, out[max(0, len(out)-300):])
		}
	}
}

// TestLookAlikeNamesAreFound: a hidden tool's name in a kept tool's
// description is found however a model would still read it: letters of
// other scripts or of mathematical alphabets drawn as the Latin ones,
// underscores that NFKC makes "_", escapes (\x5f, &#95 without ";"), and
// encodings deeper than the view reads, which go whole (the classes of an
// attack round).
func TestLookAlikeNamesAreFound(t *testing.T) {
	// Hidden by its exact name, as a deny list or a changed pin hides
	// one: a prefix cut at a character the name pattern does not take
	// (a ligature, a dash) would be kept.
	keep := func(n string) bool { return n != "k8s___delete-pod" && n != "k8s___restart-deployment" }
	for _, d := range []string{
		"call k8s\ufe4d\ufe4d\ufe4ddelete-pod first",
		"call k8s\ufe33\ufe33\ufe33delete-pod first",
		"call k8s___\U0001D68D\U0001D68E\U0001D695\U0001D68E\U0001D69D\U0001D68E-\U0001D699\U0001D698\U0001D68D first",
		"call k8\u0455___delete-pod first",
		`call k8s\x5f\x5f\x5fdelete-pod first`,
		`call k8s\u{5f}\u{5f}\u{5f}delete-pod first`,
		"call k8s&#95&#95&#95delete-pod first",
		"call k8s%25255F%25255F%25255Fdelete-pod first",
		"call k8s%2525255F%2525255F%2525255Fdelete-pod first",
		// The second attack round's: tag characters, small capitals,
		// squared letters, low lines, a ligature and a dash inside the
		// name, leading zeros past sixteen.
		"call " + tagged("k8s___delete-pod") + " first",
		"call ᴋ8ѕ___ᴅᴇʟᴇᴛᴇ-ᴘᴏᴅ first",
		"call 🅺8🆂___🅳🅴🅻🅴🆃🅴-🅿🅾🅳 first",
		"call k8s‗‗‗delete-pod first",
		"call k8sˍˍˍdelete-pod first",
		"call k8s___reﬆart-deployment first",
		"call k8s___delete—pod first",
		"call k8s&#" + strings.Repeat("0", 17) + "95;&#95;&#95;delete-pod first",
		// Markup and escapes of other kinds (the third round's).
		"call k8s___**delete-pod** first",
		"call k8s___`delete-pod` first",
		"call k8s___<b>delete-pod</b> first",
		"call **k8s**___delete-pod first",
		"call k8s<wbr>___delete-pod first",
		`call k8s\137\137\137delete-pod first`,
		"call k8s&#x5f&#x5f&#x5fdelete-pod first",
		"call k8s%u005f%u005f%u005fdelete-pod first",
		// The fourth round's.
		"call k8s&lt;b&gt;___delete-pod first",
		`call k8s\u003cb\u003e___delete-pod first`,
		"call k8s&#65343&#65343&#65343delete-pod first",
		`call k8s<span title=">">___delete-pod first`,
		"call k8s<!-- > -->___delete-pod first",
		"call k8s<?x?>___delete-pod first",
		"call [k8s___delete](x)-pod first",
		"call k8s___de&shylete-pod first",
		"call k8s<b " + strings.Repeat("x", 5000) + ">___delete-pod first",
		// The fifth round's.
		"call k8s___de&ZeroWidthSpace;lete-pod first",
		"call k8s___delete-p&shyod; first",
		"call k8s___de&#x3cb>lete-pod first",
		"call k8s__&<b>#x5fdelete-pod first",
		`call k8s___de<b a"b>lete-pod first`,
		"call k8s___de<!-->lete-pod first",
		"call [k8s___de](x(y))lete-pod first",
		"call k8s___de<!--" + strings.Repeat("x", 5000) + "-->lete-pod first",
		"call [k8s___de](" + strings.Repeat("x", 5000) + ")lete-pod first",
		// The sixth round's.
		`call k8s___de<b a==">lete-pod"> first`,
		`call k8s___de<!x a=">lete-pod"> first`,
		`call k8s___de<b =">lete-pod"> first`,
		`call [k8s___de](x "(")lete-pod) first`,
		`call [k8s___de](x\()lete-pod) first`,
		"call k8s___de&NegativeThinSpace;lete-pod first",
		"call k8s___delete&ndash;pod first",
		"call k8s___de&lrm;lete-pod first",
		// The seventh round's.
		"call k8&sopf;___delete-pod first",
		"call k8s___delet&eopf;-pod first",
		"call k8s___delete&DownBreve;-pod first",
		"call K8&Sfr;___DELETE-POD first",
		"call k8s[___delete-pod](https://docs.example/) first",
		"call k8s[](#)___delete-pod first",
		"call k8s![](x.png)___delete-pod first",
		"call [k8s][r]___delete-pod first\n\n[r]: https://docs.example/",
		"call [k8s][]___delete-pod first\n\n[k8s]: https://docs.example/",
		"call [k8s]___delete-pod first\n\n[k8s]: https://docs.example/",
		"<tool>k8s<![CDATA[___delete-pod]]></tool>",
		"call k8s<![CDATA[___]]>delete-pod first",
		// More escapes than a view reads: not read, so not passed.
		"call " + strings.Repeat("%41", 300_000) + " k8s___delete-pod first",
	} {
		r := map[string]any{"tools": []any{map[string]any{"name": "docs___a", "description": d}}}
		hidden, err := FilterList(r, keep)
		if err != nil {
			t.Fatal(err)
		}
		if out := encode(t, r); len(hidden) == 0 || !strings.Contains(out, "[REDACTED:tool]") {
			t.Errorf("%.80q passed: hidden %v, %.200s", d, hidden, out)
		}
	}
	// Nothing hidden, nothing changed: a page's markup is read, not
	// replaced for costing too much to read (the sixth round's).
	page := strings.Repeat("<li><!--[--><span>Lists pods</span><!--]--></li>\n", 200)
	r := map[string]any{"tools": []any{map[string]any{"name": "docs___a", "description": page}}}
	if hidden, _ := FilterList(r, keep); len(hidden) != 0 || !strings.Contains(encode(t, r), "Lists pods") {
		t.Errorf("a page naming no hidden tool changed: %v %.200s", hidden, encode(t, r))
	}
	// Nothing hidden, nothing changed: other scripts' prose stays.
	r = map[string]any{"tools": []any{map[string]any{"name": "docs___a", "description": "Поиск по документации: docs___b, 検索"}}}
	if hidden, _ := FilterList(r, keep); len(hidden) != 0 || !strings.Contains(encode(t, r), "Поиск по документации: docs___b, 検索") {
		t.Errorf("a description naming only kept tools changed: %v %s", hidden, encode(t, r))
	}
}

// tagged writes s in Unicode tag characters (see redact's tags).
func tagged(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(0xE0000 + r)
	}
	return b.String()
}

// TestStructureOutsideListsGoesWhole: outside any list, where a prose
// text keeps its words with a hidden name replaced, a text that may hold
// structure a model reads (brackets of any kind or encoding, pieces of a
// tall brace, guillemets, a JSON member without its braces) and names a
// hidden tool goes whole: what it says of the tool is not prose.
func TestStructureOutsideListsGoesWhole(t *testing.T) {
	keep := func(n string) bool { return strings.HasPrefix(n, "docs___") }
	inner := `"name":"github___delete_repo","description":"deletes any repository"`
	for name, d := range map[string]string{
		"braces":         "{" + inner + "}",
		"html entities":  "&#123;" + inner + "&#125;",
		"small brackets": "\ufe5b" + inner + "\ufe5c",
		"brace pieces":   "\u23a8" + inner + "\u23ac",
		"guillemets":     "«" + inner + "»",
		"bare members":   inner,
	} {
		r := map[string]any{"summary": "See also: " + d}
		if _, err := FilterSearch(r, keep); err != nil {
			t.Fatal(err)
		}
		if out := encode(t, r); strings.Contains(out, "deletes any repository") || strings.Contains(out, "delete_repo") {
			t.Errorf("%s: %s", name, out)
		}
	}
	r := map[string]any{"summary": "Use github___delete_repo (carefully) to delete a repository."}
	if _, err := FilterSearch(r, keep); err != nil {
		t.Fatal(err)
	}
	if out := encode(t, r); out != `{"summary":"Use [REDACTED:tool] (carefully) to delete a repository."}` {
		t.Errorf("prose: %s", out)
	}
}
