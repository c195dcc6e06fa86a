#!/bin/sh
# Builds ringlb's wolfSSL: Debian 12's source package, with Debian's patches
# applied, configured with the options the Makefile passes, as a static
# library installed under DIR (DIR/lib/libwolfssl.a, DIR/include/wolfssl/).
# The Makefile calls it once per version and option set; see WOLFSSL_* there.
#   tools/build-wolfssl.sh DIR DEBIAN_VERSION STAMP CONFIGURE_OPTION...
# The source comes from the machine's Debian mirror with `apt-get source`
# (tools/install-deps.sh adds the deb-src entry); it is downloaded once into
# DIR/dl/ and unpacked again from there on a rebuild, without the network.
set -eu

dir=$1 debver=$2 stamp=$3
shift 3
upver=${debver%-*}
top=$(pwd)
case "$dir" in
/*) ;;
*) dir="$top/$dir" ;;
esac
dl="$dir/dl"
src="$dir/src/wolfssl-$upver"
log="$dir/build.log"
dsc="$dl/wolfssl_$debver.dsc"

mkdir -p "$dl"
# One build at a time (make asan and make tsan may start together): the
# second waits, then finds the stamp made.
exec 9>"$dir/.lock"
flock 9
if [ -f "$stamp" ]; then
	exit 0
fi
: >"$log"
say() { printf '  %-6s %s\n' "$1" "$2"; }
fail() {
	echo "ringlb: wolfSSL build failed at: $1 (log: $log)" >&2
	tail -n 20 "$log" >&2
	exit 1
}

if [ ! -f "$dsc" ]; then
	say FETCH "wolfssl=$debver (apt-get source)"
	if ! apt-cache showsrc --only-source wolfssl 2>/dev/null | grep -qx "Version: $debver"; then
		echo "ringlb: Debian source wolfssl=$debver is not in the apt source index" >&2
		have=$(apt-cache showsrc --only-source wolfssl 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')
		if [ -n "$have" ]; then
			# Debian keeps only the newest security update on its mirror.
			echo "ringlb: the mirror has: $have- set WOLFSSL_DEB in the Makefile to the newest" >&2
		else
			echo "ringlb: run tools/install-deps.sh as root (it adds deb-src and runs apt-get update)" >&2
		fi
		exit 1
	fi
	# As root apt drops to _apt for downloads, which cannot write here;
	# download as the invoking user instead (apt says so with a warning).
	(cd "$dl" && apt-get source -qq --download-only -o APT::Sandbox::User=root \
		"wolfssl=$debver") >>"$log" 2>&1 || fail "apt-get source"
fi

say UNPACK "wolfssl-$debver (dpkg-source -x, Debian's patches)"
rm -rf "${dir:?}/src" "${dir:?}/include" "${dir:?}/lib" "${dir:?}"/stamp-*
mkdir -p "$dir/src"
dpkg-source -x "$dsc" "$src" >>"$log" 2>&1 || fail "dpkg-source -x"

say AUTOGEN "wolfssl-$upver"
(cd "$src" && ./autogen.sh) >>"$log" 2>&1 || fail autogen.sh

say CONF "wolfssl-$upver"
(cd "$src" && ./configure --prefix="$dir" --libdir="$dir/lib" "$@") >>"$log" 2>&1 ||
	fail configure

say MAKE "wolfssl-$upver"
# MAKEFLAGS from the calling make carries its jobserver (-j2).
(cd "$src" && ${MAKE:-make} && ${MAKE:-make} install) >>"$log" 2>&1 || fail make
# tls/wolf.c trims a WOLFSSL after its handshake, which needs the layout.
cp "$src/wolfssl/internal.h" "$dir/include/wolfssl/internal.h"
rm -rf "${dir:?}/bin" "${dir:?}/share" "${dir:?}/lib"/*.la
touch "$stamp"
say DONE "$dir/lib/libwolfssl.a ($(du -k "$dir/lib/libwolfssl.a" | cut -f1) KiB)"
