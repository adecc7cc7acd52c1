package source

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// inUseProject is fixtures/magento's tree with app/etc/config.php
// replaced by config (and extra files written), loaded.
func inUseProject(t *testing.T, config string, extra map[string]string) *Magento {
	t.Helper()
	dir := copyMagentoFixture(t)
	files := map[string]string{"app/etc/config.php": config}
	for k, v := range extra {
		files[k] = v
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := LoadMagento(dir)
	if err != nil {
		t.Fatalf("LoadMagento: %v", err)
	}
	return m
}

const inUseModules = `'modules' => ['Acme_Ui' => 1, 'Acme_Catalog' => 1, 'Acme_Legacy' => 0, 'Acme_Checkout' => 1, 'Acme_Reviews' => 1],`

// inUseScopes is config.php's scopes as app:config:dump writes them: the
// admin website and store view, two websites, three store views.
const inUseScopes = `
  'scopes' => [
    'websites' => [
      'admin' => ['website_id' => '0', 'code' => 'admin', 'name' => 'Admin', 'default_group_id' => '0', 'is_default' => '0'],
      'base' => ['website_id' => '1', 'code' => 'base', 'name' => 'Main Website', 'default_group_id' => '1', 'is_default' => '1'],
      'outlet' => ['website_id' => '2', 'code' => 'outlet', 'name' => 'Outlet', 'default_group_id' => '2', 'is_default' => '0'],
    ],
    'groups' => [
      0 => ['group_id' => '0', 'website_id' => '0', 'code' => 'default', 'root_category_id' => '0', 'default_store_id' => '0'],
      1 => ['group_id' => '1', 'website_id' => '1', 'code' => 'main', 'root_category_id' => '2', 'default_store_id' => '1'],
    ],
    'stores' => [
      'admin' => ['store_id' => '0', 'code' => 'admin', 'website_id' => '0', 'group_id' => '0', 'is_active' => '1'],
      'default' => ['store_id' => '1', 'code' => 'default', 'website_id' => '1', 'group_id' => '1', 'is_active' => '1'],
      'german' => ['store_id' => '2', 'code' => 'german', 'website_id' => '1', 'group_id' => '1', 'is_active' => '1'],
      'outlet_fr' => ['store_id' => '3', 'code' => 'outlet_fr', 'website_id' => '2', 'group_id' => '2', 'is_active' => '1'],
    ],
  ],`

type inUseRow struct {
	theme   string
	locales string
	stores  string
	dflt    string
	admin   bool
	from    string
}

// inUseRows flattens iu's themes for comparison, files relative to m's
// root.
func inUseRows(m *Magento, iu *InUse) []inUseRow {
	var rows []inUseRow
	for _, u := range iu.Themes {
		from := strings.TrimPrefix(u.DefaultFrom, m.Root+string(filepath.Separator))
		rows = append(rows, inUseRow{u.Theme.Area + "/" + u.Theme.Name, strings.Join(u.Locales, " "),
			strings.Join(u.Stores, " "), strings.Join(u.Default, " "), u.Admin, filepath.ToSlash(from)})
	}
	return rows
}

func TestThemesInUse(t *testing.T) {
	m := inUseProject(t, `<?php
return [
  `+inUseModules+inUseScopes+`
  'system' => [
    'default' => [
      'general' => ['locale' => ['code' => 'en_US']],
      'design' => ['theme' => ['theme_id' => 'frontend/Acme/shop']],
    ],
    'websites' => [
      'outlet' => ['general' => ['locale' => ['code' => 'fr_FR']], 'design' => ['theme' => ['theme_id' => 'frontend/Acme/base']]],
    ],
    'stores' => [
      'german' => ['general' => ['locale' => ['code' => 'de_DE']]],
    ],
  ],
  'themes' => [
    'frontend/Acme/base' => ['parent_id' => NULL, 'theme_path' => 'Acme/base', 'area' => 'frontend', 'type' => '0', 'code' => 'Acme/base'],
    'frontend/Acme/shop' => ['parent_id' => 'Acme/base', 'theme_path' => 'Acme/shop', 'area' => 'frontend', 'type' => '0', 'code' => 'Acme/shop'],
  ],
];
`, map[string]string{
		// A module's adminhtml di.xml sets the admin theme.
		"app/code/Acme/Ui/etc/adminhtml/di.xml": `<?xml version="1.0"?>
<config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <type name="Magento\Theme\Model\View\Design">
        <arguments>
            <argument name="themes" xsi:type="array">
                <item name="adminhtml" xsi:type="string">Acme/backend</item>
            </argument>
        </arguments>
    </type>
</config>
`,
	})
	iu := m.ThemesInUse()
	if iu.Unknown != "" || len(iu.Notes) > 0 {
		t.Fatalf("unknown %q, notes %q", iu.Unknown, iu.Notes)
	}
	want := []inUseRow{
		// The admin: en_US and every store view's locale.
		{theme: "adminhtml/Acme/backend", locales: "de_DE en_US fr_FR", admin: true, from: "app/code/Acme/Ui/etc/adminhtml/di.xml"},
		{theme: "frontend/Acme/base", locales: "fr_FR", stores: "outlet_fr"},
		{theme: "frontend/Acme/shop", locales: "de_DE en_US", stores: "default german"},
	}
	if got := inUseRows(m, iu); !reflect.DeepEqual(got, want) {
		t.Errorf("themes in use:\n%+v\nwant:\n%+v", got, want)
	}
}

func TestThemesInUseDefaultsAndVirtual(t *testing.T) {
	// A store view without a theme gets Magento's default (Magento/luma,
	// here replaced by a module's di.xml); a virtual theme leads to its
	// parent; admin_user's locales are the admin's; single-store mode
	// reads the default scope's theme alone.
	m := inUseProject(t, `<?php
return [
  `+inUseModules+inUseScopes+`
  'system' => [
    'websites' => ['outlet' => ['design' => ['theme' => ['theme_id' => 'frontend/Acme/seasonal']]]],
    'stores' => ['german' => ['general' => ['locale' => ['code' => 'de_DE']]]],
  ],
  'themes' => [
    'frontend/Acme/seasonal' => ['parent_id' => 'Acme/shop', 'theme_path' => 'Acme/seasonal', 'area' => 'frontend', 'type' => '1', 'code' => 'Acme/seasonal'],
  ],
  'admin_user' => ['locale' => ['code' => ['fr_FR']]],
];
`, map[string]string{
		"app/code/Acme/Catalog/etc/di.xml": `<config><type name="\Magento\Theme\Model\View\Design"><arguments>
<argument name="themes"><item name="frontend">Acme/base</item></argument></arguments></type></config>`,
	})
	iu := m.ThemesInUse()
	if iu.Unknown != "" {
		t.Fatal(iu.Unknown)
	}
	wantNotes := []string{
		"store view outlet_fr uses frontend/Acme/seasonal, a theme without files (virtual): its parent frontend/Acme/shop is built",
		"the admin theme Magento/backend (Magento's default) is not a theme of the project: no admin theme is built",
	}
	if !reflect.DeepEqual(iu.Notes, wantNotes) {
		t.Errorf("notes:\n%q\nwant:\n%q", iu.Notes, wantNotes)
	}
	want := []inUseRow{
		{theme: "frontend/Acme/base", locales: "de_DE en_US", dflt: "default german", from: "app/code/Acme/Catalog/etc/di.xml"},
		{theme: "frontend/Acme/shop", locales: "en_US", stores: "outlet_fr"},
	}
	if got := inUseRows(m, iu); !reflect.DeepEqual(got, want) {
		t.Errorf("themes in use:\n%+v\nwant:\n%+v", got, want)
	}

	// Single-store mode: the default scope's theme for every store view.
	m = inUseProject(t, `<?php
return [
  `+inUseModules+inUseScopes+`
  'system' => [
    'default' => ['general' => ['single_store_mode' => ['enabled' => 1]], 'design' => ['theme' => ['theme_id' => 'Acme/base']]],
    'stores' => ['german' => ['design' => ['theme' => ['theme_id' => 'frontend/Acme/shop']]]],
  ],
];
`, nil)
	iu = m.ThemesInUse()
	want = []inUseRow{{theme: "frontend/Acme/base", locales: "en_US", stores: "default german outlet_fr"}}
	if got := inUseRows(m, iu); iu.Unknown != "" || !reflect.DeepEqual(got, want) {
		t.Errorf("single store: %q\n%+v\nwant:\n%+v", iu.Unknown, got, want)
	}
}

func TestThemesInUseUnknown(t *testing.T) {
	system := func(theme string) string {
		return `'system' => ['default' => ['design' => ['theme' => ['theme_id' => ` + theme + `]]]],`
	}
	tests := []struct{ name, config, want string }{
		{"no scopes", `<?php return [` + inUseModules + system(`'frontend/Acme/shop'`) + `];`,
			"it lists no store views (scopes → stores: bin/magento app:config:dump scopes themes system writes them)"},
		{"no theme", `<?php return [` + inUseModules + inUseScopes + `'system' => []];`,
			"it assigns no theme to a store view (system → design/theme/theme_id: bin/magento app:config:dump scopes themes system writes it)"},
		{"database id", `<?php return [` + inUseModules + inUseScopes + system(`3`) + `];`,
			"store view default: design/theme/theme_id is the database id 3, not a theme path (app:config:dump writes area/Vendor/theme)"},
		{"unknown theme", `<?php return [` + inUseModules + inUseScopes + system(`'frontend/Acme/gone'`) + `];`,
			"store view default: theme frontend/Acme/gone is not a theme of the project"},
		{"bad locale", `<?php return [` + inUseModules + inUseScopes + system(`'frontend/Acme/shop'`) +
			`'system' => ['default' => ['general' => ['locale' => ['code' => 'german']]]]];`,
			`store view default: general/locale/code "german" is not a locale code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iu := inUseProject(t, tt.config, nil).ThemesInUse()
			if iu.Unknown != tt.want || len(iu.Themes) > 0 {
				t.Errorf("unknown:\n%s\nwant:\n%s\nthemes %+v", iu.Unknown, tt.want, iu.Themes)
			}
		})
	}
	// The fixture's own config.php has a system section but no scopes.
	if iu := loadMagentoFixture(t).ThemesInUse(); !strings.HasPrefix(iu.Unknown, "it lists no store views") || iu.File != filepath.Join(magentoFixture(t), "app", "etc", "config.php") {
		t.Errorf("fixture: %+v", iu)
	}
}

func TestPHPValueGet(t *testing.T) {
	top, err := parsePHPReturn([]byte(`<?php return ['a' => ['x', 'y', 5 => 'z', 'w', 'k' => 1, 'k' => 2], 'b' => array('c' => true, 'd' => null)];`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		keys []string
		want string
		ok   bool
	}{
		{[]string{"a", "0"}, "x", true},
		{[]string{"a", "1"}, "y", true},
		{[]string{"a", "5"}, "z", true},
		{[]string{"a", "6"}, "w", true},
		{[]string{"a", "k"}, "2", true},
		{[]string{"b", "c"}, "1", true},
		{[]string{"b", "d"}, "", false},
		{[]string{"b", "e"}, "", false},
		{[]string{"a"}, "", false},
		{[]string{"a", "0", "deeper"}, "", false},
	} {
		got, ok := top.path(tt.keys...).scalar()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%v: %q %v, want %q %v", tt.keys, got, ok, tt.want, tt.ok)
		}
	}
	if keys, _ := top.get("a").entries(); strings.Join(keys, ",") != "0,1,5,6,k" {
		t.Errorf("keys %v", keys)
	}
}

// FuzzConfigScopes: reading a config.php's scopes, design and locale
// settings and themes must not panic, and whatever it accepts is usable.
func FuzzConfigScopes(f *testing.F) {
	seedMagento(f, "app/etc/config.php",
		`<?php return [`+inUseScopes+`'system' => ['default' => ['design' => ['theme' => ['theme_id' => 'frontend/A/b']]]], 'themes' => ['A/b' => ['area' => 'frontend', 'parent_id' => 'A/c']], 'admin_user' => ['locale' => ['code' => 'de_DE']]];`,
		`<?php return ['scopes' => ['stores' => [['code' => 'x', 'website_id' => [1]]]], 'system' => ['stores' => ['x' => ['design' => ['theme' => ['theme_id' => 7]]]]], 'themes' => [1, 'a/b/c' => null]];`,
		`<?php return ['scopes' => 'x', 'system' => [[[]]], 'themes' => 'y', 'admin_user' => ['locale' => ['code' => [['x']]]]];`)
	f.Fuzz(func(t *testing.T, src []byte) {
		top, err := parsePHPReturn(src)
		checkOffset(t, src, err)
		if err != nil {
			return
		}
		cs, why := readConfigScopes(top)
		if (cs == nil) == (why == "") {
			t.Fatalf("scopes %v and reason %q", cs, why)
		}
		if cs == nil {
			return
		}
		if len(cs.stores) == 0 {
			t.Fatal("accepted without store views")
		}
		for _, sv := range cs.stores {
			if sv.code == "" && sv.website == "" && sv.theme == "" {
				continue
			}
			if sv.locale == "" {
				t.Fatalf("store view %+v without a locale", sv)
			}
		}
	})
}
