"""Embedding a corpus across a Ray cluster with Ray Data.

Each worker is an actor holding one Embedder (one GPU each with num_gpus=1, else some CPU
threads), fed batches by `Dataset.map_batches`; rows keep their ids and any other columns, and
gain an `embedding` column (a fixed-size list of float32). Ray restarts a worker that dies and
retries the batches it held, so a lost worker costs time, not rows.

From Python:

    import ray, sutra.ray
    ds = ray.data.read_parquet("s3://bucket/corpus/")
    out = sutra.ray.embed_dataset(ds, model="BAAI/bge-small-en-v1.5", num_gpus=1)
    out.write_parquet("s3://bucket/vectors/")

From the shell (a local cluster, or an existing one with --address auto):

    python -m sutra.ray --input corpus.jsonl --output vectors/ --model all-MiniLM-L6-v2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from ._embedder import Embedder


class SutraEmbedActor:
    """The callable class map_batches runs on each worker: loads the model once, then embeds
    every batch (a pyarrow Table) it is given. A row whose text is missing or not a string is an
    error naming its id: a corpus with holes is for its owner to fix, not for the engine to guess."""

    def __init__(self, model: str, text_column: str = "text", id_column: str | None = "id",
                 output_column: str = "embedding", keep_text: bool = False, **embedder_kwargs: Any):
        self.embedder = Embedder(model, **embedder_kwargs)
        self.text_column = text_column
        self.id_column = id_column
        self.output_column = output_column
        self.keep_text = keep_text

    def __call__(self, batch):
        import pyarrow as pa  # noqa: PLC0415 (only on the workers)

        if self.text_column not in batch.column_names:
            raise KeyError(f"no column {self.text_column!r} in the dataset (it has: {', '.join(batch.column_names)})")
        texts = batch.column(self.text_column).to_pylist()
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                where = batch.column(self.id_column)[i].as_py() if self.id_column in batch.column_names else i
                raise TypeError(f"row {where!r}: {self.text_column} is {type(t).__name__}, not a string")
        vecs = self.embedder.embed(texts)
        flat = pa.array(vecs.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1])
        out = batch if self.keep_text else batch.drop_columns([self.text_column])
        return out.append_column(self.output_column, column)


def embed_dataset(ds, model: str, *, text_column: str = "text", id_column: str | None = "id",
                  output_column: str = "embedding", keep_text: bool = False, num_gpus: float = 0,
                  cpus_per_worker: int | None = None, workers: int | tuple[int, int] | None = None,
                  batch_size: int = 512, **embedder_kwargs: Any):
    """ds with an `output_column` of vectors from `model`, computed by a pool of actors (lazy, as
    Ray Data is: write or iterate the result to run it).

    num_gpus=1: one GPU per worker, and as many workers as the cluster has GPUs (unless `workers`
    says); else CPU workers of `cpus_per_worker` cores each (default 1), each embedder using that
    many threads, as many as the cluster's CPUs hold with one CPU left for reading and writing.
    Other keyword arguments go to sutra.Embedder (dimensions, max_length, prompt_name, ...)."""
    import ray  # noqa: PLC0415

    resources = ray.cluster_resources()
    if num_gpus:
        embedder_kwargs.setdefault("device", "cuda")
        cpus = cpus_per_worker or 1
        if workers is None:
            workers = max(1, int(resources.get("GPU", 0) // num_gpus))
    else:
        embedder_kwargs.setdefault("device", "cpu")
        cpus = cpus_per_worker or 1
        embedder_kwargs.setdefault("threads", cpus)
        if workers is None:
            # one CPU stays free for the read and write tasks: with every CPU held by a worker, the
            # reads that feed them would never be scheduled
            workers = max(1, int((resources.get("CPU", 1) - 1) // cpus))
    return ds.map_batches(
        SutraEmbedActor,
        fn_constructor_kwargs=dict(model=model, text_column=text_column, id_column=id_column,
                                   output_column=output_column, keep_text=keep_text, **embedder_kwargs),
        batch_format="pyarrow",
        batch_size=batch_size,
        # a fixed pool; Ray Data gives its actors max_restarts=-1 and max_task_retries=-1, so a
        # worker that dies is restarted and its batches retried, as often as it takes
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_gpus=num_gpus,
        num_cpus=cpus,
    )


def _read(paths: list[str], fmt: str | None):
    import ray  # noqa: PLC0415

    kind = fmt or _format_of(paths[0])
    if kind == "parquet":
        return ray.data.read_parquet(paths)
    if kind == "jsonl":
        return ray.data.read_json(paths, lines=True)
    raise SystemExit(f"--input {paths[0]}: cannot tell its format (.parquet, .jsonl); give --input-format")


def _format_of(path: str) -> str | None:
    p = path.rstrip("/").lower()
    if p.endswith(".parquet") or p.endswith(".pq"):
        return "parquet"
    if p.endswith(".jsonl") or p.endswith(".json") or p.endswith(".ndjson"):
        return "jsonl"
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        for n in names:
            kind = _format_of(n)
            if kind:
                return kind
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sutra.ray",
                                 description="Embed a corpus (Parquet or JSONL) across a Ray cluster, ids kept.")
    ap.add_argument("--input", required=True, nargs="+", help="files or folders of .parquet or .jsonl")
    ap.add_argument("--output", required=True, help="a folder for the output files")
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="model directory, name or hub id (on every node)")
    ap.add_argument("--input-format", choices=["parquet", "jsonl"], help="default: from the file names")
    ap.add_argument("--output-format", choices=["parquet", "jsonl"], default="parquet")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--id-field", default="id", help="the id column, kept in the output (required in the input)")
    ap.add_argument("--keep-text", action="store_true", help="keep the text column in the output")
    ap.add_argument("--address", default=None,
                    help="Ray cluster to join: 'auto' (the one this node belongs to), ray://host:10001; "
                         "default: start a local one")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster started (default: all)")
    ap.add_argument("--gpus-per-worker", type=float, default=None,
                    help="1: one GPU per worker (default: 1 if the cluster has GPUs, else CPU workers)")
    ap.add_argument("--cpus-per-worker", type=int, default=None, help="CPU threads per CPU worker (default 1)")
    ap.add_argument("--workers", type=int, default=None, help="number of workers (default: one per GPU or CPU)")
    ap.add_argument("--batch-size", type=int, default=512, help="rows per batch sent to a worker")
    ap.add_argument("--dimensions", type=int, default=None)
    ap.add_argument("--max-length", type=int, default=None)
    ap.add_argument("--prompt-name", default=None)
    ap.add_argument("--models-dir", default=None, help="where model names are looked up, on every node")
    ap.add_argument("--hub-cache", default=None, help="the Hugging Face hub cache on every node (a shared one, say)")
    args = ap.parse_args(argv)

    import ray  # noqa: PLC0415

    ray.init(address=args.address, num_cpus=args.num_cpus if args.address is None else None,
             log_to_driver=False, ignore_reinit_error=True)
    gpus = args.gpus_per_worker
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    ds = _read(args.input, args.input_format)
    if args.id_field not in ds.schema().names:
        raise SystemExit(f"the input has no id column {args.id_field!r} (it has: {', '.join(ds.schema().names)}); "
                         "give --id-field")
    kwargs = {k: v for k, v in (("dimensions", args.dimensions), ("max_length", args.max_length),
                                ("prompt_name", args.prompt_name), ("models_dir", args.models_dir),
                                ("hub_cache", args.hub_cache)) if v is not None}
    out = embed_dataset(ds, args.model, text_column=args.text_field, id_column=args.id_field,
                        keep_text=args.keep_text, num_gpus=gpus, cpus_per_worker=args.cpus_per_worker,
                        workers=args.workers, batch_size=args.batch_size, **kwargs)
    start = time.perf_counter()
    if args.output_format == "parquet":
        out.write_parquet(args.output)
    else:
        out.write_json(args.output)
    rows = None
    if args.output_format == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        rows = sum(pq.ParquetFile(os.path.join(args.output, n)).metadata.num_rows
                   for n in os.listdir(args.output) if n.endswith(".parquet"))
    took = time.perf_counter() - start
    print(f"sutra.ray: {rows if rows is not None else 'all'} rows embedded with {args.model} into {args.output} "
          f"in {took:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
