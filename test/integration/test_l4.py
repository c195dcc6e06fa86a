"""L4 proxy: byte-exact echo through ringlb with each splice mode, half-close,
and a backend killed mid-run."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CONFIG = """
workers: 1
listeners:
  - name: l4
    bind: {addr}:7000
    mode: tcp
    pool: echo
    splice: {splice}
    max_connections: 1024
pools:
  - name: echo
    algorithm: round_robin
    backends:
      - {{ address: {addr}:7001 }}
      - {{ address: {addr}:7002 }}
"""


def start(splice="auto", workers=1, extra=()):
    addr = lib.loopback()
    a = lib.echo(addr + ":7001", extra=["-v"])
    b = lib.echo(addr + ":7002", extra=["-v"])
    cfg = CONFIG.format(addr=addr, splice=splice).replace("workers: 1", "workers: %d" % workers)
    r = lib.Ringlb(cfg, args=list(extra))
    return addr, a, b, r


def accepts(p):
    return len([l for l in p.output().splitlines() if l.startswith("echo: accept ")])


def backends(r):
    return {lib.kv(l)["addr"]: lib.kv(l) for l in r.stats() if l.startswith("ringlb: stats backend ")}


def echo_run(splice):
    addr, a, b, r = start(splice)
    rc, d = lib.l4client(addr + ":7000", 200, 4 << 20, "echo", timeout=240)
    check(rc == 0 and d["ok"] == 200 and d["failed"] == 0,
          "l4client rc=%s %s:\n%s" % (rc, d, r.tail()))
    check(d["bytes"] == 200 * (4 << 20), "verified %s bytes" % d["bytes"])
    s = r.finish()
    check(s["accepted"] == 200, "accepted=%s" % s["accepted"])
    check(s["connect_ok"] == 200 and s["connect_fail"] == 0, "connects %s" % s)
    check(accepts(a) + accepts(b) == 200, "backends accepted %d+%d" % (accepts(a), accepts(b)))
    check(abs(accepts(a) - accepts(b)) <= 1, "round robin split %d/%d" % (accepts(a), accepts(b)))
    # Both directions of every connection: 4 MiB to the backend, 4 MiB back.
    moved = s["bytes_out"]  # splice_bytes is the part of it that went by splice
    check(moved == 2 * 200 * (4 << 20), "moved %d bytes" % moved)
    return s


def test_echo_200_connections_4mib_splice_never():
    s = echo_run("never")
    check(s["splice_bytes"] == 0 and s["splices"] == 0, "splice used with never: %s" % s)


def test_echo_200_connections_4mib_splice_always():
    s = echo_run("always")
    check(s["splice_bytes"] > 0, "splice not used with always: %s" % s)


def test_echo_200_connections_4mib_splice_auto():
    s = echo_run("auto")
    check(s["splice_bytes"] > 0 and s["bytes_out"] > 0, "auto did not use both paths: %s" % s)


def test_half_close_delivers_every_byte_before_eof():
    for splice in ("never", "always"):
        addr, a, b, r = start(splice)
        rc, d = lib.l4client(addr + ":7000", 20, 1 << 20, "echo", extra=["--half-close"])
        check(rc == 0 and d["ok"] == 20, "half-close %s: rc=%s %s" % (splice, rc, d))
        r.finish()
        a.stop()
        b.stop()


def test_killed_backend_leaves_new_connections_on_the_other():
    addr, a, b, r = start("never")
    # 20 held connections, spread over both backends.
    hold = lib.Proc([os.path.join(lib.TOOLS, "l4client"), "-c", addr + ":7000", "-n", "20",
                     "-b", "1000", "-m", "hold", "--timeout", "120"], name="hold")
    hold.wait_line(r"^l4client: holding 20$")
    a.wait_line(r"^echo: accept n=10$")
    b.wait_line(r"^echo: accept n=10$")
    on_b = accepts(b)
    check(on_b == 10 and accepts(a) == 10, "round robin %d/%d" % (accepts(a), on_b))
    before = backends(r)
    b.stop(signal.SIGKILL)
    # New connections, one at a time: every one must be served by a.
    a0 = accepts(a)
    for i in range(20):
        rc, d = lib.l4client(addr + ":7000", 1, 4096, "echo")
        check(rc == 0 and d["ok"] == 1, "connection %d after the kill failed: %s" % (i, d))
    check(accepts(a) - a0 == 20, "a accepted %d of 20" % (accepts(a) - a0))
    after = backends(r)
    dead = addr + ":7002"
    fails = after[dead]["connect_fail"] - before[dead]["connect_fail"]
    picks = after[dead]["picks"] - before[dead]["picks"]
    # Every pick of the dead backend failed and was retried on a.
    check(fails == picks and fails >= 1, "dead backend: picks=%d connect_fail=%d" % (picks, fails))
    hold.wait_line(r"^l4client: dropped n=%d$" % on_b)
    hold.stop()
    m = re.search(r"dropped=(\d+)", hold.output())
    check(m and int(m.group(1)) == on_b,
          "held connections dropped %s, expected the %d on the killed backend" %
          (m and m.group(1), on_b))
    s = r.finish()
    check(s["connect_fail"] == fails, "summary connect_fail=%d, observed %d" % (s["connect_fail"], fails))


def test_no_backend_reachable_closes_the_client_and_counts():
    addr = lib.loopback()
    r = lib.Ringlb(CONFIG.format(addr=addr, splice="never"))
    rc, d = lib.l4client(addr + ":7000", 5, 100, "echo")
    check(d["ok"] == 0 and d["failed"] == 5, "expected 5 failures: %s" % d)
    s = r.finish()
    check(s["no_backend"] == 5, "no_backend=%s" % s["no_backend"])
    check(s["connect_fail"] == 10, "connect_fail=%s (2 tries each)" % s["connect_fail"])


def test_splice_serves_small_round_trips_after_bulk():
    # Spliced sockets are read at 64 KiB (SO_RCVLOWAT) or after a 1 ms
    # wait: an interactive exchange after a bulk transfer must still flow.
    import socket
    for splice in ("always", "auto"):
        addr, a, b, r = start(splice)
        c = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
        bulk = bytes(range(256)) * 1024  # 256 KiB: auto has switched to splice
        c.sendall(bulk)
        got = b""
        while len(got) < len(bulk):
            got += c.recv(1 << 20)
        check(got == bulk, "bulk echo mismatch (%s)" % splice)
        for i in range(50):
            msg = b"ping %03d\n" % i
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = c.recv(4096)
                check(d, "EOF in round trip %d (%s)" % (i, splice))
                got += d
            check(got == msg, "round trip %d: %r (%s)" % (i, got, splice))
        c.close()
        s = r.finish()
        check(s["splice_bytes"] > 0, "splice not used (%s): %s" % (splice, s))
        a.stop()
        b.stop()



def test_quiet_spliced_session_is_closed_at_the_idle_timeout():
    # A spliced socket waits for readable with a 1 ms linked wait; a quiet
    # session must still go quiet (no completion every ms) and so reach
    # timeouts.idle like a session on buffers.
    import socket
    import time
    for splice in ("never", "always"):
        addr = lib.loopback()
        a = lib.echo(addr + ":7001")
        b = lib.echo(addr + ":7002")
        cfg = CONFIG.format(addr=addr, splice=splice).replace(
            "    max_connections: 1024", "    max_connections: 1024\n    timeouts: { idle: 1s }")
        r = lib.Ringlb(cfg)
        c = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
        c.sendall(b"hello\n")
        got = b""
        while len(got) < 6:
            d = c.recv(4096)
            check(d, "EOF before the echo (%s)" % splice)
            got += d
        t0 = time.monotonic()
        try:
            d = c.recv(4096)
        except socket.timeout:
            d = None
        waited = time.monotonic() - t0
        c.close()
        check(d == b"", "a quiet %s session was not closed in %.1fs (idle: 1s)" % (splice, waited))
        s = r.finish()
        check(s["idle_timeouts"] >= 1, "idle_timeouts=%s (%s)" % (s["idle_timeouts"], splice))
        a.stop()
        b.stop()

def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_pooled_splice_pipes_are_closed_once_idle():
    # Found by the soak (tools/soak.sh): every pipe a splice ever used
    # stayed open in the worker's pool, so the descriptor count never came
    # back to idle. The cleanup closes those no splice needed since the
    # last one.
    addr = lib.loopback()
    a = lib.echo(addr + ":7001")
    b = lib.echo(addr + ":7002")
    cfg = CONFIG.format(addr=addr, splice="always") + "memory_tuning: { memory_cleanup_interval: 500ms }\n"
    r = lib.Ringlb(cfg)
    idle = fds(r.pid)
    rc, d = lib.l4client(addr + ":7000", 40, 1 << 20, "echo", extra=["--parallel", "40"])
    check(rc == 0 and d["ok"] == 40, "l4client rc=%s %s" % (rc, d))
    s = r.stats_total()
    check(s["splice_bytes"] > 0, "no splice: %s" % s)
    deadline = time.monotonic() + 20 * lib.SLOW
    while fds(r.pid) != idle:
        check(time.monotonic() < deadline, "%d descriptors open, %d when idle: %s" %
              (fds(r.pid), idle, sorted(os.readlink("/proc/%d/fd/%s" % (r.pid, f))
                                        for f in os.listdir("/proc/%d/fd" % r.pid))))
        time.sleep(0.2)
    r.finish()
    a.stop()
    b.stop()


if __name__ == "__main__":
    lib.main(globals(), limit=300)
