package builder

// SetBeforeSwap sets the hook run between writing a tree and the swap;
// nil removes it.
func SetBeforeSwap(f func(tmp string) error) { beforeSwap = f }

// SetContextSourceBudget sets the source bytes esbuild contexts may hold
// (0: a context per bundle) until the returned function restores it.
func SetContextSourceBudget(n int) (restore func()) {
	old := contextSourceBudget
	contextSourceBudget = n
	return func() { contextSourceBudget = old }
}
