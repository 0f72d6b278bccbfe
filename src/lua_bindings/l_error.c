#include "lua_bindings/l_error.h"

#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>

#include "common/error.h"

/*
 * __tostring: "Kind: reason" — the reason is written as a sentence by the
 * raiser, so the result reads as one ("Timeout: timed out after 2 s").
 */
static int
error_tostring(lua_State *L)
{
    const char *kind, *reason;
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "reason");
    kind = lua_tostring(L, -2);
    reason = lua_tostring(L, -1);
    if (kind == NULL) {
        kind = "Error";
    }
    if (reason == NULL || reason[0] == '\0') {
        lua_pushstring(L, kind);
    } else {
        lua_pushfstring(L, "%s: %s", kind, reason);
    }
    return 1;
}

void
llsh_error_open(lua_State *L)
{
    if (luaL_newmetatable(L, LLSH_ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "luassh.Error");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

static void
push_va(lua_State *L, const char *kind, int code, const char *fmt,
        va_list ap)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushvfstring(L, fmt, ap);
    lua_setfield(L, -2, "reason");
    lua_pushinteger(L, code);
    lua_setfield(L, -2, "code");
    if (code < 0) {
        lua_pushstring(L, lsh_errname(code));
        lua_setfield(L, -2, "code_name");
    }
    luaL_setmetatable(L, LLSH_ERROR_MT);
}

void
llsh_error_push(lua_State *L, const char *kind, int code, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_va(L, kind, code, fmt, ap);
    va_end(ap);
}

int
llsh_error_raise(lua_State *L, const char *kind, int code, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_va(L, kind, code, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

int
llsh_error_is(lua_State *L, int idx, const char *kind)
{
    int r = 0;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) {
        return 0;
    }
    luaL_getmetatable(L, LLSH_ERROR_MT);
    r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (r && kind != NULL) {
        lua_getfield(L, idx, "kind");
        r = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), kind) == 0;
        lua_pop(L, 1);
    }
    return r;
}
