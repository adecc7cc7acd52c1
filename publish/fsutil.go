//go:build unix

package publish

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
)

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable. rename(2) is atomic but only durable once the
// directory holding the new name is synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces name with data: a temporary file in the same
// directory is written, fsynced and renamed over name, and the directory is
// fsynced. A reader sees the old content or the new, never a mix; a failure
// leaves the old file untouched and no temporary file behind.
func (l *Local) writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(name)
	tmp := filepath.Join(dir, "."+filepath.Base(name)+".tmp-"+randHex(4))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = l.writer(name, f).Write(data); err != nil {
		return err
	}
	l.written.Add(int64(len(data)))
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(dir)
}

// writer wraps w with the test hook, if any.
func (l *Local) writer(name string, w io.Writer) io.Writer {
	if l.wrapWriter != nil {
		return l.wrapWriter(name, w)
	}
	return w
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
