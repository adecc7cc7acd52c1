package less

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/source"
)

// expProject writes a tiny Magento project and loads it: modules Acme_C,
// Acme_A and Acme_B, enabled in that order by config.php (not by name),
// Acme_Off registered but disabled; themes Acme/parent and Acme/child
// (child of parent). The keys of files say where each file goes:
//
//	lib:P            lib/web/P
//	Acme_A:P         app/code/Acme/A/view/frontend/web/P
//	Acme_A@base:P    app/code/Acme/A/view/base/web/P
//	parent:P         app/design/frontend/Acme/parent/web/P (child: likewise)
//	child@de_DE:P    the theme's web/i18n/de_DE/P
//	child/Acme_A:P   the theme's Acme_A/web/P
func expProject(t testing.TB, files map[string]string) *source.Magento {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app/etc/config.php", "<?php\nreturn ['modules' => ['Acme_C' => 1, 'Acme_A' => 1, 'Acme_Off' => 0, 'Acme_B' => 1]];\n")
	for _, m := range []string{"A", "B", "C", "Off"} {
		write("app/code/Acme/"+m+"/registration.php", "<?php\nuse Magento\\Framework\\Component\\ComponentRegistrar;\nComponentRegistrar::register(ComponentRegistrar::MODULE, 'Acme_"+m+"', __DIR__);\n")
	}
	for _, th := range []string{"parent", "child"} {
		parent := ""
		if th == "child" {
			parent = "<parent>Acme/parent</parent>"
		}
		write("app/design/frontend/Acme/"+th+"/theme.xml", "<theme><title>"+th+"</title>"+parent+"</theme>\n")
		write("app/design/frontend/Acme/"+th+"/registration.php", "<?php\nuse Magento\\Framework\\Component\\ComponentRegistrar;\nComponentRegistrar::register(ComponentRegistrar::THEME, 'frontend/Acme/"+th+"', __DIR__);\n")
	}
	write("lib/web/.keep", "")
	for k, content := range files {
		where, p, ok := strings.Cut(k, ":")
		if !ok {
			t.Fatalf("file key %q: no ':'", k)
		}
		var dir string
		switch {
		case where == "lib":
			dir = "lib/web"
		case strings.HasPrefix(where, "Acme_"):
			mod, area, _ := strings.Cut(where, "@")
			if area == "" {
				area = "frontend"
			}
			dir = "app/code/Acme/" + strings.TrimPrefix(mod, "Acme_") + "/view/" + area + "/web"
		default:
			th, rest, _ := strings.Cut(where, "/")
			th, locale, _ := strings.Cut(th, "@")
			dir = "app/design/frontend/Acme/" + th + "/web"
			if rest != "" {
				dir = "app/design/frontend/Acme/" + th + "/" + rest + "/web"
			}
			if locale != "" {
				dir += "/i18n/" + locale
			}
		}
		write(dir+"/"+p, content)
	}
	m, err := source.LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expExpand expands root for (frontend, Acme/<theme>, locale) of m.
func expExpand(t testing.TB, m *source.Magento, theme, locale, root string) (*Expansion, error) {
	t.Helper()
	lookup, collect := expMagentoJob(t, m, "frontend", "Acme/"+theme, locale)
	return Expand(root, lookup, collect)
}

// expFlatten inlines every @import of root's expansion that less reads,
// recursively, each file once (less's default), as the text less.js
// would compile; CSS imports stay. It checks on the way that every such
// import names a file of the expansion.
func expFlatten(t testing.TB, x *Expansion, root string) string {
	t.Helper()
	seen := map[string]bool{}
	var flat func(p string) string
	flat = func(p string) string {
		seen[p] = true
		src := x.Files[p]
		var b strings.Builder
		last := 0
		for _, s := range scanLess(src) {
			if s.kind != stImport || expLeftToLess(s) {
				continue
			}
			if strings.Contains(s.path, "::") {
				t.Errorf("%s: @import %q still has module notation", p, s.path)
			}
			target := path.Join(path.Dir(p), s.path)
			if _, ok := x.Files[target]; !ok {
				t.Errorf("%s: @import %q: %s is not in the expansion", p, s.path, target)
				continue
			}
			b.Write(src[last:s.start])
			if !seen[target] {
				b.WriteString(flat(target))
			}
			last = s.end
		}
		b.Write(src[last:])
		return b.String()
	}
	return flat(root)
}

// expLeftToLess reports whether an @import of an expansion is one less
// does not read from the file map (a CSS import, a remote or variable
// url()).
func expLeftToLess(s lessStmt) bool {
	return remoteRe.MatchString(s.path) || s.url && strings.Contains(s.path, "@{") || s.opts.isCSS(s.path) && !s.opts.inline
}

func expKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestExpandMagentoImport pins the files //@magento_import imports and
// their order: Magento's collector (library and theme files, then the
// modules in module order, then the themes' overrides, each moving its
// module to the end).
func TestExpandMagentoImport(t *testing.T) {
	const mod = "css/source/_module.less"
	cases := []struct {
		name  string
		files map[string]string
		theme string // default child
		root  string // default css/styles.less of the child theme
		want  string // the root's expansion
		from  map[string]string
	}{
		{
			name: "modules in module order, not by name",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';\n.after {}\n",
				"Acme_A:" + mod:         ".a {}", "Acme_B:" + mod: ".b {}", "Acme_C:" + mod: ".c {}",
			},
			want: "@import '../Acme_C/css/source/_module.less'; @import '../Acme_A/css/source/_module.less'; @import '../Acme_B/css/source/_module.less';\n.after {}\n",
		},
		{
			name: "view/base and view/frontend both: two entries, one file",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_A@base:" + mod:    ".base {}", "Acme_A:" + mod: ".frontend {}",
			},
			want: "@import '../Acme_A/css/source/_module.less'; @import '../Acme_A/css/source/_module.less';",
			from: map[string]string{"Acme_A/" + mod: "app/code/Acme/A/view/frontend/web/" + mod},
		},
		{
			name: "a library or theme file first, once, by the path as written",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"lib:" + mod:            ".lib {}", "parent:" + mod: ".parent {}", "Acme_B:" + mod: ".b {}",
			},
			want: "@import 'source/_module.less'; @import '../Acme_B/css/source/_module.less';",
			from: map[string]string{mod: "app/design/frontend/Acme/parent/web/" + mod},
		},
		{
			name: "overrides win and move their module to the end, ancestor first, by name within a theme",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_A:" + mod:         ".a {}", "Acme_B:" + mod: ".b {}", "Acme_C:" + mod: ".c {}",
				"parent/Acme_C:" + mod: ".c-parent {}", "parent/Acme_A:" + mod: ".a-parent {}",
				"child/Acme_A:" + mod: ".a-child {}",
			},
			// base: C A B; parent's overrides A, C: B A C; child's A: B C A.
			want: "@import '../Acme_B/css/source/_module.less'; @import '../Acme_C/css/source/_module.less'; @import '../Acme_A/css/source/_module.less';",
			from: map[string]string{
				"Acme_A/" + mod: "app/design/frontend/Acme/child/Acme_A/web/" + mod,
				"Acme_B/" + mod: "app/code/Acme/B/view/frontend/web/" + mod,
				"Acme_C/" + mod: "app/design/frontend/Acme/parent/Acme_C/web/" + mod,
			},
		},
		{
			name: "a theme's overrides in directory name order",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_A:" + mod:         ".a {}", "Acme_B:" + mod: ".b {}", "Acme_C:" + mod: ".c {}",
				"parent/Acme_C:" + mod: ".c-parent {}", "parent/Acme_A:" + mod: ".a-parent {}",
			},
			want: "@import '../Acme_B/css/source/_module.less'; @import '../Acme_A/css/source/_module.less'; @import '../Acme_C/css/source/_module.less';",
		},
		{
			name:  "the parent's job does not see the child's overrides",
			theme: "parent",
			root:  "css/styles.less",
			files: map[string]string{
				"parent:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_A:" + mod:          ".a {}", "Acme_C:" + mod: ".c {}",
				"child/Acme_C:" + mod: ".c-child {}",
			},
			want: "@import '../Acme_C/css/source/_module.less'; @import '../Acme_A/css/source/_module.less';",
		},
		{
			name: "an override of a module without its own file is imported",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_C:" + mod:         ".c {}", "child/Acme_A:" + mod: ".a-child {}",
			},
			want: "@import '../Acme_C/css/source/_module.less'; @import '../Acme_A/css/source/_module.less';",
		},
		{
			name: "overrides of disabled or unknown modules are dropped",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import 'source/_module.less';",
				"Acme_Off:" + mod:       ".off {}", "child/Acme_Off:" + mod: ".off {}", "child/Acme_Nope:" + mod: ".nope {}",
				"Acme_B:" + mod: ".b {}",
			},
			want: "@import '../Acme_B/css/source/_module.less';",
		},
		{
			name: "(reference) is kept on every import",
			files: map[string]string{
				"child:css/email.less":          "//@magento_import (reference) 'source/_email.less'; // abstract\n",
				"Acme_A:css/source/_email.less": ".a {}", "parent:css/source/_email.less": ".t {}",
			},
			root: "css/email.less",
			want: "@import (reference) 'source/_email.less'; @import (reference) '../Acme_A/css/source/_email.less'; // abstract\n",
		},
		{
			name:  "no file anywhere: nothing, no error",
			files: map[string]string{"child:css/styles.less": "//@magento_import 'source/_extend.less'; // none\n.x {}\n"},
			want:  " // none\n.x {}\n",
		},
		{
			name: "in a module's file: the path is the module's, the library import stays relative",
			files: map[string]string{
				"Acme_A:css/a.less":         "//@magento_import \"source/_w.less\";",
				"Acme_A:css/source/_w.less": ".a {}",
				"Acme_B:css/source/_w.less": ".b {}",
				"child:css/source/_w.less":  ".t {}",
			},
			root: "Acme_A/css/a.less",
			want: "@import 'source/_w.less'; @import 'source/_w.less'; @import '../../Acme_B/css/source/_w.less';",
		},
		{
			name: "a directive over several lines keeps the line numbers",
			files: map[string]string{
				"child:css/styles.less": "//@magento_import\n  'source/_module.less'\n;\n.x {}\n",
				"Acme_A:" + mod:         ".a {}",
			},
			want: "@import '../Acme_A/css/source/_module.less';\n\n\n.x {}\n",
		},
		{
			name: "module notation in the directive",
			files: map[string]string{
				"child:css/styles.less":     "//@magento_import 'Acme_B::css/source/_x.less';",
				"Acme_A:css/source/_x.less": ".a {}",
				"Acme_B:css/source/_x.less": ".b {}",
				"parent:css/source/_x.less": ".p {}",
			},
			want: "@import '../Acme_B/css/source/_x.less'; @import '../Acme_A/css/source/_x.less'; @import '../Acme_B/css/source/_x.less';",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := expProject(t, c.files)
			theme, root := c.theme, c.root
			if theme == "" {
				theme = "child"
			}
			if root == "" {
				root = "css/styles.less"
			}
			x, err := expExpand(t, m, theme, "en_US", root)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(x.Files[root]); got != c.want {
				t.Errorf("expansion:\n got %q\nwant %q", got, c.want)
			}
			for p, want := range c.from {
				if got, _ := filepath.Rel(m.Root, x.Inputs[p]); filepath.ToSlash(got) != want {
					t.Errorf("%s read from %s, want %s", p, got, want)
				}
			}
			if len(x.Warnings) > 0 {
				t.Errorf("warnings: %v", x.Warnings)
			}
			expFlatten(t, x, root)
		})
	}
}

// TestExpandImports pins what happens to @import statements.
func TestExpandImports(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		root  string // default css/styles.less
		want  string
		keys  []string // the expansion's files, when given
	}{
		{
			name:  ".less is added when the name has no extension",
			files: map[string]string{"child:css/styles.less": "@import 'source/_a';\n@import \"source/_b.less\";", "child:css/source/_a.less": "", "child:css/source/_b.less": ""},
			want:  "@import 'source/_a.less';\n@import \"source/_b.less\";",
			keys:  []string{"css/source/_a.less", "css/source/_b.less", "css/styles.less"},
		},
		{
			name:  "module notation becomes a path relative to the importing file",
			files: map[string]string{"child:css/styles.less": "@import 'Acme_A::css/source/_m';", "Acme_A:css/source/_m.less": ""},
			want:  "@import '../Acme_A/css/source/_m.less';",
			keys:  []string{"Acme_A/css/source/_m.less", "css/styles.less"},
		},
		{
			name: "module notation from a module's file",
			files: map[string]string{
				"Acme_B:css/b.less":         "@import 'Acme_B::css/source/_x.less';\n@import 'Acme_A::_top';\n@import (reference) 'Acme_A::css/_y.less';",
				"Acme_B:css/source/_x.less": "", "Acme_A:_top.less": "", "Acme_A:css/_y.less": "",
			},
			root: "Acme_B/css/b.less",
			want: "@import 'source/_x.less';\n@import '../../Acme_A/_top.less';\n@import (reference) '../../Acme_A/css/_y.less';",
		},
		{
			name: "relative paths are resolved from the importing file, nested files too",
			files: map[string]string{
				"child:css/styles.less":          "@import './source/_a.less';\n@import '../Acme_A/css/_m.less';",
				"parent:css/source/_a.less":      "@import 'lib/_l';",
				"lib:css/source/lib/_l.less":     "@import '../../../Acme_A/css/_m';",
				"Acme_A:css/_m.less":             ".m {}",
				"child@de_DE:css/source/_a.less": "wrong locale",
			},
			want: "@import './source/_a.less';\n@import '../Acme_A/css/_m.less';",
			keys: []string{"Acme_A/css/_m.less", "css/source/_a.less", "css/source/lib/_l.less", "css/styles.less"},
		},
		{
			name:  "options and media queries are kept",
			files: map[string]string{"child:css/styles.less": "@import (reference, optional) 'source/_a' screen and (min-width: 768px);\n@import (multiple)\n  'source/_a';", "child:css/source/_a.less": ""},
			want:  "@import (reference, optional) 'source/_a.less' screen and (min-width: 768px);\n@import (multiple)\n  'source/_a.less';",
		},
		{
			name: "CSS imports are left to less, not read",
			files: map[string]string{
				"child:css/styles.less": "@import 'source/x.css';\n@import 'source/y.css';\n@import url('print.css') print;\n" +
					"@import url(\"@{baseUrl}css/email-fonts.css\");\n@import url('https://fonts.googleapis.com/css?family=Open+Sans');\n" +
					"@import url(//cdn.example.com/a.css);\n@import (css) 'source/_c';\n@import 'Acme_A::css/z.css';",
				"child:css/source/x.css": ".x {}", "child:css/source/y.less": ".y {}", "child:css/source/_c.less": "", "Acme_A:css/z.css": "",
			},
			want: "@import 'source/x.css';\n@import 'source/y.css';\n@import url('print.css') print;\n" +
				"@import url(\"@{baseUrl}css/email-fonts.css\");\n@import url('https://fonts.googleapis.com/css?family=Open+Sans');\n" +
				"@import url(//cdn.example.com/a.css);\n@import (css) 'source/_c.less';\n@import '../Acme_A/css/z.css';",
			keys: []string{"css/styles.less"},
		},
		{
			name:  "(less) and (inline) CSS imports are read",
			files: map[string]string{"child:css/styles.less": "@import (less) 'source/a.css';\n@import (inline) 'source/b.css';", "child:css/source/a.css": ".a {}", "child:css/source/b.css": ".b {}"},
			want:  "@import (less) 'source/a.css';\n@import (inline) 'source/b.css';",
			keys:  []string{"css/source/a.css", "css/source/b.css", "css/styles.less"},
		},
		{
			name:  "url() of a LESS file is read, .less added",
			files: map[string]string{"child:css/styles.less": "@import url('source/_a');", "child:css/source/_a.less": ""},
			want:  "@import url('source/_a.less');",
			keys:  []string{"css/source/_a.less", "css/styles.less"},
		},
		{
			name: "comments, strings and other at-rules are not imports",
			files: map[string]string{
				"child:css/styles.less": "// @import 'nope1';\n/* @import 'nope2';\n//@magento_import 'source/_module.less'; */\n" +
					".a { content: \"@import 'nope3';\"; background: url(//cdn.example.com/x.png); }\n" +
					"@import-x: 'nope4';\n@importx 'nope5';\n@import @var;\n@import 'source/_a'; // @import 'nope6';\n",
				"child:css/source/_a.less": "", "Acme_A:css/source/_module.less": "",
			},
			want: "// @import 'nope1';\n/* @import 'nope2';\n//@magento_import 'source/_module.less'; */\n" +
				".a { content: \"@import 'nope3';\"; background: url(//cdn.example.com/x.png); }\n" +
				"@import-x: 'nope4';\n@importx 'nope5';\n@import @var;\n@import 'source/_a.less'; // @import 'nope6';\n",
			keys: []string{"css/source/_a.less", "css/styles.less"},
		},
		{
			name: "a locale override is what the locale's job reads",
			files: map[string]string{
				"parent:css/styles.less": "@import 'source/_a';", "parent:css/source/_a.less": ".en {}", "parent@de_DE:css/source/_a.less": ".de {}",
			},
			want: "@import 'source/_a.less';",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := expProject(t, c.files)
			root := c.root
			if root == "" {
				root = "css/styles.less"
			}
			x, err := expExpand(t, m, "child", "en_US", root)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(x.Files[root]); got != c.want {
				t.Errorf("expansion:\n got %q\nwant %q", got, c.want)
			}
			if c.keys != nil {
				if got := expKeys(x.Files); !reflect.DeepEqual(got, c.keys) {
					t.Errorf("files: got %q, want %q", got, c.keys)
				}
			}
			if got, want := expKeys(x.Inputs), expKeys(x.Files); !reflect.DeepEqual(got, want) {
				t.Errorf("inputs %q, files %q", got, want)
			}
			for p, abs := range x.Inputs {
				if !strings.HasPrefix(abs, m.Root) {
					t.Errorf("input %s: %s", p, abs)
				}
			}
			expFlatten(t, x, root)
		})
	}

	// The locale override: the de_DE job reads it, the en_US job does not.
	m := expProject(t, map[string]string{"parent:css/styles.less": "@import 'source/_a';", "parent:css/source/_a.less": ".en {}", "parent@de_DE:css/source/_a.less": ".de {}"})
	for locale, want := range map[string]string{"en_US": ".en {}", "de_DE": ".de {}"} {
		x, err := expExpand(t, m, "child", locale, "css/styles.less")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(x.Files["css/source/_a.less"]); got != want {
			t.Errorf("%s: css/source/_a.less = %q, want %q", locale, got, want)
		}
	}
}

// TestExpandErrors: a missing import fails at the importing file, line
// and column of the @import, every one of them reported.
func TestExpandErrors(t *testing.T) {
	m := expProject(t, map[string]string{
		"child:css/styles.less":      "// header\n.a {}\n  @import 'source/_missing';\n@import 'source/_ok';\n\t@import 'Acme_A::css/nope.less';\n@import 'gone.css';\n",
		"parent:css/source/_ok.less": "\n@import (optional) '_nested';\n",
		"Acme_A:css/b.less":          "@import '::css/x.less';\n@import '@{dir}/x.less';\n@import '../../../out.less';\n@import '/abs.less';\n",
	})
	_, err := expExpand(t, m, "child", "en_US", "css/styles.less")
	if err == nil {
		t.Fatal("no error")
	}
	type loc struct {
		file      string
		line, col int
		msg       string
	}
	var got []loc
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if !errors.As(e, &de) {
			t.Fatalf("not a *diag.Error: %v", e)
		}
		if de.Kind != diag.Build || de.Source == "" {
			t.Errorf("%v: kind %v, source %q", de, de.Kind, de.Source)
		}
		rel, _ := filepath.Rel(m.Root, de.File)
		got = append(got, loc{filepath.ToSlash(rel), de.Line, de.Col, de.Msg})
	}
	child, parent := "app/design/frontend/Acme/child/web/css/styles.less", "app/design/frontend/Acme/parent/web/css/source/_ok.less"
	want := []struct {
		file      string
		line, col int
		has       string
	}{
		{child, 3, 3, "css/source/_missing.less is in no level of the fallback"},
		{child, 5, 2, "Acme_A/css/nope.less is in no level of the fallback"},
		{child, 6, 1, "css/gone.css is in no level of the fallback"},
		{parent, 2, 1, "css/source/_nested.less is in no level"},
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%v", err)
	}
	for i, w := range want {
		g := got[i]
		if g.file != w.file || g.line != w.line || g.col != w.col || !strings.Contains(g.msg, w.has) {
			t.Errorf("error %d: got %s:%d:%d: %s\nwant %s:%d:%d: …%s…", i, g.file, g.line, g.col, g.msg, w.file, w.line, w.col, w.has)
		}
	}

	// Paths Magento cannot resolve.
	_, err = expExpand(t, m, "child", "en_US", "Acme_A/css/b.less")
	var msgs []string
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if !errors.As(e, &de) || de.Line == 0 {
			t.Fatalf("not located: %v", e)
		}
		msgs = append(msgs, fmt.Sprintf("%d:%d %s", de.Line, de.Col, de.Msg))
	}
	wantMsgs := []string{"1:1 ", "2:1 ", "3:1 ", "4:1 "}
	wantHas := []string{`"::" without a module name`, "with variables cannot be resolved", "leaves the static files", "absolute path"}
	if len(msgs) != len(wantMsgs) {
		t.Fatalf("errors: %q", msgs)
	}
	for i := range msgs {
		if !strings.HasPrefix(msgs[i], wantMsgs[i]) || !strings.Contains(msgs[i], wantHas[i]) {
			t.Errorf("error %d: %s, want %s…%s…", i, msgs[i], wantMsgs[i], wantHas[i])
		}
	}

	// A missing root.
	_, err = expExpand(t, m, "child", "en_US", "css/nope.less")
	var de *diag.Error
	if !errors.As(err, &de) || de.Kind != diag.Build || de.File != "css/nope.less" {
		t.Errorf("missing root: %v", err)
	}
}

// TestExpandCycle: files importing each other are expanded once each.
func TestExpandCycle(t *testing.T) {
	m := expProject(t, map[string]string{
		"child:css/styles.less":    "@import 'source/_a';\n.root {}\n",
		"child:css/source/_a.less": "@import '_b';\n@import '../styles';\n.a {}\n",
		"child:css/source/_b.less": "@import '_a.less';\n@import '_b.less';\n.b {}\n",
	})
	x, err := expExpand(t, m, "child", "en_US", "css/styles.less")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := expKeys(x.Files), []string{"css/source/_a.less", "css/source/_b.less", "css/styles.less"}; !reflect.DeepEqual(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	if got, want := expFlatten(t, x, "css/styles.less"), "\n\n.b {}\n\n\n.a {}\n\n.root {}\n"; got != want {
		t.Errorf("flattened %q, want %q", got, want)
	}
}

// TestExpandWarnings: what Magento lets through silently is reported.
func TestExpandWarnings(t *testing.T) {
	m := expProject(t, map[string]string{
		"child:css/styles.less":          "@magento_import 'source/_module.less';\n//@magento_import 'source/_module.less'\n//@magento_import '/abs.less';\n// @magento_import 'x'; is a comment\n",
		"Acme_A:css/source/_module.less": "",
	})
	x, err := expExpand(t, m, "child", "en_US", "css/styles.less")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(x.Files["css/styles.less"]), "@magento_import 'source/_module.less';\n//@magento_import 'source/_module.less'\n//@magento_import '/abs.less';\n// @magento_import 'x'; is a comment\n"; got != want {
		t.Errorf("expansion %q, want it unchanged", got)
	}
	var got []string
	for _, w := range x.Warnings {
		var de *diag.Error
		if !errors.As(w, &de) || de.Kind != diag.Build {
			t.Fatalf("warning %v", w)
		}
		got = append(got, fmt.Sprintf("%d:%d", de.Line, de.Col))
	}
	if want := []string{"1:1", "2:1", "3:1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("warnings at %q, want %q: %v", got, want, x.Warnings)
	}
}

// TestExpandKeepsLines: an expanded file has the lines of its source, so
// that less's line numbers are the source's.
func TestExpandKeepsLines(t *testing.T) {
	m := expProject(t, map[string]string{
		"child:css/styles.less":          "//@magento_import 'source/_module.less';\n@import\n  'Acme_A::css/source/_module';\n//@magento_import (reference)\n'source/_module.less'\n;\n.z { x: y }\n",
		"Acme_A:css/source/_module.less": "", "Acme_B:css/source/_module.less": "", "Acme_C@base:css/source/_module.less": "",
	})
	x, err := expExpand(t, m, "child", "en_US", "css/styles.less")
	if err != nil {
		t.Fatal(err)
	}
	got := string(x.Files["css/styles.less"])
	if strings.Count(got, "\n") != 7 || !strings.HasSuffix(got, "\n.z { x: y }\n") {
		t.Errorf("lines changed: %q", got)
	}
}

func TestRoots(t *testing.T) {
	got := Roots([]string{
		"css/styles-m.less", "css/styles-l.less", "css/source/_module.less", "css/_styles.less", "css/print.less",
		"css/email.less", "css/email-inline.less", "css/styles-m.css", "css/x.css",
		"Magento_Catalog/css/source/_module.less", "Magento_PageBuilder/css/source/hljs/hljs.less",
		"Magento_Swatches/css/swatches.less", "mage/gallery/gallery.less", "css/docs/docs.less",
		"js/app.js", "css/styles-m.less", "css/UPPER.LESS", "css/less", "_x.less",
	})
	want := []string{
		"Magento_PageBuilder/css/source/hljs/hljs.less", "Magento_Swatches/css/swatches.less",
		"css/UPPER.LESS", "css/email-inline.less", "css/email.less", "css/print.less", "css/styles-l.less", "css/styles-m.less",
		"mage/gallery/gallery.less",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Roots:\n got %q\nwant %q", got, want)
	}
}

func TestRelativePath(t *testing.T) {
	for _, c := range []struct{ dir, target, want string }{
		{"css", "Acme_A/css/source/_m.less", "../Acme_A/css/source/_m.less"},
		{"Acme_A/css", "Acme_A/css/source/_m.less", "source/_m.less"},
		{"Acme_A/css/source", "Acme_A/css/_m.less", "../_m.less"},
		{"Acme_B/css/source", "Acme_A/css/source/_m.less", "../../../Acme_A/css/source/_m.less"},
		{".", "Acme_A/x.less", "Acme_A/x.less"},
		{"a/b", "a/b", "../b"},
		{"css", "x.less", "../x.less"},
	} {
		if got := relativePath(c.dir, c.target); got != c.want {
			t.Errorf("relativePath(%q, %q) = %q, want %q", c.dir, c.target, got, c.want)
		}
		if got := path.Join(c.dir, relativePath(c.dir, c.target)); got != c.target {
			t.Errorf("%q joined with its relative path is %q", c.dir, got)
		}
	}
}

// expFixtureFlat is the expansion of css/styles-m.less for the jobs
// (frontend, Acme/shop, locale) of fixtures/magento, written out by hand
// as one flat LESS text: Acme/base's root; lib/web's mixin; Acme/base's
// variables (de_DE: its web/i18n/de_DE override); Acme/shop's _theme.less
// (its accent wins over Acme/base's); then //@magento_import's modules,
// Acme_Catalog and Acme_Checkout in module order, and Acme_Ui last, moved
// there by Acme/shop's override of it, which imports Acme_Catalog's
// _price.less through Acme_Catalog::. Compiled by less 4.9.1
// (math: 'always'), en_US gives
//
//	.acme-catalog { color: #ff5501; padding: 10px; }
//	.acme-checkout { color: #333; }
//	.acme-ui { color: #ff5501; font-weight: bold; }
//
// and de_DE the same with padding: 14px.
var expFixtureFlat = map[string]string{
	"en_US": expFixtureText("@acme-text: #333;\n@acme-gap: 10px;\n"),
	"de_DE": expFixtureText("// de_DE: longer words, more room.\n@acme-text: #333;\n@acme-gap: 14px;\n"),
}

func expFixtureText(variables string) string {
	return "// Acme/base mobile styles: a LESS root, compiled to css/styles-m.css.\n" +
		// @import (reference) 'source/lib/_mixins.less';
		"// A library mixin (lib/web/css/source/lib/), imported by Acme/base.\n" +
		".acme-box(@gap) {\n" +
		"    padding: @gap;\n" +
		"}\n" +
		"\n" +
		// @import 'source/_variables';
		variables +
		"\n" +
		// @import 'source/_theme.less';
		"// Acme/shop: its own accent.\n" +
		"@acme-accent: #ff5501;\n" +
		"\n" +
		"\n" +
		// //@magento_import 'source/_module.less';
		".acme-catalog {\n" +
		"    color: @acme-accent;\n" +
		"    .acme-box(@acme-gap);\n" +
		"}\n" +
		" " +
		".acme-checkout { color: @acme-text; }\n" +
		" " +
		"// Acme/shop's override of Acme_Ui's styles.\n" +
		".acme-price() {\n" +
		"    font-weight: bold;\n" +
		"}\n" +
		"\n" +
		".acme-ui {\n" +
		"    color: @acme-accent;\n" +
		"    .acme-price();\n" +
		"}\n" +
		" // modules, then theme overrides\n" +
		// //@magento_import 'source/_extend.less';
		" // no file anywhere: nothing\n"
}

// TestExpandFixture expands Acme/shop's styles-m.less in fixtures/magento
// through source.LoadMagento's layers, for en_US and de_DE.
func TestExpandFixture(t *testing.T) {
	m, err := source.LoadMagento(filepath.Join("..", "..", "fixtures", "magento"))
	if err != nil {
		t.Fatal(err)
	}
	const base, shop = "app/design/frontend/Acme/base/", "app/design/frontend/Acme/shop/"
	inputs := map[string]map[string]string{}
	for _, locale := range []string{"en_US", "de_DE"} {
		lookup, collect := expMagentoJob(t, m, "frontend", "Acme/shop", locale)
		x, err := Expand("css/styles-m.less", lookup, collect)
		if err != nil {
			t.Fatalf("%s: %v", locale, err)
		}
		if len(x.Warnings) > 0 {
			t.Errorf("%s: warnings %v", locale, x.Warnings)
		}
		if got, want := string(x.Files["css/styles-m.less"]), "// Acme/base mobile styles: a LESS root, compiled to css/styles-m.css.\n"+
			"@import (reference) 'source/lib/_mixins.less';\n"+
			"@import 'source/_variables.less';\n"+
			"@import 'source/_theme.less';\n"+
			"\n"+
			"@import '../Acme_Catalog/css/source/_module.less'; @import '../Acme_Checkout/css/source/_module.less'; @import '../Acme_Ui/css/source/_module.less'; // modules, then theme overrides\n"+
			" // no file anywhere: nothing\n"; got != want {
			t.Errorf("%s: root:\n got %q\nwant %q", locale, got, want)
		}
		if got, want := string(x.Files["Acme_Ui/css/source/_module.less"]), "// Acme/shop's override of Acme_Ui's styles.\n@import '../../../Acme_Catalog/css/source/_price.less';\n.acme-ui {\n    color: @acme-accent;\n    .acme-price();\n}\n"; got != want {
			t.Errorf("%s: Acme_Ui's override:\n got %q\nwant %q", locale, got, want)
		}
		if got, want := expFlatten(t, x, "css/styles-m.less"), expFixtureFlat[locale]; got != want {
			t.Errorf("%s: flattened:\n got %q\nwant %q", locale, got, want)
		}
		rel := map[string]string{}
		for p, abs := range x.Inputs {
			r, err := filepath.Rel(m.Root, abs)
			if err != nil {
				t.Fatal(err)
			}
			rel[p] = filepath.ToSlash(r)
		}
		inputs[locale] = rel
	}
	want := map[string]string{
		"css/styles-m.less":                     base + "web/css/styles-m.less",
		"css/source/lib/_mixins.less":           "lib/web/css/source/lib/_mixins.less",
		"css/source/_variables.less":            base + "web/css/source/_variables.less",
		"css/source/_theme.less":                shop + "web/css/source/_theme.less",
		"Acme_Catalog/css/source/_module.less":  "app/code/Acme/Catalog/view/frontend/web/css/source/_module.less",
		"Acme_Catalog/css/source/_price.less":   "app/code/Acme/Catalog/view/frontend/web/css/source/_price.less",
		"Acme_Checkout/css/source/_module.less": "app/code/Acme/Checkout/view/frontend/web/css/source/_module.less",
		"Acme_Ui/css/source/_module.less":       shop + "Acme_Ui/web/css/source/_module.less",
	}
	if !reflect.DeepEqual(inputs["en_US"], want) {
		t.Errorf("en_US inputs:\n got %v\nwant %v", inputs["en_US"], want)
	}
	// The locale override is de_DE's only difference.
	want["css/source/_variables.less"] = base + "web/i18n/de_DE/css/source/_variables.less"
	if !reflect.DeepEqual(inputs["de_DE"], want) {
		t.Errorf("de_DE inputs:\n got %v\nwant %v", inputs["de_DE"], want)
	}

	// The parent's own job: its modules in module order, Acme_Ui's own
	// file, Acme/base's accent.
	lookup, collect := expMagentoJob(t, m, "frontend", "Acme/base", "en_US")
	x, err := Expand("css/styles-m.less", lookup, collect)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(x.Files["css/styles-m.less"]), "@import '../Acme_Ui/css/source/_module.less'; @import '../Acme_Catalog/css/source/_module.less'; @import '../Acme_Checkout/css/source/_module.less'; // modules"; !strings.Contains(got, want) {
		t.Errorf("Acme/base: root %q does not hold %q", got, want)
	}
	if got, want := x.Inputs["Acme_Ui/css/source/_module.less"], filepath.Join(m.Root, "app/code/Acme/Ui/view/frontend/web/css/source/_module.less"); got != want {
		t.Errorf("Acme/base: Acme_Ui's _module.less from %s, want %s", got, want)
	}
	if got := string(x.Files["css/source/_theme.less"]); got != "@acme-accent: #1979c3;\n" {
		t.Errorf("Acme/base: _theme.less %q", got)
	}
}

// FuzzExpand: whatever the sources, Expand does not panic, its errors and
// warnings are located, and every import less reads of a successful
// expansion names one of its files.
func FuzzExpand(f *testing.F) {
	f.Add("@import 'source/_a';\n//@magento_import 'source/_module.less';\n", ".a { color: red; }\n@import '../styles';")
	f.Add("//@magento_import (reference) 'source/_module.less'; // x\n@import (reference, optional) url('Acme_A::css/x') screen;", "@import 'Acme_A::css/source/_module.less';")
	f.Add("@import 'x.css'; @import url(//a/b.css); @import '@{v}.less'; /* @import 'n'; */ @magento_import 'a';", "@import '::x'; @import '../../../x';")
	f.Add("@import \"source/_a\" ;\n@import\n'source/_a'\n;", "//@magento_import\n'source/_a.less'\n;")
	files := func(root, partial string) map[string]string {
		return map[string]string{
			"css/styles.less":                root,
			"css/source/_a.less":             partial,
			"css/source/_module.less":        partial,
			"Acme_A/css/source/_module.less": partial,
			"Acme_A/css/x.less":              partial,
			"css/x.css":                      "",
		}
	}
	f.Fuzz(func(t *testing.T, root, partial string) {
		fs := files(root, partial)
		lookup := func(p string) (string, []byte, bool) {
			s, ok := fs[p]
			return "/src/" + p, []byte(s), ok
		}
		collect := func(p string) []Collected {
			if p == "css/source/_module.less" {
				return []Collected{{Abs: "/src/" + p}, {Module: "Acme_A", Abs: "/src/Acme_A/" + p}, {Module: "Acme_B", Abs: "/src/Acme_B/" + p}}
			}
			return []Collected{{Module: "Acme_A", Abs: "/src/Acme_A/" + p}}
		}
		located := func(err error) {
			var de *diag.Error
			if !errors.As(err, &de) || de.Kind != diag.Build || !strings.HasPrefix(de.File, "/src/") || de.Line < 1 || de.Col < 1 {
				t.Fatalf("not located: %#v", err)
			}
		}
		x, err := Expand("css/styles.less", lookup, collect)
		if err != nil {
			for _, e := range diag.Flatten(err) {
				located(e)
			}
			return
		}
		for _, w := range x.Warnings {
			located(w)
		}
		for p, src := range x.Files {
			if x.Inputs[p] != "/src/"+p {
				t.Fatalf("%s: input %q", p, x.Inputs[p])
			}
			for _, s := range scanLess(src) {
				if s.kind != stImport || expLeftToLess(s) {
					continue
				}
				if target := path.Join(path.Dir(p), s.path); !expHas(x.Files, target) {
					t.Fatalf("%s: @import %q: %s is not in the expansion", p, s.path, target)
				}
			}
		}
	})
}

func expHas(m map[string][]byte, k string) bool {
	_, ok := m[k]
	return ok
}
