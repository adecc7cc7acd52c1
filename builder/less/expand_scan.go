package less

import (
	"bytes"
	"strings"
)

// The statements of a LESS source that Magento's preprocessing rewrites,
// found by a scanner that knows strings, comments and url(...) — enough
// to tell an @import from text that looks like one, not a LESS parser.

type stmtKind int

const (
	stImport            stmtKind = iota // @import [(options)] 'path' | url('path') [media];
	stMagentoImport                     // //@magento_import [(reference)] 'path';
	stBareMagentoImport                 // @magento_import ... (no "//"): Magento leaves it
	stBadMagentoImport                  // //@magento_import that Magento's pattern does not match
)

type lessStmt struct {
	kind       stmtKind
	start, end int // the statement, from its "@" or "//" to after its ";"
	// the path, between its quotes: src[pathStart:pathEnd] == path
	pathStart, pathEnd int
	path               string
	url                bool       // @import url('path')
	opts               importOpts // @import's options
	reference          bool       // //@magento_import (reference)
}

// importOpts are the options of an @import, as less.js reads them.
type importOpts struct {
	set    bool // (less) or (css) given: less is decided by them
	less   bool
	inline bool
}

// isCSS reports whether less leaves an import of p as a CSS @import
// instead of reading it (less.js's tree/import.js).
func (o importOpts) isCSS(p string) bool {
	if o.set || o.inline {
		return !o.less || o.inline
	}
	return cssPathRe.MatchString(p)
}

func parseImportOpts(s string) importOpts {
	var o importOpts
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	}) {
		switch w {
		case "less":
			o.set, o.less = true, true
		case "css":
			o.set, o.less = true, false
		case "inline":
			o.inline = true
		}
	}
	return o
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdent(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func skipSpace(src []byte, i int) int {
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	return i
}

// skipString returns the offset after the string that starts with the
// quote at i (at the end of its line when it is not closed).
func skipString(src []byte, i int) int {
	q := src[i]
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i + 1
		case '\n':
			return i
		}
	}
	return len(src)
}

func endOfLine(src []byte, i int) int {
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}

// hasWord reports whether src at i holds w, not followed by an
// identifier character.
func hasWord(src []byte, i int, w string) bool {
	return bytes.HasPrefix(src[i:], []byte(w)) && (i+len(w) == len(src) || !isIdent(src[i+len(w)]))
}

// scanLess returns the statements of src that Magento's preprocessing
// looks at, in order.
func scanLess(src []byte) []lessStmt {
	var out []lessStmt
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == '"' || c == '\'':
			i = skipString(src, i)
		case c == '/' && i+1 < n && src[i+1] == '*':
			if j := bytes.Index(src[i+2:], []byte("*/")); j >= 0 {
				i += 2 + j + 2
			} else {
				i = n
			}
		case c == '/' && i+1 < n && src[i+1] == '/':
			if hasWord(src, i+2, "@magento_import") {
				if s, ok := parseMagentoImport(src, i); ok {
					out = append(out, s)
					i = s.end
					continue
				}
				out = append(out, lessStmt{kind: stBadMagentoImport, start: i, end: endOfLine(src, i)})
			}
			i = endOfLine(src, i)
		case (c == 'u' || c == 'U') && (i == 0 || !isIdent(src[i-1])) && i+4 <= n && strings.EqualFold(string(src[i:i+4]), "url("):
			j := skipSpace(src, i+4)
			if j < n && (src[j] == '"' || src[j] == '\'') {
				i = j // a quoted url: its string is skipped as any other
				continue
			}
			// An unquoted url may hold "//" and "/*": skip to its ")".
			for i = j; i < n && src[i] != ')' && src[i] != '\n'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case c == '@' && (i == 0 || !isIdent(src[i-1])):
			switch {
			case hasWord(src, i+1, "import"):
				if s, ok := parseImport(src, i); ok {
					out = append(out, s)
					i = s.end
					continue
				}
				i += len("@import")
			case hasWord(src, i+1, "magento_import"):
				out = append(out, lessStmt{kind: stBareMagentoImport, start: i, end: i + len("@magento_import")})
				i += len("@magento_import")
			default:
				i++
			}
		default:
			i++
		}
	}
	return out
}

// parseImport parses the @import at i: [(options)] then a quoted path or
// url() with a quoted path, then media features up to ";". Anything else
// (url() without quotes, a variable) is not Magento's to rewrite: ok is
// false and less sees it as written.
func parseImport(src []byte, i int) (lessStmt, bool) {
	s := lessStmt{kind: stImport, start: i}
	n := len(src)
	j := skipSpace(src, i+len("@import"))
	if j < n && src[j] == '(' {
		k := bytes.IndexByte(src[j:], ')')
		if k < 0 {
			return s, false
		}
		opts := string(src[j+1 : j+k])
		if strings.ContainsAny(opts, "'\"(;{}") {
			return s, false
		}
		s.opts = parseImportOpts(opts)
		j = skipSpace(src, j+k+1)
	}
	if j+4 <= n && strings.EqualFold(string(src[j:j+4]), "url(") {
		s.url = true
		j = skipSpace(src, j+4)
	}
	if j >= n || src[j] != '\'' && src[j] != '"' {
		return s, false
	}
	q := src[j]
	k := j + 1
	for k < n && src[k] != q && src[k] != '\n' {
		k++
	}
	if k >= n || src[k] != q {
		return s, false
	}
	s.pathStart, s.pathEnd = j+1, k
	s.path = string(src[j+1 : k])
	j = k + 1
	if s.url {
		j = skipSpace(src, j)
		if j >= n || src[j] != ')' {
			return s, false
		}
		j++
	}
	// Media features, up to the ";".
	depth := 0
	for j < n {
		switch c := src[j]; {
		case c == '"' || c == '\'':
			j = skipString(src, j)
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ';' && depth <= 0:
			s.end = j + 1
			return s, true
		case c == '{' || c == '}':
			return s, false
		}
		j++
	}
	return s, false
}

// parseMagentoImport parses the //@magento_import at i as Magento's
// pattern does (MagentoImport::REPLACE_PATTERN):
//
//	//@magento_import, [whitespace (reference)], whitespace, a quote, a
//	path (no quote in it, not starting with "/", "\" or "C:/"), a quote,
//	optional whitespace, ";"
func parseMagentoImport(src []byte, i int) (lessStmt, bool) {
	s := lessStmt{kind: stMagentoImport, start: i}
	n := len(src)
	j := i + len("//@magento_import")
	k := skipSpace(src, j)
	if k == j {
		return s, false
	}
	j = k
	if bytes.HasPrefix(src[j:], []byte("(reference)")) {
		k := skipSpace(src, j+len("(reference)"))
		if k == j+len("(reference)") {
			return s, false
		}
		s.reference = true
		j = k
	}
	if j >= n || src[j] != '\'' && src[j] != '"' {
		return s, false
	}
	k = j + 1
	for k < n && src[k] != '\'' && src[k] != '"' {
		k++
	}
	if k >= n || k == j+1 {
		return s, false
	}
	p := string(src[j+1 : k])
	if p[0] == '/' || p[0] == '\\' || len(p) >= 3 && isIdent(p[0]) && p[0] != '-' && p[1] == ':' && (p[2] == '/' || p[2] == '\\') {
		return s, false
	}
	s.pathStart, s.pathEnd, s.path = j+1, k, p
	j = skipSpace(src, k+1)
	if j >= n || src[j] != ';' {
		return s, false
	}
	s.end = j + 1
	return s, true
}
