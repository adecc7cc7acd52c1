package less

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// benchFiles generates a Magento-like LESS tree of about size bytes: a root
// importing variables, mixins and partials with nesting, math, guards and
// color functions.
func poolBenchFiles(size int) (map[string][]byte, int) {
	files := map[string][]byte{}
	var vars strings.Builder
	for i := range 200 {
		fmt.Fprintf(&vars, "@color-%d: #%06x;\n@gap-%d: %dpx;\n", i, (i*7919)%0xffffff, i, i%40+1)
	}
	files["css/source/_variables.less"] = []byte(vars.String())
	files["css/source/lib/_mixins.less"] = []byte(`.lib-box(@p; @c) { padding: @p (@p / 2); border: 1px solid darken(@c, 10%); background: fade(@c, 50%); }
.lib-font(@s) when (@s > 14) { font-size: @s; line-height: (@s * 1.5); }
.lib-font(@s) when (@s =< 14) { font-size: @s; line-height: 1.4; }
.lib-media(@w; @rules) { @media (min-width: @w) { @rules(); } }
`)
	var root strings.Builder
	root.WriteString("@import 'source/_variables';\n@import 'source/lib/_mixins';\n")
	total := len(files["css/source/_variables.less"]) + len(files["css/source/lib/_mixins.less"])
	for part := 0; total < size; part++ {
		var b strings.Builder
		for i := range 20 {
			n := (part*20 + i) % 200
			fmt.Fprintf(&b, `.block-%d-%d {
  .lib-box(@gap-%d; @color-%d);
  .lib-font(%dpx);
  margin: -@gap-%d auto @gap-%d * 2;
  &:hover { color: lighten(@color-%d, 20%%); }
  .title, .subtitle { width: percentage((%d / 24)); }
  .lib-media(768px; { width: 50%%; float: left; });
}
`, part, i, n, n, 10+i%10, n, n, n, i%24+1)
		}
		name := fmt.Sprintf("css/source/module-%d/_module.less", part)
		files[name] = []byte(b.String())
		fmt.Fprintf(&root, "@import 'source/module-%d/_module';\n", part)
		total += b.Len()
	}
	files["css/styles-m.less"] = []byte(root.String())
	return files, total + root.Len()
}

// BenchmarkPoolCompile compiles a ~100 KB LESS tree on one warm worker.
func BenchmarkPoolCompile(b *testing.B) {
	p := newTestPool(b, 1)
	files, size := poolBenchFiles(100 << 10)
	ctx := context.Background()
	if _, err := p.Compile(ctx, "css/styles-m.less", files, CompileOptions{}); err != nil { // warm up: start the worker
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Compile(ctx, "css/styles-m.less", files, CompileOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLesscCold is what a process per file costs: node starts, loads
// less and compiles the same tree from disk (lessc --math=always).
func BenchmarkLesscCold(b *testing.B) {
	needLess(b)
	lessc := filepath.Join(driverPackageDir(), "node_modules", "less", "bin", "lessc")
	if _, err := os.Stat(lessc); err != nil {
		b.Skipf("no %s: %v", lessc, err)
	}
	files, size := poolBenchFiles(100 << 10)
	dir := b.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		cmd := exec.Command("node", lessc, "--math=always", filepath.Join(dir, "css", "styles-m.less"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("lessc: %v\n%s", err, out)
		}
	}
}

// The pool's CSS for a tree equals lessc's (the same less, from disk, with
// --math=always): serving files from the map changes nothing.
func TestPoolMatchesLessc(t *testing.T) {
	p := newTestPool(t, 1)
	lessc := filepath.Join(driverPackageDir(), "node_modules", "less", "bin", "lessc")
	if _, err := os.Stat(lessc); err != nil {
		t.Skipf("no %s (less is not installed in the source tree): %v", lessc, err)
	}
	files, _ := poolBenchFiles(30 << 10)
	dir := t.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := exec.Command("node", lessc, "--math=always", "--rewrite-urls=off", filepath.Join(dir, "css", "styles-m.less")).Output()
	if err != nil {
		t.Fatalf("lessc: %v", err)
	}
	res := mustCompile(t, p, "css/styles-m.less", files)
	if string(res.CSS) != string(want) {
		t.Errorf("pool CSS (%d bytes) differs from lessc's (%d bytes)", len(res.CSS), len(want))
	}
	if len(res.Imports) != len(files) {
		t.Errorf("%d imports read, want all %d files", len(res.Imports), len(files))
	}
}
