package builder

import "github.com/scdtool/scd/builder/fstree"

// SetBeforeSwap sets the hook run between writing a tree and the swap;
// nil removes it.
func SetBeforeSwap(f func(tmp string) error) { beforeSwap = f }

// SetStateSaved sets the hook told the fingerprint and probes each build
// records of its output; nil removes it.
func SetStateSaved(f func(out, fp string, probes []fstree.DirProbe)) { stateSaved = f }

// SetContextSourceBudget sets the source bytes esbuild contexts may hold
// (0: a context per bundle) until the returned function restores it.
func SetContextSourceBudget(n int) (restore func()) {
	old := contextSourceBudget
	contextSourceBudget = n
	return func() { contextSourceBudget = old }
}

// SetSpareJobs sets the hook told how the spare tree's job directories
// were known (store_record.go); nil unsets it.
func SetSpareJobs(f func(recorded, listed int64)) { spareJobs = f }

func SetBuildParts(f func(copied, made int)) { buildParts = f }

// HoldProbes makes each check's probes wait until the build waits for
// their verdict (see holdProbes), until the returned function undoes it.
func HoldProbes() (restore func()) {
	holdProbes.Store(true)
	return func() { holdProbes.Store(false) }
}
