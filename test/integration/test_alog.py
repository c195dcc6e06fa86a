"""Access log (listeners[].access_log): under wrk load one line per request
in the text, json and template formats (counted against ringlb's own
request counter and wrk's sent and completed counts), JSON lines that parse,
one line per TCP session with its byte counts, mv + SIGUSR2 losing no line,
a FIFO nobody reads: lines dropped and counted while requests go on at their
rate, stderr and syslog (a test-owned AF_UNIX datagram socket), TLS version
and SNI, a reload switching the format for new connections."""
import json
import os
import re
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

# wrk's own counts: requests written (request() per thread) and completed.
WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0 end
function request() sent = sent + 1 return wrk.request() end
function done(summary, latency, requests)
  local s = 0
  for _, t in ipairs(threads) do s = s + t:get("sent") end
  local e = summary.errors
  io.write(string.format("wrk-counts sent=%d completed=%d errors=%d\\n", s, summary.requests,
           e.connect + e.read + e.write + e.status + e.timeout))
end
"""

TEXT_RX = re.compile(
    r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+):(\d+) (\S+) (\S+) (\S+) '
    r'"(\S+) (\S+) (\S+)" (\S+) (\d+) (\d+) (\S+)/(\S+)/(\S+)/(\S+) (\S\S) (\S+) (\S+)$')


def config(addr, listeners, workers=2, extra=""):
    return """
workers: %d
%s
listeners:
%s
  - name: st
    bind: %s:7081
    mode: static
    max_connections: 512
    body: "hello from st\\n"
pools:
  - name: app
    backends:
      - { address: %s:7081 }
""" % (workers, extra, listeners, addr, addr)


def http_listener(name, addr, port, access_log, mode="http", extra=""):
    return """  - name: %s
    bind: %s:%d
    mode: %s
    pool: app
    max_connections: 512
    access_log: %s
%s""" % (name, addr, port, mode, access_log, extra)


def wrk(url, secs=3, conns=10):
    """wrk -t1 through <url>; returns (sent, completed, errors, req/s)."""
    d = lib.tmpdir()
    script = os.path.join(d, "count.lua")
    with open(script, "w") as f:
        f.write(WRK_LUA)
    p = lib.Proc(["wrk", "-t1", "-c%d" % conns, "-d%ds" % secs, "-s", script, url], name="wrk")
    rc = p.wait(secs + 60)
    out = p.output()
    m = re.search(r"wrk-counts sent=(\d+) completed=(\d+) errors=(\d+)", out)
    r = re.search(r"Requests/sec:\s+([\d.]+)", out)
    check(rc == 0 and m and r, "wrk rc=%s:\n%s" % (rc, out))
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), float(r.group(1))


def lines_of(path, whole=True):
    """The lines of <path>. <whole>: it must end with a line's end (the log
    is at rest); else a line being written is left out (a read can see a
    write to a regular file half copied)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    if whole:
        check(not data or data.endswith(b"\n"), "%s ends inside a line" % path)
    else:
        data = data[:data.rfind(b"\n") + 1]
    return data.decode("ascii").splitlines()


def wait_lines(path, n, timeout=20):
    """Polls <path>, being written, until it has at least <n> whole lines;
    returns them."""
    deadline = time.monotonic() + timeout * lib.SLOW
    while True:
        ls = lines_of(path, whole=False)
        if len(ls) >= n or time.monotonic() > deadline:
            return ls
        time.sleep(0.05)


def requests_now(rl):
    return rl.stats_total()["http_requests"]


def settle(rl, path, before, timeout=20):
    """Waits until <path> has a line for every request ringlb dispatched
    since <before> (its counter once wrk's last requests are done);
    returns (dispatched, lines)."""
    deadline = time.monotonic() + timeout * lib.SLOW
    while True:
        n = requests_now(rl) - before
        lines = lines_of(path, whole=False)
        if (len(lines) == n and requests_now(rl) - before == n) or time.monotonic() > deadline:
            return n, lines_of(path)  # at rest now: whole lines only
        time.sleep(0.1)


def check_counts(name, lines, dispatched, sent, completed):
    """One line per request: as many as ringlb dispatched, between what
    wrk completed and what it wrote (it stops with some in flight)."""
    check(len(lines) == dispatched,
          "%s: %d lines for %d requests dispatched" % (name, len(lines), dispatched))
    check(completed <= len(lines) <= sent,
          "%s: %d lines, wrk completed %d and sent %d" % (name, len(lines), completed, sent))
    check(completed > 100, "%s: wrk completed only %d requests" % (name, completed))


def test_wrk_one_line_per_request_in_each_format():
    addr = lib.loopback()
    d = lib.tmpdir()
    logs = {f: os.path.join(d, f + ".log") for f in ("text", "json", "tpl")}
    tpl = '"%{method} %{target} %{status} %{termination} %{listener} 100%%"'
    ls = (http_listener("t", addr, 7000, "{ path: %s }" % logs["text"]) +
          http_listener("j", addr, 7001, "{ path: %s, format: json }" % logs["json"]) +
          http_listener("p", addr, 7002, "{ path: %s, format: %s }" % (logs["tpl"], tpl)))
    rl = lib.Ringlb(config(addr, ls))
    for i, f in enumerate(("text", "json", "tpl")):
        before = requests_now(rl)
        sent, completed, errors, _ = wrk("http://%s:%d/x?f=%s" % (addr, 7000 + i, f))
        check(errors == 0, "%s: wrk errors %d" % (f, errors))
        dispatched, lines = settle(rl, logs[f], before)
        check_counts(f, lines, dispatched, sent, completed)
        ok = 0
        for line in lines:
            if f == "text":
                m = TEXT_RX.match(line)
                check(m, "text line does not parse: %r" % line)
                check(m.group(4) == "t" and m.group(5) == "app" and
                      m.group(6) == "%s:7081" % addr and m.group(7) == "GET" and
                      m.group(8) == "/x?f=text" and m.group(9) == "HTTP/1.1",
                      "text fields: %r" % line)
                ok += m.group(10) == "200" and m.group(17) == "--"
            elif f == "json":
                o = json.loads(line)
                check(o["listener"] == "j" and o["type"] == "http" and o["method"] == "GET" and
                      o["target"] == "/x?f=json" and o["backend"] == "%s:7081" % addr and
                      o["client_addr"] == "127.0.0.1" and isinstance(o["client_port"], int) and
                      isinstance(o["total_ms"], int) and o["tls_version"] is None,
                      "json fields: %r" % line)
                ok += o["status"] == 200 and o["termination"] == "--"
            else:
                check(re.match(r"^GET /x\?f=tpl (200|-) (\S\S) p 100%$", line),
                      "template line: %r" % line)
                ok += line.startswith("GET /x?f=tpl 200 -- ")
        check(ok >= completed, "%s: %d complete lines, wrk completed %d" % (f, ok, completed))
    s = rl.finish()
    check(s["log_dropped"] == 0 and s["log_unwritten"] == 0, "lines dropped: %s" % s)
    total = sum(len(lines_of(p)) for p in logs.values())
    check(total == s["http_requests"],
          "%d lines in all for %d requests" % (total, s["http_requests"]))


def test_tcp_sessions_one_line_each():
    addr = lib.loopback()
    d = lib.tmpdir()
    log = os.path.join(d, "tcp.log")
    e = lib.echo("%s:7090" % addr)
    ls = http_listener("l4", addr, 7000, "{ path: %s, format: json }" % log, mode="tcp")
    cfg = config(addr, ls).replace("      - { address: %s:7081 }" % addr,
                                   "      - { address: %s:7090 }" % addr)
    rl = lib.Ringlb(cfg)
    rc, done = lib.l4client("%s:7000" % addr, 20, 100000)
    check(rc == 0, "l4client failed: %s" % done)
    lines = wait_lines(log, 20)
    check(len(lines) == 20, "%d lines for 20 sessions:\n%s" % (len(lines), "\n".join(lines)))
    for line in lines:
        o = json.loads(line)
        check(o["type"] == "tcp" and o["version"] == "TCP" and o["listener"] == "l4" and
              o["backend"] == "%s:7090" % addr and o["status"] is None and
              o["method"] is None and o["termination"] == "--", "tcp line: %r" % line)
        check(o["bytes_in"] == 100000 and o["bytes_out"] == 100000,
              "echoed 100000 bytes each way: %r" % line)
        check(isinstance(o["connect_ms"], int) and o["total_ms"] >= o["connect_ms"],
              "tcp times: %r" % line)
    s = rl.finish()
    check(len(lines_of(log)) == 20, "more lines at exit")
    e.stop()
    check(s["log_dropped"] == 0, "dropped: %s" % s)


def test_mv_and_sigusr2_reopen_lose_no_line():
    addr = lib.loopback()
    d = lib.tmpdir()
    log = os.path.join(d, "access.log")
    rl = lib.Ringlb(config(addr, http_listener("web", addr, 7000, "{ path: %s }" % log)))
    script = os.path.join(d, "count.lua")
    with open(script, "w") as f:
        f.write(WRK_LUA)
    w = lib.Proc(["wrk", "-t1", "-c10", "-d4s", "-s", script, "http://%s:7000/" % addr],
                 name="wrk")
    check(len(wait_lines(log, 100)) >= 100, "no lines while wrk runs")
    os.rename(log, log + ".1")
    start = rl.count()
    rl.kill(signal.SIGUSR2)
    rl.wait_line(r"^ringlb: access log reopened$", 20, start)
    check(len(wait_lines(log, 100)) >= 100, "no lines in the new file")
    check(w.wait(60) == 0, "wrk failed:\n%s" % w.output())
    m = re.search(r"wrk-counts sent=(\d+) completed=(\d+) errors=(\d+)", w.output())
    s = rl.finish()
    old, new = lines_of(log + ".1"), lines_of(log)
    check(old and new, "both files have lines: %d, %d" % (len(old), len(new)))
    check(len(old) + len(new) == s["http_requests"],
          "%d + %d lines for %d requests" % (len(old), len(new), s["http_requests"]))
    check(int(m.group(2)) <= len(old) + len(new) <= int(m.group(1)),
          "lines against wrk: %s" % m.group(0))
    for line in old + new:
        check(TEXT_RX.match(line), "line does not parse: %r" % line)


def test_blocked_fifo_drops_and_counts_while_requests_go_on():
    addr = lib.loopback()
    d = lib.tmpdir()
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    # A reader that never reads: the pipe fills and stays full.
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ls = (http_listener("web", addr, 7000, "{ path: %s }" % fifo) +
              http_listener("plain", addr, 7001, "{ path: %s/plain.log }" % d))
        rl = lib.Ringlb(config(addr, ls, workers=1, extra="logging: { access_log_buffer: 64KB }"))
        _, base_done, base_err, base_rate = wrk("http://%s:7001/" % addr, secs=2)
        sent, completed, errors, rate = wrk("http://%s:7000/" % addr, secs=3)
        check(errors == 0 and base_err == 0, "wrk errors: %d, %d" % (errors, base_err))
        # The proxy is not held up by its log: the same order of rate as a
        # listener whose log is a file (generous: the machine is shared).
        check(rate > 0.3 * base_rate,
              "blocked log: %.0f req/s against %.0f with a file" % (rate, base_rate))
        st = rl.stats_total()
        check(st["log_dropped"] > 0, "nothing dropped: %s" % st)
        status, _, body = lib.http_get("%s:7000" % addr)
        check(status == 200 and body == b"hello from st\n", "request while blocked: %s" % status)
        t0 = time.monotonic()
        s = rl.finish()
        check(time.monotonic() - t0 < 20 * lib.SLOW, "exit took %.1fs" % (time.monotonic() - t0))
        data = b""
        while True:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
    written = data.count(b"\n")
    plain = len(lines_of(os.path.join(d, "plain.log")))
    check(written + plain + s["log_dropped"] + s["log_unwritten"] == s["http_requests"],
          "%d read + %d plain + %d dropped + %d unwritten != %d requests" %
          (written, plain, s["log_dropped"], s["log_unwritten"], s["http_requests"]))
    check(written > 0, "nothing reached the fifo")


def test_stderr_lines_whole_among_ringlb_lines():
    addr = lib.loopback()
    rl = lib.Ringlb(config(addr, http_listener("web", addr, 7000, "{ path: stderr }")))
    for i in range(30):
        status, _, _ = lib.http_get("%s:7000" % addr, "/n%d" % i)
        check(status == 200, "status %s" % status)
    rl.wait_line(r'"GET /n29 HTTP/1.1" 200 ', 20)
    rl.stats()  # ringlb's own lines between
    s = rl.finish()
    got = [l for l in rl.output().splitlines() if not l.startswith("ringlb: ")]
    check(len(got) == 30, "%d access lines on stderr:\n%s" % (len(got), "\n".join(got)))
    for i, line in enumerate(sorted(got, key=lambda l: int(re.search(r"/n(\d+)", l).group(1)))):
        m = TEXT_RX.match(line)
        check(m and m.group(8) == "/n%d" % i, "stderr line: %r" % line)
    check(s["http_requests"] == 30, "requests: %s" % s)


def test_syslog_datagrams_to_a_test_socket():
    addr = lib.loopback()
    d = lib.tmpdir()
    path = os.path.join(d, "log.sock")
    sk = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sk.bind(path)
    sk.settimeout(20 * lib.SLOW)
    try:
        al = '{ path: "syslog:%s", format: "%%{method} %%{target} %%{status}", facility: local3 }' % path
        rl = lib.Ringlb(config(addr, http_listener("web", addr, 7000, al)))
        for i in range(20):
            status, _, _ = lib.http_get("%s:7000" % addr, "/s%d" % i)
            check(status == 200, "status %s" % status)
        got = [sk.recv(4096).decode("ascii") for _ in range(20)]
    finally:
        sk.close()
    # local3 = 19, severity info = 6: <158>
    rx = re.compile(r"^<158>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ringlb\[%d\]: GET /s(\d+) 200$" %
                    rl.pid)
    seen = sorted(int(rx.match(g).group(1)) for g in got if rx.match(g))
    check(seen == list(range(20)), "datagrams:\n%s" % "\n".join(got))
    rl.finish()


def test_tls_version_and_sni():
    import tlscerts
    addr = lib.loopback()
    d = lib.tmpdir()
    log = os.path.join(d, "tls.log")
    tlscerts.make(d)
    crt, key = os.path.join(d, "site-ec.pem"), os.path.join(d, "site-ec.key")
    extra = "    tls: { cert: %s, key: %s }\n" % (crt, key)
    ls = http_listener("https", addr, 7443, "{ path: %s, format: json }" % log, extra=extra)
    rl = lib.Ringlb(config(addr, ls))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, 7443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    check(data.startswith(b"HTTP/1.1 200"), "https answer: %r" % data[:100])
    lines = wait_lines(log, 1)
    check(len(lines) == 1, "lines: %s" % lines)
    o = json.loads(lines[0])
    check(o["tls_version"] == "TLSv1.3" and o["sni"] == "localhost" and o["status"] == 200,
          "tls line: %r" % lines[0])
    rl.finish()


def test_reload_switches_format_for_new_connections():
    addr = lib.loopback()
    d = lib.tmpdir()
    log = os.path.join(d, "a.log")
    rl = lib.Ringlb(config(addr, http_listener("web", addr, 7000, "{ path: %s }" % log)))
    lib.http_get("%s:7000" % addr, "/before")
    rl.write_config(config(addr, http_listener("web", addr, 7000,
                                               "{ path: %s, format: json }" % log)))
    rl.reload()
    lib.http_get("%s:7000" % addr, "/after")
    lines = wait_lines(log, 2)
    check(len(lines) == 2, "lines: %s" % lines)
    # two workers' lines may come in either order (one ring each)
    before = [l for l in lines if "/before" in l]
    after = [l for l in lines if "/after" in l]
    check(len(before) == 1 and TEXT_RX.match(before[0]), "text before the reload: %r" % lines)
    check(len(after) == 1 and json.loads(after[0])["target"] == "/after",
          "json after the reload: %r" % lines)
    rl.finish()


def test_errors_and_aborts_are_logged_once():
    addr = lib.loopback()
    d = lib.tmpdir()
    log = os.path.join(d, "e.log")
    rl = lib.Ringlb(config(addr, http_listener("web", addr, 7000,
                                               "{ path: %s, format: json }" % log)))
    # a bad request (400), an unknown pool backend is fine; a client that
    # sends half a head and closes (CR), one that closes at once (no line)
    with socket.create_connection((addr, 7000)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        s.recv(4096)
    with socket.create_connection((addr, 7000)) as s:
        s.sendall(b"GET /half HTTP/1.1\r\nHost:")
        time.sleep(0.2)
    with socket.create_connection((addr, 7000)):
        pass
    lines = wait_lines(log, 2)
    time.sleep(0.3)
    s = rl.finish()
    lines = lines_of(log)
    check(len(lines) == 2, "lines: %s" % lines)
    a, b = (json.loads(x) for x in lines)
    check(a["status"] == 400 and a["termination"] == "PR", "400 line: %r" % a)
    check(b["status"] is None and b["termination"] == "CR" and b["bytes_in"] > 0,
          "aborted head: %r" % b)
    check(s["log_dropped"] == 0, "dropped: %s" % s)


lib.main(globals(), limit=120)
