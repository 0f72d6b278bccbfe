/*
 * known_hosts files (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).
 *
 * IMPLEMENTATION NOTES
 * Lines are parsed once, into entries that keep their key, hostnames
 * field, file name and line number.  Matching walks all entries: a plain
 * hostnames field is a case-insensitive pattern-list, a hashed one
 * ("|1|salt|hash") matches a name when HMAC-SHA1(salt, name) equals hash
 * (the salt and hash are decoded at parse time and must be 20 bytes
 * each).  One HMAC context, keyed anew per hashed entry, serves a whole
 * lookup.
 *
 * A line applies to a set of candidate names (host and address, or their
 * "[name]:port" forms) when one name matches it and no name hits one of
 * its negated patterns; for a single name this is exactly the line
 * selection of `ssh-keygen -F name` (spec/interop/known_hosts_diff.sh
 * checks it against ssh-keygen on random files).  Lines ssh(1) would
 * skip are skipped here too and listed as problems.  Deliberate
 * differences with OpenSSH 9.2: a marker may be followed by a tab as well
 * as a space (OpenSSH rejects "@revoked<TAB>host"); a hashed name whose
 * hash part is not 20 bytes of canonical base64 is reported as malformed
 * (OpenSSH keeps the line, which then matches nothing); lines longer than
 * 8 KiB are refused (OpenSSH has no limit); a pattern longer than 1 KiB
 * is matched like any other (OpenSSH then fails the whole list); ssh-ed448
 * keys are accepted (OpenSSH does not know them).
 */
#include "ssh/keys/known_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/mem.h"
#include "common/pattern.h"
#include "ssh/keys/trustfile.h"

#define HASH_MAGIC "|1|"
#define HASH_LEN 20 /* SHA-1 */
#define CA_MARKER "@cert-authority"
#define REVOKE_MARKER "@revoked"

struct kh_line {
    lsh_kh_entry pub;
    lsh_key *key;
    char *hosts;
    char *comment;
    uint8_t salt[HASH_LEN];
    uint8_t hash[HASH_LEN];
};

struct lsh_known_hosts {
    struct kh_line **v;
    size_t n, cap;
    lsh__tf_problems probs;
};

static void
line_free(struct kh_line *l)
{
    if (l == NULL) {
        return;
    }
    lsh_key_free(l->key);
    free(l->hosts);
    free(l->comment);
    free(l);
}

lsh_known_hosts *
lsh_known_hosts_new(void)
{
    return calloc(1, sizeof(lsh_known_hosts));
}

void
lsh_known_hosts_free(lsh_known_hosts *kh)
{
    if (kh == NULL) {
        return;
    }
    for (size_t i = 0; i < kh->n; i++) {
        line_free(kh->v[i]);
    }
    free(kh->v);
    lsh__tf_problems_free(&kh->probs);
    free(kh);
}

size_t
lsh_known_hosts_count(const lsh_known_hosts *kh)
{
    return kh->n;
}

const lsh_kh_entry *
lsh_known_hosts_entry(const lsh_known_hosts *kh, size_t i)
{
    return i < kh->n ? &kh->v[i]->pub : NULL;
}

size_t
lsh_known_hosts_problem_count(const lsh_known_hosts *kh)
{
    return kh->probs.n;
}

const lsh_trust_problem *
lsh_known_hosts_problem(const lsh_known_hosts *kh, size_t i)
{
    return i < kh->probs.n ? &kh->probs.v[i] : NULL;
}

/*
 * Parsing.
 */

/* "|1|base64(salt)|base64(hash)" with 20-byte salt and hash. */
static int
parse_hashed(const char *hosts, uint8_t salt[HASH_LEN],
             uint8_t hash[HASH_LEN])
{
    const char *s, *bar;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    int ok;

    if (strncmp(hosts, HASH_MAGIC, sizeof(HASH_MAGIC) - 1) != 0) {
        return -1;
    }
    s = hosts + sizeof(HASH_MAGIC) - 1;
    if ((bar = strchr(s, '|')) == NULL) {
        return -1;
    }
    ok = lsh__tf_b64_decode(s, (size_t)(bar - s), 0, &a, &alen) == 0 &&
         lsh__tf_b64_decode(bar + 1, strlen(bar + 1), 0, &b, &blen) == 0 &&
         alen == HASH_LEN && blen == HASH_LEN;
    if (ok) {
        memcpy(salt, a, HASH_LEN);
        memcpy(hash, b, HASH_LEN);
    }
    free(a);
    free(b);
    return ok ? 0 : -1;
}

static char *
dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/*
 * Parses one line (NUL-terminated, trailing whitespace removed).  Returns
 * 0 with *out NULL for a comment or blank line, 0 with *out a new entry,
 * LSH_EINVAL with *reason set for a malformed line, or LSH_ENOMEM.
 */
static int
parse_line(const char *line, struct kh_line **out, const char **reason)
{
    const char *s = lsh__tf_skip_ws(line), *k;
    enum lsh_kh_marker marker = LSH_KH_MARK_NONE;
    struct kh_line *l;
    size_t tl;
    int r;

    *out = NULL;
    if (*s == '\0' || *s == '#') {
        return 0;
    }
    if (*s == '@') {
        tl = lsh__tf_token_len(s);
        if (tl == sizeof(CA_MARKER) - 1 && memcmp(s, CA_MARKER, tl) == 0) {
            marker = LSH_KH_MARK_CA;
        } else if (tl == sizeof(REVOKE_MARKER) - 1 &&
                   memcmp(s, REVOKE_MARKER, tl) == 0) {
            marker = LSH_KH_MARK_REVOKED;
        } else {
            *reason = "invalid marker";
            return LSH_EINVAL;
        }
        s = lsh__tf_skip_ws(s + tl);
        if (*s == '@') {
            /* "Only one marker should be used on a key line." */
            *reason = "invalid marker";
            return LSH_EINVAL;
        }
    }
    if ((tl = lsh__tf_token_len(s)) == 0) {
        *reason = "missing host names";
        return LSH_EINVAL;
    }
    k = lsh__tf_skip_ws(s + tl);
    if (*k == '\0' || *k == '#') {
        *reason = "missing key";
        return LSH_EINVAL;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        return LSH_ENOMEM;
    }
    if ((l->hosts = dup_n(s, tl)) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    if (l->hosts[0] == '|') {
        if (parse_hashed(l->hosts, l->salt, l->hash) != 0) {
            *reason = "invalid hashed host name";
            r = LSH_EINVAL;
            goto fail;
        }
        l->pub.hashed = 1;
    }
    if ((r = lsh__tf_read_key(&k, &l->key, reason)) != 0) {
        r = r == LSH_ENOMEM ? r : LSH_EINVAL;
        goto fail;
    }
    if ((l->comment = strdup(lsh__tf_skip_ws(k))) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    l->pub.marker = marker;
    l->pub.key = l->key;
    l->pub.hosts = l->hosts;
    l->pub.comment = l->comment;
    *out = l;
    return 0;
fail:
    line_free(l);
    return r;
}

static int
push_line(lsh_known_hosts *kh, struct kh_line *l)
{
    if (kh->n == kh->cap) {
        size_t cap = kh->cap ? kh->cap * 2 : 16;
        struct kh_line **v = realloc(kh->v, cap * sizeof(*v));
        if (v == NULL) {
            return LSH_ENOMEM;
        }
        kh->v = v;
        kh->cap = cap;
    }
    kh->v[kh->n++] = l;
    return 0;
}

int
lsh_known_hosts_add(lsh_known_hosts *kh, const char *data, size_t n,
                    const char *filename)
{
    lsh__tf_reader rd;
    const char *fname, *reason = NULL;
    char *buf;
    int r = 0;

    if ((fname = lsh__tf_keep_filename(&kh->probs, filename)) == NULL ||
        (buf = malloc(LSH_TRUST_MAX_LINE + 1)) == NULL) {
        return LSH_ENOMEM;
    }
    lsh__tf_reader_init(&rd, data, n);
    for (;;) {
        enum lsh__tf_line t = lsh__tf_next_line(&rd, buf, &reason);
        struct kh_line *l = NULL;

        if (t == LSH__TF_END) {
            break;
        }
        if (t == LSH__TF_LINE) {
            r = parse_line(buf, &l, &reason);
        } else {
            r = LSH_EINVAL;
        }
        if (r == LSH_EINVAL) {
            r = lsh__tf_problem_add(&kh->probs, fname, rd.lineno, reason,
                                    NULL, 0);
        } else if (r == 0 && l != NULL) {
            l->pub.filename = fname;
            l->pub.line = rd.lineno;
            if ((r = push_line(kh, l)) != 0) {
                line_free(l);
            }
        }
        if (r != 0) {
            break;
        }
    }
    free(buf);
    return r;
}

lsh_known_hosts *
lsh_known_hosts_parse(const char *data, size_t n, const char *filename)
{
    lsh_known_hosts *kh = lsh_known_hosts_new();

    if (kh != NULL && lsh_known_hosts_add(kh, data, n, filename) != 0) {
        lsh_known_hosts_free(kh);
        kh = NULL;
    }
    return kh;
}

/*
 * Matching.
 */

/* An HMAC-SHA1 context, keyed per use. */
typedef struct hmac {
    EVP_MAC_CTX *ctx;
} hmac;

static int
hmac_init(hmac *h)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    OSSL_PARAM params[2];

    h->ctx = NULL;
    if (mac == NULL) {
        return LSH_ECRYPTO;
    }
    h->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (h->ctx == NULL) {
        return LSH_ENOMEM;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA1", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(h->ctx, params)) {
        EVP_MAC_CTX_free(h->ctx);
        h->ctx = NULL;
        return LSH_ECRYPTO;
    }
    return 0;
}

static void
hmac_free(hmac *h)
{
    EVP_MAC_CTX_free(h->ctx);
    h->ctx = NULL;
}

static int
hmac_sha1(hmac *h, const uint8_t key[HASH_LEN], const char *msg,
          uint8_t out[HASH_LEN])
{
    size_t outl = 0;

    if (!EVP_MAC_init(h->ctx, key, HASH_LEN, NULL) ||
        !EVP_MAC_update(h->ctx, (const uint8_t *)msg, strlen(msg)) ||
        !EVP_MAC_final(h->ctx, out, &outl, HASH_LEN) || outl != HASH_LEN) {
        return LSH_ECRYPTO;
    }
    return 0;
}

/* 1 if line l applies to the names, 0 if not, or a negative error. */
static int
line_applies(const struct kh_line *l, const char *const *names,
             size_t count, hmac *h)
{
    int applies = 0;

    for (size_t i = 0; i < count; i++) {
        if (l->pub.hashed) {
            uint8_t mac[HASH_LEN];
            int r = hmac_sha1(h, l->salt, names[i], mac);
            if (r != 0) {
                return r;
            }
            if (CRYPTO_memcmp(mac, l->hash, HASH_LEN) == 0) {
                applies = 1;
            }
            continue;
        }
        switch (lsh_pattern_list_match(names[i], l->hosts, 1)) {
        case LSH_PATTERN_MATCH:
            applies = 1;
            break;
        case LSH_PATTERN_NEGATED:
            return 0;
        default:
            break;
        }
    }
    return applies;
}

static int
push_ref(const lsh_kh_entry ***v, size_t *n, const lsh_kh_entry *e)
{
    /* Grow at powers of two. */
    if ((*n & (*n - 1)) == 0) {
        size_t cap = *n ? *n * 2 : 1;
        const lsh_kh_entry **nv = realloc((void *)*v, cap * sizeof(*nv));
        if (nv == NULL) {
            return LSH_ENOMEM;
        }
        *v = nv;
    }
    (*v)[(*n)++] = e;
    return 0;
}

void
lsh_kh_match_free(lsh_kh_match *m)
{
    if (m == NULL) {
        return;
    }
    free((void *)m->host_keys);
    free((void *)m->ca_keys);
    free((void *)m->revoked);
    memset(m, 0, sizeof(*m));
}

int
lsh_known_hosts_match_names(const lsh_known_hosts *kh,
                            const char *const *names, size_t count,
                            lsh_kh_match *out)
{
    hmac h = {NULL};
    int r = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < kh->n && r == 0; i++) {
        const struct kh_line *l = kh->v[i];
        if (l->pub.hashed && h.ctx == NULL && (r = hmac_init(&h)) != 0) {
            break;
        }
        if ((r = line_applies(l, names, count, &h)) <= 0) {
            continue;
        }
        switch (l->pub.marker) {
        case LSH_KH_MARK_CA:
            r = push_ref(&out->ca_keys, &out->n_ca_keys, &l->pub);
            break;
        case LSH_KH_MARK_REVOKED:
            r = push_ref(&out->revoked, &out->n_revoked, &l->pub);
            break;
        default:
            r = push_ref(&out->host_keys, &out->n_host_keys, &l->pub);
            break;
        }
    }
    hmac_free(&h);
    if (r != 0) {
        lsh_kh_match_free(out);
    }
    return r;
}

/* "name" or "[name]:port", lowercased; malloc'd. */
static char *
lookup_name(const char *name, int port)
{
    size_t n = strlen(name) + 16;
    char *s = malloc(n);

    if (s == NULL) {
        return NULL;
    }
    if (port == 0 || port == 22) {
        snprintf(s, n, "%s", name);
    } else {
        snprintf(s, n, "[%s]:%d", name, port);
    }
    for (char *p = s; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    return s;
}

int
lsh_known_hosts_match(const lsh_known_hosts *kh, const char *host,
                      const char *addr, int port, lsh_kh_match *out)
{
    char *names[2] = {NULL, NULL};
    size_t count = 0;
    int r;

    memset(out, 0, sizeof(*out));
    if (host == NULL || *host == '\0' || port < 0 || port > 65535) {
        return LSH_EINVAL;
    }
    if ((names[count++] = lookup_name(host, port)) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    if (addr != NULL && *addr != '\0') {
        if ((names[count++] = lookup_name(addr, port)) == NULL) {
            r = LSH_ENOMEM;
            goto out;
        }
    }
    r = lsh_known_hosts_match_names(kh, (const char *const *)names, count,
                                    out);
out:
    free(names[0]);
    free(names[1]);
    return r;
}

/* The first entry of v[0..n) whose key equals k, or NULL. */
static const lsh_kh_entry *
find_key(const lsh_kh_entry *const *v, size_t n, const lsh_key *k)
{
    for (size_t i = 0; k != NULL && i < n; i++) {
        if (lsh_key_equal_public(v[i]->key, k)) {
            return v[i];
        }
    }
    return NULL;
}

static void
decide(const lsh_kh_match *m, const lsh_key *server_key,
       const lsh_key *ca_key, lsh_kh_verdict *v)
{
    const lsh_kh_entry *e;

    v->n_host_keys = m->n_host_keys;
    v->n_ca_keys = m->n_ca_keys;
    if ((e = find_key(m->revoked, m->n_revoked, server_key)) != NULL ||
        (e = find_key(m->revoked, m->n_revoked, ca_key)) != NULL) {
        v->status = LSH_KH_REVOKED;
    } else if ((e = find_key(m->ca_keys, m->n_ca_keys, ca_key)) != NULL) {
        v->status = LSH_KH_OK_CA;
    } else if ((e = find_key(m->host_keys, m->n_host_keys, server_key)) !=
               NULL) {
        v->status = LSH_KH_OK;
    } else {
        for (size_t i = 0; i < m->n_host_keys; i++) {
            if (lsh_key_type(m->host_keys[i]->key) ==
                lsh_key_type(server_key)) {
                v->status = LSH_KH_CHANGED;
                v->entry = m->host_keys[i];
                return;
            }
        }
        if (m->n_host_keys > 0) {
            v->status = LSH_KH_UNKNOWN_TYPE_KNOWN_OTHERS;
            v->entry = m->host_keys[0];
        }
        return;
    }
    v->entry = e;
}

int
lsh_known_hosts_check(const lsh_known_hosts *kh, const char *host,
                      const char *addr, int port, const lsh_key *server_key,
                      const lsh_key *ca_key, lsh_kh_verdict *v)
{
    lsh_kh_match m;
    int r;

    memset(v, 0, sizeof(*v));
    v->status = LSH_KH_UNKNOWN;
    if (server_key == NULL) {
        return LSH_EINVAL;
    }
    if ((r = lsh_known_hosts_match(kh, host, addr, port, &m)) != 0) {
        return r;
    }
    decide(&m, server_key, ca_key, v);
    lsh_kh_match_free(&m);
    return 0;
}

const char *
lsh_kh_status_str(enum lsh_kh_status s)
{
    switch (s) {
    case LSH_KH_OK:
        return "host key trusted";
    case LSH_KH_OK_CA:
        return "host certificate signed by a trusted CA";
    case LSH_KH_REVOKED:
        return "host key revoked";
    case LSH_KH_CHANGED:
        return "host key changed";
    case LSH_KH_UNKNOWN_TYPE_KNOWN_OTHERS:
        return "host known with other key types only";
    case LSH_KH_UNKNOWN:
        return "host unknown";
    }
    return "unknown status";
}

/*
 * Writing.
 */

static int
host_ok(const char *host)
{
    if (*host == '\0' || strchr("|@#![", *host) != NULL) {
        return 0;
    }
    for (const char *p = host; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == ',' || c == '*' || c == '?') {
            return 0;
        }
    }
    return 1;
}

static int
put_hashed_name(const char *name, lsh_kh_rng_cb rng, void *rng_ctx,
                lsh_buf *out)
{
    uint8_t salt[HASH_LEN], mac[HASH_LEN];
    hmac h;
    int r;

    if ((r = rng(rng_ctx, salt, sizeof(salt))) != 0) {
        return r < 0 ? r : LSH_ECRYPTO;
    }
    if ((r = hmac_init(&h)) != 0) {
        return r;
    }
    r = hmac_sha1(&h, salt, name, mac);
    hmac_free(&h);
    if (r != 0 || (r = lsh_buf_put(out, HASH_MAGIC, 3)) != 0 ||
        (r = lsh__tf_b64_encode(salt, sizeof(salt), out)) != 0 ||
        (r = lsh_buf_put_u8(out, '|')) != 0 ||
        (r = lsh__tf_b64_encode(mac, sizeof(mac), out)) != 0) {
        return r;
    }
    return 0;
}

int
lsh_known_hosts_format_entry(const char *host, int port, const lsh_key *key,
                             int hashed, lsh_kh_rng_cb rng, void *rng_ctx,
                             lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    const char *type;
    lsh_buf blob;
    char *name;
    int r;

    if (host == NULL || !host_ok(host) || port < 0 || port > 65535 ||
        key == NULL || (hashed && rng == NULL)) {
        return LSH_EINVAL;
    }
    if ((name = lookup_name(host, port)) == NULL) {
        return LSH_ENOMEM;
    }
    type = lsh_key_type_name(key);
    lsh_buf_init(&blob, 0);
    if ((r = lsh_key_to_blob(key, &blob)) != 0) {
        goto out;
    }
    if (hashed) {
        r = put_hashed_name(name, rng, rng_ctx, out);
    } else {
        r = lsh_buf_put(out, name, strlen(name));
    }
    if (r != 0 || (r = lsh_buf_put_u8(out, ' ')) != 0 ||
        (r = lsh_buf_put(out, type, strlen(type))) != 0 ||
        (r = lsh_buf_put_u8(out, ' ')) != 0 ||
        (r = lsh__tf_b64_encode(lsh_buf_ptr(&blob), lsh_buf_len(&blob),
                                out)) != 0 ||
        (r = lsh_buf_put_u8(out, '\n')) != 0) {
        goto out;
    }
out:
    if (r != 0 && lsh_buf_len(out) > start) {
        int r2 = lsh_buf_truncate(out, lsh_buf_len(out) - start);
        (void)r2;
    }
    lsh_buf_free(&blob);
    free(name);
    return r;
}
