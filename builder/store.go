package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
)

// write puts the blob's bytes (and sidecars) at dst: written the first time,
// hard-linked afterwards. It reports whether the bytes were written (as
// opposed to linked).
func (s *store) write(bl *blob, dst string) (bool, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	encs := bl.encs
	if bl.spilled {
		if err := renameAll(bl.first, dst, encs); err != nil {
			return false, err
		}
		bl.first, bl.spilled = dst, false
		return false, nil
	}
	if bl.first != "" {
		return false, linkAll(bl.first, dst, encs)
	}
	fresh := true
	if from, ok := s.b.prev.path(bl.sum); ok && os.Link(from, dst) == nil {
		fresh = false // the previous output has these bytes
	} else if bl.data == nil {
		return false, fmt.Errorf("%s: the previous output changed during the build", dst)
	} else if err := writeFile(dst, bl.data); err != nil {
		return false, err
	}
	for i, e := range encs {
		if bl.prevSide {
			if from, ok := s.b.prev.path(bl.sides[i].sum); ok && os.Link(from, dst+e.Ext()) == nil {
				continue
			}
			// The previous output lost a sidecar since it was checked:
			// compress after all.
			bl.mu.Unlock()
			s.compress(bl) // and spills it
			bl.mu.Lock()
			return s.relink(bl, dst)
		}
		if err := writeFile(dst+e.Ext(), bl.side[e]); err != nil {
			return false, err
		}
	}
	bl.first = dst
	return fresh, nil
}

// relink replaces what a failed attempt left at dst by links to the
// blob's spilled copy.
func (s *store) relink(bl *blob, dst string) (bool, error) {
	if bl.first == "" {
		return false, fmt.Errorf("%s: no copy of the content to link", dst)
	}
	encs := bl.encs
	for _, p := range append([]string{dst}, extsOf(encs, dst)...) {
		_ = os.Remove(p)
	}
	return false, linkAll(bl.first, dst, encs)
}

// renameAll moves the file from and its sidecars to dst. (rename(2)
// directly: os.Rename first stats dst, a system call per file for
// nothing here.)
func renameAll(from, dst string, encs []precompress.Encoding) error {
	for _, ext := range append([]string{""}, extsOf(encs, "")...) {
		if err := unix.Rename(from+ext, dst+ext); err != nil {
			return &os.LinkError{Op: "rename", Old: from + ext, New: dst + ext, Err: err}
		}
	}
	return nil
}

// linkAll hard-links the file from and its sidecars to dst.
func linkAll(from, dst string, encs []precompress.Encoding) error {
	if err := os.Link(from, dst); err != nil {
		return err
	}
	for _, e := range encs {
		if err := os.Link(from+e.Ext(), dst+e.Ext()); err != nil {
			return err
		}
	}
	return nil
}

func extsOf(encs []precompress.Encoding, dst string) []string {
	var out []string
	for _, e := range encs {
		out = append(out, dst+e.Ext())
	}
	return out
}

// writeFile creates name (it must not exist) with data. It uses the system
// calls directly: os.OpenFile also registers every file with the runtime's
// poller and sets flags, several system calls per file for nothing on a
// regular file, and a build writes thousands.
func writeFile(name string, data []byte) error {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: name, Err: err}
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: name, Err: err}
	}
	return nil
}

// swapInto moves the finished tree tmp to out. An existing out is
// exchanged atomically with renameat2(RENAME_EXCHANGE) where the kernel
// supports it, so readers see the old tree or the new one, never neither;
// the old tree is then moved to spare (the spare tree of the next build)
// or, when spare is "", removed.
func swapInto(tmp, out, spare string) error {
	if _, err := os.Lstat(out); os.IsNotExist(err) {
		return os.Rename(tmp, out)
	}
	dispose := func(old string) error {
		if spare != "" && os.Rename(old, spare) == nil {
			return nil
		}
		return os.RemoveAll(old)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
	if err == nil {
		return dispose(tmp) // tmp now holds the previous output
	}
	if err != syscall.EINVAL && err != syscall.ENOSYS && err != syscall.ENOTSUP {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	old := tmp + ".old"
	if err := os.Rename(out, old); err != nil {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Rename(old, out)
		return fmt.Errorf("replace %s: %w", out, err)
	}
	return dispose(old)
}

// beforeSwap, when set (by tests), runs between writing the new tree and
// the swap; an error fails the build there, as a build killed at that
// point would stop.
var beforeSwap func(tmp string) error

// tempDir creates the directory the build is written to, beside out so
// that the final rename stays on one file system.
func tempDir(out string) (string, error) {
	return os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
}

// ErrLocked is returned when another build is writing the same output.
var ErrLocked = errors.New("another scd build is writing this output")

// lockOutput takes the lock beside out (.<name>.lock), so that two builds
// never write the same output, and removes what a killed build left beside
// it. It refuses an existing output that is not a previous build: replacing
// a directory deletes its content, so it must be scd's own.
func lockOutput(out string) (unlock func(), err error) {
	parent, base := filepath.Dir(out), filepath.Base(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := checkReplaceable(out); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(parent, "."+base+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", out, ErrLocked)
	}
	stale, _ := filepath.Glob(filepath.Join(parent, "."+base+".tmp-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	return func() { f.Close() }, nil
}

// checkReplaceable accepts a missing or empty output, or one holding a
// previous build (build.json at its root).
func checkReplaceable(out string) error {
	st, err := os.Lstat(out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if !st.IsDir() {
		return &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("output %s exists and is not a directory", out)}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, manifest.BuildFile)); err == nil {
		return nil
	}
	return &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("output %s is not empty and holds no %s: scd replaces its output as a whole, so it only replaces a previous build", out, manifest.BuildFile)}
}
