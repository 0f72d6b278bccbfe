/*
 * luassh.scpcore: the SCP source and sink machines of src/ssh/scp as Lua
 * objects, for lua/luassh/scp.lua (ssh.scp, doc/api/scp.md), plus the
 * few local file helpers ssh.scp needs (glob, isdir, name checks, shell
 * quoting).
 *
 * IMPLEMENTATION NOTES
 *
 * A machine object owns one lsh_scp and its POSIX backend.  Lua drives it
 * with m:pump([data]) between reads and writes of a channel: the call
 * feeds the bytes it is given, runs the machine and gathers its output
 * until the machine needs more input from the peer, has finished, or
 * `chunk` bytes of output are ready.  All per-block work (reading and
 * writing files, parsing and checking lines, framing) happens inside that
 * one call, in C; Lua only moves the resulting strings to and from the
 * channel, so the channel's flow control holds the machine back.
 *
 * File I/O is synchronous, on the loop's thread, like OpenSSH's scp: a
 * slow disk stalls this process's other tasks while a block is read or
 * written.  (Moving it to the uvio thread pool would need an asynchronous
 * lsh_scp_fs.)
 *
 * Input the machine did not take (it stopped: finished, or a source that
 * is not expecting a reply) is kept in `pend` and fed first next time.
 *
 * Events from the machine's callback are only queued here (the callback
 * runs inside lsh_scp_feed/run and must not call Lua); m:events() hands
 * them to Lua after the pump.  Consecutive progress events of one file
 * are merged until m:events() takes them, so a handler is called at most
 * once per file per pump.
 */
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "lua_bindings/l_error.h"
#include "ssh/scp/scp.h"

int luaopen_luassh_scpcore(lua_State *L);

#define SCP_MT "luassh.SCPMachine"

/* Output gathered per pump unless the caller says otherwise. */
#define DEFAULT_CHUNK (256u * 1024u)
/* Events kept between two m:events() calls (errors are never dropped:
 * past this, progress events are). */
#define MAX_EVENTS 4096u

enum { EV_PROGRESS = 1, EV_ERROR = 2 };

typedef struct scp_ev {
    int type;
    char *path;     /* owned */
    char *message;  /* owned, errors only */
    uint64_t done, size;
    int remote, fatal;
} scp_ev;

typedef struct scpud {
    lsh_scp *s;     /* NULL once closed */
    lsh_scp_fs fs;
    int fs_ok;
    int progress;   /* queue progress events */
    int oom;        /* an event could not be queued */
    size_t chunk;
    scp_ev *ev;
    size_t nev, evcap;
    uint8_t *pend;  /* input not taken yet: pend[0..npend) */
    size_t npend, pendcap;
    uint8_t *acc;   /* output gathered in this pump */
    size_t nacc, acccap;
} scpud;

static char *
dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static void
free_events(scpud *u)
{
    for (size_t i = 0; i < u->nev; i++) {
        free(u->ev[i].path);
        free(u->ev[i].message);
    }
    u->nev = 0;
}

static scp_ev *
new_event(scpud *u, int type, const char *path, const char *msg)
{
    scp_ev *e;
    if (u->nev == u->evcap) {
        size_t cap = u->evcap ? 2 * u->evcap : 16;
        scp_ev *p;
        if (type != EV_ERROR && u->nev >= MAX_EVENTS) {
            return NULL;
        }
        if ((p = realloc(u->ev, cap * sizeof(*p))) == NULL) {
            u->oom = 1;
            return NULL;
        }
        u->ev = p;
        u->evcap = cap;
    }
    e = &u->ev[u->nev];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->path = dupstr(path != NULL ? path : "");
    e->message = msg != NULL ? dupstr(msg) : NULL;
    if (e->path == NULL || (msg != NULL && e->message == NULL)) {
        free(e->path);
        free(e->message);
        u->oom = 1;
        return NULL;
    }
    u->nev++;
    return e;
}

static void
on_progress(scpud *u, const lsh_scp_event *ev)
{
    scp_ev *last = u->nev > 0 ? &u->ev[u->nev - 1] : NULL;
    scp_ev *e;
    if (last != NULL && last->type == EV_PROGRESS &&
        strcmp(last->path, ev->path) == 0) {
        last->done = ev->done;
        last->size = ev->size;
        return;
    }
    if ((e = new_event(u, EV_PROGRESS, ev->path, NULL)) != NULL) {
        e->done = ev->done;
        e->size = ev->size;
    }
}

/* Called from inside the machine: copies, never calls Lua. */
static void
on_event(void *ud, const lsh_scp_event *ev)
{
    scpud *u = ud;
    scp_ev *e;
    switch (ev->type) {
    case LSH_SCP_EV_ERROR:
        if ((e = new_event(u, EV_ERROR, ev->path, ev->message)) != NULL) {
            e->remote = ev->remote;
            e->fatal = ev->fatal;
        }
        break;
    case LSH_SCP_EV_PROGRESS:
        if (u->progress) {
            on_progress(u, ev);
        }
        break;
    case LSH_SCP_EV_FILE_BEGIN:
        /* An empty file gets one report too (0 of 0), as AsyncSSH does. */
        if (u->progress && ev->size == 0) {
            on_progress(u, ev);
        }
        break;
    default:
        break;
    }
}

/* Appends n bytes to a growable byte array. */
static int
grow_put(uint8_t **p, size_t *len, size_t *cap, const uint8_t *src, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        uint8_t *np;
        while (c < *len + n) {
            c *= 2;
        }
        if ((np = realloc(*p, c)) == NULL) {
            return LSH_ENOMEM;
        }
        *p = np;
        *cap = c;
    }
    memcpy(*p + *len, src, n);
    *len += n;
    return 0;
}

static void
close_machine(scpud *u)
{
    lsh_scp_free(u->s);
    u->s = NULL;
    if (u->fs_ok) {
        lsh_scp_fs_posix_free(&u->fs);
        u->fs_ok = 0;
    }
    free_events(u);
    free(u->ev);
    u->ev = NULL;
    u->evcap = 0;
    free(u->pend);
    u->pend = NULL;
    u->npend = u->pendcap = 0;
    free(u->acc);
    u->acc = NULL;
    u->nacc = u->acccap = 0;
}

static scpud *
check_open(lua_State *L, int idx)
{
    scpud *u = luaL_checkudata(L, idx, SCP_MT);
    if (u->s == NULL) {
        luaL_error(L, "attempt to use a closed SCP machine");
    }
    return u;
}

/* Options ------------------------------------------------------------- */

static int
opt_bool(lua_State *L, int t, const char *k)
{
    int v;
    lua_getfield(L, t, k);
    v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static lua_Integer
opt_int(lua_State *L, int t, const char *k, lua_Integer dflt,
        lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = dflt;
    int isnum;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum || v < lo || v > hi) {
            luaL_error(L, "bad SCP option '%s' (an integer in %I..%I "
                          "expected)", k, lo, hi);
        }
    }
    lua_pop(L, 1);
    return v;
}

/*
 * Reads the list t[k] of strings into a malloc'd array of borrowed
 * pointers (the strings stay anchored in the option table, which is on
 * the stack while the machine copies them).  [-0, +0]
 */
static const char **
opt_list(lua_State *L, int t, const char *k, size_t *n)
{
    const char **v;
    size_t len;
    *n = 0;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    len = (size_t)lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (len == 0) {
        return NULL;
    }
    if ((v = calloc(len, sizeof(*v))) == NULL) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    lua_getfield(L, t, k);
    for (size_t i = 0; i < len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        v[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (v[i] == NULL) {
            free(v);
            luaL_error(L, "bad SCP option '%s' (a list of strings expected)",
                       k);
            return NULL;
        }
    }
    lua_pop(L, 1);
    *n = len;
    return v;
}

/*
 * scpcore.new(role, opts) -> machine
 *   role "source" (we send: opts.paths) or "sink" (we receive into
 *   opts.target); opts: recurse, preserve, target_dir, single, patterns,
 *   block_size, max_depth, progress (queue progress events), chunk.
 */
static int
l_new(lua_State *L)
{
    static const char *const roles[] = {"source", "sink", NULL};
    int sink = luaL_checkoption(L, 1, NULL, roles);
    lsh_scp_opts o;
    const char **paths = NULL, **patterns = NULL;
    scpud *u;
    int r;

    luaL_checktype(L, 2, LUA_TTABLE);
    memset(&o, 0, sizeof(o));
    o.flags = (opt_bool(L, 2, "recurse") ? LSH_SCP_RECURSE : 0) |
              (opt_bool(L, 2, "preserve") ? LSH_SCP_PRESERVE : 0) |
              (opt_bool(L, 2, "target_dir") ? LSH_SCP_TARGET_DIR : 0) |
              (opt_bool(L, 2, "single") ? LSH_SCP_SINGLE : 0);
    o.block_size = (size_t)opt_int(L, 2, "block_size", LSH_SCP_DEFAULT_BLOCK,
                                   1, LSH_SCP_MAX_BLOCK);
    o.max_depth = (unsigned)opt_int(L, 2, "max_depth", LSH_SCP_DEFAULT_DEPTH,
                                    1, 4096);

    u = lua_newuserdatauv(L, sizeof(*u), 0);
    memset(u, 0, sizeof(*u));
    luaL_setmetatable(L, SCP_MT);
    u->progress = opt_bool(L, 2, "progress");
    u->chunk = (size_t)opt_int(L, 2, "chunk", DEFAULT_CHUNK, 1,
                               64 * 1024 * 1024);
    if (lsh_scp_fs_posix_init(&u->fs) != 0) {
        return luaL_error(L, "out of memory");
    }
    u->fs_ok = 1;
    o.event_cb = on_event;
    o.event_ud = u;
    if (sink) {
        lua_getfield(L, 2, "target");
        o.target = lua_tostring(L, -1);
        lua_pop(L, 1); /* still anchored in the option table */
        if (o.target == NULL || o.target[0] == '\0') {
            return luaL_error(L, "an SCP sink needs a target path");
        }
        patterns = opt_list(L, 2, "patterns", &o.npatterns);
        o.patterns = patterns;
        r = lsh_scp_sink_new(&o, &u->fs, &u->s);
    } else {
        paths = opt_list(L, 2, "paths", &o.npaths);
        o.paths = paths;
        r = lsh_scp_source_new(&o, &u->fs, &u->s);
    }
    free(paths);
    free(patterns);
    if (r != 0) {
        u->s = NULL;
        close_machine(u);
        return luaL_error(L, "cannot start an SCP %s: %s",
                          sink ? "sink" : "source", lsh_strerror(r));
    }
    return 1;
}

/* Pumping -------------------------------------------------------------- */

/* Takes the machine's output into acc. */
static int
take_output(scpud *u)
{
    size_t n;
    const uint8_t *o = lsh_scp_out(u->s, &n);
    int r;
    if (n == 0) {
        return 0;
    }
    if ((r = grow_put(&u->acc, &u->nacc, &u->acccap, o, n)) != 0) {
        return r;
    }
    lsh_scp_out_ack(u->s, n);
    return 0;
}

/* Feeds p[0..n); returns how much was taken.  A failure stops the
 * machine, which LSH_SCP_DONE then says. */
static size_t
feed(scpud *u, const uint8_t *p, size_t n)
{
    size_t used = 0;
    int r = lsh_scp_feed(u->s, p, n, &used);
    (void)r;
    return used;
}

/*
 * Runs the machine until it waits for input (returns "input"), has
 * `chunk` bytes of output ready ("output") or is done ("done").  The
 * caller's input (*in, *nin bytes) is advanced past what was fed.  The
 * output is in acc plus, last, the machine's own buffer: it is moved to
 * acc only before the machine runs again, so that a pump that produced
 * one block hands it to Lua with a single copy.
 */
static const char *
pump(lua_State *L, scpud *u, const uint8_t **in, size_t *nin)
{
    int idle = 0;
    for (;;) {
        unsigned w;
        size_t used, n;
        /* A failure stops the machine; m:result() reads the outcome. */
        int r = lsh_scp_run(u->s);
        (void)r;
        w = lsh_scp_wants(u->s);
        (void)lsh_scp_out(u->s, &n);
        if (w & LSH_SCP_DONE) {
            return "done";
        }
        if (u->nacc + n >= u->chunk) {
            return "output";
        }
        if (take_output(u) != 0) {
            luaL_error(L, "out of memory");
        }
        w = lsh_scp_wants(u->s); /* with the output drained */
        if (w & LSH_SCP_WANT_RUN) {
            continue;
        }
        if (!(w & LSH_SCP_WANT_INPUT)) {
            return "output"; /* cannot happen with the output drained */
        }
        if (u->npend > 0) {
            used = feed(u, u->pend, u->npend);
            memmove(u->pend, u->pend + used, u->npend - used);
            u->npend -= used;
        } else if (*nin > 0) {
            used = feed(u, *in, *nin);
            *in += used;
            *nin -= used;
        } else {
            return "input";
        }
        /* A machine that wants input always takes some: if it does not
         * (twice in a row, output drained in between), stop rather than
         * spin. */
        idle = used == 0 ? idle + 1 : 0;
        if (idle > 2) {
            luaL_error(L, "SCP machine stalled");
        }
    }
}

/*
 * m:pump([data]) -> output, state, nevents
 *   state: "input" (read from the peer and pump again), "output" (send
 *   the output and pump again) or "done".
 */
static int
m_pump(lua_State *L)
{
    scpud *u = check_open(L, 1);
    size_t nin = 0;
    const uint8_t *in = (const uint8_t *)luaL_optlstring(L, 2, NULL, &nin);
    const char *state;

    u->nacc = 0;
    state = pump(L, u, &in, &nin);
    if (nin > 0 && strcmp(state, "done") != 0 &&
        grow_put(&u->pend, &u->npend, &u->pendcap, in, nin) != 0) {
        return luaL_error(L, "out of memory");
    }
    if (u->oom) {
        u->oom = 0;
        return luaL_error(L, "out of memory");
    }
    if (u->nacc == 0) {
        size_t n;
        const uint8_t *o = lsh_scp_out(u->s, &n);
        lua_pushlstring(L, (const char *)o, n);
        lsh_scp_out_ack(u->s, n);
    } else {
        if (take_output(u) != 0) {
            return luaL_error(L, "out of memory");
        }
        lua_pushlstring(L, (const char *)u->acc, u->nacc);
    }
    u->nacc = 0;
    if (u->acccap > 4 * u->chunk + 65536) {
        free(u->acc);
        u->acc = NULL;
        u->acccap = 0;
    }
    lua_pushstring(L, state);
    lua_pushinteger(L, (lua_Integer)u->nev);
    return 3;
}

/* m:eof(): the peer closed its side (then pump again). */
static int
m_eof(lua_State *L)
{
    scpud *u = check_open(L, 1);
    int r = lsh_scp_feed_eof(u->s); /* m:result() reads the outcome */
    (void)r;
    return 0;
}

/* m:events() -> list of {type="progress"|"error", path=, done=, size=,
 *                        message=, remote=, fatal=} (queue emptied) */
static int
m_events(lua_State *L)
{
    scpud *u = check_open(L, 1);
    lua_createtable(L, (int)u->nev, 0);
    for (size_t i = 0; i < u->nev; i++) {
        scp_ev *e = &u->ev[i];
        lua_createtable(L, 0, 7);
        lua_pushstring(L, e->type == EV_ERROR ? "error" : "progress");
        lua_setfield(L, -2, "type");
        lua_pushstring(L, e->path);
        lua_setfield(L, -2, "path");
        if (e->type == EV_ERROR) {
            lua_pushstring(L, e->message);
            lua_setfield(L, -2, "message");
            lua_pushboolean(L, e->remote);
            lua_setfield(L, -2, "remote");
            lua_pushboolean(L, e->fatal);
            lua_setfield(L, -2, "fatal");
        } else {
            lua_pushinteger(L, (lua_Integer)e->done);
            lua_setfield(L, -2, "done");
            lua_pushinteger(L, (lua_Integer)e->size);
            lua_setfield(L, -2, "size");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free_events(u);
    return 1;
}

/*
 * m:result() -> ok, code_name, detail, error_count
 *   ok true when every entry was copied; code_name the LSH_E* name of
 *   the outcome ("IO": some entries failed, "REFUSED": we refused the
 *   peer's data, "PROTOCOL", "DISCONNECTED": the peer's fatal error,
 *   "TRUNCATED": the peer went away); detail the first error message.
 */
static int
m_result(lua_State *L)
{
    scpud *u = check_open(L, 1);
    const char *detail = NULL;
    int r = lsh_scp_result(u->s, &detail);
    lua_pushboolean(L, r == 0);
    if (r == 0) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, lsh_errname(r));
    }
    if (detail != NULL) {
        lua_pushstring(L, detail);
    } else {
        lua_pushnil(L);
    }
    lua_pushinteger(L, (lua_Integer)lsh_scp_error_count(u->s));
    return 4;
}

/* m:done() -> boolean */
static int
m_done(lua_State *L)
{
    scpud *u = check_open(L, 1);
    lua_pushboolean(L, (lsh_scp_wants(u->s) & LSH_SCP_DONE) != 0);
    return 1;
}

/* m:close(), __close, __gc: frees the machine (idempotent). */
static int
m_close(lua_State *L)
{
    scpud *u = luaL_checkudata(L, 1, SCP_MT);
    close_machine(u);
    return 0;
}

static int
m_tostring(lua_State *L)
{
    scpud *u = luaL_checkudata(L, 1, SCP_MT);
    lua_pushfstring(L, "SCPMachine (%s)", u->s == NULL ? "closed" : "open");
    return 1;
}

/* Local helpers --------------------------------------------------------- */

static int
glob_err(const char *path, int err)
{
    (void)path;
    (void)err;
    return 0; /* unreadable directories just match nothing */
}

/*
 * scpcore.glob(pattern) -> sorted list of the local paths matching a
 * pattern with *, ? or [...]; {pattern} itself when nothing matches (the
 * copy then reports it as missing).
 */
static int
l_glob(lua_State *L)
{
    const char *pat = luaL_checkstring(L, 1);
    glob_t g;
    int r;
    memset(&g, 0, sizeof(g));
    r = glob(pat, GLOB_NOCHECK, glob_err, &g);
    if (r == GLOB_NOSPACE) {
        globfree(&g);
        return luaL_error(L, "out of memory");
    }
    lua_createtable(L, r == 0 ? (int)g.gl_pathc : 1, 0);
    if (r != 0 || g.gl_pathc == 0) {
        lua_pushstring(L, pat);
        lua_rawseti(L, -2, 1);
    } else {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            lua_pushstring(L, g.gl_pathv[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    globfree(&g);
    return 1;
}

/* scpcore.isdir(path) -> boolean (follows symlinks, like the sink) */
static int
l_isdir(lua_State *L)
{
    struct stat st;
    const char *p = luaL_checkstring(L, 1);
    lua_pushboolean(L, stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

/* scpcore.realpath(path) -> the canonical path (symlinks resolved) | nil
 * (the server side keeps scp paths inside scp_root with it) */
static int
l_realpath(lua_State *L)
{
    char *r = realpath(luaL_checkstring(L, 1), NULL);
    if (r == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, r);
        free(r);
    }
    return 1;
}

/* scpcore.check_name(name) -> boolean: one safe path component */
static int
l_check_name(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, lsh_scp_check_name(s, n) == 0);
    return 1;
}

/* scpcore.fnmatch(pattern, name) -> boolean: the sink's check of a
 * top-level name (fnmatch(3) with FNM_PERIOD, as the shell globs) */
static int
l_fnmatch(lua_State *L)
{
    const char *pat = luaL_checkstring(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_pushboolean(L, fnmatch(pat, name, FNM_PERIOD) == 0);
    return 1;
}

/* scpcore.quote(arg) -> arg quoted for a POSIX shell ('...') */
static int
l_quote(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lsh_buf b;
    int r;
    if (memchr(s, '\0', n) != NULL) {
        return luaL_argerror(L, 1, "contains a NUL byte");
    }
    lsh_buf_init(&b, 4 * n + 16);
    if ((r = lsh_scp_quote_arg(&b, s)) != 0) {
        lsh_buf_free(&b);
        return luaL_error(L, "cannot quote: %s", lsh_strerror(r));
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    return 1;
}

static const luaL_Reg machine_methods[] = {
    {"pump", m_pump},     {"eof", m_eof},     {"events", m_events},
    {"result", m_result}, {"done", m_done},   {"close", m_close},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"new", l_new},
    {"glob", l_glob},
    {"isdir", l_isdir},
    {"realpath", l_realpath},
    {"check_name", l_check_name},
    {"fnmatch", l_fnmatch},
    {"quote", l_quote},
    {NULL, NULL}};

int
luaopen_luassh_scpcore(lua_State *L)
{
    luaL_newlib(L, module_funcs);
    if (luaL_newmetatable(L, SCP_MT)) {
        luaL_newlib(L, machine_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, m_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, m_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, m_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_pushinteger(L, LSH_SCP_MAX_BLOCK);
    lua_setfield(L, -2, "MAX_BLOCK");
    lua_pushinteger(L, LSH_SCP_MAX_LINE);
    lua_setfield(L, -2, "MAX_LINE");
    return 1;
}
