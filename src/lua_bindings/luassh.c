/*
 * The `luassh.core` C module and the glue that makes `require "luassh"`
 * work both inside the luassh binary and from stock lua5.4 (luassh.so).
 */
#include "lua_bindings/luassh.h"

#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>

#include "lua_bindings/embedded.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"
#include "lua_bindings/sched.h"
#include "uvio/loop.h"

/* The SFTP server core for SSH sessions (l_sftp_server.c). */
int luaopen_luassh_sftpservercore(lua_State *L);
/* The SCP machines for lua/luassh/scp.lua (l_scp.c). */
int luaopen_luassh_scpcore(lua_State *L);
/* Password hashes over libxcrypt (l_crypt.c). */
int luaopen_luassh_cryptcore(lua_State *L);
/* The SFTP client for lua/luassh/sftp.lua (l_sftp.c). */
int luaopen_luassh_sftpcore(lua_State *L);

#ifndef LSH_VERSION
#define LSH_VERSION "0.0.0"
#endif

/* error_new(kind, reason [, fields]) -> error object */
static int
l_error_new(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *reason = luaL_optstring(L, 2, "");
    int code = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "code");
        code = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    llsh_error_push(L, kind, code, "%s", reason);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3) != 0) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, -4);
        }
    }
    return 1;
}

/* error_is(value [, kind]) -> boolean */
static int
l_error_is(lua_State *L)
{
    lua_pushboolean(L, llsh_error_is(L, 1, luaL_optstring(L, 2, NULL)));
    return 1;
}

static int
l_error_metatable(lua_State *L)
{
    luaL_getmetatable(L, LLSH_ERROR_MT);
    return 1;
}

static int
l_versions(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, LSH_VERSION);
    lua_setfield(L, -2, "luassh");
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION));
    lua_setfield(L, -2, "openssl");
    lua_pushstring(L, lsh_io_version());
    lua_setfield(L, -2, "libuv");
    return 1;
}

static int run_active;

/*
 * run(fn, ...) -> fn's results.  Inside a task, calls fn directly; from
 * plain Lua (stock lua5.4), runs fn as a task and drives the loop until it
 * finishes.
 */
static int
l_run_wrapper(lua_State *L)
{
    llsh_task *t;
    int n;
    luaL_checkany(L, 1);
    if (llsh_current(L) != NULL) {
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    if (run_active) {
        return luaL_error(L, "luassh.run cannot be nested");
    }
    t = llsh_spawn(L, 1, lua_gettop(L) - 1);
    run_active = 1;
    llsh_run_until(L, t);
    run_active = 0;
    n = llsh_task_push_outcome(L, t);
    if (n < 0) {
        return lua_error(L);
    }
    return n;
}

static const luaL_Reg core_funcs[] = {
    {"error_new", l_error_new},
    {"error_is", l_error_is},
    {"error_metatable", l_error_metatable},
    {"versions", l_versions},
    {"run", l_run_wrapper},
    {NULL, NULL}};

int
luaopen_luassh_core(lua_State *L)
{
    llsh_error_open(L);
    luaL_newlib(L, core_funcs);
    llsh_sched_open(L);
    lua_pushstring(L, LSH_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

/* package.searchers entry for the modules compiled into the binary. */
static int
embedded_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const llsh_embedded *m = llsh_embedded_modules; m->name; m++) {
        if (strcmp(m->name, name) == 0) {
            if (luaL_loadbuffer(L, m->source, m->len, m->chunkname) != 0) {
                return lua_error(L);
            }
            lua_pushstring(L, m->chunkname + 1);
            return 2;
        }
    }
    lua_pushfstring(L, "no embedded module '%s'", name);
    return 1;
}

static int
shutdown_gc(lua_State *L)
{
    llsh_sched_close(L);
    return 0;
}

void
llsh_openlibs(lua_State *L)
{
    /* Run the loop's shutdown after every other finaliser: finalisers run
     * in reverse order of creation, and this one is created first. */
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, shutdown_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "luassh.shutdown");

    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_luassh_core);
    lua_setfield(L, -2, "luassh.core");
    lua_pushcfunction(L, luaopen_luassh_testing);
    lua_setfield(L, -2, "luassh.testing");
    lua_pushcfunction(L, luaopen_luassh_keycore);
    lua_setfield(L, -2, "luassh.keycore");
    lua_pushcfunction(L, luaopen_luassh_clientcore);
    lua_setfield(L, -2, "luassh.clientcore");
    lua_pushcfunction(L, luaopen_luassh_servercore);
    lua_setfield(L, -2, "luassh.servercore");
    lua_pushcfunction(L, luaopen_luassh_sftpservercore); /* l_sftp_server.c */
    lua_setfield(L, -2, "luassh.sftpservercore");
    lua_pushcfunction(L, luaopen_luassh_agentcore);
    lua_setfield(L, -2, "luassh.agentcore");
    lua_pushcfunction(L, luaopen_luassh_proccore); /* l_proc.c */
    lua_setfield(L, -2, "luassh.proccore");
    lua_pushcfunction(L, luaopen_luassh_scpcore); /* l_scp.c */
    lua_setfield(L, -2, "luassh.scpcore");
    lua_pushcfunction(L, luaopen_luassh_cryptcore); /* l_crypt.c */
    lua_setfield(L, -2, "luassh.cryptcore");
    lua_pushcfunction(L, luaopen_luassh_sftpcore); /* l_sftp.c */
    lua_setfield(L, -2, "luassh.sftpcore");
    lua_pop(L, 1);
    /* Open the core now: the scheduler must exist before the first task. */
    luaL_requiref(L, "luassh.core", luaopen_luassh_core, 0);
    lua_pop(L, 1);

    /* Insert the embedded searcher right after the preload searcher. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, embedded_searcher);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}

/* Entry point when loaded from stock lua5.4 as luassh.so. */
int
luaopen_luassh(lua_State *L)
{
    llsh_openlibs(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "luassh");
    lua_call(L, 1, 1);
    return 1;
}
