package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"time"

	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// Keys of the control objects, relative to the prefix.
const (
	keyCurrent = "current"
	keyHistory = "history.json"
	keyAssets  = "assets.json"
	keyLock    = ".lock"
	dirRelease = "releases/"
	dirAssets  = "assets/"
	dirIndex   = "index/"
	recordName = "release.json"
)

func releaseKey(id, p string) string { return dirRelease + id + "/" + p }
func recordKey(id string) string     { return releaseKey(id, recordName) }
func indexKey(id string) string      { return dirIndex + id + ".json" }
func assetKey(p string) string       { return dirAssets + p }

// pointer is P/current.
type pointer struct {
	ID        string    `json:"id"`
	Activated time.Time `json:"activated"`
}

// record is P/releases/<id>/release.json: the release as staged. It is
// written once; statuses live in the history.
type record struct {
	Release publish.Release `json:"release"`
}

// index is P/index/<id>.json: the hashed assets a release uses.
type index struct {
	Assets map[string]manifest.File `json:"assets"`
}

// inventory is P/assets.json: every asset object known to be in P/assets.
type inventory struct {
	Assets map[string]manifest.File `json:"assets"`
}

// history is P/history.json. Pruned keeps the entries of pruned releases
// that are still inside the skew window, so their assets stay served.
type history struct {
	Releases []publish.Release `json:"releases"`
	Pruned   []publish.Release `json:"pruned,omitempty"`
}

func (h *history) find(id string) int {
	return slices.IndexFunc(h.Releases, func(r publish.Release) bool { return r.ID == id })
}

func (h *history) sort() {
	sort.Slice(h.Releases, func(i, j int) bool { return h.Releases[i].ID < h.Releases[j].ID })
}

// getJSON reads and decodes a control object; a missing object returns
// fs.ErrNotExist (wrapped) and leaves v alone.
func (t *Target) getJSON(ctx context.Context, key string, v any) error {
	data, err := t.get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s/%s: %w", t.name, key, err)
	}
	return nil
}

func (t *Target) putValue(ctx context.Context, key string, v any) error {
	data, err := manifest.Marshal(v)
	if err != nil {
		return err
	}
	return t.putJSON(ctx, key, data)
}

// current returns the pointer; ok is false before the first activation.
func (t *Target) current(ctx context.Context) (p pointer, ok bool, err error) {
	err = t.getJSON(ctx, keyCurrent, &p)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	return p, err == nil, err
}

// state is what the release operations work on: the history reconciled
// with the pointer and with the release records in the bucket.
type state struct {
	hist   history
	cur    pointer
	hasCur bool
}

// load reads the history and the pointer and reconciles them: the pointer
// is the truth about which release is active (the history may be one step
// ahead after a crash between the two writes), and a complete release
// missing from the history (a crash after its release.json) is added as
// staged. Incomplete release directories are ignored.
func (t *Target) load(ctx context.Context) (*state, error) {
	s := &state{}
	if err := t.getJSON(ctx, keyHistory, &s.hist); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var err error
	if s.cur, s.hasCur, err = t.current(ctx); err != nil {
		return nil, err
	}
	dirs, err := t.listDirs(ctx, dirRelease)
	if err != nil {
		return nil, err
	}
	for _, id := range dirs {
		if s.hist.find(id) >= 0 {
			continue
		}
		var rec record
		if err := t.getJSON(ctx, recordKey(id), &rec); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // incomplete: invisible until pruned
			}
			return nil, err
		}
		rec.Release.Status = publish.StatusStaged
		s.hist.Releases = append(s.hist.Releases, rec.Release)
	}
	s.hist.sort()
	for i := range s.hist.Releases {
		r := &s.hist.Releases[i]
		switch {
		case s.hasCur && r.ID == s.cur.ID:
			r.Status = publish.StatusActive
			if r.Activated.IsZero() {
				r.Activated = s.cur.Activated
			}
		case r.Status == publish.StatusActive:
			r.Status = publish.StatusGood
		}
	}
	return s, nil
}

// activeIndex returns the position of the active release, or -1.
func (s *state) activeIndex() int {
	if !s.hasCur {
		return -1
	}
	return s.hist.find(s.cur.ID)
}

// rollbackTarget is the newest good release created before the active one.
func (s *state) rollbackTarget() int {
	a := s.activeIndex()
	for i := a - 1; i >= 0 && a >= 0; i-- {
		if s.hist.Releases[i].Status == publish.StatusGood {
			return i
		}
	}
	return -1
}

// skewWindow returns the ids whose assets the active release serves: the
// active one and the keep most recently activated before it (pruned ones
// included).
func (s *state) skewWindow(keep int) []string {
	if !s.hasCur {
		return nil
	}
	var past []publish.Release
	for _, r := range append(slices.Clone(s.hist.Releases), s.hist.Pruned...) {
		if r.ID != s.cur.ID && !r.Activated.IsZero() {
			past = append(past, r)
		}
	}
	sort.Slice(past, func(i, j int) bool { return past[i].Activated.After(past[j].Activated) })
	ids := []string{s.cur.ID}
	for i := 0; i < len(past) && i < keep; i++ {
		ids = append(ids, past[i].ID)
	}
	return ids
}

// switchTo writes the history with id active and then, last, the pointer.
// A crash in between leaves the old pointer, which load treats as the
// truth. leaving is the status given to the release left behind.
func (t *Target) switchTo(ctx context.Context, s *state, id string, leaving publish.Status) (publish.Release, error) {
	i := s.hist.find(id)
	if i < 0 {
		return publish.Release{}, fmt.Errorf("%s: release %q: %w", t.name, id, publish.ErrUnknownRelease)
	}
	// The record, not just the history, must exist: it is the completion
	// marker, and the pointer may only name complete releases.
	var rec record
	if err := t.getJSON(ctx, recordKey(id), &rec); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return publish.Release{}, fmt.Errorf("%s: release %q is incomplete: %w", t.name, id, publish.ErrUnknownRelease)
		}
		return publish.Release{}, err
	}
	now := time.Now().UTC()
	if a := s.activeIndex(); a >= 0 && a != i {
		s.hist.Releases[a].Status = leaving
	}
	s.hist.Releases[i].Status = publish.StatusActive
	s.hist.Releases[i].Activated = now
	if err := t.putValue(ctx, keyHistory, s.hist); err != nil {
		return publish.Release{}, err
	}
	if err := t.putValue(ctx, keyCurrent, pointer{ID: id, Activated: now}); err != nil {
		return publish.Release{}, err
	}
	s.cur, s.hasCur = pointer{ID: id, Activated: now}, true
	t.opt.Logger.Info("activated", "target", t.name, "release", id)
	return s.hist.Releases[i], nil
}
