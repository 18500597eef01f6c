"""Side-by-side reference for `flt matmul`: PyTorch's int8 and fp32 matrix
products of the same shapes on the same GPU, timed with CUDA events (median
of repeats after a warm-up). Prints one JSON object per line, like
`flt matmul --json`.

    python3 bench/torch_matmul_reference.py --shapes 4096x4096x4096,32x4096x4096 [--repeats 20]

Shapes are MxKxN: C = A·Wᵀ with A M×K (activations) and W N×K (weights), as
flt computes it. Three PyTorch paths:

* `torch-int8` — torch._int_mm(A8, W8ᵀ): int8 × int8 → int32 on cuBLASLt
  (tensor cores; needs M > 16 and K, N multiples of 8);
* `torch-f32` — torch.mm in fp32 with TF32 off: cuBLAS SGEMM on CUDA cores,
  the peer of flt's f32 kernel;
* `torch-tf32` — the same with TF32 on (tensor cores), for context.

gops is 2MNK / time, as flt matmul reports it.
"""

import argparse
import json
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
    p.add_argument("--shapes", default="1024x1024x1024,4096x4096x4096")
    p.add_argument("--repeats", type=int, default=20)
    a = p.parse_args()
    dev = torch.device("cuda")
    for shape in a.shapes.split(","):
        m, k, n = (int(x) for x in shape.lower().split("x"))
        g = torch.Generator(device=dev).manual_seed(1)
        a8 = torch.randint(-127, 128, (m, k), dtype=torch.int8, device=dev, generator=g)
        w8 = torch.randint(-127, 128, (n, k), dtype=torch.int8, device=dev, generator=g)
        af = torch.randn(m, k, device=dev, generator=g)
        wf = torch.randn(n, k, device=dev, generator=g) / k**0.5
        ops = 2 * m * n * k

        def int8():
            return torch._int_mm(a8, w8.t())

        def f32():
            return torch.mm(af, wf.t())

        runs = [("torch-int8", int8, False), ("torch-f32", f32, False), ("torch-tf32", f32, True)]
        for name, fn, tf32 in runs:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            line = {"impl": name, "m": m, "k": k, "n": n}
            try:
                if name == "torch-int8":
                    # Exact, as flt's int8 kernels: the sums are integers below
                    # 2⁵³, so an fp64 product on the GPU is exact too.
                    line["exact"] = torch.equal(int8().double(), a8.double() @ w8.double().t())
                ms, samples = timed(fn, a.repeats)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                line["error"] = str(e).splitlines()[0]
                print(json.dumps(line), flush=True)
                continue
            line.update({
                "time_ms": ms, "time_ms_samples": samples, "gops": ops / (ms * 1e6),
                "timing": "cuda-events", "device": torch.cuda.get_device_name(),
                "torch": torch.__version__,
            })
            print(json.dumps(line), flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False


if __name__ == "__main__":
    main()
