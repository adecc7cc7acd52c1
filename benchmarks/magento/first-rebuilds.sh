#!/bin/sh
# The first rebuilds after a cold build, binaries alternated (see
# benchmarks/RESULTS.md, "Records of trees written whole"). Usage:
#
#   benchmarks/magento/first-rebuilds.sh MAGENTO_ROOT OUT CACHE SERIES SCD... [-- scd flags...]
#
# For each of SERIES series and each scd binary in turn: a cold build (OUT
# and CACHE removed first), then the Catalog module's list.js edited (the
# first rebuild: no spare tree, the tree written whole), undone (over the
# cold tree) and edited again (over the tree written whole). The last two
# are timed by /usr/bin/time: wall, user and system seconds. MAGENTO_ROOT
# is left as it was found.
set -eu
root=$1 out=$2 cache=$3 series=$4
shift 4
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ $# -gt 0 ] && shift # --
js=vendor/magento/module-catalog/view/frontend/web/js/list.js
cd "$root"
cp "$js" "$js.scd-bench"
trap 'mv "$js.scd-bench" "$js"' EXIT
t=$(mktemp)
build() { "$bin" --magento-root . -o "$out" --cache-dir "$cache" -q "$@" >/dev/null 2>&1; }
for s in $(seq "$series"); do
	for bin in $bins; do
		rm -rf "$out" "$cache" "$(dirname "$out")/.$(basename "$out").prev"
		build "$@"
		echo ";window.scdFirst=1$s;" >>"$js"
		build "$@"
		cp "$js.scd-bench" "$js"
		/usr/bin/time -f "%e %U %S" -o "$t" "$bin" --magento-root . -o "$out" --cache-dir "$cache" -q "$@" >/dev/null 2>&1
		undone=$(cat "$t")
		echo ";window.scdFirst=2$s;" >>"$js"
		/usr/bin/time -f "%e %U %S" -o "$t" "$bin" --magento-root . -o "$out" --cache-dir "$cache" -q "$@" >/dev/null 2>&1
		cp "$js.scd-bench" "$js"
		echo "$bin: undone $undone | edited again $(cat "$t")"
	done
done
rm -f "$t"
