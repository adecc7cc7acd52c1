package i18n

import (
	"bytes"
	"encoding/csv"
	"errors"
	"testing"

	"github.com/scdtool/scd/diag"
)

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n", "\"a\",\"b\"\r\n", "\uFEFFa,b", "a,b,module,A_B\n", "a\n", "\"a", "a\"b,c", "\"a\"\"b\",c\n\n",
		"a,b,c,d,e", ",b", "a,b,theme,x", "20,20,,", `"a \"b\"",c`, `"a\\",b`, "\"a\\\n\",b\r\n", ` "a",b`, "\"a\" ,b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, warnings, err := ParseCSV("f.csv", data, ParseOptions{})
		located := func(err error) {
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *diag.Error", err, err)
			}
			if de.Line < 1 || de.Col < 1 || de.File != "f.csv" || de.Kind != diag.Build {
				t.Fatalf("bad location in %#v", de)
			}
			_ = de.Detail()
		}
		for _, w := range warnings {
			located(w)
		}
		ds, _, errScoped := ParseCSV("f.csv", data, ParseOptions{ModuleScope: true})
		if (err == nil) != (errScoped == nil) {
			t.Fatalf("module scoping changed the error: %v, %v", err, errScoped)
		}
		if err != nil {
			if d != nil {
				t.Fatal("a dictionary with an error")
			}
			located(err)
			return
		}
		// Every phrase of the scoped dictionary is one of the plain one.
		if ds.Len() < d.Len() {
			t.Fatalf("scoped Len %d < Len %d", ds.Len(), d.Len())
		}
		_ = d.Digest()
		// (A doubled quote left in a field is made one by merging.)
		if m := MergeAll(d, d); !bytes.Contains(data, []byte(`""`)) && (m.Digest() != d.Digest() || m.Len() != d.Len()) {
			t.Fatal("merging a dictionary with itself changed it")
		}
		// Where encoding/csv reads the input (strictly, and no backslash or
		// carriage return to read differently), the phrases are its rows'.
		if bytes.ContainsAny(data, "\\\r") || bytes.HasPrefix(data, utf8BOM) {
			return
		}
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		rows, cerr := r.ReadAll()
		if cerr != nil {
			return
		}
		want := map[string]string{}
		for _, row := range rows {
			if len(row) >= 2 {
				want[row[0]] = row[1]
			}
		}
		if len(want) != d.Len() {
			t.Fatalf("%d phrases, encoding/csv reads %d", d.Len(), len(want))
		}
		for k, v := range want {
			if got, ok := d.Lookup(k, ""); !ok || got != v {
				t.Fatalf("Lookup(%q) = %q, %v; encoding/csv reads %q", k, got, ok, v)
			}
		}
	})
}

func FuzzMarkTranslate(f *testing.F) {
	for _, s := range []string{
		`$t('x')`, `define(['mage/translate'],function($t){return $t("a\nb")})`, "`${$t('x')}`", `a/$t('x')/b`,
		`/$t('x')/`, `__scd_t("\uD800")`, `x.$t('y')`, `$t('a',)`, "$t(`t`)", `'unterminated`, "/* unterminated", `$t("\u{1F600}")`,
		`if(a)/x/.test($t('y'))`, "a\n--> $t('x')", `<!-- $t('x')`, `c?$t('a'):$t("b")`, `$t($t('x'))`, `$.mage.__('x')`,
		`jQuery . mage . __ ( "x" , )`, `new $t('x')`, `__scd_t("1:1",t)(c?"a":"b")`, `__scd_t("1:1",(0,a.b))(x)`, `__scd_t("1:1",t`,
	} {
		f.Add([]byte(s))
	}
	tr := func(p string) (string, bool) {
		if len(p)%2 == 0 {
			return p + "</script>\u2028\"", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		orig := bytes.Clone(src)
		marked, ok := MarkJS(src)
		if !bytes.Equal(src, orig) {
			t.Fatal("MarkJS modified its input")
		}
		if !ok && !bytes.Equal(marked, src) {
			t.Fatal("MarkJS changed input but reported false")
		}
		if !bytes.Contains(src, []byte(Marker)) {
			// Unwrapping every marked call, as the fallback does, gives
			// the source back: MarkJS inserts and changes nothing else.
			if back := unmark(marked); !bytes.Equal(back, src) {
				t.Fatalf("unmarking does not give the source back:\n%q\n%q\n%q", src, marked, back)
			}
		}
		out, _, fallbacks := TranslateJS(marked, tr)
		if !bytes.Contains(src, []byte("$t")) && !bytes.Contains(src, []byte("__")) && !bytes.Equal(out, src) {
			t.Fatalf("input without $t, __ or %s changed:\n%q\n%q", Marker, src, out)
		}
		if ok && !bytes.Contains(src, []byte(Marker)) && len(fallbacks) > 0 {
			t.Fatalf("calls MarkJS marked fell back: %v\n%q\n%q", fallbacks, src, marked)
		}
		_ = JSPhrases(src)
		_ = HTMLPhrases(src)
	})
}

func FuzzScanTemplate(f *testing.F) {
	for _, s := range []string{
		`{{t "a"}}`, `{{asset 'b'}}`, `{{t}}`, `{{t "a`, `{{t "a"`, `{{ ko }}`, `{{foo "x"}}`, `{{t "a" "b"}}`,
		"{{t \"a\nb\"}}", `<span translate="'x'" data-bind="i18n: 'y'">`, `{{t 'a\'b'}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		tags, err := ScanTemplate("t.html", src)
		if err != nil {
			var de *diag.Error
			if !errors.As(err, &de) || de.Line < 1 || de.Col < 1 || de.File != "t.html" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		last := 0
		for _, tag := range tags {
			if tag.Off < last || tag.End <= tag.Off || tag.End > len(src) ||
				!bytes.HasPrefix(src[tag.Off:], []byte("{{")) || !bytes.HasSuffix(src[:tag.End], []byte("}}")) {
				t.Fatalf("bad tag %+v", tag)
			}
			last = tag.End
		}
		out, err := RenderTemplate(src, tags, func(s string) string { return s }, func(s string) (string, error) { return s, nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) == 0 && !bytes.Equal(out, src) {
			t.Fatal("rendering without tags changed the template")
		}
	})
}
