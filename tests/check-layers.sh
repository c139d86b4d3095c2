#!/usr/bin/env bash
# check-layers.sh - calls and includes inside the daemon go down only.
#
# The layer table is tests/layers.txt (one line per layer, top to bottom).
# Two checks, over every .c/.h under daemon/, transports/, common/ and shm/:
#   includes  each #include "..." that resolves to a file of a layer must name
#             the including file's layer or a lower one;
#   symbols   each global symbol an object leaves undefined (nm -u) and another
#             object of the set defines (nm -g --defined-only) must be defined
#             in the same or a lower layer. That catches a local prototype
#             hiding an upward call, which the include check cannot see.
# A file under daemon/ or transports/ that no layer places is a failure too.
#
# Objects are read from $BUILD/obj/<path>.o (BUILD defaults to build), as
# `make` leaves them; `make check-layers` builds them first.
#
# usage: tests/check-layers.sh [--root DIR] [--layers FILE]
#        tests/check-layers.sh --self-test
# Exit status: 0 PASS, 1 violations, 2 usage or setup error.

set -u -o pipefail

SELF=$(realpath "$0")
ROOT=
LAYERS=
SELF_TEST=0
while [ $# -gt 0 ]; do
	case $1 in
	--root) ROOT=$2; shift 2 ;;
	--layers) LAYERS=$2; shift 2 ;;
	--self-test) SELF_TEST=1; shift ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$SELF"; exit 0 ;;
	*) echo "check-layers: unknown argument: $1" >&2; exit 2 ;;
	esac
done

# ---------------------------------------------------------------- self-test
# A tiny tree with two layers and a library: one upward include, one upward
# call through a local prototype, and downward uses that must not be reported.
# Then the same tree fixed must pass, and an unplaced file must fail.
self_test() {
	local tmp out rc fails=0 cc=${CC:-cc}
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-layers.XXXXXX") || exit 2
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/tests" "$tmp/daemon" "$tmp/common" "$tmp/build/obj/daemon" "$tmp/build/obj/common"
	cat >"$tmp/tests/layers.txt" <<-'EOF'
	# self-test table
	top:    daemon/top*.c
	bottom: daemon/bottom*.c daemon/shared.h
	lib:    common/*
	EOF
	cat >"$tmp/common/util.h" <<-'EOF'
	int msgr__util_twice(int x);
	EOF
	cat >"$tmp/common/util.c" <<-'EOF'
	#include "util.h"
	int msgr__util_twice(int x) { return 2 * x; }
	EOF
	cat >"$tmp/daemon/shared.h" <<-'EOF'
	#define SHARED_ONE 1
	EOF
	cat >"$tmp/daemon/top.h" <<-'EOF'
	#define TOP_MAGIC 7
	int msgr__top_run(void);
	EOF
	cat >"$tmp/daemon/bottom.h" <<-'EOF'
	#include "shared.h"
	int msgr__bottom_get(void);
	int msgr__bottom_cb(void);
	EOF
	cat >"$tmp/daemon/top.c" <<-'EOF'
	#include "top.h"
	#include "bottom.h"
	#include "common/util.h"
	int msgr__top_run(void) { return msgr__util_twice(msgr__bottom_get()) + SHARED_ONE; }
	EOF
	cat >"$tmp/daemon/bottom.c" <<-'EOF'
	#include "bottom.h"
	#include "top.h"
	int msgr__bottom_get(void) { return TOP_MAGIC; }
	EOF
	cat >"$tmp/daemon/bottom_cb.c" <<-'EOF'
	#include "bottom.h"
	#include "../common/util.h"
	int msgr__top_run(void); /* a local prototype: no include shows it */
	int msgr__bottom_cb(void) { return msgr__util_twice(msgr__top_run()); }
	EOF

	compile() {
		local c
		for c in "$@"; do
			"$cc" -std=c11 -I"$tmp" -c -o "$tmp/build/obj/${c%.c}.o" "$tmp/$c" || return 2
		done
	}
	expect() {	# expect RC PATTERN... : the last run exited RC and printed each PATTERN
		local want=$1 p before=$fails
		shift
		if [ "$rc" != "$want" ]; then
			echo "self-test: FAIL: $what: exit $rc, want $want"; fails=$((fails + 1))
		fi
		for p in "$@"; do
			if ! grep -qxF -- "$p" <<<"$out"; then
				echo "self-test: FAIL: $what: no line '$p'"; fails=$((fails + 1))
			fi
		done
		[ "$fails" = "$before" ] || { echo "---- output of that run:"; echo "$out"; echo "----"; }
	}
	run() { out=$(BUILD=build bash "$SELF" --root "$tmp" 2>&1); rc=$?; }

	compile common/util.c daemon/top.c daemon/bottom.c daemon/bottom_cb.c || exit 2

	what="upward include and upward call"
	run
	expect 1 \
		"daemon/bottom.c:2: includes daemon/top.h (layer top) from layer bottom" \
		"daemon/bottom_cb.o: calls msgr__top_run (defined in daemon/top.o, layer top) from layer bottom" \
		"check-layers: FAIL, 2 violation(s)"

	what="the same tree fixed"
	printf '#include "bottom.h"\nint msgr__bottom_get(void) { return 7; }\n' >"$tmp/daemon/bottom.c"
	rm -f "$tmp/daemon/bottom_cb.c" "$tmp/build/obj/daemon/bottom_cb.o"
	compile daemon/bottom.c || exit 2
	run
	expect 0 "check-layers: PASS"

	what="a file in no layer"
	printf 'int msgr__stray(void) { return 0; }\n' >"$tmp/daemon/stray.c"
	run
	expect 1 \
		"daemon/stray.c: in no layer of tests/layers.txt: add it to the line of the layer it belongs to" \
		"check-layers: FAIL, 1 violation(s)"

	what="a file placed twice"
	rm -f "$tmp/daemon/stray.c"
	sed -i 's|^bottom: |bottom: daemon/top.c |' "$tmp/tests/layers.txt"
	run
	expect 1 \
		"daemon/top.c: placed twice, in top and bottom: keep one" \
		"check-layers: FAIL, 1 violation(s)"

	if [ "$fails" != 0 ]; then
		echo "check-layers --self-test: FAIL"
		exit 1
	fi
	echo "check-layers --self-test: PASS (upward include, upward call, clean tree, unplaced file, file placed twice)"
	exit 0
}
[ "$SELF_TEST" = 1 ] && self_test

# ---------------------------------------------------------------- the check
[ -n "$ROOT" ] || ROOT=$(dirname "$SELF")/..
cd "$ROOT" || exit 2
[ -n "$LAYERS" ] || LAYERS=tests/layers.txt
BUILD=${BUILD:-build}
OBJ=$BUILD/obj
SCAN_DIRS="daemon transports common shm"	# checked for includes and symbols
PLACE_DIRS="daemon transports"			# every file here must be in a layer (common/ shm/ too if the table names them)

if [ ! -r "$LAYERS" ]; then
	echo "check-layers: cannot read $LAYERS" >&2
	exit 2
fi

# The table: NAMES[i], GLOBS[i]; i = 0 is the top.
NAMES=()
GLOBS=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%%#*}
	[[ $line =~ ^[[:space:]]*$ ]] && continue
	if ! [[ $line =~ ^[[:space:]]*([A-Za-z0-9_-]+)[[:space:]]*:(.*)$ ]]; then
		echo "check-layers: $LAYERS:$lineno: want 'name: glob ...'" >&2
		exit 2
	fi
	NAMES+=("${BASH_REMATCH[1]}")
	GLOBS+=("${BASH_REMATCH[2]}")
done <"$LAYERS"
if [ ${#NAMES[@]} = 0 ]; then
	echo "check-layers: $LAYERS has no layers" >&2
	exit 2
fi

# layer_of PATH: sets L to the index of PATH's layer, -1 if none; LWHY to a
# message when the table places it twice. A header no glob names follows
# its .c, and LFOLLOWS is then 1.
declare -A LCACHE=() LWHYCACHE=() LFOLLOWSCACHE=()
layer_of() {
	local p=$1 i g hit=-1 why='' follows=0
	if [ -n "${LCACHE[$p]+x}" ]; then
		L=${LCACHE[$p]}; LWHY=${LWHYCACHE[$p]}; LFOLLOWS=${LFOLLOWSCACHE[$p]}
		return
	fi
	for i in "${!NAMES[@]}"; do
		for g in ${GLOBS[i]}; do
			# shellcheck disable=SC2053 # $g is a pattern on purpose
			if [[ $p == $g ]]; then
				if [ "$hit" = -1 ]; then
					hit=$i
				elif [ "$hit" != "$i" ]; then
					why="placed twice, in ${NAMES[hit]} and ${NAMES[i]}: keep one"
				fi
				break
			fi
		done
	done
	if [ "$hit" = -1 ] && [[ $p == *.h ]] && [ -e "${p%.h}.c" ]; then
		layer_of "${p%.h}.c"
		hit=$L; why=$LWHY; follows=1
	fi
	LCACHE[$p]=$hit; LWHYCACHE[$p]=$why; LFOLLOWSCACHE[$p]=$follows
	L=$hit; LWHY=$why; LFOLLOWS=$follows
}

placed() { [ "$L" -ge 0 ] && [ -z "$LWHY" ]; }	# after layer_of: in exactly one layer

VIOL=0
violation() { echo "$*"; VIOL=$((VIOL + 1)); }

mapfile -t FILES < <(for d in $SCAN_DIRS; do [ -d "$d" ] && find "$d" -type f \( -name '*.c' -o -name '*.h' \); done | LC_ALL=C sort)

# Print the order, with the files each layer has today.
echo "Layer order, top to bottom ($LAYERS; calls and includes go down or stay in a layer):"
declare -A MEMBERS=()
for f in "${FILES[@]}"; do
	layer_of "$f"
	placed || continue
	# A header in its .c's layer adds nothing to the listing.
	[[ $f == *.h ]] && [ -e "${f%.h}.c" ] && continue
	MEMBERS[$L]+=" ${f}"
done
for i in "${!NAMES[@]}"; do
	printf '  %d. %-11s%s\n' $((i + 1)) "${NAMES[i]}" "${MEMBERS[$i]:- (no files yet)}"
done
echo

# 1. Every file in a layer, and in one only.
for f in "${FILES[@]}"; do
	layer_of "$f"
	if [ -n "$LWHY" ]; then
		[ "$LFOLLOWS" = 1 ] || violation "$f: $LWHY"	# once, for the .c
	elif [ "$L" = -1 ]; then
		top=${f%%/*}
		case " $PLACE_DIRS " in *" $top "*)
			violation "$f: in no layer of $LAYERS: add it to the line of the layer it belongs to" ;;
		esac
	fi
done

# 2. Includes. "x.h" resolves as the compiler would with -I. -Iinclude: next
# to the including file first, then from the top, then include/.
normalize() {	# normalize PATH: sets N to PATH without "." and ".." parts
	local part out=()
	local IFS=/
	for part in $1; do
		case $part in
		''|.) ;;
		..) if [ ${#out[@]} -gt 0 ] && [ "${out[-1]}" != .. ]; then unset 'out[-1]'; else out+=(..); fi ;;
		*) out+=("$part") ;;
		esac
	done
	N="${out[*]}"
}
while IFS=: read -r f n inc; do
	layer_of "$f"
	placed || continue
	from=$L
	target=
	for cand in "${f%/*}/$inc" "$inc" "include/$inc"; do
		if [ -f "$cand" ]; then
			normalize "$cand"
			target=$N
			break
		fi
	done
	[ -n "$target" ] || continue	# a system header, or one the compiler will complain about
	layer_of "$target"
	placed || continue	# reported above, or outside the layers (include/msgr.h)
	if [ "$L" -lt "$from" ]; then
		violation "$f:$n: includes $target (layer ${NAMES[L]}) from layer ${NAMES[from]}"
	fi
done < <([ ${#FILES[@]} = 0 ] || awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
		s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
		print FILENAME ":" FNR ":" s
	}' "${FILES[@]}")

# 3. Symbols. Which object defines each global symbol, then every undefined
# reference that one of those objects satisfies. One nm run for each, as nm
# takes tens of milliseconds to start.
declare -A DEF=() DEFTYPE=() OLAYER=()
OBJS=()
missing=0
for f in "${FILES[@]}"; do
	[[ $f == *.c ]] || continue
	layer_of "$f"
	placed || continue
	o=$OBJ/${f%.c}.o
	if [ ! -f "$o" ]; then
		missing=$((missing + 1))
		[ "$missing" -gt 3 ] || echo "check-layers: $o missing" >&2
		continue
	fi
	if [ "$o" -ot "$f" ]; then
		echo "check-layers: warning: $o is older than $f (make check-layers rebuilds it)" >&2
	fi
	OBJS+=("$o")
	OLAYER[$o]=$L
done
if [ "$missing" != 0 ]; then
	echo "check-layers: $missing object(s) missing under $OBJ/: build them first (make check-layers does)" >&2
	exit 2
fi
# nm -A prefixes each line with "object:".
nm_A() { nm -A "$@" "${OBJS[@]}" | awk '{ o = $1; sub(/:[^:]*$/, "", o); print o, $(NF - 1), $NF }'; }
if [ ${#OBJS[@]} != 0 ]; then
	while read -r o type sym; do
		DEF[$sym]+=" $o"
		DEFTYPE[$sym]=$type
	done < <(nm_A -g --defined-only)
	while read -r o type sym; do
		[ -n "${DEF[$sym]+x}" ] || continue	# libc, libuv, ...
		from=${OLAYER[$o]}
		case ${DEFTYPE[$sym]} in [TtWwi]) verb=calls ;; *) verb=uses ;; esac
		for d in ${DEF[$sym]}; do
			[ "$d" != "$o" ] || continue
			if [ "${OLAYER[$d]}" -lt "$from" ]; then
				violation "${o#"$OBJ"/}: $verb $sym (defined in ${d#"$OBJ"/}, layer ${NAMES[${OLAYER[$d]}]}) from layer ${NAMES[from]}"
			fi
		done
	done < <(nm_A -u)
fi

echo
if [ "$VIOL" != 0 ]; then
	echo "check-layers: FAIL, $VIOL violation(s)"
	exit 1
fi
echo "check-layers: PASS"
