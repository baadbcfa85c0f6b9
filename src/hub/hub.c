/*
 * hub.c - hub ids, the options' defaults, the hub cache (lookup, listing, removal) and the parsers
 * of what the hub answers. The downloads are in fetch.c.
 */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/config.h"
#include "model/json.h"
#include "util/common.h"

#define EC err, errcap

/* ---- options ---------------------------------------------------------------------------------- */

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int truthy(const char *v) {
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

/* $HF_HOME, else ~/.cache/huggingface */
static void hf_home(char *buf, size_t cap) {
    const char *h = env("HF_HOME"), *home = env("HOME"), *xdg = env("XDG_CACHE_HOME");
    if (h) snprintf(buf, cap, "%s", h);
    else if (xdg) snprintf(buf, cap, "%s/huggingface", xdg);
    else snprintf(buf, cap, "%s/.cache/huggingface", home ? home : ".");
}

static void read_token_file(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(out, (int)cap, f)) {
        size_t n = strlen(out);
        while (n && isspace((unsigned char)out[n - 1])) out[--n] = 0;
        char *s = out;
        while (isspace((unsigned char)*s)) s++;
        memmove(out, s, strlen(s) + 1);
    }
    fclose(f);
}

void sutra_hub_cfg_init(const sutra_hub_options *o, sutra_hub_cfg *c) {
    static const sutra_hub_options none;
    if (!o) o = &none;
    memset(c, 0, sizeof *c);
    char home[4096];
    hf_home(home, sizeof home);
    if (o->cache_dir && *o->cache_dir) snprintf(c->cache, sizeof c->cache, "%s", o->cache_dir);
    else if (env("HF_HUB_CACHE")) snprintf(c->cache, sizeof c->cache, "%s", env("HF_HUB_CACHE"));
    else snprintf(c->cache, sizeof c->cache, "%.4000s/hub", home);
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : env("HF_ENDPOINT");
    snprintf(c->endpoint, sizeof c->endpoint, "%s", ep ? ep : "https://huggingface.co");
    size_t n = strlen(c->endpoint);
    while (n && c->endpoint[n - 1] == '/') c->endpoint[--n] = 0;
    if (o->token) snprintf(c->token, sizeof c->token, "%s", o->token);
    else if (env("HF_TOKEN")) snprintf(c->token, sizeof c->token, "%s", env("HF_TOKEN"));
    else {
        char path[4200];
        if (env("HF_TOKEN_PATH")) snprintf(path, sizeof path, "%s", env("HF_TOKEN_PATH"));
        else snprintf(path, sizeof path, "%s/token", home);
        read_token_file(path, c->token, sizeof c->token);
    }
    c->offline = o->offline == SUTRA_SWITCH_ON    ? 1
                 : o->offline == SUTRA_SWITCH_OFF ? 0
                                                  : truthy(env("HF_HUB_OFFLINE"));
    c->progress = o->progress;
    c->progress_data = o->progress_data;
}

/* ---- ids -------------------------------------------------------------------------------------- */

static int name_ok(const char *s, size_t n) {
    if (n < 1 || n > 96 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        const char ch = s[i];
        if (!isalnum((unsigned char)ch) && ch != '.' && ch != '_' && ch != '-') return 0;
        if (i && (ch == '-' || ch == '.') && s[i - 1] == ch) return 0; /* "--", ".." */
    }
    return 1;
}

static int rev_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 200 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "..") || strstr(s, "//")) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._/-", s[i])) return 0;
    return 1;
}

sutra_status sutra_hub_id_parse(const char *s, sutra_hub_id *id, char *err, size_t errcap) {
    memset(id, 0, sizeof *id);
    if (!s) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "no model id");
    const char *at = strchr(s, '@');
    const size_t rlen = at ? (size_t)(at - s) : strlen(s);
    const char *slash = memchr(s, '/', rlen);
    const int ok = rlen < sizeof id->repo &&
                   (slash ? name_ok(s, (size_t)(slash - s)) && name_ok(slash + 1, rlen - (size_t)(slash - s) - 1)
                          : name_ok(s, rlen));
    if (!ok)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC,
                          "'%.300s' is not a hub id (org/name or org/name@revision; names of letters, digits, "
                          "'.', '_' and '-')", s);
    memcpy(id->repo, s, rlen);
    if (at) {
        if (!rev_ok(at + 1))
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "'%.300s': revision '%.210s' is not a branch, tag or commit",
                              s, at + 1);
        snprintf(id->rev, sizeof id->rev, "%s", at + 1);
        id->has_rev = 1;
    } else {
        snprintf(id->rev, sizeof id->rev, "main");
    }
    /* models--org--name: '/' becomes "--" */
    size_t o = (size_t)snprintf(id->folder, sizeof id->folder, "models--");
    for (size_t i = 0; i < rlen && o + 3 < sizeof id->folder; i++) {
        if (s[i] == '/') id->folder[o++] = '-', id->folder[o++] = '-';
        else id->folder[o++] = s[i];
    }
    id->folder[o] = 0;
    return SUTRA_OK;
}

int sutra_hub_is_commit(const char *rev) {
    if (strlen(rev) != 40) return 0;
    for (int i = 0; i < 40; i++)
        if (!isdigit((unsigned char)rev[i]) && !(rev[i] >= 'a' && rev[i] <= 'f')) return 0;
    return 1;
}

/* ---- the cache -------------------------------------------------------------------------------- */

static int exists_in(const char *dir, const char *name) {
    char p[4096];
    return sutra_path_join(p, sizeof p, dir, name) && sutra_file_exists(p);
}

/* Every weight_map value of an index file in dir exists beside it. */
static int shards_present(const char *dir, const char *index) {
    char p[4096];
    char *text = NULL;
    size_t len = 0;
    if (!sutra_path_join(p, sizeof p, dir, index) || sutra_read_file(p, &text, &len, NULL, 0)) return 0;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map"), *it;
    int ok = cJSON_IsObject(map) && cJSON_GetArraySize(map) > 0;
    cJSON_ArrayForEach(it, map) {
        if (!ok) break;
        ok = cJSON_IsString(it) && sutra_hub_relpath_ok(it->valuestring) && !strchr(it->valuestring, '/') &&
             exists_in(dir, it->valuestring);
    }
    cJSON_Delete(root);
    return ok;
}

/* The transformer's folder of the model in dir (modules.json's Transformer module), into tf. */
static int transformer_path(const char *dir, char *tf, size_t cap) {
    char rel[1024];
    if (!sutra_st_transformer_dir(dir, rel, sizeof rel)) return 0;
    return *rel ? sutra_path_join(tf, cap, dir, rel) : snprintf(tf, cap, "%s", dir) < (int)cap;
}

int sutra_hub_snapshot_complete(const char *dir) {
    char tf[4096];
    if (!transformer_path(dir, tf, sizeof tf) || !exists_in(tf, "config.json")) return 0;
    if (!exists_in(tf, "tokenizer.json") && !exists_in(tf, "vocab.txt")) return 0;
    if (!exists_in(tf, "model.safetensors") && !shards_present(tf, "model.safetensors.index.json") &&
        !exists_in(tf, "pytorch_model.bin") && !shards_present(tf, "pytorch_model.bin.index.json"))
        return 0;
    /* the Pooling and Dense modules' configs */
    char *text = NULL;
    size_t len = 0;
    char p[4096];
    if (!sutra_path_join(p, sizeof p, dir, "modules.json") || !sutra_file_exists(p)) return 1;
    if (sutra_read_file(p, &text, &len, NULL, 0)) return 0;
    cJSON *mods = cJSON_ParseWithLength(text, len);
    free(text);
    int ok = cJSON_IsArray(mods);
    const cJSON *m;
    cJSON_ArrayForEach(m, mods) {
        const char *type = sutra_json_string(m, "type"), *mp = sutra_json_string(m, "path");
        const char *cls = type ? strrchr(type, '.') : NULL;
        cls = cls ? cls + 1 : type;
        if (!ok || !cls || !mp || !*mp || (strcmp(cls, "Pooling") && strcmp(cls, "Dense"))) continue;
        char cfg[1200];
        snprintf(cfg, sizeof cfg, "%.1000s/config.json", mp);
        ok = sutra_hub_relpath_ok(cfg) && exists_in(dir, cfg);
    }
    cJSON_Delete(mods);
    return ok;
}

/* The commit refs/<rev> holds, into sha (41 bytes): 0 if none. */
static int read_ref(const char *repo_dir, const char *rev, char sha[41]) {
    char p[4096], *text = NULL;
    size_t len = 0;
    if (snprintf(p, sizeof p, "%s/refs/%s", repo_dir, rev) >= (int)sizeof p || sutra_read_file(p, &text, &len, NULL, 0))
        return 0;
    while (len && isspace((unsigned char)text[len - 1])) text[--len] = 0;
    const int ok = sutra_hub_is_commit(text);
    if (ok) memcpy(sha, text, 41);
    free(text);
    return ok;
}

sutra_status sutra_hub_cached(const sutra_hub_cfg *c, const sutra_hub_id *id, char *path, size_t cap, char *err,
                              size_t errcap) {
    char repo_dir[4400], sha[41];
    snprintf(repo_dir, sizeof repo_dir, "%s/%s", c->cache, id->folder);
    if (!sutra_dir_exists(repo_dir))
        return sutra_errf(SUTRA_ERR_IO, EC, "%s is not in the hub cache %s", id->repo, c->cache);
    if (sutra_hub_is_commit(id->rev)) memcpy(sha, id->rev, 41);
    else if (!read_ref(repo_dir, id->rev, sha))
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: the hub cache has no revision '%s' (%s/refs)", id->repo, id->rev, repo_dir);
    if (snprintf(path, cap, "%s/snapshots/%s", repo_dir, sha) >= (int)cap)
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: cache path too long", id->repo);
    if (!sutra_dir_exists(path) || !sutra_hub_snapshot_complete(path))
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: the cached snapshot %s lacks files a model needs (config.json, "
                          "tokenizer, weights, module configs)", id->repo, path);
    return SUTRA_OK;
}

/* ---- listing and removal ---------------------------------------------------------------------- */

typedef struct entries {
    sutra_model_entry *v;
    size_t n, cap;
} entries;

static sutra_model_entry *entry_add(entries *e) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        sutra_model_entry *v = realloc(e->v, cap * sizeof *v);
        if (!v) return NULL;
        e->v = v, e->cap = cap;
    }
    sutra_model_entry *m = &e->v[e->n++];
    memset(m, 0, sizeof *m);
    return m;
}

/* sutra_hub_tree_bytes, depth folders down */
static uint64_t tree_bytes(const char *path, int depth) {
    struct stat sb;
    if (stat(path, &sb)) return 0;
    if (S_ISREG(sb.st_mode)) return (uint64_t)sb.st_size;
    if (!S_ISDIR(sb.st_mode) || depth > 8) return 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        if (sutra_path_join(p, sizeof p, path, de->d_name)) sum += tree_bytes(p, depth + 1);
    }
    closedir(d);
    return sum;
}

uint64_t sutra_hub_tree_bytes(const char *path) { return tree_bytes(path, 0); }

static int has_model_config(const char *dir) {
    char tf[4096];
    return transformer_path(dir, tf, sizeof tf) && exists_in(tf, "config.json");
}

/* A models-directory entry: id, its folder, its size. 0 when out of memory. */
static int add_local(entries *e, const char *id, const char *path) {
    sutra_model_entry *m = entry_add(e);
    if (!m) return 0;
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->path, sizeof m->path, "%s", path);
    snprintf(m->source, sizeof m->source, "models-dir");
    m->bytes = tree_bytes(path, 0);
    return 1;
}

static int list_models_dir(const char *root, entries *e) {
    DIR *d = opendir(root);
    if (!d) return 1;
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        if (!sutra_path_join(p, sizeof p, root, de->d_name) || !sutra_dir_exists(p)) continue;
        if (has_model_config(p)) {
            ok = add_local(e, de->d_name, p);
            continue;
        }
        /* org/name, one level down */
        DIR *d2 = opendir(p);
        struct dirent *de2;
        while (d2 && ok && (de2 = readdir(d2))) {
            char q[4096];
            if (de2->d_name[0] == '.' || !sutra_path_join(q, sizeof q, p, de2->d_name) || !sutra_dir_exists(q) ||
                !has_model_config(q))
                continue;
            char id[512];
            snprintf(id, sizeof id, "%.250s/%.250s", de->d_name, de2->d_name);
            ok = add_local(e, id, q);
        }
        if (d2) closedir(d2);
    }
    closedir(d);
    return ok;
}

/* models--org--name -> org/name; 0 if the folder is not a model repository's. */
static int folder_to_repo(const char *folder, char *repo, size_t cap) {
    if (strncmp(folder, "models--", 8)) return 0;
    const char *s = folder + 8, *sep = strstr(s, "--");
    if (sep && strstr(sep + 2, "--")) return 0;
    int n = sep ? snprintf(repo, cap, "%.*s/%s", (int)(sep - s), s, sep + 2) : snprintf(repo, cap, "%s", s);
    return n > 0 && (size_t)n < cap;
}

static int add_snapshot(entries *e, const char *repo_dir, const char *repo, const char *rev, const char *sha,
                        uint64_t bytes) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s/snapshots/%s", repo_dir, sha) >= (int)sizeof p || !sutra_dir_exists(p) ||
        !has_model_config(p))
        return 1;
    sutra_model_entry *m = entry_add(e);
    if (!m) return 0;
    if (rev && strcmp(rev, "main")) snprintf(m->id, sizeof m->id, "%.250s@%.250s", repo, rev);
    else snprintf(m->id, sizeof m->id, "%s", repo);
    snprintf(m->path, sizeof m->path, "%s", p);
    snprintf(m->source, sizeof m->source, "hf-cache");
    snprintf(m->commit, sizeof m->commit, "%s", sha);
    m->bytes = bytes;
    return 1;
}

/* Each file under refs/ (nested for refs/pr/N), as a revision name relative to refs/. */
static int list_refs(const char *refs, const char *prefix, const char *repo_dir, const char *repo, uint64_t bytes,
                     entries *e, int *found, int depth) {
    DIR *d = opendir(refs);
    if (!d) return 1;
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096], rev[512], sha[41];
        if (!sutra_path_join(p, sizeof p, refs, de->d_name)) continue;
        snprintf(rev, sizeof rev, "%s%s%.250s", prefix, *prefix ? "/" : "", de->d_name);
        if (sutra_dir_exists(p)) {
            if (depth < 4) ok = list_refs(p, rev, repo_dir, repo, bytes, e, found, depth + 1);
        } else if (read_ref(repo_dir, rev, sha)) {
            ok = add_snapshot(e, repo_dir, repo, rev, sha, bytes);
            ++*found;
        }
    }
    closedir(d);
    return ok;
}

static int list_cache(const char *cache, entries *e) {
    DIR *d = opendir(cache);
    if (!d) return 1;
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d))) {
        char repo[512], repo_dir[4096], p[4200];
        if (!folder_to_repo(de->d_name, repo, sizeof repo) || !sutra_path_join(repo_dir, sizeof repo_dir, cache, de->d_name))
            continue;
        snprintf(p, sizeof p, "%s/blobs", repo_dir);
        const uint64_t bytes = tree_bytes(p, 0);
        int found = 0;
        snprintf(p, sizeof p, "%s/refs", repo_dir);
        ok = list_refs(p, "", repo_dir, repo, bytes, e, &found, 0);
        if (ok && !found) {
            /* no refs: every snapshot, by commit */
            snprintf(p, sizeof p, "%s/snapshots", repo_dir);
            DIR *s = opendir(p);
            struct dirent *se;
            while (s && ok && (se = readdir(s)))
                if (sutra_hub_is_commit(se->d_name)) ok = add_snapshot(e, repo_dir, repo, se->d_name, se->d_name, bytes);
            if (s) closedir(s);
        }
    }
    closedir(d);
    return ok;
}

static int entry_cmp(const void *a, const void *b) {
    const sutra_model_entry *x = a, *y = b;
    const int s = strcmp(x->source, y->source);
    return s ? -s : strcmp(x->id, y->id); /* models-dir first */
}

sutra_status sutra_models_list(const char *models_dir, const sutra_hub_options *hub, sutra_model_entry **out,
                               size_t *n, char *err, size_t errcap) {
    if (!out || !n) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "out and n are required");
    *out = NULL, *n = 0;
    sutra_hub_cfg c;
    sutra_hub_cfg_init(hub, &c);
    char dir[4096];
    if (models_dir) snprintf(dir, sizeof dir, "%s", models_dir);
    else sutra_models_dir(dir, sizeof dir);
    entries e = {0};
    if (!list_models_dir(dir, &e) || !list_cache(c.cache, &e)) {
        free(e.v);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "out of memory");
    }
    if (e.n) qsort(e.v, e.n, sizeof *e.v, entry_cmp);
    *out = e.v, *n = e.n;
    return SUTRA_OK;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

sutra_status sutra_hub_remove(const char *model, const sutra_hub_options *hub, char *err, size_t errcap) {
    sutra_hub_id id;
    sutra_status st = sutra_hub_id_parse(model, &id, EC);
    if (st) return st;
    if (id.has_rev)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "%s: remove takes a repository (org/name): every revision goes",
                          model);
    sutra_hub_cfg c;
    sutra_hub_cfg_init(hub, &c);
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", c.cache, id.folder);
    if (!sutra_dir_exists(p)) return sutra_errf(SUTRA_ERR_IO, EC, "%s is not in the hub cache %s", id.repo, c.cache);
    if (nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS))
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: cannot remove: %s", p, strerror(errno));
    snprintf(p, sizeof p, "%s/.locks/%s", c.cache, id.folder);
    if (sutra_dir_exists(p)) nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return SUTRA_OK;
}

/* ---- parsers ---------------------------------------------------------------------------------- */

int sutra_hub_relpath_ok(const char *name) {
    const size_t n = strlen(name);
    if (n == 0 || n >= 1024 || name[0] == '/' || name[n - 1] == '/') return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '\\') return 0;
    const char *s = name;
    while (*s) {
        const char *e = strchr(s, '/');
        const size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += len + (e ? 1 : 0);
    }
    return 1;
}

void sutra_hub_files_free(char **files, size_t n) {
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
}

#define MAX_SIBLINGS 100000

sutra_status sutra_hub_parse_revision(const char *json, size_t len, char sha[41], char ***files, size_t *nfiles,
                                      char *err, size_t errcap) {
    *files = NULL, *nfiles = 0;
    sha[0] = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "the hub's revision info is not a JSON object");
    }
    sutra_status st = SUTRA_OK;
    const char *s = sutra_json_string(root, "sha");
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!s || !sutra_hub_is_commit(s)) st = sutra_errf(SUTRA_ERR_FORMAT, EC, "the hub's revision info has no commit 'sha'");
    else if (!cJSON_IsArray(sib) || cJSON_GetArraySize(sib) > MAX_SIBLINGS)
        st = sutra_errf(SUTRA_ERR_FORMAT, EC, "the hub's revision info has no 'siblings' list (of at most %d files)",
                        MAX_SIBLINGS);
    char **v = NULL;
    size_t n = 0;
    if (!st) {
        memcpy(sha, s, 41);
        const int count = cJSON_GetArraySize(sib);
        v = calloc(count ? (size_t)count : 1, sizeof *v);
        if (!v) st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "out of memory");
        const cJSON *it;
        cJSON_ArrayForEach(it, sib) {
            if (st) break;
            const char *f = sutra_json_string(it, "rfilename");
            if (!f || !sutra_hub_relpath_ok(f)) {
                st = sutra_errf(SUTRA_ERR_FORMAT, EC, "the hub lists a file name that is not a plain relative path: '%.200s'",
                                f ? f : "(none)");
                break;
            }
            if (!(v[n] = strdup(f))) st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "out of memory");
            else n++;
        }
    }
    cJSON_Delete(root);
    if (st) {
        sutra_hub_files_free(v, n);
        sha[0] = 0;
        return st;
    }
    *files = v, *nfiles = n;
    return SUTRA_OK;
}

static int ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The folder part of a file name ("" at the root), into dir. */
static void folder_of(const char *f, char *dir, size_t cap) {
    const char *slash = strrchr(f, '/');
    const size_t n = slash ? (size_t)(slash - f) : 0;
    snprintf(dir, cap, "%.*s", (int)(n < cap ? n : cap - 1), f);
}

static int folder_has(char *const *files, size_t n, const char *dir, const char *suffix) {
    char d[1024];
    for (size_t i = 0; i < n; i++) {
        folder_of(files[i], d, sizeof d);
        if (!strcmp(d, dir) && ends_with(files[i], suffix)) return 1;
    }
    return 0;
}

size_t sutra_hub_select(char *const *files, size_t n, const char *modules_json, size_t mlen, unsigned char *want) {
    /* the folders: the root and each module's */
    char *dirs[64];
    size_t nd = 0;
    dirs[nd++] = strdup("");
    cJSON *mods = modules_json ? cJSON_ParseWithLength(modules_json, mlen) : NULL;
    const cJSON *m, *arr = cJSON_IsArray(mods) ? mods : NULL;
    cJSON_ArrayForEach(m, arr) {
        const char *p = sutra_json_string(m, "path");
        if (p && *p && nd < 64 && sutra_hub_relpath_ok(p)) dirs[nd++] = strdup(p);
    }
    cJSON_Delete(mods);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        want[i] = 0;
        char d[1024];
        folder_of(files[i], d, sizeof d);
        int in = 0;
        for (size_t k = 0; k < nd && !in; k++) in = dirs[k] && !strcmp(dirs[k], d);
        if (!in) continue;
        const char *f = files[i], *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        int take = 0;
        if (ends_with(base, ".json") || !strcmp(base, "vocab.txt") || !strcmp(base, "merges.txt"))
            take = 1;
        else if (ends_with(base, ".model"))
            take = !folder_has(files, n, d, "tokenizer.json");
        else if (ends_with(base, ".safetensors"))
            take = 1;
        else if (ends_with(base, ".bin"))
            take = strcmp(base, "training_args.bin") && !folder_has(files, n, d, ".safetensors");
        else if (ends_with(base, ".pt"))
            take = strcmp(base, "optimizer.pt") && strcmp(base, "scheduler.pt");
        want[i] = (unsigned char)take;
        count += (size_t)take;
    }
    for (size_t k = 0; k < nd; k++) free(dirs[k]);
    return count;
}

int sutra_hub_etag(const char *header, char *out, size_t cap) {
    const char *s = header;
    while (*s == ' ') s++;
    if (!strncmp(s, "W/", 2)) s += 2;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
    if (n == 0 || n >= cap || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') return 0;
    if (s[0] == '.') return 0;
    memcpy(out, s, n);
    out[n] = 0;
    return 1;
}
