package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"
)

// A build allocates a lot of short-lived memory (parsers, compressor
// state); collecting less often (GOGC=400) saves about a quarter of the
// CPU time (benchmarks/RESULTS.md). Left alone, that lets the heap grow to
// five times what is live: gigabytes on a large matrix. So the collector
// also gets a soft memory limit of 1.5 times the live heap, never below
// memoryFloor and never above half of the machine's memory: small builds
// run at full speed, a 20 × 30 matrix (at most 0.74 GiB live) peaks at
// 1.25 GiB with no measurable cost in time, and a matrix whose live heap
// outgrows the floor is not starved into collecting continuously. GOGC
// and GOMEMLIMIT set by the user win.
const memoryFloor = 1 << 30 * 5 / 4 // 1.25 GiB

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	ceiling := int64(memoryFloor)
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil && si.Totalram > 0 {
		ceiling = max(ceiling, int64(si.Totalram)*int64(si.Unit)/2)
	}
	limit := int64(memoryFloor)
	debug.SetMemoryLimit(limit)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for range time.Tick(200 * time.Millisecond) {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			want := min(max(3*int64(sample[0].Value.Uint64())/2, memoryFloor), ceiling)
			if want > limit+limit/10 || want < limit-limit/10 {
				limit = want
				debug.SetMemoryLimit(limit)
			}
		}
	}()
}
