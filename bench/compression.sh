#!/usr/bin/env bash
# Measures the quantization lab's GPU figures the README shows, on the
# machine it runs on: `flt quantize --json` (quantize-dequantize throughput
# beside a plain copy kernel of the same matrix; median of 10 after a
# warm-up of 1 s of sustained load, GPU timestamps) and `flt matmul --json` (int8 packed and
# unpacked against f32 of the same shape, one process per shape), then the
# same operations in PyTorch on the same GPU (bench/torch_quantization.py,
# bench/torch_matmul_reference.py). Appends JSON lines to the file given;
# `python3 bench/tables.py --write README.md FILE` turns them into tables.
#
#   FLT=target/release/flt bench/compression.sh bench/results/h200-compression.jsonl
set -euo pipefail
flt="${FLT:-target/release/flt}"
out="${1:-compression.jsonl}"
: >"$out"
quantize() { "$flt" quantize --backend gpu --repeats 10 --warmup-ms 1000 --json "$@" >>"$out"; }
for size in "--rows 4096 --cols 4096" "--rows 8192 --cols 4096"; do
  quantize $size --format int --bits 8 --granularity per-channel
  quantize $size --format int --bits 4 --granularity group --group-size 128
  quantize $size --format int --bits 4 --granularity group --group-size 128 --clip mse
  quantize $size --format fp8-e4m3 --granularity per-channel
  quantize $size --format fp16
done
shapes="1024x1024x1024 4096x4096x4096 8192x8192x8192 32x4096x4096 2048x4096x11008"
for s in $shapes; do
  IFS=x read -r m k n <<<"$s"
  "$flt" matmul --m "$m" --k "$k" --n "$n" --backend gpu --repeats 20 --warmup-ms 1000 --json >>"$out"
done
"$flt" qat --backend gpu --json >>"$out"
python3 bench/torch_quantization.py --rows 4096,8192 --cols 4096 --repeats 10 >>"$out"
python3 bench/torch_matmul_reference.py --repeats 20 --shapes "$(echo $shapes | tr ' ' ,)" >>"$out"
