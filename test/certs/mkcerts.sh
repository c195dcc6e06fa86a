#!/bin/sh
# Makes the certificates the TLS tests use, into DIR (created if missing):
#   ca.pem ca.key            the test CA (ECDSA P-256)
#   ecdsa.pem ecdsa.key      localhost, example.test (ECDSA P-256), chain: leaf + CA
#   rsa.pem rsa.key          localhost, example.test (RSA 2048), chain: leaf + CA
#   wild.pem wild.key        *.example.test (ECDSA P-256)
#   other.pem other.key      other.test (ECDSA P-256)
#   client.pem client.key    a client certificate from the test CA
#   rogue.pem rogue.key      a client certificate from another CA
# Everything is valid for a day from now: tests make their own each run.
#   test/certs/mkcerts.sh DIR
set -eu
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1; }

ec() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# sign NAME CA SUBJECT EXT: NAME.key (made before) signed by CA into NAME.pem
sign() {
	printf '%s\n' "$4" >"$1.ext"
	q openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
	q openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-days 1 -sha256 -extfile "$1.ext" -out "$1.pem"
	rm -f "$1.csr" "$1.ext"
}

for ca in ca rogueca; do
	ec $ca.key
	q openssl req -x509 -new -key $ca.key -subj "/CN=ringlb test $ca" -days 1 -sha256 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out $ca.pem
done

srv='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth'
ec ecdsa.key
sign ecdsa ca /CN=localhost "$srv
subjectAltName=DNS:localhost,DNS:example.test"
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
sign rsa ca /CN=localhost "$srv
subjectAltName=DNS:localhost,DNS:example.test"
ec wild.key
sign wild ca /CN=wildcard "$srv
subjectAltName=DNS:*.example.test"
ec other.key
sign other ca /CN=other.test "$srv"
for c in ecdsa rsa; do
	cat ca.pem >>$c.pem
done

cli='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
ec client.key
sign client ca /CN=client "$cli"
ec rogue.key
sign rogue rogueca /CN=rogue "$cli"
rm -f ./*.srl
