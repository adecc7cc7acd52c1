package builder

// The sources as the cache sees them: their digests through the state's
// stat cache, the digest of everything a build reads, and what changed
// since the last build (for -v and --json).

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// digestSources computes the content digest of every source file the
// plan found, through the stat cache, and of the dictionaries.
func (b *build) digestSources(old map[string]statRec) error {
	srcs := map[string]source{}
	for _, l := range b.scanner.layers {
		for _, s := range l {
			srcs[s.Abs] = s
		}
	}
	b.digests = make(map[string]string, len(srcs))
	var mu sync.Mutex
	var errs []error
	var misses []string
	for abs, s := range srcs {
		if r, ok := old[abs]; ok && r.St == s.st && s.st.Ino != 0 {
			b.digests[abs] = r.Digest
		} else {
			misses = append(misses, abs)
		}
	}
	g := b.pool.NewGroupContext(b.ctx)
	for _, abs := range misses {
		g.Submit(func() {
			sd, err := b.read(abs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			b.digests[abs] = sd.digest()
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	b.statCache = make(map[string]statRec, len(srcs))
	limit := b.start.Add(-racyWindow).UnixNano()
	for abs, s := range srcs {
		r := statRec{Digest: b.digests[abs]}
		if s.st.Ino != 0 && s.st.Mtime < limit && s.st.Ctime < limit {
			r.St = s.st
		}
		b.statCache[abs] = r
	}
	return nil
}

// inputsDigest covers everything a successful build's output and summary
// depend on: the version, the configuration and the job list, the options,
// every source file of every scanned directory (path and content), and the
// dictionaries.
func (b *build) inputsDigest() string {
	h := sha256.New()
	o := b.opts
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00config %s\x00strict %v %v\x00cv %q\x00wd %q\x00maps %v\x00tailwind %v\x00",
		cacheFormat, o.Version, o.CacheKey, b.configDigest(), o.StrictI18n, o.Strict, o.ContentVersion, o.WorkDir, o.SourceMaps, !o.NoTailwind)
	// A line per file of every layer: a source tree has thousands, so
	// they are appended to a buffer (the bytes %q and %s would make).
	var line []byte
	for _, k := range slices.Sorted(maps.Keys(b.scanner.layers)) {
		fmt.Fprintf(h, "layer %q\n", k)
		l := b.scanner.layers[k]
		for _, p := range slices.Sorted(maps.Keys(l)) {
			line = append(strconv.AppendQuote(line[:0], p), ' ')
			line = append(append(line, l[p].Abs...), ' ')
			line = append(append(line, b.digests[l[p].Abs]...), '\n')
			h.Write(line)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(b.dictSums)) {
		fmt.Fprintf(h, "dict %q %s\n", f, b.dictSums[f])
	}
	fmt.Fprintf(h, "plan %x\n", b.planSum.Sum(nil))
	return hex.EncodeToString(h.Sum(nil))
}

// changesSince tells what changed in the sources, the dictionaries and
// the configuration since the build st records: its sources' digests are
// in its stat cache (every file, see statRec), its dictionaries' in Dicts.
// When the configuration changed, so may the set of files the build
// reads (another job list scans other directories): only the files both
// builds read and whose content changed count then.
func (b *build) changesSince(st *outputState) *Changes {
	c := &Changes{Config: st.Build == nil || st.Build.ConfigDigest != b.configDigest(),
		WorkDir: st.WorkDir != b.opts.WorkDir}
	var sources, dicts []string
	for abs, d := range b.digests {
		r, ok := st.Stat[abs]
		if ok && r.Digest != d || !ok && !c.Config {
			sources = append(sources, abs) // changed, or added
		}
	}
	for abs := range st.Stat {
		if _, ok := b.digests[abs]; !ok && !c.Config {
			sources = append(sources, abs) // removed
		}
	}
	for f := range b.dictSums {
		d, ok := dictDigest(b.dictSums, f)
		was, wasOK := dictDigest(st.Dicts, f)
		if ok && wasOK && d != was || ok != wasOK && !c.Config {
			dicts = append(dicts, f)
		}
	}
	for f := range st.Dicts {
		if _, ok := b.dictSums[f]; !ok && !c.Config {
			if _, was := dictDigest(st.Dicts, f); was {
				dicts = append(dicts, f)
			}
		}
	}
	c.Sources, c.Dictionaries = len(sources), len(dicts)
	for _, list := range [][]string{sources, dicts} {
		names := make([]string, len(list))
		for i, abs := range list {
			names[i] = b.display(abs)
		}
		slices.Sort(names)
		c.Files = append(c.Files, names[:min(len(names), MaxChangedFiles-len(c.Files))]...)
	}
	c.Other = c.Sources == 0 && c.Dictionaries == 0 && !c.Config && !c.WorkDir
	b.log.Debug("cache: changed since the last build", "sources", c.Sources, "dictionaries", c.Dictionaries,
		"config", c.Config, "workdir", c.WorkDir, "other", c.Other, "first", c.Files)
	return c
}

// dictDigest returns a dictionary's digest in m, and whether the file was
// there ("-" records one missing).
func dictDigest(m map[string]string, f string) (string, bool) {
	d, ok := m[f]
	return d, ok && d != "-"
}
