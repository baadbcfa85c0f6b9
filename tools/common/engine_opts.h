/*
 * engine_opts.h - the command-line options that set the engine's own settings (sutra_config:
 * attention, device, CPU and GPU settings, profiling, models directory), shared by `sutra` and
 * `sutra serve` so that both spell them alike. Public header only.
 */
#ifndef SUTRA_ENGINE_OPTS_H
#define SUTRA_ENGINE_OPTS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "sutra.h"

/* getopt_long values of the engine options, above any tool's own. */
#define SUTRA_ENGINE_OPT_FIRST 1000

/* out = own (terminated by a zero entry) followed by the engine options and a zero entry; cap
 * entries in out. Returns 0 if out is too small. */
int sutra_engine_options(const struct option *own, struct option *out, size_t cap);

/* Applies getopt_long's value o with its argument to cfg. Returns 1 if o is an engine option, 0
 * if it is not; a bad value is reported on stderr, prefixed by prog, and exits with status 2. */
int sutra_engine_option(int o, const char *arg, sutra_config *cfg, const char *prog);

/* The engine options' lines of a usage text. */
void sutra_engine_usage(FILE *f);

/* A download's progress on stderr (sutra_hub_options.progress, progress_data a
 * sutra_progress_state): a bar redrawn in place on a terminal (tty 1), else one line per file once
 * it is complete. */
typedef struct sutra_progress_state {
    int tty;
    char file[256];
    int last_pct, ended;
} sutra_progress_state;
void sutra_engine_progress(void *user, const char *file, uint64_t done, uint64_t total);

/* The profile (config.profile) as a table on f, longest total first. */
void sutra_engine_print_profile(const sutra_embedder *emb, FILE *f);

#endif /* SUTRA_ENGINE_OPTS_H */
