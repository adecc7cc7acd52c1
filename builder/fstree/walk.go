package fstree

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// FingerprintDir walks the tree at dir and returns its fingerprint (see
// Fingerprint): every directory and file path with, for files, the size,
// modification and change times and inode. The change time cannot be set
// back, so a file written to and given its old size and modification time
// still changes it.
func FingerprintDir(dir string) (string, error) {
	_, fp, err := Walk(context.Background(), dir, false, "")
	if err != nil {
		return "", err
	}
	return fp.String(), nil
}

// Walk lists the tree at dir, with the stat of every file, in no
// particular order (the list only if list is set), and returns its
// fingerprint. The entry named skip at the top of the tree, if skip is
// not "", is left out of both: the caller adds it once it exists. The
// walk ends early with ctx's error when ctx is done.
//
// Directories are read a few at a time, each digested by the goroutine
// that read it; an inode is stat'ed once, whatever number of names it has
// (see inodeStats).
func Walk(ctx context.Context, dir string, list bool, skip string) ([]Entry, *Fingerprint, error) {
	var (
		mu    sync.Mutex
		all   []Entry
		acc   Fingerprint
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, min(4, max(1, runtime.NumCPU())))
		stats = &inodeStats{m: map[Inode]Stat{}}
	)
	root := Entry{".", Node{Kind: Dir}}
	acc.Add(root.Rel, root.Node)
	if list {
		all = append(all, root)
	}
	var visit func(abs, rel string)
	visit = func(abs, rel string) {
		defer wg.Done()
		if err := ctx.Err(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		sem <- struct{}{}
		here, subdirs, err := statDir(abs, rel, stats)
		if rel == "" && skip != "" {
			here = slices.DeleteFunc(here, func(e Entry) bool { return e.Rel == skip })
		}
		var part Fingerprint
		for _, e := range here {
			part.Add(e.Rel, e.Node)
		}
		<-sem
		mu.Lock()
		acc.Merge(&part)
		if list {
			all = append(all, here...)
		}
		if err != nil {
			errs = append(errs, err)
		}
		mu.Unlock()
		if err != nil {
			return
		}
		for _, d := range subdirs {
			wg.Add(1)
			go visit(filepath.Join(abs, path.Base(d)), d)
		}
	}
	wg.Add(1)
	visit(dir, "")
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return all, &acc, nil
}

// inodeStats holds the stat of each file inode a walk has seen. A built
// tree is mostly hard links (18.5k names and 6k inodes in the builder's
// incremental benchmark's tree), and getdents gives each name's inode
// number, so an inode is stat'ed once, through its first name. A stat is
// kept only when it is of the inode getdents named, on the directory's
// device: where the two disagree (a mount point, a file system whose d_ino
// is not st_ino), every name is stat'ed.
type inodeStats struct {
	mu sync.Mutex
	m  map[Inode]Stat
}

func (s *inodeStats) get(k Inode) (Stat, bool) {
	s.mu.Lock()
	st, ok := s.m[k]
	s.mu.Unlock()
	return st, ok
}

func (s *inodeStats) put(k Inode, st Stat) {
	s.mu.Lock()
	s.m[k] = st
	s.mu.Unlock()
}

// statDir lists one directory of a walk: its entries (rel-prefixed) and
// its subdirectories.
func statDir(abs, rel string, stats *inodeStats) ([]Entry, []string, error) {
	fd, err := OpenDir(abs)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	var dirSt unix.Stat_t
	if err := unix.Fstat(fd, &dirSt); err != nil {
		return nil, nil, &os.PathError{Op: "fstat", Path: abs, Err: err}
	}
	dev := uint64(dirSt.Dev)
	type dirent struct {
		name string
		typ  byte
		ino  uint64
	}
	var names []dirent
	if err := ReadDirents(fd, make([]byte, 32<<10), func(name string, typ byte, ino uint64) {
		names = append(names, dirent{name, typ, ino})
	}); err != nil {
		return nil, nil, &os.PathError{Op: "getdents", Path: abs, Err: err}
	}
	here := make([]Entry, 0, len(names))
	var subdirs []string
	for _, n := range names {
		r := JoinRel(rel, n.name)
		typ := n.typ
		if typ == unix.DT_REG {
			if fs, ok := stats.get(Inode{dev, n.ino}); ok {
				here = append(here, Entry{r, Node{Kind: File, Dev: dev, Stat: fs}})
				continue
			}
		}
		var st unix.Stat_t
		if typ == unix.DT_REG || typ == unix.DT_UNKNOWN {
			if err := unix.Fstatat(fd, n.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return nil, nil, &os.PathError{Op: "lstat", Path: filepath.Join(abs, n.name), Err: err}
			}
			if typ == unix.DT_UNKNOWN { // file systems without d_type
				typ = direntType(st.Mode)
			}
		}
		switch typ {
		case unix.DT_DIR:
			here = append(here, Entry{r, Node{Kind: Dir}})
			subdirs = append(subdirs, r)
		case unix.DT_REG:
			fs := Stat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino}
			if st.Ino == n.ino && uint64(st.Dev) == dev {
				stats.put(Inode{dev, n.ino}, fs)
			}
			here = append(here, Entry{r, Node{Kind: File, Dev: uint64(st.Dev), Stat: fs}})
		default:
			here = append(here, Entry{r, Node{Kind: Other, Mode: direntMode(typ)}})
		}
	}
	return here, subdirs, nil
}

// direntType is the d_type of a stat mode.
func direntType(mode uint32) byte {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	}
	return unix.DT_UNKNOWN
}

// direntMode is the fs.FileMode type of a d_type, as fs.DirEntry.Type.
func direntMode(typ byte) fs.FileMode {
	switch typ {
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_BLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
