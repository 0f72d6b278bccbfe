/*
 * luassh.keycore: SSHKey objects, key generation, private and public key
 * import and export (doc/api/keys.md).  The file handling, the list forms
 * and load_keypairs are pure Lua (lua/luassh/keys.lua) over this module.
 *
 * IMPLEMENTATION NOTES
 * Slow work (RSA generation, the bcrypt_pbkdf or PBKDF2 of an encrypted
 * key file) runs as a job on libuv's thread pool (src/uvio/work.h) when
 * the caller is a task that can yield, and inline otherwise, so that a
 * server keeps serving while a key is decrypted.  A job has two parts:
 *  - the job (malloc'd): its inputs, copied so that the worker thread
 *    never reads Lua memory, and its outputs;
 *  - a "box" userdata on the calling task's stack, holding the waiter
 *    and a pointer to the job.
 * Who frees the job: until it is queued, the box (its __gc); once queued,
 * the continuation when it runs, or the box's __gc if the task is
 * interrupted after the wake-up; if the task goes away while the job
 * runs (cancel hook, or the box collected), the job is marked abandoned
 * and detached from the box, and the done callback frees it.  The box is
 * never touched by the job once detached.
 */
#include "lua_bindings/l_key.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_job.h"
#include "lua_bindings/sched.h"
#include "ssh/keys/keyfile.h"
#include "uvio/work.h"

/* Helpers shared with l_key_cert.c and l_key_trust.c */

int
llsh__key_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    /* RAND_bytes is thread-safe, unlike lsh_rng_fill's loop-thread
     * buffer: exports run on worker threads. */
    if (n > 0 && RAND_bytes(out, (int)n) != 1) {
        return LSH_ECRYPTO;
    }
    return 0;
}

int
llsh__key_raise(lua_State *L, const char *kind, int code, const char *name,
                const char *errbuf, const char *fmt, ...)
{
    va_list ap;
    const char *prefix, *detail;

    va_start(ap, fmt);
    prefix = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    detail = errbuf != NULL && errbuf[0] != '\0' ? errbuf
                                                 : lsh_strerror(code);
    llsh_error_push(L, kind, code, "%s: %s", prefix, detail);
    if (name != NULL) {
        lua_pushstring(L, name);
        lua_setfield(L, -2, "filename");
    }
    return lua_error(L);
}

static char *
dup_opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* SSHKey objects */

/* [-0, +1] A new SSHKey userdata without a key yet ("closed"). */
static llsh_keyobj *
new_keyobj(lua_State *L)
{
    llsh_keyobj *o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->key = NULL;
    o->comment = NULL;
    luaL_setmetatable(L, LLSH_KEY_MT);
    return o;
}

void
llsh_push_key(lua_State *L, lsh_key *k, const char *comment)
{
    llsh_keyobj *o = new_keyobj(L);
    o->key = lsh_key_ref(k);
    if (comment != NULL && comment[0] != '\0' &&
        (o->comment = strdup(comment)) == NULL) {
        luaL_error(L, "out of memory");
    }
}

static llsh_keyobj *
check_keyobj(lua_State *L, int idx)
{
    llsh_keyobj *o = luaL_checkudata(L, idx, LLSH_KEY_MT);
    if (o->key == NULL) {
        luaL_argerror(L, idx, "SSHKey without a key");
    }
    return o;
}

lsh_key *
llsh_check_key(lua_State *L, int idx)
{
    llsh_keyobj *o;
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "key");
        o = luaL_testudata(L, -1, LLSH_KEY_MT);
        lua_pop(L, 1); /* the table keeps it alive */
        if (o != NULL && o->key != NULL) {
            return o->key;
        }
        luaL_typeerror(L, idx, "SSHKey or key pair");
        return NULL;
    }
    o = luaL_testudata(L, idx, LLSH_KEY_MT);
    if (o == NULL || o->key == NULL) {
        luaL_typeerror(L, idx, "SSHKey");
        return NULL;
    }
    return o->key;
}

static int
key_gc(lua_State *L)
{
    llsh_keyobj *o = luaL_checkudata(L, 1, LLSH_KEY_MT);
    lsh_key_free(o->key);
    o->key = NULL;
    free(o->comment);
    o->comment = NULL;
    return 0;
}

static int
key_tostring(lua_State *L)
{
    llsh_keyobj *o = luaL_checkudata(L, 1, LLSH_KEY_MT);
    char fp[LSH_KEY_FP_MAX];
    if (o->key == NULL ||
        lsh_key_fingerprint(o->key, "sha256", fp, sizeof(fp)) != 0) {
        lua_pushliteral(L, "SSHKey (none)");
        return 1;
    }
    lua_pushfstring(L, "SSHKey %s %s%s", lsh_key_type_name(o->key), fp,
                    lsh_key_has_private(o->key) ? "" : " (public)");
    return 1;
}

/* a == b when both hold the same public key (comments do not count). */
static int
key_eq(lua_State *L)
{
    llsh_keyobj *a = luaL_testudata(L, 1, LLSH_KEY_MT);
    llsh_keyobj *b = luaL_testudata(L, 2, LLSH_KEY_MT);
    lua_pushboolean(L, a != NULL && b != NULL && a->key != NULL &&
                           b->key != NULL &&
                           lsh_key_equal_public(a->key, b->key));
    return 1;
}

static int
key_get_algorithm(lua_State *L)
{
    lua_pushstring(L, lsh_key_type_name(check_keyobj(L, 1)->key));
    return 1;
}

int
llsh_get_comment(lua_State *L, const char *comment)
{
    if (comment == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, comment);
    }
    return 1;
}

int
llsh_set_comment(lua_State *L, int idx, char **slot)
{
    const char *c = luaL_optstring(L, idx, NULL);
    char *copy = NULL;
    if (c != NULL && c[0] != '\0' && (copy = strdup(c)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static int
key_get_comment(lua_State *L)
{
    return llsh_get_comment(L, check_keyobj(L, 1)->comment);
}

static int
key_set_comment(lua_State *L)
{
    return llsh_set_comment(L, 2, &check_keyobj(L, 1)->comment);
}

static int
key_get_fingerprint(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    const char *hash = luaL_optstring(L, 2, "sha256");
    char name[16], fp[LSH_KEY_FP_MAX];
    size_t i;

    for (i = 0; hash[i] != '\0' && i + 1 < sizeof(name); i++) {
        name[i] = (char)tolower((unsigned char)hash[i]);
    }
    name[i] = '\0';
    if (hash[i] != '\0' ||
        lsh_key_fingerprint(o->key, name, fp, sizeof(fp)) != 0) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "unknown fingerprint hash '%s' (use "
                                "\"sha256\" or \"md5\")", hash);
    }
    lua_pushstring(L, fp);
    return 1;
}

static int
key_convert_to_public(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    llsh_keyobj *p = new_keyobj(L);
    if ((p->key = lsh_key_public_copy(o->key)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    if (o->comment != NULL && (p->comment = strdup(o->comment)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

static int
key_has_private(lua_State *L)
{
    lua_pushboolean(L, lsh_key_has_private(check_keyobj(L, 1)->key));
    return 1;
}

static int
key_get_key_size(lua_State *L)
{
    lua_pushinteger(L, lsh_key_bits(check_keyobj(L, 1)->key));
    return 1;
}

static int
key_get_sig_algorithms(lua_State *L)
{
    const char *const *algs = lsh_key_sigalgs(check_keyobj(L, 1)->key);
    lua_newtable(L);
    for (int i = 0; algs != NULL && algs[i] != NULL; i++) {
        lua_pushstring(L, algs[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* [-0, +1] Pushes the bytes of b and frees it. */
static void
push_buf_free(lua_State *L, lsh_buf *b)
{
    lua_pushlstring(L, (const char *)lsh_buf_ptr(b), lsh_buf_len(b));
    lsh_buf_free(b);
}

static int
key_public_data(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    lsh_buf b;
    int r;
    lsh_buf_init(&b, 0);
    if ((r = lsh_key_to_blob(o->key, &b)) != 0) {
        lsh_buf_free(&b);
        return luaL_error(L, "cannot encode the key: %s", lsh_strerror(r));
    }
    push_buf_free(L, &b);
    return 1;
}

/* key:sign(data [, sigalg]) -> SSH signature blob */
static int
key_sign(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *sigalg = luaL_optstring(L, 3, NULL);
    lsh_buf b;
    int r;

    if (!lsh_key_has_private(o->key)) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "cannot sign with a public key");
    }
    if (sigalg != NULL && !lsh_key_sigalg_ok(o->key, sigalg)) {
        return llsh_error_raise(L, "ValueError", LSH_ENOALG,
                                "signature algorithm '%s' does not suit "
                                "%s keys", sigalg,
                                lsh_key_type_name(o->key));
    }
    lsh_buf_init(&b, 0);
    r = lsh_key_sign(o->key, sigalg, (const uint8_t *)data, n, &b);
    if (r != 0) {
        lsh_buf_free(&b);
        return llsh_error_raise(L, "ValueError", r, "cannot sign with this "
                                "%s key: %s", lsh_key_type_name(o->key),
                                lsh_strerror(r));
    }
    push_buf_free(L, &b);
    return 1;
}

/* key:verify(data, sig [, sigalg]) -> boolean */
static int
key_verify(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    size_t n, siglen;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *sig = luaL_checklstring(L, 3, &siglen);
    const char *sigalg = luaL_optstring(L, 4, NULL);
    lua_pushboolean(L, lsh_key_verify(o->key, sigalg, (const uint8_t *)sig,
                                      siglen, (const uint8_t *)data,
                                      n) == 0);
    return 1;
}

static int
is_one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *const public_formats[] = {
    "openssh", "rfc4716", "pkcs1-pem", "pkcs1-der", "pkcs8-pem", "pkcs8-der",
    NULL};

static const char *const private_formats[] = {
    "openssh", "pkcs1-pem", "pkcs1-der", "pkcs8-pem", "pkcs8-der", NULL};

static int
key_export_public_key(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    const char *format = luaL_optstring(L, 2, "openssh");
    lsh_buf b;
    int r;

    if (!is_one_of(format, public_formats)) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "unknown public key export format '%s'",
                                format);
    }
    lsh_buf_init(&b, 0);
    r = lsh_keyfile_export_public(o->key, o->comment, format, &b);
    if (r != 0) {
        lsh_buf_free(&b);
        return llsh__key_raise(L, "KeyExportError", r, NULL, NULL,
                               "cannot export this %s public key as '%s'",
                               lsh_key_type_name(o->key), format);
    }
    push_buf_free(L, &b);
    return 1;
}

/* Jobs */

enum job_op { JOB_GENERATE, JOB_IMPORT, JOB_EXPORT };

typedef struct key_job {
    llsh_job base; /* first: the job runner's part (l_job.h) */
    enum job_op op;
    /* inputs */
    enum lsh_key_type type;
    unsigned bits;
    uint8_t *data;
    size_t n;
    char *passphrase;
    char *name; /* file name for messages, or NULL */
    lsh_key *key;
    char *comment;
    char *format;
    char *cipher;
    unsigned rounds;
    /* outputs */
    int rc;
    lsh_key *out_key;
    char *out_comment;
    lsh_buf out;
    char err[256];
} key_job;

static void
job_free(llsh_job *base)
{
    key_job *j = (key_job *)base;
    if (j->data != NULL) {
        lsh_freezero(j->data, j->n);
    }
    if (j->passphrase != NULL) {
        lsh_freezero(j->passphrase, strlen(j->passphrase) + 1);
    }
    free(j->name);
    lsh_key_free(j->key);
    free(j->comment);
    free(j->format);
    free(j->cipher);
    lsh_key_free(j->out_key);
    free(j->out_comment);
    lsh_buf_free(&j->out);
    lsh_memzero(j->err, sizeof(j->err));
    free(j);
}

/* Runs on a worker thread (or inline): touches only the job. */
static void
job_work(llsh_job *base)
{
    key_job *j = (key_job *)base;
    switch (j->op) {
    case JOB_GENERATE:
        j->rc = lsh_key_generate(j->type, j->bits, &j->out_key);
        break;
    case JOB_IMPORT:
        j->rc = lsh_keyfile_import_private(j->data, j->n, j->passphrase,
                                           &j->out_key, &j->out_comment,
                                           j->err, sizeof(j->err));
        break;
    case JOB_EXPORT:
        j->rc = lsh_keyfile_export_private(j->key, j->comment, j->format,
                                           j->passphrase, j->cipher,
                                           j->rounds, llsh__key_rng, NULL,
                                           &j->out);
        break;
    }
    /* Do not leave OpenSSL's error queue to the next job of the thread. */
    ERR_clear_error();
}

static int job_push_result(lua_State *L, llsh_job *base);

static const llsh_job_ops key_ops = {"key job", job_work, job_push_result,
                                     job_free};

/* [-0, +1] A box holding a new, empty job of kind op. */
static key_job *
new_job(lua_State *L, enum job_op op)
{
    key_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    j->base.ops = &key_ops;
    j->op = op;
    lsh_buf_init(&j->out, 0);
    llsh_job_box(L, &j->base);
    return j;
}

static char *
job_strdup(lua_State *L, const char *s)
{
    char *c;
    if (s == NULL) {
        return NULL;
    }
    if ((c = strdup(s)) == NULL) {
        luaL_error(L, "out of memory");
    }
    return c;
}

/* [-0, +1] Pushes the outcome: 1 for a result, -1 for an error object. */
static int
job_push_result(lua_State *L, llsh_job *base)
{
    key_job *j = (key_job *)base;
    const char *name = j->name;
    if (base->cancelled) {
        j->rc = LSH_EAGAIN;
    }
    switch (j->op) {
    case JOB_GENERATE:
        if (j->rc != 0) {
            llsh_error_push(L, "KeyGenerationError", j->rc,
                            "cannot generate a %s key: %s",
                            lsh_key_type_name_of(j->type),
                            lsh_strerror(j->rc));
            return -1;
        }
        llsh_push_key(L, j->out_key, NULL);
        return 1;
    case JOB_IMPORT:
        if (j->rc == LSH_EBADPASSPHRASE || j->rc == LSH_ENEEDPASSPHRASE) {
            int bad = j->rc == LSH_EBADPASSPHRASE;
            if (name != NULL) {
                llsh_error_push(L, "KeyEncryptionError", j->rc,
                                bad ? "incorrect passphrase for key file "
                                      "'%s'"
                                    : "passphrase required to decrypt key "
                                      "file '%s'", name);
            } else {
                llsh_error_push(L, "KeyEncryptionError", j->rc, "%s",
                                bad ? "incorrect passphrase for private key"
                                    : "passphrase required to decrypt "
                                      "private key");
            }
        } else if (j->rc != 0) {
            const char *d = j->err[0] ? j->err : lsh_strerror(j->rc);
            if (name != NULL) {
                llsh_error_push(L, "KeyImportError", j->rc,
                                "invalid private key file '%s': %s", name,
                                d);
            } else {
                llsh_error_push(L, "KeyImportError", j->rc,
                                "invalid private key: %s", d);
            }
        } else {
            llsh_push_key(L, j->out_key, j->out_comment);
            return 1;
        }
        if (name != NULL) {
            lua_pushstring(L, name);
            lua_setfield(L, -2, "filename");
        }
        return -1;
    case JOB_EXPORT:
        if (j->rc == LSH_ENOALG && j->cipher != NULL) {
            llsh_error_push(L, "KeyExportError", j->rc,
                            "unknown cipher '%s' for '%s' private keys",
                            j->cipher, j->format);
            return -1;
        }
        if (j->rc != 0) {
            llsh_error_push(L, "KeyExportError", j->rc,
                            "cannot export this %s key as '%s': %s",
                            lsh_key_type_name(j->key), j->format,
                            lsh_strerror(j->rc));
            return -1;
        }
        lua_pushlstring(L, (const char *)lsh_buf_ptr(&j->out),
                        lsh_buf_len(&j->out));
        return 1;
    }
    return luaL_error(L, "unknown key job");
}

/* Generation */

/* generate(alg [, key_size]) -> SSHKey */
static int
l_generate(lua_State *L)
{
    const char *alg = luaL_checkstring(L, 1);
    lua_Integer bits = luaL_optinteger(L, 2, 0);
    enum lsh_key_type t;
    key_job *j;

    if (lsh_key_type_from_name(alg, &t) != 0 || t == LSH_KEY_DSA ||
        t == LSH_KEY_SK_ED25519 || t == LSH_KEY_SK_ECDSA_P256) {
        return llsh_error_raise(L, "KeyGenerationError", LSH_EKEYTYPE,
                                "unknown or unsupported private key "
                                "algorithm '%s'", alg);
    }
    if (t == LSH_KEY_RSA && bits != 0 &&
        (bits < LSH_KEY_RSA_MIN_BITS || bits > LSH_KEY_RSA_MAX_BITS)) {
        return llsh_error_raise(L, "KeyGenerationError", LSH_EKEYSIZE,
                                "RSA key size %d is outside %d..%d bits",
                                (int)bits, LSH_KEY_RSA_MIN_BITS,
                                LSH_KEY_RSA_MAX_BITS);
    }
    lua_settop(L, 2);
    j = new_job(L, JOB_GENERATE);
    j->type = t;
    j->bits = (unsigned)bits;
    /* Only RSA (prime search) takes long enough to leave the loop. */
    return llsh_job_run(L, t == LSH_KEY_RSA);
}

/* Import */

/* import_private(data [, passphrase [, filename]]) -> SSHKey */
static int
l_import_private(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *pass = luaL_optstring(L, 2, NULL);
    const char *name = luaL_optstring(L, 3, NULL);
    key_job *j;

    lua_settop(L, 3);
    j = new_job(L, JOB_IMPORT);
    if ((j->data = malloc(n > 0 ? n : 1)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    memcpy(j->data, data, n);
    j->n = n;
    j->passphrase = job_strdup(L, pass != NULL && pass[0] ? pass : NULL);
    j->name = job_strdup(L, name);
    /* A passphrase means a key derivation (bcrypt_pbkdf, PBKDF2) that
     * may take a second: do it off the loop. */
    return llsh_job_run(L, j->passphrase != NULL);
}

/* export_private_key(key, format, passphrase, {cipher=, rounds=}) */
static int
key_export_private_key(lua_State *L)
{
    llsh_keyobj *o = check_keyobj(L, 1);
    const char *format = luaL_optstring(L, 2, "openssh");
    const char *pass = luaL_optstring(L, 3, NULL);
    const char *cipher = NULL;
    lua_Integer rounds = 0;
    key_job *j;

    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_getfield(L, 4, "cipher");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_getfield(L, 4, "cipher_name");
        }
        cipher = lua_tostring(L, -1); /* kept on the stack */
        lua_getfield(L, 4, "rounds");
        if (!lua_isnil(L, -1)) {
            rounds = luaL_checkinteger(L, -1);
        }
        lua_pop(L, 1);
    }
    if (!lsh_key_has_private(o->key)) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "cannot export a public key as a private "
                                "key");
    }
    if (!is_one_of(format, private_formats)) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "unknown private key export format '%s'",
                                format);
    }
    if (rounds < 0 || rounds > (lua_Integer)LSH_KEYFILE_MAX_KDF_ROUNDS) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "rounds must be in 1..%d",
                                (int)LSH_KEYFILE_MAX_KDF_ROUNDS);
    }
    if (pass != NULL && pass[0] != '\0' && strcmp(format, "pkcs1-der") == 0) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "pkcs1-der keys cannot be encrypted");
    }
    j = new_job(L, JOB_EXPORT);
    j->key = lsh_key_ref(o->key);
    j->comment = job_strdup(L, o->comment);
    j->format = job_strdup(L, format);
    j->cipher = job_strdup(L, cipher);
    j->rounds = (unsigned)rounds;
    j->passphrase = job_strdup(L, pass != NULL && pass[0] ? pass : NULL);
    return llsh_job_run(L, j->passphrase != NULL);
}

typedef struct pub_list {
    lua_State *L;
    int n;
} pub_list;

static int
pub_list_add(void *ctx, lsh_key *key, const char *comment)
{
    pub_list *pl = ctx;
    llsh_keyobj *o;
    /* Called from C inside a Lua C function: a memory error here would
     * leak key, so make room first and hand it over at once. */
    if (!lua_checkstack(pl->L, 2)) {
        lsh_key_free(key);
        return LSH_ENOMEM;
    }
    o = new_keyobj(pl->L);
    o->key = key;
    if (comment != NULL && comment[0] != '\0' &&
        (o->comment = strdup(comment)) == NULL) {
        return LSH_ENOMEM;
    }
    lua_rawseti(pl->L, -2, ++pl->n);
    return 0;
}

/* import_public(data [, filename]) -> SSHKey */
static int
l_import_public(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, NULL);
    char err[256] = "", *comment = NULL;
    llsh_keyobj *o = new_keyobj(L); /* filled below */
    int r;

    r = lsh_keyfile_import_public((const uint8_t *)data, n, &o->key,
                                  &comment, err, sizeof(err));
    if (r != 0) {
        if (name != NULL) {
            return llsh__key_raise(L, "KeyImportError", r, name, err,
                                   "invalid public key file '%s'", name);
        }
        return llsh__key_raise(L, "KeyImportError", r, NULL, err,
                               "invalid public key");
    }
    o->comment = dup_opt(comment);
    r = comment != NULL && comment[0] != '\0' && o->comment == NULL;
    free(comment);
    if (r) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

/* import_public_list(data [, filename]) -> {SSHKey...} */
static int
l_import_public_list(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, NULL);
    char err[256] = "";
    pub_list pl = {L, 0};
    int r;

    lua_newtable(L);
    r = lsh_keyfile_import_public_list((const uint8_t *)data, n, pub_list_add,
                                       &pl, err, sizeof(err));
    if (r < 0) {
        if (name != NULL) {
            return llsh__key_raise(L, "KeyImportError", r, name, err,
                                   "invalid public key file '%s'", name);
        }
        return llsh__key_raise(L, "KeyImportError", r, NULL, err,
                               "invalid public key data");
    }
    return 1;
}

/*
 * write_file(path, data, mode, append) -> true.  The mode applies when
 * the file is created; a mode without group or other bits (private keys)
 * is also forced on an existing file, as ssh-keygen leaves key files.
 */
static int
l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t n, off = 0;
    const char *data = luaL_checklstring(L, 2, &n);
    mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
    int append = lua_toboolean(L, 4);
    int fd, flags = O_WRONLY | O_CREAT | O_CLOEXEC;

    flags |= append ? O_APPEND : O_TRUNC;
    if ((fd = open(path, flags, mode)) < 0) {
        goto fail;
    }
    if ((mode & 077) == 0 && fchmod(fd, mode) != 0) {
        goto fail_close;
    }
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto fail_close;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        goto fail;
    }
    lua_pushboolean(L, 1);
    return 1;

fail_close: {
    int e = errno;
    close(fd);
    errno = e;
}
fail:
    llsh_error_push(L, "KeyExportError", LSH_EIO, "%s: %s", path,
                    strerror(errno));
    lua_pushinteger(L, errno);
    lua_setfield(L, -2, "errno");
    lua_pushstring(L, path);
    lua_setfield(L, -2, "filename");
    return lua_error(L);
}

static const luaL_Reg key_methods[] = {
    {"get_algorithm", key_get_algorithm},
    {"get_comment", key_get_comment},
    {"set_comment", key_set_comment},
    {"get_fingerprint", key_get_fingerprint},
    {"convert_to_public", key_convert_to_public},
    {"has_private", key_has_private},
    {"get_key_size", key_get_key_size},
    {"get_sig_algorithms", key_get_sig_algorithms},
    {"public_data", key_public_data},
    {"sign", key_sign},
    {"verify", key_verify},
    {"export_public_key", key_export_public_key},
    {"export_private_key", key_export_private_key},
    {NULL, NULL}};

static const luaL_Reg keycore_funcs[] = {
    {"generate", l_generate},
    {"import_private", l_import_private},
    {"import_public", l_import_public},
    {"import_public_list", l_import_public_list},
    {"write_file", l_write_file},
    {NULL, NULL}};

void
llsh_key_open(lua_State *L)
{
    if (luaL_newmetatable(L, LLSH_KEY_MT)) {
        luaL_newlib(L, key_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "methods");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, key_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, key_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, key_eq);
        lua_setfield(L, -2, "__eq");
    }
    lua_pop(L, 1);
    llsh__key_cert_open(L, 0);
}

int
luaopen_luassh_keycore(lua_State *L)
{
    int mod;
    llsh_error_open(L);
    llsh_key_open(L);
    luaL_newlib(L, keycore_funcs);
    mod = lua_gettop(L);
    luaL_getmetatable(L, LLSH_KEY_MT);
    lua_getfield(L, -1, "methods");
    lua_setfield(L, mod, "key_methods");
    lua_pop(L, 1);
    llsh__key_cert_open(L, mod);
    llsh__key_trust_open(L, mod);
    return 1;
}
