package builder

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Prepared is the check of the previous output (the state of its last
// build read from the cache, the output checked by its probes: see
// "Probes" in the package documentation) started before Build, while the
// caller is still readying the rest of the options: loading a Magento
// project takes about as long as the check, and a rebuild with nothing
// to do is little else.
//
// The check only reads, and runs before Build locks the output, so Build
// takes it over (Options.Prepared) only when nothing it depends on moved
// meanwhile: the state's head is the same file (a build writes a new one
// by a rename) and the output's top directory has the same stat (a swap
// or an exchange changes it). Otherwise Build checks again, as it does
// without a Prepared.
type Prepared struct {
	key   preparedKey
	check *outputCheck
	// head and top are the stats of the state's head and of the output
	// before the check began (zero when missing).
	head, top unix.Stat_t
	taken     atomic.Bool
}

// preparedKey is what a Prepared was started for: the options the check
// depends on.
type preparedKey struct{ output, cacheDir, cacheKey, version string }

func preparedKeyOf(o Options) preparedKey {
	out, err := filepath.Abs(o.Output)
	if err != nil {
		out = o.Output
	}
	return preparedKey{out, o.CacheDir, o.CacheKey, o.Version}
}

// Prepare starts the check for a build of opts.Output with opts.CacheDir,
// opts.CacheKey and opts.Version; it reads no other field but Logger. It
// writes nothing (a cache entry found damaged is removed, as Build would).
// It returns nil when there is nothing to check (no cache or no output
// named). A Prepared that no Build takes over must be released.
func Prepare(opts Options) *Prepared {
	if opts.CacheDir == "" || opts.Output == "" {
		return nil
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &build{opts: opts, ctx: context.Background(), log: opts.Logger, cache: &cache{dir: opts.CacheDir}}
	p := &Prepared{key: preparedKeyOf(opts)}
	p.head, p.top = p.stats(b)
	p.check = b.startOutputCheck(b.ctx)
	return p
}

// stats are the state head's and the output's, as Prepared records them.
func (p *Prepared) stats(b *build) (head, top unix.Stat_t) {
	_ = unix.Stat(b.cache.path("state", b.stateKey()), &head)
	_ = unix.Stat(b.opts.Output, &top)
	return head, top
}

// Release stops a check that no Build took over. It may be called on a
// nil Prepared, more than once, and after Build.
func (p *Prepared) Release() {
	if p != nil && p.taken.CompareAndSwap(false, true) {
		p.check.stop()
	}
}

// takeOver gives b the prepared check when it was started for b's
// options and nothing moved since; otherwise it releases it and returns
// nil. b holds the output's lock.
func (p *Prepared) takeOver(b *build) *outputCheck {
	if p == nil || b.cache == nil || !p.taken.CompareAndSwap(false, true) {
		return nil
	}
	if preparedKeyOf(b.opts) != p.key {
		p.check.stop()
		b.log.Debug("cache: the early check was for other options; checking again")
		return nil
	}
	if head, top := p.stats(b); !sameStat(head, p.head) || !sameStat(top, p.top) {
		p.check.stop()
		b.log.Debug("cache: the output or its state changed since the early check; checking again")
		return nil
	}
	b.log.Debug("cache: the previous output's check began before the build")
	return p.check
}

// sameStat reports whether two stats are of the same file, unchanged.
func sameStat(a, b unix.Stat_t) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size &&
		a.Mtim == b.Mtim && a.Ctim == b.Ctim && a.Nlink == b.Nlink && a.Mode == b.Mode
}
