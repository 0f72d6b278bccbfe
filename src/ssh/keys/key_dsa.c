/*
 * ssh-dss keys (RFC 4253 §6.6), kept read-only for legacy peers: blobs
 * parse and signatures verify, nothing is generated or signed.
 *
 *   blob:      string "ssh-dss", mpint p, mpint q, mpint g, mpint y
 *   signature: string "ssh-dss", string dss_signature_blob
 *
 * The signature blob is r and s, each an unsigned 160-bit integer in
 * network byte order, 40 bytes in all; the digest is SHA-1 (FIPS 186-2).
 * That fixes q at 160 bits.  p may be 1024..3072 bits.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "ssh/keys/key_impl.h"

#define DSA_QBYTES 20

/* Builds and checks the OpenSSL key from the four magnitudes. */
static int
dsa_build(const uint8_t *const mag[4], const size_t len[4], EVP_PKEY **out)
{
    static const char *const names[4] = {
        OSSL_PKEY_PARAM_FFC_P, OSSL_PKEY_PARAM_FFC_Q, OSSL_PKEY_PARAM_FFC_G,
        OSSL_PKEY_PARAM_PUB_KEY};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *bn[4] = {NULL, NULL, NULL, NULL};
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    int r = LSH_ENOMEM;

    if (bld == NULL) {
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        if ((bn[i] = BN_bin2bn(mag[i], (int)len[i], NULL)) == NULL ||
            OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) != 1) {
            goto out;
        }
    }
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        goto out;
    }
    if ((r = lsh__pkey_fromdata("DSA", params, &pk)) != 0) {
        goto out;
    }
    /* 1 < y < p - 1 and y^q = 1 mod p (SP 800-89 §5.3.2 style). */
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (EVP_PKEY_public_check(ctx) != 1) {
        r = LSH_EBADKEY;
        goto out;
    }
    *out = pk;
    pk = NULL;
    r = 0;
out:
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 4; i++) {
        BN_free(bn[i]);
    }
    return r;
}

static int
dsa_parse(lsh_key *k, lsh_rd *rd)
{
    const uint8_t *mag[4];
    size_t len[4];
    unsigned pbits;
    int r;

    for (int i = 0; i < 4; i++) {
        if ((r = lsh_rd_mpint_unsigned(rd, LSH_RD_DEFAULT_MAX, &mag[i],
                                       &len[i])) != 0) {
            return r;
        }
    }
    pbits = lsh__mag_bits(mag[0], len[0]);
    if (pbits < 1024 || pbits > 3072 ||
        lsh__mag_bits(mag[1], len[1]) != DSA_QBYTES * 8) {
        return LSH_EKEYSIZE;
    }
    if (len[2] == 0 || len[3] == 0) {
        return LSH_EBADKEY;
    }
    return dsa_build(mag, len, &k->pk);
}

static int
dsa_put(const lsh_key *k, lsh_buf *out)
{
    static const char *const names[4] = {
        OSSL_PKEY_PARAM_FFC_P, OSSL_PKEY_PARAM_FFC_Q, OSSL_PKEY_PARAM_FFC_G,
        OSSL_PKEY_PARAM_PUB_KEY};
    int r;

    for (int i = 0; i < 4; i++) {
        if ((r = lsh__put_bn_param(out, k->pk, names[i])) != 0) {
            return r;
        }
    }
    return 0;
}

static int
dsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    (void)ops;
    return EVP_PKEY_is_a(pk, "DSA") ? 0 : LSH_EKEYTYPE;
}

/* r || s (20 bytes each) to DER Dss-Sig-Value for OpenSSL. */
static int
dsa_sig_der(const uint8_t *raw, uint8_t **der, size_t *derlen)
{
    BIGNUM *br = BN_bin2bn(raw, DSA_QBYTES, NULL);
    BIGNUM *bs = BN_bin2bn(raw + DSA_QBYTES, DSA_QBYTES, NULL);
    DSA_SIG *sig = DSA_SIG_new();
    uint8_t *buf = NULL, *p;
    int len, r = LSH_ENOMEM;

    if (br == NULL || bs == NULL || sig == NULL ||
        DSA_SIG_set0(sig, br, bs) != 1) {
        goto out;
    }
    br = bs = NULL; /* owned by sig now */
    r = LSH_ECRYPTO;
    if ((len = i2d_DSA_SIG(sig, NULL)) <= 0) {
        goto out;
    }
    if ((buf = malloc((size_t)len)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    p = buf;
    if (i2d_DSA_SIG(sig, &p) != len) {
        goto out;
    }
    *der = buf;
    *derlen = (size_t)len;
    buf = NULL;
    r = 0;
out:
    free(buf);
    DSA_SIG_free(sig);
    BN_free(br);
    BN_free(bs);
    return r;
}

static int
dsa_verify(const lsh_key *k, const struct lsh__sigalg *alg, lsh_rd *rd,
           const uint8_t *data, size_t n, lsh_key_sig_info *info)
{
    const uint8_t *raw;
    size_t rawlen;
    uint8_t *der = NULL;
    size_t derlen = 0;
    int r;

    (void)info;
    if ((r = lsh_rd_string(rd, &raw, &rawlen)) != 0 ||
        (r = lsh_rd_end(rd)) != 0) {
        return r;
    }
    if (rawlen != 2 * DSA_QBYTES) {
        return LSH_EBADSIG;
    }
    if ((r = dsa_sig_der(raw, &der, &derlen)) != 0) {
        return r;
    }
    r = lsh__pkey_verify(k->pk, alg->md, der, derlen, data, n);
    free(der);
    return r;
}

static const struct lsh__sigalg dsa_sigalgs[] = {
    {"ssh-dss", "SHA1"},
    {NULL, NULL},
};
static const char *const dsa_names[] = {"ssh-dss", NULL};

const struct lsh__key_ops lsh__key_ops_dsa = {
    .type = LSH_KEY_DSA,
    .name = "ssh-dss",
    .sigalgs = dsa_sigalgs,
    .sigalg_names = dsa_names,
    .fixed_bits = 0,
    .param = NULL,
    .generate = NULL,
    .parse = dsa_parse,
    .put = dsa_put,
    .match = dsa_match,
    .sign = NULL,
    .verify = dsa_verify,
};
