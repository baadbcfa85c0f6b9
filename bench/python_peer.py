#!/usr/bin/env python3
"""The Python package on a GPU beside sentence-transformers, in one run: 100,000 texts in, a numpy
array out, one call each (sutra.Embedder.encode / SentenceTransformer.encode), wall time with the
GPU synchronised, median of --reps.

Models: random-initialised BERTs of all-MiniLM-L6-v2's shape (6 layers, 384 wide, 12 heads, FFN
1536) and bge-base-en-v1.5's (12, 768, 12, 3072), the real WordPiece tokenizer (--tokenizer, the
default model's files) and vocabulary size, mean pooling + Normalize, saved as sentence-transformers
folders (torch's init, fp32 safetensors): the work per token is the real models', whatever the
weights. Texts: the STS Benchmark test sentences (--sts), one, two or four joined, so lengths run
from about 8 to 120 tokens, 100,000 of them.

Sutra runs fp16 on the GPU (its default there), with the default token budget per batch (8192) and
with 65536; sentence-transformers runs fp32 (its default) and
fp16 (model.half()), at batch sizes 32 (its default) and 256, each reported. Also checks that the
two agree (cosine of the vectors of the first 2,000 texts, Sutra fp16 against sentence-transformers
fp32).

Usage: python3 bench/python_peer.py --tokenizer DIR --sts sts-test.csv [--n 100000] [--reps 3]
(the package from python/ on PYTHONPATH, its libsutra.so built with CUDA). Writes
$OUT/python_peer.json and prints a table.
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

SHAPES = {
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "bge-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


def make_model(dst, shape, tok_dir):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                     layer_norm_eps=1e-12, **shape)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(dst, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if os.path.exists(os.path.join(tok_dir, f)):
            shutil.copy(os.path.join(tok_dir, f), dst)
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(dst, "modules.json"), "w"))
    json.dump({"max_seq_length": 256, "do_lower_case": False}, open(os.path.join(dst, "sentence_bert_config.json"), "w"))
    os.makedirs(os.path.join(dst, "1_Pooling"))
    json.dump({"word_embedding_dimension": shape["hidden_size"], "pooling_mode_mean_tokens": True},
              open(os.path.join(dst, "1_Pooling", "config.json"), "w"))


def texts_from(sts_path, n):
    sents = []
    with open(sts_path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            sents += [row["sentence1"], row["sentence2"]]
    out = []
    for i in range(n):
        k = 4 if i % 10 == 9 else 2 if i % 3 == 2 else 1
        out.append(" ".join(sents[(i * 7 + j * 131) % len(sents)] for j in range(k)))
    return out


def timed(fn, reps):
    times = []
    result = None
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        result = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--sts", required=True)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shapes", default="minilm-l6,bge-base")
    args = ap.parse_args()
    import sutra
    from sentence_transformers import SentenceTransformer

    texts = texts_from(args.sts, args.n)
    tmp = tempfile.mkdtemp()
    rows = []
    gpu = torch.cuda.get_device_name(0)
    try:
        for name in args.shapes.split(","):
            d = os.path.join(tmp, name)
            make_model(d, SHAPES[name], args.tokenizer)
            s_vecs = None
            for budget in (None, 65536):
                emb = sutra.Embedder(d, device="cuda", max_batch_tokens=budget)
                info = emb.info()
                emb.encode(texts[:2000])  # warm: graphs, arena
                s_time, vecs = timed(lambda: emb.encode(texts), args.reps)
                s_vecs = vecs if s_vecs is None else s_vecs
                rows.append(dict(model=name, engine="sutra", dtype=info["compute_dtype"],
                                 batch=f"{budget or 8192} tok", seconds=s_time, texts_per_s=args.n / s_time))
                print("row", json.dumps(rows[-1]), flush=True)
                emb.close()
            ref = SentenceTransformer(d, device="cuda")
            check = ref.encode(texts[:2000], batch_size=256, convert_to_numpy=True)
            cos = np.sum(check * s_vecs[:2000], axis=1) / (np.linalg.norm(check, axis=1) * np.linalg.norm(s_vecs[:2000], axis=1))
            for dtype in ("fp32", "fp16"):
                if dtype == "fp16":
                    ref = ref.half()
                for bs in (32, 256):
                    ref.encode(texts[:2000], batch_size=bs)
                    t, _ = timed(lambda: ref.encode(texts, batch_size=bs, convert_to_numpy=True), args.reps)
                    rows.append(dict(model=name, engine="sentence-transformers", dtype=dtype, batch=str(bs), seconds=t,
                                     texts_per_s=args.n / t))
                    print("row", json.dumps(rows[-1]), flush=True)
            del ref
            torch.cuda.empty_cache()
            rows.append(dict(model=name, engine="check", min_cosine=float(cos.min()), mean_cosine=float(cos.mean())))
            print("row", json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = dict(gpu=gpu, date=time.strftime("%Y-%m-%d"), n=args.n, reps=args.reps, torch=torch.__version__,
                  rows=rows)
    out = os.environ.get("OUT")
    if out:
        json.dump(result, open(os.path.join(out, "python_peer.json"), "w"), indent=1)
    print(f"{gpu}: {args.n} texts in, numpy out, one call; median of {args.reps}")
    print(f"{'model':<10} {'engine':<22} {'dtype':<6} {'batch':<12} {'s':>7} {'texts/s':>9} {'/ sutra best':>12}")
    for name in args.shapes.split(","):
        mine = min((r for r in rows if r["model"] == name and r["engine"] == "sutra"), key=lambda r: r["seconds"])
        for r in rows:
            if r["model"] != name:
                continue
            if r["engine"] == "check":
                print(f"{name:<10} cosine sutra fp16 vs sentence-transformers fp32: min {r['min_cosine']:.6f} "
                      f"mean {r['mean_cosine']:.6f}")
                continue
            ratio = r["seconds"] / mine["seconds"]
            print(f"{name:<10} {r['engine']:<22} {r['dtype'][:6]:<6} {r['batch'][:12]:<12} {r['seconds']:>7.2f} "
                  f"{r['texts_per_s']:>9.0f} {ratio:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
