//go:build unix

package publish

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scdtool/scd/manifest"
)

// Names inside a local target's root.
const (
	releasesDir = "releases"      // releases/<id>/ — complete release trees
	objectsDir  = "objects"       // objects/<sha256[:2]>/<sha256> — the content store
	currentLink = "current"       // current -> releases/<id>
	historyFile = "releases.json" // the history, see historyDoc
	markerFile  = ".complete"     // written last into a release tree, see marker
	tmpSuffix   = ".tmp"          // releases/.<id>.tmp — a release being written
	delSuffix   = ".del"          // releases/.<id>.del — a release being pruned
	currentTmp  = ".current.tmp"  // the new symlink before it is renamed over current
)

// Local is a target in a local directory. See the package documentation
// for the layout and its invariants.
//
// Every mutating method takes the target's lock and starts by recovering
// from an interrupted run (recover), so a publisher killed at any point
// leaves a target the next run completes. Read and Releases take no lock.
type Local struct {
	root string
	opts Options
	log  *slog.Logger

	// wrapWriter, when set by tests, wraps every writer that puts bytes in
	// the target (objects, markers, the history), to inject failures such
	// as a full disk.
	wrapWriter func(name string, w io.Writer) io.Writer
	// written counts the bytes written into the target, for the dedup
	// benchmark and tests.
	written atomic.Int64
}

var _ Target = (*Local)(nil)

// OpenLocal returns the target in directory root. Nothing is created until
// a release is staged.
func OpenLocal(root string, o Options) (*Local, error) {
	if root == "" {
		return nil, errors.New("no target directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	return &Local{root: abs, opts: o, log: o.Logger}, nil
}

func (l *Local) String() string { return l.root }

// Written reports how many bytes this Local has written into its target
// (file contents, markers and history) since it was opened.
func (l *Local) Written() int64 { return l.written.Load() }

func (l *Local) releasePath(id string) string {
	return filepath.Join(l.root, releasesDir, id)
}

// marker is the content of a release's completion marker: the release as
// staged and its hashed assets, which skew protection links into later
// releases without parsing the release's manifests again.
type marker struct {
	Release Release  `json:"release"`
	Hashed  []string `json:"hashed"`
}

// historyDoc is releases.json.
type historyDoc struct {
	Releases []Release `json:"releases"`
}

// Stage verifies buildDir, then writes it as releases/<id>/. Files already
// in the content store (from any earlier release) are hard-linked, not
// written again. On any error the target is as it was, except for
// unreferenced objects the next Prune removes.
func (l *Local) Stage(ctx context.Context, buildDir string, opts ...StageOption) (Release, error) {
	o := NewStageOptions(opts)
	b, err := VerifyBuild(ctx, buildDir)
	if err != nil {
		return Release{}, err
	}
	src, err := os.OpenRoot(buildDir)
	if err != nil {
		return Release{}, fmt.Errorf("%w: %v", ErrCorruptBuild, err)
	}
	defer src.Close()
	hashed, err := HashedAssets(b.Meta, src.ReadFile)
	if err != nil {
		return Release{}, fmt.Errorf("%w: %s: %v", ErrCorruptBuild, buildDir, unwrapPath(err))
	}

	unlock, err := l.lock(ctx)
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	h, err := l.recover()
	if err != nil {
		return Release{}, err
	}
	now := time.Now().UTC()
	last := newest(h)
	id := NextReleaseID(now, b.Meta.ID, last)
	if o.ID != "" {
		if err := CheckReleaseID(o.ID, b.Meta.ID, last); err != nil {
			return Release{}, fmt.Errorf("stage %s on %s: %w", buildDir, l, err)
		}
		id = o.ID
	}
	rel := Release{
		ID:      id,
		Build:   b.Meta.ID,
		Created: now,
		Status:  StatusStaged,
		Files:   b.Files(),
		Size:    b.Size,
	}
	if err := l.writeRelease(ctx, src, b, marker{Release: rel, Hashed: hashed}); err != nil {
		return Release{}, fmt.Errorf("stage %s on %s: %w", buildDir, l, err)
	}
	h.Releases = append(h.Releases, rel)
	if err := l.saveHistory(h); err != nil {
		// Unpublish the release, or the next run would adopt it.
		_ = l.removeRelease(rel.ID)
		return Release{}, fmt.Errorf("stage %s on %s: %w", buildDir, l, err)
	}
	l.log.Info("staged release", "target", l.root, "release", rel.ID, "files", rel.Files, "bytes", rel.Size)
	return rel, nil
}

// newest returns the newest release id of h, a history reconciled with
// the disk (recover): a complete release a crash left unrecorded is in
// it; a directory under releases/ that is no release of ours is not, so
// that a deploy to several targets, which picks one id after every
// target's Releases, and this target agree on what comes after.
func newest(h *historyDoc) string {
	n := ""
	for _, r := range h.Releases {
		n = max(n, r.ID)
	}
	return n
}

// writeRelease writes releases/.<id>.tmp/, makes it durable, writes the
// marker last and renames the tree to releases/<id>/. On error it removes
// the temporary tree and the objects it created.
func (l *Local) writeRelease(ctx context.Context, src *os.Root, b *Build, m marker) (err error) {
	rels := filepath.Join(l.root, releasesDir)
	if err := os.MkdirAll(rels, 0o755); err != nil {
		return unwrapPath(err)
	}
	tmp := filepath.Join(rels, "."+m.Release.ID+tmpSuffix)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return unwrapPath(err)
	}
	var created []string // objects this call wrote
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
			for _, o := range created {
				os.Remove(o)
				os.Remove(filepath.Dir(o)) // only if this left it empty
			}
		}
	}()

	objDirs := map[string]bool{}
	dirs := map[string]bool{tmp: true}
	link := func(sum string, size int64, open func() (io.ReadCloser, error), p string) error {
		obj, isNew, err := l.putObject(sum, size, open)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if isNew {
			created = append(created, obj)
			objDirs[filepath.Dir(obj)] = true
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		for d := filepath.Dir(dst); d != tmp && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return unwrapPath(err)
		}
		return unwrapPath(os.Link(obj, dst))
	}
	for _, p := range b.Paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := b.Meta.Files[p]
		open := func() (io.ReadCloser, error) { return src.Open(p) }
		if err := link(f.SHA256, f.Size, open, p); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(b.Raw)
	openRaw := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Raw)), nil }
	if err := link(hex.EncodeToString(sum[:]), int64(len(b.Raw)), openRaw, manifest.BuildFile); err != nil {
		return err
	}

	// Everything the marker vouches for must be durable before the marker.
	for d := range objDirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := l.writeNew(filepath.Join(tmp, markerFile), data); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.releasePath(m.Release.ID)); err != nil {
		return unwrapPath(err)
	}
	return syncDir(rels)
}

// writeNew creates name (which must not exist) with data and fsyncs it.
func (l *Local) writeNew(name string, data []byte) (err error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return unwrapPath(err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
		}
	}()
	if _, err := l.writer(name, f).Write(data); err != nil {
		return err
	}
	l.written.Add(int64(len(data)))
	return f.Sync()
}

// validSum reports whether s is a lowercase hex sha256, safe to use as a
// file name.
func validSum(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// putObject makes sure objects/<sum[:2]>/<sum> holds the content open
// returns, and returns its path and whether this call wrote it. An object
// is trusted by its name and size: objects are read-only (0444) and only
// ever created by rename of a verified temporary file. The content is
// hashed again while it is copied, so a build file changed since
// VerifyBuild is caught rather than stored under a wrong name.
func (l *Local) putObject(sum string, size int64, open func() (io.ReadCloser, error)) (obj string, isNew bool, err error) {
	if !validSum(sum) {
		return "", false, fmt.Errorf("%w: invalid sha256 %q", ErrCorruptBuild, sum)
	}
	dir := filepath.Join(l.root, objectsDir, sum[:2])
	obj = filepath.Join(dir, sum)
	if st, err := os.Lstat(obj); err == nil && st.Mode().IsRegular() && st.Size() == size {
		return obj, false, nil
	}
	_, statErr := os.Lstat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, unwrapPath(err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A failed stage leaves the store as it found it: the fan-out
		// directory made for this object goes with it (a no-op once
		// another object is in it).
		defer func() {
			if err != nil {
				os.Remove(dir)
			}
		}()
	}
	in, err := open()
	if err != nil {
		return "", false, unwrapPath(err)
	}
	defer in.Close()
	tmp := filepath.Join(dir, ".tmp-"+sum[:16]+"-"+randHex(4))
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", false, unwrapPath(err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(l.writer(obj, out), hash), in)
	l.written.Add(n)
	if err != nil {
		return "", false, err
	}
	if got := hex.EncodeToString(hash.Sum(nil)); n != size || got != sum {
		return "", false, fmt.Errorf("%w: changed while it was being published", ErrCorruptBuild)
	}
	if err = out.Sync(); err != nil {
		return "", false, err
	}
	if err = out.Close(); err != nil {
		return "", false, err
	}
	if err = os.Rename(tmp, obj); err != nil {
		return "", false, unwrapPath(err)
	}
	return obj, true, nil
}

// Activate makes release id the active one. See switchTo.
func (l *Local) Activate(ctx context.Context, id string) error {
	unlock, err := l.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := l.recover()
	if err != nil {
		return err
	}
	_, err = l.switchTo(h, id, false)
	return err
}

// Rollback activates id, or the newest good release older than the active
// one, and marks the release it leaves bad.
func (l *Local) Rollback(ctx context.Context, id string) (Release, error) {
	unlock, err := l.lock(ctx)
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	h, err := l.recover()
	if err != nil {
		return Release{}, err
	}
	if id == "" {
		active, err := l.activeID()
		if err != nil {
			return Release{}, err
		}
		if active == "" {
			return Release{}, fmt.Errorf("%s: %w: no release is active, so there is nothing to roll back from", l, ErrUnknownRelease)
		}
		id = h.rollbackTarget(active)
		if id == "" {
			return Release{}, fmt.Errorf("%s: %w: no good release older than the active %s to roll back to", l, ErrUnknownRelease, active)
		}
	}
	return l.switchTo(h, id, true)
}

// rollbackTarget is the newest release older than active whose status is
// good, or "".
func (h *historyDoc) rollbackTarget(active string) string {
	for j := h.find(active) - 1; j >= 0; j-- {
		if h.Releases[j].Status == StatusGood {
			return h.Releases[j].ID
		}
	}
	return ""
}

// previouslyActive is the release activated most recently before active
// (after a rollback, the bad release it left), or "".
func (h *historyDoc) previouslyActive(active string) string {
	prev := Release{}
	for _, r := range h.Releases {
		if r.ID != active && r.Activated.After(prev.Activated) {
			prev = r
		}
	}
	return prev.ID
}

// switchTo activates release id of h, the lock held:
//
//  1. the hashed assets of the last K activated releases that id lacks are
//     hard-linked into its tree (it is not active yet, so no reader sees
//     the tree change), and their directories fsynced;
//  2. current is switched by rename(2) of a new symlink over it, and the
//     root is fsynced: readers see the old release or the new, never
//     neither;
//  3. the history records the change; if that fails the switch is undone,
//     so a failed Activate changes nothing a reader can see.
//
// The release left becomes bad when rollback is set, good otherwise.
// Activating the active release does nothing.
func (l *Local) switchTo(h *historyDoc, id string, rollback bool) (Release, error) {
	i := h.find(id)
	if i < 0 {
		return Release{}, fmt.Errorf("%s: %w %q (see scd releases)", l, ErrUnknownRelease, id)
	}
	if _, err := os.Lstat(filepath.Join(l.releasePath(id), markerFile)); err != nil {
		return Release{}, fmt.Errorf("%s: release %s is incomplete (no %s); it cannot be activated", l, id, markerFile)
	}
	prev, err := l.activeID()
	if err != nil {
		return Release{}, err
	}
	if prev == id {
		return h.Releases[i], nil
	}
	if err := l.protectAssets(h, id); err != nil {
		return Release{}, fmt.Errorf("%s: activate %s: skew protection: %w", l, id, err)
	}
	start := time.Now()
	if err := l.switchCurrent(id); err != nil {
		return Release{}, fmt.Errorf("%s: activate %s: %w", l, id, err)
	}
	switched := time.Since(start)
	old := slices.Clone(h.Releases)
	left := StatusGood
	if rollback {
		left = StatusBad
	}
	for j := range h.Releases {
		if j != i && (h.Releases[j].ID == prev || h.Releases[j].Status == StatusActive) {
			h.Releases[j].Status = left
		}
	}
	h.Releases[i].Status = StatusActive
	h.Releases[i].Activated = time.Now().UTC()
	if err := l.saveHistory(h); err != nil {
		h.Releases = old
		if prev != "" {
			_ = l.switchCurrent(prev)
		} else {
			_ = os.Remove(filepath.Join(l.root, currentLink))
			_ = syncDir(l.root)
		}
		return Release{}, fmt.Errorf("%s: activate %s: %w", l, id, err)
	}
	l.log.Info("activated release", "target", l.root, "release", id, "previous", prev, "rollback", rollback, "switch", switched)
	return h.Releases[i], nil
}

// switchCurrent points current at releases/id with a single rename(2) of a
// temporary symlink, then fsyncs the root so the switch survives a crash.
// Unlike `ln -sfn` (unlink then symlink) there is no moment without
// current.
func (l *Local) switchCurrent(id string) error {
	tmp := filepath.Join(l.root, currentTmp)
	_ = os.Remove(tmp)
	if err := os.Symlink(path.Join(releasesDir, id), tmp); err != nil {
		return unwrapPath(err)
	}
	if err := os.Rename(tmp, filepath.Join(l.root, currentLink)); err != nil {
		os.Remove(tmp)
		return unwrapPath(err)
	}
	return syncDir(l.root)
}

// activeID is the release current names, or "" when there is none.
func (l *Local) activeID() (string, error) {
	target, err := os.Readlink(filepath.Join(l.root, currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %s is not the symlink scd maintains: %w", l, currentLink, unwrapPath(err))
	}
	id, ok := strings.CutPrefix(target, releasesDir+"/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("%s: %s points to %q, not to a release", l, currentLink, target)
	}
	return id, nil
}

// protectAssets hard-links into release id the hashed assets of the last
// K activated releases (by activation time, the release itself excluded)
// that it does not have, and fsyncs the directories it changed. A name the
// release has already is never replaced: the active release's own files
// win. Releases already pruned are skipped.
func (l *Local) protectAssets(h *historyDoc, id string) error {
	if l.opts.KeepAssets <= 0 {
		return nil
	}
	var prior []Release
	for _, r := range h.Releases {
		if r.ID != id && !r.Activated.IsZero() {
			prior = append(prior, r)
		}
	}
	slices.SortStableFunc(prior, func(a, b Release) int { return b.Activated.Compare(a.Activated) })
	prior = prior[:min(len(prior), l.opts.KeepAssets)]

	dst := l.releasePath(id)
	changed := map[string]bool{}
	for _, r := range prior {
		from := l.releasePath(r.ID)
		m, err := readMarker(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range m.Hashed {
			to := filepath.Join(dst, filepath.FromSlash(p))
			if _, err := os.Lstat(to); err == nil {
				continue
			}
			if err := mkdirs(dst, filepath.Dir(to), changed); err != nil {
				return err
			}
			if err := os.Link(filepath.Join(from, filepath.FromSlash(p)), to); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // the older release lacks it too
				}
				return unwrapPath(err)
			}
			changed[filepath.Dir(to)] = true
		}
	}
	for d := range changed {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs creates dir and its missing ancestors below base, adding the
// parent of every directory it creates to changed (to be fsynced).
func mkdirs(base, dir string, changed map[string]bool) error {
	if dir == base {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	if err := mkdirs(base, filepath.Dir(dir), changed); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return unwrapPath(err)
	}
	changed[filepath.Dir(dir)] = true
	return nil
}

func readMarker(releaseDir string) (*marker, error) {
	data, err := os.ReadFile(filepath.Join(releaseDir, markerFile))
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(releaseDir, markerFile), err)
	}
	return &m, nil
}

// Releases lists the history, oldest first, as recover would repair it.
func (l *Local) Releases(ctx context.Context) ([]Release, error) {
	if _, err := os.Stat(l.root); err != nil {
		return nil, fmt.Errorf("target %s: %w", l.root, unwrapPath(err))
	}
	h, err := l.loadHistory()
	if err != nil {
		return nil, err
	}
	if _, err := l.reconcile(h); err != nil {
		return nil, err
	}
	return h.Releases, nil
}

// Prune removes the releases beyond the newest keep (by creation), never
// the active one, its rollback target, nor the release active before it
// (which differ after a rollback), then the objects no release
// links anymore. A pruned tree is first renamed to releases/.<id>.del, so
// an interrupted prune never leaves a half-deleted tree under a release
// name.
func (l *Local) Prune(ctx context.Context, keep int) ([]string, error) {
	if keep < 0 {
		return nil, fmt.Errorf("prune: keep must be 0 or more, not %d", keep)
	}
	unlock, err := l.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, err := l.recover()
	if err != nil {
		return nil, err
	}
	active, err := l.activeID()
	if err != nil {
		return nil, err
	}
	protect := map[string]bool{active: true, h.rollbackTarget(active): true, h.previouslyActive(active): true}
	var kept []Release
	var removed []string
	for j, r := range h.Releases {
		if j >= len(h.Releases)-keep || protect[r.ID] {
			kept = append(kept, r)
		} else {
			removed = append(removed, r.ID)
		}
	}
	if len(removed) == 0 {
		return nil, l.gcObjects()
	}
	rels := filepath.Join(l.root, releasesDir)
	var moved []string
	undo := func() {
		for _, id := range moved {
			_ = os.Rename(filepath.Join(rels, "."+id+delSuffix), l.releasePath(id))
		}
	}
	for _, id := range removed {
		if err := os.Rename(l.releasePath(id), filepath.Join(rels, "."+id+delSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			undo()
			return nil, fmt.Errorf("%s: prune %s: %w", l, id, unwrapPath(err))
		}
		moved = append(moved, id)
	}
	h.Releases = kept
	if err := l.saveHistory(h); err != nil {
		undo()
		return nil, fmt.Errorf("%s: prune: %w", l, err)
	}
	_ = syncDir(rels)
	for _, id := range removed {
		if err := os.RemoveAll(filepath.Join(rels, "."+id+delSuffix)); err != nil {
			l.log.Warn("prune: could not remove a release tree; the next run retries", "release", id, "err", err)
		}
	}
	l.log.Info("pruned releases", "target", l.root, "removed", removed)
	return removed, l.gcObjects()
}

// gcObjects removes the objects no release tree links (link count 1: only
// the store's own name) and temporary objects left by an interrupted run.
func (l *Local) gcObjects() error {
	objs := filepath.Join(l.root, objectsDir)
	shards, err := os.ReadDir(objs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range shards {
		dir := filepath.Join(objs, s.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}

		for _, e := range ents {
			name := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".tmp-") {
				os.Remove(name)
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
				if err := os.Remove(name); err != nil {
					return err
				}
			}
		}
		_ = os.Remove(dir) // fails, as it should, unless the shard is empty now
	}
	return nil
}

// Read returns path as served through current. See OpenActive.
func (l *Local) Read(ctx context.Context, p string) ([]byte, error) {
	r, err := l.OpenActive()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(p)
}

// OpenActive opens the active release as an os.Root. current is resolved
// once, when the root is opened: every file read through the returned
// root comes from that release even if current is switched meanwhile — a
// consistent read set, as nginx's $realpath_root gives one request. The
// release stays readable until it is pruned, which never happens to the
// active release or the one before it.
func (l *Local) OpenActive() (*os.Root, error) {
	r, err := os.OpenRoot(filepath.Join(l.root, currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no active release: %w", l, fs.ErrNotExist)
	}
	return r, err
}

func (h *historyDoc) find(id string) int {
	return slices.IndexFunc(h.Releases, func(r Release) bool { return r.ID == id })
}

func (l *Local) loadHistory() (*historyDoc, error) {
	h := &historyDoc{}
	data, err := os.ReadFile(filepath.Join(l.root, historyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, unwrapPath(err)
	}
	if err := json.Unmarshal(data, h); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.root, historyFile), err)
	}
	return h, nil
}

func (l *Local) saveHistory(h *historyDoc) error {
	data, err := manifest.Marshal(h)
	if err != nil {
		return err
	}
	return l.writeFileAtomic(filepath.Join(l.root, historyFile), data, 0o644)
}

// recover, the lock held, removes what an interrupted run left (temporary
// and half-deleted trees, a temporary symlink) and brings the history in
// line with the disk; see reconcile.
func (l *Local) recover() (*historyDoc, error) {
	rels := filepath.Join(l.root, releasesDir)
	ents, err := os.ReadDir(rels)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, unwrapPath(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(rels, e.Name())); err != nil {
				return nil, fmt.Errorf("%s: removing an interrupted run's %s: %w", l, e.Name(), err)
			}
		}
	}
	_ = os.Remove(filepath.Join(l.root, currentTmp))
	h, err := l.loadHistory()
	if err != nil {
		return nil, err
	}
	changed, err := l.reconcile(h)
	if err != nil {
		return nil, err
	}
	if changed {
		l.log.Info("repaired the history after an interrupted run", "target", l.root)
		if err := l.saveHistory(h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// reconcile makes h agree with the disk, which is the truth: a complete
// release tree missing from the history (a run killed between its rename
// and the history write) is added from its marker; an entry without a tree
// (an interrupted prune) is dropped; the release current names is the
// active one (a run killed between the switch and the history write). It
// reports whether h changed.
func (l *Local) reconcile(h *historyDoc) (bool, error) {
	changed := false
	ents, err := os.ReadDir(filepath.Join(l.root, releasesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, unwrapPath(err)
	}
	onDisk := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		onDisk[e.Name()] = true
		if h.find(e.Name()) >= 0 {
			continue
		}
		m, err := readMarker(l.releasePath(e.Name()))
		if err != nil || m.Release.ID != e.Name() {
			continue // not complete: ignored, and Activate refuses it
		}
		h.Releases = append(h.Releases, m.Release)
		changed = true
	}
	kept := h.Releases[:0]
	for _, r := range h.Releases {
		if onDisk[r.ID] {
			kept = append(kept, r)
		} else {
			changed = true
		}
	}
	h.Releases = kept
	slices.SortStableFunc(h.Releases, func(a, b Release) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})

	active, err := l.activeID()
	if err != nil {
		return false, err
	}
	for j := range h.Releases {
		r := &h.Releases[j]
		switch {
		case r.ID == active && r.Status != StatusActive:
			r.Status = StatusActive
			if st, err := os.Lstat(filepath.Join(l.root, currentLink)); err == nil {
				r.Activated = st.ModTime().UTC()
			}
			changed = true
		case r.ID != active && r.Status == StatusActive:
			r.Status = StatusGood
			changed = true
		}
	}
	return changed, nil
}

// removeRelease deletes a release tree that is not in the history.
func (l *Local) removeRelease(id string) error {
	del := filepath.Join(l.root, releasesDir, "."+id+delSuffix)
	if err := os.Rename(l.releasePath(id), del); err != nil {
		return err
	}
	_ = syncDir(filepath.Join(l.root, releasesDir))
	return os.RemoveAll(del)
}
