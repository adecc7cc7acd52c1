#!/bin/sh
# Rebuilds of a Magento project against a cold build, one kind of change at a
# time (see benchmarks/RESULTS.md). Usage:
#
#   benchmarks/magento/rebuilds.sh MAGENTO_ROOT OUT CACHE [scd flags...]
#
# MAGENTO_ROOT is edited and restored (a file appended to, a row changed, a
# theme override added and removed); each edit's rebuild and its undoing's
# are timed. The edits assume Magento 2.4's blank and
# luma themes, the Catalog module and a pack under app/i18n whose CSV is
# named by PACK_CSV. Each rebuild is timed with -v so that its stages are
# logged to OUT.log.
set -eu
root=$1 out=$2 cache=$3
shift 3
scd=${SCD:-scd}
csv=${PACK_CSV:-app/i18n/mageplaza/ar_sa/ar_SA.csv}
js=vendor/magento/module-catalog/view/frontend/web/js/list.js
less=vendor/magento/theme-frontend-luma/web/css/source/_theme.less
override=vendor/magento/theme-frontend-luma/Magento_Catalog/web/js/list.js
cd "$root"
log=$out.log
if [ -e "$override" ]; then
	echo "rebuilds.sh: $override exists; the benchmark adds it and removes it" >&2
	exit 2
fi
# Whatever happens, the project is left as it was found.
# (the highest directory of the override's path that is not there yet,
# removed with it)
made=
d=$(dirname "$override")
while [ ! -d "$d" ]; do
	made=$d
	d=$(dirname "$d")
done
cleanup() {
	for f in "$js" "$csv" "$less"; do
		if [ -f "$f.scd-bench" ]; then mv "$f.scd-bench" "$f"; fi
	done
	rm -f "$override"
	if [ -n "$made" ]; then rm -rf "$made"; fi
}
trap cleanup EXIT
: >"$log"

run() { # name: one build, timed
	start=$(date +%s.%N)
	"$scd" --magento-root . -o "$out" --cache-dir "$cache" -v "$@" >>"$log" 2>&1
	end=$(date +%s.%N)
	awk "BEGIN { print $end - $start }"
}
edit() { cp "$1" "$1.scd-bench"; }
restore() { mv "$1.scd-bench" "$1"; }

rm -rf "$out" "$cache"
cold=$(run "$@")
printf '%-28s %8.3f s\n' cold "$cold"
report() { printf '%-28s %8.3f s %6.1f%%\n' "$1" "$2" "$(awk "BEGIN { print 100 * $2 / $cold }")"; }
run "$@" >/dev/null # the spare tree
report "nothing changed" "$(run "$@")"

edit "$js"
echo ';window.scdBench=(window.scdBench||0)+1;' >>"$js"
report "one module JS file" "$(run "$@")"
restore "$js"; report "  undone" "$(run "$@")"

edit "$csv"
awk 'NR==100{sub(/","/, "\",\"(edited) ")} {print}' "$csv.scd-bench" >"$csv"
report "one translation row" "$(run "$@")"
restore "$csv"; report "  undone" "$(run "$@")"

edit "$less"
echo '.scd-bench { color: #123456; }' >>"$less"
report "one LESS partial (luma)" "$(run "$@")"
# The compile stage of that rebuild is luma's less.js compiles: the bound.
grep 'phase=process' "$log" | tail -1 | sed 's/.*wall=/  (its compile stage: /; s/$/)/'
restore "$less"; report "  undone" "$(run "$@")"

mkdir -p "$(dirname "$override")"
cp "$js" "$override"
echo ';window.scdOverride=1;' >>"$override"
report "one theme override added" "$(run "$@")"
rm "$override"; report "  undone" "$(run "$@")"

# Edit after edit, as CI sees it on every commit: the module JS file edited
# and undone STEADY times (default 8) more. By now the spare tree is one a
# rebuild recorded (see the package documentation of builder), which the
# first rebuilds above do not have. The median of those 2 × STEADY rebuilds.
steady=${STEADY:-8}
times=
for i in $(seq "$steady"); do
	edit "$js"
	echo ";window.scdBench=$i;" >>"$js"
	times="$times $(run "$@")"
	restore "$js"
	times="$times $(run "$@")"
done
report "module JS, edit after edit" "$(echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }')"
