#!/bin/sh
# Builds in CI, where the output, its spare tree and the cache come back
# from the CI system's cache between runs: with new inodes, so the output is
# read back rather than probed (see README, "In CI"). Usage:
#
#   benchmarks/magento/ci.sh MAGENTO_ROOT WORKDIR [scd flags...]
#
# SCD names the binary (default scd). In WORKDIR (removed first): a cold
# build, then the Catalog module's list.js edited and undone (which leaves a
# spare tree); the three directories go through a tar round trip, and from
# that same archive each of these is timed: nothing changed, list.js edited,
# list.js edited without the spare tree, and nothing changed with the cache
# alone. MAGENTO_ROOT is left as it was found.
set -eu
root=$1 work=$2
shift 2
scd=${SCD:-scd}
js=vendor/magento/module-catalog/view/frontend/web/js/list.js
cd "$root"
cp "$js" "$js.scd-bench"
tarball=$(mktemp)
trap 'mv "$js.scd-bench" "$js"; rm -f "$tarball"' EXIT
rm -rf "$work"
mkdir -p "$work"
run() { # one build, timed; its log in WORKDIR/build.log
	start=$(date +%s.%N)
	"$scd" --magento-root . -o "$work/out" --cache-dir "$work/cache" "$@" >"$work/build.log" 2>&1
	end=$(date +%s.%N)
	awk "BEGIN { print $end - $start }"
}
restore() {
	rm -rf "$work/out" "$work/.out.prev" "$work/cache"
	(cd "$work" && tar -xf "$tarball")
}
edit() { cp "$js.scd-bench" "$js"; echo ";window.scdCI=$1;" >>"$js"; }
cold=$(run "$@")
printf '%-36s %8.3f s\n' cold "$cold"
report() { printf '%-36s %8.3f s %6.1f%%\n' "$1" "$2" "$(awk "BEGIN { print 100 * $2 / $cold }")"; }
edit 0
run "$@" >/dev/null
cp "$js.scd-bench" "$js"
run "$@" >/dev/null
(cd "$work" && tar -cf "$tarball" out .out.prev cache)

restore
report "restored, nothing changed" "$(run --json "$@")"
grep -o '"previous_output": *"[^"]*"' "$work/build.log" | sed 's/^/  /'
restore
edit 1
report "restored, list.js edited" "$(run "$@")"
restore
rm -rf "$work/.out.prev"
edit 2
report "  the same without the spare tree" "$(run "$@")"
cp "$js.scd-bench" "$js"
restore
rm -rf "$work/out" "$work/.out.prev"
report "the cache alone, nothing changed" "$(run "$@")"
