/*
 * Lua error objects: tables with `kind`, `code`, `reason` and extra fields,
 * whose metatable ("luassh.Error") gives a one-sentence __tostring
 * (DESIGN.md, "Lua API shape").  Every binding raises through these.
 */
#ifndef LLSH_L_ERROR_H
#define LLSH_L_ERROR_H

#include <lua.h>

#define LLSH_ERROR_MT "luassh.Error"

/* Creates the metatable; idempotent. */
void llsh_error_open(lua_State *L);

/*
 * [-0, +1] Pushes a new error object of the given kind.  `code` is an
 * LSH_E* code (0 for none; stored as `code` and `code_name`); the reason
 * is printf-formatted.
 */
void llsh_error_push(lua_State *L, const char *kind, int code,
                     const char *fmt, ...);

/* [-0, +0] Pushes an error object and raises it; never returns. */
int llsh_error_raise(lua_State *L, const char *kind, int code,
                     const char *fmt, ...);

/* 1 if the value at idx is an error object (of `kind`, unless NULL). */
int llsh_error_is(lua_State *L, int idx, const char *kind);

#endif
