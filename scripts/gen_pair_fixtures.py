#!/usr/bin/env python3
"""Makes tests/fixtures/pairs/pairs_expected.jsonl: what HF `tokenizers` gives for text pairs (a
query and a document, as a cross-encoder reads them) with every post-processor Sutra reads, at
several token limits under the longest_first rule (tests/test_tokenizer_pairs.c reads it).

Tokenizers: the default model's tokenizer.json (TemplateProcessing, [CLS] A [SEP] B [SEP] with
types 0/1; the same file is checked through vocab.txt too), the XLM-R fixture (RobertaProcessing
style template of XLM-R: <s> A </s> </s> B </s>), MPNet (RobertaProcessing), ModernBERT
(TemplateProcessing), Qwen3 (TemplateProcessing with <|endoftext|>) and Gemma.

Usage: python3 scripts/gen_pair_fixtures.py [--tokenizer-dir DIR]
Needs: tokenizers. Seconds.
"""
import argparse
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "pairs", "pairs_expected.jsonl")
TOKENIZERS = {  # key -> path relative to the repository (minilm: the models directory)
    "xlmr": "tests/fixtures/longctx/xlmr/tokenizer.json",
    "mpnet": "tests/fixtures/mpnet/all-mpnet-12l/tokenizer.json",
    "modernbert": "tests/fixtures/longctx/modernbert/tokenizer.json",
    "qwen3": "tests/fixtures/qwen3/tokenizer/tokenizer.json",
    "gemma": "tests/fixtures/gemma/tokenizer/tokenizer.json",
}
LONG_DOC = ("Paris is the capital and most populous city of France. With an estimated population of 2,102,650 "
            "residents in January 2023 in an area of more than 105 km2, Paris is the fourth-most populous city in "
            "the European Union and the 30th most densely populated city in the world in 2022. ")
PAIRS = [
    ("what is the capital of France?", "Paris is the capital of France."),
    ("how do magnets work", LONG_DOC),
    (LONG_DOC, "short answer"),
    (LONG_DOC, LONG_DOC[::-1]),
    ("", "an empty query"),
    ("an empty document", ""),
    ("", ""),
    ("Déjà vu 東京 🗼 naïve", "서울 北京 ©®™  spaced   out\tand\nnewlines"),
    ("don't won't it's", "x" * 300),
    ("a " * 40, "b " * 41),
]
LIMITS = [0, 8, 9, 16, 17, 32, 33, 64, 512]


def main():
    ap = argparse.ArgumentParser()
    models = os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(models, "all-MiniLM-L6-v2"))
    args = ap.parse_args()
    paths = dict(TOKENIZERS)
    paths["minilm"] = os.path.join(args.tokenizer_dir, "tokenizer.json")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    n = 0
    with open(OUT, "w", encoding="utf-8") as f:
        for key in ["minilm", "xlmr", "mpnet", "modernbert", "qwen3", "gemma"]:
            p = paths[key]
            tok = Tokenizer.from_file(p if os.path.isabs(p) else os.path.join(ROOT, p))
            tok.no_padding()
            added = tok.post_processor.num_special_tokens_to_add(True) if tok.post_processor else 0
            for a, b in PAIRS:
                for limit in LIMITS:
                    if limit and limit < added:
                        continue
                    if limit:
                        tok.enable_truncation(max_length=limit, strategy="longest_first")
                    else:
                        tok.no_truncation()
                    e = tok.encode(a, b)
                    f.write(json.dumps({"tokenizer": key, "a": a, "b": b, "max": limit, "ids": e.ids,
                                        "types": e.type_ids}, ensure_ascii=False) + "\n")
                    n += 1
    print("wrote %d pairs to %s" % (n, OUT))


if __name__ == "__main__":
    main()
