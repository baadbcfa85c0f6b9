#!/usr/bin/env python3
"""Numerics of folding a post-norm LayerNorm into its neighbouring products, on a real model.

The GPU path that would drop the LayerNorm passes (docs/BENCHMARKS.md, bert-base 64x512) never
materialises h = LN(y) = (y - mean) * r * g + b (r = 1/sqrt(var + eps)). Instead:
  - the next product reads y itself: h @ W^T + bias = r * (y @ W'^T - mean * s) + c, with
    W' = W * g (the LayerNorm weight folded into the columns), s = W' 1 and c = W b + bias;
  - the residual consumer rebuilds h in fp32 from y, mean, r, g and b in its epilogue.
The risk is cancellation in y @ W'^T - mean * s when |mean| is large beside the row's spread.
This runs all-MiniLM-L6-v2 on STS-B sentences in float64, and for every LayerNorm that feeds a
product compares both ways of computing that product in the GPU's arithmetic (fp16 operands,
fp32 accumulation and epilogue) against the float64 product:
  standard  round16(LN(y)) @ round16(W)^T + bias
  folded    r * (round16(y) @ round16(W')^T - mean * s) + c, mean and r from round16(y) in fp32
and the residual: round16(LN(y)) (what the LayerNorm pass stores) against the fp32 rebuild.

Usage: python3 scripts/study_ln_fold.py [--model DIR] [--sutra build/sutra] [--sentences N]
Needs numpy and a built `sutra` (its tokenizer gives the ids).
"""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}.get(t["dtype"])
        if dt is None:
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dt).reshape(t["shape"]).astype(np.float64)
    return out


def f16(x):
    return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


def f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def ln(y, g, b, eps):
    mu = y.mean(-1, keepdims=True)
    var = ((y - mu) ** 2).mean(-1, keepdims=True)
    return (y - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    from math import erf, sqrt
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))


def rel_l2(a, ref):
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def compare(name, y, g, b, eps, W, bias, rows):
    """One LayerNorm feeding the product (W, bias): both GPU ways against float64."""
    exact = ln(y, g, b, eps) @ W.T + bias
    std = f32(f16(ln(y, g, b, eps)) @ f16(W).T + bias)
    y16 = f16(y)
    mu = f32(y16.mean(-1, keepdims=True))
    r = f32(1.0 / np.sqrt(f32(((y16 - mu) ** 2).mean(-1, keepdims=True)) + eps))
    Wp = f16(W * g[None, :])
    s = f32(Wp.sum(1))
    c = f32(W @ b + bias)
    fold = f32(r * (f32(y16 @ Wp.T) - mu * s) + c)
    # the residual: stored LN output (fp16) vs the epilogue's fp32 rebuild from y16
    h = ln(y, g, b, eps)
    h_fold = f32((y16 - mu) * r * g + b)
    spread = np.sqrt(((y - y.mean(-1, keepdims=True)) ** 2).mean(-1))
    ratio = np.abs(y.mean(-1)) / spread
    rows.append((name, float(ratio.max()), float(np.median(ratio)), rel_l2(std, exact), rel_l2(fold, exact),
                 float(np.abs(std - exact).max()), float(np.abs(fold - exact).max()), rel_l2(f16(h), h),
                 rel_l2(h_fold, h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/sutra/models/all-MiniLM-L6-v2"))
    ap.add_argument("--sutra", default=os.path.join(ROOT, "build", "sutra"))
    ap.add_argument("--sentences", type=int, default=48)
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    w = read_safetensors(os.path.join(args.model, "model.safetensors"))
    w = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in w.items()}
    eps = cfg["layer_norm_eps"]
    H = cfg["num_attention_heads"]

    import csv
    texts = []
    with open(os.path.join(ROOT, "..", "shared", "data", "sts-test.csv")) as f:
        for row in csv.DictReader(f):
            texts += [row["sentence1"], row["sentence2"]]
    texts = texts[: args.sentences]
    out = subprocess.run([args.sutra, "tokenize", "-m", args.model] + texts, capture_output=True, text=True,
                         check=True).stdout
    seqs = [json.loads(line) for line in out.splitlines() if line.strip()]

    rows = []
    for ids in seqs:
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] +
             w["embeddings.token_type_embeddings.weight"][0])
        x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for l in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{l}."
            q = x @ w[p + "attention.self.query.weight"].T + w[p + "attention.self.query.bias"]
            k = x @ w[p + "attention.self.key.weight"].T + w[p + "attention.self.key.bias"]
            v = x @ w[p + "attention.self.value.weight"].T + w[p + "attention.self.value.bias"]
            D = q.shape[1] // H
            att = np.zeros_like(q)
            for h in range(H):
                sl = slice(h * D, (h + 1) * D)
                sc = q[:, sl] @ k[:, sl].T / np.sqrt(D)
                sc = np.exp(sc - sc.max(1, keepdims=True))
                att[:, sl] = (sc / sc.sum(1, keepdims=True)) @ v[:, sl]
            y1 = att @ w[p + "attention.output.dense.weight"].T + w[p + "attention.output.dense.bias"] + x
            g1, b1 = w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
            compare(f"L{l} LN1 -> FFN-up", y1, g1, b1, eps, w[p + "intermediate.dense.weight"],
                    w[p + "intermediate.dense.bias"], rows)
            h1 = ln(y1, g1, b1, eps)
            u = gelu(h1 @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"])
            y2 = u @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"] + h1
            g2, b2 = w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
            if l + 1 < cfg["num_hidden_layers"]:
                pn = f"encoder.layer.{l + 1}.attention.self."
                Wqkv = np.concatenate([w[pn + "query.weight"], w[pn + "key.weight"], w[pn + "value.weight"]])
                bqkv = np.concatenate([w[pn + "query.bias"], w[pn + "key.bias"], w[pn + "value.bias"]])
                compare(f"L{l} LN2 -> L{l + 1} QKV", y2, g2, b2, eps, Wqkv, bqkv, rows)
            x = ln(y2, g2, b2, eps)

    print(f"all-MiniLM-L6-v2, {len(seqs)} STS-B sentences ({sum(map(len, seqs))} tokens); per LayerNorm: the worst")
    print("sentence's figures. ratio = |row mean| / row std of y; product errors against float64 (rel L2, max abs);")
    print("residual = the LayerNorm output as the epilogue would see it (stored fp16 vs rebuilt fp32), rel L2")
    print(f"{'LayerNorm -> product':<22} {'ratio max':>9} {'ratio med':>9} | {'std relL2':>9} {'fold relL2':>10} "
          f"{'std max':>8} {'fold max':>8} | {'res std':>8} {'res fold':>8}")
    names = []
    for r in rows:
        if r[0] not in names:
            names.append(r[0])
    for nm in names:
        rs = [r for r in rows if r[0] == nm]
        print(f"{nm:<22} {max(r[1] for r in rs):9.3f} {np.median([r[2] for r in rs]):9.3f} | "
              f"{max(r[3] for r in rs):9.2e} {max(r[4] for r in rs):10.2e} {max(r[5] for r in rs):8.1e} "
              f"{max(r[6] for r in rs):8.1e} | {max(r[7] for r in rs):8.1e} {max(r[8] for r in rs):8.1e}")


if __name__ == "__main__":
    sys.exit(main())
