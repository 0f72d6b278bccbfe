/*
 * luassh.testing: test-only probes of the transport, used by the interop
 * specs until the client and server APIs exist (issues 5 and 6).
 *
 *   t.transport_probe{host=, port=, kex_algs=, encryption_algs=,
 *                     mac_algs=, compression_algs=, host_key_algs=,
 *                     rekeys=n, timeout=}
 *     connects, completes the key exchange (accepting any host key),
 *     optionally re-keys n times, requests ssh-userauth and returns a
 *     table of what was negotiated once SERVICE_ACCEPT arrives.
 *
 *   t.transport_server{host=, port=0, host_key_types={...}, kex_algs=, ...}
 *     listens; serves each client up to its first userauth request
 *     (LSH_EV_AUTH_REQUEST), which it answers with DISCONNECT.
 *     :port(), :accepted() -> list of info tables, :close().
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "common/error.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/sched.h"
#include "ssh/conn.h"
#include "uvio/tcp.h"

#include <stdio.h>

#define SERVER_MT "luassh.testing.Server"

typedef struct probe {
    lsh_io_conn *ioc;
    llsh_waiter w;
    int done;       /* 1: success, -1: failure */
    int closed;     /* the lsh_io_conn is gone */
    int abandoned;  /* the Lua side is gone: free on close */
    int rekeys_wanted, rekeys_done;
    int code;
    uint32_t reason;
    char detail[512];
    char fingerprint[80];
    char hostkey_type[64];
    /* Negotiated names, copied at SERVICE_ACCEPT. */
    char names[11][512];
    int strict;
    unsigned kex_count;
} probe;

static const char *const INFO_NAMES[] = {
    "kex",         "hostkey",    "cipher_c2s",     "cipher_s2c",
    "mac_c2s",     "mac_s2c",    "comp_c2s",       "comp_s2c",
    "peer_version", "our_version", "server_sig_algs"};

static void
snapshot(probe *p, lsh_conn *c)
{
    lsh_conn_stats st;
    for (int i = 0; i < 11; i++) {
        const char *v = lsh_conn_info(c, (enum lsh_conn_info)i);
        snprintf(p->names[i], sizeof(p->names[i]), "%s", v ? v : "");
    }
    lsh_conn_get_stats(c, &st);
    p->strict = st.strict_kex;
    p->kex_count = st.kex_count;
}

static void
finish(probe *p, int result)
{
    if (p->done == 0) {
        p->done = result;
    }
    llsh_wake(&p->w, 0);
}

static void
probe_connected(lsh_io_conn *ioc, int status, const char *detail, void *d)
{
    (void)ioc;
    probe *p = d;
    if (status != 0) {
        p->code = status;
        snprintf(p->detail, sizeof(p->detail), "%s", detail);
        finish(p, -1);
    }
}

static void
probe_event(lsh_io_conn *ioc, const lsh_event *ev, void *d)
{
    probe *p = d;
    lsh_conn *c = lsh_io_conn_core(ioc);
    switch (ev->type) {
    case LSH_EV_HOSTKEY:
        snprintf(p->fingerprint, sizeof(p->fingerprint), "%s", ev->text);
        snprintf(p->hostkey_type, sizeof(p->hostkey_type), "%s",
                 lsh_key_type_name(ev->key));
        (void)lsh_conn_hostkey_verdict(c, 1, NULL);
        break;
    case LSH_EV_KEX_DONE:
        if (ev->first) {
            if (lsh_conn_request_service(c, "ssh-userauth") != 0) {
                lsh_conn_disconnect(c, 0, "cannot request a service");
            }
        } else {
            p->rekeys_done++;
        }
        if (p->rekeys_done < p->rekeys_wanted && ev->first == 0 &&
            lsh_conn_rekey(c) != 0) {
            lsh_conn_disconnect(c, 0, "cannot re-key");
        }
        break;
    case LSH_EV_SERVICE_ACCEPT:
        if (p->rekeys_done < p->rekeys_wanted) {
            if (lsh_conn_rekey(c) != 0) {
                lsh_conn_disconnect(c, 0, "cannot re-key");
            }
            break;
        }
        snapshot(p, c);
        finish(p, 1);
        lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION, "probe done");
        break;
    case LSH_EV_CLOSED:
        if (p->done == 0) {
            p->code = ev->code;
            p->reason = ev->reason;
            snprintf(p->detail, sizeof(p->detail), "%s", ev->text);
            finish(p, -1);
        }
        break;
    default:
        break;
    }
    /* Re-keys: once the service is accepted, count completed ones. */
    if (ev->type == LSH_EV_KEX_DONE && !ev->first &&
        p->rekeys_done >= p->rekeys_wanted && p->rekeys_wanted > 0 &&
        p->done == 0) {
        snapshot(p, c);
        finish(p, 1);
        lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION, "probe done");
    }
}

static void
probe_closed(lsh_io_conn *ioc, void *d)
{
    (void)ioc;
    probe *p = d;
    p->closed = 1;
    p->ioc = NULL;
    if (p->done == 0) {
        p->code = LSH_ECLOSED;
        snprintf(p->detail, sizeof(p->detail), "connection closed");
        finish(p, -1);
    }
    if (p->abandoned) {
        free(p);
    }
}

static const lsh_io_conn_cbs probe_cbs = {probe_connected, probe_event,
                                          probe_closed};

static void
probe_cancel(llsh_waiter *w)
{
    probe *p = w->data;
    /* The waiting task is gone (timeout, cancel): abandon the probe. */
    p->abandoned = 1;
    if (p->ioc != NULL) {
        lsh_io_conn_close(p->ioc, 0);
    } else if (p->closed) {
        free(p);
    }
}

static const char *
opt_string(lua_State *L, int idx, const char *name)
{
    const char *v;
    lua_getfield(L, idx, name);
    v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v; /* kept alive by the options table */
}

static void
read_algs(lua_State *L, int idx, lsh_config *cfg)
{
    cfg->kex_algs = opt_string(L, idx, "kex_algs");
    cfg->host_key_algs = opt_string(L, idx, "host_key_algs");
    cfg->encryption_algs = opt_string(L, idx, "encryption_algs");
    cfg->mac_algs = opt_string(L, idx, "mac_algs");
    cfg->compression_algs = opt_string(L, idx, "compression_algs");
    lua_getfield(L, idx, "rekey_bytes");
    cfg->rekey_bytes = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
}

static int
push_probe_result(lua_State *L, probe *p)
{
    if (p->done < 0) {
        llsh_error_push(L, p->code == LSH_EDISCONNECTED ? "DisconnectError"
                                                        : "ConnectionLost",
                        p->code, "%s", p->detail);
        lua_pushinteger(L, p->reason);
        lua_setfield(L, -2, "disconnect_reason");
        return lua_error(L);
    }
    lua_createtable(L, 0, 16);
    for (int i = 0; i < 11; i++) {
        lua_pushstring(L, p->names[i]);
        lua_setfield(L, -2, INFO_NAMES[i]);
    }
    lua_pushstring(L, p->fingerprint);
    lua_setfield(L, -2, "fingerprint");
    lua_pushstring(L, p->hostkey_type);
    lua_setfield(L, -2, "hostkey_type");
    lua_pushboolean(L, p->strict);
    lua_setfield(L, -2, "strict");
    lua_pushinteger(L, p->kex_count);
    lua_setfield(L, -2, "kex_count");
    return 1;
}

static int
probe_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    probe *p = (probe *)ctx, copy;
    /* An interrupt abandons the probe through probe_cancel. */
    llsh_resumed(L);
    /* Wait for the outcome, then for the socket to close, so that nothing
     * outlives the call. */
    if (p->done == 0 || !p->closed) {
        llsh_wait(L, &p->w);
        return lua_yieldk(L, 0, ctx, probe_k);
    }
    copy = *p;
    free(p);
    lua_settop(L, 0);
    return push_probe_result(L, &copy);
}

static void
probe_closed_wake(lsh_io_conn *ioc, void *d)
{
    probe *p = d;
    int abandoned = p->abandoned;
    probe_closed(ioc, d); /* frees p when abandoned */
    if (!abandoned) {
        llsh_wake(&p->w, 0);
    }
}

static int
l_transport_probe(lua_State *L)
{
    lsh_config cfg;
    lsh_io_conn_cbs cbs = probe_cbs;
    probe *p;
    const char *host;
    int port, r;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (llsh_current(L) == NULL) {
        return llsh_require_task(L);
    }
    host = opt_string(L, 1, "host");
    lua_getfield(L, 1, "port");
    port = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_CLIENT;
    read_algs(L, 1, &cfg);
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return luaL_error(L, "out of memory");
    }
    lua_getfield(L, 1, "rekeys");
    p->rekeys_wanted = (int)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    p->w.cancel = probe_cancel;
    p->w.data = p;
    cbs.on_closed = probe_closed_wake;
    r = lsh_io_connect(host ? host : "127.0.0.1", port, &cfg, &cbs, p, 10000,
                       &p->ioc);
    if (r != 0) {
        free(p);
        return llsh_error_raise(L, "ConnectionLost", r,
                                "cannot connect to %s port %d: %s",
                                host ? host : "127.0.0.1", port,
                                lsh_strerror(r));
    }
    llsh_wait(L, &p->w);
    return lua_yieldk(L, 0, (lua_KContext)p, probe_k);
}

/* The server side */

#define MAX_RESULTS 256

typedef struct tserver {
    lsh_io_listener *l;
    lsh_key *keys[8];
    size_t nkeys;
    int refs;   /* the Lua object + one per live connection */
    int closed;
    size_t nresults;
    probe results[MAX_RESULTS];
} tserver;

typedef struct sconn {
    tserver *srv;
    probe info;
} sconn;

static void
server_unref(tserver *s)
{
    if (--s->refs > 0) {
        return;
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        lsh_key_free(s->keys[i]);
    }
    free(s);
}

static void
sconn_event(lsh_io_conn *ioc, const lsh_event *ev, void *d)
{
    sconn *sc = d;
    lsh_conn *c = lsh_io_conn_core(ioc);
    if (ev->type == LSH_EV_AUTH_REQUEST) {
        /* The transport is proven: record and refuse by disconnecting.
         * No USERAUTH_FAILURE first: a client with nothing left to try
         * (ssh -o BatchMode=yes) would give up on it and never read the
         * DISCONNECT text the interop specs look for. */
        snapshot(&sc->info, c);
        sc->info.done = 1;
        lsh_conn_disconnect(c, LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                            "luassh transport test server: no "
                            "authentication yet");
    } else if (ev->type == LSH_EV_CLOSED && sc->info.done == 0) {
        sc->info.done = -1;
        sc->info.code = ev->code;
        snprintf(sc->info.detail, sizeof(sc->info.detail), "%s", ev->text);
        snapshot(&sc->info, c);
    }
}

static void
sconn_closed(lsh_io_conn *ioc, void *d)
{
    (void)ioc;
    sconn *sc = d;
    tserver *s = sc->srv;
    if (s->nresults < MAX_RESULTS) {
        s->results[s->nresults++] = sc->info;
    }
    server_unref(s);
    free(sc);
}

static const lsh_io_conn_cbs sconn_cbs = {NULL, sconn_event, sconn_closed};

static void
on_accept(lsh_io_listener *l, lsh_io_conn *ioc, void *data)
{
    (void)l;
    tserver *s = data;
    sconn *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        lsh_io_conn_close(ioc, 0);
        return;
    }
    sc->srv = s;
    s->refs++;
    lsh_io_conn_set_data(ioc, &sconn_cbs, sc);
}

static int
key_type_from_string(const char *s, enum lsh_key_type *t, unsigned *bits)
{
    *bits = 0;
    if (strcmp(s, "ssh-ed25519") == 0) *t = LSH_KEY_ED25519;
    else if (strcmp(s, "ssh-ed448") == 0) *t = LSH_KEY_ED448;
    else if (strcmp(s, "ecdsa-sha2-nistp256") == 0) *t = LSH_KEY_ECDSA_P256;
    else if (strcmp(s, "ecdsa-sha2-nistp384") == 0) *t = LSH_KEY_ECDSA_P384;
    else if (strcmp(s, "ecdsa-sha2-nistp521") == 0) *t = LSH_KEY_ECDSA_P521;
    else if (strcmp(s, "ssh-rsa") == 0) { *t = LSH_KEY_RSA; *bits = 2048; }
    else return -1;
    return 0;
}

static int
l_transport_server(lua_State *L)
{
    lsh_config cfg;
    tserver *s, **ud;
    char err[256];
    const char *host;
    int port, r;

    luaL_checktype(L, 1, LUA_TTABLE);
    ud = lua_newuserdatauv(L, sizeof(*ud), 0);
    *ud = NULL;
    luaL_setmetatable(L, SERVER_MT);
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return luaL_error(L, "out of memory");
    }
    s->refs = 1;
    s->closed = 1;
    *ud = s;
    lua_getfield(L, 1, "host_key_types");
    if (lua_istable(L, -1)) {
        for (lua_Integer i = 1;
             i <= (lua_Integer)luaL_len(L, -1) && s->nkeys < 8; i++) {
            enum lsh_key_type t;
            unsigned bits;
            lua_rawgeti(L, -1, i);
            if (key_type_from_string(luaL_checkstring(L, -1), &t, &bits) !=
                    0 ||
                lsh_key_generate(t, bits, &s->keys[s->nkeys]) != 0) {
                return luaL_error(L, "cannot make a %s host key",
                                  lua_tostring(L, -1));
            }
            s->nkeys++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (s->nkeys == 0) {
        if (lsh_key_generate(LSH_KEY_ED25519, 0, &s->keys[0]) != 0) {
            return luaL_error(L, "cannot make a host key");
        }
        s->nkeys = 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_SERVER;
    cfg.host_keys = s->keys;
    cfg.n_host_keys = s->nkeys;
    read_algs(L, 1, &cfg);
    host = opt_string(L, 1, "host");
    lua_getfield(L, 1, "port");
    port = (int)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    r = lsh_io_listen(host ? host : "127.0.0.1", port, &cfg, on_accept, s,
                      &s->l, err, sizeof(err));
    if (r != 0) {
        return llsh_error_raise(L, "ConnectionLost", r, "%s", err);
    }
    s->closed = 0;
    return 1;
}

static tserver *
check_server(lua_State *L)
{
    tserver **ud = luaL_checkudata(L, 1, SERVER_MT);
    if (*ud == NULL) {
        luaL_error(L, "attempt to use a closed test server");
    }
    return *ud;
}

static int
server_port(lua_State *L)
{
    tserver *s = check_server(L);
    lua_pushinteger(L, s->closed ? -1 : lsh_io_listener_port(s->l));
    return 1;
}

static int
server_accepted(lua_State *L)
{
    tserver *s = check_server(L);
    lua_createtable(L, (int)s->nresults, 0);
    for (size_t k = 0; k < s->nresults; k++) {
        probe *p = &s->results[k];
        lua_createtable(L, 0, 16);
        for (int i = 0; i < 11; i++) {
            lua_pushstring(L, p->names[i]);
            lua_setfield(L, -2, INFO_NAMES[i]);
        }
        lua_pushboolean(L, p->done > 0);
        lua_setfield(L, -2, "ok");
        lua_pushstring(L, p->detail);
        lua_setfield(L, -2, "detail");
        lua_pushboolean(L, p->strict);
        lua_setfield(L, -2, "strict");
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

static int
server_close(lua_State *L)
{
    tserver **ud = luaL_checkudata(L, 1, SERVER_MT);
    tserver *s = *ud;
    if (s != NULL && !s->closed) {
        s->closed = 1;
        lsh_io_listener_close(s->l);
        s->l = NULL;
    }
    return 0;
}

static int
server_gc(lua_State *L)
{
    tserver **ud = luaL_checkudata(L, 1, SERVER_MT);
    server_close(L);
    if (*ud != NULL) {
        server_unref(*ud);
        *ud = NULL;
    }
    return 0;
}

static const luaL_Reg server_methods[] = {{"port", server_port},
                                          {"accepted", server_accepted},
                                          {"close", server_close},
                                          {NULL, NULL}};

static const luaL_Reg testing_funcs[] = {
    {"transport_probe", l_transport_probe},
    {"transport_server", l_transport_server},
    {NULL, NULL}};

int
luaopen_luassh_testing(lua_State *L)
{
    if (luaL_newmetatable(L, SERVER_MT)) {
        luaL_newlib(L, server_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, server_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, server_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, testing_funcs);
    return 1;
}
