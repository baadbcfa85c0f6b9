#!/usr/bin/env bash
# CPU benchmarks of two builds in turns, on this machine: bench/run-cpu.sh's throughput rows
# (embed_bench: all-MiniLM-L6-v2 on STS-B sentences, batch 1 and 32, one 512-token input) and the
# long-input rows of its longctx table (longctx_bench: the random bert-base with 8192 positions,
# one input, standard and flash: time and added peak memory), ROUNDS rounds, each build once per
# round in alternation so that both see the machine alike; medians per build and row.
#   bash bench/ab-cpu.sh BASE_BUILD NEW_BUILD [OUT]     (default OUT bench/out/ab-cpu)
# ROUNDS (default 3), LENGTHS (default "2048 4096 8192").
set -euo pipefail
cd "$(dirname "$0")/.."
base="$1" new="$2" out="${3:-bench/out/ab-cpu}"
mkdir -p "$out"
export SUTRA_SHARED_DIR="${SUTRA_SHARED_DIR:-$(cd .. && pwd)/shared}"
model=bench/out/bert-base-8k
py="${SUTRA_VENV:-$HOME/.cache/sutra/venv}/bin/python"; [ -x "$py" ] || py=python3
[ -s "$model/model.safetensors" ] || "$py" bench/make_random_bert.py "$model"
: >"$out/long.jsonl"
for round in $(seq 1 "${ROUNDS:-3}"); do
    for label in base new; do
        dir=$base
        [ $label = new ] && dir=$new
        "$dir/bench/embed_bench" --threads 2 --count 1024 --repeats 5 --batch 1 --batch 32 --long-tokens 512 \
            --json "$out/tp-$label-$round.json" >"$out/tp-$label-$round.txt"
        for n in ${LENGTHS:-2048 4096 8192}; do
            for path in standard flash; do
                printf '{"build": "%s", "round": %d, "row": ' $label "$round" >>"$out/long.jsonl"
                "$dir/bench/longctx_bench" --model "$model" --tokens "$n" --attention $path --threads 2 --repeats 1 \
                    | tr -d '\n' >>"$out/long.jsonl"
                echo '}' >>"$out/long.jsonl"
            done
        done
    done
done
python3 - "$out" "${ROUNDS:-3}" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print("throughput (embed_bench: all-MiniLM-L6-v2, 2 threads), median over rounds of each round's median")
tp = {}
for label in ("base", "new"):
    for r in range(1, rounds + 1):
        j = json.load(open(f"{out}/tp-{label}-{r}.json"))
        for row in j["rows"]:
            key = f"batch {row['batch']}" if "batch" in row else f"one input of {row['long_tokens']} tokens"
            for m in ("sentences_per_s", "ms_per_call", "ms"):
                if m in row:
                    tp.setdefault((key, m), {}).setdefault(label, []).append(row[m])
for (key, m), v in tp.items():
    b, n = statistics.median(v["base"]), statistics.median(v["new"])
    print(f"  {key:<28} {m:<16} base {b:10.2f}  new {n:10.2f}  new/base {n / b:6.3f}   "
          f"rounds: base {' '.join(f'{x:.1f}' for x in v['base'])}, new {' '.join(f'{x:.1f}' for x in v['new'])}")
print("long inputs (longctx_bench: random bert-base, one input, 2 threads), medians over rounds")
rows = [json.loads(l) for l in open(f"{out}/long.jsonl")]
by = {}
for r in rows:
    x = r["row"]
    k = (x["tokens"], x["attention"])
    for m in ("ms", "forward_added_mib", "peak_rss_mib"):
        if m in x:
            by.setdefault((k, m), {}).setdefault(r["build"], []).append(x[m])
for (k, m), v in sorted(by.items()):
    b, n = statistics.median(v["base"]), statistics.median(v["new"])
    print(f"  {k[0]:>5} {k[1]:<8} {m:<18} base {b:10.1f}  new {n:10.1f}  new/base {n / b:6.3f}   "
          f"rounds: base {' '.join(f'{x:.1f}' for x in v['base'])}, new {' '.join(f'{x:.1f}' for x in v['new'])}")
PY
