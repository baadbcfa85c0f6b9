#!/usr/bin/env python3
"""Models by hub id, end to end, against the mock hub (tests/hub/mock_hub.py) on 127.0.0.1:

  pull      `sutra models pull` writes huggingface_hub's cache layout (refs, snapshots linking
            into blobs, no ONNX copies), and the model then embeds offline exactly as its folder does
  interop   a cache written by the real huggingface_hub client is read by Sutra, and one written
            by Sutra is read by huggingface_hub (local_files_only, scan_cache_dir)
  resume    a transfer cut off mid-file is resumed with a Range request; so is an .incomplete file
            left by an earlier run
  checksum  a blob whose bytes do not match the announced sha256 is refused, nothing kept
  gated     no token: a clear error; the right token: the download; a wrong one: refused
  missing   unknown repository and unknown revision: 404 errors that say so
  together  two pulls of one model at once: both succeed, each blob is downloaded once
  layouts   a sentence-transformers folder with its transformer in 0_Transformer/ embeds as the
            flat one does (from a directory and by hub id); a renamed repository is followed; a
            repository with PyTorch weights only is pulled (its .bin files, not its shards folder)
  offline   a model not in the cache with --offline: an error that says offline
  list/rm   `sutra models list` shows cached models; `sutra models rm` deletes one
  serve     `sutra serve --model org/name` downloads it and serves it under that name

Usage: test_hub.py --sutra build/sutra [--only NAME,...]. Needs huggingface_hub (the test venv,
scripts/install-pydeps.sh); without it the interop case is skipped and the rest run.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
from server_util import Server, post_json, venv_python, write_safetensors  # noqa: E402

TOKEN = "hf_mock_token"
TEXTS = ["The cat sat on the mat.", "Hubs hold models; caches keep them.", "Ein Mann spielt Gitarre."]


def ensure_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError:
        py = venv_python()
        if os.path.exists(py) and os.path.abspath(sys.executable) != os.path.abspath(py) \
                and not os.environ.get("SUTRA_TEST_REEXEC"):
            os.environ["SUTRA_TEST_REEXEC"] = "1"
            os.execv(py, [py, __file__] + sys.argv[1:])
        print("SKIP: numpy missing; run scripts/install-pydeps.sh", flush=True)
        sys.exit(77)


def default_model_dir():
    base = os.environ.get("SUTRA_MODELS_DIR") or os.path.expanduser("~/.cache/sutra/models")
    return os.path.join(base, "all-MiniLM-L6-v2")


def make_models(root):
    """A random-initialised BERT of MiniLM's vocabulary, small (hidden 32, 2 layers), with the
    default model's tokenizer: the flat sentence-transformers layout, the older one with the
    transformer in 0_Transformer/, and decoys a pull must leave alone."""
    import numpy as np
    src = default_model_dir()
    if not os.path.exists(os.path.join(src, "tokenizer.json")):
        print(f"SKIP: the default model's tokenizer is not at {src} (run `make model`)", flush=True)
        sys.exit(77)
    rng = np.random.default_rng(20261207)
    C, F, L, V, P = 32, 64, 2, 30522, 512

    def w(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    t = {"embeddings.word_embeddings.weight": w(V, C), "embeddings.position_embeddings.weight": w(P, C),
         "embeddings.token_type_embeddings.weight": w(2, C),
         "embeddings.LayerNorm.weight": 1 + w(C), "embeddings.LayerNorm.bias": w(C)}
    for i in range(L):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            t[p + f"attention.self.{n}.weight"], t[p + f"attention.self.{n}.bias"] = w(C, C), w(C)
        t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = w(C, C), w(C)
        t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"] = 1 + w(C), w(C)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(F, C), w(F)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(C, F), w(C)
        t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = 1 + w(C), w(C)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": C, "num_hidden_layers": L,
           "num_attention_heads": 2, "intermediate_size": F, "hidden_act": "gelu", "vocab_size": V,
           "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0}
    tok_files = [f for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
                 if os.path.exists(os.path.join(src, f))]
    pooling = {"word_embedding_dimension": C, "pooling_mode_mean_tokens": True}

    def dump(path, obj):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(obj, f)

    flat = os.path.join(root, "flat")
    os.makedirs(flat)
    write_safetensors(os.path.join(flat, "model.safetensors"), t)
    dump(os.path.join(flat, "config.json"), cfg)
    for f in tok_files:
        shutil.copy(os.path.join(src, f), flat)
    dump(os.path.join(flat, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    dump(os.path.join(flat, "1_Pooling", "config.json"), pooling)
    dump(os.path.join(flat, "sentence_bert_config.json"), {"max_seq_length": 128, "do_lower_case": False})
    # what a pull must not fetch: other formats and training leftovers
    os.makedirs(os.path.join(flat, "onnx"))
    with open(os.path.join(flat, "onnx", "model.onnx"), "wb") as f:
        f.write(os.urandom(300000))
    with open(os.path.join(flat, "README.md"), "w") as f:
        f.write("# tiny\n")
    with open(os.path.join(flat, "training_args.bin"), "wb") as f:
        f.write(os.urandom(5000))

    old = os.path.join(root, "old")
    tf = os.path.join(old, "0_Transformer")
    os.makedirs(tf)
    for f in ["model.safetensors", "config.json"] + tok_files:
        shutil.copy(os.path.join(flat, f), tf)
    dump(os.path.join(tf, "sentence_bert_config.json"), {"max_seq_length": 128, "do_lower_case": False})
    dump(os.path.join(old, "modules.json"), [
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    dump(os.path.join(old, "1_Pooling", "config.json"), pooling)

    # PyTorch weights only (tests/fixtures/torch_ckpt/tiny-xlmr: pytorch_model.bin, a Dense module's
    # pytorch_model.bin, and .bin shards in sharded/, a folder no module names), the XLM-R tokenizer
    binrepo = os.path.join(root, "bin")
    fx = os.path.join(HERE, "..", "fixtures")
    shutil.copytree(os.path.join(fx, "torch_ckpt", "tiny-xlmr"), binrepo)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
        shutil.copy(os.path.join(fx, "longctx", "xlmr", f), binrepo)
    return flat, old, binrepo


class Mock:
    def __init__(self, repos):
        args = [sys.executable, os.path.join(HERE, "mock_hub.py"), "--port", "0"]
        for r in repos:
            args += ["--repo", r]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.p.stdout.readline()
        if "listening on" not in line:
            raise AssertionError(f"mock hub did not start: {line}{self.p.stdout.read()}")
        self.url = line.split()[-1]
        self.sha = {}
        for _ in repos:
            parts = self.p.stdout.readline().split()
            self.sha[parts[1]] = parts[3]
        threading.Thread(target=self.p.stdout.read, daemon=True).start()

    def control(self, obj):
        req = urllib.request.Request(self.url + "/_control", data=json.dumps(obj).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def log(self):
        return json.loads(urllib.request.urlopen(self.url + "/_log", timeout=10).read())

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


class Ctx:
    def __init__(self, sutra, tmp, mock):
        self.sutra, self.tmp, self.mock = sutra, tmp, mock
        self.n = 0

    def fresh(self):
        """A new, empty hub cache and HF_HOME (no token file)."""
        self.n += 1
        d = os.path.join(self.tmp, f"case{self.n}")
        os.makedirs(os.path.join(d, "hfhome"))
        os.makedirs(os.path.join(d, "models"))
        return d

    def env(self, case, endpoint=True):
        e = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        e.update({"HF_HUB_CACHE": os.path.join(case, "cache"), "HF_HOME": os.path.join(case, "hfhome"),
                  "SUTRA_MODELS_DIR": os.path.join(case, "models"), "OMP_WAIT_POLICY": "PASSIVE"})
        if endpoint:
            e["HF_ENDPOINT"] = self.mock.url
        return e

    def run(self, case, *args, ok=True, endpoint=True, extra_env=None):
        env = self.env(case, endpoint)
        env.update(extra_env or {})
        p = subprocess.run([self.sutra, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           timeout=300)
        if ok and p.returncode != 0:
            raise AssertionError(f"sutra {' '.join(args)} failed ({p.returncode}): {p.stderr[-3000:]}")
        if not ok and p.returncode == 0:
            raise AssertionError(f"sutra {' '.join(args)} succeeded but should not have: {p.stdout[-500:]}")
        return p

    def embed(self, case, model, *extra, endpoint=True):
        return self.run(case, "embed", "--model", model, "--threads", "1", *extra, *TEXTS, endpoint=endpoint).stdout


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def check_layout(cache, repo, sha, flat):
    """huggingface_hub's layout: refs/main holds the commit; every snapshot file is a relative
    symlink into blobs/ with the source's bytes; no ONNX, README or training leftovers; nothing
    half-written."""
    rd = os.path.join(cache, "models--" + repo.replace("/", "--"))
    with open(os.path.join(rd, "refs", "main")) as f:
        expect(f.read().strip() == sha, "refs/main does not hold the commit")
    snap = os.path.join(rd, "snapshots", sha)
    got = set()
    for root, _, names in os.walk(snap):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, snap)
            got.add(rel)
            expect(os.path.islink(p), f"{rel} is not a symlink")
            target = os.readlink(p)
            expect(not os.path.isabs(target) and "/blobs/" in "/" + target.lstrip("./"), f"{rel} -> {target}")
            expect(os.path.realpath(p).startswith(os.path.realpath(os.path.join(rd, "blobs"))), f"{rel} escapes blobs/")
            with open(p, "rb") as a, open(os.path.join(flat, rel), "rb") as b:
                expect(a.read() == b.read(), f"{rel}: bytes differ from the repository's")
    for bad in ("onnx/model.onnx", "README.md", "training_args.bin"):
        expect(bad not in got, f"{bad} was downloaded")
    for need in ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        expect(need in got, f"{need} is missing from the snapshot")
    leftovers = [n for n in os.listdir(os.path.join(rd, "blobs")) if n.endswith(".incomplete")]
    expect(not leftovers, f"half-written blobs left: {leftovers}")
    return snap


def case_pull(c, flat, old, binrepo):
    case = c.fresh()
    p = c.run(case, "models", "pull", "test-org/tiny")
    sha = c.mock.sha["test-org/tiny"]
    snap = check_layout(os.path.join(case, "cache"), "test-org/tiny", sha, flat)
    expect(p.stdout.strip() == snap, f"pull printed {p.stdout.strip()}, not the snapshot {snap}")
    expect("downloaded model.safetensors" in p.stderr, f"no progress lines on a non-terminal: {p.stderr}")
    want = c.embed(case, flat)
    # offline, and with the endpoint gone: the cache alone
    expect(c.embed(case, "test-org/tiny", "--offline") == want, "offline vectors differ from the folder's")
    expect(c.embed(case, "test-org/tiny", endpoint=False) == want, "cached vectors differ from the folder's")
    expect(c.embed(case, f"test-org/tiny@{sha}", "--offline") == want, "by commit, vectors differ")
    # a second pull asks the hub but fetches nothing again
    c.mock.control({"reset_log": True})
    c.run(case, "models", "pull", "test-org/tiny")
    gets = [l for l in c.mock.log() if l[0] == "GET" and "/cdn/" in l[1]]
    expect(not gets, f"a second pull downloaded again: {gets}")
    info = json.loads(c.run(case, "models", "info", "test-org/tiny").stdout)
    expect(info["architecture"] == "bert" and info["dimensions"] == 32 and info["max_tokens"] == 128,
           f"models info: {info}")
    return "refs + snapshot links + blobs; offline / cached / by-commit vectors identical to the folder's"


def case_interop(c, flat, old, binrepo):
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return "SKIP (huggingface_hub not installed)"
    repo, sha = "test-org/tiny", c.mock.sha["test-org/tiny"]
    files = ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
             "special_tokens_map.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json"]
    files = [f for f in files if os.path.exists(os.path.join(flat, f))]
    want = c.embed(c.fresh(), flat)
    # huggingface_hub writes, Sutra reads
    case = c.fresh()
    env = c.env(case)
    code = ("import sys, huggingface_hub as h\n"
            "for f in sys.argv[2:]: h.hf_hub_download(sys.argv[1], f)\n")
    p = subprocess.run([sys.executable, "-c", code, repo, *files], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    expect(p.returncode == 0, f"huggingface_hub download failed: {p.stderr[-2000:]}")
    expect(c.embed(case, repo, "--offline") == want, "vectors from huggingface_hub's cache differ")
    listed = c.run(case, "models", "list", "--json").stdout
    expect(any(json.loads(l)["id"] == repo for l in listed.splitlines()), f"models list: {listed}")
    # Sutra writes, huggingface_hub reads
    case = c.fresh()
    c.run(case, "models", "pull", repo)
    env = c.env(case)
    env["HF_HUB_OFFLINE"] = "1"
    code = ("import sys, json, huggingface_hub as h\n"
            "paths = [h.hf_hub_download(sys.argv[1], f, local_files_only=True) for f in sys.argv[2:]]\n"
            "info = h.scan_cache_dir()\n"
            "r = [x for x in info.repos if x.repo_id == sys.argv[1]][0]\n"
            "print(json.dumps({'paths': paths, 'warnings': [str(w) for w in info.warnings],\n"
            "  'revs': [x.commit_hash for x in r.revisions], 'refs': sorted(set().union(*[x.refs for x in r.revisions]))}))\n")
    p = subprocess.run([sys.executable, "-c", code, repo, *files], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    expect(p.returncode == 0, f"huggingface_hub could not read Sutra's cache: {p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    expect(not r["warnings"], f"scan_cache_dir warnings: {r['warnings']}")
    expect(r["revs"] == [sha] and r["refs"] == ["main"], f"scan_cache_dir: {r}")
    for f, path in zip(files, r["paths"]):
        expect(sha256(path) == sha256(os.path.join(flat, f)), f"{f}: huggingface_hub reads other bytes")
    return f"huggingface_hub {huggingface_hub.__version__}: its cache read by Sutra, Sutra's read by it (no warnings)"


def weights_digest(flat):
    return sha256(os.path.join(flat, "model.safetensors"))


def case_resume(c, flat, old, binrepo):
    digest = weights_digest(flat)
    size = os.path.getsize(os.path.join(flat, "model.safetensors"))
    # a transfer cut off mid-file, resumed in the same pull
    case = c.fresh()
    c.mock.control({"reset_log": True, "cut": {digest: 100000}})
    c.run(case, "models", "pull", "test-org/tiny")
    gets = [l for l in c.mock.log() if l[0] == "GET" and l[1] == f"/cdn/{digest}"]
    expect(len(gets) == 2 and gets[0][2] is None and gets[1][2] == "bytes=100000-",
           f"expected a full GET then one from byte 100000: {gets}")
    check_layout(os.path.join(case, "cache"), "test-org/tiny", c.mock.sha["test-org/tiny"], flat)
    # an .incomplete left by an earlier run
    case = c.fresh()
    blobs = os.path.join(case, "cache", "models--test-org--tiny", "blobs")
    os.makedirs(blobs)
    with open(os.path.join(flat, "model.safetensors"), "rb") as f, \
            open(os.path.join(blobs, digest + ".incomplete"), "wb") as g:
        g.write(f.read(50000))
    c.mock.control({"reset_log": True})
    c.run(case, "models", "pull", "test-org/tiny")
    gets = [l for l in c.mock.log() if l[0] == "GET" and l[1] == f"/cdn/{digest}"]
    expect([g[2] for g in gets] == ["bytes=50000-"], f"expected one GET from byte 50000: {gets}")
    expect(sha256(os.path.join(blobs, digest)) == digest, "the resumed blob's sha256 is wrong")
    return f"cut at 100000 of {size} bytes: resumed with Range; a leftover .incomplete of 50000 bytes: resumed"


def case_checksum(c, flat, old, binrepo):
    digest = weights_digest(flat)
    case = c.fresh()
    c.mock.control({"corrupt": [digest]})
    try:
        p = c.run(case, "models", "pull", "test-org/tiny", ok=False)
    finally:
        c.mock.control({"clear": True})
    expect("sha256 mismatch" in p.stderr, f"no checksum error: {p.stderr}")
    rd = os.path.join(case, "cache", "models--test-org--tiny")
    snaps = os.path.join(rd, "snapshots")
    found = [os.path.join(r, n) for r, _, ns in os.walk(snaps) for n in ns if n == "model.safetensors"]
    expect(not found, f"the weights appeared in snapshots/: {found}")
    expect(not os.path.exists(os.path.join(rd, "blobs", digest)), "the bad blob was kept")
    expect(not os.path.exists(os.path.join(rd, "blobs", digest + ".incomplete")), "the bad .incomplete was kept")
    expect(not os.path.exists(os.path.join(rd, "refs", "main")), "refs/main written for an incomplete snapshot")
    p = c.run(case, "embed", "--model", "test-org/tiny", "--offline", "x", ok=False)
    expect("lacks files" in p.stderr or "no revision" in p.stderr, f"offline load of the failed pull: {p.stderr}")
    return "sha256 mismatch refused: no blob, no .incomplete, no snapshot link, no ref"


def case_gated(c, flat, old, binrepo):
    case = c.fresh()
    p = c.run(case, "models", "pull", "test-org/gated", ok=False)
    expect("token" in p.stderr and "HF_TOKEN" in p.stderr, f"no token advice: {p.stderr}")
    p = c.run(case, "models", "pull", "test-org/gated", "--hub-token", "hf_wrong", ok=False)
    expect("refused the token" in p.stderr, f"wrong token: {p.stderr}")
    c.run(case, "models", "pull", "test-org/gated", extra_env={"HF_TOKEN": TOKEN})
    # the token file `hf auth login` writes
    case = c.fresh()
    with open(os.path.join(case, "hfhome", "token"), "w") as f:
        f.write(TOKEN + "\n")
    c.run(case, "models", "pull", "test-org/gated")
    auths = {l[3] for l in c.mock.log() if "/cdn/" in l[1]}
    expect(auths == {None}, f"the token was sent to the CDN host path: {auths}")
    return "no token: advice; wrong token: refused; HF_TOKEN and the token file: downloaded"


def case_missing(c, flat, old, binrepo):
    case = c.fresh()
    p = c.run(case, "models", "pull", "test-org/nothing", ok=False)
    expect("not found" in p.stderr and "RepoNotFound" in p.stderr, f"unknown repo: {p.stderr}")
    p = c.run(case, "models", "pull", "test-org/tiny@nope", ok=False)
    expect("not found" in p.stderr and "RevisionNotFound" in p.stderr, f"unknown revision: {p.stderr}")
    p = c.run(case, "embed", "--model", "test-org/nothing", "x", ok=False)
    expect("not found" in p.stderr, f"embed of an unknown repo: {p.stderr}")
    for bad in ("../etc", "a/b/c", "org//name", "-org/name", "org/na me"):
        p = c.run(case, "models", "pull", "--", bad, ok=False)
        expect("not a hub id" in p.stderr, f"{bad!r}: {p.stderr}")
    return "404 RepoNotFound / RevisionNotFound reported; malformed ids refused before any request"


def case_together(c, flat, old, binrepo):
    digest = weights_digest(flat)
    case = c.fresh()
    c.mock.control({"reset_log": True, "delay": 0.05})
    env = c.env(case)
    try:
        ps = [subprocess.Popen([c.sutra, "models", "pull", "test-org/tiny"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in ps]
    finally:
        c.mock.control({"delay": 0})
    for p, (out, err) in zip(ps, outs):
        expect(p.returncode == 0, f"a concurrent pull failed: {err[-2000:]}")
    expect(outs[0][0] == outs[1][0], "the two pulls name different snapshots")
    gets = [l for l in c.mock.log() if l[0] == "GET" and l[1] == f"/cdn/{digest}"]
    expect(len(gets) == 1, f"the weights were downloaded {len(gets)} times")
    check_layout(os.path.join(case, "cache"), "test-org/tiny", c.mock.sha["test-org/tiny"], flat)
    return "two pulls at once: both succeed, the weights downloaded once (the other waited on the lock)"


def case_layouts(c, flat, old, binrepo):
    case = c.fresh()
    want = c.embed(case, flat)
    expect(c.embed(case, old) == want, "the 0_Transformer/ folder embeds differently from the flat one")
    c.run(case, "models", "pull", "test-org/tiny-old")
    expect(c.embed(case, "test-org/tiny-old", "--offline") == want, "the 0_Transformer/ repo embeds differently")
    c.run(case, "models", "pull", "old-org/tiny")  # renamed: a relative redirect to test-org/tiny
    expect(c.embed(case, "old-org/tiny", "--offline") == want, "the renamed repository embeds differently")
    # PyTorch weights only: the .bin files of the model and its Dense module, not sharded/ or the
    # sentencepiece model (tokenizer.json is beside it)
    want = c.embed(case, binrepo)
    snap = c.run(case, "models", "pull", "test-org/tiny-bin").stdout.strip()
    got = sorted(os.path.relpath(os.path.join(r, n), snap) for r, _, ns in os.walk(snap) for n in ns)
    expect("pytorch_model.bin" in got and "2_Dense/pytorch_model.bin" in got, f"bin repo: {got}")
    expect(not any(g.startswith("sharded/") or g.endswith(".model") for g in got), f"bin repo took extras: {got}")
    expect(c.embed(case, "test-org/tiny-bin", "--offline") == want, "the .bin-only repo embeds differently")
    return ("0_Transformer/ layout (folder and hub id), a renamed repository, a .bin-only repository: "
            "vectors identical")


def case_offline(c, flat, old, binrepo):
    case = c.fresh()
    p = c.run(case, "embed", "--model", "test-org/tiny", "--offline", "x", ok=False)
    expect("offline" in p.stderr, f"offline miss: {p.stderr}")
    p = c.run(case, "embed", "--model", "test-org/tiny", "x", ok=False, extra_env={"HF_HUB_OFFLINE": "1"})
    expect("offline" in p.stderr, f"HF_HUB_OFFLINE miss: {p.stderr}")
    p = c.run(case, "models", "pull", "test-org/tiny", "--offline", ok=False)
    expect("offline" in p.stderr, f"pull offline: {p.stderr}")
    return "--offline / HF_HUB_OFFLINE=1 with the model not cached: refused, saying so"


def case_list_rm(c, flat, old, binrepo):
    case = c.fresh()
    c.run(case, "models", "pull", "test-org/tiny")
    shutil.copytree(flat, os.path.join(case, "models", "local-tiny"))
    rows = [json.loads(l) for l in c.run(case, "models", "list", "--json").stdout.splitlines()]
    ids = {(r["id"], r["source"]) for r in rows}
    expect(("test-org/tiny", "hf-cache") in ids and ("local-tiny", "models-dir") in ids, f"models list: {rows}")
    r = [r for r in rows if r["id"] == "test-org/tiny"][0]
    expect(r["parameters"] > 1000000 and r["pooling"] == "mean" and r["weights_dtype"] == "F32" and r["bytes"] > 0
           and r["attention_kernels"], f"models list row: {r}")
    table = c.run(case, "models", "list").stdout
    expect("test-org/tiny" in table and "ATTENTION" in table, f"models list table: {table}")
    c.run(case, "models", "rm", "test-org/tiny")
    expect(not os.path.exists(os.path.join(case, "cache", "models--test-org--tiny")), "rm left the repository")
    rows = [json.loads(l) for l in c.run(case, "models", "list", "--json").stdout.splitlines()]
    expect(all(r["id"] != "test-org/tiny" for r in rows), "rm: still listed")
    p = c.run(case, "models", "rm", "test-org/tiny", ok=False)
    expect("not in the hub cache" in p.stderr, f"rm of a missing model: {p.stderr}")
    return "list (models dir + hub cache, with metadata) and rm"


def case_serve(c, flat, old, binrepo):
    """`sutra serve --model org/name`: downloads, then serves under that name the vectors
    `sutra embed` gives."""
    case = c.fresh()
    want = [json.loads(l) for l in c.embed(case, flat).splitlines()]
    env = c.env(case)
    with Server(c.sutra, ["--model", "test-org/tiny", "--threads", "1"], env=env) as srv:
        r = post_json(srv.port, "/v1/embeddings", {"model": "test-org/tiny", "input": TEXTS})
        expect(r.status == 200, f"/v1/embeddings: {r.status} {r.text()[:300]}")
        body = r.json()
        got = [d["embedding"] for d in sorted(body["data"], key=lambda d: d["index"])]
        expect(body["model"] == "test-org/tiny", f"served under {body['model']}")
    worst = max(abs(a - b) for u, v in zip(got, want) for a, b in zip(u, v))
    expect(worst < 1e-6, f"served vectors differ from `sutra embed` by {worst}")
    expect(os.path.islink(os.path.join(case, "cache", "models--test-org--tiny", "snapshots",
                                       c.mock.sha["test-org/tiny"], "model.safetensors")), "serve did not use the cache")
    return f"serve --model test-org/tiny: downloaded into the cache, served as test-org/tiny, max diff {worst:.1e}"


CASES = [("pull", case_pull), ("interop", case_interop), ("resume", case_resume), ("checksum", case_checksum),
         ("gated", case_gated), ("missing", case_missing), ("together", case_together), ("layouts", case_layouts),
         ("offline", case_offline), ("list_rm", case_list_rm), ("serve", case_serve)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sutra", default=os.path.join(HERE, "..", "..", "build", "sutra"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    ensure_numpy()
    sutra = os.path.abspath(a.sutra)
    help_text = subprocess.run([sutra, "models", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True).stdout
    if "pull" not in help_text:
        print(f"SKIP: {sutra} has no `models` command", flush=True)
        return 77
    only = set(filter(None, a.only.split(",")))
    tmp = tempfile.mkdtemp(prefix="sutra-hub-")
    failed = 0
    mock = None
    try:
        flat, old, binrepo = make_models(os.path.join(tmp, "src"))
        mock = Mock([f"test-org/tiny={flat}", f"test-org/tiny-old={old}", f"test-org/gated={flat},gated",
                     f"test-org/tiny2={flat},renamed-from=old-org/tiny", f"test-org/tiny-bin={binrepo}"])
        c = Ctx(sutra, tmp, mock)
        for name, fn in CASES:
            if only and name not in only:
                continue
            t0 = time.time()
            try:
                msg = fn(c, flat, old, binrepo)
                print(f"ok   {name:9s} {time.time() - t0:5.1f}s  {msg}", flush=True)
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name:9s} {e}", flush=True)
    finally:
        if mock:
            mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("hub tests: " + ("all passed" if not failed else f"{failed} failed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
