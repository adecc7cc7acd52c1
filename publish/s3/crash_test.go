package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// Environment of the publisher child of TestCrashSIGKILL.
const (
	envChild  = "SCD_S3_CRASH_CHILD" // JSON childSpec
	childTest = "TestCrashChild"
)

type childSpec struct {
	Config Config   `json:"config"`
	Builds []string `json:"builds"`
}

// TestCrashChild is not a test: it is the publisher that TestCrashSIGKILL
// runs in a child process (this test binary, re-executed) and kills. It
// stages and activates the builds in turn, pruning now and then, until it
// is killed; an error exits 1 so the parent can tell it from the kill.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(envChild)
	if raw == "" {
		t.Skip("the child of TestCrashSIGKILL")
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Lock timeout shorter than Config.StaleLock: a lock left by the
	// killed predecessor must be recognised as dead, not waited out.
	tg, err := New(spec.Config, publish.Options{LockTimeout: 3 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		rel, err := tg.Stage(ctx, spec.Builds[i%len(spec.Builds)])
		if err == nil {
			err = tg.Activate(ctx, rel.ID)
		}
		if err == nil && i%3 == 2 {
			_, err = tg.Prune(ctx, 2)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("done", rel.ID)
	}
}

// verifyActive checks what a reader of the pointer relies on: the release
// it names has its release.json, and every file of its build.json (and
// build.json) is in the bucket — hashed ones in P/assets, the others in
// the release's directory — with the digest build.json gives.
func verifyActive(ctx context.Context, tg *Target) (string, int, error) {
	p, ok, err := tg.current(ctx)
	if err != nil || !ok {
		return "", 0, err
	}
	if _, err := tg.get(ctx, recordKey(p.ID)); err != nil {
		return p.ID, 0, fmt.Errorf("pointer names %s without release.json: %v", p.ID, err)
	}
	raw, err := tg.get(ctx, releaseKey(p.ID, manifest.BuildFile))
	if err != nil {
		return p.ID, 0, fmt.Errorf("release %s: build.json: %v", p.ID, err)
	}
	var b manifest.Build
	if err := json.Unmarshal(raw, &b); err != nil {
		return p.ID, 0, err
	}
	var ix index
	if err := tg.getJSON(ctx, indexKey(p.ID), &ix); err != nil {
		return p.ID, 0, fmt.Errorf("release %s: index: %v", p.ID, err)
	}
	names := make([]string, 0, len(b.Files))
	for n := range b.Files {
		names = append(names, n)
	}
	err = tg.parallel(ctx, len(names), func(ctx context.Context, i int) error {
		n := names[i]
		key := releaseKey(p.ID, n)
		if _, hashed := ix.Assets[n]; hashed {
			key = assetKey(n)
		}
		data, err := tg.get(ctx, key)
		if err != nil {
			return fmt.Errorf("release %s: %s: %v", p.ID, key, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != b.Files[n].SHA256 {
			return fmt.Errorf("release %s: %s: digest differs from build.json", p.ID, key)
		}
		return nil
	})
	return p.ID, len(names) + 1, err
}

// TestCrashSIGKILL runs a publisher (TestCrashChild) in a child process
// and kills it with SIGKILL at a random moment, 40 times: no deferred
// unlock, no cancelled context, no clean-up. After every kill the pointer
// names a complete release whose files are all there with their digests,
// and the next child — which finds the dead publisher's lock — goes on at
// once. At the end a publisher in this process completes a release and a
// prune.
func TestCrashSIGKILL(t *testing.T) {
	tg, _ := openTarget(t, func(c *Config) { c.MaxDeletes = 1 << 20 })
	builds := []string{sampleBuild(t), changedSample(t, adminCSS, "\n.k1{color:red}\n"), changedSample(t, adminCSS, "\n.k2{color:red}\n")}
	cfg := tg.cfg
	// StaleLock far beyond the child's lock timeout: only the dead-holder
	// detection lets a child take over its killed predecessor's lock.
	cfg.StaleLock = time.Hour
	spec, _ := json.Marshal(childSpec{Config: cfg, Builds: builds})
	ctx := context.Background()

	// One Stage+Activate, to spread the kills over a whole run and more.
	start := time.Now()
	stageActivate(t, tg, builds[0])
	full := time.Since(start)
	const kills = 40
	rng := rand.New(rand.NewPCG(5, 6))
	completed, checked := 0, 0
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChild+"="+string(spec))
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Process start-up is ~100ms; kill anywhere in the next 3 runs.
		wait := 50*time.Millisecond + time.Duration(rng.Int64N(int64(3*full+200*time.Millisecond)))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("kill %d: the child stopped by itself (%v): %s", i, err, errOut.String())
		case <-time.After(wait):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := <-exited
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child ended with %v, not by SIGKILL: %s", i, err, errOut.String())
		}
		completed += strings.Count(out.String(), "done ")
		id, n, err := verifyActive(ctx, tg)
		if err != nil {
			t.Fatalf("after kill %d (at %s): %v", i, wait.Round(time.Millisecond), err)
		}
		checked += n
		_ = id
	}
	t.Logf("%d SIGKILLs (one Stage+Activate takes %s); %d runs completed in between; %d files verified through the pointer",
		kills, full.Round(time.Millisecond), completed, checked)

	// The last child's lock is dead: this process takes it at once.
	tg.opt.LockTimeout = 2 * time.Second
	tg.cfg.StaleLock = time.Hour
	rel := stageActivate(t, tg, builds[1])
	if id, _, err := verifyActive(ctx, tg); err != nil || id != rel.ID {
		t.Fatalf("after the re-run: active %s, want %s: %v", id, rel.ID, err)
	}
	if _, err := tg.Prune(ctx, 1); err != nil {
		t.Fatalf("Prune after the kills: %v", err)
	}
	if _, _, err := verifyActive(ctx, tg); err != nil {
		t.Fatalf("after the prune: %v", err)
	}
	// Nothing of an incomplete release is left.
	rs, err := tg.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := tg.listDirs(ctx, dirRelease)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(rs) {
		t.Errorf("after the prune: %d release directories, %d releases", len(dirs), len(rs))
	}
}

// TestReadSetConsistency: readers that pin the active release once
// (OpenActive) and then read a job's manifest.json and every file it
// names, while the active release changes hundreds of times by Activate
// and Rollback, never fail a read and always get the files of the release
// they pinned (the digests of that release's build.json).
func TestReadSetConsistency(t *testing.T) {
	tg, _ := openTarget(t, nil)
	ctx := context.Background()
	builds := []string{sampleBuild(t), changedSample(t, adminCSS, "\n.r1{color:red}\n"), changedSample(t, "app/design/frontend/Acme/base/web/css/styles.css", "\n.r2{color:blue}\n")}
	var ids []string
	for _, b := range builds {
		ids = append(ids, stageActivate(t, tg, b).ID)
	}
	const switches = 300
	var stop atomic.Bool
	var reads, sets atomic.Int64
	seen := sync.Map{}
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				if err := readSet(ctx, tg, rng, &reads, &seen); err != nil {
					errs <- err
					return
				}
				sets.Add(1)
			}
		})
	}
	rng := rand.New(rand.NewPCG(7, 8))
	rollbacks := 0
	for i := range switches {
		var err error
		if i%3 == 2 {
			_, err = tg.Rollback(ctx, "")
			if errors.Is(err, publish.ErrUnknownRelease) {
				err = nil // nothing good to go back to: the next Activate goes on
			} else if err == nil {
				rollbacks++
			}
		} else {
			err = tg.Activate(ctx, ids[rng.IntN(len(ids))])
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	seen.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d switches (%d rollbacks); %d read sets (%d files) over %d different releases, all consistent", switches, rollbacks, sets.Load(), reads.Load(), n)
	if n < 2 {
		t.Errorf("readers saw %d releases: the test did not exercise switching", n)
	}
}

// readSet pins the active release, reads its build.json, one job's
// manifest.json and every file (and sidecar) that manifest names, and
// checks each against the pinned release's build.json.
func readSet(ctx context.Context, tg *Target, rng *rand.Rand, reads *atomic.Int64, seen *sync.Map) error {
	v, err := tg.OpenActive(ctx)
	if err != nil {
		return err
	}
	seen.Store(v.ID, true)
	raw, err := v.Read(ctx, manifest.BuildFile)
	if err != nil {
		return fmt.Errorf("release %s: %v", v.ID, err)
	}
	var b manifest.Build
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	job := b.Jobs[rng.IntN(len(b.Jobs))]
	check := func(p string) ([]byte, error) {
		data, err := v.Read(ctx, p)
		reads.Add(1)
		if err != nil {
			return nil, fmt.Errorf("release %s: read %s: %v", v.ID, p, err)
		}
		want, ok := b.Files[p]
		if sum := sha256.Sum256(data); !ok || hex.EncodeToString(sum[:]) != want.SHA256 {
			return nil, fmt.Errorf("release %s: %s is not the file of this release's build.json", v.ID, p)
		}
		return data, nil
	}
	raw, err = check(path.Join(job.Dir, manifest.ManifestFile))
	if err != nil {
		return err
	}
	var m manifest.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, a := range m {
		name := path.Join(job.Dir, a.File)
		for _, n := range append([]string{name}, sidecarNames(name, a.Encodings)...) {
			if _, err := check(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestHolderDead: only a lock of a process of this host and pid namespace
// that is gone (or whose pid now belongs to a younger process) is dead.
func TestHolderDead(t *testing.T) {
	if self.pidns == "" {
		t.Skip("no /proc: dead holders are only detected by StaleLock here")
	}
	host, _ := os.Hostname()
	live := lockBody{PID: os.Getpid(), Host: host, Nonce: "n", PIDNS: self.pidns, Start: self.start}
	if holderDead(live) {
		t.Error("this process's lock taken for dead")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := live
	gone.PID = cmd.Process.Pid
	if !holderDead(gone) {
		t.Error("the lock of an exited process is not dead")
	}
	reused := live
	reused.Start = "1"
	if !holderDead(reused) {
		t.Error("a lock whose pid belongs to a younger process is not dead")
	}
	for _, b := range []lockBody{
		func() lockBody { b := gone; b.Host = "elsewhere"; return b }(),
		func() lockBody { b := gone; b.PIDNS = "pid:[1]"; return b }(),
		func() lockBody { b := gone; b.Start = ""; return b }(),
	} {
		if holderDead(b) {
			t.Errorf("%+v taken for dead: it may belong to a live process elsewhere", b)
		}
	}
}
