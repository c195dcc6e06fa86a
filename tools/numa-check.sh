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
# listener on 127.0.0.1:18080 balancing over two static listeners), wait for
# "ringlb: ready pid=N generation=G" on its stderr, show numactl --hardware,
# the placement lines, numa-report PID and /proc/PID/numa_maps resident
# pages per node, drive HTTP requests from a client pinned to the first
# CPU of each node (busybox taskset + wget), show numa_maps again, then
# SIGTERM ringlb and wait for it to exit.
#
# Checks (the guest script exits 1 if one fails, and so does this script):
# the ready line names ringlb's PID; there is one placement line per worker
# and a summary line; each worker's CPU has a thread of ringlb pinned to it
# alone; unless RINGLB_NUMA_FAKE is set, each worker's node and memory node
# are the guest kernel's node of its CPU; every request gets a "hello from"
# body; ringlb exits with status 0 within 30 s of SIGTERM.
#
# Environment: NUMAVM_DIR (default ../shared/numa-vm from the checkout),
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
#include "core/log.h"
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
		"$top"/core/log.c -lnuma -lpthread
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
    timeouts: { connect: 5s, drain: 2s }
  - name: static-a
    bind: 127.0.0.1:$((port + 1))
    mode: static
    body: "hello from static-a\n"
  - name: static-b
    bind: 127.0.0.1:$((port + 2))
    mode: static
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
		echo "NODES='$nodes' PORT=$port"
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
echo "== traffic: clients pinned to the first CPU of each node"
for nd in /sys/devices/system/node/node[0-9]*; do
	n=${nd##*/node}
	cpu=$(sed 's/[-,].*//' "$nd/cpulist")
	[ -n "$cpu" ] || continue
	ok=0
	for k in 1 2 3 4; do
		body=$(taskset -c "$cpu" timeout 20 wget -q -O - "http://127.0.0.1:$PORT/" 2>&1)
		case $body in
		*"hello from"*) ok=$((ok + 1)) ;;
		*) bad "client on cpu $cpu (node $n), request $k: got '$body'" ;;
		esac
	done
	echo "client on cpu $cpu (node $n): $ok/4 answered; last: $body"
done

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
echo "== ringlb log"
cat /tmp/ringlb.err /tmp/ringlb.out
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
