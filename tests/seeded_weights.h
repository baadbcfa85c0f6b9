/*
 * seeded_weights.h - the weights of a test model drawn from a seeded generator instead of stored:
 * a fixture's weights.json lists every tensor (name, shape, centre, half-width), the seed and the
 * shard count, and this writes the model.safetensors (or the shards and
 * model.safetensors.index.json) that scripts/gen_qwen3_fixtures.py wrote when it computed the
 * reference outputs, bit for bit. Element i (row-major) of tensor `name`:
 *   key = splitmix64(fnv1a64(name) ^ seed); u = splitmix64(key + (i + 1) * 0x9E3779B97F4A7C15) >> 40
 *   value = (float)(centre + half_width * (2 * (u + 0.5) / 2^24 - 1))        in double arithmetic
 */
#ifndef SUTRA_TEST_SEEDED_WEIGHTS_H
#define SUTRA_TEST_SEEDED_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

/* Element i of the tensor whose key (from the name and seed) is key. */
float tu_seeded_value(uint64_t key, uint64_t i, double centre, double half_width);
uint64_t tu_seeded_key(const char *name, uint64_t seed);

/* Writes the weights weights_json describes into dir; shards overrides its shard count when > 0.
 * Returns 0, or -1 with a message in err. */
int tu_seeded_weights_write(const char *weights_json, const char *dir, int shards, char *err, size_t errcap);

#endif
