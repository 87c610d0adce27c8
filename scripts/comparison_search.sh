#!/usr/bin/env bash
# One point of the fair comparison's hyper-parameter search (docs/results.md, "The fair
# comparison: protocol", step 3): train on the first 9 000 MNIST training images, then score
# 1 000 samples by FID against the held-out last 1 000 (W2: deterministic at 20 NFE; BFN:
# its own stochastic sampler at 100 NFE). Skips a point whose report already exists.
#
#   cargo build --release -p gpfn-cli
#   scripts/comparison_search.sh w2 1e-3 10 1 [RUNS_DIR] [CLASSIFIER]   # divergence lr cap clip
#   scripts/comparison_search.sh kl 1e-3 - 1                            # BFN: no cap
#
# The run is RUNS_DIR/search-<divergence>-lr<lr>[-cap<cap>]-clip<clip>, its report
# RUNS_DIR/<name>-holdout.json (RUNS_DIR defaults to runs/). CLASSIFIER is the feature
# classifier's folder (`gpfn eval classifier` trains one); without it, `gpfn eval`'s default.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n 2,14p "$0" >&2; exit 2; }
divergence=$1 lr=$2 cap=$3 clip=$4
runs=${5:-runs}
gpfn=${GPFN:-target/release/gpfn}
[ -x "$gpfn" ] || { echo "build first: cargo build --release -p gpfn-cli" >&2; exit 1; }
case $divergence in
  w2) config=configs/w2.toml sampler=deterministic nfe=20 ;;
  kl) config=configs/kl.toml sampler=stochastic nfe=100 ;;
  *) echo "divergence must be w2 or kl, not '$divergence'" >&2; exit 2 ;;
esac
sets=(--set train.holdout=1000 --set "train.lr=$lr" --set "train.grad_clip=$clip")
name="search-$divergence-lr$lr"
if [ "$cap" != "-" ]; then
  sets+=(--set "divergence.max_weight=$cap")
  name+="-cap$cap"
fi
name+="-clip$clip"
mkdir -p "$runs"
report="$runs/$name-holdout.json"
[ -f "$report" ] && { echo "$report exists"; exit 0; }
classifier=()
[ $# -ge 6 ] && classifier=(--classifier "$6")
"$gpfn" --config "$config" "${sets[@]}" --set "run.dir=\"$runs\"" --set "run.name=\"$name\"" \
  train --no-progress
"$gpfn" eval --run "$runs/$name" --against holdout --count 1000 --nfe "$nfe" \
  --sampler "$sampler" "${classifier[@]}" --no-progress --json > "$report.part"
mv "$report.part" "$report"
echo "$report"
