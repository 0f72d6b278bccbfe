/*
 * Private to src/ssh/keys/key*.c: the lsh_key structure and the table of
 * per-algorithm operations (one lsh__key_ops per key type, defined in
 * key_eddsa.c, key_ecdsa.c, key_rsa.c, key_dsa.c and key_sk.c).
 * Other modules use key.h and key_internal.h.
 */
#ifndef LSH_SSH_KEYS_KEY_IMPL_H
#define LSH_SSH_KEYS_KEY_IMPL_H

#include <stdatomic.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/keys/key.h"

struct lsh__key_ops;

struct lsh_key {
    atomic_int refs;
    const struct lsh__key_ops *ops;
    EVP_PKEY *pk;  /* owned; the public half at least */
    int has_priv;  /* pk holds a private half, or sk_handle is set */
    uint8_t *sk_app; /* security keys: application, owned */
    size_t sk_applen;
    uint8_t *sk_handle; /* security keys: key handle, owned, secret */
    size_t sk_handlelen;
    uint8_t sk_flags;
};

/*
 * One signature algorithm a key type supports and the digest it uses
 * (NULL for the EdDSA ones, which hash internally).
 */
struct lsh__sigalg {
    const char *name;
    const char *md;
};

struct lsh__key_ops {
    enum lsh_key_type type;
    const char *name;                 /* key type name in blobs */
    const struct lsh__sigalg *sigalgs; /* best (default) first, {NULL} ends */
    const char *const *sigalg_names;  /* the same names, NULL-terminated */
    unsigned fixed_bits;              /* 0: ask OpenSSL */
    const void *param;                /* per-type data (ECDSA curve) */

    /* A new private key; NULL when this type cannot be generated. */
    int (*generate)(const struct lsh__key_ops *ops, unsigned bits,
                    EVP_PKEY **out);
    /*
     * Reads the public fields after the type name from rd and sets k->pk
     * (and the security-key application).  No lsh_rd_end.
     */
    int (*parse)(lsh_key *k, lsh_rd *rd);
    /* Appends the public fields after the type name. */
    int (*put)(const lsh_key *k, lsh_buf *out);
    /* 0 if pk is a key of this type, LSH_EKEYTYPE / LSH_EKEYSIZE if not. */
    int (*match)(const struct lsh__key_ops *ops, EVP_PKEY *pk);
    /*
     * Appends the signature fields after the algorithm name (for most
     * types one string); NULL when this module cannot sign with the type.
     */
    int (*sign)(const lsh_key *k, const struct lsh__sigalg *alg,
                const uint8_t *data, size_t n, lsh_buf *out);
    /*
     * Reads the signature fields after the algorithm name, ending with
     * lsh_rd_end, and checks the signature: 0 or a negative code (the
     * caller maps every failure but LSH_ENOMEM to LSH_EBADSIG).
     */
    int (*verify)(const lsh_key *k, const struct lsh__sigalg *alg,
                  lsh_rd *rd, const uint8_t *data, size_t n,
                  lsh_key_sig_info *info);
};

extern const struct lsh__key_ops lsh__key_ops_ed25519;
extern const struct lsh__key_ops lsh__key_ops_ed448;
extern const struct lsh__key_ops lsh__key_ops_ecdsa_p256;
extern const struct lsh__key_ops lsh__key_ops_ecdsa_p384;
extern const struct lsh__key_ops lsh__key_ops_ecdsa_p521;
extern const struct lsh__key_ops lsh__key_ops_rsa;
extern const struct lsh__key_ops lsh__key_ops_dsa;
extern const struct lsh__key_ops lsh__key_ops_sk_ed25519;
extern const struct lsh__key_ops lsh__key_ops_sk_ecdsa_p256;

/*
 * Helpers shared by the algorithm files (key.c).
 *
 * lsh__pkey_sign: signs data with pk and digest md (NULL for EdDSA) into
 * a malloc'd buffer *sig of *siglen bytes (caller frees).
 * lsh__pkey_verify: 0 if sig is valid over data, LSH_EBADSIG if not.
 */
int lsh__pkey_sign(EVP_PKEY *pk, const char *md, const uint8_t *data,
                   size_t n, uint8_t **sig, size_t *siglen);
int lsh__pkey_verify(EVP_PKEY *pk, const char *md, const uint8_t *sig,
                     size_t siglen, const uint8_t *data, size_t n);

/* Builds a public key of algorithm `alg` ("RSA", "EC", ...) from params. */
int lsh__pkey_fromdata(const char *alg, const OSSL_PARAM *params,
                       EVP_PKEY **out);

/* Appends a non-negative BIGNUM as an mpint (RFC 4251 §5). */
int lsh__put_bn(lsh_buf *out, const BIGNUM *bn);

/* Appends the mpint of a BIGNUM-valued parameter of pk. */
int lsh__put_bn_param(lsh_buf *out, EVP_PKEY *pk, const char *param);

/* Number of significant bits of a big-endian magnitude without leading 0s. */
unsigned lsh__mag_bits(const uint8_t *mag, size_t n);

/*
 * ECDSA pieces shared with the security-key type (key_ecdsa.c); `ops` is
 * the ECDSA ops of the curve (lsh__key_ops_ecdsa_p256 for sk keys).
 * lsh__ecdsa_parse_point: reads "string curve-name, string Q" for the
 * curve of ops and builds the public key.
 * lsh__ecdsa_put_point: writes them.
 * lsh__ecdsa_match: 0 if pk is an EC key on that curve (and makes it
 * export its point uncompressed).
 * lsh__ecdsa_sig_der: reads the RFC 5656 §3.1.2 signature (mpint r,
 * mpint s, nothing else) from rd, checks 0 < r, s < order and returns
 * the DER form (malloc'd, caller frees).
 */
int lsh__ecdsa_parse_point(const struct lsh__key_ops *ops, lsh_rd *rd,
                           EVP_PKEY **out);
int lsh__ecdsa_put_point(const struct lsh__key_ops *ops, EVP_PKEY *pk,
                         lsh_buf *out);
int lsh__ecdsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk);
int lsh__ecdsa_sig_der(const struct lsh__key_ops *ops, lsh_rd *rd,
                       uint8_t **der, size_t *derlen);

/*
 * EdDSA pieces shared with the security-key type (key_eddsa.c): reads
 * "string key" of exactly publen bytes as an OpenSSL `alg` public key,
 * and writes it.
 */
int lsh__eddsa_parse_raw(const char *alg, size_t publen, lsh_rd *rd,
                         EVP_PKEY **out);
int lsh__eddsa_put_raw(EVP_PKEY *pk, lsh_buf *out);

#endif
