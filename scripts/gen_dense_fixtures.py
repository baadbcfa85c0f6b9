#!/usr/bin/env python3
"""Builds the Dense-module test fixture: the default model (all-MiniLM-L6-v2, real weights, read
from --model-dir and not stored) with two sentence-transformers Dense modules after its mean
pooling and before its Normalize: 384 -> 256 with a bias and Tanh (sentence-transformers' default
activation), then 256 -> 128 without a bias and Identity (as EmbeddingGemma's two modules are).
The Dense weights are not stored but drawn from the seeded generator that tests/seeded_weights.c
reimplements (scripts/gen_qwen3_fixtures.py has it); the reference vectors are what
sentence-transformers gives for the whole pipeline.

Writes tests/fixtures/dense/minilm-2dense/: modules.json, 2_Dense/{config.json,weights.json},
3_Dense/{config.json,weights.json}, reference.safetensors (for text i: sentence.<i>, the
normalised 128-float vector; raw.<i>, the last Dense module's output before Normalize;
trunc64.<i>, the vector with truncate_dim=64, normalised again as Sutra's `dimensions` does), reference.json (the texts, versions).

Usage: python3 scripts/gen_dense_fixtures.py [--model-dir DIR]
       (default DIR: $SUTRA_MODELS_DIR or ~/.cache/sutra/models, then all-MiniLM-L6-v2)
Needs: torch, sentence-transformers, numpy, safetensors. CPU, seconds.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and the writers)

OUT = os.path.join(ROOT, "tests", "fixtures", "dense", "minilm-2dense")
SEED = 20261209
# (folder, in, out, bias, activation as torch names its module)
DENSE = [("2_Dense", 384, 256, True, "torch.nn.modules.activation.Tanh"),
         ("3_Dense", 256, 128, False, "torch.nn.modules.linear.Identity")]
TEXTS = ["What is the capital of France?",
         "Paris is the capital and most populous city of France, known for the Eiffel Tower.",
         "how do magnets work",
         "Déjà vu: the feeling of having already lived through the present situation. 東京 🗼",
         "A man is playing a guitar.",
         " ".join(["the quick brown fox jumps over the lazy dog"] * 40)]


def recipe(n_in, n_out, bias):
    out = [("linear.weight", [n_out, n_in], 0.0, math.sqrt(3.0 / n_in))]
    return out + ([("linear.bias", [n_out], 0.0, 0.1)] if bias else [])


def main():
    ap = argparse.ArgumentParser()
    models = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
    ap.add_argument("--model-dir", default=os.path.join(models, "all-MiniLM-L6-v2"))
    args = ap.parse_args()
    import sentence_transformers
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for i, (folder, n_in, n_out, bias, act) in enumerate(DENSE):
        modules.append({"idx": 2 + i, "name": str(2 + i), "path": folder, "type": "sentence_transformers.models.Dense"})
        os.makedirs(os.path.join(OUT, folder))
        g.write_json(os.path.join(OUT, folder, "config.json"),
                     {"in_features": n_in, "out_features": n_out, "bias": bias, "activation_function": act})
        g.write_json(os.path.join(OUT, folder, "weights.json"), {
            "generator": "scripts/gen_dense_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED + i,
            "shards": 1, "dtype": "F32",
            "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in recipe(n_in, n_out, bias)]},
            indent=1)
    modules.append({"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"})
    g.write_json(os.path.join(OUT, "modules.json"), modules)

    with tempfile.TemporaryDirectory() as tmp:  # the whole model, as the test assembles it
        for fn in os.listdir(args.model_dir):
            src = os.path.join(args.model_dir, fn)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(tmp, fn))
        shutil.copy(os.path.join(OUT, "modules.json"), tmp)
        for i, (folder, n_in, n_out, bias, _) in enumerate(DENSE):
            shutil.copytree(os.path.join(OUT, folder), os.path.join(tmp, folder))
            g.write_weights(os.path.join(tmp, folder), recipe(n_in, n_out, bias), SEED + i, 1)
        st = SentenceTransformer(tmp, device="cpu")
        st64 = SentenceTransformer(tmp, device="cpu", truncate_dim=64)
        ref = {}
        for i, t in enumerate(TEXTS):
            ref["sentence.%d" % i] = st.encode([t], convert_to_numpy=True)[0].astype(np.float32)
            # truncated, then normalised again (sentence-transformers truncates after its Normalize module)
            ref["trunc64.%d" % i] = st64.encode([t], convert_to_numpy=True, normalize_embeddings=True)[0].astype(np.float32)
            feats = st.tokenize([t])
            with torch.no_grad():
                for m in list(st)[:-1]:  # every module but Normalize
                    feats = m(feats)
            ref["raw.%d" % i] = feats["sentence_embedding"][0].numpy().astype(np.float32)
        assert len(st) == 5, [type(m).__name__ for m in st]
    save_file(ref, os.path.join(OUT, "reference.safetensors"), metadata={"generator": "scripts/gen_dense_fixtures.py"})
    g.write_json(os.path.join(OUT, "reference.json"), {
        "texts": TEXTS, "base_model": "all-MiniLM-L6-v2 (the default model, real weights)",
        "versions": {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__}})
    print(open(os.path.join(OUT, "reference.json")).read())


if __name__ == "__main__":
    main()
