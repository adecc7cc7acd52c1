package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scdtool/scd/manifest"
)

// release is one opened release tree. Requests read it only through root,
// an os.Root opened on releases/<id> itself (never through current), so a
// request keeps reading the release it started with even after current
// moves, and nothing it reads can lead out of the tree.
//
// A release is reference-counted: the server holds one reference while the
// release is active, canary or cached for preview, and every request holds
// one while it reads. The root is closed when the last reference goes, so
// an in-flight request never sees a closed root, and a retired release
// costs no descriptor once its requests are done.
type release struct {
	id   string
	root *os.Root
	// digests maps the release's own files (build.json) to their sha256:
	// the ETag without reading the file. Files linked in by skew protection
	// are hashed on first use instead.
	digests map[string]string
	// version is the release's content version (deployed_version.txt,
	// Magento's static signing), "" when it has none. A request for
	// /static/version<version>/… names this release's content, so it may
	// be cached as immutable.
	version string
	entries sync.Map // rel → *entry, filled on first request
	refs    atomic.Int64
	// cacheLeft is how many more bytes of small files may be kept in
	// memory (see lookup).
	cacheLeft atomic.Int64
	// lastUsed is the UnixNano of the last preview request (for expiry of
	// releases opened only for preview).
	lastUsed atomic.Int64
}

// entry is what a request needs to know about a file: its representations
// and their validators. Computed once per file and release — release trees
// are immutable.
type entry struct {
	ctype    string
	hashed   bool
	avail    encodingSet
	variants [4]variant
}

type variant struct {
	etag string
	size int64
	// data is the file's content when it is small enough to keep in
	// memory: served without opening anything. Safe because a release
	// tree never changes.
	data []byte
}

// maxCachedFile is the largest file kept in memory. Small files are what
// a theme is mostly made of, and what costs a server most per byte (an
// open through os.Root walks every path component).
const maxCachedFile = 128 << 10

// openRelease opens dir (a release tree) as release id, with one reference
// held by the caller.
func openRelease(id, dir string, cacheBytes int64) (*release, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", id, unwrapPathErr(err))
	}
	r := &release{id: id, root: root}
	r.refs.Store(1)
	r.cacheLeft.Store(cacheBytes)
	r.lastUsed.Store(time.Now().UnixNano())
	data, err := root.ReadFile(manifest.BuildFile)
	if err == nil {
		var b manifest.Build
		if json.Unmarshal(data, &b) == nil {
			r.digests = make(map[string]string, len(b.Files))
			for p, f := range b.Files {
				r.digests[p] = f.SHA256
			}
		}
	}
	if data, err := root.ReadFile(versionFile); err == nil {
		r.version = parseVersion(data)
	}
	return r, nil
}

// acquire takes a reference unless the release is already closed (its
// count reached zero: a count never rises again from zero).
func (r *release) acquire() bool {
	for {
		n := r.refs.Load()
		if n <= 0 {
			return false
		}
		if r.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// decref drops a reference; the last one closes the root.
func (r *release) decref() {
	if r.refs.Add(-1) == 0 {
		r.root.Close()
	}
}

// errNotFile is a path that exists but is not a regular file.
var errNotFile = errors.New("not a regular file")

// lookup returns the entry of rel, computing it on first use. Only found
// files are cached, so probing random names costs stats, not memory.
func (r *release) lookup(rel string) (*entry, error) {
	if e, ok := r.entries.Load(rel); ok {
		return e.(*entry), nil
	}
	fi, err := r.root.Stat(rel)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotFile
	}
	e := &entry{ctype: manifest.ContentType(rel), hashed: isHashed(rel)}
	e.variants[Identity] = r.variant(rel, fi.Size())
	e.avail |= 1 << Identity
	for _, enc := range [...]Encoding{Brotli, Zstd, Gzip} {
		side := rel + enc.Ext()
		sfi, err := r.root.Stat(side)
		if err != nil || !sfi.Mode().IsRegular() {
			continue
		}
		e.variants[enc] = r.variant(side, sfi.Size())
		e.avail |= 1 << enc
	}
	actual, _ := r.entries.LoadOrStore(rel, e)
	return actual.(*entry), nil
}

// variant describes the file at rel, keeping its content in memory when it
// is small and the release's cache budget allows.
func (r *release) variant(rel string, size int64) variant {
	v := variant{etag: r.etag(rel), size: size}
	if size <= maxCachedFile && r.cacheLeft.Add(-size) >= 0 {
		data, err := r.root.ReadFile(rel)
		if err == nil && int64(len(data)) == size {
			v.data = data
		} else {
			r.cacheLeft.Add(size)
		}
	}
	return v
}

// etag is the strong validator of the file at rel: its content hash, from
// build.json when the release has the file, else computed (a hashed asset
// of an earlier release, linked in for skew protection). Each encoded
// variant has its own, as RFC 9110 §8.8.3 asks of different
// representations.
func (r *release) etag(rel string) string {
	sum := r.digests[rel]
	if len(sum) < 32 {
		f, err := r.root.Open(rel)
		if err != nil {
			return ""
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return ""
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	return `"` + sum[:32] + `"`
}

// unwrapPathErr keeps the message of a *fs.PathError but drops the path:
// callers name the release themselves.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
