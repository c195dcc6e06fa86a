#!/bin/sh
# Runs one libFuzzer harness on its committed seeds for SECS seconds.
#   test/fuzz/run.sh BUILD NAME SECS [CORPUS]
# NAME is h1, req, resp, chunked, proxy, config, values, env, admin or tls (the
# fuzz_ prefix may stay);
# BUILD is a build folder, relative to the top or absolute. The binary is
# BUILD/fuzz/fuzz_NAME, the seeds test/fuzz/corpus/NAME/, the dictionary
# test/fuzz/NAME.dict if there is one. Each seed is run once first; then
# new inputs go to CORPUS (default BUILD/fuzz/corpus/NAME, kept between
# runs) while the committed seeds are read, never written. A crash, leak,
# timeout or sanitizer report makes the exit status non-zero: on a seed,
# the last line names it; found while fuzzing, its input is left in
# BUILD/fuzz/artifacts/. `make fuzz` and
# test/integration/test_fuzz.py both run harnesses through this script.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
case "$1" in
/*) build=$1 ;;
*) build="$top/$1" ;;
esac
name=${2#fuzz_}
secs=$3
bin="$build/fuzz/fuzz_$name"
seeds="$top/test/fuzz/corpus/$name"
corpus=${4:-"$build/fuzz/corpus/$name"}
arts="$build/fuzz/artifacts"
log="$build/fuzz/$name-seeds.log"

if [ ! -x "$bin" ]; then
	echo "fuzz: no harness $bin (make fuzz-build)" >&2
	exit 2
fi
if [ ! -d "$seeds" ]; then
	echo "fuzz: no seed corpus $seeds" >&2
	exit 2
fi
# The longest input worth mutating: a head and a body, a config file, a
# chunked body fed at every split (quadratic), one value; for admin, past
# its 8 KiB head bound (431).
case "$name" in
chunked) max_len=1024 ;;
values) max_len=512 ;;
admin) max_len=16384 ;;
*) max_len=4096 ;;
esac
set -- -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$arts/$name-"
if [ -f "$top/test/fuzz/$name.dict" ]; then
	set -- "$@" -dict="$top/test/fuzz/$name.dict"
fi
mkdir -p "$corpus" "$arts"
# Every committed seed first, whole (fuzzing cuts inputs at max_len), so
# that a regression of a fixed crash names its seed.
if ! "$bin" -timeout=10 -artifact_prefix="$arts/$name-" "$seeds"/* >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	seed=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
	echo "fuzz: $name fails on the committed seed $seed (log: $log)" >&2
	exit 1
fi
echo "fuzz: $name for ${secs}s, seeds $seeds, corpus $corpus"
exec "$bin" "$@" "$corpus" "$seeds"
