#!/usr/bin/env bash
# Regenerates the context initialisation tables (codec/src/entropy/context_init.rs and
# its normative copy docs/context-init.md) from the training material. Every
# encode starts from uniform contexts, so the result does not depend on the
# tables it replaces: running this on an unchanged encoder rewrites the same
# files (checked: byte for byte). About 11 minutes on 2 cores.
#
# After a change to the encoder or the syntax, run it, then regenerate the
# conformance streams (scripts/make_conformance.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:-../shared/media/train}
cargo build --release -p mica-cli --bin mica-tables
target/release/mica-tables contexts "$train" --qp 22,27,32,37,42 --frames 17 \
  --rust codec/src/entropy/context_init.rs --spec docs/context-init.md
