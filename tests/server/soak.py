#!/usr/bin/env python3
"""A long load of `sutra serve`: 64 clients for --duration seconds (default 600), most sending small
requests and a few sending large ones, every reply checked; for docs/BENCHMARKS.md, not CTest.

  python3 tests/server/soak.py --sutra build/sutra [--duration 600] [--clients 64] [--large-clients 4]

Texts come from a pool of --pool unique texts (default 3,000; 1..230 words, under the model's
token limit) whose vectors `sutra embed` computes first; each request draws from it, so a reply
carrying another text's vector fails its comparison (crossed replies). Small requests: 1..4 texts;
large ones: --large-inputs texts (default 256), so one large request is several scheduling rounds
of --max-batch-tokens. Reports: requests and errors (any status but 200, any vector off by more
than --tol), the server's RSS each minute (first and last minute compared), and the latency of
small requests (p50, p99, worst), those that overlapped a large request apart. Writes the record
as JSON to --out when given. Exit 0 when there was no error and RSS stayed flat (within 5%).
"""

import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_util as su  # noqa: E402

su.ensure_modules(["numpy"], os.path.abspath(__file__))
import numpy as np  # noqa: E402

WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "government company number group problem fact river mountain music guitar market science history "
         "language city country family school water light story night house car road tree green blue red small "
         "large old new good bad high low early late young long short open close begin end learn teach read "
         "write play sing run walk talk think know see hear feel make take give find tell ask").split()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    return float(np.percentile(np.array(xs), p)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sutra", default=su.default_sutra())
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--large-clients", type=int, default=4)
    ap.add_argument("--large-inputs", type=int, default=256)
    ap.add_argument("--pool", type=int, default=3000)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--server-arg", action="append", default=[])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    rng = random.Random(20261208)
    texts = [f"soak text {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 230)))
             for i in range(args.pool)]
    t0 = time.monotonic()
    ref = su.ref_embed(os.path.abspath(args.sutra), texts)
    print(f"soak: {len(texts)} pool texts, references in {time.monotonic() - t0:.1f} s", flush=True)

    srv = su.Server(args.sutra, args.server_arg, name="soak")
    srv.start()
    print(f"  {srv.banner}", flush=True)
    lock = threading.Lock()
    errors, small, small_beside, large = [], [], [], []
    large_in_flight = [0]
    counts = {"small": 0, "large": 0}
    stop_at = time.monotonic() + args.duration

    def check(idx, r, label):
        if r.status != 200:
            return f"{label}: HTTP {r.status} {r.text()[:200]}"
        vecs = r.json()
        if len(vecs) != len(idx):
            return f"{label}: {len(vecs)} vectors for {len(idx)} inputs"
        for k, (v, i) in enumerate(zip(vecs, idx)):
            d = su.max_abs_diff(v, ref[i])
            if d > args.tol:
                return f"{label}: input {k} (text {i}) off by {d:.3g}"
        return None

    def client(c):
        crng = random.Random(c)
        is_large = c < args.large_clients
        n_req = 0
        while time.monotonic() < stop_at:
            n = args.large_inputs if is_large else crng.randint(1, 4)
            idx = [crng.randrange(len(texts)) for _ in range(n)]
            label = f"client {c} request {n_req}"
            if is_large:
                with lock:
                    large_in_flight[0] += 1
            overlapped = large_in_flight[0] > 0
            t = time.monotonic()
            try:
                r = su.post_json(srv.port, "/embed", {"inputs": [texts[i] for i in idx]}, timeout=300)
                err = check(idx, r, label)
            except Exception as exc:  # noqa: BLE001 (every failure is recorded)
                err = f"{label}: {exc!r}"
            dt = time.monotonic() - t
            with lock:
                if is_large:
                    large_in_flight[0] -= 1
                    large.append(dt)
                    counts["large"] += 1
                else:
                    (small_beside if overlapped or large_in_flight[0] > 0 else small).append(dt)
                    counts["small"] += 1
                if err:
                    errors.append(err)
            n_req += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(args.clients)]
    for t in threads:
        t.start()
    rss = []
    t_start = time.monotonic()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        rss.append((time.monotonic() - t_start, rss_kib(srv.proc.pid)))
    for t in threads:
        t.join()
    m, _ = su.get_metrics(srv.port)
    srv.stop()
    first = [v for s, v in rss if s <= 60]
    last = [v for s, v in rss if s >= rss[-1][0] - 60]
    r_first, r_last = float(np.mean(first)), float(np.mean(last))
    drift = (r_last - r_first) / r_first
    rec = {
        "date": time.strftime("%Y-%m-%d"), "duration_s": args.duration, "clients": args.clients,
        "large_clients": args.large_clients, "large_inputs": args.large_inputs, "server_args": args.server_arg,
        "requests_small": counts["small"], "requests_large": counts["large"], "errors": len(errors),
        "error_examples": errors[:5], "rss_first_minute_mib": r_first / 1024, "rss_last_minute_mib": r_last / 1024,
        "rss_drift": drift, "rss_trace_kib": rss,
        "small_ms": {"p50": pct(small, 50) * 1e3, "p99": pct(small, 99) * 1e3, "max": max(small, default=0) * 1e3,
                     "n": len(small)},
        "small_beside_large_ms": {"p50": pct(small_beside, 50) * 1e3, "p99": pct(small_beside, 99) * 1e3,
                                  "max": max(small_beside, default=0) * 1e3, "n": len(small_beside)},
        "large_s": {"p50": pct(large, 50), "max": max(large, default=0)},
        "rounds": m.value("sutra_batch_tokens_count"),
        "round_tokens_mean": m.value("sutra_batch_tokens_sum") / max(m.value("sutra_batch_tokens_count"), 1),
        # the server is busy throughout, so the mean round lasts about the run over the rounds
        "round_ms_mean": args.duration * 1e3 / max(m.value("sutra_batch_tokens_count"), 1),
        "cpu": os.cpu_count(),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rec, f, indent=1)
    print(json.dumps({k: v for k, v in rec.items() if k != "rss_trace_kib"}, indent=1))
    ok = not errors and abs(drift) <= 0.05
    print("soak:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
