package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

const adminCSS = "app/design/adminhtml/Acme/backend/web/css/admin.css"

func stageActivate(t *testing.T, tg *Target, dir string) publish.Release {
	t.Helper()
	ctx := context.Background()
	rel, err := tg.Stage(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Activate(ctx, rel.ID); err != nil {
		t.Fatal(err)
	}
	return rel
}

// hashedPaths returns the hashed assets of a build as Stage classifies them.
func hashedPaths(t *testing.T, dir string) map[string]manifest.File {
	t.Helper()
	tg := &Target{cfg: Config{Workers: 4}, opt: publish.Options{}.WithDefaults()}
	p, err := tg.verify(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return p.hashed
}

func TestHeadersFor(t *testing.T) {
	for p, want := range map[string][2]string{
		"a/js/app.1234abcd.js":        {"text/javascript; charset=utf-8", ""},
		"a/js/app.1234abcd.js.br":     {"text/javascript; charset=utf-8", "br"},
		"a/css/s.1234abcd.css.gz":     {"text/css; charset=utf-8", "gzip"},
		"a/images/l.1234abcd.svg.zst": {"image/svg+xml", "zstd"},
		"a/js-translation.json":       {"application/json", ""},
		"a/template/cart.html.br":     {"text/html; charset=utf-8", "br"},
		"a/fonts/i.1234abcd.woff2":    {"font/woff2", ""},
		"a/archive.gz":                {"application/gzip", ""},
	} {
		ct, enc := headersFor(p)
		if p == "a/archive.gz" {
			// no inner extension: a real gzip file, not a sidecar
			if enc != "" {
				t.Errorf("%s: encoding %q, want none", p, enc)
			}
			continue
		}
		if ct != want[0] || enc != want[1] {
			t.Errorf("%s: got %q/%q, want %q/%q", p, ct, enc, want[0], want[1])
		}
	}
}

func TestParseURL(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://env:1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SK")
	tg, err := publish.Open("s3://bkt/some/prefix/?endpoint=http://127.0.0.1:9000&path_style=true&max_deletes=10", publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := tg.(*Target).cfg
	if c.Bucket != "bkt" || c.Prefix != "some/prefix" || c.Endpoint != "http://127.0.0.1:9000" ||
		c.Region != "eu-west-1" || c.AccessKey != "AK" || c.SecretKey != "SK" || !c.PathStyle || c.MaxDeletes != 10 {
		t.Errorf("config %+v", c)
	}
	if tg.String() != "s3://bkt/some/prefix" {
		t.Errorf("String() = %q", tg.String())
	}
	if _, err := publish.Open("s3:///nobucket", publish.Options{}); err == nil {
		t.Error("no bucket: no error")
	}
}

func TestHeaders(t *testing.T) {
	tg, bucket := openTarget(t, nil)
	rel := stageActivate(t, tg, sampleBuild(t))
	ctx := context.Background()
	stat := func(key string) minio.ObjectInfo {
		t.Helper()
		o, err := srv.admin.StatObject(ctx, bucket, "static/"+key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(key, err)
		}
		return o
	}
	m, err := manifest.ReadManifest(filepath.Join(sampleBuild(t), "frontend/Acme/base/en_US"))
	if err != nil {
		t.Fatal(err)
	}
	js := "frontend/Acme/base/en_US/" + m["js/app.js"].File
	for key, want := range map[string][3]string{
		"assets/" + js:         {"text/javascript; charset=utf-8", "", ImmutableCacheControl},
		"assets/" + js + ".br": {"text/javascript; charset=utf-8", "br", ImmutableCacheControl},
		"assets/" + js + ".gz": {"text/javascript; charset=utf-8", "gzip", ImmutableCacheControl},
		"assets/frontend/Acme/base/en_US/" + m["css/styles.css"].File + ".zst":    {"text/css; charset=utf-8", "zstd", ImmutableCacheControl},
		"assets/frontend/Acme/base/en_US/" + m["images/banner.png"].File:          {"image/png", "", ImmutableCacheControl},
		"releases/" + rel.ID + "/frontend/Acme/base/en_US/manifest.json":          {"application/json", "", DefaultCacheControl},
		"releases/" + rel.ID + "/frontend/Acme/base/en_US/template/cart.html":     {"text/html; charset=utf-8", "", DefaultCacheControl},
		"releases/" + rel.ID + "/frontend/Acme/base/fr_FR/js-translation.json.br": {"application/json", "br", DefaultCacheControl},
		"releases/" + rel.ID + "/build.json":                                      {"application/json", "", DefaultCacheControl},
	} {
		o := stat(key)
		if o.ContentType != want[0] || o.Metadata.Get("Content-Encoding") != want[1] || o.Metadata.Get("Cache-Control") != want[2] {
			t.Errorf("%s: Content-Type %q, Content-Encoding %q, Cache-Control %q; want %q", key,
				o.ContentType, o.Metadata.Get("Content-Encoding"), o.Metadata.Get("Cache-Control"), want)
		}
	}
	// What Read serves is the build, byte for byte.
	for _, p := range []string{js, "frontend/Acme/base/en_US/manifest.json", "build.json"} {
		got, err := tg.Read(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(sampleBuild(t), filepath.FromSlash(p)))
		if string(got) != string(want) {
			t.Errorf("Read(%s) differs from the build", p)
		}
	}
	if _, err := tg.Read(ctx, "frontend/nope.js"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestUploadCounts: an unchanged build uploads no asset again, a slightly
// changed one only its changed assets.
func TestUploadCounts(t *testing.T) {
	cnt := &counter{base: http.DefaultTransport}
	tg, _ := openTarget(t, func(c *Config) { c.Transport = cnt })
	ctx := context.Background()
	a := sampleBuild(t)
	b := changedSample(t, adminCSS, "\n.scd-publish-test{color:red}\n")
	ha, hb := hashedPaths(t, a), hashedPaths(t, b)
	files := func(dir string) int { bd, _ := manifest.ReadBuild(dir); return len(bd.Files) + 1 }

	if _, err := tg.Stage(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := cnt.count("/static/assets/"); got != len(ha) {
		t.Errorf("first publish: %d asset PUTs, want %d", got, len(ha))
	}
	t.Logf("first publish: %d files, %d asset PUTs, %d release PUTs", files(a), cnt.count("/static/assets/"), cnt.count("/static/releases/"))

	cnt.reset()
	if _, err := tg.Stage(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := cnt.count("/static/assets/"); got != 0 {
		t.Errorf("unchanged build: %d asset PUTs, want 0", got)
	}
	// The release directory is copied on the server, not uploaded: the
	// one upload there is release.json.
	if up, _ := cnt.uploads("/static/releases/"); up != 1 {
		t.Errorf("unchanged build: %d uploads into the release directory, want 1 (release.json)", up)
	}
	if cp := cnt.copied("/static/releases/"); cp != files(a)-len(ha) {
		t.Errorf("unchanged build: %d copies, want %d (every non-hashed file)", cp, files(a)-len(ha))
	}
	upAll, _ := cnt.uploads("/")
	t.Logf("unchanged build: %d asset PUTs, %d release PUTs (%d of them server-side copies), %d uploads in all", cnt.count("/static/assets/"), cnt.count("/static/releases/"), cnt.copied("/static/releases/"), upAll)

	changed := 0
	for p, f := range hb {
		if ha[p] != f {
			changed++
		}
	}
	cnt.reset()
	if _, err := tg.Stage(ctx, b); err != nil {
		t.Fatal(err)
	}
	got := cnt.count("/static/assets/")
	if got != changed || changed == 0 {
		t.Errorf("changed build: %d asset PUTs, want %d (the changed hashed files)", got, changed)
	}
	t.Logf("changed build: %d of %d hashed assets changed (%.1f%%), %d asset PUTs; %d of %d files in all",
		changed, len(hb), 100*float64(changed)/float64(len(hb)), got, changed, files(b))
}

// TestOrder checks the PUT order: assets before the release's own files,
// release.json last of a Stage, the pointer last of an Activate.
func TestOrder(t *testing.T) {
	cnt := &counter{base: http.DefaultTransport}
	tg, _ := openTarget(t, func(c *Config) { c.Transport = cnt })
	ctx := context.Background()
	rel, err := tg.Stage(ctx, sampleBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	cnt.mu.Lock()
	puts := cnt.puts
	cnt.mu.Unlock()
	lastAsset, firstRelease, record := -1, -1, -1
	for i, p := range puts {
		switch {
		case strings.Contains(p, "/static/assets/"):
			lastAsset = i
		case strings.HasSuffix(p, "/"+recordName):
			record = i
		case strings.Contains(p, "/static/releases/") && firstRelease < 0:
			firstRelease = i
		}
	}
	if !(lastAsset < firstRelease && firstRelease < record) {
		t.Errorf("order: last asset PUT %d, first release PUT %d, release.json %d", lastAsset, firstRelease, record)
	}
	for _, p := range puts[record+1:] {
		if !strings.HasSuffix(p, "/history.json") && !strings.HasSuffix(p, "/.lock") {
			t.Errorf("PUT %s after release.json", p)
		}
	}
	cnt.reset()
	if err := tg.Activate(ctx, rel.ID); err != nil {
		t.Fatal(err)
	}
	cnt.mu.Lock()
	defer cnt.mu.Unlock()
	var ctl []string
	for _, p := range cnt.puts {
		if !strings.HasSuffix(p, "/.lock") {
			ctl = append(ctl, p)
		}
	}
	if len(ctl) == 0 || !strings.HasSuffix(ctl[len(ctl)-1], "/static/current") {
		t.Errorf("Activate PUTs %v: the pointer is not last", ctl)
	}
}

// checkPointer fails unless the pointer is absent or names a complete
// release whose files can be read.
func checkPointer(ctx context.Context, tg *Target) error {
	p, ok, err := tg.current(ctx)
	if err != nil || !ok {
		return err
	}
	if _, err := tg.get(ctx, recordKey(p.ID)); err != nil {
		return fmt.Errorf("pointer names %s without release.json: %v", p.ID, err)
	}
	if _, err := tg.get(ctx, releaseKey(p.ID, "build.json")); err != nil {
		return fmt.Errorf("pointer names %s without build.json: %v", p.ID, err)
	}
	return nil
}

// TestReaderDuringSwitches: a reader polling the pointer while releases
// are staged and activated never sees an incomplete release.
func TestReaderDuringSwitches(t *testing.T) {
	tg, _ := openTarget(t, nil)
	ctx := context.Background()
	builds := []string{sampleBuild(t), changedSample(t, adminCSS, "\n.r1{color:red}\n")}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	reads := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := checkPointer(ctx, tg); err != nil {
				readErr = err
				return
			}
			reads++
		}
	})
	var ids []string
	for i := range 6 {
		ids = append(ids, stageActivate(t, tg, builds[i%2]).ID)
	}
	for range 10 {
		if _, err := tg.Rollback(ctx, ""); err != nil {
			// every older release has been marked bad: start over
			if err := tg.Activate(ctx, ids[len(ids)-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	t.Logf("%d pointer reads during 6 stages, 6 activations and 10 rollbacks", reads)
}

func TestWrongCredentials(t *testing.T) {
	tg, bucket := openTarget(t, nil)
	rel := stageActivate(t, tg, sampleBuild(t))
	before := srv.keys(t, bucket)
	cfg := tg.cfg
	cfg.SecretKey = "wrong-secret"
	bad, err := New(cfg, publish.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = bad.Stage(ctx, sampleBuild(t))
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("Stage with a wrong secret: %v, want a credentials error", err)
	}
	t.Logf("wrong credentials: %v", err)
	if err := bad.Activate(ctx, rel.ID); err == nil {
		t.Error("Activate with a wrong secret succeeded")
	}
	if _, err := bad.Releases(ctx); err == nil {
		t.Error("Releases with a wrong secret succeeded")
	}
	after := srv.keys(t, bucket)
	if len(after) != len(before) {
		t.Errorf("bucket changed: %d objects before, %d after", len(before), len(after))
	}
	for k, o := range before {
		if after[k].ETag != o.ETag {
			t.Errorf("%s changed", k)
		}
	}
}

func TestUnreachable(t *testing.T) {
	port, err := freePort() // closed again: nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	tg, err := New(Config{Bucket: "bkt", Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1",
		AccessKey: "a", SecretKey: "b", PathStyle: true, MaxRetries: 3, RetryBase: 20 * time.Millisecond}, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = tg.Stage(context.Background(), sampleBuild(t))
	if err == nil || !strings.Contains(err.Error(), "unreachable after 3 attempts") {
		t.Errorf("Stage to a closed port: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s", d)
	}
	t.Logf("unreachable endpoint, after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestCorruptBuild(t *testing.T) {
	tg, bucket := openTarget(t, nil)
	dir := copyTree(t, sampleBuild(t))
	m, err := manifest.ReadManifest(filepath.Join(dir, "frontend/Acme/base/en_US"))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "frontend/Acme/base/en_US", m["js/app.js"].File)
	if err := os.WriteFile(f, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Stage(context.Background(), dir); !errors.Is(err, publish.ErrCorruptBuild) {
		t.Errorf("Stage of a corrupt build: %v, want ErrCorruptBuild", err)
	}
	if _, err := tg.Stage(context.Background(), t.TempDir()); !errors.Is(err, publish.ErrCorruptBuild) {
		t.Errorf("Stage of an empty directory: %v, want ErrCorruptBuild", err)
	}
	if keys := srv.keys(t, bucket); len(keys) != 0 {
		t.Errorf("corrupt build: %d objects uploaded", len(keys))
	}
}

func TestPruneMaxDeletes(t *testing.T) {
	tg, bucket := openTarget(t, func(c *Config) { c.MaxDeletes = 3 })
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		b := sampleBuild(t)
		if i > 0 {
			b = changedSample(t, adminCSS, fmt.Sprintf("\n.p%d{color:red}\n", i))
		}
		ids = append(ids, stageActivate(t, tg, b).ID)
	}
	before := srv.keys(t, bucket)
	if _, err := tg.Prune(ctx, 1); err == nil || !strings.Contains(err.Error(), "nothing deleted") {
		t.Fatalf("Prune over the limit: %v", err)
	}
	if after := srv.keys(t, bucket); len(after) != len(before) {
		t.Fatalf("Prune over the limit deleted %d objects", len(before)-len(after))
	}

	tg.cfg.MaxDeletes = 10000
	removed, err := tg.Prune(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Active ids[3] and the rollback target ids[2] stay.
	if strings.Join(removed, ",") != ids[0]+","+ids[1] {
		t.Errorf("removed %v, want %v", removed, ids[:2])
	}
	rels, err := tg.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].ID != ids[2] || rels[1].ID != ids[3] || rels[1].Status != publish.StatusActive {
		t.Errorf("after prune: %+v", rels)
	}
	// Skew protection: ids[1] is in the window (K=2), so its assets are
	// still served although the release is gone; build.json is not.
	for p := range hashedPaths(t, changedSample(t, adminCSS, "\n.p1{color:red}\n")) {
		if _, err := tg.Read(ctx, p); err != nil {
			t.Fatalf("asset %s of a pruned release in the skew window: %v", p, err)
		}
	}
	for k := range srv.keys(t, bucket) {
		if strings.HasPrefix(k, "static/releases/"+ids[0]) || strings.HasPrefix(k, "static/releases/"+ids[1]) {
			t.Errorf("%s survived the prune", k)
		}
	}
}

func TestRollbackAndSkew(t *testing.T) {
	tg, _ := openTarget(t, nil)
	ctx := context.Background()
	a, b := sampleBuild(t), changedSample(t, adminCSS, "\n.s{color:red}\n")
	ra := stageActivate(t, tg, a)
	rb := stageActivate(t, tg, b)
	const m = "adminhtml/Acme/backend/en_US/manifest.json"
	read := func(p string) string {
		data, err := tg.Read(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	wantB, _ := os.ReadFile(filepath.Join(b, m))
	if read(m) != string(wantB) {
		t.Error("manifest.json is not the active release's")
	}
	// the old release's CSS is still served (skew protection)
	for p := range hashedPaths(t, a) {
		read(p)
	}
	rel, err := tg.Rollback(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rel.ID != ra.ID {
		t.Errorf("rolled back to %s, want %s", rel.ID, ra.ID)
	}
	rels, _ := tg.Releases(ctx)
	if rels[1].ID != rb.ID || rels[1].Status != publish.StatusBad || rels[0].Status != publish.StatusActive {
		t.Errorf("after rollback: %+v", rels)
	}
	if err := tg.Activate(ctx, "20000101T000000Z-nope"); !errors.Is(err, publish.ErrUnknownRelease) {
		t.Errorf("Activate of an unknown id: %v", err)
	}
}

func TestLock(t *testing.T) {
	tg, _ := openTarget(t, nil)
	ctx := context.Background()
	h, err := tg.lock(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(tg.cfg, publish.Options{LockTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err = other.Stage(ctx, sampleBuild(t))
	if !errors.Is(err, publish.ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("Stage while locked: %v, want ErrLocked naming the holder", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %s for a 300ms lock timeout", d)
	}
	h.release()
	if _, err := other.Stage(ctx, sampleBuild(t)); err != nil {
		t.Errorf("Stage after unlock: %v", err)
	}

	// A lock whose holder stopped refreshing it is removed.
	if err := tg.putValue(ctx, keyLock, lockBody{PID: 1, Host: "gone", Op: "stage", Nonce: "x", Time: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Releases(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Prune(ctx, 10); err != nil {
		t.Errorf("Prune over a stale lock: %v", err)
	}
}

// TestLockOrphaned: a lock that names this process with a nonce none of
// its attempts holds (an attempt's PUT that landed after the attempt gave
// up) is removed by the next one at once; a lock of this process that an
// attempt holds is waited for, and another process's is not touched.
func TestLockOrphaned(t *testing.T) {
	tg, _ := openTarget(t, nil)
	ctx := context.Background()
	host, _ := os.Hostname()
	mine := lockBody{PID: os.Getpid(), Host: host, Op: "stage", Nonce: "left-by-a-cancelled-attempt", PIDNS: self.pidns, Start: self.start, Time: time.Now()}
	if mine.PIDNS == "" {
		t.Skip("no /proc: a lock's holder is not identified beyond its pid")
	}
	if err := tg.putValue(ctx, keyLock, mine); err != nil {
		t.Fatal(err)
	}
	other, _ := New(tg.cfg, publish.Options{LockTimeout: 300 * time.Millisecond})
	if _, err := other.Stage(ctx, sampleBuild(t)); err != nil {
		t.Errorf("Stage over an orphaned lock of this process: %v", err)
	}

	h, err := tg.lock(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Stage(ctx, sampleBuild(t)); !errors.Is(err, publish.ErrLocked) {
		t.Errorf("Stage while this process holds the lock: %v, want ErrLocked", err)
	}
	h.release()

	foreign := mine
	foreign.PID, foreign.Start = 1, procStart("1") // alive: the init process
	if err := tg.putValue(ctx, keyLock, foreign); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Stage(ctx, sampleBuild(t)); !errors.Is(err, publish.ErrLocked) {
		t.Errorf("Stage while another live process holds the lock: %v, want ErrLocked", err)
	}
}

// TestCrashSafety cancels Stage+Activate at random points: the pointer
// always names a complete release, and a re-run completes.
func TestCrashSafety(t *testing.T) {
	tg, _ := openTarget(t, func(c *Config) { c.MaxDeletes = 1 << 20 })
	builds := []string{sampleBuild(t), changedSample(t, adminCSS, "\n.c1{color:red}\n"), changedSample(t, adminCSS, "\n.c2{color:red}\n")}
	// How long one full Stage+Activate takes, to spread the cancellations.
	start := time.Now()
	stageActivate(t, tg, builds[0])
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(1, 2))
	cancelled := 0
	for i := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.Int64N(int64(full))))
		rel, err := tg.Stage(ctx, builds[i%3])
		if err == nil {
			err = tg.Activate(ctx, rel.ID)
		}
		cancel()
		if err != nil {
			cancelled++
		}
		if err := checkPointer(context.Background(), tg); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	t.Logf("30 runs, %d cancelled mid-way (one Stage+Activate takes %s)", cancelled, full.Round(time.Millisecond))
	// A lock left by a cancelled run is released in the background; a
	// full run completes.
	rel := stageActivate(t, tg, builds[1])
	got, err := tg.Read(context.Background(), "adminhtml/Acme/backend/en_US/manifest.json")
	want, _ := os.ReadFile(filepath.Join(builds[1], "adminhtml/Acme/backend/en_US/manifest.json"))
	if err != nil || string(got) != string(want) {
		t.Errorf("after the re-run (%s): %v", rel.ID, err)
	}
	if _, err := tg.Prune(context.Background(), 2); err != nil {
		t.Errorf("Prune after the crashes: %v", err)
	}
}
