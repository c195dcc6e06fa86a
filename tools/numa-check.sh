#!/bin/bash
# tools/numa-check.sh - run ringlb in the two-node QEMU guest of numa-vm and
# check where its workers and memory land.
#
# usage: tools/numa-check.sh [-b BIN] [-n NODES] [-t SECS] [-v] [--stand-in]
#
#   -b BIN       the binary to run (default build/ringlb, or $BUILD/ringlb)
#   -n NODES     --nodes for ringlb (default 0,1)
#   -t SECS      limit for the whole VM run (default 420; TCG is slow)
#   -v           stream the guest console (numa-vm run.sh -v)
#   --stand-in   run a stand-in instead of ringlb: a small program built here
#                from numa/*.c that discovers, places (same --nodes), logs
#                the placement lines, pins one thread per worker, touches
#                8 MiB from each, answers HTTP on the front port and logs
#                the ready line. It checks the plumbing while ringlb is
#                unfinished, and numa/ on a real two-node topology.
#
# In the guest: ringlb -c /etc/ringlb/numa-check.yaml --nodes NODES (a tcp
# listener on 127.0.0.1:18080 balancing over two static listeners, all with
# steering: cpu), wait for "ringlb: ready pid=N generation=G" on its
# stderr, show numactl --hardware, the placement lines, numa-report PID and
# /proc/PID/numa_maps resident pages per node; from a client pinned to each
# worker's CPU in turn (busybox taskset + wget) send 4 HTTP requests, with
# a SIGUSR1 stats snapshot before and after; then list, from /proc/PID/maps
# and numa_maps, the mapping of every pool class (max_count x class size,
# from the snapshot's pool lines) and of every connection table (the
# connection component / workers, within a page) with its bound node and
# resident pages per node; SIGTERM ringlb and wait for it to exit.
#
# Checks (the guest script exits 1 if one fails, and so does this script):
# the ready line names ringlb's PID; there is one placement line per worker
# and a summary line; each worker's CPU has a thread of ringlb pinned to it
# alone; unless RINGLB_NUMA_FAKE is set, each worker's node and memory node
# are the guest kernel's node of its CPU; every request gets a "hello from"
# body; the requests of a client pinned to CPU c are all accepted by the
# worker on CPU c (no other worker's accepted counter moves); each node's
# pool classes are mappings bound to that node, each node holds one
# connection table per worker whose memory node it is, and no page of a
# mapping bound to a node is resident elsewhere; ringlb exits with status 0
# within 30 s of SIGTERM. (--stand-in skips the stats and memory checks.)
#
# Environment: NUMAVM_DIR (default ../shared/numa-vm from the checkout),
# NUMAVM_CACHE (default: the harness's .cache, or ~/.cache/numa-vm when the
# harness folder is read-only),
# RINGLB_NUMA_FAKE and RINGLB_LOG_LEVEL are passed into the guest when set;
# NUMAVM_* settings reach run.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
vm=${NUMAVM_DIR:-$top/../shared/numa-vm}
bin=$top/${BUILD:-build}/ringlb
nodes=0,1
limit=420
verbose=
standin=0
port=18080

usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
	case $1 in
	-b) bin=$2; shift 2 ;;
	-n) nodes=$2; shift 2 ;;
	-t) limit=$2; shift 2 ;;
	-v) verbose=-v; shift ;;
	--stand-in) standin=1; shift ;;
	-h | --help) usage 0 ;;
	*) usage ;;
	esac
done
log() { echo "numa-check: $*" >&2; }
[ -x "$vm/run.sh" ] || { log "no numa-vm harness at $vm (set NUMAVM_DIR)"; exit 2; }
# The harness keeps its kernel and initramfs in $vm/.cache; a read-only
# checkout of it needs another place.
if [ -z "${NUMAVM_CACHE:-}" ] && ! [ -w "$vm" ] && ! [ -w "$vm/.cache" ]; then
	export NUMAVM_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/numa-vm
	log "$vm is read-only: caching in $NUMAVM_CACHE"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/numa-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The stand-in: numa/ placement with pinned threads, the ready line, HTTP.
build_standin() {
	cat > "$tmp/standin.c" <<'EOF'
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include "core/base/log.h"
#include "numa/cpulist.h"
#include "numa/place.h"

static struct topo topo;
static struct placement pl;
static pthread_barrier_t ready;
static int lfd;

static void *worker(void *arg)
{
	struct place_worker *w = arg;
	size_t len = 8 << 20;
	char req[512], resp[256], body[128];
	char *mem;
	int c, n;

	if (place_pin_self(w->cpu) < 0)
		log_err("stand-in: pin cpu %d failed", w->cpu);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem != MAP_FAILED)
		memset(mem, 1, len); /* first touch after pinning: node-local */
	pthread_barrier_wait(&ready);
	for (;;) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		if (read(c, req, sizeof(req)) < 0)
			req[0] = 0;
		n = snprintf(body, sizeof(body), "hello from stand-in worker on cpu %d node %d\n",
			     w->cpu, w->node);
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			     n, body);
		if (write(c, resp, n) < 0)
			log_warn("stand-in: write: %s", strerror(errno));
		close(c);
	}
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	cpu_set_t cpus, nodes, *cp = NULL, *np = NULL;
	unsigned nworkers = 0, i;
	char err[256];
	pthread_t th;
	sigset_t ss;
	int sig;

	for (i = 1; i + 1 < (unsigned)argc; i += 2) {
		if (!strcmp(argv[i], "--nodes") && !cpulist_parse(argv[i + 1], &nodes, err, 256))
			np = &nodes;
		else if (!strcmp(argv[i], "--cpus") && !cpulist_parse(argv[i + 1], &cpus, err, 256))
			cp = &cpus;
		else if (!strcmp(argv[i], "--workers"))
			nworkers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-c"))
			return log_err("stand-in: bad argument %s %s", argv[i], argv[i + 1]), 2;
	}
	if (topo_discover(&topo, err, sizeof(err)) < 0 ||
	    place_workers(&topo, cp, np, nworkers, &pl, err, sizeof(err)) < 0)
		return log_err("%s", err), 1;
	place_log(&pl, &topo);
	lfd = listen_on(atoi(getenv("NUMACHECK_PORT") ? getenv("NUMACHECK_PORT") : "18080"));
	if (lfd < 0)
		return log_err("stand-in: listen: %s", strerror(errno)), 1;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	pthread_barrier_init(&ready, NULL, pl.nworkers + 1);
	for (i = 0; i < pl.nworkers; i++)
		pthread_create(&th, NULL, worker, &pl.w[i]);
	pthread_barrier_wait(&ready);
	log_info("ready pid=%d generation=1", (int)getpid());
	sigwait(&ss, &sig);
	log_info("stand-in: signal %d, exiting", sig);
	return 0;
}
EOF
	gcc -std=gnu11 -O2 -Wall -D_GNU_SOURCE -I"$top" -o "$tmp/ringlb" "$tmp/standin.c" \
		"$top"/numa/cpulist.c "$top"/numa/topo.c "$top"/numa/fake.c "$top"/numa/place.c \
		"$top"/core/base/log.c -lnuma -lpthread
	bin=$tmp/ringlb
}

write_config() {
	cat > "$tmp/numa-check.yaml" <<EOF
# numa-check: a tcp listener balancing over two static listeners
workers: auto
admin:
  bind: 127.0.0.1:19090
listeners:
  - name: front
    bind: 127.0.0.1:$port
    mode: tcp
    pool: statics
    max_connections: 256
    steering: cpu
    timeouts: { connect: 5s, drain: 2s }
  - name: static-a
    bind: 127.0.0.1:$((port + 1))
    mode: static
    max_connections: 256
    steering: cpu
    body: "hello from static-a\n"
  - name: static-b
    bind: 127.0.0.1:$((port + 2))
    mode: static
    max_connections: 256
    steering: cpu
    body: "hello from static-b\n"
pools:
  - name: statics
    algorithm: round_robin
    backends:
      - { address: 127.0.0.1:$((port + 1)), weight: 1 }
      - { address: 127.0.0.1:$((port + 2)), weight: 1 }
EOF
}

# The guest's command file (busybox sh, cwd /files). Settings first, then
# the fixed body.
write_guest() {
	{
		echo "NODES='$nodes' PORT=$port STANDIN=$standin"
		echo "export NUMACHECK_PORT=$port"
		[ -n "${RINGLB_NUMA_FAKE:-}" ] && echo "export RINGLB_NUMA_FAKE='$RINGLB_NUMA_FAKE'"
		[ -n "${RINGLB_LOG_LEVEL:-}" ] && echo "export RINGLB_LOG_LEVEL='$RINGLB_LOG_LEVEL'"
		cat <<'EOF'
fail=0
bad() { echo "numa-check: FAIL: $*"; fail=1; }
node_of_cpu() {
	for d in /sys/devices/system/cpu/cpu"$1"/node*; do
		[ -e "$d" ] && { echo "${d##*/node}"; return; }
	done
	echo "?"
}
# resident pages per node of /proc/$1/numa_maps
numa_pages() {
	awk '{ for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) {
			split(substr($i, 2), a, "="); n[a[1]] += a[2]; if (a[1] > m) m = a[1] } }
	     END { printf "numa_maps resident pages:"
		   for (i = 0; i <= m; i++) printf " node%d=%d", i, n[i]; printf "\n" }' "/proc/$1/numa_maps"
}

# SIGUSR1, then the lines of that stats snapshot into /tmp/snap
snapshot() {
	ns=$(grep -c '^ringlb: stats end$' /tmp/ringlb.err)
	kill -USR1 "$pid"
	i=0
	while [ "$(grep -c '^ringlb: stats end$' /tmp/ringlb.err)" -le "$ns" ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || { bad "no stats snapshot 30 s after SIGUSR1"; return 1; }
		sleep 0.1
	done
	awk -v n="$ns" '/^ringlb: stats end$/ { k++; next } k == n && /^ringlb: stats / { print }' \
		/tmp/ringlb.err > /tmp/snap
}
# the value of KEY=VALUE $1 in line $2
field() {
	echo " $2 " | sed -n "s/.* $1=\([^ ]*\) .*/\1/p"
}
# accepted count of worker $1 in snapshot file $2
accepted_of() {
	sed -n "s/^ringlb: stats worker=$1 .* accepted=\([0-9]*\) .*/\1/p" "$2"
}
# "START SIZE POLICY_NODE NODE:PAGES..." for each mapping of $pid bound to a
# node (numa_maps policy prefer:N or bind:N), sizes from /proc/PID/maps
bound_areas() {
	while read -r range _; do
		echo "${range%-*} $((0x${range#*-} - 0x${range%-*}))"
	done < "/proc/$pid/maps" > /tmp/sizes
	while read -r addr pol rest; do
		case $pol in prefer:[0-9]* | bind:[0-9]*) ;; *) continue ;; esac
		size=$(awk -v a="$addr" '$1 == a { print $2 }' /tmp/sizes)
		pages=$(echo "$rest" | tr ' ' '\n' | sed -n 's/^N\([0-9]*\)=\([0-9]*\)$/\1:\2/p' | tr '\n' ' ')
		echo "$addr ${size:-0} ${pol#*:} $pages"
	done < "/proc/$pid/numa_maps"
}
# pages of area line $@ (from bound_areas) on its own node / on other nodes
pages_on() {
	own=0 off=0 nd=$3
	shift 3
	for np in "$@"; do
		if [ "${np%%:*}" = "$nd" ]; then own=$((own + ${np#*:})); else off=$((off + ${np#*:})); fi
	done
}

echo "== numactl --hardware"
numactl --hardware
echo
echo "== ringlb -c /etc/ringlb/numa-check.yaml --nodes $NODES${RINGLB_NUMA_FAKE:+ (RINGLB_NUMA_FAKE=$RINGLB_NUMA_FAKE)}"
./ringlb -c /etc/ringlb/numa-check.yaml --nodes "$NODES" > /tmp/ringlb.out 2> /tmp/ringlb.err &
pid=$!
i=0
while ! grep -q '^ringlb: ready pid=[0-9]* generation=[0-9]*' /tmp/ringlb.err; do
	if ! kill -0 "$pid" 2> /dev/null; then
		wait "$pid"
		echo "numa-check: FAIL: ringlb exited with status $? before it was ready; its log:"
		cat /tmp/ringlb.err /tmp/ringlb.out
		exit 1
	fi
	i=$((i + 1))
	if [ $i -ge 1200 ]; then
		echo "numa-check: FAIL: no ready line after 120 s; its log:"
		cat /tmp/ringlb.err
		kill -KILL "$pid"
		exit 1
	fi
	sleep 0.1
done
ready=$(grep -m1 '^ringlb: ready pid=' /tmp/ringlb.err)
echo "$ready (after ~$((i / 10)) s)"
[ "${ready#ringlb: ready pid=$pid }" != "$ready" ] || bad "ready line does not name pid $pid"

echo
echo "== placement"
grep '^ringlb: placement: ' /tmp/ringlb.err
nw=0
for w in $(sed -n 's/^ringlb: placement: worker \([0-9]*\) cpu \([0-9]*\) node \([0-9]*\) (memory node \(-*[0-9]*\))$/\2:\3:\4/p' /tmp/ringlb.err); do
	cpu=${w%%:*}; rest=${w#*:}; node=${rest%%:*}; mem=${rest#*:}
	nw=$((nw + 1))
	pinned=0
	for t in /proc/"$pid"/task/*; do
		[ "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status")" = "$cpu" ] && pinned=1
	done
	[ $pinned = 1 ] || bad "worker on cpu $cpu: no thread of pid $pid is pinned to cpu $cpu alone"
	if [ -z "${RINGLB_NUMA_FAKE:-}" ]; then
		kn=$(node_of_cpu "$cpu")
		[ "$node" = "$kn" ] || bad "worker on cpu $cpu: placement says node $node, the kernel says $kn"
		[ "$mem" = "$kn" ] || bad "worker on cpu $cpu: memory node $mem, the kernel says node $kn"
	fi
done
[ $nw -gt 0 ] || bad "no placement: worker lines"
summary=$(grep -m1 '^ringlb: placement: [0-9]* workers on [0-9]* nodes' /tmp/ringlb.err || true)
[ -n "$summary" ] || bad "no placement summary line"
[ -z "$summary" ] || [ "${summary#ringlb: placement: $nw workers }" != "$summary" ] ||
	bad "summary line does not count $nw workers: $summary"

echo
echo "== numa-report $pid (before traffic)"
numa-report "$pid"
numa_pages "$pid"

echo
echo "== traffic: clients pinned to each CPU; steering: cpu sends each to the worker on that CPU"
for cpu in $(sed -n 's/^ringlb: placement: worker [0-9]* cpu \([0-9]*\) .*/\1/p' /tmp/ringlb.err); do
	n=$(node_of_cpu "$cpu")
	wid=$(sed -n "s/^ringlb: placement: worker \([0-9]*\) cpu $cpu .*/\1/p" /tmp/ringlb.err)
	[ $STANDIN = 1 ] || snapshot
	cp /tmp/snap /tmp/snap.before 2> /dev/null || true
	ok=0
	for k in 1 2 3 4; do
		body=$(taskset -c "$cpu" timeout 20 wget -q -O - "http://127.0.0.1:$PORT/" 2>&1)
		case $body in
		*"hello from"*) ok=$((ok + 1)) ;;
		*) bad "client on cpu $cpu (node $n), request $k: got '$body'" ;;
		esac
	done
	echo "client on cpu $cpu (node $n): $ok/4 answered; last: $body"
	[ $STANDIN = 1 ] && continue
	snapshot
	line="  accepted since the last snapshot:"
	for w in $(sed -n 's/^ringlb: stats worker=\([0-9]*\) .*/\1/p' /tmp/snap); do
		a=$(($(accepted_of "$w" /tmp/snap) - $(accepted_of "$w" /tmp/snap.before)))
		wcpu=$(sed -n "s/^ringlb: stats worker=$w cpu=\([0-9]*\) node=\([0-9]*\) .*/\1/p" /tmp/snap)
		wnode=$(sed -n "s/^ringlb: stats worker=$w cpu=\([0-9]*\) node=\([0-9]*\) .*/\2/p" /tmp/snap)
		line="$line worker $w (cpu $wcpu node $wnode)=$a"
		if [ "$w" = "$wid" ]; then
			[ $a -ge 4 ] || bad "client on cpu $cpu: its worker $w accepted $a, expected the 4 requests at least"
		else
			[ $a -eq 0 ] || bad "client on cpu $cpu (node $n): worker $w on cpu $wcpu node $wnode accepted $a"
		fi
	done
	echo "$line"
done

if [ $STANDIN = 0 ]; then
	echo
	echo "== memory: each pool class and each connection table, from /proc/$pid/numa_maps"
	snapshot
	bound_areas > /tmp/areas
	nw=$(grep -c '^ringlb: stats worker=' /tmp/snap)
	# A table's size: the connection component of the snapshot before the
	# traffic (after it, the component also holds what connections
	# attached) per worker, within a page: the component also has a few
	# hundred bytes per worker that are not the table (the HTTP slabs'
	# records), and a table's mapping may have merged with a neighbour's
	# page.
	conn=$(sed -n 's/^ringlb: stats memory component=connection current=\([0-9]*\) .*/\1/p' /tmp/snap.before)
	pg=$(getconf PAGESIZE 2> /dev/null || echo 4096)
	table=$((conn / nw))
	grep '^ringlb: stats pool ' /tmp/snap > /tmp/snap.pools
	while read -r pline; do
		node=$(field node "$pline") cls=$(field class "$pline") maxc=$(field max "$pline")
		case $cls in 4KB) b=4096 ;; 16KB) b=16384 ;; 64KB) b=65536 ;; 256KB) b=262144 ;; esac
		size=$((maxc * b))
		area=$(awk -v s="$size" -v n="$node" '$2 == s && $3 == n' /tmp/areas | head -1)
		if [ -z "$area" ]; then
			bad "pool node=$node class=$cls: no mapping of $size bytes bound to node $node"
			continue
		fi
		pages_on $area
		echo "pool node=$node class=$cls: mapping ${area%% *}, $size bytes, bound to node $node; resident pages on node $node: $own, elsewhere: $off"
		[ $off -eq 0 ] || bad "pool node=$node class=$cls: $off resident pages off node $node"
	done < /tmp/snap.pools
	for nd in $(sed -n 's/^ringlb: placement: worker [0-9]* cpu [0-9]* node [0-9]* (memory node \([0-9]*\))$/\1/p' /tmp/ringlb.err | sort -u); do
		want=$(grep -c "^ringlb: placement: worker .* (memory node $nd)$" /tmp/ringlb.err)
		got=0
		for area in $(awk -v s="$table" -v p="$pg" -v n="$nd" '$2 > s - p && $2 < s + p && $3 == n { print $1 }' /tmp/areas); do
			pages_on $(grep "^$area " /tmp/areas)
			echo "connection table: mapping $area, $(awk -v a="$area" '$1 == a { print $2 }' /tmp/areas) bytes, bound to node $nd; resident pages on node $nd: $own, elsewhere: $off"
			[ $off -eq 0 ] || bad "connection table $area: $off resident pages off node $nd"
			[ $own -gt 0 ] || bad "connection table $area: no page resident"
			got=$((got + 1))
		done
		echo "node $nd: $got connection tables of ~$table bytes for the $want workers whose memory node it is"
		[ $got -eq $want ] || bad "node $nd: $got connection tables bound to it, $want workers"
	done
	off=0
	while read -r area; do
		pages_on $area
		[ $off -eq 0 ] || bad "mapping ${area%% *} bound to node $(echo $area | cut -d' ' -f3): $off pages elsewhere"
	done < /tmp/areas
	echo "every mapping bound to a node: $(wc -l < /tmp/areas) mappings, $(awk '{ for (i = 4; i <= NF; i++) { split($i, a, ":"); if (a[1] == $3) own += a[2]; else off += a[2] } } END { printf "%d pages on their node, %d elsewhere", own, off }' /tmp/areas)"
fi

echo
echo "== numa-report $pid (after traffic)"
numa-report "$pid"
numa_pages "$pid"

echo
echo "== SIGTERM"
read -r t0 _ < /proc/uptime
kill -TERM "$pid"
# watchdog: SIGKILL after 30 s (wait then reports 137)
(sleep 30 && kill -KILL "$pid" 2> /dev/null) &
dog=$!
wait "$pid"
rc=$?
kill "$dog" 2> /dev/null
read -r t1 _ < /proc/uptime
[ $rc -eq 137 ] && bad "ringlb still running 30 s after SIGTERM (killed)"
echo "ringlb exited with status $rc, $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s after SIGTERM"
[ $rc -eq 0 ] || bad "ringlb exit status $rc"

echo
echo "== ringlb log (stats snapshots left out: their figures are above)"
grep -v '^ringlb: stats ' /tmp/ringlb.err
cat /tmp/ringlb.out
echo
[ $fail = 0 ] && echo "numa-check: PASS" || echo "numa-check: FAIL"
exit $fail
EOF
	} > "$tmp/guest.sh"
}

[ $standin = 1 ] && build_standin
[ -x "$bin" ] || { log "no binary at $bin (make, or -b BIN, or --stand-in)"; exit 2; }
write_config
write_guest
log "running $bin in the two-node guest (TCG: allow a few minutes)"
set +e
nice -n 10 "$vm/run.sh" $verbose -t "$limit" "$tmp/guest.sh" "$bin:/files/ringlb" \
	"$tmp/numa-check.yaml:/etc/ringlb/numa-check.yaml"
rc=$?
set -e
[ $rc -eq 0 ] && log "PASS" || log "FAIL (guest status $rc)"
exit $rc
