/*
 * weights.c - see weights.h.
 */
#include "arch/weights.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/common.h"

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void convert(float *dst, const sutra_st_tensor *t) {
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case SUTRA_DTYPE_F32: memcpy(&dst[i], src + 4 * i, 4); break;
        case SUTRA_DTYPE_F16: {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = half_to_float(h);
            break;
        }
        case SUTRA_DTYPE_BF16: {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
            break;
        }
        case SUTRA_DTYPE_F64: {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
            break;
        }
        default: dst[i] = NAN; break;
        }
    }
}

static const sutra_st_tensor *lookup(sutra_binder *b, const char *name, int ndim, const int64_t *shape) {
    if (b->failed) return NULL;
    char full[512];
    snprintf(full, sizeof full, "%s%s", b->prefix ? b->prefix : "", name);
    const sutra_st_tensor *t = sutra_st_find(b->file, full);
    if (!t) {
        b->failed = 1;
        sutra_errf(SUTRA_ERR_MODEL, b->err, b->errcap, "missing tensor '%s'", full);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[128] = "", got[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        b->failed = 1;
        sutra_errf(SUTRA_ERR_MODEL, b->err, b->errcap, "tensor '%s' has shape [%s], expected [%s]", full, got, want);
        return NULL;
    }
    if (t->dtype != SUTRA_DTYPE_F32 && t->dtype != SUTRA_DTYPE_F16 && t->dtype != SUTRA_DTYPE_BF16 &&
        t->dtype != SUTRA_DTYPE_F64) {
        b->failed = 1;
        sutra_errf(SUTRA_ERR_MODEL, b->err, b->errcap, "tensor '%s' has dtype %s, expected a float type", full,
                   sutra_dtype_name(t->dtype));
        return NULL;
    }
    if (!b->dtype) b->dtype = sutra_dtype_name(t->dtype);
    return t;
}

float *sutra_bind_fused_alloc(sutra_binder *b, size_t floats) {
    float *p = b->slab ? b->slab + b->slab_used : NULL;
    b->slab_used += (floats + 15) & ~(size_t)15; /* keep every block 64-byte aligned */
    return p;
}

const float *sutra_bind(sutra_binder *b, const char *name, int ndim, const int64_t *shape) {
    const sutra_st_tensor *t = lookup(b, name, ndim, shape);
    if (!t) return NULL;
    if (t->dtype == SUTRA_DTYPE_F32 && ((uintptr_t)t->data & 3) == 0) return (const float *)(const void *)t->data;
    float *dst = sutra_bind_fused_alloc(b, (size_t)t->numel);
    if (dst) convert(dst, t);
    return dst;
}

void sutra_bind_into(sutra_binder *b, float *dst, const char *name, int ndim, const int64_t *shape) {
    const sutra_st_tensor *t = lookup(b, name, ndim, shape);
    if (t && dst) convert(dst, t);
}

const char *sutra_layer_name(char *buf, size_t cap, const char *fmt, int layer) {
    snprintf(buf, cap, fmt, layer);
    return buf;
}
