package refresher

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

func TestFingerprintAndTokenString(t *testing.T) {
	tok := upstream.Token{Value: "secret-token-value", ExpiresIn: time.Hour}
	if s := tok.String(); s == "" || contains(s, "secret-token-value") {
		t.Fatalf("Token.String leaks: %q", s)
	}
	if Fingerprint("") != store.Fingerprint("") || Fingerprint("x") != store.Fingerprint("x") || Fingerprint("a") == Fingerprint("b") {
		t.Fatal("fingerprint")
	}
	if upstream.ClassOf(errors.New("x")) != upstream.ClassRetry || upstream.ClassOf(fmt.Errorf("w: %w", &upstream.Error{Class: upstream.ClassQuota})) != upstream.ClassQuota {
		t.Fatal("upstream.ClassOf")
	}
	for _, c := range []upstream.Class{upstream.ClassRetry, upstream.ClassConfig, upstream.ClassQuota, upstream.Class(9)} {
		if c.String() == "" {
			t.Fatal("empty class name")
		}
	}
	for _, e := range []*upstream.Error{{Code: 1, Message: "m"}, {HTTPStatus: 500, Message: "m"}, {Message: "m"}} {
		if e.Error() == "" {
			t.Fatal("empty error")
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || len(s) > 0 && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
