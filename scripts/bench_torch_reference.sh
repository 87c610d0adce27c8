#!/usr/bin/env bash
# The like-for-like CPU benchmark: PyTorch eager on ../shared/bench/torch_unet_bench.py's U-Net,
# then gpfn on the same network (configs/bench/torch-reference.toml), back to back in this
# shell, each with 2 threads; then POT's Sinkhorn beside gpfn's. docs/benchmarks.md has the
# table this prints the numbers for.
#
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy pot
#   cargo build --release -p gpfn-cli
#   PYTHON=/tmp/torchenv/bin/python scripts/bench_torch_reference.sh [REPS] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
reps=${1:-5}
out=${2:-bench-results}
torch_script=${TORCH_BENCH:-../shared/bench/torch_unet_bench.py}
mkdir -p "$out"
gpfn=target/release/gpfn
[ -x "$gpfn" ] || { echo "build first: cargo build --release -p gpfn-cli" >&2; exit 1; }

echo "== PyTorch ($torch_script), 2 threads"
"$python" "$torch_script" --warmup 1 --reps "$reps" --gen-warmup 0 --gen-reps 1 | tee "$out/torch.jsonl"
echo "== gpfn (configs/bench/torch-reference.toml), 2 threads"
RAYON_NUM_THREADS=2 "$gpfn" --config configs/bench/torch-reference.toml bench \
  --batch 128 --warmup 1 --train-steps "$reps" \
  --samples 1000 --sample-batch 500 --nfe 20 --sample-reps 1 --out "$out/gpfn.json"
echo "== Sinkhorn: POT (torch backend), then gpfn"
"$python" scripts/pot_sinkhorn_bench.py 256 1024 | tee "$out/pot.md"
RAYON_NUM_THREADS=2 GPFN_BENCH_SIZES=256,1024 cargo bench -q -p gpfn-sinkhorn --bench sinkhorn | tee "$out/gpfn-sinkhorn.md"
