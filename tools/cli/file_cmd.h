/*
 * file_cmd.h - `sutra embed --input FILE --output FILE`: embedding files of any size.
 *
 * Rules: only the public header and cJSON; memory stays flat however large the input is.
 */
#ifndef SUTRA_CLI_FILE_CMD_H
#define SUTRA_CLI_FILE_CMD_H

#include "sutra.h"

typedef struct file_opts {
    const char *input;      /* FILE.jsonl (one JSON object per line), other names: one text per line; "-": stdin */
    const char *output;     /* FILE.jsonl or FILE.npy (+ FILE.npy.ids); "-": jsonl on stdout */
    const char *text_field; /* jsonl: the field holding the text ("text") */
    const char *id_field;   /* jsonl: the field holding the id; NULL: "id" when present, else the line number */
    int windowed;           /* embed long texts in windows (window) instead of truncating them */
    sutra_window window;    /* size -1, overlap -1: the embedder's defaults (sutra_window_init) */
    int chunk_tokens;       /* > 0: late chunking, one vector per chunk of this many tokens */
    int resume;             /* skip ids the output already holds, and append */
    int on_error_fail;      /* a bad line stops the run (else it is reported and skipped) */
    int output_kind;        /* sutra_output_kind bits (0: dense); other than dense alone: jsonl records with
                             * "embedding", "sparse" and / or "colbert" (no .npy, windows, chunks or --resume) */
    int verbose;
} file_opts;

/* Runs the file command and returns the process exit status: 0 when every line was embedded,
 * 1 when a line was bad or an error stopped the run, 2 for a usage error, 128 + signal when
 * interrupted (what was written stays valid; --resume continues). */
int file_embed(sutra_embedder *emb, const file_opts *opts);

#endif /* SUTRA_CLI_FILE_CMD_H */
