package builder

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/diag"
)

// noSpace explains a build that failed for want of room in the output's
// file system, dir: of blocks, or of inodes, which a large matrix runs out
// of first (every name of the tree takes one, the spare tree's too, and a
// tmpfs counts each hard link as one: df shows free space while every
// write fails). Nil when err holds no ENOSPC or the file system cannot be
// asked.
func noSpace(dir string, err error) error {
	if !errors.Is(err, unix.ENOSPC) {
		return nil
	}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return nil
	}
	return noSpaceOf(dir, st.Files, st.Ffree, st.Bavail*uint64(st.Bsize))
}

// noSpaceOf is noSpace's message for a file system of files inodes, free
// of them, and avail bytes free.
func noSpaceOf(dir string, files, free, avail uint64) error {
	if files > 0 && free*100 < files {
		return &diag.Error{Kind: diag.Build, Msg: fmt.Sprintf(
			"%s: the file system has no inodes left (%d of %d free; see df -i): each name of the output takes one, the spare tree's too, and on tmpfs each hard link does (mount it with a larger nr_inodes)",
			dir, free, files)}
	}
	return &diag.Error{Kind: diag.Build, Msg: fmt.Sprintf("%s: the file system is full (%d MiB free; see df -h)", dir, avail>>20)}
}
