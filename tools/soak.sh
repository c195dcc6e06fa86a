#!/bin/bash
# tools/soak.sh [BUILD] [SECS] — a sanitizer soak, not part of make test.
#
# Runs BUILD/ringlb (build/asan by default: `make asan` builds it; build/tsan
# for TSan) with 2 workers on its own loopback address for SECS seconds (40)
# under wrk keep-alive (-c40) and Connection: close (-c20) on an http
# listener, rounds of 20 L4 echo clients x 4 MiB through a tcp listener, and
# a reload every 1.2 s that swaps the http listener's pool. Then SIGTERM.
# Passes when every reload is ok, wrk saw no socket error or non-2xx, ringlb
# exits 0 with memory back at zero and no sanitizer report. Every process it
# starts is stopped by PID.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/asan}
secs=${2:-40}
case $build in /*) ;; *) build=$top/$build ;; esac
rlb=$build/ringlb
echo_bin=$top/build/test/tools/echo
l4client=$top/build/test/tools/l4client
for f in "$rlb" "$echo_bin" "$l4client"; do
	[ -x "$f" ] || { echo "soak: $f missing (make asan / make tsan, make all)" >&2; exit 2; }
done
command -v wrk > /dev/null || { echo "soak: wrk missing" >&2; exit 2; }

dir=$(mktemp -d /tmp/ringlb-soak.XXXXXX)
ip=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).1
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
}
trap cleanup EXIT

conf() { # $1: the http listener's pool
	cat << EOF
workers: 2
listeners:
  - { name: web, bind: "$ip:8088", mode: http, pool: $1, max_connections: 2000 }
  - { name: l4, bind: "$ip:8080", mode: tcp, pool: echo, splice: auto, max_connections: 2000 }
  - { name: s-blue, bind: "$ip:8081", mode: static, body: "blue\n", max_connections: 2000 }
  - { name: s-green, bind: "$ip:8082", mode: static, body: "green\n", max_connections: 2000 }
pools:
  - { name: blue, backends: [ { address: "$ip:8081" } ] }
  - { name: green, backends: [ { address: "$ip:8082" } ] }
  - { name: echo, backends: [ { address: "$ip:7001" } ] }
EOF
}
conf blue > "$dir/cur.yaml"

export TSAN_OPTIONS="suppressions=$top/test/tsan.supp ${TSAN_OPTIONS:-}"
"$echo_bin" -l "$ip:7001" -m echo > "$dir/echo.log" 2>&1 &
pids+=($!)
"$rlb" -c "$dir/cur.yaml" > "$dir/ringlb.log" 2>&1 &
rlb_pid=$!
pids+=($rlb_pid)
for _ in $(seq 100); do
	grep -q "^ringlb: ready" "$dir/ringlb.log" && break
	sleep 0.1
done
grep -q "^ringlb: ready" "$dir/ringlb.log" || { echo "soak: ringlb not ready:"; tail "$dir/ringlb.log"; exit 1; }

wrk -t1 -c40 -d"${secs}s" "http://$ip:8088/" > "$dir/wrk-ka.log" 2>&1 &
w1=$!
wrk -t1 -c20 -H "Connection: close" -d"${secs}s" "http://$ip:8088/" > "$dir/wrk-close.log" 2>&1 &
w2=$!
pids+=($w1 $w2)
(
	end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		"$l4client" -c "$ip:8080" -m echo -n 20 -b 4MiB --timeout 60 > /dev/null 2>&1 ||
			echo "l4client failed" >> "$dir/l4.log"
	done
) &
l4=$!
pids+=($l4)
i=0
end=$((SECONDS + secs))
while [ $SECONDS -lt $end ]; do
	i=$((i + 1))
	if [ $((i % 2)) = 1 ]; then conf green > "$dir/next.yaml"; else conf blue > "$dir/next.yaml"; fi
	mv "$dir/next.yaml" "$dir/cur.yaml"
	kill -HUP $rlb_pid
	sleep 1.2
done
wait $w1 $w2 $l4
kill -TERM $rlb_pid
wait $rlb_pid
rc=$?

fail=0
ok=$(grep -cE "reload generation=[0-9]+ ok$" "$dir/ringlb.log")
bad=$(grep -cE "reload generation=[0-9]+ failed$" "$dir/ringlb.log")
echo "soak: $i reloads: $ok ok, $bad failed; ringlb exit $rc"
[ "$bad" = 0 ] && [ "$ok" -ge $((i - 1)) ] && [ "$rc" = 0 ] || fail=1
grep -h "Requests/sec" "$dir"/wrk-*.log | sed 's/^/soak: wrk /'
if grep -qE "Socket errors|Non-2xx" "$dir"/wrk-*.log; then
	grep -hE "Socket errors|Non-2xx" "$dir"/wrk-*.log | sed 's/^/soak: wrk /'
	fail=1
fi
[ -f "$dir/l4.log" ] && { echo "soak: $(wc -l < "$dir/l4.log") L4 rounds failed"; fail=1; }
grep -E "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error|LeakSanitizer" \
	"$dir/ringlb.log" > /dev/null && { echo "soak: sanitizer report in $dir/ringlb.log"; fail=1; }
line=$(grep "^ringlb: exit memory" "$dir/ringlb.log")
echo "soak: $line"
case $line in *"current=0 "*"buffers_in_use=0"*) ;; *) fail=1 ;; esac
if [ $fail = 0 ]; then
	echo "soak: PASS"
	rm -rf "$dir"
else
	echo "soak: FAIL (logs in $dir)"
fi
exit $fail
