package par

import (
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 4}, {1, 4}, {100, 1}, {1000, 8}, {5, 0}} {
		runs := make([]atomic.Int32, c.n)
		For(c.n, c.workers, func(i int) { runs[i].Add(1) })
		for i := range runs {
			if got := runs[i].Load(); got != 1 {
				t.Errorf("n %d, workers %d: index %d ran %d times", c.n, c.workers, i, got)
			}
		}
	}
}
