"""make install: the tree under DESTDIR (PREFIX /usr/local by default, /usr
too), modes, the unit's paths (and systemd-analyze verify), the man page
rendering with man -l, the installed binary validating the installed config,
an existing config kept, and make uninstall."""
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402


def make(*args):
    """`make` on this build's tree, without the jobserver of the make that
    runs the tests; the build is up to date, so it only installs."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    build = os.path.relpath(lib.BUILD, lib.TOP)
    argv = ["make", "--no-print-directory", "-C", lib.TOP, "BUILD=" + build]
    for san in ("asan", "tsan"):
        if san in build:
            argv += ["SAN=" + san, "OPT=-O1"]
    p = subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                       timeout=120 * lib.SLOW)
    check(p.returncode == 0, "make %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    check("  CC " not in p.stdout and "  LD " not in p.stdout,
          "make %s rebuilt something:\n%s" % (" ".join(args), p.stdout))
    return p.stdout


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def ctl_source():
    for p in (os.path.join(lib.BUILD, "tools", "ringlbctl"), os.path.join(lib.TOP, "tools", "ringlbctl")):
        if os.path.isfile(p):
            return p
    return None


def check_tree(root, prefix):
    sbin = root + prefix + "/sbin/ringlb"
    unit = root + prefix + "/lib/systemd/system/ringlb.service"
    man = root + prefix + "/share/man/man8/ringlb.8"
    conf = root + "/etc/ringlb/ringlb.yaml"
    for path, want in ((sbin, 0o755), (unit, 0o644), (man, 0o644), (conf, 0o644),
                       (root + prefix + "/share/doc/ringlb/KEYS.md", 0o644),
                       (root + prefix + "/share/doc/ringlb/README.md", 0o644)):
        check(os.path.isfile(path), "%s is missing" % path)
        check(mode(path) == want, "%s: mode %o, want %o" % (path, mode(path), want))
    ctl = ctl_source()
    installed = root + prefix + "/bin/ringlbctl"
    if ctl:
        check(os.path.isfile(installed) and mode(installed) == 0o755, "ringlbctl not installed")
    else:
        check(not os.path.exists(installed), "ringlbctl installed without a source")
    p = subprocess.run([sbin, "--version"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and p.stdout.startswith("ringlb "), "--version: %r" % p.stdout)
    example = open(os.path.join(lib.TOP, "config/examples/ringlb.yaml")).read()
    check(open(conf).read() == example.replace(": config/examples/errors/", ": /etc/ringlb/errors/"),
          "the installed config is not the example with its error pages in /etc/ringlb/errors/")
    for page in ("502.html", "503.html"):
        path = root + "/etc/ringlb/errors/" + page
        check(os.path.isfile(path) and mode(path) == 0o644, "%s is missing" % path)
    # It names /etc/ringlb/errors/: check the copy under DESTDIR.
    copy = conf + ".check"
    with open(copy, "w") as f:
        f.write(open(conf).read().replace(": /etc/ringlb/errors/", ": %s/etc/ringlb/errors/" % root))
    p = subprocess.run([sbin, "--check", "-c", copy], capture_output=True, text=True,
                       timeout=20 * lib.SLOW, cwd="/")
    os.unlink(copy)
    check(p.returncode == 0, "--check of the installed config: %s" % p.stderr)
    text = open(unit).read()
    check("@SBINDIR@" not in text, "unsubstituted: %s" % text)
    for want in ("Type=notify\n", "ExecStart=%s/sbin/ringlb -c /etc/ringlb/ringlb.yaml\n" % prefix,
                 "ExecReload=/bin/kill -HUP $MAINPID\n", "Restart=on-failure\n",
                 "LimitNOFILE=", "LimitMEMLOCK=", "ProtectSystem=strict\n", "ProtectHome=yes\n",
                 "NoNewPrivileges=yes\n", "PrivateTmp=yes\n",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID\n",
                 "RestrictAddressFamilies=", "SystemCallFilter=@system-service\n"):
        check(want in text, "unit lacks %r" % want)
    return sbin, unit, man, conf


def check_man(man):
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "-l", man], capture_output=True, text=True, env=env, timeout=30)
    check(p.returncode == 0 and p.stderr == "", "man -l: rc %s %s" % (p.returncode, p.stderr))
    out = p.stdout
    # From --help, from KEYS.md, and the fixed sections.
    for want in ("RINGLB(8)", "SYNOPSIS", "--workers N", "--print-config", "listeners[].bind",
                 "memory_limits.max_total_memory", "RINGLB_MAX_TOTAL_MEMORY", "user", "SIGHUP",
                 "NOTIFY_SOCKET", "EXIT STATUS"):
        check(want in out, "the man page lacks %r" % want)
    help_text = subprocess.run([lib.BIN, "--help"], capture_output=True, text=True).stdout
    for l in help_text.splitlines():
        if l.lstrip().startswith("-"):
            flag = l.split()[0].rstrip(",")
            check(flag in out, "--help's %s is not in the man page" % flag)
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", man], capture_output=True,
                       text=True, env=env, timeout=30)
    check(p.returncode == 0 and p.stderr == "", "groff warnings: %s" % p.stderr)


def verify_unit(unit):
    if not shutil.which("systemd-analyze"):
        return
    d = lib.tmpdir()
    copy = os.path.join(d, "ringlb.service")
    text = open(unit).read()
    # The binary at its installed path does not exist outside DESTDIR.
    text = "\n".join(l.replace(l.split("=", 1)[1].split()[0], lib.BIN)
                     if l.startswith(("ExecStart=", "ExecStartPre=")) else l
                     for l in text.split("\n"))
    with open(copy, "w") as f:
        f.write(text)
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="notice")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", copy], capture_output=True,
                       text=True, env=env, timeout=60)
    check(p.returncode == 0 and p.stderr.strip() == "", "systemd-analyze verify: %s" % p.stderr)
    shutil.rmtree(d, ignore_errors=True)


def test_install_under_destdir_with_the_default_prefix():
    root = lib.tmpdir()
    out = make("install", "DESTDIR=" + root)
    check("install: %s/etc/ringlb/ringlb.yaml" % root in out, out)
    sbin, unit, man, conf = check_tree(root, "/usr/local")
    check_man(man)
    verify_unit(unit)

    # A second install keeps an edited config.
    with open(conf, "a") as f:
        f.write("# edited\n")
    out = make("install", "DESTDIR=" + root)
    check("ringlb.yaml exists, kept" in out, out)
    check(open(conf).read().endswith("# edited\n"), "the edited config was overwritten")

    make("uninstall", "DESTDIR=" + root)
    left = sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)
    check(left == ["etc/ringlb/errors/502.html", "etc/ringlb/errors/503.html",
                   "etc/ringlb/ringlb.yaml"], "after uninstall: %s" % left)
    shutil.rmtree(root)


def test_install_with_prefix_usr_and_the_package_user():
    root = lib.tmpdir()
    make("install", "DESTDIR=" + root, "PREFIX=/usr", "CONFIG_USER=daemon", "CONFIG_GROUP=daemon")
    unit = root + "/usr/lib/systemd/system/ringlb.service"
    check("ExecStart=/usr/sbin/ringlb -c /etc/ringlb/ringlb.yaml\n" in open(unit).read(),
          "unit paths under PREFIX=/usr")
    conf = open(root + "/etc/ringlb/ringlb.yaml").read()
    check("\nuser: daemon " in conf and "\ngroup: daemon " in conf and "user: nobody" not in conf
          and "group: nogroup" not in conf, "CONFIG_USER/GROUP not applied")
    check(os.path.isfile(root + "/usr/sbin/ringlb"), "no /usr/sbin/ringlb")
    shutil.rmtree(root)


lib.main(globals())
