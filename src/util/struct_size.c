/*
 * struct_size.c - the caller's and the library's versions of a struct that grows, exchanged up to
 * the bytes both know (see struct_size.h).
 */
#include "util/struct_size.h"

#include <string.h>

#include "util/common.h"

sutra_status sutra_struct_read(void *own, size_t own_size, const void *caller, size_t min_size, const char *name,
                               char *err, size_t errcap) {
    size_t size;
    memcpy(&size, caller, sizeof size);
    if (size < min_size)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "%s.struct_size is %zu, below the %zu bytes of its first version: set it with %s_init()",
                          name, size, min_size, name);
    const unsigned char *bytes = caller;
    for (size_t i = own_size; i < size; i++)
        if (bytes[i])
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                              "%s has %zu bytes and sets byte %zu, beyond the %zu this library (%s) knows: "
                              "a field of a newer sutra.h",
                              name, size, i, own_size, sutra_version());
    memcpy(own, caller, size < own_size ? size : own_size);
    memcpy(own, &own_size, sizeof own_size);
    return SUTRA_OK;
}

void sutra_struct_write(void *caller, size_t caller_size, const void *own, size_t own_size) {
    memcpy(caller, own, caller_size < own_size ? caller_size : own_size);
    if (caller_size > own_size) memset((unsigned char *)caller + own_size, 0, caller_size - own_size);
}
