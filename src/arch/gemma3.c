/*
 * gemma3.c - the Gemma 3 text family as an embedder (EmbeddingGemma: model_type gemma3_text).
 *
 * Pre-norm blocks with a norm on each block's output as well ("sandwich" norms): x + out(attn(in
 * x)), then x + out(ffn(in x)), and a final norm; every norm an RMSNorm scaling by (1 + w), folded
 * into the bound weights. Grouped-query attention (num_key_value_heads, head_dim apart from
 * hidden / heads) with an RMSNorm over each query and key head before the rotary embedding; the
 * softmax scale is query_pre_attn_scalar^-1/2. Layers alternate between a local window
 * (layer_types "sliding_attention", or every layer but each _sliding_window_pattern-th) and global
 * attention, each kind with its rotary base (rope_local_base_freq / rope_theta, or transformers
 * 5's rope_parameters per layer type). use_bidirectional_attention (EmbeddingGemma) makes the
 * attention bidirectional and the local window symmetric, sliding_window being its whole span:
 * keys within sliding_window / 2 on either side, as transformers masks it; without it the model is
 * causal and a local layer sees the sliding_window - 1 keys before each query. The FFN is GeGLU with the tanh
 * GELU: down(gelu(gate x) * up x), gate and up stacked at load, gate rows first. The token table
 * is multiplied by sqrt(hidden_size) at load (transformers scales the looked-up rows by that
 * float). The activations outgrow fp16: bf16 on a GPU.
 *
 * Refused by name: attention logit soft-capping and scaled rotary embeddings (no embedder uses
 * them).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

/* The rotary base of one layer type in transformers 5's rope_parameters, if given there. */
static sutra_status rope_of(const cJSON *params, const char *what, const char *type, float *theta, char *err,
                            size_t errcap) {
    const cJSON *p = params ? sutra_json_get(params, type) : NULL;
    if (!p || cJSON_IsNull(p)) return SUTRA_OK;
    if (!cJSON_IsObject(p)) return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: rope_parameters.%s must be an object", what, type);
    const char *rt = sutra_json_string(p, "rope_type");
    if (rt && strcmp(rt, "default"))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: rope_parameters.%s type '%.40s' is not supported "
                          "(only the default rotary embedding)", what, type, rt);
    return sutra_json_number(p, what, "rope_theta", 1.0, 1e12, theta, err, errcap);
}

static sutra_status gemma_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                    size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    sutra_status st = sutra_family_common_keys(root, what, cfg, err, errcap);
    if (st) return st;
    float scalar = 256.0f, global = 1000000.0f, local = 10000.0f;
    int window = 4096, pattern = 6;
    s->Hkv = s->H;
    s->D = 256;
    s->eps = 1e-6f;
    const char *act_key = sutra_json_get(root, "hidden_activation") ? "hidden_activation" : "hidden_act";
    if ((st = sutra_json_int(root, what, "num_key_value_heads", 1, 1, 1024, &s->Hkv, err, errcap)) ||
        (st = sutra_json_int(root, what, "head_dim", 1, 2, 1024, &s->D, err, errcap)) ||
        (st = sutra_json_number(root, what, "rms_norm_eps", 0.0, 1.0, &s->eps, err, errcap)) ||
        (st = sutra_json_number(root, what, "query_pre_attn_scalar", 1e-6, 1e9, &scalar, err, errcap)) ||
        (st = sutra_json_number(root, what, "rope_theta", 1.0, 1e12, &global, err, errcap)) ||
        (st = sutra_json_number(root, what, "rope_local_base_freq", 1.0, 1e12, &local, err, errcap)) ||
        (st = sutra_json_int(root, what, "sliding_window", 1, 1, 1 << 30, &window, err, errcap)) ||
        (st = sutra_json_int(root, what, "_sliding_window_pattern", 1, 1, SUTRA_MAX_LAYERS, &pattern, err, errcap)) ||
        (st = sutra_json_int(root, what, "sliding_window_pattern", 1, 1, SUTRA_MAX_LAYERS, &pattern, err, errcap)) ||
        (st = sutra_family_act(root, what, act_key, &s->act, err, errcap)))
        return st;
    if (!sutra_json_get(root, act_key)) s->act = SUTRA_ACT_GELU_TANH; /* Gemma3TextConfig's default */
    if (s->H % s->Hkv)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: num_attention_heads %d is not a multiple of "
                          "num_key_value_heads %d", what, s->H, s->Hkv);
    const cJSON *cap = sutra_json_get(root, "attn_logit_softcapping");
    if (cap && !cJSON_IsNull(cap))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: attn_logit_softcapping is not supported", what);
    const cJSON *rs = sutra_json_get(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: rope_scaling is not supported (only the default "
                          "rotary embedding)", what);
    const cJSON *rp = sutra_json_get(root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp) && !cJSON_IsObject(rp))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: 'rope_parameters' must be an object", what);
    if ((st = rope_of(rp, what, "full_attention", &global, err, errcap)) ||
        (st = rope_of(rp, what, "sliding_attention", &local, err, errcap)))
        return st;
    const cJSON *lt = sutra_json_get(root, "layer_types");
    if (lt && (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != s->L))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: 'layer_types' must list %d layers", what, s->L);
    s->causal = !sutra_json_bool(root, "use_bidirectional_attention", 0);
    for (int l = 0; l < s->L; l++) {
        int local_layer = (l + 1) % pattern != 0;
        if (lt) {
            const cJSON *it = cJSON_GetArrayItem(lt, l);
            const char *t = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(t, "sliding_attention")) local_layer = 1;
            else if (!strcmp(t, "full_attention")) local_layer = 0;
            else return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: unknown layer type '%.40s'", what, t);
        }
        /* causal: the sliding_window - 1 keys before the query; bidirectional: transformers reads
         * sliding_window as the span of both sides (512: keys within 256 either side) */
        s->window[l] = local_layer ? (s->causal ? window - 1 : window / 2) : -1;
        s->rope_theta[l] = local_layer ? local : global;
    }
    s->attn_bias = sutra_json_bool(root, "attention_bias", 0);
    s->attn_scale = 1.0f / sqrtf(scalar);
    s->norm = SUTRA_NORM_RMS;
    s->final_norm = 1;
    s->gated = 1;
    s->fp16_overflows = 1; /* Gemma's residual stream outgrows fp16, as transformers warns */
    return SUTRA_OK;
}

/* An RMSNorm scaling by (1 + w): "<name>.weight" of width n, plus one, in the slab. */
static sutra_norm plus_one(sutra_binder *b, const sutra_net_shape *s, const char *fmt, int l, int64_t n) {
    char name[256];
    float *w = sutra_bind_fused_alloc(b, (size_t)n);
    sutra_bind_into(b, w, sutra_layer_name(name, sizeof name, fmt, l), 1, &n);
    for (int64_t i = 0; w && i < n; i++) w[i] += 1.0f;
    return sutra_family_norm(s, w, NULL);
}

static void gemma_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F, D = s->D, Q = (int64_t)s->H * D, KV = (int64_t)s->Hkv * D;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "model.embed_tokens.weight") ? "model." : "";
    float *emb = sutra_bind_fused_alloc(b, (size_t)(s->vocab * C));
    sutra_bind_into(b, emb, "embed_tokens.weight", 2, (int64_t[]){s->vocab, C});
    const float scale = (float)sqrt((double)C); /* the float transformers multiplies each row by */
    for (int64_t i = 0; emb && i < (int64_t)s->vocab * C; i++) emb[i] *= scale;
    net->tok_emb = emb;
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        L->attn_in = plus_one(b, s, "layers.%d.input_layernorm.weight", l, C);
        static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
        L->qkv = sutra_family_fused_qkv(b, "layers.%%d.self_attn.%s", proj, l, (int64_t[]){Q, KV, KV}, C, s->attn_bias);
        L->q_norm = plus_one(b, s, "layers.%d.self_attn.q_norm.weight", l, D);
        L->k_norm = plus_one(b, s, "layers.%d.self_attn.k_norm.weight", l, D);
        L->o = sutra_family_linear(b, "layers.%d.self_attn.o_proj", l, C, Q, s->attn_bias);
        L->attn_out = plus_one(b, s, "layers.%d.post_attention_layernorm.weight", l, C);
        L->ffn_in = plus_one(b, s, "layers.%d.pre_feedforward_layernorm.weight", l, C);
        static const char *const glu[2] = {"gate_proj", "up_proj"}; /* act on the gate half: it goes first */
        L->up = sutra_family_stacked(b, "layers.%%d.mlp.%s", glu, 2, l, (int64_t[]){F, F}, C, 0);
        L->down = sutra_family_linear(b, "layers.%d.mlp.down_proj", l, C, F, 0);
        L->ffn_out = plus_one(b, s, "layers.%d.post_feedforward_layernorm.weight", l, C);
    }
    net->final_norm = plus_one(b, s, "norm.weight", 0, C);
}

static const char *const gemma_types[] = {"gemma3_text", NULL};

const sutra_family sutra_family_gemma3 = {
    .name = "gemma3",
    .model_types = gemma_types,
    .configure = gemma_configure,
    .bind = gemma_bind,
};
