/*
 * torch_ckpt.c - reads torch.save's zip checkpoints through a pickle machine that can only build
 * tensors (torch_ckpt.h).
 *
 * Rules this file keeps:
 *  - The pickle is data, never code. The machine knows the opcodes a state dict needs and a fixed
 *    list of globals, each mapped to what it means here (a dict, a tensor, a storage type, a
 *    dtype); anything else stops the read with its name. REDUCE calls only those, with their
 *    arguments checked, and BUILD only sets the state of an OrderedDict (its _metadata), which is
 *    dropped.
 *  - Everything is bounded before use: the pickle's length, the stack, the marks, the memo (no
 *    index past the values made so far), string and name lengths, dimensions, every integer
 *    (64-bit, overflow-checked sizes), and the bytes the tensors may be copied into. Values live
 *    in flat tables indexed by number; nothing recurses.
 *  - Every tensor is checked against its storage (offset, sizes and strides reach no element past
 *    the storage's declared count) and every storage against the archive (its entry exists, is
 *    stored uncompressed as torch.save writes it, and holds exactly the declared bytes). Views of
 *    a shared storage (tied weights) and strided tensors are copied out, contiguous.
 *  - Messages name the file, the place in the pickle and the thing at fault: the opcode, the global
 *    (module.name), the tensor, the storage key. Names from the file are shown bounded and printable.
 */
#include "model/torch_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "util/common.h"

#define PK_MAX_LEN (256u << 20) /* bytes of data.pkl: about 2000 per tensor, so room for 100k tensors */
#define PK_MAX_STACK (1u << 20) /* stack entries */
#define PK_MAX_MARKS 64         /* nested MARKs: a state dict needs 3 */
#define PK_MAX_GLOBAL 128       /* bytes of a GLOBAL's module or name */
#define PK_MAX_NAME 4096        /* bytes of a tensor name */
#define PK_MAX_KEY 64           /* bytes of a storage key (torch writes a decimal number) */
#define NIL UINT32_MAX

/* ---- values ---- */

typedef enum vkind {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR
} vkind;

static const char *const KIND_NAME[] = {"None", "bool",   "int",     "float",   "str",   "tuple",
                                        "list", "dict",   "global",  "storage", "tensor"};

/* The globals a state dict may name, and what each is here. */
typedef enum gkind { G_ORDERED_DICT, G_REBUILD_V2, G_REBUILD, G_REBUILD_PARAM, G_STORAGE_TYPE, G_DTYPE } gkind;

static const struct {
    const char *module, *name;
    gkind kind;
    sutra_dtype dtype;
} ALLOWED[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, SUTRA_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, SUTRA_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor", G_REBUILD, SUTRA_DTYPE_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, SUTRA_DTYPE_F32},
    {"torch", "FloatStorage", G_STORAGE_TYPE, SUTRA_DTYPE_F32},
    {"torch", "HalfStorage", G_STORAGE_TYPE, SUTRA_DTYPE_F16},
    {"torch", "BFloat16Storage", G_STORAGE_TYPE, SUTRA_DTYPE_BF16},
    {"torch", "DoubleStorage", G_STORAGE_TYPE, SUTRA_DTYPE_F64},
    {"torch", "LongStorage", G_STORAGE_TYPE, SUTRA_DTYPE_I64},
    {"torch", "IntStorage", G_STORAGE_TYPE, SUTRA_DTYPE_I32},
    {"torch", "ShortStorage", G_STORAGE_TYPE, SUTRA_DTYPE_I16},
    {"torch", "CharStorage", G_STORAGE_TYPE, SUTRA_DTYPE_I8},
    {"torch", "ByteStorage", G_STORAGE_TYPE, SUTRA_DTYPE_U8},
    {"torch", "BoolStorage", G_STORAGE_TYPE, SUTRA_DTYPE_BOOL},
    {"torch", "UntypedStorage", G_STORAGE_TYPE, SUTRA_DTYPE_U8}, /* torch loads it as uint8 */
    {"torch", "float32", G_DTYPE, SUTRA_DTYPE_F32},
    {"torch", "float16", G_DTYPE, SUTRA_DTYPE_F16},
    {"torch", "bfloat16", G_DTYPE, SUTRA_DTYPE_BF16},
    {"torch", "float64", G_DTYPE, SUTRA_DTYPE_F64},
    {"torch", "int64", G_DTYPE, SUTRA_DTYPE_I64},
    {"torch", "int32", G_DTYPE, SUTRA_DTYPE_I32},
    {"torch", "int16", G_DTYPE, SUTRA_DTYPE_I16},
    {"torch", "int8", G_DTYPE, SUTRA_DTYPE_I8},
    {"torch", "uint8", G_DTYPE, SUTRA_DTYPE_U8},
    {"torch", "bool", G_DTYPE, SUTRA_DTYPE_BOOL},
    {"torch", "float8_e4m3fn", G_DTYPE, SUTRA_DTYPE_F8_E4M3},
    {"torch", "float8_e5m2", G_DTYPE, SUTRA_DTYPE_F8_E5M2},
};

typedef struct value {
    uint8_t kind;  /* vkind */
    uint8_t sub;   /* V_GLOBAL: index in ALLOWED; V_DICT: 1 for an OrderedDict */
    uint32_t a, b; /* V_STR: offset and length in the pickle; V_TUPLE: first item and count;
                      V_LIST / V_DICT: first and last cell (NIL when empty);
                      V_STORAGE / V_TENSOR: index in the machine's storage / tensor table */
    union {
        int64_t i; /* V_BOOL, V_INT */
        double f;  /* V_FLOAT */
    } u;
} value;

/* One element of a list (v) or one pair of a dict (k, v), chained in insertion order. */
typedef struct cell {
    uint32_t k, v, next;
} cell;

/* A storage as a persistent id declares it. */
typedef struct storage_rec {
    uint32_t key; /* V_STR value */
    sutra_dtype dtype;
    uint64_t numel;
    uint32_t canon; /* the first record with the same key (after resolve_storages) */
} storage_rec;

typedef struct tensor_rec {
    uint32_t storage; /* storage_rec index */
    int ndim;
    int64_t shape[SUTRA_ST_MAX_DIMS], stride[SUTRA_ST_MAX_DIMS];
    uint64_t offset, numel, last; /* last: the furthest element it reads (numel > 0) */
} tensor_rec;

typedef struct vm {
    const uint8_t *p;
    size_t len, pos, op_at;
    const char *what;
    char *err;
    size_t errcap;
    value *vals;
    size_t nvals, capvals;
    uint32_t *items; /* tuple items, each tuple's contiguous */
    size_t nitems, capitems;
    cell *cells;
    size_t ncells, capcells;
    storage_rec *stor;
    size_t nstor, capstor;
    tensor_rec *tens;
    size_t ntens, captens;
    uint32_t *stack;
    size_t nstack, capstack;
    size_t marks[PK_MAX_MARKS];
    int nmarks;
    uint32_t *memo;
    size_t nmemo, capmemo;
} vm;

/* ---- messages ---- */

/* A bounded, printable copy of bytes the file chose, for use inside quotes. */
typedef struct {
    char s[100];
} shown;

static shown show_bytes(const uint8_t *b, size_t n) {
    shown o;
    size_t k = 0;
    for (size_t i = 0; i < n && k < 80; i++)
        o.s[k++] = (b[i] < 0x20 || b[i] >= 0x7f || b[i] == '\'') ? '?' : (char)b[i];
    if (n > 80) memcpy(o.s + k, "...", 3), k += 3;
    o.s[k] = '\0';
    return o;
}

static shown show_str(const char *s) { return show_bytes((const uint8_t *)s, strlen(s)); }

static sutra_status fail(vm *m, sutra_status st, const char *fmt, ...) SUTRA_PRINTF(3, 4);
static sutra_status fail(vm *m, sutra_status st, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m->op_at == SIZE_MAX) return sutra_errf(st, m->err, m->errcap, "%s: %s", m->what, msg);
    return sutra_errf(st, m->err, m->errcap, "%s: pickle byte %zu: %s", m->what, m->op_at, msg);
}

/* The name of each pickle opcode, for the message that refuses it (facts from the pickle spec). */
static const char *opcode_name(uint8_t op) {
    static const struct {
        uint8_t op;
        const char *name;
    } names[] = {
        {'(', "MARK"},          {'.', "STOP"},          {'0', "POP"},           {'1', "POP_MARK"},
        {'2', "DUP"},           {'F', "FLOAT"},         {'I', "INT"},           {'J', "BININT"},
        {'K', "BININT1"},       {'L', "LONG"},          {'M', "BININT2"},       {'N', "NONE"},
        {'P', "PERSID"},        {'Q', "BINPERSID"},     {'R', "REDUCE"},        {'S', "STRING"},
        {'T', "BINSTRING"},     {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},     {'X', "BINUNICODE"},
        {'a', "APPEND"},        {'b', "BUILD"},         {'c', "GLOBAL"},        {'d', "DICT"},
        {'}', "EMPTY_DICT"},    {'e', "APPENDS"},       {'g', "GET"},           {'h', "BINGET"},
        {'i', "INST"},          {'j', "LONG_BINGET"},   {'l', "LIST"},          {']', "EMPTY_LIST"},
        {'o', "OBJ"},           {'p', "PUT"},           {'q', "BINPUT"},        {'r', "LONG_BINPUT"},
        {'s', "SETITEM"},       {'t', "TUPLE"},         {')', "EMPTY_TUPLE"},   {'u', "SETITEMS"},
        {'G', "BINFLOAT"},      {0x80, "PROTO"},        {0x81, "NEWOBJ"},       {0x82, "EXT1"},
        {0x83, "EXT2"},         {0x84, "EXT4"},         {0x85, "TUPLE1"},       {0x86, "TUPLE2"},
        {0x87, "TUPLE3"},       {0x88, "NEWTRUE"},      {0x89, "NEWFALSE"},     {0x8a, "LONG1"},
        {0x8b, "LONG4"},        {'B', "BINBYTES"},      {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"},
        {0x8d, "BINUNICODE8"},  {0x8e, "BINBYTES8"},    {0x8f, "EMPTY_SET"},    {0x90, "ADDITEMS"},
        {0x91, "FROZENSET"},    {0x92, "NEWOBJ_EX"},    {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"},
        {0x95, "FRAME"},        {0x96, "BYTEARRAY8"},   {0x97, "NEXT_BUFFER"},  {0x98, "READONLY_BUFFER"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].op == op) return names[i].name;
    return NULL;
}

/* ---- tables ---- */

/* Makes room for one more element of size el in *arr (capacity *cap, count n); 0 when full. */
static int room(void **arr, size_t *cap, size_t n, size_t el) {
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 64;
    if (nc > SIZE_MAX / el || nc > (size_t)NIL) return 0;
    void *p = realloc(*arr, nc * el);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

#define ROOM(m, arr, n, cap) room((void **)&(m)->arr, &(m)->cap, (m)->n, sizeof *(m)->arr)

static void vm_free(vm *m) {
    free(m->vals);
    free(m->items);
    free(m->cells);
    free(m->stor);
    free(m->tens);
    free(m->stack);
    free(m->memo);
}

static sutra_status oom(vm *m) { return fail(m, SUTRA_ERR_OUT_OF_MEMORY, "out of memory"); }

/* A new value of kind k; its index in *out. */
static sutra_status new_value(vm *m, vkind k, uint32_t *out) {
    *out = NIL;
    if (!ROOM(m, vals, nvals, capvals)) return oom(m);
    memset(&m->vals[m->nvals], 0, sizeof m->vals[0]);
    m->vals[m->nvals].kind = (uint8_t)k;
    if (k == V_LIST || k == V_DICT) m->vals[m->nvals].a = m->vals[m->nvals].b = NIL;
    *out = (uint32_t)m->nvals++;
    return SUTRA_OK;
}

static sutra_status push(vm *m, uint32_t v) {
    if (m->nstack >= PK_MAX_STACK) return fail(m, SUTRA_ERR_FORMAT, "stack deeper than %u entries", PK_MAX_STACK);
    if (!ROOM(m, stack, nstack, capstack)) return oom(m);
    m->stack[m->nstack++] = v;
    return SUTRA_OK;
}

/* Entries above the innermost MARK. */
static size_t avail(const vm *m) { return m->nstack - (m->nmarks ? m->marks[m->nmarks - 1] : 0); }

static sutra_status pop(vm *m, uint32_t *v) {
    *v = NIL;
    if (avail(m) < 1) return fail(m, SUTRA_ERR_FORMAT, "stack underflow");
    *v = m->stack[--m->nstack];
    return SUTRA_OK;
}

static sutra_status push_new(vm *m, vkind k, uint32_t *out) {
    sutra_status st = new_value(m, k, out);
    return st ? st : push(m, *out);
}

/* Takes the entries above the innermost MARK and the MARK: *first is where they start, *n how many. */
static sutra_status pop_mark(vm *m, size_t *first, size_t *n) {
    *first = *n = 0;
    if (!m->nmarks) return fail(m, SUTRA_ERR_FORMAT, "no MARK to end");
    *first = m->marks[--m->nmarks];
    *n = m->nstack - *first;
    m->nstack = *first;
    return SUTRA_OK;
}

/* A tuple of the n values at v. */
static sutra_status make_tuple(vm *m, const uint32_t *v, size_t n) {
    uint32_t t;
    sutra_status st = new_value(m, V_TUPLE, &t);
    if (st) return st;
    m->vals[t].a = (uint32_t)m->nitems;
    m->vals[t].b = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (!ROOM(m, items, nitems, capitems)) return oom(m);
        m->items[m->nitems++] = v[i];
    }
    return push(m, t);
}

static const uint32_t *tuple_items(const vm *m, const value *t) { return m->items + t->a; }

/* Appends (k, v) to the list or dict c. */
static sutra_status add_cell(vm *m, uint32_t c, uint32_t k, uint32_t v) {
    if (!ROOM(m, cells, ncells, capcells)) return oom(m);
    const uint32_t i = (uint32_t)m->ncells++;
    m->cells[i] = (cell){k, v, NIL};
    value *cv = &m->vals[c];
    if (cv->b == NIL) cv->a = i;
    else m->cells[cv->b].next = i;
    cv->b = i;
    return SUTRA_OK;
}

/* ---- reading the pickle's bytes ---- */

static sutra_status need(vm *m, size_t n) {
    if (m->len - m->pos < n)
        return fail(m, SUTRA_ERR_FORMAT, "%s needs %zu more bytes but the pickle ends (truncated?)",
                    opcode_name(m->p[m->op_at]), n);
    return SUTRA_OK;
}

static uint64_t le(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* 1 if b[0..n) is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static int utf8_ok(const uint8_t *b, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = b[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) k = 3, cp = c & 0x07;
        else return 0;
        if (n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((b[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (b[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* A string of n bytes at the read position (the length already read). */
static sutra_status op_string(vm *m, uint64_t n) {
    if (n > m->len - m->pos)
        return fail(m, SUTRA_ERR_FORMAT, "a string of %llu bytes runs past the end of the pickle (truncated?)",
                    (unsigned long long)n);
    if (!utf8_ok(m->p + m->pos, (size_t)n)) return fail(m, SUTRA_ERR_FORMAT, "a string is not valid UTF-8");
    uint32_t v;
    sutra_status st = push_new(m, V_STR, &v);
    if (st) return st;
    m->vals[v].a = (uint32_t)m->pos;
    m->vals[v].b = (uint32_t)n;
    m->pos += (size_t)n;
    return SUTRA_OK;
}

static sutra_status op_int(vm *m, int64_t x) {
    uint32_t v;
    sutra_status st = push_new(m, V_INT, &v);
    if (!st) m->vals[v].u.i = x;
    return st;
}

static int str_is(const vm *m, const value *v, const char *s) {
    return v->kind == V_STR && v->b == strlen(s) && !memcmp(m->p + v->a, s, v->b);
}

/* ---- globals and calls ---- */

static sutra_status resolve_global(vm *m, const uint8_t *mod, size_t mlen, const uint8_t *name, size_t nlen) {
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++)
        if (strlen(ALLOWED[i].module) == mlen && !memcmp(ALLOWED[i].module, mod, mlen) &&
            strlen(ALLOWED[i].name) == nlen && !memcmp(ALLOWED[i].name, name, nlen)) {
            uint32_t v;
            sutra_status st = push_new(m, V_GLOBAL, &v);
            if (!st) m->vals[v].sub = (uint8_t)i;
            return st;
        }
    return fail(m, SUTRA_ERR_UNSUPPORTED,
                "global '%s.%s' is not allowed: a checkpoint is read only as tensors, their storages and "
                "OrderedDict, and nothing it names is run",
                show_bytes(mod, mlen).s, show_bytes(name, nlen).s);
}

/* GLOBAL: "module\nname\n" after the opcode. */
static sutra_status op_global(vm *m) {
    const uint8_t *line[2];
    size_t n[2];
    for (int k = 0; k < 2; k++) {
        line[k] = m->p + m->pos;
        const size_t left = m->len - m->pos, look = left < PK_MAX_GLOBAL + 1 ? left : PK_MAX_GLOBAL + 1;
        const uint8_t *nl = memchr(line[k], '\n', look);
        if (!nl && look == left)
            return fail(m, SUTRA_ERR_FORMAT, "the pickle ends inside GLOBAL (truncated?)");
        if (!nl)
            return fail(m, SUTRA_ERR_FORMAT, "GLOBAL's %s is longer than %d bytes", k ? "name" : "module",
                        PK_MAX_GLOBAL);
        n[k] = (size_t)(nl - line[k]);
        m->pos += n[k] + 1;
    }
    return resolve_global(m, line[0], n[0], line[1], n[1]);
}

static sutra_status op_stack_global(vm *m) {
    uint32_t name, mod;
    sutra_status st = pop(m, &name);
    if (!st) st = pop(m, &mod);
    if (st) return st;
    const value *vn = &m->vals[name], *vm_ = &m->vals[mod];
    if (vn->kind != V_STR || vm_->kind != V_STR)
        return fail(m, SUTRA_ERR_FORMAT, "STACK_GLOBAL of a %s and a %s, not two strings", KIND_NAME[vm_->kind],
                    KIND_NAME[vn->kind]);
    return resolve_global(m, m->p + vm_->a, vm_->b, m->p + vn->a, vn->b);
}

/* An int value of at least lo, or -1 with *st set. */
static int get_int(vm *m, uint32_t v, int64_t lo, int64_t *out, const char *what, sutra_status *st) {
    const value *x = &m->vals[v];
    if (x->kind != V_INT || x->u.i < lo) {
        *st = fail(m, SUTRA_ERR_FORMAT, "%s is not an integer >= %lld (a %s)", what, (long long)lo, KIND_NAME[x->kind]);
        return -1;
    }
    *out = x->u.i;
    return 0;
}

/* A tensor from _rebuild_tensor(_v2)'s first four arguments: storage, offset, size, stride. */
static sutra_status rebuild_tensor(vm *m, const uint32_t *a) {
    sutra_status st = SUTRA_OK;
    const value *sv = &m->vals[a[0]], *size = &m->vals[a[2]], *stride = &m->vals[a[3]];
    if (sv->kind != V_STORAGE)
        return fail(m, SUTRA_ERR_FORMAT, "a tensor's storage is a %s, not a storage", KIND_NAME[sv->kind]);
    if (size->kind != V_TUPLE || stride->kind != V_TUPLE || size->b != stride->b)
        return fail(m, SUTRA_ERR_FORMAT, "a tensor's size and stride are not two tuples of the same length");
    if (size->b > SUTRA_ST_MAX_DIMS)
        return fail(m, SUTRA_ERR_UNSUPPORTED, "a tensor of %u dimensions (at most %d)", size->b, SUTRA_ST_MAX_DIMS);
    if (!ROOM(m, tens, ntens, captens)) return oom(m);
    tensor_rec *t = &m->tens[m->ntens];
    memset(t, 0, sizeof *t);
    const storage_rec *s = &m->stor[sv->a];
    t->storage = sv->a;
    t->ndim = (int)size->b;
    int64_t off;
    if (get_int(m, a[1], 0, &off, "a tensor's storage offset", &st)) return st;
    t->offset = (uint64_t)off;
    uint64_t numel = 1, last = t->offset;
    int overflow = 0, empty = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (get_int(m, tuple_items(m, size)[d], 0, &t->shape[d], "a tensor's size", &st) ||
            get_int(m, tuple_items(m, stride)[d], 0, &t->stride[d], "a tensor's stride", &st))
            return st;
        const uint64_t n = (uint64_t)t->shape[d], k = (uint64_t)t->stride[d];
        if (n == 0) {
            empty = 1;
            continue;
        }
        if (numel > UINT64_MAX / n) overflow = 1;
        else numel *= n;
        if (k && n - 1 > (UINT64_MAX - last) / k) overflow = 1;
        else last += (n - 1) * k;
    }
    /* an empty tensor reads nothing, whatever its other sizes and strides say */
    if (empty) numel = 0, overflow = 0, last = t->offset;
    if (overflow || numel > (uint64_t)INT64_MAX / 8)
        return fail(m, SUTRA_ERR_FORMAT, "a tensor's sizes and strides overflow");
    if (numel ? last >= s->numel : t->offset > s->numel)
        return fail(m, SUTRA_ERR_FORMAT,
                    "a tensor reaches element %llu of storage '%s', which holds %llu elements",
                    (unsigned long long)last, show_bytes(m->p + m->vals[s->key].a, m->vals[s->key].b).s,
                    (unsigned long long)s->numel);
    t->numel = numel;
    t->last = last;
    uint32_t v;
    if ((st = push_new(m, V_TENSOR, &v))) return st;
    m->vals[v].a = (uint32_t)m->ntens++;
    return SUTRA_OK;
}

static sutra_status op_reduce(vm *m) {
    uint32_t args, fn;
    sutra_status st = pop(m, &args);
    if (!st) st = pop(m, &fn);
    if (st) return st;
    const value *f = &m->vals[fn], *av = &m->vals[args];
    if (f->kind != V_GLOBAL)
        return fail(m, SUTRA_ERR_UNSUPPORTED, "REDUCE calls a %s; only the allowed globals are called",
                    KIND_NAME[f->kind]);
    const char *const fname = ALLOWED[f->sub].name;
    if (av->kind != V_TUPLE)
        return fail(m, SUTRA_ERR_FORMAT, "REDUCE of %s with a %s for arguments", fname, KIND_NAME[av->kind]);
    const uint32_t *a = tuple_items(m, av);
    const uint32_t n = av->b;
    uint32_t v;
    switch (ALLOWED[f->sub].kind) {
    case G_ORDERED_DICT:
        if (n != 0)
            return fail(m, SUTRA_ERR_UNSUPPORTED, "OrderedDict called with %u arguments (torch.save gives none)", n);
        if ((st = push_new(m, V_DICT, &v))) return st;
        m->vals[v].sub = 1;
        return SUTRA_OK;
    case G_REBUILD_V2:
        /* (storage, offset, size, stride, requires_grad, backward_hooks[, metadata]) */
        if (n != 6 && n != 7) return fail(m, SUTRA_ERR_FORMAT, "_rebuild_tensor_v2 with %u arguments (6 or 7)", n);
        if (m->vals[a[4]].kind != V_BOOL || m->vals[a[5]].kind != V_DICT ||
            (n == 7 && m->vals[a[6]].kind != V_NONE && m->vals[a[6]].kind != V_DICT))
            return fail(m, SUTRA_ERR_FORMAT,
                        "_rebuild_tensor_v2's requires_grad, hooks or metadata are not a bool and dicts");
        return rebuild_tensor(m, a);
    case G_REBUILD:
        if (n != 4) return fail(m, SUTRA_ERR_FORMAT, "_rebuild_tensor with %u arguments (4)", n);
        return rebuild_tensor(m, a);
    case G_REBUILD_PARAM:
        /* (tensor, requires_grad, backward_hooks): a parameter is its tensor here */
        if (n != 3 || m->vals[a[0]].kind != V_TENSOR || m->vals[a[1]].kind != V_BOOL || m->vals[a[2]].kind != V_DICT)
            return fail(m, SUTRA_ERR_FORMAT, "_rebuild_parameter's arguments are not (tensor, bool, dict)");
        return push(m, a[0]);
    case G_STORAGE_TYPE:
    case G_DTYPE:
        break;
    }
    return fail(m, SUTRA_ERR_UNSUPPORTED, "REDUCE calls torch.%s, which is not called here", fname);
}

/* BUILD: only an OrderedDict's state (a state dict's _metadata), which is dropped. */
static sutra_status op_build(vm *m) {
    uint32_t state;
    sutra_status st = pop(m, &state);
    if (st) return st;
    if (avail(m) < 1) return fail(m, SUTRA_ERR_FORMAT, "stack underflow");
    const value *obj = &m->vals[m->stack[m->nstack - 1]], *s = &m->vals[state];
    if (obj->kind != V_DICT || obj->sub != 1 || (s->kind != V_DICT && s->kind != V_NONE))
        return fail(m, SUTRA_ERR_UNSUPPORTED,
                    "BUILD sets the state of a %s from a %s; only an OrderedDict's is accepted", KIND_NAME[obj->kind],
                    KIND_NAME[s->kind]);
    return SUTRA_OK;
}

/* BINPERSID: ('storage', storage type or dtype, key, location, numel). */
static sutra_status op_persid(vm *m) {
    uint32_t pid;
    sutra_status st = pop(m, &pid);
    if (st) return st;
    const value *t = &m->vals[pid];
    if (t->kind != V_TUPLE || t->b != 5 || !str_is(m, &m->vals[tuple_items(m, t)[0]], "storage"))
        return fail(m, SUTRA_ERR_FORMAT, "a persistent id is not ('storage', type, key, location, numel)");
    const uint32_t *a = tuple_items(m, t);
    const value *ty = &m->vals[a[1]], *key = &m->vals[a[2]], *loc = &m->vals[a[3]];
    if (ty->kind != V_GLOBAL || (ALLOWED[ty->sub].kind != G_STORAGE_TYPE && ALLOWED[ty->sub].kind != G_DTYPE))
        return fail(m, SUTRA_ERR_FORMAT, "a storage's type is a %s, not a torch storage type", KIND_NAME[ty->kind]);
    if (key->kind != V_STR || key->b == 0 || key->b > PK_MAX_KEY || loc->kind != V_STR)
        return fail(m, SUTRA_ERR_FORMAT, "a storage's key and location are not strings (key of 1 to %d bytes)",
                    PK_MAX_KEY);
    for (uint32_t i = 0; i < key->b; i++) {
        const uint8_t c = m->p[key->a + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return fail(m, SUTRA_ERR_FORMAT, "storage key '%s' is not letters, digits and '_'",
                        show_bytes(m->p + key->a, key->b).s);
    }
    int64_t numel;
    if (get_int(m, a[4], 0, &numel, "a storage's element count", &st)) return st;
    if (!ROOM(m, stor, nstor, capstor)) return oom(m);
    m->stor[m->nstor] =
        (storage_rec){.key = a[2], .dtype = ALLOWED[ty->sub].dtype, .numel = (uint64_t)numel, .canon = NIL};
    uint32_t v;
    if ((st = push_new(m, V_STORAGE, &v))) return st;
    m->vals[v].a = (uint32_t)m->nstor++;
    return SUTRA_OK;
}

static sutra_status op_memo_put(vm *m, uint64_t idx) {
    if (avail(m) < 1) return fail(m, SUTRA_ERR_FORMAT, "memo store from an empty stack");
    /* Picklers number memo entries in order, so no index can pass the values made so far. */
    if (idx > m->nvals) return fail(m, SUTRA_ERR_FORMAT, "memo index %llu is past the %zu values made so far",
                                    (unsigned long long)idx, m->nvals);
    while (m->nmemo <= idx) {
        if (!ROOM(m, memo, nmemo, capmemo)) return oom(m);
        m->memo[m->nmemo++] = NIL;
    }
    m->memo[idx] = m->stack[m->nstack - 1];
    return SUTRA_OK;
}

static sutra_status op_memo_get(vm *m, uint64_t idx) {
    if (idx >= m->nmemo || m->memo[idx] == NIL)
        return fail(m, SUTRA_ERR_FORMAT, "memo index %llu was never stored", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* SETITEM(S) / APPEND(S): the n values from first onto the container below them. */
static sutra_status fill(vm *m, size_t first, size_t n, int dict) {
    if (dict && n % 2) return fail(m, SUTRA_ERR_FORMAT, "SETITEMS with an odd number of values");
    if (first == 0 || (m->nmarks && first <= m->marks[m->nmarks - 1]))
        return fail(m, SUTRA_ERR_FORMAT, "%s without a container below", dict ? "SETITEM" : "APPEND");
    const uint32_t c = m->stack[first - 1];
    if (m->vals[c].kind != (dict ? V_DICT : V_LIST))
        return fail(m, SUTRA_ERR_FORMAT, "%s on a %s", dict ? "SETITEM" : "APPEND", KIND_NAME[m->vals[c].kind]);
    const uint32_t *v = m->stack + first;
    for (size_t i = 0; i < n; i += dict ? 2 : 1) {
        sutra_status st = add_cell(m, c, dict ? v[i] : NIL, dict ? v[i + 1] : v[i]);
        if (st) return st;
    }
    return SUTRA_OK;
}

/* Runs the pickle to STOP; *result is the value it returns. */
static sutra_status run(vm *m, uint32_t *result) {
    for (;;) {
        if (m->pos >= m->len) {
            m->op_at = m->pos;
            return fail(m, SUTRA_ERR_FORMAT, "the pickle ends before STOP (truncated?)");
        }
        m->op_at = m->pos;
        const uint8_t op = m->p[m->pos++];
        sutra_status st = SUTRA_OK;
        uint32_t v;
        size_t first, n;
        switch (op) {
        case 0x80: /* PROTO */
            if ((st = need(m, 1))) return st;
            if (m->p[m->pos] < 2 || m->p[m->pos] > 5)
                return fail(m, SUTRA_ERR_UNSUPPORTED, "pickle protocol %d (torch.save writes 2)", m->p[m->pos]);
            m->pos++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if ((st = need(m, 8))) return st;
            m->pos += 8;
            break;
        case '}': st = push_new(m, V_DICT, &v); break;
        case ']': st = push_new(m, V_LIST, &v); break;
        case ')': st = make_tuple(m, NULL, 0); break;
        case 'N': st = push_new(m, V_NONE, &v); break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if (!(st = push_new(m, V_BOOL, &v))) m->vals[v].u.i = op == 0x88;
            break;
        case '(': /* MARK */
            if (m->nmarks >= PK_MAX_MARKS) return fail(m, SUTRA_ERR_FORMAT, "more than %d nested MARKs", PK_MAX_MARKS);
            m->marks[m->nmarks++] = m->nstack;
            break;
        case 'X': /* BINUNICODE */
            if (!(st = need(m, 4))) m->pos += 4, st = op_string(m, le(m->p + m->pos - 4, 4));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            if (!(st = need(m, 1))) m->pos += 1, st = op_string(m, m->p[m->pos - 1]);
            break;
        case 0x8d: /* BINUNICODE8 */
            if (!(st = need(m, 8))) m->pos += 8, st = op_string(m, le(m->p + m->pos - 8, 8));
            break;
        case 'J': /* BININT: signed 32-bit */
            if (!(st = need(m, 4))) m->pos += 4, st = op_int(m, (int32_t)(uint32_t)le(m->p + m->pos - 4, 4));
            break;
        case 'K': /* BININT1 */
            if (!(st = need(m, 1))) m->pos += 1, st = op_int(m, m->p[m->pos - 1]);
            break;
        case 'M': /* BININT2 */
            if (!(st = need(m, 2))) m->pos += 2, st = op_int(m, (int64_t)le(m->p + m->pos - 2, 2));
            break;
        case 0x8a: { /* LONG1: n-byte two's complement, little-endian */
            if ((st = need(m, 1))) return st;
            const int nb = m->p[m->pos++];
            if (nb > 8) return fail(m, SUTRA_ERR_FORMAT, "an integer of %d bytes (at most 8 are read)", nb);
            if ((st = need(m, (size_t)nb))) return st;
            uint64_t x = nb ? le(m->p + m->pos, nb) : 0;
            if (nb && nb < 8 && (m->p[m->pos + nb - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * nb);
            m->pos += (size_t)nb;
            st = op_int(m, (int64_t)x);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if ((st = need(m, 8))) return st;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = (bits << 8) | m->p[m->pos + i];
            m->pos += 8;
            if (!(st = push_new(m, V_FLOAT, &v))) memcpy(&m->vals[v].u.f, &bits, 8);
            break;
        }
        case 't': /* TUPLE */
            if (!(st = pop_mark(m, &first, &n))) st = make_tuple(m, m->stack + first, n);
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */
            n = (size_t)(op - 0x84);
            if (avail(m) < n) return fail(m, SUTRA_ERR_FORMAT, "stack underflow");
            m->nstack -= n;
            st = make_tuple(m, m->stack + m->nstack, n);
            break;
        case 's': /* SETITEM */
        case 'a': /* APPEND */
            n = op == 's' ? 2 : 1;
            if (avail(m) < n) return fail(m, SUTRA_ERR_FORMAT, "stack underflow");
            first = m->nstack - n;
            if (!(st = fill(m, first, n, op == 's'))) m->nstack = first;
            break;
        case 'u': /* SETITEMS */
        case 'e': /* APPENDS */
            if (!(st = pop_mark(m, &first, &n))) st = fill(m, first, n, op == 'u');
            break;
        case 'q': /* BINPUT */
            if (!(st = need(m, 1))) m->pos += 1, st = op_memo_put(m, m->p[m->pos - 1]);
            break;
        case 'r': /* LONG_BINPUT */
            if (!(st = need(m, 4))) m->pos += 4, st = op_memo_put(m, le(m->p + m->pos - 4, 4));
            break;
        case 0x94: /* MEMOIZE */
            st = op_memo_put(m, m->nmemo);
            break;
        case 'h': /* BINGET */
            if (!(st = need(m, 1))) m->pos += 1, st = op_memo_get(m, m->p[m->pos - 1]);
            break;
        case 'j': /* LONG_BINGET */
            if (!(st = need(m, 4))) m->pos += 4, st = op_memo_get(m, le(m->p + m->pos - 4, 4));
            break;
        case 'c': st = op_global(m); break;
        case 0x93: st = op_stack_global(m); break;
        case 'R': st = op_reduce(m); break;
        case 'b': st = op_build(m); break;
        case 'Q': st = op_persid(m); break;
        case '.': /* STOP */
            return pop(m, result);
        default: {
            const char *name = opcode_name(op);
            if (name)
                return fail(m, SUTRA_ERR_UNSUPPORTED, "opcode %s (0x%02x) is not one a state dict needs", name, op);
            return fail(m, SUTRA_ERR_FORMAT, "0x%02x is not a pickle opcode", op);
        }
        }
        if (st) return st;
    }
}

/* ---- from the pickle's tensors to a file object ---- */

static int cmp_key(const vm *m, uint32_t a, uint32_t b) {
    const value *x = &m->vals[m->stor[a].key], *y = &m->vals[m->stor[b].key];
    const size_t n = x->b < y->b ? x->b : y->b;
    const int c = memcmp(m->p + x->a, m->p + y->a, n);
    return c ? c : (x->b > y->b) - (x->b < y->b);
}

/* Points every storage record at the first with its key (sorting the indices by key, insertion
 * sort being too slow for a big checkpoint: a heap sort, which needs no state beside the array). */
static void sift(const vm *m, uint32_t *ix, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && (cmp_key(m, ix[c], ix[c + 1]) < 0 || (!cmp_key(m, ix[c], ix[c + 1]) && ix[c] < ix[c + 1])))
            c++;
        const int k = cmp_key(m, ix[i], ix[c]);
        if (k > 0 || (k == 0 && ix[i] > ix[c])) return;
        const uint32_t t = ix[i];
        ix[i] = ix[c], ix[c] = t;
        i = c;
    }
}

/* Checks that the records of one key agree and asks the source for each key's size once. */
static sutra_status resolve_storages(vm *m, const sutra_torch_storages *src) {
    if (!m->nstor) return SUTRA_OK;
    uint32_t *ix = malloc(m->nstor * sizeof *ix);
    if (!ix) return oom(m);
    for (size_t i = 0; i < m->nstor; i++) ix[i] = (uint32_t)i;
    for (size_t i = m->nstor / 2; i-- > 0;) sift(m, ix, i, m->nstor);
    for (size_t n = m->nstor; n-- > 1;) {
        const uint32_t t = ix[0];
        ix[0] = ix[n], ix[n] = t;
        sift(m, ix, 0, n);
    }
    sutra_status st = SUTRA_OK;
    char key[PK_MAX_KEY + 1];
    for (size_t i = 0; i < m->nstor && !st; i++) {
        storage_rec *s = &m->stor[ix[i]];
        const value *kv = &m->vals[s->key];
        memcpy(key, m->p + kv->a, kv->b);
        key[kv->b] = '\0';
        if (i > 0 && !cmp_key(m, ix[i - 1], ix[i])) {
            const storage_rec *c = &m->stor[m->stor[ix[i - 1]].canon];
            s->canon = m->stor[ix[i - 1]].canon;
            if (c->dtype != s->dtype || c->numel != s->numel)
                st = fail(m, SUTRA_ERR_FORMAT, "storage '%s' is declared as %llu %s and as %llu %s", key,
                          (unsigned long long)c->numel, sutra_dtype_name(c->dtype), (unsigned long long)s->numel,
                          sutra_dtype_name(s->dtype));
            continue;
        }
        s->canon = ix[i];
        const uint64_t es = sutra_dtype_size(s->dtype);
        if (s->numel > UINT64_MAX / es) {
            st = fail(m, SUTRA_ERR_FORMAT, "storage '%s': %llu elements overflow a byte count", key,
                      (unsigned long long)s->numel);
            break;
        }
        uint64_t have = 0;
        st = src->size(src->ctx, key, s->numel * es, &have, m->err, m->errcap);
        if (!st && have != s->numel * es)
            st = fail(m, SUTRA_ERR_FORMAT,
                      "storage '%s' holds %llu bytes but is declared as %llu %s elements (%llu bytes)", key,
                      (unsigned long long)have, (unsigned long long)s->numel, sutra_dtype_name(s->dtype),
                      (unsigned long long)(s->numel * es));
    }
    free(ix);
    return st;
}

static int contiguous(const tensor_rec *t) {
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want) return 0;
        want *= t->shape[d];
    }
    return 1;
}

/* Copies tensor t into dst (its nbytes, contiguous). */
static sutra_status copy_tensor(vm *m, const sutra_torch_storages *src, const tensor_rec *t, uint8_t *dst) {
    const storage_rec *s = &m->stor[m->stor[t->storage].canon];
    const value *kv = &m->vals[s->key];
    char key[PK_MAX_KEY + 1];
    memcpy(key, m->p + kv->a, kv->b);
    key[kv->b] = '\0';
    const size_t es = sutra_dtype_size(s->dtype);
    if (contiguous(t)) return src->read(src->ctx, key, t->offset * es, dst, (size_t)t->numel * es, m->err, m->errcap);
    /* strided: read the span it touches, then gather (the span is inside the storage, so bounded by it) */
    const size_t span = (size_t)(t->last - t->offset + 1) * es;
    uint8_t *tmp = malloc(span);
    if (!tmp) return oom(m);
    sutra_status st = src->read(src->ctx, key, t->offset * es, tmp, span, m->err, m->errcap);
    int64_t idx[SUTRA_ST_MAX_DIMS] = {0};
    uint64_t at = 0; /* element offset inside the span */
    for (uint64_t i = 0; !st && i < t->numel; i++) {
        memcpy(dst + i * es, tmp + at * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) {
                at += (uint64_t)t->stride[d];
                break;
            }
            at -= (uint64_t)t->stride[d] * (uint64_t)(t->shape[d] - 1);
            idx[d] = 0;
        }
    }
    free(tmp);
    return st;
}

#define ALIGN 64 /* each tensor's copy starts on a 64-byte boundary, as the kernels like */

static sutra_status build_file(vm *m, uint32_t root, const sutra_torch_storages *src, uint64_t max_bytes,
                               sutra_st_file **out) {
    m->op_at = SIZE_MAX; /* what goes wrong from here is not at one place in the pickle */
    const value *r = &m->vals[root];
    if (r->kind != V_DICT)
        return fail(m, SUTRA_ERR_UNSUPPORTED, "the checkpoint is a %s, not a dict of tensors (a state dict)",
                    KIND_NAME[r->kind]);
    size_t n = 0, names_len = 0;
    uint64_t total = 0;
    for (uint32_t c = r->a; c != NIL; c = m->cells[c].next) {
        const value *k = &m->vals[m->cells[c].k], *v = &m->vals[m->cells[c].v];
        if (k->kind != V_STR || k->b == 0 || k->b > PK_MAX_NAME || memchr(m->p + k->a, 0, k->b))
            return fail(m, SUTRA_ERR_FORMAT, "entry %zu's name is not a string of 1 to %d bytes without NUL", n,
                        PK_MAX_NAME);
        if (v->kind != V_TENSOR)
            return fail(m, SUTRA_ERR_UNSUPPORTED, "entry '%s' is a %s, not a tensor", show_bytes(m->p + k->a, k->b).s,
                        KIND_NAME[v->kind]);
        const tensor_rec *t = &m->tens[v->a];
        /* numel < 2^60 and elements of at most 8 bytes: neither product nor rounding overflows */
        const uint64_t nb = t->numel * sutra_dtype_size(m->stor[t->storage].dtype),
                       padded = (nb + ALIGN - 1) / ALIGN * ALIGN;
        if (padded > max_bytes || total > max_bytes - padded || total + padded > SIZE_MAX - ALIGN)
            return fail(m, SUTRA_ERR_FORMAT, "the tensors need more than the %llu bytes allowed for this file "
                        "(views of one storage are copied apart)", (unsigned long long)max_bytes);
        total += padded;
        names_len += k->b + 1;
        n++;
    }
    sutra_status st = resolve_storages(m, src);
    if (st) return st;
    sutra_st_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    char *names = malloc(names_len ? names_len : 1);
    uint8_t *data = sutra_alloc64(total ? (size_t)total : ALIGN);
    if (!ts || !names || !data) {
        free(ts), free(names), free(data);
        return oom(m);
    }
    size_t i = 0, at = 0;
    char *np = names;
    for (uint32_t c = r->a; c != NIL && !st; c = m->cells[c].next, i++) {
        const value *k = &m->vals[m->cells[c].k];
        const tensor_rec *t = &m->tens[m->vals[m->cells[c].v].a];
        sutra_st_tensor *d = &ts[i];
        memcpy(np, m->p + k->a, k->b);
        np[k->b] = '\0';
        d->name = np;
        np += k->b + 1;
        d->dtype = m->stor[t->storage].dtype;
        d->ndim = t->ndim;
        memcpy(d->shape, t->shape, sizeof d->shape);
        d->data = data + at;
        const size_t nb = (size_t)t->numel * sutra_dtype_size(d->dtype);
        if (nb) st = copy_tensor(m, src, t, data + at);
        at += (nb + ALIGN - 1) / ALIGN * ALIGN;
    }
    if (st) free(data);
    else st = sutra_st_from_memory(ts, n, data, total ? (size_t)total : ALIGN, m->what, out, m->err, m->errcap);
    free(ts);
    free(names);
    return st;
}

sutra_status sutra_torch_parse_pickle(const uint8_t *pkl, size_t len, const sutra_torch_storages *src,
                                      uint64_t max_bytes, const char *what, sutra_st_file **out, char *err,
                                      size_t errcap) {
    *out = NULL;
    if (!pkl && len) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "%s: pickle is NULL", what);
    if (len > PK_MAX_LEN)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: a pickle of %zu bytes (at most %u are read)", what,
                          len, PK_MAX_LEN);
    vm m = {.p = pkl, .len = len, .what = what, .err = err, .errcap = errcap};
    uint32_t root;
    sutra_status st = run(&m, &root);
    if (!st) st = build_file(&m, root, src, max_bytes, out);
    vm_free(&m);
    return st;
}

/* ---- the zip archive ---- */

typedef struct archive {
    zip_t *za;
    char prefix[256]; /* "<name>/" */
    const char *what;
} archive;

/* Locates prefix + rel: 1 found, 0 absent. */
static int entry_find(const archive *z, const char *rel, zip_uint64_t *index) {
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s%s", z->prefix, rel) >= sizeof name) return 0;
    const zip_int64_t i = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (i < 0) return 0;
    *index = (zip_uint64_t)i;
    return 1;
}

/* An entry's size, checked to be stored uncompressed and unencrypted (as torch.save writes every
 * entry), which also bounds it by the archive's own length. */
static sutra_status entry_size(const archive *z, zip_uint64_t index, const char *rel, uint64_t *size, char *err,
                               size_t errcap) {
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z->za, index, ZIP_FL_ENC_RAW, &sb) != 0)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %s%s: %s", z->what, z->prefix, rel, zip_strerror(z->za));
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((sb.valid & need) != need || sb.comp_method != ZIP_CM_STORE || sb.size != sb.comp_size ||
        ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s: %s%s is compressed or encrypted (torch.save stores every entry as it is)", z->what,
                          z->prefix, rel);
    *size = sb.size;
    return SUTRA_OK;
}

static sutra_status entry_read(const archive *z, zip_uint64_t index, const char *rel, uint64_t off, void *dst,
                               size_t len, char *err, size_t errcap) {
    zip_file_t *zf = zip_fopen_index(z->za, index, 0);
    if (!zf)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %s%s: %s", z->what, z->prefix, rel, zip_strerror(z->za));
    sutra_status st = SUTRA_OK;
    if (off && zip_fseek(zf, (zip_int64_t)off, SEEK_SET) != 0)
        st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %s%s: seek to %llu: %s", z->what, z->prefix, rel,
                        (unsigned long long)off, zip_file_strerror(zf));
    size_t got = 0;
    while (!st && got < len) {
        const zip_int64_t r = zip_fread(zf, (uint8_t *)dst + got, len - got);
        if (r <= 0)
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %s%s: %s after %zu of %zu bytes", z->what, z->prefix,
                            rel, r < 0 ? zip_file_strerror(zf) : "ends", got, len);
        else got += (size_t)r;
    }
    zip_fclose(zf);
    return st;
}

static sutra_status storage_size(void *ctx, const char *key, uint64_t declared, uint64_t *nbytes, char *err,
                                 size_t errcap) {
    (void)declared; /* the archive has its own sizes */
    const archive *z = ctx;
    char rel[PK_MAX_KEY + 8];
    snprintf(rel, sizeof rel, "data/%s", key);
    zip_uint64_t i;
    if (!entry_find(z, rel, &i))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: storage '%s' is missing (no %s%s in the archive)",
                          z->what, key, z->prefix, rel);
    return entry_size(z, i, rel, nbytes, err, errcap);
}

static sutra_status storage_read(void *ctx, const char *key, uint64_t off, void *dst, size_t len, char *err,
                                 size_t errcap) {
    const archive *z = ctx;
    char rel[PK_MAX_KEY + 8];
    snprintf(rel, sizeof rel, "data/%s", key);
    zip_uint64_t i;
    if (!entry_find(z, rel, &i))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: storage '%s' is missing", z->what, key);
    return entry_read(z, i, rel, off, dst, len, err, errcap);
}

/* The checkpoint in an open archive of archive_len bytes. */
static sutra_status read_archive(archive *z, uint64_t archive_len, sutra_st_file **out, char *err, size_t errcap) {
    const zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n <= 0)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: an empty zip archive, not a torch.save checkpoint",
                          z->what);
    /* torch.save puts every entry in one folder named after the file; the first entry names it */
    const char *first = zip_get_name(z->za, 0, ZIP_FL_ENC_RAW);
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first || (size_t)(slash - first) + 2 > sizeof z->prefix)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s: the first zip entry is not in a folder, as torch.save's are", z->what);
    memcpy(z->prefix, first, (size_t)(slash - first) + 1);
    z->prefix[slash - first + 1] = '\0';
    zip_uint64_t i;
    if (entry_find(z, "constants.pkl", &i))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s: a TorchScript archive (torch.jit.save), not a torch.save checkpoint", z->what);
    if (!entry_find(z, "data.pkl", &i))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: no %sdata.pkl: not a torch.save checkpoint", z->what,
                          z->prefix);
    zip_uint64_t bo;
    if (entry_find(z, "byteorder", &bo)) {
        uint64_t bl;
        char order[16] = "";
        sutra_status st = entry_size(z, bo, "byteorder", &bl, err, errcap);
        if (!st && bl < sizeof order) st = entry_read(z, bo, "byteorder", 0, order, (size_t)bl, err, errcap);
        if (st) return st;
        if (!strcmp(order, "big"))
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                              "%s: a big-endian checkpoint (byteorder 'big'); save it again on a little-endian machine",
                              z->what);
        if (strcmp(order, "little"))
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: byteorder is '%s', not 'little' or 'big'", z->what,
                              show_str(order).s);
    }
    uint64_t plen;
    sutra_status st = entry_size(z, i, "data.pkl", &plen, err, errcap);
    if (st) return st;
    if (plen > PK_MAX_LEN)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: data.pkl of %llu bytes (at most %u are read)",
                          z->what, (unsigned long long)plen, PK_MAX_LEN);
    uint8_t *pkl = malloc(plen ? (size_t)plen : 1);
    if (!pkl) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory for data.pkl", z->what);
    st = entry_read(z, i, "data.pkl", 0, pkl, (size_t)plen, err, errcap);
    if (!st) {
        char what[4200];
        snprintf(what, sizeof what, "%s: %sdata.pkl", z->what, z->prefix);
        const sutra_torch_storages src = {.ctx = z, .size = storage_size, .read = storage_read};
        /* a state dict's tensors fill its archive once; tied views copied apart may add as much again */
        const uint64_t max_bytes = 2 * archive_len + (16u << 20);
        st = sutra_torch_parse_pickle(pkl, (size_t)plen, &src, max_bytes, what, out, err, errcap);
    }
    free(pkl);
    return st;
}

/* Refuses what is not a zip archive, naming the legacy format when it is one. */
static sutra_status check_magic(const uint8_t *b, size_t n, const char *what, char *err, size_t errcap) {
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return SUTRA_OK;
    if ((n >= 2 && b[0] == 0x80 && b[1] <= 5) || (n >= 262 && !memcmp(b + 257, "ustar", 5)))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s: legacy torch.save format (pre-1.6); re-save it with PyTorch >= 1.6 "
                          "(torch.save(torch.load(f), f)) or convert it to safetensors", what);
    return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: not a zip archive, so not a torch.save checkpoint", what);
}

static sutra_status zip_fail(zip_error_t *ze, const char *what, char *err, size_t errcap) {
    sutra_status st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: not a readable zip archive: %s", what,
                                 zip_error_strerror(ze));
    zip_error_fini(ze);
    return st;
}

sutra_status sutra_torch_parse(const uint8_t *buf, size_t len, sutra_st_file **out, char *err, size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_torch_parse: out is NULL");
    *out = NULL;
    if (!buf && len) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_torch_parse: buffer is NULL");
    archive z = {.what = "<buffer>"};
    sutra_status st = check_magic(buf, len, z.what, err, errcap);
    if (st) return st;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *zs = zip_source_buffer_create(buf, len, 0, &ze);
    if (!zs) return zip_fail(&ze, z.what, err, errcap);
    z.za = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z.za) {
        zip_source_free(zs);
        return zip_fail(&ze, z.what, err, errcap);
    }
    zip_error_fini(&ze);
    st = read_archive(&z, len, out, err, errcap);
    zip_discard(z.za); /* frees the source too */
    return st;
}

sutra_status sutra_torch_open(const char *path, sutra_st_file **out, char *err, size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_torch_open: out is NULL");
    *out = NULL;
    if (!path) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_torch_open: path is NULL");
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    struct stat sb;
    uint8_t head[512];
    ssize_t got = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: not a regular file", path);
    }
    while (got < (ssize_t)sizeof head) {
        const ssize_t r = read(fd, head + got, sizeof head - (size_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    /* the archive reads through the descriptor we checked (zip_fdopen takes it over when it succeeds) */
    sutra_status st = check_magic(head, (size_t)got, path, err, errcap);
    archive z = {.what = path};
    if (!st && lseek(fd, 0, SEEK_SET) != 0) st = sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    if (st) {
        close(fd);
        return st;
    }
    int zerr = 0;
    z.za = zip_fdopen(fd, ZIP_CHECKCONS, &zerr); /* read-only by nature */
    if (!z.za) {
        close(fd);
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        return zip_fail(&ze, path, err, errcap);
    }
    st = read_archive(&z, (uint64_t)sb.st_size, out, err, errcap);
    zip_discard(z.za);
    return st;
}
