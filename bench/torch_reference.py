"""Side-by-side reference for `flt bench`: the same exact attention in PyTorch
on the same GPU, fp32, timed with CUDA events (median of repeats after a
warm-up). Prints one JSON object per line, like `flt bench --json`.

    python3 bench/torch_reference.py --n 1024,4096,16384 --d 64 [--causal] [--repeats 10]

Two PyTorch paths are timed: `sdpa` (torch.nn.functional.scaled_dot_product_attention,
which picks its fastest fp32 kernel) and `naive` (softmax(QKᵀ/√d)·V, which
materialises the n×n matrix like flt's materialising path).
"""

import argparse
import json
import math
import statistics

import torch


def timed(fn, repeats):
    fn()  # warm-up
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples), samples


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", default="1024,4096,16384")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    for n in [int(x) for x in a.n.split(",")]:
        g = torch.Generator(device=dev).manual_seed(1)
        q, k, v = (torch.randn(n, a.d, device=dev, generator=g) for _ in range(3))
        pairs = n * (n + 1) // 2 if a.causal else n * n
        flops = pairs * (2 * a.d + 2 * a.d + 4) + n * a.d  # flt's formula

        def sdpa():
            return torch.nn.functional.scaled_dot_product_attention(
                q[None, None], k[None, None], v[None, None], is_causal=a.causal)

        mask = torch.ones(n, n, device=dev, dtype=torch.bool).triu(1) if a.causal else None

        def naive():
            s = (q @ k.T) / math.sqrt(a.d)
            if mask is not None:
                s = s.masked_fill(mask, float("-inf"))
            return torch.softmax(s, dim=-1) @ v

        for name, fn in [("sdpa", sdpa), ("naive", naive)]:
            try:
                ms, samples = timed(fn, a.repeats)
            except torch.cuda.OutOfMemoryError:
                print(json.dumps({"impl": f"torch-{name}", "n": n, "d": a.d, "error": "out of memory"}))
                continue
            print(json.dumps({
                "impl": f"torch-{name}", "n": n, "d": a.d, "causal": a.causal, "time_ms": ms,
                "time_ms_samples": samples, "gflops": flops / (ms * 1e6),
                "device": torch.cuda.get_device_name(), "torch": torch.__version__,
            }), flush=True)


if __name__ == "__main__":
    main()
