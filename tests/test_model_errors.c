/*
 * test_model_errors.c - broken model directories give a clear status and a message that names
 * the file, field or tensor at fault, and never crash. Each case is a temporary directory made
 * from the default model's files with one thing broken.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sutra.h"
#include "testutil.h"

static char tmpl[256];

static void write_file(const char *dir, const char *name, const char *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        TU_CHECK(0, "cannot write %s", path);
        return;
    }
    fwrite(data, 1, len, f);
    fclose(f);
}

static void copy_file(const char *dir, const char *name, size_t limit) {
    char src[1024];
    snprintf(src, sizeof src, "%s/%s", tu_default_model(), name);
    size_t len;
    char *data = tu_read_file(src, &len);
    if (!data) return;
    write_file(dir, name, data, len < limit ? len : limit);
    free(data);
}

/* A fresh directory with the default model's files (model.safetensors as a symlink). */
static const char *fresh_model(void) {
    snprintf(tmpl, sizeof tmpl, "/tmp/sutra-test-model-XXXXXX");
    if (!mkdtemp(tmpl)) {
        TU_CHECK(0, "mkdtemp");
        return tmpl;
    }
    const char *files[] = {"config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"};
    for (size_t i = 0; i < 4; i++) copy_file(tmpl, files[i], (size_t)-1);
    char path[1024], src[1024];
    snprintf(path, sizeof path, "%s/1_Pooling", tmpl);
    if (mkdir(path, 0700) != 0) TU_CHECK(0, "mkdir %s", path);
    copy_file(tmpl, "1_Pooling/config.json", (size_t)-1);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
    snprintf(src, sizeof src, "%s/model.safetensors", tu_default_model());
    TU_CHECK(symlink(src, path) == 0, "symlink %s", path);
    return tmpl;
}

static void cleanup(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TU_CHECK(system(cmd) == 0, "cleanup %s", dir);
}

/* Creates an embedder on dir; expects status want and a message containing needle. */
static void expect(const char *what, const char *dir, sutra_status want, const char *needle) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = dir;
    cfg.threads = 1;
    char err[1024] = "";
    sutra_embedder *e = (sutra_embedder *)1;
    sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == want, "%s: status %s (%d), want %s: %s", what, sutra_status_str(st), st, sutra_status_str(want), err);
    TU_CHECK((st == SUTRA_OK) == (e != NULL), "%s: out %s", what, e ? "set on failure" : "not set on success");
    TU_CHECK(needle == NULL || strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    printf("%-34s -> %s: %s\n", what, sutra_status_str(st), err);
    if (st == SUTRA_OK) sutra_embedder_destroy(e);
}

static void replace_in_file(const char *dir, const char *name, const char *from, const char *to) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *data = tu_read_file(path, &len);
    if (!data) return;
    char *at = strstr(data, from);
    TU_CHECK(at != NULL, "'%s' not in %s", from, name);
    if (!at) return;
    size_t fl = strlen(from), tl = strlen(to);
    char *out = malloc(len - fl + tl + 1);
    size_t pre = (size_t)(at - data);
    memcpy(out, data, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, len - pre - fl);
    write_file(dir, name, out, len - fl + tl);
    free(out);
    free(data);
}

/* modules.json: the default model's Transformer and Pooling, then extra (a JSON fragment). */
static void write_modules(const char *dir, const char *extra) {
    char m[2048];
    int n = snprintf(m, sizeof m,
                     "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                     " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}%s]",
                     extra);
    write_file(dir, "modules.json", m, (size_t)n);
}

static const char DENSE2[] =
    ", {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}";

/* 2_Dense/config.json and, with rows > 0, a model.safetensors holding linear.weight (rows, cols). */
static void write_dense(const char *dir, const char *config, int rows, int cols) {
    char path[1024];
    snprintf(path, sizeof path, "%s/2_Dense", dir);
    if (mkdir(path, 0700) != 0) TU_CHECK(0, "mkdir %s", path);
    write_file(dir, "2_Dense/config.json", config, strlen(config));
    if (rows <= 0) return;
    char hdr[256];
    const size_t bytes = (size_t)rows * (size_t)cols * 4;
    int h = snprintf(hdr + 8, sizeof hdr - 8, "{\"linear.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                     rows, cols, bytes);
    while (h % 8) hdr[8 + h++] = ' ';
    for (int i = 0; i < 8; i++) hdr[i] = (char)(((uint64_t)h >> (8 * i)) & 0xff);
    char *buf = calloc(1, (size_t)h + 8 + bytes);
    memcpy(buf, hdr, (size_t)h + 8);
    for (size_t i = 0; i < bytes / 4; i++) ((float *)(void *)(buf + 8 + h))[i] = 0.01f * (float)(i % 7);
    write_file(dir, "2_Dense/model.safetensors", buf, (size_t)h + 8 + bytes);
    free(buf);
}

/* Dense modules: each broken part named; a good one loads. */
static void dense_cases(void) {
    const char *d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": 16, \"bias\": false, "
                   "\"activation_function\": \"torch.nn.modules.activation.Tanh\"}", 16, 384);
    expect("a good Dense module", d, SUTRA_OK, NULL);
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 100, \"out_features\": 16, \"bias\": false}", 16, 100);
    expect("Dense in_features not the width", d, SUTRA_ERR_MODEL, "pooled vectors have 384");
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": 16, \"activation_function\": \"torch.nn.modules.activation.Softsign\"}",
                16, 384);
    expect("Dense with an unknown activation", d, SUTRA_ERR_UNSUPPORTED, "Softsign");
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": 16, \"bias\": false}", 0, 0);
    expect("Dense without weights", d, SUTRA_ERR_IO, "2_Dense/model.safetensors");
    write_file(d, "2_Dense/pytorch_model.bin", "PK\x03\x04", 4);
    expect("Dense weights as a broken torch.save file", d, SUTRA_ERR_FORMAT, "2_Dense/pytorch_model.bin: not a readable zip");
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": 16, \"bias\": true}", 16, 384);
    expect("Dense bias missing", d, SUTRA_ERR_MODEL, "linear.bias");
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": 32, \"bias\": false}", 16, 384);
    expect("Dense weight of the wrong shape", d, SUTRA_ERR_MODEL, "linear.weight");
    cleanup(d);

    d = fresh_model();
    write_modules(d, DENSE2);
    write_dense(d, "{\"in_features\": 384, \"out_features\": -4}", 16, 384);
    expect("Dense out_features negative", d, SUTRA_ERR_MODEL, "out_features");
    cleanup(d);

    d = fresh_model();
    write_modules(d, ", {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}"
                     ", {\"idx\": 3, \"name\": \"3\", \"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}");
    write_dense(d, "{\"in_features\": 384, \"out_features\": 16, \"bias\": false}", 16, 384);
    expect("Dense after Normalize", d, SUTRA_ERR_UNSUPPORTED, "after Normalize");
    cleanup(d);

    d = fresh_model();
    write_modules(d, ", {\"idx\": 2, \"name\": \"2\", \"path\": \"../2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}");
    expect("Dense path outside the model", d, SUTRA_ERR_FORMAT, "valid 'path'");
    cleanup(d);
}

int main(void) {
    const char *d;

    d = fresh_model();
    expect("intact copy loads", d, SUTRA_OK, NULL);
    cleanup(d);

    expect("directory does not exist", "/nonexistent/model", SUTRA_ERR_IO, "/nonexistent/model");

    d = fresh_model();
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    expect("config.json missing", d, SUTRA_ERR_IO, "config.json");
    cleanup(d);

    d = fresh_model();
    write_file(d, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": ", 39);
    expect("config.json malformed", d, SUTRA_ERR_FORMAT, "config.json");
    cleanup(d);

    d = fresh_model();
    replace_in_file(d, "config.json", "\"hidden_size\": 384", "\"hidden_size\": \"384\"");
    expect("config field of wrong type", d, SUTRA_ERR_MODEL, "hidden_size");
    cleanup(d);

    d = fresh_model();
    replace_in_file(d, "config.json", "\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"");
    expect("unsupported architecture", d, SUTRA_ERR_UNSUPPORTED, "gpt2");
    cleanup(d);

    d = fresh_model();
    replace_in_file(d, "config.json", "\"intermediate_size\": 1536", "\"intermediate_size\": 1537");
    expect("tensor shape mismatch", d, SUTRA_ERR_MODEL, "encoder.layer.0.intermediate.dense.weight");
    cleanup(d);

    d = fresh_model();
    replace_in_file(d, "config.json", "\"num_hidden_layers\": 6", "\"num_hidden_layers\": 7");
    expect("tensor missing", d, SUTRA_ERR_MODEL, "encoder.layer.6.");
    cleanup(d);

    d = fresh_model();
    replace_in_file(d, "config.json", "\"num_attention_heads\": 12", "\"num_attention_heads\": 7");
    expect("heads do not divide hidden", d, SUTRA_ERR_MODEL, "num_attention_heads");
    cleanup(d);

    d = fresh_model();
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    copy_file(d, "model.safetensors", 1 << 20);
    expect("safetensors truncated", d, SUTRA_ERR_FORMAT, "model.safetensors");
    cleanup(d);

    d = fresh_model();
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    write_file(d, "model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", 24);
    expect("safetensors header not JSON", d, SUTRA_ERR_FORMAT, "model.safetensors");
    cleanup(d);

    d = fresh_model();
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    expect("safetensors missing", d, SUTRA_ERR_IO, "model.safetensors");
    cleanup(d);

    d = fresh_model();
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    unlink(p);
    expect("no tokenizer.json nor vocab.txt", d, SUTRA_ERR_IO, NULL);
    cleanup(d);

    d = fresh_model();
    write_file(d, "tokenizer.json", "{\"model\": [1, 2", 15);
    expect("tokenizer.json malformed", d, SUTRA_ERR_FORMAT, "tokenizer.json");
    cleanup(d);

    d = fresh_model();
    write_file(d, "modules.json", "[{\"idx\": 0,", 11);
    expect("modules.json malformed", d, SUTRA_ERR_FORMAT, "modules.json");
    cleanup(d);

    /* a module that changes the vectors and has no implementation is refused, not skipped */
    d = fresh_model();
    {
        static const char ln[] =
            "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
            " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"},"
            " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_LayerNorm\", \"type\": \"sentence_transformers.models.LayerNorm\"}]";
        write_file(d, "modules.json", ln, sizeof ln - 1);
    }
    expect("modules.json with a LayerNorm module", d, SUTRA_ERR_UNSUPPORTED, "models.LayerNorm' at 2_LayerNorm is not supported");
    cleanup(d);

    dense_cases();

    d = fresh_model();
    write_file(d, "1_Pooling/config.json", "{\"pooling_mode_cls_token\": false}", 33);
    expect("pooling config enables nothing", d, SUTRA_ERR_MODEL, "1_Pooling/config.json");
    cleanup(d);

    d = fresh_model();
    write_file(d, "sentence_bert_config.json", "{\"max_seq_length\": -5}", 22);
    expect("max_seq_length negative", d, SUTRA_ERR_MODEL, "max_seq_length");
    cleanup(d);

    return tu_finish("test_model_errors");
}
