#!/usr/bin/env python3
"""tools/tlshold.py — N idle HTTPS keep-alive connections, one request each.

  tlshold.py -c HOST:PORT -n N [--batch 64] [--path /] [--timeout 120]
             [--cafile FILE] [--min-version 1.3]

The TLS twin of tools/httphold.py: opens N connections to HOST:PORT, at
most --batch of them busy at once, does a full TLS handshake on each (no
session is reused), sends one `GET PATH HTTP/1.1` with keep-alive, reads
the whole response (Content-Length or chunked), and then holds every
connection open without sending anything until SIGTERM. Prints

  tlshold: holding N ok=N failed=F status=200:N secs=S version=V cipher=C

on stdout once every connection has its response (or failed), then

  tlshold: done held=K closed_by_peer=C

at SIGTERM. Certificates are not verified unless --cafile is given. Each
held connection costs this process one SSL object (OpenSSL, buffers
released when idle) and one fd. Python 3 standard library only; used by
`tools/bench tls`.
"""

import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httphold import response_done  # noqa: E402  (same response parsing)


class Conn:
    __slots__ = ("sock", "raw", "state", "buf", "status", "need")

    def __init__(self, raw):
        self.raw = raw
        self.sock = raw
        self.state = "connecting"
        self.buf = b""
        self.status = None
        self.need = None


def main(argv):
    ap = argparse.ArgumentParser(prog="tlshold.py")
    ap.add_argument("-c", "--connect", required=True, help="HOST:PORT")
    ap.add_argument("-n", type=int, required=True, help="connections")
    ap.add_argument("--batch", type=int, default=64,
                    help="connections with a handshake or request in flight "
                    "at once")
    ap.add_argument("--path", default="/")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--cafile")
    ap.add_argument("--min-version", choices=["1.2", "1.3"], default="1.3")
    args = ap.parse_args(argv)
    host, port = args.connect.rsplit(":", 1)
    addr = (host, int(port))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = (f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\n"
           "User-Agent: tlshold\r\nAccept: */*\r\n\r\n").encode()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = (ssl.TLSVersion.TLSv1_3 if args.min_version == "1.3"
                           else ssl.TLSVersion.TLSv1_2)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    held, failed, statuses = [], 0, {}
    started, busy = 0, 0
    proto = {"version": "-", "cipher": "-"}
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

    def handshake(c):
        """Advances the handshake; then sends the request. False: failed."""
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            sel.modify(c.sock, selectors.EVENT_READ, c)
            return True
        except ssl.SSLWantWriteError:
            sel.modify(c.sock, selectors.EVENT_WRITE, c)
            return True
        except (ssl.SSLError, OSError):
            return False
        proto["version"], proto["cipher"] = c.sock.version(), \
            c.sock.cipher()[0]
        try:
            c.sock.send(req)  # small: one record
        except (ssl.SSLError, OSError):
            return False
        c.state = "reading"
        sel.modify(c.sock, selectors.EVENT_READ, c)
        return True

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
                if c.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(c, False)
                    continue
                sel.unregister(c.raw)
                try:
                    c.sock = ctx.wrap_socket(c.raw, server_hostname=host,
                                             do_handshake_on_connect=False)
                except (ssl.SSLError, OSError):
                    failed += 1
                    busy -= 1
                    c.raw.close()
                    continue
                sel.register(c.sock, selectors.EVENT_WRITE, c)
                c.state = "handshake"
                if not handshake(c):
                    finish(c, False)
            elif c.state == "handshake":
                if not handshake(c):
                    finish(c, False)
            else:
                done = False
                while True:
                    try:
                        data = c.sock.recv(65536)
                    except ssl.SSLWantReadError:
                        break
                    except (ssl.SSLError, OSError):
                        finish(c, False)
                        done = True
                        break
                    if not data:
                        finish(c, False)
                        done = True
                        break
                    c.buf += data
                    if response_done(c):
                        c.buf = b""
                        finish(c, c.status is not None and c.status > 0)
                        done = True
                        break
                if done:
                    continue
    failed += busy + (args.n - started)
    st = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
    print(f"tlshold: holding {len(held)} ok={len(held)} failed={failed} "
          f"status={st or '-'} secs={time.monotonic() - t0:.2f} "
          f"version={proto['version']} cipher={proto['cipher']}", flush=True)

    for c in held:
        sel.register(c.sock, selectors.EVENT_READ, c)
    closed = 0
    while not stop:
        for key, ev in sel.select(0.5):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                closed += 1
                sel.unregister(c.sock)
                c.sock.close()
    print(f"tlshold: done held={len(held) - closed} closed_by_peer={closed}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
