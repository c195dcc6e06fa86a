#!/usr/bin/env python3
"""The soak run behind tools/soak.sh: the real ringlb under a bounded mixed
load with the faults an operator meets, sampled every second, and checked
for returning to idle.

  tools/soak.sh [--secs N | --long] [--build DIR] [--out DIR] [--seed S] [--keep]

What runs (every process started here is stopped by PID):
  ringlb (DIR/ringlb, build/ by default) with 2 workers on a loopback
  address of its own: an http listener, a TLS http listener (test
  certificates made as test/integration/tlscerts.py makes them), an L4
  listener, a flood listener, two static listeners, the admin endpoint;
  pools with active health checks over two nginx backends (Debian's, killed
  and restarted), two echo backends (test/tools/echo, killed and
  restarted), a python HTTP backend (this file, --backend: exact answers,
  pipelining, slow bodies, 101 Upgrade tunnels; never killed) and a hold
  backend for the flood.
  Clients: wrk keep-alive and Connection: close (plain) and keep-alive
  (TLS) in rounds of a few seconds; python L4 streams (every byte checked),
  pipelined requests (plain and TLS, each answer checked), WebSocket-style
  Upgrade tunnels (every byte checked), slow heads held open (408 expected),
  slow bodies (checked by length and SHA-256).
  Operator: SIGHUP every ~7 s alternating two configs (each reload must be
  ok), nginx and echo backends killed (SIGKILL) and restarted, a flood of
  l4client senders towards a backend that never reads until the memory
  limits put pressure at Critical (then the flood resets and goes).
  Sampler: /stats every second (a scrape of /metrics too, which must parse):
  RSS, fds, connections, every accountant component and every pool class,
  one CSV row per second, plotted by gnuplot as a PNG.

Errors are classed; an error passes only inside a window the run injected
and only in a class that injection can cause: a killed backend (502/503/504
answers, broken or refused streams), memory pressure (503, a connection
closed before its first answer byte). Anything else fails the run, and so
does a figure that does not return to idle within the settle period, a
failed reload, an exit status other than 0, memory left at exit, or a
sanitizer report.
"""
import argparse
import csv
import errno
import hashlib
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "test", "integration"))

MB = 1 << 20


def log(msg):
    print("soak: " + msg, flush=True)


# ---------------------------------------------------------------- backend

def backend_main(addr):
    """The python HTTP backend: GET /p/N answers "N\\n"; POST answers
    "len=N sha=HEX\\n" of its body (Content-Length or chunked); an Upgrade
    request gets 101 and then every byte echoed; anything else "py\\n"."""
    import http.server
    import socketserver

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, body, code=200):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.headers.get("Upgrade"):
                self.send_response(101)
                self.send_header("Upgrade", self.headers["Upgrade"])
                self.send_header("Connection", "Upgrade")
                self.end_headers()
                self.wfile.flush()
                while True:
                    data = self.rfile.read1(65536)
                    if not data:
                        break
                    self.wfile.write(data)
                self.close_connection = True
                return
            if self.path.startswith("/p/"):
                self.answer(self.path[3:].encode() + b"\n")
            else:
                self.answer(b"py\n")

        def do_POST(self):
            h = hashlib.sha256()
            n = 0
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    d = self.rfile.read(size)
                    h.update(d)
                    n += len(d)
                    self.rfile.readline()
            else:
                left = int(self.headers.get("Content-Length", "0"))
                while left:
                    d = self.rfile.read(min(left, 65536))
                    if not d:
                        return
                    h.update(d)
                    n += len(d)
                    left -= len(d)
            self.answer(("len=%d sha=%s\n" % (n, h.hexdigest())).encode())

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 512

    host, port = addr.rsplit(":", 1)
    srv = S((host, int(port)), H)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print("backend: listening %s" % addr, flush=True)
    srv.serve_forever()


# ---------------------------------------------------------------- processes

_procs = []


class Proc:
    """A started process, its output in a file; stopped by PID."""

    def __init__(self, argv, logpath, env=None):
        self.argv = argv
        self.logpath = logpath
        self.f = open(logpath, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=e, start_new_session=True)
        self.pid = self.p.pid
        _procs.append(self)

    def text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_text(self, rx, timeout, start=0):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rx, self.text()[start:], re.M)
            if m:
                return m
            if self.p.poll() is not None:
                raise RuntimeError("%s exited %s before /%s/" % (self.argv[0], self.p.returncode, rx))
            if time.monotonic() > deadline:
                raise RuntimeError("%s: no /%s/ within %ss" % (self.argv[0], rx, timeout))
            time.sleep(0.05)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(10)
        self.f.close()
        return self.p.returncode


def wait_port(addr, timeout=20):
    host, port = addr.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), 1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("nothing listens on %s" % addr)
            time.sleep(0.05)


NGINX_CONF = """
error_log stderr error;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/cb; proxy_temp_path {dir}/pt; fastcgi_temp_path {dir}/ft;
  uwsgi_temp_path {dir}/ut; scgi_temp_path {dir}/st;
  keepalive_requests 100000;
  server {{
    listen {addr} reuseport;
    location / {{ return 200 "{name}\\n"; }}
  }}
}}
"""


class Backend:
    """A backend the run may kill and restart: nginx, echo, or this file."""

    def __init__(self, kind, name, addr, d, extra=()):
        self.kind, self.name, self.addr, self.dir, self.extra = kind, name, addr, d, list(extra)
        self.proc = None
        self.kills = 0
        if kind == "nginx":
            self.ndir = os.path.join(d, name)
            os.makedirs(self.ndir, exist_ok=True)
            with open(os.path.join(self.ndir, "nginx.conf"), "w") as f:
                f.write(NGINX_CONF.format(dir=self.ndir, addr=addr, name=name))

    def start(self, build):
        logp = os.path.join(self.dir, self.name + ".log")
        if self.kind == "nginx":
            argv = ["nginx", "-p", self.ndir, "-c", os.path.join(self.ndir, "nginx.conf"), "-g",
                    "daemon off; master_process off;"]
        elif self.kind == "echo":
            argv = [os.path.join(build, "test", "tools", "echo"), "-l", self.addr] + self.extra
        else:
            argv = [sys.executable, os.path.abspath(__file__), "--backend", self.addr]
        self.proc = Proc(argv, logp)
        wait_port(self.addr)

    def kill(self):
        self.kills += 1
        self.proc.stop(signal.SIGKILL)

    def stop(self):
        if self.proc:
            self.proc.stop()


# ---------------------------------------------------------------- config

def ringlb_config(ip, d, variant, certs):
    """Two variants the reloads alternate: the static bodies and the web
    pool's algorithm differ; both are valid."""
    algo = "round_robin" if variant == "a" else "least_conn"
    return """workers: 2
admin: {{ bind: "{ip}:9090" }}
listeners:
  - name: web
    bind: "{ip}:8088"
    mode: http
    pool: web
    routes:
      - {{ path: /p/, pool: py }}
      - {{ path: /py/, pool: py }}
    max_connections: 1000
    keepalive_requests: 500
    timeouts: {{ header: 3s, connect: 2s, drain: 5s }}
  - name: tls
    bind: "{ip}:8443"
    mode: http
    pool: web
    routes:
      - {{ path: /p/, pool: py }}
      - {{ path: /py/, pool: py }}
    max_connections: 300
    timeouts: {{ header: 3s, connect: 2s, drain: 5s }}
    tls: {{ cert: "{certs}/site-ec.pem", key: "{certs}/site-ec.key", session_lifetime: 10s }}
  - name: l4
    bind: "{ip}:8080"
    mode: tcp
    pool: echo
    splice: auto
    max_connections: 300
    timeouts: {{ connect: 2s, drain: 5s }}
  - name: flood
    bind: "{ip}:8090"
    mode: tcp
    pool: sink
    splice: never
    max_connections: 4000
    backlog: 4096
    timeouts: {{ drain: 5s }}
  - {{ name: s-a, bind: "{ip}:8081", mode: static, body: "static-a {variant}\\n", max_connections: 500 }}
  - {{ name: s-b, bind: "{ip}:8082", mode: static, body: "static-b {variant}\\n", max_connections: 500 }}
pools:
  - name: web
    algorithm: {algo}
    backends:
      - {{ address: "{ip}:7101" }}
      - {{ address: "{ip}:7102" }}
      - {{ address: "{ip}:8081" }}
    health: {{ type: http, path: /, interval: 500ms, timeout: 400ms, fall: 1, rise: 2 }}
    keepalive: {{ timeout: 2s }}
  - name: py
    backends: [ {{ address: "{ip}:7201" }} ]
    health: {{ type: http, path: /, interval: 1s, timeout: 900ms }}
    keepalive: {{ timeout: 2s }}
  - name: echo
    backends:
      - {{ address: "{ip}:7301" }}
      - {{ address: "{ip}:7302" }}
    health: {{ type: tcp, interval: 500ms, timeout: 400ms, fall: 1, rise: 2 }}
  - name: sink
    backends: [ {{ address: "{ip}:7401" }} ]
buffer_pools:
  small_buffers:  {{ initial_count: 100, max_count: 10000, growth_factor: 1.5 }}
  medium_buffers: {{ initial_count: 300, max_count: 5000, growth_factor: 1.3 }}
  large_buffers:  {{ initial_count: 10, max_count: 1000, growth_factor: 1.2 }}
  giant_buffers:  {{ initial_count: 2, max_count: 100, growth_factor: 1.1 }}
memory_limits:
  max_total_memory: 72MB
  buffer_pool_memory: 48MB
  connection_memory: 16MB
  ssl_context_memory: 8MB
  cache_memory: 4MB
memory_tuning:
  socket_sndbuf: 16KB
  socket_rcvbuf: 16KB
  pool_check_interval: 250ms
  memory_cleanup_interval: 1s
  leak_check_interval: 30s
  leak_threshold: 60s
""".format(ip=ip, variant=variant, algo=algo, certs=certs)


# ---------------------------------------------------------------- bookkeeping

class Book:
    """What the run injected (windows) and what the clients saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.windows = []  # [kind, what, t0, t1 or None]
        self.errors = []   # (client, cls, t0, t1, fresh, detail)
        self.counts = {}   # client -> completed units
        self.expected = {}  # outcomes that are the point of a client (408 of a slow head)
        self.bytes = 0

    def open(self, kind, what):
        with self.lock:
            w = [kind, what, time.time(), None]
            self.windows.append(w)
            return w

    def close(self, w, grace=0.0):
        with self.lock:
            w[3] = time.time() + grace

    def ok(self, client, n=1, nbytes=0):
        with self.lock:
            self.counts[client] = self.counts.get(client, 0) + n
            self.bytes += nbytes

    def add_bytes(self, n):
        with self.lock:
            self.bytes += n

    def expect(self, what):
        with self.lock:
            self.expected[what] = self.expected.get(what, 0) + 1

    def error(self, client, cls, t0, fresh, detail="", t1=None):
        with self.lock:
            self.errors.append((client, cls, t0, t1 or time.time(), fresh, detail))

    def overlapping(self, t0, t1, slack=1.5):
        with self.lock:
            now = time.time()
            return [(k, w) for k, w, a, b in self.windows
                    if a - slack <= t1 and (b if b is not None else now) + slack >= t0]


# Which client may fail how under which injection. <fresh> says the
# connection had received nothing yet (a refusal at accept).
KILL_WEB = {"http_502", "http_503", "http_504", "closed"}
KILL_L4 = {"closed", "reset", "refused", "short"}
PRESSURE = {"http_503", "closed", "reset", "refused"}


def judge(book, client, cls, t0, t1, fresh):
    """The injected cause that explains this error, or None."""
    for kind, what in book.overlapping(t0, t1):
        if kind == "kill" and what.startswith("nginx") and client.startswith("wrk") and cls in KILL_WEB:
            return "backend killed (%s)" % what
        if kind == "kill" and what.startswith("echo") and client == "l4" and cls in KILL_L4:
            return "backend killed (%s)" % what
        if kind == "pressure" and cls in PRESSURE and (fresh or cls == "http_503"):
            return "memory pressure"
        if kind == "pressure" and client.startswith("wrk") and cls == "http_502":
            # The web pool has ringlb's own static listener as a backend:
            # under Critical it refuses the proxy's upstream connects too.
            return "memory pressure (the static backend refused the upstream connect)"
    return None


# ---------------------------------------------------------------- clients

def recv_exact_http(f):
    """Reads one response from the file <f>: (status, headers, body)."""
    line = f.readline()
    if not line:
        raise EOFError("closed before the status line")
    parts = line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    hdrs = {}
    while True:
        h = f.readline()
        if not h:
            raise EOFError("closed in the head")
        if h in (b"\r\n", b"\n"):
            break
        k, v = h.decode("latin-1").split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    body = f.read(n) if n else b""
    if len(body) != n:
        raise EOFError("closed in the body")
    return status, hdrs, body


class StatusError(Exception):
    """An answer whose status was not the one the client needs."""

    def __init__(self, st):
        Exception.__init__(self, "status %d" % st)
        self.status = st


def classify_exc(e):
    if isinstance(e, StatusError):
        return "http_%d" % e.status
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(e, OSError) and e.errno == errno.ENOTCONN:
        return "reset"  # shutdown() after the peer's reset
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (EOFError, ssl.SSLEOFError)):
        return "closed"  # SSLEOFError: the TCP connection ended without close_notify
    if isinstance(e, ssl.SSLError):
        return "tls"
    if isinstance(e, OSError):
        return "oserror"
    return "bad:" + type(e).__name__


class Clients:
    def __init__(self, ip, book, stop, certs, rng):
        self.ip, self.book, self.stop, self.certs, self.rng = ip, book, stop, certs, rng
        self.tls_ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        self.tls_ctx.check_hostname = True

    def conn(self, port, tls=False, timeout=30):
        s = socket.create_connection((self.ip, port), timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            s = self.tls_ctx.wrap_socket(s, server_hostname="site.test")
        return s

    def loop(self, name, fn):
        while not self.stop.is_set():
            t0 = time.time()
            state = {"fresh": True}
            try:
                fn(state)
            except Exception as e:  # noqa: BLE001 - every failure is classed below
                cls = classify_exc(e)
                self.book.error(name, cls, t0, state["fresh"], "%s: %s" % (type(e).__name__, e))
                time.sleep(0.2)

    # An L4 stream: random bytes out, the same bytes back, then half-close.
    def l4(self, state):
        n = self.rng.choice((4096, 65536, 300000, 1 << 20))
        data = os.urandom(n)
        s = self.conn(8080)
        try:
            s.setblocking(False)
            sent = got = 0
            back = bytearray()
            deadline = time.monotonic() + 60
            shut = False
            while got < n:
                if time.monotonic() > deadline:
                    raise TimeoutError("stream stalled at %d/%d" % (got, n))
                w = [s] if sent < n else []
                r, wr, _ = select.select([s], w, [], 1)
                if wr:
                    sent += s.send(data[sent:sent + 65536])
                    if sent == n and not shut:
                        s.shutdown(socket.SHUT_WR)
                        shut = True
                if r:
                    d = s.recv(262144)
                    if not d:
                        raise EOFError("closed after %d of %d bytes" % (got, n))
                    state["fresh"] = False
                    back += d
                    got += len(d)
            if bytes(back[:n]) != data:
                raise ValueError("corrupt: the bytes that came back differ")
            s.setblocking(True)
            s.settimeout(30)
            if s.recv(1):
                raise ValueError("bytes after the echo")
        finally:
            s.close()
        self.book.ok("l4", 1, n)

    # Ten pipelined requests in one write, their answers in order.
    def pipeline(self, state, tls=False):
        s = self.conn(8443 if tls else 8088, tls)
        f = s.makefile("rb")
        try:
            for _ in range(5):
                base = self.rng.randrange(1 << 30)
                req = b"".join(b"GET /p/%d HTTP/1.1\r\nHost: soak\r\n\r\n" % (base + i)
                               for i in range(10))
                s.sendall(req)
                for i in range(10):
                    st, h, body = recv_exact_http(f)
                    state["fresh"] = False
                    if st != 200:
                        raise StatusError(st)
                    if body != b"%d\n" % (base + i):
                        raise ValueError("pipelined answer %d is %r" % (i, body[:40]))
                self.book.ok("tls-pipeline" if tls else "pipeline", 10)
        finally:
            f.close()
            s.close()

    def pipeline_tls(self, state):
        self.pipeline(state, True)

    # An Upgrade tunnel: 101, then every byte echoed.
    def ws(self, state):
        s = self.conn(8088)
        f = s.makefile("rb")
        try:
            s.sendall(b"GET /py/ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: c29haw==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            st, h, _ = recv_exact_http(f)
            state["fresh"] = False
            if st != 101:
                raise StatusError(st)
            for _ in range(4):
                data = os.urandom(self.rng.choice((100, 16384, 200000)))
                s.sendall(data)
                back = f.read(len(data))
                if back != data:
                    raise ValueError("tunnel echoed %d bytes, %s" % (len(back), "differing" if len(back) == len(data) else "short"))
                self.book.add_bytes(len(data))
            self.book.ok("ws")
        finally:
            f.close()
            s.close()

    # A slow body: 2,000 bytes in 20 pieces over ~2 s, checked by SHA-256.
    def slow_body(self, state):
        s = self.conn(8088)
        f = s.makefile("rb")
        try:
            body = os.urandom(2000)
            chunked = self.rng.random() < 0.5
            if chunked:
                s.sendall(b"POST /py/up HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n")
            else:
                s.sendall(b"POST /py/up HTTP/1.1\r\nHost: soak\r\nContent-Length: 2000\r\n\r\n")
            for i in range(0, 2000, 100):
                piece = body[i:i + 100]
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                time.sleep(0.1)
            if chunked:
                s.sendall(b"0\r\n\r\n")
            st, h, got = recv_exact_http(f)
            state["fresh"] = False
            if st != 200:
                raise StatusError(st)
            want = b"len=2000 sha=%s\n" % hashlib.sha256(body).hexdigest().encode()
            if got != want:
                raise ValueError("slow body answered %r" % got[:80])
            self.book.ok("slow-body")
        finally:
            f.close()
            s.close()

    # Four partial heads held open: each must end with a 408.
    def slow_heads(self, state):
        socks = []
        try:
            for _ in range(4):
                s = self.conn(8088, timeout=30)
                s.sendall(b"GET /py/slow HTTP/1.1\r\nHost: soak\r\nX-Slow: ")
                socks.append((s, time.time()))
            for s, t0 in socks:
                s.settimeout(30)
                f = s.makefile("rb")
                try:
                    st, h, _ = recv_exact_http(f)
                except Exception as e:  # noqa: BLE001
                    self.book.error("slow-head", classify_exc(e), t0, True, str(e))
                    continue
                finally:
                    f.close()
                if st == 408:
                    self.book.expect("slow head answered 408")
                    self.book.ok("slow-head")
                else:
                    self.book.error("slow-head", "http_%d" % st, t0, True, "slow head got %d" % st)
        finally:
            for s, _ in socks:
                s.close()


# ---------------------------------------------------------------- wrk

WRK_LUA = """
local f = nil
function init(args)
  f = io.open(args[1], "a")
end
function response(status, headers, body)
  if status >= 300 then
    f:write(os.time() .. " " .. status .. "\\n")
    f:flush()
  end
end
function done(summary, latency, requests)
  io.write(string.format("wrk-done requests=%d connect=%d read=%d write=%d timeout=%d status=%d\\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
"""


def wrk_rounds(name, url, conns, extra, d, book, stop, round_secs=6):
    lua = os.path.join(d, "soak.lua")
    bad = os.path.join(d, "wrk-%s.bad" % name)
    while not stop.is_set():
        t0 = time.time()
        p = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % round_secs, "--timeout", "10s",
                            "-s", lua] + extra + [url, bad],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=round_secs + 60)
        t1 = time.time()
        out = p.stdout.decode("utf-8", "replace")
        m = re.search(r"wrk-done (.*)", out)
        if not m:
            book.error(name, "bad:wrk", t0, False, out[-300:])
            continue
        c = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
        book.ok(name, c["requests"] - c["status"])
        for k in ("connect", "read", "write", "timeout"):
            if c[k]:
                cls = {"connect": "refused", "read": "closed", "write": "reset", "timeout": "timeout"}[k]
                # wrk does not say when: the round's times are the error's.
                for _ in range(c[k]):
                    book.error(name, cls, t0, True, "wrk socket error %s" % k, t1)


def wrk_statuses(name, d, book):
    bad = os.path.join(d, "wrk-%s.bad" % name)
    if not os.path.exists(bad):
        return
    for line in open(bad):
        t, st = line.split()
        # os.time() has whole seconds.
        book.errors.append((name, "http_" + st, float(t), float(t) + 1, False, "wrk answer " + st))


# ---------------------------------------------------------------- sampler

COMPONENTS = ("connection", "buffer", "ssl", "cache", "total")


class Admin:
    def __init__(self, addr, tries=10, timeout=10):
        self.host, self.port = addr.rsplit(":", 1)
        self.c = None
        self.tries, self.timeout = tries, timeout
        self.trouble = []  # (time, path, attempt, what) of every failed try

    def get(self, path):
        for attempt in range(self.tries):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, int(self.port), timeout=self.timeout)
                self.c.request("GET", path)
                r = self.c.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError("admin %s: %d" % (path, r.status))
                return body
            except (OSError, http.client.HTTPException) as e:
                self.trouble.append((time.time(), path, attempt, repr(e)))
                if self.c:
                    self.c.close()
                self.c = None
                if attempt == self.tries - 1:
                    raise
                time.sleep(0.5)

    def stats(self):
        return json.loads(self.get("/stats"))


def proc_rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def figures(pid, st):
    """The sampled figures of one /stats answer, in CSV column order."""
    row = {"rss_kb": proc_rss(pid), "fds": proc_fds(pid)}
    row["conns"] = sum(l["active"] for l in st["listeners"] if l["name"] != "admin")
    row["upstream"] = sum(b["active"] for b in st["backends"])
    row["pressure"] = st["pressure"]["level"]
    row["usage"] = round(st["pressure"]["usage"], 4)
    for c in COMPONENTS:
        row["mem_" + c] = st["memory"][c]["current"]
    for p in st["pools"]:
        k = "pool_n%d_%s" % (p["node"], p["class"])
        row[k + "_count"] = p["count"]
        row[k + "_in_use"] = p["in_use"] - p["standing"]
    row["requests"] = sum(sum(l["http"].values()) for l in st["listeners"]
                          if l["name"] != "admin" and l.get("http"))
    row["l4_sessions"] = sum(l["accepted"] for l in st["listeners"] if l["mode"] == "tcp")
    row["http_5xx"] = sum(l["http"]["5xx"] for l in st["listeners"] if l["name"] != "admin" and l.get("http"))
    row["rejected"] = sum(sum(l["rejected"].values()) for l in st["listeners"])
    row["deferred"] = sum(l["deferred"] for l in st["listeners"])
    row["reloads_ok"] = st["reloads"]["ok"]
    row["backends_up"] = sum(1 for b in st["backends"] if b["state"] == "up")
    return row


# Figures that must come back to their idle value, and how.
def not_idle(row, idle):
    """What keeps <row> from idle, as text ('' when idle)."""
    bad = []
    for k in ("conns", "upstream", "pressure"):
        if row[k] != 0:
            bad.append("%s=%s" % (k, row[k]))
    for k in ["fds"] + ["mem_" + c for c in COMPONENTS]:
        if row[k] != idle[k]:
            bad.append("%s=%s (idle %s)" % (k, row[k], idle[k]))
    for k in row:
        if k.startswith("pool_") and row[k] != idle[k]:
            bad.append("%s=%s (idle %s)" % (k, row[k], idle[k]))
    return ", ".join(bad)


class Sampler(threading.Thread):
    def __init__(self, pid, admin, csvpath, book, t_start):
        threading.Thread.__init__(self, daemon=True)
        self.pid, self.admin, self.book, self.t_start = pid, admin, book, t_start
        self.csvf = open(csvpath, "w", newline="")
        self.w = None
        self.stop = threading.Event()
        self.last = None
        self.rows = []
        self.phase = "idle"
        self.metrics_bad = 0
        self.stats_missed = 0
        self.admin_gap = 0.0
        self.last_ok = None
        self.lock = threading.Lock()

    def sample(self, need_stats=True):
        """One row. Without an answer from /stats (the endpoint can stall
        under Critical pressure: see the README's Soak) the row has RSS and
        fds only, unless <need_stats>, then it raises."""
        t = time.time()
        try:
            st = self.admin.stats()
        except (OSError, http.client.HTTPException, RuntimeError, ValueError):
            if need_stats:
                raise
            st = None
        if st is None:
            row = {"t": round(t - self.t_start, 2), "phase": self.phase}
            row.update({k: "" for k in self.w.fieldnames if k not in ("t", "phase", "injected")})
            row["rss_kb"], row["fds"] = proc_rss(self.pid), proc_fds(self.pid)
            self.stats_missed += 1
        else:
            row = {"t": round(t - self.t_start, 2), "phase": self.phase}
            row.update(figures(self.pid, st))
            if self.last_ok is not None:
                self.admin_gap = max(self.admin_gap, t - self.last_ok)
            self.last_ok = t
        with self.book.lock:
            row["injected"] = sum(1 for w in self.book.windows if w[3] is None or w[3] > time.time())
        if self.w is None:
            self.w = csv.DictWriter(self.csvf, fieldnames=list(row))
            self.w.writeheader()
        self.w.writerow(row)
        self.csvf.flush()
        with self.lock:
            if st is not None:
                self.last = row
            self.rows.append(row)
        return row

    def scrape_metrics(self):
        text = self.admin.get("/metrics").decode()
        if not re.search(r"^ringlb_memory_bytes\{component=\"total\"\} \d+", text, re.M):
            self.metrics_bad += 1

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            try:
                self.sample(need_stats=False)
                if self.last_ok and time.time() - self.last_ok < 1:
                    self.scrape_metrics()
            except (OSError, http.client.HTTPException, RuntimeError, ValueError):
                pass  # a stalled endpoint: counted by sample()
            nxt += 1.0
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    def latest(self):
        with self.lock:
            return self.last


# ---------------------------------------------------------------- plot

def plot(csvpath, png, title):
    with open(csvpath) as f:
        head = f.readline().strip().split(",")
    col = {k: i + 1 for i, k in enumerate(head)}
    pools = [k for k in head if k.startswith("pool_") and k.endswith("_in_use")]
    g = ["set terminal png size 1200,1000 noenhanced",
         "set output '%s'" % png, "set datafile separator ','", "set key inside top right",
         "set lmargin 10", "set rmargin 4",
         "set multiplot layout 4,1 title '%s'" % title, "set grid",
         "set ylabel 'MiB'",
         "plot '%s' every ::1 using %d:($%d/1024) with lines title 'RSS', " % (csvpath, col["t"], col["rss_kb"]) +
         ", ".join("'' every ::1 using %d:($%d/1048576) with lines title 'acct %s'" % (col["t"], col["mem_" + c], c)
                   for c in COMPONENTS),
         "set ylabel 'count'",
         "plot '%s' every ::1 using %d:%d with lines title 'fds', '' every ::1 using %d:%d with lines title 'client conns', "
         "'' every ::1 using %d:%d with lines title 'upstream conns'" % (csvpath, col["t"], col["fds"], col["t"], col["conns"],
                                                                          col["t"], col["upstream"]),
         "set ylabel 'buffers in use'",
         "plot " + ", ".join("'%s' every ::1 using %d:%d with lines title '%s'" % (csvpath, col["t"], col[k], k[5:-7])
                             for k in pools),
         "set ylabel 'level'", "set xlabel 'seconds'", "set yrange [-0.2:2.2]",
         "plot '%s' every ::1 using %d:%d with steps title 'pressure (0 normal, 2 critical)', "
         "'' every ::1 using %d:($%d>0?1.5:0) with steps title 'fault injected'" % (csvpath, col["t"], col["pressure"],
                                                                                    col["t"], col["injected"]),
         "unset multiplot"]
    p = subprocess.run(["gnuplot"], input="\n".join(g).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("gnuplot: " + p.stdout.decode()[-500:])


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.rlb = os.path.join(self.build, "ringlb")
        self.rng = random.Random(a.seed)
        self.ip = "127.%d.%d.1" % (self.rng.randint(20, 220), self.rng.randint(1, 250))
        self.dir = tempfile.mkdtemp(prefix="ringlb-soak.")
        self.out = os.path.abspath(a.out or os.path.join(self.build, "soak"))
        os.makedirs(self.out, exist_ok=True)
        self.tag = a.tag
        self.book = Book()
        self.stop = threading.Event()
        self.failures = []
        self.threads = []
        self.backends = {}
        self.ringlb = None
        self.reloads = [0, 0]
        self.variant = "a"

    def fail(self, msg):
        self.failures.append(msg)
        log("FAIL: " + msg)

    # -- set-up
    def start_backends(self):
        ip = self.ip
        if shutil.which("nginx"):
            for i, port in ((1, 7101), (2, 7102)):
                self.backends["nginx%d" % i] = Backend("nginx", "nginx%d" % i, "%s:%d" % (ip, port), self.dir)
        else:
            log("nginx missing: python backends stand in for it")
            for i, port in ((1, 7101), (2, 7102)):
                self.backends["nginx%d" % i] = Backend("py", "nginx%d" % i, "%s:%d" % (ip, port), self.dir)
        self.backends["py"] = Backend("py", "py", ip + ":7201", self.dir)
        self.backends["echo1"] = Backend("echo", "echo1", ip + ":7301", self.dir, ["-m", "echo"])
        self.backends["echo2"] = Backend("echo", "echo2", ip + ":7302", self.dir, ["-m", "echo"])
        self.backends["sink"] = Backend("echo", "sink", ip + ":7401", self.dir, ["-m", "hold", "--rcvbuf", "4096"])
        for b in self.backends.values():
            b.start(self.build)

    def write_config(self):
        path = os.path.join(self.dir, "ringlb.yaml")
        with open(path + ".tmp", "w") as f:
            f.write(ringlb_config(self.ip, self.dir, self.variant, self.certs))
        os.rename(path + ".tmp", path)
        return path

    def start_ringlb(self):
        path = self.write_config()
        self.ringlb = Proc([self.rlb, "-c", path, "--seed", str(self.a.seed)],
                           os.path.join(self.dir, "ringlb.log"))
        self.ringlb.wait_text(r"^ringlb: ready pid=%d generation=\d+" % self.ringlb.pid, 60)
        self.admin = Admin(self.ip + ":9090")

    def reload(self):
        self.variant = "b" if self.variant == "a" else "a"
        self.write_config()
        start = len(self.ringlb.text())
        os.kill(self.ringlb.pid, signal.SIGHUP)
        try:
            m = self.ringlb.wait_text(r"^ringlb: reload generation=(\d+) (ok|failed)$", 60, start)
        except RuntimeError as e:
            self.fail("reload: %s" % e)
            return
        if m.group(2) == "ok":
            self.reloads[0] += 1
        else:
            self.reloads[1] += 1
            self.fail("reload generation=%s failed:\n%s" % (m.group(1), self.ringlb.text()[start:][-2000:]))

    # -- faults
    def kill_restart(self, names, down_secs):
        ws = []
        for n in names:
            ws.append(self.book.open("kill", n))
            self.backends[n].kill()
        log("killed %s" % " ".join(names))
        self.stop.wait(down_secs)
        for n, w in zip(names, ws):
            self.backends[n].start(self.build)
            # Errors the kill caused can surface until health checks pass
            # again (rise 2 x 500 ms) and idle keep-alive connections that
            # were open to the old process are gone.
            self.book.close(w, grace=3.0)
        log("restarted %s" % " ".join(names))

    def usr1_memory(self):
        """The memory line of a SIGUSR1 snapshot (the control thread's,
        so it answers while the workers' buffers are exhausted)."""
        start = len(self.ringlb.text())
        if not self.ringlb.alive():
            return None
        os.kill(self.ringlb.pid, signal.SIGUSR1)
        try:
            m = self.ringlb.wait_text(r"^ringlb: stats memory (level=.*)$", 10, start)
        except RuntimeError:
            return None
        return {k: v for k, v in re.findall(r"(\w+)=(\S+)", m.group(1))}

    def flood(self, limit_secs):
        """l4client senders to the hold backend until pressure is Critical."""
        w = self.book.open("pressure", "flood")
        t0 = time.monotonic()
        waves = []
        reached = False
        while time.monotonic() - t0 < limit_secs and not reached and self.ringlb.alive():
            if len(waves) < 3 and (not waves or time.monotonic() - waves[-1][1] > 4):
                argv = [os.path.join(self.build, "test", "tools", "l4client"), "-c", self.ip + ":8090",
                        "-n", "3000", "-b", str(256 << 10), "-m", "hold", "--reset-at-end",
                        "--timeout", "120"]
                waves.append((Proc(argv, os.path.join(self.dir, "flood.log")), time.monotonic()))
            m = self.usr1_memory()
            if m and m.get("level") == "critical":
                reached = True
                self.flood_peaks.append(m)
            time.sleep(0.3)
        if reached:
            self.stop.wait(2)
        else:
            self.fail("the flood did not bring pressure to Critical within %ds" % limit_secs)
        for p, _ in waves:
            p.stop(signal.SIGTERM, 60)
        # The window ends once pressure is back at Normal (plus a moment
        # for the clients that met it to notice).
        end = time.monotonic() + 60
        while time.monotonic() < end:
            m = self.usr1_memory()
            if m and m.get("level") == "normal":
                break
            time.sleep(0.3)
        self.book.close(w, grace=2.0)
        log("flood over (%d waves, critical %s)" % (len(waves), "reached" if reached else "NOT reached"))

    # -- schedule
    def schedule(self, secs):
        """One cycle of faults per 60 s (the short run: one, compressed)."""
        t_end = time.monotonic() + secs
        cycle = min(60.0, float(secs))
        events = []
        t = 0.0
        while t + cycle <= secs + 0.01:
            events += [(t + cycle * 0.15, "kill", ("nginx1", "echo1")),
                       (t + cycle * 0.40, "flood", None),
                       (t + cycle * 0.75, "kill", ("nginx2", "echo2"))]
            t += cycle
        start = time.monotonic()
        next_reload = start + 3.0
        reload_every = 7.0 if secs >= 60 else 5.0
        while not self.stop.is_set() and time.monotonic() < t_end:
            if not self.ringlb.alive():
                self.fail("ringlb exited during the run (rc %s): %s" % (self.ringlb.p.returncode,
                                                                       self.ringlb.text()[-3000:]))
                return
            now = time.monotonic()
            if events and now - start >= events[0][0]:
                _, kind, what = events.pop(0)
                if kind == "kill":
                    threading.Thread(target=self.kill_restart, args=(what, cycle * 0.08), daemon=True).start()
                else:
                    self.flood(min(30.0, cycle * 0.3))
                continue
            if now >= next_reload:
                self.reload()
                next_reload = time.monotonic() + reload_every + self.rng.random()
                continue
            time.sleep(0.1)
        for kind, _, _ in events:
            self.fail("the run ended before its faults were all injected")
            break

    def start_clients(self):
        c = Clients(self.ip, self.book, self.stop, self.certs, self.rng)
        self.clients = c
        base = "http://%s:8088/" % self.ip
        with open(os.path.join(self.dir, "soak.lua"), "w") as f:
            f.write(WRK_LUA)
        jobs = [("wrk-ka", wrk_rounds, ("wrk-ka", base, 20, [], self.dir, self.book, self.stop)),
                ("wrk-close", wrk_rounds, ("wrk-close", base, 8, ["-H", "Connection: close"], self.dir,
                                           self.book, self.stop)),
                ("wrk-tls", wrk_rounds, ("wrk-tls", "https://%s:8443/" % self.ip, 4, [], self.dir,
                                         self.book, self.stop))]
        for name, fn in (("l4", c.l4), ("l4", c.l4), ("pipeline", c.pipeline),
                         ("tls-pipeline", c.pipeline_tls), ("ws", c.ws), ("slow-body", c.slow_body),
                         ("slow-head", c.slow_heads)):
            jobs.append((name, c.loop, (name, fn)))
        for name, fn, args in jobs:
            t = threading.Thread(target=fn, args=args, daemon=True, name=name)
            t.start()
            self.threads.append(t)

    def settle(self, idle, timeout):
        """Polls until every figure is back at idle."""
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        while True:
            row = self.sampler.sample(need_stats=False)
            why = not_idle(row, idle)
            if not why:
                return row, time.monotonic() - t0, ""
            if time.monotonic() > deadline:
                return row, time.monotonic() - t0, why
            time.sleep(0.5)

    def main(self):
        import tlscerts
        for f in (self.rlb, os.path.join(self.build, "test", "tools", "echo"),
                  os.path.join(self.build, "test", "tools", "l4client")):
            if not os.access(f, os.X_OK):
                log("%s missing (make)" % f)
                return 2
        for tool in ("wrk", "gnuplot", "openssl"):
            if not shutil.which(tool):
                log("%s missing (tools/install-deps.sh)" % tool)
                return 2
        self.certs = os.path.join(self.dir, "certs")
        tlscerts.make(self.certs)
        t_start = time.time()
        csvpath = os.path.join(self.out, "soak%s.csv" % self.tag)
        png = os.path.join(self.out, "soak%s.png" % self.tag)
        self.flood_peaks = []
        try:
            self.start_backends()
            self.start_ringlb()
            self.sampler = Sampler(self.ringlb.pid, self.admin, csvpath, self.book, t_start)
            # Idle: every backend up (health checks) and the figures still.
            deadline = time.monotonic() + 30
            while True:
                r = self.sampler.sample()
                if r["backends_up"] == 7 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if r["backends_up"] != 7:
                self.fail("backends not all up at start: %d of 7" % r["backends_up"])
            # Idle once two samples a second apart agree (the first
            # cleanup and pool check have run).
            prev = self.sampler.sample()
            deadline = time.monotonic() + 30
            while True:
                time.sleep(1.0)
                r = self.sampler.sample()
                if not not_idle(r, prev) or time.monotonic() > deadline:
                    break
                prev = r
            idle = dict(r)
            log("idle: rss %d KiB, fds %d, accountant %s" % (idle["rss_kb"], idle["fds"],
                " ".join("%s=%d" % (c, idle["mem_" + c]) for c in COMPONENTS)))
            self.sampler.phase = "load"
            self.sampler.start()
            self.start_clients()
            log("load for %ds on %s (logs in %s)" % (self.a.secs, self.ip, self.dir))
            self.schedule(self.a.secs)
            self.stop.set()
            if not self.ringlb.alive():
                return 1
            for t in self.threads:
                t.join(120)
                if t.is_alive():
                    self.fail("client %s did not stop" % t.name)
            self.sampler.stop.set()
            self.sampler.join(30)
            self.sampler.phase = "settle"
            end, took, why = self.settle(idle, self.a.settle)
            if why:
                self.fail("not idle %.0fs after the clients stopped: %s" % (took, why))
                with open(os.path.join(self.dir, "ss-not-idle.txt"), "w") as f:
                    subprocess.run(["ss", "-tanpi"], stdout=f, stderr=subprocess.STDOUT)
            else:
                log("idle again %.1fs after the clients stopped" % took)
            for n, b in self.backends.items():
                if b.kills and not b.proc.alive():
                    self.fail("backend %s is not running at the end" % n)
            st = self.admin.stats()
            metrics_text = self.admin.get("/metrics").decode()
            rc = self.ringlb.stop(signal.SIGTERM, 60)
            self.report(idle, end, st, rc, csvpath, png, metrics_text)
        finally:
            self.stop.set()
            if self.ringlb:
                self.ringlb.stop(signal.SIGKILL)
            for b in self.backends.values():
                b.stop()
            for p in _procs:
                p.stop(signal.SIGKILL)
        if self.failures:
            log("FAIL (%d): logs in %s" % (len(self.failures), self.dir))
            return 1
        log("PASS")
        if not self.a.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return 0

    def report(self, idle, end, st, rc, csvpath, png, metrics_text):
        b = self.book
        for n in ("wrk-ka", "wrk-close", "wrk-tls"):
            wrk_statuses(n, self.dir, b)
        classes = {}
        unexpected = []
        for client, cls, t0, t1, fresh, detail in b.errors:
            why = judge(b, client, cls, t0, t1, fresh)
            if why is None:
                unexpected.append((client, cls, t0, t1, detail))
                key = "%s %s (not injected)" % (client, cls)
            else:
                key = "%s %s: %s" % (client, cls, why.split(" (")[0] if "finding" not in why else why)
            classes[key] = classes.get(key, 0) + 1
        rows = self.sampler.rows
        total_requests = end["requests"]
        log("requests: %d HTTP answers and %d L4 sessions (ringlb's counters); clients: %s; "
            "%.1f MiB checked byte for byte" % (total_requests, end["l4_sessions"],
                                               ", ".join("%s %d" % kv for kv in sorted(b.counts.items())),
                                               b.bytes / MB))
        log("expected outcomes: %s" % (", ".join("%s %d" % kv for kv in b.expected.items()) or "none"))
        log("faults injected: %d kills (%s), %d floods to Critical (accountant current/limit then: %s), %d reloads ok, %d failed" %
            (sum(x.kills for x in self.backends.values()),
             ", ".join("%s %d" % (n, x.kills) for n, x in self.backends.items() if x.kills),
             len(self.flood_peaks), " ".join("%s/%s" % (m.get("current"), m.get("limit")) for m in self.flood_peaks),
            self.reloads[0], self.reloads[1]))
        log("errors by class: %s" % (", ".join("%s %d" % kv for kv in sorted(classes.items())) or "none"))
        for client, cls, t0, t1, detail in unexpected[:20]:
            self.fail("error not injected: %s %s at +%.1fs..+%.1fs: %s" %
                      (client, cls, t0 - self.sampler.t_start, t1 - self.sampler.t_start, detail))
        peak = max(r["rss_kb"] for r in rows)
        log("admin: %d of %d samples without a /stats answer, longest gap %.1fs" %
            (self.sampler.stats_missed, len(rows), self.sampler.admin_gap))
        log("RSS start/peak/end: %.1f / %.1f / %.1f MiB" % (idle["rss_kb"] / 1024, peak / 1024, end["rss_kb"] / 1024))
        log("fds start/end: %d / %d" % (idle["fds"], end["fds"]))
        log("pressure: peak level %d, entered warning %d, critical %d; rejected %d, deferred %d" %
            (st["pressure"]["peak"], st["pressure"]["entered_warning"],
             st["pressure"]["entered_critical"], end["rejected"], end["deferred"]))
        log("accountant at end (idle): %s" % " ".join(
            "%s=%d(%d)" % (c, end["mem_" + c], idle["mem_" + c]) for c in COMPONENTS))
        if self.admin.trouble:
            log("admin: %d failed tries, first at +%.1fs (%s), last at +%.1fs (%s)" % (
                len(self.admin.trouble), self.admin.trouble[0][0] - self.sampler.t_start, self.admin.trouble[0][3],
                self.admin.trouble[-1][0] - self.sampler.t_start, self.admin.trouble[-1][3]))
        if self.sampler.metrics_bad:
            self.fail("%d /metrics scrapes lacked ringlb_memory_bytes" % self.sampler.metrics_bad)
        text = self.ringlb.text()
        m = re.search(r"^ringlb: exit memory (.*)$", text, re.M)
        log("after exit: rc %s, %s" % (rc, m.group(0)[len("ringlb: "):] if m else "no exit memory line"))
        if rc != 0:
            self.fail("ringlb exited %s" % rc)
        if not m or not re.search(r"current=0 connection=0 buffer=0 ssl=0 cache=0 buffers_in_use=0", m.group(1)):
            self.fail("memory not at zero after exit: %s" % (m.group(0) if m else "none"))
        for bad in ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer", "LeakSanitizer"):
            if bad in text:
                self.fail("sanitizer report in %s" % self.ringlb.logpath)
        leaks = re.findall(r"^ringlb: (?:warning: )?leak check.*$", text, re.M)
        if leaks or st["leak_reports"]:
            self.fail("leak reports (%d): %s" % (st["leak_reports"], leaks[:3]))
        if st["pressure"]["peak"] < 2:
            self.fail("pressure never reached Critical")
        if not (end["rejected"] or end["deferred"]):
            self.fail("no connection was deferred or rejected")
        self.sampler.csvf.close()
        try:
            plot(csvpath, png, "ringlb soak: %ds, %s" % (self.a.secs, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
            log("csv %s (%d rows), png %s (%d KB)" % (csvpath, len(rows), png, os.path.getsize(png) // 1024))
        except (RuntimeError, OSError) as e:
            self.fail("plot: %s" % e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--secs", type=int, default=45, help="load time in seconds (45)")
    ap.add_argument("--long", action="store_true", help="30 minutes (--secs 1800)")
    ap.add_argument("--build", default=os.path.join(TOP, "build"), help="the build tree (build)")
    ap.add_argument("--out", default=None, help="where the CSV and PNG go (BUILD/soak)")
    ap.add_argument("--seed", type=int, default=None, help="ringlb's --seed and the run's draws")
    ap.add_argument("--settle", type=float, default=60, help="seconds allowed to return to idle (60)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory on success")
    ap.add_argument("--backend", metavar="ADDR", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.backend:
        backend_main(a.backend)
        return 0

    def on_term(sig, frame):
        raise SystemExit("soak: stopped by signal %d" % sig)

    # SIGTERM (the test runner's time limit) still stops every process.
    signal.signal(signal.SIGTERM, on_term)
    if a.long:
        a.secs = 1800
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    a.tag = "-long" if a.long else ""
    log("seed %d" % a.seed)
    return Run(a).main()


if __name__ == "__main__":
    sys.exit(main())
