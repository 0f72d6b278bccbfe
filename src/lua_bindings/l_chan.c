/*
 * SSHClientChannel: one channel of a client connection (l_client.h), the
 * C half of the process and session objects of lua/luassh/process.lua.
 *
 * IMPLEMENTATION NOTES
 *
 * Input.  Data and stderr land in one byte queue each.  Flow control is
 * the reader's (RFC 4254 §5.2): bytes are reported to the core with
 * lsh_chan_consumed only when Lua takes them, so a reader that stops
 * stops the peer after one window and memory stays bounded by the
 * window.  A stream in "collect" mode (run(), wait(), read() to EOF)
 * reports bytes as they arrive instead: the caller asked for everything.
 * `unacked[dt]` counts the queued bytes not yet reported.  A reader
 * waiting for a separator or an exact count that the window cannot hold
 * reports what is queued, so that a long line cannot stall the channel.
 *
 * A sink (ch->sink[dt]: l_sftp.c's SFTP client, or a local file set
 * by ch:_sink_file for a redirection) takes a stream as it arrives,
 * straight from the message, before anything is queued; the stream must
 * then be in collect mode, as the sink's bytes are never read.
 *
 * Output.  write() copies into `out` and pushes as much as the peer's
 * window and the connection's send buffer take; the rest goes out on
 * LSH_EV_CHAN_WRITABLE.  drain() waits for `out` to empty.  write_eof()
 * sends EOF once `out` is empty.
 *
 * Waiting.  One reader per data type (a second one gets a "busy" error);
 * every other condition (open result, request replies, exit status,
 * close, drain) is a wait queue, woken on any change, and the
 * continuation re-checks.  When the connection dies every waiter wakes
 * and raises the connection's error.
 */
#include "lua_bindings/l_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "lua_bindings/l_error.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"

/* Byte queues */

size_t
llsh_bytes_avail(const llsh_bytes *b)
{
    return b->len - b->head;
}

int
llsh_bytes_put(llsh_bytes *b, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (b->head > 0 && (b->head == b->len || b->len + n > b->cap)) {
        /* Slide the live bytes down before growing. */
        memmove(b->p, b->p + b->head, b->len - b->head);
        b->len -= b->head;
        b->head = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *np;
        while (cap < b->len + n) {
            cap *= 2;
        }
        if ((np = realloc(b->p, cap)) == NULL) {
            return LSH_ENOMEM;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void
llsh_bytes_take(llsh_bytes *b, size_t n)
{
    b->head += n;
    if (b->head >= b->len) {
        b->head = b->len = 0;
        /* An idle channel keeps no large buffer. */
        if (b->cap > 256 * 1024) {
            free(b->p);
            b->p = NULL;
            b->cap = 0;
        }
    }
}

void
llsh_bytes_free(llsh_bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* The channel object */

/* A redirection of a stream into a local file (or nowhere: fd -1). */
typedef struct fsink {
    int fd;
    int err; /* the first write's errno */
} fsink;

typedef struct chanud {
    llsh_chan ch;
    size_t unacked[2];
    fsink fs[2];
} chanud;

static chanud *
check_ud(lua_State *L, int idx)
{
    chanud *u = luaL_checkudata(L, idx, LLSH_CHAN_MT);
    if (u->ch.cl == NULL) {
        luaL_argerror(L, idx, "SSHClientChannel without a connection");
    }
    return u;
}

static llsh_chan *
check_chan(lua_State *L, int idx)
{
    return &check_ud(L, idx)->ch;
}

static int
conn_lost(const llsh_chan *ch)
{
    return ch->cl->state == LLSH_CL_CLOSED && ch->state != LLSH_CH_CLOSED &&
           ch->state != LLSH_CH_FAILED;
}

static int
raise_lost(lua_State *L, llsh_chan *ch)
{
    llsh_client_push_error(L, ch->cl);
    return lua_error(L);
}

static void
unlink_chan(llsh_chan *ch)
{
    llsh_client *cl = ch->cl;
    if (ch->linked && ch->id < cl->nchans && cl->chans[ch->id] == ch) {
        cl->chans[ch->id] = NULL;
    }
    ch->linked = 0;
}

static void
wake_readers(llsh_chan *ch)
{
    llsh_wake(&ch->rd_wait[0], 0);
    llsh_wake(&ch->rd_wait[1], 0);
}

static void
wake_everyone(llsh_chan *ch)
{
    wake_readers(ch);
    llsh_waitq_wake_all(&ch->req_q, 0);
    llsh_waitq_wake_all(&ch->drain_q, 0);
    llsh_waitq_wake_all(&ch->state_q, 0);
}

/* Reports n taken bytes of stream dt to the core (flow control). */
static void
ack(chanud *u, int dt, size_t n)
{
    llsh_chan *ch = &u->ch;
    lsh_conn *c = llsh_client_core(ch->cl);
    if (n > u->unacked[dt]) {
        n = u->unacked[dt];
    }
    if (n == 0) {
        return;
    }
    u->unacked[dt] -= n;
    if (c != NULL && ch->state == LLSH_CH_OPEN) {
        llsh_ignore(lsh_chan_consumed(c, ch->id, n));
    }
}

/* Output */

static size_t
pending_out(const llsh_chan *ch)
{
    return llsh_bytes_avail(&ch->out) + llsh_bytes_avail(&ch->out_err);
}

/*
 * Pushes pending output into the core, then EOF if asked and everything
 * went.  Callers outside an on_event callback flush afterwards.
 */
static void
push_out(llsh_chan *ch)
{
    lsh_conn *c = llsh_client_core(ch->cl);
    if (c == NULL || ch->state != LLSH_CH_OPEN || ch->close_sent) {
        return;
    }
    while (llsh_bytes_avail(&ch->out) > 0) {
        size_t n = llsh_bytes_avail(&ch->out);
        int r = lsh_chan_write(c, ch->id, 0, ch->out.p + ch->out.head, n);
        if (r < 0) {
            /* The channel is closing: nothing more can go. */
            llsh_bytes_take(&ch->out, n);
            break;
        }
        llsh_bytes_take(&ch->out, (size_t)r);
        if ((size_t)r < n) {
            break;
        }
    }
    while (llsh_bytes_avail(&ch->out) == 0 &&
           llsh_bytes_avail(&ch->out_err) > 0) {
        size_t n = llsh_bytes_avail(&ch->out_err);
        int r = lsh_chan_write(c, ch->id, LSH_EXTENDED_DATA_STDERR,
                               ch->out_err.p + ch->out_err.head, n);
        if (r < 0) {
            llsh_bytes_take(&ch->out_err, n);
            break;
        }
        llsh_bytes_take(&ch->out_err, (size_t)r);
        if ((size_t)r < n) {
            break;
        }
    }
    if (pending_out(ch) == 0) {
        if (ch->eof_wanted && !ch->eof_sent) {
            ch->eof_sent = 1;
            llsh_ignore(lsh_chan_send_eof(c, ch->id));
        }
        llsh_waitq_wake_all(&ch->drain_q, 0);
    }
}

void
llsh__chan_writable(llsh_chan *ch)
{
    push_out(ch);
}

void
llsh__chan_conn_lost(llsh_chan *ch)
{
    wake_everyone(ch);
}

/* Events */

static char *
span_dup(lsh_span s)
{
    char *d = malloc(s.n + 1);
    if (d != NULL) {
        memcpy(d, s.p, s.n);
        d[s.n] = '\0';
    }
    return d;
}

void
llsh__chan_free_reqs(llsh_chan *ch)
{
    while (ch->req_head != NULL) {
        llsh_ctl *e = ch->req_head;
        ch->req_head = e->next;
        llsh_ctl_free(e);
    }
    ch->req_tail = NULL;
}

/* A request on a channel the peer opened: queued for Lua in stream
 * order (ch:_next_request); a reader stops where it arrived. */
static void
queue_request(llsh_chan *ch, lsh_conn *c, const lsh_event *ev)
{
    llsh_ctl *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->name = strdup(ev->name)) == NULL ||
        (e->data = malloc(ev->extra_len + 1)) == NULL) {
        llsh_ctl_free(e);
        if (ev->num) {
            llsh_ignore(lsh_chan_request_reply_id(c, ch->id, ev->id, 0));
        }
        return;
    }
    if (ev->extra_len > 0) {
        memcpy(e->data, ev->extra, ev->extra_len);
    }
    e->len = ev->extra_len;
    e->num = ev->num;
    e->id = ev->id;
    e->at = ch->in_total;
    if (ch->req_tail != NULL) {
        ch->req_tail->next = e;
    } else {
        ch->req_head = e;
    }
    ch->req_tail = e;
    llsh_wake(&ch->rd_wait[0], 0);
    llsh_waitq_wake_all(&ch->req_q, 0);
}

static void
on_request(llsh_chan *ch, lsh_conn *c, const lsh_event *ev)
{
    if (ch->incoming) {
        queue_request(ch, c, ev);
        return;
    }
    if (strcmp(ev->name, "exit-status") == 0) {
        uint32_t st;
        if (lsh_chan_parse_exit_status(ev->extra, ev->extra_len, &st) == 0) {
            ch->has_exit_status = 1;
            ch->exit_status = st;
        }
    } else if (strcmp(ev->name, "exit-signal") == 0) {
        lsh_exit_signal es;
        if (lsh_chan_parse_exit_signal(ev->extra, ev->extra_len, &es) == 0 &&
            ch->exit_signal == NULL) {
            ch->exit_signal = span_dup(es.signal);
            ch->exit_message = span_dup(es.message);
            ch->exit_lang = span_dup(es.lang);
            ch->core_dumped = es.core_dumped;
        }
    }
    if (ev->num) {
        llsh_ignore(lsh_chan_request_reply_id(c, ch->id, ev->id, 0));
    }
    llsh_waitq_wake_all(&ch->state_q, 0);
}

/*
 * Queues received bytes of stream dt, or offers them to the stream's
 * sink first: straight from the message when nothing is queued before
 * them, else after what is.
 */
static int
to_sink(llsh_chan *ch, int dt, const uint8_t *p, size_t n)
{
    llsh_bytes *in = &ch->in[dt];
    size_t used;
    if (ch->sink[dt] == NULL) {
        return llsh_bytes_put(in, p, n);
    }
    if (llsh_bytes_avail(in) == 0) {
        used = ch->sink[dt](ch->sink_ctx[dt], p, n);
        return llsh_bytes_put(in, p + used, n - used);
    }
    if (llsh_bytes_put(in, p, n) != 0) {
        return LSH_ENOMEM;
    }
    llsh_bytes_take(in, ch->sink[dt](ch->sink_ctx[dt], in->p + in->head,
                                     llsh_bytes_avail(in)));
    return 0;
}

static void
on_data(llsh_client *cl, llsh_chan *ch, const lsh_event *ev)
{
    chanud *u = (chanud *)ch;
    lsh_conn *c = lsh_io_conn_core(cl->ioc);
    int dt = ev->num == 0 ? 0 : ev->num == LSH_EXTENDED_DATA_STDERR ? 1 : -1;
    if (dt < 0) {
        llsh_ignore(lsh_chan_consumed(c, ch->id, ev->len));
        return;
    }
    if (to_sink(ch, dt, ev->data, ev->len) != 0) {
        lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION,
                            "out of memory");
        return;
    }
    if (dt == 0) {
        ch->in_total += ev->len;
    }
    if (ch->collect[dt]) {
        llsh_ignore(lsh_chan_consumed(c, ch->id, ev->len));
    } else {
        u->unacked[dt] += ev->len;
    }
    llsh_wake(&ch->rd_wait[dt], 0);
}

void
llsh__chan_event(llsh_client *cl, llsh_chan *ch, const lsh_event *ev)
{
    lsh_conn *c = lsh_io_conn_core(cl->ioc);
    switch (ev->type) {
    case LSH_EV_CHAN_OPEN_RESULT:
        if (ev->code == 0) {
            ch->state = LLSH_CH_OPEN;
            push_out(ch);
        } else {
            ch->state = LLSH_CH_FAILED;
            ch->open_reason = ev->num;
            free(ch->open_text);
            ch->open_text = ev->text ? strdup(ev->text) : NULL;
            unlink_chan(ch); /* the number is free again */
        }
        wake_everyone(ch);
        break;
    case LSH_EV_CHAN_DATA:
        on_data(cl, ch, ev);
        break;
    case LSH_EV_CHAN_EOF:
        ch->eof_received = 1;
        wake_readers(ch);
        llsh_waitq_wake_all(&ch->state_q, 0);
        break;
    case LSH_EV_CHAN_CLOSE:
        ch->state = LLSH_CH_CLOSED;
        ch->eof_received = 1;
        llsh_bytes_free(&ch->out);
        llsh_bytes_free(&ch->out_err);
        unlink_chan(ch);
        wake_everyone(ch);
        break;
    case LSH_EV_CHAN_REQUEST:
        on_request(ch, c, ev);
        break;
    case LSH_EV_CHAN_REQUEST_RESULT:
        if (ev->id < 64 + ch->req_replied) {
            uint64_t bit = (uint64_t)1 << (ev->id % 64);
            ch->req_ok_bits = ev->code == 0 ? ch->req_ok_bits | bit
                                            : ch->req_ok_bits & ~bit;
        }
        ch->req_replied = ev->id + 1;
        llsh_waitq_wake_all(&ch->state_q, 0);
        break;
    case LSH_EV_CHAN_WRITABLE:
        push_out(ch);
        break;
    default:
        break;
    }
}

/* Opening */

static int
link_chan(llsh_client *cl, llsh_chan *ch)
{
    if (ch->id >= cl->nchans) {
        size_t n = cl->nchans ? cl->nchans : 16;
        llsh_chan **p;
        while (n <= ch->id) {
            n *= 2;
        }
        if ((p = realloc(cl->chans, n * sizeof(*p))) == NULL) {
            return LSH_ENOMEM;
        }
        memset(p + cl->nchans, 0, (n - cl->nchans) * sizeof(*p));
        cl->chans = p;
        cl->nchans = n;
    }
    cl->chans[ch->id] = ch;
    ch->linked = 1;
    return 0;
}

/*
 * conn:_open_channel(type [, data [, window [, max_pktsize]]])
 *   -> SSHClientChannel (opening: ch:_wait_open() waits for the answer)
 */
int
llsh__chan_open(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *type = luaL_checkstring(L, 2);
    size_t dlen = 0;
    const char *data = luaL_optlstring(L, 3, NULL, &dlen);
    lua_Integer window = luaL_optinteger(L, 4, cl->window);
    lua_Integer maxpkt = luaL_optinteger(L, 5, cl->max_packet);
    lsh_conn *c = llsh_client_core(cl);
    chanud *u;
    uint32_t id;
    int r;

    if (window < 0 || window > UINT32_MAX || maxpkt < 0 ||
        maxpkt > UINT32_MAX) {
        return luaL_argerror(L, 4, "window and max_pktsize must be in "
                                   "0..2^32-1");
    }
    if (c == NULL) {
        llsh_client_push_error(L, cl);
        return lua_error(L);
    }
    u = lua_newuserdatauv(L, sizeof(*u), 2);
    memset(u, 0, sizeof(*u));
    luaL_setmetatable(L, LLSH_CHAN_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* keeps the connection alive */
    lua_newtable(L);
    lua_setiuservalue(L, -2, 2);
    r = lsh_chan_open(c, type, (const uint8_t *)data, dlen,
                      (uint32_t)window, (uint32_t)maxpkt, &id);
    if (r != 0) {
        llsh_client_flush(cl);
        if (r == LSH_EAGAIN) {
            return llsh_error_raise(L, "ChannelOpenError", r,
                                    "cannot open a %s channel on %s port "
                                    "%d: too many channels", type, cl->host,
                                    cl->port);
        }
        if (r == LSH_ESTATE && !cl->auth_done) {
            return luaL_error(L, "the connection is not authenticated yet");
        }
        if (cl->state == LLSH_CL_CLOSED || r != LSH_EINVAL) {
            llsh_client_push_error(L, cl);
            return lua_error(L);
        }
        return luaL_argerror(L, 2, lsh_strerror(r));
    }
    u->ch.id = id;
    u->ch.state = LLSH_CH_OPENING;
    snprintf(u->ch.type, sizeof(u->ch.type), "%s", type);
    u->ch.cl = cl;
    cl->refs++;
    if (link_chan(cl, &u->ch) != 0) {
        llsh_ignore(lsh_chan_close(c, id));
        llsh_client_flush(cl);
        return luaL_error(L, "out of memory");
    }
    llsh_client_flush(cl);
    return 1;
}

/*
 * conn:_accept_channel(chan, type [, window [, max_pktsize]])
 *   -> SSHClientChannel, open: a channel the peer asked for (server).
 */
int
llsh__chan_accept(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    const char *type = luaL_checkstring(L, 3);
    lua_Integer window = luaL_optinteger(L, 4, cl->window);
    lua_Integer maxpkt = luaL_optinteger(L, 5, cl->max_packet);
    lsh_conn *c = llsh_client_core(cl);
    chanud *u;
    int r;

    if (id < 0 || id > UINT32_MAX || window < 0 || window > UINT32_MAX ||
        maxpkt < 0 || maxpkt > UINT32_MAX) {
        return luaL_argerror(L, 2, "channel, window and max_pktsize must "
                                   "be in 0..2^32-1");
    }
    if (c == NULL) {
        llsh_client_push_error(L, cl);
        return lua_error(L);
    }
    u = lua_newuserdatauv(L, sizeof(*u), 2);
    memset(u, 0, sizeof(*u));
    luaL_setmetatable(L, LLSH_CHAN_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 2);
    u->ch.id = (uint32_t)id;
    u->ch.state = LLSH_CH_OPEN;
    u->ch.incoming = 1;
    snprintf(u->ch.type, sizeof(u->ch.type), "%s", type);
    u->ch.cl = cl;
    cl->refs++;
    if (link_chan(cl, &u->ch) != 0) {
        llsh_ignore(lsh_chan_reject(c, (uint32_t)id,
                                    LSH_OPEN_RESOURCE_SHORTAGE,
                                    "out of memory"));
        u->ch.state = LLSH_CH_FAILED;
        llsh_client_flush(cl);
        return luaL_error(L, "out of memory");
    }
    r = lsh_chan_accept(c, (uint32_t)id, (uint32_t)window, (uint32_t)maxpkt);
    llsh_client_flush(cl);
    if (r != 0) {
        u->ch.state = LLSH_CH_FAILED;
        unlink_chan(&u->ch);
        if (cl->state == LLSH_CL_CLOSED) {
            llsh_client_push_error(L, cl);
            return lua_error(L);
        }
        return luaL_error(L, "cannot accept channel %d: %s", (int)id,
                          lsh_strerror(r));
    }
    return 1;
}

static int
open_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_chan *ch;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    ch = check_chan(L, 1);
    if (ch->state == LLSH_CH_OPEN || ch->state == LLSH_CH_CLOSED) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (ch->state == LLSH_CH_FAILED) {
        llsh_error_push(L, "ChannelOpenError", LSH_EREFUSED,
                        "%s port %d refused to open a %s channel: %s",
                        ch->cl->host, ch->cl->port, ch->type,
                        ch->open_text && ch->open_text[0] ? ch->open_text
                                                          : "no reason given");
        lua_pushinteger(L, ch->open_reason);
        lua_setfield(L, -2, "code");
        lua_pushnil(L);
        lua_setfield(L, -2, "code_name");
        lua_pushstring(L, ch->open_text ? ch->open_text : "");
        lua_setfield(L, -2, "server_text");
        return lua_error(L);
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    llsh_waitq_wait(L, &ch->state_q);
    return lua_yieldk(L, 0, ctx, open_k);
}

/* ch:_wait_open() -> true, or raises ChannelOpenError (`code` and
 * `server_text`: the peer's reason and description, RFC 4254 §5.1) */
static int
ch_wait_open(lua_State *L)
{
    check_chan(L, 1);
    return open_k(L, LUA_OK, 0);
}

/* Reading */

static int
check_dt(lua_State *L, int idx)
{
    lua_Integer dt = luaL_optinteger(L, idx, 0);
    if (dt != 0 && dt != 1) {
        luaL_argerror(L, idx, "datatype must be 0 (stdout) or 1 (stderr)");
    }
    return (int)dt;
}

/* No more input will come: EOF, or a close (ours drops what follows). */
static int
input_done(const llsh_chan *ch)
{
    return ch->eof_received || ch->close_sent ||
           ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED;
}

/* [-0, +1] Takes n bytes of stream dt as a string. */
static void
take_push(lua_State *L, chanud *u, int dt, size_t n)
{
    llsh_bytes *b = &u->ch.in[dt];
    if (n == 0) {
        lua_pushliteral(L, "");
        return;
    }
    lua_pushlstring(L, (const char *)b->p + b->head, n);
    llsh_bytes_take(b, n);
    if (dt == 0) {
        u->ch.in_taken += n;
    }
    ack(u, dt, n);
    llsh_client_flush(u->ch.cl);
}

/* Registers the read waiter of dt or raises "busy". */
static void
wait_read(lua_State *L, llsh_chan *ch, int dt)
{
    if (ch->rd_wait[dt].task != NULL) {
        luaL_error(L, "another task is already reading this channel's %s",
                   dt ? "stderr" : "stdout");
    }
    llsh_wait(L, &ch->rd_wait[dt]);
}

/* The window cannot fill while a reader needs more than it holds. */
static void
unblock_window(chanud *u, int dt)
{
    uint32_t win = u->ch.cl->window ? u->ch.cl->window
                                    : LSH_CHAN_DEFAULT_WINDOW;
    if (u->unacked[dt] >= win / 2) {
        ack(u, dt, u->unacked[dt]);
        llsh_client_flush(u->ch.cl);
    }
}

static void
set_collect(chanud *u, int dt, int on)
{
    u->ch.collect[dt] = on;
    if (on) {
        ack(u, dt, u->unacked[dt]);
        llsh_client_flush(u->ch.cl);
    }
}

static int
read_k(lua_State *L, int status, lua_KContext ctx)
{
    chanud *u;
    llsh_chan *ch;
    lua_Integer n;
    int dt;
    size_t avail;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 3);
    u = check_ud(L, 1);
    ch = &u->ch;
    n = luaL_optinteger(L, 2, -1);
    dt = check_dt(L, 3);
    avail = llsh_bytes_avail(&ch->in[dt]);
    if (dt == 0 && ch->req_head != NULL && n >= 0) {
        /* A request (signal, break, window change) waits at this point
         * of the stream: the data before it, then nil. */
        uint64_t before = ch->req_head->at > ch->in_taken
                              ? ch->req_head->at - ch->in_taken
                              : 0;
        if (before == 0) {
            lua_pushnil(L);
            return 1;
        }
        if (avail > before) {
            avail = (size_t)before;
        }
    }
    if (n < 0) {
        /* Everything up to EOF. */
        if (input_done(ch)) {
            take_push(L, u, dt, avail);
            return 1;
        }
        set_collect(u, dt, 1);
    } else if (avail > 0 || n == 0) {
        take_push(L, u, dt, avail < (size_t)n ? avail : (size_t)n);
        return 1;
    } else if (input_done(ch)) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (conn_lost(ch)) {
        if (avail > 0) {
            take_push(L, u, dt, avail);
            return 1;
        }
        return raise_lost(L, ch);
    }
    wait_read(L, ch, dt);
    return lua_yieldk(L, 0, ctx, read_k);
}

/*
 * ch:read([n [, datatype]]) -> string: up to n bytes as soon as some are
 * there; n nil or negative reads to EOF; "" at EOF.
 */
static int
ch_read(lua_State *L)
{
    check_chan(L, 1);
    return read_k(L, LUA_OK, 0);
}

static int
raise_incomplete(lua_State *L, chanud *u, int dt, size_t avail,
                 const char *what)
{
    llsh_bytes *b = &u->ch.in[dt];
    llsh_error_push(L, "IncompleteReadError", 0,
                    "end of file before %s (%d bytes read)", what,
                    (int)avail);
    lua_pushlstring(L, avail ? (const char *)b->p + b->head : "", avail);
    lua_setfield(L, -2, "partial");
    llsh_bytes_take(b, avail);
    ack(u, dt, avail);
    llsh_client_flush(u->ch.cl);
    return lua_error(L);
}

static int
readexactly_k(lua_State *L, int status, lua_KContext ctx)
{
    chanud *u;
    llsh_chan *ch;
    lua_Integer n;
    int dt;
    size_t avail;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 3);
    u = check_ud(L, 1);
    ch = &u->ch;
    n = luaL_checkinteger(L, 2);
    dt = check_dt(L, 3);
    if (n < 0) {
        return luaL_argerror(L, 2, "must not be negative");
    }
    avail = llsh_bytes_avail(&ch->in[dt]);
    if (avail >= (size_t)n) {
        take_push(L, u, dt, (size_t)n);
        return 1;
    }
    if (input_done(ch)) {
        return raise_incomplete(L, u, dt, avail, "the bytes asked for");
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    unblock_window(u, dt);
    wait_read(L, ch, dt);
    return lua_yieldk(L, 0, ctx, readexactly_k);
}

/* ch:readexactly(n [, datatype]) -> n bytes, or IncompleteReadError */
static int
ch_readexactly(lua_State *L)
{
    check_chan(L, 1);
    return readexactly_k(L, LUA_OK, 0);
}

static int
readuntil_k(lua_State *L, int status, lua_KContext ctx)
{
    chanud *u;
    llsh_chan *ch;
    size_t seplen, avail, from = (size_t)ctx;
    const char *sep;
    int dt, eof_ok;
    llsh_bytes *b;
    const uint8_t *hit;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 4);
    u = check_ud(L, 1);
    ch = &u->ch;
    sep = luaL_checklstring(L, 2, &seplen);
    dt = check_dt(L, 3);
    eof_ok = lua_toboolean(L, 4);
    if (seplen == 0) {
        return luaL_argerror(L, 2, "empty separator");
    }
    b = &ch->in[dt];
    avail = llsh_bytes_avail(b);
    /* Search only what is new since the last look (less the part of a
     * separator that may straddle). */
    from = from + 1 > seplen ? from + 1 - seplen : 0;
    if (from > avail) {
        from = 0;
    }
    hit = avail >= seplen ? memmem(b->p + b->head + from, avail - from, sep,
                                   seplen)
                          : NULL;
    if (hit != NULL) {
        take_push(L, u, dt, (size_t)(hit - (b->p + b->head)) + seplen);
        return 1;
    }
    if (input_done(ch)) {
        if (eof_ok) {
            take_push(L, u, dt, avail);
            return 1;
        }
        return raise_incomplete(L, u, dt, avail, "the separator");
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    unblock_window(u, dt);
    wait_read(L, ch, dt);
    return lua_yieldk(L, 0, (lua_KContext)avail, readuntil_k);
}

/*
 * ch:readuntil(sep [, datatype [, eof_ok]]) -> data ending with sep.  At
 * EOF: with eof_ok what is left ("" when nothing), else
 * IncompleteReadError with `partial`.
 */
static int
ch_readuntil(lua_State *L)
{
    check_chan(L, 1);
    return readuntil_k(L, LUA_OK, 0);
}

/* ch:at_eof([datatype]) */
static int
ch_at_eof(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    int dt = check_dt(L, 2);
    lua_pushboolean(L, llsh_bytes_avail(&ch->in[dt]) == 0 && input_done(ch));
    return 1;
}

/* Redirections straight into a file */

static size_t
fsink_write(void *ctx, const uint8_t *p, size_t n)
{
    fsink *f = ctx;
    size_t off = 0;
    while (f->fd >= 0 && f->err == 0 && off < n) {
        ssize_t w = write(f->fd, p + off, n - off);
        if (w < 0) {
            if (errno != EINTR) {
                f->err = errno;
            }
            continue;
        }
        off += (size_t)w;
    }
    return n; /* after an error the rest is dropped: _sink_close says so */
}

/*
 * ch:_sink_file(datatype [, path]) -> true | nil, message.  From now on
 * the stream goes into the file at path (created or truncated, as
 * io.open(path, "wb") does), written from C as each message arrives, or
 * nowhere (no path): it is never read, so ch:read waits for the EOF.
 * What was queued before goes first.  End with ch:_sink_close.
 */
static int
ch_sink_file(lua_State *L)
{
    chanud *u = check_ud(L, 1);
    int dt = check_dt(L, 2);
    const char *path = luaL_optstring(L, 3, NULL);
    llsh_chan *ch = &u->ch;
    fsink *f = &u->fs[dt];
    llsh_bytes *in = &ch->in[dt];
    int fd = -1;

    if (ch->sink[dt] != NULL) {
        return luaL_error(L, "the stream already has a sink");
    }
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s: %s", path, strerror(errno));
            return 2;
        }
    }
    f->fd = fd;
    f->err = 0;
    (void)fsink_write(f, in->p + in->head, llsh_bytes_avail(in));
    llsh_bytes_take(in, llsh_bytes_avail(in));
    ch->sink[dt] = fsink_write;
    ch->sink_ctx[dt] = f;
    set_collect(u, dt, 1);
    lua_pushboolean(L, 1);
    return 1;
}

/* ch:_sink_close(datatype) -> true | nil, message (a write's or close's
 * error).  The stream is queued again from then on. */
static int
ch_sink_close(lua_State *L)
{
    chanud *u = check_ud(L, 1);
    int dt = check_dt(L, 2);
    fsink *f = &u->fs[dt];
    int err;

    if (u->ch.sink[dt] != fsink_write) {
        return luaL_error(L, "the stream has no file sink");
    }
    u->ch.sink[dt] = NULL;
    u->ch.sink_ctx[dt] = NULL;
    err = f->err;
    if (f->fd >= 0 && close(f->fd) != 0 && err == 0) {
        err = errno;
    }
    f->fd = -1;
    if (err != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(err));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ch:_set_collect(datatype, on) */
static int
ch_set_collect(lua_State *L)
{
    chanud *u = check_ud(L, 1);
    set_collect(u, check_dt(L, 2), lua_toboolean(L, 3));
    return 0;
}

/* ch:_buffered([datatype]) -> bytes waiting to be read */
static int
ch_buffered(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    lua_pushinteger(L, (lua_Integer)llsh_bytes_avail(&ch->in[check_dt(L, 2)]));
    return 1;
}

/* Writing */

static int
raise_broken(lua_State *L, llsh_chan *ch)
{
    return llsh_error_raise(L, "BrokenPipe", LSH_ECLOSED,
                            "the %s channel to %s port %d is closed",
                            ch->type, ch->cl->host, ch->cl->port);
}

/* ch:write(data): queued (copied); drain() waits until it has gone. */
static int
ch_write(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    int dt = check_dt(L, 3);
    if (ch->eof_wanted) {
        return luaL_error(L, "attempt to write after write_eof");
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    if (ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED ||
        ch->close_sent) {
        return raise_broken(L, ch);
    }
    if (llsh_bytes_put(dt ? &ch->out_err : &ch->out, (const uint8_t *)p,
                       n) != 0) {
        return luaL_error(L, "out of memory");
    }
    push_out(ch);
    llsh_client_flush(ch->cl);
    return 0;
}

static int
drain_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_chan *ch;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    ch = check_chan(L, 1);
    if (pending_out(ch) == 0) {
        return 0;
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    if (ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED ||
        ch->close_sent) {
        return raise_broken(L, ch);
    }
    llsh_waitq_wait(L, &ch->drain_q);
    return lua_yieldk(L, 0, ctx, drain_k);
}

/* ch:drain(): waits until the written data is in the peer's window. */
static int
ch_drain(lua_State *L)
{
    check_chan(L, 1);
    return drain_k(L, LUA_OK, 0);
}

/* ch:write_eof(): EOF once the written data has gone. */
static int
ch_write_eof(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    if (ch->eof_wanted || ch->state == LLSH_CH_CLOSED ||
        ch->state == LLSH_CH_FAILED || ch->close_sent) {
        return 0;
    }
    ch->eof_wanted = 1;
    push_out(ch);
    llsh_client_flush(ch->cl);
    return 0;
}

/* ch:get_write_buffer_size() */
static int
ch_write_buffer_size(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    lua_pushinteger(L, (lua_Integer)pending_out(ch));
    return 1;
}

/* Requests */

/* ch:_request(type, want_reply [, data]) -> reply id | nil */
static int
ch_request(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    const char *type = luaL_checkstring(L, 2);
    int want = lua_toboolean(L, 3);
    size_t n = 0;
    const char *data = luaL_optlstring(L, 4, "", &n);
    lsh_conn *c = llsh_client_core(ch->cl);
    int r;
    if (c == NULL) {
        return raise_lost(L, ch);
    }
    if (ch->state != LLSH_CH_OPEN || ch->close_sent) {
        return raise_broken(L, ch);
    }
    r = lsh_chan_request(c, ch->id, type, want, (const uint8_t *)data, n);
    llsh_client_flush(ch->cl);
    if (r != 0) {
        if (ch->cl->state == LLSH_CL_CLOSED) {
            return raise_lost(L, ch);
        }
        return luaL_error(L, "cannot send the %s request: %s", type,
                          lsh_strerror(r));
    }
    if (!want) {
        return 0;
    }
    lua_pushinteger(L, ch->req_sent++);
    return 1;
}

static int
request_result_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_chan *ch;
    lua_Integer id;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 2);
    ch = check_chan(L, 1);
    id = luaL_checkinteger(L, 2);
    if (id < 0 || id >= (lua_Integer)ch->req_sent) {
        return luaL_argerror(L, 2, "no such request");
    }
    if ((uint32_t)id < ch->req_replied) {
        lua_pushboolean(L, (ch->req_ok_bits >> (id % 64)) & 1);
        return 1;
    }
    if (conn_lost(ch)) {
        return raise_lost(L, ch);
    }
    if (ch->state != LLSH_CH_OPEN) {
        lua_pushboolean(L, 0); /* closed: no reply will come */
        return 1;
    }
    llsh_waitq_wait(L, &ch->state_q);
    return lua_yieldk(L, 0, ctx, request_result_k);
}

/* ch:_request_result(id) -> true (success) | false (failure or closed) */
static int
ch_request_result(lua_State *L)
{
    check_chan(L, 1);
    return request_result_k(L, LUA_OK, 0);
}

/* Request data encoders (session.h): clientcore.encode_*(...) -> bytes */

int
llsh__push_buf(lua_State *L, lsh_buf *b, int r, const char *what)
{
    if (r != 0) {
        lsh_buf_free(b);
        return luaL_error(L, "cannot encode %s: %s", what, lsh_strerror(r));
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(b), lsh_buf_len(b));
    lsh_buf_free(b);
    return 1;
}

static uint32_t
check_u32(lua_State *L, int idx)
{
    lua_Integer v = luaL_optinteger(L, idx, 0);
    if (v < 0 || v > UINT32_MAX) {
        luaL_argerror(L, idx, "must be in 0..2^32-1");
    }
    return (uint32_t)v;
}

/* encode_pty(term, cols, rows, width_px, height_px, {[opcode]=value}) */
static int
l_encode_pty(lua_State *L)
{
    lsh_buf b, modes;
    lsh_pty_req req;
    lsh_tty_mode m[255];
    size_t n = 0;
    int r;

    memset(&req, 0, sizeof(req));
    req.term = lsh_span_str(luaL_checkstring(L, 1));
    req.cols = check_u32(L, 2);
    req.rows = check_u32(L, 3);
    req.width_px = check_u32(L, 4);
    req.height_px = check_u32(L, 5);
    if (lua_istable(L, 6)) {
        lua_pushnil(L);
        while (lua_next(L, 6) != 0 && n < 255) {
            lua_Integer op, v = luaL_checkinteger(L, -1);
            if (lua_type(L, -2) == LUA_TSTRING) {
                op = lsh_tty_mode_lookup(lua_tostring(L, -2));
            } else {
                op = luaL_checkinteger(L, -2);
            }
            if (op < 1 || op > 159 || v < 0 || v > UINT32_MAX) {
                return luaL_argerror(L, 6, "bad terminal mode");
            }
            m[n].opcode = (uint8_t)op;
            m[n].value = (uint32_t)v;
            n++;
            lua_pop(L, 1);
        }
    }
    lsh_buf_init(&modes, LSH_TTY_MODES_MAX_BYTES);
    if ((r = lsh_tty_modes_encode(&modes, m, n)) != 0) {
        lsh_buf_free(&modes);
        return luaL_error(L, "cannot encode terminal modes: %s",
                          lsh_strerror(r));
    }
    req.modes.p = lsh_buf_ptr(&modes);
    req.modes.n = lsh_buf_len(&modes);
    lsh_buf_init(&b, 64 * 1024);
    r = lsh_chan_pty_req_data(&b, &req);
    lsh_buf_free(&modes);
    return llsh__push_buf(L, &b, r, "a pty request");
}

/* encode_env(name, value) */
static int
l_encode_env(lua_State *L)
{
    lsh_buf b;
    lsh_env_req e;
    size_t nl, vl;
    const char *name = luaL_checklstring(L, 1, &nl);
    const char *value = luaL_checklstring(L, 2, &vl);
    e.name.p = (const uint8_t *)name;
    e.name.n = nl;
    e.value.p = (const uint8_t *)value;
    e.value.n = vl;
    lsh_buf_init(&b, 128 * 1024);
    return llsh__push_buf(L, &b, lsh_chan_env_data(&b, &e), "an env request");
}

/* encode_string(s): exec, subsystem, signal */
static int
l_encode_string(lua_State *L)
{
    lsh_buf b;
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lsh_span sp = {(const uint8_t *)s, n};
    lsh_buf_init(&b, n + 64);
    return llsh__push_buf(L, &b, lsh_chan_exec_data(&b, sp), "a request");
}

/* encode_signal(name) */
static int
l_encode_signal(lua_State *L)
{
    lsh_buf b;
    lsh_buf_init(&b, 256);
    return llsh__push_buf(L, &b,
                    lsh_chan_signal_data(&b, lsh_span_str(
                                                 luaL_checkstring(L, 1))),
                    "a signal request");
}

/* encode_window_change(cols, rows, width_px, height_px) */
static int
l_encode_window_change(lua_State *L)
{
    lsh_buf b;
    lsh_window_change w;
    w.cols = check_u32(L, 1);
    w.rows = check_u32(L, 2);
    w.width_px = check_u32(L, 3);
    w.height_px = check_u32(L, 4);
    lsh_buf_init(&b, 64);
    return llsh__push_buf(L, &b, lsh_chan_window_change_data(&b, &w),
                    "a window-change request");
}

/* encode_break(ms) */
static int
l_encode_break(lua_State *L)
{
    lsh_buf b;
    lsh_buf_init(&b, 16);
    return llsh__push_buf(L, &b, lsh_chan_break_data(&b, check_u32(L, 1)),
                    "a break request");
}

/* Requests from the peer (channels it opened) */

/* [-0, +1] The head request as {name, want_reply, id, data}. */
static void
push_request(lua_State *L, llsh_chan *ch)
{
    llsh_ctl *e = ch->req_head;
    ch->req_head = e->next;
    if (ch->req_head == NULL) {
        ch->req_tail = NULL;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, e->name);
    lua_setfield(L, -2, "name");
    lua_pushboolean(L, e->num != 0);
    lua_setfield(L, -2, "want_reply");
    lua_pushinteger(L, e->id);
    lua_setfield(L, -2, "id");
    lua_pushlstring(L, (const char *)e->data, e->len);
    lua_setfield(L, -2, "data");
    llsh_ctl_free(e);
}

static int
next_request_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_chan *ch;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 2);
    ch = check_chan(L, 1);
    if (ch->req_head != NULL &&
        (ctx == 1 || ch->req_head->at <= ch->in_taken)) {
        push_request(L, ch);
        return 1;
    }
    if (!lua_toboolean(L, 2) || ch->state != LLSH_CH_OPEN ||
        ch->close_sent || ch->cl->state == LLSH_CL_CLOSED) {
        return 0;
    }
    llsh_waitq_wait(L, &ch->req_q);
    return lua_yieldk(L, 0, ctx, next_request_k);
}

/*
 * ch:_next_request([wait [, any]]) -> request table | nil.  Without
 * `any`, only a request the reader has reached (no unread data before
 * it); with `wait`, waits for one until the channel closes.
 */
static int
ch_next_request(lua_State *L)
{
    check_chan(L, 1);
    return next_request_k(L, LUA_OK, lua_toboolean(L, 3) ? 1 : 0);
}

/* ch:_reply(id, ok) */
static int
ch_reply(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    lsh_conn *c = llsh_client_core(ch->cl);
    if (c != NULL && id >= 0 && id <= UINT32_MAX) {
        llsh_ignore(lsh_chan_request_reply_id(c, ch->id, (uint32_t)id,
                                              lua_toboolean(L, 3)));
        llsh_client_flush(ch->cl);
    }
    return 0;
}

/* Exit and close */

/* ch:get_exit_status() -> status | nil */
static int
ch_exit_status(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    if (!ch->has_exit_status) {
        lua_pushnil(L);
    } else {
        lua_pushinteger(L, ch->exit_status);
    }
    return 1;
}

/* ch:get_exit_signal() -> signal, core_dumped, message, lang | nil */
static int
ch_exit_signal(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    if (ch->exit_signal == NULL) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, ch->exit_signal);
    lua_pushboolean(L, ch->core_dumped);
    lua_pushstring(L, ch->exit_message ? ch->exit_message : "");
    lua_pushstring(L, ch->exit_lang ? ch->exit_lang : "");
    return 4;
}

/* ch:_state() -> "opening" | "open" | "failed" | "closed", conn lost? */
static int
ch_state(lua_State *L)
{
    static const char *const names[] = {"opening", "open", "failed",
                                        "closed"};
    llsh_chan *ch = check_chan(L, 1);
    lua_pushstring(L, names[ch->state]);
    lua_pushboolean(L, conn_lost(ch));
    return 2;
}

/* ch:_conn_error() -> the connection's error object | nil */
static int
ch_conn_error(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    if (!conn_lost(ch)) {
        lua_pushnil(L);
        return 1;
    }
    llsh_client_push_error(L, ch->cl);
    return 1;
}

static void
close_chan(llsh_chan *ch)
{
    lsh_conn *c = llsh_client_core(ch->cl);
    llsh_bytes_free(&ch->out);
    llsh_bytes_free(&ch->out_err);
    if (ch->close_sent || !ch->linked) {
        return;
    }
    ch->close_sent = 1;
    if (c != NULL &&
        (ch->state == LLSH_CH_OPEN || ch->state == LLSH_CH_OPENING)) {
        llsh_ignore(lsh_chan_close(c, ch->id));
        llsh_client_flush(ch->cl);
    }
    wake_everyone(ch);
}

/* ch:close(): CLOSE now; unsent output is dropped. */
static int
ch_close(lua_State *L)
{
    close_chan(check_chan(L, 1));
    return 0;
}

/* ch:is_closing() */
static int
ch_is_closing(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    lua_pushboolean(L, ch->close_sent || ch->state == LLSH_CH_CLOSED ||
                           ch->state == LLSH_CH_FAILED || conn_lost(ch));
    return 1;
}

static int
wait_closed_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_chan *ch;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    ch = check_chan(L, 1);
    if (ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED ||
        ch->cl->state == LLSH_CL_CLOSED) {
        return 0;
    }
    llsh_waitq_wait(L, &ch->state_q);
    return lua_yieldk(L, 0, ctx, wait_closed_k);
}

/* ch:wait_closed(): until both CLOSEs (or the connection's end). */
static int
ch_wait_closed(lua_State *L)
{
    check_chan(L, 1);
    return wait_closed_k(L, LUA_OK, 0);
}

static int
wait_change_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    return 0;
}

/* ch:_wait_change(): waits for the next change of state (any). */
static int
ch_wait_change(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    if (ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED ||
        ch->cl->state == LLSH_CL_CLOSED) {
        return 0;
    }
    lua_settop(L, 1);
    llsh_waitq_wait(L, &ch->state_q);
    return lua_yieldk(L, 0, 0, wait_change_k);
}

/* ch:get_extra_info(name [, default]) */
static int
ch_extra_info(lua_State *L)
{
    llsh_chan *ch = check_chan(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "local_channel") == 0 || strcmp(k, "id") == 0) {
        lua_pushinteger(L, ch->id);
        return 1;
    }
    if (strcmp(k, "type") == 0) {
        lua_pushstring(L, ch->type);
        return 1;
    }
    if (strcmp(k, "connection") == 0) {
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    lua_settop(L, 3);
    return 1;
}

static int
ch_gc(lua_State *L)
{
    chanud *u = luaL_checkudata(L, 1, LLSH_CHAN_MT);
    llsh_chan *ch = &u->ch;
    if (ch->cl == NULL) {
        return 0;
    }
    for (int dt = 0; dt < 2; dt++) {
        if (ch->sink[dt] == fsink_write && u->fs[dt].fd >= 0) {
            close(u->fs[dt].fd);
        }
        ch->sink[dt] = NULL;
    }
    /* Waiters belong to tasks that are gone too. */
    ch->rd_wait[0].task = ch->rd_wait[1].task = NULL;
    ch->drain_q.head = ch->state_q.head = ch->req_q.head = NULL;
    close_chan(ch);
    unlink_chan(ch);
    llsh_bytes_free(&ch->in[0]);
    llsh_bytes_free(&ch->in[1]);
    llsh_bytes_free(&ch->out);
    llsh_bytes_free(&ch->out_err);
    llsh__chan_free_reqs(ch);
    free(ch->open_text);
    free(ch->exit_signal);
    free(ch->exit_message);
    free(ch->exit_lang);
    llsh_client_unref(ch->cl);
    ch->cl = NULL;
    return 0;
}

static int
ch_tostring(lua_State *L)
{
    chanud *u = luaL_checkudata(L, 1, LLSH_CHAN_MT);
    if (u->ch.cl == NULL) {
        lua_pushliteral(L, "SSHClientChannel (freed)");
        return 1;
    }
    lua_pushfstring(L, "SSHClientChannel %d (%s) to %s port %d",
                    (int)u->ch.id, u->ch.type, u->ch.cl->host,
                    u->ch.cl->port);
    return 1;
}

static int
ch_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1)) {
        return 1;
    }
    lua_getiuservalue(L, 1, 2);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int
ch_newindex(lua_State *L)
{
    lua_getiuservalue(L, 1, 2);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

static const luaL_Reg chan_methods[] = {
    {"_wait_open", ch_wait_open},
    {"read", ch_read},
    {"readexactly", ch_readexactly},
    {"readuntil", ch_readuntil},
    {"at_eof", ch_at_eof},
    {"_set_collect", ch_set_collect},
    {"_sink_file", ch_sink_file},
    {"_sink_close", ch_sink_close},
    {"_buffered", ch_buffered},
    {"write", ch_write},
    {"drain", ch_drain},
    {"write_eof", ch_write_eof},
    {"get_write_buffer_size", ch_write_buffer_size},
    {"_request", ch_request},
    {"_request_result", ch_request_result},
    {"_next_request", ch_next_request},
    {"_reply", ch_reply},
    {"get_exit_status", ch_exit_status},
    {"get_exit_signal", ch_exit_signal},
    {"_state", ch_state},
    {"_conn_error", ch_conn_error},
    {"_wait_change", ch_wait_change},
    {"close", ch_close},
    {"is_closing", ch_is_closing},
    {"wait_closed", ch_wait_closed},
    {"get_extra_info", ch_extra_info},
    {NULL, NULL}};

static const luaL_Reg encoders[] = {
    {"encode_pty", l_encode_pty},
    {"encode_env", l_encode_env},
    {"encode_string", l_encode_string},
    {"encode_signal", l_encode_signal},
    {"encode_window_change", l_encode_window_change},
    {"encode_break", l_encode_break},
    {NULL, NULL}};

void
llsh__chan_register(lua_State *L, int module_idx)
{
    luaL_setfuncs(L, encoders, 0);
    if (luaL_newmetatable(L, LLSH_CHAN_MT)) {
        luaL_newlib(L, chan_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, module_idx, "chan_methods");
        lua_pushcclosure(L, ch_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ch_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, ch_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ch_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, ch_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, LLSH_CHAN_MT);
        lua_setfield(L, -2, "__name");
    } else {
        lua_getfield(L, -1, "__index");
        lua_getupvalue(L, -1, 1);
        lua_setfield(L, module_idx, "chan_methods");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
