"""tools/check-layers on the fixture tree of test/layers/: the clean tree
passes, and each broken copy (a circle through an include, a circle through
a call, an upward edge, a denied edge, a module in no layer, a module with
no object) fails with the line that names it. Each case copies the fixture
into a temporary folder and compiles it there with gcc -c."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

FIXTURE = os.path.join(lib.TOP, "test", "layers")
TOOL = os.path.join(lib.TOP, "tools", "check-layers")
CC = os.environ.get("CC", "gcc")


def tree(edits=None, skip_objects=()):
    """A compiled copy of the fixture with <edits> applied: {path: text}
    replaces a file (None removes it). Returns the copy's folder."""
    d = os.path.join(lib.tmpdir(), "tree")
    shutil.copytree(FIXTURE, d)
    for path, text in (edits or {}).items():
        full = os.path.join(d, path)
        if text is None:
            os.unlink(full)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    for dirpath, _, files in os.walk(d):
        for name in files:
            if not name.endswith(".c"):
                continue
            src = os.path.relpath(os.path.join(dirpath, name), d)
            if src in skip_objects:
                continue
            obj = os.path.join(d, "build", src[:-2] + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            cmd = [CC, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", d, "-c", "-o", obj,
                   os.path.join(d, src)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            lib.check(r.returncode == 0, "%s: %s" % (" ".join(cmd), r.stdout.decode()))
    return d


def run(d, *extra, rules=None):
    """(exit status, output lines) of the tool on tree <d>."""
    argv = [sys.executable, TOOL, "--top", d, "--build", os.path.join(d, "build"),
            "--rules", rules or os.path.join(d, "layers.conf")] + list(extra)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode()
    print("$ %s\n%s" % (" ".join(argv[1:]), out), end="")
    return r.returncode, out.splitlines()


def read(path):
    with open(os.path.join(FIXTURE, path)) as f:
        return f.read()


def summary(lines):
    m = re.match(r"check-layers: (\d+) modules, (\d+) edges, (\d+) violations$", lines[-1])
    lib.check(m, "no summary line: %r" % lines[-1:])
    return tuple(int(x) for x in m.groups())


def violations(lines, kind):
    return [l for l in lines if l.startswith("check-layers: %s: " % kind)]


def fails_with(d, kind, *words):
    """Runs the tool on <d>: exit 1, and exactly one violation, of <kind>,
    holding every one of <words>. Returns that line."""
    rc, lines = run(d)
    lib.check(rc == 1, "exit status %d, expected 1" % rc)
    n = summary(lines)[2]
    lib.check(n == 1, "%d violations, expected 1" % n)
    found = violations(lines, kind)
    lib.check(len(found) == 1, "no %s line" % kind)
    for w in words:
        lib.check(w in found[0], "%r not in %r" % (w, found[0]))
    return found[0]


def test_clean_fixture_passes():
    d = tree()
    rc, lines = run(d, "--list", "--dot", os.path.join(d, "graph.dot"))
    lib.check(rc == 0, "exit status %d, expected 0" % rc)
    lib.check(summary(lines) == (9, 10, 0), "summary %r" % lines[-1])
    edges = [l for l in lines if l.startswith("edge: ")]
    lib.check(len(edges) == 10, "%d edge lines" % len(edges))
    text = "\n".join(edges)
    # An include and a call give one edge with both pieces of evidence.
    lib.check(re.search(r"^edge: mem/pool.c -> base/log.c \[mem -> base\]: includes base/log.h "
                        r"at mem/pool.c:1; calls log_msg$", text, re.M), "pool -> log")
    # The plug-in family's header is no module's: lb.c -> lb_rr.c only.
    lib.check("edge: lb/lb.c -> lb/lb_rr.c" in text, "lb -> lb_rr")
    lib.check("edge: lb/lb_rr.c" not in text, "lb_rr reaches something")
    # Including a -t.h is no edge: web.c reaches pool.c only through pump.c.
    lib.check("edge: proto/web.c -> mem/pool.c" not in text, "web -> pool through pool-t.h")
    with open(os.path.join(d, "graph.dot")) as f:
        dot = f.read()
    lib.check("subgraph cluster_" in dot and '"proto/l4.c" -> "lb/lb.c"' in dot, "dot: %s" % dot)


def test_circle_through_an_include_fails():
    acct = read("mem/acct.c").replace('#include "mem/acct.h"\n',
                                      '#include "mem/acct.h"\n#include "mem/pool.h"\n')
    d = tree({"mem/acct.c": acct})
    fails_with(d, "cycle", "2 modules {mem/acct.c mem/pool.c}",
               "mem/acct.c -> mem/pool.c (includes mem/pool.h at mem/acct.c:2)",
               "-> mem/acct.c (includes mem/acct.h at mem/pool.c:2 +1 more)")


def test_circle_through_a_call_fails():
    acct = read("mem/acct.c") + ("\nstruct pool;\nint pool_get(struct pool *p);\n"
                                 "int acct_probe(struct pool *p);\n\n"
                                 "int acct_probe(struct pool *p)\n{\n\treturn pool_get(p);\n}\n")
    d = tree({"mem/acct.c": acct})
    fails_with(d, "cycle", "2 modules {mem/acct.c mem/pool.c}",
               "mem/acct.c -> mem/pool.c (calls pool_get) -> mem/acct.c")


def test_circle_of_three_names_every_module():
    # web -> pump (existing), pump -> lb (call), lb -> web (include): the
    # cycle crosses layers, so the upward edges fail too.
    pump = read("proto/pump.c") + "\nint lb_pick(int n);\nint pump_lb(void);\n\n" \
        "int pump_lb(void)\n{\n\treturn lb_pick(1);\n}\n"
    lb = read("lb/lb.c").replace('#include "lb/lb.h"\n', '#include "lb/lb.h"\n#include "proto/web.h"\n')
    d = tree({"proto/pump.c": pump, "lb/lb.c": lb})
    rc, lines = run(d, "--cycles")
    lib.check(rc == 1, "exit status %d" % rc)
    cyc = violations(lines, "cycle")
    lib.check(len(cyc) == 1, "cycle lines %r" % cyc)
    lib.check("3 modules {lb/lb.c proto/pump.c proto/web.c}: lb/lb.c -> proto/web.c (includes "
              "proto/web.h at lb/lb.c:3) -> proto/pump.c (includes proto/pump.h at proto/web.c:2 "
              "+1 more) -> lb/lb.c (calls lb_pick)" in cyc[0], cyc[0])
    lib.check("circle: 3 modules {lb/lb.c proto/pump.c proto/web.c}" in lines, "--cycles line")
    lib.check(len(violations(lines, "up")) == 1, "up lines")


def test_upward_edge_fails():
    log = read("base/log.c").replace('#include "base/log.h"\n',
                                     '#include "base/log.h"\n#include "mem/acct.h"\n')
    d = tree({"base/log.c": log})
    fails_with(d, "up", "base/log.c (base) -> mem/acct.c (mem): includes mem/acct.h at base/log.c:4")


def test_upward_edge_through_a_header_of_no_module_fails():
    # mem/all.h has no mem/all.c: it is looked through, so log.c reaches acct.c.
    allh = "#ifndef FIXTURE_MEM_ALL_H\n#define FIXTURE_MEM_ALL_H\n\n#include \"mem/acct.h\"\n\n#endif\n"
    log = read("base/log.c").replace('#include "base/log.h"\n',
                                     '#include "base/log.h"\n#include "mem/all.h"\n')
    d = tree({"mem/all.h": allh, "base/log.c": log})
    fails_with(d, "up", "base/log.c (base) -> mem/acct.c (mem): includes mem/acct.h at mem/all.h:4 "
               "via base/log.c:4")


def test_denied_edge_fails():
    l4 = read("proto/l4.c") + "\nint web_serve(int n);\nint l4_web(void);\n\n" \
        "int l4_web(void)\n{\n\treturn web_serve(1);\n}\n"
    d = tree({"proto/l4.c": l4})
    fails_with(d, "denied", "proto/l4.c -> proto/web.c: calls web_serve",
               "# a protocol never reaches another protocol")


def test_plugin_reaching_its_core_is_denied():
    rr = read("lb/lb_rr.c").replace('#include "lb/lb-int.h"\n',
                                    '#include "lb/lb-int.h"\n#include "lb/lb.h"\n')
    d = tree({"lb/lb_rr.c": rr})
    rc, lines = run(d)
    lib.check(rc == 1, "exit status %d" % rc)
    lib.check(len(violations(lines, "denied")) == 1 and len(violations(lines, "cycle")) == 1,
              "expected one denied and one cycle line")
    lib.check("lb/lb_rr.c -> lb/lb.c: includes lb/lb.h at lb/lb_rr.c:2" in
              violations(lines, "denied")[0], "denied line")


def test_unplaced_module_fails():
    d = tree({"extra/new.c": "int new_fn(void);\n\nint new_fn(void)\n{\n\treturn 0;\n}\n"})
    fails_with(d, "unplaced", "extra/new.c is in no layer")


def test_module_without_object_fails():
    d = tree(skip_objects=("proto/web.c",))
    fails_with(d, "no-object", "proto/web.c has no object")


def test_bad_rules_file_is_an_error():
    d = tree()
    bad = os.path.join(d, "bad.conf")
    with open(bad, "w") as f:
        f.write("layer base base/*\nlayer mem mem/*\nlayer base lb/*\n")
    rc, lines = run(d, rules=bad)
    lib.check(rc == 2, "exit status %d, expected 2" % rc)
    lib.check(any("bad.conf:3: layer base was already defined" in l for l in lines), "message")


if __name__ == "__main__":
    lib.main(globals(), limit=60)
