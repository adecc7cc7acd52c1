// Package requirejs produces a Magento job's requirejs-config.js: the
// requirejs-config.js files of the library, the modules and the theme
// chain, merged the way Magento merges them, then minified.
//
// Magento (Magento\Framework\RequireJs\Config::getConfig) does not merge the
// configurations as data. It pastes each file's text into a function of its
// own, so that the file's `var config` is local to it, followed by a call
// `require.config(config)`:
//
//	(function() {
//	<the file's text>
//	require.config(config);
//	})();
//
// and pastes those, in order, into one function that receives the global
// `require`:
//
//	(function(require){
//	<the wrapped files>
//
//
//	})(require);
//
// RequireJS then merges the successive calls itself: paths, map, config
// (and so mixins) and bundles key by key with the later call winning, shim
// entry by entry, and every call's deps are loaded. A file may run code
// besides its `var config` (Luma's pushes a polyfill onto config.deps), so
// the text is kept as code, not evaluated.
//
// scd writes the same program minified with esbuild (whitespace and syntax;
// identifiers keep their names): each wrapped file is transformed on its own,
// as a script, so that a syntax error is reported at its line and column in
// that file, and the results are joined inside the outer function.
package requirejs

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/scdtool/scd/diag"
)

// File is one requirejs-config.js input in merge order. Magento pastes
// every file the same way, so Module does not change the output; it tells
// callers where the file comes from.
type File struct {
	Path   string // path on disk, for reading
	Name   string // how messages name it (a path relative to the project)
	Module string // "Vendor_Module" when it belongs to a module or to a theme's <Vendor_Module>/ dir, else ""
}

// Magento's templates. A file's text sits between partialHead and
// partialTail; the wrapped files, one after the other, between fullHead and
// fullTail.
const (
	partialHead = "(function() {\n"
	partialTail = "\nrequire.config(config);\n})();\n"
	fullHead    = "(function(require){\n"
	fullTail    = "\n\n\n})(require);"
)

// The minified outer function. Its parameter is written by hand rather
// than by esbuild, which would rename it (require2) since it shadows the
// global it is called with.
const (
	minHead = "(function(require){"
	minTail = "})(require);\n"
)

// Merge reads files in order and returns the merged, minified
// requirejs-config.js.
//
// A file that does not parse is an error *diag.Error (Kind diag.Build) with
// the file's Name, line, column and source line. Every file is checked: when
// several do not parse, the error joins (errors.Join) one *diag.Error per
// file, in input order. A file that cannot be read is a *diag.Error naming
// it, without a line.
func Merge(files []File) ([]byte, error) {
	data := make([][]byte, len(files))
	var errs []error
	for i, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			errs = append(errs, &diag.Error{Kind: diag.Build, File: f.Name, Msg: fmt.Sprintf("cannot read requirejs-config.js: %v", err)})
			continue
		}
		data[i] = b
	}
	if err := joined(errs); err != nil {
		return nil, err
	}
	return MergeData(files, data)
}

// MergeData is Merge for callers that already hold the files' bytes:
// data[i] is the content of files[i] (whose Path is not read).
func MergeData(files []File, data [][]byte) ([]byte, error) {
	if len(files) != len(data) {
		return nil, fmt.Errorf("requirejs: %d files but %d contents", len(files), len(data))
	}
	out := bytes.NewBufferString(minHead)
	var errs []error
	first := true
	for i, f := range files {
		code, err := minifyPartial(f, data[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if code == "" {
			continue
		}
		// The outer function's body must not start with a string
		// statement, which would be a directive ("use strict") there and
		// is not one in Magento's file, where a wrapper comes first.
		if first && (code[0] == '"' || code[0] == '\'') {
			out.WriteByte(';')
		}
		first = false
		out.WriteString(code)
		// Each piece ends a statement, whatever the next one starts with.
		if code[len(code)-1] != ';' {
			out.WriteByte(';')
		}
	}
	if err := joined(errs); err != nil {
		return nil, err
	}
	out.WriteString(minTail)
	return out.Bytes(), nil
}

// transformOptions minify a wrapped file. The format is left as it is: the
// text is a script, and its free names (require, window) stay free.
func transformOptions(name string) api.TransformOptions {
	return api.TransformOptions{
		Sourcefile:       name,
		Loader:           api.LoaderJS,
		MinifyWhitespace: true,
		MinifySyntax:     true,
		LegalComments:    api.LegalCommentsNone,
		Charset:          api.CharsetUTF8,
		LogLevel:         api.LogLevelSilent,
	}
}

// minifyPartial returns the file's text wrapped as Magento wraps it and
// minified, without the final newline, or the file's syntax error.
func minifyPartial(f File, src []byte) (string, error) {
	text := string(src)
	r := api.Transform(partialHead+text+partialTail, transformOptions(f.Name))
	if len(r.Errors) == 0 {
		return string(bytes.TrimRight(r.Code, "\n")), nil
	}
	return "", locate(f, text, r.Errors[0])
}

// locate turns esbuild's first error on the wrapped text into an error in
// the file. The wrapper adds one line before the text, so an error inside
// the text is one line lower in the file. An error in the closing lines of
// the wrapper (an unclosed brace, comment or string) belongs to the end of
// the file: it is located by parsing the text alone, where esbuild reports
// it at the file's end with its own words ("found end of file").
func locate(f File, text string, m api.Message) *diag.Error {
	e := &diag.Error{Kind: diag.Build, File: f.Name, Msg: m.Text}
	n := lineCount(text)
	loc := m.Location
	switch {
	case loc != nil && loc.Line >= 2 && loc.Line-1 <= n:
		e.Line, e.Col, e.Source = loc.Line-1, loc.Column+1, loc.LineText
		return e
	case loc != nil && loc.Line < 2:
		// Not expected: the wrapper's first line always parses.
		e.Line, e.Col, e.Source = 1, 1, firstLine(text)
		return e
	}
	if r := api.Transform(text, transformOptions(f.Name)); len(r.Errors) > 0 && r.Errors[0].Location != nil {
		m := r.Errors[0]
		e.Msg, e.Line, e.Col, e.Source = m.Text, m.Location.Line, m.Location.Column+1, m.Location.LineText
		return e
	}
	last := lastLine(text)
	e.Line, e.Col, e.Source = n, len(last)+1, last
	e.Msg = "the file does not end where Magento's wrapper can close it: " + m.Text
	return e
}

// lineCount counts the lines of text as esbuild does: \n, \r\n, a lone \r,
// U+2028 and U+2029 each end a line, wherever they are.
func lineCount(text string) int {
	n := 1
	for i, r := range text {
		switch r {
		case '\n', '\u2028', '\u2029':
			n++
		case '\r':
			if i+1 >= len(text) || text[i+1] != '\n' {
				n++
			}
		}
	}
	return n
}

// isBreak reports whether r ends a line (see lineCount).
func isBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029'
}

// firstLine is the text up to its first line break.
func firstLine(text string) string {
	for i, r := range text {
		if isBreak(r) {
			return text[:i]
		}
	}
	return text
}

// lastLine is the text after its last line break.
func lastLine(text string) string {
	start := 0
	for i, r := range text {
		if isBreak(r) {
			start = i + len(string(r))
		}
	}
	return text[start:]
}

// joined returns nil, the one error, or all of them joined in order.
func joined(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
