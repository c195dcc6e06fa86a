"""Framing and protocol holes (issue 15, section 1), replayed through the
real build/ringlb against a test-owned raw backend that records exactly the
bytes it receives on each connection and answers what the case scripts.

Every test/configs/smuggle/*.case file is one test (test_case_NAME); the
format, one step per section, each section's lines being bytes:

    # comment (a line starting with '#')
    @listener KEY: VALUE      a line added to the http listener (indented)
    @tuning KEY: VALUE        a line added to memory_tuning
    > client [N]              client connection N (0) writes these bytes, in one write
    < client [N]              the next bytes client N receives, exactly
    < client [N] status S     client N receives a response with status S (its head
                              and Content-Length body are read)
    = client [N] closed       client N reads EOF next (nothing else)
    > backend N               backend connection N (in accept order) writes these bytes
    < backend N               the next bytes backend connection N receives, exactly
    = backend N closed        backend connection N reads EOF next
    = backends K              exactly K backend connections were accepted so far

In section lines the file's newlines mean nothing: bytes are written with
escapes (\\r \\n \\t \\0 \\xHH \\\\), {ip} is the client's address, {fwd} the
three fields ringlb adds upstream (X-Forwarded-For, X-Forwarded-Proto,
X-Real-IP) and {N*TEXT} repeats TEXT N times. At the end ringlb is stopped
(SIGTERM: everything it would send has been sent) and every byte each
backend connection received must have been expected by a "< backend" step:
nothing reaches a backend that a case did not name.

Beside the corpus, tests of what a file cannot script: a 1xx storm to a
client that does not read (the upstream read pauses at max_buffer_size),
and connections that cannot get a buffer still get an answer."""
import glob
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CASE_DIR = os.path.join(lib.TOP, "test", "configs", "smuggle")
STEP_TIMEOUT = 10


class RawBackend:
    """Accepts on <addr>; per connection, records every byte received and
    writes what the test tells it to."""

    def __init__(self, addr, port):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((addr, port))
        self.s.listen(64)
        self.cond = threading.Condition()
        self.conns = []  # [sock, bytes received, eof, consumed]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            with self.cond:
                rec = [c, b"", False, 0]
                self.conns.append(rec)
                self.cond.notify_all()
            threading.Thread(target=self._read, args=(rec,), daemon=True).start()

    def _read(self, rec):
        while True:
            try:
                d = rec[0].recv(1 << 20)
            except OSError:
                d = b""
            with self.cond:
                if not d:
                    rec[2] = True
                else:
                    rec[1] += d
                self.cond.notify_all()
            if not d:
                return

    def _wait(self, pred, what, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout * lib.SLOW
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                check(left > 0, "backend: %s within %ss" % (what, timeout * lib.SLOW))
                self.cond.wait(min(left, 0.2))

    def conn(self, n):
        self._wait(lambda: len(self.conns) > n, "no connection %d" % n)
        return self.conns[n]

    def expect(self, n, want):
        rec = self.conn(n)
        self._wait(lambda: len(rec[1]) - rec[3] >= len(want) or rec[2],
                   "connection %d: %d bytes expected, got %r" %
                   (n, len(want), rec[1][rec[3]:][:300]))
        with self.cond:
            got = rec[1][rec[3]:rec[3] + len(want)]
            rec[3] += len(got)
        check(got == want, "backend connection %d received\n  %r\nexpected\n  %r" %
              (n, got[:2000], want[:2000]))

    def closed(self, n):
        rec = self.conn(n)
        self._wait(lambda: rec[2] or len(rec[1]) > rec[3], "connection %d: no EOF" % n)
        check(len(rec[1]) == rec[3], "backend connection %d: %r before EOF" %
              (n, rec[1][rec[3]:][:300]))

    def send(self, n, data):
        self.conn(n)[0].sendall(data)

    def leftovers(self):
        with self.cond:
            return [(i, r[1][r[3]:]) for i, r in enumerate(self.conns) if len(r[1]) > r[3]]

    def close(self):
        self.s.close()
        with self.cond:
            for r in self.conns:
                try:
                    r[0].close()
                except OSError:
                    pass


def config(addr, listener_lines=(), tuning_lines=()):
    lis = "".join("    %s\n" % l for l in listener_lines)
    tun = ""
    if tuning_lines:
        tun = "memory_tuning:\n" + "".join("  %s\n" % l for l in tuning_lines)
    return """workers: 1
listeners:
  - name: web
    bind: {addr}:7000
    mode: http
    pool: app
    max_connections: 64
{lis}pools:
  - name: app
    backends:
      - {{ address: {addr}:7101 }}
{tun}""".format(addr=addr, lis=lis, tun=tun)


ESC = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def decode(line, ip):
    fwd = "X-Forwarded-For: {ip}\\r\\nX-Forwarded-Proto: http\\r\\nX-Real-IP: {ip}\\r\\n"
    line = line.replace("{fwd}", fwd).replace("{ip}", ip)
    line = re.sub(r"\{(\d+)\*([^}]*)\}", lambda m: m.group(2) * int(m.group(1)), line)
    out, i = bytearray(), 0
    while i < len(line):
        ch = line[i]
        if ch != "\\":
            out += ch.encode("latin-1")
            i += 1
        elif line[i + 1] == "x":
            out.append(int(line[i + 2:i + 4], 16))
            i += 4
        else:
            out += ESC[line[i + 1]]
            i += 2
    return bytes(out)


def parse_case(path):
    """Returns (listener lines, tuning lines, steps); a step is
    (kind, who, index, arg, raw lines)."""
    lis, tun, steps = [], [], []
    with open(path, encoding="latin-1") as f:
        for line in f.read().split("\n"):
            if not line or line.startswith("#"):
                continue
            if line.startswith("@listener "):
                lis.append(line[10:])
            elif line.startswith("@tuning "):
                tun.append(line[8:])
            elif line[:2] in ("> ", "< ", "= "):
                w = line[2:].split()
                who = w[0]
                idx = int(w[1]) if len(w) > 1 and w[1].isdigit() else 0
                rest = w[2:] if len(w) > 1 and w[1].isdigit() else w[1:]
                steps.append([line[0], who, idx, rest, []])
            else:
                check(steps, "%s: bytes before any step: %r" % (path, line))
                steps[-1][4].append(line)
    return lis, tun, steps


class Client:
    def __init__(self, addr):
        self.s = socket.create_connection((addr, 7000), timeout=STEP_TIMEOUT * lib.SLOW,
                                          source_address=(addr, 0))
        self.buf = b""
        self.eof = False

    def fill(self):
        try:
            d = self.s.recv(1 << 20)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
        self.buf += d
        return d

    def take(self, n):
        while len(self.buf) < n and not self.eof:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self):
        while b"\r\n\r\n" not in self.buf and not self.eof:
            self.fill()
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        check(sep, "client: no response head, got %r" % self.buf[:300])
        self.buf = rest
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        body = self.take(int(m.group(1))) if m else b""
        return head, body


def run_case(path):
    addr = lib.loopback()
    lis, tun, steps = parse_case(path)
    be = RawBackend(addr, 7101)
    r = lib.Ringlb(config(addr, lis, tun))
    clients = {}
    try:
        for kind, who, idx, arg, lines in steps:
            data = b"".join(decode(l, addr) for l in lines)
            if who == "client" and idx not in clients:
                clients[idx] = Client(addr)
            cl = clients.get(idx)
            if (kind, who) == (">", "client"):
                cl.s.sendall(data)
            elif (kind, who) == ("<", "client") and arg and arg[0] == "status":
                head, _ = cl.response()
                check(head.startswith(b"HTTP/1.1 %s " % arg[1].encode()),
                      "client %d: expected status %s, got %r" % (idx, arg[1], head[:300]))
            elif (kind, who) == ("<", "client"):
                got = cl.take(len(data))
                check(got == data, "client %d received\n  %r\nexpected\n  %r" %
                      (idx, got[:2000], data[:2000]))
            elif (kind, who) == ("=", "client"):
                while not cl.eof and not cl.buf:
                    cl.fill()
                check(cl.eof and not cl.buf, "client %d: %r, expected EOF" % (idx, cl.buf[:300]))
            elif (kind, who) == (">", "backend"):
                be.send(idx, data)
            elif (kind, who) == ("<", "backend"):
                be.expect(idx, data)
            elif (kind, who) == ("=", "backend") and arg == ["closed"]:
                be.closed(idx)
            elif (kind, who) == ("=", "backends"):
                n = idx
                check(len(be.conns) == n, "%d backend connections, expected %d" %
                      (len(be.conns), n))
            else:
                raise lib.TestFailure("%s: unknown step %s %s %r" % (path, kind, who, arg))
        for cl in clients.values():
            cl.s.close()
        r.finish()
        left = be.leftovers()
        check(not left, "bytes no step expected reached the backend: %r" %
              [(i, b[:300]) for i, b in left])
    finally:
        be.close()


def test_a_1xx_storm_to_a_client_that_does_not_read_pauses_the_upstream():
    # Interim answers of ~30 KB each, 17 of them (~510 KB), to a client that
    # reads nothing: ringlb queues at most max_buffer_size (64 KB) for the
    # client and stops reading the backend, so the backend's writes block
    # long before the storm is out. Before, every 1xx was read and queued.
    import select
    addr = lib.loopback()
    be = RawBackend(addr, 7101)
    r = lib.Ringlb(config(addr, ["max_field_size: 32KB", "max_head_size: 64KB"],
                          ["max_buffer_size: 64KB", "socket_sndbuf: 16KB",
                           "socket_rcvbuf: 16KB"]))
    try:
        cl = Client(addr)
        cl.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        cl.s.sendall(b"GET /storm HTTP/1.1\r\nHost: a\r\n\r\n")
        be.expect(0, decode("GET /storm HTTP/1.1\\r\\nHost: a\\r\\n{fwd}"
                            "Connection: keep-alive\\r\\n\\r\\n", addr))
        one = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"x" * 30000 + b"\r\n\r\n"
        storm = one * 17
        up = be.conn(0)[0]
        up.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        pushed = 0
        while pushed < len(storm):
            _, wr, _ = select.select([], [up], [], 2 * lib.SLOW)
            if not wr:
                break  # not written to for 2 s: ringlb stopped reading
            try:
                pushed += up.send(storm[pushed:pushed + 65536], socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
        print("storm: the backend wrote %d of %d bytes before it blocked" % (pushed, len(storm)), flush=True)
        check(pushed < 400000, "the backend wrote %d of %d storm bytes to a client that "
              "reads nothing" % (pushed, len(storm)))
        # The client reads now: the 16 interim answers in order, then the
        # 17th ends the request with a 502.
        t = threading.Thread(target=up.sendall, args=(storm[pushed:],), daemon=True)
        t.start()
        want = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"x" * 30000 + b"\r\n\r\n"
        for i in range(16):
            got = cl.take(len(want))
            check(got == want, "interim answer %d: %r" % (i, got[:100]))
        head, _ = cl.response()
        check(head.startswith(b"HTTP/1.1 502 "), "after 16 interim answers: %r" % head[:200])
        be.closed(0)
        cl.s.close()
        r.finish()
    finally:
        be.close()


def test_a_small_class_past_max_count_still_answers_every_client():
    # max_count bounds what a class keeps, not what can be had (issue 15,
    # section 2): with the small class at 8 buffers, clients holding half
    # a head take none of it (they wait in right-sized head records), and
    # 12 requests in flight at once (a 4 KiB head buffer each) all reach
    # the backend and get its answer, the ones past max_count with buffers
    # from outside the pool, counted and given back.
    addr = lib.loopback()
    be = RawBackend(addr, 7101)
    cfg = config(addr) + ("buffer_pools:\n  small_buffers: { initial_count: 8, max_count: 8 }\n")
    r = lib.Ringlb(cfg)
    held, busy = [], []
    try:
        for i in range(4):
            c = Client(addr)
            c.s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Half: ")
            held.append(c)
            r.stats()  # ringlb has read it: the stats line comes after
        for i in range(12):
            c = Client(addr)
            busy.append(c)
            c.s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
        for i in range(12):
            be.conn(i)
        # Every request whole at the backend before it is marked read
        # below: a tail arriving after that would pass for a held
        # client's request on a connection ringlb keeps idle.
        be._wait(lambda: all(r[1].endswith(b"\r\n\r\n") for r in be.conns[:12]),
                 "12 whole requests")
        pool = [lib.kv(l) for l in r.stats() if l.startswith("ringlb: stats pool ") and
                " class=4KB " in l][0]
        check(pool["overflow"] > 0 and pool["count"] <= 8 and pool["fails"] == 0,
              "12 requests in flight, small class of 8: %s" % pool)
        for i in range(12):
            be.send(i, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        for i, c in enumerate(busy):
            head, body = c.response()
            check(head.startswith(b"HTTP/1.1 200 ") and body == b"ok", "client %d: %r" % (i, head))
        with be.cond:
            for rec in be.conns:
                rec[3] = len(rec[1])
        for i, c in enumerate(held):
            c.s.sendall(b"1\r\n\r\n")
            # a new upstream connection or an idle one reused: whichever got it
            whole = lambda: [n for n, b in be.leftovers() if b.endswith(b"\r\n\r\n")]
            be._wait(whole, "half head %d forwarded" % i)
            with be.cond:
                n = whole()[0]
                be.conns[n][3] = len(be.conns[n][1])
            be.send(n, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            head, body = c.response()
            check(head.startswith(b"HTTP/1.1 200 "), "half head %d completed: %r" % (i, head))
        for c in held + busy:
            c.s.close()
        r.finish()
    finally:
        be.close()


def _make(path):
    return lambda: run_case(path)


for _p in sorted(glob.glob(os.path.join(CASE_DIR, "*.case"))):
    globals()["test_case_" + os.path.basename(_p)[:-5]] = _make(_p)


if __name__ == "__main__":
    lib.main(globals(), limit=60)
