#!/usr/bin/env python3
"""Writes the reference outputs the embedding tests compare against, computed by
sentence-transformers itself on the default model (all-MiniLM-L6-v2):

  tests/fixtures/minilm_embeddings.json  texts (1 token to past the model's 256-token limit, many
                                         languages) and their embeddings, float32 as printed
  tests/fixtures/sts_reference.json      Spearman of cosine vs gold on the STS-B test split

Run it where sentence-transformers and torch are installed (not needed for the tests):
  python3 scripts/gen_embedding_fixtures.py [MODEL_DIR]
"""
import csv
import json
import os
import random
import sys

import numpy as np
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("SUTRA_MODELS_DIR", os.path.expanduser("~/.cache/sutra/models")), "all-MiniLM-L6-v2")
STS = os.path.join(ROOT, "..", "shared", "data", "sts-test.csv")


def texts():
    t = [
        "",
        "a",
        "Hi",
        "?",
        "hello world",
        "A man is playing a guitar.",
        "The quick brown fox jumps over the lazy dog.",
        "Sutra turns text into embedding vectors.",
        "What is the capital of France?",
        "Paris is the capital and most populous city of France.",
        "I don't think that's what she meant, honestly!!!",
        "Ein Mann spielt Gitarre auf der Straße.",
        "Le chat dort sur le canapé depuis ce matin.",
        "El niño está comiendo una manzana roja.",
        "Questo è un esempio di frase in italiano.",
        "Dit is een Nederlandse zin over fietsen.",
        "Это предложение написано на русском языке.",
        "Αυτή είναι μια ελληνική πρόταση.",
        "これは日本語の文です。",
        "这是一个中文句子，用于测试。",
        "한국어 문장을 테스트합니다.",
        "ประโยคนี้เป็นภาษาไทย",
        "هذه جملة باللغة العربية.",
        "זהו משפט בעברית.",
        "यह एक हिंदी वाक्य है।",
        "Café naïve résumé façade coöperate",
        "emoji test 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
        "https://example.com/path?query=1&x=y#frag",
        "contact: someone@example.org, +1 (555) 010-2000",
        "def embed(texts): return [model(t) for t in texts]",
        "3.14159 2.71828 1.41421 42 1e-9 0xFF",
        "   leading and trailing spaces   ",
        "tabs\tand\tnewlines\nin text",
        "UPPERCASE SENTENCE SHOULD BE LOWERCASED",
        "[MASK] tokens [CLS] inside [SEP] text",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "a" * 150,
        "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
        "The stock market fell sharply today after the announcement.",
        "Scientists discovered a new species of frog in the rainforest.",
        "How do I reset my password if I forgot my email address?",
        "The meeting has been moved to Thursday at 3pm in room 204.",
        "Machine learning models require large amounts of training data.",
        "She sells sea shells by the sea shore.",
        "To be, or not to be, that is the question.",
        "I love this product! Five stars, would buy again.",
        "Terrible service; the food was cold and the waiter was rude.",
        "Photosynthesis converts light energy into chemical energy.",
    ]
    rng = random.Random(1234)
    words = ("the of and to in is was for on that with as by at from it an be this are "
             "which or has had not but were his her they have their one all been more "
             "encoder attention vector token model sentence embedding document window "
             "long context flash memory benchmark speed quality language").split()
    for n in (20, 60, 120, 200, 250, 254, 255, 256, 300, 600):
        t.append(" ".join(rng.choice(words) for _ in range(n)) + ".")
    mixed = "Long mixed text: " + " ".join(
        rng.choice(["naïve", "日本語", "données", "Straße", "😀", "кошка", "42", "x=y;", "αβγ"]) for _ in range(200))
    t.append(mixed)
    return t


def main():
    model = SentenceTransformer(MODEL, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    ts = texts()
    emb = model.encode(ts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    tok = model.tokenizer
    lens = [len(tok(t, truncation=True, max_length=256)["input_ids"]) for t in ts]
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": "scripts/gen_embedding_fixtures.py (sentence-transformers, fp32, CPU)",
        "items": [{"text": t, "tokens": n, "embedding": [float(x) for x in e]} for t, n, e in zip(ts, lens, emb)],
    }
    fx = os.path.join(ROOT, "tests", "fixtures")
    os.makedirs(fx, exist_ok=True)
    with open(os.path.join(fx, "minilm_embeddings.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(ts)} texts, token counts {min(lens)}..{max(lens)}")

    with open(STS, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    a = model.encode([r["sentence1"] for r in rows], batch_size=64, convert_to_numpy=True)
    b = model.encode([r["sentence2"] for r in rows], batch_size=64, convert_to_numpy=True)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    gold = np.array([float(r["score"]) for r in rows])
    rho = spearmanr(cos, gold).correlation
    with open(os.path.join(fx, "sts_reference.json"), "w") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "pairs": len(rows),
                   "spearman_cosine": float(rho),
                   "generator": "scripts/gen_embedding_fixtures.py (sentence-transformers, fp32, CPU)"}, f, indent=1)
    print(f"STS-B test: {len(rows)} pairs, spearman {rho:.5f}")


if __name__ == "__main__":
    main()
