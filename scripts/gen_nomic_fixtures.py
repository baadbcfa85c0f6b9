#!/usr/bin/env python3
"""Builds the NomicBERT test fixture: a random-initialised model with nomic-embed-text-v1.5's
configuration (hidden 768, 12 heads, SwiGLU FFN 3072, no biases, rotary base 1000 over whole heads,
8192 positions, vocabulary 30528) but 4 of its 12 layers, whose weights are not stored but drawn
from the seeded generator that tests/seeded_weights.c reimplements (scripts/gen_qwen3_fixtures.py
has it), with the outputs of Nomic's published modeling code (NomicBertModel of
modeling_hf_nomic_bert.py) and of sentence-transformers running that code (mean pooling).

transformers has a NomicBERT class of its own, but the checkpoints people download are read by
Nomic's code (config.json's auto_map): that code is the reference. It is not in this repository:
--nomic-code names a checkout of the public nomic-ai/contrastors repository, whose
src/contrastors/models/huggingface/ holds modeling_hf_nomic_bert.py and
configuration_hf_nomic_bert.py; they are copied into a temporary folder for the run only.

Writes tests/fixtures/nomic/v1.5-4l/: config.json, weights.json (the recipe), modules.json +
1_Pooling + sentence_bert_config.json + config_sentence_transformers.json, reference.safetensors
(ids.lenN, hidden.lenN (for N > 512 every stride.lenN-th row only), pooled_mean.lenN; sentence.<i>, query.<i> (with the "query" prompt) and
ids.<i> for the texts), reference.json. The tokenizer is the default model's (nomic-embed-text
uses bert-base-uncased's WordPiece vocabulary), read from --tokenizer-dir and not stored.

With --full: all 12 layers in tests/fixtures/nomic/v1.5-12l/, at 1, 7, 100 and 512 tokens.

Usage: python3 scripts/gen_nomic_fixtures.py --nomic-code DIR [--tokenizer-dir DIR] [--full]
Needs: torch, transformers, sentence-transformers, tokenizers, einops, numpy, safetensors. CPU,
a few minutes (the 8192-token case).
"""
import argparse
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

OUT = os.path.join(ROOT, "tests", "fixtures", "nomic", "v1.5-4l")
SEED = 20261210
LAYERS = 4
LENGTHS = [1, 7, 100, 2048, 8192]
TEXTS = ["What is the capital of France?",
         "Paris is the capital and most populous city of France, known for the Eiffel Tower.",
         "how do magnets work",
         "Déjà vu: the feeling of having already lived through the present situation. 東京 🗼",
         "A man is playing a guitar."]
PROMPTS = {"query": "search_query: ", "document": "search_document: ", "classification": "classification: ",
           "clustering": "clustering: "}
CODE = "src/contrastors/models/huggingface"


def config():
    """config.json as nomic-embed-text-v1.5 ships it (auto_map and all), n_layer cut to LAYERS."""
    return {
        "_name_or_path": "nomic-ai/nomic-embed-text-v1.5", "activation_function": "swiglu",
        "architectures": ["NomicBertModel"], "attn_pdrop": 0.0,
        "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert.NomicBertConfig",
                     "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertModel",
                     "AutoModelForMaskedLM": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertForPreTraining"},
        "bos_token_id": None, "causal": False, "dense_seq_output": True, "embd_pdrop": 0.0, "eos_token_id": None,
        "fused_bias_fc": True, "fused_dropout_add_ln": True, "initializer_range": 0.02, "layer_norm_epsilon": 1e-12,
        "max_trained_positions": 2048, "mlp_fc1_bias": False, "mlp_fc2_bias": False, "model_type": "nomic_bert",
        "n_embd": 768, "n_head": 12, "n_inner": 3072, "n_layer": LAYERS, "n_positions": 8192,
        "pad_vocab_size_multiple": 64, "parallel_block": False, "parallel_block_tied_norm": False, "prenorm": False,
        "qkv_proj_bias": False, "reorder_and_upcast_attn": False, "resid_pdrop": 0.0, "rotary_emb_base": 1000,
        "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "rotary_emb_scale_base": None,
        "rotary_scaling_factor": None, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "summary_activation": None, "summary_first_dropout": 0.0, "summary_proj_to_labels": True,
        "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
        "transformers_version": "4.37.2", "type_vocab_size": 2, "use_cache": True, "use_flash_attn": True,
        "use_rms_norm": False, "use_xentropy": True, "vocab_size": 30528}


def recipe(cfg):
    C, F, V = cfg["n_embd"], cfg["n_inner"], cfg["vocab_size"]

    def lin(n, rows, cols):
        return [(n + ".weight", [rows, cols], 0.0, math.sqrt(3.0 / cols))]

    def ln(n):
        return [(n + ".weight", [C], 1.0, 0.5), (n + ".bias", [C], 0.0, 0.1)]

    out = [("embeddings.word_embeddings.weight", [V, C], 0.0, 1.0),
           ("embeddings.token_type_embeddings.weight", [cfg["type_vocab_size"], C], 0.0, 0.5)]
    out += ln("emb_ln")
    for l in range(cfg["n_layer"]):
        p = "encoder.layers.%d." % l
        out += lin(p + "attn.Wqkv", 3 * C, C) + lin(p + "attn.out_proj", C, C) + ln(p + "norm1")
        out += lin(p + "mlp.fc11", F, C) + lin(p + "mlp.fc12", F, C) + lin(p + "mlp.fc2", C, F) + ln(p + "norm2")
    return out


def main():
    ap = argparse.ArgumentParser()
    models = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
    ap.add_argument("--nomic-code", required=True, help="a checkout of github.com/nomic-ai/contrastors")
    ap.add_argument("--tokenizer-dir", default=os.path.join(models, "all-MiniLM-L6-v2"))
    ap.add_argument("--full", action="store_true", help="all 12 layers, up to 512 tokens (v1.5-12l)")
    args = ap.parse_args()
    global OUT, LAYERS, LENGTHS
    if args.full:
        OUT, LAYERS, LENGTHS = os.path.join(ROOT, "tests", "fixtures", "nomic", "v1.5-12l"), 12, [1, 7, 100, 512]
    import sentence_transformers
    import transformers
    from safetensors.numpy import save_file
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "1_Pooling"))
    cfg = config()
    g.write_json(os.path.join(OUT, "config.json"), cfg)
    tensors = recipe(cfg)
    g.write_json(os.path.join(OUT, "weights.json"), {
        "generator": "scripts/gen_nomic_fixtures.py (seeded; see tests/seeded_weights.c)", "seed": SEED,
        "shards": 1, "dtype": "F32",
        "tensors": [{"name": n, "shape": s, "centre": c, "half_width": h} for (n, s, c, h) in tensors]}, indent=1)
    g.write_json(os.path.join(OUT, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    g.write_json(os.path.join(OUT, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["n_embd"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    g.write_json(os.path.join(OUT, "sentence_bert_config.json"), {"max_seq_length": 8192, "do_lower_case": False})
    g.write_json(os.path.join(OUT, "config_sentence_transformers.json"),
                 {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})

    with tempfile.TemporaryDirectory() as tmp:
        # the model folder as a user has it, with Nomic's code beside the config (auto_map made local)
        for fn in os.listdir(OUT):
            src = os.path.join(OUT, fn)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(tmp, fn))
        for fn in ("modeling_hf_nomic_bert.py", "configuration_hf_nomic_bert.py"):
            shutil.copy(os.path.join(args.nomic_code, CODE, fn), tmp)
        local = dict(cfg)
        local["auto_map"] = {"AutoConfig": "configuration_hf_nomic_bert.NomicBertConfig",
                             "AutoModel": "modeling_hf_nomic_bert.NomicBertModel"}
        g.write_json(os.path.join(tmp, "config.json"), local)
        for fn in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            if os.path.exists(os.path.join(args.tokenizer_dir, fn)):
                shutil.copy(os.path.join(args.tokenizer_dir, fn), tmp)
        g.write_weights(tmp, tensors, SEED, 1)

        pkg = os.path.join(tmp, "pkg", "nomic_ref")  # the code as a package: it imports its config relatively
        os.makedirs(pkg)
        open(os.path.join(pkg, "__init__.py"), "w").close()
        for fn in ("modeling_hf_nomic_bert.py", "configuration_hf_nomic_bert.py"):
            shutil.copy(os.path.join(tmp, fn), pkg)
        sys.path.insert(0, os.path.dirname(pkg))
        import importlib
        nc = importlib.import_module("nomic_ref.configuration_hf_nomic_bert")
        nm = importlib.import_module("nomic_ref.modeling_hf_nomic_bert")
        # transformers 5 dropped PreTrainedModel.get_extended_attention_mask, which Nomic's forward
        # calls: the additive mask it made, given back to the class (and to the copy
        # sentence-transformers loads below)
        def extended_mask(self, mask, shape):
            return (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        nm.NomicBertModel.get_extended_attention_mask = extended_mask
        model = nm.NomicBertModel(nc.NomicBertConfig(**local), add_pooling_layer=False).eval()
        missing, unexpected = model.load_state_dict(load_file(os.path.join(tmp, "model.safetensors")), strict=False)
        assert not missing and not unexpected, (missing, unexpected)
        ref = {}
        for n in LENGTHS:
            rng = np.random.default_rng([SEED, n])
            ids = np.concatenate([[101], rng.integers(1000, 30522, size=n - 2), [102]])[:n] if n > 1 \
                else np.array([101])
            x = torch.from_numpy(ids.astype(np.int64))[None]
            with torch.no_grad():
                h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0].numpy()
            ref["ids.len%d" % n] = ids.astype(np.int32)
            # long inputs: every stride-th row (128 of them) keeps the fixture small; the mean is whole
            stride = max(1, n // 128) if n > 512 else 1
            if stride > 1:
                ref["stride.len%d" % n] = np.array([stride], dtype=np.int32)
            ref["hidden.len%d" % n] = np.ascontiguousarray(h[::stride]).astype(np.float32)
            ref["pooled_mean.len%d" % n] = h.mean(axis=0).astype(np.float32)
            print("len %d done" % n, flush=True)
        st = sentence_transformers.SentenceTransformer(tmp, device="cpu", trust_remote_code=True)
        type(st[0].auto_model).get_extended_attention_mask = extended_mask
        tok = Tokenizer.from_file(os.path.join(tmp, "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        for i, t in enumerate(TEXTS):
            ref["sentence.%d" % i] = st.encode([t], convert_to_numpy=True)[0].astype(np.float32)
            ref["query.%d" % i] = st.encode([t], prompt_name="query", convert_to_numpy=True)[0].astype(np.float32)
            ref["ids.%d" % i] = np.array(tok.encode(t).ids, dtype=np.int32)
        # the sentence-transformers vectors are the same model's: check they agree with the direct run
        with torch.no_grad():
            x = torch.from_numpy(ref["ids.0"].astype(np.int64))[None]
            direct = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0].mean(0).numpy()
        st_vs_direct = float(np.abs(direct - ref["sentence.0"]).max())
        sys.path.remove(os.path.dirname(pkg))
    save_file(ref, os.path.join(OUT, "reference.safetensors"), metadata={"generator": "scripts/gen_nomic_fixtures.py"})
    g.write_json(os.path.join(OUT, "reference.json"), {
        "lengths": LENGTHS, "texts": TEXTS, "prompts": PROMPTS,
        "ids": "ids.lenN: [CLS], uniform ids in [1000, 30522) (numpy default_rng([%d, N])), [SEP]" % SEED,
        "sentence": "sentence.<i>: SentenceTransformer(dir, trust_remote_code=True).encode([texts[i]]) (mean pooling, "
                    "not normalised); query.<i>: the same with prompt_name='query'",
        "reference_code": "nomic-ai/contrastors " + CODE + "/modeling_hf_nomic_bert.py (NomicBertModel)",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "st_vs_direct.text0": st_vs_direct,
        "hidden_absmax": float(max(np.abs(ref["hidden.len%d" % n]).max() for n in LENGTHS))})
    print(open(os.path.join(OUT, "reference.json")).read())


if __name__ == "__main__":
    main()
