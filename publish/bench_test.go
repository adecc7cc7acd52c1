//go:build unix

package publish_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scdtool/scd/manifest"
	. "github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/publish/publishtest"
)

// BenchmarkSwitch measures activation on the local target, alternating
// between two staged releases of the sample: "switch" is the pointer flip
// alone (symlink + rename(2) + fsync of the root), "activate" the whole
// Activate (lock, recovery check, skew-protection links, switch, history
// write with its fsyncs). Reports p50/p99 of each in milliseconds.
//
//	go test -run '^$' -bench BenchmarkSwitch -benchtime 500x ./publish/
func BenchmarkSwitch(b *testing.B) {
	a, bb := publishtest.Builds(b)
	l := newLocal(b, Options{})
	ra, err := l.Stage(ctx, a)
	if err != nil {
		b.Fatal(err)
	}
	rb, err := l.Stage(ctx, bb)
	if err != nil {
		b.Fatal(err)
	}
	ids := []string{ra.ID, rb.ID}
	var act, sw []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := l.Activate(ctx, ids[i%2]); err != nil {
			b.Fatal(err)
		}
		act = append(act, time.Since(start))
		start = time.Now()
		if err := l.SwitchCurrent(ids[i%2]); err != nil {
			b.Fatal(err)
		}
		sw = append(sw, time.Since(start))
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e6 }
		b.ReportMetric(q(0.50), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report("activate", act)
	report("switch", sw)
}

// BenchmarkRepublish1Pct stages a synthetic build of 2000 files (16 MiB),
// then, per iteration, a copy in which 1% of the files changed, and reports
// the bytes written into the target for that copy as a share of its size:
// written-% (everything: files, build.json, marker, history) and
// content-% (file contents alone). build.json is rewritten whole, so
// written-% carries its ~0.2 MiB on top of the changed files.
//
//	go test -run '^$' -bench BenchmarkRepublish1Pct -benchtime 5x ./publish/
func BenchmarkRepublish1Pct(b *testing.B) {
	const files, size = 2000, 8 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	content := make([][]byte, files)
	for i := range content {
		content[i] = make([]byte, size)
		for j := range content[i] {
			content[i][j] = byte(rng.Uint32())
		}
	}
	write := func(dir string) int64 {
		meta := manifest.Build{ID: fmt.Sprintf("%x", rng.Uint64()), Files: map[string]manifest.File{}}
		var total int64
		for i, c := range content {
			p := fmt.Sprintf("frontend/V/t/en_US/js/f%04d.%08x.js", i, i)
			name := filepath.Join(dir, filepath.FromSlash(p))
			os.MkdirAll(filepath.Dir(name), 0o755)
			if err := os.WriteFile(name, c, 0o644); err != nil {
				b.Fatal(err)
			}
			sum := sha256.Sum256(c)
			meta.Files[p] = manifest.File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(c))}
			total += int64(len(c))
		}
		raw, _ := manifest.Marshal(meta)
		os.WriteFile(filepath.Join(dir, manifest.BuildFile), raw, 0o644)
		return total + int64(len(raw))
	}
	l := newLocal(b, Options{})
	if _, err := l.Stage(ctx, filepath.Join(b.TempDir(), "base")); err == nil {
		b.Fatal("staging a missing build succeeded")
	}
	base := filepath.Join(b.TempDir(), "base")
	write(base)
	if _, err := l.Stage(ctx, base); err != nil {
		b.Fatal(err)
	}
	var written, contentWritten, total int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := range files / 100 {
			c := content[rng.IntN(files)]
			c[k%size] ^= 0xff
		}
		dir := filepath.Join(b.TempDir(), fmt.Sprint("v", i))
		n := write(dir)
		raw, _ := os.ReadFile(filepath.Join(dir, manifest.BuildFile))
		b.StartTimer()
		before := l.Written()
		r, err := l.Stage(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		w := l.Written() - before
		written += w
		// Bookkeeping beyond the files: build.json, marker, history.
		contentWritten += w - int64(len(raw)) - markerAndHistory(b, l, r.ID)
		total += n
	}
	b.ReportMetric(100*float64(written)/float64(total), "written-%")
	b.ReportMetric(100*float64(contentWritten)/float64(total), "content-%")
}

func markerAndHistory(b *testing.B, l *Local, id string) int64 {
	var n int64
	for _, p := range []string{filepath.Join(l.ReleasePath(id), MarkerFile), filepath.Join(l.Root(), HistoryFile)} {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		n += st.Size()
	}
	return n
}
