#!/bin/bash
# Random edits of a real Magento 2.4 tree, each rebuilt with the cache and
# compared with a cold --no-cache build of the same sources (diff -r). The
# by-hand counterpart, on a real project, of the builder's
# TestMagentoRandomEditsEqualCold. Usage:
#
#   benchmarks/magento/random-edits.sh MAGENTO_ROOT WORKDIR ROUNDS SEED [scd flags...]
#
# SCD names the binary (default scd). Each round makes one edit, kept for
# the rounds after it (but a pack row, which is edited in the pack as it
# was before the first round, replacing an earlier row's edit): a module's
# JS file appended to or deleted, a LESS partial of blank or luma, a
# module's template, a row of the pack whose CSV PACK_CSV names, a
# module's en_US.csv, a module's requirejs-config.js, or an override of a
# module's JS file added to luma. It prints one line
# per round and exits non-zero when a rebuild differs from its cold build
# or fails where the cold build does not. Every edit is undone at the end.
set -u
root=$1 work=$2 rounds=$3 seed=$4
shift 4
scd=${SCD:-scd}
csv=${PACK_CSV:-app/i18n/mageplaza/ar_sa/ar_SA.csv}
RANDOM=$seed
cd "$root"
undo=$(mktemp)
undoall() {
	tac "$undo" | while read -r op f; do
		case $op in
		restore) mv "$f.scd-edit" "$f" ;;
		remove) rm -f "$f" ;;
		rmtree) rm -rf "$f" ;;
		esac
	done
	rm -f "$undo"
}
trap undoall EXIT
keep() { # the file as it was, for undoall (once: the first edit's)
	if grep -qxF -e "restore $1" -e "remove $1" "$undo"; then
		return
	fi
	if [ -e "$1" ]; then
		cp -p "$1" "$1.scd-edit"
		echo "restore $1" >>"$undo"
	else
		echo "remove $1" >>"$undo"
	fi
}
pick() { # one of the files a glob matches, at random
	local all
	mapfile -t all < <(compgen -G "$1" | sort)
	echo "${all[$((RANDOM % ${#all[@]}))]}"
}
mkdirs() { # the directories of a new file, removed at the end
	local d top=
	d=$(dirname "$1")
	while [ ! -d "$d" ]; do top=$d; d=$(dirname "$d"); done
	if [ -n "$top" ]; then echo "rmtree $top" >>"$undo"; fi
	mkdir -p "$(dirname "$1")"
}
inc=$work/incremental cold=$work/cold
rm -rf "$work"
mkdir -p "$work"
if ! "$scd" --magento-root . -o "$inc" --cache-dir "$work/cache" "$@" >"$work/first.log" 2>&1; then
	echo "the first build failed: $work/first.log" >&2
	exit 1
fi
fail=0
for r in $(seq "$rounds"); do
	n=$RANDOM
	case $((RANDOM % 8)) in
	0) f=$(pick 'vendor/magento/module-*/view/frontend/web/js/*.js'); keep "$f"
		echo ";window.scdEdit$n=$n;" >>"$f"; what="JS $f" ;;
	1) f=$(pick 'vendor/magento/theme-frontend-*/web/css/source/_*.less'); keep "$f"
		printf '.scd-edit-%s { color: #%06x; }\n' "$n" $((n * 97 % 16777215)) >>"$f"; what="LESS $f" ;;
	2) f=$(pick 'vendor/magento/module-*/view/frontend/web/template/*.html'); keep "$f"
		echo "<span data-bind=\"i18n: 'Edit $n'\"></span>" >>"$f"; what="template $f" ;;
	3) f=$csv; keep "$f"
		awk -v row=$((n % 500 + 2)) -v n="$n" 'NR == row { sub(/","/, "\",\"(edit " n ") ") } { print }' "$f.scd-edit" >"$f"
		what="a row of $f" ;;
	4) f=$(pick 'vendor/magento/module-*/view/frontend/web/js/*.js'); keep "$f"
		rm "$f"; what="deleted $f" ;;
	5) src=$(pick 'vendor/magento/module-*/view/frontend/web/js/*.js')
		module=$(grep -o "'Magento_[A-Za-z]*'" "${src%%/view/*}/registration.php" | tr -d "'")
		f=vendor/magento/theme-frontend-luma/$module/web/${src#*/view/frontend/web/}; keep "$f"; mkdirs "$f"
		cp "$src" "$f"; echo ";window.scdOverride$n=1;" >>"$f"; what="override $f" ;;
	6) f=$(pick 'vendor/magento/module-*/view/frontend/requirejs-config.js'); keep "$f"
		printf "\nvar config = { map: { '*': { scdEdit%s: 'Magento_Theme/js/edit%s' } } };\n" "$n" "$n" >>"$f"
		what="requirejs-config.js $f" ;;
	7) f=$(pick 'vendor/magento/module-*/i18n/en_US.csv'); keep "$f"
		echo "\"Edited phrase $n\",\"Edited $n\"" >>"$f"; what="dictionary $f" ;;
	esac
	start=$(date +%s.%N)
	"$scd" --magento-root . -o "$inc" --cache-dir "$work/cache" "$@" >"$work/incremental.log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	rm -rf "$cold"
	"$scd" --magento-root . -o "$cold" --no-cache "$@" >"$work/cold.log" 2>&1
	rcCold=$?
	if [ $rc != $rcCold ]; then
		echo "round $r ($what): exit $rc with the cache, $rcCold cold"
		fail=1
	elif [ $rc != 0 ]; then
		echo "round $r ($what): both failed (exit $rc), as they should alike"
	elif diff -r -q "$inc" "$cold" >"$work/diff.txt"; then
		echo "round $r ($what): equal, rebuilt in $(awk "BEGIN { printf \"%.3f\", $end - $start }") s"
	else
		echo "round $r ($what): DIFFERS from the cold build: $(head -3 "$work/diff.txt")"
		fail=1
	fi
done
exit $fail
