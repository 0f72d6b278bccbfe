/*
 * bcrypt_pbkdf (OpenBSD bcrypt_pbkdf(3), T. Unangst 2013), used by OpenSSH
 * for "bcrypt" in openssh-key-v1 private keys (PROTOCOL.key §2).
 *
 * IMPLEMENTATION NOTES
 *
 * The construction is PBKDF2 (RFC 8018 §5.2) with a custom PRF, plus an
 * output interleaving:
 *
 *   bhash(P, S): a 256-bit hash of two 64-byte inputs built from the
 *     Eksblowfish setup of the bcrypt paper with cost 6 (64 iterations):
 *       state = initial Blowfish state (pi)
 *       ExpandKey(state, S, P)
 *       repeat 64 times: ExpandKey(state, 0, S); ExpandKey(state, 0, P)
 *     Note the order: salt first, then password (the bcrypt paper's
 *     EksBlowfishSetup uses key first).  The 32-byte constant
 *     "OxychromaticBlowfishSwatDynamite" is read as eight big-endian
 *     32-bit words, four Blowfish blocks, and each block is encrypted 64
 *     times (ECB).  The eight resulting words are written out
 *     little-endian: this byte-order change is part of the definition.
 *
 *   PRF: for output block number n (1-based), the first iteration hashes
 *     bhash(SHA512(password), SHA512(salt || uint32-be n)); each further
 *     round hashes bhash(SHA512(password), SHA512(previous bhash output)),
 *     and the block is the XOR of the rounds outputs (as PBKDF2's F).
 *
 *   Interleaving: with stride = ceil(keylen / 32), block n (0-based b =
 *     n - 1) supplies key bytes b, b + stride, b + 2 * stride, ...: byte i
 *     of block b lands at i * stride + b while that is below keylen.
 *     Exactly stride blocks are computed.  Because every block feeds
 *     bytes spread over the whole key, an attacker cannot check a guess
 *     against a prefix of the key with less than the full work.
 *
 * These details were taken from the bcrypt_pbkdf(3) description and checked
 * against python3-bcrypt and ssh-keygen (spec/c/test_bcrypt_pbkdf.c).
 */
#include "crypto/bcrypt_pbkdf.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/mem.h"
#include "crypto/blowfish.h"

#define BHASH_WORDS 8
#define BHASH_BYTES (4 * BHASH_WORDS)
#define BHASH_COST_ITER 64
#define SHA512_BYTES 64

static const char bhash_magic[BHASH_BYTES + 1] =
    "OxychromaticBlowfishSwatDynamite";

/* Every secret intermediate lives here, so one lsh_memzero clears them. */
typedef struct scratch {
    lsh_blowfish_ctx bf;
    uint8_t sha2pass[SHA512_BYTES];
    uint8_t sha2salt[SHA512_BYTES];
    uint8_t hash[BHASH_BYTES];
    uint8_t block[BHASH_BYTES];
    uint32_t cdata[BHASH_WORDS];
    uint8_t out[LSH_BCRYPT_PBKDF_MAXKEY];
} scratch;

/* bhash(sha2pass, sha2salt) into st->hash; see IMPLEMENTATION NOTES. */
static void
bhash(scratch *st)
{
    const uint8_t *m = (const uint8_t *)bhash_magic;

    lsh_blowfish_init_state(&st->bf);
    lsh_blowfish_expand(&st->bf, st->sha2salt, SHA512_BYTES, st->sha2pass,
                        SHA512_BYTES);
    for (int i = 0; i < BHASH_COST_ITER; i++) {
        lsh_blowfish_expand0(&st->bf, st->sha2salt, SHA512_BYTES);
        lsh_blowfish_expand0(&st->bf, st->sha2pass, SHA512_BYTES);
    }

    for (int i = 0; i < BHASH_WORDS; i++) {
        st->cdata[i] = (uint32_t)m[4 * i] << 24 |
                       (uint32_t)m[4 * i + 1] << 16 |
                       (uint32_t)m[4 * i + 2] << 8 | (uint32_t)m[4 * i + 3];
    }
    for (int i = 0; i < BHASH_WORDS; i += 2) {
        for (int k = 0; k < BHASH_COST_ITER; k++) {
            lsh_blowfish_encrypt_block(&st->bf, &st->cdata[i],
                                       &st->cdata[i + 1]);
        }
    }
    for (int i = 0; i < BHASH_WORDS; i++) {
        st->hash[4 * i] = (uint8_t)st->cdata[i];
        st->hash[4 * i + 1] = (uint8_t)(st->cdata[i] >> 8);
        st->hash[4 * i + 2] = (uint8_t)(st->cdata[i] >> 16);
        st->hash[4 * i + 3] = (uint8_t)(st->cdata[i] >> 24);
    }
}

/* out = SHA512(a || b); either part may be empty. */
static int
sha512_2(EVP_MD_CTX *md, const void *a, size_t alen, const void *b,
         size_t blen, uint8_t out[SHA512_BYTES])
{
    unsigned int n = 0;

    if (EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 ||
        (alen > 0 && EVP_DigestUpdate(md, a, alen) != 1) ||
        (blen > 0 && EVP_DigestUpdate(md, b, blen) != 1) ||
        EVP_DigestFinal_ex(md, out, &n) != 1 || n != SHA512_BYTES) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/* PBKDF2's F for block number n (1-based) into st->block. */
static int
prf_block(EVP_MD_CTX *md, scratch *st, const uint8_t *salt, size_t saltlen,
          uint32_t n, unsigned rounds)
{
    uint8_t count[4] = {
        (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
    };
    int r;

    if ((r = sha512_2(md, salt, saltlen, count, sizeof(count),
                      st->sha2salt)) != 0) {
        return r;
    }
    bhash(st);
    memcpy(st->block, st->hash, BHASH_BYTES);
    for (unsigned k = 1; k < rounds; k++) {
        if ((r = sha512_2(md, st->hash, BHASH_BYTES, NULL, 0,
                          st->sha2salt)) != 0) {
            return r;
        }
        bhash(st);
        for (int i = 0; i < BHASH_BYTES; i++) {
            st->block[i] ^= st->hash[i];
        }
    }
    return 0;
}

int
lsh_bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt,
                 size_t saltlen, uint8_t *key, size_t keylen, unsigned rounds)
{
    EVP_MD_CTX *md = NULL;
    scratch st;
    size_t stride;
    int r;

    if (rounds < 1 || keylen == 0 || keylen > LSH_BCRYPT_PBKDF_MAXKEY ||
        saltlen == 0 || saltlen > LSH_BCRYPT_PBKDF_MAXSALT ||
        salt == NULL || key == NULL || (pass == NULL && passlen > 0)) {
        return LSH_EINVAL;
    }
    if ((md = EVP_MD_CTX_new()) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if ((r = sha512_2(md, pass, passlen, NULL, 0, st.sha2pass)) != 0) {
        goto out;
    }

    /* stride <= 32, so the block number fits the 32-bit counter. */
    stride = (keylen + BHASH_BYTES - 1) / BHASH_BYTES;
    for (size_t b = 0; b < stride; b++) {
        if ((r = prf_block(md, &st, salt, saltlen, (uint32_t)(b + 1),
                           rounds)) != 0) {
            goto out;
        }
        for (size_t i = 0; i < BHASH_BYTES && i * stride + b < keylen; i++) {
            st.out[i * stride + b] = st.block[i];
        }
    }
    memcpy(key, st.out, keylen);
    r = 0;

out:
    if (r != 0) {
        lsh_memzero(key, keylen);
    }
    EVP_MD_CTX_free(md);
    lsh_memzero(&st, sizeof(st));
    return r;
}
