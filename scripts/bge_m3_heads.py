#!/usr/bin/env python3
"""Writes bge-m3's two extra heads as safetensors beside the PyTorch files it ships:
DIR/sparse_linear.pt -> DIR/sparse_linear.safetensors and DIR/colbert_linear.pt ->
DIR/colbert_linear.safetensors (tensors "weight" and "bias", fp32). Sutra reads the .pt files
itself (src/model/torch_ckpt.c), so this is optional; it prefers the .safetensors when both exist.

The .pt files are pickles: torch.load runs with weights_only=True, which unpickles tensors and
plain containers only.

Usage: python3 scripts/bge_m3_heads.py DIR
Needs: torch, safetensors.
"""
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    done = 0
    for head in ("sparse_linear", "colbert_linear"):
        src = os.path.join(d, head + ".pt")
        if not os.path.exists(src):
            continue
        sd = torch.load(src, map_location="cpu", weights_only=True)
        out = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items() if k in ("weight", "bias")}
        if set(out) != {"weight", "bias"}:
            sys.exit("%s: expected the tensors weight and bias, found %s" % (src, sorted(sd)))
        save_file(out, os.path.join(d, head + ".safetensors"), metadata={"converted_from": head + ".pt"})
        print("wrote", os.path.join(d, head + ".safetensors"), {k: tuple(v.shape) for k, v in out.items()})
        done += 1
    if not done:
        sys.exit("%s: neither sparse_linear.pt nor colbert_linear.pt" % d)


if __name__ == "__main__":
    main()
