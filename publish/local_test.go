//go:build unix

package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scdtool/scd/manifest"
	. "github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/publish/publishtest"
)

var ctx = context.Background()

func newLocal(t testing.TB, o Options) *Local {
	t.Helper()
	l, err := OpenLocal(filepath.Join(t.TempDir(), "target"), o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// snapshot describes a target's state as a reader and the next run see it:
// the history, current, and every name under the root except the lock.
func snapshot(t *testing.T, l *Local) string {
	t.Helper()
	var b strings.Builder
	hist, _ := os.ReadFile(filepath.Join(l.Root(), HistoryFile))
	b.Write(hist)
	cur, _ := os.Readlink(filepath.Join(l.Root(), CurrentLink))
	fmt.Fprintf(&b, "current -> %s\n", cur)
	_ = filepath.WalkDir(l.Root(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() != LockFile {
			rel, _ := filepath.Rel(l.Root(), p)
			fmt.Fprintln(&b, rel)
		}
		return nil
	})
	return b.String()
}

// failAfter is a writer that fails with err once n bytes went through it.
type failAfter struct {
	w   io.Writer
	n   *atomic.Int64
	err error
}

func (f failAfter) Write(p []byte) (int, error) {
	if f.n.Add(-int64(len(p))) < 0 {
		return 0, f.err
	}
	return f.w.Write(p)
}

// diskFull makes writes into l fail with ENOSPC after budget bytes, only
// for names containing match ("" for every write).
func diskFull(l *Local, budget int64, match string) {
	n := new(atomic.Int64)
	n.Store(budget)
	l.SetWrapWriter(func(name string, w io.Writer) io.Writer {
		if !strings.Contains(name, match) {
			return w
		}
		return failAfter{w, n, syscall.ENOSPC}
	})
}

func TestDedupAcrossReleases(t *testing.T) {
	a, b := publishtest.Builds(t)
	l := newLocal(t, Options{})
	ra, err := l.Stage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	first := l.Written()
	// The sample's builder already hard-links identical outputs; the store
	// holds each content once, so the first release writes ≤ its size.
	if first > ra.Size+4096 {
		t.Errorf("first stage wrote %d bytes for a %d-byte build", first, ra.Size)
	}
	rb, err := l.Stage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	second := l.Written() - first
	// Only the changed files (a stylesheet, its sidecars, the manifests
	// naming it), build.json, the marker and the history are new.
	var changed int64
	fa, fb := publishtest.ReadBuild(t, a).Files, publishtest.ReadBuild(t, b).Files
	seen := map[string]bool{}
	for _, f := range fa {
		seen[f.SHA256] = true
	}
	for _, f := range fb {
		if !seen[f.SHA256] {
			seen[f.SHA256] = true
			changed += f.Size
		}
	}
	t.Logf("release B: %d bytes, %d new content bytes, %d written", rb.Size, changed, second)
	raw, _ := os.ReadFile(filepath.Join(b, manifest.BuildFile))
	if limit := changed + 3*int64(len(raw)) + 16<<10; second > limit {
		t.Errorf("re-publishing wrote %d bytes; the new content is %d bytes (limit %d)", second, changed, limit)
	}
	// The same build again writes only bookkeeping.
	before := l.Written()
	if _, err := l.Stage(ctx, b); err != nil {
		t.Fatal(err)
	}
	if w := l.Written() - before; w > 3*int64(len(raw)) {
		t.Errorf("staging an identical build wrote %d bytes", w)
	}
}

func TestPruneCollectsObjects(t *testing.T) {
	a, b := publishtest.Builds(t)
	l := newLocal(t, Options{})
	var ids []string
	for _, d := range []string{a, b, a, b} {
		r, err := l.Stage(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	for _, id := range ids[2:] {
		if err := l.Activate(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Leftovers of an interrupted run are collected too.
	stray := filepath.Join(l.Root(), ObjectsDir, "00", ".tmp-stray")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("x"), 0o644)
	if _, err := l.Prune(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary object left: %v", err)
	}
	// Every object left is linked by a release; every release file is an
	// intact object.
	n := 0
	_ = filepath.WalkDir(filepath.Join(l.Root(), ObjectsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		info, _ := d.Info()
		if info.Sys().(*syscall.Stat_t).Nlink < 2 {
			t.Errorf("object %s is linked by no release", d.Name())
		}
		data, _ := os.ReadFile(p)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Name() {
			t.Errorf("object %s does not match its name", d.Name())
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no objects")
	}
	for _, id := range ids[:2] {
		if _, err := os.Stat(l.ReleasePath(id)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("pruned release %s still on disk", id)
		}
	}
}

func TestStageFailuresChangeNothing(t *testing.T) {
	a, b := publishtest.Builds(t)

	t.Run("DiskFullWritingFiles", func(t *testing.T) {
		l := newLocal(t, Options{})
		r, err := l.Stage(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Activate(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, l)
		diskFull(l, 100, "")
		_, err = l.Stage(ctx, b)
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("Stage on a full disk: %v", err)
		}
		if after := snapshot(t, l); after != before {
			t.Errorf("a failed Stage changed the target:\n--- before\n%s--- after\n%s", before, after)
		}
	})
	t.Run("DiskFullWritingHistory", func(t *testing.T) {
		l := newLocal(t, Options{})
		r, err := l.Stage(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Activate(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, l)
		diskFull(l, 10, HistoryFile)
		if _, err := l.Stage(ctx, b); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Stage: %v", err)
		}
		// New objects of the failed stage may remain until the next prune;
		// nothing else.
		if err := l.GCObjects(); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(t, l); after != before {
			t.Errorf("a failed Stage changed the target:\n--- before\n%s--- after\n%s", before, after)
		}
		l.SetWrapWriter(nil)
		r2, err := l.Stage(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		diskFull(l, 10, HistoryFile)
		before = snapshot(t, l)
		if err := l.Activate(ctx, r2.ID); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Activate: %v", err)
		}
		// The skew-protection links added to the inactive release are the
		// only difference; current and the history are untouched.
		if got, _ := os.Readlink(filepath.Join(l.Root(), CurrentLink)); got != path.Join(ReleasesDir, r.ID) {
			t.Errorf("current -> %s after a failed Activate", got)
		}
		hist, _ := os.ReadFile(filepath.Join(l.Root(), HistoryFile))
		if !strings.HasPrefix(before, string(hist)) {
			t.Errorf("history changed by a failed Activate")
		}
	})
	t.Run("UnwritableRoot", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o644)
		l, err := OpenLocal(filepath.Join(file, "target"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Stage(ctx, a)
		if err == nil || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), l.Root()) {
			t.Fatalf("Stage into an impossible root: %v", err)
		}
		if os.Geteuid() != 0 {
			dir := filepath.Join(t.TempDir(), "ro")
			os.Mkdir(dir, 0o555)
			l, _ := OpenLocal(dir, Options{})
			if _, err := l.Stage(ctx, a); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Stage into a read-only root: %v", err)
			}
		}
	})
	t.Run("UnsafeBuildPath", func(t *testing.T) {
		bad := publishtest.CopyBuild(t, a)
		meta := publishtest.ReadBuild(t, bad)
		meta.Files["../escape"] = manifest.File{SHA256: strings.Repeat("0", 64), Size: 1}
		data, _ := json.Marshal(meta)
		os.WriteFile(filepath.Join(bad, manifest.BuildFile), data, 0o644)
		l := newLocal(t, Options{})
		if _, err := l.Stage(ctx, bad); !errors.Is(err, ErrCorruptBuild) || !strings.Contains(err.Error(), "../escape") {
			t.Errorf("Stage with ../escape: %v", err)
		}
		if _, err := os.Stat(l.Root()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a corrupt build created the target: %v", err)
		}
	})
	t.Run("IncompleteRelease", func(t *testing.T) {
		l := newLocal(t, Options{})
		r, err := l.Stage(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(l.ReleasePath(r.ID), MarkerFile))
		if err := l.Activate(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Errorf("Activate without a marker: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(l.Root(), CurrentLink)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("current exists: %v", err)
		}
	})
	t.Run("CurrentNotASymlink", func(t *testing.T) {
		l := newLocal(t, Options{})
		r, err := l.Stage(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(l.Root(), CurrentLink), 0o755)
		if err := l.Activate(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "not the symlink") {
			t.Errorf("Activate over a directory named current: %v", err)
		}
	})
	t.Run("Locked", func(t *testing.T) {
		l := newLocal(t, Options{LockTimeout: 150 * time.Millisecond})
		other, _ := OpenLocal(l.Root(), Options{})
		unlock, err := other.Lock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = l.Stage(ctx, a)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
			t.Errorf("Stage while locked: %v", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
			t.Errorf("waited %s for a 150ms lock timeout", d)
		}
		// A waiting publisher proceeds as soon as the lock is released.
		go func() { time.Sleep(50 * time.Millisecond); unlock() }()
		l.SetLockTimeout(5 * time.Second)
		if _, err := l.Stage(ctx, a); err != nil {
			t.Errorf("Stage after the lock was released: %v", err)
		}
	})
}

// TestOpen checks the --to parsing.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, to := range []string{dir, "file://" + dir} {
		tg, err := Open(to, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if tg.String() != dir {
			t.Errorf("Open(%q) = %s", to, tg)
		}
	}
	if _, err := Open("gs://bucket/x", Options{}); err == nil || !strings.Contains(err.Error(), `no publisher for scheme "gs"`) {
		t.Errorf("Open(gs://): %v", err)
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

// crashEnv names the environment variable that turns the test binary into
// the publisher TestCrashSafety kills: "<target>|<build a>|<build b>".
const crashEnv = "SCD_PUBLISH_CRASH_HELPER"

// TestCrashHelper is the publisher process of TestCrashSafety. It stages,
// activates, rolls back and prunes in a loop until it is killed.
func TestCrashHelper(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	parts := strings.Split(spec, "|")
	l, err := OpenLocal(parts[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		r, err := l.Stage(ctx, parts[1+i%2])
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Activate(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			if _, err := l.Rollback(ctx, ""); err != nil && !errors.Is(err, ErrUnknownRelease) {
				t.Fatal(err)
			}
		case 3:
			if _, err := l.Prune(ctx, 3); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCrashSafety SIGKILLs a publisher at random points many times. After
// every kill, current must name a complete release (marker present, every
// file as build.json says), and a publisher run in this process must
// stage, activate and report a consistent history.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	kills := 60
	a, b := publishtest.Builds(t)
	root := filepath.Join(t.TempDir(), "target")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var midStage, mismatched int
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+root+"|"+a+"|"+b)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20*time.Millisecond + time.Duration(rng.IntN(300))*time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the helper ended on its own: %v", k, err)
		}

		// What a reader would see right now.
		if ents, _ := os.ReadDir(filepath.Join(root, ReleasesDir)); len(ents) > 0 {
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), TmpSuffix) {
					midStage++
				}
			}
		}
		l, _ := OpenLocal(root, Options{LockTimeout: 5 * time.Second})
		if cur, err := l.ActiveID(); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		} else if cur != "" {
			dir := filepath.Join(root, CurrentLink)
			if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err != nil {
				t.Fatalf("kill %d: current names %s, which has no marker: %v", k, cur, err)
			}
			if _, err := VerifyBuild(ctx, dir); err != nil {
				t.Fatalf("kill %d: current names an incomplete release: %v", k, err)
			}
			if l.HistoryStatus(cur) != StatusActive {
				mismatched++ // repaired by the next run
			}
		}

		// A re-run completes and leaves a consistent history.
		r, err := l.Stage(ctx, a)
		if err != nil {
			t.Fatalf("kill %d: re-run Stage: %v", k, err)
		}
		if err := l.Activate(ctx, r.ID); err != nil {
			t.Fatalf("kill %d: re-run Activate: %v", k, err)
		}
		rs, err := l.Releases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, x := range rs {
			if x.Status == StatusActive {
				active++
				if x.ID != r.ID {
					t.Fatalf("kill %d: %s is active, want %s", k, x.ID, r.ID)
				}
			}
			if _, err := os.Stat(filepath.Join(l.ReleasePath(x.ID), MarkerFile)); err != nil {
				t.Fatalf("kill %d: listed release %s is incomplete", k, x.ID)
			}
		}
		if active != 1 {
			t.Fatalf("kill %d: %d active releases", k, active)
		}
		if ents, _ := os.ReadDir(filepath.Join(root, ReleasesDir)); len(ents) > 0 {
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					t.Fatalf("kill %d: %s left after a complete run", k, e.Name())
				}
			}
		}
	}
	t.Logf("%d kills: %d during a stage, %d between a switch and its history write", kills, midStage, mismatched)
}

// TestReadersSeeOneRelease reads through current while releases are
// switched back and forth 300 times. Each read set opens current once
// (OpenActive: an os.Root on the resolved release) and reads build.json,
// every job's manifest.json and every file the manifests name; every file
// must match the digest of the build.json read in the same set.
func TestReadersSeeOneRelease(t *testing.T) {
	a, b := publishtest.Builds(t)
	l := newLocal(t, Options{})
	ra, err := l.Stage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := l.Stage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Activate(ctx, ra.ID); err != nil {
		t.Fatal(err)
	}

	var (
		done        atomic.Bool
		sets, reads atomic.Int64
		failMu      sync.Mutex
		failures    []string
		builds      = map[string]bool{}
		wg          sync.WaitGroup
		fail        = func(format string, args ...any) {
			failMu.Lock()
			defer failMu.Unlock()
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf(format, args...))
			}
		}
	)
	readSet := func() {
		r, err := l.OpenActive()
		if err != nil {
			fail("open current: %v", err)
			return
		}
		defer r.Close()
		raw, err := r.ReadFile(manifest.BuildFile)
		if err != nil {
			fail("build.json: %v", err)
			return
		}
		var meta manifest.Build
		if err := json.Unmarshal(raw, &meta); err != nil {
			fail("build.json: %v", err)
			return
		}
		failMu.Lock()
		builds[meta.ID] = true
		failMu.Unlock()
		for _, job := range meta.Jobs {
			mp := path.Join(job.Dir, manifest.ManifestFile)
			data, err := r.ReadFile(mp)
			if err != nil {
				fail("%s: %v", mp, err)
				return
			}
			check := func(p string, data []byte) {
				sum := sha256.Sum256(data)
				if want := meta.Files[p].SHA256; hex.EncodeToString(sum[:]) != want {
					fail("%s is not the file of build %s (mixed read set)", p, meta.ID)
				}
				reads.Add(1)
			}
			check(mp, data)
			var m manifest.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				fail("%s: %v", mp, err)
				return
			}
			for _, asset := range m {
				p := path.Join(job.Dir, asset.File)
				data, err := r.ReadFile(p)
				if err != nil {
					fail("%s: %v", p, err)
					return
				}
				check(p, data)
			}
		}
		sets.Add(1)
	}
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				readSet()
			}
		})
	}
	switches := 300
	for i := range switches {
		var err error
		if i%2 == 0 {
			err = l.Activate(ctx, rb.ID)
		} else {
			_, err = l.Rollback(ctx, "")
		}
		if err != nil {
			t.Fatalf("switch %d: %v", i, err)
		}
	}
	// Let the readers finish a few sets on the last release.
	for n := sets.Load(); sets.Load() < n+4; {
		time.Sleep(time.Millisecond)
	}
	done.Store(true)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(builds) != 2 {
		t.Errorf("readers saw builds %v, want both", builds)
	}
	t.Logf("%d switches; %d read sets, %d file reads, no failure", switches, sets.Load(), reads.Load())
}

// TestForeignDirectoryInReleases: a directory under releases/ that is no
// release (a backup someone made there) is neither in the history nor
// something new ids must sort after: an id chosen after Releases, as a
// deploy to several targets chooses it, is staged.
func TestForeignDirectoryInReleases(t *testing.T) {
	a, _ := publishtest.Builds(t)
	l := newLocal(t, Options{})
	r1, err := l.Stage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.Root(), ReleasesDir, "backup", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	rels, err := l.Releases(ctx)
	if err != nil || len(rels) != 1 {
		t.Fatalf("Releases: %v, %v", rels, err)
	}
	id := NextReleaseID(time.Now(), r1.Build, rels[0].ID)
	r2, err := l.Stage(ctx, a, WithReleaseID(id))
	if err != nil {
		t.Fatalf("Stage with id %s beside releases/backup: %v", id, err)
	}
	r3, err := l.Stage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if r2.ID != id || r3.ID <= r2.ID || strings.HasPrefix(r3.ID, "backup") {
		t.Errorf("ids %s, %s, %s", r1.ID, r2.ID, r3.ID)
	}
}
