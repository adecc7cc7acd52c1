package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tdewolff/minify/v2"
	mincss "github.com/tdewolff/minify/v2/css"

	"github.com/scdtool/scd/builder/less"
)

// TestMain lets the test binary act as the scd command inside scripts:
// `exec scd …` runs run() in a child process, with a real exit code.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"scd": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script, one behaviour
// of the command line per script. Each script carries its small theme tree;
// $SAMPLE is the bundled sample (fixtures/sample), to copy with cpdir.
func TestScripts(t *testing.T) {
	dir := filepath.Join("testdata", "script")
	sample, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "sample"))
	if err != nil {
		t.Fatal(err)
	}
	magento, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "magento"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			home := filepath.Join(e.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o777); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			// CI changes the progress display; scripts set it when they
			// mean to.
			e.Setenv("CI", "")
			e.Setenv("SAMPLE", sample)
			e.Setenv("MAGENTO", magento)
			e.Setenv("HYVA", filepath.Join(filepath.Dir(magento), "hyva"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"cpdir":       cmdCpdir,
			"treehash":    cmdTreehash,
			"exists-glob": cmdExistsGlob,
			"catglob":     cmdCatglob,
			"nodeval":     cmdNodeval,
			"sidecars-ok": cmdSidecarsOK,
			"jsonget":     cmdJSONGet,
			"exitcode":    cmdExitcode,
			"samefile":    cmdSamefile,
			"garble":      cmdGarble,
			"lesscss":     cmdLessCSS,
			"sri-ok":      cmdSRIOK,
		},
	})
}

// exitcode N PROG [ARGS...] runs PROG as exec does and checks that it
// exits with status N: `! exec` accepts any failure, and scd's codes mean
// different things (1 sources, 2 configuration, 3 time limit). stdout and
// stderr are PROG's, for the commands that follow.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// samefile A B checks that the files A and B (globs matching one file
// each) are one file: hard links of each other.
func cmdSamefile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samefile A B")
	}
	a, err := os.Stat(one(ts, args[0]))
	ts.Check(err)
	b, err := os.Stat(one(ts, args[1]))
	ts.Check(err)
	switch same := os.SameFile(a, b); {
	case same && neg:
		ts.Fatalf("%s and %s are the same file", args[0], args[1])
	case !same && !neg:
		ts.Fatalf("%s and %s are different files", args[0], args[1])
	}
}

// garble DIR flips the last byte of every file under DIR (a damaged
// cache).
func cmdGarble(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: garble DIR")
	}
	n := 0
	err := filepath.WalkDir(ts.MkAbs(args[0]), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil || len(data) == 0 {
			return err
		}
		data[len(data)-1] ^= 0x55
		n++
		return os.WriteFile(p, data, 0o644)
	})
	ts.Check(err)
	if n == 0 {
		ts.Fatalf("garble: no file under %s", args[0])
	}
}

// cpdir SRC DST copies the tree SRC to DST (which must not exist),
// preserving file modes; `cp` copies single files only.
func cmdCpdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! cpdir")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: cpdir SRC DST")
	}
	src, dst := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	if _, err := os.Lstat(dst); err == nil {
		ts.Fatalf("cpdir: %s already exists", args[1])
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o777)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, info.Mode().Perm())
		}
	})
	ts.Check(err)
}

// treehash DIR prints one line per file of DIR, sorted by path: the
// SHA-256 of its content (or "-> target" for a symlink) and its path,
// then a total. Saving the output and comparing it with cmp shows which
// files differ between two builds.
func cmdTreehash(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! treehash")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: treehash DIR")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("-> %s %s", target, rel))
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%x %s", sha256.Sum256(data), rel))
		return nil
	})
	ts.Check(err)
	slices.Sort(lines)
	all := strings.Join(lines, "\n") + "\n"
	fmt.Fprint(ts.Stdout(), all)
	fmt.Fprintf(ts.Stdout(), "total %x %d files\n", sha256.Sum256([]byte(all)), len(lines))
}

// glob expands pattern, relative to the script's current directory.
func glob(ts *testscript.TestScript, pattern string) []string {
	matches, err := filepath.Glob(ts.MkAbs(pattern))
	ts.Check(err)
	return matches
}

// exists-glob [-count=N] PATTERN... checks that each pattern matches at
// least one file (exactly N with -count); with !, that it matches none.
func cmdExistsGlob(ts *testscript.TestScript, neg bool, args []string) {
	want := -1
	if len(args) > 0 && strings.HasPrefix(args[0], "-count=") {
		n, err := strconv.Atoi(strings.TrimPrefix(args[0], "-count="))
		ts.Check(err)
		want, args = n, args[1:]
	}
	if len(args) == 0 {
		ts.Fatalf("usage: exists-glob [-count=N] PATTERN...")
	}
	if neg && want >= 0 {
		ts.Fatalf("unsupported: ! exists-glob -count")
	}
	for _, pattern := range args {
		got := glob(ts, pattern)
		switch {
		case neg && len(got) > 0:
			ts.Fatalf("%s matches %s", pattern, strings.Join(rel(ts, got), " "))
		case !neg && want < 0 && len(got) == 0:
			ts.Fatalf("%s matches nothing", pattern)
		case !neg && want >= 0 && len(got) != want:
			ts.Fatalf("%s matches %d files, want %d: %s", pattern, len(got), want, strings.Join(rel(ts, got), " "))
		}
	}
}

func rel(ts *testscript.TestScript, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		r, err := filepath.Rel(ts.MkAbs("."), p)
		if err != nil {
			r = p
		}
		out[i] = filepath.ToSlash(r)
	}
	return out
}

// one expands pattern to exactly one file: hashed names are not known in
// advance.
func one(ts *testscript.TestScript, pattern string) string {
	got := glob(ts, pattern)
	if len(got) != 1 {
		ts.Fatalf("%s matches %d files, want 1: %s", pattern, len(got), strings.Join(rel(ts, got), " "))
	}
	return got[0]
}

// catglob PATTERN prints the content of the one file PATTERN matches, so
// that `stdout` can check it.
func cmdCatglob(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! catglob")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: catglob PATTERN")
	}
	data, err := os.ReadFile(one(ts, args[0]))
	ts.Check(err)
	_, err = ts.Stdout().Write(data)
	ts.Check(err)
}

// nodeval FILE... EXPR runs the scripts FILE (each a glob matching one
// file) in order under node, in one global scope as a browser would run
// them, then prints EXPR as JSON. Guard it with [!exec:node]: node is not
// part of the Go toolchain.
func cmdNodeval(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! nodeval")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: nodeval FILE... EXPR")
	}
	var files []string
	for _, a := range args[:len(args)-1] {
		files = append(files, one(ts, a))
	}
	prog := `const fs = require('fs'), vm = require('vm');
const args = process.argv.slice(1), expr = args.pop();
for (const f of args) vm.runInThisContext(fs.readFileSync(f, 'utf8'), {filename: f});
process.stdout.write(JSON.stringify(vm.runInThisContext(expr)) + '\n');`
	cmd := exec.Command("node", append(append([]string{"-e", prog}, files...), args[len(args)-1])...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = ts.Stdout(), &stderr
	if err := cmd.Run(); err != nil {
		ts.Fatalf("node %s: %v\n%s", args[0], err, stderr.String())
	}
}

// sidecars-ok DIR checks every .gz, .br and .zst file under DIR: it must
// decompress to the file it sits beside, and be smaller than it. It prints
// how many sidecars it checked.
func cmdSidecarsOK(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sidecars-ok")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: sidecars-ok DIR")
	}
	root := ts.MkAbs(args[0])
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := filepath.Ext(p)
		var decompress func([]byte) ([]byte, error)
		switch ext {
		case ".gz":
			decompress = func(b []byte) ([]byte, error) {
				r, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					return nil, err
				}
				return io.ReadAll(r)
			}
		case ".br":
			decompress = func(b []byte) ([]byte, error) { return io.ReadAll(brotli.NewReader(bytes.NewReader(b))) }
		case ".zst":
			decompress = func(b []byte) ([]byte, error) {
				d, err := zstd.NewReader(nil)
				if err != nil {
					return nil, err
				}
				defer d.Close()
				return d.DecodeAll(b, nil)
			}
		default:
			return nil
		}
		name, _ := filepath.Rel(root, p)
		orig, err := os.ReadFile(strings.TrimSuffix(p, ext))
		if err != nil {
			return fmt.Errorf("sidecar %s has no original: %w", name, err)
		}
		packed, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(packed) >= len(orig) {
			return fmt.Errorf("sidecar %s is %d bytes, not smaller than the original's %d", name, len(packed), len(orig))
		}
		got, err := decompress(packed)
		if err != nil {
			return fmt.Errorf("sidecar %s: %w", name, err)
		}
		if !bytes.Equal(got, orig) {
			return fmt.Errorf("sidecar %s does not decompress to its original", name)
		}
		n++
		return nil
	})
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d sidecars ok\n", n)
}

// jsonget FILE KEY... prints the JSON value at the path of keys (object
// keys, or indices into arrays) in FILE, which may be stdout or stderr.
// Keys are separate arguments, since manifest keys hold dots and slashes.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! jsonget")
	}
	if len(args) < 1 {
		ts.Fatalf("usage: jsonget FILE KEY...")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	for i, k := range args[1:] {
		switch x := v.(type) {
		case map[string]any:
			val, ok := x[k]
			if !ok {
				ts.Fatalf("%s: no key %q at %s", args[0], k, strings.Join(args[1:i+1], " "))
			}
			v = val
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(x) {
				ts.Fatalf("%s: no index %q in an array of %d", args[0], k, len(x))
			}
			v = x[n]
		default:
			ts.Fatalf("%s: %s is not an object or array", args[0], strings.Join(args[1:i+1], " "))
		}
	}
	out, err := json.Marshal(v)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", out)
}

// lesscss IN OUT compiles the LESS file IN alone with the less.js scd uses
// (the same pinned version, Magento's options) and writes the CSS to OUT,
// minified as scd minifies stylesheets: what lessc gives for IN.
func cmdLessCSS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: lesscss IN OUT")
	}
	p := less.NewPool(less.Options{})
	defer p.Close()
	res, err := p.Compile(context.Background(), "in.less", map[string][]byte{"in.less": []byte(ts.ReadFile(args[0]))}, less.CompileOptions{})
	if err != nil {
		ts.Fatalf("lesscss %s: %v", args[0], err)
	}
	m := minify.New()
	m.Add("text/css", &mincss.Minifier{})
	out, err := m.Bytes("text/css", res.CSS)
	if err != nil {
		out = res.CSS
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out, 0o644))
}

// sri-ok FILE ROOT checks a Magento_Csp integrity file (an area's
// sri-hashes.json) against the files published under ROOT (pub/static):
// a JSON object, keys in sorted order, each a path relative to ROOT inside
// FILE's area directory naming a file whose bytes have the value's hash
// ("sha256-" and the base64 of the digest), and every .js file of the
// area directory listed. It prints how many hashes it checked.
func cmdSRIOK(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sri-ok FILE ROOT")
	}
	file, root := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	areaDir := filepath.Dir(file)
	area, err := filepath.Rel(root, areaDir)
	ts.Check(err)
	prefix := filepath.ToSlash(area) + "/"

	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		ts.Fatalf("%s: not a JSON object (%v, %v)", args[0], tok, err)
	}
	hashes := map[string]string{}
	last := ""
	for dec.More() {
		tok, err := dec.Token()
		ts.Check(err)
		key := tok.(string)
		var val string
		if err := dec.Decode(&val); err != nil {
			ts.Fatalf("%s: %s: %v", args[0], key, err)
		}
		if len(hashes) > 0 && key <= last {
			ts.Fatalf("%s: key %s after %s: not sorted, or listed twice", args[0], key, last)
		}
		last, hashes[key] = key, val
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		ts.Fatalf("%s: malformed object end (%v, %v)", args[0], tok, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		ts.Fatalf("%s: data after the object", args[0])
	}

	for key, val := range hashes {
		if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".js") {
			ts.Fatalf("%s: key %s is not a .js file under %s", args[0], key, prefix)
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		if err != nil {
			ts.Fatalf("%s: %s: %v", args[0], key, err)
		}
		sum := sha256.Sum256(data)
		if want := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); val != want {
			ts.Fatalf("%s: %s: hash %s, the published bytes have %s", args[0], key, val, want)
		}
	}
	n := 0
	err = filepath.WalkDir(areaDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".js") {
			return err
		}
		n++
		rel, _ := filepath.Rel(root, p)
		if _, ok := hashes[filepath.ToSlash(rel)]; !ok {
			return fmt.Errorf("%s: no hash for the published %s", args[0], filepath.ToSlash(rel))
		}
		return nil
	})
	ts.Check(err)
	if n != len(hashes) {
		ts.Fatalf("%s: %d hashes for %d published .js files", args[0], len(hashes), n)
	}
	fmt.Fprintf(ts.Stdout(), "%d hashes ok\n", n)
}
