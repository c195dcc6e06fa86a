"""Start-up and shutdown: the built-in demo config, readiness, pidfile,
SIGUSR1, clear one-line errors, drain on SIGTERM."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

TCP = """
workers: 1
listeners:
  - name: l4
    bind: {addr}:7000
    mode: tcp
    pool: p
    max_connections: {maxconn}
    timeouts: {{ drain: {drain} }}
pools:
  - name: p
    backends:
      - {{ address: {addr}:7001 }}
"""


def run_fail(args, env=None, timeout=20):
    """Runs ringlb expecting it to fail at start; returns (rc, stderr lines)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([lib.BIN] + args, capture_output=True, text=True, timeout=timeout * lib.SLOW,
                       env=e)
    return p.returncode, [l for l in p.stderr.splitlines() if l.strip()]


def errors(lines):
    """The error lines of <lines> (placement and other info lines aside)."""
    return [l for l in lines if l.startswith("ringlb: error: ")]


def test_demo_config_balances_over_both_static_listeners():
    # The built-in config of `make run`: fixed ports 8080-8082 on 127.0.0.1.
    p = lib.Proc([lib.BIN, "--workers", "2"], name="ringlb")
    p.wait_line(r"^ringlb: ready pid=%d generation=1$" % p.pid)
    seen = {}
    for _ in range(20):
        st, h, body = lib.http_get("127.0.0.1:8080")
        check(st == 200, "status %s" % st)
        seen[h["x-served-by"]] = seen.get(h["x-served-by"], 0) + 1
        check(body == ("hello from %s\n" % h["x-served-by"]).encode(), "body %r" % body)
    check(set(seen) == {"demo-a", "demo-b"} and min(seen.values()) >= 5, "split %s" % seen)
    # The HTTP listener of the demo proxies to the same static listeners.
    seen = {}
    for _ in range(10):
        st, h, body = lib.http_get("127.0.0.1:8088")
        check(st == 200 and h.get("connection") == "keep-alive", "status %s %s" % (st, h))
        seen[h["x-served-by"]] = seen.get(h["x-served-by"], 0) + 1
    check(set(seen) == {"demo-a", "demo-b"}, "http split %s" % seen)
    p.kill(signal.SIGTERM)
    check(p.wait(30) == 0, "exit status")
    check("ringlb: summary " in p.output(), "no summary")


def test_pidfile_and_stats_snapshot():
    addr = lib.loopback()
    d = lib.tmpdir()
    pidfile = os.path.join(d, "ringlb.pid")
    r = lib.Ringlb(TCP.format(addr=addr, maxconn=64, drain="1s"), args=["--pidfile", pidfile])
    check(int(open(pidfile).read()) == r.pid, "pidfile content")
    lines = r.stats()
    kinds = {l.split()[2].split("=")[0] for l in lines}
    for k in ("memory", "pool", "worker", "backend", "total"):
        check(k in kinds, "stats snapshot lacks %s lines: %s" % (k, kinds))
    r.finish()
    check(not os.path.exists(pidfile), "pidfile left behind")


def test_pidfile_symlink_refuses_to_start_and_leaves_its_target():
    # As root, fopen(pidfile, "w") followed a link and truncated its target.
    addr = lib.loopback()
    d = lib.tmpdir()
    path = os.path.join(d, "c.yaml")
    open(path, "w").write(TCP.format(addr=addr, maxconn=64, drain="1s"))
    target = os.path.join(d, "precious")
    open(target, "w").write("do not touch\n")
    for name, to in (("ringlb.pid", target), ("dangling.pid", os.path.join(d, "created"))):
        link = os.path.join(d, name)
        os.symlink(to, link)
        rc, err = run_fail(["-c", path, "--pidfile", link])
        check(rc == 1, "rc=%s stderr=%s" % (rc, err))
        check(errors(err) == ["ringlb: error: pidfile %s: is a symbolic link, not followed" %
                              link] and not any("ready" in l for l in err), "stderr: %s" % err)
        check(os.path.islink(link) and os.readlink(link) == to, "the link was changed")
    check(open(target).read() == "do not touch\n", "the link's target was written")
    check(not os.path.exists(os.path.join(d, "created")), "the dangling link's target was created")


def test_pidfile_replaces_a_stale_one_but_not_a_hard_link():
    addr = lib.loopback()
    d = lib.tmpdir()
    pidfile = os.path.join(d, "ringlb.pid")
    open(pidfile, "w").write("999999 and a longer stale line\n")
    r = lib.Ringlb(TCP.format(addr=addr, maxconn=64, drain="1s"), args=["--pidfile", pidfile])
    check(open(pidfile).read() == "%d\n" % r.pid, "stale pidfile not replaced: %r" %
          open(pidfile).read())
    r.finish()
    check(not os.path.exists(pidfile), "pidfile left behind")
    other = os.path.join(d, "other-name")
    open(other, "w").write("kept\n")
    os.link(other, pidfile)
    path = os.path.join(d, "c.yaml")
    open(path, "w").write(TCP.format(addr=addr, maxconn=64, drain="1s"))
    rc, err = run_fail(["-c", path, "--pidfile", pidfile])
    check(rc == 1 and errors(err) == ["ringlb: error: pidfile %s: has other hard links, not "
                                      "written" % pidfile], "rc=%s stderr=%s" % (rc, err))
    check(open(other).read() == "kept\n", "the hard link's file was written")


def test_port_in_use_is_one_clear_line():
    addr = lib.loopback()
    s = socket.socket()
    s.bind((addr, 7000))
    s.listen(1)
    try:
        d = lib.tmpdir()
        path = os.path.join(d, "c.yaml")
        open(path, "w").write(TCP.format(addr=addr, maxconn=64, drain="1s"))
        rc, err = run_fail(["-c", path])
        check(rc == 1, "rc=%s" % rc)
        check(len(err) == 1 and "ringlb: error: " in err[0] and "in use" in err[0] and
              addr + ":7000" in err[0], "stderr: %s" % err)
    finally:
        s.close()


def test_missing_config_file_is_one_clear_line():
    rc, err = run_fail(["-c", "/nonexistent/ringlb.yaml"])
    check(rc == 1 and len(err) == 1, "rc=%s stderr=%s" % (rc, err))
    check("/nonexistent/ringlb.yaml" in err[0] and "No such file" in err[0], err[0])


def test_tables_larger_than_nofile_refuse_to_start():
    addr = lib.loopback()
    d = lib.tmpdir()
    path = os.path.join(d, "c.yaml")
    open(path, "w").write(TCP.format(addr=addr, maxconn=1000000, drain="1s"))
    rc, err = run_fail(["-c", path])
    check(rc == 1 and len(err) == 1 and "RLIMIT_NOFILE" in err[0], "rc=%s stderr=%s" % (rc, err))


def test_usage_error_exits_2():
    rc, err = run_fail(["--no-such-flag"])
    check(rc == 2 and len(err) >= 1 and "no-such-flag" in err[0], "rc=%s %s" % (rc, err))


def test_sigterm_drains_open_connections_then_exits_0():
    addr = lib.loopback()
    be = lib.echo(addr + ":7001")
    r = lib.Ringlb(TCP.format(addr=addr, maxconn=64, drain="30s"))
    # A transfer in progress at SIGTERM finishes; a new connection is refused.
    c = socket.create_connection((addr, 7000), timeout=10)
    c.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        got += c.recv(65536)
    r.kill(signal.SIGTERM)
    r.wait_line(r"^ringlb: stopping")
    c.sendall(b"y" * 1000)
    got = b""
    while len(got) < 1000:
        got += c.recv(65536)
    check(got == b"y" * 1000, "drain: echo broken")
    refused = False
    try:
        socket.create_connection((addr, 7000), timeout=5).close()
    except OSError:
        refused = True
    check(refused, "a new connection was accepted while draining")
    c.close()
    check(r.wait(30) == 0, "exit status after drain")
    check("ringlb: summary " in r.output(), "no summary")
    be.stop()


FIRST = """
workers: 1
listeners:
  - {{ name: st, bind: "{addr}:7000", mode: static, body: "st\\n", timeouts: {{ drain: 30s }} }}
"""


def test_sigterm_answers_a_connection_whose_first_request_was_on_its_way():
    # A connection accepted before the stop that has sent nothing yet may
    # have its request on the wire: it gets its answer (Connection: close),
    # while an idle keep-alive connection closes at once.
    addr = lib.loopback()
    r = lib.Ringlb(FIRST.format(addr=addr))
    used = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    used.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check(b"200 OK" in used.recv(65536), "no first answer on the keep-alive connection")
    # An HTTP listener defers the accept until bytes come (TCP_DEFER_ACCEPT):
    # the HTTP side of this is test_proto's case; here the static one.
    fresh = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    deadline = time.monotonic() + 10 * lib.SLOW
    while r.stats_total()["active"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    active = r.stats_total()["active"]
    check(active == 2, "ringlb did not accept the two connections: active %s" % active)
    start = r.count()
    r.kill(signal.SIGTERM)
    r.wait_line(r"^ringlb: stopping", 20, start)
    check(lib.read_to_end(used) == b"", "the idle keep-alive connection was not closed")
    fresh.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = lib.read_to_end(fresh)
    check(got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"st\n") and
          b"\r\nConnection: close\r\n" in got,
          "a first request sent after the stop began: %r" % got[:300])
    fresh.close()
    used.close()
    check(r.wait(30) == 0, "exit status after drain")


if __name__ == "__main__":
    lib.main(globals(), limit=60)
