#!/usr/bin/env bash
# The error laws the README quotes (CPU twins, so any machine): one
# `flt sweep --json` line each, into the file given.
#
#   FLT=target/release/flt bench/sweeps.sh bench/results/sweeps.jsonl
set -euo pipefail
flt="${FLT:-target/release/flt}"
out="${1:-sweeps.jsonl}"
: >"$out"
sweep() { "$flt" sweep --n 256 --d 32 --seeds 5 --json "$@" >>"$out"; }
sweep --method performer --qk-scale 0.25
sweep --method performer --qk-scale 1
sweep --method nystrom --inputs low-rank
sweep --method nystrom --qk-scale 2
sweep --method linformer --inputs local
sweep --method linformer --inputs local --projection gaussian
