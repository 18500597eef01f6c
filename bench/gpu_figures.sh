#!/usr/bin/env bash
# Measures every GPU figure the README shows, on the machine it runs on:
# each `flt bench` in its own process (median of 10 after a warm-up, GPU
# timestamps), then PyTorch's fp32 attention on the same GPU beside it
# (bench/torch_reference.py). Appends JSON lines to the file given
# (default gpu-figures.jsonl); `python3 bench/tables.py --write README.md
# FILE` turns them into the README's tables.
#
#   FLT=target/release/flt bench/gpu_figures.sh bench/results/h200.jsonl
set -euo pipefail
flt="${FLT:-target/release/flt}"
out="${1:-gpu-figures.jsonl}"
: >"$out"
bench() { "$flt" bench --backend gpu --repeats 10 --d 64 --json "$@" >>"$out"; }

bench --methods full --n 1024,4096,16384
bench --methods full --n 16384 --causal
bench --methods longformer --n 16384 --window 256 --global 1
bench --methods bigbird --n 16384 --block 64 --global-blocks 2 --window-blocks 3 --random 3
bench --methods sparse-strided --n 16384 --stride 128 --causal
bench --methods sparse-fixed --n 16384 --stride 128 --summary 8 --causal
bench --methods reformer --n 16384 --buckets 32 --rounds 2 --chunk 64
for causal in "" --causal; do
  bench --methods linear --n 16384 $causal
  bench --methods cosformer --n 16384 $causal
  bench --methods performer --n 16384 --features 256 $causal
done
bench --methods nystrom --n 16384 --landmarks 64
bench --methods linformer --n 16384 --proj-dim 256
bench --methods linformer --n 16384 --proj-dim 256 --projection gaussian
bench --methods synthesizer-dense --n 16384 --hidden 64
bench --methods synthesizer-random --n 16384 --rank 64
python3 bench/torch_reference.py --n 1024,4096,16384 --d 64 --repeats 10 >>"$out"
python3 bench/torch_reference.py --n 16384 --d 64 --causal --repeats 10 >>"$out"
