package awsenv

import "testing"

func TestProcs(t *testing.T) {
	for _, tt := range []struct {
		memory, gomaxprocs, concurrency string
		want                            int
	}{
		{"128", "", "", 1},
		{"128", "", "1", 1},
		{"128", "", "8", 0}, // invocations at once: they would queue on one P
		{"1024", "", "", 1},
		{"1768", "", "", 1},
		{"1769", "", "", 0}, // one whole vCPU: Go's default
		{"10240", "", "", 0},
		{"128", "2", "", 0}, // the operator's choice stands
		{"", "", "", 0},     // not under Lambda
		{"lots", "", "", 0},
		{"-5", "", "", 0},
	} {
		env := map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": tt.memory, "GOMAXPROCS": tt.gomaxprocs, "AWS_LAMBDA_MAX_CONCURRENCY": tt.concurrency}
		if got := Procs(func(k string) string { return env[k] }); got != tt.want {
			t.Errorf("memory %q, GOMAXPROCS %q, concurrency %q: Procs = %d, want %d", tt.memory, tt.gomaxprocs, tt.concurrency, got, tt.want)
		}
	}
}
