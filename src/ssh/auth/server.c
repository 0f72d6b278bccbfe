/*
 * IMPLEMENTATION NOTES
 *
 * The server side of user authentication (RFC 4252, RFC 4256).
 *
 * One request at a time.  A USERAUTH_REQUEST is checked (framing, caps,
 * user and service unchanged, method allowed, key and signature) and
 * then either answered by the layer itself (FAILURE) or handed to the
 * caller as LSH_EV_AUTH_REQUEST; its fields are copied into `arena` so
 * that the caller can read them after the packet buffer moved on.
 * Until the caller answers, later requests wait in a small queue of
 * owned copies (RFC 4252 §5.1: "The server MUST process each request
 * completely ... before processing the next request"); each answer
 * drains the queue.
 *
 * Keyboard-interactive: after info_request the layer waits for
 * INFO_RESPONSE with exactly that many responses; the start request's
 * fields stay at the front of the arena (arena_base) and each round's
 * responses follow them.  A new USERAUTH_REQUEST abandons the exchange
 * without a FAILURE (RFC 4252 §5.1).
 *
 * Counting (reliability-plan.md P-5): `tries` grows as a credential
 * arrives, `requests` as any USERAUTH_REQUEST arrives; both checks
 * happen before the caller sees anything, and once tries reached the
 * limit only accept() does not disconnect.
 *
 * Certificates (PROTOCOL.certkeys): pk_key parses a certificate blob in
 * place of a key, keeps it in sv->cert and a reference to the certified
 * key in sv->key, so that the signature check and the caller see the
 * key that signs; the caller sees the certificate in the request and
 * judges CA trust, principals and validity itself.
 *
 * Success: SUCCESS goes out through lsh_conn_send.  If a key exchange
 * holds it back, conn.c (lsh__conn_flush_held) marks the connection
 * authenticated when the held SUCCESS is finally encoded; otherwise we
 * do it here right after sending, so zlib@openssh.com starts with the
 * packet after SUCCESS in both cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "ssh/auth/auth_internal.h"

#define DEFAULT_METHODS "publickey,password,keyboard-interactive"

static const char CERT_SUFFIX[] = "-cert-v01@openssh.com";

void
lsh__auth_server_init(auth_server *sv)
{
    sv->can_continue = NULL; /* DEFAULT_METHODS */
    sv->max_tries = LSH_AUTH_MAX_TRIES;
    lsh_buf_init(&sv->arena, LSH_PKT_MAX);
}

/* The methods that can continue. */
static const char *
continue_list(const auth_server *sv)
{
    return sv->can_continue != NULL ? sv->can_continue : DEFAULT_METHODS;
}

/* Replaces the methods that can continue with a copy of list (checked
 * by the caller): 0 or LSH_ENOMEM (then nothing changed). */
static int
set_continue(auth_server *sv, const char *list)
{
    char *copy = strdup(list);
    if (copy == NULL) {
        return LSH_ENOMEM;
    }
    free(sv->can_continue);
    sv->can_continue = copy;
    return 0;
}

static void
free_responses(auth_server *sv)
{
    free(sv->resp_at);
    free((void *)sv->resp_ptr);
    free(sv->resp_len);
    sv->resp_at = NULL;
    sv->resp_ptr = NULL;
    sv->resp_len = NULL;
}

static void
clear_request(auth_server *sv)
{
    sv->pending = SK_NONE_PENDING;
    lsh_buf_reset(&sv->arena);
    sv->arena_base = 0;
    lsh_key_free(sv->key);
    sv->key = NULL;
    lsh_cert_free(sv->cert);
    sv->cert = NULL;
    memset(&sv->sk, 0, sizeof(sv->sk));
    sv->n_responses = 0;
    free_responses(sv);
    sv->kbd_waiting = 0;
}

static void
clear_queue(auth_server *sv)
{
    while (sv->qcount > 0) {
        lsh_freezero(sv->queue[sv->qhead], sv->queue_len[sv->qhead]);
        sv->queue[sv->qhead] = NULL;
        sv->qhead = (sv->qhead + 1) % LSH_AUTH_QUEUE;
        sv->qcount--;
    }
}

void
lsh__auth_server_free(auth_server *sv)
{
    clear_request(sv);
    clear_queue(sv);
    lsh_buf_free(&sv->arena);
    free(sv->sig_algs);
    sv->sig_algs = NULL;
    free(sv->can_continue);
    sv->can_continue = NULL;
    if (sv->user != NULL) {
        lsh_freezero(sv->user, sv->user_len + 1 + strlen(sv->service) + 1);
        sv->user = NULL;
        sv->service = NULL;
    }
}

/* Common checks of the calls: 0 and *out, or an error.  Once
 * authentication finished the state is gone: 0 and *out == NULL (the
 * settings calls then check their arguments and change nothing). */
static int
server_of(lsh_conn *c, auth_server **out)
{
    if (c->closed) {
        return c->err ? c->err : LSH_ECLOSED;
    }
    if (c->role != LSH_ROLE_SERVER) {
        return LSH_ESTATE;
    }
    if (c->auth_finished) {
        *out = NULL;
        return 0;
    }
    if (lsh__auth_state(c) == NULL) {
        return LSH_ENOMEM;
    }
    *out = &c->auth->sv;
    return 0;
}

/* Configuration */

int
lsh_auth_server_set_methods(lsh_conn *c, const char *methods)
{
    auth_server *sv;
    size_t n, pos = 0, nl;
    const char *name;
    int r;
    if ((r = server_of(c, &sv)) != 0) {
        return r;
    }
    if (methods == NULL) {
        methods = DEFAULT_METHODS;
    }
    n = strlen(methods);
    if (n > LSH_AUTH_METHODS_MAX || lsh_namelist_check(methods, n) != 0) {
        return LSH_EINVAL;
    }
    while (lsh_namelist_next(methods, n, &pos, &name, &nl)) {
        const char *m = lsh__auth_method_name((const uint8_t *)name, nl);
        if (m == NULL || strcmp(m, "none") == 0) {
            return LSH_EINVAL; /* hostbased and others: not implemented */
        }
    }
    if (sv == NULL) {
        return 0;
    }
    return set_continue(sv, methods);
}

int
lsh_auth_server_set_max_tries(lsh_conn *c, unsigned n)
{
    auth_server *sv;
    int r;
    if ((r = server_of(c, &sv)) != 0) {
        return r;
    }
    if (n < 1 || n > 1000) {
        return LSH_EINVAL;
    }
    if (sv == NULL) {
        return 0;
    }
    sv->max_tries = n;
    return 0;
}

int
lsh_auth_server_set_sig_algs(lsh_conn *c, const char *algs)
{
    auth_server *sv;
    char *copy = NULL;
    int r;
    if ((r = server_of(c, &sv)) != 0) {
        return r;
    }
    if (algs != NULL) {
        if (strlen(algs) > LSH_AUTH_METHODS_MAX ||
            lsh_namelist_check(algs, strlen(algs)) != 0) {
            return LSH_EINVAL;
        }
        if (sv == NULL) {
            return 0;
        }
        if ((copy = strdup(algs)) == NULL) {
            return LSH_ENOMEM;
        }
    }
    if (sv == NULL) {
        return 0;
    }
    free(sv->sig_algs);
    sv->sig_algs = copy;
    return 0;
}

/* Answers the layer sends itself */

static int
too_many(lsh_conn *c, const char *what)
{
    return lsh__conn_fail(c, LSH_EAUTH,
                          LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                          "too many authentication %s", what);
}

/* A credential arrived: one more try (P-5). */
static int
count_try(lsh_conn *c, auth_server *sv)
{
    if (++sv->tries > sv->max_tries) {
        return too_many(c, "failures");
    }
    return 0;
}

/* Any answer but SUCCESS, once the tries are used up, ends it. */
static int
tries_left(lsh_conn *c, auth_server *sv)
{
    if (sv->tries >= sv->max_tries) {
        return too_many(c, "failures");
    }
    return 0;
}

static int
send_failure(lsh_conn *c, auth_server *sv, int partial)
{
    lsh_buf b;
    int r;
    if ((r = tries_left(c, sv)) != 0) {
        return r;
    }
    lsh_buf_init(&b, LSH_AUTH_METHODS_MAX + 64);
    if ((r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_FAILURE)) != 0 ||
        (r = lsh_buf_put_cstring(&b, continue_list(sv))) != 0 ||
        (r = lsh_buf_put_bool(&b, partial)) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return lsh__auth_send(c, &b);
}

/* The layer refuses the request itself: FAILURE without an event. */
static int
auto_reject(lsh_conn *c, auth_server *sv)
{
    clear_request(sv);
    return send_failure(c, sv, 0);
}

static int
malformed(lsh_conn *c, const char *what)
{
    return lsh__conn_fail(c, LSH_EBADPACKET, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "malformed %s", what);
}

static int
emit(lsh_conn *c, auth_server *sv, enum srv_kind kind, const char *method,
     int phase)
{
    lsh_event ev = {.type = LSH_EV_AUTH_REQUEST, .name = method,
                    .num = (uint32_t)phase};
    sv->pending = kind;
    sv->phase = phase;
    sv->method = method;
    if (lsh__conn_event(c, &ev, sv->user) != 0) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "event queue full");
    }
    return 0;
}

static int
arena_put(lsh_conn *c, auth_server *sv, const uint8_t *s, size_t n,
          auth_span *at)
{
    if (lsh__auth_arena_put(&sv->arena, s, n, at) != 0) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    return 0;
}

/* The parts every request starts with (RFC 4252 §5). */
typedef struct req_head {
    const uint8_t *user, *service, *method;
    size_t ul, sl, ml;
} req_head;

static int
valid_user(const uint8_t *u, size_t n)
{
    if (n > LSH_AUTH_USER_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int
check_head(lsh_conn *c, auth_server *sv, lsh_rd *rd, req_head *h)
{
    if (lsh_rd_string(rd, &h->user, &h->ul) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &h->service, &h->sl) != 0 ||
        lsh_rd_text(rd, &h->method, &h->ml) != 0 ||
        h->ml > LSH_AUTH_NAME_MAX) {
        return malformed(c, "SSH_MSG_USERAUTH_REQUEST");
    }
    if (!valid_user(h->user, h->ul)) {
        return lsh__conn_fail(c, LSH_EPROTOCOL,
                              LSH_DISCONNECT_ILLEGAL_USER_NAME,
                              "illegal user name");
    }
    if (h->sl != 14 || memcmp(h->service, "ssh-connection", 14) != 0) {
        return lsh__conn_fail(c, LSH_EPROTOCOL,
                              LSH_DISCONNECT_SERVICE_NOT_AVAILABLE,
                              "service not available");
    }
    /* wolfSSH TestUsernameChangeDisconnects: RFC 4252 §5 allows the
     * change, we refuse it (reliability-plan.md §2.2). */
    if (sv->user != NULL) {
        if (h->ul != sv->user_len || memcmp(h->user, sv->user, h->ul) != 0 ||
            h->sl != strlen(sv->service) ||
            memcmp(h->service, sv->service, h->sl) != 0) {
            return lsh__conn_fail(c, LSH_EPROTOCOL,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "user name or service changed during "
                                  "authentication");
        }
        return 0;
    }
    if ((sv->user = malloc(h->ul + 1 + h->sl + 1)) == NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    memcpy(sv->user, h->user, h->ul);
    sv->user[h->ul] = '\0';
    sv->user_len = h->ul;
    memcpy(sv->user + h->ul + 1, h->service, h->sl);
    sv->user[h->ul + 1 + h->sl] = '\0';
    sv->service = sv->user + h->ul + 1;
    return 0;
}

static int
store_head(lsh_conn *c, auth_server *sv, const req_head *h)
{
    int r;
    if ((r = arena_put(c, sv, h->user, h->ul, &sv->f_user)) != 0 ||
        (r = arena_put(c, sv, h->service, h->sl, &sv->f_service)) != 0) {
        return r;
    }
    return 0;
}

/* "none" (RFC 4252 §5.2): always the caller's to decide. */
static int
req_none(lsh_conn *c, auth_server *sv, lsh_rd *rd, const req_head *h)
{
    int r;
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_REQUEST");
    }
    if ((r = store_head(c, sv, h)) != 0) {
        return r;
    }
    return emit(c, sv, SK_NONE, "none", 0);
}

/* "password" (RFC 4252 §8) */
static int
req_password(lsh_conn *c, auth_server *sv, lsh_rd *rd, const req_head *h)
{
    const uint8_t *pw, *npw = NULL;
    size_t pl, npl = 0;
    int change, r;
    if (lsh_rd_bool(rd, &change) != 0 || lsh_rd_string(rd, &pw, &pl) != 0 ||
        (change && lsh_rd_string(rd, &npw, &npl) != 0) ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_REQUEST");
    }
    if ((r = count_try(c, sv)) != 0) {
        return r;
    }
    /* CVE-2016-6210: an overlong password never reaches a hash. */
    if (pl > LSH_AUTH_PASSWORD_MAX || npl > LSH_AUTH_PASSWORD_MAX) {
        return auto_reject(c, sv);
    }
    if ((r = store_head(c, sv, h)) != 0 ||
        (r = arena_put(c, sv, pw, pl, &sv->f_password)) != 0 ||
        (change && (r = arena_put(c, sv, npw, npl, &sv->f_newpw)) != 0)) {
        return r;
    }
    return emit(c, sv, SK_PASSWORD, "password", change);
}

static int
is_cert_name(const uint8_t *s, size_t n)
{
    size_t k = strlen(CERT_SUFFIX);
    return n > k && memcmp(s + n - k, CERT_SUFFIX, k) == 0;
}

/*
 * The signature algorithm of a public key algorithm (PROTOCOL.certkeys):
 * a certificate algorithm signs with the plain algorithm its name starts
 * with ("rsa-sha2-512-cert-v01@openssh.com" with rsa-sha2-512); the sk-
 * types keep their "@openssh.com" ("sk-ssh-ed25519-cert-v01@openssh.com"
 * with sk-ssh-ed25519@openssh.com).  `name` is NUL-terminated.
 */
static int
plain_sigalg(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name), k = strlen(CERT_SUFFIX);
    int w;
    if (!is_cert_name((const uint8_t *)name, n)) {
        w = snprintf(out, outlen, "%s", name);
    } else {
        w = snprintf(out, outlen, "%.*s%s", (int)(n - k), name,
                     strncmp(name, "sk-", 3) == 0 ? "@openssh.com" : "");
    }
    return w < 0 || (size_t)w >= outlen ? LSH_ENOALG : 0;
}

/*
 * The key of a publickey request (RFC 4252 §7), parsed and checked
 * against `alg`: 0 and the key (with its certificate, if the blob is
 * one) in sv->key / sv->cert and the signature algorithm in sigalg, or
 * nonzero: the layer refuses the request.
 *
 * Certificates (PROTOCOL.certkeys): a *-cert-v01@openssh.com algorithm
 * needs a certificate blob and a plain one a plain key.  The algorithm
 * is allowed when the allowed list names it or, for a certificate, its
 * plain signature algorithm (so the default list, which is what we
 * advertise in server-sig-algs and names no certificate algorithm, as
 * OpenSSH's does not, takes the certificates of every key type it
 * takes).  Only user certificates are taken; the key is the certified
 * key, which must suit the signature algorithm.  CA trust, principals,
 * validity and critical options are the caller's (lsh_cert_validate).
 */
static int
pk_key(const lsh_conn *c, auth_server *sv, const uint8_t *alg, size_t al,
       const uint8_t *blob, size_t bl, char *sigalg, size_t salen)
{
    /* What transport/kex_flow.c advertised in server-sig-algs, unless
     * lsh_auth_server_set_sig_algs changed it for this connection. */
    const char *allowed = sv->sig_algs  ? sv->sig_algs
                          : c->sig_algs ? c->sig_algs
                                        : LSH_DEFAULT_SIG_ALGS;
    size_t alen = strlen(allowed);
    char name[LSH_AUTH_NAME_MAX + 1];
    lsh_rd rd;
    const uint8_t *type;
    size_t tl;
    int cert = is_cert_name(alg, al);

    lsh_rd_init(&rd, blob, bl);
    if (lsh_rd_text(&rd, &type, &tl) != 0 || cert != is_cert_name(type, tl)) {
        return LSH_ENOALG;
    }
    memcpy(name, alg, al);
    name[al] = '\0';
    if (plain_sigalg(name, sigalg, salen) != 0 ||
        !(lsh_namelist_contains(allowed, alen, name) ||
          (cert && lsh_namelist_contains(allowed, alen, sigalg)))) {
        return LSH_ENOALG;
    }
    if (!cert) {
        if (lsh_key_from_blob(blob, bl, &sv->key) != 0) {
            return LSH_ENOALG;
        }
    } else {
        if (lsh_cert_from_blob(blob, bl, &sv->cert) != 0) {
            return LSH_ENOALG;
        }
        if (lsh_cert_type(sv->cert) != LSH_CERT_USER) {
            return LSH_ENOALG; /* clear_request frees sv->cert */
        }
        sv->key = lsh_key_ref(lsh_cert_key(sv->cert));
    }
    if (!lsh_key_sigalg_ok(sv->key, sigalg)) {
        return LSH_ENOALG;
    }
    return 0;
}

/* RFC 4252 §7: the signature covers string session_id || the request
 * without its signature, which we re-encode from the parsed fields.
 * The signature is by sv->key (the certified key for a certificate)
 * with the plain algorithm sigalg. */
static int
pk_verify(lsh_conn *c, auth_server *sv, const req_head *h,
          const uint8_t *alg, size_t al, const uint8_t *blob, size_t bl,
          const char *sigalg, const uint8_t *sig, size_t sl)
{
    size_t sidlen;
    const uint8_t *sid = lsh_conn_session_id(c, &sidlen);
    lsh_buf d;
    int r;
    lsh_buf_init(&d, LSH_PKT_MAX);
    if ((r = lsh_buf_put_string(&d, sid, sidlen)) != 0 ||
        (r = lsh_buf_put_u8(&d, LSH_MSG_USERAUTH_REQUEST)) != 0 ||
        (r = lsh_buf_put_string(&d, h->user, h->ul)) != 0 ||
        (r = lsh_buf_put_string(&d, h->service, h->sl)) != 0 ||
        (r = lsh_buf_put_cstring(&d, "publickey")) != 0 ||
        (r = lsh_buf_put_bool(&d, 1)) != 0 ||
        (r = lsh_buf_put_string(&d, alg, al)) != 0 ||
        (r = lsh_buf_put_string(&d, blob, bl)) != 0) {
        lsh_buf_free(&d);
        return r;
    }
    /* Fail closed: only 0 means verified (libssh CVE-2023-2283). */
    r = lsh_key_verify_ex(sv->key, sigalg, sig, sl, lsh_buf_ptr(&d),
                          lsh_buf_len(&d), &sv->sk);
    lsh_buf_free(&d);
    if (r != 0) {
        return LSH_EBADSIG;
    }
    /* PROTOCOL.u2f: a security key signature must show user presence. */
    if ((lsh_key_type(sv->key) == LSH_KEY_SK_ED25519 ||
         lsh_key_type(sv->key) == LSH_KEY_SK_ECDSA_P256) &&
        !(sv->sk.sk_flags & LSH_KEY_SK_USER_PRESENT)) {
        return LSH_EBADSIG;
    }
    /* A certificate whose CA signature is bad is no credential at all;
     * checked here, at the cost of one more verification per signed
     * request, so that a caller that forgets lsh_cert_validate() still
     * never accepts a forged one (it must call it for the rest). */
    if (sv->cert != NULL && lsh_cert_verify_signature(sv->cert) != 0) {
        return LSH_EBADSIG;
    }
    return 0;
}

/* "publickey" (RFC 4252 §7, RFC 8332 §3.2) */
static int
req_publickey(lsh_conn *c, auth_server *sv, lsh_rd *rd, const req_head *h)
{
    const uint8_t *alg, *blob, *sig = NULL;
    size_t al, bl, sl = 0;
    char sigalg[LSH_AUTH_NAME_MAX + 16];
    int has_sig, r;
    if (lsh_rd_bool(rd, &has_sig) != 0 || lsh_rd_text(rd, &alg, &al) != 0 ||
        al == 0 || al > LSH_AUTH_NAME_MAX ||
        lsh_rd_string_max(rd, LSH_AUTH_BLOB_MAX, &blob, &bl) != 0 ||
        (has_sig && lsh_rd_string_max(rd, LSH_AUTH_SIG_MAX, &sig, &sl) != 0) ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_REQUEST");
    }
    if (has_sig && (r = count_try(c, sv)) != 0) {
        return r;
    }
    if (pk_key(c, sv, alg, al, blob, bl, sigalg, sizeof(sigalg)) != 0 ||
        (has_sig &&
         pk_verify(c, sv, h, alg, al, blob, bl, sigalg, sig, sl) != 0)) {
        return auto_reject(c, sv);
    }
    if ((r = store_head(c, sv, h)) != 0 ||
        (r = arena_put(c, sv, alg, al, &sv->f_alg)) != 0 ||
        (r = arena_put(c, sv, blob, bl, &sv->f_blob)) != 0) {
        return r;
    }
    return emit(c, sv, has_sig ? SK_PK_SIGNED : SK_PK_QUERY, "publickey",
                has_sig);
}

/* "keyboard-interactive" (RFC 4256 §3.1) */
static int
req_kbdint(lsh_conn *c, auth_server *sv, lsh_rd *rd, const req_head *h)
{
    const uint8_t *lang, *sub;
    size_t ll, subl;
    int r;
    if (lsh_rd_string_max(rd, LSH_AUTH_NAME_MAX, &lang, &ll) != 0 ||
        lsh_rd_string_max(rd, LSH_AUTH_SUBMETHODS_MAX, &sub, &subl) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_REQUEST");
    }
    if ((r = store_head(c, sv, h)) != 0 ||
        (r = arena_put(c, sv, sub, subl, &sv->f_submethods)) != 0) {
        return r;
    }
    sv->arena_base = lsh_buf_len(&sv->arena);
    return emit(c, sv, SK_KBD_START, "keyboard-interactive", 0);
}

/* Handles one USERAUTH_REQUEST while none is pending. */
static int
process(lsh_conn *c, auth_server *sv, const uint8_t *p, size_t n)
{
    lsh_rd rd;
    req_head h;
    const char *m;
    int r;
    clear_request(sv); /* also abandons a keyboard-interactive exchange */
    lsh_rd_init(&rd, p + 1, n - 1);
    if ((r = check_head(c, sv, &rd, &h)) != 0) {
        return r;
    }
    m = lsh__auth_method_name(h.method, h.ml);
    if (m != NULL && strcmp(m, "none") == 0) {
        return req_none(c, sv, &rd, &h);
    }
    if (m == NULL ||
        !lsh_namelist_contains(continue_list(sv),
                               strlen(continue_list(sv)), m)) {
        /* hostbased, unknown methods and those that cannot continue. */
        if ((r = count_try(c, sv)) != 0) {
            return r;
        }
        return auto_reject(c, sv);
    }
    if (strcmp(m, "password") == 0) {
        return req_password(c, sv, &rd, &h);
    }
    if (strcmp(m, "publickey") == 0) {
        return req_publickey(c, sv, &rd, &h);
    }
    return req_kbdint(c, sv, &rd, &h);
}

/* Processes queued requests while the caller has nothing pending. */
static int
drain(lsh_conn *c, auth_server *sv)
{
    while (!c->closed && sv->pending == SK_NONE_PENDING &&
           sv->qcount > 0) {
        uint8_t *p = sv->queue[sv->qhead];
        size_t n = sv->queue_len[sv->qhead];
        int r;
        sv->queue[sv->qhead] = NULL;
        sv->qhead = (sv->qhead + 1) % LSH_AUTH_QUEUE;
        sv->qcount--;
        r = process(c, sv, p, n);
        lsh_freezero(p, n);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static int
on_request(lsh_conn *c, auth_server *sv, const uint8_t *p, size_t n)
{
    unsigned slot;
    if (++sv->requests > LSH_AUTH_MAX_REQUESTS) {
        return too_many(c, "requests");
    }
    if (sv->pending == SK_NONE_PENDING && sv->qcount == 0) {
        int r = process(c, sv, p, n);
        return r < 0 ? r : 0;
    }
    if (sv->qcount == LSH_AUTH_QUEUE) {
        return lsh__conn_fail(c, LSH_EPROTOCOL, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "too many authentication requests waiting");
    }
    slot = (sv->qhead + sv->qcount) % LSH_AUTH_QUEUE;
    if ((sv->queue[slot] = malloc(n)) == NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    memcpy(sv->queue[slot], p, n);
    sv->queue_len[slot] = n;
    sv->qcount++;
    return 0;
}

/* RFC 4256 §3.4: SSH_MSG_USERAUTH_INFO_RESPONSE */
static int
on_info_response(lsh_conn *c, auth_server *sv, const uint8_t *p, size_t n)
{
    lsh_rd rd;
    uint32_t num;
    int too_long = 0, r;
    if (!sv->kbd_waiting || sv->pending != SK_NONE_PENDING) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "unexpected SSH_MSG_USERAUTH_INFO_RESPONSE");
    }
    lsh_rd_init(&rd, p + 1, n - 1);
    if (lsh_rd_u32(&rd, &num) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_INFO_RESPONSE");
    }
    if (num != sv->kbd_expect) {
        return lsh__conn_fail(c, LSH_EPROTOCOL, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "%u keyboard-interactive responses to %u "
                              "prompts", num, sv->kbd_expect);
    }
    (void)lsh_buf_truncate(&sv->arena,
                           lsh_buf_len(&sv->arena) - sv->arena_base);
    free_responses(sv);
    if (num > 0 && ((sv->resp_at = calloc(num, sizeof(*sv->resp_at))) ==
                        NULL ||
                    (sv->resp_ptr = calloc(num, sizeof(*sv->resp_ptr))) ==
                        NULL ||
                    (sv->resp_len = calloc(num, sizeof(*sv->resp_len))) ==
                        NULL)) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    for (uint32_t i = 0; i < num; i++) {
        const uint8_t *s;
        size_t sl;
        if (lsh_rd_string(&rd, &s, &sl) != 0) {
            return malformed(c, "SSH_MSG_USERAUTH_INFO_RESPONSE");
        }
        if (sl > LSH_AUTH_PASSWORD_MAX) {
            too_long = 1;
        } else if ((r = arena_put(c, sv, s, sl, &sv->resp_at[i])) != 0) {
            return r;
        }
    }
    if (lsh_rd_end(&rd) != 0) {
        return malformed(c, "SSH_MSG_USERAUTH_INFO_RESPONSE");
    }
    sv->kbd_waiting = 0;
    if (num > 0 && (r = count_try(c, sv)) != 0) {
        return r;
    }
    if (too_long) {
        r = auto_reject(c, sv);
        return r < 0 ? r : 0;
    }
    for (uint32_t i = 0; i < num; i++) {
        sv->resp_ptr[i] = lsh__auth_arena_str(&sv->arena, sv->resp_at[i]);
        sv->resp_len[i] = sv->resp_at[i].len;
    }
    sv->n_responses = num;
    return emit(c, sv, SK_KBD_RESPONSES, "keyboard-interactive", 1);
}

int
lsh__auth_server_on_message(lsh_conn *c, const uint8_t *p, size_t n)
{
    auth_server *sv;
    /* RFC 4252 §5.1: requests after SUCCESS are silently ignored. */
    if (c->auth_finished) {
        return 0;
    }
    sv = &c->auth->sv;
    /* P-3: no userauth message before the service was accepted. */
    if (!c->service_accepted) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "userauth message before the ssh-userauth "
                              "service was accepted");
    }
    if (p[0] == LSH_MSG_USERAUTH_REQUEST) {
        return on_request(c, sv, p, n);
    }
    if (p[0] == LSH_MSG_USERAUTH_INFO_RESPONSE) {
        return on_info_response(c, sv, p, n);
    }
    return lsh__conn_fail(c, LSH_EUNEXPECTED, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "userauth message %u not expected by a server",
                          p[0]);
}

/* The caller's answers */

static int
pending_of(lsh_conn *c, auth_server **out)
{
    int r = server_of(c, out);
    if (r != 0) {
        return r;
    }
    return *out == NULL || (*out)->pending == SK_NONE_PENDING ? LSH_ESTATE
                                                              : 0;
}

int
lsh_auth_server_request(const lsh_conn *c, lsh_auth_request *out)
{
    const auth_server *sv;
    const lsh_buf *a;
    if (c->role != LSH_ROLE_SERVER || c->auth == NULL ||
        c->auth->sv.pending == SK_NONE_PENDING) {
        return LSH_ESTATE;
    }
    sv = &c->auth->sv;
    a = &sv->arena;
    memset(out, 0, sizeof(*out));
    out->user = lsh__auth_arena_str(a, sv->f_user);
    out->user_len = sv->f_user.len;
    out->service = lsh__auth_arena_str(a, sv->f_service);
    out->method = sv->method;
    out->phase = sv->phase;
    switch (sv->pending) {
    case SK_PASSWORD:
        out->password = lsh__auth_arena_str(a, sv->f_password);
        out->password_len = sv->f_password.len;
        if (sv->phase == 1) {
            out->new_password = lsh__auth_arena_str(a, sv->f_newpw);
            out->new_password_len = sv->f_newpw.len;
        }
        break;
    case SK_PK_SIGNED:
        out->signature_verified = 1;
        out->sk_flags = sv->sk.sk_flags;
        out->sk_counter = sv->sk.sk_counter;
        /* fall through */
    case SK_PK_QUERY:
        out->key_alg = lsh__auth_arena_str(a, sv->f_alg);
        out->key_blob = (const uint8_t *)lsh__auth_arena_str(a, sv->f_blob);
        out->key_blob_len = sv->f_blob.len;
        out->key = sv->key;
        out->cert = sv->cert;
        break;
    case SK_KBD_RESPONSES:
        out->n_responses = sv->n_responses;
        out->responses = sv->resp_ptr;
        out->response_lens = sv->resp_len;
        /* fall through */
    case SK_KBD_START:
        out->submethods = lsh__auth_arena_str(a, sv->f_submethods);
        break;
    default:
        break;
    }
    return 0;
}

/* The request was answered: forget it and go on with the queue. */
static int
answered(lsh_conn *c, auth_server *sv, int r)
{
    if (r < 0) {
        return r;
    }
    return drain(c, sv);
}

int
lsh_auth_server_accept(lsh_conn *c)
{
    auth_server *sv;
    size_t held;
    uint8_t msg = LSH_MSG_USERAUTH_SUCCESS;
    int r;
    if ((r = pending_of(c, &sv)) != 0) {
        return r;
    }
    /* A query proves nothing (Go CVE-2024-45337). */
    if (sv->pending == SK_PK_QUERY) {
        return LSH_ESTATE;
    }
    /* Done for good: the state goes (later requests are ignored, and
     * the calls see c->auth_finished). */
    lsh__auth_finish(c);
    held = lsh_buf_len(&c->held);
    if ((r = lsh_conn_send(c, &msg, 1)) != 0) {
        return r;
    }
    /* Sent now, not held back by a key exchange: compression (delayed)
     * starts with our next packet and the peer's next one. */
    if (lsh_buf_len(&c->held) == held) {
        lsh_conn_set_authenticated(c);
    }
    return 0;
}

int
lsh_auth_server_reject(lsh_conn *c, const char *methods, int partial)
{
    auth_server *sv;
    int r;
    if ((r = pending_of(c, &sv)) != 0) {
        return r;
    }
    if (methods != NULL) {
        size_t n = strlen(methods);
        if (n > LSH_AUTH_METHODS_MAX || lsh_namelist_check(methods, n) != 0) {
            return LSH_EINVAL;
        }
        if (set_continue(sv, methods) != 0) {
            return LSH_ENOMEM;
        }
    }
    clear_request(sv);
    return answered(c, sv, send_failure(c, sv, partial != 0));
}

int
lsh_auth_server_pk_ok(lsh_conn *c)
{
    auth_server *sv;
    lsh_buf b;
    int r;
    if ((r = pending_of(c, &sv)) != 0) {
        return r;
    }
    if (sv->pending != SK_PK_QUERY) {
        return LSH_ESTATE;
    }
    if ((r = tries_left(c, sv)) != 0) {
        return r;
    }
    lsh_buf_init(&b, LSH_AUTH_BLOB_MAX + 128);
    if ((r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_PK_OK)) != 0 ||
        (r = lsh_buf_put_string(&b, lsh_buf_ptr(&sv->arena) + sv->f_alg.off,
                                sv->f_alg.len)) != 0 ||
        (r = lsh_buf_put_string(&b, lsh_buf_ptr(&sv->arena) + sv->f_blob.off,
                                sv->f_blob.len)) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    clear_request(sv);
    return answered(c, sv, lsh__auth_send(c, &b));
}

static int
text_ok(const char *s)
{
    return s == NULL || strlen(s) <= LSH_AUTH_TEXT_MAX;
}

int
lsh_auth_server_info_request(lsh_conn *c, const char *name,
                             const char *instruction,
                             const char *const *prompts, const int *echo,
                             size_t n)
{
    auth_server *sv;
    lsh_buf b;
    int r;
    if ((r = pending_of(c, &sv)) != 0) {
        return r;
    }
    if (sv->pending != SK_KBD_START && sv->pending != SK_KBD_RESPONSES) {
        return LSH_ESTATE;
    }
    if (n > LSH_AUTH_PROMPTS_MAX || (n > 0 && (prompts == NULL ||
                                               echo == NULL)) ||
        !text_ok(name) || !text_ok(instruction)) {
        return LSH_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        /* RFC 4256 §3.2: "The prompt field(s) MUST NOT be empty". */
        if (prompts[i] == NULL || prompts[i][0] == '\0' ||
            !text_ok(prompts[i])) {
            return LSH_EINVAL;
        }
    }
    if ((r = tries_left(c, sv)) != 0) {
        return r;
    }
    lsh_buf_init(&b, LSH_PKT_MAX);
    r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_INFO_REQUEST);
    if (r == 0 && (r = lsh_buf_put_cstring(&b, name ? name : "")) == 0 &&
        (r = lsh_buf_put_cstring(&b, instruction ? instruction : "")) == 0 &&
        (r = lsh_buf_put_cstring(&b, "")) == 0) {
        r = lsh_buf_put_u32(&b, (uint32_t)n);
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        if ((r = lsh_buf_put_cstring(&b, prompts[i])) == 0) {
            r = lsh_buf_put_bool(&b, echo[i] != 0);
        }
    }
    if (r != 0) {
        lsh_buf_free(&b);
        return r;
    }
    /* Keep the start request's fields; drop the last round's answers. */
    (void)lsh_buf_truncate(&sv->arena,
                           lsh_buf_len(&sv->arena) - sv->arena_base);
    sv->n_responses = 0;
    free_responses(sv);
    sv->pending = SK_NONE_PENDING;
    if ((r = lsh__auth_send(c, &b)) != 0) {
        return r;
    }
    sv->kbd_waiting = 1;
    sv->kbd_expect = (uint32_t)n;
    return drain(c, sv);
}

int
lsh_auth_server_passwd_changereq(lsh_conn *c, const char *prompt)
{
    auth_server *sv;
    lsh_buf b;
    int r;
    if ((r = pending_of(c, &sv)) != 0) {
        return r;
    }
    if (sv->pending != SK_PASSWORD) {
        return LSH_ESTATE;
    }
    if (!text_ok(prompt)) {
        return LSH_EINVAL;
    }
    if ((r = tries_left(c, sv)) != 0) {
        return r;
    }
    lsh_buf_init(&b, LSH_AUTH_TEXT_MAX + 64);
    if ((r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_PASSWD_CHANGEREQ)) != 0 ||
        (r = lsh_buf_put_cstring(&b, prompt ? prompt : "")) != 0 ||
        (r = lsh_buf_put_cstring(&b, "")) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    clear_request(sv);
    return answered(c, sv, lsh__auth_send(c, &b));
}

int
lsh_auth_server_banner(lsh_conn *c, const char *text)
{
    auth_server *sv;
    lsh_buf b;
    int r;
    if ((r = server_of(c, &sv)) != 0) {
        return r;
    }
    /* RFC 4252 §5.4: after the protocol starts, before success. */
    if (!c->service_accepted || sv == NULL) {
        return LSH_ESTATE;
    }
    if (text == NULL || strlen(text) > LSH_AUTH_BANNER_MAX) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&b, LSH_AUTH_BANNER_MAX + 64);
    if ((r = lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_BANNER)) != 0 ||
        (r = lsh_buf_put_cstring(&b, text)) != 0 ||
        (r = lsh_buf_put_cstring(&b, "")) != 0) {
        lsh_buf_free(&b);
        return r;
    }
    return lsh__auth_send(c, &b);
}
