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
 * the done callback frees it (the "abandoned" flag), as in l_key.c.
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
#include "lua_bindings/sched.h"
#include "uvio/work.h"

#define CRYPT_JOB_MT "luassh.CryptJob"

int luaopen_luassh_cryptcore(lua_State *L);

enum crypt_op { OP_HASH, OP_CHECK };

typedef struct crypt_box crypt_box;

typedef struct crypt_job {
    enum crypt_op op;
    int queued;    /* handed to the thread pool */
    int finished;  /* the outputs are ready */
    int abandoned; /* nobody waits: the done callback frees the job */
    crypt_box *box;
    lsh_io_job *io; /* while queued and not finished */
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

struct crypt_box {
    llsh_waiter w;
    crypt_job *j;
};

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
job_free(crypt_job *j)
{
    if (j == NULL) {
        return;
    }
    if (j->phrase != NULL) {
        lsh_freezero(j->phrase, j->phrase_len + 1);
    }
    free(j->setting);
    lsh_memzero(j->out, sizeof(j->out));
    free(j);
}

/* Runs on a worker thread (or inline): touches only the job. */
static void
job_work(void *data)
{
    crypt_job *j = data;
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

/* On the loop thread, once per queued job. */
static void
job_done(void *data, int cancelled)
{
    crypt_job *j = data;
    j->io = NULL;
    if (cancelled) {
        j->ok = 0;
        j->match = 0;
        j->err = ECANCELED;
    }
    j->finished = 1;
    if (j->abandoned) {
        job_free(j);
        return;
    }
    llsh_wake(&j->box->w, 0);
}

/* Detaches a queued job from its box: the done callback will free it. */
static void
job_detach(crypt_box *b)
{
    crypt_job *j = b->j;
    b->j = NULL;
    j->box = NULL;
    j->abandoned = 1;
    if (j->io != NULL) {
        (void)lsh_io_work_cancel(j->io);
    }
}

/* The waiting task was interrupted (cancel, timeout). */
static void
job_cancel(llsh_waiter *w)
{
    crypt_box *b = w->data;
    if (b->j != NULL && b->j->queued && !b->j->finished) {
        job_detach(b);
    }
}

static int
box_gc(lua_State *L)
{
    crypt_box *b = luaL_checkudata(L, 1, CRYPT_JOB_MT);
    crypt_job *j = b->j;
    if (j == NULL) {
        return 0;
    }
    if (j->queued && !j->finished) {
        job_detach(b);
    } else {
        b->j = NULL;
        job_free(j);
    }
    return 0;
}

/* [-0, +1] A box holding a new, empty job of kind op. */
static crypt_job *
new_job(lua_State *L, enum crypt_op op)
{
    crypt_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
    memset(b, 0, sizeof(*b));
    luaL_setmetatable(L, CRYPT_JOB_MT);
    if ((b->j = calloc(1, sizeof(*b->j))) == NULL) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    b->j->op = op;
    return b->j;
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

static int
job_k(lua_State *L, int status, lua_KContext ctx)
{
    crypt_box *b = luaL_checkudata(L, (int)ctx, CRYPT_JOB_MT);
    crypt_job *j;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    j = b->j;
    if (j == NULL || !j->finished) {
        return luaL_error(L, "password job resumed before it finished");
    }
    if (j->op == OP_CHECK) {
        lua_pushboolean(L, j->ok && j->match);
    } else if (j->ok) {
        lua_pushstring(L, j->out);
    } else {
        int e = j->err;
        b->j = NULL;
        job_free(j);
        llsh_error_push(L, "OSError", LSH_ECRYPTO,
                        "cannot hash the password: %s", strerror(e));
        lua_pushinteger(L, e);
        lua_setfield(L, -2, "errno");
        return lua_error(L);
    }
    b->j = NULL;
    job_free(j);
    return 1;
}

/*
 * Runs the job whose box is on top of the stack: on the thread pool when
 * the caller is a task that can yield, else inline.
 */
static int
run_job(lua_State *L)
{
    int idx = lua_gettop(L);
    crypt_box *b = luaL_checkudata(L, idx, CRYPT_JOB_MT);
    crypt_job *j = b->j;

    if (llsh_current(L) != NULL && lua_isyieldable(L)) {
        b->w.cancel = job_cancel;
        b->w.data = b;
        llsh_wait(L, &b->w); /* may raise: the box still owns the job */
        j->box = b;
        if (lsh_io_work(job_work, job_done, j, &j->io) == 0) {
            j->queued = 1;
        } else {
            /* No thread pool: do it here, then let the wait end. */
            job_work(j);
            j->finished = 1;
            llsh_wake(&b->w, 0);
        }
        return lua_yieldk(L, 0, (lua_KContext)idx, job_k);
    }
    job_work(j);
    j->finished = 1;
    return job_k(L, LUA_OK, (lua_KContext)idx);
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
    return run_job(L);
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
    return run_job(L);
}

int
luaopen_luassh_cryptcore(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"hash_password", l_hash_password},
        {"check_password", l_check_password},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, CRYPT_JOB_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "private");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
