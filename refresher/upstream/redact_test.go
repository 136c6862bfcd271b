package upstream

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("é", 600)
	got := CleanMessage(long, "zz")
	if !utf8.ValidString(got) || len(got) > MaxMessageBytes+3 || !strings.HasSuffix(got, "...") {
		t.Fatalf("truncated message %q", got)
	}
	if got := CleanMessage("a\nb\tc", "zz"); got != "a b c" {
		t.Fatalf("control characters: %q", got)
	}
	// A secret split by a control character is still found: control
	// characters become spaces first, so the split cannot reassemble it.
	if got := CleanMessage("x sec\u0001ret y", "secret"); strings.Contains(got, "secret") {
		t.Fatalf("split secret assembled: %q", got)
	}
	// Redaction happens before truncation: no prefix survives the cut.
	msg := strings.Repeat("a", MaxMessageBytes-4) + "SECRETVALUE"
	if got := CleanMessage(msg, "SECRETVALUE"); strings.Contains(got, "SECR") {
		t.Fatalf("prefix of the secret kept: %q", got)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		secrets  []string
		gone     []string
	}{
		{"raw", "bad secret s3cr3t here", []string{"s3cr3t"}, []string{"s3cr3t"}},
		{"url-encoded", "a+b/c= and a%2Bb%2Fc%3D and a+b%2Fc=", []string{"a+b/c="}, []string{"a+b/c=", "a%2Bb%2Fc%3D", "a+b%2Fc="}},
		{"two values", "secret SEC1 token TOK2", []string{"SEC1", "TOK2"}, []string{"SEC1", "TOK2"}},
		{"empty secrets ignored", "nothing to hide", []string{"", ""}, nil},
		{"overlapping marker", "[REDACTED]]", []string{"D]"}, []string{"D]"}},
		{"secret in the fallback text", "message message", []string{"message", "[REDACTED"}, []string{"message"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in, tc.secrets...)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Fatalf("Redact(%q) = %q, still contains %q", tc.in, got, g)
				}
			}
			if tc.gone == nil && got != tc.in {
				t.Fatalf("Redact changed %q to %q", tc.in, got)
			}
		})
	}
	if got := Redact("key s3cr3t", "s3cr3t"); got != "key "+Redacted {
		t.Fatalf("got %q, want the marker", got)
	}
}
