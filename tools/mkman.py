#!/usr/bin/env python3
"""Writes the ringlb(8) man page (roff) from what ringlb itself says:
`ringlb --help` (synopsis and options), `ringlb --version`, and
config/KEYS.md (every key: generated from the schema and checked against it
by test_config). Only the sections no other source holds (signals, files,
exit status) are written here, so the page cannot drift from the program.

  tools/mkman.py BIN KEYS.md OUT      (the Makefile's $(BUILD)/ringlb.8)

The date is SOURCE_DATE_EPOCH's when set (reproducible package builds),
else the newest of the inputs' modification times.
"""
import os
import re
import subprocess
import sys
import time


def esc(text):
    """roff-escapes plain text: backslashes, hyphens of options, and a
    leading '.' or "'" that would read as a request."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w])-", r"\\-", text)
    return text


def inline(md):
    """A line of Markdown: `code` and **bold** in bold, the rest plain."""
    out = []
    for part in re.split(r"(`[^`]*`|\*\*[^*]*\*\*)", md):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append("\\fB" + esc(part[1:-1]) + "\\fR")
        elif part.startswith("**") and part.endswith("**") and len(part) > 3:
            out.append("\\fB" + esc(part[2:-2]) + "\\fR")
        else:
            out.append(esc(part))
    return "".join(out)


def line(s):
    """One output line that cannot start a request."""
    return "\\&" + s if s[:1] in (".", "'") else s


def synopsis_and_options(help_text):
    """(usage words, [(flags, description)], trailing paragraphs) of --help."""
    lines = help_text.rstrip("\n").split("\n")
    m = re.match(r"usage: ringlb (.*)$", lines[0])
    if not m:
        sys.exit("mkman: --help does not start with 'usage: ringlb'")
    opts, tail = [], []
    for l in lines[1:]:
        om = re.match(r"^\s+(-\S.*?)\s{2,}(\S.*)$", l)
        if om:
            opts.append((om.group(1), om.group(2)))
        elif l.startswith("        ") and opts:  # a wrapped description
            opts[-1] = (opts[-1][0], opts[-1][1] + " " + l.strip())
        elif l.strip():
            tail.append(l.strip())
    return m.group(1), opts, tail


def flags_roff(flags):
    """"-c, --config FILE" -> bold flags, italic arguments."""
    out = []
    for i, word in enumerate(flags.replace(",", " ,").split()):
        if word == ",":
            out[-1] += ","
        elif word.startswith("-"):
            out.append("\\fB" + esc(word) + "\\fR")
        else:
            out.append("\\fI" + esc(word) + "\\fR")
    return " ".join(out)


def keys_roff(md):
    """config/KEYS.md: its bullets as paragraphs, each '## ' section as .SS
    and each table row as a tagged paragraph."""
    out = []
    bullet = None
    para = []

    def flush():
        nonlocal bullet, para
        if bullet is not None:
            out.extend([".IP \\(bu 2", line(inline(" ".join(bullet)))])
        if para:
            out.extend([".PP", line(inline(" ".join(para)))])
        bullet, para = None, []

    in_comment = False
    for l in md.split("\n"):
        if l.startswith("<!--"):
            in_comment = "-->" not in l
            continue
        if in_comment:
            in_comment = "-->" not in l
            continue
        if l.startswith("# "):
            continue
        if l.startswith("## "):
            flush()
            out.extend([".SS " + inline(l[3:])])
            continue
        if l.startswith("|"):
            flush()
            cells = [c.strip() for c in l.strip().strip("|").split(" | ")]
            if cells[0] in ("key", "variable") or set(l) <= set("|-: "):
                continue
            key, typ, default, env, flag, doc = (cells + [""] * 6)[:6]
            out.extend([".TP", line(inline(key))])
            facts = ["type: " + typ, "default: " + default]
            if env and env != "-":
                facts.append("environment: " + env)
            if flag and flag != "-":
                facts.append("flag: " + flag)
            out.append(line(inline(doc[:1].upper() + doc[1:] + ".")) if doc else "")
            out.extend([".br", line(inline("; ".join(facts)))])
            continue
        if l.startswith("- "):
            flush()
            bullet = [l[2:]]
            continue
        if not l.strip():
            flush()
            continue
        if bullet is not None:
            bullet.append(l.strip())
        else:
            para.append(l.strip())
    flush()
    return [o for o in out if o != ""]


FIXED = r"""
.SH SIGNALS
.TP
.BR SIGTERM ", " SIGINT
Stop accepting, let connections finish for the listeners' \fBdrain\fR time
(idle keep-alive connections close at once), log the summary and exit 0.
.TP
.B SIGHUP
Reload the config file: parse and validate it again; new connections use the
new config from the \fBreload generation=G ok\fR line on, existing ones finish
on theirs. A bad file is logged and the running config stays.
.TP
.B SIGUSR1
Log the stats snapshot (memory per component, node and size class, pressure,
counters per worker and backend).
.SH ENVIRONMENT
.TP
.B RINGLB_*
Set the config key of the same path, upper\-cased with \fB.\fR as \fB_\fR
(see CONFIGURATION). Precedence: flag > variable > file > default.
.TP
.B NOTIFY_SOCKET
Set by systemd for a \fBType=notify\fR service: ringlb sends READY=1 when every
listener accepts, RELOADING=1 and READY=1 around a reload, STOPPING=1 at
shutdown, and STATUS= lines naming the config generation (sd_notify(3)).
Unset, nothing is sent.
.SH FILES
.TP
.I /etc/ringlb/ringlb.yaml
The config file the systemd unit and the Debian package use.
.TP
.I ringlb.service
The systemd unit (\fB/lib/systemd/system\fR in the package,
\fBPREFIX/lib/systemd/system\fR after \fBmake install\fR).
.SH EXIT STATUS
0 after a clean stop, \fB\-\-check\fR of a valid config, \fB\-\-help\fR or
\fB\-\-version\fR; 1 on a config error (every error is listed, one per line, as
\fIFILE:LINE:COL: KEY.PATH: MESSAGE (expected WHAT)\fR) or a fatal start\-up
problem (one \fBringlb: error:\fR line); 2 on a usage error.
.SH SEE ALSO
.BR systemd.service (5),
.BR sd_notify (3),
.BR systemctl (1),
.BR capabilities (7)
"""


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, keys_path, out_path = sys.argv[1:]
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True,
                               text=True).stdout
    version = subprocess.run([binary, "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    keys = open(keys_path, encoding="utf-8").read()
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        epoch = max(os.path.getmtime(p) for p in (binary, keys_path))
    date = time.strftime("%Y-%m-%d", time.gmtime(int(float(epoch))))

    usage, opts, tail = synopsis_and_options(help_text)
    out = [
        '.\\" Generated by tools/mkman.py from "ringlb --help" and config/KEYS.md: do not edit.',
        '.TH RINGLB 8 "%s" "%s" "System Administration"' % (date, esc(version)),
        ".SH NAME",
        "ringlb \\- load balancer for Linux on io_uring (L4 TCP, HTTP/1.1, TLS)",
        ".SH SYNOPSIS",
        ".B ringlb",
        esc(usage),
        ".SH DESCRIPTION",
        "ringlb proxies TCP and HTTP/1.1 connections to pools of backends, with",
        "per\\-CPU workers pinned to their CPUs, each with its own io_uring ring and",
        "SO_REUSEPORT listen sockets, NUMA\\-local pooled and bounded memory, TLS",
        "termination, and one YAML config file with environment and flag overrides,",
        "validated with file:line errors and reloaded on SIGHUP. Every log line goes",
        "to standard error and starts with \\fBringlb:\\fR; \\fBringlb: ready pid=N",
        "generation=G\\fR means every listener accepts.",
        ".SH OPTIONS",
    ]
    for flags, desc in opts:
        out.extend([".TP", flags_roff(flags), line(esc(desc[:1].upper() + desc[1:]) + ".")])
    for t in tail:
        out.extend([".PP", line(esc(t))])
    out.append(".SH CONFIGURATION")
    out.extend(keys_roff(keys))
    out.extend(FIXED.strip("\n").split("\n"))
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, out_path)


main()
