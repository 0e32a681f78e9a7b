//go:build race

package interceptor_test

// raceEnabled: the race detector multiplies memory use, so peak memory is
// measured only without it.
const raceEnabled = true
