/*
 * fuzz_hub.c - libFuzzer harness for what the hub answers and what users type (src/hub/hub.c):
 * the revision info (its commit and file list), the file selection over that list and a
 * modules.json, ETag headers, hub ids and relative paths.
 *
 * Input: the bytes up to the first NUL are the revision info, the rest a modules.json; each
 * line of the first part is also tried as a hub id and an ETag. Whatever is accepted must be
 * safe to use as a path: every listed file passes sutra_hub_relpath_ok (no "..", no absolute
 * path), every etag is a plain file name, every id's cache folder is models--... without '/'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"

static void check_id(const char *s) {
    sutra_hub_id id;
    char err[256];
    if (sutra_hub_id_parse(s, &id, err, sizeof err) != SUTRA_OK) {
        if (!err[0]) abort();
        return;
    }
    if (strncmp(id.folder, "models--", 8) || strchr(id.folder, '/') || strstr(id.folder + 8, "..") || !id.rev[0] ||
        strstr(id.rev, "..") || id.rev[0] == '/')
        abort();
}

static void check_etag(const char *s) {
    char out[160];
    if (!sutra_hub_etag(s, out, sizeof out)) return;
    if (!out[0] || out[0] == '.' || strchr(out, '/') || strchr(out, '\\') || strlen(out) > 128) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t n1 = nul ? (size_t)(nul - data) : size;
    const size_t n2 = nul ? size - n1 - 1 : 0;
    char *info = malloc(n1 + 1), *mods = malloc(n2 + 1);
    if (!info || !mods) return free(info), free(mods), 0;
    memcpy(info, data, n1);
    info[n1] = 0;
    if (n2) memcpy(mods, nul + 1, n2);
    mods[n2] = 0;

    char sha[41], err[256], **files = NULL;
    size_t nf = 0;
    err[0] = 0;
    if (sutra_hub_parse_revision(info, n1, sha, &files, &nf, err, sizeof err) == SUTRA_OK) {
        if (!sutra_hub_is_commit(sha)) abort();
        for (size_t i = 0; i < nf; i++)
            if (!sutra_hub_relpath_ok(files[i])) abort();
        unsigned char *want = calloc(nf ? nf : 1, 1);
        if (want) {
            size_t k = sutra_hub_select(files, nf, n2 ? mods : NULL, n2, want), c = 0;
            for (size_t i = 0; i < nf; i++) c += want[i] ? 1 : 0;
            if (k != c) abort();
        }
        free(want);
        sutra_hub_files_free(files, nf);
    } else if (!err[0] || files || nf) {
        abort();
    }
    /* each line as an id, an etag and a path */
    char *line = info;
    while (line && *line) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = 0;
        check_id(line);
        check_etag(line);
        if (sutra_hub_relpath_ok(line) && (line[0] == '/' || strstr(line, "/../") || !strncmp(line, "../", 3)))
            abort();
        line = eol ? eol + 1 : NULL;
    }
    free(info);
    free(mods);
    return 0;
}
