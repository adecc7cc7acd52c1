package builder

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/scdtool/scd/diag"
)

// bundle is one esbuild run: an entry and everything it imports, resolved
// through a fallback chain. A bundle is built once per theme and reused by
// every job whose fileset resolves all its dependencies to the same files.
type bundle struct {
	entry string   // logical path of the entry
	owner string   // job id used in messages
	fs    *fileset // the resolution it was built with

	// deps maps every logical path the build looked up to the file it
	// found ("" when the lookup found nothing).
	deps map[string]string

	out     []byte
	blob    *blob // out in the store, unless marked
	marked  bool
	phrases []string
	in      inputSum // out's digest, for the rewrite memo
	err     error
	dur     time.Duration
	cached  bool // taken from the cache: esbuild did not run
}

// reusableBy reports whether fs resolves every dependency of b exactly as
// b's own fileset did, so that building b again for fs would give the same
// bytes.
func (b *bundle) reusableBy(fs *fileset) bool {
	if b.fs == fs {
		return true
	}
	for logical, abs := range b.deps {
		src, ok := fs.lookup(logical)
		if (ok && src.Abs != abs) || (!ok && abs != "") {
			return false
		}
	}
	return true
}

const namespace = "scd"

var jsExts = []string{"", ".js", ".mjs", ".ts", ".tsx", ".jsx", "/index.js", "/index.ts"}

var loaders = map[string]api.Loader{
	".js": api.LoaderJS, ".mjs": api.LoaderJS, ".cjs": api.LoaderJS,
	".jsx": api.LoaderJSX, ".ts": api.LoaderTS, ".mts": api.LoaderTS, ".tsx": api.LoaderTSX,
	".css": api.LoaderCSS, ".json": api.LoaderJSON, ".txt": api.LoaderText, ".html": api.LoaderText,
}

// bundleRun is the state of one esbuild run of a bundle, which the
// context's plugin serves.
type bundleRun struct {
	b       *build
	bd      *bundle
	ec      *esbuildCtx // the context building it
	mu      sync.Mutex
	phrases map[string]bool
	loaded  map[string]string // file → digest of the bytes esbuild got
}

func (r *bundleRun) lookup(logical string) (source, bool) {
	src, ok := r.bd.fs.lookup(logical)
	r.mu.Lock()
	r.bd.deps[logical] = src.Abs
	r.mu.Unlock()
	return src, ok
}

// resolve finds an import through the bundle's fallback chain.
func (r *bundleRun) resolve(args api.OnResolveArgs) (api.OnResolveResult, error) {
	b, bd := r.b, r.bd
	spec := args.Path
	if args.Kind == api.ResolveEntryPoint {
		return api.OnResolveResult{Path: bd.entry, Namespace: namespace}, nil
	}
	if isExternalURL(spec) && !strings.HasPrefix(spec, "/") {
		return api.OnResolveResult{Path: spec, External: true}, nil
	}
	cssKind := args.Kind == api.ResolveCSSImportRule || args.Kind == api.ResolveCSSURLToken || args.Kind == api.ResolveCSSComposesFrom
	p, suffix := spec, ""
	if cssKind {
		p, suffix = splitURLSuffix(spec)
	}
	var logical string
	switch {
	case strings.HasPrefix(p, "/"):
		logical = path.Clean(strings.TrimPrefix(p, "/"))
	case cssKind || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../"):
		logical = path.Join(path.Dir(args.Importer), p)
	default:
		logical = path.Clean(p) // a module id, resolved from web/ and the libraries
	}
	if logical == ".." || strings.HasPrefix(logical, "../") {
		return api.OnResolveResult{}, fmt.Errorf("%q points outside the theme", spec)
	}
	if args.Kind == api.ResolveCSSURLToken {
		if _, ok := r.lookup(logical); !ok {
			return api.OnResolveResult{}, fmt.Errorf("cannot find %q (resolved as %s through the fallback chain)", spec, logical)
		}
		if isPartial(logical) {
			return api.OnResolveResult{}, fmt.Errorf("%q is a partial and is not published", spec)
		}
		entryDir := path.Dir(bd.entry)
		if b.opts.Skip.skips(kindOf(logical)) {
			// Not published by this build (--no-images…): keep the
			// logical name, which is where such files live.
			rel, _ := filepath.Rel(entryDir, logical)
			return api.OnResolveResult{Path: filepath.ToSlash(rel) + suffix, External: true}, nil
		}
		name, err := b.assetName(bd.fs, logical)
		if err != nil {
			return api.OnResolveResult{}, err
		}
		rel, _ := filepath.Rel(entryDir, name)
		return api.OnResolveResult{Path: filepath.ToSlash(rel) + suffix, External: true}, nil
	}
	exts := []string{""}
	if !cssKind {
		exts = jsExts
	}
	for _, ext := range exts {
		if _, ok := r.lookup(logical + ext); ok {
			return api.OnResolveResult{Path: logical + ext, Namespace: namespace}, nil
		}
	}
	return api.OnResolveResult{}, fmt.Errorf("cannot resolve %q (looked for %s in the fallback chain)", spec, logical)
}

// load reads a file of the bundle, marked for translation with embedded.
func (r *bundleRun) load(args api.OnLoadArgs) (api.OnLoadResult, error) {
	b := r.b
	src, ok := r.lookup(args.Path)
	if !ok {
		return api.OnLoadResult{}, fmt.Errorf("cannot find %s", args.Path)
	}
	loader, ok := loaders[strings.ToLower(path.Ext(args.Path))]
	if !ok {
		return api.OnLoadResult{}, fmt.Errorf("%s: cannot import this type of file", args.Path)
	}
	sd, err := b.read(src.Abs)
	if err != nil {
		return api.OnLoadResult{}, err
	}
	r.mu.Lock()
	r.loaded[src.Abs] = sd.digest()
	r.mu.Unlock()
	text := string(sd.raw)
	if loader != api.LoaderCSS && loader != api.LoaderJSON && loader != api.LoaderText {
		if b.embedded {
			mk, _ := sd.marked()
			text = string(mk)
		}
		r.mu.Lock()
		for _, ph := range sd.jsPhrases() {
			r.phrases[ph] = true
		}
		r.mu.Unlock()
	}
	r.ec.loaded(args.Path, len(text))
	return api.OnLoadResult{Contents: &text, Loader: loader}, nil
}

// run builds the bundle.
func (bd *bundle) run(b *build) {
	start := time.Now()
	defer func() { bd.dur = time.Since(start) }()
	if b.cache != nil && b.digests != nil && b.loadBundle(bd) {
		bd.cached = true
		return
	}
	bd.deps = map[string]string{}
	r := &bundleRun{b: b, bd: bd, phrases: map[string]bool{}, loaded: map[string]string{}}
	warned := false
	ec, err := b.esbuild.get(bd.fs.root)
	if err != nil {
		bd.err = err
		return
	}
	res := ec.build(r)
	b.esbuild.put(ec)
	// esbuild's CSS parser recovers from syntax errors and calls them
	// warnings; a stylesheet with one is broken, so they fail the build.
	// Other warnings (a duplicate key, an odd comparison) are reported.
	var errs []error
	for _, m := range res.Errors {
		errs = append(errs, b.esbuildError(bd.fs, m))
	}
	for _, m := range res.Warnings {
		if m.ID == "css-syntax-error" {
			errs = append(errs, b.esbuildError(bd.fs, m))
		} else {
			warned = true
			b.warn(diag.Scoped(bd.owner, b.esbuildError(bd.fs, m)))
		}
	}
	if len(errs) > 0 {
		bd.err = joinSorted(errs)
		return
	}
	want := ".js"
	if kindOf(bd.entry) == kindCSS {
		want = ".css"
	}
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, want) {
			bd.out = f.Contents
		}
	}
	if bd.out == nil {
		bd.err = diag.Buildf(bd.entry, 0, 0, "esbuild produced no %s output", want)
		return
	}
	bd.marked = b.embedded && want == ".js" && strings.Contains(string(bd.out), markerCall)
	for ph := range r.phrases {
		bd.phrases = append(bd.phrases, ph)
	}
	sort.Strings(bd.phrases)
	if b.cache != nil && !warned {
		// A bundle with warnings is built again, so that they are
		// reported again.
		b.storeBundle(bd, r.loaded)
	}
}

// esbuildError converts an esbuild message into a located error naming the
// source file the user edits.
func (b *build) esbuildError(fs *fileset, m api.Message) error {
	e := &diag.Error{Kind: diag.Build, Msg: m.Text}
	if m.PluginName != "" {
		e.Msg = strings.TrimPrefix(e.Msg, "[plugin "+m.PluginName+"] ")
	}
	if loc := m.Location; loc != nil {
		logical := strings.TrimPrefix(loc.File, namespace+":")
		e.File = logical
		if src, ok := fs.lookup(logical); ok {
			e.File = b.display(src.Abs)
		}
		e.Line, e.Col, e.Source = loc.Line, loc.Column+1, loc.LineText
	}
	return e
}
