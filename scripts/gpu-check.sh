#!/usr/bin/env bash
# gpu-check.sh - on a machine with an NVIDIA GPU: build the CUDA code, run the CUDA tests, time
# Sutra's attention against PyTorch's (FA2 and cuDNN) in the same run, and print a short table
# last.
#
# Usage: scripts/gpu-check.sh [stage ...]     (default: build test bench peer summary)
#   build    CMake, Release, SUTRA_CUDA=ON: the whole project when it configures and builds
#            here, else the kernels-only project in bench/cuda (CUDA toolkit alone)
#   test     ctest -L cuda (the CUDA tests) in the build that has them
#   bench    bench/cuda/attn_bench (ATTN_BENCH_ARGS, e.g. "--variants", are passed through)
#   peer     bench/torch_attn_peer.py (PyTorch SDPA flash + cuDNN, same shapes)
#   summary  the side-by-side table, from the two JSON files
# Outputs go to $OUT when set (the device tool collects it), else bench/out/gpu-check. Each
# stage is a function that reads only files earlier stages wrote, so stages can run alone and
# new ones (whole-model benchmarks) slot in the same way. The script stops at the first stage
# that fails, after printing why, unless KEEP_GOING=1 (then the exit status is still non-zero).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUTDIR="${OUT:-$ROOT/bench/out/gpu-check}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
FULL_BUILD="$ROOT/build-gpu"
KERNEL_BUILD="$ROOT/build-gpu-kernels"
JOBS="$(nproc 2>/dev/null || echo 8)"

say() { echo "== $*" | tee -a "$LOG"; }

stage_build() {
    say "build: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), cmake $(cmake --version | head -1 | awk '{print $3}')"
    if cmake -S "$ROOT" -B "$FULL_BUILD" -DSUTRA_CUDA=ON -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
        cmake --build "$FULL_BUILD" -j "$JOBS" >>"$LOG" 2>&1; then
        say "build: whole project built in $FULL_BUILD"
        if [ ! -x "$FULL_BUILD/bench/cuda/attn_bench" ]; then
            say "build: the project does not add bench/cuda; building attn_bench from the kernels-only project"
            build_kernels attn_bench || return 1
        fi
        return 0
    fi
    say "build: the whole project did not configure or build here (see gpu-check.log); kernels-only project"
    build_kernels all
}

build_kernels() { # $1: target
    cmake -S "$ROOT/bench/cuda" -B "$KERNEL_BUILD" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
        cmake --build "$KERNEL_BUILD" -j "$JOBS" --target "$1" >>"$LOG" 2>&1 ||
        { say "build: FAILED (tail of gpu-check.log follows)"; tail -40 "$LOG"; return 1; }
    say "build: kernels-only project built in $KERNEL_BUILD"
}

find_bin() { # $1: binary name; prints its path in whichever build has it
    for f in "$FULL_BUILD/tests/cuda/$1" "$FULL_BUILD/bench/cuda/$1" "$KERNEL_BUILD/tests-cuda/$1" "$KERNEL_BUILD/$1"; do
        [ -x "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

stage_test() {
    local dir
    if [ -x "$FULL_BUILD/tests/cuda/test_flash_attn" ]; then dir="$FULL_BUILD"; else dir="$KERNEL_BUILD"; fi
    say "test: ctest -L cuda in $dir"
    (cd "$dir" && ctest -L cuda -V --timeout 900) >"$OUTDIR/test.txt" 2>&1
    local rc=$?
    cat "$OUTDIR/test.txt" >>"$LOG"
    grep -E "^(FAIL|ok  )" "$OUTDIR/test.txt" | awk '{print $1}' | sort | uniq -c | sed 's/^/   /'
    grep -E "tests passed|tests failed|test_flash_attn:" "$OUTDIR/test.txt"
    [ $rc -eq 0 ] || { say "test: FAILED"; grep -E "^FAIL" "$OUTDIR/test.txt" | head -20; return 1; }
}

stage_bench() {
    local bin
    bin="$(find_bin attn_bench)" || { say "bench: attn_bench not built"; return 1; }
    say "bench: $bin ${ATTN_BENCH_ARGS:-}"
    # shellcheck disable=SC2086
    "$bin" --json "$OUTDIR/attn_bench.json" ${ATTN_BENCH_ARGS:-} >"$OUTDIR/attn_bench.txt" 2>&1 ||
        { say "bench: FAILED"; tail -20 "$OUTDIR/attn_bench.txt"; return 1; }
}

stage_peer() {
    say "peer: torch SDPA flash / cuDNN"
    PYTHONUNBUFFERED=1 python3 "$ROOT/bench/torch_attn_peer.py" --json "$OUTDIR/torch_peer.json" \
        >"$OUTDIR/torch_peer.txt" 2>&1 || { say "peer: FAILED"; tail -20 "$OUTDIR/torch_peer.txt"; return 1; }
}

stage_summary() {
    python3 - "$OUTDIR/attn_bench.json" "$OUTDIR/torch_peer.json" <<'EOF' | tee "$OUTDIR/summary.txt"
import json, sys
ours = json.load(open(sys.argv[1]))
try:
    peer = {(r["d"], r["N"]): r for r in json.load(open(sys.argv[2]))["rows"]}
except OSError:
    peer = {}
best = {}
for r in ours["rows"]:
    if r["impl"] == "standard":
        continue
    k = (r["d"], r["N"])
    if r["impl"] != "sutra" and r["tflops"] > best.get(k, ("", 0))[1]:
        best[k] = (r["impl"], r["tflops"])
print(f"attention fwd, {ours['device']}, {ours['dtype']}, TFLOP/s (median of {ours['reps']})")
print(f"{'d':>4} {'N':>6} {'sutra':>7} {'torch-fa2':>9} {'cudnn':>7} {'sutra/fa2':>9}  best other tiles")
for r in ours["rows"]:
    if r["impl"] != "sutra":
        continue
    p = peer.get((r["d"], r["N"]), {})
    fa, cu = p.get("flash"), p.get("cudnn")
    ratio = f"{r['tflops'] / fa:.2f}" if isinstance(fa, (int, float)) and fa else "-"
    b = best.get((r["d"], r["N"]))
    bs = f"{b[0]} {b[1]:.1f}" if b else ""
    print(f"{r['d']:>4} {r['N']:>6} {r['tflops']:>7.1f} {fa!s:>9} {cu!s:>7} {ratio:>9}  {bs}")
EOF
}

STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(build test bench peer summary)
: >"$LOG"
status=0
for s in "${STAGES[@]}"; do
    case "$s" in
    build | test | bench | peer | summary) ;;
    *) echo "unknown stage '$s' (build test bench peer summary)"; exit 2 ;;
    esac
    if ! "stage_$s"; then
        status=1
        [ "${KEEP_GOING:-0}" = 1 ] || exit 1
    fi
done
exit $status
