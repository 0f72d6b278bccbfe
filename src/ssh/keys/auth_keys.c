/*
 * authorized_keys files (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
 *
 * IMPLEMENTATION NOTES
 * A line starts with its key when its first token is a key type name;
 * otherwise the first token (up to a space or tab outside double quotes)
 * is the options field.  Options are read left to right, each either a
 * flag (optionally "no-" prefixed) or name="value"; after each one comes
 * a comma or the end of the field, anything else is an unknown option.
 * Empty options (",," or a leading comma) are skipped, as sshd skips
 * them.  Option semantics follow the man page: permissions start
 * allowed, "restrict" denies them all, later flags on the line allow
 * them again; command, from and principals may appear once; environment,
 * permitopen and permitlisten repeat; several expiry-time options keep
 * the earliest.
 *
 * Lookups keep sshd's order of checks: the first line whose key matches
 * and whose from= and expiry-time admit the client wins; a line that
 * matches the key but not the client does not stop the search.
 */
#include "ssh/keys/auth_keys.h"

#include <stdlib.h>
#include <string.h>

#include "common/pattern.h"
#include "ssh/keys/trustfile.h"

/* sshd's limit on environment= options per line. */
#define ENV_MAX 1024
/* Longest host name in permitopen/permitlisten (NI_MAXHOST - 1). */
#define PERMIT_HOST_MAX 1024
/* Largest tunnel unit number. */
#define TUNNEL_MAX 0x7ffffffd

struct ak_line {
    lsh_ak_entry pub;
    lsh_key *key;
    lsh_auth_opts opts;
    char *comment;
};

struct lsh_auth_keys {
    struct ak_line **v;
    size_t n, cap;
    lsh__tf_problems probs;
};

/*
 * Options.
 */

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static void
free_permits(lsh_ak_permit *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].host);
    }
    free(v);
}

void
lsh_auth_opts_clear(lsh_auth_opts *o)
{
    if (o == NULL) {
        return;
    }
    free(o->command);
    free_strv(o->env, o->n_env);
    free_permits(o->permitopen, o->n_permitopen);
    free_permits(o->permitlisten, o->n_permitlisten);
    free_strv(o->principals, o->n_principals);
    free(o->from);
    free(o->filename);
    memset(o, 0, sizeof(*o));
}

static void
opts_defaults(lsh_auth_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->permit_port_forwarding = 1;
    o->permit_agent_forwarding = 1;
    o->permit_x11_forwarding = 1;
    o->permit_pty = 1;
    o->permit_user_rc = 1;
    o->tunnel = LSH_AK_TUNNEL_NONE;
}

static int
dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src != NULL && (*dst = strdup(src)) == NULL) {
        return LSH_ENOMEM;
    }
    return 0;
}

static int
dup_strv(char ***dst, const char *const *src, size_t n)
{
    *dst = NULL;
    if (src == NULL) {
        return 0;
    }
    if ((*dst = calloc(n + 1, sizeof(char *))) == NULL) {
        return LSH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (((*dst)[i] = strdup(src[i])) == NULL) {
            return LSH_ENOMEM;
        }
    }
    return 0;
}

static int
dup_permits(lsh_ak_permit **dst, const lsh_ak_permit *src, size_t n)
{
    *dst = NULL;
    if (n == 0) {
        return 0;
    }
    if ((*dst = calloc(n, sizeof(**dst))) == NULL) {
        return LSH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        (*dst)[i].port = src[i].port;
        if (((*dst)[i].host = strdup(src[i].host)) == NULL) {
            return LSH_ENOMEM;
        }
    }
    return 0;
}

int
lsh_auth_opts_copy(lsh_auth_opts *dst, const lsh_auth_opts *src)
{
    int r;

    *dst = *src;
    /* Pointers are replaced one by one; counts stay, so that a partial
     * copy still frees cleanly (the arrays are calloc'd). */
    dst->command = dst->from = dst->filename = NULL;
    dst->env = dst->principals = NULL;
    dst->permitopen = dst->permitlisten = NULL;
    if ((r = dup_str(&dst->command, src->command)) != 0 ||
        (r = dup_str(&dst->from, src->from)) != 0 ||
        (r = dup_str(&dst->filename, src->filename)) != 0 ||
        (r = dup_strv(&dst->env, (const char *const *)src->env,
                      src->n_env)) != 0 ||
        (r = dup_strv(&dst->principals,
                      (const char *const *)src->principals,
                      src->n_principals)) != 0 ||
        (r = dup_permits(&dst->permitopen, src->permitopen,
                         src->n_permitopen)) != 0 ||
        (r = dup_permits(&dst->permitlisten, src->permitlisten,
                         src->n_permitlisten)) != 0) {
        lsh_auth_opts_clear(dst);
        return r;
    }
    return 0;
}

int
lsh_auth_opts_principal_ok(const lsh_auth_opts *o, const char *name)
{
    if (o->principals == NULL) {
        return 1;
    }
    for (size_t i = 0; i < o->n_principals; i++) {
        if (strcmp(o->principals[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
push_str(char ***v, size_t *n, char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
    if (nv == NULL) {
        return LSH_ENOMEM;
    }
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return 0;
}

/* principals="a,b,c" -> {"a", "b", "c"}; an empty value gives none. */
static int
split_principals(lsh_auth_opts *o, const char *list)
{
    const char *p = list;

    if ((o->principals = calloc(1, sizeof(char *))) == NULL) {
        return LSH_ENOMEM;
    }
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char *name;
        if (n > 0) {
            if ((name = malloc(n + 1)) == NULL) {
                return LSH_ENOMEM;
            }
            memcpy(name, p, n);
            name[n] = '\0';
            if (push_str(&o->principals, &o->n_principals, name) != 0) {
                free(name);
                return LSH_ENOMEM;
            }
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

static int
valid_env_name(const char *s, size_t n)
{
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* environment="NAME=value": the first value of a NAME wins. */
static int
add_env(lsh_auth_opts *o, char *v, const char **reason)
{
    const char *eq = strchr(v, '=');
    size_t nl;

    if (eq == NULL || !valid_env_name(v, (size_t)(eq - v))) {
        free(v);
        *reason = "invalid environment string";
        return LSH_EINVAL;
    }
    nl = (size_t)(eq - v) + 1;
    for (size_t i = 0; i < o->n_env; i++) {
        if (strncmp(o->env[i], v, nl) == 0) {
            free(v);
            return 0;
        }
    }
    if (push_str(&o->env, &o->n_env, v) != 0) {
        free(v);
        return LSH_ENOMEM;
    }
    return 0;
}

static int
parse_port(const char *s, int *port)
{
    long v = 0;

    if (strcmp(s, "*") == 0) {
        *port = LSH_AK_PORT_ANY;
        return 0;
    }
    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > 65535) {
            return -1;
        }
    }
    if (v == 0) {
        return -1;
    }
    *port = (int)v;
    return 0;
}

/*
 * permitopen="host:port" / permitlisten="[host:]port": host may be
 * "[ipv6]"; ':' or '/' separates the port, which is 1..65535 or "*".
 */
static int
add_permit(lsh_ak_permit **v, size_t *n, char *val, int bare_port_ok,
           const char **reason)
{
    const char *h = val, *hend, *port;
    lsh_ak_permit *nv;
    char *host;
    int pnum;

    if (bare_port_ok && strchr(val, ':') == NULL) {
        /* A bare port: listen on any address ("*:port"). */
        h = "*";
        hend = h + 1;
        port = val;
    } else if (*val == '[') {
        h = val + 1;
        if ((hend = strchr(h, ']')) == NULL) {
            goto badhost;
        }
        if (hend[1] != ':' && hend[1] != '/') {
            *reason = hend[1] == '\0' ? "invalid permission port"
                                      : "invalid permission hostname";
            goto bad;
        }
        port = hend + 2;
    } else {
        hend = val + strcspn(val, ":/");
        if (*hend == '\0') {
            *reason = "invalid permission port";
            goto bad;
        }
        port = hend + 1;
    }
    if (hend == h || (size_t)(hend - h) > PERMIT_HOST_MAX) {
        goto badhost;
    }
    if (parse_port(port, &pnum) != 0) {
        *reason = "invalid permission port";
        goto bad;
    }
    if ((host = malloc((size_t)(hend - h) + 1)) == NULL) {
        free(val);
        return LSH_ENOMEM;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
        free(host);
        free(val);
        return LSH_ENOMEM;
    }
    nv[*n].host = host;
    nv[*n].port = pnum;
    (*n)++;
    *v = nv;
    free(val);
    return 0;
badhost:
    *reason = "invalid permission hostname";
bad:
    free(val);
    return LSH_EINVAL;
}

static int
parse_tunnel(const char *s, int *out)
{
    long v = 0;

    if (strcmp(s, "any") == 0) {
        *out = LSH_AK_TUNNEL_ANY;
        return 0;
    }
    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' ||
            (v = v * 10 + (*s - '0')) > TUNNEL_MAX) {
            return -1;
        }
    }
    *out = (int)v;
    return 0;
}

/* The flag options: name, whether "no-" is allowed, and what they set. */
enum flag_id {
    F_RESTRICT,
    F_CERT_AUTHORITY,
    F_PORT_FWD,
    F_AGENT_FWD,
    F_X11_FWD,
    F_TOUCH,
    F_VERIFY,
    F_PTY,
    F_USER_RC
};

static const struct {
    const char *name;
    int negatable;
    enum flag_id id;
} flags[] = {
    {"restrict", 0, F_RESTRICT},
    {"cert-authority", 0, F_CERT_AUTHORITY},
    {"port-forwarding", 1, F_PORT_FWD},
    {"agent-forwarding", 1, F_AGENT_FWD},
    {"x11-forwarding", 1, F_X11_FWD},
    {"touch-required", 1, F_TOUCH},
    {"verify-required", 1, F_VERIFY},
    {"pty", 1, F_PTY},
    {"user-rc", 1, F_USER_RC},
};

static void
set_flag(lsh_auth_opts *o, enum flag_id id, int on)
{
    switch (id) {
    case F_RESTRICT:
        o->restricted = 1;
        o->permit_port_forwarding = 0;
        o->permit_agent_forwarding = 0;
        o->permit_x11_forwarding = 0;
        o->permit_pty = 0;
        o->permit_user_rc = 0;
        break;
    case F_CERT_AUTHORITY:
        o->cert_authority = 1;
        break;
    case F_PORT_FWD:
        o->permit_port_forwarding = on;
        break;
    case F_AGENT_FWD:
        o->permit_agent_forwarding = on;
        break;
    case F_X11_FWD:
        o->permit_x11_forwarding = on;
        break;
    case F_TOUCH:
        o->no_touch_required = !on;
        break;
    case F_VERIFY:
        o->verify_required = on;
        break;
    case F_PTY:
        o->permit_pty = on;
        break;
    case F_USER_RC:
        o->permit_user_rc = on;
        break;
    }
}

/* command="..." and from="...": at most one each. */
static int
once_option(char **slot, char *v, const char *dup_reason,
            const char **reason)
{
    if (*slot != NULL) {
        *reason = dup_reason;
        free(v);
        return LSH_EINVAL;
    }
    *slot = v;
    return 0;
}

/*
 * Reads the value of option `name` at *p (just after its '=') into o.
 * Takes care of freeing the value on every path.
 */
static int
value_option(lsh_auth_opts *o, const char *name, const char **p,
             const char **reason)
{
    uint64_t t;
    char *v;
    int r;

    if ((r = lsh__tf_opt_dequote(p, &v, reason)) != 0) {
        return r;
    }
    if (strcmp(name, "command") == 0) {
        return once_option(&o->command, v, "multiple command options",
                           reason);
    }
    if (strcmp(name, "from") == 0) {
        /* sshd denies a line whose list is malformed; we also say so. */
        if (lsh_addr_match_cidr_list("", v) == LSH_EINVAL) {
            *reason = "invalid from address list";
            free(v);
            return LSH_EINVAL;
        }
        return once_option(&o->from, v, "multiple from options", reason);
    }
    if (strcmp(name, "principals") == 0) {
        if (o->principals != NULL) {
            *reason = "multiple principals options";
            r = LSH_EINVAL;
        } else {
            r = split_principals(o, v);
        }
        free(v);
        return r;
    }
    if (strcmp(name, "expiry-time") == 0) {
        r = lsh__tf_parse_time(v, &t);
        free(v);
        if (r != 0 || t == 0) {
            *reason = "invalid expiry-time";
            return LSH_EINVAL;
        }
        if (o->expiry_time == 0 || t < o->expiry_time) {
            o->expiry_time = t;
        }
        return 0;
    }
    if (strcmp(name, "environment") == 0) {
        if (o->n_env >= ENV_MAX) {
            *reason = "too many environment options";
            free(v);
            return LSH_EINVAL;
        }
        return add_env(o, v, reason);
    }
    if (strcmp(name, "permitopen") == 0) {
        return add_permit(&o->permitopen, &o->n_permitopen, v, 0, reason);
    }
    if (strcmp(name, "permitlisten") == 0) {
        return add_permit(&o->permitlisten, &o->n_permitlisten, v, 1,
                          reason);
    }
    /* tunnel */
    r = parse_tunnel(v, &o->tunnel);
    free(v);
    if (r != 0) {
        *reason = "invalid tunnel device";
        return LSH_EINVAL;
    }
    return 0;
}

static const char *const value_names[] = {
    "command", "principals", "from", "expiry-time", "environment",
    "permitopen", "permitlisten", "tunnel",
};

/*
 * Parses the options field at s (up to a space, tab or NUL).  On failure
 * *where points at the option at fault.
 */
static int
opts_parse(const char *s, lsh_auth_opts *o, const char **reason,
           const char **where)
{
    const char *p = s;
    int r;

    opts_defaults(o);
    while (*p != '\0' && *p != ' ' && *p != '\t') {
        const char *start = p;
        int done = 0;

        *where = start;
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
            int on = lsh__tf_opt_flag(&p, flags[i].name, flags[i].negatable);
            if (on >= 0) {
                set_flag(o, flags[i].id, on);
                done = 1;
                break;
            }
        }
        for (size_t i = 0;
             !done && i < sizeof(value_names) / sizeof(value_names[0]);
             i++) {
            if (lsh__tf_opt_match(&p, value_names[i])) {
                if ((r = value_option(o, value_names[i], &p, reason)) != 0) {
                    goto fail;
                }
                done = 1;
            }
        }
        if (*p == '\0' || *p == ' ' || *p == '\t') {
            break;
        }
        if (*p != ',') {
            *where = start;
            *reason = "unknown option";
            r = LSH_EINVAL;
            goto fail;
        }
        p++;
        if (*p == '\0' || *p == ' ' || *p == '\t') {
            *reason = "unexpected end of options";
            r = LSH_EINVAL;
            goto fail;
        }
    }
    return 0;
fail:
    lsh_auth_opts_clear(o);
    return r;
}

int
lsh_auth_opts_parse(const char *options, lsh_auth_opts *opts,
                    const char **reason)
{
    const char *where;
    return opts_parse(options, opts, reason, &where);
}

/*
 * The store.
 */

static void
line_free(struct ak_line *l)
{
    if (l == NULL) {
        return;
    }
    lsh_key_free(l->key);
    lsh_auth_opts_clear(&l->opts);
    free(l->comment);
    free(l);
}

lsh_auth_keys *
lsh_auth_keys_new(void)
{
    return calloc(1, sizeof(lsh_auth_keys));
}

void
lsh_auth_keys_free(lsh_auth_keys *ak)
{
    if (ak == NULL) {
        return;
    }
    for (size_t i = 0; i < ak->n; i++) {
        line_free(ak->v[i]);
    }
    free(ak->v);
    lsh__tf_problems_free(&ak->probs);
    free(ak);
}

size_t
lsh_auth_keys_count(const lsh_auth_keys *ak)
{
    return ak->n;
}

const lsh_ak_entry *
lsh_auth_keys_entry(const lsh_auth_keys *ak, size_t i)
{
    return i < ak->n ? &ak->v[i]->pub : NULL;
}

size_t
lsh_auth_keys_problem_count(const lsh_auth_keys *ak)
{
    return ak->probs.n;
}

const lsh_trust_problem *
lsh_auth_keys_problem(const lsh_auth_keys *ak, size_t i)
{
    return i < ak->probs.n ? &ak->probs.v[i] : NULL;
}

/*
 * Parses one line.  Returns 0 with *out NULL (comment), 0 with *out an
 * entry, LSH_EINVAL with *reason (and *detail, *dlen, or NULL) for a bad
 * line, or LSH_ENOMEM.
 */
static int
parse_line(const char *line, struct ak_line **out, const char **reason,
           const char **detail, size_t *dlen)
{
    const char *s = lsh__tf_skip_ws(line), *k = s;
    struct ak_line *l;
    int r;

    *out = NULL;
    *detail = NULL;
    if (*s == '\0' || *s == '#') {
        return 0;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        return LSH_ENOMEM;
    }
    if (lsh__tf_is_key_type(s, lsh__tf_token_len(s))) {
        opts_defaults(&l->opts);
    } else {
        const char *end = lsh__tf_skip_options(s), *where = s;
        if (end == NULL) {
            *reason = "missing end quote";
            r = LSH_EINVAL;
            goto fail;
        }
        if ((r = opts_parse(s, &l->opts, reason, &where)) != 0) {
            if (r == LSH_EINVAL && strcmp(*reason, "unknown option") == 0) {
                *detail = where;
                *dlen = strcspn(where, ",= \t");
            }
            goto fail;
        }
        k = lsh__tf_skip_ws(end);
        if (*k == '\0') {
            *reason = "missing key";
            r = LSH_EINVAL;
            goto fail;
        }
    }
    if ((r = lsh__tf_read_key(&k, &l->key, reason)) != 0) {
        r = r == LSH_ENOMEM ? r : LSH_EINVAL;
        goto fail;
    }
    if ((l->comment = strdup(lsh__tf_skip_ws(k))) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    l->pub.key = l->key;
    l->pub.opts = &l->opts;
    l->pub.comment = l->comment;
    *out = l;
    return 0;
fail:
    line_free(l);
    return r;
}

static int
push_line(lsh_auth_keys *ak, struct ak_line *l)
{
    if (ak->n == ak->cap) {
        size_t cap = ak->cap ? ak->cap * 2 : 16;
        struct ak_line **v = realloc(ak->v, cap * sizeof(*v));
        if (v == NULL) {
            return LSH_ENOMEM;
        }
        ak->v = v;
        ak->cap = cap;
    }
    ak->v[ak->n++] = l;
    return 0;
}

int
lsh_auth_keys_add(lsh_auth_keys *ak, const char *data, size_t n,
                  const char *filename, unsigned flags_)
{
    size_t first = ak->n, problems = ak->probs.n;
    lsh__tf_reader rd;
    const char *fname, *reason = NULL, *detail = NULL;
    size_t dlen = 0;
    char *buf;
    int r = 0;

    if ((fname = lsh__tf_keep_filename(&ak->probs, filename)) == NULL ||
        (buf = malloc(LSH_TRUST_MAX_LINE + 1)) == NULL) {
        return LSH_ENOMEM;
    }
    lsh__tf_reader_init(&rd, data, n);
    for (;;) {
        enum lsh__tf_line t = lsh__tf_next_line(&rd, buf, &reason);
        struct ak_line *l = NULL;

        if (t == LSH__TF_END) {
            break;
        }
        detail = NULL;
        r = t == LSH__TF_LINE ? parse_line(buf, &l, &reason, &detail, &dlen)
                              : LSH_EINVAL;
        if (r == LSH_EINVAL) {
            r = lsh__tf_problem_add(&ak->probs, fname, rd.lineno, reason,
                                    detail, dlen);
        } else if (r == 0 && l != NULL) {
            l->pub.filename = fname;
            l->pub.line = rd.lineno;
            if ((r = push_line(ak, l)) != 0) {
                line_free(l);
            }
        }
        if (r != 0) {
            break;
        }
    }
    free(buf);
    if (r == 0 && (flags_ & LSH_AK_STRICT) && ak->probs.n > problems) {
        r = LSH_EINVAL;
    }
    if (r == LSH_EINVAL) {
        /* Strict: all or nothing. */
        while (ak->n > first) {
            line_free(ak->v[--ak->n]);
        }
    }
    return r;
}

int
lsh_auth_keys_parse(const char *data, size_t n, const char *filename,
                    unsigned flags_, lsh_auth_keys **out)
{
    lsh_auth_keys *ak = lsh_auth_keys_new();
    int r;

    *out = NULL;
    if (ak == NULL) {
        return LSH_ENOMEM;
    }
    if ((r = lsh_auth_keys_add(ak, data, n, filename, flags_)) != 0) {
        lsh_auth_keys_free(ak);
        return r;
    }
    *out = ak;
    return 0;
}

int
lsh_auth_keys_match(const lsh_auth_keys *ak, const lsh_key *key,
                    int is_ca_lookup, const char *client_addr,
                    const char *client_host_or_NULL, uint64_t now,
                    lsh_auth_opts *opts_out)
{
    memset(opts_out, 0, sizeof(*opts_out));
    if (key == NULL) {
        return LSH_EINVAL;
    }
    for (size_t i = 0; i < ak->n; i++) {
        const struct ak_line *l = ak->v[i];
        int r;

        if (!l->opts.cert_authority != !is_ca_lookup ||
            !lsh_key_equal_public(l->key, key)) {
            continue;
        }
        /* sshd: "key has expired" once now is past expiry-time. */
        if (l->opts.expiry_time != 0 && l->opts.expiry_time < now) {
            continue;
        }
        if (l->opts.from != NULL &&
            (client_addr == NULL ||
             lsh_from_match(client_host_or_NULL, client_addr,
                            l->opts.from) != 1)) {
            continue;
        }
        if ((r = lsh_auth_opts_copy(opts_out, &l->opts)) != 0) {
            return r;
        }
        opts_out->line = l->pub.line;
        if ((opts_out->filename = strdup(l->pub.filename)) == NULL) {
            lsh_auth_opts_clear(opts_out);
            return LSH_ENOMEM;
        }
        return 0;
    }
    return LSH_ENOTFOUND;
}
