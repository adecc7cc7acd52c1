package matrix

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseECE(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]ECETheme // compared without positions
	}{
		{name: "empty", src: "", want: map[string]ECETheme{}},
		{name: "blank", src: "  \n", want: map[string]ECETheme{}},
		{name: "json null", src: "null", want: map[string]ECETheme{}},
		{
			name: "json, ece-tools example",
			src:  `{"Acme/shop": {"language": ["en_US","fr_FR"]}, "Acme/base": []}`,
			want: map[string]ECETheme{
				"Acme/shop": {Languages: []string{"en_US", "fr_FR"}},
				"Acme/base": {Skip: true},
			},
		},
		{
			name: "json with tabs",
			src:  "{\n\t\"acme/SHOP\": {\n\t\t\"language\": [\"zh_Hans_CN\"]\n\t}\n}",
			want: map[string]ECETheme{"acme/SHOP": {Languages: []string{"zh_Hans_CN"}}},
		},
		{
			name: "yaml, every way to skip",
			src: yml(
				"Acme/a: []",
				"Acme/b:",
				"Acme/c: ~",
				"Acme/d: {}",
				"Acme/e: {language: []}",
				"Acme/f:",
				"  language:",
				"Acme/g:",
				"  language: [de_DE, nl_NL]",
			),
			want: map[string]ECETheme{
				"Acme/a": {Skip: true}, "Acme/b": {Skip: true}, "Acme/c": {Skip: true},
				"Acme/d": {Skip: true}, "Acme/e": {Skip: true}, "Acme/f": {Skip: true},
				"Acme/g": {Languages: []string{"de_DE", "nl_NL"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseECE([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			plain := map[string]ECETheme{}
			for k, v := range got {
				plain[k] = ECETheme{Skip: v.Skip, Languages: v.Languages}
			}
			if !reflect.DeepEqual(plain, tt.want) {
				t.Errorf("got %#v\nwant %#v", plain, tt.want)
			}
		})
	}
}

func TestParseECEErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "syntax error",
			src:  `{"Acme/shop": {"language": ["en_US"}}`,
			want: []string{`SCD_MATRIX:1: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "not a mapping",
			src:  `["Acme/shop"]`,
			want: []string{`SCD_MATRIX:1:1: expected a mapping of theme names, got a list`},
		},
		{
			name: "a list of languages instead of a mapping",
			src:  `{"Acme/shop": ["en_US"]}`,
			want: []string{`SCD_MATRIX:1:15: Acme/shop: expected {language: [...]} or [] (do not deploy), got a list`},
		},
		{
			name: "unknown key",
			src:  yml("Acme/shop:", "  languages: [en_US]"),
			want: []string{`SCD_MATRIX:2:3: Acme/shop: unknown key "languages": expected language`},
		},
		{
			name: "language not a list",
			src:  yml("Acme/shop:", "  language: en_US"),
			want: []string{`SCD_MATRIX:2:13: Acme/shop.language: expected a list, got "en_US"`},
		},
		{
			name: "invalid locale and duplicate",
			src:  `{"Acme/shop": {"language": ["en-US", "fr_FR", "fr_FR"]}}`,
			want: []string{
				`SCD_MATRIX:1:29: invalid locale "en-US": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`SCD_MATRIX:1:47: duplicate locale "fr_FR"`,
			},
		},
		{
			name: "invalid theme name",
			src:  `{"shop": []}`,
			want: []string{`SCD_MATRIX:1:2: invalid theme name "shop": expected Vendor/name`},
		},
		{
			name: "duplicate theme, case-insensitive",
			src:  yml("Acme/shop: []", "acme/shop: []"),
			want: []string{`SCD_MATRIX:2:1: duplicate theme "acme/shop" (also given as "Acme/shop")`},
		},
		{
			name: "duplicate key",
			src:  `{"Acme/shop": [], "Acme/shop": []}`,
			want: []string{`SCD_MATRIX:1:19: duplicate key "Acme/shop"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseECE([]byte(tt.src))
			if err == nil {
				t.Fatalf("no error; got %#v", got)
			}
			if got != nil {
				t.Errorf("matrix returned with an error: %#v", got)
			}
			checkDiag(t, err, ECEFile)
			if want := strings.Join(tt.want, "\n"); err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
}

func TestECELookup(t *testing.T) {
	e, err := ParseECE([]byte(`{"Acme/Shop": []}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Acme/Shop", "acme/shop", "ACME/SHOP"} {
		if got, ok := e.Lookup(name); !ok || !got.Skip {
			t.Errorf("Lookup(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := e.Lookup("Acme/base"); ok {
		t.Error("Lookup(Acme/base) found something")
	}
}
