#!/usr/bin/env bash
# Builds libmica (the C API, capi/) and installs it under PREFIX:
#   PREFIX/lib/libmica.so.0.1.0 (+ libmica.so.0, libmica.so), PREFIX/lib/libmica.a,
#   PREFIX/include/mica/mica.h, PREFIX/lib/pkgconfig/mica.pc
# so that `pkg-config --cflags --libs mica` (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
# unless PREFIX is a system prefix) gives what a C program needs.
#   scripts/install-c.sh PREFIX            (LIBDIR=... to put the libraries elsewhere)
# What cargo-c's `cargo cinstall` does, without needing cargo-c built.
set -euo pipefail
prefix=${1:?usage: scripts/install-c.sh PREFIX}
cd "$(dirname "$0")/.."
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
libdir=${LIBDIR:-$prefix/lib}
includedir=$prefix/include
version=$(sed -n 's/^version = "\(.*\)"/\1/p' capi/Cargo.toml | head -1)
major=${version%%.*}

cargo build --release -p mica-capi
target=${CARGO_TARGET_DIR:-target}/release
# What a static link needs besides libmica.a: the Rust standard library's
# system libraries (Mica links nothing native of its own), as rustc reports
# them for an empty static library.
probe=$(mktemp -d)
echo '#![no_main]' > "$probe/probe.rs"
static_libs=$(rustc --crate-type staticlib --print native-static-libs -o "$probe/libprobe.a" \
  "$probe/probe.rs" 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1) || true
rm -rf "$probe"
if [ -z "$static_libs" ]; then
  echo "rustc did not report the system libraries a static link needs" >&2
  exit 1
fi

install -d "$libdir/pkgconfig" "$includedir/mica"
install -m 644 capi/include/mica/mica.h "$includedir/mica/mica.h"
install -m 755 "$target/libmica_capi.so" "$libdir/libmica.so.$version"
ln -sf "libmica.so.$version" "$libdir/libmica.so.$major"
ln -sf "libmica.so.$major" "$libdir/libmica.so"
install -m 644 "$target/libmica_capi.a" "$libdir/libmica.a"
cat > "$libdir/pkgconfig/mica.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=$libdir
includedir=\${prefix}/include

Name: mica
Description: Mica, a hybrid learned-plus-traditional video codec (C API)
Version: $version
Libs: -L\${libdir} -lmica
Libs.private: $static_libs
Cflags: -I\${includedir}
PC
echo "installed libmica $version under $prefix (pkg-config: $libdir/pkgconfig/mica.pc)"
