package i18n

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/scdtool/scd/diag"
)

// Dictionary is a parsed Magento translation dictionary: global rows, and
// rows scoped to a module (language packs). It is immutable once built, so
// one dictionary can serve every job of a theme concurrently.
type Dictionary struct {
	global map[string]string            // phrase → translation
	scoped map[string]map[string]string // Vendor_Module → phrase → translation
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseCSV parses a Magento CSV dictionary.
//
// Rows are "phrase","translation", or language-pack rows of four fields:
// phrase, translation, "module", "Vendor_Module", which apply only to files
// whose logical path starts with "Vendor_Module/". Fields may be unquoted.
// Empty lines are skipped, a UTF-8 BOM at the start is allowed (spreadsheet
// exports add one), and a later row for the same phrase (and scope) overrides
// an earlier one, as in Magento.
//
// Errors are *diag.Error (Kind diag.Build) with 1-based line and column:
// where encoding/csv found the problem for quoting errors, column 1 of the
// row for a row of the wrong shape. Columns count bytes after the BOM, as an
// editor that hides the BOM shows them.
func ParseCSV(name string, data []byte) (*Dictionary, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // rows of 2 and 4 fields mix in one file
	r.ReuseRecord = true
	d := &Dictionary{global: make(map[string]string)}
	fail := func(line, col int, format string, args ...any) error {
		e := diag.Buildf(name, line, max(col, 1), format, args...)
		e.Source = diag.LineText(data, line)
		return e
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line, col := pe.Line, pe.Column
				if text := diag.LineText(data, line); col > len(text)+1 {
					col = len(text) + 1 // encoding/csv may point past the end of the line
				}
				if errors.Is(pe.Err, csv.ErrQuote) && atEOF(data, pe.Line, pe.Column) {
					// A quote opened and never closed: saying where the row began
					// beats pointing at the end of the file.
					return nil, fail(line, col, "malformed CSV: unterminated quoted field in the row starting on line %d", pe.StartLine)
				}
				return nil, fail(line, col, "malformed CSV: %v", pe.Err)
			}
			return nil, fail(1, 1, "reading CSV: %v", err) // bytes.Reader never fails; kept for safety
		}
		line, _ := r.FieldPos(0)
		switch len(rec) {
		case 2, 4:
		default:
			return nil, fail(line, 1, "a dictionary row has %d %s; want 2 (phrase, translation) or 4 (phrase, translation, module, Vendor_Module)",
				len(rec), plural(len(rec), "field", "fields"))
		}
		if rec[0] == "" {
			return nil, fail(line, 1, "empty phrase")
		}
		if len(rec) == 2 {
			d.global[rec[0]] = rec[1]
			continue
		}
		if rec[2] != "module" {
			return nil, fail(line, 1, "the third field of a 4-field row is %q; want \"module\"", rec[2])
		}
		module := rec[3]
		if module == "" || strings.ContainsAny(module, "/\\") {
			return nil, fail(line, 1, "invalid module name %q; want Vendor_Module", module)
		}
		if d.scoped == nil {
			d.scoped = make(map[string]map[string]string)
		}
		m := d.scoped[module]
		if m == nil {
			m = make(map[string]string)
			d.scoped[module] = m
		}
		m[rec[0]] = rec[1]
	}
	return d, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// atEOF reports whether line:col (1-based) is at or past the end of data, when
// only trailing line breaks follow.
func atEOF(data []byte, line, col int) bool {
	rest := data
	for ; line > 1; line-- {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return true
		}
		rest = rest[i+1:]
	}
	if col-1 < len(rest) {
		rest = rest[col-1:]
	} else {
		rest = nil
	}
	return len(bytes.Trim(rest, "\r\n")) == 0
}

// Merge returns a new dictionary holding parent's rows overlaid by child's
// (the child wins, row by row and scope by scope), as dictionaries merge
// along a theme's fallback chain. Either may be nil; neither is modified.
func Merge(parent, child *Dictionary) *Dictionary {
	d := &Dictionary{global: make(map[string]string, parent.Len()+child.Len())}
	for _, src := range []*Dictionary{parent, child} {
		if src == nil {
			continue
		}
		for k, v := range src.global {
			d.global[k] = v
		}
		for mod, rows := range src.scoped {
			if d.scoped == nil {
				d.scoped = make(map[string]map[string]string)
			}
			m := d.scoped[mod]
			if m == nil {
				m = make(map[string]string, len(rows))
				d.scoped[mod] = m
			}
			for k, v := range rows {
				m[k] = v
			}
		}
	}
	return d
}

// Lookup finds the translation of phrase as used by the file at logicalPath
// (slash-separated, relative to web/). A row scoped to module Vendor_Module
// applies to files under "Vendor_Module/" and wins there over a global row,
// because a language pack scopes a row exactly when the module needs a
// different wording than the rest of the site.
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

// Digest returns a stable hex digest (SHA-256) of the dictionary's content,
// independent of row order and of map iteration, for cache keys: two
// dictionaries that translate alike have the same digest.
func (d *Dictionary) Digest() string {
	h := sha256.New()
	var buf []byte
	writeRows := func(tag byte, rows map[string]string) {
		keys := make([]string, 0, len(rows))
		for k := range rows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			buf = append(buf[:0], tag)
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			v := rows[k]
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
			h.Write(buf)
		}
	}
	if d != nil {
		writeRows('g', d.global)
		mods := make([]string, 0, len(d.scoped))
		for m := range d.scoped {
			mods = append(mods, m)
		}
		slices.Sort(mods)
		for _, m := range mods {
			buf = append(buf[:0], 'm')
			buf = binary.AppendUvarint(buf, uint64(len(m)))
			buf = append(buf, m...)
			h.Write(buf)
			writeRows('s', d.scoped[m])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// String describes the dictionary for debugging.
func (d *Dictionary) String() string {
	return fmt.Sprintf("i18n.Dictionary(%d rows)", d.Len())
}
