package errcodes

import "strings"

// ReadmeHeading is the README heading under which Markdown's table is
// pasted; a test fails when the two disagree.
const ReadmeHeading = "## Errcode guide"

// Markdown is the guide as a Markdown table, one row per entry in guide
// order, for README's "Errcode guide".
func Markdown() string {
	var b strings.Builder
	b.WriteString("| platform | code | meaning | what tokend does | what you do |\n|---|---|---|---|---|\n")
	for _, e := range table {
		op := e.Operator
		if op == "" {
			op = "Nothing."
		}
		cells := []string{e.Platform, "`" + e.CodeText() + "`", e.Meaning, e.Tokend, op}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}
