"""sutra.Embedder on the default model: against sentence-transformers' vectors, the CLI's, and itself."""

import os
import subprocess

import numpy as np
import pytest

import sutra
from conftest import need_env

TEXTS = ["A man is playing a guitar.", "Someone plays guitar.", "The stock market fell sharply today.",
         "Ein Mann spielt Gitarre.", "", "Déjà vu 東京 🗼 naïve façade"]


def test_encode_matches_sentence_transformers(model, reference):
    items = reference["items"]
    texts = [it["text"] for it in items]
    want = np.array([it["embedding"] for it in items], dtype=np.float32)
    got = model.encode(texts)
    assert got.shape == want.shape and got.dtype == np.float32
    cos = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() >= 0.99999, f"worst cosine {cos.min()} at {texts[int(cos.argmin())]!r}"
    assert np.abs(got - want).max() <= 1e-4
    # token counts as sentence-transformers saw them
    for it in items[:20]:
        assert len(model.tokenize(it["text"])) == it["tokens"], it["text"]


def test_encode_semantics(model):
    one = model.encode("hello world")
    assert one.shape == (384,)
    many = model.encode(["hello world", "good night"], batch_size=1)
    assert many.shape == (2, 384)
    np.testing.assert_array_equal(one, many[0])
    rows = model.encode(["hello world"], convert_to_numpy=False)
    assert isinstance(rows, list) and rows[0].shape == (384,)
    cut = model.encode(["hello world"], truncate_dim=64)
    np.testing.assert_array_equal(cut[0], many[0][:64])
    cutn = model.encode(["hello world"], truncate_dim=64, normalize_embeddings=True)
    assert abs(np.linalg.norm(cutn[0]) - 1) < 1e-6
    np.testing.assert_allclose(cutn[0], many[0][:64] / np.linalg.norm(many[0][:64]), rtol=1e-6, atol=1e-7)
    assert model.encode([]).shape == (0, 384)
    with pytest.raises(ValueError):
        model.encode(["x"], output_value="token_embeddings")
    with pytest.raises(TypeError):
        model.encode(["x"], no_such_option=1)


def test_vectors_equal_the_cli_bit_for_bit(model, tmp_path):
    cli = need_env("SUTRA_CLI")
    texts = TEXTS[:4] + ["x " * 600, "Paris is the capital and most populous city of France."]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "out.npy"
    subprocess.run([cli, "embed", "--input", str(src), "--output", str(out)], check=True)
    want = np.load(out)
    got = model.embed(texts)
    assert want.dtype == np.float32 and want.shape == got.shape
    assert np.array_equal(got, want), f"max diff {np.abs(got - want).max()}"


def test_dimensions_prompt_and_info(tmp_path):
    m = sutra.Embedder("all-MiniLM-L6-v2", dimensions=128, max_length=64, threads=1)
    assert m.dim == 128 and m.max_tokens == 64
    v = m.embed(["hello"])
    assert v.shape == (1, 128) and abs(np.linalg.norm(v) - 1) < 1e-5
    info = m.info()
    assert info["architecture"] == "bert" and info["dim"] == 128 and info["device"] == "cpu"
    assert info["outputs"] == ["dense"] and m.outputs == {"dense"}
    raw = m.embed(["hello"], prompt="query: ")
    full = m.embed(["query: hello"])
    np.testing.assert_array_equal(raw, full)
    assert not np.array_equal(raw, v)
    np.testing.assert_array_equal(m.embed(["hello"]), v)  # the per-call prompt is put back
    st = m.stats()
    assert st["texts"] == 4 and st["batches"] >= 1
    m.close()
    with pytest.raises(sutra.SutraError, match="closed"):
        m.embed(["x"])


def test_windowed(model):
    short = ["a short text"]
    np.testing.assert_array_equal(model.embed_windowed(short), model.embed(short))
    long_text = " ".join(f"sentence number {i} says something about topic {i % 7}." for i in range(200))
    assert len(model.tokenize(long_text, truncation=False)) > 1000
    outs = {agg: model.embed_windowed([long_text], size=128, overlap=32, aggregate=agg)
            for agg in ("mean", "max", "weighted")}
    for agg, v in outs.items():
        assert v.shape == (1, 384) and abs(np.linalg.norm(v) - 1) < 1e-5, agg
    assert not np.allclose(outs["mean"], outs["max"])
    assert not np.array_equal(outs["mean"], model.embed([long_text]))
    with pytest.raises(sutra.SutraValueError, match="overlap"):
        model.embed_windowed([long_text], size=64, overlap=64)
    with pytest.raises(ValueError):
        model.embed_windowed([long_text], aggregate="median")


def test_late_chunks(model):
    text = "Berlin is the capital of Germany. It has 3.8 million people. Its TV tower is 368 m tall."
    starts = [0, text.index("It has"), text.index("Its TV")]
    vecs, spans = model.late_chunks(text, chunk_starts=starts)
    assert vecs.shape == (3, 384)
    assert spans == [(starts[0], starts[1]), (starts[1], starts[2]), (starts[2], len(text))]
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vecs)
    # with context: not the vector of the chunk alone
    alone = model.embed([text[starts[1]:starts[2]]])[0]
    assert float(vecs[1] @ alone) < 0.9999
    v2, spans2 = model.late_chunks("ü" * 3 + " word" * 50, chunk_tokens=16)
    assert len(spans2) == v2.shape[0] >= 3 and spans2[0][0] == 0
    with pytest.raises(ValueError):
        model.late_chunks(text, chunk_starts=[5, 2])


def test_tokenize(model):
    assert model.tokenize("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]
    ids, spans = model.tokenize("Hello, world!", return_offsets=True)
    assert spans[1] == (0, 5) and spans[0] == (-1, -1)
    assert model.tokenize("Hello", add_special_tokens=False) == [7592]
    assert model.convert_ids_to_tokens([101, 7592, 10**9]) == ["[CLS]", "hello", None]
    long_text = "word " * 1000
    assert len(model.tokenize(long_text)) == model.max_tokens
    assert len(model.tokenize(long_text, truncation=False)) == 1002


def test_errors_are_exceptions(model):
    with pytest.raises(sutra.ModelError, match="not found"):
        sutra.Embedder("/no/such/model")
    with pytest.raises(sutra.SutraValueError):
        sutra.Embedder("all-MiniLM-L6-v2", max_length=100000)
    with pytest.raises(ValueError, match="device"):
        sutra.Embedder("all-MiniLM-L6-v2", device="tpu")
    with pytest.raises(sutra.SutraValueError, match="Unicode"):
        model.embed(["fine", "bad \ud800 surrogate"])
    with pytest.raises(sutra.SutraValueError, match="NUL"):
        model.embed(["a\0b"])
    with pytest.raises(TypeError):
        model.embed([b"bytes"])
    with pytest.raises(TypeError):
        model.embed(b"bytes")
    with pytest.raises(sutra.SutraValueError, match="no prompt named"):
        model.embed(["x"], prompt_name="query")
    with pytest.raises(sutra.UnsupportedError, match="rerank"):
        model.rerank("q", ["d"])
    with pytest.raises(sutra.UnsupportedError, match="sparse"):
        model.sparse(["x"])
    err = None
    try:
        sutra.Embedder("all-MiniLM-L6-v2", dimensions=4096)
    except sutra.SutraError as exc:
        err = exc
    assert err is not None and err.status == -1 and "dimensions" in str(err)
    # the embedder still works after every failure
    assert model.embed(["still fine"]).shape == (1, 384)


def test_library_and_package_versions():
    assert sutra.library_version() == sutra.__version__
    # the wheel carries its own library, which is the one in use
    assert sutra.library()._name == os.path.join(os.path.dirname(sutra.__file__), "libsutra.so")
