/*
 * FIDO/U2F security keys (OpenSSH PROTOCOL.u2f): verification only, the
 * signing happens in the token.
 *
 *   blob:       string "sk-ssh-ed25519@openssh.com", string key (32 bytes),
 *               string application
 *               string "sk-ecdsa-sha2-nistp256@openssh.com",
 *               string "nistp256", string Q, string application
 *   signature:  string name, string signature, byte flags, uint32 counter
 *
 * where the signature string is the Ed25519 signature (64 bytes) or the
 * RFC 5656 mpint pair.  The token does not sign the message itself but
 *
 *   byte[32] SHA256(application) || byte flags || uint32 counter ||
 *   byte[]   extensions (none defined) || byte[32] SHA256(message)
 *
 * with PureEd25519, or with ECDSA P-256 over SHA-256 of it.  The flags and
 * counter go back to the caller (lsh_key_sig_info), whose policy decides
 * whether user presence was required.  webauthn-sk-ecdsa-sha2-nistp256@
 * openssh.com signatures are not supported.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/mem.h"
#include "ssh/keys/key_impl.h"

#define SK_SIGNED_LEN (32 + 1 + 4 + 32)

static int
read_application(lsh_key *k, lsh_rd *rd)
{
    const uint8_t *app;
    size_t len;
    uint8_t *copy;
    int r;

    if ((r = lsh_rd_text(rd, &app, &len)) != 0) {
        return r;
    }
    if ((copy = malloc(len > 0 ? len : 1)) == NULL) {
        return LSH_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, app, len);
    }
    free(k->sk_app);
    k->sk_app = copy;
    k->sk_applen = len;
    return 0;
}

static int
put_application(const lsh_key *k, lsh_buf *out)
{
    return lsh_buf_put_string(out, k->sk_app, k->sk_applen);
}

/* Builds the byte string the token signed (see the top of the file). */
static int
signed_data(const lsh_key *k, uint8_t flags, uint32_t counter,
            const uint8_t *data, size_t n, uint8_t out[SK_SIGNED_LEN])
{
    const EVP_MD *sha256 = EVP_sha256();
    const uint8_t *app = k->sk_app != NULL ? k->sk_app : (const uint8_t *)"";

    if (EVP_Digest(app, k->sk_applen, out, NULL, sha256, NULL) != 1 ||
        EVP_Digest(data, n, out + 37, NULL, sha256, NULL) != 1) {
        return LSH_ECRYPTO;
    }
    out[32] = flags;
    lsh_poke_u32(out + 33, counter);
    return 0;
}

/* byte flags, uint32 counter, then the end of the signature blob. */
static int
read_flags_counter(lsh_rd *rd, lsh_key_sig_info *info)
{
    int r;
    if ((r = lsh_rd_u8(rd, &info->sk_flags)) != 0 ||
        (r = lsh_rd_u32(rd, &info->sk_counter)) != 0) {
        return r;
    }
    return lsh_rd_end(rd);
}

static int
sk_ed25519_parse(lsh_key *k, lsh_rd *rd)
{
    int r;
    if ((r = lsh__eddsa_parse_raw("ED25519", 32, rd, &k->pk)) != 0) {
        return r;
    }
    return read_application(k, rd);
}

static int
sk_ed25519_put(const lsh_key *k, lsh_buf *out)
{
    int r;
    if ((r = lsh__eddsa_put_raw(k->pk, out)) != 0) {
        return r;
    }
    return put_application(k, out);
}

static int
sk_ed25519_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    (void)ops;
    return EVP_PKEY_is_a(pk, "ED25519") ? 0 : LSH_EKEYTYPE;
}

static int
sk_ed25519_verify(const lsh_key *k, const struct lsh__sigalg *alg,
                  lsh_rd *rd, const uint8_t *data, size_t n,
                  lsh_key_sig_info *info)
{
    uint8_t msg[SK_SIGNED_LEN];
    const uint8_t *sig;
    size_t siglen;
    int r;

    if ((r = lsh_rd_string(rd, &sig, &siglen)) != 0 ||
        (r = read_flags_counter(rd, info)) != 0) {
        return r;
    }
    if (siglen != 64) {
        return LSH_EBADSIG;
    }
    if ((r = signed_data(k, info->sk_flags, info->sk_counter, data, n, msg)) !=
        0) {
        return r;
    }
    return lsh__pkey_verify(k->pk, alg->md, sig, siglen, msg, sizeof(msg));
}

static int
sk_ecdsa_parse(lsh_key *k, lsh_rd *rd)
{
    int r;
    if ((r = lsh__ecdsa_parse_point(&lsh__key_ops_ecdsa_p256, rd, &k->pk)) !=
        0) {
        return r;
    }
    return read_application(k, rd);
}

static int
sk_ecdsa_put(const lsh_key *k, lsh_buf *out)
{
    int r;
    if ((r = lsh__ecdsa_put_point(&lsh__key_ops_ecdsa_p256, k->pk, out)) !=
        0) {
        return r;
    }
    return put_application(k, out);
}

static int
sk_ecdsa_match(const struct lsh__key_ops *ops, EVP_PKEY *pk)
{
    (void)ops;
    return lsh__ecdsa_match(&lsh__key_ops_ecdsa_p256, pk);
}

static int
sk_ecdsa_verify(const lsh_key *k, const struct lsh__sigalg *alg, lsh_rd *rd,
                const uint8_t *data, size_t n, lsh_key_sig_info *info)
{
    uint8_t msg[SK_SIGNED_LEN];
    uint8_t *der = NULL;
    size_t derlen = 0;
    lsh_rd sub;
    int r;

    if ((r = lsh_rd_sub(rd, &sub)) != 0 ||
        (r = read_flags_counter(rd, info)) != 0 ||
        (r = signed_data(k, info->sk_flags, info->sk_counter, data, n, msg)) !=
            0 ||
        (r = lsh__ecdsa_sig_der(&lsh__key_ops_ecdsa_p256, &sub, &der,
                                &derlen)) != 0) {
        return r;
    }
    r = lsh__pkey_verify(k->pk, alg->md, der, derlen, msg, sizeof(msg));
    free(der);
    return r;
}

static const struct lsh__sigalg sk_ed25519_sigalgs[] = {
    {"sk-ssh-ed25519@openssh.com", NULL},
    {NULL, NULL},
};
static const char *const sk_ed25519_names[] = {"sk-ssh-ed25519@openssh.com",
                                               NULL};

static const struct lsh__sigalg sk_ecdsa_sigalgs[] = {
    {"sk-ecdsa-sha2-nistp256@openssh.com", "SHA256"},
    {NULL, NULL},
};
static const char *const sk_ecdsa_names[] = {
    "sk-ecdsa-sha2-nistp256@openssh.com", NULL};

const struct lsh__key_ops lsh__key_ops_sk_ed25519 = {
    .type = LSH_KEY_SK_ED25519,
    .name = "sk-ssh-ed25519@openssh.com",
    .sigalgs = sk_ed25519_sigalgs,
    .sigalg_names = sk_ed25519_names,
    .fixed_bits = 256,
    .param = NULL,
    .generate = NULL,
    .parse = sk_ed25519_parse,
    .put = sk_ed25519_put,
    .match = sk_ed25519_match,
    .sign = NULL,
    .verify = sk_ed25519_verify,
};

const struct lsh__key_ops lsh__key_ops_sk_ecdsa_p256 = {
    .type = LSH_KEY_SK_ECDSA_P256,
    .name = "sk-ecdsa-sha2-nistp256@openssh.com",
    .sigalgs = sk_ecdsa_sigalgs,
    .sigalg_names = sk_ecdsa_names,
    .fixed_bits = 256,
    .param = NULL,
    .generate = NULL,
    .parse = sk_ecdsa_parse,
    .put = sk_ecdsa_put,
    .match = sk_ecdsa_match,
    .sign = NULL,
    .verify = sk_ecdsa_verify,
};
