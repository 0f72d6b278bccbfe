/*
 * libFuzzer target: a server core after the key exchange, fed arbitrary
 * decrypted messages of the user authentication (RFC 4252, RFC 4256,
 * OpenSSH certificates) and connection (RFC 4254) protocols, with an
 * application that answers as a real server would.
 *
 * A real client core and a server core complete the key exchange; the
 * client then sends SERVICE_REQUEST "ssh-userauth" (unless flag bit 1),
 * or both sides are marked authenticated at once (flag bit 0); bit 2
 * narrows the server's methods, bit 3 its signature algorithms, and
 * flags % 8 sets MaxAuthTries (3..10).  The second byte seeds the
 * application's choices.  The rest
 * of the input is a list of steps; each step is one byte `op`:
 *
 *   op < 0x40  raw: u16 length + payload, its type byte forced into
 *              50..127, sent by the client with its keys (bypassing its
 *              own state machine);
 *   otherwise  a well-formed message built from the bytes that follow,
 *              so that deep states are reached: USERAUTH_REQUEST "none",
 *              "password" (with change), "publickey" queries and requests
 *              signed over the real session identifier (plain keys, user
 *              certificates good and bad, host certificates, forged CA
 *              signatures, wrong signers, mismatched algorithm names),
 *              "keyboard-interactive", INFO_RESPONSE, unknown methods;
 *              CHANNEL_OPEN of every type, CHANNEL_REQUEST of every
 *              session request with valid or raw data, DATA, EXTENDED_DATA,
 *              WINDOW_ADJUST, EOF, CLOSE, replies, GLOBAL_REQUEST; or an
 *              action of the server application (answer a pending
 *              authentication request, open a channel, write, close,
 *              keepalive).
 *
 * The server application (side 1 events) accepts or rejects auth
 * requests (pk_ok for queries, info_request rounds, password change
 * requests, banners), validating certificates as a caller must; it
 * accepts most channel opens, answers requests in varying orders,
 * consumes and echoes data.  Its output is discarded unheard.
 *
 * Besides "never crash, leak, hang or grow without bound", the harness
 * aborts when a security invariant breaks:
 *   - the server is authenticated although the application never
 *     accepted (and the input did not start authenticated);
 *   - a publickey request reaches the application as signed (phase 1)
 *     without a verified signature, or with a certificate whose CA
 *     signature does not verify, or whose key is not the certified key;
 *   - a channel is opened or requested before authentication;
 *   - more channels than the limit exist.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "ssh/auth/auth.h"
#include "ssh/auth/auth_internal.h"
#include "ssh/conn_internal.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"
#include "ssh/keys/cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((uint64_t)1700000000)
#define MAX_CHANNELS 16u

/* Keys and credentials made once. */
static lsh_key *host_key, *ca, *user_ed, *user_ec, *other;
enum { CRED_PLAIN_ED, CRED_CERT_ED, CRED_CERT_BOB, CRED_HOST_CERT,
       CRED_FORGED, CRED_PLAIN_EC, CRED_CERT_EC, CRED_EXPIRED, CRED_N };
static lsh_buf cred_blob[CRED_N];
static const char *const cred_alg[CRED_N] = {
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com"};
static const lsh_key **cred_signer[CRED_N] = {
    (const lsh_key **)&user_ed, (const lsh_key **)&user_ed,
    (const lsh_key **)&user_ed, (const lsh_key **)&user_ed,
    (const lsh_key **)&user_ed, (const lsh_key **)&user_ec,
    (const lsh_key **)&user_ec, (const lsh_key **)&user_ed};
/* Names to mismatch with the blobs. */
static const char *const other_algs[] = {
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "rsa-sha2-512",
    "rsa-sha2-256-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com", "ssh-dss",
    "-cert-v01@openssh.com", "x"};

/* Aborts, naming the broken invariant's line. */
#define die_if(bad) die_if_at((bad), __LINE__)

static void
die_if_at(int bad, int line)
{
    if (bad) {
        fprintf(stderr, "fuzz_server_postkex: invariant at line %d broken\n",
                line);
        abort();
    }
}

static pair_rng cert_rng = {0xc0ffee};

static void
make_cert(const lsh_key *subject, int type, const char *principal,
          uint64_t before, lsh_buf *out)
{
    const char *pr[1] = {principal};
    lsh_cert_params prm;
    memset(&prm, 0, sizeof(prm));
    prm.type = type;
    prm.principals = pr;
    prm.nprincipals = 1;
    prm.valid_after = 0;
    prm.valid_before = before;
    die_if(lsh_cert_create(ca, NULL, subject, &prm, pair_rng_fill, &cert_rng,
                           out) != 0);
}

static void
init_once(void)
{
    if (host_key != NULL) {
        return;
    }
    die_if(lsh_key_generate(LSH_KEY_ED25519, 0, &host_key) != 0 ||
           lsh_key_generate(LSH_KEY_ED25519, 0, &ca) != 0 ||
           lsh_key_generate(LSH_KEY_ED25519, 0, &user_ed) != 0 ||
           lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &user_ec) != 0 ||
           lsh_key_generate(LSH_KEY_ED25519, 0, &other) != 0);
    for (int i = 0; i < CRED_N; i++) {
        lsh_buf_init(&cred_blob[i], 0);
    }
    die_if(lsh_key_to_blob(user_ed, &cred_blob[CRED_PLAIN_ED]) != 0 ||
           lsh_key_to_blob(user_ec, &cred_blob[CRED_PLAIN_EC]) != 0);
    make_cert(user_ed, LSH_CERT_USER, "alice", LSH_CERT_FOREVER,
              &cred_blob[CRED_CERT_ED]);
    make_cert(user_ed, LSH_CERT_USER, "bob", LSH_CERT_FOREVER,
              &cred_blob[CRED_CERT_BOB]);
    make_cert(user_ed, LSH_CERT_HOST, "alice", LSH_CERT_FOREVER,
              &cred_blob[CRED_HOST_CERT]);
    make_cert(user_ed, LSH_CERT_USER, "alice", LSH_CERT_FOREVER,
              &cred_blob[CRED_FORGED]);
    /* The last byte of the CA's signature, flipped: still parses. */
    ((uint8_t *)lsh_buf_ptr(&cred_blob[CRED_FORGED]))
        [lsh_buf_len(&cred_blob[CRED_FORGED]) - 1] ^= 0x40;
    make_cert(user_ec, LSH_CERT_USER, "alice", LSH_CERT_FOREVER,
              &cred_blob[CRED_CERT_EC]);
    make_cert(user_ed, LSH_CERT_USER, "alice", NOW - 1,
              &cred_blob[CRED_EXPIRED]);
}

/* The input, read as a stream; past its end every read gives zeros. */
typedef struct in {
    const uint8_t *p;
    size_t n, off;
} in;

static uint8_t
in_u8(in *s)
{
    return s->off < s->n ? s->p[s->off++] : 0;
}

static uint32_t
in_u32(in *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v << 8 | in_u8(s);
    }
    return v;
}

/* Up to `max` bytes, the length from one byte (or two when big). */
static lsh_span
in_bytes(in *s, size_t max, int big)
{
    size_t n = in_u8(s);
    lsh_span sp;
    if (big) {
        n = n << 8 | in_u8(s);
    }
    if (n > max) {
        n = max;
    }
    if (n > s->n - s->off) {
        n = s->n - s->off;
    }
    sp.p = s->p + s->off;
    sp.n = n;
    s->off += n;
    return sp;
}

static const char *
in_pick(in *s, const char *const *list, size_t n)
{
    return list[in_u8(s) % n];
}

/* A small channel number most of the time, any number sometimes. */
static uint32_t
in_chan(in *s)
{
    uint8_t b = in_u8(s);
    return (b & 0xf0) == 0xf0 ? in_u32(s) : (uint32_t)(b % 8);
}

/* ------------------------------------------------------------------ */
/* The server application                                              */

/* FUZZ_TRACE=1 in the environment prints the server's events, to check
 * which states an input reaches. */
static int trace = -1;

typedef struct app {
    pair p;
    uint8_t knob;
    unsigned events;
    int accepted;       /* lsh_auth_server_accept succeeded */
    int started_authed; /* flag bit 0 */
    int kbd_rounds;
} app;

static uint8_t
knob(app *a)
{
    a->events++;
    return (uint8_t)(a->knob * 31u + a->events * 7u);
}

static void
try_accept(app *a)
{
    if (lsh_auth_server_accept(a->p.s) == 0) {
        a->accepted = 1;
    }
}

/* Answers the pending authentication request, as a server would. */
static void
answer_auth(app *a, uint8_t k)
{
    lsh_conn *s = a->p.s;
    lsh_auth_request rq;
    static const char *const prompts[] = {"Password: ", "Code: ", "PIN: "};
    static const int echo[] = {0, 1, 0};
    static const char *const lists[] = {NULL, "publickey", "password",
                                        "keyboard-interactive",
                                        "publickey,password", ""};
    if (lsh_auth_server_request(s, &rq) != 0) {
        return;
    }
    if ((k & 0x60) == 0x60) {
        (void)lsh_auth_server_banner(s, "Welcome\r\n\x1b[31m");
    }
    switch (k % 6) {
    case 0:
        try_accept(a);
        break;
    case 1:
        (void)lsh_auth_server_pk_ok(s);
        break;
    case 2:
        a->kbd_rounds++;
        (void)lsh_auth_server_info_request(
            s, (k & 8) ? "Login" : NULL, (k & 16) ? "Answer please" : NULL,
            prompts, echo, (size_t)((k >> 3) % 4));
        break;
    case 3:
        (void)lsh_auth_server_passwd_changereq(s, "Expired");
        break;
    case 4:
        /* Leave it pending: later requests queue behind it. */
        break;
    default:
        (void)lsh_auth_server_reject(s, lists[(k >> 3) % 6], (k >> 6) & 1);
        break;
    }
}

/* A policy for publickey requests: certificates are validated the way
 * a caller must before accepting. */
static void
on_auth_request(app *a, const lsh_event *ev)
{
    lsh_conn *s = a->p.s;
    lsh_auth_request rq;
    uint8_t k = knob(a);
    char err[128];
    die_if(lsh_auth_server_request(s, &rq) != 0);
    die_if(rq.user == NULL || rq.method == NULL ||
           strcmp(rq.method, ev->name) != 0);
    if (trace) {
        fprintf(stderr, "auth request %s/%d user=%s alg=%s cert=%d k=%u\n",
                rq.method, rq.phase, rq.user, rq.key_alg ? rq.key_alg : "-",
                rq.cert != NULL, k);
    }
    if (strcmp(rq.method, "publickey") == 0) {
        die_if(rq.key == NULL || rq.key_alg == NULL || rq.key_blob == NULL);
        if (rq.cert != NULL) {
            die_if(rq.key != lsh_cert_key(rq.cert));
            die_if(lsh_cert_type(rq.cert) != LSH_CERT_USER);
        }
        if (rq.phase == 1) {
            /* The layer verified the request's signature, and the CA's. */
            die_if(!rq.signature_verified);
            die_if(rq.cert != NULL && lsh_cert_verify_signature(rq.cert));
        }
        if (rq.cert != NULL && (k & 1)) {
            int ok = lsh_key_equal_public(lsh_cert_signature_key(rq.cert),
                                          ca) &&
                     lsh_cert_validate_ex(rq.cert, LSH_CERT_USER, rq.user,
                                          NOW, LSH_CERT_REQUIRE_PRINCIPALS,
                                          err, sizeof(err)) == 0;
            if (trace) {
                fprintf(stderr, "certificate: %s\n", ok ? "valid" : err);
            }
            if (!ok) {
                (void)lsh_auth_server_reject(s, NULL, 0);
                return;
            }
            if (rq.phase == 0) {
                (void)lsh_auth_server_pk_ok(s);
            } else {
                try_accept(a);
            }
            return;
        }
    }
    if (strcmp(rq.method, "keyboard-interactive") == 0 && rq.phase == 1) {
        for (size_t i = 0; i < rq.n_responses; i++) {
            die_if(rq.responses[i] == NULL ||
                   strlen(rq.responses[i]) > rq.response_lens[i]);
        }
    }
    answer_auth(a, k);
}

static void
finish_exec(lsh_conn *s, uint32_t ch, uint8_t k)
{
    lsh_buf st;
    lsh_buf_init(&st, 0);
    (void)lsh_chan_write(s, ch, 0, (const uint8_t *)"output\n", 7);
    (void)lsh_chan_write(s, ch, LSH_EXTENDED_DATA_STDERR,
                         (const uint8_t *)"error\n", 6);
    if (lsh_chan_exit_status_data(&st, k) == 0) {
        (void)lsh_chan_request(s, ch, "exit-status", 0, lsh_buf_ptr(&st),
                               lsh_buf_len(&st));
    }
    (void)lsh_chan_send_eof(s, ch);
    if (k & 4) {
        (void)lsh_chan_close(s, ch);
    }
    lsh_buf_free(&st);
}

static void
server_app(pair *p, int side, const lsh_event *ev)
{
    app *a = p->user;
    lsh_conn *s = p->s;
    uint8_t k;
    if (side != 1) {
        return;
    }
    if (trace) {
        fprintf(stderr, "server event %d name=%s chan=%u num=%u code=%d %s\n",
                (int)ev->type, ev->name ? ev->name : "-", ev->chan, ev->num,
                ev->code, ev->text ? ev->text : "");
    }
    switch (ev->type) {
    case LSH_EV_AUTH_REQUEST:
        on_auth_request(a, ev);
        return;
    case LSH_EV_CHAN_OPEN:
    case LSH_EV_CHAN_REQUEST:
    case LSH_EV_GLOBAL_REQUEST:
        /* P-1: no connection-protocol message before authentication. */
        die_if(!s->authenticated);
        inject_parse_all(ev);
        break;
    default:
        break;
    }
    k = knob(a);
    switch (ev->type) {
    case LSH_EV_CHAN_OPEN:
        if ((k & 7) != 7) {
            (void)lsh_chan_accept(s, ev->chan, (k & 8) ? 1024 : 0,
                                  (k & 16) ? 64 : 0);
        } else if (k & 8) {
            (void)lsh_chan_reject(s, ev->chan,
                                  LSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                  "no");
        }
        break;
    case LSH_EV_CHAN_REQUEST:
        if (ev->num && (k & 3) != 3) {
            (void)lsh_chan_request_reply_id(s, ev->chan, ev->id, k & 4);
        }
        if ((k & 0x30) == 0x30) {
            /* The oldest unanswered one, whichever it is. */
            (void)lsh_chan_request_reply(s, ev->chan, 1);
        }
        if (strcmp(ev->name, "exec") == 0 || strcmp(ev->name, "shell") == 0) {
            finish_exec(s, ev->chan, k);
        }
        break;
    case LSH_EV_GLOBAL_REQUEST:
        if (ev->num && (k & 3) != 3) {
            (void)lsh_global_request_reply_id(
                s, ev->id, k & 4, (const uint8_t *)"\0\0\x12\x34",
                (k & 8) ? 4 : 0);
        }
        if ((k & 0x30) == 0x30) {
            (void)lsh_global_request_reply(s, 0, NULL, 0);
        }
        break;
    case LSH_EV_CHAN_DATA:
        if (k & 1) {
            (void)lsh_chan_consumed(s, ev->chan, ev->len);
        }
        if (k & 2) {
            (void)lsh_chan_write(s, ev->chan, (k & 4) ? 1 : 0, ev->data,
                                 ev->len);
        }
        break;
    case LSH_EV_CHAN_EOF:
        if (k & 1) {
            (void)lsh_chan_close(s, ev->chan);
        }
        break;
    case LSH_EV_CHAN_WRITABLE:
        if (ev->chan != LSH_CHAN_ALL) {
            (void)lsh_chan_write(s, ev->chan, 0, (const uint8_t *)"more", 4);
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Messages the client sends                                           */

static int
send_msg(app *a, lsh_buf *b)
{
    int r = lsh__conn_send_now(a->p.c, lsh_buf_ptr(b), lsh_buf_len(b));
    lsh_buf_free(b);
    return r;
}

static void
put_head(lsh_buf *b, in *s, const char *method)
{
    static const char *const users[] = {"alice", "bob", "", "root"};
    uint8_t u = in_u8(s);
    (void)lsh_buf_put_u8(b, LSH_MSG_USERAUTH_REQUEST);
    if (u >= 0xf0) {
        lsh_span sp = in_bytes(s, 300, 0);
        (void)lsh_buf_put_string(b, sp.p, sp.n);
    } else {
        (void)lsh_buf_put_cstring(b, users[u % 4]);
    }
    (void)lsh_buf_put_cstring(b, (u & 0x40) && u < 0xf0 ? "ssh-userauth"
                                                        : "ssh-connection");
    (void)lsh_buf_put_cstring(b, method);
}

/* USERAUTH_REQUEST "publickey": a query, or signed over the session
 * identifier by the right key, the wrong one, or with a flipped bit. */
static int
build_publickey(app *a, in *s, int sign)
{
    uint8_t c = in_u8(s), how = in_u8(s);
    const char *alg = cred_alg[c % CRED_N];
    const lsh_key *signer = *cred_signer[c % CRED_N];
    lsh_span blob = {lsh_buf_ptr(&cred_blob[c % CRED_N]),
                     lsh_buf_len(&cred_blob[c % CRED_N])};
    size_t sidlen;
    const uint8_t *sid = lsh_conn_session_id(a->p.c, &sidlen);
    lsh_buf b, d, sig;
    if (how & 1) {
        alg = in_pick(s, other_algs, sizeof(other_algs) /
                                         sizeof(other_algs[0]));
    }
    if (c >= 0xf8) {
        blob = in_bytes(s, 2048, 1); /* any bytes as the key */
    }
    lsh_buf_init(&b, 0);
    put_head(&b, s, "publickey");
    (void)lsh_buf_put_bool(&b, sign);
    (void)lsh_buf_put_cstring(&b, alg);
    (void)lsh_buf_put_string(&b, blob.p, blob.n);
    if (!sign) {
        return send_msg(a, &b);
    }
    /* RFC 4252 §7: string session_id || the request so far. */
    lsh_buf_init(&d, 0);
    lsh_buf_init(&sig, 0);
    (void)lsh_buf_put_string(&d, sid, sidlen);
    (void)lsh_buf_put(&d, lsh_buf_ptr(&b), lsh_buf_len(&b));
    if (how & 2) {
        signer = other;
    }
    if (lsh_key_sign(signer, NULL, lsh_buf_ptr(&d), lsh_buf_len(&d), &sig) ==
            0 &&
        lsh_buf_len(&sig) > 0) {
        if (how & 4) {
            ((uint8_t *)lsh_buf_ptr(&sig))[lsh_buf_len(&sig) - 1 -
                                          (how >> 4)] ^= 1;
        }
        (void)lsh_buf_put_stringb(&b, &sig);
    } else {
        (void)lsh_buf_put_cstring(&b, "");
    }
    lsh_buf_free(&d);
    lsh_buf_free(&sig);
    return send_msg(a, &b);
}

static int
build_userauth(app *a, in *s, uint8_t which)
{
    lsh_buf b;
    lsh_span sp;
    lsh_buf_init(&b, 0);
    switch (which % 7) {
    case 0:
        put_head(&b, s, "none");
        break;
    case 1: {
        int change = in_u8(s) & 1;
        put_head(&b, s, "password");
        (void)lsh_buf_put_bool(&b, change);
        sp = in_bytes(s, 2048, in_u8(s) == 0xff);
        (void)lsh_buf_put_string(&b, sp.p, sp.n);
        if (change) {
            sp = in_bytes(s, 2048, 0);
            (void)lsh_buf_put_string(&b, sp.p, sp.n);
        }
        break;
    }
    case 2:
    case 3:
        lsh_buf_free(&b);
        return build_publickey(a, s, which % 7 == 3);
    case 4:
        put_head(&b, s, "keyboard-interactive");
        (void)lsh_buf_put_cstring(&b, "");
        sp = in_bytes(s, 64, 0);
        (void)lsh_buf_put_string(&b, sp.p, sp.n);
        break;
    case 5: {
        /* INFO_RESPONSE with n responses (RFC 4256 §3.4). */
        uint32_t n = in_u8(s);
        n = n >= 0xf0 ? in_u32(s) : n % 5;
        (void)lsh_buf_put_u8(&b, LSH_MSG_USERAUTH_INFO_RESPONSE);
        (void)lsh_buf_put_u32(&b, n);
        for (uint32_t i = 0; i < n && i < 70; i++) {
            sp = in_bytes(s, 2048, 0);
            (void)lsh_buf_put_string(&b, sp.p, sp.n);
        }
        break;
    }
    default: {
        static const char *const methods[] = {"hostbased", "gssapi-with-mic",
                                              "publickey ", "PASSWORD", ""};
        put_head(&b, s, in_pick(s, methods, 5));
        sp = in_bytes(s, 256, 0);
        (void)lsh_buf_put(&b, sp.p, sp.n);
        break;
    }
    }
    return send_msg(a, &b);
}

static int
build_open(app *a, in *s)
{
    static const char *const types[] = {
        "session", "direct-tcpip", "x11", "forwarded-tcpip",
        "direct-streamlocal@openssh.com", "auth-agent@openssh.com",
        "tun@openssh.com", "session\x01"};
    const char *type = in_pick(s, types, 8);
    uint8_t f = in_u8(s);
    lsh_buf b, td;
    lsh_buf_init(&b, 0);
    lsh_buf_init(&td, 0);
    if (f & 1) {
        lsh_span sp = in_bytes(s, 512, 0);
        (void)lsh_buf_put(&td, sp.p, sp.n);
    } else if (strcmp(type, "direct-tcpip") == 0 ||
               strcmp(type, "forwarded-tcpip") == 0) {
        lsh_tcpip_open o = {lsh_span_str("localhost"), in_u32(s) % 70000,
                            lsh_span_str("127.0.0.1"), 4242};
        (void)lsh_chan_direct_tcpip_data(&td, &o);
    } else if (strcmp(type, "direct-streamlocal@openssh.com") == 0) {
        (void)lsh_chan_direct_streamlocal_data(&td,
                                               lsh_span_str("/tmp/sock"));
    } else if (strcmp(type, "x11") == 0) {
        (void)lsh_chan_x11_open_data(&td, lsh_span_str("127.0.0.1"), 6000);
    }
    (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_OPEN);
    (void)lsh_buf_put_cstring(&b, type);
    (void)lsh_buf_put_u32(&b, (f & 2) ? in_u32(s) : in_u8(s));
    (void)lsh_buf_put_u32(&b, (f & 4) ? in_u32(s) : 65536u);
    (void)lsh_buf_put_u32(&b, (f & 8) ? in_u32(s) : 32768u);
    (void)lsh_buf_put_stringb(&b, &td);
    lsh_buf_free(&td);
    return send_msg(a, &b);
}

/* The type-specific data of a session request, well-formed. */
static void
request_data(in *s, const char *type, lsh_buf *td)
{
    if (strcmp(type, "pty-req") == 0) {
        lsh_tty_mode m[3] = {{LSH_TTY_ECHO, in_u8(s) & 1},
                             {LSH_TTY_OP_ISPEED, 38400},
                             {(uint8_t)(1 + in_u8(s) % 159), in_u32(s)}};
        lsh_buf modes;
        lsh_pty_req r;
        lsh_buf_init(&modes, 0);
        (void)lsh_tty_modes_encode(&modes, m, 3);
        r.term = lsh_span_str("xterm-256color");
        r.cols = in_u32(s);
        r.rows = in_u32(s);
        r.width_px = r.height_px = 0;
        r.modes.p = lsh_buf_ptr(&modes);
        r.modes.n = lsh_buf_len(&modes);
        (void)lsh_chan_pty_req_data(td, &r);
        lsh_buf_free(&modes);
    } else if (strcmp(type, "exec") == 0) {
        (void)lsh_chan_exec_data(td, in_bytes(s, 4096, 1));
    } else if (strcmp(type, "subsystem") == 0) {
        (void)lsh_chan_subsystem_data(td, lsh_span_str("sftp"));
    } else if (strcmp(type, "env") == 0) {
        lsh_env_req e = {lsh_span_str("LANG"), in_bytes(s, 256, 0)};
        (void)lsh_chan_env_data(td, &e);
    } else if (strcmp(type, "window-change") == 0) {
        lsh_window_change w = {in_u32(s), in_u32(s), 0, 0};
        (void)lsh_chan_window_change_data(td, &w);
    } else if (strcmp(type, "signal") == 0) {
        (void)lsh_chan_signal_data(td, lsh_span_str("TERM"));
    } else if (strcmp(type, "break") == 0) {
        (void)lsh_chan_break_data(td, in_u32(s));
    } else if (strcmp(type, "exit-status") == 0) {
        (void)lsh_chan_exit_status_data(td, in_u32(s));
    } else if (strcmp(type, "exit-signal") == 0) {
        lsh_exit_signal e = {lsh_span_str("KILL"), 1, lsh_span_str("bye"),
                             lsh_span_str("")};
        (void)lsh_chan_exit_signal_data(td, &e);
    } else if (strcmp(type, "x11-req") == 0) {
        lsh_x11_req x = {1, lsh_span_str("MIT-MAGIC-COOKIE-1"),
                         lsh_span_str("0123456789abcdef"), 0};
        (void)lsh_chan_x11_req_data(td, &x);
    } else if (strcmp(type, "xon-xoff") == 0) {
        (void)lsh_chan_xon_xoff_data(td, in_u8(s) & 1);
    }
}

static int
build_chan_request(app *a, in *s)
{
    static const char *const types[] = {
        "pty-req", "shell", "exec", "subsystem", "env", "window-change",
        "signal", "break", "exit-status", "exit-signal", "x11-req",
        "auth-agent-req@openssh.com", "xon-xoff", "keepalive@openssh.com",
        "eow@openssh.com", "no-such-request"};
    const char *type = in_pick(s, types, 16);
    uint32_t ch = in_chan(s);
    uint8_t f = in_u8(s);
    lsh_buf b, td;
    lsh_buf_init(&b, 0);
    lsh_buf_init(&td, 0);
    if (f & 1) {
        lsh_span sp = in_bytes(s, 1024, 0);
        (void)lsh_buf_put(&td, sp.p, sp.n);
    } else {
        request_data(s, type, &td);
    }
    (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_REQUEST);
    (void)lsh_buf_put_u32(&b, ch);
    (void)lsh_buf_put_cstring(&b, type);
    (void)lsh_buf_put_bool(&b, (f >> 1) & 1);
    (void)lsh_buf_put(&b, lsh_buf_ptr(&td), lsh_buf_len(&td));
    lsh_buf_free(&td);
    return send_msg(a, &b);
}

static int
build_channel_msg(app *a, in *s, uint8_t which)
{
    lsh_buf b;
    uint32_t ch = in_chan(s);
    lsh_buf_init(&b, 0);
    switch (which % 8) {
    case 0:
    case 1: {
        /* DATA / EXTENDED_DATA: often larger than a packet allows. */
        uint8_t f = in_u8(s);
        size_t n = (f & 0x80) ? (size_t)(f & 0x7f) * 1024 : f;
        lsh_span sp = in_bytes(s, 256, 0);
        uint8_t *buf = calloc(1, n + sp.n + 1);
        die_if(buf == NULL);
        memcpy(buf, sp.p, sp.n);
        (void)lsh_buf_put_u8(&b, which % 8 ? LSH_MSG_CHANNEL_EXTENDED_DATA
                                           : LSH_MSG_CHANNEL_DATA);
        (void)lsh_buf_put_u32(&b, ch);
        if (which % 8) {
            (void)lsh_buf_put_u32(&b, in_u8(s) % 3);
        }
        (void)lsh_buf_put_string(&b, buf, n + sp.n);
        free(buf);
        break;
    }
    case 2:
        (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_WINDOW_ADJUST);
        (void)lsh_buf_put_u32(&b, ch);
        (void)lsh_buf_put_u32(&b, in_u32(s));
        break;
    case 3:
        (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_EOF);
        (void)lsh_buf_put_u32(&b, ch);
        break;
    case 4:
        (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_CLOSE);
        (void)lsh_buf_put_u32(&b, ch);
        break;
    case 5:
        (void)lsh_buf_put_u8(&b, (in_u8(s) & 1) ? LSH_MSG_CHANNEL_SUCCESS
                                                : LSH_MSG_CHANNEL_FAILURE);
        (void)lsh_buf_put_u32(&b, ch);
        break;
    case 6:
        /* The answer to a channel the server opened. */
        if (in_u8(s) & 1) {
            (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_OPEN_CONFIRMATION);
            (void)lsh_buf_put_u32(&b, ch);
            (void)lsh_buf_put_u32(&b, in_u8(s));
            (void)lsh_buf_put_u32(&b, in_u32(s));
            (void)lsh_buf_put_u32(&b, in_u32(s));
        } else {
            (void)lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_OPEN_FAILURE);
            (void)lsh_buf_put_u32(&b, ch);
            (void)lsh_buf_put_u32(&b, in_u32(s));
            (void)lsh_buf_put_cstring(&b, "refused\x07");
            (void)lsh_buf_put_cstring(&b, "");
        }
        break;
    default:
        (void)lsh_buf_put_u8(&b, (in_u8(s) & 1) ? LSH_MSG_REQUEST_SUCCESS
                                                : LSH_MSG_REQUEST_FAILURE);
        if (ch & 1) {
            (void)lsh_buf_put_u32(&b, 2222);
        }
        break;
    }
    return send_msg(a, &b);
}

static int
build_global(app *a, in *s)
{
    static const char *const names[] = {
        "tcpip-forward", "cancel-tcpip-forward", "keepalive@openssh.com",
        "no-more-sessions@openssh.com", "streamlocal-forward@openssh.com",
        "cancel-streamlocal-forward@openssh.com",
        "hostkeys-prove-00@openssh.com", "x"};
    const char *name = in_pick(s, names, 8);
    uint8_t f = in_u8(s);
    lsh_buf b, td;
    lsh_buf_init(&b, 0);
    lsh_buf_init(&td, 0);
    if (f & 1) {
        lsh_span sp = in_bytes(s, 512, 0);
        (void)lsh_buf_put(&td, sp.p, sp.n);
    } else if (strstr(name, "tcpip-forward") != NULL) {
        (void)lsh_chan_tcpip_forward_data(&td, lsh_span_str("0.0.0.0"),
                                          in_u32(s) % 70000);
    } else if (strstr(name, "streamlocal") != NULL) {
        (void)lsh_chan_streamlocal_forward_data(&td,
                                                lsh_span_str("/tmp/s"));
    }
    (void)lsh_buf_put_u8(&b, LSH_MSG_GLOBAL_REQUEST);
    (void)lsh_buf_put_cstring(&b, name);
    (void)lsh_buf_put_bool(&b, (f >> 1) & 1);
    (void)lsh_buf_put_stringb(&b, &td);
    lsh_buf_free(&td);
    return send_msg(a, &b);
}

/* An action of the server application between messages.  It first
 * takes the events waiting, as an application's loop does: answering a
 * request whose event it has not read would be its own mistake. */
static void
app_action(app *a, in *s)
{
    lsh_conn *sv = a->p.s;
    uint8_t k = in_u8(s);
    uint32_t ch = in_chan(s), mine;
    lsh_event ev;
    while (lsh_conn_next_event(sv, &ev)) {
        pair_record(&a->p, 1, &ev);
    }
    if (a->p.closed[1]) {
        return;
    }
    switch (k % 8) {
    case 0:
        answer_auth(a, in_u8(s));
        break;
    case 1:
        (void)lsh_chan_write(sv, ch, k & 8 ? 1 : 0,
                             (const uint8_t *)"spontaneous", 11);
        break;
    case 2:
        (void)lsh_chan_close(sv, ch);
        break;
    case 3:
        (void)lsh_chan_send_eof(sv, ch);
        break;
    case 4: {
        lsh_tcpip_open o = {lsh_span_str("0.0.0.0"), 2222,
                            lsh_span_str("10.0.0.1"), 5555};
        lsh_buf td;
        lsh_buf_init(&td, 0);
        (void)lsh_chan_forwarded_tcpip_data(&td, &o);
        (void)lsh_chan_open(sv, (k & 8) ? "forwarded-tcpip"
                                        : "auth-agent@openssh.com",
                            lsh_buf_ptr(&td), lsh_buf_len(&td), 0, 0, &mine);
        lsh_buf_free(&td);
        break;
    }
    case 5:
        (void)lsh_conn_keepalive(sv);
        break;
    case 6:
        (void)lsh_chan_request(sv, ch, "keepalive@openssh.com", 1, NULL, 0);
        break;
    default:
        (void)lsh_chan_consumed(sv, ch, in_u32(s) % 70000);
        break;
    }
}

static int
step(app *a, in *s)
{
    uint8_t op = in_u8(s);
    if (trace) {
        fprintf(stderr, "step op 0x%02x at %zu\n", op, s->off - 1);
    }
    if (op < 0x40) {
        size_t n = ((size_t)in_u8(s) << 8 | in_u8(s)) % 4096;
        uint8_t *msg;
        int r;
        if (n > s->n - s->off) {
            n = s->n - s->off;
        }
        if (n == 0) {
            return 0;
        }
        msg = malloc(n);
        die_if(msg == NULL);
        memcpy(msg, s->p + s->off, n);
        s->off += n;
        msg[0] = (uint8_t)(50 + msg[0] % 78);
        r = lsh__conn_send_now(a->p.c, msg, n);
        free(msg);
        return r;
    }
    switch (op % 6) {
    case 0:
    case 1:
        return build_userauth(a, s, (uint8_t)(op >> 3));
    case 2:
        return (op & 8) ? build_open(a, s) : build_chan_request(a, s);
    case 3:
        return build_channel_msg(a, s, (uint8_t)(op >> 3));
    case 4:
        return build_global(a, s);
    default:
        app_action(a, s);
        return 0;
    }
}

static void
discard_server_output(pair *p)
{
    const uint8_t *o;
    size_t n;
    lsh_conn_out(p->s, &o, &n);
    lsh_conn_out_ack(p->s, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static app a;
    pair_opts o;
    lsh_chan_limits lim = {.max_channels = MAX_CHANNELS, .max_sessions = 4};
    in s = {data, size, 0};
    uint8_t flags;

    init_once();
    if (trace < 0) {
        trace = getenv("FUZZ_TRACE") != NULL;
    }
    if (size < 2) {
        return 0;
    }
    flags = in_u8(&s);
    memset(&a, 0, sizeof(a));
    a.knob = in_u8(&s);
    memset(&o, 0, sizeof(o));
    o.host_key = host_key;
    die_if(pair_init(&a.p, &o) != 0);
    pair_pump(&a.p, 65536);
    /* The harness itself must reach the post-kex state. */
    die_if(a.p.kex_done[1] != 1);
    die_if(lsh_chan_set_limits(a.p.s, &lim) != 0);
    die_if(lsh_auth_server_set_max_tries(a.p.s, 3 + flags % 8) != 0);
    if (flags & 1) {
        lsh_conn_set_authenticated(a.p.s);
        lsh_conn_set_authenticated(a.p.c);
        a.started_authed = 1;
    } else if (!(flags & 2)) {
        lsh_buf b;
        lsh_buf_init(&b, 0);
        (void)lsh_buf_put_u8(&b, LSH_MSG_SERVICE_REQUEST);
        (void)lsh_buf_put_cstring(&b, "ssh-userauth");
        die_if(send_msg(&a, &b) != 0);
    }
    if (flags & 4) {
        die_if(lsh_auth_server_set_methods(a.p.s, "publickey,password") !=
               0);
    }
    if (flags & 8) {
        /* Certificates only by their own name, and one plain type. */
        die_if(lsh_auth_server_set_sig_algs(
                   a.p.s, "ssh-ed25519-cert-v01@openssh.com,"
                          "ecdsa-sha2-nistp256") != 0);
    }
    a.p.user = &a;
    a.p.on_event = server_app;
    pair_move(&a.p, 0, 65536);
    discard_server_output(&a.p);

    while (s.off < s.n && !a.p.closed[1]) {
        if (step(&a, &s) != 0) {
            break;
        }
        pair_move(&a.p, 0, 65536);
        discard_server_output(&a.p);
        die_if(lsh_chan_count(a.p.s) > MAX_CHANNELS);
        /* Authenticated only through the application's accept. */
        die_if(a.p.s->authenticated && !a.accepted && !a.started_authed);
    }
    pair_free(&a.p);
    return 0;
}
