/*
 * Transport MACs over OpenSSL 3 EVP_MAC (HMAC).
 *
 * IMPLEMENTATION NOTES
 * The HMAC context is keyed once; per packet EVP_MAC_init() is called with
 * a NULL key, which in OpenSSL 3 restarts HMAC from the stored inner and
 * outer pads without hashing the key again and without allocating.
 */
#include "ssh/transport/mac.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/buf.h"
#include "common/mem.h"

/* key_len, mac_len, etm, legacy, digest */
static const lsh_mac_info macs[] = {
    /* RFC 6668 §2: the key length equals the digest length. */
    {"hmac-sha2-256-etm@openssh.com", 32, 32, true, false, "SHA2-256"},
    {"hmac-sha2-512-etm@openssh.com", 64, 64, true, false, "SHA2-512"},
    {"hmac-sha2-256", 32, 32, false, false, "SHA2-256"},
    {"hmac-sha2-512", 64, 64, false, false, "SHA2-512"},
    /* RFC 4253 §6.4: hmac-sha1, 20-byte key and digest. */
    {"hmac-sha1-etm@openssh.com", 20, 20, true, true, "SHA1"},
    {"hmac-sha1", 20, 20, false, true, "SHA1"},
    /* RFC 4253 §6.4: "none", initial state; negotiable only in tests. */
    {"none", 0, 0, false, true, NULL},
};

#define NMACS (sizeof(macs) / sizeof(macs[0]))

const lsh_mac_info *
lsh__mac_lookup_any(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < NMACS; i++) {
        if (strcmp(macs[i].name, name) == 0) {
            return &macs[i];
        }
    }
    return NULL;
}

const lsh_mac_info *
lsh_mac_lookup(const char *name)
{
    const lsh_mac_info *info = lsh__mac_lookup_any(name);
#ifndef LSH_TESTING
    if (info != NULL && info->digest == NULL) {
        return NULL;
    }
#endif
    return info;
}

void
lsh_mac_free(lsh_mac_ctx *m)
{
    EVP_MAC_CTX_free(m->evp);
    lsh_memzero(m, sizeof(*m));
}

int
lsh_mac_init(lsh_mac_ctx *m, const lsh_mac_info *info, const uint8_t *key)
{
    OSSL_PARAM params[2];
    EVP_MAC *mac;

    memset(m, 0, sizeof(*m));
    if (info == NULL || (info->key_len > 0 && key == NULL)) {
        return LSH_EINVAL;
    }
    m->info = info;
    if (info->digest == NULL) {
        return 0;
    }
    if ((mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
        lsh_mac_free(m);
        return LSH_ECRYPTO;
    }
    m->evp = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (m->evp == NULL) {
        lsh_mac_free(m);
        return LSH_ENOMEM;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)info->digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(m->evp, key, info->key_len, params) ||
        EVP_MAC_CTX_get_mac_size(m->evp) != info->mac_len) {
        lsh_mac_free(m);
        return LSH_ECRYPTO;
    }
    return 0;
}

/* MAC(key, seqnr || a[0..na) || b[0..nb)) into out (RFC 4253 §6.4). */
static int
mac_run(lsh_mac_ctx *m, uint32_t seqnr, const uint8_t *a, size_t na,
        const uint8_t *b, size_t nb, uint8_t *out)
{
    uint8_t seq[4];
    size_t outl = 0;

    lsh_poke_u32(seq, seqnr);
    if (!EVP_MAC_init(m->evp, NULL, 0, NULL) ||
        !EVP_MAC_update(m->evp, seq, sizeof(seq)) ||
        (na > 0 && !EVP_MAC_update(m->evp, a, na)) ||
        (nb > 0 && !EVP_MAC_update(m->evp, b, nb)) ||
        !EVP_MAC_final(m->evp, out, &outl, m->info->mac_len) ||
        outl != m->info->mac_len) {
        return LSH_ECRYPTO;
    }
    return 0;
}

int
lsh_mac_compute(lsh_mac_ctx *m, uint32_t seqnr, const uint8_t *data,
                size_t n, uint8_t *out)
{
    if (m->info == NULL || m->info->digest == NULL) {
        return 0;
    }
    /* RFC 4253 §6.4: mac = MAC(key, sequence_number || packet). */
    return mac_run(m, seqnr, data, n, NULL, 0, out);
}

int
lsh_mac_verify(lsh_mac_ctx *m, uint32_t seqnr, const uint8_t *data,
               size_t n, const uint8_t *expected)
{
    return lsh_mac_verify2(m, seqnr, data, n, NULL, 0, expected);
}

int
lsh_mac_verify2(lsh_mac_ctx *m, uint32_t seqnr, const uint8_t *a, size_t na,
                const uint8_t *b, size_t nb, const uint8_t *expected)
{
    uint8_t want[LSH_MAC_MAX_LEN];
    int r;

    if (m->info == NULL || m->info->digest == NULL) {
        return 0;
    }
    if ((r = mac_run(m, seqnr, a, na, b, nb, want)) != 0) {
        return r;
    }
    r = CRYPTO_memcmp(want, expected, m->info->mac_len) == 0 ? 0 : LSH_EBADMAC;
    lsh_memzero(want, sizeof(want));
    return r;
}
