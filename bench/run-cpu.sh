#!/usr/bin/env bash
# CPU benchmarks, in one run, on this machine: writes bench/results/cpu-<date>.{txt,json} and
# prints the tables docs/BENCHMARKS.md quotes.
#   bash bench/run-cpu.sh [all|throughput|ort|longctx]
# Needs a Release build in build/ (make build). The ORT comparison needs onnxruntime, onnx,
# torch, transformers and tokenizers from PyPI; the long-context table makes a random-initialised
# bert-base model (8192 positions) under bench/out/ with numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
stage="${1:-all}"
date=$(date +%Y-%m-%d)
out=bench/results
mkdir -p "$out" bench/out
export SUTRA_SHARED_DIR="${SUTRA_SHARED_DIR:-$(cd .. && pwd)/shared}"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
threads=2
log="$out/cpu-$date${TAG:-}.txt"
[ "$stage" = all ] && : > "$log"
say() { echo "$@" | tee -a "$log"; }

if [ "$stage" = all ] || [ "$stage" = throughput ]; then
  say "== all-MiniLM-L6-v2 throughput on $cpu, $threads threads ($date)"
  ./build/bench/embed_bench --threads $threads --count 1024 --repeats 5 --batch 1 --batch 32 --long-tokens 512 \
    --json "$out/cpu-minilm-$date.json" | tee -a "$log"
fi

if [ "$stage" = all ] || [ "$stage" = ort ]; then
  say "== Sutra vs ONNX Runtime, same run ($date)"
  python3 bench/ort_compare.py --threads $threads --count 512 --repeats 5 --json "$out/cpu-ort-$date.json" \
    2>/dev/null | tee -a "$log"
fi

# longctx: RUNS processes per (length, path), interleaved (default 1), medians in the tables;
# LENGTHS overrides the list of lengths; TAG is appended to the result files' names (so that a
# rerun on the same day keeps the first); BUILD names the build directory (default build).
if [ "$stage" = all ] || [ "$stage" = longctx ]; then
  model=bench/out/bert-base-8k
  [ -s "$model/model.safetensors" ] || python3 bench/make_random_bert.py "$model"
  runs="${RUNS:-1}"
  say "== bert-base shape (random weights, 8192 positions), one input, standard vs flash, $threads threads, $runs run(s) per row ($date)"
  json="$out/cpu-longctx-$date${TAG:-}.jsonl"
  : > "$json"
  for n in ${LENGTHS:-128 512 1024 2048 4096 8192}; do
    reps=3
    [ $n -ge 4096 ] && reps=1
    for run in $(seq "$runs"); do
      for path in standard flash; do
        "./${BUILD:-build}/bench/longctx_bench" --model "$model" --tokens $n --attention $path --threads $threads \
          --repeats $reps >> "$json"
      done
    done
  done
  python3 - "$json" <<'PY' | tee -a "$log"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["tokens"], {}).setdefault(r["attention"], []).append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("\n| Sequence length | Standard attention (added / process) | Flash attention (added / process) | Reduction (added) |")
print("|---|---|---|---|")
for n, d in sorted(by.items()):
    s, f = d["standard"], d["flash"]
    sa, fa = med(s, "forward_added_mib"), med(f, "forward_added_mib")
    print(f"| {n} tokens | {sa:.0f} / {med(s, 'peak_rss_mib'):.0f} MiB | {fa:.0f} / {med(f, 'peak_rss_mib'):.0f} MiB "
          f"| {1 - fa / sa:.0%} ({sa / fa:.2f}x) |")
print("\n| Sequence length | Standard (ms) | Flash (ms) | Speedup |")
print("|---|---|---|---|")
for n, d in sorted(by.items()):
    s, f = med(d["standard"], "ms"), med(d["flash"], "ms")
    print(f"| {n} tokens | {s:.0f} | {f:.0f} | {s / f:.2f}x |")
PY
fi
