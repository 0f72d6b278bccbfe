#ifndef LLSH_LUASSH_H
#define LLSH_LUASSH_H

#include <lua.h>

/* Preloads luassh.core and installs the embedded-module searcher. */
void llsh_openlibs(lua_State *L);

int luaopen_luassh_core(lua_State *L);
int luaopen_luassh(lua_State *L);
/* The SSH client (l_client.c, l_chan.c) and the agent client (l_agent.c). */
int luaopen_luassh_clientcore(lua_State *L);
int luaopen_luassh_servercore(lua_State *L);
int luaopen_luassh_agentcore(lua_State *L);
/* Local subprocesses (l_proc.c). */
int luaopen_luassh_proccore(lua_State *L);
/* Test-only probes (l_testing.c). */
int luaopen_luassh_testing(lua_State *L);

#endif
