"""The memory profile under a flood: 8,000 clients push 256 KiB each towards a
backend that never reads. Pressure must reach Warning and Critical, new
connections must be deferred and rejected, the accountant must stay under
its limit, RSS under the limit plus the fixed overhead the README states,
and everything must return to idle once the clients are gone."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

MB = 1 << 20
LIMIT = 64 * MB
# README "Memory": code, libraries, thread stacks, the rings and the
# allocator's own use sit outside the accountant; 32 MiB bounds them.
OVERHEAD = 32 * MB

CONFIG = """
workers: 1
listeners:
  - name: flood
    bind: {addr}:7000
    mode: tcp
    pool: sink
    splice: never
    max_connections: 9000
    backlog: 4096
pools:
  - name: sink
    backends:
      - {{ address: {addr}:7001 }}
buffer_pools:
  small_buffers:  {{ initial_count: 100, max_count: 10000, growth_factor: 1.5 }}
  medium_buffers: {{ initial_count: 300, max_count: 5000, growth_factor: 1.3 }}
  large_buffers:  {{ initial_count: 10, max_count: 1000, growth_factor: 1.2 }}
  giant_buffers:  {{ initial_count: 2, max_count: 100, growth_factor: 1.1 }}
memory_limits:
  max_total_memory: 64MB
  buffer_pool_memory: 44MB
  connection_memory: 12MB
  ssl_context_memory: 4MB
  cache_memory: 4MB
memory_tuning:
  socket_sndbuf: 16KB
  socket_rcvbuf: 16KB
  pool_check_interval: 200ms
  memory_cleanup_interval: 1s
"""


def rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
    return 0


def memory_line(r):
    for l in r.stats():
        if l.startswith("ringlb: stats memory level="):
            return lib.kv(l)
    raise lib.TestFailure("no memory line")


def pool_in_use(r):
    return sum(lib.kv(l)["in_use"] - lib.kv(l)["standing"] for l in r.stats()
               if l.startswith("ringlb: stats pool "))


def test_flood_of_8000_clients_stays_bounded_and_recovers():
    addr = lib.loopback()
    sink = lib.echo(addr + ":7001", "hold", extra=["--rcvbuf", "4096"])
    r = lib.Ringlb(CONFIG.format(addr=addr), args=["--seed", "42"])
    idle_mem = memory_line(r)["current"]
    idle_in_use = pool_in_use(r)
    # Two waves of 4,000: the first fills the pools up to the limits, the
    # second arrives under pressure and meets defers and rejects.
    def wave():
        return lib.Proc([os.path.join(lib.TOOLS, "l4client"), "-c", addr + ":7000", "-n", "4000",
                         "-b", str(256 << 10), "-m", "hold", "--reset-at-end",
                         "--timeout", str(60 * lib.SLOW)], name="l4client")
    clients = [wave()]
    peak_rss = 0
    seen = {}
    deadline = time.monotonic() + 40 * lib.SLOW
    while time.monotonic() < deadline:
        peak_rss = max(peak_rss, rss(r.pid))
        seen = memory_line(r)
        t = r.stats_total()
        if len(clients) == 1 and seen["level"] == "critical":
            clients.append(wave())
        if len(clients) == 2 and t["accepted"] + t["rejected"] >= 8000 and (t["deferred"] > 0 or lib.SLOW > 1):
            break
        time.sleep(0.25)  # sampling RSS, not waiting for a state
    t = r.stats_total()
    peak_rss = max(peak_rss, rss(r.pid))
    print("flood: memory %s" % seen)
    print("flood: counters %s" % t)
    check(seen.get("entered_warning", 0) > 0, "pressure never reached Warning: %s" % seen)
    check(seen.get("entered_critical", 0) > 0, "pressure never reached Critical: %s" % seen)
    if lib.SLOW == 1:
        check(t["deferred"] > 0 and t["rejected"] > 0, "deferred=%s rejected=%s" % (t["deferred"], t["rejected"]))
    else:
        # Under ASan/TSan the multishot accept can outlive its cancel long
        # enough that every decision is made on accepted connections, where
        # a defer cannot apply (a known gap: see the issue note).
        check(t["rejected"] > 0, "rejected=%s" % t["rejected"])
    check(seen["peak"] <= LIMIT, "accountant peak %d > limit %d" % (seen["peak"], LIMIT))
    # Under ASan/TSan the RSS is mostly the sanitizer's shadow memory.
    if lib.SLOW == 1:
        check(peak_rss <= LIMIT + OVERHEAD, "RSS %d > limit + overhead %d" % (peak_rss, LIMIT + OVERHEAD))
    print("flood: peak accountant %d, peak RSS %d, accepted %d, deferred %d, rejected %d, buffer waits %d" %
          (seen["peak"], peak_rss, t["accepted"], t["deferred"], t["rejected"], t["buffer_waits"]))
    for c in clients:
        c.stop()
    # Within 10 s of the clients closing, every counter is back at idle.
    end = time.monotonic() + 10 * lib.SLOW
    while True:
        t = r.stats_total()
        m = memory_line(r)
        use = pool_in_use(r)
        if t["active"] == 0 and m["current"] <= idle_mem and use <= idle_in_use and m["level"] == "normal":
            break
        check(time.monotonic() < end, "not idle 10 s after the clients closed: active=%s memory=%s (idle %s) in_use=%s (idle %s) level=%s" %
              (t["active"], m["current"], idle_mem, use, idle_in_use, m["level"]))
        time.sleep(0.2)
    s = r.finish()
    check(s["memory_level_peak"] == "critical", "summary level peak %s" % s["memory_level_peak"])
    sink.stop()


if __name__ == "__main__":
    lib.main(globals(), limit=120)
