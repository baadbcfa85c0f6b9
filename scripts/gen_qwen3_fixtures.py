#!/usr/bin/env python3
"""Builds the Qwen3 (decoder embedder) test fixtures: Qwen's real byte-level BPE tokenizer with the
outputs HF `tokenizers` gives for the tokenizer corpus, a small tokenizer of the same structure, and
random-initialised Qwen3 models whose weights are not stored but drawn from a seeded generator that
the C tests reimplement, with the outputs HF transformers / sentence-transformers give for them.

Writes, relative to the repository root (README.md there is written by hand and documents it all):

  tests/fixtures/qwen3/
    tokenizer/tokenizer.json        Qwen's tokenizer, assembled from the real vocab.json + merges.txt
    tokenizer/tokenizer_config.json the real one
    corpus_extra.jsonl              Qwen-specific tokenizer lines (special tokens, code, space runs, ...)
    qwen3_expected.jsonl            tokenizers' ids and byte offsets for tests/fixtures/tokenizer/corpus.jsonl
                                    and corpus_extra.jsonl (the format of tests/fixtures/longctx/*_expected)
    small_tokenizer/                a 2048-token BPE trained here with Qwen's normalizer, pre-tokenizer,
                                    post-processor and special tokens (for the models with small vocabularies)
    <model>/                        config.json, weights.json (the generator's recipe: every tensor's name,
                                    shape, centre and half-width, the seed, the shard layout), the
                                    sentence-transformers files, reference.safetensors, reference.json

The weights: element i (row-major) of tensor `name` is
    u = ((splitmix64(fnv1a64(name) ^ seed) + (i + 1) * 0x9E3779B97F4A7C15) -> splitmix64) >> 40
    value = float32(centre + half_width * (2 * (u + 0.5) / 2^24 - 1))      (arithmetic in float64)
exactly as tests/seeded_weights.c computes it, so the C tests write the same model.safetensors (or
shards and an index) that transformers read here. Linear weights have half-width sqrt(3 / fan_in)
(unit-variance outputs), norms are centred on 1 with half-width 0.5, embeddings half-width 1.

Needs: python3 with torch, transformers (5.x), tokenizers, sentence-transformers, numpy, safetensors.
The real tokenizer's source files (vocab.json, merges.txt, tokenizer_config.json of Qwen3-Embedding-0.6B,
see README.md) are read from --qwen-tokenizer DIR when given; otherwise the committed
tokenizer/tokenizer.json is used as it is. CPU only; takes about ten minutes (the 28-layer model).

Usage: python3 scripts/gen_qwen3_fixtures.py [--qwen-tokenizer DIR] [--only NAME ...] [--skip-checks]
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_longctx_fixtures import load_tok, subset_rows  # noqa: E402  (shared with the longctx fixtures)
from gen_longctx_fixtures import write_expected as _write_expected  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "qwen3")
CORPUS = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.jsonl")
SEED = 20261207

# Qwen2 / Qwen2.5 / Qwen3's pre-tokenizer pattern, as their tokenizer.json spell it
SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
EOT = "<|endoftext|>"
QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------

def qwen_pipeline(eot_id):
    """The normalizer, pre-tokenizer, post-processor and decoder of Qwen3-Embedding's tokenizer.json:
    NFC; Split(pattern, Isolated) then ByteLevel without its own regex; <|endoftext|> appended."""
    return {
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOT, "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOT, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": EOT, "type_id": 1}}],
            "special_tokens": {EOT: {"id": EOT, "ids": [eot_id], "tokens": [EOT]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    }


def added_token(tid, content, special):
    return {"id": tid, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def assemble_real(src):
    """tokenizer.json from the real vocab.json, merges.txt and tokenizer_config.json (added tokens)."""
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(os.path.join(src, "merges.txt"), encoding="utf-8") as f:
        for ln in f:
            ln = ln.rstrip("\r\n")
            if ln.startswith("#version") or not ln:
                continue
            a, b = ln.split(" ")
            merges.append([a, b])
    with open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8") as f:
        tcfg = json.load(f)
    added = [added_token(int(k), v["content"], v["special"])
             for k, v in sorted(tcfg["added_tokens_decoder"].items(), key=lambda kv: int(kv[0]))]
    d = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added}
    d.update(qwen_pipeline(next(t["id"] for t in added if t["content"] == EOT)))
    d["model"] = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges}
    order = ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor",
             "decoder", "model"]
    return {k: d[k] for k in order}, tcfg


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def small_tokenizer(dst):
    """A 2048-token byte-level BPE with Qwen's structure, trained on the long-context fixtures' training
    text; <|endoftext|>, <|im_start|>, <|im_end|> after the learned tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from gen_longctx_fixtures import training_text

    tok = Tokenizer(models.BPE(dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)  # training only
    trainer = trainers.BpeTrainer(vocab_size=2045, min_frequency=2, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_text(), trainer)
    d = json.loads(tok.to_str())
    n = len(d["model"]["vocab"])
    specials = [EOT, "<|im_start|>", "<|im_end|>"]
    d["added_tokens"] = [added_token(n + i, s, True) for i, s in enumerate(specials)]
    d.update(qwen_pipeline(n))
    d["model"]["ignore_merges"] = False
    os.makedirs(dst, exist_ok=True)
    write_json(os.path.join(dst, "tokenizer.json"), d)
    write_json(os.path.join(dst, "tokenizer_config.json"), {
        "add_bos_token": False, "add_prefix_space": False, "bos_token": None, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 131072, "pad_token": EOT,
        "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
        "added_tokens_decoder": {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                                  "single_word", "special")}
                                 for t in d["added_tokens"]}})
    return n + len(specials), n


EXTRA_LINES = [
    EOT, "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "<think>\nhmm\n</think>\n\n4",
    "<tool_call>{\"name\": \"f\"}</tool_call>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext",
    "<|fim_prefix|>def f(x):<|fim_suffix|>\n<|fim_middle|>", "<|vision_start|><|image_pad|><|vision_end|>",
    QUERY_PROMPT + "What is the capital of France?",
    "I'M SURE YOU'RE RIGHT, THEY'VE GONE AND WE'LL SEE; IT'S HE'D", "don't can't won't 's 'S 'T 'Re 'rE",
    "'ſ 'ſt O'Neil rock'n'roll '' ''' 'm'm", "12345678901234567890 3.14159 1,000,000 ١٢٣ ४५६ ⅷ ² ½",
    "a" + " " * 40 + "b", " " * 33, "\n\n\n", "\r\n\r\n", "x\n \n y", "  \n\t\n  z", "tab\tsep\t\tdouble",
    "line one\nline two\r\nline three\rend", "trailing spaces   \n", "\u00a0nbsp\u3000ideographic\u2009thin",
    "def embed(texts):\n    return [model(t) for t in texts]  # two spaces\n\n\tif x:\n\t\tpass\n",
    "int main(void) { return a->b[i] != 0 && *p++ == '\\n'; }", "{\"key\": [1, 2.5e-3, null, true]}",
    "<html><body class=\"x\">&nbsp;&lt;tag&gt;</body></html>", "SELECT * FROM t WHERE a >= 10 -- comment",
    "emoji 👍🏽 👨\u200d👩\u200d👧 🇫🇷 ❤️ 🤖🤖🤖", "东京塔高333米。你好，世界！", "日本語のテキストと漢字、カタカナ。",
    "한국어 문장입니다.", "مرحبا بالعالم", "नमस्ते दुनिया", "Привет, мир!", "Ελληνικά γράμματα",
    "e\u0301 vs \u00e9, \u212b vs \u00c5, \u1e9b\u0323", "zero\u200bwidth\u200cjoin\u200dnon\ufeffbom",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "$$x^2 + y^2 = z^2$$ -> => <= !== ... ---", "!!!???...,,,;;;",
    "mixed123abc456 x1 1x a1b2c3", "https://example.com/path?q=1&r=%20#frag user@example.org",
]


def write_expected(tok, name, lines, extra, path):
    _write_expected(tok, name, lines, extra, path, extra_rel="tests/fixtures/qwen3/corpus_extra.jsonl")


# ----------------------------------------------------------------------------------------------
# Seeded weights
# ----------------------------------------------------------------------------------------------

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def splitmix64_scalar(x):
    z = x & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def splitmix64_np(x):
    z = x.copy()
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def init_range(name, shape):
    """(centre, half-width) of the seeded uniform values of a tensor of an encoder's checkpoint, by
    its name and shape: norm weights around 1, other vectors small, embeddings wider, matrices
    scaled by their input width. The rule of the rerank and torch.save fixtures."""
    low = name.lower()
    if len(shape) == 1 and "norm" in low and name.endswith("weight"):
        return 1.0, 0.5
    if len(shape) == 1:
        return 0.0, 0.1
    if "embed" in low and "position" in low:
        return 0.0, 0.5
    if "embed" in low:
        return 0.0, 1.0
    return 0.0, math.sqrt(3.0 / shape[1])


def seeded(name, shape, centre, half, seed):
    n = int(np.prod(shape))
    key = np.uint64(splitmix64_scalar(fnv1a64(name) ^ seed))
    out = np.empty(n, dtype=np.float32)
    step = 1 << 24
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            i = np.arange(a + 1, min(n, a + step) + 1, dtype=np.uint64)
            u = splitmix64_np(key + i * np.uint64(GOLDEN)) >> np.uint64(40)
            x = (u.astype(np.float64) + 0.5) / float(1 << 24)
            out[a:a + len(i)] = (centre + half * (2.0 * x - 1.0)).astype(np.float32)
    return out.reshape(shape)


def qwen3_config(vocab, hidden, layers, heads, kv, head_dim, ffn, **kw):
    """config.json as Qwen3-Embedding ships it (transformers 4.51 key set)."""
    cfg = {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151643, "head_dim": head_dim, "hidden_act": "silu",
        "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": ffn,
        "max_position_embeddings": 32768, "max_window_layers": layers, "model_type": "qwen3",
        "num_attention_heads": heads, "num_hidden_layers": layers, "num_key_value_heads": kv, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "float32", "transformers_version": "4.51.3", "use_cache": True, "use_sliding_window": False,
        "vocab_size": vocab,
    }
    cfg.update(kw)
    return cfg


def recipe(cfg, prefix):
    """Every tensor of the model: (name, shape, centre, half-width)."""
    C, F, D = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    Q, KV = cfg["num_attention_heads"] * D, cfg["num_key_value_heads"] * D

    def lin(n, rows, cols):
        return (prefix + n, [rows, cols], 0.0, math.sqrt(3.0 / cols))

    def norm(n, w):
        return (prefix + n, [w], 1.0, 0.5)

    out = [(prefix + "embed_tokens.weight", [cfg["vocab_size"], C], 0.0, 1.0)]
    for l in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % l
        out += [norm(p + "input_layernorm.weight", C), lin(p + "self_attn.q_proj.weight", Q, C),
                lin(p + "self_attn.k_proj.weight", KV, C), lin(p + "self_attn.v_proj.weight", KV, C),
                norm(p + "self_attn.q_norm.weight", D), norm(p + "self_attn.k_norm.weight", D),
                lin(p + "self_attn.o_proj.weight", C, Q), norm(p + "post_attention_layernorm.weight", C),
                lin(p + "mlp.gate_proj.weight", F, C), lin(p + "mlp.up_proj.weight", F, C),
                lin(p + "mlp.down_proj.weight", C, F)]
    out.append(norm("norm.weight", C))
    return out


def write_weights(dst, tensors, seed, shards):
    """model.safetensors, or `shards` files and model.safetensors.index.json, as transformers writes them."""
    from safetensors.numpy import save_file
    groups = [tensors] if shards == 1 else [tensors[i::shards] for i in range(shards)]
    index = {}
    for g, part in enumerate(groups):
        fn = "model.safetensors" if shards == 1 else "model-%05d-of-%05d.safetensors" % (g + 1, shards)
        save_file({n: seeded(n, s, c, h, seed) for (n, s, c, h) in part}, os.path.join(dst, fn),
                  metadata={"format": "pt"})
        for (n, _, _, _) in part:
            index[n] = fn
    if shards > 1:
        size = sum(4 * int(np.prod(s)) for (_, s, _, _) in tensors)
        write_json(os.path.join(dst, "model.safetensors.index.json"),
                   {"metadata": {"total_size": size}, "weight_map": dict(sorted(index.items()))})


def remove_weights(dst):
    for fn in os.listdir(dst):
        if fn.endswith(".safetensors") and fn != "reference.safetensors" or fn == "model.safetensors.index.json":
            os.remove(os.path.join(dst, fn))


def write_st_files(dst, hidden, max_len):
    write_json(os.path.join(dst, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(dst, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(dst, "1_Pooling", "config.json"), {
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": True, "include_prompt": True})
    os.makedirs(os.path.join(dst, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(dst, "sentence_bert_config.json"), {"max_seq_length": max_len, "do_lower_case": False})
    write_json(os.path.join(dst, "config_sentence_transformers.json"), {
        "prompts": {"query": QUERY_PROMPT, "document": ""}, "default_prompt_name": None,
        "similarity_fn_name": "cosine", "model_type": "SentenceTransformer"})


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------

def make_ids(n, lo, hi, eot, salt):
    rng = np.random.default_rng([SEED, salt, n])
    return np.concatenate([rng.integers(lo, hi, size=n - 1), [eot]]).astype(np.int64)


def unit(v):
    return v / np.maximum(np.linalg.norm(v), 1e-12)


def rms(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def ref_f64(W, cfg, ids, prefix, mistake=None):
    """An independent float64 reading of Qwen3Model (the semantics README.md states)."""
    g = lambda n: W[prefix + n].astype(np.float64)
    C, D, H, Hkv = cfg["hidden_size"], cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    eps, T = cfg["rms_norm_eps"], len(ids)
    theta = cfg["rope_theta"]
    win = cfg["sliding_window"] if cfg.get("use_sliding_window") else None
    inv = (1.0 / (theta ** (np.arange(0, D, 2, dtype=np.int64).astype(np.float32) / D))).astype(np.float32)
    ang = (np.arange(T, dtype=np.float32)[:, None] * inv[None]).astype(np.float32).astype(np.float64)
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def rot(t):  # t (T, heads, D)
        if mistake == "rope_interleaved":
            a, b = t[..., 0::2], t[..., 1::2]
            r = np.empty_like(t)
            r[..., 0::2], r[..., 1::2] = -b, a
        else:
            r = np.concatenate([-t[..., D // 2:], t[..., :D // 2]], -1)
        return t * cos[:, None] + r * sin[:, None]

    x = g("embed_tokens.weight")[ids]
    for l in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % l
        h = rms(x, g(p + "input_layernorm.weight"), eps)
        q = (h @ g(p + "self_attn.q_proj.weight").T).reshape(T, H, D)
        k = (h @ g(p + "self_attn.k_proj.weight").T).reshape(T, Hkv, D)
        v = (h @ g(p + "self_attn.v_proj.weight").T).reshape(T, Hkv, D)
        if mistake != "no_qk_norm":
            q, k = rms(q, g(p + "self_attn.q_norm.weight"), eps), rms(k, g(p + "self_attn.k_norm.weight"), eps)
        q, k = rot(q), rot(k)
        r = H // Hkv
        kvh = [hh % Hkv if mistake == "gqa_modulo" else hh // r for hh in range(H)]
        i, j = np.arange(T)[:, None], np.arange(T)[None]
        allowed = np.ones((T, T), bool) if mistake == "bidirectional" else j <= i
        if win is not None and l >= cfg["max_window_layers"]:
            allowed &= j > i - win
        o = np.empty((T, H, D))
        for hh in range(H):
            s = q[:, hh] @ k[:, kvh[hh]].T / math.sqrt(D)
            s = np.where(allowed, s, -np.inf)
            s = np.exp(s - s.max(1, keepdims=True))
            o[:, hh] = (s / s.sum(1, keepdims=True)) @ v[:, kvh[hh]]
        x = x + o.reshape(T, H * D) @ g(p + "self_attn.o_proj.weight").T
        h = rms(x, g(p + "post_attention_layernorm.weight"), eps)
        gate, up = h @ g(p + "mlp.gate_proj.weight").T, h @ g(p + "mlp.up_proj.weight").T
        act = gate * up if mistake == "no_silu" else gate / (1 + np.exp(-gate)) * up
        x = x + act @ g(p + "mlp.down_proj.weight").T
    return rms(x, g("norm.weight"), eps)


MISTAKES = ["bidirectional", "gqa_modulo", "no_qk_norm", "rope_interleaved", "no_silu"]

TEXTS = [
    "What is the capital of France?",
    "Paris is the capital and most populous city of France. It is known for the Eiffel Tower, built in 1889.",
    "def embed(texts):\n    return [model(t) for t in texts]\n",
    "东京塔高333米。 Эйфелева башня. 🗼 I'M SURE it's fine.",
]


def reference(dst, cfg, spec, tok_path, prefix, seed):
    from safetensors.numpy import load_file, save_file
    from transformers import AutoModel
    model = AutoModel.from_pretrained(dst, attn_implementation="eager", dtype=torch.float32).eval()
    eot = spec["eot"]
    tensors = {}
    meta = {"lengths": spec["lengths"], "subset_lengths": [n for n in spec["lengths"] if n >= 2048],
            "subset_rows": "for lengths of 2048 and more hidden.lenN holds only rows rows.lenN: the first 64, the "
                           "last 64 and every 97th row, ascending",
            "random_ids": "ids[:-1] uniform in [0, %d) (numpy default_rng([%d, salt, n])), ids[-1] = %d"
                          % (spec["id_hi"], SEED, eot)}
    full = {}
    for n in spec["lengths"]:
        ids = make_ids(n, 0, spec["id_hi"], eot, spec["salt"])
        with torch.no_grad():
            h = model(input_ids=torch.from_numpy(ids)[None]).last_hidden_state[0].numpy().astype(np.float32)
        full[n] = (ids, h)
        tensors["ids.len%d" % n] = ids.astype(np.int32)
        if n >= 2048:
            rows = subset_rows(n)
            tensors["rows.len%d" % n] = rows
            tensors["hidden.len%d" % n] = np.ascontiguousarray(h[rows])
        else:
            tensors["hidden.len%d" % n] = h
        tensors["pooled_last.len%d" % n] = unit(h[-1]).astype(np.float32)
    if spec.get("texts"):
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(dst, device="cpu", model_kwargs={"attn_implementation": "eager"})
        tok = load_tok(tok_path)
        for i, t in enumerate(TEXTS):
            for pname in ("query", "document"):
                emb = st.encode([t], prompt_name=pname, batch_size=1, convert_to_numpy=True)[0]
                tensors["sentence.%s.%d" % (pname, i)] = emb.astype(np.float32)
                ids = np.array(tok.encode((QUERY_PROMPT if pname == "query" else "") + t).ids, dtype=np.int64)
                with torch.no_grad():
                    h = model(input_ids=torch.from_numpy(ids)[None]).last_hidden_state[0].numpy()
                err = float(np.abs(unit(h[-1]) - emb).max())
                assert err < 1e-5 and ids[-1] == eot, ("sentence-transformers is not last-token pooling", t, err)
                tensors["ids.%s.%d" % (pname, i)] = ids.astype(np.int32)
        meta.update({"texts": TEXTS, "prompts": {"query": QUERY_PROMPT, "document": ""},
                     "sentence": "sentence.<prompt>.<i>: SentenceTransformer(dir).encode([texts[i]], "
                                 "prompt_name=<prompt>) (last-token pooling, normalized); ids.<prompt>.<i> the ids"})
    save_file(tensors, os.path.join(dst, "reference.safetensors"), metadata={"generator": "scripts/gen_qwen3_fixtures.py"})
    write_json(os.path.join(dst, "reference.json"), meta)
    return model, full


def checks(dst, cfg, spec, prefix, model, full):
    from safetensors.numpy import load_file
    from transformers import AutoModel
    W = {}
    for fn in sorted(os.listdir(dst)):
        if fn.startswith("model") and fn.endswith(".safetensors"):
            W.update(load_file(os.path.join(dst, fn)))
    report = {}
    short = [n for n in spec["lengths"] if n <= 600]
    for n in short:
        ids, h = full[n]
        report["f64_vs_hf.%d" % n] = float(np.abs(ref_f64(W, cfg, ids, prefix) - h).max())
        assert report["f64_vs_hf.%d" % n] < 1e-4, report
    n = short[-1]
    ids, h = full[n]
    base = ref_f64(W, cfg, ids, prefix)
    for m in MISTAKES:
        report["mistake.%s" % m] = float(np.abs(ref_f64(W, cfg, ids, prefix, mistake=m) - base).max())
    sd = AutoModel.from_pretrained(dst, attn_implementation="sdpa", dtype=torch.float32).eval()
    with torch.no_grad():
        o = sd(input_ids=torch.from_numpy(ids)[None]).last_hidden_state[0].numpy()
    report["sdpa_vs_eager.%d" % n] = float(np.abs(o - h).max())
    report["hidden_absmax"] = float(max(np.abs(v[1]).max() for v in full.values()))
    report["hidden_rms"] = float(max(np.sqrt((v[1] ** 2).mean()) for v in full.values()))
    return report


def check_tokenizer_dir(model_dir, lines):
    """AutoTokenizer (what sentence-transformers uses) must give what tokenizer.json gives."""
    from transformers import AutoTokenizer
    at = AutoTokenizer.from_pretrained(model_dir)
    t = load_tok(os.path.join(model_dir, "tokenizer.json"))
    return sum(1 for s in lines if at(s)["input_ids"] != t.encode(s).ids)


# name, config, tokenizer folder, key prefix, shards, lengths, text cases
def model_specs(small_vocab, small_model_tokens, real_vocab):
    tiny = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                intermediate_size=192)
    real = dict(hidden_size=1024, num_attention_heads=16, num_key_value_heads=8, head_dim=128, intermediate_size=3072)

    def cfg(vocab, shape, **kw):
        s = dict(shape)
        s.update(kw)
        return qwen3_config(vocab, s.pop("hidden_size"), s.pop("num_hidden_layers"), s.pop("num_attention_heads"),
                            s.pop("num_key_value_heads"), s.pop("head_dim"), s.pop("intermediate_size"), **s)

    return [
        {"name": "tiny", "config": cfg(real_vocab, tiny), "tokenizer": "tokenizer", "prefix": "", "shards": 1,
         "lengths": [1, 7, 100, 513, 2048, 8192], "texts": True, "id_hi": 151643, "eot": 151643, "salt": 1,
         "max_len": 8192},
        {"name": "tiny-window", "config": cfg(real_vocab, tiny, use_sliding_window=True, sliding_window=100,
                                              max_window_layers=1),
         "tokenizer": "tokenizer", "prefix": "", "shards": 1, "lengths": [100, 513, 2048], "texts": False,
         "id_hi": 151643, "eot": 151643, "salt": 2, "max_len": 8192},
        {"name": "real-2l", "config": cfg(small_vocab, dict(real, num_hidden_layers=2)), "tokenizer": "small_tokenizer",
         "prefix": "model.", "shards": 3, "lengths": [1, 64, 512, 2048], "texts": False, "id_hi": small_model_tokens,
         "eot": small_model_tokens, "salt": 3, "max_len": 8192},
        {"name": "real-28l", "config": cfg(small_vocab, dict(real, num_hidden_layers=28)),
         "tokenizer": "small_tokenizer", "prefix": "", "shards": 4, "lengths": [16, 100], "texts": False,
         "id_hi": small_model_tokens, "eot": small_model_tokens, "salt": 4, "max_len": 8192},
    ]


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qwen-tokenizer", help="folder with the real vocab.json, merges.txt, tokenizer_config.json")
    ap.add_argument("--only", nargs="*", help="model fixtures to rebuild (default: all, and the tokenizers)")
    ap.add_argument("--skip-checks", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    import sentence_transformers
    import tokenizers
    import transformers
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    os.makedirs(OUT, exist_ok=True)
    lines = [json.loads(l)["text"] for l in open(CORPUS, encoding="utf-8")]
    summary = {"versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__}}
    real_dir = os.path.join(OUT, "tokenizer")
    small_dir = os.path.join(OUT, "small_tokenizer")
    if not args.only:
        if args.qwen_tokenizer:
            d, tcfg = assemble_real(args.qwen_tokenizer)
            os.makedirs(real_dir, exist_ok=True)
            write_json(os.path.join(real_dir, "tokenizer.json"), d)
            shutil.copy(os.path.join(args.qwen_tokenizer, "tokenizer_config.json"), real_dir)
        with open(os.path.join(OUT, "corpus_extra.jsonl"), "w", encoding="utf-8") as f:
            for s in EXTRA_LINES:
                f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
        real = load_tok(os.path.join(real_dir, "tokenizer.json"))
        write_expected(real, "qwen3 (byte-level BPE)", lines, EXTRA_LINES, os.path.join(OUT, "qwen3_expected.jsonl"))
        small_tokenizer(small_dir)
    real_vocab = 151669  # Qwen3's vocab_size: 151643 BPE tokens, 26 added, padding rows to a round size
    small = load_tok(os.path.join(small_dir, "tokenizer.json"))
    small_tokens = small.get_vocab_size(with_added_tokens=True)
    small_model_tokens = small.token_to_id(EOT)
    summary["small_tokenizer"] = {"tokens": small_tokens, "eot": small_model_tokens}
    for spec in model_specs(2048, small_model_tokens, real_vocab):
        if args.only and spec["name"] not in args.only:
            continue
        dst = os.path.join(OUT, spec["name"])
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        os.makedirs(dst)
        cfg = spec["config"]
        write_json(os.path.join(dst, "config.json"), cfg)
        tensors = recipe(cfg, spec["prefix"])
        write_json(os.path.join(dst, "weights.json"), {
            "generator": "scripts/gen_qwen3_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
            "shards": spec["shards"], "dtype": "F32",
            "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
        write_st_files(dst, cfg["hidden_size"], spec["max_len"])
        tdir = os.path.join(OUT, spec["tokenizer"])
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tdir, fn), dst)
        write_weights(dst, tensors, SEED, spec["shards"])
        model, full = reference(dst, cfg, spec, os.path.join(dst, "tokenizer.json"), spec["prefix"], SEED)
        rep = {} if args.skip_checks else checks(dst, cfg, spec, spec["prefix"], model, full)
        if spec["texts"] and not args.skip_checks:
            rep["autotokenizer_mismatch_lines"] = check_tokenizer_dir(dst, lines[:300] + EXTRA_LINES)
        # the weights and tokenizer copies are made again by the tests
        remove_weights(dst)
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            os.remove(os.path.join(dst, fn))
        with open(os.path.join(dst, "tokenizer.txt"), "w") as f:
            f.write(spec["tokenizer"] + "\n")
        summary[spec["name"]] = rep
        print(spec["name"], json.dumps(rep, indent=1), flush=True)
    write_json(os.path.join(OUT, "summary.json"), summary)


if __name__ == "__main__":
    main()
