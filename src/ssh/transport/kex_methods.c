/*
 * The key exchange method table, the per-exchange state, the exchange
 * hash (RFC 4253 §8, RFC 5656 §4, RFC 4419 §3) and the key derivation
 * (RFC 4253 §7.2).  The arithmetic of each kind lives in kex_ecdh.c and
 * kex_dh.c.
 */
#include "ssh/transport/kex_methods.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>

#include "common/mem.h"

/* Largest DH public value we read: an 8192-bit magnitude plus slack. */
#define DH_PUB_MAX_BYTES 1025

/*
 * Preference order matches lsh_kex_default_prefs, then the methods that
 * are implemented but off by default (RFC 9142 §4: SHA-1 and the 1024-bit
 * group are SHOULD NOT / phase out).
 */
static const lsh_kex_method methods[] = {
    {"curve25519-sha256", EVP_sha256, LSH_KEX_KIND_ECDH, 0, &lsh__kex_x25519,
     &lsh__kex_ecdh_ops},
    {"curve25519-sha256@libssh.org", EVP_sha256, LSH_KEX_KIND_ECDH, 0,
     &lsh__kex_x25519, &lsh__kex_ecdh_ops},
    {"ecdh-sha2-nistp256", EVP_sha256, LSH_KEX_KIND_ECDH, 0, &lsh__kex_p256,
     &lsh__kex_ecdh_ops},
    {"ecdh-sha2-nistp384", EVP_sha384, LSH_KEX_KIND_ECDH, 0, &lsh__kex_p384,
     &lsh__kex_ecdh_ops},
    {"ecdh-sha2-nistp521", EVP_sha512, LSH_KEX_KIND_ECDH, 0, &lsh__kex_p521,
     &lsh__kex_ecdh_ops},
    {"diffie-hellman-group-exchange-sha256", EVP_sha256, LSH_KEX_KIND_GEX, 0,
     NULL, &lsh__kex_dh_ops},
    {"diffie-hellman-group16-sha512", EVP_sha512, LSH_KEX_KIND_DH, 0, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group18-sha512", EVP_sha512, LSH_KEX_KIND_DH, 0, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group14-sha256", EVP_sha256, LSH_KEX_KIND_DH, 0, NULL,
     &lsh__kex_dh_ops},
    {"curve448-sha512", EVP_sha512, LSH_KEX_KIND_ECDH, 0, &lsh__kex_x448,
     &lsh__kex_ecdh_ops},
    {"diffie-hellman-group15-sha512", EVP_sha512, LSH_KEX_KIND_DH, 0, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group17-sha512", EVP_sha512, LSH_KEX_KIND_DH, 0, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group14-sha1", EVP_sha1, LSH_KEX_KIND_DH, 1, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group1-sha1", EVP_sha1, LSH_KEX_KIND_DH, 1, NULL,
     &lsh__kex_dh_ops},
    {"diffie-hellman-group-exchange-sha1", EVP_sha1, LSH_KEX_KIND_GEX, 1,
     NULL, &lsh__kex_dh_ops},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/*
 * Group size of each fixed-group method: RFC 4253 §8.1 (group1 is Oakley
 * group 2, 1024 bits), §8.2 and RFC 8268 §3 (groupN is RFC 3526 group N).
 * Kept beside the table because a static initialiser cannot call
 * lsh__kex_group_bits.
 */
static unsigned
fixed_group_bits(const char *name)
{
    static const struct {
        const char *prefix;
        unsigned bits;
    } map[] = {
        {"diffie-hellman-group1-", 1024},  {"diffie-hellman-group14-", 2048},
        {"diffie-hellman-group15-", 3072}, {"diffie-hellman-group16-", 4096},
        {"diffie-hellman-group17-", 6144}, {"diffie-hellman-group18-", 8192},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strncmp(name, map[i].prefix, strlen(map[i].prefix)) == 0) {
            return map[i].bits;
        }
    }
    return 0;
}

const lsh_kex_method *
lsh_kex_method_lookup(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < NMETHODS; i++) {
        if (strcmp(methods[i].name, name) == 0) {
            return &methods[i];
        }
    }
    return NULL;
}

const lsh_kex_method *
lsh_kex_method_at(size_t i)
{
    return i < NMETHODS ? &methods[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Per-exchange state                                                  */

enum kex_stage { STAGE_FRESH, STAGE_CLIENT_SENT, STAGE_DONE, STAGE_FAILED };

struct lsh_kex_state {
    const lsh_kex_method *m;
    enum kex_stage stage;
    void *impl;
};

void *
lsh__kex_state_impl(const lsh_kex_state *st)
{
    return st->impl;
}

int
lsh__kex_rng(lsh_rng_cb rng, void *ctx, uint8_t *out, size_t n)
{
    int r;
    if (rng == NULL) {
        return LSH_EINVAL;
    }
    r = rng(ctx, out, n);
    return r == 0 ? 0 : LSH_ECRYPTO;
}

/* 1 when st may run its exchange: GEX needs its group first. */
static int
has_group_if_needed(const lsh_kex_state *st)
{
    const uint8_t *p, *g;
    size_t plen, glen;
    if (st->m->kind == LSH_KEX_KIND_ECDH) {
        return 1;
    }
    return lsh__kex_dh_get_group(st->impl, &p, &plen, &g, &glen) == 0;
}

/* Drops what was appended to b after its length was `start`. */
static int
buf_restore(lsh_buf *b, size_t start)
{
    if (lsh_buf_len(b) <= start) {
        return 0;
    }
    return lsh_buf_truncate(b, lsh_buf_len(b) - start);
}

int
lsh_kex_state_new(const lsh_kex_method *m, lsh_kex_state **out)
{
    lsh_kex_state *st;
    int r;

    if (m == NULL || m->ops == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        return LSH_ENOMEM;
    }
    st->m = m;
    st->stage = STAGE_FRESH;
    if ((st->impl = m->ops->state_new(m)) == NULL) {
        free(st);
        return LSH_ENOMEM;
    }
    /* A fixed-group method knows its group from the start. */
    if (m->kind == LSH_KEX_KIND_DH) {
        const lsh_kex_group *grp = lsh__kex_group_bits(fixed_group_bits(m->name));
        if (grp == NULL) {
            lsh_kex_state_free(st);
            return LSH_EINVAL;
        }
        if ((r = lsh_kex_state_use_group(st, grp)) != 0) {
            lsh_kex_state_free(st);
            return r;
        }
    }
    *out = st;
    return 0;
}

void
lsh_kex_state_free(lsh_kex_state *st)
{
    if (st == NULL) {
        return;
    }
    if (st->impl != NULL) {
        st->m->ops->state_free(st->impl);
    }
    lsh_freezero(st, sizeof(*st));
}

int
lsh_kex_client_init(lsh_kex_state *st, lsh_rng_cb rng, void *rng_ctx,
                    lsh_buf *client_pub_out)
{
    size_t pub0;
    int r;
    if (st == NULL || client_pub_out == NULL) {
        return LSH_EINVAL;
    }
    if (st->stage != STAGE_FRESH || !has_group_if_needed(st)) {
        return LSH_ESTATE;
    }
    pub0 = lsh_buf_len(client_pub_out);
    if ((r = st->m->ops->init(st->impl, rng, rng_ctx, client_pub_out)) != 0) {
        if (buf_restore(client_pub_out, pub0) != 0) {
            r = LSH_EINVAL;
        }
        st->stage = STAGE_FAILED;
        return r;
    }
    st->stage = STAGE_CLIENT_SENT;
    return 0;
}

int
lsh_kex_server_reply(lsh_kex_state *st, const uint8_t *client_pub, size_t len,
                     lsh_rng_cb rng, void *rng_ctx, lsh_buf *server_pub_out,
                     lsh_buf *shared_secret_out)
{
    size_t pub0, k0;
    int r;

    if (st == NULL || server_pub_out == NULL || shared_secret_out == NULL ||
        (client_pub == NULL && len > 0)) {
        return LSH_EINVAL;
    }
    if (st->stage != STAGE_FRESH || !has_group_if_needed(st)) {
        return LSH_ESTATE;
    }
    pub0 = lsh_buf_len(server_pub_out);
    k0 = lsh_buf_len(shared_secret_out);
    r = st->m->ops->reply(st->impl, client_pub, len, rng, rng_ctx,
                          server_pub_out, shared_secret_out);
    if (r != 0) {
        if (buf_restore(server_pub_out, pub0) != 0 ||
            buf_restore(shared_secret_out, k0) != 0) {
            r = LSH_EINVAL;
        }
        st->stage = STAGE_FAILED;
        return r;
    }
    st->stage = STAGE_DONE;
    return 0;
}

int
lsh_kex_client_finish(lsh_kex_state *st, const uint8_t *server_pub,
                      size_t len, lsh_buf *shared_secret_out)
{
    size_t k0;
    int r;

    if (st == NULL || shared_secret_out == NULL ||
        (server_pub == NULL && len > 0)) {
        return LSH_EINVAL;
    }
    if (st->stage != STAGE_CLIENT_SENT) {
        return LSH_ESTATE;
    }
    k0 = lsh_buf_len(shared_secret_out);
    r = st->m->ops->finish(st->impl, server_pub, len, shared_secret_out);
    if (r != 0) {
        if (buf_restore(shared_secret_out, k0) != 0) {
            r = LSH_EINVAL;
        }
        st->stage = STAGE_FAILED;
        return r;
    }
    st->stage = STAGE_DONE;
    return 0;
}

int
lsh_kex_put_pub(lsh_buf *b, const lsh_kex_method *m, const uint8_t *pub,
                size_t len)
{
    if (m == NULL) {
        return LSH_EINVAL;
    }
    /* RFC 5656 §4 and RFC 8731 §3: string Q; RFC 4253 §8: mpint e. */
    if (m->kind == LSH_KEX_KIND_ECDH) {
        return lsh_buf_put_string(b, pub, len);
    }
    return lsh_buf_put_mpint_unsigned(b, pub, len);
}

int
lsh_kex_get_pub(lsh_rd *rd, const lsh_kex_method *m, const uint8_t **pub,
                size_t *len)
{
    if (m == NULL) {
        return LSH_EINVAL;
    }
    if (m->kind == LSH_KEX_KIND_ECDH) {
        return lsh_rd_string_max(rd, 1024, pub, len);
    }
    return lsh_rd_mpint_unsigned(rd, DH_PUB_MAX_BYTES, pub, len);
}

int
lsh_kex_state_use_group(lsh_kex_state *st, const lsh_kex_group *grp)
{
    BIGNUM *p = NULL;
    uint8_t *bin = NULL, g;
    int n, r;

    if (st == NULL || grp == NULL) {
        return LSH_EINVAL;
    }
    if (st->m->kind == LSH_KEX_KIND_ECDH || st->stage != STAGE_FRESH) {
        return LSH_ESTATE;
    }
    if (BN_hex2bn(&p, grp->p_hex) == 0) {
        return LSH_ECRYPTO;
    }
    n = BN_num_bytes(p);
    if ((bin = malloc((size_t)n)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    BN_bn2bin(p, bin);
    g = (uint8_t)grp->g;
    r = lsh__kex_dh_set_group(st->impl, bin, (size_t)n, &g, 1);
out:
    free(bin);
    BN_free(p);
    return r;
}

int
lsh_kex_state_set_group(lsh_kex_state *st, const uint8_t *p, size_t plen,
                        const uint8_t *g, size_t glen)
{
    if (st == NULL || p == NULL || g == NULL) {
        return LSH_EINVAL;
    }
    if (st->m->kind != LSH_KEX_KIND_GEX || st->stage != STAGE_FRESH) {
        return LSH_ESTATE;
    }
    return lsh__kex_dh_set_group(st->impl, p, plen, g, glen);
}

int
lsh_kex_state_group(const lsh_kex_state *st, const uint8_t **p, size_t *plen,
                    const uint8_t **g, size_t *glen)
{
    if (st == NULL) {
        return LSH_EINVAL;
    }
    if (st->m->kind == LSH_KEX_KIND_ECDH) {
        return LSH_ESTATE;
    }
    return lsh__kex_dh_get_group(st->impl, p, plen, g, glen);
}

/* ------------------------------------------------------------------ */
/* Exchange hash and key derivation                                    */

static int
put_hash_fields(lsh_buf *b, const lsh_kex_method *m,
                const lsh_kex_hash_input *in)
{
    int r;

    /* RFC 4253 §8 / RFC 5656 §4 / RFC 4419 §3: common prefix. */
    if ((r = lsh_buf_put_string(b, in->v_c, in->v_c_len)) != 0 ||
        (r = lsh_buf_put_string(b, in->v_s, in->v_s_len)) != 0 ||
        (r = lsh_buf_put_string(b, in->i_c, in->i_c_len)) != 0 ||
        (r = lsh_buf_put_string(b, in->i_s, in->i_s_len)) != 0 ||
        (r = lsh_buf_put_string(b, in->k_s, in->k_s_len)) != 0) {
        return r;
    }
    if (m->kind == LSH_KEX_KIND_GEX) {
        /* RFC 4419 §5: the old request hashes n alone. */
        if (in->gex_old) {
            r = lsh_buf_put_u32(b, in->gex_n);
        } else if ((r = lsh_buf_put_u32(b, in->gex_min)) == 0 &&
                   (r = lsh_buf_put_u32(b, in->gex_n)) == 0) {
            r = lsh_buf_put_u32(b, in->gex_max);
        }
        if (r != 0 ||
            (r = lsh_buf_put_mpint_unsigned(b, in->gex_p, in->gex_p_len)) !=
                0 ||
            (r = lsh_buf_put_mpint_unsigned(b, in->gex_g, in->gex_g_len)) !=
                0) {
            return r;
        }
    }
    if ((r = lsh_kex_put_pub(b, m, in->client_pub, in->client_pub_len)) !=
            0 ||
        (r = lsh_kex_put_pub(b, m, in->server_pub, in->server_pub_len)) != 0) {
        return r;
    }
    /* K arrives encoded as it enters the hash. */
    return lsh_buf_put(b, in->k, in->k_len);
}

int
lsh_kex_exchange_hash(const lsh_kex_method *m, const lsh_kex_hash_input *in,
                      uint8_t *out, size_t *outlen)
{
    const EVP_MD *md;
    lsh_buf b;
    unsigned int hl = 0;
    int r;

    if (m == NULL || in == NULL || out == NULL || outlen == NULL) {
        return LSH_EINVAL;
    }
    md = m->md();
    if (md == NULL || (size_t)EVP_MD_get_size(md) > *outlen) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&b, 0);
    if ((r = put_hash_fields(&b, m, in)) != 0) {
        goto out;
    }
    if (EVP_Digest(lsh_buf_ptr(&b), lsh_buf_len(&b), out, &hl, md, NULL) !=
        1) {
        r = LSH_ECRYPTO;
        goto out;
    }
    *outlen = hl;
out:
    /* The buffer held K: lsh_buf_free zeroes it. */
    lsh_buf_free(&b);
    return r;
}

int
lsh_kex_derive(const lsh_kex_method *m, const uint8_t *K_enc, size_t K_len,
               const uint8_t *H, size_t hlen, const uint8_t *session_id,
               size_t sid_len, char letter, size_t need, uint8_t *out)
{
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned int bl = 0;
    size_t have = 0, take;
    const EVP_MD *md;
    EVP_MD_CTX *ctx = NULL;
    uint8_t x = (uint8_t)letter;
    int r = LSH_ECRYPTO;

    if (m == NULL || K_enc == NULL || H == NULL || session_id == NULL ||
        (out == NULL && need > 0)) {
        return LSH_EINVAL;
    }
    if (need == 0) {
        return 0;
    }
    if ((md = m->md()) == NULL || (ctx = EVP_MD_CTX_new()) == NULL) {
        return LSH_ECRYPTO;
    }
    /* RFC 4253 §7.2: K1 = HASH(K || H || X || session_id). */
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, K_enc, K_len) != 1 ||
        EVP_DigestUpdate(ctx, H, hlen) != 1 ||
        EVP_DigestUpdate(ctx, &x, 1) != 1 ||
        EVP_DigestUpdate(ctx, session_id, sid_len) != 1 ||
        EVP_DigestFinal_ex(ctx, block, &bl) != 1) {
        goto out;
    }
    for (;;) {
        take = need - have < bl ? need - have : bl;
        memcpy(out + have, block, take);
        have += take;
        if (have == need) {
            break;
        }
        /* Kn = HASH(K || H || K1 || ... || K(n-1)): the key so far. */
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
            EVP_DigestUpdate(ctx, K_enc, K_len) != 1 ||
            EVP_DigestUpdate(ctx, H, hlen) != 1 ||
            EVP_DigestUpdate(ctx, out, have) != 1 ||
            EVP_DigestFinal_ex(ctx, block, &bl) != 1) {
            goto out;
        }
    }
    r = 0;
out:
    OPENSSL_cleanse(block, sizeof(block));
    EVP_MD_CTX_free(ctx);
    if (r != 0) {
        OPENSSL_cleanse(out, need);
    }
    return r;
}
