package builder

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// The rewrite memo. What a job makes of a shared input — a bundle or a
// script with $t() calls translated, a template rendered, a stylesheet's
// url()s pointed at hashed names — depends on the input's bytes and on the
// job's answers to a few lookups (translations, hashed names), nothing
// else. With the cache on, each such result is recorded in the output's
// state under a key over both; the next build computes the key from the
// same answers and, when the previous output holds the recorded content,
// links it instead of making it again. A rebuild then translates and
// renders only what a change reaches, not every job of the matrix.
//
// A template's and a stylesheet's key holds each answer; a script's holds
// a digest of the job's dictionary instead, which stands for all of its
// translations (listing the phrases would mean scanning the script, most
// of what translating it costs): the digests of the dictionary files in
// merge order (job.dictSum), of which the merged rows are a function.

// memoRec is one recorded result: the content it gave.
type memoRec struct {
	Sum  string
	Size int64
}

// inputSum is the digest of a shared input, computed once whatever the
// number of jobs that rewrite it.
type inputSum struct {
	once sync.Once
	sum  [32]byte
}

func (in *inputSum) get(data []byte) *inputSum {
	in.once.Do(func() { in.sum = sha256.Sum256(data) })
	return in
}

// memoKey builds the key of one rewrite: its kind, the input's digest and
// the answers, each length-prefixed so that no two sequences collide.
type memoKey struct{ buf []byte }

// memoKey starts the key of a rewrite in the assembly's buffer.
func (a *assembly) memoKey(kind string, in *inputSum) *memoKey {
	k := &a.key
	k.buf = k.buf[:0]
	k.str(kind)
	k.buf = append(k.buf, in.sum[:]...)
	return k
}

func (k *memoKey) str(s string) {
	k.buf = binary.AppendUvarint(k.buf, uint64(len(s)))
	k.buf = append(k.buf, s...)
}

func (k *memoKey) int(n int) { k.buf = binary.AppendVarint(k.buf, int64(n)) }

func (k *memoKey) String() string {
	s := sha256.Sum256(k.buf)
	return string(s[:])
}

// memoOn reports whether rewrites are recorded: only a build with a cache
// has a next build to profit.
func (b *build) memoOn() bool { return b.memoNew != nil }

// memoized returns the blob recorded under key by the previous build, for
// a file published at logical, when the previous output still has it.
func (a *assembly) memoized(key, logical string) *blob {
	p := a.b.prev
	if p == nil {
		return nil
	}
	r, ok := p.memo[key]
	if !ok {
		return nil
	}
	bl := a.b.store.putPrev(r.Sum, r.Size, logical)
	if bl != nil {
		a.b.stats.reused.Add(1)
		a.remember(key, bl)
	}
	return bl
}

// remember records the blob a rewrite gave, for the next build; the job's
// records join the build's when it is assembled (saveMemo).
func (a *assembly) remember(key string, bl *blob) {
	a.memo = append(a.memo, memoEntry{key, memoRec{Sum: bl.sum, Size: bl.size}})
}

type memoEntry struct {
	key string
	rec memoRec
}

func (a *assembly) saveMemo() {
	if len(a.memo) == 0 {
		return
	}
	a.b.memoMu.Lock()
	for _, e := range a.memo {
		a.b.memoNew[e.key] = e.rec
	}
	a.b.memoMu.Unlock()
}
