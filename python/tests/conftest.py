"""What the package's tests share. CTest (tests/CMakeLists.txt, python_package) runs them in a fresh
virtual environment where `pip install .` put the package, and says where the rest is:
  SUTRA_SOURCE_DIR    the repository (fixtures); default: two folders up from here
  SUTRA_CLI           the CLI of the same build, for the bit-for-bit comparison
  SUTRA_FIXTURE_TOOL  tests/tools/make_fixture_dir of that build (random-initialised models)
  SUTRA_MODELS_DIR    where the default model is
A test whose input is missing fails: none of these is optional under CTest."""

import json
import os
import struct
import subprocess

import numpy as np
import pytest

import sutra

SOURCE = os.environ.get("SUTRA_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def need_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"${name} is not set (CTest sets it; see conftest.py)")
    return value


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (F32 / I32 / I64 only: what the references hold)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    kinds = {"F32": np.float32, "I32": np.int32, "I64": np.int64}
    out = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[key] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
    return out


@pytest.fixture(scope="session")
def model() -> sutra.Embedder:
    return sutra.Embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def reference() -> dict:
    with open(os.path.join(SOURCE, "tests/fixtures/minilm_embeddings.json"), encoding="utf-8") as f:
        return json.load(f)


def make_fixture(tmp_path_factory, rel: str, files: list[str]) -> str:
    tool = need_env("SUTRA_FIXTURE_TOOL")
    dst = str(tmp_path_factory.mktemp(os.path.basename(rel)))
    subprocess.run([tool, os.path.join(SOURCE, rel), dst, *files], check=True)
    return dst
