#!/usr/bin/env python3
"""torch_attn_peer.py - the peer for bench/cuda/attn_bench.cu: PyTorch SDPA's FlashAttention-2
("flash") and cuDNN backends on the same shapes, in the same run, on the same GPU.

Shapes: B * N = 32768 tokens; 64 heads at d=32, 32 at d=64, 16 at d=128; N = 512 .. 16384;
non-causal, fp16 (or --dtype bf16), forward only. TFLOP/s = 4 * B * H * N^2 * d / time.
Timing: CUDA events around each call, warm-up first, median of --reps (default 30) calls.
Layouts: "bhnd" = contiguous (B, H, N, d) tensors, as the anchors in shared/anchors were
measured; "packed" = q, k, v as strided views of one (B, N, 3, H, d) buffer, the layout Sutra's
kernel reads (fused QKV), timed for the flash backend only.
Writes JSON (--json) and prints one line per shape. Inputs are random normal, never zeros.

--decoder instead times the decoder embedders' shape (attn_bench --decoder): D = 128, 16 query
heads over 8 key/value heads (enable_gqa: the kernel reads the shared heads, nothing is
repeated), B * N = 32768, non-causal and causal (is_causal; TFLOP/s counted as 2 * B * H * N^2 * d
for causal, the half of the square it computes).
"""
import argparse
import json
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def time_backend(backend, q, k, v, reps, **kw):
    try:
        with sdpa_kernel([backend]):
            return median_ms(lambda: F.scaled_dot_product_attention(q, k, v, **kw), reps)
    except Exception as ex:  # a backend that refuses a shape is reported, not fatal
        return "err:" + type(ex).__name__


def decoder(args, dtype, env):
    tok, d, heads, kv = 32768, 128, 16, 8
    rows = []
    print(f"decoder: d {d}, {heads} query heads over {kv} key/value heads, B * N = {tok}")
    print(f"{'N':>6} {'B':>4} {'mask':>7} {'flash':>8} {'cudnn':>8}  (TFLOP/s)")
    for n in (512, 1024, 2048, 4096, 8192, 16384):
        b = tok // n
        gen = torch.Generator(device="cuda").manual_seed(2000 + n)
        q = torch.randn(b, heads, n, d, device="cuda", dtype=dtype, generator=gen)
        k, v = (torch.randn(b, kv, n, d, device="cuda", dtype=dtype, generator=gen) for _ in range(2))
        for causal in (False, True):
            flops = (2.0 if causal else 4.0) * b * heads * n * n * d
            row = {"d": d, "H": heads, "Hkv": kv, "N": n, "B": b, "causal": causal}
            for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
                ms = time_backend(backend, q, k, v, args.reps, is_causal=causal, enable_gqa=True)
                row[name + "_ms"] = ms
                row[name] = round(flops / ms / 1e9, 1) if isinstance(ms, float) else ms
            rows.append(row)
            print(f"{n:>6} {b:>4} {'causal' if causal else 'full':>7} {row['flash']!s:>8} {row['cudnn']!s:>8}",
                  flush=True)
        del q, k, v
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "section": "decoder", "rows": rows}, f, indent=1)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--dtype", choices=("fp16", "bf16"), default="fp16")
    ap.add_argument("--decoder", action="store_true", help="the decoder shape: GQA 16/8 at d 128, causal and not")
    args = ap.parse_args()
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,clocks.sm,clocks.max.sm", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    env = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
           "cudnn": torch.backends.cudnn.version(), "nvidia_smi": smi, "dtype": args.dtype, "reps": args.reps}
    print("torch", env["torch"], env["gpu"], "cudnn", env["cudnn"], "|", smi, flush=True)
    if args.decoder:
        return decoder(args, dtype, env)

    tok = 32768
    rows = []
    print(f"{'d':>4} {'H':>4} {'N':>6} {'B':>4} {'flash':>8} {'cudnn':>8} {'flash-packed':>13}  (TFLOP/s)")
    for d, heads in ((32, 64), (64, 32), (128, 16)):
        for n in (512, 1024, 2048, 4096, 8192, 16384):
            b = tok // n
            flops = 4.0 * b * heads * n * n * d
            gen = torch.Generator(device="cuda").manual_seed(1000 + d + n)
            q, k, v = (torch.randn(b, heads, n, d, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
            row = {"d": d, "H": heads, "N": n, "B": b}
            for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
                ms = time_backend(backend, q, k, v, args.reps)
                row[name + "_ms"] = ms
                row[name] = round(flops / ms / 1e9, 1) if isinstance(ms, float) else ms
            del q, k, v
            qkv = torch.randn(b, n, 3, heads, d, device="cuda", dtype=dtype, generator=gen)
            qp, kp, vp = (qkv[:, :, i].transpose(1, 2) for i in range(3))
            ms = time_backend(SDPBackend.FLASH_ATTENTION, qp, kp, vp, args.reps)
            row["flash_packed_ms"] = ms
            row["flash_packed"] = round(flops / ms / 1e9, 1) if isinstance(ms, float) else ms
            del qkv, qp, kp, vp
            torch.cuda.empty_cache()
            rows.append(row)
            print(f"{d:>4} {heads:>4} {n:>6} {b:>4} {row['flash']!s:>8} {row['cudnn']!s:>8} {row['flash_packed']!s:>13}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
