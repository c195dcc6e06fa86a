#!/bin/sh
# One-way dependencies, read from the built objects' symbol tables (nm):
#   - the balancing family: lb.c calls the algorithms (lb_*.c) through their
#     struct lb_algo_ops; no lb_*.o uses a symbol of lb.o or of another lb_*.o;
#   - numa: topo.c calls fake.c (topo__fake_env), fake.o uses nothing of topo.o;
#   - config: no config/*.o uses a symbol defined in core/.
# Prints one line per check and "N passed, N failed".
set -u
build=${RLB_BUILD:-build}
passed=0
failed=0

# defined FILE...: the external symbols the objects define.
defined() {
	nm --defined-only "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDRBCGSV]$/ { print $3 }' | sort -u
}

# undefined FILE...: the symbols the objects use but do not define.
undefined() {
	nm -u "$@" 2>/dev/null | awk 'NF >= 2 { print $2 }' | sort -u
}

# check NAME USER-OBJECTS... -- PROVIDER-OBJECTS...: no symbol of the
# providers is used by the users.
check() {
	name=$1
	shift
	users=""
	while [ "$1" != "--" ]; do
		users="$users $1"
		shift
	done
	shift
	for f in $users "$@"; do
		if [ ! -f "$f" ]; then
			echo "FAIL $name: $f is not built"
			failed=$((failed + 1))
			return
		fi
	done
	# shellcheck disable=SC2086
	undefined $users >"$tmp/u"
	defined "$@" >"$tmp/d"
	bad=$(comm -12 "$tmp/u" "$tmp/d")
	if [ -z "$bad" ]; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		printf 'FAIL %s: %s\n' "$name" "$(echo "$bad" | tr '\n' ' ')"
		failed=$((failed + 1))
	fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

algos="rr wrr lc p2c maglev"
for a in $algos; do
	check "lb_$a.o uses nothing of lb.o" "$build/core/lb_$a.o" -- "$build/core/lb.o"
	others=""
	for b in $algos; do
		[ "$b" = "$a" ] || others="$others $build/core/lb_$b.o"
	done
	# shellcheck disable=SC2086
	check "lb_$a.o uses no other algorithm" "$build/core/lb_$a.o" -- $others
done
check "fake.o uses nothing of topo.o" "$build/numa/fake.o" -- "$build/numa/topo.o"
# shellcheck disable=SC2046
check "config uses nothing of core" $(ls "$build"/config/*.o) -- $(ls "$build"/core/*.o)

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
