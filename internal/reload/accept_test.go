package reload

import (
	"bytes"
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/s3bundle"
	"github.com/toolgate/toolgate/policies"
)

// BenchmarkAccept measures what a changed bundle costs the invocation that
// picks it up, beyond the download: reading the archive, compiling every
// policy and running every test case (the default bundle's 55).
func BenchmarkAccept(b *testing.B) {
	var archive bytes.Buffer
	if err := bundle.WriteArchive(&archive, policies.FS); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := accept(archive.Bytes(), s3bundle.Location{Bucket: "policies", Prefix: "p"}, s3bundle.Object{}); err != nil {
			b.Fatal(err)
		}
	}
}
