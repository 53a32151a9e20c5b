#!/usr/bin/env bash
# Fetches what the VM suite boots, from Debian's registry only, into a cache
# that later runs reuse (idempotent: a finished asset is never fetched again):
#
#   kernel-6.1/   Debian bookworm's cloud kernel (FUSE is a module there: fuse.ko kept)
#   kernel-6.12/  Debian bookworm-security's cloud kernel (FUSE built in)
#   lxcfs-<ver>/  lxcfs of bookworm (5.0.3), trixie (6.0.x) and sid (7.0.x), each with the
#                 libfuse3, libc6 and libgcc-s1 of its own suite, unpacked into a merged-/usr
#                 tree that the initramfs lays over the host's binaries
#
# Nothing is installed on the host: packages are downloaded with a private apt
# configuration (its own sources, lists and archive cache) and unpacked with
# dpkg-deb -x. The cache directory is $LXCFS_KIT_VM_CACHE, by default
# ~/.cache/lxcfs-kit-vm; each finished asset holds a file named `ready`.
#
# Optionally, LXCFS_KIT_VM_LXCFS_TARBALL=<lxcfs-X.Y.Z.tar.gz> also builds that
# upstream release from source (as the Dockerfile does; needs meson, ninja-build,
# libfuse3-dev, pkg-config, python3-jinja2) into lxcfs-X.Y.Z/ with bookworm's
# libfuse3 and libc. Debian ships no lxcfs 6.0.6, the release the image builds.
set -euo pipefail

CACHE="${LXCFS_KIT_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lxcfs-kit-vm}"
MIRROR="${LXCFS_KIT_DEBIAN_MIRROR:-http://deb.debian.org}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/debs"

cat >"$CACHE/apt/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR/debian bookworm main
deb [signed-by=$KEYRING] $MIRROR/debian-security bookworm-security main
deb [signed-by=$KEYRING] $MIRROR/debian trixie main
deb [signed-by=$KEYRING] $MIRROR/debian sid main
EOF
APT_OPTS=(
  -o "APT::Sandbox::User=root"
  -o "Dir::Etc::SourceList=$CACHE/apt/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$CACHE/apt/lists"
  -o "Dir::Cache=$CACHE/apt"
  -o "Dir::State::Status=/dev/null"
  -o "APT::Get::List-Cleanup=0"
)

lists_fresh=0
update_lists() {
  if [ "$lists_fresh" = 0 ]; then
    echo "vm assets: apt-get update (private sources: bookworm, bookworm-security, trixie, sid)"
    apt-get "${APT_OPTS[@]}" update -qq
    lists_fresh=1
  fi
}

# Downloads pkg=version into debs/ (apt-get download writes into the working directory).
download() {
  (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -qq "$1" >/dev/null)
  # apt-get download names files <pkg>_<version with : escaped>_<arch>.deb
  local name="${1%%=*}" version="${1#*=}"
  ls "$CACHE/debs/${name}_${version//:/%3a}"_*.deb
}

# The newest version of a package in a release (its suite and that suite's -security/-updates).
version_in() {
  local pkg="$1" suite="$2"
  apt-cache "${APT_OPTS[@]}" madison "$pkg" | awk -v s=" $suite[/-]" '$0 ~ s { print $3 }' | sort -V | tail -1
}

# Unpacks a .deb into a merged-/usr tree: /lib, /lib64, /bin and /sbin land under /usr.
unpack_merged() {
  local deb="$1" dest="$2" tmp
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  mkdir -p "$dest/usr"
  for top in lib lib64 bin sbin; do
    if [ -d "$tmp/$top" ] && [ ! -L "$tmp/$top" ]; then
      mkdir -p "$tmp/usr/$top"
      cp -a "$tmp/$top/." "$tmp/usr/$top/"
      rm -rf "${tmp:?}/$top"
    fi
  done
  cp -a "$tmp/." "$dest/"
  rm -rf "$tmp"
}

fetch_kernel() {
  local series="$1" suite="$2" pattern="$3"
  local dir="$CACHE/kernel-$series"
  [ -f "$dir/ready" ] && return 0
  update_lists
  local pkg
  pkg="$(apt-cache "${APT_OPTS[@]}" search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)"
  [ -n "$pkg" ] || { echo "vm assets: no package matches $pattern" >&2; exit 1; }
  local version
  version="$(version_in "$pkg" "$suite")"
  [ -n "$version" ] || { echo "vm assets: $pkg is not in $suite" >&2; exit 1; }
  echo "vm assets: kernel $series = $pkg $version ($suite)"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp/x"
  dpkg-deb -x "$(download "$pkg=$version")" "$dir.tmp/x"
  cp "$dir.tmp"/x/boot/vmlinuz-* "$dir.tmp/vmlinuz"
  # FUSE as a module (6.1's cloud config): keep it, decompressed, for the guest's insmod.
  local ko
  ko="$(find "$dir.tmp/x" -path '*/kernel/fs/fuse/fuse.ko*' | head -1)"
  case "$ko" in
    *.ko.xz) xz -dc "$ko" >"$dir.tmp/fuse.ko" ;;
    *.ko.zst) zstd -qdc "$ko" >"$dir.tmp/fuse.ko" ;;
    *.ko) cp "$ko" "$dir.tmp/fuse.ko" ;;
    *) ;;
  esac
  rm -rf "$dir.tmp/x"
  printf '{"series":"%s","package":"%s","version":"%s","suite":"%s"}\n' "$series" "$pkg" "$version" "$suite" >"$dir.tmp/info.json"
  touch "$dir.tmp/ready"
  mv "$dir.tmp" "$dir"
}

fetch_lxcfs() {
  local suite="$1" fuse="$2" version dir
  update_lists
  version="$(version_in lxcfs "$suite")"
  [ -n "$version" ] || { echo "vm assets: no lxcfs in $suite" >&2; exit 1; }
  local upstream="${version%%-*}"
  dir="$CACHE/lxcfs-$upstream"
  [ -f "$dir/ready" ] && return 0
  echo "vm assets: lxcfs $upstream = lxcfs $version ($suite), with $fuse, libc6 and libgcc-s1 of $suite"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp/root"
  for pkg in "lxcfs=$version" "$fuse=$(version_in "$fuse" "$suite")" "libc6=$(version_in libc6 "$suite")" "libgcc-s1=$(version_in libgcc-s1 "$suite")"; do
    unpack_merged "$(download "$pkg")" "$dir.tmp/root"
  done
  rm -rf "$dir.tmp/root/usr/share" "$dir.tmp/root/etc" "$dir.tmp/root/var"
  printf '{"version":"%s","package":"lxcfs %s","suite":"%s"}\n' "$upstream" "$version" "$suite" >"$dir.tmp/info.json"
  touch "$dir.tmp/ready"
  mv "$dir.tmp" "$dir"
}

build_lxcfs_from_source() {
  local tarball="$1" version
  version="$(basename "$tarball" .tar.gz)"
  version="${version#lxcfs-}"
  local dir="$CACHE/lxcfs-$version"
  [ -f "$dir/ready" ] && return 0
  echo "vm assets: lxcfs $version built from $tarball"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp/src" "$dir.tmp/root"
  tar -xzf "$tarball" -C "$dir.tmp/src" --strip-components=1
  (cd "$dir.tmp/src" \
    && meson setup build --prefix=/usr --libdir=lib/x86_64-linux-gnu --buildtype=release \
         -Ddocs=false -Dtests=false -Dinit-script=sysvinit >/dev/null \
    && meson compile -C build >/dev/null \
    && DESTDIR="$dir.tmp/root" meson install -C build --no-rebuild >/dev/null)
  rm -rf "$dir.tmp/src" "$dir.tmp/root/etc" "$dir.tmp/root/usr/share"
  update_lists
  for pkg in "libfuse3-3=$(version_in libfuse3-3 bookworm)" "libc6=$(version_in libc6 bookworm)" "libgcc-s1=$(version_in libgcc-s1 bookworm)"; do
    unpack_merged "$(download "$pkg")" "$dir.tmp/root"
  done
  rm -rf "$dir.tmp/root/usr/share" "$dir.tmp/root/etc" "$dir.tmp/root/var"
  printf '{"version":"%s","package":"lxcfs %s (upstream source)","suite":"bookworm"}\n' "$version" "$version" >"$dir.tmp/info.json"
  touch "$dir.tmp/ready"
  mv "$dir.tmp" "$dir"
}

if [ -n "${LXCFS_KIT_VM_LXCFS_TARBALL:-}" ]; then
  build_lxcfs_from_source "$LXCFS_KIT_VM_LXCFS_TARBALL"
fi

# Versions already fetched are not looked up again, so an offline re-run succeeds.
have_all() {
  [ -f "$CACHE/kernel-6.1/ready" ] && [ -f "$CACHE/kernel-6.12/ready" ] || return 1
  [ "$(ls -d "$CACHE"/lxcfs-*/ready 2>/dev/null | wc -l)" -ge 3 ]
}
if have_all && [ "${1:-}" != "--refresh" ]; then
  echo "vm assets: cached in $CACHE"
  exit 0
fi

fetch_kernel 6.1 bookworm '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$'
fetch_kernel 6.12 bookworm '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$'
fetch_lxcfs bookworm libfuse3-3
fetch_lxcfs trixie libfuse3-4
fetch_lxcfs sid libfuse3-4
echo "vm assets: ready in $CACHE"
