/*
 * modernbert.c - the ModernBERT family (modernbert-embed, gte-modernbert).
 *
 * Pre-norm blocks without biases unless the config asks for them: rotary positions (one base for
 * global layers, another for local ones), a GeGLU FFN (Wi is (2F, C): the activated half, then
 * the gate), a LayerNorm on the embeddings and a final one. Layer 0's attention norm is the
 * identity: its input is the normalised embedding. Local layers see keys within
 * local_attention / 2 positions (HF's sliding window); every global_attn_every_n_layers-th layer
 * is global.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

/* Both config layouts: the original (global_rope_theta, local_rope_theta,
 * global_attn_every_n_layers) and the one newer transformers writes (rope_parameters per layer
 * type, layer_types). Defaults are ModernBertConfig's. */
static sutra_status mb_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                 size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    sutra_status st = sutra_family_common_keys(root, what, cfg, err, errcap);
    if (st) return st;
    s->eps = 1e-5f;
    if ((st = sutra_json_number(root, what, "norm_eps", 0.0, 1.0, &s->eps, err, errcap)) ||
        (st = sutra_family_act(root, what, "hidden_activation", &s->act, err, errcap)))
        return st;
    s->norm_bias = sutra_json_bool(root, "norm_bias", 0);
    s->attn_bias = sutra_json_bool(root, "attention_bias", 0);
    s->mlp_bias = sutra_json_bool(root, "mlp_bias", 0);
    int local_attention = 128, every = 3;
    if ((st = sutra_json_int(root, what, "local_attention", 1, 2, 1 << 20, &local_attention, err, errcap)) ||
        (st = sutra_json_int(root, what, "global_attn_every_n_layers", 1, 1, SUTRA_MAX_LAYERS, &every, err, errcap)))
        return st;
    float theta_global = 160000.0f, theta_local = 10000.0f;
    if ((st = sutra_json_number(root, what, "global_rope_theta", 0.0, 1e12, &theta_global, err, errcap)) ||
        (st = sutra_json_number(root, what, "local_rope_theta", 0.0, 1e12, &theta_local, err, errcap)))
        return st;
    const cJSON *rp = sutra_json_get(root, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        const cJSON *parts[2] = {sutra_json_get(rp, "full_attention"), sutra_json_get(rp, "sliding_attention")};
        float *thetas[2] = {&theta_global, &theta_local};
        for (int i = 0; i < 2; i++) {
            if (!parts[i]) continue;
            if ((st = sutra_json_number(parts[i], what, "rope_theta", 0.0, 1e12, thetas[i], err, errcap))) return st;
            const char *type = sutra_json_string(parts[i], "rope_type");
            if (sutra_json_get(parts[i], "rope_type") && !(type && !strcmp(type, "default")))
                return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: unsupported rope_type (only 'default')", what);
        }
    }
    const cJSON *lt = sutra_json_get(root, "layer_types");
    if (lt && (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != s->L))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: 'layer_types' must list %d layers", what, s->L);
    for (int l = 0; l < s->L; l++) {
        int local = l % every != 0;
        if (lt) {
            const cJSON *it = cJSON_GetArrayItem(lt, l);
            const char *t = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(t, "sliding_attention")) local = 1;
            else if (!strcmp(t, "full_attention")) local = 0;
            else return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: unknown layer type '%s'", what, t);
        }
        s->window[l] = local ? local_attention / 2 : -1; /* |i - j| <= local_attention / 2 */
        s->rope_theta[l] = local ? theta_local : theta_global;
    }
    s->norm = SUTRA_NORM_LAYER;
    s->emb_norm = s->final_norm = 1;
    s->gated = 1;
    return SUTRA_OK;
}

static void mb_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "model.embeddings.tok_embeddings.weight") ? "model." : "";
    net->tok_emb = sutra_bind(b, "embeddings.tok_embeddings.weight", 2, (int64_t[]){s->vocab, C});
    net->emb_norm = sutra_family_bind_norm(b, s, "embeddings.norm", 0, s->norm_bias);
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        if (l > 0) L->attn_in = sutra_family_bind_norm(b, s, "layers.%d.attn_norm", l, s->norm_bias);
        L->qkv = sutra_family_linear(b, "layers.%d.attn.Wqkv", l, 3 * C, C, s->attn_bias);
        L->o = sutra_family_linear(b, "layers.%d.attn.Wo", l, C, C, s->attn_bias);
        L->ffn_in = sutra_family_bind_norm(b, s, "layers.%d.mlp_norm", l, s->norm_bias);
        L->up = sutra_family_linear(b, "layers.%d.mlp.Wi", l, 2 * F, C, s->mlp_bias);
        L->down = sutra_family_linear(b, "layers.%d.mlp.Wo", l, C, F, s->mlp_bias);
    }
    net->final_norm = sutra_family_bind_norm(b, s, "final_norm", 0, s->norm_bias);
}

static const char *const mb_types[] = {"modernbert", NULL};

const sutra_family sutra_family_modernbert = {
    .name = "modernbert",
    .model_types = mb_types,
    .configure = mb_configure,
    .bind = mb_bind,
};
