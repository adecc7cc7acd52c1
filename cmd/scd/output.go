package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/diag"
)

// progress shows a running build: a bar on a terminal, a plain line every
// few seconds elsewhere (CI logs), nothing with --quiet or --json.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	bar      *progressbar.ProgressBar
	lines    bool
	start    time.Time
	last     time.Time
	stage    string
	interval time.Duration
}

func newProgress(w io.Writer, s *settings) *progress {
	p := &progress{w: w, start: time.Now(), interval: 2 * time.Second}
	mode := s.progress
	if s.quiet || s.json {
		mode = "none"
	}
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("building"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	case "lines":
		p.lines = true
	}
	return p
}

func (p *progress) update(u builder.Progress) {
	if p.bar == nil && !p.lines {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if u.Total == 0 {
		// A stage before its tasks are counted (planning, the cache check,
		// the start of bundling): its name. p.last stays, so the stage's
		// first counted update is shown at once.
		if u.Stage != p.stage {
			p.stage = u.Stage
			if p.bar != nil {
				p.bar.Describe(u.Stage)
			} else {
				fmt.Fprintf(p.w, "scd: %-8s %s\n", u.Stage, time.Since(p.start).Round(100*time.Millisecond))
			}
		}
		return
	}
	if p.bar != nil {
		if p.bar.GetMax64() != u.Total {
			p.bar.ChangeMax64(u.Total)
		}
		if u.Stage != p.stage {
			p.bar.Describe(u.Stage)
		}
		p.stage = u.Stage
		_ = p.bar.Set64(u.Done)
		return
	}
	now := time.Now()
	if u.Stage == p.stage && now.Sub(p.last) < p.interval {
		return
	}
	p.stage, p.last = u.Stage, now
	pct := 0.0
	if u.Total > 0 {
		pct = 100 * float64(u.Done) / float64(u.Total)
	}
	fmt.Fprintf(p.w, "scd: %-8s %d/%d tasks (%.0f%%) %s\n", u.Stage, u.Done, u.Total, pct, now.Sub(p.start).Round(100*time.Millisecond))
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func printSummary(w io.Writer, s *settings, r *builder.Result) {
	st := r.Stats
	var files int
	for _, j := range r.Jobs {
		files += j.Files
	}
	if r.UpToDate {
		// The previous build of the output is intact and nothing it was
		// built from changed: the output was left as it is.
		fmt.Fprintf(w, "built %d jobs in %s with %d threads: build %s (up to date: nothing changed, output left as it was)\n", len(r.Jobs), r.Duration.Round(time.Millisecond), s.opts.Threads, r.Build.ID)
		printPhases(w, s, r)
		fmt.Fprintf(w, "output: %s\n", r.Output)
		return
	}
	fmt.Fprintf(w, "built %d jobs in %s with %d threads: build %s\n", len(r.Jobs), r.Duration.Round(time.Millisecond), s.opts.Threads, r.Build.ID)
	fmt.Fprintf(w, "  files     %d published, %d in the tree with sidecars, %d unique contents\n", files, st.OutputFiles, st.UniqueBlobs)
	fmt.Fprintf(w, "  bytes     %s read, %s written (hard links cost nothing)\n", size(st.SourceBytes), size(st.OutputBytes))
	if st.Compressible > 0 {
		fmt.Fprintf(w, "  compress  %s → %s (%.1f%%, smallest sidecar)\n", size(st.Compressible), size(st.CompressedMin), 100*float64(st.CompressedMin)/float64(st.Compressible))
	}
	fmt.Fprintf(w, "  bundles   %d esbuild runs\n", st.Bundles)
	if c := changed(r); c != "" {
		fmt.Fprintf(w, "  changed   since the last build: %s\n", c)
	}
	if st.JobsReused > 0 {
		fmt.Fprintf(w, "  jobs      %d of %d unchanged since the last build, taken from their records\n", st.JobsReused, len(r.Jobs))
	}
	if st.LessCompiles > 0 || r.Stages[builder.StageLess] > 0 {
		fmt.Fprintf(w, "  less      %d less.js compiles, %d roots expanded, %s\n", st.LessCompiles, st.LessExpansions, r.Stages[builder.StageLess].Round(time.Millisecond))
	}
	var missing []string
	for _, loc := range sortedKeys(r.Missing) {
		if n := r.Missing[loc]; n > 0 {
			missing = append(missing, fmt.Sprintf("%s %d", loc, n))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "  missing translations (distinct phrases per locale): %s\n", strings.Join(missing, ", "))
	}
	slow := slowest(r.Jobs, 5)
	if len(slow) > 0 {
		fmt.Fprintf(w, "  slowest jobs:")
		for _, j := range slow {
			fmt.Fprintf(w, " %s %s;", j.ID, j.Duration.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	printPhases(w, s, r)
	fmt.Fprintf(w, "output: %s\n", r.Output)
}

// changed says what the build found changed since the last build of the
// output (Result.Changes), naming a few of the files; "" when it knows of
// no last build.
func changed(r *builder.Result) string {
	c := r.Changes
	if c == nil {
		if r.PreviousOutput == builder.PreviousReadBack {
			return "the output, since it was written"
		}
		return ""
	}
	var parts []string
	files := c.Files
	add := func(n int, one, many string) {
		if n == 0 {
			return
		}
		noun := many
		if n == 1 {
			noun = one
		}
		names := files[:min(n, len(files))]
		files = files[len(names):]
		if len(names) == 0 { // none of them among the first files
			parts = append(parts, fmt.Sprintf("%d %s", n, noun))
			return
		}
		shown := names[:min(3, len(names))]
		list := strings.Join(shown, ", ")
		if more := n - len(shown); more > 0 {
			list += fmt.Sprintf(" and %d more", more)
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, noun, list))
	}
	add(c.Sources, "source file", "source files")
	add(c.Dictionaries, "dictionary", "dictionaries")
	if c.Config {
		parts = append(parts, "the configuration")
	}
	if c.WorkDir {
		parts = append(parts, "the working directory (every job is built again: its records name files relative to it)")
	}
	if c.Other {
		parts = append(parts, "the options or how the layout resolves the jobs' files")
	}
	if r.PreviousOutput == builder.PreviousReadBack {
		parts = append(parts, "the output, since it was written")
	}
	return strings.Join(parts, ", ")
}

// printPhases shows, with --verbose, where the build's wall time went,
// step by step.
func printPhases(w io.Writer, s *settings, r *builder.Result) {
	if !s.verbose || len(r.Phases) == 0 {
		return
	}
	var parts []string
	for _, p := range r.Phases {
		parts = append(parts, fmt.Sprintf("%s %s", p.Name, p.Wall.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "  phases    %s\n", strings.Join(parts, ", "))
}

func slowest(jobs []builder.JobResult, n int) []builder.JobResult {
	s := slices.Clone(jobs)
	slices.SortStableFunc(s, func(a, b builder.JobResult) int { return cmp.Compare(b.Duration, a.Duration) })
	return s[:min(n, len(s))]
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// jsonSummary is the --json output.
type jsonSummary struct {
	OK         bool   `json:"ok"`
	BuildID    string `json:"build_id,omitempty"`
	Output     string `json:"output,omitempty"`
	Threads    int    `json:"threads,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	UpToDate   bool   `json:"up_to_date,omitempty"` // nothing changed: the output was left as it was
	// PreviousOutput: how the last build's output was used (with the
	// cache): "none", "intact" or "read back" (see builder.Result).
	PreviousOutput string `json:"previous_output,omitempty"`
	// Changes: what changed since the last build of the output (see
	// builder.Changes); absent without one.
	Changes *builder.Changes `json:"changes,omitempty"`
	Jobs    []jsonJob        `json:"jobs,omitempty"`
	Stats   *builder.Stats   `json:"stats,omitempty"`
	// StagesMS is Result.Stages in milliseconds: task time per stage,
	// summed over the threads, nested stages included in their parents.
	StagesMS map[string]float64 `json:"stages_ms,omitempty"`
	// Phases are the pipeline's steps in order with their wall time.
	Phases   []jsonPhase    `json:"phases,omitempty"`
	Missing  map[string]int `json:"missing_translations,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
}

type jsonPhase struct {
	Name string  `json:"phase"`
	MS   float64 `json:"ms"`
}

type jsonJob struct {
	ID         string   `json:"id"`
	Files      int      `json:"files"`
	Bytes      int64    `json:"bytes"`
	Missing    []string `json:"missing_translations,omitempty"`
	DurationMS int64    `json:"duration_ms"`
}

func summaryJSON(s *settings, r *builder.Result) jsonSummary {
	out := jsonSummary{OK: true, BuildID: r.Build.ID, Output: r.Output, Threads: s.opts.Threads,
		DurationMS: r.Duration.Milliseconds(), UpToDate: r.UpToDate, PreviousOutput: r.PreviousOutput, Changes: r.Changes,
		Stats: &r.Stats, Missing: r.Missing}
	if len(r.Stages) > 0 {
		out.StagesMS = map[string]float64{}
		for k, d := range r.Stages {
			out.StagesMS[k] = math.Round(float64(d.Microseconds())) / 1000
		}
	}
	for _, p := range r.Phases {
		out.Phases = append(out.Phases, jsonPhase{p.Name, math.Round(float64(p.Wall.Microseconds())) / 1000})
	}
	for _, j := range r.Jobs {
		out.Jobs = append(out.Jobs, jsonJob{ID: j.ID, Files: j.Files, Bytes: j.Bytes, Missing: j.Missing, DurationMS: j.Duration.Milliseconds()})
	}
	for _, w := range r.Warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	return out
}

func failureJSON(err error) jsonSummary {
	out := jsonSummary{}
	for _, e := range diag.Flatten(err) {
		out.Errors = append(out.Errors, e.Error())
	}
	return out
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
