package approval_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

// TestStateVerify: only an untouched, unexpired state for the same call
// verifies; every other one fails with the reason that says why.
func TestStateVerify(t *testing.T) {
	ctx := context.Background()
	keys := approval.StaticKey{ID: "k1", Key: []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1_800_000_000, 0)
	good, err := approval.Sign(ctx, keys, approval.NewState("bind", now, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := approval.Verify(ctx, keys, good, "bind", now.Add(30*time.Second)); err != nil || st.Nonce == "" {
		t.Fatalf("a good state: %+v %v", st, err)
	}
	other, _ := approval.Sign(ctx, approval.StaticKey{ID: "k1", Key: []byte("another key of thirty-two bytes!")}, approval.NewState("bind", now, time.Minute))
	parts := strings.Split(good, ".")
	flip := func(s string) string { // another valid base64 character
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	tests := []struct {
		name, token, binding string
		at                   time.Duration
		want                 error
	}{
		{"other call", good, "bind2", 0, approval.ErrStateOtherCall},
		{"expired", good, "bind", time.Minute, approval.ErrStateExpired},
		{"other key, same id", other, "bind", 0, approval.ErrStateForged},
		{"unknown key id", "tg1.azI." + parts[2] + "." + parts[3], "bind", 0, approval.ErrStateForged},
		{"payload changed", strings.Join([]string{parts[0], parts[1], flip(parts[2]), parts[3]}, "."), "bind", 0, approval.ErrStateForged},
		{"signature changed", strings.Join([]string{parts[0], parts[1], parts[2], flip(parts[3])}, "."), "bind", 0, approval.ErrStateForged},
		{"signature cut", good[:len(good)-2], "bind", 0, approval.ErrStateMalformed},
		{"not ours", "eyJhbGciOi", "bind", 0, approval.ErrStateMalformed},
		{"too many parts", good + ".x", "bind", 0, approval.ErrStateMalformed},
		{"empty", "", "bind", 0, approval.ErrStateMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := approval.Verify(ctx, keys, tt.token, tt.binding, now.Add(tt.at)); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSeal: the RESPONSE point recognises the REQUEST point's own answer
// for the same call, and nothing else.
func TestSeal(t *testing.T) {
	ctx := context.Background()
	keys := approval.RandomKey()
	answer := []byte(`{"id":7,"jsonrpc":"2.0","result":{"_meta":{},"content":[{"text":"Approval requested","type":"text"}],"isError":true}}`)
	seal, err := approval.Seal(ctx, keys, "d1", "b1", answer)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := approval.Unseal(ctx, keys, seal, "b1", answer); err != nil || id != "d1" {
		t.Fatalf("unseal: %q %v", id, err)
	}
	for name, tt := range map[string]struct {
		keys          approval.Keys
		seal, binding string
		answer        []byte
	}{
		"another answer":         {keys, seal, "b1", []byte(`{"id":7,"jsonrpc":"2.0","result":{"content":[{"text":"the tool's result","type":"text"}]}}`)},
		"another call":           {keys, seal, "b2", answer},
		"another decision id":    {keys, strings.Replace(seal, ".d1.", ".d2.", 1), "b1", answer},
		"another key":            {approval.RandomKey(), seal, "b1", answer},
		"not a seal":             {keys, "tg1.x.y.z", "b1", answer},
		"a seal without its MAC": {keys, seal[:strings.LastIndexByte(seal, '.')], "b1", answer},
	} {
		if _, err := approval.Unseal(ctx, tt.keys, tt.seal, tt.binding, tt.answer); err == nil {
			t.Errorf("%s: unsealed", name)
		}
	}
}
