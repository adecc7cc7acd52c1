package less

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// pinnedVersion is the less version scd is tested with, pinned by
// builder/less/package-lock.json (the error for a missing less tells users to
// install it).
const pinnedVersion = "4.9.1"

// Check reports whether node and less are usable, as a worker would find
// them: node's and less's versions, or an error saying what to install.
func Check(opts Options) (nodeVersion, lessVersion string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	w, err := startWorker(ctx, opts)
	if err != nil {
		return "", "", err
	}
	w.stop()
	return w.node, w.less, nil
}

// nodeBinary finds node.
func nodeBinary(opts Options) (string, error) {
	name := opts.Node
	if name == "" {
		name = "node"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("less: node not found (%v): scd compiles LESS with less.js, which needs Node.js >= 18; install it (Debian/Ubuntu: apt-get install nodejs npm; or from https://nodejs.org)", err)
	}
	return p, nil
}

// moduleDir is the directory whose node_modules holds the less the workers
// load (see the package doc), or "" for require.resolve('less') from the
// working directory.
func moduleDir(opts Options) (string, error) {
	if opts.ModuleDir != "" {
		return checkModuleDir(opts.ModuleDir, "the less module directory")
	}
	if d := os.Getenv("SCD_LESS_DIR"); d != "" {
		return checkModuleDir(d, "SCD_LESS_DIR")
	}
	if d := driverPackageDir(); d != "" && hasLess(d) {
		return d, nil
	}
	return "", nil
}

func checkModuleDir(dir, what string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("less: %s %s: %w", what, dir, err)
	}
	if !hasLess(abs) {
		return "", missingLess(fmt.Sprintf("%s %s has no node_modules/less", what, abs), abs)
	}
	return abs, nil
}

func hasLess(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", "less", "package.json"))
	return err == nil
}

// driverPackageDir is this package's directory in the source tree the binary was
// built from, if the build recorded an absolute path (not with -trimpath).
func driverPackageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(file)
}

// missingLess is the error when less is not found: it says what to run.
// dir is where it was looked for, "" for the working directory.
func missingLess(why, dir string) error {
	prefix := dir
	if prefix == "" {
		if c, err := os.UserCacheDir(); err == nil {
			prefix = filepath.Join(c, "scd", "less")
		} else {
			prefix = filepath.Join(os.TempDir(), "scd-less")
		}
	}
	return fmt.Errorf("less: less.js not found (%s). scd compiles LESS with less.js %s; install it with\n"+
		"    npm install --prefix %s less@%s\n"+
		"and set SCD_LESS_DIR=%s (or run scd in a directory whose node_modules has less 4; in scd's repository, make less-deps)",
		why, pinnedVersion, prefix, pinnedVersion, prefix)
}

// Version identifies the less.js a Pool with opts would run, without
// starting node, for cache keys: the version in its package.json, or, when
// less is left to node's resolution from the working directory, that
// directory. A less that cannot be found gives "" (Compile then fails with
// the reason).
func Version(opts Options) string {
	dir, err := moduleDir(opts)
	if err != nil {
		return ""
	}
	if dir == "" {
		wd, _ := os.Getwd()
		return "resolved from " + wd
	}
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "less", "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct{ Version string }
	if json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Version
}
