#!/usr/bin/env python3
"""tools/tlssend.py — push bytes over TLS connections to a sink (bulk TLS).

  tlssend.py -c HOST:PORT -n CONNS -b BYTES [--chunk 262144] [--timeout 120]
             [--cafile FILE] [--min-version 1.3]

Opens CONNS TLS connections to HOST:PORT at once (one thread each; the
ssl module releases the GIL while it encrypts and sends, so a few threads
keep one CPU busy), sends BYTES of a fixed pattern on each in CHUNK-sized
writes, then ends each connection with close_notify (ssl unwrap) and waits
for the peer to close, so the last byte has left the proxy when the clock
stops. Prints

  tlssend: done ok=N failed=F bytes=B secs=S version=TLSv1.3 cipher=NAME

on stdout (bytes: what the ssl writes accepted; secs: from the first
connect to the last connection closed). Exit status 0 when failed=0.
Certificates are not verified unless --cafile is given. Python 3 standard
library only; used by `tools/bench tls`.
"""

import argparse
import socket
import ssl
import sys
import threading
import time


def main(argv):
    ap = argparse.ArgumentParser(prog="tlssend.py")
    ap.add_argument("-c", "--connect", required=True, help="HOST:PORT")
    ap.add_argument("-n", type=int, default=1, help="connections")
    ap.add_argument("-b", "--bytes", type=int, required=True,
                    help="bytes per connection")
    ap.add_argument("--chunk", type=int, default=256 * 1024,
                    help="bytes per ssl write")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--cafile")
    ap.add_argument("--min-version", choices=["1.2", "1.3"], default="1.3")
    args = ap.parse_args(argv)
    host, port = args.connect.rsplit(":", 1)
    addr = (host, int(port))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = (ssl.TLSVersion.TLSv1_3 if args.min_version == "1.3"
                           else ssl.TLSVersion.TLSv1_2)
    chunk = memoryview(bytes(range(256)) * (args.chunk // 256 + 1))[:args.chunk]
    lock = threading.Lock()
    res = {"ok": 0, "failed": 0, "bytes": 0, "version": "-", "cipher": "-",
           "errors": []}
    deadline = time.monotonic() + args.timeout

    def one(i):
        sent = 0
        try:
            raw = socket.create_connection(addr, timeout=args.timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = ctx.wrap_socket(raw, server_hostname=host)
            with lock:
                res["version"] = s.version()
                res["cipher"] = s.cipher()[0]
            while sent < args.bytes:
                if time.monotonic() > deadline:
                    raise TimeoutError("--timeout")
                part = chunk[:min(args.chunk, args.bytes - sent)]
                s.sendall(part)
                sent += len(part)
            try:
                s.unwrap()  # close_notify; returns when the peer ends too
            except (ssl.SSLError, OSError):
                pass  # the peer closed without its own close_notify
            s.close()
            with lock:
                res["ok"] += 1
                res["bytes"] += sent
        except (OSError, ssl.SSLError) as e:
            with lock:
                res["failed"] += 1
                res["bytes"] += sent
                res["errors"].append(f"conn {i}: {e}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(args.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic() + 5))
    secs = time.monotonic() - t0
    for e in res["errors"][:5]:
        print("tlssend: " + e, file=sys.stderr)
    print(f"tlssend: done ok={res['ok']} failed={res['failed']} "
          f"bytes={res['bytes']} secs={secs:.3f} version={res['version']} "
          f"cipher={res['cipher']}", flush=True)
    return 0 if res["failed"] == 0 and res["ok"] == args.n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
