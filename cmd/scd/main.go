// Command scd builds the static content of multi-theme, multi-locale web
// front ends: `scd --threads 8 --matrix themes.yml`.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// A build allocates a lot of short-lived memory (parsers, compressor
	// state); collecting less often saves about a quarter of the CPU time
	// (benchmarks/RESULTS.md). GOGC set by the user wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
