#!/usr/bin/env python3
"""tools/httphold.py — N idle HTTP/1.1 keep-alive connections, one request each.

  httphold.py -c HOST:PORT -n N [--batch 64] [--path /] [--timeout 120]

Opens N connections to HOST:PORT, at most --batch of them busy at once (so
a proxy needs few upstream connections for them), sends one
`GET PATH HTTP/1.1` with keep-alive on each, reads the whole response
(Content-Length or chunked), and then holds every connection open without
sending anything until SIGTERM. Prints

  httphold: holding N ok=N failed=F status=200:N secs=S

on stdout once every connection has its response (or failed), then

  httphold: done held=K closed_by_peer=C

at SIGTERM. Python 3 standard library only; used by `tools/bench http`.
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


def main(argv):
    ap = argparse.ArgumentParser(prog="httphold.py")
    ap.add_argument("-c", "--connect", required=True, help="HOST:PORT")
    ap.add_argument("-n", type=int, required=True, help="connections")
    ap.add_argument("--batch", type=int, default=64,
                    help="connections with a request in flight at once")
    ap.add_argument("--path", default="/")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args(argv)
    host, port = args.connect.rsplit(":", 1)
    addr = (host, int(port))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = (f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\n"
           "User-Agent: httphold\r\nAccept: */*\r\n\r\n").encode()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
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
    st = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
    print(f"httphold: holding {len(held)} ok={len(held)} failed={failed} "
          f"status={st or '-'} secs={time.monotonic() - t0:.2f}", flush=True)

    for c in held:
        sel.register(c.sock, selectors.EVENT_READ, c)
    closed = 0
    while not stop:
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
