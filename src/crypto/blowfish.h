/*
 * Blowfish (B. Schneier, "Description of a New Variable-Length Key, 64-Bit
 * Block Cipher (Blowfish)", Fast Software Encryption, 1993) and the
 * Eksblowfish key-schedule steps of N. Provos and D. Mazieres, "A
 * Future-Adaptable Password Scheme", USENIX 1999.
 *
 * OpenSSL 3.0 only offers Blowfish through the legacy provider and does not
 * expose the key-schedule steps bcrypt needs, so both live here.  The only
 * user inside luassh is bcrypt_pbkdf (crypto/bcrypt_pbkdf.h); plain
 * Blowfish keying and ECB are kept to test the cipher against published
 * vectors.
 *
 * A context holds key-dependent tables: clear it with lsh_blowfish_clear()
 * when done.  Contexts are plain values (no allocation) and may be copied.
 */
#ifndef LSH_CRYPTO_BLOWFISH_H
#define LSH_CRYPTO_BLOWFISH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define LSH_BLOWFISH_ROUNDS 16
#define LSH_BLOWFISH_PWORDS (LSH_BLOWFISH_ROUNDS + 2)
#define LSH_BLOWFISH_BLOCK 8
/* Longest key that still influences every P word (18 words of 4 bytes). */
#define LSH_BLOWFISH_MAXKEY (4 * LSH_BLOWFISH_PWORDS)

typedef struct lsh_blowfish_ctx {
    uint32_t s[4][256];
    uint32_t p[LSH_BLOWFISH_PWORDS];
} lsh_blowfish_ctx;

/* Loads the initial state: P-array and S-boxes from the digits of pi. */
void lsh_blowfish_init_state(lsh_blowfish_ctx *ctx);

/*
 * Eksblowfish ExpandKey(state, 0, key): XORs the key, read as a cyclic
 * stream of big-endian 32-bit words, into the P-array, then replaces P and
 * S pairwise with the successive encryptions of a zero-initialised block.
 * An empty key (keylen 0) acts as a stream of zero words.
 */
void lsh_blowfish_expand0(lsh_blowfish_ctx *ctx, const uint8_t *key,
                          size_t keylen);

/*
 * Eksblowfish ExpandKey(state, data, key): as lsh_blowfish_expand0, but
 * before each encryption the block is XORed with the next two words of the
 * cyclic big-endian word stream of data (the salt in the bcrypt paper).
 * The data stream runs on from the P-array into the S-boxes.  An empty
 * data or key acts as a stream of zero words.
 */
void lsh_blowfish_expand(lsh_blowfish_ctx *ctx, const uint8_t *data,
                         size_t datalen, const uint8_t *key, size_t keylen);

/* Encrypts / decrypts one block held as two 32-bit halves, in place. */
void lsh_blowfish_encrypt_block(const lsh_blowfish_ctx *ctx, uint32_t *l,
                                uint32_t *r);
void lsh_blowfish_decrypt_block(const lsh_blowfish_ctx *ctx, uint32_t *l,
                                uint32_t *r);

/*
 * Plain Blowfish key schedule: init_state followed by expand0(key).
 * Returns 0, or LSH_EINVAL when len is 0 or above LSH_BLOWFISH_MAXKEY
 * (the context is then left untouched).
 */
LSH_MUST_CHECK int lsh_blowfish_setkey(lsh_blowfish_ctx *ctx,
                                       const uint8_t *key, size_t len);

/*
 * ECB over len bytes; blocks are big-endian (the 8 bytes b0..b7 make
 * l = b0..b3, r = b4..b7).  in and out may be the same buffer.  Returns 0,
 * or LSH_EINVAL when len is not a multiple of LSH_BLOWFISH_BLOCK (nothing
 * is written).
 */
LSH_MUST_CHECK int lsh_blowfish_ecb_encrypt(const lsh_blowfish_ctx *ctx,
                                            const uint8_t *in, uint8_t *out,
                                            size_t len);
LSH_MUST_CHECK int lsh_blowfish_ecb_decrypt(const lsh_blowfish_ctx *ctx,
                                            const uint8_t *in, uint8_t *out,
                                            size_t len);

/* Zeroes the key-dependent tables. */
void lsh_blowfish_clear(lsh_blowfish_ctx *ctx);

#endif
