package builder

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
// A template's and a stylesheet's key holds each answer. So does a
// script's: the phrases its translation looks up (i18n.TranslateJS asks
// every literal of its marker calls, in order, whatever the answers) are
// a function of its bytes, recorded in the pack (kind "jsasks", by the
// script's digest) by the first translation of those bytes; a later
// build asks the job's dictionary for each, rather than scanning the
// script again. So a changed row of a dictionary makes again only the
// scripts that look it up, not every script of the jobs that merge it.
// Bytes whose lookups are not known yet are translated, and their
// lookups recorded as they are made. A job's record keeps the pack
// entries of its scripts' lookups while it is clean.

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
	asks struct { // the lookups of its translation, when it is marked JS
		mu            sync.Mutex
		loaded, known bool
		list          []string
		key           string // of their pack entry, made once (asksKey)
	}
}

func (in *inputSum) get(data []byte) *inputSum {
	in.once.Do(func() { in.sum = sha256.Sum256(data) })
	return in
}

// set gives the digest, known otherwise, before anyone asks for it.
func (in *inputSum) set(sum [32]byte) { in.once.Do(func() { in.sum = sum }) }

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

// jsAsks collects the phrases a translation looks up, each once, in the
// order asked; a nil *jsAsks collects nothing.
type jsAsks struct {
	list []string
	seen map[string]bool
}

func (s *jsAsks) add(phrase string) {
	if s == nil || s.seen[phrase] {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[phrase] = true
	s.list = append(s.list, phrase)
}

// asksOf returns the lookups of in's translation, from this build or the
// pack, and whether they are known.
func (a *assembly) asksOf(in *inputSum) ([]string, bool) {
	s := &in.asks
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.loaded = true
		if raw, ok := a.b.packGet("jsasks", a.b.asksKey(in)); ok {
			d := &dec{b: raw}
			if list := d.strs(); !d.bad && len(d.b) == 0 {
				s.list, s.known = list, true
			}
		}
	}
	if s.known {
		a.asks = append(a.asks, "jsasks/"+a.b.asksKey(in))
	}
	return s.list, s.known
}

// setAsks records the lookups of in's translation, unless another job's
// translation of the same bytes did first (they are the same), and
// returns the recorded ones.
func (a *assembly) setAsks(in *inputSum, list []string) []string {
	s := &in.asks
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		s.list, s.loaded, s.known = list, true, true
		e := &enc{}
		e.strs(list)
		a.b.packPut("jsasks", a.b.asksKey(in), e.b)
	}
	a.asks = append(a.asks, "jsasks/"+a.b.asksKey(in))
	return s.list
}

// asksKey is the pack key of in's lookups, made the first time it is
// asked for (every job that translates in asks it), under in.asks.mu.
func (b *build) asksKey(in *inputSum) string {
	if in.asks.key == "" {
		in.asks.key = b.key("jsasks", hex.EncodeToString(in.sum[:]))
	}
	return in.asks.key
}

// jsKey is the memo key of a script's translation for a file at from:
// the script's digest and the job's answer to each of its lookups.
func (a *assembly) jsKey(in *inputSum, from string, asks []string) string {
	k := a.memoKey("js", in)
	k.str(from)
	k.int(len(asks))
	for _, ph := range asks {
		k.str(ph)
		if tr, ok := a.lookup(ph, from); ok {
			k.int(1)
			k.str(tr)
		} else {
			k.int(0)
		}
	}
	return k.String()
}
