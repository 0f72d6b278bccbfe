/*
 * Tests for src/ssh/transport/kex.c (KEXINIT, negotiation, preference
 * lists) and kex_methods.c / kex_ecdh.c / kex_dh.c (methods, exchange
 * hash, key derivation, group exchange).
 *
 * Where the known answers come from:
 *  - X25519: RFC 7748 §6.1 (Alice/Bob), re-checked with Python's
 *    `cryptography` package; low-order points from RFC 7748 §6 /
 *    the usual blocklist (each one checked to make X25519 fail there too).
 *  - Exchange hashes, derived keys and the group14 DH values: computed
 *    independently with Python's hashlib and pow() from the same inputs,
 *    by the script quoted in the comment above each vector.
 *  - MODP primes: compared with OpenSSL's built-in "modp_N" groups.
 */
#include "testutil.h"

#include <stdio.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/transport/kex.h"
#include "ssh/transport/kex_methods.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* byte = v; v = 5v + 1 mod 256 -- easy to replay in Python. */
typedef struct pat_rng {
    uint8_t v;
} pat_rng;

static int
pattern_rng(void *ctx, uint8_t *out, size_t n)
{
    pat_rng *r = ctx;
    for (size_t i = 0; i < n; i++) {
        out[i] = r->v;
        r->v = (uint8_t)(r->v * 5 + 1);
    }
    return 0;
}

/* Hands out exactly the bytes it was given. */
typedef struct fixed_rng {
    const uint8_t *p;
    size_t n, used;
} fixed_rng;

static int
fixed_rng_cb(void *ctx, uint8_t *out, size_t n)
{
    fixed_rng *r = ctx;
    if (r->n - r->used < n) {
        return -1;
    }
    memcpy(out, r->p + r->used, n);
    r->used += n;
    return 0;
}

static int
failing_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)out;
    (void)n;
    return ctx != NULL ? *(int *)ctx : -1;
}

/* A KEXINIT built from prefs and parsed back; k borrows b. */
typedef struct ki {
    lsh_buf b;
    lsh_kexinit k;
} ki;

static void
ki_make(ki *x, const lsh_kex_prefs *p, int follows)
{
    static const uint8_t cookie[16] = {0};
    lsh_buf_init(&x->b, 0);
    assert_int_equal(lsh_kexinit_encode(&x->b, cookie, p, follows), 0);
    assert_int_equal(
        lsh_kexinit_parse(lsh_buf_ptr(&x->b), lsh_buf_len(&x->b), &x->k), 0);
}

static void
ki_free(ki *x)
{
    lsh_buf_free(&x->b);
}

static lsh_kex_prefs
simple_prefs(void)
{
    lsh_kex_prefs p;
    p.kex = "curve25519-sha256";
    p.hostkey = "ssh-ed25519";
    p.cipher_c2s = p.cipher_s2c = "aes128-ctr";
    p.mac_c2s = p.mac_s2c = "hmac-sha2-256";
    p.comp_c2s = p.comp_s2c = "none";
    return p;
}

/* Negotiates client prefs c against server prefs s as `role`. */
static int
nego(int role, const lsh_kex_prefs *c, int cf, const lsh_kex_prefs *s, int sf,
     lsh_kex_result *res)
{
    ki kc, ks;
    int r;
    ki_make(&kc, c, cf);
    ki_make(&ks, s, sf);
    r = lsh_kex_negotiate(role, &kc.k, &ks.k, res);
    ki_free(&kc);
    ki_free(&ks);
    return r;
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */

static void
test_negotiate_defaults_with_markers(void **state)
{
    lsh_kex_prefs c = lsh_kex_default_prefs(LSH_ROLE_CLIENT);
    lsh_kex_prefs s = lsh_kex_default_prefs(LSH_ROLE_SERVER);
    char *ck, *sk;
    lsh_kex_result res;
    (void)state;

    assert_int_equal(lsh_kex_list_add_markers(LSH_ROLE_CLIENT, c.kex, &ck), 0);
    assert_int_equal(lsh_kex_list_add_markers(LSH_ROLE_SERVER, s.kex, &sk), 0);
    c.kex = ck;
    s.kex = sk;
    for (int role = LSH_ROLE_CLIENT; role <= LSH_ROLE_SERVER; role++) {
        assert_int_equal(nego(role, &c, 0, &s, 0, &res), 0);
        assert_string_equal(res.kex, "curve25519-sha256");
        assert_string_equal(res.hostkey, "ssh-ed25519");
        assert_string_equal(res.cipher_c2s, "chacha20-poly1305@openssh.com");
        assert_string_equal(res.cipher_s2c, "chacha20-poly1305@openssh.com");
        /* AEAD: no MAC is negotiated. */
        assert_string_equal(res.mac_c2s, "");
        assert_string_equal(res.mac_s2c, "");
        assert_string_equal(res.comp_c2s, "none");
        assert_string_equal(res.comp_s2c, "none");
        assert_int_equal(res.strict, 1);
        assert_int_equal(res.peer_ext_info, 1);
        assert_int_equal(res.guess_wrong, 0);
        assert_string_equal(res.detail, "");
    }
    free(ck);
    free(sk);
}

static void
test_negotiate_first_client_match_wins(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    c.kex = "ecdh-sha2-nistp256,curve25519-sha256";
    s.kex = "curve25519-sha256,ecdh-sha2-nistp256";
    c.hostkey = "rsa-sha2-256,ssh-ed25519";
    s.hostkey = "ssh-ed25519,rsa-sha2-256";
    c.cipher_c2s = "aes256-ctr,aes128-ctr";
    s.cipher_c2s = "aes128-ctr,aes256-ctr";
    c.cipher_s2c = "x-unknown,aes128-ctr,aes256-ctr";
    s.cipher_s2c = "aes256-ctr,aes128-ctr";
    c.mac_c2s = "hmac-sha1,hmac-sha2-512";
    s.mac_c2s = "hmac-sha2-512,hmac-sha1";
    c.comp_s2c = "zlib@openssh.com,none";
    s.comp_s2c = "none,zlib@openssh.com";
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 0, &s, 0, &res), 0);
    assert_string_equal(res.kex, "ecdh-sha2-nistp256");
    assert_string_equal(res.hostkey, "rsa-sha2-256");
    assert_string_equal(res.cipher_c2s, "aes256-ctr");
    assert_string_equal(res.cipher_s2c, "aes128-ctr");
    assert_string_equal(res.mac_c2s, "hmac-sha1");
    assert_string_equal(res.mac_s2c, "hmac-sha2-256");
    assert_string_equal(res.comp_c2s, "none");
    assert_string_equal(res.comp_s2c, "zlib@openssh.com");
    assert_int_equal(res.strict, 0);
    assert_int_equal(res.peer_ext_info, 0);
}

static void
test_negotiate_no_common_alg_names_category(void **state)
{
    static const struct {
        size_t off;
        const char *detail;
    } cases[] = {
        {offsetof(lsh_kex_prefs, kex),
         "no common kex algorithm: client offers curve25519-sha256; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, hostkey),
         "no common host key algorithm: client offers ssh-ed25519; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, cipher_c2s),
         "no common cipher (client to server): client offers aes128-ctr; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, cipher_s2c),
         "no common cipher (server to client): client offers aes128-ctr; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, mac_c2s),
         "no common MAC (client to server): client offers hmac-sha2-256; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, mac_s2c),
         "no common MAC (server to client): client offers hmac-sha2-256; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, comp_c2s),
         "no common compression (client to server): client offers none; "
         "server offers x-other"},
        {offsetof(lsh_kex_prefs, comp_s2c),
         "no common compression (server to client): client offers none; "
         "server offers x-other"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
        lsh_kex_result res;
        *(const char **)((char *)&s + cases[i].off) = "x-other";
        assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res),
                         LSH_ENOALG);
        assert_string_equal(res.detail, cases[i].detail);
    }
}

static void
test_negotiate_detail_truncates_long_lists(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    char longlist[2000];
    size_t off = 0;
    (void)state;

    while (off < 1500) {
        off += (size_t)snprintf(longlist + off, sizeof(longlist) - off,
                                "%sx-cipher-%zu", off ? "," : "", off);
    }
    s.cipher_c2s = longlist;
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), LSH_ENOALG);
    assert_non_null(strstr(res.detail, "server offers x-cipher-0,"));
    assert_non_null(strstr(res.detail, "..."));
    assert_true(strlen(res.detail) < sizeof(res.detail));
}

static void
test_negotiate_aead_skips_mac(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    /* GCM one way, CTR the other: only the CTR direction needs a MAC. */
    c.cipher_c2s = s.cipher_c2s = "aes256-gcm@openssh.com";
    s.mac_c2s = "x-other";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_string_equal(res.mac_c2s, "");
    assert_string_equal(res.mac_s2c, "hmac-sha2-256");

    s.mac_s2c = "x-other";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), LSH_ENOALG);
    assert_non_null(strstr(res.detail, "no common MAC (server to client)"));
}

static void
test_negotiate_never_picks_pseudo_algorithms(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    /* Both sides list the same pseudo-algorithms first. */
    c.kex = "ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-s,"
            "ext-info-s,ecdh-sha2-nistp384";
    s.kex = "ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-s,"
            "ext-info-s,ecdh-sha2-nistp384";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_string_equal(res.kex, "ecdh-sha2-nistp384");

    /* Only pseudo-algorithms in common: nothing to choose. */
    c.kex = "ext-info-c,kex-strict-c-v00@openssh.com,curve25519-sha256";
    s.kex = "ext-info-c,kex-strict-c-v00@openssh.com,ecdh-sha2-nistp256";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), LSH_ENOALG);
    assert_non_null(strstr(res.detail, "no common kex algorithm"));
}

static void
test_negotiate_strict_flag(void **state)
{
    static const struct {
        const char *c, *s;
        int strict;
    } cases[] = {
        {"curve25519-sha256,kex-strict-c-v00@openssh.com",
         "curve25519-sha256,kex-strict-s-v00@openssh.com", 1},
        {"curve25519-sha256,kex-strict-c", "curve25519-sha256,kex-strict-s", 1},
        /* draft-ietf-sshm-strict-kex §3.1: mixed generations MUST NOT. */
        {"curve25519-sha256,kex-strict-c",
         "curve25519-sha256,kex-strict-s-v00@openssh.com", 0},
        {"curve25519-sha256,kex-strict-c-v00@openssh.com",
         "curve25519-sha256,kex-strict-s", 0},
        /* One side only, or the wrong role's marker. */
        {"curve25519-sha256,kex-strict-c-v00@openssh.com", "curve25519-sha256",
         0},
        {"curve25519-sha256,kex-strict-s-v00@openssh.com",
         "curve25519-sha256,kex-strict-c-v00@openssh.com", 0},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
        lsh_kex_result res;
        c.kex = cases[i].c;
        s.kex = cases[i].s;
        assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
        assert_int_equal(res.strict, cases[i].strict);
        assert_int_equal(nego(LSH_ROLE_SERVER, &c, 0, &s, 0, &res), 0);
        assert_int_equal(res.strict, cases[i].strict);
    }
}

static void
test_negotiate_ext_info_flag_per_role(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    c.kex = "curve25519-sha256,ext-info-c";
    s.kex = "curve25519-sha256";
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.peer_ext_info, 1);
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.peer_ext_info, 0);

    c.kex = "curve25519-sha256";
    s.kex = "curve25519-sha256,ext-info-s";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.peer_ext_info, 1);
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.peer_ext_info, 0);

    /* A server announcing the client's marker is not ext-info-s. */
    s.kex = "curve25519-sha256,ext-info-c";
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.peer_ext_info, 0);
}

static void
test_negotiate_guess_wrong(void **state)
{
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    /* Same first kex and host key: the guess is right. */
    c.kex = "curve25519-sha256,ecdh-sha2-nistp256";
    s.kex = "curve25519-sha256";
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 1, &s, 0, &res), 0);
    assert_int_equal(res.guess_wrong, 0);

    /* Server prefers another kex: the client's guess is wrong, even
     * though the client's first choice is what gets negotiated. */
    s.kex = "ecdh-sha2-nistp256,curve25519-sha256";
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 1, &s, 0, &res), 0);
    assert_string_equal(res.kex, "curve25519-sha256");
    assert_int_equal(res.guess_wrong, 1);
    /* The flag concerns the peer's packet only. */
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 1, &s, 0, &res), 0);
    assert_int_equal(res.guess_wrong, 0);
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 1, &res), 0);
    assert_int_equal(res.guess_wrong, 1);
    /* No packet follows: nothing to ignore. */
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 0, &s, 0, &res), 0);
    assert_int_equal(res.guess_wrong, 0);

    /* Same kex, different first host key algorithm. */
    s.kex = "curve25519-sha256";
    c.hostkey = "ssh-ed25519,rsa-sha2-512";
    s.hostkey = "rsa-sha2-512,ssh-ed25519";
    assert_int_equal(nego(LSH_ROLE_SERVER, &c, 1, &s, 0, &res), 0);
    assert_int_equal(res.guess_wrong, 1);
}

static void
test_negotiate_long_names_never_match(void **state)
{
    char longname[80];
    lsh_kex_prefs c = simple_prefs(), s = simple_prefs();
    lsh_kex_result res;
    (void)state;

    memset(longname, 'a', 65);
    longname[65] = '\0';
    c.cipher_c2s = longname;
    s.cipher_c2s = longname;
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), LSH_ENOALG);
    longname[64] = '\0';
    assert_int_equal(nego(LSH_ROLE_CLIENT, &c, 0, &s, 0, &res), 0);
    assert_string_equal(res.cipher_c2s, longname);
}

static void
test_pseudo_and_aead_predicates(void **state)
{
    (void)state;
    assert_true(lsh_kex_is_pseudo("ext-info-c", 10));
    assert_true(lsh_kex_is_pseudo("ext-info-in-auth@openssh.com", 28));
    assert_true(lsh_kex_is_pseudo("kex-strict-s-v00@openssh.com", 28));
    assert_false(lsh_kex_is_pseudo("ext-info", 8));
    assert_false(lsh_kex_is_pseudo("curve25519-sha256", 17));
    assert_true(lsh_kex_cipher_is_aead("chacha20-poly1305@openssh.com"));
    assert_true(lsh_kex_cipher_is_aead("aes256-gcm@openssh.com"));
    assert_false(lsh_kex_cipher_is_aead("aes256-ctr"));
    assert_false(lsh_kex_cipher_is_aead(""));
}

static void
test_negotiate_rejects_bad_arguments(void **state)
{
    lsh_kex_prefs c = simple_prefs();
    lsh_kex_result res;
    ki k;
    (void)state;

    ki_make(&k, &c, 0);
    assert_int_equal(lsh_kex_negotiate(7, &k.k, &k.k, &res), LSH_EINVAL);
    assert_int_equal(lsh_kex_negotiate(LSH_ROLE_CLIENT, NULL, &k.k, &res),
                     LSH_EINVAL);
    ki_free(&k);
}

/* ------------------------------------------------------------------ */
/* Preference lists                                                    */

static void
expect_resolve(const char *def, const char *spec, const char *want)
{
    char *out = NULL;
    assert_int_equal(
        lsh_kex_list_resolve(def, lsh_kex_supported(LSH_KEX_CAT_CIPHER), spec,
                             &out),
        0);
    assert_string_equal(out, want);
    free(out);
}

static void
expect_resolve_fails(const char *def, const char *spec, int err)
{
    char *out = (char *)"untouched";
    assert_int_equal(
        lsh_kex_list_resolve(def, lsh_kex_supported(LSH_KEX_CAT_CIPHER), spec,
                             &out),
        err);
    assert_string_equal(out, "untouched");
}

static void
test_list_resolve_syntax(void **state)
{
    const char *def = "aes128-ctr,aes256-ctr,aes128-gcm@openssh.com";
    (void)state;

    expect_resolve(def, NULL, def);
    /* A plain list replaces, in the user's order, without duplicates. */
    expect_resolve(def, "aes256-cbc,aes128-ctr,aes256-cbc",
                   "aes256-cbc,aes128-ctr");
    /* "+" appends; names already present stay where they are. */
    expect_resolve(def, "+aes128-cbc,aes128-ctr",
                   "aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,aes128-cbc");
    /* "-" removes, with wildcards. */
    expect_resolve(def, "-aes*-ctr", "aes128-gcm@openssh.com");
    expect_resolve(def, "-aes1?8-ctr,aes128-gcm@openssh.com", "aes256-ctr");
    /* "^" puts first. */
    expect_resolve(def, "^aes128-gcm@openssh.com,chacha20-poly1305@openssh.com",
                   "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,"
                   "aes128-ctr,aes256-ctr");
    /* A wildcard expands in the supported list's order. */
    expect_resolve(def, "*-gcm@openssh.com,3des-*",
                   "aes128-gcm@openssh.com,aes256-gcm@openssh.com,3des-cbc");
    expect_resolve(def, "+*cbc",
                   "aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,"
                   "aes128-cbc,aes192-cbc,aes256-cbc,3des-cbc");
    expect_resolve(def, "+x-nothing*", def);
}

static void
test_list_resolve_errors(void **state)
{
    const char *def = "aes128-ctr,aes256-ctr";
    (void)state;

    /* Unknown literal names, in every form. */
    expect_resolve_fails(def, "aes128-ctr,blowfish-cbc", LSH_ENOALG);
    expect_resolve_fails(def, "+blowfish-cbc", LSH_ENOALG);
    expect_resolve_fails(def, "-blowfish-cbc", LSH_ENOALG);
    expect_resolve_fails(def, "^blowfish-cbc", LSH_ENOALG);
    /* Empty results. */
    expect_resolve_fails(def, "-*", LSH_ENOALG);
    expect_resolve_fails(def, "", LSH_ENOALG);
    expect_resolve_fails(def, "x-nothing*", LSH_ENOALG);
    /* Malformed. */
    expect_resolve_fails(def, "aes128-ctr,,aes256-ctr", LSH_EINVAL);
    expect_resolve_fails(def, "aes128-ctr,", LSH_EINVAL);
    expect_resolve_fails(def, ",aes128-ctr", LSH_EINVAL);
    expect_resolve_fails(def, "+aes128-ctr aes256-ctr", LSH_EINVAL);
    assert_int_equal(lsh_kex_list_resolve(NULL, "a", "a", NULL), LSH_EINVAL);
    {
        char *out = NULL;
        assert_int_equal(lsh_kex_list_resolve("a,,b", "a,b", NULL, &out),
                         LSH_EINVAL);
        assert_int_equal(lsh_kex_list_resolve("a", "a b", "a", &out),
                         LSH_EINVAL);
        assert_null(out);
    }
}

static void
test_list_add_markers(void **state)
{
    char *out;
    (void)state;

    assert_int_equal(lsh_kex_list_add_markers(LSH_ROLE_CLIENT, "a,b", &out),
                     0);
    assert_string_equal(
        out, "a,b,ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-c");
    free(out);
    assert_int_equal(lsh_kex_list_add_markers(LSH_ROLE_SERVER, "a", &out), 0);
    assert_string_equal(
        out, "a,ext-info-s,kex-strict-s-v00@openssh.com,kex-strict-s");
    free(out);
    assert_int_equal(lsh_kex_list_add_markers(5, "a", &out), LSH_EINVAL);
}

static void
test_default_prefs_are_supported_and_modern(void **state)
{
    lsh_kex_prefs p = lsh_kex_default_prefs(LSH_ROLE_CLIENT);
    const char *lists[] = {p.kex, p.hostkey, p.cipher_c2s, p.mac_c2s,
                           p.comp_c2s};
    const int cats[] = {LSH_KEX_CAT_KEX, LSH_KEX_CAT_HOSTKEY,
                        LSH_KEX_CAT_CIPHER, LSH_KEX_CAT_MAC, LSH_KEX_CAT_COMP};
    (void)state;

    for (size_t i = 0; i < 5; i++) {
        char *out;
        /* Resolving the defaults as a plain list keeps them unchanged,
         * which also proves that every default name is supported. */
        assert_int_equal(lsh_kex_list_resolve(lists[i],
                                              lsh_kex_supported(cats[i]),
                                              lists[i], &out),
                         0);
        assert_string_equal(out, lists[i]);
        free(out);
    }
    assert_true(strncmp(p.kex, "curve25519-sha256,", 18) == 0);
    assert_null(strstr(p.kex, "sha1"));
    assert_null(strstr(p.kex, "group1-"));
    assert_null(strstr(p.hostkey, "ssh-rsa"));
    assert_null(strstr(p.cipher_c2s, "cbc"));
    assert_null(lsh_kex_supported(99));
}

/* ------------------------------------------------------------------ */
/* KEXINIT                                                             */

static void
test_kexinit_encode_layout(void **state)
{
    uint8_t cookie[16];
    lsh_kex_prefs p;
    lsh_buf b;
    (void)state;

    for (int i = 0; i < 16; i++) {
        cookie[i] = (uint8_t)i;
    }
    p.kex = "k1,k2";
    p.hostkey = "h";
    p.cipher_c2s = "c";
    p.cipher_s2c = "d";
    p.mac_c2s = "m";
    p.mac_s2c = "n";
    p.comp_c2s = "z";
    p.comp_s2c = "y";
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, 0xee), 0);
    assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 1), 0);
    /* RFC 4253 §7.1, field by field (after our 0xee prefix). */
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "ee 14 000102030405060708090a0b0c0d0e0f"
                  "00000005 6b312c6b32" /* k1,k2 */
                  "00000001 68 00000001 63 00000001 64"
                  "00000001 6d 00000001 6e 00000001 7a 00000001 79"
                  "00000000 00000000" /* languages */
                  "01 00000000");
    lsh_buf_free(&b);
}

static void
test_kexinit_round_trip(void **state)
{
    lsh_kex_prefs p = lsh_kex_default_prefs(LSH_ROLE_SERVER);
    uint8_t cookie[16];
    lsh_kexinit k;
    lsh_buf b;
    (void)state;

    memset(cookie, 0xa5, sizeof(cookie));
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 0), 0);
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b), &k),
                     0);
    assert_memory_equal(k.cookie, cookie, 16);
    assert_int_equal(k.list[LSH_KEXINIT_KEX].len, strlen(p.kex));
    assert_memory_equal(k.list[LSH_KEXINIT_KEX].p, p.kex, strlen(p.kex));
    assert_int_equal(k.list[LSH_KEXINIT_HOSTKEY].len, strlen(p.hostkey));
    assert_int_equal(k.list[LSH_KEXINIT_MAC_S2C].len, strlen(p.mac_s2c));
    assert_memory_equal(k.list[LSH_KEXINIT_COMP_S2C].p, p.comp_s2c,
                        strlen(p.comp_s2c));
    assert_int_equal(k.list[LSH_KEXINIT_LANG_C2S].len, 0);
    assert_int_equal(k.list[LSH_KEXINIT_LANG_S2C].len, 0);
    assert_int_equal(k.first_kex_follows, 0);
    assert_int_equal(k.reserved, 0);
    lsh_buf_free(&b);
}

static void
test_kexinit_encode_rejects_bad_prefs(void **state)
{
    static const uint8_t cookie[16];
    static const char *const bad[] = {"", "a,,b", ",a", "a,", "a b"};
    lsh_kex_prefs p = simple_prefs();
    lsh_buf b;
    (void)state;

    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, 1), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = simple_prefs();
        p.mac_s2c = bad[i];
        assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 0), LSH_EINVAL);
        assert_int_equal(lsh_buf_len(&b), 1);
    }
    p = simple_prefs();
    p.comp_c2s = NULL;
    assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 0), LSH_EINVAL);
    lsh_buf_free(&b);

    /* Over-filled buffer: nothing is left behind. */
    lsh_buf_init(&b, 40);
    p = simple_prefs();
    assert_int_equal(lsh_buf_put_u8(&b, 1), 0);
    assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 0), LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 1);
    lsh_buf_free(&b);
}

static void
test_kexinit_parse_truncated_everywhere(void **state)
{
    lsh_kex_prefs p = simple_prefs();
    static const uint8_t cookie[16];
    lsh_kexinit k;
    lsh_buf b;
    (void)state;

    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_kexinit_encode(&b, cookie, &p, 0), 0);
    for (size_t n = 0; n < lsh_buf_len(&b); n++) {
        int r = lsh_kexinit_parse(lsh_buf_ptr(&b), n, &k);
        assert_int_equal(r, LSH_ETRUNCATED);
    }
    /* Trailing bytes after the reserved field. */
    assert_int_equal(lsh_buf_put_u8(&b, 0), 0);
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b), &k),
                     LSH_ETRAILING);
    /* Wrong message number. */
    lsh_buf_ptr(&b)[0] = 21;
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b) - 1,
                                       &k),
                     LSH_EUNEXPECTED);
    lsh_buf_free(&b);
}

/* A KEXINIT whose list number `which` is the raw bytes bad[0..n). */
static void
raw_kexinit(lsh_buf *b, int which, const void *bad, size_t n,
            uint32_t reserved)
{
    static const uint8_t cookie[16];
    lsh_buf_init(b, 0);
    assert_int_equal(lsh_buf_put_u8(b, LSH_MSG_KEXINIT), 0);
    assert_int_equal(lsh_buf_put(b, cookie, 16), 0);
    for (int i = 0; i < LSH_KEXINIT_NLISTS; i++) {
        if (i == which) {
            assert_int_equal(lsh_buf_put_string(b, bad, n), 0);
        } else {
            assert_int_equal(lsh_buf_put_cstring(b, i < 8 ? "x" : ""), 0);
        }
    }
    assert_int_equal(lsh_buf_put_bool(b, 1), 0);
    assert_int_equal(lsh_buf_put_u32(b, reserved), 0);
}

static void
test_kexinit_parse_bad_namelists(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"a,,b", 4}, {",a", 2},    {"a,", 2},   {",", 1},
        {"a b", 3},  {"a\0b", 3}, {"\x80", 1}, {"a\x7f", 2},
    };
    const int where[] = {LSH_KEXINIT_KEX, LSH_KEXINIT_COMP_S2C,
                         LSH_KEXINIT_LANG_S2C};
    lsh_kexinit k;
    lsh_buf b;
    (void)state;

    for (size_t w = 0; w < 3; w++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            raw_kexinit(&b, where[w], bad[i].s, bad[i].n, 0);
            assert_int_equal(
                lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b), &k),
                LSH_EBADNAMELIST);
            lsh_buf_free(&b);
        }
    }
    /* Empty lists are well-formed name-lists (negotiation rejects them);
     * the reserved field is reported, not judged. */
    raw_kexinit(&b, LSH_KEXINIT_MAC_C2S, "", 0, 0xdeadbeef);
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b), &k),
                     0);
    assert_int_equal(k.list[LSH_KEXINIT_MAC_C2S].len, 0);
    assert_int_equal(k.reserved, 0xdeadbeef);
    assert_int_equal(k.first_kex_follows, 1);
    lsh_buf_free(&b);

    /* A length prefix far beyond the payload. */
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, LSH_MSG_KEXINIT), 0);
    assert_int_equal(lsh_buf_put(&b, "0123456789abcdef", 16), 0);
    assert_int_equal(lsh_buf_put_u32(&b, 0xffffffffu), 0);
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&b), lsh_buf_len(&b), &k),
                     LSH_ETOOLARGE);
    lsh_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Methods                                                             */

static void
test_method_table_matches_supported_list(void **state)
{
    const char *all = lsh_kex_supported(LSH_KEX_CAT_KEX);
    size_t pos = 0, n, count = 0;
    const char *name;
    char buf[LSH_KEX_NAME_MAX + 1];
    (void)state;

    while (lsh_namelist_next(all, strlen(all), &pos, &name, &n)) {
        memcpy(buf, name, n);
        buf[n] = '\0';
        assert_non_null(lsh_kex_method_lookup(buf));
        count++;
    }
    for (n = 0; lsh_kex_method_at(n) != NULL; n++) {
        assert_true(lsh_namelist_contains(all, strlen(all),
                                          lsh_kex_method_at(n)->name));
    }
    assert_int_equal(n, count);
    assert_null(lsh_kex_method_lookup("ext-info-c"));
    assert_null(lsh_kex_method_lookup(NULL));
    assert_true(lsh_kex_method_lookup("diffie-hellman-group1-sha1")->legacy);
    assert_false(lsh_kex_method_lookup("curve25519-sha256")->legacy);
}

/* Runs a whole exchange; K and the public values are left in the bufs. */
static void
run_exchange(const lsh_kex_method *m, uint8_t cseed, uint8_t sseed,
             lsh_buf *cpub, lsh_buf *spub, lsh_buf *kc, lsh_buf *ks)
{
    pat_rng rc = {cseed}, rs = {sseed};
    lsh_kex_state *c, *s;

    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    if (m->kind == LSH_KEX_KIND_GEX) {
        const lsh_kex_group *grp;
        const uint8_t *p, *g;
        size_t plen, glen;
        assert_int_equal(lsh_kex_gex_choose(2048, 3072, 8192, 0, &grp), 0);
        assert_int_equal(lsh_kex_state_use_group(s, grp), 0);
        assert_int_equal(lsh_kex_state_group(s, &p, &plen, &g, &glen), 0);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 3072, 8192, p, plen, g, glen, 0), 0);
        assert_int_equal(lsh_kex_state_set_group(c, p, plen, g, glen), 0);
    }
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &rc, cpub), 0);
    assert_int_equal(lsh_kex_server_reply(s, lsh_buf_ptr(cpub),
                                          lsh_buf_len(cpub), pattern_rng, &rs,
                                          spub, ks),
                     0);
    assert_int_equal(
        lsh_kex_client_finish(c, lsh_buf_ptr(spub), lsh_buf_len(spub), kc), 0);
    lsh_kex_state_free(c);
    lsh_kex_state_free(s);
}

static void
test_every_method_agrees_on_K(void **state)
{
    (void)state;
    for (size_t i = 0; lsh_kex_method_at(i) != NULL; i++) {
        const lsh_kex_method *m = lsh_kex_method_at(i);
        lsh_buf cpub, spub, kc, ks, again;
        lsh_buf_init(&cpub, 0);
        lsh_buf_init(&spub, 0);
        lsh_buf_init(&kc, 0);
        lsh_buf_init(&ks, 0);
        lsh_buf_init(&again, 0);
        run_exchange(m, 0x11, 0x22, &cpub, &spub, &kc, &ks);
        assert_true(lsh_buf_len(&kc) > 4);
        assert_int_equal(lsh_buf_len(&kc), lsh_buf_len(&ks));
        assert_memory_equal(lsh_buf_ptr(&kc), lsh_buf_ptr(&ks),
                            lsh_buf_len(&kc));
        /* K is an mpint: its length prefix covers the rest. */
        assert_int_equal(lsh_peek_u32(lsh_buf_ptr(&kc)) + 4,
                         lsh_buf_len(&kc));
        /* The same rng gives the same ephemeral public value. */
        {
            lsh_kex_state *c;
            pat_rng rc = {0x11};
            assert_int_equal(lsh_kex_state_new(m, &c), 0);
            if (m->kind == LSH_KEX_KIND_GEX) {
                const lsh_kex_group *grp;
                assert_int_equal(
                    lsh_kex_gex_choose(2048, 3072, 8192, 0, &grp), 0);
                assert_int_equal(lsh_kex_state_use_group(c, grp), 0);
            }
            assert_int_equal(lsh_kex_client_init(c, pattern_rng, &rc, &again),
                             0);
            assert_int_equal(lsh_buf_len(&again), lsh_buf_len(&cpub));
            assert_memory_equal(lsh_buf_ptr(&again), lsh_buf_ptr(&cpub),
                                lsh_buf_len(&cpub));
            lsh_kex_state_free(c);
        }
        lsh_buf_free(&cpub);
        lsh_buf_free(&spub);
        lsh_buf_free(&kc);
        lsh_buf_free(&ks);
        lsh_buf_free(&again);
    }
}

/* RFC 7748 §6.1. */
#define ALICE_PRIV                                                        \
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB                                                         \
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV                                                          \
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define BOB_PUB                                                           \
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define X25519_SHARED                                                     \
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

static void
test_x25519_rfc7748_vectors_and_rfc8731_encoding(void **state)
{
    const lsh_kex_method *m = lsh_kex_method_lookup("curve25519-sha256");
    size_t alen, blen;
    uint8_t *apriv = tu_unhex(ALICE_PRIV, &alen);
    uint8_t *bpriv = tu_unhex(BOB_PRIV, &blen);
    fixed_rng ra = {apriv, alen, 0}, rb = {bpriv, blen, 0};
    lsh_kex_state *c, *s;
    lsh_buf cpub, spub, kc, ks;
    (void)state;

    lsh_buf_init(&cpub, 0);
    lsh_buf_init(&spub, 0);
    lsh_buf_init(&kc, 0);
    lsh_buf_init(&ks, 0);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    assert_int_equal(lsh_kex_client_init(c, fixed_rng_cb, &ra, &cpub), 0);
    tu_assert_hex(lsh_buf_ptr(&cpub), lsh_buf_len(&cpub), ALICE_PUB);
    assert_int_equal(lsh_kex_server_reply(s, lsh_buf_ptr(&cpub),
                                          lsh_buf_len(&cpub), fixed_rng_cb,
                                          &rb, &spub, &ks),
                     0);
    tu_assert_hex(lsh_buf_ptr(&spub), lsh_buf_len(&spub), BOB_PUB);
    assert_int_equal(lsh_kex_client_finish(c, lsh_buf_ptr(&spub),
                                           lsh_buf_len(&spub), &kc),
                     0);
    /* RFC 8731 §3.1: the 32 bytes read big-endian, as an mpint (the top
     * bit of 0x4a is clear, so no padding byte). */
    tu_assert_hex(lsh_buf_ptr(&kc), lsh_buf_len(&kc), "00000020" X25519_SHARED);
    tu_assert_hex(lsh_buf_ptr(&ks), lsh_buf_len(&ks), "00000020" X25519_SHARED);
    lsh_kex_state_free(c);
    lsh_kex_state_free(s);
    lsh_buf_free(&cpub);
    lsh_buf_free(&spub);
    lsh_buf_free(&kc);
    lsh_buf_free(&ks);
    free(apriv);
    free(bpriv);
}

/* Server reply to a client value given in hex; returns the result code and
 * checks that nothing was appended on failure. */
static int
reply_hex(const char *method, const uint8_t *cpub, size_t n)
{
    const lsh_kex_method *m = lsh_kex_method_lookup(method);
    pat_rng rs = {0x22};
    lsh_kex_state *s;
    lsh_buf spub, ks;
    int r;

    lsh_buf_init(&spub, 0);
    lsh_buf_init(&ks, 0);
    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    r = lsh_kex_server_reply(s, cpub, n, pattern_rng, &rs, &spub, &ks);
    if (r != 0) {
        assert_int_equal(lsh_buf_len(&spub), 0);
        assert_int_equal(lsh_buf_len(&ks), 0);
        /* A failed state refuses further use. */
        assert_int_equal(lsh_kex_server_reply(s, cpub, n, pattern_rng, &rs,
                                              &spub, &ks),
                         LSH_ESTATE);
    }
    lsh_kex_state_free(s);
    lsh_buf_free(&spub);
    lsh_buf_free(&ks);
    return r;
}

/* Client finish against a server value; nothing appended on failure. */
static int
finish_with(const char *method, const uint8_t *spub, size_t n)
{
    const lsh_kex_method *m = lsh_kex_method_lookup(method);
    pat_rng rc = {0x11};
    lsh_kex_state *c;
    lsh_buf cpub, kc;
    int r;

    lsh_buf_init(&cpub, 0);
    lsh_buf_init(&kc, 0);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &rc, &cpub), 0);
    r = lsh_kex_client_finish(c, spub, n, &kc);
    if (r != 0) {
        assert_int_equal(lsh_buf_len(&kc), 0);
    }
    lsh_kex_state_free(c);
    lsh_buf_free(&cpub);
    lsh_buf_free(&kc);
    return r;
}

static int
reply_unhex(const char *method, const char *hex)
{
    size_t n;
    uint8_t *p = tu_unhex(hex, &n);
    int r = reply_hex(method, p, n);
    int r2 = finish_with(method, p, n);
    assert_int_equal(r, r2);
    free(p);
    return r;
}

static void
test_x25519_rejects_low_order_points_and_bad_lengths(void **state)
{
    /* Each of these makes X25519 output all zeros (RFC 7748 §6/§7). */
    static const char *const low[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
        assert_int_equal(reply_unhex("curve25519-sha256", low[i]),
                         LSH_EBADKEY);
        assert_int_equal(reply_unhex("curve25519-sha256@libssh.org", low[i]),
                         LSH_EBADKEY);
    }
    /* RFC 8731 §3: exactly 32 (X25519) / 56 (X448) bytes. */
    assert_int_equal(reply_unhex("curve25519-sha256", BOB_PUB "00"),
                     LSH_EBADKEY);
    assert_int_equal(
        reply_unhex("curve25519-sha256",
                    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f"
                    "882b"),
        LSH_EBADKEY);
    assert_int_equal(reply_unhex("curve25519-sha256", ""), LSH_EBADKEY);
    assert_int_equal(reply_unhex("curve448-sha512", BOB_PUB), LSH_EBADKEY);
    assert_int_equal(reply_unhex("curve25519-sha256", BOB_PUB), 0);
}

/* A valid client point of a NIST method, from a fresh client. */
static void
nist_point(const char *method, lsh_buf *pub)
{
    lsh_kex_state *c;
    pat_rng rc = {0x33};
    lsh_buf_init(pub, 0);
    assert_int_equal(lsh_kex_state_new(lsh_kex_method_lookup(method), &c), 0);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &rc, pub), 0);
    lsh_kex_state_free(c);
}

static void
test_nist_points_validated(void **state)
{
    static const struct {
        const char *name;
        size_t fb;
    } curves[] = {{"ecdh-sha2-nistp256", 32},
                  {"ecdh-sha2-nistp384", 48},
                  {"ecdh-sha2-nistp521", 66}};
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        const char *name = curves[i].name;
        size_t fb = curves[i].fb;
        uint8_t bad[1 + 2 * 66];
        lsh_buf pub;

        nist_point(name, &pub);
        assert_int_equal(lsh_buf_len(&pub), 1 + 2 * fb);
        assert_int_equal(lsh_buf_ptr(&pub)[0], 0x04);
        assert_int_equal(reply_hex(name, lsh_buf_ptr(&pub), 1 + 2 * fb), 0);

        /* Off the curve: change y. */
        memcpy(bad, lsh_buf_ptr(&pub), 1 + 2 * fb);
        bad[2 * fb] ^= 1;
        assert_int_equal(reply_hex(name, bad, 1 + 2 * fb), LSH_EBADKEY);
        assert_int_equal(finish_with(name, bad, 1 + 2 * fb), LSH_EBADKEY);
        /* Unknown prefix, wrong lengths, the point at infinity. */
        memcpy(bad, lsh_buf_ptr(&pub), 1 + 2 * fb);
        bad[0] = 0x05;
        assert_int_equal(reply_hex(name, bad, 1 + 2 * fb), LSH_EBADKEY);
        assert_int_equal(reply_hex(name, lsh_buf_ptr(&pub), 2 * fb),
                         LSH_EBADKEY);
        assert_int_equal(reply_hex(name, lsh_buf_ptr(&pub), 1 + fb),
                         LSH_EBADKEY);
        bad[0] = 0x00;
        assert_int_equal(reply_hex(name, bad, 1), LSH_EBADKEY);
        assert_int_equal(reply_hex(name, bad, 0), LSH_EBADKEY);
        /* A point of another curve. */
        if (i > 0) {
            lsh_buf other;
            nist_point(curves[0].name, &other);
            assert_int_equal(reply_hex(name, lsh_buf_ptr(&other),
                                       lsh_buf_len(&other)),
                             LSH_EBADKEY);
            lsh_buf_free(&other);
        }
        lsh_buf_free(&pub);
    }
}

static void
test_nist_compressed_point_gives_same_K(void **state)
{
    const lsh_kex_method *m = lsh_kex_method_lookup("ecdh-sha2-nistp256");
    uint8_t comp[33];
    lsh_buf pub, k1, k2, spub;
    lsh_kex_state *s;
    pat_rng rs;
    (void)state;

    nist_point("ecdh-sha2-nistp256", &pub);
    /* SEC1 2.3.3 compression: 02/03 by the parity of y, then x. */
    comp[0] = (uint8_t)(0x02 | (lsh_buf_ptr(&pub)[64] & 1));
    memcpy(comp + 1, lsh_buf_ptr(&pub) + 1, 32);
    lsh_buf_init(&k1, 0);
    lsh_buf_init(&k2, 0);
    lsh_buf_init(&spub, 0);

    rs.v = 0x44;
    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    assert_int_equal(lsh_kex_server_reply(s, lsh_buf_ptr(&pub), 65,
                                          pattern_rng, &rs, &spub, &k1),
                     0);
    lsh_kex_state_free(s);
    rs.v = 0x44;
    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    assert_int_equal(
        lsh_kex_server_reply(s, comp, 33, pattern_rng, &rs, &spub, &k2), 0);
    lsh_kex_state_free(s);
    assert_int_equal(lsh_buf_len(&k1), lsh_buf_len(&k2));
    assert_memory_equal(lsh_buf_ptr(&k1), lsh_buf_ptr(&k2), lsh_buf_len(&k1));
    /* Wrong parity: the other point with this x (valid, other K). */
    comp[0] ^= 1;
    assert_int_equal(reply_hex("ecdh-sha2-nistp256", comp, 33), 0);
    lsh_buf_free(&pub);
    lsh_buf_free(&k1);
    lsh_buf_free(&k2);
    lsh_buf_free(&spub);
}

/* p of a DH state, as a BIGNUM plus offset (p + delta). */
static uint8_t *
group14_plus(long delta, size_t *len)
{
    const lsh_kex_group *grp = lsh__kex_group_bits(2048);
    BIGNUM *p = NULL;
    uint8_t *out;
    assert_non_null(grp);
    assert_true(BN_hex2bn(&p, grp->p_hex) > 0);
    if (delta >= 0) {
        assert_true(BN_add_word(p, (BN_ULONG)delta));
    } else {
        assert_true(BN_sub_word(p, (BN_ULONG)-delta));
    }
    *len = (size_t)BN_num_bytes(p);
    out = malloc(*len);
    BN_bn2bin(p, out);
    BN_free(p);
    return out;
}

static void
test_dh_rejects_out_of_range_values(void **state)
{
    static const char *const names[] = {"diffie-hellman-group14-sha256",
                                         "diffie-hellman-group14-sha1"};
    static const uint8_t one = 1, two = 2, zero = 0;
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        const char *name = names[i];
        long deltas[] = {-1, 0, 1, 2};
        size_t n;
        uint8_t *v;

        /* RFC 8268 §4: 1 < e < p-1. */
        assert_int_equal(reply_hex(name, NULL, 0), LSH_EBADKEY);
        assert_int_equal(reply_hex(name, &zero, 1), LSH_EBADKEY);
        assert_int_equal(reply_hex(name, &one, 1), LSH_EBADKEY);
        assert_int_equal(finish_with(name, &one, 1), LSH_EBADKEY);
        assert_int_equal(finish_with(name, NULL, 0), LSH_EBADKEY);
        for (size_t d = 0; d < 4; d++) {
            v = group14_plus(deltas[d], &n);
            assert_int_equal(reply_hex(name, v, n), LSH_EBADKEY);
            assert_int_equal(finish_with(name, v, n), LSH_EBADKEY);
            free(v);
        }
        /* p-2 and 2 are in range. */
        v = group14_plus(-2, &n);
        assert_int_equal(reply_hex(name, v, n), 0);
        free(v);
        assert_int_equal(reply_hex(name, &two, 1), 0);
        /* Longer than p. */
        {
            uint8_t big[257];
            memset(big, 0xff, sizeof(big));
            assert_int_equal(reply_hex(name, big, sizeof(big)), LSH_EBADKEY);
        }
    }
}

static void
test_state_machine_misuse(void **state)
{
    const lsh_kex_method *m = lsh_kex_method_lookup("curve25519-sha256");
    const lsh_kex_method *gex =
        lsh_kex_method_lookup("diffie-hellman-group-exchange-sha256");
    pat_rng r1 = {1}, r2 = {2};
    lsh_kex_state *c, *s;
    lsh_buf a, b, k;
    int err = 1;
    const uint8_t g2 = 2, *p, *g;
    size_t plen, glen;
    (void)state;

    lsh_buf_init(&a, 0);
    lsh_buf_init(&b, 0);
    lsh_buf_init(&k, 0);
    assert_int_equal(lsh_kex_state_new(NULL, &c), LSH_EINVAL);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_client_finish(c, NULL, 0, &k), LSH_ESTATE);
    /* rng failures are reported; the failed state is done for. */
    assert_int_equal(lsh_kex_client_init(c, failing_rng, NULL, &a),
                     LSH_ECRYPTO);
    assert_int_equal(lsh_buf_len(&a), 0);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &r1, &a),
                     LSH_ESTATE);
    lsh_kex_state_free(c);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_client_init(c, failing_rng, &err, &a),
                     LSH_ECRYPTO);
    lsh_kex_state_free(c);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_client_init(c, NULL, NULL, &a), LSH_EINVAL);
    lsh_kex_state_free(c);
    assert_int_equal(lsh_kex_state_new(m, &c), 0);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &r1, &a), 0);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &r1, &a),
                     LSH_ESTATE);
    assert_int_equal(lsh_kex_server_reply(c, lsh_buf_ptr(&a), lsh_buf_len(&a),
                                          pattern_rng, &r2, &b, &k),
                     LSH_ESTATE);
    /* ECDH has no group. */
    assert_int_equal(lsh_kex_state_group(c, &p, &plen, &g, &glen),
                     LSH_ESTATE);
    assert_int_equal(lsh_kex_state_use_group(c, lsh__kex_group_bits(2048)),
                     LSH_ESTATE);
    lsh_kex_state_free(c);

    assert_int_equal(lsh_kex_state_new(m, &s), 0);
    assert_int_equal(lsh_kex_server_reply(s, lsh_buf_ptr(&a), lsh_buf_len(&a),
                                          pattern_rng, &r2, &b, &k),
                     0);
    assert_int_equal(lsh_kex_server_reply(s, lsh_buf_ptr(&a), lsh_buf_len(&a),
                                          pattern_rng, &r2, &b, &k),
                     LSH_ESTATE);
    lsh_kex_state_free(s);

    /* GEX: nothing happens before a group is fixed, and only once. */
    lsh_buf_reset(&a);
    assert_int_equal(lsh_kex_state_new(gex, &c), 0);
    assert_int_equal(lsh_kex_state_group(c, &p, &plen, &g, &glen),
                     LSH_ESTATE);
    assert_int_equal(lsh_kex_client_init(c, pattern_rng, &r1, &a), LSH_ESTATE);
    assert_int_equal(lsh_kex_server_reply(c, &g2, 1, pattern_rng, &r2, &b, &k),
                     LSH_ESTATE);
    assert_int_equal(lsh_kex_state_use_group(c, lsh__kex_group_bits(2048)), 0);
    assert_int_equal(lsh_kex_state_use_group(c, lsh__kex_group_bits(4096)),
                     LSH_ESTATE);
    assert_int_equal(lsh_kex_state_group(c, &p, &plen, &g, &glen), 0);
    assert_int_equal(plen, 256);
    assert_int_equal(glen, 1);
    assert_int_equal(g[0], 2);
    lsh_kex_state_free(c);
    /* A fixed-group method cannot take another group. */
    assert_int_equal(lsh_kex_state_new(lsh_kex_method_lookup(
                                           "diffie-hellman-group16-sha512"),
                                       &c),
                     0);
    assert_int_equal(lsh_kex_state_group(c, &p, &plen, &g, &glen), 0);
    assert_int_equal(plen, 512);
    assert_int_equal(lsh_kex_state_set_group(c, p, plen, g, glen), LSH_ESTATE);
    lsh_kex_state_free(c);
    lsh_kex_state_free(NULL);

    lsh_buf_free(&a);
    lsh_buf_free(&b);
    lsh_buf_free(&k);
}

static void
test_dh_group14_known_answer(void **state)
{
    const lsh_kex_method *m =
        lsh_kex_method_lookup("diffie-hellman-group14-sha256");
    lsh_buf cpub, spub, kc, ks;
    uint8_t d[32];
    unsigned dl;
    (void)state;

    lsh_buf_init(&cpub, 0);
    lsh_buf_init(&spub, 0);
    lsh_buf_init(&kc, 0);
    lsh_buf_init(&ks, 0);
    run_exchange(m, 0x11, 0x22, &cpub, &spub, &kc, &ks);
    /*
     * Python, with p = RFC 3526 group 14 and pattern(v, n) the test rng:
     *   x = int.from_bytes(pattern(0x11, 128), 'big') | 1 << 1023
     *   y = int.from_bytes(pattern(0x22, 128), 'big') | 1 << 1023
     *   e = pow(2, x, p); f = pow(2, y, p); K = pow(f, x, p)
     *   sha256(magnitude(e)), sha256(magnitude(f)), sha256(mpint(K))
     */
    assert_true(EVP_Digest(lsh_buf_ptr(&cpub), lsh_buf_len(&cpub), d, &dl,
                           EVP_sha256(), NULL));
    tu_assert_hex(d, dl, "1e8d87b8f18f6fa43dcee585c93f90ff"
                         "3577b85f78e3b1f4e2cbb6a53475b8b8");
    assert_true(EVP_Digest(lsh_buf_ptr(&spub), lsh_buf_len(&spub), d, &dl,
                           EVP_sha256(), NULL));
    tu_assert_hex(d, dl, "43cfe5b1cfeb71f038c9bc221b8d13bf"
                         "12d824445eaacaf9fea334609e63f3f9");
    assert_true(EVP_Digest(lsh_buf_ptr(&kc), lsh_buf_len(&kc), d, &dl,
                           EVP_sha256(), NULL));
    tu_assert_hex(d, dl, "0dad686eb1c462b84ae8b08f725becf5"
                         "b30650b200d85acfeeed5bc345b7d6ab");
    lsh_buf_free(&cpub);
    lsh_buf_free(&spub);
    lsh_buf_free(&kc);
    lsh_buf_free(&ks);
}

static void
test_put_get_pub(void **state)
{
    const lsh_kex_method *ec = lsh_kex_method_lookup("curve25519-sha256");
    const lsh_kex_method *dh =
        lsh_kex_method_lookup("diffie-hellman-group14-sha256");
    static const uint8_t v[3] = {0x80, 0x01, 0x02};
    const uint8_t *p;
    size_t n;
    lsh_buf b;
    lsh_rd rd;
    (void)state;

    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_kex_put_pub(&b, ec, v, 3), 0);
    assert_int_equal(lsh_kex_put_pub(&b, dh, v, 3), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000003 800102 00000004 00800102");
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(lsh_kex_get_pub(&rd, ec, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(lsh_kex_get_pub(&rd, dh, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(p, v, 3);
    assert_int_equal(lsh_rd_end(&rd), 0);
    /* A negative mpint is no DH value. */
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_string(&b, v, 3), 0);
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(lsh_kex_get_pub(&rd, dh, &p, &n), LSH_EBADMPINT);
    assert_int_equal(lsh_kex_put_pub(&b, NULL, v, 3), LSH_EINVAL);
    lsh_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Exchange hash and key derivation                                    */

/* The inputs of kat.py (see the comment in test_exchange_hash_ecdh). */
typedef struct kat_inputs {
    uint8_t i_c[31], i_s[31], k_s[51];
    uint8_t e[40], f[40];
    uint8_t *alice, *bob;
    size_t alen, blen;
    lsh_buf kd, kx;
    lsh_kex_hash_input in;
} kat_inputs;

static void
kat_setup(kat_inputs *t)
{
    static const uint8_t kdv[] = {0x00, 0xff, 0x00, 0xff, 0x12, 0x34};
    size_t sl;
    uint8_t *shared;

    memset(t, 0, sizeof(*t));
    t->i_c[0] = t->i_s[0] = 20;
    for (int i = 0; i < 16; i++) {
        t->i_c[1 + i] = (uint8_t)(1 + i);
        t->i_s[1 + i] = (uint8_t)(0xa0 + i);
    }
    memcpy(t->i_c + 17, "client-kexinit", 14);
    memcpy(t->i_s + 17, "server-kexinit", 14);
    lsh_poke_u32(t->k_s, 11);
    memcpy(t->k_s + 4, "ssh-ed25519", 11);
    lsh_poke_u32(t->k_s + 15, 32);
    for (int i = 0; i < 32; i++) {
        t->k_s[19 + i] = (uint8_t)i;
    }
    t->e[0] = 0x80;
    t->f[0] = 0x7f;
    for (int i = 1; i < 40; i++) {
        t->e[i] = (uint8_t)i;
        t->f[i] = (uint8_t)(i + 1);
    }
    t->alice = tu_unhex(ALICE_PUB, &t->alen);
    t->bob = tu_unhex(BOB_PUB, &t->blen);
    lsh_buf_init(&t->kd, 0);
    lsh_buf_init(&t->kx, 0);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&t->kd, kdv, sizeof(kdv)), 0);
    shared = tu_unhex(X25519_SHARED, &sl);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&t->kx, shared, sl), 0);
    free(shared);

    t->in.v_c = (const uint8_t *)"SSH-2.0-luassh_test";
    t->in.v_c_len = 19;
    t->in.v_s = (const uint8_t *)"SSH-2.0-OpenSSH_9.6";
    t->in.v_s_len = 19;
    t->in.i_c = t->i_c;
    t->in.i_c_len = sizeof(t->i_c);
    t->in.i_s = t->i_s;
    t->in.i_s_len = sizeof(t->i_s);
    t->in.k_s = t->k_s;
    t->in.k_s_len = sizeof(t->k_s);
}

static void
kat_teardown(kat_inputs *t)
{
    free(t->alice);
    free(t->bob);
    lsh_buf_free(&t->kd);
    lsh_buf_free(&t->kx);
}

/*
 * Known answers from Python 3 (hashlib), with
 *   string(b) = u32(len(b)) + b; mpint(x) per RFC 4251 §5
 *   V_C = b"SSH-2.0-luassh_test"; V_S = b"SSH-2.0-OpenSSH_9.6"
 *   I_C = bytes([20]) + bytes(range(1, 17)) + b"client-kexinit"
 *   I_S = bytes([20]) + bytes(range(0xa0, 0xb0)) + b"server-kexinit"
 *   K_S = string(b"ssh-ed25519") + string(bytes(range(32)))
 *   ECDH: Q_C = Alice's, Q_S = Bob's RFC 7748 public keys,
 *         K = mpint(int.from_bytes(X25519_SHARED, 'big'))
 *   H = sha256(string(V_C) + string(V_S) + string(I_C) + string(I_S)
 *              + string(K_S) + string(Q_C) + string(Q_S) + K)
 *   DH:   e = 0x80 || bytes(range(1, 40)), f = 0x7f || bytes(range(2, 41)),
 *         K = mpint(0xff00ff1234); mpint(e), mpint(f) instead of strings;
 *   GEX:  u32(2048) u32(3072) u32(8192) mpint(p14) mpint(2) before e
 *         (old request: u32(3072) alone).
 */
static void
check_hash(const char *method, const lsh_kex_hash_input *in, const char *hex)
{
    uint8_t h[EVP_MAX_MD_SIZE];
    size_t hl = sizeof(h);
    assert_int_equal(
        lsh_kex_exchange_hash(lsh_kex_method_lookup(method), in, h, &hl), 0);
    tu_assert_hex(h, hl, hex);
}

static void
test_exchange_hash_known_answers(void **state)
{
    kat_inputs t;
    lsh_kex_state *st;
    (void)state;

    kat_setup(&t);
    t.in.client_pub = t.alice;
    t.in.client_pub_len = t.alen;
    t.in.server_pub = t.bob;
    t.in.server_pub_len = t.blen;
    t.in.k = lsh_buf_ptr(&t.kx);
    t.in.k_len = lsh_buf_len(&t.kx);
    check_hash("curve25519-sha256", &t.in,
               "45ae00bc8a1b3d0e71e471f386699285"
               "a3c0e1b7f3ff6023f1a1176e90829cc1");

    t.in.client_pub = t.e;
    t.in.client_pub_len = sizeof(t.e);
    t.in.server_pub = t.f;
    t.in.server_pub_len = sizeof(t.f);
    t.in.k = lsh_buf_ptr(&t.kd);
    t.in.k_len = lsh_buf_len(&t.kd);
    check_hash("diffie-hellman-group14-sha256", &t.in,
               "fadf553bf93e9a56b8661fdc66856c09"
               "a2fd09e6ccadceaf7a929f7757408ab1");
    check_hash("diffie-hellman-group14-sha1", &t.in,
               "fb02199901fb0fdfeadf1d7f3195cdf94b90be37");

    /* The GEX fields come from a state's group (RFC 3526 group 14). */
    assert_int_equal(
        lsh_kex_state_new(
            lsh_kex_method_lookup("diffie-hellman-group-exchange-sha256"),
            &st),
        0);
    assert_int_equal(lsh_kex_state_use_group(st, lsh__kex_group_bits(2048)),
                     0);
    assert_int_equal(lsh_kex_state_group(st, &t.in.gex_p, &t.in.gex_p_len,
                                         &t.in.gex_g, &t.in.gex_g_len),
                     0);
    t.in.gex_min = 2048;
    t.in.gex_n = 3072;
    t.in.gex_max = 8192;
    check_hash("diffie-hellman-group-exchange-sha256", &t.in,
               "d7c59688f33bcadab0b9dd0e739a1aaf"
               "b726ce1836731358541a6103f31d2aa3");
    t.in.gex_old = 1;
    check_hash("diffie-hellman-group-exchange-sha256", &t.in,
               "07707e545b28901521d194781e638311"
               "6b56507730582ce114c085912926df37");
    lsh_kex_state_free(st);

    /* Too little room for the hash. */
    {
        uint8_t h[31];
        size_t hl = sizeof(h);
        assert_int_equal(
            lsh_kex_exchange_hash(lsh_kex_method_lookup("curve25519-sha256"),
                                  &t.in, h, &hl),
            LSH_EINVAL);
    }
    kat_teardown(&t);
}

/*
 * Python: derive(hf, K, H, X, sid, need):
 *   out = hf(K + H + X + sid).digest()
 *   while len(out) < need: out += hf(K + H + out).digest()
 *   return out[:need]
 * with K and H of the curve25519-sha256 case above and sid = H, or
 * sid = bytes(range(0x40, 0x60)) for the SHA-512 case.
 */
static void
test_key_derivation_known_answers(void **state)
{
    static const struct {
        char letter;
        size_t need;
        const char *hex;
    } cases[] = {
        {'A', 16, "4f1e03742c3f915b8f564ab35c321c5c"},
        {'C', 32,
         "2f00250af06d8725cf5f1e103f9e5af847954fe8a7795451e3114ba85addac51"},
        {'E', 64,
         "360b832948dc4d59156d09a57629e8e7a7859890510480c4e7977b1bba0b66d0"
         "d91804ea55da79acbea092d215151c5345d82585cba0397286173a2d3508358e"},
        {'F', 20, "8a47ed62e31890672d5566f42824e19832532495"},
    };
    const lsh_kex_method *m = lsh_kex_method_lookup("curve25519-sha256");
    const lsh_kex_method *m512 =
        lsh_kex_method_lookup("diffie-hellman-group16-sha512");
    size_t hl, kl;
    uint8_t *H = tu_unhex("45ae00bc8a1b3d0e71e471f386699285"
                          "a3c0e1b7f3ff6023f1a1176e90829cc1",
                          &hl);
    uint8_t *K = tu_unhex("00000020" X25519_SHARED, &kl);
    uint8_t out[100], sid[32];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(lsh_kex_derive(m, K, kl, H, hl, H, hl,
                                        cases[i].letter, cases[i].need, out),
                         0);
        tu_assert_hex(out, cases[i].need, cases[i].hex);
    }
    for (int i = 0; i < 32; i++) {
        sid[i] = (uint8_t)(0x40 + i);
    }
    assert_int_equal(
        lsh_kex_derive(m512, K, kl, H, hl, sid, sizeof(sid), 'D', 100, out),
        0);
    tu_assert_hex(out, 100,
                  "4df60b51421c5061124ed280b95a80d03dd2bf3dbddcbe3838aa6695"
                  "4972ee6f5370531681ad6eac9f4317fa36d84bae4ee89eb076613424"
                  "766ed3cee1c32e3defeb1a82b7048ee66b024265100235f1afa65708"
                  "5881ee00c38f78828fc9a3fe9b1413ad");
    assert_int_equal(lsh_kex_derive(m, K, kl, H, hl, H, hl, 'A', 0, NULL), 0);
    assert_int_equal(lsh_kex_derive(NULL, K, kl, H, hl, H, hl, 'A', 1, out),
                     LSH_EINVAL);
    free(H);
    free(K);
}

/* ------------------------------------------------------------------ */
/* Groups and group exchange                                           */

static void
test_groups_match_openssl_and_rfc(void **state)
{
    static const struct {
        unsigned bits;
        const char *ossl;
    } named[] = {{2048, "modp_2048"},
                 {3072, "modp_3072"},
                 {4096, "modp_4096"},
                 {6144, "modp_6144"},
                 {8192, "modp_8192"}};
    size_t count;
    const lsh_kex_group *groups = lsh_kex_groups(&count);
    (void)state;

    assert_int_equal(count, 6);
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        const lsh_kex_group *grp = lsh__kex_group_bits(named[i].bits);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             (char *)named[i].ossl, 0),
            OSSL_PARAM_END};
        EVP_PKEY *pk = NULL;
        BIGNUM *p = NULL, *g = NULL, *ours = NULL;

        assert_non_null(grp);
        assert_non_null(ctx);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(
            EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEY_PARAMETERS, params), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_FFC_P, &p),
                         1);
        assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_FFC_G, &g),
                         1);
        assert_true(BN_hex2bn(&ours, grp->p_hex) > 0);
        assert_int_equal(BN_cmp(p, ours), 0);
        assert_int_equal(BN_num_bits(ours), (int)grp->bits);
        assert_true(BN_is_word(g, grp->g));
        BN_free(p);
        BN_free(g);
        BN_free(ours);
        EVP_PKEY_free(pk);
        EVP_PKEY_CTX_free(ctx);
    }
    /* Oakley group 2 (RFC 2409 §6.2) is not in OpenSSL: check that p and
     * (p-1)/2 are prime, i.e. p is a safe prime. */
    {
        BIGNUM *p = NULL, *q;
        BN_CTX *bc = BN_CTX_new();
        assert_int_equal(groups[0].bits, 1024);
        assert_true(BN_hex2bn(&p, groups[0].p_hex) > 0);
        assert_int_equal(BN_num_bits(p), 1024);
        q = BN_dup(p);
        assert_true(BN_rshift1(q, q));
        assert_int_equal(BN_check_prime(p, bc, NULL), 1);
        assert_int_equal(BN_check_prime(q, bc, NULL), 1);
        BN_free(p);
        BN_free(q);
        BN_CTX_free(bc);
    }
}

static void
expect_choice(uint32_t min, uint32_t n, uint32_t max, unsigned flags,
              int err, unsigned bits)
{
    const lsh_kex_group *grp = NULL;
    assert_int_equal(lsh_kex_gex_choose(min, n, max, flags, &grp), err);
    if (err == 0) {
        assert_non_null(grp);
        assert_int_equal(grp->bits, bits);
        assert_true(grp->bits >= min && grp->bits <= max);
    }
}

static void
test_gex_choose_group(void **state)
{
    (void)state;
    /* RFC 8270: 1024 is raised to 2048 unless explicitly allowed. */
    expect_choice(1024, 2048, 8192, 0, 0, 2048);
    expect_choice(2048, 3072, 8192, 0, 0, 3072);
    expect_choice(9000, 9000, 9000, 0, LSH_ENOALG, 0);
    expect_choice(1024, 1024, 1024, 0, LSH_ENOALG, 0);
    expect_choice(1024, 1024, 1024, LSH_KEX_GEX_ALLOW_1024, 0, 1024);
    expect_choice(1024, 1024, 8192, 0, 0, 2048);
    expect_choice(1024, 1024, 8192, LSH_KEX_GEX_ALLOW_1024, 0, 1024);
    /* Smallest group >= n, else the largest within [min, max]. */
    expect_choice(2048, 7680, 8192, 0, 0, 8192);
    expect_choice(2048, 5000, 6000, 0, 0, 4096);
    expect_choice(2048, 8192, 8192, 0, 0, 8192);
    expect_choice(3000, 3000, 3100, 0, 0, 3072);
    /* Malformed requests. */
    expect_choice(4096, 2048, 8192, 0, LSH_EPROTOCOL, 0);
    expect_choice(2048, 8192, 4096, 0, LSH_EPROTOCOL, 0);
    assert_int_equal(lsh_kex_gex_choose(2048, 2048, 2048, 0, NULL),
                     LSH_EINVAL);
}

static uint8_t *
mag_of(const BIGNUM *v, size_t *len)
{
    uint8_t *out;
    *len = (size_t)BN_num_bytes(v);
    out = malloc(*len ? *len : 1);
    BN_bn2bin(v, out);
    return out;
}

static void
test_gex_client_checks_group(void **state)
{
    const uint8_t two = 2;
    size_t pl, p1l;
    uint8_t *p14 = group14_plus(0, &pl), *bad, *p1;
    BIGNUM *bp1 = NULL;
    (void)state;

    assert_true(BN_hex2bn(&bp1, lsh__kex_group_bits(1024)->p_hex) > 0);
    p1 = mag_of(bp1, &p1l);

    assert_int_equal(
        lsh_kex_gex_check_group(2048, 3072, 8192, p14, pl, &two, 1, 0), 0);
    /* Outside the request, or under the floor. */
    assert_int_equal(
        lsh_kex_gex_check_group(3072, 3072, 8192, p14, pl, &two, 1, 0),
        LSH_EPROTOCOL);
    assert_int_equal(
        lsh_kex_gex_check_group(1024, 1024, 1536, p14, pl, &two, 1, 0),
        LSH_EPROTOCOL);
    assert_int_equal(
        lsh_kex_gex_check_group(1024, 2048, 8192, p1, p1l, &two, 1, 0),
        LSH_EPROTOCOL);
    assert_int_equal(lsh_kex_gex_check_group(1024, 2048, 8192, p1, p1l, &two,
                                             1, LSH_KEX_GEX_ALLOW_1024),
                     0);
    /* g outside (1, p-1). */
    {
        static const uint8_t one = 1, zero = 0;
        size_t n;
        uint8_t *pm1 = group14_plus(-1, &n), *pm2 = group14_plus(-2, &n);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, p14, pl, &one, 1, 0),
            LSH_EBADKEY);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, p14, pl, &zero, 0, 0),
            LSH_EBADKEY);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, p14, pl, pm1, n, 0),
            LSH_EBADKEY);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, p14, pl, pm2, n, 0), 0);
        /* An even modulus. */
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, pm1, n, &two, 1, 0),
            LSH_EBADKEY);
        free(pm1);
        free(pm2);
    }
    /* Not one of ours and composite: the primality test refuses it,
     * unless the caller takes that test over. */
    bad = malloc(pl);
    memcpy(bad, p14, pl);
    bad[100] ^= 0x02;
    assert_int_equal(
        lsh_kex_gex_check_group(2048, 2048, 8192, bad, pl, &two, 1, 0),
        LSH_EBADKEY);
    assert_int_equal(lsh_kex_gex_check_group(2048, 2048, 8192, bad, pl, &two,
                                             1, LSH_KEX_GEX_SKIP_PRIME),
                     0);
    assert_int_equal(lsh_kex_gex_check_prime(bad, pl), LSH_EBADKEY);
    assert_int_equal(lsh_kex_gex_check_prime(p14, pl), 0);
    /* Not one of ours and prime: RFC 7919's ffdhe2048 from OpenSSL. */
    {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             (char *)"ffdhe2048", 0),
            OSSL_PARAM_END};
        EVP_PKEY *pk = NULL;
        BIGNUM *fp = NULL;
        uint8_t *fm;
        size_t fl;
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(
            EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEY_PARAMETERS, params), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_FFC_P, &fp),
                         1);
        fm = mag_of(fp, &fl);
        assert_int_equal(
            lsh_kex_gex_check_group(2048, 2048, 8192, fm, fl, &two, 1, 0), 0);
        free(fm);
        BN_free(fp);
        EVP_PKEY_free(pk);
        EVP_PKEY_CTX_free(ctx);
    }
    /* Our own malformed request. */
    assert_int_equal(
        lsh_kex_gex_check_group(4096, 2048, 8192, p14, pl, &two, 1, 0),
        LSH_EINVAL);
    free(bad);
    free(p14);
    free(p1);
    BN_free(bp1);
}

static void
test_gex_group_put_and_bits_for(void **state)
{
    lsh_buf b;
    lsh_rd rd;
    const uint8_t *p, *g;
    size_t plen, glen;
    (void)state;

    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_kex_group_put(&b, lsh__kex_group_bits(4096)), 0);
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(lsh_rd_mpint_unsigned(&rd, 1024, &p, &plen), 0);
    assert_int_equal(lsh_rd_mpint_unsigned(&rd, 1024, &g, &glen), 0);
    assert_int_equal(lsh_rd_end(&rd), 0);
    assert_int_equal(plen, 512);
    assert_int_equal(glen, 1);
    assert_int_equal(g[0], 2);
    /* An mpint with the top bit set gets its 0x00 pad. */
    assert_int_equal(lsh_peek_u32(lsh_buf_ptr(&b)), 513);
    assert_int_equal(
        lsh_kex_gex_check_group(2048, 4096, 8192, p, plen, g, glen, 0), 0);
    lsh_buf_free(&b);

    lsh_buf_init(&b, 100);
    assert_int_equal(lsh_kex_group_put(&b, lsh__kex_group_bits(2048)),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 0);
    lsh_buf_free(&b);

    assert_int_equal(lsh_kex_gex_bits_for(8), 2048);
    assert_int_equal(lsh_kex_gex_bits_for(14), 2048);
    assert_int_equal(lsh_kex_gex_bits_for(16), 3072);
    assert_int_equal(lsh_kex_gex_bits_for(24), 7680);
    assert_int_equal(lsh_kex_gex_bits_for(32), 8192);
    assert_int_equal(lsh_kex_gex_bits_for(64), 8192);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate_defaults_with_markers),
        cmocka_unit_test(test_negotiate_first_client_match_wins),
        cmocka_unit_test(test_negotiate_no_common_alg_names_category),
        cmocka_unit_test(test_negotiate_detail_truncates_long_lists),
        cmocka_unit_test(test_negotiate_aead_skips_mac),
        cmocka_unit_test(test_negotiate_never_picks_pseudo_algorithms),
        cmocka_unit_test(test_negotiate_strict_flag),
        cmocka_unit_test(test_negotiate_ext_info_flag_per_role),
        cmocka_unit_test(test_negotiate_guess_wrong),
        cmocka_unit_test(test_negotiate_long_names_never_match),
        cmocka_unit_test(test_pseudo_and_aead_predicates),
        cmocka_unit_test(test_negotiate_rejects_bad_arguments),
        cmocka_unit_test(test_list_resolve_syntax),
        cmocka_unit_test(test_list_resolve_errors),
        cmocka_unit_test(test_list_add_markers),
        cmocka_unit_test(test_default_prefs_are_supported_and_modern),
        cmocka_unit_test(test_kexinit_encode_layout),
        cmocka_unit_test(test_kexinit_round_trip),
        cmocka_unit_test(test_kexinit_encode_rejects_bad_prefs),
        cmocka_unit_test(test_kexinit_parse_truncated_everywhere),
        cmocka_unit_test(test_kexinit_parse_bad_namelists),
        cmocka_unit_test(test_method_table_matches_supported_list),
        cmocka_unit_test(test_every_method_agrees_on_K),
        cmocka_unit_test(test_x25519_rfc7748_vectors_and_rfc8731_encoding),
        cmocka_unit_test(test_x25519_rejects_low_order_points_and_bad_lengths),
        cmocka_unit_test(test_nist_points_validated),
        cmocka_unit_test(test_nist_compressed_point_gives_same_K),
        cmocka_unit_test(test_dh_rejects_out_of_range_values),
        cmocka_unit_test(test_state_machine_misuse),
        cmocka_unit_test(test_dh_group14_known_answer),
        cmocka_unit_test(test_put_get_pub),
        cmocka_unit_test(test_exchange_hash_known_answers),
        cmocka_unit_test(test_key_derivation_known_answers),
        cmocka_unit_test(test_groups_match_openssl_and_rfc),
        cmocka_unit_test(test_gex_choose_group),
        cmocka_unit_test(test_gex_client_checks_group),
        cmocka_unit_test(test_gex_group_put_and_bits_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
