/*
 * qwen3.c - the Qwen3 family (Qwen3-Embedding 0.6B / 4B / 8B): a decoder used as an embedder.
 *
 * Pre-norm blocks without biases: RMSNorm before attention and before the FFN, a final RMSNorm;
 * grouped-query attention (num_key_value_heads key/value heads, head_dim set apart from
 * hidden_size / heads), an RMSNorm over each query and key head before the rotary embedding,
 * causal attention, and a SwiGLU FFN: down(silu(gate(x)) * up(x)). The gate and up matrices are
 * stacked at load into one (2F, C) matrix, gate rows first, and Q, K and V into one
 * ((H + 2 Hkv) D, C) matrix, so each block starts with a single product. No position table, no
 * embedding norm; the LM head (tied or not) is not used. Layers past max_window_layers see a
 * sliding window of keys when use_sliding_window is set, as transformers builds its masks.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

/* rope_theta from the top level (transformers 4.x) or rope_parameters (5.x); only the default
 * rotary scheme: a scaled one (linear, dynamic, yarn, ...) is refused by name. */
static sutra_status q3_rope(const cJSON *root, const char *what, float *theta, char *err, size_t errcap) {
    *theta = 10000.0f;
    sutra_status st = sutra_json_number(root, what, "rope_theta", 1.0, 1e12, theta, err, errcap);
    if (st) return st;
    static const char *const keys[] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        const cJSON *rs = sutra_json_get(root, keys[i]);
        if (!rs || cJSON_IsNull(rs)) continue;
        if (!cJSON_IsObject(rs)) return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: '%s' must be an object", what, keys[i]);
        if ((st = sutra_json_number(rs, what, "rope_theta", 1.0, 1e12, theta, err, errcap))) return st;
        const char *type = sutra_json_string(rs, "rope_type");
        if (!type) type = sutra_json_string(rs, "type");
        if (type && strcmp(type, "default") != 0)
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                              "%s: %s type '%.40s' is not supported (only the default rotary embedding)", what, keys[i],
                              type);
    }
    return SUTRA_OK;
}

static sutra_status q3_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                 size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    sutra_status st = sutra_family_common_keys(root, what, cfg, err, errcap);
    if (st) return st;
    s->Hkv = s->H;
    s->D = 128; /* Qwen3Config's default */
    s->eps = 1e-6f;
    float theta;
    if ((st = sutra_json_int(root, what, "num_key_value_heads", 1, 1, 1024, &s->Hkv, err, errcap)) ||
        (st = sutra_json_int(root, what, "head_dim", 1, 2, 1024, &s->D, err, errcap)) ||
        (st = sutra_json_number(root, what, "rms_norm_eps", 0.0, 1.0, &s->eps, err, errcap)) ||
        (st = sutra_family_act(root, what, "hidden_act", &s->act, err, errcap)) || (st = q3_rope(root, what, &theta, err, errcap)))
        return st;
    if (!sutra_json_get(root, "hidden_act")) s->act = SUTRA_ACT_SILU; /* Qwen3Config's default */
    if (s->H % s->Hkv)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: num_attention_heads %d is not a multiple of "
                          "num_key_value_heads %d", what, s->H, s->Hkv);
    s->attn_bias = sutra_json_bool(root, "attention_bias", 0);
    int window = 4096, window_from = s->L;
    const int sliding = sutra_json_bool(root, "use_sliding_window", 0);
    if ((st = sutra_json_int(root, what, "sliding_window", 1, 1, 1 << 30, &window, err, errcap)) ||
        (st = sutra_json_int(root, what, "max_window_layers", 1, 0, SUTRA_MAX_LAYERS, &window_from, err, errcap)))
        return st;
    const cJSON *lt = sutra_json_get(root, "layer_types");
    if (lt && (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != s->L))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: 'layer_types' must list %d layers", what, s->L);
    for (int l = 0; l < s->L; l++) {
        int local = sliding && l >= window_from;
        if (lt) {
            const cJSON *it = cJSON_GetArrayItem(lt, l);
            const char *t = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(t, "sliding_attention")) local = sliding; /* transformers: no window unless used */
            else if (!strcmp(t, "full_attention")) local = 0;
            else return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: unknown layer type '%.40s'", what, t);
        }
        s->window[l] = local ? window - 1 : -1; /* a query sees itself and the window - 1 keys before it */
        s->rope_theta[l] = theta;
    }
    s->attn_scale = 1.0f / sqrtf((float)s->D);
    s->norm = SUTRA_NORM_RMS;
    s->final_norm = 1;
    s->gated = 1;
    s->causal = 1;
    /* Qwen's residual streams carry a few outlier channels in the tens of thousands (the
     * "massive activations" of decoder LMs), and fp16 runs of this family are reported to give
     * NaN: bf16 has fp32's range. */
    s->fp16_overflows = 1;
    return SUTRA_OK;
}

/* A norm over D values per head: "<name>.weight". */
static sutra_norm head_norm(sutra_binder *b, const sutra_net_shape *s, const char *fmt, int l) {
    char n[256];
    const int64_t D = s->D;
    return sutra_family_norm(s, sutra_bind(b, sutra_layer_name(n, sizeof n, fmt, l), 1, &D), NULL);
}

static void q3_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F, Q = (int64_t)s->H * s->D, KV = (int64_t)s->Hkv * s->D;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "model.embed_tokens.weight") ? "model." : "";
    net->tok_emb = sutra_bind(b, "embed_tokens.weight", 2, (int64_t[]){s->vocab, C});
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        L->attn_in = sutra_family_bind_norm(b, s, "layers.%d.input_layernorm", l, 0);
        static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
        L->qkv = sutra_family_fused_qkv(b, "layers.%%d.self_attn.%s", proj, l, (int64_t[]){Q, KV, KV}, C, s->attn_bias);
        L->q_norm = head_norm(b, s, "layers.%d.self_attn.q_norm.weight", l);
        L->k_norm = head_norm(b, s, "layers.%d.self_attn.k_norm.weight", l);
        L->o = sutra_family_linear(b, "layers.%d.self_attn.o_proj", l, C, Q, s->attn_bias);
        L->ffn_in = sutra_family_bind_norm(b, s, "layers.%d.post_attention_layernorm", l, 0);
        static const char *const glu[2] = {"gate_proj", "up_proj"}; /* act on the gate half: it goes first */
        L->up = sutra_family_stacked(b, "layers.%%d.mlp.%s", glu, 2, l, (int64_t[]){F, F}, C, 0);
        L->down = sutra_family_linear(b, "layers.%d.mlp.down_proj", l, C, F, 0);
    }
    net->final_norm = sutra_family_bind_norm(b, s, "norm", 0, 0);
}

static const char *const q3_types[] = {"qwen3", NULL};

const sutra_family sutra_family_qwen3 = {
    .name = "qwen3",
    .model_types = q3_types,
    .configure = q3_configure,
    .bind = q3_bind,
};
