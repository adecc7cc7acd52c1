// Package fstree lists, fingerprints and probes output trees: the trees a build
// writes, which are mostly hard links (a content shared by several jobs is
// one inode under many names).
//
// Directories are read with getdents, which gives every name with its type
// and inode number, and files are stat'ed with fstatat relative to their
// directory's descriptor, so a tree costs a few system calls per
// directory and one per inode, not a path lookup and a stat per name. A tree's
// fingerprint is a sum over its entries, independent of their order, so a
// tree can be digested as it is listed or written, on several goroutines.
// A tree's probes (DirProbe) let Check tell a tree unchanged without
// reading a directory: a stat per directory and per inode.
//
// The package knows nothing of builds: what a listed tree means (which
// files to keep, which to trust) is the caller's business.
package fstree

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// Inode identifies a file on the machine: its device and inode numbers.
type Inode struct{ Dev, Ino uint64 }

// Stat identifies a version of a file cheaply: any write, replacement or
// change of links changes one of its fields. Its field names and types are
// part of the cache's encoding of a source's stat: keep them.
type Stat struct {
	Size, Mtime, Ctime int64 // bytes; modification and change times in ns
	Ino                uint64
}

// StatOf is the Stat of a file's fs.FileInfo (Ctime and Ino are zero when
// fi does not come from a stat system call).
func StatOf(fi fs.FileInfo) Stat {
	st := Stat{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = sys.Ino
		st.Ctime = sys.Ctim.Nano()
	}
	return st
}

// StatOfSys is the Stat of a stat system call's result.
func StatOfSys(st *unix.Stat_t) Stat { return statOf(st) }

// DevOf is the device number of a file's fs.FileInfo, 0 when unknown.
func DevOf(fi fs.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Dev)
	}
	return 0
}

// Kind is what an entry of a tree is to its fingerprint.
type Kind byte

const (
	Dir   Kind = 'd' // a directory
	File  Kind = 'f' // a regular file, or anything stat'ed like one
	Other Kind = 'o' // anything else met in a walk (symbolic link, socket…)
)

// Node is what a tree's fingerprint records of one path besides its name.
type Node struct {
	Kind Kind
	Mode fs.FileMode // the type bits: 0 for a regular file or a directory
	Stat Stat        // files only
	Dev  uint64      // files only
}

// Inode is the inode of a file node.
func (n Node) Inode() Inode { return Inode{n.Dev, n.Stat.Ino} }

// Entry is one path of a walked tree.
type Entry struct {
	Rel string // slash path relative to the tree's root, "." for the root
	Node
}

// JoinRel joins a slash path relative to a tree ("" or "." for the root)
// and a clean name in it: path.Join without the cleaning.
func JoinRel(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}
