package moto

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// FakeS3 starts an in-process S3 of versioned buckets, for tests of logic
// that S3's own behaviour does not decide (when checks run, what happens
// while one stalls): they then run without moto_server, and fast. It
// answers the requests the function sends: path-style PUT and GET of a
// bucket or an object, conditional GET (If-None-Match), HEAD. It wants a
// SigV4 Authorization header but checks no signature: tests of the bytes
// sent to AWS use Start. s3bundle's TestAgainstS3 holds the two to the
// same answers. The returned Server has Env, Proxy, CreateBucket, S3 and Stop;
// it has no DynamoDB or Secrets Manager.
func FakeS3(t testing.TB) *Server {
	t.Helper()
	f := &fakeS3{buckets: map[string]map[string]fakeObject{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &Server{Endpoint: srv.URL, AccessKeyID: "AKIAFAKES3", SecretAccessKey: "fake", front: srv}
}

type fakeS3 struct {
	mu       sync.Mutex
	buckets  map[string]map[string]fakeObject
	versions int
}

type fakeObject struct {
	data              []byte
	etag, version, md string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s3Error(w, http.StatusBadRequest, "IncompleteBody")
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	objects, ok := f.buckets[bucket]
	switch {
	case key == "" && r.Method == http.MethodPut:
		if !ok { // a second PUT sets versioning (always on here)
			f.buckets[bucket] = map[string]fakeObject{}
		}
		return
	case !ok:
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	case r.Method == http.MethodPut:
		sum := md5.Sum(body)
		f.versions++
		o := fakeObject{data: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`, version: fmt.Sprintf("v%d", f.versions), md: r.Header.Get("X-Amz-Meta-Digest")}
		objects[key] = o
		o.header(w)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	o, ok := objects[key]
	if !ok {
		s3Error(w, http.StatusNotFound, "NoSuchKey")
		return
	}
	o.header(w)
	if r.Method == http.MethodGet && r.Header.Get("If-None-Match") == o.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(o.data)))
	if r.Method == http.MethodGet {
		w.Write(o.data)
	}
}

func (o fakeObject) header(w http.ResponseWriter) {
	w.Header().Set("ETag", o.etag)
	w.Header().Set("X-Amz-Version-Id", o.version)
	if o.md != "" {
		w.Header().Set("X-Amz-Meta-Digest", o.md)
	}
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, code)
}
