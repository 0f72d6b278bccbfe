/*
 * ECDH key exchange: curve25519-sha256 and curve448-sha512 (RFC 8731),
 * ecdh-sha2-nistp256/384/521 (RFC 5656 §4).
 *
 * IMPLEMENTATION NOTES
 * The ephemeral private key is built from the caller's rng bytes so that
 * exchanges are reproducible under a fixed rng: X25519/X448 take the raw
 * bytes as the private key (RFC 7748 §5 clamps them inside the function);
 * NIST curves reduce len(order)+8 random bytes modulo (order - 1) and add
 * one, which leaves a bias below 2^-64 (FIPS 186-4 B.4.1), then compute
 * the public point and import both with EVP_PKEY_fromdata.
 *
 * Peer values are checked before use: exact lengths (RFC 8731 §3), SEC1
 * encodings with a valid prefix (RFC 5656 §3.1 allows compression), and
 * OpenSSL's public key check on the point (on the curve, not infinity,
 * right order).  An all-zero X25519/X448 output is refused (RFC 7748 §6).
 */
#include "ssh/transport/kex_methods.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "common/mem.h"

const lsh__kex_curve lsh__kex_x25519 = {EVP_PKEY_X25519, 0, NULL, 32};
const lsh__kex_curve lsh__kex_x448 = {EVP_PKEY_X448, 0, NULL, 56};
const lsh__kex_curve lsh__kex_p256 = {EVP_PKEY_EC, NID_X9_62_prime256v1,
                                      "prime256v1", 32};
const lsh__kex_curve lsh__kex_p384 = {EVP_PKEY_EC, NID_secp384r1, "secp384r1",
                                      48};
const lsh__kex_curve lsh__kex_p521 = {EVP_PKEY_EC, NID_secp521r1, "secp521r1",
                                      66};

/* 1 + 2 * 66: an uncompressed P-521 point. */
#define EC_POINT_MAX 133

typedef struct ecdh_state {
    const lsh__kex_curve *c;
    EVP_PKEY *key; /* our ephemeral key pair */
} ecdh_state;

static void *
ecdh_new(const lsh_kex_method *m)
{
    ecdh_state *st = calloc(1, sizeof(*st));
    if (st != NULL) {
        st->c = m->params;
    }
    return st;
}

static void
ecdh_free(void *impl)
{
    ecdh_state *st = impl;
    EVP_PKEY_free(st->key);
    lsh_freezero(st, sizeof(*st));
}

/* X25519 / X448: the rng bytes are the private key (RFC 7748 §6). */
static int
make_x_key(ecdh_state *st, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    uint8_t priv[56], pubkey[56];
    size_t n = st->c->field_bytes, publen = sizeof(pubkey);
    int r;

    if ((r = lsh__kex_rng(rng, rng_ctx, priv, n)) != 0) {
        goto out;
    }
    st->key = EVP_PKEY_new_raw_private_key(st->c->pkey_type, NULL, priv, n);
    if (st->key == NULL ||
        EVP_PKEY_get_raw_public_key(st->key, pubkey, &publen) != 1 ||
        publen != n) {
        r = LSH_ECRYPTO;
        goto out;
    }
    r = lsh_buf_put(pub, pubkey, publen);
out:
    OPENSSL_cleanse(priv, sizeof(priv));
    return r;
}

/* d = (x mod (order - 1)) + 1 for x of len(order) + 8 random bytes. */
static int
random_scalar(const EC_GROUP *grp, lsh_rng_cb rng, void *rng_ctx, BN_CTX *bc,
              BIGNUM *d)
{
    uint8_t buf[66 + 8];
    const BIGNUM *order = EC_GROUP_get0_order(grp);
    BIGNUM *x = BN_secure_new(), *om1 = BN_new();
    size_t n = (size_t)BN_num_bytes(order) + 8;
    int r = LSH_ECRYPTO;

    if (x == NULL || om1 == NULL || n > sizeof(buf)) {
        goto out;
    }
    if ((r = lsh__kex_rng(rng, rng_ctx, buf, n)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    if (BN_bin2bn(buf, (int)n, x) == NULL || BN_copy(om1, order) == NULL ||
        !BN_sub_word(om1, 1) || !BN_mod(d, x, om1, bc) || !BN_add_word(d, 1)) {
        goto out;
    }
    r = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    BN_clear_free(x);
    BN_free(om1);
    return r;
}

static int
ec_fromdata(const char *group, const BIGNUM *priv, const uint8_t *pub,
            size_t publen, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int sel = priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    int r = LSH_ECRYPTO;

    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                          publen) ||
        (priv != NULL &&
         !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1) {
        goto out;
    }
    /* A point that does not decode (not on the curve) fails here. */
    if (EVP_PKEY_fromdata(ctx, out, sel, params) != 1) {
        r = priv != NULL ? LSH_ECRYPTO : LSH_EBADKEY;
        goto out;
    }
    r = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return r;
}

static int
make_ec_key(ecdh_state *st, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    uint8_t pt[EC_POINT_MAX];
    EC_GROUP *grp = EC_GROUP_new_by_curve_name_ex(NULL, NULL, st->c->nid);
    BN_CTX *bc = BN_CTX_secure_new();
    BIGNUM *d = BN_secure_new();
    EC_POINT *q = NULL;
    size_t ptlen;
    int r = LSH_ECRYPTO;

    if (grp == NULL || bc == NULL || d == NULL ||
        (q = EC_POINT_new(grp)) == NULL) {
        goto out;
    }
    if ((r = random_scalar(grp, rng, rng_ctx, bc, d)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    if (!EC_POINT_mul(grp, q, d, NULL, NULL, bc)) {
        goto out;
    }
    ptlen = EC_POINT_point2oct(grp, q, POINT_CONVERSION_UNCOMPRESSED, pt,
                               sizeof(pt), bc);
    if (ptlen != 1 + 2 * st->c->field_bytes) {
        goto out;
    }
    if ((r = ec_fromdata(st->c->group, d, pt, ptlen, &st->key)) != 0) {
        goto out;
    }
    r = lsh_buf_put(pub, pt, ptlen);
out:
    EC_POINT_free(q);
    BN_clear_free(d);
    BN_CTX_free(bc);
    EC_GROUP_free(grp);
    return r;
}

static int
make_key(ecdh_state *st, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    if (st->key != NULL) {
        return LSH_ESTATE;
    }
    if (st->c->pkey_type == EVP_PKEY_EC) {
        return make_ec_key(st, rng, rng_ctx, pub);
    }
    return make_x_key(st, rng, rng_ctx, pub);
}

/* Imports the peer's value after the length and encoding checks. */
static int
peer_key(const ecdh_state *st, const uint8_t *pub, size_t len, EVP_PKEY **out)
{
    size_t fb = st->c->field_bytes;

    if (st->c->pkey_type != EVP_PKEY_EC) {
        /* RFC 8731 §3: "MUST also abort if the length ... not expected". */
        if (len != fb) {
            return LSH_EBADKEY;
        }
        *out = EVP_PKEY_new_raw_public_key(st->c->pkey_type, NULL, pub, len);
        return *out != NULL ? 0 : LSH_EBADKEY;
    }
    /* SEC1 2.3.4: 04 || X || Y, or 02/03 || X (RFC 5656 §3.1). */
    if (len == 0 || !((pub[0] == 0x04 && len == 1 + 2 * fb) ||
                      ((pub[0] == 0x02 || pub[0] == 0x03) && len == 1 + fb))) {
        return LSH_EBADKEY;
    }
    return ec_fromdata(st->c->group, NULL, pub, len, out);
}

static int
all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* Derives the shared secret with the peer's value and appends K. */
static int
derive(ecdh_state *st, const uint8_t *peer_pub, size_t len, lsh_buf *K)
{
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *z = NULL;
    size_t zlen = 0, zcap = 0;
    int r;

    if ((r = peer_key(st, peer_pub, len, &peer)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, st->key, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) != 1) {
        goto out;
    }
    /* validate_peer = 1: OpenSSL's full public key check. */
    if (EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) != 1) {
        r = LSH_EBADKEY;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, NULL, &zcap) != 1 ||
        (z = malloc(zcap)) == NULL) {
        goto out;
    }
    zlen = zcap;
    /* OpenSSL also fails an all-zero X25519/X448 result here. */
    if (EVP_PKEY_derive(ctx, z, &zlen) != 1) {
        r = LSH_EBADKEY;
        goto out;
    }
    /* RFC 8731 §3 / RFC 7748 §6: refuse the all-zero output. */
    if (all_zero(z, zlen)) {
        r = LSH_EBADKEY;
        goto out;
    }
    /* RFC 8731 §3.1: the raw bytes read big-endian; RFC 5656 §4 and
     * SEC1 2.3.9: the x coordinate as an integer.  Both are an mpint. */
    r = lsh_buf_put_mpint_unsigned(K, z, zlen);
out:
    lsh_freezero(z, zcap);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return r;
}

static int
ecdh_init(void *impl, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    return make_key(impl, rng, rng_ctx, pub);
}

static int
ecdh_reply(void *impl, const uint8_t *cpub, size_t len, lsh_rng_cb rng,
           void *rng_ctx, lsh_buf *spub, lsh_buf *K)
{
    ecdh_state *st = impl;
    EVP_PKEY *check = NULL;
    int r;

    /* Reject a bad client value before spending work on our key. */
    if ((r = peer_key(st, cpub, len, &check)) != 0) {
        return r;
    }
    EVP_PKEY_free(check);
    if ((r = make_key(st, rng, rng_ctx, spub)) != 0) {
        return r;
    }
    return derive(st, cpub, len, K);
}

static int
ecdh_finish(void *impl, const uint8_t *spub, size_t len, lsh_buf *K)
{
    ecdh_state *st = impl;
    if (st->key == NULL) {
        return LSH_ESTATE;
    }
    return derive(st, spub, len, K);
}

const struct lsh_kex_ops lsh__kex_ecdh_ops = {
    ecdh_new, ecdh_free, ecdh_init, ecdh_reply, ecdh_finish,
};
