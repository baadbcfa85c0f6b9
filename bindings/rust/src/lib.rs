//! Sutra's text-embedding engine from Rust: safe bindings over libsutra's C API (`include/sutra.h`).
//!
//! ```no_run
//! use sutra::{Aggregation, Embedder, EmbedderConfig, SlidingWindowConfig};
//!
//! let config = EmbedderConfig {
//!     name: "all-MiniLM-L6-v2".to_string(),
//!     max_sequence_length: 256,
//!     use_flash_attention: true,
//!     ..Default::default()
//! };
//! let mut embedder = Embedder::new(config)?;
//! let vector = embedder.embed("A man is playing a guitar.")?;
//! let window = SlidingWindowConfig { window_size: 128, overlap: 32, aggregation: Aggregation::Weighted };
//! let document = embedder.embed_sliding_window("a long document ...", &window)?;
//! # Ok::<(), sutra::Error>(())
//! ```
//!
//! The crate links the installed libsutra (found with pkg-config, see build.rs); it has no
//! dependencies of its own.

mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int};
use std::path::PathBuf;
use std::ptr::{self, NonNull};

#[doc(hidden)]
pub mod layout {
    //! What the tests compare: the C compiler's layout of sutra.h and this crate's.
    include!(concat!(env!("OUT_DIR"), "/layout.rs"));
    pub use crate::ffi::{sutra_config, sutra_hub_options, sutra_model_info, sutra_stats, sutra_window};
}

/// What went wrong, by the library's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    Io,
    Format,
    Model,
    OutOfMemory,
    InvalidUtf8,
    BufferTooSmall,
    Unsupported,
    Internal,
}

impl Status {
    fn from_code(code: c_int) -> Status {
        match code {
            ffi::SUTRA_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            ffi::SUTRA_ERR_IO => Status::Io,
            ffi::SUTRA_ERR_FORMAT => Status::Format,
            ffi::SUTRA_ERR_MODEL => Status::Model,
            ffi::SUTRA_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            ffi::SUTRA_ERR_INVALID_UTF8 => Status::InvalidUtf8,
            ffi::SUTRA_ERR_BUFFER_TOO_SMALL => Status::BufferTooSmall,
            ffi::SUTRA_ERR_UNSUPPORTED => Status::Unsupported,
            _ => Status::Internal,
        }
    }
}

/// A failed call: the status and the library's message, which names the file, tensor, field or
/// input at fault.
#[derive(Debug, Clone)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn invalid(message: String) -> Error {
    Error { status: Status::InvalidArgument, message }
}

fn cstring(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|e| invalid(format!("{} contains a NUL byte at {}", what, e.nul_position())))
}

fn to_int(what: &str, v: usize) -> Result<c_int> {
    c_int::try_from(v).map_err(|_| invalid(format!("{} = {} is too large", what, v)))
}

unsafe fn string_of(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// How a model's token states become one vector (the model's own choice by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Model,
    Mean,
    Cls,
    Max,
    Last,
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The GPU when the library has CUDA and the machine a supported GPU, else the CPU.
    Auto,
    Cpu,
    /// The CUDA device of that index, or an error.
    Cuda(usize),
}

/// Which attention path runs: Auto picks by length (flash above `flash_attention_threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    Auto,
    Standard,
    Flash,
}

/// How the model is loaded and run. Every field has a default (`..Default::default()`), the
/// model's own where it has one.
#[derive(Debug, Clone)]
pub struct EmbedderConfig {
    /// The model's name: a name in the models directory ("all-MiniLM-L6-v2"), a Hugging Face hub
    /// id ("BAAI/bge-small-en-v1.5", "org/name@revision") or a directory. Also what the embedder
    /// is called, unless `model` is set, in which case `model` is loaded and this is the display
    /// name only.
    pub name: String,
    /// The model to load, when it should not be `name` (a path, say); "" = `name`.
    pub model: String,
    /// Output dimensions (Matryoshka truncation, then re-normalisation); 0 = the model's.
    pub dimensions: usize,
    /// Token limit per input; 0 = the model's. Longer inputs are truncated (see
    /// `embed_sliding_window` for keeping all of them).
    pub max_sequence_length: usize,
    /// Exact flash attention (linear memory) for batches longer than
    /// `flash_attention_threshold` tokens; off: always the standard path.
    pub use_flash_attention: bool,
    /// 0 = the device's own threshold (512 tokens on the CPU, every length on the GPU).
    pub flash_attention_threshold: usize,
    /// Forces a path (Standard, Flash); Auto = by length as above.
    pub attention: Attention,
    pub device: Device,
    /// CPU threads; 0 = every online core.
    pub threads: usize,
    /// Tokens per forward batch; 0 = 8192 (or the token limit, if larger).
    pub max_batch_tokens: usize,
    pub pooling: Pooling,
    /// L2-normalise the vectors: None = as the model says (its Normalize module).
    pub normalize: Option<bool>,
    /// The model's prompt of this name before each input (e.g. "query").
    pub prompt_name: Option<String>,
    /// A raw prompt before each input.
    pub prompt: Option<String>,
    /// Where model names are looked up; None = $SUTRA_MODELS_DIR, else ~/.cache/sutra/models.
    pub models_dir: Option<PathBuf>,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig {
            name: "all-MiniLM-L6-v2".to_string(),
            model: String::new(),
            dimensions: 0,
            max_sequence_length: 0,
            use_flash_attention: true,
            flash_attention_threshold: 0,
            attention: Attention::Auto,
            device: Device::Auto,
            threads: 0,
            max_batch_tokens: 0,
            pooling: Pooling::Model,
            normalize: None,
            prompt_name: None,
            prompt: None,
            models_dir: None,
        }
    }
}

/// How window vectors of one long text become its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Their mean.
    Mean,
    /// Their element-wise maximum.
    Max,
    /// Their mean weighted by each window's number of text tokens.
    Weighted,
}

/// Sliding windows over a text longer than the token limit: windows of `window_size` tokens
/// (special and prompt tokens included), consecutive ones sharing `overlap` text tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindowConfig {
    pub window_size: usize,
    pub overlap: usize,
    pub aggregation: Aggregation,
}

impl Default for SlidingWindowConfig {
    /// 512-token windows sharing 128 tokens, averaged. A window larger than the model's token
    /// limit is an error: see `SlidingWindowConfig::for_embedder`.
    fn default() -> Self {
        SlidingWindowConfig { window_size: 512, overlap: 128, aggregation: Aggregation::Mean }
    }
}

impl SlidingWindowConfig {
    /// The library's defaults for this embedder: windows of its token limit sharing a quarter.
    pub fn for_embedder(embedder: &Embedder) -> Self {
        let limit = embedder.max_tokens();
        SlidingWindowConfig { window_size: limit, overlap: limit / 4, aggregation: Aggregation::Mean }
    }
}

/// Counters since the embedder was made (or `reset_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub texts: u64,
    pub tokens: u64,
    pub batches: u64,
    pub batches_standard: u64,
    pub batches_flash: u64,
    pub truncated: u64,
}

/// Facts about the loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    pub architecture: String,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub max_tokens: usize,
    pub dimensions: usize,
    pub pooling: String,
    pub normalize: bool,
    pub device: String,
    /// "auto", "standard" or "flash", as decided on this device.
    pub attention: String,
    pub flash_threshold: usize,
}

/// A loaded model. Calls take `&mut self`: an embedder runs one call at a time. It may move to
/// another thread (`Send`); for parallel work make one embedder per thread (the weights are
/// mapped read-only and shared by the page cache).
pub struct Embedder {
    raw: NonNull<ffi::sutra_embedder>,
    dim: usize,
    max_tokens: usize,
}

// The library allows an embedder to be used from any thread, one call at a time: &mut self says so.
unsafe impl Send for Embedder {}

impl Embedder {
    /// Loads the model `config` names.
    pub fn new(config: EmbedderConfig) -> Result<Embedder> {
        // SAFETY: only reads the library's version
        let number = unsafe { ffi::sutra_version_number() };
        if number / 100 != ffi::ABI_VERSION {
            return Err(Error {
                status: Status::Unsupported,
                message: format!("libsutra is {} ({}); this crate speaks the 0.{} API",
                                 unsafe { string_of(ffi::sutra_version()) }, number, ffi::ABI_VERSION),
            });
        }
        let model_name = if config.model.is_empty() { &config.name } else { &config.model };
        if model_name.is_empty() {
            return Err(invalid("EmbedderConfig: name (or model) is empty".to_string()));
        }
        let model = cstring("model", model_name)?;
        let name = if config.model.is_empty() { None } else { Some(cstring("name", &config.name)?) };
        let prompt_name = config.prompt_name.as_deref().map(|p| cstring("prompt_name", p)).transpose()?;
        let prompt = config.prompt.as_deref().map(|p| cstring("prompt", p)).transpose()?;
        let models_dir = match &config.models_dir {
            Some(p) => Some(cstring("models_dir", p.to_str().ok_or_else(|| invalid("models_dir is not UTF-8".into()))?)?),
            None => None,
        };
        // SAFETY: sutra_config is plain data; sutra_config_init_sized fills every field
        let mut cfg: ffi::sutra_config = unsafe { std::mem::zeroed() };
        unsafe { ffi::sutra_config_init_sized(&mut cfg, std::mem::size_of::<ffi::sutra_config>()) };
        cfg.model = model.as_ptr();
        cfg.name = name.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        cfg.prompt_name = prompt_name.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        cfg.prompt = prompt.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        cfg.models_dir = models_dir.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        cfg.dimensions = to_int("dimensions", config.dimensions)?;
        cfg.max_sequence_length = to_int("max_sequence_length", config.max_sequence_length)?;
        cfg.threads = to_int("threads", config.threads)?;
        cfg.max_batch_tokens = to_int("max_batch_tokens", config.max_batch_tokens)?;
        cfg.use_flash_attention = config.use_flash_attention as c_int;
        cfg.flash_attention_threshold = to_int("flash_attention_threshold", config.flash_attention_threshold)?;
        cfg.attention = match config.attention {
            Attention::Auto => 0,
            Attention::Standard => 1,
            Attention::Flash => 2,
        };
        let (device, gpu) = match config.device {
            Device::Auto => (0, 0),
            Device::Cpu => (1, 0),
            Device::Cuda(i) => (2, i),
        };
        cfg.device = device;
        cfg.gpu_index = to_int("gpu index", gpu)?;
        cfg.pooling = match config.pooling {
            Pooling::Model => 0,
            Pooling::Mean => 1,
            Pooling::Cls => 2,
            Pooling::Max => 3,
            Pooling::Last => 4,
        };
        cfg.normalize = match config.normalize {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        let mut raw: *mut ffi::sutra_embedder = ptr::null_mut();
        let mut err = vec![0 as c_char; 1024];
        // SAFETY: the strings cfg points at live until the call returns; err holds errcap bytes
        let st = unsafe { ffi::sutra_embedder_create(&cfg, &mut raw, err.as_mut_ptr(), err.len()) };
        if st != ffi::SUTRA_OK {
            let mut message = unsafe { string_of(err.as_ptr()) };
            if message.is_empty() {
                message = unsafe { string_of(ffi::sutra_status_str(st)) };
            }
            return Err(Error { status: Status::from_code(st), message });
        }
        let raw = NonNull::new(raw).ok_or_else(|| Error { status: Status::Internal,
                                                          message: "the library returned no embedder".into() })?;
        // SAFETY: raw is a live embedder
        let (dim, max_tokens) = unsafe { (ffi::sutra_embedder_dim(raw.as_ptr()), ffi::sutra_embedder_max_tokens(raw.as_ptr())) };
        Ok(Embedder { raw, dim: dim as usize, max_tokens: max_tokens as usize })
    }

    /// The width of the vectors this embedder gives.
    pub fn dimensions(&self) -> usize {
        self.dim
    }

    /// The token limit per input, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn check(&self, st: ffi::sutra_status) -> Result<()> {
        if st == ffi::SUTRA_OK {
            return Ok(());
        }
        // SAFETY: the embedder is live; the message is copied before the next call
        let mut message = unsafe { string_of(ffi::sutra_embedder_last_error(self.raw.as_ptr())) };
        if message.is_empty() {
            message = unsafe { string_of(ffi::sutra_status_str(st)) };
        }
        Err(Error { status: Status::from_code(st), message })
    }

    /// One text's vector. A text over the token limit is truncated (see `embed_sliding_window`).
    pub fn embed(&mut self, text: &str) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.dim];
        // SAFETY: text is len bytes; out holds dim floats
        let st = unsafe {
            ffi::sutra_embed(self.raw.as_ptr(), text.as_ptr() as *const c_char, text.len(), out.as_mut_ptr(), out.len())
        };
        self.check(st)?;
        Ok(out)
    }

    fn c_texts<S: AsRef<str>>(texts: &[S]) -> Result<Vec<CString>> {
        texts.iter().enumerate().map(|(i, t)| cstring(&format!("text {}", i), t.as_ref())).collect()
    }

    /// Many texts' vectors, row i for text i, batched by tokens without padding.
    pub fn embed_batch<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let owned = Self::c_texts(texts)?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
        let mut out = vec![0f32; texts.len() * self.dim];
        // SAFETY: ptrs holds n NUL-terminated strings that outlive the call; out n x dim floats
        let st = unsafe {
            ffi::sutra_embed_batch(self.raw.as_ptr(), ptrs.as_ptr(), ptrs.len(), out.as_mut_ptr(), out.len())
        };
        self.check(st)?;
        Ok(out.chunks(self.dim).map(|r| r.to_vec()).collect())
    }

    fn window(&self, config: &SlidingWindowConfig) -> Result<ffi::sutra_window> {
        let mut w = ffi::sutra_window { struct_size: 0, size: 0, overlap: 0, aggregate: 0 };
        // SAFETY: w is a sutra_window of the size passed
        unsafe { ffi::sutra_window_init_sized(self.raw.as_ptr(), &mut w, std::mem::size_of::<ffi::sutra_window>()) };
        w.size = to_int("window_size", config.window_size)?;
        w.overlap = to_int("overlap", config.overlap)?;
        w.aggregate = match config.aggregation {
            Aggregation::Mean => 0,
            Aggregation::Max => 1,
            Aggregation::Weighted => 2,
        };
        Ok(w)
    }

    /// A text of any length as one vector: its windows (see `SlidingWindowConfig`) embedded
    /// together, then aggregated (and normalised again when the embedder normalises). A text
    /// that fits one window gets exactly `embed`'s vector.
    pub fn embed_sliding_window(&mut self, text: &str, config: &SlidingWindowConfig) -> Result<Vec<f32>> {
        Ok(self.embed_sliding_window_batch(&[text], config)?.pop().unwrap_or_default())
    }

    /// `embed_sliding_window` for many texts, all their windows batched together.
    pub fn embed_sliding_window_batch<S: AsRef<str>>(&mut self, texts: &[S], config: &SlidingWindowConfig)
                                                     -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let w = self.window(config)?;
        let owned = Self::c_texts(texts)?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
        let mut out = vec![0f32; texts.len() * self.dim];
        // SAFETY: as in embed_batch; w is initialised
        let st = unsafe {
            ffi::sutra_embed_windowed(self.raw.as_ptr(), ptrs.as_ptr(), ptrs.len(), &w, out.as_mut_ptr(), out.len())
        };
        self.check(st)?;
        Ok(out.chunks(self.dim).map(|r| r.to_vec()).collect())
    }

    /// The token ids embedding would see (special tokens, prompt, truncation).
    pub fn tokenize(&mut self, text: &str) -> Result<Vec<i32>> {
        let mut ids = vec![0i32; self.max_tokens.max(1)];
        let mut n = 0usize;
        // SAFETY: text is len bytes; ids holds ids_cap entries
        let st = unsafe {
            ffi::sutra_tokenize(self.raw.as_ptr(), text.as_ptr() as *const c_char, text.len(), ids.as_mut_ptr(),
                                ids.len(), &mut n)
        };
        self.check(st)?;
        ids.truncate(n);
        Ok(ids)
    }

    /// Relevance scores of documents for a query (cross-encoders, Qwen3-Reranker); `raw`: logits.
    pub fn rerank<S: AsRef<str>>(&mut self, query: &str, documents: &[S], raw: bool) -> Result<Vec<f32>> {
        // SAFETY: reads the embedder's output kinds
        if unsafe { ffi::sutra_embedder_outputs(self.raw.as_ptr()) } & ffi::SUTRA_OUTPUT_RERANK == 0 {
            return Err(Error { status: Status::Unsupported, message: "this model gives no rerank scores".into() });
        }
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let q = cstring("query", query)?;
        let owned = Self::c_texts(documents)?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
        let mut scores = vec![0f32; documents.len()];
        // SAFETY: as in embed_batch
        let st = unsafe {
            ffi::sutra_rerank(self.raw.as_ptr(), q.as_ptr(), ptrs.as_ptr(), ptrs.len(), raw as c_int,
                              scores.as_mut_ptr(), scores.len())
        };
        self.check(st)?;
        Ok(scores)
    }

    /// Counters: texts, tokens, batches, and which attention path the batches ran.
    pub fn stats(&self) -> Stats {
        let mut s = ffi::sutra_stats::default();
        // SAFETY: s is a sutra_stats of the size passed
        unsafe { ffi::sutra_embedder_stats_sized(self.raw.as_ptr(), &mut s, std::mem::size_of::<ffi::sutra_stats>()) };
        Stats {
            texts: s.texts,
            tokens: s.tokens,
            batches: s.batches,
            batches_standard: s.batches_standard,
            batches_flash: s.batches_flash,
            truncated: s.truncated,
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&mut self) {
        // SAFETY: the embedder is live
        unsafe { ffi::sutra_embedder_stats_reset(self.raw.as_ptr()) }
    }

    /// What was loaded and how it runs.
    pub fn info(&self) -> Result<ModelInfo> {
        // SAFETY: the struct is filled by the library up to the size passed; its strings are owned
        // by the embedder and copied here
        unsafe {
            let mut i: ffi::sutra_model_info = std::mem::zeroed();
            self.check(ffi::sutra_embedder_info_sized(self.raw.as_ptr(), &mut i,
                                                      std::mem::size_of::<ffi::sutra_model_info>()))?;
            Ok(ModelInfo {
                name: string_of(i.name),
                path: string_of(i.path),
                architecture: string_of(i.architecture),
                hidden_size: i.hidden_size as usize,
                num_layers: i.num_layers as usize,
                max_tokens: i.max_tokens as usize,
                dimensions: i.dim as usize,
                pooling: string_of(i.pooling),
                normalize: i.normalize != 0,
                device: string_of(i.device),
                attention: string_of(i.attention),
                flash_threshold: i.flash_threshold as usize,
            })
        }
    }
}

impl Drop for Embedder {
    fn drop(&mut self) {
        // SAFETY: raw came from sutra_embedder_create and is destroyed once
        unsafe { ffi::sutra_embedder_destroy(self.raw.as_ptr()) }
    }
}

/// The version of the libsutra linked ("0.3.0").
pub fn library_version() -> String {
    // SAFETY: a static string
    unsafe { string_of(ffi::sutra_version()) }
}
