/*
 * ssh-rsa keys (RFC 4253 §6.6) and their three signature algorithms.
 *
 *   blob:      string "ssh-rsa", mpint e, mpint n
 *   signature: string "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa",
 *              string rsa_signature_blob (RSASSA-PKCS1-v1_5, RFC 8332 §3)
 *
 * Digests: rsa-sha2-512 SHA-512, rsa-sha2-256 SHA-256, ssh-rsa SHA-1.
 * RFC 8332 §3 says the signature blob is as long as the modulus; OpenSSH
 * also accepts shorter ones (leading zero bytes dropped by some signers)
 * and left-pads them, so do we.  Moduli outside
 * LSH_KEY_RSA_MIN_BITS..MAX_BITS are refused with LSH_EKEYSIZE.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/mem.h"
#include "ssh/keys/key_impl.h"

static int
bits_ok(unsigned bits)
{
    return bits >= LSH_KEY_RSA_MIN_BITS && bits <= LSH_KEY_RSA_MAX_BITS;
}

static int
rsa_generate(const struct lsh__key_ops *ops, unsigned bits, EVP_PKEY **out)
{
    EVP_PKEY *pk;

    (void)ops;
    if (bits == 0) {
        bits = LSH_KEY_RSA_DEFAULT_BITS;
    }
    if (!bits_ok(bits)) {
        return LSH_EKEYSIZE;
    }
    if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)) == NULL) {
        return LSH_ECRYPTO;
    }
    *out = pk;
    return 0;
}

/* Builds the OpenSSL public key from the magnitudes of n and e. */
static int
rsa_build(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
          EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    int r = LSH_ENOMEM;

    if (bld == NULL || (bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
        (be = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        goto out;
    }
    r = lsh__pkey_fromdata("RSA", params, out);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return r;
}

/* RFC 4253 §6.6: mpint e, mpint n. */
static int
rsa_parse(lsh_key *k, lsh_rd *rd)
{
    const uint8_t *e, *n;
    size_t elen, nlen;
    int r;

    if ((r = lsh_rd_mpint_unsigned(rd, LSH_RD_DEFAULT_MAX, &e, &elen)) !=
            0 ||
        (r = lsh_rd_mpint_unsigned(rd, LSH_RD_DEFAULT_MAX, &n, &nlen)) != 0) {
        return r;
    }
    if (!bits_ok(lsh__mag_bits(n, nlen))) {
        return LSH_EKEYSIZE;
    }
    /* n odd; e odd, greater than 1 and not longer than n. */
    if (!(n[nlen - 1] & 1) || elen == 0 || !(e[elen - 1] & 1) ||
        (elen == 1 && e[0] == 1) || elen > nlen) {
        return LSH_EBADKEY;
    }
    return rsa_build(n, nlen, e, elen, &k->pk);
}

static int
rsa_put(const lsh_key *k, lsh_buf *out)
{
    int r;
    if ((r = lsh__put_bn_param(out, k->pk, OSSL_PKEY_PARAM_RSA_E)) != 0) {
        return r;
    }
    return lsh__put_bn_param(out, k->pk, OSSL_PKEY_PARAM_RSA_N);
}

static int
rsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    int bits;

    (void)ops;
    if (!EVP_PKEY_is_a(pk, "RSA")) {
        return LSH_EKEYTYPE;
    }
    bits = EVP_PKEY_get_bits(pk);
    return bits > 0 && bits_ok((unsigned)bits) ? 0 : LSH_EKEYSIZE;
}

static int
rsa_sign(const lsh_key *k, const struct lsh__sigalg *alg, const uint8_t *data,
         size_t n, lsh_buf *out)
{
    uint8_t *sig = NULL;
    size_t siglen = 0;
    int r;

    if ((r = lsh__pkey_sign(k->pk, alg->md, data, n, &sig, &siglen)) != 0) {
        return r;
    }
    r = lsh_buf_put_string(out, sig, siglen);
    free(sig);
    return r;
}

static int
rsa_verify(const lsh_key *k, const struct lsh__sigalg *alg, lsh_rd *rd,
           const uint8_t *data, size_t n, lsh_key_sig_info *info)
{
    const uint8_t *sig;
    size_t siglen;
    uint8_t *padded;
    int modlen = EVP_PKEY_get_size(k->pk);
    int r;

    (void)info;
    if ((r = lsh_rd_string(rd, &sig, &siglen)) != 0 ||
        (r = lsh_rd_end(rd)) != 0) {
        return r;
    }
    if (modlen <= 0 || siglen == 0 || siglen > (size_t)modlen) {
        return LSH_EBADSIG;
    }
    if (siglen == (size_t)modlen) {
        return lsh__pkey_verify(k->pk, alg->md, sig, siglen, data, n);
    }
    if ((padded = calloc(1, (size_t)modlen)) == NULL) {
        return LSH_ENOMEM;
    }
    memcpy(padded + ((size_t)modlen - siglen), sig, siglen);
    r = lsh__pkey_verify(k->pk, alg->md, padded, (size_t)modlen, data, n);
    free(padded);
    return r;
}

/* RFC 8332 §3; rsa-sha2-512 first as the default. */
static const struct lsh__sigalg rsa_sigalgs[] = {
    {"rsa-sha2-512", "SHA512"},
    {"rsa-sha2-256", "SHA256"},
    {"ssh-rsa", "SHA1"},
    {NULL, NULL},
};
static const char *const rsa_names[] = {"rsa-sha2-512", "rsa-sha2-256",
                                        "ssh-rsa", NULL};

const struct lsh__key_ops lsh__key_ops_rsa = {
    .type = LSH_KEY_RSA,
    .name = "ssh-rsa",
    .sigalgs = rsa_sigalgs,
    .sigalg_names = rsa_names,
    .fixed_bits = 0,
    .param = NULL,
    .generate = rsa_generate,
    .parse = rsa_parse,
    .put = rsa_put,
    .match = rsa_match,
    .sign = rsa_sign,
    .verify = rsa_verify,
};
