#!/usr/bin/env python3
"""Builds the fixtures of the torch.save reader (tests/test_torch_ckpt.c, src/model/torch_ckpt.c):
real torch.save checkpoints whose safetensors twins the test has or writes, hostile files it must
refuse, and the seeds of its fuzz harness. Everything under tests/fixtures/torch_ckpt (README.md
there, written by hand, says what each file is) and fuzz/corpus/fuzz_torch_ckpt is written here.

  tiny-xlmr/          an XLM-R sentence encoder cut down to 32 wide, 2 layers, 2 heads, 64 FFN, 130
                      positions, the XLM-R fixture's 4002-piece vocabulary (tests/fixtures/longctx/xlmr),
                      mean pooling, a Dense module (32 -> 16, Tanh), Normalize. Its weights are drawn
                      from the seeded generator (weights.json, 2_Dense/weights.json: the test writes
                      the model.safetensors twins) and saved as older libraries saved them:
        pytorch_model.bin         torch.save(model.state_dict()): an OrderedDict with _metadata
        sharded/                  the same tensors as transformers 4 sharded them: plain dicts in
                                  pytorch_model-0000{1,2}-of-00002.bin and pytorch_model.bin.index.json
        2_Dense/pytorch_model.bin torch.save(dense.state_dict()), as sentence-transformers 2 saved it
  dtypes.bin          a plain dict of one tensor per dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8,
                      BOOL) and the views a storage can be shared by: the same tensor twice, a row at a
                      storage offset, a transpose, a column stride, a zero stride (expand), a scalar,
                      an empty tensor, an nn.Parameter (torch._utils._rebuild_parameter)
  dtypes_p4.bin       the same saved with pickle protocol 4
  dtypes.safetensors  their twin: each tensor contiguous, written by the safetensors library
  bge-m3/             bge-m3's two heads as its repository ships them (torch.save of each Linear's
                      state_dict): sparse_linear.pt from tests/fixtures/rerank/bge-m3/sparse_linear.json,
                      colbert_linear.pt from colbert_linear.json here (16 rows instead of 1024 to keep
                      the file small); the test writes the .safetensors twins from the same recipes
  bad/                files the reader must refuse (see README.md)

Usage: /work/refenv/bin/python scripts/gen_torch_ckpt_fixtures.py
Needs: torch, transformers, sentence-transformers, numpy, safetensors. CPU, seconds.
"""
import collections
import io
import math
import os
import pickle
import shutil
import sys
import zipfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and write_json)

FX = os.path.join(ROOT, "tests", "fixtures", "torch_ckpt")
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "fuzz_torch_ckpt")
SEED = 20261215


def recipe(state, seed):
    """(name, shape, centre, half-width) of every tensor (gen_qwen3_fixtures.init_range)."""
    out = []
    for name, t in state.items():
        assert t.is_floating_point(), name
        shape = list(t.shape)
        out.append((name, shape, *g.init_range(name, shape)))
    return out


def save_recipe(path, tensors, seed, note):
    g.write_json(path, {
        "generator": "scripts/gen_torch_ckpt_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": seed,
        "shards": 1, "dtype": "F32", "note": note,
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)


def seeded_state(module, seed):
    """module's weights drawn from the generator; returns the recipe."""
    tensors = recipe(module.state_dict(), seed)
    module.load_state_dict({n: torch.from_numpy(g.seeded(n, s, c, h, seed)) for (n, s, c, h) in tensors})
    return tensors


def tiny_xlmr():
    from sentence_transformers.models import Dense
    from transformers import XLMRobertaConfig, XLMRobertaModel
    out = os.path.join(FX, "tiny-xlmr")
    os.makedirs(out, exist_ok=True)
    cfg = {"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_size": 32,
           "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
           "max_position_embeddings": 130, "type_vocab_size": 1, "vocab_size": 4002, "layer_norm_eps": 1e-5,
           "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "position_embedding_type": "absolute"}
    g.write_json(os.path.join(out, "config.json"), cfg)
    model = XLMRobertaModel(XLMRobertaConfig(**cfg), add_pooling_layer=False).eval()
    tensors = seeded_state(model, SEED)
    save_recipe(os.path.join(out, "weights.json"), tensors, SEED,
                "XLM-R cut to 32 wide and 2 layers, the XLM-R fixture's 4002-piece vocabulary")
    sd = model.state_dict()
    assert hasattr(sd, "_metadata") and len(sd) == len(tensors)
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    # transformers 4's sharding: plain dicts of tensors, an index naming each tensor's shard
    names = list(sd)
    parts = [names[:1], names[1:]]
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)
    weight_map = {}
    for k, part in enumerate(parts):
        fn = "pytorch_model-%05d-of-%05d.bin" % (k + 1, len(parts))
        torch.save({n: sd[n] for n in part}, os.path.join(out, "sharded", fn))
        weight_map.update({n: fn for n in part})
    g.write_json(os.path.join(out, "sharded", "pytorch_model.bin.index.json"), {
        "metadata": {"total_size": sum(t.numel() * 4 for t in sd.values())}, "weight_map": weight_map})

    dense = Dense(32, 16, bias=True, activation_function=torch.nn.Tanh())
    os.makedirs(os.path.join(out, "2_Dense"), exist_ok=True)
    dt = seeded_state(dense, SEED + 1)
    save_recipe(os.path.join(out, "2_Dense", "weights.json"), dt, SEED + 1, "Dense 32 -> 16")
    g.write_json(os.path.join(out, "2_Dense", "config.json"), {
        "in_features": 32, "out_features": 16, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh"})
    torch.save(dense.state_dict(), os.path.join(out, "2_Dense", "pytorch_model.bin"))

    g.write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    g.write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    g.write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": 128, "do_lower_case": False})


def dtypes_state():
    gen = torch.Generator().manual_seed(SEED)
    base = torch.randn(3, 4, generator=gen)
    sd = {
        "f32": base,
        "same": base,                # the same tensor object: one memo entry, read twice
        "row": base[1],              # a view at storage offset 4
        "transposed": base.t(),      # strides (1, 4)
        "columns": base[:, ::2],     # strides (4, 2)
        "expanded": torch.randn(1, 3, generator=gen).expand(4, 3),  # stride 0
        "f16": torch.randn(5, generator=gen).half(),
        "bf16": torch.randn(2, 3, generator=gen).bfloat16(),
        "f64": torch.randn(3, generator=gen).double(),
        "i64": torch.tensor([-(2 ** 40), -1, 0, 2 ** 40]),
        "i32": torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-300, 12], dtype=torch.int16),
        "i8": torch.tensor([-128, 5, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 5),
        "param": torch.nn.Parameter(torch.randn(2, 2, generator=gen)),
    }
    return sd


def dtypes():
    from safetensors.torch import save_file
    sd = dtypes_state()
    torch.save(sd, os.path.join(FX, "dtypes.bin"))
    # the same with pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL), as torch.save(...,
    # pickle_protocol=4) writes it
    torch.save(sd, os.path.join(FX, "dtypes_p4.bin"), pickle_protocol=4)
    save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, os.path.join(FX, "dtypes.safetensors"),
              metadata={"generator": "scripts/gen_torch_ckpt_fixtures.py"})


def bge_m3():
    out = os.path.join(FX, "bge-m3")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(ROOT, "tests", "fixtures", "rerank", "bge-m3", "sparse_linear.json")
    import json
    with open(src) as f:
        sp = json.load(f)
    lin = torch.nn.Linear(1024, 1)
    lin.load_state_dict({t["name"]: torch.from_numpy(g.seeded(t["name"], t["shape"], t["centre"], t["half_width"],
                                                              sp["seed"])) for t in sp["tensors"]})
    torch.save(lin.state_dict(), os.path.join(out, "sparse_linear.pt"))
    cb = torch.nn.Linear(1024, 16)
    ts = [("weight", [16, 1024], 0.0, math.sqrt(3.0 / 1024)), ("bias", [16], 0.0, 0.1)]
    cb.load_state_dict({n: torch.from_numpy(g.seeded(n, s, c, h, SEED + 2)) for (n, s, c, h) in ts})
    save_recipe(os.path.join(out, "colbert_linear.json"), ts, SEED + 2,
                "bge-m3's colbert_linear cut to 16 rows (the real one is 1024 x 1024)")
    torch.save(cb.state_dict(), os.path.join(out, "colbert_linear.pt"))


# ---- hostile files ----------------------------------------------------------------------------

def put(z, name, data):
    """One entry with a fixed date, so that the files come out the same on every run."""
    z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, compress_type=z.compression)


def zip_ckpt(path, pkl, storages=None, byteorder=b"little", compress=zipfile.ZIP_STORED, prefix="archive"):
    """A zip laid out as torch.save lays it out, from a pickle and storages of our own making."""
    with zipfile.ZipFile(path, "w", compress) as z:
        put(z, prefix + "/data.pkl", pkl)
        if byteorder is not None:
            put(z, prefix + "/byteorder", byteorder)
        for k, b in (storages or {}).items():
            put(z, prefix + "/data/" + k, b)
        put(z, prefix + "/version", b"3\n")


def torch_zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


class Storage:
    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, numel


class Tensor:
    """Pickles as torch.save pickles a tensor, with whatever offset, size and stride it is given."""
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel)
        return None


def craft(obj):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class RunsSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def bad():
    out = os.path.join(FX, "bad")
    os.makedirs(out, exist_ok=True)
    arg = "echo pwned".encode()
    s = lambda b: b"X" + len(b).to_bytes(4, "little") + b  # noqa: E731  (BINUNICODE)
    small = {"w": torch.arange(4, dtype=torch.float32)}
    ok = os.path.join(out, "..", "small.tmp")
    torch.save(small, ok)
    good = torch_zip_entries(ok)
    os.remove(ok)
    pkl = [b for (n, b) in good if n.endswith("data.pkl")][0]

    files = {
        # GLOBAL os.system + REDUCE, written by hand
        "os_system.pt": b"\x80\x02cos\nsystem\n" + s(arg) + b"\x85R.",
        # what pickle itself writes for an object whose __reduce__ returns os.system (posix.system on Linux)
        "posix_system.pt": pickle.dumps(RunsSystem(), protocol=2),
        "builtins_eval.pt": b"\x80\x02cbuiltins\neval\n" + s(b"__import__('os').system('echo pwned')") + b"\x85R.",
        # protocol 4's way to name a callable
        "stack_global_exec.pt": b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93" + s(b"print(1)") + b"\x85R.",
        # INST imports and calls in one opcode
        "inst_opcode.pt": b"\x80\x02(" + s(arg) + b"ios\nsystem\n.",
        "unknown_opcode.pt": b"\x80\x02}\xff.",
        "truncated.pt": pkl[:len(pkl) // 2],
    }
    for name, p in files.items():
        zip_ckpt(os.path.join(out, name), p)
    # a real checkpoint without its storage
    with zipfile.ZipFile(os.path.join(out, "missing_storage.pt"), "w") as z:
        for n, b in good:
            if not n.endswith("/data/0"):
                put(z, n, b)
    # a real checkpoint that says it is big-endian
    with zipfile.ZipFile(os.path.join(out, "big_endian.pt"), "w") as z:
        for n, b in good:
            put(z, n, b"big" if n.endswith("/byteorder") else b)
    # a real checkpoint with its entries deflated (torch.save stores them)
    with zipfile.ZipFile(os.path.join(out, "compressed.pt"), "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in good:
            put(z, n, b)
    # a tensor of 3 elements over a storage of 2
    st = Storage("0", torch.FloatStorage, 2)
    zip_ckpt(os.path.join(out, "past_storage.pt"), craft({"w": Tensor(st, 0, (3,), (1,))}),
             {"0": np.zeros(2, np.float32).tobytes()})
    # strides whose reach overflows 64 bits
    zip_ckpt(os.path.join(out, "stride_overflow.pt"), craft({"w": Tensor(st, 0, (3, 3), (2 ** 63 - 1, 2 ** 63 - 1))}),
             {"0": np.zeros(2, np.float32).tobytes()})
    # the format of PyTorch before 1.6
    torch.save(small, os.path.join(out, "legacy.bin"), _use_new_zipfile_serialization=False)
    return files, good


def corpus(bad_pickles, good):
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    os.makedirs(CORPUS)
    shutil.copy(os.path.join(FX, "dtypes.bin"), os.path.join(CORPUS, "valid_dtypes.pt"))
    shutil.copy(os.path.join(FX, "bge-m3", "sparse_linear.pt"), os.path.join(CORPUS, "valid_ordered_dict.pt"))
    for name in ("os_system.pt", "past_storage.pt", "missing_storage.pt", "legacy.bin", "truncated.pt"):
        shutil.copy(os.path.join(FX, "bad", name), os.path.join(CORPUS, "bad_" + name))
    # raw pickles for the harness's pickle-only path
    for src, name in ((os.path.join(FX, "dtypes.bin"), "valid_dtypes.pkl"),
                      (os.path.join(FX, "dtypes_p4.bin"), "valid_dtypes_p4.pkl"),
                      (os.path.join(FX, "bge-m3", "sparse_linear.pt"), "valid_ordered_dict.pkl"),
                      (os.path.join(FX, "tiny-xlmr", "sharded", "pytorch_model-00001-of-00002.bin"), "valid_shard.pkl")):
        with zipfile.ZipFile(src) as z:
            data = [z.read(n) for n in z.namelist() if n.endswith("/data.pkl")][0]
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    for name, p in bad_pickles.items():
        with open(os.path.join(CORPUS, "bad_" + name.replace(".pt", ".pkl")), "wb") as f:
            f.write(p)


def main():
    torch.manual_seed(0)
    os.makedirs(FX, exist_ok=True)
    tiny_xlmr()
    dtypes()
    bge_m3()
    bad_pickles, good = bad()
    corpus(bad_pickles, good)
    print("wrote", FX, "and", CORPUS)


if __name__ == "__main__":
    main()
