package builder

// The compile stage's scheduling: what goes on the pool, in which order
// (bundles by theme depth, stylesheets first, then every job's leaves and
// the requirejs configurations). The work itself is in compile_*.go.

import (
	"cmp"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/scdtool/scd/builder/requirejs"
	"github.com/scdtool/scd/diag"
)

// submitRequireJS merges each theme's requirejs-config.js, once for all
// its locales.
func (b *build) submitRequireJS(g pond.TaskGroup, themes map[string]*themeState) {
	for _, key := range slices.Sorted(maps.Keys(themes)) {
		ts := themes[key]
		if len(ts.requirejs) == 0 || allClean(ts) || b.opts.Skip.JS {
			continue
		}
		b.task(g, "requirejs-config.js of "+key, func() {
			digest := requireJSDigest(ts.rjsData)
			out, ok := b.recallBytes("requirejs", digest)
			if !ok {
				var err error
				if out, err = requirejs.MergeData(ts.requirejs, ts.rjsData); err != nil {
					b.fail(diag.Scoped(ts.jobs[0].id, err))
					return
				}
				b.keepBytes("requirejs", digest, out)
			}
			ts.rjsBlob = b.store.put(out, requireJSFile)
		})
	}
}

// entryOutput is the logical name of an entry's bundle: TypeScript and JSX
// become .js.
func entryOutput(logical string) string {
	if kindOf(logical) == kindCSS || kindOf(logical) == kindJS {
		return logical
	}
	return strings.TrimSuffix(logical, path.Ext(logical)) + ".js"
}

// planBundles submits the base bundles of a theme: one per entry of its
// locale-independent file set, unless an ancestor's bundle resolves to the
// same files.
func (b *build) planBundles(g pond.TaskGroup, ts *themeState) {
	if len(ts.jobs) == 0 {
		return
	}
	owner := ts.jobs[0]
	for _, e := range themeEntries(ts) {
		if ts.bundles[e] != nil {
			continue // started early (planOwnBundles)
		}
		if bd := b.findBundle(e, ts.base); bd != nil {
			ts.bundles[e] = bd
			continue
		}
		b.startThemeBundle(g, ts, &bundle{entry: e, owner: owner.id, fs: ts.base})
	}
}

// startThemeBundle queues a theme's own (shared) bundle of an entry.
func (b *build) startThemeBundle(g pond.TaskGroup, ts *themeState, bd *bundle) {
	ts.bundles[bd.entry] = bd
	owner := ts.jobs[0]
	b.task(g, "bundle "+bd.entry+" of "+ts.theme.Area+"/"+ts.theme.Name, func() {
		b.runBundle(bd, owner, true)
	})
}

// themeEntries lists the entries of a theme's jobs that its own files
// provide, sorted.
func themeEntries(ts *themeState) []string {
	entries := map[string]bool{}
	for _, j := range ts.jobs {
		for _, e := range j.entries {
			if _, ok := ts.base.base[e]; ok {
				entries[e] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(entries))
}

// planOwnBundles starts, with the root themes' bundles, the bundles of a
// child theme that the last build made for the child itself (its
// overrides were among their inputs, so its parent's bundle would not do):
// they would most likely be its own again, and waiting for the parent's
// round first would put two esbuild runs end to end on a rebuild's
// critical path. A guess never changes the output: a bundle built for the
// child's file set is the child's bundle whatever its parent's is.
func (b *build) planOwnBundles(g pond.TaskGroup, ts *themeState) {
	if len(ts.jobs) == 0 || b.cache == nil {
		return
	}
	owner := ts.jobs[0]
	for _, e := range themeEntries(ts) {
		bd := &bundle{entry: e, owner: owner.id, fs: ts.base}
		if b.bundleCached(bd) {
			b.startThemeBundle(g, ts, bd)
		}
	}
}

// submitPrivateBundles finds, once every base bundle is built, the entries
// a job needs its own bundle of (a locale override of the job is one of
// their inputs) and queues them beside the leaves: run inside the job's
// assembly, they made the longest job longer.
func (b *build) submitPrivateBundles(g pond.TaskGroup, jobs []*job, themes map[string]*themeState) {
	for _, j := range jobs {
		ts := themes[themeKey(j.Job)]
		for _, e := range j.entries {
			if bd := ts.bundles[e]; bd != nil && bd.reusableBy(j.fs) {
				continue
			}
			if b.findBundle(e, j.fs) != nil {
				continue
			}
			bd := &bundle{entry: e, owner: j.id, fs: j.fs}
			if j.private == nil {
				j.private = map[string]*bundle{}
			}
			j.private[e] = bd
			b.task(g, "bundle "+e+" of "+j.id, func() { b.runBundle(bd, j, false) })
		}
	}
}

// runBundle builds a bundle and makes it available for reuse.
//
// Base bundles (shared) are offered to every later theme and job; a job's
// own bundle, made because a locale override is one of its inputs, is
// not: no other job resolves that override the same way in practice, and
// keeping hundreds of them for reuse would hold their bytes to the end.
func (b *build) runBundle(bd *bundle, owner *job, shared bool) {
	defer b.clock.since(stBundle, time.Now())
	bd.run(b)
	if !bd.cached {
		b.stats.bundles.Add(1)
		b.log.Debug("bundle built", "entry", bd.entry, "for", bd.owner, "shared", shared, "wall", bd.dur.Round(10*time.Microsecond))
	}
	owner.addTime(bd.dur)
	if bd.err != nil {
		bd.err = diag.Scoped(bd.owner, bd.err)
		b.fail(bd.err)
		return
	}
	if !bd.marked {
		bd.blob = b.store.put(bd.out, entryOutput(bd.entry))
	}
	if shared {
		b.bundleMu.Lock()
		b.bundles[bd.entry] = append(b.bundles[bd.entry], bd)
		b.bundleMu.Unlock()
	}
}

// findBundle returns a finished bundle of entry that fs can reuse.
func (b *build) findBundle(entry string, fs *fileset) *bundle {
	b.bundleMu.Lock()
	defer b.bundleMu.Unlock()
	for _, bd := range b.bundles[entry] {
		if bd.reusableBy(fs) {
			return bd
		}
	}
	return nil
}

// submitLeaves queues the processing of every published source file, the
// largest first.
func (b *build) submitLeaves(g pond.TaskGroup, jobs []*job) {
	seen := map[*leafOnce]bool{}
	var all []*leafOnce
	for _, j := range jobs {
		for _, jl := range j.leaves {
			if !seen[jl.leaf] {
				seen[jl.leaf] = true
				all = append(all, jl.leaf)
			}
		}
	}
	slices.SortStableFunc(all, func(x, y *leafOnce) int { return cmp.Compare(y.src.Size, x.src.Size) })
	for _, l := range all {
		b.task(g, "process "+b.display(l.src.Abs), func() {
			b.fail(l.ensure(b))
		})
	}
}
