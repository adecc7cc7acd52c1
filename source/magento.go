package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/internal/par"
	"github.com/scdtool/scd/matrix"
)

// Magento is the layout of a Magento 2 project: its enabled modules in
// app/etc/config.php order, its themes (app/design and registered ones,
// vendor/ included) and its language packs. Build it with LoadMagento; it
// is read-only afterwards and safe for concurrent use.
//
// The rules are Magento's (2.4), read from its framework:
//
//   - static files: View/Design/Fallback/RulePool (see Layers);
//   - dictionaries: Translate::loadData and App/Language/Dictionary (see
//     Dictionaries);
//   - requirejs-config.js: RequireJs/Config/File/Collector/Aggregated with
//     the Magento_RequireJs di.xml decorators (see RequireJS).
type Magento struct {
	Root string // absolute Magento root

	// Warnings are problems Magento itself tolerates: a module enabled in
	// config.php that is not on disk, a registered module missing from
	// config.php, a registered language pack without language.xml. Each
	// is a *diag.Error (Kind diag.Config) located where possible.
	Warnings []error

	given   string // Root as the caller spelled it, for messages
	modules []*magentoModule
	themes  []*magentoTheme
	packs   []*magentoPack
	libWeb  string // <root>/lib/web, "" when missing
	libRJS  string // <root>/lib/web/requirejs-config.js, "" when missing

	mu       sync.Mutex
	dirs     map[string]*themeDirs // theme directory → what it holds
	packMemo map[string][]*magentoPack
}

// Module is an enabled Magento module.
type Module struct {
	Name string // "Vendor_Module"
	Dir  string // absolute
}

// Pack is a language pack.
type Pack struct {
	Vendor, Package string // from language.xml
	Code            string // locale code, from language.xml
	SortOrder       int
	Dir             string   // absolute
	CSV             []string // its *.csv files (absolute), in name order
	Uses            []string // "vendor/package" of the packs it inherits
}

type magentoModule struct {
	Module
	reg string            // registration.php
	web map[string]*webAt // view area ("base", "frontend", ...) → its web/ directory
	rjs map[string]string // view area → its requirejs-config.js
	csv map[string]bool   // locales with i18n/<locale>.csv
}

// webAt is an existing web/ directory and the locales it overrides
// (web/i18n/<locale>/ directories).
type webAt struct {
	dir     string
	locales map[string]bool
}

type magentoTheme struct {
	t      *matrix.Theme
	reg    string // registration.php or theme.xml: where the theme was found
	xml    string // theme.xml
	parent string // as written in theme.xml
	pOff   int    // offset of the parent in theme.xml
	src    []byte // theme.xml's content
}

type magentoPack struct {
	Pack
	xmlf string // language.xml
	src  []byte
	uses []packUse
}

func (p *magentoPack) key() string { return p.Vendor + "|" + p.Package }

// themeDirs is what LoadMagento lists once of a theme directory.
type themeDirs struct {
	web    *webAt            // <T>/web
	mods   map[string]*webAt // <T>/<Vendor_Module>/web
	modRJS map[string]string // <T>/<Vendor_Module>/requirejs-config.js
	rjs    string            // <T>/requirejs-config.js
	csv    map[string]bool   // <T>/i18n/<locale>.csv
}

// LoadMagento discovers the modules, themes and language packs of the
// Magento project at root.
//
// Components are found as Magento finds them: registration.php files
// under app/code/*/*, app/design/*/*/*, app/i18n/*/* and vendor/*/*, plus
// those that vendor/composer/installed.json lists in its packages'
// autoload.files (so a package keeping registration.php in src/ is found
// without walking vendor/). Themes under app/design/<area>/<Vendor>/<name>/
// with a theme.xml count even without a registration.php.
//
// Modules are those app/etc/config.php enables, in its order; without
// config.php, every registered module, sorted by name.
//
// Problems in these files are configuration errors (*diag.Error, Kind
// diag.Config, located at file:line:col), all of them joined with
// errors.Join. LoadMagento returns the Magento even then, so that its
// Warnings can be shown, but it must not be used to build.
func LoadMagento(root string) (*Magento, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, diag.Configf(root, 0, 0, "cannot resolve the Magento root: %v", err)
	}
	m := &Magento{Root: abs, given: root, dirs: map[string]*themeDirs{}, packMemo: map[string][]*magentoPack{}}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, diag.Configf(root, 0, 0, "not a directory: cannot read the Magento root")
	}
	l := &magentoLoader{m: m}
	l.load()
	errs := l.errs
	diag.Sort(errs)
	diag.Sort(m.Warnings)
	return m, errors.Join(errs...)
}

type magentoLoader struct {
	m    *Magento
	errs []error
}

// name returns p as the user knows it: under the root as it was given.
func (m *Magento) name(p string) string {
	rel, err := filepath.Rel(m.Root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return filepath.Join(m.given, rel)
}

// at returns a configuration error at byte offset off of file.
func (m *Magento) at(file string, src []byte, off int, format string, args ...any) *diag.Error {
	line, col, text := diag.Position(src, off)
	e := diag.Configf(m.name(file), line, col, format, args...)
	e.Source = text
	return e
}

func (l *magentoLoader) errorf(file string, src []byte, off int, format string, args ...any) {
	l.errs = append(l.errs, l.m.at(file, src, off, format, args...))
}

func (l *magentoLoader) warnf(file string, src []byte, off int, format string, args ...any) {
	l.m.Warnings = append(l.m.Warnings, l.m.at(file, src, off, format, args...))
}

// located converts a parser's error into a located configuration error.
func (l *magentoLoader) located(file string, src []byte, err error) {
	var pe *phpSyntaxError
	var xe *xmlError
	switch {
	case errors.As(err, &pe):
		l.errorf(file, src, pe.off, "%s", pe.msg)
	case errors.As(err, &xe):
		l.errorf(file, src, xe.off, "%s", xe.msg)
	default:
		l.errs = append(l.errs, diag.Configf(l.m.name(file), 0, 0, "%v", err))
	}
}

func (l *magentoLoader) readFile(p string) ([]byte, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		l.readFailed(p, err)
		return nil, false
	}
	return b, true
}

// readFailed reports a file that cannot be read.
func (l *magentoLoader) readFailed(p string, err error) {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	l.errs = append(l.errs, diag.Configf(l.m.name(p), 0, 0, "cannot read: %v", err))
}

func (l *magentoLoader) load() {
	m := l.m
	regFiles := l.registrationFiles()

	// Read and parsed on a few goroutines (a project has hundreds),
	// reported in order.
	type parsed struct {
		src               []byte
		rs                []registration
		readErr, parseErr error
	}
	got := make([]parsed, len(regFiles))
	par.For(len(regFiles), 8, func(i int) {
		f := regFiles[i]
		p := &got[i]
		if p.src, p.readErr = os.ReadFile(f); p.readErr == nil {
			p.rs, p.parseErr = parseRegistration(p.src, filepath.Dir(f))
		}
	})
	var regs []foundReg
	for i, f := range regFiles {
		p := got[i]
		if p.readErr != nil {
			l.readFailed(f, p.readErr)
			continue
		}
		if p.parseErr != nil {
			l.located(f, p.src, p.parseErr)
			continue
		}
		for _, r := range p.rs {
			r.Dir = filepath.Clean(r.Dir)
			regs = append(regs, foundReg{r, f, p.src})
		}
	}

	// Components by type, rejecting a name registered twice for two
	// directories (Magento's ComponentRegistrar refuses that too).
	byName := map[string]foundReg{}
	var modules []*magentoModule
	var themeRegs, packRegs []foundReg
	for _, f := range regs {
		r := f.reg
		if r.Type == compLibrary || r.Type == compSetup {
			continue
		}
		key := r.Type + " " + r.Name
		if r.Type == compLanguage {
			key = r.Type + " " + strings.ToLower(r.Name)
		}
		if prev, ok := byName[key]; ok {
			if prev.reg.Dir != r.Dir {
				l.errorf(f.file, f.src, r.NameOff, "%s %q is already registered by %s", strings.ToLower(r.Type), r.Name, m.name(prev.file))
			}
			continue
		}
		byName[key] = f
		switch r.Type {
		case compModule:
			if !moduleNameRe.MatchString(r.Name) {
				l.errorf(f.file, f.src, r.NameOff, "%q is not a module name (Vendor_Module)", r.Name)
				continue
			}
			modules = append(modules, &magentoModule{Module: Module{Name: r.Name, Dir: r.Dir}, reg: f.file})
		case compTheme:
			themeRegs = append(themeRegs, f)
		case compLanguage:
			packRegs = append(packRegs, f)
		}
	}

	l.orderModules(modules)
	l.loadThemes(themeRegs)
	l.loadPacks(packRegs)

	if fi, err := os.Stat(filepath.Join(m.Root, "lib", "web")); err == nil && fi.IsDir() {
		m.libWeb = filepath.Join(m.Root, "lib", "web")
		if isFile(filepath.Join(m.libWeb, "requirejs-config.js")) {
			m.libRJS = filepath.Join(m.libWeb, "requirejs-config.js")
		}
	}

	// What each module and theme holds, listed once, in parallel: a real
	// tree has hundreds of modules.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, mod := range m.modules {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			mod.list()
		}()
	}
	tds := make([]*themeDirs, len(m.themes))
	for i, t := range m.themes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			tds[i] = listThemeDirs(t.t.Path)
		}()
	}
	wg.Wait()
	for i, t := range m.themes {
		m.dirs[t.t.Path] = tds[i]
	}
}

// registration candidate files, deduplicated, in a stable order:
// installed.json's, then vendor/*/*, then app/.
func (l *magentoLoader) registrationFiles() []string {
	root := l.m.Root
	// The directories at a depth under each root, as a glob of as many
	// stars would match them (in order, following links, errors skipped),
	// are listed while Composer's list is read.
	var globbed []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, g := range []struct {
			dir   string
			depth int
		}{{"vendor", 2}, {"app/code", 2}, {"app/design", 3}, {"app/i18n", 2}} {
			for _, d := range subdirs(filepath.Join(root, filepath.FromSlash(g.dir)), g.depth) {
				globbed = append(globbed, filepath.Join(d, "registration.php"))
			}
		}
	})
	installed := l.installedJSON()
	wg.Wait()
	// Composer's first, in its order, then what the globs add; each
	// stat'ed for a registration.php on a few goroutines.
	var cands []string
	seen := map[string]bool{}
	for _, p := range slices.Concat(installed, globbed) {
		if p = filepath.Clean(p); !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	found := make([]bool, len(cands))
	par.For(len(cands), 8, func(i int) { found[i] = isFile(cands[i]) })
	var files []string
	for i, p := range cands {
		if found[i] {
			files = append(files, p)
		}
	}
	return files
}

// subdirs lists the paths depth levels under dir, in lexical order at
// each level, as filepath.Glob(dir/*/*…) would (without checking that
// the last level's are directories).
func subdirs(dir string, depth int) []string {
	level := []string{dir}
	for range depth {
		var next []string
		for _, d := range level {
			ents, _ := os.ReadDir(d) // sorted; unreadable is empty, as for Glob
			for _, e := range ents {
				next = append(next, filepath.Join(d, e.Name()))
			}
		}
		level = next
	}
	return level
}

// installedJSON returns the registration.php files that Composer's
// installed.json lists in autoload.files (Composer 1's list or Composer
// 2's {"packages": [...]} with install-path).
func (l *magentoLoader) installedJSON() []string {
	dir := filepath.Join(l.m.Root, "vendor", "composer")
	file := filepath.Join(dir, "installed.json")
	src, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	type pkg struct {
		Name        string `json:"name"`
		InstallPath string `json:"install-path"`
		Autoload    struct {
			Files []string `json:"files"`
		} `json:"autoload"`
	}
	// Composer 1 wrote a list, Composer 2 an object with the list in
	// "packages": the first byte says which to decode.
	var pkgs []pkg
	var v2 struct {
		Packages []pkg `json:"packages"`
	}
	if trimmed := bytes.TrimLeft(src, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(src, &pkgs)
	} else if err = json.Unmarshal(src, &v2); err == nil {
		pkgs = v2.Packages
	}
	if err != nil {
		// The decoder's offset is just past the byte (or value) at fault.
		off := 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = max(0, int(se.Offset)-1)
		case errors.As(err, &te):
			off = max(0, int(te.Offset)-1)
		}
		l.errorf(file, src, off, "cannot read Composer's installed packages: %v", err)
		return nil
	}
	var out []string
	for _, p := range pkgs {
		for _, f := range p.Autoload.Files {
			if filepath.Base(filepath.FromSlash(f)) != "registration.php" {
				continue
			}
			base := filepath.Join(l.m.Root, "vendor", filepath.FromSlash(p.Name))
			if p.InstallPath != "" {
				base = filepath.Join(dir, filepath.FromSlash(p.InstallPath))
			}
			out = append(out, filepath.Join(base, filepath.FromSlash(f)))
		}
	}
	return out
}

// orderModules keeps the modules config.php enables, in its order, or
// all of them by name when there is no config.php.
func (l *magentoLoader) orderModules(found []*magentoModule) {
	m := l.m
	byName := map[string]*magentoModule{}
	for _, mod := range found {
		byName[mod.Name] = mod
	}
	file := filepath.Join(m.Root, "app", "etc", "config.php")
	src, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
		m.modules = found
		return
	}
	if err != nil {
		l.readFile(file) // reports it
		return
	}
	entries, has, err := parseConfigPHP(src)
	if err != nil {
		l.located(file, src, err)
		return
	}
	if !has {
		l.errorf(file, src, 0, "config.php has no 'modules' list: is Magento installed (bin/magento setup:install)?")
		return
	}
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.Name] = true
		if !e.Enabled {
			continue
		}
		mod := byName[e.Name]
		if mod == nil {
			l.warnf(file, src, e.Off, "module %s is enabled but no registration.php registers it; it is left out", e.Name)
			continue
		}
		m.modules = append(m.modules, mod)
	}
	for _, mod := range found {
		if !listed[mod.Name] {
			m.Warnings = append(m.Warnings, diag.Configf(m.name(mod.reg), 0, 0,
				"module %s is registered but not listed in app/etc/config.php (run bin/magento setup:upgrade); it is left out", mod.Name))
		}
	}
}

// foundReg is a register call and the file it is in.
type foundReg struct {
	reg  registration
	file string
	src  []byte
}

// loadThemes reads the themes: registered ones and app/design directories
// with a theme.xml, then their theme.xml files and parents.
func (l *magentoLoader) loadThemes(regs []foundReg) {
	m := l.m
	byDir := map[string]bool{}
	byKey := map[string]*magentoTheme{} // "area/Vendor/name"
	var themes []*magentoTheme
	addTheme := func(area, name, dir, file string, src []byte, off int) {
		key := area + "/" + name
		if prev := byKey[key]; prev != nil {
			l.errorf(file, src, off, "theme %s is already registered by %s", key, m.name(prev.reg))
			return
		}
		t := &magentoTheme{t: &matrix.Theme{Name: name, Area: area, Path: dir}, reg: file, xml: filepath.Join(dir, "theme.xml")}
		byKey[key] = t
		byDir[dir] = true
		themes = append(themes, t)
	}
	for _, r := range regs {
		parts := strings.Split(r.reg.Name, "/")
		if len(parts) != 3 || !areaNameRe.MatchString(parts[0]) || !matrix.ValidThemeName(parts[1]+"/"+parts[2]) {
			l.errorf(r.file, r.src, r.reg.NameOff, "%q is not a theme name (area/Vendor/theme)", r.reg.Name)
			continue
		}
		addTheme(parts[0], parts[1]+"/"+parts[2], r.reg.Dir, r.file, r.src, r.reg.NameOff)
	}
	xmls, _ := filepath.Glob(filepath.Join(m.Root, "app", "design", "*", "*", "*", "theme.xml"))
	for _, x := range xmls {
		dir := filepath.Dir(x)
		if byDir[dir] {
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(m.Root, "app", "design"), dir)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if !areaNameRe.MatchString(parts[0]) || !matrix.ValidThemeName(parts[1]+"/"+parts[2]) {
			l.errs = append(l.errs, diag.Configf(m.name(x), 0, 0, "%q is not a theme directory (app/design/<area>/<Vendor>/<theme>)", rel))
			continue
		}
		addTheme(parts[0], parts[1]+"/"+parts[2], dir, x, nil, 0)
	}

	// theme.xml: title and parent.
	ok := map[*magentoTheme]bool{}
	for _, t := range themes {
		src, err := os.ReadFile(t.xml)
		if err != nil {
			var regSrc []byte
			if filepath.Base(t.reg) == "registration.php" {
				regSrc, _ = os.ReadFile(t.reg)
			}
			l.errorf(t.reg, regSrc, 0, "theme %s/%s has no readable theme.xml in %s", t.t.Area, t.t.Name, m.name(t.t.Path))
			continue
		}
		t.src = src
		tx, err := parseThemeXML(src)
		if err != nil {
			l.located(t.xml, src, err)
			continue
		}
		t.parent, t.pOff = tx.Parent, tx.ParentOff
		ok[t] = true
	}
	for _, t := range themes {
		if !ok[t] || t.parent == "" {
			continue
		}
		p := t.parent
		if !strings.Contains(p, "/") { // a short name: the theme's own vendor
			p = strings.SplitN(t.t.Name, "/", 2)[0] + "/" + p
		}
		pt := byKey[t.t.Area+"/"+p]
		if pt == nil {
			other := ""
			for _, o := range themes {
				if o.t.Name == p {
					other = fmt.Sprintf(" (%s is a theme of area %s; a parent must be of the same area)", p, o.t.Area)
					break
				}
			}
			l.errorf(t.xml, t.src, t.pOff, "parent theme %s of %s/%s is not a %s theme%s", p, t.t.Area, t.t.Name, t.t.Area, other)
			ok[t] = false
			continue
		}
		t.t.Parent = pt.t.Name
	}
	// Cycles.
	for _, t := range themes {
		seen := map[*magentoTheme]bool{}
		for c := t; c != nil && c.t.Parent != ""; c = byKey[c.t.Area+"/"+c.t.Parent] {
			if seen[c] {
				if c == t {
					l.errorf(t.xml, t.src, t.pOff, "theme %s/%s is its own ancestor (parent cycle)", t.t.Area, t.t.Name)
				}
				break
			}
			seen[c] = true
		}
	}
	sort.Slice(themes, func(i, j int) bool {
		a, b := themes[i].t, themes[j].t
		if a.Area != b.Area {
			return a.Area < b.Area
		}
		return a.Name < b.Name
	})
	m.themes = themes
}

// loadPacks reads the language packs' language.xml files and checks
// their <use> inheritance.
func (l *magentoLoader) loadPacks(regs []foundReg) {
	m := l.m
	byKey := map[string]*magentoPack{}
	for _, r := range regs {
		xf := filepath.Join(r.reg.Dir, "language.xml")
		src, err := os.ReadFile(xf)
		if err != nil {
			l.warnf(r.file, r.src, r.reg.NameOff, "language pack %s has no language.xml in %s; Magento ignores it", r.reg.Name, m.name(r.reg.Dir))
			continue
		}
		lx, err := parseLanguageXML(src)
		if err != nil {
			l.located(xf, src, err)
			continue
		}
		if want := strings.ToLower(lx.Vendor + "_" + lx.Package); strings.ToLower(r.reg.Name) != want {
			l.errorf(r.file, r.src, r.reg.NameOff, "language pack registered as %q, but its language.xml declares vendor %s and package %s: Magento reads its CSV files only when it is registered as %q",
				r.reg.Name, lx.Vendor, lx.Package, want)
			continue
		}
		p := &magentoPack{
			Pack: Pack{Vendor: lx.Vendor, Package: lx.Package, Code: lx.Code, SortOrder: lx.SortOrder, Dir: r.reg.Dir},
			xmlf: xf, src: src, uses: lx.Uses,
		}
		for _, u := range lx.Uses {
			p.Uses = append(p.Uses, u.Vendor+"/"+u.Package)
		}
		if prev := byKey[p.key()]; prev != nil {
			l.errorf(xf, src, 0, "language pack %s/%s is declared twice (also by %s)", p.Vendor, p.Package, m.name(prev.xmlf))
			continue
		}
		byKey[p.key()] = p
		ents, err := os.ReadDir(r.reg.Dir)
		if err == nil {
			for _, e := range ents {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".csv") {
					p.CSV = append(p.CSV, filepath.Join(r.reg.Dir, e.Name()))
				}
			}
		}
		sort.Strings(p.CSV)
		m.packs = append(m.packs, p)
	}
	// <use> must name a pack, and inheritance must not loop.
	good := true
	for _, p := range m.packs {
		for _, u := range p.uses {
			if byKey[u.Vendor+"|"+u.Package] == nil {
				l.errorf(p.xmlf, p.src, u.Off, "<use vendor=%q package=%q/>: there is no such language pack", u.Vendor, u.Package)
				good = false
			}
		}
	}
	if good {
		// Depth-first search; a <use> that reaches a pack still on the
		// stack closes a cycle.
		state := map[*magentoPack]int{} // 1 on the stack, 2 done
		var visit func(p *magentoPack)
		visit = func(p *magentoPack) {
			state[p] = 1
			for _, u := range p.uses {
				q := byKey[u.Vendor+"|"+u.Package]
				switch state[q] {
				case 0:
					visit(q)
				case 1:
					l.errorf(p.xmlf, p.src, u.Off, "<use vendor=%q package=%q/> makes a cycle of language packs", u.Vendor, u.Package)
				}
			}
			state[p] = 2
		}
		for _, p := range m.packs {
			if state[p] == 0 {
				visit(p)
			}
		}
	}
	sort.Slice(m.packs, func(i, j int) bool { return m.packs[i].key() < m.packs[j].key() })
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// listWeb returns dir as a webAt when it is a directory, with the locales
// of its i18n/ subdirectory.
func listWeb(dir string) *webAt {
	if !isDir(dir) {
		return nil
	}
	w := &webAt{dir: dir}
	ents, _ := os.ReadDir(filepath.Join(dir, "i18n"))
	for _, e := range ents {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 && isDir(filepath.Join(dir, "i18n", e.Name())) {
			if w.locales == nil {
				w.locales = map[string]bool{}
			}
			w.locales[e.Name()] = true
		}
	}
	return w
}

func listCSV(dir string) map[string]bool {
	ents, _ := os.ReadDir(dir)
	var out map[string]bool
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".csv"); ok && !e.IsDir() {
			if out == nil {
				out = map[string]bool{}
			}
			out[n] = true
		}
	}
	return out
}

// list records which view areas of the module have web/ directories and
// requirejs-config.js files, and its dictionaries.
func (mod *magentoModule) list() {
	mod.web = map[string]*webAt{}
	mod.rjs = map[string]string{}
	view := filepath.Join(mod.Dir, "view")
	ents, _ := os.ReadDir(view)
	for _, e := range ents {
		a := e.Name()
		if w := listWeb(filepath.Join(view, a, "web")); w != nil {
			mod.web[a] = w
		}
		if f := filepath.Join(view, a, "requirejs-config.js"); isFile(f) {
			mod.rjs[a] = f
		}
	}
	mod.csv = listCSV(filepath.Join(mod.Dir, "i18n"))
}

// listThemeDirs lists a theme directory: its web/, its module overrides
// (<Vendor_Module>/web, <Vendor_Module>/requirejs-config.js), its
// requirejs-config.js and its dictionaries.
func listThemeDirs(dir string) *themeDirs {
	td := &themeDirs{web: listWeb(filepath.Join(dir, "web")), mods: map[string]*webAt{}, modRJS: map[string]string{}}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.Contains(n, "_") || !moduleNameRe.MatchString(n) {
			continue
		}
		if w := listWeb(filepath.Join(dir, n, "web")); w != nil {
			td.mods[n] = w
		}
		if f := filepath.Join(dir, n, "requirejs-config.js"); isFile(f) {
			td.modRJS[n] = f
		}
	}
	if f := filepath.Join(dir, "requirejs-config.js"); isFile(f) {
		td.rjs = f
	}
	td.csv = listCSV(filepath.Join(dir, "i18n"))
	return td
}

var areaNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Modules returns the enabled modules in load order.
func (m *Magento) Modules() []Module {
	out := make([]Module, len(m.modules))
	for i, mod := range m.modules {
		out[i] = mod.Module
	}
	return out
}

// Themes returns every theme, sorted by area then name. Path is the
// theme's absolute directory; Parent its parent's name (same area).
// Locales and Entries are left nil for the caller to fill. The themes are
// m's own (Chain returns the same pointers): a caller may set Locales and
// Entries, but Layers and friends look themes up by Path alone.
func (m *Magento) Themes() []*matrix.Theme {
	out := make([]*matrix.Theme, len(m.themes))
	for i, t := range m.themes {
		out[i] = t.t
	}
	return out
}

// Theme returns the theme of area called name (compared
// case-insensitively, as Magento does), or nil.
func (m *Magento) Theme(area, name string) *matrix.Theme {
	for _, t := range m.themes {
		if t.t.Area == area && strings.EqualFold(t.t.Name, name) {
			return t.t
		}
	}
	return nil
}

// Chain returns the theme of area called name and its ancestors, child
// first, or nil when there is no such theme.
func (m *Magento) Chain(area, name string) []*matrix.Theme {
	var chain []*matrix.Theme
	seen := map[*matrix.Theme]bool{}
	for t := m.Theme(area, name); t != nil && !seen[t]; {
		seen[t] = true
		chain = append(chain, t)
		if t.Parent == "" {
			break
		}
		t = m.Theme(area, t.Parent)
	}
	return chain
}

// Locales returns the locale codes that have a language pack, plus
// en_US, sorted.
func (m *Magento) Locales() []string {
	set := map[string]bool{"en_US": true}
	for _, p := range m.packs {
		set[p.Code] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
