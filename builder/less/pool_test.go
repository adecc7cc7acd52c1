package less

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needLess skips the test when node or less.js is not usable here, loudly,
// and fails it under CI=true (where .ci/run and make install both).
func needLess(t testing.TB) {
	t.Helper()
	checkOnce.Do(func() { _, checkLess, checkErr = Check(Options{}) })
	if checkErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("node or less.js is not usable, and CI=true: %v", checkErr)
	}
	t.Skipf("SKIPPED — node or less.js is not usable here (run `make less-deps`, that is npm ci --prefix builder/less): %v", checkErr)
}

var (
	checkOnce sync.Once
	checkLess string
	checkErr  error
)

func newTestPool(t testing.TB, workers int) *Pool {
	t.Helper()
	needLess(t)
	p := NewPool(Options{Workers: workers})
	t.Cleanup(func() { p.Close() })
	return p
}

// fileMap builds a file map from path, contents pairs.
func poolFiles(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func mustCompile(t *testing.T, p *Pool, root string, files map[string][]byte) *Result {
	t.Helper()
	res, err := p.Compile(context.Background(), root, files, CompileOptions{})
	if err != nil {
		t.Fatalf("Compile(%s): %v", root, err)
	}
	return res
}

func TestPoolCompileImports(t *testing.T) {
	p := newTestPool(t, 1)
	files := poolFiles(
		"css/styles-m.less", `@import 'source/_variables';
@import "source/lib/_mixins.less";
@import (reference) "../Magento_Theme/css/source/_module.less";
@import url("print.css");
.page { .box(@gap); color: @brand; }
`,
		"css/source/_variables.less", `@brand: #1979c3;
@gap: 10px;
`,
		"css/source/lib/_mixins.less", `@import "_helpers";
.box(@p) { padding: @p; margin: (@p * 2); .helper(); }
`,
		"css/source/lib/_helpers.less", `.helper() { border: 0; }
`,
		"Magento_Theme/css/source/_module.less", `@import "../../../css/source/_variables.less";
.theme-only { color: @brand; }
`,
		"css/unused.less", `this is not valid LESS, and it is never read`,
	)
	res := mustCompile(t, p, "css/styles-m.less", files)
	want := `@import url("print.css");
.page {
  padding: 10px;
  margin: 20px;
  border: 0;
  color: #1979c3;
}
`
	if string(res.CSS) != want {
		t.Errorf("CSS:\n%s\nwant:\n%s", res.CSS, want)
	}
	wantImports := []string{
		"Magento_Theme/css/source/_module.less",
		"css/source/_variables.less",
		"css/source/lib/_helpers.less",
		"css/source/lib/_mixins.less",
		"css/styles-m.less",
	}
	if !reflect.DeepEqual(res.Imports, wantImports) {
		t.Errorf("Imports = %q, want %q", res.Imports, wantImports)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("Warnings = %+v", res.Warnings)
	}
	if res.Map != nil {
		t.Errorf("Map without SourceMap: %s", res.Map)
	}
}

// Magento's LESS needs math 'always': a division outside parentheses is done.
func TestPoolMathAlways(t *testing.T) {
	p := newTestPool(t, 1)
	res := mustCompile(t, p, "a.less", poolFiles("a.less", `@w: 10px;
.m {
  width: (10px / 2);
  height: 10px / 2;
  margin: @w / 4 @w * 2;
  line-height: -@w + 2;
  font: 12px/1.5 sans-serif;
}
`))
	want := `.m {
  width: 5px;
  height: 5px;
  margin: 2.5px 20px;
  line-height: -8px;
  font: 12px/1.5 sans-serif;
}
`
	if string(res.CSS) != want {
		t.Errorf("CSS:\n%s\nwant:\n%s", res.CSS, want)
	}
}

// url()s are left as written (rewriteUrls 'off', as Magento compiles):
// Magento's sources write them relative to the compiled css/ file.
func TestPoolURLsAsWritten(t *testing.T) {
	p := newTestPool(t, 1)
	res := mustCompile(t, p, "css/styles-m.less", poolFiles(
		"css/styles-m.less", `@baseDir: '../';
@import 'source/lib/_icons';`,
		"css/source/lib/_icons.less", `.icon { background: url('../images/logo.svg'); src: url('@{baseDir}fonts/icons.woff2'); }`,
	))
	want := `.icon {
  background: url('../images/logo.svg');
  src: url('../fonts/icons.woff2');
}
`
	if string(res.CSS) != want {
		t.Errorf("CSS:\n%s\nwant:\n%s", res.CSS, want)
	}
}

// Each kind of LESS error is located in the imported file where it is.
func TestPoolErrorsLocated(t *testing.T) {
	p := newTestPool(t, 1)
	root := "css/styles-m.less"
	rootSrc := "@import 'source/_a';\n.root { color: red; }\n"
	for _, tc := range []struct {
		name, src string
		typ       string
		line, col int
		text      string
		extract   string
	}{
		{
			name: "syntax", src: "// a\n.x {\n  color: red;\n  width: ~\"a;\n}\n",
			typ: "Parse", line: 4, col: 11, text: "Unrecognised input", extract: "  width: ~\"a;",
		},
		{
			name: "undefined variable", src: "// a\n\n.x { color: @nope; }\n",
			typ: "Name", line: 3, col: 13, text: "variable @nope is undefined", extract: ".x { color: @nope; }",
		},
		{
			name: "undefined mixin", src: "// a\n.x {\n    .lib-nope();\n}\n",
			typ: "Name", line: 3, col: 5, text: ".lib-nope is undefined", extract: "    .lib-nope();",
		},
		{
			name: "missing import", src: "// a\n\n  @import 'lib/_gone';\n",
			typ: "File", line: 3, col: 3, text: "'lib/_gone' wasn't found", extract: "  @import 'lib/_gone';",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Compile(context.Background(), root, poolFiles(root, rootSrc, "css/source/_a.less", tc.src), CompileOptions{})
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if le.File != "css/source/_a.less" || le.Line != tc.line || le.Col != tc.col || le.Type != tc.typ {
				t.Errorf("error at %s:%d:%d (%s), want css/source/_a.less:%d:%d (%s): %v", le.File, le.Line, le.Col, le.Type, tc.line, tc.col, tc.typ, le)
			}
			if !strings.Contains(le.Text, tc.text) {
				t.Errorf("Text = %q, want it to contain %q", le.Text, tc.text)
			}
			if le.Extract != tc.extract {
				t.Errorf("Extract = %q, want %q", le.Extract, tc.extract)
			}
			wantMsg := fmt.Sprintf("css/source/_a.less:%d:%d: %sError: ", tc.line, tc.col, tc.typ)
			if !strings.HasPrefix(le.Error(), wantMsg) {
				t.Errorf("Error() = %q, want the prefix %q", le.Error(), wantMsg)
			}
			if res == nil || !hasString(res.Imports, "css/source/_a.less") {
				t.Errorf("the files read are returned with a LESS error too: %+v", res)
			}
		})
	}
	// An error in the root itself names the root.
	_, err := p.Compile(context.Background(), root, poolFiles(root, ".x { color: @nope; }"), CompileOptions{})
	var le *Error
	if !errors.As(err, &le) || le.File != root || le.Line != 1 || le.Col != 13 {
		t.Errorf("root error = %#v", err)
	}
	// A root that is not in the map.
	_, err = p.Compile(context.Background(), "css/none.less", poolFiles(root, ""), CompileOptions{})
	if !errors.As(err, &le) || le.File != "css/none.less" || le.Type != "File" {
		t.Errorf("missing root error = %#v", err)
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPoolWarnings(t *testing.T) {
	p := newTestPool(t, 1)
	res := mustCompile(t, p, "css/a.less", poolFiles(
		"css/a.less", "@import 'source/_b';\n",
		"css/source/_b.less", ".m() { color: red; }\n.x {\n  .m;\n}\n.y:extend(.nothing) {}\n",
	))
	if !strings.Contains(string(res.CSS), "color: red") {
		t.Errorf("CSS = %s", res.CSS)
	}
	var located, extend bool
	for _, m := range res.Warnings {
		if m.File == "css/source/_b.less" && m.Line == 3 && m.Col == 5 && strings.Contains(m.Text, "without parentheses is deprecated") {
			located = true
		}
		if m.File == "" && strings.Contains(m.Text, "extend ' .nothing' has no matches") {
			extend = true
		}
	}
	if !located || !extend {
		t.Errorf("Warnings = %+v; want the deprecated mixin call at css/source/_b.less:3:5 (less points after the name) and the unmatched extend", res.Warnings)
	}
	// Warnings belong to their request.
	res = mustCompile(t, p, "css/a.less", poolFiles("css/a.less", ".z { color: blue; }"))
	if len(res.Warnings) != 0 {
		t.Errorf("a clean compile's Warnings = %+v", res.Warnings)
	}
}

func TestPoolSourceMap(t *testing.T) {
	p := newTestPool(t, 1)
	res, err := p.Compile(context.Background(), "css/styles-m.less", poolFiles(
		"css/styles-m.less", "@import 'source/_b';\n.a { color: red; }\n",
		"css/source/_b.less", ".b { color: blue; }\n",
	), CompileOptions{SourceMap: true})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version        int      `json:"version"`
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
		File           string   `json:"file"`
		Mappings       string   `json:"mappings"`
	}
	if err := json.Unmarshal(res.Map, &m); err != nil {
		t.Fatalf("map %s: %v", res.Map, err)
	}
	if m.Version != 3 || !reflect.DeepEqual(m.Sources, []string{"css/source/_b.less", "css/styles-m.less"}) || len(m.SourcesContent) != 2 || m.Mappings == "" || m.File != "styles-m.css" {
		t.Errorf("map = %+v", m)
	}
	if strings.Contains(string(res.CSS), "sourceMappingURL") {
		t.Errorf("the CSS carries a sourceMappingURL comment: %s", res.CSS)
	}
}

// data-uri() reads from the map, binary files included, relative to the
// root's directory (rewriteUrls 'off').
func TestPoolDataURI(t *testing.T) {
	p := newTestPool(t, 1)
	files := poolFiles("css/a.less", "@import 'source/_b';", "css/source/_b.less", ".i { background: data-uri('../images/dot.gif'); }")
	files["images/dot.gif"] = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!")
	res := mustCompile(t, p, "css/a.less", files)
	if !strings.Contains(string(res.CSS), `url("data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACE=")`) {
		t.Errorf("CSS = %s", res.CSS)
	}
	if !hasString(res.Imports, "images/dot.gif") {
		t.Errorf("Imports = %q", res.Imports)
	}
}

// Nothing comes from disk: not an import outside the map, not a plugin.
func TestPoolNoDisk(t *testing.T) {
	p := newTestPool(t, 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "disk.less"), []byte(".disk{a:b}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		"@import '" + filepath.ToSlash(filepath.Join(dir, "disk.less")) + "';": "wasn't found",
		"@import '../../disk.less';":                  "wasn't found",
		"@import (less) 'http://example.com/a.less';": "wasn't found",
		"@plugin 'plugin';":                           "@plugin \"plugin\" is not supported",
		".x { width: image-width('a.png'); }":         "image-width() is not supported",
	} {
		_, err := p.Compile(context.Background(), "a.less", poolFiles("a.less", src, "plugin.js", "module.exports = {}", "a.png", "x"), CompileOptions{})
		var le *Error
		if !errors.As(err, &le) || !strings.Contains(le.Text, want) {
			t.Errorf("%s: err = %v, want a LESS error saying %q", src, err, want)
		}
	}
}

func TestPoolConcurrent(t *testing.T) {
	p := newTestPool(t, 2)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files := poolFiles(
				"css/a.less", fmt.Sprintf("@import 'lib/_v';\n.c%d { width: (@w * %d); }\n", i, i),
				"css/lib/_v.less", "@w: 3px;",
			)
			res, err := p.Compile(context.Background(), "css/a.less", files, CompileOptions{})
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf(".c%d {\n  width: %dpx;\n}\n", i, 3*i); string(res.CSS) != want {
				errs <- fmt.Errorf("request %d: CSS %q, want %q", i, res.CSS, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := p.Runs(); got != n {
		t.Errorf("Runs() = %d, want %d", got, n)
	}
	p.mu.Lock()
	procs := len(p.all)
	p.mu.Unlock()
	if procs < 1 || procs > 2 {
		t.Errorf("%d worker processes, want 1 or 2 (Workers: 2)", procs)
	}
}

func TestPoolRuns(t *testing.T) {
	p := newTestPool(t, 1)
	if p.Runs() != 0 {
		t.Fatalf("Runs() = %d before any compile", p.Runs())
	}
	p.mu.Lock()
	started := len(p.all)
	p.mu.Unlock()
	if started != 0 {
		t.Fatalf("%d workers started before the first Compile", started)
	}
	mustCompile(t, p, "a.less", poolFiles("a.less", ".a{b:c}"))
	p.Compile(context.Background(), "a.less", poolFiles("a.less", ".a{b:@c}"), CompileOptions{}) // a LESS error is a run too
	mustCompile(t, p, "a.less", poolFiles("a.less", ".a{b:d}"))
	if p.Runs() != 3 {
		t.Errorf("Runs() = %d, want 3", p.Runs())
	}
	if _, err := p.Compile(context.Background(), "a.less", poolFiles("a.less", ""), CompileOptions{Minify: true}); err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Errorf("Minify: err = %v", err)
	}
	if p.Runs() != 3 {
		t.Errorf("Runs() = %d after a refused request, want 3", p.Runs())
	}
}

// heavyLess is LESS that keeps less.js busy for many seconds.
var heavyLess = poolFiles("heavyLess.less", `.inner(@i, @j) when (@j > 0) {
  .c-@{i}-@{j} { width: (@i * @j * 1px); color: darken(#888, mod(@j, 50)); }
  .inner(@i, @j - 1);
}
.outer(@i) when (@i > 0) { .inner(@i, 100); .outer(@i - 1); }
.outer(60);
`)

// busyWorker waits until the pool's only worker has a request in hand.
func busyWorker(t *testing.T, p *Pool) *worker {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		var w *worker
		if len(p.idle) == 0 {
			for x := range p.all {
				w = x
			}
		}
		p.mu.Unlock()
		if w != nil {
			time.Sleep(200 * time.Millisecond) // the request is written and less is at work
			return w
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no busy worker")
	return nil
}

func TestPoolWorkerKilled(t *testing.T) {
	p := newTestPool(t, 1)
	ok := poolFiles("a.less", ".a { b: c; }")
	mustCompile(t, p, "a.less", ok)
	p.mu.Lock()
	first := p.idle[0]
	p.mu.Unlock()

	// Killed while idle: the next request gets a new worker.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	mustCompile(t, p, "a.less", ok)
	p.mu.Lock()
	second := p.idle[0]
	n := len(p.all)
	p.mu.Unlock()
	if second == first || n != 1 {
		t.Fatalf("after a kill: worker %p (first %p), %d workers", second, first, n)
	}

	// Killed during a request: that request fails, clearly; the next works.
	done := make(chan error, 1)
	go func() {
		_, err := p.Compile(context.Background(), "heavyLess.less", heavyLess, CompileOptions{})
		done <- err
	}()
	w := busyWorker(t, p)
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, errWorkerDied) || !strings.Contains(err.Error(), "heavyLess.less") || !strings.Contains(err.Error(), "killed") {
			t.Errorf("err = %v, want the worker's death while compiling heavyLess.less", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request of a killed worker hangs")
	}
	res := mustCompile(t, p, "a.less", ok)
	if string(res.CSS) != ".a {\n  b: c;\n}\n" {
		t.Errorf("CSS after a restart = %q", res.CSS)
	}
}

func TestPoolCancel(t *testing.T) {
	p := newTestPool(t, 1)
	mustCompile(t, p, "a.less", poolFiles("a.less", ".a{b:c}")) // warm: the worker has started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Compile(ctx, "heavyLess.less", heavyLess, CompileOptions{})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("a cancelled compile returned after %v", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	// The worker was killed; the next request starts a new one.
	mustCompile(t, p, "a.less", poolFiles("a.less", ".a{b:c}"))

	// Cancelled before it starts.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := p.Compile(ctx, "a.less", poolFiles("a.less", ".a{b:c}"), CompileOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	p := newTestPool(t, 2)
	mustCompile(t, p, "a.less", poolFiles("a.less", ".a{b:c}"))
	p.mu.Lock()
	var ws []*worker
	for w := range p.all {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		select {
		case <-w.exited:
		default:
			t.Errorf("worker pid %d still running after Close", w.pid())
		}
		if w.cmd.ProcessState == nil || !w.cmd.ProcessState.Success() {
			t.Errorf("worker pid %d: %v, want a clean exit (stdin closed)", w.pid(), w.cmd.ProcessState)
		}
	}
	if _, err := p.Compile(context.Background(), "a.less", poolFiles("a.less", ""), CompileOptions{}); !errors.Is(err, errClosed) {
		t.Errorf("Compile after Close: %v", err)
	}
}

func TestCheckAndVersion(t *testing.T) {
	needLess(t)
	nodeV, lessV, err := Check(Options{})
	if err != nil || !strings.HasPrefix(nodeV, "v") || lessV == "" {
		t.Fatalf("Check() = %q, %q, %v", nodeV, lessV, err)
	}
	// In this repository, tests use builder/less/node_modules: the pinned less.
	if hasLess(driverPackageDir()) && lessV != pinnedVersion {
		t.Errorf("less %s from %s, want the pinned %s", lessV, driverPackageDir(), pinnedVersion)
	}
	// package.json and package-lock.json pin the version the error messages name.
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	for name, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if pkg.Dependencies["less"] != pinnedVersion || lock.Packages["node_modules/less"].Version != pinnedVersion {
		t.Errorf("package.json less %q, package-lock.json less %q, pinnedVersion %q", pkg.Dependencies["less"], lock.Packages["node_modules/less"].Version, pinnedVersion)
	}
}

// The errors for a missing node or less say what to install.
func TestMissingNodeOrLess(t *testing.T) {
	_, _, err := Check(Options{Node: filepath.Join(t.TempDir(), "no-node")})
	if err == nil || !strings.Contains(err.Error(), "node not found") || !strings.Contains(err.Error(), "Node.js >= 18") {
		t.Errorf("missing node: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed, and CI=true")
		}
		t.Skip("SKIPPED — node is not installed")
	}
	empty := t.TempDir()
	for _, o := range []struct {
		opts Options
		env  string
	}{{opts: Options{ModuleDir: empty}}, {env: empty}} {
		t.Setenv("SCD_LESS_DIR", o.env)
		p := NewPool(o.opts)
		_, err := p.Compile(context.Background(), "a.less", poolFiles("a.less", ""), CompileOptions{})
		p.Close()
		want := "npm install --prefix " + empty + " less@" + pinnedVersion
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "SCD_LESS_DIR="+empty) {
			t.Errorf("%+v: err = %v, want it to say %q and SCD_LESS_DIR", o, err, want)
		}
	}
	// From a working directory without less (and no SCD_LESS_DIR), when the
	// source tree's less is not there either: the driver says so.
	t.Setenv("SCD_LESS_DIR", "")
	cmd := exec.Command("node", "-e", driverJS)
	cmd.Dir = empty
	cmd.Env = workerEnv("")
	out, _ := cmd.Output()
	if !strings.Contains(string(out), `"missing":true`) {
		t.Errorf("driver from %s without less: %s", empty, out)
	}
}
