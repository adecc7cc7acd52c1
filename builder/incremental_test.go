package builder_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/fixtures/gen"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
)

// cachedBuild builds the matrix in dir into out with the cache in cache
// ("" = no cache), with opts applied.
func cachedBuild(t *testing.T, dir, out, cache string, opts func(*builder.Options)) *builder.Result {
	t.Helper()
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	o := builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: 2, WorkDir: dir, CacheDir: cache, Version: "test"}
	if opts != nil {
		opts(&o)
	}
	res, err := builder.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ageSources sets the times of every source a minute back, so that the
// stat cache trusts them (files changed within its racy window are hashed).
func ageSources(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Minute)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

func writeSrc(t *testing.T, dir, rel, data string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendSrc(t *testing.T, dir, rel, data string) {
	t.Helper()
	old, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	writeSrc(t, dir, rel, string(old)+data)
}

const (
	baseDir = "app/design/frontend/Acme/base"
	shopDir = "app/design/frontend/Acme/shop"
)

// everything: every bundle is built again. A job may reuse a bundle that
// another job of the same theme finished first, so the count of a full
// build varies by one or two with scheduling.
func everything(cold int64) (int64, int64) { return cold - 2, cold + 2 }

// TestIncrementalInvalidation changes one input at a time after a cached
// build; the cached rebuild must give the tree a cold build without cache
// gives, and redo exactly the esbuild runs the change affects.
func TestIncrementalInvalidation(t *testing.T) {
	cases := []struct {
		name    string
		change  func(t *testing.T, dir string)
		opts    func(*builder.Options)
		bundles func(cold int64) (lo, hi int64) // esbuild runs of the rebuild
		// redo: every translation, rendering and stylesheet rewrite is made
		// again; otherwise some are taken from the previous output.
		redo bool
		// changes: what the rebuild says changed (Result.Changes).
		changes *builder.Changes
		// copied: the parts of build.json taken from the previous output's
		// (of 10 jobs): the clean jobs', and those of jobs built again
		// whose files came out as they were.
		copied int
	}{
		{
			name: "changed parent-theme partial",
			change: func(t *testing.T, dir string) {
				appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const changed = 1;\n")
			},
			bundles: func(cold int64) (int64, int64) { return 1, cold - 1 },
			changes: &builder.Changes{Sources: 1, Files: []string{baseDir + "/web/js/_format.js"}},
			copied:  2,
		},
		{
			name: "changed parent-theme leaf",
			change: func(t *testing.T, dir string) {
				appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const changed = 2;\n")
			},
			bundles: func(int64) (int64, int64) { return 0, 0 },
			changes: &builder.Changes{Sources: 1, Files: []string{baseDir + "/web/js/widgets/slider.js"}},
			copied:  2,
		},
		{
			name: "new override in child theme",
			change: func(t *testing.T, dir string) {
				writeSrc(t, dir, shopDir+"/web/js/_format.js", "import $t from 'mage/translate';\nexport function formatPrice(a) { return $t('%1 incl. tax') + a; }\n")
			},
			bundles: func(cold int64) (int64, int64) { return 1, cold - 1 },
			changes: &builder.Changes{Sources: 1, Files: []string{shopDir + "/web/js/_format.js"}},
			copied:  6,
		},
		{
			// Not an input of any bundle: the child's jobs reuse the
			// bundles of their parent, whose own jobs are not reached.
			name: "new template override in child theme",
			change: func(t *testing.T, dir string) {
				writeSrc(t, dir, shopDir+"/web/template/cart.html", "<div class=\"cart\">{{t 'Shopping cart'}}</div>\n")
			},
			bundles: func(int64) (int64, int64) { return 0, 0 },
			changes: &builder.Changes{Sources: 1, Files: []string{shopDir + "/web/template/cart.html"}},
			copied:  6,
		},
		{
			name: "changed dictionary",
			change: func(t *testing.T, dir string) {
				appendSrc(t, dir, baseDir+"/i18n/fr_FR.csv", "\"Free shipping\",\"Port gratuit\"\n")
			},
			bundles: func(int64) (int64, int64) { return 0, 0 },
			changes: &builder.Changes{Dictionaries: 1, Files: []string{baseDir + "/i18n/fr_FR.csv"}},
			copied:  8,
		},
		{
			name:    "changed option",
			opts:    func(o *builder.Options) { o.Skip.NoHTMLMinify = true },
			bundles: everything, // Skip is part of the bundle key
			// but the translated bundles are the same bytes: reused
			changes: &builder.Changes{Config: true},
		},
		{
			name:    "changed compression level",
			change:  func(t *testing.T, dir string) { appendSrc(t, dir, "themes.yml", "\ncompression_levels: {gzip: 9}\n") },
			bundles: func(int64) (int64, int64) { return 0, 0 },
			changes: &builder.Changes{Config: true},
		},
		{
			// Every job's record names files relative to the working
			// directory: all are built again, their rewrites reused, and
			// their files are what they were.
			name:    "another working directory",
			opts:    func(o *builder.Options) { o.WorkDir = filepath.Dir(o.WorkDir) },
			bundles: func(int64) (int64, int64) { return 0, 0 },
			changes: &builder.Changes{WorkDir: true},
			copied:  10,
		},
		{
			name:    "new scd version",
			opts:    func(o *builder.Options) { o.Version = "test-2" },
			bundles: everything,
			redo:    true,
			changes: nil, // the cache of another version has no record of the output
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copySample(t)
			ageSources(t, dir)
			tmp := t.TempDir()
			out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
			cold := cachedBuild(t, dir, out, cache, nil)
			if cold.UpToDate || cold.Changes != nil {
				t.Fatalf("first build: up to date %v, changes %+v", cold.UpToDate, cold.Changes)
			}
			if again := cachedBuild(t, dir, out, cache, nil); !again.UpToDate || again.Build.ID != cold.Build.ID || again.Changes != nil {
				t.Fatalf("no-op rebuild: up to date %v, id %s (want %s), changes %+v", again.UpToDate, again.Build.ID, cold.Build.ID, again.Changes)
			}
			if tc.change != nil {
				tc.change(t, dir)
			}
			copied := -1
			builder.SetBuildParts(func(c, _ int) { copied = c })
			warm := cachedBuild(t, dir, out, cache, tc.opts)
			builder.SetBuildParts(nil)
			if warm.UpToDate {
				t.Fatal("rebuild after a change reported up to date")
			}
			if copied != tc.copied {
				t.Errorf("build.json: %d parts copied from the previous output's, want %d", copied, tc.copied)
			}
			if !reflect.DeepEqual(warm.Changes, tc.changes) {
				t.Errorf("rebuild says changed %+v, want %+v", warm.Changes, tc.changes)
			}
			ref := filepath.Join(tmp, "ref")
			cachedBuild(t, dir, ref, "", tc.opts)
			if got, want := treeDigest(t, out), treeDigest(t, ref); got != want {
				t.Errorf("cached rebuild differs from a cold build")
			}
			lo, hi := tc.bundles(cold.Stats.Bundles)
			if n := warm.Stats.Bundles; n < lo || n > hi {
				t.Errorf("rebuild ran esbuild %d times, want %d..%d (cold: %d)", n, lo, hi, cold.Stats.Bundles)
			}
			// The rewrite memo: the rebuild makes only the rewrites whose
			// inputs changed, and together with those it reuses, as many
			// as a cold build.
			made, reused := warm.Stats.Rewrites, warm.Stats.RewritesReused
			if cold.Stats.Rewrites == 0 || cold.Stats.RewritesReused != 0 || made+reused != cold.Stats.Rewrites {
				t.Errorf("rewrites: cold %d made, %d reused; rebuild %d made, %d reused", cold.Stats.Rewrites, cold.Stats.RewritesReused, made, reused)
			}
			if tc.redo && reused != 0 || !tc.redo && made >= cold.Stats.Rewrites {
				t.Errorf("rebuild made %d rewrites and reused %d (cold: %d made; all made again: %v)", made, reused, cold.Stats.Rewrites, tc.redo)
			}
			// And once more: the new state is up to date.
			if again := cachedBuild(t, dir, out, cache, tc.opts); !again.UpToDate {
				t.Error("second rebuild after the change was not up to date")
			}
		})
	}
}

// TestIncrementalChangesRacy: a file edited within the stat cache's racy
// window has no stat recorded, but its digest is, so that the build after
// still tells what changed: here, that the file was removed.
func TestIncrementalChangesRacy(t *testing.T) {
	dir := copySample(t)
	ageSources(t, dir)
	tmp := t.TempDir()
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	cachedBuild(t, dir, out, cache, nil)
	leaf := baseDir + "/web/js/widgets/slider.js"
	appendSrc(t, dir, leaf, "\nexport const changed = 3;\n") // changed just now: racy
	want := &builder.Changes{Sources: 1, Files: []string{leaf}}
	if res := cachedBuild(t, dir, out, cache, nil); !reflect.DeepEqual(res.Changes, want) {
		t.Errorf("after the edit: changed %+v, want %+v", res.Changes, want)
	}
	if err := os.Remove(filepath.Join(dir, leaf)); err != nil {
		t.Fatal(err)
	}
	if res := cachedBuild(t, dir, out, cache, nil); !reflect.DeepEqual(res.Changes, want) {
		t.Errorf("after the removal: changed %+v, want %+v", res.Changes, want)
	}
}

// TestIncrementalRowTranslatesItsScripts: after a changed row of a
// dictionary, the memo makes again only the scripts that look its phrase
// up (their lookups are recorded by the first translation of their
// bytes), not every script of the jobs that merge the dictionary.
func TestIncrementalRowTranslatesItsScripts(t *testing.T) {
	dir := copySample(t)
	ageSources(t, dir)
	tmp := t.TempDir()
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	cold := cachedBuild(t, dir, out, cache, nil)
	csv := baseDir + "/i18n/fr_FR.csv"
	check := func(what string, lo, hi int64) {
		t.Helper()
		res := cachedBuild(t, dir, out, cache, nil)
		if n := res.Stats.Rewrites; n < lo || n > hi {
			t.Errorf("%s: %d rewrites made, want %d..%d (cold: %d)", what, n, lo, hi, cold.Stats.Rewrites)
		}
		ref := filepath.Join(t.TempDir(), "ref")
		cachedBuild(t, dir, ref, "", nil)
		if treeDigest(t, out) != treeDigest(t, ref) {
			t.Errorf("%s: the rebuild differs from a cold build", what)
		}
	}
	// A phrase nothing looks up: nothing to make again.
	appendSrc(t, dir, csv, "\"Nothing uses this\",\"Rien\"\n")
	check("a row nothing uses", 0, 0)
	// The phrase of js/app.js: its bundle, once per fr_FR job at most.
	appendSrc(t, dir, csv, "\"Free shipping\",\"Port offert\"\n")
	check("a row of js/app.js", 1, 3)
	// The admin theme's jobs stay clean over more builds than the pack
	// keeps unused entries (each of these leaves some, the leaf's
	// previous form): their records keep their scripts' lookups.
	for i := range 4 {
		appendSrc(t, dir, csv, fmt.Sprintf("\"Unused %d\",\"Inutile\"\n", i))
		appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", fmt.Sprintf("\nexport const edit%d = %d;\n", i, i))
		check("a frontend row and leaf", 1, 8) // the leaf, in each frontend job
	}
	appendSrc(t, dir, "app/design/adminhtml/Acme/backend/i18n/fr_FR.csv", "\"Nothing uses this\",\"Rien\"\n")
	check("an admin row nothing uses", 0, 0)
}

// TestIncrementalCorruptCache damages every cache file; the build must
// notice (checksums), ignore them and give the cold tree.
func TestIncrementalCorruptCache(t *testing.T) {
	for _, damage := range []string{"flip", "truncate", "empty"} {
		t.Run(damage, func(t *testing.T) {
			dir := copySample(t)
			tmp := t.TempDir()
			out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
			cachedBuild(t, dir, out, cache, nil)
			want := treeDigest(t, out)
			n := 0
			filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if len(data) == 0 {
					return nil // v1/.swept: only its time says something
				}
				switch damage {
				case "flip":
					data[len(data)-1] ^= 0x55
				case "truncate":
					data = data[:len(data)/2]
				case "empty":
					data = nil
				}
				n++
				return os.WriteFile(p, data, 0o644)
			})
			if n == 0 {
				t.Fatal("the cache holds no file")
			}
			appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const changed = 1;\n")
			res := cachedBuild(t, dir, out, cache, nil)
			if res.UpToDate {
				t.Fatal("a damaged state was trusted")
			}
			ref := filepath.Join(tmp, "ref")
			cachedBuild(t, dir, ref, "", nil)
			if treeDigest(t, out) != treeDigest(t, ref) {
				t.Error("build with a damaged cache differs from a cold build")
			}
			if treeDigest(t, out) == want {
				t.Error("the change was not built")
			}
		})
	}
}

// TestIncrementalStateBodyDamaged damages the state's body alone after a
// change of the sources, so that the head and its probes hold but what
// the previous output holds cannot be read (the rebuild decodes it while
// the check runs): the build must use nothing of the previous output,
// give the cold tree, and leave a state the next build finds up to date.
// A body that is missing is the same case.
func TestIncrementalStateBodyDamaged(t *testing.T) {
	for _, damage := range []string{"flip", "remove"} {
		t.Run(damage, func(t *testing.T) {
			dir := copySample(t)
			tmp := t.TempDir()
			out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
			cachedBuild(t, dir, out, cache, nil)
			bodies, _ := filepath.Glob(filepath.Join(cache, "*", "statebody", "*", "*", "*"))
			if len(bodies) != 1 {
				t.Fatalf("%d state bodies, want 1", len(bodies))
			}
			if damage == "remove" {
				if err := os.Remove(bodies[0]); err != nil {
					t.Fatal(err)
				}
			} else {
				data, err := os.ReadFile(bodies[0])
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)/2] ^= 0x55
				if err := os.WriteFile(bodies[0], data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const changed = 1;\n")
			res := cachedBuild(t, dir, out, cache, nil)
			if res.UpToDate || res.PreviousOutput != builder.PreviousNone {
				t.Fatalf("up to date %v, previous output used as %q; want a build that uses none", res.UpToDate, res.PreviousOutput)
			}
			ref := filepath.Join(tmp, "ref")
			cachedBuild(t, dir, ref, "", nil)
			if treeDigest(t, out) != treeDigest(t, ref) {
				t.Error("build with a damaged state body differs from a cold build")
			}
			if again := cachedBuild(t, dir, out, cache, nil); !again.UpToDate {
				t.Error("the next build was not up to date")
			}
		})
	}
}

// TestIncrementalOutputEdited checks that an output changed by hand is
// never taken as up to date, nor linked into the next build.
func TestIncrementalOutputEdited(t *testing.T) {
	dir, out, cache := builtSample(t)
	want := treeDigest(t, out)
	flipFirstJS(t, out, true)
	res := cachedBuild(t, dir, out, cache, nil)
	if res.UpToDate {
		t.Fatal("an edited output was taken as up to date")
	}
	if got := treeDigest(t, out); got != want {
		t.Error("the rebuild did not restore the output")
	}
}

// TestIncrementalOutputRestored puts a copy of the output in its place
// (new inodes and change times, as when a CI job restores the output from
// its cache) with one file of the copy edited, then changes a source: the
// rebuild takes what it can from the copy once it has read it — rewrites
// are linked from it — but never the edited file, and gives the tree of a
// cold build.
func TestIncrementalOutputRestored(t *testing.T) {
	dir, out, cache := builtSample(t)
	restoreCopy(t, out, func(copy string) { flipFirstJS(t, copy, false) })
	appendSrc(t, dir, baseDir+"/web/template/cart.html", "\n<p>restored</p>\n")
	reusedFrom(t, checkRebuild(t, dir, out, cache, "restored output"), builder.PreviousReadBack)
}

// reusedFrom checks that a rebuild used the previous output as want and
// linked rewrites from it.
func reusedFrom(t *testing.T, res *builder.Result, want string) {
	t.Helper()
	if res.PreviousOutput != want {
		t.Errorf("previous output used as %q, want %q", res.PreviousOutput, want)
	}
	if res.Stats.RewritesReused == 0 {
		t.Errorf("rewrites: %d made, none reused: the previous output was not used", res.Stats.Rewrites)
	}
}

// TestIncrementalOutputRestoredUpToDate puts an unedited copy of the
// output in its place with no source changed: the build reads it back,
// keeps it as it is and records its new fingerprint, so that the build
// after it finds the output intact without reading it. An extra or a
// missing file in the restored copy, or an edited build.json, makes it a
// rebuild, which mends it.
func TestIncrementalOutputRestoredUpToDate(t *testing.T) {
	dir := copySample(t)
	ageSources(t, dir)
	out, cache := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "cache")
	if res := cachedBuild(t, dir, out, cache, nil); res.PreviousOutput != builder.PreviousNone {
		t.Errorf("a first build used the previous output as %q", res.PreviousOutput)
	}
	want := treeDigest(t, out)
	var log strings.Builder
	logged := func(o *builder.Options) {
		log.Reset()
		o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	restoreCopy(t, out, nil)
	if res := cachedBuild(t, dir, out, cache, logged); !res.UpToDate || res.PreviousOutput != builder.PreviousReadBack {
		t.Fatalf("a restored copy of the output: up to date %v, previous output %q:\n%s", res.UpToDate, res.PreviousOutput, log.String())
	}
	if !strings.Contains(log.String(), "output read back as written") {
		t.Errorf("the copy was not read back:\n%s", log.String())
	}
	if got := treeDigest(t, out); got != want {
		t.Error("an up-to-date build changed the output")
	}
	if res := cachedBuild(t, dir, out, cache, logged); !res.UpToDate || res.PreviousOutput != builder.PreviousIntact ||
		!strings.Contains(log.String(), "output unchanged since the last build") {
		t.Errorf("the next build did not find the output intact (up to date %v, previous output %q):\n%s", res.UpToDate, res.PreviousOutput, log.String())
	}

	for what, damage := range map[string]func(copy string){
		"an extra file": func(copy string) { writeSrc(t, copy, "frontend/Acme/base/en_US/extra.txt", "not of the build") },
		"a missing file": func(copy string) {
			if err := os.Remove(filepath.Join(copy, "frontend/Acme/base/en_US/manifest.json")); err != nil {
				t.Fatal(err)
			}
		},
		// (its list of files as written: only the bytes of the whole
		// file tell it from the build's)
		"build.json's content version edited": func(copy string) {
			bm, err := manifest.ReadBuild(copy)
			if err != nil {
				t.Fatal(err)
			}
			bm.ContentVersion = "edited"
			data, err := manifest.Marshal(bm)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(copy, manifest.BuildFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	} {
		restoreCopy(t, out, damage)
		if res := cachedBuild(t, dir, out, cache, nil); res.UpToDate {
			t.Fatalf("a restored copy with %s was taken as up to date", what)
		}
		if got := treeDigest(t, out); got != want {
			t.Errorf("a restored copy with %s: the rebuild did not restore the output", what)
		}
	}
}

// TestIncrementalBuildJSONEdited edits the output's build.json (one file
// dropped from its list, the rest of the tree as written): the probes no
// longer hold, the walk finds a list other than the one the state
// recorded, and the build trusts nothing of the previous output — with a
// read-back list it would have reused what it could — and restores the
// tree. A copy of the output with build.json as written is read back
// instead (TestIncrementalOutputRestored).
func TestIncrementalBuildJSONEdited(t *testing.T) {
	dir, out, cache := builtSample(t)
	want := treeDigest(t, out)
	bm, err := manifest.ReadBuild(out)
	if err != nil {
		t.Fatal(err)
	}
	for rel := range bm.Files {
		delete(bm.Files, rel)
		break
	}
	data, err := manifest.Marshal(bm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, manifest.BuildFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	res := cachedBuild(t, dir, out, cache, func(o *builder.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if res.UpToDate || res.PreviousOutput != builder.PreviousNone {
		t.Errorf("an output with an edited build.json: up to date %v, previous output used as %q", res.UpToDate, res.PreviousOutput)
	}
	if !strings.Contains(log.String(), "build.json is not the one the last build wrote") {
		t.Errorf("the edited list was not told:\n%s", log.String())
	}
	if got := treeDigest(t, out); got != want {
		t.Error("the rebuild did not restore the output")
	}
}

// TestIncrementalOutputRestoredThenChanged: a restored copy of the output
// is read back and found as written, which records its probes and the
// contents of the probed files; the rebuild after a source change then
// finds the output intact by those probes and takes what it can from it.
func TestIncrementalOutputRestoredThenChanged(t *testing.T) {
	dir, out, cache := builtSample(t)
	restoreCopy(t, out, nil)
	if res := cachedBuild(t, dir, out, cache, nil); !res.UpToDate || res.PreviousOutput != builder.PreviousReadBack {
		t.Fatalf("a restored copy: up to date %v, previous output %q", res.UpToDate, res.PreviousOutput)
	}
	appendSrc(t, dir, baseDir+"/web/template/cart.html", "\n<p>changed after a restore</p>\n")
	reusedFrom(t, checkRebuild(t, dir, out, cache, "change after a restore"), builder.PreviousIntact)
}

// builtSample copies the sample (sources aged past the stat cache's racy
// window) and builds it with a cache: the sources, the output and the
// cache directory.
func builtSample(t *testing.T) (dir, out, cache string) {
	t.Helper()
	dir = copySample(t)
	ageSources(t, dir)
	tmp := t.TempDir()
	out, cache = filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	cachedBuild(t, dir, out, cache, nil)
	return dir, out, cache
}

// flipFirstJS changes a byte of the first script under root, keeping its
// size and modification time, so that only the inode's other times change:
// replace writes it as a new inode (an editor saving by rename), otherwise
// it is written in place.
func flipFirstJS(t *testing.T, root string, replace bool) {
	t.Helper()
	var victim string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if victim == "" && err == nil && strings.HasSuffix(p, ".js") {
			victim = p
		}
		return nil
	})
	st, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(victim)
	data[0] ^= 1
	if replace {
		if err := os.Remove(victim); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(victim, st.ModTime(), st.ModTime())
}

// restoreCopy replaces out with a copy of itself (cp -a: new inodes and
// change times, as an output restored from a CI cache), which damage may
// alter first; the spare tree goes.
func restoreCopy(t *testing.T, out string, damage func(copy string)) {
	t.Helper()
	copy := out + ".copy"
	if msg, err := exec.Command("cp", "-a", out, copy).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, msg)
	}
	if damage != nil {
		damage(copy)
	}
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(spareOf(out))
	if err := os.Rename(copy, out); err != nil {
		t.Fatal(err)
	}
}

// TestCacheStaleTempSwept: a build that writes the cache removes the
// temporary files a killed build left in it (older than an hour), and
// leaves a recent one, which may be another build's, being written. The
// cache is walked at most every ten minutes: a build soon after the last
// walk leaves them, the next one after ten minutes removes them.
func TestCacheStaleTempSwept(t *testing.T) {
	dir, out, cache := builtSample(t)
	mark := filepath.Join(cache, "v1", ".swept")
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("the first build did not record its sweep: %v", err)
	}
	packs, _ := filepath.Glob(filepath.Join(cache, "v1", "pack", "*"))
	if len(packs) == 0 {
		t.Fatal("no pack in the cache")
	}
	stale, recent := filepath.Join(packs[0], ".tmp-killed"), filepath.Join(cache, "v1", "state", ".tmp-writing")
	for _, p := range []string{stale, recent} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half an entry"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const swept = 1;\n")
	cachedBuild(t, dir, out, cache, nil)
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("a build a moment after the last sweep walked the cache: %v", err)
	}
	ago := time.Now().Add(-11 * time.Minute)
	if err := os.Chtimes(mark, ago, ago); err != nil {
		t.Fatal(err)
	}
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const sweptAgain = 2;\n")
	cachedBuild(t, dir, out, cache, nil)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a temporary file of two hours ago is still in the cache (%v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent temporary file was removed: %v", err)
	}
}

// TestIncrementalConcurrent runs builds of two outputs sharing one cache
// directory at the same time, with sources changing between rounds; every
// tree must equal a cold build of its sources.
func TestIncrementalConcurrent(t *testing.T) {
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "cache")
	dirs := []string{copySample(t), copySample(t)}
	for round := range 3 {
		for i, dir := range dirs {
			appendSrc(t, dir, baseDir+"/web/js/_format.js", fmt.Sprintf("\nexport const r%d_%d = %d;\n", round, i, round*10+i))
		}
		var wg sync.WaitGroup
		for i, dir := range dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cachedBuild(t, dir, filepath.Join(tmp, fmt.Sprint("out", i)), cache, nil)
			}()
		}
		wg.Wait()
		for i, dir := range dirs {
			ref := filepath.Join(tmp, fmt.Sprint("ref", round, i))
			cachedBuild(t, dir, ref, "", nil)
			if treeDigest(t, filepath.Join(tmp, fmt.Sprint("out", i))) != treeDigest(t, ref) {
				t.Errorf("round %d, output %d differs from a cold build", round, i)
			}
		}
	}
}

// TestIncrementalGenerated checks cold = warm = cold-after-change on a
// generated corpus, with a parent-theme module, a child override, a locale
// override and a dictionary changed together.
func TestIncrementalGenerated(t *testing.T) {
	spec := gen.DefaultSpec
	spec.Themes, spec.Locales, spec.Files = 2, 3, 60
	dir := filepath.Join(t.TempDir(), "corpus")
	if err := gen.Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	ageSources(t, dir)
	tmp := t.TempDir()
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	cachedBuild(t, dir, out, cache, nil)
	ref0 := filepath.Join(tmp, "ref0")
	cachedBuild(t, dir, ref0, "", nil)
	if treeDigest(t, out) != treeDigest(t, ref0) {
		t.Fatal("cached cold build differs from an uncached one")
	}
	mods, _ := filepath.Glob(filepath.Join(dir, "app/design/frontend/*/*/web/js/*/*.js"))
	csvs, _ := filepath.Glob(filepath.Join(dir, "app/design/frontend/*/*/i18n/*.csv"))
	if len(mods) == 0 || len(csvs) == 0 {
		t.Fatal("corpus without modules or dictionaries")
	}
	rel := func(p string) string { r, _ := filepath.Rel(dir, p); return r }
	appendSrc(t, dir, rel(mods[0]), "\nexport const changedModule = 42;\n")
	appendSrc(t, dir, rel(mods[len(mods)-1]), "\nexport const changedOther = 43;\n")
	appendSrc(t, dir, rel(csvs[0]), "\"Changed phrase\",\"Phrase changée\"\n")
	cachedBuild(t, dir, out, cache, nil)
	ref := filepath.Join(tmp, "ref")
	cachedBuild(t, dir, ref, "", nil)
	if treeDigest(t, out) != treeDigest(t, ref) {
		t.Error("cached rebuild after changes differs from a cold build")
	}
}

// spareOf is the spare tree kept beside out.
func spareOf(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".prev")
}

// checkRebuild rebuilds out with the cache and compares it with a cold
// build of the same sources. The fingerprint the rebuild recorded of the
// tree (computed, not walked, over a spare tree) must be a walk's, its
// probes must hold, and the next cached build must be up to date.
func checkRebuild(t *testing.T, dir, out, cache, what string) *builder.Result {
	t.Helper()
	return checkRebuildWith(t, dir, out, cache, what, nil)
}

// checkRebuildWith is checkRebuild with opts applied to every build.
func checkRebuildWith(t *testing.T, dir, out, cache, what string, opts func(*builder.Options)) *builder.Result {
	t.Helper()
	var fp string
	var probes []fstree.DirProbe
	builder.SetStateSaved(func(o, f string, p []fstree.DirProbe) {
		if o == out {
			fp, probes = f, p
		}
	})
	res := cachedBuild(t, dir, out, cache, opts)
	builder.SetStateSaved(nil)
	ref := filepath.Join(t.TempDir(), "ref")
	cachedBuild(t, dir, ref, "", opts)
	if treeDigest(t, out) != treeDigest(t, ref) {
		t.Fatalf("%s: the cached rebuild differs from a cold build", what)
	}
	if !res.UpToDate {
		walked, err := fstree.FingerprintDir(out)
		if err != nil || walked != fp {
			t.Fatalf("%s: the rebuild recorded the fingerprint %q, a walk finds %q (%v)", what, fp, walked, err)
		}
		if probes == nil || !fstree.Check(context.Background(), out, probes) {
			t.Fatalf("%s: the rebuild's probes (%d) do not hold", what, len(probes))
		}
		// and they cover the tree: every directory, every file's inode
		dirs, inodes := map[string]bool{}, map[uint64]bool{}
		for _, p := range probes {
			dirs[p.Rel] = true
			for _, f := range p.Files {
				inodes[f.Node.Stat.Ino] = true
			}
		}
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(out, p)
			fi, _ := d.Info()
			if d.IsDir() && !dirs[filepath.ToSlash(rel)] || !d.IsDir() && !inodes[fstree.StatOf(fi).Ino] {
				t.Fatalf("%s: %s has no probe", what, rel)
			}
			return nil
		})
	}
	if again := cachedBuild(t, dir, out, cache, opts); !again.UpToDate {
		t.Fatalf("%s: the next build was not up to date", what)
	}
	return res
}

// TestSpareTreeJobsChange rebuilds with fewer jobs and then with all of
// them again, so that the spare tree being updated has job directories the
// new tree does not (removed above the job level) and lacks some it needs
// (written whole); every output must equal a cold build.
func TestSpareTreeJobsChange(t *testing.T) {
	dir := copySample(t)
	ageSources(t, dir)
	tmp := t.TempDir()
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	fewer := func(o *builder.Options) {
		jobs, err := o.Config.Jobs(matrix.Filter{Languages: []string{"en_US", "fr_FR"}})
		if err != nil {
			t.Fatal(err)
		}
		o.Jobs = jobs
	}
	cachedBuild(t, dir, out, cache, nil)
	appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c1 = 1;\n")
	checkRebuild(t, dir, out, cache, "all jobs") // the cold tree becomes the spare
	res := checkRebuildWith(t, dir, out, cache, "fewer jobs", fewer)
	if n := len(res.Jobs); n == 0 || n >= 10 {
		t.Fatalf("the filtered build has %d jobs", n)
	}
	checkRebuild(t, dir, out, cache, "all jobs again") // the spare has them all
	appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c2 = 2;\n")
	checkRebuild(t, dir, out, cache, "all jobs over the filtered tree") // the spare lacks some
}

// TestSpareTreeSeveralChanges makes a series of changes, each rebuilt by
// updating the spare tree; every output must equal a cold build.
func TestSpareTreeSeveralChanges(t *testing.T) {
	dir, out, cache := builtSample(t)
	changes := []func(){
		func() { appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c1 = 1;\n") },
		func() { appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c2 = 2;\n") },
		func() { appendSrc(t, dir, baseDir+"/i18n/fr_FR.csv", "\"Free shipping\",\"Port gratuit\"\n") },
		func() {
			writeSrc(t, dir, shopDir+"/web/js/_format.js", "import $t from 'mage/translate';\nexport function formatPrice(a) { return $t('%1 incl. tax') + a; }\n")
		},
		func() { os.Remove(filepath.Join(dir, shopDir, "web/js/_format.js")) }, // back to the parent's
		func() { appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c3 = 3;\n") },
	}
	for i, change := range changes {
		change()
		checkRebuild(t, dir, out, cache, fmt.Sprintf("change %d", i+1))
		if i > 0 {
			if st, err := os.Stat(spareOf(out)); err != nil || !st.IsDir() {
				t.Fatalf("change %d: no spare tree beside the output", i+1)
			}
		}
	}
	// Nothing else is left beside the output.
	entries, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range entries {
		if n := e.Name(); n != "out" && n != ".out.prev" && n != ".out.lock" && n != "cache" {
			t.Errorf("left beside the output: %s", n)
		}
	}
}

// TestSpareTreeFileRemoved adds a file and a directory to directories of
// the spare tree that get nothing else, then removes them: the directories
// change all the same, and the rebuild's probes must have their stat as
// it is after the change, not as the spare tree was listed (checkRebuild
// checks that they hold).
func TestSpareTreeFileRemoved(t *testing.T) {
	dir, out, cache := builtSample(t)
	extra := []string{baseDir + "/web/images/extra.svg", baseDir + "/web/fonts/more/extra.svg"}
	for _, rel := range extra {
		writeSrc(t, dir, rel, `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	}
	checkRebuild(t, dir, out, cache, "files added") // written whole
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c1 = 1;\n")
	checkRebuild(t, dir, out, cache, "another change") // added to the spare tree
	if err := os.RemoveAll(filepath.Join(dir, baseDir, "web/fonts/more")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, extra[0])); err != nil {
		t.Fatal(err)
	}
	checkRebuild(t, dir, out, cache, "file removed") // removed from the spare tree alone
	checkRebuild(t, dir, out, cache, "nothing changed")
}

// TestSpareTreeRecord follows the spare tree's record (store_record.go):
// once the spare tree is one a build wrote over a spare tree, its job
// directories are known from the record, not listed; a job directory
// changed since, or a record of another tree, is listed, and every output
// equals a cold build.
func TestSpareTreeRecord(t *testing.T) {
	dir, out, cache := builtSample(t)
	var recorded, listed int64
	builder.SetSpareJobs(func(r, l int64) { recorded, listed = r, l })
	t.Cleanup(func() { builder.SetSpareJobs(nil) })
	n := 0
	rebuild := func(what string) {
		t.Helper()
		n++
		recorded, listed = -1, -1
		appendSrc(t, dir, baseDir+"/web/js/_format.js", fmt.Sprintf("\nexport const c%d = %d;\n", n, n))
		checkRebuild(t, dir, out, cache, what)
	}
	jobDirs := func(root string) []string {
		var dirs []string
		for _, area := range []string{"frontend", "adminhtml"} {
			ds, _ := filepath.Glob(filepath.Join(root, area, "*", "*", "*"))
			dirs = append(dirs, ds...)
		}
		if len(dirs) == 0 {
			t.Fatalf("no job directories under %s", root)
		}
		return dirs
	}
	jobs := int64(len(jobDirs(out)))

	// Trees written whole are recorded from their fingerprint's walk, a
	// tree written over the spare tree from what the update knows.
	rebuild("a tree written whole") // no spare tree yet
	for _, what := range []string{"over the cold tree", "over a tree written whole", "over a tree written over the spare tree"} {
		rebuild(what)
		if recorded != jobs || listed != 0 {
			t.Fatalf("%s: %d job directories recorded, %d listed; want %d, 0", what, recorded, listed, jobs)
		}
	}

	// A file added to one job directory of the spare tree, deep down: that
	// directory is listed (and the file removed), the others recorded.
	victim := jobDirs(spareOf(out))[0]
	if err := os.WriteFile(filepath.Join(victim, "js", "junk.js"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	rebuild("a job directory of the spare tree changed")
	if recorded != jobs-1 || listed != 1 {
		t.Fatalf("one job directory changed: %d recorded, %d listed; want %d, 1", recorded, listed, jobs-1)
	}

	// A file of the spare tree rewritten in place, under its name and
	// inode: no directory changes, the record holds, and the file is not
	// kept for all that (its inode is not the verified output's any more).
	rebuild("once more")
	p := filepath.Join(jobDirs(spareOf(out))[0], "manifest.json")
	if err := os.WriteFile(p, []byte(`{"junk": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rebuild("a file of the spare tree rewritten in place")
	if recorded != jobs || listed != 0 {
		t.Fatalf("a file rewritten in place: %d recorded, %d listed; want %d, 0", recorded, listed, jobs)
	}

	// The spare tree's build.json written again: the record is of another
	// tree, and the whole spare tree is listed.
	rebuild("once more")
	bj := filepath.Join(spareOf(out), "build.json")
	data, err := os.ReadFile(bj)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(bj)
	if err := os.WriteFile(bj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rebuild("the record of another tree")
	if recorded != 0 || listed != jobs {
		t.Fatalf("the record of another tree: %d recorded, %d listed; want 0, %d", recorded, listed, jobs)
	}
}

// TestSpareTreeDamaged damages the spare tree in the ways a hand or a
// crash could; the rebuild must not take anything wrong from it.
func TestSpareTreeDamaged(t *testing.T) {
	damages := map[string]func(t *testing.T, spare string){
		"file replaced": func(t *testing.T, spare string) {
			forEachFile(t, spare, func(p string) {
				data, _ := os.ReadFile(p)
				os.Remove(p) // a new inode, the bytes changed, the same size
				if len(data) > 0 {
					data[0] ^= 1
				}
				os.WriteFile(p, data, 0o644)
			})
		},
		"files removed": func(t *testing.T, spare string) {
			forEachFile(t, spare, func(p string) { os.Remove(p) })
		},
		"junk added": func(t *testing.T, spare string) {
			os.WriteFile(filepath.Join(spare, "junk.txt"), []byte("junk"), 0o644)
			os.MkdirAll(filepath.Join(spare, "frontend", "junk", "deep"), 0o755)
			os.Symlink("/etc", filepath.Join(spare, "frontend", "Acme", "link"))
		},
		"directory replaced by a file": func(t *testing.T, spare string) {
			d := filepath.Join(spare, "frontend", "Acme", "base")
			os.RemoveAll(d)
			os.WriteFile(d, []byte("not a directory"), 0o644)
		},
		"directory replaced by a symlink": func(t *testing.T, spare string) {
			d := filepath.Join(spare, "frontend", "Acme", "shop")
			os.RemoveAll(d)
			os.Symlink(t.TempDir(), d)
		},
		"spare is a file": func(t *testing.T, spare string) {
			os.RemoveAll(spare)
			os.WriteFile(spare, []byte("x"), 0o644)
		},
		"spare is missing": func(t *testing.T, spare string) { os.RemoveAll(spare) },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir, out, cache := builtSample(t)
			appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c1 = 1;\n")
			checkRebuild(t, dir, out, cache, "first change") // leaves a spare tree
			damage(t, spareOf(out))
			appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c2 = 2;\n")
			checkRebuild(t, dir, out, cache, "after the damage")
			appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c3 = 3;\n")
			checkRebuild(t, dir, out, cache, "once more")
		})
	}
}

// TestSpareTreeKilledBeforeSwap stops builds between the update of the
// spare tree and the swap: the output must stay as it was, nothing left
// may pass for an output, and the next build must be right.
func TestSpareTreeKilledBeforeSwap(t *testing.T) {
	dir, out, cache := builtSample(t)
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c1 = 1;\n")
	checkRebuild(t, dir, out, cache, "first change")
	before := treeDigest(t, out)

	killed := errors.New("killed")
	var left string
	builder.SetBeforeSwap(func(tmp string) error {
		// What a kill at this point leaves: the updated tree, under the
		// temporary name it was written under.
		left = tmp + "-killed"
		if err := exec.Command("cp", "-a", tmp, left).Run(); err != nil {
			t.Fatal(err)
		}
		return killed
	})
	defer builder.SetBeforeSwap(nil)
	appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c2 = 2;\n")
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := cfg.Jobs(matrix.Filter{})
	_, err = builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: 2,
		WorkDir: dir, CacheDir: cache, Version: "test"})
	if !errors.Is(err, killed) {
		t.Fatalf("build error %v, want the injected one", err)
	}
	if treeDigest(t, out) != before {
		t.Fatal("a build stopped before the swap changed the output")
	}
	if !strings.HasPrefix(filepath.Base(left), ".out.tmp-") {
		t.Fatalf("the tree was written under %s, not a temporary name", left)
	}
	// A failed build gives the spare tree back (half updated: it is
	// checked before use); a killed one leaves it under .tmp-*, which the
	// next build removes.
	builder.SetBeforeSwap(nil)
	if _, err := os.Stat(spareOf(out)); err != nil {
		t.Error("the spare tree was not given back after the failure")
	}
	os.RemoveAll(spareOf(out)) // as if killed: only the .tmp-* copy is left
	checkRebuild(t, dir, out, cache, "after the kill")
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Error("the killed build's tree was not removed")
	}
	// And with the half-updated spare tree of a failed build.
	builder.SetBeforeSwap(func(string) error { return killed })
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c3 = 3;\n")
	if _, err := builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: 2,
		WorkDir: dir, CacheDir: cache, Version: "test"}); !errors.Is(err, killed) {
		t.Fatalf("build error %v, want the injected one", err)
	}
	builder.SetBeforeSwap(nil)
	appendSrc(t, dir, baseDir+"/web/js/widgets/slider.js", "\nexport const c4 = 4;\n")
	checkRebuild(t, dir, out, cache, "after a failed update")
}

// TestSpareTreeNoCache checks that --no-cache builds neither use nor keep
// a spare tree.
func TestSpareTreeNoCache(t *testing.T) {
	dir := copySample(t)
	out := filepath.Join(t.TempDir(), "out")
	cachedBuild(t, dir, out, "", nil)
	appendSrc(t, dir, baseDir+"/web/js/_format.js", "\nexport const c1 = 1;\n")
	cachedBuild(t, dir, out, "", nil)
	if _, err := os.Lstat(spareOf(out)); !os.IsNotExist(err) {
		t.Error("a build without cache kept a spare tree")
	}
}

func forEachFile(t *testing.T, root string, fn func(p string)) {
	t.Helper()
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no file in the spare tree")
	}
	for _, p := range files {
		fn(p)
	}
}

// TestIncrementalOutputProbed checks that the output a build writes is
// found as written by its probes alone (no walk), whether the tree was
// written from nothing or over the spare tree, and that no change made by
// hand in it passes for no change: an extra file or directory deep down,
// a file rewritten in place, a file removed.
func TestIncrementalOutputProbed(t *testing.T) {
	dir, out, cache := builtSample(t)
	var log strings.Builder
	logged := func(o *builder.Options) {
		log.Reset()
		o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	probed := func(what string, upToDate bool) {
		t.Helper()
		res := cachedBuild(t, dir, out, cache, logged)
		if res.UpToDate != upToDate || res.PreviousOutput != builder.PreviousIntact || !strings.Contains(log.String(), "checked_by=probes") {
			t.Fatalf("%s: up to date %v, previous output %q, not by its probes:\n%s", what, res.UpToDate, res.PreviousOutput, log.String())
		}
	}
	probed("after a first build", true)
	appendSrc(t, dir, baseDir+"/web/template/cart.html", "\n<p>one</p>\n")
	probed("a rebuild (a new tree)", false)
	appendSrc(t, dir, baseDir+"/web/template/cart.html", "\n<p>two</p>\n")
	probed("a rebuild over the spare tree", false)
	probed("after a rebuild over the spare tree", true)
	want := treeDigest(t, out)
	// One body per output, whatever was left: a body a killed build wrote
	// without its head goes with the next state written.
	bodies := func() []string {
		m, _ := filepath.Glob(filepath.Join(cache, "v1", "statebody", "*", "*", "*"))
		return m
	}
	if b := bodies(); len(b) != 1 {
		t.Fatalf("state bodies after four builds: %q", b)
	}
	writeSrc(t, filepath.Dir(bodies()[0]), "0123stray", "a body no head names")

	deep := filepath.Join(out, "frontend/Acme/shop/fr_FR/js")
	for what, damage := range map[string]func(){
		"an extra file":      func() { writeSrc(t, deep, "extra.js", "not of the build") },
		"an extra directory": func() { writeSrc(t, deep, "sub/x.js", "") },
		"a file rewritten":   func() { flipFirstJS(t, deep, false) },
		"a file removed": func() {
			if err := os.Remove(filepath.Join(out, "frontend/Acme/base/en_US/manifest.json")); err != nil {
				t.Fatal(err)
			}
		},
	} {
		time.Sleep(10 * time.Millisecond) // past the file system's time granularity
		damage()
		res := cachedBuild(t, dir, out, cache, logged)
		if res.UpToDate || strings.Contains(log.String(), "checked_by=probes") {
			t.Errorf("%s: the output passed for the one written (up to date %v):\n%s", what, res.UpToDate, log.String())
		}
		if got := treeDigest(t, out); got != want {
			t.Errorf("%s: the rebuild did not restore the output", what)
		}
	}
	if b := bodies(); len(b) != 1 {
		t.Errorf("state bodies after the rebuilds: %q", b)
	} else if dirs, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(b[0])), "*")); len(dirs) != 1 {
		t.Errorf("the one state body's directory holds %d directories: %q", len(dirs), dirs)
	}
}

// TestIncrementalProbesTrusted: a rebuild goes on while the previous
// output's probes are checked, and writes nothing before they all held.
// The probes are held until the build waits for them, so the rebuild
// always trusts them first. A change made by hand to the output, in a
// job the rebuild leaves clean, is found, the build runs again with the
// walk, and the output is the cold build's: were the probes not waited
// for, the clean job's damaged files would be kept.
func TestIncrementalProbesTrusted(t *testing.T) {
	defer builder.HoldProbes()()
	dir, out, cache := builtSample(t)
	var log strings.Builder // of the rebuild, the cold build and the next build (checkRebuildWith)
	logged := func(o *builder.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	const (
		trusted = "checked_while_building=true"
		held    = "probes held"
		again   = "did not hold; building again"
		stopped = "first run, stopped"
	)
	row := 0
	edit := func() { // a row of a dictionary only adminhtml/Acme/backend/fr_FR merges
		row++
		appendSrc(t, dir, "app/design/adminhtml/Acme/backend/i18n/fr_FR.csv", fmt.Sprintf("\n\"Row %d\",\"Rang %d\"\n", row, row))
	}
	edit()
	log.Reset()
	checkRebuildWith(t, dir, out, cache, "intact output", logged)
	if l := log.String(); !strings.Contains(l, trusted) || !strings.Contains(l, held) || strings.Contains(l, again) || strings.Contains(l, stopped) {
		t.Fatalf("intact output: the probes were not trusted, then found to hold:\n%s", l)
	}

	deep := filepath.Join(out, "frontend/Acme/shop/fr_FR/js")
	for _, c := range []struct {
		what   string
		damage func()
	}{
		{"a file rewritten in place", func() { flipFirstJS(t, deep, false) }},
		{"an extra file", func() { writeSrc(t, deep, "extra.js", "not of the build") }},
		{"a file removed", func() {
			if err := os.Remove(filepath.Join(out, "frontend/Acme/base/en_US/manifest.json")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		time.Sleep(10 * time.Millisecond) // past the file system's time granularity
		c.damage()
		edit()
		log.Reset()
		checkRebuildWith(t, dir, out, cache, c.what, logged)
		if l := log.String(); !strings.Contains(l, trusted) || !strings.Contains(l, again) || !strings.Contains(l, stopped) {
			t.Errorf("%s: the build trusting the probes was not run again, its first run a phase of its own:\n%s", c.what, l)
		}
	}
}

// TestIncrementalPrepared: a check started by Prepare serves the build
// when nothing moved since it began, and is set aside when the output,
// its state or the options did: a check that ran before a change would
// otherwise pass an output that no longer is the one recorded.
func TestIncrementalPrepared(t *testing.T) {
	dir, out, cache := builtSample(t)
	var log strings.Builder
	build := func(p *builder.Prepared) *builder.Result {
		t.Helper()
		log.Reset()
		return cachedBuild(t, dir, out, cache, func(o *builder.Options) {
			o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			o.Prepared = p
		})
	}
	prepare := func(version string) *builder.Prepared {
		p := builder.Prepare(builder.Options{Output: out, CacheDir: cache, Version: version})
		if p == nil {
			t.Fatal("Prepare returned nil")
		}
		return p
	}
	const early, again = "check began before the build", "changed since the early check"

	if res := build(prepare("test")); !res.UpToDate || !strings.Contains(log.String(), early) ||
		!strings.Contains(log.String(), "checked_by=probes") {
		t.Fatalf("nothing changed: up to date %v, the early check not used:\n%s", res.UpToDate, log.String())
	}
	want := treeDigest(t, out)

	// The output changes after the early check found it intact.
	p := prepare("test")
	time.Sleep(20 * time.Millisecond) // the check is done, and past the time granularity
	writeSrc(t, out, "stray.txt", "added after the check")
	if res := build(p); res.UpToDate || !strings.Contains(log.String(), again) {
		t.Errorf("output changed: up to date %v, the early check was used:\n%s", res.UpToDate, log.String())
	}
	if got := treeDigest(t, out); got != want {
		t.Error("the output changed after the early check was not restored")
	}

	// A new state head (a build writes one by a rename).
	p = prepare("test")
	heads, _ := filepath.Glob(filepath.Join(cache, "v1", "state", "*", "*"))
	if len(heads) != 1 {
		t.Fatalf("state heads: %q", heads)
	}
	data, err := os.ReadFile(heads[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(heads[0]+".new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(heads[0]+".new", heads[0]); err != nil {
		t.Fatal(err)
	}
	if res := build(p); !res.UpToDate || !strings.Contains(log.String(), again) {
		t.Errorf("new state head: up to date %v, the early check was used:\n%s", res.UpToDate, log.String())
	}

	// Options other than the check's.
	if res := build(prepare("another version")); !res.UpToDate || !strings.Contains(log.String(), "for other options") {
		t.Errorf("other version: up to date %v, the early check was used:\n%s", res.UpToDate, log.String())
	}

	// A Prepared no build takes is released, as often as asked.
	p = prepare("test")
	p.Release()
	p.Release()
	var none *builder.Prepared
	none.Release()
}
