package diag

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name   string
		err    *Error
		text   string
		detail string
	}{
		{"scoped and located", &Error{Scope: "frontend/Acme/a/en_US", File: "web/js/app.js", Line: 3, Col: 5, Msg: "boom", Source: "let x = ;"},
			"frontend/Acme/a/en_US: web/js/app.js:3:5: boom", "frontend/Acme/a/en_US: web/js/app.js:3:5: boom\n    let x = ;\n        ^"},
		{"tab kept under the caret", &Error{File: "a.css", Line: 1, Col: 3, Msg: "m", Source: "\tab"},
			"a.css:1:3: m", "a.css:1:3: m\n    \tab\n    \t ^"},
		{"line only", &Error{File: "themes.yml", Line: 7, Msg: "m"}, "themes.yml:7: m", "themes.yml:7: m"},
		{"no file", &Error{Msg: "no jobs"}, "no jobs", "no jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
			if got := tt.err.Detail(); got != tt.detail {
				t.Errorf("Detail() = %q, want %q", got, tt.detail)
			}
		})
	}
}

func TestPositionAndLineText(t *testing.T) {
	src := []byte("one\ntwo\r\nthree")
	for _, tc := range []struct {
		off, line, col int
		text           string
	}{{0, 1, 1, "one"}, {5, 2, 2, "two\r"}, {9, 3, 1, "three"}, {99, 3, 6, "three"}} {
		l, c, text := Position(src, tc.off)
		if l != tc.line || c != tc.col || text != tc.text {
			t.Errorf("Position(%d) = %d:%d %q, want %d:%d %q", tc.off, l, c, text, tc.line, tc.col, tc.text)
		}
	}
	for n, want := range map[int]string{0: "", 1: "one", 2: "two", 3: "three", 4: ""} {
		if got := LineText(src, n); got != want {
			t.Errorf("LineText(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestScopedAndKind(t *testing.T) {
	a := Buildf("a.js", 1, 1, "x")
	b := &Error{Kind: Config, Scope: "kept", Msg: "y"}
	err := Scoped("job", errors.Join(a, fmt.Errorf("wrapped: %w", b)))
	if a.Scope != "job" || b.Scope != "kept" {
		t.Errorf("scopes: %q %q", a.Scope, b.Scope)
	}
	if KindOf(err) != Config {
		t.Error("a joined error with a configuration error is a configuration error")
	}
	if KindOf(a) != Build {
		t.Error("a build error is a build error")
	}
	if n := len(Flatten(errors.Join(a, errors.Join(a, b)))); n != 3 {
		t.Errorf("Flatten found %d errors, want 3", n)
	}
}
