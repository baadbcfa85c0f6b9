/*
 * sutra.h - the one public header of Sutra, a text-embedding engine.
 *
 * Rules this header keeps:
 *  - Every object is an opaque handle with a create/destroy pair; destroy accepts NULL.
 *  - Every fallible function returns a sutra_status (0 = OK, negative = error). When a
 *    handle exists, sutra_embedder_last_error() tells what went wrong and names the file,
 *    tensor, field or input at fault.
 *  - Output buffers are the caller's, passed with their capacity in elements.
 *  - The library never prints and never calls exit().
 *  - Strings passed in are UTF-8 and are copied if kept; pointers returned by the library
 *    stay valid as long as the documented owner lives.
 *  - Structs may gain fields at their end in a later version, never lose or move one (see
 *    "structs that grow" below); calls in the experimental section at the end may change
 *    between minor versions.
 */
#ifndef SUTRA_H
#define SUTRA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SUTRA_API marks what libsutra.so exports; the library is compiled with every other symbol
 * hidden. A program may define it first (e.g. empty). */
#ifndef SUTRA_API
#if defined(_WIN32) && defined(SUTRA_BUILD_SHARED)
#define SUTRA_API __declspec(dllexport)
#elif defined(__GNUC__)
#define SUTRA_API __attribute__((visibility("default")))
#else
#define SUTRA_API
#endif
#endif

/* The version of this header. CMakeLists.txt's project(VERSION) must say the same: the build
 * stops when they differ. */
#define SUTRA_VERSION_MAJOR 0
#define SUTRA_VERSION_MINOR 3
#define SUTRA_VERSION_PATCH 0
#define SUTRA_VERSION_NUMBER (SUTRA_VERSION_MAJOR * 10000 + SUTRA_VERSION_MINOR * 100 + SUTRA_VERSION_PATCH)
#define SUTRA_VERSION_TEXT_(x) #x
#define SUTRA_VERSION_TEXT(x) SUTRA_VERSION_TEXT_(x)
#define SUTRA_VERSION_STRING                                                                            \
    SUTRA_VERSION_TEXT(SUTRA_VERSION_MAJOR)                                                             \
    "." SUTRA_VERSION_TEXT(SUTRA_VERSION_MINOR) "." SUTRA_VERSION_TEXT(SUTRA_VERSION_PATCH)

/* The version of the library running, which may not be the header's: sutra_version() is its
 * SUTRA_VERSION_STRING ("0.3.0", static storage), sutra_version_number() its SUTRA_VERSION_NUMBER.
 * A program built against this header can use a library of the same major version and at least
 * its minor version; before 1.0, of the same major and minor version only:
 *     sutra_version_number() / 100 == SUTRA_VERSION_NUMBER / 100     (0.x)
 * libsutra.so's SONAME carries the major version only (libsutra.so.0), so before 1.0 it does not
 * tell minor versions apart: a program that loads libsutra.so compares the numbers. */
SUTRA_API const char *sutra_version(void);
SUTRA_API int sutra_version_number(void);

/* Marks the calls of the experimental section (the end of this header), which may change
 * between minor versions. Exported like the rest. */
#define SUTRA_EXPERIMENTAL SUTRA_API

/* ---- status codes ------------------------------------------------------------------------- */

typedef enum sutra_status {
    SUTRA_OK = 0,
    SUTRA_ERR_INVALID_ARGUMENT = -1, /* NULL pointer, zero capacity, out-of-range option */
    SUTRA_ERR_IO = -2,               /* a file could not be opened, read or mapped */
    SUTRA_ERR_FORMAT = -3,           /* a model or tokenizer file is malformed */
    SUTRA_ERR_MODEL = -4,            /* a tensor is missing or mis-shaped, or a config is unsupported */
    SUTRA_ERR_OUT_OF_MEMORY = -5,
    SUTRA_ERR_INVALID_UTF8 = -6,     /* input text is not valid UTF-8 */
    SUTRA_ERR_BUFFER_TOO_SMALL = -7, /* caller's buffer capacity is smaller than needed */
    SUTRA_ERR_UNSUPPORTED = -8,      /* a feature the build or the hardware lacks */
    SUTRA_ERR_INTERNAL = -9,
} sutra_status;

/* A short, static, English description of a status ("invalid UTF-8 in input text"). */
SUTRA_API const char *sutra_status_str(sutra_status status);

/* ---- structs that grow -------------------------------------------------------------------- */
/* A later version may add fields to a struct, at its end, each with 0 as its default.
 *  - The structs a caller fills in (sutra_config, sutra_window, sutra_tokenize_options,
 *    sutra_outputs) begin with struct_size, the struct's size as the caller was compiled. Their
 *    init calls set it (sutra_config_init() and the others: inline, passing sizeof to the
 *    library's *_init_sized); for those whose defaults are all 0 (sutra_tokenize_options,
 *    sutra_outputs), `T x = {.struct_size = sizeof x, ...}` does the same. The library
 *    reads the fields within struct_size and keeps its defaults for the rest (a caller built
 *    against an older header), and takes a larger struct (a newer header) only if the bytes it
 *    does not know are 0, else SUTRA_ERR_UNSUPPORTED. A struct_size below the first version's
 *    size (0: never set) is SUTRA_ERR_INVALID_ARGUMENT. Never list a struct's fields in order
 *    (`{size, overlap}`): name them.
 *  - The structs the library fills in (sutra_model_info, sutra_stats) are written up to the
 *    size the call is given (the inline sutra_embedder_info() passes sizeof *info); fields of a
 *    newer header that the library does not know are set to 0.
 * The library exports the *_sized calls; bindings from other languages call them with the
 * struct's size. Arrays of structs (sutra_chunk, sutra_op_time) keep their layout. */

/* ---- configuration ------------------------------------------------------------------------ */

typedef enum sutra_pooling {
    SUTRA_POOLING_MODEL = 0, /* as the model's sentence-transformers config says (default) */
    SUTRA_POOLING_MEAN = 1,  /* mean of the token states (attention-masked) */
    SUTRA_POOLING_CLS = 2,   /* the first token's state */
    SUTRA_POOLING_MAX = 3,   /* element-wise max over tokens */
    SUTRA_POOLING_LAST = 4,  /* the last token's state */
} sutra_pooling;

typedef enum sutra_normalize {
    SUTRA_NORMALIZE_MODEL = 0, /* L2-normalise if the model has a Normalize module (default) */
    SUTRA_NORMALIZE_ON = 1,
    SUTRA_NORMALIZE_OFF = 2,
} sutra_normalize;

typedef enum sutra_attention {
    SUTRA_ATTENTION_AUTO = 0,     /* flash above flash_attention_threshold when enabled (default) */
    SUTRA_ATTENTION_STANDARD = 1, /* always materialised scores */
    SUTRA_ATTENTION_FLASH = 2,    /* always flash attention */
} sutra_attention;

/* The CPU's vector instruction set for Sutra's own kernels (bias and activation, norms, attention,
 * few-row products); OpenBLAS picks its own. A set the CPU lacks is an error at create. */
typedef enum sutra_cpu_isa {
    SUTRA_CPU_ISA_AUTO = 0,   /* the widest this CPU has (default) */
    SUTRA_CPU_ISA_SCALAR = 1, /* plain C */
    SUTRA_CPU_ISA_AVX2 = 2,   /* AVX2 + FMA */
    SUTRA_CPU_ISA_AVX512 = 3, /* AVX-512F */
} sutra_cpu_isa;

/* An on/off setting whose default the engine picks. */
typedef enum sutra_switch {
    SUTRA_SWITCH_AUTO = 0, /* the default (each field says which) */
    SUTRA_SWITCH_ON = 1,
    SUTRA_SWITCH_OFF = 2,
} sutra_switch;

/* Which library runs the GPU's matrix products. */
typedef enum sutra_gpu_gemm {
    SUTRA_GPU_GEMM_AUTO = 0,     /* cuBLASLt; on sm_90 with CUTLASS built, CUTLASS for the products it was
                                  * measured faster on (exact-GELU products of about one wave of tiles or
                                  * more, GELU fused; small plain products of 16384 tokens or more) */
    SUTRA_GPU_GEMM_CUBLASLT = 1, /* every product through cuBLASLt */
    SUTRA_GPU_GEMM_CUTLASS = 2,  /* AUTO, and every plain product of 16384 tokens or more on CUTLASS
                                  * (measured no faster end to end; for comparisons) */
} sutra_gpu_gemm;

typedef enum sutra_device {
    SUTRA_DEVICE_AUTO = 0, /* the GPU when the build has CUDA and a supported GPU is present, else the CPU */
    SUTRA_DEVICE_CPU = 1,
    SUTRA_DEVICE_CUDA = 2, /* a GPU or an error (SUTRA_ERR_UNSUPPORTED) */
} sutra_device;

/* Activation type on a GPU (sutra_config.gpu_dtype). */
typedef enum sutra_gpu_dtype {
    SUTRA_GPU_DTYPE_AUTO = 0, /* the model family's: fp16, or bf16 where fp16 overflows */
    SUTRA_GPU_DTYPE_F16 = 1,
    SUTRA_GPU_DTYPE_BF16 = 2,
} sutra_gpu_dtype;

/* Progress of a download: bytes done of total (0 when unknown) of one file, called as bytes arrive
 * and once more when the file is complete (done == total). */
typedef void (*sutra_progress_fn)(void *user, const char *file, uint64_t done, uint64_t total);

/* Where models named by Hugging Face hub id ("org/name", "org/name@revision") are found and how
 * they are fetched. Experimental, as the hub calls below are: this struct has no struct_size yet
 * and may change between minor versions (it is sutra_config's last field). Every field may be left 0 / NULL: the defaults are the Hugging Face tools'
 * own, so a model that sentence-transformers or transformers downloaded is used where it lies. */
typedef struct sutra_hub_options {
    /* The hub cache, in huggingface_hub's layout (models--org--name/{refs,snapshots,blobs}).
     * NULL: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
    const char *cache_dir;
    /* The hub's address. NULL: $HF_ENDPOINT, else https://huggingface.co. */
    const char *endpoint;
    /* A token for gated and private models. NULL: $HF_TOKEN, else the token file that
     * `hf auth login` writes ($HF_HOME/token, else ~/.cache/huggingface/token). "" sends none. */
    const char *token;
    /* ON: never download (a model not in the cache is an error); OFF: download what is missing;
     * AUTO: ON when $HF_HUB_OFFLINE is 1 / true / yes, else OFF. */
    sutra_switch offline;
    /* Called while files download (e.g. to draw a progress bar); NULL: silent. */
    sutra_progress_fn progress;
    void *progress_data;
} sutra_hub_options;

typedef struct sutra_config {
    size_t struct_size; /* sizeof(sutra_config) as the caller was compiled: sutra_config_init() */
    /* The model, as one of (tried in this order):
     *   - a model directory (config.json, weights, tokenizer; or a sentence-transformers folder
     *     whose modules.json puts the transformer in a subfolder such as 0_Transformer/);
     *   - a name in the models directory (see sutra_models_dir()), "name" or "org/name";
     *   - a Hugging Face hub id, "org/name" or "org/name@revision" (a branch, tag or commit;
     *     default main): its snapshot in the hub cache, else downloaded into it (see hub).
     * Required. */
    const char *model;
    /* A display name for the model; NULL means the directory's base name. */
    const char *name;
    /* Output dimensions. 0 = the model's hidden size. Smaller values truncate the vector
     * (Matryoshka) and then re-normalise it when normalisation is on. */
    int dimensions;
    /* Token limit per input, special tokens included. 0 = the model's own limit
     * (sentence_bert_config.json's max_seq_length, else max_position_embeddings). Longer
     * inputs are truncated to it. Values above the model's position table are an error. */
    int max_sequence_length;
    /* CPU threads for matrix products and attention. 0 = what the process may really use: the
     * CPUs of its affinity mask, lowered to its cgroup's CPU quota rounded up (threads_source in
     * sutra_model_info says which). */
    int threads;
    sutra_pooling pooling;
    sutra_normalize normalize;
    /* Upper bound on tokens in one forward batch (sum over packed sequences). 0 = 8192, raised
     * to the token limit if that is larger. Sizes the activation memory planned at create. */
    int max_batch_tokens;
    /* Attention path selection. With use_flash_attention on (default 1) and attention AUTO, a
     * batch whose longest sequence exceeds flash_attention_threshold tokens runs flash attention
     * (exact, O(N) memory); other batches run standard attention. A threshold of 0 means the
     * device's own (sutra_model_info.flash_threshold): 512 on the CPU, flash at every length on
     * the GPU, each as measured fastest (docs/BENCHMARKS.md). With use_flash_attention 0, AUTO
     * always means standard. attention STANDARD/FLASH force a path. A path the device cannot run
     * for this model (flash for a head dim without a kernel) gives way to the other, and
     * sutra_model_info says so. */
    int use_flash_attention;
    int flash_attention_threshold;
    sutra_attention attention;
    /* Where the model runs; gpu_index picks the CUDA device. On a GPU, weights and activations
     * are fp16 or bf16 (gpu_dtype), accumulation fp32; AUTO is fp16 unless the model's family
     * is known to overflow fp16 (Qwen3: bf16), and sutra_model_info.compute_dtype says which
     * ran and why. */
    sutra_device device;
    int gpu_index;
    sutra_gpu_dtype gpu_dtype;
    /* A prompt prepended to every input: `prompt` (raw text) if set, else the model's prompt
     * named `prompt_name` (config_sentence_transformers.json "prompts", e.g. e5's "query" ->
     * "query: "; an unknown name is an error), else the model's default_prompt_name, if any. */
    const char *prompt_name;
    const char *prompt;
    /* Where model names are looked up; NULL: sutra_models_dir(). Copied at create. */
    const char *models_dir;
    /* 1: the tanh approximation of GELU where the model has the exact (erf) one, on every device:
     * a different function (within 1e-3 of it per value), faster on the GPU where the exact GELU
     * is not fused into the product. 0 (default): the model's own activation. */
    int approximate_gelu;
    /* The instruction set of the CPU kernels (AUTO: the widest the CPU has). */
    sutra_cpu_isa cpu_isa;
    /* GPU settings, each measured on the H100 (docs/BENCHMARKS.md):
     *   gpu_graphs          CUDA graphs, one per batch shape (AUTO: on)
     *   gpu_gemm            the matrix-product library (see sutra_gpu_gemm)
     *   gpu_flash_wgmma     the Hopper (wgmma) flash kernel on sm_90 for head dim 64 (AUTO: on)
     *   gpu_layernorm_fold  post-norm encoders (BERT, XLM-R) with the exact GELU keep their
     *                       residual stream un-normalised and fold every LayerNorm into the matrix
     *                       products around it, in batches of gpu_fold_min_tokens tokens or more
     *                       (0: 16384), where the products take it in their epilogues (sm_90 with
     *                       CUTLASS) (AUTO and ON: so; OFF: never) */
    sutra_switch gpu_graphs;
    sutra_gpu_gemm gpu_gemm;
    sutra_switch gpu_flash_wgmma;
    sutra_switch gpu_layernorm_fold;
    int gpu_fold_min_tokens;
    /* The task instruction of a causal-LM reranker's prompt (Qwen3-Reranker's "<Instruct>: ..."); NULL:
     * the model's default, "Given a web search query, retrieve relevant passages that answer the
     * query". Copied at create. */
    const char *rerank_instruction;
    /* 1: time every kind of op (on the GPU the forward then runs without graphs, an event after
     * each op: the GPU as busy as in a timed run); read with sutra_embedder_profile(). */
    int profile;
    /* Models named by hub id: the cache, the hub, the token, offline (see sutra_hub_options). */
    sutra_hub_options hub;
} sutra_config;

/* Fills the struct_size bytes of *config with defaults: struct_size, use_flash_attention 1,
 * everything else 0 / AUTO / MODEL / NULL. Does nothing when config is NULL or struct_size is
 * smaller than the first version of sutra_config. */
SUTRA_API void sutra_config_init_sized(sutra_config *config, size_t struct_size);
static inline void sutra_config_init(sutra_config *config) { sutra_config_init_sized(config, sizeof *config); }

/* Writes into buf (cap bytes, NUL-terminated, truncated if short) the default directory where
 * model names are looked up: $SUTRA_MODELS_DIR if set, else $HOME/.cache/sutra/models. Returns the
 * length of the whole path (without the NUL). Beside these two, the library reads only the
 * Hugging Face tools' variables, as defaults of sutra_hub_options fields left empty. */
SUTRA_API size_t sutra_models_dir(char *buf, size_t cap);

/* ---- models by hub id (experimental: these calls may change between minor versions) -------- */

/* Resolves a model as sutra_config.model does (a directory, a name in models_dir (NULL: the
 * default), or a hub id: the cached snapshot, else a download unless offline) and writes the local
 * directory to path (cap bytes). */
SUTRA_EXPERIMENTAL sutra_status sutra_model_resolve(const char *model, const char *models_dir,
                                                    const sutra_hub_options *hub, char *path, size_t cap, char *err,
                                                    size_t errcap);

/* Downloads hub id "org/name[@revision]" into the hub cache, asking the hub for the revision's
 * current commit even when a snapshot is cached (what is already there is not fetched again), and
 * writes the snapshot directory to path. The files fetched are those a model needs: configs, the
 * sentence-transformers module files, tokenizer files and weights (safetensors, sharded or not;
 * PyTorch files only where a folder has no safetensors), never ONNX / OpenVINO / TF / Flax copies.
 * Each file lands in blobs/ only once its size and, for large (LFS) files, its sha256 match what
 * the hub announced, and appears in snapshots/ only then. SUTRA_ERR_UNSUPPORTED when the library
 * was built without libcurl, or offline. */
SUTRA_EXPERIMENTAL sutra_status sutra_hub_pull(const char *id, const sutra_hub_options *hub, char *path, size_t cap,
                                               char *err, size_t errcap);

/* A model found on this machine (sutra_models_list). */
typedef struct sutra_model_entry {
    char id[512];     /* the name to pass as sutra_config.model: "org/name", or "org/name@rev" for
                       * a revision other than main, or a models-directory name */
    char path[4096];  /* its directory */
    char source[16];  /* "models-dir" or "hf-cache" */
    char commit[64];  /* hf-cache: the snapshot's commit; "" otherwise */
    uint64_t bytes;   /* size on disk (a cached repository's blobs are counted once) */
} sutra_model_entry;

/* Every model directory in models_dir (NULL: the default) and every snapshot in the hub cache
 * that refs/ names (or the only one, when none does) that holds a config.json: *out (free()) and
 * *n. Whether Sutra can run each is for sutra_embedder_create to say. */
SUTRA_EXPERIMENTAL sutra_status sutra_models_list(const char *models_dir, const sutra_hub_options *hub,
                                                  sutra_model_entry **out, size_t *n, char *err, size_t errcap);

/* What a model is, read from its files without loading it (the weights' headers only): for
 * `sutra models` and other catalogues. */
typedef struct sutra_model_summary {
    char architecture[32];      /* config.json model_type */
    char pooling[16];           /* mean, cls, max, last */
    char weights_dtype[16];     /* of the largest tensor: F32, F16, BF16, ... */
    char prompts[512];          /* the prompt names, comma-separated ("" for none) */
    char attention_kernels[128];/* the attention paths for this model on this machine, e.g. "cpu:
                                 * standard flash" or "cuda: standard flash(d=64)" */
    int hidden_size, vector_size, layers, heads, head_dim, max_tokens, normalize;
    uint64_t parameters;        /* elements of every tensor of the checkpoint */
    uint64_t bytes;             /* the model folder's files on disk */
    char path[4096];            /* the model folder the name resolved to */
} sutra_model_summary;

/* Resolves model as sutra_config.model does (without downloading) and describes it. device and
 * gpu_index choose the machine's device the attention kernels are named for (AUTO: a GPU when the
 * build has CUDA and one is present). */
SUTRA_EXPERIMENTAL sutra_status sutra_model_describe(const char *model, const char *models_dir,
                                                     const sutra_hub_options *hub, sutra_device device, int gpu_index,
                                                     sutra_model_summary *out, char *err, size_t errcap);

/* Deletes hub id "org/name" (every revision) from the hub cache: SUTRA_ERR_IO if it is not there. */
SUTRA_EXPERIMENTAL sutra_status sutra_hub_remove(const char *id, const sutra_hub_options *hub, char *err, size_t errcap);

/* ---- embedder ----------------------------------------------------------------------------- */

/* An embedder owns a model and its working memory. One embedder serves one thread at a time;
 * use one embedder per thread (weights are mapped read-only and shared by the OS page cache). */
typedef struct sutra_embedder sutra_embedder;

/* Loads a model and prepares an embedder. On success *out owns the model; release it with
 * sutra_embedder_destroy(). On failure *out is NULL and, when err is not NULL, a message of at
 * most errcap bytes (NUL-terminated) says what failed. */
SUTRA_API sutra_status sutra_embedder_create(const sutra_config *config, sutra_embedder **out,
                                             char *err, size_t errcap);

/* Releases everything the embedder owns. Accepts NULL. */
SUTRA_API void sutra_embedder_destroy(sutra_embedder *embedder);

/* The length of the vectors this embedder writes (config.dimensions or the hidden size). */
SUTRA_API int sutra_embedder_dim(const sutra_embedder *embedder);

/* The effective token limit per input, special tokens included. */
SUTRA_API int sutra_embedder_max_tokens(const sutra_embedder *embedder);

/* The message of the embedder's last failed call, or "" after a success. Owned by the
 * embedder; valid until its next call. */
SUTRA_API const char *sutra_embedder_last_error(const sutra_embedder *embedder);

/* Embeds one UTF-8 text of len bytes (len = (size_t)-1: NUL-terminated) into out, which holds
 * out_cap floats and must hold sutra_embedder_dim() of them. Empty text is valid (it embeds
 * the special tokens alone). Texts over the token limit are truncated. */
SUTRA_API sutra_status sutra_embed(sutra_embedder *embedder, const char *text, size_t len,
                                   float *out, size_t out_cap);

/* Embeds n NUL-terminated UTF-8 texts into out (row-major, n x dim), which holds out_cap floats
 * and must hold n * sutra_embedder_dim(). Texts are packed into batches without padding; row i
 * is always text i, and equals what sutra_embed() gives for it. If any text fails validation,
 * nothing is embedded and the error names the text's index. */
SUTRA_API sutra_status sutra_embed_batch(sutra_embedder *embedder, const char *const *texts,
                                         size_t n, float *out, size_t out_cap);

/* Tokenises one UTF-8 text exactly as embedding would (special tokens, truncation) into ids,
 * which holds ids_cap entries. *n_ids receives the count. If ids_cap is too small, returns
 * SUTRA_ERR_BUFFER_TOO_SMALL with *n_ids set to the count needed. */
SUTRA_API sutra_status sutra_tokenize(sutra_embedder *embedder, const char *text, size_t len,
                                      int32_t *ids, size_t ids_cap, size_t *n_ids);

/* The text of the model's prompt called name (config_sentence_transformers.json "prompts"), or
 * NULL if it has none of that name. Owned by the embedder. */
SUTRA_API const char *sutra_embedder_find_prompt(const sutra_embedder *embedder, const char *name);

/* ---- scores, sparse vectors, multi-vectors ------------------------------------------------ */
/* What a loaded model gives (sutra_embedder_outputs(), a bit set):
 *   DENSE        pooled vectors (sutra_embed and the rest): every embedding model
 *   SPARSE       lexical weights per token id: SPLADE (a sentence-transformers SparseEncoder) and
 *                bge-m3 (sparse_linear)
 *   MULTIVECTOR  one vector per token (ColBERT): bge-m3 (colbert_linear)
 *   RERANK       a relevance score per (query, document): cross-encoders (BERT, XLM-R, ModernBERT,
 *                DistilBERT sequence classifiers with one label) and Qwen3-Reranker */
typedef enum sutra_output_kind {
    SUTRA_OUTPUT_DENSE = 1,
    SUTRA_OUTPUT_SPARSE = 2,
    SUTRA_OUTPUT_MULTIVECTOR = 4,
    SUTRA_OUTPUT_RERANK = 8,
} sutra_output_kind;
SUTRA_API int sutra_embedder_outputs(const sutra_embedder *embedder);

/* Scores n documents against one query into scores (scores_cap >= n): the pair (query, document)
 * tokenised as the model's tokenizer pairs them (special tokens, token types, longest_first
 * truncation to the token limit), the model's head on it. raw = 0: the score as
 * sentence-transformers' CrossEncoder.predict gives it (the model's saved activation, else Sigmoid
 * for one label), Qwen3-Reranker's p("yes"); raw = 1: the logit (Qwen3-Reranker: yes - no). Pairs
 * are packed into batches as texts are. A model without RERANK: SUTRA_ERR_UNSUPPORTED. */
SUTRA_API sutra_status sutra_rerank(sutra_embedder *embedder, const char *query, const char *const *documents,
                                    size_t n, int raw, float *scores, size_t scores_cap);

/* Buffers of sutra_embed_outputs(), all the caller's; an output whose buffer is NULL is not made.
 *   dense           n x sutra_embedder_dim() floats (dense_cap), as sutra_embed_batch() writes them
 *   sparse_offsets  n + 1 entries: text i's entries are [sparse_offsets[i], sparse_offsets[i + 1])
 *                   of sparse_ids (token ids, ascending) and sparse_weights (> 0), which hold
 *                   sparse_cap entries each; *sparse_count receives the total
 *   mv_offsets      n + 1 entries: text i's vectors are rows [mv_offsets[i], mv_offsets[i + 1]) of
 *                   mv (multivector_dim floats a row, mv_cap floats in all; bge-m3: one row per
 *                   token after the first, each L2-normalised); *mv_rows receives the total
 * When a buffer is too small, nothing is written but the two counts, and the call returns
 * SUTRA_ERR_BUFFER_TOO_SMALL: a text has at most vocab_size sparse entries (SPLADE) or one per
 * token (bge-m3), and at most max_tokens - 1 vectors. */
typedef struct sutra_outputs {
    size_t struct_size; /* sizeof(sutra_outputs) as the caller was compiled: sutra_outputs_init() */
    float *dense;
    size_t dense_cap;
    int dense_raw; /* 1: dense rows of vector_size floats before truncation and normalisation, as
                    * sutra_embed_tokens(raw = 1) gives them (servers finish them per request) */
    size_t *sparse_offsets;
    int32_t *sparse_ids;
    float *sparse_weights;
    size_t sparse_cap;
    size_t sparse_count;
    size_t *mv_offsets;
    float *mv;
    size_t mv_cap;
    size_t mv_rows;
} sutra_outputs;

/* Sets the struct_size bytes of *out to no outputs asked for: struct_size, everything else 0.
 * Does nothing when out is NULL or struct_size is smaller than the first version. */
SUTRA_API void sutra_outputs_init_sized(sutra_outputs *out, size_t struct_size);
static inline void sutra_outputs_init(sutra_outputs *out) { sutra_outputs_init_sized(out, sizeof *out); }

/* The outputs out asks for of n texts, from one forward per batch: bge-m3's dense, sparse and
 * ColBERT vectors together. An output the model does not give: SUTRA_ERR_UNSUPPORTED, naming it. */
SUTRA_API sutra_status sutra_embed_outputs(sutra_embedder *embedder, const char *const *texts, size_t n,
                                           sutra_outputs *out);

/* Facts about the loaded model and the engine, for display. Strings are owned by the
 * embedder and live as long as it does. */
typedef struct sutra_model_info {
    const char *name;         /* display name */
    const char *path;         /* resolved model directory */
    const char *architecture; /* "bert", ... */
    int hidden_size;
    int vector_size;           /* a vector's full width: the last Dense module's out_features, else hidden_size */
    int dense_modules;         /* sentence-transformers Dense modules run after pooling */
    int num_layers;
    int num_heads;
    int intermediate_size;
    int vocab_size;
    int max_position_embeddings;
    int max_tokens;            /* effective limit per input */
    int dim;                   /* output dimensions */
    const char *pooling;       /* "mean", "cls", "max", "last" */
    int normalize;             /* 1 if outputs are L2-normalised */
    const char *weights_dtype; /* dtype of the weights file ("F32", "F16", "BF16") */
    const char *tokenizer;     /* "wordpiece" */
    const char *cpu_features;  /* e.g. "avx512f avx512bw avx512bf16 avx2 fma" */
    int threads;
    const char *device;        /* "cpu" or "cuda" */
    const char *gpu_name;      /* "" on the CPU */
    int gpu_cc_major, gpu_cc_minor;
    const char *attention_kernels; /* which attention paths can run here, e.g. "standard flash(d=32,64,128)" */
    const char *device_note;   /* why AUTO chose the CPU (e.g. "no CUDA device"), and an attention path that gave
                                * way to the other on this device; else "" */
    size_t gpu_bytes;          /* device memory held by the engine (weights, arena, workspaces); 0 on the CPU */
    size_t gpu_peak_bytes;     /* most device memory held at once since create */
    /* The attention decision as it is made on this device: "auto", "standard" or "flash", and for
     * auto the threshold (flash when a batch's longest sequence exceeds it; 0: at every length). */
    const char *attention;
    int flash_threshold;
    const char *cpu_isa;       /* the set the CPU kernels run: "avx512", "avx2", "scalar" */
    const char *models_dir;
    int approximate_gelu;      /* 1: tanh GELU in place of the exact one */
    int profile;               /* 1: ops are timed (sutra_embedder_profile) */
    /* The backend's settings in effect, e.g. "graphs on, products cuBLASLt + CUTLASS (sm_90),
     * LayerNorm folding from 16384 tokens, flash wgmma on"; "" on the CPU. */
    const char *backend_settings;
    /* What the activations are: "f32" on the CPU, "fp16" or "bf16" on a GPU, followed by the
     * reason when gpu_dtype AUTO chose, e.g. "bf16 (auto: qwen3's activations overflow fp16)". */
    const char *compute_dtype;
    /* What the model gives: "dense", "sparse", "multivector", "rerank", space-separated (see
     * sutra_embedder_outputs), the sparse kind ("splade", "bge-m3", else ""), the width of a
     * multi-vector row (0: none), and the score's activation ("Sigmoid", "Identity", "none" for
     * Qwen3-Reranker's probability; "" without a score). */
    const char *outputs;
    const char *sparse_kind;
    int multivector_dim;
    const char *score_activation;
    /* Where `threads` comes from: "set in the config", or what the default followed, e.g. "CPU
     * affinity: 8 of 8 online CPUs, no cgroup CPU quota" or "cgroup CPU quota 1.50 CPU (...),
     * rounded up; affinity allows 64". */
    const char *threads_source;
} sutra_model_info;

/* Fills info_size bytes of *info (see "structs that grow"). */
SUTRA_API sutra_status sutra_embedder_info_sized(const sutra_embedder *embedder, sutra_model_info *info,
                                                 size_t info_size);
static inline sutra_status sutra_embedder_info(const sutra_embedder *embedder, sutra_model_info *info) {
    return sutra_embedder_info_sized(embedder, info, sizeof *info);
}

/* Changes the prompt for later calls: raw text if prompt is not NULL, else the model's prompt
 * called name (SUTRA_ERR_INVALID_ARGUMENT if it has none), else no prompt at all. */
SUTRA_API sutra_status sutra_embedder_set_prompt(sutra_embedder *embedder, const char *name, const char *prompt);

/* The prompt now prepended to inputs ("" if none). Owned by the embedder. */
SUTRA_API const char *sutra_embedder_prompt(const sutra_embedder *embedder);

/* Counters since create (or the last reset), to observe what the engine did. */
typedef struct sutra_stats {
    uint64_t texts;            /* inputs embedded */
    uint64_t tokens;           /* tokens run through the encoder, special tokens included */
    uint64_t batches;          /* forward passes */
    uint64_t batches_standard; /* ... of which on the standard attention path */
    uint64_t batches_flash;    /* ... of which on the flash attention path */
    uint64_t truncated;        /* inputs that filled the token limit (and so may have been cut) */
    int last_path;             /* path of the latest batch: 0 standard, 1 flash, -1 none yet */
    /* every count is of what ran: the backend runs the path it is given, never another */
    int last_batch_max_len;    /* longest sequence of the latest batch */
} sutra_stats;

/* Fills stats_size bytes of *stats (see "structs that grow"). */
SUTRA_API sutra_status sutra_embedder_stats_sized(const sutra_embedder *embedder, sutra_stats *stats,
                                                  size_t stats_size);
static inline sutra_status sutra_embedder_stats(const sutra_embedder *embedder, sutra_stats *stats) {
    return sutra_embedder_stats_sized(embedder, stats, sizeof *stats);
}
/* Zeroes the counters and the profile. */
SUTRA_API void sutra_embedder_stats_reset(sutra_embedder *embedder);

/* ---- long documents ----------------------------------------------------------------------- */

/* How the window vectors of one document become its one vector. */
typedef enum sutra_aggregate {
    SUTRA_AGGREGATE_MEAN = 0,     /* the mean of the window vectors (default) */
    SUTRA_AGGREGATE_MAX = 1,      /* their element-wise maximum */
    SUTRA_AGGREGATE_WEIGHTED = 2, /* their mean weighted by each window's number of text tokens */
} sutra_aggregate;

/* Sliding windows over a document longer than the token limit. The document is tokenised in
 * full and its text tokens (those of the text, not the model's special tokens nor the prompt's)
 * are cut, on token boundaries, into slices; each window is one slice with the model's special
 * tokens and the prompt's tokens around it, `size` tokens in all. Window k starts at text token
 * k * (size - special - prompt tokens - overlap), so consecutive windows share `overlap` text
 * tokens; the last window may be shorter. */
typedef struct sutra_window {
    size_t struct_size; /* sizeof(sutra_window) as the caller was compiled: sutra_window_init() */
    int size;    /* tokens per window, special and prompt tokens included: 1 .. the token limit */
    int overlap; /* text tokens shared by consecutive windows: 0 .. one less than a window's text tokens */
    sutra_aggregate aggregate;
} sutra_window;

/* Fills the struct_size bytes of *window with the defaults for embedder: struct_size, size = its
 * token limit, overlap = size / 4, aggregate MEAN. With a NULL embedder, size 512. Does nothing
 * when window is NULL or struct_size is smaller than the first version of sutra_window. */
SUTRA_API void sutra_window_init_sized(const sutra_embedder *embedder, sutra_window *window, size_t struct_size);
static inline void sutra_window_init(const sutra_embedder *embedder, sutra_window *window) {
    sutra_window_init_sized(embedder, window, sizeof *window);
}

/* Embeds n NUL-terminated texts of any length into out (row-major, n x dim; out_cap floats):
 * each text is cut into windows as *window says (NULL: sutra_window_init()), the windows of
 * all texts are embedded together in the length-sorted, token-budget batches of
 * sutra_embed_batch(), and row i is the aggregate of text i's window vectors, L2-normalised
 * again when the embedder normalises. A text that fits one window gets exactly the vector
 * sutra_embed() gives it. Returns SUTRA_ERR_INVALID_ARGUMENT for a window size of 0 or above the
 * token limit, an overlap not smaller than the text tokens a window holds, or an unknown
 * aggregate (the message names the parameter); a failing text is named by its index, and then
 * nothing is written. sutra_stats counts each window as one input. */
SUTRA_API sutra_status sutra_embed_windowed(sutra_embedder *embedder, const char *const *texts, size_t n,
                                            const sutra_window *window, float *out, size_t out_cap);

/* One chunk of a late-chunked document. */
typedef struct sutra_chunk {
    size_t start, end; /* the chunk's bytes [start, end) in the document */
    int tokens;        /* text tokens pooled into its vector */
} sutra_chunk;

/* Late chunking: encodes one UTF-8 document of len bytes (len = (size_t)-1: NUL-terminated) as
 * a whole, then pools its final token states over each chunk, so that every chunk's vector has
 * seen the document around it. Chunks are either given as byte offsets, chunk_starts (n_starts
 * of them, strictly increasing, each below len: chunk i is [chunk_starts[i], chunk_starts[i+1]),
 * the last runs to len, bytes before the first belong to none, and a token belongs to the chunk
 * its first byte lies in), or, when chunk_starts is NULL, runs of chunk_tokens text tokens.
 * A chunk's vector is the mean of its text tokens' states (the max when the embedder pools by
 * max; special and prompt tokens never count), then truncated and normalised as sutra_embed()
 * does. A document over the token limit is encoded in overlapping windows (*window, NULL:
 * defaults; aggregate unused), and each token takes its state from the window where it has the
 * most context on both sides.
 * out receives *n_chunks x dim floats (out_cap); chunks, when not NULL, the chunk spans
 * (chunks_cap entries). *n_chunks is always set; when out_cap or chunks_cap is too small the call
 * returns SUTRA_ERR_BUFFER_TOO_SMALL before running the model (out_cap 0 asks for the count).
 * A chunk without any token is SUTRA_ERR_INVALID_ARGUMENT, and the message names it. */
SUTRA_API sutra_status sutra_embed_late_chunks(sutra_embedder *embedder, const char *text, size_t len,
                                               const size_t *chunk_starts, size_t n_starts, int chunk_tokens,
                                               const sutra_window *window, float *out, size_t out_cap,
                                               sutra_chunk *chunks, size_t chunks_cap, size_t *n_chunks);

/* ==== experimental ==========================================================================
 * The calls below may change, or go, between minor versions (0.3 -> 0.4; after 1.0 as well),
 * unlike everything above. They are token-level entry points, for servers that tokenise, count
 * and batch inputs themselves, and the op profile, whose rows follow the backends' ops. Each is
 * marked SUTRA_EXPERIMENTAL. */

/* How sutra_tokenize_ex() encodes. Options with every field 0 mean what sutra_tokenize() does. */
typedef struct sutra_tokenize_options {
    size_t struct_size; /* sizeof(sutra_tokenize_options) as the caller was compiled: sutra_tokenize_options_init() */
    int no_truncate;    /* 1: encode the whole text, whatever its length (the caller checks it
                         * against sutra_embedder_max_tokens()) */
    int truncate_left;  /* when truncating, drop tokens from the start of the text, not the end */
    int no_special;     /* 1: leave out the special tokens of the model's template ([CLS], [SEP]) */
    const char *prompt; /* raw text before the input; NULL: the embedder's prompt (see
                         * sutra_embedder_prompt()); "": none */
} sutra_tokenize_options;

/* Sets the struct_size bytes of *opt to what sutra_tokenize() does: struct_size, every option 0.
 * Does nothing when opt is NULL or struct_size is smaller than the first version. */
SUTRA_EXPERIMENTAL void sutra_tokenize_options_init_sized(sutra_tokenize_options *opt, size_t struct_size);
static inline void sutra_tokenize_options_init(sutra_tokenize_options *opt) {
    sutra_tokenize_options_init_sized(opt, sizeof *opt);
}

/* Tokenises one UTF-8 text as *opt says (NULL: as sutra_tokenize() does) into ids (ids_cap
 * entries); *n_ids receives the count (also when ids_cap is too small, and then the call returns
 * SUTRA_ERR_BUFFER_TOO_SMALL). starts/ends, when not NULL, receive each token's byte span
 * [start, end) in text (not in the prompt); special tokens and the prompt's tokens get -1.
 * Thread-safe: unlike the other calls it may run while another thread uses the embedder, since
 * it only reads the tokenizer and the prompt (do not change the prompt meanwhile); a failure is
 * described in err (errcap bytes, NUL-terminated), not in sutra_embedder_last_error(). */
SUTRA_EXPERIMENTAL sutra_status sutra_tokenize_ex(const sutra_embedder *embedder, const char *text, size_t len,
                                                  const sutra_tokenize_options *opt, int32_t *ids, int32_t *starts,
                                                  int32_t *ends, size_t ids_cap, size_t *n_ids, char *err,
                                                  size_t errcap);

/* The vocabulary entry of token id (e.g. "##ing", "[CLS]"), or NULL for an unknown id. Owned by
 * the embedder; thread-safe as sutra_tokenize_ex() is. */
SUTRA_EXPERIMENTAL const char *sutra_embedder_token(const sutra_embedder *embedder, int32_t id);

/* Embeds n token sequences given as ids (the whole model input as it is: no special tokens are
 * added, nothing is truncated): sequence i is ids[i][0 .. n_ids[i]), with 1 <= n_ids[i] <= the
 * token limit and every id below the model's vocabulary size, else SUTRA_ERR_INVALID_ARGUMENT
 * naming the sequence and nothing is written. Sequences are packed into token-budget batches as
 * sutra_embed_batch() packs texts. With raw = 0, out receives n x sutra_embedder_dim() floats,
 * truncated and normalised as configured; with raw = 1, n x vector_size floats (sutra_model_info:
 * the pooled vectors after the model's Dense modules, if any), before any truncation or
 * normalisation. */
SUTRA_EXPERIMENTAL sutra_status sutra_embed_tokens(sutra_embedder *embedder, const int32_t *const *ids,
                                                   const size_t *n_ids, size_t n, int raw, float *out, size_t out_cap);

/* Finishes a raw pooled vector (sutra_embed_tokens() with raw = 1) as the embedding calls do:
 * copies its first dims floats to out and, when normalize is set, L2-normalises them (dividing by
 * max(norm, 1e-12), as sentence-transformers does). */
SUTRA_EXPERIMENTAL void sutra_vector_finish(const float *pooled, int dims, int normalize, float *out);

/* Tokenises (query, document) exactly as sutra_rerank() does (the pair form, or Qwen3-Reranker's
 * prompt, truncated to the token limit) into ids and, when types is not NULL, token types (cap
 * entries each); *n receives the count (also when cap is too small: SUTRA_ERR_BUFFER_TOO_SMALL).
 * Thread-safe as sutra_tokenize_ex() is; failures are described in err. */
SUTRA_EXPERIMENTAL sutra_status sutra_tokenize_pair(const sutra_embedder *embedder, const char *query, size_t query_len,
                                                    const char *document, size_t document_len, int32_t *ids,
                                                    int32_t *types, size_t cap, size_t *n, char *err, size_t errcap);

/* sutra_rerank() over sequences sutra_tokenize_pair() made: ids[i][0 .. n_ids[i]) with types[i]
 * (types, or any types[i], may be NULL: all 0); 1 <= n_ids[i] <= the token limit. */
SUTRA_EXPERIMENTAL sutra_status sutra_rerank_tokens(sutra_embedder *embedder, const int32_t *const *ids,
                                                    const int32_t *const *types, const size_t *n_ids, size_t n, int raw,
                                                    float *scores, size_t scores_cap);

/* sutra_embed_outputs() over token sequences as sutra_embed_tokens() takes them. */
SUTRA_EXPERIMENTAL sutra_status sutra_embed_outputs_tokens(sutra_embedder *embedder, const int32_t *const *ids,
                                                           const size_t *n_ids, size_t n, sutra_outputs *out);

/* One row of the profile: the time spent in one kind of op. */
typedef struct sutra_op_time {
    char name[48]; /* the op and its shape, e.g. "matmul N 2304 K 768" or "attention flash d 64" */
    uint64_t calls;
    double ms; /* in all, since create or the last reset */
} sutra_op_time;

/* With config.profile = 1: the ops timed so far, longest total first, into out (cap rows); *n
 * receives how many there are (SUTRA_ERR_BUFFER_TOO_SMALL, with the first cap written, when
 * more than cap). Without profiling: SUTRA_ERR_INVALID_ARGUMENT. */
SUTRA_EXPERIMENTAL sutra_status sutra_embedder_profile(const sutra_embedder *embedder, sutra_op_time *out, size_t cap,
                                                       size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_H */
