#!/usr/bin/env python3
"""torch_encoder_peer.py - the PyTorch peer of bench/cuda/encoder_bench: the same encoder shapes
and batches through HF transformers, random-initialised, fp16 (qwen3, gemma: bf16, as Sutra runs it),
attn_implementation="sdpa", run eagerly and under torch.compile(mode="reduce-overhead") (CUDA
graphs) in the same process. qwen3-0.6b is Qwen3Model (the embedder: no LM head; Sutra pools the
last token, which costs both sides next to nothing).

Rows mirror encoder_bench's: batch-1 latency, B x N throughput, and the mixed batch (the same
lengths: splitmix64 from seed 42, log-uniform in 16..2048, <= 32768 tokens in all). HF pads a
batch to its longest sequence, so the mixed batch runs padded with an attention mask; tokens/s
counts real tokens only, as for Sutra. Timing: CUDA events, warm-up, median of >= 20 runs.
Peak activations: torch.cuda.max_memory_allocated() above the weights.

torch.compile compiles once per input shape (5-40 s each); only the rows in COMPILE_ROWS are
compiled, and none once --compile-budget seconds (default 240) have gone to compiling; skipped
rows say so in the JSON ("compile_skipped").

Usage: torch_encoder_peer.py [--json FILE] [--models minilm,bert-base,xlmr-large,qwen3-0.6b,nomic-v1.5,gemma-300m] [--no-compile]
                             [--compile-budget S] [--reps N]
"""
import argparse
import json
import math
import os
import sys
import time

import torch

SHAPES = {
    "minilm": dict(cls="bert", hidden=384, layers=6, heads=12, ffn=1536, vocab=30522, positions=512),
    "bert-base": dict(cls="bert", hidden=768, layers=12, heads=12, ffn=3072, vocab=30522, positions=8192),
    "xlmr-large": dict(cls="xlmr", hidden=1024, layers=24, heads=16, ffn=4096, vocab=250002, positions=8194),
    "qwen3-0.6b": dict(cls="qwen3", hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, ffn=3072,
                       vocab=151669, positions=32768),
    "nomic-v1.5": dict(cls="nomic", hidden=768, layers=12, heads=12, ffn=3072, vocab=30528, positions=8192),
    "gemma-300m": dict(cls="gemma", hidden=768, layers=24, heads=3, kv_heads=1, head_dim=256, ffn=1152,
                       vocab=262144, positions=2048),
}
# (model, B, N); N = 0 is the mixed batch. Same list as encoder_bench.c's CASES (less the
# tanh-GELU rows).
CASES = [
    ("minilm", 1, 128), ("minilm", 1, 512), ("minilm", 1024, 32), ("minilm", 128, 256),
    ("bert-base", 1, 128), ("bert-base", 1, 512), ("bert-base", 1, 1024), ("bert-base", 1, 2048),
    ("bert-base", 1, 4096), ("bert-base", 1, 8192), ("bert-base", 64, 512), ("bert-base", 16, 2048),
    ("bert-base", 4, 8192), ("bert-base", 1, 0),
    ("xlmr-large", 1, 512), ("xlmr-large", 1, 2048), ("xlmr-large", 1, 8192), ("xlmr-large", 64, 512),
    ("xlmr-large", 4, 8192), ("xlmr-large", 1, 0),
    ("qwen3-0.6b", 1, 512), ("qwen3-0.6b", 64, 512), ("qwen3-0.6b", 16, 2048), ("qwen3-0.6b", 1, 8192),
    ("qwen3-0.6b", 1, 0),
    ("nomic-v1.5", 1, 512), ("nomic-v1.5", 64, 512), ("nomic-v1.5", 1, 2048), ("nomic-v1.5", 1, 8192),
    ("nomic-v1.5", 1, 0),
    ("gemma-300m", 1, 512), ("gemma-300m", 64, 512), ("gemma-300m", 1, 2048), ("gemma-300m", 16, 2048),
    ("gemma-300m", 1, 0),
]
COMPILE_ROWS = {("minilm", 1, 128), ("minilm", 1024, 32), ("bert-base", 1, 512), ("bert-base", 1, 4096),
                ("bert-base", 64, 512), ("bert-base", 1, 0), ("xlmr-large", 1, 512), ("xlmr-large", 64, 512),
                ("qwen3-0.6b", 1, 512), ("qwen3-0.6b", 64, 512), ("qwen3-0.6b", 16, 2048), ("qwen3-0.6b", 1, 8192),
                ("qwen3-0.6b", 1, 0), ("nomic-v1.5", 1, 512), ("nomic-v1.5", 64, 512), ("nomic-v1.5", 1, 2048),
                ("nomic-v1.5", 1, 8192), ("nomic-v1.5", 1, 0), ("gemma-300m", 1, 512), ("gemma-300m", 64, 512),
                ("gemma-300m", 1, 2048), ("gemma-300m", 16, 2048), ("gemma-300m", 1, 0)}
MIXED_SEED, MIXED_TOKENS = 42, 32768
M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def mixed_lengths():
    s, out, total = MIXED_SEED, [], 0
    while True:
        s, z = splitmix64(s)
        u = (z >> 11) * (1.0 / 9007199254740992.0)
        n = int(math.floor(16.0 * math.pow(128.0, u) + 0.5))
        if total + n > MIXED_TOKENS or len(out) == 4096:
            return out
        out.append(n)
        total += n


def build(name):
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel
    sh = SHAPES[name]
    if sh["cls"] == "qwen3":
        from transformers import Qwen3Config, Qwen3Model
        cfg = Qwen3Config(hidden_size=sh["hidden"], num_hidden_layers=sh["layers"], num_attention_heads=sh["heads"],
                          num_key_value_heads=sh["kv_heads"], head_dim=sh["head_dim"], intermediate_size=sh["ffn"],
                          max_position_embeddings=sh["positions"], vocab_size=sh["vocab"], rope_theta=1e6,
                          rms_norm_eps=1e-6, tie_word_embeddings=True, attn_implementation="sdpa")
        return Qwen3Model(cfg).to(torch.bfloat16).cuda().eval()
    if sh["cls"] == "gemma":  # EmbeddingGemma: Gemma3TextModel, bidirectional, bf16 as Sutra runs it
        from transformers import Gemma3TextConfig, Gemma3TextModel
        cfg = Gemma3TextConfig(hidden_size=sh["hidden"], num_hidden_layers=sh["layers"], num_attention_heads=sh["heads"],
                               num_key_value_heads=sh["kv_heads"], head_dim=sh["head_dim"], intermediate_size=sh["ffn"],
                               max_position_embeddings=sh["positions"], vocab_size=sh["vocab"], query_pre_attn_scalar=256,
                               sliding_window=512, use_bidirectional_attention=True, rope_theta=1e6,
                               rope_local_base_freq=1e4, attn_implementation="sdpa")
        return Gemma3TextModel(cfg).to(torch.bfloat16).cuda().eval()
    if sh["cls"] == "nomic":  # transformers' own NomicBERT: rotary (base 1000), SwiGLU, post-norm, no biases
        from transformers import NomicBertConfig, NomicBertModel
        cfg = NomicBertConfig(hidden_size=sh["hidden"], num_hidden_layers=sh["layers"], num_attention_heads=sh["heads"],
                              intermediate_size=sh["ffn"], max_position_embeddings=sh["positions"], vocab_size=sh["vocab"],
                              rope_parameters={"rope_type": "default", "rope_theta": 1000.0},
                              attn_implementation="sdpa")
        return NomicBertModel(cfg).half().cuda().eval()
    kw = dict(hidden_size=sh["hidden"], num_hidden_layers=sh["layers"], num_attention_heads=sh["heads"],
              intermediate_size=sh["ffn"], max_position_embeddings=sh["positions"], vocab_size=sh["vocab"],
              attn_implementation="sdpa")
    if sh["cls"] == "bert":
        m = BertModel(BertConfig(**kw), add_pooling_layer=False)
    else:
        m = XLMRobertaModel(XLMRobertaConfig(**kw), add_pooling_layer=False)
    return m.half().cuda().eval()


def bench(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--models", default="minilm,bert-base,xlmr-large,qwen3-0.6b,nomic-v1.5,gemma-300m")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-budget", type=float, default=240.0)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    import transformers
    torch._dynamo.config.cache_size_limit = 64  # one compiled graph per shape; the default 8 would fall back
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}",
          flush=True)
    lens = mixed_lengths()
    rows, compile_spent = [], 0.0
    for name in SHAPES:
        if name not in a.models.split(","):
            continue
        model = build(name)
        weights = torch.cuda.memory_allocated()
        compiled = None if a.no_compile else torch.compile(model, mode="reduce-overhead", dynamic=False)
        vocab = SHAPES[name]["vocab"]
        for case in CASES:
            mn, B, N = case
            if mn != name:
                continue
            g = torch.Generator(device="cuda").manual_seed(B * 100003 + N)
            if N:
                ids = torch.randint(1000, vocab, (B, N), device="cuda", generator=g)
                mask = torch.ones_like(ids)
                real = B * N
            else:
                B, N = len(lens), max(lens)
                ids = torch.randint(1000, vocab, (B, N), device="cuda", generator=g)
                mask = torch.zeros_like(ids)
                for i, n in enumerate(lens):
                    mask[i, :n] = 1
                real = sum(lens)
            row = {"model": name, "B": B, "N": N, "mixed": case[2] == 0, "tokens": real,
                   "dtype": "bf16" if SHAPES[name]["cls"] in ("qwen3", "gemma") else "fp16"}
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                with torch.inference_mode():
                    ms = bench(lambda: model(input_ids=ids, attention_mask=mask), a.reps)
                row["eager_ms"] = round(ms, 4)
                row["eager_tok_per_s"] = round(real / ms * 1000)
                row["peak_act_MiB"] = round((torch.cuda.max_memory_allocated() - weights) / 2**20, 1)
            except Exception as ex:  # out of memory at the largest shapes, say
                row["eager_err"] = str(ex)[:160]
            if compiled is not None and case in COMPILE_ROWS:
                if compile_spent > a.compile_budget:
                    row["compile_skipped"] = f"compile budget of {a.compile_budget:.0f} s spent"
                else:
                    t0 = time.time()
                    try:
                        with torch.inference_mode():
                            for _ in range(3):  # compile, record, replay
                                compiled(input_ids=ids, attention_mask=mask)
                            torch.cuda.synchronize()
                            row["compile_s"] = round(time.time() - t0, 1)
                            ms = bench(lambda: compiled(input_ids=ids, attention_mask=mask), a.reps)
                        row["compiled_ms"] = round(ms, 4)
                        row["compiled_tok_per_s"] = round(real / ms * 1000)
                    except Exception as ex:
                        row["compiled_err"] = str(ex)[:160]
                    compile_spent += time.time() - t0
            elif compiled is not None:
                row["compile_skipped"] = "not in COMPILE_ROWS (compile time)"
            rows.append(row)
            print(row, flush=True)
        del model, compiled
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "transformers": transformers.__version__, "dtype": "fp16 (qwen3, gemma: bf16)", "reps": a.reps,
           "mixed_lengths": lens, "rows": rows}
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
