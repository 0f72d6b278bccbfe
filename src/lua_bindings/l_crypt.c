/*
 * luassh.cryptcore: password hashes for servers that must not keep
 * passwords in clear text, over the system's libxcrypt (crypt(5) formats:
 * yescrypt "$y$", bcrypt "$2b$", SHA-512 crypt "$6$").
 *
 *   hash_password(password [, {method=, rounds=}]) -> hash string
 *   check_password(password, hash) -> boolean
 *
 * Both run the (deliberately slow) hash on libuv's thread pool when called
 * from a luassh task, so that a server keeps serving while it checks a
 * password; elsewhere they run inline.  check_password compares the result
 * in constant time (CRYPTO_memcmp) and answers false, never raises, for
 * a hash it cannot use: empty, a "*" failure token ("*0", "*1", "*LK*"),
 * an unknown or disabled method, a malformed setting.  A nil hash (no such
 * user) costs a default yescrypt computation and answers false, so that
 * the time taken does not tell whether the user exists.
 *
 * Ownership: a job is malloc'd and owned by its box (a userdata on the
 * caller's stack) until it is queued and the waiting task goes away; then
 * the done callback frees it (l_job.c).
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/crypto.h>

#include "common/error.h"
#include "common/mem.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_job.h"

int luaopen_luassh_cryptcore(lua_State *L);

enum crypt_op { OP_HASH, OP_CHECK };

typedef struct crypt_job {
    llsh_job base; /* first: the job runner's part (l_job.h) */
    enum crypt_op op;
    /* inputs */
    char *phrase;  /* NUL-terminated copy of the password */
    size_t phrase_len;
    char *setting; /* OP_HASH: crypt_gensalt_ra's output; OP_CHECK: the hash */
    size_t setting_len;
    int never_match; /* OP_CHECK with no hash: compute, then answer false */
    /* outputs */
    int ok;        /* crypt_rn produced a hash */
    int match;     /* OP_CHECK: it equals the stored hash */
    int err;       /* errno when !ok */
    char out[CRYPT_OUTPUT_SIZE];
} crypt_job;

static const struct {
    const char *name;
    const char *prefix;
} methods[] = {
    {"yescrypt", "$y$"},
    {"bcrypt", "$2b$"},
    {"sha512crypt", "$6$"},
};

/* A yescrypt setting with default cost, hashed against when there is no
 * hash to check (a salt of zeros: the result is thrown away). */
static const char dummy_setting[] = "$y$j9T$........................$";

static void
job_free(llsh_job *base)
{
    crypt_job *j = (crypt_job *)base;
    if (j->phrase != NULL) {
        lsh_freezero(j->phrase, j->phrase_len + 1);
    }
    free(j->setting);
    lsh_memzero(j->out, sizeof(j->out));
    free(j);
}

/* Runs on a worker thread (or inline): touches only the job. */
static void
job_work(llsh_job *base)
{
    crypt_job *j = (crypt_job *)base;
    struct crypt_data *cd;
    const char *r;
    size_t n;

    if ((cd = calloc(1, sizeof(*cd))) == NULL) {
        j->err = ENOMEM;
        return;
    }
    errno = 0;
    r = crypt_rn(j->phrase, j->setting, cd, (int)sizeof(*cd));
    /* crypt_rn returns NULL on failure; never trust a "*" token anyway. */
    if (r == NULL || r[0] == '*' || (n = strlen(r)) >= sizeof(j->out)) {
        j->err = errno != 0 ? errno : EINVAL;
    } else {
        memcpy(j->out, r, n + 1);
        j->ok = 1;
        if (j->op == OP_CHECK && !j->never_match) {
            j->match = n == j->setting_len &&
                       CRYPTO_memcmp(r, j->setting, n) == 0;
        }
    }
    lsh_freezero(cd, sizeof(*cd));
}

static int job_push(lua_State *L, llsh_job *base);

static const llsh_job_ops crypt_ops = {"password job", job_work, job_push,
                                       job_free};

/* [-0, +1] A box holding a new, empty job of kind op. */
static crypt_job *
new_job(lua_State *L, enum crypt_op op)
{
    crypt_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    j->base.ops = &crypt_ops;
    j->op = op;
    llsh_job_box(L, &j->base);
    return j;
}

/* Copies the password into the job (NUL-terminated). */
static void
job_set_phrase(lua_State *L, crypt_job *j, const char *pw, size_t n)
{
    if ((j->phrase = malloc(n + 1)) == NULL) {
        luaL_error(L, "out of memory");
        return;
    }
    memcpy(j->phrase, pw, n);
    j->phrase[n] = '\0';
    j->phrase_len = n;
}

/* The outcome, on the loop thread: a hash, a boolean or an OSError. */
static int
job_push(lua_State *L, llsh_job *base)
{
    crypt_job *j = (crypt_job *)base;
    if (base->cancelled) {
        j->ok = 0;
        j->match = 0;
        j->err = ECANCELED;
    }
    if (j->op == OP_CHECK) {
        lua_pushboolean(L, j->ok && j->match);
        return 1;
    }
    if (j->ok) {
        lua_pushstring(L, j->out);
        return 1;
    }
    llsh_error_push(L, "OSError", LSH_ECRYPTO, "cannot hash the password: %s",
                    strerror(j->err));
    lua_pushinteger(L, j->err);
    lua_setfield(L, -2, "errno");
    return -1;
}

static const char *
method_prefix(const char *name)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(methods[i].name, name) == 0) {
            return methods[i].prefix;
        }
    }
    return NULL;
}

/* hash_password(password [, {method=, rounds=}]) -> string */
static int
l_hash_password(lua_State *L)
{
    size_t n;
    const char *pw = luaL_checklstring(L, 1, &n);
    const char *method = "yescrypt", *prefix;
    lua_Integer rounds = 0;
    crypt_job *j;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "method") != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                return luaL_argerror(L, 2, "'method' must be a string");
            }
            method = lua_tostring(L, -1);
        }
        if (lua_getfield(L, 2, "rounds") != LUA_TNIL) {
            int isint;
            rounds = lua_tointegerx(L, -1, &isint);
            if (!isint) {
                return luaL_argerror(L, 2, "'rounds' must be an integer");
            }
        }
    }
    if ((prefix = method_prefix(method)) == NULL) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "unknown password hash method '%s' "
                                "(yescrypt, bcrypt or sha512crypt)", method);
    }
    if (memchr(pw, '\0', n) != NULL) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "a password cannot contain a NUL byte");
    }
    if (n >= CRYPT_MAX_PASSPHRASE_SIZE) {
        return llsh_error_raise(L, "ValueError", LSH_ETOOLARGE,
                                "a password is limited to %d bytes",
                                CRYPT_MAX_PASSPHRASE_SIZE - 1);
    }
    if (rounds < 0 || rounds > 999999999) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "invalid rounds %I for %s", rounds, method);
    }
    /* libxcrypt's default bcrypt cost (5) is below today's usual floor. */
    if (rounds == 0 && strcmp(prefix, "$2b$") == 0) {
        rounds = 10;
    }
    /* The box first, so that an error below frees what the job holds. */
    j = new_job(L, OP_HASH);
    job_set_phrase(L, j, pw, n);
    /* With no random bytes given, libxcrypt draws the salt from the OS. */
    errno = 0;
    j->setting = crypt_gensalt_ra(prefix, (unsigned long)rounds, NULL, 0);
    if (j->setting == NULL) {
        int e = errno;
        char *probe = rounds != 0 ? crypt_gensalt_ra(prefix, 0, NULL, 0)
                                  : NULL;
        if (probe != NULL) {
            free(probe);
            return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                    "invalid rounds %I for %s", rounds,
                                    method);
        }
        if (e == EINVAL || e == ENOSYS || e == 0) {
            return llsh_error_raise(L, "ValueError", LSH_EUNSUPPORTED,
                                    "the system's crypt does not support "
                                    "%s", method);
        }
        return llsh_error_raise(L, "OSError", LSH_ECRYPTO,
                                "cannot make a salt for %s: %s", method,
                                strerror(e));
    }
    j->setting_len = strlen(j->setting);
    return llsh_job_run(L, 1);
}

/*
 * check_password(password, hash) -> boolean.  False for anything that is
 * not a usable hash of this password; a nil hash costs a dummy hash.
 */
static int
l_check_password(lua_State *L)
{
    size_t n, hn = 0;
    const char *pw = luaL_checklstring(L, 1, &n);
    const char *h = NULL;
    crypt_job *j;

    if (!lua_isnoneornil(L, 2)) {
        h = luaL_checklstring(L, 2, &hn);
    }
    if (h != NULL && (hn == 0 || hn >= CRYPT_OUTPUT_SIZE || h[0] == '*' ||
                      memchr(h, '\0', hn) != NULL)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (memchr(pw, '\0', n) != NULL || n >= CRYPT_MAX_PASSPHRASE_SIZE) {
        /* No hash can have been made from it (crypt stops at the NUL;
         * hash_password refuses what crypt cannot take). */
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_settop(L, 2);
    j = new_job(L, OP_CHECK);
    if (h == NULL) {
        h = dummy_setting;
        hn = sizeof(dummy_setting) - 1;
        j->never_match = 1;
    }
    if ((j->setting = malloc(hn + 1)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    memcpy(j->setting, h, hn + 1);
    j->setting_len = hn;
    job_set_phrase(L, j, pw, n);
    return llsh_job_run(L, 1);
}

int
luaopen_luassh_cryptcore(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"hash_password", l_hash_password},
        {"check_password", l_check_password},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
