#!/usr/bin/env python3
"""Scores of a rerank fixture (tests/fixtures/rerank/NAME, its model folder made with
make_fixture_dir) through the CLI under several device settings, beside the reference: which
setting moves a GPU score away from it. Usage: rerank_settings.py SUTRA MAKE_FIXTURE_DIR NAME"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

sutra, tool, name = sys.argv[1:4]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "tests/fixtures/rerank", name)
meta = json.load(open(os.path.join(src, "reference.json"), encoding="utf-8"))
raw = open(os.path.join(src, "reference.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
a, b = hdr["scores.full"]["data_offsets"]
ref = np.frombuffer(raw[8 + n + a:8 + n + b], np.float32)
dst = f"/tmp/fixture-{name}"
if not os.path.isdir(dst):
    subprocess.run([tool, src, dst, "config.json"], check=True)
docs = meta["documents"]
settings = [["--device", "cpu"], ["--device", "cuda"], ["--device", "cuda", "--attention", "standard"],
            ["--device", "cuda", "--gpu-graphs", "off"], ["--device", "cuda", "--gpu-dtype", "bf16"],
            ["--device", "cuda", "--gpu-gemm", "cublaslt"], ["--device", "cuda", "--batch-tokens", "64"]]
print(f"{name}: reference {np.round(ref, 4).tolist()}")
for s in settings:
    r = subprocess.run([sutra, "rerank", "--model", dst, "--query", meta["query"], *s, *docs], capture_output=True,
                       text=True)
    if r.returncode:
        print(" ".join(s), "FAILED", r.stderr.strip()[-300:])
        continue
    got = np.zeros(len(docs), np.float32)
    for line in r.stdout.splitlines():
        o = json.loads(line)
        got[o["index"]] = o["score"]
    print(f"{' '.join(s):<40} max diff {np.abs(got - ref).max():.4f}  {np.round(got, 4).tolist()}")
