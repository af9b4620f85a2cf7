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
# What a static link needs besides libmica.a, as rustc reports it.
static_libs=$(cargo rustc --release -p mica-capi --crate-type staticlib -- \
  --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1)
[ -n "$static_libs" ] || static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

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
