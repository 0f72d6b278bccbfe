/*
 * luassh.sftpservercore: the SFTP server core (src/ssh/sftp/server.c, over
 * the chrooted POSIX backend of fs_posix.c) as a Lua object, so that the
 * SSH server (lua/luassh/server_process.lua) can serve the "sftp"
 * subsystem on a channel: it reads channel data and hands it to
 * s:serve(ch, data), which writes the responses into the channel.
 *
 * IMPLEMENTATION NOTES (serving a channel: threads and flow control)
 *
 * Issue 7: "File I/O goes through libuv's thread pool so one slow disk
 * does not stall other sessions".  With the POSIX backend alone (no
 * method overrides), the loop thread only copies received bytes into the
 * core's input (lsh_sftp_server_put_input, no request handled; what does
 * not fit waits in `pend`), and once a whole request is there
 * (lsh_sftp_server_pending) a job on a worker (src/uvio/work.h) runs a
 * feed with no data: it answers every whole request, up to the output's
 * high-water mark (a batch).  The core and its filesystem object then
 * belong to that worker alone (`busy`): the loop thread does not touch
 * them until the job's done callback, and the serving task waits.  The
 * task reads no more channel data meanwhile, so the bytes the client
 * keeps sending stay in the channel's queue, unacknowledged, and the
 * channel window (RFC 4254 §5.2) bounds them.  On done the loop thread
 * sends the output, moves pending input in and starts the next batch.
 * A partial request costs no job, and while more input is already
 * queued on the channel it is taken first (up to IN_MAX), so that one job
 * answers several requests: a thread hop per WRITE would cost more than
 * the write to the page cache.
 *
 * Output goes from the core's buffer straight into the connection
 * (lsh_chan_write copies it into the SSH packets): no Lua string and no
 * channel queue in between.  What the window or the connection's send
 * buffer does not take stays in the core; the task waits on the
 * channel's drain queue, which LSH_EV_CHAN_WRITABLE wakes.  The core
 * takes no further requests while that output is above its high-water
 * mark (draft-02 §3), so memory stays bounded.
 *
 * What goes out is paced (lsh_sftp_pace, src/ssh/sftp/server.h): no more
 * in flight than about twice the measured bandwidth-delay product (512
 * KiB at least), even when the peer's window is larger.  OpenSSH's
 * sftp client is the reason: its ssh piles whatever the window lets in
 * into a buffer in front of sftp's pipe, and pays per byte more the
 * larger that pile, so a get that filled the 2 MiB window in one go ran
 * at half the speed of one from sshd.  Held back with window left, the
 * task asks the core (lsh_chan_notify_adjust) for the WRITABLE of the
 * next WINDOW_ADJUST, and waits on the drain queue as for a full window.
 *
 * Teardown: the object is a pointer to a malloc'd sftpsrv, so a job may
 * outlive the Lua object.  close/__gc during a job marks it orphaned
 * (and cancels the job if it has not started); the done callback then
 * closes the handles and frees it.  lsh_io_shutdown() waits for running
 * jobs, so a worker blocked for ever (a FIFO nobody writes) delays the
 * process's exit until the operation returns.
 *
 * With method overrides the core runs synchronously in the serving task
 * (the methods are Lua), and the output passes through `stage`, where
 * the error texts are substituted (below).
 *
 * IMPLEMENTATION NOTES (Lua overrides: sftp_factory returning a table)
 *
 * With a table of AsyncSSH SFTPServer methods (open, read, stat, scandir,
 * map_path, ...), the core runs over a "Lua backend": a vtable whose every
 * operation calls the table's method when it has one and otherwise falls
 * through to the POSIX backend (on the map_path'ed path).  A method set to
 * false answers SSH_FX_OP_UNSUPPORTED.  The method set is read once, when
 * the session starts.
 *
 * Calls are synchronous: the core is a sans-I/O state machine that makes
 * one backend call per request and appends its response at once, so a
 * method runs with lua_pcall inside s:feed() and cannot yield (a luassh
 * call that waits raises "Lua cannot yield here", which the client sees
 * as SSH_FX_FAILURE).  Every Lua step of a backend operation (method
 * lookup, call, argument and result conversion) runs inside one protected
 * call, so no Lua error ever unwinds through server.c; an error becomes a
 * status: an SFTPError (or any table with an SFTP `kind` or a `code`)
 * gives its code, mapped to SFTP v3's codes 1-8, anything else
 * SSH_FX_FAILURE.
 *
 * The error's text reaches the client as the STATUS message although the
 * backend contract carries only a code: when a call fails, the text is
 * queued with the output offset the request's response will start at (or,
 * for READDIR, lie across: that handler begins its NAME before calling the
 * backend), and s:feed() replaces the message of the STATUS response
 * covering that offset as it copies the output out.  Responses are always
 * whole packets in the core's output, so the copy frames them with the
 * codec.
 *
 * Lua file and directory objects are registry references inside small
 * wrappers (lfile, ldir); a wrapper made by the POSIX backend holds its
 * POSIX object instead, and the table's file methods are only called for
 * files its own `open` returned.  Closing runs the Lua `close` and `exit`
 * only from s:close(); __gc closes without calling Lua (STYLE.md).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_sftp.h"
#include "lua_bindings/sched.h"
#include "ssh/connection/channel.h"
#include "ssh/sftp/server.h"
#include "uvio/loop.h"
#include "uvio/work.h"

int luaopen_luassh_sftpservercore(lua_State *L);

#define SFTPSRV_MT "luassh.SFTPServerCore"
/* Output handed to Lua per feed call at most (about): backpressure. */
#define FEED_OUT_MAX ((size_t)1024 * 1024)
/* The core's input buffer: whole requests gathered for one job. */
#define IN_MAX ((size_t)1024 * 1024 + 4)
/* Longest error text sent back in a STATUS. */
#define MSG_MAX 512
/* Most entries a scandir iterator may produce for one directory. */
#define DIR_MAX 1000000
/* Most error texts waiting for their response (more are dropped). */
#define MSGQ_MAX 4096

#define FX_OK LSH_SFTP_FX_OK
#define FX_EOF LSH_SFTP_FX_EOF
#define FX_NOENT LSH_SFTP_FX_NO_SUCH_FILE
#define FX_FAIL LSH_SFTP_FX_FAILURE
#define FX_UNSUP LSH_SFTP_FX_OP_UNSUPPORTED

/* The overridable methods (AsyncSSH SFTPServer names). */
enum {
    M_OPEN, M_CLOSE, M_READ, M_WRITE, M_FSTAT, M_FSETSTAT, M_FSYNC,
    M_FSTATVFS, M_SCANDIR, M_LISTDIR, M_STAT, M_LSTAT, M_SETSTAT,
    M_LSETSTAT, M_REMOVE, M_MKDIR, M_RMDIR, M_RENAME, M_POSIX_RENAME,
    M_SYMLINK, M_LINK, M_STATVFS, M_REALPATH, M_READLINK, M_FORMAT_USER,
    M_FORMAT_GROUP, M_MAP_PATH, M_REVERSE_MAP_PATH, M_EXIT, M_COUNT
};

static const char *const method_names[M_COUNT] = {
    "open", "close", "read", "write", "fstat", "fsetstat", "fsync",
    "fstatvfs", "scandir", "listdir", "stat", "lstat", "setstat",
    "lsetstat", "remove", "mkdir", "rmdir", "rename", "posix_rename",
    "symlink", "link", "statvfs", "realpath", "readlink", "format_user",
    "format_group", "map_path", "reverse_map_path", "exit"};

/* has[]: absent (fall through), a callable, or false (unsupported). */
enum { H_NONE = 0, H_FUNC = 1, H_OFF = 2 };

typedef struct lmsg {
    uint64_t off; /* output offset the response covers */
    char *text;
} lmsg;

/* The Lua backend's context (the backend vtable's ctx). */
typedef struct lbe {
    lua_State *L;     /* the thread running the current s: call */
    int tref;         /* the server table, in the registry */
    unsigned char has[M_COUNT];
    lsh_sftp_backend posix;
    lsh_sftp_server *srv; /* NULL while closing */
    uint64_t out_base;    /* output bytes taken out of the core so far */
    int quiet;            /* __gc: call no Lua */
    int nomsg;            /* a nested call whose errors are not the reply's */
    lmsg *msgs;
    size_t head, n, cap;
    char *cur;   /* the message being substituted (owned) */
    lsh_buf tmp; /* the rewritten STATUS */
} lbe;

/* A file: a Lua object (ref) or a POSIX one. */
typedef struct lfile {
    int ref;
    void *posix;
} lfile;

/* A directory listed by Lua (ref: the entries) or by POSIX. */
typedef struct ldir {
    int ref;
    lua_Integer next;
    char *path; /* normalised client path, for the entries' lstat */
    void *posix;
} ldir;

/*
 * One session's server.  malloc'd, not the userdata itself: a job on the
 * thread pool holds it, and it must outlive a userdata collected while
 * the job runs (the job's done callback frees an orphaned one).
 */
typedef struct sftpsrv {
    lsh_sftp_server *s;
    lsh_sftp_fs *fs;
    lbe *be;          /* NULL: the POSIX backend alone (runs on the pool) */
    int busy;         /* a job runs: only the worker touches s and fs */
    int orphan;       /* closed while busy: the done callback frees it */
    lsh_io_job *job;  /* the job while busy */
    /* The serving task's waiter while it waits for the job: a wait on
     * the channel's state_q (so that the channel closing wakes it too),
     * woken by the job's end.  It lives on the task's stack: cleared
     * first thing whenever the task resumes. */
    llsh_waiter *qw;
    llsh_bytes pend;  /* input the core's input buffer could not take */
    int jr;           /* the core's sticky error, once seen */
    llsh_bytes stage; /* Lua backend: output with its error texts */
    lsh_sftp_pace pace; /* what may be in flight on the channel */
} sftpsrv;

/* Error texts and their responses */

static void
record_msg(lbe *be, const char *text)
{
    const uint8_t *p;
    size_t k;
    uint64_t off;
    char *t;
    if (be->srv == NULL || be->quiet || be->nomsg) {
        return;
    }
    lsh_sftp_server_out(be->srv, &p, &k);
    off = be->out_base + k;
    if ((t = strdup(text)) == NULL) {
        return;
    }
    /* Several calls for one request: the last failure is the reply's. */
    if (be->n > be->head && be->msgs[be->n - 1].off == off) {
        free(be->msgs[be->n - 1].text);
        be->msgs[be->n - 1].text = t;
        return;
    }
    if (be->n == be->cap && be->head > 0) {
        memmove(be->msgs, be->msgs + be->head,
                (be->n - be->head) * sizeof(*be->msgs));
        be->n -= be->head;
        be->head = 0;
    }
    if (be->n == be->cap) {
        size_t ncap = be->cap ? be->cap * 2 : 16;
        lmsg *m = ncap <= MSGQ_MAX ? realloc(be->msgs, ncap * sizeof(*m))
                                   : NULL;
        if (m == NULL) {
            free(t);
            return;
        }
        be->msgs = m;
        be->cap = ncap;
    }
    be->msgs[be->n].off = off;
    be->msgs[be->n++].text = t;
}

/* The text for the response spanning output offsets [start, end), or
 * NULL; drops every text before end. */
static const char *
take_msg(lbe *be, uint64_t start, uint64_t end)
{
    free(be->cur);
    be->cur = NULL;
    while (be->head < be->n && be->msgs[be->head].off < end) {
        if (be->msgs[be->head].off >= start) {
            free(be->cur);
            be->cur = be->msgs[be->head].text;
        } else {
            free(be->msgs[be->head].text);
        }
        be->head++;
    }
    if (be->head == be->n) {
        be->head = be->n = 0;
    }
    return be->cur;
}

/* Adds one response packet to out, with msg as its message if it is a
 * failed STATUS (draft-02 §7). */
static int
add_packet(llsh_bytes *out, lbe *be, const uint8_t *p, size_t used,
           const uint8_t *pkt, size_t len, const char *msg)
{
    lsh_sftp_response resp;
    if (msg != NULL && lsh_sftp_response_decode(pkt, len, &resp) == 0 &&
        resp.type == LSH_SFTP_STATUS && resp.code != FX_OK) {
        lsh_buf_reset(&be->tmp);
        if (lsh_sftp_put_status(&be->tmp, resp.id, resp.code, msg) == 0) {
            return llsh_bytes_put(out, lsh_buf_ptr(&be->tmp),
                                  lsh_buf_len(&be->tmp));
        }
    }
    return llsh_bytes_put(out, p, used);
}

/* Copies k bytes of the core's output (whole packets) into out,
 * substituting the queued error texts; 0 or LSH_ENOMEM. */
static int
emit(llsh_bytes *out, lbe *be, const uint8_t *p, size_t k)
{
    size_t pos = 0;
    int r = 0;
    if (be == NULL || be->head == be->n) {
        if (be != NULL) {
            be->out_base += k;
        }
        return llsh_bytes_put(out, p, k);
    }
    while (pos < k && r == 0) {
        const uint8_t *pkt;
        size_t len, used;
        uint64_t start = be->out_base + pos;
        if (lsh_sftp_frame(p + pos, k - pos, LSH_SFTP_MAX_PACKET, &pkt, &len,
                           &used) != 1) {
            r = llsh_bytes_put(out, p + pos, k - pos);
            break;
        }
        r = add_packet(out, be, p + pos, used, pkt, len,
                       take_msg(be, start, start + used));
        pos += used;
    }
    be->out_base += k;
    return r;
}

/* Protected Lua calls */

enum { A_STR, A_LSTR, A_INT, A_ATTRS, A_REF };
enum { R_NONE, R_ATTRS, R_STR, R_DATA, R_REF, R_VFS, R_DIR, R_ENTRY };

typedef struct larg {
    int kind;
    const char *s;
    size_t n;
    lua_Integer i;
    const lsh_sftp_attrs *a;
} larg;

/* One call of a method (m >= 0) or one step with no method (R_ENTRY). */
typedef struct lcall {
    lbe *be;
    int m;
    int want;
    larg args[4];
    int nargs;
    /* results */
    int nil;              /* the method returned nil: fall through */
    lsh_sftp_attrs *aout; /* R_ATTRS, R_ENTRY */
    lsh_sftp_statvfs *vout;
    uint8_t *buf;         /* R_DATA: up to len bytes into buf */
    size_t len, got;
    char *sout;           /* R_STR: malloc'd */
    int newref;           /* R_REF, R_DIR */
    lsh_sftp_dirent *ent; /* R_ENTRY: ref, index in args[0].i, [1].i */
    int has_attrs;
} lcall;

static void
call_init(lcall *c, lbe *be, int m, int want)
{
    memset(c, 0, sizeof(*c));
    c->be = be;
    c->m = m;
    c->want = want;
    c->newref = LUA_NOREF;
}

static void
arg_str(lcall *c, const char *s)
{
    c->args[c->nargs].kind = A_STR;
    c->args[c->nargs++].s = s;
}

static void
arg_lstr(lcall *c, const uint8_t *p, size_t n)
{
    c->args[c->nargs].kind = A_LSTR;
    c->args[c->nargs].s = (const char *)p;
    c->args[c->nargs++].n = n;
}

static void
arg_int(lcall *c, lua_Integer i)
{
    c->args[c->nargs].kind = A_INT;
    c->args[c->nargs++].i = i;
}

static void
arg_attrs(lcall *c, const lsh_sftp_attrs *a)
{
    c->args[c->nargs].kind = A_ATTRS;
    c->args[c->nargs++].a = a;
}

static void
arg_ref(lcall *c, int ref)
{
    c->args[c->nargs].kind = A_REF;
    c->args[c->nargs++].i = ref;
}

/* S_IFMT bits of a FILEXFER_TYPE_* (as the client's attrs.type). */
static uint32_t
type_bits(lua_Integer t)
{
    switch (t) {
    case 1: return S_IFREG;
    case 2: return S_IFDIR;
    case 3: return S_IFLNK;
    case 6: return S_IFSOCK;
    case 7: return S_IFCHR;
    case 8: return S_IFBLK;
    case 9: return S_IFIFO;
    default: return 0;
    }
}

/* Reads an attrs table returned by Lua; `type` fills in the file type
 * bits of permissions (SFTP v3 carries the type there). */
static void
to_attrs(lua_State *L, int idx, const char *what, lsh_sftp_attrs *a)
{
    uint32_t bits;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        luaL_error(L, "%s must return an attributes table, not %s", what,
                   luaL_typename(L, idx));
    }
    llsh_sftp_check_attrs(L, idx, a);
    lua_getfield(L, idx, "type");
    bits = type_bits(lua_tointeger(L, -1));
    lua_pop(L, 1);
    if (bits != 0 && !(a->flags & LSH_SFTP_ATTR_PERMISSIONS)) {
        a->flags |= LSH_SFTP_ATTR_PERMISSIONS;
        a->perms = bits;
    } else if (bits != 0 && (a->perms & S_IFMT) == 0) {
        a->perms |= bits;
    }
}

static uint64_t
vfs_field(lua_State *L, int idx, const char *k)
{
    lua_Integer v;
    int isnum;
    lua_getfield(L, idx, k);
    v = lua_tointegerx(L, -1, &isnum);
    if (!lua_isnil(L, -1) && (!isnum || v < 0)) {
        luaL_error(L, "statvfs field %s must be a non-negative integer", k);
    }
    lua_pop(L, 1);
    return isnum ? (uint64_t)v : 0;
}

/* AsyncSSH's SFTPVFSAttrs fields ("flag" or "flags"). */
static void
to_vfs(lua_State *L, int idx, const char *what, lsh_sftp_statvfs *s)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        luaL_error(L, "%s must return a table, not %s", what,
                   luaL_typename(L, idx));
    }
    s->bsize = vfs_field(L, idx, "bsize");
    s->frsize = vfs_field(L, idx, "frsize");
    s->blocks = vfs_field(L, idx, "blocks");
    s->bfree = vfs_field(L, idx, "bfree");
    s->bavail = vfs_field(L, idx, "bavail");
    s->files = vfs_field(L, idx, "files");
    s->ffree = vfs_field(L, idx, "ffree");
    s->favail = vfs_field(L, idx, "favail");
    s->fsid = vfs_field(L, idx, "fsid");
    s->flag = vfs_field(L, idx, "flag") | vfs_field(L, idx, "flags");
    s->namemax = vfs_field(L, idx, "namemax");
}

/* [-3, +1] Collects what an iterator triple (f, s, ctl) produces. */
static void
collect(lua_State *L)
{
    lua_Integer i = 0;
    lua_createtable(L, 16, 0); /* f s ctl t */
    for (;;) {
        lua_pushvalue(L, -4);
        lua_pushvalue(L, -4);
        lua_pushvalue(L, -4);
        lua_call(L, 2, 1); /* f s ctl t v */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
        }
        if (++i > DIR_MAX) {
            luaL_error(L, "scandir produced more than %d entries", DIR_MAX);
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, i);
        lua_replace(L, -3); /* ctl = v */
    }
    lua_replace(L, -4);
    lua_pop(L, 2);
}

/* R_ENTRY: entry i of a Lua directory into c->ent. */
static int
entry_body(lua_State *L, lcall *c)
{
    size_t n;
    const char *name;
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)c->args[0].i);
    lua_rawgeti(L, -1, c->args[1].i);
    if (lua_isnil(L, -1)) {
        c->nil = 1;
        return 0;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        name = lua_tolstring(L, -1, &n);
    } else if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "filename");
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "scandir entries need a string filename");
        }
        name = lua_tolstring(L, -1, &n);
        lua_getfield(L, -2, "attrs");
        if (!lua_isnil(L, -1)) {
            to_attrs(L, -1, "scandir (attrs)", c->aout);
            c->has_attrs = 1;
        }
        lua_pop(L, 1);
    } else {
        return luaL_error(L, "scandir entries are names or tables, not %s",
                          luaL_typename(L, -1));
    }
    if (n == 0 || n >= sizeof(c->ent->name) || memchr(name, 0, n) != NULL) {
        return luaL_error(L, "bad scandir filename (empty, too long or "
                             "with a NUL)");
    }
    memcpy(c->ent->name, name, n);
    c->ent->name[n] = '\0';
    return 0;
}

static void
push_args(lua_State *L, lcall *c)
{
    for (int i = 0; i < c->nargs; i++) {
        const larg *a = &c->args[i];
        switch (a->kind) {
        case A_STR:
            lua_pushstring(L, a->s);
            break;
        case A_LSTR:
            lua_pushlstring(L, a->s, a->n);
            break;
        case A_INT:
            lua_pushinteger(L, a->i);
            break;
        case A_ATTRS:
            llsh_sftp_push_attrs(L, a->a);
            break;
        case A_REF:
            lua_rawgeti(L, LUA_REGISTRYINDEX, (int)a->i);
            break;
        }
    }
}

/* Converts the result at the top of the stack as c->want says. */
static void
take_result(lua_State *L, lcall *c, const char *name)
{
    size_t n;
    const char *s;
    if (lua_isnil(L, -1) && c->want != R_NONE) {
        c->nil = 1;
        return;
    }
    switch (c->want) {
    case R_ATTRS:
        to_attrs(L, -1, name, c->aout);
        break;
    case R_VFS:
        to_vfs(L, -1, name, c->vout);
        break;
    case R_STR:
    case R_DATA:
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "%s must return a string, not %s", name,
                       luaL_typename(L, -1));
        }
        s = lua_tolstring(L, -1, &n);
        if (c->want == R_DATA) {
            c->got = n < c->len ? n : c->len;
            memcpy(c->buf, s, c->got);
        } else if (memchr(s, 0, n) != NULL) {
            luaL_error(L, "%s returned a string with a NUL", name);
        } else if ((c->sout = strdup(s)) == NULL) {
            luaL_error(L, "out of memory");
        }
        break;
    case R_REF:
        c->newref = luaL_ref(L, LUA_REGISTRYINDEX);
        break;
    }
}

/* The protected body: [lightuserdata lcall] */
static int
call_body(lua_State *L)
{
    lcall *c = lua_touserdata(L, 1);
    const char *name = c->m >= 0 ? method_names[c->m] : "scandir";
    luaL_checkstack(L, 24, "SFTP server override");
    if (c->want == R_ENTRY) {
        return entry_body(L, c);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->be->tref);
    lua_getfield(L, -1, name);
    lua_insert(L, -2); /* method, self */
    push_args(L, c);
    if (c->want == R_DIR) {
        lua_call(L, c->nargs + 1, 3);
        if (lua_isnil(L, -3)) {
            c->nil = 1;
            return 0;
        }
        if (lua_isfunction(L, -3)) {
            collect(L); /* an iterator */
        } else if (!lua_istable(L, -3)) {
            return luaL_error(L, "%s must return a list or an iterator, "
                                 "not %s", name, luaL_typename(L, -3));
        } else {
            lua_pop(L, 2);
        }
        c->newref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    lua_call(L, c->nargs + 1, 1);
    take_result(L, c, name);
    return 0;
}

/* SFTPError kinds by code (lua/luassh/sftp.lua's KINDS), for errors raised
 * with a kind and no code. */
static const char *const kind_names[] = {
    NULL, "SFTPEOFError", "SFTPNoSuchFile", "SFTPPermissionDenied",
    "SFTPFailure", "SFTPBadMessage", "SFTPNoConnection",
    "SFTPConnectionLost", "SFTPOpUnsupported", "SFTPInvalidHandle",
    "SFTPNoSuchPath", "SFTPFileAlreadyExists", "SFTPWriteProtect",
    "SFTPNoMedia", "SFTPNoSpaceOnFilesystem", "SFTPQuotaExceeded",
    "SFTPUnknownPrincipal", "SFTPLockConflict", "SFTPDirNotEmpty",
    "SFTPNotADirectory", "SFTPInvalidFilename", "SFTPLinkLoop",
    "SFTPCannotDelete", "SFTPInvalidParameter", "SFTPFileIsADirectory",
    "SFTPByteRangeLockConflict", "SFTPByteRangeLockRefused",
    "SFTPDeletePending", "SFTPFileCorrupt", "SFTPOwnerInvalid",
    "SFTPGroupInvalid", "SFTPNoMatchingByteRangeLock"};
#define NKINDS ((int)(sizeof(kind_names) / sizeof(kind_names[0])))

/* We speak SFTP v3 (draft-02 §7: codes 0-8): later codes go to the
 * nearest v3 one; the error's text keeps the detail. */
static int
v3_code(lua_Integer code)
{
    switch (code) {
    case 10: /* NO_SUCH_PATH */
    case 19: /* NOT_A_DIRECTORY */
        return FX_NOENT;
    case 12: /* WRITE_PROTECT */
    case 22: /* CANNOT_DELETE */
        return LSH_SFTP_FX_PERMISSION_DENIED;
    default:
        return code >= 1 && code <= 8 ? (int)code : FX_FAIL;
    }
}

struct econv {
    int code;
    char msg[MSG_MAX];
};

static const char *
raw_string(lua_State *L, int t, const char *k)
{
    lua_pushstring(L, k);
    lua_rawget(L, t);
    return lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
}

/* Protected: [error value, lightuserdata econv].  Reads raw fields only,
 * so no metamethod of the error runs. */
static int
econv_body(lua_State *L)
{
    struct econv *e = lua_touserdata(L, 2);
    const char *kind, *base, *reason;
    lua_Integer code;
    int isnum, sftpish;
    switch (lua_type(L, 1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
        snprintf(e->msg, sizeof(e->msg), "%s", lua_tostring(L, 1));
        return 0;
    case LUA_TTABLE:
        break;
    default:
        snprintf(e->msg, sizeof(e->msg), "error object is a %s value",
                 luaL_typename(L, 1));
        return 0;
    }
    kind = raw_string(L, 1, "kind");
    base = raw_string(L, 1, "base");
    reason = raw_string(L, 1, "reason");
    lua_pushliteral(L, "code");
    lua_rawget(L, 1);
    code = lua_tointegerx(L, -1, &isnum);
    sftpish = kind == NULL || strncmp(kind, "SFTP", 4) == 0 ||
              (base != NULL && strcmp(base, "SFTPError") == 0);
    if (sftpish && isnum) {
        e->code = v3_code(code);
    } else if (kind != NULL) {
        for (int i = 1; i < NKINDS; i++) {
            if (strcmp(kind, kind_names[i]) == 0) {
                e->code = v3_code(i);
            }
        }
    }
    if (sftpish || reason == NULL) {
        snprintf(e->msg, sizeof(e->msg), "%s",
                 reason != NULL ? reason : kind != NULL ? kind : "error");
    } else {
        snprintf(e->msg, sizeof(e->msg), "%s: %s", kind, reason);
    }
    return 0;
}

/* [-1, +0] The status for the error at the top; queues its text. */
static int
error_status(lbe *be, lua_State *L)
{
    struct econv e;
    e.code = FX_FAIL;
    snprintf(e.msg, sizeof(e.msg), "error in an SFTP server override");
    if (lua_checkstack(L, 4)) {
        lua_pushcfunction(L, econv_body);
        lua_pushvalue(L, -2);
        lua_pushlightuserdata(L, &e);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    record_msg(be, e.msg);
    return e.code;
}

/* Runs c in protected mode; returns its status (FX_OK: see c's results). */
static int
call_lua(lbe *be, lcall *c)
{
    lua_State *L = be->L;
    int top, st = FX_OK;
    if (be->quiet || L == NULL) {
        return FX_FAIL;
    }
    top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) {
        record_msg(be, "Lua stack overflow");
        return FX_FAIL;
    }
    lua_pushcfunction(L, call_body);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        st = error_status(be, L);
    }
    lua_settop(L, top);
    if (st != FX_OK) {
        free(c->sout);
        c->sout = NULL;
    }
    return st;
}

/* Paths */

/* The client path made absolute and normalised (*n, malloc'd; kept if
 * already computed), as the POSIX backend sees it: from the home
 * directory, with no "." or "..". */
static int
norm_of(lbe *be, const char *path, char **n)
{
    if (*n != NULL) {
        return FX_OK;
    }
    return be->posix.realpath(be->posix.ctx, path, 0, n);
}

/* map_path or reverse_map_path of p into *out (malloc'd).  nil: the path
 * does not exist for this client. */
static int
map_call(lbe *be, int m, const char *p, char **out)
{
    lcall c;
    int st;
    call_init(&c, be, m, R_STR);
    arg_str(&c, p);
    if ((st = call_lua(be, &c)) != FX_OK) {
        return st;
    }
    if (c.nil) {
        return FX_NOENT;
    }
    *out = c.sout;
    return FX_OK;
}

/* The path for the POSIX backend: *lp stays NULL (use path) without
 * map_path, else map_path(normalised path). */
static int
local_of(lbe *be, const char *path, char **n, char **lp)
{
    int st;
    *lp = NULL;
    if (be->has[M_MAP_PATH] != H_FUNC) {
        return FX_OK;
    }
    if ((st = norm_of(be, path, n)) != FX_OK) {
        return st;
    }
    return map_call(be, M_MAP_PATH, *n, lp);
}

#define LOCAL(path, lp) ((lp) != NULL ? (const char *)(lp) : (path))

/* Calls method m on the normalised path (and attrs a when given). */
static int
call_path(lbe *be, lcall *c, const char *path, char **n,
          const lsh_sftp_attrs *a)
{
    int st;
    if ((st = norm_of(be, path, n)) != FX_OK) {
        return st;
    }
    arg_str(c, *n);
    if (a != NULL) {
        arg_attrs(c, a);
    }
    return call_lua(be, c);
}

/* Files (draft-02 §6.3-6.4, §6.8) */

static int
lbe_open(void *ctx, const char *path, uint32_t pflags,
         const lsh_sftp_attrs *a, void **file)
{
    lbe *be = ctx;
    lfile *f = calloc(1, sizeof(*f));
    char *n = NULL, *lp = NULL;
    int st = FX_OK;
    lcall c;
    if (f == NULL) {
        return FX_FAIL;
    }
    f->ref = LUA_NOREF;
    if (be->has[M_OPEN] == H_OFF) {
        st = FX_UNSUP;
        goto out;
    }
    if (be->has[M_OPEN] == H_FUNC) {
        call_init(&c, be, M_OPEN, R_REF);
        if ((st = norm_of(be, path, &n)) != FX_OK) {
            goto out;
        }
        arg_str(&c, n);
        arg_int(&c, pflags);
        arg_attrs(&c, a);
        if ((st = call_lua(be, &c)) != FX_OK || !c.nil) {
            f->ref = c.newref;
            goto out;
        }
    }
    if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = be->posix.open(be->posix.ctx, LOCAL(path, lp), pflags, a,
                            &f->posix);
    }
out:
    free(n);
    free(lp);
    if (st != FX_OK) {
        if (f->ref != LUA_NOREF) {
            luaL_unref(be->L, LUA_REGISTRYINDEX, f->ref);
        }
        free(f);
        return st;
    }
    *file = f;
    return FX_OK;
}

static void
unref(lbe *be, int ref)
{
    if (ref != LUA_NOREF && be->L != NULL && lua_checkstack(be->L, 2)) {
        luaL_unref(be->L, LUA_REGISTRYINDEX, ref);
    }
}

static int
lbe_close(void *ctx, void *file)
{
    lbe *be = ctx;
    lfile *f = file;
    int st = FX_OK;
    lcall c;
    if (f->ref == LUA_NOREF) {
        st = be->posix.close(be->posix.ctx, f->posix);
    } else {
        if (be->has[M_CLOSE] == H_FUNC && !be->quiet) {
            call_init(&c, be, M_CLOSE, R_NONE);
            arg_ref(&c, f->ref);
            st = call_lua(be, &c);
        }
        unref(be, f->ref);
    }
    free(f);
    return st;
}

/* A method on a Lua file: the table's, or OP_UNSUPPORTED. */
static int
file_call(lbe *be, lcall *c, lfile *f)
{
    if (be->has[c->m] != H_FUNC) {
        return FX_UNSUP;
    }
    arg_ref(c, f->ref);
    return call_lua(be, c);
}

static int
lbe_read(void *ctx, void *file, uint64_t off, uint8_t *buf, size_t len,
         size_t *got)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    int st;
    if (f->ref == LUA_NOREF) {
        return be->posix.read(be->posix.ctx, f->posix, off, buf, len, got);
    }
    call_init(&c, be, M_READ, R_DATA);
    c.buf = buf;
    c.len = len;
    if (be->has[M_READ] != H_FUNC) {
        return FX_UNSUP;
    }
    arg_ref(&c, f->ref);
    arg_int(&c, (lua_Integer)off); /* server.c: off + len <= INT64_MAX */
    arg_int(&c, (lua_Integer)len);
    st = call_lua(be, &c);
    *got = c.got; /* nil or "": end of file */
    return st;
}

static int
lbe_write(void *ctx, void *file, uint64_t off, const uint8_t *p, size_t n)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    if (f->ref == LUA_NOREF) {
        return be->posix.write(be->posix.ctx, f->posix, off, p, n);
    }
    if (be->has[M_WRITE] != H_FUNC) {
        return FX_UNSUP;
    }
    call_init(&c, be, M_WRITE, R_NONE);
    arg_ref(&c, f->ref);
    arg_int(&c, (lua_Integer)off);
    arg_lstr(&c, p, n);
    return call_lua(be, &c);
}

static int
lbe_fstat(void *ctx, void *file, lsh_sftp_attrs *a)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    int st;
    if (f->ref == LUA_NOREF) {
        return be->posix.fstat(be->posix.ctx, f->posix, a);
    }
    call_init(&c, be, M_FSTAT, R_ATTRS);
    c.aout = a;
    if ((st = file_call(be, &c, f)) == FX_OK && c.nil) {
        st = FX_UNSUP;
    }
    return st;
}

static int
lbe_fsetstat(void *ctx, void *file, const lsh_sftp_attrs *a)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    if (f->ref == LUA_NOREF) {
        return be->posix.fsetstat(be->posix.ctx, f->posix, a);
    }
    call_init(&c, be, M_FSETSTAT, R_NONE);
    if (be->has[M_FSETSTAT] != H_FUNC) {
        return FX_UNSUP;
    }
    arg_ref(&c, f->ref);
    arg_attrs(&c, a);
    return call_lua(be, &c);
}

static int
lbe_fsync(void *ctx, void *file)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    if (f->ref == LUA_NOREF) {
        return be->posix.fsync(be->posix.ctx, f->posix);
    }
    /* A Lua file with no fsync has nothing to flush. */
    if (be->has[M_FSYNC] == H_NONE) {
        return FX_OK;
    }
    call_init(&c, be, M_FSYNC, R_NONE);
    return file_call(be, &c, f);
}

static int
lbe_fstatvfs(void *ctx, void *file, lsh_sftp_statvfs *s)
{
    lbe *be = ctx;
    lfile *f = file;
    lcall c;
    int st;
    if (f->ref == LUA_NOREF) {
        return be->posix.fstatvfs(be->posix.ctx, f->posix, s);
    }
    call_init(&c, be, M_FSTATVFS, R_VFS);
    c.vout = s;
    if ((st = file_call(be, &c, f)) == FX_OK && c.nil) {
        st = FX_UNSUP;
    }
    return st;
}

/* Directories (draft-02 §6.7): scandir (or listdir) lists them all at
 * OPENDIR; READDIR walks the list. */

static int
lbe_opendir(void *ctx, const char *path, void **out)
{
    lbe *be = ctx;
    ldir *d = calloc(1, sizeof(*d));
    int m = be->has[M_SCANDIR] != H_NONE ? M_SCANDIR : M_LISTDIR;
    char *n = NULL, *lp = NULL;
    int st = FX_OK;
    lcall c;
    if (d == NULL) {
        return FX_FAIL;
    }
    d->ref = LUA_NOREF;
    d->next = 1;
    if (be->has[m] == H_OFF) {
        st = FX_UNSUP;
        goto out;
    }
    if (be->has[m] == H_FUNC) {
        call_init(&c, be, m, R_DIR);
        if ((st = call_path(be, &c, path, &n, NULL)) != FX_OK || !c.nil) {
            d->ref = c.newref;
            d->path = n;
            n = NULL;
            goto out;
        }
    }
    if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = be->posix.opendir(be->posix.ctx, LOCAL(path, lp), &d->posix);
    }
out:
    free(n);
    free(lp);
    if (st != FX_OK) {
        unref(be, d->ref);
        free(d->path);
        free(d);
        return st;
    }
    *out = d;
    return FX_OK;
}

static int lbe_stat(void *ctx, const char *path, int follow,
                    lsh_sftp_attrs *a);

static int
lbe_readdir(void *ctx, void *dir, lsh_sftp_dirent *e)
{
    lbe *be = ctx;
    ldir *d = dir;
    lcall c;
    char *full;
    size_t pl;
    int st;
    if (d->ref == LUA_NOREF) {
        return be->posix.readdir(be->posix.ctx, d->posix, e);
    }
    call_init(&c, be, -1, R_ENTRY);
    c.ent = e;
    c.aout = &e->attrs;
    arg_int(&c, d->ref);
    arg_int(&c, d->next);
    if ((st = call_lua(be, &c)) != FX_OK) {
        return st;
    }
    if (c.nil) {
        return FX_EOF;
    }
    d->next++;
    e->nlink = 1;
    if (c.has_attrs) {
        return FX_OK;
    }
    /* A bare name: its attributes are lstat's, as in AsyncSSH's
     * default scandir. */
    pl = strlen(d->path);
    if ((full = malloc(pl + strlen(e->name) + 2)) == NULL) {
        return FX_FAIL;
    }
    snprintf(full, pl + strlen(e->name) + 2, "%s%s%s", d->path,
             d->path[pl - 1] == '/' ? "" : "/", e->name);
    be->nomsg++;
    if (lbe_stat(ctx, full, 0, &e->attrs) != FX_OK) {
        memset(&e->attrs, 0, sizeof(e->attrs));
    }
    be->nomsg--;
    free(full);
    return FX_OK;
}

static int
lbe_closedir(void *ctx, void *dir)
{
    lbe *be = ctx;
    ldir *d = dir;
    int st = FX_OK;
    if (d->ref == LUA_NOREF) {
        st = be->posix.closedir(be->posix.ctx, d->posix);
    }
    unref(be, d->ref);
    free(d->path);
    free(d);
    return st;
}

/* Paths (draft-02 §6.5-6.6, §6.8-6.10) */

/* stat/lstat: lstat falls back to the table's stat when it has none. */
static int
lbe_stat(void *ctx, const char *path, int follow, lsh_sftp_attrs *a)
{
    lbe *be = ctx;
    int m = (follow || be->has[M_LSTAT] == H_NONE) ? M_STAT : M_LSTAT;
    char *n = NULL, *lp = NULL;
    int st;
    lcall c;
    if (be->has[m] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[m] == H_FUNC) {
        call_init(&c, be, m, R_ATTRS);
        c.aout = a;
        if ((st = call_path(be, &c, path, &n, NULL)) != FX_OK || !c.nil) {
            free(n);
            return st;
        }
        memset(a, 0, sizeof(*a));
    }
    if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = be->posix.stat(be->posix.ctx, LOCAL(path, lp), follow, a);
    }
    free(n);
    free(lp);
    return st;
}

/* The POSIX operation of a one-path method, on the local path. */
static int
posix1(lbe *be, int m, const char *lp, const lsh_sftp_attrs *a)
{
    void *x = be->posix.ctx;
    switch (m) {
    case M_REMOVE:
        return be->posix.remove(x, lp);
    case M_MKDIR:
        return be->posix.mkdir(x, lp, a);
    case M_RMDIR:
        return be->posix.rmdir(x, lp);
    case M_SETSTAT:
        return be->posix.setstat(x, lp, 1, a);
    case M_LSETSTAT:
        return be->posix.setstat(x, lp, 0, a);
    default:
        return FX_UNSUP;
    }
}

/* remove, mkdir, rmdir, setstat, lsetstat: the table's method (its
 * return value is not used), else POSIX. */
static int
path1(lbe *be, int m, int lua_m, const char *path, const lsh_sftp_attrs *a)
{
    char *n = NULL, *lp = NULL;
    int st;
    lcall c;
    if (be->has[lua_m] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[lua_m] == H_FUNC) {
        call_init(&c, be, lua_m, R_NONE);
        st = call_path(be, &c, path, &n, a);
    } else if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = posix1(be, m, LOCAL(path, lp), a);
    }
    free(n);
    free(lp);
    return st;
}

static int
lbe_setstat(void *ctx, const char *path, int follow, const lsh_sftp_attrs *a)
{
    lbe *be = ctx;
    int m = follow ? M_SETSTAT : M_LSETSTAT;
    int lua_m = (follow || be->has[M_LSETSTAT] == H_NONE) ? M_SETSTAT
                                                           : M_LSETSTAT;
    return path1(be, m, lua_m, path, a);
}

static int
lbe_remove(void *ctx, const char *path)
{
    return path1(ctx, M_REMOVE, M_REMOVE, path, NULL);
}

static int
lbe_mkdir(void *ctx, const char *path, const lsh_sftp_attrs *a)
{
    return path1(ctx, M_MKDIR, M_MKDIR, path, a);
}

static int
lbe_rmdir(void *ctx, const char *path)
{
    return path1(ctx, M_RMDIR, M_RMDIR, path, NULL);
}

/* rename, posix_rename (falls back to the table's rename), link. */
static int
path2(lbe *be, int m, int lua_m, const char *p1, const char *p2)
{
    char *n1 = NULL, *n2 = NULL, *l1 = NULL, *l2 = NULL;
    int st;
    lcall c;
    if (be->has[lua_m] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[lua_m] == H_FUNC) {
        call_init(&c, be, lua_m, R_NONE);
        if ((st = norm_of(be, p1, &n1)) == FX_OK &&
            (st = norm_of(be, p2, &n2)) == FX_OK) {
            arg_str(&c, n1);
            arg_str(&c, n2);
            st = call_lua(be, &c);
        }
    } else if ((st = local_of(be, p1, &n1, &l1)) == FX_OK &&
               (st = local_of(be, p2, &n2, &l2)) == FX_OK) {
        void *x = be->posix.ctx;
        st = m == M_LINK ? be->posix.link(x, LOCAL(p1, l1), LOCAL(p2, l2))
                         : be->posix.rename(x, LOCAL(p1, l1), LOCAL(p2, l2),
                                            m == M_POSIX_RENAME);
    }
    free(n1);
    free(n2);
    free(l1);
    free(l2);
    return st;
}

static int
lbe_rename(void *ctx, const char *oldp, const char *newp, int posix)
{
    lbe *be = ctx;
    int lua_m = M_RENAME;
    if (posix && be->has[M_POSIX_RENAME] != H_NONE) {
        lua_m = M_POSIX_RENAME;
    }
    return path2(be, posix ? M_POSIX_RENAME : M_RENAME, lua_m, oldp, newp);
}

static int
lbe_link(void *ctx, const char *oldp, const char *newp)
{
    return path2(ctx, M_LINK, M_LINK, oldp, newp);
}

/* The directory part of a normalised path ("/a/b" -> "/a"), malloc'd. */
static char *
dir_of(const char *n)
{
    const char *slash = strrchr(n, '/');
    size_t k = slash != NULL && slash != n ? (size_t)(slash - n) : 1;
    char *d = malloc(k + 1);
    if (d != NULL) {
        memcpy(d, n, k);
        d[k] = '\0';
    }
    return d;
}

/* symlink(target, linkpath): the target is link content, passed to the
 * table as sent.  With map_path, the POSIX link gets the mapped target
 * (a relative one is resolved from the link's directory first). */
static int
lbe_symlink(void *ctx, const char *target, const char *linkpath)
{
    lbe *be = ctx;
    char *n = NULL, *lp = NULL, *tn = NULL, *tl = NULL, *joined = NULL;
    int st;
    lcall c;
    if (be->has[M_SYMLINK] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[M_SYMLINK] == H_FUNC) {
        call_init(&c, be, M_SYMLINK, R_NONE);
        arg_str(&c, target);
        st = call_path(be, &c, linkpath, &n, NULL);
        free(n);
        return st;
    }
    if (be->has[M_MAP_PATH] != H_FUNC) {
        return be->posix.symlink(be->posix.ctx, target, linkpath);
    }
    if ((st = local_of(be, linkpath, &n, &lp)) != FX_OK) {
        goto out;
    }
    if (target[0] != '/') {
        char *d = dir_of(n);
        size_t k = d != NULL ? strlen(d) + strlen(target) + 2 : 0;
        if (d == NULL || (joined = malloc(k)) == NULL) {
            free(d);
            st = FX_FAIL;
            goto out;
        }
        snprintf(joined, k, "%s/%s", d, target);
        free(d);
    }
    if ((st = norm_of(be, joined != NULL ? joined : target, &tn)) == FX_OK &&
        (st = map_call(be, M_MAP_PATH, tn, &tl)) == FX_OK) {
        st = be->posix.symlink(be->posix.ctx, tl, lp);
    }
out:
    free(n);
    free(lp);
    free(tn);
    free(tl);
    free(joined);
    return st;
}

static int
lbe_statvfs(void *ctx, const char *path, lsh_sftp_statvfs *s)
{
    lbe *be = ctx;
    char *n = NULL, *lp = NULL;
    int st;
    lcall c;
    if (be->has[M_STATVFS] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[M_STATVFS] == H_FUNC) {
        call_init(&c, be, M_STATVFS, R_VFS);
        c.vout = s;
        if ((st = call_path(be, &c, path, &n, NULL)) != FX_OK || !c.nil) {
            free(n);
            return st;
        }
        memset(s, 0, sizeof(*s));
    }
    if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = be->posix.statvfs(be->posix.ctx, LOCAL(path, lp), s);
    }
    free(n);
    free(lp);
    return st;
}

/* realpath: the table's (given the path as sent), else the normalised
 * client path; with map_path and reverse_map_path, the local realpath
 * of the mapped path mapped back, as AsyncSSH's default does. */
static int
lbe_realpath(void *ctx, const char *path, int expand, char **out)
{
    lbe *be = ctx;
    char *n = NULL, *m = NULL, *r = NULL;
    int st;
    lcall c;
    if (be->has[M_REALPATH] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[M_REALPATH] == H_FUNC) {
        call_init(&c, be, M_REALPATH, R_STR);
        arg_str(&c, path);
        if ((st = call_lua(be, &c)) != FX_OK || !c.nil) {
            *out = c.sout;
            return st;
        }
    }
    if ((st = be->posix.realpath(be->posix.ctx, path, expand, &n)) !=
            FX_OK ||
        be->has[M_MAP_PATH] != H_FUNC ||
        be->has[M_REVERSE_MAP_PATH] != H_FUNC) {
        *out = n;
        return st;
    }
    if ((st = map_call(be, M_MAP_PATH, n, &m)) == FX_OK &&
        (st = be->posix.realpath(be->posix.ctx, m, 0, &r)) == FX_OK) {
        st = map_call(be, M_REVERSE_MAP_PATH, r, out);
    }
    free(n);
    free(m);
    free(r);
    return st;
}

/* readlink: the table's, else POSIX's, an absolute target mapped back
 * with reverse_map_path. */
static int
lbe_readlink(void *ctx, const char *path, char **out)
{
    lbe *be = ctx;
    char *n = NULL, *lp = NULL, *res = NULL;
    int st;
    lcall c;
    if (be->has[M_READLINK] == H_OFF) {
        return FX_UNSUP;
    }
    if (be->has[M_READLINK] == H_FUNC) {
        call_init(&c, be, M_READLINK, R_STR);
        if ((st = call_path(be, &c, path, &n, NULL)) != FX_OK || !c.nil) {
            free(n);
            *out = c.sout;
            return st;
        }
    }
    if ((st = local_of(be, path, &n, &lp)) == FX_OK) {
        st = be->posix.readlink(be->posix.ctx, LOCAL(path, lp), &res);
    }
    free(n);
    free(lp);
    if (st != FX_OK || res[0] != '/' ||
        be->has[M_REVERSE_MAP_PATH] != H_FUNC) {
        *out = res;
        return st;
    }
    st = map_call(be, M_REVERSE_MAP_PATH, res, out);
    free(res);
    return st;
}

static int
lbe_home_directory(void *ctx, const char *user, char **out)
{
    lbe *be = ctx;
    return be->posix.home_directory(be->posix.ctx, user, out);
}

/* format_user / format_group: a name for the longname and
 * users-groups-by-id, or nil for the system's. */
static int
id_name(lbe *be, int m, uint32_t id, char *buf, size_t n)
{
    lcall c;
    if (be->has[m] == H_FUNC) {
        call_init(&c, be, m, R_STR);
        arg_int(&c, id);
        be->nomsg++;
        if (call_lua(be, &c) == FX_OK && !c.nil) {
            snprintf(buf, n, "%s", c.sout);
            free(c.sout);
            be->nomsg--;
            return 0;
        }
        be->nomsg--;
    }
    return m == M_FORMAT_USER ? be->posix.user_name(be->posix.ctx, id, buf, n)
                              : be->posix.group_name(be->posix.ctx, id, buf,
                                                     n);
}

static int
lbe_user_name(void *ctx, uint32_t uid, char *buf, size_t n)
{
    return id_name(ctx, M_FORMAT_USER, uid, buf, n);
}

static int
lbe_group_name(void *ctx, uint32_t gid, char *buf, size_t n)
{
    return id_name(ctx, M_FORMAT_GROUP, gid, buf, n);
}

static int64_t
lbe_now(void *ctx)
{
    lbe *be = ctx;
    return be->posix.now(be->posix.ctx);
}

static void
lua_backend(lbe *be, lsh_sftp_backend *b)
{
    memset(b, 0, sizeof(*b));
    b->ctx = be;
    b->open = lbe_open;
    b->close = lbe_close;
    b->read = lbe_read;
    b->write = lbe_write;
    b->fstat = lbe_fstat;
    b->fsetstat = lbe_fsetstat;
    b->fsync = lbe_fsync;
    b->fstatvfs = lbe_fstatvfs;
    b->opendir = lbe_opendir;
    b->readdir = lbe_readdir;
    b->closedir = lbe_closedir;
    b->stat = lbe_stat;
    b->setstat = lbe_setstat;
    b->remove = lbe_remove;
    b->mkdir = lbe_mkdir;
    b->rmdir = lbe_rmdir;
    b->rename = lbe_rename;
    b->symlink = lbe_symlink;
    b->link = lbe_link;
    b->statvfs = lbe_statvfs;
    b->realpath = lbe_realpath;
    b->readlink = lbe_readlink;
    b->home_directory = lbe_home_directory;
    b->user_name = lbe_user_name;
    b->group_name = lbe_group_name;
    b->now = lbe_now;
}

/* The object */

static sftpsrv *
check_srv(lua_State *L)
{
    sftpsrv **ud = luaL_checkudata(L, 1, SFTPSRV_MT);
    if (*ud == NULL) {
        luaL_error(L, "the SFTP server session is closed");
    }
    return *ud;
}

/* Raises when a job has the core (another task serves it). */
static sftpsrv *
check_idle(lua_State *L)
{
    sftpsrv *u = check_srv(L);
    if (u->busy) {
        luaL_error(L, "the SFTP server is busy: another task serves it");
    }
    return u;
}

/* Frees the core, the filesystem and the buffers (no Lua is called). */
static void
free_srv(sftpsrv *u)
{
    lsh_sftp_server_free(u->s);
    lsh_sftp_fs_free(u->fs);
    llsh_bytes_free(&u->pend);
    llsh_bytes_free(&u->stage);
    free(u);
}

/* Wakes the task waiting for the job, if any (loop thread). */
static void
wake_server_task(sftpsrv *u)
{
    llsh_waiter *w = u->qw;
    u->qw = NULL;
    if (w != NULL && w->task != NULL) {
        w->cancel(w); /* unlinks it from the channel's state_q */
        llsh_wake(w, 0);
    }
}

/* Closes every handle (through the table's close, and then its exit,
 * unless from_gc) and frees everything; a server whose job is still
 * running is left to the job's done callback. */
static void
close_srv(lua_State *L, sftpsrv **ud, int from_gc)
{
    sftpsrv *u = *ud;
    lbe *be;
    if (u == NULL) {
        return;
    }
    *ud = NULL;
    if (u->busy) {
        /* Only the POSIX backend runs on the pool: no Lua to call.  A job
         * that has not started yet is dropped (done still runs).  A task
         * still waiting for it sees the server closed. */
        u->orphan = 1;
        wake_server_task(u);
        llsh_ignore(lsh_io_work_cancel(u->job));
        return;
    }
    be = u->be;
    if (be != NULL) {
        be->L = L;
        be->quiet = from_gc;
        be->srv = NULL; /* no error texts are kept from here on */
    }
    lsh_sftp_server_free(u->s);
    u->s = NULL;
    if (be != NULL && !from_gc && be->has[M_EXIT] == H_FUNC) {
        lcall c;
        call_init(&c, be, M_EXIT, R_NONE);
        (void)call_lua(be, &c);
    }
    if (be != NULL) {
        unref(be, be->tref);
        take_msg(be, UINT64_MAX, UINT64_MAX);
        free(be->cur);
        free(be->msgs);
        lsh_buf_free(&be->tmp);
        free(be);
        u->be = NULL;
    }
    free_srv(u);
}

/* Reads the table's methods into has[]; 1 if any is there.  Raises for
 * a method that is neither callable nor false. */
static int
read_methods(lua_State *L, int t, unsigned char has[M_COUNT])
{
    int any = 0;
    for (int i = 0; i < M_COUNT; i++) {
        int ty;
        lua_getfield(L, t, method_names[i]);
        ty = lua_type(L, -1);
        has[i] = H_NONE;
        if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
            /* false: the operation is refused (map_path etc.: none) */
            has[i] = (i >= M_FORMAT_USER) ? H_NONE : H_OFF;
        } else if (ty == LUA_TFUNCTION) {
            has[i] = H_FUNC;
        } else if (ty != LUA_TNIL) {
            if (luaL_getmetafield(L, -1, "__call") == LUA_TNIL) {
                luaL_error(L, "sftp_factory: %s must be a function or "
                              "false, not %s", method_names[i],
                           lua_typename(L, ty));
            }
            lua_pop(L, 1);
            has[i] = H_FUNC; /* a callable object */
        }
        any |= has[i] != H_NONE;
        lua_pop(L, 1);
    }
    return any;
}

/*
 * new([root [, home [, methods [, draft_symlink]]]]) -> server.  root:
 * the directory the client sees as "/" (nil: the whole filesystem);
 * home: where relative paths start (default: the current directory
 * without a root, "/" with one); methods: a table of SFTPServer
 * overrides (see the notes above); draft_symlink: SYMLINK's paths come
 * in draft-02's order, not OpenSSH's (lsh_sftp_server_config).
 */
static int
l_new(lua_State *L)
{
    const char *root = luaL_optstring(L, 1, NULL);
    const char *home = luaL_optstring(L, 2, NULL);
    lsh_sftp_server_config cfg;
    unsigned char has[M_COUNT];
    char cwd[PATH_MAX];
    sftpsrv **ud, *u;
    int r, any = 0;

    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        any = read_methods(L, 3, has);
    }
    ud = lua_newuserdatauv(L, sizeof(*ud), 0);
    *ud = NULL;
    luaL_setmetatable(L, SFTPSRV_MT);
    if ((u = calloc(1, sizeof(*u))) == NULL) {
        return luaL_error(L, "out of memory");
    }
    *ud = u;
    lsh_sftp_pace_init(&u->pace);
    if ((r = lsh_sftp_fs_new(root != NULL ? root : "/", 0, &u->fs)) != 0) {
        close_srv(L, ud, 1);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open the SFTP root %s: %s",
                        root != NULL ? root : "/", lsh_strerror(r));
        return 2;
    }
    if (home == NULL && root == NULL && getcwd(cwd, sizeof(cwd)) != NULL) {
        home = cwd;
    }
    if (home != NULL && (r = lsh__sftp_fs_set_home(u->fs, home)) != 0) {
        close_srv(L, ud, 1);
        return luaL_error(L, "cannot set the SFTP home %s: %s", home,
                          lsh_strerror(r));
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.in_max = IN_MAX;
    cfg.symlink_draft_order = lua_toboolean(L, 4);
    lsh_sftp_fs_backend(u->fs, &cfg.backend);
    if (any) {
        lbe *be = calloc(1, sizeof(*be));
        if (be == NULL) {
            close_srv(L, ud, 1);
            return luaL_error(L, "out of memory");
        }
        be->tref = LUA_NOREF;
        be->L = L;
        memcpy(be->has, has, sizeof(has));
        be->posix = cfg.backend;
        lsh_buf_init(&be->tmp, LSH_SFTP_MAX_PACKET);
        u->be = be;
        lua_pushvalue(L, 3);
        be->tref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_backend(be, &cfg.backend);
    }
    if ((r = lsh_sftp_server_new(&cfg, &u->s)) != 0) {
        close_srv(L, ud, 1);
        return luaL_error(L, "cannot start the SFTP server: %s",
                          lsh_strerror(r));
    }
    if (u->be != NULL) {
        u->be->srv = u->s;
    }
    return 1;
}

/* [-0, +2] nil and the message of the core's sticky error. */
static int
push_fatal(lua_State *L, sftpsrv *u, int r)
{
    const char *detail = NULL;
    lsh_sftp_server_error(u->s, &detail);
    lua_pushnil(L);
    lua_pushfstring(L, "SFTP session ended: %s (%s)", lsh_strerror(r),
                    detail != NULL ? detail : "");
    return 2;
}

/*
 * s:feed(data) -> output, rest, more | nil, message, output
 *   Synchronous, on the calling thread (tests, and callers without a
 *   channel).  output: the bytes to send; rest: the part of data not
 *   taken yet (the output was full), to feed again after sending; more:
 *   requests are still waiting in the core: after sending, feed again
 *   (rest or "") before reading more input.  nil, message: a fatal
 *   protocol error (send output first: it is returned as the 3rd value).
 *   The table's methods run inside this call.
 */
static int
s_feed(lua_State *L)
{
    sftpsrv *u = check_idle(L);
    size_t n, off = 0, total = 0;
    const uint8_t *data = (const uint8_t *)luaL_optlstring(L, 2, "", &n);
    int r = 0, more = 0;

    if (u->be != NULL) {
        u->be->L = L;
    }
    for (;;) {
        const uint8_t *p;
        size_t used = 0, k;
        r = lsh_sftp_server_feed(u->s, data + off, n - off, &used);
        off += used;
        lsh_sftp_server_out(u->s, &p, &k);
        if (k > 0) {
            if (emit(&u->stage, u->be, p, k) != 0) {
                return luaL_error(L, "out of memory");
            }
            lsh_sftp_server_out_drop(u->s, k);
            total += k;
        }
        /* Requests may still wait in the core's input after all of data
         * was taken (it stops at its output high-water mark). */
        if (r != 0 || (used == 0 && !lsh_sftp_server_pending(u->s))) {
            break;
        }
        if (total >= FEED_OUT_MAX) {
            more = 1; /* send this first, then feed again */
            break;
        }
    }
    lua_pushlstring(L, (const char *)u->stage.p + u->stage.head,
                    llsh_bytes_avail(&u->stage));
    llsh_bytes_take(&u->stage, llsh_bytes_avail(&u->stage));
    if (r != 0) {
        push_fatal(L, u, r);
        lua_rotate(L, -3, -1); /* nil, message, output */
        return 3;
    }
    lua_pushlstring(L, (const char *)data + off, n - off);
    lua_pushboolean(L, more);
    return 3;
}

/* Serving a channel (s:serve) */

/* Worker thread: handles the whole requests the input holds (a batch,
 * up to the output's high-water mark). */
static void
job_work(void *data)
{
    sftpsrv *u = data;
    size_t used;
    u->jr = lsh_sftp_server_feed(u->s, NULL, 0, &used);
}

/*
 * Loop thread: moves received bytes into the core's input (a copy, no
 * request handled), the rest into pend.  The core's input holds IN_MAX
 * bytes (more than a packet of its maximum size), so pend only fills
 * while whole requests wait there.  0 or LSH_ENOMEM (the core's sticky
 * error goes to jr).
 */
static int
take_input(sftpsrv *u, const uint8_t *p, size_t n)
{
    size_t used = 0;
    if (llsh_bytes_avail(&u->pend) > 0) {
        if ((u->jr = lsh_sftp_server_put_input(
                 u->s, u->pend.p + u->pend.head, llsh_bytes_avail(&u->pend),
                 &used)) != 0) {
            return 0;
        }
        llsh_bytes_take(&u->pend, used);
        if (llsh_bytes_avail(&u->pend) > 0) {
            return llsh_bytes_put(&u->pend, p, n);
        }
    }
    if (n > 0) {
        if ((u->jr = lsh_sftp_server_put_input(u->s, p, n, &used)) != 0) {
            return 0;
        }
        return llsh_bytes_put(&u->pend, p + used, n - used);
    }
    return 0;
}

/* Loop thread: the core is ours again. */
static void
job_done(void *data, int cancelled)
{
    sftpsrv *u = data;
    u->busy = 0;
    u->job = NULL;
    (void)cancelled; /* a cancelled job is an orphan's */
    if (u->orphan) {
        free_srv(u); /* closes the handles the session left open */
        return;
    }
    wake_server_task(u);
}

/* The same feed, synchronously (the Lua backend, or no thread pool). */
static void
feed_here(lua_State *L, sftpsrv *u)
{
    if (u->be != NULL) {
        u->be->L = L;
    }
    job_work(u);
}

/*
 * Hands the core's output straight to the channel (no Lua string): as
 * much as the peer's window and the connection's send buffer take
 * (lsh_chan_write copies it into the connection's packets).  0: all of
 * it went; 1: some is left (wait for the channel's drain_q, woken on
 * LSH_EV_CHAN_WRITABLE and on close); LSH_ECLOSED: the channel or the
 * connection is gone; LSH_ENOMEM.
 */
static int
send_out(sftpsrv *u, llsh_chan *ch)
{
    const uint8_t *p;
    size_t k, room;
    lsh_conn *conn;
    double now;
    int r;

    lsh_sftp_server_out(u->s, &p, &k);
    if (u->be != NULL) {
        /* The table's error texts go into the STATUS messages. */
        if (k > 0) {
            if (emit(&u->stage, u->be, p, k) != 0) {
                return LSH_ENOMEM;
            }
            lsh_sftp_server_out_drop(u->s, k);
        }
        p = u->stage.p + u->stage.head;
        k = llsh_bytes_avail(&u->stage);
    }
    if (k == 0) {
        return 0;
    }
    conn = llsh_client_core(ch->cl);
    if (conn == NULL || ch->state != LLSH_CH_OPEN || ch->close_sent ||
        ch->eof_wanted) {
        return LSH_ECLOSED;
    }
    if (llsh_bytes_avail(&ch->out) > 0) {
        /* What ch:write queued earlier goes first. */
        llsh__chan_writable(ch);
        if (llsh_bytes_avail(&ch->out) > 0) {
            llsh_client_flush(ch->cl);
            return 1;
        }
    }
    /* No more in flight than the pacer allows (src/ssh/sftp/server.h):
     * held back with window left, it still hears the next adjust. */
    now = lsh_io_now();
    room = lsh_sftp_pace_room(&u->pace, lsh_chan_peer_window(conn, ch->id),
                              now);
    if (room < k && lsh_chan_notify_adjust(conn, ch->id) != 0) {
        return LSH_ECLOSED;
    }
    r = room > 0 ? lsh_chan_write(conn, ch->id, 0, p, k < room ? k : room)
                 : 0;
    if (r < 0) {
        return LSH_ECLOSED;
    }
    lsh_sftp_pace_sent(&u->pace, (size_t)r, now);
    if (u->be != NULL) {
        llsh_bytes_take(&u->stage, (size_t)r);
    } else {
        lsh_sftp_server_out_drop(u->s, (size_t)r);
    }
    llsh_client_flush(ch->cl);
    return (size_t)r < k ? 1 : 0;
}

static int
made_output(sftpsrv *u)
{
    const uint8_t *p;
    size_t k;
    lsh_sftp_server_out(u->s, &p, &k);
    return k > 0 || llsh_bytes_avail(&u->stage) > 0;
}

static llsh_chan *
check_chan_arg(lua_State *L, int idx)
{
    llsh_chan *ch = luaL_checkudata(L, idx, LLSH_CHAN_MT);
    if (ch->cl == NULL) {
        luaL_argerror(L, idx, "SSHClientChannel without a connection");
    }
    return ch;
}

static int serve_k(lua_State *L, int status, lua_KContext ctx);

/* The channel can take no more output (closed, or the connection gone). */
static int
chan_gone(const llsh_chan *ch)
{
    return llsh_client_core(ch->cl) == NULL || ch->state != LLSH_CH_OPEN ||
           ch->close_sent;
}

/* Waits for the job's end (or the channel's closing). */
static int
wait_job(lua_State *L, sftpsrv *u, llsh_chan *ch)
{
    llsh_waitq_wait(L, &ch->state_q);
    u->qw = lua_touserdata(L, -1);
    return lua_yieldk(L, 0, 0, serve_k);
}

static int
serve_k(lua_State *L, int status, lua_KContext ctx)
{
    sftpsrv **ud = luaL_checkudata(L, 1, SFTPSRV_MT);
    sftpsrv *u;
    llsh_chan *ch;
    (void)ctx;
    if (*ud != NULL) {
        (*ud)->qw = NULL; /* its waiter is about to go */
    }
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 2); /* drops a waiter */
    u = check_srv(L);
    ch = check_chan_arg(L, 2);
    if (u->busy) {
        if (chan_gone(ch)) {
            /* The client left mid-job: the caller closes the server,
             * which the job's end then frees. */
            lua_pushnil(L);
            lua_pushliteral(L, "the channel is closed");
            return 2;
        }
        return wait_job(L, u, ch); /* another change of the channel */
    }
    for (;;) {
        int r = send_out(u, ch);
        if (r == 1) {
            llsh_waitq_wait(L, &ch->drain_q);
            return lua_yieldk(L, 0, 0, serve_k);
        }
        if (r == LSH_ENOMEM) {
            return luaL_error(L, "out of memory");
        }
        if (r != 0) {
            lua_pushnil(L);
            lua_pushliteral(L, "the channel is closed");
            return 2;
        }
        if (u->jr == 0 && take_input(u, NULL, 0) != 0) {
            return luaL_error(L, "out of memory");
        }
        if (u->jr != 0) {
            return push_fatal(L, u, u->jr);
        }
        if (!lsh_sftp_server_pending(u->s) ||
            (u->be == NULL && llsh_bytes_avail(&u->pend) == 0 &&
             llsh_bytes_avail(&ch->in[0]) > 0)) {
            /* All taken: a partial request waits for more input, or more
             * is already queued on the channel: take it first, so that
             * one job answers several requests (a put's WRITEs). */
            lua_pushboolean(L, 1);
            return 1;
        }
        if (u->be == NULL) {
            /* POSIX alone: the file I/O runs on the thread pool, and the
             * loop goes on serving everyone else meanwhile. */
            u->busy = 1;
            if (lsh_io_work(job_work, job_done, u, &u->job) == 0) {
                return wait_job(L, u, ch);
            }
            u->busy = 0;
            u->job = NULL;
        }
        feed_here(L, u);
        if (u->jr == 0 && !made_output(u)) {
            /* Cannot happen (every request is answered, and the output
             * was empty); never spin. */
            return luaL_error(L, "the SFTP server answers nothing");
        }
    }
}

/*
 * s:serve(ch, data) -> true | nil, message
 *   Feeds data (bytes read from the "sftp" channel ch) to the core and
 *   writes every response straight into ch, waiting for the peer's
 *   window as needed; returns once all of data was handled and its
 *   output handed to the channel.  With the POSIX backend alone the
 *   core runs on the thread pool (lsh_io_work), one batch of requests
 *   at a time; the task waits meanwhile and reads no more input, so the
 *   channel's window holds the client back.  With a table of methods it
 *   runs here, synchronously.  nil, message: the channel is gone, or a
 *   fatal protocol error (its output was sent first): end the session.
 */
static int
s_serve(lua_State *L)
{
    sftpsrv *u = check_idle(L);
    size_t n;
    const char *d;
    check_chan_arg(L, 2);
    d = luaL_optlstring(L, 3, "", &n);
    /* Straight into the core's input (no request is handled here); only
     * what does not fit is copied to pend. */
    if (take_input(u, (const uint8_t *)d, n) != 0) {
        return luaL_error(L, "out of memory");
    }
    return serve_k(L, LUA_OK, 0);
}

/* s:handles() -> open handles */
static int
s_handles(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lsh_sftp_server_handles(check_idle(L)->s));
    return 1;
}

/* s:close(): closes every handle (the table's close for its files), then
 * calls the table's exit.  During a job, the job's end closes them. */
static int
s_close(lua_State *L)
{
    close_srv(L, luaL_checkudata(L, 1, SFTPSRV_MT), 0);
    return 0;
}

/* __gc: closes without calling Lua. */
static int
s_gc(lua_State *L)
{
    close_srv(L, luaL_checkudata(L, 1, SFTPSRV_MT), 1);
    return 0;
}

static const luaL_Reg methods[] = {{"feed", s_feed},
                                   {"serve", s_serve},
                                   {"handles", s_handles},
                                   {"close", s_close},
                                   {NULL, NULL}};

static const luaL_Reg funcs[] = {{"new", l_new}, {NULL, NULL}};

int
luaopen_luassh_sftpservercore(lua_State *L)
{
    luaL_newlib(L, funcs);
    if (luaL_newmetatable(L, SFTPSRV_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, s_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, s_close);
        lua_setfield(L, -2, "__close");
        lua_pushliteral(L, SFTPSRV_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    return 1;
}
