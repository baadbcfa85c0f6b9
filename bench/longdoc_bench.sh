#!/bin/sh
# longdoc_bench.sh - long documents and the CLI's file mode, measured end to end:
#   1. GPL-3 (/usr/share/common-licenses/GPL-3) as one document: truncated, sliding windows
#      (mean / weighted / max) and late chunks; time and tokens per second;
#   2. a generated corpus of 10,000 / 30,000 / 100,000 jsonl lines: throughput and peak memory
#      (memory must stay flat as the input grows), .npy and .jsonl outputs, truncated and windowed;
#   3. the resume path: the 100,000-line run stopped by SIGINT and by SIGKILL, then --resume,
#      checked against the uninterrupted run (same ids in the same order, same vectors).
# usage: bench/longdoc_bench.sh [BUILD_DIR (default build)] [WORK_DIR (default /tmp/sutra-longdoc)]
# Needs python3 with numpy for the comparisons; the model is the default (all-MiniLM-L6-v2).
set -eu
B=${1:-build}
W=${2:-/tmp/sutra-longdoc}
S="$B/sutra"
T=${THREADS:-2}
mkdir -p "$W"

# Peak RSS, wall and CPU seconds of a command, then the CLI's summary line (documents, tokens/s).
measure() {
    label=$1
    shift
    /usr/bin/time -f "%M %e %U %S" -o "$W/time.txt" "$@" 2> "$W/err.txt" || true
    read -r kb secs user sys < "$W/time.txt"
    printf '%-36s peak %4d MB  wall %7.2f s  cpu %7.2f s | %s\n' "$label" $((kb / 1024)) "$secs" \
        "$(echo "$user + $sys" | bc)" "$(grep '^sutra: [0-9]' "$W/err.txt" | tail -1 | sed 's/^sutra: //')"
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $T"

echo "== 1. GPL-3 as one document"
python3 - "$W" <<'EOF'
import json, sys
t = open('/usr/share/common-licenses/GPL-3', encoding='utf-8').read()
open(sys.argv[1] + '/gpl.jsonl', 'w').write(json.dumps({'id': 'gpl-3', 'text': t}) + '\n')
EOF
measure "truncated (256 tokens)" "$S" embed -t "$T" -v --input "$W/gpl.jsonl" --output "$W/gpl-trunc.jsonl" --on-error fail
for agg in mean weighted max; do
    measure "windows 256/64 $agg" "$S" embed -t "$T" -v --input "$W/gpl.jsonl" --output "$W/gpl-win-$agg.jsonl" --window 256 --aggregate $agg
done
measure "windows 128/32 mean" "$S" embed -t "$T" -v --input "$W/gpl.jsonl" --output "$W/gpl-win128.jsonl" --window 128 --overlap 32
measure "late chunks of 128 (windows 256/64)" "$S" embed -t "$T" -v --input "$W/gpl.jsonl" --output "$W/gpl-chunks.jsonl" --chunk 128
printf 'What if I distribute the program in object code form without its source?\n' > "$W/q.txt"
"$S" embed -t "$T" --input "$W/q.txt" --output "$W/q.jsonl" 2> /dev/null
python3 - "$W" <<'EOF'
import json, sys, numpy as np
w = sys.argv[1]
def rows(p): return [json.loads(l) for l in open(p)]
text = json.loads(open(w + '/gpl.jsonl').read())['text'].encode()
trunc = np.array(rows(w + '/gpl-trunc.jsonl')[0]['embedding'])
for name in ('win-mean', 'win-weighted', 'win-max', 'win128'):
    v = np.array(rows(w + '/gpl-' + name + '.jsonl')[0]['embedding'])
    print(f'  cosine(truncated, {name}) = {trunc @ v:.4f}')
ch = rows(w + '/gpl-chunks.jsonl')
q = np.array(rows(w + '/q.jsonl')[0]['embedding'])
sims = np.array([q @ np.array(c['embedding']) for c in ch])
best = int(sims.argmax())
snippet = text[ch[best]['start']:ch[best]['end']].decode()[:160].replace('\n', ' ')
print(f'  {len(ch)} late chunks; query "What if I distribute the program in object code form without its source?"')
print(f'  best chunk {best} (cosine {sims[best]:.3f}): "{" ".join(snippet.split())}..."')
EOF

echo "== 2. generated corpus"
python3 - "$W" <<'EOF'
import json, random, re, sys
w = sys.argv[1]
words = re.findall(r"[A-Za-z]+", open('/usr/share/common-licenses/GPL-3').read())
rng = random.Random(2026)
with open(w + '/corpus-100000.jsonl', 'w') as f:
    for i in range(100000):
        r = rng.random()
        # mostly sentences, some paragraphs, and one line in a thousand a long document
        n = rng.randint(4, 20) if r < 0.9 else rng.randint(20, 120) if r < 0.999 else rng.randint(1000, 3000)
        text = ' '.join(rng.choice(words) for _ in range(n)).capitalize() + '.'
        f.write(json.dumps({'id': f'doc-{i:06d}', 'text': text}) + '\n')
EOF
head -n 10000 "$W/corpus-100000.jsonl" > "$W/corpus-10000.jsonl"
head -n 30000 "$W/corpus-100000.jsonl" > "$W/corpus-30000.jsonl"
ls -l "$W"/corpus-*.jsonl | awk '{printf "  %s: %d bytes\n", $9, $5}'
for n in 10000 30000 100000; do
    measure "$n lines -> .npy" "$S" embed -t "$T" -v --input "$W/corpus-$n.jsonl" --output "$W/c$n.npy"
done
measure "10000 lines windows 256/64 -> .jsonl" "$S" embed -t "$T" -v --input "$W/corpus-10000.jsonl" --output "$W/w10000.jsonl" --window 256
measure "100000 lines windows 256/64 -> .jsonl" "$S" embed -t "$T" -v --input "$W/corpus-100000.jsonl" --output "$W/w100000.jsonl" --window 256

echo "== 3. interruption and --resume (100000 lines -> .npy)"
for sig in INT KILL; do
    rm -f "$W/r.npy" "$W/r.npy.ids"
    "$S" embed -t "$T" --input "$W/corpus-100000.jsonl" --output "$W/r.npy" 2> "$W/r-err.txt" &
    pid=$!
    sleep "${STOP_AFTER:-40}"
    kill -s "$sig" $pid
    rc=0
    wait $pid || rc=$?
    python3 - "$W" "$sig" "$rc" <<'EOF'
import os, sys, numpy as np
w, sig, rc = sys.argv[1], sys.argv[2], sys.argv[3]
size = os.path.getsize(w + '/r.npy')
ids = sum(1 for _ in open(w + '/r.npy.ids', 'rb'))
hdr = open(w + '/r.npy', 'rb').read(128).decode('latin1')
rows = int(hdr.split("'shape': (")[1].split(',')[0])
whole = (size - 128) / (384 * 4)
print(f'  SIG{sig}: exit {rc}; header says {rows} rows, the file holds {whole:g}, {ids} id lines')
EOF
    measure "  --resume after SIG$sig" "$S" embed -t "$T" -v --resume --input "$W/corpus-100000.jsonl" --output "$W/r.npy"
    python3 - "$W" <<'EOF'
import json, sys, numpy as np
w = sys.argv[1]
a, b = np.load(w + '/r.npy'), np.load(w + '/c100000.npy')
ia = [json.loads(l)['id'] for l in open(w + '/r.npy.ids')]
ib = [json.loads(l)['id'] for l in open(w + '/c100000.npy.ids')]
print(f'  resumed: {a.shape[0]} rows, ids identical to the uninterrupted run: {ia == ib}, '
      f'max |diff| {np.abs(a - b).max():.2e}')
EOF
done
