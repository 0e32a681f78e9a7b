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

func BenchmarkTmpWired(b *testing.B) {
	for _, off := range []bool{false, true} {
		name := "logged"
		if off {
			name = "quiet"
		}
		b.Run(name, func(b *testing.B) {
			env := map[string]string{"ENVIRONMENT": "production", "JWT_VERIFIED_BY_GATEWAY": "true", "AWS_LAMBDA_FUNCTION_NAME": "interceptor"}
			if off {
				env["METRICS"], env["LOG_LEVEL"] = "off", "error"
			}
			h, err := app.NewHandler(func(k string) string { return env[k] }, policies.FS, io.Discard, nil)
			if err != nil {
				b.Fatal(err)
			}
			payload, _ := os.ReadFile("../../testdata/events/denied-delete-production.json")
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				h.Invoke(ctx, payload)
			}
		})
	}
}
