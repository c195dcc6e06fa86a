"""Service discovery: a pool's backends from DNS (pools[].discovery), against
a test-owned DNS server (dnsserver.py, in this process, on the test's own
loopback address) whose answers the tests change while traffic runs.

Backends are ringlb's own static listeners, one per loopback address
127.R.R.2, .3, ... (A records carry addresses, one port for all), each
answering with its name; an http listener in front balances over the pool.
Every request is a new connection (Connection: close), so each one uses the
snapshot that is current when it is accepted: after a "discovery
generation=G ok" line, a new request sees the new set.
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
from dnsserver import DnsServer  # noqa: E402

FRONT, BACKEND, DNS, FRONT4 = 7300, 7301, 5353, 7310
NAMES = ("s2", "s3", "s4", "s5")


class Env:
    """The test's addresses: front and DNS server on 127.R.R.1, static
    backend sN on 127.R.R.N, port BACKEND (or BACKEND + N for SRV)."""

    def __init__(self):
        self.addr = lib.loopback()
        self.base = self.addr.rsplit(".", 1)[0]
        self.dns = DnsServer(self.addr, DNS)

    def ip(self, name):
        return "%s.%s" % (self.base, name[1:])

    def config(self, pools, algorithm="round_robin", srv_ports=False, pool="dyn"):
        c = ["workers: 2", "listeners:",
             "  - name: front", "    bind: %s:%d" % (self.addr, FRONT), "    mode: http",
             "    pool: %s" % pool, "    max_connections: 256",
             "  - name: front4", "    bind: %s:%d" % (self.addr, FRONT4), "    mode: tcp",
             "    pool: %s" % pool, "    max_connections: 256"]
        for n in NAMES:
            port = BACKEND + int(n[1:]) if srv_ports else BACKEND
            c += ["  - name: %s" % n, "    bind: %s:%d" % (self.ip(n), port),
                  "    mode: static", '    body: "%s\\n"' % n, "    max_connections: 256"]
        c += ["pools:"] + pools
        return "\n".join(c) + "\n"

    def pool(self, name, dns, extra, algorithm="round_robin"):
        return ["  - name: %s" % name, "    algorithm: %s" % algorithm,
                "    discovery: { dns: %s, resolvers: [%s:%d], %s }" % (dns, self.addr, DNS, extra)]

    def stop(self):
        try:
            self.dns.stop()
        except Exception:
            pass


class Held:
    """A keep-alive connection through the tcp listener: each get() is one
    request on it, answered by the backend it connected to."""

    def __init__(self, addr):
        self.s = socket.create_connection((addr, FRONT4), timeout=10 * lib.SLOW)
        self.buf = b""

    def get(self):
        self.s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            check(d, "connection closed")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(self.buf) < n:
            d = self.s.recv(65536)
            check(d, "connection closed")
            self.buf += d
        body, self.buf = self.buf[:n], self.buf[n:]
        check(head.startswith(b"HTTP/1.1 200 "), "status %r" % head[:40])
        return body.decode().strip()


def get(addr):
    """One request on a new connection: (status, body) or (None, error)."""
    try:
        st, _, body = lib.http_get("%s:%d" % (addr, FRONT), timeout=10)
        return st, body.decode().strip()
    except Exception as e:  # noqa: BLE001 (a failed request is a result)
        return None, repr(e)


class Traffic:
    """Requests in a loop from two threads, each result with the time it
    was sent."""

    def __init__(self, addr):
        self.addr = addr
        self.results = []  # (start, status, body)
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]
        for t in self.threads:
            t.start()

    def _run(self):
        while self.running:
            t0 = time.monotonic()
            st, body = get(self.addr)
            with self.lock:
                self.results.append((t0, st, body))

    def since(self, t):
        with self.lock:
            return [(st, b) for t0, st, b in self.results if t0 >= t]

    def wait_for(self, body, since, timeout=20):
        deadline = time.monotonic() + timeout * lib.SLOW
        while time.monotonic() < deadline:
            if any(b == body for _, b in self.since(since)):
                return
            time.sleep(0.05)
        raise lib.TestFailure("no answer from %s after the change: %s" %
                              (body, sorted(set(self.since(since)))))

    def count_after(self, t, n):
        """Waits until <n> requests were sent after <t>; returns them."""
        deadline = time.monotonic() + 60 * lib.SLOW
        while len(self.since(t)) < n:
            check(time.monotonic() < deadline, "traffic stalled")
            time.sleep(0.05)
        return self.since(t)[:n]

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(30)
        with self.lock:
            bad = [(st, b) for _, st, b in self.results if st != 200]
        check(not bad, "%d failed requests of %d: %s" % (len(bad), len(self.results), bad[:5]))
        return len(self.results)


def changed(rl, start, pattern):
    """Waits for the discovery line matching <pattern>, then the generation
    line after it; returns (the line's counters, the time the ok line was
    seen)."""
    m, i = rl.wait_line(r"^ringlb: discovery pool=\S+ name=\S+ type=\S+ (backends=.*%s.*)$" %
                        pattern, 30, start)
    rl.wait_line(r"^ringlb: discovery generation=\d+ ok$", 30, i)
    return lib.kv(m.group(1)), time.monotonic()


def test_a_records_add_and_remove_backends_under_traffic_with_no_failed_request():
    env = Env()
    try:
        env.dns.set("web.test", "A", [env.ip("s2"), env.ip("s3")], ttl=1)
        rl = lib.Ringlb(env.config(env.pool("dyn", "web.test", "type: A, port: %d" % BACKEND)))
        # The first answer came before ready: the first snapshot has it.
        out = rl.output()
        check(re.search(r"^ringlb: discovery pool=dyn name=web.test type=A backends=2$", out, re.M)
              and out.index("discovery pool=dyn") < out.index("ready pid="),
              "first answer not in the first snapshot:\n%s" % out)
        tr = Traffic(env.addr)
        tr.wait_for("s2", 0)
        tr.wait_for("s3", 0)
        start = rl.count()
        env.dns.set("web.test", "A", [env.ip("s2"), env.ip("s3"), env.ip("s4")], ttl=1)
        kv, t = changed(rl, start, "added=1 removed=0")
        check(kv["backends"] == 3, "3 backends expected: %s" % kv)
        tr.wait_for("s4", t)  # added: gets traffic
        held, on = [], []  # connections until some are on s2 (round robin)
        while on.count("s2") < 2 and len(held) < 30:
            held.append(Held(env.addr))
            on.append(held[-1].get())
        check("s2" in on, "no held connection on s2: %s" % on)
        start = rl.count()
        env.dns.set("web.test", "A", [env.ip("s3"), env.ip("s4")], ttl=1)
        kv, t = changed(rl, start, "added=0 removed=1")
        # Existing connections are not touched: the ones on s2 go on there.
        check([h.get() for h in held] == on, "held connections moved: %s" % on)
        for h in held:
            h.s.close()
        after = tr.count_after(t, 40)
        check(not [b for _, b in after if b == "s2"], "s2 still picked after its removal: %s"
              % after)
        check({b for _, b in after} == {"s3", "s4"}, "s3 and s4 expected: %s" % after)
        # An unchanged answer publishes nothing.
        n = rl.count()
        q = env.dns.count("web.test", "A")
        deadline = time.monotonic() + 20 * lib.SLOW
        while env.dns.count("web.test", "A") < q + 2:
            check(time.monotonic() < deadline, "no query again within 20s")
            time.sleep(0.1)
        check(not any("discovery generation" in l for l in rl.lines[n:]),
              "an unchanged answer was published:\n%s" % rl.tail())
        total = tr.stop()
        check(total > 100, "only %d requests ran" % total)
        rl.finish()
    finally:
        env.stop()


def share(results, name):
    return sum(1 for _, b in results if b == name) / float(len(results))


def test_srv_ports_and_weights_map_to_backends_and_reweighting_moves_the_share():
    env = Env()
    try:
        srv = "_http._tcp.web.test"
        env.dns.set("b2.web.test", "A", [env.ip("s2")], ttl=1)
        env.dns.set("b3.web.test", "A", [env.ip("s3")], ttl=1)
        env.dns.set("b4.web.test", "A", [env.ip("s4")], ttl=1)
        # s4 is at priority 20: a backup, never used while priority 10 exists.
        env.dns.set(srv, "SRV", [(10, 1, BACKEND + 2, "b2.web.test"),
                                 (10, 3, BACKEND + 3, "b3.web.test"),
                                 (20, 50, BACKEND + 4, "b4.web.test")], ttl=1)
        rl = lib.Ringlb(env.config(env.pool("dyn", srv, "type: SRV", "weighted_round_robin"),
                                   srv_ports=True))
        rl.wait_line(r"^ringlb: discovery pool=dyn name=%s type=SRV backends=2$" % srv, 10)
        tr = Traffic(env.addr)
        got = tr.count_after(0, 200)
        check({b for _, b in got} == {"s2", "s3"}, "s2 and s3 expected: %s" % sorted(set(got)))
        check(0.65 <= share(got, "s3") <= 0.85, "s3 (weight 3 of 4) took %.2f" % share(got, "s3"))
        start = rl.count()
        env.dns.set(srv, "SRV", [(10, 3, BACKEND + 2, "b2.web.test"),
                                 (10, 1, BACKEND + 3, "b3.web.test"),
                                 (20, 50, BACKEND + 4, "b4.web.test")], ttl=1)
        kv, t = changed(rl, start, "reweighted=2")
        check(kv["added"] == 0 and kv["removed"] == 0, "only weights changed: %s" % kv)
        got = tr.count_after(t, 200)
        check(0.65 <= share(got, "s2") <= 0.85, "s2 (now weight 3 of 4) took %.2f"
              % share(got, "s2"))
        # The lowest priority gone: the backup becomes the set.
        start = rl.count()
        env.dns.set(srv, "SRV", [(20, 50, BACKEND + 4, "b4.web.test")], ttl=1)
        kv, t = changed(rl, start, "added=1 removed=2")
        got = tr.count_after(t, 20)
        check({b for _, b in got} == {"s4"}, "s4 only expected: %s" % sorted(set(got)))
        tr.stop()
        rl.finish()
    finally:
        env.stop()


def intervals(times):
    return [b - a for a, b in zip(times, times[1:])]


def test_ttls_are_honoured_with_interval_as_ceiling_and_a_one_second_floor():
    env = Env()
    try:
        for n in ("short", "long", "zero"):
            env.dns.set("%s.test" % n, "A", [env.ip("s2")],
                        ttl={"short": 2, "long": 3600, "zero": 0}[n])
        pools = (env.pool("short", "short.test", "port: %d, interval: 60s" % BACKEND) +
                 env.pool("long", "long.test", "port: %d, interval: 3s" % BACKEND) +
                 env.pool("zero", "zero.test", "port: %d, interval: 60s" % BACKEND))
        rl = lib.Ringlb(env.config(pools, pool="short"))
        t0 = time.monotonic()
        deadline = t0 + 40 * lib.SLOW
        while env.dns.count("long.test", "A") < 5 or env.dns.count("short.test", "A") < 6:
            check(time.monotonic() < deadline, "too few queries: short %d long %d" %
                  (env.dns.count("short.test", "A"), env.dns.count("long.test", "A")))
            time.sleep(0.2)
        checks = (("short", 2.0), ("long", 3.0), ("zero", 1.0))  # TTL 2, interval 3, floor 1
        for name, want in checks:
            iv = intervals(env.dns.times("%s.test" % name, "A"))
            iv.sort()
            med = iv[len(iv) // 2]
            print("     %s: asked again after %s s" % (name, ", ".join("%.2f" % x for x in iv)))
            check(want * 0.9 <= iv[0] and med <= want + 1.0 * lib.SLOW,
                  "%s: asked every %s s, expected about %s s" %
                  (name, ["%.2f" % x for x in iv], want))
        check(env.dns.count("zero.test", "A") <= (time.monotonic() - t0) / 0.9 + 2,
              "TTL 0 hammered the server")
        check(get(env.addr)[0] == 200, "front does not answer")
        rl.finish()
    finally:
        env.stop()


def failed_lines(rl, start=0):
    with rl.cond:
        return [l for l in rl.lines[start:] if re.search(r"discovery pool=dyn name=web.test failed:", l)]


def test_a_failing_resolver_keeps_the_last_good_set_and_logs_once_per_streak():
    env = Env()
    try:
        env.dns.set("web.test", "A", [env.ip("s2"), env.ip("s3")], ttl=1)
        rl = lib.Ringlb(env.config(env.pool("dyn", "web.test", "type: A, port: %d" % BACKEND)))
        tr = Traffic(env.addr)
        tr.wait_for("s3", 0)
        # The server stopped: every query fails; the set stays.
        start = rl.count()
        env.dns.stop()
        rl.wait_line(r"^ringlb: warning: discovery pool=dyn name=web.test failed: .* "
                     r"\(keeping 2 backends\)$", 20, start)
        t = time.monotonic()
        time.sleep(6 * lib.SLOW)  # retries at 1, 2, 4 s: several failures, one line
        check(len(failed_lines(rl, start)) == 1, "one line per streak expected:\n%s" % rl.tail())
        after = tr.since(t)
        check({b for _, b in after} == {"s2", "s3"}, "the last good set: %s" % sorted(set(after)))
        env.dns.start()
        m, _ = rl.wait_line(r"^ringlb: discovery pool=dyn name=web.test recovered after (\d+) "
                            r"failed queries$", 20, start)
        check(int(m.group(1)) >= 3, "expected several failed queries: %s" % m.group(0))
        # SERVFAIL, then NXDOMAIN, then an empty answer: one streak, one line,
        # the set kept throughout. (c-ares tries the next resolver on a
        # SERVFAIL; when every one said so it reports "Could not contact DNS
        # servers".)
        for why, act in (("Could not contact", lambda: env.dns.fail("web.test", "SERVFAIL")),
                         ("Domain name not found", lambda: env.dns.fail("web.test", "NXDOMAIN")),
                         ("empty answer", lambda: (env.dns.fail("web.test", None),
                                                   env.dns.set("web.test", "A", [], ttl=1)))):
            start = rl.count()
            act()
            rl.wait_line(r"^ringlb: warning: discovery pool=dyn name=web.test failed: %s"
                         % why, 20, start)
            after = tr.count_after(time.monotonic(), 10)
            check({b for _, b in after} == {"s2", "s3"}, "%s: %s" % (why, sorted(set(after))))
            if why != "empty answer":
                env.dns.fail("web.test", None)
                rl.wait_line(r"recovered after \d+ failed queries$", 20, start)
        check(len(failed_lines(rl)) == 4, "four streaks, four lines:\n%s" % rl.output())
        env.dns.set("web.test", "A", [env.ip("s4")], ttl=1)
        kv, t = changed(rl, start, "added=1 removed=2")
        tr.wait_for("s4", t)
        tr.stop()
        rl.finish()
    finally:
        env.stop()


def test_a_reload_keeps_the_resolved_set_without_an_empty_window():
    env = Env()
    try:
        env.dns.set("web.test", "A", [env.ip("s2"), env.ip("s3")], ttl=300)
        cfg = env.config(env.pool("dyn", "web.test", "type: A, port: %d, interval: 60s" % BACKEND))
        rl = lib.Ringlb(cfg)
        env.dns.stop()  # no answer can come after the reload
        tr = Traffic(env.addr)
        tr.wait_for("s3", 0)
        start = rl.count()
        gen = rl.reload()
        t = time.monotonic()
        after = tr.count_after(t, 30)
        check({b for _, b in after} == {"s2", "s3"}, "after reload %d: %s" % (gen, after))
        check(not failed_lines(rl, start), "queried again on reload:\n%s" % rl.tail())
        tr.stop()  # no failed request across the reload
        # Another name: a new question, asked at once; until its answer the
        # pool is empty (say so) and it fails here, so it stays empty.
        rl.write_config(cfg.replace("web.test", "other.test"))
        rl.reload()
        rl.wait_line(r"discovery pool=dyn name=other.test failed:", 20, start)
        st, _ = get(env.addr)
        check(st == 503, "an empty pool answers 503, got %s" % st)
        rl.finish()
    finally:
        env.stop()


def test_start_succeeds_with_a_dead_resolver_and_the_pool_fills_on_its_first_answer():
    env = Env()
    env.dns.stop()
    try:
        t0 = time.monotonic()
        rl = lib.Ringlb(env.config(env.pool("dyn", "web.test", "type: A, port: %d" % BACKEND)))
        check(time.monotonic() - t0 < 10 * lib.SLOW, "start took %.1fs" % (time.monotonic() - t0))
        check(failed_lines(rl), "no failure logged:\n%s" % rl.output())
        st, _ = get(env.addr)
        check(st == 503, "no backend yet: 503 expected, got %s" % st)
        env.dns.set("web.test", "A", [env.ip("s5")], ttl=1)
        env.dns.start()
        kv, t = changed(rl, 0, "added=1")
        st, body = get(env.addr)
        check((st, body) == (200, "s5"), "after the first answer: %s %s" % (st, body))
        rl.finish()
    finally:
        env.stop()


if __name__ == "__main__":
    lib.main(globals(), limit=120)
