package attributes

import (
	"strings"
	"testing"
)

// BenchmarkCredentialStores2KB scans the arguments of the 2 KB sample
// call, whose text is no plain word and so is normalised.
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
