package builder_test

import (
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures/gen"
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
			for i, reuse := range []bool{true, false} {
				var log strings.Builder
				out := filepath.Join(t.TempDir(), "out")
				func() {
					if !reuse {
						defer builder.SetContextSourceBudget(0)()
					}
					cachedBuild(t, dir, out, "", func(o *builder.Options) {
						o.Threads = threads
						o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
					})
				}()
				digests[i] = treeDigest(t, out)
				m := regexp.MustCompile(`bundles built on esbuild contexts" runs=(\d+) contexts=(\d+)`).FindStringSubmatch(log.String())
				if m == nil {
					t.Fatalf("no count of esbuild contexts in the log:\n%s", log.String())
				}
				runs, _ := strconv.Atoi(m[1])
				contexts, _ := strconv.Atoi(m[2])
				switch {
				case reuse && 2*contexts > runs:
					t.Errorf("%s at %d threads: %d esbuild runs on %d contexts; want them reused", dir, threads, runs, contexts)
				case !reuse && contexts != runs:
					t.Errorf("%s with no reuse: %d esbuild runs on %d contexts", dir, runs, contexts)
				}
			}
			if digests[0] != digests[1] {
				t.Errorf("%s at %d threads: the output depends on reusing esbuild contexts", dir, threads)
			}
		}
	}
}
