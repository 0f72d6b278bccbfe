/*
 * luassh.sftpservercore: the SFTP server core (src/ssh/sftp/server.c, over
 * the chrooted POSIX backend of fs_posix.c) as a Lua object, so that the
 * SSH server (lua/luassh/server_process.lua) can serve the "sftp"
 * subsystem on a channel: it reads channel data, hands it to s:feed(),
 * and writes back what feed returns.
 *
 * The core is bytes in / bytes out and applies its own backpressure: feed
 * takes fewer bytes while its output is above the high-water mark, and
 * returns the rest, to be fed again once the output has been written.
 * File I/O is synchronous on the loop's thread (as in --sftp-server).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "common/error.h"
#include "ssh/sftp/server.h"

int luaopen_luassh_sftpservercore(lua_State *L);

#define SFTPSRV_MT "luassh.SFTPServerCore"
/* Output handed to Lua per feed call at most (about): backpressure. */
#define FEED_OUT_MAX ((size_t)1024 * 1024)

typedef struct sftpsrv {
    lsh_sftp_server *s;
    lsh_sftp_fs *fs;
} sftpsrv;

static sftpsrv *
check_srv(lua_State *L)
{
    sftpsrv *u = luaL_checkudata(L, 1, SFTPSRV_MT);
    if (u->s == NULL) {
        luaL_error(L, "the SFTP server session is closed");
    }
    return u;
}

static void
close_srv(sftpsrv *u)
{
    lsh_sftp_server_free(u->s);
    u->s = NULL;
    lsh_sftp_fs_free(u->fs);
    u->fs = NULL;
}

/*
 * new([root [, home]]) -> server.  root: the directory the client sees as
 * "/" (nil: the whole filesystem); home: where relative paths start
 * (default: the current directory without a root, "/" with one).
 */
static int
l_new(lua_State *L)
{
    const char *root = luaL_optstring(L, 1, NULL);
    const char *home = luaL_optstring(L, 2, NULL);
    lsh_sftp_server_config cfg;
    char cwd[PATH_MAX];
    sftpsrv *u = lua_newuserdatauv(L, sizeof(*u), 0);
    int r;

    memset(u, 0, sizeof(*u));
    luaL_setmetatable(L, SFTPSRV_MT);
    if ((r = lsh_sftp_fs_new(root != NULL ? root : "/", 0, &u->fs)) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open the SFTP root %s: %s",
                        root != NULL ? root : "/", lsh_strerror(r));
        return 2;
    }
    if (home == NULL && root == NULL && getcwd(cwd, sizeof(cwd)) != NULL) {
        home = cwd;
    }
    if (home != NULL && (r = lsh__sftp_fs_set_home(u->fs, home)) != 0) {
        close_srv(u);
        return luaL_error(L, "cannot set the SFTP home %s: %s", home,
                          lsh_strerror(r));
    }
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(u->fs, &cfg.backend);
    if ((r = lsh_sftp_server_new(&cfg, &u->s)) != 0) {
        close_srv(u);
        return luaL_error(L, "cannot start the SFTP server: %s",
                          lsh_strerror(r));
    }
    return 1;
}

/*
 * s:feed(data) -> output, rest, more | nil, message, output
 *   output: the bytes to send; rest: the part of data not taken yet (the
 *   output was full), to feed again after sending; more: requests are
 *   still waiting in the core: after sending, feed again (rest or "")
 *   before reading more input.  nil, message: a fatal
 *   protocol error (send output first: it is returned as the 3rd value).
 */
static int
s_feed(lua_State *L)
{
    sftpsrv *u = check_srv(L);
    size_t n, off = 0, total = 0;
    const uint8_t *data = (const uint8_t *)luaL_optlstring(L, 2, "", &n);
    luaL_Buffer b;
    int r = 0, more = 0;

    luaL_buffinit(L, &b);
    for (;;) {
        const uint8_t *p;
        size_t used = 0, k;
        r = lsh_sftp_server_feed(u->s, data + off, n - off, &used);
        off += used;
        lsh_sftp_server_out(u->s, &p, &k);
        if (k > 0) {
            luaL_addlstring(&b, (const char *)p, k);
            lsh_sftp_server_out_ack(u->s, k);
            total += k;
        }
        /* Requests may still wait in the core's input after all of data
         * was taken (it stops at its output high-water mark): go on while
         * output comes. */
        if (r != 0 || (used == 0 && k == 0)) {
            break;
        }
        if (total >= FEED_OUT_MAX) {
            more = 1; /* send this first, then feed again */
            break;
        }
    }
    luaL_pushresult(&b);
    if (r != 0) {
        const char *detail = NULL;
        lsh_sftp_server_error(u->s, &detail);
        lua_pushnil(L);
        lua_insert(L, -2);
        lua_pushfstring(L, "SFTP session ended: %s (%s)", lsh_strerror(r),
                        detail != NULL ? detail : "");
        lua_insert(L, -2);
        return 3;
    }
    lua_pushlstring(L, (const char *)data + off, n - off);
    lua_pushboolean(L, more);
    return 3;
}

/* s:handles() -> open handles */
static int
s_handles(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lsh_sftp_server_handles(check_srv(L)->s));
    return 1;
}

/* s:close(): closes every handle. */
static int
s_close(lua_State *L)
{
    close_srv(luaL_checkudata(L, 1, SFTPSRV_MT));
    return 0;
}

static const luaL_Reg methods[] = {{"feed", s_feed},
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
        lua_pushcfunction(L, s_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, s_close);
        lua_setfield(L, -2, "__close");
        lua_pushliteral(L, SFTPSRV_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    return 1;
}
