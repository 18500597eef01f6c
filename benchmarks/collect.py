"""Collects one benchmark run into `benchmarks/results/<gpu>.jsonl`: the raw
lines of `flt bench --json` (one file per method), `flt matmul --json`
(sgemm), the runner's skip lines and `torch_reference.py`, turned into ONE
JSON object per row with the same keys for both implementations:

    impl (flt | torch), kernel, n, d, heads, batch, causal, params, ms,
    tflops, peak_bytes, adapter, device, date, command
    (+ flops, flops_formula, samples, and error for a row that did not run)

FLOPs are what the method needs, counted by ONE formula per kernel for both
implementations so that their ratio compares like for like:

* exact attention (flt `full`, torch `sdpa` and `sdpa-math`): 4·pairs·d per head, pairs = n²
  or n(n+1)/2 causal (QKᵀ and P·V, 2d each per pair);
* the others: flt's `flops_algorithmic` (src/attention/*.rs), restated in
  `algorithmic_flops` below and checked against flt's own figure on every
  flt row (and in test_benchmarks.py on recorded flt lines);
* sgemm: 2·M·N·K.

All per head, times batch × heads. tflops = FLOPs / time.

    python3 benchmarks/collect.py --raw RAW_DIR [--raw RAW_DIR_2 …] --out benchmarks/results/nvidia-h200.jsonl
"""

import argparse
import glob
import json
import os
import re
import sys

# torch kernel ↔ flt kernel: the pairs whose ratio the summary reports.
PAIRS = [
    ("full", "sdpa"),
    # The same exact attention on FMA units (no tensor cores), as flt's.
    ("full", "sdpa-math"),
    ("sgemm", "sgemm"),
    ("linear", "linear"),
    ("linformer", "linformer"),
    ("nystrom", "nystrom"),
    ("performer", "performer"),
    ("longformer", "flex-window"),
]
FLT_OF_TORCH = {t: f for f, t in PAIRS}
EXACT = {"flt": "full", "torch": "sdpa"}


def window_pairs(n, w, causal):
    """Pairs with |i − j| ≤ W (and j ≤ i): n(2W+1) − W(W+1) for W < n
    (causal n(W+1) − W(W+1)/2); all n² (n(n+1)/2) once W ≥ n − 1."""
    w = min(w, n - 1)
    if causal:
        return n * (w + 1) - w * (w + 1) // 2
    return n * (2 * w + 1) - w * (w + 1)


def exact_pairs(n, causal):
    return n * (n + 1) // 2 if causal else n * n


def algorithmic_flops(kernel, n, d, dv, causal, params):
    """(FLOPs per head, formula) as flt counts them (flops_algorithmic), for
    exact attention 4·pairs·d instead."""
    p = params or {}
    if kernel in ("full", "sdpa", "sdpa-math"):
        pairs = exact_pairs(n, causal)
        return 4 * pairs * d, f"4·pairs·d, pairs = {pairs}"
    if kernel in ("longformer", "flex-window"):
        if p.get("global", 0):
            raise ValueError("the window formula has no global tokens: run longformer with --global 0")
        pairs = window_pairs(n, int(p.get("window", 256)), causal)
        return (pairs * (2 * d + 2 * dv + 4) + n * dv,
                f"pairs·(2d + 2dᵥ + 4) + n·dᵥ, pairs = {pairs} (|i − j| ≤ W)")
    if kernel in ("linear", "performer"):
        if kernel == "linear":
            m = d
            features = 2 * n * d
            text = "2nd"
        else:
            m = int(p.get("features", 64))
            features = 2 * n * m * (2 * d + 3) + 4 * n * d
            text = "2nm(2d + 3) + 4nd"
        rows = n * (2 * m * dv + 2 * m + 1 + dv)
        return (features + 2 * n * m * dv + n * m + rows,
                f"{text} + 2nm·dᵥ + nm + n·(2m·dᵥ + 2m + 1 + dᵥ), m = {m}")
    if kernel == "linformer":
        # flt's JSON gives a choice knob as its index (0 mean-pool, 1 gaussian)
        projection = {0: "mean-pool", 1: "gaussian"}.get(p.get("projection", 0), p.get("projection"))
        k = int(p.get("proj-dim", 32))
        if projection == "mean-pool":
            k = min(k, max(n, 1))
            project, text = (n + k) * (d + dv), "(n + k)(d + dᵥ)"
        else:
            project, text = 2 * k * n * (d + dv), "2kn(d + dᵥ)"
        return (project + 2 * n * k * d + 4 * n * k + 2 * n * k * dv,
                f"{text} + 2nkd + 4nk + 2nkdᵥ, k = {k}")
    if kernel == "nystrom":
        l = max(1, min(int(p.get("landmarks", 32)), n))
        it = int(p.get("pinv-iters", 6))
        flops = (2 * n * d + 2 * n * l * d + 2 * l * l * d + 2 * l * n * d + 4 * (2 * n * l + l * l)
                 + it * (8 * l ** 3 + 3 * l * l) + 2 * l * n * dv + 2 * l * l * dv + 2 * n * l * dv)
        return flops, f"2nd + 2(2nL + L²)d + 4(2nL + L²) + iters·(8L³ + 3L²) + 2(2nL + L²)dᵥ, L = {l}"
    if kernel == "sgemm":
        return 2 * p["m"] * p["n"] * p["k"], "2MNK"
    raise ValueError(f"no FLOP formula for {kernel}")


def slug(name):
    """'NVIDIA H200' → 'nvidia-h200'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-gpu"


def finish(row):
    """Fills flops and tflops from the kernel's formula (× batch·heads)."""
    if row.get("error") is not None or row.get("ms") in (None, 0):
        row.setdefault("tflops", None)
        row.setdefault("flops", None)
        return row
    dv = row.get("dv", row["d"])
    per_head, formula = algorithmic_flops(row["kernel"], row["n"], row["d"], dv, row["causal"], row["params"])
    scale = 1 if row["kernel"] == "sgemm" else row["batch"] * row["heads"]
    row["flops"] = per_head * scale
    row["flops_formula"] = formula + (f", × B·H = {scale}" if scale != 1 else "")
    row["tflops"] = row["flops"] / (row["ms"] * 1e9)
    return row


def flt_row(line, command, date):
    """A `flt bench --json` line as a row."""
    heads, batch = line.get("heads", 1), line.get("batch", 1)
    row = {
        "impl": "flt", "kernel": line["method"], "n": line["n"], "d": line["d"], "dv": line.get("dv", line["d"]),
        "heads": heads, "batch": batch, "causal": line["causal"], "params": line.get("params", {}),
        "ms": line["time_ms"], "peak_bytes": line.get("memory_bytes"), "adapter": line.get("adapter"),
        "device": line.get("adapter"), "date": date, "command": command, "samples": line.get("time_ms_samples"),
        "timing": line.get("timing"), "rel_err": line.get("rel_err"), "notes": line.get("notes", []),
    }
    finish(row)
    # flt's own count beside ours: they must agree (exact attention excepted,
    # where the summary uses 4·pairs·d by definition).
    own = line.get("flops_algorithmic")
    if own is not None and row["kernel"] not in ("full",) and row["flops"] is not None and own != row["flops"]:
        row["flops_mismatch"] = f"flt reports flops_algorithmic = {own}, the formula here {row['flops']}"
    return row


def matmul_row(line, command, date):
    """The f32 kernel's line of `flt matmul --json` as an sgemm row."""
    m, k, n = line["m"], line["k"], line["n"]
    row = {
        "impl": "flt", "kernel": "sgemm", "n": n, "d": k, "heads": 1, "batch": 1, "causal": False,
        "params": {"m": m, "k": k, "n": n}, "ms": line["time_ms"], "peak_bytes": line.get("memory_bytes"),
        "adapter": line.get("adapter"), "device": line.get("adapter"), "date": date, "command": command,
        "samples": line.get("time_ms_samples"), "timing": line.get("timing"), "rel_err": line.get("rel_err"),
    }
    return finish(row)


def torch_row(line, adapter, date):
    """A `torch_reference.py` line as a row (check lines are kept apart)."""
    row = {
        "impl": "torch", "kernel": line["kernel"], "n": line["n"], "d": line["d"], "heads": line["heads"],
        "batch": line["batch"], "causal": line["causal"], "params": line.get("params", {}),
        "ms": line.get("ms"), "peak_bytes": line.get("peak_bytes"), "adapter": adapter,
        "device": line.get("device"), "date": line.get("date", date), "command": line.get("command"),
        "samples": line.get("samples"), "torch": line.get("torch"),
    }
    for extra in ("compile_s", "block_mask_s", "block_sparsity_pct", "check_max_abs_err", "sdpa_backend",
                  "cuda_kernels"):
        if extra in line:
            row[extra] = line[extra]
    if line.get("error"):
        row["error"] = line["error"]
    return finish(row)


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if raw.startswith("{"):
                try:
                    out.append(json.loads(raw))
                except json.JSONDecodeError:
                    pass
    return out


def collect(raw_dir, date=None):
    """Every row of a runner's raw folder: `flt-*.jsonl` (each beside its
    `.cmd`, the exact command), `sgemm-*.jsonl`, `skips.jsonl` and
    `torch.jsonl`; plus the torch self-check lines. Returns (rows, checks)."""
    rows, checks = [], []
    meta_path = os.path.join(raw_dir, "meta.json")
    meta = json.load(open(meta_path, encoding="utf-8")) if os.path.exists(meta_path) else {}
    date = date or meta.get("date")

    def command_of(path):
        cmd = os.path.splitext(path)[0] + ".cmd"
        return open(cmd, encoding="utf-8").read().strip() if os.path.exists(cmd) else None

    adapter = meta.get("gpu")
    for path in sorted(glob.glob(os.path.join(raw_dir, "flt-*.expect"))):
        expect = json.load(open(path, encoding="utf-8"))
        base = os.path.splitext(path)[0]
        got = []
        if os.path.exists(base + ".jsonl"):
            for line in read_jsonl(base + ".jsonl"):
                if "method" in line and "time_ms" in line:
                    got.append(flt_row(line, command_of(base + ".jsonl"), date))
        rows.extend(got)
        seen = {r["n"] for r in got}
        err = base + ".err"
        tail = ""
        if os.path.exists(err):
            lines = [x.strip() for x in open(err, encoding="utf-8", errors="replace") if x.strip()]
            tail = lines[-1] if lines else ""

        def missing(n, why):
            rows.append(finish({
                "impl": "flt", "kernel": expect["kernel"], "n": n, "d": 64, "heads": expect["heads"],
                "batch": expect["batch"], "causal": expect["causal"], "params": expect["params"], "ms": None,
                "peak_bytes": None, "date": date, "command": command_of(base + ".jsonl"), "error": why}))

        for n in expect["ns"]:
            if n not in seen:
                missing(n, f"flt exited {expect['rc']}: {tail}" if expect["rc"] else f"no row: {tail}")
        for n in expect["refused"]:
            missing(n, f"n = {n} is over flt's limit n ≤ {expect['max_n']} (inputs::MAX_N); not run")
    for path in sorted(glob.glob(os.path.join(raw_dir, "flt-*.jsonl"))):
        if os.path.exists(os.path.splitext(path)[0] + ".expect"):
            continue
        for line in read_jsonl(path):
            if "method" in line and "time_ms" in line:
                rows.append(flt_row(line, command_of(path), date))
    adapter = adapter or next((r["adapter"] for r in rows if r.get("adapter")), None)
    for path in sorted(glob.glob(os.path.join(raw_dir, "sgemm-*.jsonl"))):
        for line in read_jsonl(path):
            # `flt bench --kernel sgemm` (the SGEMM the low-rank methods
            # use), or an older build's `flt matmul` f32 line.
            if line.get("kernel") in ("sgemm", "f32"):
                rows.append(matmul_row(line, command_of(path), date))
    skips = os.path.join(raw_dir, "skips.jsonl")
    if os.path.exists(skips):
        for line in read_jsonl(skips):
            line.setdefault("ms", None)
            line.setdefault("date", date)
            rows.append(finish(line))
    torch_path = os.path.join(raw_dir, "torch.jsonl")
    if os.path.exists(torch_path):
        for line in read_jsonl(torch_path):
            if "check" in line:
                checks.append(line)
            elif "kernel" in line:
                rows.append(torch_row(line, adapter, date))
    for row in rows:
        row.setdefault("adapter", adapter)
        if row.get("device") is None:
            row["device"] = row["adapter"]
        row.pop("dv", None)
        if meta.get("runner"):
            row["runner"] = meta["runner"]
    return rows, checks


def merge_checks(checks):
    """A run split into calls checks each time: one line per check, with its
    worst error, passing only where every call passed."""
    merged = {}
    for line in checks:
        name = line.get("check")
        if name not in merged:
            merged[name] = line
            continue
        prev = merged[name]
        err = lambda x: x.get("max_abs_err", float("inf"))  # noqa: E731 - a line without one is the worst
        worse = line if err(line) > err(prev) else prev
        merged[name] = dict(worse, ok=bool(prev.get("ok")) and bool(line.get("ok")))
    return list(merged.values())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", required=True, action="append",
                   help="the runner's raw output folder; repeated for a run split into several device calls "
                        "(each call holding both sides of the pairs it measured)")
    p.add_argument("--out", help="the results file (default benchmarks/results/<gpu slug>.jsonl)")
    p.add_argument("--checks-out", help="where to write the torch self-check lines")
    a = p.parse_args()
    rows, checks = [], []
    for raw in a.raw:
        got, got_checks = collect(raw)
        rows += got
        checks += got_checks
    if not rows:
        sys.exit(f"collect: no rows in {a.raw}")
    gpu = next((r["adapter"] for r in rows if r.get("adapter")), None) or "unknown-gpu"
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", slug(gpu) + ".jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    checks = merge_checks(checks)
    if a.checks_out:
        with open(a.checks_out, "w", encoding="utf-8") as f:
            for line in checks:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    mismatches = [r for r in rows if "flops_mismatch" in r]
    for r in mismatches:
        print(f"collect: {r['kernel']} n={r['n']}: {r['flops_mismatch']}", file=sys.stderr)
    print(f"collect: {len(rows)} rows ({sum(1 for r in rows if r.get('error'))} without a time) → {out}")


if __name__ == "__main__":
    main()
