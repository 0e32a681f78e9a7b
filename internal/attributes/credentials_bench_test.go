package attributes

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCredentialStores2KB scans the arguments of the 2 KB sample
// call. Its long text passes the plain-word screen; its query ("how do I
// configure ...") names a command word, and is read in full.
func BenchmarkCredentialStores2KB(b *testing.B) {
	text := strings.Repeat("The agent is helping an operator plan a network migration. ", 12)
	args := map[string]any{"query": "how do I configure VPC peering between two accounts with overlapping CIDR ranges",
		"filters":    map[string]any{"products": []any{"vpc", "transit-gateway", "privatelink"}, "since": "2025-01-01", "languages": []any{"en"}},
		"maxResults": 25.0, "includeSnippets": true, "context": text}
	b.ReportAllocs()
	for b.Loop() {
		if s := CredentialStores(args); len(s) != 0 {
			b.Fatal(s)
		}
	}
}

// BenchmarkCredentialStoresProse scans 2 KB of ordinary prose that uses
// command words as words ("set up", "environment"), as an agent's
// instructions to a tool may: none of it is screened out, and every word
// of every reading is followed as a shell would.
func BenchmarkCredentialStoresProse(b *testing.B) {
	text := strings.Repeat("The agent is helping an operator set up the network environment. ", 31)
	args := map[string]any{"instructions": text}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if s := CredentialStores(args); len(s) != 0 {
			b.Fatal(s)
		}
	}
}

// hostileValues are values built by four attacks to make the scan slow
// or large: each must cost about what its size does (see
// BenchmarkCredentialStoresHostile), and the sequences that overflow must
// not exhaust memory. The last is a call of 96 of them (6 MB, the most a
// call's params may hold), which the call's budget of readings stops.
var hostileValues = map[string]map[string]any{
	"sequence-overflow":   {"command": "echo {9223372036854775806..9223372036854775807}"},
	"sequence-wraps":      {"command": "echo {-9223372036854775808..9223372036854775807}"},
	"curl-range-overflow": {"command": "curl http://x/[9223372036854775806-9223372036854775807]"},
	"nested-braces":       {"command": strings.Repeat("{", 32000) + " " + strings.Repeat("}", 32000)},
	"nested-alternatives": {"command": strings.Repeat("{{,}}", 13000)},
	"many-alternatives":   {"command": strings.Repeat("{a,b} ", 10833)},
	"cd-join":             {"command": "cd /" + strings.Repeat("a", 30000) + " " + strings.Repeat("x ", 15000)},
	"runs-options":        {"command": strings.Repeat("-x ", 21000) + "set"},
	"runs-assignments":    {"command": strings.Repeat("a=1 ", 16000) + "set"},
	"argv-options":        {"argv": append(repeat("-x", 40000), "set")},
	"argv-braces":         {"argv": append(append(repeat("{", 8000), "x"), repeat("}", 8000)...)},
	// The third attack's: curl sets and ranges by the thousand, quoted
	// alternatives, one-item sequences under alternatives, options named
	// like commands, brackets of classes.
	"curl-sets":           {"command": `curl "http://x/` + strings.Repeat("{a,b}", 7) + strings.Repeat("{}", 32700) + `"`},
	"curl-ranges":         {"command": "curl http://x/" + strings.Repeat("[1-1]", 13000)},
	"quoted-commas":       {"command": "cat '.{" + strings.Repeat(",", 32000) + "}" + strings.Repeat("a", 32000) + "'"},
	"one-item-sequences":  {"command": strings.Repeat("{,}", 8) + strings.Repeat("{1..1}", 248) + " " + strings.Repeat("a", 2500)},
	"options-like-env":    {"command": strings.Repeat("-/env ", 10900) + "x"},
	"options-like-export": {"argv": append(repeat("-/export", 7200), "x")},
	"class-brackets":      {"command": "cat ." + strings.Repeat("[[:", 21000)},
	// The fourth attack's: globs by the thousand in each of many readings.
	"globs-by-reading":       {"command": manyReadings + strings.Repeat(".[/", 20000)},
	"glob-blanks-by-reading": {"command": manyReadings + strings.Repeat(".[ ", 20000)},
	"classes-by-reading":     {"command": manyReadings + strings.Repeat(".[[:a:]]/", 6600)},
	"stars-by-reading":       {"command": manyReadings + strings.Repeat("*=", 30000)},
	"one-glob-deep":          {"command": manyReadings + strings.Repeat(".a/", 20000) + "*"},
	"components-by-reading":  {"command": manyReadings + strings.Repeat(".a/", 20000)},
	"proc-brackets":          {"command": "/proc " + strings.Repeat("[ ", 32000)},
	"a-call-of-96":           manyValues(96, manyReadings+strings.Repeat(".a/", 20000)+"*"),
}

// manyReadings starts a value that has 15 brace readings.
const manyReadings = "{a,b,c}{d,e,f,g,h} cat "

// manyValues is a call's arguments of n members, each v.
func manyValues(n int, v string) map[string]any {
	args := map[string]any{}
	for i := range n {
		args[strconv.Itoa(i)] = v
	}
	return args
}

func repeat(s string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func BenchmarkCredentialStoresHostile(b *testing.B) {
	for name, args := range hostileValues {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CredentialStores(args)
			}
		})
	}
}
