#!/usr/bin/env python3
"""Rerank and bge-m3 throughput on a GPU, Sutra beside HF transformers in the same run.

Makes two random-initialised models with the real shapes (torch's init, fp16 safetensors) in a
temporary folder: bge-reranker-v2-m3 (XLMRobertaForSequenceClassification, 24 layers, 1024 wide,
16 heads, FFN 4096, vocabulary 250002, one label) and bge-m3 (XLMRobertaModel of the same shape with
CLS pooling, Normalize, sparse_linear and colbert_linear), with the XLM-R test tokenizer
(tests/fixtures/longctx/xlmr; its ids are a subset of the vocabulary). Then, per workload (N pairs
or texts of about L tokens):

  rerank: Sutra `sutra rerank --device cuda --repeat R` (median of R, pairs/s) against HF
          transformers: the tokenizer's pair encoding (padding, longest_first), the model in fp16,
          sigmoid of the logit, one batch, CUDA-synchronised wall time, median of R;
  bge-m3: Sutra `sutra embed --output-kind all --repeat R` against HF transformers running
          FlagEmbedding's three heads (normalised CLS; relu(sparse_linear) max per token id without
          specials, on the host; colbert_linear on tokens 1.., normalised, unpadded), the same way.

Writes $OUT/rerank_peer.json and prints a table. Usage: python3 bench/rerank_peer.py --sutra build/sutra
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOK = os.path.join(ROOT, "tests", "fixtures", "longctx", "xlmr")
CFG = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
       "hidden_act": "gelu", "max_position_embeddings": 8194, "type_vocab_size": 1, "vocab_size": 250002,
       "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "model_type": "xlm-roberta"}


def make_models(tmp):
    from safetensors.torch import save_file
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaModel
    torch.manual_seed(0)
    rr = os.path.join(tmp, "reranker")
    m3 = os.path.join(tmp, "bge-m3")
    for d in (rr, m3):
        os.makedirs(d)
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
            if os.path.exists(os.path.join(TOK, f)):
                shutil.copy(os.path.join(TOK, f), d)
    cfg = XLMRobertaConfig(**{k: v for k, v in CFG.items() if k != "model_type"}, num_labels=1,
                           architectures=["XLMRobertaForSequenceClassification"])
    XLMRobertaForSequenceClassification(cfg).half().save_pretrained(rr)
    cfg = XLMRobertaConfig(**{k: v for k, v in CFG.items() if k != "model_type"}, architectures=["XLMRobertaModel"])
    XLMRobertaModel(cfg, add_pooling_layer=False).half().save_pretrained(m3)
    heads = {"sparse_linear": torch.nn.Linear(1024, 1), "colbert_linear": torch.nn.Linear(1024, 1024)}
    for name, lin in heads.items():
        sd = {k: v.detach().float().contiguous() for k, v in lin.state_dict().items()}
        torch.save(sd, os.path.join(m3, name + ".pt"))
        save_file(sd, os.path.join(m3, name + ".safetensors"))
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(m3, "modules.json"), "w"))
    os.makedirs(os.path.join(m3, "1_Pooling"))
    json.dump({"word_embedding_dimension": 1024, "pooling_mode_cls_token": True},
              open(os.path.join(m3, "1_Pooling", "config.json"), "w"))
    json.dump({"max_seq_length": 8192}, open(os.path.join(m3, "sentence_bert_config.json"), "w"))
    return rr, m3


def texts_of(tok, n, tokens):
    """n distinct texts of about `tokens` tokens each."""
    words = ["paris", "capital", "france", "city", "river", "museum", "tower", "history", "people", "music"]
    out = []
    for i in range(n):
        t, k = [], i
        while len(tok(" ".join(t))["input_ids"]) < tokens:
            t.append(words[k % len(words)])
            k = k * 7 + 3
        out.append(" ".join(t))
    return out


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def sutra_median(cmd, stdin_text):
    p = subprocess.run(cmd, input=stdin_text, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit("sutra failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    for line in p.stderr.splitlines():
        if "median of" in line:
            return float(line.split("median of")[1].split("runs")[1].split("ms")[0]) / 1e3
    raise SystemExit("no timing in: " + p.stderr[-1000:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sutra", default=os.path.join(ROOT, "build", "sutra"))
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    out_dir = os.environ.get("OUT", os.path.join(ROOT, "bench", "out"))
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp()
    rr, m3 = make_models(tmp)
    tok = AutoTokenizer.from_pretrained(rr)
    rows = []
    dev = torch.device("cuda")
    ce = AutoModelForSequenceClassification.from_pretrained(rr, dtype=torch.float16).to(dev).eval()
    query = "what is the capital of france and which river runs through it"
    for n, L in ((64, 256), (64, 512), (256, 128)):
        docs = texts_of(tok, n, L)

        def hf_rerank():
            with torch.no_grad():
                b = tok([query] * n, docs, padding=True, truncation="longest_first", max_length=512,
                        return_tensors="pt").to(dev)
                return torch.sigmoid(ce(**b).logits.float()).view(-1).cpu()
        t_hf = timed(hf_rerank, args.reps)
        t_su = sutra_median([args.sutra, "rerank", "-m", rr, "--device", "cuda", "--max-length", "512", "--query", query,
                             "--repeat", str(args.reps)], "\n".join(docs) + "\n")
        rows.append({"task": "rerank bge-reranker-v2-m3", "pairs": n, "tokens": L, "hf_ms": t_hf * 1e3,
                     "sutra_ms": t_su * 1e3, "hf_per_s": n / t_hf, "sutra_per_s": n / t_su, "speedup": t_hf / t_su})
        print(rows[-1], flush=True)
    del ce
    enc = AutoModel.from_pretrained(m3, dtype=torch.float16).to(dev).eval()
    sp = torch.nn.Linear(1024, 1).to(dev).half()
    sp.load_state_dict(torch.load(os.path.join(m3, "sparse_linear.pt")))
    cb = torch.nn.Linear(1024, 1024).to(dev).half()
    cb.load_state_dict(torch.load(os.path.join(m3, "colbert_linear.pt")))
    skip = {tok.cls_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id}
    for n, L in ((64, 256), (64, 512), (256, 128)):
        texts = texts_of(tok, n, L)

        def hf_m3():
            with torch.no_grad():
                b = tok(texts, padding=True, truncation=True, max_length=8192, return_tensors="pt").to(dev)
                h = enc(**b).last_hidden_state
                dense = torch.nn.functional.normalize(h[:, 0].float(), dim=-1).cpu()
                w = torch.relu(sp(h)).squeeze(-1).float().cpu().numpy()
                ids = b["input_ids"].cpu().numpy()
                mask = b["attention_mask"]
                col = torch.nn.functional.normalize(cb(h[:, 1:]).float(), dim=-1)
                col = (col * mask[:, 1:, None]).cpu().numpy()
                lens = mask.sum(1).cpu().numpy()
                out = []
                for i in range(n):
                    d = {}
                    for t in range(int(lens[i])):
                        if ids[i, t] not in skip and w[i, t] > 0 and w[i, t] > d.get(ids[i, t], 0):
                            d[ids[i, t]] = w[i, t]
                    out.append((dense[i], d, col[i, :int(lens[i]) - 1]))
                return out
        t_hf = timed(hf_m3, args.reps)
        t_su = sutra_median([args.sutra, "embed", "-m", m3, "--device", "cuda", "--output-kind", "all",
                             "--repeat", str(args.reps)], "\n".join(texts) + "\n")
        rows.append({"task": "bge-m3 dense+sparse+colbert", "pairs": n, "tokens": L, "hf_ms": t_hf * 1e3,
                     "sutra_ms": t_su * 1e3, "hf_per_s": n / t_hf, "sutra_per_s": n / t_su, "speedup": t_hf / t_su})
        print(rows[-1], flush=True)
    res = {"device": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
           "reps": args.reps, "rows": rows}
    json.dump(res, open(os.path.join(out_dir, "rerank_peer.json"), "w"), indent=1)
    print("\n%-30s %6s %6s %10s %10s %12s %12s %7s" % ("task", "n", "tokens", "HF ms", "Sutra ms", "HF /s", "Sutra /s", "x"))
    for r in rows:
        print("%-30s %6d %6d %10.2f %10.2f %12.1f %12.1f %7.2f" % (r["task"], r["pairs"], r["tokens"], r["hf_ms"],
                                                                  r["sutra_ms"], r["hf_per_s"], r["sutra_per_s"],
                                                                  r["speedup"]))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
