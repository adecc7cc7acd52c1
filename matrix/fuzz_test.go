package matrix

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scdtool/scd/diag"
)

// checkFuzzErr fails unless err is nil or made only of configuration
// *diag.Error values for file.
func checkFuzzErr(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if !errors.As(e, &de) || de.Kind != diag.Config || de.File != file || de.Line < 0 || de.Col < 0 {
			t.Fatalf("error %q (%T) is not a configuration *diag.Error for %s", e, e, file)
		}
		if de.Msg == "" {
			t.Fatalf("error without a message: %#v", de)
		}
	}
}

func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	for _, d := range []string{"frontend/Acme/base", "frontend/Acme/shop", "adminhtml/Acme/backend", "lib/web"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	seeds := []string{
		"",
		"themes: [{name: Acme/base}]",
		yml(digestBase...),
		yml("themes:", "  - name: Acme/base", "    locales: [en_US, zh_Hans_CN]",
			"  - name: Acme/shop", "    parent: acme/base", "    entries: []",
			"  - {name: Acme/backend, area: adminhtml}", "exclude_themes: [Acme/base]"),
		yml("themes:", "  - &b {name: Acme/a, parent: Acme/b}", "  - <<: *b", "    name: Acme/b"),
		yml("themes: &t [{name: Acme/base, locales: *t, <<: *t}]"),
		yml("themes: [{name: Acme/base, path: ../../etc}]", "threads: -1", "compression: [zip]"),
		yml("compression_levels: {gzip: 99999999999999999999999}", "themes: []"),
		"themes:\n  - name: [Acme/base\n",
		"---\na: 1\n---\nb: 2\n",
		"\ufeffthemes: [{name: Acme/base, locales: ['ü']}]",
		"? [a]\n: b\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("themes.yml", dir, data)
		checkFuzzErr(t, err, "themes.yml")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		// A valid config must expand without panicking and digest
		// stably.
		_, _ = c.Jobs(Filter{})
		if c.Digest() != c.Digest() {
			t.Fatal("digest not stable")
		}
	})
}

func FuzzParseECE(f *testing.F) {
	seeds := []string{
		"",
		"null",
		`{"Acme/shop": {"language": ["en_US","fr_FR"]}, "Acme/base": []}`,
		"{\n\t\"acme/SHOP\": {\"language\": []}\n}",
		yml("Acme/a:", "Acme/b: {}", "Acme/c:", "  language: [de_DE]"),
		`{"Acme/shop": {"language": ["en_US"}}`,
		`["Acme/shop"]`,
		"a: &x {language: *x}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseECE(data)
		checkFuzzErr(t, err, ECEFile)
		if err != nil && e != nil {
			t.Fatal("matrix returned with an error")
		}
		for name, th := range e {
			if !ValidThemeName(name) {
				t.Fatalf("invalid name %q accepted", name)
			}
			if th.Skip != (len(th.Languages) == 0) {
				t.Fatalf("%s: skip %v with languages %v", name, th.Skip, th.Languages)
			}
			for _, l := range th.Languages {
				if !ValidLocale(l) {
					t.Fatalf("%s: invalid locale %q accepted", name, l)
				}
			}
		}
	})
}
