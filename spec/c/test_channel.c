/*
 * The connection layer (src/ssh/connection/channel.c, session.c): two
 * cores back to back (spec/c/pair.h), authenticated directly with
 * lsh_conn_set_authenticated.  Opens, sessions, flow control, many
 * channels, request ordering, keepalives, the core's own policies, every
 * P-7 rule of reliability-plan.md as a scripted-peer case, and the
 * session.h encoders and parsers with their negative cases.
 */
#include "testutil.h"

#include <malloc.h>

#include "pair.h"
#include "ssh/conn_internal.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static lsh_key *host_key;

/* Harness: event log and per-channel sinks for each side */

#define MAXCH 4096

typedef struct rec {
    lsh_event_type type;
    int code;
    uint32_t chan, num, id;
    char name[LSH_CHAN_NAME_MAX + 1];
    char text[512];
    uint8_t *extra;
    size_t extra_len;
} rec;

typedef struct chinfo {
    uint8_t *data[2]; /* [0] CHANNEL_DATA, [1] extended */
    size_t len[2], cap[2];
    uint32_t last_ext;
    int verify;       /* check against pat() instead of storing */
    uint32_t seed;
    uint64_t got;
    size_t pieces, maxpiece; /* DATA/EXTENDED_DATA events and the longest */
    int bad;
    int eof, close;
} chinfo;

typedef struct side {
    rec *log;
    size_t nlog, caplog;
    int nolog;               /* count only */
    int log_data;            /* DATA events go to the log too */
    unsigned count[LSH_EV_CLOSED + 1];
    int auto_accept, auto_reject;
    uint32_t acc_window, acc_packet;
    int auto_consume;
    chinfo *ch;
} side;

typedef struct world {
    pair p;
    side sd[2];
    /* rawf: the injecting side does not hear the replies (it is a
     * scripted peer whose own core knows nothing of what it sent). */
    int deaf;
} world;

static lsh_conn *
conn_of(world *w, int s)
{
    return s == 0 ? w->p.c : w->p.s;
}

static uint8_t
pat(uint64_t i, uint32_t seed)
{
    uint64_t x = (i + seed) * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return (uint8_t)(x ^ (x >> 17));
}

static void
fill_pat(uint8_t *b, size_t n, uint64_t off, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = pat(off + i, seed);
    }
}

static void
chinfo_reset(chinfo *ci)
{
    free(ci->data[0]);
    free(ci->data[1]);
    memset(ci, 0, sizeof(*ci));
}

static void
sink(chinfo *ci, uint32_t ext, const uint8_t *p, size_t n)
{
    int k = ext ? 1 : 0;
    ci->pieces++;
    if (n > ci->maxpiece) {
        ci->maxpiece = n;
    }
    if (ci->verify) {
        for (size_t i = 0; i < n; i++) {
            if (p[i] != pat(ci->got + i, ci->seed)) {
                ci->bad = 1;
            }
        }
        ci->got += n;
        return;
    }
    if (ci->len[k] + n > ci->cap[k]) {
        ci->cap[k] = (ci->len[k] + n) * 2;
        ci->data[k] = realloc(ci->data[k], ci->cap[k]);
    }
    memcpy(ci->data[k] + ci->len[k], p, n);
    ci->len[k] += n;
    ci->last_ext = ext;
    ci->got += n;
}

static void
log_event(side *sd, const lsh_event *ev)
{
    rec *r;
    if (sd->nolog || (ev->type == LSH_EV_CHAN_DATA && !sd->log_data)) {
        return;
    }
    if (sd->nlog == sd->caplog) {
        sd->caplog = sd->caplog ? sd->caplog * 2 : 64;
        sd->log = realloc(sd->log, sd->caplog * sizeof(*sd->log));
    }
    r = &sd->log[sd->nlog++];
    memset(r, 0, sizeof(*r));
    r->type = ev->type;
    r->code = ev->code;
    r->chan = ev->chan;
    r->num = ev->num;
    r->id = ev->id;
    snprintf(r->name, sizeof(r->name), "%s", ev->name ? ev->name : "");
    snprintf(r->text, sizeof(r->text), "%s", ev->text ? ev->text : "");
    if (ev->extra_len > 0) {
        r->extra = malloc(ev->extra_len);
        memcpy(r->extra, ev->extra, ev->extra_len);
        r->extra_len = ev->extra_len;
    }
}

static void
on_event(pair *p, int s, const lsh_event *ev)
{
    world *w = p->user;
    side *sd = &w->sd[s];
    lsh_conn *self = conn_of(w, s);
    sd->count[ev->type]++;
    log_event(sd, ev);
    switch (ev->type) {
    case LSH_EV_CHAN_OPEN:
        assert_true(ev->chan < MAXCH);
        chinfo_reset(&sd->ch[ev->chan]);
        if (sd->auto_accept) {
            assert_int_equal(lsh_chan_accept(self, ev->chan, sd->acc_window,
                                             sd->acc_packet), 0);
        } else if (sd->auto_reject) {
            assert_int_equal(lsh_chan_reject(self, ev->chan,
                                             LSH_OPEN_CONNECT_FAILED,
                                             "refused by test"), 0);
        }
        break;
    case LSH_EV_CHAN_DATA:
        assert_true(ev->chan < MAXCH);
        sink(&sd->ch[ev->chan], ev->num, ev->data, ev->len);
        if (sd->auto_consume) {
            assert_int_equal(lsh_chan_consumed(self, ev->chan, ev->len), 0);
        }
        break;
    case LSH_EV_CHAN_EOF:
        sd->ch[ev->chan].eof++;
        break;
    case LSH_EV_CHAN_CLOSE:
        sd->ch[ev->chan].close++;
        break;
    default:
        break;
    }
}

static void
world_init_with(world *w, const pair_opts *o)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(pair_init(&w->p, o), 0);
    w->p.user = w;
    w->p.on_event = on_event;
    for (int i = 0; i < 2; i++) {
        w->sd[i].ch = calloc(MAXCH, sizeof(chinfo));
        w->sd[i].log_data = 1;
    }
    pair_pump(&w->p, 65536);
    assert_int_equal(w->p.kex_done[0], 1);
    assert_int_equal(w->p.kex_done[1], 1);
    /* Until the auth layer lands: what it will call on success. */
    lsh_conn_set_authenticated(w->p.c);
    lsh_conn_set_authenticated(w->p.s);
}

static void
world_init_opts(world *w, uint64_t rekey_bytes)
{
    pair_opts o = {.host_key = host_key, .rekey_bytes = rekey_bytes};
    world_init_with(w, &o);
}

static void
world_init(world *w)
{
    world_init_opts(w, 0);
}

static void
log_clear(side *sd)
{
    for (size_t i = 0; i < sd->nlog; i++) {
        free(sd->log[i].extra);
    }
    sd->nlog = 0;
}

static void
world_free(world *w)
{
    for (int i = 0; i < 2; i++) {
        log_clear(&w->sd[i]);
        free(w->sd[i].log);
        for (int k = 0; k < MAXCH; k++) {
            chinfo_reset(&w->sd[i].ch[k]);
        }
        free(w->sd[i].ch);
    }
    pair_free(&w->p);
}

static void
pump(world *w)
{
    pair_pump(&w->p, 65536);
}

/* The n-th (0-based) logged event of a type on a side, or NULL. */
static rec *
nth(world *w, int s, lsh_event_type t, unsigned n)
{
    side *sd = &w->sd[s];
    for (size_t i = 0; i < sd->nlog; i++) {
        if (sd->log[i].type == t && n-- == 0) {
            return &sd->log[i];
        }
    }
    return NULL;
}

static rec *
last(world *w, int s, lsh_event_type t)
{
    side *sd = &w->sd[s];
    for (size_t i = sd->nlog; i > 0; i--) {
        if (sd->log[i - 1].type == t) {
            return &sd->log[i - 1];
        }
    }
    return NULL;
}

/*
 * Opens a channel from side `from`; the other side accepts with
 * (pwin, ppkt).  Returns the opener's number, *other the acceptor's.
 */
static uint32_t
open_chan(world *w, int from, const char *type, const uint8_t *d, size_t n,
          uint32_t win, uint32_t pkt, uint32_t pwin, uint32_t ppkt,
          uint32_t *other)
{
    side *acc = &w->sd[!from];
    uint32_t ch;
    unsigned before = acc->count[LSH_EV_CHAN_OPEN];
    rec *r;
    acc->auto_accept = 1;
    acc->acc_window = pwin;
    acc->acc_packet = ppkt;
    assert_int_equal(lsh_chan_open(conn_of(w, from), type, d, n, win, pkt,
                                   &ch), 0);
    chinfo_reset(&w->sd[from].ch[ch]);
    pump(w);
    acc->auto_accept = 0;
    assert_int_equal(acc->count[LSH_EV_CHAN_OPEN], before + 1);
    r = last(w, !from, LSH_EV_CHAN_OPEN);
    if (other != NULL && r != NULL) {
        *other = r->chan;
    }
    r = last(w, from, LSH_EV_CHAN_OPEN_RESULT);
    assert_non_null(r);
    assert_int_equal(r->chan, ch);
    assert_int_equal(r->code, 0);
    return ch;
}

/* Raw messages from a scripted peer: b byte, u uint32, s C string,
 * d (ptr, len) string, r (ptr, len) raw bytes. */
static void
rawf(world *w, int from, const char *fmt, ...)
{
    lsh_buf b;
    va_list ap;
    lsh_buf_init(&b, 0);
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        switch (*f) {
        case 'b':
            assert_int_equal(lsh_buf_put_u8(&b, (uint8_t)va_arg(ap, int)), 0);
            break;
        case 'u':
            assert_int_equal(lsh_buf_put_u32(&b, va_arg(ap, uint32_t)), 0);
            break;
        case 's':
            assert_int_equal(lsh_buf_put_cstring(&b, va_arg(ap, char *)), 0);
            break;
        case 'd': {
            const uint8_t *p = va_arg(ap, const uint8_t *);
            size_t n = va_arg(ap, size_t);
            assert_int_equal(lsh_buf_put_string(&b, p, n), 0);
            break;
        }
        case 'r': {
            const uint8_t *p = va_arg(ap, const uint8_t *);
            size_t n = va_arg(ap, size_t);
            assert_int_equal(lsh_buf_put(&b, p, n), 0);
            break;
        }
        default:
            break;
        }
    }
    va_end(ap);
    assert_int_equal(lsh__conn_send_now(conn_of(w, from), lsh_buf_ptr(&b),
                                        lsh_buf_len(&b)), 0);
    lsh_buf_free(&b);
    if (w->deaf) {
        const uint8_t *o;
        size_t on;
        pair_move(&w->p, from, 65536);
        lsh_conn_out(conn_of(w, !from), &o, &on);
        lsh_conn_out_ack(conn_of(w, !from), on);
        return;
    }
    pump(w);
}

/* The side that received a violation closed with PROTOCOL_ERROR and said
 * why; the peer heard the same reason. */
static void
assert_violation(world *w, int victim, int code, const char *why)
{
    assert_true(w->p.closed[victim]);
    assert_int_equal(w->p.close_code[victim], code);
    assert_int_equal(w->p.close_reason[!victim],
                     LSH_DISCONNECT_PROTOCOL_ERROR);
    if (strstr(w->p.close_text[victim], why) == NULL) {
        fail_msg("close text \"%s\" lacks \"%s\"", w->p.close_text[victim],
                 why);
    }
}

static int
setup(void **state)
{
    (void)state;
    return lsh_key_generate(LSH_KEY_ED25519, 0, &host_key);
}

static int
teardown(void **state)
{
    (void)state;
    lsh_key_free(host_key);
    return 0;
}

/* Opening */

static void
open_confirm_and_refuse(void **state)
{
    world w;
    uint32_t ch, sch;
    lsh_buf d;
    lsh_tcpip_open to = {lsh_span_str("example.org"), 80,
                         lsh_span_str("10.0.0.1"), 40000}, got;
    rec *r;
    (void)state;
    world_init(&w);

    /* Confirmed: the server sees the type and our type data. */
    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sch);
    r = last(&w, 1, LSH_EV_CHAN_OPEN);
    assert_string_equal(r->name, "session");
    assert_int_equal(r->extra_len, 0);
    assert_string_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->name,
                        "session");
    assert_int_equal(lsh_chan_count(w.p.c), 1);
    assert_int_equal(lsh_chan_count(w.p.s), 1);
    assert_int_equal(lsh_chan_window_out(w.p.c, ch),
                     LSH_CHAN_DEFAULT_WINDOW);

    /* Refused by the application, asynchronously: the answer comes
     * after more traffic. */
    lsh_buf_init(&d, 0);
    assert_int_equal(lsh_chan_direct_tcpip_data(&d, &to), 0);
    assert_int_equal(lsh_chan_open(w.p.c, "direct-tcpip", lsh_buf_ptr(&d),
                                   lsh_buf_len(&d), 0, 0, &ch), 0);
    pump(&w);
    r = last(&w, 1, LSH_EV_CHAN_OPEN);
    assert_string_equal(r->name, "direct-tcpip");
    assert_int_equal(lsh_chan_parse_tcpip_open(r->extra, r->extra_len, &got),
                     0);
    assert_int_equal(got.port, 80);
    assert_memory_equal(got.host.p, "example.org", 11);
    assert_int_equal(got.orig_port, 40000);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_OPEN_RESULT], 1);
    assert_int_equal(lsh_chan_count(w.p.s), 2); /* pending counts */
    assert_int_equal(lsh_chan_close(w.p.s, r->chan), LSH_ESTATE);
    assert_int_equal(lsh_chan_write(w.p.s, r->chan, 0,
                                    (const uint8_t *)"x", 1), LSH_ENOTFOUND);
    assert_int_equal(lsh_chan_reject(w.p.s, r->chan, LSH_OPEN_CONNECT_FAILED,
                                     "no route\x1b[2J"), 0);
    assert_int_equal(lsh_chan_reject(w.p.s, r->chan, 1, NULL),
                     LSH_ENOTFOUND);
    pump(&w);
    r = last(&w, 0, LSH_EV_CHAN_OPEN_RESULT);
    assert_int_equal(r->chan, ch);
    assert_int_equal(r->code, LSH_EREFUSED);
    assert_int_equal(r->num, LSH_OPEN_CONNECT_FAILED);
    assert_string_equal(r->text, "no route?[2J"); /* control bytes masked */
    assert_string_equal(r->name, "direct-tcpip");
    assert_int_equal(lsh_chan_count(w.p.c), 1);
    assert_int_equal(lsh_chan_count(w.p.s), 1);

    /* The freed number is reused: lowest free first. */
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch), 0);
    assert_int_equal(ch, 1);

    /* Bad arguments. */
    assert_int_equal(lsh_chan_open(w.p.c, "bad name", NULL, 0, 0, 0, &ch),
                     LSH_EINVAL);
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 63, &ch),
                     LSH_EINVAL);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    lsh_buf_free(&d);
    world_free(&w);
}

static void
open_before_authentication_is_refused(void **state)
{
    pair p;
    pair_opts o = {.host_key = host_key};
    uint32_t ch;
    (void)state;
    assert_int_equal(pair_init(&p, &o), 0);
    pair_pump(&p, 65536);
    assert_int_equal(lsh_chan_open(p.c, "session", NULL, 0, 0, 0, &ch),
                     LSH_ESTATE);
    assert_int_equal(lsh_global_request(p.c, "x@y", 1, NULL, 0), LSH_ESTATE);
    pair_free(&p);
}

static void
client_refuses_what_it_did_not_ask_for(void **state)
{
    world w;
    uint32_t ch;
    lsh_buf d;
    rec *r;
    (void)state;
    world_init(&w);
    lsh_buf_init(&d, 0);

    /* RFC 4254 §6.1, §7.2, §6.3.2: no event reaches the client. */
    assert_int_equal(lsh_chan_open(w.p.s, "session", NULL, 0, 0, 0, &ch), 0);
    pump(&w);
    r = last(&w, 1, LSH_EV_CHAN_OPEN_RESULT);
    assert_int_equal(r->code, LSH_EREFUSED);
    assert_int_equal(r->num, LSH_OPEN_ADMINISTRATIVELY_PROHIBITED);
    assert_int_equal(lsh_chan_open(w.p.s, "forwarded-tcpip", NULL, 0, 0, 0,
                                   &ch), 0);
    assert_int_equal(lsh_chan_open(w.p.s, "x11", NULL, 0, 0, 0, &ch), 0);
    assert_int_equal(lsh_chan_open(w.p.s, "auth-agent@openssh.com", NULL, 0,
                                   0, 0, &ch), 0);
    assert_int_equal(lsh_chan_open(w.p.s, "direct-tcpip", NULL, 0, 0, 0,
                                   &ch), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_OPEN], 0);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN_RESULT], 5);
    assert_int_equal(lsh_chan_count(w.p.s), 0);

    /* The server refuses the client-bound types. */
    assert_int_equal(lsh_chan_open(w.p.c, "forwarded-tcpip", NULL, 0, 0, 0,
                                   &ch), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 0);
    assert_int_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->code,
                     LSH_EREFUSED);

    /* After our tcpip-forward, the server's forwarded-tcpip reaches us;
     * the server's own tcpip-forward request is failed by our core. */
    assert_int_equal(lsh_chan_tcpip_forward_data(&d, lsh_span_str(""), 0),
                     0);
    assert_int_equal(lsh_global_request(w.p.c, "tcpip-forward", 1,
                                        lsh_buf_ptr(&d), lsh_buf_len(&d)),
                     0);
    assert_int_equal(lsh_global_request(w.p.s, "tcpip-forward", 1,
                                        lsh_buf_ptr(&d), lsh_buf_len(&d)),
                     0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_GLOBAL_REQUEST], 0);
    r = last(&w, 1, LSH_EV_GLOBAL_RESULT);
    assert_int_equal(r->code, LSH_EREFUSED);
    assert_string_equal(r->name, "tcpip-forward");
    r = last(&w, 1, LSH_EV_GLOBAL_REQUEST);
    assert_string_equal(r->name, "tcpip-forward");
    assert_int_equal(lsh_global_request_reply(w.p.s, 1, NULL, 0), 0);
    pump(&w);
    assert_int_equal(lsh_chan_open(w.p.s, "forwarded-tcpip", NULL, 0, 0, 0,
                                   &ch), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_OPEN], 1);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    lsh_buf_free(&d);
    world_free(&w);
}

static void
x11_and_agent_opens_follow_our_requests(void **state)
{
    world w;
    uint32_t ch, sch, port;
    lsh_buf d;
    lsh_x11_req x = {1, {(const uint8_t *)"MIT-MAGIC-COOKIE-1", 18},
                     {(const uint8_t *)"0123456789abcdef", 16}, 0}, x2;
    lsh_span host;
    rec *r;
    (void)state;
    world_init(&w);
    lsh_buf_init(&d, 0);
    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sch);
    assert_int_equal(lsh_chan_x11_req_data(&d, &x), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "x11-req", 1,
                                      lsh_buf_ptr(&d), lsh_buf_len(&d)), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "auth-agent-req@openssh.com",
                                      1, NULL, 0), 0);
    pump(&w);
    r = nth(&w, 1, LSH_EV_CHAN_REQUEST, 0);
    assert_string_equal(r->name, "x11-req");
    assert_int_equal(lsh_chan_parse_x11_req(r->extra, r->extra_len, &x2), 0);
    assert_int_equal(x2.single_connection, 1);
    assert_memory_equal(x2.cookie.p, "0123456789abcdef", 16);
    r = nth(&w, 1, LSH_EV_CHAN_REQUEST, 1);
    assert_string_equal(r->name, "auth-agent-req@openssh.com");
    assert_int_equal(lsh_chan_parse_empty(r->extra, r->extra_len), 0);
    /* Now the server's x11 and agent channels reach the client. */
    lsh_buf_reset(&d);
    assert_int_equal(lsh_chan_x11_open_data(&d, lsh_span_str("127.0.0.1"),
                                            41000), 0);
    assert_int_equal(lsh_chan_open(w.p.s, "x11", lsh_buf_ptr(&d),
                                   lsh_buf_len(&d), 0, 0, &ch), 0);
    assert_int_equal(lsh_chan_open(w.p.s, "auth-agent@openssh.com", NULL, 0,
                                   0, 0, &ch), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_OPEN], 2);
    r = nth(&w, 0, LSH_EV_CHAN_OPEN, 0);
    assert_string_equal(r->name, "x11");
    assert_int_equal(lsh_chan_parse_x11_open(r->extra, r->extra_len, &host,
                                             &port), 0);
    assert_int_equal(port, 41000);
    assert_string_equal(nth(&w, 0, LSH_EV_CHAN_OPEN, 1)->name,
                        "auth-agent@openssh.com");
    assert_false(w.p.closed[0] || w.p.closed[1]);
    lsh_buf_free(&d);
    world_free(&w);
}

static void
sessions_beyond_max_sessions_are_refused(void **state)
{
    world w;
    uint32_t ch;
    lsh_chan_limits lim = {.max_sessions = 3};
    (void)state;
    world_init(&w);
    assert_int_equal(lsh_chan_set_limits(w.p.s, &lim), 0);
    w.sd[1].auto_accept = 1;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch),
                         0);
    }
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 3);
    assert_int_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->num,
                     LSH_OPEN_RESOURCE_SHORTAGE);
    assert_string_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->text,
                        "too many sessions");
    /* Closing one makes room again. */
    assert_int_equal(lsh_chan_close(w.p.c, 0), 0);
    pump(&w);
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 4);
    assert_int_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->code, 0);
    world_free(&w);
}

/* A whole session */

static void
session_with_pty_env_exec_data_and_exit(void **state)
{
    world w;
    uint32_t ch, sch, st;
    lsh_buf modes, d;
    lsh_tty_mode m[] = {{LSH_TTY_VINTR, 3},        {LSH_TTY_ECHO, 1},
                        {LSH_TTY_IUTF8, 1},        {LSH_TTY_ICANON, 0},
                        {LSH_TTY_OP_ISPEED, 38400}, {LSH_TTY_OP_OSPEED, 38400}};
    lsh_tty_mode back[16];
    size_t nback;
    lsh_pty_req pty = {lsh_span_str("xterm-256color"), 80, 24, 640, 480, {0}};
    lsh_pty_req pty2;
    lsh_env_req env = {lsh_span_str("LANG"), lsh_span_str("C.UTF-8")}, env2;
    lsh_exit_signal es = {lsh_span_str("SIGSEGV"), 1,
                          lsh_span_str("Segmentation fault"),
                          lsh_span_str("en")}, es2;
    lsh_span cmd;
    rec *r;
    (void)state;
    world_init(&w);
    lsh_buf_init(&modes, 0);
    lsh_buf_init(&d, 0);

    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sch);

    /* pty-req with terminal modes (RFC 4254 §6.2, §8; RFC 8160). */
    assert_int_equal(lsh_tty_modes_encode(&modes, m, 6), 0);
    pty.modes.p = lsh_buf_ptr(&modes);
    pty.modes.n = lsh_buf_len(&modes);
    assert_int_equal(lsh_chan_pty_req_data(&d, &pty), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "pty-req", 1,
                                      lsh_buf_ptr(&d), lsh_buf_len(&d)), 0);
    /* env without reply, exec with one (§6.4, §6.5). */
    lsh_buf_reset(&d);
    assert_int_equal(lsh_chan_env_data(&d, &env), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "env", 0, lsh_buf_ptr(&d),
                                      lsh_buf_len(&d)), 0);
    lsh_buf_reset(&d);
    assert_int_equal(lsh_chan_exec_data(&d, lsh_span_str("echo hi")), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "exec", 1, lsh_buf_ptr(&d),
                                      lsh_buf_len(&d)), 0);
    pump(&w);

    r = nth(&w, 1, LSH_EV_CHAN_REQUEST, 0);
    assert_string_equal(r->name, "pty-req");
    assert_int_equal(r->chan, sch);
    assert_int_equal(r->num, 1);
    assert_int_equal(lsh_chan_parse_pty_req(r->extra, r->extra_len, &pty2),
                     0);
    assert_int_equal(pty2.term.n, 14);
    assert_memory_equal(pty2.term.p, "xterm-256color", 14);
    assert_int_equal(pty2.cols, 80);
    assert_int_equal(pty2.rows, 24);
    assert_int_equal(pty2.width_px, 640);
    assert_int_equal(pty2.height_px, 480);
    assert_int_equal(lsh_tty_modes_decode(pty2.modes.p, pty2.modes.n, back,
                                          16, &nback), 0);
    assert_int_equal(nback, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(back[i].opcode, m[i].opcode);
        assert_int_equal(back[i].value, m[i].value);
    }
    r = nth(&w, 1, LSH_EV_CHAN_REQUEST, 1);
    assert_string_equal(r->name, "env");
    assert_int_equal(r->num, 0);
    assert_int_equal(lsh_chan_parse_env(r->extra, r->extra_len, &env2), 0);
    assert_memory_equal(env2.value.p, "C.UTF-8", 7);
    r = nth(&w, 1, LSH_EV_CHAN_REQUEST, 2);
    assert_string_equal(r->name, "exec");
    assert_int_equal(lsh_chan_parse_exec(r->extra, r->extra_len, &cmd), 0);
    assert_int_equal(cmd.n, 7);
    assert_memory_equal(cmd.p, "echo hi", 7);
    assert_int_equal(lsh_chan_request_reply(w.p.s, sch, 1), 0); /* pty */
    assert_int_equal(lsh_chan_request_reply(w.p.s, sch, 1), 0); /* exec */
    assert_int_equal(lsh_chan_request_reply(w.p.s, sch, 1), LSH_ENOTFOUND);
    pump(&w);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 0);
    assert_string_equal(r->name, "pty-req");
    assert_int_equal(r->code, 0);
    assert_int_equal(r->num, 1);
    assert_int_equal(r->id, 0);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 1);
    assert_string_equal(r->name, "exec");
    assert_int_equal(r->id, 1);

    /* Data both ways, stderr as extended data type 1 (§5.2, §6.6). */
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, (const uint8_t *)"hi\n",
                                    3), 3);
    assert_int_equal(lsh_chan_write(w.p.s, sch, LSH_EXTENDED_DATA_STDERR,
                                    (const uint8_t *)"warn\n", 5), 5);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, (const uint8_t *)"input",
                                    5), 5);
    assert_int_equal(lsh_chan_send_eof(w.p.c, ch), 0);
    assert_int_equal(lsh_chan_send_eof(w.p.c, ch), LSH_ESTATE);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, (const uint8_t *)"x", 1),
                     LSH_ESTATE);
    pump(&w);
    assert_int_equal(w.sd[0].ch[ch].len[0], 3);
    assert_memory_equal(w.sd[0].ch[ch].data[0], "hi\n", 3);
    assert_int_equal(w.sd[0].ch[ch].len[1], 5);
    assert_memory_equal(w.sd[0].ch[ch].data[1], "warn\n", 5);
    assert_int_equal(last(&w, 0, LSH_EV_CHAN_DATA)->num, 1);
    assert_int_equal(w.sd[1].ch[sch].len[0], 5);
    assert_int_equal(w.sd[1].ch[sch].eof, 1);
    assert_int_equal(lsh_chan_consumed(w.p.c, ch, 9), LSH_EINVAL);
    assert_int_equal(lsh_chan_consumed(w.p.c, ch, 8), 0);

    /* Exit status after EOF, then the server closes (§6.10). */
    assert_int_equal(lsh_chan_send_eof(w.p.s, sch), 0);
    lsh_buf_reset(&d);
    assert_int_equal(lsh_chan_exit_status_data(&d, 0), 0);
    assert_int_equal(lsh_chan_request(w.p.s, sch, "exit-status", 0,
                                      lsh_buf_ptr(&d), lsh_buf_len(&d)), 0);
    lsh_buf_reset(&d);
    assert_int_equal(lsh_chan_exit_signal_data(&d, &es), 0);
    assert_int_equal(lsh_chan_request(w.p.s, sch, "exit-signal", 0,
                                      lsh_buf_ptr(&d), lsh_buf_len(&d)), 0);
    assert_int_equal(lsh_chan_close(w.p.s, sch), 0);
    assert_int_equal(lsh_chan_close(w.p.s, sch), 0); /* once */
    pump(&w);
    assert_int_equal(w.sd[0].ch[ch].eof, 1);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST, 0);
    assert_string_equal(r->name, "exit-status");
    assert_int_equal(lsh_chan_parse_exit_status(r->extra, r->extra_len, &st),
                     0);
    assert_int_equal(st, 0);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST, 1);
    assert_string_equal(r->name, "exit-signal");
    assert_int_equal(lsh_chan_parse_exit_signal(r->extra, r->extra_len, &es2),
                     0);
    assert_int_equal(es2.signal.n, 4);
    assert_memory_equal(es2.signal.p, "SEGV", 4);
    assert_int_equal(es2.core_dumped, 1);
    assert_memory_equal(es2.message.p, "Segmentation fault", 18);
    assert_int_equal(w.sd[0].ch[ch].close, 1);
    assert_int_equal(w.sd[1].ch[sch].close, 1);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_CLOSE], 1);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_CLOSE], 1);
    assert_int_equal(lsh_chan_count(w.p.c), 0);
    assert_int_equal(lsh_chan_count(w.p.s), 0);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, (const uint8_t *)"x", 1),
                     LSH_ENOTFOUND);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    lsh_buf_free(&modes);
    lsh_buf_free(&d);
    world_free(&w);
}

/* Closing in every order (RFC 4254 §5.3) */

static void
close_in_every_order(void **state)
{
    world w;
    uint32_t a, sa;
    (void)state;
    world_init(&w);

    /* Client closes first, without EOF: the server's core answers. */
    a = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sa);
    assert_int_equal(lsh_chan_close(w.p.c, a), 0);
    assert_int_equal(lsh_chan_write(w.p.c, a, 0, (const uint8_t *)"x", 1),
                     LSH_ESTATE);
    assert_int_equal(lsh_chan_request(w.p.c, a, "shell", 0, NULL, 0),
                     LSH_ESTATE);
    pump(&w);
    assert_int_equal(w.sd[0].ch[a].close, 1);
    assert_int_equal(w.sd[1].ch[sa].close, 1);
    assert_int_equal(w.sd[1].ch[sa].eof, 0);
    assert_int_equal(lsh_chan_count(w.p.c) + lsh_chan_count(w.p.s), 0);

    /* Both close at once: each CLOSE crosses the other, one event each. */
    a = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sa);
    assert_int_equal(lsh_chan_close(w.p.c, a), 0);
    assert_int_equal(lsh_chan_close(w.p.s, sa), 0);
    pump(&w);
    assert_int_equal(w.sd[0].ch[a].close, 1);
    assert_int_equal(w.sd[1].ch[sa].close, 1);
    assert_int_equal(lsh_chan_count(w.p.c) + lsh_chan_count(w.p.s), 0);

    /* EOF both ways, then the server closes. */
    a = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sa);
    assert_int_equal(lsh_chan_send_eof(w.p.c, a), 0);
    assert_int_equal(lsh_chan_send_eof(w.p.s, sa), 0);
    pump(&w);
    assert_int_equal(lsh_chan_close(w.p.s, sa), 0);
    pump(&w);
    assert_int_equal(w.sd[0].ch[a].eof, 1);
    assert_int_equal(w.sd[1].ch[sa].eof, 1);
    assert_int_equal(w.sd[0].ch[a].close, 1);
    assert_int_equal(w.sd[1].ch[sa].close, 1);

    /* Closed while still opening: CLOSE follows the confirmation. */
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &a), 0);
    chinfo_reset(&w.sd[0].ch[a]);
    assert_int_equal(lsh_chan_close(w.p.c, a), 0);
    w.sd[1].auto_accept = 1;
    pump(&w);
    w.sd[1].auto_accept = 0;
    assert_int_equal(last(&w, 0, LSH_EV_CHAN_OPEN_RESULT)->code, 0);
    assert_int_equal(w.sd[0].ch[a].close, 1);
    assert_int_equal(lsh_chan_count(w.p.c) + lsh_chan_count(w.p.s), 0);

    /* Data in flight when we close is dropped, not an error. */
    a = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sa);
    assert_int_equal(lsh_chan_write(w.p.s, sa, 0, (const uint8_t *)"late",
                                    4), 4);
    assert_int_equal(lsh_chan_request(w.p.s, sa, "late@test", 1, NULL, 0),
                     0);
    assert_int_equal(lsh_chan_close(w.p.c, a), 0);
    pump(&w);
    assert_int_equal(w.sd[0].ch[a].got, 0);
    assert_int_equal(w.sd[0].ch[a].close, 1);
    assert_int_equal(w.sd[1].ch[sa].close, 1);

    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_CLOSE], 5);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_CLOSE], 5);
    assert_int_equal(lsh_chan_count(w.p.c) + lsh_chan_count(w.p.s), 0);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
}

/* Flow control (RFC 4254 §5.2) */

static void
writer_blocks_at_the_window_until_the_reader_consumes(void **state)
{
    world w;
    uint32_t ch, sch;
    uint8_t buf[100000];
    (void)state;
    world_init(&w);
    fill_pat(buf, sizeof(buf), 0, 7);
    /* The client lets the server send 32 KiB in 1 KiB packets. */
    ch = open_chan(&w, 0, "session", NULL, 0, 32768, 1024, 0, 0, &sch);
    w.sd[0].ch[ch].verify = 1;
    w.sd[0].ch[ch].seed = 7;
    assert_int_equal(lsh_chan_window_out(w.p.s, sch), 32768);
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, buf, sizeof(buf)), 32768);
    assert_int_equal(lsh_chan_window_out(w.p.s, sch), 0);
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, buf + 32768, 10), 0);
    pump(&w);
    /* 32 one-KiB messages arrived; nothing more can come. */
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_DATA], 32);
    assert_int_equal(w.sd[0].ch[ch].got, 32768);
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, buf + 32768, 10), 0);

    /* Consuming less than half the window sends nothing. */
    assert_int_equal(lsh_chan_consumed(w.p.c, ch, 10000), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_WRITABLE], 0);
    assert_int_equal(lsh_chan_window_out(w.p.s, sch), 0);
    /* Reaching half does: the writer hears WRITABLE. */
    assert_int_equal(lsh_chan_consumed(w.p.c, ch, 6384), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_WRITABLE], 1);
    assert_int_equal(last(&w, 1, LSH_EV_CHAN_WRITABLE)->chan, sch);
    assert_int_equal(lsh_chan_window_out(w.p.s, sch), 16384);
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, buf + 32768, 20000),
                     16384);
    pump(&w);
    assert_int_equal(w.sd[0].ch[ch].got, 49152);
    assert_false(w.sd[0].ch[ch].bad);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
}

/* Both directions at once, `total` bytes each, small windows. */
static void
bulk_both_ways(size_t total, uint32_t window, uint32_t pkt,
               uint64_t rekey_bytes)
{
    world w;
    uint32_t ch[2];
    uint64_t sent[2] = {0, 0};
    static uint8_t buf[65536];
    unsigned rounds = 0;
    world_init_opts(&w, rekey_bytes);
    ch[0] = open_chan(&w, 0, "session", NULL, 0, window, pkt, window, pkt,
                      &ch[1]);
    for (int s = 0; s < 2; s++) {
        w.sd[s].auto_consume = 1;
        w.sd[s].log_data = 0;
        w.sd[s].ch[ch[s]].verify = 1;
        w.sd[s].ch[ch[s]].seed = 1000u + (uint32_t)s;
    }
    while (sent[0] < total || sent[1] < total ||
           w.sd[0].ch[ch[0]].got < total || w.sd[1].ch[ch[1]].got < total) {
        size_t moved;
        int wrote = 0;
        for (int s = 0; s < 2; s++) {
            while (sent[s] < total) {
                size_t n = total - sent[s] < sizeof(buf) ? total - sent[s]
                                                         : sizeof(buf);
                int r;
                /* Side s writes what side !s verifies with seed 1000+!s. */
                fill_pat(buf, n, sent[s], 1000u + (uint32_t)!s);
                r = lsh_chan_write(conn_of(&w, s), ch[s], 0, buf, n);
                assert_true(r >= 0);
                sent[s] += (size_t)r;
                wrote |= r > 0;
                if ((size_t)r < n) {
                    break;
                }
            }
            /* Never more in flight than the window. */
            {
                const uint8_t *o;
                size_t on;
                lsh_conn_out(conn_of(&w, s), &o, &on);
                assert_true(on <= (size_t)window * 2 + 65536);
            }
        }
        moved = pair_pump(&w.p, 65536);
        if (!wrote && moved == 0) {
            fail_msg("stalled after %llu/%llu bytes",
                     (unsigned long long)sent[0],
                     (unsigned long long)sent[1]);
        }
        rounds++;
    }
    for (int s = 0; s < 2; s++) {
        assert_int_equal(w.sd[s].ch[ch[s]].got, total);
        assert_false(w.sd[s].ch[ch[s]].bad);
        assert_true(w.sd[s].count[LSH_EV_CHAN_WRITABLE] > 0);
    }
    assert_true(rounds > total / window / 2);
    if (rekey_bytes > 0) {
        /* Data kept flowing through the re-exchanges (held messages). */
        assert_true(w.p.kex_done[0] > 10);
    }
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
}

/*
 * Channel data goes from the caller's buffer straight into the
 * connection's output behind a header built on the stack
 * (lsh__conn_send2).  Written outside a key exchange, during one (held,
 * so copied: the caller's buffer is scribbled over before anything
 * moves) and after it, with and without compression, DATA and
 * EXTENDED_DATA interleaved: everything arrives intact and in order,
 * cut at the peer's maximum packet.
 */
static void
data_through_kex(const char *comp)
{
    enum { N = 300000, A = 50000, B = 100000, E = 1000, MAXP = 32768 };
    pair_opts o = {.host_key = host_key, .comp = comp};
    world w;
    uint32_t ch, sch;
    uint8_t *src = malloc(N), *ext = malloc(2 * E), *tmp = malloc(B);
    const uint8_t *op;
    size_t on;
    int kex_before;
    chinfo *ci;

    assert_non_null(src);
    assert_non_null(ext);
    assert_non_null(tmp);
    fill_pat(src, N, 0, 7);
    fill_pat(ext, 2 * E, 0, 8);
    world_init_with(&w, &o);
    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 1u << 20, MAXP, &sch);
    assert_int_equal(lsh_pkt_dir_compressing(&w.p.c->tx),
                     strcmp(comp, "none") != 0);

    /* Outside a key exchange: straight into the output. */
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, src, A), A);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 1, ext, E), E);
    lsh_conn_out(w.p.c, &op, &on);
    assert_true(on > (strcmp(comp, "none") != 0 ? 0 : (size_t)A + E));
    assert_int_equal(lsh_buf_len(&w.p.c->held), 0);

    /* During one: held (copies), in order behind our KEXINIT. */
    kex_before = w.p.kex_done[0];
    assert_int_equal(lsh_conn_rekey(w.p.c), 0);
    memcpy(tmp, src + A, B);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, tmp, B), B);
    memcpy(tmp, ext + E, E);
    assert_int_equal(lsh_chan_write(w.p.c, ch, 1, tmp, E), E);
    assert_true(lsh_buf_len(&w.p.c->held) > (size_t)B + E);
    memset(tmp, 0xee, B);
    pump(&w);
    assert_true(w.p.kex_done[0] > kex_before);
    assert_int_equal(lsh_buf_len(&w.p.c->held), 0);

    /* After it: one write larger than the peer's maximum packet. */
    assert_int_equal(lsh_chan_write(w.p.c, ch, 0, src + A + B, N - A - B),
                     N - A - B);
    pump(&w);

    ci = &w.sd[1].ch[sch];
    assert_int_equal(ci->len[0], N);
    assert_memory_equal(ci->data[0], src, N);
    assert_int_equal(ci->len[1], 2 * E);
    assert_memory_equal(ci->data[1], ext, 2 * E);
    assert_true(ci->maxpiece <= MAXP);
    /* Cut at MAXP: 50000 -> 2, 100000 -> 4, 150000 -> 5, 2 ext. */
    assert_int_equal(ci->pieces, 2 + 4 + 5 + 2);
    assert_int_equal(lsh_chan_window_out(w.p.c, ch),
                     (1u << 20) - N - 2 * E);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
    free(src);
    free(ext);
    free(tmp);
}

static void
data_arrives_in_order_through_kex(void **state)
{
    (void)state;
    data_through_kex("none");
}

static void
compressed_data_arrives_in_order_through_kex(void **state)
{
    (void)state;
    data_through_kex("zlib");
    data_through_kex("zlib@openssh.com");
}

static void
bulk_64mib_with_1k_packets(void **state)
{
    (void)state;
    bulk_both_ways((size_t)64 << 20, 32768, 1024, 0);
}

static void
bulk_64mib_with_32k_packets(void **state)
{
    (void)state;
    /* With a re-exchange every 4 MiB on the way. */
    bulk_both_ways((size_t)64 << 20, 32768, 32768, (uint64_t)4 << 20);
}

static void
huge_peer_window_does_not_make_us_buffer(void **state)
{
    /* reliability-plan §2.6: a 4 GiB window from the peer; our backlog
     * stays at send_buffer and WRITABLE(LSH_CHAN_ALL) says it drained. */
    world w;
    uint32_t ch, sch;
    lsh_chan_limits lim = {.send_buffer = 256 * 1024};
    static uint8_t buf[1 << 20];
    const uint8_t *o;
    size_t on;
    int r;
    (void)state;
    world_init(&w);
    assert_int_equal(lsh_chan_set_limits(w.p.s, &lim), 0);
    ch = open_chan(&w, 0, "session", NULL, 0, UINT32_MAX, 0, 0, 0, &sch);
    w.sd[0].log_data = 0;
    w.sd[0].auto_consume = 1;
    r = lsh_chan_write(w.p.s, sch, 0, buf, sizeof(buf));
    assert_true(r >= 256 * 1024 && r <= 256 * 1024 + 32768);
    lsh_conn_out(w.p.s, &o, &on);
    assert_true(on < 256 * 1024 + 32768 + 4096);
    assert_int_equal(lsh_chan_window_out(w.p.s, sch), 0);
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, buf, sizeof(buf)), 0);
    pump(&w);
    r = (int)w.sd[1].count[LSH_EV_CHAN_WRITABLE];
    assert_int_equal(r, 1);
    assert_int_equal(last(&w, 1, LSH_EV_CHAN_WRITABLE)->chan, LSH_CHAN_ALL);
    assert_true(lsh_chan_window_out(w.p.s, sch) >= 128 * 1024);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    (void)ch;
    world_free(&w);
}

/* Many channels */

static void
thousand_channels_with_interleaved_writes(void **state)
{
    world w;
    enum { N = 1000, ROUNDS = 10, PIECE = 1000 };
    static uint32_t cc[N], sc[N];
    uint8_t buf[PIECE];
    (void)state;
    world_init(&w);
    w.sd[1].auto_accept = 1;
    for (int i = 0; i < N; i++) {
        assert_int_equal(lsh_chan_open(w.p.c, "direct-tcpip", NULL, 0, 65536,
                                       0, &cc[i]), 0);
        chinfo_reset(&w.sd[0].ch[cc[i]]);
    }
    assert_int_equal(lsh_chan_count(w.p.c), N);
    pump(&w);
    w.sd[1].auto_accept = 0;
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], N);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_OPEN_RESULT], N);
    for (int i = 0; i < N; i++) {
        rec *r = nth(&w, 1, LSH_EV_CHAN_OPEN, (unsigned)i);
        assert_int_equal(nth(&w, 0, LSH_EV_CHAN_OPEN_RESULT, (unsigned)i)
                             ->code, 0);
        sc[i] = r->chan;
        w.sd[0].ch[cc[i]].verify = 1;
        w.sd[0].ch[cc[i]].seed = 5000u + (uint32_t)i;
        w.sd[1].ch[sc[i]].verify = 1;
        w.sd[1].ch[sc[i]].seed = 9000u + (uint32_t)i;
    }
    w.sd[0].auto_consume = w.sd[1].auto_consume = 1;
    w.sd[0].log_data = w.sd[1].log_data = 0;
    /* Channel i of the client opened as i, and the server's in order too:
     * check each stream separately anyway. */
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++) {
            fill_pat(buf, PIECE, (uint64_t)round * PIECE, 9000u + (uint32_t)i);
            assert_int_equal(lsh_chan_write(w.p.c, cc[i], 0, buf, PIECE),
                             PIECE);
            fill_pat(buf, PIECE, (uint64_t)round * PIECE, 5000u + (uint32_t)i);
            assert_int_equal(lsh_chan_write(w.p.s, sc[i], 0, buf, PIECE),
                             PIECE);
        }
        pump(&w);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(w.sd[0].ch[cc[i]].got, ROUNDS * PIECE);
        assert_int_equal(w.sd[1].ch[sc[i]].got, ROUNDS * PIECE);
        assert_false(w.sd[0].ch[cc[i]].bad || w.sd[1].ch[sc[i]].bad);
        assert_int_equal(lsh_chan_close(w.p.c, cc[i]), 0);
    }
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_CLOSE], N);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_CLOSE], N);
    assert_int_equal(lsh_chan_count(w.p.c) + lsh_chan_count(w.p.s), 0);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
}

/* Reply order (RFC 4254 §4, §5.4) */

static void
channel_requests_are_answered_in_order(void **state)
{
    world w;
    uint32_t ch, sch, id[4];
    rec *r;
    (void)state;
    world_init(&w);
    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sch);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "a@test", 1, NULL, 0), 0);
    /* Refused by the server's core, but after "a@test". */
    assert_int_equal(lsh_chan_request(w.p.c, ch, "keepalive@openssh.com", 1,
                                      NULL, 0), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "b@test", 1, NULL, 0), 0);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "c@test", 1, NULL, 0), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_REQUEST], 3);
    for (unsigned i = 0; i < 3; i++) {
        id[i] = nth(&w, 1, LSH_EV_CHAN_REQUEST, i)->id;
    }
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_REQUEST_RESULT], 0);
    /* Answer c, then b: nothing may go out before a. */
    assert_int_equal(lsh_chan_request_reply_id(w.p.s, sch, id[2], 0), 0);
    assert_int_equal(lsh_chan_request_reply_id(w.p.s, sch, id[2], 1),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_chan_request_reply_id(w.p.s, sch, id[1], 1), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_REQUEST_RESULT], 0);
    assert_int_equal(lsh_chan_request_reply_id(w.p.s, sch, id[0], 1), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_REQUEST_RESULT], 4);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 0);
    assert_string_equal(r->name, "a@test");
    assert_int_equal(r->code, 0);
    assert_int_equal(r->id, 0);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 1);
    assert_string_equal(r->name, "keepalive@openssh.com");
    assert_int_equal(r->num, 0);  /* FAILURE ... */
    assert_int_equal(r->code, 0); /* ... means alive */
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 2);
    assert_string_equal(r->name, "b@test");
    assert_int_equal(r->code, 0);
    r = nth(&w, 0, LSH_EV_CHAN_REQUEST_RESULT, 3);
    assert_string_equal(r->name, "c@test");
    assert_int_equal(r->code, LSH_EREFUSED);
    assert_int_equal(r->num, 0);
    assert_int_equal(r->id, 3);
    assert_int_equal(lsh_chan_request_reply(w.p.s, sch, 1), LSH_ENOTFOUND);

    /* At most LSH_CHAN_OUTSTANDING_MAX of ours wait for replies. */
    for (unsigned i = 0; i < LSH_CHAN_OUTSTANDING_MAX; i++) {
        assert_int_equal(lsh_chan_request(w.p.c, ch, "x@test", 1, NULL, 0),
                         0);
    }
    assert_int_equal(lsh_chan_request(w.p.c, ch, "x@test", 1, NULL, 0),
                     LSH_EAGAIN);
    assert_int_equal(lsh_chan_request(w.p.c, ch, "x@test", 0, NULL, 0), 0);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    world_free(&w);
}

static void
global_requests_are_answered_in_order(void **state)
{
    world w;
    lsh_buf d, port;
    uint32_t id[3], bound;
    rec *r;
    (void)state;
    world_init(&w);
    lsh_buf_init(&d, 0);
    lsh_buf_init(&port, 0);
    assert_int_equal(lsh_chan_tcpip_forward_data(&d, lsh_span_str("localhost"),
                                                 0), 0);
    assert_int_equal(lsh_global_request(w.p.c, "tcpip-forward", 1,
                                        lsh_buf_ptr(&d), lsh_buf_len(&d)), 0);
    assert_int_equal(lsh_global_request(w.p.c, "one@test", 1, NULL, 0), 0);
    assert_int_equal(lsh_global_request(w.p.c, "quiet@test", 0, NULL, 0), 0);
    assert_int_equal(lsh_global_request(w.p.c, "two@test", 1, NULL, 0), 0);
    pump(&w);
    assert_int_equal(w.sd[1].count[LSH_EV_GLOBAL_REQUEST], 4);
    r = nth(&w, 1, LSH_EV_GLOBAL_REQUEST, 0);
    {
        lsh_span a;
        uint32_t p;
        assert_int_equal(lsh_chan_parse_tcpip_forward(r->extra, r->extra_len,
                                                      &a, &p), 0);
        assert_int_equal(p, 0);
        assert_memory_equal(a.p, "localhost", 9);
    }
    id[0] = r->id;
    id[1] = nth(&w, 1, LSH_EV_GLOBAL_REQUEST, 1)->id;
    assert_int_equal(nth(&w, 1, LSH_EV_GLOBAL_REQUEST, 2)->num, 0);
    id[2] = nth(&w, 1, LSH_EV_GLOBAL_REQUEST, 3)->id;
    /* Last first, then the middle, then the head (with the port). */
    assert_int_equal(lsh_global_request_reply_id(w.p.s, id[2], 1,
                                                 (const uint8_t *)"zz", 2), 0);
    assert_int_equal(lsh_global_request_reply_id(w.p.s, id[1], 0, NULL, 0),
                     0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_GLOBAL_RESULT], 0);
    assert_int_equal(lsh_chan_forward_port_data(&port, 40123), 0);
    assert_int_equal(lsh_global_request_reply_id(w.p.s, id[0], 1,
                                                 lsh_buf_ptr(&port),
                                                 lsh_buf_len(&port)), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_GLOBAL_RESULT], 3);
    r = nth(&w, 0, LSH_EV_GLOBAL_RESULT, 0);
    assert_string_equal(r->name, "tcpip-forward");
    assert_int_equal(r->code, 0);
    assert_int_equal(lsh_chan_parse_forward_port(r->extra, r->extra_len,
                                                 &bound), 0);
    assert_int_equal(bound, 40123);
    r = nth(&w, 0, LSH_EV_GLOBAL_RESULT, 1);
    assert_string_equal(r->name, "one@test");
    assert_int_equal(r->code, LSH_EREFUSED);
    assert_int_equal(r->extra_len, 0);
    r = nth(&w, 0, LSH_EV_GLOBAL_RESULT, 2);
    assert_string_equal(r->name, "two@test");
    assert_int_equal(r->id, 2);
    assert_int_equal(r->extra_len, 2);
    assert_memory_equal(r->extra, "zz", 2);
    assert_int_equal(lsh_global_request_reply(w.p.s, 1, NULL, 0),
                     LSH_ENOTFOUND);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    lsh_buf_free(&d);
    lsh_buf_free(&port);
    world_free(&w);
}

/* Keepalives */

static void
keepalives_are_counted_until_answered(void **state)
{
    world w;
    uint32_t ch, sch;
    rec *r;
    (void)state;
    world_init(&w);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lsh_conn_keepalive(w.p.c), 0);
    }
    assert_int_equal(lsh_conn_keepalive_pending(w.p.c), 3);
    /* Only the client's bytes move: the server answers, unheard. */
    pair_move(&w.p, 0, 65536);
    assert_int_equal(lsh_conn_keepalive_pending(w.p.c), 3);
    pump(&w);
    assert_int_equal(lsh_conn_keepalive_pending(w.p.c), 0);
    assert_int_equal(w.sd[1].count[LSH_EV_GLOBAL_REQUEST], 0);
    assert_int_equal(w.sd[0].count[LSH_EV_GLOBAL_RESULT], 3);
    r = last(&w, 0, LSH_EV_GLOBAL_RESULT);
    assert_string_equal(r->name, "keepalive@openssh.com");
    assert_int_equal(r->code, 0); /* REQUEST_FAILURE counts as alive */
    assert_int_equal(r->num, 0);
    assert_int_equal(r->id, 2);

    /* The server's flavour: a channel request on a session. */
    ch = open_chan(&w, 0, "session", NULL, 0, 0, 0, 0, 0, &sch);
    assert_int_equal(lsh_chan_request(w.p.s, sch, "keepalive@openssh.com", 1,
                                      NULL, 0), 0);
    pump(&w);
    assert_int_equal(w.sd[0].count[LSH_EV_CHAN_REQUEST], 0);
    r = last(&w, 1, LSH_EV_CHAN_REQUEST_RESULT);
    assert_int_equal(r->code, 0);
    assert_int_equal(r->chan, sch);
    (void)ch;

    /* no-more-sessions@openssh.com: a later session open disconnects. */
    assert_int_equal(lsh_conn_no_more_sessions(w.p.s), LSH_EINVAL);
    assert_int_equal(lsh_conn_no_more_sessions(w.p.c), 0);
    pump(&w);
    assert_false(w.p.closed[1]);
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch), 0);
    pump(&w);
    assert_violation(&w, 1, LSH_EPROTOCOL, "no-more-sessions");
    world_free(&w);
}

/* P-7: every violation disconnects with PROTOCOL_ERROR */

static void
open_with_tiny_max_packet_disconnects(void **state)
{
    world w;
    (void)state;
    world_init(&w);
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "session", 0u, 65536u, 0u);
    assert_violation(&w, 1, LSH_EPROTOCOL, "maximum packet size 0");
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 0);
    world_free(&w);

    world_init(&w);
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "session", 0u, 65536u, 63u);
    assert_violation(&w, 1, LSH_EPROTOCOL, "maximum packet size 63");
    world_free(&w);

    /* 64 is fine, and a huge one is clamped to what we can send. */
    world_init(&w);
    w.deaf = 1;
    w.sd[1].auto_accept = 1;
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "session", 0u, 65536u, 64u);
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "session", 1u, 1u << 30,
         UINT32_MAX);
    assert_false(w.p.closed[1]);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 2);
    {
        static uint8_t big[LSH_CHAN_MAX_PACKET + 10];
        /* One message per max packet: 64 bytes, then all in one. */
        assert_int_equal(lsh_chan_write(w.p.s, 0, 0, big, 200), 200);
        assert_int_equal(lsh_chan_write(w.p.s, 1, 0, big, sizeof(big)),
                         (int)sizeof(big));
    }
    world_free(&w);
}

static void
open_confirmation_with_tiny_max_packet_disconnects(void **state)
{
    world w;
    uint32_t ch;
    (void)state;
    world_init(&w);
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch), 0);
    pump(&w);
    rawf(&w, 1, "buuuu", LSH_MSG_CHANNEL_OPEN_CONFIRMATION, ch, 0u, 65536u,
         0u);
    assert_violation(&w, 0, LSH_EPROTOCOL, "maximum packet size 0");
    world_free(&w);

    /* A confirmation for a channel that is not opening. */
    world_init(&w);
    rawf(&w, 1, "buuuu", LSH_MSG_CHANNEL_OPEN_CONFIRMATION, 5u, 0u, 65536u,
         32768u);
    assert_violation(&w, 0, LSH_EPROTOCOL, "not opening");
    world_free(&w);

    world_init(&w);
    rawf(&w, 1, "buuss", LSH_MSG_CHANNEL_OPEN_FAILURE, 0u, 2u, "no", "");
    assert_violation(&w, 0, LSH_EPROTOCOL, "not opening");
    world_free(&w);
}

/* An established channel, and the server's number for it. */
static uint32_t
established(world *w, uint32_t cwin, uint32_t cpkt, uint32_t swin,
            uint32_t spkt)
{
    uint32_t sch;
    world_init(w);
    (void)open_chan(w, 0, "session", NULL, 0, cwin, cpkt, swin, spkt, &sch);
    return sch;
}

/*
 * The received-message buffer keeps its storage through a bulk stream
 * and does not wipe channel data (the application keeps copies of its
 * own), but any other message is wiped once handled: an env request's
 * value does not stay behind in it.
 */
static void
only_channel_data_stays_in_the_message_buffer(void **state)
{
    world w;
    static uint8_t d[20000];
    const lsh_buf *pb;
    uint32_t sch = established(&w, 0, 0, 1u << 20, 32768);
    (void)state;
    memset(d, 'D', sizeof(d));
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, sizeof(d));
    pb = &w.p.s->payload;
    assert_non_null(pb->data); /* big storage is kept while busy */
    assert_non_null(memmem(pb->data, pb->dirty, d, 1000));
    rawf(&w, 0, "busbss", LSH_MSG_CHANNEL_REQUEST, sch, "env", 0,
         "API_TOKEN", "T0pSecret-Value");
    assert_false(w.p.closed[1]);
    assert_non_null(pb->data);
    assert_null(memmem(pb->data, pb->dirty, "T0pSecret-Value", 15));
    world_free(&w);
}

static void
window_adjust_overflow_disconnects(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    (void)state;
    /* The server's window toward the client is 2 MiB; 2^32-1 more
     * overflows (RFC 4254 §5.2). */
    rawf(&w, 0, "buu", LSH_MSG_CHANNEL_WINDOW_ADJUST, sch, 1000u);
    assert_false(w.p.closed[1]);
    rawf(&w, 0, "buu", LSH_MSG_CHANNEL_WINDOW_ADJUST, sch, UINT32_MAX);
    assert_violation(&w, 1, LSH_EPROTOCOL, "past 2^32-1");
    world_free(&w);

    /* Up to exactly 2^32-1 is allowed. */
    sch = established(&w, 0, 0, 0, 0);
    rawf(&w, 0, "buu", LSH_MSG_CHANNEL_WINDOW_ADJUST, sch,
         UINT32_MAX - LSH_CHAN_DEFAULT_WINDOW);
    assert_false(w.p.closed[1]);
    world_free(&w);
}

static void
data_beyond_the_window_disconnects(void **state)
{
    world w;
    uint8_t d[700] = {0};
    uint32_t sch = established(&w, 0, 0, 1000, 32768);
    (void)state;
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)600);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)400);
    assert_false(w.p.closed[1]); /* exactly the window */
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "exceed its window");
    world_free(&w);

    /* Extended data shares the window. */
    sch = established(&w, 0, 0, 1000, 32768);
    rawf(&w, 0, "buud", LSH_MSG_CHANNEL_EXTENDED_DATA, sch, 1u, d,
         (size_t)600);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)401);
    assert_violation(&w, 1, LSH_EPROTOCOL, "exceed its window");
    world_free(&w);
}

static void
data_above_max_packet_disconnects(void **state)
{
    world w;
    uint8_t d[200] = {0};
    uint32_t sch = established(&w, 0, 0, 0, 100);
    (void)state;
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)100);
    assert_false(w.p.closed[1]);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, d, (size_t)101);
    assert_violation(&w, 1, LSH_EPROTOCOL, "maximum packet size 100");
    /* LSH_EV_CLOSED took every channel with it: calls get the error. */
    assert_int_equal(lsh_chan_write(w.p.s, sch, 0, d, 1), LSH_EPROTOCOL);
    assert_int_equal(lsh_chan_close(w.p.s, sch), LSH_EPROTOCOL);
    assert_int_equal(lsh_conn_keepalive(w.p.s), LSH_EPROTOCOL);
    world_free(&w);
}

static void
data_after_eof_or_close_disconnects(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    (void)state;
    rawf(&w, 0, "bu", LSH_MSG_CHANNEL_EOF, sch);
    rawf(&w, 0, "bu", LSH_MSG_CHANNEL_EOF, sch); /* repeated: ignored */
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_EOF], 1);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, (const uint8_t *)"x",
         (size_t)1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "after its EOF");
    world_free(&w);

    sch = established(&w, 0, 0, 0, 0);
    rawf(&w, 0, "bu", LSH_MSG_CHANNEL_CLOSE, sch);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_CLOSE], 1);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, sch, (const uint8_t *)"x",
         (size_t)1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "unknown channel");
    world_free(&w);
}

static void
messages_for_unknown_channels_disconnect(void **state)
{
    static const uint8_t types[] = {
        LSH_MSG_CHANNEL_WINDOW_ADJUST, LSH_MSG_CHANNEL_DATA,
        LSH_MSG_CHANNEL_EXTENDED_DATA, LSH_MSG_CHANNEL_EOF,
        LSH_MSG_CHANNEL_CLOSE, LSH_MSG_CHANNEL_REQUEST,
        LSH_MSG_CHANNEL_SUCCESS, LSH_MSG_CHANNEL_FAILURE};
    (void)state;
    for (size_t i = 0; i < sizeof(types); i++) {
        world w;
        world_init(&w);
        /* The fields after the number do not matter: it fails first. */
        rawf(&w, 0, "bu", types[i], 77u);
        assert_violation(&w, 1, LSH_EPROTOCOL, "unknown channel 77");
        world_free(&w);
    }
}

static void
messages_for_an_unanswered_open_disconnect(void **state)
{
    world w;
    (void)state;
    world_init(&w);
    /* The peer's open is pending: it does not know our number yet. */
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "session", 5u, 65536u,
         32768u);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 1);
    rawf(&w, 0, "bud", LSH_MSG_CHANNEL_DATA, 0u, (const uint8_t *)"x",
         (size_t)1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "unknown channel 0");
    world_free(&w);

    /* Our open is not confirmed: data for it is early. */
    world_init(&w);
    {
        uint32_t ch;
        assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, 0, 0, &ch),
                         0);
        pump(&w);
        rawf(&w, 1, "bud", LSH_MSG_CHANNEL_DATA, ch, (const uint8_t *)"x",
             (size_t)1);
    }
    assert_violation(&w, 0, LSH_EPROTOCOL, "before its confirmation");
    world_free(&w);
}

static void
replies_without_requests_disconnect(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    (void)state;
    rawf(&w, 0, "bu", LSH_MSG_CHANNEL_SUCCESS, sch);
    assert_violation(&w, 1, LSH_EPROTOCOL, "no request waiting");
    world_free(&w);

    world_init(&w);
    rawf(&w, 0, "b", LSH_MSG_REQUEST_FAILURE);
    assert_violation(&w, 1, LSH_EPROTOCOL, "no global request waiting");
    world_free(&w);
}

static void
too_many_unanswered_requests_disconnect(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    (void)state;
    for (unsigned i = 0; i < LSH_CHAN_PENDING_MAX; i++) {
        rawf(&w, 0, "busb", LSH_MSG_CHANNEL_REQUEST, sch, "q@test", 1);
    }
    /* want_reply FALSE takes no slot. */
    rawf(&w, 0, "busb", LSH_MSG_CHANNEL_REQUEST, sch, "q@test", 0);
    assert_false(w.p.closed[1]);
    rawf(&w, 0, "busb", LSH_MSG_CHANNEL_REQUEST, sch, "q@test", 1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "unanswered requests");
    world_free(&w);

    world_init(&w);
    for (unsigned i = 0; i < LSH_GLOBAL_PENDING_MAX; i++) {
        rawf(&w, 0, "bsb", LSH_MSG_GLOBAL_REQUEST, "q@test", 1);
    }
    assert_false(w.p.closed[1]);
    rawf(&w, 0, "bsb", LSH_MSG_GLOBAL_REQUEST, "q@test", 1);
    assert_violation(&w, 1, LSH_EPROTOCOL, "unanswered global requests");
    world_free(&w);
}

static void
malformed_messages_disconnect(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    (void)state;
    /* Trailing byte after the data string. */
    rawf(&w, 0, "budb", LSH_MSG_CHANNEL_DATA, sch, (const uint8_t *)"x",
         (size_t)1, 0);
    assert_violation(&w, 1, LSH_EBADPACKET, "malformed SSH_MSG_CHANNEL_DATA");
    world_free(&w);

    sch = established(&w, 0, 0, 0, 0);
    rawf(&w, 0, "buub", LSH_MSG_CHANNEL_WINDOW_ADJUST, sch, 5u, 0);
    assert_violation(&w, 1, LSH_EBADPACKET, "WINDOW_ADJUST");
    world_free(&w);

    world_init(&w);
    rawf(&w, 0, "bsuu", LSH_MSG_CHANNEL_OPEN, "session", 0u, 1u); /* short */
    assert_violation(&w, 1, LSH_EBADPACKET, "CHANNEL_OPEN");
    world_free(&w);

    world_init(&w);
    rawf(&w, 0, "bb", LSH_MSG_GLOBAL_REQUEST, 0); /* truncated name */
    assert_violation(&w, 1, LSH_EBADPACKET, "GLOBAL_REQUEST");
    world_free(&w);
}

static void
bad_names_are_refused_not_fatal(void **state)
{
    world w;
    uint32_t sch = established(&w, 0, 0, 0, 0);
    char longname[80];
    (void)state;
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    w.deaf = 1;
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, longname, 9u, 65536u, 32768u);
    rawf(&w, 0, "bsuuu", LSH_MSG_CHANNEL_OPEN, "bad\x01type", 9u, 65536u,
         32768u);
    rawf(&w, 0, "busb", LSH_MSG_CHANNEL_REQUEST, sch, "has space", 1);
    rawf(&w, 0, "bsb", LSH_MSG_GLOBAL_REQUEST, longname, 1);
    assert_false(w.p.closed[1]);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 1);
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_REQUEST], 0);
    assert_int_equal(w.sd[1].count[LSH_EV_GLOBAL_REQUEST], 0);
    world_free(&w);
}

static void
unassigned_numbers_still_go_up_raw(void **state)
{
    world w;
    uint8_t m[3] = {127, 1, 2};
    (void)state;
    world_init(&w);
    assert_int_equal(lsh_conn_send(w.p.c, m, sizeof(m)), 0);
    pump(&w);
    assert_int_equal(w.p.gotlen[1], 3);
    assert_memory_equal(w.p.got[1], m, 3);
    world_free(&w);
}

/* P-7 / reliability-plan §2.6: rejected opens do not grow memory */

static size_t
heap_in_use(void)
{
#if defined(UNDER_ASAN)
    return 0;
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
#endif
}

/* Sends `count` raw opens from the client; the server's replies are
 * discarded unheard (the client has no such channels). */
static void
flood_opens(world *w, unsigned count)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *o;
        size_t on;
        lsh_buf_reset(&b);
        assert_int_equal(lsh_buf_put_u8(&b, LSH_MSG_CHANNEL_OPEN), 0);
        assert_int_equal(lsh_buf_put_cstring(&b, "direct-tcpip"), 0);
        assert_int_equal(lsh_buf_put_u32(&b, i), 0);
        assert_int_equal(lsh_buf_put_u32(&b, 65536), 0);
        assert_int_equal(lsh_buf_put_u32(&b, 32768), 0);
        assert_int_equal(lsh__conn_send_now(w->p.c, lsh_buf_ptr(&b),
                                            lsh_buf_len(&b)), 0);
        if (i % 256 == 255 || i + 1 == count) {
            pair_move(&w->p, 0, 65536);
            lsh_conn_out(w->p.s, &o, &on);
            lsh_conn_out_ack(w->p.s, on);
        }
    }
    lsh_buf_free(&b);
}

static void
hundred_thousand_rejected_opens_do_not_grow_memory(void **state)
{
    world w;
    lsh_chan_limits lim = {.max_channels = 4};
    size_t before, after;
    (void)state;

    /* Over the channel limit: refused by the core, nothing allocated. */
    world_init(&w);
    w.sd[1].nolog = 1;
    assert_int_equal(lsh_chan_set_limits(w.p.s, &lim), 0);
    flood_opens(&w, 4); /* four pending opens fill the table */
    assert_int_equal(lsh_chan_count(w.p.s), 4);
    flood_opens(&w, 1000); /* warm-up */
    before = heap_in_use();
    flood_opens(&w, 100000);
    after = heap_in_use();
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 4);
    assert_int_equal(lsh_chan_count(w.p.s), 4);
    assert_false(w.p.closed[1]);
    assert_true(after < before + 1024 * 1024);
    world_free(&w);

    /* Refused by the application: each number comes back. */
    world_init(&w);
    w.sd[1].nolog = 1;
    w.sd[1].auto_reject = 1;
    flood_opens(&w, 1000);
    before = heap_in_use();
    flood_opens(&w, 100000);
    after = heap_in_use();
    assert_int_equal(w.sd[1].count[LSH_EV_CHAN_OPEN], 101000);
    assert_int_equal(lsh_chan_count(w.p.s), 0);
    assert_false(w.p.closed[1]);
    assert_true(after < before + 1024 * 1024);
    world_free(&w);
}

/* session.h: encoders and parsers */

static void
pty_req_known_answer(void **state)
{
    /* RFC 4254 §6.2 layout, by hand: string "vt100", 80, 24, 640, 480,
     * string modes (§8: ECHO=53 arg 1, TTY_OP_END). */
    lsh_buf b;
    lsh_tty_mode m[] = {{LSH_TTY_ECHO, 1}};
    lsh_pty_req q = {lsh_span_str("vt100"), 80, 24, 640, 480, {0}};
    uint8_t modes[6];
    lsh_buf mb;
    (void)state;
    lsh_buf_init(&mb, 0);
    assert_int_equal(lsh_tty_modes_encode(&mb, m, 1), 0);
    tu_assert_hex(lsh_buf_ptr(&mb), lsh_buf_len(&mb), "35 00000001 00");
    memcpy(modes, lsh_buf_ptr(&mb), 6);
    q.modes.p = modes;
    q.modes.n = 6;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_chan_pty_req_data(&b, &q), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000005 7674313030 00000050 00000018 00000280 000001e0"
                  "00000006 3500000001 00");
    lsh_buf_free(&b);
    lsh_buf_free(&mb);
}

static void
terminal_modes_decoding_rules(void **state)
{
    lsh_tty_mode out[4], many[300];
    size_t n;
    uint8_t *p;
    size_t len;
    lsh_buf b;
    (void)state;
    /* Empty: no modes (clients send that). */
    assert_int_equal(lsh_tty_modes_decode(NULL, 0, out, 4, &n), 0);
    assert_int_equal(n, 0);
    /* §8: an opcode of 160..255 stops parsing; the rest is ignored. */
    p = tu_unhex("35 00000001 a0 ffffff 00 00", &len);
    assert_int_equal(lsh_tty_modes_decode(p, len, out, 4, &n), 0);
    assert_int_equal(n, 1);
    free(p);
    /* Bytes after TTY_OP_END. */
    p = tu_unhex("35 00000001 00 00", &len);
    assert_int_equal(lsh_tty_modes_decode(p, len, out, 4, &n),
                     LSH_ETRAILING);
    free(p);
    /* Truncated argument. */
    p = tu_unhex("35 000000", &len);
    assert_int_equal(lsh_tty_modes_decode(p, len, out, 4, &n),
                     LSH_ETRUNCATED);
    free(p);
    /* Missing TTY_OP_END is tolerated. */
    p = tu_unhex("2a 00000001", &len);
    assert_int_equal(lsh_tty_modes_decode(p, len, out, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].opcode, LSH_TTY_IUTF8);
    free(p);
    /* More than the room given. */
    p = tu_unhex("01 00000003 02 0000001c 03 0000007f 04 00000015 05 "
                 "00000004 00", &len);
    assert_int_equal(lsh_tty_modes_decode(p, len, out, 4, &n),
                     LSH_ETOOLARGE);
    free(p);
    /* Encoder limits. */
    lsh_buf_init(&b, 0);
    many[0].opcode = 0;
    assert_int_equal(lsh_tty_modes_encode(&b, many, 1), LSH_EINVAL);
    many[0].opcode = 160;
    assert_int_equal(lsh_tty_modes_encode(&b, many, 1), LSH_EINVAL);
    for (int i = 0; i < 300; i++) {
        many[i].opcode = 1;
        many[i].value = 0;
    }
    assert_int_equal(lsh_tty_modes_encode(&b, many, 300), LSH_ETOOLARGE);
    assert_int_equal(lsh_tty_modes_encode(&b, many, 255), 0);
    assert_int_equal(lsh_buf_len(&b), LSH_TTY_MODES_MAX_BYTES);
    lsh_buf_free(&b);
    assert_string_equal(lsh_tty_mode_name(LSH_TTY_IUTF8), "IUTF8");
    assert_string_equal(lsh_tty_mode_name(128), "TTY_OP_ISPEED");
    assert_null(lsh_tty_mode_name(20));
    assert_int_equal(lsh_tty_mode_lookup("ECHO"), 53);
    assert_int_equal(lsh_tty_mode_lookup("NOPE"), -1);
}

static void
session_parsers_are_strict(void **state)
{
    lsh_buf b;
    lsh_span s;
    uint32_t u;
    int flag;
    lsh_env_req env;
    lsh_x11_req x, x2;
    lsh_window_change wc = {100, 40, 0, 0}, wc2;
    lsh_exit_signal es;
    lsh_pty_req pty;
    lsh_tcpip_open to;
    uint8_t *p;
    size_t n;
    (void)state;
    lsh_buf_init(&b, 0);

    /* exec: round trip, then trailing, truncated, NUL. */
    assert_int_equal(lsh_chan_exec_data(&b, lsh_span_str("ls -l")), 0);
    assert_int_equal(lsh_chan_parse_exec(lsh_buf_ptr(&b), lsh_buf_len(&b),
                                         &s), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(lsh_buf_put_u8(&b, 0), 0);
    assert_int_equal(lsh_chan_parse_exec(lsh_buf_ptr(&b), lsh_buf_len(&b),
                                         &s), LSH_ETRAILING);
    assert_int_equal(lsh_chan_parse_exec(lsh_buf_ptr(&b), 6, &s),
                     LSH_ETRUNCATED);
    p = tu_unhex("00000003 61 00 62", &n);
    assert_int_equal(lsh_chan_parse_exec(p, n, &s), LSH_EBADSTRING);
    assert_int_equal(lsh_chan_parse_env(p, n, &env), LSH_EBADSTRING);
    free(p);
    lsh_buf_reset(&b);
    {
        lsh_span withnul = {(const uint8_t *)"a\0b", 3};
        assert_int_equal(lsh_chan_exec_data(&b, withnul), LSH_EINVAL);
        assert_int_equal(lsh_buf_len(&b), 0);
    }

    /* subsystem: empty refused. */
    assert_int_equal(lsh_chan_subsystem_data(&b, lsh_span_str("sftp")), 0);
    assert_int_equal(lsh_chan_parse_subsystem(lsh_buf_ptr(&b),
                                              lsh_buf_len(&b), &s), 0);
    assert_memory_equal(s.p, "sftp", 4);
    assert_int_equal(lsh_chan_parse_subsystem((const uint8_t *)"\0\0\0\0", 4,
                                              &s), LSH_EINVAL);
    lsh_buf_reset(&b);

    /* env: a name with '=' is refused both ways; value size cap. */
    env.name = lsh_span_str("A=B");
    env.value = lsh_span_str("x");
    assert_int_equal(lsh_chan_env_data(&b, &env), LSH_EINVAL);
    p = tu_unhex("00000003 413d42 00000000", &n);
    assert_int_equal(lsh_chan_parse_env(p, n, &env), LSH_EINVAL);
    free(p);
    p = tu_unhex("00000001 41 00010001", &n); /* value over its cap */
    assert_int_equal(lsh_chan_parse_env(p, n, &env), LSH_ETOOLARGE);
    free(p);

    /* window-change and xon-xoff, break, exit-status. */
    assert_int_equal(lsh_chan_window_change_data(&b, &wc), 0);
    assert_int_equal(lsh_chan_parse_window_change(lsh_buf_ptr(&b),
                                                  lsh_buf_len(&b), &wc2), 0);
    assert_int_equal(wc2.cols, 100);
    assert_int_equal(wc2.rows, 40);
    assert_int_equal(lsh_chan_parse_window_change(lsh_buf_ptr(&b), 15, &wc2),
                     LSH_ETRUNCATED);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_chan_xon_xoff_data(&b, 1), 0);
    assert_int_equal(lsh_chan_parse_xon_xoff(lsh_buf_ptr(&b), 1, &flag), 0);
    assert_int_equal(flag, 1);
    assert_int_equal(lsh_chan_parse_xon_xoff((const uint8_t *)"\1\1", 2,
                                             &flag), LSH_ETRAILING);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_chan_break_data(&b, 750), 0);
    assert_int_equal(lsh_chan_parse_break(lsh_buf_ptr(&b), 4, &u), 0);
    assert_int_equal(u, 750);
    assert_int_equal(lsh_chan_parse_exit_status(lsh_buf_ptr(&b), 3, &u),
                     LSH_ETRUNCATED);
    lsh_buf_reset(&b);

    /* signal: "SIG" dropped when encoding, refused when parsing. */
    assert_int_equal(lsh_chan_signal_data(&b, lsh_span_str("SIGTERM")), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000004 5445524d");
    assert_int_equal(lsh_chan_parse_signal(lsh_buf_ptr(&b), lsh_buf_len(&b),
                                           &s), 0);
    lsh_buf_reset(&b);
    p = tu_unhex("00000006 534947494e54", &n); /* "SIGINT" */
    assert_int_equal(lsh_chan_parse_signal(p, n, &s), LSH_EINVAL);
    free(p);
    assert_int_equal(lsh_chan_signal_data(&b, lsh_span_str("")), LSH_EINVAL);
    p = tu_unhex("00000004 54455249 01 00000000 00000000 ff", &n);
    assert_int_equal(lsh_chan_parse_exit_signal(p, n, &es), LSH_ETRAILING);
    free(p);
    p = tu_unhex("00000004 54455249 01 00000000", &n); /* no language */
    assert_int_equal(lsh_chan_parse_exit_signal(p, n, &es), LSH_ETRUNCATED);
    free(p);

    /* x11-req: the cookie must be hex. */
    x.single_connection = 0;
    x.proto = lsh_span_str("MIT-MAGIC-COOKIE-1");
    x.cookie = lsh_span_str("00112233445566778899aabbccddeeff");
    x.screen = 0;
    assert_int_equal(lsh_chan_x11_req_data(&b, &x), 0);
    assert_int_equal(lsh_chan_parse_x11_req(lsh_buf_ptr(&b), lsh_buf_len(&b),
                                            &x2), 0);
    assert_int_equal(x2.cookie.n, 32);
    lsh_buf_reset(&b);
    x.cookie = lsh_span_str("not hex!");
    assert_int_equal(lsh_chan_x11_req_data(&b, &x), LSH_EINVAL);
    assert_int_equal(lsh_buf_len(&b), 0);

    /* pty-req: TERM over its cap; modes over theirs. */
    p = calloc(1, 4 + 300 + 16 + 4);
    p[2] = 1;
    p[3] = 0x2c; /* 300 */
    memset(p + 4, 'x', 300);
    assert_int_equal(lsh_chan_parse_pty_req(p, 4 + 300 + 20, &pty),
                     LSH_ETOOLARGE);
    free(p);

    /* Ports above 65535 in opens and forwards. */
    p = tu_unhex("00000001 61 00010000 00000001 62 00000001", &n);
    assert_int_equal(lsh_chan_parse_tcpip_open(p, n, &to), LSH_EINVAL);
    free(p);
    p = tu_unhex("00000001 61 00000016 00000001 62 00000001", &n);
    assert_int_equal(lsh_chan_parse_tcpip_open(p, n, &to), 0);
    assert_int_equal(to.port, 22);
    assert_int_equal(lsh_chan_parse_tcpip_open(p, n - 1, &to),
                     LSH_ETRUNCATED);
    free(p);
    to.host = lsh_span_str("h");
    to.port = 70000;
    to.orig_host = lsh_span_str("o");
    to.orig_port = 1;
    assert_int_equal(lsh_chan_direct_tcpip_data(&b, &to), LSH_EINVAL);
    assert_int_equal(lsh_chan_forward_port_data(&b, 0), LSH_EINVAL);
    assert_int_equal(lsh_chan_parse_forward_port((const uint8_t *)"\0\0\0\0",
                                                 4, &u), LSH_EINVAL);

    /* Streamlocal (PROTOCOL §2.4). */
    assert_int_equal(lsh_chan_direct_streamlocal_data(&b,
                                                      lsh_span_str("/s")), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000002 2f73 00000000 00000000");
    assert_int_equal(lsh_chan_parse_direct_streamlocal(lsh_buf_ptr(&b),
                                                       lsh_buf_len(&b), &s),
                     0);
    assert_int_equal(lsh_chan_parse_forwarded_streamlocal(lsh_buf_ptr(&b),
                                                          lsh_buf_len(&b),
                                                          &s),
                     LSH_ETRAILING);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_chan_forwarded_streamlocal_data(&b,
                                                         lsh_span_str("/s")),
                     0);
    assert_int_equal(lsh_chan_parse_forwarded_streamlocal(lsh_buf_ptr(&b),
                                                          lsh_buf_len(&b),
                                                          &s), 0);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_chan_streamlocal_forward_data(&b,
                                                       lsh_span_str("/s")), 0);
    assert_int_equal(lsh_chan_parse_streamlocal_forward(lsh_buf_ptr(&b),
                                                        lsh_buf_len(&b), &s),
                     0);
    assert_int_equal(lsh_chan_streamlocal_forward_data(&b, lsh_span_str("")),
                     LSH_EINVAL);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_chan_x11_open_data(&b, lsh_span_str("1.2.3.4"),
                                            6010), 0);
    assert_int_equal(lsh_chan_parse_x11_open(lsh_buf_ptr(&b),
                                             lsh_buf_len(&b), &s, &u), 0);
    assert_int_equal(u, 6010);
    assert_int_equal(lsh_chan_parse_empty(NULL, 0), 0);
    assert_int_equal(lsh_chan_parse_empty((const uint8_t *)"x", 1),
                     LSH_ETRAILING);
    lsh_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_confirm_and_refuse),
        cmocka_unit_test(open_before_authentication_is_refused),
        cmocka_unit_test(client_refuses_what_it_did_not_ask_for),
        cmocka_unit_test(x11_and_agent_opens_follow_our_requests),
        cmocka_unit_test(sessions_beyond_max_sessions_are_refused),
        cmocka_unit_test(session_with_pty_env_exec_data_and_exit),
        cmocka_unit_test(close_in_every_order),
        cmocka_unit_test(writer_blocks_at_the_window_until_the_reader_consumes),
        cmocka_unit_test(bulk_64mib_with_1k_packets),
        cmocka_unit_test(bulk_64mib_with_32k_packets),
        cmocka_unit_test(data_arrives_in_order_through_kex),
        cmocka_unit_test(compressed_data_arrives_in_order_through_kex),
        cmocka_unit_test(huge_peer_window_does_not_make_us_buffer),
        cmocka_unit_test(thousand_channels_with_interleaved_writes),
        cmocka_unit_test(channel_requests_are_answered_in_order),
        cmocka_unit_test(global_requests_are_answered_in_order),
        cmocka_unit_test(keepalives_are_counted_until_answered),
        cmocka_unit_test(open_with_tiny_max_packet_disconnects),
        cmocka_unit_test(open_confirmation_with_tiny_max_packet_disconnects),
        cmocka_unit_test(window_adjust_overflow_disconnects),
        cmocka_unit_test(only_channel_data_stays_in_the_message_buffer),
        cmocka_unit_test(data_beyond_the_window_disconnects),
        cmocka_unit_test(data_above_max_packet_disconnects),
        cmocka_unit_test(data_after_eof_or_close_disconnects),
        cmocka_unit_test(messages_for_unknown_channels_disconnect),
        cmocka_unit_test(messages_for_an_unanswered_open_disconnect),
        cmocka_unit_test(replies_without_requests_disconnect),
        cmocka_unit_test(too_many_unanswered_requests_disconnect),
        cmocka_unit_test(malformed_messages_disconnect),
        cmocka_unit_test(bad_names_are_refused_not_fatal),
        cmocka_unit_test(unassigned_numbers_still_go_up_raw),
        cmocka_unit_test(hundred_thousand_rejected_opens_do_not_grow_memory),
        cmocka_unit_test(pty_req_known_answer),
        cmocka_unit_test(terminal_modes_decoding_rules),
        cmocka_unit_test(session_parsers_are_strict),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
