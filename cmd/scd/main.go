// Command scd builds the static content of multi-theme, multi-locale web
// front ends: `scd --threads 8 --matrix themes.yml`.
package main

import (
	"os"
	"runtime/debug"
	"syscall"
)

func main() {
	// A build allocates a lot of short-lived memory (parsers, compressor
	// state); collecting less often saves about a quarter of the CPU time
	// (benchmarks/RESULTS.md). GOGC set by the user wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// GOGC=400 lets the heap grow to five times what is live; on a very
	// large matrix that would be more than the machine has. Above half of
	// the memory, the collector works harder instead.
	if os.Getenv("GOMEMLIMIT") == "" {
		var si syscall.Sysinfo_t
		if syscall.Sysinfo(&si) == nil && si.Totalram > 0 {
			debug.SetMemoryLimit(int64(si.Totalram) * int64(si.Unit) / 2)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
