/*
 * Tests for crypto/blowfish.h and crypto/bcrypt_pbkdf.h.
 *
 * Where the vectors come from:
 *  - Plain Blowfish: the published test vectors of Schneier's Blowfish page
 *    (Eric Young's set), each re-checked on this machine with OpenSSL 3.0
 *    (`openssl enc -bf-ecb -provider legacy -provider default -nopad`,
 *    giving an 8-byte key K as K||K, which is the same cyclic key) and, for
 *    the variable-length keys, with python3-cryptography's Blowfish
 *    (OpenSSL backend).  The 72-byte key vector was computed with
 *    python3-bcrypt's bundled Blowfish (blf_key + blf_enc through ctypes).
 *  - Eksblowfish state digests: python3-bcrypt 3.2.2's bundled
 *    Blowfish_initstate / Blowfish_expandstate / Blowfish_expand0state
 *    called through ctypes; the digest is SHA-256 over P[0..17] then
 *    S0..S3, each word big-endian.
 *  - bcrypt_pbkdf: python3-bcrypt 3.2.2, bcrypt.kdf(password, salt,
 *    desired_key_bytes, rounds, ignore_few_rounds=True); the 1024-byte one
 *    from its C bcrypt_pbkdf() called directly (the Python wrapper stops at
 *    512 bytes).
 *  - Empty password: python3-bcrypt refuses it (OpenBSD's bcrypt_pbkdf
 *    returns -1 for pass_len 0), so that vector comes from a Python
 *    composition of bhash/bcrypt_pbkdf over python3-bcrypt's bundled
 *    Blowfish primitives; the same composition reproduces every
 *    python3-bcrypt vector below.
 *  - The encrypted ed25519 key: generated with OpenSSH 9.2p1's
 *    `ssh-keygen -t ed25519 -N luassh-test -a 16 -C luassh-test-key`.
 */
#include "testutil.h"

#include <stdio.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/rd.h"
#include "crypto/bcrypt_pbkdf.h"
#include "crypto/blowfish.h"

/* ---- Blowfish ----------------------------------------------------------- */

typedef struct bf_vec {
    const char *key, *pt, *ct;
} bf_vec;

/* Schneier's page, 8-byte keys (checked with openssl enc -bf-ecb). */
static const bf_vec bf_ecb_vectors[] = {
    {"0000000000000000", "0000000000000000", "4ef997456198dd78"},
    {"ffffffffffffffff", "ffffffffffffffff", "51866fd5b85ecb8a"},
    {"3000000000000000", "1000000000000001", "7d856f9a613063f2"},
    {"1111111111111111", "1111111111111111", "2466dd878b963c9d"},
    {"0123456789abcdef", "1111111111111111", "61f9c3802281b096"},
    {"fedcba9876543210", "0123456789abcdef", "0aceab0fc6a0a28d"},
    {"7ca110454a1a6e57", "01a1d6d039776742", "59c68245eb05282b"},
    {"0131d9619dc1376e", "5cd54ca83def57da", "b1b8cc0b250f09a0"},
};

static void
bf_check(const bf_vec *v)
{
    lsh_blowfish_ctx ctx;
    size_t kl, pl;
    uint8_t *k = tu_unhex(v->key, &kl), *p = tu_unhex(v->pt, &pl);
    uint8_t out[8], back[8];

    assert_int_equal(lsh_blowfish_setkey(&ctx, k, kl), 0);
    assert_int_equal(lsh_blowfish_ecb_encrypt(&ctx, p, out, pl), 0);
    tu_assert_hex(out, sizeof(out), v->ct);
    assert_int_equal(lsh_blowfish_ecb_decrypt(&ctx, out, back, 8), 0);
    assert_memory_equal(back, p, 8);
    lsh_blowfish_clear(&ctx);
    free(k);
    free(p);
}

static void
test_blowfish_ecb_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bf_ecb_vectors) / sizeof(bf_ecb_vectors[0]);
         i++) {
        bf_check(&bf_ecb_vectors[i]);
    }
}

/*
 * Schneier's page, "set_key test data": plaintext fedcba9876543210 under
 * prefixes of f0e1d2c3b4a5968778695a4b3c2d1e0f0011223344556677.
 */
static void
test_blowfish_variable_key_lengths(void **state)
{
    static const bf_vec v[] = {
        {"f0e1d2c3b4", "fedcba9876543210", "b39e44481bdb1e6e"},
        {"f0e1d2c3b4a59687", "fedcba9876543210", "e87a244e2cc85e82"},
        {"f0e1d2c3b4a5968778695a4b3c", "fedcba9876543210",
         "884f80625060b8b4"},
        {"f0e1d2c3b4a5968778695a4b3c2d1e0f", "fedcba9876543210",
         "93142887ee3be15c"},
        {"f0e1d2c3b4a5968778695a4b3c2d1e0f0011223344556677",
         "fedcba9876543210", "05044b62fa52d080"},
        /* bytes 00..37 (56, Schneier's maximum), python3-cryptography. */
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
         "202122232425262728292a2b2c2d2e2f3031323334353637",
         "fedcba9876543210", "4f6b2acb8a4bf891"},
        /* bytes 00..47 (72, all of P), python3-bcrypt's blf_key. */
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
         "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
         "4041424344454647",
         "fedcba9876543210", "5a5fffde4ea9a5ad"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        bf_check(&v[i]);
    }
}

/* SHA-256 over P then S, words big-endian (matches the Python harness). */
static void
bf_state_digest(const lsh_blowfish_ctx *ctx, uint8_t out[32])
{
    uint8_t buf[4 * (LSH_BLOWFISH_PWORDS + 1024)];
    size_t n = 0;
    unsigned int olen = 0;

    for (int i = 0; i < LSH_BLOWFISH_PWORDS + 1024; i++) {
        uint32_t w = i < LSH_BLOWFISH_PWORDS
                         ? ctx->p[i]
                         : ctx->s[(i - LSH_BLOWFISH_PWORDS) / 256]
                                 [(i - LSH_BLOWFISH_PWORDS) % 256];
        buf[n++] = (uint8_t)(w >> 24);
        buf[n++] = (uint8_t)(w >> 16);
        buf[n++] = (uint8_t)(w >> 8);
        buf[n++] = (uint8_t)w;
    }
    assert_int_equal(EVP_Digest(buf, n, out, &olen, EVP_sha256(), NULL), 1);
    assert_int_equal(olen, 32);
}

static void
test_blowfish_initial_state_is_pi(void **state)
{
    lsh_blowfish_ctx ctx;
    uint8_t d[32];
    (void)state;

    lsh_blowfish_init_state(&ctx);
    /* pi = 3.243f6a88 85a308d3 ...; the last S-box word ends the table. */
    assert_int_equal(ctx.p[0], 0x243f6a88);
    assert_int_equal(ctx.p[1], 0x85a308d3);
    assert_int_equal(ctx.s[0][0], 0xd1310ba6);
    assert_int_equal(ctx.s[3][255], 0x3ac372e6);
    bf_state_digest(&ctx, d);
    tu_assert_hex(d, 32, "b5643208907b11b20e499a42187dc921"
                         "f9579d28dadfccbe69a5ce232a55952f");
}

/*
 * bcrypt paper: ExpandKey(state, salt, key) then ExpandKey(state, 0, key),
 * ExpandKey(state, 0, salt), with a 7-byte key and a 16-byte salt so that
 * both streams wrap around.
 */
static void
test_blowfish_eks_expand_matches_reference(void **state)
{
    static const uint8_t key[] = "Blowfsh";
    uint8_t salt[16], d[32];
    uint32_t l = 0, r = 0;
    lsh_blowfish_ctx ctx, copy;
    (void)state;

    for (int i = 0; i < 16; i++) {
        salt[i] = (uint8_t)(0x10 + i);
    }
    lsh_blowfish_init_state(&ctx);
    lsh_blowfish_expand(&ctx, salt, sizeof(salt), key, 7);
    bf_state_digest(&ctx, d);
    tu_assert_hex(d, 32, "e0f4e5c4305be20fc81e7ae0cd4abd4a"
                         "6a6712ce684ff02e6fb908b64c1afcd9");
    lsh_blowfish_encrypt_block(&ctx, &l, &r);
    assert_int_equal(l, 0x7bbc9674);
    assert_int_equal(r, 0x66d68d35);

    lsh_blowfish_expand0(&ctx, key, 7);
    lsh_blowfish_expand0(&ctx, salt, sizeof(salt));
    bf_state_digest(&ctx, d);
    tu_assert_hex(d, 32, "7155e5d7dbb64ab37cf7053137e4501c"
                         "1c217cf14b85ed6a957a86784505902e");
    copy = ctx;
    l = r = 0;
    lsh_blowfish_encrypt_block(&ctx, &l, &r);
    assert_int_equal(l, 0x7f4c9311);
    assert_int_equal(r, 0x780c5162);
    lsh_blowfish_decrypt_block(&ctx, &l, &r);
    assert_int_equal(l, 0);
    assert_int_equal(r, 0);
    assert_memory_equal(&ctx, &copy, sizeof(ctx));
}

/* An all-zero salt stream, however given, is ExpandKey(state, 0, key). */
static void
test_blowfish_expand_with_zero_data_is_expand0(void **state)
{
    static const uint8_t key[] = "abc";
    static const uint8_t zeros[8] = {0};
    lsh_blowfish_ctx a, b, c;
    (void)state;

    lsh_blowfish_init_state(&a);
    b = a;
    c = a;
    lsh_blowfish_expand0(&a, key, 3);
    lsh_blowfish_expand(&b, zeros, sizeof(zeros), key, 3);
    lsh_blowfish_expand(&c, NULL, 0, key, 3);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_memory_equal(&a, &c, sizeof(a));
}

static void
test_blowfish_setkey_rejects_bad_length(void **state)
{
    uint8_t key[LSH_BLOWFISH_MAXKEY + 1] = {0};
    lsh_blowfish_ctx ctx, before;
    (void)state;

    memset(&ctx, 0x5a, sizeof(ctx));
    before = ctx;
    assert_int_equal(lsh_blowfish_setkey(&ctx, key, 0), LSH_EINVAL);
    assert_int_equal(lsh_blowfish_setkey(&ctx, key, sizeof(key)), LSH_EINVAL);
    assert_int_equal(lsh_blowfish_setkey(&ctx, NULL, 8), LSH_EINVAL);
    assert_memory_equal(&ctx, &before, sizeof(ctx));
    assert_int_equal(lsh_blowfish_setkey(&ctx, key, LSH_BLOWFISH_MAXKEY), 0);
    assert_int_equal(lsh_blowfish_setkey(&ctx, key, 1), 0);
}

static void
test_blowfish_ecb_rejects_partial_block_and_works_in_place(void **state)
{
    static const uint8_t key[8] = {0};
    uint8_t buf[16], out[16];
    lsh_blowfish_ctx ctx;
    (void)state;

    assert_int_equal(lsh_blowfish_setkey(&ctx, key, sizeof(key)), 0);
    memset(buf, 0, sizeof(buf));
    memset(out, 0xee, sizeof(out));
    assert_int_equal(lsh_blowfish_ecb_encrypt(&ctx, buf, out, 7), LSH_EINVAL);
    assert_int_equal(lsh_blowfish_ecb_encrypt(&ctx, buf, out, 9), LSH_EINVAL);
    assert_int_equal(lsh_blowfish_ecb_decrypt(&ctx, buf, out, 15), LSH_EINVAL);
    for (size_t i = 0; i < sizeof(out); i++) {
        assert_int_equal(out[i], 0xee);
    }
    assert_int_equal(lsh_blowfish_ecb_encrypt(&ctx, buf, out, 0), 0);

    /* Two zero blocks in place: ECB gives the zero-key vector twice. */
    assert_int_equal(lsh_blowfish_ecb_encrypt(&ctx, buf, buf, 16), 0);
    tu_assert_hex(buf, 16, "4ef997456198dd78 4ef997456198dd78");
    assert_int_equal(lsh_blowfish_ecb_decrypt(&ctx, buf, buf, 16), 0);
    tu_assert_hex(buf, 16, "0000000000000000 0000000000000000");

    lsh_blowfish_clear(&ctx);
    for (size_t i = 0; i < LSH_BLOWFISH_PWORDS; i++) {
        assert_int_equal(ctx.p[i], 0);
    }
}

/* ---- bcrypt_pbkdf ------------------------------------------------------- */

typedef struct kdf_vec {
    const char *pass;
    size_t passlen;
    const char *salt_hex;
    unsigned rounds;
    size_t keylen;
    const char *key_hex;
} kdf_vec;

#define PW(s) (s), (sizeof(s) - 1)

/* python3-bcrypt 3.2.2 bcrypt.kdf(); see the header comment. */
static const kdf_vec kdf_vectors[] = {
    /* "password", "salt", 4 rounds, 32 bytes: one output block. */
    {PW("password"), "73616c74", 4, 32,
     "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"},
    /* rounds 1: a single bhash per block, no iteration. */
    {PW("password"), "73616c74", 1, 32,
     "7af41469e52860da49debfaa6a4e12a2cb857b907b2bb20d2902a9ccd424adb1"},
    /* rounds 16, 48 bytes: what OpenSSH derives for aes256-ctr. */
    {PW("password"), "73616c74", 16, 48,
     "c339d704ec235f27690d3f12167c05a55bf86d572f270adb"
     "f9fe04c379da5f8c7942a939245dbb39ebe26fc2bd19b88b"},
    /* A 16-byte salt as ssh-keygen writes. */
    {PW("luassh-test"), "000102030405060708090a0b0c0d0e0f", 16, 48,
     "50d95d102613fc184636a87f08125c22aa25831727e305d6"
     "37fa71710a3406c0e7085245ce40071e502510e1c30ced3a"},
    /* 33 bytes: stride 2, the second block supplies only 16 bytes. */
    {PW("password"), "73616c74", 4, 33,
     "5ba4bfc60c7ac272931458407f4c1c4936ea356c55125c5a"
     "279b791d65bf9842d4"},
    /* 100 bytes: stride 4, the last block supplies 24 bytes. */
    {PW("password"), "73616c74", 2, 100,
     "75783d13cf09afc4f03655b84418eb038b58ed3ddd3371ef6812449d16834a90"
     "96e5066a9d5ddef9c35ba6425af7a55ec6c33fe3c90fdab1520cb08eaf3354f2"
     "dadc7c51940345cf3068f62e7634f86058bbce73c95f6de18ecd1804be2dfbbe"
     "22405d2e"},
    /* Binary password and salt with NUL bytes; 20 bytes. */
    {"\x00\x01pass\xff", 7, "0073616c7400", 3, 20,
     "62baecfce719eaf762c49a3a7e3e2f97a10b53bb"},
    /* One byte of output. */
    {PW("password"), "73616c74", 2, 1, "75"},
};

static void
test_bcrypt_pbkdf_known_answers(void **state)
{
    uint8_t key[128];
    (void)state;

    for (size_t i = 0; i < sizeof(kdf_vectors) / sizeof(kdf_vectors[0]);
         i++) {
        const kdf_vec *v = &kdf_vectors[i];
        size_t saltlen;
        uint8_t *salt = tu_unhex(v->salt_hex, &saltlen);

        memset(key, 0xcc, sizeof(key));
        assert_int_equal(lsh_bcrypt_pbkdf(v->pass, v->passlen, salt, saltlen,
                                          key, v->keylen, v->rounds),
                         0);
        tu_assert_hex(key, v->keylen, v->key_hex);
        /* Nothing past keylen is written. */
        assert_int_equal(key[v->keylen], 0xcc);
        free(salt);
    }
}

/* Password "p", 1000-byte salt (byte i = 7 * i mod 256), 2 rounds, 64 bytes. */
static void
test_bcrypt_pbkdf_long_salt(void **state)
{
    uint8_t salt[1000], key[64];
    (void)state;

    for (size_t i = 0; i < sizeof(salt); i++) {
        salt[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(
        lsh_bcrypt_pbkdf("p", 1, salt, sizeof(salt), key, sizeof(key), 2), 0);
    tu_assert_hex(key, sizeof(key),
                  "d288a2fa2e432870622aad5ef7f4eddb71f6aaa6538f29411a1598008f42fe85"
                  "fb6b34d383f38da489735f64dad555a95e0011690fbbf4746e9d0b45c75b99eb");
}

/* The largest output, 1024 bytes (stride 32): python3-bcrypt's C function. */
static void
test_bcrypt_pbkdf_max_keylen(void **state)
{
    uint8_t *key = malloc(LSH_BCRYPT_PBKDF_MAXKEY), d[32];
    unsigned int dlen = 0;
    (void)state;

    assert_non_null(key);
    assert_int_equal(lsh_bcrypt_pbkdf("password", 8, (const uint8_t *)"salt",
                                      4, key, LSH_BCRYPT_PBKDF_MAXKEY, 1),
                     0);
    tu_assert_hex(key, 8, "7aec9b2bb1f02e70");
    assert_int_equal(EVP_Digest(key, LSH_BCRYPT_PBKDF_MAXKEY, d, &dlen,
                                EVP_sha256(), NULL),
                     1);
    tu_assert_hex(d, 32, "c8544fd26f4d8e7109ea5af15bf3f3d1"
                         "cde2286a3f02f5504b2e837465f3607c");
    free(key);
}

/*
 * An empty password is accepted (SHA-512 of ""), unlike OpenBSD's
 * bcrypt_pbkdf(); vector from the Python composition (header comment).
 */
static void
test_bcrypt_pbkdf_empty_password(void **state)
{
    uint8_t key[48], key2[48];
    (void)state;

    assert_int_equal(lsh_bcrypt_pbkdf("", 0, (const uint8_t *)"salt", 4, key,
                                      sizeof(key), 2),
                     0);
    tu_assert_hex(key, sizeof(key),
                  "b79c833a6e3d08d66a6b098a47128bce1211256aea34998a"
                  "c17bdbdf47de04c92e9a18c656efa976b8be2ec637fdf450");
    assert_int_equal(lsh_bcrypt_pbkdf(NULL, 0, (const uint8_t *)"salt", 4,
                                      key2, sizeof(key2), 2),
                     0);
    assert_memory_equal(key, key2, sizeof(key));
}

static void
test_bcrypt_pbkdf_rejects_bad_arguments(void **state)
{
    const uint8_t salt[4] = {'s', 'a', 'l', 't'};
    uint8_t key[LSH_BCRYPT_PBKDF_MAXKEY + 1];
    (void)state;

    memset(key, 0xa5, sizeof(key));
    /* rounds < 1 */
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, 4, key, 32, 0),
                     LSH_EINVAL);
    /* keylen 0 and keylen above 1024 */
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, 4, key, 0, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, 4, key,
                                      LSH_BCRYPT_PBKDF_MAXKEY + 1, 1),
                     LSH_EINVAL);
    /* saltlen 0 and saltlen above 1 MiB (never read: rejected first) */
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, 0, key, 32, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt,
                                      LSH_BCRYPT_PBKDF_MAXSALT + 1, key, 32,
                                      1),
                     LSH_EINVAL);
    /* NULL pointers */
    assert_int_equal(lsh_bcrypt_pbkdf(NULL, 2, salt, 4, key, 32, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, NULL, 4, key, 32, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, 4, NULL, 32, 1),
                     LSH_EINVAL);
    /* The output is left untouched on LSH_EINVAL. */
    for (size_t i = 0; i < sizeof(key); i++) {
        assert_int_equal(key[i], 0xa5);
    }
}

/* The limits themselves are accepted: a 1 MiB salt. */
static void
test_bcrypt_pbkdf_accepts_max_salt(void **state)
{
    uint8_t *salt = calloc(1, LSH_BCRYPT_PBKDF_MAXSALT);
    uint8_t key[1] = {0};
    (void)state;

    assert_non_null(salt);
    assert_int_equal(lsh_bcrypt_pbkdf("pw", 2, salt, LSH_BCRYPT_PBKDF_MAXSALT,
                                      key, 1, 1),
                     0);
    free(salt);
}

/* ---- End to end: an ssh-keygen encrypted key (PROTOCOL.key) ------------- */

/* ssh-keygen -t ed25519 -N luassh-test -a 16 -C luassh-test-key */
static const char ssh_keygen_ed25519[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCmTprFU5\n"
    "xwJXNsIVlMZf8QAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIAqEaZJTt7WNik9j\n"
    "oi8Rj91p6i+++rOiNgqZxqN5f6xCAAAAoPbrqohRXfe/AUMvDxSpgUowILios/TIg39n+f\n"
    "IABFtZRVTvW93zwPbHcr3b434YeLAJLq5fSc6AlpCt1x2SC1Iv2++3GvTTW2pCXEMVoBJT\n"
    "RdxPsyvi3Su0DyB74jQbIww89FSAOPKVhSPr5Nd7AdCq+OIACbX3P8vMW2ogTSrZ/jngBb\n"
    "Tn1NdwPw5W7YMxdzfLFV7Y1EAgu7kMIqivmz4=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

/* The matching public key, from the .pub file (base64 of the blob). */
static const char ssh_keygen_ed25519_pub_hex[] =
    "0a84699253b7b58d8a4f63a22f118fdd69ea2fbefab3a2360a99c6a3797fac42";

typedef struct keyfile {
    uint8_t raw[512];
    size_t rawlen;
    const uint8_t *salt, *pubblob, *enc;
    size_t saltlen, pubbloblen, enclen;
    uint32_t rounds;
} keyfile;

/* PEM-like armour to bytes, then PROTOCOL.key §1 and §2 with lsh_rd. */
static void
keyfile_parse(keyfile *kf)
{
    const char *b = strstr(ssh_keygen_ed25519, "KEY-----\n") + 9;
    const char *e = strstr(ssh_keygen_ed25519, "-----END");
    EVP_ENCODE_CTX *ec = EVP_ENCODE_CTX_new();
    int n1 = 0, n2 = 0;
    lsh_rd rd, opts;
    const uint8_t *magic, *s;
    size_t slen;
    uint32_t nkeys;

    assert_non_null(ec);
    EVP_DecodeInit(ec);
    assert_true(EVP_DecodeUpdate(ec, kf->raw, &n1, (const uint8_t *)b,
                                 (int)(e - b)) >= 0);
    assert_int_equal(EVP_DecodeFinal(ec, kf->raw + n1, &n2), 1);
    EVP_ENCODE_CTX_free(ec);
    kf->rawlen = (size_t)(n1 + n2);

    lsh_rd_init(&rd, kf->raw, kf->rawlen);
    assert_int_equal(lsh_rd_bytes(&rd, 15, &magic), 0);
    assert_memory_equal(magic, "openssh-key-v1\0", 15);
    assert_int_equal(lsh_rd_text(&rd, &s, &slen), 0);
    assert_true(slen == 10 && memcmp(s, "aes256-ctr", 10) == 0);
    assert_int_equal(lsh_rd_text(&rd, &s, &slen), 0);
    assert_true(slen == 6 && memcmp(s, "bcrypt", 6) == 0);
    assert_int_equal(lsh_rd_sub(&rd, &opts), 0);
    assert_int_equal(lsh_rd_string(&opts, &kf->salt, &kf->saltlen), 0);
    assert_int_equal(lsh_rd_u32(&opts, &kf->rounds), 0);
    assert_int_equal(lsh_rd_end(&opts), 0);
    assert_int_equal(lsh_rd_u32(&rd, &nkeys), 0);
    assert_int_equal(nkeys, 1);
    assert_int_equal(lsh_rd_string(&rd, &kf->pubblob, &kf->pubbloblen), 0);
    assert_int_equal(lsh_rd_string(&rd, &kf->enc, &kf->enclen), 0);
    assert_int_equal(lsh_rd_end(&rd), 0);
    assert_int_equal(kf->saltlen, 16);
    assert_int_equal(kf->rounds, 16);
    assert_int_equal(kf->enclen % 16, 0);
}

/* PROTOCOL.key §4: key || IV = bcrypt_pbkdf(pass, salt, 32 + 16, rounds). */
static void
keyfile_decrypt(const keyfile *kf, const char *pass, uint8_t *plain)
{
    uint8_t kiv[48];
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;

    assert_int_equal(lsh_bcrypt_pbkdf(pass, strlen(pass), kf->salt,
                                      kf->saltlen, kiv, sizeof(kiv),
                                      kf->rounds),
                     0);
    assert_non_null(cc);
    assert_int_equal(EVP_DecryptInit_ex(cc, EVP_aes_256_ctr(), NULL, kiv,
                                        kiv + 32),
                     1);
    assert_int_equal(EVP_DecryptUpdate(cc, plain, &n1, kf->enc,
                                       (int)kf->enclen),
                     1);
    assert_int_equal(EVP_DecryptFinal_ex(cc, plain + n1, &n2), 1);
    assert_int_equal((size_t)(n1 + n2), kf->enclen);
    EVP_CIPHER_CTX_free(cc);
}

static void
test_bcrypt_pbkdf_decrypts_ssh_keygen_key(void **state)
{
    keyfile kf;
    uint8_t plain[512];
    lsh_rd rd, pub;
    uint32_t c1, c2;
    const uint8_t *s, *pk, *sk;
    size_t slen, pklen, sklen;
    uint8_t pad;
    (void)state;

    keyfile_parse(&kf);
    keyfile_decrypt(&kf, "luassh-test", plain);

    /* PROTOCOL.key §3: two equal check integers open the section. */
    lsh_rd_init(&rd, plain, kf.enclen);
    assert_int_equal(lsh_rd_u32(&rd, &c1), 0);
    assert_int_equal(lsh_rd_u32(&rd, &c2), 0);
    assert_int_equal(c1, c2);

    /* ... then the ed25519 private key in agent encoding, the comment and
     * the padding 1, 2, 3, ... */
    assert_int_equal(lsh_rd_text(&rd, &s, &slen), 0);
    assert_true(slen == 11 && memcmp(s, "ssh-ed25519", 11) == 0);
    assert_int_equal(lsh_rd_string(&rd, &pk, &pklen), 0);
    tu_assert_hex(pk, pklen, ssh_keygen_ed25519_pub_hex);
    assert_int_equal(lsh_rd_string(&rd, &sk, &sklen), 0);
    assert_int_equal(sklen, 64);
    assert_memory_equal(sk + 32, pk, 32);
    assert_int_equal(lsh_rd_text(&rd, &s, &slen), 0);
    assert_true(slen == 15 && memcmp(s, "luassh-test-key", 15) == 0);
    for (uint8_t i = 1; lsh_rd_remaining(&rd) > 0; i++) {
        assert_int_equal(lsh_rd_u8(&rd, &pad), 0);
        assert_int_equal(pad, i);
    }

    /* The unencrypted public blob carries the same key. */
    lsh_rd_init(&pub, kf.pubblob, kf.pubbloblen);
    assert_int_equal(lsh_rd_text(&pub, &s, &slen), 0);
    assert_int_equal(lsh_rd_string(&pub, &pk, &pklen), 0);
    tu_assert_hex(pk, pklen, ssh_keygen_ed25519_pub_hex);
    assert_int_equal(lsh_rd_end(&pub), 0);
}

static void
test_bcrypt_pbkdf_wrong_passphrase_fails_checkints(void **state)
{
    keyfile kf;
    uint8_t plain[512];
    lsh_rd rd;
    uint32_t c1, c2;
    (void)state;

    keyfile_parse(&kf);
    keyfile_decrypt(&kf, "luassh-tesT", plain);
    lsh_rd_init(&rd, plain, kf.enclen);
    assert_int_equal(lsh_rd_u32(&rd, &c1), 0);
    assert_int_equal(lsh_rd_u32(&rd, &c2), 0);
    assert_int_not_equal(c1, c2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blowfish_ecb_known_answers),
        cmocka_unit_test(test_blowfish_variable_key_lengths),
        cmocka_unit_test(test_blowfish_initial_state_is_pi),
        cmocka_unit_test(test_blowfish_eks_expand_matches_reference),
        cmocka_unit_test(test_blowfish_expand_with_zero_data_is_expand0),
        cmocka_unit_test(test_blowfish_setkey_rejects_bad_length),
        cmocka_unit_test(
            test_blowfish_ecb_rejects_partial_block_and_works_in_place),
        cmocka_unit_test(test_bcrypt_pbkdf_known_answers),
        cmocka_unit_test(test_bcrypt_pbkdf_long_salt),
        cmocka_unit_test(test_bcrypt_pbkdf_max_keylen),
        cmocka_unit_test(test_bcrypt_pbkdf_empty_password),
        cmocka_unit_test(test_bcrypt_pbkdf_rejects_bad_arguments),
        cmocka_unit_test(test_bcrypt_pbkdf_accepts_max_salt),
        cmocka_unit_test(test_bcrypt_pbkdf_decrypts_ssh_keygen_key),
        cmocka_unit_test(test_bcrypt_pbkdf_wrong_passphrase_fails_checkints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
