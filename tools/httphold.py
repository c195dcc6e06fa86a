#!/usr/bin/env python3
"""tools/httphold.py — N idle HTTP/1.1 keep-alive connections, one request each.

  httphold.py -c HOST:PORT -n N [--batch 64] [--path /] [--timeout 120]
  httphold.py -c HOST:PORT -n N --partial [--settle 2]
  httphold.py -c HOST:PORT -n N --slow-body BYTES [--settle 2]

Opens N connections to HOST:PORT, at most --batch of them busy at once (so
a proxy needs few upstream connections for them), sends one
`GET PATH HTTP/1.1` with keep-alive on each, reads the whole response
(Content-Length or chunked), and then holds every connection open without
sending anything until SIGTERM. Prints

  httphold: holding N ok=N failed=F status=200:N secs=S

on stdout once every connection has its response (or failed), then

  httphold: done held=K closed_by_peer=C

at SIGTERM. Python 3 standard library only; used by `tools/bench http`.

--partial: each connection sends only part of a request head,
`GET PATH HTTP/1.1\r\nHost: HOST\r\n` (a slow client, or a slowloris) and
then nothing; --slow-body BYTES: a whole head `POST PATH HTTP/1.1` with
`Content-Length: BYTES` and the first 100 bytes of the body, then nothing.
No answer is expected: once every connection has sent, the connections
are watched for --settle seconds, and one that got an answer (a 503, a
408) or was closed meanwhile counts as failed (its status, when it got
one, in status=; `closed` when it got none). Used by `tools/bench slow`.
With --partial, SIGUSR1 sends the rest of the head (`\r\n`) on every
connection still held and reads the answers, then prints

  httphold: completed ok=N failed=F status=200:N secs=S
"""

import argparse
import errno
import resource
import selectors
import signal
import socket
import sys
import time


class Conn:
    __slots__ = ("sock", "state", "buf", "status", "need")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""
        self.status = None
        self.need = None


def response_done(c):
    """True once c.buf holds one whole response (sets c.status)."""
    head_end = c.buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = c.buf[:head_end].decode("latin-1").split("\r\n")
    try:
        c.status = int(head[0].split()[1])
    except (IndexError, ValueError):
        c.status = -1
        return True
    body = c.buf[head_end + 4:]
    fields = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip().lower()
    if "chunked" in fields.get("transfer-encoding", ""):
        return body.endswith(b"0\r\n\r\n")
    if "content-length" in fields:
        return len(body) >= int(fields["content-length"])
    return c.status in (204, 304) or 100 <= c.status < 200


def complete_heads(sel, held, timeout):
    """--partial, on SIGUSR1: the rest of every held head, then each
    answer read whole."""
    t0 = time.monotonic()
    busy = {}
    for c in held:
        try:
            c.sock.send(b"\r\n")
            c.buf = b""
            busy[id(c)] = c
        except OSError:
            sel.unregister(c.sock)
            c.sock.close()
    ok, failed, statuses = 0, len(held) - len(busy), {}
    end = t0 + timeout
    while busy and time.monotonic() < end:
        for key, ev in sel.select(0.5):
            c = key.data
            if id(c) not in busy:
                continue
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            c.buf += data
            if data and not response_done(c):
                continue
            del busy[id(c)]
            sel.unregister(c.sock)
            c.sock.close()
            if data and c.status and c.status > 0:
                ok += c.status == 200
                failed += c.status != 200
                statuses[c.status] = statuses.get(c.status, 0) + 1
            else:
                failed += 1
                statuses["closed"] = statuses.get("closed", 0) + 1
    failed += len(busy)
    st = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=str))
    print(f"httphold: completed ok={ok} failed={failed} status={st or '-'} "
          f"secs={time.monotonic() - t0:.2f}", flush=True)


def settle(sel, held, statuses, secs):
    """--partial/--slow-body: watches the held connections for <secs>;
    those answered or closed meanwhile leave <held> (their status, or
    "closed", counted in <statuses>). Returns how many left."""
    for c in held:
        sel.register(c.sock, selectors.EVENT_READ, c)
    gone = set()
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for key, ev in sel.select(max(0.0, min(0.5, end - time.monotonic()))):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                c.buf += data
                if b"\r\n" not in c.buf:
                    continue
                try:
                    code = int(c.buf.split(b" ", 2)[1])
                except (IndexError, ValueError):
                    code = -1
            else:
                code = "closed"
            statuses[code] = statuses.get(code, 0) + 1
            sel.unregister(c.sock)
            c.sock.close()
            gone.add(id(c))
    held[:] = [c for c in held if id(c) not in gone]
    for c in held:
        sel.unregister(c.sock)
    return len(gone)


def main(argv):
    ap = argparse.ArgumentParser(prog="httphold.py")
    ap.add_argument("-c", "--connect", required=True, help="HOST:PORT")
    ap.add_argument("-n", type=int, required=True, help="connections")
    ap.add_argument("--batch", type=int, default=64,
                    help="connections with a request in flight at once")
    ap.add_argument("--path", default="/")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--partial", action="store_true",
                    help="send part of a head and hold (no answer expected)")
    ap.add_argument("--slow-body", type=int, default=0, metavar="BYTES",
                    help="send a head with this Content-Length, 100 body bytes, hold")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="--partial/--slow-body: seconds to watch for answers")
    args = ap.parse_args(argv)
    host, port = args.connect.rsplit(":", 1)
    addr = (host, int(port))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = (f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\n"
           "User-Agent: httphold\r\nAccept: */*\r\n\r\n").encode()
    slow = args.partial or args.slow_body > 0
    if args.partial:
        req = f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\n".encode()
    elif args.slow_body:
        req = (f"POST {args.path} HTTP/1.1\r\nHost: {host}\r\n"
               f"Content-Length: {args.slow_body}\r\n\r\n").encode()
        req += b"x" * min(100, args.slow_body - 1)

    stop, complete = [], []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    if args.partial:  # before anything is sent: a signal never finds it missing
        signal.signal(signal.SIGUSR1, lambda *_: complete.append(1))
    sel = selectors.DefaultSelector()
    held, failed, statuses = [], 0, {}
    started, busy = 0, 0
    t0 = time.monotonic()
    end = t0 + args.timeout

    def finish(c, ok):
        nonlocal busy, failed
        busy -= 1
        sel.unregister(c.sock)
        if ok:
            held.append(c)
            statuses[c.status] = statuses.get(c.status, 0) + 1
        else:
            failed += 1
            c.sock.close()

    while (started < args.n or busy) and not stop:
        while started < args.n and busy < args.batch:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(s)
            started += 1
            busy += 1
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                busy -= 1
                failed += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
        if time.monotonic() > end:
            break
        for key, ev in sel.select(1.0):
            c = key.data
            if c.state == "connecting":
                if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(c, False)
                    continue
                try:
                    c.sock.send(req)  # small: one segment
                except OSError:
                    finish(c, False)
                    continue
                c.state = "reading"
                if slow:  # nothing comes back: held as soon as it has sent
                    c.status = 0
                    finish(c, True)
                    continue
                sel.modify(c.sock, selectors.EVENT_READ, c)
            else:
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    finish(c, False)
                    continue
                if not data:
                    finish(c, False)
                    continue
                c.buf += data
                if response_done(c):
                    c.buf = b""
                    finish(c, c.status is not None and c.status > 0)
    failed += busy + (args.n - started)
    if slow:
        failed += settle(sel, held, statuses, args.settle)
        statuses.pop(0, None)
        statuses["held"] = len(held)
    st = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=str))
    print(f"httphold: holding {len(held)} ok={len(held)} failed={failed} "
          f"status={st or '-'} secs={time.monotonic() - t0:.2f}", flush=True)

    for c in held:
        sel.register(c.sock, selectors.EVENT_READ, c)
    closed = 0
    while not stop:
        if complete:
            complete_heads(sel, held, args.timeout)
            complete.clear()
            held = []
            continue
        for key, ev in sel.select(0.5):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed += 1
                sel.unregister(c.sock)
                c.sock.close()
    print(f"httphold: done held={len(held) - closed} closed_by_peer={closed}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
