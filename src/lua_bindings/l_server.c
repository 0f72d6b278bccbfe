/*
 * SSHAcceptor: the C half of ssh.listen (lua/luassh/server.lua).
 *
 * IMPLEMENTATION NOTES
 *
 * One listening socket (src/uvio/tcp.c) with a server core config.  Each
 * accepted socket becomes a server connection object (l_client.c,
 * llsh_server_conn_new) and waits in a queue until the Lua accept loop
 * takes it with listener:_accept().  Limits are applied here, before any
 * Lua runs, so that a flood costs one accept and one close per socket:
 *
 *   max_startups     connections not yet authenticated (OpenSSH's
 *                    MaxStartups with its "full" behaviour: past the
 *                    limit new sockets are closed at once);
 *   max_connections  all connections of the listener.
 *
 * The counters live in an llsh_slots shared with the connections, which
 * update them on authentication and close, so they stay right after the
 * listener is closed.
 *
 * Each connection holds a reference to the listener's state: its core
 * borrows the config's strings (lsh_config), and it may outlive the
 * listener.  Reverse direction (AsyncSSH's listen_reverse and
 * connect_reverse, RFC 8071 "call home"): a listener with role "client"
 * runs a client core on each accepted socket (l_client.c,
 * llsh_client_conn_adopt), and servercore.connect dials out with a server
 * core, its options kept in a listener that never listens.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "common/error.h"
#include "common/rd.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"
#include "lua_bindings/sched.h"
#include "ssh/keys/cert.h"
#include "uvio/tcp.h"

#define LLSH_LISTENER_MT "luassh.SSHAcceptor"
#define MAX_HOST_KEYS 16

typedef struct pending {
    struct pending *next;
    llsh_client *cl; /* one reference */
} pending;

typedef struct listener {
    int refs;                 /* the Lua object + the socket */
    lsh_io_listener *l;       /* NULL once closed */
    llsh_slots *slots;
    llsh_server_cfg scfg;
    llsh_client_cfg ccfg;     /* reverse: accepted sockets are clients */
    int reverse;
    unsigned max_startups, max_connections;
    uint64_t dropped;         /* sockets closed by the limits */
    pending *head, *tail;
    llsh_waiter wait;
    lsh_key *keys[MAX_HOST_KEYS];
    size_t nkeys;
    lsh_cert *certs[MAX_HOST_KEYS];
    size_t ncerts;
    char *strs[8];
    char host[64];
} listener;

typedef struct listenud {
    listener *ls;
} listenud;

static void
listener_unref(listener *ls)
{
    if (--ls->refs > 0) {
        return;
    }
    while (ls->head != NULL) {
        pending *p = ls->head;
        ls->head = p->next;
        llsh_client_unref(p->cl);
        free(p);
    }
    for (size_t i = 0; i < ls->nkeys; i++) {
        lsh_key_free(ls->keys[i]);
    }
    for (size_t i = 0; i < ls->ncerts; i++) {
        lsh_cert_free(ls->certs[i]);
    }
    for (size_t i = 0; i < sizeof(ls->strs) / sizeof(ls->strs[0]); i++) {
        free(ls->strs[i]);
    }
    llsh_slots_unref(ls->slots);
    free(ls);
}

static void
owner_unref(void *owner)
{
    listener_unref(owner);
}

static void
on_accept(lsh_io_listener *l, lsh_io_conn *ioc, void *data)
{
    listener *ls = data;
    llsh_client *cl;
    pending *p;
    (void)l;
    if (ls->l != NULL && ls->max_startups > 0 &&
        ls->slots->unauth >= ls->max_startups) {
        /* Full: a connection that has not even sent its version line
         * (a flood's) makes room; real clients send theirs at once. */
        llsh_client *silent = llsh_slots_silent(ls->slots);
        if (silent != NULL && silent->ioc != NULL) {
            ls->dropped++;
            silent->by_us = 1;
            llsh_slot_done(silent); /* its close comes later */
            lsh_io_conn_close(silent->ioc, 0);
        }
    }
    if (ls->l == NULL ||
        (ls->max_startups > 0 &&
         ls->slots->unauth >= ls->max_startups) ||
        (ls->max_connections > 0 &&
         ls->slots->active >= ls->max_connections)) {
        ls->dropped++;
        lsh_io_conn_close(ioc, 0);
        return;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        lsh_io_conn_close(ioc, 0);
        return;
    }
    if (ls->reverse
            ? llsh_client_conn_adopt(ioc, &ls->ccfg, ls, owner_unref, &cl)
            : llsh_server_conn_new(ioc, &ls->scfg, ls->slots, &cl)) {
        free(p);
        lsh_io_conn_close(ioc, 0);
        return;
    }
    /* The core borrows the config's strings: the connection keeps the
     * listener's state alive (it may outlive the Lua object). */
    ls->refs++;
    if (!ls->reverse) {
        cl->owner = ls;
        cl->owner_unref = owner_unref;
    }
    p->cl = cl;
    if (ls->tail != NULL) {
        ls->tail->next = p;
    } else {
        ls->head = p;
    }
    ls->tail = p;
    llsh_wake(&ls->wait, 0);
}

static listener *
check_listener(lua_State *L, int idx)
{
    listenud *ud = luaL_checkudata(L, idx, LLSH_LISTENER_MT);
    if (ud->ls == NULL) {
        luaL_argerror(L, idx, "SSHAcceptor without state");
    }
    return ud->ls;
}

#define keep_str(L, idx, name, ls, slot) \
    llsh_keep_str(L, idx, name, &(ls)->strs[slot])
#define int_field llsh_int_field

/*
 * Options shared by servercore.listen and servercore.connect into ls and
 * cfg: host_keys (list of key objects with private halves; not for a
 * client role), host_certs, kex_algs, server_host_key_algs,
 * encryption_algs, mac_algs, compression_algs, server_version,
 * signature_algs, rekey_bytes, rekey_seconds, login_timeout_ms,
 * auth_methods, max_auth_tries, window, max_pktsize,
 * keepalive_interval_ms, keepalive_count_max.
 */
static void
parse_options(lua_State *L, int idx, listener *ls, lsh_config *cfg,
              int role)
{
    if (role == LSH_ROLE_SERVER) {
        lua_getfield(L, idx, "host_keys");
        luaL_checktype(L, -1, LUA_TTABLE);
        for (lua_Integer i = 1; i <= (lua_Integer)luaL_len(L, -1); i++) {
            lsh_key *k;
            if (ls->nkeys == MAX_HOST_KEYS) {
                luaL_error(L, "at most %d host keys", MAX_HOST_KEYS);
            }
            lua_rawgeti(L, -1, i);
            k = llsh_check_key(L, -1);
            ls->keys[ls->nkeys++] = lsh_key_ref(k);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (ls->nkeys == 0) {
            luaL_error(L, "a server needs at least one host key");
        }
        lua_getfield(L, idx, "host_certs");
        if (lua_istable(L, -1)) {
            for (lua_Integer i = 1; i <= (lua_Integer)luaL_len(L, -1);
                 i++) {
                if (ls->ncerts == MAX_HOST_KEYS) {
                    luaL_error(L, "at most %d host certificates",
                               MAX_HOST_KEYS);
                }
                lua_rawgeti(L, -1, i);
                ls->certs[ls->ncerts++] =
                    lsh_cert_ref(llsh_check_cert(L, -1));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }

    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
    cfg->host_keys = ls->keys;
    cfg->n_host_keys = ls->nkeys;
    cfg->host_certs = ls->certs;
    cfg->n_host_certs = ls->ncerts;
    cfg->kex_algs = keep_str(L, idx, "kex_algs", ls, 0);
    cfg->host_key_algs = keep_str(L, idx, "server_host_key_algs", ls, 1);
    cfg->encryption_algs = keep_str(L, idx, "encryption_algs", ls, 2);
    cfg->mac_algs = keep_str(L, idx, "mac_algs", ls, 3);
    cfg->compression_algs = keep_str(L, idx, "compression_algs", ls, 4);
    cfg->software_version = keep_str(L, idx, "server_version", ls, 5);
    cfg->rekey_bytes = (uint64_t)int_field(L, idx, "rekey_bytes", 0);
    cfg->rekey_seconds = (uint64_t)int_field(L, idx, "rekey_seconds", 0);
    cfg->login_timeout_ms =
        (uint64_t)int_field(L, idx, "login_timeout_ms", 0);
    ls->scfg.methods = keep_str(L, idx, "auth_methods", ls, 6);
    cfg->sig_algs = keep_str(L, idx, "signature_algs", ls, 7);
    if (cfg->sig_algs != NULL &&
        (cfg->sig_algs[0] == '\0' ||
         lsh_namelist_check(cfg->sig_algs, strlen(cfg->sig_algs)) != 0)) {
        luaL_error(L, "signature_algs: not a list of algorithm names: '%s'",
                   cfg->sig_algs);
    }
    ls->scfg.max_auth_tries =
        (unsigned)int_field(L, idx, "max_auth_tries", 0);
    ls->scfg.window = (uint32_t)int_field(L, idx, "window", 0);
    ls->scfg.max_packet = (uint32_t)int_field(L, idx, "max_pktsize", 0);
    ls->scfg.ka_interval_ms =
        (uint64_t)int_field(L, idx, "keepalive_interval_ms", 0);
    ls->scfg.ka_count_max =
        (unsigned)int_field(L, idx, "keepalive_count_max", 3);
    ls->ccfg.window = ls->scfg.window;
    ls->ccfg.max_packet = ls->scfg.max_packet;
    ls->ccfg.ka_interval_ms = ls->scfg.ka_interval_ms;
    ls->ccfg.ka_count_max = ls->scfg.ka_count_max;
}

/* A listener userdata (also the options block of connect): [-0, +1]. */
static listener *
new_listener(lua_State *L, const char *host)
{
    listenud *ud = lua_newuserdatauv(L, sizeof(*ud), 0);
    listener *ls;
    ud->ls = NULL;
    luaL_setmetatable(L, LLSH_LISTENER_MT);
    if ((ls = calloc(1, sizeof(*ls))) == NULL ||
        (ls->slots = calloc(1, sizeof(*ls->slots))) == NULL) {
        free(ls);
        luaL_error(L, "out of memory");
        return NULL;
    }
    ls->refs = 1;
    ls->slots->refs = 1;
    ud->ls = ls;
    snprintf(ls->host, sizeof(ls->host), "%s", host);
    return ls;
}

/*
 * servercore.listen(host, port, opts) -> SSHAcceptor
 * opts: those of parse_options, plus max_startups, max_connections and
 * role ("server", the default; "client": each accepted socket runs a
 * client core, AsyncSSH's listen_reverse).
 */
static int
l_listen(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    listener *ls;
    lsh_config cfg;
    const char *role;
    char err[256];
    int r, reverse;

    luaL_checktype(L, 3, LUA_TTABLE);
    if (port < 0 || port > 65535) {
        return luaL_argerror(L, 2, "port must be in 0..65535");
    }
    lua_getfield(L, 3, "role");
    role = luaL_optstring(L, -1, "server");
    if (strcmp(role, "server") != 0 && strcmp(role, "client") != 0) {
        return luaL_error(L, "role must be 'server' or 'client'");
    }
    reverse = role[0] == 'c';
    lua_pop(L, 1);
    ls = new_listener(L, host);
    ls->reverse = reverse;
    parse_options(L, 3, ls, &cfg,
                  ls->reverse ? LSH_ROLE_CLIENT : LSH_ROLE_SERVER);
    ls->max_startups = (unsigned)int_field(L, 3, "max_startups", 0);
    ls->max_connections = (unsigned)int_field(L, 3, "max_connections", 0);

    r = lsh_io_listen(host, (int)port, &cfg, on_accept, ls, &ls->l, err,
                      sizeof(err));
    if (r != 0) {
        ls->l = NULL;
        return llsh_error_raise(L, "OSError", r, "%s", err);
    }
    return 1;
}

/*
 * servercore.connect(host, port, opts) -> SSHServerConnection
 * AsyncSSH's connect_reverse: dial out, then be the SSH server on the
 * socket.  opts: those of parse_options, plus connect_timeout_ms,
 * family (0, 4, 6), local_addr, local_port.
 */
static int
l_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    listener *ls;
    lsh_config cfg;
    lsh_io_connect_opts co;
    const char *local_addr = NULL;

    luaL_checktype(L, 3, LUA_TTABLE);
    if (port <= 0 || port > 65535) {
        return luaL_argerror(L, 2, "port must be in 1..65535");
    }
    /* The options block is a closed listener: its userdata frees it on
     * an error below, and the connection holds a reference of its own. */
    ls = new_listener(L, host);
    parse_options(L, 3, ls, &cfg, LSH_ROLE_SERVER);
    memset(&co, 0, sizeof(co));
    co.connect_timeout_ms =
        (uint64_t)int_field(L, 3, "connect_timeout_ms", 0);
    co.family = (int)int_field(L, 3, "family", 0);
    co.local_port = (int)int_field(L, 3, "local_port", 0);
    lua_getfield(L, 3, "local_addr");
    if (!lua_isnil(L, -1)) {
        /* Read at once by lsh_io_connect_ex (it stays on the stack). */
        local_addr = luaL_checkstring(L, -1);
    }
    co.local_addr = local_addr;
    ls->refs++; /* the connection's */
    llsh_server_conn_dial(L, host, (int)port, &cfg, &ls->scfg, &co, ls,
                          owner_unref);
    return 1;
}

static int
accept_k(lua_State *L, int status, lua_KContext ctx)
{
    listener *ls;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    ls = check_listener(L, 1);
    if (ls->head != NULL) {
        pending *p = ls->head;
        ls->head = p->next;
        if (ls->head == NULL) {
            ls->tail = NULL;
        }
        llsh_push_conn(L, p->cl); /* takes the queue's reference */
        free(p);
        return 1;
    }
    if (ls->l == NULL) {
        lua_pushnil(L);
        return 1;
    }
    if (ls->wait.task != NULL) {
        return luaL_error(L, "another task is accepting on this listener");
    }
    llsh_wait(L, &ls->wait);
    return lua_yieldk(L, 0, ctx, accept_k);
}

/* listener:_accept() -> server connection | nil once closed */
static int
ls_accept(lua_State *L)
{
    check_listener(L, 1);
    return accept_k(L, LUA_OK, 0);
}

/* listener:get_port() */
static int
ls_get_port(lua_State *L)
{
    listener *ls = check_listener(L, 1);
    if (ls->l == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushinteger(L, lsh_io_listener_port(ls->l));
    }
    return 1;
}

/* listener:_stats() -> {unauthenticated, connections, dropped} */
static int
ls_stats(lua_State *L)
{
    listener *ls = check_listener(L, 1);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, ls->slots->unauth);
    lua_setfield(L, -2, "unauthenticated");
    lua_pushinteger(L, ls->slots->active);
    lua_setfield(L, -2, "connections");
    lua_pushinteger(L, (lua_Integer)ls->dropped);
    lua_setfield(L, -2, "dropped");
    return 1;
}

static void
close_listener(listener *ls)
{
    if (ls->l != NULL) {
        lsh_io_listener_close(ls->l);
        ls->l = NULL;
    }
    /* Connections accepted but never taken by Lua go with it. */
    while (ls->head != NULL) {
        pending *p = ls->head;
        ls->head = p->next;
        if (p->cl->ioc != NULL) {
            lsh_io_conn_close(p->cl->ioc, 0);
        }
        llsh_client_unref(p->cl);
        free(p);
    }
    ls->tail = NULL;
    llsh_wake(&ls->wait, 0);
}

/* listener:_close(): stops listening (open connections stay). */
static int
ls_close(lua_State *L)
{
    close_listener(check_listener(L, 1));
    return 0;
}

/* listener:_is_closed() */
static int
ls_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_listener(L, 1)->l == NULL);
    return 1;
}

static int
ls_gc(lua_State *L)
{
    listenud *ud = luaL_checkudata(L, 1, LLSH_LISTENER_MT);
    listener *ls = ud->ls;
    if (ls == NULL) {
        return 0;
    }
    ud->ls = NULL;
    ls->wait.task = NULL;
    close_listener(ls);
    listener_unref(ls);
    return 0;
}

static int
ls_tostring(lua_State *L)
{
    listenud *ud = luaL_checkudata(L, 1, LLSH_LISTENER_MT);
    if (ud->ls == NULL || ud->ls->l == NULL) {
        lua_pushliteral(L, "SSHAcceptor (closed)");
    } else {
        lua_pushfstring(L, "SSHAcceptor on %s port %d", ud->ls->host,
                        lsh_io_listener_port(ud->ls->l));
    }
    return 1;
}

static const luaL_Reg listener_methods[] = {
    {"_accept", ls_accept},       {"_close", ls_close},
    {"_is_closed", ls_is_closed}, {"_stats", ls_stats},
    {"get_port", ls_get_port},    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"listen", l_listen}, {"connect", l_connect}, {NULL, NULL}};

int
luaopen_luassh_servercore(lua_State *L)
{
    luaL_newlib(L, module_funcs);
    if (luaL_newmetatable(L, LLSH_LISTENER_MT)) {
        luaL_newlib(L, listener_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ls_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ls_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, LLSH_LISTENER_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    return 1;
}
