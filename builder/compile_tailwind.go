package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/scdtool/scd/diag"
	sl "github.com/scdtool/scd/source"
)

// Tailwind CSS, for layouts that have it (source.Tailwind): Hyvä themes.
// Such a theme compiles no LESS (planStyles leaves it alone); its
// css/styles.css, for every locale, is what its web/tailwind/ npm project
// builds — `npm ci` then `npm run build`, as Hyvä's production build does —
// run once per theme, before the other work of its jobs, and published
// minified in place of the web/css/styles.css of the sources (a stale
// build output, often committed). With Options.NoTailwind, for shops that
// build the stylesheet elsewhere, nothing runs and that file is published
// as it is.
//
// The build runs in a copy, never in the sources: scd leaves the source
// tree as it found it (no node_modules, no rewritten styles.css or
// generated/ files). Hyvä's configuration names files relative to the
// theme (`@source "../../**/*.phtml"`) and to the project root (the module
// paths of app/etc/hyva-themes.json, resolved from the nearest directory
// with app/ and vendor/), so the copy keeps the theme at its place
// relative to the root: a work directory mirrors the directories from the
// root down to the theme, every other entry of each being a symbolic link
// to the original (the build reads them, as it would in place); the theme
// itself is copied, without node_modules and its web/css/styles.css, so
// that what the build writes (web/css/styles.css, web/tailwind/generated/)
// lands in the copy.
//
// node_modules is installed by `npm ci` in the copy and then kept in the
// cache directory under the digest of the lockfile (tailwind/npm/<sha256>):
// a later build, whatever else changed, links it instead of installing
// again, and only a changed lockfile runs `npm ci` (which needs the npm
// registry) again. Without a cache every build installs.
//
// The stylesheet is cached like every other output, in the pack (kind
// "tailwind"), under a digest of the build's inputs: every file under the
// theme and its ancestors (not node_modules, not the web/css/styles.css the
// build writes), app/etc/hyva-themes.json and the module directories it
// lists, and the directories the theme's hyva.config.json includes
// (source.TailwindTheme.Inputs): a rebuild whose inputs did not change runs
// no npm. The tool versions are pinned by the lockfile, which is one of
// the inputs; node's own version and the environment are not.

// tailwindCSS is the logical name of the stylesheet a Tailwind build
// gives (one of a job's built stylesheets, job.sheets); tailwindSources is
// the logical directory of the npm project.
const (
	tailwindCSS     = "css/styles.css"
	tailwindSources = "tailwind/"
)

// twTheme marks a theme styled with Tailwind; build is nil when no build
// gives its stylesheet (NoTailwind, --no-css, or a nearer theme's own
// web/css/styles.css).
type twTheme struct {
	build *twBuild
}

// twBuild is one theme's Tailwind build, shared by every theme whose
// stylesheet it gives.
type twBuild struct {
	tw        *sl.TailwindTheme
	name      string // Vendor/theme
	digest    string // of its inputs
	err       error  // reading its inputs
	submitted bool
	out       *styleOut // the minified stylesheet, set by its task
}

// submitTailwind gives the jobs of Tailwind themes their stylesheet and
// queues each build once. Their LESS sources are not published (as for a
// theme with LESS), nor the npm project of web/tailwind/ (Magento's deploy
// publishes it, node_modules included when there is one: sources of the
// stylesheet, not assets of the storefront), nor, when a build gives the
// stylesheet, the web/css/styles.css of the sources.
func (b *build) submitTailwind(g pond.TaskGroup, themes map[string]*themeState) {
	for _, key := range slices.Sorted(maps.Keys(themes)) {
		ts := themes[key]
		st := b.twThemes[ts]
		if st == nil || len(ts.jobs) == 0 {
			continue
		}
		tb := st.build
		for _, j := range dirtyJobs(ts.jobs) { // a clean job has its files
			j.leaves = slices.DeleteFunc(j.leaves, func(jl jobLeaf) bool {
				return strings.HasSuffix(jl.logical, ".less") || strings.HasPrefix(jl.logical, tailwindSources) ||
					tb != nil && jl.logical == tailwindCSS
			})
			if tb != nil {
				j.sheets = append(j.sheets, sheet{tailwindCSS, tb.out})
			}
		}
		if tb != nil && !tb.submitted && !allClean(ts) {
			tb.submitted = true
			owner := ts.jobs[0].id
			b.task(g, "tailwind "+tb.name, func() { b.runTailwind(tb, owner) })
		}
	}
}

// runTailwind gives a build's stylesheet, from the pack when its inputs
// are unchanged, else by running it.
func (b *build) runTailwind(tb *twBuild, owner string) {
	if tb.err != nil {
		b.fail(&diag.Error{Kind: diag.Build, Scope: owner, File: b.display(tb.tw.Dir),
			Msg: fmt.Sprintf("tailwind %s: reading the build's inputs: %v", tb.name, tb.err)})
		return
	}
	if css, ok := b.recallBytes("tailwind", tb.digest); ok {
		b.log.Debug("cache: tailwind stylesheet unchanged; npm not run", "theme", tb.name)
		tb.out.blob = b.store.put(css, tailwindCSS)
		return
	}
	css, err := b.tailwindBuild(tb, owner)
	if err != nil {
		if b.ctx.Err() == nil { // else the build is failing already
			b.fail(err)
		}
		return
	}
	// The minifier may write past the end of its input: give it a copy.
	in := append(make([]byte, 0, len(css)+1), css...)
	if min, merr := minifiers.Bytes("text/css", in); merr != nil {
		b.warn(&diag.Error{Kind: diag.Build, Scope: owner, File: b.display(tb.tw.Output),
			Msg: fmt.Sprintf("tailwind %s: the stylesheet is published unminified: %v", tb.name, merr)})
	} else {
		css = min
	}
	b.keepBytes("tailwind", tb.digest, css)
	tb.out.blob = b.store.put(css, tailwindCSS)
}

// tailwindBuild runs the build in a copy of the theme and returns the
// stylesheet it wrote.
func (b *build) tailwindBuild(tb *twBuild, owner string) ([]byte, error) {
	tw := tb.tw
	fail := func(format string, args ...any) error {
		return &diag.Error{Kind: diag.Build, Scope: owner, File: b.display(filepath.Join(tw.Dir, "package.json")),
			Msg: fmt.Sprintf("tailwind %s: ", tb.name) + fmt.Sprintf(format, args...)}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		// The machine's setup, not the sources.
		return nil, &diag.Error{Kind: diag.Config, Scope: owner, Msg: fmt.Sprintf(
			"tailwind %s: npm is not on PATH: a Hyvä theme's stylesheet is built with node and npm (--no-tailwind publishes its web/css/styles.css as it is)", tb.name)}
	}
	base := os.TempDir()
	if b.cache != nil {
		// Beside the kept node_modules: moved there by a rename.
		base = b.tailwindCache()
		removeStaleWork(base)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(base, "work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work) // links are removed, not followed
	t0 := time.Now()
	theme, files, err := mirrorTheme(work, tw.Root, tw.Theme.Path, tw.Output)
	if err != nil {
		return nil, fail("copying the theme: %v", err)
	}
	b.log.Debug("tailwind theme copied", "theme", tb.name, "files", files, "wall", time.Since(t0).Round(10*time.Microsecond))
	rel, err := filepath.Rel(tw.Theme.Path, tw.Dir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(theme, rel)
	out := &lineLog{log: b.log.Info, prefix: "tailwind " + tb.name + ": "}

	t1 := time.Now()
	if err := b.tailwindModules(tb, npm, dir, out); err != nil {
		if b.ctx.Err() != nil {
			return nil, b.ctx.Err()
		}
		var de *diag.Error
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, fail("%v%s", err, out.tail())
	}
	t2 := time.Now()
	if err := b.runNpm(npm, dir, out, "run", "build"); err != nil {
		if b.ctx.Err() != nil {
			return nil, b.ctx.Err()
		}
		return nil, fail("`npm run build` failed: %v%s", err, out.tail())
	}
	outRel, err := filepath.Rel(tw.Theme.Path, tw.Output)
	if err != nil {
		return nil, err
	}
	css, err := os.ReadFile(filepath.Join(theme, outRel))
	if err != nil {
		return nil, fail("`npm run build` wrote no %s%s", filepath.ToSlash(outRel), out.tail())
	}
	b.log.Info("tailwind "+tb.name+": built "+filepath.ToSlash(outRel), "bytes", len(css),
		"install", t2.Sub(t1).Round(time.Millisecond), "build", time.Since(t2).Round(time.Millisecond))
	return css, nil
}

// tailwindModules gives the copy at dir its node_modules: the one kept
// for its lockfile, else installed by `npm ci` (and then kept).
func (b *build) tailwindModules(tb *twBuild, npm, dir string, out *lineLog) error {
	var lock []byte
	for _, name := range []string{"npm-shrinkwrap.json", "package-lock.json"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			lock = data
			break
		}
	}
	if lock == nil {
		pkg, err := os.ReadFile(filepath.Join(dir, "package.json"))
		if err != nil {
			return err
		}
		var p struct {
			Deps    map[string]any `json:"dependencies"`
			DevDeps map[string]any `json:"devDependencies"`
		}
		if err := json.Unmarshal(pkg, &p); err != nil {
			return &diag.Error{Kind: diag.Build, File: b.display(filepath.Join(tb.tw.Dir, "package.json")),
				Msg: fmt.Sprintf("tailwind %s: %v", tb.name, err)}
		}
		if len(p.Deps)+len(p.DevDeps) > 0 {
			return &diag.Error{Kind: diag.Build, File: b.display(filepath.Join(tb.tw.Dir, "package.json")),
				Msg: fmt.Sprintf("tailwind %s: no package-lock.json beside package.json: `npm ci` installs from one (`npm install --package-lock-only` makes it)", tb.name)}
		}
		return nil // nothing to install
	}
	sum := sha256.Sum256(lock)
	digest := hex.EncodeToString(sum[:])
	nm := filepath.Join(dir, "node_modules")
	if b.cache == nil {
		return b.runNpm(npm, dir, out, "ci")
	}
	// One install at a time: themes with the same lockfile share it.
	b.twInstall.Lock()
	defer b.twInstall.Unlock()
	store := filepath.Join(b.tailwindCache(), "npm", digest)
	complete := filepath.Join(store, ".complete")
	if _, err := os.Stat(complete); err == nil {
		now := time.Now()
		_ = os.Chtimes(complete, now, now) // its last use, see pruneModules
		return os.Symlink(filepath.Join(store, "node_modules"), nm)
	}
	b.log.Info("tailwind "+tb.name+": npm ci", "lockfile", digest[:12])
	if err := b.runNpm(npm, dir, out, "ci"); err != nil {
		return fmt.Errorf("`npm ci` failed: %w", err)
	}
	// Keep it. A lockfile without dependencies installs nothing.
	if err := os.MkdirAll(nm, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(store), ".tmp-")
	if errors.Is(err, fs.ErrNotExist) && os.MkdirAll(filepath.Dir(store), 0o755) == nil {
		tmp, err = os.MkdirTemp(filepath.Dir(store), ".tmp-")
	}
	if err != nil {
		return nil // not kept: the build goes on with its own
	}
	if os.Rename(nm, filepath.Join(tmp, "node_modules")) != nil ||
		os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644) != nil {
		os.RemoveAll(tmp)
		return nil
	}
	_ = os.RemoveAll(store) // an incomplete one
	if os.Rename(tmp, store) != nil {
		os.RemoveAll(tmp)
	}
	pruneModules(filepath.Dir(store), digest)
	return os.Symlink(filepath.Join(store, "node_modules"), nm)
}

// tailwindCache is the cache's directory of Tailwind builds (absolute:
// links point into it).
func (b *build) tailwindCache() string {
	dir, err := filepath.Abs(filepath.Join(b.cache.dir, "tailwind"))
	if err != nil {
		return filepath.Join(b.cache.dir, "tailwind")
	}
	return dir
}

// modulesMaxAge is how long an installed node_modules that no build used
// is kept.
const modulesMaxAge = 30 * 24 * time.Hour

// pruneModules removes the installed node_modules of other lockfiles that
// no build used for modulesMaxAge.
func pruneModules(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == keep || !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(filepath.Join(p, ".complete"))
		if err != nil && strings.HasPrefix(e.Name(), ".tmp-") {
			fi, err = os.Stat(p)
		}
		if err == nil && time.Since(fi.ModTime()) > modulesMaxAge {
			os.RemoveAll(p)
		}
	}
}

// removeStaleWork removes the work directories that builds killed long ago
// left in dir.
func removeStaleWork(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "work-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// runNpm runs npm with args in dir, its output (both streams, in order)
// logged line by line. npm and what its scripts start are one process
// group, killed together when the build is cancelled.
func (b *build) runNpm(npm, dir string, out *lineLog, args ...string) error {
	cmd := exec.CommandContext(b.ctx, npm, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out.flush()
	return err
}

// lineLog logs what a command writes, line by line with a prefix, and
// keeps the last lines for an error message.
type lineLog struct {
	log    func(msg string, args ...any)
	prefix string
	mu     sync.Mutex
	buf    []byte
	last   []string
}

const tailLines = 12

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) line(s string) {
	s = strings.TrimRight(ansiEscape.ReplaceAllString(s, ""), " \r\t")
	if s == "" {
		return
	}
	l.log(l.prefix + s)
	if l.last = append(l.last, s); len(l.last) > tailLines {
		l.last = l.last[len(l.last)-tailLines:]
	}
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(string(l.buf))
		l.buf = nil
	}
}

// tail is the last lines logged, for an error message.
func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return ""
	}
	return "; its last lines:\n    | " + strings.Join(l.last, "\n    | ")
}

// mirrorTheme lays out in work the path from the project root to the
// theme: each directory on the way is a directory of work whose other
// entries are symbolic links to the originals, and the theme is a copy
// (without node_modules, .git and the file the build writes, output). It
// returns the copy's directory and the number of files copied.
//
// The root and the theme are taken by their real paths, as the build
// would see them in place (process.cwd() is resolved). A theme outside
// the root is mirrored from their common ancestor.
func mirrorTheme(work, root, theme, output string) (string, int, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", 0, err
	}
	realTheme, err := filepath.EvalSymlinks(theme)
	if err != nil {
		return "", 0, err
	}
	realWork, err := filepath.EvalSymlinks(work)
	if err != nil {
		return "", 0, err
	}
	base := realRoot
	for !within(realTheme, base) {
		base = filepath.Dir(base)
	}
	rel, err := filepath.Rel(base, realTheme)
	if err != nil {
		return "", 0, err
	}
	src, dst := base, work
	if rel != "." {
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			entries, err := os.ReadDir(src)
			if err != nil {
				return "", 0, err
			}
			for _, e := range entries {
				if e.Name() == part {
					continue
				}
				p := filepath.Join(src, e.Name())
				if within(realWork, p) {
					continue // the directory of the work directory (the cache)
				}
				if err := os.Symlink(p, filepath.Join(dst, e.Name())); err != nil {
					return "", 0, err
				}
			}
			src, dst = filepath.Join(src, part), filepath.Join(dst, part)
			if err := os.Mkdir(dst, 0o755); err != nil {
				return "", 0, err
			}
		}
	}
	skip := ""
	if r, err := filepath.Rel(theme, output); err == nil {
		skip = filepath.Join(realTheme, r)
	}
	n, err := copyTree(realTheme, dst, skip)
	return dst, n, err
}

// copyTree copies the files of src into the existing directory dst (links
// as links), without node_modules and .git directories and the file skip.
func copyTree(src, dst, skip string) (int, error) {
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		to := filepath.Join(dst, strings.TrimPrefix(p, src))
		switch {
		case d.IsDir():
			if d.Name() == "node_modules" || d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.Mkdir(to, 0o755)
		case p == skip:
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			n++
			return copyFile(p, to)
		}
		return nil
	})
	return n, err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
