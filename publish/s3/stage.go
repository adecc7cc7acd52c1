package s3

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
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// plan is a verified build split into the two upload groups.
type plan struct {
	build  *manifest.Build
	dir    string
	hashed map[string]manifest.File // immutable assets (and their sidecars)
	plain  []string                 // everything else, build.json included
	// buildFile is build.json's own digest (build.json does not list
	// itself), so that an unchanged one is copied like any other file.
	buildFile manifest.File
	files     int
	size      int64
}

// Stage verifies buildDir, then uploads its hashed assets (those the bucket
// lacks), its other files and finally its release record.
func (t *Target) Stage(ctx context.Context, buildDir string, opts ...publish.StageOption) (publish.Release, error) {
	p, err := t.verify(ctx, buildDir)
	if err != nil {
		return publish.Release{}, err
	}
	var rel publish.Release
	err = t.withLock(ctx, "stage", func() error {
		rel, err = t.stage(ctx, p, publish.NewStageOptions(opts).ID)
		return err
	})
	return rel, err
}

// verify reads build.json and every file it lists, checking size and
// sha256, and classifies the files. Nothing remote is touched.
func (t *Target) verify(ctx context.Context, dir string) (*plan, error) {
	b, err := manifest.ReadBuild(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", dir, publish.ErrCorruptBuild, err)
	}
	if b.ID == "" || len(b.Files) == 0 {
		return nil, fmt.Errorf("%s: %w: build.json has no id or no files", dir, publish.ErrCorruptBuild)
	}
	raw, err := os.ReadFile(filepath.Join(dir, manifest.BuildFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", dir, publish.ErrCorruptBuild, err)
	}
	sum := sha256.Sum256(raw)
	p := &plan{build: b, dir: dir, hashed: map[string]manifest.File{}, files: len(b.Files) + 1, size: int64(len(raw)),
		buildFile: manifest.File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw))}}

	names := make([]string, 0, len(b.Files))
	for name, f := range b.Files {
		if !fs.ValidPath(name) || name == manifest.BuildFile {
			return nil, fmt.Errorf("%s: %w: bad path %q in build.json", dir, publish.ErrCorruptBuild, name)
		}
		names = append(names, name)
		p.size += f.Size
	}
	sort.Strings(names)
	err = t.parallel(ctx, len(names), func(_ context.Context, i int) error {
		return checkFile(dir, names[i], b.Files[names[i]])
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w: %w", dir, publish.ErrCorruptBuild, err)
	}

	// A job's manifest names what is content-hashed: an entry published
	// under another name than its logical one, plus its sidecars.
	for _, j := range b.Jobs {
		m, err := manifest.ReadManifest(filepath.Join(dir, filepath.FromSlash(j.Dir)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", dir, publish.ErrCorruptBuild, err)
		}
		for logical, a := range m {
			if a.File == logical {
				continue
			}
			name := path.Join(j.Dir, a.File)
			for _, n := range append([]string{name}, sidecarNames(name, a.Encodings)...) {
				f, ok := b.Files[n]
				if !ok {
					return nil, fmt.Errorf("%s: %w: %s is in a manifest but not in build.json", dir, publish.ErrCorruptBuild, n)
				}
				p.hashed[n] = f
			}
		}
	}
	for _, n := range names {
		if _, ok := p.hashed[n]; !ok {
			p.plain = append(p.plain, n)
		}
	}
	p.plain = append(p.plain, manifest.BuildFile)
	return p, nil
}

func sidecarNames(name string, encodings []string) []string {
	var out []string
	for _, e := range encodings {
		if ext, ok := encodingExt[e]; ok {
			out = append(out, name+ext)
		}
	}
	return out
}

func checkFile(dir, name string, want manifest.File) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != want.Size || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		return fmt.Errorf("%s does not match build.json (size %d, want %d; or digest differs)", name, n, want.Size)
	}
	return nil
}

func (t *Target) stage(ctx context.Context, p *plan, want string) (publish.Release, error) {
	s, err := t.load(ctx)
	if err != nil {
		return publish.Release{}, err
	}
	id, created, err := t.newID(ctx, s, p.build.ID, want)
	if err != nil {
		return publish.Release{}, err
	}
	log := t.opt.Logger.With("target", t.name, "release", id)

	// 1. Hashed assets the bucket does not hold yet.
	inv, err := t.inventory(ctx, s)
	if err != nil {
		return publish.Release{}, err
	}
	var todo []string
	for n, f := range p.hashed {
		if have, ok := inv.Assets[n]; !ok || have.SHA256 != f.SHA256 {
			todo = append(todo, n)
		}
	}
	sort.Strings(todo)
	log.Info("uploading assets", "new", len(todo), "kept", len(p.hashed)-len(todo))
	var done sync.Map
	err = t.parallel(ctx, len(todo), func(ctx context.Context, i int) error {
		n := todo[i]
		ct, enc := headersFor(n)
		err := t.put(ctx, object{key: assetKey(n), file: filepath.Join(p.dir, filepath.FromSlash(n)),
			contentType: ct, encoding: enc, cacheControl: ImmutableCacheControl})
		if err == nil {
			done.Store(n, true)
		}
		return err
	})
	// Record what did get uploaded even on failure, so a re-run resumes.
	uploaded := 0
	done.Range(func(_, _ any) bool { uploaded++; return true })
	if uploaded > 0 {
		done.Range(func(k, _ any) bool { inv.Assets[k.(string)] = p.hashed[k.(string)]; return true })
		if perr := t.putValue(context.WithoutCancel(ctx), keyAssets, inv); err == nil {
			err = perr
		}
	}
	if err != nil {
		return publish.Release{}, err
	}
	// The index lists every hashed asset with its digest (a megabyte for
	// ten thousand assets): when the newest release has the same one, copy.
	sources, err := t.copySources(ctx, s)
	if err != nil {
		return publish.Release{}, err
	}
	ixData, err := manifest.Marshal(index{Assets: p.hashed})
	if err != nil {
		return publish.Release{}, err
	}
	ixSum := sha256.Sum256(ixData)
	ixCopied := false
	for _, src := range sources {
		if src.index == hex.EncodeToString(ixSum[:]) {
			err := t.copyFrom(ctx, indexKey(src.id), object{key: indexKey(id), contentType: "application/json", cacheControl: "no-cache"})
			if err != nil && !isNotFound(err) {
				return publish.Release{}, err
			}
			ixCopied = err == nil
			break
		}
	}
	if !ixCopied {
		if err := t.putJSON(ctx, indexKey(id), ixData); err != nil {
			return publish.Release{}, err
		}
	}

	// 2. Everything else, under the release's own directory: a file an
	// earlier release already holds with the same digest is copied on the
	// server, the rest uploaded.
	var copied, putFiles atomic.Int64
	var putBytes atomic.Int64
	err = t.parallel(ctx, len(p.plain), func(ctx context.Context, i int) error {
		n := p.plain[i]
		want := p.buildFile
		if n != manifest.BuildFile {
			want = p.build.Files[n]
		}
		ct, enc := headersFor(n)
		o := object{key: releaseKey(id, n), file: filepath.Join(p.dir, filepath.FromSlash(n)),
			contentType: ct, encoding: enc, cacheControl: t.cfg.CacheControl}
		for _, src := range sources {
			if have, ok := src.plain[n]; ok && have == want {
				err := t.copyFrom(ctx, releaseKey(src.id, n), o)
				if err == nil {
					copied.Add(1)
					return nil
				}
				if !isNotFound(err) {
					return err
				}
				// Deleted behind our back: upload it instead.
				log.Warn("copy source missing; uploading", "path", n, "from", src.id)
			}
		}
		putFiles.Add(1)
		putBytes.Add(want.Size)
		return t.put(ctx, o)
	})
	if err != nil {
		return publish.Release{}, err
	}
	log.Info("release files", "uploaded", putFiles.Load(), "uploaded_bytes", putBytes.Load(), "copied", copied.Load())

	// 3. The record: from now on the release exists.
	rel := publish.Release{ID: id, Build: p.build.ID, Created: created, Status: publish.StatusStaged, Files: p.files, Size: p.size}
	if err := t.putValue(ctx, recordKey(id), record{Release: rel}); err != nil {
		return publish.Release{}, err
	}
	s.hist.Releases = append(s.hist.Releases, rel)
	s.hist.sort()
	if err := t.putValue(ctx, keyHistory, s.hist); err != nil {
		// The release is complete; load() finds it without the history.
		log.Warn("release staged but history not updated", "err", err)
	}
	log.Info("staged", "files", p.files, "bytes", p.size, "uploaded_assets", len(todo))
	return rel, nil
}

// copySource is a complete release whose directory Stage may copy from:
// its non-hashed paths (build.json included) and their digests.
type copySource struct {
	id    string
	plain map[string]manifest.File
	index string // sha256 of its index object
}

// copySources returns the newest complete release and, when it differs,
// the active one (after a rollback the build being re-published is most
// likely the active one's). Their non-hashed files are what a new release
// of an almost unchanged build mostly consists of. The digests come from
// the release's build.json minus the paths its index lists as hashed (those
// live in P/assets, not in the directory). The releases cannot disappear
// while Stage runs: Prune takes the same lock.
func (t *Target) copySources(ctx context.Context, s *state) ([]copySource, error) {
	var ids []string
	if n := len(s.hist.Releases); n > 0 {
		ids = append(ids, s.hist.Releases[n-1].ID)
	}
	if a := s.activeIndex(); a >= 0 && !slices.Contains(ids, s.cur.ID) {
		ids = append(ids, s.cur.ID)
	}
	var out []copySource
	for _, id := range ids {
		raw, err := t.get(ctx, releaseKey(id, manifest.BuildFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var b manifest.Build
		if err := json.Unmarshal(raw, &b); err != nil {
			// Not fatal: this release is just not a copy source.
			t.opt.Logger.Warn("unreadable build.json of a release; not copying from it", "release", id, "err", err)
			continue
		}
		var ix index
		src := copySource{id: id, plain: map[string]manifest.File{}}
		ixData, err := t.get(ctx, indexKey(id))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if err := json.Unmarshal(ixData, &ix); err != nil {
				t.opt.Logger.Warn("unreadable index of a release; not copying from it", "release", id, "err", err)
				continue
			}
			sum := sha256.Sum256(ixData)
			src.index = hex.EncodeToString(sum[:])
		}
		for n, f := range b.Files {
			if _, hashed := ix.Assets[n]; !hashed {
				src.plain[n] = f
			}
		}
		sum := sha256.Sum256(raw)
		src.plain[manifest.BuildFile] = manifest.File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw))}
		out = append(out, src)
	}
	return out, nil
}

// newID returns an unused release id that sorts after every existing one
// (ids only have one-second resolution, and within a second they would sort
// by build digest), waiting for the next second when needed. A newest id in
// the future (another machine's clock) is not waited for beyond 2 seconds:
// the id is then only unique. A wanted id (WithReleaseID) is taken when
// it sorts after every existing one and is unused, else refused.
func (t *Target) newID(ctx context.Context, s *state, build, want string) (string, time.Time, error) {
	newest := ""
	for _, r := range append(slices.Clone(s.hist.Releases), s.hist.Pruned...) {
		newest = max(newest, r.ID)
	}
	if want != "" {
		if err := publish.CheckReleaseID(want, build, newest); err != nil {
			return "", time.Time{}, fmt.Errorf("%s: %w", t.name, err)
		}
		switch _, err := t.get(ctx, recordKey(want)); {
		case err == nil:
			return "", time.Time{}, fmt.Errorf("%s: %w: %q has a release record", t.name, publish.ErrReleaseID, want)
		case !errors.Is(err, fs.ErrNotExist):
			return "", time.Time{}, err
		}
		return want, time.Now().UTC(), nil
	}
	for attempt := 0; ; attempt++ {
		now := time.Now().UTC()
		id := publish.NewReleaseID(now, build)
		if id > newest || (attempt >= 2 && s.hist.find(id) < 0) {
			// A crashed stage may have left objects under this id, never
			// its record; reusing the directory is harmless.
			_, err := t.get(ctx, recordKey(id))
			if errors.Is(err, fs.ErrNotExist) {
				return id, now, nil
			}
			if err != nil {
				return "", now, err
			}
		}
		if attempt >= 5 {
			return "", time.Time{}, fmt.Errorf("%s: cannot find a free release id", t.name)
		}
		select {
		case <-ctx.Done():
			return "", now, ctx.Err()
		case <-time.After(time.Until(now.Truncate(time.Second).Add(time.Second))):
		}
	}
}

// inventory returns P/assets.json or, when it is missing, rebuilds it from
// the indexes of the known releases.
func (t *Target) inventory(ctx context.Context, s *state) (*inventory, error) {
	inv := &inventory{}
	err := t.getJSON(ctx, keyAssets, inv)
	if err == nil && inv.Assets != nil {
		return inv, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.opt.Logger.Warn("unreadable asset inventory; rebuilding it", "target", t.name, "err", err)
	}
	inv.Assets = map[string]manifest.File{}
	for _, r := range append(s.hist.Releases, s.hist.Pruned...) {
		var ix index
		if err := t.getJSON(ctx, indexKey(r.ID), &ix); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for n, f := range ix.Assets {
			inv.Assets[n] = f
		}
	}
	return inv, nil
}

// parallel runs fn(0..n-1) on Config.Workers goroutines and returns the
// first error; after an error no new item starts.
func (t *Target) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(t.cfg.Workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel(err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
