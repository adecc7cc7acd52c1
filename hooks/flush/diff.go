package flush

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/scdtool/scd/manifest"
)

// Release is what Diff needs to know about one release: its build.json and
// the manifest of each of its jobs (by job directory).
type Release struct {
	Build     *manifest.Build
	Manifests map[string]manifest.Manifest
}

// ReadFunc reads a file of a release by its slash-separated path relative
// to the release root. publish.Target.Read has this shape (for the active
// release); DirReader reads a build directory.
type ReadFunc func(ctx context.Context, path string) ([]byte, error)

// DirReader reads files under dir.
func DirReader(dir string) ReadFunc {
	return func(_ context.Context, p string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	}
}

// LoadRelease reads build.json and every job's manifest through read.
func LoadRelease(ctx context.Context, read ReadFunc) (*Release, error) {
	data, err := read(ctx, manifest.BuildFile)
	if err != nil {
		return nil, err
	}
	var b manifest.Build
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.BuildFile, err)
	}
	r := &Release{Build: &b, Manifests: map[string]manifest.Manifest{}}
	for _, j := range b.Jobs {
		p := path.Join(j.Dir, manifest.ManifestFile)
		data, err := read(ctx, p)
		if err != nil {
			return nil, err
		}
		var m manifest.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		r.Manifests[j.Dir] = m
	}
	return r, nil
}

// Changes is what differs between two releases, in the names clients
// request.
type Changes struct {
	// Logical lists, sorted, the paths (relative to the release root) of
	// files that keep their name across releases and whose content changed,
	// appeared or disappeared: HTML templates, manifest.json,
	// js-translation.json, build.json, anything not in a manifest. A new
	// file is included because a cache may hold its earlier 404; a removed
	// one because a cache would go on serving it.
	Logical []string
	// Hashed counts the content-hashed files that differ and were left out
	// on purpose (see the package comment).
	Hashed int
}

// sidecarExts are precompressed variants: a client reaches them through
// their base file's URL (content negotiation), so a change in one is a
// change of the base.
var sidecarExts = []string{".gz", ".br", ".zst"}

// Diff compares old (the release that was live; nil for a first deploy)
// with new and returns what a cache in front of them must forget.
func Diff(old, new *Release) Changes {
	var ch Changes
	hashed := map[string]bool{}
	var oldFiles, newFiles map[string]manifest.File
	for _, r := range []*Release{old, new} {
		if r == nil || r.Build == nil {
			continue
		}
		for dir, m := range r.Manifests {
			for logical, a := range m {
				if a.File != "" && a.File != logical {
					hashed[path.Join(dir, a.File)] = true
				}
			}
		}
	}
	if old != nil && old.Build != nil {
		oldFiles = old.Build.Files
	}
	if new != nil && new.Build != nil {
		newFiles = new.Build.Files
	}
	changed := map[string]bool{}
	consider := func(p string) {
		base := p
		for _, ext := range sidecarExts {
			if b, ok := strings.CutSuffix(p, ext); ok && (has(oldFiles, b) || has(newFiles, b)) {
				base = b
				break
			}
		}
		if hashed[base] {
			ch.Hashed++
			return
		}
		changed[base] = true
	}
	for p, f := range newFiles {
		if o, ok := oldFiles[p]; !ok || o != f {
			consider(p)
		}
	}
	for p := range oldFiles {
		if _, ok := newFiles[p]; !ok {
			consider(p)
		}
	}
	// build.json is not listed in its own Files, but it is served and
	// always changes between builds.
	if new != nil && new.Build != nil && (old == nil || old.Build == nil || old.Build.ID != new.Build.ID) {
		changed[manifest.BuildFile] = true
	}
	for p := range changed {
		ch.Logical = append(ch.Logical, p)
	}
	slices.Sort(ch.Logical)
	return ch
}

func has(m map[string]manifest.File, p string) bool {
	_, ok := m[p]
	return ok
}

// URLPaths turns the logical paths into URL paths under prefix (the URL
// path the release root is served at, e.g. "/static"), each segment
// percent-encoded, so the result is what a cache keys on.
func (c Changes) URLPaths(prefix string) []string {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix != "/" {
		prefix += "/"
	}
	out := make([]string, 0, len(c.Logical))
	for _, p := range c.Logical {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		out = append(out, prefix+strings.Join(segs, "/"))
	}
	return out
}
