/*
 * The authentication layer (src/ssh/auth/): a client core and a server
 * core back to back, the server's decisions made by a small policy in
 * the test (user "alice", password "secret", one allowed key, a
 * two-round keyboard-interactive exchange).  Covers RFC 4252 none /
 * password (with PASSWD_CHANGEREQ) / publickey (query and signature
 * first, every key type, RSA SHA-2 choice from server-sig-algs), RFC 4256
 * keyboard-interactive, partial success, banners, and the rules of
 * reliability-plan.md §2.2 / P-5 as scripted-peer cases.
 */
#include "testutil.h"

#include "pair.h"
#include "ssh/auth/auth.h"
#include "ssh/auth/auth_internal.h"
#include "ssh/conn_internal.h"

static lsh_key *k_host, *k_ed25519, *k_p256, *k_p384, *k_p521, *k_rsa,
    *k_other;

static int
setup_keys(void **state)
{
    (void)state;
    if (lsh_key_generate(LSH_KEY_ED25519, 0, &k_host) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_ed25519) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &k_p256) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P384, 0, &k_p384) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P521, 0, &k_p521) != 0 ||
        lsh_key_generate(LSH_KEY_RSA, 2048, &k_rsa) != 0 ||
        lsh_key_generate(LSH_KEY_ED25519, 0, &k_other) != 0) {
        return -1;
    }
    return 0;
}

static int
teardown_keys(void **state)
{
    (void)state;
    lsh_key_free(k_host);
    lsh_key_free(k_ed25519);
    lsh_key_free(k_p256);
    lsh_key_free(k_p384);
    lsh_key_free(k_p521);
    lsh_key_free(k_rsa);
    lsh_key_free(k_other);
    return 0;
}

/* The test's view of both sides. */
typedef struct tctx {
    pair p;
    /* Server policy. */
    int manual;               /* the test answers requests itself */
    const lsh_key *allowed;   /* the key "alice" may use */
    int pw_expired;           /* the right password gets CHANGEREQ */
    int two_factor;           /* publickey and password both needed */
    int factor_pk, factor_pw;
    const char *banner;       /* sent before answering the 1st request */
    int kbd_round;
    unsigned tries_at_success; /* the layer's count as the last round came */
    /* Server records. */
    int srv_requests;
    char srv_log[1024];       /* "method/phase " per request */
    char new_password[64];
    char submethods[64];
    /* Client: who signs LSH_EV_AUTH_SIGN (NULL: nobody). */
    const lsh_key *signer;
    const char *sign_as;      /* override the algorithm of the signature */
    int sig_rc;
    /* Client records. */
    int results, last_code, last_partial;
    char last_methods[256], last_method[64];
    int signs;
    char sign_alg[64];
    int sign_data_ok;
    int prompts;
    char prompt_name[64], prompt_text[256];
    uint32_t prompt_num;
    int banners;
    char banner_text[512];
    size_t banner_len;
} tctx;

static void
logf_append(char *log, size_t room, const char *method, int phase)
{
    size_t n = strlen(log);
    snprintf(log + n, room - n, "%s/%d ", method, phase);
}

/* The policy's "no": once the tries are used up the layer disconnects
 * instead (LSH_EAUTH), which the tests then check. */
static void
srv_reject(lsh_conn *s)
{
    int r = lsh_auth_server_reject(s, NULL, 0);
    assert_true(r == 0 || r == LSH_EAUTH);
}

static void
success_step(tctx *t, lsh_conn *s, const char *method)
{
    if (!t->two_factor) {
        assert_int_equal(lsh_auth_server_accept(s), 0);
        return;
    }
    if (strcmp(method, "publickey") == 0) {
        t->factor_pk = 1;
    } else {
        t->factor_pw = 1;
    }
    if (t->factor_pk && t->factor_pw) {
        assert_int_equal(lsh_auth_server_accept(s), 0);
    } else {
        assert_int_equal(lsh_auth_server_reject(
                             s, t->factor_pk ? "password" : "publickey", 1),
                         0);
    }
}

static void
server_kbd(tctx *t, lsh_conn *s, const lsh_auth_request *rq)
{
    static const char *const p1[] = {"Password: ", "Token: "};
    static const int e1[] = {0, 1};
    static const char *const p2[] = {"Colour? "};
    static const int e2[] = {1};
    int valid = strcmp(rq->user, "alice") == 0;
    snprintf(t->submethods, sizeof(t->submethods), "%s", rq->submethods);
    if (rq->phase == 0) {
        t->kbd_round = 1;
        assert_int_equal(lsh_auth_server_info_request(s, "Login",
                                                      "Two steps", p1, e1, 2),
                         0);
        return;
    }
    if (t->kbd_round == 1 && rq->n_responses == 2 && valid &&
        strcmp(rq->responses[0], "secret") == 0 &&
        strcmp(rq->responses[1], "123456") == 0) {
        t->kbd_round = 2;
        assert_int_equal(lsh_auth_server_info_request(s, NULL, NULL, p2, e2,
                                                      1),
                         0);
        return;
    }
    if (t->kbd_round == 2 && rq->n_responses == 1 && valid &&
        strcmp(rq->responses[0], "blue") == 0) {
        /* The layer's state goes with SUCCESS: read the count first. */
        t->tries_at_success = s->auth->sv.tries;
        success_step(t, s, "keyboard-interactive");
        return;
    }
    srv_reject(s);
}

static void
server_decide(tctx *t, lsh_conn *s)
{
    lsh_auth_request rq;
    int valid;
    assert_int_equal(lsh_auth_server_request(s, &rq), 0);
    t->srv_requests++;
    logf_append(t->srv_log, sizeof(t->srv_log), rq.method, rq.phase);
    assert_string_equal(rq.service, "ssh-connection");
    if (t->manual) {
        return;
    }
    if (t->banner != NULL && t->srv_requests == 1) {
        assert_int_equal(lsh_auth_server_banner(s, t->banner), 0);
    }
    valid = strcmp(rq.user, "alice") == 0;
    if (strcmp(rq.method, "password") == 0) {
        int ok = valid && strcmp(rq.password, "secret") == 0;
        if (!ok) {
            srv_reject(s);
        } else if (rq.phase == 1 && strcmp(rq.new_password, "weak") == 0) {
            assert_int_equal(lsh_auth_server_passwd_changereq(s, "Too weak"),
                             0);
        } else if (rq.phase == 0 && t->pw_expired) {
            assert_int_equal(
                lsh_auth_server_passwd_changereq(s, "Password expired"), 0);
        } else {
            if (rq.phase == 1) {
                snprintf(t->new_password, sizeof(t->new_password), "%s",
                         rq.new_password);
            }
            success_step(t, s, "password");
        }
    } else if (strcmp(rq.method, "publickey") == 0) {
        int ok = valid && t->allowed != NULL &&
                 lsh_key_equal_public(rq.key, t->allowed);
        if (!ok) {
            srv_reject(s);
        } else if (rq.phase == 0) {
            assert_int_equal(lsh_auth_server_pk_ok(s), 0);
        } else {
            assert_true(rq.signature_verified);
            success_step(t, s, "publickey");
        }
    } else if (strcmp(rq.method, "keyboard-interactive") == 0) {
        server_kbd(t, s, &rq);
    } else {
        assert_string_equal(rq.method, "none");
        srv_reject(s);
    }
}

static void
client_sign(tctx *t, lsh_conn *c, const lsh_event *ev)
{
    size_t sidlen;
    const uint8_t *sid = lsh_conn_session_id(c, &sidlen);
    lsh_buf sig;
    t->signs++;
    snprintf(t->sign_alg, sizeof(t->sign_alg), "%s", ev->name);
    /* RFC 4252 §7: the data starts with string session identifier. */
    t->sign_data_ok = ev->len > 4 + sidlen &&
                      lsh_peek_u32(ev->data) == sidlen &&
                      memcmp(ev->data + 4, sid, sidlen) == 0 &&
                      ev->data[4 + sidlen] == LSH_MSG_USERAUTH_REQUEST;
    if (t->signer == NULL) {
        return;
    }
    lsh_buf_init(&sig, 0);
    assert_int_equal(lsh_key_sign(t->signer,
                                  t->sign_as ? t->sign_as : ev->name,
                                  ev->data, ev->len, &sig),
                     0);
    t->sig_rc = lsh_auth_client_signature(c, lsh_buf_ptr(&sig),
                                          lsh_buf_len(&sig));
    lsh_buf_free(&sig);
}

static void
on_event(pair *p, int side, const lsh_event *ev)
{
    tctx *t = p->user;
    if (side == 1) {
        if (ev->type == LSH_EV_AUTH_REQUEST) {
            server_decide(t, p->s);
        }
        return;
    }
    switch (ev->type) {
    case LSH_EV_AUTH_RESULT:
        t->results++;
        t->last_code = ev->code;
        t->last_partial = (int)ev->num;
        snprintf(t->last_methods, sizeof(t->last_methods), "%s", ev->name);
        snprintf(t->last_method, sizeof(t->last_method), "%s", ev->text);
        break;
    case LSH_EV_AUTH_SIGN:
        client_sign(t, p->c, ev);
        break;
    case LSH_EV_AUTH_PROMPT:
        t->prompts++;
        t->prompt_num = ev->num;
        snprintf(t->prompt_name, sizeof(t->prompt_name), "%s", ev->name);
        snprintf(t->prompt_text, sizeof(t->prompt_text), "%s", ev->text);
        break;
    case LSH_EV_AUTH_BANNER:
        t->banners++;
        snprintf(t->banner_text, sizeof(t->banner_text), "%s", ev->text);
        t->banner_len = ev->len;
        break;
    default:
        break;
    }
}

static void
connect_opts(tctx *t, const pair_opts *o)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(pair_init(&t->p, o), 0);
    t->p.user = t;
    t->p.on_event = on_event;
    pair_pump(&t->p, 65536);
    assert_int_equal(t->p.kex_done[0], 1);
    assert_int_equal(t->p.kex_done[1], 1);
}

static void
connect_pair(tctx *t)
{
    pair_opts o = {.host_key = k_host};
    connect_opts(t, &o);
}

/* Starts as `user`; the "none" request's failure arrives. */
static void
start_as(tctx *t, const char *user)
{
    assert_int_equal(lsh_auth_client_start(t->p.c, user, NULL), 0);
    pair_pump(&t->p, 65536);
    assert_int_equal(t->results, 1);
    assert_int_equal(t->last_code, LSH_EAUTH);
    assert_int_equal(lsh_auth_client_state(t->p.c), LSH_AUTH_C_READY);
}

static void
pump(tctx *t)
{
    pair_pump(&t->p, 65536);
}

static int
is_authenticated(const lsh_conn *c)
{
    return c->authenticated;
}

/* Sends a raw message from side `from`, bypassing its state machine. */
static void
inject(tctx *t, int from, const uint8_t *msg, size_t n)
{
    assert_int_equal(
        lsh__conn_send_now(from == 0 ? t->p.c : t->p.s, msg, n), 0);
    pump(t);
}

/* Sends a raw message from the client and lets only the server see it
 * (its answer stays unsent). */
static void
inject_to_server(tctx *t, const uint8_t *msg, size_t n)
{
    assert_int_equal(lsh__conn_send_now(t->p.c, msg, n), 0);
    pair_move(&t->p, 0, 65536);
}

/* Hands the server's queued events to the test's hook. */
static void
drain_server(tctx *t)
{
    lsh_event ev;
    while (lsh_conn_next_event(t->p.s, &ev)) {
        pair_record(&t->p, 1, &ev);
    }
}

/* A USERAUTH_REQUEST header in b. */
static void
put_req(lsh_buf *b, const char *user, const char *service,
        const char *method)
{
    assert_int_equal(lsh_buf_put_u8(b, LSH_MSG_USERAUTH_REQUEST), 0);
    assert_int_equal(lsh_buf_put_cstring(b, user), 0);
    assert_int_equal(lsh_buf_put_cstring(b, service), 0);
    assert_int_equal(lsh_buf_put_cstring(b, method), 0);
}

/* ------------------------------------------------------------------ */

static void
none_lists_the_methods(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_IDLE);
    start_as(&t, "alice");
    assert_int_equal(t.p.service_accept, 1);
    assert_string_equal(t.last_method, "none");
    assert_string_equal(t.last_methods,
                        "publickey,password,keyboard-interactive");
    assert_int_equal(t.last_partial, 0);
    assert_string_equal(t.srv_log, "none/0 ");
    /* Only once per connection; not for a server. */
    assert_int_equal(lsh_auth_client_start(t.p.c, "alice", NULL),
                     LSH_ESTATE);
    assert_int_equal(lsh_auth_client_start(t.p.s, "alice", NULL),
                     LSH_ESTATE);
    /* A request is out: a second one waits for its answer. */
    assert_int_equal(lsh_auth_client_password(t.p.c, "x"), 0);
    assert_int_equal(lsh_auth_client_password(t.p.c, "y"), LSH_ESTATE);
    pair_free(&t.p);
}

static void
server_method_list_is_configurable(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    assert_int_equal(lsh_auth_server_set_methods(t.p.s, "hostbased"),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_server_set_methods(t.p.s, "none"), LSH_EINVAL);
    assert_int_equal(lsh_auth_server_set_methods(t.p.s, "password,"),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_server_set_methods(t.p.s, "password"), 0);
    assert_int_equal(lsh_auth_server_set_max_tries(t.p.s, 0), LSH_EINVAL);
    assert_int_equal(lsh_auth_server_set_methods(t.p.c, "password"),
                     LSH_ESTATE);
    start_as(&t, "alice");
    assert_string_equal(t.last_methods, "password");
    /* A method outside the list is refused by the layer itself. */
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(t.results, 2);
    assert_int_equal(t.last_code, LSH_EAUTH);
    assert_string_equal(t.srv_log, "none/0 ");
    pair_free(&t.p);
}

static void
password_right_and_wrong(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_password(t.p.c, "wrong"), 0);
    pump(&t);
    assert_int_equal(t.results, 2);
    assert_int_equal(t.last_code, LSH_EAUTH);
    assert_string_equal(t.last_method, "password");
    assert_false(is_authenticated(t.p.c) || is_authenticated(t.p.s));
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.results, 3);
    assert_int_equal(t.last_code, 0);
    assert_string_equal(t.last_method, "password");
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_DONE);
    assert_true(is_authenticated(t.p.c) && is_authenticated(t.p.s));
    assert_string_equal(t.srv_log, "none/0 password/0 password/0 ");
    /* Done: no more requests, no more server answers. */
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), LSH_ESTATE);
    assert_int_equal(lsh_auth_server_accept(t.p.s), LSH_ESTATE);
    assert_int_equal(lsh_auth_server_banner(t.p.s, "late"), LSH_ESTATE);
    assert_false(t.p.closed[0] || t.p.closed[1]);
    pair_free(&t.p);
}

static void
invalid_user_gets_the_same_answers(void **state)
{
    /* The layer's answers do not depend on the user (CVE-2018-15473):
     * the bytes the server sends to "alice" and to "mallory" for the
     * same failing sequence are equal in number. */
    uint64_t out[2];
    const char *users[2] = {"alice", "mallory"};
    (void)state;
    for (int i = 0; i < 2; i++) {
        tctx t;
        lsh_conn_stats st;
        connect_pair(&t);
        t.allowed = k_ed25519;
        start_as(&t, users[i]);
        assert_int_equal(lsh_auth_client_password(t.p.c, "wrong"), 0);
        pump(&t);
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL, NULL, 0),
                         LSH_EINVAL);
        lsh_conn_get_stats(t.p.s, &st);
        out[i] = st.bytes_out;
        assert_int_equal(t.results, 2);
        pair_free(&t.p);
    }
    assert_int_equal(out[0], out[1]);
}

static void
password_change_round_trip(void **state)
{
    tctx t;
    lsh_auth_prompts pr;
    (void)state;
    connect_pair(&t);
    t.pw_expired = 1;
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_prompts(t.p.c, &pr), LSH_ESTATE);
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.prompts, 1);
    assert_string_equal(t.prompt_name, "password");
    assert_string_equal(t.prompt_text, "Password expired");
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_WAIT_PASSWORD);
    assert_int_equal(lsh_auth_client_prompts(t.p.c, &pr), 0);
    assert_string_equal(pr.method, "password");
    assert_string_equal(pr.instruction, "Password expired");
    assert_int_equal(pr.n, 0);
    /* kbd-int answers are not valid here. */
    assert_int_equal(lsh_auth_client_responses(t.p.c, NULL, 0), LSH_ESTATE);
    /* A new password the server refuses: another CHANGEREQ. */
    assert_int_equal(lsh_auth_client_password_change(t.p.c, "secret",
                                                     "weak"),
                     0);
    pump(&t);
    assert_int_equal(t.prompts, 2);
    assert_string_equal(t.prompt_text, "Too weak");
    assert_int_equal(lsh_auth_client_password_change(t.p.c, "secret",
                                                     "n3w-Str0ng"),
                     0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    assert_string_equal(t.new_password, "n3w-Str0ng");
    assert_string_equal(t.srv_log,
                        "none/0 password/0 password/1 password/1 ");
    pair_free(&t.p);
}

/* Publickey with a query first (PK_OK), then with the signature first. */
static void
publickey_ok(const lsh_key *key, const char *expect_alg)
{
    for (int first = 0; first < 2; first++) {
        tctx t;
        connect_pair(&t);
        t.allowed = key;
        t.signer = key;
        start_as(&t, "alice");
        if (first == 0) {
            lsh_buf blob;
            lsh_buf_init(&blob, 0);
            assert_int_equal(lsh_key_to_blob(key, &blob), 0);
            assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                       lsh_buf_ptr(&blob),
                                                       lsh_buf_len(&blob)),
                             0);
            lsh_buf_free(&blob);
            pump(&t);
            assert_int_equal(t.signs, 1);
            assert_true(t.sign_data_ok);
            assert_int_equal(t.sig_rc, 0);
            assert_string_equal(t.sign_alg, expect_alg);
            assert_string_equal(t.srv_log, "none/0 publickey/0 publickey/1 ");
        } else {
            assert_int_equal(lsh_auth_client_publickey_sign_now(
                                 t.p.c, key, NULL, NULL, 0),
                             0);
            pump(&t);
            assert_int_equal(t.signs, 0);
            assert_string_equal(t.srv_log, "none/0 publickey/1 ");
        }
        assert_int_equal(t.last_code, 0);
        assert_string_equal(t.last_method, "publickey");
        assert_true(is_authenticated(t.p.s));
        pair_free(&t.p);
    }
}

static void
publickey_each_key_type(void **state)
{
    (void)state;
    publickey_ok(k_ed25519, "ssh-ed25519");
    publickey_ok(k_p256, "ecdsa-sha2-nistp256");
    publickey_ok(k_p384, "ecdsa-sha2-nistp384");
    publickey_ok(k_p521, "ecdsa-sha2-nistp521");
    /* Our server lists rsa-sha2-512 first in server-sig-algs. */
    publickey_ok(k_rsa, "rsa-sha2-512");
}

static void
set_server_sig_algs(lsh_conn *c, const char *list)
{
    /* Test switch: what the server's EXT_INFO said (NULL: no EXT_INFO). */
    free(c->server_sig_algs);
    c->server_sig_algs = list ? strdup(list) : NULL;
}

static void
rsa_algorithm_follows_server_sig_algs(void **state)
{
    struct {
        const char *ssa;
        const char *expect;
        int server_allows_sha1;
        int ok;
    } cases[] = {
        {"ssh-ed25519,rsa-sha2-256", "rsa-sha2-256", 0, 1},
        {"rsa-sha2-256,rsa-sha2-512", "rsa-sha2-512", 0, 1},
        /* RFC 8332 §3.3: no server-sig-algs, ssh-rsa. */
        {NULL, "ssh-rsa", 1, 1},
        /* ...which our server refuses unless configured to allow it. */
        {NULL, "ssh-rsa", 0, 0},
    };
    lsh_buf blob;
    char alg[80];
    (void)state;
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_rsa, &blob), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx t;
        connect_pair(&t);
        t.allowed = k_rsa;
        t.signer = k_rsa;
        set_server_sig_algs(t.p.c, cases[i].ssa);
        if (cases[i].server_allows_sha1) {
            assert_int_equal(lsh_auth_server_set_sig_algs(
                                 t.p.s, "rsa-sha2-512,ssh-rsa"),
                             0);
        }
        assert_int_equal(lsh_auth_client_keyalg(t.p.c, lsh_buf_ptr(&blob),
                                                lsh_buf_len(&blob), alg,
                                                sizeof(alg)),
                         0);
        assert_string_equal(alg, cases[i].expect);
        start_as(&t, "alice");
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        if (cases[i].ok) {
            assert_int_equal(t.signs, 1);
            assert_string_equal(t.sign_alg, cases[i].expect);
            assert_int_equal(t.last_code, 0);
        } else {
            /* Refused by the layer at the query: no PK_OK, no event. */
            assert_int_equal(t.signs, 0);
            assert_int_equal(t.last_code, LSH_EAUTH);
            assert_string_equal(t.srv_log, "none/0 ");
        }
        pair_free(&t.p);
    }
    /* server-sig-algs without any RSA algorithm: nothing to offer. */
    {
        tctx t;
        connect_pair(&t);
        set_server_sig_algs(t.p.c, "ssh-ed25519");
        assert_int_equal(lsh_auth_client_keyalg(t.p.c, lsh_buf_ptr(&blob),
                                                lsh_buf_len(&blob), alg,
                                                sizeof(alg)),
                         LSH_ENOALG);
        assert_int_equal(lsh_auth_client_keyalg(t.p.c, lsh_buf_ptr(&blob),
                                                lsh_buf_len(&blob), alg, 4),
                         LSH_ENOALG);
        set_server_sig_algs(t.p.c, "rsa-sha2-256");
        assert_int_equal(lsh_auth_client_keyalg(t.p.c, lsh_buf_ptr(&blob),
                                                lsh_buf_len(&blob), alg, 4),
                         LSH_ETOOLARGE);
        pair_free(&t.p);
    }
    lsh_buf_free(&blob);
}

static void
certificate_algorithms(void **state)
{
    /* A certificate blob goes out as is; the algorithm and the signature
     * algorithm follow PROTOCOL.certkeys.  These fake certificates do not
     * parse, so our server refuses them with FAILURE and no event (real
     * ones: test_auth_cert.c). */
    static const char *const types[] = {
        "ssh-rsa-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com",
        "rsa-sha2-512",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i += 3) {
        tctx t;
        lsh_buf blob;
        char alg[80];
        connect_pair(&t);
        lsh_buf_init(&blob, 0);
        /* A fake certificate: type name, nonce, junk. */
        assert_int_equal(lsh_buf_put_cstring(&blob, types[i]), 0);
        assert_int_equal(lsh_buf_put_cstring(&blob, "nonce"), 0);
        assert_int_equal(lsh_buf_put_u32(&blob, 12345), 0);
        assert_int_equal(lsh_auth_client_keyalg(t.p.c, lsh_buf_ptr(&blob),
                                                lsh_buf_len(&blob), alg,
                                                sizeof(alg)),
                         0);
        assert_string_equal(alg, types[i + 1]);
        start_as(&t, "alice");
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        assert_string_equal(t.p.c->auth->cl.sigalg, types[i + 2]);
        pump(&t);
        assert_int_equal(t.last_code, LSH_EAUTH);
        assert_string_equal(t.srv_log, "none/0 ");
        assert_false(t.p.closed[0] || t.p.closed[1]);
        lsh_buf_free(&blob);
        pair_free(&t.p);
    }
}

static void
bad_signature_is_a_failure(void **state)
{
    lsh_buf blob;
    (void)state;
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &blob), 0);
    /* 1: the PK_OK path, signed with another key of the same type. */
    {
        tctx t;
        connect_pair(&t);
        t.allowed = k_ed25519;
        t.signer = k_other;
        start_as(&t, "alice");
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        assert_int_equal(t.signs, 1);
        assert_int_equal(t.sig_rc, 0);
        assert_int_equal(t.last_code, LSH_EAUTH);
        assert_false(is_authenticated(t.p.s));
        /* The server's caller saw only the query. */
        assert_string_equal(t.srv_log, "none/0 publickey/0 ");
        assert_int_equal(t.p.s->auth->sv.tries, 1);
        pair_free(&t.p);
    }
    /* 2: a signature naming another algorithm is refused by the client
     * and the state stays WAIT_SIGN. */
    {
        tctx t;
        connect_pair(&t);
        t.allowed = k_rsa;
        t.signer = k_rsa;
        t.sign_as = "rsa-sha2-256";
        start_as(&t, "alice");
        assert_int_equal(lsh_auth_client_publickey_sign_now(t.p.c, k_other,
                                                            NULL, NULL, 0),
                         0);
        pump(&t);
        assert_int_equal(t.last_code, LSH_EAUTH);
        lsh_buf_reset(&blob);
        assert_int_equal(lsh_key_to_blob(k_rsa, &blob), 0);
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        assert_int_equal(t.signs, 1);
        assert_int_equal(t.sig_rc, LSH_ENOALG);
        assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_WAIT_SIGN);
        assert_int_equal(lsh_auth_client_signature(t.p.c,
                                                   (const uint8_t *)"x", 1),
                         LSH_EINVAL);
        /* A proper signature still works afterwards. */
        {
            lsh_buf sig;
            size_t sidlen;
            lsh_buf_init(&sig, 0);
            (void)lsh_conn_session_id(t.p.c, &sidlen);
            assert_int_equal(
                lsh_key_sign(k_rsa, "rsa-sha2-512",
                             lsh_buf_ptr(&t.p.c->auth->cl.tosign),
                             lsh_buf_len(&t.p.c->auth->cl.tosign), &sig),
                0);
            assert_int_equal(lsh_auth_client_signature(t.p.c,
                                                       lsh_buf_ptr(&sig),
                                                       lsh_buf_len(&sig)),
                             0);
            lsh_buf_free(&sig);
        }
        pump(&t);
        assert_int_equal(t.last_code, 0);
        pair_free(&t.p);
    }
    /* 3: a key without a private half cannot sign now. */
    {
        tctx t;
        lsh_key *pub = lsh_key_public_copy(k_ed25519);
        connect_pair(&t);
        start_as(&t, "alice");
        assert_int_equal(lsh_auth_client_publickey_sign_now(t.p.c, pub,
                                                            NULL, NULL, 0),
                         LSH_EINVAL);
        lsh_key_free(pub);
        pair_free(&t.p);
    }
    lsh_buf_free(&blob);
}

static void
keyboard_interactive_two_rounds(void **state)
{
    tctx t;
    lsh_auth_prompts pr;
    const char *a1[] = {"secret", "123456"};
    const char *a2[] = {"blue"};
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, "pam"), 0);
    pump(&t);
    assert_int_equal(t.prompts, 1);
    assert_string_equal(t.prompt_name, "keyboard-interactive");
    assert_string_equal(t.prompt_text, "Login");
    assert_int_equal(t.prompt_num, 2);
    assert_string_equal(t.submethods, "pam");
    assert_int_equal(lsh_auth_client_prompts(t.p.c, &pr), 0);
    assert_string_equal(pr.name, "Login");
    assert_string_equal(pr.instruction, "Two steps");
    assert_int_equal(pr.n, 2);
    assert_string_equal(pr.prompts[0].text, "Password: ");
    assert_int_equal(pr.prompts[0].echo, 0);
    assert_string_equal(pr.prompts[1].text, "Token: ");
    assert_int_equal(pr.prompts[1].echo, 1);
    /* The count must match. */
    assert_int_equal(lsh_auth_client_responses(t.p.c, a1, 1), LSH_EINVAL);
    assert_int_equal(lsh_auth_client_responses(t.p.c, a1, 2), 0);
    pump(&t);
    assert_int_equal(t.prompts, 2);
    assert_int_equal(lsh_auth_client_prompts(t.p.c, &pr), 0);
    assert_string_equal(pr.name, "");
    assert_int_equal(pr.n, 1);
    assert_string_equal(pr.prompts[0].text, "Colour? ");
    assert_int_equal(pr.prompts[0].echo, 1);
    assert_int_equal(lsh_auth_client_responses(t.p.c, a2, 1), 0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    assert_string_equal(t.last_method, "keyboard-interactive");
    assert_string_equal(t.srv_log,
                        "none/0 keyboard-interactive/0 "
                        "keyboard-interactive/1 keyboard-interactive/1 ");
    /* Two response rounds with answers: two tries. */
    assert_int_equal(t.tries_at_success, 2);
    pair_free(&t.p);
}

static void
keyboard_interactive_abandoned_by_a_new_request(void **state)
{
    /* RFC 4252 §5.1: a new request aborts the exchange, no FAILURE. */
    tctx t;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_WAIT_RESPONSES);
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.results, 2);
    assert_int_equal(t.last_code, 0);
    assert_string_equal(t.last_method, "password");
    pair_free(&t.p);
}

static void
partial_success_needs_both_methods(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    t.two_factor = 1;
    t.allowed = k_p256;
    t.signer = k_p256;
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_publickey_sign_now(t.p.c, k_p256, NULL,
                                                        NULL, 0),
                     0);
    pump(&t);
    assert_int_equal(t.last_code, LSH_EAUTH);
    assert_int_equal(t.last_partial, 1);
    assert_string_equal(t.last_methods, "password");
    /* Methods that cannot continue now are refused by the layer. */
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(t.last_code, LSH_EAUTH);
    assert_int_equal(t.last_partial, 0);
    assert_string_equal(t.last_methods, "password");
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    assert_string_equal(t.srv_log, "none/0 publickey/1 password/0 ");
    pair_free(&t.p);
}

static void
banners_reach_the_client_sanitized(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    t.banner = "Welcome\r\n\x1b[31mred\x1b[0m\tok\n";
    start_as(&t, "alice");
    assert_int_equal(t.banners, 1);
    assert_string_equal(t.banner_text, "Welcome\r\n?[31mred?[0m\tok\n");
    assert_int_equal(t.banner_len, strlen(t.banner));
    /* Banners go both before and after other answers. */
    assert_int_equal(lsh_auth_server_banner(t.p.s, "second"), 0);
    pump(&t);
    assert_int_equal(t.banners, 2);
    assert_string_equal(t.banner_text, "second");
    assert_int_equal(lsh_auth_server_banner(t.p.c, "x"), LSH_ESTATE);
    /* A long banner: whole in data, truncated in text. */
    {
        char *big = malloc(5001);
        memset(big, 'b', 5000);
        big[5000] = '\0';
        assert_int_equal(lsh_auth_server_banner(t.p.s, big), 0);
        pump(&t);
        assert_int_equal(t.banner_len, 5000);
        assert_int_equal(strlen(t.banner_text), 511);
        free(big);
    }
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    /* After success a banner is dropped, not fatal. */
    {
        uint8_t msg[] = {LSH_MSG_USERAUTH_BANNER, 0, 0, 0, 1, 'x', 0, 0, 0, 0};
        inject(&t, 1, msg, sizeof(msg));
        assert_int_equal(t.banners, 3);
        assert_false(t.p.closed[0]);
    }
    pair_free(&t.p);
}

static void
banner_before_service_accept_is_refused(void **state)
{
    tctx t;
    uint8_t msg[] = {LSH_MSG_USERAUTH_BANNER, 0, 0, 0, 1, 'x', 0, 0, 0, 0};
    (void)state;
    connect_pair(&t);
    assert_int_equal(lsh_auth_server_banner(t.p.s, "hi"), LSH_ESTATE);
    inject(&t, 1, msg, sizeof(msg));
    assert_true(t.p.closed[0]);
    assert_int_equal(t.p.close_code[0], LSH_EUNEXPECTED);
    pair_free(&t.p);
}

static void
max_auth_tries_across_methods(void **state)
{
    /* P-5: password, a publickey signature and kbd-int responses all
     * count; none and queries do not.  The 6th failure disconnects. */
    tctx t;
    const char *bad[] = {"nope", "000000"};
    lsh_buf blob;
    (void)state;
    connect_pair(&t);
    t.allowed = k_p256;
    t.signer = k_other;
    start_as(&t, "alice");
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &blob), 0);
    for (int i = 0; i < 20; i++) { /* queries for a key not allowed */
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        assert_int_equal(t.last_code, LSH_EAUTH);
    }
    lsh_buf_free(&blob);
    assert_int_equal(t.p.s->auth->sv.tries, 0);
    assert_int_equal(lsh_auth_client_password(t.p.c, "a"), 0);       /* 1 */
    pump(&t);
    assert_int_equal(lsh_auth_client_publickey_sign_now(t.p.c, k_other,
                                                        NULL, NULL, 0),
                     0);                                             /* 2 */
    pump(&t);
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(lsh_auth_client_responses(t.p.c, bad, 2), 0);   /* 3 */
    pump(&t);
    assert_int_equal(lsh_auth_client_password(t.p.c, "b"), 0);       /* 4 */
    pump(&t);
    assert_int_equal(lsh_auth_client_password(t.p.c, "c"), 0);       /* 5 */
    pump(&t);
    assert_false(t.p.closed[0]);
    assert_int_equal(t.p.s->auth->sv.tries, 5);
    assert_int_equal(lsh_auth_client_password(t.p.c, "d"), 0);       /* 6 */
    pump(&t);
    assert_true(t.p.closed[0] && t.p.closed[1]);
    assert_int_equal(t.p.close_reason[0],
                     LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    assert_int_equal(t.p.close_code[1], LSH_EAUTH);
    pair_free(&t.p);
}

static void
max_auth_tries_in_one_kbdint_exchange(void **state)
{
    /* CVE-2015-5600: re-prompting inside keyboard-interactive does not
     * give more tries. */
    tctx t;
    const char *one[] = {"x"};
    static const char *const prompt[] = {"Password: "};
    static const int echo[] = {0};
    int i, rc;
    (void)state;
    connect_pair(&t);
    assert_int_equal(lsh_auth_server_set_max_tries(t.p.s, 3), 0);
    start_as(&t, "alice");
    t.manual = 1;
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL, prompt,
                                                  echo, 1),
                     0);
    pump(&t);
    for (i = 0; i < 10 && !t.p.closed[0]; i++) {
        assert_int_equal(lsh_auth_client_responses(t.p.c, one, 1), 0);
        pump(&t);
        rc = lsh_auth_server_info_request(t.p.s, NULL, NULL, prompt, echo,
                                          1);
        /* The third answer ends it: tries are used up. */
        assert_int_equal(rc, i < 2 ? 0 : LSH_EAUTH);
        pump(&t);
    }
    assert_int_equal(i, 3);
    assert_true(t.p.closed[0]);
    assert_int_equal(t.p.close_reason[0],
                     LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    pair_free(&t.p);
}

static void
oversized_password_is_refused_unseen(void **state)
{
    tctx t;
    char *big = malloc(LSH_AUTH_PASSWORD_MAX + 2);
    lsh_buf b;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    memset(big, 'p', LSH_AUTH_PASSWORD_MAX + 1);
    big[LSH_AUTH_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(lsh_auth_client_password(t.p.c, big), LSH_EINVAL);
    /* A peer that sends one anyway gets FAILURE without the caller. */
    lsh_buf_init(&b, 0);
    put_req(&b, "alice", "ssh-connection", "password");
    assert_int_equal(lsh_buf_put_bool(&b, 0), 0);
    assert_int_equal(lsh_buf_put_cstring(&b, big), 0);
    inject_to_server(&t, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_false(t.p.closed[1]);
    assert_string_equal(t.srv_log, "none/0 ");
    assert_int_equal(t.p.s->auth->sv.tries, 1);
    lsh_buf_free(&b);
    free(big);
    pair_free(&t.p);
}

static void
request_cap_counts_queries(void **state)
{
    tctx t;
    lsh_buf blob;
    int i;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice"); /* the "none" request is the first */
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &blob), 0);
    for (i = 1; i < LSH_AUTH_MAX_REQUESTS; i++) {
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        assert_false(t.p.closed[0]);
    }
    assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                               lsh_buf_ptr(&blob),
                                               lsh_buf_len(&blob)),
                     0);
    pump(&t);
    assert_true(t.p.closed[0]);
    assert_int_equal(t.p.close_reason[0],
                     LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    lsh_buf_free(&blob);
    pair_free(&t.p);
}

static void
user_or_service_change_disconnects(void **state)
{
    struct {
        const char *user, *service;
        uint32_t reason;
    } cases[] = {
        {"bob", "ssh-connection", LSH_DISCONNECT_PROTOCOL_ERROR},
        {"alice", "ssh-other", LSH_DISCONNECT_SERVICE_NOT_AVAILABLE},
        {"al\x1b" "ice", "ssh-connection", LSH_DISCONNECT_ILLEGAL_USER_NAME},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx t;
        lsh_buf b;
        connect_pair(&t);
        start_as(&t, "alice");
        lsh_buf_init(&b, 0);
        put_req(&b, cases[i].user, cases[i].service, "none");
        inject(&t, 0, lsh_buf_ptr(&b), lsh_buf_len(&b));
        assert_true(t.p.closed[1]);
        assert_int_equal(t.p.close_reason[0], cases[i].reason);
        assert_string_equal(t.srv_log, "none/0 ");
        lsh_buf_free(&b);
        pair_free(&t.p);
    }
    /* An overlong user name on the first request. */
    {
        tctx t;
        lsh_buf b;
        char user[LSH_AUTH_USER_MAX + 2];
        connect_pair(&t);
        memset(user, 'u', sizeof(user) - 1);
        user[sizeof(user) - 1] = '\0';
        assert_int_equal(lsh_auth_client_start(t.p.c, user, NULL),
                         LSH_EINVAL);
        assert_int_equal(lsh_conn_request_service(t.p.c, "ssh-userauth"), 0);
        pump(&t);
        lsh_buf_init(&b, 0);
        put_req(&b, user, "ssh-connection", "none");
        inject(&t, 0, lsh_buf_ptr(&b), lsh_buf_len(&b));
        assert_true(t.p.closed[1]);
        assert_int_equal(t.p.close_reason[0],
                         LSH_DISCONNECT_ILLEGAL_USER_NAME);
        lsh_buf_free(&b);
        pair_free(&t.p);
    }
}

static void
malformed_requests_disconnect(void **state)
{
    /* Truncated, trailing bytes, oversized fields. */
    int n_cases = 6;
    (void)state;
    for (int i = 0; i < n_cases; i++) {
        tctx t;
        lsh_buf b;
        char sub[LSH_AUTH_SUBMETHODS_MAX + 2];
        connect_pair(&t);
        start_as(&t, "alice");
        lsh_buf_init(&b, 0);
        switch (i) {
        case 0: /* truncated password request */
            put_req(&b, "alice", "ssh-connection", "password");
            assert_int_equal(lsh_buf_put_bool(&b, 0), 0);
            break;
        case 1: /* trailing byte after none */
            put_req(&b, "alice", "ssh-connection", "none");
            assert_int_equal(lsh_buf_put_u8(&b, 0), 0);
            break;
        case 2: /* submethods over the cap (CVE-2015-5600) */
            memset(sub, 'a', sizeof(sub) - 1);
            sub[sizeof(sub) - 1] = '\0';
            put_req(&b, "alice", "ssh-connection", "keyboard-interactive");
            assert_int_equal(lsh_buf_put_cstring(&b, ""), 0);
            assert_int_equal(lsh_buf_put_cstring(&b, sub), 0);
            break;
        case 3: /* publickey without its blob */
            put_req(&b, "alice", "ssh-connection", "publickey");
            assert_int_equal(lsh_buf_put_bool(&b, 0), 0);
            assert_int_equal(lsh_buf_put_cstring(&b, "ssh-ed25519"), 0);
            break;
        case 4: /* a truncated header */
            assert_int_equal(lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_REQUEST), 0);
            assert_int_equal(lsh_buf_put_cstring(&b, "alice"), 0);
            break;
        case 5: /* a message number of the server */
            assert_int_equal(lsh_buf_put_u8(&b, 60), 0);
            assert_int_equal(lsh_buf_put_u32(&b, 0), 0);
            break;
        }
        inject(&t, 0, lsh_buf_ptr(&b), lsh_buf_len(&b));
        assert_true(t.p.closed[1]);
        assert_int_equal(t.p.close_reason[0], LSH_DISCONNECT_PROTOCOL_ERROR);
        lsh_buf_free(&b);
        pair_free(&t.p);
    }
}

static void
kbdint_wrong_response_count_disconnects(void **state)
{
    tctx t;
    uint8_t one[] = {LSH_MSG_USERAUTH_INFO_RESPONSE, 0, 0, 0, 1,
                     0, 0, 0, 1, 'x'};
    uint8_t zero[] = {LSH_MSG_USERAUTH_INFO_RESPONSE, 0, 0, 0, 0};
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(t.prompt_num, 2);
    inject(&t, 0, one, sizeof(one));
    assert_true(t.p.closed[1]);
    assert_int_equal(t.p.close_reason[0], LSH_DISCONNECT_PROTOCOL_ERROR);
    pair_free(&t.p);
    /* An INFO_RESPONSE nobody asked for. */
    connect_pair(&t);
    start_as(&t, "alice");
    inject(&t, 0, zero, sizeof(zero));
    assert_true(t.p.closed[1]);
    assert_int_equal(t.p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&t.p);
}

static void
userauth_success_from_client_disconnects(void **state)
{
    /* CVE-2018-10933, in every server state of this layer. */
    (void)state;
    for (int when = 0; when < 3; when++) {
        tctx t;
        uint8_t msg[1] = {LSH_MSG_USERAUTH_SUCCESS};
        connect_pair(&t);
        if (when >= 1) {
            start_as(&t, "alice");
        }
        if (when == 2) {
            t.manual = 1;
            assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
            pump(&t); /* a request pending at the server */
        }
        inject(&t, 0, msg, 1);
        assert_true(t.p.closed[1]);
        assert_int_equal(t.p.close_code[1], LSH_EUNEXPECTED);
        assert_false(is_authenticated(t.p.s));
        pair_free(&t.p);
    }
}

static void
client_rejects_answers_it_did_not_ask_for(void **state)
{
    /* SUCCESS, FAILURE and 60 with no request out; PK_OK to a password
     * request is a PASSWD_CHANGEREQ; PK_OK for another key; 61. */
    uint8_t success[] = {LSH_MSG_USERAUTH_SUCCESS};
    uint8_t failure[] = {LSH_MSG_USERAUTH_FAILURE, 0, 0, 0, 0, 0};
    uint8_t sixty[] = {60, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t info_resp[] = {61, 0, 0, 0, 0};
    const uint8_t *msgs[] = {success, failure, sixty, info_resp};
    size_t lens[] = {sizeof(success), sizeof(failure), sizeof(sixty),
                     sizeof(info_resp)};
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        tctx t;
        connect_pair(&t);
        start_as(&t, "alice");
        inject(&t, 1, msgs[i], lens[i]);
        assert_true(t.p.closed[0]);
        assert_false(is_authenticated(t.p.c));
        pair_free(&t.p);
    }
    {
        /* PK_OK for a key we did not offer. */
        tctx t;
        lsh_buf blob, m;
        connect_pair(&t);
        start_as(&t, "alice");
        t.manual = 1;
        lsh_buf_init(&blob, 0);
        lsh_buf_init(&m, 0);
        assert_int_equal(lsh_key_to_blob(k_ed25519, &blob), 0);
        assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                   lsh_buf_ptr(&blob),
                                                   lsh_buf_len(&blob)),
                         0);
        pump(&t);
        lsh_buf_reset(&blob);
        assert_int_equal(lsh_key_to_blob(k_other, &blob), 0);
        assert_int_equal(lsh_buf_put_u8(&m, 60), 0);
        assert_int_equal(lsh_buf_put_cstring(&m, "ssh-ed25519"), 0);
        assert_int_equal(lsh_buf_put_stringb(&m, &blob), 0);
        inject(&t, 1, lsh_buf_ptr(&m), lsh_buf_len(&m));
        assert_true(t.p.closed[0]);
        assert_int_equal(t.p.close_code[0], LSH_EPROTOCOL);
        lsh_buf_free(&blob);
        lsh_buf_free(&m);
        pair_free(&t.p);
    }
    {
        /* An INFO_REQUEST with 0xFFFFFFFF prompts (libssh2 CVE-2019-3863). */
        tctx t;
        uint8_t huge[] = {60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          0xff, 0xff, 0xff, 0xff};
        connect_pair(&t);
        start_as(&t, "alice");
        t.manual = 1;
        assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
        pump(&t);
        inject(&t, 1, huge, sizeof(huge));
        assert_true(t.p.closed[0]);
        assert_int_equal(t.p.close_reason[1], LSH_DISCONNECT_PROTOCOL_ERROR);
        pair_free(&t.p);
    }
}

static void
client_rejects_malformed_answers(void **state)
{
    /* method: the request out when the message arrives. */
    static const struct {
        const char *method;
        uint8_t msg[24];
        size_t len;
    } cases[] = {
        {"password", {51, 0, 0, 0, 5, 'a'}, 6},             /* truncated */
        {"password", {51, 0, 0, 0, 1, 'a', 0, 9}, 8},       /* trailing */
        {"password", {52, 0}, 2},                           /* trailing */
        {"password", {53, 0, 0, 0, 9}, 5},                  /* truncated */
        {"password", {60, 0, 0, 0, 1}, 5},                  /* CHANGEREQ */
        {"password", {60, 0, 0, 0, 1, 'p', 0, 0, 0, 0, 1}, 11},
        {"publickey", {60, 0, 0, 0, 3, 'a', 'b', 'c'}, 8},  /* PK_OK */
        /* INFO_REQUEST: one prompt without its echo flag; trailing. */
        {"keyboard-interactive",
         {60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
          'p'},
         22},
        {"keyboard-interactive",
         {60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}, 18},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tctx t;
        lsh_buf blob;
        connect_pair(&t);
        start_as(&t, "alice");
        t.manual = 1;
        lsh_buf_init(&blob, 0);
        assert_int_equal(lsh_key_to_blob(k_ed25519, &blob), 0);
        if (strcmp(cases[i].method, "password") == 0) {
            assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
        } else if (strcmp(cases[i].method, "publickey") == 0) {
            assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                                       lsh_buf_ptr(&blob),
                                                       lsh_buf_len(&blob)),
                             0);
        } else {
            assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
        }
        pump(&t);
        inject(&t, 1, cases[i].msg, cases[i].len);
        assert_true(t.p.closed[0]);
        assert_int_equal(t.p.close_code[0], LSH_EBADPACKET);
        assert_int_equal(t.p.close_reason[1], LSH_DISCONNECT_PROTOCOL_ERROR);
        lsh_buf_free(&blob);
        pair_free(&t.p);
    }
}

static void
explicit_key_algorithm_and_service_request(void **state)
{
    tctx t;
    lsh_buf blob;
    (void)state;
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_rsa, &blob), 0);
    connect_pair(&t);
    t.allowed = k_rsa;
    t.signer = k_rsa;
    /* The caller requested the service itself and it was accepted:
     * "none" goes out at once. */
    assert_int_equal(lsh_conn_request_service(t.p.c, "ssh-userauth"), 0);
    pump(&t);
    assert_int_equal(t.p.service_accept, 1);
    assert_int_equal(lsh_auth_client_start(t.p.c, "alice", "ssh-connection"),
                     0);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_WAIT_REPLY);
    pump(&t);
    assert_int_equal(t.results, 1);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, "bad name",
                                               lsh_buf_ptr(&blob),
                                               lsh_buf_len(&blob)),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, "",
                                               lsh_buf_ptr(&blob),
                                               lsh_buf_len(&blob)),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, "rsa-sha2-256",
                                               lsh_buf_ptr(&blob), 3),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, "rsa-sha2-256",
                                               lsh_buf_ptr(&blob),
                                               lsh_buf_len(&blob)),
                     0);
    pump(&t);
    assert_string_equal(t.sign_alg, "rsa-sha2-256");
    assert_int_equal(t.last_code, 0);
    pair_free(&t.p);
    /* Another service requested first: the layer cannot start. */
    connect_pair(&t);
    assert_int_equal(lsh_conn_request_service(t.p.c, "ssh-connection"), 0);
    assert_int_equal(lsh_auth_client_start(t.p.c, "alice", NULL),
                     LSH_ESTATE);
    pair_free(&t.p);
    /* A signing key that does not make the requested algorithm. */
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_publickey_sign_now(t.p.c, k_ed25519,
                                                        "rsa-sha2-256",
                                                        NULL, 0),
                     LSH_ENOALG);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_READY);
    pair_free(&t.p);
    lsh_buf_free(&blob);
}

static void
server_answers_are_checked(void **state)
{
    static const char *const empty[] = {""};
    static const char *const one[] = {"Password: "};
    static const int echo[] = {0};
    const char *many[LSH_AUTH_PROMPTS_MAX + 1];
    int echoes[LSH_AUTH_PROMPTS_MAX + 1] = {0};
    char *big = malloc(LSH_AUTH_BANNER_MAX + 2);
    tctx t;
    lsh_buf b;
    (void)state;
    memset(big, 'x', LSH_AUTH_BANNER_MAX + 1);
    big[LSH_AUTH_BANNER_MAX + 1] = '\0';
    for (size_t i = 0; i <= LSH_AUTH_PROMPTS_MAX; i++) {
        many[i] = "p";
    }
    connect_pair(&t);
    start_as(&t, "alice");
    t.manual = 1;
    assert_int_equal(lsh_auth_server_banner(t.p.s, big), LSH_EINVAL);
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL, empty,
                                                  echo, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL, many,
                                                  echoes,
                                                  LSH_AUTH_PROMPTS_MAX + 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, big, NULL, one,
                                                  echo, 1),
                     LSH_EINVAL);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL, one,
                                                  echo, 1),
                     0);
    pump(&t);
    /* A response over LSH_AUTH_PASSWORD_MAX: FAILURE from the layer,
     * counted, without an event (the client is told nothing else). */
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_INFO_RESPONSE), 0);
    assert_int_equal(lsh_buf_put_u32(&b, 1), 0);
    assert_int_equal(lsh_buf_put_string(&b, big, LSH_AUTH_PASSWORD_MAX + 1),
                     0);
    inject_to_server(&t, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_false(t.p.closed[1]);
    assert_int_equal(t.p.s->auth->sv.tries, 1);
    assert_string_equal(t.srv_log, "none/0 keyboard-interactive/0 ");
    lsh_buf_free(&b);
    pair_free(&t.p);
    /* A truncated INFO_RESPONSE disconnects. */
    connect_pair(&t);
    start_as(&t, "alice");
    t.manual = 1;
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), 0);
    pump(&t);
    assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL, one,
                                                  echo, 1),
                     0);
    pump(&t);
    {
        uint8_t msg[] = {LSH_MSG_USERAUTH_INFO_RESPONSE, 0, 0, 0, 1, 0, 0, 0,
                         9, 'x'};
        inject(&t, 0, msg, sizeof(msg));
    }
    assert_true(t.p.closed[1]);
    assert_int_equal(t.p.close_code[1], LSH_EBADPACKET);
    pair_free(&t.p);
    /* The key algorithm must suit the key. */
    connect_pair(&t);
    start_as(&t, "alice");
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_key_to_blob(k_ed25519, &b), 0);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, "ecdsa-sha2-nistp256",
                                               lsh_buf_ptr(&b),
                                               lsh_buf_len(&b)),
                     0);
    pump(&t);
    assert_int_equal(t.last_code, LSH_EAUTH);
    assert_string_equal(t.srv_log, "none/0 ");
    assert_int_equal(lsh_auth_server_passwd_changereq(t.p.s, big),
                     LSH_ESTATE);
    lsh_buf_free(&b);
    pair_free(&t.p);
    free(big);
}

static void
queued_requests_are_answered_in_order(void **state)
{
    /* RFC 4252 §5.1: pipelined requests are processed one by one. */
    tctx t;
    lsh_buf b;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    t.manual = 1;
    for (int i = 0; i < 3; i++) {
        lsh_buf_init(&b, 0);
        put_req(&b, "alice", "ssh-connection", "password");
        assert_int_equal(lsh_buf_put_bool(&b, 0), 0);
        assert_int_equal(lsh_buf_put_cstring(&b, i == 2 ? "secret" : "no"),
                         0);
        assert_int_equal(lsh__conn_send_now(t.p.c, lsh_buf_ptr(&b),
                                            lsh_buf_len(&b)),
                         0);
        lsh_buf_free(&b);
    }
    pump(&t);
    assert_int_equal(t.srv_requests, 2); /* none + the first password */
    {
        lsh_auth_request rq;
        assert_int_equal(lsh_auth_server_request(t.p.s, &rq), 0);
        assert_string_equal(rq.password, "no");
        assert_int_equal(lsh_auth_server_reject(t.p.s, NULL, 0), 0);
        drain_server(&t);
        assert_int_equal(lsh_auth_server_request(t.p.s, &rq), 0);
        assert_string_equal(rq.password, "no");
        assert_int_equal(lsh_auth_server_reject(t.p.s, NULL, 0), 0);
        drain_server(&t);
        assert_int_equal(lsh_auth_server_request(t.p.s, &rq), 0);
        assert_string_equal(rq.password, "secret");
        /* The answers that do not fit the request are refused. */
        assert_int_equal(lsh_auth_server_pk_ok(t.p.s), LSH_ESTATE);
        assert_int_equal(lsh_auth_server_info_request(t.p.s, NULL, NULL,
                                                      NULL, NULL, 0),
                         LSH_ESTATE);
        assert_int_equal(lsh_auth_server_accept(t.p.s), 0);
        assert_int_equal(lsh_auth_server_request(t.p.s, &rq), LSH_ESTATE);
    }
    assert_int_equal(t.srv_requests, 4);
    pair_free(&t.p);
    /* More than LSH_AUTH_QUEUE waiting: disconnect. */
    connect_pair(&t);
    start_as(&t, "alice");
    t.manual = 1;
    for (int i = 0; i < LSH_AUTH_QUEUE + 2; i++) {
        lsh_buf_init(&b, 0);
        put_req(&b, "alice", "ssh-connection", "password");
        assert_int_equal(lsh_buf_put_bool(&b, 0), 0);
        assert_int_equal(lsh_buf_put_cstring(&b, "no"), 0);
        assert_int_equal(lsh__conn_send_now(t.p.c, lsh_buf_ptr(&b),
                                            lsh_buf_len(&b)),
                         0);
        lsh_buf_free(&b);
    }
    pump(&t);
    assert_true(t.p.closed[1]);
    pair_free(&t.p);
}

static void
publickey_query_cannot_be_accepted(void **state)
{
    /* Go CVE-2024-45337: a query is not proof of possession. */
    tctx t;
    lsh_buf blob;
    lsh_auth_request rq;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    t.manual = 1;
    lsh_buf_init(&blob, 0);
    assert_int_equal(lsh_key_to_blob(k_p384, &blob), 0);
    assert_int_equal(lsh_auth_client_publickey(t.p.c, NULL,
                                               lsh_buf_ptr(&blob),
                                               lsh_buf_len(&blob)),
                     0);
    pump(&t);
    assert_int_equal(lsh_auth_server_request(t.p.s, &rq), 0);
    assert_int_equal(rq.phase, 0);
    assert_int_equal(rq.signature_verified, 0);
    assert_string_equal(rq.key_alg, "ecdsa-sha2-nistp384");
    assert_int_equal(rq.key_blob_len, lsh_buf_len(&blob));
    assert_memory_equal(rq.key_blob, lsh_buf_ptr(&blob), rq.key_blob_len);
    assert_true(lsh_key_equal_public(rq.key, k_p384));
    assert_int_equal(lsh_auth_server_accept(t.p.s), LSH_ESTATE);
    assert_int_equal(lsh_auth_server_passwd_changereq(t.p.s, "x"),
                     LSH_ESTATE);
    assert_int_equal(lsh_auth_server_reject(t.p.s, "bad,", 0), LSH_EINVAL);
    assert_int_equal(lsh_auth_server_reject(t.p.s, NULL, 0), 0);
    pump(&t);
    assert_int_equal(t.last_code, LSH_EAUTH);
    lsh_buf_free(&blob);
    pair_free(&t.p);
}

/* Counts upper-layer message 120 (unassigned: no layer handles it). */
static int
got_message(const pair *p, int side, const uint8_t *msg, size_t n)
{
    return p->gotlen[side] == n && memcmp(p->got[side], msg, n) == 0;
}

static void
after_success_connection_messages_pass(void **state)
{
    tctx t;
    uint8_t msg[64] = {120, 1, 2, 3};
    lsh_buf b;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    assert_int_equal(lsh_conn_send(t.p.c, msg, sizeof(msg)), 0);
    assert_int_equal(lsh_conn_send(t.p.s, msg, sizeof(msg)), 0);
    pump(&t);
    assert_true(got_message(&t.p, 1, msg, sizeof(msg)));
    assert_true(got_message(&t.p, 0, msg, sizeof(msg)));
    /* A late request is ignored (RFC 4252 §5.1), not fatal. */
    lsh_buf_init(&b, 0);
    put_req(&b, "mallory", "ssh-connection", "none");
    inject(&t, 0, lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    assert_false(t.p.closed[0] || t.p.closed[1]);
    assert_int_equal(t.srv_requests, 2);
    pair_free(&t.p);
}

static void
exchange_after_auth(tctx *t)
{
    enum { N = 30000 };
    uint8_t *msg = malloc(N);
    lsh_conn_stats before, after;
    memset(msg, 'a', N);
    msg[0] = 120;
    for (int dir = 0; dir < 2; dir++) {
        lsh_conn *from = dir == 0 ? t->p.c : t->p.s;
        lsh_conn_get_stats(from, &before);
        assert_int_equal(lsh_conn_send(from, msg, N), 0);
        pump(t);
        lsh_conn_get_stats(from, &after);
        assert_true(got_message(&t->p, dir == 0 ? 1 : 0, msg, N));
        /* Compressed: far fewer bytes than the message on the wire. */
        assert_true(after.bytes_out - before.bytes_out < N / 10);
    }
    assert_false(t->p.closed[0] || t->p.closed[1]);
    free(msg);
}

static void
delayed_compression_starts_at_success(void **state)
{
    tctx t;
    pair_opts o = {.host_key = k_host, .comp = "zlib@openssh.com"};
    (void)state;
    connect_opts(&t, &o);
    assert_string_equal(lsh_conn_info(t.p.c, LSH_INFO_COMP_C2S),
                        "zlib@openssh.com");
    assert_string_equal(lsh_conn_info(t.p.s, LSH_INFO_COMP_S2C),
                        "zlib@openssh.com");
    start_as(&t, "alice");
    assert_false(t.p.c->tx.authenticated || t.p.s->tx.authenticated);
    assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
    pump(&t);
    assert_int_equal(t.last_code, 0);
    assert_true(t.p.c->tx.authenticated && t.p.c->rx.authenticated);
    assert_true(t.p.s->tx.authenticated && t.p.s->rx.authenticated);
    exchange_after_auth(&t);
    pair_free(&t.p);
}

static void
success_during_rekey_waits_for_its_end(void **state)
{
    /* The caller accepts while a key exchange runs: SUCCESS waits in the
     * held queue until the exchange ends, and compression starts there
     * on both sides. */
    (void)state;
    for (int who = 0; who < 2; who++) {
        tctx t;
        pair_opts o = {.host_key = k_host, .comp = "zlib@openssh.com"};
        connect_opts(&t, &o);
        start_as(&t, "alice");
        t.manual = 1;
        assert_int_equal(lsh_auth_client_password(t.p.c, "secret"), 0);
        pump(&t);
        assert_int_equal(lsh_conn_rekey(who == 0 ? t.p.s : t.p.c), 0);
        /* Move the exchange forward one step at a time and accept in the
         * middle of it. */
        pair_move(&t.p, who == 0 ? 1 : 0, 65536);
        assert_int_equal(lsh_auth_server_accept(t.p.s), 0);
        assert_false(is_authenticated(t.p.s));
        pump(&t);
        assert_int_equal(t.p.kex_done[0], 2);
        assert_int_equal(t.p.kex_done[1], 2);
        assert_int_equal(t.last_code, 0);
        assert_true(is_authenticated(t.p.s) && is_authenticated(t.p.c));
        exchange_after_auth(&t);
        pair_free(&t.p);
    }
}

static void
service_may_be_requested_again_before_success(void **state)
{
    /* paramiko sends SERVICE_REQUEST ssh-userauth before each attempt;
     * OpenSSH's sshd accepts every one, and so do we. */
    tctx t;
    lsh_buf b;
    (void)state;
    connect_pair(&t);
    start_as(&t, "alice");
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, LSH_MSG_SERVICE_REQUEST), 0);
    assert_int_equal(lsh_buf_put_cstring(&b, "ssh-userauth"), 0);
    inject_to_server(&t, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_false(t.p.closed[1]);
    assert_int_equal(t.p.service_request, 2);
    lsh_buf_free(&b);
    pair_free(&t.p);
}

static void
client_calls_need_their_state(void **state)
{
    tctx t;
    (void)state;
    connect_pair(&t);
    assert_int_equal(lsh_auth_client_password(t.p.c, "x"), LSH_ESTATE);
    assert_int_equal(lsh_auth_client_signature(t.p.c, (const uint8_t *)"x",
                                               1),
                     LSH_ESTATE);
    assert_int_equal(lsh_auth_client_responses(t.p.c, NULL, 0), LSH_ESTATE);
    assert_int_equal(lsh_auth_server_accept(t.p.s), LSH_ESTATE);
    assert_int_equal(lsh_auth_server_request(t.p.s, NULL), LSH_ESTATE);
    assert_int_equal(lsh_auth_client_start(t.p.c, "alice", ""), LSH_EINVAL);
    /* Starting requests the service; "none" follows its acceptance. */
    assert_int_equal(lsh_auth_client_start(t.p.c, "alice", NULL), 0);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_WAIT_SERVICE);
    assert_int_equal(lsh_auth_client_kbdint(t.p.c, NULL), LSH_ESTATE);
    pump(&t);
    assert_int_equal(lsh_auth_client_state(t.p.c), LSH_AUTH_C_READY);
    lsh_conn_disconnect(t.p.c, 0, "bye");
    assert_int_equal(lsh_auth_client_password(t.p.c, "x"), LSH_ECLOSED);
    pair_free(&t.p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(none_lists_the_methods),
        cmocka_unit_test(server_method_list_is_configurable),
        cmocka_unit_test(password_right_and_wrong),
        cmocka_unit_test(invalid_user_gets_the_same_answers),
        cmocka_unit_test(password_change_round_trip),
        cmocka_unit_test(publickey_each_key_type),
        cmocka_unit_test(rsa_algorithm_follows_server_sig_algs),
        cmocka_unit_test(certificate_algorithms),
        cmocka_unit_test(bad_signature_is_a_failure),
        cmocka_unit_test(keyboard_interactive_two_rounds),
        cmocka_unit_test(keyboard_interactive_abandoned_by_a_new_request),
        cmocka_unit_test(partial_success_needs_both_methods),
        cmocka_unit_test(banners_reach_the_client_sanitized),
        cmocka_unit_test(banner_before_service_accept_is_refused),
        cmocka_unit_test(max_auth_tries_across_methods),
        cmocka_unit_test(max_auth_tries_in_one_kbdint_exchange),
        cmocka_unit_test(oversized_password_is_refused_unseen),
        cmocka_unit_test(request_cap_counts_queries),
        cmocka_unit_test(user_or_service_change_disconnects),
        cmocka_unit_test(malformed_requests_disconnect),
        cmocka_unit_test(kbdint_wrong_response_count_disconnects),
        cmocka_unit_test(userauth_success_from_client_disconnects),
        cmocka_unit_test(client_rejects_answers_it_did_not_ask_for),
        cmocka_unit_test(client_rejects_malformed_answers),
        cmocka_unit_test(explicit_key_algorithm_and_service_request),
        cmocka_unit_test(server_answers_are_checked),
        cmocka_unit_test(queued_requests_are_answered_in_order),
        cmocka_unit_test(publickey_query_cannot_be_accepted),
        cmocka_unit_test(after_success_connection_messages_pass),
        cmocka_unit_test(delayed_compression_starts_at_success),
        cmocka_unit_test(success_during_rekey_waits_for_its_end),
        cmocka_unit_test(service_may_be_requested_again_before_success),
        cmocka_unit_test(client_calls_need_their_state),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
