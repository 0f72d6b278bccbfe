/*
 * Tests for src/ssh/keys/keyfile*.c: private and public key files.
 *
 * Where the expected values come from:
 *  - spec/c/data/keyfile/: files made by OpenSSH 9.2's ssh-keygen and the
 *    OpenSSL 3.0 CLI (generate.sh there says how).  FIXTURE_FP are what
 *    `ssh-keygen -l -f F.pub` printed for them.  The Ed25519/Ed448 keys
 *    made by `openssl genpkey` have fingerprints computed independently
 *    (Python hashlib over the SSH blob built from `openssl pkey -pubout`).
 *  - OpenSSH's regression test keys (openssh-testdata/sshkey, sshsig),
 *    read at run time from $LSH_OPENSSH_TESTDATA or
 *    /work/shared/specs/openssh-testdata, whose .fp files hold the
 *    expected fingerprints and `pw` the passphrase; those tests are
 *    skipped when the folder is missing.
 *  - RFC4716_EXAMPLES: the examples of RFC 4716 §3.6 (without the
 *    document's 3-space indent), fingerprints by `ssh-keygen -i` then
 *    `ssh-keygen -l`.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/keys/key.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/keyfile.h"

#define PW "luassh-test"
#define MAXFILE (LSH_KEYFILE_MAX_SIZE + 16)

/* Appends v as a string (v may be empty and never written). */
static int
put_bufstr(lsh_buf *out, const lsh_buf *v)
{
    if (lsh_buf_len(v) == 0) {
        return lsh_buf_put_string(out, "", 0);
    }
    return lsh_buf_put_string(out, lsh_buf_ptr(v), lsh_buf_len(v));
}

/* Appends v's bytes (v may be empty and never written). */
static int
put_bufraw(lsh_buf *out, const lsh_buf *v)
{
    return lsh_buf_len(v) == 0 ? 0
                               : lsh_buf_put(out, lsh_buf_ptr(v),
                                             lsh_buf_len(v));
}

/* ---- helpers ---------------------------------------------------------- */

static char *
data_path(const char *name)
{
    static char path[4096];
    const char *root = getenv("LUASSH_ROOT");
    snprintf(path, sizeof(path), "%s%sspec/c/data/keyfile/%s",
             root != NULL ? root : "", root != NULL ? "/" : "", name);
    return path;
}

static const char *
testdata_dir(void)
{
    const char *d = getenv("LSH_OPENSSH_TESTDATA");
    return d != NULL ? d : "/work/shared/specs/openssh-testdata";
}

static int
have_testdata(void)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof(p), "%s/sshkey/pw", testdata_dir());
    return stat(p, &st) == 0;
}

/* Reads a whole file; NULL if it cannot be read.  Caller frees. */
static uint8_t *
read_path(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;

    if (f == NULL) {
        return NULL;
    }
    buf = malloc(MAXFILE);
    assert_non_null(buf);
    *n = fread(buf, 1, MAXFILE, f);
    fclose(f);
    return buf;
}

static uint8_t *
read_fixture(const char *name, size_t *n)
{
    uint8_t *d = read_path(data_path(name), n);
    if (d == NULL) {
        fail_msg("cannot read fixture %s", name);
    }
    return d;
}

static uint8_t *
read_testdata(const char *name, size_t *n)
{
    char p[4096];
    uint8_t *d;
    snprintf(p, sizeof(p), "%s/%s", testdata_dir(), name);
    if ((d = read_path(p, n)) == NULL) {
        fail_msg("cannot read %s", p);
    }
    return d;
}

/* Deterministic rng for the tests: a counter, or replayed bytes. */
struct test_rng {
    uint8_t next;
    const uint8_t *replay;
    size_t replay_len, replay_pos;
    int fail;
};

static int
test_rng(void *ctx, uint8_t *out, size_t n)
{
    struct test_rng *r = ctx;
    if (r->fail) {
        return LSH_ECRYPTO;
    }
    for (size_t i = 0; i < n; i++) {
        if (r->replay_pos < r->replay_len) {
            out[i] = r->replay[r->replay_pos++];
        } else {
            out[i] = r->next++;
        }
    }
    return 0;
}

static void
assert_fp(const lsh_key *k, const char *want)
{
    char fp[LSH_KEY_FP_MAX];
    assert_int_equal(lsh_key_fingerprint(k, "sha256", fp, sizeof(fp)), 0);
    assert_string_equal(fp, want);
}

static int
import_priv(const uint8_t *d, size_t n, const char *pass, lsh_key **k,
            char **comment, char *err)
{
    return lsh_keyfile_import_private(d, n, pass, k, comment, err, 256);
}

/* Base64-decodes the body of a PEM text with OpenSSL (independent). */
static uint8_t *
pem_body(const uint8_t *pem, size_t n, size_t *outlen)
{
    char *b64 = malloc(n + 1);
    size_t k = 0;
    const char *p = (const char *)pem, *end = p + n;
    uint8_t *out;
    int len;

    assert_non_null(b64);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > 0 && p[0] != '-') {
            memcpy(b64 + k, p, l);
            k += l;
        }
        p += l + 1;
    }
    out = malloc(k / 4 * 3 + 3);
    assert_non_null(out);
    len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)k);
    assert_true(len >= 0);
    while (k > 0 && b64[k - 1] == '=') {
        k--;
        len--;
    }
    free(b64);
    *outlen = (size_t)len;
    return out;
}

/* ---- fixtures: private keys ------------------------------------------- */

#define FP_ED25519 "SHA256:Xd3I992UNl2/Kb5XsMEzkruP02MwxJWZ6P8izqREGSo"
#define FP_P256 "SHA256:dzZSzlwvYFC/F56Vtt0DvAZ3RrJB+O1m3MW/b/0tYu4"
#define FP_P384 "SHA256:ujeAABo61DK1Q2O0xiDglooOaiJrgzo8eYK1Vb0nB84"
#define FP_P521 "SHA256:kiSMtFppGQjk580MjRI6hLhevhZjR0SWrklSTrRlbxw"
#define FP_RSA "SHA256:fwQniunpBllcd4ss/bKiFtht+ugGkJePmKC8uQJBkZw"
#define FP_DSA "SHA256:KVrvMZ2Jf0e/so4mWGuxvECmw70yRohIhUmDX2gO8Rw"
#define FP_OSSL_ED25519 "SHA256:hpKb+1woQlUFq03NUuea5kt4v1Xj4MriE5LBcr9WaO4"
#define FP_OSSL_ED448 "SHA256:fffAciRSm4Ykx3ovS9wrlwKNMo8GR8ni7ivsif29wjQ"

struct fixture {
    const char *file;
    const char *pass;
    const char *fp;
    const char *comment;
};

static const struct fixture private_fixtures[] = {
    {"ed25519_key", NULL, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_pw", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes128-ctr", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes192-ctr", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes256-ctr", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes128-cbc", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes192-cbc", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes256-cbc", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_3des-cbc", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes128-gcm", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_aes256-gcm", PW, FP_ED25519, "ed25519@luassh"},
    {"ed25519_key_chacha20-poly1305", PW, FP_ED25519, "ed25519@luassh"},
    {"ecdsa256_key", NULL, FP_P256, "ecdsa256@luassh"},
    {"ecdsa256_key_pw", PW, FP_P256, "ecdsa256@luassh"},
    {"ecdsa256_key.pem", NULL, FP_P256, ""},
    {"ecdsa256_key_pw.pem", PW, FP_P256, ""},
    {"ecdsa256_key.pkcs8", NULL, FP_P256, ""},
    {"ecdsa256_key_pw.pkcs8", PW, FP_P256, ""},
    {"ecdsa256_key.sec1.der", NULL, FP_P256, ""},
    {"ecdsa384_key", NULL, FP_P384, "ecdsa384@luassh"},
    {"ecdsa384_key_pw", PW, FP_P384, "ecdsa384@luassh"},
    {"ecdsa384_key.pem", NULL, FP_P384, ""},
    {"ecdsa384_key_pw.pem", PW, FP_P384, ""},
    {"ecdsa384_key.pkcs8", NULL, FP_P384, ""},
    {"ecdsa384_key_pw.pkcs8", PW, FP_P384, ""},
    {"ecdsa521_key", NULL, FP_P521, "ecdsa521@luassh"},
    {"ecdsa521_key_pw", PW, FP_P521, "ecdsa521@luassh"},
    {"ecdsa521_key.pem", NULL, FP_P521, ""},
    {"ecdsa521_key_pw.pem", PW, FP_P521, ""},
    {"ecdsa521_key.pkcs8", NULL, FP_P521, ""},
    {"ecdsa521_key_pw.pkcs8", PW, FP_P521, ""},
    {"rsa_key", NULL, FP_RSA, "rsa@luassh"},
    {"rsa_key_pw", PW, FP_RSA, "rsa@luassh"},
    {"rsa_key.pem", NULL, FP_RSA, ""},
    {"rsa_key_pw.pem", PW, FP_RSA, ""},
    {"rsa_key.pkcs8", NULL, FP_RSA, ""},
    {"rsa_key_pw.pkcs8", PW, FP_RSA, ""},
    {"rsa_key.pkcs1.der", NULL, FP_RSA, ""},
    {"rsa_key_pw.pkcs8.der", PW, FP_RSA, ""},
    {"dsa_key", NULL, FP_DSA, "dsa@luassh"},
    {"dsa_key_pw", PW, FP_DSA, "dsa@luassh"},
    {"dsa_key.pem", NULL, FP_DSA, ""},
    {"dsa_key_pw.pem", PW, FP_DSA, ""},
    {"dsa_key.pkcs8", NULL, FP_DSA, ""},
    {"dsa_key_pw.pkcs8", PW, FP_DSA, ""},
    {"ed25519_ossl.pkcs8", NULL, FP_OSSL_ED25519, ""},
    {"ed25519_ossl_pw.pkcs8", PW, FP_OSSL_ED25519, ""},
    {"ed25519_ossl.pkcs8.der", NULL, FP_OSSL_ED25519, ""},
    {"ed448_ossl.pkcs8", NULL, FP_OSSL_ED448, ""},
    {"ed448_ossl_pw.pkcs8", PW, FP_OSSL_ED448, ""},
    {"ca_ed25519", NULL, "SHA256:puAzXj/w4eqF9Rb4RCel1N8V/2gr8M5avE6As+p5fU0",
     "ca-ed25519"},
    {"ca_rsa", NULL, "SHA256:H3tbCAm9Q/F2wpTRyl6Vmlgfv+QAMX+SM/t35uhKodw",
     "ca-rsa"},
    {"ca_ecdsa", NULL, "SHA256:wj+ugNLFd9Y2OGo2OqkIGjp0bWnt3HRD1MqzQGVZl7g",
     "ca-ecdsa"},
};

#define NPRIV (sizeof(private_fixtures) / sizeof(private_fixtures[0]))

static void
test_private_fixtures_load_with_their_fingerprints(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPRIV; i++) {
        const struct fixture *f = &private_fixtures[i];
        char err[256], *comment = NULL;
        lsh_key *k = NULL;
        size_t n;
        uint8_t *d = read_fixture(f->file, &n);
        int r = import_priv(d, n, f->pass, &k, &comment, err);
        if (r != 0) {
            fail_msg("%s: %s (%s)", f->file, lsh_errname(r), err);
        }
        assert_string_equal(err, "");
        assert_true(lsh_key_has_private(k));
        assert_fp(k, f->fp);
        assert_string_equal(comment, f->comment);
        lsh_key_free(k);
        free(comment);
        free(d);
    }
}

static void
test_encrypted_fixtures_need_the_right_passphrase(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPRIV; i++) {
        const struct fixture *f = &private_fixtures[i];
        char err[256];
        lsh_key *k = NULL;
        size_t n;
        uint8_t *d;

        if (f->pass == NULL) {
            continue;
        }
        d = read_fixture(f->file, &n);
        assert_int_equal(import_priv(d, n, NULL, &k, NULL, err),
                         LSH_ENEEDPASSPHRASE);
        assert_int_equal(import_priv(d, n, "", &k, NULL, err),
                         LSH_ENEEDPASSPHRASE);
        if (import_priv(d, n, "wrong-passphrase", &k, NULL, err) !=
            LSH_EBADPASSPHRASE) {
            fail_msg("%s: wrong passphrase not detected", f->file);
        }
        assert_null(k);
        free(d);
    }
}

static void
test_unencrypted_key_ignores_a_passphrase(void **state)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d = read_fixture("ed25519_key", &n);
    (void)state;
    assert_int_equal(import_priv(d, n, "anything", &k, NULL, err), 0);
    lsh_key_free(k);
    free(d);
}

/* ---- fixtures: public keys -------------------------------------------- */

static const struct fixture public_fixtures[] = {
    {"ed25519_key.pub", NULL, FP_ED25519, "ed25519@luassh"},
    {"ecdsa256_key.pub", NULL, FP_P256, "ecdsa256@luassh"},
    {"ecdsa384_key.pub", NULL, FP_P384, "ecdsa384@luassh"},
    {"ecdsa521_key.pub", NULL, FP_P521, "ecdsa521@luassh"},
    {"rsa_key.pub", NULL, FP_RSA, "rsa@luassh"},
    {"dsa_key.pub", NULL, FP_DSA, "dsa@luassh"},
    {"ed25519_key.pub.rfc", NULL, FP_ED25519,
     "256-bit ED25519, converted by root@vm from OpenSSH"},
    {"ecdsa256_key.pub.rfc", NULL, FP_P256,
     "256-bit ECDSA, converted by root@vm from OpenSSH"},
    {"rsa_key.pub.rfc", NULL, FP_RSA,
     "2048-bit RSA, converted by root@vm from OpenSSH"},
    {"dsa_key.pub.rfc", NULL, FP_DSA,
     "1024-bit DSA, converted by root@vm from OpenSSH"},
    {"ecdsa256_key.pub.pkcs8", NULL, FP_P256, ""},
    {"ecdsa384_key.pub.pkcs8", NULL, FP_P384, ""},
    {"ecdsa521_key.pub.pkcs8", NULL, FP_P521, ""},
    {"rsa_key.pub.pkcs8", NULL, FP_RSA, ""},
    {"dsa_key.pub.pkcs8", NULL, FP_DSA, ""},
    {"rsa_key.pub.pkcs1", NULL, FP_RSA, ""},
    {"rsa_key.pub.der", NULL, FP_RSA, ""},
    {"ed25519_ossl.pub.pkcs8", NULL, FP_OSSL_ED25519, ""},
    {"ed448_ossl.pub.pkcs8", NULL, FP_OSSL_ED448, ""},
};

static void
test_public_fixtures_load_with_their_fingerprints(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(public_fixtures) / sizeof(public_fixtures[0]);
         i++) {
        const struct fixture *f = &public_fixtures[i];
        char err[256], *comment = NULL;
        lsh_key *k = NULL;
        size_t n;
        uint8_t *d = read_fixture(f->file, &n);
        int r = lsh_keyfile_import_public(d, n, &k, &comment, err,
                                          sizeof(err));
        if (r != 0) {
            fail_msg("%s: %s (%s)", f->file, lsh_errname(r), err);
        }
        assert_false(lsh_key_has_private(k));
        assert_fp(k, f->fp);
        assert_string_equal(comment, f->comment);
        lsh_key_free(k);
        free(comment);
        free(d);
    }
}

/* Public key files are not private key files, and the other way round. */
static void
test_public_and_private_files_are_not_confused(void **state)
{
    static const char *const pub[] = {"ed25519_key.pub", "rsa_key.pub.rfc",
                                      "rsa_key.pub.pkcs8",
                                      "rsa_key.pub.pkcs1", "rsa_key.pub.der"};
    static const char *const priv[] = {"ed25519_key", "rsa_key.pem",
                                       "rsa_key.pkcs8", "rsa_key.pkcs1.der"};
    char err[256];
    lsh_key *k = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
        size_t n;
        uint8_t *d = read_fixture(pub[i], &n);
        assert_int_equal(import_priv(d, n, NULL, &k, NULL, err), LSH_EBADKEY);
        free(d);
    }
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        size_t n;
        uint8_t *d = read_fixture(priv[i], &n);
        assert_true(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                              sizeof(err)) < 0);
        free(d);
    }
    assert_null(k);
}

/* ---- OpenSSH's own test keys ------------------------------------------ */

struct td_key {
    const char *file;
    const char *fpfile;
    int pw;
};

static const struct td_key td_keys[] = {
    {"sshkey/ecdsa_1", "sshkey/ecdsa_1.fp", 0},
    {"sshkey/ecdsa_1_pw", "sshkey/ecdsa_1.fp", 1},
    {"sshkey/ecdsa_2", "sshkey/ecdsa_2.fp", 0},
    {"sshkey/ecdsa_n", "sshkey/ecdsa_1.fp", 0},
    {"sshkey/ecdsa_n_pw", "sshkey/ecdsa_1.fp", 1},
    {"sshkey/ecdsa_sk1", "sshkey/ecdsa_sk1.fp", 0},
    {"sshkey/ecdsa_sk1_pw", "sshkey/ecdsa_sk1.fp", 1},
    {"sshkey/ecdsa_sk2", "sshkey/ecdsa_sk2.fp", 0},
    {"sshkey/ed25519_1", "sshkey/ed25519_1.fp", 0},
    {"sshkey/ed25519_1_pw", "sshkey/ed25519_1.fp", 1},
    {"sshkey/ed25519_2", "sshkey/ed25519_2.fp", 0},
    {"sshkey/ed25519_sk1", "sshkey/ed25519_sk1.fp", 0},
    {"sshkey/ed25519_sk1_pw", "sshkey/ed25519_sk1.fp", 1},
    {"sshkey/ed25519_sk2", "sshkey/ed25519_sk2.fp", 0},
    {"sshkey/rsa_1", "sshkey/rsa_1.fp", 0},
    {"sshkey/rsa_1_pw", "sshkey/rsa_1.fp", 1},
    {"sshkey/rsa_1_sha1", "sshkey/rsa_1.fp", 0},
    {"sshkey/rsa_1_sha512", "sshkey/rsa_1.fp", 0},
    {"sshkey/rsa_2", "sshkey/rsa_2.fp", 0},
    {"sshkey/rsa_n", "sshkey/rsa_1.fp", 0},
    {"sshkey/rsa_n_pw", "sshkey/rsa_1.fp", 1},
    /* no .fp files: checked against their .pub */
    {"sshsig/ecdsa", NULL, 0},
    {"sshsig/ecdsa_sk", NULL, 0},
    {"sshsig/ed25519", NULL, 0},
    {"sshsig/ed25519_sk", NULL, 0},
    {"sshsig/rsa", NULL, 0},
};

/* The first line of a file, as a C string (caller frees). */
static char *
first_line(const char *testdata_name)
{
    size_t n;
    uint8_t *d = read_testdata(testdata_name, &n);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, d, n);
    s[n] = '\0';
    s[strcspn(s, "\r\n")] = '\0';
    free(d);
    return s;
}

static void
test_openssh_testdata_keys_load(void **state)
{
    char *pw;
    (void)state;
    if (!have_testdata()) {
        skip();
    }
    pw = first_line("sshkey/pw");
    for (size_t i = 0; i < sizeof(td_keys) / sizeof(td_keys[0]); i++) {
        char err[256], pubname[256], *fp = NULL;
        lsh_key *k = NULL, *pub = NULL;
        size_t n;
        uint8_t *d = read_testdata(td_keys[i].file, &n);
        int r = import_priv(d, n, td_keys[i].pw ? pw : NULL, &k, NULL, err);
        if (r != 0) {
            fail_msg("%s: %s (%s)", td_keys[i].file, lsh_errname(r), err);
        }
        if (td_keys[i].fpfile != NULL) {
            fp = first_line(td_keys[i].fpfile);
            assert_fp(k, fp);
        }
        if (td_keys[i].pw) {
            assert_int_equal(import_priv(d, n, NULL, &pub, NULL, err),
                             LSH_ENEEDPASSPHRASE);
            assert_int_equal(import_priv(d, n, "x", &pub, NULL, err),
                             LSH_EBADPASSPHRASE);
        }
        free(d);
        /* Its .pub file, where there is one, holds the same key. */
        snprintf(pubname, sizeof(pubname), "%s/%s.pub", testdata_dir(),
                 td_keys[i].file);
        d = read_path(pubname, &n);
        assert_true(d != NULL || td_keys[i].fpfile != NULL);
        if (d != NULL) {
            assert_int_equal(lsh_keyfile_import_public(d, n, &pub, NULL, err,
                                                       sizeof(err)),
                             0);
            assert_true(lsh_key_equal_public(k, pub));
            lsh_key_free(pub);
            free(d);
        }
        lsh_key_free(k);
        free(fp);
    }
    free(pw);
}

static void
test_openssh_testdata_sk_keys_keep_their_handle(void **state)
{
    static const char *const files[] = {"sshkey/ecdsa_sk1",
                                        "sshkey/ed25519_sk1", "sshsig/ecdsa_sk",
                                        "sshsig/ed25519_sk"};
    struct test_rng rng = {0};
    (void)state;
    if (!have_testdata()) {
        skip();
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char err[256], *comment = NULL, *comment2 = NULL;
        const uint8_t *app, *h1, *h2;
        size_t n, applen, hl1, hl2;
        uint8_t f1, f2;
        lsh_key *k = NULL, *k2 = NULL;
        lsh_buf out;
        uint8_t *d = read_testdata(files[i], &n);

        assert_int_equal(import_priv(d, n, NULL, &k, &comment, err), 0);
        assert_true(lsh_key_has_private(k));
        app = lsh__key_sk_application(k, &applen);
        assert_non_null(app);
        assert_int_equal(applen, 4);
        assert_memory_equal(app, "ssh:", 4);
        h1 = lsh__key_sk_handle(k, &f1, &hl1);
        assert_non_null(h1);
        assert_true(hl1 > 0);
        /* Written back and read again, with flags and handle. */
        lsh_buf_init(&out, 0);
        assert_int_equal(lsh_keyfile_export_private(k, comment, "openssh",
                                                    PW, NULL, 1, test_rng,
                                                    &rng, &out),
                         0);
        assert_int_equal(import_priv(lsh_buf_ptr(&out), lsh_buf_len(&out), PW,
                                     &k2, &comment2, err),
                         0);
        assert_true(lsh_key_equal_public(k, k2));
        assert_string_equal(comment, comment2);
        h2 = lsh__key_sk_handle(k2, &f2, &hl2);
        assert_non_null(h2);
        assert_int_equal(f1, f2);
        assert_int_equal(hl1, hl2);
        assert_memory_equal(h1, h2, hl1);
        /* Security keys have no PKCS form. */
        lsh_buf_reset(&out);
        assert_int_equal(lsh_keyfile_export_private(k, NULL, "pkcs8-pem",
                                                    NULL, NULL, 0, NULL,
                                                    NULL, &out),
                         LSH_EUNSUPPORTED);
        lsh_buf_free(&out);
        lsh_key_free(k);
        lsh_key_free(k2);
        free(comment);
        free(comment2);
        free(d);
    }
}

static void
test_openssh_testdata_public_keys_and_unsupported_types(void **state)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d;
    (void)state;
    if (!have_testdata()) {
        skip();
    }
    /* ML-DSA composite keys: not a key type we know. */
    d = read_testdata("sshkey/mldsa44_ed25519_1", &n);
    assert_int_equal(import_priv(d, n, NULL, &k, NULL, err), LSH_EKEYTYPE);
    assert_non_null(strstr(err, "mldsa44"));
    free(d);
    d = read_testdata("sshkey/mldsa44_ed25519_1.pub", &n);
    assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                               sizeof(err)),
                     LSH_EKEYTYPE);
    free(d);
    /* The host keys of OpenSSH's known_hosts tests all load. */
    for (int i = 1; i <= 6; i++) {
        static const char *const kinds[] = {"ecdsa", "ed25519", "rsa"};
        for (int j = 0; j < 3; j++) {
            char name[64];
            snprintf(name, sizeof(name), "hostkeys/%s_%d.pub", kinds[j], i);
            d = read_testdata(name, &n);
            assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                                       sizeof(err)),
                             0);
            lsh_key_free(k);
            k = NULL;
            free(d);
        }
    }
    /* SSH-1 RSA public keys ("bits e n" in decimal) are not SSH-2 keys. */
    d = read_testdata("hostkeys/rsa1_1.pub", &n);
    assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                               sizeof(err)),
                     LSH_EBADKEY);
    free(d);
    assert_null(k);
}

/* ---- byte-exact exports ----------------------------------------------- */

/* The check integer of an unencrypted openssh-key-v1 binary. */
static void
openssh_checkint(const uint8_t *bin, size_t n, uint8_t out[4])
{
    const uint8_t *p;
    size_t l;
    uint32_t nk;
    lsh_rd rd;

    lsh_rd_init(&rd, bin, n);
    assert_int_equal(lsh_rd_skip(&rd, 15), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lsh_rd_string(&rd, &p, &l), 0);
    }
    assert_int_equal(lsh_rd_u32(&rd, &nk), 0);
    assert_int_equal(lsh_rd_string(&rd, &p, &l), 0); /* public key */
    assert_int_equal(lsh_rd_string(&rd, &p, &l), 0); /* private section */
    assert_true(l >= 4);
    memcpy(out, p, 4);
}

/*
 * Exports an unencrypted key replaying its file's check integer: the
 * output must be the file byte for byte (ssh-keygen's layout).
 */
static void
assert_openssh_export_identical(const uint8_t *d, size_t n)
{
    uint8_t check[4], *bin;
    struct test_rng rng = {0};
    char err[256], *comment = NULL;
    lsh_key *k = NULL;
    size_t binlen;
    lsh_buf out;

    bin = pem_body(d, n, &binlen);
    openssh_checkint(bin, binlen, check);
    rng.replay = check;
    rng.replay_len = 4;
    assert_int_equal(import_priv(d, n, NULL, &k, &comment, err), 0);
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_keyfile_export_private(k, comment, "openssh", NULL,
                                                NULL, 0, test_rng, &rng,
                                                &out),
                     0);
    assert_int_equal(lsh_buf_len(&out), n);
    assert_memory_equal(lsh_buf_ptr(&out), d, n);
    lsh_buf_free(&out);
    lsh_key_free(k);
    free(comment);
    free(bin);
}

static void
test_openssh_export_is_byte_identical_to_ssh_keygen(void **state)
{
    static const char *const fixtures[] = {"ed25519_key", "ecdsa256_key",
                                           "ecdsa384_key", "ecdsa521_key",
                                           "rsa_key", "ca_rsa"};
    static const char *const td[] = {"sshkey/ecdsa_n", "sshkey/rsa_n",
                                     "sshkey/ed25519_1", "sshkey/ecdsa_sk1",
                                     "sshkey/ed25519_sk1", "sshkey/ecdsa_sk2",
                                     "sshsig/ed25519", "sshsig/ecdsa_sk"};
    (void)state;
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        size_t n;
        uint8_t *d = read_fixture(fixtures[i], &n);
        assert_openssh_export_identical(d, n);
        free(d);
    }
    if (!have_testdata()) {
        return;
    }
    for (size_t i = 0; i < sizeof(td) / sizeof(td[0]); i++) {
        size_t n;
        uint8_t *d = read_testdata(td[i], &n);
        assert_openssh_export_identical(d, n);
        free(d);
    }
}

/* Our public exports against ssh-keygen -e (same comment given). */
static void
test_public_export_is_byte_identical_to_ssh_keygen(void **state)
{
    static const struct {
        const char *key, *file, *format, *comment;
    } cases[] = {
        {"ed25519_key.pub", "ed25519_key.pub.rfc", "rfc4716",
         "256-bit ED25519, converted by root@vm from OpenSSH"},
        {"rsa_key.pub", "rsa_key.pub.rfc", "rfc4716",
         "2048-bit RSA, converted by root@vm from OpenSSH"},
        {"ecdsa384_key.pub", "ecdsa384_key.pub.pkcs8", "pkcs8-pem", NULL},
        {"rsa_key.pub", "rsa_key.pub.pkcs8", "pkcs8-pem", NULL},
        {"rsa_key.pub", "rsa_key.pub.pkcs1", "pkcs1-pem", NULL},
        {"rsa_key.pub", "rsa_key.pub.der", "pkcs8-der", NULL},
        {"ed25519_key", "ed25519_key.pub", "openssh", "ed25519@luassh"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        lsh_key *k = NULL;
        size_t n, m;
        uint8_t *d = read_fixture(cases[i].key, &n);
        uint8_t *want = read_fixture(cases[i].file, &m);
        lsh_buf out;

        if (import_priv(d, n, NULL, &k, NULL, err) != 0) {
            assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                                       sizeof(err)),
                             0);
        }
        lsh_buf_init(&out, 0);
        assert_int_equal(lsh_keyfile_export_public(k, cases[i].comment,
                                                   cases[i].format, &out),
                         0);
        assert_int_equal(lsh_buf_len(&out), m);
        assert_memory_equal(lsh_buf_ptr(&out), want, m);
        lsh_buf_free(&out);
        lsh_key_free(k);
        free(d);
        free(want);
    }
}

/* ---- round trips ------------------------------------------------------ */

static const enum lsh_key_type gen_types[] = {
    LSH_KEY_ED25519,    LSH_KEY_ED448,      LSH_KEY_ECDSA_P256,
    LSH_KEY_ECDSA_P384, LSH_KEY_ECDSA_P521, LSH_KEY_RSA,
};
#define NGEN (sizeof(gen_types) / sizeof(gen_types[0]))
static lsh_key *gen_keys[NGEN];

static int
setup_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGEN; i++) {
        unsigned bits = gen_types[i] == LSH_KEY_RSA ? 2048 : 0;
        if (lsh_key_generate(gen_types[i], bits, &gen_keys[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
teardown_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGEN; i++) {
        lsh_key_free(gen_keys[i]);
        gen_keys[i] = NULL;
    }
    return 0;
}

/* k2 is k: same public key, has a private half that signs for k. */
static void
assert_same_private(const lsh_key *k, const lsh_key *k2)
{
    static const uint8_t msg[] = "round trip";
    lsh_buf sig;

    assert_true(lsh_key_equal_public(k, k2));
    assert_true(lsh_key_has_private(k2));
    lsh_buf_init(&sig, 0);
    assert_int_equal(lsh_key_sign(k2, NULL, msg, sizeof(msg), &sig), 0);
    assert_int_equal(lsh_key_verify(k, NULL, lsh_buf_ptr(&sig),
                                    lsh_buf_len(&sig), msg, sizeof(msg)),
                     0);
    lsh_buf_free(&sig);
}

static int
pkcs1_ok(enum lsh_key_type t)
{
    return t != LSH_KEY_ED25519 && t != LSH_KEY_ED448;
}

static void
test_private_round_trip_every_type_and_format(void **state)
{
    static const char *const formats[] = {"openssh", "pkcs1-pem",
                                          "pkcs1-der", "pkcs8-pem",
                                          "pkcs8-der"};
    struct test_rng rng = {0};
    (void)state;
    for (size_t i = 0; i < NGEN; i++) {
        for (size_t f = 0; f < 5; f++) {
            for (int enc = 0; enc < 2; enc++) {
                const char *pass = enc ? PW : NULL;
                char err[256], *comment = NULL;
                lsh_key *k2 = NULL;
                lsh_buf out;
                int r;

                lsh_buf_init(&out, 0);
                r = lsh_keyfile_export_private(gen_keys[i], "a comment",
                                               formats[f], pass, NULL, 1,
                                               test_rng, &rng, &out);
                if (enc && strcmp(formats[f], "pkcs1-der") == 0) {
                    assert_int_equal(r, LSH_EINVAL); /* DER has no cipher */
                    lsh_buf_free(&out);
                    continue;
                }
                if (strncmp(formats[f], "pkcs1", 5) == 0 &&
                    !pkcs1_ok(gen_types[i])) {
                    assert_int_equal(r, LSH_EUNSUPPORTED);
                    lsh_buf_free(&out);
                    continue;
                }
                assert_int_equal(r, 0);
                r = import_priv(lsh_buf_ptr(&out), lsh_buf_len(&out), pass,
                                &k2, &comment, err);
                if (r != 0) {
                    fail_msg("%s %s %d: %s (%s)",
                             lsh_key_type_name(gen_keys[i]), formats[f], enc,
                             lsh_errname(r), err);
                }
                assert_same_private(gen_keys[i], k2);
                assert_string_equal(comment, f == 0 ? "a comment" : "");
                if (enc) {
                    lsh_key *k3 = NULL;
                    assert_int_equal(import_priv(lsh_buf_ptr(&out),
                                                 lsh_buf_len(&out), NULL,
                                                 &k3, NULL, err),
                                     LSH_ENEEDPASSPHRASE);
                    assert_int_equal(import_priv(lsh_buf_ptr(&out),
                                                 lsh_buf_len(&out), "bad",
                                                 &k3, NULL, err),
                                     LSH_EBADPASSPHRASE);
                }
                lsh_key_free(k2);
                free(comment);
                lsh_buf_free(&out);
            }
        }
    }
}

static void
test_openssh_round_trip_every_cipher(void **state)
{
    static const char *const ciphers[] = {
        "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc",
        "aes192-cbc", "aes256-cbc", "3des-cbc", "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    };
    struct test_rng rng = {0};
    (void)state;
    for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
        char err[256];
        lsh_key *k2 = NULL;
        lsh_buf out;
        uint8_t *bin;
        size_t binlen;

        lsh_buf_init(&out, 0);
        assert_int_equal(lsh_keyfile_export_private(gen_keys[2], NULL,
                                                    "openssh", PW, ciphers[c],
                                                    1, test_rng, &rng, &out),
                         0);
        /* The cipher name is in the clear, right after the magic. */
        bin = pem_body(lsh_buf_ptr(&out), lsh_buf_len(&out), &binlen);
        assert_true(binlen > 19 + strlen(ciphers[c]));
        assert_memory_equal(bin + 19, ciphers[c], strlen(ciphers[c]));
        free(bin);
        assert_int_equal(import_priv(lsh_buf_ptr(&out), lsh_buf_len(&out), PW,
                                     &k2, NULL, err),
                         0);
        assert_same_private(gen_keys[2], k2);
        lsh_key_free(k2);
        assert_int_equal(import_priv(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                     "wrong", &k2, NULL, err),
                         LSH_EBADPASSPHRASE);
        lsh_buf_free(&out);
    }
}

static void
test_public_round_trip_every_type_and_format(void **state)
{
    static const char *const formats[] = {"openssh", "rfc4716", "pkcs1-pem",
                                          "pkcs1-der", "pkcs8-pem",
                                          "pkcs8-der"};
    (void)state;
    for (size_t i = 0; i < NGEN; i++) {
        for (size_t f = 0; f < 6; f++) {
            char err[256], *comment = NULL;
            lsh_key *k2 = NULL;
            lsh_buf out;
            int r;

            lsh_buf_init(&out, 0);
            r = lsh_keyfile_export_public(gen_keys[i], "user@host",
                                          formats[f], &out);
            if (strncmp(formats[f], "pkcs1", 5) == 0 &&
                gen_types[i] != LSH_KEY_RSA) {
                assert_int_equal(r, LSH_EUNSUPPORTED);
                lsh_buf_free(&out);
                continue;
            }
            assert_int_equal(r, 0);
            r = lsh_keyfile_import_public(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                          &k2, &comment, err, sizeof(err));
            if (r != 0) {
                fail_msg("%s %s: %s", lsh_key_type_name(gen_keys[i]),
                         formats[f], err);
            }
            assert_true(lsh_key_equal_public(gen_keys[i], k2));
            assert_false(lsh_key_has_private(k2));
            assert_string_equal(comment, f < 2 ? "user@host" : "");
            lsh_key_free(k2);
            free(comment);
            lsh_buf_free(&out);
        }
    }
}

/* RFC 4716 §3: lines of at most 72 bytes; long comments continue. */
static void
test_rfc4716_long_comment_wraps_and_comes_back(void **state)
{
    char comment[300], *back = NULL, err[256];
    lsh_key *k2 = NULL;
    lsh_buf out;
    const char *p, *end;
    (void)state;
    for (size_t i = 0; i < sizeof(comment) - 1; i++) {
        comment[i] = (char)('a' + i % 26);
    }
    comment[sizeof(comment) - 1] = '\0';
    comment[70] = '\\'; /* a backslash where a line ends */
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_keyfile_export_public(gen_keys[5], comment,
                                               "rfc4716", &out),
                     0);
    p = (const char *)lsh_buf_ptr(&out);
    end = p + lsh_buf_len(&out);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        assert_true(nl - p <= 72);
        p = nl + 1;
    }
    assert_int_equal(lsh_keyfile_import_public(lsh_buf_ptr(&out),
                                               lsh_buf_len(&out), &k2, &back,
                                               err, sizeof(err)),
                     0);
    assert_string_equal(back, comment);
    lsh_key_free(k2);
    free(back);
    lsh_buf_free(&out);
}

/* RFC 4716 §3.6, without the document's indentation. */
static const char RFC4716_EXAMPLES[] =
    "---- BEGIN SSH2 PUBLIC KEY ----\n"
    "Comment: \"1024-bit RSA, converted from OpenSSH by me@example.com\"\n"
    "x-command: /home/me/bin/lock-in-guest.sh\n"
    "AAAAB3NzaC1yc2EAAAABIwAAAIEA1on8gxCGJJWSRT4uOrR13mUaUk0hRf4RzxSZ1zRb\n"
    "YYFw8pfGesIFoEuVth4HKyF8k1y4mRUnYHP1XNMNMJl1JcEArC2asV8sHf6zSPVffozZ\n"
    "5TT4SfsUu/iKy9lUcCfXzwre4WWZSXXcPff+EHtWshahu3WzBdnGxm5Xoi89zcE=\n"
    "---- END SSH2 PUBLIC KEY ----\n"
    "\n"
    "---- BEGIN SSH2 PUBLIC KEY ----\n"
    "Comment: This is my public key for use on \\\n"
    "servers which I don't like.\n"
    "AAAAB3NzaC1kc3MAAACBAPY8ZOHY2yFSJA6XYC9HRwNHxaehvx5wOJ0rzZdzoSOXxbET\n"
    "W6ToHv8D1UJ/z+zHo9Fiko5XybZnDIaBDHtblQ+Yp7StxyltHnXF1YLfKD1G4T6JYrdH\n"
    "YI14Om1eg9e4NnCRleaqoZPF3UGfZia6bXrGTQf3gJq2e7Yisk/gF+1VAAAAFQDb8D5c\n"
    "vwHWTZDPfX0D2s9Rd7NBvQAAAIEAlN92+Bb7D4KLYk3IwRbXblwXdkPggA4pfdtW9vGf\n"
    "J0/RHd+NjB4eo1D+0dix6tXwYGN7PKS5R/FXPNwxHPapcj9uL1Jn2AWQ2dsknf+i/FAA\n"
    "vioUPkmdMc0zuWoSOEsSNhVDtX3WdvVcGcBq9cetzrtOKWOocJmJ80qadxTRHtUAAACB\n"
    "AN7CY+KKv1gHpRzFwdQm7HK9bb1LAo2KwaoXnadFgeptNBQeSXG1vO+JsvphVMBJc9HS\n"
    "n24VYtYtsMu74qXviYjziVucWKjjKEb11juqnF0GDlB3VVmxHLmxnAz643WK42Z7dLM5\n"
    "sY29ouezv4Xz2PuMch5VGPP+CDqzCM4loWgV\n"
    "---- END SSH2 PUBLIC KEY ----\n"
    "---- BEGIN SSH2 PUBLIC KEY ----\n"
    "Subject: me\n"
    "Comment: 1024-bit rsa, created by me@example.com Mon Jan 15 \\\n"
    "08:31:24 2001\n"
    "AAAAB3NzaC1yc2EAAAABJQAAAIEAiPWx6WM4lhHNedGfBpPJNPpZ7yKu+dnn1SJejgt4\n"
    "596k6YjzGGphH2TUxwKzxcKDKKezwkpfnxPkSMkuEspGRt/aZZ9wa++Oi7Qkr8prgHc4\n"
    "soW6NUlfDzpvZK2H5E7eQaSeP3SAwGmQKUFHCddNaP0L+hM7zhFNzjFvpaMgJw0=\n"
    "---- END SSH2 PUBLIC KEY ----\n";

struct collect {
    char fp[8][LSH_KEY_FP_MAX];
    char comment[8][128];
    size_t n;
};

static int
collect_cb(void *ctx, lsh_key *k, const char *comment)
{
    struct collect *c = ctx;
    if (c->n < 8) {
        assert_int_equal(lsh_key_fingerprint(k, "sha256", c->fp[c->n],
                                             LSH_KEY_FP_MAX),
                         0);
        snprintf(c->comment[c->n], sizeof(c->comment[0]), "%s", comment);
    }
    c->n++;
    lsh_key_free(k);
    return 0;
}

static void
test_rfc4716_examples(void **state)
{
    struct collect c = {.n = 0};
    char err[256];
    (void)state;
    assert_int_equal(lsh_keyfile_import_public_list(
                         (const uint8_t *)RFC4716_EXAMPLES,
                         strlen(RFC4716_EXAMPLES), collect_cb, &c, err,
                         sizeof(err)),
                     3);
    assert_string_equal(c.fp[0],
                        "SHA256:csG+ujEVjJLZpYPqLUDdw20LVTQMjD4FWsNmsr1etGE");
    assert_string_equal(c.comment[0],
                        "1024-bit RSA, converted from OpenSSH by "
                        "me@example.com");
    assert_string_equal(c.fp[1],
                        "SHA256:UPFxqc1qGwD5OpK2pgb6Y1YxpiMS+XZeSbYhgyw6LiE");
    assert_string_equal(c.comment[1], "This is my public key for use on "
                                      "servers which I don't like.");
    assert_string_equal(c.fp[2],
                        "SHA256:MQHWhS9nhzUezUdD42ytxubZoBKrZLbyBZzxCkmnxXc");
    assert_string_equal(c.comment[2],
                        "1024-bit rsa, created by me@example.com Mon Jan 15 "
                        "08:31:24 2001");
}

/* A public key file may mix formats; '#' lines and blanks are skipped. */
static void
test_public_list_mixes_formats(void **state)
{
    static const char *const parts[] = {
        "ed25519_key.pub", "rsa_key.pub.rfc", "ecdsa256_key.pub.pkcs8",
        "rsa_key.pub.pkcs1", "ed448_ossl.pub.pkcs8", "dsa_key.pub"};
    static const char *const fps[] = {FP_ED25519, FP_RSA, FP_P256,
                                      FP_RSA, FP_OSSL_ED448, FP_DSA};
    struct collect c = {.n = 0};
    char err[256];
    lsh_key *k = NULL;
    lsh_buf all;
    (void)state;
    lsh_buf_init(&all, 0);
    assert_int_equal(lsh_buf_put(&all, "# keys\n\n", 8), 0);
    for (size_t i = 0; i < 6; i++) {
        size_t n;
        uint8_t *d = read_fixture(parts[i], &n);
        assert_int_equal(lsh_buf_put(&all, d, n), 0);
        assert_int_equal(lsh_buf_put(&all, "\r\n  \n", 5), 0);
        free(d);
    }
    assert_int_equal(lsh_keyfile_import_public_list(lsh_buf_ptr(&all),
                                                    lsh_buf_len(&all),
                                                    collect_cb, &c, err,
                                                    sizeof(err)),
                     6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(c.fp[i], fps[i]);
    }
    assert_string_equal(c.comment[0], "ed25519@luassh");
    /* One-key import refuses a file of several. */
    assert_int_equal(lsh_keyfile_import_public(lsh_buf_ptr(&all),
                                               lsh_buf_len(&all), &k, NULL,
                                               err, sizeof(err)),
                     LSH_EBADKEY);
    assert_string_equal(err, "more than one key in the file");
    assert_int_equal(lsh_keyfile_import_public((const uint8_t *)"# none\n", 7,
                                               &k, NULL, err, sizeof(err)),
                     LSH_EBADKEY);
    assert_string_equal(err, "no key in the file");
    assert_null(k);
    lsh_buf_free(&all);
}

static int
stop_cb(void *ctx, lsh_key *k, const char *comment)
{
    (void)ctx;
    (void)comment;
    lsh_key_free(k);
    return -12345;
}

static void
test_public_list_callback_can_stop(void **state)
{
    size_t n;
    uint8_t *d = read_fixture("ed25519_key.pub", &n);
    (void)state;
    assert_int_equal(lsh_keyfile_import_public_list(d, n, stop_cb, NULL,
                                                    NULL, 0),
                     -12345);
    free(d);
}

/* ---- negative: public ------------------------------------------------- */

static void
assert_public_fails(const char *text, int code, const char *errpart)
{
    char err[256];
    lsh_key *k = NULL;
    int r = lsh_keyfile_import_public((const uint8_t *)text, strlen(text),
                                      &k, NULL, err, sizeof(err));
    if (r != code) {
        fail_msg("'%s': got %s (%s), want %s", text, lsh_errname(r), err,
                 lsh_errname(code));
    }
    if (errpart != NULL && strstr(err, errpart) == NULL) {
        fail_msg("'%s': error '%s' lacks '%s'", text, err, errpart);
    }
    assert_null(k);
}

static void
test_public_line_errors(void **state)
{
    (void)state;
    assert_public_fails("ssh-ed25519\n", LSH_EBADKEY, "line 1");
    assert_public_fails("\nssh-ed25519 AAAA!!!!\n", LSH_EBADKEY,
                        "line 2: bad base64");
    /* Type word and blob disagree. */
    assert_public_fails("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBnA8H6r1D2UaiIhuo45"
                        "rW09edBhD50/OeUbWnggbkrF\n",
                        LSH_EBADKEY, "does not match");
    /* Non-canonical base64: the last character's spare bits are set. */
    assert_public_fails("ssh-ed448 AAAACXNzaC1lZDQ0OAAAADn355MyLVaY22KenO03"
                        "DOSzdL54wOQSStw3KFUs5Ygkv5MIkAUfUXL0gLVxYgubhg6eE/"
                        "UzXec5AYB=\n",
                        LSH_EBADKEY, "bad base64");
    /* Unknown type, and a truncated blob. */
    assert_public_fails("ssh-foo AAAAB3NzaC1mb28AAAAA\n", LSH_EKEYTYPE,
                        "ssh-foo");
    assert_public_fails("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnA8H6r1D2U\n",
                        LSH_EBADKEY, "line 1");
    /* authorized_keys options are not part of this format. */
    assert_public_fails("no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnA8H6r1"
                        "D2UaiIhuo45rW09edBhD50/OeUbWnggbkrF\n",
                        LSH_EBADKEY, NULL);
    /* RFC 4716 blocks must end, and hold base64. */
    assert_public_fails("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n",
                        LSH_EBADKEY, "no END");
    assert_public_fails("---- BEGIN SSH2 PUBLIC KEY ----\nAA*A\n"
                        "---- END SSH2 PUBLIC KEY ----\n",
                        LSH_EBADKEY, "bad base64 at line 2");
    assert_public_fails("---- BEGIN SSH2 PUBLIC KEY ----\n"
                        "Bad Tag: x\nAAAA\n---- END SSH2 PUBLIC KEY ----\n",
                        LSH_EBADKEY, "header");
    /* PEM: private keys and unknown labels are not public keys. */
    assert_public_fails("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
                        LSH_EBADKEY, "not a public key");
    assert_public_fails("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                        "-----END PUBLIC KEY-----\n",
                        LSH_EBADKEY, "PEM");
}

static void
test_public_certificate_lines_are_refused(void **state)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d = read_fixture("user_ed25519-cert.pub", &n);
    (void)state;
    assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                               sizeof(err)),
                     LSH_EKEYTYPE);
    assert_non_null(strstr(err, "certificate"));
    free(d);
}

/* ---- negative: openssh-key-v1 built by hand --------------------------- */

/* The pieces of an openssh-key-v1 binary. */
struct kv1 {
    const char *cipher, *kdf;
    lsh_buf opts;
    uint32_t nkeys;
    lsh_buf pub;
    lsh_buf sec;
    lsh_buf tail; /* bytes after the private section string */
};

static void
kv1_init(struct kv1 *v)
{
    memset(v, 0, sizeof(*v));
    v->cipher = "none";
    v->kdf = "none";
    v->nkeys = 1;
    lsh_buf_init(&v->opts, 0);
    lsh_buf_init(&v->pub, 0);
    lsh_buf_init(&v->sec, 0);
    lsh_buf_init(&v->tail, 0);
}

static void
kv1_free(struct kv1 *v)
{
    lsh_buf_free(&v->opts);
    lsh_buf_free(&v->pub);
    lsh_buf_free(&v->sec);
    lsh_buf_free(&v->tail);
}

static void
kv1_build(const struct kv1 *v, lsh_buf *out)
{
    lsh_buf_init(out, 0);
    assert_int_equal(lsh_buf_put(out, "openssh-key-v1", 15), 0);
    assert_int_equal(lsh_buf_put_cstring(out, v->cipher), 0);
    assert_int_equal(lsh_buf_put_cstring(out, v->kdf), 0);
    assert_int_equal(put_bufstr(out, &v->opts), 0);
    assert_int_equal(lsh_buf_put_u32(out, v->nkeys), 0);
    assert_int_equal(put_bufstr(out, &v->pub), 0);
    assert_int_equal(put_bufstr(out, &v->sec), 0);
    assert_int_equal(put_bufraw(out, &v->tail), 0);
}

/*
 * An unencrypted Ed25519 private section: checkints c1, c2, the key of
 * type `type` (pub, seed || pub2), the comment, and `pad` padding bytes
 * as given (NULL: 1, 2, 3, ... to a multiple of 8).
 */
static void
ed25519_section(lsh_buf *sec, uint32_t c1, uint32_t c2, const char *type,
                const uint8_t *pub, const uint8_t *seedpub,
                const char *comment, const uint8_t *pad, size_t padlen)
{
    assert_int_equal(lsh_buf_put_u32(sec, c1), 0);
    assert_int_equal(lsh_buf_put_u32(sec, c2), 0);
    assert_int_equal(lsh_buf_put_cstring(sec, type), 0);
    assert_int_equal(lsh_buf_put_string(sec, pub, 32), 0);
    assert_int_equal(lsh_buf_put_string(sec, seedpub, 64), 0);
    assert_int_equal(lsh_buf_put_cstring(sec, comment), 0);
    if (pad != NULL) {
        assert_int_equal(lsh_buf_put(sec, pad, padlen), 0);
        return;
    }
    for (uint8_t i = 1; lsh_buf_len(sec) % 8 != 0; i++) {
        assert_int_equal(lsh_buf_put_u8(sec, i), 0);
    }
}

/* Key material of gen_keys[0] (Ed25519). */
static void
ed25519_material(uint8_t pub[32], uint8_t seedpub[64], lsh_buf *blob)
{
    EVP_PKEY *pk = lsh__key_pkey(gen_keys[0]);
    size_t a = 32, b = 32;
    assert_int_equal(EVP_PKEY_get_raw_private_key(pk, seedpub, &a), 1);
    assert_int_equal(EVP_PKEY_get_raw_public_key(pk, pub, &b), 1);
    memcpy(seedpub + 32, pub, 32);
    lsh_buf_init(blob, 0);
    assert_int_equal(lsh_key_to_blob(gen_keys[0], blob), 0);
}

static int
kv1_import(const struct kv1 *v, const char *pass, unsigned max_rounds,
           char *err)
{
    lsh_buf bin;
    lsh_key *k = NULL;
    int r;

    kv1_build(v, &bin);
    r = lsh_keyfile_import_private_ex(lsh_buf_ptr(&bin), lsh_buf_len(&bin),
                                      pass, max_rounds, &k, NULL, err, 256);
    assert_true(r == 0 || k == NULL);
    assert_int_equal(ERR_peek_error(), 0); /* the error queue is clean */
    lsh_key_free(k);
    lsh_buf_free(&bin);
    return r;
}

static void
expect_kv1(int line, const struct kv1 *v, const char *pass,
           unsigned max_rounds, int code, const char *part)
{
    char err[256];
    int r = kv1_import(v, pass, max_rounds, err);
    if (r != code || (part[0] != '\0' && strstr(err, part) == NULL)) {
        fail_msg("line %d: got %s '%s', want %s '%s'", line, lsh_errname(r),
                 err, lsh_errname(code), part);
    }
}

#define EXPECT(code, part)                                                 \
    expect_kv1(__LINE__, &v, pass, max_rounds, (code), (part))

static void
test_openssh_handmade_files(void **state)
{
    uint8_t pub[32], seedpub[64], bad[64];
    const char *pass = NULL;
    unsigned max_rounds = 0;
    lsh_buf blob;
    struct kv1 v;
    (void)state;

    ed25519_material(pub, seedpub, &blob);
    kv1_init(&v);
    assert_int_equal(lsh_buf_put(&v.pub, lsh_buf_ptr(&blob),
                                 lsh_buf_len(&blob)),
                     0);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c", NULL, 0);
    EXPECT(0, "");

    /* §3: the check integers must agree. */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 8, "ssh-ed25519", pub, seedpub, "c", NULL, 0);
    EXPECT(LSH_EBADKEY, "openssh-key-v1: check integers differ");

    /* Padding must be 1, 2, 3, ... */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c",
                    (const uint8_t *)"\1\2\4\4", 4);
    EXPECT(LSH_EBADKEY, "bad padding");
    /* ...and fill whole blocks. */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c",
                    (const uint8_t *)"\1\2\3", 3);
    EXPECT(LSH_EBADKEY, "not a multiple");

    /* The private key must match the public one. */
    memcpy(bad, seedpub, 64);
    bad[0] ^= 1;
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, bad, "c", NULL, 0);
    EXPECT(LSH_EBADKEY, "bad ssh-ed25519 private key");
    memcpy(bad, seedpub, 64);
    bad[40] ^= 1; /* the copy of the public key inside k || A */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, bad, "c", NULL, 0);
    EXPECT(LSH_EBADKEY, "bad ssh-ed25519 private key");

    /* Private key types: unknown, and not the public key's. */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25518", pub, seedpub, "c", NULL, 0);
    EXPECT(LSH_EKEYTYPE, "ssh-ed25518");
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c", NULL, 0);
    lsh_buf_reset(&v.pub);
    assert_int_equal(lsh_key_to_blob(gen_keys[2], &v.pub), 0);
    EXPECT(LSH_EBADKEY, "does not match its public key");
    lsh_buf_reset(&v.pub);
    assert_int_equal(lsh_buf_put_cstring(&v.pub, "ssh-foo"), 0);
    EXPECT(LSH_EKEYTYPE, "ssh-foo");
    lsh_buf_reset(&v.pub);
    assert_int_equal(lsh_buf_put(&v.pub, lsh_buf_ptr(&blob),
                                 lsh_buf_len(&blob) - 1),
                     0);
    EXPECT(LSH_EBADKEY, "bad public key");
    lsh_buf_reset(&v.pub);
    assert_int_equal(lsh_buf_put(&v.pub, lsh_buf_ptr(&blob),
                                 lsh_buf_len(&blob)),
                     0);

    /* A comment must not hold NUL bytes. */
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "", NULL, 0);
    /* rewrite the empty comment string as "\0" with the padding after */
    {
        lsh_buf s2;
        lsh_buf_init(&s2, 0);
        assert_int_equal(lsh_buf_put(&s2, lsh_buf_ptr(&v.sec), 4 + 4 + 4 +
                                     11 + 4 + 32 + 4 + 64),
                         0);
        assert_int_equal(lsh_buf_put_string(&s2, "\0", 1), 0);
        for (uint8_t i = 1; lsh_buf_len(&s2) % 8 != 0; i++) {
            assert_int_equal(lsh_buf_put_u8(&s2, i), 0);
        }
        lsh_buf_reset(&v.sec);
        assert_int_equal(lsh_buf_put(&v.sec, lsh_buf_ptr(&s2),
                                     lsh_buf_len(&s2)),
                         0);
        lsh_buf_free(&s2);
    }
    EXPECT(LSH_EBADKEY, "bad comment");
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c", NULL, 0);

    /* Ciphers and KDFs. */
    v.cipher = "x";
    EXPECT(LSH_EBADKEY, "unknown cipher 'x'");
    v.cipher = "aes256-ctr";
    EXPECT(LSH_EBADKEY, "KDF 'none' with a cipher");
    v.cipher = "none";
    v.kdf = "scrypt";
    EXPECT(LSH_EBADKEY, "unknown KDF 'scrypt'");
    v.kdf = "bcrypt";
    EXPECT(LSH_EBADKEY, "KDF 'bcrypt' with cipher 'none'");
    v.kdf = "none";
    assert_int_equal(lsh_buf_put_u32(&v.opts, 0), 0);
    EXPECT(LSH_EBADKEY, "KDF 'none' with a cipher or options");
    lsh_buf_reset(&v.opts);

    /* bcrypt options: salt, rounds (0 is invalid), nothing more. */
    v.cipher = "aes256-ctr";
    v.kdf = "bcrypt";
    pass = PW;
    lsh_buf_reset(&v.sec); /* 16-byte blocks */
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c", NULL, 0);
    while (lsh_buf_len(&v.sec) % 16 != 0) {
        assert_int_equal(lsh_buf_put_u8(&v.sec, 0), 0);
    }
    assert_int_equal(lsh_buf_put_string(&v.opts, "saltsaltsaltsalt", 16), 0);
    assert_int_equal(lsh_buf_put_u32(&v.opts, 0), 0);
    EXPECT(LSH_EBADKEY, "bcrypt rounds 0");
    lsh_buf_reset(&v.opts);
    assert_int_equal(lsh_buf_put_string(&v.opts, "", 0), 0);
    assert_int_equal(lsh_buf_put_u32(&v.opts, 16), 0);
    EXPECT(LSH_EBADKEY, "empty bcrypt salt");
    lsh_buf_reset(&v.opts);
    assert_int_equal(lsh_buf_put_string(&v.opts, "saltsaltsaltsalt", 16), 0);
    assert_int_equal(lsh_buf_put_u32(&v.opts, 17), 0);
    max_rounds = 16;
    EXPECT(LSH_ETOOLARGE, "bcrypt rounds 17 above the limit 16");
    max_rounds = 0;
    assert_int_equal(lsh_buf_put_u8(&v.opts, 0), 0);
    EXPECT(LSH_EBADKEY, "malformed bcrypt options");
    lsh_buf_reset(&v.opts);
    assert_int_equal(lsh_buf_put_string(&v.opts, "saltsaltsaltsalt", 16), 0);
    assert_int_equal(lsh_buf_put_u32(&v.opts, 1), 0);
    /* Random bytes as ciphertext: the check integers will differ. */
    EXPECT(LSH_EBADPASSPHRASE, "incorrect passphrase");
    pass = NULL;
    EXPECT(LSH_ENEEDPASSPHRASE, "");
    pass = PW;
    /* AEAD ciphers need their tag after the section. */
    v.cipher = "aes256-gcm@openssh.com";
    EXPECT(LSH_EBADKEY, "missing authentication tag");
    assert_int_equal(lsh_buf_put(&v.tail, "0123456789abcdef", 16), 0);
    EXPECT(LSH_EBADPASSPHRASE, "");
    v.cipher = "chacha20-poly1305@openssh.com";
    EXPECT(LSH_EBADPASSPHRASE, "");
    lsh_buf_reset(&v.tail);

    /* Only one key per file; nothing after the key data. */
    v.cipher = "none";
    v.kdf = "none";
    pass = NULL;
    lsh_buf_reset(&v.opts);
    lsh_buf_reset(&v.sec);
    ed25519_section(&v.sec, 7, 7, "ssh-ed25519", pub, seedpub, "c", NULL, 0);
    v.nkeys = 2;
    EXPECT(LSH_EBADKEY, "2 keys");
    v.nkeys = 0;
    EXPECT(LSH_EBADKEY, "0 keys");
    v.nkeys = 1;
    assert_int_equal(lsh_buf_put_u8(&v.tail, 0), 0);
    EXPECT(LSH_EBADKEY, "trailing data");
    lsh_buf_reset(&v.tail);
    EXPECT(0, "");

    kv1_free(&v);
    lsh_buf_free(&blob);
}

/* Absurd length fields: each string length set to 0xffffffff in turn. */
static void
test_openssh_absurd_lengths(void **state)
{
    struct test_rng rng = {0};
    uint8_t *bin;
    size_t binlen;
    lsh_buf out;
    lsh_rd rd;
    (void)state;

    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], "c", "openssh",
                                                NULL, NULL, 0, test_rng, &rng,
                                                &out),
                     0);
    bin = pem_body(lsh_buf_ptr(&out), lsh_buf_len(&out), &binlen);
    lsh_rd_init(&rd, bin, binlen);
    assert_int_equal(lsh_rd_skip(&rd, 15), 0);
    for (int field = 0; field < 6; field++) {
        size_t at = rd.pos;
        uint8_t save[4];
        const uint8_t *p;
        size_t l;
        char err[256];
        lsh_key *k = NULL;

        memcpy(save, bin + at, 4);
        memset(bin + at, 0xff, 4);
        assert_int_equal(lsh_keyfile_import_private(bin, binlen, NULL, &k,
                                                    NULL, err, sizeof(err)),
                         LSH_EBADKEY);
        memcpy(bin + at, save, 4);
        if (field == 3) {
            uint32_t nk;
            assert_int_equal(lsh_rd_u32(&rd, &nk), 0);
        } else {
            assert_int_equal(lsh_rd_string(&rd, &p, &l), 0);
        }
    }
    free(bin);
    lsh_buf_free(&out);
}

/* A cut anywhere makes the file invalid; nothing reads out of bounds. */
static void
test_openssh_truncated_at_every_byte(void **state)
{
    static const char *const files[] = {"ecdsa256_key", "ed25519_key_aes256-gcm",
                                        "ed25519_key_chacha20-poly1305"};
    (void)state;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t n, binlen;
        uint8_t *d = read_fixture(files[f], &n);
        uint8_t *bin = pem_body(d, n, &binlen);
        const char *pass = f == 0 ? NULL : PW;
        for (size_t i = 0; i < binlen; i++) {
            lsh_key *k = NULL;
            uint8_t *cut = malloc(i > 0 ? i : 1);
            memcpy(cut, bin, i);
            assert_int_not_equal(lsh_keyfile_import_private(cut, i, pass, &k,
                                                            NULL, NULL, 0),
                                 0);
            assert_null(k);
            free(cut);
        }
        /* The PEM text cut before the END line is complete. */
        for (size_t i = 0; i + 1 < n; i += 7) {
            lsh_key *k = NULL;
            assert_int_not_equal(lsh_keyfile_import_private(d, i, pass, &k,
                                                            NULL, NULL, 0),
                                 0);
        }
        free(bin);
        free(d);
    }
}

static void
test_pkcs_truncated_at_every_byte(void **state)
{
    static const char *const files[] = {"rsa_key.pkcs1.der",
                                        "ecdsa256_key.sec1.der",
                                        "ed25519_ossl.pkcs8.der",
                                        "rsa_key.pub.der"};
    (void)state;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t n;
        uint8_t *d = read_fixture(files[f], &n);
        uint8_t *longer = malloc(n + 1);
        lsh_key *k = NULL;
        char err[256];

        for (size_t i = 0; i < n; i++) {
            assert_int_not_equal(lsh_keyfile_import_private(d, i, NULL, &k,
                                                            NULL, NULL, 0),
                                 0);
            assert_true(lsh_keyfile_import_public(d, i, &k, NULL, NULL, 0) <
                        0);
        }
        /* Trailing bytes after the DER structure are refused. */
        memcpy(longer, d, n);
        longer[n] = 0;
        if (f < 3) {
            assert_int_equal(lsh_keyfile_import_private(longer, n + 1, NULL,
                                                        &k, NULL, err,
                                                        sizeof(err)),
                             LSH_EBADKEY);
        } else {
            assert_int_equal(lsh_keyfile_import_public(longer, n + 1, &k,
                                                       NULL, err,
                                                       sizeof(err)),
                             LSH_EBADKEY);
        }
        assert_null(k);
        free(longer);
        free(d);
    }
}

/*
 * OpenSSL's decoders take inconsistent keys; we do not: a changed byte
 * in the RSA coefficient (the last INTEGER of the PKCS#1 DER) or in the
 * EC private scalar (SEC1: 30 77 02 01 01 04 20 d...) is refused.
 */
static void
test_pkcs_inconsistent_private_keys_are_refused(void **state)
{
    static const struct {
        const char *file;
        long at; /* byte to flip; negative counts from the end */
    } cases[] = {{"rsa_key.pkcs1.der", -1}, {"ecdsa256_key.sec1.der", 10}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        lsh_key *k = NULL;
        size_t n;
        uint8_t *d = read_fixture(cases[i].file, &n);
        size_t at = cases[i].at < 0 ? n - 1 : (size_t)cases[i].at;

        d[at] ^= 0x01;
        assert_int_equal(import_priv(d, n, NULL, &k, NULL, err), LSH_EBADKEY);
        assert_int_equal(ERR_peek_error(), 0);
        assert_non_null(strstr(err, "inconsistent"));
        assert_null(k);
        free(d);
    }
}

/* ---- negative: PEM and text ------------------------------------------- */

static void
assert_private_text_fails(const char *text, int code, const char *errpart)
{
    char err[256];
    lsh_key *k = NULL;
    int r = import_priv((const uint8_t *)text, strlen(text), PW, &k, NULL,
                        err);
    if (r != code || (errpart != NULL && strstr(err, errpart) == NULL)) {
        fail_msg("got %s '%s', want %s '%s'", lsh_errname(r), err,
                 lsh_errname(code), errpart != NULL ? errpart : "");
    }
    assert_null(k);
}

static void
test_pem_errors(void **state)
{
    (void)state;
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                              "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAA"
                              "AAAABAAAAMwAAAAtzc2gtZW\n"
                              "QyNTUxOQAAACCc!d3xSHcV6HpZbEl6z06et+23qccYf68Qt"
                              "pkclwZRlCQAAAJj5wpXN+cKV\n"
                              "-----END OPENSSH PRIVATE KEY-----\n",
                              LSH_EBADKEY, "PEM: bad base64 at line 3");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
                              "-----END RSA PRIVATE KEY-----\n",
                              LSH_EBADKEY, "does not match");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
                              LSH_EBADKEY, "no END line");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                              "-----END OPENSSH PRIVATE KEY-----\n",
                              LSH_EBADKEY, "empty body");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n"
                              "-----END OPENSSH PRIVATE KEY-----\n",
                              LSH_EBADKEY, "mid-group");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                              "Proc-Type: 4,ENCRYPTED\n\nAAAA\n"
                              "-----END OPENSSH PRIVATE KEY-----\n",
                              LSH_EBADKEY, "unexpected PEM headers");
    assert_private_text_fails("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
                              "-----END OPENSSH PRIVATE KEY-----\n",
                              LSH_EBADKEY, "bad magic");
    assert_private_text_fails("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                              "-----END PUBLIC KEY-----\n",
                              LSH_EBADKEY, "'PUBLIC KEY' is not a private");
    assert_private_text_fails("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"
                              "-----END RSA PRIVATE KEY-----\n",
                              LSH_EBADKEY, "OpenSSL can");
    assert_private_text_fails("PuTTY-User-Key-File-3: ssh-ed25519\n",
                              LSH_EBADKEY, "unrecognised private key format");
    assert_private_text_fails("", LSH_EBADKEY, "unrecognised");
}

static void
test_pem_accepts_crlf_and_surrounding_blanks_not_trailing_text(void **state)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d = read_fixture("ed25519_key_pw", &n);
    lsh_buf b;
    (void)state;

    /* CRLF lines, leading and trailing blank lines: fine. */
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put(&b, "\n \r\n", 4), 0);
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            assert_int_equal(lsh_buf_put_u8(&b, '\r'), 0);
        }
        assert_int_equal(lsh_buf_put_u8(&b, d[i]), 0);
    }
    assert_int_equal(lsh_buf_put(&b, "\r\n\n", 3), 0);
    assert_int_equal(import_priv(lsh_buf_ptr(&b), lsh_buf_len(&b), PW, &k,
                                 NULL, err),
                     0);
    assert_fp(k, FP_ED25519);
    lsh_key_free(k);
    k = NULL;
    /* Anything else after the block is refused. */
    assert_int_equal(lsh_buf_put(&b, "garbage\n", 8), 0);
    assert_int_equal(import_priv(lsh_buf_ptr(&b), lsh_buf_len(&b), PW, &k,
                                 NULL, err),
                     LSH_EBADKEY);
    assert_non_null(strstr(err, "trailing data"));
    assert_null(k);
    lsh_buf_free(&b);
    free(d);
}

static void
test_files_over_the_size_limit_are_refused(void **state)
{
    uint8_t *big = calloc(1, LSH_KEYFILE_MAX_SIZE + 1);
    char err[256];
    lsh_key *k = NULL;
    (void)state;
    assert_non_null(big);
    memset(big, 'A', LSH_KEYFILE_MAX_SIZE + 1);
    assert_int_equal(import_priv(big, LSH_KEYFILE_MAX_SIZE + 1, NULL, &k,
                                 NULL, err),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_keyfile_import_public(big, LSH_KEYFILE_MAX_SIZE + 1,
                                               &k, NULL, err, sizeof(err)),
                     LSH_ETOOLARGE);
    assert_null(k);
    free(big);
}

/* ---- export errors ---------------------------------------------------- */

static void
test_export_errors(void **state)
{
    struct test_rng rng = {0}, bad_rng = {.fail = 1};
    lsh_key *pub = lsh_key_public_copy(gen_keys[0]), *dsa = NULL;
    char err[256];
    size_t n;
    uint8_t *d = read_fixture("dsa_key", &n);
    lsh_buf out;
    (void)state;

    lsh_buf_init(&out, 0);
    assert_int_equal(import_priv(d, n, NULL, &dsa, NULL, err), 0);
    free(d);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "ppk",
                                                NULL, NULL, 0, test_rng, &rng,
                                                &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_private(pub, NULL, "openssh", NULL,
                                                NULL, 0, test_rng, &rng, &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                PW, "rot13", 0, test_rng,
                                                &rng, &out),
                     LSH_ENOALG);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                PW, "none", 0, test_rng, &rng,
                                                &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                PW, NULL,
                                                LSH_KEYFILE_MAX_KDF_ROUNDS + 1,
                                                test_rng, &rng, &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                NULL, NULL, 0, NULL, NULL,
                                                &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                PW, NULL, 1, test_rng,
                                                &bad_rng, &out),
                     LSH_ECRYPTO);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[5], NULL,
                                                "pkcs8-pem", PW, "rot13", 0,
                                                NULL, NULL, &out),
                     LSH_ENOALG);
    assert_int_equal(lsh_keyfile_export_private(dsa, NULL, "openssh", NULL,
                                                NULL, 0, test_rng, &rng, &out),
                     LSH_EUNSUPPORTED);
    assert_int_equal(lsh_keyfile_export_private(dsa, NULL, "pkcs8-pem", NULL,
                                                NULL, 0, NULL, NULL, &out),
                     LSH_EUNSUPPORTED);
    assert_int_equal(lsh_keyfile_export_public(gen_keys[0], NULL, "x", &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_public(gen_keys[0], "a\nb", "openssh",
                                               &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_keyfile_export_public(gen_keys[2], NULL, "pkcs1-pem",
                                               &out),
                     LSH_EUNSUPPORTED);
    assert_int_equal(lsh_buf_len(&out), 0);
    /* ssh-dss public keys still export in the formats that carry them. */
    assert_int_equal(lsh_keyfile_export_public(dsa, NULL, "openssh", &out), 0);
    assert_int_equal(lsh_keyfile_export_public(dsa, NULL, "pkcs8-pem", &out),
                     0);
    lsh_buf_free(&out);
    lsh_key_free(pub);
    lsh_key_free(dsa);
}

/* Empty passphrase: written unencrypted, as ssh-keygen does. */
static void
test_empty_passphrase_writes_unencrypted(void **state)
{
    struct test_rng rng = {0};
    char err[256];
    lsh_key *k = NULL;
    lsh_buf out;
    uint8_t *bin;
    size_t binlen;
    (void)state;
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_keyfile_export_private(gen_keys[0], NULL, "openssh",
                                                "", "aes128-ctr", 0, test_rng,
                                                &rng, &out),
                     0);
    bin = pem_body(lsh_buf_ptr(&out), lsh_buf_len(&out), &binlen);
    assert_memory_equal(bin + 15, "\0\0\0\4none\0\0\0\4none", 16);
    free(bin);
    assert_int_equal(import_priv(lsh_buf_ptr(&out), lsh_buf_len(&out), NULL,
                                 &k, NULL, err),
                     0);
    lsh_key_free(k);
    lsh_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_fixtures_load_with_their_fingerprints),
        cmocka_unit_test(test_encrypted_fixtures_need_the_right_passphrase),
        cmocka_unit_test(test_unencrypted_key_ignores_a_passphrase),
        cmocka_unit_test(test_public_fixtures_load_with_their_fingerprints),
        cmocka_unit_test(test_public_and_private_files_are_not_confused),
        cmocka_unit_test(test_openssh_testdata_keys_load),
        cmocka_unit_test(test_openssh_testdata_sk_keys_keep_their_handle),
        cmocka_unit_test(test_openssh_testdata_public_keys_and_unsupported_types),
        cmocka_unit_test(test_openssh_export_is_byte_identical_to_ssh_keygen),
        cmocka_unit_test(test_public_export_is_byte_identical_to_ssh_keygen),
        cmocka_unit_test(test_private_round_trip_every_type_and_format),
        cmocka_unit_test(test_openssh_round_trip_every_cipher),
        cmocka_unit_test(test_public_round_trip_every_type_and_format),
        cmocka_unit_test(test_rfc4716_long_comment_wraps_and_comes_back),
        cmocka_unit_test(test_rfc4716_examples),
        cmocka_unit_test(test_public_list_mixes_formats),
        cmocka_unit_test(test_public_list_callback_can_stop),
        cmocka_unit_test(test_public_line_errors),
        cmocka_unit_test(test_public_certificate_lines_are_refused),
        cmocka_unit_test(test_openssh_handmade_files),
        cmocka_unit_test(test_openssh_absurd_lengths),
        cmocka_unit_test(test_openssh_truncated_at_every_byte),
        cmocka_unit_test(test_pkcs_truncated_at_every_byte),
        cmocka_unit_test(test_pkcs_inconsistent_private_keys_are_refused),
        cmocka_unit_test(test_pem_errors),
        cmocka_unit_test(
            test_pem_accepts_crlf_and_surrounding_blanks_not_trailing_text),
        cmocka_unit_test(test_files_over_the_size_limit_are_refused),
        cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_empty_passphrase_writes_unencrypted),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
