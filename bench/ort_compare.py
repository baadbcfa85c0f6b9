#!/usr/bin/env python3
"""Sutra vs ONNX Runtime on the CPU, side by side in one run, same model weights, same threads.

The ONNX graph: the default model's HF BertModel exported with torch.onnx (opset 17, dynamic
batch and length), then ONNX Runtime's transformer optimizer (model_type bert) fuses it into
EmbedLayerNormalization, Attention, BiasGelu and SkipLayerNormalization ops; the session runs
with graph optimisations on, intra_op_num_threads = inter = as given. Mean pooling and L2
normalisation follow in numpy (outside the timed region for neither: both sides are timed from
text to normalised vector, tokenisation included, with HF tokenizers for ORT).

Inputs: the first COUNT sentences of the STS-B test split (sentence1/sentence2 interleaved, as
build/embed_bench takes them). Batch 1: one call per sentence. Batch 32: calls of 32 sentences,
padded to the longest in the call for ORT (the usual way to feed it); Sutra packs without
padding. Plus one 512-token input (MiniLM's position table holds 512).

  python3 bench/ort_compare.py [--threads 2] [--count 512] [--repeats 5] [--json OUT]
Needs: onnxruntime, onnx, torch, transformers, tokenizers (pip) and a built build/embed_bench.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
MODEL = os.path.join(MODELS, "all-MiniLM-L6-v2")
OUT = os.path.join(ROOT, "bench", "out")


def build_onnx():
    opt = os.path.join(OUT, "minilm_opt.onnx")
    if os.path.exists(opt):
        return opt
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel
    os.makedirs(OUT, exist_ok=True)
    m = AutoModel.from_pretrained(MODEL, attn_implementation="eager").eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    x = torch.ones(2, 16, dtype=torch.long)
    raw = os.path.join(OUT, "minilm.onnx")
    axes = {"b": 0, "s": 1}
    dyn = {k: {0: "b", 1: "s"} for k in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
    torch.onnx.export(Wrap(m), (x, x, torch.zeros_like(x)), raw, opset_version=17, dynamo=False,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], dynamic_axes=dyn)
    o = optimizer.optimize_model(raw, model_type="bert", num_heads=12, hidden_size=384, opt_level=1)
    stats = o.get_fused_operator_statistics()
    print("ORT fusions:", {k: v for k, v in stats.items() if v})
    o.save_model_to_file(opt)
    os.remove(raw)
    return opt


def sts_sentences(count):
    shared = os.environ.get("SUTRA_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
    with open(os.path.join(shared, "data", "sts-test.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    s = []
    for r in rows:
        s += [r["sentence1"], r["sentence2"]]
    return s[:count]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sutra-threads", type=int, help="Sutra's threads when not --threads (0: its default)")
    ap.add_argument("--ort-threads", type=int, help="ONNX Runtime's intra-op threads when not --threads (0: its default)")
    ap.add_argument("--json")
    a = ap.parse_args()
    st = a.threads if a.sutra_threads is None else a.sutra_threads
    ot = a.threads if a.ort_threads is None else a.ort_threads

    import onnxruntime as ort
    from tokenizers import Tokenizer
    path = build_onnx()
    so = ort.SessionOptions()
    so.intra_op_num_threads = ot
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)

    def ort_embed(texts, max_len=256):
        tok.enable_truncation(max_len)
        encs = tok.encode_batch(texts)
        L = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), L), np.int64)
        mask = np.zeros((len(encs), L), np.int64)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    texts = sts_sentences(a.count)
    ntok = sum(len(e.ids) for e in tok.encode_batch(texts))
    rows = {}
    for B in (1, 32):
        ort_embed(texts[:B])
        rates = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for i in range(0, len(texts), B):
                ort_embed(texts[i:i + B])
            rates.append(len(texts) / (time.perf_counter() - t0))
        rows[B] = statistics.median(rates)
    long_text = " ".join(["a"] * 510)
    ort_embed([long_text], 512)
    lt = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        ort_embed([long_text], 512)
        lt.append(time.perf_counter() - t0)
    ort_long = statistics.median(lt) * 1e3

    # Sutra, same sentences, same threads, in the same run.
    sj = os.path.join(OUT, "sutra_bench.json")
    os.makedirs(OUT, exist_ok=True)
    exe = os.path.join(ROOT, "build", "bench", "embed_bench")
    subprocess.run([exe, "--threads", str(st), "--count", str(a.count), "--repeats", str(a.repeats),
                    "--batch", "1", "--batch", "32", "--long-tokens", "512", "--json", sj], check=True,
                   stdout=subprocess.DEVNULL)
    with open(sj) as f:
        s = json.load(f)
    srow = {r["batch"]: r["sentences_per_s"] for r in s["rows"] if "batch" in r}
    slong = [r["ms"] for r in s["rows"] if "long_tokens" in r][0]

    print(f"\nall-MiniLM-L6-v2, threads ORT {ot or 'default'} / Sutra {st or 'default'}, {len(texts)} STS-B sentences ({ntok} tokens), "
          f"median of {a.repeats}; ORT {ort.__version__}")
    print(f"{'case':<26}{'ONNX Runtime':>16}{'Sutra':>16}{'Sutra / ORT':>14}")
    res = {"threads": a.threads, "ort_threads": ot, "sutra_threads": st, "sutra_threads_chosen": s["threads"], "sentences": len(texts), "tokens": ntok, "onnxruntime": ort.__version__}
    for B in (1, 32):
        r = srow[B] / rows[B]
        print(f"{'batch ' + str(B) + ' (sentences/s)':<26}{rows[B]:>16.1f}{srow[B]:>16.1f}{r:>13.2f}x")
        res[f"batch{B}"] = {"ort_sentences_per_s": rows[B], "sutra_sentences_per_s": srow[B], "ratio": r}
    r = ort_long / slong
    print(f"{'one 512-token input (ms)':<26}{ort_long:>16.2f}{slong:>16.2f}{r:>13.2f}x")
    res["long512"] = {"ort_ms": ort_long, "sutra_ms": slong, "speedup": r}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
