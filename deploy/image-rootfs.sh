#!/usr/bin/env bash
# deploy/image-rootfs.sh BINARY OUTDIR — lays out the image's whole file
# system in OUTDIR: the wasmtrade binary at usr/local/bin/wasmtrade plus the
# shared objects it links (glibc's loader, libc, libm, libgcc_s), copied from
# this machine at their own paths. deploy/Dockerfile copies OUTDIR onto an
# empty (`scratch`) base, so the image runs exactly the binary that was
# tested, with the C library it was built against, and nothing else: no
# shell, no package manager. Since glibc 2.34 the files and DNS name
# services are part of libc.so.6, so name resolution needs no extra files.
set -euo pipefail

bin=${1:?usage: image-rootfs.sh BINARY OUTDIR}
out=${2:?usage: image-rootfs.sh BINARY OUTDIR}
[ -x "$bin" ] || { echo "image-rootfs.sh: $bin is not an executable: build it first (cargo build --release -p wasmtrade)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/usr/local/bin"
cp "$bin" "$out/usr/local/bin/wasmtrade"
chmod 0555 "$out/usr/local/bin/wasmtrade"

# Every absolute path ldd names (libraries and the loader), resolved through
# symlinks, copied under the path the binary asks for.
libs=$(ldd "$bin" | grep -o '/[^ ]*' | sort -u)
if [ -z "$libs" ]; then
  echo "image-rootfs.sh: $bin links no shared objects (a static binary): nothing to add"
fi
for lib in $libs; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  chmod 0555 "$out$lib"
done
echo "image-rootfs.sh: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) in $out"
