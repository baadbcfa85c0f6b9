"""sutra.Embedder: one loaded model over libsutra's C API."""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import byref, c_char_p, c_float, c_int32, c_size_t, c_void_p
from typing import Any, Iterable, Sequence

import numpy as np

from . import _ffi

_lib_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def library(path: str | None = None) -> ctypes.CDLL:
    """The libsutra this package calls, opened on first use (see _ffi.load)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _ffi.load(path)
        return _lib


class SutraError(RuntimeError):
    """A failed call of the library: `status` is its sutra_status code, the message is the
    library's own (it names the file, tensor, field or input at fault)."""

    def __init__(self, message: str, status: int = _ffi.ERR_INTERNAL):
        super().__init__(message)
        self.status = status


class SutraValueError(SutraError, ValueError):
    """The library refused an argument or an input (invalid argument, invalid UTF-8)."""


class ModelError(SutraError):
    """The model could not be loaded: a missing or malformed file, an unsupported config."""


class UnsupportedError(SutraError):
    """What was asked for is not there: an output the model does not give, a device the build
    or the machine lacks."""


def _error(status: int, message: str) -> SutraError:
    if status in (_ffi.ERR_INVALID_ARGUMENT, _ffi.ERR_INVALID_UTF8):
        return SutraValueError(message, status)
    if status in (_ffi.ERR_IO, _ffi.ERR_FORMAT, _ffi.ERR_MODEL):
        return ModelError(message, status)
    if status == _ffi.ERR_UNSUPPORTED:
        return UnsupportedError(message, status)
    if status == _ffi.ERR_OUT_OF_MEMORY:
        return SutraError(message or "out of memory", status)
    return SutraError(message, status)


def _encode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} is {type(text).__name__}, not str")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SutraValueError(f"{what} is not valid Unicode text ({exc.reason} at character {exc.start})",
                              _ffi.ERR_INVALID_UTF8) from None
    if b"\0" in raw:
        raise SutraValueError(f"{what} contains a NUL character (U+0000), which the engine cannot take",
                              _ffi.ERR_INVALID_ARGUMENT)
    return raw


def _text_array(texts: Sequence[str], what: str = "text"):
    encoded = [_encode(t, f"{what} {i}") for i, t in enumerate(texts)]
    arr = (c_char_p * max(len(encoded), 1))(*encoded)
    return arr, encoded


def _as_list(texts: str | Iterable[str]) -> tuple[list[str], bool]:
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError("texts are bytes; pass str (decoded UTF-8)")
    return list(texts), False


def _fptr(arr: np.ndarray):
    return arr.ctypes.data_as(ctypes.POINTER(c_float))


def _s(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


def _opt(value: str | os.PathLike | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


_UNSET = object()


class Embedder:
    """A model loaded by libsutra, on the CPU or a GPU.

    `model` is a model directory, a name in the models directory ("all-MiniLM-L6-v2"), or a
    Hugging Face hub id ("BAAI/bge-small-en-v1.5", "org/name@revision": from the hub cache, else
    downloaded into it). The other arguments are sutra_config's fields (include/sutra.h); None keeps
    the engine's default, which is the model's own where it has one.

    Thread safety: one Embedder may be shared by any number of threads. The engine runs one call
    of an embedder at a time, so calls from several threads take turns (each waits for the
    previous to finish); the GIL is released while the engine computes, so other Python threads
    run meanwhile. For calls in parallel on the CPU, use one Embedder per thread (the weights are
    mapped read-only, so the copies share memory); on a GPU one embedder already keeps it busy.
    """

    def __init__(self, model: str | os.PathLike = "all-MiniLM-L6-v2", device: str = "auto", *,
                 dimensions: int | None = None, max_length: int | None = None, prompt_name: str | None = None,
                 prompt: str | None = None, normalize: bool | None = None, pooling: str | None = None,
                 threads: int | None = None, gpu_index: int = 0, gpu_dtype: str = "auto",
                 max_batch_tokens: int | None = None, use_flash_attention: bool = True, attention: str = "auto",
                 flash_attention_threshold: int | None = None, models_dir: str | os.PathLike | None = None,
                 hub_cache: str | os.PathLike | None = None, hub_endpoint: str | None = None,
                 hub_token: str | None = None, offline: bool | None = None, rerank_instruction: str | None = None,
                 name: str | None = None, library_path: str | None = None):
        self._handle = c_void_p()
        self._lock = threading.RLock()
        self._lib = library(library_path)
        lib = self._lib
        if device.startswith("cuda:"):
            device, gpu_index = "cuda", int(device.split(":", 1)[1])
        if device not in _ffi.DEVICE:
            raise ValueError(f"device {device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if pooling is not None and pooling not in _ffi.POOLING:
            raise ValueError(f"pooling {pooling!r}: expected one of {', '.join(_ffi.POOLING)}")
        if attention not in _ffi.ATTENTION:
            raise ValueError(f"attention {attention!r}: expected one of {', '.join(_ffi.ATTENTION)}")
        if gpu_dtype not in _ffi.GPU_DTYPE:
            raise ValueError(f"gpu_dtype {gpu_dtype!r}: expected auto, fp16 or bf16")
        cfg = _ffi.Config()
        lib.sutra_config_init_sized(byref(cfg), ctypes.sizeof(cfg))
        # the bytes the struct points at must outlive the create call: keep them on self
        self._keep = keep = {}

        def text(field: str, value: Any) -> None:
            if value is not None:
                keep[field] = _encode(os.fspath(value) if isinstance(value, os.PathLike) else value, field)
                setattr(cfg, field, keep[field])

        text("model", model)
        text("name", name)
        text("prompt_name", prompt_name)
        text("prompt", prompt)
        text("models_dir", models_dir)
        text("rerank_instruction", rerank_instruction)
        for field, value in (("dimensions", dimensions), ("max_sequence_length", max_length), ("threads", threads),
                             ("max_batch_tokens", max_batch_tokens),
                             ("flash_attention_threshold", flash_attention_threshold)):
            if value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{field} must be a non-negative int, not {value!r}")
                setattr(cfg, field, value)
        cfg.device = _ffi.DEVICE[device]
        cfg.gpu_index = gpu_index
        cfg.gpu_dtype = _ffi.GPU_DTYPE[gpu_dtype]
        cfg.pooling = _ffi.POOLING[pooling or "model"]
        cfg.normalize = (_ffi.NORMALIZE_MODEL if normalize is None else
                         _ffi.NORMALIZE_ON if normalize else _ffi.NORMALIZE_OFF)
        cfg.use_flash_attention = 1 if use_flash_attention else 0
        cfg.attention = _ffi.ATTENTION[attention]
        for field, value in (("cache_dir", hub_cache), ("endpoint", hub_endpoint), ("token", hub_token)):
            if value is not None:
                keep["hub." + field] = _encode(os.fspath(value), field)
                setattr(cfg.hub, field, keep["hub." + field])
        if offline is not None:
            cfg.hub.offline = _ffi.SWITCH_ON if offline else _ffi.SWITCH_OFF
        err = ctypes.create_string_buffer(1024)
        status = lib.sutra_embedder_create(byref(cfg), byref(self._handle), err, len(err))
        if status != _ffi.OK:
            self._handle = c_void_p()
            raise _error(status, _s(err.value) or _s(lib.sutra_status_str(status)))
        self.dim: int = lib.sutra_embedder_dim(self._handle)
        """The width of the vectors this embedder gives."""
        self.max_tokens: int = lib.sutra_embedder_max_tokens(self._handle)
        """The token limit per input, special tokens included."""
        self._outputs = lib.sutra_embedder_outputs(self._handle)
        self._base_prompt = _s(lib.sutra_embedder_prompt(self._handle))

    # ---- life ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Releases the model and its memory (GPU memory included). Later calls raise."""
        with self._lock:
            if self._handle:
                self._lib.sutra_embedder_destroy(self._handle)
                self._handle = c_void_p()

    def __enter__(self) -> "Embedder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            self._lib.sutra_embedder_destroy(handle)
            self._handle = c_void_p()

    def _h(self) -> c_void_p:
        if not self._handle:
            raise SutraError("the embedder is closed", _ffi.ERR_INVALID_ARGUMENT)
        return self._handle

    def _check(self, status: int) -> None:
        if status != _ffi.OK:
            msg = _s(self._lib.sutra_embedder_last_error(self._handle)) or _s(self._lib.sutra_status_str(status))
            raise _error(status, msg)

    class _Prompt:
        """Sets a per-call prompt under the embedder's lock and puts the embedder's own back."""

        def __init__(self, emb: "Embedder", prompt_name: str | None, prompt: str | None):
            self.emb, self.name, self.prompt = emb, prompt_name, prompt

        def __enter__(self) -> None:
            self.emb._lock.acquire()
            try:
                h = self.emb._h()
                if self.name is not None or self.prompt is not None:
                    lib = self.emb._lib
                    name = None if self.name is None else _encode(self.name, "prompt_name")
                    raw = None if self.prompt is None else _encode(self.prompt, "prompt")
                    if name is not None and raw is None and lib.sutra_embedder_find_prompt(h, name) is None:
                        raise SutraValueError(f"the model has no prompt named {self.name!r} (it has: "
                                              f"{', '.join(self.emb.prompts) or 'none'})", _ffi.ERR_INVALID_ARGUMENT)
                    self.emb._check(lib.sutra_embedder_set_prompt(h, name, raw))
                    self.changed = True
                else:
                    self.changed = False
            except BaseException:
                self.emb._lock.release()
                raise

        def __exit__(self, *exc: Any) -> None:
            try:
                if self.changed and self.emb._handle:
                    self.emb._lib.sutra_embedder_set_prompt(self.emb._handle, None,
                                                            self.emb._base_prompt.encode("utf-8"))
            finally:
                self.emb._lock.release()

    # ---- facts ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What the engine loaded and how it runs it (sutra_model_info): architecture, sizes,
        pooling, device, attention path, dtype, outputs..."""
        with self._lock:
            info = _ffi.ModelInfo()
            self._check(self._lib.sutra_embedder_info_sized(self._h(), byref(info), ctypes.sizeof(info)))
            out = {}
            for field, ctype in info._fields_:
                value = getattr(info, field)
                out[field] = _s(value) if ctype is c_char_p else value
            out["outputs"] = out["outputs"].split()
            return out

    def stats(self) -> dict[str, int]:
        """Counters since load or the last reset_stats(): texts, tokens, batches, ..."""
        with self._lock:
            st = _ffi.Stats()
            self._check(self._lib.sutra_embedder_stats_sized(self._h(), byref(st), ctypes.sizeof(st)))
            return {field: getattr(st, field) for field, _ in st._fields_}

    def reset_stats(self) -> None:
        with self._lock:
            self._lib.sutra_embedder_stats_reset(self._h())

    @property
    def prompts(self) -> dict[str, str]:
        """The model's named prompts (config_sentence_transformers.json), name -> text."""
        with self._lock:
            h = self._h()
            summary = self.info()
        names = _describe_prompts(self._lib, summary["path"])
        out = {}
        with self._lock:
            for n in names:
                value = self._lib.sutra_embedder_find_prompt(h, n.encode())
                if value is not None:
                    out[n] = _s(value)
        return out

    @property
    def outputs(self) -> set[str]:
        """What the model gives: a subset of {"dense", "sparse", "multivector", "rerank"}."""
        kinds = {_ffi.OUTPUT_DENSE: "dense", _ffi.OUTPUT_SPARSE: "sparse", _ffi.OUTPUT_MULTIVECTOR: "multivector",
                 _ffi.OUTPUT_RERANK: "rerank"}
        return {name for bit, name in kinds.items() if self._outputs & bit}

    def __repr__(self) -> str:
        if not self._handle:
            return "Embedder(closed)"
        i = self.info()
        return f"Embedder({i['name']!r}, {i['architecture']}, dim={self.dim}, device={i['device']!r})"

    # ---- dense vectors -------------------------------------------------------------------------

    def embed(self, texts: str | Iterable[str], *, prompt_name: str | None = None,
              prompt: str | None = None) -> np.ndarray:
        """Embeds texts: a float32 array (n, dim), row i for texts[i] (a single str: (1, dim)).
        Texts over the token limit are truncated; `embed_windowed` keeps all of a long text.
        `prompt_name` / `prompt` choose this call's prompt instead of the embedder's."""
        return self._rows(texts, prompt_name, prompt, lambda h, arr, n, out: self._lib.sutra_embed_batch(
            h, arr, n, _fptr(out), out.size))

    def _rows(self, texts: str | Iterable[str], prompt_name: str | None, prompt: str | None, call) -> np.ndarray:
        """One float32 row per text from call(handle, texts, n, out), under this call's prompt."""
        items, _ = _as_list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        arr, _keep = _text_array(items)
        with self._Prompt(self, prompt_name, prompt):
            self._check(call(self._h(), arr, len(items), out))
        return out

    def encode(self, sentences: str | Iterable[str], prompt_name: str | None = None, prompt: str | None = None,
               batch_size: int = 32, show_progress_bar: bool | None = None,
               output_value: str | None = "sentence_embedding", precision: str = "float32",
               convert_to_numpy: bool = True, convert_to_tensor: bool = False, device: str | None = None,
               normalize_embeddings: bool = False, truncate_dim: int | None = None, **kwargs: Any):
        """sentence-transformers' SentenceTransformer.encode, with its signature and results:
        a str gives a 1-d array, a list a 2-d one (convert_to_numpy=False: a list of 1-d arrays;
        convert_to_tensor=True: a torch tensor, if torch is installed). The model's own modules
        (its Normalize, its Dense layers) apply as in sentence-transformers; normalize_embeddings
        L2-normalises after that, and truncate_dim keeps the first dimensions before normalising.
        batch_size is accepted and not needed: the engine batches by tokens, without padding.
        device must be None or this embedder's; precision must be float32."""
        if output_value not in ("sentence_embedding", None):
            raise ValueError(f"output_value {output_value!r}: this engine gives sentence embeddings only")
        if precision != "float32":
            raise ValueError(f"precision {precision!r}: only float32")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
        if device is not None and str(device).split(":")[0] != self.info()["device"]:
            raise ValueError(f"device {device!r}: this embedder runs on {self.info()['device']}")
        for key in kwargs:
            if key not in ("task", "chunk_size", "pool"):
                raise TypeError(f"encode() got an unexpected keyword argument {key!r}")
        items, single = _as_list(sentences)
        vecs = self.embed(items, prompt_name=prompt_name, prompt=prompt)
        if truncate_dim is not None:
            if not 0 < truncate_dim <= self.dim:
                raise ValueError(f"truncate_dim {truncate_dim}: must be 1 .. {self.dim}")
            vecs = np.ascontiguousarray(vecs[:, :truncate_dim])
        if normalize_embeddings:
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            vecs = vecs / np.maximum(norms, 1e-12)
            vecs = vecs.astype(np.float32, copy=False)
        if convert_to_tensor:
            import torch  # noqa: PLC0415 (optional dependency)

            t = torch.from_numpy(vecs)
            return t[0] if single else t
        if not convert_to_numpy:
            rows = list(vecs)
            return rows[0] if single else rows
        return vecs[0] if single else vecs

    def encode_query(self, sentences: str | Iterable[str], **kwargs: Any):
        """encode() with the model's "query" prompt, if it has one (sentence-transformers' encode_query)."""
        if "prompt_name" not in kwargs and "prompt" not in kwargs and "query" in self.prompts:
            kwargs["prompt_name"] = "query"
        return self.encode(sentences, **kwargs)

    def encode_document(self, sentences: str | Iterable[str], **kwargs: Any):
        """encode() with the model's "document" (else "passage") prompt, if it has one."""
        if "prompt_name" not in kwargs and "prompt" not in kwargs:
            prompts = self.prompts
            for cand in ("document", "passage"):
                if cand in prompts:
                    kwargs["prompt_name"] = cand
                    break
        return self.encode(sentences, **kwargs)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity of every row of a with every row of b."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float32))
        b = np.atleast_2d(np.asarray(b, dtype=np.float32))
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T

    # ---- long documents ------------------------------------------------------------------------

    def _window(self, size: int | None, overlap: int | None, aggregate: str) -> _ffi.Window:
        if aggregate not in _ffi.AGGREGATE:
            raise ValueError(f"aggregate {aggregate!r}: expected mean, max or weighted")
        w = _ffi.Window()
        self._lib.sutra_window_init_sized(self._h(), byref(w), ctypes.sizeof(w))
        if size is not None:
            w.size = size
        if overlap is not None:
            w.overlap = overlap
        elif size is not None:
            w.overlap = size // 4
        w.aggregate = _ffi.AGGREGATE[aggregate]
        return w

    def embed_windowed(self, texts: str | Iterable[str], *, size: int | None = None, overlap: int | None = None,
                       aggregate: str = "mean", prompt_name: str | None = None,
                       prompt: str | None = None) -> np.ndarray:
        """Embeds texts of any length: each is cut into windows of `size` tokens (default the
        token limit) sharing `overlap` text tokens (default size / 4), and its row is the
        aggregate ("mean", "max", "weighted" by tokens) of its windows' vectors. A text that fits
        one window gets exactly embed()'s vector."""
        if aggregate not in _ffi.AGGREGATE:
            raise ValueError(f"aggregate {aggregate!r}: expected mean, max or weighted")

        def call(h, arr, n, out):
            w = self._window(size, overlap, aggregate)
            return self._lib.sutra_embed_windowed(h, arr, n, byref(w), _fptr(out), out.size)

        return self._rows(texts, prompt_name, prompt, call)

    def late_chunks(self, text: str, *, chunk_starts: Sequence[int] | None = None, chunk_tokens: int | None = None,
                    size: int | None = None, overlap: int | None = None, prompt_name: str | None = None,
                    prompt: str | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Late chunking: encodes the whole document, then pools each chunk's token states, so
        that every chunk's vector has seen its context. Chunks are given by `chunk_starts`
        (character offsets into text, strictly increasing; chunk i runs to the next start, the
        last to the end) or are runs of `chunk_tokens` tokens (default: 256 or the token limit,
        whichever is smaller). A document over the token limit is encoded in overlapping windows
        of `size` tokens. Returns (vectors (n_chunks, dim), [(start, end) character spans])."""
        raw = _encode(text, "text")
        starts_arr = None
        n_starts = 0
        if chunk_starts is not None:
            if chunk_tokens is not None:
                raise ValueError("give chunk_starts or chunk_tokens, not both")
            starts = list(chunk_starts)
            if not starts:
                raise ValueError("chunk_starts is empty")
            byte_of = _char_to_byte(text)
            for i, s in enumerate(starts):
                if not isinstance(s, int) or not 0 <= s < len(text):
                    raise ValueError(f"chunk_starts[{i}] = {s!r}: must be an int in [0, {len(text)})")
                if i and s <= starts[i - 1]:
                    raise ValueError(f"chunk_starts[{i}] = {s} does not follow {starts[i - 1]}: must increase")
            starts_arr = (c_size_t * len(starts))(*[byte_of[s] for s in starts])
            n_starts = len(starts)
            chunk_tokens = 0
        elif chunk_tokens is None:
            chunk_tokens = min(256, self.max_tokens)
        n = c_size_t(0)
        with self._Prompt(self, prompt_name, prompt):
            w = self._window(size, overlap, "mean")
            h = self._h()
            st = self._lib.sutra_embed_late_chunks(h, raw, len(raw), starts_arr, n_starts, chunk_tokens, byref(w),
                                                   None, 0, None, 0, byref(n))
            if st not in (_ffi.OK, _ffi.ERR_BUFFER_TOO_SMALL):
                self._check(st)
            count = n.value
            out = np.empty((count, self.dim), dtype=np.float32)
            spans = (_ffi.Chunk * max(count, 1))()
            self._check(self._lib.sutra_embed_late_chunks(h, raw, len(raw), starts_arr, n_starts, chunk_tokens,
                                                          byref(w), _fptr(out), out.size, spans, count, byref(n)))
        char_of = _byte_to_char(text)
        return out, [(char_of[spans[i].start], char_of[spans[i].end]) for i in range(count)]

    # ---- tokens --------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special_tokens: bool = True, truncation: bool = True,
                 return_offsets: bool = False, prompt: str | None = None):
        """The token ids of text as embedding would see them (the model's special tokens, the
        prompt, truncation to the token limit). return_offsets=True also gives each token's
        character span in text ((-1, -1) for special and prompt tokens)."""
        raw = _encode(text, "text")
        opt = _ffi.TokenizeOptions()
        self._lib.sutra_tokenize_options_init_sized(byref(opt), ctypes.sizeof(opt))
        opt.no_truncate = 0 if truncation else 1
        opt.no_special = 0 if add_special_tokens else 1
        keep = None
        if prompt is not None:
            keep = _encode(prompt, "prompt")
            opt.prompt = keep
        err = ctypes.create_string_buffer(512)
        n = c_size_t(0)
        cap = max(64, len(raw) + 16)
        with self._lock:
            h = self._h()
            while True:
                ids = (c_int32 * cap)()
                starts = (c_int32 * cap)()
                ends = (c_int32 * cap)()
                st = self._lib.sutra_tokenize_ex(h, raw, len(raw), byref(opt), ids, starts, ends, cap, byref(n), err,
                                                 len(err))
                if st == _ffi.ERR_BUFFER_TOO_SMALL and n.value > cap:
                    cap = n.value
                    continue
                if st != _ffi.OK:
                    raise _error(st, _s(err.value))
                break
        del keep
        out = list(ids[: n.value])
        if not return_offsets:
            return out
        char_of = _byte_to_char(text)
        spans = [(-1, -1) if starts[i] < 0 else (char_of[starts[i]], char_of[ends[i]]) for i in range(n.value)]
        return out, spans

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str | None]:
        """The vocabulary entry of each id (None for an id the vocabulary lacks)."""
        with self._lock:
            h = self._h()
            return [None if (v := self._lib.sutra_embedder_token(h, int(i))) is None else _s(v) for i in ids]

    # ---- scores, sparse vectors, multi-vectors --------------------------------------------------

    def _need(self, bit: int, what: str) -> None:
        if not self._outputs & bit:
            raise UnsupportedError(f"this model gives no {what} (it gives: {', '.join(sorted(self.outputs))})",
                                   _ffi.ERR_UNSUPPORTED)

    def rerank(self, query: str, documents: Iterable[str], *, raw: bool = False) -> np.ndarray:
        """Relevance scores of documents for query (cross-encoders, Qwen3-Reranker): float32 (n,),
        as sentence-transformers' CrossEncoder.predict gives them (raw=True: the logits)."""
        self._need(_ffi.OUTPUT_RERANK, "rerank scores")
        docs, _ = _as_list(documents)
        out = np.empty(len(docs), dtype=np.float32)
        if not docs:
            return out
        q = _encode(query, "query")
        arr, _keep = _text_array(docs, "document")
        with self._lock:
            self._check(self._lib.sutra_rerank(self._h(), q, arr, len(docs), 1 if raw else 0, _fptr(out), out.size))
        return out

    def rank(self, query: str, documents: Sequence[str], *, top_k: int | None = None,
             return_documents: bool = False) -> list[dict[str, Any]]:
        """CrossEncoder.rank: [{"corpus_id", "score"(, "text")}], best first."""
        docs = list(documents)
        scores = self.rerank(query, docs)
        order = sorted(range(len(docs)), key=lambda i: -float(scores[i]))
        if top_k is not None:
            order = order[:top_k]
        return [{"corpus_id": i, "score": float(scores[i]), **({"text": docs[i]} if return_documents else {})}
                for i in order]

    def _outputs_call(self, items: list[str], sparse: bool, multivector: bool, dense: bool):
        arr, _keep = _text_array(items)
        n = len(items)
        info = self.info()
        o = _ffi.Outputs()
        self._lib.sutra_outputs_init_sized(byref(o), ctypes.sizeof(o))
        dense_out = None
        if dense:
            dense_out = np.empty((n, self.dim), dtype=np.float32)
            o.dense, o.dense_cap = _fptr(dense_out), dense_out.size
        sp_off = mv_off = None
        if sparse:
            sp_off = (c_size_t * (n + 1))()
            o.sparse_offsets = sp_off
            sp_ids, sp_w = _sparse_buffers(o, n * self.max_tokens if info["sparse_kind"] == "bge-m3"
                                           else n * min(info["vocab_size"], 4096))
        if multivector:
            mv_off = (c_size_t * (n + 1))()
            o.mv_offsets = mv_off
            width = info["multivector_dim"]
            mv = np.empty(n * max(self.max_tokens - 1, 1) * width, dtype=np.float32)
            o.mv, o.mv_cap = _fptr(mv), mv.size
        with self._lock:
            st = self._lib.sutra_embed_outputs(self._h(), arr, n, byref(o))
            if st == _ffi.ERR_BUFFER_TOO_SMALL and sparse and o.sparse_count > o.sparse_cap:
                # SPLADE: a text may have up to vocab_size entries
                sp_ids, sp_w = _sparse_buffers(o, o.sparse_count)
                st = self._lib.sutra_embed_outputs(self._h(), arr, n, byref(o))
            self._check(st)
        result: dict[str, Any] = {}
        if dense:
            result["dense"] = dense_out
        if sparse:
            result["sparse"] = [dict(zip(sp_ids[sp_off[i]:sp_off[i + 1]].tolist(),
                                         sp_w[sp_off[i]:sp_off[i + 1]].tolist())) for i in range(n)]
        if multivector:
            width = info["multivector_dim"]
            rows = mv[: o.mv_rows * width].reshape(o.mv_rows, width)
            result["multivector"] = [rows[mv_off[i]:mv_off[i + 1]].copy() for i in range(n)]
        return result

    def sparse(self, texts: str | Iterable[str]) -> list[dict[int, float]]:
        """Lexical weights per text (SPLADE, bge-m3): {token id: weight > 0}; token strings
        through convert_ids_to_tokens."""
        self._need(_ffi.OUTPUT_SPARSE, "sparse vectors")
        items, _ = _as_list(texts)
        return self._outputs_call(items, True, False, False)["sparse"] if items else []

    def multivector(self, texts: str | Iterable[str]) -> list[np.ndarray]:
        """ColBERT vectors per text (bge-m3): a float32 (tokens, width) array each."""
        self._need(_ffi.OUTPUT_MULTIVECTOR, "multi-vectors")
        items, _ = _as_list(texts)
        return self._outputs_call(items, False, True, False)["multivector"] if items else []

    def embed_all(self, texts: str | Iterable[str]) -> dict[str, Any]:
        """Every output the model gives, from one forward pass per batch: {"dense", "sparse",
        "multivector"} as embed(), sparse() and multivector() give them (bge-m3's three)."""
        items, _ = _as_list(texts)
        return self._outputs_call(items, bool(self._outputs & _ffi.OUTPUT_SPARSE),
                                  bool(self._outputs & _ffi.OUTPUT_MULTIVECTOR), True)


def _sparse_buffers(o: _ffi.Outputs, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and weights arrays of cap entries, set as o's sparse buffers (the caller keeps them
    alive while the library writes them)."""
    ids = np.empty(cap, dtype=np.int32)
    weights = np.empty(cap, dtype=np.float32)
    o.sparse_ids = ids.ctypes.data_as(ctypes.POINTER(c_int32))
    o.sparse_weights = _fptr(weights)
    o.sparse_cap = cap
    return ids, weights


def _char_to_byte(text: str) -> list[int]:
    out, pos = [], 0
    for ch in text:
        out.append(pos)
        pos += len(ch.encode("utf-8", "surrogatepass"))
    out.append(pos)
    return out


def _byte_to_char(text: str) -> dict[int, int]:
    return {b: ci for ci, b in enumerate(_char_to_byte(text))}


def _describe_prompts(lib: ctypes.CDLL, path: str) -> list[str]:
    s = _ffi.ModelSummary()
    err = ctypes.create_string_buffer(512)
    if lib.sutra_model_describe(path.encode(), None, None, _ffi.DEVICE["cpu"], 0, byref(s), err, len(err)) != _ffi.OK:
        return []
    return [p for p in _s(s.prompts).split(",") if p]


def models_dir() -> str:
    """Where model names are looked up by default ($SUTRA_MODELS_DIR, else ~/.cache/sutra/models)."""
    lib = library()
    buf = ctypes.create_string_buffer(4096)
    lib.sutra_models_dir(buf, len(buf))
    return _s(buf.value)


def resolve(model: str, *, models_dir: str | None = None, hub_cache: str | None = None,
            offline: bool | None = None) -> str:
    """The local directory model names (downloading a hub id into the hub cache unless offline)."""
    lib = library()
    hub = _ffi.HubOptions()
    keep = _opt(hub_cache)
    hub.cache_dir = keep
    if offline is not None:
        hub.offline = _ffi.SWITCH_ON if offline else _ffi.SWITCH_OFF
    path = ctypes.create_string_buffer(4096)
    err = ctypes.create_string_buffer(1024)
    st = lib.sutra_model_resolve(_encode(model, "model"), _opt(models_dir), byref(hub), path, len(path), err, len(err))
    if st != _ffi.OK:
        raise _error(st, _s(err.value))
    return _s(path.value)
