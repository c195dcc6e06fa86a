"""Binary upgrade (`ringlb --upgrade`): the running process hands its
listening sockets over on upgrade.socket, the new one accepts on them, and
only then does the old one stop accepting and drain.

Under wrk keep-alive and wrk "Connection: close" traffic through an http
listener (to ringlb's own static listeners) and L4 streams through a tcp
listener to the test's echo backend (every byte checked), ten upgrades in
a row (the same build/ringlb as "new") lose nothing: wrk sees no socket
error and no non-2xx, no stream breaks, and each old process exits after
its drain with its memory back at zero. A new process that cannot start (a
bad config, a port in use) leaves the old one serving, exits 1 and says
why; the pidfile and systemd's MAINPID (a test-owned NOTIFY_SOCKET) follow
the new process.
"""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

WEB, L4, S1, S2, ECHO, ADMIN, EXTRA = 7200, 7201, 7202, 7203, 7210, 7290, 7204

CONFIG = """
workers: 2
upgrade:
  socket: {sock}
admin:
  bind: {addr}:%d
listeners:
  - name: web
    bind: {addr}:%d
    mode: http
    pool: static
    max_connections: 512
    timeouts: {{ drain: 20s }}
  - name: l4
    bind: {addr}:%d
    mode: tcp
    pool: echo
    max_connections: 256
    timeouts: {{ drain: 20s }}
  - name: s1
    bind: {addr}:%d
    mode: static
    body: "s1\\n"
    max_connections: 512
  - name: s2
    bind: {addr}:%d
    mode: static
    body: "s2\\n"
    max_connections: 512
{extra}pools:
  - name: static
    backends:
      - {{ address: {addr}:%d }}
      - {{ address: {addr}:%d }}
  - name: echo
    backends:
      - {{ address: {addr}:%d }}
""" % (ADMIN, WEB, L4, S1, S2, S1, S2, ECHO)

EXTRA_LISTENER = """  - name: extra
    bind: {addr}:%d
    mode: static
    body: "extra\\n"
""" % EXTRA


def config(addr, sock, extra=""):
    return CONFIG.format(addr=addr, sock=sock, extra=extra.format(addr=addr))


def upgrade(r, args=(), env=None, config_path=None):
    """Starts `ringlb --upgrade` on <r>'s config (or <config_path>)."""
    argv = [lib.BIN, "--upgrade", "-c", config_path or r.config_path] + list(args)
    return lib.Proc(argv, env=env, name="ringlb-new")


def check_exit(p, timeout):
    """<p> (a ringlb) exits 0 within <timeout> s with its memory back at 0."""
    rc = p.wait(timeout)
    out = p.output()
    check(rc == 0, "%s pid=%d exited %s:\n%s" % (p.name, p.pid, rc, p.tail()))
    m = re.search(r"^ringlb: exit memory (.*)$", out, re.M)
    check(m, "pid=%d: no exit memory line:\n%s" % (p.pid, p.tail()))
    ex = lib.kv(m.group(1))
    check(ex["current"] == 0 and ex["buffers_in_use"] == 0, "pid=%d: %s" % (p.pid, m.group(0)))
    for bad in ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer"):
        check(bad not in out, "sanitizer report:\n%s" % out[-4000:])


def handover(r, new):
    """Waits until <new> is ready and <r> (the old one) hands over."""
    m, _ = new.wait_line(r"^ringlb: ready pid=(\d+) generation=1$", 30)
    check(int(m.group(1)) == new.pid, "ready line of pid %s" % m.group(1))
    new.wait_line(r"^ringlb: upgrade: pid=%d stops accepting and drains; this process serves$"
                  % r.pid, 20)
    r.wait_line(r"^ringlb: upgrade: pid=%d accepts on every socket: this process stops "
                r"accepting and drains$" % new.pid, 20)


class Streams:
    """L4 streams through the tcp listener to the echo backend, <n> threads
    each opening one stream after another for as long as it runs: each
    stream sends STREAM bytes paced over about 2.5 s (so it spans an
    upgrade) and checks that every byte comes back in order."""

    STREAM = 3 << 20
    CHUNK = 64 << 10
    PACE = 0.05  # s between chunks: 1.3 MB/s per stream

    def __init__(self, addr, n):
        self.addr = addr
        self.data = os.urandom(self.STREAM)
        self.stop = threading.Event()
        self.done = 0
        self.broken = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def one(self):
        import select
        s = socket.create_connection((self.addr, L4), timeout=10 * lib.SLOW)
        s.setblocking(False)
        off = got = 0
        next_send = time.monotonic()
        deadline = time.monotonic() + 60 * lib.SLOW
        try:
            while got < len(self.data):
                now = time.monotonic()
                check(now < deadline, "stream: %d sent, %d back after 60s" % (off, got))
                want_w = off < len(self.data) and now >= next_send
                wait = max(0.0, min(next_send - now, 0.2)) if off < len(self.data) else 0.5
                rd, wr, _ = select.select([s], [s] if want_w else [], [], 0 if want_w else wait)
                if wr:
                    try:
                        off += s.send(self.data[off:off + self.CHUNK])
                        next_send = now + self.PACE
                    except BlockingIOError:
                        pass
                if rd:
                    d = s.recv(1 << 20)
                    check(d, "stream: EOF after %d of %d bytes back" % (got, len(self.data)))
                    check(d == self.data[got:got + len(d)],
                          "stream: bytes %d..%d differ" % (got, got + len(d)))
                    got += len(d)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10 * lib.SLOW)
            check(s.recv(1) == b"", "stream: no EOF after the echo")
        finally:
            s.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.one()
                with self.lock:
                    self.done += 1
            except Exception as e:  # noqa: BLE001 (every failure is a broken stream)
                with self.lock:
                    self.broken.append(repr(e))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(90 * lib.SLOW)
        check(not any(t.is_alive() for t in self.threads), "a stream thread is stuck")
        check(not self.broken, "%d broken streams: %s" % (len(self.broken), self.broken[:3]))


def wrk(addr, conns, close):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d120s", "--timeout", "10s"]
    if close:
        argv += ["-H", "Connection: close"]
    return lib.Proc(argv + ["http://%s:%d/" % (addr, WEB)], name="wrk")


def wrk_result(p):
    """SIGINT (wrk prints its summary and exits); returns the request count
    after checking it saw no error."""
    p.kill(signal.SIGINT)
    p.wait(30)
    out = p.output()
    m = re.search(r"^\s*(\d+) requests in ", out, re.M)
    check(m, "wrk printed no summary:\n%s" % out)
    check("Socket errors" not in out and "Non-2xx" not in out, "wrk saw errors:\n%s" % out)
    return int(m.group(1))


def test_ten_upgrades_under_wrk_and_l4_streams_lose_nothing():
    if not shutil.which("wrk"):
        raise lib.TestSkip("wrk is not installed")
    addr = lib.loopback()
    d = lib.tmpdir()
    sock = os.path.join(d, "upgrade.sock")
    e = lib.echo("%s:%d" % (addr, ECHO))
    r = lib.Ringlb(config(addr, sock))
    check(stat.S_IMODE(os.stat(sock).st_mode) == 0o600, "upgrade socket mode %o" %
          stat.S_IMODE(os.stat(sock).st_mode))
    ka, cl = wrk(addr, 16, False), wrk(addr, 8, True)
    st = Streams(addr, 4)
    time.sleep(1)  # traffic on the first process before the first upgrade
    olds = []
    cur = r
    for i in range(10):
        new = upgrade(cur, config_path=r.config_path)
        handover(cur, new)
        olds.append(cur)
        cur = new
        time.sleep(1.5)  # streams and wrk connections of cur's time run across the next one
    time.sleep(1)
    n_ka, n_cl = wrk_result(ka), wrk_result(cl)
    st.finish()
    # Every old process is gone after its drain (its streams end within
    # about 3 s; the drain time is 20 s).
    for p in olds:
        check_exit(p, 30)
    check(n_ka > 1000 and n_cl > 200, "too little traffic: %d keep-alive, %d close" % (n_ka, n_cl))
    check(st.done >= 8, "only %d streams completed" % st.done)
    # The last one still serves, then stops as usual.
    st_, _, body = lib.http_get("%s:%d" % (addr, WEB))
    check(st_ == 200 and body in (b"s1\n", b"s2\n"), "after the upgrades: %s %r" % (st_, body))
    cur.kill(signal.SIGTERM)
    check_exit(cur, 30)
    e.stop()
    print("    wrk keep-alive %d requests, close %d, %d streams of %d MB" %
          (n_ka, n_cl, st.done, Streams.STREAM >> 20), flush=True)


def test_a_new_process_that_cannot_start_leaves_the_old_one_serving():
    addr = lib.loopback()
    d = lib.tmpdir()
    sock = os.path.join(d, "upgrade.sock")
    r = lib.Ringlb(config(addr, sock))
    url = "%s:%d" % (addr, WEB)

    # A bad config: the error line in the documented format, exit 1, and
    # the old process never hears of it.
    bad = os.path.join(d, "bad.yaml")
    with open(bad, "w") as f:
        f.write(config(addr, sock).replace("    max_connections: 256\n",
                                           "    max_connections: many\n"))
    line = open(bad).read().split("\n").index("    max_connections: many") + 1
    p = upgrade(r, config_path=bad)
    check(p.wait(30) == 1, "bad config: exit %s" % p.p.returncode)
    check(re.search(r"^%s:%d:22: listeners\[1\]\.max_connections: " % (re.escape(bad), line),
                    p.output(), re.M), "bad config's error line:\n%s" % p.output())
    check(lib.http_get(url)[0] == 200, "old process after the bad config")

    # A port in use for a listener the new config adds: its workers fail
    # after receiving the sockets, before accepting on any.
    squat = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squat.bind((addr, EXTRA))
    squat.listen(8)
    try:
        busy = os.path.join(d, "busy.yaml")
        with open(busy, "w") as f:
            f.write(config(addr, sock, EXTRA_LISTENER))
        start = r.count()
        p = upgrade(r, config_path=busy)
        check(p.wait(30) == 1, "port in use: exit %s" % p.p.returncode)
        check(re.search(r"^ringlb: error: listener extra: bind %s:%d: Address already in use$" %
                        (re.escape(addr), EXTRA), p.output(), re.M),
              "port in use: no error line:\n%s" % p.output())
        r.wait_line(r"^ringlb: warning: upgrade: pid=%d ended before it was ready \(its output "
                    r"says why\): still serving$" % p.pid, 10, start)
        for _ in range(20):
            check(lib.http_get(url)[0] == 200, "old process after the failed upgrade")
    finally:
        squat.close()

    # No upgrade socket there: exit 1 with the reason.
    nosock = os.path.join(d, "nosock.yaml")
    with open(nosock, "w") as f:
        f.write(config(addr, os.path.join(d, "missing.sock")))
    p = upgrade(r, config_path=nosock)
    check(p.wait(30) == 1, "missing socket: exit %s" % p.p.returncode)
    check(re.search(r"^ringlb: error: upgrade: connect %s: No such file or directory" %
                    re.escape(os.path.join(d, "missing.sock")), p.output(), re.M),
          "missing socket: %s" % p.output())

    # After all that, an upgrade works, with the listener added.
    new = upgrade(r, config_path=busy)
    handover(r, new)
    check_exit(r, 30)
    check(lib.http_get("%s:%d" % (addr, EXTRA))[2] == b"extra\n", "added listener")
    check(lib.http_get(url)[0] == 200, "web after the upgrade")
    new.kill(signal.SIGTERM)
    check_exit(new, 30)


def test_a_new_process_that_dies_holding_the_sockets_loses_nothing():
    """A stand-in for a new binary that crashes before it is ready: it takes
    every socket (python's recv_fds), holds them without accepting while
    traffic goes on, and dies. The old process serves every connection,
    then and after, says what happened, and a real upgrade works next."""
    addr = lib.loopback()
    d = lib.tmpdir()
    sock = os.path.join(d, "upgrade.sock")
    r = lib.Ringlb(config(addr, sock))
    url = "%s:%d" % (addr, WEB)
    start = r.count()
    c, fds = take_sockets(sock, r.pid)
    # 2 workers x (web, l4, s1, s2) + the admin endpoint
    check(len(fds) == 9, "%d sockets offered" % len(fds))
    r.wait_line(r"^ringlb: upgrade: pid=\d+ took the listening sockets; serving until it is "
                r"ready$", 10, start)
    for _ in range(50):
        check(lib.http_get(url)[0] == 200, "request while the sockets are held")
    for fd in fds:
        os.close(fd)
    c.close()
    r.wait_line(r"^ringlb: warning: upgrade: pid=\d+ ended before it was ready \(its output "
                r"says why\): still serving$", 10, start)
    for _ in range(20):
        check(lib.http_get(url)[0] == 200, "request after the stand-in died")
    new = upgrade(r)
    handover(r, new)
    check_exit(r, 30)
    check(lib.http_get(url)[0] == 200, "request after the upgrade")
    new.kill(signal.SIGTERM)
    check_exit(new, 30)


def take_sockets(sock, expect_pid):
    """What a new process does first: hello, the offer, every socket."""
    import struct
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.settimeout(10 * lib.SLOW)
    c.connect(sock)
    c.send(b"RLBUPG1\0" + struct.pack("=i", os.getpid()))
    offer = c.recv(4096)
    magic, pid, n = struct.unpack_from("=8siI", offer)
    check(magic == b"RLBUPG1\0" and pid == expect_pid, "offer %r" % offer[:16])
    fds = []
    for _ in range(n):
        _, got, _, _ = socket.recv_fds(c, 512, 1)
        check(len(got) == 1, "a socket message without its fd")
        fds += got
    return c, fds


def test_a_stop_during_an_upgrade_leaves_the_sockets_listening_for_the_new_process():
    """SIGTERM to the old process while a new one holds its sockets: it
    stops without shutdown(), so the sockets go on listening in the new
    process, and a connection queued after the old one is gone is there
    for the new one to accept."""
    addr = lib.loopback()
    d = lib.tmpdir()
    sock = os.path.join(d, "upgrade.sock")
    r = lib.Ringlb(config(addr, sock))
    c, fds = take_sockets(sock, r.pid)
    try:
        r.wait_line(r"^ringlb: upgrade: pid=\d+ took the listening sockets", 10)
        r.kill(signal.SIGTERM)
        check_exit(r, 30)
        web = [socket.socket(fileno=os.dup(fd)) for fd in fds]
        web = [s for s in web if s.getsockname() == (addr, WEB)]
        check(len(web) == 2, "%d sockets of web (2 workers)" % len(web))
        cl = socket.create_connection((addr, WEB), timeout=10 * lib.SLOW)
        cl.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # through the deferred accept
        import select
        ready, _, _ = select.select(web, [], [], 10 * lib.SLOW)
        check(ready, "the connection is in no accept queue: a socket stopped listening")
        a, _ = ready[0].accept()
        check(a.recv(100).startswith(b"GET / "), "the queued connection's request")
        a.close()
        cl.close()
        for s in web:
            s.close()
    finally:
        for fd in fds:
            os.close(fd)
        c.close()


def test_pidfile_and_mainpid_follow_the_new_process():
    addr = lib.loopback()
    d = lib.tmpdir()
    sock = os.path.join(d, "upgrade.sock")
    pidfile = os.path.join(d, "ringlb.pid")
    n = lib.Notify()
    try:
        r = lib.Ringlb(config(addr, sock), args=["--pidfile", pidfile],
                       env={"NOTIFY_SOCKET": n.path})
        m = n.recv()
        check(m.get("READY") == "1" and "MAINPID" not in m, "first message %s" % m)
        check(open(pidfile).read() == "%d\n" % r.pid, "pidfile before")
        # The new process is started without NOTIFY_SOCKET: it takes the old
        # one's from the exchange, as an operator's shell would need.
        new = upgrade(r, args=["--pidfile", pidfile], env={"NOTIFY_SOCKET": ""})
        handover(r, new)
        m = n.recv()
        check(m.get("MAINPID") == str(new.pid) and m.get("READY") == "1",
              "the new process's message: %s" % m)
        check(m.get("STATUS", "").startswith("running generation=1: "), "status %s" % m)
        check_exit(r, 30)
        check(n.none_pending(), "the old process sent something after the handover")
        check(open(pidfile).read() == "%d\n" % new.pid, "pidfile after: %r" %
              open(pidfile).read())
        check(os.path.exists(sock), "the new process offers no upgrade socket")
        new.kill(signal.SIGTERM)
        m = n.recv()
        check(m.get("STOPPING") == "1", "stop message %s" % m)
        check_exit(new, 30)
        check(not os.path.exists(pidfile) and not os.path.exists(sock),
              "pidfile or upgrade socket left after the stop")
    finally:
        n.close()


if __name__ == "__main__":
    lib.main(globals(), limit=120)
