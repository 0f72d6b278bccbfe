/*
 * OpenSSH certificates on the server side (PROTOCOL.certkeys):
 *
 *  - user certificates in publickey authentication (RFC 4252 §7 with a
 *    *-cert-v01@openssh.com algorithm): our client core against our
 *    server core, for every key type, the security-key types included
 *    (their signatures made by hand as a token would, PROTOCOL.u2f);
 *    what the layer refuses by itself and what it leaves to the caller;
 *  - host certificates in the key exchange (lsh_config.host_certs):
 *    K_S is the certificate, the exchange hash is signed by the
 *    certified key, for every host key type, across a re-exchange;
 *  - OpenSSH's ssh against a server core on a loopback socket, with a
 *    CA, user and host certificates made by ssh-keygen: it must verify
 *    our host certificate against its @cert-authority line and log in
 *    with its user certificate (skipped when ssh is not installed).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/rng.h"
#include "pair.h"
#include "ssh/auth/auth.h"
#include "ssh/auth/auth_internal.h"
#include "ssh/conn_internal.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/keyfile.h"

/* Certificates here are valid from NOW - 1 day to NOW + 1 day. */
#define NOW ((uint64_t)1700000000)
#define DAY ((uint64_t)86400)

static lsh_key *k_host, *k_ca, *k_ca_rsa, *k_other_ca, *k_ed25519, *k_p256,
    *k_p384, *k_p521, *k_rsa, *k_other, *k_sk_ed_priv, *k_sk_ec_priv;

static int
setup_keys(void **state)
{
    (void)state;
    if (lsh_key_generate(LSH_KEY_ED25519, 0, &k_host) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_ca) != 0 ||
        lsh_key_generate(LSH_KEY_RSA, 2048, &k_ca_rsa) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_other_ca) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_ed25519) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &k_p256) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P384, 0, &k_p384) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P521, 0, &k_p521) != 0 ||
        lsh_key_generate(LSH_KEY_RSA, 2048, &k_rsa) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_other) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_sk_ed_priv) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &k_sk_ec_priv) != 0) {
        return -1;
    }
    return 0;
}

static int
teardown_keys(void **state)
{
    (void)state;
    lsh_key_free(k_host);
    lsh_key_free(k_ca);
    lsh_key_free(k_ca_rsa);
    lsh_key_free(k_other_ca);
    lsh_key_free(k_ed25519);
    lsh_key_free(k_p256);
    lsh_key_free(k_p384);
    lsh_key_free(k_p521);
    lsh_key_free(k_rsa);
    lsh_key_free(k_other);
    lsh_key_free(k_sk_ed_priv);
    lsh_key_free(k_sk_ec_priv);
    return 0;
}

static pair_rng cert_rng = {0x5eed5eed5eedULL};

typedef struct cert_spec {
    int type;                  /* LSH_CERT_USER / LSH_CERT_HOST */
    const char *principal;     /* NULL: none (valid for any) */
    uint64_t after, before;    /* 0, 0: NOW - DAY .. NOW + DAY */
    const char *ca_sigalg;     /* NULL: the CA key's default */
} cert_spec;

/* A certificate of subject's public key, signed by ca. */
static lsh_cert *
make_cert(const lsh_key *ca, const lsh_key *subject, const cert_spec *cs)
{
    const char *princ[1] = {cs->principal};
    lsh_cert_params prm;
    lsh_cert *cert = NULL;
    lsh_buf b;
    memset(&prm, 0, sizeof(prm));
    prm.type = cs->type;
    prm.key_id = "test";
    prm.serial = 7;
    prm.principals = cs->principal ? princ : NULL;
    prm.nprincipals = cs->principal ? 1 : 0;
    prm.valid_after = cs->after || cs->before ? cs->after : NOW - DAY;
    prm.valid_before = cs->after || cs->before ? cs->before : NOW + DAY;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_cert_create(ca, cs->ca_sigalg, subject, &prm,
                                     pair_rng_fill, &cert_rng, &b),
                     0);
    assert_int_equal(lsh_cert_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b),
                                        &cert),
                     0);
    lsh_buf_free(&b);
    return cert;
}

static lsh_cert *
user_cert(const lsh_key *ca, const lsh_key *subject, const char *principal)
{
    cert_spec cs = {LSH_CERT_USER, principal, 0, 0, NULL};
    return make_cert(ca, subject, &cs);
}

/* ------------------------------------------------------------------ */
/* Security keys: public blobs and signatures as a token makes them    */
/* (OpenSSH PROTOCOL.u2f), from an ordinary key's private half.        */

/* Reads the string fields of a blob: skips `skip` strings, returns the
 * next one. */
static const uint8_t *
nth_string(const uint8_t *p, size_t n, int skip, size_t *len)
{
    lsh_rd rd;
    const uint8_t *s = NULL;
    lsh_rd_init(&rd, p, n);
    for (int i = 0; i <= skip; i++) {
        assert_int_equal(lsh_rd_string(&rd, &s, len), 0);
    }
    return s;
}

/* The sk- public key of k's public half, application "ssh:". */
static lsh_key *
sk_public(const lsh_key *k)
{
    lsh_buf kb, sb;
    lsh_key *out = NULL;
    size_t n;
    const uint8_t *f;
    lsh_buf_init(&kb, 0);
    lsh_buf_init(&sb, 0);
    assert_int_equal(lsh_key_to_blob(k, &kb), 0);
    if (lsh_key_type(k) == LSH_KEY_ED25519) {
        /* string "ssh-ed25519", string pk */
        f = nth_string(lsh_buf_ptr(&kb), lsh_buf_len(&kb), 1, &n);
        assert_int_equal(lsh_buf_put_cstring(&sb,
                                             "sk-ssh-ed25519@openssh.com"),
                         0);
        assert_int_equal(lsh_buf_put_string(&sb, f, n), 0);
    } else {
        /* string "ecdsa-sha2-nistp256", string "nistp256", string Q */
        f = nth_string(lsh_buf_ptr(&kb), lsh_buf_len(&kb), 2, &n);
        assert_int_equal(
            lsh_buf_put_cstring(&sb, "sk-ecdsa-sha2-nistp256@openssh.com"),
            0);
        assert_int_equal(lsh_buf_put_cstring(&sb, "nistp256"), 0);
        assert_int_equal(lsh_buf_put_string(&sb, f, n), 0);
    }
    assert_int_equal(lsh_buf_put_cstring(&sb, "ssh:"), 0);
    assert_int_equal(lsh_key_from_blob(lsh_buf_ptr(&sb), lsh_buf_len(&sb),
                                       &out),
                     0);
    lsh_buf_free(&kb);
    lsh_buf_free(&sb);
    return out;
}

/* A security-key signature over data by k's private half: the token
 * signs SHA256(application) || flags || counter || SHA256(data). */
static void
sk_sign(const lsh_key *k, uint8_t flags, uint32_t counter,
        const uint8_t *data, size_t n, lsh_buf *sig)
{
    uint8_t msg[32 + 1 + 4 + 32];
    lsh_buf inner;
    const uint8_t *s;
    size_t sl;
    int ed = lsh_key_type(k) == LSH_KEY_ED25519;
    SHA256((const uint8_t *)"ssh:", 4, msg);
    msg[32] = flags;
    msg[33] = (uint8_t)(counter >> 24);
    msg[34] = (uint8_t)(counter >> 16);
    msg[35] = (uint8_t)(counter >> 8);
    msg[36] = (uint8_t)counter;
    SHA256(data, n, msg + 37);
    lsh_buf_init(&inner, 0);
    assert_int_equal(lsh_key_sign(k, NULL, msg, sizeof(msg), &inner), 0);
    s = nth_string(lsh_buf_ptr(&inner), lsh_buf_len(&inner), 1, &sl);
    assert_int_equal(lsh_buf_put_cstring(sig, ed ? "sk-ssh-ed25519@openssh.com"
                                                 : "sk-ecdsa-sha2-nistp256@"
                                                   "openssh.com"),
                     0);
    assert_int_equal(lsh_buf_put_string(sig, s, sl), 0);
    assert_int_equal(lsh_buf_put_u8(sig, flags), 0);
    assert_int_equal(lsh_buf_put_u32(sig, counter), 0);
    lsh_buf_free(&inner);
}

/* ------------------------------------------------------------------ */
/* User certificates: the test's server policy and client              */

typedef struct cctx {
    pair p;
    /* Server policy: accept user "alice" with a certificate of
     * trusted_ca valid at NOW for her (or anything, accept_all). */
    const lsh_key *trusted_ca;
    int accept_all;
    char srv_log[512];        /* "method/phase " per request */
    char seen_alg[80];
    int seen_cert, key_is_certified;
    char validate_err[128];
    uint8_t seen_sk_flags;
    uint32_t seen_sk_counter;
    /* Client: the signer for LSH_EV_AUTH_SIGN, or a token (sk_priv). */
    const lsh_key *signer;
    const lsh_key *sk_priv;
    uint8_t sk_flags;
    int signs, sig_rc;
    char sign_alg[80];
    int results, last_code;
} cctx;

static void
server_policy(cctx *t, lsh_conn *s)
{
    lsh_auth_request rq;
    size_t n;
    int ok;
    assert_int_equal(lsh_auth_server_request(s, &rq), 0);
    n = strlen(t->srv_log);
    snprintf(t->srv_log + n, sizeof(t->srv_log) - n, "%s/%d ", rq.method,
             rq.phase);
    if (strcmp(rq.method, "publickey") != 0) {
        assert_int_equal(lsh_auth_server_reject(s, NULL, 0), 0);
        return;
    }
    snprintf(t->seen_alg, sizeof(t->seen_alg), "%s", rq.key_alg);
    t->seen_cert = rq.cert != NULL;
    t->key_is_certified = rq.cert != NULL &&
                          rq.key == lsh_cert_key(rq.cert);
    t->seen_sk_flags = rq.sk_flags;
    t->seen_sk_counter = rq.sk_counter;
    ok = t->accept_all;
    if (!ok && rq.cert != NULL && t->trusted_ca != NULL &&
        lsh_key_equal_public(lsh_cert_signature_key(rq.cert),
                             t->trusted_ca)) {
        ok = lsh_cert_validate_ex(rq.cert, LSH_CERT_USER, rq.user, NOW,
                                  LSH_CERT_REQUIRE_PRINCIPALS,
                                  t->validate_err,
                                  sizeof(t->validate_err)) == 0;
    }
    if (!ok) {
        assert_int_equal(lsh_auth_server_reject(s, NULL, 0), 0);
    } else if (rq.phase == 0) {
        assert_int_equal(lsh_auth_server_pk_ok(s), 0);
    } else {
        assert_int_equal(lsh_auth_server_accept(s), 0);
    }
}

static void
client_sign(cctx *t, lsh_conn *c, const lsh_event *ev)
{
    lsh_buf sig;
    t->signs++;
    snprintf(t->sign_alg, sizeof(t->sign_alg), "%s", ev->name);
    lsh_buf_init(&sig, 0);
    if (t->sk_priv != NULL) {
        /* Regression: lsh_auth_client_signature refused the flags and
         * counter that follow an sk- signature (PROTOCOL.u2f). */
        sk_sign(t->sk_priv, t->sk_flags, 42, ev->data, ev->len, &sig);
    } else if (t->signer != NULL) {
        assert_int_equal(
            lsh_key_sign(t->signer, ev->name, ev->data, ev->len, &sig), 0);
    } else {
        lsh_buf_free(&sig);
        return;
    }
    t->sig_rc = lsh_auth_client_signature(c, lsh_buf_ptr(&sig),
                                          lsh_buf_len(&sig));
    lsh_buf_free(&sig);
}

static void
on_event(pair *p, int side, const lsh_event *ev)
{
    cctx *t = p->user;
    if (side == 1) {
        if (ev->type == LSH_EV_AUTH_REQUEST) {
            server_policy(t, p->s);
        }
        return;
    }
    if (ev->type == LSH_EV_AUTH_RESULT) {
        t->results++;
        t->last_code = ev->code;
    } else if (ev->type == LSH_EV_AUTH_SIGN) {
        client_sign(t, p->c, ev);
    }
}

/* Connected, "none" refused: the client is READY. */
static void
connect_ready(cctx *t)
{
    pair_opts o = {.host_key = k_host};
    memset(t, 0, sizeof(*t));
    assert_int_equal(pair_init(&t->p, &o), 0);
    t->p.user = t;
    t->p.on_event = on_event;
    t->trusted_ca = k_ca;
    pair_pump(&t->p, 65536);
    assert_int_equal(lsh_auth_client_start(t->p.c, "alice", NULL), 0);
    pair_pump(&t->p, 65536);
    assert_int_equal(t->results, 1);
    assert_int_equal(lsh_auth_client_state(t->p.c), LSH_AUTH_C_READY);
}

/* A publickey query with blob, then the signature (by t->signer or the
 * token) when PK_OK comes. */
static void
try_query(cctx *t, const char *keyalg, const uint8_t *blob, size_t n)
{
    assert_int_equal(lsh_auth_client_publickey(t->p.c, keyalg, blob, n), 0);
    pair_pump(&t->p, 65536);
}

static void
try_cert_query(cctx *t, const char *keyalg, const lsh_cert *cert)
{
    size_t n;
    const uint8_t *blob = lsh_cert_blob(cert, &n);
    try_query(t, keyalg, blob, n);
}

/* A publickey request signed at once by key, carrying cert's blob. */
static void
try_cert_signed(cctx *t, const lsh_key *key, const char *keyalg,
                const lsh_cert *cert)
{
    size_t n;
    const uint8_t *blob = lsh_cert_blob(cert, &n);
    assert_int_equal(
        lsh_auth_client_publickey_sign_now(t->p.c, key, keyalg, blob, n), 0);
    pair_pump(&t->p, 65536);
}

static int
authenticated(const cctx *t)
{
    return t->p.s->authenticated && t->last_code == 0 &&
           lsh_auth_client_state(t->p.c) == LSH_AUTH_C_DONE;
}

/* ------------------------------------------------------------------ */

static void
user_certificate_every_key_type(void **state)
{
    struct {
        lsh_key **key;
        const lsh_key **ca;
        const char *ca_sigalg;
        const char *keyalg; /* NULL: the client's choice */
        const char *alg, *sigalg;
    } cases[] = {
        {&k_ed25519, (const lsh_key **)&k_ca, NULL, NULL,
         "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"},
        {&k_p256, (const lsh_key **)&k_ca, NULL, NULL,
         "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp256"},
        {&k_p384, (const lsh_key **)&k_ca_rsa, "rsa-sha2-256", NULL,
         "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp384"},
        {&k_p521, (const lsh_key **)&k_ca, NULL, NULL,
         "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ecdsa-sha2-nistp521"},
        /* Our server-sig-algs lists rsa-sha2-512 first. */
        {&k_rsa, (const lsh_key **)&k_ca, NULL, NULL,
         "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-512"},
        {&k_rsa, (const lsh_key **)&k_ca_rsa, NULL,
         "rsa-sha2-256-cert-v01@openssh.com",
         "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-256"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cert_spec cs = {LSH_CERT_USER, "alice", 0, 0, cases[i].ca_sigalg};
        lsh_cert *cert = make_cert(*cases[i].ca, *cases[i].key, &cs);
        for (int signed_first = 0; signed_first < 2; signed_first++) {
            cctx t;
            connect_ready(&t);
            t.trusted_ca = *cases[i].ca;
            t.signer = *cases[i].key;
            if (signed_first) {
                try_cert_signed(&t, *cases[i].key, cases[i].keyalg, cert);
                assert_string_equal(t.srv_log, "none/0 publickey/1 ");
                assert_int_equal(t.signs, 0);
            } else {
                try_cert_query(&t, cases[i].keyalg, cert);
                assert_string_equal(t.srv_log,
                                    "none/0 publickey/0 publickey/1 ");
                assert_int_equal(t.signs, 1);
                assert_int_equal(t.sig_rc, 0);
                /* PROTOCOL.certkeys: the plain algorithm signs. */
                assert_string_equal(t.sign_alg, cases[i].sigalg);
            }
            assert_string_equal(t.seen_alg, cases[i].alg);
            assert_true(t.seen_cert);
            assert_true(t.key_is_certified);
            assert_true(authenticated(&t));
            pair_free(&t.p);
        }
        lsh_cert_free(cert);
    }
}

/* The layer hands the certificate up; trust, principals and validity
 * are the caller's: each failure here is its policy saying no. */
static void
caller_decides_trust_principals_and_validity(void **state)
{
    struct {
        const lsh_key *ca;
        cert_spec cs;
        const char *why; /* in lsh_cert_validate's message, or NULL */
    } cases[] = {
        {NULL, {LSH_CERT_USER, "bob", 0, 0, NULL}, "principal"},
        {NULL, {LSH_CERT_USER, NULL, 0, 0, NULL}, "principal"},
        {NULL, {LSH_CERT_USER, "alice", NOW - 2 * DAY, NOW - DAY, NULL},
         "expired"},
        {NULL, {LSH_CERT_USER, "alice", NOW + DAY, NOW + 2 * DAY, NULL},
         "not yet"},
        {NULL, {LSH_CERT_USER, "alice", 0, 0, NULL}, NULL}, /* other CA */
    };
    (void)state;
    cases[4].ca = k_other_ca;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lsh_cert *cert = make_cert(cases[i].ca ? cases[i].ca : k_ca,
                                   k_ed25519, &cases[i].cs);
        cctx t;
        connect_ready(&t);
        t.signer = k_ed25519;
        try_cert_signed(&t, k_ed25519, NULL, cert);
        /* The request reached the caller, verified, and was refused. */
        assert_string_equal(t.srv_log, "none/0 publickey/1 ");
        assert_true(t.seen_cert);
        assert_int_equal(t.last_code, LSH_EAUTH);
        assert_false(t.p.s->authenticated);
        if (cases[i].why != NULL) {
            if (strstr(t.validate_err, cases[i].why) == NULL) {
                print_error("case %zu: %s\n", i, t.validate_err);
            }
            assert_non_null(strstr(t.validate_err, cases[i].why));
        }
        assert_false(t.p.closed[0] || t.p.closed[1]);
        pair_free(&t.p);
        lsh_cert_free(cert);
    }
}

/* Refused by the layer with FAILURE, before the caller sees anything. */
static void
assert_refused_unseen(cctx *t)
{
    assert_string_equal(t->srv_log, "none/0 ");
    assert_int_equal(t->last_code, LSH_EAUTH);
    assert_false(t->p.s->authenticated);
    assert_false(t->p.closed[0] || t->p.closed[1]);
    assert_int_equal(lsh_auth_client_state(t->p.c), LSH_AUTH_C_READY);
}

static void
layer_refuses_what_is_no_credential(void **state)
{
    lsh_cert *cert = user_cert(k_ca, k_ed25519, "alice");
    cert_spec hs = {LSH_CERT_HOST, "alice", 0, 0, NULL};
    lsh_cert *host = make_cert(k_ca, k_ed25519, &hs);
    lsh_cert *rsa = user_cert(k_ca, k_rsa, "alice");
    size_t n;
    const uint8_t *blob = lsh_cert_blob(cert, &n);
    uint8_t *forged = malloc(n);
    lsh_cert *bad = NULL;
    lsh_buf plain;
    cctx t;
    (void)state;

    /* A host certificate is no user credential. */
    connect_ready(&t);
    t.accept_all = 1;
    try_cert_signed(&t, k_ed25519, NULL, host);
    assert_refused_unseen(&t);
    pair_free(&t.p);

    /* The CA's signature is checked with the request's: one flipped
     * byte of it (the certificate still parses) and the caller never
     * hears of the request, even one that would accept anything. */
    memcpy(forged, blob, n);
    forged[n - 1] ^= 0x01;
    assert_int_equal(lsh_cert_from_blob(forged, n, &bad), 0);
    connect_ready(&t);
    t.accept_all = 1;
    try_cert_signed(&t, k_ed25519, NULL, bad);
    assert_refused_unseen(&t);
    pair_free(&t.p);

    /* The request signed by another key than the certified one. */
    connect_ready(&t);
    t.accept_all = 1;
    try_cert_signed(&t, k_other, "ssh-ed25519-cert-v01@openssh.com", cert);
    assert_refused_unseen(&t);
    pair_free(&t.p);

    /* Algorithm and blob must agree: a certificate under a plain name,
     * a plain key under a certificate name, a certificate of an RSA key
     * under the Ed25519 certificate name. */
    connect_ready(&t);
    t.accept_all = 1;
    try_cert_query(&t, "ssh-ed25519", cert);
    assert_refused_unseen(&t);
    lsh_buf_init(&plain, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &plain), 0);
    try_query(&t, "ssh-ed25519-cert-v01@openssh.com", lsh_buf_ptr(&plain),
              lsh_buf_len(&plain));
    assert_refused_unseen(&t);
    try_cert_query(&t, "ssh-ed25519-cert-v01@openssh.com", rsa);
    assert_refused_unseen(&t);
    /* ssh-rsa (SHA-1) is not in the default list, nor its certificate. */
    try_cert_query(&t, "ssh-rsa-cert-v01@openssh.com", rsa);
    assert_refused_unseen(&t);
    /* A truncated certificate. */
    try_query(&t, "ssh-ed25519-cert-v01@openssh.com", blob, n - 10);
    assert_refused_unseen(&t);
    assert_int_equal(t.signs, 0);
    lsh_buf_free(&plain);
    pair_free(&t.p);

    lsh_cert_free(bad);
    free(forged);
    lsh_cert_free(rsa);
    lsh_cert_free(host);
    lsh_cert_free(cert);
}

static void
certificate_algorithms_follow_the_allowed_list(void **state)
{
    lsh_cert *ed = user_cert(k_ca, k_ed25519, "alice");
    lsh_cert *rsa = user_cert(k_ca, k_rsa, "alice");
    lsh_buf plain;
    cctx t;
    (void)state;
    lsh_buf_init(&plain, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &plain), 0);

    /* Only the certificate algorithm listed: the plain key is refused,
     * its certificate taken. */
    connect_ready(&t);
    t.accept_all = 1;
    t.signer = k_ed25519;
    assert_int_equal(lsh_auth_server_set_sig_algs(
                         t.p.s, "ssh-ed25519-cert-v01@openssh.com"),
                     0);
    try_query(&t, NULL, lsh_buf_ptr(&plain), lsh_buf_len(&plain));
    assert_refused_unseen(&t);
    try_cert_query(&t, NULL, ed);
    assert_true(authenticated(&t));
    pair_free(&t.p);

    /* The plain name allows its certificates: rsa-sha2-256 takes
     * rsa-sha2-256-cert-v01@openssh.com, not the -512 one. */
    connect_ready(&t);
    t.trusted_ca = k_ca;
    t.signer = k_rsa;
    assert_int_equal(lsh_auth_server_set_sig_algs(t.p.s, "rsa-sha2-256"), 0);
    try_cert_query(&t, "rsa-sha2-512-cert-v01@openssh.com", rsa);
    assert_refused_unseen(&t);
    try_cert_query(&t, "rsa-sha2-256-cert-v01@openssh.com", rsa);
    assert_string_equal(t.sign_alg, "rsa-sha2-256");
    assert_true(authenticated(&t));
    pair_free(&t.p);

    /* And ssh-rsa when configured (RFC 8332 legacy). */
    connect_ready(&t);
    t.trusted_ca = k_ca;
    t.signer = k_rsa;
    assert_int_equal(lsh_auth_server_set_sig_algs(t.p.s, "ssh-rsa"), 0);
    try_cert_query(&t, "ssh-rsa-cert-v01@openssh.com", rsa);
    assert_string_equal(t.sign_alg, "ssh-rsa");
    assert_true(authenticated(&t));
    pair_free(&t.p);

    lsh_buf_free(&plain);
    lsh_cert_free(ed);
    lsh_cert_free(rsa);
}

static void
security_key_certificates(void **state)
{
    const lsh_key *privs[2];
    const char *algs[2] = {"sk-ssh-ed25519-cert-v01@openssh.com",
                           "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"};
    const char *sigalgs[2] = {"sk-ssh-ed25519@openssh.com",
                              "sk-ecdsa-sha2-nistp256@openssh.com"};
    (void)state;
    privs[0] = k_sk_ed_priv;
    privs[1] = k_sk_ec_priv;
    for (int i = 0; i < 2; i++) {
        lsh_key *pub = sk_public(privs[i]);
        lsh_cert *cert = user_cert(k_ca, pub, "alice");
        cctx t;
        assert_string_equal(lsh_cert_type_name(cert), algs[i]);

        /* The token reports user presence: accepted. */
        connect_ready(&t);
        t.sk_priv = privs[i];
        t.sk_flags = LSH_KEY_SK_USER_PRESENT;
        try_cert_query(&t, NULL, cert);
        assert_string_equal(t.sign_alg, sigalgs[i]);
        assert_string_equal(t.seen_alg, algs[i]);
        assert_int_equal(t.sig_rc, 0);
        assert_true(t.key_is_certified);
        assert_int_equal(t.seen_sk_flags, LSH_KEY_SK_USER_PRESENT);
        assert_int_equal(t.seen_sk_counter, 42);
        assert_string_equal(t.srv_log, "none/0 publickey/0 publickey/1 ");
        assert_true(t.p.s->authenticated);
        pair_free(&t.p);

        /* Without it: refused by the layer after the query. */
        connect_ready(&t);
        t.sk_priv = privs[i];
        t.sk_flags = 0;
        try_cert_query(&t, NULL, cert);
        assert_int_equal(t.signs, 1);
        assert_string_equal(t.srv_log, "none/0 publickey/0 ");
        assert_false(t.p.s->authenticated);
        pair_free(&t.p);

        lsh_cert_free(cert);
        lsh_key_free(pub);
    }
}

/* ------------------------------------------------------------------ */
/* Host certificates                                                   */

typedef struct hctx {
    uint8_t ks[4096];
    size_t ks_len;
    int hostkey_events;
    int key_matches;
    const lsh_key *expect_key;
} hctx;

static void
host_event(pair *p, int side, const lsh_event *ev)
{
    hctx *h = p->user;
    if (side == 0 && ev->type == LSH_EV_HOSTKEY) {
        h->hostkey_events++;
        assert_true(ev->len <= sizeof(h->ks));
        memcpy(h->ks, ev->data, ev->len);
        h->ks_len = ev->len;
        h->key_matches = lsh_key_equal_public(ev->key, h->expect_key);
    }
}

/* pair_init with host keys and certificates for the server. */
static int
pair_init_certs(pair *p, const char *client_hostkey_algs,
                lsh_key *const *keys, size_t nk, lsh_cert *const *certs,
                size_t nc)
{
    lsh_config cc, sc;
    int r;
    memset(p, 0, sizeof(*p));
    p->crng.s = 0x1234567887654321ULL;
    p->srng.s = 0x0fedcba987654321ULL;
    memset(&cc, 0, sizeof(cc));
    cc.role = LSH_ROLE_CLIENT;
    cc.rng = pair_rng_fill;
    cc.rng_ctx = &p->crng;
    cc.clock = pair_clock;
    cc.host_key_algs = client_hostkey_algs;
    sc = cc;
    sc.role = LSH_ROLE_SERVER;
    sc.rng_ctx = &p->srng;
    sc.host_key_algs = NULL;
    sc.host_keys = keys;
    sc.n_host_keys = nk;
    sc.host_certs = certs;
    sc.n_host_certs = nc;
    if ((r = lsh_conn_new(&cc, &p->c)) != 0) {
        return r;
    }
    if ((r = lsh_conn_new(&sc, &p->s)) != 0) {
        lsh_conn_free(p->c);
        p->c = NULL;
        return r;
    }
    return 0;
}

static void
host_certificate_every_key_type(void **state)
{
    lsh_key *keys[3];
    lsh_cert *certs[3];
    struct {
        const char *alg;
        int key;
    } cases[] = {
        {"ssh-ed25519-cert-v01@openssh.com", 0},
        {"ecdsa-sha2-nistp256-cert-v01@openssh.com", 1},
        {"rsa-sha2-512-cert-v01@openssh.com", 2},
        {"rsa-sha2-256-cert-v01@openssh.com", 2},
        {"ssh-rsa-cert-v01@openssh.com", -1}, /* not offered: legacy */
    };
    cert_spec hs = {LSH_CERT_HOST, "server.example", 0, 0, NULL};
    (void)state;
    keys[0] = k_host;
    keys[1] = k_p256;
    keys[2] = k_rsa;
    for (int i = 0; i < 3; i++) {
        certs[i] = make_cert(k_ca, keys[i], &hs);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pair p;
        hctx h;
        lsh_cert *got = NULL;
        char err[128];
        memset(&h, 0, sizeof(h));
        assert_int_equal(pair_init_certs(&p, cases[i].alg, keys, 3, certs,
                                         3),
                         0);
        h.expect_key = cases[i].key >= 0 ? keys[cases[i].key] : NULL;
        p.user = &h;
        p.on_event = host_event;
        pair_pump(&p, 65536);
        if (cases[i].key < 0) {
            assert_true(p.closed[0] && p.closed[1]);
            assert_int_equal(h.hostkey_events, 0);
            pair_free(&p);
            continue;
        }
        assert_int_equal(p.kex_done[0], 1);
        assert_int_equal(p.kex_done[1], 1);
        assert_string_equal(lsh_conn_info(p.c, LSH_INFO_HOSTKEY),
                            cases[i].alg);
        /* K_S is the certificate; the key the event names is the
         * certified one, whose signature of H the client verified. */
        assert_int_equal(h.hostkey_events, 1);
        assert_true(h.key_matches);
        {
            size_t n;
            const uint8_t *blob = lsh_cert_blob(certs[cases[i].key], &n);
            assert_int_equal(h.ks_len, n);
            assert_memory_equal(h.ks, blob, n);
        }
        assert_int_equal(lsh_cert_from_blob(h.ks, h.ks_len, &got), 0);
        assert_int_equal(lsh_cert_validate(got, LSH_CERT_HOST,
                                           "server.example", NOW, err,
                                           sizeof(err)),
                         0);
        assert_true(lsh_key_equal_public(lsh_cert_signature_key(got), k_ca));
        lsh_cert_free(got);
        /* A re-exchange presents the same certificate. */
        assert_int_equal(lsh_conn_rekey(p.c), 0);
        pair_pump(&p, 65536);
        assert_int_equal(p.kex_done[0], 2);
        assert_int_equal(p.kex_done[1], 2);
        assert_false(p.closed[0] || p.closed[1]);
        assert_int_equal(h.hostkey_events, 1);
        pair_free(&p);
    }
    for (int i = 0; i < 3; i++) {
        lsh_cert_free(certs[i]);
    }
}

static void
host_certificates_are_offered_only_when_configured(void **state)
{
    lsh_key *keys[1] = {k_host};
    cert_spec hs = {LSH_CERT_HOST, "server.example", 0, 0, NULL};
    lsh_cert *cert = make_cert(k_ca, k_host, &hs);
    pair p;
    hctx h;
    (void)state;

    /* No certificate: a client that wants only the certificate
     * algorithm finds no common host key algorithm. */
    assert_int_equal(pair_init_certs(&p, "ssh-ed25519-cert-v01@openssh.com",
                                     keys, 1, NULL, 0),
                     0);
    pair_pump(&p, 65536);
    assert_true(p.closed[0]);
    assert_int_equal(p.kex_done[0], 0);
    pair_free(&p);

    /* A certificate, and a client that does not ask for it (our client's
     * default list): the plain key, as before. */
    memset(&h, 0, sizeof(h));
    h.expect_key = k_host;
    assert_int_equal(pair_init_certs(&p, NULL, keys, 1, &cert, 1), 0);
    p.user = &h;
    p.on_event = host_event;
    pair_pump(&p, 65536);
    assert_int_equal(p.kex_done[0], 1);
    assert_string_equal(lsh_conn_info(p.c, LSH_INFO_HOSTKEY), "ssh-ed25519");
    assert_true(h.key_matches);
    {
        lsh_buf b;
        lsh_buf_init(&b, 0);
        assert_int_equal(lsh_key_to_blob(k_host, &b), 0);
        assert_int_equal(h.ks_len, lsh_buf_len(&b));
        assert_memory_equal(h.ks, lsh_buf_ptr(&b), h.ks_len);
        lsh_buf_free(&b);
    }
    pair_free(&p);

    /* The server's explicit list decides: without the certificate
     * algorithm it is not offered even with a certificate. */
    {
        lsh_config cc, sc;
        pair_rng r1 = {1}, r2 = {2};
        memset(&p, 0, sizeof(p));
        memset(&cc, 0, sizeof(cc));
        cc.role = LSH_ROLE_CLIENT;
        cc.rng = pair_rng_fill;
        cc.rng_ctx = &r1;
        cc.clock = pair_clock;
        cc.host_key_algs = "ssh-ed25519-cert-v01@openssh.com,ssh-ed25519";
        sc = cc;
        sc.role = LSH_ROLE_SERVER;
        sc.rng_ctx = &r2;
        sc.host_key_algs = "ssh-ed25519";
        sc.host_keys = keys;
        sc.n_host_keys = 1;
        sc.host_certs = &cert;
        sc.n_host_certs = 1;
        assert_int_equal(lsh_conn_new(&cc, &p.c), 0);
        assert_int_equal(lsh_conn_new(&sc, &p.s), 0);
        pair_pump(&p, 65536);
        assert_int_equal(p.kex_done[0], 1);
        assert_string_equal(lsh_conn_info(p.c, LSH_INFO_HOSTKEY),
                            "ssh-ed25519");
        pair_free(&p);
    }
    lsh_cert_free(cert);
}

static void
host_certificate_configuration_is_checked(void **state)
{
    lsh_key *keys[2] = {k_host, NULL};
    lsh_key *pub = lsh_key_public_copy(k_p256);
    cert_spec hs = {LSH_CERT_HOST, NULL, 0, 0, NULL};
    lsh_cert *good = make_cert(k_ca, k_host, &hs);
    lsh_cert *user = user_cert(k_ca, k_host, "alice");
    lsh_cert *other = make_cert(k_ca, k_p256, &hs);
    lsh_cert *certs[2];
    lsh_config sc;
    lsh_conn *s = NULL;
    pair_rng r = {3};
    (void)state;
    memset(&sc, 0, sizeof(sc));
    sc.role = LSH_ROLE_SERVER;
    sc.rng = pair_rng_fill;
    sc.rng_ctx = &r;
    sc.clock = pair_clock;
    sc.host_keys = keys;
    sc.n_host_keys = 1;
    sc.host_certs = certs;

    /* A user certificate, one for a key we do not have, one for a key
     * we have only the public half of, a NULL entry, a NULL array. */
    certs[0] = good;
    certs[1] = user;
    sc.n_host_certs = 2;
    assert_int_equal(lsh_conn_new(&sc, &s), LSH_EINVAL);
    certs[1] = other;
    assert_int_equal(lsh_conn_new(&sc, &s), LSH_EINVAL);
    keys[1] = pub;
    sc.n_host_keys = 2;
    assert_int_equal(lsh_conn_new(&sc, &s), LSH_EINVAL);
    certs[1] = NULL;
    assert_int_equal(lsh_conn_new(&sc, &s), LSH_EINVAL);
    sc.host_certs = NULL;
    assert_int_equal(lsh_conn_new(&sc, &s), LSH_EINVAL);
    assert_null(s);

    /* The certificates are referenced: the caller may drop its own. */
    sc.host_certs = certs;
    sc.n_host_certs = 1;
    sc.n_host_keys = 1;
    {
        lsh_cert *mine = lsh_cert_ref(good);
        certs[0] = mine;
        assert_int_equal(lsh_conn_new(&sc, &s), 0);
        lsh_cert_free(mine);
        certs[0] = NULL;
        assert_non_null(lsh__kex_host_key_for(
            s, "ssh-ed25519-cert-v01@openssh.com", NULL, NULL, 0));
        assert_null(lsh__kex_host_key_for(
            s, "ecdsa-sha2-nistp256-cert-v01@openssh.com", NULL, NULL, 0));
        lsh_conn_free(s);
    }
    /* A client ignores them. */
    {
        lsh_config cc = sc;
        lsh_conn *c = NULL;
        certs[0] = user;
        cc.role = LSH_ROLE_CLIENT;
        cc.host_keys = NULL;
        cc.n_host_keys = 0;
        assert_int_equal(lsh_conn_new(&cc, &c), 0);
        lsh_conn_free(c);
    }
    lsh_key_free(pub);
    lsh_cert_free(good);
    lsh_cert_free(user);
    lsh_cert_free(other);
}

/* ------------------------------------------------------------------ */
/* OpenSSH's ssh against a server core on a loopback socket            */

static char g_dir[64];

static int
run(const char *cmd)
{
    char line[1024];
    snprintf(line, sizeof(line), "{ %s; } >/dev/null 2>&1", cmd);
    return system(line);
}

static uint8_t *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

static lsh_key *
load_private(const char *name)
{
    char path[128], err[128];
    size_t n;
    uint8_t *d;
    lsh_key *k = NULL;
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    d = slurp(path, &n);
    assert_int_equal(lsh_keyfile_import_private(d, n, NULL, &k, NULL, err,
                                                sizeof(err)),
                     0);
    free(d);
    return k;
}

static lsh_key *
load_public(const char *name)
{
    char path[128], err[128];
    size_t n;
    uint8_t *d;
    lsh_key *k = NULL;
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    d = slurp(path, &n);
    assert_int_equal(lsh_keyfile_import_public(d, n, &k, NULL, err,
                                               sizeof(err)),
                     0);
    free(d);
    return k;
}

static lsh_cert *
load_cert(const char *name)
{
    char path[128], err[128];
    size_t n;
    uint8_t *d;
    lsh_cert *c = NULL;
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    d = slurp(path, &n);
    assert_int_equal(lsh_cert_import(d, n, &c, NULL, err, sizeof(err)), 0);
    free(d);
    return c;
}

static uint64_t
mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct srv {
    lsh_conn *c;
    const lsh_key *ca;
    int done;
    int cert_logins;
    char user_alg[80];
    char host_alg[80];
} srv;

static void
srv_auth(srv *sv)
{
    lsh_auth_request rq;
    char err[128];
    int ok = 0;
    assert_int_equal(lsh_auth_server_request(sv->c, &rq), 0);
    if (strcmp(rq.method, "publickey") == 0 && rq.cert != NULL &&
        lsh_key_equal_public(lsh_cert_signature_key(rq.cert), sv->ca) &&
        lsh_cert_validate_ex(rq.cert, LSH_CERT_USER, rq.user,
                             (uint64_t)time(NULL),
                             LSH_CERT_REQUIRE_PRINCIPALS, err,
                             sizeof(err)) == 0) {
        ok = 1;
    }
    if (!ok) {
        assert_int_equal(lsh_auth_server_reject(sv->c, NULL, 0), 0);
    } else if (rq.phase == 0) {
        assert_int_equal(lsh_auth_server_pk_ok(sv->c), 0);
    } else {
        snprintf(sv->user_alg, sizeof(sv->user_alg), "%s", rq.key_alg);
        sv->cert_logins++;
        assert_int_equal(lsh_auth_server_accept(sv->c), 0);
    }
}

/* An "exec" answers with a greeting, exit status 0, EOF and CLOSE. */
static void
srv_chan_request(srv *sv, const lsh_event *ev)
{
    int exec = strcmp(ev->name, "exec") == 0;
    if (ev->num) {
        assert_int_equal(lsh_chan_request_reply_id(sv->c, ev->chan, ev->id,
                                                   exec),
                         0);
    }
    if (exec) {
        static const char msg[] = "hello from a certified server\n";
        lsh_buf st;
        lsh_buf_init(&st, 0);
        assert_int_equal(lsh_chan_write(sv->c, ev->chan, 0,
                                        (const uint8_t *)msg,
                                        sizeof(msg) - 1),
                         (int)sizeof(msg) - 1);
        assert_int_equal(lsh_chan_exit_status_data(&st, 0), 0);
        assert_int_equal(lsh_chan_request(sv->c, ev->chan, "exit-status", 0,
                                          lsh_buf_ptr(&st),
                                          lsh_buf_len(&st)),
                         0);
        assert_int_equal(lsh_chan_send_eof(sv->c, ev->chan), 0);
        assert_int_equal(lsh_chan_close(sv->c, ev->chan), 0);
        lsh_buf_free(&st);
    }
}

static void
srv_event(srv *sv, const lsh_event *ev)
{
    switch (ev->type) {
    case LSH_EV_KEX_DONE:
        snprintf(sv->host_alg, sizeof(sv->host_alg), "%s",
                 lsh_conn_info(sv->c, LSH_INFO_HOSTKEY));
        break;
    case LSH_EV_AUTH_REQUEST:
        srv_auth(sv);
        break;
    case LSH_EV_CHAN_OPEN:
        if (strcmp(ev->name, "session") == 0) {
            assert_int_equal(lsh_chan_accept(sv->c, ev->chan, 0, 0), 0);
        } else {
            assert_int_equal(lsh_chan_reject(sv->c, ev->chan,
                                             LSH_OPEN_UNKNOWN_CHANNEL_TYPE,
                                             NULL),
                             0);
        }
        break;
    case LSH_EV_CHAN_REQUEST:
        srv_chan_request(sv, ev);
        break;
    case LSH_EV_CHAN_DATA:
        assert_int_equal(lsh_chan_consumed(sv->c, ev->chan, ev->len), 0);
        break;
    case LSH_EV_GLOBAL_REQUEST:
        if (ev->num) {
            assert_int_equal(lsh_global_request_reply(sv->c, 0, NULL, 0), 0);
        }
        break;
    case LSH_EV_CHAN_CLOSE:
    case LSH_EV_CLOSED:
        sv->done = 1;
        break;
    default:
        break;
    }
}

/* Serves one connection on fd until its session closes (10 s at most). */
static void
serve(srv *sv, int fd)
{
    uint64_t end = mono_ms(NULL) + 10000;
    uint8_t buf[65536];
    while (!sv->done && mono_ms(NULL) < end) {
        const uint8_t *out;
        size_t n, used;
        lsh_event ev;
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t k;
        while (lsh_conn_next_event(sv->c, &ev)) {
            srv_event(sv, &ev);
        }
        lsh_conn_out(sv->c, &out, &n);
        while (n > 0) {
            k = write(fd, out, n);
            assert_true(k > 0);
            lsh_conn_out_ack(sv->c, (size_t)k);
            lsh_conn_out(sv->c, &out, &n);
        }
        if (sv->done || poll(&pfd, 1, 200) <= 0) {
            continue;
        }
        k = read(fd, buf, sizeof(buf));
        if (k <= 0) {
            lsh_conn_feed_eof(sv->c);
            continue;
        }
        for (size_t off = 0; off < (size_t)k; off += used) {
            if (lsh_conn_feed(sv->c, buf + off, (size_t)k - off, &used) !=
                0) {
                break;
            }
            while (lsh_conn_next_event(sv->c, &ev)) {
                srv_event(sv, &ev);
            }
        }
    }
    /* Flush what is left (EOF, CLOSE, the peer's goodbye). */
    {
        const uint8_t *out;
        size_t n;
        lsh_conn_out(sv->c, &out, &n);
        if (n > 0 && write(fd, out, n) > 0) {
            lsh_conn_out_ack(sv->c, n);
        }
    }
}

/* Runs ssh with a user key (and its -cert.pub) against a server core
 * holding every host key and certificate; hostalg restricts ssh's host
 * key algorithms.  Returns ssh's exit status; *got its stdout. */
static int
ssh_login(const char *userkey, const char *hostalg, lsh_key *const *hkeys,
          lsh_cert *const *hcerts, size_t nh, const lsh_key *ca, srv *sv,
          char *got, size_t gotlen)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int lfd, fd, pfd[2], status;
    pid_t pid;
    pair_rng unused = {0};
    lsh_config sc;
    char port[16], idf[128], certf[128], khf[128], hka[128];
    size_t have = 0;
    ssize_t k;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
    snprintf(idf, sizeof(idf), "%s/%s", g_dir, userkey);
    snprintf(certf, sizeof(certf), "CertificateFile=%s/%s-cert.pub", g_dir,
             userkey);
    snprintf(khf, sizeof(khf), "UserKnownHostsFile=%s/known_hosts", g_dir);
    snprintf(hka, sizeof(hka), "HostKeyAlgorithms=%s", hostalg);
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(pfd[1], 1);
        if (getenv("CERT_TEST_VERBOSE") == NULL) {
            dup2(devnull, 2);
        }
        close(pfd[0]);
        close(lfd);
        execl("/usr/bin/ssh", "ssh", "-F", "/dev/null", "-p", port, "-i",
              idf, "-o", certf, "-o", khf, "-o", hka, "-o",
              "GlobalKnownHostsFile=/dev/null", "-o",
              "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o",
              "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o",
              "PreferredAuthentications=publickey", "-o", getenv("CERT_TEST_VERBOSE") ? "LogLevel=DEBUG1" : "LogLevel=ERROR", "-o",
              "ConnectTimeout=10", "-l", "alice", "127.0.0.1",
              "echo hi", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    {
        struct pollfd p = {lfd, POLLIN, 0};
        assert_int_equal(poll(&p, 1, 10000), 1);
    }
    fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    close(lfd);

    memset(&sc, 0, sizeof(sc));
    sc.role = LSH_ROLE_SERVER;
    sc.rng = lsh_rng_fill;
    sc.rng_ctx = &unused;
    sc.clock = mono_ms;
    sc.host_keys = hkeys;
    sc.n_host_keys = nh;
    sc.host_certs = hcerts;
    sc.n_host_certs = nh;
    memset(sv, 0, sizeof(*sv));
    sv->ca = ca;
    assert_int_equal(lsh_conn_new(&sc, &sv->c), 0);
    assert_int_equal(lsh_auth_server_set_methods(sv->c, "publickey"), 0);
    serve(sv, fd);
    lsh_conn_free(sv->c);
    sv->c = NULL;
    /* ssh ends once the channel closed; give it a moment, then stop. */
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++) {
        usleep(50000);
    }
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    close(fd);
    while (have + 1 < gotlen &&
           (k = read(pfd[0], got + have, gotlen - 1 - have)) > 0) {
        have += (size_t)k;
    }
    got[have] = '\0';
    close(pfd[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
openssh_client_with_certificates(void **state)
{
    static const char *const gen[] = {
        "ssh-keygen -q -t ed25519 -N '' -C ca -f %s/ca",
        "ssh-keygen -q -t ed25519 -N '' -f %s/user_ed25519",
        "ssh-keygen -q -t rsa -b 2048 -N '' -f %s/user_rsa",
        "ssh-keygen -q -t ecdsa -b 384 -N '' -f %s/user_ecdsa",
        "ssh-keygen -q -t ed25519 -N '' -f %s/host_ed25519",
        "ssh-keygen -q -t rsa -b 2048 -N '' -f %s/host_rsa",
        "ssh-keygen -q -t ecdsa -b 256 -N '' -f %s/host_ecdsa",
        "cd %s && ssh-keygen -q -s ca -I alice -n alice -V -5m:+1h "
        "user_ed25519.pub user_rsa.pub user_ecdsa.pub",
        "cd %s && ssh-keygen -q -s ca -I host -h -n 127.0.0.1,localhost "
        "-V -5m:+1h host_ed25519.pub host_rsa.pub host_ecdsa.pub",
        "cd %s && (printf '@cert-authority * '; cat ca.pub) > known_hosts",
    };
    struct {
        const char *user, *hostalg, *user_alg;
    } runs[] = {
        {"user_ed25519", "ssh-ed25519-cert-v01@openssh.com",
         "ssh-ed25519-cert-v01@openssh.com"},
        {"user_rsa", "rsa-sha2-512-cert-v01@openssh.com",
         "rsa-sha2-512-cert-v01@openssh.com"},
        {"user_ecdsa", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
         "ecdsa-sha2-nistp384-cert-v01@openssh.com"},
    };
    lsh_key *hkeys[3], *ca;
    lsh_cert *hcerts[3];
    char cmd[512], rm[128];
    (void)state;
    if (access("/usr/bin/ssh", X_OK) != 0 ||
        access("/usr/bin/ssh-keygen", X_OK) != 0) {
        skip();
    }
    snprintf(g_dir, sizeof(g_dir), "/tmp/lsh-cert-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
        snprintf(cmd, sizeof(cmd), gen[i], g_dir);
        assert_int_equal(run(cmd), 0);
    }
    ca = load_public("ca.pub");
    hkeys[0] = load_private("host_ed25519");
    hkeys[1] = load_private("host_rsa");
    hkeys[2] = load_private("host_ecdsa");
    hcerts[0] = load_cert("host_ed25519-cert.pub");
    hcerts[1] = load_cert("host_rsa-cert.pub");
    hcerts[2] = load_cert("host_ecdsa-cert.pub");
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        srv sv;
        char out[256];
        int rc = ssh_login(runs[i].user, runs[i].hostalg, hkeys, hcerts, 3,
                           ca, &sv, out, sizeof(out));
        if (rc != 0) {
            print_error("ssh with %s exited %d (rerun with "
                        "CERT_TEST_VERBOSE=1 for its messages)\n",
                        runs[i].user, rc);
        }
        assert_int_equal(rc, 0);
        assert_string_equal(out, "hello from a certified server\n");
        assert_int_equal(sv.cert_logins, 1);
        assert_string_equal(sv.user_alg, runs[i].user_alg);
        assert_string_equal(sv.host_alg, runs[i].hostalg);
    }
    for (int i = 0; i < 3; i++) {
        lsh_key_free(hkeys[i]);
        lsh_cert_free(hcerts[i]);
    }
    lsh_key_free(ca);
    snprintf(rm, sizeof(rm), "rm -rf %s", g_dir);
    assert_int_equal(run(rm), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_certificate_every_key_type),
        cmocka_unit_test(caller_decides_trust_principals_and_validity),
        cmocka_unit_test(layer_refuses_what_is_no_credential),
        cmocka_unit_test(certificate_algorithms_follow_the_allowed_list),
        cmocka_unit_test(security_key_certificates),
        cmocka_unit_test(host_certificate_every_key_type),
        cmocka_unit_test(host_certificates_are_offered_only_when_configured),
        cmocka_unit_test(host_certificate_configuration_is_checked),
        cmocka_unit_test(openssh_client_with_certificates),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
