/*
 * ecdsa-sha2-nistp256/384/521 keys (RFC 5656 §3).
 *
 *   blob (§3.1):        string "ecdsa-sha2-[identifier]",
 *                       string [identifier] ("nistp256", ...),
 *                       string Q (SEC1 §2.3.3 point encoding)
 *   signature (§3.1.2): string "ecdsa-sha2-[identifier]",
 *                       string ecdsa_signature_blob = mpint r, mpint s
 *
 * Hash by curve size (§6.2.1): nistp256 SHA-256, nistp384 SHA-384,
 * nistp521 SHA-512.  Only uncompressed points are accepted, as OpenSSH
 * does, so that a blob has exactly one encoding per key.  OpenSSL signs
 * and verifies DER (X9.62 Ecdsa-Sig-Value); the conversion to and from
 * the mpint pair is done here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/mem.h"
#include "ssh/keys/key_impl.h"

struct ecdsa_curve {
    const char *ssh_name; /* RFC 5656 §10.1 curve identifier */
    const char *group;    /* OpenSSL group name */
    size_t flen;          /* bytes in a field element */
    const uint8_t *order; /* group order n, big-endian */
    size_t olen;
};

/* Group orders from SEC 2 §2.4.2, §2.5.1, §2.6.1 (FIPS 186-4 D.1.2). */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
    0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const uint8_t p384_order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};
static const uint8_t p521_order[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86,
    0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09,
    0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f,
    0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09,
};

static const struct ecdsa_curve curve_p256 = {
    "nistp256", "prime256v1", 32, p256_order, sizeof(p256_order)};
static const struct ecdsa_curve curve_p384 = {
    "nistp384", "secp384r1", 48, p384_order, sizeof(p384_order)};
static const struct ecdsa_curve curve_p521 = {
    "nistp521", "secp521r1", 66, p521_order, sizeof(p521_order)};

/*
 * The curve of an ECDSA ops.  key_sk.c passes lsh__key_ops_ecdsa_p256 to
 * the lsh__ecdsa_* helpers for its P-256 keys.
 */
static const struct ecdsa_curve *
curve_of(const struct lsh__key_ops *ops)
{
    return ops->param;
}

/* 1 if the big-endian magnitudes (no leading zeros) satisfy a < b. */
static int
mag_less(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen) {
        return alen < blen;
    }
    return memcmp(a, b, alen) < 0;
}

/* Checks Q fully (on the curve, not infinity, of order n). */
static int
check_public(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok;

    if (ctx == NULL) {
        return LSH_ENOMEM;
    }
    ok = EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : LSH_EBADKEY;
}

int
lsh__ecdsa_parse_point(const struct lsh__key_ops *ops, lsh_rd *rd,
                       EVP_PKEY **out)
{
    const struct ecdsa_curve *c = curve_of(ops);
    const uint8_t *name, *q;
    size_t namelen, qlen;
    OSSL_PARAM params[3];
    EVP_PKEY *pk = NULL;
    int r;

    if ((r = lsh_rd_text(rd, &name, &namelen)) != 0 ||
        (r = lsh_rd_string(rd, &q, &qlen)) != 0) {
        return r;
    }
    /* §3.1: the identifier must be the one of the key type name. */
    if (namelen != strlen(c->ssh_name) ||
        memcmp(name, c->ssh_name, namelen) != 0) {
        return LSH_EBADKEY;
    }
    if (qlen != 1 + 2 * c->flen || q[0] != 0x04) {
        return LSH_EBADKEY;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)c->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)q, qlen);
    params[2] = OSSL_PARAM_construct_end();
    if ((r = lsh__pkey_fromdata("EC", params, &pk)) != 0) {
        return r;
    }
    if ((r = check_public(pk)) != 0) {
        EVP_PKEY_free(pk);
        return r;
    }
    *out = pk;
    return 0;
}

int
lsh__ecdsa_put_point(const struct lsh__key_ops *ops, EVP_PKEY *pk,
                     lsh_buf *out)
{
    const struct ecdsa_curve *c = curve_of(ops);
    uint8_t q[1 + 2 * 66];
    size_t qlen = 0;
    int r;

    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, q,
                                        sizeof(q), &qlen) != 1 ||
        qlen != 1 + 2 * c->flen || q[0] != 0x04) {
        return LSH_ECRYPTO;
    }
    if ((r = lsh_buf_put_cstring(out, c->ssh_name)) != 0) {
        return r;
    }
    return lsh_buf_put_string(out, q, qlen);
}

/*
 * Besides checking the curve, asks OpenSSL to export the point
 * uncompressed, the only form a blob may carry.
 */
int
lsh__ecdsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    const struct ecdsa_curve *c = curve_of(ops);
    char group[64];

    if (!EVP_PKEY_is_a(pk, "EC") ||
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof(group), NULL) != 1 ||
        strcmp(group, c->group) != 0) {
        return LSH_EKEYTYPE;
    }
    if (EVP_PKEY_set_utf8_string_param(
            pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
            OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/* Reads one mpint that must satisfy 0 < v < n, as a BIGNUM. */
static int
read_scalar(const struct ecdsa_curve *c, lsh_rd *rd, BIGNUM **out)
{
    const uint8_t *mag;
    size_t len;
    int r;

    if ((r = lsh_rd_mpint_unsigned(rd, c->olen, &mag, &len)) != 0) {
        return r;
    }
    if (len == 0 || !mag_less(mag, len, c->order, c->olen)) {
        return LSH_EBADSIG;
    }
    if ((*out = BN_bin2bn(mag, (int)len, NULL)) == NULL) {
        return LSH_ENOMEM;
    }
    return 0;
}

int
lsh__ecdsa_sig_der(const struct lsh__key_ops *ops, lsh_rd *rd, uint8_t **der,
                   size_t *derlen)
{
    const struct ecdsa_curve *c = curve_of(ops);
    BIGNUM *br = NULL, *bs = NULL;
    ECDSA_SIG *sig = NULL;
    uint8_t *buf = NULL, *p;
    int len, r;

    if ((r = read_scalar(c, rd, &br)) != 0 ||
        (r = read_scalar(c, rd, &bs)) != 0 || (r = lsh_rd_end(rd)) != 0) {
        goto out;
    }
    if ((sig = ECDSA_SIG_new()) == NULL || ECDSA_SIG_set0(sig, br, bs) != 1) {
        r = LSH_ENOMEM;
        goto out;
    }
    br = bs = NULL; /* owned by sig now */
    r = LSH_ECRYPTO;
    if ((len = i2d_ECDSA_SIG(sig, NULL)) <= 0) {
        goto out;
    }
    if ((buf = malloc((size_t)len)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    p = buf;
    if (i2d_ECDSA_SIG(sig, &p) != len) {
        goto out;
    }
    *der = buf;
    *derlen = (size_t)len;
    buf = NULL;
    r = 0;
out:
    free(buf);
    ECDSA_SIG_free(sig);
    BN_free(br);
    BN_free(bs);
    return r;
}

static int
ecdsa_generate(const struct lsh__key_ops *ops, unsigned bits, EVP_PKEY **out)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_of(ops)->group);

    (void)bits;
    if (pk == NULL) {
        return LSH_ECRYPTO;
    }
    *out = pk;
    return 0;
}

static int
ecdsa_parse(lsh_key *k, lsh_rd *rd)
{
    return lsh__ecdsa_parse_point(k->ops, rd, &k->pk);
}

static int
ecdsa_put(const lsh_key *k, lsh_buf *out)
{
    return lsh__ecdsa_put_point(k->ops, k->pk, out);
}

/* §3.1.2: string(mpint r, mpint s) from OpenSSL's DER signature. */
static int
ecdsa_sign(const lsh_key *k, const struct lsh__sigalg *alg,
           const uint8_t *data, size_t n, lsh_buf *out)
{
    uint8_t *der = NULL;
    size_t derlen = 0;
    const uint8_t *p;
    ECDSA_SIG *sig = NULL;
    const BIGNUM *br, *bs;
    lsh_buf inner;
    int r;

    lsh_buf_init(&inner, 0);
    if ((r = lsh__pkey_sign(k->pk, alg->md, data, n, &der, &derlen)) != 0) {
        goto out;
    }
    p = der;
    if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL) {
        r = LSH_ECRYPTO;
        goto out;
    }
    ECDSA_SIG_get0(sig, &br, &bs);
    if ((r = lsh__put_bn(&inner, br)) != 0 ||
        (r = lsh__put_bn(&inner, bs)) != 0) {
        goto out;
    }
    r = lsh_buf_put_stringb(out, &inner);
out:
    lsh_buf_free(&inner);
    ECDSA_SIG_free(sig);
    free(der);
    return r;
}

static int
ecdsa_verify(const lsh_key *k, const struct lsh__sigalg *alg, lsh_rd *rd,
             const uint8_t *data, size_t n, lsh_key_sig_info *info)
{
    uint8_t *der = NULL;
    size_t derlen = 0;
    lsh_rd sub;
    int r;

    (void)info;
    if ((r = lsh_rd_sub(rd, &sub)) != 0 || (r = lsh_rd_end(rd)) != 0 ||
        (r = lsh__ecdsa_sig_der(k->ops, &sub, &der, &derlen)) != 0) {
        return r;
    }
    r = lsh__pkey_verify(k->pk, alg->md, der, derlen, data, n);
    free(der);
    return r;
}

#define ECDSA_OPS(var, id, type_, bits, md, curve)                        \
    static const struct lsh__sigalg var##_sigalgs[] = {                   \
        {"ecdsa-sha2-" id, md},                                           \
        {NULL, NULL},                                                     \
    };                                                                    \
    static const char *const var##_names[] = {"ecdsa-sha2-" id, NULL};    \
    const struct lsh__key_ops lsh__key_ops_##var = {                      \
        .type = type_,                                                    \
        .name = "ecdsa-sha2-" id,                                         \
        .sigalgs = var##_sigalgs,                                         \
        .sigalg_names = var##_names,                                      \
        .fixed_bits = bits,                                               \
        .param = &curve,                                                  \
        .generate = ecdsa_generate,                                       \
        .parse = ecdsa_parse,                                             \
        .put = ecdsa_put,                                                 \
        .match = lsh__ecdsa_match,                                        \
        .sign = ecdsa_sign,                                               \
        .verify = ecdsa_verify,                                           \
    }

ECDSA_OPS(ecdsa_p256, "nistp256", LSH_KEY_ECDSA_P256, 256, "SHA256",
          curve_p256);
ECDSA_OPS(ecdsa_p384, "nistp384", LSH_KEY_ECDSA_P384, 384, "SHA384",
          curve_p384);
ECDSA_OPS(ecdsa_p521, "nistp521", LSH_KEY_ECDSA_P521, 521, "SHA512",
          curve_p521);
