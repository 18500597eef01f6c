"""Tests of the benchmark tooling, run by `cargo test --test benchmarks`
(tests/benchmarks.rs) or directly: `python3 benchmarks/test_benchmarks.py`.

1. FLOP formulas: collect.algorithmic_flops equals flt's own
   flops_algorithmic on lines recorded from `flt bench --json` on the H200,
   and the window's closed-form pair count equals a brute-force count and
   flt's pattern_pairs.
2. collect.py and summarize.py on a synthetic raw folder whose times follow
   known laws: the ratios, the fitted exponents (n ≥ 4096 only), the
   crossovers (with a non-monotone series), tflops, the rows flt refused.
3. Each vectorised reference in torch_reference.py against its naive loop
   definition (naive.py) on a tiny input: with numpy (the same code as the
   torch path, through the Ops interface), and with torch on the CPU where
   torch is importable; plus injected bugs that the check must catch.
   Without numpy part 3 is skipped with a note, or fails when CI is set.

Prints 'N passed, N failed' and exits non-zero on any failure.
"""

import json
import math
import os
import random
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import collect  # noqa: E402
import naive  # noqa: E402
import summarize  # noqa: E402
import torch_reference as tr  # noqa: E402

# `flt bench --json` lines recorded on the H200 (2026-11-29), the fields the
# formulas read.
FLT_LINES = [
    {"method": "linear", "n": 1024, "d": 64, "dv": 64, "causal": False, "params": {}, "flops_algorithmic": 17171456},
    {"method": "linear", "n": 16384, "d": 64, "dv": 64, "causal": False, "params": {},
     "flops_algorithmic": 274743296},
    {"method": "performer", "n": 1024, "d": 64, "dv": 64, "causal": False, "params": {"features": 256},
     "flops_algorithmic": 136905728},
    {"method": "performer", "n": 16384, "d": 64, "dv": 64, "causal": False, "params": {"features": 256},
     "flops_algorithmic": 2190491648},
    {"method": "nystrom", "n": 1024, "d": 64, "dv": 64, "causal": False,
     "params": {"landmarks": 64, "pinv-iters": 6}, "flops_algorithmic": 47931392},
    {"method": "nystrom", "n": 16384, "d": 64, "dv": 64, "causal": False,
     "params": {"landmarks": 64, "pinv-iters": 6}, "flops_algorithmic": 561078272},
    {"method": "linformer", "n": 1024, "d": 64, "dv": 64, "causal": False,
     "params": {"proj-dim": 256, "projection": 0, "share-ef": 0}, "flops_algorithmic": 68321280},
    {"method": "linformer", "n": 16384, "d": 64, "dv": 64, "causal": False,
     "params": {"proj-dim": 256, "projection": 0, "share-ef": 0}, "flops_algorithmic": 1092648960},
    {"method": "linformer", "n": 16384, "d": 64, "dv": 64, "causal": False,
     "params": {"proj-dim": 256, "projection": "gaussian", "share-ef": 0}, "flops_algorithmic": 2164260864},
    {"method": "longformer", "n": 1024, "d": 64, "dv": 64, "causal": False, "params": {"global": 0, "window": 256},
     "flops_algorithmic": 119540736, "pattern_pairs": 459520},
    {"method": "longformer", "n": 16384, "d": 64, "dv": 64, "causal": False, "params": {"global": 0, "window": 256},
     "flops_algorithmic": 2169240576, "pattern_pairs": 8339200},
    {"method": "longformer", "n": 1024, "d": 64, "dv": 64, "causal": True, "params": {"global": 0, "window": 256},
     "flops_algorithmic": 59936256, "pattern_pairs": 230272},
    {"method": "longformer", "n": 16384, "d": 64, "dv": 64, "causal": True, "params": {"global": 0, "window": 256},
     "flops_algorithmic": 1087274496, "pattern_pairs": 4177792},
    {"method": "full", "n": 16384, "d": 64, "dv": 64, "causal": True, "params": {}, "flops_algorithmic": 34899787776,
     "pattern_pairs": 134225920},
]

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# ------------------------------------------------------------ 1. formulas


@test
def formulas_equal_flts_own_counts():
    for line in FLT_LINES:
        if line["method"] == "full":
            continue
        got, formula = collect.algorithmic_flops(line["method"], line["n"], line["d"], line["dv"],
                                                 line["causal"], line["params"])
        assert got == line["flops_algorithmic"], (line, got, formula)
    # Exact attention is 4·pairs·d by definition, not flt's count.
    full = FLT_LINES[-1]
    got, _ = collect.algorithmic_flops("full", full["n"], 64, 64, True, {})
    assert got == 4 * full["pattern_pairs"] * 64
    assert collect.algorithmic_flops("sdpa", 1024, 64, 64, False, {})[0] == 4 * 1024 * 1024 * 64
    # The torch twin of each kernel counts with the flt kernel's formula.
    for torch_kernel, flt_kernel in [("flex-window", "longformer")]:
        a = collect.algorithmic_flops(torch_kernel, 4096, 64, 64, False, {"window": 256, "global": 0})
        b = collect.algorithmic_flops(flt_kernel, 4096, 64, 64, False, {"window": 256, "global": 0})
        assert a == b


@test
def window_pairs_equal_a_brute_force_count_and_flts():
    for n in (1, 2, 7, 64, 300):
        for w in (0, 1, 5, 256, 1000):
            for causal in (False, True):
                brute = sum(1 for i in range(n) for j in range(n) if abs(i - j) <= w and (j <= i or not causal))
                assert collect.window_pairs(n, w, causal) == brute, (n, w, causal)
    for line in FLT_LINES:
        if line["method"] == "longformer":
            assert collect.window_pairs(line["n"], 256, line["causal"]) == line["pattern_pairs"]
    assert collect.exact_pairs(16384, True) == FLT_LINES[-1]["pattern_pairs"]


@test
def global_tokens_are_refused_by_the_window_formula():
    try:
        collect.algorithmic_flops("longformer", 1024, 64, 64, False, {"window": 256, "global": 1})
    except ValueError:
        return
    raise AssertionError("a longformer row with global tokens was counted as a plain window")


# ------------------------------------------- 2. collect and summarize

NS = [1024, 2048, 4096, 8192, 16384]


def flt_line(method, n, ms, causal=False, params=None):
    return {"method": method, "n": n, "d": 64, "dv": 64, "causal": causal, "params": params or {},
            "time_ms": ms, "time_ms_samples": [ms] * 10, "memory_bytes": 1000 + n, "adapter": "Test GPU",
            "flops_algorithmic": collect.algorithmic_flops(method, n, 64, 64, causal, params or {})[0]}


def torch_line(kernel, n, ms, heads=1, causal=False, params=None):
    return {"impl": "torch", "kernel": kernel, "n": n, "d": 64, "heads": heads, "batch": 1, "causal": causal,
            "params": params or {}, "ms": ms, "samples": [ms] * 10, "peak_bytes": 2000 + n,
            "device": "Test GPU", "date": "2026-01-01T00:00:00+00:00", "command": "python3 torch_reference.py"}


# Laws: flt full 1e-9·n² ms (plus a small-n outlier the fit must ignore),
# flt linear 2e-6·n ms but slower than full at n = 2048 (a blip), flt
# linformer never faster at the largest n; torch sdpa 5e-10·n², torch linear
# 1e-4·n^0.5, torch sdpa at 16 heads with no flt row.
def full_ms(n):
    return 1e-9 * n * n * (10.0 if n == 1024 else 1.0)


def linear_ms(n):
    return 1.0 if n == 2048 else 2e-6 * n


def make_raw(folder):
    def write(name, lines):
        with open(os.path.join(folder, name), "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")

    write("flt-full-h1.jsonl", [flt_line("full", n, full_ms(n)) for n in NS])
    write("flt-linear-h1.jsonl", [flt_line("linear", n, linear_ms(n)) for n in NS])
    lf = {"proj-dim": 256, "projection": 0}
    write("flt-linformer-h1.jsonl", [flt_line("linformer", n, 1.0 if n == 16384 else 1e-3, params=lf) for n in NS])
    for tag, method, params in [("flt-full-h1", "full", {}), ("flt-linear-h1", "linear", {}),
                                ("flt-linformer-h1", "linformer", lf)]:
        with open(os.path.join(folder, tag + ".expect"), "w") as f:
            json.dump({"kernel": method, "ns": NS, "refused": [65536], "heads": 1, "batch": 1, "causal": False,
                       "params": params, "rc": 0, "max_n": 16384}, f)
        with open(os.path.join(folder, tag + ".cmd"), "w") as f:
            f.write(f"flt bench --methods {method}\n")
    efficient = ["fmha_cutlassF_f32_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<float, …>)"]
    write("torch.jsonl", [{"impl": "torch", "check": "linear", "max_abs_err": 1e-8, "ok": True}]
          + [dict(torch_line("sdpa", n, 5e-10 * n * n), sdpa_backend="efficient", cuda_kernels=efficient)
             for n in NS + [65536]]
          + [dict(torch_line("sdpa-math", n, 1e-9 * n * n / 0.8), sdpa_backend="math") for n in NS]
          + [torch_line("linear", n, 1e-4 * math.sqrt(n)) for n in NS + [65536]]
          + [torch_line("sdpa", n, 1e-8 * n * n, heads=16) for n in NS]
          + [dict(torch_line("flex-window", 1024, None, params={"window": 256, "global": 0}),
                  error="FlexAttention is missing here")])
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"gpu": "Test GPU", "runner": "benchmarks/run.sh flt out", "date": "2026-01-01T00:00:00+00:00"}, f)


def synthetic():
    folder = tempfile.mkdtemp()
    make_raw(folder)
    return collect.collect(folder)


@test
def collect_makes_one_row_per_measurement_with_the_agreed_keys():
    rows, checks = synthetic()
    assert len(checks) == 1
    keys = {"impl", "kernel", "n", "d", "heads", "batch", "causal", "params", "ms", "tflops", "peak_bytes",
            "adapter", "device", "date", "command"}
    for r in rows:
        assert keys <= set(r), sorted(keys - set(r))
        assert "flops_mismatch" not in r, r
    timed = [r for r in rows if r["ms"] is not None]
    assert len(timed) == 3 * 5 + 2 * 6 + 5 + 5
    math_rows = [r for r in rows if r["kernel"] == "sdpa-math"]
    assert len(math_rows) == 5 and all(r["flops"] == 4 * r["n"] ** 2 * 64 for r in math_rows)
    assert all(r["sdpa_backend"] == "math" for r in math_rows)
    for r in timed:
        assert close(r["tflops"], r["flops"] / (r["ms"] * 1e9))
    sdpa16 = next(r for r in rows if r["kernel"] == "sdpa" and r["heads"] == 16 and r["n"] == 4096)
    assert sdpa16["flops"] == 16 * 4 * 4096 * 4096 * 64
    refused = [r for r in rows if r["impl"] == "flt" and r["n"] == 65536]
    assert len(refused) == 3 and all("over flt's limit" in r["error"] and r["ms"] is None for r in refused)
    flex = next(r for r in rows if r["kernel"] == "flex-window")
    assert flex["error"] and flex["tflops"] is None
    full = next(r for r in rows if r["impl"] == "flt" and r["kernel"] == "full" and r["n"] == 2048)
    assert full["peak_bytes"] == 1000 + 2048 and full["command"] == "flt bench --methods full"


@test
def ratios_are_torch_over_flt_at_every_common_n():
    rows, _ = synthetic()
    rat = summarize.ratios(rows)
    full = rat[("full", "sdpa", 1, 1, False)]
    assert sorted(full) == NS  # 65536: torch only
    for n in NS:
        assert close(full[n], 5e-10 * n * n / full_ms(n))
    # flt's exact kernel against both of PyTorch's: FMA-only math 1.25× slower.
    math_ratio = rat[("full", "sdpa-math", 1, 1, False)]
    assert all(close(math_ratio[n], 1.25 / (10.0 if n == 1024 else 1.0)) for n in NS)
    lin = rat[("linear", "linear", 1, 1, False)]
    assert close(lin[4096], 1e-4 * 64 / linear_ms(4096))
    assert not any(k[2] == 16 for k in rat)  # no flt row at 16 heads


@test
def exponents_are_fitted_over_n_from_4096_only():
    rows, _ = synthetic()
    exp = summarize.exponents(rows)
    slope, lo, hi, count = exp[("flt", "full", 1, 1, False)]
    assert abs(slope - 2.0) < 1e-9 and (lo, hi, count) == (4096, 16384, 3)  # the n = 1024 outlier is out
    slope, lo, hi, count = exp[("torch", "linear", 1, 1, False)]
    assert abs(slope - 0.5) < 1e-9 and (lo, hi, count) == (4096, 65536, 4)
    assert abs(exp[("flt", "linear", 1, 1, False)][0] - 1.0) < 1e-9
    assert summarize.fit([(1024, 1.0)]) is None


@test
def crossovers_need_the_method_faster_at_every_larger_n():
    rows, _ = synthetic()
    cross = summarize.crossovers(rows)
    # flt linear: faster at 1024, slower at 2048 (the blip), faster from 4096.
    assert cross[("flt", "linear", 1, 1, False)] == (4096, 16384)
    # flt linformer: slower at the largest n, so no crossover.
    assert cross[("flt", "linformer", 1, 1, False)] == (None, 16384)
    # torch linear against sdpa: 1e-4·√n < 5e-10·n² from n = 4096 on
    # (2048: 4.5e-3 > 2.1e-3; 4096: 6.4e-3 < 8.4e-3), compared up to 65536.
    assert cross[("torch", "linear", 1, 1, False)] == (4096, 65536)
    assert ("flt", "full", 1, 1, False) not in cross
    # The math backend is exact attention, not a method that crosses over.
    assert ("torch", "sdpa-math", 1, 1, False) not in cross


@test
def the_readme_shows_the_ratios_exponents_crossovers_and_the_missing_rows():
    rows, checks = synthetic()
    text = summarize.render(rows, checks)
    assert "## 1 head" in text and "## 16 heads" in text
    assert f"**{5e-10 * 4096 ** 2 / full_ms(4096):.2f}**" in text
    assert "from n = 4096" in text and "not up to n = 16384" in text
    assert "over flt's limit" in text and "FlexAttention is missing here" in text
    assert "benchmarks/run.sh flt out" in text
    assert "| flt | full | 2.00 | 4096–16384 | 3 |" in text
    # What each side computed on: the backend the rows name, the tensor
    # cores behind it, and the FMA-only row beside it.
    assert "ran its `efficient` backend (`fmha_cutlassF_f32_aligned_64x64_rf_sm80`)" in text
    assert "3xTF32" in text and "`full / sdpa-math` is the like-for-like row" in text
    assert "| full / sdpa-math | **0.12** (0.0105 / 0.00131) | **1.25** (0.00419 / 0.00524) |" in text
    without = summarize.render([r for r in rows if r["kernel"] != "sdpa-math" and not r.get("sdpa_backend")])
    assert "3xTF32" not in without and "like-for-like" not in without


@test
def a_run_split_into_calls_lists_each_runner_and_only_what_every_call_skipped():
    rows, _ = synthetic()
    one = 'NS=1024 SKIP="longformer linear" TORCH_METHODS=sdpa benchmarks/run.sh flt out1'
    two = 'NS=1024 SKIP="full longformer" TORCH_METHODS=linear benchmarks/run.sh flt out2'
    for r in rows:
        r["runner"] = one if r["kernel"] in ("full", "sdpa", "sdpa-math") else two
    text = summarize.render(rows)
    assert "The run, in 2 device calls" in text and f"    {one}" in text and f"    {two}" in text
    # longformer was skipped by both calls; linear and full each ran in one.
    assert "flt's longformer rows were left out of this run" in text
    assert "flt's linear" not in text and "flt's full" not in text
    for r in rows:
        r["runner"] = one
    assert "The run:" in summarize.render(rows) and "device calls" not in summarize.render(rows)


@test
def checks_of_a_run_split_into_calls_merge_by_name_worst_first():
    a = [{"check": "linear", "max_abs_err": 1e-8, "ok": True}, {"check": "sdpa", "max_abs_err": 4e-7, "ok": True}]
    b = [{"check": "linear", "max_abs_err": 3e-8, "ok": True}, {"check": "sdpa", "max_abs_err": 1e-7, "ok": False}]
    merged = collect.merge_checks(a + b)
    assert [(c["check"], c["max_abs_err"], c["ok"]) for c in merged] == [("linear", 3e-8, True), ("sdpa", 4e-7, False)]
    assert collect.merge_checks(a) == a


@test
def the_sdpa_backend_is_read_from_the_kernels_it_launched():
    assert tr.sdpa_backend(["fmha_cutlassF_f32_aligned_64x64_rf_sm80(…)"]) == "efficient"
    assert tr.sdpa_backend(["void pytorch_flash::flash_fwd_kernel<…>"]) == "flash"
    assert tr.sdpa_backend(["sm80_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x128x8_stage3_warpsize2x2x1_ffma",
                            "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, …>"]) == "math"
    assert "sdpa-math" in tr.METHODS
    rows = tr.rows_for(type("A", (), {"heads": "16", "n": "4096", "methods": "sdpa-math", "sgemm_sizes": ""})())
    assert [(k, n, h, c) for k, n, h, c, _ in rows] == [("sdpa-math", 4096, 16, False), ("sdpa-math", 4096, 16, True)]


# --------------------------------------------- 3. reference formulas


def libraries():
    out = []
    try:
        import numpy
        out.append(numpy)
    except ImportError:
        pass
    try:
        import torch
        out.append(torch)
    except ImportError:
        pass
    return out


def numpy_omega(np, m, d, seed=0):
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(-(-m // d)):
        qm, _ = np.linalg.qr(rng.standard_normal((d, d)))
        blocks.append(qm.T)
    chi = np.linalg.norm(rng.standard_normal((m, d)), axis=1)
    return np.concatenate(blocks)[:m] * chi[:, None]


def harness(lib, dtype):
    """(ops, as_array, to_lists, omega_rows) for numpy or torch on the CPU."""
    ops = tr.Ops(lib)
    if ops.is_torch:
        gen = lib.Generator().manual_seed(5)
        return (ops, lambda x: lib.tensor(x, dtype=getattr(lib, dtype)),
                lambda x: x.double().tolist(),
                lambda m, d: tr.orthogonal_features(lib, m, d, gen, "cpu").to(getattr(lib, dtype)))
    return (ops, lambda x: lib.array(x, dtype=dtype), lambda x: lib.asarray(x, dtype="float64").tolist(),
            lambda m, d: numpy_omega(lib, m, d).astype(dtype))


@test
def each_reference_equals_its_naive_definition():
    libs = libraries()
    if not libs:
        message = "numpy (pip install numpy) is needed to check the reference formulas"
        if os.environ.get("CI", "") not in ("", "0", "false"):
            raise AssertionError("CI=true: " + message)
        print("note: skipped, " + message)
        return
    for lib in libs:
        for dtype, tolerance in (("float64", 1e-12), ("float32", tr.CHECK_TOLERANCE)):
            ops, as_array, to_lists, omega = harness(lib, dtype)
            results = tr.self_check(ops, as_array, to_lists, omega)
            assert len(results) == 7
            for name, err, scale in results:
                assert err <= tolerance * max(1.0, scale), f"{lib.__name__} {dtype} {name}: {err} (scale {scale})"
        print(f"note: references checked with {lib.__name__}")


@test
def the_reference_check_catches_injected_bugs():
    libs = libraries()
    if not libs:
        return
    lib = libs[0]
    ops, as_array, to_lists, omega = harness(lib, "float64")
    bugs = [
        ("linformer k − 1", lambda q, k, v: tr.linformer(ops, q, k, v, 23),
         lambda q, k, v: naive.linformer(q, k, v, 24)),
        ("nystrom one iteration short", lambda q, k, v: tr.nystrom(ops, q, k, v, 16, 5),
         lambda q, k, v: naive.nystrom(q, k, v, 16, 6)),
        ("linear without the +1", lambda q, k, v: tr.kernel_attention(ops, ops.exp(q), ops.exp(k), v),
         lambda q, k, v: naive.linear_attention(q, k, v)),
        ("window one wider", lambda q, k, v: tr.window_attention_naive(ops, q, k, v, 8, False),
         lambda q, k, v: naive.window_attention(q, k, v, 7, False)),
        ("window not causal", lambda q, k, v: tr.window_attention_naive(ops, q, k, v, 7, False),
         lambda q, k, v: naive.window_attention(q, k, v, 7, True)),
    ]
    results = tr.self_check(ops, as_array, to_lists, omega, bugs)[7:]
    for name, err, scale in results:
        assert err > tr.CHECK_TOLERANCE * max(1.0, scale), f"the injected bug '{name}' went unnoticed ({err})"
    # Performer: a feature map without −‖x‖²/2 is caught too.
    w = omega(24, 16)
    rnd = random.Random(3)
    x = [[rnd.gauss(0, 1) for _ in range(16)] for _ in range(20)]
    good = naive.performer(x, x, x, to_lists(w))
    q = as_array(x)
    bad = tr.kernel_attention(ops, *[ops.exp(t @ ops.t(w)) for t in (q * 16 ** -0.25, q * 16 ** -0.25)], q)
    err = max(abs(a - b) for ra, rb in zip(to_lists(bad), good) for a, b in zip(ra, rb))
    assert err > 1e-3, err


@test
def orthogonal_features_are_orthogonal_within_blocks_with_chi_norms():
    try:
        import torch
    except ImportError:
        print("note: torch is not importable here: ω's torch draw is checked on the GPU machine only")
        return
    w = tr.orthogonal_features(torch, 20, 8, torch.Generator().manual_seed(1), "cpu").double()
    for b in range(3):
        block = w[b * 8:(b + 1) * 8]
        g = block @ block.T
        off = g - torch.diag(torch.diagonal(g))
        assert off.abs().max() < 1e-4 * g.diagonal().max()
    norms = w.norm(dim=1)
    assert 1.0 < norms.mean() < 5.0 and norms.std() > 0.05  # χ_8: mean ≈ 2.74, not all √8


def main():
    passed = failed = 0
    for fn in TESTS:
        try:
            fn()
            passed += 1
            print(f"ok      {fn.__name__}")
        except Exception:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAILED  {fn.__name__}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
