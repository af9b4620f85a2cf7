#!/usr/bin/env bash
# The Python package (python/, outside the workspace: it needs Python):
# style and lints of its Rust part, the wheel built by maturin, installed with
# pip into a fresh virtual environment (numpy, Ray and pytest from PyPI), and
# its tests run against the installed wheel: numpy round trips equal to the
# command-line tools, error cases, chunk joins, and the chunked encode on a
# local Ray cluster (head and two workers on the loopback address, one worker
# killed mid-chunk).
#   scripts/check-python.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
if [ -n "${1:-}" ]; then
  work=$1
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT  # two virtual environments, Ray among them
fi
mkdir -p "$work"
python=${PYTHON:-python3}

"$python" -m venv "$work/build"
"$work/build/bin/pip" install -q "maturin>=1.5,<2"
export PYO3_PYTHON="$work/build/bin/python"
(
  cd python
  cargo fmt --check
  cargo clippy --release --all-targets --locked -- -D warnings
  rm -rf "$work/wheels"
  "$work/build/bin/maturin" build --release --locked -i "$work/build/bin/python" -o "$work/wheels"
)
wheel=$(ls "$work"/wheels/mica_codec-*.whl)

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[ray,test]"
"$work/venv/bin/python" -c "import mica; print('mica', mica.__version__, 'installed from', mica.__file__)"

cargo build --release -p mica-cli --bin micaenc --bin micadec
bin=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release
# From outside the source tree, so the tests import the installed wheel.
cd "$work"
MICA_BIN=$bin "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
  --import-mode=importlib "$repo/python/tests"
