package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/diag"
)

// benchCommand is `scd bench`: cold builds of a matrix at several thread
// counts, each run in its own process so that CPU time and peak memory are
// the build's own.
func benchCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		matrixFile string
		threads    []int
		runs       int
		outDir     string
		passthru   []string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure cold builds at several thread counts and recommend one",
		Long: `scd bench builds the matrix cold (into a temporary directory, without a
cache) --runs times at each thread count, reports the median wall and CPU time,
speedup and efficiency against the first count, files/s, MB/s and peak memory,
and recommends the smallest thread count within 5% of the best wall time.

The table is printed; bench.json, bench.csv and bench.svg (wall time and
speedup against threads) are written to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 {
				return &exitError{code: exitConfig, err: fmt.Errorf("--runs must be at least 1")}
			}
			if len(threads) == 0 || slices.ContainsFunc(threads, func(n int) bool { return n < 1 }) {
				return &exitError{code: exitConfig, err: fmt.Errorf("--threads must list counts of 1 or more")}
			}
			rep, err := runBench(cmd.Context(), stderr, matrixFile, threads, runs, passthru)
			if err != nil {
				report(stderr, err, nil)
				return &exitError{code: exitBuild, err: err}
			}
			printBench(stdout, rep)
			if err := writeBench(outDir, rep); err != nil {
				return &exitError{code: exitBuild, err: err}
			}
			fmt.Fprintf(stdout, "wrote %s\n", strings.Join([]string{
				filepath.Join(outDir, "bench.json"), filepath.Join(outDir, "bench.csv"), filepath.Join(outDir, "bench.svg")}, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&matrixFile, "matrix", "m", "themes.yml", "matrix file")
	f.IntSliceVarP(&threads, "threads", "j", []int{1, 2, 4, 8}, "thread counts to measure")
	f.IntVar(&runs, "runs", 3, "cold builds per thread count (the median is reported)")
	f.StringVarP(&outDir, "out", "o", "scd-bench", "directory for bench.json, bench.csv and bench.svg")
	f.StringSliceVar(&passthru, "build-arg", nil, "extra argument for every build (repeatable), e.g. --build-arg=--no-html")
	return cmd
}

// benchRun is one measured build.
type benchRun struct {
	Wall      time.Duration `json:"wall_ns"`
	CPU       time.Duration `json:"cpu_ns"`
	MaxRSS    int64         `json:"max_rss_bytes"`
	Files     int64         `json:"files"`
	Bytes     int64         `json:"source_bytes"`
	BuildTime time.Duration `json:"build_ns"` // as reported by the build itself
	// Stages is the build's own per-stage task time (builder.Result.Stages).
	Stages map[string]time.Duration `json:"stages_ns"`
}

// benchStages is the order stages are shown in: the pipeline's, each
// nested stage after its parent (translate is part of assemble; hash is
// part of minify, bundle, assemble and compress).
var benchStages = []string{builder.StageBundle, builder.StageMinify, builder.StageAssemble, builder.StageTranslate,
	builder.StageHash, builder.StageCompress, builder.StageWrite}

// benchPoint is the summary of one thread count.
type benchPoint struct {
	Threads    int           `json:"threads"`
	Wall       time.Duration `json:"median_wall_ns"`
	CPU        time.Duration `json:"median_cpu_ns"`
	Speedup    float64       `json:"speedup"`
	Efficiency float64       `json:"efficiency"`
	FilesPerS  float64       `json:"files_per_s"`
	MBPerS     float64       `json:"mb_per_s"`
	MaxRSS     int64         `json:"peak_rss_bytes"`
	// Stages holds the median task time of each stage over the runs.
	Stages map[string]time.Duration `json:"median_stages_ns"`
	Runs   []benchRun               `json:"runs"`
}

type benchReport struct {
	Matrix      string       `json:"matrix"`
	CPUs        int          `json:"cpus"`
	Points      []benchPoint `json:"points"`
	Recommended int          `json:"recommended_threads"`
}

func runBench(ctx context.Context, log io.Writer, matrixFile string, threads []int, runs int, extra []string) (*benchReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "scd-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	rep := &benchReport{Matrix: matrixFile, CPUs: runtime.NumCPU()}
	for _, n := range threads {
		p := benchPoint{Threads: n}
		for i := range runs {
			out := filepath.Join(tmp, fmt.Sprintf("out-%d-%d", n, i))
			args := append([]string{"build", "--matrix", matrixFile, "--threads", strconv.Itoa(n), "--output", out, "--json", "--progress", "none"}, extra...)
			r, err := benchOnce(ctx, exe, args)
			if err != nil {
				return nil, fmt.Errorf("threads %d: %w", n, err)
			}
			os.RemoveAll(out)
			p.Runs = append(p.Runs, r)
			fmt.Fprintf(log, "scd bench: threads %d run %d/%d: %s wall, %s CPU\n", n, i+1, runs, r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond))
		}
		p.Wall = median(p.Runs, func(r benchRun) time.Duration { return r.Wall })
		p.CPU = median(p.Runs, func(r benchRun) time.Duration { return r.CPU })
		for _, r := range p.Runs {
			p.MaxRSS = max(p.MaxRSS, r.MaxRSS)
		}
		p.Stages = map[string]time.Duration{}
		for _, st := range benchStages {
			p.Stages[st] = median(p.Runs, func(r benchRun) time.Duration { return r.Stages[st] })
		}
		p.FilesPerS = float64(p.Runs[0].Files) / p.Wall.Seconds()
		p.MBPerS = float64(p.Runs[0].Bytes) / (1 << 20) / p.Wall.Seconds()
		rep.Points = append(rep.Points, p)
	}
	base := rep.Points[0]
	best := rep.Points[0].Wall
	for i := range rep.Points {
		p := &rep.Points[i]
		p.Speedup = base.Wall.Seconds() / p.Wall.Seconds()
		p.Efficiency = p.Speedup * float64(base.Threads) / float64(p.Threads)
		best = min(best, p.Wall)
	}
	// The smallest count within 5% of the best: more threads than that buy
	// nothing but contention.
	rep.Recommended = rep.Points[len(rep.Points)-1].Threads
	for _, p := range sortedByThreads(rep.Points) {
		if p.Wall.Seconds() <= best.Seconds()*1.05 {
			rep.Recommended = p.Threads
			break
		}
	}
	return rep, nil
}

func benchOnce(ctx context.Context, exe string, args []string) (benchRun, error) {
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, exe, args...)
	c.Args[0] = "scd" // the name this program answers to, whatever its file is called
	c.Stdout, c.Stderr = &stdout, &stderr
	// The build's own setting of GOGC applies, as for a user's build.
	start := time.Now()
	err := c.Run()
	wall := time.Since(start)
	if err != nil {
		return benchRun{}, &diag.Error{Kind: diag.Build, Msg: fmt.Sprintf("build failed: %v\n%s", err, strings.TrimSpace(stderr.String()))}
	}
	var sum struct {
		DurationMS int64              `json:"duration_ms"`
		Stats      *builder.Stats     `json:"stats"`
		StagesMS   map[string]float64 `json:"stages_ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || sum.Stats == nil {
		return benchRun{}, fmt.Errorf("unreadable build summary: %v", err)
	}
	r := benchRun{Wall: wall, Files: sum.Stats.OutputFiles, Bytes: sum.Stats.SourceBytes, BuildTime: time.Duration(sum.DurationMS) * time.Millisecond,
		Stages: map[string]time.Duration{}}
	for k, ms := range sum.StagesMS {
		r.Stages[k] = time.Duration(ms * float64(time.Millisecond))
	}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r, nil
}

func median(runs []benchRun, f func(benchRun) time.Duration) time.Duration {
	v := make([]time.Duration, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func sortedByThreads(p []benchPoint) []benchPoint {
	s := slices.Clone(p)
	slices.SortFunc(s, func(a, b benchPoint) int { return a.Threads - b.Threads })
	return s
}

func printBench(w io.Writer, rep *benchReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threads\twall\tCPU\tspeedup\tefficiency\tfiles/s\tMB/s\tpeak RSS\t")
	for _, p := range rep.Points {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f×\t%.0f%%\t%.0f\t%.1f\t%s\t\n", p.Threads, p.Wall.Round(time.Millisecond), p.CPU.Round(time.Millisecond),
			p.Speedup, 100*p.Efficiency, p.FilesPerS, p.MBPerS, size(p.MaxRSS))
	}
	tw.Flush()
	// Stages: median task time, summed over the threads (a stage can take
	// longer than the wall time on several threads).
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "stage (task time)\t")
	for _, p := range rep.Points {
		fmt.Fprintf(tw, "%d threads\t", p.Threads)
	}
	fmt.Fprintln(tw)
	for _, st := range benchStages {
		name := st
		if st == builder.StageTranslate || st == builder.StageHash {
			name = "  " + st + " (nested)" // included in the stages above it
		}
		fmt.Fprintf(tw, "%s\t", name)
		for _, p := range rep.Points {
			fmt.Fprintf(tw, "%s\t", p.Stages[st].Round(time.Millisecond))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "recommended: --threads %d (the smallest count within 5%% of the best wall time; %d CPUs)\n", rep.Recommended, rep.CPUs)
}

func writeBench(dir string, rep *benchReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	head := []string{"threads", "median_wall_s", "median_cpu_s", "speedup", "efficiency", "files_per_s", "mb_per_s", "peak_rss_bytes"}
	for _, st := range benchStages {
		head = append(head, "stage_"+st+"_s")
	}
	cw.Write(head)
	for _, p := range rep.Points {
		row := []string{strconv.Itoa(p.Threads), ftoa(p.Wall.Seconds()), ftoa(p.CPU.Seconds()), ftoa(p.Speedup), ftoa(p.Efficiency),
			ftoa(p.FilesPerS), ftoa(p.MBPerS), strconv.FormatInt(p.MaxRSS, 10)}
		for _, st := range benchStages {
			row = append(row, ftoa(p.Stages[st].Seconds()))
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := os.WriteFile(filepath.Join(dir, "bench.csv"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bench.svg"), benchSVG(rep), 0o644)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

// benchSVG draws wall time (bars) and speedup (a line, right axis) against
// the thread counts.
func benchSVG(rep *benchReport) []byte {
	const w, h, left, right, top, bottom = 640.0, 360.0, 60.0, 60.0, 40.0, 50.0
	pw, ph := w-left-right, h-top-bottom
	var maxWall, maxSpeed float64
	for _, p := range rep.Points {
		maxWall = max(maxWall, p.Wall.Seconds())
		maxSpeed = max(maxSpeed, p.Speedup)
	}
	maxWall *= 1.1
	maxSpeed = max(maxSpeed*1.1, 1.1)
	n := float64(len(rep.Points))
	slot := pw / n
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="20" text-anchor="middle" font-size="14">scd bench: %s</text>`+"\n", w/2, html.EscapeString(rep.Matrix))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n", left, top+ph, left+pw, top+ph)
	fmt.Fprintf(&b, `<text x="15" y="%.0f" transform="rotate(-90 15 %.0f)" text-anchor="middle" fill="#4477aa">median wall time (s)</text>`+"\n", top+ph/2, top+ph/2)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" transform="rotate(90 %.0f %.0f)" text-anchor="middle" fill="#cc6677">speedup</text>`+"\n", w-15, top+ph/2, w-15, top+ph/2)
	for i := 0; i <= 4; i++ {
		y := top + ph - ph*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end" fill="#4477aa">%.2f</text>`, left-6, y+4, maxWall*float64(i)/4)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#cc6677">%.1f</text>`+"\n", left+pw+6, y+4, maxSpeed*float64(i)/4)
	}
	var line []string
	for i, p := range rep.Points {
		x := left + slot*float64(i) + slot/2
		bh := ph * p.Wall.Seconds() / maxWall
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4477aa"/>`, x-slot*0.3, top+ph-bh, slot*0.6, bh)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", x, top+ph+18, p.Threads)
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, top+ph-ph*p.Speedup/maxSpeed))
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#cc6677" stroke-width="2"/>`+"\n", strings.Join(line, " "))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">threads (recommended: %d)</text>`+"\n", left+pw/2, h-12, rep.Recommended)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
