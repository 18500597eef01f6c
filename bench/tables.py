"""The README's measured tables, generated from the JSON lines that
`bench/gpu_figures.sh` writes (`flt bench --json` measurements and
`bench/torch_reference.py` results) and from `flt sweep --json` results
(`bench/sweeps.sh`), so that no figure is typed by hand.

    python3 bench/tables.py --write README.md bench/results/*.jsonl
    python3 bench/tables.py --check README.md bench/results/*.jsonl   # scripts/test

Each table lives in the README between `<!-- tables:NAME -->` and
`<!-- /tables:NAME -->`; --write replaces those blocks, --check fails when
they differ from what the JSON gives. Standard library only.
"""

import argparse
import json
import re
import sys

N = 16384


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ms(x):
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def ratio(x):
    return f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def sci(x):
    return f"{x:.2g}" if x >= 0.01 else f"{x:.1e}"


def knobs(m):
    names = m.get("param_choices", {})
    parts = []
    for key, value in m.get("params", {}).items():
        if key in names:
            parts.append(f"{key} {names[key]}")
        elif key in ("shared-qk", "share-ef"):
            if value:
                parts.append(key)
        else:
            parts.append(f"{key} {value}")
    label = m["method"]
    return f"{label} ({', '.join(parts)})" if parts else label


def attention(m):
    """Whether a row is an attention measurement (`flt bench --json`)."""
    return m.get("family", "attention") == "attention" and "impl" not in m and "schema" not in m


def flt(rows, method, n, causal=False, **choices):
    """The one-head measurement of `method` at n (rows over several heads
    and batches, e.g. the 16-head runs under bench/results/, belong to other
    tables)."""
    for m in rows:
        if not attention(m) or "points" in m or m["method"] != method or m["n"] != n or m["causal"] != causal:
            continue
        if m.get("heads", 1) * m.get("batch", 1) != 1:
            continue
        if all(m.get("param_choices", {}).get(k) == v for k, v in choices.items()):
            return m
    return None


def torch(rows, impl, n, causal=False):
    for m in rows:
        if m.get("impl") == impl and m["n"] == n and m.get("causal", False) == causal:
            return m
    return None


def exact_table(rows):
    out = [
        "| n | flt fused (ms) | flt materialising (ms) | torch SDPA (ms) | torch naive (ms) "
        "| flt TFLOP/s | SDPA TFLOP/s | executed ÷ needed FLOPs | bytes moved ÷ compulsory | flt rel_err |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, causal in [(1024, False), (4096, False), (N, False), (N, True)]:
        m = flt(rows, "full", n, causal)
        if m is None:
            continue
        stage = next((s for s in m["stages"] if s["name"].startswith("materialized")), None)
        sdpa, naive = torch(rows, "torch-sdpa", n, causal), torch(rows, "torch-naive", n, causal)
        tflops = m["flops_algorithmic"] / (m["time_ms"] * 1e9)
        cells = [
            f"{n:,}".replace(",", " ") + (" causal" if causal else ""),
            ms(m["time_ms"]),
            ms(stage["time_ms"]) if stage else "— (not materialised)",
            ms(sdpa["time_ms"]) if sdpa and "time_ms" in sdpa else "—",
            ms(naive["time_ms"]) if naive and "time_ms" in naive else "—",
            f"{tflops:.2f}",
            f"{m['flops_algorithmic'] / (sdpa['time_ms'] * 1e9):.2f}" if sdpa and "time_ms" in sdpa else "—",
            ratio(m["flops"] / m["flops_algorithmic"]),
            ratio(m["bytes"] / m["bytes_compulsory"]),
            sci(m["rel_err"]),
        ]
        out.append("| " + " | ".join(cells) + " |")
    device = next((m["adapter"] for m in rows if "adapter" in m), "?")
    out.append("")
    out.append(
        f"*{device}; TFLOP/s count the FLOPs exact attention needs (n² pairs, or n(n+1)/2 "
        "causal) for both flt and PyTorch; the materialising path is timed like the fused "
        "kernel (median of 10 after a warm-up).*"
    )
    return out


SPARSE = ["longformer", "bigbird", "sparse-strided", "sparse-fixed", "reformer"]
LOW_RANK = [
    ("linear", {}),
    ("cosformer", {}),
    ("performer", {}),
    ("nystrom", {}),
    ("linformer", {"projection": "mean-pool"}),
    ("linformer", {"projection": "gaussian"}),
    ("synthesizer-dense", {}),
    ("synthesizer-random", {}),
]


def sparse_table(rows):
    out = [
        "| method (knobs) | time (ms) | speed-up vs full | pattern density "
        "| pairs evaluated ÷ in pattern | executed ÷ needed FLOPs | bytes moved ÷ compulsory | exact mass kept |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in SPARSE:
        for causal in (False, True):
            m = flt(rows, method, N, causal)
            if m is None:
                continue
            full = flt(rows, "full", N, causal)
            cells = [
                knobs(m) + (", causal" if causal else ""),
                ms(m["time_ms"]),
                ratio(full["time_ms"] / m["time_ms"]) + (" vs causal" if causal else "") if full else "—",
                f"{100 * m['density']:.1f} %",
                ratio(m["tile_pairs"] / m["pattern_pairs"]) if m.get("tile_pairs") else "—",
                ratio(m["flops"] / m["flops_algorithmic"]),
                ratio(m["bytes"] / m["bytes_compulsory"]),
                f"{100 * m['mass_in_pattern']:.1f} %",
            ]
            out.append("| " + " | ".join(cells) + " |")
    return out


def low_rank_table(rows):
    out = [
        "| method (knobs) | time (ms) | causal (ms) | rel_err | mean-of-V baseline | zero baseline "
        "| executed ÷ needed FLOPs | bytes moved ÷ compulsory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, choices in LOW_RANK:
        m = flt(rows, method, N, False, **choices)
        if m is None:
            continue
        c = flt(rows, method, N, True, **choices)
        cells = [
            knobs(m),
            ms(m["time_ms"]),
            ms(c["time_ms"]) if c else "—",
            sci(m["rel_err"]),
            sci(m["baseline_mean_v_rel_err"]),
            sci(m["baseline_zero_rel_err"]),
            ratio(m["flops"] / m["flops_algorithmic"]),
            ratio(m["bytes"] / m["bytes_compulsory"]),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def laws_table(rows):
    out = [
        "| sweep | spread over | mean rel_err, smallest → largest budget | largest mean | fitted slope (theory) "
        "| mean-of-V baseline |",
        "|---|---|---|---:|---:|---:|",
    ]
    for s in rows:
        if "points" not in s:
            continue
        settings = dict(kv.split("=", 1) for kv in s["settings"].split("&"))
        shown = [f"{s['method']}: {s['knob']}"]
        for key in ("inputs", "qk-scale", "projection"):
            if key in settings:
                shown.append(f"{key} {settings[key]}")
        pts = s["points"]
        first, last = pts[0], pts[-1]
        slope = f"{s['fitted_slope']:.2f}" if s.get("fitted_slope") is not None else "—"
        theory = f" ({s['theory_slope']})" if s.get("theory_slope") is not None else ""
        peak = max(pts, key=lambda p: p["mean"])
        cells = [
            ", ".join(shown),
            s["spread"],
            f"{sci(first['mean'])} at {first['budget']} → {sci(last['mean'])} at {last['budget']}",
            f"{sci(peak['mean'])} at {peak['budget']}",
            slope + theory,
            sci(first["baseline_mean_v_rel_err"]),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def gbps(x):
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def quantization_table(rows):
    out = [
        "| matrix | scheme | flt time (ms) | flt GB/s | flt copy GB/s | ÷ flt copy | torch copy GB/s "
        "| torch fake-quant GB/s | SQNR (dB) | bits / weight |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        if m.get("family") != "quantization" or m.get("method") != "ptq" or "impl" in m:
            continue
        torch = {r["op"]: r for r in rows if r.get("impl") == "torch" and r.get("family") == "quantization"
                 and r["rows"] == m["rows"] and r["cols"] == m["cols"]}
        copy = torch.get("copy")
        fake = torch.get("fake-quantize int8 per-channel")
        same_work = m["format"] == "int" and m["bits"] == 8 and m["granularity"] == "per-channel" \
            and m["clip"] == "minmax"
        cells = [
            f"{m['rows']} × {m['cols']}",
            m["method_label"],
            ms(m["time_ms"]),
            gbps(m["throughput_gbps"]),
            gbps(m["copy_gbps"]),
            f"{m['throughput_gbps'] / m['copy_gbps']:.2f}",
            gbps(copy["gbps"]) if copy else "—",
            gbps(fake["gbps"]) if fake and same_work else "—",
            f"{m['sqnr_db']:.2f}" if m["sqnr_db"] is not None else "∞",
            f"{m['bits_per_weight']:.3g}",
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def int8_table(rows):
    out = [
        "| M × K × N | int8 path | int8 packed (ms) | unpacked (ms) | f32 (ms) | packed ÷ f32 speed "
        "| int8 TOPS | torch _int_mm (ms) | torch fp32 mm (ms) | torch int8 ÷ fp32 speed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    shapes = []
    for m in rows:
        if m.get("schema") == "flt.int8-matmul.v1" and (m["m"], m["k"], m["n"]) not in shapes:
            shapes.append((m["m"], m["k"], m["n"]))
    for shape in shapes:
        by = {m["kernel"]: m for m in rows if m.get("schema") == "flt.int8-matmul.v1"
              and (m["m"], m["k"], m["n"]) == shape}
        torch = {m["impl"]: m for m in rows if str(m.get("impl", "")).startswith("torch-")
                 and (m.get("m"), m.get("k"), m.get("n")) == shape}
        packed, unpacked, f32 = by.get("int8-packed"), by.get("int8-unpacked"), by.get("f32")
        if not (packed and f32):
            continue
        ti, tf = torch.get("torch-int8"), torch.get("torch-f32")
        cells = [
            " × ".join(str(x) for x in shape),
            packed["path"],
            ms(packed["time_ms"]),
            ms(unpacked["time_ms"]) if unpacked else "—",
            ms(f32["time_ms"]),
            ratio(f32["time_ms"] / packed["time_ms"]),
            f"{packed['gops'] / 1e3:.1f}",
            ms(ti["time_ms"]) if ti else "—",
            ms(tf["time_ms"]) if tf else "—",
            ratio(tf["time_ms"] / ti["time_ms"]) if ti and tf else "—",
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def qat_table(rows):
    out = [
        "| bits | PTQ test accuracy | QAT test accuracy | QAT ms / epoch (H200) |",
        "|---:|---:|---:|---:|",
    ]
    for m in rows:
        if m.get("family") != "quantization" or m.get("method") != "qat" or "impl" in m:
            continue
        out.append(f"| f32 | {100 * m['f32_test_accuracy']:.1f} % | — | {ms(m['f32_epoch_ms'])} |")
        for b in m["per_bits"]:
            stage = next((s for s in m["stages"] if s["name"].startswith(f"QAT epoch at {b['bits']} bits")), None)
            out.append(
                f"| {b['bits']} | {100 * b['ptq_test_accuracy']:.1f} % | {100 * b['qat_test_accuracy']:.1f} % "
                f"| {ms(stage['time_ms']) if stage else '—'} |"
            )
    return out


TABLES = {
    "exact": exact_table,
    "sparse": sparse_table,
    "low-rank": low_rank_table,
    "laws": laws_table,
    "quantization": quantization_table,
    "int8": int8_table,
    "qat": qat_table,
}


def render(readme, rows):
    for name, make in TABLES.items():
        block = "\n".join(make(rows))
        pattern = re.compile(
            rf"(<!-- tables:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /tables:{re.escape(name)} -->)",
            re.S,
        )
        if not pattern.search(readme):
            sys.exit(f"README has no <!-- tables:{name} --> block")
        readme = pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), readme)
    return readme


def main():
    p = argparse.ArgumentParser()
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    p.add_argument("readme")
    p.add_argument("results", nargs="+")
    a = p.parse_args()
    with open(a.readme) as f:
        readme = f.read()
    fresh = render(readme, [row for path in a.results for row in load(path)])
    if a.write:
        with open(a.readme, "w") as f:
            f.write(fresh)
    elif fresh != readme:
        files = " ".join(a.results)
        sys.exit(f"{a.readme}: the measured tables differ from {files}; "
                 f"run python3 bench/tables.py --write {a.readme} {files}")


if __name__ == "__main__":
    main()
