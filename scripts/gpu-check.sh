#!/usr/bin/env bash
# One command for a GPU machine: the CUDA smoke test, then `gpfn bench` for configs/base.toml and
# the PyTorch reference network on `cuda` and `wgpu`, then PyTorch eager on the same GPU (when
# torch with CUDA is importable). Results go to OUT_DIR (default gpu-check/) as JSON next to a
# log; docs/benchmarks.md takes its rows from there.
#
# Build first, on a machine with cargo (offline: bash scripts/cuda-llvm.sh before):
#   cargo build --release -p gpfn-cli --features cuda,wgpu
#   cargo test --release -p gpfn-cli --features cuda --test cuda_smoke --no-run
# then on the GPU machine:
#   bash scripts/gpu-check.sh [OUT_DIR]
# (on the lent H100, wgpu also needs the Vulkan loader and VK_DRIVER_FILES of docs/backends.md).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
mkdir -p "$out"
gpfn=${GPFN:-target/release/gpfn}
status=0
log() { printf '== %s\n' "$*" | tee -a "$out/log.txt"; }

log "CUDA smoke test (flex vs cuda)"
smoke=$(ls -t target/release/deps/cuda_smoke-* 2>/dev/null | grep -v '\.d$' | head -1)
if [ -n "$smoke" ]; then
    "$smoke" --nocapture 2>&1 | tee -a "$out/log.txt" || status=1
else
    cargo test --release -p gpfn-cli --features cuda --test cuda_smoke 2>&1 | tee -a "$out/log.txt" || status=1
fi

for backend in cuda wgpu; do
    for config in configs/base.toml configs/bench/torch-reference.toml; do
        name=$(basename "$config" .toml)
        log "gpfn bench --backend $backend --config $config"
        "$gpfn" --backend "$backend" --config "$config" bench --batch 128 --warmup 2 \
            --train-steps 10 --samples 1000 --sample-batch 500 --nfe 20 --sample-reps 2 \
            --out "$out/gpfn-$backend-$name.json" 2>&1 | tee -a "$out/log.txt" || status=1
    done
done

log "PyTorch eager, same GPU, the reference network"
python3 scripts/torch_unet_gpu.py 2>&1 | tee "$out/torch-cuda.jsonl" | tee -a "$out/log.txt" || status=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$out/log.txt"
exit $status
