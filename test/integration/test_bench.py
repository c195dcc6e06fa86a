"""tools/bench's before/after table (--ringlb-base) on made-up runs, no
proxy started: the verdict is on the paired ratio (each run's new/base,
then the median) when every run has both builds, on the ratio of the
medians otherwise; within 3 % is "the same", else better or WORSE by the
figure's direction."""
import importlib.machinery
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

_loader = importlib.machinery.SourceFileLoader(
    "ringlb_bench", os.path.join(lib.TOP, "tools", "bench"))
_spec = importlib.util.spec_from_loader("ringlb_bench", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)


class Args:
    ringlb = "new/build/ringlb"
    ringlb_base = "base/build/ringlb"


class Bench:
    args = Args()
    skipped = {}
    versions = {}


def idle_res(new_runs, base_runs):
    """An idle scenario's result: rows are medians, runs interleaved."""
    runs = ([{"proxy": "ringlb", "pss_per_conn": v} for v in new_runs] +
            [{"proxy": "ringlb-base", "pss_per_conn": v} for v in base_runs])
    rows = [{"proxy": "ringlb", "pss_per_conn": bench.med(new_runs)},
            {"proxy": "ringlb-base", "pss_per_conn": bench.med(base_runs)}]
    return {"rows": rows, "runs": runs}


def figure(res):
    (f,) = bench.before_after(Bench(), "idle", res)["figures"]
    print(f"new {f['new_runs']} base {f['base_runs']}: ratio {f['ratio']:.3f}, "
          f"paired {f['paired']}, {f['verdict']}")
    return f


def test_drift_between_runs_cancels_in_the_paired_ratio():
    # The machine's speed moves from run to run, and in run 2 it moved
    # between the two builds: the medians say 0.75x, the pairs 0.98x.
    f = figure(idle_res([102.0, 150.0, 294.0], [100.0, 200.0, 300.0]))
    lib.check(abs(f["ratio"] - 0.75) < 1e-9, "ratio of the medians %r" % f["ratio"])
    lib.check(abs(f["paired"] - 0.98) < 1e-9, "paired ratio %r" % f["paired"])
    lib.check(f["verdict"] == bench.SAME_TEXT, "verdict %r" % f["verdict"])


def test_a_paired_difference_past_3_percent_is_judged_by_direction():
    base = [200.0, 210.0, 220.0]
    lower = figure(idle_res([b * 0.9 for b in base], base))  # Pss: lower is better
    lib.check(lower["verdict"] == "better", "verdict %r" % lower["verdict"])
    higher = figure(idle_res([b * 1.1 for b in base], base))
    lib.check(higher["verdict"] == "WORSE", "verdict %r" % higher["verdict"])


def test_runs_missing_on_one_side_fall_back_to_the_medians():
    f = figure(idle_res([100.0, 110.0, 120.0], [100.0, 100.0]))
    lib.check(f["paired"] is None, "paired %r with unequal runs" % f["paired"])
    lib.check(abs(f["ratio"] - 1.1) < 1e-9, "ratio %r" % f["ratio"])
    lib.check(f["verdict"] == "WORSE", "verdict %r" % f["verdict"])


if __name__ == "__main__":
    lib.main(globals(), limit=30)
