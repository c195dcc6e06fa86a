"""An established TLS connection that finds no plaintext buffer waits for one
(core/xprt/tls.c: it stalls, holding the ciphertext it could not decrypt, in
the worker's buffer FIFO) instead of being closed: DESIGN.md's "existing
connections are never dropped" under memory pressure. The write side too:
records for a TLS client whose buffers the pool refuses are not made yet;
the plaintext is held and the connection waits the same way.

One worker whose receive ring and plaintext share one class (4 KiB buffers,
initial_buffer_size 4KB) and a buffer_pool_memory of 512 KiB. A flood, one
L4 stream towards `echo -m hold` (which never reads), is fed 4 KiB at a time
until the pool refuses a buffer, so the limit is reached while the receive
ring still has buffers standing: the next TLS record is received into one of
them and then finds no buffer to decrypt into (before the fix the connection
was closed there, counted in buffer_fails). Then the flood is reset, its
buffers come back, and the TLS client must get every answer, in order, on
the same connection. A test ends only with ringlb's exit memory at zero
(lib.Ringlb.finish), so what a stalled connection held went back too.
"""
import os
import select
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
import tlscerts  # noqa: E402
from lib import check  # noqa: E402

P_TLS, P_TCP, P_STATIC, P_FLOOD, P_SINK, P_ECHO = 8443, 8447, 8081, 8090, 7001, 7002
P_PUSH, P_BACK = 8448, 7003
BODY = "hello from the static listener\n"
CHUNK = 4096

CONFIG = """
workers: 1
listeners:
  - name: secure
    bind: {addr}:{tls}
    mode: http
    pool: web
    max_connections: 64
    tls: {{ cert: {cert}, key: {key} }}
  - name: secure-tcp
    bind: {addr}:{tcp}
    mode: tcp
    pool: echo
    splice: never
    max_connections: 64
    tls: {{ cert: {cert}, key: {key} }}
  - name: secure-push
    bind: {addr}:{push}
    mode: tcp
    pool: back
    splice: never
    max_connections: 64
    tls: {{ cert: {cert}, key: {key} }}
  - name: s
    bind: {addr}:{static}
    mode: static
    max_connections: 64
    body: "{body}\\n"
  - name: flood
    bind: {addr}:{flood}
    mode: tcp
    pool: sink
    splice: never
    max_connections: 64
pools:
  - name: web
    backends: [ {{ address: {addr}:{static} }} ]
  - name: echo
    backends: [ {{ address: {addr}:{echo} }} ]
  - name: sink
    backends: [ {{ address: {addr}:{sink} }} ]
  - name: back
    backends: [ {{ address: {addr}:{back} }} ]
buffer_pools:
  small_buffers:  {{ initial_count: 32, max_count: 32, growth_factor: 1.5 }}
  medium_buffers: {{ initial_count: 0, max_count: 1, growth_factor: 1.5 }}
  large_buffers:  {{ initial_count: 0, max_count: 1, growth_factor: 1.5 }}
  giant_buffers:  {{ initial_count: 0, max_count: 1, growth_factor: 1.5 }}
memory_limits:
  max_total_memory: 64MB
  buffer_pool_memory: 512KB
  connection_memory: 16MB
  ssl_context_memory: 16MB
  cache_memory: 4MB
memory_tuning:
  initial_buffer_size: 4KB
  max_buffer_size: 4MB
  socket_sndbuf: 4KB
  socket_rcvbuf: 4KB
"""

_dir = {}


def certs():
    if "d" not in _dir:
        d = tempfile.mkdtemp(prefix="rlb-nobuf-")
        tlscerts.make(d)
        _dir["d"] = d
    return _dir["d"]


def start():
    """echo -m hold (the flood's sink), an echo backend, and ringlb."""
    addr = lib.loopback()
    d = certs()
    sink = lib.echo("%s:%d" % (addr, P_SINK), "hold", extra=["--rcvbuf", "4096"])
    echo = lib.echo("%s:%d" % (addr, P_ECHO), "echo")
    cfg = CONFIG.format(addr=addr, tls=P_TLS, tcp=P_TCP, static=P_STATIC, flood=P_FLOOD,
                        sink=P_SINK, echo=P_ECHO, push=P_PUSH, back=P_BACK, body=BODY.strip(),
                        cert=os.path.join(d, "site-ec.pem"), key=os.path.join(d, "site-ec.key"))
    r = lib.Ringlb(cfg, args=["--seed", "7"])
    return addr, r, (sink, echo)


def tls_conn(addr, port):
    ctx = ssl.create_default_context(cafile=os.path.join(certs(), "ca.pem"))
    raw = socket.create_connection((addr, port), timeout=30 * lib.SLOW)
    return ctx.wrap_socket(raw, server_hostname="site.test")


def counters(r):
    """The stats total line and the 4 KiB class's pool line (SIGUSR1)."""
    tot, pool = None, None
    for l in r.stats(30):
        if l.startswith("ringlb: stats total "):
            tot = lib.kv(l)
        elif l.startswith("ringlb: stats pool ") and " class=4KB " in l:
            pool = lib.kv(l)
    check(tot and pool, "no total or small pool line")
    return tot, pool


def read_response(s, f):
    """One HTTP/1.1 response from the file <f> of <s>: (status, body)."""
    line = f.readline()
    check(line, "the connection was closed before a status line")
    status = int(line.split()[1])
    length = None
    while True:
        h = f.readline()
        check(h, "the connection was closed inside a response head")
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    check(length is not None, "a response without Content-Length")
    return status, f.read(length)


def exhaust(addr, r):
    """Feeds one flood stream 4 KiB at a time, each taken by ringlb before
    the next, until the pool refuses the receive ring a buffer; returns
    (the flood socket, the counters then). The ring has buffers standing
    still: what is received next finds no buffer to go on with."""
    fl = socket.create_connection((addr, P_FLOOD), timeout=30 * lib.SLOW)
    tot0, _ = counters(r)
    sent = 0
    deadline = time.monotonic() + 90 * lib.SLOW
    while True:
        fl.sendall(b"f" * CHUNK)
        sent += CHUNK
        while True:  # until ringlb took it (bytes_in counts what it received)
            tot, pool = counters(r)
            if tot["bytes_in"] - tot0["bytes_in"] >= sent:
                break
            check(time.monotonic() < deadline, "ringlb stopped reading the flood at %d of %d "
                  "bytes: %s" % (tot["bytes_in"] - tot0["bytes_in"], sent, pool))
        if tot["buffer_fails"] > tot0["buffer_fails"]:
            break
        check(sent < (8 << 20), "8 MiB of flood and the pool never refused a buffer: %s" % pool)
    print("flood: %d KiB sent; pool %s; buffer_fails=%d buffer_waits=%d" %
          (sent >> 10, {k: pool[k] for k in ("in_use", "standing", "fails", "overflow")},
           tot["buffer_fails"], tot["buffer_waits"]))
    check(pool["standing"] > 0, "the receive ring ran dry too: the test needs buffers standing "
          "in it (%s)" % pool)
    return fl, tot


def release(fl):
    """Resets the flood: its connection pair closes and its buffers come back."""
    fl.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    fl.close()


def wait_stalled(r, before, s):
    """Polls until the TLS connection <s> waits for a buffer (buffer_waits
    grew); fails at once if ringlb closed it instead."""
    deadline = time.monotonic() + 30 * lib.SLOW
    while True:
        tot, pool = counters(r)
        if tot["buffer_waits"] > before["buffer_waits"]:
            break
        rd, _, _ = select.select([s], [], [], 0)
        if rd:
            try:
                s.setblocking(False)
                got = s.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                got = None
            except (OSError, ssl.SSLError) as e:
                raise lib.TestFailure("the established TLS connection failed while the pool "
                                      "was exhausted (%s): buffer_fails %d -> %d" %
                                      (e, before["buffer_fails"], tot["buffer_fails"]))
            finally:
                s.setblocking(True)
            check(got is None or got, "the established TLS connection was closed for want of a "
                  "plaintext buffer: buffer_fails %d -> %d" %
                  (before["buffer_fails"], tot["buffer_fails"]))
            check(got is None, "an answer while the pool was exhausted: %r" % got)
        check(time.monotonic() < deadline, "the TLS connection neither waited nor closed: %s %s" %
              (tot, pool))
        time.sleep(0.02)
    print("stalled: buffer_fails %d -> %d, buffer_waits %d -> %d, pool %s" %
          (before["buffer_fails"], tot["buffer_fails"], before["buffer_waits"],
           tot["buffer_waits"], {k: pool[k] for k in ("in_use", "standing", "fails")}))
    return tot


def stalled_then_whole(r, fl, before, s, sender, data):
    """<sender> sends 1,000 bytes of <data> while the pool is exhausted, the
    TLS connection <s> waits, the rest follows, the flood <fl> is released:
    <s> must then read all of <data>, in order."""
    sender.sendall(data[:1000])
    wait_stalled(r, before, s)
    sender.sendall(data[1000:])
    release(fl)
    got = bytearray()
    s.settimeout(30 * lib.SLOW)
    while len(got) < len(data):
        d = s.recv(65536)
        check(d, "the TLS connection closed after %d of %d bytes" % (len(got), len(data)))
        got += d
    check(bytes(got) == data, "what the TLS connection read differs from what was sent")


def finish(r, procs):
    s = r.finish()
    for p in procs:
        p.stop()
    return s


GET = b"GET /%d HTTP/1.1\r\nHost: site.test\r\n\r\n"


def test_a_keepalive_request_without_a_plaintext_buffer_waits_and_is_answered():
    addr, r, procs = start()
    s = tls_conn(addr, P_TLS)
    f = s.makefile("rb")
    s.sendall(GET % 0)
    st, body = read_response(s, f)
    check(st == 200 and body.decode() == BODY, "the first answer: %s %r" % (st, body))
    fl, before = exhaust(addr, r)
    # A request while the pool is exhausted: received, not decryptable.
    s.sendall(GET % 1)
    stalled = wait_stalled(r, before, s)
    # One more behind it, pipelined, while the first still waits.
    s.sendall(GET % 2)
    release(fl)
    for i in (1, 2):
        st, body = read_response(s, f)
        check(st == 200 and body.decode() == BODY, "request %d: %s %r" % (i, st, body))
    # The same connection serves on.
    s.sendall(GET % 3)
    st, body = read_response(s, f)
    check(st == 200 and body.decode() == BODY, "request 3: %s %r" % (st, body))
    after, _ = counters(r)
    # buffer_fails moves once for the receive ring's slot the TLS record
    # took (the pool refused its refill); no more for the connection.
    print("after: buffer_fails %d, buffer_waits %d, aborts %d" %
          (after["buffer_fails"], after["buffer_waits"], after["aborts"]))
    check(after["buffer_fails"] - before["buffer_fails"] <= 1,
          "buffer_fails moved by %d for one TLS record (one is the ring's refill)" %
          (after["buffer_fails"] - before["buffer_fails"]))
    check(stalled["buffer_waits"] > before["buffer_waits"], "the TLS connection never waited")
    s.close()
    finish(r, procs)


def test_a_request_and_the_clients_end_without_a_plaintext_buffer_are_answered_in_order():
    # The request and then the client's FIN: the answer must come first,
    # however the end of stream meets the bytes held (it may arrive before
    # the stalled connection's receive is cancelled).
    addr, r, procs = start()
    s = tls_conn(addr, P_TLS)
    f = s.makefile("rb")
    fl, before = exhaust(addr, r)
    s.sendall(GET % 1)
    # The TCP FIN, without close_notify (SSLSocket.shutdown() would drop
    # the TLS layer): through a second descriptor of the same socket.
    half = socket.socket(fileno=os.dup(s.fileno()))
    half.shutdown(socket.SHUT_WR)
    half.close()
    wait_stalled(r, before, s)
    release(fl)
    st, body = read_response(s, f)
    check(st == 200 and body.decode() == BODY, "the answer: %s %r" % (st, body))
    rest = f.read()
    check(rest == b"", "after the answer: %r" % rest)
    s.close()
    finish(r, procs)


def test_tls_offload_bytes_without_a_plaintext_buffer_wait_and_come_back_whole():
    # mode tcp: the bytes sent while the pool is exhausted (one record into
    # the ring, the rest behind it) are echoed whole and in order.
    addr, r, procs = start()
    s = tls_conn(addr, P_TCP)
    s.sendall(b"ping\n")
    check(s.recv(16) == b"ping\n", "the first echo")
    fl, before = exhaust(addr, r)
    data = bytes((i * 7 + (i >> 10)) & 0xFF for i in range(24 << 10))
    stalled_then_whole(r, fl, before, s, s, data)
    s.close()
    finish(r, procs)


def test_records_for_a_tls_client_without_a_buffer_wait_and_go_out_whole():
    # The write side: the backend (this test, plain TCP) sends while the
    # pool is exhausted. ringlb receives it into a buffer the ring still
    # has standing, but the records for the TLS client need buffers the
    # pool refuses: the plaintext is held and the connection waits (before
    # the fix the write failed and the connection was closed).
    addr, r, procs = start()
    back = socket.socket()
    back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    back.bind((addr, P_BACK))
    back.listen(4)
    back.settimeout(30 * lib.SLOW)
    s = tls_conn(addr, P_PUSH)
    s.sendall(b"hi\n")
    up, _ = back.accept()
    up.settimeout(30 * lib.SLOW)
    check(up.recv(16) == b"hi\n", "the backend did not get the client's bytes")
    up.sendall(b"ready\n")
    check(s.recv(16) == b"ready\n", "the first bytes from the backend")
    fl, before = exhaust(addr, r)
    data = bytes((i * 13 + (i >> 9)) & 0xFF for i in range(24 << 10))
    stalled_then_whole(r, fl, before, s, up, data)
    # The connection works on, both ways.
    s.sendall(b"more\n")
    check(up.recv(16) == b"more\n", "the client's bytes after the wait")
    after, _ = counters(r)
    print("after: buffer_fails %d, buffer_waits %d (the flood's reset is the one abort: %d)" %
          (after["buffer_fails"], after["buffer_waits"], after["aborts"]))
    s.close()
    up.close()
    back.close()
    finish(r, procs)


if __name__ == "__main__":
    try:
        lib.main(globals(), limit=180)
    finally:
        if "d" in _dir:
            shutil.rmtree(_dir["d"], True)
