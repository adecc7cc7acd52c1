package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/source"
)

// version is set at link time (-ldflags "-X main.version=…").
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitBuild   = 1 // an error in the sources
	exitConfig  = 2 // a usage or configuration error
	exitTimeout = 3 // --max-execution-time exceeded
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Cobra's own errors: unknown flags and commands, bad arguments.
	fmt.Fprintf(stderr, "scd: %v\n", err)
	return exitConfig
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	v := viper.New()
	root := &cobra.Command{
		Version: version,
		Use:     "scd",
		Short:   "Build and deploy the static content of multi-theme, multi-locale front ends",
		Long: `scd builds every theme × locale of a matrix (themes.yml) on a worker pool:
bundled, minified, translated, content-hashed and precompressed, written aside
and swapped into place only when the whole build succeeded.

Running scd without a command builds, as "scd build" does.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Arguments are locales, as setup:static-content:deploy's.
		Args: localeArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, v, args, stdout, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	addBuildFlags(root.Flags())

	build := &cobra.Command{
		Use:   "build [locale...]",
		Short: "Build the matrix (the default command)",
		Args:  localeArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, v, args, stdout, stderr)
		},
	}
	addBuildFlags(build.Flags())

	ver := &cobra.Command{
		Use:   "version",
		Short: "Print the version of scd and of its compilers",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(stdout, versionString())
		},
	}
	root.AddCommand(build, ver, benchCommand(stdout, stderr))
	root.AddCommand(publishCommands(stdout, stderr)...)
	root.AddCommand(serveCommands(stdout, stderr)...)
	root.AddCommand(deployCommands(stdout, stderr)...)
	return root
}

// addBuildFlags declares the build flags. Names follow Magento's
// setup:static-content:deploy where they mean the same.
func addBuildFlags(f *pflag.FlagSet) {
	f.StringP("matrix", "m", "themes.yml", "matrix file (themes, locales, options)")
	f.String("magento-root", "", "build the Magento 2 project in this directory, without a matrix file (env SCD_MAGENTO_ROOT)")
	f.IntP("threads", "j", 0, "parallel workers; 0 means one per CPU (env SCD_THREADS)")
	f.StringP("output", "o", "", "output directory, relative to the working directory (default: the matrix file's output)")
	f.StringSliceP("theme", "t", nil, "build only these themes (Vendor/name; repeatable)")
	f.StringSlice("exclude-theme", nil, "do not build these themes")
	f.StringSliceP("language", "l", nil, "build only these locales (\"all\" for every locale)")
	f.StringSlice("exclude-language", nil, "do not build these locales")
	f.StringSliceP("area", "a", nil, "build only these areas (frontend, adminhtml)")
	f.Bool("no-javascript", false, "skip JavaScript")
	f.Bool("no-css", false, "skip CSS")
	f.Bool("no-html", false, "skip HTML templates")
	f.Bool("no-images", false, "skip images")
	f.Bool("no-fonts", false, "skip fonts")
	f.Bool("no-html-minify", false, "publish HTML templates unminified")
	f.Bool("no-tailwind", false, "do not run Hyvä themes' Tailwind build; publish their web/css/styles.css as it is")
	f.String("content-version", "", "static content version recorded in build.json (default: derived from the content)")
	f.Duration("max-execution-time", 0, "abort the build after this long, reporting what was still running (e.g. 15m; env SCD_MAX_EXECUTION_TIME)")
	f.Bool("strict-i18n", false, "a phrase without translation is an error")
	f.Bool("strict", false, "a file the minifier rejects is an error, not a warning")
	f.Bool("keep-going", false, "report every error instead of stopping at the first")
	f.Bool("source-maps", false, "write a source map beside each stylesheet compiled from LESS (published unminified)")
	f.Bool("json", false, "print a machine-readable summary on stdout")
	f.BoolP("quiet", "q", false, "print errors only")
	f.BoolP("verbose", "v", false, "log details on stderr; for a build, how the cache is used and why a previous output is not reused")
	f.String("progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), bar, lines, none")
	f.String("cache-dir", "", "persistent cache for incremental builds, relative to the working directory (default: .scd-cache beside the matrix file)")
	f.Bool("no-cache", false, "build everything from scratch, without reading or writing the cache")
	addMagentoFlags(f)
	f.String("cpuprofile", "", "write a Go CPU profile of the build to this file")
	_ = f.MarkHidden("cpuprofile")
	f.String("memprofile", "", "write a Go heap profile of the build, taken when the live heap peaks, to this file")
	_ = f.MarkHidden("memprofile")
	f.String("trace", "", "write a Go execution trace of the build to this file (go tool trace)")
	_ = f.MarkHidden("trace")
}

// settings are the build settings after flags, environment and file have
// been merged (flags win over SCD_* variables, which win over the file).
type settings struct {
	matrixFile string
	opts       builder.Options
	filter     matrix.Filter
	json       bool
	quiet      bool
	verbose    bool
	progress   string
	// warnings are the project's (a Magento module enabled in config.php
	// but not found), shown with the build's.
	warnings []error
	// notes are what the options tell of themselves (a Magento option
	// scd already honours its own way, the themes in use and why), shown
	// on stderr before the build unless --quiet or --json.
	notes []string
}

// envFlags are the flags that SCD_* variables may set, by variable. The
// value goes through the flag's own parser, so a variable accepts exactly
// what its flag accepts (commas in lists, 15m for durations) and a value
// that does not parse is an error, never a silent zero.
var envFlags = []string{"threads", "output", "theme", "exclude-theme", "language", "exclude-language", "area",
	"no-javascript", "no-css", "no-html", "no-images", "no-fonts", "no-html-minify", "content-version",
	"max-execution-time", "strict-i18n", "strict", "keep-going", "json", "quiet", "verbose", "progress", "cache-dir", "no-cache",
	"magento-root", "source-maps", "strategy", "force", "no-parent", "no-less", "no-misc", "exclude-area",
	"refresh-content-version-only", "symlink-locale", "themes-in-use", "no-tailwind"}

func envName(flag string) string {
	return "SCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func loadSettings(cmd *cobra.Command, v *viper.Viper) (*settings, error) {
	return loadBuildSettings(cmd, v, nil, nil)
}

// loadBuildSettings is loadSettings with the build's positional
// arguments, locales that replace --language as in Magento. early, when
// set, is called as soon as the output and cache directories are known,
// before a Magento project is loaded, with the options that name them
// and the cache's key (what builder.Prepare reads).
func loadBuildSettings(cmd *cobra.Command, v *viper.Viper, locales []string, early func(builder.Options)) (*settings, error) {
	f := cmd.Flags()
	// Flags win over the environment: a variable only fills a flag that
	// was not given.
	for _, name := range append(envFlags, "matrix") {
		env := envName(name)
		if name == "matrix" {
			// SCD_MATRIX is ece-tools' per-theme locale narrowing.
			env = "SCD_MATRIX_FILE"
		}
		val := os.Getenv(env)
		if val == "" || f.Changed(name) {
			continue
		}
		if err := f.Set(name, val); err != nil {
			return nil, &diag.Error{Kind: diag.Config, File: env, Msg: fmt.Sprintf("invalid value %q: %v", val, unwrapFlagError(err))}
		}
		if err := checkNames(name, f); err != nil {
			return nil, &diag.Error{Kind: diag.Config, File: env, Msg: err.Error()}
		}
	}
	// viper layers the flags over the file's values, which are set as
	// defaults below once the file is read.
	for _, name := range envFlags {
		if err := v.BindPFlag(name, f.Lookup(name)); err != nil {
			return nil, err
		}
	}
	if err := v.BindPFlag("matrix-file", f.Lookup("matrix")); err != nil {
		return nil, err
	}
	mo, err := readMagentoOptions(v)
	if err != nil {
		return nil, err
	}

	s := &settings{matrixFile: v.GetString("matrix-file")}
	cfg, err := loadMatrix(s.matrixFile, v.GetString("magento-root"), f.Changed("matrix") || os.Getenv("SCD_MATRIX_FILE") != "")
	if err != nil {
		return nil, err
	}
	output := cfg.Output
	if o := v.GetString("output"); o != "" {
		if output, err = filepath.Abs(o); err != nil {
			return nil, err
		}
	}
	cacheDir := ""
	if !v.GetBool("no-cache") {
		cacheDir = filepath.Join(cfg.Dir, ".scd-cache")
		if d := v.GetString("cache-dir"); d != "" {
			if cacheDir, err = filepath.Abs(d); err != nil {
				return nil, err
			}
		}
	}
	key := cacheKey()
	if early != nil {
		early(builder.Options{Output: output, CacheDir: cacheDir, CacheKey: key, Version: version})
	}
	layout, err := loadLayout(cfg)
	if err != nil {
		return nil, err
	}
	if m, ok := layout.(*source.Magento); ok {
		s.warnings = m.Warnings
	}
	v.SetDefault("threads", cfg.Threads)
	threads := v.GetInt("threads")
	if threads < 0 {
		return nil, &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("threads must be 0 (one per CPU) or more, not %d", threads)}
	}

	s.filter = matrix.Filter{
		Themes:           v.GetStringSlice("theme"),
		ExcludeThemes:    v.GetStringSlice("exclude-theme"),
		Languages:        v.GetStringSlice("language"),
		ExcludeLanguages: v.GetStringSlice("exclude-language"),
		Areas:            v.GetStringSlice("area"),
	}
	if m := os.Getenv("SCD_MATRIX"); strings.TrimSpace(m) != "" {
		ece, err := matrix.ParseECE([]byte(m))
		if err != nil {
			return nil, err
		}
		s.filter.Matrix = ece
	}
	mo.apply(s, cfg, layout, locales, f.Changed("language"))
	jobs, err := cfg.Jobs(s.filter)
	if err != nil {
		return nil, err
	}
	s.json, s.quiet, s.progress = v.GetBool("json"), v.GetBool("quiet"), v.GetString("progress")
	s.verbose = v.GetBool("verbose")
	switch s.progress {
	case "auto", "bar", "lines", "none":
	default:
		return nil, &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("--progress must be auto, bar, lines or none, not %q", s.progress)}
	}
	wd, _ := os.Getwd()
	s.opts = builder.Options{
		Layout:  layout,
		Config:  cfg,
		Jobs:    jobs,
		Output:  output,
		Threads: threads,
		Skip: builder.Skip{
			JS:           v.GetBool("no-javascript"),
			CSS:          v.GetBool("no-css"),
			HTML:         v.GetBool("no-html"),
			Images:       v.GetBool("no-images"),
			Fonts:        v.GetBool("no-fonts"),
			NoHTMLMinify: v.GetBool("no-html-minify"),
		},
		StrictI18n:       v.GetBool("strict-i18n"),
		Strict:           v.GetBool("strict"),
		KeepGoing:        v.GetBool("keep-going"),
		SourceMaps:       v.GetBool("source-maps"),
		NoTailwind:       v.GetBool("no-tailwind"),
		MaxExecutionTime: v.GetDuration("max-execution-time"),
		ContentVersion:   v.GetString("content-version"),
		Version:          version,
		WorkDir:          wd,
		CacheDir:         cacheDir,
		CacheKey:         key,
	}
	if s.opts.Threads == 0 {
		s.opts.Threads = runtime.NumCPU()
	}
	return s, nil
}

// loadMatrix reads the matrix file, or with --magento-root makes the
// matrix of that Magento project (which loadLayout completes).
func loadMatrix(file, magentoRoot string, fileGiven bool) (*matrix.Config, error) {
	if magentoRoot == "" {
		return matrix.Load(file)
	}
	if fileGiven {
		return nil, &diag.Error{Kind: diag.Config, File: file,
			Msg: "--magento-root builds a Magento project without a matrix file; give magento_root: in the matrix file instead"}
	}
	root, err := filepath.Abs(magentoRoot)
	if err != nil {
		return nil, err
	}
	return matrix.Parse("--magento-root", root, fmt.Appendf(nil, "magento_root: %q\n", root))
}

// loadLayout loads the Magento project of a matrix with magento_root,
// completes the matrix from it and returns it as the build's layout; nil
// for any other matrix.
func loadLayout(cfg *matrix.Config) (source.Layout, error) {
	if cfg.MagentoRoot == "" {
		return nil, nil
	}
	m, err := source.LoadMagento(cfg.MagentoRoot)
	if m != nil {
		relativeFiles(m.Warnings...)
	}
	if err != nil {
		relativeFiles(err)
		return nil, err
	}
	if err := m.Configure(cfg); err != nil {
		relativeFiles(err)
		return nil, err
	}
	return m, nil
}

// relativeFiles names the files of errs relative to the working
// directory when they lie inside it, as the build's own messages do.
func relativeFiles(errs ...error) {
	wd, err := os.Getwd()
	if err != nil {
		return
	}
	for _, e := range errs {
		for _, fe := range diag.Flatten(e) {
			var de *diag.Error
			if errors.As(fe, &de) && filepath.IsAbs(de.File) {
				if rel, err := filepath.Rel(wd, de.File); err == nil && !strings.HasPrefix(rel, "..") {
					de.File = rel
				}
			}
		}
	}
}

func runBuild(cmd *cobra.Command, v *viper.Viper, args []string, stdout, stderr io.Writer) error {
	// The profiles cover the whole command, the settings' load and the
	// early check of the previous output included.
	stopProfiles, err := startProfiles(cmd.Flags())
	defer stopProfiles()
	// The previous output is checked while the rest of the settings load
	// (a Magento project's take about as long): see builder.Prepare.
	var prep *builder.Prepared
	defer func() { prep.Release() }()
	var s *settings
	if err == nil {
		s, err = loadBuildSettings(cmd, v, args, func(o builder.Options) {
			o.Logger = newLogger(stderr, v.GetBool("verbose"))
			prep = builder.Prepare(o)
		})
	}
	if err != nil {
		report(stderr, err, nil)
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			writeJSON(stdout, failureJSON(err))
		}
		return &exitError{code: exitConfig, err: err}
	}
	if !s.quiet && !s.json {
		for _, n := range s.notes {
			fmt.Fprintf(stderr, "scd: %s\n", n)
		}
	}
	p := newProgress(stderr, s)
	s.opts.Progress = p.update
	s.opts.Logger = newLogger(stderr, s.verbose)
	s.opts.Prepared = prep
	res, err := builder.Build(cmd.Context(), s.opts)
	p.finish()
	if err != nil {
		code := exitBuild
		switch {
		case errors.Is(err, builder.ErrTimeout):
			code = exitTimeout
		case diag.KindOf(err) == diag.Config:
			code = exitConfig
		}
		report(stderr, err, nil)
		if s.json {
			writeJSON(stdout, failureJSON(err))
		}
		return &exitError{code: code, err: err}
	}
	res.Warnings = append(slices.Clip(s.warnings), res.Warnings...)
	if s.json {
		writeJSON(stdout, summaryJSON(s, res))
		return nil
	}
	if !s.quiet {
		report(stderr, nil, res.Warnings)
		printSummary(stdout, s, res)
	}
	return nil
}

// newLogger is the build's logger: warnings of the build itself (a cache
// that cannot be used) always show; verbose adds its decisions.
func newLogger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}))
}

// report prints errors (with their source line) and warnings on stderr.
func report(w io.Writer, err error, warnings []error) {
	for _, e := range warnings {
		fmt.Fprintf(w, "warning: %s\n", detail(e))
	}
	if err == nil {
		return
	}
	errs := diag.Flatten(err)
	for _, e := range errs {
		fmt.Fprintf(w, "%s\n", detail(e))
	}
	what := "build failed"
	if diag.KindOf(err) == diag.Config {
		what = "configuration error"
	}
	if len(errs) > 1 {
		what = fmt.Sprintf("%s (%d errors)", what, len(errs))
	}
	fmt.Fprintf(w, "scd: %s; the output was not touched\n", what)
}

func detail(err error) string {
	var de *diag.Error
	if errors.As(err, &de) {
		return de.Detail()
	}
	return err.Error()
}

func versionString() string {
	s := "scd " + version + " (" + runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/evanw/esbuild", "github.com/tdewolff/minify/v2":
				s += ", " + strings.TrimPrefix(d.Path, "github.com/") + " " + d.Version
			}
		}
	}
	return s + ")"
}

// cacheKey identifies this binary's code beyond its version, so that the
// cache never serves entries made by another build of scd: the VCS revision
// (and whether the tree was modified), and for development builds the
// executable's size and modification time.
func cacheKey() string {
	var parts []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, bi.GoVersion, bi.Main.Version)
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision", "vcs.modified", "vcs.time":
				parts = append(parts, st.Key+"="+st.Value)
			}
		}
		for _, d := range bi.Deps {
			parts = append(parts, d.Path+"@"+d.Version)
		}
	}
	if version == "dev" {
		if exe, err := os.Executable(); err == nil {
			if st, err := os.Stat(exe); err == nil {
				parts = append(parts, fmt.Sprintf("exe %s %d %d", exe, st.Size(), st.ModTime().UnixNano()))
			}
		}
	}
	return strings.Join(parts, "\n")
}

// unwrapFlagError keeps the parser's reason from pflag's wrapping.
func unwrapFlagError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// checkNames validates the locale codes and theme names of a list flag
// filled from the environment, so that the message names the variable.
func checkNames(flag string, f *pflag.FlagSet) error {
	var valid func(string) bool
	switch flag {
	case "language", "exclude-language":
		valid = matrix.ValidLocale
	case "theme", "exclude-theme":
		valid = matrix.ValidThemeName
	default:
		return nil
	}
	vals, _ := f.GetStringSlice(flag)
	for _, v := range vals {
		if v != "all" && v != "none" && !valid(v) {
			return fmt.Errorf("invalid value %q", v)
		}
	}
	return nil
}

// watchHeap writes a heap profile to file each time the heap live after a
// garbage collection reaches a new high, until the returned stop is called.
func watchHeap(file string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			// The live heap as the last collection marked it; the profile
			// reports the same collection's live data.
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			if live := sample[0].Value.Uint64(); live > peak {
				peak = live
				if f, err := os.Create(file); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// startProfiles starts what the hidden flags --cpuprofile, --memprofile
// and --trace ask for, and returns what stops them all (also what it
// started before an error).
func startProfiles(f *pflag.FlagSet) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	start := func(flag string, begin func(io.Writer) error, end func()) error {
		file, _ := f.GetString(flag)
		if file == "" {
			return nil
		}
		w, err := os.Create(file)
		if err == nil {
			if err = begin(w); err != nil {
				w.Close()
			}
		}
		if err != nil {
			return &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("--%s: %v", flag, err)}
		}
		stops = append(stops, func() { end(); w.Close() })
		return nil
	}
	if err := start("cpuprofile", pprof.StartCPUProfile, pprof.StopCPUProfile); err != nil {
		return stop, err
	}
	if err := start("trace", trace.Start, trace.Stop); err != nil {
		return stop, err
	}
	if file, _ := f.GetString("memprofile"); file != "" {
		stops = append(stops, watchHeap(file))
	}
	return stop, nil
}
