/*
 * The SFTP attribute tables shared by the client (l_sftp.c) and the
 * server's Lua overrides (l_sftp_server.c): one Lua shape for
 * lsh_sftp_attrs on both sides (doc/api/sftp.md, "SFTPAttrs").
 */
#ifndef LLSH_L_SFTP_H
#define LLSH_L_SFTP_H

#include <lua.h>

#include "ssh/sftp/codec.h"

/* [-0, +1, m] Pushes an attrs table: type, and size, uid, gid,
 * permissions, atime, mtime, extended as the flags say. */
void llsh_sftp_push_attrs(lua_State *L, const lsh_sftp_attrs *a);

/* [-0, +0, e] Reads the attrs table at idx (nil or none: no attributes)
 * into *a; raises on a field of the wrong type or range.  `type` and
 * `extended` are not read. */
void llsh_sftp_check_attrs(lua_State *L, int idx, lsh_sftp_attrs *a);

#endif
