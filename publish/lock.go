//go:build unix

package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile is flock(2)ed by every publisher for the whole of a mutating
// operation. flock locks belong to the open file description, so the kernel
// drops the lock when its holder dies — a SIGKILLed publisher never leaves a
// stale lock — and two opens in one process exclude each other too. The
// file holds the holder's pid, for the message of whoever waits.
const lockFile = ".lock"

// lock takes the target's lock, waiting at most LockTimeout, and returns
// the function that releases it.
func (l *Local) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(l.root, 0o755); err != nil {
		return nil, fmt.Errorf("target %s: cannot create it: %w", l.root, unwrapPath(err))
	}
	name := filepath.Join(l.root, lockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("target %s is not writable: %w", l.root, unwrapPath(err))
	}
	start := time.Now()
	wait, logged := 2*time.Millisecond, false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("target %s: lock %s: %w", l.root, name, err)
		}
		if time.Since(start) >= l.opts.LockTimeout {
			holder := "another process"
			if b, _ := os.ReadFile(name); len(strings.TrimSpace(string(b))) > 0 {
				holder = "pid " + strings.TrimSpace(string(b))
			}
			f.Close()
			return nil, fmt.Errorf("target %s: %w (%s holds %s; waited %s)",
				l.root, ErrLocked, holder, name, l.opts.LockTimeout)
		}
		if !logged && time.Since(start) > time.Second {
			logged = true
			l.log.Info("waiting for another publisher", "target", l.root)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
	// Best effort: the pid is only for messages.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
