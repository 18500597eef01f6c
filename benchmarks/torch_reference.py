"""PyTorch references for `flt bench`, the same methods with the same knobs as
flt defines them (src/attention/*.rs), timed on the same GPU:

* ``sdpa``: exact attention, torch.nn.functional.scaled_dot_product_attention
  (causal and not); FLOPs 4·pairs·d per head, pairs = n² or n(n+1)/2. In
  fp32 on a GPU of compute capability ≥ 8.0 PyTorch picks its
  memory-efficient kernel (CUTLASS, ``fmha_cutlassF_f32_…_sm80``), whose
  f32 products run on the tensor cores as 3xTF32 (``DefaultGemmType`` in
  aten/src/ATen/native/transformers/cuda/mem_eff_attention/
  gemm_kernel_utils.h: ``OpClassTensorOp``, ``OpMultiplyAddFastF32``): each
  operand split into two TF32 parts, three products, close to fp32's
  accuracy; the TF32 flags do not reach it.
* ``sdpa-math``: the same with ``sdpa_kernel(SDPBackend.MATH)``: QKᵀ and
  P·V as cuBLAS fp32 GEMMs on the FMA units (TF32 off), the softmax between
  them, the n × n scores in memory — exact attention without tensor cores,
  what flt's fp32 kernels are (out of memory at n = 65 536, 16 heads, on
  the H200's 141 GB).
* ``sgemm``: torch.mm in fp32, C = A·Wᵀ with A, W square (flt matmul's shape).
* ``linear``: Katharopoulos et al.: φ(x) = elu(x) + 1 on q and k (no 1/√d),
  Oᵢ = φ(qᵢ)ᵀ(φ(K)ᵀV) / (φ(qᵢ)ᵀΣⱼφ(kⱼ) + ε), ε = 1e-6 (attention/kernelized.rs).
* ``linformer``: O = softmax(Q(EK)ᵀ/√d)·(FV), E, F ∈ ℝ^{k×n}: mean-pool rows
  (row t averages positions ⌊t·n/k⌋ … ⌊(t+1)·n/k⌋ − 1; k capped at n) by
  default, or i.i.d. N(0, 1/n) (attention/linformer.rs); k = 256.
* ``nystrom``: L segment-mean landmarks Q̃, K̃ (segment s: rows ⌊s·n/L⌋ …
  ⌊(s+1)·n/L⌋ − 1), O = softmax(QK̃ᵀ/√d)·Z·(softmax(Q̃Kᵀ/√d)·V), Z ≈ Ã⁺ of
  Ã = softmax(Q̃K̃ᵀ/√d) by t iterations Z ← ¼Z(13I − ÃZ(15I − ÃZ(7I − ÃZ)))
  from Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖∞) (attention/nystrom.rs); L = 64, t = 6. (flt stops
  the iteration early when its residual stops falling; here all t run.)
* ``performer``: FAVOR+ positive orthogonal random features, m = 256: ω in
  blocks of d orthonormal rows, each scaled by an independent χ_d norm;
  φ(x) = exp(ωᵀx − ‖x‖²/2)/√m on x = q/d^¼, k/d^¼, query features shifted by
  their row's largest exponent and key features by the largest over all keys
  (both cancel in the ratio), then the linear form above with ε = 1e-6.
* ``flex-window``: FlexAttention with a sliding-window block mask |i − j| ≤ W
  (and j ≤ i when causal), W = 256: flt's `longformer --global 0`.
* ``sdpa-f16`` (only when asked for): ``sdpa`` with Q, K, V in fp16 and the
  FlashAttention backend forced (``sdpa_kernel(SDPBackend.FLASH_ATTENTION)``)
  — the reference for `flt bench --kernel flash-f16` (tensor cores);
  ``dtype`` and ``sdpa_backend`` say so in the row.

Every method takes Q, K, V of shape [B, H, n, d] and treats each (b, h) as an
independent head. fp32 with TF32 off; CUDA events; the median of --repeats
after a warm-up (at least two calls and --warmup-ms of wall clock);
``peak_bytes`` is torch.cuda.max_memory_allocated, reset before each row's
inputs are made. One JSON line per row on stdout; a row that cannot run
(out of memory, FlexAttention missing or failing to compile) is a line with
``error``.

    python3 benchmarks/torch_reference.py --n 1024,4096,16384 --heads 1,16 --batch 1

The method bodies are written against a small array interface (``Ops``)
that torch and numpy both implement, so `benchmarks/test_benchmarks.py` can
check each formula against a naive loop on a tiny input with numpy where
torch is missing, and the torch code itself where torch is present.
"""

import argparse
import datetime
import json
import math
import statistics
import sys
import time

EPS = 1e-6
WINDOW = 256
PROJ_DIM = 256
LANDMARKS = 64
PINV_ITERS = 6
FEATURES = 256
METHODS = ["sdpa", "sdpa-math", "sgemm", "linear", "linformer", "nystrom", "performer", "flex-window"]


class Ops:
    """The few array operations the methods use, for torch or numpy."""

    def __init__(self, lib):
        self.lib = lib
        self.is_torch = lib.__name__ == "torch"

    def t(self, x):
        """Swap the last two axes."""
        return x.transpose(-1, -2) if self.is_torch else self.lib.swapaxes(x, -1, -2)

    def exp(self, x):
        return self.lib.exp(x)

    def sum(self, x, axis, keepdims=False):
        if self.is_torch:
            return x.sum(dim=axis, keepdim=keepdims)
        return x.sum(axis=axis, keepdims=keepdims)

    def amax(self, x, axis, keepdims=True):
        if self.is_torch:
            return self.lib.amax(x, dim=axis, keepdim=keepdims)
        return x.max(axis=axis, keepdims=keepdims)

    def abs(self, x):
        return self.lib.abs(x)

    def elu1(self, x):
        """elu(x) + 1: x + 1 for x > 0, exp(x) otherwise."""
        if self.is_torch:
            return self.lib.nn.functional.elu(x) + 1.0
        return self.lib.where(x > 0, x + 1.0, self.lib.exp(self.lib.minimum(x, 0.0)))

    def softmax(self, x):
        """Row softmax over the last axis."""
        if self.is_torch:
            return self.lib.softmax(x, dim=-1)
        e = self.lib.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def eye_like(self, x):
        """The identity of x's last two axes (square)."""
        size = x.shape[-1]
        if self.is_torch:
            return self.lib.eye(size, dtype=x.dtype, device=x.device)
        return self.lib.eye(size, dtype=x.dtype)

    def segment_means(self, x, segments):
        """Means of `segments` ≤ n contiguous row segments along axis -2:
        segment s covers rows ⌊s·n/S⌋ … ⌊(s+1)·n/S⌋ − 1 (flt's balanced
        partition; every segment is non-empty when S ≤ n)."""
        n = x.shape[-2]
        if n % segments == 0:
            shape = tuple(x.shape[:-2]) + (segments, n // segments, x.shape[-1])
            return x.reshape(shape).mean(-2)
        parts = [x[..., s * n // segments:(s + 1) * n // segments, :].mean(-2) for s in range(segments)]
        return self.lib.stack(parts, -2) if self.is_torch else self.lib.stack(parts, axis=-2)


def mean_pool_projection(lib, n, k, dtype=None, device=None):
    """E (k × n) with row t averaging positions ⌊t·n/k⌋ … ⌊(t+1)·n/k⌋ − 1."""
    rows = []
    for t in range(k):
        first, end = t * n // k, (t + 1) * n // k
        width = max(end - first, 1)
        rows.append([1.0 / width if first <= j < end else 0.0 for j in range(n)])
    if lib.__name__ == "torch":
        return lib.tensor(rows, dtype=dtype, device=device)
    return lib.array(rows, dtype=dtype)


def linear_attention(ops, q, k, v):
    """Linear Transformer, non-causal: φ(Q)(φ(K)ᵀV) / (φ(Q)Σφ(K) + ε)."""
    return kernel_attention(ops, ops.elu1(q), ops.elu1(k), v)


def kernel_attention(ops, phi_q, phi_k, v):
    """Oᵢ = φ(qᵢ)ᵀS / (φ(qᵢ)ᵀz + ε), S = φ(K)ᵀV, z = Σⱼ φ(kⱼ)."""
    s = ops.t(phi_k) @ v
    z = ops.sum(phi_k, -2, keepdims=True)
    den = ops.sum(phi_q * z, -1, keepdims=True) + EPS
    return (phi_q @ s) / den


def linformer(ops, q, k, v, proj_dim=PROJ_DIM, e=None, f=None):
    """softmax(Q(EK)ᵀ/√d)·(FV): with `e` (and `f`, default F = E) given, the
    dense projections (Gaussian); else mean-pool segment means, k ≤ n."""
    d = q.shape[-1]
    if e is None:
        kk = min(proj_dim, k.shape[-2])
        ek, fv = ops.segment_means(k, kk), ops.segment_means(v, kk)
    else:
        f = e if f is None else f
        ek, fv = e @ k, f @ v
    p = ops.softmax((q @ ops.t(ek)) / math.sqrt(d))
    return p @ fv


def pinv_iterative(ops, a, iterations=PINV_ITERS):
    """Z ≈ Ã⁺: Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖∞) per matrix, then `iterations` of
    Z ← ¼·Z(13I − ÃZ(15I − ÃZ(7I − ÃZ)))."""
    col = ops.amax(ops.sum(ops.abs(a), -2, keepdims=True), -1, keepdims=True)
    row = ops.amax(ops.sum(ops.abs(a), -1, keepdims=True), -2, keepdims=True)
    z = ops.t(a) / (col * row)
    eye = ops.eye_like(a)
    for _ in range(iterations):
        az = a @ z
        t1 = 7.0 * eye - az
        t3 = 15.0 * eye - az @ t1
        t5 = 13.0 * eye - az @ t3
        z = 0.25 * (z @ t5)
    return z


def nystrom(ops, q, k, v, landmarks=LANDMARKS, iterations=PINV_ITERS):
    """softmax(QK̃ᵀ/√d)·Ã⁺·(softmax(Q̃Kᵀ/√d)·V), L ≤ n segment-mean landmarks."""
    d, n = q.shape[-1], q.shape[-2]
    landmarks = max(1, min(landmarks, n))
    scale = 1.0 / math.sqrt(d)
    q_l, k_l = ops.segment_means(q, landmarks), ops.segment_means(k, landmarks)
    kernel_f = ops.softmax((q @ ops.t(k_l)) * scale)
    kernel_a = ops.softmax((q_l @ ops.t(k_l)) * scale)
    kernel_b = ops.softmax((q_l @ ops.t(k)) * scale)
    z = pinv_iterative(ops, kernel_a, iterations)
    return kernel_f @ (z @ (kernel_b @ v))


def favor_features(ops, q, k, omega):
    """FAVOR+ φ(Q), φ(K) (m = rows of ω) with flt's shifts: query features by
    their row's largest exponent, key features by the largest over a head's
    keys."""
    d, m = q.shape[-1], omega.shape[-2]
    scale = d ** -0.25

    def exponents(x):
        x = x * scale
        return x @ ops.t(omega) - 0.5 * ops.sum(x * x, -1, keepdims=True)

    tq, tk = exponents(q), exponents(k)
    inv = 1.0 / math.sqrt(m)
    phi_q = ops.exp(tq - ops.amax(tq, -1)) * inv
    k_max = ops.amax(ops.amax(tk, -1), -2)
    phi_k = ops.exp(tk - k_max) * inv
    return phi_q, phi_k


def performer(ops, q, k, v, omega):
    """Performer FAVOR+, non-causal."""
    phi_q, phi_k = favor_features(ops, q, k, omega)
    return kernel_attention(ops, phi_q, phi_k, v)


def orthogonal_features(torch, m, d, generator, device):
    """ω (m × d): blocks of d orthonormal rows (QR of a Gaussian block), each
    row scaled by the norm of an independent d-dimensional normal vector."""
    blocks = []
    for _ in range(math.ceil(m / d)):
        g = torch.randn(d, d, generator=generator, device=device, dtype=torch.float64)
        qm, _ = torch.linalg.qr(g)
        blocks.append(qm.T)
    rows = torch.cat(blocks, 0)[:m]
    chi = torch.randn(m, d, generator=generator, device=device, dtype=torch.float64).norm(dim=1)
    return (rows * chi[:, None]).float()


_MASKS = {}


def window_mask(w, causal):
    """FlexAttention's mask_mod for |i − j| ≤ W (and j ≤ i when causal), one
    function object per (W, causal) so that compiled code is reused."""
    if (w, causal) not in _MASKS:

        def mask(b, h, q_idx, kv_idx):
            near = (q_idx - kv_idx).abs() <= w
            return near & (kv_idx <= q_idx) if causal else near

        _MASKS[(w, causal)] = mask
    return _MASKS[(w, causal)]


def window_attention_naive(ops, q, k, v, w, causal):
    """softmax over the pairs |i − j| ≤ W (j ≤ i when causal), materialised:
    the definition the flex-window row must equal."""
    n, d = q.shape[-2], q.shape[-1]
    lib = ops.lib
    if ops.is_torch:
        i = lib.arange(n, device=q.device)[:, None]
        j = lib.arange(n, device=q.device)[None, :]
    else:
        i = lib.arange(n)[:, None]
        j = lib.arange(n)[None, :]
    keep = abs(i - j) <= w
    if causal:
        keep = keep & (j <= i)
    s = (q @ ops.t(k)) / math.sqrt(d)
    s = lib.where(keep, s, -float("inf") * lib.ones_like(s))
    return ops.softmax(s) @ v


# ---------------------------------------------------------------- checks


def self_check(ops, as_array, to_lists, omega_rows, extra=()):
    """Each vectorised method against its naive definition (naive.py) on a
    tiny seeded input of 2 heads, n = 100, d = 16 (uneven segments: L = 16,
    k = 24; m = 24 features in two blocks of ω; W = 7). `as_array` turns
    nested lists [H][n][d] into the library's array, `to_lists` back;
    `omega_rows(m, d)` draws ω with the library; `extra` adds (name, fast,
    naive) triples. Returns (name, max |fast − naive|, scale) per check."""
    import random

    import naive

    rnd = random.Random(7)
    heads, n, d = 2, 100, 16

    def draw():
        return [[[rnd.gauss(0.0, 1.0) for _ in range(d)] for _ in range(n)] for _ in range(heads)]

    ql, kl, vl = draw(), draw(), draw()
    q, k, v = as_array(ql), as_array(kl), as_array(vl)
    omega = omega_rows(24, d)
    omega_l = to_lists(omega)
    cases = [
        ("linear", lambda: linear_attention(ops, q, k, v), lambda h: naive.linear_attention(ql[h], kl[h], vl[h])),
        ("linformer", lambda: linformer(ops, q, k, v, 24), lambda h: naive.linformer(ql[h], kl[h], vl[h], 24)),
        ("linformer k = n (exact)", lambda: linformer(ops, q, k, v, 500),
         lambda h: naive.full_attention(ql[h], kl[h], vl[h])),
        ("nystrom", lambda: nystrom(ops, q, k, v, 16, 6), lambda h: naive.nystrom(ql[h], kl[h], vl[h], 16, 6)),
        ("performer", lambda: performer(ops, q, k, v, omega),
         lambda h: naive.performer(ql[h], kl[h], vl[h], omega_l)),
        ("window (materialised)", lambda: window_attention_naive(ops, q, k, v, 7, False),
         lambda h: naive.window_attention(ql[h], kl[h], vl[h], 7, False)),
        ("window causal (materialised)", lambda: window_attention_naive(ops, q, k, v, 7, True),
         lambda h: naive.window_attention(ql[h], kl[h], vl[h], 7, True)),
    ]
    for name, fast, slow in extra:
        cases.append((name, lambda fast=fast: fast(q, k, v), lambda h, slow=slow: slow(ql[h], kl[h], vl[h])))
    out = []
    for name, fast, slow in cases:
        got = to_lists(fast())
        err, scale = 0.0, 0.0
        for h in range(heads):
            want = slow(h)
            for rg, rw in zip(got[h], want):
                for a, b in zip(rg, rw):
                    err = max(err, abs(a - b))
                    scale = max(scale, abs(b))
        out.append((name, err, scale))
    return out


# ---------------------------------------------------------------- timing


def sdpa_on(torch, backend, q, k, v, causal):
    """scaled_dot_product_attention forced onto one backend (an SDPBackend
    name: MATH, FLASH_ATTENTION, …)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(getattr(SDPBackend, backend)):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def cuda_kernels(torch, fn):
    """The CUDA kernels one call of `fn` launches (torch.profiler), distinct,
    in the order first seen, each name cut at 160 characters."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = []
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA and e.name[:160] not in names:
            names.append(e.name[:160])
    return names


def sdpa_backend(kernels):
    """Which SDPA backend ran, read from its kernels' names."""
    text = " ".join(kernels)
    for marker, name in (("fmha_cutlass", "efficient"), ("flash", "flash"), ("cudnn", "cudnn")):
        if marker in text:
            return name
    return "math"


def timed(torch, fn, repeats, warmup_ms):
    """Median of `repeats` CUDA-event timings after a warm-up of at least two
    calls and `warmup_ms` of wall clock."""
    started = time.perf_counter()
    calls = 0
    while calls < 2 or (time.perf_counter() - started) * 1e3 < warmup_ms:
        fn()
        torch.cuda.synchronize()
        calls += 1
    samples = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples), samples


def rows_for(args):
    """(kernel, n, heads, causal, params) of every row asked for, flex last."""
    out = []
    heads = [int(h) for h in args.heads.split(",")]
    ns = [int(x) for x in args.n.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for kernel in [m for m in methods if m != "flex-window"] + [m for m in methods if m == "flex-window"]:
        if kernel == "sgemm":
            for size in [int(s) for s in args.sgemm_sizes.split(",") if s]:
                out.append((kernel, size, 1, False, {"m": size, "k": size, "n": size}))
            continue
        for h in heads:
            for n in ns:
                causals = [False, True] if kernel in ("sdpa", "sdpa-math", "sdpa-f16", "flex-window") else [False]
                for causal in causals:
                    params = {
                        "linformer": {"proj-dim": PROJ_DIM, "projection": "mean-pool"},
                        "nystrom": {"landmarks": LANDMARKS, "pinv-iters": PINV_ITERS},
                        "performer": {"features": FEATURES},
                        "flex-window": {"window": WINDOW, "global": 0},
                    }.get(kernel, {})
                    out.append((kernel, n, h, causal, params))
    return out


def setup(torch, ops, flex, kernel, n, heads, causal, a, dev, row):
    """The row's inputs (seeded) and a closure running the method once; the
    tensors live only in the closure."""
    g = torch.Generator(device=dev).manual_seed(1)
    if kernel == "sgemm":
        x = torch.randn(n, n, device=dev, generator=g)
        w = torch.randn(n, n, device=dev, generator=g)
        return lambda: torch.mm(x, w.T)
    block_mask = None
    if kernel == "flex-window":
        # The block mask is made first (eagerly it evaluates the mask on all
        # n² pairs), and the peak counted from after it: the kernel's memory.
        t0 = time.perf_counter()
        block_mask = flex[1](window_mask(WINDOW, causal), None, None, n, n, device=dev)
        row["block_mask_s"] = round(time.perf_counter() - t0, 2)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    shape = (a.batch, heads, n, a.d)
    q, k, v = (torch.randn(shape, device=dev, generator=g) for _ in range(3))
    if kernel == "sdpa":
        return lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    if kernel == "sdpa-math":
        return lambda: sdpa_on(torch, "MATH", q, k, v, causal)
    if kernel == "sdpa-f16":
        # sdpa_backend is read from the kernels it launched (main).
        row["dtype"] = "float16"
        qh, kh, vh = q.half(), k.half(), v.half()
        del q, k, v
        return lambda: sdpa_on(torch, "FLASH_ATTENTION", qh, kh, vh, causal)
    if kernel == "linear":
        return lambda: linear_attention(ops, q, k, v)
    if kernel == "linformer":
        return lambda: linformer(ops, q, k, v, PROJ_DIM)
    if kernel == "nystrom":
        return lambda: nystrom(ops, q, k, v, LANDMARKS, PINV_ITERS)
    if kernel == "performer":
        omega = orthogonal_features(torch, FEATURES, a.d, g, dev)
        return lambda: performer(ops, q, k, v, omega)
    if kernel == "flex-window":
        compiled = flex[0]
        t0 = time.perf_counter()
        out = compiled(q, k, v, block_mask=block_mask)
        torch.cuda.synchronize()
        row["compile_s"] = round(time.perf_counter() - t0, 2)
        row["block_sparsity_pct"] = float(block_mask.sparsity())
        if n <= 4096:
            # The timed kernel's output against the materialised definition
            # on the first head.
            want = window_attention_naive(ops, q[:1, :1], k[:1, :1], v[:1, :1], WINDOW, causal)
            row["check_max_abs_err"] = float((out[:1, :1] - want).abs().max())
        del out
        return lambda: compiled(q, k, v, block_mask=block_mask)
    raise ValueError(f"unknown method {kernel}")


CHECK_TOLERANCE = 2e-5


def gpu_self_check(torch, ops, flex, dev):
    """`self_check` on the GPU, plus sdpa and flex-window (W = 7) against
    their naive definitions; one dict per check."""
    import naive

    gen = torch.Generator(device=dev).manual_seed(3)

    def as_array(lists):
        return torch.tensor(lists, dtype=torch.float32, device=dev)

    def to_lists(x):
        return x.detach().double().cpu().tolist()

    def sdpa(causal):
        return lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
            q[None], k[None], v[None], is_causal=causal)[0]

    def sdpa_math(causal):
        return lambda q, k, v: sdpa_on(torch, "MATH", q[None], k[None], v[None], causal)[0]

    extra = [
        ("sdpa", sdpa(False), lambda q, k, v: naive.full_attention(q, k, v, False)),
        ("sdpa causal", sdpa(True), lambda q, k, v: naive.full_attention(q, k, v, True)),
        ("sdpa-math", sdpa_math(False), lambda q, k, v: naive.full_attention(q, k, v, False)),
        ("sdpa-math causal", sdpa_math(True), lambda q, k, v: naive.full_attention(q, k, v, True)),
    ]
    if flex is not None:
        compiled, create_block_mask = flex

        def window(causal):
            def run(q, k, v):
                mask = create_block_mask(window_mask(7, causal), None, None, q.shape[-2], q.shape[-2], device=dev)
                return compiled(q[None], k[None], v[None], block_mask=mask)[0]
            return run

        extra += [
            ("flex-window", window(False), lambda q, k, v: naive.window_attention(q, k, v, 7, False)),
            ("flex-window causal", window(True), lambda q, k, v: naive.window_attention(q, k, v, 7, True)),
        ]
    out = []
    try:
        results = self_check(ops, as_array, to_lists,
                             lambda m, d: orthogonal_features(torch, m, d, gen, dev), extra)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        return [{"impl": "torch", "check": "self-check", "ok": False, "error": f"{type(e).__name__}: {e}"}]
    for name, err, scale in results:
        out.append({"impl": "torch", "check": name, "max_abs_err": err, "scale": scale,
                    "tolerance": CHECK_TOLERANCE * max(1.0, scale),
                    "ok": err <= CHECK_TOLERANCE * max(1.0, scale)})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", default="1024,4096,16384")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--heads", default="1", help="comma-separated head counts H")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--sgemm-sizes", default="1024,2048,4096,8192")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup-ms", type=float, default=200.0)
    p.add_argument("--self-check", action="store_true",
                   help="first check every method against its naive definition on a tiny input on the GPU (one JSON line each)")
    p.add_argument("--deadline-s", type=float, default=0.0,
                   help="rows not started this many seconds after the start are written as skipped (0: none)")
    a = p.parse_args()

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    ops = Ops(torch)
    device_name = torch.cuda.get_device_name()
    command = " ".join(["python3"] + sys.argv)
    began = time.perf_counter()

    flex = None
    flex_error = None
    try:
        import torch._dynamo

        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 256)
        # One static compile per shape (a dynamic-shape compile ran the
        # non-causal window 13× slower than the causal one on the H200).
        flex = (torch.compile(flex_attention, dynamic=False), create_block_mask)
    except Exception as e:  # noqa: BLE001 - reported in the row
        flex_error = f"FlexAttention is missing here: {type(e).__name__}: {e}"

    if a.self_check:
        for line in gpu_self_check(torch, ops, flex, dev):
            line.update(device=device_name, torch=torch.__version__, command=command)
            print(json.dumps(line), flush=True)

    for kernel, n, heads, causal, params in rows_for(a):
        row = {
            "impl": "torch", "kernel": kernel, "n": n, "d": a.d if kernel != "sgemm" else n,
            "heads": heads, "batch": a.batch if kernel != "sgemm" else 1, "causal": causal,
            "params": params, "device": device_name, "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
        }
        if a.deadline_s and time.perf_counter() - began > a.deadline_s:
            row["error"] = f"skipped: the script's deadline of {a.deadline_s:.0f} s had passed"
            print(json.dumps(row), flush=True)
            continue
        if kernel == "flex-window" and flex is None:
            row["error"] = flex_error
            print(json.dumps(row), flush=True)
            continue
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        fn = None
        try:
            fn = setup(torch, ops, flex, kernel, n, heads, causal, a, dev, row)
            ms, samples = timed(torch, fn, a.repeats, a.warmup_ms)
            row.update(ms=ms, samples=samples, peak_bytes=torch.cuda.max_memory_allocated())
            row["cuda_kernels"] = cuda_kernels(torch, fn)
            if kernel.startswith("sdpa"):
                row["sdpa_backend"] = sdpa_backend(row["cuda_kernels"])
        except torch.cuda.OutOfMemoryError:
            row["error"] = "out of memory"
        except Exception as e:  # noqa: BLE001 - reported in the row
            what = "FlexAttention failed to compile or run" if kernel == "flex-window" else "failed"
            row["error"] = f"{what}: {type(e).__name__}: {str(e)[:300]}"
        fn = None  # frees the row's tensors before the next row's peak is reset
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
