"""Shared helpers of the integration tests: processes stopped by PID, lines
waited on (never sleeps), a loopback address per test, a bounded runner.

A test file defines functions named test_*, then calls lib.main(globals()).
Each test gets a time limit, every process it started is stopped by PID when
it ends, and the file ends with "N passed, N failed".
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.environ.get("RLB_TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("RLB_BUILD", os.path.join(TOP, "build"))
BIN = os.environ.get("RLB_BIN", os.path.join(BUILD, "ringlb"))
TOOLS = os.path.join(BUILD, "test", "tools")
SLOW = 4 if os.environ.get("RLB_SLOW") else 1

_procs = []


class TestFailure(Exception):
    pass


class TestSkip(Exception):
    """Raised by a test that cannot run here (its reason is printed); it
    counts as neither passed nor failed."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def loopback():
    """A loopback address of this test's own: 127.R.R.1."""
    r = random.SystemRandom()
    a, b = r.randint(1, 254), r.randint(1, 254)
    return "127.%d.%d.1" % (a, b)


def tmpdir():
    d = tempfile.mkdtemp(prefix="rlb-")
    return d


class Proc:
    """A started process whose output (stdout+stderr) is collected by a
    thread, so a test can wait for a line without polling sleeps."""

    def __init__(self, argv, env=None, name=None, cwd=None, stdin=None):
        self.name = name or os.path.basename(argv[0])
        self.argv = argv
        self.lines = []
        self.cond = threading.Condition()
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  env=e, cwd=cwd, start_new_session=True)
        self.pid = self.p.pid
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        _procs.append(self)

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern, timeout=20, start=0):
        """Waits for a line matching <pattern> at index >= <start>; returns
        (match, index). Fails if the process exits or time runs out."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m, i
                    i += 1
                if self.p.poll() is not None and not self.t.is_alive():
                    raise TestFailure("%s exited (rc=%s) before /%s/; output:\n%s" %
                                      (self.name, self.p.returncode, pattern, self.tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("%s: no line /%s/ within %ss; output:\n%s" %
                                      (self.name, pattern, timeout * SLOW, self.tail()))
                self.cond.wait(min(left, 0.2))

    def count(self):
        with self.cond:
            return len(self.lines)

    def tail(self, n=40):
        with self.cond:
            return "\n".join(self.lines[-n:])

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def kill(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the process by PID and waits; SIGKILL after <timeout>."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(10)
        self.t.join(10)
        return self.p.returncode

    def wait(self, timeout=60):
        try:
            self.p.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not exit within %ss; output:\n%s" %
                              (self.name, timeout * SLOW, self.tail()))
        self.t.join(10)
        return self.p.returncode


def kv(line):
    """Parses "a=1 b=x" pairs of a line into a dict (ints where they are)."""
    out = {}
    for k, v in re.findall(r"(\w+)=(\S+)", line):
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


class Ringlb(Proc):
    """build/ringlb on a config text, waited on until ready."""

    def __init__(self, config, args=(), env=None, ready=True, timeout=30):
        # The admin endpoint's default (127.0.0.1:9090) would collide between
        # tests run at once: unless the test chose, it gets a loopback
        # address of its own. self.admin is where it listens.
        env = dict(env or {})
        if ("admin:" not in config and "RINGLB_ADMIN_BIND" not in env
                and "RINGLB_ADMIN_BIND" not in os.environ):
            env["RINGLB_ADMIN_BIND"] = loopback() + ":9090"
        self.admin = env.get("RINGLB_ADMIN_BIND") or os.environ.get("RINGLB_ADMIN_BIND")
        self.dir = tmpdir()
        self.config_path = os.path.join(self.dir, "ringlb.yaml")
        with open(self.config_path, "w") as f:
            f.write(config)
        argv = [BIN, "-c", self.config_path] + list(args)
        Proc.__init__(self, argv, env=env, name="ringlb")
        if ready:
            m, _ = self.wait_line(r"^ringlb: ready pid=(\d+) generation=(\d+)", timeout)
            check(int(m.group(1)) == self.pid, "ready line names pid %s, not %s" % (m.group(1), self.pid))

    def write_config(self, config):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(config)
        os.rename(tmp, self.config_path)

    def reload(self, expect="ok", timeout=30):
        """SIGHUP, then waits for the reload line; returns its generation."""
        start = self.count()
        self.kill(signal.SIGHUP)
        m, _ = self.wait_line(r"^ringlb: reload generation=(\d+) (ok|failed)$", timeout, start)
        check(m.group(2) == expect, "reload %s, expected %s:\n%s" % (m.group(2), expect, self.tail()))
        return int(m.group(1))

    def stats(self, timeout=20):
        """SIGUSR1; returns the snapshot's lines (between the signal and
        "ringlb: stats end")."""
        start = self.count()
        self.kill(signal.SIGUSR1)
        _, end = self.wait_line(r"^ringlb: stats end$", timeout, start)
        with self.cond:
            return [l for l in self.lines[start:end] if l.startswith("ringlb: stats ")]

    def stats_total(self, timeout=20):
        for l in self.stats(timeout):
            if l.startswith("ringlb: stats total "):
                return kv(l)
        raise TestFailure("no stats total line")

    def finish(self, timeout=60):
        """SIGTERM; waits for exit 0 and returns the summary's counters."""
        rc = self.stop(signal.SIGTERM, timeout)
        out = self.output()
        check(rc == 0, "ringlb exited %s:\n%s" % (rc, self.tail()))
        m = re.search(r"^ringlb: summary (.*)$", out, re.M)
        check(m, "no summary line:\n%s" % self.tail())
        s = kv(m.group(1))
        m = re.search(r"^ringlb: exit memory (.*)$", out, re.M)
        check(m, "no exit memory line:\n%s" % self.tail())
        ex = kv(m.group(1))
        check(ex["current"] == 0 and ex["buffers_in_use"] == 0,
              "memory not back at zero at exit: %s" % m.group(0))
        for bad in ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
                    "LeakSanitizer"):
            check(bad not in out, "sanitizer report:\n%s" % out[-4000:])
        return s


def echo(addr, mode="echo", extra=()):
    p = Proc([os.path.join(TOOLS, "echo"), "-l", addr, "-m", mode] + list(extra), name="echo")
    p.wait_line(r"^echo: listening ")
    return p


def l4client(target, conns, nbytes, mode="echo", extra=(), timeout=120):
    """Runs l4client to completion; returns (rc, counters of its done line)."""
    argv = [os.path.join(TOOLS, "l4client"), "-c", target, "-n", str(conns), "-b", str(nbytes),
            "-m", mode, "--timeout", str(timeout * SLOW)] + list(extra)
    p = Proc(argv, name="l4client")
    rc = p.wait(timeout + 30)
    m = re.search(r"^l4client: done (.*)$", p.output(), re.M)
    check(m, "l4client printed no done line:\n%s" % p.tail())
    return rc, kv(m.group(1))


def read_to_end(s):
    """Everything socket <s> receives until its peer ends the stream (an
    SSL socket with suppress_ragged_eofs=False raises ssl.SSLEOFError when
    the TCP stream ends without close_notify)."""
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            return got
        got += d


def duplex(s, data, timeout=60):
    """Writes <data> on <s> while reading what comes back, in one thread
    (select on a non-blocking socket), until len(data) bytes came back or
    the peer closed; returns the bytes read. <s> is a socket or an
    ssl.SSLSocket: an SSLSocket must not be written by one thread and read
    by another (OpenSSL's SSL object is not safe for that: its shared
    state makes SSL_read report a false EOF, or both wait forever)."""
    import select
    import ssl
    s.setblocking(False)
    got = bytearray()
    off = 0
    deadline = time.monotonic() + timeout * SLOW
    try:
        while len(got) < len(data):
            left = deadline - time.monotonic()
            check(left > 0, "duplex: %d of %d bytes sent, %d back after %ss" %
                  (off, len(data), len(got), timeout * SLOW))
            pending = isinstance(s, ssl.SSLSocket) and s.pending()
            w = [s] if off < len(data) else []
            r, w, _ = select.select([s], w, [], 0 if pending else min(left, 1.0))
            if w:
                try:
                    off += s.send(data[off:off + (256 << 10)])
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            if r or pending:
                try:
                    d = s.recv(1 << 20)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                if not d:
                    break
                got += d
    finally:
        s.setblocking(True)
    return bytes(got)


def http_get(addr, path="/", host=None, timeout=10):
    """One HTTP/1.1 GET over a fresh socket (stdlib only); returns
    (status, headers dict lower-cased, body bytes)."""
    import http.client
    h, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h.strip("[]"), int(port), timeout=timeout * SLOW)
    try:
        hdrs = {"Host": host} if host else {}
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def _cleanup():
    for p in _procs:
        try:
            p.stop(signal.SIGKILL if p.p.poll() is None else signal.SIGTERM, 5)
        except Exception:
            pass
    del _procs[:]


def main(ns, limit=120):
    """Runs every test_* of <ns> (or those named in argv), each under
    <limit> seconds, stopping its processes afterwards."""
    names = sorted(k for k in ns if k.startswith("test_") and callable(ns[k]))
    if len(sys.argv) > 1:
        names = [n for n in names if any(a in n for a in sys.argv[1:])]
    passed = failed = skipped = 0

    def on_alarm(signum, frame):
        raise TestFailure("time limit of %ss exceeded" % (limit * SLOW))

    signal.signal(signal.SIGALRM, on_alarm)
    for n in names:
        t0 = time.monotonic()
        signal.alarm(int(limit * SLOW))
        try:
            ns[n]()
            signal.alarm(0)
            passed += 1
            print("ok   %s (%.1fs)" % (n, time.monotonic() - t0), flush=True)
        except TestSkip as e:
            signal.alarm(0)
            skipped += 1
            print("skip %s (%.1fs): %s" % (n, time.monotonic() - t0, e), flush=True)
        except Exception as e:
            signal.alarm(0)
            failed += 1
            print("FAIL %s (%.1fs): %s" % (n, time.monotonic() - t0, e), flush=True)
            if not isinstance(e, TestFailure):
                traceback.print_exc()
        finally:
            _cleanup()
    if skipped:
        print("%d skipped" % skipped, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


class Notify:
    """The service manager's end of sd_notify (test_systemd, test_upgrade):
    an AF_UNIX datagram socket on a temporary path; each datagram is one
    message of KEY=VALUE lines."""

    def __init__(self):
        self.dir = tmpdir()
        self.path = os.path.join(self.dir, "notify")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)

    def recv(self, timeout=20):
        self.s.settimeout(timeout * SLOW)
        try:
            data = self.s.recv(65536).decode()
        except socket.timeout:
            raise TestFailure("no sd_notify message within %ss" % (timeout * SLOW))
        return dict(l.split("=", 1) for l in data.split("\n") if l)

    def none_pending(self):
        self.s.setblocking(False)
        try:
            self.s.recv(65536)
            return False
        except BlockingIOError:
            return True
        finally:
            self.s.setblocking(True)

    def close(self):
        self.s.close()
        shutil.rmtree(self.dir, ignore_errors=True)
