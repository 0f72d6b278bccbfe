/*
 * Lua objects for key material: SSHKey and SSHCertificate userdata, and
 * the `luassh.keycore` C module behind lua/luassh/keys.lua (doc/api/keys.md).
 *
 * Other bindings (authentication, the agent, host keys of listeners) take
 * and return keys through the helpers below, so that every key a script
 * sees is the same kind of object.
 */
#ifndef LLSH_L_KEY_H
#define LLSH_L_KEY_H

#include <lua.h>

#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"

#define LLSH_KEY_MT "luassh.SSHKey"
#define LLSH_CERT_MT "luassh.SSHCertificate"

/*
 * Userdata of an SSHKey.  `key` holds one reference (NULL only while the
 * object is being built); `comment` is malloc'd or NULL for none.
 */
typedef struct llsh_keyobj {
    lsh_key *key;
    char *comment;
} llsh_keyobj;

/* Userdata of an SSHCertificate; same conventions. */
typedef struct llsh_certobj {
    lsh_cert *cert;
    char *comment;
} llsh_certobj;

/* The luassh.keycore module (preloaded by llsh_openlibs). */
int luaopen_luassh_keycore(lua_State *L);

/* Creates the SSHKey and SSHCertificate metatables; idempotent. */
void llsh_key_open(lua_State *L);

/*
 * [-0, +1] Pushes a new SSHKey for k, taking a reference of its own (the
 * caller keeps its reference).  comment NULL or "" means none.
 */
void llsh_push_key(lua_State *L, lsh_key *k, const char *comment);

/* [-0, +1] The same for a certificate. */
void llsh_push_cert(lua_State *L, lsh_cert *c, const char *comment);

/*
 * [-0, +0] The key at idx: an SSHKey, or a key pair table (its `key`
 * field).  Raises an argument error otherwise.  Borrowed: valid while the
 * object is.
 */
lsh_key *llsh_check_key(lua_State *L, int idx);

/* [-0, +0] The certificate at idx, or NULL when it is not one. */
lsh_cert *llsh_test_cert(lua_State *L, int idx);

/* [-0, +0] The certificate at idx; raises an argument error otherwise. */
lsh_cert *llsh_check_cert(lua_State *L, int idx);

/*
 * [-0, +0] Raises an error object of `kind` whose reason is "<prefix>:
 * <detail>", detail being errbuf when not empty, else lsh_strerror(code);
 * sets `filename` when name is not NULL.  Never returns.
 */
int llsh__key_raise(lua_State *L, const char *kind, int code,
                    const char *name, const char *errbuf, const char *fmt,
                    ...);

/* Registers the certificate methods and functions (l_key_cert.c). */
void llsh__key_cert_open(lua_State *L, int module_idx);

/* Registers known_hosts, authorized_keys, allowed_signers and SSHSIG
 * (l_key_trust.c). */
void llsh__key_trust_open(lua_State *L, int module_idx);

/* Random bytes for the core, usable from any thread (RAND_bytes). */
int llsh__key_rng(void *ctx, uint8_t *out, size_t n);

/* Comment accessors shared by keys and certificates: [-0, +1] pushes
 * the comment or nil; [-0, +0] replaces *slot with a copy of the string
 * at idx ("" or nil clears it). */
int llsh_get_comment(lua_State *L, const char *comment);
int llsh_set_comment(lua_State *L, int idx, char **slot);

#endif
