package store

import "testing"

func TestFingerprint(t *testing.T) {
	for _, tc := range []struct {
		name, token, want string
	}{
		{"empty", "", ""},
		{"one byte", "a", "ca978112"},
		{"token", "secret-token-value", Fingerprint("secret-token-value")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Fingerprint(tc.token)
			if got != tc.want {
				t.Fatalf("Fingerprint(%q) = %q, want %q", tc.token, got, tc.want)
			}
			if tc.token != "" && len(got) != 8 {
				t.Fatalf("Fingerprint(%q) = %q, want 8 hex digits", tc.token, got)
			}
		})
	}
	if Fingerprint("a") == Fingerprint("b") {
		t.Fatal("different tokens share a fingerprint")
	}
}
