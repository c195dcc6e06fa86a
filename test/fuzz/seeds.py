#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses, test/fuzz/corpus/NAME/.

    test/fuzz/seeds.py [BUILD [NAME...]]   (default build, every harness; needs
                                           make fuzz-build)

Each harness gets candidate inputs written here by hand (request heads from
test/configs/smuggle/ and test/integration/test_http.py, response heads,
chunked bodies, configs from config/examples/ and test/configs/bad/, values,
environments over configs, admin requests), or made (TLS: whole handshakes
written by fuzz_tls itself with FUZZ_TLS_SEEDS, ClientHellos from Python's
ssl module). libFuzzer's -merge=1 then keeps those that add coverage, and
the kept ones are committed under a name that says what they are. Run it
again after a harness or its input format changes.
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# fuzz_h1's first byte: what the rest is.
REQ, RESP, RESP_HEAD, CHUNKED = 0x00, 0x01, 0x03, 0x0C

REQUESTS = {
    "get": b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "get-close": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "get-http10": b"GET /x HTTP/1.0\r\n\r\n",
    "get-http10-keepalive": b"GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    "absolute-path": b"GET http://www.example.com/api/x HTTP/1.1\r\nHost: wrong.example\r\n"
                     b"Connection: close\r\n\r\n",
    "absolute-bare": b"GET http://exact.test HTTP/1.1\r\nHost: wrong.example\r\n\r\n",
    "absolute-query": b"GET https://other.org:8443?q HTTP/1.1\r\nHost: other.org\r\n\r\n",
    "connect": b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    "options-star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "empty-lines-first": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "hop-by-hop": b"GET /name HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 10.1.2.3\r\n"
                  b"X-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
                  b"Connection: close, X-Foo\r\nX-Foo: secret\r\nKeep-Alive: timeout=5\r\n"
                  b"Proxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n",
    "post-cl": b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "post-cl-list": b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    "post-chunked": b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
    "expect-continue": b"PUT /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 2\r\n\r\nok",
    "websocket": b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 b"\r\nearly\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: p\r\n\r\nGET /b HTTP/1.1\r\nHost: p\r\n\r\n",
    "many-headers": b"GET / HTTP/1.1\r\nHost: a\r\n" +
                    b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(20)) +
                    b"Cookie: c=1\r\nAuthorization: Basic eA==\r\nUser-Agent: t\r\n\r\n",
    "long-target": b"GET /" + b"u" * 600 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    "version-505": b"GET / HTTP/1.7\r\nHost: a\r\n\r\n",
    "obs-text-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-V: \xe2\x9c\x93\t x\r\n\r\n",
}

RESPONSES = {
    "200-cl": (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"),
    "200-chunked": (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"400\r\n" + b"a" * 1024 + b"\r\n3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n"),
    "200-close-delimited": (RESP, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil eof"),
    "200-gzip-close": (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz"),
    "200-http10-keepalive": (RESP, b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                                   b"Content-Length: 2\r\n\r\nok"),
    "200-connection-close": (RESP, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    "200-many-headers": (RESP, b"HTTP/1.1 200 OK\r\n" +
                               b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(24)) +
                               b"Content-Length: 3\r\n\r\nok\n"),
    "200-no-reason": (RESP, b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
    "100-continue": (RESP, b"HTTP/1.1 100 Continue\r\n\r\n"),
    "101-upgrade": (RESP, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: x=\r\n\r\nserver-first\n"),
    "204": (RESP, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
    "304": (RESP, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\nETag: \"x\"\r\n\r\n"),
    "head-cl": (RESP_HEAD, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
    "head-chunked": (RESP_HEAD, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "502-set-cookie": (RESP, b"HTTP/1.1 502 Bad Gateway\r\nSet-Cookie: a=b\r\nServer: x\r\n"
                             b"Content-Length: 4\r\n\r\nbad\n"),
    "400-cl-te": (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
}

CHUNKED_BODIES = {
    "one-chunk": b"5\r\nhello\r\n0\r\n\r\n",
    "two-chunks-ext": b"3;a=b;c\r\nabc\r\n2 ;x=\"q\"\r\nde\r\n0\r\n\r\n",
    "upper-hex": b"A\r\n0123456789\r\n0\r\n\r\n",
    "trailers": b"1\r\nx\r\n0\r\nX-A: 1\r\nX-B:\r\n\r\n",
    "last-ext-pipelined": b"0;last\r\n\r\nGET / HTTP/1.1\r\n",
    "leading-zeros": b"0000001\r\nz\r\n00\r\n\r\n",
    "partial": b"400\r\nabc",
    "size-max": b"4000000000000000\r\n",
    "size-over": b"4000000000000001\r\n",
    "bare-lf": b"1\nx\r\n0\r\n\r\n",
    "obs-fold-trailer": b"0\r\nX: a\r\n b\r\n\r\n",
}


def smuggle():
    out = {}
    for p in sorted(glob.glob(os.path.join(TOP, "test/configs/smuggle/*.txt"))):
        with open(p, "rb") as f:
            out["smuggle-" + os.path.basename(p)[:-4]] = f.read()
    return out


def h1_seeds():
    s = {}
    for name, req in list(REQUESTS.items()) + list(smuggle().items()):
        s["req-" + name] = bytes([REQ, 0x10]) + req
    for name, (mode, resp) in RESPONSES.items():
        s["resp-" + name] = bytes([mode, 0x10]) + resp
    for name, body in CHUNKED_BODIES.items():
        s["chunked-" + name] = bytes([CHUNKED, 0x07]) + body
    return s


def req_seeds():
    """fuzz_req: the limits (0 tiny, 1 small, 2 defaults, 3 a field bound
    of 64), then the request."""
    s = {}
    for name, req in list(REQUESTS.items()) + list(smuggle().items()):
        for lim in range(4):
            s["%s-%d" % (name, lim)] = bytes([lim]) + req
    edge = {
        # the tiny limits: a 24-byte request line, 40-byte fields, 4 of them
        "line-24": b"GET /" + b"x" * 10 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        "line-25-414": b"GET /" + b"x" * 11 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        "field-40": b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 37 + b"\r\n\r\n",
        "field-41-431": b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 38 + b"\r\n\r\n",
        "fields-5-431": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 4 + b"\r\n",
        "empty-lines-431": b"\r\n" * 90 + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "host-twice": b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "host-empty": b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "connect-v6": b"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "connect-body": b"CONNECT a:1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "te-501": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "upgrade-http10": b"GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\nUpgrade: ws\r\n\r\n",
        "star-not-options": b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    }
    for name, req in edge.items():
        s[name] = b"\0" + req
    return s


def chunked_seeds():
    s = {name: body for name, body in CHUNKED_BODIES.items()}
    s["long-ext"] = b"1;" + b"e" * 4093 + b"\r\nx\r\n0\r\n\r\n"
    s["many-trailers"] = b"0\r\n" + b"".join(b"T%d: v\r\n" % i for i in range(65)) + b"\r\n"
    return s


def resp_seeds():
    """fuzz_resp: flags (bit 0 HEAD, bit 1 default limits), a split byte."""
    s = {}
    for name, (mode, resp) in RESPONSES.items():
        head = mode == RESP_HEAD
        s[name] = bytes([head, 0x10]) + resp
        s[name + "-wide"] = bytes([head | 2, 0x10]) + resp
    s["431-head-over-2048"] = b"\0\x10HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 2100 + b"\r\n\r\n"
    s["431-25-fields"] = (b"\0\x10HTTP/1.1 200 OK\r\n" +
                          b"".join(b"X-%d: v\r\n" % i for i in range(25)) + b"\r\n")
    s["hop-listed"] = (b"\0\x10HTTP/1.1 200 OK\r\nConnection: X-Foo, close\r\nX-Foo: 1\r\n"
                       b"Keep-Alive: timeout=5\r\nTrailer: X\r\nContent-Length: 0\r\n\r\n")
    s["505"] = b"\0\x10HTTP/2.0 200 OK\r\n\r\n"
    s["cl-list"] = b"\0\x10HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"
    return s


CONFIGS = {
    "flow-style": "{listeners: [{name: a, bind: '127.0.0.1:8080', mode: http, pool: p,\n"
                  "  routes: [{host: '*.example.com', path: /api, pool: p}]}],\n"
                  " pools: [{name: p, algorithm: maglev, hash: 'header:X-User',\n"
                  "  backends: [{address: '[::1]:8081', weight: 2}]}]}\n",
    "anchors": "pools:\n  - &p {name: p, backends: [{address: 127.0.0.1:8081}]}\n"
               "listeners:\n  - {name: a, bind: 127.0.0.1:8080, mode: tcp, pool: p}\n"
               "  - {name: b, bind: 127.0.0.1:8082, mode: tcp, pool: *p}\n",
    "static-file": "listeners:\n  - name: s\n    bind: 127.0.0.1:8080\n    mode: static\n"
                   "    file: config/examples/errors/502.html\n",
    "depth-64": "memory_tuning:\n  warning_threshold: " + "[" * 62 + "]" * 62 + "\n",
    "depth-65": "memory_tuning:\n  warning_threshold: " + "[" * 63 + "]" * 63 + "\n",
    "control-bytes": "\"work\\ters\": 1\nworkers: \"1\\n2\"\nlogging: {level: \"\\x7f\"}\n",
    "tags-and-docs": "%YAML 1.1\n---\nworkers: !!str 2\nlisteners: []\n...\n---\nx: 1\n",
    "aliased-listeners": "pools:\n  - {name: p, backends: [{address: 127.0.0.1:9}]}\n"
                         "listeners:\n  - &l {name: a, bind: 127.0.0.1:8080, mode: http, pool: p,\n"
                         "        routes: [&r {host: a.test, pool: p}, *r, *r, *r, *r, *r, *r]}\n" +
                         "  - *l\n" * 60,
    "block-scalars": "listeners:\n  - name: s\n    bind: 127.0.0.1:8080\n    mode: static\n"
                     "    body: |\n      hello\n      world\n    via: >\n      folded\n",
}


def config_seeds():
    s = {}
    for p in [os.path.join(TOP, "config/examples/ringlb.yaml")] + sorted(
            glob.glob(os.path.join(TOP, "test/configs/bad/*.yaml"))):
        with open(p, "rb") as f:
            s[os.path.basename(p)[:-5]] = f.read()
    for name, text in CONFIGS.items():
        s[name] = text.encode()
    return s


# fuzz_values' first byte: the parser, or an environment.
COUNT, SIZE, DURATION, NUMBER, BOOL, ADDR, ENV = range(7)
VALUES = {
    "count": (COUNT, b"4096"), "count-max": (COUNT, b"18446744073709551615"),
    "count-over": (COUNT, b"18446744073709551616"), "count-negative": (COUNT, b"-1"),
    "size": (SIZE, b"16KB"), "size-space-kib": (SIZE, b"1 KiB"), "size-tb": (SIZE, b"64TB"),
    "size-bytes": (SIZE, b"100b"), "duration": (DURATION, b"250ms"), "duration-day": (DURATION, b"1d"),
    "duration-no-unit": (DURATION, b"30"), "number": (NUMBER, b"0.8"), "number-dot": (NUMBER, b".5"),
    "number-ten": (NUMBER, b"10"), "number-exp": (NUMBER, b"1e5"), "bool": (BOOL, b"Yes"),
    "bool-off": (BOOL, b"off"), "addr-v4": (ADDR, b"127.0.0.1:8080"), "addr-v6": (ADDR, b"[::1]:8080"),
    "addr-v4-in-brackets": (ADDR, b"[127.0.0.1]:80"), "addr-scope": (ADDR, b"[fe80::1%lo]:80"),
    "addr-port-0": (ADDR, b"127.0.0.1:0"),
    "env": (ENV, b"RINGLB_WORKERS=2\nRINGLB_WARNING_THRESHOLD=0.9\nRINGLB_NOPE=1\n"
                 b"RINGLB_MEMORY_TUNING_WARNING_THRESHOLD=0.7\nRINGLB_NUMA_FAKE=2"),
    "env-by-index": (ENV, b"\x80auto\n\x81auto\n\x88info\n\x90 1GB\n\xa0 0.5\n\xc0 1s"),
    "env-cross-key": (ENV, b"RINGLB_CRITICAL_THRESHOLD=0.5\nRINGLB_MAX_TOTAL_MEMORY=1MB"),
}


def values_seeds():
    return {name: bytes([mode]) + text for name, (mode, text) in VALUES.items()}


def proxy_seeds():
    sig = b"\r\n\r\n\0\r\nQUIT\n"
    v6 = bytes([0x20, 1, 0x0d, 0xb8] + [0] * 11 + [7]) + bytes([0] * 15 + [1])
    return {
        "v1-tcp4": b"PROXY TCP4 192.168.1.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
        "v1-tcp6": b"PROXY TCP6 2001:db8::1 ::1 65535 80\r\n",
        "v1-unknown": b"PROXY UNKNOWN\r\n",
        "v2-inet": sig + bytes([0x21, 0x11, 0, 12, 10, 1, 2, 3, 192, 168, 0, 1, 0x1f, 0x90, 1,
                                0xbb]) + b"GET /",
        "v2-inet6": sig + bytes([0x21, 0x21, 0, 36]) + v6 + bytes([0xff, 0xff, 0, 0x50]),
        "v2-local": sig + bytes([0x20, 0, 0, 0]),
        "v2-tlvs": sig + bytes([0x21, 0x11, 0, 23, 10, 1, 2, 3, 192, 168, 0, 1, 0x1f, 0x90, 1,
                                0xbb, 1, 0, 2]) + b"h2" + bytes([4, 0, 1, 0]),
    }


# fuzz_admin's first byte: bit 0 a token (fuzz_admin.c's TOKEN), bit 1 ready,
# bit 2 draining; the second seeds the receive sizes (0: one receive).
ADMIN_TOKEN, ADMIN_READY, ADMIN_STOPPING = 1, 2, 4
AUTH = b"Authorization: Bearer s3cr3t-t0ken\r\n"


def areq(method, path, extra=b"", body=b""):
    return b"%s %s HTTP/1.1\r\nHost: a\r\n%s\r\n%s" % (method, path, extra, body)


ADMIN = {
    "metrics": (ADMIN_READY, areq(b"GET", b"/metrics")),
    "stats-head": (ADMIN_READY, areq(b"HEAD", b"/stats")),
    "metrics-starting": (0, areq(b"GET", b"/metrics")),
    "metrics-post-405": (ADMIN_READY, areq(b"POST", b"/metrics")),
    "config": (ADMIN_READY, areq(b"GET", b"/config?x=1")),
    "config-put-405": (ADMIN_READY, areq(b"PUT", b"/config")),
    "health": (ADMIN_READY, areq(b"GET", b"/health")),
    "health-starting": (0, areq(b"GET", b"/health")),
    "health-draining": (ADMIN_READY | ADMIN_STOPPING, areq(b"GET", b"/health")),
    "reload": (ADMIN_READY, areq(b"POST", b"/reload", b"Content-Length: 0\r\n")),
    "reload-get-405": (ADMIN_READY, areq(b"GET", b"/reload")),
    "backend-drain": (ADMIN_READY, areq(b"POST", b"/backends/app/127.0.0.1%3A8081/drain")),
    "backend-enable-token": (ADMIN_READY | ADMIN_TOKEN,
                             areq(b"POST", b"/backends/a%2Fb/[::1]:80/enable", AUTH)),
    "backend-bad-verb": (ADMIN_READY, areq(b"POST", b"/backends/app/x/stop")),
    "backend-bad-escape": (ADMIN_READY, areq(b"POST", b"/backends/app/%4/drain")),
    "backend-nul": (ADMIN_READY, areq(b"POST", b"/backends/app/%00/disable")),
    "backend-missing": (ADMIN_READY, areq(b"POST", b"/backends/app//drain")),
    "backend-long-pool": (ADMIN_READY, areq(b"POST", b"/backends/" + b"p" * 130 + b"/x/drain")),
    "backend-get-405": (ADMIN_READY, areq(b"GET", b"/backends/app/x/drain")),
    "token-ok": (ADMIN_READY | ADMIN_TOKEN, areq(b"GET", b"/metrics", AUTH + b"Cookie: c=1\r\n")),
    "token-spaces-case": (ADMIN_READY | ADMIN_TOKEN,
                          areq(b"GET", b"/stats", b"Authorization: bearer    s3cr3t-t0ken\r\n")),
    "token-wrong": (ADMIN_READY | ADMIN_TOKEN,
                    areq(b"GET", b"/metrics", b"Authorization: Bearer s3cr3t-t0kex\r\n")),
    "token-missing": (ADMIN_READY | ADMIN_TOKEN, areq(b"GET", b"/config")),
    "token-basic": (ADMIN_READY | ADMIN_TOKEN,
                    areq(b"GET", b"/config", b"Authorization: Basic eDp5\r\n")),
    "not-found": (ADMIN_READY, areq(b"GET", b"/nope")),
    "pipelined": (ADMIN_READY | 0x100, areq(b"GET", b"/health") + areq(b"HEAD", b"/metrics") +
                  areq(b"POST", b"/reload", b"Content-Length: 3\r\n", b"abc") +
                  areq(b"GET", b"/stats", b"Connection: close\r\n") + areq(b"GET", b"/health")),
    "body-cl": (ADMIN_READY, areq(b"POST", b"/reload", b"Content-Length: 10\r\n", b"0123456789")),
    "body-chunked-411": (ADMIN_READY, areq(b"POST", b"/reload", b"Transfer-Encoding: chunked\r\n",
                                           b"0\r\n\r\n")),
    "body-too-large-413": (ADMIN_READY, areq(b"POST", b"/reload", b"Content-Length: 5000\r\n")),
    "head-too-large-431": (ADMIN_READY, b"GET /metrics HTTP/1.1\r\nX: " + b"x" * 8300),
    "fields-431": (ADMIN_READY, b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 1200 + b"\r\n"),
    "malformed-400": (ADMIN_READY, b"GET /metrics HTTP/1.1\r\nHost a\r\n\r\n"),
    "version-505": (ADMIN_READY, b"GET /metrics HTTP/1.7\r\n\r\n"),
    "http10-close": (ADMIN_READY, b"GET /health HTTP/1.0\r\n\r\n"),
    "absolute-form": (ADMIN_READY, areq(b"GET", b"http://a/metrics")),
    "draining-closes": (ADMIN_READY | ADMIN_STOPPING, areq(b"GET", b"/metrics") + areq(b"GET", b"/x")),
}


def admin_seeds():
    return {name: bytes([flags & 0xff, 0x11 if flags & 0x100 else 0]) + req
            for name, (flags, req) in ADMIN.items()}


ENV_YAML = {
    "example": "config/examples/ringlb.yaml",
}
ENVS = {
    "workers": b"RINGLB_WORKERS=2\nRINGLB_NOPE=1\nRINGLB_NUMA_FAKE=2",
    "short-and-full": b"RINGLB_WARNING_THRESHOLD=0.9\nRINGLB_MEMORY_TUNING_WARNING_THRESHOLD=0.7",
    "by-index": b"\x80auto\n\x81 3\n\x88info\n\x90 1GB\n\xa0 0.5\n\xc0 1s\n\xd1x",
    "cross-key": b"RINGLB_CRITICAL_THRESHOLD=0.5\nRINGLB_WARNING_THRESHOLD=0.9\n"
                 b"RINGLB_MAX_TOTAL_MEMORY=1MB",
    "bad-values": b"RINGLB_WORKERS=-1\nRINGLB_LOG_LEVEL=loud\nRINGLB_DEFER_DELAY=10\n"
                  b"RINGLB_ADMIN_BIND=localhost:9\nRINGLB_MAX_BUFFER_SIZE=1\x01KB",
    "repeated": b"RINGLB_WORKERS=1\nRINGLB_WORKERS=bad\nRINGLB_WORKERS=3",
    "long-unknown": b"RINGLB_" + b"X" * 80 + b"\x02=1\nRINGLB_=\nRINGLB_WORKERS\nNOT_OURS=1",
    "admin-user": b"RINGLB_ADMIN_TOKEN=t\nRINGLB_ADMIN_ENABLED=no\nRINGLB_USER=nobody\n"
                  b"RINGLB_GROUP=nogroup\nRINGLB_SEED=7",
}


def env_seeds():
    s = dict(ENVS)
    for name, path in ENV_YAML.items():
        with open(os.path.join(TOP, path), "rb") as f:
            yaml = f.read()
        for env in ("workers", "cross-key", "bad-values"):
            s["%s+%s" % (name, env)] = yaml + b"\0" + ENVS[env]
    s["tiny-yaml+by-index"] = b"workers: 3\nlisteners: []\n\0" + ENVS["by-index"]
    s["bad-yaml+workers"] = b"workers: [\n\0" + ENVS["workers"]
    return s


def client_hellos():
    """ClientHellos from Python's ssl (OpenSSL), each alone in one receive."""
    import ssl
    out = {}
    cases = {
        "hello13-sni": (None, None, "localhost", ["h2", "http/1.1"]),
        "hello12-rsa-only": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES256-GCM-SHA384", "example.test",
                             None),
        "hello12-ecdsa": (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", "a.fuzz.test",
                          ["http/1.1"]),
        "hello13-alpn-unknown": (None, None, "b.fuzz.test", ["spdy/1"]),
        "hello13-no-sni": (None, None, None, None),
    }
    for name, (maxv, ciphers, sni, alpn) in cases.items():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if maxv:
            ctx.maximum_version = maxv
        if ciphers:
            ctx.set_ciphers(ciphers)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, outg, server_hostname=sni)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        out[name] = b"\0" + outg.read()
    return out


def tls_seeds():
    """The harness's own whole handshakes (FUZZ_TLS_SEEDS), Python's
    ClientHellos, the same cut into pieces, and what is not TLS at all."""
    s = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(TOP, BUILD, "fuzz", "fuzz_tls")], cwd=TOP, check=True,
                       env=dict(os.environ, FUZZ_TLS_SEEDS=tmp), stdout=subprocess.DEVNULL)
        for n in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, n), "rb") as f:
                s[n] = f.read()
    s.update(client_hellos())
    s["hs13-localhost-h2-pieces"] = b"\x05" + s["hs13-localhost-h2"][1:]
    s["hs12-rsa-pieces-eof"] = b"\x83" + s["hs12-rsa"][1:]
    s["hello13-sni-bytewise"] = b"\x01" + s["hello13-sni"][1:]
    s["hs13-truncated-eof"] = b"\x80" + s["hs13-localhost-h2"][1:200]
    s["http-request"] = b"\0GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    s["sslv2-hello"] = b"\0\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + bytes(range(21)) + \
        bytes(16)
    s["alert"] = b"\0\x15\x03\x03\x00\x02\x02\x28"
    s["empty-record"] = b"\x80\x16\x03\x01\x00\x00"
    return s


# Kept whatever the merge says: the cases a corpus must show by name.
PINNED = {
    "h1": ["resp-head-cl", "resp-head-chunked", "resp-200-http10-keepalive"],
    "resp": ["head-cl", "head-chunked", "100-continue", "204", "304", "200-chunked",
             "200-close-delimited"],
    "proxy": ["v1-tcp4", "v1-tcp6", "v1-unknown", "v2-inet", "v2-inet6", "v2-local", "v2-tlvs"],
    "tls": ["hs13-localhost-h2", "hs13-wild-sni", "hs13-chacha-no-sni", "hs13-unknown-sni",
            "hs12-ecdsa-http11", "hs12-rsa"],
    "config": ["ringlb", "depth-65", "flow-style", "static-file", "validate_many",
               "thresholds_out_of_order", "component_above_total", "initial_above_max_count"],
}

HARNESSES = {
    "h1": h1_seeds,
    "resp": resp_seeds,
    "chunked": chunked_seeds,
    "req": req_seeds,
    "config": config_seeds,
    "values": values_seeds,
    "proxy": proxy_seeds,
    "admin": admin_seeds,
    "env": env_seeds,
    "tls": tls_seeds,
}


def merge(build, name, cands):
    """Keeps the candidates that add coverage (libFuzzer -merge=1)."""
    binary = os.path.join(TOP, build, "fuzz", "fuzz_" + name)
    with tempfile.TemporaryDirectory() as tmp:
        cdir, mdir = os.path.join(tmp, "c"), os.path.join(tmp, "m")
        os.mkdir(cdir)
        os.mkdir(mdir)
        by_hash = {}
        for n, data in sorted(cands.items()):
            h = hashlib.sha1(data).hexdigest()
            by_hash.setdefault(h, n)
            with open(os.path.join(cdir, n), "wb") as f:
                f.write(data)
        # Every candidate must pass first: a merge goes on past crashes.
        r = subprocess.run([binary, "-artifact_prefix=%s/" % tmp] +
                           [os.path.join(cdir, n) for n in sorted(os.listdir(cdir))], cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            sys.exit("%s fails on a candidate:\n%s" % (binary, r.stdout.decode()[-3000:]))
        subprocess.run([binary, "-merge=1", "-max_len=65536", "-artifact_prefix=%s/" % tmp,
                        mdir, cdir], check=True, cwd=TOP, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return sorted(by_hash[h] for h in os.listdir(mdir) if h in by_hash)


BUILD = "build"


def main():
    global BUILD
    build = BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
    names = sys.argv[2:] or sorted(HARNESSES)
    for name in names:
        cands = HARNESSES[name]()
        kept = sorted(set(merge(build, name, cands)) | set(PINNED.get(name, [])))
        out = os.path.join(TOP, "test", "fuzz", "corpus", name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        for n in kept:
            with open(os.path.join(out, n), "wb") as f:
                f.write(cands[n])
        print("%s: %d of %d candidates kept" % (name, len(kept), len(cands)))


if __name__ == "__main__":
    main()
