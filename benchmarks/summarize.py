"""Writes `benchmarks/README.md` from `benchmarks/results/<gpu>.jsonl`
(collect.py's rows): the commands that measured them, per kernel and n the
ratio torch_ms / flt_ms (> 1: flt faster), the time exponents of n fitted by
least squares on log–log over the points with n ≥ 4096 (per impl, kernel,
heads, causal), and the crossovers — the smallest n from which a method is
faster than its own implementation's exact kernel (flt: `full`, torch:
`sdpa`) at every larger n measured by both — for 1 and 16 heads.

    python3 benchmarks/summarize.py benchmarks/results/nvidia-h200.jsonl [--checks FILE] [--out benchmarks/README.md]
"""

import argparse
import json
import math
import os
import re

from collect import EXACT, PAIRS

FIT_FROM_N = 4096


def timed(rows):
    return [r for r in rows if r.get("ms") not in (None, 0) and not r.get("error")]


def key(r):
    return (r["impl"], r["kernel"], r["heads"], r["batch"], r["causal"])


def index(rows):
    """{(impl, kernel, heads, batch, causal): {n: ms}}."""
    out = {}
    for r in timed(rows):
        out.setdefault(key(r), {})[r["n"]] = r["ms"]
    return out


def ratios(rows):
    """{(flt kernel, torch kernel, heads, batch, causal): {n: torch_ms / flt_ms}}
    for every n both measured."""
    idx = index(rows)
    out = {}
    for (impl, kernel, heads, batch, causal), series in idx.items():
        if impl != "flt":
            continue
        for flt_kernel, torch_kernel in PAIRS:
            if flt_kernel != kernel:
                continue
            other = idx.get(("torch", torch_kernel, heads, batch, causal), {})
            common = sorted(set(series) & set(other))
            if common:
                out[(kernel, torch_kernel, heads, batch, causal)] = {n: other[n] / series[n] for n in common}
    return out


def fit(points):
    """Least-squares slope of log(ms) on log(n): (exponent, count)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(ms) for _, ms in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def exponents(rows, from_n=FIT_FROM_N):
    """{(impl, kernel, heads, batch, causal): (exponent, first n, last n, points)}
    over the points with n ≥ from_n (at least two)."""
    out = {}
    for k, series in index(rows).items():
        points = sorted((n, ms) for n, ms in series.items() if n >= from_n)
        slope = fit(points)
        if slope is not None:
            out[k] = (slope, points[0][0], points[-1][0], len(points))
    return out


def crossovers(rows):
    """{(impl, kernel, heads, batch, causal): (n or None, largest n compared)}:
    the smallest n from which the kernel is faster than its impl's exact
    kernel at every larger n both measured; None when it is not faster at
    the largest."""
    idx = index(rows)
    out = {}
    for (impl, kernel, heads, batch, causal), series in idx.items():
        exact = EXACT.get(impl)
        # sdpa-math is exact attention too: not a method to cross over.
        if kernel in (exact, "sgemm", "sdpa-math") or exact is None:
            continue
        ref = idx.get((impl, exact, heads, batch, causal))
        if not ref:
            continue
        common = sorted(set(series) & set(ref))
        if not common:
            continue
        start = None
        for n in reversed(common):
            if series[n] < ref[n]:
                start = n
            else:
                break
        out[(impl, kernel, heads, batch, causal)] = (start, common[-1])
    return out


def fmt_ms(ms):
    return "—" if ms is None else (f"{ms:.3g}" if ms < 100 else f"{ms:.0f}")


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def section(rows, heads):
    """The README section of one head count."""
    at = [r for r in rows if r["heads"] == heads or (heads == 1 and r["kernel"] == "sgemm")]
    if not at:
        return f"No rows at {heads} head{'s' if heads > 1 else ''}.\n"
    batch = sorted({r["batch"] for r in at if r["kernel"] != "sgemm"}) or [1]
    b = batch[0]
    ns = sorted({r["n"] for r in timed(at) if r["kernel"] != "sgemm"})
    rat = ratios(at)
    idx = index(at)
    parts = []
    lines = []
    for flt_kernel, torch_kernel in PAIRS:
        for causal in (False, True):
            kb = 1 if flt_kernel == "sgemm" else b
            f = idx.get(("flt", flt_kernel, heads if flt_kernel != "sgemm" else 1, kb, causal), {})
            t = idx.get(("torch", torch_kernel, heads if flt_kernel != "sgemm" else 1, kb, causal), {})
            if not f and not t:
                continue
            r = rat.get((flt_kernel, torch_kernel, heads if flt_kernel != "sgemm" else 1, kb, causal), {})
            cols = sorted(set(f) | set(t)) if flt_kernel == "sgemm" else ns
            cells = []
            for n in cols:
                if n in r:
                    cells.append(f"{n}: **{r[n]:.2f}** ({fmt_ms(f[n])} / {fmt_ms(t[n])})" if flt_kernel == "sgemm"
                                 else f"**{r[n]:.2f}** ({fmt_ms(f[n])} / {fmt_ms(t[n])})")
                else:
                    cells.append((f"{n}: " if flt_kernel == "sgemm" else "")
                                 + f"— ({fmt_ms(f.get(n))} / {fmt_ms(t.get(n))})")
            label = f"{flt_kernel} / {torch_kernel}" + (" (causal)" if causal else "")
            if flt_kernel == "sgemm":
                lines.append((label, "; ".join(cells)))
            else:
                lines.append([label] + cells)
    gemm = [line for line in lines if isinstance(line, tuple)]
    attention = [line for line in lines if not isinstance(line, tuple)]
    parts.append("Time ratio torch_ms / flt_ms (> 1: flt faster); in brackets flt ms / torch ms, "
                 "— where one side has no time at that n.\n")
    if attention:
        parts.append(table(["kernel (flt / torch)"] + [f"n = {n}" for n in ns], attention))
    else:
        parts.append(f"No attention rows at {heads} head{'s' if heads > 1 else ''} in this run.")
    for label, text in gemm:
        parts.append(f"\nsgemm (square M = N = K, n = the side): {text}")
    exp = exponents(at)
    lines = []
    for (impl, kernel, h, bb, causal), (slope, lo, hi, count) in sorted(exp.items(), key=lambda kv: str(kv[0])):
        lines.append([impl, kernel + (" (causal)" if causal else ""), f"{slope:.2f}", f"{lo}–{hi}", count])
    parts.append(f"\nFitted time exponents of n (least squares on log–log over n ≥ {FIT_FROM_N}):\n")
    parts.append(table(["impl", "kernel", "exponent", "n range", "points"], lines) if lines else "(too few points)")
    cross = crossovers(at)
    lines = []
    for (impl, kernel, h, bb, causal), (start, upto) in sorted(cross.items(), key=lambda kv: str(kv[0])):
        text = f"from n = {start}" if start is not None else f"not up to n = {upto}"
        lines.append([impl, kernel + (" (causal)" if causal else ""), EXACT[impl], text, upto])
    parts.append("\nCrossovers: the smallest n from which the method is faster than its own implementation's "
                 "exact kernel at every larger n both measured:\n")
    parts.append(table(["impl", "kernel", "against", "faster", "compared up to n"], lines) if lines else "(none)")
    return "\n".join(parts) + "\n"


def arithmetic(rows):
    """What PyTorch's exact attention computed on: the SDPA backend its rows
    name (`sdpa_backend`, `cuda_kernels`), and the FMA-only reference beside
    it when the run has one."""
    sdpa = [r for r in timed(rows) if r["impl"] == "torch" and r["kernel"] == "sdpa" and r.get("sdpa_backend")]
    if not sdpa:
        return []
    backends = sorted({r["sdpa_backend"] for r in sdpa})
    kernel = next((k for r in sdpa for k in r.get("cuda_kernels", []) if "fmha" in k), None)
    text = (f"PyTorch's fp32 `sdpa` ran its {', '.join(f'`{b}`' for b in backends)} backend"
            + (f" (`{kernel.split('(')[0]}`)" if kernel else "") + ".")
    if "efficient" in backends:
        text += (" On a GPU of compute capability 8.0 or later that kernel does its f32 products on the "
                 "tensor cores as 3xTF32 (each operand split into two TF32 parts, three products: "
                 "`DefaultGemmType<Sm80, float>` is `OpClassTensorOp` with `OpMultiplyAddFastF32` in "
                 "PyTorch's `mem_eff_attention/gemm_kernel_utils.h`); TF32 off does not reach it. flt's "
                 "fp32 kernels, like every WGSL kernel without cooperative matrices, use the FMA units, "
                 "so `full / sdpa` compares FMA units against tensor cores.")
    if any(r["kernel"] == "sdpa-math" for r in timed(rows)):
        text += (" `full / sdpa-math` is the like-for-like row: PyTorch's exact attention forced onto "
                 "its math backend (`SDPBackend.MATH`: QKᵀ and P·V as cuBLAS fp32 GEMMs on the FMA "
                 "units, TF32 off, the n × n scores in memory, so it runs out of memory where a fused "
                 "kernel does not).")
    return [text, ""]


def render(rows, checks=()):
    """The README text."""
    gpu = next((r["adapter"] for r in rows if r.get("adapter")), "unknown GPU")
    dates = sorted({r["date"] for r in rows if r.get("date")})
    torch_version = next((r["torch"] for r in rows if r.get("torch")), None)
    commands = []
    for r in rows:
        c = r.get("command")
        if c and c not in commands:
            commands.append(c)
    runners = []
    for r in rows:
        if r.get("runner") and r["runner"] not in runners:
            runners.append(r["runner"])
    flt_heads = sorted({r["heads"] for r in timed(rows) if r["impl"] == "flt" and r["kernel"] != "sgemm"})
    out = [
        f"# flt against PyTorch on {gpu}",
        "",
        "Generated by `benchmarks/summarize.py` from "
        f"`benchmarks/results/` — do not edit by hand. Measured "
        + (f"{dates[0]} – {dates[-1]}" if len(dates) > 1 else (dates[0] if dates else "at an unknown date"))
        + (f", PyTorch {torch_version}" if torch_version else "") + ".",
        "",
        "Both sides in fp32 (PyTorch with TF32 off), each row the median of 10 timed runs after a warm-up "
        "(flt: `--warmup-ms 1000`, GPU timestamps; PyTorch: CUDA events), d = 64. FLOPs per row are what "
        "the method needs, one formula per kernel for both sides (exact attention 4·pairs·d; the others flt's "
        "`flops_algorithmic`), so the TFLOP/s in the JSON compare like for like. Kernels: flt `full` ↔ "
        "`sdpa` (and `sdpa-math`, below), `longformer --window 256 --global 0` ↔ FlexAttention sliding window W = 256, `linear`, "
        "`linformer` (k = 256, mean-pool), `nystrom` (L = 64, 6 iterations), `performer` (m = 256), and "
        "`sgemm` (`flt matmul` f32 ↔ `torch.mm`).",
        "",
    ] + arithmetic(rows) + [
        "PyTorch runs eagerly (one kernel launch per operation; FlexAttention compiled once per shape): "
        "a series whose time hardly grows with n — a fitted exponent far below the method's own — is "
        "bound by launch overhead, not by the GPU, and such times vary from run to run more than the others.",
        "",
    ]
    if runners:
        if len(runners) == 1:
            out += ["The run:", ""]
        else:
            out += [f"The run, in {len(runners)} device calls (one runner each; every ratio below pairs rows "
                    "of one call: each call ran both sides of its pairs):", ""]
        out += [f"    {r}" for r in runners] + [""]
        # A method left out of every call (SKIP) has PyTorch rows only.
        skips = [set(m.group(1).split()) if (m := re.search(r'SKIP="([^"]*)"', r)) else set() for r in runners]
        ran = {r["kernel"] for r in rows if r["impl"] == "flt"}
        left_out = sorted(set.intersection(*skips) - ran) if skips else []
        if left_out:
            out += [f"flt's {', '.join(left_out)} rows were left out of this run (`SKIP`): "
                    "that method was measured beside PyTorch in a call of its own, in its own file under "
                    "`bench/results/`; its rows here are PyTorch's alone.", ""]
    if flt_heads == [1]:
        out += ["flt rows are single-head (H = 1): this flt build has no `--heads`, so the 16-head "
                "section has PyTorch rows only.", ""]
    for heads in (1, 16):
        out += [f"## {heads} head{'s' if heads > 1 else ''}", "", section(rows, heads)]
    missing = [r for r in rows if r.get("error")]
    if missing:
        out += ["## Rows without a time", ""]
        lines = [[r["impl"], r["kernel"] + (" (causal)" if r.get("causal") else ""), r["n"], r["heads"],
                  str(r["error"]).replace("|", "/")[:160]] for r in missing]
        out += [table(["impl", "kernel", "n", "heads", "why"], lines), ""]
    if checks:
        out += ["## PyTorch references against their naive definitions (GPU, tiny input)", ""]
        lines = [[c.get("check"), f"{c.get('max_abs_err', float('nan')):.2e}", "yes" if c.get("ok") else "NO"]
                 for c in checks]
        out += [table(["check", "max abs err", "within tolerance"], lines), ""]
    mism = [r for r in rows if r.get("flops_mismatch")]
    if mism:
        out += ["## FLOP formula mismatches", ""] + [f"- {r['kernel']} n = {r['n']}: {r['flops_mismatch']}"
                                                    for r in mism] + [""]
    out += ["## Commands", ""] + [f"    {c}" for c in commands] + [""]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    p.add_argument("--checks")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"))
    a = p.parse_args()
    rows = [json.loads(line) for line in open(a.results, encoding="utf-8") if line.strip()]
    checks = []
    if a.checks and os.path.exists(a.checks):
        checks = [json.loads(line) for line in open(a.checks, encoding="utf-8") if line.strip()]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(render(rows, checks))
    print(f"summarize: {len(rows)} rows → {a.out}")


if __name__ == "__main__":
    main()
