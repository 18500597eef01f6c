#!/usr/bin/env bash
# The side-by-side benchmark, meant for ONE call on the GPU machine:
#   1. `flt bench` once per method (its own process each: --warmup-ms 1000,
#      --repeats 10, --json, GPU timestamps), exact attention causal and not,
#      and `flt bench --kernel sgemm` (or an older build's `flt matmul`) per sgemm size;
#   2. benchmarks/torch_reference.py on the same GPU (fp32, TF32 off, CUDA
#      events, median of 10), after its self-check against naive formulas;
#   3. collect.py → OUT/results/<gpu>.jsonl, summarize.py → OUT/README.md.
#
#   benchmarks/run.sh FLT_BINARY OUT_DIR
#
# Environment: NS (n list, default 1024,…,65536), HEADS (default 1,16), BATCH
# (default 1), SGEMM (square sizes, default 1024,…,8192; empty: none), TORCH_DEADLINE_S
# (torch rows not started by then are written as skipped; default 0: none),
# TORCH_FIRST=1 (PyTorch before flt, so that a call's time limit cuts flt
# rows rather than the whole PyTorch side), SKIP (flt methods left out,
# space-separated, e.g. "longformer" when it is measured in its own call),
# TORCH_METHODS (torch_reference.py's --methods, comma-separated; default
# all), so that a benchmark too long for one call splits into calls that
# each hold both sides of their pairs (collect.py takes several --raw).
# n above flt's own limit (read from `flt bench --help`) is written as a row
# without a time, with the reason; so is a run that fails. Heads: asked of
# flt only when `flt bench --help` lists --heads, else flt rows are H = 1.
set -uo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 FLT_BINARY OUT_DIR" >&2
  exit 2
fi
flt=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
NS=${NS:-1024,2048,4096,8192,16384,32768,65536}
HEADS=${HEADS:-1,16}
BATCH=${BATCH:-1}
SGEMM=${SGEMM-1024,2048,4096,8192}
TORCH_DEADLINE_S=${TORCH_DEADLINE_S:-0}
TORCH_FIRST=${TORCH_FIRST:-}
SKIP=${SKIP:-}
TORCH_METHODS=${TORCH_METHODS:-}
raw=$out/raw
mkdir -p "$raw" "$out/results"
runner="NS=$NS HEADS=$HEADS BATCH=$BATCH SGEMM=$SGEMM${TORCH_FIRST:+ TORCH_FIRST=$TORCH_FIRST}${SKIP:+ SKIP=\"$SKIP\"}${TORCH_METHODS:+ TORCH_METHODS=$TORCH_METHODS} benchmarks/run.sh $flt $out"

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
help=$("$flt" bench --help)
max_n=$(printf '%s\n' "$help" | grep -- '--n <' | grep -o '1\.\.=[0-9]*' | head -1 | cut -d= -f2)
max_n=${max_n:-16384}
if printf '%s\n' "$help" | grep -q -- '--heads'; then flt_heads=$HEADS; else flt_heads=1; fi
python3 - "$raw/meta.json" "$gpu" "$runner" "$max_n" "$flt_heads" <<'EOF'
import datetime, json, sys
path, gpu, runner, max_n, heads = sys.argv[1:]
json.dump({"gpu": gpu or None, "runner": runner, "flt_max_n": int(max_n), "flt_heads": heads,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
          open(path, "w"))
EOF

run_torch() {
  echo "== torch_reference.py" >&2
  start=$SECONDS
  python3 "$here/torch_reference.py" --n "$NS" --d 64 --heads "$HEADS" --batch "$BATCH" --sgemm-sizes "$SGEMM" \
    ${TORCH_METHODS:+--methods "$TORCH_METHODS"} --repeats 10 --warmup-ms 200 --self-check --deadline-s "$TORCH_DEADLINE_S" \
    >"$raw/torch.jsonl" 2>"$raw/torch.err" || echo "torch_reference.py failed: $(tail -3 "$raw/torch.err")" >&2
  echo "torch: $((SECONDS - start)) s" >>"$raw/wall.txt"
}

IFS=, read -ra all_n <<<"$NS"
ok_n=()
refused_n=()
for n in "${all_n[@]}"; do
  if [ "$n" -le "$max_n" ]; then ok_n+=("$n"); else refused_n+=("$n"); fi
done
ok_list=$(IFS=,; echo "${ok_n[*]}")
refused_list=$(IFS=,; echo "${refused_n[*]-}")

[ "$TORCH_FIRST" = 1 ] && run_torch

# name | flags (method knobs) | params JSON as collect.py keys them
specs=(
  "full||{}"
  "full|--causal|{}"
  "longformer|--window 256 --global 0|{\"window\":256,\"global\":0}"
  "longformer|--window 256 --global 0 --causal|{\"window\":256,\"global\":0}"
  "linear||{}"
  "linformer|--proj-dim 256|{\"proj-dim\":256,\"projection\":\"mean-pool\"}"
  "nystrom|--landmarks 64|{\"landmarks\":64,\"pinv-iters\":6}"
  "performer|--features 256|{\"features\":256}"
)
IFS=, read -ra heads_list <<<"$flt_heads"
for spec in "${specs[@]}"; do
  IFS='|' read -r method flags params <<<"$spec"
  case " $SKIP " in *" $method "*) continue ;; esac
  causal=false
  case " $flags " in *" --causal "*) causal=true ;; esac
  for h in "${heads_list[@]}"; do
    tag="flt-$method$([ "$causal" = true ] && echo -causal)-h$h"
    head_flags=""
    [ "$flt_heads" != 1 ] && head_flags="--heads $h --batch $BATCH"
    # shellcheck disable=SC2086
    cmd="$flt bench --backend gpu --methods $method --n $ok_list --d 64 --repeats 10 --warmup-ms 1000 --json $head_flags $flags"
    echo "$cmd" >"$raw/$tag.cmd"
    echo "== $cmd" >&2
    rc=0
    start=$SECONDS
    if [ -n "$ok_list" ]; then
      # shellcheck disable=SC2086
      $cmd >"$raw/$tag.jsonl" 2>"$raw/$tag.err" || rc=$?
    fi
    echo "$tag: $((SECONDS - start)) s (the whole process: inputs, checks, warm-up, timing)" >>"$raw/wall.txt"
    python3 - "$raw/$tag.expect" "$method" "$ok_list" "$refused_list" "$h" "$BATCH" "$causal" "$params" "$rc" "$max_n" <<'EOF'
import json, sys
path, method, ok, refused, h, b, causal, params, rc, max_n = sys.argv[1:]
ints = lambda s: [int(x) for x in s.split(",") if x]
json.dump({"kernel": method, "ns": ints(ok), "refused": ints(refused), "heads": int(h), "batch": int(b),
           "causal": causal == "true", "params": json.loads(params), "rc": int(rc), "max_n": int(max_n)},
          open(path, "w"))
EOF
  done
done

IFS=, read -ra sizes <<<"$SGEMM"
for s in "${sizes[@]}"; do
  if "$flt" bench --help 2>/dev/null | grep -q -- '--kernel'; then
    cmd="$flt bench --kernel sgemm --backend gpu --m $s --k $s --n $s --repeats 10 --warmup-ms 1000 --json"
  else # an older flt: its int8 lab's f32 product
    cmd="$flt matmul --backend gpu --m $s --k $s --n $s --kernel auto --repeats 10 --warmup-ms 1000 --json"
  fi
  echo "$cmd" >"$raw/sgemm-$s.cmd"
  echo "== $cmd" >&2
  $cmd >"$raw/sgemm-$s.jsonl" 2>"$raw/sgemm-$s.err" || echo "flt matmul $s failed: $(tail -1 "$raw/sgemm-$s.err")" >&2
done

[ "$TORCH_FIRST" = 1 ] || run_torch

slug=$(printf '%s' "${gpu:-unknown-gpu}" | tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//')
python3 "$here/collect.py" --raw "$raw" --out "$out/results/$slug.jsonl" --checks-out "$out/results/$slug.checks.jsonl"
python3 "$here/summarize.py" "$out/results/$slug.jsonl" --checks "$out/results/$slug.checks.jsonl" --out "$out/README.md"
