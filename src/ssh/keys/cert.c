/*
 * OpenSSH certificates: parse, inspect, validate, create, and the
 * one-line -cert.pub form (PROTOCOL.certkeys; draft-ietf-sshm-cert-01
 * §2, §3).  Layout and choices are described in cert.h.
 *
 * IMPLEMENTATION NOTES
 * The parser works on its own copy of the blob; every borrowed pointer
 * the getters return (nonce, option data, signature) points into that
 * copy, and strings the caller sees as C strings (key id, principals,
 * option names, force-command, source-address) are separate NUL-
 * terminated copies, which is why names containing NUL are refused.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rd.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/keyfile.h"
#include "ssh/keys/keyfile_internal.h"

#define NONCE_LEN 32

struct cert_type {
    const char *name;
    enum lsh_key_type key_type;
};

/* OpenSSH's names first: lsh_cert_type_name_of() returns those. */
static const struct cert_type cert_types[] = {
    {"ssh-ed25519-cert-v01@openssh.com", LSH_KEY_ED25519},
    {"ssh-ed448-cert-v01@openssh.com", LSH_KEY_ED448},
    {"ecdsa-sha2-nistp256-cert-v01@openssh.com", LSH_KEY_ECDSA_P256},
    {"ecdsa-sha2-nistp384-cert-v01@openssh.com", LSH_KEY_ECDSA_P384},
    {"ecdsa-sha2-nistp521-cert-v01@openssh.com", LSH_KEY_ECDSA_P521},
    {"ssh-rsa-cert-v01@openssh.com", LSH_KEY_RSA},
    {"ssh-dss-cert-v01@openssh.com", LSH_KEY_DSA},
    {"sk-ssh-ed25519-cert-v01@openssh.com", LSH_KEY_SK_ED25519},
    {"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", LSH_KEY_SK_ECDSA_P256},
    /* draft-ietf-sshm-cert-01 §5.1 */
    {"ssh-ed25519-cert", LSH_KEY_ED25519},
    {"ssh-ed448-cert", LSH_KEY_ED448},
    {"ecdsa-sha2-nistp256-cert", LSH_KEY_ECDSA_P256},
    {"ecdsa-sha2-nistp384-cert", LSH_KEY_ECDSA_P384},
    {"ecdsa-sha2-nistp521-cert", LSH_KEY_ECDSA_P521},
    {"ssh-rsa-cert", LSH_KEY_RSA},
    {"ssh-dss-cert", LSH_KEY_DSA},
};

#define NTYPES (sizeof(cert_types) / sizeof(cert_types[0]))

struct cert_opt {
    char *name;
    const uint8_t *data; /* into the blob copy */
    size_t datalen;
};

struct lsh_cert {
    atomic_int refs;
    uint8_t *blob;
    size_t bloblen;
    const char *type_name; /* static, from cert_types */
    const uint8_t *nonce;
    size_t noncelen;
    lsh_key *key;
    uint64_t serial;
    uint32_t type;
    char *key_id;
    char **principals;
    size_t nprincipals;
    uint64_t valid_after, valid_before;
    struct cert_opt *crit, *ext;
    size_t ncrit, next;
    char *force_command, *source_address;
    int bad_known_option; /* a known critical option with bad data */
    lsh_key *ca;
    size_t signed_len;
    const uint8_t *sig;
    size_t siglen;
    char *sigalg;
};

/*
 * lsh_buf_put_stringb() for a buffer that may never have been written:
 * lsh_buf_ptr() of such a buffer is NULL + 0, which UBSan reports.
 */
static int
put_bufstr(lsh_buf *out, const lsh_buf *v)
{
    if (lsh_buf_len(v) == 0) {
        return lsh_buf_put_string(out, "", 0);
    }
    return lsh_buf_put_string(out, lsh_buf_ptr(v), lsh_buf_len(v));
}

/* ---- type names ------------------------------------------------------- */

const char *
lsh_cert_type_name_of(enum lsh_key_type t)
{
    for (size_t i = 0; i < NTYPES; i++) {
        if (cert_types[i].key_type == t) {
            return cert_types[i].name;
        }
    }
    return NULL;
}

static const struct cert_type *
type_by_name(const char *name, size_t n)
{
    for (size_t i = 0; i < NTYPES; i++) {
        if (strlen(cert_types[i].name) == n &&
            memcmp(cert_types[i].name, name, n) == 0) {
            return &cert_types[i];
        }
    }
    return NULL;
}

int
lsh_cert_type_from_name(const char *name, size_t n,
                        enum lsh_key_type *key_type)
{
    const struct cert_type *ct = type_by_name(name, n);
    if (ct == NULL) {
        return 0;
    }
    if (key_type != NULL) {
        *key_type = ct->key_type;
    }
    return 1;
}

/* ---- lifetime --------------------------------------------------------- */

static void
free_opts(struct cert_opt *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(o[i].name);
    }
    free(o);
}

lsh_cert *
lsh_cert_ref(lsh_cert *c)
{
    if (c != NULL) {
        atomic_fetch_add(&c->refs, 1);
    }
    return c;
}

void
lsh_cert_free(lsh_cert *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1) {
        return;
    }
    free(c->blob);
    lsh_key_free(c->key);
    lsh_key_free(c->ca);
    free(c->key_id);
    for (size_t i = 0; i < c->nprincipals; i++) {
        free(c->principals[i]);
    }
    free(c->principals);
    free_opts(c->crit, c->ncrit);
    free_opts(c->ext, c->next);
    free(c->force_command);
    free(c->source_address);
    free(c->sigalg);
    free(c);
}

/* ---- parsing ---------------------------------------------------------- */

/* A text string (no NUL) as a malloc'd C string. */
static int
rd_cstring(lsh_rd *rd, char **out)
{
    const uint8_t *p;
    size_t n;
    int r;

    if ((r = lsh_rd_text(rd, &p, &n)) != 0) {
        return r;
    }
    if ((*out = lsh__kf_strndup(p, n)) == NULL) {
        return LSH_ENOMEM;
    }
    return 0;
}

/* "valid principals": zero or more strings packed in a string. */
static int
parse_principals(lsh_cert *c, const uint8_t *p, size_t n)
{
    lsh_rd rd;
    size_t count = 0;
    const uint8_t *s;
    size_t sl;
    int r;

    lsh_rd_init(&rd, p, n);
    while (lsh_rd_remaining(&rd) > 0) {
        if ((r = lsh_rd_text(&rd, &s, &sl)) != 0) {
            return LSH_EBADKEY;
        }
        if (++count > LSH_CERT_MAX_PRINCIPALS) {
            return LSH_EBADKEY;
        }
    }
    if (count == 0) {
        return 0;
    }
    if ((c->principals = calloc(count, sizeof(char *))) == NULL) {
        return LSH_ENOMEM;
    }
    lsh_rd_init(&rd, p, n);
    for (; c->nprincipals < count; c->nprincipals++) {
        if ((r = rd_cstring(&rd, &c->principals[c->nprincipals])) != 0) {
            return r;
        }
    }
    return 0;
}

/* Critical options or extensions: (string name, string data)*. */
static int
parse_options(const uint8_t *p, size_t n, struct cert_opt **out,
              size_t *nout)
{
    const uint8_t *name, *data;
    size_t nl, dl, count = 0;
    struct cert_opt *o;
    lsh_rd rd;

    lsh_rd_init(&rd, p, n);
    while (lsh_rd_remaining(&rd) > 0) {
        if (lsh_rd_text(&rd, &name, &nl) != 0 || nl == 0 ||
            lsh_rd_string(&rd, &data, &dl) != 0 ||
            ++count > LSH_CERT_MAX_OPTIONS) {
            return LSH_EBADKEY;
        }
    }
    if (count == 0) {
        return 0;
    }
    if ((o = calloc(count, sizeof(*o))) == NULL) {
        return LSH_ENOMEM;
    }
    *out = o;
    lsh_rd_init(&rd, p, n);
    for (size_t i = 0; i < count; i++) {
        (void)!lsh_rd_text(&rd, &name, &nl);
        (void)!lsh_rd_string(&rd, &o[i].data, &o[i].datalen);
        /* PROTOCOL.certkeys: each name may only appear once. */
        for (size_t j = 0; j < i; j++) {
            if (strlen(o[j].name) == nl && memcmp(o[j].name, name, nl) == 0) {
                *nout = i;
                return LSH_EBADKEY;
            }
        }
        if ((o[i].name = lsh__kf_strndup(name, nl)) == NULL) {
            *nout = i;
            return LSH_ENOMEM;
        }
    }
    *nout = count;
    return 0;
}

/* The value of a string-type option: exactly one string, no NUL. */
static int
unwrap_string(const uint8_t *data, size_t n, char **out)
{
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, data, n);
    if ((r = rd_cstring(&rd, out)) != 0) {
        return r;
    }
    if (lsh_rd_end(&rd) != 0) {
        free(*out);
        *out = NULL;
        return LSH_EBADKEY;
    }
    return 0;
}

/* PROTOCOL.certkeys "Critical options": the user-certificate ones. */
static int
is_known_critical(const char *name)
{
    return strcmp(name, "force-command") == 0 ||
           strcmp(name, "source-address") == 0 ||
           strcmp(name, "verify-required") == 0;
}

static int
decode_known_critical(lsh_cert *c)
{
    for (size_t i = 0; i < c->ncrit; i++) {
        const struct cert_opt *o = &c->crit[i];
        char **dst = NULL;
        int r;

        if (strcmp(o->name, "force-command") == 0) {
            dst = &c->force_command;
        } else if (strcmp(o->name, "source-address") == 0) {
            dst = &c->source_address;
        } else if (strcmp(o->name, "verify-required") == 0) {
            c->bad_known_option |= o->datalen != 0;
            continue;
        } else {
            continue;
        }
        r = unwrap_string(o->data, o->datalen, dst);
        if (r == LSH_ENOMEM) {
            return r;
        }
        c->bad_known_option |= r != 0;
    }
    return 0;
}

/* The CA key: a plain public key, never a certificate. */
static int
parse_ca(lsh_cert *c, const uint8_t *p, size_t n)
{
    const uint8_t *name;
    size_t nl;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, p, n);
    if (lsh_rd_text(&rd, &name, &nl) != 0) {
        return LSH_EBADKEY;
    }
    if (lsh_cert_type_from_name((const char *)name, nl, NULL)) {
        return LSH_EBADKEY; /* PROTOCOL.certkeys: no chained certificates */
    }
    if ((r = lsh_key_from_blob(p, n, &c->ca)) != 0) {
        return r == LSH_EKEYTYPE || r == LSH_EKEYSIZE || r == LSH_ENOMEM
                   ? r
                   : LSH_EBADKEY;
    }
    return 0;
}

/* The signature: its algorithm must be one the CA key makes. */
static int
parse_sig(lsh_cert *c, const uint8_t *p, size_t n)
{
    const uint8_t *name;
    size_t nl;
    lsh_rd rd;

    lsh_rd_init(&rd, p, n);
    if (lsh_rd_text(&rd, &name, &nl) != 0 || nl == 0) {
        return LSH_EBADKEY;
    }
    if ((c->sigalg = lsh__kf_strndup(name, nl)) == NULL) {
        return LSH_ENOMEM;
    }
    if (!lsh_key_sigalg_ok(c->ca, c->sigalg)) {
        return LSH_EBADKEY;
    }
    c->sig = p;
    c->siglen = n;
    return 0;
}

static int
parse(lsh_cert *c)
{
    const uint8_t *name, *princ, *crit, *ext, *reserved, *ca, *sig;
    size_t nl, princlen, critlen, extlen, reslen, calen, siglen;
    const struct cert_type *ct;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, c->blob, c->bloblen);
    if (lsh_rd_text(&rd, &name, &nl) != 0) {
        return LSH_EBADKEY;
    }
    if ((ct = type_by_name((const char *)name, nl)) == NULL) {
        return LSH_EKEYTYPE;
    }
    c->type_name = ct->name;
    if (lsh_rd_string(&rd, &c->nonce, &c->noncelen) != 0) {
        return LSH_EBADKEY;
    }
    /* The key fields are those of the type the certificate type names. */
    if ((r = lsh__key_parse_fields(ct->key_type, &rd, &c->key)) != 0) {
        return r == LSH_EKEYSIZE || r == LSH_ENOMEM ? r : LSH_EBADKEY;
    }
    if (lsh_rd_u64(&rd, &c->serial) != 0 || lsh_rd_u32(&rd, &c->type) != 0) {
        return LSH_EBADKEY;
    }
    if ((r = rd_cstring(&rd, &c->key_id)) != 0) {
        return r == LSH_ENOMEM ? r : LSH_EBADKEY;
    }
    if (c->type != LSH_CERT_USER && c->type != LSH_CERT_HOST) {
        return LSH_EBADKEY;
    }
    if (lsh_rd_string(&rd, &princ, &princlen) != 0 ||
        lsh_rd_u64(&rd, &c->valid_after) != 0 ||
        lsh_rd_u64(&rd, &c->valid_before) != 0 ||
        lsh_rd_string(&rd, &crit, &critlen) != 0 ||
        lsh_rd_string(&rd, &ext, &extlen) != 0 ||
        lsh_rd_string(&rd, &reserved, &reslen) != 0 ||
        lsh_rd_string(&rd, &ca, &calen) != 0) {
        return LSH_EBADKEY;
    }
    c->signed_len = rd.pos;
    if (lsh_rd_string(&rd, &sig, &siglen) != 0 || lsh_rd_end(&rd) != 0) {
        return LSH_EBADKEY;
    }
    if ((r = parse_principals(c, princ, princlen)) != 0 ||
        (r = parse_options(crit, critlen, &c->crit, &c->ncrit)) != 0 ||
        (r = parse_options(ext, extlen, &c->ext, &c->next)) != 0 ||
        (r = decode_known_critical(c)) != 0 ||
        (r = parse_ca(c, ca, calen)) != 0) {
        return r;
    }
    return parse_sig(c, sig, siglen);
}

int
lsh_cert_from_blob(const uint8_t *blob, size_t n, lsh_cert **out)
{
    lsh_cert *c;
    int r;

    if (blob == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return LSH_ENOMEM;
    }
    atomic_init(&c->refs, 1);
    if ((c->blob = malloc(n > 0 ? n : 1)) == NULL) {
        free(c);
        return LSH_ENOMEM;
    }
    if (n > 0) {
        memcpy(c->blob, blob, n);
    }
    c->bloblen = n;
    if ((r = parse(c)) != 0) {
        lsh_cert_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* ---- getters ---------------------------------------------------------- */

const uint8_t *
lsh_cert_blob(const lsh_cert *c, size_t *n)
{
    *n = c->bloblen;
    return c->blob;
}

const uint8_t *
lsh_cert_signed_data(const lsh_cert *c, size_t *n)
{
    *n = c->signed_len;
    return c->blob;
}

const char *
lsh_cert_type_name(const lsh_cert *c)
{
    return c->type_name;
}

const uint8_t *
lsh_cert_nonce(const lsh_cert *c, size_t *n)
{
    *n = c->noncelen;
    return c->nonce;
}

lsh_key *
lsh_cert_key(const lsh_cert *c)
{
    return c->key;
}

uint64_t
lsh_cert_serial(const lsh_cert *c)
{
    return c->serial;
}

int
lsh_cert_type(const lsh_cert *c)
{
    return (int)c->type;
}

const char *
lsh_cert_key_id(const lsh_cert *c)
{
    return c->key_id;
}

size_t
lsh_cert_principal_count(const lsh_cert *c)
{
    return c->nprincipals;
}

const char *
lsh_cert_principal(const lsh_cert *c, size_t i)
{
    return i < c->nprincipals ? c->principals[i] : NULL;
}

uint64_t
lsh_cert_valid_after(const lsh_cert *c)
{
    return c->valid_after;
}

uint64_t
lsh_cert_valid_before(const lsh_cert *c)
{
    return c->valid_before;
}

size_t
lsh_cert_option_count(const lsh_cert *c, int critical)
{
    return critical ? c->ncrit : c->next;
}

int
lsh_cert_option(const lsh_cert *c, int critical, size_t i, const char **name,
                const uint8_t **data, size_t *datalen)
{
    const struct cert_opt *o = critical ? c->crit : c->ext;
    size_t n = critical ? c->ncrit : c->next;

    if (i >= n) {
        return LSH_EINVAL;
    }
    *name = o[i].name;
    *data = o[i].data;
    *datalen = o[i].datalen;
    return 0;
}

int
lsh_cert_has_option(const lsh_cert *c, int critical, const char *name)
{
    const struct cert_opt *o = critical ? c->crit : c->ext;
    size_t n = critical ? c->ncrit : c->next;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(o[i].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *
lsh_cert_force_command(const lsh_cert *c)
{
    return c->force_command;
}

const char *
lsh_cert_source_address(const lsh_cert *c)
{
    return c->source_address;
}

lsh_key *
lsh_cert_signature_key(const lsh_cert *c)
{
    return c->ca;
}

const char *
lsh_cert_signature_alg(const lsh_cert *c)
{
    return c->sigalg;
}

const uint8_t *
lsh_cert_signature(const lsh_cert *c, size_t *n)
{
    *n = c->siglen;
    return c->sig;
}

/* ---- validation ------------------------------------------------------- */

int
lsh_cert_verify_signature(const lsh_cert *c)
{
    if (c == NULL) {
        return LSH_EINVAL;
    }
    /* PROTOCOL.certkeys: over everything up to the signature key. */
    return lsh_key_verify(c->ca, c->sigalg, c->sig, c->siglen, c->blob,
                          c->signed_len);
}

/* Shell-style match of s against a pattern with '*' and '?'. */
static int
pattern_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s != '\0') {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}

static int
principal_ok(const lsh_cert *c, const char *principal, unsigned flags,
             char *errbuf, size_t errlen)
{
    if (c->nprincipals == 0) {
        if (flags & LSH_CERT_REQUIRE_PRINCIPALS) {
            return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                               "certificate lists no principals");
        }
        return 0; /* PROTOCOL.certkeys: empty means any principal */
    }
    for (size_t i = 0; i < c->nprincipals; i++) {
        const char *p = c->principals[i];
        if ((flags & LSH_CERT_PRINCIPAL_PATTERNS)
                ? pattern_match(p, principal)
                : strcmp(p, principal) == 0) {
            return 0;
        }
    }
    return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                       "principal '%s' not in the certificate", principal);
}

static int
critical_ok(const lsh_cert *c, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < c->ncrit; i++) {
        const char *name = c->crit[i].name;
        /* draft-ietf-sshm-cert §2.4: none are defined for hosts. */
        if (c->type != LSH_CERT_USER || !is_known_critical(name)) {
            return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                               "unknown critical option '%s'", name);
        }
    }
    if (c->bad_known_option) {
        return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                           "malformed critical option value");
    }
    return 0;
}

int
lsh_cert_validate_ex(const lsh_cert *c, int type, const char *principal,
                     uint64_t now, unsigned flags, char *errbuf,
                     size_t errlen)
{
    int r;

    lsh__kf_err_clear(errbuf, errlen);
    if (c == NULL || (type != LSH_CERT_USER && type != LSH_CERT_HOST)) {
        return LSH_EINVAL;
    }
    if (c->type != (uint32_t)type) {
        return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                           "%s certificate where a %s certificate was "
                           "expected",
                           c->type == LSH_CERT_USER ? "user" : "host",
                           type == LSH_CERT_USER ? "user" : "host");
    }
    /* PROTOCOL.certkeys: valid after <= current time < valid before. */
    if (now < c->valid_after) {
        return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                           "certificate not yet valid");
    }
    if (now >= c->valid_before) {
        return lsh__kf_err(errbuf, errlen, LSH_ECERTINVALID,
                           "certificate expired");
    }
    if (principal != NULL &&
        (r = principal_ok(c, principal, flags, errbuf, errlen)) != 0) {
        return r;
    }
    if ((r = critical_ok(c, errbuf, errlen)) != 0) {
        return r;
    }
    if ((r = lsh_cert_verify_signature(c)) != 0) {
        return lsh__kf_err(errbuf, errlen, r,
                           r == LSH_EBADSIG ? "bad CA signature"
                                            : "CA signature check failed");
    }
    return 0;
}

int
lsh_cert_validate(const lsh_cert *c, int type, const char *principal,
                  uint64_t now, char *errbuf, size_t errlen)
{
    return lsh_cert_validate_ex(c, type, principal, now, 0, errbuf, errlen);
}

/* ---- creation --------------------------------------------------------- */

static const lsh_cert_opt default_user_extensions[] = {
    {"permit-X11-forwarding", NULL},  {"permit-agent-forwarding", NULL},
    {"permit-port-forwarding", NULL}, {"permit-pty", NULL},
    {"permit-user-rc", NULL},
};

static int
opt_cmp(const void *a, const void *b)
{
    const lsh_cert_opt *x = *(const lsh_cert_opt *const *)a;
    const lsh_cert_opt *y = *(const lsh_cert_opt *const *)b;
    return strcmp(x->name, y->name);
}

/*
 * Appends a section (string containing (string name, string data)*),
 * sorted by name as PROTOCOL.certkeys requires, values wrapped.
 */
static int
put_options(const lsh_cert_opt *opts, size_t n, lsh_buf *out)
{
    const lsh_cert_opt **sorted = NULL;
    lsh_buf sec, val;
    int r = LSH_EINVAL;

    lsh_buf_init(&sec, 0);
    lsh_buf_init(&val, 0);
    if (n > LSH_CERT_MAX_OPTIONS) {
        goto out;
    }
    if (n > 0 && (sorted = malloc(n * sizeof(*sorted))) == NULL) {
        r = LSH_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (opts[i].name == NULL || opts[i].name[0] == '\0') {
            goto out;
        }
        sorted[i] = &opts[i];
    }
    if (n > 1) {
        qsort(sorted, n, sizeof(*sorted), opt_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            r = LSH_EINVAL; /* each name only once */
            goto out;
        }
        lsh_buf_reset(&val);
        if ((r = lsh_buf_put_cstring(&sec, sorted[i]->name)) != 0 ||
            (sorted[i]->value != NULL &&
             (r = lsh_buf_put_cstring(&val, sorted[i]->value)) != 0) ||
            (r = put_bufstr(&sec, &val)) != 0) {
            goto out;
        }
    }
    r = put_bufstr(out, &sec);
out:
    free(sorted);
    lsh_buf_free(&sec);
    lsh_buf_free(&val);
    return r;
}

static int
put_principals(const lsh_cert_params *p, lsh_buf *out)
{
    lsh_buf sec;
    int r = 0;

    if (p->nprincipals > LSH_CERT_MAX_PRINCIPALS ||
        (p->nprincipals > 0 && p->principals == NULL)) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&sec, 0);
    for (size_t i = 0; i < p->nprincipals && r == 0; i++) {
        r = p->principals[i] == NULL
                ? LSH_EINVAL
                : lsh_buf_put_cstring(&sec, p->principals[i]);
    }
    if (r == 0) {
        r = put_bufstr(out, &sec);
    }
    lsh_buf_free(&sec);
    return r;
}

static int
create_check(const lsh_key *ca, const char *sigalg, const lsh_key *subject,
             const lsh_cert_params *p, lsh_cert_rng_cb rng)
{
    enum lsh_key_type ct;

    if (ca == NULL || subject == NULL || p == NULL || rng == NULL ||
        (p->type != LSH_CERT_USER && p->type != LSH_CERT_HOST)) {
        return LSH_EINVAL;
    }
    ct = lsh_key_type(ca);
    if (ct == LSH_KEY_DSA || ct == LSH_KEY_SK_ED25519 ||
        ct == LSH_KEY_SK_ECDSA_P256 || lsh_key_type(subject) == LSH_KEY_DSA) {
        return LSH_EUNSUPPORTED;
    }
    if (!lsh_key_has_private(ca)) {
        return LSH_EINVAL;
    }
    if (sigalg != NULL && !lsh_key_sigalg_ok(ca, sigalg)) {
        return LSH_ENOALG;
    }
    return 0;
}

static int
build_tbs(const lsh_key *ca, const lsh_key *subject, const lsh_cert_params *p,
          const uint8_t *nonce, lsh_buf *b)
{
    const lsh_cert_opt *ext = p->extensions;
    size_t next = p->nextensions;
    lsh_buf cablob;
    int r;

    if (ext == NULL) {
        ext = default_user_extensions;
        next = p->type == LSH_CERT_USER
                   ? sizeof(default_user_extensions) /
                         sizeof(default_user_extensions[0])
                   : 0;
    }
    lsh_buf_init(&cablob, 0);
    if ((r = lsh_buf_put_cstring(b, lsh_cert_type_name_of(
                                        lsh_key_type(subject)))) != 0 ||
        (r = lsh_buf_put_string(b, nonce, NONCE_LEN)) != 0 ||
        (r = lsh__key_put_fields(subject, b)) != 0 ||
        (r = lsh_buf_put_u64(b, p->serial)) != 0 ||
        (r = lsh_buf_put_u32(b, (uint32_t)p->type)) != 0 ||
        (r = lsh_buf_put_cstring(b, p->key_id != NULL ? p->key_id : "")) !=
            0 ||
        (r = put_principals(p, b)) != 0 ||
        (r = lsh_buf_put_u64(b, p->valid_after)) != 0 ||
        (r = lsh_buf_put_u64(b, p->valid_before)) != 0 ||
        (r = put_options(p->critical, p->ncritical, b)) != 0 ||
        (r = put_options(ext, next, b)) != 0 ||
        (r = lsh_buf_put_string(b, "", 0)) != 0 || /* reserved */
        (r = lsh_key_to_blob(ca, &cablob)) != 0 ||
        (r = put_bufstr(b, &cablob)) != 0) {
        goto out;
    }
out:
    lsh_buf_free(&cablob);
    return r;
}

int
lsh_cert_create(const lsh_key *ca, const char *sigalg, const lsh_key *subject,
                const lsh_cert_params *p, lsh_cert_rng_cb rng, void *rng_ctx,
                lsh_buf *out)
{
    uint8_t nonce[NONCE_LEN];
    lsh_buf b, sig;
    lsh_cert *check = NULL;
    int r;

    if ((r = create_check(ca, sigalg, subject, p, rng)) != 0) {
        return r;
    }
    lsh_buf_init(&b, 0);
    lsh_buf_init(&sig, 0);
    if ((r = rng(rng_ctx, nonce, sizeof(nonce))) != 0 ||
        (r = build_tbs(ca, subject, p, nonce, &b)) != 0 ||
        (r = lsh_key_sign(ca, sigalg, lsh_buf_ptr(&b), lsh_buf_len(&b),
                          &sig)) != 0 ||
        (r = put_bufstr(&b, &sig)) != 0) {
        goto out;
    }
    /* What we write must be what we read. */
    if ((r = lsh_cert_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b), &check)) !=
        0) {
        r = r == LSH_ENOMEM ? r : LSH_EINVAL;
        goto out;
    }
    r = lsh_buf_put(out, lsh_buf_ptr(&b), lsh_buf_len(&b));
out:
    lsh_cert_free(check);
    lsh_buf_free(&b);
    lsh_buf_free(&sig);
    return r;
}

/* ---- one-line files --------------------------------------------------- */

int
lsh_cert_export_openssh(const lsh_cert *c, const char *comment, lsh_buf *out)
{
    if (c == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    return lsh__kf_write_oneline(c->type_name, c->blob, c->bloblen, comment,
                                 out);
}

static const char *
cert_error(int r)
{
    switch (r) {
    case LSH_EKEYTYPE:
        return "unsupported key type";
    case LSH_EKEYSIZE:
        return "key size outside the allowed range";
    default:
        return "malformed certificate";
    }
}

static int
import_line(const char *line, size_t len, unsigned lineno, lsh_cert **out,
            char **comment, char *errbuf, size_t errlen)
{
    const char *type;
    size_t typelen;
    lsh_buf blob;
    int r;

    lsh_buf_init(&blob, LSH_KEYFILE_MAX_SIZE);
    if ((r = lsh__kf_parse_oneline(line, len, lineno, &blob, &type, &typelen,
                                   comment, errbuf, errlen)) != 0) {
        goto out;
    }
    if (!lsh_cert_type_from_name(type, typelen, NULL)) {
        r = lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                        "line %u: '%.*s' is not a certificate type", lineno,
                        (int)(typelen > 100 ? 100 : typelen), type);
    } else if ((r = lsh_cert_from_blob(lsh_buf_ptr(&blob), lsh_buf_len(&blob),
                                       out)) != 0 &&
               r != LSH_ENOMEM) {
        r = lsh__kf_err(errbuf, errlen, r, "line %u: %s", lineno,
                        cert_error(r));
    }
    if (r != 0) {
        free(*comment);
        *comment = NULL;
    }
out:
    lsh_buf_free(&blob);
    return r;
}

int
lsh_cert_import_list(const uint8_t *data, size_t n, lsh_cert_import_cb cb,
                     void *ctx, char *errbuf, size_t errlen)
{
    lsh__kf_lines it;
    const char *line;
    size_t len;
    int count = 0, r;

    lsh__kf_err_clear(errbuf, errlen);
    if (data == NULL || cb == NULL) {
        return LSH_EINVAL;
    }
    if (n > LSH_KEYFILE_MAX_SIZE) {
        return lsh__kf_err(errbuf, errlen, LSH_ETOOLARGE,
                           "certificate file of %zu bytes exceeds the %zu "
                           "byte limit", n, LSH_KEYFILE_MAX_SIZE);
    }
    lsh__kf_lines_init(&it, data, n);
    while (lsh__kf_lines_next(&it, &line, &len)) {
        char *comment = NULL;
        lsh_cert *c = NULL;

        line = lsh__kf_trim(line, &len);
        if (len == 0 || line[0] == '#') {
            continue;
        }
        if ((r = import_line(line, len, it.lineno, &c, &comment, errbuf,
                             errlen)) != 0) {
            return r;
        }
        r = cb(ctx, c, comment);
        free(comment);
        if (r != 0) {
            return r;
        }
        if (count == INT_MAX) {
            return LSH_ETOOLARGE;
        }
        count++;
    }
    return count;
}

struct single {
    lsh_cert *c;
    char *comment;
    int extra;
};

static int
keep_single(void *ctx, lsh_cert *c, const char *comment)
{
    struct single *s = ctx;

    if (s->c != NULL) {
        lsh_cert_free(c);
        s->extra = 1;
        return LSH_EBADKEY;
    }
    if ((s->comment = lsh__kf_strndup(comment, strlen(comment))) == NULL) {
        lsh_cert_free(c);
        return LSH_ENOMEM;
    }
    s->c = c;
    return 0;
}

int
lsh_cert_import(const uint8_t *data, size_t n, lsh_cert **out,
                char **comment_out, char *errbuf, size_t errlen)
{
    struct single s = {NULL, NULL, 0};
    int r;

    if (out == NULL) {
        return LSH_EINVAL;
    }
    r = lsh_cert_import_list(data, n, keep_single, &s, errbuf, errlen);
    if (s.extra) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "more than one certificate in the file");
    } else if (r == 0) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "no certificate in the file");
    }
    if (r < 0) {
        lsh_cert_free(s.c);
        free(s.comment);
        return r;
    }
    *out = s.c;
    if (comment_out != NULL) {
        *comment_out = s.comment;
    } else {
        free(s.comment);
    }
    return 0;
}
