#!/usr/bin/env bash
# gpu-check.sh - on a machine with an NVIDIA GPU: build the CUDA code, run the CUDA tests, time
# Sutra's attention against PyTorch's (FA2 and cuDNN) in the same run, and print a short table
# last.
#
# Usage: scripts/gpu-check.sh [stage ...]
#   (default: build test bench peer summary backend encoder encsummary)
#   build    CMake, Release, SUTRA_CUDA=ON: the whole project when it configures and builds
#            here, else the kernels-only project in bench/cuda (CUDA toolkit alone)
#   test     ctest -L cuda (the CUDA tests) in the build that has them
#   bench    bench/cuda/attn_bench (ATTN_BENCH_ARGS, e.g. "--variants", are passed through)
#   peer     bench/torch_attn_peer.py (PyTorch SDPA flash + cuDNN, same shapes)
#   summary  the side-by-side table, from the two JSON files
#   decoder  the decoders' attention (GQA 16/8 at head dim 128, causal and not): attn_bench
#            --decoder and torch_attn_peer.py --decoder in fp16 and bf16, and their table
#   backend  the CUDA tests from the prebuilt binaries (see pack) or a build here: test_flash_attn
#            (the attention kernels against a float64 reference), test_cuda_ops (every op against
#            the CPU backend), test_cuda_model (the default model end to end, GPU against CPU),
#            test_cuda_longctx (the XLM-R / ModernBERT fixtures on the GPU against HF's outputs),
#            test_cuda_qwen3 (the Qwen3 fixtures in fp16 and bf16 against HF's outputs),
#            test_cuda_distilbert / test_cuda_gemma / test_cuda_mpnet / test_cuda_nomic / test_cuda_rerank (those fixtures the same way; they read the
#            default model's tokenizer from $SUTRA_MODELS_DIR)
#            and test_concurrency --gpu (embedders on the GPU and the CPU at once, each bit for bit
#            as alone)
#   encoder  bench/cuda/encoder_bench: whole encoders (MiniLM, bert-base, xlmr-large, qwen3-0.6b,
#            nomic-v1.5 shapes; ENCODER_BENCH_ARGS, e.g. "--models qwen3-0.6b")
#   encpeer  bench/torch_encoder_peer.py: the same encoders through HF transformers, eager sdpa
#            and torch.compile (not in the default list: compiling takes minutes)
#   encsummary  the encoder table, Sutra beside PyTorch (when encpeer ran), printed last
#   cli      the public API end to end through build/sutra: `sutra info --device cuda`, then the
#            same texts embedded with --device cuda (auto and forced paths) and --device cpu on a
#            random-initialised MiniLM-shaped model made on the spot (numpy), compared by cosine
#   python   the Python package with the CUDA libsutra.so: bench/python_peer.py, 100,000 texts through
#            sutra.Embedder.encode beside sentence-transformers (PY_PEER_N, PY_PEER_REPS; the STS
#            sentences from .carry/sts-test.csv, else ../shared/data)
#   serve    `sutra serve --device cuda` on a random-initialised MiniLM-shaped model: its vectors
#            against `sutra embed --device cpu` (cosine), then bench/server_bench.sh (wrk at
#            concurrency 1, 16, 64, short and long inputs; wrk comes prebuilt from the pack)
#   gemm     bench/cuda/gemm_bench (GEMM_BENCH_ARGS, default --quick; packed with GEMM_BENCH=1):
#            the CUTLASS variants beside cuBLASLt; with GEMM_NCU=1 and ncu on the machine, also
#            ncu's speed-of-light, pipe and warp-state sections of each FFN-up + GELU variant
#   ab       encoder_bench rows under several settings, or several builds, in turns (AB_SETTINGS,
#            AB_ROWS, AB_ROUNDS, AB_REPS; see stage_ab), a median per setting and row
#   optimes  encoder_bench rows with --profile (OPTIMES_ROWS): each op's total time in a
#            sustained, eager forward (the GPU as busy and as power-capped as when timed)
#   pack     (on a build machine without a GPU, before calling the device tool) fetches the
#            CUTLASS headers (scripts/fetch-cutlass.sh), builds the CUDA tests, attn_bench and
#            encoder_bench (and gemm_bench, the CUTLASS variants, with GEMM_BENCH=1), and packs them with the shared libraries a
#            bare GPU image lacks into .carry/prebuilt.tar.xz, and a trimmed default model (fp16, only
#            the embedding rows test_cuda_model uses, ~22 MB) into .carry/models; pass ".carry"
#            in the device tool's carry list. backend/encoder use those binaries when no build
#            here made them. BASE_COMMIT=<rev> also builds encoder_bench at that commit (a git
#            worktree) and packs it as encoder_bench_base, for ab against an earlier tree.
# The default model is read from $SUTRA_MODELS_DIR, set to .carry/models when that exists.
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
CARRY="$ROOT/.carry"
PREBUILT="${TMPDIR:-/tmp}/sutra-prebuilt"
[ -d "$CARRY/models" ] && export SUTRA_MODELS_DIR="$CARRY/models"

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
    for f in "$FULL_BUILD/tests/cuda/$1" "$FULL_BUILD/bench/cuda/$1" "$KERNEL_BUILD/tests-cuda/$1" "$KERNEL_BUILD/$1" \
        "$PREBUILT/bin/$1"; do
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

stage_decoder() {
    use_prebuilt || { say "decoder: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin dt flag rc=0
    bin="$(find_bin attn_bench)" || { say "decoder: attn_bench not built"; return 1; }
    for dt in fp16 bf16; do
        say "decoder: $bin --decoder ($dt), then torch SDPA flash / cuDNN with enable_gqa"
        flag=""
        [ $dt = bf16 ] && flag=--bf16
        "$bin" --decoder $flag --json "$OUTDIR/attn_decoder_$dt.json" >"$OUTDIR/attn_decoder_$dt.txt" 2>&1 ||
            { say "decoder: attn_bench FAILED"; tail -20 "$OUTDIR/attn_decoder_$dt.txt"; rc=1; continue; }
        PYTHONUNBUFFERED=1 python3 "$ROOT/bench/torch_attn_peer.py" --decoder --dtype $dt \
            --json "$OUTDIR/torch_decoder_$dt.json" >"$OUTDIR/torch_decoder_$dt.txt" 2>&1 ||
            { say "decoder: torch peer FAILED"; tail -20 "$OUTDIR/torch_decoder_$dt.txt"; rc=1; }
    done
    python3 - "$OUTDIR" <<'EOF' | tee "$OUTDIR/decoder_summary.txt"
import json, os, sys
out = sys.argv[1]
for dt in ("fp16", "bf16"):
    try:
        ours = json.load(open(os.path.join(out, f"attn_decoder_{dt}.json")))
    except OSError:
        continue
    try:
        peer = {(r["N"], r["causal"]): r for r in json.load(open(os.path.join(out, f"torch_decoder_{dt}.json")))["rows"]}
    except OSError:
        peer = {}
    print(f"decoder attention, {dt}, d {ours['d']}, {ours['H']} heads over {ours['Hkv']}, TFLOP/s (causal: half the square)")
    mma = {(r["N"], r["causal"]): r["tflops"] for r in ours["rows"] if r.get("impl") == "mma.sync"}
    print(f"{'N':>6} {'mask':>7} {'sutra':>7} {'mma.sync':>8} {'torch-fa2':>9} {'cudnn':>7} {'/fa2':>6} {'/cudnn':>7}")
    for r in ours["rows"]:
        if r.get("impl", "sutra") != "sutra":
            continue
        p = peer.get((r["N"], r["causal"]), {})
        fa, cu = p.get("flash"), p.get("cudnn")
        rf = f"{r['tflops'] / fa:.2f}" if isinstance(fa, (int, float)) and fa else "-"
        rc = f"{r['tflops'] / cu:.2f}" if isinstance(cu, (int, float)) and cu else "-"
        m = mma.get((r["N"], r["causal"]))
        ms = f"{m:.1f}" if m else "-"
        print(f"{r['N']:>6} {'causal' if r['causal'] else 'full':>7} {r['tflops']:>7.1f} {ms:>8} {fa!s:>9} {cu!s:>7} {rf:>6} {rc:>7}")
EOF
    return $rc
}

# ---- CUDA backend and whole encoders ---------------------------------------------------------

# Unpacks .carry/prebuilt.tar.xz (see pack) once; its libraries go on LD_LIBRARY_PATH.
use_prebuilt() {
    [ -f "$CARRY/prebuilt.tar.xz" ] || return 0
    if [ ! -d "$PREBUILT/bin" ]; then
        mkdir -p "$PREBUILT" && tar xJf "$CARRY/prebuilt.tar.xz" -C "$PREBUILT" || return 1
    fi
    local extra="" lib d
    for lib in libcudart.so.13 libcublasLt.so.13; do # the toolkit's, where the loader does not look
        ldconfig -p 2>/dev/null | grep -q "$lib" && continue
        d="$(find /usr/local/cuda/lib64/ /usr/local/ /opt/ -maxdepth 8 -name "$lib" 2>/dev/null | head -1)"
        [ -n "$d" ] && extra="$extra:$(dirname "$d")"
    done
    export LD_LIBRARY_PATH="$PREBUILT/lib$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

stage_backend() {
    use_prebuilt || { say "backend: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local rc=0 bin t r
    # BACKEND_TESTS: a subset (e.g. when a call could not carry the default model)
    for t in ${BACKEND_TESTS:-test_flash_attn test_cuda_ops test_cuda_model test_cuda_longctx test_cuda_qwen3 \
        test_cuda_distilbert test_cuda_gemma test_cuda_mpnet test_cuda_nomic test_cuda_rerank test_concurrency}; do
        bin="$(find_bin $t)" || { say "backend: $t not built (build the whole project, or run the pack stage)"; rc=1; continue; }
        say "backend: $bin (SUTRA_MODELS_DIR=${SUTRA_MODELS_DIR:-unset})"
        # test_concurrency: its GPU pair (embedders on the GPU and the CPU at once), on the fixture
        local args=()
        [ $t = test_concurrency ] && args=(--gpu)
        SUTRA_SOURCE_DIR="$ROOT" "$bin" "${args[@]}" >"$OUTDIR/$t.txt" 2>&1
        r=$?
        cat "$OUTDIR/$t.txt" >>"$LOG"
        grep -E "^FAIL|SKIP|^device|checks,|^test_flash_attn:|^test_cuda_longctx:|^test_qwen3|^test_distilbert|^test_gemma|^test_mpnet|^test_nomic|^test_concurrency|differ from it alone" \
            "$OUTDIR/$t.txt" | head -30
        if [ $r -eq 77 ]; then say "backend: $t skipped"; elif [ $r -ne 0 ]; then say "backend: $t FAILED ($r)"; rc=1; fi
    done
    return $rc
}

stage_encoder() {
    use_prebuilt || { say "encoder: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin
    bin="$(find_bin encoder_bench)" || { say "encoder: encoder_bench not built"; return 1; }
    say "encoder: $bin ${ENCODER_BENCH_ARGS:---fast-gelu}"
    # the SM clock, power draw and throttle reasons every 100 ms, matched to the rows afterwards
    # (the throughput rows run at the board's power cap, below the top clock)
    local smi=""
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active \
            --format=csv,noheader,nounits -lms 100 >"$OUTDIR/encoder_clocks.csv" 2>/dev/null &
        smi=$!
    fi
    # shellcheck disable=SC2086
    "$bin" --json "$OUTDIR/encoder_bench.json" ${ENCODER_BENCH_ARGS:---fast-gelu} >"$OUTDIR/encoder_bench.txt" 2>&1
    local rc=$?
    [ -n "$smi" ] && kill "$smi" 2>/dev/null
    [ $rc -eq 0 ] || { say "encoder: FAILED"; tail -20 "$OUTDIR/encoder_bench.txt"; return 1; }
    cat "$OUTDIR/encoder_bench.txt" >>"$LOG"
    [ -n "$smi" ] || return 0
    python3 - "$OUTDIR/encoder_bench.json" "$OUTDIR/encoder_clocks.csv" <<'EOF' | tee "$OUTDIR/encoder_clocks.txt"
import json, statistics, sys
from datetime import datetime
rows = json.load(open(sys.argv[1]))["rows"]
samples = []
for line in open(sys.argv[2]):
    f = [x.strip() for x in line.split(",")]
    try:
        t = datetime.strptime(f[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
        samples.append((t, float(f[1]), float(f[2]), f[4]))
    except (ValueError, IndexError):
        pass
print("SM clock during each row's timed passes (nvidia-smi every 100 ms; host clock, local time)")
print(f"{'model':<11} {'row':<12} {'path':<9} {'n':>4} {'MHz med':>8} {'MHz min':>8} {'W max':>6}  power-capped")
for r in rows:
    s = [x for x in samples if r.get("t0", 0) <= x[0] <= r.get("t1", 0)]
    if not s:
        continue
    label = f"mixed({r['B']})" if r["mixed"] else f"{r['B']}x{r['N']}"
    capped = sum(1 for x in s if int(x[3], 16) & 0x4)
    print(f"{r['model']:<11} {label:<12} {r['path'] + ('+tg' if r['fast_gelu'] else ''):<9} {len(s):>4} "
          f"{statistics.median(x[1] for x in s):>8.0f} {min(x[1] for x in s):>8.0f} {max(x[2] for x in s):>6.0f}  {capped}/{len(s)}")
EOF
    return 0 # the clock table is a note beside the numbers, not a check
}

# Settings compared in turns: AB_SETTINGS="label:[bin=NAME ]FLAGS;label2:..." where FLAGS are
# encoder_bench's own (--no-fold, --gemm cublaslt, --no-wgmma, --no-graphs, --fold-min N ...;
# empty: the defaults) and bin=NAME runs another packed binary (encoder_bench_base: an earlier
# tree, see pack); AB_ROUNDS rounds (default 3) of AB_ROWS, each setting once per round, so that
# every setting sees the card's warm and capped states alike.
stage_ab() {
    use_prebuilt || { say "ab: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin rows="${AB_ROWS:-bert-base:64x512,bert-base:1x512,minilm:1024x32}" rounds="${AB_ROUNDS:-3}" round set
    local -a sets
    IFS=';' read -ra sets <<<"${AB_SETTINGS:-default:}"
    for set in "${sets[@]}"; do
        case "$set" in *:*) ;; *) say "ab: setting '$set' has no 'label:' (AB_SETTINGS=\"label:[bin=NAME ]FLAGS;...\")"; return 1 ;; esac
        local rest="${set#*:}" name=encoder_bench
        case "$rest" in bin=*) name="${rest%% *}" name="${name#bin=}" ;; esac
        find_bin "$name" >/dev/null || { say "ab: $name not built (BASE_COMMIT=... at pack time for encoder_bench_base)"; return 1; }
    done
    say "ab: $rounds rounds of ${#sets[@]} settings on $rows"
    local smi=""
    if command -v nvidia-smi >/dev/null; then # a card that throttles for other reasons shows here
        nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active \
            --format=csv,noheader,nounits -lms 200 >"$OUTDIR/ab_clocks.csv" 2>/dev/null &
        smi=$!
    fi
    for round in $(seq 1 "$rounds"); do
        for set in "${sets[@]}"; do
            local label="${set%%:*}" rest="${set#*:}" name=encoder_bench
            case "$rest" in bin=*) name="${rest%% *}" name="${name#bin=}" rest="${rest#bin=$name}" ;; esac
            bin="$(find_bin "$name")"
            local -a flags=()
            [ -n "${rest// /}" ] && read -ra flags <<<"$rest"
            "$bin" --rows "$rows" --no-standard --no-gemm --reps "${AB_REPS:-40}" "${flags[@]}" \
                --json "$OUTDIR/ab-$label-$round.json" >"$OUTDIR/ab-$label-$round.txt" 2>&1 ||
                { say "ab: $label round $round FAILED"; tail -20 "$OUTDIR/ab-$label-$round.txt"; [ -n "$smi" ] && kill "$smi"; return 1; }
        done
    done
    [ -n "$smi" ] && { kill "$smi" 2>/dev/null; wait "$smi" 2>/dev/null; }
    python3 - "$OUTDIR" "${AB_SETTINGS:-default:}" <<'EOF' | tee "$OUTDIR/ab.txt"
import glob, json, os, statistics, sys
out, sets = sys.argv[1], [s.split(":", 1) for s in sys.argv[2].split(";") if s]
print("encoder_bench ms per row (median of each run's timed passes), one column per round, settings in turns")
base = {}
for label, assigns in sets:
    runs = sorted(glob.glob(os.path.join(out, f"ab-{label}-[0-9]*.json")), key=lambda f: int(f.rsplit("-", 1)[1][:-5]))
    per = {}
    for f in runs:
        for r in json.load(open(f))["rows"]:
            key = f"{r['model']} " + (f"mixed({r['B']})" if r["mixed"] else f"{r['B']}x{r['N']}") + \
                  ("+tg" if r.get("fast_gelu") else "")
            per.setdefault(key, []).append(r["ms"])
    for key, v in per.items():
        med = statistics.median(v)
        base.setdefault(key, med)
        print(f"{label:<14} {key:<24} " + " ".join(f"{x:8.3f}" for x in v) +
              f"  median {med:8.3f}  vs first {med / base[key]:6.3f}   {assigns}")
try:
    smp = [l.split(",") for l in open(os.path.join(out, "ab_clocks.csv"))]
    mhz = sorted(float(x[1]) for x in smp if len(x) > 4 and x[1].strip().replace(".", "", 1).isdigit())
    reasons = {}
    for x in smp:
        if len(x) > 4:
            reasons[x[4].strip()] = reasons.get(x[4].strip(), 0) + 1
    print(f"SM clock over the stage: median {statistics.median(mhz):.0f} MHz, min {mhz[0]:.0f}; throttle reasons "
          f"(nvidia-smi bit masks, samples): {dict(sorted(reasons.items()))}")
except (OSError, ValueError, IndexError):
    pass
EOF
}

# Each op's share of the forward under a real, sustained workload (--profile: eager, an event
# after every op; see cuda_profile.cu), on OPTIMES_ROWS.
stage_optimes() {
    use_prebuilt || { say "optimes: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin rows="${OPTIMES_ROWS:-bert-base:64x512,bert-base:1x512,bert-base:1x4096,minilm:1024x32}"
    bin="$(find_bin encoder_bench)" || { say "optimes: encoder_bench not built"; return 1; }
    say "optimes: $bin --rows $rows --profile"
    # each row's op table is printed just before the row's line
    # shellcheck disable=SC2086
    "$bin" --rows "$rows" --no-standard --no-gemm --reps "${OPTIMES_REPS:-40}" --profile ${OPTIMES_ARGS:-} \
        >"$OUTDIR/optimes.txt" 2>&1 || { say "optimes: FAILED"; tail -20 "$OUTDIR/optimes.txt"; return 1; }
    grep -vE '^\s*$' "$OUTDIR/optimes.txt" | tee -a "$LOG"
}

stage_gemm() {
    use_prebuilt || { say "gemm: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin ncu
    bin="$(find_bin gemm_bench)" || { say "gemm: gemm_bench not built (GEMM_BENCH=1 at pack time)"; return 1; }
    say "gemm: $bin ${GEMM_BENCH_ARGS:---quick}"
    # shellcheck disable=SC2086
    "$bin" ${GEMM_BENCH_ARGS:---quick} >"$OUTDIR/gemm_bench.txt" 2>&1 ||
        { say "gemm: FAILED"; tail -20 "$OUTDIR/gemm_bench.txt"; return 1; }
    grep -E "best CUTLASS|gelu +32768|gelu +512" "$OUTDIR/gemm_bench.txt" | head -60
    [ "${GEMM_NCU:-0}" = 1 ] || return 0
    ncu="$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)"
    if [ -n "$ncu" ]; then
        say "gemm: $ncu on gemm_bench --profile"
        "$ncu" --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
            --section SchedulerStats "$bin" --profile >"$OUTDIR/gemm_ncu.txt" 2>&1 || say "gemm: ncu failed (see gemm_ncu.txt)"
    else
        say "gemm: no ncu here"
    fi
}

RANDOM_MINILM="${TMPDIR:-/tmp}/sutra-minilm-random"
make_random_minilm() { # a MiniLM-shaped model with random weights and the real tokenizer, made once
    [ -s "$RANDOM_MINILM/model.safetensors" ] ||
        SUTRA_MODELS_DIR="$CARRY/models" python3 "$ROOT/bench/make_random_bert.py" "$RANDOM_MINILM" --layers 6 \
            --hidden 384 --heads 12 --ffn 1536 --positions 512 >>"$LOG" 2>&1
}

# The Python package on the GPU: the CUDA libsutra.so (from the pack, else the build here) beside
# python/sutra, then bench/python_peer.py (100,000 texts, Sutra beside sentence-transformers).
stage_python() {
    use_prebuilt || { say "python: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local lib="$PREBUILT/lib/libsutra.so"
    [ -f "$lib" ] || lib="$FULL_BUILD/libsutra.so"
    [ -f "$lib" ] || { say "python: no libsutra.so with CUDA (run the pack stage, or build here)"; return 1; }
    cp -L "$lib" "$ROOT/python/sutra/libsutra.so" || return 1
    local sts="${PY_PEER_STS:-$CARRY/sts-test.csv}"
    [ -f "$sts" ] || sts="$ROOT/../shared/data/sts-test.csv"
    say "python: bench/python_peer.py ($sts)"
    PYTHONPATH="$ROOT/python" OUT="$OUTDIR" python3 "$ROOT/bench/python_peer.py" \
        --tokenizer "${SUTRA_MODELS_DIR:-$HOME/.cache/sutra/models}/all-MiniLM-L6-v2" --sts "$sts" \
        --n "${PY_PEER_N:-100000}" --reps "${PY_PEER_REPS:-3}" >"$OUTDIR/python_peer.txt" 2>"$OUTDIR/python_peer.err" ||
        { say "python: python_peer FAILED"; tail -20 "$OUTDIR/python_peer.err"; return 1; }
    cat "$OUTDIR/python_peer.txt"
}

stage_cli() {
    use_prebuilt || { say "cli: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin model="$RANDOM_MINILM" rc=0 mode
    bin="$(find_bin sutra)" || { say "cli: sutra not built"; return 1; }
    make_random_minilm || { say "cli: cannot make the random model"; return 1; }
    "$bin" info --model "$model" --device cuda >"$OUTDIR/cli_info.json" 2>&1 || { say "cli: info FAILED"; cat "$OUTDIR/cli_info.json"; return 1; }
    grep -E '"device"|"gpu"|"attention_kernels"' "$OUTDIR/cli_info.json"
    python3 -c '
import random
random.seed(5)
w = "the of and to in a is that for it with as was on be by at this are from or an which one".split()
for n in (1, 3, 8, 20, 60, 120, 250, 400, 500):
    print(" ".join(random.choice(w) for _ in range(n)))
print("Ein Mann spielt Gitarre. naive cafe")' >"$OUTDIR/cli_texts.txt"
    for mode in "--device cpu" "--device cuda" "--device cuda --attention standard" "--device cuda --attention flash"; do
        # shellcheck disable=SC2086
        "$bin" embed --model "$model" --max-length 512 $mode --verbose <"$OUTDIR/cli_texts.txt" \
            >"$OUTDIR/cli$(echo "$mode" | tr -c 'a-z\n' _).jsonl" 2>>"$OUTDIR/cli_stderr.txt" || { say "cli: embed $mode FAILED"; rc=1; }
    done
    tail -4 "$OUTDIR/cli_stderr.txt"
    python3 -c '
import glob, json, math, sys
d = sys.argv[1]
load = lambda p: [json.loads(l) for l in open(p)]
ref = load(d + "/cli__device_cpu.jsonl")
worst_all = 1.0
for p in sorted(glob.glob(d + "/cli__device_cuda*.jsonl")):
    got = load(p)
    assert len(got) == len(ref), (p, len(got), len(ref))
    worst = min(sum(a * b for a, b in zip(x, y)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in y))
                for x, y in zip(ref, got))
    worst_all = min(worst_all, worst)
    print("cli: %s: worst cosine vs --device cpu over %d texts: %.7f" % (p.split("/")[-1], len(ref), worst))
print("cli: PASS" if worst_all >= 0.9999 else "cli: FAIL (cosine < 0.9999)")
sys.exit(0 if worst_all >= 0.9999 else 1)' "$OUTDIR" || rc=1
    return $rc
}

stage_serve() {
    use_prebuilt || { say "serve: cannot unpack $CARRY/prebuilt.tar.xz"; return 1; }
    local bin wrk port pid rc=0
    bin="$(find_bin sutra)" || { say "serve: sutra not built"; return 1; }
    make_random_minilm || { say "serve: cannot make the random model"; return 1; }
    "$bin" serve --model "$RANDOM_MINILM" --device cuda --port 0 --quiet 2>"$OUTDIR/serve_check.log" &
    pid=$!
    for _ in $(seq 100); do
        port="$(sed -n 's/.*listening on http:[^:]*:\([0-9]*\).*/\1/p' "$OUTDIR/serve_check.log" | head -1)"
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { say "serve: the server did not start"; cat "$OUTDIR/serve_check.log"; kill $pid; return 1; }
    python3 - "$bin" "$RANDOM_MINILM" "$port" <<'PY' || rc=1
import json, math, subprocess, sys, urllib.request
bin, model, port = sys.argv[1:]
texts = ["A man is playing a guitar.", "The stock market fell sharply today.", "Ein Mann spielt Gitarre.",
         " ".join("word%d" % i for i in range(100))]
req = urllib.request.Request("http://127.0.0.1:%s/v1/embeddings" % port, headers={"Content-Type": "application/json"},
                             data=json.dumps({"input": texts[:3] + [texts[3][:1500]], "encoding_format": "float"}).encode())
got = [d["embedding"] for d in json.load(urllib.request.urlopen(req))["data"]]
cpu = [json.loads(l) for l in subprocess.run([bin, "embed", "--model", model, "--device", "cpu"] + texts[:3] + [texts[3][:1500]],
                                             capture_output=True, text=True, check=True).stdout.splitlines()]
cos = [sum(a * b for a, b in zip(x, y)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in y)) for x, y in zip(got, cpu)]
print("serve: --device cuda server vs --device cpu CLI, cosine per text: " + " ".join("%.7f" % c for c in cos))
sys.exit(0 if min(cos) >= 0.9999 else 1)
PY
    kill -TERM $pid && wait $pid || { say "serve: the server did not exit cleanly"; rc=1; }
    wrk="$(find_bin wrk)" || wrk="$(command -v wrk)" || { say "serve: no wrk (run the pack stage)"; return 1; }
    say "serve: wrk benchmark (bench/server_bench.sh) on the GPU"
    WRK="$wrk" MODEL="$RANDOM_MINILM" OUT="$OUTDIR/server" DURATION="${SERVER_BENCH_SECONDS:-8}" WARMUP=2 \
        SERVER_ARGS="${SERVER_BENCH_ARGS:-}" bash "$ROOT/bench/server_bench.sh" "$bin" cuda >>"$LOG" 2>&1 || rc=1
    cat "$OUTDIR/server/results.md" 2>/dev/null | tail -12
    return $rc
}

stage_encpeer() {
    say "encpeer: HF transformers sdpa eager + torch.compile(reduce-overhead) ${ENCPEER_ARGS:-}"
    # shellcheck disable=SC2086
    PYTHONUNBUFFERED=1 python3 "$ROOT/bench/torch_encoder_peer.py" --json "$OUTDIR/torch_encoder_peer.json" \
        ${ENCPEER_ARGS:-} >"$OUTDIR/torch_encoder_peer.txt" 2>&1 ||
        { say "encpeer: FAILED"; tail -20 "$OUTDIR/torch_encoder_peer.txt"; return 1; }
}

stage_encsummary() {
    python3 - "$OUTDIR/encoder_bench.json" "$OUTDIR/torch_encoder_peer.json" <<'EOF' | tee "$OUTDIR/encoder_summary.txt"
import json, sys
ours = json.load(open(sys.argv[1]))
try:
    peer = json.load(open(sys.argv[2]))
except OSError:
    peer = {"rows": []}
if peer["rows"] and peer.get("mixed_lengths") != ours.get("mixed_lengths"):
    print("warning: the mixed batches differ between Sutra and the peer")
prow = {(r["model"], r["B"], r["N"], r["mixed"]): r for r in peer["rows"]}
best = {}
for r in ours["rows"]:
    k = (r["model"], r["B"], r["N"], r["mixed"], r["fast_gelu"])
    if k not in best or r["ms"] < best[k]["ms"]:
        best[k] = r
def ms(x):
    return "-" if x is None else f"{x:.3f}" if x < 10 else f"{x:.2f}"
def tps(x):
    return "-" if not x else f"{x / 1e6:.2f}M"
print(f"whole encoder, {ours['device']}, fp16 (qwen3: bf16, both sides), median ms; tok/s counts real tokens; act = peak MiB above weights;")
print("sutra: the faster of its paths (+tg: tanh-GELU epilogue); torch: eager sdpa / torch.compile; speedup vs the better")
print(f"{'model':<11} {'batch':<12} {'sutra ms':>9} {'path':<8} {'tok/s':>7} {'act':>6} | {'torch ms':>9} {'compiled':>9} {'tok/s':>7} {'act':>6} | {'speedup':>7}")
for k, r in best.items():
    model, B, N, mixed, fg = k
    p = prow.get((model, B, N, mixed), {}) if not fg else {}
    label = (f"mixed({B})" if mixed else f"{B}x{N}") + ("+tg" if fg else "")
    cands = [x for x in (p.get("eager_ms"), p.get("compiled_ms")) if x]
    pbest = min(cands) if cands else None
    ptps = r["tokens"] / pbest * 1e3 if pbest else None
    sp = f"{pbest / r['ms']:.2f}x" if pbest else "-"
    pact = p.get("peak_act_MiB")
    pacts = "-" if pact is None else f"{pact:.0f}"
    print(f"{model:<11} {label:<12} {ms(r['ms']):>9} {r['path']:<8} {tps(r['tok_per_s']):>7} {r['act_peak_MiB']:>6.0f} | "
          f"{ms(p.get('eager_ms')):>9} {ms(p.get('compiled_ms')):>9} {tps(ptps):>7} {pacts:>6} | {sp:>7}")
EOF
}

# Runs here, on a machine without a GPU: see the usage at the top.
stage_pack() {
    local build="$ROOT/build-carry" pre="$ROOT/build-carry/prebuilt" src
    local gemm_bench=OFF extra=""
    [ "${GEMM_BENCH:-0}" = 1 ] && gemm_bench=ON extra=gemm_bench
    bash "$ROOT/scripts/fetch-cutlass.sh" >>"$LOG" 2>&1 || say "pack: CUTLASS headers not fetched; packing without the Hopper fused-GELU product"
    say "pack: building the CUDA tests and encoder_bench${extra:+ and gemm_bench} in $build"
    cmake -S "$ROOT" -B "$build" -DSUTRA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=OFF \
        -DSUTRA_GEMM_BENCH=$gemm_bench \
        "-DCMAKE_CUDA_FLAGS=-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80" >>"$LOG" 2>&1 &&
        cmake --build "$build" -j "$JOBS" --target test_flash_attn test_cuda_ops test_cuda_model test_cuda_longctx \
            test_cuda_qwen3 test_cuda_distilbert test_cuda_gemma test_cuda_mpnet test_cuda_nomic test_cuda_rerank test_concurrency attn_bench encoder_bench sutra_cli sutra_shared make_fixture_dir $extra >>"$LOG" 2>&1 ||
        { say "pack: build FAILED (tail of gpu-check.log follows)"; tail -40 "$LOG"; return 1; }
    rm -rf "$pre" && mkdir -p "$pre/bin" "$pre/lib" "$CARRY/models"
    cp "$build/tests/cuda/test_flash_attn" "$build/tests/cuda/test_cuda_ops" "$build/tests/cuda/test_cuda_model" \
        "$build/tests/cuda/test_cuda_longctx" "$build/tests/cuda/test_cuda_qwen3" "$build/tests/cuda/test_cuda_distilbert" \
        "$build/tests/cuda/test_cuda_gemma" "$build/tests/cuda/test_cuda_mpnet" "$build/tests/cuda/test_cuda_nomic" \
        "$build/tests/cuda/test_cuda_rerank" "$build/tests/test_concurrency" "$build/tests/make_fixture_dir" \
        "$build/bench/cuda/attn_bench" "$build/bench/cuda/encoder_bench" "$build/sutra" "$pre/bin/"
    [ -n "$extra" ] && cp "$build/bench/cuda/gemm_bench" "$pre/bin/"
    # libsutra.so with CUDA, for the Python package (python/sutra opens the copy beside it: the
    # python stage puts it there)
    cp -L "$build/libsutra.so" "$pre/lib/libsutra.so" && strip --strip-unneeded "$pre/lib/libsutra.so"
    if [ -n "${BASE_COMMIT:-}" ]; then # encoder_bench of an earlier tree, for ab (built once per commit)
        local wt="$ROOT/build-carry-base-src" bb="$ROOT/build-carry-base" rev
        rev="$(git -C "$ROOT" rev-parse "$BASE_COMMIT")" || { say "pack: no commit $BASE_COMMIT"; return 1; }
        say "pack: encoder_bench at $BASE_COMMIT in $bb"
        [ -x "$bb/bench/cuda/encoder_bench" ] && [ "$(cat "$bb/.commit" 2>/dev/null)" = "$rev" ] &&
            cp "$bb/bench/cuda/encoder_bench" "$pre/bin/encoder_bench_base" ||
        { rm -rf "$wt" && git -C "$ROOT" worktree prune &&
            git -C "$ROOT" worktree add --detach "$wt" "$BASE_COMMIT" >>"$LOG" 2>&1 &&
            cmake -S "$wt" -B "$bb" -DSUTRA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=OFF \
                "-DCMAKE_CUDA_FLAGS=-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80" >>"$LOG" 2>&1 &&
            cmake --build "$bb" -j "$JOBS" --target encoder_bench >>"$LOG" 2>&1 &&
            cp "$bb/bench/cuda/encoder_bench" "$pre/bin/encoder_bench_base" && echo "$rev" >"$bb/.commit" &&
            git -C "$ROOT" worktree remove --force "$wt" >>"$LOG" 2>&1; } ||
            { say "pack: building encoder_bench at $BASE_COMMIT FAILED"; tail -40 "$LOG"; return 1; }
    fi
    [ -x /usr/bin/wrk ] && cp /usr/bin/wrk "$pre/bin/" # for the serve stage (Debian's wrk)
    strip "$pre"/bin/* 2>/dev/null
    # what the binaries load from outside glibc, libstdc++ and the CUDA toolkit (which the GPU image has)
    ldd "$pre"/bin/* | awk '/=> \//{print $3}' | sort -u |
        grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so|libcud|libcublas' |
        while read -r lib; do cp -L "$lib" "$pre/lib/"; done
    # xz -9 (a 64 MiB window, one thread) finds the kernels every binary links in common: 10.6 MB
    # instead of 14.5, which keeps the working tree, the trimmed model and this under the device
    # tool's 64 MiB per call
    tar cf - -C "$pre" bin lib | xz -9 -T1 >"$CARRY/prebuilt.tar.xz" || return 1
    # numpy for the trimming: the project's test environment (scripts/install-pydeps.sh) has it
    local py="${SUTRA_VENV:-$HOME/.cache/sutra/venv}/bin/python"
    [ -x "$py" ] || py=python3
    "$py" -c "import numpy, safetensors" 2>/dev/null ||
        "$py" -m pip install --quiet --disable-pip-version-check "safetensors==0.6.2" "numpy==2.3.5" >>"$LOG" 2>&1 ||
        { say "pack: cannot install numpy and safetensors for $py"; return 1; }
    src="${SUTRA_MODELS_DIR:-$HOME/.cache/sutra/models}/all-MiniLM-L6-v2"
    [ "$src" = "$CARRY/models/all-MiniLM-L6-v2" ] && src="$HOME/.cache/sutra/models/all-MiniLM-L6-v2"
    "$pre/bin/test_cuda_model" --print-ids "$src" >"$build/ids.txt" &&
        "$py" "$ROOT/tests/cuda/make_carry_model.py" "$src" "$CARRY/models/all-MiniLM-L6-v2" "$build/ids.txt" ||
        { say "pack: trimming the model FAILED"; return 1; }
    local exclude # in a linked worktree .git is a file; git knows where the shared exclude file is
    exclude="$(git -C "$ROOT" rev-parse --path-format=absolute --git-path info/exclude 2>/dev/null || echo "$ROOT/.git/info/exclude")"
    grep -q '^/.carry/' "$exclude" 2>/dev/null || { mkdir -p "$(dirname "$exclude")"; echo '/.carry/' >>"$exclude"; }
    say "pack: $(du -sh "$CARRY" | cut -f1) in $CARRY (prebuilt.tar.xz $(du -h "$CARRY/prebuilt.tar.xz" | cut -f1))"
}

STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(build test bench peer summary backend encoder encsummary)
: >"$LOG"
status=0
for s in "${STAGES[@]}"; do
    case "$s" in
    build | test | bench | peer | summary | decoder | backend | encoder | encpeer | encsummary | cli | python | serve | gemm | ab | optimes | pack) ;;
    *) echo "unknown stage '$s' (build test bench peer summary decoder backend encoder encpeer encsummary cli python serve gemm ab optimes pack)"; exit 2 ;;
    esac
    if ! "stage_$s"; then
        status=1
        [ "${KEEP_GOING:-0}" = 1 ] || exit 1
    fi
done
exit $status
