/*
 * Session channel requests as Lua tables, for the server side
 * (lua/luassh/server.lua): decode_request turns the type-specific data of
 * an incoming request (RFC 4254 §6.2-§6.10, RFC 4335 break) into a table,
 * and the encoders build the server's own requests (exit-status,
 * exit-signal, §6.10).  Registered into luassh.clientcore by
 * llsh__sess_register.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "lua_bindings/l_client.h"
#include "ssh/connection/session.h"

static void
set_span(lua_State *L, const char *k, lsh_span s)
{
    lua_pushlstring(L, (const char *)s.p, s.n);
    lua_setfield(L, -2, k);
}

static void
set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* [-0, +1] The terminal modes of a pty-req as {NAME = value} (RFC 4254
 * §8 opcode names; unknown opcodes by number). */
static int
push_modes(lua_State *L, lsh_span modes)
{
    lsh_tty_mode m[160];
    size_t n = 0;
    if (lsh_tty_modes_decode(modes.p, modes.n, m, 160, &n) != 0) {
        return -1;
    }
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        const char *name = lsh_tty_mode_name(m[i].opcode);
        if (name != NULL) {
            lua_pushstring(L, name);
        } else {
            lua_pushinteger(L, m[i].opcode);
        }
        lua_pushinteger(L, m[i].value);
        lua_settable(L, -3);
    }
    return 0;
}

/*
 * decode_request(name, data) -> table | nil, message
 *   pty-req        {term_type, cols, rows, width_px, height_px, modes}
 *   env            {name, value}
 *   exec           {command}       subsystem {subsystem}
 *   window-change  {cols, rows, width_px, height_px}
 *   signal         {signal}        break {msec}
 *   x11-req        {single_connection, protocol, cookie, screen}
 *   xon-xoff       {client_can_do}
 *   anything else, and shell / auth-agent-req@openssh.com: {} (data must
 *   be empty for shell).
 */
static int
l_decode_request(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t n;
    const uint8_t *p = (const uint8_t *)luaL_optlstring(L, 2, "", &n);
    int r = 0;

    lua_createtable(L, 0, 6);
    if (strcmp(name, "pty-req") == 0) {
        lsh_pty_req q;
        if ((r = lsh_chan_parse_pty_req(p, n, &q)) == 0) {
            set_span(L, "term_type", q.term);
            set_int(L, "cols", q.cols);
            set_int(L, "rows", q.rows);
            set_int(L, "width_px", q.width_px);
            set_int(L, "height_px", q.height_px);
            if (push_modes(L, q.modes) != 0) {
                r = LSH_EPROTOCOL;
            } else {
                lua_setfield(L, -2, "modes");
            }
        }
    } else if (strcmp(name, "env") == 0) {
        lsh_env_req q;
        if ((r = lsh_chan_parse_env(p, n, &q)) == 0) {
            set_span(L, "name", q.name);
            set_span(L, "value", q.value);
        }
    } else if (strcmp(name, "exec") == 0) {
        lsh_span s;
        if ((r = lsh_chan_parse_exec(p, n, &s)) == 0) {
            set_span(L, "command", s);
        }
    } else if (strcmp(name, "subsystem") == 0) {
        lsh_span s;
        if ((r = lsh_chan_parse_subsystem(p, n, &s)) == 0) {
            set_span(L, "subsystem", s);
        }
    } else if (strcmp(name, "window-change") == 0) {
        lsh_window_change w;
        if ((r = lsh_chan_parse_window_change(p, n, &w)) == 0) {
            set_int(L, "cols", w.cols);
            set_int(L, "rows", w.rows);
            set_int(L, "width_px", w.width_px);
            set_int(L, "height_px", w.height_px);
        }
    } else if (strcmp(name, "signal") == 0) {
        lsh_span s;
        if ((r = lsh_chan_parse_signal(p, n, &s)) == 0) {
            set_span(L, "signal", s);
        }
    } else if (strcmp(name, "break") == 0) {
        uint32_t ms;
        if ((r = lsh_chan_parse_break(p, n, &ms)) == 0) {
            set_int(L, "msec", ms);
        }
    } else if (strcmp(name, "x11-req") == 0) {
        lsh_x11_req x;
        if ((r = lsh_chan_parse_x11_req(p, n, &x)) == 0) {
            lua_pushboolean(L, x.single_connection);
            lua_setfield(L, -2, "single_connection");
            set_span(L, "protocol", x.proto);
            set_span(L, "cookie", x.cookie);
            set_int(L, "screen", x.screen);
        }
    } else if (strcmp(name, "xon-xoff") == 0) {
        int can;
        if ((r = lsh_chan_parse_xon_xoff(p, n, &can)) == 0) {
            lua_pushboolean(L, can);
            lua_setfield(L, -2, "client_can_do");
        }
    } else if (strcmp(name, "shell") == 0) {
        r = lsh_chan_parse_empty(p, n);
    }
    if (r != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "malformed %s request: %s", name, lsh_strerror(r));
        return 2;
    }
    return 1;
}

/* encode_exit_status(status) */
static int
l_encode_exit_status(lua_State *L)
{
    lua_Integer st = luaL_checkinteger(L, 1);
    lsh_buf b;
    if (st < 0 || st > UINT32_MAX) {
        return luaL_argerror(L, 1, "exit status must be in 0..2^32-1");
    }
    lsh_buf_init(&b, 16);
    return llsh__push_buf(L, &b,
                          lsh_chan_exit_status_data(&b, (uint32_t)st),
                          "an exit-status request");
}

/* encode_exit_signal(signal, core_dumped, message, lang) */
static int
l_encode_exit_signal(lua_State *L)
{
    lsh_exit_signal e;
    lsh_buf b;
    size_t sn, mn, ln;
    const char *sig = luaL_checklstring(L, 1, &sn);
    const char *msg = luaL_optlstring(L, 3, "", &mn);
    const char *lang = luaL_optlstring(L, 4, "", &ln);
    e.signal.p = (const uint8_t *)sig;
    e.signal.n = sn;
    e.core_dumped = lua_toboolean(L, 2);
    e.message.p = (const uint8_t *)msg;
    e.message.n = mn;
    e.lang.p = (const uint8_t *)lang;
    e.lang.n = ln;
    lsh_buf_init(&b, 64 + sn + mn + ln);
    return llsh__push_buf(L, &b, lsh_chan_exit_signal_data(&b, &e),
                          "an exit-signal request");
}

static const luaL_Reg sess_funcs[] = {
    {"decode_request", l_decode_request},
    {"encode_exit_status", l_encode_exit_status},
    {"encode_exit_signal", l_encode_exit_signal},
    {NULL, NULL}};

void
llsh__sess_register(lua_State *L, int module_idx)
{
    lua_pushvalue(L, module_idx);
    luaL_setfuncs(L, sess_funcs, 0);
    lua_pop(L, 1);
}
