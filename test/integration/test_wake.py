"""Coalesced waits (wake_coalesce_us): a worker with nothing to do, once a
completion has come, sleeps on for the min-wait before it handles it, so a
backend's quick answer waits for it; 0 answers at once. Read on reload."""
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CONFIG = """
workers: 1
wake_coalesce_us: {us}
listeners:
  - name: l4
    bind: {addr}:7000
    mode: tcp
    splice: never
    pool: p
pools:
  - name: p
    backends:
      - {{ address: {addr}:7001 }}
"""

NO_MIN_WAIT = "this kernel has no io_uring min-wait"

# An echo that answers 2 ms after each read: by then the worker has gone
# to sleep, so the answer finds it in its min-wait.
SLOW_ECHO = r"""
import socket, sys, threading, time
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(8)
print("slowecho: listening", flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(64)
        if not d:
            break
        time.sleep(0.002)
        c.sendall(d)
    c.close()
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""


def round_trips(addr, n=12):
    """Seconds each of <n> one-byte round trips through the tcp listener to
    the echo backend took, one at a time, after a quiet pause each (so the
    worker is asleep when the byte arrives)."""
    out = []
    with socket.create_connection((addr, 7000), timeout=10 * lib.SLOW) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n):
            time.sleep(0.03)
            t0 = time.monotonic()
            s.sendall(b"x")
            check(s.recv(16) == b"x", "round trip %d: no echo" % i)
            out.append(time.monotonic() - t0)
    return out


def test_a_quick_backend_answer_waits_for_the_min_wait_and_0_turns_it_off():
    addr = lib.loopback()
    path = os.path.join(lib.tmpdir(), "slowecho.py")
    with open(path, "w") as f:
        f.write(SLOW_ECHO)
    lib.Proc([sys.executable, path, addr + ":7001"], name="slowecho").wait_line(
        r"^slowecho: listening")
    r = lib.Ringlb(CONFIG.format(us=0, addr=addr))
    plain = round_trips(addr)
    # 10 ms: far above the echo's 2 ms, so its answer arrives while the
    # worker still sleeps out its min-wait.
    r.write_config(CONFIG.format(us=10000, addr=addr))
    r.reload()
    coalesced = round_trips(addr)
    r.finish()
    if NO_MIN_WAIT in r.output():
        raise lib.TestSkip("the kernel has no io_uring min-wait (Linux 6.12+): plain waits only")
    med = statistics.median(coalesced)
    # The echo's answer comes back while the worker sleeps out its 10 ms
    # (the client's byte itself wakes it at once: it came after more than
    # 10 ms of quiet), so a round trip takes most of the 10 ms; with 0 it
    # takes the echo's 2 ms and what the machine adds (not asserted: a
    # loaded machine is slow at times, never faster than the min-wait).
    print("plain %.2f ms, coalesced %.2f ms" % (statistics.median(plain) * 1e3, med * 1e3))
    check(med >= 0.006, "median round trip %.2f ms with wake_coalesce_us 10000 (plain: %.2f ms)"
          % (med * 1e3, statistics.median(plain) * 1e3))


if __name__ == "__main__":
    lib.main(globals(), limit=60)
