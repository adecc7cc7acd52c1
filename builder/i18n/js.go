package i18n

import (
	"bytes"
	"slices"

	"github.com/tdewolff/parse/v2/js"
)

// Marker is the global function name used between the passes: MarkJS turns
// `$t('x')` into `__scd_t('x')` before minifying, TranslateJS replaces
// `__scd_t("x")` by the translated literal after. Minifiers never rename a
// free global, whatever they do to the local `$t`.
const Marker = "__scd_t"

var (
	markerBytes = []byte(Marker)
	dollarT     = []byte("$t")
)

// MarkJS rewrites `$t('x')` and `$t("x")` calls whose only argument is a single
// string literal into `__scd_t('x')`, keeping the literal byte for byte (only
// the callee's name changes, so positions in source maps move by a constant
// per call and comments around the argument survive).
//
// A template literal without substitutions (`$t(`x`)`) is a constant too and
// is marked; one with substitutions, a concatenation or a second argument is
// not, because its value is only known at run time (it stays a call of $t
// and is translated by the runtime dictionary, if at all). A member access
// (`obj.$t('x')`, `obj?.$t('x')`) is not marked: it names some object's
// method, not the translate function.
//
// It returns src itself and false when there is nothing to mark.
func MarkJS(src []byte) ([]byte, bool) {
	if !bytes.Contains(src, dollarT) {
		return src, false
	}
	var marks []int // offsets of the `$t` to rename
	eachCall(src, dollarT, func(name, _ tok, _ int) { marks = append(marks, name.off) })
	if len(marks) == 0 {
		return src, false
	}
	out := make([]byte, 0, len(src)+len(marks)*(len(Marker)-len(dollarT)))
	last := 0
	for _, off := range marks {
		out = append(out, src[last:off]...)
		out = append(out, Marker...)
		last = off + len(dollarT)
	}
	return append(out, src[last:]...), true
}

// TranslateJS replaces every `__scd_t(<literal>)` call in (possibly minified)
// JS by a double-quoted JS string literal of tr(phrase), where phrase is the
// decoded value of the literal. Without a translation the phrase itself is
// used and reported in missing (deduplicated, sorted).
//
// Replacing a call expression by a string literal is safe wherever the call
// stood: a literal is a primary expression, which binds at least as tightly.
// When the literal cannot be decoded exactly (a lone surrogate such as
// "\uD800" has no UTF-8 form) and there is no translation, the original
// literal is kept, so the program still means what it did.
//
// It returns min itself when there is no call to replace.
func TranslateJS(min []byte, tr func(phrase string) (string, bool)) (out []byte, missing []string) {
	if !bytes.Contains(min, markerBytes) {
		return min, nil
	}
	var seen map[string]struct{}
	last := 0
	eachCall(min, markerBytes, func(name, lit tok, end int) {
		if out == nil {
			out = make([]byte, 0, len(min)+len(min)/16)
		}
		out = append(out, min[last:name.off]...)
		phrase, exact := unquoteJS(min[lit.off:lit.end])
		translation, found := tr(phrase)
		switch {
		case found:
			out = appendQuotedJS(out, translation)
		case exact:
			out = appendQuotedJS(out, phrase)
		default:
			out = append(out, min[lit.off:lit.end]...)
		}
		if !found {
			if seen == nil {
				seen = make(map[string]struct{})
			}
			seen[phrase] = struct{}{}
		}
		last = end
	})
	if out == nil {
		return min, nil
	}
	return append(out, min[last:]...), sortedKeys(seen)
}

// eachCall calls fn, in order, for every call `callee(<string literal>)` in
// src that is not a member access (`obj.callee(…)` names some object's
// method), with the callee and literal tokens and the end of the call.
func eachCall(src, callee []byte, fn func(name, lit tok, end int)) {
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
		name, lit, at, ok := w.call()
		if ok && bytes.Equal(src[name.off:name.end], callee) && !w.isMemberAccess(at+1) {
			fn(name, lit, t.end)
		}
	}
}

// JSPhrases returns the phrases a JS source uses, deduplicated and sorted:
// the string-literal arguments of `$t('…')`, `__scd_t('…')` and
// `$.mage.__('…')` (or `jQuery.mage.__`), and the values of `i18n: '…'`
// object properties. These are what js-translation.json must hold for the
// runtime translation (Magento's "dictionary" strategy, Knockout's i18n
// binding) to work.
//
// Unlike MarkJS, a member access `obj.$t('…')` counts: it is not replaced at
// build time, so the runtime dictionary is its only chance. Empty phrases and
// literals that cannot be decoded exactly are left out.
func JSPhrases(src []byte) []string {
	set := make(map[string]struct{})
	jsPhrases(src, set)
	return sortedKeys(set)
}

var (
	mageDunder = []byte("__")
	mageName   = []byte("mage")
	i18nName   = []byte("i18n")
)

// jsPhrases adds the phrases of src (JS, or a Knockout binding string) to set.
func jsPhrases(src []byte, set map[string]struct{}) {
	if !bytes.Contains(src, dollarT) && !bytes.Contains(src, markerBytes) &&
		!bytes.Contains(src, mageDunder) && !bytes.Contains(src, i18nName) {
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
			name, lit, at, ok := w.call()
			if !ok {
				continue
			}
			switch n := text(name); {
			case bytes.Equal(n, dollarT):
				add(lit)
			case bytes.Equal(n, markerBytes) && !w.isMemberAccess(at+1):
				add(lit)
			case bytes.Equal(n, mageDunder):
				// $ . mage . __
				dot1, ok1 := w.at(at + 1)
				mage, ok2 := w.at(at + 2)
				dot2, ok3 := w.at(at + 3)
				obj, ok4 := w.at(at + 4)
				if ok1 && ok2 && ok3 && ok4 && dot1.tt == js.DotToken && dot2.tt == js.DotToken &&
					bytes.Equal(text(mage), mageName) &&
					(string(text(obj)) == "$" || string(text(obj)) == "jQuery") && !w.isMemberAccess(at+5) {
					add(lit)
				}
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
