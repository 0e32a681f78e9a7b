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

func TestGC(t *testing.T) {
	for _, tt := range []struct {
		memory, gogc, gomemlimit string
		percent                  int
		limit                    int64
	}{
		{"128", "", "", 400, 56 << 20}, // Lambda's smallest function
		{"1024", "", "", 400, 952 << 20},
		{"10240", "", "", 400, 10168 << 20},
		{"128", "100", "", 0, 56 << 20}, // the operator's choice stands,
		{"128", "off", "", 0, 56 << 20}, // whatever it is (the limit keeps GOGC=off within memory),
		{"128", "", "90MiB", 400, 0},    // for either setting
		{"128", "200", "90MiB", 0, 0},
		{"127", "", "", 0, 0}, // less than Lambda offers
		{"", "", "", 0, 0},    // not under Lambda
		{"lots", "", "", 0, 0},
		{"-5", "", "", 0, 0},
		{"99999999999999", "", "", 0, 0}, // would overflow in bytes
	} {
		env := map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": tt.memory, "GOGC": tt.gogc, "GOMEMLIMIT": tt.gomemlimit}
		percent, limit := GC(func(k string) string { return env[k] })
		if percent != tt.percent || limit != tt.limit {
			t.Errorf("memory %q, GOGC %q, GOMEMLIMIT %q: GC = %d, %d; want %d, %d", tt.memory, tt.gogc, tt.gomemlimit, percent, limit, tt.percent, tt.limit)
		}
	}
}
