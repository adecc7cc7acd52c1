package i18n

import (
	"bytes"
	"errors"
	"testing"

	"github.com/scdtool/scd/diag"
)

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n", "\"a\",\"b\"\r\n", "\uFEFFa,b", "a,b,module,A_B\n", "a\n", "\"a", "a\"b,c", "\"a\"\"b\",c\n\n",
		"a,b,c,d,e", ",b", "a,b,theme,x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseCSV("f.csv", data)
		if err != nil {
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *diag.Error", err, err)
			}
			if de.Line < 1 || de.Col < 1 || de.File != "f.csv" || de.Kind != diag.Build {
				t.Fatalf("bad location in %#v", de)
			}
			_ = de.Detail()
			return
		}
		_ = d.Digest()
		if m := Merge(d, d); m.Digest() != d.Digest() || m.Len() != d.Len() {
			t.Fatal("merging a dictionary with itself changed it")
		}
	})
}

func FuzzMarkTranslate(f *testing.F) {
	for _, s := range []string{
		`$t('x')`, `define(['mage/translate'],function($t){return $t("a\nb")})`, "`${$t('x')}`", `a/$t('x')/b`,
		`/$t('x')/`, `__scd_t("\uD800")`, `x.$t('y')`, `$t('a',)`, "$t(`t`)", `'unterminated`, "/* unterminated", `$t("\u{1F600}")`,
		`if(a)/x/.test($t('y'))`, "a\n--> $t('x')", `<!-- $t('x')`,
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
		if !bytes.Contains(src, []byte(Marker)) && !bytes.Equal(bytes.ReplaceAll(marked, []byte(Marker), []byte("$t")), src) {
			t.Fatalf("MarkJS changed more than callee names:\n%q\n%q", src, marked)
		}
		out, _ := TranslateJS(marked, tr)
		if !bytes.Contains(src, []byte("$t")) && !bytes.Contains(src, []byte(Marker)) && !bytes.Equal(out, src) {
			t.Fatalf("input without $t or %s changed:\n%q\n%q", Marker, src, out)
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
