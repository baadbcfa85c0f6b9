#!/usr/bin/env python3
"""Builds the EmbeddingGemma test fixtures.

tokenizer/   a 4096-token BPE with Gemma's structure (no pre-tokenizer, a normalizer replacing " "
             with U+2581, byte fallback to <0x00>..<0xFF>, <pad> <eos> <bos> <unk> <mask> at ids 0-4,
             a template adding <bos> ... <eos>), trained on the long-context fixtures' training text.
             Gemma's own tokenizer.json (262144 tokens, ~33 MB) is too large for the repository.
gemma_expected.jsonl  tokenizers' ids and byte offsets for tests/fixtures/tokenizer/corpus.jsonl and
             corpus_extra.jsonl (the format of tests/fixtures/longctx/*_expected.jsonl)
emb-6l/      a random-initialised model with embeddinggemma-300m's configuration (hidden 768, 3 query
             heads over 1 key/value head of 256, GeGLU FFN 1152, query_pre_attn_scalar 256,
             bidirectional attention, 512-token sliding windows in five of every six layers, rope
             bases 10000 local / 1000000 global, 2048 positions) cut to 6 of its 24 layers and to
             the tokenizer above's vocabulary, with its sentence-transformers pipeline (mean pooling,
             Dense 768->3072 and 3072->768 without biases, Normalize) and prompts. Weights are not
             stored but drawn from the seeded generator tests/seeded_weights.c reimplements (the
             encoder's in weights.json, each Dense module's in its folder). reference.safetensors:
             ids.lenN, hidden.lenN (every stride.lenN-th row for N > 512), pooled_mean.lenN for
             Gemma3TextModel (fp32, eager); sentence.<i>, query.<i> (prompt "query") and ids.<i>
             for the texts through sentence-transformers.

With --full: all 24 layers in emb-24l/ at 1, 7, 100 and 600 tokens, the tokenizer left as it is.

Usage: python3 scripts/gen_gemma_fixtures.py [--full]
Needs: torch, transformers, sentence-transformers, tokenizers, numpy, safetensors. CPU, ~1 minute.
"""
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
import gen_qwen3_fixtures as g  # noqa: E402  (the seeded generator and the writers)

OUT = os.path.join(ROOT, "tests", "fixtures", "gemma")
MODEL = os.path.join(OUT, "emb-6l")
SEED = 20261212
LAYERS = 6
LENGTHS = [1, 7, 100, 600, 2048]
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
TEXTS = ["What is the capital of France?",
         "Paris is the capital and most populous city of France, known for the Eiffel Tower.",
         "how do magnets work",
         "Déjà vu: the feeling of having already lived through the present situation. 東京 🗼",
         "A man is playing a guitar.",
         "  leading and   inner spaces\tand a tab"]
# embeddinggemma-300m's prompts, as its config_sentence_transformers.json has them
PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: ",
           "BitextMining": "task: search result | query: ", "Clustering": "task: clustering | query: ",
           "Classification": "task: classification | query: ", "InstructionRetrieval": "task: code retrieval | query: ",
           "MultilabelClassification": "task: classification | query: ",
           "PairClassification": "task: sentence similarity | query: ", "Reranking": "task: search result | query: ",
           "Retrieval": "task: search result | query: ", "Retrieval-query": "task: search result | query: ",
           "Retrieval-document": "title: none | text: ", "STS": "task: sentence similarity | query: ",
           "Summarization": "task: summarization | query: "}
EXTRA_LINES = ["<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "a<mask>b", "<bos> already has <bos> and <eos>",
               "\u2581already\u2581marked", "▁▁ two", "  ", " ", "\t\n\r", "emoji 🗼🤖 and rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
               "<0x41> is not a byte token in text", "task: search result | query: what is BPE?",
               "title: none | text: Byte fallback keeps every character.", "日本語のテキスト", "a" * 300]


def added(i, s):
    return {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
            "special": True}


def small_tokenizer(dst):
    """The tokenizer described in the module doc; returns its vocabulary size."""
    from gen_longctx_fixtures import training_text
    from tokenizers import Tokenizer, models, normalizers, trainers
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    trainer = trainers.BpeTrainer(vocab_size=4096 - 256, min_frequency=2, show_progress=False,
                                  special_tokens=SPECIALS, max_token_length=16)
    tok.train_from_iterator((line[:400] for line in training_text()), trainer)
    d = json.loads(tok.to_str())
    learned = sorted(((t, i) for t, i in d["model"]["vocab"].items() if t not in SPECIALS), key=lambda x: x[1])
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for t, _ in learned:
        vocab[t] = len(vocab)
    d["model"]["vocab"] = vocab
    d["model"]["ignore_merges"] = False
    d["added_tokens"] = [added(i, s) for i, s in enumerate(SPECIALS)]
    d["pre_tokenizer"] = None
    d["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    d["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<eos>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "<eos>", "type_id": 1}}],
        "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]},
                           "<eos>": {"id": "<eos>", "ids": [1], "tokens": ["<eos>"]}}}
    d["decoder"] = None
    os.makedirs(dst, exist_ok=True)
    g.write_json(os.path.join(dst, "tokenizer.json"), d)
    g.write_json(os.path.join(dst, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": True, "bos_token": "<bos>", "eos_token": "<eos>",
        "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>", "model_max_length": 2048,
        "padding_side": "right", "tokenizer_class": "GemmaTokenizer"})
    return len(vocab)


def config(vocab):
    """config.json as embeddinggemma-300m ships it (transformers 4.x keys), cut to LAYERS layers and vocab."""
    pattern = ["sliding_attention"] * 5 + ["full_attention"]
    return {"_sliding_window_pattern": 6, "architectures": ["Gemma3TextModel"], "attention_bias": False,
            "attention_dropout": 0.0, "attn_logit_softcapping": None, "bos_token_id": 2, "eos_token_id": 1,
            "final_logit_softcapping": None, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
            "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 1152,
            "layer_types": [pattern[i % 6] for i in range(LAYERS)], "max_position_embeddings": 2048,
            "model_type": "gemma3_text", "num_attention_heads": 3, "num_hidden_layers": LAYERS,
            "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
            "rope_local_base_freq": 10000.0, "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": 512,
            "torch_dtype": "float32", "transformers_version": "4.57.0.dev0", "use_bidirectional_attention": True,
            "use_cache": True, "vocab_size": vocab}


def recipe(cfg):
    C, F, D = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def lin(n, rows, cols):
        return [(n + ".weight", [rows, cols], 0.0, math.sqrt(3.0 / cols))]

    def norm(n, width):  # Gemma scales by 1 + w: w around 0
        return [(n + ".weight", [width], 0.0, 0.5)]

    out = [("embed_tokens.weight", [cfg["vocab_size"], C], 0.0, 0.06)]  # times sqrt(768) at the input
    for l in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % l
        out += norm(p + "input_layernorm", C)
        out += lin(p + "self_attn.q_proj", H * D, C) + lin(p + "self_attn.k_proj", KV * D, C)
        out += lin(p + "self_attn.v_proj", KV * D, C) + lin(p + "self_attn.o_proj", C, H * D)
        out += norm(p + "self_attn.q_norm", D) + norm(p + "self_attn.k_norm", D)
        out += norm(p + "post_attention_layernorm", C) + norm(p + "pre_feedforward_layernorm", C)
        out += lin(p + "mlp.gate_proj", F, C) + lin(p + "mlp.up_proj", F, C) + lin(p + "mlp.down_proj", C, F)
        out += norm(p + "post_feedforward_layernorm", C)
    return out + norm("norm", C)


DENSE = [("2_Dense", 768, 3072), ("3_Dense", 3072, 768)]


def dense_recipe(n_in, n_out):
    return [("linear.weight", [n_out, n_in], 0.0, math.sqrt(3.0 / n_in))]


def main():
    global MODEL, LAYERS, LENGTHS
    full = "--full" in sys.argv[1:]
    if full:
        MODEL, LAYERS, LENGTHS = os.path.join(OUT, "emb-24l"), 24, [1, 7, 100, 600]
    import sentence_transformers
    import transformers
    from gen_longctx_fixtures import CORPUS
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from transformers import AutoModel
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if not full:  # what this script writes, not the folder (its README.md stays)
        for old in ("tokenizer", "emb-6l"):
            shutil.rmtree(os.path.join(OUT, old), ignore_errors=True)
        small_tokenizer(os.path.join(OUT, "tokenizer"))
    elif os.path.isdir(MODEL):
        shutil.rmtree(MODEL)
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer", "tokenizer.json"))
    vocab = tok.get_vocab_size()
    if not full:
        lines = [json.loads(x)["text"] for x in open(CORPUS, encoding="utf-8")]
        with open(os.path.join(OUT, "corpus_extra.jsonl"), "w", encoding="utf-8") as f:
            for s in EXTRA_LINES:
                f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
        from gen_longctx_fixtures import write_expected
        write_expected(tok, "gemma (BPE, byte fallback)", lines, EXTRA_LINES,
                       os.path.join(OUT, "gemma_expected.jsonl"), extra_rel="tests/fixtures/gemma/corpus_extra.jsonl")

    os.makedirs(os.path.join(MODEL, "1_Pooling"))
    cfg = config(vocab)
    g.write_json(os.path.join(MODEL, "config.json"), cfg)
    tensors = recipe(cfg)
    g.write_json(os.path.join(MODEL, "weights.json"), {
        "generator": "scripts/gen_gemma_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
        "shards": 1, "dtype": "F32",
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for i, (folder, n_in, n_out) in enumerate(DENSE):
        modules.append({"idx": 2 + i, "name": str(2 + i), "path": folder, "type": "sentence_transformers.models.Dense"})
        os.makedirs(os.path.join(MODEL, folder))
        g.write_json(os.path.join(MODEL, folder, "config.json"), {
            "in_features": n_in, "out_features": n_out, "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity"})
        g.write_json(os.path.join(MODEL, folder, "weights.json"), {
            "generator": "scripts/gen_gemma_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED + 1 + i,
            "shards": 1, "dtype": "F32",
            "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in dense_recipe(n_in, n_out)]},
            indent=1)
    modules.append({"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"})
    g.write_json(os.path.join(MODEL, "modules.json"), modules)
    g.write_json(os.path.join(MODEL, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 768, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True})
    g.write_json(os.path.join(MODEL, "sentence_bert_config.json"), {"max_seq_length": 2048, "do_lower_case": False})
    g.write_json(os.path.join(MODEL, "config_sentence_transformers.json"),
                 {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
                  "model_type": "SentenceTransformer"})

    with tempfile.TemporaryDirectory() as tmp:
        for fn in os.listdir(MODEL):
            src = os.path.join(MODEL, fn)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(tmp, fn))
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(OUT, "tokenizer", fn), tmp)
        g.write_weights(tmp, tensors, SEED, 1)
        for i, (folder, n_in, n_out) in enumerate(DENSE):
            g.write_weights(os.path.join(tmp, folder), dense_recipe(n_in, n_out), SEED + 1 + i, 1)
        model = AutoModel.from_pretrained(tmp, attn_implementation="eager", dtype=torch.float32).eval()
        ref = {}
        for n in LENGTHS:
            rng = np.random.default_rng([SEED, n])
            ids = np.concatenate([[2], rng.integers(300, vocab, size=n - 2), [1]])[:n] if n > 1 else np.array([2])
            x = torch.from_numpy(ids.astype(np.int64))[None]
            with torch.no_grad():
                h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0].numpy()
            ref["ids.len%d" % n] = ids.astype(np.int32)
            stride = max(1, n // 128) if n > 512 else 1
            if stride > 1:
                ref["stride.len%d" % n] = np.array([stride], dtype=np.int32)
            ref["hidden.len%d" % n] = np.ascontiguousarray(h[::stride]).astype(np.float32)
            ref["pooled_mean.len%d" % n] = h.mean(axis=0).astype(np.float32)
        st = sentence_transformers.SentenceTransformer(tmp, device="cpu")
        assert len(st) == 5, [type(m).__name__ for m in st]
        for i, t in enumerate(TEXTS):
            ref["sentence.%d" % i] = st.encode([t], convert_to_numpy=True)[0].astype(np.float32)
            ref["query.%d" % i] = st.encode([t], prompt_name="query", convert_to_numpy=True)[0].astype(np.float32)
            ref["ids.%d" % i] = np.array(tok.encode(t).ids, dtype=np.int32)
    save_file(ref, os.path.join(MODEL, "reference.safetensors"), metadata={"generator": "scripts/gen_gemma_fixtures.py"})
    g.write_json(os.path.join(MODEL, "reference.json"), {
        "lengths": LENGTHS, "texts": TEXTS, "prompts": PROMPTS,
        "ids": "ids.lenN: <bos>, uniform ids in [300, vocab) (numpy default_rng([%d, N])), <eos>" % SEED,
        "sentence": "sentence.<i>: SentenceTransformer(dir).encode([texts[i]]) (mean pooling, two Dense modules, "
                    "Normalize); query.<i>: the same with prompt_name='query'",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "hidden_absmax": float(max(np.abs(ref["hidden.len%d" % n]).max() for n in LENGTHS))})
    print(open(os.path.join(MODEL, "reference.json")).read())


if __name__ == "__main__":
    main()
