"""make deb, then the package on this machine: dpkg -i, the installed
binary, config (a conffile naming the ringlb user that postinst created),
unit and man page, ringlb run from the package dropping to ringlb, then
dpkg -r (only the conffile stays) and dpkg --purge (nothing stays: files,
/etc/ringlb, the user and group, systemd's links). Run as root by
`make test-deb` (and .ci/run); not in `make test`, since it installs a
package system-wide. Without root, or with a ringlb package already
installed, it says why and skips."""
import glob
import os
import pwd
import grp
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import lib  # noqa: E402
from lib import check  # noqa: E402

SERVICE_LINKS = "/etc/systemd/system/multi-user.target.wants/ringlb.service"


def run(argv, ok=True, timeout=300, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["DEBIAN_FRONTEND"] = "noninteractive"
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if ok:
        check(p.returncode == 0, "%s: rc %s\n%s%s" % (" ".join(argv), p.returncode,
                                                     p.stdout[-3000:], p.stderr[-3000:]))
    return p


def status():
    p = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "ringlb"], ok=False)
    return p.stdout.strip() if p.returncode == 0 else None


def account_exists():
    try:
        pwd.getpwnam("ringlb")
        return True
    except KeyError:
        pass
    try:
        grp.getgrnam("ringlb")
        return True
    except KeyError:
        return False


def skip_reason():
    if os.geteuid() != 0:
        return "not root (uid %d): dpkg -i needs it" % os.geteuid()
    st = status()
    if st and not st.startswith("un"):
        return "a ringlb package is already installed here (%s): not touching it" % st
    if account_exists():
        return "a ringlb user or group exists without the package: not touching it"
    return None


def test_make_deb_install_run_remove_purge():
    why = skip_reason()
    if why:
        raise lib.TestSkip(why)
    t0 = time.monotonic()
    out = run(["make", "--no-print-directory", "-C", lib.TOP, "deb"], timeout=600).stdout
    debs = [l for l in out.split() if l.endswith(".deb")]
    check(len(debs) == 1 and os.path.isfile(debs[0]), "make deb printed %r" % out)
    deb = debs[0]
    print("make deb: %.1fs, %s" % (time.monotonic() - t0, deb), flush=True)
    stamps = glob.glob(os.path.join(lib.TOP, "build/wolfssl/stamp-*"))
    check(stamps, "no wolfSSL stamp: was build/wolfssl rebuilt or moved?")

    listing = run(["dpkg-deb", "-c", deb]).stdout
    for want in ("./usr/sbin/ringlb", "./lib/systemd/system/ringlb.service",
                 "./usr/share/man/man8/ringlb.8.gz", "./etc/ringlb/ringlb.yaml",
                 "./etc/ringlb/errors/502.html"):
        check(re.search(r" %s$" % re.escape(want), listing, re.M), "package lacks %s" % want)
    fields = run(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"]).stdout
    check("adduser" in fields and "libsystemd0" in fields and "liburing2" in fields, fields)
    ctrl = lib.tmpdir()
    run(["dpkg-deb", "-e", deb, ctrl])
    conffiles = open(os.path.join(ctrl, "conffiles")).read().split()
    check(sorted(conffiles) == ["/etc/ringlb/errors/502.html", "/etc/ringlb/errors/503.html",
                                "/etc/ringlb/ringlb.yaml"], "conffiles: %s" % conffiles)

    try:
        run(["dpkg", "-i", deb], timeout=120)
        check(status() == "ii", "status after dpkg -i: %s" % status())
        p = run(["/usr/sbin/ringlb", "--version"])
        check(re.fullmatch(r"ringlb \d+\.\d+\.\d+\n", p.stdout), "--version: %r" % p.stdout)
        pw = pwd.getpwnam("ringlb")
        check(pw.pw_shell in ("/usr/sbin/nologin", "/bin/false") and pw.pw_uid < 1000,
              "ringlb user: %s" % (pw,))
        grp.getgrnam("ringlb")
        conf = open("/etc/ringlb/ringlb.yaml").read()
        check(re.search(r"^user: ringlb ", conf, re.M) and re.search(r"^group: ringlb ", conf, re.M),
              "the packaged config does not name the ringlb user")
        run(["/usr/sbin/ringlb", "--check", "-c", "/etc/ringlb/ringlb.yaml"], cwd="/")
        unit = open("/lib/systemd/system/ringlb.service").read()
        check("ExecStart=/usr/sbin/ringlb -c /etc/ringlb/ringlb.yaml\n" in unit, "unit ExecStart")
        env = dict(os.environ, MANPAGER="cat", PAGER="cat")
        p = subprocess.run(["man", "-l", "/usr/share/man/man8/ringlb.8.gz"], capture_output=True,
                           text=True, env=env, timeout=30)
        check(p.returncode == 0 and "RINGLB(8)" in p.stdout, "man page: %s" % p.stderr)
        # Without systemd running nothing was started.
        if not os.path.isdir("/run/systemd/system"):
            p = run(["pgrep", "-x", "ringlb", "-u", "ringlb"], ok=False)
            check(p.returncode == 1, "a ringlb of the package runs without systemd: %s" % p.stdout)

        # The packaged binary, as root, on a config of ours: drops to ringlb.
        addr = lib.loopback()
        d = lib.tmpdir()
        os.chmod(d, 0o755)
        cfg = os.path.join(d, "t.yaml")
        with open(cfg, "w") as f:
            f.write("workers: 1\nuser: ringlb\nlisteners:\n  - name: s\n    bind: %s:700\n"
                    "    mode: static\n    body: \"pkg\\n\"\n" % addr)
        r = lib.Proc(["/usr/sbin/ringlb", "-c", cfg], name="ringlb")
        r.wait_line(r"^ringlb: user ringlb group ringlb: running as uid=%d " % pw.pw_uid)
        r.wait_line(r"^ringlb: ready pid=\d+ generation=1$")
        st, _, body = lib.http_get(addr + ":700")
        check(st == 200 and body == b"pkg\n", "packaged ringlb: %s %r" % (st, body))
        r.kill(15)
        check(r.wait(30) == 0, "exit:\n%s" % r.tail())

        files = [l for l in run(["dpkg", "-L", "ringlb"]).stdout.split("\n")
                 if l and os.path.isfile(l)]
        run(["dpkg", "-r", "ringlb"], timeout=120)
        check(status() == "rc", "status after dpkg -r: %s" % status())
        left = [f for f in files if os.path.exists(f)]
        check(sorted(left) == sorted(conffiles), "after dpkg -r: %s" % left)

        run(["dpkg", "--purge", "ringlb"], timeout=120)
        check(status() is None or status().startswith("un"), "status after purge: %s" % status())
        left = [f for f in files if os.path.exists(f)]
        check(left == [], "after purge: %s" % left)
        for gone in ("/etc/ringlb", "/var/log/ringlb", SERVICE_LINKS):
            check(not os.path.lexists(gone), "%s left after purge" % gone)
        check(not account_exists(), "the ringlb user or group is left after purge")
    finally:
        if status() and not status().startswith("un"):
            run(["dpkg", "--purge", "ringlb"], ok=False, timeout=120)


lib.main(globals(), limit=900)
