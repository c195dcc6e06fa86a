"""TLS termination with real clients against build/ringlb: openssl s_client,
curl and Python's ssl. Versions and min_version, ALPN, SNI among three
certificates and a wildcard, RSA and ECDSA on one listener, resumption by
ticket and by cache, client certificates, a reload that swaps a certificate
under a live connection, TLS offload in mode tcp, garbage / a ClientHello
one byte at a time / a silent client, 1,000 SNI names behind a cache of 100,
2,000 half-open handshakes against a small ssl limit, upstream TLS to nginx.
Every ringlb must end with its whole exit memory line at zero (ssl and cache
included).

Certificates are made per run (tlscerts.py); backends are ringlb's own static
listeners (and the echo tool, and nginx for upstream TLS). Named
test_tls_int so that `make test TESTS=test_tls_int` does not also pick the
unit test binary test_tls.
"""
import atexit
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
import tlscerts  # noqa: E402
from lib import check  # noqa: E402

# Fixed ports on each test's own loopback address.
P_TLS, P_TLS2, P_TLS3, P_TLS4, P_TCP, P_TCP2, P_PLAIN = 8443, 8444, 8445, 8446, 8447, 8448, 8080
P_STATIC, P_BIG, P_ECHO, P_NGINX = 8081, 8082, 8083, 9443

REQ = b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"
HELLO = "hello from s-a\n"
SNI_NAMES = 1000

_dir = {}


def certs():
    """The per-run certificate directory (made on first use)."""
    if "d" not in _dir:
        d = tempfile.mkdtemp(prefix="rlb-tls-")
        atexit.register(shutil.rmtree, d, True)
        tlscerts.make(d)
        _dir["d"] = d
    return _dir["d"]


def cp(name):
    return os.path.join(certs(), name)


def sni_dir():
    """certs()/sni: 1,000 certificates of n0000..n0999.sni.test."""
    if "sni" not in _dir:
        t = time.monotonic()
        _dir["sni"] = tlscerts.make_sni(certs(), SNI_NAMES)
        print("sni: %d certificates made in %.1fs" % (SNI_NAMES, time.monotonic() - t))
    return _dir["sni"]


# ---- configs ----

def yaml_tls(tls):
    """A listener's tls: block from a dict (certificates: a list of pairs)."""
    out = ["    tls:"]
    for k, v in tls.items():
        if k == "certificates":
            out.append("      certificates:")
            for c, key in v:
                out.append("        - { cert: %s, key: %s }" % (c, key))
        elif isinstance(v, bool):
            out.append("      %s: %s" % (k, "true" if v else "false"))
        elif isinstance(v, list):
            out.append("      %s: [%s]" % (k, ", ".join(v)))
        else:
            out.append("      %s: %s" % (k, v))
    return "\n".join(out) + "\n"


def site_tls(**kw):
    """The default certificate (site.test, ECDSA) and more keys."""
    t = {"cert": cp("site-ec.pem"), "key": cp("site-ec.key")}
    t.update(kw)
    return t


def listener(name, addr, port, tls=None, mode="http", pool="web", extra=""):
    s = ("  - name: %s\n    bind: %s:%d\n    mode: %s\n    pool: %s\n"
         "    max_connections: 256\n" % (name, addr, port, mode, pool))
    return s + (yaml_tls(tls) if tls else "") + extra


def static(addr, port=P_STATIC, name="s-a", body=None, file=None):
    s = "  - name: %s\n    bind: %s:%d\n    mode: static\n    max_connections: 256\n" % (
        name, addr, port)
    if file:
        return s + "    file: %s\n" % file
    return s + '    body: "%s"\n' % (body or "hello from %s\\n" % name)


def pool(name, addrs, extra=""):
    return ("  - name: %s\n%s    backends:\n" % (name, extra) +
            "".join("      - { address: %s }\n" % a for a in addrs))


def start(addr, listeners, pools=None, extra="", args=()):
    """ringlb on <listeners> plus the static s-a, pool web -> s-a."""
    cfg = ("workers: 2\nlisteners:\n" + listeners + static(addr) + "pools:\n" +
           pool("web", ["%s:%d" % (addr, P_STATIC)]) + (pools or "") + extra)
    return lib.Ringlb(cfg, args=list(args))


def done(r):
    """SIGTERM, exit 0 and the whole exit memory line at zero (case 12)."""
    s = r.finish()
    m = re.search(r"^ringlb: exit memory (.*)$", r.output(), re.M)
    ex = lib.kv(m.group(1))
    for k in ("current", "connection", "buffer", "ssl", "cache", "buffers_in_use"):
        check(ex.get(k) == 0, "exit memory %s=%s, expected 0: %s" % (k, ex.get(k), m.group(0)))
    return s


def tls_reasons(r):
    """{reason: failures} of a stats snapshot."""
    out = {}
    for l in r.stats():
        m = re.match(r"^ringlb: stats tls reason=(\S+) failures=(\d+)$", l)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def stats_of(lines, prefix):
    for l in lines:
        if l.startswith(prefix):
            return lib.kv(l)
    raise lib.TestFailure("no line %r in:\n%s" % (prefix, "\n".join(lines)))


def component(lines, name):
    return stats_of(lines, "ringlb: stats memory component=%s " % name)


def wait_idle(r, timeout=10):
    """Stats snapshots until no connection is open (the clients' closes
    reach ringlb a moment after they return); then the lines of one more:
    a snapshot reads the memory lines before the workers', so the one that
    saw the last close may still show that connection's memory."""
    deadline = time.monotonic() + timeout * lib.SLOW
    while True:
        lines = r.stats()
        if stats_of(lines, "ringlb: stats total ")["active"] == 0:
            return r.stats()
        check(time.monotonic() < deadline, "connections still open:\n%s" % "\n".join(lines))
        time.sleep(0.05)  # sampling, as test_memory does


# ---- clients ----

def run(argv, input=b"", timeout=20):
    """Runs a client to its end (killed by PID on timeout); (rc, output)."""
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout * lib.SLOW)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def s_client(addr, port, *args, sni=None, request=True, ca=None):
    """openssl s_client; with <request> it sends GET / (Connection: close)
    and reads to the end, so tickets sent after the handshake are kept."""
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (addr, port), "-CAfile",
            ca or cp("ca.pem")]
    argv += ["-servername", sni] if sni else ["-noservername"]
    if request:
        argv.append("-ign_eof")
    return run(argv + list(args), REQ if request else b"")


def served(out):
    """What s_client saw: subject, public key bits, protocol, New/Reused,
    ALPN, verify result, body."""
    g = lambda rx: (re.search(rx, out, re.M) or [None, None])[1]
    return {
        "subject": g(r"^subject=(.*)$"),
        "bits": int(g(r"^Server public key is (\d+) bit") or 0),
        "state": g(r"^(New|Reused), TLSv1\.\d"),
        "protocol": g(r"^(?:New|Reused), (TLSv1\.\d)"),
        "cipher": g(r"^(?:New|Reused), TLSv1\.\d, Cipher is (\S+)"),
        "alpn": g(r"^ALPN protocol: (\S+)"),
        "verify": g(r"^\s*Verify return code: (\d+)"),
        "hello": HELLO.strip() in out,
    }


def client_ctx(maxv=None, minv=None, alpn=None, cert=None, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or cp("ca.pem"))
    if maxv:
        ctx.maximum_version = maxv
    if minv:
        ctx.minimum_version = minv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


class Https:
    """One keep-alive HTTPS connection (Python ssl); get() reads one whole
    Content-Length response."""

    def __init__(self, addr, port, sni="site.test", ctx=None, session=None):
        raw = socket.create_connection((addr, port), timeout=10 * lib.SLOW)
        try:
            self.s = (ctx or client_ctx()).wrap_socket(raw, server_hostname=sni, session=session)
        except BaseException:
            raw.close()
            raise
        self.buf = b""

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed by ringlb")
        self.buf += d

    def get(self, path="/", close=False, host="site.test"):
        req = "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
            path, host, "Connection: close\r\n" if close else "")
        self.s.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, body

    def subject(self):
        return dict(x[0] for x in self.s.getpeercert()["subject"])

    def close(self):
        self.s.close()


def https_get(addr, port, sni="site.test", ctx=None, path="/"):
    """A new connection, one GET; (status, body, version, alpn, subject)."""
    c = Https(addr, port, sni, ctx)
    try:
        st, body = c.get(path, close=True)
        return st, body, c.s.version(), c.s.selected_alpn_protocol(), c.subject()
    finally:
        c.close()


def curl(addr, port, *args, name="site.test", path="/"):
    """curl -v --cacert; (rc, body, TLS version, cipher, ALPN accepted)."""
    argv = ["curl", "-sS", "-v", "--max-time", str(10 * lib.SLOW), "--cacert", cp("ca.pem"),
            "--resolve", "%s:%d:%s" % (name, port, addr), "https://%s:%d%s" % (name, port, path)]
    p = subprocess.run(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=20 * lib.SLOW)
    err = p.stderr.decode("utf-8", "replace")
    m = re.search(r"SSL connection using (TLSv1\.\d) / (\S+)", err)
    a = re.search(r"ALPN: server accepted (\S+)", err)
    return (p.returncode, p.stdout.decode("utf-8", "replace"), m and m.group(1),
            m and m.group(2), a and a.group(1))


def expect_refused(fn, what):
    """fn() must fail its handshake (an ssl or socket error, or EOF)."""
    try:
        fn()
    except (ssl.SSLError, OSError, EOFError) as e:
        return str(e)
    raise lib.TestFailure("%s: the handshake succeeded" % what)


def wait_closed(s, timeout):
    """Reads until EOF or reset; returns the seconds it took."""
    t = time.monotonic()
    s.settimeout(timeout * lib.SLOW)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise lib.TestFailure("still open after %ss" % (timeout * lib.SLOW))
    return time.monotonic() - t


def client_hello(sni="site.test", alpn=("http/1.1",)):
    """The bytes of a ClientHello from Python's ssl (a MemoryBIO client),
    and the object to finish the handshake with."""
    ctx = client_ctx(alpn=list(alpn) if alpn else None)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read(), obj, inc, out


# ---- 1. versions ----

def test_01_tls13_and_tls12_with_curl_and_python_and_min_version_13_refuses_12():
    addr = lib.loopback()
    r = start(addr, listener("tls", addr, P_TLS, site_tls()) +
              listener("tls13", addr, P_TLS2, site_tls(min_version="1.3")))
    rc, body, ver, cipher, _ = curl(addr, P_TLS)
    check(rc == 0 and body == HELLO and ver == "TLSv1.3", "curl: rc=%s %r %s" % (rc, body, ver))
    rc, body, ver, cipher, _ = curl(addr, P_TLS, "--tlsv1.2", "--tls-max", "1.2")
    check(rc == 0 and body == HELLO and ver == "TLSv1.2" and cipher.startswith("ECDHE-ECDSA-"),
          "curl 1.2: rc=%s %r %s %s" % (rc, body, ver, cipher))
    for maxv, want in ((None, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        st, body, ver, _, subj = https_get(addr, P_TLS, ctx=client_ctx(maxv=maxv))
        check(st == 200 and body.decode() == HELLO and ver == want and
              subj["commonName"] == "site.test", "python %s: %s %r %s" % (want, st, body, ver))
    # min_version 1.3: TLS 1.3 works, a 1.2-only client is refused, counted.
    st, body, ver, _, _ = https_get(addr, P_TLS2)
    check(st == 200 and ver == "TLSv1.3", "min 1.3 listener, 1.3 client: %s %s" % (st, ver))
    rc, out = s_client(addr, P_TLS2, "-tls1_2")
    check(rc != 0 and not served(out)["hello"] and "protocol version" in out,
          "s_client -tls1_2 against min_version 1.3: rc=%s\n%s" % (rc, out))
    err = expect_refused(lambda: https_get(addr, P_TLS2, ctx=client_ctx(maxv=ssl.TLSVersion.TLSv1_2)),
                         "python TLS 1.2 against min_version 1.3")
    check("PROTOCOL VERSION" in err.upper().replace("_", " "), "python saw %s" % err)
    rc, _, _, _, _ = curl(addr, P_TLS2, "--tlsv1.2", "--tls-max", "1.2")
    check(rc != 0, "curl --tls-max 1.2 against min_version 1.3 succeeded")
    reasons = tls_reasons(r)
    check(reasons.get("protocol_version") == 3, "reasons %s" % reasons)
    t = r.stats_total()
    check(t["tls_failed"] == 3 and t["tls_handshakes"] == 5,
          "tls_failed=%s tls_handshakes=%s" % (t["tls_failed"], t["tls_handshakes"]))
    s = done(r)
    check(s["tls_failed"] == 3, "summary tls_failed=%s" % s["tls_failed"])


# ---- 2. ALPN ----

def test_02_alpn_http11_chosen_h2_only_refused_and_none_on_tcp():
    addr = lib.loopback()
    r = start(addr, listener("tls", addr, P_TLS, site_tls()) +
              listener("tcp", addr, P_TCP, site_tls(), mode="tcp"))
    rc, body, ver, _, alpn = curl(addr, P_TLS)  # curl offers h2,http/1.1
    check(rc == 0 and body == HELLO and alpn == "http/1.1", "curl: rc=%s alpn=%s" % (rc, alpn))
    st, body, _, alpn, _ = https_get(addr, P_TLS, ctx=client_ctx(alpn=["h2", "http/1.1"]))
    check(st == 200 and alpn == "http/1.1", "python h2,http/1.1: %s alpn=%s" % (st, alpn))
    st, body, _, alpn, _ = https_get(addr, P_TLS)  # no ALPN at all: fine
    check(st == 200 and alpn is None, "python without ALPN: %s alpn=%s" % (st, alpn))
    # Only h2: the server has no protocol in common and says so (alert 120).
    rc, out = s_client(addr, P_TLS, "-alpn", "h2")
    check(rc != 0 and "no application protocol" in out and not served(out)["hello"],
          "s_client -alpn h2: rc=%s\n%s" % (rc, out))
    err = expect_refused(lambda: https_get(addr, P_TLS, ctx=client_ctx(alpn=["h2"])), "h2 only")
    check("NO APPLICATION PROTOCOL" in err.upper().replace("_", " "), "python h2 only saw %s" % err)
    # A tcp listener offers no ALPN: an h2-only client gets none and goes on.
    st, body, _, alpn, _ = https_get(addr, P_TCP, ctx=client_ctx(alpn=["h2"]))
    check(st == 200 and body.decode() == HELLO and alpn is None,
          "tcp listener, h2 only: %s alpn=%s" % (st, alpn))
    reasons = tls_reasons(r)
    check(reasons.get("no_application_protocol") == 2, "reasons %s" % reasons)
    done(r)


# ---- 3. SNI ----

def test_03_sni_picks_among_three_certificates_and_a_wildcard_unknown_gets_default():
    addr = lib.loopback()
    leaf = cp("leaf.key")
    r = start(addr, listener("tls", addr, P_TLS, site_tls(certificates=[
        (cp("a.pem"), leaf), (cp("b.pem"), leaf), (cp("c.pem"), leaf), (cp("wild.pem"), leaf)])))
    cases = [("a.test", "CN = a.test"), ("b.test", "CN = b.test"), ("c.test", "CN = c.test"),
             ("x.wild.test", "CN = *.wild.test"), ("Other.Wild.Test", "CN = *.wild.test"),
             ("site.test", "O = v1, CN = site.test"), ("unknown.test", "O = v1, CN = site.test"),
             ("a.b.wild.test", "O = v1, CN = site.test"), (None, "O = v1, CN = site.test")]
    for name, subj in cases:
        args = ["-verify_hostname", name] if name and name != "unknown.test" and \
            name != "a.b.wild.test" else []
        rc, out = s_client(addr, P_TLS, *args, sni=name)
        sv = served(out)
        check(rc == 0 and sv["subject"] == subj and sv["hello"],
              "SNI %s: served %s, expected %s (rc=%s)\n%s" % (name, sv["subject"], subj, rc, out))
        if args:
            check(sv["verify"] == "0", "SNI %s: verify %s" % (name, sv["verify"]))
    # Python ssl checks the name itself.
    for name in ("a.test", "b.test", "c.test", "deep.wild.test"):
        st, body, _, _, subj = https_get(addr, P_TLS, sni=name)
        check(st == 200 and subj["commonName"] == (name if "wild" not in name else "*.wild.test"),
              "python SNI %s: %s %s" % (name, st, subj))
    sni = stats_of(r.stats(), "ringlb: stats tls listener=tls ")
    # Loaded on first use: a, b, c, the wildcard; site.test and the unknown
    # names never reach the store's LRU.
    check(sni["sni_entries"] == 4 and sni["sni_loaded"] == 4 and sni["sni_misses"] == 4 and
          sni["sni_hits"] == 5 and sni["sni_evictions"] == 0, "sni stats %s" % sni)
    done(r)


# ---- 4. RSA and ECDSA ----

def test_04_rsa_and_ecdsa_on_one_listener_chosen_by_what_the_client_accepts():
    addr = lib.loopback()
    r = start(addr, listener("tls", addr, P_TLS, site_tls(certificates=[
        (cp("site-rsa.pem"), cp("site-rsa.key"))])))
    cases = [
        (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], 256, "ECDHE-ECDSA-AES128-GCM-SHA256"),
        (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], 2048, "ECDHE-RSA-AES128-GCM-SHA256"),
        (["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], 2048, "ECDHE-RSA-CHACHA20-POLY1305"),
        (["-tls1_2", "-sigalgs", "RSA+SHA256:rsa_pss_rsae_sha256"], 2048, None),
        (["-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256"], 256, None),
        (["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384"], 2048, None),
        (["-tls1_3"], 256, None),  # both offered: ECDSA, the cheaper one
    ]
    for args, bits, cipher in cases:
        rc, out = s_client(addr, P_TLS, *args, sni="site.test")
        sv = served(out)
        check(rc == 0 and sv["hello"] and sv["bits"] == bits and sv["verify"] == "0" and
              sv["subject"] == "O = v1, CN = site.test",
              "%s: %s, expected a %s-bit key (rc=%s)\n%s" % (args, sv, bits, rc, out))
        if cipher:
            check(sv["cipher"] == cipher, "%s: cipher %s" % (args, sv["cipher"]))
    rc, _, ver, cipher, _ = curl(addr, P_TLS, "--tlsv1.2", "--tls-max", "1.2", "--ciphers",
                                 "ECDHE-RSA-AES256-GCM-SHA384")
    check(rc == 0 and cipher == "ECDHE-RSA-AES256-GCM-SHA384", "curl RSA: rc=%s %s" % (rc, cipher))
    done(r)


# ---- 5. resumption ----

def resume(addr, port, args):
    """Two s_client runs, -sess_out then -sess_in: the second one's state
    (None when the first had no session to save)."""
    f = os.path.join(certs(), "sess-%d-%d" % (port, os.getpid()))
    if os.path.exists(f):
        os.unlink(f)
    rc, out = s_client(addr, port, "-sess_out", f, *args, sni="site.test")
    first = served(out)
    check(rc == 0 and first["hello"] and first["state"] == "New", "first %s: %s\n%s" % (args, first, out))
    if not os.path.exists(f):
        return None
    rc, out = s_client(addr, port, "-sess_in", f, *args, sni="site.test")
    sv = served(out)
    check(rc == 0 and sv["hello"], "resumed %s: rc=%s\n%s" % (args, rc, out))
    os.unlink(f)
    return sv["state"]


def test_05_resumption_by_ticket_and_by_cache_and_neither_when_both_are_off():
    addr = lib.loopback()
    r = start(addr, listener("both", addr, P_TLS, site_tls()) +
              listener("cache", addr, P_TLS2, site_tls(session_tickets=False)) +
              listener("tickets", addr, P_TLS3, site_tls(session_cache=False)) +
              listener("none", addr, P_TLS4, site_tls(session_tickets=False, session_cache=False)))
    v13, v12, v12id = ["-tls1_3"], ["-tls1_2"], ["-tls1_2", "-no_ticket"]
    expect = [
        (P_TLS, v13, "Reused"),    # TLS 1.3 ticket
        (P_TLS, v12, "Reused"),    # TLS 1.2 ticket
        (P_TLS, v12id, "Reused"),  # TLS 1.2 session id: the cache
        (P_TLS2, v12, "Reused"),   # tickets off: the cache (by id)
        (P_TLS2, v12id, "Reused"),
        (P_TLS2, v13, None),       # TLS 1.3 resumes by ticket only
        (P_TLS3, v13, "Reused"),   # cache off: tickets
        (P_TLS3, v12, "Reused"),
        (P_TLS3, v12id, None),     # no ticket, no cache: no session id given
        (P_TLS4, v13, None),
        (P_TLS4, v12, None),
        (P_TLS4, v12id, None),
    ]
    reused = 0
    for port, args, want in expect:
        got = resume(addr, port, args)
        check(got == want, "port %d %s: second connection %s, expected %s" % (port, args, got, want))
        reused += got == "Reused"
    # Python's ssl resumes too (TLS 1.3 ticket), and not where both are off.
    for port, want in ((P_TLS, True), (P_TLS4, False)):
        ctx = client_ctx()
        c = Https(addr, port, ctx=ctx)
        c.get()  # the ticket comes after the handshake
        sess = c.s.session
        c.close()
        c = Https(addr, port, ctx=ctx, session=sess)
        st, _ = c.get()
        check(st == 200 and c.s.session_reused == want,
              "python on %d: session_reused=%s" % (port, c.s.session_reused))
        reused += c.s.session_reused
        c.close()
    t = r.stats_total()
    check(t["tls_resumed"] == reused, "tls_resumed=%s, clients saw %d" % (t["tls_resumed"], reused))
    check(t["tls_failed"] == 0, "tls_failed=%s" % t["tls_failed"])
    done(r)


# ---- 6. client certificates ----

def test_06_client_certificates_required_and_optional():
    addr = lib.loopback()
    mt = dict(client_ca=cp("clientca.pem"), verify_client="required")
    r = start(addr, listener("mtls", addr, P_TLS, site_tls(**mt)) +
              listener("opt", addr, P_TLS2, site_tls(client_ca=cp("clientca.pem"),
                                                     verify_client="optional")))
    good = ["--cert", cp("client.pem"), "--key", cp("client.key")]
    rc, body, ver, _, _ = curl(addr, P_TLS, *good)
    check(rc == 0 and body == HELLO, "curl with a good client certificate: rc=%s %r" % (rc, body))
    st, body, _, _, _ = https_get(addr, P_TLS, ctx=client_ctx(cert=(cp("client.pem"), cp("client.key"))))
    check(st == 200 and body.decode() == HELLO, "python with a good certificate: %s" % st)
    rc, out = s_client(addr, P_TLS, "-cert", cp("client.pem"), "-key", cp("client.key"),
                       "-tls1_2", sni="site.test")
    check(rc == 0 and served(out)["hello"], "s_client TLS 1.2 with a good certificate:\n%s" % out)
    # None: refused (TLS 1.3: certificate_required; 1.2: handshake failure).
    rc, body, _, _, _ = curl(addr, P_TLS)
    check(rc != 0 and HELLO not in body, "curl without a certificate: rc=%s %r" % (rc, body))
    rc, out = s_client(addr, P_TLS, sni="site.test")
    check(rc != 0 and not served(out)["hello"] and "certificate required" in out,
          "s_client without a certificate: rc=%s\n%s" % (rc, out))
    # Another CA's: unknown_ca.
    rc, out = s_client(addr, P_TLS, "-cert", cp("rogue.pem"), "-key", cp("rogue.key"),
                       sni="site.test")
    check(rc != 0 and not served(out)["hello"] and "unknown ca" in out,
          "s_client with another CA's certificate: rc=%s\n%s" % (rc, out))
    err = expect_refused(lambda: https_get(addr, P_TLS, ctx=client_ctx(
        cert=(cp("rogue.pem"), cp("rogue.key")))), "python with a rogue certificate")
    reasons = tls_reasons(r)
    check(reasons.get("certificate_required") == 2 and reasons.get("unknown_ca") == 2,
          "reasons %s (python saw %s)" % (reasons, err))
    # optional: none is fine, a good one is fine, a bad one is refused.
    st, _, _, _, _ = https_get(addr, P_TLS2)
    check(st == 200, "optional, no certificate: %s" % st)
    st, _, _, _, _ = https_get(addr, P_TLS2, ctx=client_ctx(cert=(cp("client.pem"), cp("client.key"))))
    check(st == 200, "optional, good certificate: %s" % st)
    expect_refused(lambda: https_get(addr, P_TLS2, ctx=client_ctx(
        cert=(cp("rogue.pem"), cp("rogue.key")))), "optional, rogue certificate")
    t = r.stats_total()
    check(t["tls_failed"] == 5, "tls_failed=%s" % t["tls_failed"])
    done(r)


# ---- 7. reload ----

def test_07_reload_swaps_the_certificate_and_a_live_connection_keeps_working():
    addr = lib.loopback()
    d = lib.tmpdir()
    live_c, live_k = os.path.join(d, "live.pem"), os.path.join(d, "live.key")

    def put(src_c, src_k):
        for s, dst in ((src_c, live_c), (src_k, live_k)):
            shutil.copy(s, dst + ".tmp")
            os.rename(dst + ".tmp", dst)

    put(cp("site-ec.pem"), cp("site-ec.key"))
    r = start(addr, listener("tls", addr, P_TLS, {"cert": live_c, "key": live_k}))
    old = Https(addr, P_TLS)
    st, body = old.get()
    check(st == 200 and body.decode() == HELLO and old.subject()["organizationName"] == "v1",
          "before: %s %s" % (st, old.subject()))
    put(cp("site-v2.pem"), cp("site-v2.key"))
    gen = r.reload()
    check(gen == 2, "reload generation %s" % gen)
    for _ in range(3):  # the old connection goes on with its own session
        st, body = old.get()
        check(st == 200 and body.decode() == HELLO, "old connection after the reload: %s" % st)
    new = Https(addr, P_TLS)
    st, _ = new.get()
    check(st == 200 and new.subject()["organizationName"] == "v2", "new connection: %s" % new.subject())
    rc, out = s_client(addr, P_TLS, sni="site.test")
    check(served(out)["subject"] == "O = v2, CN = site.test", "s_client after the reload:\n%s" % out)
    # A key that does not match: the reload fails, v2 stays.
    shutil.copy(cp("mismatch.key"), live_k + ".tmp")
    os.rename(live_k + ".tmp", live_k)
    start_at = r.count()
    r.reload(expect="failed")
    m, _ = r.wait_line(r"live\.key.*(does not match|mismatch)", 5, start_at)
    rc, out = s_client(addr, P_TLS, sni="site.test")
    check(served(out)["subject"] == "O = v2, CN = site.test" and served(out)["hello"],
          "after the failed reload:\n%s" % out)
    st, _ = old.get()
    check(st == 200, "old connection after the failed reload: %s" % st)
    st, _ = new.get(close=True)
    old.close()
    new.close()
    done(r)


# ---- 8. TLS offload ----

def test_08_tls_offload_in_mode_tcp_both_ways_byte_exact():
    addr = lib.loopback()
    big = os.path.join(lib.tmpdir(), "big.bin")
    data = os.urandom(3 << 20)
    with open(big, "wb") as f:
        f.write(data)
    ec = lib.echo("%s:%d" % (addr, P_ECHO))
    r = start(addr, listener("tcp", addr, P_TCP, site_tls(), mode="tcp", pool="big") +
              listener("tcpecho", addr, P_TCP2, site_tls(min_version="1.3"), mode="tcp",
                       pool="echo") +
              static(addr, P_BIG, "s-big", file=big),
              pools=pool("big", ["%s:%d" % (addr, P_BIG)]) +
              pool("echo", ["%s:%d" % (addr, P_ECHO)]))
    st, body, ver, alpn, _ = https_get(addr, P_TCP)
    check(st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest(),
          "3 MiB through the tcp TLS listener: %s, %d bytes" % (st, len(body)))
    rc, body, ver, _, alpn = curl(addr, P_TCP, "-o", "/dev/null", "-w", "%{size_download}")
    check(rc == 0 and body == str(len(data)) and alpn is None, "curl: rc=%s %s alpn=%s" % (rc, body, alpn))
    # 4 MiB up and back through the echo backend, both at once, from one
    # thread (lib.duplex): an SSLSocket written by one thread and read by
    # another loses its state (a false EOF, or both sides stalled).
    a0 = stats_of(wait_idle(r), "ringlb: stats total ")["aborts"]  # the resets of the above
    up = os.urandom(4 << 20)
    c = Https(addr, P_TCP2)
    got = lib.duplex(c.s, up)
    check(got == up, "echo through TLS: %d of %d bytes back, %s" % (
        len(got), len(up), "equal so far" if up.startswith(got) else "different"))
    c.s.unwrap().close()  # close_notify both ways: the pair ends without a reset
    t = stats_of(wait_idle(r), "ringlb: stats total ")
    check(t["tls_handshakes"] == 3 and t["tls_failed"] == 0, "handshakes %s" % t)
    check(t["aborts"] == a0, "the echo pair was aborted: %s" % t)
    done(r)
    ec.stop()



TUNNEL_BE = r"""
import socket, sys, threading
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(64)
print("tunnel: listening", flush=True)
def serve(c):
    b = b""
    try:
        while b"\r\n\r\n" not in b:
            d = c.recv(65536)
            if not d:
                return
            b += d
        _, _, b = b.partition(b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n" + b)
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        print("tunnel: eof", flush=True)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def test_13_four_mib_both_ways_through_l4_and_http_tunnels_plain_and_tls():
    """The pump under both directions at once, beside case 8's TLS offload:
    plain L4 to the echo backend, and an HTTP Upgrade tunnel over plain and
    TLS listeners. One client thread each (lib.duplex); no pair aborted."""
    addr = lib.loopback()
    ec = lib.echo("%s:%d" % (addr, P_ECHO))
    path = os.path.join(lib.tmpdir(), "tunnel.py")
    with open(path, "w") as f:
        f.write(TUNNEL_BE)
    tb = lib.Proc([sys.executable, path, "%s:%d" % (addr, P_BIG)], name="tunnel")
    tb.wait_line(r"^tunnel: listening")
    r = start(addr, listener("tcp", addr, P_TCP, mode="tcp", pool="echo") +
              listener("web", addr, P_PLAIN, pool="tun") +
              listener("webtls", addr, P_TLS, site_tls(), pool="tun"),
              pools=pool("echo", ["%s:%d" % (addr, P_ECHO)]) +
              pool("tun", ["%s:%d" % (addr, P_BIG)]))
    up = os.urandom(4 << 20)

    def ends(s, what):
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10 * lib.SLOW)
        rest = s.recv(1 << 16)
        check(rest == b"", "%s: %d bytes after the echo" % (what, len(rest)))
        s.close()

    s = socket.create_connection((addr, P_TCP), timeout=10 * lib.SLOW)
    got = lib.duplex(s, up)
    check(got == up, "plain L4: %d of %d bytes back" % (len(got), len(up)))
    ends(s, "plain L4")
    upgrade = b"GET /t HTTP/1.1\r\nHost: site.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
    for port in (P_PLAIN, P_TLS):
        tls = port == P_TLS
        s = Https(addr, port).s if tls else socket.create_connection((addr, port), timeout=10 * lib.SLOW)
        s.sendall(upgrade)
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(1)  # the head only: the tunnel's bytes are duplex's
            check(d, "EOF before the 101: %r" % head)
            head += d
        check(head.startswith(b"HTTP/1.1 101 "), "upgrade: %r" % head)
        got = lib.duplex(s, up)
        what = "tunnel over %s" % ("TLS" if tls else "TCP")
        check(got == up, "%s: %d of %d bytes back" % (what, len(got), len(up)))
        if tls:
            s.unwrap().close()  # close_notify both ways
        else:
            ends(s, what)
    t = stats_of(wait_idle(r), "ringlb: stats total ")
    check(t["aborts"] == 0 and t["tls_failed"] == 0, "aborts or TLS failures: %s" % t)
    done(r)
    ec.stop()
    tb.stop()

# ---- 9. bad input ----

def test_09_garbage_a_one_byte_at_a_time_hello_and_a_silent_client():
    addr = lib.loopback()
    hs1 = "    timeouts: { handshake: 1s }\n"
    # The one-byte-at-a-time hello goes to a listener of its own, whose
    # handshake timeout a loaded machine's pacing cannot reach.
    r = start(addr, listener("tls", addr, P_TLS, site_tls(), extra=hs1) +
              listener("tcp", addr, P_TCP, site_tls(), mode="tcp", extra=hs1) +
              listener("slow", addr, P_TLS2, site_tls(),
                       extra="    timeouts: { handshake: 60s }\n"))
    # 200 random bytes that are no TLS record, then a handshake record of
    # random bytes, then plain HTTP: each closed, each bad_record.
    junk = bytearray(os.urandom(200))
    junk[0] = 0x80 | (junk[0] & 0x7F)
    rec = bytearray(b"\x16\x03\x01\x00\xc3" + os.urandom(195))
    rec[5] = 0xFF  # no ClientHello
    for what in (bytes(junk), bytes(rec), b"GET / HTTP/1.1\r\nHost: site.test\r\n\r\n"):
        s = socket.create_connection((addr, P_TLS), timeout=5)
        s.sendall(what)
        wait_closed(s, 5)
        s.close()
    check(r.p.poll() is None, "ringlb died:\n%s" % r.tail())
    reasons = tls_reasons(r)
    check(reasons.get("bad_record") == 3, "reasons %s" % reasons)
    # A ClientHello one byte per send: the handshake completes.
    hello, obj, inc, out = client_hello()
    s = socket.create_connection((addr, P_TLS2), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(hello)):
        s.send(hello[i:i + 1])
        time.sleep(0.001)  # pacing, so the bytes arrive apart
    first = s.recv(65536)
    check(first[:1] == b"\x16" and first[5:6] == b"\x02", "no ServerHello: %r" % first[:16])
    inc.write(first)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(out.read())
            d = s.recv(65536)
            check(d, "closed during the handshake")
            inc.write(d)
    s.sendall(out.read())
    obj.write(REQ)
    s.sendall(out.read())
    resp = b""
    while True:
        try:
            resp += obj.read(65536)
        except ssl.SSLWantReadError:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if HELLO.encode() in resp:
            break
    s.close()
    check(obj.version() == "TLSv1.3" and HELLO.encode() in resp, "one byte at a time: %r" % resp[:80])
    # Silent, and half a ClientHello then silence: closed at timeouts.handshake
    # (1 s), counted as timeouts. A tcp listener accepts at once: ~1 s. An
    # http listener leaves a silent client in the kernel (TCP_DEFER_ACCEPT)
    # for the handshake timeout first, rounded to the SYN-ACK retransmission
    # at 1 s: ~2 s from the connect.
    for port, what, lo, hi in ((P_TCP, b"", 0.9, 1.5), (P_TCP, hello[:100], 0.9, 1.5),
                               (P_TLS, hello[:len(hello) // 2], 0.9, 1.5),
                               (P_TLS, b"", 0.9, 2.6)):
        s = socket.create_connection((addr, port), timeout=5)
        s.sendall(what)
        took = wait_closed(s, 20)
        s.close()
        check(lo <= took <= hi * lib.SLOW, "port %d, %d bytes sent: closed after %.2fs "
              "(timeouts.handshake 1s, expected %s..%ss)" % (port, len(what), took, lo, hi))
    t = r.stats_total()
    check(t["tls_timeouts"] == 4 and t["tls_handshakes"] == 1 and t["tls_failed"] == 7,
          "counters %s" % t)
    check(tls_reasons(r).get("timeout") == 4, "reasons %s" % tls_reasons(r))
    # A client that closes in the middle of its ClientHello: closed_in_handshake.
    s = socket.create_connection((addr, P_TLS), timeout=5)
    s.sendall(hello[:50])
    s.close()
    deadline = time.monotonic() + 5 * lib.SLOW
    while tls_reasons(r).get("closed_in_handshake") != 1:
        check(time.monotonic() < deadline, "reasons %s" % tls_reasons(r))
        time.sleep(0.05)
    st, body, _, _, _ = https_get(addr, P_TLS)
    check(st == 200, "a normal request afterwards: %s" % st)
    done(r)


# ---- 10. 1,000 SNI names, cache of 100 ----

def test_10_a_thousand_sni_names_behind_a_cache_of_100_stay_bounded():
    addr = lib.loopback()
    sd = sni_dir()
    rc, out = run(["openssl", "verify", "-CAfile", cp("snica.pem")] +
                  [os.path.join(sd, "%04d.pem" % i) for i in range(SNI_NAMES)], timeout=60)
    check(rc == 0 and out.count(": OK") == SNI_NAMES, "the made certificates:\n%s" % out[-2000:])
    leaf = os.path.join(sd, "leaf.key")
    pairs = [(os.path.join(sd, "%04d.pem" % i), leaf) for i in range(SNI_NAMES)]
    t0 = time.monotonic()
    r = start(addr, listener("sni", addr, P_TLS, site_tls(sni_cache_size=100, certificates=pairs)))
    print("sni: ringlb ready in %.1fs with %d certificates" % (time.monotonic() - t0, SNI_NAMES))
    ctx = client_ctx(ca=cp("snica.pem"))

    def one(i):
        name = "n%04d.sni.test" % i
        with socket.create_connection((addr, P_TLS), timeout=10 * lib.SLOW) as s:
            with ctx.wrap_socket(s, server_hostname=name) as t:
                return dict(x[0] for x in t.getpeercert()["subject"])["commonName"] == name

    check(one(999), "n0999.sni.test was not served its certificate")
    lines = wait_idle(r)
    one_ctx = component(lines, "cache")["current"]
    check(one_ctx > 0, "one loaded context costs %s in the cache component" % one_ctx)
    # 300 names, no repeat (999 was the first): 300 misses, 200 evictions.
    with ThreadPoolExecutor(4) as ex:
        ok = list(ex.map(one, range(300)))
    check(all(ok), "%d of 300 names were served another certificate" % ok.count(False))
    lines = wait_idle(r)
    sni = stats_of(lines, "ringlb: stats tls listener=sni ")
    cache = component(lines, "cache")
    print("sni: one context %d B; after 301 names %s; cache %s" % (one_ctx, sni, cache))
    check(sni["sni_entries"] == SNI_NAMES and sni["sni_names"] == SNI_NAMES, "store %s" % sni)
    check(sni["sni_misses"] == 301 and sni["sni_evictions"] >= 200 and sni["sni_loaded"] == 100,
          "LRU counters %s" % sni)
    check(cache["current"] == sni["sni_bytes"], "cache component %d, store bytes %d" %
          (cache["current"], sni["sni_bytes"]))
    check(90 * one_ctx <= cache["current"] <= 110 * one_ctx,
          "cache holds %d B, 100 contexts cost ~%d" % (cache["current"], 100 * one_ctx))
    check(cache["peak"] <= 102 * one_ctx * 1.1 and cache["peak"] < 150 * one_ctx,
          "cache peak %d B, 300 contexts would be %d" % (cache["peak"], 300 * one_ctx))
    check(component(lines, "ssl")["current"] == 0, "ssl held with no connection open")
    t = r.stats_total()
    check(t["tls_handshakes"] == 301 and t["tls_failed"] == 0, "handshakes %s" % t)
    done(r)


# ---- 11. half-open handshakes against the ssl limit ----

HALFOPEN = r'''
import selectors, socket, sys, time
addr, port, n, hexhello = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
half = bytes.fromhex(hexhello)
sel = selectors.DefaultSelector()
socks, sent, failed = [], 0, 0
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((addr, port))
    socks.append(s)
    sel.register(s, selectors.EVENT_WRITE)
deadline = time.monotonic() + 30
pending = n
while pending and time.monotonic() < deadline:
    for key, ev in sel.select(1):
        s = key.fileobj
        sel.unregister(s)
        pending -= 1
        try:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                s.send(half)
                sent += 1
            else:
                failed += 1
        except OSError:
            failed += 1
print("halfopen: sent=%d failed=%d pending=%d" % (sent, failed, pending), flush=True)
sys.stdin.readline()
closed = 0
for s in socks:
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
    s.close()
print("halfopen: closed_by_server=%d" % closed, flush=True)
print("halfopen: done", flush=True)
'''


def test_11_two_thousand_half_open_handshakes_stay_within_the_ssl_limit():
    addr = lib.loopback()
    limit = 512 << 10
    r = start(addr, "  - name: tls\n    bind: %s:%d\n    mode: http\n    pool: web\n"
                    "    max_connections: 3000\n    backlog: 4096\n"
                    "    timeouts: { handshake: 60s }\n" % (addr, P_TLS) + yaml_tls(site_tls()),
              extra="memory_limits: { ssl_context_memory: %d }\n" % limit, args=["--seed", "7"])
    hello, _, _, _ = client_hello()
    path = os.path.join(lib.tmpdir(), "halfopen.py")
    with open(path, "w") as f:
        f.write(HALFOPEN)
    cl = lib.Proc([sys.executable, path, addr, str(P_TLS), "2000", hello[:len(hello) // 2].hex()],
                  name="halfopen", stdin=subprocess.PIPE)
    m, _ = cl.wait_line(r"^halfopen: sent=(\d+) failed=(\d+) pending=(\d+)", 60)
    check(int(m.group(1)) == 2000, "the client got %s connections out" % m.group(0))
    # Until every connection was decided: accepted (holding its half
    # hello) or rejected; a deferred one is decided again later.
    deadline = time.monotonic() + 30 * lib.SLOW
    while True:
        lines = r.stats()
        t, ssl_c = stats_of(lines, "ringlb: stats total "), component(lines, "ssl")
        if t["accepted"] + t["rejected"] >= 2000:
            break
        check(time.monotonic() < deadline, "not every connection decided: %s %s" % (t, ssl_c))
        time.sleep(0.2)  # sampling, as test_memory does
    lvl = stats_of(lines, "ringlb: stats memory level=")
    print("halfopen: %s\nhalfopen: ssl %s\nhalfopen: level %s" % (t, ssl_c, lvl))
    check(ssl_c["peak"] <= limit, "ssl peak %d over its limit %d" % (ssl_c["peak"], limit))
    check(ssl_c["peak"] >= limit * 0.8, "ssl peak %d never came near the limit %d" %
          (ssl_c["peak"], limit))
    check(t["rejected"] + t["deferred"] + ssl_c["refused"] > 0,
          "nothing refused or deferred past the limit: %s %s" % (t, ssl_c))
    check(r.p.poll() is None, "ringlb died")
    cl.p.stdin.write(b"close\n")
    cl.p.stdin.flush()
    cl.wait_line(r"^halfopen: done", 30)
    cl.wait(30)
    deadline = time.monotonic() + 15 * lib.SLOW
    while True:
        lines = r.stats()
        t, ssl_c = stats_of(lines, "ringlb: stats total "), component(lines, "ssl")
        if t["active"] == 0 and ssl_c["current"] == 0:
            break
        check(time.monotonic() < deadline, "not back at zero: active=%s ssl=%s" % (t["active"], ssl_c))
        time.sleep(0.2)
    lvl = stats_of(lines, "ringlb: stats memory level=")
    check(lvl["level"] == "normal", "pressure after the flood: %s" % lvl)
    # The first connections after it are served (none is refused on a
    # decision made while the pressure was still there).
    for i in range(3):
        st, body, _, _, _ = https_get(addr, P_TLS)
        check(st == 200 and body.decode() == HELLO, "request %d after the flood: %s" % (i, st))
    reasons = tls_reasons(r)
    # Refused charges end connections as no_memory (or before they have a
    # session at all); the rest ended when the client closed.
    check(set(reasons) <= {"no_memory", "closed_in_handshake"} and
          reasons.get("no_memory", 0) <= ssl_c["refused"],
          "failure reasons %s, ssl refused %s" % (reasons, ssl_c["refused"]))
    done(r)


# ---- upstream TLS (pools[].tls) to nginx ----

NGINX = """
error_log stderr notice;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/cb; proxy_temp_path {dir}/pt; fastcgi_temp_path {dir}/ft;
  uwsgi_temp_path {dir}/ut; scgi_temp_path {dir}/st;
  server {{
    listen {addr}:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ return 200 "nginx $ssl_protocol sni=$ssl_server_name reused=$ssl_session_reused c=$connection\\n"; }}
  }}
}}
"""


def test_12_upstream_tls_to_nginx():
    addr = lib.loopback()
    nd = lib.tmpdir()
    conf = os.path.join(nd, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX.format(dir=nd, addr=addr, port=P_NGINX, cert=cp("backend.pem"),
                             key=cp("leaf.key")))
    ngx = lib.Proc(["nginx", "-p", nd, "-c", conf, "-g", "daemon off; master_process off;"],
                   name="nginx")
    ngx.wait_line(r"getrlimit\(RLIMIT_NOFILE\)")
    be = ["%s:%d" % (addr, P_NGINX)]
    pools = (pool("up", be, "    tls: { ca: %s, sni: backend.test }\n" % cp("ca.pem")) +
             pool("badname", be, "    tls: { ca: %s, sni: wrong.test }\n" % cp("ca.pem")) +
             pool("badca", be, "    tls: { ca: %s, sni: backend.test }\n" % cp("clientca.pem")) +
             pool("noverify", be, "    tls: { verify: none }\n"))
    routes = ("    routes:\n      - { path: /badname, pool: badname }\n"
              "      - { path: /badca, pool: badca }\n      - { path: /noverify, pool: noverify }\n")
    cfg_listeners = (listener("plain", addr, P_PLAIN, pool="up", extra=routes) +
                     listener("tls", addr, P_TLS, site_tls(), pool="up", extra=routes))
    ck = os.path.join(lib.tmpdir(), "check.yaml")
    with open(ck, "w") as f:
        f.write("workers: 1\nlisteners:\n" + cfg_listeners + static(addr) + "pools:\n" +
                pool("web", ["%s:%d" % (addr, P_STATIC)]) + pools)
    rc, out = run([lib.BIN, "--check", "-c", ck])
    if rc != 0 and re.search(r"not (yet )?(implemented|supported)", out):
        raise lib.TestSkip("ringlb refuses pools[].tls: %s" % out.strip())
    check(rc == 0, "--check of the upstream TLS config:\n%s" % out)
    r = start(addr, cfg_listeners, pools=pools)
    st, hdrs, body = lib.http_get("%s:%d" % (addr, P_PLAIN))
    if st == 400 and b"plain HTTP request was sent to HTTPS port" in body:
        r.finish()
        raise lib.TestSkip("ringlb sent plaintext to a pools[].tls backend: upstream TLS not done")
    check(st == 200 and body.startswith(b"nginx TLSv1.3 sni=backend.test"),
          "plain -> TLS upstream: %s %r" % (st, body))
    c = Https(addr, P_TLS)  # TLS on both sides, keep-alive
    bodies = [c.get()[1] for _ in range(3)]
    c.close()
    check(all(b.startswith(b"nginx TLSv1.3 sni=backend.test") for b in bodies), "%r" % bodies)
    conns = {re.search(rb"c=(\d+)", b).group(1) for b in bodies}
    check(len(conns) == 1, "3 requests on one client connection used upstream connections %s" % conns)
    st, _, body = lib.http_get("%s:%d" % (addr, P_PLAIN), "/noverify")
    check(st == 200 and b"sni= " in body, "verify none, no SNI: %s %r" % (st, body))
    for path in ("/badname", "/badca"):
        st, _, body = lib.http_get("%s:%d" % (addr, P_PLAIN), path)
        check(st == 502, "%s: %s %r" % (path, st, body))
    reasons = tls_reasons(r)
    check(reasons.get("bad_certificate", 0) >= 1 and reasons.get("unknown_ca", 0) >= 1,
          "upstream failures by reason %s" % reasons)
    done(r)
    ngx.stop()


# ---- 14. the end of a closing connection ----

def test_14_a_closing_connection_ends_with_close_notify_after_its_last_response():
    """The last response of a connection that closes leaves with close_notify
    (in the same send since tls_flush() queues it with the response): the
    client reads the whole response, then a clean end, for a proxied
    Connection: close, an HTTP/1.0 request, an error answer, and the third
    request of a keep-alive connection."""
    addr = lib.loopback()
    r = start(addr, listener("tls", addr, P_TLS, site_tls()))
    reqs = [
        (P_TLS, [b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"], b" 200 ", HELLO.encode()),
        (P_TLS, [b"GET / HTTP/1.0\r\nHost: site.test\r\n\r\n"], b" 200 ", HELLO.encode()),
        (P_TLS, [b"GET / HTTP/1.1\r\nHost: site.test\r\n\r\n"] * 2 +
         [b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"], b" 200 ", HELLO.encode()),
        (P_TLS, [b"GET / HTTP/1.1\r\nHost: site.test\r\nContent-Length: x\r\n\r\n"], b" 400 ", b""),
    ]
    for port, sends, status, body in reqs:
        raw = socket.create_connection((addr, port), timeout=10 * lib.SLOW)
        s = client_ctx().wrap_socket(raw, server_hostname="site.test", suppress_ragged_eofs=False)
        try:
            for q in sends:
                s.sendall(q)
            try:
                got = lib.read_to_end(s)  # SSLEOFError without close_notify
            except ssl.SSLEOFError as e:
                check(False, "port %d %r: the stream ended without close_notify (%s)" % (port, sends[-1], e))
        finally:
            s.close()
        last = got.rsplit(b"HTTP/1.", 1)[-1]
        check(got.count(b"HTTP/1.") == len(sends) and status in b"HTTP/1." + last[:8] and
              last.endswith(body), "port %d %r: got %r" % (port, sends[-1], got))
    done(r)


if __name__ == "__main__":
    lib.main(globals(), limit=90)
