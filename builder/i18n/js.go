package i18n

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/tdewolff/parse/v2/js"
)

// Marker is the global function whose calls stand for translate calls
// between the passes. MarkJS wraps the callee of `$t('x')` as
// `__scd_t("L:C",$t)('x')`, where L:C is the call's line and column in the
// source; TranslateJS replaces the whole call by the translated literal on
// the minified output, or unwraps the callee again (`$t('x')`, however the
// minifier renamed $t) where it cannot. See the package documentation.
const Marker = "__scd_t"

var (
	markerBytes = []byte(Marker)
	dollarT     = []byte("$t")
)

// MarkJS marks the translate calls of src whose only argument is a string
// literal: `$t('x')`, `$.mage.__('x')` and `jQuery.mage.__('x')` become
// `__scd_t("L:C",$t)('x')`, `__scd_t("L:C",$.mage.__)('x')`, and so on, where
// L:C is the 1-based line and column (in bytes) of the callee in src. Only
// text is inserted before and after the callee: the callee and the argument
// stay byte for byte, comments included.
//
// A marked call resists what a minifier does to calls: each is a call of a
// distinct call expression (its own L:C), so two of them cannot be merged
// (`c?$t('a'):$t('b')` is otherwise folded into `$t(c?"a":"b")`); the callee
// is an argument, so renaming $t or $ renames it there; the free global
// Marker is never renamed.
//
// A template literal without substitutions (`$t(`x`)`) is a constant too and
// is marked; one with substitutions, a concatenation, a variable or a second
// argument is not, because its value is only known at run time (it stays a
// call of $t and is translated by the runtime dictionary, if at all). In
// `$t($t('x'))` only the inner call is marked. A member access (`obj.$t('x')`,
// `obj?.$t('x')`, `x.$.mage.__('x')`) names some object's method, not the
// translate function, and `new $t('x')` is no call of it: neither is marked.
//
// It returns src itself and false when there is nothing to mark.
func MarkJS(src []byte) ([]byte, bool) {
	if !bytes.Contains(src, dollarT) && !bytes.Contains(src, mageDunder) {
		return src, false
	}
	type mark struct{ start, end int } // the callee's bytes
	var marks []mark
	eachCall(src, func(callee, _ tok, _ int) {
		marks = append(marks, mark{callee.off, callee.end})
	})
	if len(marks) == 0 {
		return src, false
	}
	out := make([]byte, 0, len(src)+len(marks)*(len(Marker)+16))
	last, line, lineStart := 0, 1, 0
	for _, m := range marks {
		// Lines and columns as diag.Position counts them.
		line += bytes.Count(src[last:m.start], []byte{'\n'})
		if i := bytes.LastIndexByte(src[last:m.start], '\n'); i >= 0 {
			lineStart = last + i + 1
		}
		out = append(out, src[last:m.start]...)
		out = append(out, Marker...)
		out = append(out, `("`...)
		out = strconv.AppendInt(out, int64(line), 10)
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(m.start-lineStart+1), 10)
		out = append(out, `",`...)
		out = append(out, src[m.start:m.end]...)
		out = append(out, ')')
		last = m.end
	}
	return append(out, src[last:]...), true
}

// eachCall calls fn, in order, for every translate call with a single
// string-literal argument in src — `$t(…)`, `$.mage.__(…)`,
// `jQuery.mage.__(…)`, not a member access nor after `new` — with the callee
// (from its first byte to its last), the literal, and the end of the call.
func eachCall(src []byte, fn func(callee, lit tok, end int)) {
	s := newJSScanner(src)
	var w window
	for {
		t, ok := s.next()
		if !ok {
			return
		}
		w.push(t)
		if t.tt != js.CloseParenToken {
			continue
		}
		callee, lit, ok := w.translateCall(src)
		if ok {
			fn(callee, lit, t.end)
		}
	}
}

var (
	mageDunder = []byte("__")
	mageName   = []byte("mage")
	i18nName   = []byte("i18n")
)

// translateCall matches a translate call with a string-literal argument
// ending at the newest token (a `)`) and returns its callee's byte range (as
// a tok) and the literal.
func (w *window) translateCall(src []byte) (callee, lit tok, ok bool) {
	name, lit, at, ok := w.call()
	if !ok {
		return tok{}, tok{}, false
	}
	text := func(t tok) []byte { return src[t.off:t.end] }
	first := at // the window index of the callee's first token
	switch n := text(name); {
	case bytes.Equal(n, dollarT):
	case bytes.Equal(n, mageDunder):
		// $ . mage . __
		dot1, ok1 := w.at(at + 1)
		mage, ok2 := w.at(at + 2)
		dot2, ok3 := w.at(at + 3)
		obj, ok4 := w.at(at + 4)
		if !ok1 || !ok2 || !ok3 || !ok4 || dot1.tt != js.DotToken || dot2.tt != js.DotToken ||
			!bytes.Equal(text(mage), mageName) || (string(text(obj)) != "$" && string(text(obj)) != "jQuery") {
			return tok{}, tok{}, false
		}
		first = at + 4
	default:
		return tok{}, tok{}, false
	}
	if w.isMemberAccess(first + 1) {
		return tok{}, tok{}, false
	}
	if prev, has := w.at(first + 1); has && prev.tt == js.NewToken {
		return tok{}, tok{}, false
	}
	start, _ := w.at(first)
	if start.off > 0 && isJSIdentPart(src[start.off-1]) {
		// Glued to a number before it (`0jQuery.mage.__('x')`, which is
		// no JavaScript): a marker there would read as part of the
		// number, and no call of it could be found again.
		return tok{}, tok{}, false
	}
	return tok{off: start.off, end: name.end}, lit, true
}

// isJSIdentPart reports whether c is an ASCII byte that may continue an
// identifier or a number. (A letter beyond ASCII before the callee would
// have been lexed with it into one identifier; a space beyond ASCII, such
// as U+00A0, separates tokens as a space does.)
func isJSIdentPart(c byte) bool {
	return c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Fallback is a marked call that TranslateJS could not replace by a string
// literal. It was turned back into the call it was (`$t('x')`, with the
// minifier's names), so the page translates it at run time from
// js-translation.json.
type Fallback struct {
	// Line and Col are where the call is in the source MarkJS marked
	// (1-based, columns in bytes); 0 when the marker does not say.
	Line, Col int
	// Off is the offset of the marker in TranslateJS's input.
	Off int
	// Phrase is the call's argument, when it is a literal.
	Phrase string
	// Reason says what was wrong, for messages.
	Reason string
}

// TranslateJS replaces every marked call `__scd_t("L:C",f)(<literal>)` in
// (possibly minified) JS by a double-quoted JS string literal of
// tr(phrase), where phrase is the decoded value of the literal. Without a
// translation the phrase itself is used and reported in missing
// (deduplicated, sorted). An empty phrase stays empty, as Magento's runtime
// leaves it.
//
// Replacing a call expression by a string literal is safe wherever the call
// stood: a literal is a primary expression, which binds at least as tightly.
// When the literal cannot be decoded exactly (a lone surrogate such as
// "\uD800" has no UTF-8 form) and there is no translation, the original
// literal is kept, so the program still means what it did.
//
// A marked call whose argument is no longer a single literal, or that is not
// whole, is unwrapped instead — `__scd_t("L:C",e)(x)` becomes `e(x)` — so
// that it calls the runtime translate function as the source did, and is
// reported in fallbacks. No call of Marker that MarkJS made is left.
//
// It returns min itself when there is no call to replace.
func TranslateJS(min []byte, tr func(phrase string) (string, bool)) (out []byte, missing []string, fallbacks []Fallback) {
	if !bytes.Contains(min, markerBytes) {
		return min, nil, nil
	}
	var seen map[string]struct{}
	translate := func(dst, lit []byte) []byte {
		phrase, exact := unquoteJS(lit)
		if phrase == "" && exact {
			return append(dst, `""`...)
		}
		translation, found := tr(phrase)
		if !found {
			if seen == nil {
				seen = make(map[string]struct{})
			}
			seen[phrase] = struct{}{}
		}
		switch {
		case found:
			return appendQuotedJS(dst, translation)
		case exact:
			return appendQuotedJS(dst, phrase)
		default:
			return append(dst, lit...)
		}
	}
	edits, texts, fallbacks := findMarked(min, translate)
	if len(edits) == 0 {
		return min, nil, fallbacks
	}
	return applyEdits(min, edits, texts), sortedKeys(seen), fallbacks
}

// edit replaces src[off:end] by texts[text:textEnd].
type edit struct {
	off, end      int
	text, textEnd int
}

func applyEdits(src []byte, edits []edit, texts []byte) []byte {
	out := make([]byte, 0, len(src)+len(texts))
	last := 0
	for _, e := range edits {
		out = append(out, src[last:e.off]...)
		out = append(out, texts[e.text:e.textEnd]...)
		last = e.end
	}
	return append(out, src[last:]...)
}

// markerReader reads the tokens of marked JS, with a stack of tokens read
// ahead and given back. It also holds what the calls found so far make.
type markerReader struct {
	s    *jsScanner
	back []tok
	read []tok // the tokens of the marked call being read

	edits     []edit
	texts     []byte // the edits' replacement texts
	translate func(dst, lit []byte) []byte
}

func (r *markerReader) next() (tok, bool) {
	if n := len(r.back); n > 0 {
		t := r.back[n-1]
		r.back = r.back[:n-1]
		return t, true
	}
	return r.s.next()
}

// unread gives back ts, to be read again in order.
func (r *markerReader) unread(ts []tok) {
	for i := len(ts) - 1; i >= 0; i-- {
		r.back = append(r.back, ts[i])
	}
}

// findMarked finds the marked calls of src and returns, in order, the edits
// that replace each by translate(literal) (appended to texts) or unwrap it,
// and the calls unwrapped. With translate nil, every marked call is
// unwrapped (and none is reported): that gives back what MarkJS was given.
func findMarked(src []byte, translate func(dst, lit []byte) []byte) (edits []edit, texts []byte, fallbacks []Fallback) {
	r := &markerReader{s: newJSScanner(src), translate: translate}
	var prev tok
	for {
		t, ok := r.next()
		if !ok {
			return r.edits, r.texts, fallbacks
		}
		if t.tt == js.IdentifierToken && bytes.Equal(src[t.off:t.end], markerBytes) &&
			prev.tt != js.DotToken && prev.tt != js.OptChainToken {
			var fb *Fallback
			fb, t = r.marked(src, t)
			if fb != nil && translate != nil {
				fallbacks = append(fallbacks, *fb)
			}
		}
		prev = t
	}
}

// cut records that src[off:end] is to be removed.
func (r *markerReader) cut(off, end int) {
	r.edits = append(r.edits, edit{off: off, end: end})
}

// marked handles the call of Marker whose name is the token name: it reads
// `("L:C", callee)` and then `(<literal> [,])`, and records the edits that
// replace the call by translate(literal), or unwrap it. It returns the
// fallback, if it unwrapped the call, and the last token it consumed (tokens
// it read ahead and did not use are given back, to be read again: they may
// hold more marked calls).
func (r *markerReader) marked(src []byte, name tok) (*Fallback, tok) {
	r.read = r.read[:0] // every token read after name
	next := func() (tok, bool) {
		t, ok := r.next()
		if ok {
			r.read = append(r.read, t)
		}
		return t, ok
	}
	expect := func(tt js.TokenType) (tok, bool) {
		t, ok := next()
		return t, ok && t.tt == tt
	}
	giveBack := func(from int) tok { // read[from:] are to be read again
		last := name
		if from > 0 {
			last = r.read[from-1]
		}
		r.unread(r.read[from:])
		return last
	}
	// ( "L:C" ,
	_, ok1 := expect(js.OpenParenToken)
	pos, ok2 := next()
	ok2 = ok2 && pos.tt == js.StringToken
	_, ok3 := expect(js.CommaToken)
	if !ok1 || !ok2 || !ok3 {
		// Not a marker MarkJS wrote: the source's own function.
		return nil, giveBack(0)
	}
	fallback := func(reason string) *Fallback {
		fb := &Fallback{Off: name.off, Reason: reason}
		if v, exact := unquoteJS(src[pos.off:pos.end]); exact {
			if l, c, ok := strings.Cut(v, ":"); ok {
				line, err1 := strconv.Atoi(l)
				col, err2 := strconv.Atoi(c)
				if err1 == nil && err2 == nil && line > 0 && col > 0 {
					fb.Line, fb.Col = line, col
				}
			}
		}
		return fb
	}
	afterComma := len(r.read)
	// The callee, up to the parenthesis that closes the marker's call.
	simple := true // identifiers and dots only: it can stand alone as a callee
	depth := 0
	var closeTok tok
	for {
		t, ok := next()
		if !ok {
			// The end of the input inside the call: the source was cut.
			r.cut(name.off, name.end)
			return fallback("the marked call is not whole"), giveBack(afterComma)
		}
		switch t.tt {
		case js.OpenParenToken, js.OpenBracketToken, js.OpenBraceToken, js.TemplateStartToken:
			depth++
		case js.CloseParenToken, js.CloseBracketToken, js.CloseBraceToken, js.TemplateEndToken:
			depth--
		}
		if depth < 0 {
			closeTok = t
			break
		}
		if !(t.tt == js.DotToken || js.IsIdentifier(t.tt) && !bytes.Equal(src[t.off:t.end], markerBytes)) {
			simple = false
		}
	}
	simple = simple && len(r.read) > afterComma+1 && js.IsIdentifier(r.read[afterComma].tt)
	afterCallee := len(r.read)
	// ( <literal> [,] )
	_, ok1 = expect(js.OpenParenToken)
	lit, ok2 := next()
	ok2 = ok2 && isLiteral(lit.tt)
	t, ok3 := next()
	if ok3 && t.tt == js.CommaToken {
		t, ok3 = next()
	}
	var fb *Fallback
	if ok1 && ok2 && ok3 && t.tt == js.CloseParenToken {
		if r.translate != nil {
			from := len(r.texts)
			r.texts = r.translate(r.texts, src[lit.off:lit.end])
			r.edits = append(r.edits, edit{off: name.off, end: t.end, text: from, textEnd: len(r.texts)})
			return nil, t
		}
		// Without translate, unwrap as the fallback would.
	} else {
		fb = fallback("its argument is no longer a single string literal")
		if ok2 && ok3 && t.tt == js.CloseParenToken {
			fb.Phrase, _ = unquoteJS(src[lit.off:lit.end])
		}
	}
	if !simple {
		// `("L:C", callee)(…)` still calls the callee.
		r.cut(name.off, name.end)
		return fb, giveBack(afterComma)
	}
	r.cut(name.off, r.read[afterComma-1].end)
	r.cut(closeTok.off, closeTok.end)
	return fb, giveBack(afterCallee)
}

// JSPhrases returns the phrases a JS source uses, deduplicated and sorted:
// the string-literal arguments of `$t('…')` and `$.mage.__('…')` (or
// `jQuery.mage.__`), and the values of `i18n: '…'` object properties. These
// are what js-translation.json must hold for the runtime translation
// (Magento's "dictionary" strategy, Knockout's i18n binding, and the calls
// TranslateJS leaves to the runtime) to work.
//
// Unlike MarkJS, a member access `obj.$t('…')` counts: it is not replaced at
// build time, so the runtime dictionary is its only chance. Empty phrases and
// literals that cannot be decoded exactly are left out.
func JSPhrases(src []byte) []string {
	set := make(map[string]struct{})
	jsPhrases(src, set)
	return sortedKeys(set)
}

// jsPhrases adds the phrases of src (JS, or a Knockout binding string) to set.
func jsPhrases(src []byte, set map[string]struct{}) {
	if !bytes.Contains(src, dollarT) && !bytes.Contains(src, mageDunder) && !bytes.Contains(src, i18nName) {
		return
	}
	add := func(lit tok) {
		if v, exact := unquoteJS(src[lit.off:lit.end]); exact && v != "" {
			set[v] = struct{}{}
		}
	}
	text := func(t tok) []byte { return src[t.off:t.end] }
	s := newJSScanner(src)
	var w window
	for {
		t, ok := s.next()
		if !ok {
			break
		}
		w.push(t)
		switch {
		case t.tt == js.CloseParenToken:
			name, lit, _, ok := w.call()
			if !ok {
				continue
			}
			if bytes.Equal(text(name), dollarT) {
				add(lit)
			} else if _, lit, ok := w.translateCall(src); ok {
				add(lit) // $.mage.__
			}
		case isLiteral(t.tt):
			// i18n: '…' as a property of an object literal or a binding.
			colon, ok1 := w.at(1)
			key, ok2 := w.at(2)
			if !ok1 || !ok2 || colon.tt != js.ColonToken {
				continue
			}
			isKey := js.IsIdentifier(key.tt) && bytes.Equal(text(key), i18nName)
			if !isKey && key.tt == js.StringToken {
				v, _ := unquoteJS(text(key))
				isKey = v == "i18n"
			}
			if !isKey {
				continue
			}
			if prev, ok := w.at(3); ok && prev.tt != js.OpenBraceToken && prev.tt != js.CommaToken {
				continue
			}
			add(t)
		}
	}
}

func sortedKeys(set map[string]struct{}) []string {
	if len(set) == 0 {
		return nil
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
