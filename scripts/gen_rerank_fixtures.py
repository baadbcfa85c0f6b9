#!/usr/bin/env python3
"""Builds the fixtures of the scoring, sparse and multi-vector heads (tests/test_rerank.c): random-
initialised models with the real configurations' widths, cut to 2 layers (vocabularies as the
tokenizer the test uses has them), whose weights are not stored but drawn from the seeded generator
tests/seeded_weights.c reimplements, and the outputs the reference libraries give:

  minilm-ce/     BertForSequenceClassification, ms-marco-MiniLM-L6-v2's shape (384 wide, 12 heads,
                 one label, its saved Identity activation): CrossEncoder.predict
  xlmr-ce/       XLMRobertaForSequenceClassification, bge-reranker-v2-m3's shape (1024 wide, 16
                 heads, 4096 FFN, 8194 positions, one label, default Sigmoid): CrossEncoder.predict
  modernbert-ce/ ModernBertForSequenceClassification, gte-reranker-modernbert-base's shape (768,
                 12 heads, 1152 FFN, classifier_pooling mean): CrossEncoder.predict
  splade/        BertForMaskedLM + SparseEncoder modules (MLMTransformer, SpladePooling max/relu),
                 splade-v3's shape (bert-base: 768, 12 heads): SparseEncoder.encode
  bge-m3/        XLMRobertaModel with bge-m3's shape (1024, 16 heads, 8194 positions), CLS pooling,
                 Normalize, and sparse_linear / colbert_linear (written for the reference as the .pt
                 files FlagEmbedding reads; the test writes safetensors copies of the same values):
                 BGEM3FlagModel.encode (dense, sparse, ColBERT)
  qwen3-reranker/ Qwen3ForCausalLM with Qwen3-Reranker's shape (1024, 16/8 heads, head_dim 128,
                 3072 FFN), untied lm_head (as the 4B and 8B ship it): the model card's scoring code
                 (prefix + "<Instruct>: ..\\n<Query>: ..\\n<Document>: .." + suffix, p(yes) at the last token)

Tokenizers: the default model's (BERT WordPiece) for minilm-ce and splade, the XLM-R fixture's
(tests/fixtures/longctx/xlmr, a 4002-piece Unigram) for xlmr-ce and bge-m3, the ModernBERT fixture's
for modernbert-ce, the real Qwen3 tokenizer (tests/fixtures/qwen3/tokenizer) for qwen3-reranker.

Usage: python3 scripts/gen_rerank_fixtures.py [--tokenizer-dir DIR] [--only NAME]
Needs: torch, transformers, sentence-transformers, FlagEmbedding, numpy, safetensors. CPU, minutes.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and the safetensors writer)

FX = os.path.join(ROOT, "tests", "fixtures", "rerank")
SEED = 20261207
QUERY = "what is the capital of France?"
DOCS = ["Paris is the capital and most populous city of France.",
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris.",
        "how do magnets work",
        "Déjà vu 東京 🗼 naïve façade",
        "",
        ("Paris is the capital and most populous city of France. With an estimated population of 2,102,650 "
         "residents in January 2023 in an area of more than 105 km2, Paris is the fourth-most populous city in "
         "the European Union and the 30th most densely populated city in the world in 2022. ") * 3]
TEXTS = ["What is BGE M3?", "BM25 is a bag-of-words retrieval function", "Déjà vu 東京 🗼", "a",
         "Defined as a lexical matching model, BM25 ranks documents by the query terms appearing in each " * 4]
SHORT = 48  # the second token limit every scorer is checked at (truncation of the pair)


def recipe_from(model, skip=()):
    """(name, shape, centre, half-width) of every tensor the checkpoint stores (tied copies once)."""
    seen, out = set(), []
    for name, t in model.state_dict().items():
        if not t.is_floating_point() or name in skip:
            continue
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        if key in seen:
            continue
        seen.add(key)
        shape = list(t.shape)
        out.append((name, shape, *g.init_range(name, shape)))
    return out


def save_recipe(out, tensors, note):
    g.write_json(os.path.join(out, "weights.json"), {
        "generator": "scripts/gen_rerank_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
        "shards": 1, "dtype": "F32", "note": note,
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
    g.write_weights(out, tensors, SEED, 1)


def copy_tokenizer(src_dir, out, names=("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")):
    for n in names:
        if os.path.exists(os.path.join(src_dir, n)):
            shutil.copy(os.path.join(src_dir, n), os.path.join(out, n))


def fresh(name):
    out = os.path.join(FX, name)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    return out


def make_model(out, cls, cfg):
    from transformers import AutoConfig
    g.write_json(os.path.join(out, "config.json"), cfg)
    torch.manual_seed(0)
    return cls(AutoConfig.from_pretrained(out)).eval()


def finish(out, ref, meta, tok_dir):
    """The reference, its notes, and the folder emptied of weights and of the tokenizer files the test
    copies back from tok_dir (reference.json "tokenizer_from": a path in the repository, or "default")."""
    from safetensors.numpy import save_file
    save_file(ref, os.path.join(out, "reference.safetensors"), metadata={"generator": "scripts/gen_rerank_fixtures.py"})
    rel = os.path.relpath(tok_dir, ROOT)
    meta["tokenizer_from"] = "default" if rel.startswith("..") else rel
    g.write_json(os.path.join(out, "reference.json"), meta)
    for fn in os.listdir(out):
        if (fn.endswith(".safetensors") and fn != "reference.safetensors") or fn.endswith(".pt") or \
                fn in ("tokenizer.json", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"):
            os.remove(os.path.join(out, fn))


def cross_encoder(name, cls, cfg, tok_dir, note, meta_extra):
    from sentence_transformers import CrossEncoder
    out = fresh(name)
    model = make_model(out, cls, cfg)
    tensors = recipe_from(model)
    save_recipe(out, tensors, note)
    copy_tokenizer(tok_dir, out)
    ref = {}
    for limit in (0, SHORT):
        kw = {"max_length": limit} if limit else {}
        ce = CrossEncoder(out, device="cpu", **kw)
        pairs = [(QUERY, d) for d in DOCS]
        scores = ce.predict(pairs, convert_to_numpy=True)
        raw = ce.predict(pairs, convert_to_numpy=True, activation_fn=torch.nn.Identity())
        tag = "len%d" % limit if limit else "full"
        ref["scores." + tag] = np.asarray(scores, dtype=np.float32).reshape(-1)
        ref["logits." + tag] = np.asarray(raw, dtype=np.float32).reshape(-1)
        enc = ce.tokenizer([QUERY] * len(DOCS), DOCS, truncation=True, **({"max_length": limit} if limit else {}))
        for i, ids in enumerate(enc["input_ids"]):
            ref["ids.%s.%d" % (tag, i)] = np.array(ids, dtype=np.int32)
    meta = {"query": QUERY, "documents": DOCS, "short_limit": SHORT,
            "activation": type(CrossEncoder(out, device="cpu").activation_fn).__name__}
    meta.update(meta_extra)
    finish(out, ref, meta, tok_dir)
    print(name, ref["scores.full"], meta["activation"])


def splade(tok_dir):
    from sentence_transformers import SparseEncoder
    from transformers import BertForMaskedLM
    out = fresh("splade")
    cfg = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 768, "num_hidden_layers": 2,
           "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
           "type_vocab_size": 2, "vocab_size": 30522, "layer_norm_eps": 1e-12, "pad_token_id": 0,
           "tie_word_embeddings": True}
    model = make_model(out, BertForMaskedLM, cfg)
    # the decoder's bias well below 0, so that a text lights up hundreds of its 30522 entries, not
    # most of them (a trained SPLADE model's vectors are sparse; a random one's are not)
    tensors = [(n, s, -45.0, 5.0) if n.startswith("cls.predictions") and n.endswith("bias") and len(s) == 1 and
               s[0] == cfg["vocab_size"] else (n, s, c, h) for (n, s, c, h) in recipe_from(model)]
    save_recipe(out, tensors, "splade-v3's shape (bert-base) cut to 2 layers; decoder tied to the word embeddings")
    copy_tokenizer(tok_dir, out, ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"))
    g.write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.sparse_encoder.models.MLMTransformer"},
        {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": "sentence_transformers.sparse_encoder.models.SpladePooling"}])
    os.makedirs(os.path.join(out, "1_SpladePooling"))
    g.write_json(os.path.join(out, "1_SpladePooling", "config.json"), {
        "pooling_strategy": "max", "activation_function": "relu", "word_embedding_dimension": 30522})
    g.write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": 512, "do_lower_case": False})
    g.write_json(os.path.join(out, "config_sentence_transformers.json"), {
        "model_type": "SparseEncoder", "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "dot"})
    enc = SparseEncoder(out, device="cpu")
    assert [type(m).__name__ for m in enc] == ["MLMTransformer", "SpladePooling"], [type(m).__name__ for m in enc]
    ref = {}
    for i, t in enumerate(TEXTS):
        v = enc.encode([t], convert_to_tensor=True)[0].to_dense().numpy().astype(np.float32)
        nz = np.nonzero(v)[0]
        ref["sparse_ids.%d" % i] = nz.astype(np.int32)
        ref["sparse_w.%d" % i] = v[nz]
    finish(out, ref, {"texts": TEXTS}, tok_dir)
    print("splade", [len(ref["sparse_ids.%d" % i]) for i in range(len(TEXTS))])


def bge_m3():
    from FlagEmbedding import BGEM3FlagModel
    from transformers import XLMRobertaModel
    out = fresh("bge-m3")
    src = os.path.join(ROOT, "tests", "fixtures", "longctx", "xlmr")
    cfg = {"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_size": 1024,
           "num_hidden_layers": 2, "num_attention_heads": 16, "intermediate_size": 4096, "hidden_act": "gelu",
           "max_position_embeddings": 8194, "type_vocab_size": 1, "vocab_size": 4002, "layer_norm_eps": 1e-5,
           "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
    model = make_model(out, XLMRobertaModel, cfg)
    tensors = recipe_from(model, skip=("pooler.dense.weight", "pooler.dense.bias"))
    save_recipe(out, tensors, "bge-m3's shape cut to 2 layers, the XLM-R fixture's 4002-piece vocabulary")
    # the two heads, each its own recipe (tensors "weight" and "bias", seeds SEED + 1 and SEED + 2):
    # FlagEmbedding reads them as .pt state dicts, the test writes <head>.safetensors from the recipe
    heads = {"sparse_linear": [("weight", [1, 1024], 0.0, math.sqrt(3.0 / 1024)), ("bias", [1], 0.05, 0.1)],
             "colbert_linear": [("weight", [1024, 1024], 0.0, math.sqrt(3.0 / 1024)), ("bias", [1024], 0.0, 0.1)]}
    for k, (head, ts) in enumerate(heads.items()):
        g.write_json(os.path.join(out, head + ".json"), {
            "generator": "scripts/gen_rerank_fixtures.py", "seed": SEED + 1 + k, "shards": 1, "dtype": "F32",
            "tensors": [{"name": n, "shape": sh, "centre": c, "half_width": h} for (n, sh, c, h) in ts]}, indent=1)
        torch.save({n: torch.from_numpy(g.seeded(n, sh, c, h, SEED + 1 + k)) for (n, sh, c, h) in ts},
                   os.path.join(out, head + ".pt"))
    copy_tokenizer(src, out, ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                              "sentencepiece.bpe.model"))
    g.write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(out, "1_Pooling"))
    g.write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 1024, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    g.write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": 8192, "do_lower_case": False})
    m3 = BGEM3FlagModel(out, use_fp16=False, devices="cpu")
    res = m3.encode(TEXTS, batch_size=1, max_length=8192, return_dense=True, return_sparse=True,
                    return_colbert_vecs=True)
    ref = {}
    for i in range(len(TEXTS)):
        ref["dense.%d" % i] = np.asarray(res["dense_vecs"][i], dtype=np.float32)
        lw = res["lexical_weights"][i]
        ids = sorted(int(k) for k in lw)
        ref["sparse_ids.%d" % i] = np.array(ids, dtype=np.int32)
        ref["sparse_w.%d" % i] = np.array([float(lw[str(k)]) for k in ids], dtype=np.float32)
        ref["colbert.%d" % i] = np.asarray(res["colbert_vecs"][i], dtype=np.float32)
    finish(out, ref, {"texts": TEXTS, "heads": "sparse_linear.json, colbert_linear.json: FlagEmbedding read them as "
                      ".pt state dicts; the test writes sparse_linear.safetensors / colbert_linear.safetensors"}, src)
    print("bge-m3", [len(ref["sparse_ids.%d" % i]) for i in range(len(TEXTS))], ref["colbert.0"].shape)


def qwen3_reranker():
    from transformers import AutoTokenizer, Qwen3ForCausalLM
    out = fresh("qwen3-reranker")
    tok_dir = os.path.join(ROOT, "tests", "fixtures", "qwen3", "tokenizer")
    cfg = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024, "num_hidden_layers": 2,
           "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072,
           "hidden_act": "silu", "max_position_embeddings": 40960, "rms_norm_eps": 1e-6, "rope_theta": 1000000,
           "vocab_size": 151669, "tie_word_embeddings": False, "attention_bias": False, "bos_token_id": 151643,
           "eos_token_id": 151645, "use_sliding_window": False, "sliding_window": None, "max_window_layers": 28,
           "torch_dtype": "float32"}
    model = make_model(out, Qwen3ForCausalLM, cfg)
    tensors = [(n, s, c, 0.05 if n == "lm_head.weight" else h) for (n, s, c, h) in recipe_from(model)]
    save_recipe(out, tensors, "Qwen3-Reranker's widths cut to 2 layers, lm_head untied (the 4B / 8B way)")
    copy_tokenizer(tok_dir, out, ("tokenizer.json", "tokenizer_config.json"))
    model = Qwen3ForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(out)
    prefix = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
              "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    task = "Given a web search query, retrieve relevant passages that answer the query"
    pre = tok.encode(prefix, add_special_tokens=False)
    suf = tok.encode(suffix, add_special_tokens=False)
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    ref = {}
    for limit in (0, SHORT + len(pre) + len(suf)):
        tag = "len%d" % limit if limit else "full"
        scores = []
        for i, d in enumerate(DOCS):
            body = "<Instruct>: %s\n<Query>: %s\n<Document>: %s" % (task, QUERY, d)
            ids = tok.encode(body, add_special_tokens=False)
            if limit:
                ids = ids[:limit - len(pre) - len(suf)]
            ids = pre + ids + suf
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            pair = torch.stack([logits[no], logits[yes]])
            scores.append(torch.nn.functional.log_softmax(pair, dim=0)[1].exp().item())
            ref["ids.%s.%d" % (tag, i)] = np.array(ids, dtype=np.int32)
        ref["scores." + tag] = np.array(scores, dtype=np.float32)
    finish(out, ref, {"query": QUERY, "documents": DOCS, "instruction": task, "yes": yes, "no": no,
                      "short_limit": SHORT + len(pre) + len(suf)}, tok_dir)
    print("qwen3-reranker", ref["scores.full"])


def main():
    ap = argparse.ArgumentParser()
    models = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(models, "all-MiniLM-L6-v2"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    import transformers
    from transformers import BertForSequenceClassification, ModernBertForSequenceClassification, \
        XLMRobertaForSequenceClassification
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    todo = args.only.split(",") if args.only else ["minilm-ce", "xlmr-ce", "modernbert-ce", "splade", "bge-m3",
                                                   "qwen3-reranker"]
    if "minilm-ce" in todo:
        cross_encoder("minilm-ce", BertForSequenceClassification, {
            "architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 384,
            "num_hidden_layers": 2, "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
            "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522, "layer_norm_eps": 1e-12,
            "pad_token_id": 0, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0},
            "sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity"}, args.tokenizer_dir,
            "ms-marco-MiniLM-L6-v2's shape cut to 2 layers", {})
    if "xlmr-ce" in todo:
        cross_encoder("xlmr-ce", XLMRobertaForSequenceClassification, {
            "architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta", "hidden_size": 1024,
            "num_hidden_layers": 2, "num_attention_heads": 16, "intermediate_size": 4096, "hidden_act": "gelu",
            "max_position_embeddings": 8194, "type_vocab_size": 1, "vocab_size": 4002, "layer_norm_eps": 1e-5,
            "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "id2label": {"0": "LABEL_0"},
            "label2id": {"LABEL_0": 0}}, os.path.join(ROOT, "tests", "fixtures", "longctx", "xlmr"),
            "bge-reranker-v2-m3's shape cut to 2 layers, the XLM-R fixture's 4002-piece vocabulary", {})
    if "modernbert-ce" in todo:
        cross_encoder("modernbert-ce", ModernBertForSequenceClassification, {
            "architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert", "hidden_size": 768,
            "num_hidden_layers": 2, "num_attention_heads": 12, "intermediate_size": 1152, "hidden_activation": "gelu",
            "max_position_embeddings": 8192, "vocab_size": 50368, "norm_eps": 1e-5, "norm_bias": False,
            "global_attn_every_n_layers": 3, "local_attention": 128, "global_rope_theta": 160000.0,
            "local_rope_theta": 10000.0, "pad_token_id": 50283, "bos_token_id": 50281, "eos_token_id": 50282,
            "cls_token_id": 50281, "sep_token_id": 50282, "classifier_pooling": "mean", "classifier_activation": "gelu",
            "classifier_bias": False, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}},
            os.path.join(ROOT, "tests", "fixtures", "longctx", "modernbert"),
            "gte-reranker-modernbert-base's shape cut to 2 layers", {})
    if "splade" in todo:
        splade(args.tokenizer_dir)
    if "bge-m3" in todo:
        bge_m3()
    if "qwen3-reranker" in todo:
        qwen3_reranker()


if __name__ == "__main__":
    main()
