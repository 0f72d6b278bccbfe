/*
 * Trust stores as Lua objects: SSHKnownHosts (known_hosts.h),
 * SSHAuthorizedKeys (auth_keys.h), SSHAllowedSigners and SSHSIG
 * signatures (sshsig.h).  Reading the files (and skipping missing
 * known_hosts files) is done in lua/luassh/keys.lua; each object here
 * grows one file at a time with :load(data, filename).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "crypto/rng.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"
#include "ssh/keys/auth_keys.h"
#include "ssh/keys/known_hosts.h"
#include "ssh/keys/sshsig.h"

#define KH_MT "luassh.SSHKnownHosts"
#define AK_MT "luassh.SSHAuthorizedKeys"
#define AS_MT "luassh.SSHAllowedSigners"

typedef struct khobj {
    lsh_known_hosts *kh;
} khobj;

typedef struct akobj {
    lsh_auth_keys *ak;
} akobj;

typedef struct asobj {
    lsh_allowed_signers *as;
} asobj;

/*
 * Entries borrow their keys from the store as const pointers; an SSHKey
 * takes its own reference, which only touches the (atomic) refcount.
 */
static void
push_borrowed_key(lua_State *L, const lsh_key *k, const char *comment)
{
    llsh_push_key(L, (lsh_key *)k, comment);
}

/* [-0, +1] A list of {filename=, line=, reason=}. */
static void
push_problem(lua_State *L, const lsh_trust_problem *p)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, p->filename);
    lua_setfield(L, -2, "filename");
    lua_pushinteger(L, (lua_Integer)p->line);
    lua_setfield(L, -2, "line");
    lua_pushstring(L, p->reason);
    lua_setfield(L, -2, "reason");
}

static uint64_t
opt_now(lua_State *L, int idx)
{
    lua_Number v;
    if (lua_isnoneornil(L, idx)) {
        return (uint64_t)time(NULL);
    }
    v = luaL_checknumber(L, idx);
    return v <= 0 ? 0 : (uint64_t)v;
}

static int
check_port(lua_State *L, int idx)
{
    lua_Integer port = luaL_optinteger(L, idx, 22);
    if (port < 0 || port > 65535) {
        luaL_argerror(L, idx, "port must be in 0..65535");
    }
    return (int)port;
}

static int
raise_nomem_or(lua_State *L, int r, const char *what)
{
    if (r == LSH_ENOMEM) {
        return luaL_error(L, "out of memory");
    }
    return llsh_error_raise(L, "ValueError", r, "%s: %s", what,
                            lsh_strerror(r));
}

/* known_hosts */

static khobj *
check_kh(lua_State *L, int idx)
{
    khobj *o = luaL_checkudata(L, idx, KH_MT);
    if (o->kh == NULL) {
        luaL_argerror(L, idx, "SSHKnownHosts without a store");
    }
    return o;
}

/* known_hosts_new() -> SSHKnownHosts (empty) */
static int
l_known_hosts_new(lua_State *L)
{
    khobj *o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->kh = NULL;
    luaL_setmetatable(L, KH_MT);
    if ((o->kh = lsh_known_hosts_new()) == NULL) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

/* kh:load(data [, filename]) -> kh */
static int
kh_load(lua_State *L)
{
    khobj *o = check_kh(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *name = luaL_optstring(L, 3, NULL);
    if (lsh_known_hosts_add(o->kh, data, n, name) != 0) {
        return luaL_error(L, "out of memory");
    }
    lua_settop(L, 1);
    return 1;
}

static void
push_entry_list(lua_State *L, const lsh_kh_entry **v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_borrowed_key(L, v[i]->key, v[i]->comment);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* kh:match(host [, addr [, port]]) -> host_keys, ca_keys, revoked */
static int
kh_match(lua_State *L)
{
    khobj *o = check_kh(L, 1);
    const char *host = luaL_checkstring(L, 2);
    const char *addr = luaL_optstring(L, 3, NULL);
    int port = check_port(L, 4);
    lsh_kh_match m;
    int r;

    if ((r = lsh_known_hosts_match(o->kh, host, addr, port, &m)) != 0) {
        return raise_nomem_or(L, r, "cannot match known hosts");
    }
    /* A memory error below would leak m: reserve the stack first. */
    luaL_checkstack(L, 8, NULL);
    push_entry_list(L, m.host_keys, m.n_host_keys);
    push_entry_list(L, m.ca_keys, m.n_ca_keys);
    push_entry_list(L, m.revoked, m.n_revoked);
    lsh_kh_match_free(&m);
    return 3;
}

static const char *const kh_verdicts[] = {
    [LSH_KH_OK] = "ok",
    [LSH_KH_OK_CA] = "ok_ca",
    [LSH_KH_REVOKED] = "revoked",
    [LSH_KH_CHANGED] = "changed",
    [LSH_KH_UNKNOWN_TYPE_KNOWN_OTHERS] = "other_types",
    [LSH_KH_UNKNOWN] = "unknown",
};

/*
 * kh:check(host, addr, port, server_key [, ca_key])
 *   -> verdict, filename|nil, line|nil, description
 * server_key may be a certificate (already validated by the caller):
 * its key is checked and its CA stands for ca_key when that is nil.
 */
static int
kh_check(lua_State *L)
{
    khobj *o = check_kh(L, 1);
    const char *host = luaL_checkstring(L, 2);
    const char *addr = luaL_optstring(L, 3, NULL);
    int port = check_port(L, 4);
    lsh_cert *cert = llsh_test_cert(L, 5);
    const lsh_key *key, *ca = NULL;
    lsh_kh_verdict v;
    int r;

    if (cert != NULL) {
        key = lsh_cert_key(cert);
        ca = lsh_cert_signature_key(cert);
    } else {
        key = llsh_check_key(L, 5);
    }
    if (!lua_isnoneornil(L, 6)) {
        ca = llsh_check_key(L, 6);
    }
    if ((r = lsh_known_hosts_check(o->kh, host, addr, port, key, ca,
                                   &v)) != 0) {
        return raise_nomem_or(L, r, "cannot check known hosts");
    }
    lua_pushstring(L, kh_verdicts[v.status]);
    if (v.entry != NULL) {
        lua_pushstring(L, v.entry->filename);
        lua_pushinteger(L, (lua_Integer)v.entry->line);
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    lua_pushstring(L, lsh_kh_status_str(v.status));
    return 4;
}

static int
kh_problems(lua_State *L)
{
    khobj *o = check_kh(L, 1);
    size_t n = lsh_known_hosts_problem_count(o->kh);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_problem(L, lsh_known_hosts_problem(o->kh, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const char *const kh_markers[] = {NULL, "cert-authority", "revoked"};

static int
kh_entries(lua_State *L)
{
    khobj *o = check_kh(L, 1);
    size_t n = lsh_known_hosts_count(o->kh);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const lsh_kh_entry *e = lsh_known_hosts_entry(o->kh, i);
        lua_createtable(L, 0, 7);
        if (kh_markers[e->marker] != NULL) {
            lua_pushstring(L, kh_markers[e->marker]);
            lua_setfield(L, -2, "marker");
        }
        push_borrowed_key(L, e->key, e->comment);
        lua_setfield(L, -2, "key");
        lua_pushstring(L, e->hosts);
        lua_setfield(L, -2, "hosts");
        lua_pushboolean(L, e->hashed);
        lua_setfield(L, -2, "hashed");
        lua_pushstring(L, e->comment);
        lua_setfield(L, -2, "comment");
        lua_pushstring(L, e->filename);
        lua_setfield(L, -2, "filename");
        lua_pushinteger(L, (lua_Integer)e->line);
        lua_setfield(L, -2, "line");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int
kh_gc(lua_State *L)
{
    khobj *o = luaL_checkudata(L, 1, KH_MT);
    lsh_known_hosts_free(o->kh);
    o->kh = NULL;
    return 0;
}

static int
kh_tostring(lua_State *L)
{
    khobj *o = luaL_checkudata(L, 1, KH_MT);
    lua_pushfstring(L, "SSHKnownHosts (%d entries)",
                    o->kh ? (int)lsh_known_hosts_count(o->kh) : 0);
    return 1;
}

/* format_known_hosts_entry(host, port, key [, hashed]) -> line */
static int
l_format_known_hosts_entry(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    int port = check_port(L, 2);
    lsh_key *key = llsh_check_key(L, 3);
    int hashed = lua_toboolean(L, 4);
    lsh_buf b;
    int r;

    lsh_buf_init(&b, 0);
    r = lsh_known_hosts_format_entry(host, port, key, hashed, lsh_rng_fill,
                                     NULL, &b);
    if (r != 0) {
        lsh_buf_free(&b);
        if (r == LSH_EINVAL) {
            return llsh_error_raise(L, "ValueError", r,
                                    "cannot write a known_hosts entry for "
                                    "host name '%s'", host);
        }
        return raise_nomem_or(L, r, "cannot format a known_hosts entry");
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    return 1;
}

/* authorized_keys */

static akobj *
check_ak(lua_State *L, int idx)
{
    akobj *o = luaL_checkudata(L, idx, AK_MT);
    if (o->ak == NULL) {
        luaL_argerror(L, idx, "SSHAuthorizedKeys without a store");
    }
    return o;
}

static int
l_authorized_keys_new(lua_State *L)
{
    akobj *o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->ak = NULL;
    luaL_setmetatable(L, AK_MT);
    if ((o->ak = lsh_auth_keys_new()) == NULL) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

static int
ak_load(lua_State *L)
{
    akobj *o = check_ak(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *name = luaL_optstring(L, 3, NULL);
    if (lsh_auth_keys_add(o->ak, data, n, name, 0) != 0) {
        return luaL_error(L, "out of memory");
    }
    lua_settop(L, 1);
    return 1;
}

static void
push_permits(lua_State *L, const lsh_ak_permit *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, v[i].host);
        lua_setfield(L, -2, "host");
        if (v[i].port == LSH_AK_PORT_ANY) {
            lua_pushliteral(L, "*");
        } else {
            lua_pushinteger(L, v[i].port);
        }
        lua_setfield(L, -2, "port");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void
set_bool(lua_State *L, const char *name, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, name);
}

/* [-0, +1] The options of an authorized_keys line as a table. */
static void
push_auth_opts(lua_State *L, const lsh_auth_opts *o)
{
    lua_createtable(L, 0, 24);
    set_bool(L, "cert_authority", o->cert_authority);
    set_bool(L, "restrict", o->restricted);
    set_bool(L, "no_port_forwarding", !o->permit_port_forwarding);
    set_bool(L, "no_agent_forwarding", !o->permit_agent_forwarding);
    set_bool(L, "no_x11_forwarding", !o->permit_x11_forwarding);
    set_bool(L, "no_pty", !o->permit_pty);
    set_bool(L, "no_user_rc", !o->permit_user_rc);
    set_bool(L, "no_touch_required", o->no_touch_required);
    set_bool(L, "verify_required", o->verify_required);
    if (o->command != NULL) {
        lua_pushstring(L, o->command);
        lua_setfield(L, -2, "command");
    }
    if (o->n_env > 0) {
        lua_createtable(L, 0, (int)o->n_env);
        for (size_t i = 0; i < o->n_env; i++) {
            const char *eq = strchr(o->env[i], '=');
            if (eq == NULL) {
                continue;
            }
            lua_pushlstring(L, o->env[i], (size_t)(eq - o->env[i]));
            lua_pushstring(L, eq + 1);
            lua_settable(L, -3);
        }
        lua_setfield(L, -2, "environment");
    }
    if (o->n_permitopen > 0) {
        push_permits(L, o->permitopen, o->n_permitopen);
        lua_setfield(L, -2, "permitopen");
    }
    if (o->n_permitlisten > 0) {
        push_permits(L, o->permitlisten, o->n_permitlisten);
        lua_setfield(L, -2, "permitlisten");
    }
    if (o->principals != NULL) {
        lua_createtable(L, (int)o->n_principals, 0);
        for (size_t i = 0; i < o->n_principals; i++) {
            lua_pushstring(L, o->principals[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "principals");
    }
    if (o->from != NULL) {
        lua_pushstring(L, o->from);
        lua_setfield(L, -2, "from");
    }
    if (o->expiry_time != 0) {
        lua_pushinteger(L, (lua_Integer)o->expiry_time);
        lua_setfield(L, -2, "expiry_time");
    }
    if (o->tunnel == LSH_AK_TUNNEL_ANY) {
        lua_pushliteral(L, "any");
        lua_setfield(L, -2, "tunnel");
    } else if (o->tunnel >= 0) {
        lua_pushinteger(L, o->tunnel);
        lua_setfield(L, -2, "tunnel");
    }
    if (o->filename != NULL) {
        lua_pushstring(L, o->filename);
        lua_setfield(L, -2, "filename");
        lua_pushinteger(L, (lua_Integer)o->line);
        lua_setfield(L, -2, "line");
    }
}

static int opt_field_bool(lua_State *L, int t, const char *name);

static const char *
opt_field_string(lua_State *L, int t, const char *name)
{
    const char *v = NULL;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, name);
        v = lua_tostring(L, -1);
        lua_pop(L, 1); /* the options table keeps it alive */
    }
    return v;
}

/*
 * ak:match(key_or_cert [, {ca=, addr=, host=, now=, principals=}])
 *   -> options table | nil
 * With a certificate, its CA key is looked up on cert-authority lines and
 * the line's principals= must admit one of the certificate's principals
 * (or of opts.principals); the certificate itself (signature, validity,
 * type) is the caller's to check.
 */
static int
ak_match(lua_State *L)
{
    akobj *o = check_ak(L, 1);
    lsh_cert *cert = llsh_test_cert(L, 2);
    const lsh_key *key;
    int is_ca = 0, r, ok = 1;
    const char *addr, *host;
    uint64_t now;
    lsh_auth_opts opts;

    if (lua_isnoneornil(L, 3)) {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    addr = opt_field_string(L, 3, "addr");
    host = opt_field_string(L, 3, "host");
    if (cert != NULL) {
        key = lsh_cert_signature_key(cert);
        is_ca = 1;
    } else {
        key = llsh_check_key(L, 2);
        is_ca = opt_field_bool(L, 3, "ca");
    }
    lua_getfield(L, 3, "now");
    now = opt_now(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 3, "principals");
    luaL_checkstack(L, 8, NULL);
    r = lsh_auth_keys_match(o->ak, key, is_ca, addr, host, now, &opts);
    if (r == LSH_ENOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (r != 0) {
        return raise_nomem_or(L, r, "cannot match authorized keys");
    }
    if (is_ca && opts.principals != NULL &&
        (cert != NULL || lua_istable(L, -1))) {
        /* sshd: one of the certificate's principals must be listed. */
        ok = 0;
        if (lua_istable(L, -1)) {
            lua_Integer n = luaL_len(L, -1);
            for (lua_Integer i = 1; i <= n && !ok; i++) {
                lua_rawgeti(L, -1, i);
                ok = lua_isstring(L, -1) &&
                     lsh_auth_opts_principal_ok(&opts, lua_tostring(L, -1));
                lua_pop(L, 1);
            }
        } else if (cert != NULL) {
            for (size_t i = 0; i < lsh_cert_principal_count(cert) && !ok;
                 i++) {
                ok = lsh_auth_opts_principal_ok(
                    &opts, lsh_cert_principal(cert, i));
            }
        }
    }
    if (!ok) {
        lsh_auth_opts_clear(&opts);
        lua_pushnil(L);
        return 1;
    }
    push_auth_opts(L, &opts);
    lsh_auth_opts_clear(&opts);
    return 1;
}

static int
ak_problems(lua_State *L)
{
    akobj *o = check_ak(L, 1);
    size_t n = lsh_auth_keys_problem_count(o->ak);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_problem(L, lsh_auth_keys_problem(o->ak, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int
ak_entries(lua_State *L)
{
    akobj *o = check_ak(L, 1);
    size_t n = lsh_auth_keys_count(o->ak);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const lsh_ak_entry *e = lsh_auth_keys_entry(o->ak, i);
        lua_createtable(L, 0, 5);
        push_borrowed_key(L, e->key, e->comment);
        lua_setfield(L, -2, "key");
        push_auth_opts(L, e->opts);
        lua_setfield(L, -2, "options");
        lua_pushstring(L, e->comment);
        lua_setfield(L, -2, "comment");
        lua_pushstring(L, e->filename);
        lua_setfield(L, -2, "filename");
        lua_pushinteger(L, (lua_Integer)e->line);
        lua_setfield(L, -2, "line");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int
ak_gc(lua_State *L)
{
    akobj *o = luaL_checkudata(L, 1, AK_MT);
    lsh_auth_keys_free(o->ak);
    o->ak = NULL;
    return 0;
}

static int
ak_tostring(lua_State *L)
{
    akobj *o = luaL_checkudata(L, 1, AK_MT);
    lua_pushfstring(L, "SSHAuthorizedKeys (%d entries)",
                    o->ak ? (int)lsh_auth_keys_count(o->ak) : 0);
    return 1;
}

/* allowed_signers */

static asobj *
check_as(lua_State *L, int idx)
{
    asobj *o = luaL_checkudata(L, idx, AS_MT);
    if (o->as == NULL) {
        luaL_argerror(L, idx, "SSHAllowedSigners without a store");
    }
    return o;
}

static int
l_allowed_signers_new(lua_State *L)
{
    asobj *o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->as = NULL;
    luaL_setmetatable(L, AS_MT);
    if ((o->as = lsh_allowed_signers_new()) == NULL) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

static int
as_load(lua_State *L)
{
    asobj *o = check_as(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *name = luaL_optstring(L, 3, NULL);
    if (lsh_allowed_signers_add(o->as, data, n, name, 0) != 0) {
        return luaL_error(L, "out of memory");
    }
    lua_settop(L, 1);
    return 1;
}

/* as:check(principal, key, namespace [, now]) -> boolean */
static int
as_check(lua_State *L)
{
    asobj *o = check_as(L, 1);
    const char *principal = luaL_checkstring(L, 2);
    lsh_key *key = llsh_check_key(L, 3);
    const char *ns = luaL_optstring(L, 4, NULL);
    uint64_t now = opt_now(L, 5);
    lua_pushboolean(L, lsh_allowed_signers_check(o->as, principal, key, ns,
                                                 now) == 0);
    return 1;
}

/* as:find_principals(key [, namespace [, now]]) -> {principals...} */
static int
as_find_principals(lua_State *L)
{
    asobj *o = check_as(L, 1);
    lsh_key *key = llsh_check_key(L, 2);
    const char *ns = luaL_optstring(L, 3, NULL);
    uint64_t now = opt_now(L, 4);
    lsh_buf b;
    int r, i = 0;
    const char *p, *end;

    lsh_buf_init(&b, 0);
    r = lsh_allowed_signers_find_principals(o->as, key, ns, now, &b);
    if (r < 0 && r != LSH_ENOTFOUND) {
        lsh_buf_free(&b);
        return raise_nomem_or(L, r, "cannot search allowed signers");
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    lua_newtable(L);
    p = lua_tostring(L, -2);
    while ((end = strchr(p, '\n')) != NULL) {
        lua_pushlstring(L, p, (size_t)(end - p));
        lua_rawseti(L, -2, ++i);
        p = end + 1;
    }
    return 1;
}

static int
as_problems(lua_State *L)
{
    asobj *o = check_as(L, 1);
    size_t n = lsh_allowed_signers_problem_count(o->as);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_problem(L, lsh_allowed_signers_problem(o->as, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int
as_entries(lua_State *L)
{
    asobj *o = check_as(L, 1);
    size_t n = lsh_allowed_signers_count(o->as);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const lsh_as_entry *e = lsh_allowed_signers_entry(o->as, i);
        lua_createtable(L, 0, 9);
        lua_pushstring(L, e->principals);
        lua_setfield(L, -2, "principals");
        push_borrowed_key(L, e->key, e->comment);
        lua_setfield(L, -2, "key");
        set_bool(L, "cert_authority", e->cert_authority);
        if (e->namespaces != NULL) {
            lua_pushstring(L, e->namespaces);
            lua_setfield(L, -2, "namespaces");
        }
        if (e->valid_after != 0) {
            lua_pushinteger(L, (lua_Integer)e->valid_after);
            lua_setfield(L, -2, "valid_after");
        }
        if (e->valid_before != 0) {
            lua_pushinteger(L, (lua_Integer)e->valid_before);
            lua_setfield(L, -2, "valid_before");
        }
        lua_pushstring(L, e->filename);
        lua_setfield(L, -2, "filename");
        lua_pushinteger(L, (lua_Integer)e->line);
        lua_setfield(L, -2, "line");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int
as_gc(lua_State *L)
{
    asobj *o = luaL_checkudata(L, 1, AS_MT);
    lsh_allowed_signers_free(o->as);
    o->as = NULL;
    return 0;
}

static int
as_tostring(lua_State *L)
{
    asobj *o = luaL_checkudata(L, 1, AS_MT);
    lua_pushfstring(L, "SSHAllowedSigners (%d entries)",
                    o->as ? (int)lsh_allowed_signers_count(o->as) : 0);
    return 1;
}

/* SSHSIG */

static int
opt_field_bool(lua_State *L, int t, const char *name)
{
    int v = 0;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, name);
        v = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    return v;
}

/*
 * create_sshsig(key, data, namespace [, {hash_name=, is_hashed=, raw=,
 * sig_alg=}]) -> armored signature (or the bare blob with raw)
 */
static int
l_create_sshsig(lua_State *L)
{
    lsh_key *key = llsh_check_key(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *ns = luaL_checkstring(L, 3);
    const char *hash, *sigalg;
    unsigned flags = 0;
    lsh_buf b;
    int r;

    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
    }
    hash = opt_field_string(L, 4, "hash_name");
    sigalg = opt_field_string(L, 4, "sig_alg");
    if (opt_field_bool(L, 4, "is_hashed")) {
        flags |= LSH_SSHSIG_HASHED;
    }
    if (opt_field_bool(L, 4, "raw")) {
        flags |= LSH_SSHSIG_RAW;
    }
    if (!lsh_key_has_private(key)) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "cannot sign with a public key");
    }
    if (hash != NULL && strcmp(hash, "sha256") != 0 &&
        strcmp(hash, "sha512") != 0) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "unknown hash '%s' (use \"sha256\" or "
                                "\"sha512\")", hash);
    }
    if (ns[0] == '\0') {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "the namespace must not be empty");
    }
    lsh_buf_init(&b, 0);
    r = lsh_sshsig_sign_ex(key, ns, hash, sigalg, (const uint8_t *)data, n,
                           flags, &b);
    if (r != 0) {
        lsh_buf_free(&b);
        return llsh_error_raise(L, "ValueError", r,
                                "cannot create the signature: %s",
                                lsh_strerror(r));
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    return 1;
}

/*
 * verify_sshsig(data, sig, namespace [, {is_hashed=}]) -> signer key,
 * hash name; raises ValueError saying why a signature is not valid.
 */
static int
l_verify_sshsig(lua_State *L)
{
    size_t n, sn;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *sig = luaL_checklstring(L, 2, &sn);
    const char *ns = luaL_checkstring(L, 3);
    unsigned flags = opt_field_bool(L, 4, "is_hashed") ? LSH_SSHSIG_HASHED
                                                       : 0;
    lsh_sshsig_info info;
    llsh_keyobj *o;
    int r;

    memset(&info, 0, sizeof(info));
    o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->key = NULL;
    o->comment = NULL;
    luaL_setmetatable(L, LLSH_KEY_MT);
    r = lsh_sshsig_verify_ex((const uint8_t *)sig, sn, ns,
                             (const uint8_t *)data, n, flags, &o->key,
                             &info);
    if (r == LSH_ENOMEM) {
        return luaL_error(L, "out of memory");
    }
    if (r != 0) {
        return llsh_error_raise(L, "ValueError", r,
                                "invalid SSH signature: %s",
                                info.reason != NULL && info.reason[0]
                                    ? info.reason
                                    : lsh_strerror(r));
    }
    lua_pushstring(L, info.hashalg);
    return 2;
}

static const luaL_Reg kh_methods[] = {
    {"load", kh_load},         {"match", kh_match},
    {"check", kh_check},       {"problems", kh_problems},
    {"entries", kh_entries},   {NULL, NULL}};

static const luaL_Reg ak_methods[] = {
    {"load", ak_load},           {"match", ak_match},
    {"problems", ak_problems},   {"entries", ak_entries},
    {NULL, NULL}};

static const luaL_Reg as_methods[] = {
    {"load", as_load},
    {"check", as_check},
    {"find_principals", as_find_principals},
    {"problems", as_problems},
    {"entries", as_entries},
    {NULL, NULL}};

static const luaL_Reg trust_funcs[] = {
    {"known_hosts_new", l_known_hosts_new},
    {"format_known_hosts_entry", l_format_known_hosts_entry},
    {"authorized_keys_new", l_authorized_keys_new},
    {"allowed_signers_new", l_allowed_signers_new},
    {"create_sshsig", l_create_sshsig},
    {"verify_sshsig", l_verify_sshsig},
    {NULL, NULL}};

static void
new_class(lua_State *L, const char *mt, const luaL_Reg *methods,
          lua_CFunction gc, lua_CFunction tostring)
{
    if (luaL_newmetatable(L, mt)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

void
llsh__key_trust_open(lua_State *L, int module_idx)
{
    new_class(L, KH_MT, kh_methods, kh_gc, kh_tostring);
    new_class(L, AK_MT, ak_methods, ak_gc, ak_tostring);
    new_class(L, AS_MT, as_methods, as_gc, as_tostring);
    lua_pushvalue(L, module_idx);
    luaL_setfuncs(L, trust_funcs, 0);
    lua_pop(L, 1);
}
