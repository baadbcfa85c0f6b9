/*
 * fuzz_config.c - libFuzzer harness for reading config.json through the families
 * (src/arch/family.c: model_type, then the family's own keys).
 *
 * Whatever sutra_model_config_parse accepts must be a shape the forward can trust: sizes
 * positive and consistent (H a multiple of Hkv, D even where rotary), per-layer windows and rotary
 * bases in range, a positive eps and attention scale, the arena size of a batch computable without
 * overflow for small batches. A rejection must carry a message and one of the config statuses.
 * An accepted config then goes through the heads' reader (src/embed/heads.c: architectures, labels,
 * activations, classifier pooling; SPLADE's keys when the input's length is odd) without weights:
 * it finds no head, or fails naming what it lacks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/family.h"
#include "arch/transformer.h"
#include "embed/heads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1); /* an exact-size copy: the parser must not read past it */
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    sutra_model_config cfg;
    char err[256];
    err[0] = '\0';
    sutra_status st = sutra_model_config_parse(buf, size, "config.json", &cfg, err, sizeof err);
    if (st == SUTRA_OK) {
        cfg.splade = (int)(size & 1);
        sutra_heads *h = NULL;
        char herr[256] = "";
        sutra_status hs = sutra_heads_parse(buf, size, "/nonexistent-sutra-fuzz", &cfg, NULL, NULL, &h, herr, sizeof herr);
        if (hs == SUTRA_OK && h) abort(); /* every head needs a tensor */
        if (hs != SUTRA_OK && (!herr[0] || !memchr(herr, '\0', sizeof herr))) abort();
        sutra_heads_free(h);
    }
    free(buf);
    if (st != SUTRA_OK) {
        if (st != SUTRA_ERR_FORMAT && st != SUTRA_ERR_MODEL && st != SUTRA_ERR_UNSUPPORTED) abort();
        if (!err[0] || !memchr(err, '\0', sizeof err)) abort();
        return 0;
    }
    const sutra_net_shape *s = &cfg.shape;
    if (!sutra_family_find(cfg.model_type)) abort();
    if (s->C < 1 || s->L < 1 || s->L > SUTRA_MAX_LAYERS || s->H < 1 || s->Hkv < 1 || s->H % s->Hkv || s->D < 1 ||
        s->F < 1 || s->vocab < 1 || s->positions < 1 || s->pos_offset < 0 || s->pos_offset >= s->positions)
        abort();
    if (!(s->eps > 0) || !(s->attn_scale > 0) || !isfinite(s->attn_scale)) abort();
    for (int l = 0; l < s->L; l++) {
        if (s->window[l] < -1 || !(s->rope_theta[l] >= 0)) abort();
        if (s->rope_theta[l] > 0 && s->D % 2) abort();
    }
    volatile size_t bytes = sutra_transformer_arena_bytes(s, 16, 4);
    (void)bytes;
    return 0;
}
