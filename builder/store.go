package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/builder/precompress"
)

// blob is one unique output content. It is compressed once and written
// once; every other file with the same bytes is a hard link to it.
type blob struct {
	sum  string // hex sha256
	data []byte

	compress bool
	side     map[precompress.Encoding][]byte // filled by the compress task
	sideSum  map[precompress.Encoding]string

	mu    sync.Mutex
	first string // path of the first written copy
}

// store deduplicates outputs by content.
type store struct {
	b     *build
	mu    sync.Mutex
	blobs map[string]*blob
}

func newStore(b *build) *store {
	return &store{b: b, blobs: map[string]*blob{}}
}

// put registers data as the content of a file named name (used to decide
// whether it is worth compressing) and returns its blob. A new blob that
// deserves sidecars is compressed on the pool right away.
func (s *store) put(data []byte, name string) *blob {
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	bl, ok := s.blobs[key]
	if !ok {
		bl = &blob{sum: key, data: data}
		s.blobs[key] = bl
	}
	if !bl.compress && len(s.b.comp.Encodings) > 0 && len(data) >= s.b.comp.MinSize && precompress.Compressible(name) {
		bl.compress = true
		s.b.task(s.b.compressGroup, "compress "+name, func() {
			side := s.b.comp.Compress(bl.data)
			sums := map[precompress.Encoding]string{}
			for e, d := range side {
				h := sha256.Sum256(d)
				sums[e] = hex.EncodeToString(h[:])
			}
			bl.mu.Lock()
			bl.side, bl.sideSum = side, sums
			bl.mu.Unlock()
		})
	}
	s.mu.Unlock()
	return bl
}

// encodings lists the sidecars a blob has, in configured order.
func (s *store) encodings(bl *blob) []precompress.Encoding {
	var out []precompress.Encoding
	for _, e := range s.b.comp.Encodings {
		if _, ok := bl.side[e]; ok {
			out = append(out, e)
		}
	}
	return out
}

// write puts the blob's bytes (and sidecars) at dst: written the first time,
// hard-linked afterwards. It reports whether the bytes were written (as
// opposed to linked).
func (s *store) write(bl *blob, dst string) (bool, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	encs := s.encodings(bl)
	if bl.first != "" {
		if err := os.Link(bl.first, dst); err != nil {
			return false, err
		}
		for _, e := range encs {
			if err := os.Link(bl.first+e.Ext(), dst+e.Ext()); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if err := writeFile(dst, bl.data); err != nil {
		return false, err
	}
	for _, e := range encs {
		if err := writeFile(dst+e.Ext(), bl.side[e]); err != nil {
			return false, err
		}
	}
	bl.first = dst
	return true, nil
}

func writeFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// swapInto moves the finished tree tmp to out. An existing out is
// exchanged atomically with renameat2(RENAME_EXCHANGE) where the kernel
// supports it, so readers see the old tree or the new one, never neither;
// the old tree is then removed.
func swapInto(tmp, out string) error {
	if _, err := os.Lstat(out); os.IsNotExist(err) {
		return os.Rename(tmp, out)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
	if err == nil {
		return os.RemoveAll(tmp) // tmp now holds the previous output
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
	return os.RemoveAll(old)
}

// tempDir creates the directory the build is written to, beside out so
// that the final rename stays on one file system.
func tempDir(out string) (string, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
}

// putPlain registers data without ever compressing it.
func (s *store) putPlain(data []byte) *blob {
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	bl, ok := s.blobs[key]
	if !ok {
		bl = &blob{sum: key, data: data}
		s.blobs[key] = bl
	}
	return bl
}
