/*
 * luassh.agentcore: the C half of ssh.connect_agent (lua/luassh/agent.lua):
 * an SSHAgentClient object that sends one request at a time over the
 * agent's Unix socket and hands back the reply, and the codec functions
 * of src/ssh/connection/agent.h over Lua strings.
 *
 * Ownership: the state is a malloc'd `agent`, referenced by the Lua
 * object and by the open stream; the last one frees it.  One request is
 * out at a time: a task that finds the socket busy waits its turn on
 * turn_q, and the task whose request is out waits on reply_wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "lua_bindings/l_client.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"
#include "lua_bindings/luassh.h"
#include "lua_bindings/sched.h"
#include "ssh/connection/agent.h"
#include "uvio/stream.h"

#define AGENT_MT "luassh.SSHAgentClient"

enum { AG_CONNECTING, AG_OPEN, AG_CLOSED };

typedef struct agent {
    int refs;
    lsh_io_stream *st;  /* NULL once closed */
    int state;
    int err;
    char detail[256];
    char path[512];
    llsh_bytes in;
    int busy;           /* a request is out */
    llsh_waiter reply_wait;
    llsh_waitq turn_q;  /* connecting, or waiting for the socket */
} agent;

typedef struct agentud {
    agent *a;
} agentud;

static void
agent_unref(agent *a)
{
    if (--a->refs > 0) {
        return;
    }
    llsh_bytes_free(&a->in);
    free(a);
}

static void
set_closed(agent *a, int err, const char *detail)
{
    if (a->state == AG_CLOSED) {
        return;
    }
    a->state = AG_CLOSED;
    a->err = err;
    snprintf(a->detail, sizeof(a->detail), "%s", detail);
    llsh_wake(&a->reply_wait, 0);
    llsh_waitq_wake_all(&a->turn_q, 0);
}

static void
on_connected(lsh_io_stream *s, int status, const char *detail, void *data)
{
    agent *a = data;
    (void)s;
    if (status != 0) {
        set_closed(a, status, detail);
        return;
    }
    a->state = AG_OPEN;
    llsh_waitq_wake_all(&a->turn_q, 0);
}

static void
on_data(lsh_io_stream *s, const uint8_t *p, size_t n, const char *detail,
        void *data)
{
    agent *a = data;
    if (n == 0) {
        set_closed(a, LSH_ECLOSED, detail);
        lsh_io_stream_close(s);
        return;
    }
    if (llsh_bytes_avail(&a->in) + n > LSH_AGENT_MAX_MSG + 4 ||
        llsh_bytes_put(&a->in, p, n) != 0) {
        set_closed(a, LSH_ETOOLARGE, "the agent sent too much");
        lsh_io_stream_close(s);
        return;
    }
    llsh_wake(&a->reply_wait, 0);
}

static void
on_closed(lsh_io_stream *s, void *data)
{
    agent *a = data;
    (void)s;
    a->st = NULL;
    set_closed(a, LSH_ECLOSED, "connection closed");
    agent_unref(a);
}

static const lsh_io_stream_cbs agent_cbs = {on_connected, on_data,
                                            on_closed};

static agent *
check_agent(lua_State *L, int idx)
{
    agentud *u = luaL_checkudata(L, idx, AGENT_MT);
    if (u->a == NULL) {
        luaL_argerror(L, idx, "SSHAgentClient without state");
    }
    return u->a;
}

static int
raise_closed(lua_State *L, agent *a)
{
    llsh_error_push(L, a->err == LSH_ECLOSED ? "ConnectionLost" : "OSError",
                    a->err, "ssh-agent at %s: %s", a->path,
                    a->detail[0] ? a->detail : lsh_strerror(a->err));
    lua_pushstring(L, a->path);
    lua_setfield(L, -2, "path");
    return lua_error(L);
}

/* agentcore.connect(path) -> SSHAgentClient (connecting) */
static int
l_connect(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    agentud *u = lua_newuserdatauv(L, sizeof(*u), 0);
    agent *a;
    int r;
    u->a = NULL;
    luaL_setmetatable(L, AGENT_MT);
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        return luaL_error(L, "out of memory");
    }
    a->refs = 1;
    a->state = AG_CONNECTING;
    snprintf(a->path, sizeof(a->path), "%s", path);
    u->a = a;
    if ((r = lsh_io_unix_connect(path, &agent_cbs, a, &a->st)) != 0) {
        a->state = AG_CLOSED;
        a->err = r;
        return raise_closed(L, a);
    }
    a->refs++; /* the stream's */
    return 1;
}

static int
connected_k(lua_State *L, int status, lua_KContext ctx)
{
    agent *a;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    a = check_agent(L, 1);
    if (a->state == AG_OPEN) {
        return 0;
    }
    if (a->state == AG_CLOSED) {
        return raise_closed(L, a);
    }
    llsh_waitq_wait(L, &a->turn_q);
    return lua_yieldk(L, 0, ctx, connected_k);
}

/* agent:_wait_connected() */
static int
a_wait_connected(lua_State *L)
{
    check_agent(L, 1);
    return connected_k(L, LUA_OK, 0);
}

static void
reply_cancel(llsh_waiter *w)
{
    agent *a = w->data;
    /* The reply to an abandoned request would answer the next one:
     * this connection cannot be trusted any more. */
    if (a->st != NULL) {
        lsh_io_stream_close(a->st);
    }
    set_closed(a, LSH_ECLOSED, "a request was abandoned");
}

/*
 * ctx 0: waiting for our turn (argument 2 = the request);
 * ctx 1: our request is out, waiting for the reply.
 */
static int
call_k(lua_State *L, int status, lua_KContext ctx)
{
    agent *a;
    const uint8_t *body;
    size_t blen, total, n;
    const char *req;
    int r;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 2);
    a = check_agent(L, 1);
    req = luaL_checklstring(L, 2, &n);
    if (ctx == 0) {
        if (a->state == AG_CLOSED) {
            return raise_closed(L, a);
        }
        if (a->state == AG_CONNECTING || a->busy) {
            llsh_waitq_wait(L, &a->turn_q);
            return lua_yieldk(L, 0, 0, call_k);
        }
        if ((r = lsh_io_stream_write(a->st, (const uint8_t *)req, n)) != 0) {
            set_closed(a, r, lsh_strerror(r));
            return raise_closed(L, a);
        }
        a->busy = 1;
    }
    r = llsh_bytes_avail(&a->in) == 0
            ? 0
            : lsh_agent_frame(a->in.p + a->in.head, llsh_bytes_avail(&a->in),
                              &body, &blen, &total);
    if (r == 1) {
        lua_pushlstring(L, (const char *)body, blen);
        llsh_bytes_take(&a->in, total);
        a->busy = 0;
        llsh_waitq_wake_all(&a->turn_q, 0);
        return 1;
    }
    if (r < 0) {
        set_closed(a, r, "malformed reply from the agent");
        if (a->st != NULL) {
            lsh_io_stream_close(a->st);
        }
    }
    if (a->state == AG_CLOSED) {
        a->busy = 0;
        return raise_closed(L, a);
    }
    a->reply_wait.cancel = reply_cancel;
    a->reply_wait.data = a;
    llsh_wait(L, &a->reply_wait);
    return lua_yieldk(L, 0, 1, call_k);
}

/* agent:_call(request) -> reply body (waits its turn, then the reply) */
static int
a_call(lua_State *L)
{
    check_agent(L, 1);
    luaL_checkstring(L, 2);
    return call_k(L, LUA_OK, 0);
}

/* agent:close() */
static int
a_close(lua_State *L)
{
    agent *a = check_agent(L, 1);
    if (a->st != NULL) {
        lsh_io_stream_close(a->st);
    }
    set_closed(a, LSH_ECLOSED, "closed");
    return 0;
}

static int
a_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_agent(L, 1)->state == AG_CLOSED);
    return 1;
}

static int
a_gc(lua_State *L)
{
    agentud *u = luaL_checkudata(L, 1, AGENT_MT);
    agent *a = u->a;
    if (a == NULL) {
        return 0;
    }
    u->a = NULL;
    a->reply_wait.task = NULL;
    a->turn_q.head = NULL;
    if (a->st != NULL) {
        lsh_io_stream_close(a->st);
    }
    agent_unref(a);
    return 0;
}

static int
a_tostring(lua_State *L)
{
    agentud *u = luaL_checkudata(L, 1, AGENT_MT);
    lua_pushfstring(L, "SSHAgentClient %s", u->a ? u->a->path : "(freed)");
    return 1;
}

/* Codec over strings */

static int
push_request(lua_State *L, lsh_buf *b, int r)
{
    if (r != 0) {
        lsh_buf_free(b);
        return llsh_error_raise(L, "ValueError", r,
                                "cannot build the agent request: %s",
                                lsh_strerror(r));
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(b), lsh_buf_len(b));
    /* An ADD_IDENTITY holds a private key. */
    lsh_memzero(lsh_buf_ptr(b), lsh_buf_len(b));
    lsh_buf_free(b);
    return 1;
}

static int
l_req_identities(lua_State *L)
{
    lsh_buf b;
    lsh_buf_init(&b, 64);
    return push_request(L, &b, lsh_agent_req_identities(&b));
}

/* req_sign(blob, data, flags) */
static int
l_req_sign(lua_State *L)
{
    size_t bl, dl;
    const char *blob = luaL_checklstring(L, 1, &bl);
    const char *data = luaL_checklstring(L, 2, &dl);
    lua_Integer flags = luaL_optinteger(L, 3, 0);
    lsh_buf b;
    lsh_buf_init(&b, LSH_AGENT_MAX_MSG + 4);
    return push_request(L, &b, lsh_agent_req_sign(&b, (const uint8_t *)blob,
                                                  bl, (const uint8_t *)data,
                                                  dl, (uint32_t)flags));
}

/* req_add(key, comment, lifetime, confirm) */
static int
l_req_add(lua_State *L)
{
    lsh_key *k = llsh_check_key(L, 1);
    const char *comment = luaL_optstring(L, 2, "");
    lua_Integer lifetime = luaL_optinteger(L, 3, 0);
    lsh_buf b;
    if (lifetime < 0 || lifetime > UINT32_MAX) {
        return luaL_argerror(L, 3, "lifetime out of range");
    }
    lsh_buf_init(&b, LSH_AGENT_MAX_MSG + 4);
    return push_request(L, &b, lsh_agent_req_add(&b, k, comment,
                                                 (uint32_t)lifetime,
                                                 lua_toboolean(L, 4)));
}

/* req_remove(blob) */
static int
l_req_remove(lua_State *L)
{
    size_t bl;
    const char *blob = luaL_checklstring(L, 1, &bl);
    lsh_buf b;
    lsh_buf_init(&b, LSH_AGENT_MAX_MSG + 4);
    return push_request(L, &b, lsh_agent_req_remove(&b, (const uint8_t *)blob,
                                                    bl));
}

static int
l_req_remove_all(lua_State *L)
{
    lsh_buf b;
    lsh_buf_init(&b, 64);
    return push_request(L, &b, lsh_agent_req_remove_all(&b));
}

/* req_lock(lock, passphrase) */
static int
l_req_lock(lua_State *L)
{
    int lock = lua_toboolean(L, 1);
    const char *pass = luaL_checkstring(L, 2);
    lsh_buf b;
    lsh_buf_init(&b, 64 * 1024);
    return push_request(L, &b, lsh_agent_req_lock(&b, lock, pass));
}

static int
l_sign_flags(lua_State *L)
{
    lua_pushinteger(L, lsh_agent_sign_flags(luaL_optstring(L, 1, NULL)));
    return 1;
}

static int
push_parse_error(lua_State *L, int r)
{
    lua_pushnil(L);
    lua_pushstring(L, lsh_errname(r));
    return 2;
}

/* parse_status(body) -> true | nil, code name */
static int
l_parse_status(lua_State *L)
{
    size_t n;
    const char *body = luaL_checklstring(L, 1, &n);
    int r = lsh_agent_parse_status((const uint8_t *)body, n);
    if (r != 0) {
        return push_parse_error(L, r);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int
push_identity(void *ctx, const lsh_agent_identity *id)
{
    lua_State *L = ctx;
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, (const char *)id->blob, id->blob_len);
    lua_setfield(L, -2, "blob");
    lua_pushlstring(L, (const char *)id->comment, id->comment_len);
    lua_setfield(L, -2, "comment");
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    return 0;
}

/* parse_identities(body) -> {{blob=, comment=}...} | nil, code name */
static int
l_parse_identities(lua_State *L)
{
    size_t n;
    const char *body = luaL_checklstring(L, 1, &n);
    int r;
    lua_newtable(L);
    r = lsh_agent_parse_identities((const uint8_t *)body, n, push_identity,
                                   L);
    if (r != 0) {
        return push_parse_error(L, r);
    }
    return 1;
}

/* parse_sign(body) -> signature | nil, code name */
static int
l_parse_sign(lua_State *L)
{
    size_t n, sl;
    const char *body = luaL_checklstring(L, 1, &n);
    const uint8_t *sig;
    int r = lsh_agent_parse_sign((const uint8_t *)body, n, &sig, &sl);
    if (r != 0) {
        return push_parse_error(L, r);
    }
    lua_pushlstring(L, (const char *)sig, sl);
    return 1;
}

/* key_from_blob(blob [, comment]) -> SSHKey | SSHCertificate | nil, err */
static int
l_key_from_blob(lua_State *L)
{
    size_t n;
    const uint8_t *blob = (const uint8_t *)luaL_checklstring(L, 1, &n);
    const char *comment = luaL_optstring(L, 2, NULL);
    lsh_cert *cert = NULL;
    lsh_key *key = NULL;
    int r;
    if (lsh_cert_from_blob(blob, n, &cert) == 0) {
        llsh_push_cert(L, cert, comment);
        lsh_cert_free(cert);
        return 1;
    }
    if ((r = lsh_key_from_blob(blob, n, &key)) != 0) {
        return push_parse_error(L, r);
    }
    llsh_push_key(L, key, comment);
    lsh_key_free(key);
    return 1;
}

static const luaL_Reg agent_methods[] = {
    {"_wait_connected", a_wait_connected},
    {"_call", a_call},
    {"close", a_close},
    {"is_closed", a_is_closed},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"connect", l_connect},
    {"req_identities", l_req_identities},
    {"req_sign", l_req_sign},
    {"req_add", l_req_add},
    {"req_remove", l_req_remove},
    {"req_remove_all", l_req_remove_all},
    {"req_lock", l_req_lock},
    {"sign_flags", l_sign_flags},
    {"parse_status", l_parse_status},
    {"parse_identities", l_parse_identities},
    {"parse_sign", l_parse_sign},
    {"key_from_blob", l_key_from_blob},
    {NULL, NULL}};

int
luaopen_luassh_agentcore(lua_State *L)
{
    luaL_newlib(L, module_funcs);
    if (luaL_newmetatable(L, AGENT_MT)) {
        luaL_newlib(L, agent_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -4, "agent_methods");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, a_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, a_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, a_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, AGENT_MT);
        lua_setfield(L, -2, "__name");
    } else {
        lua_getfield(L, -1, "__index");
        lua_setfield(L, -3, "agent_methods");
    }
    lua_pop(L, 1);
    return 1;
}
