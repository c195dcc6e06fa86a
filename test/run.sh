#!/bin/sh
# Runs every test of one build: the Check unit binaries, then the
# integration tests. Each has a time limit. Ends with "N passed, N failed".
#   test/run.sh BUILD [NAME...]   NAME filters by substring
set -u
build=${1:-build}
shift || true
filter="$*"
top=$(cd "$(dirname "$0")/.." && pwd)
export RLB_BIN="$top/$build/ringlb"
export RLB_BUILD="$top/$build"
export RLB_TOP="$top"
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
# Sanitized builds run slower; give tests room.
case "$build" in
*asan* | *tsan*) export RLB_SLOW=1; export CK_TIMEOUT_MULTIPLIER=4 ;;
esac
export TSAN_OPTIONS="suppressions=$top/test/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
logdir="$top/$build/test-logs"
mkdir -p "$logdir"

passed=0
failed=0
failures=""

wanted() {
	[ -z "$filter" ] && return 0
	for f in $filter; do
		case "$1" in *"$f"*) return 0 ;; esac
	done
	return 1
}

# Reads "N passed, N failed" or Check's "Checks: N, Failures: F, Errors: E".
count() {
	name=$1 rc=$2 log=$3
	line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		p=$((n - f - e))
		bad=$((f + e))
	else
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
		if [ -n "$line" ]; then
			p=${line%% passed*}
			bad=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
		else
			p=0
			bad=1
		fi
	fi
	# A crash or sanitizer report fails the whole file even if cases passed.
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	passed=$((passed + p))
	failed=$((failed + bad))
	if [ "$bad" -eq 0 ]; then
		printf 'PASS %-32s %s\n' "$name" "$p passed"
	else
		printf 'FAIL %-32s %s passed, %s failed (rc=%s, log: %s)\n' "$name" "$p" "$bad" "$rc" "$log"
		failures="$failures $name"
		# The failing cases first (a Python test's "FAIL name: why" and
		# its traceback, a Check case's ":F:" or ":E:" line), then the end.
		grep -A 12 -E '^FAIL |:[EF]:' "$log" | head -n 60 | sed 's/^/    ! /'
		tail -n 30 "$log" | sed 's/^/    | /'
	fi
}

for t in "$top/$build"/test/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	wanted "$name" || continue
	log="$logdir/$name.log"
	timeout -k 5 300 "$t" >"$log" 2>&1
	count "$name" $? "$log"
done

if [ -z "${RLB_ONLY_UNIT:-}" ]; then
	for t in "$top"/test/integration/test_*.py "$top"/test/integration/test_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t")
		wanted "$name" || continue
		log="$logdir/$name.log"
		case "$t" in
		*.py) timeout -k 5 400 python3 "$t" >"$log" 2>&1 ;;
		*.sh) timeout -k 5 400 sh "$t" >"$log" 2>&1 ;;
		esac
		count "$name" $? "$log"
	done
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
