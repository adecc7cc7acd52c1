#!/bin/sh
# One translation row of a large synthetic matrix edited and undone in
# turn, scd binaries alternated over one output (see benchmarks/RESULTS.md).
# Usage:
#
#   benchmarks/matrix/rows.sh CORPUS OUT CACHE ROUNDS SCD...
#
# CORPUS is what scd-gen wrote (themes.yml, app/design/frontend/Acme/base);
# its fr_FR dictionary of Acme/base, the parent of a quarter of the themes,
# is edited and restored. OUT and CACHE are removed first and built cold by
# the first binary. Then, ROUNDS times, each binary in turn rebuilds, the
# row edited or undone by turns; each build is timed by /usr/bin/time
# (wall, user and system seconds, peak memory) and a rebuild's stages are
# read from -v. The binaries must share a cache key (the same
# -X main.version), or each rebuild after another binary's is a cold one.
set -eu
corpus=$1 out=$2 cache=$3 rounds=$4
shift 4
csv=$corpus/app/design/frontend/Acme/base/i18n/fr_FR.csv
t=$(mktemp) log=$(mktemp)
cp "$csv" "$csv.scd-bench"
trap 'mv "$csv.scd-bench" "$csv"; rm -f "$t" "$log"' EXIT
# (the output, the cache and the spare tree beside the output)
rm -rf "$out" "$cache" "$(dirname "$out")/.$(basename "$out").prev"
build() { # bin: one build with -v into $log, timed into $t
	/usr/bin/time -f "%e s, %U u, %S s, %M KB" -o "$t" "$1" --matrix "$corpus/themes.yml" -o "$out" \
		--cache-dir "$cache" --progress none -v >"$log" 2>&1
}
build "$1"
echo "cold ($(basename "$1")): $(cat "$t")"
k=0
for r in $(seq "$rounds"); do
	for bin in "$@"; do
		k=$((k + 1))
		if [ $((k % 2)) = 1 ]; then
			awk 'NR==5 { sub(/"$/, " (edited)\"") } { print }' "$csv.scd-bench" >"$csv"
			what=row
		else
			cp "$csv.scd-bench" "$csv"
			what=undone
		fi
		build "$bin"
		stages=$(grep '^ *phases' "$log" | tr ',' '\n' |
			grep -E '^ (cache check|job records|write: job directories and build.json|write: fingerprint|save cache state) ' | tr '\n' ';')
		echo "$(basename "$bin") $r $what: $(cat "$t") | $stages"
	done
done
