"""Fault injection (core/base/fault.h): build/asan/ringlb (`make fault`) with
RINGLB_FAULT making one kind of operation fail at a rate, under real traffic
through an HTTP, an L4 and a TLS listener (ringlb's own static listeners and
the echo tool behind them). For each kind: some requests still succeed, the
counter that kind of failure moves in (SIGUSR1's stats lines, and /metrics)
moved by at least the number of faults injected, and the process exits 0
with no sanitizer report and the accountant back at zero.

A build without the hooks (the release build of `make test`) refuses to
start with RINGLB_FAULT set: every test here is then skipped.
"""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
import tlscerts  # noqa: E402
from lib import check  # noqa: E402

P_HTTP, P_L4, P_TLS, P_SA, P_SB, P_ECHO, P_ADMIN = 8080, 8090, 8443, 8081, 8082, 8083, 9090
P_BIG, P_SBIG = 8084, 8085
BIG = bytes(range(256)) * 4096 + b"end\n"  # 1 MiB and 4 bytes, served from a file

CONFIG = """
workers: 2
admin:
  bind: {addr}:{admin}
listeners:
  - name: web
    bind: {addr}:{http}
    mode: http
    pool: web
    max_connections: 512
  - name: l4
    bind: {addr}:{l4}
    mode: tcp
    pool: echo
    splice: never
    max_connections: 512
  - name: secure
    bind: {addr}:{tls}
    mode: http
    pool: web
    max_connections: 512
    tls: {{ cert: {cert}, key: {key} }}
  - name: s-a
    bind: {addr}:{sa}
    mode: static
    max_connections: 512
    body: "hello from s-a\\n"
  - name: s-b
    bind: {addr}:{sb}
    mode: static
    max_connections: 512
    body: "hello from s-b\\n"
  - name: big
    bind: {addr}:{big}
    mode: http
    pool: big
    max_connections: 512
  - name: s-big
    bind: {addr}:{sbig}
    mode: static
    max_connections: 512
    file: {bigfile}
{more_listeners}pools:
  - name: web
    backends:
      - {{ address: {addr}:{sa} }}
      - {{ address: {addr}:{sb} }}
  - name: echo
    backends:
      - {{ address: {addr}:{echo} }}
  - name: big
    backends:
      - {{ address: {addr}:{sbig} }}
{more_pools}"""

_certs = {}


def certs():
    if "d" not in _certs:
        d = tempfile.mkdtemp(prefix="rlb-fault-")
        tlscerts.make(d)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(BIG)
        _certs["d"] = d
    return _certs["d"]


def config(addr, more_listeners="", more_pools=""):
    """CONFIG on <addr>; the extra parts are formatted with addr and ca."""
    d = certs()
    more = {"addr": addr, "ca": os.path.join(d, "ca.pem")}
    return CONFIG.format(addr=addr, http=P_HTTP, l4=P_L4, tls=P_TLS, sa=P_SA, sb=P_SB,
                         echo=P_ECHO, admin=P_ADMIN, big=P_BIG, sbig=P_SBIG,
                         bigfile=os.path.join(d, "big.bin"), cert=os.path.join(d, "site-ec.pem"),
                         key=os.path.join(d, "site-ec.key"),
                         more_listeners=more_listeners.format(**more),
                         more_pools=more_pools.format(**more))


class Run:
    """One ringlb with RINGLB_FAULT=<spec>, its echo backend, and counters."""

    def __init__(self, spec, extra_env=None, more_listeners="", more_pools=""):
        self.addr = lib.loopback()
        self.echo = lib.echo("%s:%d" % (self.addr, P_ECHO))
        cfg = config(self.addr, more_listeners, more_pools)
        env = {"RINGLB_FAULT": spec, "RINGLB_FAULT_SEED": "7"}
        env.update(extra_env or {})
        self.r = lib.Ringlb(cfg, args=["--seed", "7"], env=env, ready=False)
        m, _ = self.r.wait_line(r"^ringlb: (ready pid=|error: RINGLB_FAULT)", 60)
        if "error" in m.group(0):
            self.r.wait(30)
            raise lib.TestSkip("this build has no fault hooks (make fault runs this suite)")
        self.spec = spec
        self.before = self.snapshot()

    def snapshot(self):
        """Every counter a kind may move in, from one SIGUSR1 snapshot."""
        lines = self.r.stats(30)
        out = {}
        for l in lines:
            kv = lib.kv(l)
            if l.startswith("ringlb: stats total "):
                out.update({k: v for k, v in kv.items() if isinstance(v, int)})
            elif l.startswith("ringlb: stats memory component="):
                out["refused"] = out.get("refused", 0) + kv["refused"]
            elif l.startswith("ringlb: stats pool "):
                out["pool_fails"] = out.get("pool_fails", 0) + kv["fails"]
            elif l.startswith("ringlb: stats backend "):
                out["backend_connect_fail"] = (out.get("backend_connect_fail", 0) +
                                               kv["connect_fail"])
            elif l.startswith("ringlb: stats tls reason=no_memory "):
                out["tls_no_memory"] = kv["failures"]
            elif l.startswith("ringlb: stats fault "):
                out["injected"] = out.get("injected", 0) + kv["injected"]
                out["calls"] = out.get("calls", 0) + kv["calls"]
        return out

    def get(self, path):
        """GET <path> on the admin endpoint; the body of its 200 (retried:
        the admin endpoint runs on the ring the faults hit too)."""
        deadline = time.monotonic() + 30 * lib.SLOW
        while True:
            try:
                c = http.client.HTTPConnection(self.addr, P_ADMIN, timeout=5 * lib.SLOW)
                c.request("GET", path)
                resp = c.getresponse()
                body = resp.read().decode()
                c.close()
                if resp.status == 200:
                    return body
            except (OSError, http.client.HTTPException):
                pass
            check(time.monotonic() < deadline, "no answer to %s within 30s" % path)
            time.sleep(0.05)

    def wait_no_clients(self, listeners=("web", "l4", "secure"), timeout=30):
        """Polls /stats until none of <listeners> has a client connection
        open: the clients are gone, so a connection still open is stuck (a
        failure path that forgot it)."""
        deadline = time.monotonic() + timeout * lib.SLOW
        while True:
            st = json.loads(self.get("/stats"))
            open_ = {l["name"]: l["active"] for l in st["listeners"]
                     if l["name"] in listeners and l["active"]}
            if not open_:
                return
            check(time.monotonic() < deadline,
                  "client connections still open %ss after the clients left: %s" %
                  (timeout * lib.SLOW, open_))
            time.sleep(0.1)

    def metric(self, family):
        """The sum of a /metrics family's samples (but a component="total"
        one, the sum of the others)."""
        body = self.get("/metrics")
        total, seen = 0, False
        for l in body.splitlines():
            m = re.match(r"^%s(?:\{[^}]*\})? (\d+)$" % re.escape(family), l)
            if m and 'component="total"' not in l:
                total += int(m.group(1))
                seen = True
        check(seen, "no family %s in /metrics" % family)
        return total

    def finish(self):
        """SIGTERM: exit 0, no sanitizer report, exit memory at zero (lib),
        the summary whole; returns (summary, injected at exit)."""
        s = self.r.finish(120)
        out = self.r.output()
        check("reloads_failed=" in re.search(r"^ringlb: summary .*$", out, re.M).group(0),
              "the summary line was cut short")
        inj = 0
        for m in re.finditer(r"^ringlb: fault kind=\S+ when=\S+ calls=\d+ injected=(\d+)$", out,
                             re.M):
            inj += int(m.group(1))
        check(re.search(r"^ringlb: fault kind=", out, re.M), "no fault line at exit")
        self.echo.stop()
        return s, inj


# ---- traffic ----

def http_requests(addr, port, n, tls=False, keepalive=False, threads=4, big=False):
    """<n> GETs from <threads> clients; (ok, failed). A failure is anything
    but a 200 with a static body (<big>: BIG, whole): an error status, a
    reset, a timeout, a body cut short."""
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=os.path.join(certs(), "ca.pem"))
    res = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def conn():
        c = http.client.HTTPConnection(addr, port, timeout=10 * lib.SLOW)
        if tls:
            # The certificate names site.test (and 127.0.0.1, not this
            # test's own address): the TLS socket is made here.
            raw = socket.create_connection((addr, port), timeout=10 * lib.SLOW)
            try:
                c.sock = ctx.wrap_socket(raw, server_hostname="site.test")
            except BaseException:
                raw.close()
                raise
        return c

    def worker(k):
        c = None
        for _ in range(k):
            ok = False
            try:
                if c is None:
                    c = conn()
                c.request("GET", "/", headers={} if keepalive else {"Connection": "close"})
                r = c.getresponse()
                body = r.read()
                ok = r.status == 200 and (body == BIG if big else body.startswith(b"hello from s-"))
                if not keepalive or r.will_close:
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException, ssl.SSLError):
                if c:
                    c.close()
                c = None
            with lock:
                res["ok" if ok else "failed"] += 1
        if c:
            c.close()

    ts = [threading.Thread(target=worker, args=(n // threads,)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300 * lib.SLOW)
    return res["ok"], res["failed"]


def l4_echo(addr, conns, nbytes):
    """l4client echo through the L4 listener; (ok, failed)."""
    _, d = lib.l4client("%s:%d" % (addr, P_L4), conns, nbytes, extra=["--parallel", "16"],
                        timeout=120)
    return d["ok"], d["failed"] + d.get("unfinished", 0)


def mixed(run, n=200):
    """HTTP (close and keep-alive, small and 1 MiB bodies), TLS and L4
    echo; totals (ok, failed)."""
    parts = [http_requests(run.addr, P_HTTP, n),
             http_requests(run.addr, P_HTTP, n, keepalive=True),
             http_requests(run.addr, P_BIG, n // 8, keepalive=True, big=True),
             http_requests(run.addr, P_TLS, n // 2, tls=True),
             l4_echo(run.addr, n // 4, 64 << 10)]
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


# ---- one test per kind ----

def fault_case(kind, spec, counters, traffic=mixed, metric=None, effects=(), lossless=False):
    """Runs <traffic> under RINGLB_FAULT=<spec>; <counters> are the
    snapshot keys whose sum must have grown by at least what was injected;
    <metric> the /metrics family that must show the same growth; <effects>
    counters of what the failure did to a connection (where <counters> is
    counted at the hook itself), of which one at least must have moved.
    <lossless>: the fault only delays (a full queue, a failed submit, a
    short write), so no request may fail at all."""
    run = Run(spec)
    metric_before = run.metric(metric) if metric else None
    ok, failed = traffic(run)
    run.wait_no_clients()
    after = run.snapshot()
    injected = after.get("injected", 0) - run.before.get("injected", 0)
    # A fault may land between a snapshot's worker lines and its fault
    # lines (the snapshot's own sends can be the call): the counters are
    # read from a later one, which has seen every fault of the first.
    later = run.snapshot()
    moved = sum(later.get(k, 0) - run.before.get(k, 0) for k in counters)
    print("%s: spec=%s ok=%d failed=%d injected=%d calls=%d" %
          (kind, spec, ok, failed, injected, after.get("calls", 0)))
    for k in counters:
        print("%s: %s before=%d after=%d" % (kind, k, run.before.get(k, 0), after.get(k, 0)))
    check(injected > 0, "%s: no fault injected (%d calls)" % (kind, after.get("calls", 0)))
    check(ok > 0, "%s: nothing succeeded under the fault (%d failed)" % (kind, failed))
    check(not lossless or failed == 0, "%s: %d requests failed, none may" % (kind, failed))
    check(moved >= injected, "%s: %s moved by %d, fewer than the %d faults injected" %
          (kind, "+".join(counters), moved, injected))
    if effects:
        moved = {k: after.get(k, 0) - run.before.get(k, 0) for k in effects}
        print("%s: effects %s" % (kind, moved))
        check(any(moved.values()), "%s: none of %s moved" % (kind, ", ".join(effects)))
    if metric:
        m = run.metric(metric)
        print("%s: /metrics %s before=%d after=%d" % (kind, metric, metric_before, m))
        check(m - metric_before >= injected, "%s: /metrics %s moved by %d, injected %d" %
              (kind, metric, m - metric_before, injected))
    summary, inj_exit = run.finish()
    check(inj_exit >= injected, "exit fault line says %d, the snapshot %d" % (inj_exit, injected))
    return ok, failed


EFFECTS = ("tls_failed", "http_errors", "buffer_fails", "aborts", "recv_errors")


def test_alloc_refused_by_the_accountant():
    fault_case("alloc", "alloc=0.02", ["refused"], metric="ringlb_memory_refused_total",
               effects=EFFECTS)


def test_pool_get_returns_nothing():
    fault_case("pool", "pool=0.02", ["pool_fails"], metric="ringlb_pool_fails_total",
               effects=EFFECTS)


def test_submission_queue_full():
    fault_case("sqe", "sqe=0.05", ["sq_full"], metric="ringlb_worker_sq_full_total",
               lossless=True)


def test_submit_fails():
    fault_case("submit", "submit=0.05", ["submit_errors"],
               metric="ringlb_worker_submit_errors_total", lossless=True)


def test_accept_out_of_descriptors():
    fault_case("accept", "accept=0.05", ["accept_errors"],
               metric="ringlb_worker_accept_errors_total")


def test_connect_refused_or_timed_out():
    fault_case("connect", "connect=0.05", ["connect_fail"],
               metric="ringlb_worker_connect_fail_total", effects=("connect_timeout",))


def test_connect_refused_counts_per_backend():
    fault_case("connect", "connect=0.05", ["backend_connect_fail"])


def test_send_fails():
    fault_case("send", "send=0.02", ["send_errors"], metric="ringlb_worker_send_errors_total")


def test_short_sends_keep_every_byte():
    # l4client checks every echoed byte: a short send that lost or
    # repeated bytes fails it. Nothing may fail here at all.
    def traffic(run):
        ok, failed = l4_echo(run.addr, 64, 256 << 10)
        check(failed == 0, "short: %d L4 echo streams failed" % failed)
        a = http_requests(run.addr, P_HTTP, 100, keepalive=True)
        b = http_requests(run.addr, P_BIG, 24, keepalive=True, big=True)
        c = http_requests(run.addr, P_TLS, 50, tls=True)
        check(a[1] == 0 and b[1] == 0 and c[1] == 0,
              "short: requests failed: http %s big %s tls %s" % (a, b, c))
        return ok + a[0] + b[0] + c[0], failed + a[1] + b[1] + c[1]

    fault_case("short", "short=0.2", ["short_sends"], traffic=traffic,
               metric="ringlb_worker_short_sends_total", lossless=True)


def test_pool_faults_on_a_small_receive_ring_make_streams_wait_not_fail():
    # 16 provided buffers of 16 KiB (max_count 40) and the pool refusing a
    # third of its gets: ring slots stay empty, receives end with a real
    # -ENOBUFS, and the connections wait for buffers (buffer_waits) and
    # resume. L4 streams take no buffer but the ring's: every one of them
    # must come back whole.
    small = """buffer_pools:
  medium_buffers: {{ initial_count: 16, max_count: 40, growth_factor: 1.5 }}
"""
    run = Run("pool=0.3", more_pools=small)
    ok, failed = l4_echo(run.addr, 100, 256 << 10)
    run.wait_no_clients()
    after = run.snapshot()
    waits = after["buffer_waits"] - run.before["buffer_waits"]
    print("pool=0.3, small ring: ok=%d failed=%d injected=%d pool_fails=%d buffer_fails=%d "
          "buffer_waits=%d" % (ok, failed, after["injected"], after["pool_fails"],
                               after["buffer_fails"], waits))
    check(failed == 0 and ok == 100, "streams failed: ok=%d failed=%d" % (ok, failed))
    check(after["injected"] > 0 and after["pool_fails"] >= after["injected"],
          "pool_fails %d, injected %d" % (after["pool_fails"], after["injected"]))
    check(waits > 0, "no connection waited for a buffer: the ring never ran dry")
    run.finish()


def test_streams_waiting_for_ring_buffers_resume_without_a_second_of_sleep():
    # Regression: with the pool refusing most gets, ring slots stay holes
    # and connections wait for buffers; the worker slept up to 1 s (its
    # longest wait) before retrying the refill, as no completion came to
    # wake it: 75 echo streams of 64 KiB took 42 to 145 s. Now the wait is
    # 10 ms while connections wait: well under a second here.
    # Whether the ring runs dry depends on how fast the clients send on a
    # loaded machine: a round where no connection waited proves nothing,
    # so up to five rounds are run until one has waited.
    run = Run("pool=0.9")
    for rnd in range(5):
        before = run.snapshot()["buffer_waits"]
        rc, d = lib.l4client("%s:%d" % (run.addr, P_L4), 75, 64 << 10,
                             extra=["--parallel", "16"], timeout=120)
        waits = run.snapshot()["buffer_waits"] - before
        print("pool=0.9 round %d: l4 echo %s buffer_waits=%d" % (rnd, d, waits))
        check(rc == 0 and d["ok"] == 75, "streams failed: %s" % d)
        check(d["secs"] < 25, "75 streams of 64 KiB took %.1fs under pool faults" % d["secs"])
        if waits > 0:
            break
    check(waits > 0, "no connection waited for a buffer in 5 rounds")
    run.finish()


def test_recv_reset():
    fault_case("recv", "recv=0.02", ["recv_errors"], metric="ringlb_worker_recv_errors_total")


def test_a_kernel_refusing_the_receive_cap_is_read_from_without_it():
    # Linux before 6.17 refuses a multishot recv that carries a byte cap
    # (-EINVAL). Here every capped recv is refused so: each worker's first
    # one turns the cap off for that worker (recv_uncapped), the
    # connection is armed again without it, and no request fails.
    # (No /metrics check: the first admin request may be the refused one.)
    fault_case("recvcap", "recvcap=@1", ["recv_uncapped"], lossless=True)


def test_tls_session_not_created():
    def traffic(run):
        return http_requests(run.addr, P_TLS, 200, tls=True)

    fault_case("tls", "tls=0.1", ["tls_no_memory"], traffic=traffic,
               metric="ringlb_tls_failures_total")


def test_every_kind_at_once():
    fault_case("all", "alloc=0.005,pool=0.005,sqe=0.01,submit=0.01,accept=0.01,connect=0.01,"
               "send=0.005,short=0.05,recv=0.005,tls=0.02",
               ["refused", "pool_fails", "sq_full", "submit_errors", "accept_errors",
                "connect_fail", "send_errors", "short_sends", "recv_errors", "tls_no_memory"])


def test_every_nth_call_is_exact():
    # @N: the Nth, 2Nth... connect fails, and only those (each L4
    # stream connects once).
    run = Run("connect=@10")
    ok, failed = l4_echo(run.addr, 100, 1024)
    run.wait_no_clients()
    after = run.snapshot()
    calls, inj = after["calls"], after["injected"]
    print("connect=@10: calls=%d injected=%d ok=%d failed=%d" % (calls, inj, ok, failed))
    check(calls >= 100 and inj == calls // 10, "@10: %d injected of %d calls" % (inj, calls))
    # every second one is a timeout (the linked timeout's -ECANCELED);
    # the parity is read after the count, so two workers at once may tip it
    tmo = after["connect_timeout"] - run.before["connect_timeout"]
    check(abs(tmo - inj // 2) <= 1, "@10: %d connect timeouts of %d faults" % (tmo, inj))
    check(failed == inj, "@10: %d streams failed, %d connects were refused" % (failed, inj))
    check(after["connect_fail"] - run.before["connect_fail"] >= inj, "connect_fail: %s" % after)
    run.finish()


def test_a_build_with_hooks_refuses_a_bad_spec():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr), env={"RINGLB_FAULT": "recv=2"}, ready=False)
    m, _ = r.wait_line(r"^ringlb: error: RINGLB_FAULT", 60)
    if "no fault injection hooks" in m.string:
        r.wait(30)
        raise lib.TestSkip("this build has no fault hooks")
    check("bad rule" in m.string, "unexpected error: %s" % m.string)
    check(r.wait(30) == 1, "a bad RINGLB_FAULT must exit 1")


if __name__ == "__main__":
    try:
        lib.main(globals(), limit=300)
    finally:
        if "d" in _certs:
            shutil.rmtree(_certs["d"], True)
