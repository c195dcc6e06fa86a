"""A small authoritative DNS server over UDP for the discovery tests
(standard library only): answers A, AAAA and SRV questions from a table the
test changes while it runs, counts every question it is asked, and can be
stopped (its socket closed: queries then meet ICMP port unreachable) and
started again on the same address.

Why not dnsmasq: the tests need to count queries per name and type, to
answer SERVFAIL on demand and to change TTLs and SRV weights between two
queries; in-process that is a dict assignment, with dnsmasq a file rewrite,
a SIGHUP and its cache in the way.

    dns = DnsServer("127.5.6.1", 5353)
    dns.set("web.test", "A", ["127.5.6.2", "127.5.6.3"], ttl=2)
    dns.set("_h._tcp.web.test", "SRV", [(10, 1, 8081, "b1.web.test")], ttl=2)
    dns.count("web.test", "A")      # questions so far
    dns.stop(); dns.start()
"""
import socket
import struct
import threading
import time

TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
RCODE = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3}


def _name(n):
    out = b""
    for label in n.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _rdata(rtype, value):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    prio, weight, port, target = value
    return struct.pack("!HHH", prio, weight, port) + _name(target)


class DnsServer:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.records = {}  # (name, type) -> (values, ttl)
        self.rcode = {}  # name -> forced rcode
        self.log = []  # (time, name, type) of every question
        self.sock = None
        self.start()

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.settimeout(0.2)
        self.sock = s
        self.running = True
        self.t = threading.Thread(target=self._serve, args=(s,), daemon=True)
        self.t.start()

    def stop(self):
        self.running = False
        self.t.join(5)
        self.sock.close()

    def set(self, name, rtype, values, ttl=30):
        with self.lock:
            self.records[(name.lower().strip("."), rtype)] = (list(values), ttl)

    def fail(self, name, rcode):
        """Answers every question about <name> with <rcode> (None: normally)."""
        with self.lock:
            if rcode:
                self.rcode[name.lower().strip(".")] = RCODE[rcode]
            else:
                self.rcode.pop(name.lower().strip("."), None)

    def count(self, name, rtype):
        with self.lock:
            return sum(1 for _, n, t in self.log if n == name and t == rtype)

    def times(self, name, rtype):
        with self.lock:
            return [at for at, n, t in self.log if n == name and t == rtype]

    def _serve(self, s):
        while self.running:
            try:
                q, peer = s.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self._answer(q)
            if r:
                try:
                    s.sendto(r, peer)
                except OSError:
                    pass

    def _answer(self, q):
        if len(q) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            return None
        p, labels = 12, []
        while p < len(q) and q[p]:
            labels.append(q[p + 1:p + 1 + q[p]].decode("ascii", "replace"))
            p += 1 + q[p]
        p += 1
        if p + 4 > len(q):
            return None
        qtype, qclass = struct.unpack("!HH", q[p:p + 4])
        question = q[12:p + 4]
        name = ".".join(labels).lower()
        tname = {v: k for k, v in TYPES.items()}.get(qtype, str(qtype))
        with self.lock:
            self.log.append((time.monotonic(), name, tname))
            rcode = self.rcode.get(name)
            rec = self.records.get((name, tname))
            known = any(n == name for n, _ in self.records)
        answers = []
        if rcode is None:
            rcode = 0 if known else 3
            if rec:
                values, ttl = rec
                for v in values:
                    rd = _rdata(tname, v)
                    answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rd)) + rd)
        head = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                           len(answers), 0, 0)
        return head + question + b"".join(answers)
