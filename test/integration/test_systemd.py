"""systemd's readiness protocol: ringlb under a test-owned NOTIFY_SOCKET (the
datagram socket systemd gives a Type=notify service) sends READY=1 once
every listener accepts, RELOADING=1 then READY=1 around a reload (also a
failed one), STOPPING=1 at SIGTERM, each with a STATUS= naming the
generation. Where systemd runs (not in this CI), the unit file is started
too."""
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

CONFIG = """
workers: 2
listeners:
  - name: web
    bind: {addr}:7100
    mode: static
    body: "hello\\n"
    timeouts: {{ drain: 2s }}
  - name: l4
    bind: {addr}:7101
    mode: tcp
    pool: p
    timeouts: {{ drain: 1s }}
pools:
  - name: p
    backends:
      - {{ address: {addr}:7100 }}
"""


def test_ready_reloading_ready_stopping_in_order():
    addr = lib.loopback()
    n = lib.Notify()
    try:
        r = lib.Ringlb(CONFIG.format(addr=addr), env={"NOTIFY_SOCKET": n.path})
        m = n.recv()
        check(m.get("READY") == "1", "first message is not READY=1: %s" % m)
        check(m.get("STATUS") == "running generation=1: 2 listeners, 2 workers",
              "status %r" % m.get("STATUS"))
        # READY=1 comes after the ready line, so the listeners accept now.
        st, _, body = lib.http_get(addr + ":7100")
        check(st == 200 and body == b"hello\n", "static listener: %s %r" % (st, body))
        st, _, body = lib.http_get(addr + ":7101")
        check(st == 200 and body == b"hello\n", "l4 listener: %s %r" % (st, body))

        r.write_config(CONFIG.format(addr=addr).replace("workers: 2", "workers: 2\n# 2"))
        gen = r.reload()
        m = n.recv()
        check(m.get("RELOADING") == "1", "after SIGHUP: %s" % m)
        check(re.fullmatch(r"\d+", m.get("MONOTONIC_USEC", "")), "no MONOTONIC_USEC: %s" % m)
        check(m.get("STATUS") == "reloading generation=%d" % gen, "status %r" % m.get("STATUS"))
        m = n.recv()
        check(m.get("READY") == "1", "after the reload: %s" % m)
        check(m.get("STATUS") == "running generation=%d: 2 listeners, 2 workers" % gen,
              "status %r" % m.get("STATUS"))

        # A bad file: RELOADING=1, then READY=1 on the generation that stays.
        r.write_config("workers: nope\n")
        r.reload(expect="failed")
        m = n.recv()
        check(m.get("RELOADING") == "1" and m.get("STATUS") == "reloading generation=%d" % (gen + 1),
              "failed reload: %s" % m)
        m = n.recv()
        check(m.get("READY") == "1", "after the failed reload: %s" % m)
        check(m.get("STATUS") == "running generation=%d: 2 listeners, 2 workers; reload "
              "generation=%d failed, the running config stays" % (gen, gen + 1),
              "status %r" % m.get("STATUS"))

        r.kill(signal.SIGTERM)
        m = n.recv()
        check(m.get("STOPPING") == "1", "after SIGTERM: %s" % m)
        check(m.get("STATUS", "").startswith("stopping: draining connections for up to 2000ms"),
              "status %r" % m.get("STATUS"))
        check(m.get("EXTEND_TIMEOUT_USEC") == "12000000", "extend %r" % m.get("EXTEND_TIMEOUT_USEC"))
        r.finish()
        check(n.none_pending(), "a message after STOPPING=1")
    finally:
        n.close()


def test_without_notify_socket_nothing_changes():
    # The other tests all run without NOTIFY_SOCKET; here a dead one (no
    # listener) must not stop ringlb either: one warning, then as usual.
    addr = lib.loopback()
    d = lib.tmpdir()
    r = lib.Ringlb(CONFIG.format(addr=addr), env={"NOTIFY_SOCKET": os.path.join(d, "gone")})
    st, _, _ = lib.http_get(addr + ":7100")
    check(st == 200, "status %s" % st)
    r.wait_line(r"^ringlb: warning: sd_notify: ")
    r.reload()
    r.finish()
    out = r.output()
    check(out.count("sd_notify") == 1, "sd_notify warned more than once:\n%s" % out)
    shutil.rmtree(d, ignore_errors=True)


def systemd_running():
    if not shutil.which("systemctl"):
        return False, "no systemctl"
    p = subprocess.run(["systemctl", "is-system-running"], capture_output=True, text=True)
    state = p.stdout.strip()
    if state not in ("running", "degraded"):
        return False, "systemctl is-system-running says %r" % (state or p.stderr.strip())
    return True, state


def test_the_unit_starts_under_systemd():
    ok, why = systemd_running()
    if not ok:
        raise lib.TestSkip("systemd is not running here (%s): the NOTIFY_SOCKET test above "
                           "covers the protocol" % why)
    if os.geteuid() != 0:
        raise lib.TestSkip("not root: cannot install a unit")
    # A transient copy of the repository's unit on this build's binary.
    d = lib.tmpdir()
    os.chmod(d, 0o755)
    addr = lib.loopback()
    cfg = os.path.join(d, "ringlb.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(addr=addr))
    os.chmod(cfg, 0o644)
    unit = open(os.path.join(lib.TOP, "tools", "systemd", "ringlb.service.in")).read()
    unit = unit.replace("@SBINDIR@/ringlb", lib.BIN).replace("/etc/ringlb/ringlb.yaml", cfg)
    unit = re.sub(r"^ProtectHome=.*$", "ProtectHome=no", unit, flags=re.M)
    name = "ringlb-test-%d.service" % os.getpid()
    path = os.path.join("/run/systemd/system", name)
    with open(path, "w") as f:
        f.write(unit)
    try:
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        p = subprocess.run(["systemctl", "start", name], capture_output=True, text=True,
                           timeout=60 * lib.SLOW)
        check(p.returncode == 0, "systemctl start: %s" % p.stderr)
        state = subprocess.run(["systemctl", "show", "-p", "ActiveState,SubState,StatusText",
                                name], capture_output=True, text=True).stdout
        check("ActiveState=active" in state and "generation=1" in state, state)
        st, _, _ = lib.http_get(addr + ":7100")
        check(st == 200, "status %s" % st)
        p = subprocess.run(["systemctl", "reload", name], capture_output=True, text=True,
                           timeout=60 * lib.SLOW)
        check(p.returncode == 0, "systemctl reload: %s" % p.stderr)
    finally:
        subprocess.run(["systemctl", "stop", name], timeout=90)
        os.unlink(path)
        subprocess.run(["systemctl", "daemon-reload"])
        shutil.rmtree(d, ignore_errors=True)


lib.main(globals())
