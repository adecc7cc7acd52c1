// Package less compiles LESS for scd with the real less.js (npm less 4.9.1,
// pinned by builder/less/package-lock.json), run as a small pool of long-lived
// node worker processes that scd starts and feeds over stdin/stdout: one
// process per worker, never one per file.
//
// # The worker
//
// The worker is driver.js, embedded in the scd binary and run as
// `node -e <driver.js>`, so an installed scd needs no file from this
// repository. It speaks newline-delimited JSON: one request (a root logical
// path and the in-memory file map), one reply (CSS, source map, the files less
// read, warnings, or a located error). A less FileManager plugin serves
// @import and data-uri() from the request's map only, relative to the importing
// file's directory as less resolves relative imports; nothing is read from
// disk, @plugin is refused, and image-size()/image-width()/image-height() are
// errors (less-node reads those images from disk).
//
// less.js options: math 'always' (Magento's LESS needs it: with less 4's
// default, parens-division, lib/web's _reset.less stops compiling), rewriteUrls
// 'off' and javascriptEnabled false. rewriteUrls 'off' is what Magento uses:
// its less.php adapter (Framework/Css/PreProcessor/Adapter/Less/Processor.php)
// passes 'relativeUrls' => false, and its grunt config (dev/tools/grunt/configs
// /less.js) leaves less.js's default, which is also off. Magento's sources
// write url()s relative to the compiled CSS (css/styles-m.css refers to
// ../images/… and ../fonts/…, often through @{baseDir}); rewriting them
// relative to each imported file (rewriteUrls 'all' or 'local') would turn a
// url() written in css/source/_x.less into source/../images/…, which is wrong.
//
// # Where less comes from at run time
//
// The first of:
//
//  1. Options.ModuleDir, a directory whose node_modules holds less;
//  2. the environment variable SCD_LESS_DIR, the same;
//  3. this package's directory in the source tree scd was built from
//     (builder/less/node_modules after `make less-deps`, that is `npm ci
//     --prefix builder/less`): what tests and a `make build` binary on the
//     same machine use;
//  4. require.resolve('less') from the working directory (a Magento project
//     often has node_modules with less).
//
// A directory named by 1 or 2 that has no less is an error, not a reason to
// fall through to another less: the less that compiles a shop's CSS is never
// a surprise. Any less 4.x is accepted (4.9.1 is what scd is tested with);
// Check reports the version, which belongs in cache keys. When less or node is
// missing, the error says what to install and how to point scd at it.
//
// # Minify
//
// CompileOptions.Minify is not implemented: less's own compress is
// deprecated, and scd's builder minifies CSS itself with tdewolff/minify (as
// it does for every CSS file); Compile returns an error if it is set.
package less

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Options configures a Pool.
type Options struct {
	Workers   int    // processes at most (default 1); started lazily, on first Compile
	Node      string // node binary (default: "node" from PATH)
	ModuleDir string // a directory whose node_modules holds less (see the package doc)
}

// CompileOptions are per-compile options.
type CompileOptions struct {
	SourceMap bool // also return a source map (sources named by logical path, with their contents)
	Minify    bool // not implemented (see the package doc): an error if set
}

// Result is a compiled root.
type Result struct {
	CSS      []byte
	Map      []byte // when SourceMap: a v3 source map; the CSS carries no sourceMappingURL comment
	Warnings []Message
	Imports  []string // logical paths less read, the root included, sorted (for cache keys)
}

// Message is a warning from less. File is a logical path, or "" (with Line and
// Col 0) when less gives no location (for example "extend '.x' has no matches").
type Message struct {
	File      string
	Line, Col int
	Text      string
}

// Error is a LESS error (syntax, undefined variable or mixin, missing import…)
// located where less.js located it: File is the logical path of that file (an
// imported file when the error is there; for a missing import, the file that
// imports it), Line and Col are 1-based (0 when less gives no position), Type
// is less's error type (Parse, Syntax, Name, File, Argument…), and Extract is
// the source line when less gives it.
type Error struct {
	File      string
	Line, Col int
	Text      string
	Type      string
	Extract   string
}

func (e *Error) Error() string {
	typ := e.Type
	if typ == "" {
		typ = "Syntax"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %sError: %s", e.File, e.Line, e.Col, typ, e.Text)
	}
	return fmt.Sprintf("%s: %sError: %s", e.File, typ, e.Text)
}

// errClosed is returned by Compile after Close.
var errClosed = errors.New("less: the compiler pool is closed")

// Pool is a pool of less.js worker processes. Its methods are safe for
// concurrent use.
type Pool struct {
	opts Options
	sem  chan struct{} // one token per request in flight (at most Workers)

	mu     sync.Mutex
	idle   []*worker // started, not busy (most recently used last)
	all    map[*worker]struct{}
	closed bool

	runs   atomic.Int64
	nextID atomic.Uint64
}

// NewPool returns a pool; no process starts before the first Compile.
func NewPool(opts Options) *Pool {
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	return &Pool{
		opts: opts,
		sem:  make(chan struct{}, opts.Workers),
		all:  map[*worker]struct{}{},
	}
}

// Runs reports the compiles less.js has done (each request it answered, with
// CSS or with a LESS error).
func (p *Pool) Runs() int64 { return p.runs.Load() }

// Compile compiles the LESS file root (a slash-separated logical path, e.g.
// "css/styles-m.less") with files, an in-memory file map (logical path →
// contents) that holds every file root imports. Imports are resolved only
// against this map, relative to the importing file's directory (a leading "/"
// is the map's root; a path that leaves the map's root is not found). A LESS
// error is returned as *Error, with a Result that holds the Imports read and
// the Warnings so far. If the worker dies during the request, the request
// fails and the next one starts a new worker; if ctx ends first, the worker
// is killed and ctx's error returned (wrapped).
func (p *Pool) Compile(ctx context.Context, root string, files map[string][]byte, o CompileOptions) (*Result, error) {
	if o.Minify {
		return nil, errors.New("less: CompileOptions.Minify is not implemented (minify the CSS with tdewolff/minify, as scd's builder does)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()

	w, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	res, answered, err := w.compile(ctx, p.nextID.Add(1), root, files, o)
	if answered {
		p.runs.Add(1)
	}
	p.put(w)
	return res, err
}

// take returns an idle live worker, or starts one.
func (p *Pool) take(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	for len(p.idle) > 0 {
		w := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if w.alive() {
			p.mu.Unlock()
			return w, nil
		}
		delete(p.all, w) // died while idle: replaced below
		w.kill()
	}
	p.mu.Unlock()

	w, err := startWorker(ctx, p.opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		w.kill()
		return nil, errClosed
	}
	p.all[w] = struct{}{}
	return w, nil
}

// put gives a worker back after a request: a live one to the idle list, a
// dead or failed one away (the next request starts a new one).
func (p *Pool) put(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !w.alive() {
		delete(p.all, w)
		w.kill()
		return
	}
	p.idle = append(p.idle, w)
}

// Close stops the processes: each finishes the request it is handling (for
// at most a few seconds) and exits. Compile returns an error after Close.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	ws := make([]*worker, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.all = map[*worker]struct{}{}
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.stop()
		}()
	}
	wg.Wait()
	return nil
}
