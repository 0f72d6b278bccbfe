/*
 * SSHCertificate objects (OpenSSH certificates, PROTOCOL.certkeys) and the
 * signing half of generate_user_certificate / generate_host_certificate,
 * whose option parsing (times, principals, permit_* flags) is done in
 * lua/luassh/keys.lua.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/rd.h"
#include "crypto/rng.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"

/* [-0, +1] A new certificate userdata without a certificate yet. */
static llsh_certobj *
new_certobj(lua_State *L)
{
    llsh_certobj *o = lua_newuserdatauv(L, sizeof(*o), 0);
    o->cert = NULL;
    o->comment = NULL;
    luaL_setmetatable(L, LLSH_CERT_MT);
    return o;
}

void
llsh_push_cert(lua_State *L, lsh_cert *c, const char *comment)
{
    llsh_certobj *o = new_certobj(L);
    o->cert = lsh_cert_ref(c);
    if (comment != NULL && comment[0] != '\0' &&
        (o->comment = strdup(comment)) == NULL) {
        luaL_error(L, "out of memory");
    }
}

lsh_cert *
llsh_test_cert(lua_State *L, int idx)
{
    llsh_certobj *o = luaL_testudata(L, idx, LLSH_CERT_MT);
    return o != NULL ? o->cert : NULL;
}

lsh_cert *
llsh_check_cert(lua_State *L, int idx)
{
    lsh_cert *c = llsh_test_cert(L, idx);
    if (c == NULL) {
        luaL_typeerror(L, idx, "SSHCertificate");
    }
    return c;
}

static llsh_certobj *
check_certobj(lua_State *L, int idx)
{
    llsh_certobj *o = luaL_checkudata(L, idx, LLSH_CERT_MT);
    if (o->cert == NULL) {
        luaL_argerror(L, idx, "SSHCertificate without a certificate");
    }
    return o;
}

/*
 * [-0, +1] A uint64 time or serial: an integer when it fits, else
 * math.huge for "forever" (LSH_CERT_FOREVER) or a float.
 */
static void
push_u64(lua_State *L, uint64_t v)
{
    if (v <= (uint64_t)LUA_MAXINTEGER) {
        lua_pushinteger(L, (lua_Integer)v);
    } else if (v == LSH_CERT_FOREVER) {
        lua_pushnumber(L, HUGE_VAL);
    } else {
        lua_pushnumber(L, (lua_Number)v);
    }
}

/* [-0, +1] Critical options or extensions as name -> value | true. */
static void
push_options(lua_State *L, const lsh_cert *c, int critical)
{
    size_t n = lsh_cert_option_count(c, critical);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const uint8_t *data;
        size_t len;
        lsh_rd rd;
        const uint8_t *v;
        size_t vlen;

        if (lsh_cert_option(c, critical, i, &name, &data, &len) != 0) {
            continue;
        }
        lsh_rd_init(&rd, data, len);
        if (len == 0) {
            lua_pushboolean(L, 1);
        } else if (lsh_rd_string(&rd, &v, &vlen) == 0 &&
                   lsh_rd_end(&rd) == 0) {
            /* PROTOCOL.certkeys: a string option's data is a string. */
            lua_pushlstring(L, (const char *)v, vlen);
        } else {
            lua_pushlstring(L, (const char *)data, len);
        }
        lua_setfield(L, -2, name);
    }
}

static int
cert_gc(lua_State *L)
{
    llsh_certobj *o = luaL_checkudata(L, 1, LLSH_CERT_MT);
    lsh_cert_free(o->cert);
    o->cert = NULL;
    free(o->comment);
    o->comment = NULL;
    return 0;
}

static int
cert_tostring(lua_State *L)
{
    llsh_certobj *o = luaL_checkudata(L, 1, LLSH_CERT_MT);
    char fp[LSH_KEY_FP_MAX];
    if (o->cert == NULL ||
        lsh_key_fingerprint(lsh_cert_key(o->cert), "sha256", fp,
                            sizeof(fp)) != 0) {
        lua_pushliteral(L, "SSHCertificate (none)");
        return 1;
    }
    lua_pushfstring(L, "SSHCertificate %s %s (%s, id \"%s\")",
                    lsh_cert_type_name(o->cert), fp,
                    lsh_cert_type(o->cert) == LSH_CERT_USER ? "user"
                                                             : "host",
                    lsh_cert_key_id(o->cert));
    return 1;
}

/* Two certificates are equal when their blobs are. */
static int
cert_eq(lua_State *L)
{
    llsh_certobj *a = luaL_testudata(L, 1, LLSH_CERT_MT);
    llsh_certobj *b = luaL_testudata(L, 2, LLSH_CERT_MT);
    const uint8_t *pa, *pb;
    size_t na, nb;
    if (a == NULL || b == NULL || a->cert == NULL || b->cert == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    pa = lsh_cert_blob(a->cert, &na);
    pb = lsh_cert_blob(b->cert, &nb);
    lua_pushboolean(L, na == nb && memcmp(pa, pb, na) == 0);
    return 1;
}

static int
cert_get_algorithm(lua_State *L)
{
    lua_pushstring(L, lsh_cert_type_name(check_certobj(L, 1)->cert));
    return 1;
}

static int
cert_get_comment(lua_State *L)
{
    return llsh_get_comment(L, check_certobj(L, 1)->comment);
}

static int
cert_set_comment(lua_State *L)
{
    return llsh_set_comment(L, 2, &check_certobj(L, 1)->comment);
}

static int
cert_public_data(lua_State *L)
{
    size_t n;
    const uint8_t *p = lsh_cert_blob(check_certobj(L, 1)->cert, &n);
    lua_pushlstring(L, (const char *)p, n);
    return 1;
}

/* The fingerprint of the certified key, as ssh-keygen -l shows it. */
static int
cert_get_fingerprint(lua_State *L)
{
    llsh_certobj *o = check_certobj(L, 1);
    lua_settop(L, 2);
    llsh_push_key(L, lsh_cert_key(o->cert), NULL);
    lua_getfield(L, -1, "get_fingerprint");
    lua_insert(L, -2);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

static int
cert_export_certificate(lua_State *L)
{
    llsh_certobj *o = check_certobj(L, 1);
    const char *format = luaL_optstring(L, 2, "openssh");
    lsh_buf b;
    int r;

    if (strcmp(format, "openssh") != 0) {
        return llsh_error_raise(L, "KeyExportError", LSH_EINVAL,
                                "unknown certificate export format '%s' "
                                "(only \"openssh\")", format);
    }
    lsh_buf_init(&b, 0);
    if ((r = lsh_cert_export_openssh(o->cert, o->comment, &b)) != 0) {
        lsh_buf_free(&b);
        return llsh__key_raise(L, "KeyExportError", r, NULL, NULL,
                               "cannot export the certificate");
    }
    lua_pushlstring(L, (const char *)lsh_buf_ptr(&b), lsh_buf_len(&b));
    lsh_buf_free(&b);
    return 1;
}

static int
check_cert_type(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer t = lua_tointeger(L, idx);
        if (t == LSH_CERT_USER || t == LSH_CERT_HOST) {
            return (int)t;
        }
    } else {
        const char *s = luaL_checkstring(L, idx);
        if (strcmp(s, "user") == 0) {
            return LSH_CERT_USER;
        }
        if (strcmp(s, "host") == 0) {
            return LSH_CERT_HOST;
        }
    }
    return luaL_argerror(L, idx, "expected \"user\" or \"host\"");
}

static uint64_t
opt_now(lua_State *L, int idx)
{
    lua_Number v;
    if (lua_isnoneornil(L, idx)) {
        return (uint64_t)time(NULL);
    }
    v = luaL_checknumber(L, idx);
    return v <= 0 ? 0 : (uint64_t)v;
}

/* cert:validate(type, principal [, now]) -> true, or raises ValueError */
static int
cert_validate(lua_State *L)
{
    llsh_certobj *o = check_certobj(L, 1);
    int type = check_cert_type(L, 2);
    const char *principal = luaL_optstring(L, 3, NULL);
    uint64_t now = opt_now(L, 4);
    char err[256] = "";
    int r;

    r = lsh_cert_validate(o->cert, type, principal, now, err, sizeof(err));
    if (r == LSH_EBADSIG) {
        return llsh_error_raise(L, "ValueError", r,
                                "invalid certificate signature");
    }
    if (r != 0) {
        return llsh__key_raise(L, "ValueError", r, NULL, err,
                               "certificate not valid");
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int
cert_verify_signature(lua_State *L)
{
    llsh_certobj *o = check_certobj(L, 1);
    lua_pushboolean(L, lsh_cert_verify_signature(o->cert) == 0);
    return 1;
}

/* Read-only fields, cert.key_id etc. */
static int
cert_property(lua_State *L, const lsh_cert *c, const char *k)
{
    if (strcmp(k, "key") == 0) {
        llsh_push_key(L, lsh_cert_key(c), NULL);
    } else if (strcmp(k, "signing_key") == 0) {
        llsh_push_key(L, lsh_cert_signature_key(c), NULL);
    } else if (strcmp(k, "key_id") == 0) {
        lua_pushstring(L, lsh_cert_key_id(c));
    } else if (strcmp(k, "serial") == 0) {
        push_u64(L, lsh_cert_serial(c));
    } else if (strcmp(k, "cert_type") == 0) {
        lua_pushstring(L, lsh_cert_type(c) == LSH_CERT_USER ? "user"
                                                              : "host");
    } else if (strcmp(k, "principals") == 0) {
        size_t n = lsh_cert_principal_count(c);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushstring(L, lsh_cert_principal(c, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else if (strcmp(k, "valid_after") == 0) {
        push_u64(L, lsh_cert_valid_after(c));
    } else if (strcmp(k, "valid_before") == 0) {
        push_u64(L, lsh_cert_valid_before(c));
    } else if (strcmp(k, "options") == 0) {
        push_options(L, c, 1);
    } else if (strcmp(k, "extensions") == 0) {
        push_options(L, c, 0);
    } else if (strcmp(k, "signature_algorithm") == 0) {
        lua_pushstring(L, lsh_cert_signature_alg(c));
    } else {
        return 0;
    }
    return 1;
}

static int
cert_index(lua_State *L)
{
    llsh_certobj *o = luaL_checkudata(L, 1, LLSH_CERT_MT);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
        return 1;
    }
    if (o->cert != NULL && lua_type(L, 2) == LUA_TSTRING &&
        cert_property(L, o->cert, lua_tostring(L, 2))) {
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

typedef struct cert_list {
    lua_State *L;
    int n;
} cert_list;

static int
cert_list_add(void *ctx, lsh_cert *c, const char *comment)
{
    cert_list *cl = ctx;
    llsh_certobj *o;
    if (!lua_checkstack(cl->L, 2)) {
        lsh_cert_free(c);
        return LSH_ENOMEM;
    }
    o = new_certobj(cl->L);
    o->cert = c;
    if (comment != NULL && comment[0] != '\0' &&
        (o->comment = strdup(comment)) == NULL) {
        return LSH_ENOMEM;
    }
    lua_rawseti(cl->L, -2, ++cl->n);
    return 0;
}

static int
raise_cert_import(lua_State *L, int r, const char *name, const char *err)
{
    if (name != NULL) {
        return llsh__key_raise(L, "KeyImportError", r, name, err,
                               "invalid certificate file '%s'", name);
    }
    return llsh__key_raise(L, "KeyImportError", r, NULL, err,
                           "invalid certificate");
}

/* import_certificate(data [, filename]) -> SSHCertificate */
static int
l_import_certificate(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, NULL);
    char err[256] = "", *comment = NULL;
    llsh_certobj *o = new_certobj(L);
    int r;

    r = lsh_cert_import((const uint8_t *)data, n, &o->cert, &comment, err,
                        sizeof(err));
    if (r != 0) {
        return raise_cert_import(L, r, name, err);
    }
    if (comment != NULL && comment[0] != '\0') {
        o->comment = strdup(comment);
        r = o->comment == NULL;
    }
    free(comment);
    if (r) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

/* import_certificate_list(data [, filename]) -> {SSHCertificate...} */
static int
l_import_certificate_list(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, NULL);
    char err[256] = "";
    cert_list cl = {L, 0};
    int r;

    lua_newtable(L);
    r = lsh_cert_import_list((const uint8_t *)data, n, cert_list_add, &cl,
                             err, sizeof(err));
    if (r < 0) {
        return raise_cert_import(L, r, name, err);
    }
    return 1;
}

/* Certificate creation */

static uint64_t
field_u64(lua_State *L, int t, const char *name, uint64_t dflt)
{
    uint64_t v = dflt;
    lua_getfield(L, t, name);
    if (lua_isinteger(L, -1)) {
        lua_Integer i = lua_tointeger(L, -1);
        if (i < 0) {
            luaL_error(L, "%s must not be negative", name);
        }
        v = (uint64_t)i;
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number x = lua_tonumber(L, -1);
        if (!(x >= 0)) {
            luaL_error(L, "%s must not be negative", name);
        }
        v = x >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)x;
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s must be a number", name);
    }
    lua_pop(L, 1);
    return v;
}

/*
 * [-0, +1] Reads a list of {name, value} pairs at params[field] into a
 * GC-owned array (pushed, so it lives for the call).  Returns the count;
 * *present says whether the field was given.
 */
static lsh_cert_opt *
field_opts(lua_State *L, int t, const char *field, size_t *count,
           int *present)
{
    lsh_cert_opt *opts;
    size_t n;

    lua_getfield(L, t, field);
    *present = !lua_isnil(L, -1);
    if (!*present) {
        lua_pop(L, 1);
        *count = 0;
        lua_newuserdatauv(L, 1, 0);
        return NULL;
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    n = (size_t)luaL_len(L, -1);
    opts = lua_newuserdatauv(L, (n > 0 ? n : 1) * sizeof(*opts), 1);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, 1); /* keeps the strings alive */
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_rawgeti(L, -1, 1);
        opts[i].name = luaL_checkstring(L, -1);
        lua_rawgeti(L, -2, 2);
        opts[i].value = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 3);
    }
    lua_remove(L, -2);
    *count = n;
    return opts;
}

/*
 * ca:_certify(subject, params) -> SSHCertificate.  params: type (1 user,
 * 2 host), key_id, serial, principals = {...}, valid_after, valid_before
 * (nil or math.huge: forever), critical = {{name, value}...}, extensions
 * = {{name, value|false}...} (nil: the defaults), sig_alg, comment.
 */
static int
key_certify(lua_State *L)
{
    lsh_key *ca = llsh_check_key(L, 1);
    lsh_key *subject = llsh_check_key(L, 2);
    lsh_cert_params p;
    const char **principals;
    const char *sig_alg, *comment;
    size_t np;
    int have_ext, have_crit, r;
    lsh_buf b;
    llsh_certobj *o;
    char err[256] = "";

    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    memset(&p, 0, sizeof(p));
    lua_getfield(L, 3, "type");
    p.type = (int)luaL_checkinteger(L, -1);
    lua_getfield(L, 3, "key_id");
    p.key_id = luaL_optstring(L, -1, "");
    lua_getfield(L, 3, "sig_alg");
    sig_alg = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 3, "comment");
    comment = luaL_optstring(L, -1, NULL);
    p.serial = field_u64(L, 3, "serial", 0);
    p.valid_after = field_u64(L, 3, "valid_after", 0);
    p.valid_before = field_u64(L, 3, "valid_before", LSH_CERT_FOREVER);

    lua_getfield(L, 3, "principals");
    np = lua_istable(L, -1) ? (size_t)luaL_len(L, -1) : 0;
    principals = lua_newuserdatauv(L, (np > 0 ? np : 1) * sizeof(char *), 0);
    for (size_t i = 0; i < np; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        principals[i] = luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the principals table keeps it */
    }
    p.principals = principals;
    p.nprincipals = np;
    p.critical = field_opts(L, 3, "critical", &p.ncritical, &have_crit);
    p.extensions = field_opts(L, 3, "extensions", &p.nextensions,
                              &have_ext);
    /* A given but empty list is non-NULL: "no extensions", not the
     * defaults (field_opts allocates at least one slot). */
    (void)have_crit;
    (void)have_ext;
    if (!lsh_key_has_private(ca)) {
        return llsh_error_raise(L, "ValueError", LSH_EINVAL,
                                "the CA key has no private half");
    }
    if (sig_alg != NULL && !lsh_key_sigalg_ok(ca, sig_alg)) {
        return llsh_error_raise(L, "ValueError", LSH_ENOALG,
                                "signature algorithm '%s' does not suit "
                                "the %s CA key", sig_alg,
                                lsh_key_type_name(ca));
    }
    o = new_certobj(L);
    lsh_buf_init(&b, 0);
    r = lsh_cert_create(ca, sig_alg, subject, &p, lsh_rng_fill, NULL, &b);
    if (r == 0) {
        size_t n;
        const uint8_t *blob = lsh_buf_ptr(&b);
        n = lsh_buf_len(&b);
        r = lsh_cert_from_blob(blob, n, &o->cert);
        if (r != 0) {
            snprintf(err, sizeof(err), "the new certificate does not "
                                       "parse: %s", lsh_strerror(r));
        }
    }
    lsh_buf_free(&b);
    if (r != 0) {
        return llsh__key_raise(L, "ValueError", r, NULL, err,
                               "cannot create the certificate");
    }
    if (comment != NULL && comment[0] != '\0' &&
        (o->comment = strdup(comment)) == NULL) {
        return luaL_error(L, "out of memory");
    }
    return 1;
}

static const luaL_Reg cert_methods[] = {
    {"get_algorithm", cert_get_algorithm},
    {"get_comment", cert_get_comment},
    {"set_comment", cert_set_comment},
    {"get_fingerprint", cert_get_fingerprint},
    {"public_data", cert_public_data},
    {"export_certificate", cert_export_certificate},
    {"validate", cert_validate},
    {"verify_signature", cert_verify_signature},
    {NULL, NULL}};

static const luaL_Reg cert_funcs[] = {
    {"import_certificate", l_import_certificate},
    {"import_certificate_list", l_import_certificate_list},
    {NULL, NULL}};

/*
 * With module_idx 0: creates the metatable (idempotent).  Otherwise also
 * registers the functions in the module table at module_idx.
 */
void
llsh__key_cert_open(lua_State *L, int module_idx)
{
    if (luaL_newmetatable(L, LLSH_CERT_MT)) {
        luaL_newlib(L, cert_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "methods");
        lua_pushcclosure(L, cert_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, cert_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, cert_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, cert_eq);
        lua_setfield(L, -2, "__eq");
    }
    if (module_idx == 0) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "methods");
    lua_setfield(L, module_idx, "cert_methods");
    lua_pop(L, 1);
    /* The signing half of generate_*_certificate lives with the keys. */
    luaL_getmetatable(L, LLSH_KEY_MT);
    lua_getfield(L, -1, "methods");
    lua_pushcfunction(L, key_certify);
    lua_setfield(L, -2, "_certify");
    lua_pop(L, 2);
    lua_pushvalue(L, module_idx);
    luaL_setfuncs(L, cert_funcs, 0);
    lua_pop(L, 1);
}
