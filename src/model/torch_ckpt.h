/*
 * torch_ckpt.h - a restricted reader of PyTorch's checkpoint format as torch.save writes it since
 * PyTorch 1.6 (pytorch_model.bin, bge-m3's sparse_linear.pt / colbert_linear.pt): a zip archive of
 * <prefix>/data.pkl, a pickle of a dict from tensor names to tensors, and <prefix>/data/<key>, the
 * raw bytes of each storage those tensors view; <prefix>/byteorder, where present, must say
 * "little".
 *
 * Only a state dict is understood: the pickle opcodes torch.save emits for one, and the globals it
 * names (collections.OrderedDict; torch._utils._rebuild_tensor_v2, _rebuild_tensor and
 * _rebuild_parameter; the torch.*Storage types; torch dtypes). Nothing is imported or called: any
 * other opcode or global is an error naming it. The result is an ordinary sutra_st_file whose
 * tensors are contiguous copies in one buffer it owns, so the rest of the engine cannot tell it from
 * a safetensors file. The legacy format of older PyTorch (a bare pickle stream or a tar) is refused
 * with the way out: load it and save it again with PyTorch >= 1.6.
 */
#ifndef SUTRA_TORCH_CKPT_H
#define SUTRA_TORCH_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

/* Reads a torch.save file. SUTRA_ERR_IO when it cannot be read, SUTRA_ERR_UNSUPPORTED for what is
 * well-formed but not a plain state dict (a global or opcode outside the list, big-endian data,
 * the legacy format, a TorchScript archive), SUTRA_ERR_FORMAT for everything malformed; the
 * message names the file and what is at fault. */
sutra_status sutra_torch_open(const char *path, sutra_st_file **out, char *err, size_t errcap);

/* The same over a file image in memory ("<buffer>" in messages); buf is only read during the call. */
sutra_status sutra_torch_parse(const uint8_t *buf, size_t len, sutra_st_file **out, char *err, size_t errcap);

/* Where the storages a pickle names come from. size gives the byte length of storage key (declared:
 * the bytes the pickle declares for it, which a source with no sizes of its own may answer with);
 * read copies len bytes of it from byte off, a range inside that length. Each returns SUTRA_OK or
 * an error with its message. */
typedef struct sutra_torch_storages {
    void *ctx;
    sutra_status (*size)(void *ctx, const char *key, uint64_t declared, uint64_t *nbytes, char *err, size_t errcap);
    sutra_status (*read)(void *ctx, const char *key, uint64_t off, void *dst, size_t len, char *err, size_t errcap);
} sutra_torch_storages;

/* The pickle of a checkpoint (data.pkl, len bytes) with its storages from src: the tensors copied
 * into a file object, at most max_bytes of them (views of one storage are copied apart, so a
 * hostile pickle could otherwise ask for far more memory than its archive holds). what names the
 * pickle in messages. Internal: sutra_torch_open uses it, and the fuzz harness calls it directly. */
sutra_status sutra_torch_parse_pickle(const uint8_t *pkl, size_t len, const sutra_torch_storages *src,
                                      uint64_t max_bytes, const char *what, sutra_st_file **out, char *err,
                                      size_t errcap);

#endif /* SUTRA_TORCH_CKPT_H */
