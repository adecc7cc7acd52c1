package fstree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks walk a tree shaped like a build's output: benchJobs job
// directories with the same benchDirs directories of benchFiles files
// each, where the file at a path is one inode in the first 3 to 6 jobs
// and another in the rest (a content shared by the locales that do not
// translate it): about 40k names and 10k inodes.
const (
	benchJobs  = 6
	benchDirs  = 600
	benchFiles = 10
)

var bench struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the benchmarks' tree, made once for all of them.
func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchTree(b *testing.B) string {
	b.Helper()
	bench.once.Do(func() { bench.dir, bench.err = makeBenchTree() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.dir
}

func makeBenchTree() (string, error) {
	root, err := os.MkdirTemp("", "fstree-bench-")
	if err != nil {
		return "", err
	}
	jobs := make([]string, benchJobs)
	for j := range jobs {
		jobs[j] = filepath.Join(root, "frontend", "Vendor", "theme", fmt.Sprintf("l%d_XX", j))
	}
	for d := range benchDirs {
		rel := filepath.Join(fmt.Sprintf("Vendor_Module%02d", d/20), "web", fmt.Sprintf("part%02d", d%20))
		for _, job := range jobs {
			if err := os.MkdirAll(filepath.Join(job, rel), 0o755); err != nil {
				return root, err
			}
		}
		for f := range benchFiles {
			name := filepath.Join(rel, fmt.Sprintf("widget-%d.min.js", f))
			// The first k jobs share an inode, the others another one.
			k := 3 + (d*benchFiles+f)%4
			for j, job := range jobs {
				p := filepath.Join(job, name)
				switch j {
				case 0, k:
					err = os.WriteFile(p, fmt.Appendf(nil, "%s %d", name, j), 0o644)
				default:
					from := jobs[0]
					if j > k {
						from = jobs[k]
					}
					err = os.Link(filepath.Join(from, name), p)
				}
				if err != nil {
					return root, err
				}
			}
		}
	}
	return root, os.WriteFile(filepath.Join(root, "build.json"), []byte("{}"), 0o644)
}

// BenchmarkWalk lists and fingerprints the tree, as a build does with the
// previous output.
func BenchmarkWalk(b *testing.B) {
	dir := benchTree(b)
	loop(b, func() error {
		_, _, err := Walk(context.Background(), dir, true, "")
		return err
	})
}

// BenchmarkWalkFingerprint fingerprints the tree without listing it, as a
// build does with a tree it wrote whole.
func BenchmarkWalkFingerprint(b *testing.B) {
	dir := benchTree(b)
	loop(b, func() error {
		_, _, err := Walk(context.Background(), dir, false, "build.json")
		return err
	})
}

// BenchmarkList lists the tree with getdents alone.
func BenchmarkList(b *testing.B) {
	dir := benchTree(b)
	loop(b, func() error {
		_, err := List(dir)
		return err
	})
}

// loop runs f as the benchmark, and reports besides the time the CPU time
// of the process per run (cpu-ns/op: user and system, every thread, the
// garbage collector's included), which a walk on several threads or a
// busy machine does not show in ns/op.
func loop(b *testing.B, f func() error) {
	b.ReportAllocs()
	t0 := cpuTime()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheck checks the tree's probes, as a build does with the
// previous output before anything else.
func BenchmarkCheck(b *testing.B) {
	dir := benchTree(b)
	_, _, probes, err := WalkProbes(context.Background(), dir, false, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	SortProbes(probes)
	loop(b, func() error {
		if !Check(context.Background(), dir, probes) {
			return fmt.Errorf("the probes do not hold")
		}
		return nil
	})
}
