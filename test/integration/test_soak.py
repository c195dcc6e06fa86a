"""The short soak (tools/soak.sh --secs 40): the real ringlb under the mixed
load, reloads, killed backends and a flood to Critical pressure, every
error one the run injected, every sampled figure back at idle, memory at
zero after exit. The long one is `tools/soak.sh --long` (README: Soak)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

SECS = 40


def test_short_soak_passes_and_returns_to_idle():
    out = os.path.join(lib.BUILD, "soak")
    p = lib.Proc([os.path.join(lib.TOP, "tools", "soak.sh"), "--secs", str(SECS), "--build", lib.BUILD,
                  "--out", out, "--settle", str(60 * lib.SLOW)], name="soak")
    rc = p.wait(SECS + 200)
    for line in p.output().splitlines():
        if not line.startswith("soak: FAIL: error not injected: wrk"):
            print("     " + line, flush=True)
    check(rc == 0, "soak exited %s:\n%s" % (rc, p.tail(40)))
    check(os.path.getsize(os.path.join(out, "soak.png")) > 0, "no PNG")


if __name__ == "__main__":
    lib.main(globals(), limit=SECS + 260)
