package builder

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
)

// assemble turns a job's bundles and leaves into its published files:
// translated, named by content, with references rewritten.
func (b *build) assemble(j *job, ts *themeState) error {
	a := &assembly{b: b, j: j, names: map[string]string{}, used: map[string]string{}, buildTime: map[string]string{}}
	// Bundles and files without references first: their names are what
	// stylesheets and templates point at.
	err := a.addEntries(ts)
	if err == nil {
		err = a.addStyles(ts)
	}
	var css, tpl []jobLeaf
	if err == nil {
		css, tpl, err = a.addLeaves()
	}
	if err == nil {
		err = a.addRewritten(css, tpl)
	}
	switch {
	case err == errReported:
		return nil
	case err != nil:
		return err
	}
	// js-translation.json: the translated phrases the job's JS and HTML use.
	data, err := manifest.Marshal(a.translations())
	if err != nil {
		return err
	}
	j.outputs = append(a.outs, output{logical: manifest.TranslationFile, name: manifest.TranslationFile,
		blob: b.store.putNow(data, manifest.TranslationFile)})
	slices.SortFunc(j.outputs, func(x, y output) int { return strings.Compare(x.logical, y.logical) })
	j.missing = a.missingList()
	a.saveMemo()
	j.memo = a.memo
	slices.Sort(a.asks)
	j.asks = slices.Compact(a.asks)
	return nil
}

// errReported stops a job's assembly at an input whose failure its own
// task reports.
var errReported = errors.New("reported by the task that failed")

// addEntries adds the job's bundles, translated.
func (a *assembly) addEntries(ts *themeState) error {
	b, j := a.b, a.j
	for _, e := range j.entries {
		bd := ts.bundles[e]
		if bd == nil || !bd.reusableBy(j.fs) {
			bd = b.findBundle(e, j.fs)
		}
		if bd == nil {
			bd = j.private[e] // built beside the leaves
		}
		if bd == nil {
			// A locale override touches one of the entry's inputs.
			bd = &bundle{entry: e, owner: j.id, fs: j.fs}
			t0 := time.Now()
			b.runBundle(bd, j, false)
			j.nested += time.Since(t0)
		}
		if bd.err != nil {
			return errReported // by runBundle
		}
		a.usePhrases(e, bd.phrases)
		if err := a.addTranslated(entryOutput(e), e, bd.out, bd.marked, bd.blob, &bd.in); err != nil {
			return diag.Scoped(j.id, err)
		}
	}
	return nil
}

// addStyles adds the theme's merged requirejs-config.js, the job's
// compiled LESS roots (and their source maps) and its Tailwind sheets.
func (a *assembly) addStyles(ts *themeState) error {
	j := a.j
	if ts.rjsBlob != nil {
		a.addBlob(requireJSFile, ts.rjsBlob)
	}
	for i, root := range j.lessRoots {
		out := j.styles[i]
		if out == nil || out.blob == nil {
			return errReported
		}
		a.addBlob(styleName(root), out.blob)
		if out.smap != nil {
			a.addBlob(styleName(root)+".map", out.smap)
		}
	}
	for _, sh := range j.sheets {
		if sh.out.blob == nil {
			return errReported
		}
		a.addBlob(sh.logical, sh.out.blob)
	}
	return nil
}

// addLeaves adds the job's leaf files, translated, but for stylesheets
// and templates, which it returns: they point at the names of the others.
func (a *assembly) addLeaves() (css, tpl []jobLeaf, err error) {
	for _, jl := range a.j.leaves {
		l := jl.leaf
		if l.err != nil {
			return nil, nil, errReported
		}
		a.usePhrases(jl.logical, l.phrases)
		switch l.kind {
		case kindCSS:
			css = append(css, jl)
		case kindHTML:
			tpl = append(tpl, jl)
		default:
			if err := a.addTranslated(jl.logical, jl.logical, l.out, l.marked, l.blob, &l.in); err != nil {
				return nil, nil, diag.Scoped(a.j.id, err)
			}
		}
	}
	return css, tpl, nil
}

// addRewritten adds stylesheets and templates, which point at the names
// chosen before them; one without references is shared as it is.
func (a *assembly) addRewritten(css, tpl []jobLeaf) error {
	var errs []error
	add := func(jl jobLeaf, refs int, rewrite func(jobLeaf) (*blob, error)) {
		if refs == 0 {
			a.addBlob(jl.logical, jl.leaf.blob)
			return
		}
		bl, err := rewrite(jl)
		if err != nil {
			errs = append(errs, err)
			return
		}
		a.addBlob(jl.logical, bl)
	}
	for _, jl := range css {
		add(jl, len(jl.leaf.srcRefs), a.rewriteCSS)
	}
	for _, jl := range tpl {
		add(jl, len(jl.leaf.srcTags), a.renderHTML)
	}
	if len(errs) > 0 {
		return diag.Scoped(a.j.id, joinSorted(errs))
	}
	return nil
}

// assembly is the scratch state of one job's assemble.
type assembly struct {
	b     *build
	j     *job
	names map[string]string // logical → published name
	outs  []output
	// used maps each phrase the job's JS and HTML look up at run time to
	// the first file using it, for module-scoped lookups.
	used map[string]string
	// buildTime holds the phrases of {{t}} helpers: substituted here,
	// never looked up by the browser, so not in js-translation.json.
	buildTime map[string]string
	key       memoKey
	memo      []memoEntry // rewrites to record (see cache_memo.go)
	asks      []string    // pack keys of the lookups of the scripts it translated
}

func (a *assembly) addBlob(logical string, bl *blob) {
	name := logical
	if !a.b.logicalNames && !keepsName(kindOf(logical)) {
		name = hashedName(logical, bl.sum[:8])
	}
	a.names[logical] = name
	a.outs = append(a.outs, output{logical: logical, name: name, blob: bl})
}

func (a *assembly) usePhrases(logical string, phrases []string) {
	for _, ph := range phrases {
		if prev, ok := a.used[ph]; !ok || logical < prev {
			a.used[ph] = logical
		}
	}
}

func (a *assembly) useBuildTime(logical, phrase string) {
	if prev, ok := a.buildTime[phrase]; !ok || logical < prev {
		a.buildTime[phrase] = logical
	}
}

// lookup translates a phrase as used by the file at logical.
func (a *assembly) lookup(phrase, logical string) (string, bool) {
	if a.j.dict == nil {
		return "", false
	}
	return a.j.dict.Lookup(phrase, logical)
}

// addTranslated publishes JS at logical: shared as is (bl) when it has no
// marker calls, or with the job's translations substituted. from is the
// source's logical path, for module-scoped dictionary rows; in is data's
// digest, for the rewrite memo.
func (a *assembly) addTranslated(logical, from string, data []byte, marked bool, bl *blob, in *inputSum) error {
	if !marked {
		a.addBlob(logical, bl)
		return nil
	}
	var key string
	var asks *jsAsks // the lookups of the translation, when not known yet
	if a.b.memoOn() {
		in = in.get(data)
		if list, ok := a.asksOf(in); ok {
			key = a.jsKey(in, from, list)
			if bl := a.memoized(key, logical); bl != nil {
				a.addBlob(logical, bl)
				return nil
			}
		} else {
			asks = &jsAsks{}
		}
	}
	t0 := time.Now()
	out, _, fallbacks := i18n.TranslateJS(data, func(ph string) (string, bool) {
		asks.add(ph)
		return a.lookup(ph, from)
	})
	a.b.clock.since(stTranslate, t0)
	if asks != nil {
		key = a.jsKey(in, from, a.setAsks(in, asks.list))
	}
	for _, fb := range fallbacks {
		// The call is left to the runtime translate function (and
		// js-translation.json): the page works, so this only warns. Not
		// memoized, so that the next build warns again.
		key = ""
		call := "a translate call"
		if fb.Phrase != "" {
			call = fmt.Sprintf("$t(%q)", fb.Phrase)
		}
		a.b.warn(diag.Scoped(a.j.id, &diag.Error{Kind: diag.Build, File: from, Line: fb.Line, Col: fb.Col,
			Msg: fmt.Sprintf("%s is translated at run time, not at build time: in the minified code %s", call, fb.Reason)}))
	}
	a.addBlob(logical, a.put(key, logical, out))
	return nil
}

// put stores the content made for logical and records it under the
// rewrite key that gave it ("" for none).
func (a *assembly) put(key, logical string, data []byte) *blob {
	a.b.stats.rewrites.Add(1)
	bl := a.b.store.putNow(data, logical)
	if key != "" {
		a.remember(key, bl)
	}
	return bl
}

// translations is the content of js-translation.json: phrases with a
// translation that differs from the phrase itself.
func (a *assembly) translations() map[string]string {
	m := map[string]string{}
	for ph, logical := range a.used {
		if tr, ok := a.lookup(ph, logical); ok && tr != ph {
			m[ph] = tr
		}
	}
	return m
}

func (a *assembly) missingList() []string {
	if src := a.b.cfg.SourceLocale; src != "" && a.j.Locale == src {
		return nil
	}
	set := map[string]bool{}
	for _, m := range []map[string]string{a.used, a.buildTime} {
		for ph, logical := range m {
			if _, ok := a.lookup(ph, logical); !ok {
				set[ph] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// errNotFound marks a reference whose target is not in the fallback chain.
var errNotFound = errors.New("no such file")

// refTarget resolves a reference made from the file at from to logical
// path target; it returns the URL to write, relative to from's directory
// or under asset_base.
func (a *assembly) refTarget(from, target string) (string, error) {
	if isPartial(target) {
		if _, ok := a.j.fs.lookup(target); ok {
			return "", fmt.Errorf("%s is a partial and is not published", target)
		}
	}
	name, ok := a.names[target]
	if !ok {
		if _, exists := a.j.fs.lookup(target); !exists {
			return "", fmt.Errorf("cannot find %s in the fallback chain: %w", target, errNotFound)
		}
		// Published by nobody because a --no-* option skipped it: keep the
		// logical name.
		name = target
	}
	if base := a.b.cfg.AssetBase; base != "" {
		return a.assetBase(base) + name, nil
	}
	rel, err := filepath.Rel(path.Dir(from), name)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// assetBase expands {area}, {theme} and {locale} in asset_base.
func (a *assembly) assetBase(base string) string {
	return strings.NewReplacer("{area}", a.j.Area, "{theme}", a.j.Theme, "{locale}", a.j.Locale).Replace(base)
}

// rewriteCSS points the url() references of a stylesheet that is published
// on its own at the job's hashed names.
func (a *assembly) rewriteCSS(jl jobLeaf) (*blob, error) {
	l := jl.leaf
	var offs, ends []int
	var repl []string
	var errs []error
	for i, ref := range l.srcRefs {
		if isExternalURL(ref.URL) {
			continue
		}
		p, suffix := splitURLSuffix(ref.URL)
		target := path.Join(path.Dir(jl.logical), p)
		u, err := a.refTarget(jl.logical, target)
		if err != nil {
			line, col, text := diag.Position(l.source(a.b), ref.Off)
			e := &diag.Error{Kind: diag.Build, File: a.b.display(l.src.Abs), Line: line, Col: col, Msg: fmt.Sprintf("url(%s): %v", ref.URL, err), Source: text}
			if errors.Is(err, errNotFound) && !a.b.opts.Strict {
				// Magento publishes such a stylesheet as it is (its own
				// lib/web names images it does not ship): so does scd,
				// with the reference left as written.
				e.Msg += " (left as written; --strict makes this an error)"
				a.b.warn(diag.Scoped(a.j.id, e))
				continue
			}
			errs = append(errs, e)
			continue
		}
		offs = append(offs, l.outRefs[i].Off)
		ends = append(ends, l.outRefs[i].End)
		repl = append(repl, cssURL(u+suffix))
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	var key string
	if a.b.memoOn() {
		k := a.memoKey("css", l.in.get(l.out))
		for i, r := range repl {
			k.int(offs[i])
			k.int(ends[i])
			k.str(r)
		}
		key = k.String()
		if bl := a.memoized(key, jl.logical); bl != nil {
			return bl, nil
		}
	}
	return a.put(key, jl.logical, replaceRanges(l.out, offs, ends, repl)), nil
}

// renderHTML fills a template's {{t}} and {{asset}} helpers for the job.
func (a *assembly) renderHTML(jl jobLeaf) (*blob, error) {
	l := jl.leaf
	urls := map[string]string{}
	var errs []error
	for _, tag := range l.srcTags {
		if tag.Kind != "asset" {
			continue
		}
		target := path.Clean(strings.TrimPrefix(tag.Arg, "/"))
		u, err := a.refTarget(jl.logical, target)
		if err != nil {
			line, col, text := diag.Position(l.source(a.b), tag.Off)
			errs = append(errs, &diag.Error{Kind: diag.Build, File: a.b.display(l.src.Abs), Line: line, Col: col, Msg: fmt.Sprintf("{{asset %q}}: %v", tag.Arg, err), Source: text})
			continue
		}
		urls[tag.Arg] = u
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	for _, tag := range l.srcTags {
		if tag.Kind == "t" {
			a.useBuildTime(jl.logical, tag.Arg)
		}
	}
	tr := func(ph string) string {
		if tr, ok := a.lookup(ph, jl.logical); ok {
			return tr
		}
		return ph
	}
	var key string
	if a.b.memoOn() {
		k := a.memoKey("html", l.in.get(l.out))
		for _, tag := range l.outTags {
			k.int(tag.Off)
			k.int(tag.End)
			k.str(tag.Kind)
			k.str(tag.Arg)
			if tag.Kind == i18n.KindT {
				k.str(tr(tag.Arg))
			} else {
				k.str(urls[tag.Arg])
			}
		}
		key = k.String()
		if bl := a.memoized(key, jl.logical); bl != nil {
			return bl, nil
		}
	}
	out, err := i18n.RenderTemplate(l.out, l.outTags, tr, func(p string) (string, error) { return urls[p], nil })
	if err != nil {
		return nil, err
	}
	return a.put(key, jl.logical, out), nil
}
