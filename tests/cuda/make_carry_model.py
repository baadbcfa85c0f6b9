#!/usr/bin/env python3
"""make_carry_model.py - a small copy of all-MiniLM-L6-v2 for test_cuda_model on a GPU machine
that cannot download it and receives the repository through a 64 MiB carry limit.

The copy keeps every transformer weight (converted to F16: the loader widens F16 to fp32, and the
CUDA backend rounds to fp16 anyway), but only the rows of the word-embedding table whose ids the
test's sentences use (`test_cuda_model --print-ids`), with those ids stored sorted in an I32
tensor `sutra_test.vocab_ids`; config.json gets the smaller vocab_size. test_cuda_model maps each
id to its row, so CPU and GPU run the same function as on the full model for those inputs.
The tokenizer and sentence-transformers files are copied unchanged. About 22 MB instead of 87.

Usage: make_carry_model.py SRC_MODEL_DIR DST_MODEL_DIR IDS_FILE
"""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

COPY = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "modules.json",
        "sentence_bert_config.json", "config_sentence_transformers.json"]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, ids_file = sys.argv[1:]
    ids = sorted({int(x) for x in open(ids_file).read().split()})
    if not ids:
        sys.exit("no ids in " + ids_file)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    out = {}
    for name, t in tensors.items():
        if not np.issubdtype(t.dtype, np.floating):
            continue  # position_ids and other integer buffers: the encoder does not read them
        if name.endswith("embeddings.word_embeddings.weight"):
            t = t[ids]
        out[name] = np.ascontiguousarray(t.astype(np.float16))
    out["sutra_test.vocab_ids"] = np.asarray(ids, dtype=np.int32)
    os.makedirs(dst, exist_ok=True)
    save_file(out, os.path.join(dst, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["vocab_size"] = len(ids)
    json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
    for f in COPY:
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
    for d in os.listdir(src):  # sentence-transformers module folders (1_Pooling, 2_Normalize)
        if os.path.isdir(os.path.join(src, d)) and d[0].isdigit():
            shutil.copytree(os.path.join(src, d), os.path.join(dst, d), dirs_exist_ok=True)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(dst) for f in fs)
    print(f"{dst}: {len(ids)} of {tensors[[n for n in tensors if n.endswith('word_embeddings.weight')][0]].shape[0]} "
          f"embedding rows, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
