#!/usr/bin/env bash
# The SGEMM of the low-rank methods beside cuBLAS on the machine it runs on:
# `flt bench --kernel sgemm --json` (median of 10 after 1 s of sustained
# load, GPU timestamps, 64 entries checked against f64) on square shapes and
# a LLaMA-7B MLP shape, then torch.mm in fp32 with TF32 off on the same
# shapes (bench/torch_sgemm_reference.py), in one process each. Appends JSON
# lines to the file given.
#
#   FLT=target/release/flt bench/sgemm.sh sgemm.jsonl
set -euo pipefail
flt="${FLT:-target/release/flt}"
out="${1:-sgemm.jsonl}"
: >"$out"
shapes="1024x1024x1024 4096x4096x4096 8192x8192x8192 2048x4096x11008"
for s in $shapes; do
  IFS=x read -r m k n <<<"$s"
  "$flt" bench --kernel sgemm --m "$m" --k "$k" --n "$n" --backend gpu --repeats 10 --warmup-ms 1000 --json >>"$out"
done
python3 bench/torch_sgemm_reference.py "${shapes// /,}" >>"$out"
