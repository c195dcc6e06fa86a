"""NUMA placement: the placement the test computes itself against the
placement log and the stats snapshot (RINGLB_NUMA_FAKE=2, --cpus 0-1), each
worker thread's CPU affinity, the node binding of every pool and connection
table seen from /proc/PID/numa_maps, and steering: cpu sending a pinned
client to the worker on its CPU, also on a listener a reload added."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CONFIG = """
workers: auto
listeners:
  - name: l4
    bind: {addr}:7000
    mode: tcp
    pool: echo
    steering: {steering}
    max_connections: 512
pools:
  - name: echo
    algorithm: round_robin
    backends:
      - {{ address: {addr}:7001 }}
"""

PAGE = os.sysconf("SC_PAGE_SIZE")
CLASS_BYTES = {"4KB": 4 << 10, "16KB": 16 << 10, "64KB": 64 << 10, "256KB": 256 << 10}


def online():
    return sorted(os.sched_getaffinity(0))


def need_two_cpus():
    if not {0, 1} <= set(online()):
        raise lib.TestFailure("needs CPUs 0 and 1 in the affinity mask, have %s" % online())


def real_node_of(cpu):
    """The kernel's node of <cpu>, or -1 without NUMA (no node folders)."""
    for d in os.listdir("/sys/devices/system/cpu/cpu%d" % cpu):
        if re.fullmatch(r"node\d+", d):
            return int(d[4:])
    return -1


def fake_nodes(cpus, n):
    """RINGLB_NUMA_FAKE=<n> as DESIGN.md and numa/fake.c define it: the
    online CPUs, ascending, split into <n> contiguous groups, the first
    len % n one CPU larger; memory of a group from the real node of its
    first CPU. Returns {cpu: (node, memory node)}."""
    base, extra = divmod(len(cpus), n)
    out, k = {}, 0
    for g in range(n):
        size = base + (1 if g < extra else 0)
        group = cpus[k:k + size]
        k += size
        for c in group:
            out[c] = (g, real_node_of(group[0]))
    return out


def expected_placement(chosen, nodes):
    """Workers on <chosen> CPUs ordered by node then CPU: [(cpu, node, mem)]."""
    return sorted(((c,) + nodes[c] for c in chosen), key=lambda w: (w[1], w[0]))


def start(steering="hash", args=("--cpus", "0-1"), fake="2", admin=True):
    addr = lib.loopback()
    e = lib.echo(addr + ":7001")
    env = {"RINGLB_NUMA_FAKE": fake} if fake else {}
    if not admin:
        env["RINGLB_ADMIN_ENABLED"] = "false"
    r = lib.Ringlb(CONFIG.format(addr=addr, steering=steering), args=list(args), env=env)
    return addr, e, r


def placement(r):
    rx = re.compile(r"^ringlb: placement: worker (\d+) cpu (\d+) node (\d+) \(memory node (-?\d+)\)$")
    out = []
    for line in r.output().splitlines():
        m = rx.match(line)
        if m:
            out.append(tuple(int(x) for x in m.groups()))
    return out


def workers(r):
    """The per-worker lines of a stats snapshot, by worker id."""
    return {lib.kv(l)["worker"]: lib.kv(l) for l in r.stats() if l.startswith("ringlb: stats worker=")}


def pinned_l4client(cpu, target, conns, nbytes=1000):
    argv = ["taskset", "-c", str(cpu), os.path.join(lib.TOOLS, "l4client"), "-c", target,
            "-n", str(conns), "-b", str(nbytes), "-m", "echo", "--timeout", str(30 * lib.SLOW)]
    p = lib.Proc(argv, name="l4client@%d" % cpu)
    rc = p.wait(60)
    m = re.search(r"^l4client: done (.*)$", p.output(), re.M)
    check(m, "l4client on cpu %d printed no done line:\n%s" % (cpu, p.tail()))
    d = lib.kv(m.group(1))
    check(rc == 0 and d["ok"] == conns and d["failed"] == 0,
          "l4client on cpu %d: rc=%s %s" % (cpu, rc, d))


def test_fake_two_nodes_placement_log_and_stats_match_the_computed_placement():
    need_two_cpus()
    want = expected_placement([0, 1], fake_nodes(online(), 2))
    addr, e, r = start()
    got = placement(r)
    check([(w[1], w[2], w[3]) for w in got] == want and [w[0] for w in got] == list(range(len(want))),
          "placement log %s, computed %s" % (got, want))
    if len(online()) == 2:
        check([(c, n) for c, n, _ in want] == [(0, 0), (1, 1)], "CPU 0 -> node 0, CPU 1 -> node 1: %s" % want)
    nnodes = len({n for _, n, _ in want})
    r.wait_line(r"^ringlb: placement: %d workers on %d nodes \(fake\)$" % (len(want), nnodes))
    r.wait_line(r"^ringlb: numa: RINGLB_NUMA_FAKE=2: 2 pretend nodes over %d CPUs; " % len(online()))
    # Enough connections that the kernel's hash gives every worker some.
    rc, d = lib.l4client(addr + ":7000", 200, 1000, "echo")
    check(rc == 0 and d["ok"] == 200, "l4client rc=%s %s" % (rc, d))
    ws = workers(r)
    check(sorted(ws) == list(range(len(want))), "stats workers %s" % sorted(ws))
    for i, (cpu, node, _) in enumerate(want):
        check(ws[i]["cpu"] == cpu and ws[i]["node"] == node,
              "stats worker=%d cpu=%s node=%s, computed cpu %d node %d" % (i, ws[i]["cpu"], ws[i]["node"], cpu, node))
        check(ws[i]["accepted"] > 0, "worker %d accepted no connection: %s" % (i, ws[i]))
    check(sum(w["accepted"] for w in ws.values()) == 200, "accepted %s" % [w["accepted"] for w in ws.values()])
    s = r.finish()
    check(s["accepted"] == 200, "summary accepted=%s" % s["accepted"])


def affinities(pid):
    """Cpus_allowed_list of every thread of <pid>, as sets."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            m = re.search(r"^Cpus_allowed_list:\s*(\S+)$", f.read(), re.M)
        cpus = set()
        for part in m.group(1).split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        out.append(cpus)
    return out


def test_each_worker_thread_is_pinned_to_one_cpu_of_cpus():
    need_two_cpus()
    for cpus, want in (("0-1", [0, 1]), ("1", [1])):
        addr, e, r = start(args=("--cpus", cpus), fake=None)
        got = [w[1] for w in placement(r)]
        check(got == want, "--cpus %s placed %s" % (cpus, got))
        aff = affinities(r.pid)
        pinned = sorted(next(iter(a)) for a in aff if len(a) == 1)
        check(pinned == want, "--cpus %s: threads pinned to one CPU: %s (all: %s)" % (cpus, pinned, aff))
        # The control thread keeps the whole mask it was started with.
        check(set(online()) in aff, "no thread with the full mask %s: %s" % (online(), aff))
        r.finish()
        e.stop()


def numa_maps(pid):
    """[(start, size, policy, {node: pages})] of the bound areas of <pid>."""
    sizes = {}
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            a, b = line.split()[0].split("-")
            sizes[int(a, 16)] = int(b, 16) - int(a, 16)
    out = []
    with open("/proc/%d/numa_maps" % pid) as f:
        for line in f:
            fields = line.split()
            m = re.fullmatch(r"(prefer|bind):(\d+)", fields[1])
            if not m:
                continue
            pages = {int(k[1:]): int(v) for k, v in (x.split("=") for x in fields[2:])
                     if re.fullmatch(r"N\d+", k)}
            start = int(fields[0], 16)
            out.append((start, sizes.get(start, 0), int(m.group(2)), pages))
    return out


def test_each_pool_and_connection_table_is_bound_to_its_memory_node():
    """get_mempolicy(MPOL_F_ADDR) seen from outside: numa_maps prints each
    mapping's policy. Every pool class (max_count x class size) and every
    worker's connection table (its share of the connection component) is
    a mapping of its own (nodemem's guard pages), bound to the memory node
    the placement names, its resident pages on that node."""
    need_two_cpus()
    # The admin endpoint's records make worker 0's table larger than the
    # others': off here, so that every table has the size computed below.
    addr, e, r = start(admin=False)
    want_mem = sorted({w[3] for w in placement(r)})
    nworkers = len(placement(r))
    # The tables' size from before any traffic: a splicing connection then
    # maps the side array of transport state (conn_xctx()), connection
    # memory too but a mapping of its own.
    conn0 = [lib.kv(l) for l in r.stats() if l.startswith("ringlb: stats memory component=connection ")][0]
    rc, d = lib.l4client(addr + ":7000", 100, 64 << 10, "echo")
    check(rc == 0 and d["ok"] == 100, "l4client rc=%s %s" % (rc, d))
    snap = r.stats()
    if want_mem == [-1]:
        r.finish()
        return  # no NUMA here: nothing is bound (test_place covers the fallback)
    pools = [lib.kv(l) for l in snap if l.startswith("ringlb: stats pool ")]
    table = -(-conn0["current"] // nworkers // PAGE) * PAGE
    areas = numa_maps(r.pid)
    for a in areas:
        off = {n: p for n, p in a[3].items() if n != a[2] and p}
        check(not off, "area %#x bound to node %d has pages on %s" % (a[0], a[2], off))
    for p in pools:
        size = p["max"] * CLASS_BYTES[p["class"]]
        hits = [a for a in areas if a[1] == size and a[2] == p["node"]]
        check(p["node"] in want_mem, "pool on node %s, placement memory nodes %s" % (p["node"], want_mem))
        check(len(hits) >= 1, "pool node=%s class=%s: no area of %d bytes bound to it in %s" %
              (p["node"], p["class"], size, areas))
        if p["puts"]:  # buffers that carried data were written: resident
            check(sum(h[3].get(p["node"], 0) for h in hits) > 0,
                  "pool node=%s class=%s: no page resident" % (p["node"], p["class"]))
    tables = [a for a in areas if a[1] == table]
    check(len(tables) == nworkers, "%d areas of %d bytes (one connection table per worker), found %s" %
          (nworkers, table, tables))
    check(sorted(a[2] for a in tables) == sorted(w[3] for w in placement(r)),
          "connection tables bound to %s, placement memory nodes %s" %
          ([a[2] for a in tables], [w[3] for w in placement(r)]))
    for a in tables:
        check(a[3].get(a[2], 0) > 0, "connection table %#x: no page resident on node %d" % (a[0], a[2]))
    r.finish()


def steer_check(r, target, rounds):
    """For each (cpu, worker) of <rounds>: 20 connections from a client
    pinned to cpu are all accepted by that worker."""
    for cpu, wid in rounds:
        before = workers(r)
        pinned_l4client(cpu, target, 20)
        after = workers(r)
        delta = {i: after[i]["accepted"] - before[i]["accepted"] for i in after}
        want = {i: (20 if i == wid else 0) for i in after}
        check(delta == want, "client on cpu %d: accepted per worker %s, expected %s" % (cpu, delta, want))


def test_steering_cpu_sends_a_pinned_client_to_the_worker_on_its_cpu():
    need_two_cpus()
    addr, e, r = start(steering="cpu")
    by_cpu = {w[1]: w[0] for w in placement(r)}
    check(sorted(by_cpu) == [0, 1], "placement %s" % placement(r))
    steer_check(r, addr + ":7000", [(c, by_cpu[c]) for c in (0, 1, 1, 0)])
    r.finish()


def test_steering_cpu_on_a_listener_a_reload_adds():
    """The workers open a new listener's sockets concurrently, so its
    SO_REUSEPORT group is in no particular order: steering must not depend
    on it (it did: connections went to the other worker)."""
    need_two_cpus()
    addr, e, r = start(steering="hash")
    by_cpu = {w[1]: w[0] for w in placement(r)}
    extra = """  - name: added
    bind: {addr}:7002
    mode: tcp
    pool: echo
    steering: cpu
    max_connections: 512
pools:""".format(addr=addr)
    for rnd in range(3):
        cfg = CONFIG.format(addr=addr, steering="hash").replace("pools:", extra, 1)
        if rnd % 2:
            cfg = cfg.replace(":7002", ":7003")  # a fresh group each round
        r.write_config(cfg)
        r.reload()
        port = 7003 if rnd % 2 else 7002
        steer_check(r, "%s:%d" % (addr, port), [(c, by_cpu[c]) for c in (0, 1)])
    r.finish()


if __name__ == "__main__":
    lib.main(globals(), limit=60)
