"""Certificates for the TLS integration tests, made per run.

make(dir) writes, with openssl (one `openssl req -CA` call per certificate):
  ca.pem ca.key              the server CA (ECDSA P-256)
  site-ec.pem site-ec.key    site.test, localhost, IP 127.0.0.1 (ECDSA P-256): the default
  site-rsa.pem site-rsa.key  the same names (RSA 2048)
  site-v2.pem site-v2.key    the same names, O=v2 (ECDSA): the reload swaps to it
  a.pem b.pem c.pem          a.test, b.test, c.test (ECDSA, one key: leaf.key)
  wild.pem                   *.wild.test (ECDSA, leaf.key)
  backend.pem                backend.test (ECDSA, leaf.key): the nginx upstream
  clientca.pem clientca.key  the client CA (ECDSA)
  client.pem client.key      a client certificate from clientca
  rogueca.pem rogue.pem rogue.key  a client certificate from another CA
  mismatch.key               a key that matches no certificate

make_sni(dir, n) writes n more: snica.pem (an ECDSA CA made by openssl) and
sni/NNNN.pem, certificate N for nNNNN.sni.test, all for one ECDSA key
(sni/leaf.key). openssl costs ~55 ms a process here (1,000 certificates
would be a minute) and RSA signing in Python ~8 ms, so these are assembled
in DER and ECDSA-signed by this module in pure Python (well under 1 ms
each); openssl makes the keys, the test checks some with `openssl verify`
and its client verifies every one it is served.
"""
import base64
import datetime
import hashlib
import os
import subprocess

LEAF_CNF = """
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @{alt}
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
"""


def _run(argv, cwd):
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), p.stderr.decode(errors="replace")))
    return p.stdout


def _ec(d, name):
    _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", name], d)


def _rsa(d, name):
    _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
          "-out", name], d)


def _ca(d, name, key, cn):
    _run(["openssl", "req", "-new", "-x509", "-key", key, "-subj", "/CN=" + cn, "-days", "2",
          "-sha256", "-config", "leaf.cnf", "-extensions", "ca", "-out", name], d)


def _leaf(d, name, key, subj, ext, ca, cakey, alt=None):
    cnf = "leaf.cnf"
    if alt:
        cnf = name + ".cnf"
        with open(os.path.join(d, cnf), "w") as f:
            f.write(LEAF_CNF.replace("{alt}", "alt") + "[alt]\n" +
                    "".join("%s.%d = %s\n" % (k, i, v) for i, (k, v) in enumerate(alt)))
    _run(["openssl", "req", "-new", "-key", key, "-subj", subj, "-CA", ca, "-CAkey", cakey,
          "-days", "1", "-sha256", "-set_serial", "0x" + os.urandom(12).hex(),
          "-config", cnf, "-extensions", ext, "-out", name], d)


def make(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "leaf.cnf"), "w") as f:
        f.write(LEAF_CNF.replace("{alt}", "noalt") + "[noalt]\nDNS.1 = unused.test\n")
    site = [("DNS", "site.test"), ("DNS", "localhost"), ("IP", "127.0.0.1")]
    for k in ("ca.key", "clientca.key", "rogueca.key", "site-ec.key", "site-v2.key", "leaf.key",
              "client.key", "rogue.key", "mismatch.key"):
        _ec(d, k)
    _rsa(d, "site-rsa.key")
    _ca(d, "ca.pem", "ca.key", "ringlb tls_int CA")
    _ca(d, "clientca.pem", "clientca.key", "ringlb tls_int client CA")
    _ca(d, "rogueca.pem", "rogueca.key", "ringlb tls_int rogue CA")
    srv = lambda name, key, subj, alt: _leaf(d, name, key, subj, "server", "ca.pem", "ca.key", alt)
    srv("site-ec.pem", "site-ec.key", "/O=v1/CN=site.test", site)
    srv("site-rsa.pem", "site-rsa.key", "/O=v1/CN=site.test", site)
    srv("site-v2.pem", "site-v2.key", "/O=v2/CN=site.test", site)
    for n in ("a", "b", "c"):
        srv(n + ".pem", "leaf.key", "/CN=%s.test" % n, [("DNS", n + ".test")])
    srv("wild.pem", "leaf.key", "/CN=*.wild.test", [("DNS", "*.wild.test")])
    srv("backend.pem", "leaf.key", "/CN=backend.test", [("DNS", "backend.test")])
    _leaf(d, "client.pem", "client.key", "/CN=good client", "client", "clientca.pem",
          "clientca.key")
    _leaf(d, "rogue.pem", "rogue.key", "/CN=rogue client", "client", "rogueca.pem",
          "rogueca.key")
    for k in os.listdir(d):
        if k.endswith(".key"):
            os.chmod(os.path.join(d, k), 0o644)
    return d


# ---- DER, just enough for a certificate ----

def _len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag, body):
    return bytes([tag]) + _len(len(body)) + body


def _seq(*parts):
    return _tlv(0x30, b"".join(parts))


def _int(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return _tlv(0x02, b)


def _oid(dotted):
    a = [int(x) for x in dotted.split(".")]
    out = bytes([a[0] * 40 + a[1]])
    for v in a[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return _tlv(0x06, out)


def _read_tlv(b, at):
    """(tag, start of the value, end of the value) of the TLV at <at>."""
    tag, n = b[at], b[at + 1]
    at += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[at:at + k], "big")
        at += k
    return tag, at, at + n


def _children(b, start, end):
    out = []
    while start < end:
        tag, s, e = _read_tlv(b, start)
        out.append((tag, start, s, e))
        start = e
    return out


def _pem_der(text, label):
    body = text.split("-----BEGIN %s-----" % label)[1].split("-----END %s-----" % label)[0]
    return base64.b64decode("".join(body.split()))


def _pem(der, label):
    b = base64.b64encode(der).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        label, "\n".join(b[i:i + 64] for i in range(0, len(b), 64)), label)


# P-256 (FIPS 186-4 D.1.2.3), affine arithmetic: a fixed-base table makes
# k*G 64 additions, about half a millisecond a signature.
_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff
_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
_G = (0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
      0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0]:
        if (a[1] + b[1]) % _P == 0:
            return None
        lam = (3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, _P) % _P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, _P) % _P
    x = (lam * lam - a[0] - b[0]) % _P
    return (x, (lam * (a[0] - x) - a[1]) % _P)


_TABLE = []


def _mul_g(k):
    if not _TABLE:
        base = _G
        for _ in range(64):
            row = [None]
            for _ in range(15):
                row.append(_add(row[-1], base))
            _TABLE.append(row)
            base = _add(row[15], base)  # 16 * base
    acc = None
    for i in range(64):
        acc = _add(acc, _TABLE[i][(k >> (4 * i)) & 15])
    return acc


class _EcKey:
    """A P-256 private key (SEC1 DER from openssl), signing ECDSA-SHA256."""

    def __init__(self, der):
        _, s, e = _read_tlv(der, 0)
        _, _, ps, pe = _children(der, s, e)[1]
        self.d = int.from_bytes(der[ps:pe], "big")

    def sign_sha256(self, msg):
        z = int.from_bytes(hashlib.sha256(msg).digest(), "big")
        while True:
            k = int.from_bytes(os.urandom(32), "big") % _N
            if not k:
                continue
            r = _mul_g(k)[0] % _N
            s = pow(k, -1, _N) * (z + r * self.d) % _N
            if r and s:
                return _seq(_int(r), _int(s))


_ECDSA_SHA256 = _seq(_oid("1.2.840.10045.4.3.2"))


def _utc(t):
    return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())


def make_sni(d, n):
    """n certificates n<I>.sni.test in d/sni/, signed by d/snica.pem."""
    sd = os.path.join(d, "sni")
    os.makedirs(sd, exist_ok=True)
    _ec(d, "snica.key")
    _ca(d, "snica.pem", "snica.key", "ringlb tls_int SNI CA")
    _ec(sd, "leaf.key")
    os.chmod(os.path.join(sd, "leaf.key"), 0o644)
    key = _EcKey(_run(["openssl", "ec", "-in", "snica.key", "-outform", "DER"], d))
    spki = _run(["openssl", "pkey", "-in", os.path.join(sd, "leaf.key"), "-pubout", "-outform",
                 "DER"], d)
    with open(os.path.join(d, "snica.pem")) as f:
        ca = _pem_der(f.read(), "CERTIFICATE")
    # The issuer is the CA's subject, byte for byte: TBS fields 0..5 are
    # [0] version, serial, signature, issuer, validity, subject.
    _, s, e = _read_tlv(ca, 0)
    _, _, ts, te = _children(ca, s, e)[0]
    f = _children(ca, ts, te)
    issuer = ca[f[5][1]:f[5][3]]
    now = datetime.datetime.now(datetime.timezone.utc)
    validity = _seq(_utc(now - datetime.timedelta(hours=1)), _utc(now + datetime.timedelta(days=1)))
    ext_fixed = (_seq(_oid("2.5.29.19"), _tlv(0x01, b"\xff"), _tlv(0x04, _seq())) +
                 _seq(_oid("2.5.29.37"), _tlv(0x04, _seq(_oid("1.3.6.1.5.5.7.3.1")))))
    for i in range(n):
        name = ("n%04d.sni.test" % i).encode()
        subject = _seq(_tlv(0x31, _seq(_oid("2.5.4.3"), _tlv(0x0C, name))))
        san = _seq(_oid("2.5.29.17"), _tlv(0x04, _seq(_tlv(0x82, name))))
        tbs = _seq(_tlv(0xA0, _int(2)), _int(int.from_bytes(os.urandom(12), "big")), _ECDSA_SHA256,
                   issuer, validity, subject, spki, _tlv(0xA3, _seq(ext_fixed + san)))
        cert = _seq(tbs, _ECDSA_SHA256, _tlv(0x03, b"\x00" + key.sign_sha256(tbs)))
        with open(os.path.join(sd, "%04d.pem" % i), "w") as out:
            out.write(_pem(cert, "CERTIFICATE"))
    return sd


if __name__ == "__main__":
    import sys
    import time
    t = time.monotonic()
    make(sys.argv[1])
    print("make: %.2fs" % (time.monotonic() - t))
    t = time.monotonic()
    make_sni(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
    print("make_sni: %.2fs" % (time.monotonic() - t))
