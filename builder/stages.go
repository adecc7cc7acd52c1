package builder

import (
	"sync/atomic"
	"time"
)

// Stages of Result.Stages. Each is task time summed over the workers (so
// on N threads they can add up to N × the wall time), measured with a
// clock read at the start and end of each piece of work, which costs far
// less than the work.
const (
	// StageBundle: esbuild runs (or their cache lookups) and registering
	// each bundle's output, base and per-job bundles alike.
	StageBundle = "bundle"
	// StageMinify: processing every published source file once: reading,
	// marking translation calls, minifying, hashing the result.
	StageMinify = "minify"
	// StageTranslate: substituting translations into marked JS
	// (i18n.TranslateJS), per job. Included in StageAssemble.
	StageTranslate = "translate"
	// StageHash: sha256 of every output content and sidecar. Included in
	// the stage that produced the content (minify, bundle, assemble,
	// compress).
	StageHash = "hash"
	// StageAssemble: per job, translation, naming, CSS and template
	// rewriting and js-translation.json; per-job bundles excluded (they
	// count in StageBundle).
	StageAssemble = "assemble"
	// StageCompress: making the gzip, brotli and zstd sidecars of each
	// unique content once.
	StageCompress = "compress"
	// StageLess: Magento's LESS preprocessing and less.js compiles (the
	// time a worker waits for its node process), or their cache lookups.
	StageLess = "less"
	// StageWrite: writing or linking every file of the output tree,
	// updating the spare tree, build.json and the output's fingerprint.
	StageWrite = "write"
)

const (
	stBundle = iota
	stMinify
	stTranslate
	stHash
	stAssemble
	stCompress
	stWrite
	stLess
	numStages
)

var stageNames = [numStages]string{StageBundle, StageMinify, StageTranslate, StageHash, StageAssemble, StageCompress, StageWrite, StageLess}

// stageClock sums the time spent in each stage.
type stageClock struct{ ns [numStages]atomic.Int64 }

// since adds the time from t0 to now to stage s.
func (c *stageClock) since(s int, t0 time.Time) time.Duration {
	d := time.Since(t0)
	c.ns[s].Add(int64(d))
	return d
}

func (c *stageClock) result() map[string]time.Duration {
	m := make(map[string]time.Duration, numStages)
	for i, name := range stageNames {
		m[name] = time.Duration(c.ns[i].Load())
	}
	return m
}
