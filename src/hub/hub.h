/*
 * hub.h - models named by Hugging Face hub id: ids, the hub cache in huggingface_hub's own layout,
 * and downloads into it.
 *
 * The cache (one per machine, shared with transformers and sentence-transformers):
 *   <cache>/models--<org>--<name>/refs/<revision>          the commit a branch or tag points at
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<file> a relative symlink into blobs/
 *   <cache>/models--<org>--<name>/blobs/<etag>              the file's bytes (sha256 for LFS files)
 *   <cache>/.locks/models--<org>--<name>/<etag>.lock        held while a blob is written
 * A blob is written as <etag>.incomplete, checked, then renamed; its snapshot link is made after,
 * and refs/<revision> last, so a reader never finds a half-written file by name.
 */
#ifndef SUTRA_HUB_H
#define SUTRA_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

/* The hub options with every default filled in (from the Hugging Face tools' environment
 * variables, read once here). */
typedef struct sutra_hub_cfg {
    char cache[4096];
    char endpoint[1024]; /* no trailing '/' */
    char token[1024];    /* "" = none */
    int offline;
    sutra_progress_fn progress;
    void *progress_data;
} sutra_hub_cfg;

void sutra_hub_cfg_init(const sutra_hub_options *o, sutra_hub_cfg *c);

/* "org/name[@revision]" or "name[@revision]". Names: 1-96 of [A-Za-z0-9._-], not starting or
 * ending with '.' or '-', no "--" or "..". Revisions: 1-200 of [A-Za-z0-9._/-], no "..", no
 * leading '/' (refs/pr/1 is one). */
typedef struct sutra_hub_id {
    char repo[200];   /* org/name */
    char rev[208];    /* "main" when none was given */
    char folder[220]; /* models--org--name */
    int has_rev;
} sutra_hub_id;

sutra_status sutra_hub_id_parse(const char *s, sutra_hub_id *id, char *err, size_t errcap);

/* 1 if rev is a full commit hash (40 lowercase hex digits). */
int sutra_hub_is_commit(const char *rev);

/* The snapshot of id in the cache when it is complete (see sutra_hub_snapshot_complete): its
 * directory in path and SUTRA_OK; else SUTRA_ERR_IO with why in err. */
sutra_status sutra_hub_cached(const sutra_hub_cfg *c, const sutra_hub_id *id, char *path, size_t cap, char *err,
                              size_t errcap);

/* 1 if dir holds what loading needs: config.json, a tokenizer and the weights (every shard an index
 * names) in the transformer's folder, and the config.json of every Pooling / Dense module. */
int sutra_hub_snapshot_complete(const char *dir);

/* Downloads id into the cache (see sutra_hub_pull in sutra.h); path gets the snapshot. */
sutra_status sutra_hub_fetch(const sutra_hub_cfg *c, const sutra_hub_id *id, char *path, size_t cap, char *err,
                             size_t errcap);

/* ---- the parsers (fuzzed) --------------------------------------------------------------------- */

/* The hub's revision info (GET /api/models/<repo>/revision/<rev>): its "sha" (40 hex) into sha and
 * every sibling's "rfilename" into *files (*nfiles; free with sutra_hub_files_free). A file name
 * must be a plain relative path (no empty, "." or ".." component, no '\\', no control character,
 * under 1024 bytes); others are refused. */
sutra_status sutra_hub_parse_revision(const char *json, size_t len, char sha[41], char ***files, size_t *nfiles,
                                      char *err, size_t errcap);
void sutra_hub_files_free(char **files, size_t n);

/* Marks in want[i] the files a model needs, given the repository's file list and the text of its
 * modules.json (NULL when it has none): in the root and in each module's folder, the *.json
 * files, vocab.txt / merges.txt, sentencepiece models where no tokenizer.json is beside them,
 * *.safetensors, and *.bin only where a folder has no *.safetensors; *.pt heads; nothing in other
 * folders (onnx/, openvino/, ...). Returns how many were marked. */
size_t sutra_hub_select(char *const *files, size_t n, const char *modules_json, size_t mlen, unsigned char *want);

/* An ETag header's value as huggingface_hub names the blob: without a weak "W/" prefix and
 * quotes. 0 if what is left is empty, too long, or not a safe file name ([A-Za-z0-9._-]). */
int sutra_hub_etag(const char *header, char *out, size_t cap);

/* Bytes of the regular files under path (symlinks followed one by one: a snapshot counts its
 * blobs; names starting with '.' skipped; eight folders deep at most). */
uint64_t sutra_hub_tree_bytes(const char *path);

/* 1 if name is a relative path as sutra_hub_parse_revision accepts. */
int sutra_hub_relpath_ok(const char *name);

#endif /* SUTRA_HUB_H */
