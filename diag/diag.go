// Package diag holds the located error type shared by every phase of scd.
//
// An error in user input is reported as
//
//	scope: file:line:col: message
//	    the source line
//
// where scope names the job (area/Vendor/theme/locale) or is empty for
// configuration errors, and line and column are 1-based.
package diag

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind tells how an error should end the process.
type Kind int

const (
	// Build is an error in the sources: syntax, a missing import or asset, a
	// malformed dictionary. Exit code 1.
	Build Kind = iota
	// Config is a usage or configuration error. Exit code 2.
	Config
)

// Error is a problem at a place in a file. Line and Col are 1-based; zero
// means unknown.
type Error struct {
	Kind   Kind
	Scope  string // job id, or "" for configuration
	File   string // path as the user knows it
	Line   int
	Col    int
	Msg    string
	Source string // the text of the line, when known
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Scope != "" {
		b.WriteString(e.Scope)
		b.WriteString(": ")
	}
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Col > 0 {
				fmt.Fprintf(&b, ":%d", e.Col)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Detail is Error followed by the source line and a caret under the column,
// for people reading a terminal.
func (e *Error) Detail() string {
	s := e.Error()
	if e.Source == "" {
		return s
	}
	src := strings.TrimRight(e.Source, "\r\n")
	s += "\n    " + src
	if e.Col > 0 && e.Col <= len(src)+1 {
		pad := strings.Map(func(r rune) rune {
			if r == '\t' {
				return '\t'
			}
			return ' '
		}, src[:e.Col-1])
		s += "\n    " + pad + "^"
	}
	return s
}

// Configf returns a configuration error at file:line:col.
func Configf(file string, line, col int, format string, args ...any) *Error {
	return &Error{Kind: Config, File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Buildf returns a build error at file:line:col.
func Buildf(file string, line, col int, format string, args ...any) *Error {
	return &Error{Kind: Build, File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Scoped sets the scope of every *Error in err that has none and returns err.
func Scoped(scope string, err error) error {
	for _, e := range Flatten(err) {
		var de *Error
		if errors.As(e, &de) && de.Scope == "" {
			de.Scope = scope
		}
	}
	return err
}

// Flatten unwraps errors.Join trees into a flat list.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// KindOf reports the kind of err: Config if any part of it is a
// configuration error, Build otherwise.
func KindOf(err error) Kind {
	for _, e := range Flatten(err) {
		var de *Error
		if errors.As(e, &de) && de.Kind == Config {
			return Config
		}
	}
	return Build
}

// Sort orders errors by their text so that reports are deterministic
// whatever order parallel work finished in.
func Sort(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// Position converts a byte offset in src into a 1-based line and column
// (columns count bytes) and returns the text of that line.
func Position(src []byte, off int) (line, col int, text string) {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	line = 1 + strings.Count(string(src[:off]), "\n")
	start := strings.LastIndexByte(string(src[:off]), '\n') + 1
	end := start + strings.IndexByte(string(src[start:]), '\n')
	if end < start {
		end = len(src)
	}
	return line, off - start + 1, string(src[start:end])
}

// LineText returns the text of the 1-based line n of src, without its line
// ending, for error display; "" when there is no such line.
func LineText(src []byte, n int) string {
	if n < 1 {
		return ""
	}
	for ; n > 1; n-- {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return ""
		}
		src = src[i+1:]
	}
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		src = src[:i]
	}
	return string(bytes.TrimSuffix(src, []byte("\r")))
}
