#ifndef LLSH_LUASSH_H
#define LLSH_LUASSH_H

#include <lua.h>

/* Preloads luassh.core and installs the embedded-module searcher. */
void llsh_openlibs(lua_State *L);

int luaopen_luassh_core(lua_State *L);
int luaopen_luassh(lua_State *L);
/* Test-only probes (l_testing.c). */
int luaopen_luassh_testing(lua_State *L);

#endif
