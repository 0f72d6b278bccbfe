/*
 * luassh.proccore: local subprocesses as Lua objects, the C half of
 * lua/luassh/subprocess.lua (doc/api/subprocess.md).  The SSH server
 * runs a session's command with these (RFC 4254 §6.5).
 *
 * IMPLEMENTATION NOTES
 *
 * One userdata ("luassh.SubprocessCore") per child holds the lsh_io_proc
 * (src/uvio/proc.h), the output read so far per stream and the waiters.
 * Callbacks from the loop only copy bytes and wake tasks.
 *
 * Backpressure: a stream's pipe is read while less than READ_LIMIT bytes
 * wait in its buffer, or while a task waits on it (read to EOF, or a
 * readuntil / readexactly that needs more than the limit: the caller
 * asked for that much).  A script that stops reading therefore stops the
 * child, once the pipe's own buffer is full too.
 *
 * Exit: on_exit records the status and wakes every wait(); it does not
 * depend on the pipes, which may still hold output (or be held open by a
 * grandchild).  close() kills a running child and closes the pipes but
 * keeps listening for the exit, so wait() after close() returns -9; the
 * __gc releases the lsh_io_proc, which then reaps the child by itself.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "common/error.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/luassh.h"
#include "lua_bindings/sched.h"
#include "ssh/connection/session.h"
#include "uvio/proc.h"

extern char **environ;

#define PROC_MT "luassh.SubprocessCore"
#define READ_LIMIT (256 * 1024)

typedef struct procud {
    lsh_io_proc *p;       /* NULL once released (__gc) */
    int pid;
    int pty;
    int closed;           /* close() was called */
    int eof_called;       /* write_eof() was called */
    int piped[3];         /* fds 0, 1, 2 are pipes to us */
    llsh_bytes in[3];     /* [1] stdout, [2] stderr */
    int eof[3];
    int reading[3];
    llsh_waiter rd_wait[3];
    llsh_waitq drain_q, exit_q;
    int exited, status, termsig, core_dumped;
    char cmd[128];        /* for messages */
} procud;

/* Signals */

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},
    {"ILL", SIGILL},     {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},
    {"BUS", SIGBUS},     {"FPE", SIGFPE},       {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},   {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},
    {"URG", SIGURG},     {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH},
    {"IO", SIGIO},       {"SYS", SIGSYS},
};

static const char *
signal_name(int num)
{
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (signals[i].num == num) {
            return signals[i].name;
        }
    }
    return NULL;
}

/* A signal given as a number or a name ("TERM", "SIGTERM"); raises. */
static int
check_signal(lua_State *L, int idx)
{
    const char *name;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer n = luaL_checkinteger(L, idx);
        if (n < 0 || n >= NSIG) {
            luaL_argerror(L, idx, "no such signal number");
        }
        return (int)n;
    }
    name = luaL_checkstring(L, idx);
    if (strncmp(name, "SIG", 3) == 0) {
        name += 3;
    }
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (strcmp(signals[i].name, name) == 0) {
            return signals[i].num;
        }
    }
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown signal '%s'", name));
    return 0;
}

/* proccore.signum(name or number) -> number */
static int
l_signum(lua_State *L)
{
    lua_pushinteger(L, check_signal(L, 1));
    return 1;
}

/* proccore.signame(number) -> "TERM" | nil */
static int
l_signame(lua_State *L)
{
    const char *n = signal_name((int)luaL_checkinteger(L, 1));
    if (n == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, n);
    }
    return 1;
}

/* Callbacks from the loop: copy and wake only */

static void
update_reading(procud *u, int fd)
{
    int want;
    if (u->p == NULL || !u->piped[fd] || u->eof[fd]) {
        return;
    }
    want = llsh_bytes_avail(&u->in[fd]) < READ_LIMIT ||
           u->rd_wait[fd].task != NULL;
    if (want != u->reading[fd]) {
        lsh_io_proc_read_enable(u->p, fd, want);
        u->reading[fd] = want;
    }
}

static void
on_data(lsh_io_proc *p, int fd, const uint8_t *buf, size_t n, void *data)
{
    procud *u = data;
    (void)p;
    if (n == 0) {
        u->eof[fd] = 1;
    } else if (llsh_bytes_put(&u->in[fd], buf, n) != 0) {
        /* Out of memory: what cannot be kept ends the stream. */
        u->eof[fd] = 1;
        lsh_io_proc_read_enable(u->p, fd, 0);
    } else {
        update_reading(u, fd);
    }
    llsh_wake(&u->rd_wait[fd], 0);
}

static void
proc_exited(lsh_io_proc *p, int status, int termsig, int core_dumped,
        void *data)
{
    procud *u = data;
    (void)p;
    u->exited = 1;
    u->status = status;
    u->termsig = termsig;
    u->core_dumped = core_dumped;
    llsh_waitq_wake_all(&u->exit_q, 0);
    llsh_waitq_wake_all(&u->drain_q, 0);
}

static void
on_drain(lsh_io_proc *p, void *data)
{
    procud *u = data;
    (void)p;
    llsh_waitq_wake_all(&u->drain_q, 0);
}

static const lsh_io_proc_cbs proc_cbs = {on_data, proc_exited, on_drain};

/* Spawning */

/*
 * [-0, +1] Pushes a userdata array of n + 1 string pointers into the
 * strings of the sequence at idx (kept alive by the caller), NULL-ended.
 */
static char **
push_strv(lua_State *L, int idx, const char *what)
{
    lua_Integer n = luaL_len(L, idx);
    char **v;
    idx = lua_absindex(L, idx);
    v = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        lua_rawgeti(L, idx, i);
        s = lua_tolstring(L, -1, &len);
        if (s == NULL || strlen(s) != len) {
            luaL_error(L, "%s %d must be a string without NUL bytes", what,
                       (int)i);
        }
        lua_pop(L, 1); /* the table keeps it */
        v[i - 1] = (char *)s;
    }
    v[n] = NULL;
    return v;
}

/* [-0, +1] A list of "K=V" strings for the child, or nil for ours. */
static void
push_env_list(lua_State *L, int opts)
{
    int out, env, replace;
    lua_Integer n = 0;

    lua_getfield(L, opts, "env");
    env = lua_gettop(L);
    lua_getfield(L, opts, "env_replace");
    replace = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_isnil(L, env) && !replace) {
        return; /* nil on top: inherit */
    }
    if (!lua_isnil(L, env)) {
        luaL_checktype(L, env, LUA_TTABLE);
    }
    lua_newtable(L);
    out = lua_gettop(L);
    if (!replace) {
        for (char **e = environ; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            if (eq == NULL) {
                continue;
            }
            if (!lua_isnil(L, env)) {
                lua_pushlstring(L, *e, (size_t)(eq - *e));
                if (lua_rawget(L, env) != LUA_TNIL) {
                    lua_pop(L, 1);
                    continue; /* replaced or removed below */
                }
                lua_pop(L, 1);
            }
            lua_pushstring(L, *e);
            lua_rawseti(L, out, ++n);
        }
    }
    if (!lua_isnil(L, env)) {
        lua_pushnil(L);
        while (lua_next(L, env) != 0) {
            size_t kl, vl;
            const char *k, *v;
            if (lua_type(L, -2) != LUA_TSTRING) {
                luaL_error(L, "env keys must be strings");
            }
            k = lua_tolstring(L, -2, &kl);
            if (kl == 0 || strlen(k) != kl || strchr(k, '=') != NULL) {
                luaL_error(L, "bad environment variable name '%s'", k);
            }
            if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
                lua_pop(L, 1); /* false: unset */
                continue;
            }
            if ((v = lua_tolstring(L, -1, &vl)) == NULL) {
                luaL_error(L, "env value of '%s' must be a string", k);
            }
            if (strlen(v) != vl) {
                luaL_error(L, "env value of '%s' contains a NUL byte", k);
            }
            lua_pushfstring(L, "%s=%s", k, v);
            lua_rawseti(L, out, ++n);
            lua_pop(L, 1);
        }
    }
    lua_remove(L, env);
}

static int
stdio_mode(lua_State *L, int opts, const char *field, const char *dflt)
{
    static const char *const names[] = {"pipe", "devnull", "stdout", "pty",
                                        NULL};
    static const int modes[] = {LSH_IO_STDIO_PIPE, LSH_IO_STDIO_DEVNULL,
                                LSH_IO_STDIO_STDOUT, LSH_IO_STDIO_PTY};
    int i;
    lua_getfield(L, opts, field);
    i = luaL_checkoption(L, -1, dflt, names);
    lua_pop(L, 1);
    return modes[i];
}

static uint32_t
opt_u32(lua_State *L, int opts, const char *field)
{
    lua_Integer v;
    lua_getfield(L, opts, field);
    v = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (v < 0 || v > UINT32_MAX) {
        luaL_error(L, "%s must be in 0..2^32-1", field);
    }
    return (uint32_t)v;
}

/* Terminal modes: {[name or opcode] = value} or an encoded §8 string. */
static size_t
get_modes(lua_State *L, int opts, lsh_tty_mode *m, size_t max)
{
    size_t n = 0;
    lua_getfield(L, opts, "modes");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (lsh_tty_modes_decode((const uint8_t *)s, len, m, max, &n) != 0) {
            luaL_error(L, "malformed encoded terminal modes");
        }
    } else if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            lua_Integer op, v;
            if (lua_type(L, -2) == LUA_TSTRING) {
                op = lsh_tty_mode_lookup(lua_tostring(L, -2));
            } else {
                op = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : -1;
            }
            if (lua_isboolean(L, -1)) {
                v = lua_toboolean(L, -1);
            } else if (lua_isinteger(L, -1)) {
                v = lua_tointeger(L, -1);
            } else {
                v = -1;
            }
            if (op < 1 || op > 159 || v < 0 || v > UINT32_MAX || n >= max) {
                luaL_error(L, "bad terminal mode (a RFC 4254 §8 name or "
                              "opcode and a number expected)");
            }
            m[n].opcode = (uint8_t)op;
            m[n].value = (uint32_t)v;
            n++;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "modes must be a table or an encoded string");
    }
    lua_pop(L, 1);
    return n;
}

static int
raise_spawn_error(lua_State *L, const char *file, const char *cwd, int r,
                  const lsh_io_proc_failure *f)
{
    const char *ename = f->sys_errno ? strerrorname_np(f->sys_errno) : NULL;
    const char *msg = f->sys_errno ? strerror(f->sys_errno) : lsh_strerror(r);
    const char *filename = file;

    if (strcmp(f->what, "cwd") == 0) {
        llsh_error_push(L, "OSError", r,
                        "cannot run '%s': cannot change to directory "
                        "'%s': %s", file, cwd ? cwd : "", msg);
        filename = cwd;
    } else if (strcmp(f->what, "program") == 0) {
        llsh_error_push(L, "OSError", r, "cannot run '%s': %s", file, msg);
    } else {
        llsh_error_push(L, "OSError", r, "cannot run '%s': %s: %s", file,
                        f->what, msg);
    }
    lua_pushstring(L, ename ? ename : "");
    lua_setfield(L, -2, "errno");
    lua_pushstring(L, filename ? filename : "");
    lua_setfield(L, -2, "filename");
    return lua_error(L);
}

/*
 * proccore.spawn(argv, opts) -> SubprocessCore
 * argv: a list of strings (argv[1] is the program); opts (all optional):
 *   env, env_replace, cwd, stdin/stdout/stderr = "pipe" | "devnull" |
 *   "stdout" (stderr) | "pty", pty, cols, rows, width_px, height_px,
 *   modes, new_session.
 */
static int
l_spawn(lua_State *L)
{
    lsh_io_proc_opts o;
    lsh_io_proc_failure fail;
    lsh_tty_mode modes[256];
    procud *u;
    int r, opts;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    opts = 2;
    if (luaL_len(L, 1) < 1) {
        return luaL_argerror(L, 1, "an empty command");
    }
    memset(&o, 0, sizeof(o));
    /* Stack: 3 argv strings (copied), 4 argv array, 5 env list, 6 envp,
     * 7 cwd: all alive until the child has exec'd. */
    lua_newtable(L);
    for (lua_Integer i = 1; i <= luaL_len(L, 1); i++) {
        lua_geti(L, 1, i);
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
            return luaL_error(L, "command argument %d must be a string",
                              (int)i);
        }
        lua_pushstring(L, lua_tostring(L, -1));
        lua_rawseti(L, 3, i);
        lua_pop(L, 1);
    }
    o.argv = push_strv(L, 3, "command argument");
    o.file = o.argv[0];
    push_env_list(L, opts);
    if (!lua_isnil(L, 5)) {
        o.envp = push_strv(L, 5, "environment entry");
    } else {
        lua_pushnil(L);
    }
    lua_getfield(L, opts, "cwd");
    o.cwd = luaL_optstring(L, -1, NULL); /* stays on the stack */
    lua_getfield(L, opts, "pty");
    o.pty = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, opts, "new_session");
    o.new_session = lua_toboolean(L, -1);
    lua_pop(L, 1);
    o.stdio[0] = stdio_mode(L, opts, "stdin", o.pty ? "pty" : "pipe");
    o.stdio[1] = stdio_mode(L, opts, "stdout", o.pty ? "pty" : "pipe");
    o.stdio[2] = stdio_mode(L, opts, "stderr", o.pty ? "pty" : "pipe");
    if (o.pty && (o.stdio[0] != LSH_IO_STDIO_PTY ||
                  o.stdio[1] != LSH_IO_STDIO_PTY)) {
        return luaL_error(L, "with a pty, stdin and stdout go through the "
                             "terminal");
    }
    if (!o.pty && (o.stdio[0] == LSH_IO_STDIO_PTY ||
                   o.stdio[1] == LSH_IO_STDIO_PTY ||
                   o.stdio[2] == LSH_IO_STDIO_PTY)) {
        return luaL_error(L, "\"pty\" streams need pty = true");
    }
    if (o.stdio[0] == LSH_IO_STDIO_STDOUT || o.stdio[1] == LSH_IO_STDIO_STDOUT) {
        return luaL_error(L, "only stderr can be redirected to stdout");
    }
    o.cols = opt_u32(L, opts, "cols");
    o.rows = opt_u32(L, opts, "rows");
    o.width_px = opt_u32(L, opts, "width_px");
    o.height_px = opt_u32(L, opts, "height_px");
    o.nmodes = get_modes(L, opts, modes, sizeof(modes) / sizeof(modes[0]));
    o.modes = modes;

    u = lua_newuserdatauv(L, sizeof(*u), 0);
    memset(u, 0, sizeof(*u));
    luaL_setmetatable(L, PROC_MT);
    u->closed = 1; /* until the child exists */
    for (int i = 0; i < 3; i++) {
        u->piped[i] = o.stdio[i] == LSH_IO_STDIO_PIPE ||
                      (o.stdio[i] == LSH_IO_STDIO_PTY && i < 2);
        u->reading[i] = i > 0 && u->piped[i];
        u->eof[i] = !u->piped[i];
    }
    u->pty = o.pty;
    snprintf(u->cmd, sizeof(u->cmd), "%s", o.file);
    r = lsh_io_proc_spawn(&o, &proc_cbs, u, &u->p, &fail);
    if (r != 0) {
        u->p = NULL;
        return raise_spawn_error(L, o.file, o.cwd, r, &fail);
    }
    u->closed = 0;
    u->pid = lsh_io_proc_pid(u->p);
    return 1;
}

/* The object */

static procud *
check_proc(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, PROC_MT);
}

static int
check_fd(lua_State *L, procud *u, int idx)
{
    lua_Integer fd = luaL_checkinteger(L, idx);
    if (fd != 1 && fd != 2) {
        luaL_argerror(L, idx, "1 (stdout) or 2 (stderr) expected");
    }
    if (!u->piped[fd]) {
        luaL_error(L, "the subprocess's %s is not a pipe",
                   fd == 1 ? "stdout" : "stderr");
    }
    return (int)fd;
}

/* [-0, +1] Takes n buffered bytes of fd as a string. */
static void
take_push(lua_State *L, procud *u, int fd, size_t n)
{
    llsh_bytes *b = &u->in[fd];
    if (n == 0) {
        lua_pushliteral(L, "");
        return;
    }
    lua_pushlstring(L, (const char *)b->p + b->head, n);
    llsh_bytes_take(b, n);
    update_reading(u, fd);
}

static void
wait_read(lua_State *L, procud *u, int fd)
{
    if (u->rd_wait[fd].task != NULL) {
        luaL_error(L, "another task is already reading this subprocess's %s",
                   fd == 1 ? "stdout" : "stderr");
    }
    llsh_wait(L, &u->rd_wait[fd]);
    update_reading(u, fd); /* a waiting reader wants more */
}

static int
read_k(lua_State *L, int status, lua_KContext ctx)
{
    procud *u;
    lua_Integer n;
    int fd;
    size_t avail;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 3);
    u = check_proc(L, 1);
    fd = check_fd(L, u, 2);
    n = luaL_optinteger(L, 3, -1);
    avail = llsh_bytes_avail(&u->in[fd]);
    if (n < 0) {
        if (u->eof[fd]) {
            take_push(L, u, fd, avail);
            return 1;
        }
    } else if (avail > 0 || n == 0) {
        take_push(L, u, fd, avail < (size_t)n ? avail : (size_t)n);
        return 1;
    } else if (u->eof[fd]) {
        lua_pushliteral(L, "");
        return 1;
    }
    wait_read(L, u, fd);
    return lua_yieldk(L, 0, ctx, read_k);
}

/* p:read(fd [, n]) -> up to n bytes once some are there; to EOF when n is
 * nil or negative; "" at EOF. */
static int
p_read(lua_State *L)
{
    check_proc(L, 1);
    return read_k(L, LUA_OK, 0);
}

static int
raise_incomplete(lua_State *L, procud *u, int fd, size_t avail,
                 const char *what)
{
    llsh_bytes *b = &u->in[fd];
    llsh_error_push(L, "IncompleteReadError", 0,
                    "end of file before %s (%d bytes read)", what,
                    (int)avail);
    lua_pushlstring(L, avail ? (const char *)b->p + b->head : "", avail);
    lua_setfield(L, -2, "partial");
    llsh_bytes_take(b, avail);
    update_reading(u, fd);
    return lua_error(L);
}

static int
readexactly_k(lua_State *L, int status, lua_KContext ctx)
{
    procud *u;
    lua_Integer n;
    int fd;
    size_t avail;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 3);
    u = check_proc(L, 1);
    fd = check_fd(L, u, 2);
    n = luaL_checkinteger(L, 3);
    if (n < 0) {
        return luaL_argerror(L, 3, "must not be negative");
    }
    avail = llsh_bytes_avail(&u->in[fd]);
    if (avail >= (size_t)n) {
        take_push(L, u, fd, (size_t)n);
        return 1;
    }
    if (u->eof[fd]) {
        return raise_incomplete(L, u, fd, avail, "the bytes asked for");
    }
    wait_read(L, u, fd);
    return lua_yieldk(L, 0, ctx, readexactly_k);
}

/* p:readexactly(fd, n) -> n bytes, or IncompleteReadError */
static int
p_readexactly(lua_State *L)
{
    check_proc(L, 1);
    return readexactly_k(L, LUA_OK, 0);
}

static int
readuntil_k(lua_State *L, int status, lua_KContext ctx)
{
    procud *u;
    size_t seplen, avail, from = (size_t)ctx;
    const char *sep;
    int fd, eof_ok;
    llsh_bytes *b;
    const uint8_t *hit;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 4);
    u = check_proc(L, 1);
    fd = check_fd(L, u, 2);
    sep = luaL_checklstring(L, 3, &seplen);
    eof_ok = lua_toboolean(L, 4);
    if (seplen == 0) {
        return luaL_argerror(L, 3, "empty separator");
    }
    b = &u->in[fd];
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
        take_push(L, u, fd, (size_t)(hit - (b->p + b->head)) + seplen);
        return 1;
    }
    if (u->eof[fd]) {
        if (eof_ok) {
            take_push(L, u, fd, avail);
            return 1;
        }
        return raise_incomplete(L, u, fd, avail, "the separator");
    }
    wait_read(L, u, fd);
    return lua_yieldk(L, 0, (lua_KContext)avail, readuntil_k);
}

/* p:readuntil(fd, sep [, eof_ok]) -> data ending with sep; at EOF what is
 * left with eof_ok, else IncompleteReadError with `partial`. */
static int
p_readuntil(lua_State *L)
{
    check_proc(L, 1);
    return readuntil_k(L, LUA_OK, 0);
}

/* p:at_eof(fd) */
static int
p_at_eof(lua_State *L)
{
    procud *u = check_proc(L, 1);
    int fd = check_fd(L, u, 2);
    lua_pushboolean(L, u->eof[fd] && llsh_bytes_avail(&u->in[fd]) == 0);
    return 1;
}

/* p:buffered(fd) -> bytes waiting to be read */
static int
p_buffered(lua_State *L)
{
    procud *u = check_proc(L, 1);
    int fd = check_fd(L, u, 2);
    lua_pushinteger(L, (lua_Integer)llsh_bytes_avail(&u->in[fd]));
    return 1;
}

/* p:_reading(fd) -> whether the pipe is being read (for tests) */
static int
p_reading(lua_State *L)
{
    procud *u = check_proc(L, 1);
    int fd = check_fd(L, u, 2);
    lua_pushboolean(L, u->p != NULL && !u->eof[fd] && u->reading[fd]);
    return 1;
}

/* Writing */

static int
raise_broken(lua_State *L, procud *u)
{
    return llsh_error_raise(L, "BrokenPipe", LSH_ECLOSED,
                            "the stdin of subprocess %d ('%s') is closed",
                            u->pid, u->cmd);
}

static void
check_stdin(lua_State *L, procud *u)
{
    if (!u->piped[0]) {
        luaL_error(L, "the subprocess's stdin is not a pipe");
    }
}

/* p:write(data): queued (copied); drain() waits until it has gone. */
static int
p_write(lua_State *L)
{
    procud *u = check_proc(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    int r;

    check_stdin(L, u);
    if (u->eof_called) {
        return luaL_error(L, "attempt to write after write_eof");
    }
    if (u->closed || u->p == NULL) {
        return raise_broken(L, u);
    }
    if (n == 0) {
        return 0;
    }
    r = lsh_io_proc_write(u->p, (const uint8_t *)s, n);
    if (r == LSH_ENOMEM) {
        return luaL_error(L, "out of memory");
    }
    if (r != 0) {
        return raise_broken(L, u);
    }
    return 0;
}

static int
drain_k(lua_State *L, int status, lua_KContext ctx)
{
    procud *u;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    u = check_proc(L, 1);
    if (u->closed || u->p == NULL) {
        return u->eof_called ? 0 : raise_broken(L, u);
    }
    if (lsh_io_proc_write_error(u->p) != 0) {
        return raise_broken(L, u);
    }
    if (lsh_io_proc_write_pending(u->p) == 0) {
        return 0;
    }
    llsh_waitq_wait(L, &u->drain_q);
    return lua_yieldk(L, 0, ctx, drain_k);
}

/* p:drain(): waits until what was written has gone to the child. */
static int
p_drain(lua_State *L)
{
    check_stdin(L, check_proc(L, 1));
    return drain_k(L, LUA_OK, 0);
}

/* p:write_eof(): ends stdin once what was written has gone. */
static int
p_write_eof(lua_State *L)
{
    procud *u = check_proc(L, 1);
    check_stdin(L, u);
    if (u->eof_called) {
        return 0;
    }
    u->eof_called = 1;
    if (u->p != NULL && !u->closed) {
        lsh_io_proc_write_eof(u->p);
    }
    return 0;
}

/* p:write_buffer_size() */
static int
p_write_buffer_size(lua_State *L)
{
    procud *u = check_proc(L, 1);
    lua_pushinteger(L, u->p ? (lua_Integer)lsh_io_proc_write_pending(u->p)
                            : 0);
    return 1;
}

/* Exit */

static void
push_returncode(lua_State *L, procud *u)
{
    if (!u->exited) {
        lua_pushnil(L);
    } else if (u->termsig) {
        lua_pushinteger(L, -u->termsig);
    } else {
        lua_pushinteger(L, u->status);
    }
}

static int
wait_k(lua_State *L, int status, lua_KContext ctx)
{
    procud *u;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    u = check_proc(L, 1);
    if (u->exited) {
        push_returncode(L, u);
        return 1;
    }
    if (u->p == NULL) {
        return luaL_error(L, "the subprocess was released");
    }
    llsh_waitq_wait(L, &u->exit_q);
    return lua_yieldk(L, 0, ctx, wait_k);
}

/* p:wait() -> returncode (the exit status, or -signal) */
static int
p_wait(lua_State *L)
{
    check_proc(L, 1);
    return wait_k(L, LUA_OK, 0);
}

/* p:returncode() -> returncode | nil while running */
static int
p_returncode(lua_State *L)
{
    push_returncode(L, check_proc(L, 1));
    return 1;
}

/* p:exit_info() -> exit_status | nil, signal name | nil, core_dumped */
static int
p_exit_info(lua_State *L)
{
    procud *u = check_proc(L, 1);
    if (!u->exited) {
        return 0;
    }
    if (u->termsig) {
        const char *n = signal_name(u->termsig);
        lua_pushnil(L);
        if (n != NULL) {
            lua_pushstring(L, n);
        } else {
            lua_pushfstring(L, "SIG%d", u->termsig);
        }
    } else {
        lua_pushinteger(L, u->status);
        lua_pushnil(L);
    }
    lua_pushboolean(L, u->core_dumped);
    return 3;
}

/* p:pid() */
static int
p_pid(lua_State *L)
{
    lua_pushinteger(L, check_proc(L, 1)->pid);
    return 1;
}

/* p:tty_name() -> "/dev/pts/N" | nil */
static int
p_tty_name(lua_State *L)
{
    procud *u = check_proc(L, 1);
    const char *n = u->p ? lsh_io_proc_tty_name(u->p) : NULL;
    if (n == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, n);
    }
    return 1;
}

/* p:send_signal(sig [, group]) -> true, or false when already reaped */
static int
p_send_signal(lua_State *L)
{
    procud *u = check_proc(L, 1);
    int sig = check_signal(L, 2);
    int r;
    if (u->p == NULL || u->exited) {
        lua_pushboolean(L, 0);
        return 1;
    }
    r = lsh_io_proc_kill(u->p, sig, lua_toboolean(L, 3));
    if (r == LSH_EINVAL) {
        return luaL_argerror(L, 2, "invalid signal");
    }
    lua_pushboolean(L, r == 0);
    return 1;
}

/* p:set_terminal_size(cols, rows [, width_px, height_px]) -> true, or
 * false without a pty */
static int
p_set_terminal_size(lua_State *L)
{
    procud *u = check_proc(L, 1);
    uint32_t v[4];
    for (int i = 0; i < 4; i++) {
        lua_Integer x = i < 2 ? luaL_checkinteger(L, i + 2)
                              : luaL_optinteger(L, i + 2, 0);
        if (x < 0 || x > 65535) {
            return luaL_argerror(L, i + 2, "must be in 0..65535");
        }
        v[i] = (uint32_t)x;
    }
    /* Without a pty (any more) there is no size to set: false. */
    lua_pushboolean(L, u->pty && u->p != NULL && !u->closed &&
                           lsh_io_proc_set_winsize(u->p, v[0], v[1], v[2],
                                                   v[3]) == 0);
    return 1;
}

static void
drop_buffers(procud *u)
{
    for (int i = 0; i < 3; i++) {
        llsh_bytes_free(&u->in[i]);
        u->eof[i] = 1;
    }
}

/* p:close(): kills a running child, closes the pipes, drops unread
 * output; wait() still reports the exit. */
static int
p_close(lua_State *L)
{
    procud *u = check_proc(L, 1);
    if (u->closed) {
        return 0;
    }
    u->closed = 1;
    if (u->p != NULL) {
        lsh_io_proc_close(u->p);
    }
    drop_buffers(u);
    for (int i = 1; i < 3; i++) {
        llsh_wake(&u->rd_wait[i], 0);
    }
    llsh_waitq_wake_all(&u->drain_q, 0);
    return 0;
}

/* p:is_closing() */
static int
p_is_closing(lua_State *L)
{
    lua_pushboolean(L, check_proc(L, 1)->closed);
    return 1;
}

static int
p_gc(lua_State *L)
{
    procud *u = check_proc(L, 1);
    /* Waiters belong to tasks that are gone too. */
    for (int i = 0; i < 3; i++) {
        u->rd_wait[i].task = NULL;
    }
    u->drain_q.head = u->exit_q.head = NULL;
    if (u->p != NULL) {
        lsh_io_proc_release(u->p);
        u->p = NULL;
    }
    u->closed = 1;
    drop_buffers(u);
    return 0;
}

static int
p_tostring(lua_State *L)
{
    procud *u = check_proc(L, 1);
    if (u->pid == 0) {
        lua_pushliteral(L, "SubprocessCore (not started)");
    } else {
        lua_pushfstring(L, "SubprocessCore %d ('%s')", u->pid, u->cmd);
    }
    return 1;
}

static const luaL_Reg proc_methods[] = {
    {"read", p_read},
    {"readexactly", p_readexactly},
    {"readuntil", p_readuntil},
    {"at_eof", p_at_eof},
    {"buffered", p_buffered},
    {"_reading", p_reading},
    {"write", p_write},
    {"drain", p_drain},
    {"write_eof", p_write_eof},
    {"write_buffer_size", p_write_buffer_size},
    {"wait", p_wait},
    {"returncode", p_returncode},
    {"exit_info", p_exit_info},
    {"pid", p_pid},
    {"tty_name", p_tty_name},
    {"send_signal", p_send_signal},
    {"set_terminal_size", p_set_terminal_size},
    {"close", p_close},
    {"is_closing", p_is_closing},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"signum", l_signum},
    {"signame", l_signame},
    {NULL, NULL}};

int
luaopen_luassh_proccore(lua_State *L)
{
    if (luaL_newmetatable(L, PROC_MT)) {
        luaL_newlib(L, proc_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, p_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, p_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, p_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
