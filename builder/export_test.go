package builder

// SetBeforeSwap sets the hook run between writing a tree and the swap;
// nil removes it.
func SetBeforeSwap(f func(tmp string) error) { beforeSwap = f }

// Fingerprint exposes fingerprint to the tests.
func Fingerprint(dir string) (string, error) { return fingerprint(dir) }
