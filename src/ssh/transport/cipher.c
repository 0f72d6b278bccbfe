/*
 * Transport ciphers over OpenSSL 3 EVP.
 *
 * IMPLEMENTATION NOTES
 * chacha20-poly1305@openssh.com (PROTOCOL.chacha20poly1305) uses the
 * original ChaCha20 layout: a 64-bit block counter and a 64-bit nonce (the
 * sequence number as a big-endian uint64).  OpenSSL's EVP_chacha20 takes a
 * 16-byte IV that fills state words 12..15 little-endian: word 12 is the
 * counter and words 13..15 the "nonce".  Putting a zero in IV bytes 4..7
 * (the counter's high word) and the 8 sequence-number bytes in IV bytes
 * 8..15 therefore gives exactly the 64/64 layout.  The Poly1305 key is the
 * first 32 bytes of K_2's block 0; we run K_2 over one full 64-byte block
 * of zeros so that its stream then stands at block 1, where the payload
 * starts, without re-setting the IV.
 *
 * aes*-gcm@openssh.com (RFC 5647 §7.1): the 12-byte nonce is a 4-byte fixed
 * field and an 8-byte big-endian invocation counter, incremented after
 * every packet.  We keep the nonce here and re-set only it per packet.
 */
#include "ssh/transport/cipher.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/mem.h"

typedef struct cipher_entry {
    lsh_cipher_info info;             /* first: entries are found from it */
    const EVP_CIPHER *(*evp)(void);   /* NULL for none and chacha-poly */
} cipher_entry;

/* key_len, iv_len, block_size, tag_len, aead, legacy, kind */
static const cipher_entry ciphers[] = {
    /* PROTOCOL.chacha20poly1305: 512 bits of key, no IV, 8-byte padding. */
    {{"chacha20-poly1305@openssh.com", 64, 0, 8, 16, true, false,
      LSH_CIPHER_CHACHAPOLY}, NULL},
    /* RFC 5647 §6, draft-miller-sshm-aes-gcm §2 (also its plain names). */
    {{"aes128-gcm@openssh.com", 16, 12, 16, 16, true, false, LSH_CIPHER_GCM},
     EVP_aes_128_gcm},
    {{"aes256-gcm@openssh.com", 32, 12, 16, 16, true, false, LSH_CIPHER_GCM},
     EVP_aes_256_gcm},
    {{"aes128-gcm", 16, 12, 16, 16, true, false, LSH_CIPHER_GCM},
     EVP_aes_128_gcm},
    {{"aes256-gcm", 32, 12, 16, 16, true, false, LSH_CIPHER_GCM},
     EVP_aes_256_gcm},
    /* RFC 4344 §4: the IV is the initial counter value. */
    {{"aes128-ctr", 16, 16, 16, 0, false, false, LSH_CIPHER_STREAM},
     EVP_aes_128_ctr},
    {{"aes192-ctr", 24, 16, 16, 0, false, false, LSH_CIPHER_STREAM},
     EVP_aes_192_ctr},
    {{"aes256-ctr", 32, 16, 16, 0, false, false, LSH_CIPHER_STREAM},
     EVP_aes_256_ctr},
    /* RFC 4253 §6.3: CBC with outer chaining across packets. */
    {{"aes128-cbc", 16, 16, 16, 0, false, true, LSH_CIPHER_STREAM},
     EVP_aes_128_cbc},
    {{"aes192-cbc", 24, 16, 16, 0, false, true, LSH_CIPHER_STREAM},
     EVP_aes_192_cbc},
    {{"aes256-cbc", 32, 16, 16, 0, false, true, LSH_CIPHER_STREAM},
     EVP_aes_256_cbc},
    {{"3des-cbc", 24, 8, 8, 0, false, true, LSH_CIPHER_STREAM},
     EVP_des_ede3_cbc},
    /* RFC 4253 §6.3: "none", initial state; negotiable only in tests. */
    {{"none", 0, 0, 8, 0, false, true, LSH_CIPHER_NONE}, NULL},
};

#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

const lsh_cipher_info *
lsh__cipher_lookup_any(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < NCIPHERS; i++) {
        if (strcmp(ciphers[i].info.name, name) == 0) {
            return &ciphers[i].info;
        }
    }
    return NULL;
}

const lsh_cipher_info *
lsh__cipher_none(void)
{
    for (size_t i = 0; i < NCIPHERS; i++) {
        if (ciphers[i].info.kind == LSH_CIPHER_NONE) {
            return &ciphers[i].info;
        }
    }
    return NULL;
}

const lsh_cipher_info *
lsh_cipher_lookup(const char *name)
{
    const lsh_cipher_info *info = lsh__cipher_lookup_any(name);
#ifndef LSH_TESTING
    if (info != NULL && info->kind == LSH_CIPHER_NONE) {
        return NULL;
    }
#endif
    return info;
}

static const cipher_entry *
entry_of(const lsh_cipher_info *info)
{
    return (const cipher_entry *)(const void *)info;
}

void
lsh_cipher_free(lsh_cipher_ctx *c)
{
    EVP_CIPHER_CTX_free(c->evp);
    EVP_CIPHER_CTX_free(c->evp2);
    EVP_MAC_CTX_free(c->poly);
    lsh_memzero(c, sizeof(*c));
}

static int
init_chachapoly(lsh_cipher_ctx *c, const uint8_t *key)
{
    static const uint8_t zero_iv[16];
    EVP_MAC *mac;

    /* PROTOCOL.chacha20poly1305: the first 256 bits are K_2, then K_1. */
    if ((c->evp = EVP_CIPHER_CTX_new()) == NULL ||
        (c->evp2 = EVP_CIPHER_CTX_new()) == NULL) {
        return LSH_ENOMEM;
    }
    if (!EVP_CipherInit_ex(c->evp, EVP_chacha20(), NULL, key, zero_iv, 1) ||
        !EVP_CipherInit_ex(c->evp2, EVP_chacha20(), NULL, key + 32, zero_iv,
                           1)) {
        return LSH_ECRYPTO;
    }
    if ((mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_POLY1305, NULL)) == NULL) {
        return LSH_ECRYPTO;
    }
    c->poly = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    return c->poly == NULL ? LSH_ENOMEM : 0;
}

static int
init_evp(lsh_cipher_ctx *c, const cipher_entry *e, const uint8_t *key,
         const uint8_t *iv)
{
    const uint8_t *init_iv = e->info.kind == LSH_CIPHER_GCM ? NULL : iv;

    if ((c->evp = EVP_CIPHER_CTX_new()) == NULL) {
        return LSH_ENOMEM;
    }
    if (!EVP_CipherInit_ex(c->evp, e->evp(), NULL, key, init_iv,
                           c->encrypt)) {
        return LSH_ECRYPTO;
    }
    if ((unsigned)EVP_CIPHER_CTX_get_key_length(c->evp) != e->info.key_len) {
        return LSH_ECRYPTO;
    }
    /* SSH pads itself; EVP must neither add nor strip a block. */
    if (!EVP_CIPHER_CTX_set_padding(c->evp, 0)) {
        return LSH_ECRYPTO;
    }
    if (e->info.kind == LSH_CIPHER_GCM) {
        memcpy(c->nonce, iv, sizeof(c->nonce));
    }
    return 0;
}

int
lsh_cipher_init(lsh_cipher_ctx *c, const lsh_cipher_info *info, int encrypt,
                const uint8_t *key, const uint8_t *iv)
{
    int r = 0;

    memset(c, 0, sizeof(*c));
    if (info == NULL) {
        return LSH_EINVAL;
    }
    c->info = info;
    c->encrypt = encrypt ? 1 : 0;
    if ((info->key_len > 0 && key == NULL) ||
        (info->iv_len > 0 && iv == NULL)) {
        r = LSH_EINVAL;
    } else if (info->kind == LSH_CIPHER_CHACHAPOLY) {
        r = init_chachapoly(c, key);
    } else if (info->kind != LSH_CIPHER_NONE) {
        r = init_evp(c, entry_of(info), key, iv);
    }
    if (r != 0) {
        lsh_cipher_free(c);
    }
    return r;
}

int
lsh_cipher_crypt(lsh_cipher_ctx *c, uint8_t *buf, size_t n)
{
    return lsh_cipher_crypt_to(c, buf, buf, n);
}

int
lsh_cipher_crypt_to(lsh_cipher_ctx *c, const uint8_t *in, uint8_t *out,
                    size_t n)
{
    int outl = 0;

    if (c->info == NULL || c->info->kind == LSH_CIPHER_NONE || n == 0) {
        if (n > 0 && out != in) {
            memmove(out, in, n);
        }
        return 0;
    }
    if (c->info->kind != LSH_CIPHER_STREAM || n > INT_MAX ||
        n % c->info->block_size != 0) {
        return LSH_EINVAL;
    }
    if (!EVP_CipherUpdate(c->evp, out, &outl, in, (int)n) ||
        (size_t)outl != n) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/* RFC 5647 §7.1: the invocation counter is a 64-bit big-endian integer. */
static void
gcm_next_nonce(lsh_cipher_ctx *c)
{
    for (int i = 11; i >= 4; i--) {
        if (++c->nonce[i] != 0) {
            break;
        }
    }
}

/*
 * One AES-GCM invocation over a packet: AAD is the 4-byte length `aad`,
 * and the n bytes at `in` are transformed into `out` (which may be `in`).
 * The nonce advances whatever the outcome.
 */
static int
gcm_run(lsh_cipher_ctx *c, const uint8_t aad[4], const uint8_t *in,
        uint8_t *out, size_t n, uint8_t *tag, int seal)
{
    uint8_t scratch[16];
    int outl = 0, ok;

    ok = EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, c->nonce, -1) &&
         EVP_CipherUpdate(c->evp, NULL, &outl, aad, 4) &&
         (n == 0 || EVP_CipherUpdate(c->evp, out, &outl, in, (int)n)) &&
         (seal || EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, 16, tag));
    gcm_next_nonce(c);
    if (!ok) {
        return LSH_ECRYPTO;
    }
    if (EVP_CipherFinal_ex(c->evp, scratch, &outl) <= 0) {
        return seal ? LSH_ECRYPTO : LSH_EBADMAC;
    }
    if (seal && !EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, 16, tag)) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/* The chacha IV for counter 0 and nonce = seqnr (see the notes above). */
static void
chacha_iv(uint8_t iv[16], uint32_t seqnr)
{
    memset(iv, 0, 12);
    iv[12] = (uint8_t)(seqnr >> 24);
    iv[13] = (uint8_t)(seqnr >> 16);
    iv[14] = (uint8_t)(seqnr >> 8);
    iv[15] = (uint8_t)seqnr;
}

/*
 * Runs ChaCha20 with key k over n bytes from `in` into `out` (which may be
 * `in`), starting at block 0 of nonce seqnr when `restart` is set and
 * continuing the stream otherwise.  For K_2, a call over a 64-byte block
 * yields the Poly1305 key and leaves the stream at block 1.
 */
static int
chacha_xor(EVP_CIPHER_CTX *k, uint32_t seqnr, int restart, const uint8_t *in,
           uint8_t *out, size_t n)
{
    uint8_t iv[16];
    int outl = 0;

    chacha_iv(iv, seqnr);
    if (restart && !EVP_CipherInit_ex(k, NULL, NULL, NULL, iv, -1)) {
        return LSH_ECRYPTO;
    }
    if (n > INT_MAX || !EVP_CipherUpdate(k, out, &outl, in, (int)n) ||
        (size_t)outl != n) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/*
 * Runs K_2 over block 0 of nonce seqnr: its first 32 bytes are the
 * Poly1305 key, and the K_2 stream is left at block 1 for the payload.
 */
static int
chacha_polykey(lsh_cipher_ctx *c, uint32_t seqnr, uint8_t block0[64])
{
    memset(block0, 0, 64);
    return chacha_xor(c->evp, seqnr, 1, block0, block0, 64);
}

static int
poly1305(lsh_cipher_ctx *c, const uint8_t key[32], const uint8_t *data,
         size_t n, uint8_t tag[16])
{
    size_t outl = 0;

    if (!EVP_MAC_init(c->poly, key, 32, NULL) ||
        !EVP_MAC_update(c->poly, data, n) ||
        !EVP_MAC_final(c->poly, tag, &outl, 16) || outl != 16) {
        return LSH_ECRYPTO;
    }
    return 0;
}

int
lsh_cipher_seal(lsh_cipher_ctx *c, uint32_t seqnr, uint8_t *pkt, size_t n,
                uint8_t *tag)
{
    uint8_t block0[64];
    int r;

    if (c->info == NULL || !c->info->aead || n < 4 || n > INT_MAX ||
        !c->encrypt) {
        return LSH_EINVAL;
    }
    if (c->info->kind == LSH_CIPHER_GCM) {
        return gcm_run(c, pkt, pkt + 4, pkt + 4, n - 4, tag, 1);
    }
    /* PROTOCOL.chacha20poly1305 "Packet Handling": the length with K_1,
     * the rest with K_2 from block 1, then Poly1305 over both. */
    if ((r = chacha_xor(c->evp2, seqnr, 1, pkt, pkt, 4)) == 0 &&
        (r = chacha_polykey(c, seqnr, block0)) == 0 &&
        (r = chacha_xor(c->evp, seqnr, 0, pkt + 4, pkt + 4, n - 4)) == 0) {
        r = poly1305(c, block0, pkt, n, tag);
    }
    lsh_memzero(block0, sizeof(block0));
    return r;
}

int
lsh_cipher_open(lsh_cipher_ctx *c, uint32_t seqnr, uint8_t *pkt, size_t n,
                const uint8_t *tag)
{
    if (n < 4) {
        return LSH_EINVAL;
    }
    return lsh_cipher_open_to(c, seqnr, pkt, n, tag, pkt + 4);
}

int
lsh_cipher_open_to(lsh_cipher_ctx *c, uint32_t seqnr, const uint8_t *pkt,
                   size_t n, const uint8_t *tag, uint8_t *out)
{
    uint8_t block0[64], want[16];
    int r;

    if (c->info == NULL || !c->info->aead || n < 4 || n > INT_MAX ||
        c->encrypt) {
        return LSH_EINVAL;
    }
    if (c->info->kind == LSH_CIPHER_GCM) {
        r = gcm_run(c, pkt, pkt + 4, out, n - 4, (uint8_t *)(uintptr_t)tag,
                    0);
        if (r != 0) {
            lsh_memzero(out, n - 4);
        }
        return r;
    }
    /* The MAC MUST be checked before decryption. */
    if ((r = chacha_polykey(c, seqnr, block0)) == 0 &&
        (r = poly1305(c, block0, pkt, n, want)) == 0) {
        if (CRYPTO_memcmp(want, tag, 16) != 0) {
            r = LSH_EBADMAC;
        } else {
            r = chacha_xor(c->evp, seqnr, 0, pkt + 4, out, n - 4);
        }
    }
    lsh_memzero(block0, sizeof(block0));
    return r;
}

int
lsh_cipher_peek_length(lsh_cipher_ctx *c, uint32_t seqnr, const uint8_t in[4],
                       uint32_t *len)
{
    uint8_t tmp[4];
    int r;

    if (c->info == NULL || !c->info->aead) {
        return LSH_EINVAL;
    }
    memcpy(tmp, in, 4);
    if (c->info->kind == LSH_CIPHER_CHACHAPOLY &&
        (r = chacha_xor(c->evp2, seqnr, 1, tmp, tmp, 4)) != 0) {
        return r;
    }
    *len = ((uint32_t)tmp[0] << 24) | ((uint32_t)tmp[1] << 16) |
           ((uint32_t)tmp[2] << 8) | (uint32_t)tmp[3];
    return 0;
}
