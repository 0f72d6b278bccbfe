/*
 * lsh_key: the type-independent half (lifetime, blobs, names, signature
 * blob framing, fingerprints).  The per-algorithm halves live in
 * key_eddsa.c, key_ecdsa.c, key_rsa.c, key_dsa.c and key_sk.c behind the
 * lsh__key_ops table.
 *
 * IMPLEMENTATION NOTES
 * A key is an EVP_PKEY plus, for security keys, the application string
 * (and optionally the key handle of a key file).  Everything the wire
 * sees is derived from the EVP_PKEY on demand: the blob is rebuilt for
 * fingerprints and comparisons, nothing is cached, so a key never holds
 * two copies of its truth.
 *
 * Verification maps every failure except allocation failure to
 * LSH_EBADSIG.  Verification and blob parsing pop whatever OpenSSL pushed
 * on its error queue, so that a peer's bad key or signature never leaves
 * stale errors behind for an unrelated later report.
 */
#include "ssh/keys/key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/mem.h"
#include "ssh/keys/key_impl.h"
#include "ssh/keys/key_internal.h"

/* Indexed by enum lsh_key_type. */
static const struct lsh__key_ops *const key_ops[LSH_KEY_TYPE_COUNT] = {
    [LSH_KEY_ED25519] = &lsh__key_ops_ed25519,
    [LSH_KEY_ED448] = &lsh__key_ops_ed448,
    [LSH_KEY_ECDSA_P256] = &lsh__key_ops_ecdsa_p256,
    [LSH_KEY_ECDSA_P384] = &lsh__key_ops_ecdsa_p384,
    [LSH_KEY_ECDSA_P521] = &lsh__key_ops_ecdsa_p521,
    [LSH_KEY_RSA] = &lsh__key_ops_rsa,
    [LSH_KEY_DSA] = &lsh__key_ops_dsa,
    [LSH_KEY_SK_ED25519] = &lsh__key_ops_sk_ed25519,
    [LSH_KEY_SK_ECDSA_P256] = &lsh__key_ops_sk_ecdsa_p256,
};

static const struct lsh__key_ops *
ops_of(enum lsh_key_type t)
{
    if ((unsigned)t >= LSH_KEY_TYPE_COUNT) {
        return NULL;
    }
    return key_ops[t];
}

/* The ops whose type name is name[0..n), or NULL. */
static const struct lsh__key_ops *
ops_by_name(const char *name, size_t n)
{
    for (size_t i = 0; i < LSH_KEY_TYPE_COUNT; i++) {
        const char *kn = key_ops[i]->name;
        if (strlen(kn) == n && memcmp(kn, name, n) == 0) {
            return key_ops[i];
        }
    }
    return NULL;
}

/* The signature algorithm of ops named name[0..n), or NULL. */
static const struct lsh__sigalg *
sigalg_by_name(const struct lsh__key_ops *ops, const char *name, size_t n)
{
    for (const struct lsh__sigalg *a = ops->sigalgs; a->name != NULL; a++) {
        if (strlen(a->name) == n && memcmp(a->name, name, n) == 0) {
            return a;
        }
    }
    return NULL;
}

/* Undoes appends made to out since it held `start` live bytes. */
static void
rollback(lsh_buf *out, size_t start)
{
    int r = lsh_buf_truncate(out, lsh_buf_len(out) - start);
    (void)r;
}

static lsh_key *
key_new(const struct lsh__key_ops *ops)
{
    lsh_key *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return NULL;
    }
    atomic_init(&k->refs, 1);
    k->ops = ops;
    return k;
}

lsh_key *
lsh_key_ref(lsh_key *k)
{
    if (k != NULL) {
        atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    }
    return k;
}

void
lsh_key_free(lsh_key *k)
{
    if (k == NULL ||
        atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    EVP_PKEY_free(k->pk);
    free(k->sk_app);
    lsh_freezero(k->sk_handle, k->sk_handlelen);
    lsh_freezero(k, sizeof(*k));
}

enum lsh_key_type
lsh_key_type(const lsh_key *k)
{
    return k->ops->type;
}

const char *
lsh_key_type_name(const lsh_key *k)
{
    return k->ops->name;
}

const char *
lsh_key_type_name_of(enum lsh_key_type type)
{
    const struct lsh__key_ops *ops = ops_of(type);
    return ops == NULL ? NULL : ops->name;
}

int
lsh_key_type_from_name(const char *name, enum lsh_key_type *out)
{
    const struct lsh__key_ops *ops = ops_by_name(name, strlen(name));
    if (ops == NULL) {
        return LSH_EKEYTYPE;
    }
    *out = ops->type;
    return 0;
}

int
lsh_key_type_from_sigalg(const char *sigalg, enum lsh_key_type *out)
{
    for (size_t i = 0; i < LSH_KEY_TYPE_COUNT; i++) {
        if (sigalg_by_name(key_ops[i], sigalg, strlen(sigalg)) != NULL) {
            *out = key_ops[i]->type;
            return 0;
        }
    }
    return LSH_EKEYTYPE;
}

int
lsh_key_sigalg_ok(const lsh_key *k, const char *sigalg)
{
    return sigalg != NULL &&
           sigalg_by_name(k->ops, sigalg, strlen(sigalg)) != NULL;
}

const char *
lsh_key_default_sigalg(const lsh_key *k)
{
    return k->ops->sigalgs[0].name;
}

const char *const *
lsh_key_sigalgs(const lsh_key *k)
{
    return k->ops->sigalg_names;
}

int
lsh_key_has_private(const lsh_key *k)
{
    return k->has_priv;
}

unsigned
lsh_key_bits(const lsh_key *k)
{
    if (k->ops->fixed_bits != 0) {
        return k->ops->fixed_bits;
    }
    return (unsigned)EVP_PKEY_get_bits(k->pk);
}

/*
 * Whether pk carries a private half.  The probes that do not apply to
 * pk's algorithm fail and push errors, which the mark discards.
 */
static int
pkey_has_private(EVP_PKEY *pk)
{
    static const char *const params[] = {
        OSSL_PKEY_PARAM_PRIV_KEY, /* EC, DSA */
        OSSL_PKEY_PARAM_RSA_D,
    };
    size_t len = 0;
    int found = 0;

    ERR_set_mark();
    if (EVP_PKEY_get_raw_private_key(pk, NULL, &len) == 1 && len > 0) {
        found = 1; /* EdDSA */
    }
    for (size_t i = 0; !found && i < sizeof(params) / sizeof(params[0]);
         i++) {
        BIGNUM *bn = NULL;
        if (EVP_PKEY_get_bn_param(pk, params[i], &bn) == 1) {
            found = 1;
        }
        BN_clear_free(bn);
    }
    ERR_pop_to_mark();
    return found;
}

int
lsh_key_generate(enum lsh_key_type type, unsigned bits, lsh_key **out)
{
    const struct lsh__key_ops *ops = ops_of(type);
    EVP_PKEY *pk = NULL;
    lsh_key *k;
    int r;

    if (ops == NULL) {
        return LSH_EINVAL;
    }
    if (ops->generate == NULL) {
        return LSH_EUNSUPPORTED;
    }
    if ((r = ops->generate(ops, bits, &pk)) != 0) {
        return r;
    }
    if ((k = key_new(ops)) == NULL) {
        EVP_PKEY_free(pk);
        return LSH_ENOMEM;
    }
    k->pk = pk;
    k->has_priv = 1;
    *out = k;
    return 0;
}

static int
is_sk(const lsh_key *k)
{
    return k->ops->type == LSH_KEY_SK_ED25519 ||
           k->ops->type == LSH_KEY_SK_ECDSA_P256;
}

lsh_key *
lsh__key_from_pkey(EVP_PKEY *pk, enum lsh_key_type t)
{
    const struct lsh__key_ops *ops = ops_of(t);
    lsh_key *k;

    if (pk == NULL) {
        return NULL;
    }
    if (ops == NULL || ops->match(ops, pk) != 0 ||
        (k = key_new(ops)) == NULL) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    k->pk = pk;
    /* A security key's private half is its handle, not in pk. */
    if (!is_sk(k)) {
        k->has_priv = pkey_has_private(pk);
    }
    return k;
}

EVP_PKEY *
lsh__key_pkey(const lsh_key *k)
{
    return k->pk;
}

/* Replaces *dst (of *dstlen bytes) with a copy of src[0..n). */
static int
replace_bytes(uint8_t **dst, size_t *dstlen, const uint8_t *src, size_t n)
{
    uint8_t *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) {
        return LSH_ENOMEM;
    }
    if (n > 0) {
        memcpy(copy, src, n);
    }
    lsh_freezero(*dst, *dstlen);
    *dst = copy;
    *dstlen = n;
    return 0;
}

int
lsh__key_sk_set_application(lsh_key *k, const uint8_t *app, size_t n)
{
    if (!is_sk(k)) {
        return LSH_EINVAL;
    }
    return replace_bytes(&k->sk_app, &k->sk_applen, app, n);
}

const uint8_t *
lsh__key_sk_application(const lsh_key *k, size_t *n)
{
    if (!is_sk(k)) {
        return NULL;
    }
    *n = k->sk_applen;
    return k->sk_app != NULL ? k->sk_app : (const uint8_t *)"";
}

int
lsh__key_sk_set_handle(lsh_key *k, uint8_t flags, const uint8_t *handle,
                       size_t n)
{
    int r;
    if (!is_sk(k)) {
        return LSH_EINVAL;
    }
    if ((r = replace_bytes(&k->sk_handle, &k->sk_handlelen, handle, n)) !=
        0) {
        return r;
    }
    k->sk_flags = flags;
    k->has_priv = 1;
    return 0;
}

const uint8_t *
lsh__key_sk_handle(const lsh_key *k, uint8_t *flags, size_t *n)
{
    if (!is_sk(k) || k->sk_handle == NULL) {
        return NULL;
    }
    *flags = k->sk_flags;
    *n = k->sk_handlelen;
    return k->sk_handle;
}

int
lsh__key_parse_fields(enum lsh_key_type t, lsh_rd *rd, lsh_key **out)
{
    const struct lsh__key_ops *ops = ops_of(t);
    lsh_rd save = *rd;
    lsh_key *k;
    int r;

    if (ops == NULL) {
        return LSH_EINVAL;
    }
    if ((k = key_new(ops)) == NULL) {
        return LSH_ENOMEM;
    }
    /* A peer's malformed key leaves nothing on OpenSSL's error queue. */
    ERR_set_mark();
    r = ops->parse(k, rd);
    ERR_pop_to_mark();
    if (r != 0) {
        *rd = save;
        lsh_key_free(k);
        return r;
    }
    *out = k;
    return 0;
}

/* RFC 4253 §6.6: string key-type-name, then type-specific fields. */
int
lsh_key_from_blob(const uint8_t *blob, size_t n, lsh_key **out)
{
    const struct lsh__key_ops *ops;
    const uint8_t *name;
    size_t namelen;
    lsh_key *k = NULL;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, blob, n);
    if ((r = lsh_rd_text(&rd, &name, &namelen)) != 0) {
        return r;
    }
    if ((ops = ops_by_name((const char *)name, namelen)) == NULL) {
        return LSH_EKEYTYPE;
    }
    if ((r = lsh__key_parse_fields(ops->type, &rd, &k)) != 0) {
        return r;
    }
    if ((r = lsh_rd_end(&rd)) != 0) {
        lsh_key_free(k);
        return r;
    }
    *out = k;
    return 0;
}

int
lsh__key_put_fields(const lsh_key *k, lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    int r = k->ops->put(k, out);
    if (r != 0) {
        rollback(out, start);
    }
    return r;
}

int
lsh_key_to_blob(const lsh_key *k, lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    int r;

    if ((r = lsh_buf_put_cstring(out, k->ops->name)) != 0 ||
        (r = k->ops->put(k, out)) != 0) {
        rollback(out, start);
    }
    return r;
}

int
lsh_key_equal_public(const lsh_key *a, const lsh_key *b)
{
    lsh_buf ba, bb;
    int eq = 0;

    if (a == NULL || b == NULL || a->ops != b->ops) {
        return 0;
    }
    lsh_buf_init(&ba, 0);
    lsh_buf_init(&bb, 0);
    if (lsh_key_to_blob(a, &ba) == 0 && lsh_key_to_blob(b, &bb) == 0) {
        eq = lsh_buf_len(&ba) == lsh_buf_len(&bb) &&
             memcmp(lsh_buf_ptr(&ba), lsh_buf_ptr(&bb), lsh_buf_len(&ba)) ==
                 0;
    }
    lsh_buf_free(&ba);
    lsh_buf_free(&bb);
    return eq;
}

lsh_key *
lsh_key_public_copy(const lsh_key *k)
{
    lsh_key *copy = NULL;
    lsh_buf b;

    lsh_buf_init(&b, 0);
    if (lsh_key_to_blob(k, &b) != 0 ||
        lsh_key_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b), &copy) != 0) {
        copy = NULL;
    }
    lsh_buf_free(&b);
    return copy;
}

int
lsh_key_sign(const lsh_key *k, const char *sigalg, const uint8_t *data,
             size_t n, lsh_buf *out)
{
    const struct lsh__sigalg *alg;
    size_t start = lsh_buf_len(out);
    int r;

    if (k->ops->sign == NULL) {
        return LSH_EUNSUPPORTED;
    }
    if (!k->has_priv) {
        return LSH_EINVAL;
    }
    if (sigalg == NULL) {
        alg = &k->ops->sigalgs[0];
    } else if ((alg = sigalg_by_name(k->ops, sigalg, strlen(sigalg))) ==
               NULL) {
        return LSH_ENOALG;
    }
    if ((r = lsh_buf_put_cstring(out, alg->name)) != 0 ||
        (r = k->ops->sign(k, alg, data, n, out)) != 0) {
        rollback(out, start);
    }
    return r;
}

static int
verify_blob(const lsh_key *k, const char *sigalg, const uint8_t *sig,
            size_t siglen, const uint8_t *data, size_t n,
            lsh_key_sig_info *info)
{
    const struct lsh__sigalg *alg;
    const uint8_t *name;
    size_t namelen;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, sig, siglen);
    if ((r = lsh_rd_text(&rd, &name, &namelen)) != 0) {
        return r;
    }
    alg = sigalg_by_name(k->ops, (const char *)name, namelen);
    if (alg == NULL || (sigalg != NULL && strcmp(alg->name, sigalg) != 0)) {
        return LSH_EBADSIG;
    }
    return k->ops->verify(k, alg, &rd, data, n, info);
}

int
lsh_key_verify_ex(const lsh_key *k, const char *sigalg, const uint8_t *sig,
                  size_t siglen, const uint8_t *data, size_t n,
                  lsh_key_sig_info *info)
{
    lsh_key_sig_info tmp = {0, 0};
    int r;

    ERR_set_mark();
    r = verify_blob(k, sigalg, sig, siglen, data, n, &tmp);
    ERR_pop_to_mark();
    if (r != 0) {
        return r == LSH_ENOMEM ? r : LSH_EBADSIG;
    }
    if (info != NULL) {
        *info = tmp;
    }
    return 0;
}

int
lsh_key_verify(const lsh_key *k, const char *sigalg, const uint8_t *sig,
               size_t siglen, const uint8_t *data, size_t n)
{
    return lsh_key_verify_ex(k, sigalg, sig, siglen, data, n, NULL);
}

/* Writes "SHA256:" + unpadded base64 (as ssh-keygen -l prints it). */
static int
fp_sha256(const uint8_t *md, char *out, size_t outlen)
{
    static const char prefix[] = "SHA256:";
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, md, 32);

    while (n > 0 && b64[n - 1] == '=') {
        n--;
    }
    if (sizeof(prefix) - 1 + (size_t)n + 1 > outlen) {
        return LSH_ETOOLARGE;
    }
    memcpy(out, prefix, sizeof(prefix) - 1);
    memcpy(out + sizeof(prefix) - 1, b64, (size_t)n);
    out[sizeof(prefix) - 1 + (size_t)n] = '\0';
    return 0;
}

/* Writes "MD5:" + colon-separated lowercase hex. */
static int
fp_md5(const uint8_t *md, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t pos = 4;

    if (4 + 16 * 3 > outlen) {
        return LSH_ETOOLARGE;
    }
    memcpy(out, "MD5:", 4);
    for (size_t i = 0; i < 16; i++) {
        out[pos++] = hex[md[i] >> 4];
        out[pos++] = hex[md[i] & 15];
        out[pos++] = i < 15 ? ':' : '\0';
    }
    return 0;
}

int
lsh_key_fingerprint(const lsh_key *k, const char *hash, char *out,
                    size_t outlen)
{
    const EVP_MD *md;
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    lsh_buf blob;
    int r, is_sha256;

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (strcmp(hash, "sha256") == 0) {
        md = EVP_sha256();
        is_sha256 = 1;
    } else if (strcmp(hash, "md5") == 0) {
        md = EVP_md5();
        is_sha256 = 0;
    } else {
        return LSH_EINVAL;
    }
    lsh_buf_init(&blob, 0);
    if ((r = lsh_key_to_blob(k, &blob)) != 0) {
        goto out;
    }
    if (EVP_Digest(lsh_buf_ptr(&blob), lsh_buf_len(&blob), digest, &dlen, md,
                   NULL) != 1) {
        r = LSH_ECRYPTO;
        goto out;
    }
    r = is_sha256 ? fp_sha256(digest, out, outlen)
                  : fp_md5(digest, out, outlen);
    if (r != 0 && outlen > 0) {
        out[0] = '\0';
    }
out:
    lsh_buf_free(&blob);
    return r;
}

/*
 * Shared helpers for the algorithm files.
 */

int
lsh__pkey_sign(EVP_PKEY *pk, const char *md, const uint8_t *data, size_t n,
               uint8_t **sig, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = LSH_ECRYPTO;

    if (ctx == NULL) {
        return LSH_ENOMEM;
    }
    /* EdDSA takes no digest and signs in one shot (RFC 8032 PureEdDSA). */
    if (EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pk, NULL) != 1 ||
        EVP_DigestSign(ctx, NULL, &len, data, n) != 1) {
        goto out;
    }
    if ((buf = malloc(len)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (EVP_DigestSign(ctx, buf, &len, data, n) != 1) {
        goto out;
    }
    *sig = buf;
    *siglen = len;
    buf = NULL;
    r = 0;
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return r;
}

int
lsh__pkey_verify(EVP_PKEY *pk, const char *md, const uint8_t *sig,
                 size_t siglen, const uint8_t *data, size_t n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = LSH_EBADSIG;

    if (ctx == NULL) {
        return LSH_ENOMEM;
    }
    if (EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pk, NULL) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, data, n) == 1) {
        r = 0;
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

int
lsh__pkey_fromdata(const char *alg, const OSSL_PARAM *params, EVP_PKEY **out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    EVP_PKEY *pk = NULL;
    int r = LSH_EBADKEY;

    if (ctx == NULL) {
        return LSH_ECRYPTO;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY,
                          (OSSL_PARAM *)params) != 1) {
        goto out;
    }
    *out = pk;
    r = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    return r;
}

int
lsh__put_bn(lsh_buf *out, const BIGNUM *bn)
{
    uint8_t *mag;
    int len = BN_num_bytes(bn), r = LSH_ECRYPTO;
    size_t cap = len > 0 ? (size_t)len : 1;

    if (BN_is_negative(bn)) {
        return LSH_EINVAL;
    }
    if ((mag = malloc(cap)) == NULL) {
        return LSH_ENOMEM;
    }
    if (BN_bn2bin(bn, mag) == len) {
        r = lsh_buf_put_mpint_unsigned(out, mag, (size_t)len);
    }
    lsh_freezero(mag, cap);
    return r;
}

int
lsh__put_bn_param(lsh_buf *out, EVP_PKEY *pk, const char *param)
{
    BIGNUM *bn = NULL;
    int r;

    if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1) {
        return LSH_ECRYPTO;
    }
    r = lsh__put_bn(out, bn);
    BN_clear_free(bn);
    return r;
}

unsigned
lsh__mag_bits(const uint8_t *mag, size_t n)
{
    unsigned bits;
    uint8_t top;

    if (n == 0) {
        return 0;
    }
    bits = (unsigned)(n - 1) * 8;
    for (top = mag[0]; top != 0; top >>= 1) {
        bits++;
    }
    return bits;
}
