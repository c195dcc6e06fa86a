"""Hot reload (SIGHUP) under traffic: a tcp listener in front of ringlb's own
static listeners moves between two pools 50 times while new and long-lived
connections run; broken configs fail and change nothing; listeners a reload
adds open, listeners it removes stop accepting and drain; backends' active
counts outlive the snapshot they were started in, so least_conn after a
reload sees the connections opened before it.

Every config here has a tcp listener "front" and two static listeners whose
X-Served-By names them: pool "blue" is s-blue, pool "green" is s-green. A
connection accepted after a reload's "ok" line must reach the new pool; an
L4 connection stays on the backend it connected to, so a keep-alive
connection opened earlier keeps being answered by its old pool.
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

FRONT, BLUE, GREEN, S_EXTRA, T_EXTRA = 7100, 7101, 7102, 7103, 7104
SERVED = {"blue": "s-blue", "green": "s-green"}

HEAD = """
workers: 2
listeners:
  - name: front
    bind: {addr}:%d
    mode: tcp
    pool: {pool}
    splice: never
    max_connections: 512
  - name: s-blue
    bind: {addr}:%d
    mode: static
    body: "blue\\n"
    max_connections: 512
  - name: s-green
    bind: {addr}:%d
    mode: static
    body: "green\\n"
    max_connections: 512
""" % (FRONT, BLUE, GREEN)

EXTRA = """
  - name: s-extra
    bind: {addr}:%d
    mode: static
    body: "extra\\n"
    max_connections: 64
    timeouts: {{ drain: 1s }}
  - name: t-extra
    bind: {addr}:%d
    mode: tcp
    pool: green
    max_connections: 64
    timeouts: {{ drain: 1s }}
""" % (S_EXTRA, T_EXTRA)

POOLS = """
pools:
  - name: blue
    backends:
      - {{ address: {addr}:%d }}
  - name: green
    backends:
      - {{ address: {addr}:%d }}
""" % (BLUE, GREEN)


def config(addr, pool, extra=False):
    return (HEAD + (EXTRA if extra else "") + POOLS).format(addr=addr, pool=pool)


class Http:
    """One client connection speaking HTTP/1.1 to a static listener (directly
    or through the tcp listener); every failure raises."""

    def __init__(self, addr, port):
        self.s = socket.create_connection((addr, port), timeout=10 * lib.SLOW)
        self.buf = b""

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed by ringlb")
        self.buf += d

    def get(self, close=False):
        """Sends a GET and reads its whole response; returns X-Served-By."""
        req = b"GET / HTTP/1.1\r\nHost: t\r\n" + (b"Connection: close\r\n" if close else b"")
        self.s.sendall(req + b"\r\n")
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        check(lines[0].startswith("HTTP/1.1 200 "), "status line %r" % lines[0])
        hdrs = {k.strip().lower(): v.strip() for k, v in
                (l.split(":", 1) for l in lines[1:])}
        n = int(hdrs["content-length"])
        while len(self.buf) < n:
            self._fill()
        self.buf = self.buf[n:]
        return hdrs.get("x-served-by")

    def eof(self):
        """Waits for ringlb to close the connection cleanly (a FIN)."""
        check(self.s.recv(1) == b"" and not self.buf, "expected EOF")

    def close(self):
        self.s.close()


def one_get(addr, port):
    """A new connection, one request with Connection: close, a clean EOF."""
    c = Http(addr, port)
    try:
        served = c.get(close=True)
        c.eof()
        return served
    finally:
        c.close()


class Traffic:
    """New connections in one thread, batches of long-lived keep-alive
    connections in another, both through the tcp listener. The main thread
    brackets each reload with begin()/end(); a result is checked against
    the pool of a generation only when no reload started while it ran."""

    BATCH, LIFE, EVERY = 10, 5, 2  # 10 connections, 5 reloads long, a new batch every 2
    MAX_CONNS = 20000  # the bound of the new-connection loop

    def __init__(self, addr, pool):
        self.addr = addr
        self.cond = threading.Condition()
        self.expect = SERVED[pool]  # None while a reload is in progress
        self.epoch = 0  # bumped at begin() and at end()
        self.reloads = 0
        self.checked = {}  # epoch -> new connections checked in it
        self.rounds = {}  # epoch -> long-lived rounds that ran wholly in it
        self.new_ok = self.ll_ok = 0
        self.failures, self.wrong = [], []
        self.batches, self.batches_done, self.opened_at = [], 0, -1
        self.done = False
        self.threads = [threading.Thread(target=self._new_loop, daemon=True),
                        threading.Thread(target=self._ll_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _state(self):
        with self.cond:
            return self.epoch, self.expect, self.reloads

    def _fail(self, what, e):
        with self.cond:
            self.failures.append("%s: %r" % (what, e))
            self.done = True
            self.cond.notify_all()

    def _new_loop(self):
        n = 0
        while not self.done and n < self.MAX_CONNS:
            n += 1
            e0, exp, _ = self._state()
            t0 = time.monotonic()
            try:
                served = one_get(self.addr, FRONT)
            except Exception as e:
                self._fail("new connection %d (after reload %d, for %.1fs)" %
                           (n, self._state()[2], time.monotonic() - t0), e)
                return
            with self.cond:
                self.new_ok += 1
                if self.epoch == e0 and exp:
                    self.checked[e0] = self.checked.get(e0, 0) + 1
                    if served != exp:
                        self.wrong.append("new connection %d after reload %d: %s, expected %s" %
                                          (n, self.reloads, served, exp))
                self.cond.notify_all()

    def _open_batch(self):
        e0, exp, reloads = self._state()
        conns = [Http(self.addr, FRONT) for _ in range(self.BATCH)]
        pools = [c.get() for c in conns]
        with self.cond:
            if self.epoch == e0 and exp and pools != [exp] * self.BATCH:
                self.wrong.append("batch opened after reload %d: %s, expected %s" %
                                  (reloads, pools, exp))
        self.batches.append({"conns": conns, "pools": pools, "born": reloads})
        self.opened_at = reloads

    def _ll_loop(self):
        try:
            while not self.done:
                e0, exp, reloads = self._state()
                for b in [b for b in self.batches if reloads - b["born"] >= self.LIFE]:
                    for c in b["conns"]:
                        c.close()
                    self.batches.remove(b)
                    self.batches_done += 1
                if exp and reloads % self.EVERY == 0 and self.opened_at != reloads:
                    self._open_batch()
                for b in self.batches:
                    served = [c.get() for c in b["conns"]]
                    if served != b["pools"]:
                        with self.cond:
                            self.wrong.append("long-lived batch of reload %d moved: %s -> %s" %
                                              (b["born"], b["pools"], served))
                with self.cond:
                    self.ll_ok += sum(len(b["conns"]) for b in self.batches)
                    if self.epoch == e0 and self.batches:
                        self.rounds[e0] = self.rounds.get(e0, 0) + 1
                    self.cond.notify_all()
        except Exception as e:
            self._fail("long-lived connection", e)

    def begin(self):
        with self.cond:
            self.expect = None
            self.epoch += 1

    def end(self, pool):
        """The reload's ok (pool = the new one) or failed (the old one) line
        was seen: from now on every new connection must reach <pool>."""
        with self.cond:
            self.expect = SERVED[pool]
            self.epoch += 1
            self.reloads += 1
            self.cond.notify_all()

    def settle(self, conns=3, timeout=20):
        """Waits until <conns> new connections and a round of every
        long-lived one ran wholly after the last end()."""
        deadline = time.monotonic() + timeout * lib.SLOW
        with self.cond:
            e = self.epoch
            while not (self.checked.get(e, 0) >= conns and self.rounds.get(e, 0) >= 1):
                check(not self.failures, "traffic failed: %s" % self.failures)
                left = deadline - time.monotonic()
                check(left > 0, "no traffic after reload %d (new=%d rounds=%d)" %
                      (self.reloads, self.checked.get(e, 0), self.rounds.get(e, 0)))
                self.cond.wait(min(left, 0.2))

    def stop(self):
        with self.cond:
            self.done = True
        for t in self.threads:
            t.join(30 * lib.SLOW)
            check(not t.is_alive(), "traffic thread did not stop")
        for b in self.batches:
            for c in b["conns"]:
                c.close()
        check(not self.failures, "traffic failed: %s" % self.failures)
        check(not self.wrong, "%d wrong pools: %s" % (len(self.wrong), self.wrong[:5]))


def refused(addr, port):
    try:
        socket.create_connection((addr, port), timeout=5 * lib.SLOW).close()
    except ConnectionRefusedError:
        return True
    return False


def check_clean(s):
    for k in ("connect_fail", "connect_timeout", "no_backend", "aborts", "rejected",
              "buffer_fails", "table_full"):
        check(s[k] == 0, "summary %s=%s: %s" % (k, s[k], s))


def test_fifty_reloads_under_traffic_move_new_connections_and_keep_old_ones():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, "blue"))
    t = Traffic(addr, "blue")
    t0 = time.monotonic()
    try:
        t.settle()
        for k in range(50):
            pool = "green" if k % 2 == 0 else "blue"
            r.write_config(config(addr, pool))
            t.begin()
            gen = r.reload("ok")
            check(gen == k + 2, "reload %d logged generation %d" % (k + 1, gen))
            t.end(pool)
            t.settle()
        t.stop()
    except lib.TestFailure as e:
        t.done = True
        raise lib.TestFailure("%s\nringlb:\n%s" % (e, r.tail(30)))
    took = time.monotonic() - t0
    check(t.batches_done >= 10, "only %d long-lived batches lived their life" % t.batches_done)
    checked = sum(t.checked.values())
    print("     50 reloads in %.1fs: %d new connections (%d checked), %d long-lived requests, "
          "%d batches" % (took, t.new_ok, checked, t.ll_ok, t.batches_done + len(t.batches)))
    s = r.finish()
    check(s["reloads_ok"] == 50 and s["reloads_failed"] == 0, "reloads in summary: %s" % s)
    check_clean(s)
    # Each client connection through front is one accept there and one on a
    # static listener; all of them closed.
    check(s["connect_ok"] == t.new_ok + t.BATCH * (t.batches_done + len(t.batches)),
          "connect_ok=%d, opened %d+%d" % (s["connect_ok"], t.new_ok, t.ll_ok))
    check(s["accepted"] == 2 * s["connect_ok"] and s["active"] == 0, "accepted: %s" % s)


def test_broken_reload_logs_file_line_col_and_keeps_the_old_config():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, "blue"))
    held = Http(addr, FRONT)
    check(held.get() == "s-blue", "held connection not on s-blue")

    # An unknown key: its line and column, then "failed"; nothing changes.
    bad = config(addr, "green").replace("    splice: never\n", "    splice: never\n    colour: red\n")
    line = bad.split("\n").index("    colour: red") + 1
    r.write_config(bad)
    start = r.count()
    check(r.reload("failed") == 2, "failed reload's generation")
    r.wait_line(r"^%s:%d:5: listeners\[0\]\.colour: unknown key \(expected one of: " %
                (re.escape(r.config_path), line), 5, start)
    r.wait_line(r"^ringlb: error: reload generation=2 failed: the running config stays$", 5, start)
    for _ in range(5):
        check(one_get(addr, FRONT) == "s-blue", "new connection left the old pool")
    check(held.get() == "s-blue", "held connection moved")

    # A good reload still works after it, and uses generation 2.
    r.write_config(config(addr, "green"))
    check(r.reload("ok") == 2, "ok reload's generation")
    check(one_get(addr, FRONT) == "s-green", "new connection not on the new pool")

    # A pool that does not exist, and a second error in the same file: both
    # logged, one failed reload.
    bad = config(addr, "purple").replace("max_connections: 512\n  - name: s-green",
                                         "max_connections: lots\n  - name: s-green")
    lines = bad.split("\n")
    pl = lines.index("    pool: purple") + 1
    ml = lines.index("    max_connections: lots") + 1
    r.write_config(bad)
    start = r.count()
    check(r.reload("failed") == 3, "second failed reload's generation")
    r.wait_line(r"^%s:%d:11: listeners\[0\]\.pool: no pool is named \"purple\"" %
                (re.escape(r.config_path), pl), 5, start)
    r.wait_line(r"^%s:%d:22: listeners\[1\]\.max_connections: " % (re.escape(r.config_path), ml),
                5, start)
    for _ in range(5):
        check(one_get(addr, FRONT) == "s-green", "new connection left the old pool")
    check(held.get() == "s-blue", "held connection moved")

    # A broken YAML file: one more failure.
    r.write_config("listeners:\n  - name: front\n    bind: [\n")
    start = r.count()
    check(r.reload("failed") == 3, "third failed reload's generation")
    r.wait_line(r"^%s:\d+:\d+: " % re.escape(r.config_path), 5, start)
    check(one_get(addr, FRONT) == "s-green", "new connection left the old pool")
    held.get(close=True)
    held.eof()
    held.close()
    s = r.finish()
    check(s["reloads_ok"] == 1 and s["reloads_failed"] == 3, "reloads in summary: %s" % s)
    check_clean(s)


def test_reload_opens_added_listeners_and_drains_removed_ones():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, "blue"))
    check(refused(addr, S_EXTRA) and refused(addr, T_EXTRA), "extra listeners open at start")

    r.write_config(config(addr, "blue", extra=True))
    r.reload("ok")
    check(one_get(addr, S_EXTRA) == "s-extra", "added static listener")
    check(one_get(addr, T_EXTRA) == "s-green", "added tcp listener")
    check(one_get(addr, FRONT) == "s-blue", "front after adding")
    # Connections that outlive their listener: two finish with a request
    # each after the removal, two are left idle until the drain time ends.
    finish = [Http(addr, S_EXTRA), Http(addr, T_EXTRA)]
    idle = [Http(addr, S_EXTRA), Http(addr, T_EXTRA)]
    for c in finish + idle:
        c.get()

    r.write_config(config(addr, "blue"))
    r.reload("ok")
    check(refused(addr, S_EXTRA), "removed static listener still accepts")
    check(refused(addr, T_EXTRA), "removed tcp listener still accepts")
    check(one_get(addr, FRONT) == "s-blue", "front after removing")
    check(finish[0].get() == "s-extra" and finish[1].get() == "s-green",
          "connections of removed listeners")
    check(finish[0].get(close=True) == "s-extra" and finish[1].get(close=True) == "s-green",
          "last requests of removed listeners")
    for c in finish:
        c.eof()
        c.close()
    # drain: 1s; then what is left is closed.
    t0 = time.monotonic()
    for c in idle:
        try:
            c.eof()
        except ConnectionResetError:
            pass  # an abort may reset; either way it ended
        c.close()
    waited = time.monotonic() - t0
    check(waited < 5 * lib.SLOW, "idle connections of removed listeners closed after %.1fs" % waited)

    # Added again, on the same ports: they answer again.
    r.write_config(config(addr, "green", extra=True))
    r.reload("ok")
    check(one_get(addr, S_EXTRA) == "s-extra", "re-added static listener")
    check(one_get(addr, T_EXTRA) == "s-green", "re-added tcp listener")
    check(one_get(addr, FRONT) == "s-green", "front after re-adding")
    s = r.finish()
    check(s["reloads_ok"] == 3 and s["reloads_failed"] == 0, "reloads in summary: %s" % s)
    check(s["active"] == 0 and s["connect_fail"] == 0 and s["no_backend"] == 0, "summary %s" % s)


LEAST_CONN = """
  - name: both
    algorithm: least_conn
    backends:
      - {{ address: {addr}:%d }}
      - {{ address: {addr}:%d }}
""" % (BLUE, GREEN)


def backend_active(r, pool):
    """The active count of each backend of <pool>, by address, from the stats."""
    return {lib.kv(l)["addr"]: lib.kv(l)["active"] for l in r.stats()
            if l.startswith("ringlb: stats backend pool=%s " % pool)}


def test_least_conn_counts_survive_a_reload():
    """Backend state is kept across snapshots (core/backend.c): connections
    opened before a reload count in the new snapshot's least_conn."""
    addr = lib.loopback()
    conf = (HEAD + POOLS + LEAST_CONN).format(addr=addr, pool="both")
    r = lib.Ringlb(conf)
    held = [Http(addr, FRONT) for _ in range(3)]
    served = [c.get() for c in held]  # 2 on one backend, 1 on the other
    fewer = min(SERVED.values(), key=served.count)
    check(sorted(served.count(v) for v in SERVED.values()) == [1, 2], "split %s" % served)
    r.reload("ok")
    active = backend_active(r, "both")
    check(sum(active.values()) == 3 and sorted(active.values()) == [1, 2],
          "active counts after the reload: %s" % active)
    late = Http(addr, FRONT)
    check(late.get() == fewer, "least_conn after the reload ignored the old connections")
    for c in held + [late]:
        c.get(close=True)
        c.eof()
        c.close()
    deadline = time.monotonic() + 5 * lib.SLOW
    while sum(backend_active(r, "both").values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    active = backend_active(r, "both")
    check(sum(active.values()) == 0, "active counts after closing: %s" % active)
    s = r.finish()
    check(s["active"] == 0 and s["connect_fail"] == 0, "summary %s" % s)


def post_reload(admin, timeout=70):
    """POST /reload on the admin endpoint; returns (status, the JSON answer)."""
    import http.client
    import json
    h, port = admin.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(port), timeout=timeout * lib.SLOW)
    try:
        c.request("POST", "/reload")
        resp = c.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        c.close()


def test_reload_adding_a_listener_on_a_port_in_use_fails_and_keeps_the_old_config():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, "blue"))
    # Someone else's socket on the port the reload adds a listener on (no
    # SO_REUSEPORT: ringlb's sockets cannot join it).
    squat = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squat.bind((addr, S_EXTRA))
    squat.listen(8)
    try:
        r.write_config(config(addr, "green", extra=True))
        start = r.count()
        check(r.reload("failed") == 2, "failed reload's generation")
        r.wait_line(r"^ringlb: error: reload generation=2 failed: listener s-extra: bind "
                    r"%s:%d: Address already in use: the running config stays$" %
                    (re.escape(addr), S_EXTRA), 5, start)
        check(one_get(addr, FRONT) == "s-blue", "the failed reload changed the pool")
        check(refused(addr, T_EXTRA), "a listener of the failed reload accepts")

        # The admin endpoint's reload fails the same way, with the reason.
        st, js = post_reload(r.admin)
        check(st == 422 and js["result"] == "failed" and js["running"] == 1,
              "POST /reload: %s %s" % (st, js))
        check(any("listener s-extra: bind %s:%d: Address already in use" % (addr, S_EXTRA) in e
                  for e in js["errors"]), "POST /reload's errors: %s" % js["errors"])
        check(one_get(addr, FRONT) == "s-blue" and one_get(addr, BLUE) == "s-blue",
              "old listeners after the failed POST /reload")
    finally:
        squat.close()

    # The port is free again: the same file reloads, every listener serves.
    check(r.reload("ok") == 2, "reload after freeing the port")
    check(one_get(addr, S_EXTRA) == "s-extra", "added static listener")
    check(one_get(addr, T_EXTRA) == "s-green", "added tcp listener")
    check(one_get(addr, FRONT) == "s-green", "front after the reload")
    s = r.finish()
    check(s["reloads_ok"] == 1 and s["reloads_failed"] == 2, "reloads in summary: %s" % s)
    check_clean(s)


if __name__ == "__main__":
    lib.main(globals(), limit=60)
