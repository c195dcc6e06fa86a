#!/bin/sh
# Runs testssl.sh (Debian package testssl.sh, command `testssl`) against an
# HTTPS listener of build/ringlb and fails on any HIGH or CRITICAL finding.
# Not part of `make test`: a full testssl run takes minutes.
#
#   tools/testssl-check.sh [BUILD]        (default build; run `make` first)
#
# The listener is the HTTPS example's shape: an ECDSA P-256 default
# certificate with an RSA 2048 one for the same names, the default
# versions (1.2, 1.3), ciphers, ALPN, tickets and session cache, in front of
# a static listener. Certificates are made for the run (a CA passed to
# testssl with --add-ca, leaves shaped like a public site's); the address is
# a loopback one of this run's own, 127.R.R.1. ringlb is stopped by its PID at the end
# and its exit memory line must be all zeros.
#
# Prints the severity counts, every finding of MEDIUM or worse (then the LOW
# and WARN ones), and exits 1 if one is HIGH or CRITICAL (or if ringlb or
# testssl fail, or ringlb's exit memory line is not all zeros).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
bin="$top/$build/ringlb"
[ -x "$bin" ] || { echo "testssl-check: no $bin (run make)" >&2; exit 1; }
tssl=$(command -v testssl || command -v testssl.sh || true)
[ -n "$tssl" ] || { echo "testssl-check: testssl not installed (apt-get install testssl.sh)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/rlb-testssl.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Certificates shaped like a public site's, so that testssl judges ringlb
# and not a test certificate: 90 days (under 30 days left is HIGH for
# testssl), a CRL and an OCSP address (neither is HIGH; .invalid names,
# never fetched without --phone-out), SAN localhost, a CA of this run.
c="$tmp/c"
mkdir -p "$c"
cat >"$c/x.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://crl.ringlb.invalid/ca.crl
authorityInfoAccess = OCSP;URI:http://ocsp.ringlb.invalid/
CNF
q() { "$@" >/dev/null 2>&1 || { echo "testssl-check: failed: $*" >&2; exit 1; }; }
q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/ca.key"
q openssl req -new -x509 -key "$c/ca.key" -subj "/O=ringlb testssl-check/CN=ringlb testssl-check CA" \
	-days 365 -sha256 -config "$c/x.cnf" -extensions ca -out "$c/ca.pem"
q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/ecdsa.key"
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$c/rsa.key"
for k in ecdsa rsa; do
	q openssl req -new -key "$c/$k.key" -subj "/O=ringlb testssl-check/CN=localhost" \
		-CA "$c/ca.pem" -CAkey "$c/ca.key" -days 90 -sha256 -set_serial "0x$(openssl rand -hex 12)" \
		-config "$c/x.cnf" -extensions leaf -out "$c/$k.pem"
done
r=$(od -An -N2 -tu1 /dev/urandom | awk '{ printf "%d.%d", $1 % 254 + 1, $2 % 254 + 1 }')
addr="127.$r.1"
cat >"$tmp/ringlb.yaml" <<EOF
workers: 2
listeners:
  - name: https
    bind: $addr:8443
    mode: http
    pool: web
    max_connections: 1024
    tls:
      cert: $tmp/c/ecdsa.pem
      key: $tmp/c/ecdsa.key
      certificates:
        - { cert: $tmp/c/rsa.pem, key: $tmp/c/rsa.key }
  - name: s-a
    bind: $addr:8081
    mode: static
    max_connections: 1024
    body: "hello from s-a\n"
pools:
  - name: web
    backends:
      - { address: $addr:8081 }
EOF

"$bin" -c "$tmp/ringlb.yaml" >"$tmp/ringlb.log" 2>&1 &
pid=$!
i=0
until grep -q '^ringlb: ready ' "$tmp/ringlb.log"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "testssl-check: ringlb did not start:" >&2
		cat "$tmp/ringlb.log" >&2
		exit 1
	fi
	sleep 0.05 # waiting for the ready line of a process we started
done

echo "testssl-check: testssl $(dpkg-query -W -f='${Version}' testssl.sh 2>/dev/null || echo '?') against https://localhost:8443 at $addr (ringlb pid $pid)"
rc=0
timeout -k 10 1200 "$tssl" --quiet --color 0 --warnings off --ip "$addr" \
	--add-ca "$tmp/c/ca.pem" --csvfile "$tmp/testssl.csv" \
	"https://localhost:8443" >"$tmp/testssl.out" 2>&1 || rc=$?
# testssl's own exit code counts findings; only a missing CSV is a failure
# of the run itself.
if [ ! -s "$tmp/testssl.csv" ]; then
	echo "testssl-check: testssl wrote no CSV (rc=$rc):" >&2
	tail -n 40 "$tmp/testssl.out" >&2
	exit 1
fi

kill -TERM "$pid"
wait "$pid" || { echo "testssl-check: ringlb exited $?" >&2; tail -n 20 "$tmp/ringlb.log" >&2; exit 1; }
pid=""
exitmem=$(grep '^ringlb: exit memory ' "$tmp/ringlb.log" || true)
bad=0
tls=$(grep '^ringlb: summary ' "$tmp/ringlb.log" | grep -o 'tls_handshakes=[0-9]* tls_resumed=[0-9]* tls_failed=[0-9]*' || true)

# CSV: "id","fqdn/ip","port","severity","finding","cve","cwe"
awk -F'","' '
NR == 1 { next }
{
	sev = $4; id = $1; sub(/^"/, "", id); fin = $5
	n[sev]++
	if (sev == "MEDIUM" || sev == "HIGH" || sev == "CRITICAL")
		worst = worst sprintf("  %-8s %-28s %s\n", sev, id, fin)
	else if (sev == "LOW" || sev == "WARN")
		low = low sprintf("  %-8s %-28s %s\n", sev, id, fin)
}
END {
	printf "testssl-check: findings by severity:"
	split("CRITICAL HIGH MEDIUM LOW WARN INFO OK", order, " ")
	for (i = 1; i <= 7; i++) printf " %s=%d", order[i], n[order[i]] + 0
	printf "\n"
	if (worst != "") printf "testssl-check: MEDIUM and worse:\n%s", worst
	else print "testssl-check: nothing MEDIUM or worse"
	if (low != "") printf "testssl-check: LOW and WARN (not failing):\n%s", low
	exit (n["HIGH"] + n["CRITICAL"] > 0)
}' "$tmp/testssl.csv" || bad=1

# The protocol and cipher summary lines of testssl's own report.
sed -n '/Testing protocols/,/Testing vulnerabilities/p' "$tmp/testssl.out" |
	grep -E '^ (SSLv|TLS |TLS 1|NPN|ALPN)|Forward Secrecy|Has server cipher order|Negotiated' || true
echo "testssl-check: ringlb $tls"
echo "testssl-check: $exitmem"
case "$exitmem" in
*"current=0 connection=0 buffer=0 ssl=0 cache=0 buffers_in_use=0"*) ;;
*)
	echo "testssl-check: ringlb's memory was not back at zero" >&2
	bad=1
	;;
esac
if [ "$bad" -ne 0 ]; then
	echo "testssl-check: FAIL"
	exit 1
fi
echo "testssl-check: ok (no HIGH or CRITICAL finding)"
