package publishtest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// Run runs the behavioural suite against targets made by open, which must
// return a new, empty target for each call (t is the subtest's) with the
// default Options (skew protection K = 2).
//
// Besides the Target methods' documented behaviour, the suite relies on:
//   - Read with no active release returns an error wrapping fs.ErrNotExist;
//   - Release.Files and Release.Size count the build's files, build.json
//     included;
//   - a failed Stage leaves Releases as it was.
func Run(t *testing.T, open func(t *testing.T) publish.Target) {
	a, b := Builds(t)
	ctx := context.Background()

	// env is one subtest's target with helpers that fail the test on error.
	type env struct {
		t  *testing.T
		tg publish.Target
	}
	newEnv := func(t *testing.T) *env { return &env{t: t, tg: open(t)} }
	stage := func(e *env, dir string) publish.Release {
		e.t.Helper()
		r, err := e.tg.Stage(ctx, dir)
		if err != nil {
			e.t.Fatalf("Stage(%s): %v", dir, err)
		}
		return r
	}
	activate := func(e *env, id string) {
		e.t.Helper()
		if err := e.tg.Activate(ctx, id); err != nil {
			e.t.Fatalf("Activate(%s): %v", id, err)
		}
	}
	list := func(e *env) []publish.Release {
		e.t.Helper()
		rs, err := e.tg.Releases(ctx)
		if err != nil {
			e.t.Fatalf("Releases: %v", err)
		}
		return rs
	}
	status := func(e *env) map[string]publish.Status {
		e.t.Helper()
		m := map[string]publish.Status{}
		for _, r := range list(e) {
			m[r.ID] = r.Status
		}
		return m
	}
	// activeBuild is the build id of build.json read through the target.
	activeBuild := func(e *env) string {
		e.t.Helper()
		data, err := e.tg.Read(ctx, manifest.BuildFile)
		if err != nil {
			e.t.Fatalf("Read(build.json): %v", err)
		}
		return buildID(e.t, data)
	}
	ids := func(rs []publish.Release) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	buildA, buildB := ReadBuild(t, a), ReadBuild(t, b)
	if buildA.ID == buildB.ID {
		t.Fatal("publishtest: the two fixture builds have the same id")
	}

	t.Run("StageDoesNotActivate", func(t *testing.T) {
		e := newEnv(t)
		r := stage(e, a)
		if r.Status != publish.StatusStaged || r.Build != buildA.ID || r.ID == "" || r.Created.IsZero() {
			t.Errorf("Stage returned %s", mustJSON(r))
		}
		if want := len(buildA.Files) + 1; r.Files != want {
			t.Errorf("Files = %d, want %d", r.Files, want)
		}
		if _, err := e.tg.Read(ctx, manifest.BuildFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read before any activation: %v, want fs.ErrNotExist", err)
		}
		activate(e, r.ID)
		r2 := stage(e, b)
		if got := activeBuild(e); got != buildA.ID {
			t.Errorf("staging %s changed the active build to %s", r2.ID, got)
		}
		if st := status(e); st[r.ID] != publish.StatusActive || st[r2.ID] != publish.StatusStaged {
			t.Errorf("statuses %v", st)
		}
	})

	t.Run("ActivateSwitches", func(t *testing.T) {
		e := newEnv(t)
		ra, rb := stage(e, a), stage(e, b)
		activate(e, ra.ID)
		if got := activeBuild(e); got != buildA.ID {
			t.Fatalf("active build %s, want %s", got, buildA.ID)
		}
		activate(e, rb.ID)
		if got := activeBuild(e); got != buildB.ID {
			t.Fatalf("active build %s, want %s", got, buildB.ID)
		}
		rs := list(e)
		if rs[0].Status != publish.StatusGood || rs[1].Status != publish.StatusActive {
			t.Errorf("statuses after two activations: %s", mustJSON(rs))
		}
		if rs[0].Activated.IsZero() || rs[1].Activated.IsZero() || rs[1].Activated.Before(rs[0].Activated) {
			t.Errorf("activation times: %s", mustJSON(rs))
		}
		// Activating the active release is a no-op.
		activate(e, rb.ID)
		if got := activeBuild(e); got != buildB.ID {
			t.Errorf("re-activating changed the active build")
		}
		// Every file of the build is served as built.
		for p, f := range buildB.Files {
			data, err := e.tg.Read(ctx, p)
			if err != nil {
				t.Fatalf("Read(%s): %v", p, err)
			}
			if int64(len(data)) != f.Size {
				t.Fatalf("Read(%s): %d bytes, want %d", p, len(data), f.Size)
			}
		}
	})

	t.Run("RollbackToPreviousGood", func(t *testing.T) {
		e := newEnv(t)
		ra, rb := stage(e, a), stage(e, b)
		activate(e, ra.ID)
		activate(e, rb.ID)
		got, err := e.tg.Rollback(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ra.ID || got.Status != publish.StatusActive {
			t.Errorf("Rollback returned %s, want %s active", mustJSON(got), ra.ID)
		}
		if b := activeBuild(e); b != buildA.ID {
			t.Errorf("active build after rollback %s, want %s", b, buildA.ID)
		}
		if st := status(e); st[ra.ID] != publish.StatusActive || st[rb.ID] != publish.StatusBad {
			t.Errorf("statuses after rollback %v", st)
		}
		// Nothing good is older than the first release.
		if _, err := e.tg.Rollback(ctx, ""); !errors.Is(err, publish.ErrUnknownRelease) {
			t.Errorf("second Rollback: %v, want ErrUnknownRelease", err)
		}
		// A bad release is skipped by a later rollback.
		rc := stage(e, b)
		activate(e, rc.ID)
		got, err = e.tg.Rollback(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ra.ID {
			t.Errorf("Rollback from %s went to %s, want %s (skipping bad %s)", rc.ID, got.ID, ra.ID, rb.ID)
		}
	})

	t.Run("RollbackToID", func(t *testing.T) {
		e := newEnv(t)
		ra, rb, rc := stage(e, a), stage(e, b), stage(e, a)
		for _, r := range []publish.Release{ra, rb, rc} {
			activate(e, r.ID)
		}
		got, err := e.tg.Rollback(ctx, ra.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ra.ID {
			t.Errorf("Rollback(%s) activated %s", ra.ID, got.ID)
		}
		st := status(e)
		if st[ra.ID] != publish.StatusActive || st[rb.ID] != publish.StatusGood || st[rc.ID] != publish.StatusBad {
			t.Errorf("statuses %v", st)
		}
	})

	t.Run("UnknownRelease", func(t *testing.T) {
		e := newEnv(t)
		r := stage(e, a)
		before := list(e)
		if err := e.tg.Activate(ctx, "20000101T000000Z-deadbeef"); !errors.Is(err, publish.ErrUnknownRelease) {
			t.Errorf("Activate(unknown): %v, want ErrUnknownRelease", err)
		}
		if _, err := e.tg.Rollback(ctx, "nope"); !errors.Is(err, publish.ErrUnknownRelease) {
			t.Errorf("Rollback(unknown): %v, want ErrUnknownRelease", err)
		}
		if _, err := e.tg.Rollback(ctx, ""); !errors.Is(err, publish.ErrUnknownRelease) {
			t.Errorf("Rollback with nothing active: %v, want ErrUnknownRelease", err)
		}
		if after := list(e); mustJSON(after) != mustJSON(before) {
			t.Errorf("history changed:\n%s\n%s", mustJSON(before), mustJSON(after))
		}
		if _, err := e.tg.Read(ctx, manifest.BuildFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a release became active: %v", err)
		}
		_ = r
	})

	t.Run("Prune", func(t *testing.T) {
		e := newEnv(t)
		var rs []publish.Release
		for i := range 5 {
			rs = append(rs, stage(e, []string{a, b}[i%2]))
		}
		activate(e, rs[0].ID)
		activate(e, rs[1].ID) // active rs[1], previous rs[0]
		removed, err := e.tg.Prune(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{rs[2].ID}; !slices.Equal(removed, want) {
			t.Errorf("Prune(2) removed %v, want %v", removed, want)
		}
		if got, want := ids(list(e)), []string{rs[0].ID, rs[1].ID, rs[3].ID, rs[4].ID}; !slices.Equal(got, want) {
			t.Errorf("after Prune(2): %v, want %v", got, want)
		}
		removed, err = e.tg.Prune(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(removed)
		if want := []string{rs[3].ID, rs[4].ID}; !slices.Equal(removed, want) {
			t.Errorf("Prune(0) removed %v, want %v", removed, want)
		}
		if got := activeBuild(e); got != buildB.ID {
			t.Errorf("active build after prune %s", got)
		}
		// The rollback target survived and still works, every file of it.
		if _, err := e.tg.Rollback(ctx, ""); err != nil {
			t.Fatalf("Rollback after prune: %v", err)
		}
		for p, f := range buildA.Files {
			data, err := e.tg.Read(ctx, p)
			if err != nil || int64(len(data)) != f.Size {
				t.Fatalf("Read(%s) after prune and rollback: %d bytes, %v", p, len(data), err)
			}
		}
		if _, err := e.tg.Prune(ctx, -1); err == nil {
			t.Error("Prune(-1) succeeded")
		}
	})

	t.Run("ReleasesOrder", func(t *testing.T) {
		e := newEnv(t)
		var want []string
		for i := range 4 {
			want = append(want, stage(e, []string{a, b}[i%2]).ID)
		}
		rs := list(e)
		if got := ids(rs); !slices.Equal(got, want) {
			t.Errorf("Releases %v, want creation order %v", got, want)
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Created.Before(rs[i-1].Created) {
				t.Errorf("release %s created before %s", rs[i].ID, rs[i-1].ID)
			}
			if rs[i].ID <= rs[i-1].ID {
				t.Errorf("release ids do not sort in creation order: %s after %s", rs[i].ID, rs[i-1].ID)
			}
		}
	})

	t.Run("CorruptBuild", func(t *testing.T) {
		e := newEnv(t)
		ra := stage(e, a)
		activate(e, ra.ID)
		before := mustJSON(list(e))

		// A file whose content differs from its digest.
		bad := CopyBuild(t, b)
		p := Changed(t, a, b)[0]
		name := filepath.Join(bad, filepath.FromSlash(p))
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		data[0] ^= 0x20
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A missing file.
		missing := CopyBuild(t, b)
		if err := os.Remove(filepath.Join(missing, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
		// No build.json.
		nojson := CopyBuild(t, b)
		if err := os.Remove(filepath.Join(nojson, manifest.BuildFile)); err != nil {
			t.Fatal(err)
		}
		for name, dir := range map[string]string{
			"digest mismatch": bad, "missing file": missing, "no build.json": nojson,
			"no directory": filepath.Join(t.TempDir(), "nonexistent"),
		} {
			if _, err := e.tg.Stage(ctx, dir); !errors.Is(err, publish.ErrCorruptBuild) {
				t.Errorf("%s: Stage: %v, want ErrCorruptBuild", name, err)
			}
		}
		if after := mustJSON(list(e)); after != before {
			t.Errorf("a failed Stage changed the history:\n%s\n%s", before, after)
		}
		if got := activeBuild(e); got != buildA.ID {
			t.Errorf("active build %s", got)
		}
	})

	t.Run("StageTwice", func(t *testing.T) {
		e := newEnv(t)
		r1, r2 := stage(e, a), stage(e, a)
		if r1.ID == r2.ID || r1.Build != r2.Build {
			t.Errorf("staging one build twice: %s and %s", mustJSON(r1), mustJSON(r2))
		}
		if n := len(list(e)); n != 2 {
			t.Errorf("%d releases, want 2", n)
		}
		activate(e, r2.ID)
		activate(e, r1.ID)
		if got := activeBuild(e); got != buildA.ID {
			t.Errorf("active build %s", got)
		}
	})

	t.Run("StageWithID", func(t *testing.T) {
		e := newEnv(t)
		ra := stage(e, a)
		// An id after ra's, as a deploy to several targets makes it.
		id := publish.NextReleaseID(time.Now(), buildB.ID, ra.ID)
		r, err := e.tg.Stage(ctx, b, publish.WithReleaseID(id))
		if err != nil {
			t.Fatalf("Stage with id %s: %v", id, err)
		}
		if r.ID != id || r.Build != buildB.ID {
			t.Errorf("Stage with id %s returned %s", id, mustJSON(r))
		}
		activate(e, id)
		if got := activeBuild(e); got != buildB.ID {
			t.Errorf("active build %s", got)
		}
		// A release staged after it, with no id given, sorts after it.
		if r2 := stage(e, a); r2.ID <= id {
			t.Errorf("release %s staged after %s sorts before it", r2.ID, id)
		}
		before := mustJSON(list(e))
		for name, bad := range map[string]string{
			"taken":          id,
			"older":          ra.ID[:len(ra.ID)-8] + buildB.ID[:8],
			"another build":  publish.NextReleaseID(time.Now().Add(2*time.Hour), buildA.ID, ""),
			"not a filename": publish.NextReleaseID(time.Now().Add(2*time.Hour), buildB.ID, "") + "/../x-" + buildB.ID[:8],
		} {
			if _, err := e.tg.Stage(ctx, b, publish.WithReleaseID(bad)); !errors.Is(err, publish.ErrReleaseID) {
				t.Errorf("%s id %q: Stage: %v, want ErrReleaseID", name, bad, err)
			}
		}
		if after := mustJSON(list(e)); after != before {
			t.Errorf("a refused id changed the history:\n%s\n%s", before, after)
		}
	})

	t.Run("SkewProtection", func(t *testing.T) {
		e := newEnv(t)
		onlyA, onlyB := OnlyIn(t, a, b), OnlyIn(t, b, a)
		changed := Changed(t, a, b)
		if len(onlyA) == 0 || len(onlyB) == 0 || len(changed) == 0 {
			t.Fatalf("the fixtures do not differ in hashed assets: %v %v %v", onlyA, onlyB, changed)
		}
		ra, rb := stage(e, a), stage(e, b)
		activate(e, ra.ID)
		activate(e, rb.ID)
		// A's hashed assets are served by B; every logical name is B's.
		expectFiles(t, e.tg, a, onlyA)
		expectFiles(t, e.tg, b, changed)
		expectFiles(t, e.tg, b, onlyB)
		// After a rollback, A serves B's hashed assets, and its own names.
		if _, err := e.tg.Rollback(ctx, ""); err != nil {
			t.Fatal(err)
		}
		expectFiles(t, e.tg, b, onlyB)
		expectFiles(t, e.tg, a, changed)
		expectFiles(t, e.tg, a, onlyA)
	})
}

// expectFiles checks that every path of paths reads through the active
// release of tg as it is in build directory dir.
func expectFiles(t *testing.T, tg publish.Target, dir string, paths []string) {
	t.Helper()
	for _, p := range paths {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tg.Read(context.Background(), p)
		if err != nil {
			t.Errorf("Read(%s): %v", p, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Read(%s): not the content of %s", p, filepath.Base(dir))
		}
	}
}

func buildID(t *testing.T, data []byte) string {
	t.Helper()
	var b manifest.Build
	if err := jsonUnmarshal(data, &b); err != nil {
		t.Fatalf("build.json: %v", err)
	}
	return b.ID
}
