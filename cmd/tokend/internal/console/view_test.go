package console

import (
	"testing"
	"time"
)

func TestConsoleDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 999 * time.Millisecond: "0s", 59 * time.Second: "59s", time.Minute: "1m 00s", 3*time.Minute + 7*time.Second: "3m 07s",
		time.Hour + 5*time.Minute + 59*time.Second: "1h 05m", -12 * time.Second: "12s ago", -2 * time.Hour: "2h 00m ago",
	} {
		if got := consoleDur(d); got != want {
			t.Errorf("consoleDur(%s) = %q, want %q", d, got, want)
		}
	}
}
