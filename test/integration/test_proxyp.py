"""PROXY protocol v1 and v2 (listeners[].proxy_protocol: accept,
pools[].proxy_protocol: v1|v2) against real peers: HAProxy (send-proxy,
send-proxy-v2 in front of ringlb; accept-proxy behind it), nginx (listen ...
proxy_protocol behind ringlb, $proxy_protocol_addr returned), python clients
(malformed, truncated and oversized headers one byte at a time, untrusted
sources, a header and a ClientHello in one segment), on tcp, http and TLS
listeners, IPv4 and IPv6 (::1). Clients bind distinct loopback sources
(127.R.R.5) so that the address a header carries differs from the socket's
peer (HAProxy's source 127.R.R.3). Every process is stopped by PID."""
import os
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402
import tlscerts  # noqa: E402

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def free_port(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam)
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def hp(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def wait_port(host, port, timeout=20):
    deadline = time.monotonic() + timeout * lib.SLOW
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            return
        except OSError:
            check(time.monotonic() < deadline, "nothing listens on %s" % hp(host, port))
            time.sleep(0.05)


def v1(src, dst, sport=40000, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src, dst, sport=40000, dport=80, tlvs=b"", local=False):
    if local:
        return V2SIG + b"\x20\x00" + struct.pack("!H", len(tlvs)) + tlvs
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    addrs = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + struct.pack("!HH", sport,
                                                                                 dport)
    body = addrs + tlvs
    return V2SIG + b"\x21" + (b"\x21" if fam == socket.AF_INET6 else b"\x11") + \
        struct.pack("!H", len(body)) + body


def exchange(host, port, chunks, src=None, timeout=10, delay=0.0, shut=False):
    """Sends <chunks> (each its own send, <delay> apart) from <src>, reads
    until the peer closes; returns the bytes received."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout * lib.SLOW)
    if src:
        s.bind((src, 0))
    s.connect((host, port))
    out = b""
    try:
        for c in chunks:
            s.send(c)
            if delay:
                time.sleep(delay)
        if shut:
            s.shutdown(socket.SHUT_WR)
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        s.close()
    return out


def bytewise(b):
    return [b[i:i + 1] for i in range(len(b))]


def curl(url, src=None, extra=()):
    argv = ["curl", "-sS", "-g", "-m", str(15 * lib.SLOW), "-D", "-", url] + list(extra)
    if src:
        argv[1:1] = ["--interface", src]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30 * lib.SLOW)
    return r.returncode, r.stdout.decode("latin1")


def fields(text):
    """"k=v k=v" of a body's last line (nginx's or HAProxy's answer)."""
    body = text.split("\r\n\r\n", 1)[-1].strip().splitlines()[-1] if text.strip() else ""
    return dict(p.partition("=")[::2] for p in body.split())


# ---- peers ----

NGINX_CONF = """
error_log stderr notice;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  default_type text/plain;
  client_body_temp_path {dir}/cb; proxy_temp_path {dir}/pt; fastcgi_temp_path {dir}/ft;
  uwsgi_temp_path {dir}/ut; scgi_temp_path {dir}/st;
  keepalive_requests 10000;
  server {{
    listen {plain};
    location / {{ return 200 "xri=$http_x_real_ip xff=$http_x_forwarded_for ra=$remote_addr c=$connection\\n"; }}
  }}
  server {{
    listen {pp} proxy_protocol;
{pp6}
    location / {{
      add_header X-PP-Addr $proxy_protocol_addr;
      return 200 "ppa=$proxy_protocol_addr ppp=$proxy_protocol_port xri=$http_x_real_ip ra=$remote_addr c=$connection\\n";
    }}
  }}
}}
"""


class Nginx(lib.Proc):
    def __init__(self, plain, pp, pp6=None):
        self.dir = lib.tmpdir()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, plain=plain, pp=pp,
                                      pp6=("    listen %s proxy_protocol;" % pp6) if pp6 else ""))
        lib.Proc.__init__(self, ["nginx", "-p", self.dir, "-c", conf, "-g",
                                 "daemon off; master_process off;"], name="nginx")
        self.wait_line(r"getrlimit\(RLIMIT_NOFILE\)")


HAPROXY_HEAD = """
global
  maxconn 256
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
"""


class Haproxy(lib.Proc):
    """haproxy -db on a config body; <ports> are waited on until they accept."""

    def __init__(self, body, ports):
        self.dir = lib.tmpdir()
        conf = os.path.join(self.dir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(HAPROXY_HEAD + body)
        r = subprocess.run(["haproxy", "-c", "-f", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        check(r.returncode == 0, "haproxy -c: %s" % r.stdout.decode())
        lib.Proc.__init__(self, ["haproxy", "-db", "-f", conf], name="haproxy")
        for h, p in ports:
            wait_port(h, p)


def ringlb(listeners, pools, extra=""):
    return lib.Ringlb("workers: 1\nlisteners:\n%s\npools:\n%s\n%s" % (listeners, pools, extra))


def listener(name, bind, mode, pool=None, trusted=None, more=""):
    t = "    max_connections: 256\n"
    if pool:
        t += "    pool: %s\n" % pool
    if trusted is not None:
        t += "    proxy_protocol: accept\n    proxy_protocol_trusted: [%s]\n" % \
            ", ".join('"%s"' % n for n in trusted)
    return "  - name: %s\n    bind: \"%s\"\n    mode: %s\n%s%s" % (name, bind, mode, t, more)


def pool(name, backends, pp=None, more=""):
    t = "  - name: %s\n" % name
    if pp:
        t += "    proxy_protocol: %s\n" % pp
    t += more + "    backends:\n" + "".join("      - { address: %s }\n" % b for b in backends)
    return t


def static(name, bind, body=None):
    return ("  - name: %s\n    bind: %s\n    mode: static\n    max_connections: 256\n"
            "    body: \"%s\\n\"\n" % (name, bind, body or name))


def totals(r):
    return r.stats_total()


# ---- tests ----

def test_haproxy_send_proxy_v1_v2_in_front_of_http_listener():
    """HAProxy send-proxy and send-proxy-v2 (from source 127.R.R.3) in front of
    an http listener that trusts only that source: X-Real-IP and
    X-Forwarded-For at the nginx behind carry the curl client's address
    (127.R.R.5, and ::1 through an IPv6 HAProxy frontend), not HAProxy's;
    the same over an IPv6 listener trusting ::1."""
    a = lib.loopback()
    src, cli = a[:-1] + "3", a[:-1] + "5"
    v6 = have_ipv6()
    p6 = free_port("::1") if v6 else 0
    ng = Nginx("%s:7100" % a, "%s:7101" % a)
    ls = listener("pp", "%s:7000" % a, "http", "app", [src + "/32"])
    if v6:
        ls += listener("pp6", "[::1]:%d" % p6, "http", "app", ["::1/128"])
    r = ringlb(ls, pool("app", ["%s:7100" % a]))
    f6 = free_port("::1") if v6 else 0
    body = """
frontend f1
  mode tcp
  bind {a}:7201
  default_backend b1
frontend f2
  mode tcp
  bind {a}:7202
  default_backend b2
backend b1
  mode tcp
  server s1 {a}:7000 send-proxy source {src}
backend b2
  mode tcp
  server s1 {a}:7000 send-proxy-v2 source {src}
""".format(a=a, src=src)
    ports = [(a, 7201), (a, 7202)]
    if v6:
        body += """
frontend f6
  mode tcp
  bind [::1]:{f6}
  default_backend b6
backend b6
  mode tcp
  server s1 [::1]:{p6} send-proxy-v2
frontend f7
  mode tcp
  bind [::1]:{f7}
  default_backend b1
""".format(f6=f6, p6=p6, f7=f6 + 1 if f6 < 65535 else f6 - 1)
        ports.append(("::1", f6))
    Haproxy(body, ports)
    for port in (7201, 7202):
        rc, out = curl("http://%s:%d/x" % (a, port), src=cli)
        check(rc == 0 and " 200 " in out.split("\r\n")[0], "via %d: %s" % (port, out))
        f = fields(out)
        check(f.get("xri") == cli, "X-Real-IP %r, expected the client %s: %s" % (f.get("xri"), cli, out))
        check(f.get("xff", "").split(",")[-1].strip() == cli, "X-Forwarded-For: %s" % out)
    if v6:
        rc, out = curl("http://[::1]:%d/x" % f6)
        f = fields(out)
        check(rc == 0 and f.get("xri") == "::1", "IPv6 through v2 over ::1: %s" % out)
        # An IPv6 client carried in a v2 header over IPv4, then a v1 one.
        for hdr in (v2("::1", "::1", 50000, 80), v1("2001:db8::9", "::1")):
            out = exchange(a, 7000, [hdr + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
                           src=src).decode("latin1")
            want = "::1" if hdr.startswith(V2SIG) else "2001:db8::9"
            check(fields(out).get("xri") == want, "%s carried over IPv4: %s" % (want, out))
    t = totals(r)
    check(t["proxy_ok"] >= 2 and t["proxy_bad"] == 0 and t["proxy_untrusted"] == 0,
          "counters: %s" % t)
    r.finish()


def test_l4_chain_haproxy_both_directions():
    """curl -> HAProxy (send-proxy-v2, source 127.R.R.3) -> ringlb tcp listener
    (accept) -> pools v1 and v2 -> HAProxy frontends with accept-proxy, which
    answer with the source address they were given: the curl client's,
    IPv4 and IPv6."""
    a = lib.loopback()
    src, cli = a[:-1] + "3", a[:-1] + "5"
    v6 = have_ipv6()
    ls = (listener("l1", "%s:7000" % a, "tcp", "up1", [src + "/32"]) +
          listener("l2", "%s:7001" % a, "tcp", "up2", [src + "/32", "::1/128"]))
    pools = pool("up1", ["%s:7301" % a], "v1") + pool("up2", ["%s:7302" % a], "v2")
    r = ringlb(ls, pools)
    f6 = free_port("::1") if v6 else 0
    body = """
frontend answer1
  mode http
  bind {a}:7301 accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%[src] dst=%[dst]\\n"
frontend answer2
  mode http
  bind {a}:7302 accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%[src] dst=%[dst]\\n"
frontend f1
  mode tcp
  bind {a}:7201
  default_backend b1
frontend f2
  mode tcp
  bind {a}:7202
  default_backend b2
backend b1
  mode tcp
  server s1 {a}:7000 send-proxy-v2 source {src}
backend b2
  mode tcp
  server s1 {a}:7001 send-proxy source {src}
""".format(a=a, src=src)
    ports = [(a, 7201), (a, 7202), (a, 7301), (a, 7302)]
    if v6:
        body += """
frontend f6
  mode tcp
  bind [::1]:{f6}
  default_backend b2
""".format(f6=f6)
        ports.append(("::1", f6))
    Haproxy(body, ports)
    for port in (7201, 7202):
        rc, out = curl("http://%s:%d/" % (a, port), src=cli)
        f = fields(out)
        check(rc == 0 and f.get("src") == cli, "via %d: HAProxy saw %r, expected %s: %s" %
              (port, f.get("src"), cli, out))
        check(f.get("dst") == a, "destination %r, expected %s" % (f.get("dst"), a))
    if v6:
        rc, out = curl("http://[::1]:%d/" % f6)
        check(rc == 0 and fields(out).get("src") == "::1", "IPv6 client: %s" % out)
    t = totals(r)
    check(t["proxy_ok"] >= 2 and t["proxy_sent"] >= 2, "counters: %s" % t)
    r.finish()


def test_nginx_behind_sending_pools():
    """http and tcp pools with proxy_protocol v1 and v2 in front of nginx's
    `listen ... proxy_protocol`: $proxy_protocol_addr (in the body and the
    X-PP-Addr header) is the client's, from IPv4 and IPv6 clients, and the
    address of a PROXY header ringlb accepted is the one passed on."""
    a = lib.loopback()
    cli = a[:-1] + "5"
    v6 = have_ipv6()
    p6 = free_port("::1") if v6 else 0
    ng = Nginx("%s:7100" % a, "%s:7101" % a)
    ls = (listener("h1", "%s:7000" % a, "http", "pv1") +
          listener("h2", "%s:7001" % a, "http", "pv2") +
          listener("t1", "%s:7002" % a, "tcp", "pv1") +
          listener("acc", "%s:7003" % a, "http", "pv2", ["127.0.0.0/8"]))
    if v6:
        ls += listener("h6", "[::1]:%d" % p6, "http", "pv2")
    pools = pool("pv1", ["%s:7101" % a], "v1") + pool("pv2", ["%s:7101" % a], "v2")
    r = ringlb(ls, pools)
    for port in (7000, 7001, 7002):
        rc, out = curl("http://%s:%d/" % (a, port), src=cli)
        f = fields(out)
        check(rc == 0 and f.get("ppa") == cli, "via %d: nginx's $proxy_protocol_addr %r, "
              "expected %s: %s" % (port, f.get("ppa"), cli, out))
        check(("X-PP-Addr: %s" % cli) in out, "no X-PP-Addr header: %s" % out)
        if port != 7002:
            check(f.get("xri") == cli, "X-Real-IP: %s" % out)
    if v6:
        rc, out = curl("http://[::1]:%d/" % p6)
        check(rc == 0 and fields(out).get("ppa") == "::1", "IPv6 client: %s" % out)
    out = exchange(a, 7003, [v1("198.51.100.7", a) + b"GET / HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n"]).decode("latin1")
    check(fields(out).get("ppa") == "198.51.100.7", "accepted then sent: %s" % out)
    r.finish()


def test_http_pool_reuses_an_upstream_only_for_the_same_client():
    """An idle upstream that was sent a header carries requests of the same
    client IP only: clients 10.0.0.1, 10.0.0.2, 10.0.0.1 (each a new
    connection with its PROXY header) each reach nginx with their own
    $proxy_protocol_addr, and the third reuses the first's connection."""
    a = lib.loopback()
    ng = Nginx("%s:7100" % a, "%s:7101" % a)
    r = ringlb(listener("acc", "%s:7000" % a, "http", "pv2", ["127.0.0.0/8"]),
               pool("pv2", ["%s:7101" % a], "v2"))
    conns = []
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"):
        out = exchange(a, 7000, [v2(ip, a) + b"GET / HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n"]).decode("latin1")
        f = fields(out)
        check(f.get("ppa") == ip, "client %s reached nginx as %r: %s" % (ip, f.get("ppa"), out))
        conns.append(f.get("c"))
    check(conns[0] != conns[1] and conns[0] == conns[2] and conns[1] == conns[3],
          "nginx connections %s: expected one per client address, reused" % conns)
    t = totals(r)
    check(t["http_reused"] >= 2, "counters: %s" % t)
    r.finish()


BAD = [
    ("v1 garbage", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "proxy_bad"),
    ("v1 bad port", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "proxy_bad"),
    ("v1 v6 in TCP4", b"PROXY TCP4 ::1 ::1 1 2\r\n", "proxy_bad"),
    ("v1 bare LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "proxy_bad"),
    ("no header", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "proxy_bad"),
    ("v2 bad version", V2SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12, "proxy_bad"),
    ("v2 short addrs", V2SIG + b"\x21\x21\x00\x0c" + b"\x00" * 12, "proxy_bad"),
    ("v2 bad tlv", v2("1.2.3.4", "5.6.7.8", tlvs=b"\x01\x00\x09ab"), "proxy_bad"),
    ("v1 oversized", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n", "proxy_oversized"),
    ("v2 oversized", V2SIG + b"\x21\x11\x04\x10" + b"\x00" * 1040, "proxy_oversized"),
]


def test_malformed_oversized_truncated_one_byte_at_a_time():
    """Each bad header, sent one byte at a time then followed by a request,
    closes the connection without an answer and is counted by kind; a
    header cut short by the client's FIN counts as truncated, one that never
    ends as a timeout (timeouts.header 1s); a valid v1 and v2 header sent
    one byte at a time works, and the request after it is answered."""
    a = lib.loopback()
    r = ringlb(listener("acc", "%s:7000" % a, "http", "app", ["127.0.0.0/8"],
                        "    timeouts: { header: 1s }\n") + static("st", "%s:7100" % a),
               pool("app", ["%s:7100" % a]))
    req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    want = {}
    for name, hdr, counter in BAD:
        out = exchange(a, 7000, bytewise(hdr) + [req], delay=0.001 if len(hdr) < 200 else 0)
        check(b"HTTP/" not in out, "%s: answered: %r" % (name, out[:200]))
        want[counter] = want.get(counter, 0) + 1
    for hdr in (v1("10.1.1.1", a)[:20], v2("10.1.1.1", a)[:20]):
        out = exchange(a, 7000, bytewise(hdr), delay=0.001, shut=True)
        check(out == b"", "truncated: answered %r" % out)
    t0 = time.monotonic()
    out = exchange(a, 7000, bytewise(b"PROXY TCP4 10.1.1.1"), delay=0.001, timeout=20)
    check(out == b"" and time.monotonic() - t0 < 10 * lib.SLOW, "incomplete header: %r" % out)
    for hdr in (v1("10.1.1.1", a), v2("10.1.1.1", a)):
        out = exchange(a, 7000, bytewise(hdr) + [req], delay=0.001)
        check(out.startswith(b"HTTP/1.1 200") and b"st\n" in out, "valid one byte at a time: %r" % out)
    t = totals(r)
    for counter, n in want.items():
        check(t[counter] == n, "%s=%s, expected %d: %s" % (counter, t[counter], n, t))
    check(t["proxy_truncated"] == 2 and t["proxy_timeouts"] == 1 and t["proxy_ok"] == 2,
          "counters: %s" % t)
    r.finish()


def test_untrusted_sources_are_closed():
    """A listener trusting only 127.0.0.2/32: a valid header from 127.0.0.1
    is closed unanswered and counted, from 127.0.0.2 it is served; an IPv6
    listener trusting only 127.0.0.1/32 closes ::1."""
    a = lib.loopback()
    v6 = have_ipv6()
    p6 = free_port("::1") if v6 else 0
    ls = listener("acc", "%s:7000" % a, "http", "app", ["127.0.0.2/32"]) + static("st", "%s:7100" % a)
    if v6:
        ls += listener("acc6", "[::1]:%d" % p6, "http", "app", ["127.0.0.1/32"])
    r = ringlb(ls, pool("app", ["%s:7100" % a]))
    msg = v1("10.9.9.9", a) + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = exchange(a, 7000, [msg], src="127.0.0.1")
    check(b"HTTP/" not in out, "untrusted source answered: %r" % out)
    out = exchange(a, 7000, [msg], src="127.0.0.2")
    check(out.startswith(b"HTTP/1.1 200"), "trusted source: %r" % out)
    n = 1
    if v6:
        out = exchange("::1", p6, [v1("::2", "::1") + msg[len(v1("10.9.9.9", a)):]])
        check(b"HTTP/" not in out, "untrusted ::1 answered: %r" % out)
        n += 1
    t = totals(r)
    check(t["proxy_untrusted"] == n and t["proxy_ok"] == 1, "counters: %s" % t)
    r.finish()


def test_l4_bytes_after_the_header_and_maglev_on_the_header_address():
    """On a tcp listener the bytes after the header in the same segment are
    the payload (echoed back whole); on an http listener with a maglev pool
    hashing client_ip, the header's address decides the backend: the same
    address from different ports always lands on the same backend, and 24
    addresses spread over more than one."""
    a = lib.loopback()
    e = lib.echo("%s:7100" % a)
    ls = (listener("t", "%s:7000" % a, "tcp", "echo", ["127.0.0.0/8"]) +
          listener("h", "%s:7001" % a, "http", "mag", ["127.0.0.0/8"]) +
          static("s1", "%s:7201" % a) + static("s2", "%s:7202" % a) + static("s3", "%s:7203" % a))
    pools = (pool("echo", ["%s:7100" % a]) +
             pool("mag", ["%s:%d" % (a, p) for p in (7201, 7202, 7203)],
                  more="    algorithm: maglev\n    hash: client_ip\n"))
    r = ringlb(ls, pools)
    payload = os.urandom(3000)
    for hdr in (v1("10.2.2.2", a), v2("10.2.2.2", a), v2("::5", "::1")):
        fam = socket.AF_INET
        s = socket.create_connection((a, 7000), timeout=10 * lib.SLOW)
        s.sendall(hdr + payload)
        got = b""
        while len(got) < len(payload):
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        check(got == payload, "payload after the header: %d of %d bytes back, equal=%s" %
              (len(got), len(payload), got == payload[:len(got)]))
    del fam
    seen = set()
    for i in range(24):
        ip = "10.3.%d.%d" % (i, 7 * i + 1)
        first = None
        for sport in (1000, 2000, 3000):
            out = exchange(a, 7001, [v2(ip, a, sport) + b"GET / HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n"]).decode("latin1")
            body = out.split("\r\n\r\n", 1)[-1].strip()
            check(body in ("s1", "s2", "s3"), "answer: %r" % out)
            check(first in (None, body), "%s went to %s then %s" % (ip, first, body))
            first = body
        seen.add(first)
    check(len(seen) >= 2, "24 client addresses all went to %s" % seen)
    r.finish()
    e.stop()


def test_tls_listener_reads_the_header_before_the_client_hello():
    """A TLS http listener with proxy_protocol accept: HAProxy send-proxy-v2
    with `ssl` (the header, then the handshake) gets the client's address to
    the backend; a python client sending a v1 header and its ClientHello in
    one segment, and a v2 LOCAL header (the real address is used), both
    complete the handshake and get answers."""
    a = lib.loopback()
    src, cli = a[:-1] + "3", a[:-1] + "5"
    d = tlscerts.make(lib.tmpdir())
    ng = Nginx("%s:7100" % a, "%s:7101" % a)
    tls = "    tls: { cert: %s, key: %s }\n" % (os.path.join(d, "site-ec.pem"),
                                                 os.path.join(d, "site-ec.key"))
    r = ringlb(listener("tls", "%s:7000" % a, "http", "app", [src + "/32", "127.0.0.1/32"], tls),
               pool("app", ["%s:7100" % a]))
    Haproxy("""
frontend f1
  mode tcp
  bind {a}:7201
  default_backend b1
backend b1
  mode tcp
  server s1 {a}:7000 send-proxy-v2 ssl verify none source {src}
""".format(a=a, src=src), [(a, 7201)])
    rc, out = curl("http://%s:7201/" % a, src=cli)
    check(rc == 0 and fields(out).get("xri") == cli, "HAProxy ssl + send-proxy-v2: %s" % out)
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    for hdr, want in ((v1("203.0.113.9", a), "203.0.113.9"), (v2("", "", local=True), "127.0.0.1")):
        inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, outb, server_hostname="site.test")
        s = socket.create_connection((a, 7000), timeout=10 * lib.SLOW)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(hdr + outb.read())  # the header and the ClientHello in one segment
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = outb.read()
                if data:
                    s.sendall(data)
                d2 = s.recv(65536)
                check(d2, "closed during the handshake")
                inc.write(d2)
        obj.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.sendall(outb.read())
        resp = b""
        while True:
            try:
                resp += obj.read(65536)
            except ssl.SSLWantReadError:
                d2 = s.recv(65536)
                if not d2:
                    break
                inc.write(d2)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if b"\n" in resp.split(b"\r\n\r\n", 1)[-1]:
                break
        s.close()
        got = fields(resp.decode("latin1")).get("xri")
        check(got == want, "over TLS, X-Real-IP %r, expected %s: %r" % (got, want, resp))
    t = totals(r)
    check(t["proxy_ok"] >= 2 and t["proxy_local"] == 1 and t["tls_handshakes"] >= 3,
          "counters: %s" % t)
    r.finish()


def test_bad_configs_are_refused():
    """accept without trusted networks, a bad network, trusted without
    accept: each an error naming the key."""
    a = lib.loopback()
    cases = [
        (listener("x", "%s:7000" % a, "http", "app", more="    proxy_protocol: accept\n"),
         "proxy_protocol_trusted: missing"),
        (listener("x", "%s:7000" % a, "http", "app", ["10.0.0.0/33"]), "is not a network"),
        (listener("x", "%s:7000" % a, "http", "app", ["10.0.0.0/8"]).replace(
            "    proxy_protocol: accept\n", ""), "set without proxy_protocol: accept"),
    ]
    for ls, want in cases:
        d = lib.tmpdir()
        p = os.path.join(d, "c.yaml")
        with open(p, "w") as f:
            f.write("workers: 1\nlisteners:\n%s\npools:\n%s" % (ls, pool("app", ["%s:7100" % a])))
        res = subprocess.run([lib.BIN, "-c", p, "--check"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        out = res.stdout.decode()
        check(res.returncode == 1 and want in out, "expected %r: %s" % (want, out))


if __name__ == "__main__":
    lib.main(globals(), limit=90)
