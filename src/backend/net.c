/*
 * net.c - see net.h.
 */
#include "backend/net.h"

typedef struct visit {
    int (*fn)(void *ctx, const void **slot, size_t numel);
    void *ctx;
    int stop;
} visit;

static void one(visit *v, const void **slot, size_t n) {
    if (!v->stop && *slot) v->stop = v->fn(v->ctx, slot, n);
}

static void norm(visit *v, sutra_norm *n, size_t width) {
    one(v, &n->w, width);
    one(v, &n->b, width);
}

static void linear(visit *v, sutra_linear *l, size_t N, size_t K) {
    one(v, &l->w, N * K);
    one(v, &l->b, N);
}

int sutra_net_each_weight(sutra_net *net, int (*fn)(void *ctx, const void **slot, size_t numel), void *ctx) {
    const sutra_net_shape *s = net->shape;
    const size_t C = (size_t)s->C, D = (size_t)s->D, F = (size_t)s->F;
    const size_t Q = (size_t)sutra_net_q(s), QKV = (size_t)sutra_net_qkv(s), U = (size_t)sutra_net_up(s);
    visit v = {fn, ctx, 0};
    one(&v, &net->tok_emb, (size_t)s->vocab * C);
    one(&v, &net->pos_emb, (size_t)s->positions * C);
    one(&v, &net->type_emb, (size_t)(s->type_rows > 1 ? s->type_rows : 1) * C); /* every segment's row */
    norm(&v, &net->emb_norm, C);
    one(&v, &net->rel_bias, (size_t)(s->rel_span ? 2 * s->rel_span - 1 : 0) * (size_t)s->H);
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        norm(&v, &L->attn_in, C);
        linear(&v, &L->qkv, QKV, C);
        norm(&v, &L->q_norm, D);
        norm(&v, &L->k_norm, D);
        linear(&v, &L->o, C, Q);
        norm(&v, &L->attn_out, C);
        norm(&v, &L->attn_post, C);
        norm(&v, &L->ffn_in, C);
        linear(&v, &L->up, U, C);
        linear(&v, &L->down, C, F);
        norm(&v, &L->ffn_out, C);
        norm(&v, &L->ffn_post, C);
    }
    norm(&v, &net->final_norm, C);
    return v.stop;
}
