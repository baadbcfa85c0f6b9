"""sutra.ray on a local Ray cluster (2 CPUs): a 20,000-row dataset through the actors, one worker
killed mid-run, every row back once with its id and the vector a single process gives it; and the
command line over JSONL."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sutra

ray = pytest.importorskip("ray", reason="ray is installed by tests/python/setup_venv.sh")

WORDS = ("guitar market river cloud seven quantum bread train yellow silent engine forest paper "
         "window orbit garden signal copper winter harbor").split()
WORKER_TITLE = b"MapWorker(MapBatches(SutraEmbedActor))"


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    ids = [f"doc-{k:06d}-{int(rng.integers(1 << 30)):x}" for k in rng.permutation(n)]
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 24)))) for _ in range(n)]
    return ids, texts


def worker_pids() -> list[int]:
    """Processes of the embedding actors, by the title Ray gives them."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if WORKER_TITLE in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out


def read_vectors(folder: str) -> tuple[list[str], np.ndarray]:
    table = pa.concat_tables([pq.read_table(os.path.join(folder, n)) for n in sorted(os.listdir(folder))
                              if n.endswith(".parquet")])
    ids = table.column("id").to_pylist()
    emb = table.column("embedding").combine_chunks()
    vecs = emb.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), emb.type.list_size)
    return ids, vecs


def test_command_line_jsonl(tmp_path):
    ids, texts = corpus(300, seed=int(time.time()))
    src = tmp_path / "in.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, t in zip(ids, texts):
            f.write(json.dumps({"id": i, "text": t, "lang": "en"}) + "\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "sutra.ray", "--input", str(src), "--output", str(out),
                        "--output-format", "jsonl", "--num-cpus", "2", "--batch-size", "64"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = []
    for name in sorted(os.listdir(out)):
        with open(out / name, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    assert sorted(row["id"] for row in rows) == sorted(ids)
    assert all(row["lang"] == "en" and "text" not in row for row in rows)
    want = dict(zip(ids, sutra.Embedder("all-MiniLM-L6-v2").embed(texts)))
    for row in rows:
        np.testing.assert_allclose(np.array(row["embedding"], dtype=np.float32), want[row["id"]], rtol=0, atol=1e-6)


def test_twenty_thousand_rows_with_a_worker_killed(tmp_path):
    n = 20000
    ids, texts = corpus(n, seed=int(time.time()) + 1)
    src = tmp_path / "in"
    src.mkdir()
    per = 1000
    for k in range(0, n, per):
        pq.write_table(pa.table({"id": ids[k:k + per], "text": texts[k:k + per]}), src / f"part-{k // per:03d}.parquet")
    out = tmp_path / "out"
    ray.init(num_cpus=2, object_store_memory=400 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    try:
        import sutra.ray as sray

        ds = sray.embed_dataset(ray.data.read_parquet(str(src)), "all-MiniLM-L6-v2", batch_size=250)
        finished = threading.Event()
        killed = []

        def killer() -> None:
            # wait until the workers have been at it for a while, then kill one of them
            deadline = time.time() + 300
            seen = None
            while not finished.is_set() and time.time() < deadline:
                pids = worker_pids()
                if pids and seen is None:
                    seen = time.time()
                if pids and seen is not None and time.time() - seen > 4:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append((pids[0], finished.is_set()))
                    return
                time.sleep(0.2)

        t = threading.Thread(target=killer)
        t.start()
        start = time.time()
        ds.write_parquet(str(out))
        finished.set()
        t.join()
        took = time.time() - start
    finally:
        ray.shutdown()
    assert killed, "no worker was killed: the run ended before one could be"
    assert killed[0][1] is False, "the kill came after the run"
    got_ids, got = read_vectors(str(out))
    assert len(got_ids) == n, f"{len(got_ids)} rows written of {n}"
    assert len(set(got_ids)) == n, "rows duplicated"
    assert set(got_ids) == set(ids), "ids lost or changed"
    want = sutra.Embedder("all-MiniLM-L6-v2").embed(texts)
    index = {i: k for k, i in enumerate(ids)}
    order = [index[i] for i in got_ids]
    assert np.array_equal(got, want[order]), f"max diff {np.abs(got - want[order]).max()}"
    print(f"20000 rows in {took:.1f} s, worker {killed[0][0]} killed mid-run")
