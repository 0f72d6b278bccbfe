/*
 * PKCS#1 (RFC 8017 Appendix A), SEC1 (RFC 5915), PKCS#8 (RFC 5208,
 * RFC 5958) and SubjectPublicKeyInfo (RFC 5280 §4.1) key files, in PEM
 * (RFC 7468) and DER, through OpenSSL's OSSL_DECODER / OSSL_ENCODER.
 *
 * OpenSSL does the ASN.1 and the PEM/PKCS#8 decryption; this file maps
 * its keys to lsh_key types and its failures to our codes.  Whether a
 * failed decode was a wrong passphrase is told by the passphrase callback
 * having been called: OpenSSL asks only for encrypted input.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/mem.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/keyfile_internal.h"

struct pw {
    const char *pass;
    int asked;
};

static int
pw_cb(char *buf, size_t size, size_t *len, const OSSL_PARAM params[],
      void *arg)
{
    struct pw *pw = arg;
    size_t n;

    (void)params;
    pw->asked = 1;
    if (pw->pass == NULL || (n = strlen(pw->pass)) > size) {
        return 0;
    }
    memcpy(buf, pw->pass, n);
    *len = n;
    return 1;
}

static const struct {
    const char *group;
    enum lsh_key_type type;
} ec_groups[] = {
    {"prime256v1", LSH_KEY_ECDSA_P256}, {"P-256", LSH_KEY_ECDSA_P256},
    {"secp384r1", LSH_KEY_ECDSA_P384},  {"P-384", LSH_KEY_ECDSA_P384},
    {"secp521r1", LSH_KEY_ECDSA_P521},  {"P-521", LSH_KEY_ECDSA_P521},
};

static int
type_of_pkey(EVP_PKEY *pk, enum lsh_key_type *t, char *errbuf, size_t errlen)
{
    char group[64];

    if (EVP_PKEY_is_a(pk, "ED25519")) {
        *t = LSH_KEY_ED25519;
    } else if (EVP_PKEY_is_a(pk, "ED448")) {
        *t = LSH_KEY_ED448;
    } else if (EVP_PKEY_is_a(pk, "RSA")) {
        int bits = EVP_PKEY_get_bits(pk);
        if (bits < LSH_KEY_RSA_MIN_BITS || bits > LSH_KEY_RSA_MAX_BITS) {
            return lsh__kf_err(errbuf, errlen, LSH_EKEYSIZE,
                               "RSA key of %d bits", bits);
        }
        *t = LSH_KEY_RSA;
    } else if (EVP_PKEY_is_a(pk, "DSA")) {
        *t = LSH_KEY_DSA;
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group),
                                           NULL) != 1) {
            return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                               "EC key without a named curve");
        }
        for (size_t i = 0; i < sizeof(ec_groups) / sizeof(ec_groups[0]);
             i++) {
            if (strcmp(group, ec_groups[i].group) == 0) {
                *t = ec_groups[i].type;
                return 0;
            }
        }
        return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                           "unsupported EC curve '%s'", group);
    } else {
        const char *name = EVP_PKEY_get0_type_name(pk);
        return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                           "unsupported key algorithm '%s'",
                           name != NULL ? name : "?");
    }
    return 0;
}

/* The public key written as a blob must parse back as the same key. */
static int
blob_check(const lsh_key *k)
{
    lsh_key *k2 = NULL;
    lsh_buf blob;
    int r;

    lsh_buf_init(&blob, 0);
    if ((r = lsh_key_to_blob(k, &blob)) == 0 &&
        (r = lsh_key_from_blob(lsh_buf_ptr(&blob), lsh_buf_len(&blob),
                               &k2)) == 0 &&
        !lsh_key_equal_public(k, k2)) {
        r = LSH_EBADKEY;
    }
    if (r != 0 && r != LSH_ENOMEM && r != LSH_EKEYSIZE) {
        r = LSH_EBADKEY;
    }
    lsh_key_free(k2);
    lsh_buf_free(&blob);
    return r;
}

int
lsh__kf_key_from_pkey(EVP_PKEY *pk, lsh_key **out, char *errbuf,
                      size_t errlen)
{
    enum lsh_key_type t = LSH_KEY_ED25519;
    lsh_key *k;
    int r;

    if ((r = type_of_pkey(pk, &t, errbuf, errlen)) != 0) {
        EVP_PKEY_free(pk);
        return r;
    }
    if ((k = lsh__key_from_pkey(pk, t)) == NULL) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "key not usable as %s", lsh_key_type_name_of(t));
    }
    /*
     * OpenSSL's decoders check little; the SSH blob parser checks the
     * public key fully (points on the curve, RSA exponent, DSA sizes and
     * y's order), so every key goes through it once.
     */
    if ((r = blob_check(k)) != 0) {
        lsh_key_free(k);
        return r == LSH_EBADKEY || r == LSH_EKEYSIZE
                   ? lsh__kf_err(errbuf, errlen, r,
                                 "%s public key fails the SSH key checks",
                                 lsh_key_type_name_of(t))
                   : r;
    }
    *out = k;
    return 0;
}

/*
 * Decodes data[0..n) as `input` ("PEM" or "DER") for `selection`.
 * *asked tells whether OpenSSL wanted a passphrase; *rest the bytes it
 * left unread.
 */
static int
decode(const uint8_t *data, size_t n, const char *input, int selection,
       const char *pass, EVP_PKEY **out, int *asked, size_t *rest)
{
    OSSL_DECODER_CTX *dctx;
    struct pw pw = {pass, 0};
    const unsigned char *p = data;
    EVP_PKEY *pk = NULL;
    size_t len = n;
    int ok;

    ERR_set_mark();
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pk, input, NULL, NULL, selection,
                                         NULL, NULL);
    if (dctx == NULL) {
        ERR_pop_to_mark();
        return LSH_ECRYPTO;
    }
    ok = OSSL_DECODER_CTX_set_passphrase_cb(dctx, pw_cb, &pw) == 1 &&
         OSSL_DECODER_from_data(dctx, &p, &len) == 1 && pk != NULL;
    OSSL_DECODER_CTX_free(dctx);
    ERR_pop_to_mark();
    *asked = pw.asked;
    *rest = len;
    if (!ok) {
        EVP_PKEY_free(pk);
        return LSH_EBADKEY;
    }
    *out = pk;
    return 0;
}

int
lsh__kf_pkcs_import_private(const uint8_t *data, size_t n, int pem,
                            const char *pass, lsh_key **out, char *errbuf,
                            size_t errlen)
{
    const char *what = pem ? "PEM" : "DER";
    EVP_PKEY *pk = NULL;
    lsh_key *k = NULL;
    size_t rest = 0;
    int asked = 0, r;

    if (pass != NULL && pass[0] == '\0') {
        pass = NULL;
    }
    r = decode(data, n, what, EVP_PKEY_KEYPAIR, pass, &pk, &asked, &rest);
    if (r == LSH_EBADKEY && asked) {
        return pass != NULL ? lsh__kf_err(errbuf, errlen, LSH_EBADPASSPHRASE,
                                          "incorrect passphrase")
                            : lsh__kf_err(errbuf, errlen,
                                          LSH_ENEEDPASSPHRASE,
                                          "%s: key is encrypted", what);
    }
    if (r == LSH_EBADKEY) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "%s: not a private key OpenSSL can decode", what);
    }
    if (r != 0) {
        return r;
    }
    if (!pem && rest != 0) {
        EVP_PKEY_free(pk);
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "DER: %zu trailing bytes", rest);
    }
    if ((r = lsh__kf_key_from_pkey(pk, &k, errbuf, errlen)) != 0) {
        return r;
    }
    if (!lsh_key_has_private(k)) {
        lsh_key_free(k);
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "%s: public key where a private key was "
                           "expected", what);
    }
    if ((r = lsh__kf_check_private(lsh__key_pkey(k), lsh_key_type(k))) != 0) {
        const char *tname = lsh_key_type_name(k); /* static storage */
        lsh_key_free(k);
        return r == LSH_EBADKEY
                   ? lsh__kf_err(errbuf, errlen, r,
                                 "%s: inconsistent %s private key", what,
                                 tname)
                   : r;
    }
    *out = k;
    return 0;
}

int
lsh__kf_pkcs_import_public(const uint8_t *data, size_t n, int pem,
                           lsh_key **out, char *errbuf, size_t errlen)
{
    const char *what = pem ? "PEM" : "DER";
    EVP_PKEY *pk = NULL;
    lsh_key *k = NULL;
    size_t rest = 0;
    int asked = 0, r;

    r = decode(data, n, what, EVP_PKEY_PUBLIC_KEY, NULL, &pk, &asked, &rest);
    if (r == LSH_EBADKEY) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "%s: not a public key OpenSSL can decode", what);
    }
    if (r != 0) {
        return r;
    }
    if (!pem && rest != 0) {
        EVP_PKEY_free(pk);
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "DER: %zu trailing bytes", rest);
    }
    if ((r = lsh__kf_key_from_pkey(pk, &k, errbuf, errlen)) != 0) {
        return r;
    }
    if (lsh_key_has_private(k)) {
        lsh_key_free(k);
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "%s: private key where a public key was "
                           "expected", what);
    }
    *out = k;
    return 0;
}

/* ---- export ----------------------------------------------------------- */

static const char *
evp_cipher_name(const char *cipher)
{
    static const struct {
        const char *ssh, *evp;
    } names[] = {
        {"aes128-cbc", "AES-128-CBC"},
        {"aes192-cbc", "AES-192-CBC"},
        {"aes256-cbc", "AES-256-CBC"},
    };
    if (cipher == NULL) {
        return "AES-256-CBC";
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(cipher, names[i].ssh) == 0) {
            return names[i].evp;
        }
    }
    return NULL;
}

/* Types OpenSSL can hold: not the security keys. */
static int
pkcs_type_ok(enum lsh_key_type t, int pkcs8, int private)
{
    switch (t) {
    case LSH_KEY_RSA:
        return 1;
    case LSH_KEY_ECDSA_P256:
    case LSH_KEY_ECDSA_P384:
    case LSH_KEY_ECDSA_P521:
        return pkcs8 || private; /* SEC1 has no public key structure */
    case LSH_KEY_ED25519:
    case LSH_KEY_ED448:
        return pkcs8;
    case LSH_KEY_DSA:
        return pkcs8 && !private; /* import only */
    default:
        return 0;
    }
}

static int
encode(EVP_PKEY *pk, int selection, int pem, const char *structure,
       const char *pass, const char *evpcipher, lsh_buf *out)
{
    OSSL_ENCODER_CTX *ectx;
    unsigned char *data = NULL;
    size_t len = 0;
    int r = LSH_ECRYPTO;

    ERR_set_mark();
    ectx = OSSL_ENCODER_CTX_new_for_pkey(pk, selection, pem ? "PEM" : "DER",
                                         structure, NULL);
    if (ectx == NULL) {
        goto out;
    }
    if (OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
        r = LSH_EUNSUPPORTED;
        goto out;
    }
    if (pass != NULL &&
        (OSSL_ENCODER_CTX_set_cipher(ectx, evpcipher, NULL) != 1 ||
         OSSL_ENCODER_CTX_set_passphrase(ectx, (const unsigned char *)pass,
                                         strlen(pass)) != 1)) {
        goto out;
    }
    if (OSSL_ENCODER_to_data(ectx, &data, &len) != 1 || data == NULL) {
        goto out;
    }
    r = lsh_buf_put(out, data, len);
out:
    OPENSSL_clear_free(data, len);
    OSSL_ENCODER_CTX_free(ectx);
    ERR_pop_to_mark();
    return r;
}

int
lsh__kf_pkcs_export_private(const lsh_key *k, int pkcs8, int pem,
                            const char *pass, const char *cipher,
                            lsh_buf *out)
{
    const char *evpcipher = NULL, *structure;

    if (!pkcs_type_ok(lsh_key_type(k), pkcs8, 1)) {
        return LSH_EUNSUPPORTED;
    }
    if (pass != NULL && (evpcipher = evp_cipher_name(cipher)) == NULL) {
        return LSH_ENOALG;
    }
    /*
     * "type-specific" is PKCS#1 RSAPrivateKey / SEC1 ECPrivateKey; with
     * a cipher OpenSSL writes the legacy Proc-Type/DEK-Info PEM.  For
     * PKCS#8 with a cipher it writes PBES2 with PBKDF2-HMAC-SHA256.
     */
    if (pkcs8) {
        structure = pass != NULL ? "EncryptedPrivateKeyInfo"
                                 : "PrivateKeyInfo";
    } else {
        structure = "type-specific";
    }
    return encode(lsh__key_pkey(k), EVP_PKEY_KEYPAIR, pem, structure, pass,
                  evpcipher, out);
}

int
lsh__kf_pkcs_export_public(const lsh_key *k, int pkcs8, int pem,
                           lsh_buf *out)
{
    if (!pkcs_type_ok(lsh_key_type(k), pkcs8, 0)) {
        return LSH_EUNSUPPORTED;
    }
    return encode(lsh__key_pkey(k), EVP_PKEY_PUBLIC_KEY, pem,
                  pkcs8 ? "SubjectPublicKeyInfo" : "type-specific", NULL,
                  NULL, out);
}
