#!/usr/bin/env bash
# CPU benchmarks, in one run, on this machine: writes bench/results/cpu-<date>.{txt,json} and
# prints the tables docs/BENCHMARKS.md quotes.
#   bash bench/run-cpu.sh [all|throughput|ort|longctx|contention]
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
  "${PYTHON:-python3}" bench/ort_compare.py --threads $threads --count 512 --repeats 5 --json "$out/cpu-ort-$date.json" \
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

# contention: the ort rows (ONNX Runtime, then Sutra, same sentences and threads) on an idle
# machine, beside one and two busy-loop processes, and inside a cgroup whose CPU quota is one CPU
# (cgroup v2 cpu.max or v1 cpu.cfs_quota_us; skipped, and said, where none can be made). In the
# cgroup the rows run twice: both at 2 threads, then both at their own defaults (ONNX Runtime's:
# the host's cores; Sutra's: what the quota allows). Conditions alternate ROUNDS times (default 1).
if [ "$stage" = contention ]; then
  py="${PYTHON:-python3}"
  json="$out/cpu-contention-$date${TAG:-}.jsonl"
  : > "$json"
  say "== Sutra vs ONNX Runtime under CPU contention on $cpu ($date)"
  pids=()
  busy() { for _ in $(seq "$1"); do sh -c 'while :; do :; done' & pids+=($!); done; }
  calm() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true; pids=(); }
  cg=""
  make_cgroup() { # prints the directory of a fresh cgroup holding one CPU's quota, or nothing
    local d
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
      d=/sys/fs/cgroup/sutra-bench-$$
      grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
      mkdir "$d" 2>/dev/null && echo "100000 100000" > "$d/cpu.max" 2>/dev/null && echo "$d" && return
    elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
      d=/sys/fs/cgroup/cpu/sutra-bench-$$
      mkdir "$d" 2>/dev/null && echo 100000 > "$d/cpu.cfs_period_us" && echo 100000 > "$d/cpu.cfs_quota_us" 2>/dev/null &&
        echo "$d" && return
    fi
    [ -n "${d:-}" ] && rmdir "$d" 2>/dev/null
    true
  }
  trap 'calm; [ -n "$cg" ] && rmdir "$cg" 2>/dev/null' EXIT
  cg=$(make_cgroup)
  case_run() { # label, then ort_compare's options; runs in the cgroup when the label starts with cgroup
    local label=$1 j=bench/out/contention-case.json; shift
    if [[ $label == cgroup* ]]; then
      sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$py" bench/ort_compare.py "$@" --json "$j"
    else
      "$py" bench/ort_compare.py "$@" --json "$j"
    fi 2>/dev/null | tail -n 4 | tee -a "$log"
    "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); r["condition"]=sys.argv[2]; print(json.dumps(r))' "$j" "$label" >> "$json"
  }
  for round in $(seq "${ROUNDS:-1}"); do
    say "-- idle"; case_run idle --threads $threads --count 512 --repeats 5
    say "-- beside one busy-loop process"; busy 1; case_run busy1 --threads $threads --count 512 --repeats 5; calm
    say "-- beside two busy-loop processes"; busy 2; case_run busy2 --threads $threads --count 512 --repeats 5; calm
    if [ -n "$cg" ]; then
      say "-- in a cgroup with one CPU's quota, $threads threads each"; case_run cgroup1 --threads $threads --count 512 --repeats 5
      say "-- in a cgroup with one CPU's quota, each at its default threads"
      case_run cgroup1-default --threads $threads --sutra-threads 0 --ort-threads 0 --count 512 --repeats 5
    else
      say "-- no cgroup could be made here (needs a writable cgroup v2 cpu controller or v1 cpu hierarchy): rows skipped"
    fi
  done
  "$py" - "$json" <<'PY' | tee -a "$log"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
order, by = [], {}
for r in rows:
    if r["condition"] not in by: order.append(r["condition"])
    by.setdefault(r["condition"], []).append(r)
med = lambda rs, f: statistics.median(f(r) for r in rs)
idle = by.get("idle")
print("\n| Condition | threads (ORT / Sutra) | batch 1 ORT / Sutra (sent/s) | batch 32 ORT / Sutra (sent/s) | 512 tokens ORT / Sutra (ms) | Sutra / ORT (b1, b32, 512) | Sutra slowdown vs idle (b1, b32, 512) |")
print("|---|---|---|---|---|---|---|")
for c in order:
    rs = by[c]
    o1, s1 = med(rs, lambda r: r["batch1"]["ort_sentences_per_s"]), med(rs, lambda r: r["batch1"]["sutra_sentences_per_s"])
    o32, s32 = med(rs, lambda r: r["batch32"]["ort_sentences_per_s"]), med(rs, lambda r: r["batch32"]["sutra_sentences_per_s"])
    ol, sl = med(rs, lambda r: r["long512"]["ort_ms"]), med(rs, lambda r: r["long512"]["sutra_ms"])
    th = f'{rs[0]["ort_threads"] or "default"} / {rs[0]["sutra_threads_chosen"]}'
    slow = "-"
    if idle:
        i1, i32, il = (med(idle, lambda r: r["batch1"]["sutra_sentences_per_s"]), med(idle, lambda r: r["batch32"]["sutra_sentences_per_s"]),
                       med(idle, lambda r: r["long512"]["sutra_ms"]))
        slow = f"{i1 / s1:.2f}x, {i32 / s32:.2f}x, {sl / il:.2f}x"
    print(f"| {c} | {th} | {o1:.0f} / {s1:.0f} | {o32:.0f} / {s32:.0f} | {ol:.1f} / {sl:.1f} | "
          f"{s1 / o1:.2f}x, {s32 / o32:.2f}x, {ol / sl:.2f}x | {slow} |")
PY
fi
