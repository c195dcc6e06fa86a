#!/bin/sh
# Installs the Debian 12 packages ringlb needs to build, test, run and
# benchmark, skipping those already present. Run as root.
#   tools/install-deps.sh          install what is missing
#   tools/install-deps.sh --check  exit 1 (and list them) if any is missing
set -eu

PKGS="gcc make pkg-config liburing-dev libnuma-dev libwolfssl-dev liburcu-dev
check libyaml-dev libxxhash-dev python3 curl openssl wrk haproxy nginx-light
libnginx-mod-stream numactl procps iproute2 clang-format libclang-rt-14-dev
clang"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing packages:$missing" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "ringlb: missing packages:$missing" >&2
	echo "ringlb: run as root: sudo tools/install-deps.sh" >&2
	exit 1
fi
echo "ringlb: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packaged servers must not keep running: tests and benchmarks start
# their own instances on loopback.
for s in nginx haproxy; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	fi
	service "$s" stop >/dev/null 2>&1 || true
done
