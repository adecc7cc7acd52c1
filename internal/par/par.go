// Package par runs the iterations of a loop on a few goroutines.
package par

import (
	"sync"
	"sync/atomic"
)

// For runs do(0), …, do(n-1) on up to workers goroutines (at least one),
// each taking the next index as it finishes one, and returns when all
// have run. Iterations must not depend on each other's order.
func For(n, workers int, do func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(1, workers), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				do(i)
			}
		})
	}
	wg.Wait()
}
