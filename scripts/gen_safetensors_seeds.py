#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_safetensors: small valid files made by the reference
`safetensors` package (so the seeds are what real writers emit, padding included) and a few
malformed ones next to them. Run from anywhere; rerunning rewrites the same bytes.

    python3 scripts/gen_safetensors_seeds.py [OUTDIR]
"""
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus", "fuzz_safetensors")


def raw(header, data=b""):
    """A file image from a header given as text (for malformed seeds the writer would refuse)."""
    h = header.encode("utf-8") if isinstance(header, str) else header
    return struct.pack("<Q", len(h)) + h + data


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        # One tensor of each kind that the engine reads, plus metadata.
        "valid_mixed.safetensors": save(
            {
                "w": np.arange(6, dtype=np.float32).reshape(2, 3),
                "ids": np.arange(4, dtype=np.int64).reshape(1, 4),
                "h": np.array([1.5, -2.0], dtype=np.float16),
            },
            metadata={"format": "pt"},
        ),
        # Every remaining dtype numpy can express, a scalar and an empty tensor.
        "valid_dtypes.safetensors": save(
            {
                "f64": np.array([3.25], dtype=np.float64),
                "i32": np.array([-1, 2], dtype=np.int32),
                "i16": np.array([7], dtype=np.int16),
                "i8": np.array([-8, 9, 10], dtype=np.int8),
                "u64": np.array([1], dtype=np.uint64),
                "u32": np.array([2], dtype=np.uint32),
                "u16": np.array([3], dtype=np.uint16),
                "u8": np.array([4, 5], dtype=np.uint8),
                "b": np.array([True, False]),
                "scalar": np.array(42.0, dtype=np.float32),
                "empty": np.zeros((0, 3), dtype=np.float32),
            }
        ),
        # Eight dimensions, the most the reader takes.
        "valid_8d.safetensors": save({"t": np.ones((1, 2, 1, 2, 1, 1, 2, 1), dtype=np.uint8)}),
        "valid_empty.safetensors": save({}),
    }
    one = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    seeds["bad_shape_mismatch.safetensors"] = raw(
        json.dumps({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), bytes(8))
    seeds["bad_overlap.safetensors"] = raw(
        json.dumps(dict(one, b={"dtype": "U8", "shape": [4], "data_offsets": [4, 8]})), bytes(8))
    seeds["bad_truncated.safetensors"] = raw(json.dumps(one), bytes(5))
    seeds["bad_json.safetensors"] = raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]', bytes(8))
    for name, blob in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
        print(f"{name}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
