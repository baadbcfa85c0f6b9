/*
 * models_cmd.c - `sutra models`: the models this machine has (the models directory and the
 * Hugging Face hub cache), and pulling / describing / removing them by hub id.
 */
#include "models_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/engine_opts.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sutra models <list|pull|info|rm> [ID] [options]\n"
            "\n"
            "  list        every model in the models directory and the hub cache that Sutra can read:\n"
            "              architecture, parameters, dimensions, token limit, pooling, prompts, dtype,\n"
            "              size on disk and the attention kernels it gets on this machine\n"
            "              (--json: one JSON object per line; --all: also those it cannot read, and why)\n"
            "  pull ID     download hub id org/name[@revision] into the hub cache (asks the hub for the\n"
            "              revision's newest commit; files already there are not fetched again)\n"
            "  info ID     the same facts as list, as JSON, for one model (a directory, name or hub id)\n"
            "  rm ID       delete org/name, every revision, from the hub cache\n"
            "\n");
    sutra_engine_usage(f);
}

void cli_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        const unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void print_json(const char *id, const char *source, const char *path, const char *commit,
                       const sutra_model_summary *s) {
    printf("{\"id\": ");
    cli_json_str(id);
    printf(", \"source\": ");
    cli_json_str(source);
    printf(", \"path\": ");
    cli_json_str(path);
    if (*commit) {
        printf(", \"commit\": ");
        cli_json_str(commit);
    }
    printf(", \"architecture\": ");
    cli_json_str(s->architecture);
    printf(", \"parameters\": %llu, \"hidden_size\": %d, \"dimensions\": %d, \"layers\": %d, \"heads\": %d, "
           "\"head_dim\": %d, \"max_tokens\": %d, \"pooling\": ",
           (unsigned long long)s->parameters, s->hidden_size, s->vector_size, s->layers, s->heads, s->head_dim,
           s->max_tokens);
    cli_json_str(s->pooling);
    printf(", \"normalize\": %s, \"prompts\": ", s->normalize ? "true" : "false");
    cli_json_str(s->prompts);
    printf(", \"weights_dtype\": ");
    cli_json_str(s->weights_dtype);
    printf(", \"bytes\": %llu, \"attention_kernels\": ", (unsigned long long)s->bytes);
    cli_json_str(s->attention_kernels);
    printf("}\n");
}

static void human(uint64_t n, char *buf, size_t cap, const char *unit) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.1fG%s", (double)n / 1e9, unit);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.1fM%s", (double)n / 1e6, unit);
    else snprintf(buf, cap, "%.1fk%s", (double)n / 1e3, unit);
}

static int cmd_list(const sutra_config *cfg, int json, int all) {
    sutra_model_entry *v = NULL;
    size_t n = 0;
    char err[1024];
    sutra_status st = sutra_models_list(cfg->models_dir, &cfg->hub, &v, &n, err, sizeof err);
    if (st) {
        fprintf(stderr, "sutra: models list: %s\n", err);
        return 1;
    }
    if (!json)
        printf("%-44s %-10s %-12s %7s %5s %6s %-7s %-5s %8s  %-18s %s\n", "ID", "SOURCE", "ARCH", "PARAMS", "DIM", "TOKENS",
               "POOLING", "DTYPE", "SIZE", "PROMPTS", "ATTENTION");
    size_t unreadable = 0;
    for (size_t i = 0; i < n; i++) {
        sutra_model_summary s;
        /* by path: the id may be shadowed by a directory of that name where this runs */
        st = sutra_model_describe(v[i].path, cfg->models_dir, &cfg->hub, cfg->device, cfg->gpu_index, &s, err,
                                  sizeof err);
        if (st) {
            unreadable++;
            if (all) fprintf(stderr, "%s (%s): cannot be read: %s\n", v[i].id, v[i].source, err);
            continue;
        }
        if (json) {
            print_json(v[i].id, v[i].source, v[i].path, v[i].commit, &s);
            continue;
        }
        char params[32], size[32];
        human(s.parameters, params, sizeof params, "");
        human(v[i].bytes ? v[i].bytes : s.bytes, size, sizeof size, "B");
        printf("%-44s %-10s %-12s %7s %5d %6d %-7s %-5s %8s  %-18.18s %s\n", v[i].id, v[i].source, s.architecture,
               params, s.vector_size, s.max_tokens, s.pooling, s.weights_dtype, size, *s.prompts ? s.prompts : "-",
               s.attention_kernels);
    }
    if (unreadable && !all)
        fprintf(stderr, "sutra: %zu more model folder%s that Sutra cannot read (--all says why)\n", unreadable,
                unreadable == 1 ? "" : "s");
    free(v);
    return 0;
}

int cli_models(int argc, char **argv) {
    /* argv[0] = "models" */
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    sutra_config cfg;
    sutra_config_init(&cfg);
    sutra_progress_state prog = {.tty = isatty(2)};
    cfg.hub.progress = sutra_engine_progress;
    cfg.hub.progress_data = &prog;
    enum { OPT_JSON = 256, OPT_ALL };
    static const struct option own[] = {
        {"json", no_argument, 0, OPT_JSON}, {"all", no_argument, 0, OPT_ALL}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    struct option opts[64];
    if (!sutra_engine_options(own, opts, sizeof opts / sizeof opts[0])) return 2;
    int json = 0, all = 0, o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == OPT_JSON) json = 1;
        else if (o == OPT_ALL) all = 1;
        else if (o == 'h') {
            usage(stdout);
            return 0;
        } else if (!sutra_engine_option(o, optarg, &cfg, "sutra models")) {
            usage(stderr);
            return 2;
        }
    }
    const char *id = optind < argc ? argv[optind] : NULL;
    if (!strcmp(sub, "list")) {
        if (id) {
            fprintf(stderr, "sutra models list: takes no ID\n");
            return 2;
        }
        return cmd_list(&cfg, json, all);
    }
    if (strcmp(sub, "pull") && strcmp(sub, "info") && strcmp(sub, "rm")) {
        fprintf(stderr, "sutra models: unknown command '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    if (!id || optind + 1 < argc) {
        fprintf(stderr, "sutra models %s: takes one ID\n", sub);
        return 2;
    }
    char err[2048], path[4096];
    sutra_status st;
    if (!strcmp(sub, "pull")) {
        if ((st = sutra_hub_pull(id, &cfg.hub, path, sizeof path, err, sizeof err))) {
            fprintf(stderr, "sutra models pull: %s: %s\n", sutra_status_str(st), err);
            return 1;
        }
        printf("%s\n", path);
        return 0;
    }
    if (!strcmp(sub, "rm")) {
        if ((st = sutra_hub_remove(id, &cfg.hub, err, sizeof err))) {
            fprintf(stderr, "sutra models rm: %s: %s\n", sutra_status_str(st), err);
            return 1;
        }
        fprintf(stderr, "sutra: removed %s from the hub cache\n", id);
        return 0;
    }
    sutra_model_summary s;
    if ((st = sutra_model_describe(id, cfg.models_dir, &cfg.hub, cfg.device, cfg.gpu_index, &s, err, sizeof err))) {
        fprintf(stderr, "sutra models info: %s: %s\n", sutra_status_str(st), err);
        return 1;
    }
    print_json(id, strstr(s.path, "/snapshots/") ? "hf-cache" : "local", s.path, "", &s);
    return 0;
}
