/*
 * openssh-key-v1 private key files (OpenSSH PROTOCOL.key).
 *
 *   byte[]  "openssh-key-v1\0"
 *   string  ciphername            "none" or a cipher of the table below
 *   string  kdfname               "none" or "bcrypt"
 *   string  kdfoptions            "" or (string salt, uint32 rounds)
 *   uint32  number of keys        (1: OpenSSH writes and reads one key)
 *   string  public key blob
 *   string  encrypted private section
 *   byte[]  AEAD tag              (authlen bytes, GCM/ChaCha20 only)
 *
 * Private section (§3), padded with 1, 2, 3, ... to the cipher block
 * size (8 for "none"):
 *   uint32 checkint, uint32 checkint, private key, string comment, pad
 *
 * IMPLEMENTATION NOTES
 * - The private key encodings are the agent's (RFC 9987 §4.2.x) plus the
 *   security-key ones of PROTOCOL.u2f: type name, public fields, then
 *     ssh-ed25519/ssh-ed448   string A, string k || A
 *     ecdsa-sha2-*            string curve, string Q, mpint d
 *     ssh-rsa                 mpint n, e, d, iqmp, p, q
 *     ssh-dss                 mpint p, q, g, y, x
 *     sk-*                    public fields (application included),
 *                             uint8 flags, string key_handle, string reserved
 * - The KDF output is the cipher key followed by its IV (ivlen 0 for
 *   chacha20-poly1305, whose 64-byte key is K_2 || K_1).  The AEAD tag of
 *   the GCM and ChaCha20-Poly1305 ciphers is not inside the encrypted
 *   string but right after it: the string length counts the ciphertext
 *   only, as OpenSSH writes it.  GCM has no AAD here; ChaCha20-Poly1305
 *   runs as for a packet of sequence number 0 without the length field
 *   (PROTOCOL.chacha20poly1305: Poly1305 key from block 0 of K_2, the
 *   payload from block 1, tag over the ciphertext).
 * - Every structural check runs before the (slow) KDF, so a malformed
 *   file is rejected at once; the check integers then tell a wrong
 *   passphrase from a right one, and the private key must match the
 *   public key of the header.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/mem.h"
#include "common/rd.h"
#include "crypto/bcrypt_pbkdf.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/keyfile_internal.h"

#define MAGIC "openssh-key-v1"
#define SALT_LEN 16
#define SALT_MAX 1024
#define WRAP 70

enum cipher_kind { KC_NONE, KC_CTR, KC_CBC, KC_GCM, KC_CHACHA };

struct kf_cipher {
    const char *name;
    const char *evp; /* OpenSSL name */
    enum cipher_kind kind;
    size_t keylen, ivlen, block, authlen;
};

static const struct kf_cipher ciphers[] = {
    {"none", NULL, KC_NONE, 0, 0, 8, 0},
    {"aes128-ctr", "AES-128-CTR", KC_CTR, 16, 16, 16, 0},
    {"aes192-ctr", "AES-192-CTR", KC_CTR, 24, 16, 16, 0},
    {"aes256-ctr", "AES-256-CTR", KC_CTR, 32, 16, 16, 0},
    {"aes128-cbc", "AES-128-CBC", KC_CBC, 16, 16, 16, 0},
    {"aes192-cbc", "AES-192-CBC", KC_CBC, 24, 16, 16, 0},
    {"aes256-cbc", "AES-256-CBC", KC_CBC, 32, 16, 16, 0},
    {"3des-cbc", "DES-EDE3-CBC", KC_CBC, 24, 8, 8, 0},
    {"aes128-gcm@openssh.com", "AES-128-GCM", KC_GCM, 16, 12, 16, 16},
    {"aes256-gcm@openssh.com", "AES-256-GCM", KC_GCM, 32, 12, 16, 16},
    {"chacha20-poly1305@openssh.com", "ChaCha20", KC_CHACHA, 64, 0, 8, 16},
};

static const struct kf_cipher *
cipher_by_name(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
        if (strlen(ciphers[i].name) == n &&
            memcmp(ciphers[i].name, name, n) == 0) {
            return &ciphers[i];
        }
    }
    return NULL;
}

/*
 * lsh_buf_put_stringb() for a buffer that may never have been written:
 * lsh_buf_ptr() of such a buffer is NULL + 0, which UBSan reports.
 */
static int
put_bufstr(lsh_buf *out, const lsh_buf *v)
{
    if (lsh_buf_len(v) == 0) {
        return lsh_buf_put_string(out, "", 0);
    }
    return lsh_buf_put_string(out, lsh_buf_ptr(v), lsh_buf_len(v));
}

/* ---- ciphers ---------------------------------------------------------- */

/* Runs an OpenSSL cipher over data[0..n) in place, without padding. */
static int
evp_run(EVP_CIPHER_CTX *ctx, uint8_t *data, size_t n)
{
    int outl = 0, fl = 0;

    if (n > 0 && EVP_CipherUpdate(ctx, data, &outl, data, (int)n) != 1) {
        return LSH_ECRYPTO;
    }
    if (EVP_CipherFinal_ex(ctx, data + outl, &fl) != 1) {
        return LSH_EBADMAC; /* GCM: the tag does not verify */
    }
    return (size_t)outl + (size_t)fl == n ? 0 : LSH_ECRYPTO;
}

/* Poly1305 of data[0..n) under a one-time key, into tag[16]. */
static int
poly1305(const uint8_t key[32], const uint8_t *data, size_t n, uint8_t *tag)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outl = 0;
    int r = LSH_ECRYPTO;

    if (ctx != NULL && EVP_MAC_init(ctx, key, 32, NULL) == 1 &&
        EVP_MAC_update(ctx, data, n) == 1 &&
        EVP_MAC_final(ctx, tag, &outl, 16) == 1 && outl == 16) {
        r = 0;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return r;
}

/*
 * chacha20-poly1305@openssh.com with sequence number 0 and no length
 * field.  OpenSSL's ChaCha20 takes a 16-byte IV: a 32-bit little-endian
 * block counter, then a 96-bit nonce; OpenSSH's is a 64-bit counter and
 * a 64-bit nonce (the sequence number, big-endian).  With counter < 2^32
 * and nonce 0 both give the same state, so the IV is {ctr,0,0,0, 0 x12}.
 */
static int
chacha_crypt(EVP_CIPHER *ev, int enc, const uint8_t *key, uint8_t *data,
             size_t n, uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t iv[16] = {0}, polykey[32] = {0}, calc[16];
    int r = LSH_ECRYPTO;

    if (ctx == NULL) {
        return LSH_ENOMEM;
    }
    /* Block 0 of K_2's keystream: the Poly1305 key. */
    if (EVP_CipherInit_ex2(ctx, ev, key, iv, 1, NULL) != 1 ||
        (r = evp_run(ctx, polykey, sizeof(polykey))) != 0) {
        r = LSH_ECRYPTO;
        goto out;
    }
    if (!enc) {
        if ((r = poly1305(polykey, data, n, calc)) != 0) {
            goto out;
        }
        if (CRYPTO_memcmp(calc, tag, 16) != 0) {
            r = LSH_EBADMAC;
            goto out;
        }
    }
    iv[0] = 1;
    if (EVP_CipherInit_ex2(ctx, ev, key, iv, enc, NULL) != 1 ||
        (r = evp_run(ctx, data, n)) != 0) {
        r = LSH_ECRYPTO;
        goto out;
    }
    if (enc) {
        r = poly1305(polykey, data, n, tag);
    }
out:
    lsh_memzero(polykey, sizeof(polykey));
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

/*
 * En/decrypts data[0..n) in place with key || iv from keyiv.  tag holds
 * c->authlen bytes: written when encrypting, checked when decrypting
 * (LSH_EBADMAC on mismatch).
 */
static int
kf_crypt(const struct kf_cipher *c, int enc, const uint8_t *keyiv,
         uint8_t *data, size_t n, uint8_t *tag)
{
    EVP_CIPHER *ev;
    EVP_CIPHER_CTX *ctx = NULL;
    int r = LSH_ECRYPTO;

    if (c->kind == KC_NONE) {
        return 0;
    }
    if ((ev = EVP_CIPHER_fetch(NULL, c->evp, NULL)) == NULL) {
        return LSH_ECRYPTO;
    }
    if (c->kind == KC_CHACHA) {
        r = chacha_crypt(ev, enc, keyiv, data, n, tag);
        goto out;
    }
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (EVP_CipherInit_ex2(ctx, ev, keyiv, keyiv + c->keylen, enc, NULL) !=
            1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        goto out;
    }
    if (c->kind == KC_GCM && !enc &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)c->authlen,
                            tag) != 1) {
        goto out;
    }
    if ((r = evp_run(ctx, data, n)) != 0) {
        goto out;
    }
    if (c->kind == KC_GCM && enc &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)c->authlen,
                            tag) != 1) {
        r = LSH_ECRYPTO;
    }
out:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(ev);
    return r;
}

/* ---- private key fields: reading -------------------------------------- */

/* Reads an unsigned mpint of at most maxbytes as a new BIGNUM. */
static int
rd_bn(lsh_rd *rd, size_t maxbytes, BIGNUM **out)
{
    const uint8_t *mag;
    size_t n;
    int r;

    if ((r = lsh_rd_mpint_unsigned(rd, maxbytes, &mag, &n)) != 0) {
        return r;
    }
    if ((*out = BN_bin2bn(mag, (int)n, NULL)) == NULL) {
        return LSH_ENOMEM;
    }
    return 0;
}

/* Builds an OpenSSL key pair of algorithm alg from the params in bld. */
static int
pkey_from_bld(const char *alg, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    EVP_PKEY *pk = NULL;
    int r = LSH_EBADKEY;

    if (params == NULL || ctx == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1) {
        goto out;
    }
    *out = pk;
    r = 0;
out:
    OSSL_PARAM_free(params); /* OpenSSL clears BN params it built */
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* Runs OpenSSL's private-range and pairwise (public = f(private)) checks. */
static int
pkey_check_pair(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok;

    if (ctx == NULL) {
        return LSH_ENOMEM;
    }
    ok = EVP_PKEY_private_check(ctx) == 1 &&
         EVP_PKEY_pairwise_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : LSH_EBADKEY;
}

/* Wraps pk (taken) as a key of type t. */
static int
wrap_pkey(EVP_PKEY *pk, enum lsh_key_type t, lsh_key **out)
{
    lsh_key *k = lsh__key_from_pkey(pk, t);
    if (k == NULL) {
        return LSH_EBADKEY;
    }
    *out = k;
    return 0;
}

static int
read_eddsa(enum lsh_key_type t, lsh_rd *rd, lsh_key **out)
{
    const char *alg = t == LSH_KEY_ED25519 ? "ED25519" : "ED448";
    size_t pl = t == LSH_KEY_ED25519 ? 32 : 57, privlen, got;
    const uint8_t *pub, *priv;
    uint8_t pub2[57];
    EVP_PKEY *pk;
    size_t publen;
    int r;

    if ((r = lsh_rd_string(rd, &pub, &publen)) != 0 ||
        (r = lsh_rd_string(rd, &priv, &privlen)) != 0) {
        return r;
    }
    /* RFC 9987 §4.2.3: string ENC(A), string k || ENC(A). */
    if (publen != pl || privlen != 2 * pl ||
        memcmp(priv + pl, pub, pl) != 0) {
        return LSH_EBADKEY;
    }
    pk = EVP_PKEY_new_raw_private_key_ex(NULL, alg, NULL, priv, pl);
    if (pk == NULL) {
        return LSH_EBADKEY;
    }
    got = sizeof(pub2);
    if (EVP_PKEY_get_raw_public_key(pk, pub2, &got) != 1 || got != pl ||
        memcmp(pub2, pub, pl) != 0) {
        EVP_PKEY_free(pk);
        return LSH_EBADKEY;
    }
    return wrap_pkey(pk, t, out);
}

static int
read_ecdsa(enum lsh_key_type t, lsh_rd *rd, lsh_key **out)
{
    OSSL_PARAM_BLD *bld = NULL;
    lsh_key *pubk = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *d = NULL;
    uint8_t q[1 + 2 * 66];
    char group[32];
    size_t qlen = 0;
    int r;

    if ((r = lsh__key_parse_fields(t, rd, &pubk)) != 0 ||
        (r = rd_bn(rd, 66, &d)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    if (EVP_PKEY_get_octet_string_param(lsh__key_pkey(pubk),
                                        OSSL_PKEY_PARAM_PUB_KEY, q,
                                        sizeof(q), &qlen) != 1 ||
        EVP_PKEY_get_utf8_string_param(lsh__key_pkey(pubk),
                                       OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof(group), NULL) != 1) {
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q,
                                         qlen) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) {
        r = LSH_ENOMEM;
        goto out;
    }
    if ((r = pkey_from_bld("EC", bld, &pk)) != 0 ||
        (r = pkey_check_pair(pk)) != 0) {
        goto out;
    }
    r = wrap_pkey(pk, t, out);
    pk = NULL;
out:
    EVP_PKEY_free(pk);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    lsh_key_free(pubk);
    return r;
}

/* 1 if (a * b) mod m == 1. */
static int
mul_mod_is_one(const BIGNUM *a, const BIGNUM *b, const BIGNUM *m,
               BN_CTX *bnctx)
{
    BIGNUM *t = BN_CTX_get(bnctx);
    return t != NULL && BN_mod_mul(t, a, b, m, bnctx) == 1 && BN_is_one(t);
}

/*
 * Consistency of an RSA private key: n = p q, e d = 1 mod p-1 and q-1,
 * iqmp q = 1 mod p.  With check_crt the CRT exponents dmp1, dmq1 must be
 * d mod p-1, q-1; without, they are computed into dmp1, dmq1.
 */
static int
rsa_check(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d,
          const BIGNUM *iqmp, const BIGNUM *p, const BIGNUM *q, BIGNUM *dmp1,
          BIGNUM *dmq1, int check_crt)
{
    BN_CTX *bnctx = BN_CTX_secure_new();
    BIGNUM *t, *p1, *q1, *x1, *x2;
    int r = LSH_EBADKEY;

    if (bnctx == NULL) {
        return LSH_ENOMEM;
    }
    BN_CTX_start(bnctx);
    t = BN_CTX_get(bnctx);
    p1 = BN_CTX_get(bnctx);
    q1 = BN_CTX_get(bnctx);
    x1 = BN_CTX_get(bnctx);
    x2 = BN_CTX_get(bnctx);
    if (x2 == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (BN_cmp(p, BN_value_one()) <= 0 || BN_cmp(q, BN_value_one()) <= 0 ||
        BN_is_zero(d) || BN_is_zero(iqmp)) {
        goto out;
    }
    if (BN_mul(t, p, q, bnctx) != 1 || BN_cmp(t, n) != 0 ||
        BN_sub(p1, p, BN_value_one()) != 1 ||
        BN_sub(q1, q, BN_value_one()) != 1 ||
        !mul_mod_is_one(e, d, p1, bnctx) || !mul_mod_is_one(e, d, q1, bnctx) ||
        !mul_mod_is_one(iqmp, q, p, bnctx) ||
        BN_mod(x1, d, p1, bnctx) != 1 || BN_mod(x2, d, q1, bnctx) != 1) {
        goto out;
    }
    if (check_crt) {
        if (BN_cmp(x1, dmp1) != 0 || BN_cmp(x2, dmq1) != 0) {
            goto out;
        }
    } else if (BN_copy(dmp1, x1) == NULL || BN_copy(dmq1, x2) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    r = 0;
out:
    BN_CTX_end(bnctx);
    BN_CTX_free(bnctx);
    return r;
}

/* DSA: 1 < x < q, p odd, y = g^x mod p. */
static int
dsa_check(const BIGNUM *p, const BIGNUM *q, const BIGNUM *g, const BIGNUM *y,
          BIGNUM *x)
{
    BN_CTX *bnctx;
    BIGNUM *t;
    int r = LSH_EBADKEY;

    if (!BN_is_odd(p) || BN_cmp(p, BN_value_one()) <= 0 ||
        BN_cmp(x, BN_value_one()) <= 0 || BN_cmp(x, q) >= 0) {
        return LSH_EBADKEY;
    }
    bnctx = BN_CTX_new();
    t = BN_new();
    if (bnctx == NULL || t == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    BN_set_flags(x, BN_FLG_CONSTTIME);
    if (BN_mod_exp(t, g, x, p, bnctx) == 1 && BN_cmp(t, y) == 0) {
        r = 0;
    }
out:
    BN_CTX_free(bnctx);
    BN_free(t);
    return r;
}

#define RSA_MAXBYTES (LSH_KEY_RSA_MAX_BITS / 8 + 1)

static int
read_rsa(lsh_rd *rd, lsh_key **out)
{
    BIGNUM *n = NULL, *e = NULL, *d = NULL, *iqmp = NULL, *p = NULL,
           *q = NULL, *dmp1 = BN_secure_new(), *dmq1 = BN_secure_new();
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;
    int r, bits;

    if (dmp1 == NULL || dmq1 == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if ((r = rd_bn(rd, RSA_MAXBYTES, &n)) != 0 ||
        (r = rd_bn(rd, RSA_MAXBYTES, &e)) != 0 ||
        (r = rd_bn(rd, RSA_MAXBYTES, &d)) != 0 ||
        (r = rd_bn(rd, RSA_MAXBYTES, &iqmp)) != 0 ||
        (r = rd_bn(rd, RSA_MAXBYTES, &p)) != 0 ||
        (r = rd_bn(rd, RSA_MAXBYTES, &q)) != 0) {
        goto out;
    }
    bits = BN_num_bits(n);
    if (bits < LSH_KEY_RSA_MIN_BITS || bits > LSH_KEY_RSA_MAX_BITS) {
        r = LSH_EKEYSIZE;
        goto out;
    }
    if (!BN_is_odd(e) || BN_is_one(e)) {
        r = LSH_EBADKEY;
        goto out;
    }
    if ((r = rsa_check(n, e, d, iqmp, p, q, dmp1, dmq1, 0)) != 0) {
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) !=
            1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) !=
            1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
                               iqmp) != 1) {
        r = LSH_ENOMEM;
        goto out;
    }
    if ((r = pkey_from_bld("RSA", bld, &pk)) != 0) {
        goto out;
    }
    r = wrap_pkey(pk, LSH_KEY_RSA, out);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    BN_clear_free(d);
    BN_clear_free(iqmp);
    BN_clear_free(p);
    BN_clear_free(q);
    BN_clear_free(dmp1);
    BN_clear_free(dmq1);
    return r;
}

/* DSA sizes: p up to 3072 bits, q up to 256 bits (FIPS 186-4 §4.2). */
#define DSA_PMAX (3072 / 8 + 1)
#define DSA_QMAX (256 / 8 + 1)

static int
read_dsa(lsh_rd *rd, lsh_key **out)
{
    BIGNUM *p = NULL, *q = NULL, *g = NULL, *y = NULL, *x = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;
    int r;

    if ((r = rd_bn(rd, DSA_PMAX, &p)) != 0 ||
        (r = rd_bn(rd, DSA_QMAX, &q)) != 0 ||
        (r = rd_bn(rd, DSA_PMAX, &g)) != 0 ||
        (r = rd_bn(rd, DSA_PMAX, &y)) != 0 ||
        (r = rd_bn(rd, DSA_QMAX, &x)) != 0) {
        goto out;
    }
    if ((r = dsa_check(p, q, g, y, x)) != 0) {
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_Q, q) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x) != 1) {
        r = LSH_ENOMEM;
        goto out;
    }
    if ((r = pkey_from_bld("DSA", bld, &pk)) != 0) {
        goto out;
    }
    r = wrap_pkey(pk, LSH_KEY_DSA, out);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(p);
    BN_free(q);
    BN_free(g);
    BN_free(y);
    BN_clear_free(x);
    return r;
}

/* Key handles are opaque token data; FIDO allows up to 1023 bytes. */
#define SK_HANDLE_MAX 1024

static int
read_sk(enum lsh_key_type t, lsh_rd *rd, lsh_key **out)
{
    const uint8_t *handle, *reserved;
    size_t hlen, rlen;
    lsh_key *k = NULL;
    uint8_t flags;
    int r;

    if ((r = lsh__key_parse_fields(t, rd, &k)) != 0) {
        return r;
    }
    if ((r = lsh_rd_u8(rd, &flags)) != 0 ||
        (r = lsh_rd_string_max(rd, SK_HANDLE_MAX, &handle, &hlen)) != 0 ||
        (r = lsh_rd_string(rd, &reserved, &rlen)) != 0 ||
        (r = lsh__key_sk_set_handle(k, flags, handle, hlen)) != 0) {
        lsh_key_free(k);
        return r;
    }
    *out = k;
    return 0;
}

/* Reads "string type, private fields" into a new key. */
static int
read_private(lsh_rd *rd, lsh_key **out, char *errbuf, size_t errlen)
{
    const uint8_t *name;
    size_t namelen;
    enum lsh_key_type t;
    char tname[128];
    int r;

    if ((r = lsh_rd_text(rd, &name, &namelen)) != 0) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: truncated private key");
    }
    snprintf(tname, sizeof(tname), "%.*s", (int)(namelen > 100 ? 100 : namelen),
             (const char *)name);
    if (namelen != strlen(tname) || lsh_key_type_from_name(tname, &t) != 0) {
        return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                           "openssh-key-v1: unsupported private key type "
                           "'%s'", tname);
    }
    switch (t) {
    case LSH_KEY_ED25519:
    case LSH_KEY_ED448:
        r = read_eddsa(t, rd, out);
        break;
    case LSH_KEY_ECDSA_P256:
    case LSH_KEY_ECDSA_P384:
    case LSH_KEY_ECDSA_P521:
        r = read_ecdsa(t, rd, out);
        break;
    case LSH_KEY_RSA:
        r = read_rsa(rd, out);
        break;
    case LSH_KEY_DSA:
        r = read_dsa(rd, out);
        break;
    default:
        r = read_sk(t, rd, out);
        break;
    }
    if (r == LSH_ENOMEM || r == LSH_EKEYSIZE) {
        return r;
    }
    if (r != 0) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: bad %s private key", tname);
    }
    return 0;
}

/* ---- consistency of keys from other formats ------------------------ */

static int
check_rsa_pkey(EVP_PKEY *pk)
{
    static const char *const names[8] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
        OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,
        OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
    };
    BIGNUM *bn[8] = {NULL}, *extra = NULL;
    int r = LSH_EBADKEY;

    for (size_t i = 0; i < 8; i++) {
        if (EVP_PKEY_get_bn_param(pk, names[i], &bn[i]) != 1) {
            goto out; /* no CRT values: not a key OpenSSH could hold */
        }
    }
    /* Multi-prime keys have no SSH encoding. */
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR3, &extra) == 1) {
        goto out;
    }
    r = rsa_check(bn[0], bn[1], bn[2], bn[3], bn[4], bn[5], bn[6], bn[7], 1);
out:
    for (size_t i = 0; i < 8; i++) {
        BN_clear_free(bn[i]);
    }
    BN_clear_free(extra);
    return r;
}

static int
check_dsa_pkey(EVP_PKEY *pk)
{
    static const char *const names[5] = {
        OSSL_PKEY_PARAM_FFC_P, OSSL_PKEY_PARAM_FFC_Q, OSSL_PKEY_PARAM_FFC_G,
        OSSL_PKEY_PARAM_PUB_KEY, OSSL_PKEY_PARAM_PRIV_KEY,
    };
    BIGNUM *bn[5] = {NULL};
    int r = LSH_EBADKEY;

    for (size_t i = 0; i < 5; i++) {
        if (EVP_PKEY_get_bn_param(pk, names[i], &bn[i]) != 1) {
            goto out;
        }
    }
    if (BN_num_bits(bn[0]) > (DSA_PMAX - 1) * 8 ||
        BN_num_bits(bn[1]) > (DSA_QMAX - 1) * 8) {
        goto out;
    }
    r = dsa_check(bn[0], bn[1], bn[2], bn[3], bn[4]);
out:
    for (size_t i = 0; i < 5; i++) {
        BN_clear_free(bn[i]);
    }
    return r;
}

int
lsh__kf_check_private(EVP_PKEY *pk, enum lsh_key_type t)
{
    int r;

    ERR_set_mark();
    switch (t) {
    case LSH_KEY_RSA:
        r = check_rsa_pkey(pk);
        break;
    case LSH_KEY_DSA:
        r = check_dsa_pkey(pk);
        break;
    case LSH_KEY_ECDSA_P256:
    case LSH_KEY_ECDSA_P384:
    case LSH_KEY_ECDSA_P521:
        r = pkey_check_pair(pk);
        break;
    default:
        r = 0; /* EdDSA: OpenSSL derives the public key from the seed */
        break;
    }
    ERR_pop_to_mark();
    return r;
}

/* ---- import ----------------------------------------------------------- */

struct header {
    const struct kf_cipher *cipher;
    int bcrypt;
    const uint8_t *salt;
    size_t saltlen;
    uint32_t rounds;
    const uint8_t *pub;
    size_t publen;
    const uint8_t *enc;
    size_t enclen;
    const uint8_t *tag;
};

static int
bad(char *errbuf, size_t errlen, const char *what)
{
    return lsh__kf_err(errbuf, errlen, LSH_EBADKEY, "openssh-key-v1: %s",
                       what);
}

static int
parse_kdf(struct header *h, const uint8_t *kdf, size_t kdflen,
          const uint8_t *opts, size_t optslen, unsigned max_rounds,
          char *errbuf, size_t errlen)
{
    lsh_rd rd;

    if (kdflen == 4 && memcmp(kdf, "none", 4) == 0) {
        if (h->cipher->kind != KC_NONE || optslen != 0) {
            return bad(errbuf, errlen, "KDF 'none' with a cipher or options");
        }
        return 0;
    }
    if (kdflen != 6 || memcmp(kdf, "bcrypt", 6) != 0) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: unknown KDF '%.*s'",
                           (int)(kdflen > 64 ? 64 : kdflen), kdf);
    }
    if (h->cipher->kind == KC_NONE) {
        return bad(errbuf, errlen, "KDF 'bcrypt' with cipher 'none'");
    }
    /* PROTOCOL.key §2: string salt, uint32 rounds. */
    lsh_rd_init(&rd, opts, optslen);
    if (lsh_rd_string_max(&rd, SALT_MAX, &h->salt, &h->saltlen) != 0 ||
        lsh_rd_u32(&rd, &h->rounds) != 0 || lsh_rd_end(&rd) != 0) {
        return bad(errbuf, errlen, "malformed bcrypt options");
    }
    if (h->saltlen == 0) {
        return bad(errbuf, errlen, "empty bcrypt salt");
    }
    if (h->rounds == 0) {
        return bad(errbuf, errlen, "bcrypt rounds 0");
    }
    if (h->rounds > max_rounds) {
        return lsh__kf_err(errbuf, errlen, LSH_ETOOLARGE,
                           "openssh-key-v1: bcrypt rounds %u above the "
                           "limit %u", (unsigned)h->rounds, max_rounds);
    }
    h->bcrypt = 1;
    return 0;
}

static int
parse_header(const uint8_t *bin, size_t n, unsigned max_rounds,
             struct header *h, char *errbuf, size_t errlen)
{
    const uint8_t *magic, *cname, *kdf, *opts;
    size_t cnamelen, kdflen, optslen;
    uint32_t nkeys;
    lsh_rd rd;
    int r;

    memset(h, 0, sizeof(*h));
    lsh_rd_init(&rd, bin, n);
    if (lsh_rd_bytes(&rd, sizeof(MAGIC), &magic) != 0 ||
        memcmp(magic, MAGIC, sizeof(MAGIC)) != 0) {
        return bad(errbuf, errlen, "bad magic");
    }
    if (lsh_rd_text(&rd, &cname, &cnamelen) != 0 ||
        lsh_rd_text(&rd, &kdf, &kdflen) != 0 ||
        lsh_rd_string(&rd, &opts, &optslen) != 0 ||
        lsh_rd_u32(&rd, &nkeys) != 0) {
        return bad(errbuf, errlen, "truncated header");
    }
    if ((h->cipher = cipher_by_name((const char *)cname, cnamelen)) == NULL) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: unknown cipher '%.*s'",
                           (int)(cnamelen > 64 ? 64 : cnamelen), cname);
    }
    if ((r = parse_kdf(h, kdf, kdflen, opts, optslen, max_rounds, errbuf,
                       errlen)) != 0) {
        return r;
    }
    if (nkeys != 1) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: %u keys in the file, only 1 "
                           "supported", (unsigned)nkeys);
    }
    if (lsh_rd_string(&rd, &h->pub, &h->publen) != 0 ||
        lsh_rd_string_max(&rd, LSH_KEYFILE_MAX_SIZE, &h->enc, &h->enclen) !=
            0) {
        return bad(errbuf, errlen, "truncated key data");
    }
    if (lsh_rd_bytes(&rd, h->cipher->authlen, &h->tag) != 0) {
        return bad(errbuf, errlen, "missing authentication tag");
    }
    if (lsh_rd_end(&rd) != 0) {
        return bad(errbuf, errlen, "trailing data");
    }
    if (h->enclen == 0 || h->enclen % h->cipher->block != 0) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "openssh-key-v1: private section of %zu bytes is "
                           "not a multiple of the %zu-byte cipher block",
                           h->enclen, h->cipher->block);
    }
    return 0;
}

/* The header's public key: parsed up front so bad types fail early. */
static int
parse_public(const struct header *h, lsh_key **out, char *errbuf,
             size_t errlen)
{
    int r = lsh_key_from_blob(h->pub, h->publen, out);
    if (r == LSH_EKEYTYPE) {
        const uint8_t *name;
        size_t nl;
        lsh_rd rd;
        lsh_rd_init(&rd, h->pub, h->publen);
        if (lsh_rd_text(&rd, &name, &nl) == 0) {
            return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                               "openssh-key-v1: unsupported key type "
                               "'%.*s'", (int)(nl > 100 ? 100 : nl), name);
        }
    }
    if (r == LSH_EKEYSIZE || r == LSH_ENOMEM) {
        return r;
    }
    return r == 0 ? 0 : bad(errbuf, errlen, "bad public key");
}

/* Reads the decrypted private section (checkints through padding). */
static int
parse_private(const uint8_t *p, size_t n, int encrypted, const lsh_key *pub,
              lsh_key **out, char **comment, char *errbuf, size_t errlen)
{
    uint32_t c1, c2;
    const uint8_t *cm;
    size_t cmlen;
    lsh_key *k = NULL;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, p, n);
    if (lsh_rd_u32(&rd, &c1) != 0 || lsh_rd_u32(&rd, &c2) != 0) {
        return bad(errbuf, errlen, "truncated private section");
    }
    if (c1 != c2) {
        /* §3: equal check integers are how a right passphrase shows. */
        return encrypted ? lsh__kf_err(errbuf, errlen, LSH_EBADPASSPHRASE,
                                       "incorrect passphrase")
                         : bad(errbuf, errlen, "check integers differ");
    }
    if ((r = read_private(&rd, &k, errbuf, errlen)) != 0) {
        return r;
    }
    if (lsh_rd_text(&rd, &cm, &cmlen) != 0) {
        r = bad(errbuf, errlen, "bad comment");
        goto out;
    }
    /* Padding 1, 2, 3, ... (shorter than a block: at most 255 bytes). */
    for (size_t i = 1; lsh_rd_remaining(&rd) > 0; i++) {
        uint8_t b = 0;
        if (lsh_rd_u8(&rd, &b) != 0 || i > 255 || b != i) {
            r = bad(errbuf, errlen, "bad padding");
            goto out;
        }
    }
    if (!lsh_key_equal_public(k, pub)) {
        r = bad(errbuf, errlen, "private key does not match its public key");
        goto out;
    }
    if ((*comment = lsh__kf_strndup(cm, cmlen)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    lsh_key_free(k);
    return r;
}

static int openssh_import(const uint8_t *bin, size_t n, const char *pass,
                          unsigned max_rounds, lsh_key **out, char **comment,
                          char *errbuf, size_t errlen);

/* A malformed file leaves nothing on OpenSSL's error queue. */
int
lsh__kf_openssh_import(const uint8_t *bin, size_t n, const char *pass,
                       unsigned max_rounds, lsh_key **out, char **comment,
                       char *errbuf, size_t errlen)
{
    int r;

    ERR_set_mark();
    r = openssh_import(bin, n, pass, max_rounds, out, comment, errbuf,
                       errlen);
    ERR_pop_to_mark();
    return r;
}

static int
openssh_import(const uint8_t *bin, size_t n, const char *pass,
               unsigned max_rounds, lsh_key **out, char **comment,
               char *errbuf, size_t errlen)
{
    uint8_t keyiv[64 + 16];
    uint8_t *plain = NULL;
    lsh_key *pub = NULL;
    struct header h;
    size_t kivlen = 0;
    int r;

    if ((r = parse_header(bin, n, max_rounds, &h, errbuf, errlen)) != 0 ||
        (r = parse_public(&h, &pub, errbuf, errlen)) != 0) {
        return r;
    }
    if (h.bcrypt && (pass == NULL || pass[0] == '\0')) {
        r = lsh__kf_err(errbuf, errlen, LSH_ENEEDPASSPHRASE,
                        "openssh-key-v1: key is encrypted");
        goto out;
    }
    if ((plain = malloc(h.enclen)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    memcpy(plain, h.enc, h.enclen);
    if (h.bcrypt) {
        uint8_t tag[16];
        kivlen = h.cipher->keylen + h.cipher->ivlen;
        memcpy(tag, h.tag, h.cipher->authlen);
        if ((r = lsh_bcrypt_pbkdf(pass, strlen(pass), h.salt, h.saltlen,
                                  keyiv, kivlen, h.rounds)) != 0) {
            goto out;
        }
        r = kf_crypt(h.cipher, 0, keyiv, plain, h.enclen, tag);
        if (r == LSH_EBADMAC) {
            r = lsh__kf_err(errbuf, errlen, LSH_EBADPASSPHRASE,
                            "incorrect passphrase");
        }
        if (r != 0) {
            goto out;
        }
    }
    r = parse_private(plain, h.enclen, h.bcrypt, pub, out, comment, errbuf,
                      errlen);
out:
    lsh_memzero(keyiv, sizeof(keyiv));
    lsh_freezero(plain, h.enclen);
    lsh_key_free(pub);
    return r;
}

/* ---- export ----------------------------------------------------------- */

static int
put_bn_param(lsh_buf *out, EVP_PKEY *pk, const char *param)
{
    BIGNUM *bn = NULL;
    uint8_t *mag = NULL;
    int len, r = LSH_ECRYPTO;

    if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1) {
        return LSH_ECRYPTO;
    }
    len = BN_num_bytes(bn);
    if ((mag = malloc(len > 0 ? (size_t)len : 1)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (BN_bn2bin(bn, mag) == len) {
        r = lsh_buf_put_mpint_unsigned(out, mag, (size_t)len);
    }
out:
    lsh_freezero(mag, len > 0 ? (size_t)len : 1);
    BN_clear_free(bn);
    return r;
}

static int
put_eddsa(const lsh_key *k, EVP_PKEY *pk, lsh_buf *out)
{
    uint8_t both[2 * 57];
    size_t pl = lsh_key_type(k) == LSH_KEY_ED25519 ? 32 : 57, a = pl, b = pl;
    int r = LSH_ECRYPTO;

    if (EVP_PKEY_get_raw_private_key(pk, both, &a) == 1 && a == pl &&
        EVP_PKEY_get_raw_public_key(pk, both + pl, &b) == 1 && b == pl) {
        if ((r = lsh_buf_put_string(out, both + pl, pl)) == 0) {
            r = lsh_buf_put_string(out, both, 2 * pl);
        }
    }
    lsh_memzero(both, sizeof(both));
    return r;
}

static int
put_sk(const lsh_key *k, lsh_buf *out)
{
    const uint8_t *handle;
    uint8_t flags = 0;
    size_t hlen = 0;
    int r;

    if ((handle = lsh__key_sk_handle(k, &flags, &hlen)) == NULL) {
        return LSH_EINVAL;
    }
    if ((r = lsh__key_put_fields(k, out)) != 0 ||
        (r = lsh_buf_put_u8(out, flags)) != 0 ||
        (r = lsh_buf_put_string(out, handle, hlen)) != 0) {
        return r;
    }
    return lsh_buf_put_string(out, "", 0);
}

/* Appends "string type, private fields" of k. */
static int
put_private(const lsh_key *k, lsh_buf *out)
{
    EVP_PKEY *pk = lsh__key_pkey(k);
    int r;

    if (!lsh_key_has_private(k)) {
        return LSH_EINVAL;
    }
    if ((r = lsh_buf_put_cstring(out, lsh_key_type_name(k))) != 0) {
        return r;
    }
    switch (lsh_key_type(k)) {
    case LSH_KEY_ED25519:
    case LSH_KEY_ED448:
        return put_eddsa(k, pk, out);
    case LSH_KEY_ECDSA_P256:
    case LSH_KEY_ECDSA_P384:
    case LSH_KEY_ECDSA_P521:
        if ((r = lsh__key_put_fields(k, out)) != 0) {
            return r;
        }
        return put_bn_param(out, pk, OSSL_PKEY_PARAM_PRIV_KEY);
    case LSH_KEY_RSA:
        if ((r = put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_N)) != 0 ||
            (r = put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_E)) != 0 ||
            (r = put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_D)) != 0 ||
            (r = put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1)) !=
                0 ||
            (r = put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_FACTOR1)) != 0) {
            return r;
        }
        return put_bn_param(out, pk, OSSL_PKEY_PARAM_RSA_FACTOR2);
    case LSH_KEY_SK_ED25519:
    case LSH_KEY_SK_ECDSA_P256:
        return put_sk(k, out);
    default:
        return LSH_EUNSUPPORTED; /* ssh-dss: import only */
    }
}

int
lsh__kf_put_private(const lsh_key *k, lsh_buf *out)
{
    return put_private(k, out);
}

/* Builds the private section: checkints, key, comment, padding. */
static int
build_private(const lsh_key *k, const char *comment, uint32_t check,
              size_t block, lsh_buf *sec)
{
    int r;

    if ((r = lsh_buf_put_u32(sec, check)) != 0 ||
        (r = lsh_buf_put_u32(sec, check)) != 0 ||
        (r = put_private(k, sec)) != 0 ||
        (r = lsh_buf_put_cstring(sec, comment != NULL ? comment : "")) !=
            0) {
        return r;
    }
    for (uint8_t i = 1; lsh_buf_len(sec) % block != 0; i++) {
        if ((r = lsh_buf_put_u8(sec, i)) != 0) {
            return r;
        }
    }
    return 0;
}

static int
build_kdfopts(const uint8_t *salt, unsigned rounds, lsh_buf *opts)
{
    int r;
    if ((r = lsh_buf_put_string(opts, salt, SALT_LEN)) != 0) {
        return r;
    }
    return lsh_buf_put_u32(opts, rounds);
}

int
lsh__kf_openssh_export(const lsh_key *k, const char *comment,
                       const char *pass, const char *cipher, unsigned rounds,
                       lsh_keyfile_rng_cb rng, void *rng_ctx, lsh_buf *out)
{
    const struct kf_cipher *c = &ciphers[0];
    uint8_t salt[SALT_LEN], keyiv[64 + 16], tag[16], rnd[4];
    lsh_buf sec, opts, file;
    int r;

    if (rng == NULL) {
        return LSH_EINVAL;
    }
    if (pass != NULL) {
        const char *name = cipher != NULL ? cipher : "aes256-ctr";
        if ((c = cipher_by_name(name, strlen(name))) == NULL) {
            return LSH_ENOALG;
        }
        if (c->kind == KC_NONE) {
            return LSH_EINVAL;
        }
        rounds = rounds == 0 ? LSH_KEYFILE_DEFAULT_KDF_ROUNDS : rounds;
        if (rounds > LSH_KEYFILE_MAX_KDF_ROUNDS) {
            return LSH_EINVAL;
        }
    }
    lsh_buf_init(&sec, LSH_KEYFILE_MAX_SIZE);
    lsh_buf_init(&opts, 0);
    lsh_buf_init(&file, LSH_KEYFILE_MAX_SIZE);
    /* PROTOCOL.key §3: random check integer; §2: salt (16 as ssh-keygen). */
    if ((r = rng(rng_ctx, rnd, sizeof(rnd))) != 0 ||
        (pass != NULL && (r = rng(rng_ctx, salt, sizeof(salt))) != 0)) {
        goto out;
    }
    if ((r = build_private(k, comment, lsh_peek_u32(rnd), c->block, &sec)) !=
        0) {
        goto out;
    }
    if (pass != NULL) {
        if ((r = build_kdfopts(salt, rounds, &opts)) != 0 ||
            (r = lsh_bcrypt_pbkdf(pass, strlen(pass), salt, sizeof(salt),
                                  keyiv, c->keylen + c->ivlen, rounds)) !=
                0 ||
            (r = kf_crypt(c, 1, keyiv, lsh_buf_ptr(&sec), lsh_buf_len(&sec),
                          tag)) != 0) {
            goto out;
        }
    }
    if ((r = lsh_buf_put(&file, MAGIC, sizeof(MAGIC))) != 0 ||
        (r = lsh_buf_put_cstring(&file, c->name)) != 0 ||
        (r = lsh_buf_put_cstring(&file, pass != NULL ? "bcrypt" : "none")) !=
            0 ||
        (r = put_bufstr(&file, &opts)) != 0 ||
        (r = lsh_buf_put_u32(&file, 1)) != 0) {
        goto out;
    }
    {
        size_t at = lsh_buf_len(&file);
        if ((r = lsh_buf_put_u32(&file, 0)) != 0 ||
            (r = lsh_key_to_blob(k, &file)) != 0 ||
            (r = lsh_buf_poke_u32(&file, at,
                                  (uint32_t)(lsh_buf_len(&file) - at - 4))) !=
                0) {
            goto out;
        }
    }
    if ((r = put_bufstr(&file, &sec)) != 0 ||
        (r = lsh_buf_put(&file, tag, c->authlen)) != 0) {
        goto out;
    }
    r = lsh__pem_write("OPENSSH PRIVATE KEY", lsh_buf_ptr(&file),
                       lsh_buf_len(&file), WRAP, out);
out:
    lsh_memzero(keyiv, sizeof(keyiv));
    lsh_buf_free(&sec);
    lsh_buf_free(&opts);
    lsh_buf_free(&file);
    return r;
}
