//! The C API of libsutra (include/sutra.h) as Rust sees it: hand-written declarations of the
//! structs and calls this crate uses, each struct field for field. tests/layout.rs compares every
//! size and offset with what the C compiler gives (build.rs), so a header change this file does
//! not follow fails the tests.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub type sutra_status = c_int;
pub const SUTRA_OK: sutra_status = 0;
pub const SUTRA_ERR_INVALID_ARGUMENT: sutra_status = -1;
pub const SUTRA_ERR_IO: sutra_status = -2;
pub const SUTRA_ERR_FORMAT: sutra_status = -3;
pub const SUTRA_ERR_MODEL: sutra_status = -4;
pub const SUTRA_ERR_OUT_OF_MEMORY: sutra_status = -5;
pub const SUTRA_ERR_INVALID_UTF8: sutra_status = -6;
pub const SUTRA_ERR_BUFFER_TOO_SMALL: sutra_status = -7;
pub const SUTRA_ERR_UNSUPPORTED: sutra_status = -8;

/// The major and minor version these declarations follow (SUTRA_VERSION_NUMBER / 100).
pub const ABI_VERSION: c_int = 3;

pub const SUTRA_OUTPUT_RERANK: c_int = 8;

#[repr(C)]
pub struct sutra_embedder {
    _private: [u8; 0],
}

pub type sutra_progress_fn = Option<unsafe extern "C" fn(*mut c_void, *const c_char, u64, u64)>;

#[repr(C)]
pub struct sutra_hub_options {
    pub cache_dir: *const c_char,
    pub endpoint: *const c_char,
    pub token: *const c_char,
    pub offline: c_int,
    pub progress: sutra_progress_fn,
    pub progress_data: *mut c_void,
}

#[repr(C)]
pub struct sutra_config {
    pub struct_size: usize,
    pub model: *const c_char,
    pub name: *const c_char,
    pub dimensions: c_int,
    pub max_sequence_length: c_int,
    pub threads: c_int,
    pub pooling: c_int,
    pub normalize: c_int,
    pub max_batch_tokens: c_int,
    pub use_flash_attention: c_int,
    pub flash_attention_threshold: c_int,
    pub attention: c_int,
    pub device: c_int,
    pub gpu_index: c_int,
    pub gpu_dtype: c_int,
    pub prompt_name: *const c_char,
    pub prompt: *const c_char,
    pub models_dir: *const c_char,
    pub approximate_gelu: c_int,
    pub cpu_isa: c_int,
    pub gpu_graphs: c_int,
    pub gpu_gemm: c_int,
    pub gpu_flash_wgmma: c_int,
    pub gpu_layernorm_fold: c_int,
    pub gpu_fold_min_tokens: c_int,
    pub rerank_instruction: *const c_char,
    pub profile: c_int,
    pub hub: sutra_hub_options,
}

#[repr(C)]
pub struct sutra_window {
    pub struct_size: usize,
    pub size: c_int,
    pub overlap: c_int,
    pub aggregate: c_int,
}

#[repr(C)]
#[derive(Default)]
pub struct sutra_stats {
    pub texts: u64,
    pub tokens: u64,
    pub batches: u64,
    pub batches_standard: u64,
    pub batches_flash: u64,
    pub truncated: u64,
    pub last_path: c_int,
    pub last_batch_max_len: c_int,
}

#[repr(C)]
pub struct sutra_model_info {
    pub name: *const c_char,
    pub path: *const c_char,
    pub architecture: *const c_char,
    pub hidden_size: c_int,
    pub vector_size: c_int,
    pub dense_modules: c_int,
    pub num_layers: c_int,
    pub num_heads: c_int,
    pub intermediate_size: c_int,
    pub vocab_size: c_int,
    pub max_position_embeddings: c_int,
    pub max_tokens: c_int,
    pub dim: c_int,
    pub pooling: *const c_char,
    pub normalize: c_int,
    pub weights_dtype: *const c_char,
    pub tokenizer: *const c_char,
    pub cpu_features: *const c_char,
    pub threads: c_int,
    pub device: *const c_char,
    pub gpu_name: *const c_char,
    pub gpu_cc_major: c_int,
    pub gpu_cc_minor: c_int,
    pub attention_kernels: *const c_char,
    pub device_note: *const c_char,
    pub gpu_bytes: usize,
    pub gpu_peak_bytes: usize,
    pub attention: *const c_char,
    pub flash_threshold: c_int,
    pub cpu_isa: *const c_char,
    pub models_dir: *const c_char,
    pub approximate_gelu: c_int,
    pub profile: c_int,
    pub backend_settings: *const c_char,
    pub compute_dtype: *const c_char,
    pub outputs: *const c_char,
    pub sparse_kind: *const c_char,
    pub multivector_dim: c_int,
    pub score_activation: *const c_char,
    pub threads_source: *const c_char,
}

extern "C" {
    pub fn sutra_version() -> *const c_char;
    pub fn sutra_version_number() -> c_int;
    pub fn sutra_status_str(status: sutra_status) -> *const c_char;
    pub fn sutra_config_init_sized(config: *mut sutra_config, struct_size: usize);
    pub fn sutra_embedder_create(config: *const sutra_config, out: *mut *mut sutra_embedder, err: *mut c_char,
                                 errcap: usize) -> sutra_status;
    pub fn sutra_embedder_destroy(embedder: *mut sutra_embedder);
    pub fn sutra_embedder_dim(embedder: *const sutra_embedder) -> c_int;
    pub fn sutra_embedder_max_tokens(embedder: *const sutra_embedder) -> c_int;
    pub fn sutra_embedder_last_error(embedder: *const sutra_embedder) -> *const c_char;
    pub fn sutra_embed(embedder: *mut sutra_embedder, text: *const c_char, len: usize, out: *mut f32,
                       out_cap: usize) -> sutra_status;
    pub fn sutra_embed_batch(embedder: *mut sutra_embedder, texts: *const *const c_char, n: usize, out: *mut f32,
                             out_cap: usize) -> sutra_status;
    pub fn sutra_tokenize(embedder: *mut sutra_embedder, text: *const c_char, len: usize, ids: *mut i32,
                          ids_cap: usize, n_ids: *mut usize) -> sutra_status;
    pub fn sutra_embedder_outputs(embedder: *const sutra_embedder) -> c_int;
    pub fn sutra_rerank(embedder: *mut sutra_embedder, query: *const c_char, documents: *const *const c_char, n: usize,
                        raw: c_int, scores: *mut f32, scores_cap: usize) -> sutra_status;
    pub fn sutra_embedder_info_sized(embedder: *const sutra_embedder, info: *mut sutra_model_info,
                                     info_size: usize) -> sutra_status;
    pub fn sutra_embedder_stats_sized(embedder: *const sutra_embedder, stats: *mut sutra_stats,
                                      stats_size: usize) -> sutra_status;
    pub fn sutra_embedder_stats_reset(embedder: *mut sutra_embedder);
    pub fn sutra_window_init_sized(embedder: *const sutra_embedder, window: *mut sutra_window, struct_size: usize);
    pub fn sutra_embed_windowed(embedder: *mut sutra_embedder, texts: *const *const c_char, n: usize,
                                window: *const sutra_window, out: *mut f32, out_cap: usize) -> sutra_status;
}
