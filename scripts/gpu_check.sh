#!/usr/bin/env bash
# CUDA exactness and timing on a GPU host (issue 5/6 figures).
#
# Build here (no Rust toolchain on the GPU host), then run this there:
#   scripts/gpu_check.sh build          # here: builds the binaries into gpu-bin/
#   scripts/gpu_check.sh run            # on the GPU host, from the repository root
# `run` points LD_LIBRARY_PATH at the host's PyTorch 2.11 (torch/lib), runs the
# engine tests (libtorch CPU and CUDA against the CPU engine, including models
# at the accumulator bound), and times the loop filter through libtorch CUDA
# at 1920x1080 (the backend checks itself against the CPU engine first and
# refuses to run on any difference).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build)
    LIBTORCH=${LIBTORCH:-$PWD/third_party/libtorch}
    [ -d "$LIBTORCH/lib" ] || scripts/install-libtorch.sh "$LIBTORCH"
    export LIBTORCH LD_LIBRARY_PATH="$LIBTORCH/lib"
    cargo build --release -p mica-cli --features torch --bin mica-model
    test_bin=$(cargo test --release -p mica --features torch --lib --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["lib"]: print(m["executable"])' | tail -1)
    mkdir -p gpu-bin
    cp target/release/mica-model gpu-bin/
    cp "$test_bin" gpu-bin/mica-lib-tests
    echo "gpu-bin/ ready: carry it to the GPU host"
    ;;
  run)
    torch_lib=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')")
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name --format=csv,noheader || true
    gpu-bin/mica-lib-tests nn:: --nocapture
    # The loop filter's networks (outputs 0/1: inter-frame / keyframe luma,
    # 2/3: chroma): a plane runs one of them.
    for k in 0 1 2 3; do
      gpu-bin/mica-model bench models/loopfilter/loopfilter.micanet --output $k --backend cuda --size 1920x1080 --runs 20
      gpu-bin/mica-model bench models/loopfilter/loopfilter.micanet --output $k --backend cpu --size 1920x1080 --runs 2
    done
    # (the intra predictor runs per block, not per frame: its exactness is in the tests above)
    ;;
  *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
