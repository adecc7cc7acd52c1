package builder_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures/gen"
	"github.com/scdtool/scd/matrix"
)

// TestEsbuildContextReuse builds matrices whose bundles share modules
// across entries, themes of a chain and locales (with locale overrides
// among their inputs) twice: on esbuild contexts that keep what they
// parsed, and with a context per bundle. The outputs must be the same
// bytes, at one thread and at several, and the first build must really
// have reused contexts.
func TestEsbuildContextReuse(t *testing.T) {
	spec := gen.DefaultSpec
	spec.Themes, spec.Locales, spec.Files, spec.AvgSize = 5, 3, 60, 2048 // two chains
	generated := filepath.Join(t.TempDir(), "gen")
	if err := gen.Generate(generated, spec); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{sampleDir, generated} {
		for _, threads := range []int{1, 3} {
			var digests [2]string
			for i, budget := range []int{-1, 0} {
				restore := func() {}
				if budget == 0 {
					restore = builder.SetContextSourceBudget(0)
				}
				cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
				if err != nil {
					t.Fatal(err)
				}
				jobs, err := cfg.Jobs(matrix.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				var log strings.Builder
				out := filepath.Join(t.TempDir(), "out")
				_, err = builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out,
					Threads: threads, WorkDir: dir, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				restore()
				if err != nil {
					t.Fatal(err)
				}
				digests[i] = treeDigest(t, out)
				m := regexp.MustCompile(`bundles built on esbuild contexts" runs=(\d+) contexts=(\d+)`).FindStringSubmatch(log.String())
				if m == nil {
					t.Fatalf("no count of esbuild contexts in the log:\n%s", log.String())
				}
				runs, _ := strconv.Atoi(m[1])
				contexts, _ := strconv.Atoi(m[2])
				switch {
				case budget != 0 && 2*contexts > runs:
					t.Errorf("%s at %d threads: %d esbuild runs on %d contexts; want them reused", dir, threads, runs, contexts)
				case budget == 0 && contexts != runs:
					t.Errorf("%s with no reuse: %d esbuild runs on %d contexts", dir, runs, contexts)
				}
			}
			if digests[0] != digests[1] {
				t.Errorf("%s at %d threads: the output depends on reusing esbuild contexts", dir, threads)
			}
		}
	}
}
