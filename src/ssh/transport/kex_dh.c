/*
 * Diffie-Hellman key exchange over MODP groups: the fixed groups of
 * RFC 4253 §8 and RFC 8268, and group exchange (RFC 4419, RFC 8270).
 *
 * IMPLEMENTATION NOTES
 * The primes below were typed in as hex from the formula that defines
 * each of them (RFC 2409 §6.2, RFC 3526 §3-§7):
 *     p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k)
 * with the k quoted per group, and g = 2.  spec/c/test_kex.c compares the
 * 2048- to 8192-bit ones with OpenSSL's built-in "modp_N" groups and
 * checks that the 1024-bit one is a safe prime.
 *
 * Private exponents: x has min(1024, bits(p) / 2) bits, its top bit set
 * so that 1 < x < (p-1)/2 (RFC 4419 §3).  RFC 4419 §6.2 asks for at least
 * twice the key material drawn from K; the largest any of our ciphers
 * draws is 64 bytes (chacha20-poly1305@openssh.com), hence 1024 bits.
 * The bytes come from the caller's rng; g^x is computed here and the key
 * pair imported with EVP_PKEY_fromdata so that OpenSSL derives K.
 *
 * Peer values are checked against 1 < e < p-1 (RFC 8268 §4) and the
 * result against 1 < K < p-1 (RFC 4419 §3) before K is encoded.
 */
#include "ssh/transport/kex_methods.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>

#include "common/mem.h"

/* RFC 2409 §6.2, Oakley Group 2 (k = 129093) */
static const char p1024[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

/* RFC 3526 §3, group 14 (k = 124476) */
static const char p2048[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

/* RFC 3526 §4, group 15 (k = 1690314) */
static const char p3072[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/* RFC 3526 §5, group 16 (k = 240904) */
static const char p4096[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF";

/* RFC 3526 §6, group 17 (k = 929484) */
static const char p6144[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF";

/* RFC 3526 §7, group 18 (k = 4743158) */
static const char p8192[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4"
    "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED"
    "2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652D"
    "E3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B"
    "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6"
    "6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851D"
    "F9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92"
    "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA"
    "9E3050E2765694DFC81F56E880B96E7160C980DD98EDD3DFFFFFFFFFFFFFFFFF";
static const lsh_kex_group groups[] = {
    {"modp1024", 1024, p1024, 2}, {"modp2048", 2048, p2048, 2},
    {"modp3072", 3072, p3072, 2}, {"modp4096", 4096, p4096, 2},
    {"modp6144", 6144, p6144, 2}, {"modp8192", 8192, p8192, 2},
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* Private exponent size cap, see the notes above. */
#define DH_EXP_MAX_BITS 1024

const lsh_kex_group *
lsh_kex_groups(size_t *count)
{
    if (count != NULL) {
        *count = NGROUPS;
    }
    return groups;
}

const lsh_kex_group *
lsh__kex_group_bits(unsigned bits)
{
    for (size_t i = 0; i < NGROUPS; i++) {
        if (groups[i].bits == bits) {
            return &groups[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Group exchange: choosing and checking groups                        */

static uint32_t
gex_floor(unsigned flags)
{
    return (flags & LSH_KEX_GEX_ALLOW_1024) ? LSH_KEX_GEX_LEGACY_MIN_BITS
                                            : LSH_KEX_GEX_MIN_BITS;
}

int
lsh_kex_gex_choose(uint32_t min, uint32_t n, uint32_t max, unsigned flags,
                   const lsh_kex_group **out)
{
    const lsh_kex_group *best = NULL;
    uint32_t lo = min > gex_floor(flags) ? min : gex_floor(flags);

    if (out == NULL) {
        return LSH_EINVAL;
    }
    if (min > n || n > max) {
        return LSH_EPROTOCOL;
    }
    /*
     * RFC 4419 §3: "the smallest group it knows that is larger than the
     * size the client requested", else "the largest group it knows" --
     * both within the client's [min, max].
     */
    for (size_t i = 0; i < NGROUPS; i++) {
        const lsh_kex_group *g = &groups[i];
        if (g->bits < lo || g->bits > max) {
            continue;
        }
        if (g->bits >= n) {
            *out = g;
            return 0;
        }
        best = g;
    }
    if (best == NULL) {
        return LSH_ENOALG;
    }
    *out = best;
    return 0;
}

static BIGNUM *
group_p(const lsh_kex_group *grp)
{
    BIGNUM *p = NULL;
    if (BN_hex2bn(&p, grp->p_hex) == 0) {
        return NULL;
    }
    return p;
}

int
lsh_kex_group_put(lsh_buf *b, const lsh_kex_group *grp)
{
    BIGNUM *p;
    uint8_t *bin = NULL, g;
    size_t start;
    int n, r;

    if (b == NULL || grp == NULL) {
        return LSH_EINVAL;
    }
    if ((p = group_p(grp)) == NULL) {
        return LSH_ECRYPTO;
    }
    n = BN_num_bytes(p);
    if ((bin = malloc((size_t)n)) == NULL) {
        BN_free(p);
        return LSH_ENOMEM;
    }
    BN_bn2bin(p, bin);
    g = (uint8_t)grp->g;
    start = lsh_buf_len(b);
    if ((r = lsh_buf_put_mpint_unsigned(b, bin, (size_t)n)) == 0 &&
        (r = lsh_buf_put_mpint_unsigned(b, &g, 1)) != 0 &&
        lsh_buf_len(b) > start &&
        lsh_buf_truncate(b, lsh_buf_len(b) - start) != 0) {
        r = LSH_EINVAL;
    }
    free(bin);
    BN_free(p);
    return r;
}

/* 1 when p equals one of the built-in (known safe) primes. */
static int
is_builtin_prime(const BIGNUM *p)
{
    int found = 0;
    for (size_t i = 0; i < NGROUPS && !found; i++) {
        BIGNUM *q;
        if ((unsigned)BN_num_bits(p) != groups[i].bits) {
            continue;
        }
        if ((q = group_p(&groups[i])) != NULL) {
            found = BN_cmp(p, q) == 0;
            BN_free(q);
        }
    }
    return found;
}

int
lsh_kex_gex_check_prime(const uint8_t *p, size_t plen)
{
    BIGNUM *bp = BN_bin2bn(p, (int)plen, NULL);
    BN_CTX *bc = BN_CTX_new();
    int r = LSH_ECRYPTO, pr;

    if (plen > INT32_MAX || bp == NULL || bc == NULL) {
        goto out;
    }
    pr = BN_check_prime(bp, bc, NULL);
    r = pr == 1 ? 0 : pr == 0 ? LSH_EBADKEY : LSH_ECRYPTO;
out:
    BN_CTX_free(bc);
    BN_free(bp);
    return r;
}

/* 0 when 1 < v < p-1 (RFC 8268 §4; RFC 4419 §3 for g and K). */
static int
check_open_range(const BIGNUM *v, const BIGNUM *p)
{
    BIGNUM *pm1 = BN_dup(p);
    int ok;
    if (pm1 == NULL || !BN_sub_word(pm1, 1)) {
        BN_free(pm1);
        return LSH_ECRYPTO;
    }
    ok = BN_cmp(v, BN_value_one()) > 0 && BN_cmp(v, pm1) < 0;
    BN_free(pm1);
    return ok ? 0 : LSH_EBADKEY;
}

int
lsh_kex_gex_check_group(uint32_t min, uint32_t n, uint32_t max,
                        const uint8_t *p, size_t plen, const uint8_t *g,
                        size_t glen, unsigned flags)
{
    uint32_t lo = min > gex_floor(flags) ? min : gex_floor(flags);
    uint32_t hi = max < LSH_KEX_GEX_MAX_BITS ? max : LSH_KEX_GEX_MAX_BITS;
    BIGNUM *bp = NULL, *bg = NULL;
    uint32_t bits;
    int r = LSH_ECRYPTO;

    if (p == NULL || g == NULL || min > n || n > max) {
        return LSH_EINVAL;
    }
    if (plen > LSH_KEX_GEX_MAX_BITS / 8 + 1 || glen > plen) {
        return LSH_EPROTOCOL;
    }
    if ((bp = BN_bin2bn(p, (int)plen, NULL)) == NULL ||
        (bg = BN_bin2bn(g, (int)glen, NULL)) == NULL) {
        goto out;
    }
    /* RFC 4419 §3 / RFC 8270: the size the client asked for. */
    bits = (uint32_t)BN_num_bits(bp);
    if (bits < lo || bits > hi) {
        r = LSH_EPROTOCOL;
        goto out;
    }
    if (!BN_is_odd(bp)) {
        r = LSH_EBADKEY;
        goto out;
    }
    if ((r = check_open_range(bg, bp)) != 0) {
        goto out;
    }
    if (!is_builtin_prime(bp) && !(flags & LSH_KEX_GEX_SKIP_PRIME)) {
        r = lsh_kex_gex_check_prime(p, plen);
    }
out:
    BN_free(bg);
    BN_free(bp);
    return r;
}

uint32_t
lsh_kex_gex_bits_for(size_t key_bytes)
{
    /* NIST SP 800-57 part 1 rev. 5, table 2 (FFC L for strength s). */
    size_t s = key_bytes * 8;
    if (key_bytes > SIZE_MAX / 8 || s > 192) {
        return LSH_KEX_GEX_MAX_BITS;
    }
    if (s > 128) {
        return 7680;
    }
    if (s > 112) {
        return 3072;
    }
    return 2048;
}

/* ------------------------------------------------------------------ */
/* The exchange                                                        */

typedef struct dh_state {
    BIGNUM *p, *g;
    uint8_t *p_mag, *g_mag; /* magnitudes for lsh_kex_state_group */
    size_t p_len, g_len;
    EVP_PKEY *key; /* our ephemeral key pair */
} dh_state;

static void *
dh_new(const lsh_kex_method *m)
{
    (void)m;
    return calloc(1, sizeof(dh_state));
}

static void
dh_free(void *impl)
{
    dh_state *st = impl;
    BN_free(st->p);
    BN_free(st->g);
    free(st->p_mag);
    free(st->g_mag);
    EVP_PKEY_free(st->key);
    lsh_freezero(st, sizeof(*st));
}

static uint8_t *
dup_mag(const BIGNUM *v, size_t *len)
{
    int n = BN_num_bytes(v);
    uint8_t *m = malloc(n > 0 ? (size_t)n : 1);
    if (m != NULL) {
        BN_bn2bin(v, m);
        *len = (size_t)n;
    }
    return m;
}

int
lsh__kex_dh_set_group(void *impl, const uint8_t *p, size_t plen,
                      const uint8_t *g, size_t glen)
{
    dh_state *st = impl;

    if (st->p != NULL) {
        return LSH_ESTATE;
    }
    if (plen > LSH_KEX_GEX_MAX_BITS / 8 + 1 || glen > plen) {
        return LSH_EINVAL;
    }
    if ((st->p = BN_bin2bn(p, (int)plen, NULL)) == NULL ||
        (st->g = BN_bin2bn(g, (int)glen, NULL)) == NULL) {
        goto fail;
    }
    /* Enough for the arithmetic below to be meaningful. */
    if (!BN_is_odd(st->p) || BN_num_bits(st->p) < 512 ||
        check_open_range(st->g, st->p) != 0) {
        BN_free(st->p);
        BN_free(st->g);
        st->p = st->g = NULL;
        return LSH_EINVAL;
    }
    if ((st->p_mag = dup_mag(st->p, &st->p_len)) == NULL ||
        (st->g_mag = dup_mag(st->g, &st->g_len)) == NULL) {
        goto fail;
    }
    return 0;
fail:
    BN_free(st->p);
    BN_free(st->g);
    free(st->p_mag);
    st->p = st->g = NULL;
    st->p_mag = NULL;
    return LSH_ENOMEM;
}

int
lsh__kex_dh_get_group(const void *impl, const uint8_t **p, size_t *plen,
                      const uint8_t **g, size_t *glen)
{
    const dh_state *st = impl;
    if (st->p == NULL) {
        return LSH_ESTATE;
    }
    *p = st->p_mag;
    *plen = st->p_len;
    *g = st->g_mag;
    *glen = st->g_len;
    return 0;
}

/* Imports (p, g, pub[, priv]) as an EVP_PKEY of type DH. */
static int
dh_fromdata(const dh_state *st, const BIGNUM *pub, const BIGNUM *priv,
            EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int sel = priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    int r = LSH_ECRYPTO;

    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, st->p) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, st->g) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub) ||
        (priv != NULL &&
         !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, sel, params) != 1) {
        goto out;
    }
    r = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return r;
}

/* Makes x from rng bytes, f = g^x mod p, imports the pair, appends f. */
static int
make_key(dh_state *st, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    uint8_t buf[DH_EXP_MAX_BITS / 8];
    BN_CTX *bc = NULL;
    BIGNUM *x = NULL, *f = NULL;
    uint8_t *fbin = NULL;
    size_t flen = 0, nbytes;
    int xbits, r = LSH_ECRYPTO;

    if (st->p == NULL || st->key != NULL) {
        return LSH_ESTATE;
    }
    xbits = BN_num_bits(st->p) / 2;
    if (xbits > DH_EXP_MAX_BITS) {
        xbits = DH_EXP_MAX_BITS;
    }
    nbytes = (size_t)xbits / 8;
    xbits = (int)nbytes * 8;
    if ((bc = BN_CTX_secure_new()) == NULL || (x = BN_secure_new()) == NULL ||
        (f = BN_new()) == NULL) {
        goto out;
    }
    if ((r = lsh__kex_rng(rng, rng_ctx, buf, nbytes)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    /* Top bit set: 2^(xbits-1) <= x < 2^xbits <= (p-1)/2. */
    if (BN_bin2bn(buf, (int)nbytes, x) == NULL || !BN_set_bit(x, xbits - 1) ||
        !BN_mod_exp_mont_consttime(f, st->g, x, st->p, bc, NULL)) {
        goto out;
    }
    /* RFC 8268 §4: never send a value outside (1, p-1). */
    if ((r = check_open_range(f, st->p)) != 0 ||
        (r = dh_fromdata(st, f, x, &st->key)) != 0) {
        goto out;
    }
    if ((fbin = dup_mag(f, &flen)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    r = lsh_buf_put(pub, fbin, flen);
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    free(fbin);
    BN_clear_free(x);
    BN_free(f);
    BN_CTX_free(bc);
    return r;
}

/* RFC 8268 §4: the peer's value must satisfy 1 < e < p-1. */
static int
peer_value(const dh_state *st, const uint8_t *pub, size_t len, BIGNUM **out)
{
    BIGNUM *v;
    int r;
    if (len > (size_t)BN_num_bytes(st->p)) {
        return LSH_EBADKEY;
    }
    if ((v = BN_bin2bn(pub, (int)len, NULL)) == NULL) {
        return LSH_ECRYPTO;
    }
    if ((r = check_open_range(v, st->p)) != 0) {
        BN_free(v);
        return r;
    }
    *out = v;
    return 0;
}

static int
derive(dh_state *st, const uint8_t *peer_pub, size_t len, lsh_buf *K)
{
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *v = NULL, *k = NULL;
    uint8_t *z = NULL;
    size_t zlen = 0, zcap = 0;
    int r;

    if ((r = peer_value(st, peer_pub, len, &v)) != 0 ||
        (r = dh_fromdata(st, v, NULL, &peer)) != 0) {
        goto out;
    }
    r = LSH_ECRYPTO;
    /* The range check above is what RFC 8268 asks; OpenSSL's own check
     * would add a full-size exponentiation for the named groups. */
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, st->key, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) != 1 ||
        EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
        EVP_PKEY_derive(ctx, NULL, &zcap) != 1 ||
        (z = malloc(zcap)) == NULL) {
        goto out;
    }
    zlen = zcap;
    if (EVP_PKEY_derive(ctx, z, &zlen) != 1 ||
        (k = BN_secure_new()) == NULL || BN_bin2bn(z, (int)zlen, k) == NULL) {
        goto out;
    }
    /* RFC 4419 §3: "accept the shared secret K only if 1 < K < p - 1". */
    if ((r = check_open_range(k, st->p)) != 0) {
        goto out;
    }
    r = lsh_buf_put_mpint_unsigned(K, z, zlen);
out:
    lsh_freezero(z, zcap);
    BN_clear_free(k);
    BN_free(v);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return r;
}

static int
dh_init(void *impl, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub)
{
    return make_key(impl, rng, rng_ctx, pub);
}

static int
dh_reply(void *impl, const uint8_t *cpub, size_t len, lsh_rng_cb rng,
         void *rng_ctx, lsh_buf *spub, lsh_buf *K)
{
    dh_state *st = impl;
    BIGNUM *check = NULL;
    int r;

    if (st->p == NULL) {
        return LSH_ESTATE;
    }
    /* Reject a bad client value before spending work on our key. */
    if ((r = peer_value(st, cpub, len, &check)) != 0) {
        return r;
    }
    BN_free(check);
    if ((r = make_key(st, rng, rng_ctx, spub)) != 0) {
        return r;
    }
    return derive(st, cpub, len, K);
}

static int
dh_finish(void *impl, const uint8_t *spub, size_t len, lsh_buf *K)
{
    dh_state *st = impl;
    if (st->key == NULL) {
        return LSH_ESTATE;
    }
    return derive(st, spub, len, K);
}

const struct lsh_kex_ops lsh__kex_dh_ops = {
    dh_new, dh_free, dh_init, dh_reply, dh_finish,
};
