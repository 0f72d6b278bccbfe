/*
 * SSH_MSG_KEXINIT encoding/parsing and algorithm negotiation
 * (RFC 4253 §7.1), plus OpenSSH-style preference list resolution.
 *
 * IMPLEMENTATION NOTES
 * Negotiation never allocates: names are compared in place inside the
 * borrowed name-lists and the chosen ones are copied into fixed arrays of
 * lsh_kex_result (RFC 4251 §6 caps names at 64 characters, so longer
 * names are simply never chosen).  One of the two lists always comes from
 * us and is short, so the "first client name on the server's list" scan
 * stays linear in the size of the peer's list.
 */
#include "ssh/transport/kex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rd.h"

/* Defaults: modern OpenSSH's order without legacy algorithms (RFC 9142). */
static const char default_kex[] =
    "curve25519-sha256,curve25519-sha256@libssh.org,"
    "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    "diffie-hellman-group-exchange-sha256,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group14-sha256";

#define DEFAULT_HOSTKEY_PLAIN                                             \
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"                \
    "ecdsa-sha2-nistp521,ssh-ed448,rsa-sha2-512,rsa-sha2-256"

static const char default_hostkey[] = DEFAULT_HOSTKEY_PLAIN;

/* A server offers only the algorithms it has a key (or a host
 * certificate, lsh_config.host_certs) for, so its default may name the
 * certificate algorithms, first as in OpenSSH's HostKeyAlgorithms. */
static const char default_hostkey_server[] =
    "ssh-ed25519-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp384-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp521-cert-v01@openssh.com,"
    "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,"
    DEFAULT_HOSTKEY_PLAIN;

static const char default_cipher[] =
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com";

/* umac-*@openssh.com would come first in OpenSSH; it needs nettle. */
static const char default_mac[] =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";

static const char default_comp[] = "none,zlib@openssh.com";

/*
 * Everything implemented, legacy included.  The kex list must match the
 * method table of kex_methods.c (spec/c/test_kex.c checks both ways).
 */
static const char all_kex[] =
    "curve25519-sha256,curve25519-sha256@libssh.org,"
    "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    "diffie-hellman-group-exchange-sha256,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group14-sha256,"
    "curve448-sha512,"
    "diffie-hellman-group15-sha512,diffie-hellman-group17-sha512,"
    "diffie-hellman-group14-sha1,diffie-hellman-group1-sha1,"
    "diffie-hellman-group-exchange-sha1";

static const char all_hostkey[] =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
    "ecdsa-sha2-nistp521,ssh-ed448,rsa-sha2-512,rsa-sha2-256,"
    "ssh-ed25519-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp384-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp521-cert-v01@openssh.com,"
    "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,"
    "ssh-rsa,ssh-rsa-cert-v01@openssh.com";

static const char all_cipher[] =
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,"
    "aes128-cbc,aes192-cbc,aes256-cbc,3des-cbc";

static const char all_mac[] =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";

static const char all_comp[] = "none,zlib@openssh.com,zlib";

lsh_kex_prefs
lsh_kex_default_prefs(int role)
{
    lsh_kex_prefs p;
    p.kex = default_kex;
    p.hostkey = role == LSH_ROLE_SERVER ? default_hostkey_server
                                        : default_hostkey;
    p.cipher_c2s = p.cipher_s2c = default_cipher;
    p.mac_c2s = p.mac_s2c = default_mac;
    p.comp_c2s = p.comp_s2c = default_comp;
    return p;
}

const char *
lsh_kex_supported(int category)
{
    switch (category) {
    case LSH_KEX_CAT_KEX:
        return all_kex;
    case LSH_KEX_CAT_HOSTKEY:
        return all_hostkey;
    case LSH_KEX_CAT_CIPHER:
    case LSH_KEXINIT_CIPHER_S2C:
        return all_cipher;
    case LSH_KEX_CAT_MAC:
    case LSH_KEXINIT_MAC_S2C:
        return all_mac;
    case LSH_KEX_CAT_COMP:
    case LSH_KEXINIT_COMP_S2C:
        return all_comp;
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Preference list resolution                                          */

typedef struct name_ref {
    const char *p;
    size_t n;
} name_ref;

/* A growable array of borrowed names; duplicates are never stored. */
typedef struct name_vec {
    name_ref *v;
    size_t count, cap;
} name_vec;

static int
vec_has(const name_vec *nv, const char *p, size_t n)
{
    for (size_t i = 0; i < nv->count; i++) {
        if (nv->v[i].n == n && memcmp(nv->v[i].p, p, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
vec_push(name_vec *nv, const char *p, size_t n)
{
    if (vec_has(nv, p, n)) {
        return 0;
    }
    if (nv->count == nv->cap) {
        size_t ncap = nv->cap ? nv->cap * 2 : 16;
        name_ref *v = realloc(nv->v, ncap * sizeof(*v));
        if (v == NULL) {
            return LSH_ENOMEM;
        }
        nv->v = v;
        nv->cap = ncap;
    }
    nv->v[nv->count].p = p;
    nv->v[nv->count].n = n;
    nv->count++;
    return 0;
}

/* Shell-style match of '*' and '?' over the whole name. */
static int
wild_match(const char *pat, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

    while (si < sn) {
        if (pi < pn && (pat[pi] == '?' || pat[pi] == s[si])) {
            pi++;
            si++;
        } else if (pi < pn && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && pat[pi] == '*') {
        pi++;
    }
    return pi == pn;
}

static int
has_wildcard(const char *p, size_t n)
{
    return memchr(p, '*', n) != NULL || memchr(p, '?', n) != NULL;
}

/* Splits a user pattern list; empty or non-printable elements: EINVAL. */
static int
split_patterns(const char *s, name_vec *out)
{
    size_t len = strlen(s), start = 0;
    int r;

    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',') {
            unsigned char c = (unsigned char)s[i];
            if (c <= 0x20 || c >= 0x7f) {
                return LSH_EINVAL;
            }
            continue;
        }
        if (i == start) {
            return LSH_EINVAL;
        }
        /* A repeated pattern adds nothing, so vec_push may drop it. */
        if ((r = vec_push(out, s + start, i - start)) != 0) {
            return r;
        }
        start = i + 1;
    }
    return 0;
}

/* Pushes every name of `list` (a valid name-list) into nv. */
static int
push_list(name_vec *nv, const char *list)
{
    size_t pos = 0, n, len = strlen(list);
    const char *name;
    int r;
    while (lsh_namelist_next(list, len, &pos, &name, &n)) {
        if ((r = vec_push(nv, name, n)) != 0) {
            return r;
        }
    }
    return 0;
}

/*
 * Expands the patterns against all_supported, in pattern order; a
 * wildcard stands for its matches in all_supported's order.  A literal
 * name must be supported.
 */
static int
expand_patterns(const name_vec *pats, const char *all, name_vec *out)
{
    size_t alen = strlen(all);
    int r;

    for (size_t i = 0; i < pats->count; i++) {
        const name_ref *pt = &pats->v[i];
        size_t pos = 0, n;
        const char *name;
        int found = 0;

        while (lsh_namelist_next(all, alen, &pos, &name, &n)) {
            if (!wild_match(pt->p, pt->n, name, n)) {
                continue;
            }
            found = 1;
            if ((r = vec_push(out, name, n)) != 0) {
                return r;
            }
        }
        if (!found && !has_wildcard(pt->p, pt->n)) {
            return LSH_ENOALG;
        }
    }
    return 0;
}

static int
matches_any(const name_vec *pats, const char *p, size_t n)
{
    for (size_t i = 0; i < pats->count; i++) {
        if (wild_match(pats->v[i].p, pats->v[i].n, p, n)) {
            return 1;
        }
    }
    return 0;
}

static int
join_names(const name_vec *nv, char **out)
{
    size_t total = 0, off = 0;
    char *s;

    if (nv->count == 0) {
        return LSH_ENOALG;
    }
    for (size_t i = 0; i < nv->count; i++) {
        total += nv->v[i].n + 1;
    }
    if ((s = malloc(total)) == NULL) {
        return LSH_ENOMEM;
    }
    for (size_t i = 0; i < nv->count; i++) {
        if (i > 0) {
            s[off++] = ',';
        }
        memcpy(s + off, nv->v[i].p, nv->v[i].n);
        off += nv->v[i].n;
    }
    s[off] = '\0';
    *out = s;
    return 0;
}

int
lsh_kex_list_resolve(const char *default_list, const char *all_supported_list,
                     const char *spec, char **out)
{
    name_vec pats = {0}, exp = {0}, res = {0}, def = {0};
    char op = 0;
    int r;

    if (default_list == NULL || all_supported_list == NULL || out == NULL ||
        lsh_namelist_check(default_list, strlen(default_list)) != 0 ||
        lsh_namelist_check(all_supported_list, strlen(all_supported_list)) !=
            0) {
        return LSH_EINVAL;
    }
    if (spec == NULL) {
        if ((r = push_list(&res, default_list)) != 0) {
            goto out;
        }
        r = join_names(&res, out);
        goto out;
    }
    if (spec[0] == '+' || spec[0] == '-' || spec[0] == '^') {
        op = spec[0];
        spec++;
    }
    if ((r = split_patterns(spec, &pats)) != 0 ||
        (r = expand_patterns(&pats, all_supported_list, &exp)) != 0 ||
        (r = push_list(&def, default_list)) != 0) {
        goto out;
    }
    switch (op) {
    case '+':
        for (size_t i = 0; i < def.count && r == 0; i++) {
            r = vec_push(&res, def.v[i].p, def.v[i].n);
        }
        for (size_t i = 0; i < exp.count && r == 0; i++) {
            r = vec_push(&res, exp.v[i].p, exp.v[i].n);
        }
        break;
    case '-':
        for (size_t i = 0; i < def.count && r == 0; i++) {
            if (!matches_any(&pats, def.v[i].p, def.v[i].n)) {
                r = vec_push(&res, def.v[i].p, def.v[i].n);
            }
        }
        break;
    case '^':
        for (size_t i = 0; i < exp.count && r == 0; i++) {
            r = vec_push(&res, exp.v[i].p, exp.v[i].n);
        }
        for (size_t i = 0; i < def.count && r == 0; i++) {
            r = vec_push(&res, def.v[i].p, def.v[i].n);
        }
        break;
    default:
        for (size_t i = 0; i < exp.count && r == 0; i++) {
            r = vec_push(&res, exp.v[i].p, exp.v[i].n);
        }
        break;
    }
    if (r == 0) {
        r = join_names(&res, out);
    }
out:
    free(pats.v);
    free(exp.v);
    free(res.v);
    free(def.v);
    return r;
}

int
lsh_kex_list_add_markers(int role, const char *kex, char **out)
{
    static const char client_m[] =
        "ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-c";
    static const char server_m[] =
        "ext-info-s,kex-strict-s-v00@openssh.com,kex-strict-s";
    const char *m;
    size_t kl, ml;
    char *s;

    if (role == LSH_ROLE_CLIENT) {
        m = client_m;
    } else if (role == LSH_ROLE_SERVER) {
        m = server_m;
    } else {
        return LSH_EINVAL;
    }
    if (kex == NULL) {
        return LSH_EINVAL;
    }
    kl = strlen(kex);
    ml = strlen(m);
    if ((s = malloc(kl + 1 + ml + 1)) == NULL) {
        return LSH_ENOMEM;
    }
    memcpy(s, kex, kl);
    if (kl > 0) {
        s[kl++] = ',';
    }
    memcpy(s + kl, m, ml + 1);
    *out = s;
    return 0;
}

/* ------------------------------------------------------------------ */
/* SSH_MSG_KEXINIT                                                     */

static int
pref_ok(const char *list)
{
    return list != NULL && list[0] != '\0' &&
           lsh_namelist_check(list, strlen(list)) == 0;
}

int
lsh_kexinit_encode(lsh_buf *out, const uint8_t cookie[16],
                   const lsh_kex_prefs *p, int first_kex_follows)
{
    const char *lists[8];
    size_t start;
    int r;

    if (out == NULL || cookie == NULL || p == NULL) {
        return LSH_EINVAL;
    }
    lists[0] = p->kex;
    lists[1] = p->hostkey;
    lists[2] = p->cipher_c2s;
    lists[3] = p->cipher_s2c;
    lists[4] = p->mac_c2s;
    lists[5] = p->mac_s2c;
    lists[6] = p->comp_c2s;
    lists[7] = p->comp_s2c;
    /* RFC 4253 §7.1: "Each name-list MUST contain at least one name." */
    for (size_t i = 0; i < 8; i++) {
        if (!pref_ok(lists[i])) {
            return LSH_EINVAL;
        }
    }
    start = lsh_buf_len(out);
    if ((r = lsh_buf_put_u8(out, LSH_MSG_KEXINIT)) != 0 ||
        (r = lsh_buf_put(out, cookie, 16)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < 8; i++) {
        if ((r = lsh_buf_put_cstring(out, lists[i])) != 0) {
            goto out;
        }
    }
    /* No language tags (RFC 4253 §7.1: "SHOULD be empty"). */
    if ((r = lsh_buf_put_string(out, "", 0)) != 0 ||
        (r = lsh_buf_put_string(out, "", 0)) != 0 ||
        (r = lsh_buf_put_bool(out, first_kex_follows)) != 0 ||
        (r = lsh_buf_put_u32(out, 0)) != 0) {
        goto out;
    }
out:
    /* Leave `out` as it was; truncating what we appended cannot fail. */
    if (r != 0 && lsh_buf_len(out) > start &&
        lsh_buf_truncate(out, lsh_buf_len(out) - start) != 0) {
        r = LSH_EINVAL;
    }
    return r;
}

int
lsh_kexinit_parse(const uint8_t *payload, size_t n, lsh_kexinit *out)
{
    lsh_rd rd;
    uint8_t type;
    int r;

    lsh_rd_init(&rd, payload, n);
    if ((r = lsh_rd_u8(&rd, &type)) != 0) {
        return r;
    }
    if (type != LSH_MSG_KEXINIT) {
        return LSH_EUNEXPECTED;
    }
    if ((r = lsh_rd_bytes(&rd, 16, &out->cookie)) != 0) {
        return r;
    }
    for (size_t i = 0; i < LSH_KEXINIT_NLISTS; i++) {
        if ((r = lsh_rd_namelist(&rd, &out->list[i].p, &out->list[i].len)) !=
            0) {
            return r;
        }
    }
    if ((r = lsh_rd_bool(&rd, &out->first_kex_follows)) != 0 ||
        (r = lsh_rd_u32(&rd, &out->reserved)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */

int
lsh_kex_is_pseudo(const char *name, size_t len)
{
    static const char *const prefixes[] = {"ext-info-", "kex-strict-"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i]);
        if (len >= pl && memcmp(name, prefixes[i], pl) == 0) {
            return 1;
        }
    }
    return 0;
}

int
lsh_kex_cipher_is_aead(const char *name)
{
    return strcmp(name, "chacha20-poly1305@openssh.com") == 0 ||
           strcmp(name, "aes128-gcm@openssh.com") == 0 ||
           strcmp(name, "aes256-gcm@openssh.com") == 0;
}

/*
 * Every key exchange method we implement authenticates the server with a
 * signature (RFC 4253 §8, RFC 5656 §4, RFC 8731), and every host key
 * algorithm we know can sign, so the compatibility rules of RFC 4253 §7.1
 * reduce to "a host key algorithm was agreed".  These two predicates keep
 * the rule visible for methods that would need an encryption-capable key.
 */
static int
kex_needs_signing_key(const char *name)
{
    (void)name;
    return 1;
}

static int
list_has(const lsh_kex_namelist *l, const char *name, size_t n)
{
    size_t pos = 0, m;
    const char *cand;
    while (lsh_namelist_next(l->p, l->len, &pos, &cand, &m)) {
        if (m == n && memcmp(cand, name, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
list_has_cstr(const lsh_kex_namelist *l, const char *name)
{
    return list_has(l, name, strlen(name));
}

static void
set_name(char dst[LSH_KEX_NAME_MAX + 1], const char *p, size_t n)
{
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/*
 * The first name of the client's list that is on the server's list,
 * copied into dst; 0 when there is none.  Pseudo-algorithms are skipped
 * when skip_pseudo is set (kex list only).
 */
static int
first_common(const lsh_kex_namelist *c, const lsh_kex_namelist *s,
             int skip_pseudo, char dst[LSH_KEX_NAME_MAX + 1])
{
    size_t pos = 0, n;
    const char *name;

    while (lsh_namelist_next(c->p, c->len, &pos, &name, &n)) {
        if (n > LSH_KEX_NAME_MAX) {
            continue;
        }
        if (skip_pseudo && lsh_kex_is_pseudo(name, n)) {
            continue;
        }
        if (list_has(s, name, n)) {
            set_name(dst, name, n);
            return 1;
        }
    }
    return 0;
}

/* Prints at most this many bytes of each list into a detail message. */
#define DETAIL_LIST_MAX 400

static void
fail_detail(lsh_kex_result *res, const char *what, const lsh_kex_namelist *c,
            const lsh_kex_namelist *s)
{
    int cl = (int)(c->len > DETAIL_LIST_MAX ? DETAIL_LIST_MAX : c->len);
    int sl = (int)(s->len > DETAIL_LIST_MAX ? DETAIL_LIST_MAX : s->len);

    snprintf(res->detail, sizeof(res->detail),
             "no common %s: client offers %.*s%s; server offers %.*s%s", what,
             cl, c->p ? c->p : "", (size_t)cl < c->len ? "..." : "", sl,
             s->p ? s->p : "", (size_t)sl < s->len ? "..." : "");
}

/* 1 when both lists start with the same name (RFC 4253 §7 "guess"). */
static int
same_first(const lsh_kex_namelist *a, const lsh_kex_namelist *b)
{
    size_t pa = 0, pb = 0, na, nb;
    const char *sa, *sb;
    if (!lsh_namelist_next(a->p, a->len, &pa, &sa, &na) ||
        !lsh_namelist_next(b->p, b->len, &pb, &sb, &nb)) {
        return 0;
    }
    return na == nb && memcmp(sa, sb, na) == 0;
}

static int
choose_kex(const lsh_kexinit *c, const lsh_kexinit *s, lsh_kex_result *res)
{
    const lsh_kex_namelist *ck = &c->list[LSH_KEXINIT_KEX];
    const lsh_kex_namelist *sk = &s->list[LSH_KEXINIT_KEX];
    const lsh_kex_namelist *ch = &c->list[LSH_KEXINIT_HOSTKEY];
    const lsh_kex_namelist *sh = &s->list[LSH_KEXINIT_HOSTKEY];
    int have_hostkey = first_common(ch, sh, 0, res->hostkey);
    int kex_common = 0;
    size_t pos = 0, n;
    const char *name;

    /* RFC 4253 §7.1: the first client kex algorithm that the server
     * supports and for which a compatible host key algorithm exists. */
    while (lsh_namelist_next(ck->p, ck->len, &pos, &name, &n)) {
        if (n > LSH_KEX_NAME_MAX || lsh_kex_is_pseudo(name, n) ||
            !list_has(sk, name, n)) {
            continue;
        }
        kex_common = 1;
        set_name(res->kex, name, n);
        if (!kex_needs_signing_key(res->kex) || have_hostkey) {
            return 0;
        }
    }
    if (!kex_common) {
        fail_detail(res, "kex algorithm", ck, sk);
    } else {
        fail_detail(res, "host key algorithm", ch, sh);
    }
    return LSH_ENOALG;
}

int
lsh_kex_negotiate(int role, const lsh_kexinit *client,
                  const lsh_kexinit *server, lsh_kex_result *res)
{
    static const struct {
        int list;
        size_t off;
        const char *what;
    } sym[] = {
        {LSH_KEXINIT_CIPHER_C2S, offsetof(lsh_kex_result, cipher_c2s),
         "cipher (client to server)"},
        {LSH_KEXINIT_CIPHER_S2C, offsetof(lsh_kex_result, cipher_s2c),
         "cipher (server to client)"},
        {LSH_KEXINIT_MAC_C2S, offsetof(lsh_kex_result, mac_c2s),
         "MAC (client to server)"},
        {LSH_KEXINIT_MAC_S2C, offsetof(lsh_kex_result, mac_s2c),
         "MAC (server to client)"},
        {LSH_KEXINIT_COMP_C2S, offsetof(lsh_kex_result, comp_c2s),
         "compression (client to server)"},
        {LSH_KEXINIT_COMP_S2C, offsetof(lsh_kex_result, comp_s2c),
         "compression (server to client)"},
    };
    const lsh_kexinit *peer;
    int r;

    if (client == NULL || server == NULL || res == NULL ||
        (role != LSH_ROLE_CLIENT && role != LSH_ROLE_SERVER)) {
        return LSH_EINVAL;
    }
    memset(res, 0, sizeof(*res));
    if ((r = choose_kex(client, server, res)) != 0) {
        return r;
    }
    for (size_t i = 0; i < sizeof(sym) / sizeof(sym[0]); i++) {
        char *dst = (char *)res + sym[i].off;
        const lsh_kex_namelist *c = &client->list[sym[i].list];
        const lsh_kex_namelist *s = &server->list[sym[i].list];
        int is_mac = sym[i].list == LSH_KEXINIT_MAC_C2S ||
                     sym[i].list == LSH_KEXINIT_MAC_S2C;
        const char *cipher = sym[i].list == LSH_KEXINIT_MAC_C2S
                                 ? res->cipher_c2s
                                 : res->cipher_s2c;

        /* An AEAD cipher makes this direction's MAC moot. */
        if (is_mac && lsh_kex_cipher_is_aead(cipher)) {
            continue;
        }
        if (!first_common(c, s, 0, dst)) {
            fail_detail(res, sym[i].what, c, s);
            return LSH_ENOALG;
        }
    }

    /* draft-ietf-sshm-strict-kex §3.1: matching name generations only. */
    res->strict =
        (list_has_cstr(&client->list[LSH_KEXINIT_KEX],
                       "kex-strict-c-v00@openssh.com") &&
         list_has_cstr(&server->list[LSH_KEXINIT_KEX],
                       "kex-strict-s-v00@openssh.com")) ||
        (list_has_cstr(&client->list[LSH_KEXINIT_KEX], "kex-strict-c") &&
         list_has_cstr(&server->list[LSH_KEXINIT_KEX], "kex-strict-s"));

    /* RFC 8308 §2.1. */
    if (role == LSH_ROLE_CLIENT) {
        peer = server;
        res->peer_ext_info =
            list_has_cstr(&server->list[LSH_KEXINIT_KEX], "ext-info-s");
    } else {
        peer = client;
        res->peer_ext_info =
            list_has_cstr(&client->list[LSH_KEXINIT_KEX], "ext-info-c");
    }

    /* RFC 4253 §7: a guess is wrong when the preferred kex or host key
     * algorithms of the two sides differ. */
    res->guess_wrong =
        peer->first_kex_follows &&
        (!same_first(&client->list[LSH_KEXINIT_KEX],
                     &server->list[LSH_KEXINIT_KEX]) ||
         !same_first(&client->list[LSH_KEXINIT_HOSTKEY],
                     &server->list[LSH_KEXINIT_HOSTKEY]));
    return 0;
}
