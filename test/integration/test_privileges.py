"""Privileges: started as root, ringlb binds a port below 1024, then runs as
user: and group: with no capability left (checked in /proc), traffic flows,
a reload can no longer add a port below 1024 (a clear error, the running
config stays) but can add others; names that are no account are config
errors in the documented format; a non-root start cannot switch users."""
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CONFIG = """
workers: 2
{user}
listeners:
  - name: low
    bind: {addr}:{low}
    mode: static
    body: "low port\\n"
    timeouts: {{ drain: 1s }}
  - name: l4
    bind: {addr}:{low2}
    mode: tcp
    pool: p
    timeouts: {{ drain: 1s }}
{extra}
pools:
  - name: p
    backends:
      - {{ address: {addr}:{low} }}
"""


def need_root():
    if os.geteuid() != 0:
        raise lib.TestSkip("not root (uid %d): binding below 1024 and switching users need it"
                           % os.geteuid())


def free_low_ports(addr, n):
    """<n> ports in 600..1000 that bind on <addr> now (the address is this
    test's own, so they stay free)."""
    out = []
    for port in range(600 + os.getpid() % 300, 1000):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            out.append(port)
        except OSError:
            pass
        finally:
            s.close()
        if len(out) == n:
            return out
    raise lib.TestFailure("no free port in 600..1000 on %s" % addr)


def status_ids(pid):
    """Uid, Gid, Groups and the capability sets of /proc/PID/status, and the
    same for every thread glibc made (the kernel's iou-wrk-* threads of the
    rings aside: they run requests with the submitter's credentials)."""
    def read(path):
        d = {}
        for line in open(path):
            k, _, v = line.partition(":")
            d[k] = v.split()
        return d
    main = read("/proc/%d/status" % pid)
    threads = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            st = read("/proc/%d/task/%s/status" % (pid, t))
        except FileNotFoundError:
            continue
        if not st["Name"][0].startswith("iou-"):
            threads[t] = st
    return main, threads


def readable_dir(r):
    """The dropped user must read the config to reload it."""
    os.chmod(r.dir, 0o755)
    os.chmod(r.config_path, 0o644)


def test_low_port_bound_as_root_then_runs_as_nobody():
    need_root()
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrgid(nobody.pw_gid)
    addr = lib.loopback()
    low, low2, low3 = free_low_ports(addr, 3)
    piddir = lib.tmpdir()
    os.chown(piddir, nobody.pw_uid, nobody.pw_gid)  # the user removes its pidfile at exit
    pidfile = os.path.join(piddir, "ringlb.pid")
    cfg = CONFIG.format(addr=addr, low=low, low2=low2, user="user: nobody", extra="")
    r = lib.Ringlb(cfg, args=["--pidfile", pidfile])
    readable_dir(r)
    m, _ = r.wait_line(r"^ringlb: user nobody group (\S+): running as uid=(\d+) gid=(\d+), "
                       r"no capabilities$")
    check(m.group(1) == nogroup.gr_name and int(m.group(2)) == nobody.pw_uid and
          int(m.group(3)) == nobody.pw_gid, m.group(0))
    check(int(open(pidfile).read()) == r.pid, "pidfile")

    main, threads = status_ids(r.pid)
    want_u, want_g = [str(nobody.pw_uid)] * 4, [str(nobody.pw_gid)] * 4
    check(len(threads) >= 3, "threads: %s" % sorted(threads))  # control + 2 workers
    for name, st in [("main", main)] + sorted(threads.items()):
        check(st["Uid"] == want_u and st["Gid"] == want_g,
              "%s: Uid %s Gid %s" % (name, st["Uid"], st["Gid"]))
        check(st["Groups"] == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
              or st["Groups"] == [str(nobody.pw_gid)], "%s: Groups %s" % (name, st["Groups"]))
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            check(int(st[cap][0], 16) == 0, "%s: %s %s" % (name, cap, st[cap]))

    # Traffic on both low ports, one of them proxied.
    for port in (low, low2):
        st, _, body = lib.http_get("%s:%d" % (addr, port))
        check(st == 200 and body == b"low port\n", "port %d: %s %r" % (port, st, body))

    # A reload adding a new port below 1024 fails, the old config stays.
    extra = """  - name: new-low
    bind: {addr}:{p}
    mode: static
    body: "new\\n"
""".format(addr=addr, p=low3)
    r.write_config(CONFIG.format(addr=addr, low=low, low2=low2, user="user: nobody", extra=extra))
    start = r.count()
    r.reload(expect="failed")
    m, _ = r.wait_line(r"^ringlb: error: reload generation=2: listener new-low: bind ", 5, start)
    check(("%s:%d: a port below 1024 needs root or CAP_NET_BIND_SERVICE, and ringlb runs as "
           "user nobody uid %d since start (restart it to bind this port)" %
           (addr, low3, nobody.pw_uid)) in m.string, m.string)
    st, _, _ = lib.http_get("%s:%d" % (addr, low))
    check(st == 200, "after the failed reload: %s" % st)

    # One above 1024 is fine as the user (and the file was read as it).
    extra = extra.replace(":%d" % low3, ":7200").replace("new-low", "high")
    r.write_config(CONFIG.format(addr=addr, low=low, low2=low2, user="user: nobody", extra=extra))
    r.reload()
    st, _, body = lib.http_get("%s:7200" % addr)
    check(st == 200 and body == b"new\n", "new listener: %s %r" % (st, body))
    st, _, _ = lib.http_get("%s:%d" % (addr, low2))
    check(st == 200, "kept low listener after reload: %s" % st)
    r.finish()
    check(not os.path.exists(pidfile), "pidfile left behind")
    shutil.rmtree(piddir, ignore_errors=True)


def test_pidfile_in_roots_directory_is_left_with_a_warning():
    need_root()
    addr = lib.loopback()
    (low, low2) = free_low_ports(addr, 2)
    d = lib.tmpdir()
    os.chmod(d, 0o755)  # root's: nobody cannot unlink in it
    pidfile = os.path.join(d, "ringlb.pid")
    r = lib.Ringlb(CONFIG.format(addr=addr, low=low, low2=low2, user="user: nobody\ngroup: nogroup",
                                 extra=""), args=["--pidfile", pidfile])
    r.wait_line(r"^ringlb: user nobody group nogroup: running as ")
    r.finish()
    check(re.search(r"^ringlb: warning: pidfile %s: not removed: Permission denied$" %
                    re.escape(pidfile), r.output(), re.M), r.tail())
    os.unlink(pidfile)
    shutil.rmtree(d, ignore_errors=True)


def check_fails(cfg_text, want, env=None):
    d = lib.tmpdir()
    path = os.path.join(d, "ringlb.yaml")
    with open(path, "w") as f:
        f.write(cfg_text)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([lib.BIN, "--check", "-c", path], capture_output=True, text=True,
                       timeout=20 * lib.SLOW, env=e)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    want = [w.replace("FILE", path) for w in want]
    check(p.returncode == 1 and lines == want, "rc %s, stderr %s, want %s" % (p.returncode, lines, want))
    shutil.rmtree(d, ignore_errors=True)


def test_names_that_are_no_account_are_config_errors():
    base = CONFIG.format(addr="127.0.0.1", low=8080, low2=8081, user="@USER@", extra="")
    check_fails(base.replace("@USER@", "user: no-such-user-rlb\ngroup: no-such-group-rlb"), [
        'FILE:3:7: user: "no-such-user-rlb" is not a user of this system (expected a name '
        'from the passwd database)',
        'FILE:4:8: group: "no-such-group-rlb" is not a group of this system (expected a name '
        'from the group database)'])
    check_fails(base.replace("@USER@", "group: nogroup"), [
        'FILE:3:8: group: "nogroup" is set without user (expected user beside it)'])
    check_fails(base.replace("@USER@", ""), [
        'RINGLB_USER: user: "nosuch-rlb" is not a user of this system (expected a name from the '
        'passwd database)'], env={"RINGLB_USER": "nosuch-rlb"})
    check_fails(base.replace("@USER@", "user: \"no body\""), [
        'FILE:3:7: user: "no body" is not a name (expected a name of letters, digits, '
        '\'-\', \'_\' and \'.\')'])


def setpriv(user):
    """argv prefix that runs a command as <user> with its group and no
    supplementary groups (util-linux's setpriv)."""
    pw = pwd.getpwnam(user)
    return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups"]


def test_not_root_cannot_switch_and_the_same_user_is_a_no_op():
    need_root()
    if not shutil.which("setpriv"):
        raise lib.TestSkip("no setpriv (util-linux)")
    addr = lib.loopback()
    d = lib.tmpdir()
    os.chmod(d, 0o755)
    path = os.path.join(d, "ringlb.yaml")
    text = CONFIG.format(addr=addr, low=7300, low2=7301, user="@USER@", extra="")
    with open(path, "w") as f:
        f.write(text.replace("@USER@", "user: daemon"))
    os.chmod(path, 0o644)
    p = subprocess.run(setpriv("nobody") + [lib.BIN, "-c", path], capture_output=True, text=True,
                       timeout=30 * lib.SLOW)
    errs = [l for l in p.stderr.splitlines() if l.startswith("ringlb: error: ")]
    check(p.returncode == 1 and errs == [
        "ringlb: error: user daemon: switching to it needs root, and ringlb runs as uid %d "
        "(start it as root, or leave user: unset)" % pwd.getpwnam("nobody").pw_uid],
        "rc %s: %s" % (p.returncode, p.stderr))
    check("ringlb: ready " not in p.stderr, "ready before the drop failed:\n%s" % p.stderr)

    # systemd's User= and the config's user: naming the same account.
    with open(path, "w") as f:
        f.write(text.replace("@USER@", "user: nobody"))
    r = lib.Proc(setpriv("nobody") + [lib.BIN, "-c", path], name="ringlb")
    r.wait_line(r"^ringlb: user nobody group nogroup: already running as them$")
    r.wait_line(r"^ringlb: ready pid=\d+ generation=1$")
    st, _, _ = lib.http_get("%s:7301" % addr)
    check(st == 200, "status %s" % st)
    r.kill(signal.SIGTERM)
    check(r.wait(30) == 0, "exit status:\n%s" % r.tail())
    shutil.rmtree(d, ignore_errors=True)


lib.main(globals())
