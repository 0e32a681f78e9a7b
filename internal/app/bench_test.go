package app_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/policies"
)

// BenchmarkFunction is the function as deployed, in process: the handler
// app.NewHandler builds from a deployment's environment, writing its
// decision records and metrics (to io.Discard), on an allowed 2 KB call
// and a denied one. interceptor.BenchmarkHandler2KB is the same without
// the records.
func BenchmarkFunction(b *testing.B) {
	vars := map[string]string{"ENVIRONMENT": "production", "JWT_VERIFIED_BY_GATEWAY": "true", "AWS_LAMBDA_FUNCTION_NAME": "interceptor"}
	h, err := app.NewHandler(env(vars), policies.FS, io.Discard, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"allowed-call-2kb", "denied-delete-production"} {
		b.Run(name, func(b *testing.B) {
			payload, err := os.ReadFile("../../testdata/events/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
