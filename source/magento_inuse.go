package source

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/scdtool/scd/matrix"
)

// This file answers --themes-in-use: which themes (and locales) a shop's
// store views use, read from app/etc/config.php as `bin/magento
// app:config:dump` writes it, without a database. The rules are
// Magento's (2.4):
//
//   - scopes: `scopes` → `websites` (code → website_id), `stores` (code →
//     website_id; the store view "admin", store_id 0, is the admin's);
//   - a store view's frontend theme: `system` → design/theme/theme_id at
//     the store view's scope, else its website's, else the default scope
//     (only the default in single-store mode), as Theme\Model\View\Design
//     reads it; app:config:dump writes it as a theme path
//     ("frontend/Magento/luma", Deploy\Model\Plugin\DesignConfigTheme),
//     a database id when set otherwise;
//   - without any, and for the admin: the `themes` argument of
//     Theme\Model\View\Design in di.xml (Magento_Theme's: Magento/luma and
//     Magento/backend; a module's di.xml may replace either);
//   - a store view's locale: general/locale/code, store view, website,
//     default, else en_US;
//   - `themes` (area/Vendor/theme → parent_id, the parent's code) leads a
//     virtual theme, which has no files, to its physical parent;
//   - the admin's locales: en_US and, when ece-tools' config:dump wrote
//     them, `admin_user` → locale/code; otherwise every store view's
//     locale, since the admins' own are in the database.

// InUse is what app/etc/config.php says of the themes in use.
type InUse struct {
	// File is config.php, named as the project root was given.
	File string
	// Unknown, when not "", says why config.php does not tell which
	// themes are in use; Themes is then empty and every theme should be
	// built.
	Unknown string
	// Themes are the themes in use, sorted by area and name.
	Themes []ThemeInUse
	// Notes are remarks on the answer, one line each: a theme reached
	// through a virtual theme, an admin theme the project does not have.
	Notes []string
}

// ThemeInUse is a theme that store views (or the admin) use.
type ThemeInUse struct {
	Theme   *matrix.Theme
	Locales []string // sorted
	// Stores are the codes of the store views that use it, in
	// config.php's order; Default lists those that use it because
	// nothing in config.php assigns them a theme (Magento's default from
	// DefaultFrom).
	Stores, Default []string
	// Admin is set for the admin theme; DefaultFrom then says where it is
	// configured.
	Admin bool
	// DefaultFrom names the di.xml that sets the default theme it is,
	// "" for Magento_Theme's own.
	DefaultFrom string
}

// storeView is a store view of config.php's scopes.
type storeView struct {
	code, website string
	theme         string // design/theme/theme_id as written, "" when unset
	locale        string // general/locale/code, en_US by default
}

// configScopes is what readConfigScopes finds in config.php.
type configScopes struct {
	stores []storeView
	// parents maps the themes of the `themes` section, "area/Vendor/name",
	// to their parents' "area/Vendor/name" ("" for none).
	parents map[string]string
	// adminLocales are admin_user → locale/code; hasAdmin says whether
	// config.php has them at all.
	adminLocales []string
	hasAdmin     bool
}

// readConfigScopes reads the scopes, the design and locale settings and
// the themes of a parsed config.php. A non-empty why says why they do not
// tell which themes are in use.
func readConfigScopes(top *phpValue) (cs *configScopes, why string) {
	cs = &configScopes{parents: map[string]string{}}
	scopes := top.get("scopes")
	websiteCode := map[string]string{} // website_id → code
	wkeys, wvals := scopes.get("websites").entries()
	for i, k := range wkeys {
		code := k
		if c, ok := wvals[i].get("code").scalar(); ok && c != "" {
			code = c
		}
		if id, ok := wvals[i].get("website_id").scalar(); ok {
			websiteCode[id] = code
		}
	}
	system := top.get("system")
	def := system.get("default")
	single, _ := def.path("general", "single_store_mode", "enabled").scalar()
	skeys, svals := scopes.get("stores").entries()
	anyTheme := false
	for i, k := range skeys {
		sv := storeView{code: k}
		if c, ok := svals[i].get("code").scalar(); ok && c != "" {
			sv.code = c
		}
		if id, _ := svals[i].get("store_id").scalar(); sv.code == "admin" || id == "0" {
			continue
		}
		if w, ok := svals[i].get("website_id").scalar(); ok {
			sv.website = websiteCode[w]
		}
		levels := []*phpValue{system.path("stores", sv.code)}
		if sv.website != "" {
			levels = append(levels, system.path("websites", sv.website))
		}
		levels = append(levels, def)
		// Theme\Model\View\Design reads the default scope alone in
		// single-store mode; the locale resolver reads the store view's.
		themeLevels := levels
		if single == "1" {
			themeLevels = []*phpValue{def}
		}
		for _, l := range themeLevels {
			if t, ok := l.path("design", "theme", "theme_id").scalar(); ok && t != "" {
				sv.theme, anyTheme = t, true
				break
			}
		}
		sv.locale = "en_US"
		for _, l := range levels {
			if c, ok := l.path("general", "locale", "code").scalar(); ok && c != "" {
				sv.locale = c
				break
			}
		}
		if !matrix.ValidLocale(sv.locale) {
			return nil, fmt.Sprintf("store view %s: general/locale/code %q is not a locale code", sv.code, sv.locale)
		}
		cs.stores = append(cs.stores, sv)
	}
	if len(cs.stores) == 0 {
		return nil, "it lists no store views (scopes → stores: bin/magento app:config:dump scopes themes system writes them)"
	}
	if !anyTheme {
		return nil, "it assigns no theme to a store view (system → design/theme/theme_id: bin/magento app:config:dump scopes themes system writes it)"
	}

	tkeys, tvals := top.get("themes").entries()
	for i, k := range tkeys {
		area, _ := tvals[i].get("area").scalar()
		path, _ := tvals[i].get("theme_path").scalar()
		if area == "" || path == "" {
			// 2.2.0 keyed themes by code alone; later versions by
			// area/code, with the same fields.
			parts := strings.SplitN(k, "/", 2)
			if area == "" && len(parts) == 2 && strings.Count(k, "/") == 2 {
				area = parts[0]
			}
			if path == "" && area != "" {
				path = strings.TrimPrefix(k, area+"/")
			}
		}
		if area == "" || path == "" {
			continue
		}
		parent, _ := tvals[i].get("parent_id").scalar()
		if parent != "" {
			parent = area + "/" + parent
		}
		cs.parents[area+"/"+path] = parent
	}

	if codes := top.path("admin_user", "locale", "code"); codes != nil {
		cs.hasAdmin = true
		vals := []*phpValue{codes}
		if codes.kind == phpArrayValue {
			_, vals = codes.entries()
		}
		for _, v := range vals {
			c, ok := v.scalar()
			if !ok || c == "" {
				continue
			}
			if !matrix.ValidLocale(c) {
				return nil, fmt.Sprintf("admin_user → locale/code %q is not a locale code", c)
			}
			cs.adminLocales = append(cs.adminLocales, c)
		}
	}
	return cs, ""
}

// ThemesInUse reads app/etc/config.php and answers which themes its
// store views and the admin use, in which locales. It never fails: what
// config.php does not tell is said in Unknown.
func (m *Magento) ThemesInUse() *InUse {
	file := filepath.Join(m.Root, "app", "etc", "config.php")
	iu := &InUse{File: m.name(file)}
	src, err := os.ReadFile(file)
	if err != nil {
		iu.Unknown = "there is no app/etc/config.php to read the store views from"
		return iu
	}
	top, err := parsePHPReturn(src)
	if err != nil {
		iu.Unknown = "it cannot be read: " + err.Error()
		return iu
	}
	cs, why := readConfigScopes(top)
	if why != "" {
		iu.Unknown = why
		return iu
	}
	defaults := m.designDefaults()

	byTheme := map[*matrix.Theme]*ThemeInUse{}
	var order []*matrix.Theme
	use := func(t *matrix.Theme) *ThemeInUse {
		u := byTheme[t]
		if u == nil {
			u = &ThemeInUse{Theme: t}
			byTheme[t] = u
			order = append(order, t)
		}
		return u
	}
	var storeLocales []string
	for _, sv := range cs.stores {
		value, dflt := sv.theme, false
		if value == "" {
			value, dflt = "frontend/"+defaults["frontend"].name, true
		}
		t, via, why := m.resolveInUse(value, cs.parents)
		if why != "" {
			iu.Unknown = fmt.Sprintf("store view %s: %s", sv.code, why)
			iu.Notes = nil
			return iu
		}
		if via != "" {
			iu.Notes = append(iu.Notes, fmt.Sprintf("store view %s uses %s, a theme without files (virtual): its parent %s/%s is built", sv.code, via, t.Area, t.Name))
		}
		u := use(t)
		if dflt {
			u.Default = append(u.Default, sv.code)
			u.DefaultFrom = defaults["frontend"].from
		} else {
			u.Stores = append(u.Stores, sv.code)
		}
		u.Locales = appendNew(u.Locales, sv.locale)
		storeLocales = appendNew(storeLocales, sv.locale)
	}

	admin := defaults["adminhtml"]
	if t := m.Theme("adminhtml", admin.name); t != nil {
		u := use(t)
		u.Admin, u.DefaultFrom = true, admin.from
		u.Locales = appendNew(u.Locales, "en_US")
		locales := storeLocales
		if cs.hasAdmin {
			locales = cs.adminLocales
		}
		for _, l := range locales {
			u.Locales = appendNew(u.Locales, l)
		}
	} else {
		from := "Magento's default"
		if admin.from != "" {
			from = "set in " + admin.from
		}
		iu.Notes = append(iu.Notes, fmt.Sprintf("the admin theme %s (%s) is not a theme of the project: no admin theme is built", admin.name, from))
	}

	for _, t := range order {
		u := byTheme[t]
		sort.Strings(u.Locales)
		iu.Themes = append(iu.Themes, *u)
	}
	sort.Slice(iu.Themes, func(i, j int) bool {
		a, b := iu.Themes[i].Theme, iu.Themes[j].Theme
		if a.Area != b.Area {
			return a.Area < b.Area
		}
		return a.Name < b.Name
	})
	return iu
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// resolveInUse finds the theme a design/theme/theme_id value names: a
// theme path ("frontend/Vendor/name", or "Vendor/name" for the
// frontend). A theme that is not on disk but that config.php's themes
// section gives a parent is a virtual theme: its nearest physical
// ancestor is returned, and via names it. why says what is wrong
// otherwise.
func (m *Magento) resolveInUse(value string, parents map[string]string) (t *matrix.Theme, via, why string) {
	if strings.Trim(value, "0123456789") == "" {
		return nil, "", fmt.Sprintf("design/theme/theme_id is the database id %s, not a theme path (app:config:dump writes area/Vendor/theme)", value)
	}
	full := value
	if strings.Count(value, "/") == 1 {
		full = "frontend/" + value
	}
	parts := strings.SplitN(full, "/", 2)
	if len(parts) != 2 || !matrix.ValidThemeName(parts[1]) {
		return nil, "", fmt.Sprintf("design/theme/theme_id %q is not a theme path (area/Vendor/theme)", value)
	}
	cur := full
	for hop := 0; hop < 16; hop++ {
		p := strings.SplitN(cur, "/", 2)
		if len(p) == 2 {
			if t := m.Theme(p[0], p[1]); t != nil {
				if cur != full {
					via = full
				}
				return t, via, ""
			}
		}
		parent, ok := parents[cur]
		if !ok || parent == "" {
			break
		}
		cur = parent
	}
	return nil, "", fmt.Sprintf("theme %s is not a theme of the project", full)
}

// designDefault is the theme Theme\Model\View\Design falls back to for an
// area, and the di.xml that sets it ("" for Magento_Theme's own).
type designDefault struct {
	name, from string
}

// designDefaults reads the `themes` argument of Theme\Model\View\Design
// from the di.xml files, as Magento merges them: app/etc/di.xml, every
// enabled module's etc/di.xml in module order, then its etc/<area>/di.xml
// for that area; the last one wins. Magento_Theme's own di.xml sets
// Magento/luma and Magento/backend, which are also the defaults when no
// file is found.
func (m *Magento) designDefaults() map[string]designDefault {
	out := map[string]designDefault{"frontend": {name: "Magento/luma"}, "adminhtml": {name: "Magento/backend"}}
	global := []string{filepath.Join(m.Root, "app", "etc", "di.xml")}
	for _, mod := range m.modules {
		global = append(global, filepath.Join(mod.Dir, "etc", "di.xml"))
	}
	for area := range out {
		files := slices.Clone(global)
		for _, mod := range m.modules {
			files = append(files, filepath.Join(mod.Dir, "etc", area, "di.xml"))
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(src, []byte(`Theme\Model\View\Design`)) {
				continue
			}
			if name := diDesignTheme(src, area); name != "" {
				from := m.name(f)
				if mod := m.moduleOf(f); mod == "Magento_Theme" {
					from = ""
				}
				out[area] = designDefault{name: name, from: from}
			}
		}
	}
	return out
}

// moduleOf names the module whose directory holds file, or "".
func (m *Magento) moduleOf(file string) string {
	for _, mod := range m.modules {
		if strings.HasPrefix(file, mod.Dir+string(filepath.Separator)) {
			return mod.Name
		}
	}
	return ""
}

// diDesignTheme returns the area's item of the `themes` argument of
// Theme\Model\View\Design in a di.xml, or "".
func diDesignTheme(src []byte, area string) string {
	var di struct {
		Types []struct {
			Name string `xml:"name,attr"`
			Args []struct {
				Name  string `xml:"name,attr"`
				Items []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:",chardata"`
				} `xml:"item"`
			} `xml:"arguments>argument"`
		} `xml:"type"`
	}
	if xml.Unmarshal(src, &di) != nil {
		return "" // Magento itself refuses such a file
	}
	found := ""
	for _, t := range di.Types {
		if strings.TrimPrefix(t.Name, `\`) != `Magento\Theme\Model\View\Design` {
			continue
		}
		for _, a := range t.Args {
			if a.Name != "themes" {
				continue
			}
			for _, it := range a.Items {
				if v := strings.TrimSpace(it.Value); it.Name == area && v != "" {
					found = v
				}
			}
		}
	}
	return found
}
