package source

import (
	"path/filepath"
	"sort"

	"github.com/scdtool/scd/matrix"
)

// themeDirsOf returns what each theme directory of chain holds, listing
// directories LoadMagento did not see (a chain built by the caller) once.
func (m *Magento) themeDirsOf(chain []*matrix.Theme) []*themeDirs {
	out := make([]*themeDirs, len(chain))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range chain {
		p := filepath.Clean(t.Path)
		td := m.dirs[p]
		if td == nil {
			td = listThemeDirs(p)
			m.dirs[p] = td
		}
		out[i] = td
	}
	return out
}

// Layers implements Layout with Magento's static file fallback
// (View/Design/Fallback/RulePool, TYPE_STATIC_FILE). For each enabled
// module M, in module order, with Prefix "M/":
//
//	along the chain, child first: <T>/M/web/i18n/<locale>, <T>/M/web
//	<M>/view/<area>/web/i18n/<locale>
//	<M>/view/base/web/i18n/<locale>
//	<M>/view/<area>/web
//	<M>/view/base/web
//
// (the module's two locale directories come before its two plain ones,
// as in Magento); then, without prefix, along the chain <T>/web/i18n/<locale>
// and <T>/web, then <root>/lib/web. Layers whose directory does not exist
// are left out.
func (m *Magento) Layers(area string, chain []*matrix.Theme, locale string) []Layer {
	tds := m.themeDirsOf(chain)
	var ls []Layer
	for _, mod := range m.modules {
		prefix := mod.Name + "/"
		for _, td := range tds {
			if w := td.mods[mod.Name]; w != nil {
				ls = appendWeb(ls, w, prefix, locale)
			}
		}
		aw := mod.web[area]
		bw := mod.web["base"]
		if area == "base" {
			bw = nil
		}
		if aw != nil && locale != "" && aw.locales[locale] {
			ls = append(ls, Layer{Dir: filepath.Join(aw.dir, "i18n", locale), Prefix: prefix, Locale: true})
		}
		if bw != nil && locale != "" && bw.locales[locale] {
			ls = append(ls, Layer{Dir: filepath.Join(bw.dir, "i18n", locale), Prefix: prefix, Locale: true})
		}
		if aw != nil {
			ls = append(ls, Layer{Dir: aw.dir, Prefix: prefix, Skip: "i18n"})
		}
		if bw != nil {
			ls = append(ls, Layer{Dir: bw.dir, Prefix: prefix, Skip: "i18n"})
		}
	}
	for _, td := range tds {
		if td.web != nil {
			ls = appendWeb(ls, td.web, "", locale)
		}
	}
	if m.libWeb != "" {
		ls = append(ls, Layer{Dir: m.libWeb})
	}
	return ls
}

// appendWeb appends a web/ directory's locale layer (when it has one for
// locale) and the directory itself.
func appendWeb(ls []Layer, w *webAt, prefix, locale string) []Layer {
	if locale != "" && w.locales[locale] {
		ls = append(ls, Layer{Dir: filepath.Join(w.dir, "i18n", locale), Prefix: prefix, Locale: true})
	}
	return append(ls, Layer{Dir: w.dir, Prefix: prefix, Skip: "i18n"})
}

// Dictionaries implements Layout in Magento's merge order
// (Translate::loadData): each enabled module's i18n/<locale>.csv in module
// order, then the language packs of the locale (Packs), then the chain's
// i18n/<locale>.csv, parent first. Only existing files are listed.
//
// Magento's merge has one rule beyond "a later row wins": a row whose
// translation equals its source phrase removes an earlier translation of
// that phrase.
func (m *Magento) Dictionaries(_ string, chain []*matrix.Theme, locale string) []string {
	var files []string
	for _, mod := range m.modules {
		if mod.csv[locale] {
			files = append(files, filepath.Join(mod.Dir, "i18n", locale+".csv"))
		}
	}
	for _, p := range m.packsFor(locale) {
		files = append(files, p.CSV...)
	}
	tds := m.themeDirsOf(chain)
	for i := len(chain) - 1; i >= 0; i-- {
		if tds[i].csv[locale] {
			files = append(files, filepath.Join(chain[i].Path, "i18n", locale+".csv"))
		}
	}
	return files
}

// Packs returns the language packs whose rows a job of locale code reads,
// in merge order, as App/Language/Dictionary orders them: every pack
// declaring that code, and the packs they inherit through <use>
// (recursively); deeper inheritance levels first, then ascending
// sort_order, then vendor|package. A pack reached at several levels counts
// at the deepest one found.
func (m *Magento) Packs(code string) []Pack {
	ps := m.packsFor(code)
	out := make([]Pack, len(ps))
	for i, p := range ps {
		out[i] = p.Pack
	}
	return out
}

func (m *Magento) packsFor(code string) []*magentoPack {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps, ok := m.packMemo[code]; ok {
		return ps
	}
	byKey := map[string]*magentoPack{}
	for _, p := range m.packs {
		byKey[p.key()] = p
	}
	level := map[*magentoPack]int{}
	var collect func(p *magentoPack, lvl int, visited map[*magentoPack]bool)
	collect = func(p *magentoPack, lvl int, visited map[*magentoPack]bool) {
		if visited[p] {
			return
		}
		if l, ok := level[p]; ok && l >= lvl {
			return
		}
		visited[p] = true
		level[p] = lvl
		for _, u := range p.uses {
			if q := byKey[u.Vendor+"|"+u.Package]; q != nil {
				collect(q, lvl+1, visited)
			}
		}
	}
	for _, p := range m.packs {
		if p.Code == code {
			collect(p, 0, map[*magentoPack]bool{})
		}
	}
	ps := make([]*magentoPack, 0, len(level))
	for p := range level {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if level[a] != level[b] {
			return level[a] > level[b]
		}
		if a.SortOrder != b.SortOrder {
			return a.SortOrder < b.SortOrder
		}
		return a.key() < b.key()
	})
	m.packMemo[code] = ps
	return ps
}

// RequireJS implements Layout in Magento's order
// (RequireJs/Config/File/Collector/Aggregated, with Magento_RequireJs's
// di.xml sorting module files by module order): lib/web's
// requirejs-config.js when there is one; then, for each enabled module in
// module order, its view/base/requirejs-config.js and then its
// view/<area>/requirejs-config.js; then, for each theme of the chain,
// parent first, its <Vendor_Module>/requirejs-config.js files of enabled
// modules in module order, then its own requirejs-config.js.
func (m *Magento) RequireJS(area string, chain []*matrix.Theme) []RequireJSFile {
	var out []RequireJSFile
	if m.libRJS != "" {
		out = append(out, RequireJSFile{Path: m.libRJS})
	}
	for _, mod := range m.modules {
		if f := mod.rjs["base"]; f != "" {
			out = append(out, RequireJSFile{Path: f, Module: mod.Name})
		}
		if f := mod.rjs[area]; f != "" && area != "base" {
			out = append(out, RequireJSFile{Path: f, Module: mod.Name})
		}
	}
	tds := m.themeDirsOf(chain)
	for i := len(chain) - 1; i >= 0; i-- {
		td := tds[i]
		if len(td.modRJS) > 0 {
			for _, mod := range m.modules {
				if f := td.modRJS[mod.Name]; f != "" {
					out = append(out, RequireJSFile{Path: f, Module: mod.Name})
				}
			}
		}
		if td.rjs != "" {
			out = append(out, RequireJSFile{Path: td.rjs})
		}
	}
	return out
}

var _ Layout = (*Magento)(nil)
