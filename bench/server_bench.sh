#!/usr/bin/env bash
# server_bench.sh - `sutra serve` under wrk: requests/s and p50/p99 latency of POST /v1/embeddings
# at several concurrencies, for a short input (one ~10-word sentence) and a long one (~400 tokens;
# the server runs with --auto-truncate, so a model with a 256-token limit runs 256 of them: the
# table's tokens/input column says what was run, from the reply's usage.prompt_tokens).
#
# usage: bench/server_bench.sh [SUTRA_BINARY (default build/sutra)] [DEVICE (cpu|cuda|auto, default cpu)]
# environment:
#   DURATION=10          seconds per measured run
#   WARMUP=3             seconds of unmeasured load before each input's runs (0: none)
#   CONCURRENCY="1 16 64"
#   INPUTS="short long"
#   PER_REQUEST=1        texts per request (inputs/s = req/s * PER_REQUEST)
#   ENCODING=base64      encoding_format of the requests (the openai client's default), or float
#   WRK=wrk              the wrk binary; on a machine without Debian's wrk, carry /usr/bin/wrk and
#                        libluajit-5.1.so.2 into one folder and point WRK at the binary there (that
#                        folder is put on LD_LIBRARY_PATH)
#   WRK_THREADS          wrk threads (default: the smaller of the concurrency and 4)
#   MODEL                --model for the server (default: its default, all-MiniLM-L6-v2)
#   SERVER_ARGS          more `sutra serve` options, e.g. "--threads 8 --max-batch-tokens 16384"
#   OUT                  output folder (default bench/out/server)
# writes: results.md (table and set-up), results.tsv, wrk_<input>_c<N>.txt (raw wrk output),
#         server.log, body_<input>.json
set -euo pipefail

BIN=${1:-build/sutra}
DEVICE=${2:-cpu}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
INPUTS=${INPUTS:-"short long"}
PER_REQUEST=${PER_REQUEST:-1}
ENCODING=${ENCODING:-base64}
WRK=${WRK:-wrk}
HERE=$(cd "$(dirname "$0")" && pwd)
LUA="$HERE/server_bench.lua"
OUTDIR=${OUT:-$HERE/out/server}
mkdir -p "$OUTDIR"

if ! command -v "$WRK" > /dev/null 2>&1; then
    echo "server_bench: wrk not found ('$WRK'). Install it (apt-get install wrk) or set WRK to a carried" >&2
    echo "  binary: cp /usr/bin/wrk /lib/x86_64-linux-gnu/libluajit-5.1.so.2 DIR/ and WRK=DIR/wrk" >&2
    exit 2
fi
WRK=$(command -v "$WRK")
export LD_LIBRARY_PATH="$(dirname "$WRK")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! "$BIN" serve --help > /dev/null 2>&1; then
    echo "server_bench: '$BIN serve --help' failed: no server in this binary?" >&2
    exit 2
fi

# --- HTTP from the shell: curl, else Python's urllib (GPU images may lack curl)
http_post() { # FILE URL -> the body, a newline, the status code
    if command -v curl > /dev/null 2>&1; then
        curl -sS --max-time 120 -H 'Content-Type: application/json' --data-binary "@$1" -w '\n%{http_code}' "$2"
    else
        python3 -c 'import sys, urllib.request, urllib.error
r = urllib.request.Request(sys.argv[2], data=open(sys.argv[1], "rb").read(), headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(r, timeout=120) as f: print(f.read().decode() + "\n" + str(f.status), end="")
except urllib.error.HTTPError as e: print(e.read().decode() + "\n" + str(e.code), end="")' "$1" "$2"
    fi
}
http_get() { # URL -> the body
    if command -v curl > /dev/null 2>&1; then curl -sS --max-time 10 "$1"
    else python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; fi
}

# --- request bodies
json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
SHORT="A man is playing an old guitar on the street tonight."
WORDS=(time person year way day thing world life hand part child eye woman place work week case point
       government company number group problem fact river mountain music guitar market science history
       language city country family school water light story night house)
LONG=""
for i in $(seq 0 389); do LONG+="${WORDS[$(( (i * 7 + i / 13) % ${#WORDS[@]} ))]} "; done
LONG+="end."
body() {  # body TEXT -> JSON with PER_REQUEST copies (each made unique by a number)
    local t out="" k
    t=$(json_str "$1")
    for k in $(seq 1 "$PER_REQUEST"); do out+="${out:+, }\"$k $t\""; done
    printf '{"model": "bench", "encoding_format": "%s", "input": [%s]}' "$ENCODING" "$out"
}
body "$SHORT" > "$OUTDIR/body_short.json"
body "$LONG" > "$OUTDIR/body_long.json"

# --- the server
MODEL_ARGS=()
[ -n "${MODEL:-}" ] && MODEL_ARGS=(--model "$MODEL")
# shellcheck disable=SC2086
"$BIN" serve --host 127.0.0.1 --port 0 --device "$DEVICE" --quiet --auto-truncate "${MODEL_ARGS[@]}" \
    ${SERVER_ARGS:-} 2> "$OUTDIR/server.log" &
SERVER_PID=$!
cleanup() {
    if kill -0 "$SERVER_PID" 2> /dev/null; then kill -KILL "$SERVER_PID" 2> /dev/null || true; fi
}
trap cleanup EXIT
PORT=""
for _ in $(seq 1 1200); do
    PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$OUTDIR/server.log" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || { echo "server_bench: the server exited:" >&2; cat "$OUTDIR/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server_bench: no 'listening on' line in 120 s" >&2; cat "$OUTDIR/server.log" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/v1/embeddings"
BANNER=$(grep -m1 'listening on' "$OUTDIR/server.log")
echo "server_bench: $BANNER"

# tokens per input, from a probe request's usage.prompt_tokens
declare -A TOK
for in in $INPUTS; do
    reply=$(http_post "$OUTDIR/body_$in.json" "$URL")
    code=${reply##*$'\n'}
    if [ "$code" != 200 ]; then echo "server_bench: probe for '$in' got HTTP $code: ${reply:0:300}" >&2; exit 1; fi
    pt=$(printf '%s' "$reply" | sed -n 's/.*"prompt_tokens"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' | head -1)
    TOK[$in]=$(( ${pt:-0} / PER_REQUEST ))
done

NPROC=$(nproc)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -1 || true)
{
    echo "# sutra serve under wrk"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $NPROC cores, $CPU${GPU:+; GPU: $GPU}"
    echo "- server: \`$BIN serve --device $DEVICE --quiet --auto-truncate ${MODEL_ARGS[*]} ${SERVER_ARGS:-}\`"
    echo "- $BANNER"
    echo "- wrk: $("$WRK" -v 2>&1 | head -1); $DURATION s per run after ${WARMUP} s warm-up; POST /v1/embeddings,"
    echo "  $PER_REQUEST text(s) per request, encoding_format $ENCODING; wrk runs on the same machine;"
    echo "  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}; requests still running when a run ends are waited for"
    echo "  (not counted) before the next run"
    echo
    echo "| device | concurrency | input | tokens/input | req/s | p50 ms | p99 ms | inputs/s | non-2xx | socket errors |"
    echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$OUTDIR/results.md"
printf 'device\tconcurrency\tinput\ttokens_per_input\treq_s\tp50_ms\tp99_ms\tinputs_s\tnon2xx\terrors\n' > "$OUTDIR/results.tsv"
printf '%-7s %5s %-6s %7s %10s %10s %10s %11s %7s %7s\n' device conc input tok/in req/s p50_ms p99_ms inputs/s non2xx errors

# Waits until the server has nothing queued or running (what a cut-off wrk run left behind must
# not be counted in the next run).
wait_idle() {
    local i m infl queued
    for i in $(seq 1 3000); do
        m=$(http_get "http://127.0.0.1:$PORT/metrics" 2> /dev/null || true)
        infl=$(printf '%s\n' "$m" | awk '$1 == "sutra_inflight_requests" { print int($2) }')
        queued=$(printf '%s\n' "$m" | awk '$1 == "sutra_queue_inputs" { print int($2) }')
        if [ "${infl:-9}" -le 1 ] && [ "${queued:-9}" = 0 ]; then return 0; fi
        sleep 0.1
    done
    echo "server_bench: the server did not become idle" >&2
    return 1
}

status=0
for in in $INPUTS; do
    export SUTRA_BENCH_BODY="$OUTDIR/body_$in.json"
    if [ "$WARMUP" != 0 ]; then
        "$WRK" -t 2 -c 16 -d "${WARMUP}s" --timeout 60s -s "$LUA" "$URL" > /dev/null 2>&1 || true
    fi
    wait_idle
    for c in $CONCURRENCY; do
        t=${WRK_THREADS:-$(( c < 4 ? c : 4 ))}
        raw="$OUTDIR/wrk_${in}_c${c}.txt"
        "$WRK" -t "$t" -c "$c" -d "${DURATION}s" --latency --timeout 60s -s "$LUA" "$URL" > "$raw" 2>&1 || true
        line=$(grep '^SUTRA_RESULT' "$raw" || true)
        if [ -z "$line" ]; then echo "server_bench: wrk failed, see $raw" >&2; cat "$raw" >&2; status=1; continue; fi
        get() { printf '%s' "$line" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
        rps=$(get rps); p50=$(get p50_ms); p99=$(get p99_ms); non2xx=$(get non2xx); errs=$(get errors)
        ips=$(awk -v r="$rps" -v n="$PER_REQUEST" 'BEGIN { printf "%.1f", r * n }')
        printf '%-7s %5s %-6s %7s %10s %10s %10s %11s %7s %7s\n' "$DEVICE" "$c" "$in" "${TOK[$in]}" "$rps" "$p50" "$p99" "$ips" "$non2xx" "$errs"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$DEVICE" "$c" "$in" "${TOK[$in]}" "$rps" "$p50" "$p99" "$ips" "$non2xx" "$errs" >> "$OUTDIR/results.md"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DEVICE" "$c" "$in" "${TOK[$in]}" "$rps" "$p50" "$p99" "$ips" "$non2xx" "$errs" >> "$OUTDIR/results.tsv"
        if [ "$non2xx" != 0 ] || [ "$errs" != 0 ]; then status=1; fi
        wait_idle
    done
done

# a clean stop: SIGTERM, exit status 0
kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
trap - EXIT
if [ "$rc" != 0 ]; then echo "server_bench: the server exited with status $rc after SIGTERM" >&2; status=1; fi
echo "server_bench: results in $OUTDIR (results.md, results.tsv, wrk_*.txt, server.log)"
[ "$status" = 0 ] || echo "server_bench: some runs had errors or non-2xx replies (see the table)" >&2
exit "$status"
