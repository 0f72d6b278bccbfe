/*
 * luassh: the command-line runner.
 *
 * It behaves like the `lua` interpreter (same options, `arg` table, exit
 * status and error report), except that every chunk it runs — LUA_INIT,
 * -e, -l, the script, each REPL line — runs as a luassh task on the event
 * loop, so top-level code can call functions that wait.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <openssl/crypto.h>

#include "lua_bindings/luassh.h"
#include "lua_bindings/repl.h"
#include "lua_bindings/sched.h"
#include "ssh/sftp/server.h"
#include "uvio/loop.h"

#ifndef LSH_VERSION
#define LSH_VERSION "0.0.0"
#endif

static const char *progname = "luassh";

static void
usage(const char *badopt)
{
    if (badopt[1] == 'e' || badopt[1] == 'l') {
        fprintf(stderr, "%s: '%s' needs argument\n", progname, badopt);
    } else {
        fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badopt);
    }
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n"
            "  --version show luassh, Lua, OpenSSL and libuv versions\n"
            "  --help    show examples\n"
            "  --sftp-server [root]  serve SFTP on stdin/stdout (sftp -D)\n",
            progname);
}

static void
print_help(void)
{
    printf(
        "luassh %s: scriptable SSH on an event loop, with Lua %s.\n\n"
        "usage: luassh [options] [script [args]]   (as the lua "
        "interpreter)\n\n"
        "Examples:\n"
        "  luassh                       interactive prompt (tasks keep "
        "running)\n"
        "  luassh script.lua a b        run a script; arg[1] = \"a\"\n"
        "  luassh -e 'local ssh = require \"luassh\"\n"
        "             ssh.sleep(0.5) print(ssh.now())'\n"
        "  luassh -e 'local ssh = require \"luassh\"\n"
        "             local r = ssh.gather({function() ssh.sleep(1) "
        "return 1 end,\n"
        "                                  function() return 2 end})\n"
        "             print(r[1], r[2])'\n"
        "  busted --lua=luassh spec/    run busted specs inside the "
        "runtime\n"
        "  luassh --sftp-server [root]  SFTP server on stdin/stdout "
        "(sftp -D, Subsystem)\n\n"
        "Run `luassh -h`-style options as for lua; see README.md and doc/ "
        "for the API.\n",
        LSH_VERSION, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
}

static void
print_versions(void)
{
    printf("luassh %s\n%s\n%s\nlibuv %s\n", LSH_VERSION, LUA_RELEASE,
           OpenSSL_version(OPENSSL_VERSION), lsh_io_version());
}

static void
print_banner(void)
{
    printf("luassh %s, %s\n", LSH_VERSION, LUA_COPYRIGHT);
    fflush(stdout);
}

/* Prints an error report like lua: "progname: message\ntraceback". */
static void
report(const char *text)
{
    fprintf(stderr, "%s: %s\n", progname, text);
    fflush(stderr);
}

/*
 * [-(nargs+1), +0] Runs the function below nargs arguments as a task
 * until it finishes.  Returns LUA_OK or an error status (already reported).
 */
static int
run_task(lua_State *L, int nargs)
{
    int base = lua_gettop(L) - nargs;
    llsh_task *t = llsh_spawn(L, base, nargs);
    int failed = llsh_run_until(L, t);
    if (failed) {
        const char *tb = llsh_task_traceback(t);
        report(tb != NULL ? tb : "(error object is not a string)");
    }
    lua_settop(L, base - 1);
    return failed ? LUA_ERRRUN : LUA_OK;
}

static int
report_load(lua_State *L, int status)
{
    if (status != LUA_OK) {
        report(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

static int
run_string(lua_State *L, const char *s, const char *name)
{
    int st = luaL_loadbuffer(L, s, strlen(s), name);
    if (st != LUA_OK) {
        return report_load(L, st);
    }
    return run_task(L, 0);
}

/* -l mod or -l g=mod: global g = require("mod"), inside a task. */
static int
run_require(lua_State *L, const char *spec)
{
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    const char *glob = spec;
    size_t glen = eq ? (size_t)(eq - spec) : strlen(spec);
    static const char code[] =
        "local g, m = ... ; _G[g] = require(m)";
    char gname[256];

    if (eq == NULL) {
        /* "a.b-c" loads into global "a": stop at the first '-' or '.'? As
         * lua does, the global name is the module name up to a '-'. */
        const char *dash = strchr(mod, '-');
        glen = dash ? (size_t)(dash - mod) : strlen(mod);
        glob = mod;
    }
    if (glen >= sizeof(gname)) {
        glen = sizeof(gname) - 1;
    }
    memcpy(gname, glob, glen);
    gname[glen] = '\0';
    if (luaL_loadbuffer(L, code, sizeof(code) - 1, "=(command line)")) {
        return report_load(L, LUA_ERRSYNTAX);
    }
    lua_pushstring(L, gname);
    lua_pushstring(L, mod);
    return run_task(L, 2);
}

static int
run_init(lua_State *L)
{
    const char *name = "=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR;
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL) {
        return LUA_OK;
    }
    if (init[0] == '@') {
        int st = luaL_loadfile(L, init + 1);
        return st != LUA_OK ? report_load(L, st) : run_task(L, 0);
    }
    return run_string(L, init, name);
}

/* The `arg` table: script at 0, interpreter and options negative. */
static void
make_arg_table(lua_State *L, char **argv, int argc, int script)
{
    int narg = argc - (script + 1);
    lua_createtable(L, narg, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int
run_script(lua_State *L, char **argv, int argc, int script)
{
    const char *fname = argv[script];
    int st, nargs;
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) {
        fname = NULL; /* stdin */
    }
    st = luaL_loadfile(L, fname);
    if (st != LUA_OK) {
        return report_load(L, st);
    }
    nargs = argc - script - 1;
    luaL_checkstack(L, nargs, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
    }
    return run_task(L, nargs);
}

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_NOENV = 8, HAS_W = 16 };

/*
 * Scans options.  Returns the index of the script (argc when none) and
 * sets *flags; returns -1 on a bad option (badopt set).
 */
static int
scan_args(char **argv, int argc, int *flags, const char **badopt)
{
    int i;
    *flags = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            return i;
        }
        if (strcmp(a, "--") == 0) {
            return i + 1 < argc ? i + 1 : argc;
        }
        if (strcmp(a, "-") == 0) {
            return i;
        }
        switch (a[1]) {
        case 'E':
        case 'W':
        case 'i':
        case 'v':
            if (a[2] != '\0') {
                *badopt = a;
                return -1;
            }
            *flags |= a[1] == 'E'   ? HAS_NOENV
                      : a[1] == 'W' ? HAS_W
                      : a[1] == 'i' ? (HAS_I | HAS_V)
                                    : HAS_V;
            break;
        case 'e':
        case 'l':
            if (a[1] == 'e') {
                *flags |= HAS_E;
            }
            if (a[2] == '\0' && (i + 1 >= argc || argv[i + 1][0] == '-')) {
                *badopt = a;
                return -1;
            }
            if (a[2] == '\0') {
                i++;
            }
            break;
        default:
            *badopt = a;
            return -1;
        }
    }
    return argc;
}

/* Runs -e and -l in command-line order. */
static int
run_options(lua_State *L, char **argv, int script)
{
    for (int i = 1; i < script; i++) {
        const char *a = argv[i];
        const char *val;
        int st;
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l')) {
            continue;
        }
        val = a[2] != '\0' ? a + 2 : argv[++i];
        st = a[1] == 'e' ? run_string(L, val, "=(command line)")
                         : run_require(L, val);
        if (st != LUA_OK) {
            return st;
        }
    }
    return LUA_OK;
}

static int
run_main(lua_State *L, int argc, char **argv)
{
    int flags = 0, script, st = LUA_OK;
    const char *badopt = NULL;

    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        print_versions();
        return LUA_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        print_help();
        return LUA_OK;
    }
    script = scan_args(argv, argc, &flags, &badopt);
    if (script < 0) {
        usage(badopt);
        return LUA_ERRRUN;
    }
    if (flags & HAS_V) {
        print_banner();
    }
    if (flags & HAS_NOENV) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    llsh_openlibs(L);
    make_arg_table(L, argv, argc, script < argc ? script : 0);
    lua_gc(L, LUA_GCGEN, 0, 0);
    if (flags & HAS_W) {
        lua_warning(L, "@on", 0);
    }
    if (!(flags & HAS_NOENV) && (st = run_init(L)) != LUA_OK) {
        return st;
    }
    if ((st = run_options(L, argv, script)) != LUA_OK) {
        return st;
    }
    if (script < argc && (st = run_script(L, argv, argc, script)) != LUA_OK) {
        return st;
    }
    if (flags & HAS_I) {
        return llsh_repl(L, progname);
    }
    if (script == argc && !(flags & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO)) {
            print_banner();
            return llsh_repl(L, progname);
        }
        st = luaL_loadfile(L, NULL);
        return st != LUA_OK ? report_load(L, st) : run_task(L, 0);
    }
    return st;
}

int
main(int argc, char **argv)
{
    lua_State *L;
    int st;

    if (argv[0] != NULL && argv[0][0] != '\0') {
        progname = argv[0];
    }
    /* A closed peer must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "--sftp-server") == 0) {
        return lsh_sftp_serve_stdio(argc >= 3 ? argv[2] : NULL);
    }
    L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create state: not enough memory\n",
                progname);
        return EXIT_FAILURE;
    }
    st = run_main(L, argc, argv);
    /* As asyncio.run does: tasks still running when the script ends are
     * cancelled, so their <close> variables run. */
    llsh_sched_cancel_all(L, NULL);
    lua_close(L);
    return st == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
