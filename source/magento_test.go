package source

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
)

// magentoFixture is fixtures/magento, absolute.
func magentoFixture(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "fixtures", "magento"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadMagentoFixture(t *testing.T) *Magento {
	t.Helper()
	m, err := LoadMagento(magentoFixture(t))
	if err != nil {
		t.Fatalf("LoadMagento: %v", err)
	}
	if len(m.Warnings) > 0 {
		t.Fatalf("warnings: %v", m.Warnings)
	}
	return m
}

// copyMagentoFixture copies fixtures/magento into a temporary directory
// that a test may edit.
func copyMagentoFixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := fixtures.CopyDir(magentoFixture(t), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// resolveLayers returns the file that serves logical path p: the first
// layer holding it, as the builder looks it up.
func resolveLayers(ls []Layer, p string) (string, Layer) {
	for _, l := range ls {
		rest, ok := strings.CutPrefix(p, l.Prefix)
		if !ok {
			continue
		}
		if l.Skip != "" && (rest == l.Skip || strings.HasPrefix(rest, l.Skip+"/")) {
			continue
		}
		f := filepath.Join(l.Dir, filepath.FromSlash(rest))
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f, l
		}
	}
	return "", Layer{}
}

func rels(t *testing.T, root string, files []string) []string {
	t.Helper()
	out := make([]string, len(files))
	for i, f := range files {
		r, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = filepath.ToSlash(r)
	}
	return out
}

func TestMagentoModuleOrderFromConfigPHP(t *testing.T) {
	m := loadMagentoFixture(t)
	var got []string
	for _, mod := range m.Modules() {
		got = append(got, mod.Name+" "+filepath.ToSlash(strings.TrimPrefix(mod.Dir, m.Root+string(filepath.Separator))))
	}
	want := []string{
		"Acme_Ui app/code/Acme/Ui",
		"Acme_Catalog app/code/Acme/Catalog",
		"Acme_Checkout app/code/Acme/Checkout",
		"Acme_Reviews vendor/acme/module-reviews",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("modules:\n got %q\nwant %q", got, want)
	}
}

func TestMagentoModuleOrderWithoutConfigPHP(t *testing.T) {
	root := copyMagentoFixture(t)
	if err := os.Remove(filepath.Join(root, "app", "etc", "config.php")); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mod := range m.Modules() {
		got = append(got, mod.Name)
	}
	want := []string{"Acme_Catalog", "Acme_Checkout", "Acme_Legacy", "Acme_Reviews", "Acme_Ui"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("modules by name: got %q, want %q", got, want)
	}
}

func TestMagentoThemes(t *testing.T) {
	m := loadMagentoFixture(t)
	var got []matrix.Theme
	for _, th := range m.Themes() {
		if !filepath.IsAbs(th.Path) {
			t.Errorf("%s: path %s is not absolute", th.Name, th.Path)
		}
		c := *th
		c.Path = filepath.ToSlash(strings.TrimPrefix(th.Path, m.Root+string(filepath.Separator)))
		got = append(got, c)
	}
	want := []matrix.Theme{
		{Name: "Acme/backend", Area: "adminhtml", Path: "app/design/adminhtml/Acme/backend"},
		{Name: "Acme/base", Area: "frontend", Path: "app/design/frontend/Acme/base"},
		{Name: "Acme/shop", Area: "frontend", Path: "app/design/frontend/Acme/shop", Parent: "Acme/base"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("themes:\n got %+v\nwant %+v", got, want)
	}
	chain := m.Chain("frontend", "acme/SHOP")
	if len(chain) != 2 || chain[0].Name != "Acme/shop" || chain[1].Name != "Acme/base" {
		t.Errorf("Chain(frontend, acme/SHOP) = %v", chain)
	}
	if c := m.Chain("adminhtml", "Acme/shop"); c != nil {
		t.Errorf("Chain(adminhtml, Acme/shop) = %v, want nil", c)
	}
	if got, want := m.Locales(), []string{"de_DE", "en_US", "fr_FR"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Locales() = %q, want %q", got, want)
	}
}

// TestMagentoFallbackLevels pins every level of the static file fallback
// with a logical path that only that level serves.
func TestMagentoFallbackLevels(t *testing.T) {
	m := loadMagentoFixture(t)
	shop := m.Chain("frontend", "Acme/shop")
	cases := []struct {
		level, locale, path, want string
		localeLayer               bool
	}{
		{"child theme module locale", "de_DE", "Acme_Ui/template/modal.html", "app/design/frontend/Acme/shop/Acme_Ui/web/i18n/de_DE/template/modal.html", true},
		{"child theme module", "de_DE", "Acme_Ui/js/tabs.js", "app/design/frontend/Acme/shop/Acme_Ui/web/js/tabs.js", false},
		{"parent theme module locale", "de_DE", "Acme_Checkout/template/cart.html", "app/design/frontend/Acme/base/Acme_Checkout/web/i18n/de_DE/template/cart.html", true},
		{"parent theme module", "de_DE", "Acme_Checkout/js/cart.js", "app/design/frontend/Acme/base/Acme_Checkout/web/js/cart.js", false},
		{"module area locale", "de_DE", "Acme_Checkout/js/summary.js", "app/code/Acme/Checkout/view/frontend/web/i18n/de_DE/js/summary.js", true},
		{"module base locale (before module area)", "de_DE", "Acme_Catalog/js/price-format.js", "app/code/Acme/Catalog/view/base/web/i18n/de_DE/js/price-format.js", true},
		{"module area", "de_DE", "Acme_Catalog/js/gallery.js", "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", false},
		{"module base", "de_DE", "Acme_Catalog/js/price-utils.js", "app/code/Acme/Catalog/view/base/web/js/price-utils.js", false},
		{"vendor module", "de_DE", "Acme_Reviews/js/stars.js", "vendor/acme/module-reviews/view/frontend/web/js/stars.js", false},
		{"child theme locale", "de_DE", "css/x.css", "app/design/frontend/Acme/shop/web/i18n/de_DE/css/x.css", true},
		{"child theme", "de_DE", "js/theme.js", "app/design/frontend/Acme/shop/web/js/theme.js", false},
		{"parent theme locale", "de_DE", "images/logo.svg", "app/design/frontend/Acme/base/web/i18n/de_DE/images/logo.svg", true},
		{"parent theme", "en_US", "images/logo.svg", "app/design/frontend/Acme/base/web/images/logo.svg", false},
		{"parent theme, other locale", "fr_FR", "css/x.css", "app/design/frontend/Acme/base/web/css/x.css", false},
		{"library", "de_DE", "mage/translate.js", "lib/web/mage/translate.js", false},
		{"module area, other locale", "en_US", "Acme_Catalog/js/price-format.js", "app/code/Acme/Catalog/view/frontend/web/js/price-format.js", false},
		{"module, other locale", "fr_FR", "Acme_Ui/template/modal.html", "app/code/Acme/Ui/view/frontend/web/template/modal.html", false},
		{"disabled module", "de_DE", "Acme_Legacy/js/old.js", "", false},
		{"locale directory is not a path", "de_DE", "i18n/de_DE/images/logo.svg", "", false},
		{"module locale directory is not a path", "de_DE", "Acme_Checkout/i18n/de_DE/js/summary.js", "", false},
	}
	for _, c := range cases {
		t.Run(c.level, func(t *testing.T) {
			f, l := resolveLayers(m.Layers("frontend", shop, c.locale), c.path)
			got := ""
			if f != "" {
				got = rels(t, m.Root, []string{f})[0]
			}
			if got != c.want {
				t.Fatalf("%s (%s) is served by %q, want %q", c.path, c.locale, got, c.want)
			}
			if f != "" && l.Locale != c.localeLayer {
				t.Errorf("layer %+v: Locale = %v, want %v", l, l.Locale, c.localeLayer)
			}
		})
	}

	// The adminhtml theme sees no frontend module files, its own web/ and lib/web.
	back := m.Chain("adminhtml", "Acme/backend")
	for p, want := range map[string]string{
		"css/admin.css":              "app/design/adminhtml/Acme/backend/web/css/admin.css",
		"mage/translate.js":          "lib/web/mage/translate.js",
		"Acme_Catalog/js/gallery.js": "",
		"Acme_Ui/js/modal.js":        "app/code/Acme/Ui/view/base/web/js/modal.js",
	} {
		f, _ := resolveLayers(m.Layers("adminhtml", back, "de_DE"), p)
		got := ""
		if f != "" {
			got = rels(t, m.Root, []string{f})[0]
		}
		if got != want {
			t.Errorf("adminhtml: %s is served by %q, want %q", p, got, want)
		}
	}
}

func TestMagentoLayersShape(t *testing.T) {
	m := loadMagentoFixture(t)
	shop := m.Chain("frontend", "Acme/shop")
	de := m.Layers("frontend", shop, "de_DE")
	for _, l := range de {
		if fi, err := os.Stat(l.Dir); err != nil || !fi.IsDir() {
			t.Errorf("layer %s does not exist", l.Dir)
		}
		if l.Locale && l.Skip != "" || !l.Locale && l.Prefix != "" && l.Skip != "i18n" {
			t.Errorf("layer %+v: Skip", l)
		}
	}
	// The non-locale layers do not depend on the locale.
	plain := func(ls []Layer) []Layer {
		var out []Layer
		for _, l := range ls {
			if !l.Locale {
				out = append(out, l)
			}
		}
		return out
	}
	if a, b := plain(de), plain(m.Layers("frontend", shop, "fr_FR")); !reflect.DeepEqual(a, b) {
		t.Errorf("non-locale layers differ between locales:\n%v\n%v", a, b)
	}
	var got []string
	for _, l := range de {
		s := l.Prefix + " " + rels(t, m.Root, []string{l.Dir})[0]
		if l.Locale {
			s += " (locale)"
		}
		got = append(got, s)
	}
	want := []string{
		"Acme_Ui/ app/design/frontend/Acme/shop/Acme_Ui/web/i18n/de_DE (locale)",
		"Acme_Ui/ app/design/frontend/Acme/shop/Acme_Ui/web",
		"Acme_Ui/ app/code/Acme/Ui/view/frontend/web",
		"Acme_Ui/ app/code/Acme/Ui/view/base/web",
		"Acme_Catalog/ app/code/Acme/Catalog/view/base/web/i18n/de_DE (locale)",
		"Acme_Catalog/ app/code/Acme/Catalog/view/frontend/web",
		"Acme_Catalog/ app/code/Acme/Catalog/view/base/web",
		"Acme_Checkout/ app/design/frontend/Acme/base/Acme_Checkout/web/i18n/de_DE (locale)",
		"Acme_Checkout/ app/design/frontend/Acme/base/Acme_Checkout/web",
		"Acme_Checkout/ app/code/Acme/Checkout/view/frontend/web/i18n/de_DE (locale)",
		"Acme_Checkout/ app/code/Acme/Checkout/view/frontend/web",
		"Acme_Checkout/ app/code/Acme/Checkout/view/base/web",
		"Acme_Reviews/ vendor/acme/module-reviews/view/frontend/web",
		" app/design/frontend/Acme/shop/web/i18n/de_DE (locale)",
		" app/design/frontend/Acme/shop/web",
		" app/design/frontend/Acme/base/web/i18n/de_DE (locale)",
		" app/design/frontend/Acme/base/web",
		" lib/web",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layers:\n got %q\nwant %q", got, want)
	}
}

// TestMagentoLayersCallerChain: a chain whose themes LoadMagento did not
// return (built from themes.yml, say) is listed on first use, safely from
// several goroutines.
func TestMagentoLayersCallerChain(t *testing.T) {
	m := loadMagentoFixture(t)
	chain := []*matrix.Theme{
		{Name: "Acme/shop", Area: "frontend", Path: filepath.Join(m.Root, "app/design/frontend/Acme/shop") + "/"},
		{Name: "Acme/base", Area: "frontend", Path: filepath.Join(m.Root, "app/design/frontend/Acme/base")},
	}
	want := m.Layers("frontend", m.Chain("frontend", "Acme/shop"), "de_DE")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := m.Layers("frontend", chain, "de_DE"); !reflect.DeepEqual(got, want) {
				t.Errorf("layers of a caller's chain differ")
			}
			m.Dictionaries("frontend", chain, "de_DE")
			m.RequireJS("frontend", chain)
		})
	}
	wg.Wait()
}

func TestMagentoDictionaries(t *testing.T) {
	m := loadMagentoFixture(t)
	shop := m.Chain("frontend", "Acme/shop")
	got := rels(t, m.Root, m.Dictionaries("frontend", shop, "de_DE"))
	want := []string{
		"app/code/Acme/Ui/i18n/de_DE.csv",
		"app/code/Acme/Catalog/i18n/de_DE.csv",
		"app/code/Acme/Checkout/i18n/de_DE.csv",
		"app/i18n/acme/de_base/de_DE.csv",
		"app/i18n/acme/de_de/a.csv",
		"app/i18n/acme/de_de/b.csv",
		"app/design/frontend/Acme/base/i18n/de_DE.csv",
		"app/design/frontend/Acme/shop/i18n/de_DE.csv",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("de_DE dictionaries:\n got %q\nwant %q", got, want)
	}
	got = rels(t, m.Root, m.Dictionaries("frontend", shop, "fr_FR"))
	want = []string{"app/i18n/acme/fr_fr/fr_FR.csv"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fr_FR dictionaries: got %q, want %q", got, want)
	}
	if got := m.Dictionaries("frontend", shop, "en_US"); len(got) != 0 {
		t.Errorf("en_US dictionaries: %q", got)
	}
}

func TestMagentoPackInheritance(t *testing.T) {
	m := loadMagentoFixture(t)
	var got []string
	for _, p := range m.Packs("de_DE") {
		got = append(got, p.Vendor+"/"+p.Package)
	}
	// acme/de_base declares de_DE itself (level 0) and is inherited by
	// acme/de_de (level 1): it counts at the deeper level, so it is merged
	// first whatever the sort orders say.
	if want := []string{"acme/de_base", "acme/de_de"}; !reflect.DeepEqual(got, want) {
		t.Errorf("de_DE packs: got %q, want %q", got, want)
	}

	// Levels first (deepest first), then sort_order, then vendor|package.
	root := t.TempDir()
	pack := func(pkg, code, extra string) {
		writeFile(t, root, "app/i18n/x/"+pkg+"/registration.php",
			"<?php\n\\Magento\\Framework\\Component\\ComponentRegistrar::register(\\Magento\\Framework\\Component\\ComponentRegistrar::LANGUAGE, 'x_"+pkg+"', __DIR__);\n")
		writeFile(t, root, "app/i18n/x/"+pkg+"/language.xml",
			"<language><code>"+code+"</code><vendor>x</vendor><package>"+pkg+"</package>"+extra+"</language>\n")
		writeFile(t, root, "app/i18n/x/"+pkg+"/"+pkg+".csv", "\"a\",\""+pkg+"\"\n")
	}
	pack("late", "xx_XX", "<sort_order>5</sort_order><use vendor='x' package='parent'/>")
	pack("early", "xx_XX", "<sort_order>1</sort_order>")
	pack("tie", "xx_XX", "<sort_order>1</sort_order>")
	pack("parent", "yy_YY", "<use vendor='x' package='grand'/>")
	pack("grand", "zz_ZZ", "")
	pack("other", "yy_YY", "")
	m2, err := LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, p := range m2.Packs("xx_XX") {
		got = append(got, p.Package)
	}
	if want := []string{"grand", "parent", "early", "tie", "late"}; !reflect.DeepEqual(got, want) {
		t.Errorf("xx_XX packs: got %q, want %q", got, want)
	}
	if got, want := m2.Locales(), []string{"en_US", "xx_XX", "yy_YY", "zz_ZZ"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Locales() = %q, want %q", got, want)
	}
}

func TestMagentoRequireJS(t *testing.T) {
	m := loadMagentoFixture(t)
	var got []string
	for _, f := range m.RequireJS("frontend", m.Chain("frontend", "Acme/shop")) {
		got = append(got, rels(t, m.Root, []string{f.Path})[0]+" "+f.Module)
	}
	want := []string{
		"app/code/Acme/Ui/view/frontend/requirejs-config.js Acme_Ui",
		"app/code/Acme/Catalog/view/base/requirejs-config.js Acme_Catalog",
		"app/code/Acme/Catalog/view/frontend/requirejs-config.js Acme_Catalog",
		"app/code/Acme/Checkout/view/frontend/requirejs-config.js Acme_Checkout",
		"app/design/frontend/Acme/base/Acme_Checkout/requirejs-config.js Acme_Checkout",
		"app/design/frontend/Acme/base/requirejs-config.js ",
		"app/design/frontend/Acme/shop/requirejs-config.js ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requirejs-config.js files:\n got %q\nwant %q", got, want)
	}
	got = nil
	for _, f := range m.RequireJS("adminhtml", m.Chain("adminhtml", "Acme/backend")) {
		got = append(got, rels(t, m.Root, []string{f.Path})[0])
	}
	if want := []string{"app/code/Acme/Catalog/view/base/requirejs-config.js"}; !reflect.DeepEqual(got, want) {
		t.Errorf("adminhtml requirejs-config.js files: got %q, want %q", got, want)
	}
}

// TestMagentoComposerInstalled: a package that keeps registration.php in
// src/ is found through vendor/composer/installed.json, in Composer 2's
// format (install-path) and Composer 1's (vendor/<name>).
func TestMagentoComposerInstalled(t *testing.T) {
	for name, installed := range map[string]string{
		"composer2": `{"packages": [{"name": "acme/module-wishlist", "install-path": "../acme/wish-list",
			"autoload": {"files": ["src/registration.php"], "psr-4": {"Acme\\Wishlist\\": "src/"}}}], "dev": false}`,
		"composer1": `[{"name": "acme/wish-list", "autoload": {"files": ["src/registration.php"]}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			root := copyMagentoFixture(t)
			writeFile(t, root, "vendor/composer/installed.json", installed)
			writeFile(t, root, "vendor/acme/wish-list/src/registration.php",
				"<?php\nuse Magento\\Framework\\Component\\ComponentRegistrar;\nComponentRegistrar::register(ComponentRegistrar::MODULE, 'Acme_Wishlist', __DIR__);\n")
			writeFile(t, root, "vendor/acme/wish-list/src/view/frontend/web/js/wishlist.js", "define([], function () {});\n")
			cfg := filepath.Join(root, "app", "etc", "config.php")
			b, _ := os.ReadFile(cfg)
			writeFile(t, root, "app/etc/config.php", strings.Replace(string(b), "'Acme_Reviews' => 1,", "'Acme_Reviews' => 1,\n        'Acme_Wishlist' => 1,", 1))
			m, err := LoadMagento(root)
			if err != nil {
				t.Fatal(err)
			}
			mods := m.Modules()
			last := mods[len(mods)-1]
			if last.Name != "Acme_Wishlist" || last.Dir != filepath.Join(root, "vendor", "acme", "wish-list", "src") {
				t.Fatalf("last module %+v", last)
			}
			f, _ := resolveLayers(m.Layers("frontend", m.Chain("frontend", "Acme/shop"), "en_US"), "Acme_Wishlist/js/wishlist.js")
			if f == "" {
				t.Errorf("Acme_Wishlist/js/wishlist.js not served")
			}
		})
	}
}

func TestMagentoWarnings(t *testing.T) {
	root := copyMagentoFixture(t)
	cfg := filepath.Join(root, "app", "etc", "config.php")
	b, _ := os.ReadFile(cfg)
	writeFile(t, root, "app/etc/config.php", strings.Replace(string(b), "'Acme_Legacy' => 0,", "'Acme_Gone' => 1,", 1))
	m, err := LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range m.Warnings {
		var de *diag.Error
		if !errors.As(w, &de) || de.Kind != diag.Config {
			t.Errorf("warning %v is not a configuration *diag.Error", w)
			continue
		}
		got = append(got, strings.TrimPrefix(w.Error(), root+string(filepath.Separator)))
	}
	want := []string{
		"app/code/Acme/Legacy/registration.php: module Acme_Legacy is registered but not listed in app/etc/config.php (run bin/magento setup:upgrade); it is left out",
		"app/etc/config.php:6:9: module Acme_Gone is enabled but no registration.php registers it; it is left out",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n got %q\nwant %q", got, want)
	}
	if n := len(m.Modules()); n != 4 {
		t.Errorf("%d modules, want 4", n)
	}
}

// TestMagentoConfigErrors: each broken file of a project is a located
// configuration error.
func TestMagentoConfigErrors(t *testing.T) {
	const shopXML = "app/design/frontend/Acme/shop/theme.xml"
	const reviewsReg = "vendor/acme/module-reviews/registration.php"
	cases := []struct {
		name  string
		edit  map[string]string // relative file → new content
		swap  [3]string         // file, old, new: a one-place edit
		wants []string          // "file:line:col: message part", in the errors' sorted order
	}{
		{
			name:  "unparsable theme.xml",
			edit:  map[string]string{shopXML: "<theme>\n    <title>Acme Shop</title>\n    <parent>Acme/base</parent\n</theme>\n"},
			wants: []string{shopXML + ":4:1: invalid XML: invalid characters between </parent and >"},
		},
		{
			name:  "parent of another area",
			swap:  [3]string{shopXML, "<parent>Acme/base</parent>", "<parent>Acme/backend</parent>"},
			wants: []string{shopXML + ":4:13: parent theme Acme/backend of frontend/Acme/shop is not a frontend theme (Acme/backend is a theme of area adminhtml"},
		},
		{
			name:  "missing parent",
			swap:  [3]string{shopXML, "<parent>Acme/base</parent>", "<parent>base2</parent>"},
			wants: []string{shopXML + ":4:13: parent theme Acme/base2 of frontend/Acme/shop is not a frontend theme"},
		},
		{
			name: "parent cycle",
			swap: [3]string{"app/design/frontend/Acme/base/theme.xml", "<title>Acme Base</title>", "<title>Acme Base</title>\n    <parent>Acme/shop</parent>"},
			wants: []string{
				"app/design/frontend/Acme/base/theme.xml:3:13: theme frontend/Acme/base is its own ancestor",
				shopXML + ":4:13: theme frontend/Acme/shop is its own ancestor",
			},
		},
		{
			name:  "theme.xml without title",
			swap:  [3]string{shopXML, "<title>Acme Shop</title>", "<title> </title>"},
			wants: []string{shopXML + ":3:5: a theme needs a non-empty <title>"},
		},
		{
			name:  "use of a missing pack",
			swap:  [3]string{"app/i18n/acme/de_de/language.xml", `package="de_base"`, `package="de_nope"`},
			wants: []string{"app/i18n/acme/de_de/language.xml:7:5: <use vendor=\"acme\" package=\"de_nope\"/>: there is no such language pack"},
		},
		{
			name:  "use cycle",
			swap:  [3]string{"app/i18n/acme/de_base/language.xml", "</language>", "    <use vendor=\"acme\" package=\"de_de\"/>\n</language>"},
			wants: []string{"app/i18n/acme/de_de/language.xml:7:5: <use vendor=\"acme\" package=\"de_base\"/> makes a cycle of language packs"},
		},
		{
			name:  "bad language code",
			swap:  [3]string{"app/i18n/acme/fr_fr/language.xml", "<code>fr_FR</code>", "<code>fr-FR</code>"},
			wants: []string{"app/i18n/acme/fr_fr/language.xml:3:11: <code>fr-FR</code> is not a language code"},
		},
		{
			name:  "bad sort_order",
			swap:  [3]string{"app/i18n/acme/de_de/language.xml", "<sort_order>10</sort_order>", "<sort_order>ten</sort_order>"},
			wants: []string{"app/i18n/acme/de_de/language.xml:6:17: <sort_order>ten</sort_order> is not an integer"},
		},
		{
			name:  "unparsable language.xml",
			swap:  [3]string{"app/i18n/acme/fr_fr/language.xml", "</package>", "</packag>"},
			wants: []string{"app/i18n/acme/fr_fr/language.xml:5:19: invalid XML: element <package> closed by </packag>"},
		},
		{
			name:  "pack registered under another name",
			swap:  [3]string{"app/i18n/acme/fr_fr/registration.php", "'acme_fr_fr'", "'acme_fr'"},
			wants: []string{"app/i18n/acme/fr_fr/registration.php:4:60: language pack registered as \"acme_fr\", but its language.xml declares vendor acme and package fr_fr"},
		},
		{
			name:  "registration.php that registers nothing",
			edit:  map[string]string{reviewsReg: "<?php\n// ComponentRegistrar::register(ComponentRegistrar::MODULE, 'Acme_Reviews', __DIR__);\n"},
			wants: []string{reviewsReg + ":1:1: registers nothing"},
		},
		{
			name:  "registration.php with a path Magento cannot mean",
			swap:  [3]string{reviewsReg, "__DIR__", "$dir"},
			wants: []string{reviewsReg + ":4:74: expected the component path (__DIR__, optionally followed by . '/sub'), found '$dir'"},
		},
		{
			name:  "registration.php with an unknown type",
			swap:  [3]string{reviewsReg, "::MODULE", "::PLUGIN"},
			wants: []string{reviewsReg + ":4:50: unknown component type 'PLUGIN'"},
		},
		{
			name:  "module registered twice",
			edit:  map[string]string{"app/code/Acme/Reviews/registration.php": "<?php\nuse Magento\\Framework\\Component\\ComponentRegistrar;\n\nComponentRegistrar::register(ComponentRegistrar::MODULE, 'Acme_Reviews', __DIR__);\n"},
			wants: []string{"app/code/Acme/Reviews/registration.php:4:58: module \"Acme_Reviews\" is already registered by "},
		},
		{
			name:  "config.php: missing comma",
			swap:  [3]string{"app/etc/config.php", "'Acme_Ui' => 1,", "'Acme_Ui' => 1"},
			wants: []string{"app/etc/config.php:5:9: expected ',' or ']', found \"Acme_Catalog\""},
		},
		{
			name:  "config.php: a value that is not 0 or 1",
			swap:  [3]string{"app/etc/config.php", "'Acme_Legacy' => 0", "'Acme_Legacy' => 2"},
			wants: []string{"app/etc/config.php:6:26: module Acme_Legacy: expected 0 or 1"},
		},
		{
			name:  "config.php: not an array",
			edit:  map[string]string{"app/etc/config.php": "<?php\nreturn 5;\n"},
			wants: []string{"app/etc/config.php:2:8: config.php must return an array"},
		},
		{
			name:  "config.php: unterminated string",
			edit:  map[string]string{"app/etc/config.php": "<?php\nreturn ['modules' => ['Acme_Ui => 1]];\n"},
			wants: []string{"app/etc/config.php:2:23: unterminated string"},
		},
		{
			name:  "config.php without modules",
			edit:  map[string]string{"app/etc/config.php": "<?php\nreturn ['system' => []];\n"},
			wants: []string{"app/etc/config.php:1:1: config.php has no 'modules' list"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := copyMagentoFixture(t)
			for f, s := range c.edit {
				writeFile(t, root, f, s)
			}
			if c.swap[0] != "" {
				b, err := os.ReadFile(filepath.Join(root, c.swap[0]))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), c.swap[1]) {
					t.Fatalf("%s does not contain %q", c.swap[0], c.swap[1])
				}
				writeFile(t, root, c.swap[0], strings.Replace(string(b), c.swap[1], c.swap[2], 1))
			}
			_, err := LoadMagento(root)
			if err == nil {
				t.Fatal("no error")
			}
			if diag.KindOf(err) != diag.Config {
				t.Errorf("kind %v, want Config", diag.KindOf(err))
			}
			errs := diag.Flatten(err)
			if len(errs) != len(c.wants) {
				t.Errorf("%d errors, want %d:\n%v", len(errs), len(c.wants), err)
			}
			for i, e := range errs {
				var de *diag.Error
				if !errors.As(e, &de) {
					t.Errorf("%v is not a *diag.Error", e)
					continue
				}
				if de.Line > 0 && de.Source == "" {
					t.Errorf("%v: no source line", e)
				}
				got := strings.TrimPrefix(e.Error(), root+string(filepath.Separator))
				if i < len(c.wants) && !strings.HasPrefix(got, c.wants[i]) {
					t.Errorf("error %d:\n got %s\nwant %s…", i, got, c.wants[i])
				}
			}
		})
	}
}

func TestMagentoNotARoot(t *testing.T) {
	if _, err := LoadMagento(filepath.Join(t.TempDir(), "nope")); err == nil || diag.KindOf(err) != diag.Config {
		t.Errorf("missing root: %v", err)
	}
}

func TestParseRegistrationSpellings(t *testing.T) {
	cases := []struct {
		name, src string
		want      []registration
	}{
		{"imported class", "<?php\nuse Magento\\Framework\\Component\\ComponentRegistrar;\nComponentRegistrar::register(ComponentRegistrar::MODULE, 'A_B', __DIR__);",
			[]registration{{Type: compModule, Name: "A_B", Dir: "/m"}}},
		{"fully qualified, double quotes, multi-line, trailing comma", "<?php\n\\Magento\\Framework\\Component\\ComponentRegistrar::register(\n  \\Magento\\Framework\\Component\\ComponentRegistrar::THEME,\n  \"frontend/A/b\",\n  __DIR__,\n);\n",
			[]registration{{Type: compTheme, Name: "frontend/A/b", Dir: "/m"}}},
		{"src concatenation", "<?php ComponentRegistrar::register(ComponentRegistrar::MODULE, 'A_B', __DIR__ . '/src');",
			[]registration{{Type: compModule, Name: "A_B", Dir: "/m/src"}}},
		{"DIRECTORY_SEPARATOR", "<?php ComponentRegistrar::register(ComponentRegistrar::MODULE, 'A_B', __DIR__ . DIRECTORY_SEPARATOR . 'src');",
			[]registration{{Type: compModule, Name: "A_B", Dir: "/m/src"}}},
		{"dirname", "<?php ComponentRegistrar::register(ComponentRegistrar::LANGUAGE, 'a_b', dirname(__DIR__));",
			[]registration{{Type: compLanguage, Name: "a_b", Dir: "/"}}},
		{"isset($file) ternary (Vertex)", "<?php\nComponentRegistrar::register(\n ComponentRegistrar::MODULE,\n 'Vertex_Tax',\n isset($file) ? realpath(dirname($file)) : __DIR__\n);",
			[]registration{{Type: compModule, Name: "Vertex_Tax", Dir: "/m"}}},
		{"guarded (Amazon)", "<?php\n$registrar = new ComponentRegistrar();\nif ($registrar->getPath(ComponentRegistrar::MODULE, 'Amazon_Core') === null) {\n    ComponentRegistrar::register(ComponentRegistrar::MODULE, 'Amazon_Core', __DIR__);\n}\n",
			[]registration{{Type: compModule, Name: "Amazon_Core", Dir: "/m"}}},
		{"comments are not calls", "<?php\n/* ComponentRegistrar::register(ComponentRegistrar::MODULE, 'X_Y', __DIR__); */\n# ComponentRegistrar::register(ComponentRegistrar::MODULE, 'X_Z', __DIR__);\nComponentRegistrar::register(ComponentRegistrar::LIBRARY, 'magento/framework', __DIR__);",
			[]registration{{Type: compLibrary, Name: "magento/framework", Dir: "/m"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseRegistration([]byte(c.src), "/m")
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Off, got[i].NameOff = 0, 0
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestOwnLayers: scd's own layout, for comparison with Magento's — each
// theme's web/i18n/<locale> then web/, child first, then the libraries;
// dictionaries parent first; no RequireJS.
func TestOwnLayers(t *testing.T) {
	chain := []*matrix.Theme{{Name: "A/child", Path: "/t/child"}, {Name: "A/parent", Path: "/t/parent"}}
	o := Own{Libs: []string{"/lib/web"}}
	got := o.Layers("frontend", chain, "de_DE")
	want := []Layer{
		{Dir: "/t/child/web/i18n/de_DE", Locale: true},
		{Dir: "/t/child/web", Skip: "i18n"},
		{Dir: "/t/parent/web/i18n/de_DE", Locale: true},
		{Dir: "/t/parent/web", Skip: "i18n"},
		{Dir: "/lib/web"},
	}
	for i := range want {
		want[i].Dir = filepath.FromSlash(want[i].Dir)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Own.Layers:\n got %+v\nwant %+v", got, want)
	}
	dicts := o.Dictionaries("frontend", chain, "de_DE")
	if want := []string{filepath.FromSlash("/t/parent/i18n/de_DE.csv"), filepath.FromSlash("/t/child/i18n/de_DE.csv")}; !reflect.DeepEqual(dicts, want) {
		t.Errorf("Own.Dictionaries = %q, want %q", dicts, want)
	}
	if rj := o.RequireJS("frontend", chain); rj != nil {
		t.Errorf("Own.RequireJS = %v", rj)
	}
}

// TestMagentoComposerInstalledBroken: an installed.json that does not
// decode is an error at its line and column, in either format, with the
// decoder's own message for that format.
func TestMagentoComposerInstalledBroken(t *testing.T) {
	for name, c := range map[string]struct{ installed, want string }{
		"composer2": {"{\"packages\": [\n  {\"name\": 7}]}", "vendor/composer/installed.json:2:12: cannot read Composer's installed packages: json: cannot unmarshal number into Go struct field"},
		"composer1": {"[\n  {\"name\": \"a\",,}]", "vendor/composer/installed.json:2:16: cannot read Composer's installed packages: invalid character ','"},
	} {
		t.Run(name, func(t *testing.T) {
			root := copyMagentoFixture(t)
			writeFile(t, root, "vendor/composer/installed.json", c.installed)
			_, err := LoadMagento(root)
			if err == nil {
				t.Fatal("a broken installed.json loaded")
			}
			if got := strings.ReplaceAll(err.Error(), root+string(filepath.Separator), ""); !strings.Contains(got, c.want) {
				t.Errorf("error %q, want it to contain %q", got, c.want)
			}
		})
	}
}
