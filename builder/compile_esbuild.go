package builder

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/evanw/esbuild/pkg/api"
)

// esbuild keeps what it parsed, file by file, in a build context: a
// rebuild parses again only the files whose contents changed. The entries
// of a theme share most of their modules, and so do the themes of a chain
// and the locales of a theme, so bundles are built on long-lived contexts
// rather than with one api.Build each: on the incremental benchmark's
// corpus (one chain of three themes), the 38 esbuild runs of a cold build
// spent half as much time parsing.
//
// A context's options are fixed when it is made; what varies from bundle
// to bundle (the entry and how paths resolve) goes through the plugin,
// which serves the bundle the context is building at the time. esbuild
// caches a parsed file under its path in the plugin's namespace (the
// logical path) together with its exact contents, so a theme or a locale
// that overrides a file gets it parsed again, and the output does not
// depend on which bundles a context built before (TestEsbuildContextReuse
// compares with a context per bundle, at one thread and at several).
//
// A context holds the syntax trees of every file it parsed, and each of
// its builds costs time in proportion to the number of files it has seen:
// contexts are kept per chain (by its root theme), no more of them alive
// than there are workers (a chain that needs one when all are taken gets
// the one used least recently, made anew), and all are disposed of once
// the bundles are built. On the 20 × 30 benchmark matrix (five chains),
// one context shared by every chain made the cold build 20% slower and
// doubled its peak memory; kept per chain, the build is 4–9% faster and
// peaks within 3% of where it did with a context per bundle.

// esbuildOptions are the options of every bundle.
func esbuildOptions(plugin api.Plugin) api.BuildOptions {
	return api.BuildOptions{
		EntryPoints:       []string{entryPlaceholder},
		Bundle:            true,
		Write:             false,
		Outdir:            "/out",
		AbsWorkingDir:     "/",
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
		Charset:           api.CharsetUTF8,
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{plugin},
	}
}

// entryPlaceholder is the entry point of every context; the plugin
// resolves it to the entry of the bundle being built.
const entryPlaceholder = "scd-entry"

// esbuildCtx is one esbuild context and the bundle it is building.
type esbuildCtx struct {
	ctx  api.BuildContext
	cur  atomic.Pointer[bundleRun]
	root string // the chain it serves
	used int    // when it was last returned (esbuildPool.tick)

	mu    sync.Mutex
	sizes map[string]int // logical path → bytes of the file esbuild last got there
	bytes int            // their sum: what the context's cache holds, roughly
}

// contextSourceBudget bounds the source bytes the live contexts may have
// parsed, together: a context past its share (the budget over the number
// of workers) is disposed of when it is given back instead of reused, so
// that a chain with tens of megabytes of scripts does not keep their
// syntax trees, many times that size, for the whole bundle phase. The
// chains of the benchmark corpora parse 1.1–1.9 MiB each and stay well
// within a share at two workers. Tests set it to 0: no reuse at all.
var contextSourceBudget = 8 << 20

// loaded records a file the context's build got.
func (c *esbuildCtx) loaded(logical string, n int) {
	c.mu.Lock()
	if c.sizes == nil {
		c.sizes = map[string]int{}
	}
	c.bytes += n - c.sizes[logical]
	c.sizes[logical] = n
	c.mu.Unlock()
}

// esbuildPool lends contexts to bundle runs, at most max alive.
type esbuildPool struct {
	max int

	mu     sync.Mutex
	tick   int
	live   int
	made   int // contexts made, for the log
	free   []*esbuildCtx
	closed bool
}

// get returns a context for a bundle of the chain root: a free one of
// that chain, or a new one.
func (p *esbuildPool) get(root string) (*esbuildCtx, error) {
	p.mu.Lock()
	for i, c := range p.free {
		if c.root == root {
			p.free = slices.Delete(p.free, i, i+1)
			p.mu.Unlock()
			return c, nil
		}
	}
	var old *esbuildCtx
	if p.live >= max(1, p.max) && len(p.free) > 0 {
		// Every worker builds one bundle at a time, so when as many
		// contexts as workers are alive, one of them is free.
		i := 0
		for k, c := range p.free {
			if c.used < p.free[i].used {
				i = k
			}
		}
		old = p.free[i]
		p.free = slices.Delete(p.free, i, i+1)
		p.live--
	}
	p.live++
	p.made++
	p.mu.Unlock()
	if old != nil {
		old.ctx.Dispose()
	}
	c := &esbuildCtx{root: root}
	ctx, err := api.Context(esbuildOptions(api.Plugin{Name: "scd-fallback", Setup: c.setup}))
	if err != nil {
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
		return nil, fmt.Errorf("esbuild: %v", err)
	}
	c.ctx = ctx
	return c, nil
}

// put gives a context back (after close, it is disposed of).
func (p *esbuildPool) put(c *esbuildCtx) {
	c.mu.Lock()
	full := c.bytes > contextSourceBudget/max(1, p.max)
	c.mu.Unlock()
	p.mu.Lock()
	if p.closed || full {
		p.live--
		p.mu.Unlock()
		c.ctx.Dispose()
		return
	}
	p.tick++
	c.used = p.tick
	p.free = append(p.free, c)
	p.mu.Unlock()
}

// close disposes of the free contexts, and of the others as they are
// given back: what they parsed is not needed once every bundle is built.
func (p *esbuildPool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.live -= len(free)
	p.mu.Unlock()
	for _, c := range free {
		c.ctx.Dispose()
	}
}

// contexts returns the number of contexts made so far.
func (p *esbuildPool) contexts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}

// build runs one bundle on the context.
func (c *esbuildCtx) build(r *bundleRun) api.BuildResult {
	r.ec = c
	c.cur.Store(r)
	defer c.cur.Store(nil)
	return c.ctx.Rebuild()
}

func (c *esbuildCtx) setup(pb api.PluginBuild) {
	pb.OnResolve(api.OnResolveOptions{Filter: ".*"}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
		return c.cur.Load().resolve(args)
	})
	pb.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: namespace}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
		return c.cur.Load().load(args)
	})
}
