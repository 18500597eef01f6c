"""torch.mm in fp32 with TF32 off (cuBLAS SGEMM), the peer of `flt bench
--kernel sgemm`: same shapes (C = A·B, A M×K, B K×N, uniform in [-1, 1)),
CUDA events, median of 10 after a sustained warm-up of about 1 s per shape
(as flt's --warmup-ms 1000). One JSON line each; tflops is 2MNK / time.

    python3 bench/torch_sgemm_reference.py 1024x1024x1024,4096x4096x4096
"""
import json, statistics, sys, time
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
for shape in sys.argv[1].split(","):
    m, k, n = (int(x) for x in shape.split("x"))
    g = torch.Generator(device=dev).manual_seed(1)
    a = torch.rand(m, k, device=dev, generator=g) * 2 - 1
    b = torch.rand(k, n, device=dev, generator=g) * 2 - 1
    c = torch.mm(a, b)
    torch.cuda.synchronize()
    t0 = time.time()
    while time.time() - t0 < 1.0:
        torch.mm(a, b, out=c)
        torch.cuda.synchronize()
    samples = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.mm(a, b, out=c)
        e.record()
        torch.cuda.synchronize()
        samples.append(s.elapsed_time(e))
    ms = statistics.median(samples)
    # Sanity: fp32 against fp64 on a few rows.
    ref = (a[:4].double() @ b.double())
    err = (c[:4].double() - ref).abs().max().item()
    print(json.dumps({"impl": "torch-sgemm-f32", "tf32": torch.backends.cuda.matmul.allow_tf32,
                      "m": m, "k": k, "n": n, "ms": ms, "time_ms": ms, "time_ms_samples": samples,
                      "tflops": 2 * m * n * k / (ms * 1e9), "max_abs_err_4rows": err,
                      "device": torch.cuda.get_device_name(), "torch": torch.__version__}), flush=True)
