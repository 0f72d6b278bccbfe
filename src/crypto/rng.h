/*
 * The process's randomness for the protocol core: OpenSSL's RAND_bytes,
 * drawn 4 KiB at a time because a RAND_bytes call costs about as much as
 * encrypting a small packet (OpenSSL 3.0), and every packet needs padding.
 * Not thread-safe: one buffer per event-loop thread.
 */
#ifndef LSH_CRYPTO_RNG_H
#define LSH_CRYPTO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* lsh_config.rng-compatible: 0, or LSH_ECRYPTO when OpenSSL fails. */
int lsh_rng_fill(void *ctx, uint8_t *out, size_t n);

#endif
