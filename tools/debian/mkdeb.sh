#!/bin/sh
# make deb: the Debian package of this tree, built by dpkg-buildpackage and
# debhelper in build/deb/ringlb-VERSION/ (a copy of the tracked and new
# files, with debian/ from tools/debian/), so the repository's top level
# keeps its folders. The copy's build/wolfssl is a link to ours (no rebuild,
# no network), and its build/pkg (objects) is kept between runs: files that
# did not change keep their times, so a second run recompiles nothing.
# Prints the path of the .deb.
#   tools/debian/mkdeb.sh VERSION
set -eu
version=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/deb
src=$out/ringlb-$version
cd "$top"

if [ ! -f build/wolfssl/lib/libwolfssl.a ]; then
	echo "mkdeb: build/wolfssl is missing: run make first" >&2
	exit 1
fi
for t in dpkg-buildpackage dh; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "mkdeb: $t is missing: tools/install-deps.sh installs it" >&2
		exit 1
	fi
done

mkdir -p "$src"
# Everything but the objects goes: a file removed from the tree is removed here.
find "$src" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c \
		'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
mkdir -p "$src/build"
ln -sfn "$top/build/wolfssl" "$src/build/wolfssl"

rm -rf "$src/debian"
cp -a tools/debian "$src/debian"
rm -f "$src/debian/mkdeb.sh" "$src/debian/changelog.in"
# The changelog's date: the last commit's, so two builds of one commit match.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
sed "s/@VERSION@/$version/; s/@DATE@/$(date -u -R -d "@$epoch")/" \
	tools/debian/changelog.in >"$src/debian/changelog"

rm -f "$out"/ringlb_"$version"_*.deb "$out"/ringlb-dbgsym_"$version"_*.deb \
	"$out"/ringlb_"$version"_*.buildinfo "$out"/ringlb_"$version"_*.changes
(cd "$src" && SOURCE_DATE_EPOCH=$epoch dpkg-buildpackage -b -us -uc -j2) >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "mkdeb: dpkg-buildpackage failed: $out/build.log" >&2
	exit 1
}
ls "$out"/ringlb_"$version"_*.deb
