/*
 * Tests for src/ssh/keys/cert.c: OpenSSH certificates.
 *
 * Where the expected values come from:
 *  - CERT_VECTORS, "fixture" rows: certificates made by OpenSSH 9.2's
 *    `ssh-keygen -s` (spec/c/data/keyfile/generate.sh); every field is
 *    what `TZ=UTC0 ssh-keygen -L -f F` printed for them, times converted
 *    with `date -u +%s`.
 *  - "testdata" rows: OpenSSH's regression test certificates
 *    (openssh-testdata/sshkey/ *-cert.pub and authopt/ *.cert), read from
 *    $LSH_OPENSSH_TESTDATA or /work/shared/specs/openssh-testdata (skipped
 *    when missing), fields again as `ssh-keygen -L` printed them.
 *  - The option section bytes in test_create_wraps_values_as_the_draft_
 *    shows are the examples of draft-ietf-sshm-cert-01 §2.2.
 *  - Everything else is built here: certificates we sign and parse back,
 *    and hand-made blobs for each malformation.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/keyfile.h"

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

/* A fixture (testdata = 0) or an OpenSSH test data file (testdata = 1). */
static uint8_t *
read_file(int testdata, const char *name, size_t *n)
{
    char p[4096];
    const char *root = getenv("LUASSH_ROOT");
    uint8_t *d;

    if (testdata) {
        snprintf(p, sizeof(p), "%s/%s", testdata_dir(), name);
    } else {
        snprintf(p, sizeof(p), "%s%sspec/c/data/keyfile/%s",
                 root != NULL ? root : "", root != NULL ? "/" : "", name);
    }
    if ((d = read_path(p, n)) == NULL) {
        fail_msg("cannot read %s", p);
    }
    return d;
}

static lsh_cert *
load_cert(int testdata, const char *name)
{
    char err[256];
    lsh_cert *c = NULL;
    size_t n;
    uint8_t *d = read_file(testdata, name, &n);
    int r = lsh_cert_import(d, n, &c, NULL, err, sizeof(err));
    if (r != 0) {
        fail_msg("%s: %s (%s)", name, lsh_errname(r), err);
    }
    free(d);
    return c;
}

static lsh_key *
load_private(const char *name)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d = read_file(0, name, &n);
    assert_int_equal(lsh_keyfile_import_private(d, n, NULL, &k, NULL, err,
                                                sizeof(err)),
                     0);
    free(d);
    return k;
}

static lsh_key *
load_public(int testdata, const char *name)
{
    char err[256];
    lsh_key *k = NULL;
    size_t n;
    uint8_t *d = read_file(testdata, name, &n);
    assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                               sizeof(err)),
                     0);
    free(d);
    return k;
}

struct test_rng {
    uint8_t next;
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
        out[i] = r->next++;
    }
    return 0;
}

static void
fp_of(const lsh_key *k, char *out)
{
    assert_int_equal(lsh_key_fingerprint(k, "sha256", out, LSH_KEY_FP_MAX),
                     0);
}

/* "a b c": the principals joined by spaces. */
static void
join_principals(const lsh_cert *c, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < lsh_cert_principal_count(c); i++) {
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s%s", i > 0 ? " " : "",
                 lsh_cert_principal(c, i));
    }
}

/* Option names, with "=value" for force-command and source-address. */
static void
join_options(const lsh_cert *c, int critical, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < lsh_cert_option_count(c, critical); i++) {
        const char *name, *v = NULL;
        const uint8_t *data;
        size_t dl, l = strlen(out);

        assert_int_equal(lsh_cert_option(c, critical, i, &name, &data, &dl),
                         0);
        if (strcmp(name, "force-command") == 0) {
            v = lsh_cert_force_command(c);
        } else if (strcmp(name, "source-address") == 0) {
            v = lsh_cert_source_address(c);
        }
        snprintf(out + l, outlen - l, "%s%s%s%s", i > 0 ? " " : "", name,
                 v != NULL ? "=" : "", v != NULL ? v : "");
    }
}

/* ---- known certificates ----------------------------------------------- */

struct cert_vec {
    int testdata;
    const char *file;
    const char *type_name;
    int type;
    const char *key_fp, *ca_fp, *sigalg, *key_id;
    uint64_t serial, after, before;
    const char *principals, *critical, *extensions;
};

#define DEFAULT_EXT                                                        \
    "permit-X11-forwarding permit-agent-forwarding "                       \
    "permit-port-forwarding permit-pty permit-user-rc"
#define FP_ED25519 "SHA256:Xd3I992UNl2/Kb5XsMEzkruP02MwxJWZ6P8izqREGSo"
#define FP_P256 "SHA256:dzZSzlwvYFC/F56Vtt0DvAZ3RrJB+O1m3MW/b/0tYu4"
#define FP_P384 "SHA256:ujeAABo61DK1Q2O0xiDglooOaiJrgzo8eYK1Vb0nB84"
#define FP_P521 "SHA256:kiSMtFppGQjk580MjRI6hLhevhZjR0SWrklSTrRlbxw"
#define FP_RSA "SHA256:fwQniunpBllcd4ss/bKiFtht+ugGkJePmKC8uQJBkZw"
#define FP_DSA "SHA256:KVrvMZ2Jf0e/so4mWGuxvECmw70yRohIhUmDX2gO8Rw"
#define CA_ED25519 "SHA256:puAzXj/w4eqF9Rb4RCel1N8V/2gr8M5avE6As+p5fU0"
#define CA_RSA "SHA256:H3tbCAm9Q/F2wpTRyl6Vmlgfv+QAMX+SM/t35uhKodw"
#define CA_ECDSA "SHA256:wj+ugNLFd9Y2OGo2OqkIGjp0bWnt3HRD1MqzQGVZl7g"
#define TD_AUTHOPT_KEY "SHA256:vZ08/Rjd9iRRa+d+tKgtUzf/x/VzvprBkmCa0GyayQo"
#define TD_AUTHOPT_CA "SHA256:xN+M1yQGzXKoHy6TSBC2NnyagRHa5lwAIj6fbvcytF0"
#define TD_ED25519_1 "SHA256:L3k/oJubblSY0lB9Ulsl7emDMnRPKm/8udf2ccwk560"
#define TD_RSA_1 "SHA256:l6itGumSMcRBBAFteCgmjQBIXqLK/jFGUH3viHX1RmE"
#define TD_RSA_2 "SHA256:NoQh0XBUuYUSWqnzOzOBnfpgJTRWLMj7BlWAb8IbjeE"
#define U LSH_CERT_USER
#define H LSH_CERT_HOST
#define EVER 0, UINT64_MAX
#define AUTHOPT(file, crit, ext)                                           \
    {1, "authopt/" file, "ssh-ed25519-cert-v01@openssh.com", U,            \
     TD_AUTHOPT_KEY, TD_AUTHOPT_CA, "ssh-ed25519", "user", 1, 915112800,   \
     946562400, "user", crit, ext}

static const struct cert_vec cert_vectors[] = {
    {0, "user_ed25519-cert.pub", "ssh-ed25519-cert-v01@openssh.com", U,
     FP_ED25519, CA_ED25519, "ssh-ed25519", "user-ed25519", 42, 1577836800,
     2208988800, "alice bob",
     "force-command=/bin/true source-address=10.0.0.0/8,192.168.1.1",
     "permit-X11-forwarding permit-agent-forwarding permit-port-forwarding "
     "permit-user-rc"},
    {0, "host_ecdsa256-cert.pub", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
     H, FP_P256, CA_RSA, "rsa-sha2-256", "host-ecdsa", 7, 1577836800,
     2208988800, "host.example.com 10.1.2.3", "", ""},
    {0, "user_rsa_sha1-cert.pub", "ssh-rsa-cert-v01@openssh.com", U, FP_RSA,
     CA_RSA, "ssh-rsa", "user-rsa-sha1", 0, EVER, "carol", "", DEFAULT_EXT},
    {0, "user_rsa-cert.pub", "ssh-rsa-cert-v01@openssh.com", U, FP_RSA,
     CA_ECDSA, "ecdsa-sha2-nistp384", "user-rsa", 0, 1609459200, 1640995200,
     "dave", "verify-required", "permit-pty"},
    {0, "anyprinc_ecdsa384-cert.pub",
     "ecdsa-sha2-nistp384-cert-v01@openssh.com", U, FP_P384, CA_RSA,
     "rsa-sha2-512", "any-principal", 0, EVER, "", "", DEFAULT_EXT},
    {0, "user_ecdsa521-cert.pub", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
     U, FP_P521, CA_ED25519, "ssh-ed25519", "key id with spaces", 0, EVER,
     "root", "unknown@luassh", "custom@luassh " DEFAULT_EXT},
    {0, "user_dsa-cert.pub", "ssh-dss-cert-v01@openssh.com", U, FP_DSA,
     CA_ED25519, "ssh-ed25519", "user-dsa", 0, EVER, "erin", "",
     DEFAULT_EXT},
    {1, "sshkey/ecdsa_1-cert.pub", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
     H, "SHA256:8ty77fOpABat1y88aNdclQTfU+lVvWe7jYZGw8VYtfg",
     "SHA256:8ty77fOpABat1y88aNdclQTfU+lVvWe7jYZGw8VYtfg",
     "ecdsa-sha2-nistp256", "julius", 7, 915145200, 1293836400,
     "host1 host2", "", ""},
    {1, "sshkey/ecdsa_sk1-cert.pub",
     "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", H,
     "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo",
     "SHA256:KC4XjSeYNROcw0KzN5WvDP9T0b3teDQcdsNfzUIUCPY",
     "ecdsa-sha2-nistp256", "julius", 7, 915112800, 1293804000,
     "host1 host2", "", ""},
    {1, "sshkey/ed25519_1-cert.pub", "ssh-ed25519-cert-v01@openssh.com", H,
     TD_ED25519_1, TD_ED25519_1, "ssh-ed25519", "julius", 8, 915145200,
     1293836400, "host1 host2", "", ""},
    {1, "sshkey/ed25519_sk1-cert.pub", "sk-ssh-ed25519-cert-v01@openssh.com",
     H, "SHA256:6WZVJ44bqhAWLVP4Ns0TDkoSQSsZo/h2K+mEvOaNFbw",
     "SHA256:4MUN7w185JXCLY99VqoFfEUxOSwodayJ8rPo4Rw0ocg", "ssh-ed25519",
     "julius", 8, 915112800, 1293804000, "host1 host2", "", ""},
    {1, "sshkey/rsa_1-cert.pub", "ssh-rsa-cert-v01@openssh.com", H, TD_RSA_1,
     TD_ED25519_1, "ssh-ed25519", "julius", 5, 915145200, 1293836400,
     "host1 host2", "", ""},
    {1, "sshkey/rsa_1_sha1-cert.pub", "ssh-rsa-cert-v01@openssh.com", U,
     TD_RSA_1, TD_RSA_2, "ssh-rsa", "hugo", 1, 915112800, 1293804000,
     "user1 user2", "force-command=/bin/ls source-address=10.0.0.0/8",
     "permit-X11-forwarding permit-agent-forwarding permit-pty "
     "permit-user-rc"},
    {1, "sshkey/rsa_1_sha512-cert.pub", "ssh-rsa-cert-v01@openssh.com", U,
     TD_RSA_1, TD_RSA_2, "rsa-sha2-512", "hugo", 1, 915112800, 1293804000,
     "user1 user2", "force-command=/bin/ls source-address=10.0.0.0/8",
     "permit-X11-forwarding permit-agent-forwarding permit-pty "
     "permit-user-rc"},
    AUTHOPT("all_permit.cert", "", DEFAULT_EXT),
    AUTHOPT("bad_sourceaddr.cert", "source-address=xxxxx", DEFAULT_EXT),
    AUTHOPT("force_command.cert", "force-command=foo", DEFAULT_EXT),
    {1, "authopt/host.cert", "ssh-ed25519-cert-v01@openssh.com", H,
     TD_AUTHOPT_KEY, TD_AUTHOPT_CA, "ssh-ed25519", "user", 1, 915112800,
     946562400, "user", "", ""},
    AUTHOPT("no_agentfwd.cert", "",
            "permit-X11-forwarding permit-port-forwarding permit-pty "
            "permit-user-rc"),
    AUTHOPT("no_permit.cert", "", ""),
    AUTHOPT("no_portfwd.cert", "",
            "permit-X11-forwarding permit-agent-forwarding permit-pty "
            "permit-user-rc"),
    AUTHOPT("no_pty.cert", "",
            "permit-X11-forwarding permit-agent-forwarding "
            "permit-port-forwarding permit-user-rc"),
    AUTHOPT("no_user_rc.cert", "",
            "permit-X11-forwarding permit-agent-forwarding "
            "permit-port-forwarding permit-pty"),
    AUTHOPT("no_x11fwd.cert", "",
            "permit-agent-forwarding permit-port-forwarding permit-pty "
            "permit-user-rc"),
    AUTHOPT("only_agentfwd.cert", "", "permit-agent-forwarding"),
    AUTHOPT("only_portfwd.cert", "", "permit-port-forwarding"),
    AUTHOPT("only_pty.cert", "", "permit-pty"),
    AUTHOPT("only_user_rc.cert", "", "permit-user-rc"),
    AUTHOPT("only_x11fwd.cert", "", "permit-X11-forwarding"),
    AUTHOPT("sourceaddr.cert", "source-address=127.0.0.1/32,::1/128",
            DEFAULT_EXT),
    AUTHOPT("unknown_critical.cert", "blah", DEFAULT_EXT),
};

static void
test_known_certificates_parse_as_ssh_keygen_shows_them(void **state)
{
    int td = have_testdata();
    (void)state;
    for (size_t i = 0; i < sizeof(cert_vectors) / sizeof(cert_vectors[0]);
         i++) {
        const struct cert_vec *v = &cert_vectors[i];
        char fp[LSH_KEY_FP_MAX], buf[512];
        lsh_cert *c;

        if (v->testdata && !td) {
            continue;
        }
        c = load_cert(v->testdata, v->file);
        assert_string_equal(lsh_cert_type_name(c), v->type_name);
        assert_int_equal(lsh_cert_type(c), v->type);
        fp_of(lsh_cert_key(c), fp);
        assert_string_equal(fp, v->key_fp);
        fp_of(lsh_cert_signature_key(c), fp);
        assert_string_equal(fp, v->ca_fp);
        assert_string_equal(lsh_cert_signature_alg(c), v->sigalg);
        assert_string_equal(lsh_cert_key_id(c), v->key_id);
        assert_int_equal(lsh_cert_serial(c), v->serial);
        assert_int_equal(lsh_cert_valid_after(c), v->after);
        assert_int_equal(lsh_cert_valid_before(c), v->before);
        join_principals(c, buf, sizeof(buf));
        assert_string_equal(buf, v->principals);
        join_options(c, 1, buf, sizeof(buf));
        assert_string_equal(buf, v->critical);
        join_options(c, 0, buf, sizeof(buf));
        assert_string_equal(buf, v->extensions);
        if (lsh_cert_verify_signature(c) != 0) {
            fail_msg("%s: CA signature does not verify", v->file);
        }
        lsh_cert_free(c);
    }
}

/* Test data: a certificate's fingerprint is its key's (the .fp files). */
static void
test_testdata_certificate_fingerprints(void **state)
{
    static const char *const names[] = {"ecdsa_1", "ecdsa_sk1", "ed25519_1",
                                        "ed25519_sk1", "rsa_1"};
    (void)state;
    if (!have_testdata()) {
        skip();
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char name[128], fp[LSH_KEY_FP_MAX];
        size_t n;
        uint8_t *want;
        lsh_cert *c;

        snprintf(name, sizeof(name), "sshkey/%s-cert.pub", names[i]);
        c = load_cert(1, name);
        snprintf(name, sizeof(name), "sshkey/%s-cert.fp", names[i]);
        want = read_file(1, name, &n);
        fp_of(lsh_cert_key(c), fp);
        assert_true(n >= strlen(fp));
        assert_memory_equal(want, fp, strlen(fp));
        free(want);
        lsh_cert_free(c);
    }
}

static void
test_validate_known_certificates(void **state)
{
    lsh_cert *c;
    char err[256];
    (void)state;

    c = load_cert(0, "user_ed25519-cert.pub");
    assert_int_equal(lsh_cert_validate(c, U, "alice", 1700000000, err,
                                       sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(lsh_cert_validate(c, U, "bob", 1577836800, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate(c, U, NULL, 2208988799, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate(c, U, "eve", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "principal 'eve' not in the certificate");
    assert_int_equal(lsh_cert_validate(c, U, "ALICE", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_int_equal(lsh_cert_validate(c, U, "alice", 1577836799, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "certificate not yet valid");
    assert_int_equal(lsh_cert_validate(c, U, "alice", 2208988800, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "certificate expired");
    assert_int_equal(lsh_cert_validate(c, H, "alice", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "user certificate where a host certificate was "
                             "expected");
    assert_int_equal(lsh_cert_validate(c, 3, "alice", 1700000000, err,
                                       sizeof(err)),
                     LSH_EINVAL);
    assert_string_equal(lsh_cert_force_command(c), "/bin/true");
    assert_string_equal(lsh_cert_source_address(c), "10.0.0.0/8,192.168.1.1");
    assert_true(lsh_cert_has_option(c, 0, "permit-user-rc"));
    assert_false(lsh_cert_has_option(c, 0, "permit-pty"));
    assert_true(lsh_cert_has_option(c, 1, "force-command"));
    lsh_cert_free(c);

    /* Host certificate: matches its host names. */
    c = load_cert(0, "host_ecdsa256-cert.pub");
    assert_int_equal(lsh_cert_validate(c, H, "10.1.2.3", 1700000000, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate(c, U, "10.1.2.3", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_null(lsh_cert_force_command(c));
    lsh_cert_free(c);

    /* Empty principals: any, unless the caller requires a list. */
    c = load_cert(0, "anyprinc_ecdsa384-cert.pub");
    assert_int_equal(lsh_cert_validate(c, U, "anyone", 1, err, sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate_ex(c, U, "anyone", 1,
                                          LSH_CERT_REQUIRE_PRINCIPALS, err,
                                          sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "certificate lists no principals");
    lsh_cert_free(c);

    /* Unknown critical option: refused. */
    c = load_cert(0, "user_ecdsa521-cert.pub");
    assert_int_equal(lsh_cert_validate(c, U, "root", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "unknown critical option 'unknown@luassh'");
    lsh_cert_free(c);

    /* verify-required is known (the caller enforces it). */
    c = load_cert(0, "user_rsa-cert.pub");
    assert_int_equal(lsh_cert_validate(c, U, "dave", 1620000000, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate(c, U, "dave", 1700000000, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    lsh_cert_free(c);

    if (have_testdata()) {
        c = load_cert(1, "authopt/unknown_critical.cert");
        assert_int_equal(lsh_cert_validate(c, U, "user", 930000000, err,
                                           sizeof(err)),
                         LSH_ECERTINVALID);
        assert_string_equal(err, "unknown critical option 'blah'");
        lsh_cert_free(c);
        c = load_cert(1, "authopt/force_command.cert");
        assert_int_equal(lsh_cert_validate(c, U, "user", 930000000, err,
                                           sizeof(err)),
                         0);
        lsh_cert_free(c);
        c = load_cert(1, "sshkey/rsa_1_sha512-cert.pub");
        assert_int_equal(lsh_cert_validate(c, U, "user2", 1000000000, err,
                                           sizeof(err)),
                         0);
        lsh_cert_free(c);
    }
}

static void
test_type_names(void **state)
{
    enum lsh_key_type t;
    (void)state;
    assert_string_equal(lsh_cert_type_name_of(LSH_KEY_ED448),
                        "ssh-ed448-cert-v01@openssh.com");
    assert_string_equal(lsh_cert_type_name_of(LSH_KEY_SK_ECDSA_P256),
                        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com");
    assert_null(lsh_cert_type_name_of((enum lsh_key_type)99));
    assert_true(lsh_cert_type_from_name("ssh-rsa-cert-v01@openssh.com", 28,
                                        &t));
    assert_int_equal(t, LSH_KEY_RSA);
    assert_true(lsh_cert_type_from_name("ssh-ed25519-cert", 16, &t));
    assert_int_equal(t, LSH_KEY_ED25519);
    /* Signature-algorithm names are not key types at rest. */
    assert_false(lsh_cert_type_from_name("rsa-sha2-256-cert-v01@openssh.com",
                                         33, &t));
    assert_false(lsh_cert_type_from_name("ssh-ed25519", 11, &t));
}

/* ---- creating certificates -------------------------------------------- */

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

static lsh_cert *
create(const lsh_key *ca, const char *sigalg, const lsh_key *subject,
       const lsh_cert_params *p)
{
    struct test_rng rng = {0};
    lsh_cert *c = NULL;
    lsh_buf b;
    int r;

    lsh_buf_init(&b, 0);
    r = lsh_cert_create(ca, sigalg, subject, p, test_rng, &rng, &b);
    if (r != 0) {
        fail_msg("create: %s", lsh_errname(r));
    }
    assert_int_equal(lsh_cert_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b), &c),
                     0);
    lsh_buf_free(&b);
    return c;
}

static void
test_create_every_ca_and_subject_type(void **state)
{
    static const char *const principals[] = {"alice", "bob"};
    lsh_cert_params p = {
        .type = LSH_CERT_USER,
        .key_id = "kid",
        .serial = 99,
        .principals = principals,
        .nprincipals = 2,
        .valid_after = 1000,
        .valid_before = 2000,
    };
    lsh_key *extra[2] = {NULL, NULL};
    size_t nextra = 0;
    (void)state;

    if (have_testdata()) {
        extra[nextra++] = load_public(1, "sshkey/ecdsa_sk1.pub");
        extra[nextra++] = load_public(1, "sshkey/ed25519_sk1.pub");
    }
    for (size_t ca = 0; ca < NGEN; ca++) {
        const char *const *algs = lsh_key_sigalgs(gen_keys[ca]);
        for (size_t a = 0; algs[a] != NULL; a++) {
            for (size_t s = 0; s < NGEN + nextra; s++) {
                const lsh_key *subj = s < NGEN ? gen_keys[s]
                                               : extra[s - NGEN];
                char err[256];
                lsh_cert *c = create(gen_keys[ca], algs[a], subj, &p);

                assert_string_equal(lsh_cert_type_name(c),
                                    lsh_cert_type_name_of(
                                        lsh_key_type(subj)));
                assert_true(lsh_key_equal_public(lsh_cert_key(c), subj));
                assert_true(lsh_key_equal_public(lsh_cert_signature_key(c),
                                                 gen_keys[ca]));
                assert_string_equal(lsh_cert_signature_alg(c), algs[a]);
                assert_int_equal(lsh_cert_validate(c, U, "bob", 1500, err,
                                                   sizeof(err)),
                                 0);
                lsh_cert_free(c);
            }
        }
    }
    for (size_t i = 0; i < nextra; i++) {
        lsh_key_free(extra[i]);
    }
}

static void
test_create_fields_and_defaults(void **state)
{
    static const char *const principals[] = {"*.example.com", "db1"};
    static const lsh_cert_opt crit[] = {
        {"source-address", "192.0.2.0/24"},
        {"force-command", "internal-sftp"},
    };
    lsh_cert_params p = {
        .type = LSH_CERT_USER,
        .key_id = "my key id",
        .serial = UINT64_MAX,
        .principals = principals,
        .nprincipals = 2,
        .valid_after = 0,
        .valid_before = LSH_CERT_FOREVER,
        .critical = crit,
        .ncritical = 2,
    };
    lsh_cert *c;
    char buf[512], err[256];
    const uint8_t *nonce;
    size_t n;
    (void)state;

    c = create(gen_keys[0], NULL, gen_keys[5], &p);
    assert_string_equal(lsh_cert_type_name(c),
                        "ssh-rsa-cert-v01@openssh.com");
    assert_string_equal(lsh_cert_key_id(c), "my key id");
    assert_int_equal(lsh_cert_serial(c), UINT64_MAX);
    assert_int_equal(lsh_cert_valid_before(c), UINT64_MAX);
    /* The nonce is 32 bytes from the rng. */
    nonce = lsh_cert_nonce(c, &n);
    assert_int_equal(n, 32);
    for (size_t i = 0; i < 32; i++) {
        assert_int_equal(nonce[i], i);
    }
    /* Options sorted by name; ssh-keygen's default user extensions. */
    join_options(c, 1, buf, sizeof(buf));
    assert_string_equal(buf, "force-command=internal-sftp "
                             "source-address=192.0.2.0/24");
    join_options(c, 0, buf, sizeof(buf));
    assert_string_equal(buf, DEFAULT_EXT);
    /* Principal patterns only when asked for. */
    assert_int_equal(lsh_cert_validate(c, U, "a.example.com", 5, err,
                                       sizeof(err)),
                     LSH_ECERTINVALID);
    assert_int_equal(lsh_cert_validate_ex(c, U, "a.example.com", 5,
                                          LSH_CERT_PRINCIPAL_PATTERNS, err,
                                          sizeof(err)),
                     0);
    assert_int_equal(lsh_cert_validate_ex(c, U, "example.com", 5,
                                          LSH_CERT_PRINCIPAL_PATTERNS, err,
                                          sizeof(err)),
                     LSH_ECERTINVALID);
    assert_int_equal(lsh_cert_validate(c, U, "db1", UINT64_MAX - 1, err,
                                       sizeof(err)),
                     0);
    lsh_cert_free(c);

    /* Host certificates get no extensions by default. */
    p.type = LSH_CERT_HOST;
    p.ncritical = 0;
    c = create(gen_keys[2], "ecdsa-sha2-nistp256", gen_keys[1], &p);
    assert_int_equal(lsh_cert_option_count(c, 0), 0);
    assert_int_equal(lsh_cert_type(c), LSH_CERT_HOST);
    lsh_cert_free(c);

    /* An empty, non-NULL extension list means none. */
    p.type = LSH_CERT_USER;
    p.extensions = crit;
    p.nextensions = 0;
    c = create(gen_keys[2], NULL, gen_keys[1], &p);
    assert_int_equal(lsh_cert_option_count(c, 0), 0);
    lsh_cert_free(c);
}

/* The section of a blob holding the critical options or extensions. */
static void
section_of(const lsh_cert *c, int critical, const uint8_t **p, size_t *n)
{
    size_t bl;
    const uint8_t *blob = lsh_cert_blob(c, &bl), *s;
    uint64_t u64;
    uint32_t u32;
    size_t sl;
    lsh_key *k = NULL;
    lsh_rd rd;

    lsh_rd_init(&rd, blob, bl);
    assert_int_equal(lsh_rd_string(&rd, &s, &sl), 0); /* type */
    assert_int_equal(lsh_rd_string(&rd, &s, &sl), 0); /* nonce */
    assert_int_equal(lsh__key_parse_fields(lsh_key_type(lsh_cert_key(c)), &rd,
                                           &k),
                     0);
    lsh_key_free(k);
    assert_int_equal(lsh_rd_u64(&rd, &u64), 0);
    assert_int_equal(lsh_rd_u32(&rd, &u32), 0);
    assert_int_equal(lsh_rd_string(&rd, &s, &sl), 0); /* key id */
    assert_int_equal(lsh_rd_string(&rd, &s, &sl), 0); /* principals */
    assert_int_equal(lsh_rd_u64(&rd, &u64), 0);
    assert_int_equal(lsh_rd_u64(&rd, &u64), 0);
    assert_int_equal(lsh_rd_string(&rd, p, n), 0); /* critical */
    if (!critical) {
        assert_int_equal(lsh_rd_string(&rd, p, n), 0);
    }
}

/* draft-ietf-sshm-cert-01 §2.2's example sections, byte for byte. */
static void
test_create_wraps_values_as_the_draft_shows(void **state)
{
    static const lsh_cert_opt crit[] = {{"force-command", "sftp"}};
    static const lsh_cert_opt crit2[] = {{"force-command", "sftp"},
                                         {"foo@example.com", NULL}};
    static const lsh_cert_opt ext[] = {{"permit-user-rc", NULL}};
    lsh_cert_params p = {
        .type = LSH_CERT_USER,
        .valid_before = LSH_CERT_FOREVER,
        .critical = crit,
        .ncritical = 1,
        .extensions = ext,
        .nextensions = 1,
    };
    const uint8_t *s;
    size_t n;
    lsh_cert *c;
    (void)state;

    c = create(gen_keys[0], NULL, gen_keys[0], &p);
    section_of(c, 1, &s, &n);
    tu_assert_hex(s, n, "0000000d 666f7263652d636f6d6d616e64"
                        "00000008 00000004 73667470");
    section_of(c, 0, &s, &n);
    tu_assert_hex(s, n, "0000000e 7065726d69742d757365722d7263 00000000");
    lsh_cert_free(c);
    /*
     * Two options, flag and string, in lexical order.  (The draft prints
     * "len=56" for this section, but the bytes it lists add up to 52.)
     */
    p.critical = crit2;
    p.ncritical = 2;
    c = create(gen_keys[0], NULL, gen_keys[0], &p);
    section_of(c, 1, &s, &n);
    tu_assert_hex(s, n, "0000000f 666f6f406578616d706c652e636f6d 00000000"
                        "0000000d 666f7263652d636f6d6d616e64"
                        "00000008 00000004 73667470");
    lsh_cert_free(c);
}

static void
test_create_errors(void **state)
{
    static const lsh_cert_opt dup[] = {{"permit-pty", NULL},
                                       {"permit-pty", NULL}};
    static const lsh_cert_opt empty[] = {{"", NULL}};
    static const char *const many[LSH_CERT_MAX_PRINCIPALS + 1] = {"x"};
    lsh_cert_params p = {.type = LSH_CERT_USER,
                         .valid_before = LSH_CERT_FOREVER};
    struct test_rng rng = {0}, bad = {.fail = 1};
    lsh_key *pub = lsh_key_public_copy(gen_keys[0]);
    lsh_key *dsa_ca = load_private("dsa_key");
    lsh_key *dsa_pub = load_public(0, "dsa_key.pub");
    lsh_buf out;
    (void)state;

    lsh_buf_init(&out, 0);
#define CREATE(ca, alg, subj) \
    lsh_cert_create((ca), (alg), (subj), &p, test_rng, &rng, &out)
    assert_int_equal(CREATE(pub, NULL, gen_keys[1]), LSH_EINVAL);
    assert_int_equal(CREATE(dsa_ca, NULL, gen_keys[1]), LSH_EUNSUPPORTED);
    assert_int_equal(CREATE(gen_keys[0], NULL, dsa_pub), LSH_EUNSUPPORTED);
    assert_int_equal(CREATE(gen_keys[5], "ssh-ed25519", gen_keys[1]),
                     LSH_ENOALG);
    assert_int_equal(CREATE(NULL, NULL, gen_keys[1]), LSH_EINVAL);
    assert_int_equal(lsh_cert_create(gen_keys[0], NULL, gen_keys[1], &p,
                                     test_rng, &bad, &out),
                     LSH_ECRYPTO);
    assert_int_equal(lsh_cert_create(gen_keys[0], NULL, gen_keys[1], &p,
                                     NULL, NULL, &out),
                     LSH_EINVAL);
    p.type = 3;
    assert_int_equal(CREATE(gen_keys[0], NULL, gen_keys[1]), LSH_EINVAL);
    p.type = LSH_CERT_USER;
    p.extensions = dup;
    p.nextensions = 2;
    assert_int_equal(CREATE(gen_keys[0], NULL, gen_keys[1]), LSH_EINVAL);
    p.extensions = empty;
    p.nextensions = 1;
    assert_int_equal(CREATE(gen_keys[0], NULL, gen_keys[1]), LSH_EINVAL);
    p.extensions = NULL;
    p.nextensions = 0;
    p.critical = dup;
    p.ncritical = 2;
    assert_int_equal(CREATE(gen_keys[0], NULL, gen_keys[1]), LSH_EINVAL);
    p.critical = NULL;
    p.ncritical = 0;
    p.principals = many;
    p.nprincipals = LSH_CERT_MAX_PRINCIPALS + 1;
    assert_int_equal(CREATE(gen_keys[0], NULL, gen_keys[1]), LSH_EINVAL);
    assert_int_equal(lsh_buf_len(&out), 0);
#undef CREATE
    lsh_buf_free(&out);
    lsh_key_free(pub);
    lsh_key_free(dsa_ca);
    lsh_key_free(dsa_pub);
}

/* ---- one-line files --------------------------------------------------- */

static int
count_cb(void *ctx, lsh_cert *c, const char *comment)
{
    size_t *n = ctx;
    if (*n == 0) {
        assert_string_equal(comment, "first comment");
    }
    (*n)++;
    lsh_cert_free(c);
    return 0;
}

static void
test_export_and_import_lines(void **state)
{
    lsh_cert_params p = {.type = LSH_CERT_USER,
                         .valid_before = LSH_CERT_FOREVER};
    lsh_cert *c = create(gen_keys[0], NULL, gen_keys[2], &p), *c2 = NULL;
    char err[256], *comment = NULL;
    size_t count = 0, n1, n2;
    const uint8_t *b1, *b2;
    lsh_buf file;
    (void)state;

    lsh_buf_init(&file, 0);
    assert_int_equal(lsh_buf_put(&file, "# certificates\n\n", 16), 0);
    assert_int_equal(lsh_cert_export_openssh(c, "first comment", &file), 0);
    assert_int_equal(lsh_cert_import(lsh_buf_ptr(&file), lsh_buf_len(&file),
                                     &c2, &comment, err, sizeof(err)),
                     0);
    assert_string_equal(comment, "first comment");
    b1 = lsh_cert_blob(c, &n1);
    b2 = lsh_cert_blob(c2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    lsh_cert_free(c2);
    c2 = NULL;
    free(comment);
    assert_int_equal(lsh_cert_export_openssh(c, NULL, &file), 0);
    assert_int_equal(lsh_cert_import_list(lsh_buf_ptr(&file),
                                          lsh_buf_len(&file), count_cb,
                                          &count, err, sizeof(err)),
                     2);
    assert_int_equal(count, 2);
    assert_int_equal(lsh_cert_import(lsh_buf_ptr(&file), lsh_buf_len(&file),
                                     &c2, NULL, err, sizeof(err)),
                     LSH_EBADKEY);
    assert_string_equal(err, "more than one certificate in the file");
    /* A plain key line is not a certificate. */
    assert_int_equal(lsh_buf_put(&file, "\n", 1), 0);
    assert_int_equal(lsh_keyfile_export_public(gen_keys[0], "k", "openssh",
                                               &file),
                     0);
    count = 0;
    assert_int_equal(lsh_cert_import_list(lsh_buf_ptr(&file),
                                          lsh_buf_len(&file), count_cb,
                                          &count, err, sizeof(err)),
                     LSH_EKEYTYPE);
    assert_string_equal(err, "line 6: 'ssh-ed25519' is not a certificate "
                             "type");
    assert_int_equal(lsh_cert_import((const uint8_t *)"\n", 1, &c2, NULL, err,
                                     sizeof(err)),
                     LSH_EBADKEY);
    assert_null(c2);
    lsh_buf_free(&file);
    lsh_cert_free(c);
}

/* ---- hand-made blobs -------------------------------------------------- */

struct craft {
    const char *type_name;
    const lsh_key *subject;
    uint32_t type;
    const char *key_id;
    size_t key_id_len;
    lsh_buf principals, crit, ext, ca_blob, trailing;
    const lsh_key *signer;
    const char *sigalg;    /* name written in the signature blob */
    int corrupt_sig;
};

static void
craft_init(struct craft *cr, const lsh_key *subject, const lsh_key *ca)
{
    memset(cr, 0, sizeof(*cr));
    cr->type_name = lsh_cert_type_name_of(lsh_key_type(subject));
    cr->subject = subject;
    cr->type = LSH_CERT_USER;
    cr->key_id = "id";
    cr->key_id_len = 2;
    cr->signer = ca;
    lsh_buf_init(&cr->principals, 0);
    lsh_buf_init(&cr->crit, 0);
    lsh_buf_init(&cr->ext, 0);
    lsh_buf_init(&cr->ca_blob, 0);
    lsh_buf_init(&cr->trailing, 0);
    assert_int_equal(lsh_buf_put_cstring(&cr->principals, "alice"), 0);
    assert_int_equal(lsh_key_to_blob(ca, &cr->ca_blob), 0);
}

static void
craft_free(struct craft *cr)
{
    lsh_buf_free(&cr->principals);
    lsh_buf_free(&cr->crit);
    lsh_buf_free(&cr->ext);
    lsh_buf_free(&cr->ca_blob);
    lsh_buf_free(&cr->trailing);
}

static void
put_opt(lsh_buf *sec, const char *name, const char *value)
{
    lsh_buf v;
    lsh_buf_init(&v, 0);
    if (value != NULL) {
        assert_int_equal(lsh_buf_put_cstring(&v, value), 0);
    }
    assert_int_equal(lsh_buf_put_cstring(sec, name), 0);
    assert_int_equal(put_bufstr(sec, &v), 0);
    lsh_buf_free(&v);
}

static void
craft_build(const struct craft *cr, lsh_buf *out)
{
    static const uint8_t nonce[32] = {1};
    lsh_buf sig;

    lsh_buf_init(out, 0);
    lsh_buf_init(&sig, 0);
    assert_int_equal(lsh_buf_put_cstring(out, cr->type_name), 0);
    assert_int_equal(lsh_buf_put_string(out, nonce, sizeof(nonce)), 0);
    assert_int_equal(lsh__key_put_fields(cr->subject, out), 0);
    assert_int_equal(lsh_buf_put_u64(out, 5), 0);
    assert_int_equal(lsh_buf_put_u32(out, cr->type), 0);
    assert_int_equal(lsh_buf_put_string(out, cr->key_id, cr->key_id_len), 0);
    assert_int_equal(put_bufstr(out, &cr->principals), 0);
    assert_int_equal(lsh_buf_put_u64(out, 100), 0);
    assert_int_equal(lsh_buf_put_u64(out, 200), 0);
    assert_int_equal(put_bufstr(out, &cr->crit), 0);
    assert_int_equal(put_bufstr(out, &cr->ext), 0);
    assert_int_equal(lsh_buf_put_string(out, "", 0), 0);
    assert_int_equal(put_bufstr(out, &cr->ca_blob), 0);
    if (cr->sigalg != NULL) {
        /* A signature blob naming another algorithm. */
        assert_int_equal(lsh_buf_put_cstring(&sig, cr->sigalg), 0);
        assert_int_equal(lsh_buf_put_string(&sig, nonce, sizeof(nonce)), 0);
    } else {
        assert_int_equal(lsh_key_sign(cr->signer, NULL, lsh_buf_ptr(out),
                                      lsh_buf_len(out), &sig),
                         0);
    }
    if (cr->corrupt_sig) {
        lsh_buf_ptr(&sig)[lsh_buf_len(&sig) - 1] ^= 1;
    }
    assert_int_equal(put_bufstr(out, &sig), 0);
    assert_int_equal(put_bufraw(out, &cr->trailing), 0);
    lsh_buf_free(&sig);
}

/* Parses cr: the result code, and the certificate when it parsed. */
static int
craft_parse(const struct craft *cr, lsh_cert **out)
{
    lsh_buf b;
    lsh_cert *c = NULL;
    int r;

    craft_build(cr, &b);
    r = lsh_cert_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b), &c);
    assert_int_equal(ERR_peek_error(), 0);
    lsh_buf_free(&b);
    if (out != NULL) {
        *out = c;
    } else {
        lsh_cert_free(c);
    }
    return r;
}

/* Parses and validates for alice at time 150. */
static int
craft_validate(const struct craft *cr, char *err)
{
    lsh_cert *c = NULL;
    int r = craft_parse(cr, &c);
    if (r != 0) {
        fail_msg("craft did not parse: %s", lsh_errname(r));
    }
    r = lsh_cert_validate(c, U, "alice", 150, err, 256);
    lsh_cert_free(c);
    return r;
}

static void
test_handmade_baseline_and_structure(void **state)
{
    struct craft cr;
    char err[256];
    lsh_buf other;
    (void)state;

    craft_init(&cr, gen_keys[2], gen_keys[0]);
    assert_int_equal(craft_validate(&cr, err), 0);

    /* The key fields must be those of the named certificate type. */
    cr.type_name = "ecdsa-sha2-nistp384-cert-v01@openssh.com";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    cr.type_name = "ssh-ed25519-cert-v01@openssh.com";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    /* (read as RSA, the point makes a 520-bit modulus) */
    cr.type_name = "ssh-rsa-cert-v01@openssh.com";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EKEYSIZE);
    cr.type_name = "rsa-sha2-256-cert-v01@openssh.com";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EKEYTYPE);
    cr.type_name = "ssh-foo-cert-v01@openssh.com";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EKEYTYPE);
    cr.type_name = "ecdsa-sha2-nistp256-cert"; /* the draft's name */
    assert_int_equal(craft_parse(&cr, NULL), 0);
    cr.type_name = "ecdsa-sha2-nistp256-cert-v01@openssh.com";

    /* Type 1 or 2 only. */
    cr.type = 0;
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    cr.type = 3;
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    cr.type = LSH_CERT_USER;

    /* No NUL in key id or principals; at most 256 principals. */
    cr.key_id = "a\0b";
    cr.key_id_len = 3;
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    cr.key_id = "id";
    cr.key_id_len = 2;
    assert_int_equal(lsh_buf_put_string(&cr.principals, "b\0c", 3), 0);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.principals);
    for (int i = 0; i <= LSH_CERT_MAX_PRINCIPALS; i++) {
        assert_int_equal(lsh_buf_put_cstring(&cr.principals, "p"), 0);
    }
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.principals);
    assert_int_equal(lsh_buf_put_u32(&cr.principals, 10), 0); /* short */
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.principals);
    assert_int_equal(lsh_buf_put_cstring(&cr.principals, "alice"), 0);

    /* Nothing after the signature. */
    assert_int_equal(lsh_buf_put_u8(&cr.trailing, 0), 0);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.trailing);

    /* No chained certificates: the CA key may not be a certificate. */
    {
        lsh_cert_params p = {.type = LSH_CERT_USER,
                             .valid_before = LSH_CERT_FOREVER};
        lsh_cert *cac = create(gen_keys[0], NULL, gen_keys[0], &p);
        size_t n;
        const uint8_t *b = lsh_cert_blob(cac, &n);
        lsh_buf_init(&other, 0);
        assert_int_equal(lsh_buf_put(&other, b, n), 0);
        lsh_buf_reset(&cr.ca_blob);
        assert_int_equal(lsh_buf_put(&cr.ca_blob, lsh_buf_ptr(&other),
                                     lsh_buf_len(&other)),
                         0);
        assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
        lsh_buf_free(&other);
        lsh_cert_free(cac);
    }
    /* An unknown CA key type. */
    lsh_buf_reset(&cr.ca_blob);
    assert_int_equal(lsh_buf_put_cstring(&cr.ca_blob, "ssh-foo"), 0);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EKEYTYPE);
    lsh_buf_reset(&cr.ca_blob);
    assert_int_equal(lsh_key_to_blob(gen_keys[0], &cr.ca_blob), 0);

    /* The signature algorithm must be one the CA key makes. */
    cr.sigalg = "rsa-sha2-256";
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    cr.sigalg = NULL;
    craft_free(&cr);
}

static void
test_handmade_signature_checks(void **state)
{
    struct craft cr;
    lsh_cert *c = NULL;
    char err[256];
    (void)state;

    /* A bad CA signature parses but never validates. */
    craft_init(&cr, gen_keys[0], gen_keys[5]);
    cr.corrupt_sig = 1;
    assert_int_equal(craft_parse(&cr, &c), 0);
    assert_int_equal(lsh_cert_verify_signature(c), LSH_EBADSIG);
    assert_int_equal(lsh_cert_validate(c, U, "alice", 150, err, sizeof(err)),
                     LSH_EBADSIG);
    assert_string_equal(err, "bad CA signature");
    lsh_cert_free(c);
    /* Signed by another key than the one named as CA. */
    cr.corrupt_sig = 0;
    cr.signer = gen_keys[0];
    lsh_buf_reset(&cr.ca_blob);
    assert_int_equal(lsh_key_to_blob(gen_keys[1], &cr.ca_blob), 0);
    assert_int_equal(craft_parse(&cr, &c), LSH_EBADKEY); /* ed25519 sig */
    craft_free(&cr);

    craft_init(&cr, gen_keys[0], gen_keys[3]);
    cr.signer = gen_keys[2]; /* P-256 signs, the CA named is P-384 */
    assert_int_equal(craft_parse(&cr, &c), LSH_EBADKEY);
    craft_free(&cr);

    /* Every truncation of a good blob fails, without reading past it. */
    craft_init(&cr, gen_keys[4], gen_keys[0]);
    {
        lsh_buf b;
        craft_build(&cr, &b);
        for (size_t i = 0; i < lsh_buf_len(&b); i++) {
            uint8_t *cut = malloc(i > 0 ? i : 1);
            memcpy(cut, lsh_buf_ptr(&b), i);
            assert_int_not_equal(lsh_cert_from_blob(cut, i, &c), 0);
            free(cut);
        }
        lsh_buf_free(&b);
    }
    craft_free(&cr);
}

static void
test_handmade_options(void **state)
{
    struct craft cr;
    lsh_cert *c = NULL;
    char err[256];
    (void)state;

    craft_init(&cr, gen_keys[0], gen_keys[0]);
    /* Unsorted sections are accepted, as OpenSSH does. */
    put_opt(&cr.ext, "permit-pty", NULL);
    put_opt(&cr.ext, "permit-X11-forwarding", NULL);
    put_opt(&cr.crit, "source-address", "10.0.0.0/8");
    put_opt(&cr.crit, "force-command", "ls");
    assert_int_equal(craft_validate(&cr, err), 0);
    /* Duplicate names are not. */
    put_opt(&cr.ext, "permit-pty", NULL);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.ext);
    put_opt(&cr.crit, "force-command", "ls");
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.crit);
    /* Empty names and cut sections are malformed. */
    put_opt(&cr.ext, "", NULL);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.ext);
    assert_int_equal(lsh_buf_put_cstring(&cr.ext, "permit-pty"), 0);
    assert_int_equal(craft_parse(&cr, NULL), LSH_EBADKEY);
    lsh_buf_reset(&cr.ext);

    /* A force-command not wrapped as a string: parses, never validates. */
    assert_int_equal(lsh_buf_put_cstring(&cr.crit, "force-command"), 0);
    assert_int_equal(lsh_buf_put_cstring(&cr.crit, "/bin/ls"), 0);
    assert_int_equal(craft_parse(&cr, &c), 0);
    assert_null(lsh_cert_force_command(c));
    assert_int_equal(lsh_cert_validate(c, U, "alice", 150, err, sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "malformed critical option value");
    lsh_cert_free(c);
    lsh_buf_reset(&cr.crit);
    /* verify-required is a flag: empty data. */
    put_opt(&cr.crit, "verify-required", "x");
    assert_int_equal(craft_validate(&cr, err), LSH_ECERTINVALID);
    lsh_buf_reset(&cr.crit);
    put_opt(&cr.crit, "verify-required", NULL);
    assert_int_equal(craft_validate(&cr, err), 0);
    /* Host certificates know no critical options. */
    cr.type = LSH_CERT_HOST;
    assert_int_equal(craft_parse(&cr, &c), 0);
    assert_int_equal(lsh_cert_validate(c, H, "alice", 150, err, sizeof(err)),
                     LSH_ECERTINVALID);
    assert_string_equal(err, "unknown critical option 'verify-required'");
    lsh_cert_free(c);
    craft_free(&cr);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_known_certificates_parse_as_ssh_keygen_shows_them),
        cmocka_unit_test(test_testdata_certificate_fingerprints),
        cmocka_unit_test(test_validate_known_certificates),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_create_every_ca_and_subject_type),
        cmocka_unit_test(test_create_fields_and_defaults),
        cmocka_unit_test(test_create_wraps_values_as_the_draft_shows),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_export_and_import_lines),
        cmocka_unit_test(test_handmade_baseline_and_structure),
        cmocka_unit_test(test_handmade_signature_checks),
        cmocka_unit_test(test_handmade_options),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
