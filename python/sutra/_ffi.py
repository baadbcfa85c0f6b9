"""The C API of libsutra as ctypes sees it: the structs of include/sutra.h, field for field, and
the signatures of the calls the package uses.

Every struct here mirrors one of sutra.h in order and type; python/tests/test_layout.py compiles
the header and compares each field's offset and each struct's size, so a change to the header that
this file does not follow fails the tests. ctypes drops the GIL for every call into the library
(CDLL), which is what lets other Python threads run while the engine computes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_size_t, c_uint64,
                    c_void_p)

# the major and minor version this file was written for (sutra.h's SUTRA_VERSION_NUMBER / 100)
ABI_VERSION = 3  # 0.3

OK = 0
ERR_INVALID_ARGUMENT = -1
ERR_IO = -2
ERR_FORMAT = -3
ERR_MODEL = -4
ERR_OUT_OF_MEMORY = -5
ERR_INVALID_UTF8 = -6
ERR_BUFFER_TOO_SMALL = -7
ERR_UNSUPPORTED = -8
ERR_INTERNAL = -9

POOLING = {"model": 0, "mean": 1, "cls": 2, "max": 3, "last": 4}
DEVICE = {"auto": 0, "cpu": 1, "cuda": 2}
ATTENTION = {"auto": 0, "standard": 1, "flash": 2}
AGGREGATE = {"mean": 0, "max": 1, "weighted": 2}
GPU_DTYPE = {"auto": 0, "fp16": 1, "float16": 1, "bf16": 2, "bfloat16": 2}
SWITCH_AUTO, SWITCH_ON, SWITCH_OFF = 0, 1, 2
NORMALIZE_MODEL, NORMALIZE_ON, NORMALIZE_OFF = 0, 1, 2

OUTPUT_DENSE, OUTPUT_SPARSE, OUTPUT_MULTIVECTOR, OUTPUT_RERANK = 1, 2, 4, 8

PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_uint64)


class HubOptions(ctypes.Structure):
    _fields_ = [
        ("cache_dir", c_char_p),
        ("endpoint", c_char_p),
        ("token", c_char_p),
        ("offline", c_int),
        ("progress", PROGRESS_FN),
        ("progress_data", c_void_p),
    ]


class Config(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("model", c_char_p),
        ("name", c_char_p),
        ("dimensions", c_int),
        ("max_sequence_length", c_int),
        ("threads", c_int),
        ("pooling", c_int),
        ("normalize", c_int),
        ("max_batch_tokens", c_int),
        ("use_flash_attention", c_int),
        ("flash_attention_threshold", c_int),
        ("attention", c_int),
        ("device", c_int),
        ("gpu_index", c_int),
        ("gpu_dtype", c_int),
        ("prompt_name", c_char_p),
        ("prompt", c_char_p),
        ("models_dir", c_char_p),
        ("approximate_gelu", c_int),
        ("cpu_isa", c_int),
        ("gpu_graphs", c_int),
        ("gpu_gemm", c_int),
        ("gpu_flash_wgmma", c_int),
        ("gpu_layernorm_fold", c_int),
        ("gpu_fold_min_tokens", c_int),
        ("rerank_instruction", c_char_p),
        ("profile", c_int),
        ("hub", HubOptions),
    ]


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("name", c_char_p),
        ("path", c_char_p),
        ("architecture", c_char_p),
        ("hidden_size", c_int),
        ("vector_size", c_int),
        ("dense_modules", c_int),
        ("num_layers", c_int),
        ("num_heads", c_int),
        ("intermediate_size", c_int),
        ("vocab_size", c_int),
        ("max_position_embeddings", c_int),
        ("max_tokens", c_int),
        ("dim", c_int),
        ("pooling", c_char_p),
        ("normalize", c_int),
        ("weights_dtype", c_char_p),
        ("tokenizer", c_char_p),
        ("cpu_features", c_char_p),
        ("threads", c_int),
        ("device", c_char_p),
        ("gpu_name", c_char_p),
        ("gpu_cc_major", c_int),
        ("gpu_cc_minor", c_int),
        ("attention_kernels", c_char_p),
        ("device_note", c_char_p),
        ("gpu_bytes", c_size_t),
        ("gpu_peak_bytes", c_size_t),
        ("attention", c_char_p),
        ("flash_threshold", c_int),
        ("cpu_isa", c_char_p),
        ("models_dir", c_char_p),
        ("approximate_gelu", c_int),
        ("profile", c_int),
        ("backend_settings", c_char_p),
        ("compute_dtype", c_char_p),
        ("outputs", c_char_p),
        ("sparse_kind", c_char_p),
        ("multivector_dim", c_int),
        ("score_activation", c_char_p),
        ("threads_source", c_char_p),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("texts", c_uint64),
        ("tokens", c_uint64),
        ("batches", c_uint64),
        ("batches_standard", c_uint64),
        ("batches_flash", c_uint64),
        ("truncated", c_uint64),
        ("last_path", c_int),
        ("last_batch_max_len", c_int),
    ]


class Window(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("size", c_int),
        ("overlap", c_int),
        ("aggregate", c_int),
    ]


class Chunk(ctypes.Structure):
    _fields_ = [
        ("start", c_size_t),
        ("end", c_size_t),
        ("tokens", c_int),
    ]


class Outputs(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("dense", POINTER(c_float)),
        ("dense_cap", c_size_t),
        ("dense_raw", c_int),
        ("sparse_offsets", POINTER(c_size_t)),
        ("sparse_ids", POINTER(c_int32)),
        ("sparse_weights", POINTER(c_float)),
        ("sparse_cap", c_size_t),
        ("sparse_count", c_size_t),
        ("mv_offsets", POINTER(c_size_t)),
        ("mv", POINTER(c_float)),
        ("mv_cap", c_size_t),
        ("mv_rows", c_size_t),
    ]


class TokenizeOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("no_truncate", c_int),
        ("truncate_left", c_int),
        ("no_special", c_int),
        ("prompt", c_char_p),
    ]


class ModelSummary(ctypes.Structure):
    _fields_ = [
        ("architecture", c_char * 32),
        ("pooling", c_char * 16),
        ("weights_dtype", c_char * 16),
        ("prompts", c_char * 512),
        ("attention_kernels", c_char * 128),
        ("hidden_size", c_int),
        ("vector_size", c_int),
        ("layers", c_int),
        ("heads", c_int),
        ("head_dim", c_int),
        ("max_tokens", c_int),
        ("normalize", c_int),
        ("parameters", c_uint64),
        ("bytes", c_uint64),
        ("path", c_char * 4096),
    ]


class ModelEntry(ctypes.Structure):
    _fields_ = [
        ("id", c_char * 512),
        ("path", c_char * 4096),
        ("source", c_char * 16),
        ("commit", c_char * 64),
        ("bytes", c_uint64),
    ]


# every struct the tests check against the header, by its C name
STRUCTS = {
    "sutra_hub_options": HubOptions,
    "sutra_config": Config,
    "sutra_model_info": ModelInfo,
    "sutra_stats": Stats,
    "sutra_window": Window,
    "sutra_chunk": Chunk,
    "sutra_outputs": Outputs,
    "sutra_tokenize_options": TokenizeOptions,
    "sutra_model_summary": ModelSummary,
    "sutra_model_entry": ModelEntry,
}

_P = POINTER
_SIGNATURES = {
    "sutra_version": (c_char_p, []),
    "sutra_version_number": (c_int, []),
    "sutra_status_str": (c_char_p, [c_int]),
    "sutra_config_init_sized": (None, [_P(Config), c_size_t]),
    "sutra_embedder_create": (c_int, [_P(Config), _P(c_void_p), c_char_p, c_size_t]),
    "sutra_embedder_destroy": (None, [c_void_p]),
    "sutra_embedder_dim": (c_int, [c_void_p]),
    "sutra_embedder_max_tokens": (c_int, [c_void_p]),
    "sutra_embedder_last_error": (c_char_p, [c_void_p]),
    "sutra_embed_batch": (c_int, [c_void_p, _P(c_char_p), c_size_t, _P(c_float), c_size_t]),
    "sutra_embedder_find_prompt": (c_char_p, [c_void_p, c_char_p]),
    "sutra_embedder_outputs": (c_int, [c_void_p]),
    "sutra_rerank": (c_int, [c_void_p, c_char_p, _P(c_char_p), c_size_t, c_int, _P(c_float), c_size_t]),
    "sutra_outputs_init_sized": (None, [_P(Outputs), c_size_t]),
    "sutra_embed_outputs": (c_int, [c_void_p, _P(c_char_p), c_size_t, _P(Outputs)]),
    "sutra_embedder_info_sized": (c_int, [c_void_p, _P(ModelInfo), c_size_t]),
    "sutra_embedder_set_prompt": (c_int, [c_void_p, c_char_p, c_char_p]),
    "sutra_embedder_prompt": (c_char_p, [c_void_p]),
    "sutra_embedder_stats_sized": (c_int, [c_void_p, _P(Stats), c_size_t]),
    "sutra_embedder_stats_reset": (None, [c_void_p]),
    "sutra_window_init_sized": (None, [c_void_p, _P(Window), c_size_t]),
    "sutra_embed_windowed": (c_int, [c_void_p, _P(c_char_p), c_size_t, _P(Window), _P(c_float), c_size_t]),
    "sutra_embed_late_chunks": (c_int, [c_void_p, c_char_p, c_size_t, _P(c_size_t), c_size_t, c_int, _P(Window),
                                        _P(c_float), c_size_t, _P(Chunk), c_size_t, _P(c_size_t)]),
    "sutra_tokenize_options_init_sized": (None, [_P(TokenizeOptions), c_size_t]),
    "sutra_tokenize_ex": (c_int, [c_void_p, c_char_p, c_size_t, _P(TokenizeOptions), _P(c_int32), _P(c_int32),
                                  _P(c_int32), c_size_t, _P(c_size_t), c_char_p, c_size_t]),
    "sutra_embedder_token": (c_char_p, [c_void_p, c_int32]),
    "sutra_model_resolve": (c_int, [c_char_p, c_char_p, _P(HubOptions), c_char_p, c_size_t, c_char_p, c_size_t]),
    "sutra_model_describe": (c_int, [c_char_p, c_char_p, _P(HubOptions), c_int, c_int, _P(ModelSummary), c_char_p,
                                     c_size_t]),
    "sutra_models_list": (c_int, [c_char_p, c_char_p, _P(HubOptions), _P(_P(ModelEntry)), _P(c_size_t), c_char_p,
                                  c_size_t]),
    "sutra_models_dir": (c_size_t, [c_char_p, c_size_t]),
}


def _candidates(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, name) for name in ("libsutra.so", "libsutra.so.0", "libsutra.dylib")]
    found = ctypes.util.find_library("sutra")
    if found:
        out.append(found)
    out.append("libsutra.so.0")
    return out


def load(path: str | None = None) -> ctypes.CDLL:
    """Opens libsutra: `path` if given, else the copy installed inside this package (a wheel
    carries one), else the system's (the dynamic linker's search path). Checks that its version
    is the one these declarations were written for."""
    errors = []
    for cand in _candidates(path):
        if os.path.sep in cand and not os.path.exists(cand):
            continue
        try:
            lib = ctypes.CDLL(cand)
        except OSError as exc:
            errors.append(f"{cand}: {exc}")
            continue
        for name, (res, args) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        lib.free_ = ctypes.CDLL(None).free
        lib.free_.argtypes = [c_void_p]
        lib.free_.restype = None
        number = lib.sutra_version_number()
        if number // 100 != ABI_VERSION:
            raise ImportError(f"{cand} is Sutra {lib.sutra_version().decode()}; this package speaks the "
                              f"0.{ABI_VERSION} API")
        return lib
    detail = "; ".join(errors) if errors else "no libsutra found in the package or on the library path"
    raise ImportError(f"cannot load libsutra ({detail}); install the package with pip, which builds it")
