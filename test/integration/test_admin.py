"""The admin endpoint: /metrics read by a real Prometheus parser (Debian's
python3-prometheus-client) and scraped by a real Prometheus server, whose
counters must equal the traffic the test sent; /stats, /config, /health;
POST /reload (ok, and failed with the errors while the running config stays);
POST /backends/POOL/ADDR/drain end to end (an in-flight L4 transfer and an
HTTP keep-alive client finish while new connections go to the other
backend); the token (a non-loopback bind without one is a config error,
wrong tokens get 401 and are counted); 1,000 malformed requests leave
ringlb serving; tools/ringlbctl's commands and exit codes.

Every config has an http listener "web" and a tcp listener "l4" over pool
"app" (two static listeners s-a and s-b, whose X-Served-By names them), and
the admin endpoint on the test's own loopback address.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

WEB, L4, SA, SB, ADMIN, PROM = 7300, 7301, 7302, 7303, 7309, 7310
CTL = os.path.join(lib.TOP, "tools", "ringlbctl")

BASE = """
workers: 2
admin:
  bind: {addr}:%d
{admin_extra}
listeners:
  - name: web
    bind: {addr}:%d
    mode: http
    pool: app
    max_connections: 256
  - name: l4
    bind: {addr}:%d
    mode: tcp
    pool: app
    max_connections: 256
    splice: never
  - name: s-a
    bind: {addr}:%d
    mode: static
    max_connections: 256
    {body_a}
  - name: s-b
    bind: {addr}:%d
    mode: static
    max_connections: 256
    body: "b\\n"
pools:
  - name: app
    backends:
      - {{ address: {addr}:%d }}
      - {{ address: {addr}:%d }}
""" % (ADMIN, WEB, L4, SA, SB, SA, SB)


def config(addr, admin_extra="", body_a='body: "a\\n"'):
    return BASE.format(addr=addr, admin_extra=admin_extra, body_a=body_a)


def admin_req(addr, method, path, token=None, timeout=30):
    """One request to the admin endpoint; returns (status, headers, body)."""
    c = http.client.HTTPConnection(addr, ADMIN, timeout=timeout * lib.SLOW)
    try:
        h = {"Authorization": "Bearer " + token} if token else {}
        c.request(method, path, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def prometheus_parser():
    """Debian's python3-prometheus-client, also when python3 is not Debian's
    (a pyenv python does not see /usr/lib/python3/dist-packages)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families


def metrics(addr, token=None):
    """/metrics parsed by prometheus_client: {(name, labels tuple): value}."""
    text_string_to_metric_families = prometheus_parser()
    st, hdrs, body = admin_req(addr, "GET", "/metrics", token)
    check(st == 200, "/metrics answered %s" % st)
    check(hdrs.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "content type %r" % hdrs.get("content-type"))
    out, types = {}, {}
    for fam in text_string_to_metric_families(body.decode()):
        types[fam.name] = fam.type
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out, types


def m(ms, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    check(key in ms, "no sample %s%s in /metrics" % (name, labels))
    return ms[key]


def served_by(addr, port, n, path="/", method="GET"):
    """<n> requests, each on a new connection; returns the X-Served-By list
    and the statuses."""
    who, sts = [], []
    for _ in range(n):
        c = http.client.HTTPConnection(addr, port, timeout=10 * lib.SLOW)
        c.request(method, path)
        r = c.getresponse()
        r.read()
        who.append(r.getheader("X-Served-By"))
        sts.append(r.status)
        c.close()
    return who, sts


def test_metrics_parse_and_equal_the_traffic():
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    who, sts = served_by(a, WEB, 20)
    check(sts == [200] * 20, "web statuses %s" % sts)
    _, sts = served_by(a, WEB, 3, method="POST")  # static answers 405
    check(sts == [405] * 3, "POST statuses %s" % sts)
    _, sts = served_by(a, L4, 7)
    check(sts == [200] * 7, "l4 statuses %s" % sts)
    ms, types = metrics(a)
    check(m(ms, "ringlb_connections_accepted_total", listener="web") == 23, "web accepted")
    check(m(ms, "ringlb_connections_accepted_total", listener="l4") == 7, "l4 accepted")
    check(m(ms, "ringlb_http_requests_total", listener="web", code="2xx") == 20, "2xx")
    check(m(ms, "ringlb_http_requests_total", listener="web", code="4xx") == 3, "4xx")
    check(m(ms, "ringlb_http_requests_total", listener="web", code="5xx") == 0, "5xx")
    check(m(ms, "ringlb_request_duration_seconds_count", listener="web") == 23, "duration count")
    check(m(ms, "ringlb_request_duration_seconds_bucket", listener="web", le="+Inf") == 23,
          "duration +Inf")
    reqs = sum(m(ms, "ringlb_backend_requests_total", pool="app", backend="%s:%d" % (a, p))
               for p in (SA, SB))
    check(reqs == 30, "backend requests %s, sent 30" % reqs)
    conn = sum(m(ms, "ringlb_backend_connect_seconds_count", pool="app",
                 backend="%s:%d" % (a, p)) for p in (SA, SB))
    check(1 <= conn <= 30, "connect histogram count %s" % conn)
    for p in (SA, SB):
        check(m(ms, "ringlb_backend_up", pool="app", backend="%s:%d" % (a, p)) == 1, "up")
        check(m(ms, "ringlb_backend_state", pool="app", backend="%s:%d" % (a, p),
                state="up") == 1, "state up")
    for comp in ("connection", "buffer", "ssl", "cache", "total"):
        check(m(ms, "ringlb_memory_limit_bytes", component=comp) > 0, "limit of " + comp)
        m(ms, "ringlb_memory_bytes", component=comp)
        m(ms, "ringlb_memory_peak_bytes", component=comp)
    check(m(ms, "ringlb_memory_bytes", component="total") > 0, "memory total")
    m(ms, "ringlb_pool_buffers", node="0", **{"class": "4KB", "state": "free"})
    m(ms, "ringlb_pool_buffers", node="0", **{"class": "4KB", "state": "in_use"})
    check(m(ms, "ringlb_pressure_level") == 0, "pressure")
    check(m(ms, "ringlb_config_generation") == 1, "generation")
    check(m(ms, "ringlb_reloads_total", result="ok") == 0, "reloads")
    want = {"ringlb_connections_accepted": "counter", "ringlb_connections_active": "gauge",
            "ringlb_connections_rejected": "counter", "ringlb_http_requests": "counter",
            "ringlb_backend_up": "gauge", "ringlb_backend_state": "gauge",
            "ringlb_backend_requests": "counter", "ringlb_backend_connect_seconds": "histogram",
            "ringlb_request_duration_seconds": "histogram", "ringlb_memory_bytes": "gauge",
            "ringlb_memory_peak_bytes": "gauge", "ringlb_memory_limit_bytes": "gauge",
            "ringlb_pool_buffers": "gauge", "ringlb_pressure_level": "gauge",
            "ringlb_reloads": "counter", "ringlb_config_generation": "gauge"}
    for name, t in want.items():
        check(types.get(name) == t, "%s has type %s, expected %s" % (name, types.get(name), t))
    # /stats says the same as JSON.
    st, _, body = admin_req(a, "GET", "/stats")
    check(st == 200, "/stats %s" % st)
    js = json.loads(body)
    web = [l for l in js["listeners"] if l["name"] == "web"][0]
    check(web["accepted"] == 23 and web["http"]["2xx"] == 20, "/stats web: %s" % web)
    check(sum(b["requests"] for b in js["backends"]) == 30, "/stats backends")
    # /config: every value with its source, as --print-config.
    st, _, body = admin_req(a, "GET", "/config")
    text = body.decode()
    check(st == 200 and "listeners[0].name = web  # %s:" % r.config_path in text,
          "/config:\n%s" % text[:400])
    check("admin.token = (none)" in text, "admin.token line")
    st, _, body = admin_req(a, "GET", "/health")
    check(st == 200 and body == b"ok\n", "/health %s %r" % (st, body))
    st, _, _ = admin_req(a, "GET", "/nope")
    check(st == 404, "unknown path %s" % st)
    st, hdrs, _ = admin_req(a, "POST", "/metrics")
    check(st == 405 and "GET" in hdrs.get("allow", ""), "POST /metrics %s" % st)
    r.finish()


def test_scrapes_during_traffic_see_counters_only_grow():
    """Scrapes read the workers' counters while they run (make tsan runs
    this too): each one sees at least what the previous one saw, and the
    last one after the traffic sees all of it."""
    import threading
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    n, errors = 300, []

    def traffic():
        try:
            k = http.client.HTTPConnection(a, WEB, timeout=30 * lib.SLOW)
            for _ in range(n):
                k.request("GET", "/")
                resp = k.getresponse()
                resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
            k.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=traffic)
    t.start()
    last = -1
    while t.is_alive():
        ms, _ = metrics(a)
        v = m(ms, "ringlb_http_requests_total", listener="web", code="2xx")
        check(v >= last, "2xx went back from %s to %s" % (last, v))
        last = v
    t.join()
    check(not errors, "traffic errors: %s" % errors[:5])
    ms, _ = metrics(a)
    check(m(ms, "ringlb_http_requests_total", listener="web", code="2xx") == n, "final 2xx")
    check(m(ms, "ringlb_request_duration_seconds_count", listener="web") == n, "final count")
    r.finish()


def test_prometheus_server_scrapes_and_promql_counts():
    prom = shutil.which("prometheus")
    if not prom:
        raise lib.TestSkip("no prometheus binary (Debian package prometheus)")
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    _, sts = served_by(a, WEB, 17)
    check(sts == [200] * 17, "statuses %s" % sts)
    d = lib.tmpdir()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: ringlb\n    static_configs:\n"
                "      - targets: ['%s:%d']\n" % (a, ADMIN))
    p = lib.Proc([prom, "--config.file=" + os.path.join(d, "prometheus.yml"),
                  "--storage.tsdb.path=" + os.path.join(d, "data"),
                  "--web.listen-address=%s:%d" % (a, PROM)], name="prometheus")
    q = 'sum(ringlb_http_requests_total{job="ringlb",listener="web",code="2xx"})'
    url = "/api/v1/query?query=" + urllib.parse.quote(q)
    deadline = time.monotonic() + 90 * lib.SLOW
    got = None
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(a, PROM, timeout=5)
            c.request("GET", url)
            res = json.loads(c.getresponse().read())
            c.close()
            if res.get("status") == "success" and res["data"]["result"]:
                got = float(res["data"]["result"][0]["value"][1])
                if got == 17:
                    break
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    check(got == 17, "PromQL %s returned %s, expected 17; prometheus:\n%s" % (q, got, p.tail()))
    p.stop()
    r.finish()


def test_non_loopback_bind_without_token_is_a_config_error():
    d = lib.tmpdir()
    path = os.path.join(d, "open.yaml")
    a = lib.loopback()
    with open(path, "w") as f:
        f.write(config(a).replace("bind: %s:%d" % (a, ADMIN), "bind: 0.0.0.0:%d" % ADMIN))
    p = subprocess.run([lib.BIN, "--check", "-c", path], capture_output=True, text=True,
                       timeout=30 * lib.SLOW)
    want = ("%s:4:9: admin.bind: 0.0.0.0:%d is not a loopback address and admin.token is "
            "unset (expected a loopback address, or admin.token)" % (path, ADMIN))
    check(p.returncode == 1 and want in p.stderr, "rc %s, stderr:\n%s" % (p.returncode, p.stderr))
    env = dict(os.environ, RINGLB_ADMIN_TOKEN="t0ken")
    p = subprocess.run([lib.BIN, "--check", "-c", path], capture_output=True, text=True,
                       env=env, timeout=30 * lib.SLOW)
    check(p.returncode == 0, "with RINGLB_ADMIN_TOKEN: rc %s\n%s" % (p.returncode, p.stderr))
    p = subprocess.run([lib.BIN, "--print-config", "-c", path], capture_output=True, text=True,
                       env=env, timeout=30 * lib.SLOW)
    check("admin.token = (set)  # RINGLB_ADMIN_TOKEN" in p.stdout and "t0ken" not in p.stdout,
          "the token is printed:\n%s" % p.stdout)


def test_wrong_token_gets_401_and_is_counted():
    a = lib.loopback()
    r = lib.Ringlb(config(a, admin_extra='  token: "right-token"'))
    st, hdrs, _ = admin_req(a, "GET", "/metrics")
    check(st == 401 and hdrs.get("www-authenticate", "").startswith("Bearer"),
          "no token: %s" % st)
    for tok in ("wrong-token", "right-toke", "right-token-", ""):
        st, _, _ = admin_req(a, "GET", "/stats", tok)
        check(st == 401, "token %r: %s" % (tok, st))
    st, _, _ = admin_req(a, "POST", "/reload", "nope")
    check(st == 401, "POST /reload without the token: %s" % st)
    st, _, _ = admin_req(a, "GET", "/health")
    check(st == 200, "/health needs no token: %s" % st)
    ms, _ = metrics(a, "right-token")
    check(m(ms, "ringlb_admin_unauthorized_total") == 6, "unauthorized counted: %s" %
          m(ms, "ringlb_admin_unauthorized_total"))
    check(m(ms, "ringlb_config_generation") == 1, "no reload happened")
    r.finish()


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 9000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"POST /backends/app/%zz/drain HTTP/1.1\r\nHost: x\r\n\r\n",
]


def test_a_thousand_malformed_requests_leave_ringlb_serving():
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    bad = 0
    for i in range(1000):
        s = socket.create_connection((a, ADMIN), timeout=10 * lib.SLOW)
        s.sendall(MALFORMED[i % len(MALFORMED)])
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        s.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        check(400 <= status < 500, "request %d (%r...) got %r" %
              (i, MALFORMED[i % len(MALFORMED)][:30], data[:80]))
        bad += 1
    st, _, _ = admin_req(a, "GET", "/health")
    check(st == 200, "/health after the garbage: %s" % st)
    _, sts = served_by(a, WEB, 5)
    check(sts == [200] * 5, "web after the garbage: %s" % sts)
    ms, _ = metrics(a)
    check(m(ms, "ringlb_admin_requests_total", code="4xx") == bad, "4xx counted")
    r.finish()


def test_post_reload_ok_then_failed_keeps_the_running_config():
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    r.write_config(config(a, body_a='body: "a2\\n"'))
    st, _, body = admin_req(a, "POST", "/reload")
    js = json.loads(body)
    check(st == 200 and js["result"] == "ok" and js["generation"] == 2, "reload: %s %s" %
          (st, body))
    r.wait_line(r"^ringlb: reload generation=2 ok$")
    c = http.client.HTTPConnection(a, SA, timeout=10)
    c.request("GET", "/")
    check(c.getresponse().read() == b"a2\n", "s-a serves the new body")
    c.close()
    r.write_config(config(a) + "\nmemory_tuning:\n  warning_threshold: 1.7\n")
    st, _, body = admin_req(a, "POST", "/reload")
    js = json.loads(body)
    check(st == 422 and js["result"] == "failed" and js["generation"] == 3 and
          js["running"] == 2, "failed reload: %s %s" % (st, body))
    check(any("memory_tuning.warning_threshold: 1.7 is out of range" in e and
              e.startswith(r.config_path + ":") for e in js["errors"]),
          "errors: %s" % js["errors"])
    ms, _ = metrics(a)
    check(m(ms, "ringlb_config_generation") == 2, "generation stays 2")
    check(m(ms, "ringlb_reloads_total", result="ok") == 1 and
          m(ms, "ringlb_reloads_total", result="failed") == 1, "reload counts")
    _, sts = served_by(a, WEB, 3)
    check(sts == [200] * 3, "still serving: %s" % sts)
    r.finish()


def test_drain_lets_inflight_l4_and_keepalive_finish_and_moves_new_connections():
    a = lib.loopback()
    d = lib.tmpdir()
    big = os.path.join(d, "big")
    size = 32 << 20
    with open(big, "wb") as f:
        f.write(b"x" * size)
    # s-a serves a big file (the in-flight L4 transfer), s-b a short body.
    r = lib.Ringlb(config(a, body_a="file: %s" % big))
    # An L4 transfer through l4 to s-a: find a connection that lands there.
    for _ in range(4):
        s = socket.create_connection((a, L4), timeout=30 * lib.SLOW)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        if b"X-Served-By: s-a" in head:
            break
        s.close()
    else:
        raise lib.TestFailure("no L4 connection reached s-a")
    got = len(head.split(b"\r\n\r\n", 1)[1])
    # An HTTP keep-alive client on web.
    k = http.client.HTTPConnection(a, WEB, timeout=30 * lib.SLOW)
    k.request("GET", "/")
    k.getresponse().read()
    st, _, body = admin_req(a, "POST", "/backends/app/%s/drain" %
                            urllib.parse.quote("%s:%d" % (a, SA)))
    check(st == 200 and json.loads(body)["admin"] == "drain", "drain: %s %s" % (st, body))
    r.wait_line(r"backend pool=app addr=%s:%d up->draining reason=admin" % (a, SA))
    # New connections and requests all go to s-b.
    who, sts = served_by(a, L4, 8)
    check(sts == [200] * 8 and who == ["s-b"] * 8, "new l4 connections: %s" % who)
    who, sts = served_by(a, WEB, 8)
    check(sts == [200] * 8 and who == ["s-b"] * 8, "new web requests: %s" % who)
    for _ in range(5):
        k.request("GET", "/")
        resp = k.getresponse()
        body = resp.read()
        check(resp.status == 200 and resp.getheader("X-Served-By") == "s-b",
              "keep-alive client: %s %s" % (resp.status, resp.getheader("X-Served-By")))
    k.close()
    # The in-flight transfer finishes.
    while got < size:
        chunk = s.recv(1 << 20)
        check(chunk, "the L4 transfer ended at %d of %d bytes" % (got, size))
        got += len(chunk)
    s.close()
    ms, _ = metrics(a)
    check(m(ms, "ringlb_backend_state", pool="app", backend="%s:%d" % (a, SA),
            state="draining") == 1, "draining in /metrics")
    check(m(ms, "ringlb_backend_up", pool="app", backend="%s:%d" % (a, SA)) == 0, "up 0")
    st, _, _ = admin_req(a, "POST", "/backends/app/%s:%d/enable" % (a, SA))
    check(st == 200, "enable %s" % st)
    st, _, _ = admin_req(a, "POST", "/backends/app/10.9.9.9:1/drain")
    check(st == 404, "unknown backend: %s" % st)
    st, _, _ = admin_req(a, "POST", "/backends/nopool/%s:%d/drain" % (a, SA))
    check(st == 404, "unknown pool: %s" % st)
    st, _, _ = admin_req(a, "POST", "/backends/app/%s:%d/explode" % (a, SA))
    check(st == 404, "unknown action: %s" % st)
    r.finish()


def test_all_backends_disabled_counts_refusals_and_503s():
    a = lib.loopback()
    r = lib.Ringlb(config(a))
    for port in (SA, SB):
        st, _, _ = admin_req(a, "POST", "/backends/app/%s:%d/disable" % (a, port))
        check(st == 200, "disable %d: %s" % (port, st))
    for _ in range(3):
        s = socket.create_connection((a, L4), timeout=10 * lib.SLOW)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        check(data == b"", "l4 with every backend disabled answered %r" % data[:60])
        s.close()
    _, sts = served_by(a, WEB, 4)
    check(sts == [503] * 4, "web with every backend disabled: %s" % sts)
    ms, _ = metrics(a)
    check(m(ms, "ringlb_connections_rejected_total", listener="l4", reason="no_backend") == 3,
          "l4 refusals counted")
    check(m(ms, "ringlb_http_requests_total", listener="web", code="5xx") == 4, "503s counted")
    for port in (SA, SB):
        check(m(ms, "ringlb_backend_state", pool="app", backend="%s:%d" % (a, port),
                state="disabled") == 1, "disabled in /metrics")
    r.finish()


def test_health_says_503_while_draining():
    a = lib.loopback()
    r = lib.Ringlb(config(a).replace("    splice: never\n",
                                     "    splice: never\n    timeouts: { drain: 20s }\n"))
    s = socket.create_connection((a, L4), timeout=30)  # keeps the drain going
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(4096)
    start = r.count()
    r.kill(signal.SIGTERM)
    r.wait_line(r"stopping: draining connections", 20, start)
    deadline = time.monotonic() + 10
    st = None
    while time.monotonic() < deadline:
        st, _, body = admin_req(a, "GET", "/health")
        if st == 503:
            break
        time.sleep(0.05)
    check(st == 503 and body == b"draining\n", "/health while draining: %s" % st)
    s.close()
    check(r.wait(60) == 0, "exit status")


STARVED = """
workers: 1
admin:
  bind: {addr}:%d
listeners:
  - name: flood
    bind: {addr}:%d
    mode: tcp
    pool: sink
    splice: never
    max_connections: 5000
    backlog: 4096
pools:
  - name: sink
    backends: [ {{ address: "{addr}:%d" }} ]
buffer_pools:
  small_buffers:  {{ initial_count: 100, max_count: 10000, growth_factor: 1.5 }}
  medium_buffers: {{ initial_count: 300, max_count: 5000, growth_factor: 1.3 }}
  large_buffers:  {{ initial_count: 10, max_count: 1000, growth_factor: 1.2 }}
  giant_buffers:  {{ initial_count: 2, max_count: 100, growth_factor: 1.1 }}
memory_limits: {{ max_total_memory: 48MB, buffer_pool_memory: 40MB, connection_memory: 8MB, ssl_context_memory: 4MB, cache_memory: 4MB }}
memory_tuning: {{ socket_sndbuf: 16KB, socket_rcvbuf: 16KB, pool_check_interval: 200ms }}
""" % (ADMIN, L4, SB)


def test_the_endpoint_answers_while_a_flood_holds_every_buffer():
    # Found by the soak (tools/soak.sh): with every pool buffer held by
    # connections to a backend that does not read (Critical pressure), the
    # admin connection's receive waited in the worker's FIFO for a buffer:
    # a keep-alive /stats took 19.8 s, and new admin connections were
    # refused with the rest. The endpoint reads into its own memory when
    # the ring is dry and accepts whatever the pressure.
    addr = lib.loopback()
    sink = lib.echo("%s:%d" % (addr, SB), "hold", extra=["--rcvbuf", "4096"])
    r = lib.Ringlb(STARVED.format(addr=addr), args=["--seed", "7"])
    keep = http.client.HTTPConnection(addr, ADMIN, timeout=30 * lib.SLOW)
    keep.request("GET", "/stats")
    check(keep.getresponse().read(), "no /stats")
    flood = lib.Proc([os.path.join(lib.TOOLS, "l4client"), "-c", "%s:%d" % (addr, L4), "-n", "3500",
                      "-b", str(256 << 10), "-m", "hold", "--reset-at-end",
                      "--timeout", str(120 * lib.SLOW)], name="l4client")
    deadline = time.monotonic() + 60 * lib.SLOW
    while True:
        t = r.stats_total()
        mem = [lib.kv(l) for l in r.stats() if l.startswith("ringlb: stats memory level=")][0]
        if mem["level"] == "critical" and t["buffer_waits"] > 0:
            break
        check(time.monotonic() < deadline, "no Critical pressure with buffer waits: %s %s" % (mem, t))
        time.sleep(0.2)
    time.sleep(1)  # the flood goes on holding everything
    for k in range(5):
        t0 = time.monotonic()
        try:
            keep.request("GET", "/stats")
            body = json.loads(keep.getresponse().read())
        except (OSError, http.client.HTTPException) as e:
            raise lib.TestFailure("keep-alive /stats %d under Critical pressure: %r\n%s" % (k, e, r.tail()))
        took = time.monotonic() - t0
        check(took < 3 * lib.SLOW, "keep-alive /stats took %.1fs under Critical pressure" % took)
        check(body["pressure"]["name"] == "critical", "pressure %s" % body["pressure"])
        t0 = time.monotonic()
        st, _, _ = admin_req(addr, "GET", "/health", timeout=10)
        took = time.monotonic() - t0
        check(st == 200 and took < 3 * lib.SLOW, "a new admin connection: %s in %.1fs" % (st, took))
    keep.close()
    flood.stop()
    r.finish()
    sink.stop()


def ctl(*args, env=None):
    e = dict(os.environ)
    e.pop("RINGLB_ADMIN_TOKEN", None)
    if env:
        e.update(env)
    p = subprocess.run([sys.executable, CTL] + list(args), capture_output=True, text=True,
                       env=e, timeout=60 * lib.SLOW)
    return p.returncode, p.stdout, p.stderr


def test_ringlbctl_commands_and_exit_codes():
    a = lib.loopback()
    r = lib.Ringlb(config(a, admin_extra='  token: "tk"'))
    served_by(a, WEB, 4)
    adm = "%s:%d" % (a, ADMIN)
    rc, out, err = ctl("--help")
    check(rc == 0 and "drain" in out and "reload" in out, "--help: %s %s" % (rc, out))
    rc, out, err = ctl()
    check(rc == 2, "no command: %s" % rc)
    rc, out, err = ctl("--admin", adm, "frobnicate")
    check(rc == 2, "bad command: %s" % rc)
    rc, out, err = ctl("--admin", adm, "status")
    check(rc == 1 and "401" in err, "no token: %s %s" % (rc, err))
    rc, out, err = ctl("--admin", adm, "--token", "tk", "status")
    check(rc == 0 and "app" in out and "%s:%d" % (a, SA) in out and "up" in out,
          "status: %s\n%s%s" % (rc, out, err))
    env = {"RINGLB_ADMIN_TOKEN": "tk"}
    rc, out, err = ctl("--admin", adm, "drain", "app", "%s:%d" % (a, SB), env=env)
    check(rc == 0, "drain: %s %s" % (rc, err))
    rc, out, err = ctl("--admin", adm, "status", env=env)
    check("draining" in out, "status after drain:\n%s" % out)
    rc, out, err = ctl("--admin", adm, "disable", "app", "%s:%d" % (a, SB), env=env)
    check(rc == 0, "disable: %s" % rc)
    rc, out, err = ctl("--admin", adm, "enable", "app", "%s:%d" % (a, SB), env=env)
    check(rc == 0, "enable: %s" % rc)
    rc, out, err = ctl("--admin", adm, "drain", "app", "10.1.1.1:1", env=env)
    check(rc == 1 and "not found" in err, "unknown backend: %s %s" % (rc, err))
    rc, out, err = ctl("--admin", adm, "drain", "app", env=env)
    check(rc == 2, "drain without an address: %s" % rc)
    rc, out, err = ctl("--admin", adm, "reload", env=env)
    check(rc == 0 and "generation=2 ok" in out, "reload: %s %s %s" % (rc, out, err))
    r.write_config(config(a, admin_extra='  token: "tk"') + "\nworkers: nope\n")
    rc, out, err = ctl("--admin", adm, "reload", env=env)
    check(rc == 1 and "failed" in out and "workers" in err, "bad reload: %s %s %s" %
          (rc, out, err))
    rc, out, err = ctl("--admin", adm, "memory", env=env)
    check(rc == 0 and "buffer" in out and "pressure" in out, "memory: %s %s" % (rc, out))
    rc, out, err = ctl("--admin", "%s:%d" % (a, ADMIN + 50), "status", env=env)
    check(rc == 3, "unreachable: %s %s" % (rc, err))
    r.finish()


lib.main(globals(), limit=180)
