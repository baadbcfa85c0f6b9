/*
 * main.c - the `sutra` command line: embed, tokenize, info, serve.
 *
 * Rules: uses only the public header; vectors go to stdout (one JSON array per input, in input
 * order), everything else to stderr; exit status 0 only if every input succeeded.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/engine_opts.h"
#include "../server/serve.h"
#include "file_cmd.h"
#include "models_cmd.h"
#include "outputs_cmd.h"
#include "sutra.h"

#define CHUNK_LINES 256

static void usage(FILE *f) {
    fprintf(f,
            "usage: sutra <command> [options] [TEXT ...]\n"
            "\n"
            "commands:\n"
            "  embed      print one JSON array of floats per text (TEXT arguments, else stdin lines)\n"
            "  rerank     score documents (DOC arguments, else stdin lines) against --query, best first:\n"
            "             one {\"index\": i, \"score\": s} per line (cross-encoders, Qwen3-Reranker)\n"
            "  tokenize   print the token ids of each text as a JSON array\n"
            "  info       print the model's metadata and the CPU features in use\n"
            "  serve      run the HTTP embedding server (see `sutra serve --help`, docs/SERVER.md)\n"
            "  models     list | pull ID | info ID | rm ID: the models here and in the hub cache\n"
            "             (see `sutra models --help`)\n"
            "\n"
            "options:\n"
            "  -m, --model M          model directory, a name in the models directory, or a Hugging Face\n"
            "                         hub id org/name[@revision] (from the hub cache, else downloaded;\n"
            "                         default all-MiniLM-L6-v2; see --models-dir, --hub-cache)\n"
            "  -d, --dimensions N     output dimensions (Matryoshka truncation, then re-normalisation)\n"
            "  -l, --max-length N     token limit per input (default: the model's)\n"
            "  -t, --threads N        CPU threads (default: all cores)\n"
            "      --pooling P        model|mean|cls|max|last\n"
            "      --normalize B      model|on|off\n"
            "      --batch-tokens N   tokens per forward batch\n"
            "      --prompt-name NAME the model's prompt NAME (e.g. query, passage) before each text\n"
            "      --prompt TEXT      a raw prompt before each text\n"
            "      --similarity       (embed) also print the cosine similarity matrix to stderr\n"
            "      --output-kind K    (embed) dense (default), sparse, colbert or all: one JSON object per\n"
            "                         text with the model's outputs of that kind (SPLADE, bge-m3); in file\n"
            "                         mode jsonl records with \"embedding\", \"sparse\", \"colbert\"\n"
            "      --query Q          (rerank) the query the documents are scored against\n"
            "      --raw              (rerank) the logits instead of the scores\n"
            "      --top-n N          (rerank) print the best N only\n"
            "      --repeat N         (rerank, --output-kind) N times, the median time on stderr\n"
            "\n"
            "files (embed; any of these options selects file mode):\n"
            "      --input FILE       FILE.jsonl: one JSON object per line; other names: one text per line\n"
            "                         (default -: text lines from stdin)\n"
            "      --output FILE      FILE.jsonl ({\"id\":..,\"embedding\":[..]} per line) or FILE.npy (float32\n"
            "                         rows, ids in FILE.npy.ids); default -: jsonl on stdout\n"
            "      --text-field F     jsonl field with the text (default text)\n"
            "      --id-field F       jsonl field with the id (default: id if present, else the line number)\n"
            "      --window N         embed long texts as windows of N tokens (0 is an error) instead of\n"
            "                         truncating them; --overlap N tokens shared by windows (default N/4),\n"
            "                         --aggregate mean|max|weighted (default mean)\n"
            "      --chunk N          late chunking: one vector per N-token chunk, each seeing the whole text\n"
            "      --resume           skip ids the output already holds, append the rest\n"
            "      --on-error E       skip|fail: a bad line is reported and skipped (default), or stops the run\n"
            "  -v, --verbose          report batches, attention paths and timing on stderr\n"
            "  -h, --help\n"
            "\n");
    sutra_engine_usage(f);
}

static int parse_choice(const char *arg, const char *const *names, int n, const char *opt) {
    for (int i = 0; i < n; i++)
        if (!strcmp(arg, names[i])) return i;
    fprintf(stderr, "sutra: invalid value '%s' for %s\n", arg, opt);
    exit(2);
}

static int parse_int(const char *arg, const char *opt) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < 0 || v > 1 << 24) {
        fprintf(stderr, "sutra: %s expects a non-negative integer, got '%s'\n", opt, arg);
        exit(2);
    }
    return (int)v;
}

static void print_vector(const float *v, int dim) {
    putchar('[');
    for (int i = 0; i < dim; i++) printf(i ? ",%.8g" : "%.8g", v[i]);
    puts("]");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct cli {
    sutra_embedder *emb;
    int dim;
    int verbose;
    int failures;
    size_t line_no;
} cli;

/* Embeds n texts; on a batch failure embeds them one by one so that each bad input is named and
 * the others still print (a bad input prints `null`). Vectors are appended to keep (for
 * --similarity) when keep is not NULL. */
static void embed_chunk(cli *c, char **texts, size_t n, float **keep, size_t *kept) {
    float *out = malloc(n * (size_t)c->dim * sizeof(float));
    if (!out) {
        fprintf(stderr, "sutra: out of memory\n");
        exit(1);
    }
    double t0 = now_s();
    sutra_status st = sutra_embed_batch(c->emb, (const char *const *)texts, n, out, n * (size_t)c->dim);
    double dt = now_s() - t0;
    for (size_t i = 0; i < n; i++) {
        sutra_status si = st;
        if (st) si = sutra_embed(c->emb, texts[i], (size_t)-1, out + i * c->dim, (size_t)c->dim);
        if (si) {
            fprintf(stderr, "sutra: input %zu: %s: %s\n", c->line_no + i + 1, sutra_status_str(si),
                    sutra_embedder_last_error(c->emb));
            puts("null");
            c->failures++;
            continue;
        }
        print_vector(out + i * c->dim, c->dim);
        if (keep) {
            *keep = realloc(*keep, (*kept + 1) * (size_t)c->dim * sizeof(float));
            memcpy(*keep + *kept * c->dim, out + i * c->dim, (size_t)c->dim * sizeof(float));
            (*kept)++;
        }
    }
    if (c->verbose) {
        sutra_stats s;
        sutra_embedder_stats(c->emb, &s);
        fprintf(stderr, "sutra: %zu texts in %.2f ms; totals: %llu batches (%llu standard, %llu flash), "
                        "%llu tokens, %llu at the token limit; last batch: %s attention, longest %d tokens\n",
                n, dt * 1e3, (unsigned long long)s.batches, (unsigned long long)s.batches_standard,
                (unsigned long long)s.batches_flash, (unsigned long long)s.tokens, (unsigned long long)s.truncated,
                s.last_path == 1 ? "flash" : "standard", s.last_batch_max_len);
    }
    c->line_no += n;
    free(out);
}

static void print_similarity(const float *v, size_t n, int dim) {
    fprintf(stderr, "cosine similarity:\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double dot = 0, ni = 0, nj = 0;
            for (int k = 0; k < dim; k++) {
                dot += (double)v[i * dim + k] * v[j * dim + k];
                ni += (double)v[i * dim + k] * v[i * dim + k];
                nj += (double)v[j * dim + k] * v[j * dim + k];
            }
            fprintf(stderr, " %6.3f", dot / (sqrt(ni * nj) + 1e-30));
        }
        fprintf(stderr, "\n");
    }
}

/* Reads stdin lines (without their line ending) in chunks and hands each chunk to fn. */
static void for_stdin_chunks(cli *c, void (*fn)(cli *, char **, size_t, float **, size_t *), float **keep,
                             size_t *kept) {
    char *texts[CHUNK_LINES];
    size_t n = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "sutra: input %zu: contains a NUL byte; embedding the text before it\n",
                    c->line_no + n + 1);
        }
        texts[n] = strdup(line);
        if (!texts[n]) exit(1);
        if (++n == CHUNK_LINES) {
            fn(c, texts, n, keep, kept);
            for (size_t i = 0; i < n; i++) free(texts[i]);
            n = 0;
        }
    }
    if (n) fn(c, texts, n, keep, kept);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(line);
}

static void tokenize_chunk(cli *c, char **texts, size_t n, float **keep, size_t *kept) {
    (void)keep;
    (void)kept;
    size_t cap = 1024;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        size_t count = 0;
        sutra_status st = sutra_tokenize(c->emb, texts[i], (size_t)-1, ids, cap, &count);
        if (st == SUTRA_ERR_BUFFER_TOO_SMALL) {
            cap = count;
            ids = realloc(ids, cap * sizeof *ids);
            st = sutra_tokenize(c->emb, texts[i], (size_t)-1, ids, cap, &count);
        }
        if (st) {
            fprintf(stderr, "sutra: input %zu: %s: %s\n", c->line_no + i + 1, sutra_status_str(st),
                    sutra_embedder_last_error(c->emb));
            puts("null");
            c->failures++;
            continue;
        }
        putchar('[');
        for (size_t k = 0; k < count; k++) printf(k ? ",%d" : "%d", ids[k]);
        puts("]");
    }
    c->line_no += n;
    free(ids);
}

static void print_info(sutra_embedder *emb) {
    sutra_model_info m;
    sutra_embedder_info(emb, &m);
    printf("{\n  \"sutra_version\": \"%s\",\n  \"model\": \"%s\",\n  \"path\": \"%s\",\n", sutra_version(), m.name,
           m.path);
    printf("  \"architecture\": \"%s\",\n  \"hidden_size\": %d,\n  \"layers\": %d,\n  \"heads\": %d,\n",
           m.architecture, m.hidden_size, m.num_layers, m.num_heads);
    printf("  \"intermediate_size\": %d,\n  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n",
           m.intermediate_size, m.vocab_size, m.max_position_embeddings);
    printf("  \"max_tokens\": %d,\n  \"dimensions\": %d,\n  \"pooling\": \"%s\",\n", m.max_tokens, m.dim, m.pooling);
    printf("  \"dense_modules\": %d,\n  \"vector_size\": %d,\n  \"normalize\": %s,\n", m.dense_modules, m.vector_size,
           m.normalize ? "true" : "false");
    printf("  \"weights_dtype\": \"%s\",\n  \"tokenizer\": \"%s\",\n", m.weights_dtype, m.tokenizer);
    printf("  \"prompt\": \"");
    for (const char *p = sutra_embedder_prompt(emb); *p; p++) printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    printf("\",\n");
    printf("  \"attention\": \"%s\",\n  \"flash_threshold\": %d,\n", m.attention, m.flash_threshold);
    printf("  \"device\": \"%s\",\n  \"gpu\": \"%s\",\n  \"gpu_compute_capability\": \"%d.%d\",\n", m.device,
           m.gpu_name, m.gpu_cc_major, m.gpu_cc_minor);
    printf("  \"gpu_memory_bytes\": %zu,\n  \"attention_kernels\": \"%s\",\n", m.gpu_bytes, m.attention_kernels);
    printf("  \"compute_dtype\": \"%s\",\n", m.compute_dtype);
    printf("  \"outputs\": \"%s\",\n  \"sparse_kind\": \"%s\",\n  \"multivector_dim\": %d,\n  \"score_activation\": \"%s\",\n", m.outputs,
           m.sparse_kind, m.multivector_dim, m.score_activation);
    printf("  \"backend_settings\": \"%s\",\n  \"approximate_gelu\": %s,\n  \"profile\": %s,\n", m.backend_settings,
           m.approximate_gelu ? "true" : "false", m.profile ? "true" : "false");
    printf("  \"cpu_features\": \"%s\",\n  \"cpu_isa\": \"%s\",\n  \"threads\": %d,\n", m.cpu_features, m.cpu_isa,
           m.threads);
    printf("  \"threads_source\": ");
    cli_json_str(m.threads_source);
    printf(",\n");
    printf("  \"models_dir\": \"%s\"\n}\n", m.models_dir);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve")) return sutra_serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "models")) return cli_models(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") && strcmp(cmd, "tokenize") && strcmp(cmd, "info") && strcmp(cmd, "rerank")) {
        fprintf(stderr, "sutra: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = "all-MiniLM-L6-v2";
    sutra_progress_state prog = {.tty = isatty(2)};
    cfg.hub.progress = sutra_engine_progress; /* a model by hub id may download */
    cfg.hub.progress_data = &prog;
    int verbose = 0, similarity = 0;
    enum { OPT_POOLING = 256, OPT_NORMALIZE, OPT_BATCH, OPT_SIM, OPT_PROMPT_NAME, OPT_PROMPT, OPT_INPUT, OPT_OUTPUT,
           OPT_TEXT_FIELD, OPT_ID_FIELD, OPT_WINDOW, OPT_OVERLAP, OPT_AGGREGATE, OPT_CHUNK, OPT_RESUME, OPT_ON_ERROR,
           OPT_OUTPUT_KIND, OPT_QUERY, OPT_RAW, OPT_TOP_N, OPT_REPEAT };
    static const struct option own[] = {
        {"model", required_argument, 0, 'm'},
        {"dimensions", required_argument, 0, 'd'},
        {"max-length", required_argument, 0, 'l'},
        {"threads", required_argument, 0, 't'},
        {"pooling", required_argument, 0, OPT_POOLING},
        {"normalize", required_argument, 0, OPT_NORMALIZE},
        {"batch-tokens", required_argument, 0, OPT_BATCH},
        {"similarity", no_argument, 0, OPT_SIM},
        {"prompt-name", required_argument, 0, OPT_PROMPT_NAME},
        {"prompt", required_argument, 0, OPT_PROMPT},
        {"input", required_argument, 0, OPT_INPUT},
        {"output", required_argument, 0, OPT_OUTPUT},
        {"text-field", required_argument, 0, OPT_TEXT_FIELD},
        {"id-field", required_argument, 0, OPT_ID_FIELD},
        {"window", required_argument, 0, OPT_WINDOW},
        {"overlap", required_argument, 0, OPT_OVERLAP},
        {"aggregate", required_argument, 0, OPT_AGGREGATE},
        {"chunk", required_argument, 0, OPT_CHUNK},
        {"resume", no_argument, 0, OPT_RESUME},
        {"on-error", required_argument, 0, OPT_ON_ERROR},
        {"output-kind", required_argument, 0, OPT_OUTPUT_KIND},
        {"query", required_argument, 0, OPT_QUERY},
        {"raw", no_argument, 0, OPT_RAW},
        {"top-n", required_argument, 0, OPT_TOP_N},
        {"repeat", required_argument, 0, OPT_REPEAT},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct option opts[64];
    if (!sutra_engine_options(own, opts, sizeof opts / sizeof opts[0])) return 2;
    static const char *poolings[] = {"model", "mean", "cls", "max", "last"};
    static const char *norms[] = {"model", "on", "off"};
    static const char *aggregates[] = {"mean", "max", "weighted"};
    static const char *on_errors[] = {"skip", "fail"};
    static const char *kinds[] = {"dense", "sparse", "colbert", "all"};
    static const int kind_bits[] = {SUTRA_OUTPUT_DENSE, SUTRA_OUTPUT_SPARSE, SUTRA_OUTPUT_MULTIVECTOR, -1};
    int output_kind = SUTRA_OUTPUT_DENSE;
    rerank_opts ro = {0};
    file_opts fo = {.input = "-", .output = "-", .text_field = "text", .window = {.size = -1, .overlap = -1}};
    int file_mode = 0;
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "m:d:l:t:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'm': cfg.model = optarg; break;
        case 'd': cfg.dimensions = parse_int(optarg, "--dimensions"); break;
        case 'l': cfg.max_sequence_length = parse_int(optarg, "--max-length"); break;
        case 't': cfg.threads = parse_int(optarg, "--threads"); break;
        case OPT_POOLING: cfg.pooling = (sutra_pooling)parse_choice(optarg, poolings, 5, "--pooling"); break;
        case OPT_NORMALIZE: cfg.normalize = (sutra_normalize)parse_choice(optarg, norms, 3, "--normalize"); break;
        case OPT_BATCH: cfg.max_batch_tokens = parse_int(optarg, "--batch-tokens"); break;
        case OPT_SIM: similarity = 1; break;
        case OPT_PROMPT_NAME: cfg.prompt_name = optarg; break;
        case OPT_PROMPT: cfg.prompt = optarg; break;
        case OPT_INPUT: fo.input = optarg, file_mode = 1; break;
        case OPT_OUTPUT: fo.output = optarg, file_mode = 1; break;
        case OPT_TEXT_FIELD: fo.text_field = optarg, file_mode = 1; break;
        case OPT_ID_FIELD: fo.id_field = optarg, file_mode = 1; break;
        case OPT_WINDOW: fo.window.size = parse_int(optarg, "--window"), fo.windowed = file_mode = 1; break;
        case OPT_OVERLAP: fo.window.overlap = parse_int(optarg, "--overlap"), fo.windowed = file_mode = 1; break;
        case OPT_AGGREGATE:
            fo.window.aggregate = (sutra_aggregate)parse_choice(optarg, aggregates, 3, "--aggregate");
            fo.windowed = file_mode = 1;
            break;
        case OPT_CHUNK:
            if (!(fo.chunk_tokens = parse_int(optarg, "--chunk"))) {
                fprintf(stderr, "sutra: --chunk expects a positive number of tokens, got 0\n");
                return 2;
            }
            file_mode = 1;
            break;
        case OPT_RESUME: fo.resume = file_mode = 1; break;
        case OPT_ON_ERROR: fo.on_error_fail = parse_choice(optarg, on_errors, 2, "--on-error"), file_mode = 1; break;
        case OPT_OUTPUT_KIND: output_kind = kind_bits[parse_choice(optarg, kinds, 4, "--output-kind")]; break;
        case OPT_QUERY: ro.query = optarg; break;
        case OPT_RAW: ro.raw = 1; break;
        case OPT_TOP_N: ro.top_n = parse_int(optarg, "--top-n"); break;
        case OPT_REPEAT: ro.repeat = parse_int(optarg, "--repeat"); break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (sutra_engine_option(o, optarg, &cfg, "sutra")) break;
            usage(stderr);
            return 2;
        }
    }
    if (file_mode && (strcmp(cmd, "embed") || optind < argc)) {
        fprintf(stderr, "sutra: %s\n", strcmp(cmd, "embed") ? "file options (--input, --output, --window, ...) are for embed"
                                                            : "TEXT arguments do not mix with file mode (--input, ...)");
        return 2;
    }
    if (!strcmp(cmd, "rerank") && !ro.query) {
        fprintf(stderr, "sutra: rerank needs --query\n");
        return 2;
    }
    if (output_kind != SUTRA_OUTPUT_DENSE && strcmp(cmd, "embed")) {
        fprintf(stderr, "sutra: --output-kind is for embed\n");
        return 2;
    }
    char err[1024];
    sutra_embedder *emb = NULL;
    double t0 = now_s();
    sutra_status st = sutra_embedder_create(&cfg, &emb, err, sizeof err);
    if (st) {
        fprintf(stderr, "sutra: cannot load model: %s: %s\n", sutra_status_str(st), err);
        return 1;
    }
    sutra_model_info mi;
    sutra_embedder_info(emb, &mi);
    if (*mi.device_note) fprintf(stderr, "sutra: %s\n", mi.device_note);
    if (verbose) fprintf(stderr, "sutra: model loaded in %.1f ms on %s%s%s\n", (now_s() - t0) * 1e3, mi.device,
                         *mi.gpu_name ? " " : "", mi.gpu_name);
    if (output_kind == -1) output_kind = sutra_embedder_outputs(emb) & ~SUTRA_OUTPUT_RERANK;
    if (file_mode) {
        fo.verbose = verbose;
        fo.output_kind = output_kind;
        int rc = file_embed(emb, &fo);
        sutra_engine_print_profile(emb, stderr);
        sutra_embedder_destroy(emb);
        return rc;
    }
    if (!strcmp(cmd, "rerank") || output_kind != SUTRA_OUTPUT_DENSE) { /* arguments or stdin lines */
        /* all of the documents or texts at once: arguments, else stdin lines */
        const int from_stdin = optind >= argc;
        char **items = from_stdin ? NULL : argv + optind;
        size_t n = from_stdin ? 0 : (size_t)(argc - optind), cap = 0;
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while (from_stdin && (len = getline(&line, &lcap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            char **grown = n == cap ? realloc(items, (cap = cap ? 2 * cap : 64) * sizeof *items) : items;
            if (!grown || !(grown[n] = strdup(line))) exit(1);
            items = grown, n++;
        }
        if (from_stdin && !items) items = argv + argc; /* no input at all */
        int rc = !strcmp(cmd, "rerank") ? cli_rerank(emb, &ro, items, n) : cli_embed_outputs(emb, output_kind, items, n, ro.repeat);
        if (from_stdin) {
            for (size_t i = 0; i < n; i++) free(items[i]);
            if (n) free(items);
        }
        free(line);
        sutra_engine_print_profile(emb, stderr);
        sutra_embedder_destroy(emb);
        return rc;
    }
    cli c = {.emb = emb, .dim = sutra_embedder_dim(emb), .verbose = verbose};
    float *keep = NULL;
    size_t kept = 0;
    if (!strcmp(cmd, "info")) {
        print_info(emb);
    } else {
        void (*fn)(cli *, char **, size_t, float **, size_t *) = !strcmp(cmd, "embed") ? embed_chunk : tokenize_chunk;
        float **k = similarity ? &keep : NULL;
        if (optind < argc) {
            for (int i = optind; i < argc; i += CHUNK_LINES) {
                size_t n = (size_t)(argc - i) < CHUNK_LINES ? (size_t)(argc - i) : CHUNK_LINES;
                fn(&c, argv + i, n, k, &kept);
            }
        } else {
            for_stdin_chunks(&c, fn, k, &kept);
        }
        if (similarity && kept) print_similarity(keep, kept, c.dim);
    }
    free(keep);
    sutra_engine_print_profile(emb, stderr);
    sutra_embedder_destroy(emb);
    return c.failures ? 1 : 0;
}
