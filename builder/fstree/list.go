package fstree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dirent is one entry of a listed tree, as getdents gives it: the type and
// inode come with the name, so listing costs one system call per
// directory, not one per file.
type Dirent struct {
	Rel  string // slash path relative to the tree's root
	Type byte   // unix.DT_*, never DT_UNKNOWN (see List)
	Ino  Inode
}

// ReadDirents calls fn for every entry of the open directory fd but "."
// and "..", with its name, d_type and inode number: one getdents per
// buffer full, no system call per entry.
func ReadDirents(fd int, buf []byte, fn func(name string, typ byte, ino uint64)) error {
	return readDirents(fd, buf, func(name []byte, typ byte, ino uint64) { fn(string(name), typ, ino) })
}

// readDirents is ReadDirents with each name in buf: fn must not keep it.
func readDirents(fd int, buf []byte, fn func(name []byte, typ byte, ino uint64)) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return errors.New("malformed directory entry")
			}
			ino, typ := binary.NativeEndian.Uint64(b[0:8]), b[18]
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) != "." && string(name) != ".." {
				fn(name, typ, ino)
			}
		}
	}
}

// OpenDir opens a directory for ReadDirents and fstatat, without following
// a symbolic link.
func OpenDir(abs string) (int, error) {
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: abs, Err: err}
	}
	return fd, nil
}

// List lists the tree under root (root itself excluded), depth first:
// every directory is followed at once by everything under it, so a
// directory comes before its children and the entries under it are
// contiguous. An entry whose type getdents does not give is lstat'ed, and
// typed DT_DIR, DT_REG or, if it is neither, DT_LNK.
func List(root string) ([]Dirent, error) {
	l := &lister{buf: make([]byte, 64<<10)}
	if err := l.list(root, "", 0); err != nil {
		return nil, err
	}
	return l.out.appendTo(make([]Dirent, 0, l.out.n)), nil
}

// ListStat is List with, besides, the node of every directory it listed
// (root's as "."), as it was when listed: what a caller that changes none
// of them knows of them afterwards without a stat.
func ListStat(root string) ([]Dirent, map[string]Node, error) {
	l := &lister{buf: make([]byte, 64<<10), dirs: map[string]Node{}}
	if err := l.list(root, "", 0); err != nil {
		return nil, nil, err
	}
	return l.out.appendTo(make([]Dirent, 0, l.out.n)), l.dirs, nil
}

// lister is the state of a List, with what it reuses from one directory
// to the next.
type lister struct {
	buf    []byte     // for getdents
	rels   []byte     // the paths of the directory's entries, before they are one string
	ends   []int      // where each ends in rels
	levels [][]Dirent // the entries of the directory being listed at each depth
	out    chunks[Dirent]
	dirs   map[string]Node // for ListStat: each directory listed, by Rel ("." for the root)
}

func (l *lister) list(abs, rel string, depth int) error {
	fd, err := OpenDir(abs)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return &os.PathError{Op: "fstat", Path: abs, Err: err}
	}
	dev := uint64(st.Dev)
	if l.dirs != nil {
		r := rel
		if r == "" {
			r = "."
		}
		l.dirs[r] = Node{Kind: Dir, Dev: dev, Stat: statOf(&st)}
	}
	if depth == len(l.levels) {
		l.levels = append(l.levels, nil)
	}
	here := l.levels[depth][:0]
	l.rels, l.ends = l.rels[:0], l.ends[:0]
	err = readDirents(fd, l.buf, func(name []byte, typ byte, ino uint64) {
		if rel != "" {
			l.rels = append(l.rels, rel...)
			l.rels = append(l.rels, '/')
		}
		l.rels = append(l.rels, name...)
		l.ends = append(l.ends, len(l.rels))
		here = append(here, Dirent{Type: typ, Ino: Inode{dev, ino}})
	})
	unix.Close(fd)
	if err != nil {
		return &os.PathError{Op: "getdents", Path: abs, Err: err}
	}
	// One string for the paths of the directory's entries.
	rels, start := string(l.rels), 0
	for i, end := range l.ends {
		here[i].Rel, start = rels[start:end], end
	}
	l.levels[depth] = here
	for _, e := range here {
		if e.Type == unix.DT_UNKNOWN { // file systems without d_type
			fi, err := os.Lstat(filepath.Join(abs, path.Base(e.Rel)))
			if err != nil {
				return err
			}
			switch {
			case fi.IsDir():
				e.Type = unix.DT_DIR
			case fi.Mode().IsRegular():
				e.Type = unix.DT_REG
			default:
				e.Type = unix.DT_LNK // anything else: removed
			}
		}
		l.out.add(e)
		if e.Type == unix.DT_DIR {
			if err := l.list(filepath.Join(abs, path.Base(e.Rel)), e.Rel, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
