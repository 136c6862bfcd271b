package browser

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/integration/harness"
)

// TestMain runs the tests from the tokend module's root, so that
// harness.Binary builds cmd/tokend with the main module's go.mod (this
// module requires only what the test itself imports).
func TestMain(m *testing.M) {
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, "browser: chdir to the module root:", err)
		os.Exit(1)
	}
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
