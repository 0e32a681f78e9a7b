package redact

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ordinaryAnswers builds, deterministically, n lines of what tools answer
// when nothing is secret: ids, hashes, digests, ARNs, page tokens, token
// counts, timestamps, paths, URLs, base64 of ordinary text, and prose that
// names secrets without holding one.
func ordinaryAnswers(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	rnd := func(k int) []byte {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	uuid := func() string {
		b := rnd(16)
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	lines := []func() string{
		func() string { return fmt.Sprintf("request %s completed in %d ms", uuid(), r.IntN(900)) },
		func() string {
			s := sha1.Sum(rnd(8))
			return "commit " + hexOf(s[:]) + " Merge pull request #" + fmt.Sprint(r.IntN(9999))
		},
		func() string {
			s := sha256.Sum256(rnd(8))
			return "registry.example.com/app@sha256:" + hexOf(s[:])
		},
		func() string {
			return fmt.Sprintf(`{"InstanceId": "i-%s", "Arn": "arn:aws:iam::%012d:role/app-%d", "NextToken": "%s"}`,
				hexOf(rnd(9))[:17], r.Int64N(1e12), r.IntN(99), base64.StdEncoding.EncodeToString(rnd(48)))
		},
		func() string {
			return fmt.Sprintf(`{"usage": {"input_tokens": %d, "output_tokens": %d}, "max_tokens": 4096}`, r.IntN(90000), r.IntN(4000))
		},
		func() string {
			return fmt.Sprintf("2026-11-%02dT%02d:%02d:%02dZ pod/api-%s-%s Running 0 %dd", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), hexOf(rnd(5))[:10], hexOf(rnd(3))[:5], r.IntN(40))
		},
		func() string {
			return "/usr/local/lib/python3.11/site-packages/botocore/data/s3/2006-03-01/service-2.json"
		},
		func() string {
			return fmt.Sprintf("GET https://api.example.com/v1/orders/%d?page_token=%s&limit=50 200", r.IntN(1e6), hexOf(rnd(12)))
		},
		func() string {
			return "config: " + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("replicas: %d\nimage: app:%d.%d\n", r.IntN(9), r.IntN(9), r.IntN(99))))
		},
		func() string {
			return "The password reset e-mail was sent; the token expires in 15 minutes. Rotate the API key yearly."
		},
		func() string {
			return "Authorization header missing: send a bearer token. Basic authentication is disabled."
		},
		func() string {
			return fmt.Sprintf("ETag: \"%s\" Content-MD5: %s", hexOf(rnd(16)), base64.StdEncoding.EncodeToString(rnd(16)))
		},
		func() string { return fmt.Sprintf("session_id=%s; Path=/; HttpOnly", uuid()) },
		func() string {
			return fmt.Sprintf("kubectl get secret app-tls -o name\nsecret/app-tls created %s", uuid())
		},
		func() string {
			return fmt.Sprintf("v%d.%d.%d built from %s at %d", r.IntN(9), r.IntN(20), r.IntN(50), hexOf(rnd(20))[:12], 1767225600000+r.Int64N(1e9))
		},
		func() string {
			return fmt.Sprintf("ipv4 10.%d.%d.%d ipv6 fe80::%x:%x", r.IntN(255), r.IntN(255), r.IntN(255), r.IntN(65535), r.IntN(65535))
		},
	}
	var b strings.Builder
	for i := range n {
		b.WriteString(lines[i%len(lines)]())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestOrdinaryAnswers measures false positives on a corpus of ordinary
// tool answers and on the project's own prose (README and docs): the
// default bundle's detectors must find nothing in the answers; what they
// find in the prose (which quotes examples) is reported.
func TestOrdinaryAnswers(t *testing.T) {
	s := allDetectors(t)
	corpus := ordinaryAnswers(16000)
	counts := Counts{}
	out := s.String(corpus, counts)
	if len(counts) != 0 {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "[REDACTED:") {
				t.Errorf("false positive: %s", l)
				break
			}
		}
		t.Errorf("%d lines (%d bytes) of ordinary answers: findings %v, want none", 16000, len(corpus), counts)
	}
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	var prose strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		prose.Write(data)
	}
	found := Counts{}
	s.String(prose.String(), found)
	t.Logf("ordinary answers: %d bytes, findings %v; README and docs: %d bytes, findings %v", len(corpus), counts, prose.Len(), found)
}
