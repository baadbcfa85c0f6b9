#!/usr/bin/env python3
"""Builds the long-context test fixtures: two tokenizers made the way XLM-R's and ModernBERT's were
made, four tiny random-initialised models (XLM-RoBERTa and ModernBERT, head dim 32 and 64), and the
reference outputs HF transformers / sentence-transformers give for them.

Everything is built locally (no model hub) and deterministically (fixed seeds, single-threaded
tokenizer training). Writes, relative to the repository root:

  tests/fixtures/longctx/
    corpus_extra.jsonl        extra tokenizer lines (special tokens of these two families, space runs)
    unigram_expected.jsonl    what tokenizers.Tokenizer.from_file(xlmr/tokenizer.json) gives (no padding,
    bpe_expected.jsonl        no truncation) for every line of tests/fixtures/tokenizer/corpus.jsonl
                              ("kind":"base") and of corpus_extra.jsonl ("kind":"extra"):
                              {"kind","line","text","ids","offsets":[s0,e0,s1,e1,...]} with byte offsets
                              into the UTF-8 of "text" (specials 0,0), after a {"kind":"header"} line
    xlmr/ xlmr-d64/           XLMRobertaModel (bge-m3 / multilingual-e5 layout) + Unigram tokenizer
    modernbert/ modernbert-d64/  ModernBertModel (modernbert-embed / gte-modernbert layout) + BPE
                              tokenizer
      config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json
      modules.json sentence_bert_config.json config_sentence_transformers.json 1_Pooling/config.json
      reference.safetensors reference.json
  (README.md in that folder is written by hand and documents all of it; this script leaves it alone.)

The reference is HF transformers (eager attention, float32, batch size 1) and sentence-transformers;
an independent float64 re-implementation of the semantics documented in README.md is checked against
it, and a set of typical implementation mistakes is checked to be visible in the outputs.

Needs: python3 with torch, transformers (5.x), tokenizers, sentence-transformers, sentencepiece,
protobuf, numpy, safetensors (pip install sentencepiece protobuf). CPU only; takes a few minutes.

Usage: python3 scripts/gen_longctx_fixtures.py [--skip-checks]
"""
import argparse
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import zlib

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "longctx")
CORPUS = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.jsonl")
SEED = 20240611
LENGTHS = [1, 100, 513, 2048, 8192]
SUBSET_LENS = (2048, 8192)  # for these lengths only a subset of hidden-state rows is stored (size)
SPM_VOCAB = 4000           # SentencePiece pieces; the HF vocab is SPM_VOCAB + 2 (<pad>, <mask>)
BPE_VOCAB = 3900           # BPE trainer vocab (incl. its 2 special tokens); added tokens come after

# ----------------------------------------------------------------------------------------------
# Training text
# ----------------------------------------------------------------------------------------------

SENTENCES = {
    "en": [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Long documents need embedding models that can read thousands of tokens at once.",
        "She bought three apples, two pears and a loaf of fresh bread at the market.",
        "What is the capital of France? Paris is the capital and most populous city of France.",
        "Researchers trained the network for twelve days on sixty-four accelerators.",
        "The committee postponed its decision until the next quarterly meeting.",
        "Please remember to water the plants while I am travelling abroad.",
        "Attention layers compare every token with every other token in the sequence.",
        "In 1969, humans walked on the Moon for the first time.",
        "The library opens at nine in the morning and closes at six in the evening.",
    ],
    "de": [
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        "Wie hoch ist der Eiffelturm? Er ist ungefähr dreihundertdreißig Meter hoch.",
        "Die Straßenbahn fährt alle zehn Minuten vom Hauptbahnhof ab.",
        "Ich möchte gern einen Kaffee mit Milch und ein Stück Käsekuchen.",
        "Die Bundesregierung hat neue Förderprogramme für erneuerbare Energien beschlossen.",
        "Übermorgen beginnt das Sommerfest im größten Park der Stadt.",
    ],
    "fr": [
        "Le chat dort sur le canapé depuis ce matin.",
        "La tour Eiffel mesure environ trois cent trente mètres de hauteur.",
        "Nous avons mangé des crêpes et bu du cidre en Bretagne l'été dernier.",
        "Le gouvernement a présenté un nouveau projet de loi sur l'éducation.",
        "Où se trouve la gare la plus proche, s'il vous plaît ?",
        "Les élèves révisent leurs leçons avant l'examen de mathématiques.",
    ],
    "es": [
        "El niño está comiendo una manzana roja en el jardín.",
        "¿Dónde está la biblioteca? Está al lado de la plaza mayor.",
        "La economía española creció un dos por ciento el año pasado.",
        "Mañana iremos a la playa si no llueve por la tarde.",
        "Los científicos descubrieron una nueva especie de mariposa en la selva.",
    ],
    "it": [
        "Questo è un esempio di frase in italiano.",
        "Il treno per Milano parte alle otto e quindici dal binario tre.",
        "Abbiamo visitato il Colosseo e i Musei Vaticani durante le vacanze.",
        "La pizza margherita è nata a Napoli alla fine dell'Ottocento.",
    ],
    "pt": [
        "O menino está lendo um livro na varanda da casa.",
        "A cidade de São Paulo é a maior metrópole do Brasil.",
        "Não esqueça de trazer o guarda-chuva, porque vai chover à tarde.",
        "As eleições municipais acontecerão no próximo mês de outubro.",
    ],
    "nl": [
        "Dit is een Nederlandse zin over fietsen in de regen.",
        "De trein naar Amsterdam vertrekt over vijf minuten van spoor twee.",
        "Wij gaan morgen met de hele familie naar het strand.",
    ],
    "pl": [
        "Szybki brązowy lis przeskakuje nad leniwym psem.",
        "Warszawa jest stolicą i największym miastem Polski.",
        "Jutro będzie słonecznie, a temperatura wzrośnie do dwudziestu stopni.",
    ],
    "tr": [
        "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
        "İstanbul, Türkiye'nin en kalabalık şehridir.",
        "Yarın sabah erkenden toplantıya gitmemiz gerekiyor.",
    ],
    "vi": [
        "Con cáo nâu nhanh nhẹn nhảy qua con chó lười.",
        "Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam.",
        "Tôi thích uống cà phê sữa đá vào buổi sáng.",
    ],
    "ru": [
        "Это предложение написано на русском языке.",
        "Москва является столицей и крупнейшим городом России.",
        "Вчера вечером мы долго гуляли по набережной и разговаривали о будущем.",
        "Эйфелева башня — один из самых узнаваемых символов Парижа.",
        "Учёные разработали новый метод обработки длинных текстов.",
    ],
    "uk": [
        "Київ є столицею та найбільшим містом України.",
        "Сьогодні ми вивчаємо нові слова та граматичні правила.",
    ],
    "el": [
        "Αυτή είναι μια ελληνική πρόταση για δοκιμή.",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και έχει μακρά ιστορία.",
        "Το πρωί πίνουμε καφέ και διαβάζουμε την εφημερίδα.",
    ],
    "ar": [
        "هذه جملة باللغة العربية.",
        "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها.",
        "يحب الأطفال اللعب في الحديقة بعد المدرسة.",
        "تعلم اللغات الجديدة يفتح آفاقا واسعة للتواصل مع الآخرين.",
    ],
    "he": [
        "זהו משפט בעברית.",
        "ירושלים היא אחת הערים העתיקות בעולם.",
        "מחר בבוקר נלך לים עם כל המשפחה.",
    ],
    "hi": [
        "यह एक हिंदी वाक्य है।",
        "नई दिल्ली भारत की राजधानी है और यहाँ बहुत सारे ऐतिहासिक स्मारक हैं।",
        "बच्चे स्कूल के बाद मैदान में क्रिकेट खेलते हैं।",
        "मुझे सुबह चाय पीना और अखबार पढ़ना पसंद है।",
    ],
    "zh": [
        "这是一个中文句子，用于测试。",
        "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
        "我们明天早上八点在火车站见面，然后一起去长城。",
        "长文本嵌入模型可以一次读取数千个词元。",
        "今天天气很好，我们去公园散步吧。",
    ],
    "ja": [
        "これは日本語の文です。",
        "東京タワーの高さは三百三十三メートルです。",
        "昨日は友達と一緒に映画を見に行きました。",
        "新しい研究によると、長い文書を理解するモデルが改善されました。",
        "すみません、駅はどこですか？",
    ],
    "ko": [
        "한국어 문장을 테스트합니다.",
        "서울은 대한민국의 수도이자 가장 큰 도시입니다.",
        "내일 아침에 친구들과 함께 등산을 갈 예정입니다.",
        "새로운 모델은 긴 문서를 더 잘 이해합니다.",
    ],
    "th": [
        "ประโยคนี้เป็นภาษาไทย",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
        "พรุ่งนี้เราจะไปเที่ยวทะเลกับครอบครัว",
    ],
    "misc": [
        "Hello, world!", "Don't stop believin'; hold on to that feelin'...", "THE QUICK BROWN FOX JUMPS",
        "e.g. i.e. etc. Mr. Smith's U.S.A.-based co-op (est. 1999) -- \"quoted\" text?!",
        "$100 + 20% = 120 € or £85 or ¥13,000 (approx.) #hashtag @mention ~tilde `backtick` ^caret |pipe|",
        "Café naïve résumé façade coöperate jalapeño Ångström Øresund Łódź Škoda Dvořák",
        "emoji test 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 😀 🙂 🎉 🚀", "Paris is the [MASK] of France.", "snake_case camelCase kebab-case",
        "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ ① ② ③ ² ³ ½ ﬁ ﬂ ㍿ ㈱",
        "«Guillemets» „Anführungszeichen“ “curly quotes” ‘single’ — dash – en-dash … ellipsis",
    ],
    "code": [
        "def embed(texts): return [model(t) for t in texts]",
        "int main(void) { printf(\"%d\\n\", a[i] * b->c); return 0; }",
        "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
        "https://example.com/path/to/page?query=value&other=1#fragment",
        "contact: someone@example.org, +1 (555) 010-2000",
        "const f = (a, b) => a ?? b; let s = `template ${x}`;",
        "3.14159 2.71828 1,000,000 1e-10 0x1F -42 +7 10^6",
    ],
}
NO_SPACE = {"zh", "ja", "th"}


def training_text():
    """Multilingual training lines: the hand-written sentences above, random recombinations of their
    words (or characters, for scripts written without spaces) and numbers. Independent of the
    tokenizer corpus on purpose, so that editing that corpus changes only the *_expected.jsonl files;
    characters outside this text are rare for the tokenizers, as rare characters are for the real
    ones (<unk> for the Unigram model, byte tokens for BPE)."""
    rng = random.Random(SEED)
    out = []
    for lang, sents in SENTENCES.items():
        out += sents * 3
        if lang in NO_SPACE:
            units = [s[i:i + rng.randint(1, 3)] for s in sents for i in range(0, len(s), 2)]
            for _ in range(900):
                out.append("".join(rng.choice(units) for _ in range(rng.randint(4, 30))))
        else:
            words = [w for s in sents for w in s.split()]
            for _ in range(900):
                ws = [rng.choice(words) for _ in range(rng.randint(3, 18))]
                if rng.random() < 0.2:
                    ws[0] = ws[0].capitalize()
                if rng.random() < 0.1:
                    ws.insert(rng.randrange(len(ws)), str(rng.randint(0, 10 ** rng.randint(1, 6))))
                out.append(" ".join(ws))
    for _ in range(600):
        out.append(" ".join(rng.choice(SENTENCES[rng.choice(list(SENTENCES))]) for _ in range(rng.randint(2, 4))))
    # One line per sentence: SentencePiece reads lines, so fold the other line breaks and drop
    # C0 controls (they are no text to learn pieces from).
    clean = []
    for s in out:
        s = "".join(" " if c in "\t\n\r\x0b\x0c\x85\u2028\u2029" else c for c in s)
        s = "".join(c for c in s if ord(c) >= 32 and c != "\x7f")
        if s.strip():
            clean.append(s)
    return clean


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------

def build_unigram(lines, tmp):
    """SentencePiece unigram with NFKC (nmt_nfkc) like XLM-R's sentencepiece.bpe.model, converted by
    transformers' XLMRobertaTokenizer (fairseq id layout: <s>=0 <pad>=1 </s>=2 <unk>=3, pieces shifted
    by one, <mask> last). Returns the folder holding the saved HF tokenizer files."""
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type="unigram", vocab_size=SPM_VOCAB,
        character_coverage=0.9995, normalization_rule_name="nmt_nfkc", byte_fallback=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True, remove_extra_whitespaces=True,
        split_digits=False, num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
        max_sentence_length=8192, minloglevel=2)
    src = os.path.join(tmp, "spm")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "sentencepiece.bpe.model"), "wb") as f:
        f.write(buf.getvalue())
    tok = XLMRobertaTokenizer.from_pretrained(src, model_max_length=8192)
    dst = os.path.join(tmp, "unigram")
    tok.save_pretrained(dst)
    shutil.copy(os.path.join(src, "sentencepiece.bpe.model"), dst)
    # transformers 5 leaves <mask> without lstrip; XLM-R's tokenizer.json (made by the 4.x
    # XLMRobertaTokenizerFast, which wraps it as AddedToken("<mask>", lstrip=True)) has lstrip=true.
    path = os.path.join(dst, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    for t in d["added_tokens"]:
        if t["content"] == "<mask>":
            t["lstrip"] = True
    with open(path, "w", encoding="utf-8") as f:
        json.dump(d, f, indent=2, ensure_ascii=False)
        f.write("\n")
    write_tok_configs(dst, "XLMRobertaTokenizer",
                      {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
                       "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"},
                      {"sp_model_kwargs": {}})
    return dst


def write_tok_configs(dst, cls_name, specials, extra):
    """tokenizer_config.json and special_tokens_map.json in the transformers 4.x layout the real
    checkpoints ship (transformers 5 writes neither special_tokens_map.json nor this key set)."""
    with open(os.path.join(dst, "tokenizer.json"), encoding="utf-8") as f:
        added = json.load(f)["added_tokens"]
    by_content = {t["content"]: t for t in added}
    keys = ("content", "lstrip", "normalized", "rstrip", "single_word", "special")
    cfg = {"added_tokens_decoder": {str(t["id"]): {k: t[k] for k in keys} for t in added},
           "clean_up_tokenization_spaces": True, "model_max_length": 8192, "tokenizer_class": cls_name}
    cfg.update(specials)
    cfg.update(extra)
    with open(os.path.join(dst, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    stm = {k: {kk: by_content[v][kk] for kk in keys if kk != "special"} for k, v in specials.items()}
    with open(os.path.join(dst, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(stm, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def build_bpe(lines, tmp):
    """Byte-level BPE laid out like ModernBERT's tokenizer.json (OLMo / GPT-NeoX lineage): NFC
    normalizer, ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=true) pre-tokenizer and
    decoder, BPE without unk, ids 0/1 = |||IP_ADDRESS||| / <|padding|>, then the learned vocabulary,
    then added tokens: runs of 24..2 spaces (normalized, not special), |||EMAIL_ADDRESS|||,
    |||PHONE_NUMBER|||, <|endoftext|>, [UNK] [CLS] [SEP] [PAD] [MASK] (lstrip) and [unusedN] up to a
    multiple of 64; TemplateProcessing [CLS] $A [SEP]."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  special_tokens=["|||IP_ADDRESS|||", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    n_model = tok.get_vocab_size(with_added_tokens=True)
    tok.add_tokens([AddedToken(" " * n, normalized=True, special=False) for n in range(24, 1, -1)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in
                            ("|||EMAIL_ADDRESS|||", "|||PHONE_NUMBER|||", "<|endoftext|>", "[UNK]", "[CLS]", "[SEP]",
                             "[PAD]")])
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, rstrip=False, normalized=False, special=True)])
    n = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens([AddedToken("[unused%d]" % i, normalized=False, special=True)
                            for i in range((-n) % 64)])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    dst = os.path.join(tmp, "bpe")
    os.makedirs(dst, exist_ok=True)
    tok.save(os.path.join(dst, "tokenizer.json"))
    write_tok_configs(dst, "PreTrainedTokenizerFast",
                      {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
                       "unk_token": "[UNK]"},
                      {"model_input_names": ["input_ids", "attention_mask"]})
    return dst, n_model


def load_tok(path):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(path)
    t.no_padding()
    t.no_truncation()
    return t


def byte_table(text):
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8")))
    return out


def write_expected(tok, name, lines, extra, path, extra_rel="tests/fixtures/longctx/corpus_extra.jsonl"):
    """tokenizers' ids and byte offsets for the corpus lines and the extra lines (extra_rel: where
    those are stored), as tests/test_tokenizer_longctx.c reads them."""
    import hashlib
    import tokenizers
    with open(CORPUS, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"kind": "header", "tokenizers": tokenizers.__version__, "tokenizer": name,
                              "corpus": "tests/fixtures/tokenizer/corpus.jsonl", "corpus_sha256": digest,
                              "lines": len(lines),
                              "extra": extra_rel, "extra_lines": len(extra)})
                  + "\n")
        for kind, src in (("base", lines), ("extra", extra)):
            for i, s in enumerate(src):
                enc = tok.encode(s)
                table = byte_table(s)
                offs = []
                for (a, b) in enc.offsets:
                    offs += [table[a], table[b]]
                rec = json.dumps({"kind": kind, "line": i, "text": s, "ids": enc.ids, "offsets": offs},
                                 separators=(",", ":"), ensure_ascii=False)
                # raw UTF-8, but keep the characters some line readers split on escaped
                for c in "\x85\u2028\u2029":
                    rec = rec.replace(c, "\\u%04x" % ord(c))
                out.write(rec + "\n")


EXTRA_LINES = [
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "Paris is the <mask> of France.", "a <mask> b", "a<mask>b",
    "<s> already has <s> and </s> inside </s>", "<MASK> <Mask> < mask >",
    "[CLS] x [SEP] y [MASK] z [PAD] [UNK]", "no space[MASK]between", "  [MASK]  two spaces before",
    "<|endoftext|> <|padding|> |||IP_ADDRESS||| |||EMAIL_ADDRESS||| |||PHONE_NUMBER|||",
    "query: how tall is the Eiffel tower?", "passage: The Eiffel Tower is 330 m tall.",
    "search_query: long context embeddings", "search_document: ModernBERT reads 8192 tokens.",
    "a  b   c    d     e      f", "x" + " " * 30 + "y", " " * 25, "  leading", "trailing  ",
    "tab\tand\nnewline\r\nmixed \t \n spaces", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ", "ﬁﬂ ligatures ㍿ ㈱ ① ⅻ ²³",
    "e\u0301 vs \u00e9, \u212b vs \u00c5, \u1e9b\u0323", "Hello\u00a0world\u3000again\u2009thin",
    "zero\u200bwidth\u200cjoin\u200dnon\ufeffbom", "emoji 👍🏽 👨\u200d👩\u200d👧 🇫🇷 ❤️",
    "東京タワーは333メートルです。Эйфелева башня. 🗼",
]


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

def xlmr_config(vocab, hidden, layers, heads):
    """config.json as bge-m3 / multilingual-e5 ship it (transformers 4.x key set)."""
    return {
        "architectures": ["XLMRobertaModel"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0,
        "classifier_dropout": None, "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": 4 * hidden, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 8194, "model_type": "xlm-roberta", "num_attention_heads": heads,
        "num_hidden_layers": layers, "output_past": True, "pad_token_id": 1, "position_embedding_type": "absolute",
        "torch_dtype": "float32", "transformers_version": "4.33.0", "type_vocab_size": 1, "use_cache": True,
        "vocab_size": vocab,
    }


def modernbert_config(vocab, hidden, layers, heads, ids):
    """config.json as modernbert-embed-base / gte-modernbert-base ship it (transformers 4.48 key set:
    global_attn_every_n_layers, global_rope_theta, local_rope_theta, no layer_types/rope_parameters)."""
    return {
        "architectures": ["ModernBertModel"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": ids["[CLS]"], "classifier_activation": "gelu", "classifier_bias": False,
        "classifier_dropout": 0.0, "classifier_pooling": "mean", "cls_token_id": ids["[CLS]"],
        "decoder_bias": True, "deterministic_flash_attn": False, "embedding_dropout": 0.0,
        "eos_token_id": ids["[SEP]"], "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0,
        "gradient_checkpointing": False, "hidden_activation": "gelu", "hidden_size": hidden,
        "initializer_cutoff_factor": 2.0, "initializer_range": 0.02, "intermediate_size": hidden * 3 // 2,
        "layer_norm_eps": 1e-05, "local_attention": 128, "local_rope_theta": 10000.0,
        "max_position_embeddings": 8192, "mlp_bias": False, "mlp_dropout": 0.0, "model_type": "modernbert",
        "norm_bias": False, "norm_eps": 1e-05, "num_attention_heads": heads, "num_hidden_layers": layers,
        "pad_token_id": ids["[PAD]"], "position_embedding_type": "absolute", "reference_compile": False,
        "repad_logits_with_grad": False, "sep_token_id": ids["[SEP]"], "sparse_pred_ignore_index": -100,
        "sparse_prediction": False, "torch_dtype": "float32", "transformers_version": "4.48.0",
        "vocab_size": vocab,
    }


def init_tensor(name, shape, family, pad_id, seed):
    """Larger-than-default random init so that implementation errors show in the outputs:
    LayerNorm gains 1+N(0,0.2), biases N(0,0.1), linear weights N(0, g/sqrt(fan_in)) with g=1.6 for
    Q/K (sharper attention, so position handling matters) and 1.0 elsewhere. Embedding tables
    N(0,0.02) (padding rows zero, as HF and fairseq leave them): small, as in the real models, so that
    the embedding LayerNorm's eps matters (a wrong eps shows)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name.endswith("LayerNorm.weight") or (family == "modernbert" and "norm" in name and name.endswith(".weight")):
        t = 1.0 + 0.2 * rng.standard_normal(shape)
    elif name.endswith(".bias"):
        t = 0.1 * rng.standard_normal(shape)
    elif "embeddings" in name:
        t = 0.02 * rng.standard_normal(shape)
        if name.endswith(("word_embeddings.weight", "position_embeddings.weight", "tok_embeddings.weight")):
            t[pad_id] = 0.0
    else:
        assert len(shape) == 2, name
        g = 1.6 if (name.endswith(("query.weight", "key.weight")) or "Wqkv" in name) else 1.0
        t = (g / math.sqrt(shape[1])) * rng.standard_normal(shape)
        if "Wqkv" in name:        # V third back to gain 1.0
            t[2 * shape[0] // 3:] /= g
    return torch.from_numpy(t.astype(np.float32))


def build_model(dst, config, family, seed):
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    cfg = AutoConfig.from_pretrained(dst)
    model = AutoModel.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    sd = {k: init_tensor(k, tuple(v.shape), family, config["pad_token_id"], seed)
          for k, v in model.state_dict().items()}
    model.load_state_dict(sd, strict=True)
    # Tensor names exactly as save_pretrained writes them (checked against it below).
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(dst, "model.safetensors"),
              metadata={"format": "pt"})
    with tempfile.TemporaryDirectory() as t:
        model.save_pretrained(t)
        from safetensors import safe_open
        with safe_open(os.path.join(t, "model.safetensors"), "pt") as f:
            hf_keys = set(f.keys())
        with open(os.path.join(t, "config.json")) as f:
            v5cfg = json.load(f)
    assert hf_keys == set(sd), (sorted(hf_keys ^ set(sd)))
    return v5cfg


def write_st_files(dst, hidden, pooling, prompts):
    with open(os.path.join(dst, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  f, indent=2)
        f.write("\n")
    os.makedirs(os.path.join(dst, "1_Pooling"), exist_ok=True)
    with open(os.path.join(dst, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": hidden, "pooling_mode_cls_token": pooling == "cls",
                   "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
                   "pooling_mode_lasttoken": False, "include_prompt": True}, f, indent=2)
        f.write("\n")
    with open(os.path.join(dst, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 8192, "do_lower_case": False}, f, indent=2)
        f.write("\n")
    with open(os.path.join(dst, "config_sentence_transformers.json"), "w") as f:
        json.dump({"__version__": {"sentence_transformers": "3.0.1", "transformers": "4.48.0",
                                   "pytorch": "2.4.0"},
                   "prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# Independent float64 re-implementation (what README.md documents), with switchable mistakes
# ----------------------------------------------------------------------------------------------

def _ln(x, w, b, eps, affine=True):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps)
    if affine:
        y = y * w
        if b is not None:
            y = y + b
    return y


def _gelu(x, tanh=False):
    if tanh:
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _attend(q, k, v, mask=None):
    """q,k,v [heads, S, d] -> [S, heads*d]; mask [S,S] bool (True = may attend) or None."""
    outs = []
    for h in range(q.shape[0]):
        s = (q[h] @ k[h].T) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        p = torch.softmax(s, dim=-1)
        outs.append(p @ v[h])
    return torch.cat(outs, dim=-1)


def ref_xlmr(W, cfg, ids, mistake=None):
    W = {k: v.double() for k, v in W.items()}
    H, nh, L, eps, pad = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"],
                          cfg["layer_norm_eps"], cfg["pad_token_id"])
    ids = torch.as_tensor(ids, dtype=torch.long)
    m = (ids != pad).long()
    pos = torch.cumsum(m, 0) * m + pad
    if mistake == "positions_from_0":
        pos = torch.arange(len(ids))
    if mistake == "positions_from_1":
        pos = torch.arange(len(ids)) + 1
    x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][0]
         + W["embeddings.position_embeddings.weight"][pos])
    if mistake == "eps_1e-12":
        eps = 1e-12
    x = _ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    d = H // nh
    for l in range(L):
        p = "encoder.layer.%d." % l
        def lin(n, t):
            return t @ W[p + n + ".weight"].T + W[p + n + ".bias"]
        q, k, v = (lin("attention.self." + n, x).view(-1, nh, d).transpose(0, 1) for n in ("query", "key", "value"))
        a = lin("attention.output.dense", _attend(q, k, v))
        x = _ln(a + x, W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"], eps)
        h = _gelu(lin("intermediate.dense", x), tanh=(mistake == "gelu_tanh"))
        x = _ln(lin("output.dense", h) + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x


def ref_modernbert(W, cfg, ids, mistake=None, rope_f32=True):
    """rope_f32: compute the rotary angles as HF does (inv_freq, position*inv_freq, cos and sin all in
    float32); otherwise exactly (float64). Everything else in float64."""
    W = {k: v.double() for k, v in W.items()}
    H, nh, L, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["norm_eps"]
    every, win = cfg["global_attn_every_n_layers"], cfg["local_attention"]
    d = H // nh
    ids = torch.as_tensor(ids, dtype=torch.long)
    S = len(ids)
    x = W["embeddings.tok_embeddings.weight"][ids]
    if mistake != "no_embedding_norm":
        x = _ln(x, W["embeddings.norm.weight"], None, eps)
    pos = torch.arange(S, dtype=torch.float64)
    ii = torch.arange(S)
    dist = (ii[:, None] - ii[None, :]).abs()
    local_mask = dist <= win // 2
    if mistake == "window_strict":
        local_mask = dist < win // 2
    if mistake == "window_full":
        local_mask = dist <= win
    for l in range(L):
        p = "layers.%d." % l
        is_global = (l % every == 0)
        if mistake == "global_layer_off_by_one":
            is_global = (l % every == every - 1)
        theta = cfg["global_rope_theta"] if is_global else cfg["local_rope_theta"]
        if mistake == "theta_swapped":
            theta = cfg["local_rope_theta"] if is_global else cfg["global_rope_theta"]
        if l == 0:
            h = _ln(x, None, None, eps, affine=False) if mistake == "layer0_attn_norm" else x
        else:
            h = _ln(x, W[p + "attn_norm.weight"], None, eps)
        qkv = (h @ W[p + "attn.Wqkv.weight"].T).view(S, 3, nh, d)
        q, k, v = (qkv[:, i].transpose(0, 1) for i in range(3))      # [nh, S, d]
        if rope_f32:    # ModernBertRotaryEmbedding.compute_default_rope_parameters + forward
            inv32 = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
            ang = (pos.float()[:, None] * inv32[None, :]).double()
        else:
            inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
            ang = pos[:, None] * inv[None, :]                       # [S, d/2]
        if mistake == "rope_interleaved":
            cos, sin = ang.cos().repeat_interleave(2, -1), ang.sin().repeat_interleave(2, -1)
            def rot(t):
                t2 = t.view(*t.shape[:-1], d // 2, 2)
                return torch.stack((-t2[..., 1], t2[..., 0]), -1).view(t.shape)
        else:
            c, sn = (ang.float().cos().double(), ang.float().sin().double()) if rope_f32 else (ang.cos(), ang.sin())
            cos, sin = torch.cat((c, c), -1), torch.cat((sn, sn), -1)
            def rot(t):
                return torch.cat((-t[..., d // 2:], t[..., :d // 2]), -1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        a = _attend(q, k, v, None if is_global else local_mask) @ W[p + "attn.Wo.weight"].T
        x = x + a
        mm = _ln(x, W[p + "mlp_norm.weight"], None, eps) @ W[p + "mlp.Wi.weight"].T
        inp, gate = mm.chunk(2, dim=-1)
        if mistake == "glu_chunks_swapped":
            inp, gate = gate, inp
        x = x + (_gelu(inp, tanh=(mistake == "gelu_tanh")) * gate) @ W[p + "mlp.Wo.weight"].T
    if mistake != "no_final_norm":
        x = _ln(x, W["final_norm.weight"], None, eps)
    return x


XLMR_MISTAKES = ["positions_from_0", "positions_from_1", "gelu_tanh", "eps_1e-12"]
MB_MISTAKES = ["window_strict", "window_full", "global_layer_off_by_one", "theta_swapped", "rope_interleaved",
               "layer0_attn_norm", "glu_chunks_swapped", "gelu_tanh", "no_embedding_norm", "no_final_norm"]


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------

REAL_TEXT = {
    "xlmr": ("query", "Wie hoch ist der Eiffelturm? The Eiffel Tower in Paris is about 330 metres tall and was "
             "completed in 1889. La tour Eiffel a été construite pour l'Exposition universelle. Эйфелева башня — "
             "один из самых узнаваемых символов Парижа. 東京タワーの高さは三百三十三メートルです。"
             "北京是中华人民共和国的首都。서울은 대한민국의 수도입니다. هذه جملة باللغة العربية. "
             "यह एक हिंदी वाक्य है। ｆｕｌｌｗｉｄｔｈ ﬁ ① ²  double  spaces and an emoji 🗼."),
    # (the adjacent literals form one string, which is repeated twice: 463 tokens, > the 129-token window)
    "modernbert": ("query", "Long documents need embedding models that can read thousands of tokens at once. "
                   "ModernBERT alternates global attention layers with local sliding-window layers: every third "
                   "layer attends to the whole sequence, the others only to tokens at most sixty-four positions "
                   "away. Rotary position embeddings use theta 160000 for global layers and 10000 for local ones. "
                   "def embed(texts): return [model(t) for t in texts]  # two spaces before the comment\n"
                   "Café naïve résumé — “quotes” and ‘apostrophes’, 3.14159, https://example.com/a?b=c. "
                   "Ein Mann spielt Gitarre auf der Straße. 東京タワー 🗼 " * 2),
}


def subset_rows(n):
    rows = set(range(min(64, n))) | set(range(max(0, n - 64), n)) | set(range(0, n, 97))
    return np.array(sorted(rows), dtype=np.int32)


def make_ids(family, n, lo, hi, cls_id, sep_id):
    if n == 1:
        return np.array([cls_id], dtype=np.int64)
    rng = np.random.default_rng([SEED, 7 if family == "xlmr" else 11, n])
    mid = rng.integers(lo, hi, size=n - 2)
    return np.concatenate([[cls_id], mid, [sep_id]]).astype(np.int64)


def unit(v):
    return v / np.maximum(np.linalg.norm(v), 1e-12)


def reference(model_dir, family, tok_path, id_range, cls_id, sep_id, prompts, pooling):
    from safetensors.numpy import save_file
    from transformers import AutoModel
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32).eval()
    tensors, meta = {}, {"lengths": LENGTHS, "subset_lengths": list(SUBSET_LENS)}
    hidden_full = {}
    for n in LENGTHS:
        ids = make_ids(family, n, id_range[0], id_range[1], cls_id, sep_id)
        with torch.no_grad():
            h = model(input_ids=torch.from_numpy(ids)[None]).last_hidden_state[0].numpy().astype(np.float32)
        hidden_full[n] = (ids, h)
        tensors["ids.len%d" % n] = ids.astype(np.int32)
        if n in SUBSET_LENS:
            rows = subset_rows(n)
            tensors["rows.len%d" % n] = rows
            tensors["hidden.len%d" % n] = np.ascontiguousarray(h[rows])
        else:
            tensors["hidden.len%d" % n] = h
        tensors["pooled_cls.len%d" % n] = unit(h[0]).astype(np.float32)
        tensors["pooled_mean.len%d" % n] = unit(h.astype(np.float64).mean(0)).astype(np.float32)
    # The real text, tokenized by tokenizer.json, with the prompt prepended as sentence-transformers does.
    prompt_name, body = REAL_TEXT[family]
    text = prompts[prompt_name] + body
    tok = load_tok(tok_path)
    ids = np.array(tok.encode(text).ids, dtype=np.int64)
    with torch.no_grad():
        h = model(input_ids=torch.from_numpy(ids)[None]).last_hidden_state[0].numpy().astype(np.float32)
    hidden_full["text"] = (ids, h)
    tensors["ids.text"] = ids.astype(np.int32)
    tensors["hidden.text"] = h
    tensors["pooled_cls.text"] = unit(h[0]).astype(np.float32)
    tensors["pooled_mean.text"] = unit(h.astype(np.float64).mean(0)).astype(np.float32)
    # sentence-transformers itself on the real text (prompt by name) and on the decoded random-id inputs
    # is not meaningful (decode/re-encode does not round-trip); the pooled_* math above is what
    # sentence-transformers' Pooling(cls|mean) + Normalize do for a batch of one (mask all ones).
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(model_dir, device="cpu", model_kwargs={"attn_implementation": "eager"})
    emb = st.encode([body], prompt_name=prompt_name, convert_to_numpy=True, normalize_embeddings=False)[0]
    tensors["sentence.text"] = emb.astype(np.float32)
    want = tensors["pooled_%s.text" % pooling]
    st_err = float(np.abs(emb - want).max())
    assert st_err < 1e-5, ("sentence-transformers disagrees with pooled_%s" % pooling, st_err)
    meta.update({"text": text, "prompt_name": prompt_name, "prompt": prompts[prompt_name], "body": body,
                 "text_tokens": int(len(ids)), "pooling": pooling, "normalize": True,
                 "subset_rows": "for lengths %s hidden.lenN holds only rows rows.lenN: the first 64, the last 64 "
                                "and every 97th row (0, 97, 194, ...), ascending" % list(SUBSET_LENS),
                 "random_ids": "ids[0]=%d, ids[-1]=%d, ids[1:-1] uniform in [%d, %d) (numpy default_rng)"
                               % (cls_id, sep_id, id_range[0], id_range[1])})
    save_file(tensors, os.path.join(model_dir, "reference.safetensors"),
              metadata={"generator": "scripts/gen_longctx_fixtures.py"})   # one key: byte-reproducible
    with open(os.path.join(model_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return model, hidden_full, st_err


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------

def check_model(model_dir, family, cfg, hidden_full, model):
    """Reload weights + references from disk; compare the float64 re-implementation with HF; show how
    big typical mistakes would be; check batch padding does not change the rows."""
    from safetensors.numpy import load_file
    W = {k: torch.from_numpy(v) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    R = load_file(os.path.join(model_dir, "reference.safetensors"))
    fwd = ref_xlmr if family == "xlmr" else ref_modernbert
    report = {}
    for key in [1, 100, 513, 2048, 8192, "text"]:
        ids = R["ids.len%d" % key] if key != "text" else R["ids.text"]
        got = fwd(W, cfg, ids).float().numpy()
        if key in SUBSET_LENS:
            got = got[R["rows.len%d" % key]]
            want = R["hidden.len%d" % key]
        else:
            want = R["hidden.len%d" % key] if key != "text" else R["hidden.text"]
        err = float(np.abs(got - want).max())
        report["f64_vs_hf.%s" % key] = err
        assert err < 3e-5, (model_dir, key, err)
        if family == "modernbert":     # the same with exact rotary angles: fp32 angle error grows with position
            g2 = fwd(W, cfg, ids, rope_f32=False).float().numpy()
            if key in SUBSET_LENS:
                g2 = g2[R["rows.len%d" % key]]
            report["f64_exact_rope_vs_hf.%s" % key] = float(np.abs(g2 - want).max())
        if key in SUBSET_LENS:
            assert np.array_equal(R["rows.len%d" % key], subset_rows(key))
            assert np.array_equal(hidden_full[key][1][subset_rows(key)], want)
        else:
            assert np.array_equal(hidden_full[key][1], want)
        assert np.array_equal(ids.astype(np.int64), hidden_full[key][0])
    ids = R["ids.len513"]
    base = fwd(W, cfg, ids)
    for m in (XLMR_MISTAKES if family == "xlmr" else MB_MISTAKES):
        report["mistake.%s" % m] = float((fwd(W, cfg, ids, mistake=m) - base).abs().max())
    # Right-padded batch of two: rows of the shorter one and of the longer one must not change.
    pad = cfg["pad_token_id"]
    a, b = R["ids.len100"].astype(np.int64), R["ids.len513"].astype(np.int64)
    batch = np.full((2, len(b)), pad, dtype=np.int64)
    batch[0, :len(a)] = a
    batch[1] = b
    mask = (np.arange(len(b))[None] < np.array([[len(a)], [len(b)]])).astype(np.int64)
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(batch), attention_mask=torch.from_numpy(mask)).last_hidden_state
    report["padded_batch"] = max(float(np.abs(out[0, :len(a)].numpy() - R["hidden.len100"]).max()),
                                 float(np.abs(out[1].numpy() - R["hidden.len513"]).max()))
    # sdpa agrees with eager
    from transformers import AutoModel
    sd = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32).eval()
    with torch.no_grad():
        o = sd(input_ids=torch.from_numpy(b)[None]).last_hidden_state[0].numpy()
    report["sdpa_vs_eager.513"] = float(np.abs(o - R["hidden.len513"]).max())
    report["hidden_absmax"] = float(max(np.abs(v).max() for k, v in R.items() if k.startswith("hidden.")))
    return report


def check_tokenizer_dir(model_dir, lines):
    """AutoTokenizer (what sentence-transformers uses) must give what tokenizer.json gives."""
    from transformers import AutoTokenizer
    at = AutoTokenizer.from_pretrained(model_dir)
    t = load_tok(os.path.join(model_dir, "tokenizer.json"))
    bad = sum(1 for s in lines if at(s)["input_ids"] != t.encode(s).ids)
    return bad


def spm_parity(spm_path, tok, lines):
    """Lines where tokenizer.json (HF Unigram) and SentencePiece itself disagree (informational)."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    bad = []
    for i, s in enumerate(lines):
        ids = [0] + [3 if x == 0 else x + 1 for x in sp.encode(s)] + [2]
        if ids != tok.encode(s).ids:
            bad.append(i)
    return bad


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-checks", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    import sentence_transformers
    import tokenizers
    import transformers
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    lines = [json.loads(l)["text"] for l in open(CORPUS, encoding="utf-8")]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus_extra.jsonl"), "w", encoding="utf-8") as f:
        for s in EXTRA_LINES:
            f.write(json.dumps({"text": s}) + "\n")
    text = training_text()
    summary = {"versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__},
               "training_lines": len(text), "training_chars": sum(len(s) for s in text)}

    with tempfile.TemporaryDirectory() as tmp:
        uni_dir = build_unigram(text, tmp)
        bpe_dir, n_bpe_model = build_bpe(text, tmp)
        uni = load_tok(os.path.join(uni_dir, "tokenizer.json"))
        bpe = load_tok(os.path.join(bpe_dir, "tokenizer.json"))
        write_expected(uni, "unigram (xlmr)", lines, EXTRA_LINES, os.path.join(OUT, "unigram_expected.jsonl"))
        write_expected(bpe, "bpe (modernbert)", lines, EXTRA_LINES, os.path.join(OUT, "bpe_expected.jsonl"))
        bad = spm_parity(os.path.join(uni_dir, "sentencepiece.bpe.model"), uni, lines)
        summary["unigram_vs_sentencepiece_mismatch_lines"] = len(bad)
        summary["unigram_vs_sentencepiece_mismatch_examples"] = [lines[i] for i in bad[:8]]

        v_uni = uni.get_vocab_size(with_added_tokens=True)
        v_bpe = bpe.get_vocab_size(with_added_tokens=True)
        bpe_ids = {t: bpe.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")}
        summary["vocab"] = {"unigram": v_uni, "bpe": v_bpe, "bpe_model_tokens": n_bpe_model, "bpe_special": bpe_ids}

        specs = [
            ("xlmr", "xlmr", xlmr_config(v_uni, 64, 3, 2), uni_dir, "cls",
             {"query": "query: ", "passage": "passage: "}),
            ("xlmr-d64", "xlmr", xlmr_config(v_uni, 128, 2, 2), uni_dir, "cls",
             {"query": "query: ", "passage": "passage: "}),
            ("modernbert", "modernbert", modernbert_config(v_bpe, 64, 4, 2, bpe_ids), bpe_dir, "mean",
             {"query": "search_query: ", "document": "search_document: "}),
            ("modernbert-d64", "modernbert", modernbert_config(v_bpe, 128, 4, 2, bpe_ids), bpe_dir, "mean",
             {"query": "search_query: ", "document": "search_document: "}),
        ]
        for k, (name, family, cfg, tdir, pooling, prompts) in enumerate(specs):
            dst = os.path.join(OUT, name)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            v5cfg = build_model(dst, cfg, family, SEED + 100 * k)
            if family == "modernbert":
                with open(os.path.join(dst, "config_transformers5.json"), "w") as f:
                    json.dump(v5cfg, f, indent=2, sort_keys=True)
                    f.write("\n")
            for fn in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                       "sentencepiece.bpe.model"):
                if os.path.exists(os.path.join(tdir, fn)):
                    shutil.copy(os.path.join(tdir, fn), dst)
            write_st_files(dst, cfg["hidden_size"], pooling, prompts)
            if family == "xlmr":
                rng = (4, v_uni - 1)                           # no <s> <pad> </s> <unk> <mask>
                cls_id, sep_id = 0, 2
            else:
                rng = (2, n_bpe_model)                         # learned BPE tokens only
                cls_id, sep_id = bpe_ids["[CLS]"], bpe_ids["[SEP]"]
            model, hidden_full, st_err = reference(dst, family, os.path.join(dst, "tokenizer.json"), rng,
                                                   cls_id, sep_id, prompts, pooling)
            summary[name] = {"st_vs_pooled": st_err}
            if not args.skip_checks:
                full_cfg = dict(cfg)
                summary[name].update(check_model(dst, family, full_cfg, hidden_full, model))
                summary[name]["autotokenizer_mismatch_lines"] = check_tokenizer_dir(dst, lines + EXTRA_LINES)
            print(name, json.dumps(summary[name], indent=1), flush=True)

    total = 0
    for dp, _, fns in os.walk(OUT):
        for fn in fns:
            total += os.path.getsize(os.path.join(dp, fn))
    summary["total_bytes"] = total
    print(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
