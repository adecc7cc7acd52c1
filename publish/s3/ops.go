package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/scdtool/scd/publish"
)

// Activate makes release id the active one: history first, the pointer
// last.
func (t *Target) Activate(ctx context.Context, id string) error {
	return t.withLock(ctx, "activate", func() error {
		s, err := t.load(ctx)
		if err != nil {
			return err
		}
		if s.hasCur && s.cur.ID == id && s.hist.find(id) >= 0 {
			return nil // already active: a no-op, the activation time stays
		}
		_, err = t.switchTo(ctx, s, id, publish.StatusGood)
		return err
	})
}

// Rollback activates id, or the newest good release created before the
// active one, and marks the release it leaves bad.
func (t *Target) Rollback(ctx context.Context, id string) (publish.Release, error) {
	var rel publish.Release
	err := t.withLock(ctx, "rollback", func() error {
		s, err := t.load(ctx)
		if err != nil {
			return err
		}
		if !s.hasCur {
			return fmt.Errorf("%s: nothing is active, nothing to roll back: %w", t.name, publish.ErrUnknownRelease)
		}
		if id == "" {
			i := s.rollbackTarget()
			if i < 0 {
				return fmt.Errorf("%s: no good release older than %s: %w", t.name, s.cur.ID, publish.ErrUnknownRelease)
			}
			id = s.hist.Releases[i].ID
		}
		if id == s.cur.ID {
			return fmt.Errorf("%s: release %s is already active", t.name, id)
		}
		rel, err = t.switchTo(ctx, s, id, publish.StatusBad)
		return err
	})
	return rel, err
}

// Releases lists the complete releases, oldest first.
func (t *Target) Releases(ctx context.Context) ([]publish.Release, error) {
	s, err := t.load(ctx)
	if err != nil {
		return nil, err
	}
	return s.hist.Releases, nil
}

// Prune removes all but the newest keep releases, never the active one nor
// the rollback target, then the asset objects no remaining release and no
// release of the skew window uses, and leftovers of interrupted stages.
// If that is more than Config.MaxDeletes shared objects (assets and
// indexes; release directories do not count) it deletes nothing.
func (t *Target) Prune(ctx context.Context, keep int) ([]string, error) {
	if keep < 0 {
		return nil, fmt.Errorf("%s: prune: keep must not be negative (got %d)", t.name, keep)
	}
	var removed []string
	err := t.withLock(ctx, "prune", func() error {
		s, err := t.load(ctx)
		if err != nil {
			return err
		}
		protect := map[string]bool{}
		if a := s.activeIndex(); a >= 0 {
			protect[s.hist.Releases[a].ID] = true
		}
		if r := s.rollbackTarget(); r >= 0 {
			protect[s.hist.Releases[r].ID] = true
		}
		var kept, gone []string
		n := len(s.hist.Releases)
		for i, r := range s.hist.Releases {
			if protect[r.ID] || i >= n-keep {
				kept = append(kept, r.ID)
			} else {
				gone = append(gone, r.ID)
			}
		}

		// The new history; pruned releases inside the skew window keep
		// their entry (and index) so their assets stay served.
		next := history{}
		for _, r := range s.hist.Releases {
			if slices.Contains(kept, r.ID) {
				next.Releases = append(next.Releases, r)
			} else {
				next.Pruned = append(next.Pruned, r)
			}
		}
		next.Pruned = append(next.Pruned, s.hist.Pruned...)
		window := (&state{hist: next, cur: s.cur, hasCur: s.hasCur}).skewWindow(t.opt.KeepAssets)
		next.Pruned = slices.DeleteFunc(next.Pruned, func(r publish.Release) bool { return !slices.Contains(window, r.ID) })

		// Every object to delete, counted before anything is deleted.
		var del []string
		dirObjects := 0
		dirs, err := t.listDirs(ctx, dirRelease)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			// gone releases, and directories of no known release (stages
			// that never wrote their record)
			if slices.Contains(gone, d) || (s.hist.find(d) < 0 && !slices.Contains(kept, d)) {
				keys, err := t.list(ctx, dirRelease+d+"/")
				if err != nil {
					return err
				}
				// The record goes first: without it the rest is invisible.
				sort.SliceStable(keys, func(i, j int) bool { return keys[i] == recordKey(d) && keys[j] != recordKey(d) })
				del = append(del, keys...)
				dirObjects += len(keys)
			}
		}
		need := map[string]bool{}
		live := map[string]bool{}
		for _, r := range next.Releases {
			live[r.ID] = true
		}
		for _, r := range next.Pruned {
			live[r.ID] = true
		}
		idxKeys, err := t.list(ctx, dirIndex)
		if err != nil {
			return err
		}
		for _, k := range idxKeys {
			id := strings.TrimSuffix(strings.TrimPrefix(k, dirIndex), ".json")
			if !live[id] {
				del = append(del, k)
				continue
			}
			var ix index
			if err := t.getJSON(ctx, k, &ix); err != nil {
				return err
			}
			for a := range ix.Assets {
				need[a] = true
			}
		}
		assetKeys, err := t.list(ctx, dirAssets)
		if err != nil {
			return err
		}
		var dropAssets []string
		for _, k := range assetKeys {
			if a := strings.TrimPrefix(k, dirAssets); !need[a] {
				dropAssets = append(dropAssets, a)
				del = append(del, k)
			}
		}
		// The cap guards the shared objects: a wrong inventory or index
		// would otherwise delete assets other releases' pages use. The
		// directories of the releases being pruned are what keep asked
		// for, and leftovers of failed stages are never served.
		if n := len(del) - dirObjects; n > t.cfg.MaxDeletes {
			return fmt.Errorf("%s: prune would delete %d shared objects (assets and indexes), more than the limit of %d (raise max_deletes); nothing deleted",
				t.name, n, t.cfg.MaxDeletes)
		}

		// History and inventory first: a crash below leaves objects no
		// record claims, never a record claiming missing objects.
		if err := t.putValue(ctx, keyHistory, next); err != nil {
			return err
		}
		if len(dropAssets) > 0 {
			inv, err := t.inventory(ctx, s)
			if err != nil {
				return err
			}
			for _, a := range dropAssets {
				delete(inv.Assets, a)
			}
			if err := t.putValue(ctx, keyAssets, inv); err != nil {
				return err
			}
		}
		// Records strictly before the rest, then everything in parallel.
		var first, rest []string
		for _, k := range del {
			if strings.HasSuffix(k, "/"+recordName) && strings.HasPrefix(k, dirRelease) {
				first = append(first, k)
			} else {
				rest = append(rest, k)
			}
		}
		for _, group := range [][]string{first, rest} {
			if err := t.parallel(ctx, len(group), func(ctx context.Context, i int) error {
				return t.remove(ctx, group[i])
			}); err != nil {
				return err
			}
		}
		removed = gone
		t.opt.Logger.Info("pruned", "target", t.name, "releases", len(gone), "objects", len(del))
		return nil
	})
	return removed, err
}

// Read returns path as served through the active release: a non-hashed
// file from the release's directory, a hashed asset when the active
// release or one of the skew window uses it. Each call resolves the
// pointer afresh; to read several files of one release use OpenActive.
func (t *Target) Read(ctx context.Context, p string) ([]byte, error) {
	if !fs.ValidPath(p) || p == "." {
		return nil, fmt.Errorf("%s: %q: %w", t.name, p, fs.ErrInvalid)
	}
	v, err := t.OpenActive(ctx)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s: no active release: %w", t.name, p, fs.ErrNotExist)
		}
		return nil, err
	}
	return v.Read(ctx, p)
}

// View is the active release pinned at the moment OpenActive read the
// pointer, as Local.OpenActive pins a directory: every Read of a View is
// served by that release (its directory and the assets of its skew
// window), whatever is activated meanwhile, so a reader that reads a
// manifest.json and then the files it names sees one release. It stays
// valid until the release is pruned; Prune never removes the active
// release, its rollback target nor, through the skew window, the assets of
// recently active ones.
//
// A web server or CDN in front of the bucket gets the same guarantee by
// resolving P/current once per page and building every URL of that page
// from the id it read (P/releases/<id>/… and P/assets/…).
type View struct {
	t  *Target
	ID string
	// own: the hashed assets of the release; window: those of the skew
	// window (own included).
	own, window map[string]bool
}

// OpenActive reads the pointer once and returns a View of the release it
// names; fs.ErrNotExist (wrapped) before the first activation.
func (t *Target) OpenActive(ctx context.Context) (*View, error) {
	s, err := t.load(ctx)
	if err != nil {
		return nil, err
	}
	if !s.hasCur {
		return nil, fmt.Errorf("%s: no active release: %w", t.name, fs.ErrNotExist)
	}
	v := &View{t: t, ID: s.cur.ID, own: map[string]bool{}, window: map[string]bool{}}
	for i, id := range s.skewWindow(t.opt.KeepAssets) {
		var ix index
		if err := t.getJSON(ctx, indexKey(id), &ix); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for a := range ix.Assets {
			if i == 0 {
				v.own[a] = true
			}
			v.window[a] = true
		}
	}
	return v, nil
}

// Read returns path as the pinned release serves it: its own hashed assets
// from P/assets, its other files from its directory, and then the hashed
// assets of its skew window. Logical names never come from another release.
func (v *View) Read(ctx context.Context, p string) ([]byte, error) {
	t := v.t
	if !fs.ValidPath(p) || p == "." {
		return nil, fmt.Errorf("%s: %q: %w", t.name, p, fs.ErrInvalid)
	}
	if v.own[p] {
		return t.get(ctx, assetKey(p))
	}
	if p != recordName {
		data, err := t.get(ctx, releaseKey(v.ID, p))
		if !errors.Is(err, fs.ErrNotExist) {
			return data, err
		}
	}
	if v.window[p] {
		return t.get(ctx, assetKey(p))
	}
	return nil, fmt.Errorf("%s: %s: %w", t.name, p, fs.ErrNotExist)
}
