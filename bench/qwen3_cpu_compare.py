#!/usr/bin/env python3
"""Sutra vs HF transformers on the CPU for the Qwen3-Embedding-0.6B shape, side by side in one run.

The model: Qwen3-Embedding-0.6B's configuration (28 layers, hidden 1024, 16 query / 8 key-value
heads of 128, FFN 3072, vocabulary 151669) with seeded random weights (scripts/gen_qwen3_fixtures.py's
generator, fp32, written once to bench/out/qwen3-0.6b-random) and Qwen's real tokenizer
(tests/fixtures/qwen3/tokenizer). Speed does not depend on the weights' values.

Sutra: build/bench/embed_bench (the public API, text to normalised vector, tokenisation included).
HF: transformers' Qwen3Model in fp32 (sdpa attention), torch.set_num_threads(THREADS), HF tokenizers
for the same ids, last-token pooling and L2 normalisation in torch; batches padded on the left to
their longest input with an attention mask, as Qwen3-Embedding's own instructions do. Inputs: the
first COUNT sentences of the STS-B test split (sentence1/sentence2 interleaved), in calls of 1 and
of 32, and one input of LONG tokens. Each side: a warm-up pass, then REPEATS timed passes, medians.
The two sides alternate REPEATS times in one process tree, so both see the same machine state.

  python3 bench/qwen3_cpu_compare.py [--threads 2] [--count 128] [--repeats 3] [--long 512] [--json OUT]
Needs: torch, transformers, tokenizers, numpy, safetensors (pip) and a Release build/bench/embed_bench.
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "bench", "out", "qwen3-0.6b-random")
SHARED = os.environ.get("SUTRA_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))


def make_model():
    if os.path.exists(os.path.join(MODEL, "model.safetensors")):
        return
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import gen_qwen3_fixtures as g
    os.makedirs(MODEL, exist_ok=True)
    cfg = g.qwen3_config(151669, 1024, 28, 16, 8, 128, 3072)
    g.write_json(os.path.join(MODEL, "config.json"), cfg)
    g.write_st_files(MODEL, 1024, 8192)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "qwen3", "tokenizer", fn), MODEL)
    g.write_weights(MODEL, g.recipe(cfg, ""), g.SEED, 1)


def sentences(count):
    out = []
    with open(os.path.join(SHARED, "data", "sts-test.csv"), encoding="utf-8") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    a, b = head.index("sentence1"), head.index("sentence2")
    for r in rows[1:]:
        out += [r[a], r[b]]
    return out[:count]


def sutra_round(args):
    js = os.path.join(ROOT, "bench", "out", "qwen3-sutra-round.json")
    cmd = [os.path.join(ROOT, "build", "bench", "embed_bench"), "--model", MODEL, "--threads", str(args.threads),
           "--count", str(args.count), "--repeats", "1", "--batch", "1", "--batch", "32", "--long-tokens",
           str(args.long), "--json", js]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, SUTRA_SHARED_DIR=SHARED))
    with open(js) as f:
        d = json.load(f)
    out = {"tokens": d["tokens"]}
    for r in d["rows"]:
        if "batch" in r:
            out["batch%d" % r["batch"]] = r["sentences_per_s"]
        else:
            out["long_ms"] = r["ms"]
            out["long_tokens"] = r["long_tokens"]
    return out


class HF:
    def __init__(self, args):
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel
        torch.set_num_threads(args.threads)
        self.torch = torch
        self.tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        self.model = AutoModel.from_pretrained(MODEL, attn_implementation="sdpa", dtype=torch.float32).eval()
        self.pad = self.tok.token_to_id("<|endoftext|>")

    def embed(self, texts):
        torch = self.torch
        encs = [self.tok.encode(t).ids for t in texts]
        n = max(len(e) for e in encs)
        ids = torch.full((len(encs), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(encs), n), dtype=torch.long)
        for i, e in enumerate(encs):
            ids[i, n - len(e):] = torch.tensor(e)
            mask[i, n - len(e):] = 1
        with torch.inference_mode():
            h = self.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, -1]
        return torch.nn.functional.normalize(h, dim=-1)

    def round(self, texts, long_text):
        out = {}
        for B in (1, 32):
            t0 = time.perf_counter()
            for i in range(0, len(texts), B):
                self.embed(texts[i:i + B])
            out["batch%d" % B] = len(texts) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.embed([long_text])
        out["long_ms"] = (time.perf_counter() - t0) * 1e3
        out["long_tokens"] = len(self.tok.encode(long_text).ids)
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--long", type=int, default=512)
    ap.add_argument("--json")
    args = ap.parse_args()
    make_model()
    texts = sentences(args.count)
    long_text = "a " * args.long
    hf = HF(args)
    hf.round(texts[:8], "a " * 16)  # warm-up
    tokens = sum(len(hf.tok.encode(t).ids) for t in texts)
    rounds = {"sutra": [], "hf": []}
    for r in range(args.repeats):
        rounds["sutra"].append(sutra_round(args))
        rounds["hf"].append(hf.round(texts, long_text))
        print("round %d: sutra %s | hf %s" % (r, rounds["sutra"][-1], rounds["hf"][-1]), flush=True)
    med = {side: {k: statistics.median(x[k] for x in v) for k in ("batch1", "batch32", "long_ms")}
           for side, v in rounds.items()}
    import torch
    import transformers
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print("Qwen3-Embedding-0.6B shape (28 layers, fp32), %d threads, %s; %d STS-B sentences (%d tokens); "
          "medians of %d alternating rounds; torch %s, transformers %s" % (args.threads, cpu, len(texts), tokens,
                                                                          args.repeats, torch.__version__,
                                                                          transformers.__version__))
    print("%-26s %14s %14s %10s" % ("", "Sutra", "HF (sdpa)", "Sutra/HF"))
    for k, what in (("batch1", "batch 1, sentences/s"), ("batch32", "batch 32, sentences/s")):
        s, h = med["sutra"][k], med["hf"][k]
        print("%-26s %14.2f %14.2f %9.2fx" % (what, s, h, s / h))
        print("%-26s %14.1f %14.1f" % (what.replace("sentences", "tokens"), s * tokens / len(texts),
                                        h * tokens / len(texts)))
    s, h = med["sutra"]["long_ms"], med["hf"]["long_ms"]
    print("%-26s %14.1f %14.1f %9.2fx" % ("one %d-token input, ms" % rounds["hf"][0]["long_tokens"], s, h, h / s))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "cpu": cpu, "sentences": len(texts), "tokens": tokens,
                       "rounds": rounds, "medians": med}, f, indent=1)


if __name__ == "__main__":
    main()
