/*
 * The interactive prompt.
 *
 * IMPLEMENTATION NOTES
 * libedit's readline callback interface reads a character at a time when
 * the loop reports stdin readable, so spawned tasks keep running while the
 * user types.  A complete line is compiled ("return <line>" first, then as
 * a statement, accumulating lines while the chunk is incomplete) and run
 * as its own task; stdin is not read while it runs.  Its results are
 * printed with the global print, as lua does.  Ctrl-C cancels the running
 * line's task, or clears the line being typed; Ctrl-D leaves.
 */
#include "lua_bindings/repl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>

#include "lua_bindings/sched.h"
#include "uvio/loop.h"

#define HISTORY_MAX 1000

static struct {
    lua_State *L;
    const char *progname;
    lsh_io_fdwatch *watch;
    lsh_io_signal *sigint;
    luaL_Buffer *unused;
    char *pending;  /* accumulated incomplete chunk, malloc'd */
    int chunk_ref;  /* compiled chunk waiting to run */
    int eof;
    int interrupted;
    int reprompt;   /* 1: show the prompt again, 2: the continuation one */
    char history[1024];
} R;

static const char *
prompt(int continuation)
{
    lua_State *L = R.L;
    const char *p;
    lua_getglobal(L, continuation ? "_PROMPT2" : "_PROMPT");
    p = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (p == NULL) {
        p = continuation ? ">> " : "> ";
    }
    /* libedit keeps the pointer: hold a copy. */
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s", p);
    return buf;
}

static void on_line(char *line);

static void
install(int continuation)
{
    rl_callback_handler_install(prompt(continuation), on_line);
    lsh_io_fdwatch_enable(R.watch, 1);
}

static void
uninstall(void)
{
    lsh_io_fdwatch_enable(R.watch, 0);
    rl_callback_handler_remove();
}

static void
append_pending(const char *line)
{
    size_t old = R.pending ? strlen(R.pending) : 0, n = strlen(line);
    char *p = realloc(R.pending, old + n + 2);
    if (p == NULL) {
        return;
    }
    if (old > 0) {
        p[old++] = '\n';
    }
    memcpy(p + old, line, n + 1);
    R.pending = p;
}

/* Incomplete input: a syntax error at <eof>. */
static int
incomplete(lua_State *L, int status)
{
    size_t n;
    const char *msg;
    if (status != LUA_ERRSYNTAX) {
        return 0;
    }
    msg = lua_tolstring(L, -1, &n);
    return n >= 5 && strcmp(msg + n - 5, "<eof>") == 0;
}

/* Compiles the pending text; 1 when a chunk is ready, 0 to read more. */
static int
compile_pending(void)
{
    lua_State *L = R.L;
    int st;
    if (strchr(R.pending, '\n') == NULL) {
        lua_pushfstring(L, "return %s", R.pending);
        st = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1),
                            "=stdin");
        lua_remove(L, -2);
        if (st == LUA_OK) {
            return 1;
        }
        lua_pop(L, 1);
    }
    st = luaL_loadbuffer(L, R.pending, strlen(R.pending), "=stdin");
    if (st == LUA_OK) {
        return 1;
    }
    if (incomplete(L, st)) {
        lua_pop(L, 1);
        return 0;
    }
    fprintf(stderr, "%s: %s\n", R.progname, lua_tostring(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
    return -1;
}

static void
on_line(char *line)
{
    int r;
    if (line == NULL) {
        R.eof = 1;
        uninstall();
        return;
    }
    append_pending(line);
    free(line);
    r = compile_pending();
    if (r == 0) {
        R.reprompt = 2;
        uninstall();
        return;
    }
    if (R.pending[0] != '\0') {
        add_history(R.pending);
    }
    free(R.pending);
    R.pending = NULL;
    if (r > 0) {
        R.chunk_ref = luaL_ref(R.L, LUA_REGISTRYINDEX);
        uninstall();
    } else {
        R.reprompt = 1;
        uninstall();
    }
}

static void
on_readable(void *data)
{
    (void)data;
    rl_callback_read_char();
}

static void
on_sigint(void *data)
{
    (void)data;
    R.interrupted = 1;
}

/* Runs the compiled chunk as a task and prints its results. */
static void
run_chunk(void)
{
    lua_State *L = R.L;
    llsh_task *t;
    int n, base = lua_gettop(L);

    lua_rawgeti(L, LUA_REGISTRYINDEX, R.chunk_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, R.chunk_ref);
    R.chunk_ref = LUA_NOREF;
    t = llsh_spawn(L, -1, 0);
    R.interrupted = 0;
    while (!llsh_task_done(t)) {
        if (R.interrupted) {
            R.interrupted = 0;
            lua_getfield(L, -1, "cancel");
            lua_pushvalue(L, -2);
            lua_call(L, 1, 0);
        }
        if (!llsh_loop_step() && !llsh_task_done(t)) {
            llsh_run_until(L, t); /* reports the deadlock */
        }
    }
    n = llsh_task_push_outcome(L, t);
    if (n < 0) {
        const char *tb = llsh_task_traceback(t);
        fprintf(stderr, "%s: %s\n", R.progname, tb ? tb : "(error)");
        fflush(stderr);
    } else if (n > 0) {
        lua_getglobal(L, "print");
        lua_insert(L, -(n + 1));
        if (lua_pcall(L, n, 0, 0) != LUA_OK) {
            fprintf(stderr, "%s: error calling 'print' (%s)\n", R.progname,
                    lua_tostring(L, -1));
        }
    }
    fflush(stdout);
    lua_settop(L, base);
}

int
llsh_repl(lua_State *L, const char *progname)
{
    const char *home = getenv("HOME");

    memset(&R, 0, sizeof(R));
    R.L = L;
    R.progname = progname;
    R.chunk_ref = LUA_NOREF;
    if (home != NULL) {
        snprintf(R.history, sizeof(R.history), "%s/.luassh_history", home);
        read_history(R.history);
    }
    stifle_history(HISTORY_MAX);
    /* Offer the API without a require at the prompt. */
    lua_getglobal(L, "ssh");
    if (lua_isnil(L, -1)) {
        lua_getglobal(L, "require");
        lua_pushliteral(L, "luassh");
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
            lua_setglobal(L, "ssh");
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    R.watch = lsh_io_fdwatch_new(STDIN_FILENO, on_readable, NULL);
    R.sigint = lsh_io_signal_new(SIGINT, on_sigint, NULL);
    if (R.watch == NULL) {
        fprintf(stderr, "%s: cannot watch standard input\n", progname);
        return LUA_ERRRUN;
    }
    install(0);
    while (!R.eof) {
        if (R.interrupted) {
            /* Ctrl-C while typing: drop the line. */
            R.interrupted = 0;
            free(R.pending);
            R.pending = NULL;
            uninstall();
            fputs("\n", stdout);
            install(0);
        }
        if (R.reprompt) {
            install(R.reprompt == 2);
            R.reprompt = 0;
            continue;
        }
        if (R.chunk_ref != LUA_NOREF) {
            run_chunk();
            if (!R.eof) {
                install(0);
            }
            continue;
        }
        llsh_loop_step();
    }
    fputs("\n", stdout);
    fflush(stdout);
    if (R.history[0] != '\0') {
        write_history(R.history);
    }
    lsh_io_fdwatch_close(R.watch);
    lsh_io_signal_close(R.sigint);
    free(R.pending);
    return LUA_OK;
}
