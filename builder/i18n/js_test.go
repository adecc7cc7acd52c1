package i18n

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestMarkJS(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means: unchanged, and MarkJS reports false
	}{
		{name: "single quotes", in: `$t('Add to Cart')`, want: `__scd_t("1:1",$t)('Add to Cart')`},
		{name: "double quotes", in: `x = $t("Add to Cart")`, want: `x = __scd_t("1:5",$t)("Add to Cart")`},
		{name: "literal kept byte for byte", in: `$t('It\'s \u00e9\x41\
ok')`, want: `__scd_t("1:1",$t)('It\'s \u00e9\x41\
ok')`},
		{name: "white space and comments around the argument", in: "$t ( /* c */ 'x' // d\n )", want: "__scd_t(\"1:1\",$t) ( /* c */ 'x' // d\n )"},
		{name: "trailing comma", in: "$t(\n  'x',\n)", want: "__scd_t(\"1:1\",$t)(\n  'x',\n)"},
		{name: "AMD parameter", in: `define(['jquery', 'mage/translate'], function ($, $t) {
    'use strict';
    return { label: $t('Sign In'), other: $t("Sign Out") };
});`, want: `define(['jquery', 'mage/translate'], function ($, $t) {
    'use strict';
    return { label: __scd_t("3:21",$t)('Sign In'), other: __scd_t("3:43",$t)("Sign Out") };
});`},
		{name: "ES import", in: "import $t from 'mage/translate';\nexport const l = $t('Hi');", want: "import $t from 'mage/translate';\nexport const l = __scd_t(\"2:18\",$t)('Hi');"},
		{name: "template literal without substitutions", in: "$t(`Hello`)", want: "__scd_t(\"1:1\",$t)(`Hello`)"},
		{name: "ternary", in: `c ? $t('On') : $t('Off')`, want: `c ? __scd_t("1:5",$t)('On') : __scd_t("1:16",$t)('Off')`},
		{name: "nested: the inner call only", in: `$t($t('x'))`, want: `$t(__scd_t("1:4",$t)('x'))`},
		{name: "mage dunder", in: `$.mage.__('One'); jQuery.mage.__("Two")`, want: `__scd_t("1:1",$.mage.__)('One'); __scd_t("1:19",jQuery.mage.__)("Two")`},
		{name: "mage dunder with comments", in: "$ /*a*/ .mage\n.__ ('x')", want: "__scd_t(\"1:1\",$ /*a*/ .mage\n.__) ('x')"},
		{name: "columns count bytes, lines LF", in: "é\r\n\n  é+$t('x')", want: "é\r\n\n  é+__scd_t(\"3:6\",$t)('x')"},
		{name: "mage dunder of another object", in: `x.mage.__('no'); a.$.mage.__('no'); $.x.__('no')`},
		{name: "new", in: `new $t('x'); new $.mage.__('y')`},
		{name: "template literal with substitutions", in: "$t(`Hello ${name}`)"},
		{name: "tagged template", in: "$t`Hello`"},
		{name: "concatenation", in: `$t('Hello ' + name)`},
		{name: "two arguments", in: `$t('Hello', x)`},
		{name: "no argument", in: `$t()`},
		{name: "variable argument", in: `$t(msg)`},
		{name: "member access", in: `obj.$t('x')`},
		{name: "optional member access", in: `obj?.$t('x')`},
		{name: "optional call", in: `$t?.('x')`},
		{name: "other identifier", in: `$tx('x'); x$t('y'); _$t('z')`},
		{name: "glued to a number (not JavaScript)", in: `0jQuery .mage.__("x"); 1$t('y')`},
		{name: "after a space beyond ASCII", in: "a=\u00a0$t('x')", want: "a=\u00a0__scd_t(\"1:5\",$t)('x')"},
		{name: "reference, not a call", in: `var f = $t; f('x')`},
		{name: "in a string", in: `var s = "$t('x')" + '$t("y")';`},
		{name: "in a template literal", in: "var s = `$t('x')`;"},
		{name: "in a line comment", in: "// $t('x')\nvar a;"},
		{name: "in a block comment", in: "/* $t('x') */ var a;"},
		{name: "in a regex literal", in: `var r = /\$t\('x'\)/g;`},
		{name: "regex literal with a quote", in: `var r = /'/, s = $t('x')`, want: `var r = /'/, s = __scd_t("1:18",$t)('x')`},
		{name: "regex after return", in: `function f(){return /'$t('x')/}`},
		{name: "regex after if head", in: `if (a) /'$t('x')/.test(b)`},
		{name: "regex after block", in: `function f(){} /'$t('x')/.test(b)`},
		{name: "regex with class containing slash", in: `x = /[/']/; y = $t('x')`, want: `x = /[/']/; y = __scd_t("1:17",$t)('x')`},
		{name: "division", in: `var d = a / $t('x') / 2;`, want: `var d = a / __scd_t("1:13",$t)('x') / 2;`},
		{name: "division after paren", in: `var d = (a) / 2, e = $t('x') / 3;`, want: `var d = (a) / 2, e = __scd_t("1:22",$t)('x') / 3;`},
		{name: "division after index", in: `a[0] / 2 + $t('x')`, want: `a[0] / 2 + __scd_t("1:12",$t)('x')`},
		{name: "division that looks like an unterminated regex", in: "a = b\n}/ 2; c = $t('x')", want: "a = b\n}/ 2; c = __scd_t(\"2:11\",$t)('x')"},
		{name: "inside template substitution", in: "`${$t('x')}!`", want: "`${__scd_t(\"1:4\",$t)('x')}!`"},
		{name: "minified", in: `define(["mage/translate"],function(e){var $t=e;return{a:$t("A"),b:$t('B')+"/"+c/2}});`, want: `define(["mage/translate"],function(e){var $t=e;return{a:__scd_t("1:57",$t)("A"),b:__scd_t("1:67",$t)('B')+"/"+c/2}});`},
		{name: "nothing", in: `var a = 1;`},
		{name: "empty", in: ``},
		{name: "private name at end of input (lexer bug)", in: "$t('x')#", want: "__scd_t(\"1:1\",$t)('x')#"},
		{name: "unterminated string does not stop the scan", in: "var s = 'abc\nvar t = $t('x')", want: "var s = 'abc\nvar t = __scd_t(\"2:9\",$t)('x')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MarkJS([]byte(tt.in))
			if tt.want == "" {
				if ok || string(got) != tt.in {
					t.Fatalf("MarkJS(%q) = %q, %v; want it unchanged", tt.in, got, ok)
				}
				return
			}
			if !ok {
				t.Fatalf("MarkJS(%q) reported nothing to mark", tt.in)
			}
			if string(got) != tt.want {
				t.Fatalf("MarkJS(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if back := unmark(got); string(back) != tt.in {
				t.Fatalf("unmarking gives %q, not the source", back)
			}
			// Each marker names the line and column of its callee.
			for _, sm := range markerPos.FindAllStringSubmatch(string(got), -1) {
				line, _ := strconv.Atoi(sm[1])
				col, _ := strconv.Atoi(sm[2])
				lines := strings.Split(tt.in, "\n")
				if line > len(lines) || col > len(lines[line-1]) || !strings.HasPrefix(lines[line-1][col-1:], sm[3][:1]) {
					t.Errorf("marker %s does not point at %s", sm[0], sm[3])
				}
			}
		})
	}
}

var markerPos = regexp.MustCompile(`__scd_t\("(\d+):(\d+)",([^)]*)\)`)

// unmark unwraps every marked call, as TranslateJS does where it cannot
// translate: the result is the source MarkJS was given.
func unmark(marked []byte) []byte {
	edits, texts, _ := findMarked(marked, nil)
	return applyEdits(marked, edits, texts)
}

func TestMarkJSSameSlice(t *testing.T) {
	src := []byte(`var a = obj.$t('x');`)
	got, ok := MarkJS(src)
	if ok || &got[0] != &src[0] || len(got) != len(src) {
		t.Fatal("MarkJS must return src itself when there is nothing to mark")
	}
}

func TestMarkJSDoesNotWriteSpareCapacity(t *testing.T) {
	buf := make([]byte, 0, 64)
	buf = append(buf, `$t('x')`...)
	full := buf[:cap(buf)]
	full[len(buf)] = 'Z'
	MarkJS(buf)
	if full[len(buf)] != 'Z' {
		t.Fatal("MarkJS wrote past len(src)")
	}
}

func fr(p string) (string, bool) {
	m := map[string]string{
		"Add to Cart": "Ajouter au panier",
		"Sign In":     "Connexion",
		"quote":       `Il a dit "oui" et l'a fait\`,
		"multi":       "a\nb\tc\r\u2028\u2029</script></SCRIPT><!--",
	}
	v, ok := m[p]
	return v, ok
}

// m is a marked callee, as MarkJS writes it.
func m(pos, callee string) string { return Marker + `("` + pos + `",` + callee + `)` }

func TestTranslateJS(t *testing.T) {
	e := m("1:1", "e")
	tests := []struct {
		name      string
		in        string
		want      string // "" means unchanged
		missing   []string
		fallbacks []Fallback
	}{
		{name: "translated", in: `a=` + e + `("Add to Cart")`, want: `a="Ajouter au panier"`},
		{name: "single-quoted source", in: `a=` + e + `('Add to Cart')`, want: `a="Ajouter au panier"`},
		{name: "template source", in: "a=" + e + "(`Sign In`)", want: `a="Connexion"`},
		{name: "escaped source literal", in: `a=` + e + `("Add\x20to\u0020Cart")`, want: `a="Ajouter au panier"`},
		{name: "missing uses the phrase", in: `a=` + e + `('Don\'t')+` + e + `("Don't")+` + e + `("zz")`, want: `a="Don't"+"Don't"+"zz"`, missing: []string{"Don't", "zz"}},
		{name: "empty phrase stays empty", in: `a=` + e + `("")`, want: `a=""`},
		{name: "quotes and backslash escaped", in: `x=` + e + `("quote")`, want: `x="Il a dit \"oui\" et l'a fait\\"`},
		{name: "control characters, line separators, script end", in: `x=` + e + `("multi")`, want: `x="a\nb\tc\r\u2028\u2029<\/script><\/SCRIPT>\x3C!--"`},
		{name: "keyword before", in: `return ` + e + `("Sign In")`, want: `return "Connexion"`},
		{name: "minified keyword before", in: `case"a":return ` + e + `("Sign In")}`, want: `case"a":return "Connexion"}`},
		{name: "ternary", in: `return c?` + m("3:9", "t") + `("Sign In"):` + m("3:20", "t") + `("Add to Cart")`, want: `return c?"Connexion":"Ajouter au panier"`},
		{name: "member callee", in: m("1:1", "n.mage.__") + `("Sign In")`, want: `"Connexion"`},
		{name: "esbuild's import callee", in: m("1:1", "(0,r.default)") + `("Sign In")`, want: `"Connexion"`},
		{name: "nested: the outer call stays", in: `t(` + m("1:4", "t") + `("Sign In"))`, want: `t("Connexion")`},
		{name: "comments and spaces inside the call dropped", in: `__scd_t ( /*a*/ "1:1" , e ) ( /*a*/ "Sign In" /*b*/ )`, want: `"Connexion"`},
		{name: "trailing comma", in: e + `("Sign In",)`, want: `"Connexion"`},
		{name: "lone surrogate keeps literal", in: `x=` + e + `("\uD800")`, want: `x="\uD800"`, missing: []string{"\uFFFD"}},
		{name: "surrogate pair decoded", in: `x=` + e + `("\uD83D\uDE00")`, want: `x="😀"`, missing: []string{"😀"}},
		{name: "many", in: strings.Repeat(`f(`+e+`("Sign In"));`, 3), want: strings.Repeat(`f("Connexion");`, 3)},

		// What cannot be translated calls the runtime function again.
		{name: "folded argument falls back", in: `x=` + m("7:3", "t") + `(c?"a":"b")`, want: `x=t(c?"a":"b")`,
			fallbacks: []Fallback{{Line: 7, Col: 3, Off: 2, Reason: "its argument is no longer a single string literal"}}},
		{name: "member callee falls back", in: m("2:1", "n.mage.__") + `(v)`, want: `n.mage.__(v)`,
			fallbacks: []Fallback{{Line: 2, Col: 1, Off: 0, Reason: "its argument is no longer a single string literal"}}},
		{name: "second argument falls back", in: m("2:1", "t") + `("Sign In",1)`, want: `t("Sign In",1)`,
			fallbacks: []Fallback{{Line: 2, Col: 1, Reason: "its argument is no longer a single string literal"}}},
		{name: "complex callee falls back as a sequence", in: m("2:1", "(0,r.default)") + `(v)`, want: `("2:1",(0,r.default))(v)`,
			fallbacks: []Fallback{{Line: 2, Col: 1, Reason: "its argument is no longer a single string literal"}}},
		{name: "marked calls inside a fallback are translated", in: m("1:1", "t") + `(` + m("1:5", "t") + `("Sign In")+x)`, want: `t("Connexion"+x)`,
			fallbacks: []Fallback{{Line: 1, Col: 1, Reason: "its argument is no longer a single string literal"}}},
		{name: "no call after the marker", in: `x=` + m("1:1", "t") + `;y=` + e + `("Sign In")`, want: `x=t;y="Connexion"`,
			fallbacks: []Fallback{{Line: 1, Col: 1, Off: 2, Reason: "its argument is no longer a single string literal"}}},
		{name: "cut input", in: `x=` + e + `("Sign In");__scd_t("9:9",t`, want: `x="Connexion";("9:9",t`,
			fallbacks: []Fallback{{Line: 9, Col: 9, Off: 30, Reason: "the marked call is not whole"}}},

		// Not markers: left alone.
		{name: "member call kept", in: `a.` + e + `("Sign In")`},
		{name: "the source's own function", in: `__scd_t("Sign In")`},
		{name: "in string kept", in: `"` + e + `('Sign In')"`},
		{name: "in comment kept", in: `/*` + e + `('Sign In')*/`},
		{name: "in regex kept", in: `x=/__scd_t\("1:1",e\)\('Sign In'\)/`},
		{name: "no marker", in: `var a = $t("Sign In")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing, fallbacks := TranslateJS([]byte(tt.in), fr)
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if string(got) != want {
				t.Errorf("TranslateJS(%q)\n got %q\nwant %q", tt.in, got, want)
			}
			if !slices.Equal(missing, tt.missing) {
				t.Errorf("missing = %q, want %q", missing, tt.missing)
			}
			if !slices.Equal(fallbacks, tt.fallbacks) {
				t.Errorf("fallbacks = %+v, want %+v", fallbacks, tt.fallbacks)
			}
		})
	}
}

func TestTranslateJSUnchangedIsSameSlice(t *testing.T) {
	src := []byte(`var s="__scd_t('x')";`)
	got, missing, fallbacks := TranslateJS(src, fr)
	if &got[0] != &src[0] || missing != nil || fallbacks != nil {
		t.Fatal("TranslateJS must return its input when nothing is replaced")
	}
}

func TestMarkThenTranslate(t *testing.T) {
	src := `define(['mage/translate'], function ($t) {
    // $t('comment')
    var re = /\$t\('x'\)/, s = "$t('string')";
    return [$t('Add to Cart'), $t("Sign In"), this.$t('member'), $t('Unknown'), $.mage.__('Sign In')];
});`
	marked, ok := MarkJS([]byte(src))
	if !ok {
		t.Fatal("nothing marked")
	}
	got, missing, fallbacks := TranslateJS(marked, fr)
	want := `define(['mage/translate'], function ($t) {
    // $t('comment')
    var re = /\$t\('x'\)/, s = "$t('string')";
    return ["Ajouter au panier", "Connexion", this.$t('member'), "Unknown", "Connexion"];
});`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !slices.Equal(missing, []string{"Unknown"}) || fallbacks != nil {
		t.Fatalf("missing = %q, fallbacks %v", missing, fallbacks)
	}
}

func TestUnquoteJS(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  string
		exact bool
	}{
		{"plain", `'abc'`, "abc", true},
		{"double", `"abc"`, "abc", true},
		{"empty", `""`, "", true},
		{"simple escapes", `"\b\f\n\r\t\v\0"`, "\b\f\n\r\t\v\x00", true},
		{"quotes and backslash", `'\'\"\\'`, `'"\`, true},
		{"identity escape", `"\q\$"`, "q$", true},
		{"hex", `"\x41\xe9"`, "Aé", true},
		{"unicode", `"\u0041\u00E9\u20ac"`, "Aé€", true},
		{"code point", `"\u{1F600}\u{41}"`, "😀A", true},
		{"surrogate pair", `"\uD83D\uDE00"`, "😀", true},
		{"surrogate pair braces", `"\u{D83D}\u{DE00}"`, "😀", true},
		{"lone high surrogate", `"\uD83Dx"`, "\uFFFDx", false},
		{"lone low surrogate", `"\uDE00"`, "\uFFFD", false},
		{"line continuation LF", "'a\\\nb'", "ab", true},
		{"line continuation CRLF", "'a\\\r\nb'", "ab", true},
		{"line continuation CR", "'a\\\rb'", "ab", true},
		{"line continuation U+2028", "'a\\\u2028b'", "ab", true},
		{"raw U+2028", "'a\u2028b'", "a\u2028b", true},
		{"legacy octal", `"\101\7\08"`, "A\a\x008", true},
		{"octal 3 digits max", `"\1011"`, "A1", true},
		{"octal 4 two digits", `"\477"`, "'7", true},
		{"eight nine", `"\8\9"`, "89", true},
		{"bad hex", `"\x4"`, "\uFFFD4", false},
		{"bad unicode", `"\u12"`, "\uFFFD12", false},
		{"too big code point", `"\u{110000}"`, "\uFFFD{110000}", false},
		{"utf8 raw", `"héllo"`, "héllo", true},
		{"invalid utf8", "\"\xff\"", "\uFFFD", false},
		{"template", "`a\nb`", "a\nb", true},
		{"template CRLF", "`a\r\nb\rc`", "a\nb\nc", true},
		{"template escapes", "`\\`\\${x}\\n`", "`${x}\n", true},
		{"template octal is invalid", "`\\1`", "\x01", false},
		{"template NUL", "`\\0`", "\x00", true},
		{"unquoted", `abc`, "", false},
		{"mismatched", `'abc"`, "", false},
		{"short", `'`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, exact := unquoteJS([]byte(tt.in))
			if got != tt.want || exact != tt.exact {
				t.Fatalf("unquoteJS(%q) = %q, %v; want %q, %v", tt.in, got, exact, tt.want, tt.exact)
			}
		})
	}
}

func TestAppendQuotedJS(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"empty", "", `""`},
		{"quote backslash", `a"b\c'd`, `"a\"b\\c'd"`},
		{"controls", "\x00\x01\n\r\t\b\f\v\x1f\x7f", `"\x00\x01\n\r\t\b\f\v\x1f\x7f"`},
		{"line separators", "\u2028\u2029", `"\u2028\u2029"`},
		{"script end", "</script></Script >", `"<\/script><\/Script >"`},
		{"other end tag", "</div><", `"</div><"`},
		{"comment open", "<!--x", `"\x3C!--x"`},
		{"unicode kept", "é€😀", `"é€😀"`},
		{"invalid utf8", "a\xffb", "\"a\uFFFDb\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendQuotedJS(nil, tt.in)); got != tt.want {
				t.Fatalf("appendQuotedJS(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestTranslateJSUnderNode runs translated JS under node, as a user would:
// every translated literal must evaluate to exactly the translation, and
// every source literal must decode to what node reads from it.
func TestTranslateJSUnderNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	translations := []string{
		"plain",
		`quotes " ' ` + "`" + ` and \ backslash \\`,
		"new\nline\r\ncrlf\ttab\x00nul\x1bescape\x7f",
		"line\u2028separator\u2029paragraph",
		"</script><script>alert(1)</script></SCRIPT",
		"<!-- comment -->",
		"unicode é € 😀 \uFEFF bom",
		"${not} a template",
		"",
	}
	sources := []string{
		`'It\'s'`, `"a\"b"`, `"\x41\u0042\u{43}\u{1F600}"`, `"\uD83D\uDE00"`, "'a\\\nb'", "'\\101\\0'",
		"`tpl\\`\\${1}`", "`a\r\nb`", `"\q\8"`, `"é\u2028"`,
	}
	var js strings.Builder
	js.WriteString("const out = [];\n")
	for i := range translations {
		js.WriteString("out.push(" + m("1:1", "f") + "(\"k" + string(rune('a'+i)) + "\"));\n")
	}
	for _, s := range sources {
		js.WriteString("out.push(" + s + ");\n")
	}
	js.WriteString("process.stdout.write(JSON.stringify(out));\n")
	tr := func(p string) (string, bool) {
		if len(p) == 2 && p[0] == 'k' {
			return translations[p[1]-'a'], true
		}
		return "", false
	}
	out, missing, _ := TranslateJS([]byte(js.String()), tr)
	if len(missing) > 0 {
		t.Fatalf("missing %q", missing)
	}
	if bytes.Contains(bytes.ToLower(out), []byte("</script")) {
		t.Fatalf("output contains </script:\n%s", out)
	}
	cmd := exec.Command(node, "-e", string(out))
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("decoding node output %q: %v", res, err)
	}
	var want []string
	for _, s := range translations {
		want = append(want, s)
	}
	for _, s := range sources {
		v, exact := unquoteJS([]byte(s))
		if !exact {
			t.Fatalf("unquoteJS(%q) not exact", s)
		}
		want = append(want, v)
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("value %d: node %q, want %q", i, got[i], want[i])
			}
		}
		t.Fatalf("node gave %d values, want %d", len(got), len(want))
	}
}

func TestJSPhrases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "t calls", in: `$t('b'); $t("a"); $t('a')`, want: []string{"a", "b"}},
		{name: "member $t counts", in: `this.$t('member')`, want: []string{"member"}},
		{name: "mage dunder", in: `$.mage.__('One'); jQuery.mage.__("Two"); x.mage.__('no'); $.mage.__(v); a.$.mage.__('no')`, want: []string{"One", "Two"}},
		{name: "nested", in: `$t($t('In'))`, want: []string{"In"}},
		{name: "i18n property", in: `var c = {i18n: 'Label', 'i18n': "Quoted", x: {i18n:'Nested'}, y: a ? i18n : 'no'}`, want: []string{"Label", "Nested", "Quoted"}},
		{name: "escapes decoded", in: `$t('It\'s')`, want: []string{"It's"}},
		{name: "not in strings comments regexes", in: "'$t(\"a\")'; // $t('b')\n/* i18n: 'c' */ /$t('d')/", want: nil},
		{name: "template literal with substitution ignored", in: "$t(`a${b}`)", want: nil},
		{name: "empty phrase ignored", in: `$t('')`, want: nil},
		{name: "minified", in: `{i18n:"A"},$t("B"),e("C")`, want: []string{"A", "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JSPhrases([]byte(tt.in)); !slices.Equal(got, tt.want) {
				t.Fatalf("JSPhrases = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScannerRegexDecisions(t *testing.T) {
	// Each source has exactly one `$t('x')` that is code; everything else
	// hides a `$t('x')` inside a regex literal.
	tests := []struct{ name, src string }{
		{"after =", `a = /$t('x')/; $t('x')`},
		{"after (", `f(/$t('x')/); $t('x')`},
		{"after ,", `f(a, /$t('x')/); $t('x')`},
		{"after return", `function f(){ return /$t('x')/ } $t('x')`},
		{"after typeof", `typeof /$t('x')/; $t('x')`},
		{"after while head", `while (a) /$t('x')/.exec(b); $t('x')`},
		{"after for head", `for (;;) /$t('x')/.exec(b); $t('x')`},
		{"after else", `if (a) b; else /$t('x')/.exec(c); $t('x')`},
		{"after }", "function a(){}\n/$t('x')/.exec(b); $t('x')"},
		{"after &&", `a && /$t('x')/.test(b); $t('x')`},
		{"after ?", `a ? /$t('x')/ : 0; $t('x')`},
		{"after ${", "`${/$t('x')/.source}`; $t('x')"},
		{"division chain", `a / b / $t('x')`},
		{"division after )", `(a) / 2 / $t('x')`},
		{"division after ]", `a[1] / 2 / $t('x')`},
		{"division after number", `1 / 2 / $t('x')`},
		{"division after this", `this / 2 / $t('x')`},
		{"division after postfix", `a++ / 2 / $t('x')`},
		{"division after template", "`a` / 2 / $t('x')"},
		{"divide-assign", `a /= 2; b = $t('x')`},
		{"regex /= start", `a = /=$t('x')/; $t('x')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := MarkJS([]byte(tt.src))
			if n := strings.Count(string(got), ",$t)('x')"); n != 1 {
				t.Fatalf("MarkJS(%q) = %q: %d calls marked, want 1", tt.src, got, n)
			}
		})
	}
}
