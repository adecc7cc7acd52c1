package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/scdtool/scd/manifest"
)

// Build is a finished build directory whose every file has been checked
// against build.json. Targets verify a build completely before they write
// anything, so a corrupt build never becomes a partial release.
type Build struct {
	Dir   string
	Meta  *manifest.Build
	Raw   []byte   // build.json as read, published as is
	Paths []string // the keys of Meta.Files, sorted
	Size  int64    // bytes of every file, build.json included
}

// Files counts the files of the release, build.json included.
func (b *Build) Files() int { return len(b.Paths) + 1 }

// maxCorruptReported bounds the list of bad files in an ErrCorruptBuild
// message: the first few name the problem; thousands would drown it.
const maxCorruptReported = 10

// VerifyBuild reads dir/build.json and checks every file it lists against
// its size and sha256. Any problem — no directory, no or unreadable
// build.json, an unsafe path, a missing file, a wrong size or digest —
// wraps ErrCorruptBuild and names the first few files at fault.
//
// Files are read through an os.Root, so a symlink in the build cannot make
// the release publish something outside it.
func VerifyBuild(ctx context.Context, dir string) (*Build, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorruptBuild, dir, fmt.Sprintf(format, args...))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, corrupt("%v", unwrapPath(err))
	}
	defer root.Close()
	raw, err := root.ReadFile(manifest.BuildFile)
	if err != nil {
		return nil, corrupt("%v (is this a finished build?)", unwrapPath(err))
	}
	var meta manifest.Build
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, corrupt("%s: %v", manifest.BuildFile, err)
	}
	if meta.ID == "" || len(meta.Files) == 0 {
		return nil, corrupt("%s has no id or no files", manifest.BuildFile)
	}
	b := &Build{Dir: dir, Meta: &meta, Raw: raw, Size: int64(len(raw))}
	for p := range meta.Files {
		b.Paths = append(b.Paths, p)
	}
	slices.Sort(b.Paths)

	var bad []string
	for _, p := range b.Paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want := meta.Files[p]
		b.Size += want.Size
		if msg := checkFile(root, p, want); msg != "" {
			bad = append(bad, p+": "+msg)
		}
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > maxCorruptReported {
			more = fmt.Sprintf("\n  … and %d more", len(bad)-maxCorruptReported)
			bad = bad[:maxCorruptReported]
		}
		return nil, corrupt("%d of %d files do not match %s:\n  %s%s",
			len(bad), len(b.Paths), manifest.BuildFile, strings.Join(bad, "\n  "), more)
	}
	return b, nil
}

// checkFile returns why p does not match want, or "".
func checkFile(root *os.Root, p string, want manifest.File) string {
	if !validRelPath(p) || p == manifest.BuildFile || p == markerFile {
		return "not a valid file name for a release"
	}
	f, err := root.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "missing"
		}
		return unwrapPath(err).Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if !st.Mode().IsRegular() {
		return "not a regular file"
	}
	if st.Size() != want.Size {
		return fmt.Sprintf("size %d, build.json says %d", st.Size(), want.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err.Error()
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 {
		return fmt.Sprintf("sha256 %.12s…, build.json says %.12s…", got, want.SHA256)
	}
	return ""
}

// validRelPath reports whether p is a clean, relative, slash-separated path
// that stays inside its root and names no dot-file at the top (the release
// root reserves those for its own bookkeeping).
func validRelPath(p string) bool {
	return fs.ValidPath(p) && p != "." && !strings.HasPrefix(p, ".") && !strings.Contains(p, "\\")
}

// unwrapPath drops the *PathError wrapping when the message already names
// the path, keeping messages to one mention of it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// sidecarExt maps a manifest encoding to the suffix of its sidecar file.
var sidecarExt = map[string]string{"gzip": ".gz", "br": ".br", "zstd": ".zst"}

// HashedAssets lists the hashed files of a build: for every job, the
// manifest entries whose published file differs from the logical name
// (name.[8 hex].ext), with their precompressed sidecars. These are the
// files skew protection keeps reachable after the build stops being
// active; logical names (manifest.json, js-translation.json, templates)
// are never in the list. Only paths present in meta.Files are returned.
//
// readManifest reads a job's manifest.json given its slash path.
func HashedAssets(meta *manifest.Build, readManifest func(p string) ([]byte, error)) ([]string, error) {
	var out []string
	for _, job := range meta.Jobs {
		mp := path.Join(job.Dir, manifest.ManifestFile)
		data, err := readManifest(mp)
		if err != nil {
			return nil, err
		}
		var m manifest.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", mp, err)
		}
		for logical, a := range m {
			if a.File == "" || a.File == logical {
				continue
			}
			f := path.Join(job.Dir, a.File)
			if _, ok := meta.Files[f]; !ok {
				continue
			}
			out = append(out, f)
			for _, enc := range a.Encodings {
				if ext, ok := sidecarExt[enc]; ok {
					if _, ok := meta.Files[f+ext]; ok {
						out = append(out, f+ext)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
