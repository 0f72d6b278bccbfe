/*
 * ssh-ed25519 and ssh-ed448 keys (RFC 8709).
 *
 *   blob:       string "ssh-ed25519", string key (32 bytes)      §4
 *               string "ssh-ed448",   string key (57 bytes)
 *   signature:  string "ssh-ed25519", string signature (64 bytes) §6
 *               string "ssh-ed448",   string signature (114 bytes)
 *
 * The signature is PureEdDSA (RFC 8032 §5.1.6, §5.2.6) over the data
 * itself, hence OpenSSL's one-shot EVP_DigestSign with no digest.
 */
#include <string.h>

#include <openssl/evp.h>

#include "common/mem.h"
#include "ssh/keys/key_impl.h"

struct eddsa_param {
    const char *alg; /* OpenSSL algorithm name */
    size_t publen;
    size_t siglen;
};

static const struct eddsa_param ed25519_param = {"ED25519", 32, 64};
static const struct eddsa_param ed448_param = {"ED448", 57, 114};

int
lsh__eddsa_parse_raw(const char *alg, size_t publen, lsh_rd *rd,
                     EVP_PKEY **out)
{
    const uint8_t *pub;
    size_t len;
    EVP_PKEY *pk;
    int r;

    if ((r = lsh_rd_string(rd, &pub, &len)) != 0) {
        return r;
    }
    if (len != publen) {
        return LSH_EBADKEY;
    }
    pk = EVP_PKEY_new_raw_public_key_ex(NULL, alg, NULL, pub, len);
    if (pk == NULL) {
        return LSH_EBADKEY;
    }
    *out = pk;
    return 0;
}

int
lsh__eddsa_put_raw(EVP_PKEY *pk, lsh_buf *out)
{
    uint8_t pub[64];
    size_t len = sizeof(pub);

    if (EVP_PKEY_get_raw_public_key(pk, pub, &len) != 1) {
        return LSH_ECRYPTO;
    }
    return lsh_buf_put_string(out, pub, len);
}

static int
eddsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    const struct eddsa_param *p = ops->param;
    return EVP_PKEY_is_a(pk, p->alg) ? 0 : LSH_EKEYTYPE;
}

static int
eddsa_generate(const struct lsh__key_ops *ops, unsigned bits, EVP_PKEY **out)
{
    const struct eddsa_param *p = ops->param;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, p->alg);

    (void)bits;
    if (pk == NULL) {
        return LSH_ECRYPTO;
    }
    *out = pk;
    return 0;
}

static int
eddsa_parse(lsh_key *k, lsh_rd *rd)
{
    const struct eddsa_param *p = k->ops->param;
    return lsh__eddsa_parse_raw(p->alg, p->publen, rd, &k->pk);
}

static int
eddsa_put(const lsh_key *k, lsh_buf *out)
{
    return lsh__eddsa_put_raw(k->pk, out);
}

static int
eddsa_sign(const lsh_key *k, const struct lsh__sigalg *alg,
           const uint8_t *data, size_t n, lsh_buf *out)
{
    uint8_t *sig = NULL;
    size_t siglen = 0;
    int r;

    if ((r = lsh__pkey_sign(k->pk, alg->md, data, n, &sig, &siglen)) != 0) {
        return r;
    }
    r = lsh_buf_put_string(out, sig, siglen);
    lsh_freezero(sig, siglen);
    return r;
}

static int
eddsa_verify(const lsh_key *k, const struct lsh__sigalg *alg, lsh_rd *rd,
             const uint8_t *data, size_t n, lsh_key_sig_info *info)
{
    const struct eddsa_param *p = k->ops->param;
    const uint8_t *sig;
    size_t siglen;
    int r;

    (void)info;
    if ((r = lsh_rd_string(rd, &sig, &siglen)) != 0 ||
        (r = lsh_rd_end(rd)) != 0) {
        return r;
    }
    if (siglen != p->siglen) {
        return LSH_EBADSIG;
    }
    return lsh__pkey_verify(k->pk, alg->md, sig, siglen, data, n);
}

static const struct lsh__sigalg ed25519_sigalgs[] = {
    {"ssh-ed25519", NULL},
    {NULL, NULL},
};
static const char *const ed25519_names[] = {"ssh-ed25519", NULL};

static const struct lsh__sigalg ed448_sigalgs[] = {
    {"ssh-ed448", NULL},
    {NULL, NULL},
};
static const char *const ed448_names[] = {"ssh-ed448", NULL};

const struct lsh__key_ops lsh__key_ops_ed25519 = {
    .type = LSH_KEY_ED25519,
    .name = "ssh-ed25519",
    .sigalgs = ed25519_sigalgs,
    .sigalg_names = ed25519_names,
    .fixed_bits = 256,
    .param = &ed25519_param,
    .generate = eddsa_generate,
    .parse = eddsa_parse,
    .put = eddsa_put,
    .match = eddsa_match,
    .sign = eddsa_sign,
    .verify = eddsa_verify,
};

/* ssh-keygen reports Ed448 keys as 456 bits (the encoded key size). */
const struct lsh__key_ops lsh__key_ops_ed448 = {
    .type = LSH_KEY_ED448,
    .name = "ssh-ed448",
    .sigalgs = ed448_sigalgs,
    .sigalg_names = ed448_names,
    .fixed_bits = 456,
    .param = &ed448_param,
    .generate = eddsa_generate,
    .parse = eddsa_parse,
    .put = eddsa_put,
    .match = eddsa_match,
    .sign = eddsa_sign,
    .verify = eddsa_verify,
};
