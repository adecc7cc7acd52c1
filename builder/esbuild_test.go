package builder

import "testing"

// TestEsbuildPoolBound checks that contexts are reused by chain and that
// no more than max are alive: a chain that needs one when all are taken
// gets the least recently used free one, made anew.
func TestEsbuildPoolBound(t *testing.T) {
	p := &esbuildPool{max: 2}
	defer p.close()
	get := func(root string) *esbuildCtx {
		t.Helper()
		c, err := p.get(root)
		if err != nil {
			t.Fatal(err)
		}
		if c.root != root {
			t.Fatalf("asked a context for %s, got one for %s", root, c.root)
		}
		return c
	}
	a, b := get("a"), get("b")
	p.put(a)
	p.put(b)
	if c := get("a"); c != a {
		t.Fatal("a free context of the chain was not reused")
	} else {
		p.put(c)
	}
	// b was given back before a was: b goes.
	c := get("c")
	if p.live != 2 || p.made != 3 {
		t.Fatalf("live %d, made %d; want 2 and 3", p.live, p.made)
	}
	if got := get("a"); got != a {
		t.Fatal("the context used last was disposed of")
	} else {
		p.put(got)
	}
	p.put(c)
	if got := get("b"); got == b {
		t.Fatal("a disposed context came back")
	} else {
		p.put(got)
	}
	if p.live > 2 {
		t.Fatalf("%d contexts alive, max 2", p.live)
	}
}

// TestEsbuildPoolOverBudget checks that a context whose parsed sources
// exceed its share is disposed of when given back.
func TestEsbuildPoolOverBudget(t *testing.T) {
	defer func(n int) { contextSourceBudget = n }(contextSourceBudget)
	contextSourceBudget = 100
	p := &esbuildPool{max: 2}
	defer p.close()
	c, err := p.get("a")
	if err != nil {
		t.Fatal(err)
	}
	c.loaded("x.js", 30)
	c.loaded("x.js", 40) // the same file again: counted once
	p.put(c)
	if len(p.free) != 1 {
		t.Fatal("a context under its share was not kept")
	}
	c, _ = p.get("a")
	c.loaded("y.js", 20) // 60 > 100/2
	p.put(c)
	if len(p.free) != 0 || p.live != 0 {
		t.Fatalf("a context over its share was kept (free %d, live %d)", len(p.free), p.live)
	}
}
