"""Session tickets with real clients (Python's ssl, OpenSSL 3): the ticket
keys are the process's (tls/ticket.c), so a ticket one worker issued resumes
on the others and after a reload, whose new config builds new TLS contexts;
with session_tickets off nothing resumes. Rotation (1m at the least) is
covered by test/unit/test_tls.c, which drives the key ring directly.
"""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

HTTPS, STATIC = 7200, 7201
CERTS = os.path.join(lib.TOP, "config", "examples", "tls")

CONFIG = """
workers: 2
listeners:
  - name: https
    bind: {addr}:%d
    mode: http
    pool: web
    tls:
      cert: %s/server.crt
      key: %s/server.key
      session_cache: false
      session_tickets: {tickets}
      ticket_key_rotation: {rotation}{lifetime}
  - name: s
    bind: {addr}:%d
    mode: static
    body: "hello\\n"
pools:
  - name: web
    backends:
      - {{ address: {addr}:%d }}
""" % (HTTPS, CERTS, CERTS, STATIC, STATIC)


def config(addr, tickets="true", rotation="12h", lifetime=None):
    life = "\n      session_lifetime: %s" % lifetime if lifetime else ""
    return CONFIG.format(addr=addr, tickets=tickets, rotation=rotation, lifetime=life)


def tickets_line(r):
    """The key ring's counters of a stats snapshot."""
    for l in r.stats():
        if l.startswith("ringlb: stats tls tickets "):
            return lib.kv(l)
    raise lib.TestFailure("no stats tls tickets line")


def client(version):
    c = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.crt"))
    c.minimum_version = c.maximum_version = version
    return c


def get(ctx, addr, session=None):
    """One GET over TLS, offering <session>; returns (resumed, the session
    the client leaves with)."""
    with socket.create_connection((addr, HTTPS), timeout=10 * lib.SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            body = b""
            while True:  # reading to the end takes the TLS 1.3 ticket in too
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
            check(body.startswith(b"HTTP/1.1 200"), "answer: %r" % body[:80])
            return s.session_reused, s.session


VERSIONS = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)


def test_a_ticket_resumes_on_every_worker_and_after_a_reload():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr))
    for v in VERSIONS:
        r.write_config(config(addr))
        if v != VERSIONS[0]:
            r.reload()
        ctx = client(v)
        resumed, sess = get(ctx, addr)
        check(not resumed and sess.has_ticket, "%s: a first handshake with a ticket" % v.name)
        # The client is told the session lifetime (5m by default).
        check(sess.ticket_lifetime_hint == 300, "%s: ticket lifetime %s, expected 300" % (
            v.name, sess.ticket_lifetime_hint))
        # Connections spread over both workers: every one resumes.
        for _ in range(6):
            resumed, _ = get(ctx, addr, sess)
            check(resumed, "%s: the ticket did not resume" % v.name)
        r.write_config(config(addr, rotation="1h", lifetime="2h"))
        r.reload()
        resumed, renewed = get(ctx, addr, sess)
        check(resumed, "%s: the ticket did not resume after a reload" % v.name)
        if v == ssl.TLSVersion.TLSv1_3:  # a TLS 1.3 resumption brings a new ticket
            check(renewed.ticket_lifetime_hint == 7200, "%s: lifetime after the reload %s" % (
                v.name, renewed.ticket_lifetime_hint))
    t = tickets_line(r)
    check(t["issued"] >= 2 and t["accepted"] + t["renewed"] >= 14 and t["refused"] == 0,
          "ticket counters %s" % t)
    s = r.finish()
    check(s["tls_resumed"] == 14, "tls_resumed=%s, expected 14" % s["tls_resumed"])
    check(s["tls_tickets_issued"] == t["issued"], "summary %s, snapshot %s" % (s, t))


def test_with_session_tickets_off_nothing_resumes():
    addr = lib.loopback()
    r = lib.Ringlb(config(addr, tickets="false"))
    for v in VERSIONS:
        ctx = client(v)
        resumed, sess = get(ctx, addr)
        check(not resumed and not sess.has_ticket, "%s: a ticket was issued" % v.name)
        resumed, _ = get(ctx, addr, sess)
        check(not resumed, "%s: resumed without tickets or cache" % v.name)
    s = r.finish()
    check(s["tls_tickets_issued"] == 0 and s["tls_tickets_accepted"] == 0, "summary %s" % s)


if __name__ == "__main__":
    lib.main(globals())
