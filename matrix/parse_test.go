package matrix

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
)

// stdDirs is the source tree most tests run against.
var stdDirs = []string{
	"frontend/Acme/base",
	"frontend/Acme/shop",
	"adminhtml/Acme/backend",
	"lib/web",
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		dirs []string // extra directories besides stdDirs
		src  string
		want []string // the joined error, one line each; $DIR is the project root
	}{
		{
			name: "unknown top-level key",
			src:  yml("locals: [en_US]", "themes:", "  - name: Acme/base"),
			want: []string{`themes.yml:1:1: unknown key "locals"`},
		},
		{
			name: "unknown key in a theme",
			src: yml(
				"themes:",
				"  - name: Acme/base",
				"  - name: Acme/shop",
				"    parent: Acme/base",
				"    area: frontend",
				"    path: frontend/Acme/shop",
				"    locals: [fr_FR]",
			),
			want: []string{`themes.yml:7:5: unknown key "locals"`},
		},
		{
			name: "duplicate key",
			src:  yml("threads: 2", "threads: 4", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:2:1: duplicate key "threads"`},
		},
		{
			name: "threads not an integer",
			src:  yml("threads: many", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: threads: expected an integer, got "many"`},
		},
		{
			name: "threads quoted",
			src:  yml(`threads: "8"`, "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: threads: expected an integer, got "8"`},
		},
		{
			name: "threads negative",
			src:  yml("threads: -1", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: threads: must not be negative, got -1`},
		},
		{
			name: "threads a list",
			src:  yml("threads: [1]", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: threads: expected an integer, got a list`},
		},
		{
			name: "locales not a list",
			src:  yml("locales: en_US", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: locales: expected a list, got "en_US"`},
		},
		{
			name: "locales empty",
			src:  yml("locales: []", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:10: locales: must not be empty`},
		},
		{
			name: "source not a string",
			src:  yml("source: {a: b}", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:9: source: expected a string, got a mapping`},
		},
		{
			name: "asset_base null",
			src:  yml("asset_base:", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:12: asset_base: expected a string, got null`},
		},
		{
			name: "locale element not a string",
			src:  yml("locales: [en_US, [fr_FR]]", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:18: locales: expected a string, got a list`},
		},
		{
			name: "duplicate theme name differing in case",
			src: yml(
				"themes:",
				"  - name: Acme/base",
				"  - name: acme/BASE",
			),
			want: []string{`themes.yml:3:11: duplicate theme "acme/BASE" (first defined at line 2)`},
		},
		{
			name: "unknown parent",
			src: yml(
				"themes:",
				"  - name: Acme/shop",
				"    parent: Acme/bsae",
			),
			want: []string{`themes.yml:3:13: unknown parent "Acme/bsae"`},
		},
		{
			name: "parent cycle",
			dirs: []string{"frontend/Acme/a", "frontend/Acme/b", "frontend/Acme/c"},
			src: yml(
				"themes:",
				"  - name: Acme/c",
				"    parent: Acme/b",
				"  - name: Acme/a",
				"    parent: Acme/b",
				"  - name: Acme/b",
				"    parent: Acme/a",
			),
			want: []string{`themes.yml:5:13: parent cycle: Acme/a -> Acme/b -> Acme/a`},
		},
		{
			name: "parent cycle of three, matched case-insensitively",
			dirs: []string{"frontend/Acme/a", "frontend/Acme/b", "frontend/Acme/c"},
			src: yml(
				"themes:",
				"  - {name: Acme/a, parent: acme/c}",
				"  - {name: Acme/b, parent: ACME/A}",
				"  - {name: Acme/c, parent: Acme/b}",
			),
			want: []string{`themes.yml:2:28: parent cycle: Acme/a -> Acme/c -> Acme/b -> Acme/a`},
		},
		{
			name: "theme is its own parent",
			src:  yml("themes:", "  - name: Acme/base", "    parent: Acme/base"),
			want: []string{`themes.yml:3:13: parent cycle: Acme/base -> Acme/base`},
		},
		{
			name: "missing theme directory located at the name",
			src:  yml("themes:", "  - name: Acme/nope"),
			want: []string{`themes.yml:2:11: theme directory "frontend/Acme/nope" does not exist`},
		},
		{
			name: "missing theme directory located at the path",
			src:  yml("themes:", "  - name: Acme/base", "    path: frontend/Acme/typo"),
			want: []string{`themes.yml:3:11: theme directory "frontend/Acme/typo" does not exist`},
		},
		{
			name: "theme path is a file",
			src:  yml("themes:", "  - name: Acme/base", "    path: file.txt"),
			want: []string{`themes.yml:3:11: theme directory "file.txt" is not a directory`},
		},
		{
			name: "theme in another area defaults under that area",
			src:  yml("themes:", "  - name: Acme/base", "    area: adminhtml"),
			want: []string{`themes.yml:2:11: theme directory "adminhtml/Acme/base" does not exist`},
		},
		{
			name: "missing library directory",
			src:  yml("libs: [lib/web, lib/nope]", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:17: library directory "lib/nope" does not exist`},
		},
		{
			name: "missing source directory",
			src:  yml("source: app/design", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:9: source directory "app/design" does not exist`},
		},
		{
			name: "invalid locale codes",
			src: yml(
				"locales: [en_US, en-GB, EN_us, zh_Hans_CN, zh_hans_CN]",
				"themes:",
				"  - name: Acme/base",
				"    locales: [fr_FR, sr_Cyrl_RS, de]",
			),
			want: []string{
				`themes.yml:1:18: invalid locale "en-GB": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`themes.yml:1:25: invalid locale "EN_us": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`themes.yml:1:44: invalid locale "zh_hans_CN": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`themes.yml:4:34: invalid locale "de": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
			},
		},
		{
			name: "duplicate locale",
			src:  yml("themes:", "  - name: Acme/base", "    locales: [en_US, fr_FR, en_US]"),
			want: []string{`themes.yml:3:29: duplicate locale "en_US"`},
		},
		{
			name: "path escapes with dot-dot",
			src:  yml("source: frontend", "themes:", "  - name: Acme/base", "    path: ../adminhtml/Acme/backend"),
			want: []string{`themes.yml:4:11: path escapes the source root`},
		},
		{
			name: "absolute path outside the source",
			src:  yml("source: frontend", "themes:", "  - name: Acme/base", "    path: /etc"),
			want: []string{`themes.yml:4:11: path escapes the source root`},
		},
		{
			name: "absolute path inside the source",
			src:  yml("themes:", "  - name: Acme/base", "    path: $DIR/frontend/Acme/nope"),
			want: []string{`themes.yml:3:11: theme directory "frontend/Acme/nope" does not exist`},
		},
		{
			name: "unknown compression",
			src:  yml("compression: [gzip, zip, gzip]", "themes: [{name: Acme/base}]"),
			want: []string{
				`themes.yml:1:21: unknown compression "zip": expected gzip, br or zstd`,
				`themes.yml:1:26: duplicate compression "gzip"`,
			},
		},
		{
			name: "compression levels out of range",
			src: yml(
				"compression_levels:",
				"  gzip: 0",
				"  br: 12",
				"  zstd: 23",
				"  lz4: 1",
				"themes: [{name: Acme/base}]",
			),
			want: []string{
				`themes.yml:2:9: compression_levels.gzip: level 0 is out of range 1..9`,
				`themes.yml:3:7: compression_levels.br: level 12 is out of range 0..11`,
				`themes.yml:4:9: compression_levels.zstd: level 23 is out of range 1..22`,
				`themes.yml:5:3: compression_levels: unknown compression "lz4": expected gzip, br or zstd`,
			},
		},
		{
			name: "compression levels not a mapping",
			src:  yml("compression_levels: [6]", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:21: compression_levels: expected a mapping, got a list`},
		},
		{
			name: "negative minimum size",
			src:  yml("compression_min_size: -5", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:23: compression_min_size: must not be negative, got -5`},
		},
		{
			name: "unknown i18n strategy",
			src:  yml("i18n_strategy: runtime", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:16: invalid i18n_strategy "runtime": expected embedded or dictionary`},
		},
		{
			name: "invalid entry globs",
			src:  yml("entries: ['js/[*.js', ../x/*.js, /js/*.js, ./js/*.js, '']", "themes: [{name: Acme/base}]"),
			want: []string{
				`themes.yml:1:11: invalid entry glob "js/[*.js": syntax error in pattern`,
				`themes.yml:1:23: invalid entry glob "../x/*.js": must be a clean path relative to web/`,
				`themes.yml:1:34: invalid entry glob "/js/*.js": must be a clean path relative to web/`,
				`themes.yml:1:44: invalid entry glob "./js/*.js": must be a clean path relative to web/`,
				`themes.yml:1:55: invalid entry glob "": must be a clean path relative to web/`,
			},
		},
		{
			name: "invalid theme names and area",
			dirs: []string{"frontend/Acme"},
			src: yml(
				"themes:",
				"  - name: Acme",
				"  - name: Acme/shop/extra",
				"  - name: Acme/_shop",
				"  - name: Acme/shop",
				"    area: Frontend",
			),
			want: []string{
				`themes.yml:2:11: invalid theme name "Acme": expected Vendor/name (letters, digits, '_', '.', '-')`,
				`themes.yml:3:11: invalid theme name "Acme/shop/extra": expected Vendor/name (letters, digits, '_', '.', '-')`,
				`themes.yml:4:11: invalid theme name "Acme/_shop": expected Vendor/name (letters, digits, '_', '.', '-')`,
				`themes.yml:6:11: invalid area "Frontend": expected lowercase letters, digits and '_' (frontend, adminhtml)`,
			},
		},
		{
			name: "theme without a name",
			src:  yml("themes:", "  - name: Acme/base", "  - area: frontend"),
			want: []string{`themes.yml:3:5: theme has no name: expected name: Vendor/name`},
		},
		{
			name: "theme not a mapping",
			src:  yml("themes:", "  - Acme/base"),
			want: []string{`themes.yml:2:5: themes: expected a mapping for each theme, got "Acme/base"`},
		},
		{
			name: "themes missing",
			src:  yml("threads: 2"),
			want: []string{`themes.yml: missing required key "themes": the list of themes to build, or magento_root`},
		},
		{
			name: "themes empty",
			src:  yml("themes: []"),
			want: []string{`themes.yml:1:9: themes: the list is empty`},
		},
		{
			name: "themes not a list",
			src:  yml("themes: {name: Acme/base}"),
			want: []string{`themes.yml:1:9: themes: expected a list, got a mapping`},
		},
		{
			name: "exclude_themes names an unknown theme",
			src:  yml("themes: [{name: Acme/base}]", "exclude_themes:", "  - acme/base", "  - Acme/typo"),
			want: []string{`themes.yml:4:5: exclude_themes: unknown theme "Acme/typo"`},
		},
		{
			name: "output would contain the sources",
			src:  yml("output: .", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:9: output "." must not contain the matrix file's directory "."`},
		},
		{
			name: "output would contain a theme",
			src:  yml("output: frontend/Acme", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:9: output "frontend/Acme" must not contain the directory of theme Acme/base "frontend/Acme/base"`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{`themes.yml: matrix file is empty: expected a mapping with at least a themes: list`},
		},
		{
			name: "only comments",
			src:  yml("# nothing yet", "---"),
			want: []string{`themes.yml: matrix file is empty: expected a mapping with at least a themes: list`},
		},
		{
			name: "not a mapping",
			src:  yml("- name: Acme/base"),
			want: []string{`themes.yml:1:1: matrix file must be a mapping of settings, got a list`},
		},
		{
			name: "a scalar",
			src:  yml("hello"),
			want: []string{`themes.yml:1:1: matrix file must be a mapping of settings, got "hello"`},
		},
		{
			name: "yaml syntax error",
			src:  yml("themes:", "  - name: [Acme/base", "threads: 2"),
			want: []string{`themes.yml:2: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "yaml syntax error on the first line",
			src:  "themes: [{name: Acme/base}",
			want: []string{`themes.yml:1: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			// yaml.v3 locates this at the start of the enclosing list, not
			// at the offending line: its error text keeps only that mark.
			name: "yaml bad indentation",
			src:  yml("threads: 2", "themes:", "  - name: Acme/base", "    area: frontend", "   path: x"),
			want: []string{`themes.yml:3: invalid YAML: did not find expected '-' indicator`},
		},
		{
			name: "yaml unknown anchor",
			src:  yml("themes: *nope"),
			want: []string{`themes.yml: invalid YAML: unknown anchor 'nope' referenced`},
		},
		{
			name: "tab indentation",
			src:  yml("themes:", "\t- name: Acme/base"),
			want: []string{`themes.yml:2: invalid YAML: found character that cannot start any token`},
		},
		{
			name: "two documents",
			src:  yml("themes: [{name: Acme/base}]", "---", "threads: 2"),
			want: []string{`themes.yml:2:1: only one YAML document is allowed`},
		},
		{
			name: "every problem is reported, in file order",
			src: yml(
				"threads: many",
				"themes:",
				"  - name: Acme/shop",
				"    parent: Acme/nope",
				"    locales: [fr-FR]",
				"  - name: Acme/missing",
				"    colour: blue",
				"compresion: []",
			),
			want: []string{
				`themes.yml:1:10: threads: expected an integer, got "many"`,
				`themes.yml:4:13: unknown parent "Acme/nope"`,
				`themes.yml:5:15: invalid locale "fr-FR": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`themes.yml:6:11: theme directory "frontend/Acme/missing" does not exist`,
				`themes.yml:7:5: unknown key "colour"`,
				`themes.yml:8:1: unknown key "compresion"`,
			},
		},
		{
			name: "columns count bytes",
			src:  yml("asset_base: 'é'", "locales: ['ü', en_US]", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:2:11: invalid locale "ü": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`},
		},
		{
			name: "columns after a byte order mark",
			src:  "\ufeff" + yml("threads: x", "themes: [{name: Acme/base}]"),
			want: []string{`themes.yml:1:13: threads: expected an integer, got "x"`},
		},
		{
			name: "unknown key in a merged anchor is reported once",
			src: yml(
				"x: &common {locales: [en_US], colour: red}",
				"themes:",
				"  - {<<: *common, name: Acme/base}",
				"  - {<<: *common, name: Acme/shop}",
			),
			want: []string{
				`themes.yml:1:1: unknown key "x"`,
				`themes.yml:1:31: unknown key "colour"`,
			},
		},
		{
			name: "self-referencing anchor does not loop",
			src:  yml("themes: &t [{name: Acme/base, locales: *t}]"),
			want: []string{`themes.yml:1:13: locales: expected a string, got a mapping`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t, append(append([]string{}, stdDirs...), tt.dirs...)...)
			if err := os.WriteFile(filepath.Join(dir, "file.txt"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			src := strings.ReplaceAll(tt.src, "$DIR", filepath.ToSlash(dir))
			c, err := parseIn(t, dir, src)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned with an error")
			}
			checkDiag(t, err, "themes.yml")
			want := strings.ReplaceAll(strings.Join(tt.want, "\n"), "$DIR", dir)
			if got := err.Error(); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseErrorHasSourceLine(t *testing.T) {
	dir := tree(t, stdDirs...)
	_, err := parseIn(t, dir, yml("themes:", "  - name: Acme/base", "    locals: [fr_FR]"))
	errs := diag.Flatten(err)
	if len(errs) != 1 {
		t.Fatalf("errors: %v", err)
	}
	got := errs[0].(*diag.Error).Detail()
	want := "themes.yml:3:5: unknown key \"locals\"\n        locals: [fr_FR]\n        ^"
	if got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}
}

func TestSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	dir := tree(t, "design/frontend/Acme")
	if err := os.Symlink(outside, filepath.Join(dir, "design/frontend/Acme/base")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	inside := filepath.Join(dir, "design/adminhtml/Acme/backend")
	if err := os.MkdirAll(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(inside, filepath.Join(dir, "design/frontend/Acme/shop")); err != nil {
		t.Fatal(err)
	}
	realOutside, err := filepath.EvalSymlinks(outside)
	if err != nil {
		t.Fatal(err)
	}

	_, err = parseIn(t, dir, yml("source: design", "themes:", "  - name: Acme/base", "  - name: Acme/shop"))
	want := `themes.yml:3:11: path escapes the source root: "design/frontend/Acme/base" resolves to "` + realOutside + `"`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	checkDiag(t, err, "themes.yml")
}

func TestSymlinkedSourceIsFine(t *testing.T) {
	real := tree(t, "frontend/Acme/base")
	dir := t.TempDir()
	if err := os.Symlink(real, filepath.Join(dir, "design")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	c := mustParse(t, dir, yml("source: design", "themes: [{name: Acme/base}]"))
	if want := filepath.Join(dir, "design/frontend/Acme/base"); c.Themes[0].Path != want {
		t.Errorf("path %q, want %q", c.Themes[0].Path, want)
	}
}

func TestDefaults(t *testing.T) {
	dir := tree(t, stdDirs...)
	c := mustParse(t, dir, yml("themes:", "  - name: Acme/base"))
	want := &Config{
		File:               filepath.Join(dir, "themes.yml"),
		Dir:                dir,
		Source:             dir,
		Output:             filepath.Join(dir, "pub", "static"),
		Entries:            []string{"js/*.js", "css/*.css"},
		Locales:            []string{"en_US"},
		Compression:        []string{"gzip", "br", "zstd"},
		CompressionLevels:  map[string]int{"gzip": 6, "br": 6, "zstd": 3},
		CompressionMinSize: 256,
		I18nStrategy:       "embedded",
		SourceLocale:       "en_US",
		Names:              "hashed",
		LocalesDefault:     true,
		Themes: []*Theme{{
			Name: "Acme/base", Area: "frontend", Path: filepath.Join(dir, "frontend", "Acme", "base"),
			Line: 2, Col: 5,
		}},
	}
	c.Data = nil // the file's bytes, kept for the deploy section's messages
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n%+v\nwant:\n%+v", c, want)
	}
}

func TestFullConfig(t *testing.T) {
	dir := tree(t,
		"app/design/frontend/Acme/base",
		"app/design/frontend/Acme/shop",
		"app/design/adminhtml/Acme/backend",
		"app/design/custom/shop",
		"lib/web", "vendor/lib",
	)
	src := yml(
		"source: app/design",
		"output: build/static",
		"threads: 8",
		"libs: [lib/web, vendor/lib]",
		"entries: [js/*.js, css/*.css, 'js/[a-z]*.mjs']",
		"locales: [en_US, zh_Hans_CN]",
		"compression: [zstd, gzip]",
		"compression_levels: {zstd: 4, br: 11}",
		"compression_min_size: 0",
		"i18n_strategy: dictionary",
		"asset_base: https://cdn.example.com/static/",
		"themes:",
		"  - name: Acme/base",
		"    area: frontend",
		"    locales: [en_US, fr_FR]",
		"  - name: Acme/shop",
		"    parent: acme/BASE",
		"    path: custom/shop",
		"    entries: []",
		"  - name: Acme/backend",
		"    area: adminhtml",
		"exclude_themes: [ACME/base]",
	)
	c := mustParse(t, dir, src)
	design := filepath.Join(dir, "app", "design")
	want := &Config{
		File:               filepath.Join(dir, "themes.yml"),
		Dir:                dir,
		Source:             design,
		Output:             filepath.Join(dir, "build", "static"),
		Threads:            8,
		Libs:               []string{filepath.Join(dir, "lib", "web"), filepath.Join(dir, "vendor", "lib")},
		Entries:            []string{"js/*.js", "css/*.css", "js/[a-z]*.mjs"},
		Locales:            []string{"en_US", "zh_Hans_CN"},
		Compression:        []string{"zstd", "gzip"},
		CompressionLevels:  map[string]int{"gzip": 6, "br": 11, "zstd": 4},
		CompressionMinSize: 0,
		I18nStrategy:       "dictionary",
		SourceLocale:       "en_US",
		AssetBase:          "https://cdn.example.com/static/",
		Names:              "hashed",
		Themes: []*Theme{
			{Name: "Acme/base", Area: "frontend", Path: filepath.Join(design, "frontend", "Acme", "base"),
				Locales: []string{"en_US", "fr_FR"}, Line: 13, Col: 5},
			{Name: "Acme/shop", Area: "frontend", Path: filepath.Join(design, "custom", "shop"),
				Parent: "Acme/base", Entries: []string{}, Line: 16, Col: 5},
			{Name: "Acme/backend", Area: "adminhtml", Path: filepath.Join(design, "adminhtml", "Acme", "backend"),
				Line: 20, Col: 5},
		},
		ExcludeThemes: []string{"Acme/base"},
	}
	c.Data = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n%+v\nwant:\n%+v", c, want)
		for i := range c.Themes {
			t.Logf("theme %d: %+v", i, *c.Themes[i])
		}
	}
}

func TestCompressionNilVersusEmpty(t *testing.T) {
	dir := tree(t, stdDirs...)
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"absent means all", "", []string{"gzip", "br", "zstd"}},
		{"empty list means none", "compression: []", []string{}},
		{"null means none", "compression:", []string{}},
		{"subset keeps its order", "compression: [br]", []string{"br"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, dir, yml(tt.line, "themes: [{name: Acme/base}]"))
			if c.Compression == nil || !reflect.DeepEqual(c.Compression, tt.want) {
				t.Errorf("compression %#v, want %#v", c.Compression, tt.want)
			}
		})
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	dir := tree(t, stdDirs...)
	c := mustParse(t, dir, yml(
		"locales: &langs [en_US, fr_FR]",
		"themes:",
		"  - &base",
		"    name: Acme/base",
		"    locales: *langs",
		"    entries: [js/main.js]",
		"  - <<: *base",
		"    name: Acme/shop",
		"    parent: Acme/base",
		"    entries: [js/shop.js]",
	))
	shop := c.Theme("Acme/shop")
	if shop == nil {
		t.Fatal("no Acme/shop")
	}
	if !reflect.DeepEqual(shop.Locales, []string{"en_US", "fr_FR"}) || !reflect.DeepEqual(shop.Entries, []string{"js/shop.js"}) ||
		shop.Parent != "Acme/base" || shop.Line != 8 {
		t.Errorf("merged theme %+v", *shop)
	}
}

func TestLoad(t *testing.T) {
	dir := tree(t, stdDirs...)
	file := filepath.Join(dir, "conf", "themes.yml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(yml("source: ..", "themes: [{name: Acme/base}]")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	c, err := Load("conf/themes.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != file || c.Dir != filepath.Dir(file) || c.Source != dir {
		t.Errorf("file %q dir %q source %q", c.File, c.Dir, c.Source)
	}
	if c.Output != filepath.Join(dir, "conf", "pub", "static") {
		t.Errorf("output %q", c.Output)
	}

	_, err = Load("conf/nope.yml")
	checkDiag(t, err, "conf/nope.yml")
	if want := "conf/nope.yml: cannot read matrix file: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}

	if err := os.WriteFile(file, []byte(yml("source: ..", "threads: x", "themes: [{name: Acme/base}]")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load("conf/themes.yml")
	checkDiag(t, err, "conf/themes.yml")
	if want := `conf/themes.yml:2:10: threads: expected an integer, got "x"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestParseFileName(t *testing.T) {
	dir := tree(t, stdDirs...)
	src := []byte(yml("themes: [{name: Acme/base}]"))
	c, err := Parse("conf/matrix.yml", dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "matrix.yml"); c.File != want {
		t.Errorf("file %q, want %q", c.File, want)
	}
	abs := filepath.Join(t.TempDir(), "m.yml")
	if c, err = Parse(abs, dir, src); err != nil || c.File != abs {
		t.Errorf("file %q, %v; want %q", c.File, err, abs)
	}
}

func TestThemeAndChain(t *testing.T) {
	dir := tree(t, "frontend/Acme/a", "frontend/Acme/b", "frontend/Acme/c", "frontend/Other/x")
	c := mustParse(t, dir, yml(
		"themes:",
		"  - {name: Acme/c, parent: acme/b}",
		"  - {name: Acme/a}",
		"  - {name: Acme/b, parent: Acme/a}",
		"  - {name: Other/x}",
	))
	if got := c.Theme("ACME/C"); got == nil || got.Name != "Acme/c" {
		t.Fatalf("Theme(ACME/C) = %v", got)
	}
	if got := c.Theme("Acme/zzz"); got != nil {
		t.Errorf("Theme(Acme/zzz) = %v", got)
	}
	names := func(ts []*Theme) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	for _, tt := range []struct {
		theme string
		want  []string
	}{
		{"Acme/c", []string{"Acme/c", "Acme/b", "Acme/a"}},
		{"Acme/b", []string{"Acme/b", "Acme/a"}},
		{"Acme/a", []string{"Acme/a"}},
		{"Other/x", []string{"Other/x"}},
	} {
		if got := names(c.Chain(c.Theme(tt.theme))); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Chain(%s) = %v, want %v", tt.theme, got, tt.want)
		}
	}
	if c.Theme("Acme/c").Parent != "Acme/b" {
		t.Errorf("parent not normalised: %q", c.Theme("Acme/c").Parent)
	}

	// A hand-built cycle must not hang.
	a := &Theme{Name: "X/a", Parent: "X/b"}
	b := &Theme{Name: "X/b", Parent: "X/a"}
	hand := &Config{Themes: []*Theme{a, b}}
	if got := names(hand.Chain(a)); !reflect.DeepEqual(got, []string{"X/a", "X/b"}) {
		t.Errorf("hand-built cycle chain = %v", got)
	}
}

// TestDeploySectionKept checks that the deploy section is handed over as a
// node, for the deploy phase to decode with positions in the same file.
func TestDeploySectionKept(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "frontend", "Acme", "base"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "themes: [{name: Acme/base}]\ndeploy:\n  warm_up_pages: [/]\n"
	c, err := Parse(filepath.Join(dir, "themes.yml"), dir, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Deploy == nil || c.Deploy.Line != 3 || string(c.Data) != src {
		t.Fatalf("deploy section: %+v", c.Deploy)
	}
}
