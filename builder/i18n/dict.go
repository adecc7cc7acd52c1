package i18n

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/scdtool/scd/diag"
)

// Dictionary is a parsed Magento translation dictionary: global rows, and,
// with ParseOptions.ModuleScope, rows scoped to a module. It is immutable once
// built, so one dictionary can serve every job of a theme concurrently.
type Dictionary struct {
	global map[string]string            // phrase → translation
	scoped map[string]map[string]string // Vendor_Module → phrase → translation
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseOptions changes how ParseCSV reads a dictionary. The zero value reads
// it as Magento does.
type ParseOptions struct {
	// ModuleScope applies a row "phrase,translation,module,Vendor_Module" only
	// to files whose logical path starts with "Vendor_Module/", where it wins
	// over a global row. Magento ignores the columns after the second, so
	// this is off by default; any other row stays global either way.
	ModuleScope bool
}

// ParseCSV parses a Magento CSV dictionary as Magento's runtime reads it
// (Framework/App/Language/Dictionary.php, Framework/Translate.php): every row
// of at least two fields maps its first field (the phrase) to its second (the
// translation), a later row overriding an earlier one; the fields after the
// second — `module,Magento_X`, `theme,frontend/V/t`, `lib,path`, empty ones,
// or more — are ignored unless opts.ModuleScope says otherwise. A row with an
// empty phrase is kept, as Magento keeps it.
//
// The CSV dialect is PHP's fgetcsv, which Magento reads packs with: fields
// may be quoted or not, a quote inside a quoted field is doubled, and a
// backslash in a quoted field escapes the character after it, both being
// kept (`"a \"b\""` reads as `a \"b\"`; real packs have such rows). White
// space before an opening quote is skipped. Empty lines are skipped, and a
// UTF-8 BOM at the start is allowed (spreadsheet exports add one).
//
// Quoting that a strict CSV reader rejects reads as fgetcsv reads it: a
// quote inside an unquoted field is a character, and after a closing quote
// the rest of the field up to the delimiter is taken as it is (Magento's
// own module CSVs have such rows, and Magento loads them).
//
// A row of one field has no translation: it is skipped and reported in
// warnings, as a *diag.Error (Kind diag.Build) naming its line. A quote that
// never closes (it would swallow the rest of the file) is an error: a
// *diag.Error at the end of the file naming the line the row starts on.
// Columns count bytes after the BOM, as an editor that hides the BOM shows
// them. On error the dictionary is nil.
func ParseCSV(name string, data []byte, opts ParseOptions) (d *Dictionary, warnings []error, err error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	// A row a line, for most dictionaries: the map is made to size.
	d = &Dictionary{global: make(map[string]string, bytes.Count(data, []byte{'\n'})+1)}
	located := func(line, col int, format string, args ...any) *diag.Error {
		e := diag.Buildf(name, line, max(col, 1), format, args...)
		e.Source = diag.LineText(data, line)
		return e
	}
	r := csvReader{data: data, line: 1}
	for {
		rec, line, perr := r.next()
		if perr != nil {
			if perr.start > 0 {
				return nil, warnings, located(perr.line, perr.col, "malformed CSV: unterminated quoted field in the row starting on line %d", perr.start)
			}
			return nil, warnings, located(perr.line, perr.col, "malformed CSV: %v", perr.err)
		}
		if rec == nil {
			return d, warnings, nil
		}
		if len(rec) < 2 {
			warnings = append(warnings, located(line, 1, "a dictionary row needs a phrase and its translation; this one has a single field, so it is skipped"))
			continue
		}
		if opts.ModuleScope && len(rec) >= 4 && rec[2] == "module" && validModule(rec[3]) {
			if d.scoped == nil {
				d.scoped = make(map[string]map[string]string)
			}
			m := d.scoped[rec[3]]
			if m == nil {
				m = make(map[string]string)
				d.scoped[rec[3]] = m
			}
			m[rec[0]] = rec[1]
			continue
		}
		d.global[rec[0]] = rec[1]
	}
}

// validModule reports whether s can name a module directory (Vendor_Module).
func validModule(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/\\")
}

// csvReader reads rows of CSV as PHP's fgetcsv does with Magento's settings
// (delimiter ',', enclosure '"', escape '\\'); only a quote that never
// closes is an error.
type csvReader struct {
	data      []byte
	pos       int // next byte to read
	line      int // 1-based line of pos
	lineStart int // offset of the start of that line
	fields    []string
	buf       []byte
}

// csvError is a malformed row. start is the line of the row when the
// problem is a quoted field that never closes (line:col is then the end of
// the input), 0 otherwise.
type csvError struct {
	line, col, start int
	err              error
}

// newline records that the byte at i is a line feed.
func (r *csvReader) newline(i int) {
	r.line++
	r.lineStart = i + 1
}

// next returns the fields of the next row that is not empty and the line it
// starts on; rec is nil at the end of the input. The slice is reused by the
// following call.
func (r *csvReader) next() (rec []string, line int, err *csvError) {
	data := r.data
	// Empty lines are no rows (fgetcsv returns [null] for them, which
	// Magento skips).
	for r.pos < len(data) {
		switch {
		case data[r.pos] == '\n':
			r.newline(r.pos)
			r.pos++
			continue
		case data[r.pos] == '\r' && r.pos+1 < len(data) && data[r.pos+1] == '\n':
			r.newline(r.pos + 1)
			r.pos += 2
			continue
		}
		break
	}
	if r.pos >= len(data) {
		return nil, 0, nil
	}
	line = r.line
	r.fields = r.fields[:0]
	for {
		// One field, starting at r.pos.
		q := r.pos
		for q < len(data) && (data[q] == ' ' || data[q] == '\t') {
			q++ // fgetcsv skips white space before an opening quote
		}
		if q < len(data) && data[q] == '"' {
			if err := r.quoted(q, line); err != nil {
				return nil, 0, err
			}
		} else {
			start := r.pos
			for r.pos < len(data) && data[r.pos] != ',' && data[r.pos] != '\n' {
				r.pos++ // a quote here is a character like any other
			}
			end := r.pos
			if end > start && data[end-1] == '\r' && (r.pos == len(data) || data[r.pos] == '\n') {
				end--
			}
			r.fields = append(r.fields, string(data[start:end]))
		}
		// r.pos is at a delimiter, a line feed or the end.
		if r.pos < len(data) && data[r.pos] == ',' {
			r.pos++
			continue
		}
		if r.pos < len(data) {
			r.newline(r.pos)
			r.pos++
		}
		return r.fields, line, nil
	}
}

// quoted reads the quoted field whose opening quote is at q, leaving r.pos
// after the closing quote (at a delimiter, a line break or the end).
func (r *csvReader) quoted(q, rowLine int) *csvError {
	data := r.data
	r.buf = r.buf[:0]
	i := q + 1
	for {
		j := i
		for j < len(data) && data[j] != '"' && data[j] != '\\' && data[j] != '\n' {
			j++
		}
		r.buf = append(r.buf, data[i:j]...)
		if j >= len(data) {
			// Never closed: point at the end of the input, line breaks
			// left out.
			end := len(bytes.TrimRight(data, "\r\n"))
			line, col, _ := diag.Position(data, end)
			return &csvError{line: line, col: col, start: rowLine, err: csv.ErrQuote}
		}
		switch data[j] {
		case '\n':
			r.buf = append(r.buf, '\n')
			r.newline(j)
			i = j + 1
		case '\\':
			// An escape: the next byte is taken as it is, and so is the
			// backslash (fgetcsv keeps both).
			r.buf = append(r.buf, '\\')
			i = j + 1
			if i < len(data) {
				r.buf = append(r.buf, data[i])
				if data[i] == '\n' {
					r.newline(i)
				}
				i++
			}
		default: // a quote
			if j+1 < len(data) && data[j+1] == '"' {
				r.buf = append(r.buf, '"')
				i = j + 2
				continue
			}
			// The closing quote. Whatever follows it up to the delimiter
			// or the end of the line belongs to the field as it is,
			// quotes included: `"Command "%1" was not found."` reads as
			// `Command %1" was not found."`, as fgetcsv reads it (Magento's
			// own CSVs have such rows).
			k := j + 1
			for k < len(data) && data[k] != ',' && data[k] != '\n' {
				k++
			}
			end := k
			if end > j+1 && data[end-1] == '\r' && (k == len(data) || data[k] == '\n') {
				end--
			}
			r.buf = append(r.buf, data[j+1:end]...)
			r.fields = append(r.fields, string(r.buf))
			r.pos = k
			return nil
		}
	}
}

// MergeAll returns a new dictionary holding the rows of ds in order, as
// Magento's translator adds its sources (Translate::_addData): a later
// row wins; a row whose translation is its phrase replaces the earlier
// translation with the phrase itself (Magento removes the entry, which
// shows the same text; keeping it marks the phrase as translated, for the
// missing-phrase count); and a doubled quote left in a phrase or
// translation by a malformed CSV row becomes one. Any of ds may be nil;
// none is modified.
func MergeAll(ds ...*Dictionary) *Dictionary {
	n := 0
	for _, src := range ds {
		n = max(n, src.Len())
	}
	d := &Dictionary{global: make(map[string]string, n)}
	for _, src := range ds {
		if src == nil {
			continue
		}
		addRows(d.global, src.global)
		for mod, rows := range src.scoped {
			if d.scoped == nil {
				d.scoped = make(map[string]map[string]string)
			}
			m := d.scoped[mod]
			if m == nil {
				m = make(map[string]string, len(rows))
				d.scoped[mod] = m
			}
			addRows(m, rows)
		}
	}
	return d
}

var doubledQuote = strings.NewReplacer(`""`, `"`)

// addRows adds the rows of one source to dst as Translate::_addData does.
func addRows(dst, rows map[string]string) {
	for k, v := range rows {
		if k == v {
			dst[k] = k
			continue
		}
		if strings.Contains(k, `""`) {
			k = doubledQuote.Replace(k)
		}
		if strings.Contains(v, `""`) {
			v = doubledQuote.Replace(v)
		}
		dst[k] = v
	}
}

// Lookup finds the translation of phrase as used by the file at logicalPath
// (slash-separated, relative to web/). With ParseOptions.ModuleScope, a row
// scoped to module Vendor_Module applies to files under "Vendor_Module/" and
// wins there over a global row, because a language pack scopes a row exactly
// when the module needs a different wording than the rest of the site.
func (d *Dictionary) Lookup(phrase, logicalPath string) (string, bool) {
	if d == nil {
		return "", false
	}
	if len(d.scoped) > 0 {
		if i := strings.IndexByte(logicalPath, '/'); i > 0 {
			if t, ok := d.scoped[logicalPath[:i]][phrase]; ok {
				return t, true
			}
		}
	}
	t, ok := d.global[phrase]
	return t, ok
}

// Len returns the number of rows (global and scoped) after overrides.
func (d *Dictionary) Len() int {
	if d == nil {
		return 0
	}
	n := len(d.global)
	for _, m := range d.scoped {
		n += len(m)
	}
	return n
}

// String describes the dictionary for debugging.
func (d *Dictionary) String() string {
	return fmt.Sprintf("i18n.Dictionary(%d rows)", d.Len())
}
