"""Side-by-side reference for the quantization lab's GPU figures: the same
operations in PyTorch on the same GPU, timed with CUDA events (median of
repeats after a warm-up). Prints one JSON object per line with
`"impl": "torch"`, like `flt quantize --json`. (The int8 product's
reference is bench/torch_matmul_reference.py.)

    python3 bench/torch_quantization.py --rows 4096 --cols 4096 [--repeats 10]

Timed:
  * `fake-quantize int8 per-channel`: the scales (amax over each row / 127)
    and torch.fake_quantize_per_channel_affine (quantize and dequantize in
    one kernel), the same work as flt's int8 symmetric per-channel min-max;
  * `copy`: y.copy_(x) of the same matrix, the card's copy bandwidth as
    PyTorch sees it.
GB/s counts reading x and writing x̂ (8 bytes per element), as flt's
`throughput_gbps` does.
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


def quantize_rows(rows, cols, repeats, dev):
    g = torch.Generator(device=dev).manual_seed(1)
    w = torch.randn(rows, cols, device=dev, generator=g) * 0.02
    out = torch.empty_like(w)
    zero = torch.zeros(rows, dtype=torch.int32, device=dev)
    moved = 8 * rows * cols

    def fake_quant():
        scale = w.abs().amax(dim=1).clamp_min(1.1754944e-38) / 127.0
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127)

    def copy():
        out.copy_(w)

    for name, fn in [("fake-quantize int8 per-channel", fake_quant), ("copy", copy)]:
        ms, samples = timed(fn, repeats)
        yield {
            "impl": "torch",
            "family": "quantization",
            "op": name,
            "rows": rows,
            "cols": cols,
            "time_ms": ms,
            "time_ms_samples": samples,
            "gbps": moved / (ms * 1e6),
            "device": torch.cuda.get_device_name(dev),
            "torch": torch.__version__,
        }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="4096")
    p.add_argument("--cols", default="4096")
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    for rows in [int(x) for x in a.rows.split(",")]:
        for cols in [int(x) for x in a.cols.split(",")]:
            for row in quantize_rows(rows, cols, a.repeats, dev):
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
