package fstree

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DirProbe records one directory of a tree as it was: its own node (with
// its stat) and one name of each file inode first seen in it. A tree's
// probes are all its directories; Check compares them with the tree as it
// is, without reading a directory.
//
// That is enough to know the tree unchanged: adding, removing or renaming
// an entry changes its directory's modification and change times, and
// writing to a file, changing its mode or its links changes its inode's
// change time, which cannot be set back. What a walk's fingerprint finds
// by listing every name, the probes find by a stat per directory and per
// inode.
type DirProbe struct {
	Rel   string // slash path relative to the tree, "." for its top
	Node  Node   // Kind Dir, with its stat and device
	Files []FileProbe
}

// FileProbe is a file of a DirProbe's directory, named by its name in it.
type FileProbe struct {
	Name string
	Node Node // Kind File, with its stat and device
}

// Check reports whether every probe is as the tree at dir has it now. It
// stops at the first difference (or when ctx is done, reporting false).
// Probes sorted by Rel (SortProbes) are checked fastest: each directory
// is then opened from its parent's descriptor.
func Check(ctx context.Context, dir string, probes []DirProbe) bool {
	root, err := OpenDir(dir)
	if err != nil {
		return false
	}
	defer unix.Close(root)
	const chunk = 64 // probes a worker takes at a time, in order
	var next atomic.Int64
	var differs atomic.Bool
	var wg sync.WaitGroup
	for range min(4, max(1, runtime.NumCPU())) {
		wg.Go(func() {
			var open dirStack
			defer open.closeAll()
			for !differs.Load() && ctx.Err() == nil {
				i := int(next.Add(chunk) - chunk)
				if i >= len(probes) {
					return
				}
				open.closeAll()
				for k := i; k < min(i+chunk, len(probes)); k++ {
					if !open.probe(root, &probes[k]) {
						differs.Store(true)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return !differs.Load() && ctx.Err() == nil
}

// SortProbes orders probes by path, the order Check is fastest in.
func SortProbes(probes []DirProbe) {
	slices.SortFunc(probes, func(a, b DirProbe) int { return strings.Compare(a.Rel, b.Rel) })
}

// dirStack holds the descriptors of the directories a Check worker
// opened last, each under the one before, so that the next directory is
// opened (or, with few files, stat'ed) from its nearest open ancestor.
type dirStack struct {
	rels []string
	fds  []int
}

func (s *dirStack) closeAll() {
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.rels, s.fds = s.rels[:0], s.fds[:0]
}

// probe checks one directory and its files' inodes.
func (s *dirStack) probe(root int, p *DirProbe) bool {
	rel := p.Rel
	if rel == "" {
		rel = "."
	}
	for n := len(s.rels); n > 0 && !Under(rel, s.rels[n-1]); n-- {
		unix.Close(s.fds[n-1])
		s.rels, s.fds = s.rels[:n-1], s.fds[:n-1]
	}
	base, name := root, rel
	if n := len(s.rels); n > 0 {
		base = s.fds[n-1]
		if top := s.rels[n-1]; top != "." {
			name = rel[len(top)+1:]
		}
	}
	var st unix.Stat_t
	if len(p.Files) <= probeOpenMin && name != "." {
		// Stat'ed from the ancestor: the directory's own stat (not
		// following a link) is checked before any path through it.
		name = filepath.FromSlash(name)
		if unix.Fstatat(base, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !p.Node.Is(&st) {
			return false
		}
		for i := range p.Files {
			f := &p.Files[i]
			if unix.Fstatat(base, name+"/"+f.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !f.Node.Is(&st) {
				return false
			}
		}
		return true
	}
	fd, err := unix.Openat(base, filepath.FromSlash(name), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	s.rels, s.fds = append(s.rels, rel), append(s.fds, fd)
	if unix.Fstat(fd, &st) != nil || !p.Node.Is(&st) {
		return false
	}
	for i := range p.Files {
		f := &p.Files[i]
		if unix.Fstatat(fd, f.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !f.Node.Is(&st) {
			return false
		}
	}
	return true
}

// probeOpenMin is the most files a directory's probe stats through the
// path from an open ancestor rather than from a descriptor of its own.
// Opening and closing a directory are two system calls, which cost more
// than the kernel's walk of one more path component for a few files: on
// a Magento output most directories hold a handful of the inodes, or
// none (their names link inodes probed in another job's directory).
const probeOpenMin = 8

// Is reports whether st, a stat of an entry, is the node n recorded: a
// directory or a regular file as n's kind says, on n's device, with n's
// stat.
func (n Node) Is(st *unix.Stat_t) bool {
	mode := uint32(unix.S_IFREG)
	if n.Kind == Dir {
		mode = unix.S_IFDIR
	}
	return st.Mode&unix.S_IFMT == mode && uint64(st.Dev) == n.Dev && statOf(st) == n.Stat
}

// Under reports whether rel is strictly under dir, both slash paths
// relative to one tree ("." holds everything).
func Under(rel, dir string) bool {
	if dir == "." {
		return rel != "."
	}
	return len(rel) > len(dir) && rel[len(dir)] == '/' && rel[:len(dir)] == dir
}

// StatDir is the probe node of the directory at abs (its files are the
// caller's).
func StatDir(abs string) (Node, error) {
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		return Node{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Node{}, unix.ENOTDIR
	}
	return Node{Kind: Dir, Dev: uint64(st.Dev), Stat: statOf(&st)}, nil
}
