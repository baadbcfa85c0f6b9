#!/usr/bin/env python3
"""Writes a random-initialised BERT model directory for benchmarks (never committed):

  python3 bench/make_random_bert.py OUT_DIR [--layers 12 --hidden 768 --heads 12 --ffn 3072 --positions 8192]

Weights are normal(0, 0.02) float32 (LayerNorm weights 1, biases 0), as BERT's initialiser
draws them; the tokenizer files are the default model's (its 30522-token vocabulary is
bert-base's). Needs numpy only.
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--layers", type=int, default=12)
ap.add_argument("--hidden", type=int, default=768)
ap.add_argument("--heads", type=int, default=12)
ap.add_argument("--ffn", type=int, default=3072)
ap.add_argument("--positions", type=int, default=8192)
ap.add_argument("--vocab", type=int, default=30522)
a = ap.parse_args()

src = os.path.join(os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models")), "all-MiniLM-L6-v2")
os.makedirs(a.out, exist_ok=True)
for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
    shutil.copy(os.path.join(src, f), a.out)
cfg = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": a.vocab, "hidden_size": a.hidden,
       "num_hidden_layers": a.layers, "num_attention_heads": a.heads, "intermediate_size": a.ffn,
       "max_position_embeddings": a.positions, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
       "hidden_act": "gelu", "pad_token_id": 0, "position_embedding_type": "absolute"}
with open(os.path.join(a.out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=1)

rng = np.random.default_rng(0)
C, F = a.hidden, a.ffn
shapes = {"embeddings.word_embeddings.weight": (a.vocab, C),
          "embeddings.position_embeddings.weight": (a.positions, C),
          "embeddings.token_type_embeddings.weight": (2, C),
          "embeddings.LayerNorm.weight": (C,), "embeddings.LayerNorm.bias": (C,)}
for l in range(a.layers):
    p = f"encoder.layer.{l}."
    for n in ("query", "key", "value"):
        shapes[p + f"attention.self.{n}.weight"] = (C, C)
        shapes[p + f"attention.self.{n}.bias"] = (C,)
    shapes.update({p + "attention.output.dense.weight": (C, C), p + "attention.output.dense.bias": (C,),
                   p + "attention.output.LayerNorm.weight": (C,), p + "attention.output.LayerNorm.bias": (C,),
                   p + "intermediate.dense.weight": (F, C), p + "intermediate.dense.bias": (F,),
                   p + "output.dense.weight": (C, F), p + "output.dense.bias": (C,),
                   p + "output.LayerNorm.weight": (C,), p + "output.LayerNorm.bias": (C,)})
header, off = {}, 0
for name, shape in shapes.items():
    n = int(np.prod(shape)) * 4
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for name, shape in shapes.items():
        if name.endswith("LayerNorm.weight"):
            x = np.ones(shape, np.float32)
        elif name.endswith("bias"):
            x = np.zeros(shape, np.float32)
        else:
            x = rng.normal(0, 0.02, shape).astype(np.float32)
        f.write(x.tobytes())
print(f"wrote {a.out}: {a.layers} layers, hidden {C}, {a.heads} heads, ffn {F}, {a.positions} positions, "
      f"{off / 2**20:.0f} MiB")
