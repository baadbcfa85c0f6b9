#!/usr/bin/env bash
# Runs every libFuzzer harness in build dir $1 for a short, bounded time over its seed corpus.
# A crash, leak or sanitizer report fails the run. Longer campaigns: FUZZ_SECONDS=600.
set -euo pipefail
build="${1:-build-fuzz}"
secs="${FUZZ_SECONDS:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds="$root/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=0 "$work" > "$work.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -40 "$work.log"; status=1
  fi
  rm -rf "$work" "$work.log"
done
exit $status
