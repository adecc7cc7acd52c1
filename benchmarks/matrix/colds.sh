#!/bin/sh
# Cold builds of a large synthetic matrix, scd binaries alternated (see
# benchmarks/RESULTS.md). Usage:
#
#   benchmarks/matrix/colds.sh CORPUS OUT CACHE ROUNDS SCD...
#
# CORPUS is what scd-gen wrote (themes.yml and its sources). Before each
# build the output, its spare tree and the cache are removed, so every
# build is a cold one. ROUNDS times, each binary builds in turn, timed by
# /usr/bin/time (wall, user and system seconds, peak memory); the stages
# that weigh most are read from -v.
set -eu
corpus=$1 out=$2 cache=$3 rounds=$4
shift 4
t=$(mktemp) log=$(mktemp)
trap 'rm -f "$t" "$log"' EXIT
for r in $(seq "$rounds"); do
	for bin in "$@"; do
		rm -rf "$out" "$cache" "$(dirname "$out")/.$(basename "$out").prev"
		/usr/bin/time -f "%e s, %U u, %S s, %M KB" -o "$t" "$bin" --matrix "$corpus/themes.yml" -o "$out" \
			--cache-dir "$cache" --progress none -v >"$log" 2>&1
		stages=$(grep '^ *phases' "$log" | tr ',' '\n' |
			grep -E '^ (bundle|assemble|save cache pack|write: job directories and build.json) ' | tr '\n' ';')
		echo "$(basename "$bin") $r: $(cat "$t") | $stages"
	done
done
