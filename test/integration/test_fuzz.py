"""The libFuzzer harnesses, a few seconds each: every test/fuzz/fuzz_NAME.c
built as BUILD/fuzz/fuzz_NAME (make test builds them) runs each of its
committed seeds (test/fuzz/corpus/NAME/), then fuzzes from them for 3 s into
a scratch corpus, through test/fuzz/run.sh as `make fuzz` does. A crash,
leak, timeout or sanitizer report on a committed seed, or found in those
seconds, fails the harness's test: the output names the seed, or the input
found is left in BUILD/fuzz/artifacts/.
"""
import glob
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

SECS = 3
FUZZ = os.path.join(lib.TOP, "test", "fuzz")
NAMES = sorted(os.path.basename(p)[len("fuzz_"):-2] for p in glob.glob(os.path.join(FUZZ, "fuzz_*.c")))


def fuzz(name):
    seeds = os.path.join(FUZZ, "corpus", name)
    check(os.path.isdir(seeds) and os.listdir(seeds), "fuzz_%s has no seeds in %s" % (name, seeds))
    check(os.access(os.path.join(lib.BUILD, "fuzz", "fuzz_" + name), os.X_OK),
          "fuzz_%s is not built (make fuzz-build)" % name)
    scratch = lib.tmpdir()
    try:
        p = lib.Proc([os.path.join(FUZZ, "run.sh"), lib.BUILD, name, str(SECS), scratch],
                     name="fuzz_" + name, cwd=lib.TOP)
        rc = p.wait(60 + SECS)
        out = p.output()
        check(rc == 0, "fuzz_%s exited %s:\n%s" % (name, rc, p.tail(60)))
        done = re.search(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) .* exec/s: (\d+)", out, re.M)
        check(done, "fuzz_%s printed no DONE line:\n%s" % (name, p.tail()))
        print("     fuzz_%s: %s runs, cov %s ft %s, %s exec/s" % ((name,) + done.groups()), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_every_harness_has_seeds():
    check(NAMES, "no harness in %s" % FUZZ)
    for n in NAMES:
        check(os.listdir(os.path.join(FUZZ, "corpus", n)), "fuzz_%s has no seeds" % n)


for _n in NAMES:
    globals()["test_fuzz_%s_survives_its_seeds_and_%d_seconds" % (_n, SECS)] = \
        lambda n=_n: fuzz(n)

if __name__ == "__main__":
    lib.main(globals())
