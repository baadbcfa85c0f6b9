#!/usr/bin/env python3
"""End-to-end tests of `sutra serve` against docs/SERVER.md, on the real binary and loopback ports.

  python3 tests/server/test_server.py [--sutra build/sutra] [--model M] [--only NAME,...]

Exit status 0: every check passed; 1: something failed; 77: skipped (no `openai` / numpy in this
Python nor in the venv of scripts/install-pydeps.sh, or the model is not installed).
When this Python lacks openai, the script re-runs itself with ${SUTRA_VENV:-~/.cache/sutra/venv}.

Servers started (each on 127.0.0.1, --port 0, stopped with SIGTERM and required to exit 0 with no
sanitizer report on stderr):
  main    defaults: the official openai client (string, array, base64, float, dimensions, token
          ids) against the library's vectors (`sutra embed`), TEI /embed and /tokenize with curl,
          /health, /info, /metrics (counters move as they should), log lines (a URL's decoded
          line break escaped), start-up refusals (an empty --api-key, a port already listened on),
          framing (HTTP/1.1 without Host, Content-Length with chunked: 400 and the connection closed)
  auth    --api-key: 401 without / with a wrong key on every route but /health
  limits  the server_args of malformed_requests.json: every case of that list, oversized bodies
          (Content-Length and chunked), a slow body (408), then a normal request still works
  queue   --max-queued-inputs 8: concurrent requests over it get 429 `overloaded` with Retry-After
  drain   SIGTERM while requests are in flight: all of them finish with 200, exit status 0
  dense   the default model with two sentence-transformers Dense modules (384 -> 256 Tanh with a
          bias, 256 -> 96 Identity, random weights) and Normalize: /info's vector_size, the openai
          client and TEI /embed (normalize false, dimensions) against `sutra embed` on that model,
          dimensions past the last module's width -> 400
SUTRA_TEST_QUICK=1 (the sanitizer build) makes the drain and queue loads smaller.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_util as su  # noqa: E402

su.ensure_modules(["numpy", "openai"], os.path.abspath(__file__))
import numpy as np  # noqa: E402
import openai  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-6  # same engine on the same CPU: vectors equal to the library's within this
QUICK = os.environ.get("SUTRA_TEST_QUICK") == "1"

WORDS = ("time person year way day thing man world life hand part child eye woman place work week case "
         "point government company number group problem fact river mountain music guitar market "
         "science history language city country family school water light story night house").split()

TEXTS = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar.",
    "The stock market fell sharply today.",
    "Ein Mann spielt Gitarre.",
    "naïve café — 日本語のテキスト 🎸 émoji",
    "x",
    " ".join(WORDS[i % len(WORDS)] for i in range(180)),
    'He said "hi" \\ and left: {"json": [1, 2]} <tag> & done',
    "Short again.",
    " ".join(WORDS[(3 * i) % len(WORDS)] for i in range(60)),
]
NEWLINE_TEXT = "line one\nline two\twith a tab\r\nand a CRLF"
LONG_TEXT = " ".join(WORDS[(7 * i + 3) % len(WORDS)] for i in range(2000))  # ~2000 tokens


class Failure(AssertionError):
    pass


def rss_kib(pid):
    """A process's resident memory (VmRSS, KiB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def expect_close(name, got, want, tol=TOL):
    d = su.max_abs_diff(got, want)
    check(d <= tol, f"{name}: max |server - library| = {d:.3g} > {tol:g}")
    return d


def run_clients(one, n, errors):
    """one(k) for k in 0 .. n-1, each on its own thread at once; fails listing the first errors."""
    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"{len(errors)} of {n} clients: {errors[:3]}")


class Suite:
    def __init__(self, args):
        self.args = args
        self.sutra = args.sutra
        self.model_args = ["--model", args.model] if args.model else []
        self.results = []  # (name, ok, seconds, detail)
        self.notes = []
        self.servers = []
        self.max_diff = 0.0
        self.only = set(args.only.split(",")) if args.only else None
        self.tmpdirs = []

    # -- bookkeeping -------------------------------------------------------------------------
    def run(self, name, fn, *a):
        if self.only and not any(o in name for o in self.only):
            return
        t0 = time.monotonic()
        try:
            fn(*a)
            ok, detail = True, ""
        except (Failure, su.ServerError, AssertionError) as e:
            ok, detail = False, str(e)
        except Exception as e:  # noqa: BLE001
            ok, detail = False, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
        dt = time.monotonic() - t0
        self.results.append((name, ok, dt, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name} ({dt:.2f} s)" + ("" if ok else "\n" + indent(detail)),
              flush=True)

    def note(self, msg):
        self.notes.append(msg)
        print(f"note: {msg}", flush=True)

    def server(self, name, extra=()):
        s = su.Server(self.sutra, self.model_args + list(extra), name=name)
        self.servers.append(s)
        s.start()
        return s

    def stop(self, s):
        """Stops a server as its own test: SIGTERM, exit status 0, no sanitizer report."""
        self.run(f"{s.name}: SIGTERM -> exit 0, no sanitizer report", s.stop)

    def diff(self, name, got, want, tol=TOL):
        d = expect_close(name, got, want, tol)
        self.max_diff = max(self.max_diff, d)

    # -- references --------------------------------------------------------------------------
    def references(self):
        info, err = su.cli_info(self.sutra, self.model_args)
        if info is None:
            print(f"SKIP: the model cannot be loaded by `{self.sutra} info`: {err.strip()}", flush=True)
            sys.exit(77)
        self.info = info
        self.dim = info["dimensions"]
        self.max_tokens = info["max_tokens"]
        self.vocab = info["vocab_size"]
        plain = TEXTS + [LONG_TEXT]
        self.ref = su.ref_embed(self.sutra, plain + [NEWLINE_TEXT], self.model_args)
        self.ref_long = self.ref[len(TEXTS)]
        self.ref_newline = self.ref[len(TEXTS) + 1]
        self.ref = self.ref[:len(TEXTS)]
        self.ref128 = su.ref_embed(self.sutra, TEXTS, self.model_args + ["--dimensions", "128"])
        self.ref_raw = su.ref_embed(self.sutra, TEXTS, self.model_args + ["--normalize", "off"])
        self.ids = su.ref_tokenize(self.sutra, TEXTS, self.model_args)
        self.long_ids_512 = su.ref_tokenize(self.sutra, [LONG_TEXT], self.model_args + ["--max-length", "512"])[0]
        for i, t in enumerate(self.ids):
            check(len(t) < self.max_tokens, f"test text {i} is over the token limit; shorten it")

    # ======================================================================================
    # main server: openai client, TEI with curl, tokenize, health/info/metrics
    # ======================================================================================
    def client(self, s, key="sk-unused"):
        return openai.OpenAI(base_url=f"http://127.0.0.1:{s.port}/v1", api_key=key, max_retries=0, timeout=120)

    def t_openai_string(self, s):
        c = self.client(s)
        r = c.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS[0])  # client asks for base64
        check(r.object == "list", f"object {r.object!r}")
        check(len(r.data) == 1, f"{len(r.data)} embeddings for one string")
        d = r.data[0]
        check(d.index == 0 and d.object == "embedding", f"data[0] index {d.index} object {d.object!r}")
        check(len(d.embedding) == self.dim, f"dimension {len(d.embedding)} != {self.dim}")
        self.diff("string", d.embedding, self.ref[0])
        check(r.usage.prompt_tokens == len(self.ids[0]),
              f"usage.prompt_tokens {r.usage.prompt_tokens} != {len(self.ids[0])} tokens")
        check(r.usage.total_tokens == r.usage.prompt_tokens, f"total_tokens {r.usage.total_tokens}")
        check(r.model == "all-MiniLM-L6-v2", f"model echoed as {r.model!r}")

    def t_openai_array(self, s, fmt):
        c = self.client(s)
        r = c.embeddings.create(model="text-embedding-3-small", input=TEXTS, encoding_format=fmt)
        check(len(r.data) == len(TEXTS), f"{len(r.data)} embeddings for {len(TEXTS)} strings")
        check(r.model == "text-embedding-3-small", f"model echoed as {r.model!r}")
        for i, d in enumerate(r.data):
            check(d.index == i, f"data[{i}].index = {d.index} (order broken)")
            v = su.decode_b64_vector(d.embedding) if fmt == "base64" else np.array(d.embedding, np.float32)
            if fmt == "base64":
                check(isinstance(d.embedding, str), "base64 embedding is not a string")
            check(v.shape == (self.dim,), f"data[{i}] has {v.shape[0]} dims")
            self.diff(f"{fmt} input {i}", v, self.ref[i])
        want = sum(len(t) for t in self.ids)
        check(r.usage.prompt_tokens == want, f"usage.prompt_tokens {r.usage.prompt_tokens} != {want}")
        check(r.usage.total_tokens == want, f"usage.total_tokens {r.usage.total_tokens} != {want}")

    # ======================================================================================
    # dense: a pipeline with Dense modules after pooling
    # ======================================================================================
    def dense_model(self):
        """A copy of the model directory with two Dense modules before its Normalize."""
        info = self.info
        src = info["path"]
        d = tempfile.mkdtemp(prefix="sutra-dense-model-")
        self.tmpdirs.append(d)
        for fn in os.listdir(src):
            if os.path.isfile(os.path.join(src, fn)) and fn != "modules.json":
                os.symlink(os.path.join(src, fn), os.path.join(d, fn))
        os.symlink(os.path.join(src, "1_Pooling"), os.path.join(d, "1_Pooling"))
        C = info["hidden_size"]
        rng = np.random.default_rng(20261207)
        layers = [("2_Dense", C, 256, True, "torch.nn.modules.activation.Tanh"),
                  ("3_Dense", 256, 96, False, "torch.nn.modules.linear.Identity")]
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        for k, (folder, n_in, n_out, bias, act) in enumerate(layers):
            os.makedirs(os.path.join(d, folder))
            with open(os.path.join(d, folder, "config.json"), "w") as f:
                json.dump({"in_features": n_in, "out_features": n_out, "bias": bias, "activation_function": act}, f)
            t = {"linear.weight": rng.uniform(-1, 1, (n_out, n_in)) * np.sqrt(3.0 / n_in)}
            if bias:
                t["linear.bias"] = rng.uniform(-0.1, 0.1, n_out)
            su.write_safetensors(os.path.join(d, folder, "model.safetensors"), t)
            modules.append({"idx": 2 + k, "name": str(2 + k), "path": folder,
                            "type": "sentence_transformers.models.Dense"})
        modules.append({"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"})
        with open(os.path.join(d, "modules.json"), "w") as f:
            json.dump(modules, f)
        return d

    def t_dense(self, s, model):
        args = ["--model", model]
        ref = su.ref_embed(self.sutra, TEXTS[:4], args)
        ref32 = su.ref_embed(self.sutra, TEXTS[:4], args + ["--dimensions", "32"])
        raw = su.ref_embed(self.sutra, TEXTS[:4], args + ["--normalize", "off"])
        check(ref.shape == (4, 96), f"the library gives {ref.shape} for the Dense model")
        info = su.http_request(s.port, "GET", "/info").json()
        check(info["vector_size"] == 96 and info["dim"] == 96 and info["hidden_size"] == self.info["hidden_size"],
              f"/info: vector_size {info.get('vector_size')}, dim {info.get('dim')}, hidden_size {info.get('hidden_size')}")
        c = self.client(s)
        r = c.embeddings.create(model="m", input=TEXTS[:4], encoding_format="float")
        for i, d in enumerate(r.data):
            self.diff(f"dense openai input {i}", np.array(d.embedding, np.float32), ref[i])
        r = c.embeddings.create(model="m", input=TEXTS[:4], dimensions=32)
        for i, d in enumerate(r.data):
            self.diff(f"dense openai dimensions=32 input {i}", np.array(d.embedding, np.float32), ref32[i])
        t = su.post_json(s.port, "/embed", {"inputs": TEXTS[:4], "normalize": False})
        check(t.status == 200, f"/embed normalize false: {t}")
        for i, v in enumerate(t.json()):
            self.diff(f"dense /embed normalize=false input {i}", np.array(v, np.float32), raw[i])
        bad = su.post_json(s.port, "/v1/embeddings", {"input": "x", "dimensions": 97})
        check(bad.status == 400 and "96" in bad.text(), f"dimensions 97: {bad}")

    # ======================================================================================
    # rerank / sparse / multi-vector: models made from the default model's weights
    # ======================================================================================
    def _link_model(self, prefix, skip=()):
        src = self.info["path"]
        d = tempfile.mkdtemp(prefix=prefix)
        self.tmpdirs.append(d)
        for fn in os.listdir(src):
            if fn not in skip:
                os.symlink(os.path.join(src, fn), os.path.join(d, fn))
        return src, d

    def rerank_model(self):
        """A cross-encoder: the default model's encoder under a BERT pooler and a one-label
        classifier (BertForSequenceClassification), its weights in two shards."""
        src, d = self._link_model("sutra-ce-model-", skip=("config.json", "model.safetensors", "modules.json",
                                                           "1_Pooling", "2_Normalize", "sentence_bert_config.json",
                                                           "config_sentence_transformers.json"))
        cfg = json.load(open(os.path.join(src, "config.json")))
        cfg.update({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0"},
                    "label2id": {"LABEL_0": 0}})
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        C = self.info["hidden_size"]
        rng = np.random.default_rng(20261207)
        with open(os.path.join(src, "model.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            names = [k for k in json.loads(f.read(n)) if k != "__metadata__"]
        head = {"classifier.weight": rng.uniform(-1, 1, (1, C)) * np.sqrt(3.0 / C), "classifier.bias": np.array([0.1])}
        if "pooler.dense.weight" not in names:  # the default model keeps BERT's pooler; a model without one gets it
            head.update({"pooler.dense.weight": rng.uniform(-1, 1, (C, C)) * np.sqrt(3.0 / C),
                         "pooler.dense.bias": rng.uniform(-0.1, 0.1, C)})
        su.write_safetensors(os.path.join(d, "model-00002-of-00002.safetensors"), head)
        os.symlink(os.path.join(src, "model.safetensors"), os.path.join(d, "model-00001-of-00002.safetensors"))
        wm = {k: "model-00001-of-00002.safetensors" for k in names}
        wm.update({k: "model-00002-of-00002.safetensors" for k in head})
        json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
        return d

    def m3_model(self):
        """bge-m3's three outputs on the default model: its pipeline (dense) with sparse_linear and
        colbert_linear beside it."""
        _, d = self._link_model("sutra-m3-model-")
        C = self.info["hidden_size"]
        rng = np.random.default_rng(20261208)
        su.write_safetensors(os.path.join(d, "sparse_linear.safetensors"), {
            "weight": rng.uniform(-1, 1, (1, C)) * np.sqrt(3.0 / C), "bias": np.array([0.05])})
        su.write_safetensors(os.path.join(d, "colbert_linear.safetensors"), {
            "weight": rng.uniform(-1, 1, (C, C)) * np.sqrt(3.0 / C), "bias": rng.uniform(-0.1, 0.1, C)})
        return d

    def cli_lines(self, args, inputs):
        p = subprocess.run([self.sutra, *args], input="\n".join(inputs) + "\n", capture_output=True, text=True,
                           env=su.cli_env(), timeout=600)
        if p.returncode:
            raise su.ServerError(f"reference `sutra {' '.join(args[:3])}` failed: {p.stderr[-1500:]}")
        return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def rerank_refs(self, model, query, docs):
        scores = {r["index"]: r["score"] for r in self.cli_lines(["rerank", "-m", model, "--query", query], docs)}
        raw = {r["index"]: r["score"] for r in self.cli_lines(["rerank", "-m", model, "--query", query, "--raw"], docs)}
        return scores, raw

    def t_rerank(self, s, model, main_port):
        query, docs = TEXTS[0], TEXTS[1:7] + [LONG_TEXT]
        ref, raw = self.rerank_refs(model, query, docs)
        info = su.http_request(s.port, "GET", "/info").json()
        check(info["outputs"] == "rerank" and info["score_activation"] == "Sigmoid", f"/info outputs: {info.get('outputs')}")
        t = su.post_json(s.port, "/rerank", {"query": query, "texts": docs, "return_text": True})
        check(t.status == 200, f"/rerank: {t}")
        got = t.json()
        check([g["index"] for g in got] == sorted(ref, key=lambda i: (-ref[i], i)), f"/rerank order {got}")
        for g in got:
            expect_close(f"/rerank score {g['index']}", np.float32(g["score"]), np.float32(ref[g["index"]]), 1e-6)
            check(g["text"] == docs[g["index"]], "return_text gives the document")
        t = su.post_json(s.port, "/rerank", {"query": query, "texts": docs, "raw_scores": True})
        for g in t.json():
            expect_close(f"/rerank raw {g['index']}", np.float32(g["score"]), np.float32(raw[g["index"]]), 1e-6)
        # Cohere / Jina shape, as their clients send it
        c = su.post_json(s.port, "/v1/rerank", {
            "model": "rerank-x", "query": query, "documents": [docs[0], {"text": docs[1]}] + docs[2:], "top_n": 3,
            "return_documents": True})
        check(c.status == 200, f"/v1/rerank: {c}")
        j = c.json()
        check(len(j["results"]) == 3 and j["model"] == "rerank-x" and j["usage"]["total_tokens"] > 0, f"/v1/rerank: {j}")
        best = sorted(ref, key=lambda i: (-ref[i], i))[:3]
        check([r["index"] for r in j["results"]] == best, f"/v1/rerank top 3 {j['results']}")
        for r in j["results"]:
            expect_close("relevance_score", np.float32(r["relevance_score"]), np.float32(ref[r["index"]]), 1e-6)
            check(r["document"]["text"] == docs[r["index"]], "return_documents")
        # bad input
        for path, body, status, code in [
                ("/rerank", {"query": query, "texts": []}, 400, "empty_input"),
                ("/rerank", {"query": query, "texts": ["a", ""]}, 400, "empty_input"),
                ("/rerank", {"texts": ["a"]}, 400, "missing_field"),
                ("/rerank", {"query": 3, "texts": ["a"]}, 400, "invalid_type"),
                ("/rerank", {"query": "q", "texts": ["a"] * 3000}, 413, "too_many_inputs"),
                ("/v1/rerank", {"query": "q", "documents": [{"txt": "a"}]}, 400, "invalid_type"),
                ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 400, "invalid_value"),
                ("/embed", {"inputs": "a"}, 400, "model_not_supported"),
                ("/embed_sparse", {"inputs": "a"}, 400, "model_not_supported")]:
            r = su.post_json(s.port, path, body)
            check(r.status == status and code in r.text(), f"{path} {json.dumps(body)[:60]}: {r}")
        r = su.post_json(main_port, "/rerank", {"query": "q", "texts": ["a"]})
        check(r.status == 400 and "model_not_supported" in r.text() and "rerank" in r.text(),
              f"/rerank on an embedding model: {r}")

    def t_rerank_concurrent(self, s, model):
        """64 clients at once, /rerank (scores and raw) and /v1/rerank, each its own query: no reply
        holds another's scores."""
        queries = [TEXTS[i % len(TEXTS)] + f" #{i}" for i in range(8)]
        docs = TEXTS[:6]
        refs = [self.rerank_refs(model, q, docs) for q in queries]
        errors = []

        def one(k):
            q = k % len(queries)
            ref, raw = refs[q]
            kind = k % 3
            try:
                if kind == 2:
                    c = su.post_json(s.port, "/v1/rerank", {"query": queries[q], "documents": docs}, timeout=120)
                    got = {r["index"]: r["relevance_score"] for r in c.json()["results"]}
                    want = ref
                else:
                    t = su.post_json(s.port, "/rerank", {"query": queries[q], "texts": docs, "raw_scores": kind == 1},
                                     timeout=120)
                    got = {g["index"]: g["score"] for g in t.json()}
                    want = raw if kind == 1 else ref
                for i in want:
                    if abs(got[i] - want[i]) > 1e-6:
                        errors.append(f"client {k}: document {i}: {got[i]} != {want[i]}")
                        return
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {k}: {type(e).__name__}: {e}")
        run_clients(one, 64, errors)

    def t_m3(self, s, model):
        texts = TEXTS[:6]
        ref = self.cli_lines(["embed", "-m", model, "--output-kind", "all"], texts)
        info = su.http_request(s.port, "GET", "/info").json()
        check(info["outputs"] == "dense sparse multivector" and info["sparse_kind"] == "bge-m3" and
              info["multivector_dim"] == self.info["hidden_size"], f"/info: {info.get('outputs')}")
        sp = su.post_json(s.port, "/embed_sparse", {"inputs": texts})
        check(sp.status == 200, f"/embed_sparse: {sp}")
        for i, v in enumerate(sp.json()):
            check([e["index"] for e in v] == ref[i]["sparse"]["indices"], f"/embed_sparse {i}: ids")
            expect_close(f"/embed_sparse {i}", np.array([e["value"] for e in v], np.float32),
                         np.array(ref[i]["sparse"]["values"], np.float32), 1e-6)
        al = su.post_json(s.port, "/embed_all", {"inputs": texts})
        check(al.status == 200, f"/embed_all: {al}")
        for i, v in enumerate(al.json()):
            self.diff(f"/embed_all {i}", np.array(v, np.float32), np.array(ref[i]["colbert"], np.float32))
        e = su.post_json(s.port, "/embed", {"inputs": texts})
        for i, v in enumerate(e.json()):
            self.diff(f"bge-m3 /embed {i}", np.array(v, np.float32), np.array(ref[i]["dense"], np.float32))
        r = su.post_json(s.port, "/rerank", {"query": "q", "texts": ["a"]})
        check(r.status == 400 and "model_not_supported" in r.text(), f"/rerank on bge-m3: {r}")
        # the CLI's file mode writes the same outputs as its line mode
        d = tempfile.mkdtemp(prefix="sutra-m3-file-")
        self.tmpdirs.append(d)
        with open(os.path.join(d, "in.jsonl"), "w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
        p = subprocess.run([self.sutra, "embed", "-m", model, "--output-kind", "all", "--input",
                            os.path.join(d, "in.jsonl"), "--output", os.path.join(d, "out.jsonl")],
                           capture_output=True, text=True, env=su.cli_env(), timeout=600)
        check(p.returncode == 0, f"file mode: {p.stderr[-500:]}")
        recs = [json.loads(l) for l in open(os.path.join(d, "out.jsonl"), encoding="utf-8")]
        check([r["id"] for r in recs] == list(range(len(texts))), "file mode: ids in order")
        for i, r in enumerate(recs):
            check(r["sparse"] == ref[i]["sparse"] and r["colbert"] == ref[i]["colbert"] and
                  r["embedding"] == ref[i]["dense"], f"file mode record {i} differs from the line mode's")

    def t_m3_concurrent(self, s, model):
        """64 clients mixing /embed, /embed_sparse and /embed_all (three kinds of round)."""
        texts = TEXTS[:8]
        ref = self.cli_lines(["embed", "-m", model, "--output-kind", "all"], texts)
        errors = []

        def one(k):
            i, kind = k % len(texts), k % 3
            try:
                if kind == 0:
                    v = np.array(su.post_json(s.port, "/embed", {"inputs": texts[i]}, timeout=120).json()[0], np.float32)
                    ok = np.abs(v - np.array(ref[i]["dense"], np.float32)).max() < 1e-5
                elif kind == 1:
                    v = su.post_json(s.port, "/embed_sparse", {"inputs": texts[i]}, timeout=120).json()[0]
                    ok = [e["index"] for e in v] == ref[i]["sparse"]["indices"]
                else:
                    v = np.array(su.post_json(s.port, "/embed_all", {"inputs": [texts[i]]}, timeout=120).json()[0],
                                 np.float32)
                    ok = v.shape == np.array(ref[i]["colbert"]).shape and \
                        np.abs(v - np.array(ref[i]["colbert"], np.float32)).max() < 1e-5
                if not ok:
                    errors.append(f"client {k} (kind {kind}, text {i}): another reply")
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {k}: {type(e).__name__}: {e}")
        run_clients(one, 64, errors)

    def t_openai_dimensions(self, s):
        c = self.client(s)
        for fmt in ("float", "base64"):
            r = c.embeddings.create(model="m", input=TEXTS[:4], dimensions=128, encoding_format=fmt)
            for i, d in enumerate(r.data):
                v = su.decode_b64_vector(d.embedding) if fmt == "base64" else np.array(d.embedding, np.float32)
                check(v.shape == (128,), f"dimensions=128 gave {v.shape[0]} dims")
                self.diff(f"dimensions=128 {fmt} input {i}", v, self.ref128[i])
                check(abs(float(np.linalg.norm(v)) - 1) < 1e-5, f"dimensions=128 vector norm {np.linalg.norm(v)}")
        r = c.embeddings.create(model="m", input=TEXTS[0], dimensions=128)  # client's default (base64) path
        self.diff("dimensions=128 default client path", r.data[0].embedding, self.ref128[0])

    def t_openai_token_ids(self, s):
        c = self.client(s)
        r = c.embeddings.create(model="m", input=self.ids[2], encoding_format="float")
        check(len(r.data) == 1, f"{len(r.data)} embeddings for one id array")
        self.diff("token ids (one input)", r.data[0].embedding, self.ref[2])
        check(r.usage.prompt_tokens == len(self.ids[2]), f"prompt_tokens {r.usage.prompt_tokens} != {len(self.ids[2])}")
        pick = [6, 0, 4, 9, 5]
        r = c.embeddings.create(model="m", input=[self.ids[i] for i in pick])
        check([d.index for d in r.data] == list(range(len(pick))), f"indices {[d.index for d in r.data]}")
        for k, i in enumerate(pick):
            self.diff(f"token ids (batch) input {k}", r.data[k].embedding, self.ref[i])
        want = sum(len(self.ids[i]) for i in pick)
        check(r.usage.prompt_tokens == want, f"prompt_tokens {r.usage.prompt_tokens} != {want}")
        # ids are the whole input: without [CLS]/[SEP] the vector is not the text's
        r = c.embeddings.create(model="m", input=self.ids[0][1:-1])
        check(r.usage.prompt_tokens == len(self.ids[0]) - 2, "special tokens were added to a token-id input")
        check(su.max_abs_diff(r.data[0].embedding, self.ref[0]) > 1e-4,
              "ids without [CLS]/[SEP] gave the text's vector: special tokens were added")

    def t_float_text_roundtrip(self, s):
        """Raw JSON: floats printed with enough digits to give back the same float32 as base64."""
        for i in (0, 4):
            a = su.post_json(s.port, "/v1/embeddings", {"input": TEXTS[i], "encoding_format": "float"})
            b = su.post_json(s.port, "/v1/embeddings", {"input": TEXTS[i], "encoding_format": "base64"})
            check(a.status == 200 and b.status == 200, f"{a} {b}")
            check(a.headers.get("content-type", "").startswith("application/json"),
                  f"Content-Type {a.headers.get('content-type')!r}")
            fv = np.array(a.json()["data"][0]["embedding"], dtype=np.float64)
            bv = su.decode_b64_vector(b.json()["data"][0]["embedding"])
            self.diff(f"float text input {i}", fv, self.ref[i])
            f32 = fv.astype(np.float32)
            bad = int(np.sum(f32 != bv))
            check(bad == 0, f"{bad} of {self.dim} printed floats do not round-trip to the float32 the "
                            f"base64 reply holds (print 9 significant digits); max diff "
                            f"{su.max_abs_diff(f32, bv):.3g}")
        r = su.post_json(s.port, "/v1/embeddings", {"input": [NEWLINE_TEXT, TEXTS[1]], "encoding_format": "float"})
        check(r.status == 200, repr(r))
        self.diff("text with line breaks", r.json()["data"][0]["embedding"], self.ref_newline)
        self.diff("text after the one with line breaks", r.json()["data"][1]["embedding"], self.ref[1])

    # -- TEI with curl -----------------------------------------------------------------------
    def curl(self, s, path, obj, headers=()):
        with tempfile.TemporaryDirectory() as d:
            body, out = os.path.join(d, "body.json"), os.path.join(d, "out")
            with open(body, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False)
            cmd = ["curl", "-sS", "--max-time", "120", "-X", "POST", "-H", "Content-Type: application/json"]
            for h in headers:
                cmd += ["-H", h]
            cmd += ["--data-binary", f"@{body}", "-o", out, "-w", "%{http_code}", s.url(path)]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
            check(p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr.decode()}")
            with open(out, "rb") as f:
                data = f.read()
        status = int(p.stdout.decode())
        try:
            j = json.loads(data)
        except ValueError:
            raise Failure(f"curl {path}: status {status}, body not JSON: {data[:200]!r}")
        return status, j

    def t_tei_embed(self, s):
        st, j = self.curl(s, "/embed", {"inputs": TEXTS[0]})
        check(st == 200, f"status {st}: {j}")
        check(isinstance(j, list) and len(j) == 1 and isinstance(j[0], list),
              "a single string input must give an array holding one vector")
        self.diff("/embed single", j[0], self.ref[0])
        st, j = self.curl(s, "/embed", {"inputs": TEXTS, "normalize": True})
        check(st == 200 and len(j) == len(TEXTS), f"status {st}, {len(j)} vectors")
        for i, v in enumerate(j):
            self.diff(f"/embed normalize=true input {i}", v, self.ref[i])
        st, j = self.curl(s, "/embed", {"inputs": TEXTS, "normalize": False})
        check(st == 200 and len(j) == len(TEXTS), f"status {st}")
        for i, v in enumerate(j):
            check(abs(np.linalg.norm(v) - 1) > 1e-3, f"normalize=false input {i} has norm {np.linalg.norm(v):.6f}")
            self.diff(f"/embed normalize=false input {i} (vs --normalize off)", v, self.ref_raw[i],
                      tol=TOL * max(1.0, float(np.abs(self.ref_raw[i]).max())))
        st, j = self.curl(s, "/embed", {"inputs": TEXTS[:3], "dimensions": 128})
        check(st == 200, f"status {st}: {j}")
        for i, v in enumerate(j):
            self.diff(f"/embed dimensions=128 input {i}", v, self.ref128[i])

    def t_error_shapes(self, s):
        """TEI routes answer errors as text-embeddings-inference does ({"error": str, "error_type":
        str}); the OpenAI routes in OpenAI's shape ({"error": {"message", "type", "param", "code"}})."""
        tei = [("/embed", {"inputs": ""}, "Empty"), ("/embed", {"inputs": 5}, "Validation"),
               ("/tokenize", {"inputs": []}, "Empty"), ("/embed", {"inputs": "x", "dimensions": 99999}, "Validation")]
        for path, body, kind in tei:
            st, j = self.curl(s, path, body)
            check(400 <= st < 500 and isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"]
                  and j.get("error_type") == kind, f"{path} {body}: {st} {j} (expected TEI's shape, {kind})")
        r = su.post_json(s.port, "/embed", b'{"inputs": "\xff"}')
        j = r.json()
        check(r.status == 400 and j.get("error_type") == "Tokenizer", f"/embed invalid UTF-8: {r.status} {j}")
        for path, body in (("/v1/embeddings", {"input": ""}), ("/v1/embeddings", {"input": 5})):
            st, j = self.curl(s, path, body)
            check(400 <= st < 500 and isinstance(j.get("error"), dict) and "type" in j["error"]
                  and "code" in j["error"], f"{path} {body}: {st} {j} (expected the OpenAI shape)")

    def t_tei_long(self, s):
        # the full token count, from /tokenize (never truncated)
        st, tok = self.curl(s, "/tokenize", {"inputs": LONG_TEXT})
        check(st == 200, f"/tokenize status {st}: {tok}")
        n = len(tok[0])
        check(n > 2 * self.max_tokens, f"/tokenize gave {n} tokens for a 2000-word text: truncated?")
        ids = [t["id"] for t in tok[0]]
        k = len(self.long_ids_512) - 1
        check(ids[:k] == self.long_ids_512[:k], "/tokenize ids differ from `sutra tokenize --max-length 512`")
        # over the limit, truncate false (default): 422 naming the input's index and token count
        for body in ({"inputs": ["short", LONG_TEXT]}, {"inputs": ["short", LONG_TEXT], "truncate": False}):
            st, j = self.curl(s, "/embed", body)
            check(st == 422, f"over-long input without truncate: status {st}, expected 422: {str(j)[:200]}")
            r = su.Reply(st, [("Content-Type", "application/json")], json.dumps(j).encode())
            p = su.error_problem(r, 422, "input_too_long")
            check(p is None, p)
            check(j.get("error_type") == "Validation", f"/embed 422 not in TEI's shape: {j}")
            msg = j["error"]
            check(re.search(r"\b1\b", msg), f"422 message does not name input 1: {msg!r}")
            check(re.search(rf"\b({n}|{n - 2})\b", msg), f"422 message does not give the token count {n}: {msg!r}")
        r = su.post_json(s.port, "/v1/embeddings", {"input": LONG_TEXT})
        p = su.error_problem(r, 422, "input_too_long")
        check(p is None, f"/v1/embeddings over-long: {p}")
        # truncate true: right truncation, as the library does
        st, j = self.curl(s, "/embed", {"inputs": LONG_TEXT, "truncate": True})
        check(st == 200, f"truncate=true: status {st}: {str(j)[:200]}")
        self.diff("/embed truncate=true (Right) vs library", j[0], self.ref_long)
        st, j2 = self.curl(s, "/embed", {"inputs": LONG_TEXT, "truncate": True, "truncation_direction": "Right"})
        self.diff("/embed truncation_direction Right", j2[0], self.ref_long)
        # Left keeps the end: [CLS] + the last (limit - 2) tokens + [SEP]
        st, left = self.curl(s, "/embed", {"inputs": LONG_TEXT, "truncate": True, "truncation_direction": "Left"})
        check(st == 200, f"truncation_direction Left: status {st}: {str(left)[:200]}")
        st, left_lc = self.curl(s, "/embed", {"inputs": LONG_TEXT, "truncate": True, "truncation_direction": "left"})
        check(st == 200, f"truncation_direction left: status {st}")
        self.diff("/embed Left vs left", left_lc[0], left[0])
        keep = ids[0:1] + ids[1:-1][-(self.max_tokens - 2):] + ids[-1:]
        right_ids = ids[:self.max_tokens - 1] + ids[-1:]
        # (LONG_TEXT repeats itself, so both ends can be the same token sequence; only when they
        # differ must the vectors differ)
        if keep != right_ids:
            check(su.max_abs_diff(left[0], self.ref_long) > 1e-3, "Left truncation gave the Right-truncated vector")
        r = su.post_json(s.port, "/v1/embeddings", {"input": keep, "encoding_format": "float"})
        check(r.status == 200, f"ids of the left-truncated text: {r}")
        self.diff("/embed Left vs [CLS] + last tokens + [SEP] as ids", left[0], r.json()["data"][0]["embedding"])
        # the default model has no prompts
        st, j = self.curl(s, "/embed", {"inputs": "hello", "prompt_name": "query"})
        r = su.Reply(st, [("Content-Type", "application/json")], json.dumps(j).encode())
        p = su.error_problem(r, 400, "invalid_value")
        check(p is None, f"prompt_name on a model without prompts: {p}")

    def t_tokenize(self, s):
        texts = [t for t in TEXTS]
        st, j = self.curl(s, "/tokenize", {"inputs": texts})
        check(st == 200 and isinstance(j, list) and len(j) == len(texts), f"status {st}, {str(j)[:200]}")
        for i, toks in enumerate(j):
            ids = [t["id"] for t in toks]
            check(ids == self.ids[i], f"/tokenize input {i}: {ids[:12]}... != library {self.ids[i][:12]}...")
            raw = texts[i].encode("utf-8")
            last = 0
            for k, t in enumerate(toks):
                check(set(t) >= {"id", "text", "special", "start", "stop"}, f"token fields {sorted(t)}")
                check(isinstance(t["text"], str), f"token text {t['text']!r}")
                if k in (0, len(toks) - 1):
                    check(t["special"] is True and t["start"] is None and t["stop"] is None,
                          f"input {i} token {k} (special) = {t}")
                else:
                    check(t["special"] is False, f"input {i} token {k} marked special: {t}")
                    a, b = t["start"], t["stop"]
                    check(isinstance(a, int) and isinstance(b, int) and last <= a <= b <= len(raw),
                          f"input {i} token {k}: offsets {a}..{b} (text {len(raw)} bytes, previous end {last})")
                    try:
                        raw[a:b].decode("utf-8")
                    except UnicodeDecodeError:
                        raise Failure(f"input {i} token {k}: bytes {a}..{b} cut a UTF-8 character")
                    last = a
        st, j = self.curl(s, "/tokenize", {"inputs": TEXTS[0], "add_special_tokens": False})
        check(st == 200, f"status {st}")
        check(len(j) == 1, "a single string input must give an array holding one token list")
        check([t["id"] for t in j[0]] == self.ids[0][1:-1],
              f"add_special_tokens=false: {[t['id'] for t in j[0]]} != {self.ids[0][1:-1]}")
        check(all(t["special"] is False for t in j[0]), "special token without add_special_tokens")
        check(b"".join(TEXTS[0].encode()[t["start"]:t["stop"]] for t in j[0]).lower()
              == TEXTS[0].encode().replace(b" ", b"").lower(), "offsets of 'A man is playing a guitar.' do not tile it")

    def t_health_info(self, s, max_inputs=2048, max_batch_tokens=8192):
        r = su.http_request(s.port, "GET", "/health")
        check(r.status == 200 and r.json() == {"status": "ok"}, f"/health: {r}")
        r = su.http_request(s.port, "GET", "/info")
        check(r.status == 200, f"/info: {r}")
        j = r.json()
        keys = ["model_id", "model_dir", "architecture", "dim", "max_input_length", "max_batch_tokens",
                "max_inputs", "device", "gpu_name", "attention", "pooling", "normalize", "version"]
        missing = [k for k in keys if k not in j]
        check(not missing, f"/info lacks {missing}: {j}")
        check(j["dim"] == self.dim, f"/info dim {j['dim']} != {self.dim}")
        check(j["max_input_length"] == self.max_tokens, f"/info max_input_length {j['max_input_length']}")
        check(j["max_inputs"] == max_inputs, f"/info max_inputs {j['max_inputs']} != {max_inputs}")
        check(j["max_batch_tokens"] == max_batch_tokens, f"/info max_batch_tokens {j['max_batch_tokens']}")
        check(j["normalize"] is self.info["normalize"], f"/info normalize {j['normalize']!r}")
        check(j["pooling"] == self.info["pooling"], f"/info pooling {j['pooling']!r}")
        check(j["architecture"] == self.info["architecture"], f"/info architecture {j['architecture']!r}")
        check(j["version"] == self.info["sutra_version"], f"/info version {j['version']!r}")
        check(j["device"] in ("cpu", "cuda"), f"/info device {j['device']!r}")
        m = re.search(r"\(model (.+?), device (\S+), dim (\d+), max tokens (\d+)\)", s.banner)
        check(m and int(m.group(3)) == self.dim and int(m.group(4)) == self.max_tokens,
              f"start line not as specified: {s.banner!r}")

    def t_metrics(self, s):
        m0, r = su.get_metrics(s.port)
        ctype = r.headers.get("content-type", "")
        check(ctype.startswith("text/plain"), f"/metrics Content-Type {ctype!r}")
        check("version=0.0.4" in ctype.replace(" ", ""), f"/metrics Content-Type {ctype!r} lacks version=0.0.4")
        check(not m0.bad_lines, f"unparseable /metrics lines: {m0.bad_lines[:5]}")
        types = {"sutra_requests_total": "counter", "sutra_request_errors_total": "counter",
                 "sutra_queue_inputs": "gauge", "sutra_inflight_requests": "gauge",
                 "sutra_batch_inputs": "histogram", "sutra_batch_tokens": "histogram",
                 "sutra_tokens_total": "counter", "sutra_inputs_total": "counter",
                 "sutra_request_duration_seconds": "histogram", "sutra_queue_wait_seconds": "histogram",
                 "sutra_forward_batches_total": "counter"}
        bad = [f"{k} ({m0.types.get(k)})" for k, t in types.items() if m0.types.get(k) != t]
        check(not bad, f"/metrics TYPE missing or wrong for: {bad}")
        route = su.route_labels(m0, "sutra_requests_total", "/v1/embeddings")
        check(route is not None, f"no sutra_requests_total for /v1/embeddings; routes "
                                 f"{m0.label_values('sutra_requests_total', 'route')}")
        texts = TEXTS[:3]
        want_tokens = sum(len(t) for t in self.ids[:3])
        r = su.post_json(s.port, "/v1/embeddings", {"input": texts})
        check(r.status == 200, repr(r))
        r = su.post_json(s.port, "/v1/embeddings", {"input": 5})
        check(r.status == 400, repr(r))
        m1, _ = su.get_metrics(s.port)
        check(not m1.bad_lines, f"unparseable /metrics lines: {m1.bad_lines[:5]}")

        def delta(name, **lab):
            return m1.value(name, **lab) - m0.value(name, **lab)
        problems = []
        for name, lab, want in (("sutra_requests_total", {"route": route, "code": "200"}, 1),
                                ("sutra_requests_total", {"route": route, "code": "400"}, 1),
                                ("sutra_request_errors_total", {"route": route}, 1),
                                ("sutra_inputs_total", {}, 3),
                                ("sutra_tokens_total", {}, want_tokens)):
            if delta(name, **lab) != want:
                problems.append(f"{name}{lab} moved by {delta(name, **lab):g}, expected {want}")
        for name, lab in (("sutra_batch_inputs", {}), ("sutra_batch_tokens", {}), ("sutra_queue_wait_seconds", {}),
                          ("sutra_request_duration_seconds", {"route": route})):
            if delta(name + "_count", **lab) < 1:
                problems.append(f"{name}_count{lab} did not move")
        if delta("sutra_batch_tokens_sum") != want_tokens:
            problems.append(f"sutra_batch_tokens_sum moved by {delta('sutra_batch_tokens_sum'):g}, expected {want_tokens}")
        if delta("sutra_batch_inputs_sum") != 3:
            problems.append(f"sutra_batch_inputs_sum moved by {delta('sutra_batch_inputs_sum'):g}, expected 3")
        if delta("sutra_forward_batches_total") < 1:
            problems.append("sutra_forward_batches_total did not move")
        paths = m1.label_values("sutra_forward_batches_total", "path")
        if not set(paths) <= {"standard", "flash"} or not paths:
            problems.append(f"sutra_forward_batches_total path labels {paths}")
        if m1.value("sutra_queue_inputs") != 0:
            problems.append(f"sutra_queue_inputs {m1.value('sutra_queue_inputs')} while idle")
        if m1.value("sutra_inflight_requests") > 1:
            problems.append(f"sutra_inflight_requests {m1.value('sutra_inflight_requests')} while idle")
        for hname in ("sutra_batch_inputs", "sutra_batch_tokens", "sutra_queue_wait_seconds"):
            b, _, cnt = m1.histogram(hname)
            counts = [c for _, c in b]
            if not b or b[-1][0] != float("inf") or b[-1][1] != cnt or counts != sorted(counts):
                problems.append(f"{hname} buckets not cumulative / no +Inf == _count: {b} count {cnt}")
        check(not problems, "; ".join(problems))

    def t_request_log(self, s):
        pat = re.compile(r"^(\S+) (\S+) (POST|GET) (/v1/embeddings) 200 3 inputs (\d+) tokens ([\d.]+) ms")
        want = sum(len(t) for t in self.ids[:3])
        s.wait_request_lines(lambda l: pat.search(l) and int(pat.search(l).group(5)) == want, 1)
        lines = s.request_lines()
        hits = [l for l in lines if pat.search(l) and int(pat.search(l).group(5)) == want]
        check(lines, f"no per-request log lines in stderr:\n{s.log_tail(10)}")
        check(hits, f"no log line for the 3-input /v1/embeddings request with {want} tokens; e.g. {lines[-3:]}")
        check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", hits[0]), f"time not ISO 8601: {hits[0]!r}")
        # a decoded line break in the URL is written escaped: it cannot forge a log line
        r = su.http_request(s.port, "GET", "/x%0A2026-01-01T00:00:00Z%201.2.3.4%20GET%20/forged%20200")
        check(r.status == 404 and "\\x0a" in r.text(), f"404 for an escaped path: {r}")
        want = "GET /x\\x0a2026-01-01T00:00:00Z\\x201.2.3.4\\x20GET\\x20/forged\\x20200 404"
        s.wait_request_lines(lambda l: want in l, 1)
        lines = s.request_lines()
        check(any(want in l for l in lines), f"no escaped log line; e.g. {lines[-3:]}")
        check(not any(l.startswith("2026-01-01T00:00:00Z") for l in lines), "a forged log line was written")

    def t_framing(self, s):
        """HTTP/1.1 without Host, and Content-Length with chunked coding: 400, then the connection closes."""
        cases = ((b"GET /health HTTP/1.1\r\n\r\n", "missing_host"),
                 (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n10\r\n{\"inputs\": \"a\"}\r\n0\r\n\r\n", "invalid_framing"))
        for raw, code in cases:
            rc = su.RawConn(s.port, timeout=30)
            try:
                check(rc.send(raw), f"{code}: the request could not be sent")
                r = rc.read_response(30)
                p = su.error_problem(r, 400, code)
                check(p is None, f"{code}: {p}")
                check(r.headers.get("connection", "").lower() == "close", f"{code}: no Connection: close ({r.headers})")
                check(rc.closed_by_peer(10), f"{code}: the connection stayed open")
            finally:
                rc.close()
        r = su.http_request(s.port, "GET", "/health")  # http.client sends Host: served as before
        check(r.status == 200, f"/health with Host: {r}")

    def t_startup_refusals(self, s):
        """An empty --api-key, and a second server on a port another one listens on."""
        p = subprocess.run([self.sutra, "serve", "--port", "0", "--api-key", ""], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, env=su.cli_env())
        check(p.returncode == 2 and b"--api-key must not be empty" in p.stderr,
              f"empty --api-key: exit {p.returncode}, {p.stderr[-300:]!r}")
        p = subprocess.run([self.sutra, "serve", "--host", "127.0.0.1", "--port", str(s.port)] + self.model_args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, env=su.cli_env())
        check(p.returncode != 0 and b"cannot listen" in p.stderr,
              f"a second server on port {s.port}: exit {p.returncode}, {p.stderr[-300:]!r}")
        r = su.http_request(s.port, "GET", "/health")
        check(r.status == 200, f"the first server after the second's attempt: {r}")

    # ======================================================================================
    # auth
    # ======================================================================================
    def t_auth(self, s, key):
        problems = []
        body = {"input": "hello"}
        for hdrs, what in (({}, "no Authorization"), ({"Authorization": "Bearer wrong"}, "wrong key"),
                           ({"Authorization": f"Basic {key}"}, "Basic scheme"),
                           ({"Authorization": f"Bearer {key}x"}, "key + suffix"),
                           ({"Authorization": f"Bearer {key[:-1]}"}, "key prefix"),
                           ({"Authorization": "Bearer "}, "empty bearer"),
                           ({"Authorization": key}, "key without scheme")):
            for method, path, b in (("POST", "/v1/embeddings", body), ("POST", "/embed", {"inputs": "a"}),
                                    ("POST", "/tokenize", {"inputs": "a"}), ("GET", "/info", None),
                                    ("GET", "/metrics", None)):
                r = su.http_request(s.port, method, path, b, hdrs)
                p = su.error_problem(r, 401, "invalid_api_key")
                if p:
                    problems.append(f"{method} {path} with {what}: {p}")
        for hdrs, what in (({"Authorization": f"bearer {key}"}, "lower-case scheme"),
                           ({"Authorization": f"BEARER   {key}"}, "upper-case scheme, three spaces")):
            r = su.http_request(s.port, "GET", "/info", None, hdrs)
            if r.status != 200:
                problems.append(f"{what} (the scheme is case-insensitive): {r}")
        good = {"Authorization": f"Bearer {key}"}
        r = su.post_json(s.port, "/v1/embeddings", {"input": TEXTS[0], "encoding_format": "float"}, good)
        if r.status != 200:
            problems.append(f"right key: {r}")
        else:
            self.diff("right key", r.json()["data"][0]["embedding"], self.ref[0])
        for method, path in (("GET", "/info"), ("GET", "/metrics")):
            r = su.http_request(s.port, method, path, None, good)
            if r.status != 200:
                problems.append(f"{method} {path} with the right key: {r}")
        r = su.http_request(s.port, "GET", "/health")
        if r.status != 200:
            problems.append(f"/health without a key: {r}")
        ok = self.client(s, key).embeddings.create(model="m", input=TEXTS[1])
        self.diff("openai client, right key", ok.data[0].embedding, self.ref[1])
        try:
            self.client(s, "sk-wrong").embeddings.create(model="m", input="x")
            problems.append("openai client with a wrong key did not raise")
        except openai.AuthenticationError:
            pass
        st, j = self.curl(s, "/embed", {"inputs": TEXTS[2]}, headers=[f"Authorization: Bearer {key}"])
        if st != 200:
            problems.append(f"curl /embed with the key: {st} {j}")
        else:
            self.diff("curl /embed with key", j[0], self.ref[2])
        check(not problems, "\n".join(problems))

    # ======================================================================================
    # limits: the committed malformed list, oversized and slow bodies
    # ======================================================================================
    @staticmethod
    def case_body(c):
        if "body_base64" in c:
            return base64.b64decode(c["body_base64"])
        if "body_repeat" in c:
            return (c["body_prefix"] + c["body_repeat"] * c["body_times"] + c["body_suffix"]).encode()
        if "body" in c:
            return c["body"].encode("utf-8")
        return None

    def t_malformed(self, s, cases, keepalive):
        problems = []
        conn = None
        for c in cases:
            headers = c.get("headers", {"Content-Type": "application/json"})
            body = self.case_body(c)
            r = None
            for attempt in (0, 1):
                try:
                    if keepalive and conn is None:
                        conn = su.http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
                    r = su.http_request(s.port, c["method"], c["path"], body, headers, conn=conn if keepalive else None)
                    break
                except (ConnectionError, su.http.client.HTTPException, OSError) as e:
                    if conn is not None:
                        conn.close()
                        conn = None
                    if attempt == 1 or not keepalive:
                        problems.append(f"[{c['name']}] no reply: {type(e).__name__}: {e}")
            if r is None:
                continue
            if keepalive and r.headers.get("connection", "").lower() == "close":
                conn.close()
                conn = None
            p = su.error_problem(r, c["status"], c.get("code"))
            if p:
                problems.append(f"[{c['name']}] {p}")
            if not s.alive():
                problems.append(f"[{c['name']}] THE SERVER DIED:\n{s.log_tail(30)}")
                break
        if conn is not None:
            conn.close()
        check(not problems, f"{len(problems)} of {len(cases)} cases wrong:\n" + "\n".join(problems))

    def t_still_serving(self, s):
        check(s.alive(), f"server died:\n{s.log_tail()}")
        r = su.http_request(s.port, "GET", "/health")
        check(r.status == 200, f"/health: {r}")
        r = su.post_json(s.port, "/v1/embeddings", {"input": TEXTS[:3], "encoding_format": "float"})
        check(r.status == 200, f"normal request after the bad ones: {r}")
        for i in range(3):
            self.diff(f"after malformed input {i}", r.json()["data"][i]["embedding"], self.ref[i])
        r = su.post_json(s.port, "/embed", {"inputs": TEXTS[3]})
        check(r.status == 200, f"/embed after the bad ones: {r}")
        self.diff("after malformed /embed", r.json()[0], self.ref[3])

    def big_body_reply(self, s, chunked, limit):
        """Sends > limit bytes of a valid request body; returns (reply or None, bytes sent, note)."""
        total = limit + 200_000
        payload = b'{"input": "' + b"a" * (total - 13) + b'"}'
        rc = su.RawConn(s.port, timeout=30)
        try:
            hdrs = {"Content-Type": "application/json"}
            if chunked:
                hdrs["Transfer-Encoding"] = "chunked"
            else:
                hdrs["Content-Length"] = str(len(payload))
            rc.send(su.raw_request_bytes("POST", "/v1/embeddings", None, hdrs, s.port))
            sent = 0
            # the server may answer from the headers alone; else stream, looking for the reply
            if not chunked and rc.readable(1.0):
                return rc.read_response(30), sent
            step = 16384
            while sent < len(payload):
                part = payload[sent:sent + step]
                data = (b"%x\r\n" % len(part) + part + b"\r\n") if chunked else part
                if not rc.send(data):
                    break
                sent += len(part)
                if rc.readable(0):
                    break
            if chunked and sent >= len(payload):
                rc.send(b"0\r\n\r\n")
            try:
                return rc.read_response(30), sent
            except su.ConnectionClosed:
                return None, sent
        finally:
            rc.close()

    def t_huge_body(self, s, chunked, limit):
        r, sent = self.big_body_reply(s, chunked, limit)
        how = "chunked" if chunked else "Content-Length"
        check(r is not None, f"body over --max-body-bytes ({how}): connection closed with no reply "
                             f"after {sent} bytes; expected 413")
        p = su.error_problem(r, 413, "body_too_large")
        check(p is None, f"body over --max-body-bytes ({how}), {sent} bytes sent: {p}")

    def slow_body(self, s, timeout_ms, nbytes=200, every=0.2, step=5):
        """Starts a request promising nbytes and dribbling step bytes every `every` s.
        Returns (reply or None, seconds until the reply / close)."""
        body = (b'{"input": "' + b"b" * nbytes)[:nbytes]
        rc = su.RawConn(s.port, timeout=30)
        t0 = time.monotonic()
        try:
            rc.send(su.raw_request_bytes("POST", "/v1/embeddings", None,
                                         {"Content-Type": "application/json", "Content-Length": str(nbytes)}, s.port))
            sent = 0
            limit = t0 + timeout_ms / 1000 * 5 + 5
            while sent < nbytes and time.monotonic() < limit:
                if rc.readable(every):
                    break
                if not rc.send(body[sent:sent + step]):
                    break
                sent += step
            try:
                r = rc.read_response(max(1.0, limit - time.monotonic()))
            except su.ConnectionClosed:
                r = None
            return r, time.monotonic() - t0, sent
        finally:
            rc.close()

    def t_slow_body(self, s, timeout_ms):
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("res", self.slow_body(s, timeout_ms)))
        th.start()
        # meanwhile the server answers others
        time.sleep(0.3)
        t0 = time.monotonic()
        r = su.post_json(s.port, "/v1/embeddings", {"input": TEXTS[5], "encoding_format": "float"})
        took = time.monotonic() - t0
        th.join(60)
        check(not th.is_alive(), "slow-body client still running")
        check(r.status == 200, f"request beside a slow body: {r}")
        self.diff("request beside a slow body", r.json()["data"][0]["embedding"], self.ref[5])
        reply, secs, sent = box["res"]
        check(reply is not None, f"slow body: connection closed after {secs:.2f} s ({sent} bytes sent) with "
                                 f"no reply; the spec says 408 request_timeout")
        p = su.error_problem(reply, 408, "request_timeout")
        check(p is None, f"slow body ({secs:.2f} s, {sent} bytes of 200): {p}")
        check(timeout_ms / 1000 * 0.8 <= secs <= timeout_ms / 1000 * 3 + 2,
              f"408 after {secs:.2f} s with --request-timeout-ms {timeout_ms}")
        self.note(f"slow body: 408 after {secs:.2f} s (--request-timeout-ms {timeout_ms}); "
                  f"a normal request beside it took {took:.2f} s")

    def t_stalled_body(self, s, timeout_ms):
        """A request whose head promises a body that never comes: 408 by the timer (not a silent
        close when libmicrohttpd's idle timeout fires), in the route's error shape."""
        for path, tei in (("/v1/embeddings", False), ("/embed", True)):
            rc = su.RawConn(s.port, timeout=30)
            t0 = time.monotonic()
            try:
                rc.send(su.raw_request_bytes("POST", path, None,
                                             {"Content-Type": "application/json", "Content-Length": "200"}, s.port))
                try:
                    r = rc.read_response(timeout_ms / 1000 * 5 + 5)
                except su.ConnectionClosed:
                    r = None
            finally:
                rc.close()
            secs = time.monotonic() - t0
            check(r is not None, f"{path}: closed after {secs:.2f} s with no reply to a body that never came")
            p = su.error_problem(r, 408, "request_timeout")
            check(p is None, f"{path} stalled body: {p}")
            check(isinstance(r.json().get("error"), str) == tei, f"{path}: error shape {r.json()}")
            check(timeout_ms / 1000 * 0.8 <= secs <= timeout_ms / 1000 * 2 + 1,
                  f"{path}: 408 after {secs:.2f} s with --request-timeout-ms {timeout_ms}")
        self.note(f"stalled body (no byte of it): 408 after {secs:.2f} s (--request-timeout-ms {timeout_ms})")

    def t_slow_headers(self, s, timeout_ms):
        """Headers that never end: the server must not hold the connection forever (408 or close)."""
        rc = su.RawConn(s.port, timeout=30)
        t0 = time.monotonic()
        try:
            rc.send(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            bound = timeout_ms / 1000 * 3 + 3
            deadline = t0 + bound
            closed = False
            while time.monotonic() < deadline:
                if rc.readable(0.2):
                    closed = rc.closed_by_peer(max(0.1, deadline - time.monotonic()))
                    break
                if not rc.send(b"X-Slow: 1\r\n"):
                    closed = True
                    break
            secs = time.monotonic() - t0
            check(closed, f"a client whose headers never end held its connection for {secs:.1f} s "
                          f"(--request-timeout-ms {timeout_ms})")
            got = rc.buf.split(b"\r\n", 1)[0].decode("latin-1") if rc.buf else "(closed without a reply)"
            self.note(f"never-ending headers: connection closed after {secs:.2f} s, {got}")
        finally:
            rc.close()

    # ======================================================================================
    # overload: 429
    # ======================================================================================
    def t_conn_flood(self, s, per_addr, total):
        """Connections from 127.0.0.2 that send half a request head and stall, three times the
        per-address limit: the ones over it are closed as they arrive, and a client on 127.0.0.1 is
        served meanwhile."""
        info = su.http_request(s.port, "GET", "/info").json()
        check(info["max_connections_per_address"] == per_addr and info["max_connections"] == total,
              f"/info limits: {info.get('max_connections')}, {info.get('max_connections_per_address')}")
        socks = []
        try:
            for _ in range(3 * per_addr):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.bind(("127.0.0.2", 0))
                c.settimeout(5)
                c.connect(("127.0.0.1", s.port))
                c.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\n")
                socks.append(c)
            time.sleep(0.5)
            t0 = time.monotonic()
            r = su.post_json(s.port, "/embed", {"inputs": TEXTS[0]}, timeout=10)
            dt = time.monotonic() - t0
            check(r.status == 200, f"a client on 127.0.0.1 during the flood: {r}")
            self.diff("embed during a connection flood", np.array(r.json()[0], np.float32), self.ref[0])
            check(dt < 5, f"served in {dt:.2f} s during the flood")
            closed = 0
            for c in socks:
                c.settimeout(0.2)
                try:
                    closed += c.recv(1) == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed += 1
            check(2 * per_addr <= closed <= 3 * per_addr - per_addr // 2,
                  f"{closed} of {3 * per_addr} flood connections closed (limit {per_addr} per address)")
        finally:
            for c in socks:
                c.close()

    def t_token_cap(self, s, cap):
        """--max-request-tokens bounds every route, /tokenize (never truncated) included."""
        check(su.http_request(s.port, "GET", "/info").json()["max_request_tokens"] == cap, "/info max_request_tokens")
        for path, body in [("/tokenize", {"inputs": LONG_TEXT}), ("/embed", {"inputs": [TEXTS[6]] * 8, "truncate": True}),
                           ("/v1/embeddings", {"input": [TEXTS[6]] * 8})]:
            r = su.post_json(s.port, path, body)
            check(r.status == 413 and "too_many_tokens" in r.text() and str(cap) in r.text(), f"{path} over the cap: {r}")
        r = su.post_json(s.port, "/tokenize", {"inputs": TEXTS[0]})
        check(r.status == 200, f"/tokenize under the cap: {r}")

    def t_fair(self, s, budget):
        """A large request beside a stream of small ones: the large one is cut into budget-sized
        pieces that take turns, so each small request waits about one round; the large one's
        vectors still come back whole and in order."""
        n_big = 120 if QUICK else 400
        big = [TEXTS[i % len(TEXTS)] for i in range(n_big)]
        m0, _ = su.get_metrics(s.port)
        box = {}

        def run_big():
            t0 = time.monotonic()
            box["r"] = su.post_json(s.port, "/embed", {"inputs": big}, timeout=600)
            box["t"] = time.monotonic() - t0

        th = threading.Thread(target=run_big)
        th.start()
        time.sleep(0.2)
        small = []
        while th.is_alive() and len(small) < 200:
            t0 = time.monotonic()
            r = su.post_json(s.port, "/embed", {"inputs": TEXTS[3]})
            small.append(time.monotonic() - t0)
            check(r.status == 200, f"small request beside a large one: {r}")
            self.diff("small request beside a large one", r.json()[0], self.ref[3])
        th.join(600)
        r = box["r"]
        check(r.status == 200, f"large request: {r}")
        vs = r.json()
        check(len(vs) == n_big, f"large request: {len(vs)} vectors for {n_big} inputs")
        for i in range(0, n_big, 7):
            self.diff(f"large request input {i} (pieces reassembled in order)", vs[i], self.ref[i % len(TEXTS)])
        m1, _ = su.get_metrics(s.port)
        rounds = m1.value("sutra_batch_tokens_count") - m0.value("sutra_batch_tokens_count")
        check(rounds >= 4 and len(small) >= 3, f"{rounds} rounds, {len(small)} small requests: no interleaving seen")
        round_s = box["t"] / rounds
        small.sort()
        worst = small[-1]
        check(worst <= 4 * round_s + 0.25 and worst < box["t"] / 2,
              f"a small request waited {worst:.3f} s beside a large one of {box['t']:.2f} s "
              f"({rounds} rounds of {budget} tokens, {round_s * 1e3:.1f} ms a round)")
        self.note(f"fair: large request {box['t']:.2f} s in {rounds} rounds ({round_s * 1e3:.1f} ms each); "
                  f"{len(small)} small ones beside it, median {small[len(small) // 2] * 1e3:.1f} ms, "
                  f"worst {worst * 1e3:.1f} ms")

    def t_departed(self, s):
        """A client that sends a large request and leaves: the rest of its work is dropped (counted
        in sutra_requests_dropped_total), and the server is free for others at once."""
        n_big = 200 if QUICK else 600
        big = [TEXTS[i % len(TEXTS)] for i in range(n_big)]
        m0, _ = su.get_metrics(s.port)
        body = json.dumps({"inputs": big}).encode()
        rc = su.RawConn(s.port, timeout=30)
        rc.send(su.raw_request_bytes("POST", "/embed", body, {"Content-Type": "application/json"}, s.port))
        time.sleep(0.3)
        rc.close()
        deadline = time.monotonic() + 30
        dropped = 0
        while time.monotonic() < deadline:
            m, _ = su.get_metrics(s.port)
            dropped = m.value("sutra_requests_dropped_total") - m0.value("sutra_requests_dropped_total")
            if dropped:
                break
            time.sleep(0.05)
        check(dropped == 1, f"sutra_requests_dropped_total rose by {dropped}, expected 1")
        t0 = time.monotonic()
        r = su.post_json(s.port, "/embed", {"inputs": TEXTS[2]})
        took = time.monotonic() - t0
        check(r.status == 200, f"a request after the departed one: {r}")
        self.diff("a request after a departed one", r.json()[0], self.ref[2])
        m1, _ = su.get_metrics(s.port)
        ran = m1.value("sutra_inputs_total") - m0.value("sutra_inputs_total")
        check(ran < n_big, f"{ran} inputs ran: the departed request's {n_big} were not cut short")
        self.note(f"departed: dropped after {ran - 1:.0f} of {n_big} inputs; the next request took {took * 1e3:.1f} ms")

    def t_unread_replies(self, s, budget):
        """40 clients that send /tokenize requests with large replies (about 9 MB each, more than
        the 4 MB a socket's kernel buffer takes off the server's hands; 360 MB in all) and never
        read them: the replies held stay within --max-reply-bytes (the requests beyond it get 503
        with Retry-After), so does the server's memory, and once they leave the memory is released
        and others are served again."""
        n_clients = 40
        check(su.http_request(s.port, "GET", "/info").json()["max_reply_bytes"] == budget, "/info max_reply_bytes")
        text = " ".join(WORDS[i % len(WORDS)] for i in range(150000))
        body = json.dumps({"inputs": text}).encode()
        rss0 = rss_kib(s.proc.pid)
        m0, _ = su.get_metrics(s.port)
        socks = []
        try:
            for _ in range(n_clients):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                # a small receive buffer: the kernel cannot take the reply off the server's hands
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.settimeout(10)
                c.connect(("127.0.0.1", s.port))
                c.sendall(su.raw_request_bytes("POST", "/tokenize", body, {"Content-Type": "application/json"},
                                               s.port))
                socks.append(c)
            # every request answered (queued), 200 or 503, none read
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                m, _ = su.get_metrics(s.port)
                done = sum(m.value("sutra_requests_total", route="/tokenize", code=code)
                           - m0.value("sutra_requests_total", route="/tokenize", code=code)
                           for code in ("200", "503"))
                if done >= n_clients:
                    break
                time.sleep(0.1)
            check(done == n_clients, f"{done} of {n_clients} requests answered")
            ok = m.value("sutra_requests_total", route="/tokenize", code="200") - \
                m0.value("sutra_requests_total", route="/tokenize", code="200")
            held = m.value("sutra_reply_bytes")
            refused = m.value("sutra_requests_refused_reply_budget_total") - \
                m0.value("sutra_requests_refused_reply_budget_total")
            grown = (rss_kib(s.proc.pid) - rss0) / 1024
            reply_mb = 10  # one reply, rounded up
            check(0 < ok < n_clients and refused == n_clients - ok, f"{ok} answered 200, {refused} refused 503")
            check(held <= budget + reply_mb * 2**20, f"{held / 2**20:.1f} MiB of replies held, budget {budget / 2**20:.0f}")
            # the budget and the one reply over it, the 40 bodies (received at once, each freed once its
            # reply is queued), and slack; the replies alone would take about 400 MB unbounded
            body_mb = len(body) / 2**20
            # (not under the sanitizers, whose quarantine keeps freed memory resident on purpose)
            check(QUICK or grown < budget / 2**20 + reply_mb + n_clients * body_mb + 16, f"RSS grew {grown:.1f} MiB")
            r = su.post_json(s.port, "/embed", {"inputs": TEXTS[0]})
            check(r.status == 503 and r.headers.get("retry-after") == "1" and "max-reply-bytes" in r.text(),
                  f"a request while the budget is held: {r}")
        finally:
            for c in socks:
                c.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m, _ = su.get_metrics(s.port)
            if m.value("sutra_reply_bytes") < 64 * 1024:
                break
            time.sleep(0.1)
        check(m.value("sutra_reply_bytes") < 64 * 1024, f"{m.value('sutra_reply_bytes')} reply bytes still held")
        r = su.post_json(s.port, "/embed", {"inputs": TEXTS[0]})
        check(r.status == 200, f"served again once the readers left: {r}")
        self.note(f"unread replies: {ok} of {n_clients} answered, {refused} refused, {held / 2**20:.1f} MiB held, "
                  f"RSS +{grown:.1f} MiB")

    def t_overload(self, s, cap):
        n_req = 8
        texts = [[f"overload {k} {i} " + " ".join(WORDS[(k * 13 + i * 5 + j) % len(WORDS)] for j in range(100 if QUICK else 200))
                  for i in range(cap)] for k in range(n_req)]
        refs = su.ref_embed(self.sutra, [t for ts in texts for t in ts], self.model_args).reshape(n_req, cap, -1)
        barrier = threading.Barrier(n_req)
        out = [None] * n_req

        def go(k):
            barrier.wait()
            try:
                out[k] = su.post_json(s.port, "/v1/embeddings", {"input": texts[k], "encoding_format": "float"})
            except Exception as e:  # noqa: BLE001
                out[k] = e
        ths = [threading.Thread(target=go, args=(k,)) for k in range(n_req)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(120)
        problems, n429 = [], 0
        for k, r in enumerate(out):
            if not isinstance(r, su.Reply):
                problems.append(f"request {k}: {r!r}")
            elif r.status == 429:
                n429 += 1
                p = su.error_problem(r, 429, "overloaded")
                if p:
                    problems.append(f"request {k}: {p}")
                if r.headers.get("retry-after") != "1":
                    problems.append(f"request {k}: 429 without Retry-After: 1 ({r.headers})")
            elif r.status == 200:
                for i, d in enumerate(r.json()["data"]):
                    try:
                        self.diff(f"overload request {k} input {i}", d["embedding"], refs[k][i])
                    except Failure as e:
                        problems.append(str(e))
            else:
                problems.append(f"request {k}: {r}")
        n200 = sum(1 for r in out if isinstance(r, su.Reply) and r.status == 200)
        self.note(f"overload: {n_req} concurrent requests of {cap} inputs, --max-queued-inputs {cap}: "
                  f"{n200} x 200, {n429} x 429")
        check(not problems, "\n".join(problems))
        check(n200 >= 1, "no request got through")
        check(n429 >= 1, f"{n_req} concurrent requests of {cap} inputs against --max-queued-inputs {cap}: "
                         "no 429 overloaded")
        m, _ = su.get_metrics(s.port)
        route = su.route_labels(m, "sutra_requests_total", "/v1/embeddings")
        check(m.value("sutra_requests_total", route=route, code="429") == n429,
              f"sutra_requests_total{{code=429}} = {m.value('sutra_requests_total', route=route, code='429')}, "
              f"{n429} answered")

    # ======================================================================================
    # SIGTERM drain
    # ======================================================================================
    def t_drain(self, s):
        n_req, per = 4, (12 if QUICK else 24)
        texts = [f"drain text {i} " + " ".join(WORDS[(i * 11 + j) % len(WORDS)] for j in range(200)) for i in range(per)]
        refs = su.ref_embed(self.sutra, texts, self.model_args)
        # keep-alive connections opened before the signal: new requests on them must get 503
        keep = []
        for _ in range(2):
            rc = su.RawConn(s.port, timeout=30)
            rc.send(su.raw_request_bytes("GET", "/health", b"", {}, s.port))
            r = rc.read_response(30)
            check(r.status == 200, f"/health before the drain: {r}")
            keep.append(rc)
        # the idle value of the gauge (a server may count the /metrics request itself)
        base = su.get_metrics(s.port)[0].value("sutra_inflight_requests")
        out, done_at = [None] * n_req, [None] * n_req

        def go(k):
            order = texts[k:] + texts[:k]
            try:
                out[k] = (su.post_json(s.port, "/v1/embeddings", {"input": order, "encoding_format": "float"},
                                       timeout=300), k)
            except Exception as e:  # noqa: BLE001
                out[k] = (e, k)
            done_at[k] = time.monotonic()
        ths = [threading.Thread(target=go, args=(k,)) for k in range(n_req)]
        for t in ths:
            t.start()
        # wait until the server holds them all
        deadline = time.monotonic() + 30
        inflight = 0
        while time.monotonic() < deadline:
            m, _ = su.get_metrics(s.port)
            inflight = m.value("sutra_inflight_requests")
            if inflight >= n_req + base:
                break
            time.sleep(0.01)
        check(inflight >= n_req + base, f"sutra_inflight_requests reached only {inflight} ({base} when idle) "
                                        f"with {n_req} requests sent")
        time.sleep(0.2)  # (their bodies are in: a few kB each on loopback)
        t_sig = time.monotonic()
        s.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        # during the drain: /health 503 draining, a new request 503 shutting_down (or a close)
        seen = []
        for rc, (method, path, body) in zip(keep, (("GET", "/health", b""),
                                                  ("POST", "/v1/embeddings", b'{"input": "late"}'))):
            hdr = {"Content-Type": "application/json"} if body else {}
            if not rc.send(su.raw_request_bytes(method, path, body, hdr, s.port)):
                seen.append(f"{method} {path}: connection closed")
                continue
            try:
                r = rc.read_response(30)
            except (su.ConnectionClosed, socket.timeout, TimeoutError) as e:
                seen.append(f"{method} {path}: {type(e).__name__} (no reply)")
                continue
            if path == "/health":
                ok = r.status == 503 and r.json() == {"status": "draining"}
                seen.append(f"{method} {path}: {r.status} {r.text()[:60]}" + ("" if ok else "  <-- expected 503 draining"))
                check(ok, f"/health during the drain: {r}")
            else:
                p = su.error_problem(r, 503, "shutting_down")
                seen.append(f"{method} {path}: {r.status}")
                check(p is None, f"new request during the drain: {p}")
                check(r.headers.get("retry-after") == "1", f"503 during the drain without Retry-After: 1: {r.headers}")
        for rc in keep:
            rc.close()
        # a connection made during the drain: refused, closed, or its request answered 503
        try:
            rc = su.RawConn(s.port, timeout=5)
        except OSError as e:
            seen.append(f"new connection: {type(e).__name__}")
        else:
            try:
                rc.send(su.raw_request_bytes("GET", "/health", b"", {}, s.port))
                r = rc.read_response(5)
                seen.append(f"new connection: accepted, GET /health {r.status}")
                check(r.status == 503, f"a request on a connection made during the drain got {r}; expected 503 "
                                       "(or no connection)")
            except (su.ConnectionClosed, socket.timeout, TimeoutError) as e:
                seen.append(f"new connection: accepted, then {type(e).__name__} (no reply)")
            finally:
                rc.close()
        for t in ths:
            t.join(300)
        still = [k for k in range(n_req) if done_at[k] is None or done_at[k] > t_sig]
        self.note("drain: " + "; ".join(seen) + f"; {len(still)} of {n_req} requests finished after the signal")
        check(still, "every request finished before SIGTERM: the drain was not exercised")
        problems = []
        for k in range(n_req):
            r, _ = out[k]
            if not isinstance(r, su.Reply) or r.status != 200:
                problems.append(f"in-flight request {k}: {r!r}")
                continue
            data = r.json()["data"]
            if len(data) != per:
                problems.append(f"in-flight request {k}: {len(data)} vectors of {per}")
                continue
            for i in range(per):
                try:
                    self.diff(f"drain request {k} input {i}", data[i]["embedding"], refs[(k + i) % per])
                except Failure as e:
                    problems.append(str(e))
        check(not problems, "\n".join(problems[:10]))
        s.wait_exit(120, 0)


def indent(s, pre="    "):
    return "\n".join(pre + l for l in s.splitlines())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sutra", default=su.default_sutra(), help="the sutra binary (default $SUTRA_BIN or build/sutra)")
    ap.add_argument("--model", default=None, help="model (default: the server's and CLI's default)")
    ap.add_argument("--malformed", default=os.path.join(HERE, "malformed_requests.json"))
    ap.add_argument("--only", default=None, help="comma-separated substrings of test names to run")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("SUTRA_SERVER_TEST_TIMEOUT", 600)),
                    help="hard limit for the whole run, seconds")
    args = ap.parse_args()
    args.sutra = os.path.abspath(args.sutra)
    ok, why = su.has_serve(args.sutra)
    if not ok:
        print(f"FAIL: {why}", flush=True)
        return 1
    suite = Suite(args)
    try:
        return run_all(suite, args)
    except Exception as e:  # noqa: BLE001  (a server that would not start, a reference that failed)
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        return 1
    finally:
        for srv in suite.servers:
            if srv.alive():
                srv.kill()


def run_all(suite, args):
    dog = su.Watchdog(args.timeout, suite.servers)
    t0 = time.monotonic()
    print(f"sutra serve tests: {args.sutra}{' (quick)' if QUICK else ''}", flush=True)
    suite.references()
    with open(args.malformed, encoding="utf-8") as f:
        mal = json.load(f)

    # main
    s = suite.server("main")
    print(f"  {s.banner}", flush=True)
    suite.run("main: openai client, one string (default base64 path)", suite.t_openai_string, s)
    suite.run("main: openai client, array of strings, float", suite.t_openai_array, s, "float")
    suite.run("main: openai client, array of strings, base64", suite.t_openai_array, s, "base64")
    suite.run("main: openai client, dimensions=128", suite.t_openai_dimensions, s)
    suite.run("main: openai client, token-id arrays", suite.t_openai_token_ids, s)
    suite.run("main: float text round-trips, line breaks", suite.t_float_text_roundtrip, s)
    suite.run("main: TEI /embed with curl (normalize, dimensions)", suite.t_tei_embed, s)
    suite.run("main: TEI /embed long input (422, truncate, Left, prompt_name)", suite.t_tei_long, s)
    suite.run("main: TEI /tokenize with curl", suite.t_tokenize, s)
    suite.run("main: errors in TEI's shape on TEI routes, OpenAI's on OpenAI routes", suite.t_error_shapes, s)
    suite.run("main: /health, /info, start line", suite.t_health_info, s)
    suite.run("main: /metrics format and counters", suite.t_metrics, s)
    suite.run("main: per-request log lines, escaped", suite.t_request_log, s)
    suite.run("main: empty --api-key and a taken port refused at start", suite.t_startup_refusals, s)
    suite.run("main: HTTP/1.1 without Host, Content-Length with chunked -> 400 and close", suite.t_framing, s)
    suite.stop(s)

    # auth
    key = "sk-sutra-test-0123456789"
    s = suite.server("auth", ["--api-key", key])
    suite.run("auth: 401 without / with a wrong key, 200 with it, /health open", suite.t_auth, s, key)
    suite.stop(s)

    # limits
    margs = mal["server_args"]
    s = suite.server("limits", margs)
    limit = int(margs[margs.index("--max-body-bytes") + 1])
    tmo = int(margs[margs.index("--request-timeout-ms") + 1])
    cases = mal["cases"]
    suite.run("limits: /info reflects the options", suite.t_health_info, s,
              int(margs[margs.index("--max-inputs") + 1]))
    suite.run(f"limits: {len(cases)} malformed_requests.json cases, one connection each",
              suite.t_malformed, s, cases, False)
    suite.run(f"limits: the same cases over keep-alive connections", suite.t_malformed, s, cases, True)
    suite.run("limits: still serving correctly after the list", suite.t_still_serving, s)
    suite.run("limits: body over --max-body-bytes by Content-Length -> 413", suite.t_huge_body, s, False, limit)
    suite.run("limits: chunked body over --max-body-bytes -> 413", suite.t_huge_body, s, True, limit)
    suite.run("limits: slow body -> 408 (others served meanwhile)", suite.t_slow_body, s, tmo)
    suite.run("limits: stalled body (none of it sent) -> 408 by the timer", suite.t_stalled_body, s, tmo)
    suite.run("limits: never-ending headers -> connection closed", suite.t_slow_headers, s, tmo)
    suite.run("limits: still serving correctly at the end", suite.t_still_serving, s)
    suite.stop(s)

    # connection limits
    s = suite.server("conns", ["--max-connections-per-address", "16", "--max-connections", "64",
                               "--max-request-tokens", "300"])
    suite.run("conns: a flood from one address over its limit is cut, another address is served",
              suite.t_conn_flood, s, 16, 64)
    suite.run("conns: --max-request-tokens on /tokenize, /embed, /v1/embeddings -> 413", suite.t_token_cap, s, 300)
    suite.run("conns: still serving correctly", suite.t_still_serving, s)
    suite.stop(s)

    # fair scheduling
    budget = 256
    s = suite.server("fair", ["--max-batch-tokens", str(budget)])
    suite.run("fair: a large request cut into pieces, small ones beside it wait about a round",
              suite.t_fair, s, budget)
    suite.run("fair: a client that leaves has the rest of its work dropped (counted)", suite.t_departed, s)
    suite.run("fair: still serving correctly", suite.t_still_serving, s)
    suite.stop(s)

    # reply memory
    budget = 8 << 20
    s = suite.server("replies", ["--max-reply-bytes", str(budget)])
    suite.run("replies: 40 clients that never read their /tokenize replies stay within --max-reply-bytes",
              suite.t_unread_replies, s, budget)
    suite.run("replies: still serving correctly", suite.t_still_serving, s)
    suite.stop(s)

    # overload
    cap = 8
    s = suite.server("queue", ["--max-queued-inputs", str(cap), "--max-batch-tokens", "2048"])
    suite.run("queue: concurrent requests over --max-queued-inputs -> 429", suite.t_overload, s, cap)
    suite.run("queue: still serving correctly", suite.t_still_serving, s)
    suite.stop(s)

    # dense
    model = suite.dense_model()
    s = su.Server(suite.sutra, ["--model", model], name="dense")
    suite.servers.append(s)
    s.start()
    suite.run("dense: two Dense modules: /info, openai client, /embed, dimensions", suite.t_dense, s, model)
    suite.stop(s)

    # rerank and bge-m3's outputs
    main_s = suite.server("main-for-rerank")
    model = suite.rerank_model()
    s = su.Server(suite.sutra, ["--model", model, "--max-wait-us", "2000"], name="rerank")
    suite.servers.append(s)
    s.start()
    suite.run("rerank: /rerank and /v1/rerank against the library, bad input, an embedding model refuses",
              suite.t_rerank, s, model, main_s.port)
    suite.run("rerank: 64 concurrent clients, three kinds of request, no crossed replies", suite.t_rerank_concurrent,
              s, model)
    suite.stop(s)
    suite.stop(main_s)
    model = suite.m3_model()
    s = su.Server(suite.sutra, ["--model", model, "--max-wait-us", "2000"], name="bge-m3")
    suite.servers.append(s)
    s.start()
    suite.run("bge-m3: /embed_sparse, /embed_all, /embed against the library", suite.t_m3, s, model)
    suite.run("bge-m3: 64 concurrent clients mixing dense, sparse and multi-vector", suite.t_m3_concurrent, s, model)
    suite.stop(s)

    # drain
    s = suite.server("drain", ["--max-batch-tokens", "2048"])
    suite.run("drain: SIGTERM with requests in flight -> all 200, exit 0", suite.t_drain, s)
    if s.returncode is None:
        s.kill()

    dog.cancel()
    for d in suite.tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    for srv in suite.servers:
        if srv.alive():
            srv.kill()
    n_fail = sum(1 for r in suite.results if not r[1])
    print(f"\n{len(suite.results) - n_fail} passed, {n_fail} failed, in {time.monotonic() - t0:.1f} s; "
          f"largest |server - library| {suite.max_diff:.3g}")
    for name, ok, _, _ in suite.results:
        if not ok:
            print(f"  FAILED: {name}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
