package matrix

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
)

// yml joins lines with newlines, so that a test's line numbers are the
// argument positions plus one.
func yml(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// tree creates a temporary project with the given directories (slash
// separated, relative to the root) and returns its root.
func tree(t testing.TB, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// parseIn parses src as themes.yml in dir.
func parseIn(t testing.TB, dir, src string) (*Config, error) {
	t.Helper()
	return Parse("themes.yml", dir, []byte(src))
}

// mustParse parses src and fails the test on error.
func mustParse(t testing.TB, dir, src string) *Config {
	t.Helper()
	c, err := parseIn(t, dir, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// checkDiag fails unless every part of err is a *diag.Error of Kind
// Config with the given file.
func checkDiag(t testing.TB, err error, file string) {
	t.Helper()
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if !errors.As(e, &de) {
			t.Errorf("%v: %T is not a *diag.Error", e, e)
			continue
		}
		if de.Kind != diag.Config {
			t.Errorf("%v: kind %v, want Config", e, de.Kind)
		}
		if de.File != file {
			t.Errorf("%v: file %q, want %q", e, de.File, file)
		}
	}
}
