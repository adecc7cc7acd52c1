#!/usr/bin/env bash
# The per-locale CLI script that teams run today, for the peer comparison in
# benchmarks/RESULTS.md: for every theme × locale, materialize the fallback
# chain into a directory, bundle the entries with the esbuild CLI, minify the
# other files with tdewolff's minify CLI, then precompress with the gzip,
# brotli and zstd CLIs. It does not translate (that would only add work).
#
#   percli.sh CORPUS OUT [PARALLEL]
#
# CORPUS is a directory written by scd-gen (themes.yml, app/design, lib/web);
# jobs run PARALLEL at a time (default 2, the same parallelism as scd -j 2).
# Needs esbuild, minify, gzip, brotli and zstd on PATH.
set -euo pipefail
corpus=$(cd "$1" && pwd)
out=$2
par=${3:-2}
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)

# The jobs: "theme parent locale" per line, from the generated themes.yml
# (scd-gen writes one theme per block: name, [parent], locales).
awk '
  /^  - name: / { if (name) print name, (parent ? parent : "-"), locs; name=$3; parent=""; locs="" }
  /^    parent: / { parent=$2 }
  /^    locales: / { gsub(/[\[\],]/, " "); $1=""; locs=$0 }
  END { if (name) print name, (parent ? parent : "-"), locs }
' "$corpus/themes.yml" | while read -r theme parent locales; do
  for l in $locales; do echo "$theme $parent $l"; done
done > "$out/jobs.txt"

job() {
  local theme=$1 parent=$2 locale=$3
  local src=$out/src/$theme/$locale dst=$out/pub/frontend/$theme/$locale
  mkdir -p "$src" "$dst"
  # Fallback: library, parent, theme, then the locale overrides, each over the last.
  cp -r "$corpus/lib/web/." "$src/"
  [ "$parent" != "-" ] && cp -r "$corpus/app/design/frontend/$parent/web/." "$src/"
  cp -r "$corpus/app/design/frontend/$theme/web/." "$src/"
  for t in $parent $theme; do
    [ "$t" != "-" ] && [ -d "$corpus/app/design/frontend/$t/web/i18n/$locale" ] &&
      cp -r "$corpus/app/design/frontend/$t/web/i18n/$locale/." "$src/"
  done
  rm -rf "$src/i18n"
  # Every file minified (or copied) by the minify CLI; then the entries bundled
  # over their minified copies.
  minify -q -r -s -o "$dst/" "$src/" >/dev/null
  NODE_PATH=$src esbuild "$src"/js/*.js "$src"/css/*.css --bundle --minify --log-level=error \
    --outdir="$dst" --outbase="$src" --external:'*.png' --external:'*.svg' --external:'*.woff2' --external:'*.woff'
  # Precompress what is worth it.
  find "$dst" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' -o -name '*.json' \) -size +255c > "$dst.list"
  xargs -a "$dst.list" gzip -6 -k -f
  xargs -a "$dst.list" brotli -q 6 -k -f
  xargs -a "$dst.list" zstd -q -3 -k -f
  rm "$dst.list"
}
export -f job
export out corpus
xargs -a "$out/jobs.txt" -P "$par" -L 1 bash -c 'job $0 $1 $2'
