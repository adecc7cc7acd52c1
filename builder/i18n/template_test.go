package i18n

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/scdtool/scd/diag"
)

func TestScanTemplate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Tag
	}{
		{name: "t double quotes", in: `<b>{{t "Hello"}}</b>`, want: []Tag{{Kind: "t", Arg: "Hello", Off: 3, End: 16}}},
		{name: "t single quotes", in: `{{t 'It\'s'}}`, want: []Tag{{Kind: "t", Arg: "It's", Off: 0, End: 13}}},
		{name: "spaces inside", in: "{{  t\t\"a\"  }}", want: []Tag{{Kind: "t", Arg: "a", Off: 0, End: 13}}},
		{name: "no space before quote", in: `{{t"a"}}`, want: []Tag{{Kind: "t", Arg: "a", Off: 0, End: 8}}},
		{name: "asset", in: `<link href="{{asset "css/styles.css"}}">`, want: []Tag{{Kind: "asset", Arg: "css/styles.css", Off: 12, End: 38}}},
		{name: "several", in: `{{t "a"}}{{asset 'b'}}{{t "c"}}`, want: []Tag{
			{Kind: "t", Arg: "a", Off: 0, End: 9}, {Kind: "asset", Arg: "b", Off: 9, End: 22}, {Kind: "t", Arg: "c", Off: 22, End: 31}}},
		{name: "braces in argument", in: `{{t "a {{b}} c"}}`, want: []Tag{{Kind: "t", Arg: "a {{b}} c", Off: 0, End: 17}}},
		{name: "knockout text binding is not ours", in: `<span>{{ ko.observable }}</span>`},
		{name: "handlebars helper is not ours", in: `{{foo "x"}} {{#if a}}{{/if}} {{title}} {{ translate }}`},
		{name: "t as a prefix is not ours", in: `{{t.x}} {{tx "a"}} {{asset2 "a"}} {{t(x)}}`},
		{name: "single brace", in: `{t "x"} {{`},
		{name: "unicode", in: `{{t "Café ☕"}}`, want: []Tag{{Kind: "t", Arg: "Café ☕", Off: 0, End: 17}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ScanTemplate("x.html", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ScanTemplate(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			for _, tag := range got {
				if tt.in[tag.Off:tag.Off+2] != "{{" || tt.in[tag.End-2:tag.End] != "}}" {
					t.Fatalf("tag range %d..%d is not a {{…}}", tag.Off, tag.End)
				}
			}
		})
	}
}

func TestScanTemplateErrors(t *testing.T) {
	tests := []struct {
		name, in, want, source string
	}{
		{"no argument", "<p>\n  {{t}}</p>", `template/a.html:2:3: {{t}} needs a quoted argument, as in {{t "…"}}`, "  {{t}}</p>"},
		{"no argument with space", `{{asset }}`, `template/a.html:1:1: {{asset}} needs a quoted argument, as in {{asset "…"}}`, `{{asset }}`},
		{"unquoted argument", `x {{t Hello}}`, `template/a.html:1:3: the argument of {{t}} must be a quoted string`, `x {{t Hello}}`},
		{"unterminated string", "{{t \"Hello}}\n", `template/a.html:1:1: unterminated string in {{t}}`, `{{t "Hello}}`},
		{"unterminated string at end", `{{t 'Hello`, `template/a.html:1:1: unterminated string in {{t}}`, `{{t 'Hello`},
		{"unterminated tag", "a\nb {{t \"Hello\"", `template/a.html:2:3: unterminated {{t}} tag: missing "}}"`, `b {{t "Hello"`},
		{"unterminated tag at end", "{{asset", `template/a.html:1:1: unterminated {{asset}} tag: missing quoted argument and "}}"`, "{{asset"},
		{"two arguments", `{{t "a" "b"}}`, `template/a.html:1:1: {{t}} takes exactly one quoted argument`, `{{t "a" "b"}}`},
		{"empty argument", `{{asset ""}}`, `template/a.html:1:1: empty argument in {{asset}}`, `{{asset ""}}`},
		{"first error wins", `{{t}} {{asset}}`, `template/a.html:1:1: {{t}} needs a quoted argument, as in {{t "…"}}`, `{{t}} {{asset}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tags, err := ScanTemplate("template/a.html", []byte(tt.in))
			if err == nil {
				t.Fatalf("ScanTemplate(%q) = %+v, want an error", tt.in, tags)
			}
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *diag.Error", err)
			}
			if de.Kind != diag.Build {
				t.Errorf("kind = %v, want Build", de.Kind)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if de.Source != tt.source {
				t.Errorf("source = %q, want %q", de.Source, tt.source)
			}
		})
	}
}

func TestRenderTemplate(t *testing.T) {
	tr := map[string]string{
		"Hello":  "Bonjour",
		"Quotes": `<b>"l'été" & co</b>`,
	}
	urls := map[string]string{
		"css/a.css": "/static/css/a.3fa9c2d1.css",
		"odd":       `x" onload="alert(1)&`,
	}
	tests := []struct {
		name, in, want, err string
	}{
		{name: "translation", in: `<p>{{t "Hello"}}</p>`, want: `<p>Bonjour</p>`},
		{name: "html escaped", in: `<p title="{{t 'Quotes'}}">{{t "Quotes"}}</p>`,
			want: `<p title="&lt;b&gt;&#34;l&#39;été&#34; &amp; co&lt;/b&gt;">&lt;b&gt;&#34;l&#39;été&#34; &amp; co&lt;/b&gt;</p>`},
		{name: "untranslated passes through escaped", in: `{{t "a<b"}}`, want: `a&lt;b`},
		{name: "asset", in: `<link href="{{asset "css/a.css"}}">`, want: `<link href="/static/css/a.3fa9c2d1.css">`},
		{name: "asset attribute escaped", in: `<img src="{{asset 'odd'}}">`, want: `<img src="x&#34; onload=&#34;alert(1)&amp;">`},
		{name: "others untouched", in: `{{ ko }} {{t "Hello"}} {{foo "x"}}`, want: `{{ ko }} Bonjour {{foo "x"}}`},
		{name: "asset error returned as is", in: `{{asset "missing.css"}}`, err: "tmpl.html:1:1: unresolved asset missing.css"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.in)
			tags, err := ScanTemplate("tmpl.html", src)
			if err != nil {
				t.Fatal(err)
			}
			var assetErr error
			got, err := RenderTemplate(src, tags,
				func(p string) string {
					if v, ok := tr[p]; ok {
						return v
					}
					return p
				},
				func(p string) (string, error) {
					if u, ok := urls[p]; ok {
						return u, nil
					}
					assetErr = diag.Buildf("tmpl.html", 1, 1, "unresolved asset %s", p)
					return "", assetErr
				})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || err != assetErr {
					t.Fatalf("err = %v, want the asset function's error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("RenderTemplate\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRenderTemplateBadTags(t *testing.T) {
	src := []byte("abc")
	for i, tags := range [][]Tag{
		{{Kind: "t", Off: 2, End: 10}},
		{{Kind: "t", Off: 2, End: 3}, {Kind: "t", Off: 1, End: 2}},
		{{Kind: "x", Off: 0, End: 1}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if _, err := RenderTemplate(src, tags, func(s string) string { return s }, func(s string) (string, error) { return s, nil }); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestHTMLPhrases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "t tags are build-time only", in: `<p>{{t "B"}}{{t 'A'}}{{t "B"}}</p>`},
		{name: "t tag and translate attribute", in: `<p>{{t "B"}}<span translate="'B'"></span></p>`, want: []string{"B"}},
		{name: "asset tags ignored", in: `{{asset "a.css"}}`},
		{name: "translate attribute", in: `<span translate="'Sign In'"></span><span translate='"Other"'/>`, want: []string{"Other", "Sign In"}},
		{name: "translate attribute entities", in: `<span translate="'Tom &amp; Jerry'"></span><span translate="&quot;Q&quot;"></span>`, want: []string{"Q", "Tom & Jerry"}},
		{name: "translate attribute not a literal", in: `<span translate="label"></span><span translate="'a' + b"></span>`},
		{name: "translate element args", in: `<translate args="'Shipping'"/>`, want: []string{"Shipping"}},
		{name: "data-bind i18n", in: `<span data-bind="i18n: 'Hello'"></span><a data-bind="attr: {title: $t('Title')}, text: $t(&quot;Text&quot;)"></a>`, want: []string{"Hello", "Text", "Title"}},
		{name: "data-bind other bindings ignored", in: `<span data-bind="text: title, css: {a: 'b'}"></span>`},
		{name: "ko comment", in: `<!-- ko i18n: 'Virtual' --><!-- /ko --><!-- not ko i18n: 'no' -->`, want: []string{"Virtual"}},
		{name: "upper-case attribute", in: `<SPAN TRANSLATE="'Up'"></SPAN>`, want: []string{"Up"}},
		{name: "script text not read", in: `<script>var a = "$t('x')";</script>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.in)
			orig := string(src)
			if got := HTMLPhrases(src); !slices.Equal(got, tt.want) {
				t.Fatalf("HTMLPhrases = %q, want %q", got, tt.want)
			}
			if string(src) != orig {
				t.Fatal("HTMLPhrases modified its input")
			}
		})
	}
}
