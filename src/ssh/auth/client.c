/*
 * IMPLEMENTATION NOTES
 *
 * The client side of user authentication (RFC 4252, RFC 4256).  One
 * request is out at a time (RFC 4252 §5.1: "A client MUST NOT send a
 * subsequent request if it has not received a response"), so `method`
 * always names the request the server's next answer belongs to, and the
 * method-specific message 60 is read by it: PK_OK for a publickey query,
 * PASSWD_CHANGEREQ for password, INFO_REQUEST for keyboard-interactive.
 * Anything else is a protocol error.
 *
 * For publickey the layer keeps `tosign` = string session_id || the
 * request up to the signature (RFC 4252 §7); the request itself is that
 * buffer without its first string, so the signed and the sent bytes
 * cannot differ.
 *
 * USERAUTH_SUCCESS calls lsh_conn_set_authenticated before anything
 * else is decoded: the server compresses (zlib@openssh.com) from the
 * packet after SUCCESS on, and our own next packet must be compressed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "ssh/auth/auth_internal.h"

static const char CERT_SUFFIX[] = "-cert-v01@openssh.com";

static int plain_sigalg(const char *keyalg, char *out, size_t outlen);

void
lsh__auth_client_init(auth_client *cl)
{
    lsh_buf_init(&cl->blob, LSH_AUTH_BLOB_MAX);
    lsh_buf_init(&cl->tosign, LSH_PKT_MAX);
    lsh_buf_init(&cl->banner, LSH_AUTH_BANNER_MAX);
    lsh_buf_init(&cl->arena, LSH_PKT_MAX);
}

/* Forgets the prompts of the last INFO_REQUEST. */
static void
free_prompts(auth_client *cl)
{
    free(cl->prompt_at);
    free(cl->echo);
    free(cl->view);
    cl->prompt_at = NULL;
    cl->echo = NULL;
    cl->view = NULL;
    cl->n_prompts = 0;
}

void
lsh__auth_client_free(auth_client *cl)
{
    lsh_buf_free(&cl->blob);
    lsh_buf_free(&cl->tosign);
    lsh_buf_free(&cl->banner);
    lsh_buf_free(&cl->arena);
    free_prompts(cl);
    free(cl->methods);
    free(cl->user);
    free(cl->service);
    cl->methods = cl->user = cl->service = NULL;
}

enum lsh_auth_client_state
lsh_auth_client_state(const lsh_conn *c)
{
    if (c->role != LSH_ROLE_CLIENT) {
        return LSH_AUTH_C_IDLE;
    }
    if (c->auth_finished) {
        return LSH_AUTH_C_DONE;
    }
    if (c->auth == NULL) {
        return LSH_AUTH_C_IDLE;
    }
    return c->auth->cl.st;
}

/* Common checks of the calls: 0 and *out, or an error. */
static int
client_of(lsh_conn *c, auth_client **out)
{
    if (c->closed) {
        return c->err ? c->err : LSH_ECLOSED;
    }
    /* Done: every call is out of place (the state is gone). */
    if (c->role != LSH_ROLE_CLIENT || c->auth_finished) {
        return LSH_ESTATE;
    }
    if (lsh__auth_state(c) == NULL) {
        return LSH_ENOMEM;
    }
    *out = &c->auth->cl;
    return 0;
}

/* RFC 4252 §5: a new request is allowed once the last one was answered;
 * it abandons a method that was waiting for more from us. */
static int
request_allowed(lsh_conn *c, auth_client **out)
{
    int r = client_of(c, out);
    if (r != 0) {
        return r;
    }
    switch ((*out)->st) {
    case LSH_AUTH_C_READY:
    case LSH_AUTH_C_WAIT_SIGN:
    case LSH_AUTH_C_WAIT_RESPONSES:
    case LSH_AUTH_C_WAIT_PASSWORD:
        return 0;
    default:
        return LSH_ESTATE;
    }
}

static int
put_header(lsh_buf *b, const auth_client *cl, const char *method)
{
    int r;
    if ((r = lsh_buf_put_u8(b, LSH_MSG_USERAUTH_REQUEST)) != 0 ||
        (r = lsh_buf_put_cstring(b, cl->user)) != 0 ||
        (r = lsh_buf_put_cstring(b, cl->service)) != 0 ||
        (r = lsh_buf_put_cstring(b, method)) != 0) {
        return r;
    }
    return 0;
}

/* Sends the request in b (freed) and waits for its answer. */
static int
send_request(lsh_conn *c, auth_client *cl, lsh_buf *b, const char *method,
             int pk_signed)
{
    int r = lsh__auth_send(c, b);
    if (r != 0) {
        return r;
    }
    cl->method = method;
    cl->pk_signed = pk_signed;
    cl->st = LSH_AUTH_C_WAIT_REPLY;
    lsh_buf_reset(&cl->arena);
    free_prompts(cl);
    return 0;
}

static int
send_none(lsh_conn *c, auth_client *cl)
{
    lsh_buf b;
    int r;
    lsh_buf_init(&b, 1024);
    if ((r = put_header(&b, cl, "none")) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "none", 0);
}

int
lsh_auth_client_start(lsh_conn *c, const char *user, const char *service)
{
    auth_client *cl;
    int r;
    if ((r = client_of(c, &cl)) != 0) {
        return r;
    }
    if (cl->st != LSH_AUTH_C_IDLE) {
        return LSH_ESTATE;
    }
    if (service == NULL) {
        service = "ssh-connection";
    }
    if (user == NULL || strlen(user) > LSH_AUTH_USER_MAX ||
        service[0] == '\0' || strlen(service) > LSH_AUTH_NAME_MAX) {
        return LSH_EINVAL;
    }
    if (c->service_requested && strcmp(c->service, "ssh-userauth") != 0) {
        /* The caller asked for another service itself. */
        return LSH_ESTATE;
    }
    free(cl->user);
    free(cl->service);
    cl->user = strdup(user);
    cl->service = strdup(service);
    if (cl->user == NULL || cl->service == NULL) {
        return LSH_ENOMEM; /* still IDLE: start may be called again */
    }
    if (!c->service_requested &&
        (r = lsh_conn_request_service(c, "ssh-userauth")) != 0) {
        return r;
    }
    cl->st = LSH_AUTH_C_WAIT_SERVICE;
    if (c->service_accepted) {
        return send_none(c, cl);
    }
    return 0;
}

/* conn.c: SERVICE_ACCEPT arrived (RFC 4253 §10). */
int
lsh__auth_on_service_accept(lsh_conn *c)
{
    if (c->role != LSH_ROLE_CLIENT || c->auth == NULL ||
        c->auth->cl.st != LSH_AUTH_C_WAIT_SERVICE) {
        return 0;
    }
    return send_none(c, &c->auth->cl);
}

/* Password (RFC 4252 §8) */

static int
password_request(lsh_conn *c, const char *old_pw, const char *new_pw)
{
    auth_client *cl;
    lsh_buf b;
    int r;
    if ((r = request_allowed(c, &cl)) != 0) {
        return r;
    }
    if (old_pw == NULL || strlen(old_pw) > LSH_AUTH_PASSWORD_MAX ||
        (new_pw != NULL && strlen(new_pw) > LSH_AUTH_PASSWORD_MAX)) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&b, 4096);
    if ((r = put_header(&b, cl, "password")) != 0 ||
        (r = lsh_buf_put_bool(&b, new_pw != NULL)) != 0 ||
        (r = lsh_buf_put_cstring(&b, old_pw)) != 0 ||
        (new_pw != NULL && (r = lsh_buf_put_cstring(&b, new_pw)) != 0)) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "password", 0);
}

int
lsh_auth_client_password(lsh_conn *c, const char *password)
{
    return password_request(c, password, NULL);
}

int
lsh_auth_client_password_change(lsh_conn *c, const char *old_password,
                                const char *new_password)
{
    if (new_password == NULL) {
        return LSH_EINVAL;
    }
    return password_request(c, old_password, new_password);
}

/* Publickey (RFC 4252 §7, RFC 8332, RFC 8308 §3.1) */

static int
ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int
lsh_auth_client_keyalg(const lsh_conn *c, const uint8_t *blob, size_t n,
                       char *out, size_t outlen)
{
    static const char *const rsa_pref[] = {"rsa-sha2-512", "rsa-sha2-256",
                                           "ssh-rsa"};
    const uint8_t *name;
    size_t nl;
    lsh_rd rd;
    const char *ssa, *pick = NULL;
    char plain[LSH_AUTH_NAME_MAX + 1];
    int cert, w;

    lsh_rd_init(&rd, blob, n);
    if (blob == NULL || lsh_rd_text(&rd, &name, &nl) != 0 || nl == 0 ||
        nl > LSH_AUTH_NAME_MAX) {
        return LSH_EINVAL;
    }
    cert = ends_with((const char *)name, nl, CERT_SUFFIX);
    if (!((nl == 7 && memcmp(name, "ssh-rsa", 7) == 0) ||
          (cert && nl == 7 + strlen(CERT_SUFFIX) &&
           memcmp(name, "ssh-rsa", 7) == 0))) {
        w = snprintf(out, outlen, "%.*s", (int)nl, (const char *)name);
        if (w < 0 || (size_t)w >= outlen) {
            return LSH_ETOOLARGE;
        }
        /* signature_algs names plain algorithms: a certificate's is its
         * key's (PROTOCOL.certkeys). */
        if (c->sig_algs != NULL &&
            (plain_sigalg(out, plain, sizeof(plain)) != 0 ||
             !lsh_namelist_contains(c->sig_algs, strlen(c->sig_algs),
                                    plain))) {
            return LSH_ENOALG;
        }
        return 0;
    }
    /* RFC 8332 §3.3: without server-sig-algs, ssh-rsa; with it, the best
     * RSA algorithm it lists.  signature_algs, when set, limits both. */
    ssa = lsh_conn_info(c, LSH_INFO_SERVER_SIG_ALGS);
    for (size_t i = ssa == NULL ? 2 : 0; pick == NULL && i < 3; i++) {
        if ((ssa == NULL || lsh_namelist_contains(ssa, strlen(ssa),
                                                  rsa_pref[i])) &&
            (c->sig_algs == NULL ||
             lsh_namelist_contains(c->sig_algs, strlen(c->sig_algs),
                                   rsa_pref[i]))) {
            pick = rsa_pref[i];
        }
    }
    if (pick == NULL) {
        return LSH_ENOALG;
    }
    /* PROTOCOL.certkeys: rsa-sha2-256-cert-v01@openssh.com, ... */
    w = snprintf(out, outlen, "%s%s", pick, cert ? CERT_SUFFIX : "");
    return w < 0 || (size_t)w >= outlen ? LSH_ETOOLARGE : 0;
}

/* The signature algorithm of a public key algorithm: the plain name of
 * a certificate algorithm (PROTOCOL.certkeys; the sk- types keep their
 * "@openssh.com"). */
static int
plain_sigalg(const char *keyalg, char *out, size_t outlen)
{
    size_t n = strlen(keyalg), k = strlen(CERT_SUFFIX);
    int w;
    if (!ends_with(keyalg, n, CERT_SUFFIX)) {
        w = snprintf(out, outlen, "%s", keyalg);
    } else {
        w = snprintf(out, outlen, "%.*s%s", (int)(n - k), keyalg,
                     strncmp(keyalg, "sk-", 3) == 0 ? "@openssh.com" : "");
    }
    return w < 0 || (size_t)w >= outlen ? LSH_EINVAL : 0;
}

static int
valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LSH_AUTH_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == ',') {
            return 0;
        }
    }
    return 1;
}

/* Records the key of a publickey attempt: algorithm, signature
 * algorithm and blob. */
static int
set_key(lsh_conn *c, auth_client *cl, const char *keyalg,
        const uint8_t *blob, size_t n)
{
    lsh_rd rd;
    const uint8_t *t;
    size_t tl;
    int r;
    lsh_rd_init(&rd, blob, n);
    if (blob == NULL || n > LSH_AUTH_BLOB_MAX ||
        lsh_rd_text(&rd, &t, &tl) != 0) {
        return LSH_EINVAL;
    }
    if (keyalg == NULL) {
        r = lsh_auth_client_keyalg(c, blob, n, cl->keyalg,
                                   sizeof(cl->keyalg));
    } else if (!valid_name(keyalg)) {
        r = LSH_EINVAL;
    } else {
        snprintf(cl->keyalg, sizeof(cl->keyalg), "%s", keyalg);
        r = 0;
    }
    if (r != 0 ||
        (r = plain_sigalg(cl->keyalg, cl->sigalg, sizeof(cl->sigalg))) != 0) {
        return r;
    }
    lsh_buf_reset(&cl->blob);
    return lsh_buf_put(&cl->blob, blob, n);
}

/* tosign = string session_id || the signed request (RFC 4252 §7). */
static int
build_tosign(lsh_conn *c, auth_client *cl)
{
    size_t sidlen;
    const uint8_t *sid = lsh_conn_session_id(c, &sidlen);
    lsh_buf *b = &cl->tosign;
    int r;
    if (sid == NULL) {
        return LSH_ESTATE;
    }
    lsh_buf_reset(b);
    if ((r = lsh_buf_put_string(b, sid, sidlen)) != 0 ||
        (r = put_header(b, cl, "publickey")) != 0 ||
        (r = lsh_buf_put_bool(b, 1)) != 0 ||
        (r = lsh_buf_put_cstring(b, cl->keyalg)) != 0 ||
        (r = lsh_buf_put_stringb(b, &cl->blob)) != 0) {
        return r;
    }
    return 0;
}

/* Sends the request of tosign with the signature blob appended. */
static int
send_signed(lsh_conn *c, auth_client *cl, const uint8_t *sig, size_t n)
{
    size_t sidlen, skip;
    lsh_buf b;
    int r;
    (void)lsh_conn_session_id(c, &sidlen);
    skip = 4 + sidlen;
    if (lsh_buf_len(&cl->tosign) < skip) {
        return LSH_ESTATE;
    }
    lsh_buf_init(&b, LSH_PKT_MAX);
    if ((r = lsh_buf_put(&b, lsh_buf_ptr(&cl->tosign) + skip,
                         lsh_buf_len(&cl->tosign) - skip)) != 0 ||
        (r = lsh_buf_put_string(&b, sig, n)) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "publickey", 1);
}

int
lsh_auth_client_publickey(lsh_conn *c, const char *keyalg,
                          const uint8_t *blob, size_t n)
{
    auth_client *cl;
    lsh_buf b;
    int r;
    if ((r = request_allowed(c, &cl)) != 0 ||
        (r = set_key(c, cl, keyalg, blob, n)) != 0) {
        return r;
    }
    lsh_buf_init(&b, LSH_PKT_MAX);
    if ((r = put_header(&b, cl, "publickey")) != 0 ||
        (r = lsh_buf_put_bool(&b, 0)) != 0 ||
        (r = lsh_buf_put_cstring(&b, cl->keyalg)) != 0 ||
        (r = lsh_buf_put_stringb(&b, &cl->blob)) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "publickey", 0);
}

int
lsh_auth_client_signature(lsh_conn *c, const uint8_t *sig, size_t n)
{
    auth_client *cl;
    lsh_rd rd;
    const uint8_t *name, *s;
    size_t nl, sl;
    int r;
    if ((r = client_of(c, &cl)) != 0) {
        return r;
    }
    if (cl->st != LSH_AUTH_C_WAIT_SIGN) {
        return LSH_ESTATE;
    }
    lsh_rd_init(&rd, sig, n);
    if (sig == NULL || n > LSH_AUTH_SIG_MAX ||
        lsh_rd_text(&rd, &name, &nl) != 0 ||
        lsh_rd_string(&rd, &s, &sl) != 0) {
        return LSH_EINVAL;
    }
    /* PROTOCOL.u2f: a security key signature goes on with the flags byte
     * and the counter. */
    if (nl > 3 && memcmp(name, "sk-", 3) == 0) {
        uint8_t flags;
        uint32_t counter;
        if (lsh_rd_u8(&rd, &flags) != 0 || lsh_rd_u32(&rd, &counter) != 0) {
            return LSH_EINVAL;
        }
    }
    if (lsh_rd_end(&rd) != 0) {
        return LSH_EINVAL;
    }
    /* RFC 8332 §3.2: the signature names the algorithm of the request. */
    if (nl != strlen(cl->sigalg) || memcmp(name, cl->sigalg, nl) != 0) {
        return LSH_ENOALG;
    }
    return send_signed(c, cl, sig, n);
}

int
lsh_auth_client_publickey_sign_now(lsh_conn *c, const lsh_key *key,
                                   const char *keyalg, const uint8_t *blob,
                                   size_t n)
{
    auth_client *cl;
    lsh_buf own, sig;
    int r;
    if ((r = request_allowed(c, &cl)) != 0) {
        return r;
    }
    if (key == NULL || !lsh_key_has_private(key)) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&own, LSH_AUTH_BLOB_MAX);
    lsh_buf_init(&sig, LSH_AUTH_SIG_MAX);
    if (blob == NULL) {
        if ((r = lsh_key_to_blob(key, &own)) != 0) {
            goto out;
        }
        blob = lsh_buf_ptr(&own);
        n = lsh_buf_len(&own);
    }
    if ((r = set_key(c, cl, keyalg, blob, n)) != 0) {
        goto out;
    }
    if (!lsh_key_sigalg_ok(key, cl->sigalg)) {
        r = LSH_ENOALG;
        goto out;
    }
    if ((r = build_tosign(c, cl)) != 0 ||
        (r = lsh_key_sign(key, cl->sigalg, lsh_buf_ptr(&cl->tosign),
                          lsh_buf_len(&cl->tosign), &sig)) != 0) {
        goto out;
    }
    r = send_signed(c, cl, lsh_buf_ptr(&sig), lsh_buf_len(&sig));
out:
    lsh_buf_free(&own);
    lsh_buf_free(&sig);
    return r;
}

/* Keyboard-interactive (RFC 4256) */

int
lsh_auth_client_kbdint(lsh_conn *c, const char *submethods)
{
    auth_client *cl;
    lsh_buf b;
    int r;
    if ((r = request_allowed(c, &cl)) != 0) {
        return r;
    }
    if (submethods == NULL) {
        submethods = "";
    }
    if (strlen(submethods) > LSH_AUTH_SUBMETHODS_MAX) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&b, 4096);
    /* §3.1: the language tag is deprecated and SHOULD be empty. */
    if ((r = put_header(&b, cl, "keyboard-interactive")) != 0 ||
        (r = lsh_buf_put_cstring(&b, "")) != 0 ||
        (r = lsh_buf_put_cstring(&b, submethods)) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "keyboard-interactive", 0);
}

int
lsh_auth_client_prompts(const lsh_conn *c, lsh_auth_prompts *out)
{
    const auth_client *cl;
    if (c->role != LSH_ROLE_CLIENT || c->auth == NULL) {
        return LSH_ESTATE;
    }
    cl = &c->auth->cl;
    if (cl->st != LSH_AUTH_C_WAIT_RESPONSES &&
        cl->st != LSH_AUTH_C_WAIT_PASSWORD) {
        return LSH_ESTATE;
    }
    out->method = cl->method;
    out->name = lsh__auth_arena_str(&cl->arena, cl->name);
    out->instruction = lsh__auth_arena_str(&cl->arena, cl->instruction);
    out->n = cl->n_prompts;
    out->prompts = cl->view;
    return 0;
}

int
lsh_auth_client_responses(lsh_conn *c, const char *const *answers, size_t n)
{
    auth_client *cl;
    lsh_buf b;
    int r;
    if ((r = client_of(c, &cl)) != 0) {
        return r;
    }
    if (cl->st != LSH_AUTH_C_WAIT_RESPONSES) {
        return LSH_ESTATE;
    }
    if (n != cl->n_prompts || (n > 0 && answers == NULL)) {
        return LSH_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (answers[i] == NULL ||
            strlen(answers[i]) > LSH_AUTH_PASSWORD_MAX) {
            return LSH_EINVAL;
        }
    }
    lsh_buf_init(&b, LSH_PKT_MAX);
    r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_INFO_RESPONSE);
    if (r == 0) {
        r = lsh_buf_put_u32(&b, (uint32_t)n);
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = lsh_buf_put_cstring(&b, answers[i]);
    }
    if (r != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return send_request(c, cl, &b, "keyboard-interactive", 0);
}

/* Messages from the server */

static int
malformed(lsh_conn *c, const char *what)
{
    return lsh__conn_fail(c, LSH_EBADPACKET, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "malformed %s", what);
}

static int
unexpected(lsh_conn *c, const char *what)
{
    return lsh__conn_fail(c, LSH_EUNEXPECTED, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "unexpected %s", what);
}

/* Hands an event out as the current one; text is copied (truncated). */
static int
emit(lsh_conn *c, const lsh_event *ev, const char *text, size_t tlen)
{
    return lsh__conn_emit(c, ev, text, tlen);
}

/* RFC 4252 §5.4 */
static int
on_banner(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    const uint8_t *msg, *lang;
    size_t ml, ll, take;
    uint8_t *dst;
    lsh_event ev = {.type = LSH_EV_AUTH_BANNER};
    if (lsh_rd_string(rd, &msg, &ml) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &lang, &ll) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_BANNER");
    }
    if (cl->st == LSH_AUTH_C_DONE) {
        return 0; /* too late to matter; the filter lets it through */
    }
    take = ml < LSH_AUTH_BANNER_MAX ? ml : LSH_AUTH_BANNER_MAX;
    lsh_buf_reset(&cl->banner);
    if (lsh_buf_append_space(&cl->banner, take, &dst) != 0) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    memcpy(dst, msg, take);
    lsh__auth_sanitize((char *)dst, take);
    ev.data = dst;
    ev.len = take;
    return emit(c, &ev, (const char *)dst, take);
}

static int
on_failure(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    const char *list;
    size_t n;
    int partial;
    lsh_event ev = {.type = LSH_EV_AUTH_RESULT, .code = LSH_EAUTH};
    if (cl->st != LSH_AUTH_C_WAIT_REPLY) {
        return unexpected(c, "SSH_MSG_USERAUTH_FAILURE");
    }
    if (lsh_rd_namelist(rd, &list, &n) != 0 ||
        lsh_rd_bool(rd, &partial) != 0 || lsh_rd_end(rd) != 0 ||
        n > LSH_AUTH_METHODS_MAX) {
        return malformed(c, "SSH_MSG_USERAUTH_FAILURE");
    }
    free(cl->methods);
    if ((cl->methods = malloc(n + 1)) == NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    memcpy(cl->methods, list, n);
    cl->methods[n] = '\0';
    cl->st = LSH_AUTH_C_READY;
    ev.name = cl->methods;
    ev.num = (uint32_t)partial;
    return emit(c, &ev, cl->method, strlen(cl->method));
}

static int
on_success(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    lsh_event ev = {.type = LSH_EV_AUTH_RESULT, .code = 0, .name = ""};
    const char *method;
    if (cl->st != LSH_AUTH_C_WAIT_REPLY) {
        return unexpected(c, "SSH_MSG_USERAUTH_SUCCESS");
    }
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_SUCCESS");
    }
    /* Delayed compression starts with the next packet each way. */
    lsh_conn_set_authenticated(c);
    /* Nothing of the layer is needed any more: its state goes (method
     * names are static). */
    method = cl->method;
    lsh__auth_finish(c);
    return emit(c, &ev, method, strlen(method));
}

/* RFC 4252 §7: SSH_MSG_USERAUTH_PK_OK echoes the algorithm and key. */
static int
on_pk_ok(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    const uint8_t *alg, *blob;
    size_t al, bl;
    lsh_event ev = {.type = LSH_EV_AUTH_SIGN};
    if (lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &alg, &al) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_BLOB_MAX, &blob, &bl) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_PK_OK");
    }
    if (al != strlen(cl->keyalg) || memcmp(alg, cl->keyalg, al) != 0 ||
        bl != lsh_buf_len(&cl->blob) ||
        memcmp(blob, lsh_buf_ptr(&cl->blob), bl) != 0) {
        return lsh__conn_fail(c, LSH_EPROTOCOL, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "SSH_MSG_USERAUTH_PK_OK for another key");
    }
    if (build_tosign(c, cl) != 0) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    cl->st = LSH_AUTH_C_WAIT_SIGN;
    ev.name = cl->sigalg;
    ev.data = lsh_buf_ptr(&cl->tosign);
    ev.len = lsh_buf_len(&cl->tosign);
    ev.extra = lsh_buf_ptr(&cl->blob);
    ev.extra_len = lsh_buf_len(&cl->blob);
    return emit(c, &ev, cl->keyalg, strlen(cl->keyalg));
}

/* Copies a prompt string into the arena, sanitized. */
static int
arena_text(auth_client *cl, const uint8_t *s, size_t n, auth_span *at)
{
    int r = lsh__auth_arena_put(&cl->arena, s, n, at);
    if (r == 0) {
        lsh__auth_sanitize((char *)lsh_buf_ptr(&cl->arena) + at->off, n);
    }
    return r;
}

static void
build_view(auth_client *cl)
{
    for (size_t i = 0; i < cl->n_prompts; i++) {
        cl->view[i].text = lsh__auth_arena_str(&cl->arena, cl->prompt_at[i]);
        cl->view[i].len = cl->prompt_at[i].len;
        cl->view[i].echo = cl->echo[i];
    }
}

/* RFC 4252 §8: SSH_MSG_USERAUTH_PASSWD_CHANGEREQ */
static int
on_changereq(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    const uint8_t *prompt, *lang;
    size_t pl, ll;
    lsh_event ev = {.type = LSH_EV_AUTH_PROMPT, .name = "password"};
    if (lsh_rd_string_max(rd, LSH_AUTH_TEXT_MAX, &prompt, &pl) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &lang, &ll) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_PASSWD_CHANGEREQ");
    }
    lsh_buf_reset(&cl->arena);
    free_prompts(cl);
    if (arena_text(cl, (const uint8_t *)"", 0, &cl->name) != 0 ||
        arena_text(cl, prompt, pl, &cl->instruction) != 0) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    cl->st = LSH_AUTH_C_WAIT_PASSWORD;
    return emit(c, &ev, lsh__auth_arena_str(&cl->arena, cl->instruction),
                pl);
}

/* RFC 4256 §3.2: SSH_MSG_USERAUTH_INFO_REQUEST */
static int
on_info_request(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    const uint8_t *name, *instr, *lang;
    size_t nl, il, ll;
    uint32_t num;
    lsh_event ev = {.type = LSH_EV_AUTH_PROMPT,
                    .name = "keyboard-interactive"};
    if (lsh_rd_string_max(rd, LSH_AUTH_TEXT_MAX, &name, &nl) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_TEXT_MAX, &instr, &il) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &lang, &ll) != 0 ||
        lsh_rd_u32(rd, &num) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_INFO_REQUEST");
    }
    /* libssh2 CVE-2019-3863 class: the count is checked before use. */
    if (num > LSH_AUTH_PROMPTS_MAX) {
        return lsh__conn_fail(c, LSH_ETOOLARGE, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "SSH_MSG_USERAUTH_INFO_REQUEST with %u prompts",
                              num);
    }
    lsh_buf_reset(&cl->arena);
    free_prompts(cl);
    if (arena_text(cl, name, nl, &cl->name) != 0 ||
        arena_text(cl, instr, il, &cl->instruction) != 0 ||
        (num > 0 &&
         ((cl->prompt_at = calloc(num, sizeof(*cl->prompt_at))) == NULL ||
          (cl->echo = calloc(num, sizeof(*cl->echo))) == NULL ||
          (cl->view = calloc(num, sizeof(*cl->view))) == NULL))) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    for (uint32_t i = 0; i < num; i++) {
        const uint8_t *p;
        size_t pl;
        int echo;
        if (lsh_rd_string_max(rd, LSH_AUTH_TEXT_MAX, &p, &pl) != 0 ||
            lsh_rd_bool(rd, &echo) != 0) {
            return malformed(c, "SSH_MSG_USERAUTH_INFO_REQUEST");
        }
        if (arena_text(cl, p, pl, &cl->prompt_at[i]) != 0) {
            return lsh__conn_fail(c, LSH_ENOMEM,
                                  LSH_DISCONNECT_BY_APPLICATION,
                                  "out of memory");
        }
        cl->echo[i] = echo;
    }
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_INFO_REQUEST");
    }
    cl->n_prompts = num;
    build_view(cl);
    cl->st = LSH_AUTH_C_WAIT_RESPONSES;
    ev.num = num;
    return emit(c, &ev, lsh__auth_arena_str(&cl->arena, cl->name), nl);
}

/* Message 60 belongs to the method of the request out. */
static int
on_method_message(lsh_conn *c, auth_client *cl, lsh_rd *rd)
{
    if (cl->st != LSH_AUTH_C_WAIT_REPLY) {
        return unexpected(c, "userauth message 60");
    }
    if (strcmp(cl->method, "publickey") == 0 && !cl->pk_signed) {
        return on_pk_ok(c, cl, rd);
    }
    if (strcmp(cl->method, "password") == 0) {
        return on_changereq(c, cl, rd);
    }
    if (strcmp(cl->method, "keyboard-interactive") == 0) {
        return on_info_request(c, cl, rd);
    }
    return unexpected(c, "userauth message 60");
}

/* After SUCCESS (the state is gone): a banner is checked and dropped,
 * as on_banner does once done; the other answers belong to no request. */
static int
on_message_finished(lsh_conn *c, uint8_t type, lsh_rd *rd)
{
    const uint8_t *msg, *lang;
    size_t ml, ll;
    switch (type) {
    case LSH_MSG_USERAUTH_BANNER:
        if (lsh_rd_string(rd, &msg, &ml) != 0 ||
            lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &lang, &ll) != 0 ||
            lsh_rd_end(rd) != 0) {
            return malformed(c, "SSH_MSG_USERAUTH_BANNER");
        }
        return 0;
    case LSH_MSG_USERAUTH_FAILURE:
        return unexpected(c, "SSH_MSG_USERAUTH_FAILURE");
    case LSH_MSG_USERAUTH_SUCCESS:
        return unexpected(c, "SSH_MSG_USERAUTH_SUCCESS");
    default:
        return unexpected(c, "userauth message 60");
    }
}

int
lsh__auth_client_on_message(lsh_conn *c, const uint8_t *p, size_t n)
{
    auth_client *cl;
    lsh_rd rd;
    /* P-3: nothing of userauth before the server accepted the service. */
    if (!c->service_accepted) {
        return unexpected(c, "userauth message before SERVICE_ACCEPT");
    }
    lsh_rd_init(&rd, p + 1, n - 1);
    if (c->auth_finished &&
        (p[0] == LSH_MSG_USERAUTH_BANNER || p[0] == LSH_MSG_USERAUTH_FAILURE ||
         p[0] == LSH_MSG_USERAUTH_SUCCESS || p[0] == 60)) {
        return on_message_finished(c, p[0], &rd);
    }
    cl = c->auth_finished ? NULL : &c->auth->cl; /* NULL: default only */
    switch (p[0]) {
    case LSH_MSG_USERAUTH_BANNER:
        return on_banner(c, cl, &rd);
    case LSH_MSG_USERAUTH_FAILURE:
        return on_failure(c, cl, &rd);
    case LSH_MSG_USERAUTH_SUCCESS:
        return on_success(c, cl, &rd);
    case 60:
        return on_method_message(c, cl, &rd);
    default:
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "userauth message %u not expected by a client",
                              p[0]);
    }
}
