#ifndef LLSH_REPL_H
#define LLSH_REPL_H

#include <lua.h>

/* Runs the interactive prompt until end of input; returns LUA_OK. */
int llsh_repl(lua_State *L, const char *progname);

#endif
