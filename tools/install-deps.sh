#!/bin/sh
# Installs the Debian 12 packages ringlb needs to build, test, run and
# benchmark, skipping those already present, and makes Debian's source
# packages reachable (ringlb builds its own wolfSSL from Debian's source:
# see the Makefile's WOLFSSL_* rules). Run as root.
#   tools/install-deps.sh          install what is missing
#   tools/install-deps.sh --check  exit 1 (and list them) if any is missing
set -eu

PKGS="gcc make gnuplot-nox pkg-config liburing-dev libnuma-dev libwolfssl-dev liburcu-dev
check libyaml-dev libxxhash-dev python3 curl openssl wrk haproxy nginx-light
libnginx-mod-stream numactl procps iproute2 clang-format libclang-rt-14-dev
clang autoconf automake libtool dpkg-dev testssl.sh libc-ares-dev libsystemd-dev
debhelper fakeroot man-db adduser python3-prometheus-client prometheus"

# The deb-src twin of the machine's own Debian mirror entries.
SRC_FILE=/etc/apt/sources.list.d/ringlb-deb-src.sources

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

# True when some configured source has Types: deb-src (or a deb-src line).
has_deb_src() {
	# shellcheck disable=SC2016
	apt-get indextargets --format '$(IDENTIFIER)' 2>/dev/null | grep -qx Sources
}

# True when the source index is fetched: `apt-get source wolfssl` will work.
has_src_index() {
	apt-cache showsrc --only-source wolfssl 2>/dev/null | grep -q '^Version:'
}

# Writes SRC_FILE: every deb822 stanza of /etc/apt/sources.list.d/*.sources
# and every one-line "deb" entry of /etc/apt/sources.list whose suite is
# Debian 12's (bookworm*), with Types: deb-src. Third-party repositories
# are left out: they rarely publish sources.
write_deb_src() {
	tmp="$SRC_FILE.tmp"
	: >"$tmp"
	for f in /etc/apt/sources.list.d/*.sources; do
		if [ ! -f "$f" ] || [ "$f" = "$SRC_FILE" ]; then
			continue
		fi
		awk '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && types !~ /deb-src/ && suites ~ /(^| )bookworm/) {
				print "Types: deb-src"
				printf "%s", body
				print ""
			}
			types = ""; suites = ""; body = ""
		}
		/^[ \t]*$/ { flush(); next }
		/^#/ { next }
		/^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types); next }
		/^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
		{ body = body $0 "\n" }
		END { flush() }' "$f" >>"$tmp"
	done
	if [ -f /etc/apt/sources.list ]; then
		awk '$1 == "deb" {
			s = 2
			if ($2 ~ /^\[/) { while ($s !~ /\]$/) s++; s++ }
			if ($(s + 1) !~ /^bookworm/) next
			opts = ""
			if (s > 2) { for (i = 2; i < s; i++) opts = opts " " $i; sub(/^ \[/, "", opts); sub(/\]$/, "", opts) }
			print "Types: deb-src"
			print "URIs: " $s
			print "Suites: " $(s + 1)
			comps = ""; for (i = s + 2; i <= NF && $i !~ /^#/; i++) comps = comps " " $i
			print "Components:" comps
			if (opts ~ /signed-by=/) { sb = opts; sub(/.*signed-by=/, "", sb); sub(/ .*/, "", sb); print "Signed-By: " sb }
			print ""
		}' /etc/apt/sources.list >>"$tmp"
	fi
	if [ ! -s "$tmp" ]; then
		rm -f "$tmp"
		echo "ringlb: no Debian 12 (bookworm) entry found in the apt sources to add deb-src for" >&2
		exit 1
	fi
	mv "$tmp" "$SRC_FILE"
	echo "ringlb: wrote $SRC_FILE" >&2
}

need_src=""
has_src_index || need_src=1

if [ -z "$missing" ] && [ -z "$need_src" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	[ -n "$missing" ] && echo "missing packages:$missing" >&2
	[ -n "$need_src" ] && echo "missing: the deb-src index (for wolfssl's source)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	[ -n "$missing" ] && echo "ringlb: missing packages:$missing" >&2
	[ -n "$need_src" ] && echo "ringlb: missing: a deb-src entry for the Debian mirror" >&2
	echo "ringlb: run as root: sudo tools/install-deps.sh" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$need_src" ] && ! has_deb_src; then
	write_deb_src
fi
apt-get update -qq
if [ -n "$missing" ]; then
	echo "ringlb: installing:$missing" >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! has_src_index; then
	echo "ringlb: apt-cache showsrc wolfssl finds nothing after apt-get update" >&2
	exit 1
fi
# The packaged servers must not keep running: tests and benchmarks start
# their own instances on loopback.
for s in nginx haproxy; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	fi
	service "$s" stop >/dev/null 2>&1 || true
done
