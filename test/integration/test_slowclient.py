"""Slow clients are cheap and are not turned away (issue 15, section 2).

3,000 clients each send part of a request head and wait: all are held,
none refused, the pressure stays Normal, each waits in a right-sized head
record (a 256-byte slab object) instead of a context and a 4 KiB buffer.
Then every head is completed at once against a backend that holds its
answers until all 3,000 requests are in: 3,000 requests in flight cross
the small class's max_count (64 here) many times over, and the buffers
past it come from outside the pool (counted), none is refused, and every
client gets its 200. Afterwards every counter is back at zero."""
import os
import re
import resource
import selectors
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

N = 3000
HOLD = os.path.join(lib.TOP, "tools", "httphold.py")

CONFIG = """
workers: 1
listeners:
  - name: web
    bind: {addr}:7000
    mode: http
    pool: gate
    max_connections: {maxconn}
    timeouts: {{ header: 600s, client: 600s, server: 600s, idle: 600s }}
pools:
  - name: gate
    keepalive: {{ max_idle: 0 }}
    backends:
      - {{ address: {addr}:7101 }}
buffer_pools:
  small_buffers: {{ initial_count: 16, max_count: 64, growth_factor: 1.5 }}
"""

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


class Gate:
    """A backend that reads each request head and holds its answer until
    release(); afterwards answers at once. One thread, selectors."""

    def __init__(self, addr, port):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((addr, port))
        self.s.listen(4096)
        self.s.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.s, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.requests = 0
        self.open = False
        self.waiting = []
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopped:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.s.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ, [c, b""])
                    continue
                rec = key.data
                try:
                    d = rec[0].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    self.sel.unregister(rec[0])
                    rec[0].close()
                    continue
                rec[1] += d
                while b"\r\n\r\n" in rec[1]:
                    _, _, rec[1] = rec[1].partition(b"\r\n\r\n")
                    with self.lock:
                        self.requests += 1
                        if self.open:
                            rec[0].sendall(ANSWER)
                        else:
                            self.waiting.append(rec[0])
            with self.lock:
                if self.open and self.waiting:
                    for c in self.waiting:
                        try:
                            c.sendall(ANSWER)
                        except OSError:
                            pass
                    self.waiting = []

    def count(self):
        with self.lock:
            return self.requests

    def release(self):
        with self.lock:
            self.open = True

    def close(self):
        self.stopped = True
        self.t.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def stats_of(r):
    lines = r.stats()
    mem = pool = None
    slabs, total = {}, None
    for l in lines:
        if l.startswith("ringlb: stats memory level="):
            mem = lib.kv(l)
        elif l.startswith("ringlb: stats pool ") and " class=4KB " in l:
            pool = lib.kv(l)
        elif l.startswith("ringlb: stats slab "):
            s = lib.kv(l)
            slabs[s["name"]] = s
        elif l.startswith("ringlb: stats total "):
            total = lib.kv(l)
    check(mem and pool and total, "stats lines missing:\n%s" % "\n".join(lines))
    return mem, pool, slabs, total


def wait_for(what, pred, timeout=120, procs=()):
    deadline = time.monotonic() + timeout * lib.SLOW
    while not pred():
        check(time.monotonic() < deadline, "%s within %ss\n%s" % (
            what(), timeout * lib.SLOW, "\n".join(p.tail(8) for p in procs)))
        time.sleep(0.2)


def test_thousands_of_partial_heads_are_held_and_past_max_count_is_served():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    check(hard >= 2 * N + 500, "open-files hard limit %d: too low for %d connections" % (hard, N))
    addr = lib.loopback()
    gate = Gate(addr, 7101)
    r = lib.Ringlb(CONFIG.format(addr=addr, maxconn=N + 100), args=["--seed", "7"])
    hold = None
    try:
        mem0, _, _, _ = stats_of(r)
        hold = lib.Proc([sys.executable, HOLD, "-c", addr + ":7000", "-n", str(N), "--partial",
                         "--batch", "256", "--settle", "2", "--timeout", str(120 * lib.SLOW)],
                        name="httphold")
        m, _ = hold.wait_line(r"^httphold: holding (\d+) ok=\d+ failed=(\d+) status=(\S+)",
                              150)
        check(int(m.group(1)) == N and int(m.group(2)) == 0,
              "partial heads held: %s" % m.group(0))
        mem, pool, slabs, total = stats_of(r)
        check(total["active"] == N, "active %s, not %d" % (total["active"], N))
        check(total["rejected"] == 0 and total["deferred"] == 0,
              "refused: %s rejected, %s deferred" % (total["rejected"], total["deferred"]))
        check(total["http_head_waits"] >= N, "head waits %s" % total["http_head_waits"])
        check(mem["level"] == "normal", "pressure %s with %d waiting heads" % (mem["level"], N))
        check(slabs["http_head_256"]["in_use"] == N,
              "256-byte heads in use: %s" % slabs["http_head_256"])
        check(slabs["http_ctx"]["in_use"] == 0, "contexts held: %s" % slabs["http_ctx"])
        grown = mem["current"] - mem0["current"]
        check(grown <= N * 600, "accounted memory grew %d bytes for %d waiting heads (%d each)"
              % (grown, N, grown // N))
        check(pool["overflow"] == 0, "small buffers past max_count while waiting: %s" % pool)

        # every head completed at once; the gate holds the answers until
        # all are in flight
        hold.kill(signal.SIGUSR1)
        wait_for(lambda: "%d requests at the backend (%d came)" % (N, gate.count()),
                 lambda: gate.count() >= N, procs=(hold, r))
        mem, pool, slabs, total = stats_of(r)
        check(pool["overflow"] > 0 and pool["overflow_gets"] > 0,
              "the small class was not crossed: %s" % pool)
        check(pool["count"] <= pool["max"], "the class grew past max_count: %s" % pool)
        check(pool["overflow_fails"] == 0 and pool["fails"] == 0, "refused: %s" % pool)
        check(mem["level"] == "normal", "pressure %s past max_count" % mem["level"])
        check(slabs["http_ctx"]["in_use"] == N, "contexts: %s" % slabs["http_ctx"])
        gate.release()
        m, _ = hold.wait_line(r"^httphold: completed ok=(\d+) failed=(\d+) status=(\S+)", 120)
        check(int(m.group(1)) == N and int(m.group(2)) == 0, "answers: %s" % m.group(0))

        wait_for(lambda: "the connections closed", lambda: stats_of(r)[3]["active"] == 0,
                 procs=(r,))
        mem, pool, slabs, total = stats_of(r)
        check(pool["overflow"] == 0 and pool["overflow_puts"] == pool["overflow_gets"],
              "buffers past max_count not all given back: %s" % pool)
        check(total["rejected"] == 0, "rejected %s" % total["rejected"])
        for name, s in slabs.items():
            check(s["in_use"] == 0 and s["spans"] <= 1, "slab %s: %s" % (name, s))
        hold.stop()
        hold = None
        r.finish()
    finally:
        if hold:
            hold.stop(signal.SIGKILL)
        gate.close()


if __name__ == "__main__":
    lib.main(globals(), limit=300)
