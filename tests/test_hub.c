/*
 * test_hub.c - hub ids, the hub cache's layout and the parsers of the hub's answers (src/hub),
 * without a network: a cache laid out on disk as huggingface_hub writes it (refs, snapshots of
 * relative symlinks into blobs/), found, listed, refused when incomplete, removed. The downloads
 * themselves are tested against the mock hub (tests/hub/test_hub.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "testutil.h"

static void test_ids(void) {
    static const struct { const char *s, *repo, *rev, *folder; } ok[] = {
        {"BAAI/bge-small-en-v1.5", "BAAI/bge-small-en-v1.5", "main", "models--BAAI--bge-small-en-v1.5"},
        {"org/name@v1.0", "org/name", "v1.0", "models--org--name"},
        {"org/name@refs/pr/12", "org/name", "refs/pr/12", "models--org--name"},
        {"bert-base-uncased", "bert-base-uncased", "main", "models--bert-base-uncased"},
        {"a_b/c.d@0123456789abcdef0123456789abcdef01234567", "a_b/c.d", "0123456789abcdef0123456789abcdef01234567",
         "models--a_b--c.d"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sutra_hub_id id;
        char err[256];
        sutra_status st = sutra_hub_id_parse(ok[i].s, &id, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && !strcmp(id.repo, ok[i].repo) && !strcmp(id.rev, ok[i].rev) &&
                     !strcmp(id.folder, ok[i].folder),
                 "id '%s': st %d repo '%s' rev '%s' folder '%s' (%s)", ok[i].s, st, id.repo, id.rev, id.folder, err);
    }
    static const char *const bad[] = {"", "/", "a/", "/a", "a/b/c", "a//b", "../a", "a/..", "a/b@", "a/b@../x",
                                      "a/b@/x", "-a/b", "a/b-", "a--b/c", "a/b c", "a/b@x y", "a/b\n", "a\\b",
                                      "org/n..ame", ".a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sutra_hub_id id;
        char err[256] = "";
        TU_CHECK(sutra_hub_id_parse(bad[i], &id, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && err[0],
                 "bad id '%s' accepted", bad[i]);
    }
    TU_CHECK(sutra_hub_is_commit("0123456789abcdef0123456789abcdef01234567"), "commit");
    TU_CHECK(!sutra_hub_is_commit("0123456789ABCDEF0123456789abcdef01234567") && !sutra_hub_is_commit("main"),
             "not a commit");
}

static void test_parsers(void) {
    char out[160];
    TU_CHECK(sutra_hub_etag("W/\"abc-123\"", out, sizeof out) && !strcmp(out, "abc-123"), "weak etag: %s", out);
    TU_CHECK(sutra_hub_etag("\"0f3e\"\r\n", out, sizeof out) && !strcmp(out, "0f3e"), "quoted etag");
    TU_CHECK(!sutra_hub_etag("\"../x\"", out, sizeof out) && !sutra_hub_etag("\"\"", out, sizeof out) &&
                 !sutra_hub_etag("a/b", out, sizeof out),
             "unsafe etags refused");
    TU_CHECK(sutra_hub_relpath_ok("1_Pooling/config.json") && !sutra_hub_relpath_ok("../x") &&
                 !sutra_hub_relpath_ok("a/../b") && !sutra_hub_relpath_ok("/abs") && !sutra_hub_relpath_ok("a//b") &&
                 !sutra_hub_relpath_ok("a/./b") && !sutra_hub_relpath_ok("a\\b") && !sutra_hub_relpath_ok("") &&
                 !sutra_hub_relpath_ok("a\nb"),
             "relative paths");

    const char *info = "{\"id\": \"BAAI/bge-m3\", \"sha\": \"5617a9f61b028005a4858fdac845db406aefb181\", \"siblings\": ["
                       "{\"rfilename\": \"config.json\"}, {\"rfilename\": \"pytorch_model.bin\"},"
                       "{\"rfilename\": \"colbert_linear.pt\"}, {\"rfilename\": \"sparse_linear.pt\"},"
                       "{\"rfilename\": \"onnx/model.onnx\"}, {\"rfilename\": \"onnx/config.json\"},"
                       "{\"rfilename\": \"1_Pooling/config.json\"}, {\"rfilename\": \"modules.json\"},"
                       "{\"rfilename\": \"tokenizer.json\"}, {\"rfilename\": \"sentencepiece.bpe.model\"},"
                       "{\"rfilename\": \"README.md\"}, {\"rfilename\": \"imgs/bench.png\"},"
                       "{\"rfilename\": \"training_args.bin\"}]}";
    char sha[41], err[256], **files = NULL;
    size_t n = 0;
    sutra_status st = sutra_hub_parse_revision(info, strlen(info), sha, &files, &n, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && n == 13 && !strcmp(sha, "5617a9f61b028005a4858fdac845db406aefb181"), "revision: %s",
             err);
    const char *mods = "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                       "{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]";
    unsigned char want[13];
    size_t k = st ? 0 : sutra_hub_select(files, n, mods, strlen(mods), want);
    /* bge-m3 ships no safetensors: its .bin, its .pt heads, the configs and tokenizer; not the
     * sentencepiece model (tokenizer.json is beside it), ONNX, images, README, training args */
    static const char *const taken[] = {"config.json", "pytorch_model.bin", "colbert_linear.pt", "sparse_linear.pt",
                                        "1_Pooling/config.json", "modules.json", "tokenizer.json"};
    TU_CHECK(k == sizeof taken / sizeof taken[0], "selected %zu files", k);
    for (size_t i = 0; !st && i < n; i++) {
        int expect = 0;
        for (size_t j = 0; j < sizeof taken / sizeof taken[0]; j++) expect |= !strcmp(files[i], taken[j]);
        TU_CHECK(want[i] == expect, "%s: selected %d", files[i], want[i]);
    }
    sutra_hub_files_free(files, n);

    /* safetensors present: the .bin copies are left */
    const char *info2 = "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": ["
                        "{\"rfilename\": \"model.safetensors\"}, {\"rfilename\": \"pytorch_model.bin\"},"
                        "{\"rfilename\": \"vocab.txt\"}, {\"rfilename\": \"tf_model.h5\"}]}";
    st = sutra_hub_parse_revision(info2, strlen(info2), sha, &files, &n, err, sizeof err);
    unsigned char want2[4];
    k = st ? 0 : sutra_hub_select(files, n, NULL, 0, want2);
    TU_CHECK(!st && k == 2 && want2[0] && !want2[1] && want2[2] && !want2[3], "safetensors over bin: %zu", k);
    sutra_hub_files_free(files, n);

    static const char *const bad[] = {
        "[]", "{\"sha\": \"abc\", \"siblings\": []}", "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\"}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"rfilename\": \"../x\"}]}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"rfilename\": \"/etc/passwd\"}]}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"name\": \"x\"}]}", "{\"sha\":"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        files = NULL, n = 0, err[0] = 0;
        st = sutra_hub_parse_revision(bad[i], strlen(bad[i]), sha, &files, &n, err, sizeof err);
        TU_CHECK(st == SUTRA_ERR_FORMAT && !files && !n && err[0], "bad revision info %zu accepted", i);
    }
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void sh(const char *cmd) {
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        abort();
    }
}

/* A cache as huggingface_hub writes one: the default model's files as blobs, linked from a
 * snapshot, refs/main naming it. */
static void test_cache(void) {
    char tmpl[] = "/tmp/sutra-test-hub-XXXXXX";
    const char *root = mkdtemp(tmpl);
    if (!root) abort();
    const char *model = tu_default_model();
    const char *sha = "0123456789abcdef0123456789abcdef01234567";
    char cmd[8192], cache[1024], repo[1200], snap[1300], path[2048], err[1024];
    snprintf(cache, sizeof cache, "%s/hub", root);
    snprintf(repo, sizeof repo, "%s/models--test-org--minilm", cache);
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, sha);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/refs' '%s/blobs' '%s/1_Pooling'", repo, repo, snap);
    sh(cmd);
    static const char *const names[] = {"config.json", "model.safetensors", "tokenizer.json", "modules.json",
                                        "1_Pooling/config.json", "sentence_bert_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *depth = strchr(names[i], '/') ? "../" : "";
        snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/blobs/blob%zu' && ln -s '%s../../blobs/blob%zu' '%s/%s'", model,
                 names[i], repo, i, depth, i, snap, names[i]);
        sh(cmd);
    }
    snprintf(path, sizeof path, "%s/refs/main", repo);
    put(path, sha);
    sutra_hub_options o = {.cache_dir = cache, .offline = SUTRA_SWITCH_ON};
    char got[4096];
    sutra_status st = sutra_model_resolve("test-org/minilm", "/nonexistent", &o, got, sizeof got, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(got, snap), "cached model: %s (%s)", got, err);
    st = sutra_model_resolve("test-org/minilm@main", "/nonexistent", &o, got, sizeof got, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(got, snap), "by branch: %s", err);
    snprintf(path, sizeof path, "test-org/minilm@%s", sha);
    st = sutra_model_resolve(path, "/nonexistent", &o, got, sizeof got, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(got, snap), "by commit: %s", err);
    st = sutra_model_resolve("test-org/minilm@v2", "/nonexistent", &o, got, sizeof got, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && strstr(err, "offline") && strstr(err, "no revision 'v2'"), "unknown ref: %s", err);

    /* the model embeds as its folder does */
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = "test-org/minilm";
    cfg.models_dir = "/nonexistent";
    cfg.hub = o;
    cfg.threads = 1;
    sutra_embedder *a = NULL, *b = NULL;
    st = sutra_embedder_create(&cfg, &a, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create by hub id: %s", err);
    cfg.model = model;
    TU_CHECK(sutra_embedder_create(&cfg, &b, err, sizeof err) == SUTRA_OK, "create by folder: %s", err);
    if (a && b) {
        float va[384], vb[384];
        const char *text = "caches keep models";
        TU_CHECK(sutra_embed(a, text, strlen(text), va, 384) == SUTRA_OK && sutra_embed(b, text, strlen(text), vb, 384) == SUTRA_OK &&
                     !memcmp(va, vb, sizeof va),
                 "vectors by hub id and by folder differ");
        sutra_model_info mi;
        sutra_embedder_info(a, &mi);
        TU_CHECK(!strcmp(mi.name, "test-org/minilm"), "name by hub id: %s", mi.name);
    }
    sutra_embedder_destroy(a);
    sutra_embedder_destroy(b);

    sutra_model_entry *v = NULL;
    size_t n = 0;
    st = sutra_models_list("/nonexistent", &o, &v, &n, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && n == 1 && !strcmp(v[0].id, "test-org/minilm") && !strcmp(v[0].source, "hf-cache") &&
                 !strcmp(v[0].commit, sha) && v[0].bytes > 80000000,
             "list: %zu entries", n);
    free(v);
    sutra_model_summary s;
    st = sutra_model_describe("test-org/minilm", "/nonexistent", &o, SUTRA_DEVICE_CPU, 0, &s, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(s.architecture, "bert") && s.vector_size == 384 && s.layers == 6 &&
                 s.parameters == 22713728 && !strcmp(s.pooling, "mean") && s.normalize == 1 &&
                 !strcmp(s.weights_dtype, "F32") && strstr(s.attention_kernels, "cpu"),
             "describe: %s %d %d %llu", s.architecture, s.vector_size, s.layers, (unsigned long long)s.parameters);

    /* a snapshot without its weights is not taken */
    snprintf(path, sizeof path, "%s/model.safetensors", snap);
    unlink(path);
    st = sutra_model_resolve("test-org/minilm", "/nonexistent", &o, got, sizeof got, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && strstr(err, "lacks files"), "incomplete snapshot: %s", err);

    st = sutra_hub_remove("test-org/minilm", &o, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && access(repo, F_OK) != 0, "remove: %s", err);
    st = sutra_hub_remove("test-org/minilm", &o, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && strstr(err, "not in the hub cache"), "remove again: %s", err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    sh(cmd);
}

int main(void) {
    test_ids();
    test_parsers();
    test_cache();
    return tu_finish("test_hub");
}
