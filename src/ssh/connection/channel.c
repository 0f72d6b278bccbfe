/*
 * IMPLEMENTATION NOTES
 *
 * The connection layer keeps its state behind c->chans (allocated at the
 * first message or call that needs it).  Channels live in a table indexed
 * by our channel number; a number is the lowest free slot, so the table
 * never grows past what max_channels allows (about twice that, at most),
 * and an open refused for lack of room allocates nothing at all.
 *
 * A channel is CH_OPENING (we sent OPEN), CH_PENDING (the peer sent OPEN
 * and the caller has not answered; the peer does not know our number yet,
 * so any message naming it is a protocol error) or CH_OPEN.  There is no
 * "closing" state: sent_close marks our CLOSE, and the peer's CLOSE frees
 * the channel at once (replying CLOSE first if we had not sent it, RFC
 * 4254 §5.3), after the LSH_EV_CHAN_CLOSE event that names it.
 *
 * Flow control (RFC 4254 §5.2).  Receive side: lwin is what the peer may
 * still send, unconsumed what it sent that the caller has not reported
 * through lsh_chan_consumed, to_adjust what the caller consumed and we
 * have not granted back yet; lwin + unconsumed + to_adjust == lwin_max.
 * A WINDOW_ADJUST goes out when to_adjust reaches half of lwin_max.  Send
 * side: rwin and rmaxpkt are the peer's; a write stops at rwin, and also
 * while the connection holds send_buffer unsent bytes (so the peer's
 * window never decides how much memory we use).  A short write sets
 * `blocked` (per channel: the next WINDOW_ADJUST raises WRITABLE; a
 * sender holding back on its own sets it with lsh_chan_notify_adjust) or
 * `backlogged` (connection: lsh__chan_on_drain raises WRITABLE with
 * LSH_CHAN_ALL once the backlog has halved).
 *
 * Replies (RFC 4254 §4, §5.4) must go out in request order.  Incoming
 * want_reply requests take a slot in a small ring (per channel, and one
 * for global requests); the caller may answer slots in any order, and
 * the ring sends replies from its head for as long as the head is
 * answered.  Requests the core refuses by itself take a slot too, already
 * answered, so they never overtake an earlier request still waiting.
 * Our own want_reply requests are remembered by name in a second ring,
 * and each reply pops the oldest.
 *
 * Events: each incoming message yields at most one event, put in
 * c->current; names are copied into st->name (valid until the next
 * decode, which conn.c does not start while events are queued), data and
 * extra point into the decoded message.
 */
#include "ssh/connection/channel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/rd.h"
#include "ssh/conn_internal.h"

#define DEFAULT_MAX_CHANNELS 1024u
#define DEFAULT_MAX_SESSIONS 10u
#define DEFAULT_SEND_BUFFER ((size_t)2 * 1024 * 1024)
/* Channel numbers stay far below LSH_CHAN_ALL. */
#define MAX_CHANNELS_CAP ((uint32_t)1 << 24)
#define KEEPALIVE "keepalive@openssh.com"
#define NO_MORE_SESSIONS "no-more-sessions@openssh.com"

#define RING(i, n) ((i) % (n)) /* n is a power of two: wraps with uint32 */

enum chan_st { CH_OPENING = 1, CH_PENDING, CH_OPEN };

/* Reply slot states. */
enum { RS_WAIT = 0, RS_OK = 1, RS_FAIL = 2 };

typedef struct chan {
    uint32_t self, peer;
    enum chan_st st;
    unsigned sent_eof : 1, got_eof : 1, sent_close : 1, close_asked : 1,
        blocked : 1, session_in : 1;
    /* Receive side (ours). */
    uint32_t lwin, lwin_max, lmaxpkt, unconsumed, to_adjust;
    /* Send side (the peer's). */
    uint32_t rwin, rmaxpkt;
    char *type; /* channels we opened: the type, for OPEN_RESULT */
    /* The peer's want_reply requests: ids in_first .. in_next-1. */
    uint32_t in_first, in_next;
    uint8_t in_state[LSH_CHAN_PENDING_MAX];
    /* Ours: names of the requests waiting for a reply, a ring of
     * LSH_CHAN_OUTSTANDING_MAX made at the first and freed when empty. */
    uint32_t out_first, out_next;
    char **out_name;
} chan;

typedef struct greply {
    uint8_t state;
    uint8_t *data; /* response data, when answered out of order */
    size_t len;
} greply;

struct lsh_chan_state {
    chan **tab;
    uint32_t tabsize, count, hint; /* all slots below hint are in use */
    uint32_t sessions_in;
    lsh_chan_limits lim;
    lsh_buf msg; /* the message being built */
    char name[LSH_CHAN_NAME_MAX + 1];
    /* The reply rings for global requests: allocated when a request
     * arrives / goes out, freed when the ring empties. */
    uint32_t gin_first, gin_next;
    greply *gin;   /* LSH_GLOBAL_PENDING_MAX slots, or NULL */
    uint32_t gout_first, gout_next;
    char **gout;   /* LSH_GLOBAL_OUTSTANDING_MAX slots, or NULL */
    unsigned keepalives;
    unsigned backlogged : 1, no_more_sessions : 1, sent_x11_req : 1,
        sent_agent_req : 1, sent_tcpip_forward : 1,
        sent_streamlocal_forward : 1;
};

typedef struct lsh_chan_state chan_state;

/* State, lookup, allocation */

static chan_state *
state(lsh_conn *c)
{
    chan_state *st = c->chans;
    if (st != NULL) {
        return st;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->lim.max_channels = DEFAULT_MAX_CHANNELS;
    st->lim.max_sessions = DEFAULT_MAX_SESSIONS;
    st->lim.send_buffer = DEFAULT_SEND_BUFFER;
    lsh_buf_init(&st->msg, LSH_PKT_MAX);
    c->chans = st;
    return st;
}

static chan *
find(const chan_state *st, uint32_t id)
{
    if (st == NULL || id >= st->tabsize) {
        return NULL;
    }
    return st->tab[id];
}

static int
chan_new(chan_state *st, chan **out)
{
    uint32_t i = st->hint;
    chan *ch;
    if (st->count >= st->lim.max_channels) {
        return LSH_EAGAIN;
    }
    while (i < st->tabsize && st->tab[i] != NULL) {
        i++;
    }
    if (i == st->tabsize) {
        uint32_t nsize = st->tabsize ? st->tabsize * 2 : 16;
        chan **nt;
        if (st->tabsize >= MAX_CHANNELS_CAP) {
            return LSH_EAGAIN;
        }
        nt = realloc(st->tab, (size_t)nsize * sizeof(*nt));
        if (nt == NULL) {
            return LSH_ENOMEM;
        }
        memset(nt + st->tabsize, 0,
               (size_t)(nsize - st->tabsize) * sizeof(*nt));
        st->tab = nt;
        st->tabsize = nsize;
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        return LSH_ENOMEM;
    }
    ch->self = i;
    st->tab[i] = ch;
    st->count++;
    st->hint = i + 1;
    *out = ch;
    return 0;
}

static void
chan_free(chan_state *st, chan *ch)
{
    for (uint32_t i = ch->out_first; i != ch->out_next; i++) {
        free(ch->out_name[RING(i, LSH_CHAN_OUTSTANDING_MAX)]);
    }
    free(ch->out_name);
    if (ch->session_in) {
        st->sessions_in--;
    }
    st->tab[ch->self] = NULL;
    st->count--;
    if (ch->self < st->hint) {
        st->hint = ch->self;
    }
    free(ch->type);
    free(ch);
    if (st->count == 0) {
        /* The last channel is gone: so go the table and the message
         * buffer (zeroed: it held channel data), which an idle
         * connection does not need.  lsh__chan_free's loop re-reads
         * tabsize and stops. */
        free(st->tab);
        st->tab = NULL;
        st->tabsize = 0;
        st->hint = 0;
        lsh_buf_free(&st->msg);
    }
}

void
lsh__chan_free(lsh_conn *c)
{
    chan_state *st = c->chans;
    if (st == NULL) {
        return;
    }
    for (uint32_t i = 0; i < st->tabsize; i++) {
        if (st->tab[i] != NULL) {
            chan_free(st, st->tab[i]);
        }
    }
    for (uint32_t i = st->gin_first; i != st->gin_next; i++) {
        free(st->gin[RING(i, LSH_GLOBAL_PENDING_MAX)].data);
    }
    for (uint32_t i = st->gout_first; i != st->gout_next; i++) {
        free(st->gout[RING(i, LSH_GLOBAL_OUTSTANDING_MAX)]);
    }
    free(st->gin);
    free(st->gout);
    free(st->tab);
    lsh_buf_free(&st->msg);
    free(st);
    c->chans = NULL;
}

void
lsh__chan_trim(lsh_conn *c)
{
    if (c->chans != NULL) {
        lsh_buf_free(&c->chans->msg); /* zeroed: it held channel data */
    }
}

/* Names (RFC 4251 §6: printable US-ASCII, at most 64 characters). */

static int
name_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > LSH_CHAN_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == ',') {
            return 0;
        }
    }
    return 1;
}

static int
name_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int
cname_ok(const char *s)
{
    return s != NULL && name_ok((const uint8_t *)s, strlen(s));
}

static void
set_name(chan_state *st, const void *p, size_t n)
{
    if (n > LSH_CHAN_NAME_MAX) {
        n = LSH_CHAN_NAME_MAX;
    }
    memcpy(st->name, p, n);
    st->name[n] = '\0';
}

/* Failures */

static const char *
msg_name(uint8_t type)
{
    static const char *const names[] = {
        "SSH_MSG_GLOBAL_REQUEST", "SSH_MSG_REQUEST_SUCCESS",
        "SSH_MSG_REQUEST_FAILURE", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        "SSH_MSG_CHANNEL_OPEN", "SSH_MSG_CHANNEL_OPEN_CONFIRMATION",
        "SSH_MSG_CHANNEL_OPEN_FAILURE", "SSH_MSG_CHANNEL_WINDOW_ADJUST",
        "SSH_MSG_CHANNEL_DATA", "SSH_MSG_CHANNEL_EXTENDED_DATA",
        "SSH_MSG_CHANNEL_EOF", "SSH_MSG_CHANNEL_CLOSE",
        "SSH_MSG_CHANNEL_REQUEST", "SSH_MSG_CHANNEL_SUCCESS",
        "SSH_MSG_CHANNEL_FAILURE"};
    if (type >= 80 && type - 80u < sizeof(names) / sizeof(names[0]) &&
        names[type - 80] != NULL) {
        return names[type - 80];
    }
    return "message";
}

static int
malformed(lsh_conn *c, uint8_t type)
{
    return lsh__conn_fail(c, LSH_EBADPACKET, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "malformed %s", msg_name(type));
}

static int violation(lsh_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
violation(lsh_conn *c, const char *fmt, ...)
{
    char text[LSH_CONN_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return lsh__conn_fail(c, LSH_EPROTOCOL, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "%s", text);
}

static int
api_state(const lsh_conn *c)
{
    if (c->closed) {
        return c->err ? c->err : LSH_ECLOSED;
    }
    return 0;
}

/* Sending */

static size_t
backlog(const lsh_conn *c)
{
    return lsh_buf_len(&c->out) + lsh_buf_len(&c->held);
}

/* Starts a channel message in st->msg: its type and recipient channel. */
static int
msg_chan(chan_state *st, uint8_t type, uint32_t recipient)
{
    int r;
    lsh_buf_reset(&st->msg);
    if ((r = lsh_buf_put_u8(&st->msg, type)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, recipient)) != 0) {
        return r;
    }
    return 0;
}

static int
msg_send(lsh_conn *c, chan_state *st)
{
    int r = lsh_conn_send(c, lsh_buf_ptr(&st->msg), lsh_buf_len(&st->msg));
    /* The message is in the connection's output now.  A small buffer
     * costs little to make again, so none is kept between messages (an
     * idle connection holds nothing); a big one (a request with a big
     * payload; channel data does not come here, see lsh_chan_write)
     * stays until the connection has been idle a while
     * (lsh__chan_trim).  Zeroed either way: requests carry secrets. */
    if (st->count == 0 || st->msg.cap <= LSH_CONN_KEEP_SMALL) {
        lsh_buf_free(&st->msg);
    } else {
        lsh__conn_trim_later(c);
    }
    return r;
}

/*
 * Sends a message the protocol obliges us to send (a reply, CLOSE, a
 * WINDOW_ADJUST).  The only non-fatal failure of lsh_conn_send is a full
 * queue during a key exchange; our data writes stop well before it
 * fills, so only a flood of requests gets there, and that ends the
 * connection.
 */
static int
send_owed(lsh_conn *c, chan_state *st, int r)
{
    if (r == 0) {
        r = msg_send(c, st);
    }
    if (r == LSH_EAGAIN) {
        return lsh__conn_fail(c, LSH_EAGAIN, LSH_DISCONNECT_BY_APPLICATION,
                              "send queue full during key exchange");
    }
    if (r != 0 && !c->closed) {
        return lsh__conn_fail(c, r, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "cannot send: %s", lsh_strerror(r));
    }
    return r;
}

static int
send_close(lsh_conn *c, chan_state *st, chan *ch)
{
    int r = send_owed(c, st, msg_chan(st, LSH_MSG_CHANNEL_CLOSE, ch->peer));
    if (r == 0) {
        ch->sent_close = 1;
        /* Replies to the peer's requests are moot after our CLOSE. */
        ch->in_first = ch->in_next;
        memset(ch->in_state, 0, sizeof(ch->in_state));
    }
    return r;
}

/* Builds OPEN_FAILURE in st->msg (RFC 4254 §5.1). */
static int
build_open_failure(chan_state *st, uint32_t peer, uint32_t reason,
                   const char *text)
{
    int r = msg_chan(st, LSH_MSG_CHANNEL_OPEN_FAILURE, peer);
    if (r == 0 && (r = lsh_buf_put_u32(&st->msg, reason)) == 0 &&
        (r = lsh_buf_put_cstring(&st->msg, text ? text : "")) == 0) {
        r = lsh_buf_put_cstring(&st->msg, "");
    }
    return r;
}

/* Reply rings */

static int
in_push(lsh_conn *c, chan *ch, uint8_t rs, uint32_t *id)
{
    if (ch->in_next - ch->in_first >= LSH_CHAN_PENDING_MAX) {
        return violation(c, "more than %u unanswered requests on channel %u",
                         LSH_CHAN_PENDING_MAX, ch->self);
    }
    ch->in_state[RING(ch->in_next, LSH_CHAN_PENDING_MAX)] = rs;
    *id = ch->in_next++;
    return 0;
}

static int
in_flush(lsh_conn *c, chan_state *st, chan *ch)
{
    while (ch->in_first != ch->in_next) {
        uint8_t *s = &ch->in_state[RING(ch->in_first, LSH_CHAN_PENDING_MAX)];
        int r;
        if (*s == RS_WAIT) {
            break;
        }
        r = msg_chan(st, *s == RS_OK ? LSH_MSG_CHANNEL_SUCCESS
                                     : LSH_MSG_CHANNEL_FAILURE, ch->peer);
        if ((r = send_owed(c, st, r)) != 0) {
            return r;
        }
        *s = RS_WAIT;
        ch->in_first++;
    }
    return 0;
}

static int
gin_push(lsh_conn *c, chan_state *st, uint8_t rs, uint32_t *id)
{
    greply *g;
    if (st->gin_next - st->gin_first >= LSH_GLOBAL_PENDING_MAX) {
        return violation(c, "more than %u unanswered global requests",
                         LSH_GLOBAL_PENDING_MAX);
    }
    if (st->gin == NULL &&
        (st->gin = calloc(LSH_GLOBAL_PENDING_MAX, sizeof(*st->gin))) ==
            NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    g = &st->gin[RING(st->gin_next, LSH_GLOBAL_PENDING_MAX)];
    g->state = rs;
    g->data = NULL;
    g->len = 0;
    *id = st->gin_next++;
    return 0;
}

static int
gin_send(lsh_conn *c, chan_state *st, int ok, const uint8_t *data,
         size_t n)
{
    int r;
    lsh_buf_reset(&st->msg);
    r = lsh_buf_put_u8(&st->msg, ok ? LSH_MSG_REQUEST_SUCCESS
                                    : LSH_MSG_REQUEST_FAILURE);
    if (r == 0 && ok && n > 0) {
        r = lsh_buf_put(&st->msg, data, n);
    }
    return send_owed(c, st, r);
}

/* Frees the ring of incoming global requests once all are answered. */
static void
gin_trim(chan_state *st)
{
    if (st->gin_first == st->gin_next) {
        free(st->gin);
        st->gin = NULL;
    }
}

static int
gin_flush(lsh_conn *c, chan_state *st)
{
    while (st->gin_first != st->gin_next) {
        greply *g = &st->gin[RING(st->gin_first, LSH_GLOBAL_PENDING_MAX)];
        int r;
        if (g->state == RS_WAIT) {
            break;
        }
        r = gin_send(c, st, g->state == RS_OK, g->data, g->len);
        free(g->data);
        g->data = NULL;
        g->len = 0;
        g->state = RS_WAIT;
        st->gin_first++;
        if (r != 0) {
            gin_trim(st);
            return r;
        }
    }
    gin_trim(st);
    return 0;
}

/* Incoming messages */

typedef int (*msg_fn)(lsh_conn *c, chan_state *st, uint8_t type,
                      lsh_rd *rd);

static int
emit(lsh_conn *c, const lsh_event *ev)
{
    return lsh__conn_emit(c, ev, NULL, 0);
}

/* Reads the recipient channel of a channel message and finds it: it must
 * be a channel the peer knows, and past its confirmation. */
static int
addressed(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd,
          chan **out)
{
    uint32_t id;
    chan *ch;
    if (lsh_rd_u32(rd, &id) != 0) {
        return malformed(c, type);
    }
    ch = find(st, id);
    if (ch == NULL || ch->st == CH_PENDING) {
        return violation(c, "%s for unknown channel %u", msg_name(type),
                         id);
    }
    if (ch->st == CH_OPENING) {
        return violation(c, "%s for channel %u before its confirmation",
                         msg_name(type), id);
    }
    *out = ch;
    return 0;
}

/* RFC 4254 §4 */
static int
on_global_request(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    const uint8_t *name;
    size_t nl;
    int want, r;
    uint32_t id = 0;
    uint8_t verdict = RS_WAIT;
    lsh_event ev = {.type = LSH_EV_GLOBAL_REQUEST};

    if (lsh_rd_string(rd, &name, &nl) != 0 || lsh_rd_bool(rd, &want) != 0) {
        return malformed(c, type);
    }
    if (!name_ok(name, nl) || name_is(name, nl, KEEPALIVE)) {
        verdict = RS_FAIL;
    } else if (c->role == LSH_ROLE_CLIENT &&
               (name_is(name, nl, "tcpip-forward") ||
                name_is(name, nl, "cancel-tcpip-forward") ||
                name_is(name, nl, "streamlocal-forward@openssh.com") ||
                name_is(name, nl,
                        "cancel-streamlocal-forward@openssh.com") ||
                name_is(name, nl, NO_MORE_SESSIONS))) {
        verdict = RS_FAIL; /* §7.1: clients SHOULD reject these */
    } else if (name_is(name, nl, NO_MORE_SESSIONS)) {
        st->no_more_sessions = 1;
        verdict = RS_OK;
    }
    if (verdict != RS_WAIT) {
        if (!want) {
            return 0;
        }
        if ((r = gin_push(c, st, verdict, &id)) != 0) {
            return r;
        }
        return gin_flush(c, st);
    }
    if (want && (r = gin_push(c, st, RS_WAIT, &id)) != 0) {
        return r;
    }
    set_name(st, name, nl);
    ev.name = st->name;
    ev.num = (uint32_t)want;
    ev.id = id;
    ev.extra = lsh_rd_cur(rd);
    ev.extra_len = lsh_rd_remaining(rd);
    return emit(c, &ev);
}

/* RFC 4254 §4: REQUEST_SUCCESS (with response data) / REQUEST_FAILURE. */
static int
on_global_reply(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    int ok = type == LSH_MSG_REQUEST_SUCCESS;
    uint32_t id = st->gout_first;
    char **slot;
    int keepalive;
    lsh_event ev = {.type = LSH_EV_GLOBAL_RESULT};

    if (!ok && lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (st->gout_first == st->gout_next) {
        return violation(c, "%s with no global request waiting for a reply",
                         msg_name(type));
    }
    slot = &st->gout[RING(id, LSH_GLOBAL_OUTSTANDING_MAX)];
    set_name(st, *slot, strlen(*slot));
    free(*slot);
    *slot = NULL;
    if (++st->gout_first == st->gout_next) {
        free(st->gout);
        st->gout = NULL;
    }
    keepalive = strcmp(st->name, KEEPALIVE) == 0;
    if (keepalive && st->keepalives > 0) {
        st->keepalives--;
    }
    ev.name = st->name;
    ev.num = (uint32_t)ok;
    ev.code = ok || keepalive ? 0 : LSH_EREFUSED;
    ev.id = id;
    if (ok) {
        ev.extra = lsh_rd_cur(rd);
        ev.extra_len = lsh_rd_remaining(rd);
    }
    return emit(c, &ev);
}

/*
 * The opens the core refuses by itself (see channel.h).  Returns 0 to let
 * the caller decide, or an RFC 4254 §5.1 reason code.
 */
static uint32_t
open_policy(const lsh_conn *c, const chan_state *st, const uint8_t *t,
            size_t n)
{
    if (c->role == LSH_ROLE_CLIENT) {
        if (name_is(t, n, "session") || name_is(t, n, "direct-tcpip") ||
            name_is(t, n, "direct-streamlocal@openssh.com") ||
            (name_is(t, n, "x11") && !st->sent_x11_req) ||
            (name_is(t, n, "auth-agent@openssh.com") &&
             !st->sent_agent_req) ||
            (name_is(t, n, "forwarded-tcpip") && !st->sent_tcpip_forward) ||
            (name_is(t, n, "forwarded-streamlocal@openssh.com") &&
             !st->sent_streamlocal_forward)) {
            return LSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
        }
        return 0;
    }
    if (name_is(t, n, "forwarded-tcpip") ||
        name_is(t, n, "forwarded-streamlocal@openssh.com") ||
        name_is(t, n, "x11") || name_is(t, n, "auth-agent@openssh.com")) {
        return LSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
    }
    if (name_is(t, n, "session") &&
        st->sessions_in >= st->lim.max_sessions) {
        return LSH_OPEN_RESOURCE_SHORTAGE;
    }
    return 0;
}

static int
check_max_packet(lsh_conn *c, uint8_t type, uint32_t *maxpkt)
{
    if (*maxpkt < LSH_CHAN_MIN_PACKET) {
        return violation(c, "%s with maximum packet size %u (the minimum "
                            "is %u)", msg_name(type), *maxpkt,
                         LSH_CHAN_MIN_PACKET);
    }
    if (*maxpkt > LSH_CHAN_MAX_PACKET) {
        *maxpkt = LSH_CHAN_MAX_PACKET;
    }
    return 0;
}

/* RFC 4254 §5.1 */
static int
on_open(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    const uint8_t *t;
    size_t tl;
    uint32_t sender, window, maxpkt, reason = 0;
    const char *why = NULL;
    chan *ch = NULL;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_OPEN};

    if (lsh_rd_string(rd, &t, &tl) != 0 || lsh_rd_u32(rd, &sender) != 0 ||
        lsh_rd_u32(rd, &window) != 0 || lsh_rd_u32(rd, &maxpkt) != 0) {
        return malformed(c, type);
    }
    if ((r = check_max_packet(c, type, &maxpkt)) != 0) {
        return r;
    }
    if (c->role == LSH_ROLE_SERVER && st->no_more_sessions &&
        name_is(t, tl, "session")) {
        /* OpenSSH PROTOCOL §2.2: the server aborts the connection. */
        return violation(c, "session channel opened after "
                            "no-more-sessions@openssh.com");
    }
    if (!name_ok(t, tl)) {
        reason = LSH_OPEN_UNKNOWN_CHANNEL_TYPE;
        why = "unknown channel type";
    } else if ((reason = open_policy(c, st, t, tl)) != 0) {
        why = reason == LSH_OPEN_RESOURCE_SHORTAGE ? "too many sessions"
                                                   : "channel type refused";
    } else if (st->count >= st->lim.max_channels) {
        reason = LSH_OPEN_RESOURCE_SHORTAGE;
        why = "too many channels";
    } else if (chan_new(st, &ch) != 0) {
        reason = LSH_OPEN_RESOURCE_SHORTAGE;
        why = "no room for another channel";
    }
    if (reason != 0) {
        lsh__conn_log(c, LSH_LOG_DEBUG, "refusing channel open: %s", why);
        return send_owed(c, st, build_open_failure(st, sender, reason, why));
    }
    ch->st = CH_PENDING;
    ch->peer = sender;
    ch->rwin = window;
    ch->rmaxpkt = maxpkt;
    if (c->role == LSH_ROLE_SERVER && name_is(t, tl, "session")) {
        ch->session_in = 1;
        st->sessions_in++;
    }
    set_name(st, t, tl);
    ev.chan = ch->self;
    ev.name = st->name;
    ev.extra = lsh_rd_cur(rd);
    ev.extra_len = lsh_rd_remaining(rd);
    return emit(c, &ev);
}

/* The channel an OPEN_CONFIRMATION / OPEN_FAILURE answers. */
static int
opening(lsh_conn *c, chan_state *st, uint8_t type, uint32_t id, chan **out)
{
    chan *ch = find(st, id);
    if (ch == NULL || ch->st != CH_OPENING) {
        return violation(c, "%s for channel %u, which is not opening",
                         msg_name(type), id);
    }
    *out = ch;
    return 0;
}

static int
on_open_confirmation(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    uint32_t id, sender, window, maxpkt;
    chan *ch;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_OPEN_RESULT};

    if (lsh_rd_u32(rd, &id) != 0 || lsh_rd_u32(rd, &sender) != 0 ||
        lsh_rd_u32(rd, &window) != 0 || lsh_rd_u32(rd, &maxpkt) != 0) {
        return malformed(c, type);
    }
    if ((r = opening(c, st, type, id, &ch)) != 0 ||
        (r = check_max_packet(c, type, &maxpkt)) != 0) {
        return r;
    }
    ch->st = CH_OPEN;
    ch->peer = sender;
    ch->rwin = window;
    ch->rmaxpkt = maxpkt;
    if (ch->close_asked && (r = send_close(c, st, ch)) != 0) {
        return r;
    }
    set_name(st, ch->type, strlen(ch->type));
    ev.chan = ch->self;
    ev.name = st->name;
    ev.extra = lsh_rd_cur(rd);
    ev.extra_len = lsh_rd_remaining(rd);
    return emit(c, &ev);
}

static void
copy_text(char *dst, size_t room, const uint8_t *p, size_t n)
{
    if (n >= room) {
        n = room - 1;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = p[i] < 0x20 && p[i] != '\t' ? '?' : (char)p[i];
    }
    dst[n] = '\0';
}

static int
on_open_failure(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    uint32_t id, reason;
    const uint8_t *desc, *lang;
    size_t dl, ll;
    chan *ch;
    int r;
    char text[LSH_CONN_TEXT];
    lsh_event ev = {.type = LSH_EV_CHAN_OPEN_RESULT};

    if (lsh_rd_u32(rd, &id) != 0 || lsh_rd_u32(rd, &reason) != 0 ||
        lsh_rd_string(rd, &desc, &dl) != 0) {
        return malformed(c, type);
    }
    /* The language tag is required, but some old peers leave it out. */
    if (lsh_rd_remaining(rd) > 0 &&
        (lsh_rd_string(rd, &lang, &ll) != 0 || lsh_rd_end(rd) != 0)) {
        return malformed(c, type);
    }
    if ((r = opening(c, st, type, id, &ch)) != 0) {
        return r;
    }
    set_name(st, ch->type, strlen(ch->type));
    chan_free(st, ch);
    ev.chan = id;
    ev.code = LSH_EREFUSED;
    ev.num = reason;
    ev.name = st->name;
    copy_text(text, sizeof(text), desc, dl);
    return lsh__conn_emit(c, &ev, text, strlen(text));
}

/* RFC 4254 §5.2 */
static int
on_window_adjust(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    uint32_t add, sum;
    chan *ch;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_WRITABLE};

    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if (lsh_rd_u32(rd, &add) != 0 || lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (lsh_add_overflow(ch->rwin, add, &sum)) {
        return violation(c, "window adjust of %u on channel %u takes its "
                            "window past 2^32-1", add, ch->self);
    }
    ch->rwin = sum;
    if (!ch->blocked || add == 0 || ch->sent_eof || ch->sent_close) {
        return 0;
    }
    ch->blocked = 0;
    ev.chan = ch->self;
    return emit(c, &ev);
}

static int
on_data(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    uint32_t ext = 0;
    const uint8_t *data;
    size_t len;
    chan *ch;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_DATA};

    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if ((type == LSH_MSG_CHANNEL_EXTENDED_DATA &&
         lsh_rd_u32(rd, &ext) != 0) ||
        lsh_rd_string(rd, &data, &len) != 0 || lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (ch->got_eof) {
        return violation(c, "data on channel %u after its EOF", ch->self);
    }
    if (len > ch->lmaxpkt) {
        return violation(c, "%zu bytes of data on channel %u exceed its "
                            "maximum packet size %u", len, ch->self,
                         ch->lmaxpkt);
    }
    if (len > ch->lwin) {
        return violation(c, "%zu bytes of data on channel %u exceed its "
                            "window (%u bytes left)", len, ch->self,
                         ch->lwin);
    }
    ch->lwin -= (uint32_t)len;
    if (ch->sent_close || len == 0) {
        return 0; /* dropped: nothing will read it */
    }
    ch->unconsumed += (uint32_t)len;
    ev.chan = ch->self;
    ev.num = ext;
    ev.data = data;
    ev.len = len;
    return emit(c, &ev);
}

/* RFC 4254 §5.3 */
static int
on_eof(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    chan *ch;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_EOF};
    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (ch->got_eof) {
        return 0; /* a repeated EOF changes nothing */
    }
    ch->got_eof = 1;
    if (ch->sent_close) {
        return 0;
    }
    ev.chan = ch->self;
    return emit(c, &ev);
}

static int
on_close(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    chan *ch;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_CLOSE};
    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (!ch->sent_close && (r = send_close(c, st, ch)) != 0) {
        return r;
    }
    ev.chan = ch->self;
    chan_free(st, ch);
    return emit(c, &ev);
}

/* RFC 4254 §5.4 */
static int
on_chan_request(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    const uint8_t *name;
    size_t nl;
    int want, r;
    uint32_t id = 0;
    chan *ch;
    lsh_event ev = {.type = LSH_EV_CHAN_REQUEST};

    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if (lsh_rd_string(rd, &name, &nl) != 0 || lsh_rd_bool(rd, &want) != 0) {
        return malformed(c, type);
    }
    if (ch->sent_close) {
        return 0; /* no reply may follow our CLOSE */
    }
    if (!name_ok(name, nl) || name_is(name, nl, KEEPALIVE)) {
        if (!want) {
            return 0;
        }
        if ((r = in_push(c, ch, RS_FAIL, &id)) != 0) {
            return r;
        }
        return in_flush(c, st, ch);
    }
    if (want && (r = in_push(c, ch, RS_WAIT, &id)) != 0) {
        return r;
    }
    set_name(st, name, nl);
    ev.chan = ch->self;
    ev.name = st->name;
    ev.num = (uint32_t)want;
    ev.id = id;
    ev.extra = lsh_rd_cur(rd);
    ev.extra_len = lsh_rd_remaining(rd);
    return emit(c, &ev);
}

static int
on_chan_reply(lsh_conn *c, chan_state *st, uint8_t type, lsh_rd *rd)
{
    int ok = type == LSH_MSG_CHANNEL_SUCCESS;
    chan *ch;
    char **slot;
    uint32_t id;
    int r;
    lsh_event ev = {.type = LSH_EV_CHAN_REQUEST_RESULT};

    if ((r = addressed(c, st, type, rd, &ch)) != 0) {
        return r;
    }
    if (lsh_rd_end(rd) != 0) {
        return malformed(c, type);
    }
    if (ch->out_first == ch->out_next) {
        return violation(c, "%s on channel %u with no request waiting for "
                            "a reply", msg_name(type), ch->self);
    }
    id = ch->out_first++;
    slot = &ch->out_name[RING(id, LSH_CHAN_OUTSTANDING_MAX)];
    set_name(st, *slot, strlen(*slot));
    free(*slot);
    *slot = NULL;
    if (ch->out_first == ch->out_next) {
        free(ch->out_name);
        ch->out_name = NULL;
    }
    if (ch->sent_close) {
        return 0;
    }
    ev.chan = ch->self;
    ev.name = st->name;
    ev.num = (uint32_t)ok;
    ev.code = ok || strcmp(st->name, KEEPALIVE) == 0 ? 0 : LSH_EREFUSED;
    ev.id = id;
    return emit(c, &ev);
}

/* Indexed by message number - 80; NULL: not ours (LSH_EV_MESSAGE). */
static const msg_fn handlers[] = {
    on_global_request,    /* 80 GLOBAL_REQUEST */
    on_global_reply,      /* 81 REQUEST_SUCCESS */
    on_global_reply,      /* 82 REQUEST_FAILURE */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    on_open,              /* 90 CHANNEL_OPEN */
    on_open_confirmation, /* 91 */
    on_open_failure,      /* 92 */
    on_window_adjust,     /* 93 */
    on_data,              /* 94 CHANNEL_DATA */
    on_data,              /* 95 CHANNEL_EXTENDED_DATA */
    on_eof,               /* 96 */
    on_close,             /* 97 */
    on_chan_request,      /* 98 */
    on_chan_reply,        /* 99 CHANNEL_SUCCESS */
    on_chan_reply,        /* 100 CHANNEL_FAILURE */
};

int
lsh__chan_on_message(lsh_conn *c, const uint8_t *p, size_t n)
{
    msg_fn fn = NULL;
    chan_state *st;
    lsh_rd rd;

    if (p[0] >= 80 && p[0] - 80u < sizeof(handlers) / sizeof(handlers[0])) {
        fn = handlers[p[0] - 80];
    }
    if (fn == NULL) {
        lsh_event ev = {.type = LSH_EV_MESSAGE, .data = p, .len = n};
        return lsh__conn_emit(c, &ev, NULL, 0);
    }
    if ((st = state(c)) == NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    /* A WRITABLE that found the event queue full gets another chance. */
    lsh__chan_on_drain(c);
    lsh_rd_init(&rd, p + 1, n - 1);
    return fn(c, st, p[0], &rd);
}

void
lsh__chan_on_drain(lsh_conn *c)
{
    chan_state *st = c->chans;
    lsh_event ev = {.type = LSH_EV_CHAN_WRITABLE, .chan = LSH_CHAN_ALL};
    if (st == NULL || !st->backlogged || c->closed ||
        backlog(c) > st->lim.send_buffer / 2 || !lsh_conn_can_send(c)) {
        return;
    }
    if (lsh__conn_event(c, &ev, NULL) == 0) {
        st->backlogged = 0;
    }
}

/* The API: opening */

int
lsh_chan_set_limits(lsh_conn *c, const lsh_chan_limits *l)
{
    chan_state *st = state(c);
    if (st == NULL) {
        return LSH_ENOMEM;
    }
    if (l->max_channels != 0) {
        st->lim.max_channels = l->max_channels < MAX_CHANNELS_CAP
                                   ? l->max_channels
                                   : MAX_CHANNELS_CAP;
    }
    if (l->max_sessions != 0) {
        st->lim.max_sessions = l->max_sessions;
    }
    if (l->send_buffer != 0) {
        st->lim.send_buffer = l->send_buffer;
    }
    return 0;
}

static int
window_args(uint32_t *window, uint32_t *maxpkt)
{
    if (*window == 0) {
        *window = LSH_CHAN_DEFAULT_WINDOW;
    }
    if (*maxpkt == 0) {
        *maxpkt = LSH_CHAN_DEFAULT_PACKET;
    }
    if (*maxpkt < LSH_CHAN_MIN_PACKET) {
        return LSH_EINVAL;
    }
    if (*maxpkt > LSH_CHAN_MAX_PACKET) {
        *maxpkt = LSH_CHAN_MAX_PACKET;
    }
    return 0;
}

static void
set_receive_window(chan *ch, uint32_t window, uint32_t maxpkt)
{
    ch->lwin = ch->lwin_max = window;
    ch->lmaxpkt = maxpkt;
}

int
lsh_chan_open(lsh_conn *c, const char *type, const uint8_t *type_data,
              size_t n, uint32_t window, uint32_t max_packet,
              uint32_t *chan_out)
{
    chan_state *st;
    chan *ch;
    int r;

    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (!c->authenticated) {
        return LSH_ESTATE; /* RFC 4252 §6 / P-1: not before auth */
    }
    if (!cname_ok(type) || (n > 0 && type_data == NULL) ||
        window_args(&window, &max_packet) != 0) {
        return LSH_EINVAL;
    }
    if ((st = state(c)) == NULL) {
        return LSH_ENOMEM;
    }
    if ((r = chan_new(st, &ch)) != 0) {
        return r;
    }
    if ((ch->type = strdup(type)) == NULL) {
        chan_free(st, ch);
        return LSH_ENOMEM;
    }
    ch->st = CH_OPENING;
    set_receive_window(ch, window, max_packet);
    lsh_buf_reset(&st->msg);
    if ((r = lsh_buf_put_u8(&st->msg, LSH_MSG_CHANNEL_OPEN)) != 0 ||
        (r = lsh_buf_put_cstring(&st->msg, type)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, ch->self)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, window)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, max_packet)) != 0 ||
        (n > 0 && (r = lsh_buf_put(&st->msg, type_data, n)) != 0) ||
        (r = msg_send(c, st)) != 0) {
        chan_free(st, ch);
        return r;
    }
    *chan_out = ch->self;
    return 0;
}

static chan *
pending(lsh_conn *c, uint32_t id)
{
    chan *ch = find(c->chans, id);
    return ch != NULL && ch->st == CH_PENDING ? ch : NULL;
}

int
lsh_chan_accept(lsh_conn *c, uint32_t id, uint32_t window,
                uint32_t max_packet)
{
    chan_state *st = c->chans;
    chan *ch;
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if ((ch = pending(c, id)) == NULL) {
        return LSH_ENOTFOUND;
    }
    if (window_args(&window, &max_packet) != 0) {
        return LSH_EINVAL;
    }
    if ((r = msg_chan(st, LSH_MSG_CHANNEL_OPEN_CONFIRMATION, ch->peer)) !=
            0 ||
        (r = lsh_buf_put_u32(&st->msg, ch->self)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, window)) != 0 ||
        (r = lsh_buf_put_u32(&st->msg, max_packet)) != 0 ||
        (r = msg_send(c, st)) != 0) {
        return r;
    }
    ch->st = CH_OPEN;
    set_receive_window(ch, window, max_packet);
    return 0;
}

int
lsh_chan_reject(lsh_conn *c, uint32_t id, uint32_t reason, const char *text)
{
    chan_state *st = c->chans;
    chan *ch;
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if ((ch = pending(c, id)) == NULL) {
        return LSH_ENOTFOUND;
    }
    if ((r = build_open_failure(st, ch->peer, reason, text)) != 0 ||
        (r = msg_send(c, st)) != 0) {
        return r;
    }
    chan_free(st, ch);
    return 0;
}

/* The API: data and flow control */

/* An open channel we may still send on. */
static int
sendable(lsh_conn *c, uint32_t id, chan **out)
{
    chan *ch = find(c->chans, id);
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (ch == NULL || ch->st == CH_PENDING) {
        return LSH_ENOTFOUND;
    }
    if (ch->st != CH_OPEN || ch->sent_close) {
        return LSH_ESTATE;
    }
    *out = ch;
    return 0;
}

static size_t
backlog_room(const lsh_conn *c)
{
    size_t b = backlog(c);
    if (!lsh_conn_can_send(c) || b >= c->chans->lim.send_buffer) {
        return 0;
    }
    return c->chans->lim.send_buffer - b;
}

int
lsh_chan_write(lsh_conn *c, uint32_t id, uint32_t ext_type,
               const uint8_t *p, size_t n)
{
    chan_state *st = c->chans;
    uint8_t hdr[13];
    size_t hn, done = 0;
    chan *ch;
    int r;

    if ((r = sendable(c, id, &ch)) != 0) {
        return r;
    }
    if (ch->sent_eof) {
        return LSH_ESTATE;
    }
    if (n > (size_t)INT32_MAX) {
        n = (size_t)INT32_MAX;
    }
    while (done < n) {
        size_t chunk = n - done;
        if (ch->rwin == 0) {
            ch->blocked = 1;
            break;
        }
        if (backlog_room(c) == 0) {
            st->backlogged = 1;
            break;
        }
        if (chunk > ch->rwin) {
            chunk = ch->rwin;
        }
        if (chunk > ch->rmaxpkt) {
            chunk = ch->rmaxpkt;
        }
        /* RFC 4254 §5.2: byte type, uint32 recipient, [uint32
         * data_type_code,] string data.  The header is built here and
         * the data goes to the transport as it is, copied once into the
         * connection's output (lsh__conn_send2), not first behind the
         * header in st->msg. */
        hn = 0;
        hdr[hn++] = ext_type ? LSH_MSG_CHANNEL_EXTENDED_DATA
                             : LSH_MSG_CHANNEL_DATA;
        lsh_poke_u32(hdr + hn, ch->peer);
        hn += 4;
        if (ext_type) {
            lsh_poke_u32(hdr + hn, ext_type);
            hn += 4;
        }
        lsh_poke_u32(hdr + hn, (uint32_t)chunk);
        hn += 4;
        r = lsh__conn_send2(c, hdr, hn, p + done, chunk);
        if (r == LSH_EAGAIN) {
            st->backlogged = 1;
            break;
        }
        if (r != 0) {
            return done > 0 ? (int)done : r;
        }
        ch->rwin -= (uint32_t)chunk;
        done += chunk;
    }
    return (int)done;
}

size_t
lsh_chan_window_out(const lsh_conn *c, uint32_t id)
{
    chan *ch = find(c->chans, id);
    size_t room;
    if (c->closed || ch == NULL || ch->st != CH_OPEN || ch->sent_eof ||
        ch->sent_close) {
        return 0;
    }
    room = backlog_room(c);
    return ch->rwin < room ? ch->rwin : room;
}

/* RFC 4254 §5.2: the window the peer has granted and we have not used. */
uint32_t
lsh_chan_peer_window(const lsh_conn *c, uint32_t id)
{
    chan *ch = find(c->chans, id);
    if (c->closed || ch == NULL || ch->st != CH_OPEN || ch->sent_eof ||
        ch->sent_close) {
        return 0;
    }
    return ch->rwin;
}

int
lsh_chan_notify_adjust(lsh_conn *c, uint32_t id)
{
    chan *ch;
    int r;
    if ((r = sendable(c, id, &ch)) != 0) {
        return r;
    }
    /* As a write the window cut short: on_window_adjust raises WRITABLE. */
    ch->blocked = 1;
    return 0;
}

int
lsh_chan_send_eof(lsh_conn *c, uint32_t id)
{
    chan_state *st = c->chans;
    chan *ch;
    int r;
    if ((r = sendable(c, id, &ch)) != 0) {
        return r;
    }
    if (ch->sent_eof) {
        return LSH_ESTATE;
    }
    if ((r = send_owed(c, st, msg_chan(st, LSH_MSG_CHANNEL_EOF, ch->peer))) ==
        0) {
        ch->sent_eof = 1;
    }
    return r;
}

int
lsh_chan_close(lsh_conn *c, uint32_t id)
{
    chan_state *st = c->chans;
    chan *ch = find(st, id);
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (ch == NULL) {
        return LSH_ENOTFOUND;
    }
    if (ch->st == CH_PENDING) {
        return LSH_ESTATE;
    }
    if (ch->sent_close || ch->close_asked) {
        return 0;
    }
    if (ch->st == CH_OPENING) {
        ch->close_asked = 1; /* sent once the peer confirms */
        return 0;
    }
    return send_close(c, st, ch);
}

int
lsh_chan_consumed(lsh_conn *c, uint32_t id, size_t n)
{
    chan_state *st = c->chans;
    chan *ch = find(st, id);
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (ch == NULL || ch->st != CH_OPEN) {
        return LSH_ENOTFOUND;
    }
    if (n > ch->unconsumed) {
        return LSH_EINVAL;
    }
    ch->unconsumed -= (uint32_t)n;
    ch->to_adjust += (uint32_t)n;
    /* No point growing a window the peer will not use again. */
    if (ch->got_eof || ch->sent_close || ch->to_adjust == 0 ||
        ch->to_adjust < ch->lwin_max / 2) {
        return 0;
    }
    r = msg_chan(st, LSH_MSG_CHANNEL_WINDOW_ADJUST, ch->peer);
    if (r == 0) {
        r = lsh_buf_put_u32(&st->msg, ch->to_adjust);
    }
    if ((r = send_owed(c, st, r)) != 0) {
        return r;
    }
    ch->lwin += ch->to_adjust;
    ch->to_adjust = 0;
    return 0;
}

/* The API: requests */

static void
note_sent_request(chan_state *st, const char *name)
{
    if (strcmp(name, "x11-req") == 0) {
        st->sent_x11_req = 1;
    } else if (strcmp(name, "auth-agent-req@openssh.com") == 0) {
        st->sent_agent_req = 1;
    } else if (strcmp(name, "tcpip-forward") == 0) {
        st->sent_tcpip_forward = 1;
    } else if (strcmp(name, "streamlocal-forward@openssh.com") == 0) {
        st->sent_streamlocal_forward = 1;
    }
}

int
lsh_chan_request(lsh_conn *c, uint32_t id, const char *type, int want_reply,
                 const uint8_t *data, size_t n)
{
    chan_state *st = c->chans;
    chan *ch;
    char *copy = NULL;
    int r;
    if ((r = sendable(c, id, &ch)) != 0) {
        return r;
    }
    if (!cname_ok(type) || (n > 0 && data == NULL)) {
        return LSH_EINVAL;
    }
    if (want_reply) {
        if (ch->out_next - ch->out_first >= LSH_CHAN_OUTSTANDING_MAX) {
            return LSH_EAGAIN;
        }
        if (ch->out_name == NULL &&
            (ch->out_name = calloc(LSH_CHAN_OUTSTANDING_MAX,
                                   sizeof(*ch->out_name))) == NULL) {
            return LSH_ENOMEM;
        }
        if ((copy = strdup(type)) == NULL) {
            return LSH_ENOMEM; /* the empty ring goes with the channel */
        }
    }
    if ((r = msg_chan(st, LSH_MSG_CHANNEL_REQUEST, ch->peer)) != 0 ||
        (r = lsh_buf_put_cstring(&st->msg, type)) != 0 ||
        (r = lsh_buf_put_bool(&st->msg, want_reply)) != 0 ||
        (n > 0 && (r = lsh_buf_put(&st->msg, data, n)) != 0) ||
        (r = msg_send(c, st)) != 0) {
        free(copy);
        return r;
    }
    note_sent_request(st, type);
    if (want_reply) {
        ch->out_name[RING(ch->out_next, LSH_CHAN_OUTSTANDING_MAX)] = copy;
        ch->out_next++;
    }
    return 0;
}

static int
answer_slot(lsh_conn *c, chan_state *st, chan *ch, uint32_t id, int ok)
{
    ch->in_state[RING(id, LSH_CHAN_PENDING_MAX)] = ok ? RS_OK : RS_FAIL;
    return in_flush(c, st, ch);
}

static int
replyable(lsh_conn *c, uint32_t id, chan **out)
{
    chan *ch = find(c->chans, id);
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (ch == NULL || ch->st != CH_OPEN) {
        return LSH_ENOTFOUND;
    }
    *out = ch;
    return 0;
}

int
lsh_chan_request_reply(lsh_conn *c, uint32_t chan_id, int ok)
{
    chan *ch;
    int r;
    if ((r = replyable(c, chan_id, &ch)) != 0) {
        return r;
    }
    if (ch->sent_close) {
        return 0;
    }
    for (uint32_t i = ch->in_first; i != ch->in_next; i++) {
        if (ch->in_state[RING(i, LSH_CHAN_PENDING_MAX)] == RS_WAIT) {
            return answer_slot(c, c->chans, ch, i, ok);
        }
    }
    return LSH_ENOTFOUND;
}

int
lsh_chan_request_reply_id(lsh_conn *c, uint32_t chan_id, uint32_t id,
                          int ok)
{
    chan *ch;
    int r;
    if ((r = replyable(c, chan_id, &ch)) != 0) {
        return r;
    }
    if (ch->sent_close) {
        return 0;
    }
    if (id - ch->in_first >= ch->in_next - ch->in_first ||
        ch->in_state[RING(id, LSH_CHAN_PENDING_MAX)] != RS_WAIT) {
        return LSH_ENOTFOUND;
    }
    return answer_slot(c, c->chans, ch, id, ok);
}

int
lsh_global_request(lsh_conn *c, const char *name, int want_reply,
                   const uint8_t *data, size_t n)
{
    chan_state *st;
    char *copy = NULL;
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (!c->authenticated) {
        return LSH_ESTATE;
    }
    if (!cname_ok(name) || (n > 0 && data == NULL)) {
        return LSH_EINVAL;
    }
    if ((st = state(c)) == NULL) {
        return LSH_ENOMEM;
    }
    if (want_reply) {
        if (st->gout_next - st->gout_first >= LSH_GLOBAL_OUTSTANDING_MAX) {
            return LSH_EAGAIN;
        }
        if (st->gout == NULL &&
            (st->gout = calloc(LSH_GLOBAL_OUTSTANDING_MAX,
                               sizeof(*st->gout))) == NULL) {
            return LSH_ENOMEM;
        }
        if ((copy = strdup(name)) == NULL) {
            return LSH_ENOMEM;
        }
    }
    lsh_buf_reset(&st->msg);
    if ((r = lsh_buf_put_u8(&st->msg, LSH_MSG_GLOBAL_REQUEST)) != 0 ||
        (r = lsh_buf_put_cstring(&st->msg, name)) != 0 ||
        (r = lsh_buf_put_bool(&st->msg, want_reply)) != 0 ||
        (n > 0 && (r = lsh_buf_put(&st->msg, data, n)) != 0) ||
        (r = msg_send(c, st)) != 0) {
        free(copy);
        if (st->gout_first == st->gout_next) {
            free(st->gout); /* allocated above for nothing */
            st->gout = NULL;
        }
        return r;
    }
    note_sent_request(st, name);
    if (want_reply) {
        st->gout[RING(st->gout_next, LSH_GLOBAL_OUTSTANDING_MAX)] = copy;
        st->gout_next++;
        if (strcmp(name, KEEPALIVE) == 0) {
            st->keepalives++;
        }
    }
    return 0;
}

static int
global_answer(lsh_conn *c, chan_state *st, uint32_t id, int ok,
              const uint8_t *data, size_t n)
{
    greply *g = &st->gin[RING(id, LSH_GLOBAL_PENDING_MAX)];
    if (id == st->gin_first) {
        /* The head goes out at once, straight from the caller's bytes. */
        int r = gin_send(c, st, ok, data, n);
        g->state = RS_WAIT;
        st->gin_first++;
        if (r != 0) {
            gin_trim(st);
            return r;
        }
        return gin_flush(c, st);
    }
    if (ok && n > 0) {
        if ((g->data = malloc(n)) == NULL) {
            return LSH_ENOMEM;
        }
        memcpy(g->data, data, n);
        g->len = n;
    }
    g->state = ok ? RS_OK : RS_FAIL;
    return 0;
}

static int
global_replyable(lsh_conn *c, const uint8_t *data, size_t n)
{
    int r;
    if ((r = api_state(c)) != 0) {
        return r;
    }
    if (c->chans == NULL) {
        return LSH_ENOTFOUND;
    }
    if (n > LSH_GLOBAL_REPLY_DATA_MAX || (n > 0 && data == NULL)) {
        return LSH_EINVAL;
    }
    return 0;
}

int
lsh_global_request_reply(lsh_conn *c, int ok, const uint8_t *data,
                         size_t n)
{
    chan_state *st = c->chans;
    int r;
    if ((r = global_replyable(c, data, n)) != 0) {
        return r;
    }
    for (uint32_t i = st->gin_first; i != st->gin_next; i++) {
        if (st->gin[RING(i, LSH_GLOBAL_PENDING_MAX)].state == RS_WAIT) {
            return global_answer(c, st, i, ok, data, n);
        }
    }
    return LSH_ENOTFOUND;
}

int
lsh_global_request_reply_id(lsh_conn *c, uint32_t id, int ok,
                            const uint8_t *data, size_t n)
{
    chan_state *st = c->chans;
    int r;
    if ((r = global_replyable(c, data, n)) != 0) {
        return r;
    }
    if (id - st->gin_first >= st->gin_next - st->gin_first ||
        st->gin[RING(id, LSH_GLOBAL_PENDING_MAX)].state != RS_WAIT) {
        return LSH_ENOTFOUND;
    }
    return global_answer(c, st, id, ok, data, n);
}

int
lsh_conn_keepalive(lsh_conn *c)
{
    return lsh_global_request(c, KEEPALIVE, 1, NULL, 0);
}

unsigned
lsh_conn_keepalive_pending(const lsh_conn *c)
{
    return c->chans ? c->chans->keepalives : 0;
}

int
lsh_conn_no_more_sessions(lsh_conn *c)
{
    if (c->role != LSH_ROLE_CLIENT) {
        return LSH_EINVAL;
    }
    return lsh_global_request(c, NO_MORE_SESSIONS, 0, NULL, 0);
}

uint32_t
lsh_chan_count(const lsh_conn *c)
{
    return c->chans ? c->chans->count : 0;
}
