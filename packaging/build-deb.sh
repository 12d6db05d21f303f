#!/usr/bin/env bash
# make deb: lays the package out with `make install PREFIX=/usr DESTDIR=...` (the package
# holds exactly what an install does), compresses the man pages as Debian policy asks,
# works out the libc dependency with dpkg-shlibdeps, and builds with dpkg-deb.
# Output: target/deb/berth_<version>_<arch>.deb (its path is the last line printed).
set -euo pipefail
cd "$(dirname "$0")/.."
make_cmd=${MAKE:-make}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
out=target/deb
root=$out/root
rm -rf "$out"
mkdir -p "$root"
root=$(realpath "$root")

"$make_cmd" --no-print-directory install DESTDIR="$root" PREFIX=/usr >/dev/null
gzip -9n "$root"/usr/share/man/man*/*
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/berth/copyright"

# dpkg-shlibdeps wants a debian/control of a source package; a throwaway one will do.
mkdir -p "$out/src/debian"
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' >"$out/src/debian/control"
depends=$(cd "$out/src" && dpkg-shlibdeps -O "$root"/usr/bin/* 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" \
    packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

deb=$out/berth_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
