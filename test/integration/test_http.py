"""HTTP/1.1 proxy (mode: http): real nginx backends and a small test-owned
Python backend (bodies hashed, chunked answers, silence), real clients
(curl, python sockets). Routing, forwarding headers, keep-alive both sides,
pipelining, bodies both ways and both framings, bodiless answers, 100-continue,
Upgrade tunnels (101, declined),
the error statuses, request smuggling, memory back at zero at exit."""
import base64
import glob
import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

SMUGGLE_DIR = os.path.join(lib.TOP, "test", "configs", "smuggle")

# ---- backends ----

NGINX_CONF = """
error_log stderr notice;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  log_format t '$remote_addr|$request|$status|$body_bytes_sent|xff=$http_x_forwarded_for|'
               'xri=$http_x_real_ip|xfp=$http_x_forwarded_proto|conn=$http_connection|'
               'ka=$http_keep_alive|pc=$http_proxy_connection|te=$http_te|'
               'foo=$http_x_foo|host=$host|c=$connection|cr=$connection_requests|'
               'len=$request_length';
  access_log {dir}/access.log t;
  client_body_temp_path {dir}/cb; proxy_temp_path {dir}/pt; fastcgi_temp_path {dir}/ft;
  uwsgi_temp_path {dir}/ut; scgi_temp_path {dir}/st;
  keepalive_requests 10000;
  server {{
    listen {addr};
    root {dir}/www;
    location = /204 {{ return 204; }}
    location /name {{ return 200 "{name} $request_uri\\n"; }}
    location / {{ try_files $uri @name; }}
    location @name {{ return 200 "{name} $request_uri\\n"; }}
  }}
}}
"""


class Nginx(lib.Proc):
    """nginx on <addr> (host:port) answering "<name> <uri>" by default and
    static files from DIR/www; its access log records what it received."""

    def __init__(self, addr, name="ngx", files=None):
        self.dir = lib.tmpdir()
        os.mkdir(os.path.join(self.dir, "www"))
        for fn, data in (files or {}).items():
            p = os.path.join(self.dir, "www", fn)
            if isinstance(data, int):
                with open(p, "wb") as f:
                    f.truncate(data)
            else:
                with open(p, "wb") as f:
                    f.write(data)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, addr=addr, name=name))
        lib.Proc.__init__(self, ["nginx", "-p", self.dir, "-c", conf, "-g",
                                 "daemon off; master_process off;"], name="nginx-" + name)
        # The sockets are bound before the event module logs its start lines.
        self.wait_line(r"getrlimit\(RLIMIT_NOFILE\)")

    def log(self):
        """The access log lines, as dicts (nginx writes each one when the
        request ends, before the response's last bytes leave it)."""
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for l in lines:
            parts = l.split("|")
            d = {"addr": parts[0], "request": parts[1], "status": parts[2], "sent": parts[3]}
            for p in parts[4:]:
                k, _, v = p.partition("=")
                d[k] = v
            out.append(d)
        return out

    def wait_requests(self, n, timeout=20):
        """Waits (by polling its log file, which nginx gives no other signal
        of) until the log has at least <n> lines."""
        deadline = time.monotonic() + timeout * lib.SLOW
        while len(self.log()) < n:
            check(time.monotonic() < deadline, "nginx logged %d of %d requests" %
                  (len(self.log()), n))
            time.sleep(0.02)
        return self.log()


PYBE = r'''
import hashlib, socket, sys, threading, time
addr = sys.argv[1]
h, p = addr.rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(128)
print("pybe: listening", flush=True)
lock = threading.Lock()
def out(*a):
    with lock:
        print(*a, flush=True)
class R:
    def __init__(self, c): self.c, self.b = c, b""
    def fill(self):
        d = self.c.recv(1 << 20)
        if not d: raise EOFError
        self.b += d
    def line(self):
        while b"\r\n" not in self.b: self.fill()
        l, _, self.b = self.b.partition(b"\r\n"); return l
    def take(self, n):
        while len(self.b) < n: self.fill()
        d, self.b = self.b[:n], self.b[n:]; return d
    def feed(self, n, hs):
        while n:
            if not self.b: self.fill()
            d = self.b[:n]; self.b = self.b[len(d):]; n -= len(d); hs.update(d)
def serve(c):
    r = R(c)
    try:
        while True:
            l = r.line()
            if not l: continue
            method, target, ver = l.decode().split(" ")
            hdrs = {}
            while True:
                l = r.line()
                if not l: break
                k, _, v = l.decode().partition(":")
                hdrs[k.strip().lower()] = v.strip()
            out("pybe: request %s %s te=%s cl=%s expect=%s" % (method, target,
                hdrs.get("transfer-encoding"), hdrs.get("content-length"), hdrs.get("expect")))
            if target == "/silent":
                while True: r.fill()
            if target == "/slow":
                time.sleep(1)
            if target == "/many":  # more response fields than the parser holds inline
                hs = b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(24))
                c.sendall(b"HTTP/1.1 200 OK\r\n" + hs + b"Content-Length: 3\r\n\r\nok\n")
                continue
            if hdrs.get("expect", "").lower() == "100-continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            hs, n = hashlib.sha256(), 0
            if hdrs.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    sz = int(r.line().split(b";")[0], 16)
                    if sz == 0:
                        while r.line(): pass
                        break
                    r.feed(sz, hs); n += sz
                    check = r.take(2); assert check == b"\r\n", check
            elif "content-length" in hdrs:
                n = int(hdrs["content-length"]); r.feed(n, hs)
            if target.startswith("/chunked/"):
                total = int(target.split("/")[2]); blk = bytes(range(256)) * 256
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                left = total
                while left:
                    k = min(left, len(blk) - (left % 7))
                    c.sendall(b"%x\r\n" % k + blk[:k] + b"\r\n"); left -= k
                c.sendall(b"0\r\nX-Trailer: yes\r\n\r\n")
                continue
            body = ("%s %d\n" % (hs.hexdigest(), n)).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except (EOFError, ConnectionError):
        pass
    finally:
        out("pybe: closed")
        c.close()
while True:
    c, _ = s.accept()
    out("pybe: accept")
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def script_backend(name, code, addr):
    """Runs the backend script <code> (its own process) on <addr> and waits
    for its "<name>: listening" line."""
    path = os.path.join(lib.tmpdir(), name + ".py")
    with open(path, "w") as f:
        f.write(code)
    p = lib.Proc([sys.executable, path, addr], name=name)
    p.wait_line(r"^%s: listening" % name)
    return p


def pybe(addr):
    return script_backend("pybe", PYBE, addr)


TUNBE = r"""
import base64, hashlib, os, socket, sys, threading, time
SLOW = 4 if os.environ.get("RLB_SLOW") else 1
addr = sys.argv[1]
h, p = addr.rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(128)
print("tunbe: listening", flush=True)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
def serve(c):
    b = b""
    try:
        while True:
            while b"\r\n\r\n" not in b:
                d = c.recv(65536)
                if not d: return
                b += d
            head, _, b = b.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            target = lines[0].split(" ")[1]
            hdrs = {}
            for l in lines[1:]:
                k, _, v = l.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            print("tunbe: request %s upgrade=%s connection=%s via=%s" % (target,
                  hdrs.get("upgrade"), hdrs.get("connection"), hdrs.get("via")), flush=True)
            if target == "/decline":
                body = b"no upgrade here\n"
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                continue
            key = hdrs.get("sec-websocket-key", "").encode()
            acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
            # The first tunnel bytes go in the same write as the 101 head.
            if target == "/sink":  # reads nothing for 5 s (x SLOW), then drains to EOF
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
                time.sleep(5 * SLOW)
                while c.recv(1 << 20):
                    pass
                return
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc +
                      b"\r\n\r\nserver-first\n")
            n = 0
            if b:
                c.sendall(b); n += len(b)
            while True:
                d = c.recv(1 << 20)
                if not d: break
                c.sendall(d); n += len(d)
            # The client half-closed: this direction still works.
            c.sendall(b"eof-seen %d\n" % n)
            print("tunbe: eof after %d" % n, flush=True)
            c.shutdown(socket.SHUT_WR)
            c.recv(1)
            return
    except (ConnectionError, OSError):
        pass
    finally:
        print("tunbe: closed", flush=True)
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def tunbe(addr):
    return script_backend("tunbe", TUNBE, addr)


def chunked_pattern(total):
    """The body pybe sends for /chunked/<total>."""
    blk = bytes(range(256)) * 256
    out, left = [], total
    while left:
        k = min(left, len(blk) - (left % 7))
        out.append(blk[:k])
        left -= k
    return b"".join(out)


# ---- ringlb ----

def config(addr, pools, routes="", extra_listener="", tuning="", default="app"):
    """A one-worker http listener on addr:7000; <pools> maps a pool name to
    a list of (address, weight)."""
    ps = []
    for name, backends in pools.items():
        b = "\n".join("      - { address: %s, weight: %d }" % be for be in backends)
        ps.append("  - name: %s\n    algorithm: round_robin\n    backends:\n%s" % (name, b))
    return """workers: 1
listeners:
  - name: web
    bind: {addr}:7000
    mode: http
    pool: {default}
    max_connections: 1024
{routes}{extra}
pools:
{pools}
{tuning}""".format(addr=addr, default=default, routes=routes, extra=extra_listener,
                   pools="\n".join(ps), tuning=tuning)


def raw(addr, data, timeout=10, shut=False):
    """Writes <data> on a fresh socket and reads until the peer closes;
    returns every byte received."""
    s = socket.create_connection((addr, 7000), timeout=timeout * lib.SLOW)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def curl(args, timeout=60):
    """Runs curl; returns (rc, stdout)."""
    p = subprocess.run(["curl", "-sS", "--max-time", str(timeout * lib.SLOW)] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout * lib.SLOW + 10)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


def responses(sock_file, n):
    """Reads <n> Content-Length framed responses from a socket file."""
    out = []
    for _ in range(n):
        line = sock_file.readline()
        st = int(line.split()[1])
        hdrs = {}
        while True:
            l = sock_file.readline()
            if l in (b"\r\n", b""):
                break
            k, _, v = l.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        body = sock_file.read(int(hdrs.get("content-length", "0")))
        out.append((st, hdrs, body))
    return out


def start_ngx(name="app", port=7101, files=None):
    addr = lib.loopback()
    n = Nginx("%s:%d" % (addr, port), name, files)
    return addr, n


# ---- tests ----

def test_routing_by_host_and_path_prefix_with_default_pool():
    addr = lib.loopback()
    ngx = {n: Nginx("%s:%d" % (addr, p), n) for n, p in
           (("app", 7101), ("api", 7102), ("wild", 7103), ("exact", 7104))}
    routes = """    routes:
      - { host: "*.example.com", path: /api/, pool: api }
      - { host: "*.example.com", pool: wild }
      - { host: exact.test, pool: exact }
      - { path: /static/, pool: api }
"""
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)], "api": [(addr + ":7102", 1)],
                                 "wild": [(addr + ":7103", 1)], "exact": [(addr + ":7104", 1)]},
                          routes=routes))
    cases = [("www.example.com", "/api/x", "api"), ("a.b.example.com", "/index", "wild"),
             ("www.example.com", "/apix", "wild"), ("exact.test", "/anything", "exact"),
             ("EXACT.test:7000", "/p", "exact"), ("sub.exact.test", "/p", "app"),
             ("other.org", "/static/a", "api"), ("other.org", "/", "app"),
             ("example.com", "/", "app")]
    for host, path, want in cases:
        st, _, body = lib.http_get(addr + ":7000", path, host=host)
        check(st == 200 and body.decode().split()[0] == want,
              "Host %s %s: %s %r, expected pool %s" % (host, path, st, body, want))
    # An absolute-form target names the host: it routes, not the Host
    # header, and goes up in origin-form with Host made from it.
    for target, want, host, path in (
            ("http://www.example.com/api/x", "api", "www.example.com", "/api/x"),
            ("http://exact.test", "exact", "exact.test", "/"),
            ("http://other.org/?q", "app", "other.org", "/?q")):
        before = len(ngx[want].log())
        resp = raw(addr, b"GET %s HTTP/1.1\r\nHost: wrong.example\r\nConnection: close\r\n\r\n" %
                   target.encode())
        got = resp.partition(b"\r\n\r\n")[2].decode().split()
        check(status_of(resp) == 200 and got and got[0] == want and got[1] == path,
              "GET %s: %r, expected pool %s path %s" % (target, resp[:300], want, path))
        log = ngx[want].wait_requests(before + 1)[-1]
        check(log["host"] == host, "GET %s: the backend saw Host %r" % (target, log["host"]))
    r.finish()


def test_maglev_hashes_a_named_header_or_the_client_address():
    # pools[].hash: header:NAME sends every request with the same value to
    # the same backend (requests without it hash the client address, as
    # client_ip does for all of them).
    addr = lib.loopback()
    Nginx(addr + ":7101", "b1")
    Nginx(addr + ":7102", "b2")
    pools = ""
    for name, hash_ in (("byuser", "header:X-User"), ("byip", "client_ip")):
        pools += ("  - name: %s\n    algorithm: maglev\n    hash: %s\n    backends:\n"
                  "      - { address: %s:7101 }\n      - { address: %s:7102 }\n" %
                  (name, hash_, addr, addr))
    cfg = config(addr, {"app": [(addr + ":7101", 1)]},
                 routes="    routes:\n      - { path: /u/, pool: byuser }\n"
                        "      - { path: /ip/, pool: byip }\n") + pools
    r = lib.Ringlb(cfg)

    def get(path, user=None):
        hdr = b"X-User: %s\r\n" % user.encode() if user else b""
        resp = raw(addr, b"GET %s HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n" %
                   (path.encode(), hdr))
        check(status_of(resp) == 200, "GET %s: %r" % (path, resp[:200]))
        return resp.partition(b"\r\n\r\n")[2].split()[0].decode()

    seen = {}
    for user in ("user%d" % i for i in range(24)):
        got = {get("/u/x", user) for _ in range(3)}
        check(len(got) == 1, "%s went to %s" % (user, sorted(got)))
        seen[user] = got.pop()
    check(set(seen.values()) == {"b1", "b2"}, "24 users all on %s" % set(seen.values()))
    got = {get("/ip/%d" % i) for i in range(12)}
    check(len(got) == 1, "one client address went to %s" % sorted(got))
    r.finish()


def test_forwarding_headers_added_and_hop_by_hop_removed():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    req = (b"GET /name HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 10.1.2.3\r\n"
           b"X-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
           b"Connection: close, X-Foo\r\nX-Foo: secret\r\nKeep-Alive: timeout=5\r\n"
           b"Proxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n")
    resp = raw(addr, req)
    check(status_of(resp) == 200, "status %r" % resp[:200])
    log = n.wait_requests(1)[-1]
    check(log["xff"] == "10.1.2.3, 127.0.0.1" or log["xff"] == "10.1.2.3, " + addr,
          "X-Forwarded-For %r" % log["xff"])
    client = log["xff"].split(", ")[1]
    check(log["xri"] == client, "X-Real-IP %r, client %r" % (log["xri"], client))
    check(log["xfp"] == "http", "X-Forwarded-Proto %r" % log["xfp"])
    for k in ("foo", "ka", "pc", "te"):
        check(log[k] == "-", "hop-by-hop %s reached the backend: %r" % (k, log[k]))
    check(log["conn"] in ("-", "keep-alive"), "Connection %r" % log["conn"])
    check(b"\r\nconnection: close" in resp.lower(), "client asked close: %r" % resp[:300])
    r.finish()


def test_keep_alive_reuses_connections_on_both_sides():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    import http.client
    N = 200
    for _ in range(2):  # two client connections, one after the other
        c = http.client.HTTPConnection(addr, 7000, timeout=10 * lib.SLOW)
        for i in range(N // 2):
            c.request("GET", "/name/%d" % i)
            resp = c.getresponse()
            body = resp.read()
            check(resp.status == 200 and body == b"app /name/%d\n" % i, "request %d: %r" % (i, body))
        c.close()
    log = n.wait_requests(N)
    conns = {l["c"] for l in log}
    check(len(conns) <= 2, "nginx saw %d connections for %d requests" % (len(conns), N))
    check(max(int(l["cr"]) for l in log) >= N // 2, "max connection_requests %s" %
          max(int(l["cr"]) for l in log))
    t = r.stats_total()
    check(t["http_requests"] == N, "http_requests=%s" % t["http_requests"])
    check(t["http_reused"] >= N - 2, "http_reused=%s" % t["http_reused"])
    s = r.finish()
    check(s["connect_ok"] <= 2, "connect_ok=%s for %d requests" % (s["connect_ok"], N))


def test_kept_contexts_free_a_large_response_head_each_time():
    # A response with more fields than the parser holds inline spills to an
    # array; a client that keeps its context between requests (the park)
    # must free it before the next response (LeakSanitizer, make asan).
    addr = lib.loopback()
    pybe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]}))
    import http.client
    c = http.client.HTTPConnection(addr, 7000, timeout=10 * lib.SLOW)
    for i in range(30):
        c.request("GET", "/many")
        resp = c.getresponse()
        body = resp.read()
        n = sum(1 for k, _ in resp.getheaders() if k.lower().startswith("x-h"))
        check(resp.status == 200 and body == b"ok\n" and n == 24,
              "request %d: %s %r, %d fields" % (i, resp.status, body, n))
    c.close()
    r.finish()


def test_keepalive_requests_and_the_idle_upstream_limit():
    # keepalive_requests: 3 -> the third response says Connection: close and
    # the connection ends. keepalive.max_idle: 1 -> of 4 upstream
    # connections busy at once, one stays open for reuse, 3 are closed.
    addr = lib.loopback()
    pb = pybe(addr + ":7102")
    cfg = config(addr, {"app": [(addr + ":7102", 1)]},
                 extra_listener="    keepalive_requests: 3\n")
    cfg = cfg.replace("    algorithm: round_robin\n",
                      "    algorithm: round_robin\n    keepalive: { max_idle: 1 }\n")
    r = lib.Ringlb(cfg)
    s = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    f = s.makefile("rb")
    for i in range(3):
        s.sendall(b"GET /k%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
        (st, hdrs, _), = responses(f, 1)
        conn = hdrs.get("connection", "").lower()
        check(st == 200 and (conn == "close") == (i == 2),
              "request %d: %s Connection: %r" % (i + 1, st, conn))
    check(f.read() == b"", "the connection stayed open after keepalive_requests")
    s.close()
    socks = [socket.create_connection((addr, 7000), timeout=10 * lib.SLOW) for _ in range(4)]
    for c in socks:
        c.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    for c in socks:
        (st, _, _), = responses(c.makefile("rb"), 1)
        check(st == 200, "slow request: %s" % st)
        c.close()
    t = r.stats_total()
    check(t["connect_ok"] == 4, "connect_ok=%s: 4 slow requests at once need 4" % t["connect_ok"])
    mark = 0
    for _ in range(3):
        _, mark = pb.wait_line(r"^pybe: closed", 10, start=mark)
        mark += 1
    resp = raw(addr, b"GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(status_of(resp) == 200, "after: %r" % resp[:200])
    t = r.stats_total()
    check(t["connect_ok"] == 4 and t["http_reused"] >= 1,
          "connect_ok=%s http_reused=%s: the kept upstream was not reused" %
          (t["connect_ok"], t["http_reused"]))
    closed = pb.output().count("pybe: closed")
    check(closed == 3, "%d upstream connections closed, expected 3 (max_idle 1)" % closed)
    r.finish()


def test_pipelined_requests_are_answered_in_order():
    addr, n = start_ngx(files={"big": os.urandom(200000)})
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    s = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    paths = ["/name/%d" % i for i in range(20)]
    paths[7] = "/big"
    paths[13] = "/204"
    data = b"".join(b"GET %s HTTP/1.1\r\nHost: p\r\n\r\n" % p.encode() for p in paths)
    s.sendall(data)
    f = s.makefile("rb")
    got = responses(f, len(paths))
    for p, (st, _, body) in zip(paths, got):
        if p == "/big":
            check(st == 200 and len(body) == 200000, "big: %s %d" % (st, len(body)))
        elif p == "/204":
            check(st == 204 and body == b"", "204: %s %r" % (st, body))
        else:
            check(st == 200 and body == b"app %s\n" % p.encode(), "%s: %s %r" % (p, st, body))
    # The connection is still usable afterwards.
    s.sendall(b"GET /name/last HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
    (st, h, body), = responses(f, 1)
    check(body == b"app /name/last\n", "after the pipeline: %r" % body)
    check(f.read() == b"", "bytes after Connection: close")
    s.close()
    r.finish()


def test_bodies_1mib_and_100mib_both_directions_with_checksums():
    addr = lib.loopback()
    one = os.urandom(1 << 20)
    n = Nginx(addr + ":7101", "app", {"one": one, "hundred": 100 << 20})
    pb = pybe(addr + ":7102")
    routes = "    routes:\n      - { path: /up, pool: up }\n      - { path: /chunked/, pool: up }\n"
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)], "up": [(addr + ":7102", 1)]},
                          routes=routes))
    base = "http://%s:7000" % addr
    # Downloads: Content-Length from nginx.
    st, _, body = lib.http_get(addr + ":7000", "/one")
    check(st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(one).digest(),
          "1 MiB download: %s len=%d" % (st, len(body)))
    rc, out = curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", base + "/hundred"])
    check(rc == 0 and out.strip() == "200 %d" % (100 << 20), "100 MiB download: rc=%d %s" % (rc, out))
    # Downloads: chunked from the Python backend.
    for size in (1 << 20, 100 << 20):
        rc, out = curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        base + "/chunked/%d" % size])
        check(rc == 0 and out.strip() == "200 %d" % size, "chunked %d: rc=%d %s" % (size, rc, out))
    st, h, body = lib.http_get(addr + ":7000", "/chunked/%d" % (1 << 20))
    check(body == chunked_pattern(1 << 20), "1 MiB chunked download differs (len %d)" % len(body))
    # Uploads, Content-Length and chunked.
    d = lib.tmpdir()
    small = os.path.join(d, "one")
    with open(small, "wb") as f:
        f.write(one)
    big = os.path.join(d, "hundred")
    hs = hashlib.sha256()
    with open(big, "wb") as f:
        blk = os.urandom(1 << 20)
        for i in range(100):
            b = blk[i:] + blk[:i]
            f.write(b)
            hs.update(b)
    want = {small: "%s %d" % (hashlib.sha256(one).hexdigest(), 1 << 20),
            big: "%s %d" % (hs.hexdigest(), 100 << 20)}
    for path in (small, big):
        for chunked in (False, True):
            hdr = ["-H", "Transfer-Encoding: chunked"] if chunked else []
            rc, out = curl(["-X", "POST", "--data-binary", "@" + path] + hdr + [base + "/up"])
            check(rc == 0 and out.strip() == want[path],
                  "upload %s chunked=%s: rc=%d %r, expected %r" % (path, chunked, rc, out, want[path]))
    r.finish()


def test_head_204_304_have_no_body():
    addr, n = start_ngx(files={"f": b"x" * 5000})
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    s = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    f = s.makefile("rb")
    s.sendall(b"HEAD /f HTTP/1.1\r\nHost: a\r\n\r\n")
    line = f.readline()
    hdrs = {}
    while True:
        l = f.readline()
        if l == b"\r\n":
            break
        k, _, v = l.decode().partition(":")
        hdrs[k.strip().lower()] = v.strip()
    check(b" 200 " in line and hdrs.get("content-length") == "5000", "HEAD: %r %s" % (line, hdrs))
    lm = hdrs["last-modified"]
    # The next answers on the same connection: a body after HEAD would show up here.
    s.sendall(b"GET /204 HTTP/1.1\r\nHost: a\r\n\r\n")
    (st, h, body), = responses(f, 1)
    check(st == 204 and "content-length" not in h, "204: %s %s" % (st, h))
    s.sendall(b"GET /f HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: %s\r\n\r\n" % lm.encode())
    line = f.readline()
    while f.readline() != b"\r\n":
        pass
    check(b" 304 " in line, "304: %r" % line)
    s.sendall(b"GET /name/end HTTP/1.1\r\nHost: a\r\n\r\n")
    (st, h, body), = responses(f, 1)
    check(st == 200 and body == b"app /name/end\n", "after HEAD/204/304: %s %r" % (st, body))
    s.close()
    r.finish()


def test_expect_100_continue_upload_with_curl():
    addr = lib.loopback()
    pb = pybe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]}))
    body = os.urandom(3 << 20)
    d = lib.tmpdir()
    path = os.path.join(d, "b")
    with open(path, "wb") as f:
        f.write(body)
    rc, out = curl(["-H", "Expect: 100-continue", "--expect100-timeout", "30", "--data-binary",
                    "@" + path, "-w", " %{http_code}", "http://%s:7000/up" % addr])
    check(rc == 0 and out.split() == [hashlib.sha256(body).hexdigest(), str(3 << 20), "200"],
          "curl: rc=%d %r" % (rc, out))
    pb.wait_line(r"^pybe: request POST /up .*expect=100-continue")
    r.finish()


def test_502_when_the_backend_port_is_closed():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    check(status_of(resp) == 502, "expected 502: %r" % resp[:200])
    r.finish()


def test_error_pages_from_files_replace_the_built_in_text():
    addr = lib.loopback()
    d = lib.tmpdir()
    page502 = b"<html><body>custom 502 \xe2\x9c\x93</body></html>\n"
    page503 = b"<html>" + b"x" * 20000 + b"</html>\n"  # past one small buffer
    for name, data in (("502.html", page502), ("503.html", page503)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    pages = "    error_pages: { 502: %s/502.html, 503: %s/503.html }\n" % (d, d)
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)], "none": [(addr + ":7101", 0)]},
                          routes="    routes:\n      - { path: /none, pool: none }\n",
                          extra_listener=pages))
    for path, st, page in (("/", 502, page502), ("/none", 503, page503)):
        resp = raw(addr, b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
        head, _, body = resp.partition(b"\r\n\r\n")
        h = head.decode().lower()
        check(status_of(resp) == st and body == page, "%d page: %r" % (st, resp[:300]))
        check("content-type: text/html" in h and "content-length: %d" % len(page) in h,
              "%d head: %r" % (st, head))
        check(("retry-after: 1" in h) == (st == 503), "%d retry-after: %r" % (st, head))
    # Statuses without a file keep the built-in text.
    resp = raw(addr, b"GET / HTTP/1.7\r\nHost: a\r\n\r\n")
    check(status_of(resp) == 505 and resp.endswith(b"505 HTTP Version Not Supported\n"),
          "505: %r" % resp)
    r.finish()


def test_critical_pressure_at_accept_answers_503_with_the_listener_page():
    # Under Critical pressure a connection the accept decision rejects gets
    # the 503 of the Contracts before it is closed: the listener's page when
    # it has a small one (written from its mapping, no buffer taken), else
    # the built-in text. Thresholds below the idle usage make every accept
    # Critical; critical_reject_ratio 1 rejects them all.
    addr = lib.loopback()
    d = lib.tmpdir()
    page = b"<html>busy, come back</html>\n"
    with open(os.path.join(d, "503.html"), "wb") as f:
        f.write(page)
    tuning = ("memory_tuning:\n  warning_threshold: 0.005\n  backpressure_start: 0.008\n"
              "  critical_threshold: 0.01\n  critical_reject_ratio: 1.0\n")
    for pages, want in (("    error_pages: { 503: %s/503.html }\n" % d, page),
                        ("", b"503 Service Unavailable\n")):
        r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}, extra_listener=pages,
                              tuning=tuning))
        resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        head, _, body = resp.partition(b"\r\n\r\n")
        h = head.decode().lower()
        check(status_of(resp) == 503 and body == want, "503 at accept: %r" % resp[:300])
        check("retry-after: 1" in h and "content-length: %d" % len(want) in h,
              "503 head: %r" % head)
        t = r.stats_total()
        check(t["rejected"] >= 1 and t["accepted"] == 0 and t["http_requests"] == 0,
              "not rejected at accept: rejected=%s accepted=%s http_requests=%s" %
              (t["rejected"], t["accepted"], t["http_requests"]))
        r.finish()


def test_via_names_the_proxy_upstream_when_set():
    addr = lib.loopback()
    tb = tunbe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]},
                          extra_listener="    via: edge-1\n"))
    st, _, body = lib.http_get(addr + ":7000", "/decline")
    check(st == 200 and body == b"no upgrade here\n", "via: %s %r" % (st, body))
    tb.wait_line(r"^tunbe: request /decline upgrade=None connection=keep-alive via=1\.1 edge-1$")
    r.finish()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]}))
    lib.http_get(addr + ":7000", "/decline")
    tb.wait_line(r"^tunbe: request /decline upgrade=None connection=keep-alive via=None$")
    r.finish()


def test_503_when_every_backend_has_weight_0():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 0)]}))
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    check(status_of(resp) == 503 and b"retry-after: 1" in resp.lower(), "expected 503: %r" % resp[:300])
    check(n.log() == [], "the backend got a request")
    r.finish()


def test_504_when_the_backend_never_answers():
    addr = lib.loopback()
    pb = pybe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]},
                          extra_listener="    timeouts: { server: 1s }\n"))
    t0 = time.monotonic()
    resp = raw(addr, b"GET /silent HTTP/1.1\r\nHost: a\r\n\r\n", timeout=20)
    dt = time.monotonic() - t0
    check(status_of(resp) == 504, "expected 504: %r" % resp[:200])
    check(0.8 <= dt < 3 * lib.SLOW, "504 after %.2fs with timeouts.server 1s" % dt)
    r.finish()


def test_408_when_the_head_is_not_finished_in_time():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]},
                          extra_listener="    timeouts: { header: 1s }\n"))
    t0 = time.monotonic()
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ", timeout=20)
    dt = time.monotonic() - t0
    check(status_of(resp) == 408, "expected 408: %r" % resp[:200])
    check(0.8 <= dt < 3 * lib.SLOW, "408 after %.2fs with timeouts.header 1s" % dt)
    check(n.log() == [], "the backend got a request")
    r.finish()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout():
    # The first head is due within timeouts.header from the connect, as
    # nginx's client_header_timeout: a client that connects and says
    # nothing is closed then, not held for timeouts.idle (300 s). The
    # listener's TCP_DEFER_ACCEPT (timeouts.header, rounded up to seconds)
    # keeps it in the kernel for up to a second first.
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]},
                          extra_listener="    timeouts: { header: 1s }\n"))
    silent = socket.create_connection((addr, 7000), timeout=20 * lib.SLOW)
    late = socket.create_connection((addr, 7000), timeout=20 * lib.SLOW)
    t0 = time.monotonic()
    time.sleep(0.5)  # a request sent late, but within timeouts.header
    late.sendall(b"GET /late HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        d = late.recv(65536)
        if not d:
            break
        out += d
    check(status_of(out) == 200, "the late request: %r" % out[:200])
    try:
        got = silent.recv(4096)
    except ConnectionResetError:
        got = b""
    dt = time.monotonic() - t0
    check(got == b"", "the silent client got %r" % got[:200])
    check(0.8 <= dt < 2 + 3 * lib.SLOW, "closed after %.2fs with timeouts.header 1s" % dt)
    silent.close()
    late.close()
    t = r.stats_total()
    check(t["idle_timeouts"] == 1, "idle_timeouts=%s" % t["idle_timeouts"])
    check(len(n.wait_requests(1)) == 1, "the backend saw other requests")
    r.finish()


def pool_in_use(r):
    return sum(lib.kv(l)["in_use"] - lib.kv(l)["standing"] for l in r.stats()
               if l.startswith("ringlb: stats pool "))


def test_a_quiet_keep_alive_connection_gives_its_buffers_back():
    # A client between requests keeps its context (head buffers, parsed
    # address) for 50 ms, then holds no buffer. Every request, before and
    # after, carries the client's address in X-Forwarded-For.
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    idle = pool_in_use(r)
    import http.client
    c = http.client.HTTPConnection(addr, 7000, timeout=10 * lib.SLOW)
    for rnd in range(3):
        for i in range(5):
            c.request("GET", "/name/%d" % i)
            resp = c.getresponse()
            body = resp.read()
            check(resp.status == 200 and body == b"app /name/%d\n" % i,
                  "round %d request %d: %r" % (rnd, i, body))
        deadline = time.monotonic() + 2 * lib.SLOW
        while True:
            use = pool_in_use(r)
            if use == idle or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(use == idle, "round %d: %d buffers in use with the connection quiet (idle: %d)" %
              (rnd, use, idle))
    log = n.wait_requests(15)
    check(len({l["c"] for l in log}) == 1, "the backend saw %d connections" %
          len({l["c"] for l in log}))
    xff = {l["xff"] for l in log}
    check(len(xff) == 1 and xff.pop() in ("127.0.0.1", addr), "X-Forwarded-For: %r" %
          [l["xff"] for l in log])
    c.close()
    r.finish()


def test_413_when_the_body_exceeds_max_body_size():
    addr = lib.loopback()
    pb = pybe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]},
                          extra_listener="    max_body_size: 1KB\n"))
    ok = raw(addr, b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" +
             b"a" * 1000)
    check(status_of(ok) == 200, "a 1000-byte body: %r" % ok[:200])
    resp = raw(addr, b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n" + b"a" * 2048)
    check(status_of(resp) == 413, "expected 413 (Content-Length): %r" % resp[:200])
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    head = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    # Exactly 1 KiB of payload in one chunk: the limit counts payload, not
    # the chunk framing around it.
    mark = pb.count()
    ok = raw(addr, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + chunk + b"0\r\n\r\n")
    check(status_of(ok) == 200, "1 KiB chunked payload at max_body_size 1KB: %r" % ok[:200])
    # In one write: refused before the head goes upstream. (The backend's
    # line for the request before is read from its pipe by a thread: wait
    # for it, or a loaded machine counts it late, as if this one went up.)
    pb.wait_line(r"^pybe: request POST /up te=chunked", start=mark)
    seen = pb.output().count("te=chunked")
    resp = raw(addr, head + chunk + chunk + b"0\r\n\r\n")
    check(status_of(resp) == 413, "expected 413 (chunked, one write): %r" % resp[:200])
    check(pb.output().count("te=chunked") == seen, "the head of a refused body went upstream")
    # The second chunk later: the head is upstream by then, and that
    # upstream, left mid-body, must be closed, not kept nor left to the drain.
    before = pb.count()
    s = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    s.sendall(head + b"200\r\n" + b"a" * 512 + b"\r\n")
    pb.wait_line(r"^pybe: request POST /up te=chunked", start=before)
    mark = pb.count()
    s.sendall(chunk + b"0\r\n\r\n")
    resp = s.makefile("rb").read()
    s.close()
    check(status_of(resp) == 413, "expected 413 (chunked, two writes): %r" % resp[:200])
    pb.wait_line(r"^pybe: closed", 5, start=mark)
    r.finish()


def test_431_when_a_header_exceeds_max_buffer_size():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]},
                          tuning="memory_tuning:\n  max_buffer_size: 16KB\n"))
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n")
    check(status_of(resp) == 431, "expected 431: %r" % resp[:200])
    check(n.log() == [], "the backend got a request")
    r.finish()


def test_414_when_the_request_line_exceeds_8kib():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    resp = raw(addr, b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    check(status_of(resp) == 414, "expected 414: %r" % resp[:200])
    check(n.log() == [], "the backend got a request")
    r.finish()


# Smuggling attempts of our own, beside the h1 author's files: (status, request).
SMUGGLE_INLINE = [
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"0\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    (501, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    (400, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd"),
    (400, b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"),
    (400, b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
]


def read_head(s):
    """Reads a response head from socket <s>; returns (head, bytes after it)."""
    b = b""
    while b"\r\n\r\n" not in b:
        d = s.recv(65536)
        check(d, "EOF before the response head: %r" % b)
        b += d
    head, _, rest = b.partition(b"\r\n\r\n")
    return head, rest


def test_websocket_upgrade_tunnels_bytes_both_ways_with_half_close():
    addr = lib.loopback()
    tb = tunbe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]},
                          tuning="memory_tuning: { max_buffer_size: 65536 }\n"))
    key = base64.b64encode(os.urandom(16))
    s = socket.create_connection((addr, 7000), timeout=30 * lib.SLOW)
    # Client bytes right after the head (before the 101) go first.
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\nearly\n")
    head, rest = read_head(s)
    lines = head.decode().split("\r\n")
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    want = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    check(lines[0] == "HTTP/1.1 101 Switching Protocols", "status line %r" % lines[0])
    check(hdrs.get("upgrade") == "websocket" and hdrs.get("connection", "").lower() == "upgrade",
          "upgrade headers: %r" % hdrs)
    check(hdrs.get("sec-websocket-accept") == want.decode(), "accept %r" % hdrs)
    tb.wait_line(r"^tunbe: request /ws upgrade=websocket connection=upgrade")
    want_echo = b"server-first\nearly\n"
    got = rest
    while len(got) < len(want_echo):
        got += s.recv(65536)
    check(got == want_echo, "first tunnel bytes %r" % got)
    # A 1 MiB exchange through 64 KiB of buffering: written by a thread,
    # echoed back while it is written.
    big = os.urandom(1 << 20)
    wr = threading.Thread(target=s.sendall, args=(big,))
    wr.start()
    got = b""
    while len(got) < len(big):
        d = s.recv(1 << 20)
        check(d, "EOF after %d echoed bytes" % len(got))
        got += d
    wr.join()
    check(got == big, "1 MiB echo differs (%d bytes)" % len(got))
    # Half-close: the backend sees EOF and still answers, then closes.
    s.sendall(b"last words")
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    n = len(b"early\n") + len(big) + len(b"last words")
    check(got == b"last words" + b"eof-seen %d\n" % n, "after half-close: %r" % got[-200:])
    s.close()
    tb.wait_line(r"^tunbe: closed")
    st = r.finish()
    check(st["http_requests"] == 1, "http_requests=%s" % st["http_requests"])


def test_a_reset_while_a_tunnel_is_paused_closes_both_sides():
    # The backend reads nothing for 5 s: the client's bytes fill
    # max_buffer_size and the client is no longer read, with nothing sent
    # to it. Its reset must still close the pair at once (a poll watches a
    # socket that is not read), not when the backend reads again and the
    # client is read again.
    addr = lib.loopback()
    tb = tunbe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]},
                          extra_listener="    timeouts: { client: 60s, server: 60s }\n",
                          tuning="memory_tuning: { max_buffer_size: 65536 }\n"))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10 * lib.SLOW)
    s.connect((addr, 7000))
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /sink HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head, _ = read_head(s)
    check(head.startswith(b"HTTP/1.1 101 "), "no 101: %r" % head[:200])
    t_up = time.monotonic()
    s.setblocking(False)
    sent, block, quiet = 0, b"x" * 65536, 0
    deadline = time.monotonic() + 1.5 * lib.SLOW
    while quiet < 10 and time.monotonic() < deadline:  # until nothing more goes in
        try:
            sent += s.send(block)
            quiet = 0
        except BlockingIOError:
            quiet += 1
            time.sleep(0.05)
    check(sent > 65536, "only %d bytes went in before the tunnel stalled" % sent)
    mark = tb.count()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    t0 = time.monotonic()
    s.close()  # RST
    while True:
        t = r.stats_total()
        if t["active"] == 0 or time.monotonic() - t_up > 4.5 * lib.SLOW:
            break
        time.sleep(0.1)
    check(t["active"] == 0 and t["aborts"] >= 1,
          "%.1fs after the upgrade (the backend reads at 5 s): active=%s aborts=%s" %
          (time.monotonic() - t_up, t["active"], t["aborts"]))
    tb.wait_line(r"^tunbe: closed", 15, start=mark)
    r.finish()


def test_declined_upgrade_is_a_normal_response_on_a_kept_connection():
    addr = lib.loopback()
    tb = tunbe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]}))
    s = socket.create_connection((addr, 7000), timeout=10 * lib.SLOW)
    f = s.makefile("rb")
    s.sendall(b"GET /decline HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
              b"GET /decline HTTP/1.1\r\nHost: a\r\n\r\n")
    (st1, h1, b1), (st2, h2, b2) = responses(f, 2)
    check(st1 == 200 and b1 == b"no upgrade here\n", "first: %s %r %r" % (st1, h1, b1))
    check("upgrade" not in h1 and h1.get("connection") == "keep-alive", "first headers %r" % h1)
    check(st2 == 200 and b2 == b"no upgrade here\n", "second: %s %r" % (st2, b2))
    tb.wait_line(r"^tunbe: request /decline upgrade=websocket connection=upgrade")
    tb.wait_line(r"^tunbe: request /decline upgrade=None")
    s.close()
    r.finish()


def smuggle_cases():
    cases = [("inline-%d" % i, st, data) for i, (st, data) in enumerate(SMUGGLE_INLINE)]
    for path in sorted(glob.glob(os.path.join(SMUGGLE_DIR, "*.txt"))):
        m = re.match(r"(\d{3})-", os.path.basename(path))
        if not m:
            continue
        with open(path, "rb") as f:
            cases.append((os.path.basename(path), int(m.group(1)), f.read()))
    return cases


def test_request_smuggling_is_refused_and_the_backend_sees_nothing():
    addr, n = start_ngx()
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    # A warm upstream first: an idle keep-alive connection to nginx that a
    # request would get at once, with no connect to wait for.
    st, _, _ = lib.http_get(addr + ":7000", "/name/warm")
    check(st == 200, "warm-up request: %s" % st)
    n.wait_requests(1)
    cases = smuggle_cases()
    for name, want, data in cases:
        resp = raw(addr, data)  # raw() reads until ringlb closes
        check(status_of(resp) == want, "%s: expected %d, got %r" % (name, want, resp[:200]))
        check(b"connection: close" in resp.lower(), "%s: no Connection: close" % name)
    # A good request last: once nginx logged it, nothing else came before it.
    st, _, _ = lib.http_get(addr + ":7000", "/name/good")
    check(st == 200, "good request: %s" % st)
    log = n.wait_requests(2)
    check([l["request"] for l in log] == ["GET /name/warm HTTP/1.1", "GET /name/good HTTP/1.1"],
          "the backend received %r" % [l["request"] for l in log])
    s = r.finish()
    check(s["http_errors"] == len(cases), "http_errors=%s for %d cases" % (s["http_errors"], len(cases)))
    if not os.path.isdir(SMUGGLE_DIR):
        print("note: %s missing, inline cases only" % SMUGGLE_DIR, flush=True)


def test_a_body_read_with_its_head_leaves_no_bytes_in_the_next_context():
    # A body that comes in the same read as its head is moved down in the
    # head buffer; the buffer must still be zeroed as far as it was written
    # when given back, or the next context taken from the pool starts with
    # body bytes for fields (0x04 makes its state HS_TUNNEL).
    addr = lib.loopback()
    pybe(addr + ":7101")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]}))
    body = b"\x04" * 3800
    post = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    empty = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
    want = {len(body): ("%s %d\n" % (hashlib.sha256(body).hexdigest(), len(body))).encode(),
            0: ("%s 0\n" % hashlib.sha256(b"").hexdigest()).encode()}
    for rnd in range(5):
        socks = [socket.create_connection((addr, 7000), timeout=5 * lib.SLOW) for _ in range(8)]
        fs = [s.makefile("rb") for s in socks]
        for req, n in ((post, len(body)), (empty, 0)):
            for s in socks:
                s.sendall(req)
            for i, f in enumerate(fs):
                try:
                    (st, _, b), = responses(f, 1)
                except (OSError, ValueError, IndexError) as e:
                    raise lib.TestFailure("round %d conn %d, %d-byte body: no answer (%r)" %
                                          (rnd, i, n, e))
                check(st == 200 and b == want[n], "round %d conn %d: %s %r" % (rnd, i, st, b))
        for s in socks:
            s.close()
    r.finish()


def test_many_connections_and_memory_back_at_zero():
    addr, n = start_ngx(files={"f": os.urandom(64 << 10)})
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7101", 1)]},
                          extra_listener="    timeouts: { header: 2s }\n"))
    p = lib.Proc(["wrk", "-t", "2", "-c", "200", "-d", "3s", "http://%s:7000/f" % addr], name="wrk")
    rc = p.wait(60)
    out = p.output()
    m = re.search(r"(\d+) requests in", out)
    check(rc == 0 and m and int(m.group(1)) > 200, "wrk rc=%s:\n%s" % (rc, out))
    check("Non-2xx" not in out and "Socket errors" not in out, "wrk errors:\n%s" % out)
    # Clients holding connections at exit must be freed too: idle ones at
    # once, those in the middle of a head at their header timeout (408).
    held = [socket.create_connection((addr, 7000)) for _ in range(50)]
    for s in held[:25]:
        s.sendall(b"GET /f HTTP/1.1\r\nHost: a\r\n")  # half a head
    s = r.finish()
    for h in held:
        h.close()
    check(s["http_requests"] >= int(m.group(1)), "http_requests=%s" % s["http_requests"])


def test_a_reload_closes_the_idle_upstreams_of_the_listener_it_replaces():
    # An idle upstream of a listener a reload retired can serve nobody new
    # (new clients go to its successor): it must close at the reload, not
    # sit in the worker's idle list until timeouts.idle.
    addr = lib.loopback()
    pb = pybe(addr + ":7102")
    r = lib.Ringlb(config(addr, {"app": [(addr + ":7102", 1)]}))
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(status_of(resp) == 200, "first request: %r" % resp[:200])
    pb.wait_line(r"^pybe: request GET /")
    check("pybe: closed" not in pb.output(), "the upstream was not kept idle")
    mark = pb.count()
    r.reload()
    pb.wait_line(r"^pybe: closed", 10, start=mark)
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(status_of(resp) == 200, "after the reload: %r" % resp[:200])
    r.finish()


if __name__ == "__main__":
    lib.main(globals(), limit=60)
