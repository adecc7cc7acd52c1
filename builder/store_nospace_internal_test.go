package builder

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoSpace checks the explanation added to a build that failed for
// want of room: none for other errors, the inodes named when they are
// what ran out (df shows free space then), else the blocks.
func TestNoSpace(t *testing.T) {
	dir := t.TempDir()
	full := fmt.Errorf("output: %w", &os.PathError{Op: "open", Path: dir + "/x", Err: unix.ENOSPC})
	if noSpace(dir, errors.Join(errors.New("other"), fmt.Errorf("output: %w", os.ErrNotExist))) != nil {
		t.Error("an explanation for errors that are not ENOSPC")
	}
	if noSpace(dir, errors.Join(errors.New("other"), full)) == nil {
		t.Error("no explanation for an ENOSPC among the errors")
	}
	if noSpace(dir+"/missing", full) != nil {
		t.Error("an explanation for a file system that cannot be asked")
	}
	inodes := noSpaceOf("/dev/shm", 3085468, 2, 19<<30).Error()
	for _, want := range []string{"/dev/shm", "no inodes left", "2 of 3085468 free", "df -i", "nr_inodes"} {
		if !strings.Contains(inodes, want) {
			t.Errorf("%q does not say %q", inodes, want)
		}
	}
	blocks := noSpaceOf("/srv", 1000000, 900000, 3<<20).Error()
	if !strings.Contains(blocks, "/srv: the file system is full (3 MiB free") || strings.Contains(blocks, "inodes") {
		t.Errorf("blocks: %q", blocks)
	}
	if !strings.Contains(noSpaceOf("/x", 0, 0, 0).Error(), "is full") {
		t.Error("a file system without an inode count said to lack inodes")
	}
}
