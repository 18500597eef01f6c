# Which kernels torch's fp32 SDPA runs on this GPU (torch.profiler), and each backend's time
# (CUDA events, median of 10) and error against float64 on two heads. Run on the H200 on
# 2026-11-30: python3 bench/experiments/sdpa_backends.py > bench/experiments/h200-2026-11-30-sdpa-backends.jsonl
import json, torch
from torch.nn.attention import SDPBackend, sdpa_kernel
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
def timed(fn, reps=10):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b))
    ts.sort(); return ts[len(ts)//2]
for n in (4096, 16384):
    g = torch.Generator(device=dev).manual_seed(1)
    q, k, v = (torch.randn(1, 16, n, 64, device=dev, generator=g) for _ in range(3))
    ref = None
    if n == 4096:
        ref = torch.nn.functional.scaled_dot_product_attention(q[:, :2].double(), k[:, :2].double(), v[:, :2].double())
    for causal in (False, True):
        for name, be in (("default", None), ("efficient", SDPBackend.EFFICIENT_ATTENTION), ("math", SDPBackend.MATH), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            row = {"n": n, "causal": causal, "backend": name}
            try:
                def run():
                    if be is None:
                        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    with sdpa_kernel(be):
                        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                out = run()
                if ref is not None and not causal:
                    row["max_abs_err_vs_f64"] = float((out[:, :2].double() - ref).abs().max())
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                    run(); torch.cuda.synchronize()
                row["kernels"] = sorted({e.name[:110] for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA})
                row["ms"] = timed(run)
                row["tflops"] = 4 * n * n * 64 * 16 * (0.5 if causal else 1) / row["ms"] / 1e9
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
            print(json.dumps(row), flush=True)
# the same math with TF32 allowed: does the efficient kernel change? (it should not if it is already 3xTF32)
torch.backends.cuda.matmul.allow_tf32 = True
q, k, v = (torch.randn(1, 16, 4096, 64, device=dev) for _ in range(3))
for name, be in (("efficient+tf32flag", SDPBackend.EFFICIENT_ATTENTION), ("math+tf32", SDPBackend.MATH)):
    def run():
        with sdpa_kernel(be):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
    print(json.dumps({"n": 4096, "backend": name, "ms": timed(run)}), flush=True)
print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cap": torch.cuda.get_device_capability()}))
