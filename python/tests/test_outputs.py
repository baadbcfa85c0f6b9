"""Rerank scores and sparse vectors on random-initialised models of the real shapes
(tests/fixtures/rerank: ms-marco-MiniLM's and splade-v3's), against their transformers /
sentence-transformers references."""

import json
import os

import numpy as np
import pytest

import sutra
from conftest import SOURCE, make_fixture, read_safetensors


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    return make_fixture(tmp_path_factory, "tests/fixtures/rerank/minilm-ce", ["config.json"])


@pytest.fixture(scope="module")
def splade(tmp_path_factory):
    return make_fixture(tmp_path_factory, "tests/fixtures/rerank/splade",
                        ["config.json", "config_sentence_transformers.json", "modules.json",
                         "sentence_bert_config.json", "1_SpladePooling/config.json"])


def reference_of(name: str) -> tuple[dict, dict]:
    """A rerank fixture's reference.json and reference.safetensors."""
    src = os.path.join(SOURCE, "tests/fixtures/rerank", name)
    with open(os.path.join(src, "reference.json"), encoding="utf-8") as f:
        return json.load(f), read_safetensors(os.path.join(src, "reference.safetensors"))


def test_rerank(cross_encoder):
    meta, ref = reference_of("minilm-ce")
    m = sutra.Embedder(cross_encoder)
    assert "rerank" in m.outputs
    scores = m.rerank(meta["query"], meta["documents"])
    np.testing.assert_allclose(scores, ref["scores.full"], atol=1e-4)
    logits = m.rerank(meta["query"], meta["documents"], raw=True)
    np.testing.assert_allclose(logits, ref["logits.full"], atol=1e-4)
    ranked = m.rank(meta["query"], meta["documents"], top_k=3, return_documents=True)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-ref["scores.full"], kind="stable")[:3])
    assert ranked[0]["text"] == meta["documents"][ranked[0]["corpus_id"]]
    short = sutra.Embedder(cross_encoder, max_length=meta["short_limit"])
    np.testing.assert_allclose(short.rerank(meta["query"], meta["documents"]), ref["scores.len48"], atol=1e-4)
    assert m.rerank("q", []).shape == (0,)


def test_sparse(splade):
    meta, ref = reference_of("splade")
    m = sutra.Embedder(splade)
    assert "sparse" in m.outputs
    got = m.sparse(meta["texts"])
    assert len(got) == len(meta["texts"])
    for i, vec in enumerate(got):
        ids, w = ref[f"sparse_ids.{i}"], ref[f"sparse_w.{i}"]
        assert sorted(vec) == sorted(ids.tolist()), f"text {i}: other token ids"
        np.testing.assert_allclose([vec[k] for k in ids.tolist()], w, rtol=1e-4, atol=1e-4)
    tokens = m.convert_ids_to_tokens(list(got[0])[:3])
    assert all(isinstance(t, str) for t in tokens)
    with pytest.raises(sutra.UnsupportedError):
        m.rerank("q", ["d"])
