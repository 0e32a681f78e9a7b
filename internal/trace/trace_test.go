package trace_test

import (
	"context"
	"testing"

	"github.com/toolgate/toolgate/internal/trace"
)

func TestID(t *testing.T) {
	t.Setenv("_X_AMZN_TRACE_ID", "")
	tests := []struct {
		header any
		env    string
		want   string
	}{
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", "", "1-5759e988-bd862e3fe1be46a994272793"},
		{"Parent=53995c3f42cd8ad8; Root=1-abc;Sampled=0", "", "1-abc"},
		{"Sampled=1", "", ""},
		{"", "", ""},
		{nil, "Root=1-from-env;Sampled=1", "1-from-env"},
		{"Root=1-from-context", "Root=1-from-env", "1-from-context"},
		{42, "", ""}, // a value of the wrong type is ignored
	}
	for _, tt := range tests {
		t.Setenv("_X_AMZN_TRACE_ID", tt.env)
		ctx := context.Background()
		if tt.header != nil {
			//lint:ignore SA1029 aws-lambda-go puts the trace header under this string key
			ctx = context.WithValue(ctx, trace.HeaderKey, tt.header)
		}
		if got := trace.ID(ctx); got != tt.want {
			t.Errorf("ID(%v, env %q) = %q, want %q", tt.header, tt.env, got, tt.want)
		}
	}
}
