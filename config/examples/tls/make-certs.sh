#!/bin/sh
# Makes the demo certificates of config/examples/tls/ with openssl:
#
#   ca.crt                       a demo CA (ECDSA P-256); its key is thrown away
#   server.crt, server.key       ECDSA P-256 server certificate, signed by ca.crt
#   server-rsa.crt, server-rsa.key  RSA 2048 server certificate, signed by ca.crt
#   client.crt, client.key       ECDSA P-256 client certificate (clientAuth), signed by ca.crt
#
# Server certificates name CN=localhost with SAN DNS:localhost, IP:127.0.0.1.
# Valid for 10 years from the day they were made.
#
# THESE ARE DEMO KEYS: they are public, in the repository. Use them for the
# examples and tests only; never trust ca.crt outside them.
#
#   config/examples/tls/make-certs.sh [DIR]     (default: this script's folder)
set -eu
dir=${1:-$(dirname "$0")}
days=3650
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -quiet -out "$1"; }

# sign NAME KEY CN EXT: NAME.crt for KEY, signed by the CA.
sign() {
	openssl req -new -key "$2" -subj "/O=ringlb demo/CN=$3" -out "$tmp/$1.csr"
	printf '%s\n' "$4" >"$tmp/$1.ext"
	openssl x509 -req -in "$tmp/$1.csr" -CA "$dir/ca.crt" -CAkey "$tmp/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
		-extfile "$tmp/$1.ext" -out "$dir/$1.crt" 2>/dev/null
}

server_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1'
client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'

ec "$tmp/ca.key"
openssl req -new -x509 -key "$tmp/ca.key" -subj "/O=ringlb demo/CN=ringlb demo CA" \
	-days "$days" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.crt"
ec "$dir/server.key"
sign server "$dir/server.key" localhost "$server_ext"
rsa "$dir/server-rsa.key"
sign server-rsa "$dir/server-rsa.key" localhost "$server_ext"
ec "$dir/client.key"
sign client "$dir/client.key" "ringlb demo client" "$client_ext"
chmod 644 "$dir"/*.key
for c in server server-rsa client; do
	openssl verify -CAfile "$dir/ca.crt" "$dir/$c.crt" >/dev/null
done
echo "made $dir/{ca,server,server-rsa,client}.crt and keys (demo keys: never trust them)"
