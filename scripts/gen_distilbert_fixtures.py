#!/usr/bin/env python3
"""Builds the DistilBERT test fixture: a random-initialised model with msmarco-distilbert-base-v4's
configuration (6 layers, dim 768, 12 heads, FFN 3072, 512 positions, the bert-base-uncased
vocabulary) whose weights are not stored but drawn from the seeded generator that
tests/seeded_weights.c reimplements (scripts/gen_qwen3_fixtures.py has it), with the outputs HF
transformers (DistilBertModel) and sentence-transformers (mean pooling, as that model ships) give.

Writes tests/fixtures/distilbert/msmarco-6l/: config.json, weights.json (the recipe),
modules.json + 1_Pooling + sentence_bert_config.json, reference.safetensors (ids.lenN, hidden.lenN,
pooled_mean.lenN; sentence.<i> and ids.<i> for the texts), reference.json. The tokenizer is the
default model's (all-MiniLM-L6-v2 uses the same bert-base-uncased WordPiece vocabulary as
DistilBERT), read from --tokenizer-dir and not stored; the test copies it the same way.

Usage: python3 scripts/gen_distilbert_fixtures.py [--tokenizer-dir DIR]
       (default DIR: $SUTRA_MODELS_DIR or ~/.cache/sutra/models, then all-MiniLM-L6-v2)
Needs: torch, transformers, sentence-transformers, tokenizers, numpy, safetensors. CPU, ~1 minute.
"""
import argparse
import math
import os
import shutil
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and the safetensors writer)

OUT = os.path.join(ROOT, "tests", "fixtures", "distilbert", "msmarco-6l")
SEED = 20261208
LENGTHS = [1, 7, 100, 512]
TEXTS = ["What is the capital of France?",
         "Paris is the capital and most populous city of France, known for the Eiffel Tower.",
         "how do magnets work",
         "Déjà vu: the feeling of having already lived through the present situation. 東京 🗼",
         "A man is playing a guitar."]


def config():
    """config.json as msmarco-distilbert-base-v4 ships it."""
    return {"activation": "gelu", "architectures": ["DistilBertModel"], "attention_dropout": 0.1, "dim": 768,
            "dropout": 0.1, "hidden_dim": 3072, "initializer_range": 0.02, "max_position_embeddings": 512,
            "model_type": "distilbert", "n_heads": 12, "n_layers": 6, "pad_token_id": 0, "qa_dropout": 0.1,
            "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False, "tie_weights_": True,
            "torch_dtype": "float32", "transformers_version": "4.51.3", "vocab_size": 30522}


def recipe(cfg):
    C, F = cfg["dim"], cfg["hidden_dim"]

    def lin(n, rows, cols):
        return [(n + ".weight", [rows, cols], 0.0, math.sqrt(3.0 / cols)), (n + ".bias", [rows], 0.0, 0.1)]

    def ln(n):
        return [(n + ".weight", [C], 1.0, 0.5), (n + ".bias", [C], 0.0, 0.1)]

    out = [("embeddings.word_embeddings.weight", [cfg["vocab_size"], C], 0.0, 1.0),
           ("embeddings.position_embeddings.weight", [cfg["max_position_embeddings"], C], 0.0, 0.5)]
    out += ln("embeddings.LayerNorm")
    for l in range(cfg["n_layers"]):
        p = "transformer.layer.%d." % l
        for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
            out += lin(p + "attention." + n, C, C)
        out += ln(p + "sa_layer_norm") + lin(p + "ffn.lin1", F, C) + lin(p + "ffn.lin2", C, F)
        out += ln(p + "output_layer_norm")
    return out


def main():
    ap = argparse.ArgumentParser()
    models = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(models, "all-MiniLM-L6-v2"))
    args = ap.parse_args()
    import sentence_transformers
    import transformers
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from transformers import AutoModel
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "1_Pooling"))
    cfg = config()
    g.write_json(os.path.join(OUT, "config.json"), cfg)
    tensors = recipe(cfg)
    g.write_json(os.path.join(OUT, "weights.json"), {
        "generator": "scripts/gen_distilbert_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
        "shards": 1, "dtype": "F32",
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
    g.write_json(os.path.join(OUT, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    g.write_json(os.path.join(OUT, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["dim"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    g.write_json(os.path.join(OUT, "sentence_bert_config.json"), {"max_seq_length": 512, "do_lower_case": False})
    for fn in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if os.path.exists(os.path.join(args.tokenizer_dir, fn)):
            shutil.copy(os.path.join(args.tokenizer_dir, fn), OUT)
    g.write_weights(OUT, tensors, SEED, 1)

    model = AutoModel.from_pretrained(OUT, attn_implementation="eager", dtype=torch.float32).eval()
    ref = {}
    for n in LENGTHS:
        rng = np.random.default_rng([SEED, n])
        ids = np.concatenate([[101], rng.integers(1000, cfg["vocab_size"], size=n - 2), [102]])[:n] if n > 1 \
            else np.array([101])
        with torch.no_grad():
            h = model(input_ids=torch.from_numpy(ids.astype(np.int64))[None]).last_hidden_state[0].numpy()
        ref["ids.len%d" % n] = ids.astype(np.int32)
        ref["hidden.len%d" % n] = h.astype(np.float32)
        ref["pooled_mean.len%d" % n] = h.mean(axis=0).astype(np.float32)
    st = sentence_transformers.SentenceTransformer(OUT, device="cpu")
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    tok.no_padding()  # the default model's tokenizer.json pads to 128 for batches; the ids are the text's
    for i, t in enumerate(TEXTS):
        ref["sentence.%d" % i] = st.encode([t], convert_to_numpy=True)[0].astype(np.float32)
        ref["ids.%d" % i] = np.array(tok.encode(t).ids, dtype=np.int32)
    save_file(ref, os.path.join(OUT, "reference.safetensors"), metadata={"generator": "scripts/gen_distilbert_fixtures.py"})
    sd = AutoModel.from_pretrained(OUT, attn_implementation="sdpa", dtype=torch.float32).eval()
    with torch.no_grad():
        o = sd(input_ids=torch.from_numpy(ref["ids.len512"].astype(np.int64))[None]).last_hidden_state[0].numpy()
    g.write_json(os.path.join(OUT, "reference.json"), {
        "lengths": LENGTHS, "texts": TEXTS,
        "ids": "ids.lenN: [CLS], uniform ids in [1000, vocab) (numpy default_rng([%d, N])), [SEP]" % SEED,
        "sentence": "sentence.<i>: SentenceTransformer(dir).encode([texts[i]]) (mean pooling, not normalised)",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "sdpa_vs_eager.len512": float(np.abs(o - ref["hidden.len512"]).max()),
        "hidden_absmax": float(max(np.abs(ref["hidden.len%d" % n]).max() for n in LENGTHS))})
    g.remove_weights(OUT)
    for fn in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if os.path.exists(os.path.join(OUT, fn)):
            os.remove(os.path.join(OUT, fn))
    print(open(os.path.join(OUT, "reference.json")).read())


if __name__ == "__main__":
    main()
