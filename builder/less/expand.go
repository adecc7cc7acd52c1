package less

// Magento's LESS preprocessing, in Go: what Magento does to a LESS root
// before its compiler sees it, so that less.js can compile the result from
// an in-memory file map without knowing Magento.
//
// The rules are Magento 2.4's, read from its framework
// (Framework/Css/PreProcessor/Instruction/MagentoImport.php and Import.php,
// Css/PreProcessor/File/Collector/Aggregated.php and Library.php,
// View/File/Collector/Base.php and Override/Base.php with the
// ModuleOutput and ModuleDependency decorators that module-developer's
// di.xml puts around them, View/Asset/NotationResolver/Module.php, and the
// deploy's Service/DeployPackage.php for the roots).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/scdtool/scd/diag"
)

// Lookup finds a file of the job by logical path (slash-separated:
// "css/source/_module.less", "Magento_Catalog/css/source/_module.less"),
// after Magento's fallback: abs is the file on disk (for messages), data
// its contents.
type Lookup func(logical string) (abs string, data []byte, ok bool)

// Collected is one file Magento's //@magento_import collector found.
type Collected struct {
	// Module is "Vendor_Module" for a module's file or a theme's override
	// of one, "" for a file of lib/web or of a theme's web/.
	Module string
	Abs    string // the file found (for messages)
}

// Collect is Magento's //@magento_import collector for a job
// (Css/PreProcessor/File/Collector/Aggregated): for path, relative to a
// web/ directory ("css/source/_module.less"), the files found in Magento's
// order. Only existence counts: what an entry imports is then looked up
// through the fallback like any other import. It does not depend on the
// locale. Dirs.Collect implements it on disk.
type Collect func(path string) []Collected

// Dirs are the directories of a job that Magento's //@magento_import
// collector searches.
type Dirs struct {
	Area    string      // the job's area: "frontend", "adminhtml"
	Lib     string      // <root>/lib/web; "" when there is none
	Modules []ModuleDir // the enabled modules, in module order (app/etc/config.php)
	// Themes are the directories of the job's chain, the job's theme
	// first, then its ancestors (matrix.Config.Chain's order).
	Themes []string
	// Exists, when set, tells whether rel (slash form) under dir is a
	// regular file or a link to one, as a stat would; known is false when
	// it cannot tell, and the file is stat'ed. A caller that has listed
	// the directories already spares Collect a stat per module and path.
	Exists func(dir, rel string) (found, known bool)
}

// ModuleDir is an enabled module and its directory (the one holding view/).
type ModuleDir struct {
	Name string // "Vendor_Module"
	Dir  string
}

// Collect implements Collect with Magento's rules, in this order:
//
//  1. at most one entry without module, when lib/web/<path> or any
//     theme's web/<path> exists (Library collector: a theme's file
//     replaces the library's and an ancestor's of the same name, so one
//     is left; MagentoImport imports it by the path as written, which the
//     fallback resolves);
//  2. the enabled modules in module order, each with an entry for
//     view/base/web/<path> and one for view/<area>/web/<path> when they
//     exist (Base collector, ModuleOutput and ModuleDependency decorators)
//     — except the modules that a theme of the chain overrides;
//  3. the overrides: for each theme, ancestor first, its
//     <Vendor_Module>/web/<path> files in directory name order (Override
//     collector). The FileList collator removes a module's earlier
//     entries when it appends an override, so an overridden module moves
//     to the end, at its last (child-most) override. Overrides of modules
//     that are not enabled are dropped (Magento's current MagentoImport
//     checks isEnabled; 2.4.1's imported them).
//
// The path is taken literally (Magento searches it as a glob pattern;
// its own themes never use a pattern). Collect only reads directories: it
// is safe for concurrent use, and its result does not depend on the
// locale, so a caller may memoize it per theme chain.
func (d Dirs) Collect(p string) []Collected { return d.Collector().Collect(p) }

// Collector is Dirs.Collect for many paths: what does not depend on the
// path (the directories to search, the themes' module directories, which
// modules are enabled) is worked out once, by the first Collect. It is
// safe for concurrent use.
type Collector struct {
	d    Dirs
	once sync.Once
	// themeWeb[i] is Themes[i]/web; overrides[i] the <Vendor_Module>/web
	// directories of Themes[i], in glob order, with their module.
	themeWeb  []string
	overrides [][]Collected
	// modWeb are the enabled modules' view/base/web and view/<area>/web.
	modWeb  []Collected
	enabled map[string]bool
}

// Collector returns a Collector over the directories.
func (d Dirs) Collector() *Collector { return &Collector{d: d} }

func (c *Collector) index() {
	d := c.d
	c.themeWeb = make([]string, len(d.Themes))
	c.overrides = make([][]Collected, len(d.Themes))
	for i, t := range d.Themes {
		c.themeWeb[i] = filepath.Join(t, "web")
		ents, err := os.ReadDir(t)
		if err != nil {
			continue
		}
		var names []string
		for _, e := range ents {
			if n := e.Name(); strings.Contains(n, "_") && !strings.HasPrefix(n, ".") {
				names = append(names, n)
			}
		}
		// glob's order: of the whole matched paths.
		sort.Slice(names, func(a, b int) bool { return names[a]+"/" < names[b]+"/" })
		for _, n := range names {
			c.overrides[i] = append(c.overrides[i], Collected{Module: n, Abs: filepath.Join(t, n, "web")})
		}
	}
	c.enabled = make(map[string]bool, len(d.Modules))
	for _, m := range d.Modules {
		c.enabled[m.Name] = true
		c.modWeb = append(c.modWeb, Collected{Module: m.Name, Abs: filepath.Join(m.Dir, "view", "base", "web")})
		if d.Area != "base" {
			c.modWeb = append(c.modWeb, Collected{Module: m.Name, Abs: filepath.Join(m.Dir, "view", d.Area, "web")})
		}
	}
}

// Collect is Dirs.Collect.
func (c *Collector) Collect(p string) []Collected {
	c.once.Do(c.index)
	d := c.d
	rel := p
	p = filepath.FromSlash(p)
	// file returns dir/p when it is a regular file, else "".
	file := func(dir string) string {
		found, known := d.exists(dir, rel)
		if !known {
			found = isRegular(filepath.Join(dir, p))
		}
		if !found {
			return ""
		}
		return filepath.Join(dir, p)
	}
	var out []Collected
	lib := ""
	if d.Lib != "" {
		lib = file(d.Lib)
	}
	for i := len(d.Themes) - 1; i >= 0; i-- {
		if f := file(c.themeWeb[i]); f != "" {
			lib = f
		}
	}
	if lib != "" {
		out = append(out, Collected{Abs: lib})
	}

	var overrides []Collected
	for i := len(d.Themes) - 1; i >= 0; i-- {
		for _, o := range c.overrides[i] {
			f := file(o.Abs)
			if f == "" {
				continue
			}
			for k := 0; k < len(overrides); k++ {
				if overrides[k].Module == o.Module {
					overrides = append(overrides[:k], overrides[k+1:]...)
					k--
				}
			}
			overrides = append(overrides, Collected{Module: o.Module, Abs: f})
		}
	}
	overridden := make(map[string]bool, len(overrides))
	for _, o := range overrides {
		overridden[o.Module] = true
	}
	for _, m := range c.modWeb {
		if overridden[m.Module] {
			continue
		}
		if f := file(m.Abs); f != "" {
			out = append(out, Collected{Module: m.Module, Abs: f})
		}
	}
	for _, o := range overrides {
		if c.enabled[o.Module] {
			out = append(out, o)
		}
	}
	return out
}

func (d Dirs) exists(dir, rel string) (found, known bool) {
	if d.Exists == nil {
		return false, false
	}
	return d.Exists(dir, rel)
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Expansion is a LESS root preprocessed as Magento does it.
type Expansion struct {
	// Files maps logical paths to preprocessed contents: the root and
	// every file it imports that less reads, expanded (the files of CSS
	// imports, which less leaves to the browser, are not in it).
	Files map[string][]byte
	// Inputs maps the logical path of every file in Files to the file it
	// was read from.
	Inputs map[string]string
	// Warnings are what Magento lets through without a word and scd
	// reports: an "@magento_import" without "//" (Magento leaves it for
	// less, which writes it into the CSS as an unknown at-rule) and a
	// "//@magento_import" Magento's pattern does not match (left as the
	// comment it is). Each is a *diag.Error (Kind diag.Build), located.
	Warnings []error
}

// Expand preprocesses root (a logical path, e.g. "css/styles-m.less") as
// Magento does before compiling it, for a job whose files lookup finds
// and whose //@magento_import collector is collect. In the result every
// @import less will read names a path present in Files, relative to the
// importing file's directory, as less.js resolves them:
//
//   - //@magento_import ['(reference)'] 'path'; becomes one
//     @import ['(reference)'] per file collect finds for path (resolved
//     relative to the importing file; in a module's file, one whose
//     logical path starts with a Vendor_Module directory, within that
//     module), in its order: a module's file as 'Vendor_Module::<path>',
//     a library or theme file by the path as written; none is no error
//     (Magento only logs a notice; a nil collect finds nothing). The
//     imports replace the directive on its line, so line numbers stay
//     those of the source files.
//   - @import ['(options)'] 'path' [media]; and @import url('path'): the
//     path gets ".less" when it has no extension (Magento's Import
//     instruction), 'Vendor_Module::path' becomes a path relative to the
//     importing file, and the file is looked up and expanded in turn —
//     also with (optional), as Magento fails on a missing file whatever
//     the options. (less) and (inline) imports of .css files are read too.
//   - CSS imports, which less leaves in the CSS (a path ending in ".css"
//     by less's rule, or the (css) option): the path is rewritten as above
//     but not read. A quoted one must exist (its .css, or the .less Magento
//     would compile it from), as Magento materializes it; a url() one
//     need not, and url() paths get no ".less" (Magento appends it there
//     too, which only breaks remote URLs).
//   - Remote paths (scheme: or //) and paths with @{variables} in url()
//     are left to less. A quoted path with @{variables} is an error, as in
//     Magento, which cannot resolve it.
//
// Comments and strings are skipped (Magento's own comment stripping,
// which can eat code after a "*/" that is not at the end of its line, is
// not reproduced; no file of Magento's own trees triggers it). A missing
// import is a *diag.Error (Kind diag.Build) at the importing file's abs
// path, line and column of the @import (or of the //@magento_import that
// produced it); all of them are returned, joined. A cycle of imports is
// expanded once per file (less reads each file once).
func Expand(root string, lookup Lookup, collect Collect) (*Expansion, error) {
	x := &expander{
		lookup:  lookup,
		collect: collect,
		exp:     &Expansion{Files: map[string][]byte{}, Inputs: map[string]string{}},
		queued:  map[string]bool{},
		memo:    map[string][]Collected{},
	}
	abs, data, ok := lookup(root)
	if !ok {
		return nil, diag.Buildf(root, 0, 0, "LESS root %s: no level of the fallback has it", root)
	}
	x.queued[root] = true
	x.queue = append(x.queue, queuedFile{root, abs, data})
	for len(x.queue) > 0 {
		f := x.queue[0]
		x.queue = x.queue[1:]
		x.exp.Inputs[f.logical] = f.abs
		x.exp.Files[f.logical] = x.process(f)
	}
	if len(x.errs) > 0 {
		return nil, errors.Join(x.errs...)
	}
	return x.exp, nil
}

type queuedFile struct {
	logical, abs string
	data         []byte
}

type expander struct {
	lookup  Lookup
	collect Collect
	exp     *Expansion
	queue   []queuedFile
	queued  map[string]bool
	memo    map[string][]Collected
	errs    []error
}

func (x *expander) errorAt(f queuedFile, off int, format string, args ...any) {
	line, col, text := diag.Position(f.data, off)
	e := diag.Buildf(f.abs, line, col, format, args...)
	e.Source = text
	x.errs = append(x.errs, e)
}

func (x *expander) warnAt(f queuedFile, off int, format string, args ...any) {
	line, col, text := diag.Position(f.data, off)
	e := diag.Buildf(f.abs, line, col, format, args...)
	e.Source = text
	x.exp.Warnings = append(x.exp.Warnings, e)
}

// need queues the file at logical for expansion; false when no level of
// the fallback has it.
func (x *expander) need(logical string) bool {
	if x.queued[logical] {
		return true
	}
	abs, data, ok := x.lookup(logical)
	if !ok {
		return false
	}
	x.queued[logical] = true
	x.queue = append(x.queue, queuedFile{logical, abs, data})
	return true
}

// exists reports whether a CSS import's file can be served: the .css
// itself or, as Magento compiles a .css from a .less of the same name, that
// .less.
func (x *expander) exists(logical string) bool {
	if _, _, ok := x.lookup(logical); ok {
		return true
	}
	if l, ok := strings.CutSuffix(logical, ".css"); ok {
		_, _, ok = x.lookup(l + ".less")
		return ok
	}
	return false
}

// process returns f's contents preprocessed, queueing what it imports.
func (x *expander) process(f queuedFile) []byte {
	stmts := scanLess(f.data)
	if len(stmts) == 0 {
		return f.data
	}
	var out bytes.Buffer
	last := 0
	for _, s := range stmts {
		switch s.kind {
		case stBareMagentoImport:
			x.warnAt(f, s.start, "@magento_import without \"//\": Magento does not expand it (less writes it into the CSS); write //@magento_import")
			continue
		case stBadMagentoImport:
			x.warnAt(f, s.start, "//@magento_import that Magento does not understand (it wants //@magento_import [(reference)] 'relative/path';): left as a comment")
			continue
		case stImport:
			p, ok := x.importPath(f, s)
			if !ok || p == s.path {
				continue
			}
			out.Write(f.data[last:s.pathStart])
			out.WriteString(p)
			last = s.pathEnd
		case stMagentoImport:
			out.Write(f.data[last:s.start])
			out.WriteString(x.magentoImport(f, s))
			// Keep the line numbers of what follows.
			out.WriteString(strings.Repeat("\n", bytes.Count(f.data[s.start:s.end], []byte("\n"))))
			last = s.end
		}
	}
	if last == 0 {
		return f.data
	}
	out.Write(f.data[last:])
	return out.Bytes()
}

var (
	remoteRe  = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9+.-]*:[^:]|//)`) // not Vendor_Module::
	cssPathRe = regexp.MustCompile(`[#.&?]css([?;].*)?$`)                  // less.js's tree/import.js
)

// importPath returns the path an @import statement s of f is to have,
// after queueing or checking its file; ok false leaves it as written.
func (x *expander) importPath(f queuedFile, s lessStmt) (string, bool) {
	p := s.path
	if remoteRe.MatchString(p) {
		return "", false
	}
	if s.url && strings.Contains(p, "@{") {
		return "", false
	}
	css := s.opts.isCSS(p)
	if !(s.url && css) {
		p = fixExt(p)
		css = s.opts.isCSS(p)
	}
	if strings.Contains(p, "@{") {
		x.errorAt(f, s.start, "@import %q: a path with variables cannot be resolved (Magento resolves @import paths before less sees them)", s.path)
		return "", false
	}
	target, rewritten, msg := resolveImport(f.logical, p)
	if msg != "" {
		x.errorAt(f, s.start, "@import %q: %s", s.path, msg)
		return "", false
	}
	switch {
	case css && !s.opts.inline:
		if !s.url && !x.exists(target) {
			x.errorAt(f, s.start, "@import %q: %s is in no level of the fallback (nor a .less to compile it from)", s.path, target)
		}
	case !x.need(target):
		x.errorAt(f, s.start, "@import %q: %s is in no level of the fallback", s.path, target)
	}
	return rewritten, true
}

// magentoImport returns the @import statements a //@magento_import
// directive s of f stands for, on one line, queueing their files.
func (x *expander) magentoImport(f queuedFile, s lessStmt) string {
	matched := s.path
	var module, filePath string
	if i := strings.Index(matched, "::"); i >= 0 {
		module, filePath = matched[:i], matched[i+2:]
		if module == "" {
			x.errorAt(f, s.start, "//@magento_import %q: \"::\" without a module name before it", matched)
			return ""
		}
	} else {
		var dir string
		module, dir = splitModule(f.logical)
		filePath = path.Join(path.Dir(dir), matched)
		if filePath == ".." || strings.HasPrefix(filePath, "../") {
			x.errorAt(f, s.start, "//@magento_import %q: the path leaves the static files", matched)
			return ""
		}
	}
	found, ok := x.memo[filePath]
	if !ok && x.collect != nil {
		found = x.collect(filePath)
		x.memo[filePath] = found
	}
	opt := ""
	if s.reference {
		opt = "(reference) "
	}
	var b strings.Builder
	for _, c := range found {
		id := matched
		if c.Module != "" {
			id = c.Module + "::" + filePath
		}
		p := fixExt(id)
		target, rewritten, msg := resolveImport(f.logical, p)
		if msg != "" {
			x.errorAt(f, s.start, "//@magento_import %q: importing %s: %s", matched, id, msg)
			continue
		}
		// A .css the collector found is a CSS import: less leaves it.
		if !cssPathRe.MatchString(p) && !x.need(target) {
			x.errorAt(f, s.start, "//@magento_import %q: %s (found at %s) is in no level of the fallback", matched, target, c.Abs)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		q := "'"
		if strings.Contains(rewritten, "'") {
			q = `"`
		}
		fmt.Fprintf(&b, "@import %s%s%s%s;", opt, q, rewritten, q)
	}
	return b.String()
}

// moduleNameRe is the shape of a module name, which tells a module's
// logical path (Vendor_Module/...) from a library or theme path.
var moduleNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9]+$`) // as package source

// splitModule splits a logical path into its module ("" for a library or
// theme file) and its path within the module's web/ directory.
func splitModule(logical string) (module, rest string) {
	if i := strings.IndexByte(logical, '/'); i > 0 && moduleNameRe.MatchString(logical[:i]) {
		return logical[:i], logical[i+1:]
	}
	return "", logical
}

// fixExt adds ".less" to a path whose file name has no extension, as
// Magento's Import instruction does (PHP's pathinfo: what follows the
// last dot of the base name, so "x." has none either).
func fixExt(p string) string {
	base := p[strings.LastIndexByte(p, '/')+1:]
	if i := strings.LastIndexByte(base, '.'); i < 0 || i == len(base)-1 {
		return p + ".less"
	}
	return p
}

// resolveImport returns the logical path that the import path p of the
// file at logical from names, and the path to write instead of p:
// 'Vendor_Module::path' becomes a path relative to from's directory
// (Magento's NotationResolver\Module), other paths stay as written. msg
// says why p cannot be resolved.
func resolveImport(from, p string) (target, rewritten, msg string) {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) {
		return "", "", "an absolute path cannot be resolved in the static files"
	}
	dir := path.Dir(from)
	if i := strings.Index(p, "::"); i >= 0 {
		if i == 0 {
			return "", "", `"::" without a module name before it`
		}
		target = path.Clean(p[:i] + "/" + p[i+2:])
		rewritten = relativePath(dir, target)
	} else {
		target = path.Join(dir, p)
		rewritten = p
	}
	if target == "." || target == ".." || strings.HasPrefix(target, "../") {
		return "", "", "the path leaves the static files"
	}
	return target, rewritten, ""
}

// relativePath returns the path of target relative to the directory dir
// (both logical, clean).
func relativePath(dir, target string) string {
	var ds []string
	if dir != "." {
		ds = strings.Split(dir, "/")
	}
	tdir, base := path.Split(target)
	var ts []string
	if tdir != "" {
		ts = strings.Split(strings.TrimSuffix(tdir, "/"), "/")
	}
	n := 0
	for n < len(ds) && n < len(ts) && ds[n] == ts[n] {
		n++
	}
	parts := make([]string, 0, len(ds)-n+len(ts)-n+1)
	for range ds[n:] {
		parts = append(parts, "..")
	}
	parts = append(parts, ts[n:]...)
	parts = append(parts, base)
	return strings.Join(parts, "/")
}

// Roots returns, of the logical paths of a job's files, the LESS roots
// that Magento's deploy compiles, sorted: every ".less" file whose name
// does not start with "_" (DeployPackage::checkFileSkip skips those
// partials; any other .less in a theme's web/, a module's web/ or lib/web
// is deployed, and deploying it compiles it into the .css of the same
// name, as a request for that .css finds the .less). That is wider than
// "the .less directly under css/": Magento_PageBuilder's
// css/source/hljs/hljs.less and lib/web's mage/gallery/gallery.less are
// roots too. lib/web/css/docs/, which the deploy's library source skips,
// is left out as css/docs/. When a job has both x.less and x.css, Magento
// publishes x.css compiled from x.less.
func Roots(paths []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		base := p[strings.LastIndexByte(p, '/')+1:]
		ext := ""
		if i := strings.LastIndexByte(base, '.'); i >= 0 {
			ext = base[i+1:]
		}
		if !strings.EqualFold(ext, "less") || strings.HasPrefix(base, "_") || strings.HasPrefix(p, "css/docs/") || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
