"""One embedder shared by threads, and the GIL let go while the engine computes."""

import threading
import time

import numpy as np

import sutra


def test_threads_share_an_embedder(model):
    rng = np.random.default_rng()
    words = ["guitar", "market", "river", "cloud", "seven", "quantum", "bread", "train", "yellow", "silent"]
    jobs = [[" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) for _ in range(int(rng.integers(1, 30)))]
            for _ in range(24)]
    want = [model.embed(texts) for texts in jobs]
    got = [None] * len(jobs)
    errors = []

    def work(k: int) -> None:
        try:
            for j in range(k, len(jobs), 6):
                got[j] = model.embed(jobs[j]) if j % 2 else model.encode(jobs[j])
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for j in range(len(jobs)):
        assert np.array_equal(got[j], want[j]), f"job {j} differs from its single-threaded vectors"


def test_gil_is_released_during_embed():
    m = sutra.Embedder("all-MiniLM-L6-v2", threads=1)
    texts = [f"text number {i} about the quick brown fox and the lazy dog, again and again" for i in range(1500)]
    counter = [0]
    running = threading.Event()
    done = threading.Event()

    def spin() -> None:
        running.set()
        while not done.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    running.wait()
    before = counter[0]
    start = time.perf_counter()
    m.embed(texts)  # one call into the library: seconds of compute
    elapsed = time.perf_counter() - start
    during = counter[0] - before
    done.set()
    t.join()
    assert elapsed > 0.3, f"the embed took {elapsed:.2f} s: too short to tell"
    # with the GIL held the spinning thread would not run at all during the call; released, it
    # counts hundreds of thousands of times a second
    assert during > 20000 * elapsed, f"the other thread counted {during} in {elapsed:.2f} s"
