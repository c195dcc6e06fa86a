"""Slow clients are cheap and are not turned away (issue 15, section 2).

3,000 clients each send part of a request head and wait: all are held,
none refused, the pressure stays Normal, each waits in a right-sized head
record (a 256-byte slab object) instead of a context and a 4 KiB buffer.
Then every head is completed at once against a backend that holds its
answers until all 3,000 requests are in: 3,000 requests in flight cross
the small class's max_count (64 here) many times over, and the buffers
past it come from outside the pool (counted), none is refused, and every
client gets its 200. Afterwards every counter is back at zero.

And a waiting head is a head like any other: sent a byte at a time or
grown past the 2 KiB a head may wait in, it is answered; a bare LF gets
the parser's 400 at once; a head that stops gets its 408 at
timeouts.header, or the parser's answer for what came."""
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


STATIC = """
workers: 1
listeners:
  - name: web
    bind: {addr}:7000
    mode: http
    pool: demo
    max_connections: 64
    timeouts: {{ header: {header} }}
  - name: demo
    bind: {addr}:7001
    mode: static
    body: "hello\\n"
pools:
  - name: demo
    backends:
      - {{ address: {addr}:7001 }}
"""


def client(addr):
    return socket.create_connection((addr, 7000), timeout=20 * lib.SLOW)


def answer(s):
    """The status and body of one answer on <s> (Content-Length)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        check(d, "closed before an answer: %r" % buf[:200])
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        d = s.recv(65536)
        check(d, "closed in the body")
        body += d
    return int(head.split(b" ", 2)[1]), body


def waits(r):
    return lib.kv([l for l in r.stats() if l.startswith("ringlb: stats total ")][0])[
        "http_head_waits"]


def test_a_head_sent_a_byte_at_a_time_or_growing_past_2_KiB_is_answered_as_any():
    # Every byte is its own receive: the head waits in a right-sized record
    # between them, moves up the sizes and past the last one to a context,
    # and is parsed as a whole: the backend's answer comes back.
    addr = lib.loopback()
    r = lib.Ringlb(STATIC.format(addr=addr, header="30s"))
    head = (b"GET /slow HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer s3cr3t\r\n"
            b"User-Agent: one-byte-at-a-time\r\n\r\n")
    s = client(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(head)):
        s.sendall(head[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.005)
    check(answer(s) == (200, b"hello\n"), "byte-at-a-time head")
    # 3 KiB of headers in 100-byte pieces: 256 B .. 2 KiB, then a context
    big = b"GET /big HTTP/1.1\r\nHost: a\r\n" + b"".join(
        b"X-Pad-%02d: %s\r\n" % (i, b"p" * 80) for i in range(34)) + b"\r\n"
    check(len(big) > 3000, "big head %d" % len(big))
    for i in range(0, len(big), 100):
        s.sendall(big[i:i + 100])
        time.sleep(0.01)
    check(answer(s) == (200, b"hello\n"), "growing head")
    check(waits(r) >= 2, "heads waited %d times" % waits(r))  # once each, at least
    s.close()
    r.finish()


def test_a_waiting_head_gets_the_parsers_answer_early_or_at_its_timeout():
    addr = lib.loopback()
    r = lib.Ringlb(STATIC.format(addr=addr, header="1s"))
    # a bare LF: the parser's 400 at once, not at the timeout
    s = client(addr)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    s.sendall(b"X-Bad: 1\nX-More")
    check(answer(s)[0] == 400, "bare LF in a waiting head")
    check(time.monotonic() - t0 < 0.9, "400 took %.1fs" % (time.monotonic() - t0))
    s.close()
    # nothing more: 408 at timeouts.header from the head's first byte
    s = client(addr)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Half: ")
    check(answer(s)[0] == 408, "408 for a head that stopped")
    check(time.monotonic() - t0 >= 0.9, "408 after %.1fs" % (time.monotonic() - t0))
    s.close()
    # a bad request line that waits: the parser's 400 when the time is up
    s = client(addr)
    s.sendall(b"G\x01T / HTTP/1.1\r\nHost: a\r\n")
    check(answer(s)[0] == 400, "the parser's answer at the timeout")
    s.close()
    r.finish()


if __name__ == "__main__":
    lib.main(globals(), limit=300)
