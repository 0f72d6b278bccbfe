/*
 * luassh.sftpcore: the C half of lua/luassh/sftp.lua (doc/api/sftp.md).
 *
 * IMPLEMENTATION NOTES
 *
 * One SFTPClientCore wraps an lsh_sftp_client (src/ssh/sftp/client.c)
 * over the stdout stream of an "sftp" subsystem channel (l_chan.c).  The
 * channel is put in collect mode by sftp.lua, so received bytes are
 * acknowledged to the peer as they arrive; memory stays bounded because
 * the SFTP client never has more than its requests' worth of replies in
 * flight.  Output goes straight from the client's output buffer into the
 * channel (lsh_chan_write); what the channel cannot take yet (the peer's
 * window or the connection's send buffer is full) stays there, not
 * copied anywhere else, and the pump waits on the channel's drain_q
 * (woken by l_chan.c on every LSH_EV_CHAN_WRITABLE once its own queue
 * is empty) instead of on input until all of it has gone.
 *
 * Reading: the client is the channel's sink (l_chan.c): every
 * CHANNEL_DATA payload is fed to it as it is dispatched, straight from
 * the decrypted message, and only what it cannot take yet (a partial
 * packet) is queued in the channel.  Its callbacks run in C: a Lua
 * request's reply is copied into its ticket and its task woken; a GET's
 * DATA is written to the local file (pwrite) piece by piece as it
 * streams in (client.c, "Streamed DATA"), so file data is never copied
 * in user space; other transfer replies queue the next READ or WRITE.
 * Nothing enters Lua there.  A pump task (core:_pump(), started by
 * sftp.lua), woken by each arrival, feeds what was queued and sends the
 * requests the replies queued (and what waited for the window).  Local
 * file I/O is synchronous for now (regular files on local disks: page
 * cache writes); it could move to the thread pool later.
 *
 * Uploads keep no more in flight than the server needs: once the
 * session is up, the client gets a write window of a quarter to all of
 * the channel's window, adapted to the WRITEs' round trip (see
 * set_write_window and lsh_sftp_client_set_write_window).
 *
 * Tickets (one request waited on by one task) are userdata on the waiting
 * task's stack, registered with the client as callback context.  Every
 * way a ticket can die detaches it first: the reply (callback), the
 * task's interruption (the waiter's cancel hook forgets the request), a
 * raise before the wait (__gc forgets it).  Transfers likewise: the
 * cancel hook stops the transfer, __gc frees it.  Children keep the core
 * alive through a user value, and Lua finalises them before it (they
 * are created later), so the client outlives every callback context.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <lauxlib.h>
#include <lua.h>

#include "common/buf.h"
#include "common/error.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_sftp.h"
#include "lua_bindings/sched.h"
#include "ssh/connection/channel.h"
#include "ssh/sftp/client.h"
#include "uvio/loop.h"

#define SFTP_MT "luassh.SFTPClientCore"
#define TICKET_MT "luassh.SFTPRequest"
#define XFER_MT "luassh.SFTPTransfer"

int luaopen_luassh_sftpcore(lua_State *L);

typedef struct sftpud {
    lsh_sftp_client *c;  /* NULL after __gc */
    llsh_chan *ch;       /* kept alive by user value 1 */
    int ended;           /* the session is over: no more requests */
    uint64_t pushed;     /* bytes moved into the channel so far */
    char end_msg[200];
    llsh_waitq state_q;  /* VERSION received or the session ended */
} sftpud;

/* Status codes as numbers (draft-02 §7). */
enum {
    FX_EOF = LSH_SFTP_FX_EOF,
    FX_FAILURE = LSH_SFTP_FX_FAILURE,
    FX_BAD_MESSAGE = LSH_SFTP_FX_BAD_MESSAGE,
    FX_CONNECTION_LOST = LSH_SFTP_FX_CONNECTION_LOST,
    FX_OP_UNSUPPORTED = LSH_SFTP_FX_OP_UNSUPPORTED
};

static sftpud *
check_sftp(lua_State *L, int idx)
{
    sftpud *s = luaL_checkudata(L, idx, SFTP_MT);
    if (s->c == NULL) {
        luaL_argerror(L, idx, "SFTP client core is freed");
    }
    return s;
}

static void end_session(sftpud *s, int err, const char *why);

/* Output */

/*
 * Moves as much of the client's queued requests into the channel as it
 * takes now (into the connection's output: the socket write is the
 * caller's).  The rest stays in the client's output: the channel's own
 * queue is not used, as that would copy every byte once more.  Returns
 * 1 when everything went (or was dropped: the channel is gone).
 */
static int
push_channel(sftpud *s)
{
    llsh_chan *ch = s->ch;
    const uint8_t *p;
    size_t n;
    lsh_conn *core;
    int r;

    lsh_sftp_client_out(s->c, &p, &n);
    if (n == 0) {
        return 1;
    }
    core = llsh_client_core(ch->cl);
    if (core == NULL || ch->state != LLSH_CH_OPEN || ch->close_sent ||
        ch->eof_wanted) {
        lsh_sftp_client_out_ack(s->c, n); /* nowhere to go: the pump ends */
        return 1;
    }
    if (llsh_bytes_avail(&ch->out) > 0) {
        return 0; /* bytes someone else queued on the channel go first */
    }
    r = lsh_chan_write(core, ch->id, 0, p, n);
    if (r < 0) {
        lsh_sftp_client_out_ack(s->c, n);
        return 1;
    }
    lsh_sftp_client_out_ack(s->c, (size_t)r);
    s->pushed += (uint64_t)r;
    return (size_t)r == n;
}

/*
 * push_channel, then the socket write.  What is left goes when the
 * channel is writable again: the pump then waits on drain_q, so it is
 * woken here in case it waits for input.
 */
static void
flush_out(sftpud *s)
{
    if (!push_channel(s)) {
        llsh_wake(&s->ch->rd_wait[0], 0);
    }
    llsh_client_flush(s->ch->cl);
}

/*
 * The pump's writing: what waited for the channel, then what transfers
 * held back for it (xf_may_send), until the channel takes nothing more.
 * The last step is always an attempt that moved nothing, with no socket
 * write after it (a socket write can raise LSH_EV_CHAN_WRITABLE at once,
 * before the pump waits for it): when requests are left, that attempt
 * has set the core's blocked or backlogged flag, so the WRITABLE that
 * wakes drain_q is still to come.
 */
static void
pump_out(sftpud *s)
{
    for (;;) {
        uint64_t mark = s->pushed;
        if (push_channel(s)) {
            /* What the transfers queue now goes at once: a transfer's
             * last WRITE (its range ends, so it asks no xf_may_send
             * after it) would otherwise stay in the client's output
             * with nothing to wake the pump for it. */
            lsh_sftp_client_kick(s->c);
            (void)push_channel(s);
        }
        if (s->pushed == mark || s->ended) {
            return;
        }
        llsh_client_flush(s->ch->cl);
    }
}

/* 1 while requests wait for the channel (the pump waits on drain_q). */
static int
out_blocked(const sftpud *s)
{
    const uint8_t *p;
    size_t n;
    lsh_sftp_client_out(s->c, &p, &n);
    return n > 0 || llsh_bytes_avail(&s->ch->out) > 0;
}

/* Input: the pump */

static int
input_done(const llsh_chan *ch)
{
    return ch->eof_received || ch->close_sent ||
           ch->state == LLSH_CH_CLOSED || ch->state == LLSH_CH_FAILED ||
           ch->cl->state == LLSH_CL_CLOSED;
}

static void
end_session(sftpud *s, int err, const char *why)
{
    if (!s->ended) {
        s->ended = 1;
        snprintf(s->end_msg, sizeof(s->end_msg), "%s", why);
    }
    lsh_sftp_client_abort(s->c, err);
    llsh_waitq_wake_all(&s->state_q, 0);
}

/*
 * Feeds received bytes to the client; returns how many it took.  After a
 * protocol error (the session ends) or the session's end all are taken:
 * nothing after them can be used.  Also the channel's sink (set by the
 * pump): it then runs in the connection's event dispatch, so it only
 * queues requests, and the pump, woken by l_chan.c, sends them.
 */
static size_t
feed(void *ctx, const uint8_t *p, size_t n)
{
    sftpud *s = ctx;
    int before;
    size_t used = 0;
    int r;

    if (s->ended || s->c == NULL) {
        return n;
    }
    before = lsh_sftp_client_state(s->c);
    r = lsh_sftp_client_feed(s->c, p, n, &used);
    if (r != 0) {
        const char *detail;
        char msg[200];
        lsh_sftp_client_error(s->c, &detail);
        snprintf(msg, sizeof(msg), "SFTP protocol error: %s", detail);
        end_session(s, r, msg);
        used = n;
    }
    if (lsh_sftp_client_state(s->c) != before) {
        llsh_waitq_wake_all(&s->state_q, 0);
    }
    return used;
}

static void
detach_sink(sftpud *s)
{
    if (s->ch != NULL && s->ch->sink_ctx[0] == s) {
        s->ch->sink[0] = NULL;
        s->ch->sink_ctx[0] = NULL;
    }
}

/* Feeds what the channel holds; returns 1 when the session is over. */
static int
pump_once(sftpud *s)
{
    llsh_chan *ch = s->ch;
    llsh_bytes *in = &ch->in[0];
    size_t avail = llsh_bytes_avail(in);

    if (avail > 0) {
        int ended = s->ended;
        llsh_bytes_take(in, feed(s, in->p + in->head, avail));
        if (!ended) {
            flush_out(s);
        }
    }
    /* The server's stderr is not ours to show: drop it. */
    llsh_bytes_take(&ch->in[1], llsh_bytes_avail(&ch->in[1]));
    if (!s->ended && input_done(ch)) {
        /* Nothing more to come: a partial packet is a cut reply. */
        end_session(s, LSH_ECLOSED,
                    llsh_bytes_avail(in) < 4 + 1
                        ? "the SFTP session ended"
                        : "the SFTP session ended in the middle of a reply");
    }
    if (s->ended) {
        detach_sink(s);
        return 1;
    }
    return 0;
}

static int
pump_k(lua_State *L, int status, lua_KContext ctx)
{
    sftpud *s;
    (void)ctx;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    s = check_sftp(L, 1);
    if (pump_once(s)) {
        return 0;
    }
    pump_out(s);
    if (out_blocked(s)) {
        /* Requests wait for the window or the send buffer: the next
         * LSH_EV_CHAN_WRITABLE wakes drain_q (so does the channel's end).
         * Replies arriving meanwhile are kept in the channel (collect
         * mode) and read then. */
        llsh_waitq_wait(L, &s->ch->drain_q);
        return lua_yieldk(L, 0, 0, pump_k);
    }
    if (s->ch->rd_wait[0].task != NULL) {
        return luaL_error(L, "the SFTP channel already has a reader");
    }
    llsh_wait(L, &s->ch->rd_wait[0]);
    return lua_yieldk(L, 0, 0, pump_k);
}

/* core:_pump(): reads replies until the session ends (run in a task). */
static int
sc_pump(lua_State *L)
{
    sftpud *s = check_sftp(L, 1);
    s->ch->sink[0] = feed;
    s->ch->sink_ctx[0] = s;
    return pump_k(L, LUA_OK, 0);
}

/* core:_abort([reason]): ends the session; every pending request fails. */
static int
sc_abort(lua_State *L)
{
    sftpud *s = check_sftp(L, 1);
    end_session(s, LSH_ECLOSED, luaL_optstring(L, 2,
                                               "the SFTP session ended"));
    return 0;
}

/* Attributes (draft-02 §5) */

/* FILEXFER_TYPE_* numbers, as AsyncSSH uses them in every version. */
static int
type_of(const lsh_sftp_attrs *a)
{
    if (!(a->flags & LSH_SFTP_ATTR_PERMISSIONS)) {
        return 5;
    }
    switch (a->perms & S_IFMT) {
    case S_IFREG:
        return 1;
    case S_IFDIR:
        return 2;
    case S_IFLNK:
        return 3;
    case S_IFSOCK:
        return 6;
    case S_IFCHR:
        return 7;
    case S_IFBLK:
        return 8;
    case S_IFIFO:
        return 9;
    default:
        return 5;
    }
}

static void
setint(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* [-0, +1] an attrs table */
static void
push_attrs(lua_State *L, const lsh_sftp_attrs *a)
{
    lua_createtable(L, 0, 8);
    setint(L, "type", type_of(a));
    if (a->flags & LSH_SFTP_ATTR_SIZE) {
        setint(L, "size", (lua_Integer)a->size);
    }
    if (a->flags & LSH_SFTP_ATTR_UIDGID) {
        setint(L, "uid", a->uid);
        setint(L, "gid", a->gid);
    }
    if (a->flags & LSH_SFTP_ATTR_PERMISSIONS) {
        setint(L, "permissions", a->perms);
    }
    if (a->flags & LSH_SFTP_ATTR_ACMODTIME) {
        setint(L, "atime", a->atime);
        setint(L, "mtime", a->mtime);
    }
    if ((a->flags & LSH_SFTP_ATTR_EXTENDED) && a->ext_count > 0) {
        lsh_rd rd;
        lsh_rd_init(&rd, a->ext.p, a->ext.n);
        lua_createtable(L, 0, (int)a->ext_count);
        for (uint32_t i = 0; i < a->ext_count; i++) {
            const uint8_t *t, *d;
            size_t tl, dl;
            /* Checked by the decoder. */
            if (lsh_rd_string(&rd, &t, &tl) != 0 ||
                lsh_rd_string(&rd, &d, &dl) != 0) {
                break;
            }
            lua_pushlstring(L, (const char *)t, tl);
            lua_pushlstring(L, (const char *)d, dl);
            lua_rawset(L, -3);
        }
        lua_setfield(L, -2, "extended");
    }
}

static int
opt_u32_field(lua_State *L, int idx, const char *k, uint32_t *out)
{
    lua_Integer v;
    int isnum;
    lua_getfield(L, idx, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < 0 || v > UINT32_MAX) {
        luaL_error(L, "attrs.%s must be an integer in 0..2^32-1", k);
    }
    lua_pop(L, 1);
    *out = (uint32_t)v;
    return 1;
}

/* Reads an attrs table (or nil: no attributes). */
static void
check_attrs(lua_State *L, int idx, lsh_sftp_attrs *a)
{
    lua_Integer v;
    int isnum, hu, hg;
    memset(a, 0, sizeof(*a));
    if (lua_isnoneornil(L, idx)) {
        return;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "size");
    if (!lua_isnil(L, -1)) {
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum || v < 0) {
            luaL_error(L, "attrs.size must be a non-negative integer");
        }
        a->flags |= LSH_SFTP_ATTR_SIZE;
        a->size = (uint64_t)v;
    }
    lua_pop(L, 1);
    hu = opt_u32_field(L, idx, "uid", &a->uid);
    hg = opt_u32_field(L, idx, "gid", &a->gid);
    if (hu != hg) {
        luaL_error(L, "attrs.uid and attrs.gid go together in SFTP v3");
    }
    if (hu) {
        a->flags |= LSH_SFTP_ATTR_UIDGID;
    }
    if (opt_u32_field(L, idx, "permissions", &a->perms)) {
        a->flags |= LSH_SFTP_ATTR_PERMISSIONS;
    }
    hu = opt_u32_field(L, idx, "atime", &a->atime);
    hg = opt_u32_field(L, idx, "mtime", &a->mtime);
    if (hu != hg) {
        luaL_error(L, "attrs.atime and attrs.mtime go together in SFTP v3");
    }
    if (hu) {
        a->flags |= LSH_SFTP_ATTR_ACMODTIME;
    }
}

/* Requests */

typedef enum {
    A_NONE,
    A_P,    /* path */
    A_PP,   /* path, path2 */
    A_H,    /* handle */
    A_PA,   /* path, attrs */
    A_HA,   /* handle, attrs */
    A_OPEN, /* path, pflags, attrs */
    A_READ, /* handle, offset, len */
    A_WRITE, /* handle, offset, data */
    A_COPY, /* handle, offset, len64, handle2, offset2 */
    A_IDS   /* {uids}, {gids} */
} argkind;

static const struct {
    const char *name;
    uint8_t type;
    argkind args;
} ops[] = {
    {"open", LSH_SFTP_OPEN, A_OPEN},
    {"close", LSH_SFTP_CLOSE, A_H},
    {"read", LSH_SFTP_READ, A_READ},
    {"write", LSH_SFTP_WRITE, A_WRITE},
    {"lstat", LSH_SFTP_LSTAT, A_P},
    {"fstat", LSH_SFTP_FSTAT, A_H},
    {"setstat", LSH_SFTP_SETSTAT, A_PA},
    {"fsetstat", LSH_SFTP_FSETSTAT, A_HA},
    {"opendir", LSH_SFTP_OPENDIR, A_P},
    {"readdir", LSH_SFTP_READDIR, A_H},
    {"remove", LSH_SFTP_REMOVE, A_P},
    {"mkdir", LSH_SFTP_MKDIR, A_PA},
    {"rmdir", LSH_SFTP_RMDIR, A_P},
    {"realpath", LSH_SFTP_REALPATH, A_P},
    {"stat", LSH_SFTP_STAT, A_P},
    {"rename", LSH_SFTP_RENAME, A_PP},
    {"readlink", LSH_SFTP_READLINK, A_P},
    {"symlink", LSH_SFTP_SYMLINK, A_PP},
};

static argkind
ext_args(lsh_sftp_ext e)
{
    switch (e) {
    case LSH_SFTP_EXT_POSIX_RENAME:
    case LSH_SFTP_EXT_HARDLINK:
        return A_PP;
    case LSH_SFTP_EXT_STATVFS:
    case LSH_SFTP_EXT_EXPAND_PATH:
    case LSH_SFTP_EXT_HOME_DIRECTORY:
        return A_P;
    case LSH_SFTP_EXT_FSTATVFS:
    case LSH_SFTP_EXT_FSYNC:
        return A_H;
    case LSH_SFTP_EXT_LSETSTAT:
        return A_PA;
    case LSH_SFTP_EXT_COPY_DATA:
        return A_COPY;
    case LSH_SFTP_EXT_USERS_GROUPS:
        return A_IDS;
    default:
        return A_NONE;
    }
}

static lsh_sftp_str
check_str(lua_State *L, int idx)
{
    lsh_sftp_str s;
    s.p = (const uint8_t *)luaL_checklstring(L, idx, &s.n);
    return s;
}

static uint64_t
check_u64(lua_State *L, int idx)
{
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < 0) {
        luaL_argerror(L, idx, "must not be negative");
    }
    return (uint64_t)v;
}

/* [-0, +1] Packs a list of ids (PROTOCOL §4.12) into a string on the
 * stack, which keeps it alive while the request is encoded. */
static lsh_sftp_str
pack_ids(lua_State *L, int idx)
{
    lsh_sftp_str s;
    luaL_Buffer b;
    lua_Integer n = 0;
    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        n = luaL_len(L, idx);
    }
    if (n > LSH_SFTP_MAX_IDS) {
        luaL_argerror(L, idx, "too many ids");
    }
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= n; i++) {
        uint8_t be[4];
        lua_Integer v;
        lua_geti(L, idx, i);
        v = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || v < 0 || v > UINT32_MAX) {
            luaL_argerror(L, idx, "ids must be integers in 0..2^32-1");
        }
        lua_pop(L, 1);
        lsh_poke_u32(be, (uint32_t)v);
        luaL_addlstring(&b, (const char *)be, 4);
    }
    luaL_pushresult(&b);
    s.p = (const uint8_t *)lua_tolstring(L, -1, &s.n);
    return s;
}

/*
 * Fills q from the Lua arguments at base.. for the operation `op` (a
 * request name of draft-02 §6 in lower case, or an extension name of
 * PROTOCOL §4).  Id lists are packed into strings pushed on the stack.
 */
static void
build_request(lua_State *L, const char *op, int base, lsh_sftp_request *q)
{
    argkind args = A_NONE;
    int found = 0;
    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].name, op) == 0) {
            q->type = ops[i].type;
            args = ops[i].args;
            found = 1;
            break;
        }
    }
    if (!found) {
        q->type = LSH_SFTP_EXTENDED;
        q->ext = lsh_sftp_ext_lookup((const uint8_t *)op, strlen(op));
        if (q->ext == LSH_SFTP_EXT_UNKNOWN) {
            luaL_error(L, "unknown SFTP request '%s'", op);
        }
        args = ext_args(q->ext);
    }
    switch (args) {
    case A_NONE:
        break;
    case A_P:
        q->path = check_str(L, base);
        break;
    case A_PP:
        q->path = check_str(L, base);
        q->path2 = check_str(L, base + 1);
        break;
    case A_H:
        q->handle = check_str(L, base);
        break;
    case A_PA:
        q->path = check_str(L, base);
        check_attrs(L, base + 1, &q->attrs);
        break;
    case A_HA:
        q->handle = check_str(L, base);
        check_attrs(L, base + 1, &q->attrs);
        break;
    case A_OPEN: {
        lua_Integer pf = luaL_checkinteger(L, base + 1);
        q->path = check_str(L, base);
        if (pf < 0 || pf > UINT32_MAX) {
            luaL_argerror(L, base + 1, "bad pflags");
        }
        q->pflags = (uint32_t)pf;
        check_attrs(L, base + 2, &q->attrs);
        break;
    }
    case A_READ: {
        lua_Integer len = luaL_checkinteger(L, base + 2);
        q->handle = check_str(L, base);
        q->offset = check_u64(L, base + 1);
        if (len < 0 || len > UINT32_MAX) {
            luaL_argerror(L, base + 2, "bad length");
        }
        q->len = (uint32_t)len;
        break;
    }
    case A_WRITE:
        q->handle = check_str(L, base);
        q->offset = check_u64(L, base + 1);
        q->data = check_str(L, base + 2);
        break;
    case A_COPY:
        q->handle = check_str(L, base);
        q->offset = check_u64(L, base + 1);
        q->len64 = check_u64(L, base + 2);
        q->handle2 = check_str(L, base + 3);
        q->offset2 = check_u64(L, base + 4);
        break;
    case A_IDS:
        q->ids = pack_ids(L, base);
        q->ids2 = pack_ids(L, base + 1);
        break;
    }
    if (q->handle.n > LSH_SFTP_MAX_HANDLE || q->handle2.n > LSH_SFTP_MAX_HANDLE) {
        luaL_error(L, "an SFTP handle is at most %d bytes",
                   LSH_SFTP_MAX_HANDLE);
    }
}

/* Tickets */

typedef struct ticket {
    llsh_waiter w;
    sftpud *s;
    uint32_t id;
    int pending;   /* sent, no reply yet */
    int err;
    uint8_t req_type, req_ext;
    uint8_t *pkt;  /* the reply, copied */
    size_t n;
} ticket;

static void
ticket_cb(void *ctx, const lsh_sftp_reply *r)
{
    ticket *t = ctx;
    t->pending = 0;
    t->err = r->err;
    if (r->err == 0) {
        if ((t->pkt = malloc(r->n)) == NULL) {
            t->err = LSH_ENOMEM;
        } else {
            memcpy(t->pkt, r->pkt, r->n);
            t->n = r->n;
        }
    }
    llsh_wake(&t->w, 0);
}

/* The task waiting on t was interrupted: its reply will be dropped. */
static void
ticket_cancel(llsh_waiter *w)
{
    ticket *t = (ticket *)w;
    if (t->pending && t->s->c != NULL) {
        lsh_sftp_client_cancel(t->s->c, t->id);
    }
    t->pending = 0;
    t->err = LSH_ESTATE;
}

static int
ticket_gc(lua_State *L)
{
    ticket *t = luaL_checkudata(L, 1, TICKET_MT);
    if (t->pending && t->s != NULL && t->s->c != NULL) {
        lsh_sftp_client_cancel(t->s->c, t->id);
    }
    t->pending = 0;
    free(t->pkt);
    t->pkt = NULL;
    return 0;
}

/* [-0, +3] nil, status code, message */
static int
push_fail(lua_State *L, int code, const char *fmt, const char *detail)
{
    lua_pushnil(L);
    lua_pushinteger(L, code);
    lua_pushfstring(L, fmt, detail);
    return 3;
}

static int
push_ended(lua_State *L, sftpud *s)
{
    return push_fail(L, FX_CONNECTION_LOST, "%s",
                     s->ended ? s->end_msg : "the SFTP session ended");
}

static void
push_names(lua_State *L, lsh_sftp_response *resp)
{
    lsh_sftp_name nm;
    uint32_t i = 0;
    lua_createtable(L, (int)(resp->count < 4096 ? resp->count : 4096), 0);
    while (lsh_sftp_name_next(resp, &i, &nm) == 1) {
        lua_createtable(L, 0, 3);
        lua_pushlstring(L, (const char *)nm.filename.p, nm.filename.n);
        lua_setfield(L, -2, "filename");
        lua_pushlstring(L, (const char *)nm.longname.p, nm.longname.n);
        lua_setfield(L, -2, "longname");
        push_attrs(L, &nm.attrs);
        lua_setfield(L, -2, "attrs");
        lua_rawseti(L, -2, (lua_Integer)i);
    }
}

/* A list of strings packed as PROTOCOL §4.12 says. */
static int
push_string_list(lua_State *L, lsh_rd *rd)
{
    const uint8_t *blob;
    size_t bl;
    lsh_rd sub;
    lua_Integer i = 0;
    if (lsh_rd_string(rd, &blob, &bl) != 0) {
        return -1;
    }
    lsh_rd_init(&sub, blob, bl);
    lua_newtable(L);
    while (lsh_rd_remaining(&sub) > 0) {
        const uint8_t *p;
        size_t n;
        if (lsh_rd_string(&sub, &p, &n) != 0) {
            return -1;
        }
        lua_pushlstring(L, (const char *)p, n);
        lua_rawseti(L, -2, ++i);
    }
    return 0;
}

static int
push_ext_reply(lua_State *L, uint8_t ext, lsh_sftp_str d)
{
    lsh_rd rd;
    lsh_rd_init(&rd, d.p, d.n);
    if (ext == LSH_SFTP_EXT_STATVFS || ext == LSH_SFTP_EXT_FSTATVFS) {
        lsh_sftp_statvfs v;
        if (lsh_sftp_statvfs_decode(d.p, d.n, &v) != 0) {
            return push_fail(L, FX_BAD_MESSAGE, "%s", "malformed statvfs reply");
        }
        lua_createtable(L, 0, 11);
        setint(L, "bsize", (lua_Integer)v.bsize);
        setint(L, "frsize", (lua_Integer)v.frsize);
        setint(L, "blocks", (lua_Integer)v.blocks);
        setint(L, "bfree", (lua_Integer)v.bfree);
        setint(L, "bavail", (lua_Integer)v.bavail);
        setint(L, "files", (lua_Integer)v.files);
        setint(L, "ffree", (lua_Integer)v.ffree);
        setint(L, "favail", (lua_Integer)v.favail);
        setint(L, "fsid", (lua_Integer)v.fsid);
        setint(L, "flag", (lua_Integer)v.flag);
        setint(L, "namemax", (lua_Integer)v.namemax);
        return 1;
    }
    if (ext == LSH_SFTP_EXT_LIMITS) {
        uint64_t v[4];
        for (int i = 0; i < 4; i++) {
            if (lsh_rd_u64(&rd, &v[i]) != 0) {
                return push_fail(L, FX_BAD_MESSAGE, "%s",
                                 "malformed limits reply");
            }
        }
        lua_createtable(L, 0, 4);
        setint(L, "max_packet_len", (lua_Integer)v[0]);
        setint(L, "max_read_len", (lua_Integer)v[1]);
        setint(L, "max_write_len", (lua_Integer)v[2]);
        setint(L, "max_open_handles", (lua_Integer)v[3]);
        return 1;
    }
    if (ext == LSH_SFTP_EXT_USERS_GROUPS) {
        int top = lua_gettop(L);
        if (push_string_list(L, &rd) != 0 || push_string_list(L, &rd) != 0 ||
            lsh_rd_end(&rd) != 0) {
            lua_settop(L, top);
            return push_fail(L, FX_BAD_MESSAGE, "%s",
                             "malformed users-groups-by-id reply");
        }
        return 2;
    }
    lua_pushlstring(L, (const char *)d.p, d.n);
    return 1;
}

/* Pushes a finished ticket's outcome: values, or nil, code, message. */
static int
push_reply(lua_State *L, ticket *t)
{
    lsh_sftp_response resp;
    if (t->err == LSH_ECLOSED || (t->err != 0 && t->s->ended)) {
        return push_ended(L, t->s);
    }
    if (t->err == LSH_EUNEXPECTED) {
        return push_fail(L, FX_BAD_MESSAGE, "%s", "the server answered "
                                                  "with an unexpected reply "
                                                  "type");
    }
    if (t->err != 0) {
        return push_fail(L, FX_BAD_MESSAGE, "malformed reply (%s)",
                         lsh_strerror(t->err));
    }
    if (lsh_sftp_response_decode(t->pkt, t->n, &resp) != 0) {
        return push_fail(L, FX_BAD_MESSAGE, "%s", "malformed reply");
    }
    switch (resp.type) {
    case LSH_SFTP_STATUS:
        if (resp.code == LSH_SFTP_FX_OK) {
            lua_pushboolean(L, 1);
            return 1;
        }
        lua_pushnil(L);
        lua_pushinteger(L, resp.code);
        lua_pushlstring(L, (const char *)resp.msg.p, resp.msg.n);
        return 3;
    case LSH_SFTP_HANDLE:
        lua_pushlstring(L, (const char *)resp.handle.p, resp.handle.n);
        return 1;
    case LSH_SFTP_DATA:
        lua_pushlstring(L, (const char *)resp.data.p, resp.data.n);
        return 1;
    case LSH_SFTP_NAME:
        push_names(L, &resp);
        return 1;
    case LSH_SFTP_ATTRS:
        push_attrs(L, &resp.attrs);
        return 1;
    case LSH_SFTP_EXTENDED_REPLY:
        return push_ext_reply(L, t->req_ext, resp.ext_data);
    default:
        return push_fail(L, FX_BAD_MESSAGE, "%s", "unexpected reply");
    }
}

static int
ticket_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    ticket *t = (ticket *)ctx;
    int n;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    if (t->pending) {
        llsh_wait(L, &t->w);
        return lua_yieldk(L, 0, ctx, ticket_wait_k);
    }
    if (t->err == LSH_ESTATE && t->pkt == NULL) {
        return luaL_error(L, "this SFTP request was abandoned");
    }
    n = push_reply(L, t);
    free(t->pkt);
    t->pkt = NULL;
    return n;
}

/* [-0, +1] Sends op with the arguments at 3.. and pushes its ticket. */
static ticket *
send_request(lua_State *L, sftpud *s)
{
    const char *op = luaL_checkstring(L, 2);
    lsh_sftp_request q;
    ticket *t;
    int r;

    build_request(L, op, 3, &q);
    t = lua_newuserdatauv(L, sizeof(*t), 1);
    memset(t, 0, sizeof(*t));
    t->w.cancel = ticket_cancel;
    t->s = s;
    t->req_type = q.type;
    t->req_ext = (uint8_t)q.ext;
    luaL_setmetatable(L, TICKET_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (s->ended || lsh_sftp_client_state(s->c) != LSH_SFTP_CLIENT_READY) {
        t->err = LSH_ECLOSED;
    } else if ((r = lsh_sftp_client_send(s->c, &q, ticket_cb, t, 0, 0,
                                         &t->id)) != 0) {
        if (r == LSH_ETOOLARGE) {
            luaL_error(L, "the SFTP %s request is too large", op);
        }
        luaL_error(L, "cannot send the SFTP %s request: %s", op,
                   lsh_strerror(r));
    } else {
        t->pending = 1;
        flush_out(s);
    }
    return t;
}

/* core:_send(op, ...) -> ticket (wait with ticket:wait()) */
static int
sc_send(lua_State *L)
{
    send_request(L, check_sftp(L, 1));
    return 1;
}

/* core:_req(op, ...) -> the reply's values, or nil, code, message */
static int
sc_req(lua_State *L)
{
    ticket *t = send_request(L, check_sftp(L, 1));
    /* The ticket stays on the stack across the wait. */
    return ticket_wait_k(L, LUA_OK, (lua_KContext)t);
}

/* ticket:wait() -> as core:_req */
static int
ticket_wait(lua_State *L)
{
    ticket *t = luaL_checkudata(L, 1, TICKET_MT);
    lua_settop(L, 1);
    return ticket_wait_k(L, LUA_OK, (lua_KContext)t);
}

/* Session start */

/* The SFTP client's clock (lsh_sftp_client_set_clock): the loop's
 * monotonic clock, in microseconds. */
static uint64_t
now_us(void *ctx)
{
    (void)ctx;
    return (uint64_t)(lsh_io_now() * 1e6);
}

/* The smallest write window: two of the largest WRITEs. */
#define WRITE_WINDOW_FLOOR ((uint64_t)2 * LSH_SFTP_MAX_BLOCK)

/*
 * The write window of PUT (lsh_sftp_client_set_write_window): adaptive,
 * from a quarter (at least two of the largest WRITEs) to all of the
 * window the server gave the channel (read once the session is up: INIT
 * is all that used any of it; more than the window cannot be in transit
 * anyway).  Keeping the whole window busy on a path that does not need
 * it only fills the server's channel buffer, and OpenSSH's sshd pays for
 * a full one: on loopback (window 2 MiB) it spent four times the CPU per
 * byte (memcpy into freshly mapped memory as its buffer code regrows
 * the buffer) and uploads ran at a third of the rate.  A quarter of its
 * window is two of its largest WRITEs in flight, enough to keep its
 * sftp-server busy.
 */
static void
set_write_window(sftpud *s)
{
    lsh_conn *core = llsh_client_core(s->ch->cl);
    uint64_t w, min;
    if (core == NULL || lsh_sftp_client_write_window(s->c) != 0) {
        return;
    }
    w = lsh_chan_window_out(core, s->ch->id);
    if (w == 0) {
        return;
    }
    /* Never below two of the largest WRITEs: on a small channel window
     * (Dropbear's is 24 KiB) the next request must be ready when the
     * window opens, as it was without a write window. */
    min = w / 4 > WRITE_WINDOW_FLOOR ? w / 4 : WRITE_WINDOW_FLOOR;
    lsh_sftp_client_set_clock(s->c, now_us, NULL);
    lsh_sftp_client_set_write_window(s->c, w > min ? w : min, min);
}

static int
init_k(lua_State *L, int status, lua_KContext ctx)
{
    sftpud *s;
    size_t i = 0;
    lsh_sftp_str name, data;
    (void)ctx;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    s = check_sftp(L, 1);
    if (s->ended || lsh_sftp_client_state(s->c) == LSH_SFTP_CLIENT_FAILED) {
        return push_ended(L, s);
    }
    if (lsh_sftp_client_state(s->c) != LSH_SFTP_CLIENT_READY) {
        llsh_waitq_wait(L, &s->state_q);
        return lua_yieldk(L, 0, 0, init_k);
    }
    set_write_window(s);
    lua_pushinteger(L, lsh_sftp_client_version(s->c));
    lua_newtable(L);
    while (lsh_sftp_client_ext_next(s->c, &i, &name, &data)) {
        lua_pushlstring(L, (const char *)name.p, name.n);
        lua_pushlstring(L, (const char *)data.p, data.n);
        lua_rawset(L, -3);
    }
    return 2;
}

/* core:_init(version) -> version, {extension = data} | nil, code, msg */
static int
sc_init(lua_State *L)
{
    sftpud *s = check_sftp(L, 1);
    lua_Integer v = luaL_optinteger(L, 2, LSH_SFTP_VERSION);
    int r;
    if (lsh_sftp_client_state(s->c) == LSH_SFTP_CLIENT_NEW) {
        if ((r = lsh_sftp_client_start(s->c, (uint32_t)v)) != 0) {
            return luaL_error(L, "cannot start SFTP version %d: %s", (int)v,
                              lsh_strerror(r));
        }
        flush_out(s);
    }
    lua_settop(L, 1);
    return init_k(L, LUA_OK, 0);
}

/* core:_info() -> state name, requests in flight, ended? */
static int
sc_info(lua_State *L)
{
    static const char *const names[] = {"new", "init", "ready", "failed"};
    sftpud *s = check_sftp(L, 1);
    lua_pushstring(L, names[lsh_sftp_client_state(s->c)]);
    lua_pushinteger(L, (lua_Integer)lsh_sftp_client_pending(s->c));
    lua_pushboolean(L, s->ended);
    return 3;
}

/* Transfers */

typedef struct lxfer {
    llsh_waiter w;
    sftpud *s;
    lsh_sftp_xfer *x;
    int fd;              /* local file, or -1 */
    int to_memory;       /* GET into mem */
    int want_progress;
    int local_done;      /* the final local steps ran */
    int local_errno;
    uint64_t reported;
    uint8_t *mem;        /* GET to memory: the bytes read (owned) */
    const uint8_t *src;  /* PUT from memory: the Lua string (user value 2) */
    size_t mem_len, mem_cap, mem_max;
} lxfer;

static int
xf_write_at(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
    lxfer *lx = ctx;
    if (lx->to_memory) {
        size_t need;
        if (off > lx->mem_max || n > lx->mem_max - off) {
            return EFBIG;
        }
        need = (size_t)off + n;
        if (need > lx->mem_cap) {
            size_t cap = lx->mem_cap ? lx->mem_cap : 65536;
            uint8_t *m;
            while (cap < need) {
                cap *= 2;
            }
            if ((m = realloc(lx->mem, cap)) == NULL) {
                return ENOMEM;
            }
            lx->mem = m;
            lx->mem_cap = cap;
        }
        if ((size_t)off > lx->mem_len) {
            memset(lx->mem + lx->mem_len, 0, (size_t)off - lx->mem_len);
        }
        memcpy(lx->mem + off, p, n);
        if (need > lx->mem_len) {
            lx->mem_len = need;
        }
        return 0;
    }
    while (n > 0) {
        ssize_t w = pwrite(lx->fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            lx->local_errno = errno;
            return errno;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int
xf_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
    lxfer *lx = ctx;
    *got = 0;
    if (lx->fd < 0) {
        if (off < lx->mem_len) {
            size_t k = lx->mem_len - (size_t)off;
            *got = k < n ? k : n;
            memcpy(buf, lx->src + off, *got);
        }
        return 0;
    }
    while (*got < n) {
        ssize_t r = pread(lx->fd, buf + *got, n - *got, (off_t)(off + *got));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            lx->local_errno = errno;
            return errno;
        }
        if (r == 0) {
            break;
        }
        *got += (size_t)r;
    }
    return 0;
}

/*
 * Backpressure for PUT and COPY: a new WRITE (or COPY's READ) goes only
 * once everything queued before it has gone into the connection, so the
 * client's output holds at most one request's worth more than the
 * peer's window and the connection's send buffer take.  Its bytes are
 * then read from the file straight into an empty output buffer and go
 * from there into the connection: no compaction, no other queue.  When
 * the channel is writable again the pump resumes the transfers
 * (lsh_sftp_client_kick) without waiting for a reply.  The socket write
 * waits for the end of the turn (flush_out), so that a turn's requests
 * go out in one write.
 */
static int
xf_may_send(void *ctx)
{
    lxfer *lx = ctx;
    return push_channel(lx->s) && llsh_bytes_avail(&lx->s->ch->out) == 0;
}

static void
xf_notify(void *ctx, lsh_sftp_xfer *x)
{
    lxfer *lx = ctx;
    if (lsh_sftp_xfer_finished(x) ||
        (lx->want_progress && lsh_sftp_xfer_done(x) > lx->reported)) {
        llsh_wake(&lx->w, 0);
    }
}

static void
xf_cancel(llsh_waiter *w)
{
    lxfer *lx = (lxfer *)w;
    if (lx->x != NULL) {
        lsh_sftp_xfer_stop(lx->x);
    }
}

static void
xf_close_fd(lxfer *lx)
{
    if (lx->fd >= 0) {
        if (close(lx->fd) != 0 && lx->local_errno == 0) {
            lx->local_errno = errno;
        }
        lx->fd = -1;
    }
}

static int
xfer_gc(lua_State *L)
{
    lxfer *lx = luaL_checkudata(L, 1, XFER_MT);
    if (lx->x != NULL && lx->s != NULL && lx->s->c != NULL) {
        lsh_sftp_xfer_free(lx->x);
    }
    lx->x = NULL;
    xf_close_fd(lx);
    free(lx->mem);
    lx->mem = NULL;
    return 0;
}

static int
opt_int_field(lua_State *L, int idx, const char *k, lua_Integer dflt)
{
    lua_Integer v;
    int isnum;
    lua_getfield(L, idx, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return (int)dflt;
    }
    v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || v < 0 || v > INT32_MAX) {
        luaL_error(L, "transfer option '%s' must be a non-negative integer",
                   k);
    }
    return (int)v;
}

static uint64_t
opt_u64_field(lua_State *L, int idx, const char *k, uint64_t dflt)
{
    lua_Integer v;
    int isnum;
    lua_getfield(L, idx, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || v < 0) {
        luaL_error(L, "transfer option '%s' must be a non-negative integer",
                   k);
    }
    return (uint64_t)v;
}

static lsh_sftp_str
opt_str_field(lua_State *L, int idx, const char *k)
{
    lsh_sftp_str s = {NULL, 0};
    lua_getfield(L, idx, k);
    if (lua_type(L, -1) == LUA_TSTRING) {
        s.p = (const uint8_t *)lua_tolstring(L, -1, &s.n);
    }
    lua_pop(L, 1); /* the options table keeps the string alive */
    return s;
}

/* Opens the local file of a GET or PUT; -1 with errno on failure. */
static int
open_local(lua_State *L, int optidx, int mode)
{
    const char *path;
    int fd, flags, perm;
    lua_getfield(L, optidx, "local_path");
    path = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    perm = opt_int_field(L, optidx, "local_mode", 0666) & 07777;
    if (mode == LSH_SFTP_XFER_GET) {
        flags = O_WRONLY | O_CREAT | O_CLOEXEC;
        lua_getfield(L, optidx, "local_keep");
        if (!lua_toboolean(L, -1)) {
            flags |= O_TRUNC;
        }
        lua_pop(L, 1);
    } else {
        flags = O_RDONLY | O_CLOEXEC;
    }
    do {
        fd = open(path, flags, perm);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/*
 * core:_xfer(mode, opts) -> transfer | nil, errno, message (local open)
 * mode: "get", "put", "copy", "copy_data".  opts: src, dst (handles),
 * local_path, local_mode, to_memory, data (PUT from memory), src_offset,
 * dst_offset, length, size_hint, block, max_requests, sparse, progress.
 */
static int
sc_xfer(lua_State *L)
{
    static const char *const modes[] = {"get", "put", "copy", "copy_data",
                                        NULL};
    sftpud *s = check_sftp(L, 1);
    int mode = luaL_checkoption(L, 2, NULL, modes);
    lsh_sftp_xfer_config cfg;
    lsh_sftp_str data;
    lxfer *lx;
    int r;

    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    if (s->ended || lsh_sftp_client_state(s->c) != LSH_SFTP_CLIENT_READY) {
        return push_ended(L, s);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.mode = (lsh_sftp_xfer_mode)mode;
    cfg.src = opt_str_field(L, 3, "src");
    cfg.dst = opt_str_field(L, 3, "dst");
    cfg.src_offset = opt_u64_field(L, 3, "src_offset", 0);
    cfg.dst_offset = opt_u64_field(L, 3, "dst_offset", 0);
    cfg.length = opt_u64_field(L, 3, "length", UINT64_MAX);
    cfg.size_hint = opt_u64_field(L, 3, "size_hint", UINT64_MAX);
    cfg.block = (uint32_t)opt_int_field(L, 3, "block", 0);
    cfg.max_requests = (uint32_t)opt_int_field(L, 3, "max_requests", 0);
    lua_getfield(L, 3, "sparse");
    cfg.sparse = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (cfg.block > LSH_SFTP_MAX_BLOCK) {
        cfg.block = LSH_SFTP_MAX_BLOCK;
    }

    lx = lua_newuserdatauv(L, sizeof(*lx), 2);
    memset(lx, 0, sizeof(*lx));
    lx->fd = -1;
    lx->s = s;
    lx->w.cancel = xf_cancel;
    luaL_setmetatable(L, XFER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_getfield(L, 3, "progress");
    lx->want_progress = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 3, "to_memory");
    lx->to_memory = lua_toboolean(L, -1);
    lua_pop(L, 1);
    data = opt_str_field(L, 3, "data");

    if (mode == LSH_SFTP_XFER_GET && lx->to_memory) {
        lx->mem_max = cfg.length != UINT64_MAX && cfg.length < SIZE_MAX / 2
                          ? (size_t)cfg.length
                          : (size_t)1 << 40;
    } else if (mode == LSH_SFTP_XFER_PUT && data.p != NULL) {
        /* Read in place (straight into the requests): the transfer
         * keeps the string alive instead of copying it. */
        lua_getfield(L, 3, "data");
        lua_setiuservalue(L, -2, 2);
        lx->src = data.p;
        lx->mem_len = data.n;
        cfg.length = data.n;
    } else if (mode == LSH_SFTP_XFER_GET || mode == LSH_SFTP_XFER_PUT) {
        if ((lx->fd = open_local(L, 3, mode)) < 0) {
            int e = errno;
            lua_pushnil(L);
            lua_pushinteger(L, e);
            lua_pushstring(L, strerror(e));
            return 3;
        }
        if (mode == LSH_SFTP_XFER_PUT && cfg.length == UINT64_MAX) {
            struct stat st;
            if (fstat(lx->fd, &st) == 0 && S_ISREG(st.st_mode)) {
                cfg.length = (uint64_t)st.st_size;
            }
        }
    }
    cfg.io.ctx = lx;
    cfg.io.write_at = xf_write_at;
    cfg.io.read_at = xf_read_at;
    cfg.io.notify = xf_notify;
    cfg.io.may_send = xf_may_send;
    if ((r = lsh_sftp_xfer_start(s->c, &cfg, &lx->x)) != 0) {
        xf_close_fd(lx);
        return luaL_error(L, "cannot start the transfer: %s",
                          lsh_strerror(r));
    }
    flush_out(s);
    return 1;
}

/* The local steps once the transfer is over: extend a sparse file, close. */
static void
xfer_local_finish(lxfer *lx, int ok)
{
    if (lx->local_done) {
        return;
    }
    lx->local_done = 1;
    if (ok && lx->fd >= 0 && lsh_sftp_xfer_needs_extend(lx->x)) {
        if (ftruncate(lx->fd, (off_t)lsh_sftp_xfer_size(lx->x)) != 0 &&
            lx->local_errno == 0) {
            lx->local_errno = errno;
        }
    }
    if (ok && lx->to_memory && lsh_sftp_xfer_size(lx->x) > lx->mem_len &&
        lsh_sftp_xfer_size(lx->x) != UINT64_MAX) {
        /* Trailing zeros skipped as sparse. */
        uint64_t want = lsh_sftp_xfer_size(lx->x);
        if (want <= lx->mem_max) {
            uint8_t z = 0;
            (void)xf_write_at(lx, want - 1, &z, 1);
        }
    }
    xf_close_fd(lx);
}

/*
 * Pushes the outcome:
 *   "done", bytes, size [, data]   success (data for a GET into memory)
 *   "status", code, message        the server refused (STATUS)
 *   "local", errno, message        local I/O failed
 *   "error", code, message         the session ended or misbehaved
 */
static int
push_xfer_result(lua_State *L, lxfer *lx)
{
    uint32_t status;
    const char *msg;
    int local_err;
    int r = lsh_sftp_xfer_result(lx->x, &status, &msg, &local_err);
    xfer_local_finish(lx, r == 0);
    if (r == 0 && lx->local_errno != 0) {
        local_err = lx->local_errno;
        r = LSH_EIO;
    }
    if (r == 0) {
        uint64_t size = lsh_sftp_xfer_size(lx->x);
        lua_pushliteral(L, "done");
        lua_pushinteger(L, (lua_Integer)lsh_sftp_xfer_done(lx->x));
        lua_pushinteger(L, size == UINT64_MAX ? -1 : (lua_Integer)size);
        if (lx->to_memory) {
            size_t n = size < lx->mem_len ? (size_t)size : lx->mem_len;
            lua_pushlstring(L, lx->mem ? (const char *)lx->mem : "", n);
            return 4;
        }
        return 3;
    }
    if (r == LSH_EIO) {
        lua_pushliteral(L, "local");
        lua_pushinteger(L, local_err);
        lua_pushstring(L, strerror(local_err));
        return 3;
    }
    if (r == LSH_EPROTOCOL && status != 0) {
        lua_pushliteral(L, "status");
        lua_pushinteger(L, status);
        lua_pushstring(L, msg);
        return 3;
    }
    lua_pushliteral(L, "error");
    if (lx->s->ended || r == LSH_ECLOSED) {
        lua_pushinteger(L, FX_CONNECTION_LOST);
        lua_pushstring(L, lx->s->ended ? lx->s->end_msg
                                       : "the SFTP session ended");
    } else {
        lua_pushinteger(L, FX_BAD_MESSAGE);
        lua_pushfstring(L, "%s%s%s", lsh_strerror(r), msg[0] ? ": " : "",
                        msg);
    }
    return 3;
}

static int
xfer_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    lxfer *lx;
    (void)ctx;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 2);
    lx = luaL_checkudata(L, 1, XFER_MT);
    if (lx->x == NULL) {
        return luaL_error(L, "the transfer is freed");
    }
    lx->want_progress = lua_toboolean(L, 2);
    if (lsh_sftp_xfer_finished(lx->x)) {
        return push_xfer_result(L, lx);
    }
    if (lx->want_progress && lsh_sftp_xfer_done(lx->x) > lx->reported) {
        lx->reported = lsh_sftp_xfer_done(lx->x);
        lua_pushliteral(L, "progress");
        lua_pushinteger(L, (lua_Integer)lx->reported);
        return 2;
    }
    llsh_wait(L, &lx->w);
    return lua_yieldk(L, 0, 0, xfer_wait_k);
}

/* xfer:wait([progress]) -> "progress", bytes | the outcome (see above) */
static int
xfer_wait(lua_State *L)
{
    luaL_checkudata(L, 1, XFER_MT);
    return xfer_wait_k(L, LUA_OK, 0);
}

/* xfer:stop(): no more requests; a later wait() reports the stop. */
static int
xfer_stop(lua_State *L)
{
    lxfer *lx = luaL_checkudata(L, 1, XFER_MT);
    if (lx->x != NULL) {
        lsh_sftp_xfer_stop(lx->x);
        xfer_local_finish(lx, 0);
    }
    return 0;
}

/* xfer:done() -> bytes moved so far */
static int
xfer_done(lua_State *L)
{
    lxfer *lx = luaL_checkudata(L, 1, XFER_MT);
    lua_pushinteger(L, lx->x ? (lua_Integer)lsh_sftp_xfer_done(lx->x) : 0);
    return 1;
}

/* The core object */

/* sftpcore.new(channel) -> core */
static int
l_new(lua_State *L)
{
    llsh_chan *ch = luaL_checkudata(L, 1, LLSH_CHAN_MT);
    sftpud *s;
    int r;
    if (ch->cl == NULL) {
        return luaL_argerror(L, 1, "channel without a connection");
    }
    s = lua_newuserdatauv(L, sizeof(*s), 1);
    memset(s, 0, sizeof(*s));
    luaL_setmetatable(L, SFTP_MT);
    if ((r = lsh_sftp_client_new(&s->c)) != 0) {
        return luaL_error(L, "cannot create an SFTP client: %s",
                          lsh_strerror(r));
    }
    s->ch = ch;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static int
sc_gc(lua_State *L)
{
    sftpud *s = luaL_checkudata(L, 1, SFTP_MT);
    detach_sink(s);
    if (s->c != NULL) {
        lsh_sftp_client_free(s->c);
        s->c = NULL;
    }
    s->state_q.head = NULL;
    return 0;
}

/* core:_has_ext(name) -> data string | nil */
static int
sc_has_ext(lua_State *L)
{
    sftpud *s = check_sftp(L, 1);
    size_t n;
    const char *name = luaL_checklstring(L, 2, &n);
    const uint8_t *d;
    size_t dl;
    lsh_sftp_ext e = lsh_sftp_ext_lookup((const uint8_t *)name, n);
    if (e == LSH_SFTP_EXT_UNKNOWN ||
        !lsh_sftp_client_has_ext(s->c, e, &d, &dl)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, (const char *)d, dl);
    return 1;
}

/* Local filesystem helpers (synchronous) */

static void
attrs_from_stat(const struct stat *st, lsh_sftp_attrs *a)
{
    memset(a, 0, sizeof(*a));
    a->flags = LSH_SFTP_ATTR_SIZE | LSH_SFTP_ATTR_UIDGID |
               LSH_SFTP_ATTR_PERMISSIONS | LSH_SFTP_ATTR_ACMODTIME;
    a->size = (uint64_t)st->st_size;
    a->uid = (uint32_t)st->st_uid;
    a->gid = (uint32_t)st->st_gid;
    a->perms = (uint32_t)st->st_mode;
    a->atime = (uint32_t)st->st_atime;
    a->mtime = (uint32_t)st->st_mtime;
}

static int
push_errno(lua_State *L, int e)
{
    lua_pushnil(L);
    lua_pushinteger(L, e);
    lua_pushstring(L, strerror(e));
    return 3;
}

/* local_stat(path [, follow]) -> attrs | nil, errno, message */
static int
l_local_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int follow = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    struct stat st;
    lsh_sftp_attrs a;
    if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) {
        return push_errno(L, errno);
    }
    attrs_from_stat(&st, &a);
    push_attrs(L, &a);
    return 1;
}

/* local_listdir(path) -> {names} (without . and ..) | nil, errno, msg */
static int
l_local_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    struct dirent *de;
    lua_Integer i = 0;
    if (d == NULL) {
        return push_errno(L, errno);
    }
    lua_newtable(L);
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        lua_pushstring(L, de->d_name);
        lua_rawseti(L, -2, ++i);
    }
    closedir(d);
    return 1;
}

static int
push_ok_or_errno(lua_State *L, int rc)
{
    if (rc != 0) {
        return push_errno(L, errno);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* local_mkdir(path [, mode]) */
static int
l_local_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer mode = luaL_optinteger(L, 2, 0777);
    return push_ok_or_errno(L, mkdir(path, (mode_t)(mode & 07777)));
}

/* local_setstat(path, attrs [, follow]): size, uid/gid, permissions, times */
static int
l_local_setstat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int follow = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
    int atflags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
    lsh_sftp_attrs a;
    check_attrs(L, 2, &a);
    if ((a.flags & LSH_SFTP_ATTR_SIZE) &&
        truncate(path, (off_t)a.size) != 0) {
        return push_errno(L, errno);
    }
    if ((a.flags & LSH_SFTP_ATTR_UIDGID) &&
        fchownat(AT_FDCWD, path, a.uid, a.gid, atflags) != 0) {
        return push_errno(L, errno);
    }
    if (a.flags & LSH_SFTP_ATTR_PERMISSIONS) {
        struct stat st;
        /* A symlink's own mode cannot be set on Linux: leave it. */
        if (follow || (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode))) {
            if (fchmodat(AT_FDCWD, path, a.perms & 07777, 0) != 0) {
                return push_errno(L, errno);
            }
        }
    }
    if (a.flags & LSH_SFTP_ATTR_ACMODTIME) {
        struct timespec ts[2];
        ts[0].tv_sec = a.atime;
        ts[0].tv_nsec = 0;
        ts[1].tv_sec = a.mtime;
        ts[1].tv_nsec = 0;
        if (utimensat(AT_FDCWD, path, ts, atflags) != 0) {
            return push_errno(L, errno);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* local_readlink(path) -> target */
static int
l_local_readlink(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[8192];
    ssize_t n = readlink(path, buf, sizeof(buf));
    if (n < 0) {
        return push_errno(L, errno);
    }
    if ((size_t)n >= sizeof(buf)) {
        return push_errno(L, ENAMETOOLONG);
    }
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* local_symlink(target, path) */
static int
l_local_symlink(lua_State *L)
{
    return push_ok_or_errno(L, symlink(luaL_checkstring(L, 1),
                                       luaL_checkstring(L, 2)));
}

/* local_getcwd() */
static int
l_local_getcwd(lua_State *L)
{
    char buf[8192];
    if (getcwd(buf, sizeof(buf)) == NULL) {
        return push_errno(L, errno);
    }
    lua_pushstring(L, buf);
    return 1;
}

/* local_remove(path): unlink or rmdir */
static int
l_local_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return push_ok_or_errno(L, remove(path));
}

static const luaL_Reg core_methods[] = {
    {"_pump", sc_pump},
    {"_abort", sc_abort},
    {"_init", sc_init},
    {"_info", sc_info},
    {"_send", sc_send},
    {"_req", sc_req},
    {"_xfer", sc_xfer},
    {"_has_ext", sc_has_ext},
    {NULL, NULL}};

static const luaL_Reg ticket_methods[] = {
    {"wait", ticket_wait},
    {NULL, NULL}};

static const luaL_Reg xfer_methods[] = {
    {"wait", xfer_wait},
    {"stop", xfer_stop},
    {"done", xfer_done},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"new", l_new},
    {"local_stat", l_local_stat},
    {"local_listdir", l_local_listdir},
    {"local_mkdir", l_local_mkdir},
    {"local_setstat", l_local_setstat},
    {"local_readlink", l_local_readlink},
    {"local_symlink", l_local_symlink},
    {"local_getcwd", l_local_getcwd},
    {"local_remove", l_local_remove},
    {NULL, NULL}};

static void
new_class(lua_State *L, const char *name, const luaL_Reg *methods,
          lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

/* Shared with l_sftp_server.c (l_sftp.h). */
void
llsh_sftp_push_attrs(lua_State *L, const lsh_sftp_attrs *a)
{
    push_attrs(L, a);
}

void
llsh_sftp_check_attrs(lua_State *L, int idx, lsh_sftp_attrs *a)
{
    check_attrs(L, lua_absindex(L, idx), a);
}

int
luaopen_luassh_sftpcore(lua_State *L)
{
    new_class(L, SFTP_MT, core_methods, sc_gc);
    new_class(L, TICKET_MT, ticket_methods, ticket_gc);
    new_class(L, XFER_MT, xfer_methods, xfer_gc);
    luaL_newlib(L, funcs);
    lua_pushinteger(L, LSH_SFTP_MAX_BLOCK);
    lua_setfield(L, -2, "MAX_BLOCK");
    return 1;
}
