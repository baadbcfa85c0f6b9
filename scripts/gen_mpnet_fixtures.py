#!/usr/bin/env python3
"""Builds the MPNet test fixture: a random-initialised model with all-mpnet-base-v2's configuration
(all 12 layers, hidden 768, 12 heads, FFN 3072, 514 positions from padding_idx + 1, a 32-bucket
relative position bias), whose weights are not stored but drawn from the seeded generator that
tests/seeded_weights.c reimplements (scripts/gen_qwen3_fixtures.py has it), with the outputs HF
transformers (MPNetModel) and sentence-transformers (mean pooling, Normalize, as that model ships)
give.

The tokenizer is made here, as transformers makes MPNet's fast tokenizer (MPNetTokenizerFast:
BERT normalisation and pre-tokenizer, WordPiece, <s> A </s>) from a vocabulary of <s>, <pad>,
</s>, <unk>, then bert-base-uncased's 30522 entries (the default model's vocab.txt), then <mask>:
30527 entries, all-mpnet-base-v2's vocab_size. That layout is inferred (tests/fixtures/mpnet/README.md).

Writes tests/fixtures/mpnet/all-mpnet-12l/: config.json, weights.json (the recipe), tokenizer.json,
modules.json + 1_Pooling + sentence_bert_config.json, reference.safetensors (ids.lenN, hidden.lenN,
pooled_mean.lenN; sentence.<i> and ids.<i> for the texts; buckets: transformers' bucket of every
offset -511..511), reference.json.

Usage: python3 scripts/gen_mpnet_fixtures.py [--tokenizer-dir DIR]
       (default DIR: $SUTRA_MODELS_DIR or ~/.cache/sutra/models, then all-MiniLM-L6-v2)
Needs: torch, transformers, sentence-transformers, tokenizers, numpy, safetensors. CPU, ~1 minute.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and the safetensors writer)

OUT = os.path.join(ROOT, "tests", "fixtures", "mpnet", "all-mpnet-12l")
SEED = 20261211
LENGTHS = [1, 7, 100, 512]
TEXTS = ["What is the capital of France?",
         "Paris is the capital and most populous city of France, known for the Eiffel Tower.",
         "how do magnets work",
         "Déjà vu: the feeling of having already lived through the present situation. 東京 🗼",
         "A man is playing a guitar."]


EXTRA_LINES = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "[UNK]", "[CLS] [SEP] [MASK]", "a <mask> b", "<s>x</s>",
               "Hello, World! ÀÉÎÕÜ naïve façade", "東京タワー 北京 서울", "emoji 🗼 and symbols ©®™", "  spaced   out  ",
               "tab\tand\nnewline", "don't won't it's", "x" * 150, "supercalifragilisticexpialidocious " * 3]


def config():
    """config.json as all-mpnet-base-v2 ships it."""
    return {"architectures": ["MPNetForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0,
            "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
            "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 514, "model_type": "mpnet", "num_attention_heads": 12,
            "num_hidden_layers": 12, "pad_token_id": 1, "relative_attention_num_buckets": 32,
            "torch_dtype": "float32", "transformers_version": "4.8.2", "vocab_size": 30527}


def recipe(cfg):
    C, F, H = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"]

    def lin(n, rows, cols):
        return [(n + ".weight", [rows, cols], 0.0, math.sqrt(3.0 / cols)), (n + ".bias", [rows], 0.0, 0.1)]

    def ln(n):
        return [(n + ".weight", [C], 1.0, 0.5), (n + ".bias", [C], 0.0, 0.1)]

    out = [("embeddings.word_embeddings.weight", [cfg["vocab_size"], C], 0.0, 1.0),
           ("embeddings.position_embeddings.weight", [cfg["max_position_embeddings"], C], 0.0, 0.5)]
    out += ln("embeddings.LayerNorm")
    out += [("encoder.relative_attention_bias.weight", [cfg["relative_attention_num_buckets"], H], 0.0, 2.0)]
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for n in ("q", "k", "v", "o"):
            out += lin(p + "attention.attn." + n, C, C)
        out += ln(p + "attention.LayerNorm") + lin(p + "intermediate.dense", F, C) + lin(p + "output.dense", C, F)
        out += ln(p + "output.LayerNorm")
    return out


def make_tokenizer(src_vocab, dst):
    """MPNet's fast tokenizer as transformers builds it from a vocab.txt (see the module doc)."""
    from transformers import MPNetTokenizerFast
    words = [w.rstrip("\n") for w in open(src_vocab, encoding="utf-8")]
    vocab = {w: i for i, w in enumerate(["<s>", "<pad>", "</s>", "<unk>"] + words + ["<mask>"])}
    with tempfile.TemporaryDirectory() as tmp:
        tok = MPNetTokenizerFast(vocab=vocab, do_lower_case=True, unk_token="[UNK]", model_max_length=512)
        tok.save_pretrained(tmp)
        shutil.copy(os.path.join(tmp, "tokenizer.json"), os.path.join(dst, "tokenizer.json"))


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
        "generator": "scripts/gen_mpnet_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
        "shards": 1, "dtype": "F32",
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
    g.write_json(os.path.join(OUT, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    g.write_json(os.path.join(OUT, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["hidden_size"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    g.write_json(os.path.join(OUT, "sentence_bert_config.json"), {"max_seq_length": 384, "do_lower_case": False})
    make_tokenizer(os.path.join(args.tokenizer_dir, "vocab.txt"), OUT)
    # the tokenizer corpus through it, for tests/test_tokenizer_longctx.c
    from gen_longctx_fixtures import CORPUS, write_expected
    corpus = [json.loads(x)["text"] for x in open(CORPUS, encoding="utf-8")]
    fx = os.path.dirname(OUT)
    with open(os.path.join(fx, "corpus_extra.jsonl"), "w", encoding="utf-8") as f:
        for s in EXTRA_LINES:
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
    corpus_tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    corpus_tok.no_padding()
    corpus_tok.no_truncation()
    write_expected(corpus_tok, "mpnet (WordPiece, RobertaProcessing)", corpus, EXTRA_LINES,
                   os.path.join(fx, "mpnet_expected.jsonl"), extra_rel="tests/fixtures/mpnet/corpus_extra.jsonl")
    g.write_weights(OUT, tensors, SEED, 1)

    model = AutoModel.from_pretrained(OUT, attn_implementation="eager", dtype=torch.float32).eval()
    ref = {}
    for n in LENGTHS:
        rng = np.random.default_rng([SEED, n])
        ids = np.concatenate([[0], rng.integers(1000, cfg["vocab_size"], size=n - 2), [2]])[:n] if n > 1 \
            else np.array([0])
        with torch.no_grad():
            h = model(input_ids=torch.from_numpy(ids.astype(np.int64))[None]).last_hidden_state[0].numpy()
        ref["ids.len%d" % n] = ids.astype(np.int32)
        ref["hidden.len%d" % n] = h.astype(np.float32)
        ref["pooled_mean.len%d" % n] = h.mean(axis=0).astype(np.float32)
    st = sentence_transformers.SentenceTransformer(OUT, device="cpu")
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    for i, t in enumerate(TEXTS):
        ref["sentence.%d" % i] = st.encode([t], convert_to_numpy=True)[0].astype(np.float32)
        ref["ids.%d" % i] = np.array(tok.encode(t).ids, dtype=np.int32)
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder
    offsets = torch.arange(-511, 512)
    ref["buckets"] = MPNetEncoder.relative_position_bucket(offsets).numpy().astype(np.int32)
    save_file(ref, os.path.join(OUT, "reference.safetensors"), metadata={"generator": "scripts/gen_mpnet_fixtures.py"})
    g.write_json(os.path.join(OUT, "reference.json"), {
        "lengths": LENGTHS, "texts": TEXTS,
        "ids": "ids.lenN: <s>, uniform ids in [1000, vocab) (numpy default_rng([%d, N])), </s>" % SEED,
        "sentence": "sentence.<i>: SentenceTransformer(dir).encode([texts[i]]) (mean pooling, normalised)",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "hidden_absmax": float(max(np.abs(ref["hidden.len%d" % n]).max() for n in LENGTHS))})
    g.remove_weights(OUT)
    print(open(os.path.join(OUT, "reference.json")).read())


if __name__ == "__main__":
    main()
