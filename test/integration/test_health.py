"""Health checks and backend states (issue 14, points 1-3), against real
processes: the balancer under test is one build/ringlb; its backends are
static listeners of other ringlb processes (one process per backend, so one
can be killed and restarted), a Python HTTP server answering 500, and ports
where nothing listens.

- active http checks: a backend killed goes down after `fall` failed checks
  (not sooner, not much later), comes back `rise` checks after it is
  restarted, traffic follows, and a client loop through the http and the tcp
  listener sees no failed request meanwhile; each change is logged once;
- passive checks: `failures` connect failures (tcp) or 5xx answers (http)
  take a backend out for `down_time`, then it is back;
- every backend down: http answers 503 with Retry-After: 1, tcp closes the
  connection at once;
- a reload keeps a backend's state and checks new backends.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

WEB, L4, A, B, C, DEAD = 7601, 7602, 7611, 7612, 7613, 7619
INTERVAL, FALL, RISE, JITTER = 0.3, 3, 2, 0.1


def backend(addr, port, name):
    """A ringlb process with one static listener <name> on <addr>:<port>."""
    conf = """
workers: 1
listeners:
  - {{ name: {name}, bind: "{addr}:{port}", mode: static, body: "{name}\\n", max_connections: 256,
      timeouts: {{ drain: 1s }} }}
""".format(addr=addr, port=port, name=name)
    return lib.Ringlb(conf)


def balancer(addr, pools, extra_ls=""):
    return lib.Ringlb(balancer_conf(addr, pools, extra_ls))


def balancer_conf(addr, pools, extra_ls=""):
    conf = """
workers: 2
listeners:
  - { name: web, bind: "{addr}:%d", mode: http, pool: app, max_connections: 256 }
  - { name: l4, bind: "{addr}:%d", mode: tcp, pool: app, max_connections: 256, splice: never }
%s
pools:
%s
""" % (WEB, L4, extra_ls, pools)
    return conf.replace("{addr}", addr)


def get(addr, port, path="/"):
    """(status, headers, body) of one request on a new connection."""
    return lib.http_get("%s:%d" % (addr, port), path, timeout=5)


def l4_get(addr):
    """One HTTP/1.0 request through the tcp listener; returns the body."""
    with socket.create_connection((addr, L4), timeout=5 * lib.SLOW) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


class Loop:
    """Requests through both listeners, one after the other, until stopped:
    counts the answers of each backend and every failure."""

    def __init__(self, addr):
        self.addr = addr
        self.served = {}
        self.fails = []
        self.l4_lost = []  # (start, end) of each l4 request that got nothing
        self.n = 0
        self.stop_ = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_:
            try:
                st, hdr, body = get(self.addr, WEB)
                if st != 200:
                    self.fails.append("http %d" % st)
                else:
                    self.served[body.strip()] = self.served.get(body.strip(), 0) + 1
                t0 = time.monotonic()
                body = l4_get(self.addr)
                if not body:
                    self.fails.append("l4 empty")
                    self.l4_lost.append((t0, time.monotonic()))
                self.n += 2
            except Exception as e:  # noqa: BLE001
                self.fails.append(repr(e))
            time.sleep(0.01)

    def snapshot(self):
        return dict(self.served)

    def stop(self):
        self.stop_ = True
        self.t.join(30)


def backend_stats(r, pool="app"):
    out = {}
    for line in r.stats():
        if line.startswith("ringlb: stats backend pool=%s " % pool):
            kv = lib.kv(line)
            out[kv["addr"]] = kv
    return out


def state_lines(r, addr, start=0):
    with r.cond:
        return [l for l in r.lines[start:]
                if re.match(r"^ringlb: backend pool=\S+ addr=%s " % re.escape(addr), l)]


def test_active_http_check_follows_a_backend_killed_and_restarted():
    addr = lib.loopback()
    ba, bb = backend(addr, A, "s-a"), backend(addr, B, "s-b")
    pools = """
  - name: app
    keepalive: { max_idle: 0 }
    health: { type: http, path: /healthz, interval: %dms, timeout: 500ms, rise: %d, fall: %d,
              jitter: %s, status: "200-299", body: "s-" }
    backends:
      - { address: "{addr}:%d" }
      - { address: "{addr}:%d" }
""" % (INTERVAL * 1000, RISE, FALL, JITTER, A, B)
    r = balancer(addr, pools)
    b_addr = "%s:%d" % (addr, B)
    loop = Loop(addr)
    deadline = time.monotonic() + 10 * lib.SLOW
    while len(loop.snapshot()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(set(loop.snapshot()) == {b"s-a", b"s-b"}, "both serve at first: %s" % loop.snapshot())

    start = r.count()
    t_kill = time.monotonic()
    bb.stop()
    t_gone = time.monotonic()
    _, i = r.wait_line(r"^ringlb: backend pool=app addr=%s up->down reason=check-refused$" %
                       re.escape(b_addr), 15, start)
    t_down = time.monotonic() - t_kill
    # fall failed checks: at least fall-1 waits after the first failure,
    # each at least interval x (1 - jitter/2); a loaded machine may be slower.
    low = (FALL - 1) * INTERVAL * (1 - JITTER / 2) * 0.95
    check(t_down >= low, "down after %.2fs, sooner than %d checks allow (%.2fs)" %
          (t_down, FALL, low))
    check(t_down <= (FALL + 1) * INTERVAL * (1 + JITTER) + 0.5 + 3 * lib.SLOW,
          "down only after %.2fs" % t_down)
    before = loop.snapshot()
    time.sleep(1.0)
    after = loop.snapshot()
    check(after.get(b"s-b", 0) == before.get(b"s-b", 0) and
          after.get(b"s-a", 0) > before.get(b"s-a", 0),
          "traffic did not leave the down backend: %s -> %s" % (before, after))

    start = r.count()
    t_back = time.monotonic()
    bb = backend(addr, B, "s-b")
    r.wait_line(r"^ringlb: backend pool=app addr=%s down->up reason=check-passed$" %
                re.escape(b_addr), 15, start)
    t_up = time.monotonic() - t_back
    check(t_up <= (RISE + 1) * INTERVAL * (1 + JITTER) + 3 * lib.SLOW, "up only after %.2fs" % t_up)
    before = loop.snapshot()
    deadline = time.monotonic() + 10 * lib.SLOW
    while loop.snapshot().get(b"s-b", 0) == before.get(b"s-b", 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(loop.snapshot().get(b"s-b", 0) > before.get(b"s-b", 0), "traffic did not come back")
    loop.stop()
    # A TCP stream the dying backend had accepted (connected, then closed by
    # its exit) cannot be retried by a proxy that has forwarded its bytes:
    # an l4 request in flight while bb stopped may be lost, no other.
    lost_at_kill = [t for t in loop.l4_lost if t[0] <= t_gone and t[1] >= t_kill]
    fails = list(loop.fails)
    for _ in lost_at_kill[:1]:
        fails.remove("l4 empty")
    check(not fails, "%d failed requests of %d: %s" % (len(fails), loop.n, fails[:5]))
    check(loop.n > 50, "only %d requests ran" % loop.n)
    # Each change logged exactly once, the other backend never.
    lines = state_lines(r, b_addr)
    check(len(lines) == 2 and "up->down" in lines[0] and "down->up" in lines[1],
          "state lines: %s" % lines)
    check(not state_lines(r, "%s:%d" % (addr, A)), "the live backend changed state")
    st = backend_stats(r)[b_addr]
    check(st["state"] == "up" and st["transitions"] == 2 and st["checks_fail"] >= FALL,
          "stats %s" % st)
    r.finish()
    ba.finish()
    bb.finish()


def test_passive_connect_failures_take_a_backend_out_for_down_time():
    addr = lib.loopback()
    ba = backend(addr, A, "s-a")
    pools = """
  - name: app
    health: { passive: { failures: 3, window: 30s, down_time: 1500ms } }
    backends:
      - { address: "{addr}:%d" }
      - { address: "{addr}:%d" }
""" % (A, DEAD)
    r = balancer(addr, pools)
    dead = "%s:%d" % (addr, DEAD)
    for _ in range(12):  # round robin: half of them try the dead one first
        check(l4_get(addr) == b"s-a\n", "not answered by s-a")
    r.wait_line(r"^ringlb: backend pool=app addr=%s up->down reason=passive$" %
                re.escape(dead), 5)
    st = backend_stats(r)[dead]
    check(st["state"] == "down" and st["connect_fail"] == 3 and st["passive_downs"] == 1,
          "after 3 failures: %s" % st)
    for _ in range(6):
        check(l4_get(addr) == b"s-a\n", "not answered by s-a")
    check(backend_stats(r)[dead]["connect_fail"] == 3, "a down backend was tried")
    _, i = r.wait_line(r"^ringlb: backend pool=app addr=%s down->up reason=passive-expired$" %
                       re.escape(dead), 10)
    for _ in range(12):
        l4_get(addr)
    r.wait_line(r"^ringlb: backend pool=app addr=%s up->down reason=passive$" %
                re.escape(dead), 5, i + 1)
    check(len(state_lines(r, dead)) == 3, "state lines: %s" % state_lines(r, dead))
    r.finish()
    ba.finish()


SERVER500 = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"broken\n"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H)
print("listening", flush=True)
s.serve_forever()
"""


def test_passive_5xx_answers_take_an_http_backend_out():
    addr = lib.loopback()
    ba = backend(addr, A, "s-a")
    srv = lib.Proc([sys.executable, "-c", SERVER500, addr, str(C)], name="server500")
    srv.wait_line(r"^listening")
    pools = """
  - name: app
    health: { passive: { failures: 3, window: 30s, down_time: 60s } }
    backends:
      - { address: "{addr}:%d" }
      - { address: "{addr}:%d" }
""" % (A, C)
    r = balancer(addr, pools)
    bad = "%s:%d" % (addr, C)
    statuses = [get(addr, WEB)[0] for _ in range(10)]
    check(statuses.count(500) == 3 and statuses.count(200) == 7,
          "3 answers of 500 then only 200: %s" % statuses)
    r.wait_line(r"^ringlb: backend pool=app addr=%s up->down reason=passive$" % re.escape(bad), 5)
    statuses = [get(addr, WEB)[0] for _ in range(10)]
    check(statuses == [200] * 10, "the backend answering 500 still gets requests: %s" % statuses)
    r.finish()
    ba.finish()
    srv.stop()


def test_every_backend_down_http_503_with_retry_after_tcp_closed():
    addr = lib.loopback()
    pools = """
  - name: app
    health: { type: tcp, interval: 100ms, timeout: 300ms, fall: 1, rise: 1 }
    backends:
      - { address: "{addr}:%d" }
      - { address: "{addr}:%d" }
""" % (DEAD, DEAD - 1)
    r = balancer(addr, pools)
    for p in (DEAD, DEAD - 1):
        r.wait_line(r"^ringlb: backend pool=app addr=%s:%d up->down reason=check-refused$" %
                    (re.escape(addr), p), 10)
    st, hdr, body = get(addr, WEB)
    check(st == 503 and hdr.get("retry-after") == "1", "all down: %s %s" % (st, hdr))
    t0 = time.monotonic()
    with socket.create_connection((addr, L4), timeout=5 * lib.SLOW) as s:
        try:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    check(data == b"" and time.monotonic() - t0 < 2 * lib.SLOW, "tcp not closed at once: %r" % data)
    tot = r.finish()
    check(tot["connect_fail"] == 0, "a down backend was connected to: %s" % tot)


def test_a_reload_keeps_a_backend_state_and_checks_new_backends():
    addr = lib.loopback()
    ba = backend(addr, A, "s-a")
    pools = """
  - name: app
    health: { type: tcp, interval: 150ms, timeout: 300ms, fall: 2, rise: 2 }
    backends:
      - { address: "{addr}:%d" }
      - { address: "{addr}:%d", weight: %d }
%s"""
    r = balancer(addr, pools % (A, DEAD, 1, ""))
    dead = "%s:%d" % (addr, DEAD)
    r.wait_line(r"^ringlb: backend pool=app addr=%s up->down " % re.escape(dead), 10)
    start = r.count()
    # the same pool, the dead backend's weight changed, one more dead backend
    more = '      - { address: "{addr}:%d" }\n' % (DEAD - 1)
    r.write_config(balancer_conf(addr, pools % (A, DEAD, 2, more)))
    r.reload("ok")
    st = backend_stats(r)
    check(st[dead]["state"] == "down", "state after the reload: %s" % st[dead])
    r.wait_line(r"^ringlb: backend pool=app addr=%s:%d up->down " % (re.escape(addr), DEAD - 1),
                10, start)
    check(not state_lines(r, dead, start), "the kept backend changed state: %s" %
          state_lines(r, dead, start))
    for _ in range(6):
        check(l4_get(addr) == b"s-a\n", "not answered by s-a")
    tot = r.finish()
    check(tot["connect_fail"] == 0, "a down backend was connected to: %s" % tot)
    ba.finish()


if __name__ == "__main__":
    lib.main(globals(), limit=90)
