package xraytrace

import (
	"testing"

	"github.com/aws/aws-xray-sdk-go/header"
)

// FuzzSampled holds sampled to the SDK's own reading of a trace header.
func FuzzSampled(f *testing.F) {
	for _, h := range []string{"", "Root=1-6741b2a0-0123456789abcdef01234567;Parent=1234567890abcdef;Sampled=1",
		"Root=1-a;Parent=b;Sampled=0", "Sampled=1;Sampled=0", "Sampled=0;Sampled=1", " Sampled=1 ", "Sampled=?", "sampled=1",
		"Root=Sampled=1", "Self=1;Sampled=1;Lineage=a:1", "Sampled=1\u00a0", "\u2003Sampled=1", "Sampled=10", ";;Sampled=1;"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := sampled(h), header.FromString(h).SamplingDecision == header.Sampled; got != want {
			t.Errorf("sampled(%q) = %v, the SDK reads %v", h, got, want)
		}
	})
}
