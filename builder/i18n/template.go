package i18n

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"strings"

	"github.com/scdtool/scd/diag"
	"github.com/tdewolff/parse/v2"
	phtml "github.com/tdewolff/parse/v2/html"
)

// Tag is one of our helpers in an HTML template: `{{t "phrase"}}` or
// `{{asset "path"}}`.
type Tag struct {
	Kind     string // "t" or "asset"
	Arg      string // decoded argument
	Off, End int    // byte range of the whole {{…}} in the input
}

// Helper names recognised in templates.
const (
	KindT     = "t"
	KindAsset = "asset"
)

// ScanTemplate finds the tags in an HTML template, in order.
//
// Which braces are ours: HTML templates in real themes are often Knockout,
// Handlebars or Mustache templates that use {{…}} themselves ({{ name }},
// {{#if x}}, {{ ko.observable }}, even {{foo "x"}} helper calls). So a `{{` is
// one of our tags only when, after optional white space, the identifier `t`
// or `asset` follows and ends there (at white space, a quote or `}}`);
// `{{t.x}}`, `{{title}}` or `{{foo "x"}}` belong to the template's own
// runtime and are left alone. In particular an unknown helper is NOT an
// error: it cannot be told apart from another engine's helper.
//
// Once a tag is ours it must be well formed: exactly one quoted argument
// ('…' or "…", with backslash escapes, on one line, not empty) and `}}`.
// Otherwise the result is a *diag.Error located at the `{{`, with File set to
// name. The first malformed tag is reported.
func ScanTemplate(name string, src []byte) ([]Tag, error) {
	tags, errs := scanTemplate(name, src, true)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return tags, nil
}

// scanTemplate returns the well-formed tags and the errors for the malformed
// ones; with stop it returns at the first error.
func scanTemplate(name string, src []byte, stop bool) ([]Tag, []*diag.Error) {
	var tags []Tag
	var errs []*diag.Error
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("{{"))
		if j < 0 {
			return tags, errs
		}
		off := i + j
		tag, end, msg, ours := parseTag(src, off)
		if !ours {
			i = off + 2
			continue
		}
		if msg != "" {
			errs = append(errs, locate(name, src, off, msg))
			if stop {
				return tags, errs
			}
			i = off + 2
			continue
		}
		tags = append(tags, tag)
		i = end
	}
}

func locate(name string, src []byte, off int, msg string) *diag.Error {
	line, col, text := diag.Position(src, off)
	e := diag.Buildf(name, line, col, "%s", msg)
	e.Source = text
	return e
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// parseTag reads the tag at src[off:] (which starts with "{{"). ours is false
// when the braces are not one of our helpers; otherwise either msg describes
// what is wrong or tag is the tag and end its end.
func parseTag(src []byte, off int) (tag Tag, end int, msg string, ours bool) {
	i := off + 2
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	start := i
	for i < len(src) && isIdentByte(src[i]) {
		i++
	}
	kind := string(src[start:i])
	if kind != KindT && kind != KindAsset {
		return Tag{}, 0, "", false
	}
	if i < len(src) && !isSpace(src[i]) && src[i] != '"' && src[i] != '\'' && src[i] != '}' {
		return Tag{}, 0, "", false // {{t.x}}, {{asset(…)}}: not our syntax
	}
	if i < len(src) && src[i] == '}' && !bytes.HasPrefix(src[i:], []byte("}}")) {
		return Tag{}, 0, "", false
	}
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	what := "{{" + kind + "}}"
	switch {
	case i >= len(src):
		return Tag{}, 0, fmt.Sprintf("unterminated %s tag: missing quoted argument and \"}}\"", what), true
	case bytes.HasPrefix(src[i:], []byte("}}")):
		return Tag{}, 0, fmt.Sprintf("%s needs a quoted argument, as in {{%s \"…\"}}", what, kind), true
	case src[i] != '"' && src[i] != '\'':
		return Tag{}, 0, fmt.Sprintf("the argument of %s must be a quoted string", what), true
	}
	arg, n, ok := unquoteTagString(src[i:])
	if !ok {
		return Tag{}, 0, fmt.Sprintf("unterminated string in %s", what), true
	}
	i += n
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	if !bytes.HasPrefix(src[i:], []byte("}}")) {
		if i >= len(src) || !bytes.Contains(src[i:], []byte("}}")) {
			return Tag{}, 0, fmt.Sprintf("unterminated %s tag: missing \"}}\"", what), true
		}
		return Tag{}, 0, fmt.Sprintf("%s takes exactly one quoted argument", what), true
	}
	if arg == "" {
		return Tag{}, 0, fmt.Sprintf("empty argument in %s", what), true
	}
	i += 2
	return Tag{Kind: kind, Arg: arg, Off: off, End: i}, i, "", true
}

// unquoteTagString decodes a quoted tag argument at the start of s: a
// backslash takes the next character literally (\" \' \\), nothing else is
// special. A raw line break ends it unterminated, so that a missing quote is
// reported where it is rather than wherever the next quote happens to be.
func unquoteTagString(s []byte) (string, int, bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case q:
			return b.String(), i + 1, true
		case '\n', '\r':
			return "", 0, false
		case '\\':
			if i+1 >= len(s) || s[i+1] == '\n' || s[i+1] == '\r' {
				return "", 0, false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// RenderTemplate replaces the tags (as returned by ScanTemplate for src) in
// src: a t tag by the HTML-escaped translation t(phrase), an asset tag by the
// URL that asset returns, escaped for an attribute value (html.EscapeString
// escapes quotes too, so both are safe in text and in either kind of quoted
// attribute). Errors from asset are returned as is, so the caller's located
// "unresolved asset" error reaches the user unchanged.
//
// The escaping is for HTML text and quoted attribute values, where templates
// put these tags; inside <script> or <style> it would be the wrong escaping,
// and JS has $t for that.
func RenderTemplate(src []byte, tags []Tag, t func(phrase string) string, asset func(path string) (string, error)) ([]byte, error) {
	if len(tags) == 0 {
		return src, nil
	}
	out := make([]byte, 0, len(src)+len(src)/8)
	last := 0
	for _, tag := range tags {
		if tag.Off < last || tag.End < tag.Off || tag.End > len(src) {
			return nil, errors.New("render template: tags out of order or out of range")
		}
		out = append(out, src[last:tag.Off]...)
		switch tag.Kind {
		case KindT:
			out = append(out, html.EscapeString(t(tag.Arg))...)
		case KindAsset:
			u, err := asset(tag.Arg)
			if err != nil {
				return nil, err
			}
			out = append(out, html.EscapeString(u)...)
		default:
			return nil, fmt.Errorf("render template: unknown tag kind %q", tag.Kind)
		}
		last = tag.End
	}
	return append(out, src[last:]...), nil
}

// HTMLPhrases returns the phrases an HTML template looks up at run time,
// deduplicated and sorted, for js-translation.json:
//   - translate="'…'" attributes (Magento's Knockout translate binding: the
//     value is a JS string literal), and args="'…'" of <translate> elements;
//   - i18n: '…' and $t('…') inside data-bind attributes and Knockout
//     virtual-element comments (<!-- ko i18n: '…' --><!-- /ko -->).
//
// {{t "…"}} tags are not included: they are substituted at build time and
// the browser never looks them up (ScanTemplate finds them).
//
// Attribute values are entity-decoded before they are read as JS.
func HTMLPhrases(src []byte) []string {
	set := make(map[string]struct{})
	htmlAttrPhrases(src, set)
	return sortedKeys(set)
}

// htmlAttrPhrases adds the phrases of translate and data-bind attributes and
// of Knockout comments.
func htmlAttrPhrases(src []byte, set map[string]struct{}) {
	// The HTML lexer lower-cases tag names in its input buffer: give it a copy.
	buf := make([]byte, len(src), len(src)+1)
	copy(buf, src)
	l := phtml.NewLexer(parse.NewInputBytes(buf))
	var tagName string
	for {
		tt, _ := l.Next()
		switch tt {
		case phtml.ErrorToken:
			return
		case phtml.StartTagToken:
			tagName = strings.ToLower(string(l.Text()))
		case phtml.AttributeToken:
			key := strings.ToLower(string(l.AttrKey()))
			switch {
			case key == "translate", key == "args" && tagName == "translate":
				if v := attrValue(l.AttrVal()); v != "" {
					literalPhrase([]byte(v), set)
				}
			case key == "data-bind":
				if v := attrValue(l.AttrVal()); v != "" {
					jsPhrases([]byte(v), set)
				}
			}
		case phtml.CommentToken:
			text := bytes.TrimSpace(l.Text())
			if rest, ok := bytes.CutPrefix(text, []byte("ko ")); ok {
				jsPhrases(rest, set)
			}
		}
	}
}

// attrValue returns an attribute value without its quotes, entity-decoded.
func attrValue(v []byte) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return html.UnescapeString(string(v))
}

// literalPhrase adds the value of src to set when src is exactly one JS string
// literal (surrounding white space allowed).
func literalPhrase(src []byte, set map[string]struct{}) {
	s := newJSScanner(src)
	t, ok := s.next()
	if !ok || !isLiteral(t.tt) {
		return
	}
	if _, more := s.next(); more {
		return
	}
	if v, exact := unquoteJS(src[t.off:t.end]); exact && v != "" {
		set[v] = struct{}{}
	}
}
