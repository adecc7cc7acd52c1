package fstree

import "testing"

// TestInodeMap checks that inodes of the same number on two devices are
// told apart, whichever device comes first, and that the zero value works.
func TestInodeMap(t *testing.T) {
	for _, m := range []*InodeMap[string]{NewInodeMap[string](4), {}} {
		m.Put(Inode{Dev: 1, Ino: 10}, "a")
		m.Put(Inode{Dev: 2, Ino: 10}, "b")
		m.Put(Inode{Dev: 1, Ino: 11}, "c")
		m.Put(Inode{Dev: 1, Ino: 10}, "a2")
		for k, want := range map[Inode]string{{1, 10}: "a2", {2, 10}: "b", {1, 11}: "c"} {
			if got, ok := m.Get(k); !ok || got != want {
				t.Errorf("Get(%v) = %q, %v; want %q", k, got, ok, want)
			}
		}
		for _, k := range []Inode{{2, 11}, {3, 10}, {0, 0}} {
			if got, ok := m.Get(k); ok {
				t.Errorf("Get(%v) = %q; want absent", k, got)
			}
		}
		if m.Len() != 3 {
			t.Errorf("Len() = %d, want 3", m.Len())
		}
	}
	var empty InodeMap[bool]
	if _, ok := empty.Get(Inode{}); ok || empty.Len() != 0 {
		t.Error("the zero map is not empty")
	}
}
