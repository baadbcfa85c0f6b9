#!/usr/bin/env python3
"""Load test of `sutra serve`: many concurrent clients, mixed-length requests, every reply checked.

  python3 tests/server/load_test.py [--sutra build/sutra] [--clients 64] [--requests 8]
  SUTRA_TEST_QUICK=1 python3 tests/server/load_test.py --sutra build-asan/sutra   # sanitizer build

Starts the server on a loopback port, then --clients threads (default 64) start together and each
sends --requests requests (default 8; 2 with SUTRA_TEST_QUICK=1) of 1..--max-inputs texts (default 6)
of a few words up to ~230 words (under the model's 256-token limit), through a mix of
/v1/embeddings (float, base64, token ids) and TEI /embed. Every text is unique (it names its
client, request and position), so a reply carrying another request's vector is caught: each
vector is compared with the library's vector of its own text (`sutra embed`, computed once for
all texts before the load). Passes when: no error and no dropped request, every vector within
--tol of its reference and in its place, usage/metrics counters agree with what was sent, the
server still answers /health, and it exits 0 on SIGTERM with no sanitizer report. Also reads
the sutra_batch_inputs histogram from /metrics and requires at least one scheduling round that
held more inputs than any single request did (dynamic batching merged requests).
Bounded: at most --clients * --requests requests (512 by default) and --timeout seconds.
Exit status 0 pass, 1 fail, 77 skip (numpy missing, model missing).
"""

import argparse
import base64
import http.client
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_util as su  # noqa: E402

su.ensure_modules(["numpy"], os.path.abspath(__file__))
import numpy as np  # noqa: E402

QUICK = os.environ.get("SUTRA_TEST_QUICK") == "1"
VOCAB = ("time person year way day thing man world life hand part child eye woman place work week "
         "case point government company number group problem fact river mountain music guitar market "
         "science history language city country family school water light story night house car road "
         "tree green blue red small large old new good bad high low early late young long short open "
         "close begin end learn teach read write play sing run walk talk think know see hear feel "
         "make take give find tell ask seem leave call keep help show try move live believe hold "
         "bring happen stand lose pay meet include continue set change lead understand watch follow "
         "stop create speak allow add spend grow offer remember love consider appear buy wait serve "
         "die send expect build stay fall cut reach kill remain").split()


def log(msg):
    print(msg, flush=True)


def make_plan(args, rng):
    """[(client, [(kind, [text indices])...])], texts."""
    texts, plan = [], []
    kinds = ["oa-float"] * 4 + ["oa-base64"] * 3 + ["tei"] * 2 + ["oa-ids"]
    for c in range(args.clients):
        reqs = []
        for r in range(args.requests):
            n = rng.randint(1, args.max_inputs)
            idx = []
            for i in range(n):
                u = rng.random()
                if u < 0.6:
                    w = rng.randint(2, 25)
                elif u < 0.9:
                    w = rng.randint(25, 100)
                else:
                    w = rng.randint(100, args.max_words)
                idx.append(len(texts))
                texts.append(f"client {c} request {r} input {i}: " + " ".join(rng.choice(VOCAB) for _ in range(w)))
            reqs.append((rng.choice(kinds), idx))
        plan.append((c, reqs))
    return plan, texts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sutra", default=su.default_sutra(), help="the server binary (default $SUTRA_BIN or build/sutra)")
    ap.add_argument("--ref-sutra", default=None, help="binary for the reference vectors (default: --sutra)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2 if QUICK else 8, help="requests per client")
    ap.add_argument("--max-inputs", type=int, default=4 if QUICK else 6, help="most texts in one request")
    ap.add_argument("--max-words", type=int, default=120 if QUICK else 230)
    ap.add_argument("--seed", type=int, default=20251124)
    ap.add_argument("--tol", type=float, default=1e-5, help="max |server - library| per component")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("SUTRA_LOAD_TEST_TIMEOUT", 600 if QUICK else 180)),
                    help="hard limit for the whole run, seconds")
    ap.add_argument("--server-arg", action="append", default=[], help="extra `sutra serve` argument (repeatable)")
    args = ap.parse_args()
    args.sutra = os.path.abspath(args.sutra)
    ref_sutra = os.path.abspath(args.ref_sutra or args.sutra)
    model_args = ["--model", args.model] if args.model else []
    ok, why = su.has_serve(args.sutra)
    if not ok:
        log(f"FAIL: {why}")
        return 1
    info, err = su.cli_info(ref_sutra, model_args)
    if info is None:
        log(f"SKIP: the model cannot be loaded: {err.strip()}")
        return 77
    total_reqs = args.clients * args.requests
    if total_reqs > 1000:
        log(f"refusing {total_reqs} requests (bounded test: at most 1000)")
        return 1
    servers = []
    dog = su.Watchdog(args.timeout, servers)
    t_start = time.monotonic()

    rng = random.Random(args.seed)
    plan, texts = make_plan(args, rng)
    n_inputs = len(texts)
    t0 = time.monotonic()
    ids = su.ref_tokenize(ref_sutra, texts, model_args)
    ntok = [len(t) for t in ids]
    over = [i for i, n in enumerate(ntok) if n >= info["max_tokens"]]
    if over:
        log(f"FAIL (test bug): {len(over)} texts reach the token limit; lower --max-words")
        return 1
    ref = su.ref_embed(ref_sutra, texts, model_args)
    t_ref = time.monotonic() - t0
    log(f"load test: {args.clients} clients x {args.requests} requests = {total_reqs} requests, "
        f"{n_inputs} texts ({sum(ntok)} tokens, {min(ntok)}..{max(ntok)} per text, 1..{args.max_inputs} per "
        f"request); references in {t_ref:.1f} s")

    srv = su.Server(args.sutra, model_args + args.server_arg, name="load")
    servers.append(srv)
    try:
        srv.start()
        return run_load(args, srv, dog, plan, texts, ids, ntok, ref, t_start)
    finally:
        srv.kill()  # (no-op once it has exited on SIGTERM)


def run_load(args, srv, dog, plan, texts, ids, ntok, ref, t_start):
    n_inputs = len(texts)
    total_reqs = sum(len(reqs) for _, reqs in plan)
    log(f"  {srv.banner}")
    port = srv.port

    failures, fail_lock = [], threading.Lock()
    stats = {"replies": 0, "max_diff": 0.0, "by_kind": {}}
    ref_norm = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-30)

    def fail(msg):
        with fail_lock:
            failures.append(msg)

    def who(vec):
        v = np.asarray(vec, np.float64)
        j = int(np.argmax(ref_norm @ (v / max(np.linalg.norm(v), 1e-30))))
        return f"text {j} ({texts[j][:40]!r})"

    def check_reply(kind, idx, r, label):
        if r.status != 200:
            fail(f"{label}: HTTP {r.status} {r.text()[:200]}")
            return
        j = r.json()
        if kind == "tei":
            vecs = j
        else:
            data = j.get("data", [])
            if [d.get("index") for d in data] != list(range(len(idx))):
                fail(f"{label}: indices {[d.get('index') for d in data]}")
                return
            vecs = [su.decode_b64_vector(d["embedding"]) if kind == "oa-base64" else d["embedding"] for d in data]
            want_tok = sum(ntok[i] for i in idx)
            if j.get("usage", {}).get("prompt_tokens") != want_tok:
                fail(f"{label}: usage {j.get('usage')} != {want_tok} prompt tokens")
        if len(vecs) != len(idx):
            fail(f"{label}: {len(vecs)} vectors for {len(idx)} inputs")
            return
        for k, (v, i) in enumerate(zip(vecs, idx)):
            d = su.max_abs_diff(v, ref[i])
            with fail_lock:
                stats["max_diff"] = max(stats["max_diff"], d)
            if d > args.tol:
                fail(f"{label} input {k} (text {i}): max diff {d:.3g}; the vector is closest to {who(v)}")

    barrier = threading.Barrier(args.clients)

    def client(c, reqs):
        conn = None
        crng = random.Random(args.seed * 1000 + c)
        try:
            barrier.wait(60)
        except threading.BrokenBarrierError:
            fail(f"client {c}: barrier broken")
            return
        for r_no, (kind, idx) in enumerate(reqs):
            label = f"client {c} request {r_no} ({kind}, {len(idx)} inputs)"
            if kind == "tei":
                path, body = "/embed", {"inputs": [texts[i] for i in idx]}
            elif kind == "oa-ids":
                path, body = "/v1/embeddings", {"input": [ids[i] for i in idx], "model": "m", "encoding_format": "float"}
            else:
                path, body = "/v1/embeddings", {"input": [texts[i] for i in idx] if len(idx) > 1 or crng.random() < 0.5
                                                else texts[idx[0]], "model": "m",
                                                "encoding_format": "base64" if kind == "oa-base64" else "float"}
            fresh = crng.random() < 0.15  # some requests on a new connection, most on a kept-alive one
            try:
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
                r = su.http_request(port, "POST", path, body, conn=conn)
                if r.headers.get("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001
                fail(f"{label}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            with fail_lock:
                stats["replies"] += 1
                stats["by_kind"][kind] = stats["by_kind"].get(kind, 0) + 1
            try:
                check_reply(kind, idx, r, label)
            except Exception as e:  # noqa: BLE001
                fail(f"{label}: reply not as specified: {type(e).__name__}: {e}")
        if conn is not None:
            conn.close()

    m0, _ = su.get_metrics(port)
    threads = [threading.Thread(target=client, args=(c, reqs), daemon=True) for c, reqs in plan]
    t1 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, args.timeout - (time.monotonic() - t_start)))
    wall = time.monotonic() - t1
    hung = sum(1 for t in threads if t.is_alive())
    if hung:
        fail(f"{hung} clients still waiting for replies")

    # --- the server after the load
    problems = list(failures)
    if not srv.alive():
        problems.append(f"the server died:\n{srv.log_tail()}")
    else:
        r = su.http_request(port, "GET", "/health")
        if r.status != 200:
            problems.append(f"/health after the load: {r}")
        # a request is counted when its reply has been written out, which can be a moment after
        # the client has read it: let the in-flight gauge settle (the scrape itself is 1)
        deadline = time.monotonic() + 5.0
        while True:
            m1, _ = su.get_metrics(port)
            if m1.value("sutra_inflight_requests") <= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if m1.bad_lines:
            problems.append(f"unparseable /metrics lines: {m1.bad_lines[:3]}")
        n_oa = sum(1 for _, reqs in plan for k, _ in reqs if k != "tei")
        n_tei = total_reqs - n_oa
        route_oa = su.route_labels(m1, "sutra_requests_total", "/v1/embeddings")
        route_tei = su.route_labels(m1, "sutra_requests_total", "/embed")

        def delta(name, **lab):
            return m1.value(name, **lab) - m0.value(name, **lab)
        for name, lab, want in (("sutra_requests_total", {"route": route_oa, "code": "200"}, n_oa),
                                ("sutra_requests_total", {"route": route_tei, "code": "200"}, n_tei),
                                ("sutra_inputs_total", {}, n_inputs),
                                ("sutra_tokens_total", {}, sum(ntok)),
                                ("sutra_batch_inputs_sum", {}, n_inputs)):
            if delta(name, **lab) != want:
                problems.append(f"{name}{lab} moved by {delta(name, **lab):g}, expected {want}")
        if m1.value("sutra_queue_inputs") != 0:
            problems.append(f"sutra_queue_inputs = {m1.value('sutra_queue_inputs')} after the load")
        # dynamic batching: rounds holding more inputs than the largest request
        buckets, bsum, bcount = m1.histogram("sutra_batch_inputs")
        b0, s0, c0 = m0.histogram("sutra_batch_inputs")
        before = dict(b0)
        rounds = bcount - c0
        largest = max(len(idx) for _, reqs in plan for _, idx in reqs)
        diffb = [(le, c - before.get(le, 0)) for le, c in buckets]
        bound = min((le for le, _ in diffb if le >= largest), default=float("inf"))
        at_most = dict(diffb).get(bound, rounds)
        merged_lb = rounds - at_most
        mean = (bsum - s0) / rounds if rounds else 0.0
        hist = ", ".join(f"<={le:g}: {c:g}" for le, c in diffb)
        log(f"  batching: {rounds:g} scheduling rounds for {total_reqs} requests / {n_inputs} inputs; "
            f"mean {mean:.1f} inputs per round; rounds with > {bound:g} inputs: {merged_lb:g} "
            f"(largest request: {largest} inputs)")
        log(f"  sutra_batch_inputs (this run, cumulative): {hist}")
        fwd = {p: delta("sutra_forward_batches_total", path=p) for p in ("standard", "flash")}
        log(f"  forward batches: {fwd}")
        if not (merged_lb >= 1 or mean > largest):
            problems.append(f"no scheduling round held more inputs than the largest single request "
                            f"({largest}): dynamic batching not shown (histogram {hist})")
        n_lines = srv.wait_request_lines(lambda l: " /v1/embeddings 200 " in l or " /embed 200 " in l, total_reqs)
        if n_lines != total_reqs:
            problems.append(f"{n_lines} per-request log lines for the embedding routes, {total_reqs} requests sent")
    if stats["replies"] != total_reqs:
        problems.append(f"{stats['replies']} replies for {total_reqs} requests (dropped)")
    try:
        srv.stop(signal.SIGTERM, timeout=120)
    except su.ServerError as e:
        problems.append(str(e))
    dog.cancel()

    log(f"  {stats['replies']} replies in {wall:.1f} s ({stats['replies'] / wall:.1f} req/s, "
        f"{n_inputs / wall:.1f} inputs/s), kinds {stats['by_kind']}; largest |server - library| "
        f"{stats['max_diff']:.3g}; server exit status {srv.returncode}")
    if problems:
        log(f"FAIL: {len(problems)} problems")
        for p in problems[:30]:
            log("  " + p.replace("\n", "\n    "))
        if len(problems) > 30:
            log(f"  ... and {len(problems) - 30} more")
        return 1
    log(f"PASS ({time.monotonic() - t_start:.1f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
