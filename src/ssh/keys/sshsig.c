/*
 * SSH signatures (OpenSSH PROTOCOL.sshsig) and allowed_signers files
 * (ssh-keygen(1), ALLOWED SIGNERS).
 *
 * IMPLEMENTATION NOTES
 * Signing and verifying share one builder of the §3 signed data, so the
 * bytes a signature covers are spelled out in exactly one place.
 * Verification parses the §2 blob strictly (lsh_rd, ending with
 * lsh_rd_end) before it touches any key, and reports every failure as
 * LSH_EBADSIG with a reason, except an unsupported signer key type.
 *
 * allowed_signers lines are parsed like authorized_keys lines (shared
 * helpers in trustfile.c) with their own option set.  The checks follow
 * `ssh-keygen -Y verify`: principal, namespace and validity window are
 * properties of a line, and the first line that passes them all and
 * holds the signer's key allows the signature.
 */
#include "ssh/keys/sshsig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/pattern.h"
#include "common/rd.h"
#include "ssh/keys/trustfile.h"

#define MAGIC "SSHSIG"
#define MAGIC_LEN 6
#define SIG_VERSION 1
#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END "-----END SSH SIGNATURE-----"

/* The hash algorithms of §2; NULL name for an unknown one. */
static const EVP_MD *
hash_md(const char *name, size_t *len)
{
    if (name != NULL && strcmp(name, "sha256") == 0) {
        *len = 32;
        return EVP_sha256();
    }
    if (name != NULL && strcmp(name, "sha512") == 0) {
        *len = 64;
        return EVP_sha512();
    }
    return NULL;
}

static void
rollback(lsh_buf *out, size_t start)
{
    if (lsh_buf_len(out) > start) {
        int r = lsh_buf_truncate(out, lsh_buf_len(out) - start);
        (void)r;
    }
}

int
lsh_sshsig_signed_data(const char *ns, const char *hashalg,
                       const uint8_t *data, size_t n, unsigned flags,
                       lsh_buf *out)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    size_t start = lsh_buf_len(out), dlen = 0;
    const EVP_MD *md;
    const uint8_t *h = data;
    int r;

    if (ns == NULL || *ns == '\0' || (md = hash_md(hashalg, &dlen)) == NULL) {
        return LSH_EINVAL;
    }
    if (flags & LSH_SSHSIG_HASHED) {
        if (n != dlen) {
            return LSH_EINVAL;
        }
    } else {
        if (EVP_Digest(data, n, digest, NULL, md, NULL) != 1) {
            return LSH_ECRYPTO;
        }
        h = digest;
    }
    /* PROTOCOL.sshsig §3 */
    if ((r = lsh_buf_put(out, MAGIC, MAGIC_LEN)) != 0 ||
        (r = lsh_buf_put_cstring(out, ns)) != 0 ||
        (r = lsh_buf_put_string(out, "", 0)) != 0 ||
        (r = lsh_buf_put_cstring(out, hashalg)) != 0 ||
        (r = lsh_buf_put_string(out, h, dlen)) != 0) {
        rollback(out, start);
    }
    return r;
}

int
lsh_sshsig_armor(const uint8_t *blob, size_t n, lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    lsh_buf b64;
    int r;

    lsh_buf_init(&b64, 0);
    if ((r = lsh__tf_b64_encode(blob, n, &b64)) != 0 ||
        (r = lsh_buf_put(out, ARMOR_BEGIN "\n",
                         sizeof(ARMOR_BEGIN))) != 0) {
        goto out;
    }
    for (size_t off = 0; off < lsh_buf_len(&b64); off += LSH_SSHSIG_WRAP) {
        size_t len = lsh_buf_len(&b64) - off;
        if (len > LSH_SSHSIG_WRAP) {
            len = LSH_SSHSIG_WRAP;
        }
        if ((r = lsh_buf_put(out, lsh_buf_ptr(&b64) + off, len)) != 0 ||
            (r = lsh_buf_put_u8(out, '\n')) != 0) {
            goto out;
        }
    }
    r = lsh_buf_put(out, ARMOR_END "\n", sizeof(ARMOR_END));
out:
    if (r != 0) {
        rollback(out, start);
    }
    lsh_buf_free(&b64);
    return r;
}

int
lsh_sshsig_wrap(const lsh_key *pub, const char *ns, const char *hashalg,
                const uint8_t *sig, size_t siglen, unsigned flags,
                lsh_buf *out)
{
    size_t dlen, start = lsh_buf_len(out);
    lsh_buf blob, pk;
    int r;

    if (ns == NULL || *ns == '\0' || hash_md(hashalg, &dlen) == NULL) {
        return LSH_EINVAL;
    }
    lsh_buf_init(&blob, 0);
    lsh_buf_init(&pk, 0);
    /* PROTOCOL.sshsig §2 */
    if ((r = lsh_key_to_blob(pub, &pk)) != 0 ||
        (r = lsh_buf_put(&blob, MAGIC, MAGIC_LEN)) != 0 ||
        (r = lsh_buf_put_u32(&blob, SIG_VERSION)) != 0 ||
        (r = lsh_buf_put_stringb(&blob, &pk)) != 0 ||
        (r = lsh_buf_put_cstring(&blob, ns)) != 0 ||
        (r = lsh_buf_put_string(&blob, "", 0)) != 0 ||
        (r = lsh_buf_put_cstring(&blob, hashalg)) != 0 ||
        (r = lsh_buf_put_string(&blob, sig, siglen)) != 0) {
        goto out;
    }
    if (flags & LSH_SSHSIG_RAW) {
        r = lsh_buf_put(out, lsh_buf_ptr(&blob), lsh_buf_len(&blob));
    } else {
        r = lsh_sshsig_armor(lsh_buf_ptr(&blob), lsh_buf_len(&blob), out);
    }
out:
    if (r != 0) {
        rollback(out, start);
    }
    lsh_buf_free(&blob);
    lsh_buf_free(&pk);
    return r;
}

int
lsh_sshsig_sign_ex(const lsh_key *priv, const char *ns, const char *hashalg,
                   const char *sigalg, const uint8_t *data, size_t n,
                   unsigned flags, lsh_buf *out)
{
    lsh_buf tbs, sig;
    size_t dlen;
    int r;

    if (hashalg == NULL) {
        hashalg = "sha512";
    }
    if (priv == NULL || ns == NULL || *ns == '\0' ||
        hash_md(hashalg, &dlen) == NULL || !lsh_key_has_private(priv)) {
        return LSH_EINVAL;
    }
    if (sigalg == NULL) {
        sigalg = lsh_key_default_sigalg(priv);
    }
    /* §2: RSA signatures must not use SHA-1 ("ssh-rsa"). */
    if (strcmp(sigalg, "ssh-rsa") == 0) {
        return LSH_ENOALG;
    }
    lsh_buf_init(&tbs, 0);
    lsh_buf_init(&sig, 0);
    if ((r = lsh_sshsig_signed_data(ns, hashalg, data, n, flags, &tbs)) ==
            0 &&
        (r = lsh_key_sign(priv, sigalg, lsh_buf_ptr(&tbs), lsh_buf_len(&tbs),
                          &sig)) == 0) {
        r = lsh_sshsig_wrap(priv, ns, hashalg, lsh_buf_ptr(&sig),
                            lsh_buf_len(&sig), flags, out);
    }
    lsh_buf_free(&tbs);
    lsh_buf_free(&sig);
    return r;
}

int
lsh_sshsig_sign(const lsh_key *priv, const char *ns, const char *hashalg,
                const uint8_t *data, size_t n, lsh_buf *armored_out)
{
    return lsh_sshsig_sign_ex(priv, ns, hashalg, NULL, data, n, 0,
                              armored_out);
}

/*
 * Verification.
 */

static int
starts_with(const uint8_t *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    return n >= l && memcmp(p, s, l) == 0;
}

static int
all_ws(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

int
lsh_sshsig_dearmor(const uint8_t *in, size_t n, uint8_t **blob,
                   size_t *bloblen)
{
    size_t pos = sizeof(ARMOR_BEGIN) - 1, endlen = sizeof(ARMOR_END) - 1;
    const uint8_t *end;
    int r;

    if (!starts_with(in, n, ARMOR_BEGIN)) {
        return LSH_EINVAL;
    }
    if (starts_with(in + pos, n - pos, "\r\n")) {
        pos += 2;
    } else if (starts_with(in + pos, n - pos, "\n")) {
        pos += 1;
    } else {
        return LSH_EINVAL;
    }
    /* §1: the footer comes "immediately after a newline". */
    end = memmem(in + pos - 1, n - pos + 1, "\n" ARMOR_END, endlen + 1);
    if (end == NULL) {
        return LSH_EINVAL;
    }
    end++;
    if (!all_ws(end + endlen, (size_t)(in + n - (end + endlen)))) {
        return LSH_EINVAL;
    }
    if (end < in + pos) {
        return LSH_EINVAL;
    }
    r = lsh__tf_b64_decode((const char *)in + pos, (size_t)(end - (in + pos)),
                           1, blob, bloblen);
    return r == LSH_ENOMEM ? r : (r != 0 ? LSH_EINVAL : 0);
}

/* Fails verification with a reason. */
static int
bad(lsh_sshsig_info *info, const char *reason)
{
    info->reason = reason;
    return LSH_EBADSIG;
}

/* The fields of a §2 blob, borrowed from it. */
struct sigblob {
    const uint8_t *pk, *ns, *hashalg, *sig;
    size_t pklen, nslen, hashlen, siglen;
};

static int
parse_blob(const uint8_t *p, size_t n, struct sigblob *sb,
           lsh_sshsig_info *info)
{
    const uint8_t *magic, *reserved;
    size_t reslen;
    uint32_t version;
    lsh_rd rd;

    lsh_rd_init(&rd, p, n);
    if (lsh_rd_bytes(&rd, MAGIC_LEN, &magic) != 0 ||
        memcmp(magic, MAGIC, MAGIC_LEN) != 0) {
        return bad(info, "missing SSHSIG magic");
    }
    if (lsh_rd_u32(&rd, &version) != 0) {
        return bad(info, "truncated signature");
    }
    /* §2: "Verifiers MUST reject signatures with versions greater..." */
    if (version != SIG_VERSION) {
        return bad(info, "unsupported signature version");
    }
    if (lsh_rd_string(&rd, &sb->pk, &sb->pklen) != 0 ||
        lsh_rd_text(&rd, &sb->ns, &sb->nslen) != 0 ||
        lsh_rd_string(&rd, &reserved, &reslen) != 0 ||
        lsh_rd_text(&rd, &sb->hashalg, &sb->hashlen) != 0 ||
        lsh_rd_string(&rd, &sb->sig, &sb->siglen) != 0) {
        return bad(info, "truncated signature");
    }
    if (lsh_rd_end(&rd) != 0) {
        return bad(info, "trailing bytes after signature");
    }
    return 0;
}

/* The signature algorithm name at the head of an SSH signature blob. */
static int
sig_alg_is(const uint8_t *sig, size_t n, const char *name)
{
    const uint8_t *alg;
    size_t len;
    lsh_rd rd;

    lsh_rd_init(&rd, sig, n);
    return lsh_rd_string(&rd, &alg, &len) == 0 && len == strlen(name) &&
           memcmp(alg, name, len) == 0;
}

static int
verify_blob(const uint8_t *p, size_t n, const char *ns, const uint8_t *data,
            size_t dn, unsigned flags, lsh_key **signer_out,
            lsh_sshsig_info *info)
{
    struct sigblob sb;
    char hashalg[8];
    lsh_key *k = NULL;
    lsh_buf tbs;
    size_t dlen;
    int r;

    if ((r = parse_blob(p, n, &sb, info)) != 0) {
        return r;
    }
    if (sb.nslen == 0 || sb.nslen != strlen(ns) ||
        memcmp(sb.ns, ns, sb.nslen) != 0) {
        return bad(info, "namespace does not match");
    }
    if (sb.hashlen >= sizeof(hashalg)) {
        return bad(info, "unsupported hash algorithm");
    }
    memcpy(hashalg, sb.hashalg, sb.hashlen);
    hashalg[sb.hashlen] = '\0';
    if (hash_md(hashalg, &dlen) == NULL) {
        return bad(info, "unsupported hash algorithm");
    }
    memcpy(info->hashalg, hashalg, sb.hashlen + 1);
    if ((r = lsh_key_from_blob(sb.pk, sb.pklen, &k)) != 0) {
        if (r == LSH_EKEYTYPE || r == LSH_ENOMEM) {
            info->reason = r == LSH_ENOMEM ? "out of memory"
                                           : "unsupported signer key type";
            return r;
        }
        return bad(info, "invalid signer public key");
    }
    if (lsh_key_type(k) == LSH_KEY_RSA &&
        sig_alg_is(sb.sig, sb.siglen, "ssh-rsa")) {
        lsh_key_free(k);
        return bad(info, "RSA signature made with SHA-1 (ssh-rsa)");
    }
    lsh_buf_init(&tbs, 0);
    r = lsh_sshsig_signed_data(ns, hashalg, data, dn, flags, &tbs);
    if (r == LSH_EINVAL) {
        r = bad(info, "digest length does not match the hash algorithm");
    } else if (r == 0 &&
               (r = lsh_key_verify_ex(k, NULL, sb.sig, sb.siglen,
                                      lsh_buf_ptr(&tbs), lsh_buf_len(&tbs),
                                      &info->sk)) != 0) {
        if (r == LSH_EBADSIG) {
            bad(info, "signature verification failed");
        }
    }
    lsh_buf_free(&tbs);
    if (r != 0) {
        lsh_key_free(k);
        return r;
    }
    if (signer_out != NULL) {
        *signer_out = k;
    } else {
        lsh_key_free(k);
    }
    return 0;
}

int
lsh_sshsig_verify_ex(const uint8_t *sig, size_t n, const char *ns,
                     const uint8_t *data, size_t dn, unsigned flags,
                     lsh_key **signer_out, lsh_sshsig_info *info)
{
    lsh_sshsig_info scratch;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int r;

    if (info == NULL) {
        info = &scratch;
    }
    memset(info, 0, sizeof(*info));
    info->reason = "";
    if (ns == NULL || *ns == '\0' || sig == NULL) {
        info->reason = "invalid argument";
        return LSH_EINVAL;
    }
    if (starts_with(sig, n, ARMOR_BEGIN)) {
        if ((r = lsh_sshsig_dearmor(sig, n, &blob, &bloblen)) != 0) {
            if (r == LSH_ENOMEM) {
                info->reason = "out of memory";
                return r;
            }
            return bad(info, "malformed armor");
        }
        r = verify_blob(blob, bloblen, ns, data, dn, flags, signer_out,
                        info);
        free(blob);
        return r;
    }
    return verify_blob(sig, n, ns, data, dn, flags, signer_out, info);
}

int
lsh_sshsig_verify(const uint8_t *sig, size_t n, const char *ns,
                  const uint8_t *data, size_t dn, lsh_key **signer_out)
{
    return lsh_sshsig_verify_ex(sig, n, ns, data, dn, 0, signer_out, NULL);
}

/*
 * allowed_signers.
 */

struct as_line {
    lsh_as_entry pub;
    lsh_key *key;
    char *principals;
    char *namespaces;
    char *comment;
};

struct lsh_allowed_signers {
    struct as_line **v;
    size_t n, cap;
    lsh__tf_problems probs;
};

static void
as_line_free(struct as_line *l)
{
    if (l == NULL) {
        return;
    }
    lsh_key_free(l->key);
    free(l->principals);
    free(l->namespaces);
    free(l->comment);
    free(l);
}

lsh_allowed_signers *
lsh_allowed_signers_new(void)
{
    return calloc(1, sizeof(lsh_allowed_signers));
}

void
lsh_allowed_signers_free(lsh_allowed_signers *as)
{
    if (as == NULL) {
        return;
    }
    for (size_t i = 0; i < as->n; i++) {
        as_line_free(as->v[i]);
    }
    free(as->v);
    lsh__tf_problems_free(&as->probs);
    free(as);
}

size_t
lsh_allowed_signers_count(const lsh_allowed_signers *as)
{
    return as->n;
}

const lsh_as_entry *
lsh_allowed_signers_entry(const lsh_allowed_signers *as, size_t i)
{
    return i < as->n ? &as->v[i]->pub : NULL;
}

size_t
lsh_allowed_signers_problem_count(const lsh_allowed_signers *as)
{
    return as->probs.n;
}

const lsh_trust_problem *
lsh_allowed_signers_problem(const lsh_allowed_signers *as, size_t i)
{
    return i < as->probs.n ? &as->probs.v[i] : NULL;
}

/* valid-after="..." / valid-before="...": once each, a nonzero time. */
static int
time_option(const char **p, uint64_t *slot, const char *dup_reason,
            const char *bad_reason, const char **reason)
{
    uint64_t t = 0;
    char *v;
    int r;

    if (*slot != 0) {
        *reason = dup_reason;
        return LSH_EINVAL;
    }
    if ((r = lsh__tf_opt_dequote(p, &v, reason)) != 0) {
        return r;
    }
    r = lsh__tf_parse_time(v, &t);
    free(v);
    if (r != 0 || t == 0) {
        *reason = bad_reason;
        return LSH_EINVAL;
    }
    *slot = t;
    return 0;
}

/* The options field of a line (ssh-keygen(1), ALLOWED SIGNERS). */
static int
sigopts_parse(const char *s, struct as_line *l, const char **reason,
              const char **where)
{
    const char *p = s;
    int r;

    while (*p != '\0' && *p != ' ' && *p != '\t') {
        const char *start = p;
        *where = start;
        if (lsh__tf_opt_flag(&p, "cert-authority", 0) == 1) {
            l->pub.cert_authority = 1;
        } else if (lsh__tf_opt_match(&p, "namespaces")) {
            if (l->namespaces != NULL) {
                *reason = "multiple namespaces options";
                return LSH_EINVAL;
            }
            if ((r = lsh__tf_opt_dequote(&p, &l->namespaces, reason)) != 0) {
                return r;
            }
        } else if (lsh__tf_opt_match(&p, "valid-after")) {
            if ((r = time_option(&p, &l->pub.valid_after,
                                 "multiple valid-after options",
                                 "invalid valid-after time", reason)) != 0) {
                return r;
            }
        } else if (lsh__tf_opt_match(&p, "valid-before")) {
            if ((r = time_option(&p, &l->pub.valid_before,
                                 "multiple valid-before options",
                                 "invalid valid-before time", reason)) != 0) {
                return r;
            }
        }
        if (*p == '\0' || *p == ' ' || *p == '\t') {
            break;
        }
        if (*p != ',') {
            *where = start;
            *reason = "unknown option";
            return LSH_EINVAL;
        }
        p++;
        if (*p == '\0' || *p == ' ' || *p == '\t') {
            *reason = "unexpected end of options";
            return LSH_EINVAL;
        }
    }
    if (l->pub.valid_after != 0 && l->pub.valid_before != 0 &&
        l->pub.valid_before <= l->pub.valid_after) {
        *reason = "valid-before is not after valid-after";
        return LSH_EINVAL;
    }
    return 0;
}

/* Reads the principals field at *s: a token or a double-quoted string. */
static int
read_principals(const char **s, char **out, const char **reason)
{
    const char *p = *s, *end, *next;
    size_t len;

    if (*p == '"') {
        p++;
        if ((end = strchr(p, '"')) == NULL) {
            *reason = "missing end quote";
            return LSH_EINVAL;
        }
        next = end + 1;
        if (*next != '\0' && *next != ' ' && *next != '\t') {
            *reason = "invalid principals";
            return LSH_EINVAL;
        }
    } else {
        end = next = p + lsh__tf_token_len(p);
        if (lsh__tf_is_key_type(p, (size_t)(end - p))) {
            *reason = "missing principals";
            return LSH_EINVAL;
        }
    }
    if ((len = (size_t)(end - p)) == 0) {
        *reason = "missing principals";
        return LSH_EINVAL;
    }
    if ((*out = malloc(len + 1)) == NULL) {
        return LSH_ENOMEM;
    }
    memcpy(*out, p, len);
    (*out)[len] = '\0';
    *s = next;
    return 0;
}

static int
as_parse_line(const char *line, struct as_line **out, const char **reason,
              const char **detail, size_t *dlen)
{
    const char *s = lsh__tf_skip_ws(line);
    struct as_line *l;
    int r;

    *out = NULL;
    *detail = NULL;
    if (*s == '\0' || *s == '#') {
        return 0;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        return LSH_ENOMEM;
    }
    if ((r = read_principals(&s, &l->principals, reason)) != 0) {
        goto fail;
    }
    s = lsh__tf_skip_ws(s);
    if (*s == '\0') {
        *reason = "missing key";
        r = LSH_EINVAL;
        goto fail;
    }
    if (!lsh__tf_is_key_type(s, lsh__tf_token_len(s))) {
        const char *end = lsh__tf_skip_options(s), *where = s;
        if (end == NULL) {
            *reason = "missing end quote";
            r = LSH_EINVAL;
            goto fail;
        }
        if ((r = sigopts_parse(s, l, reason, &where)) != 0) {
            if (r == LSH_EINVAL && strcmp(*reason, "unknown option") == 0) {
                *detail = where;
                *dlen = strcspn(where, ",= \t");
            }
            goto fail;
        }
        s = lsh__tf_skip_ws(end);
    }
    if ((r = lsh__tf_read_key(&s, &l->key, reason)) != 0) {
        r = r == LSH_ENOMEM ? r : LSH_EINVAL;
        goto fail;
    }
    if ((l->comment = strdup(lsh__tf_skip_ws(s))) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    l->pub.principals = l->principals;
    l->pub.key = l->key;
    l->pub.namespaces = l->namespaces;
    l->pub.comment = l->comment;
    *out = l;
    return 0;
fail:
    as_line_free(l);
    return r;
}

static int
as_push(lsh_allowed_signers *as, struct as_line *l)
{
    if (as->n == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 16;
        struct as_line **v = realloc(as->v, cap * sizeof(*v));
        if (v == NULL) {
            return LSH_ENOMEM;
        }
        as->v = v;
        as->cap = cap;
    }
    as->v[as->n++] = l;
    return 0;
}

int
lsh_allowed_signers_add(lsh_allowed_signers *as, const char *data, size_t n,
                        const char *filename, unsigned flags)
{
    size_t first = as->n, problems = as->probs.n, dlen = 0;
    const char *fname, *reason = NULL, *detail = NULL;
    lsh__tf_reader rd;
    char *buf;
    int r = 0;

    if ((fname = lsh__tf_keep_filename(&as->probs, filename)) == NULL ||
        (buf = malloc(LSH_TRUST_MAX_LINE + 1)) == NULL) {
        return LSH_ENOMEM;
    }
    lsh__tf_reader_init(&rd, data, n);
    for (;;) {
        enum lsh__tf_line t = lsh__tf_next_line(&rd, buf, &reason);
        struct as_line *l = NULL;

        if (t == LSH__TF_END) {
            break;
        }
        detail = NULL;
        r = t == LSH__TF_LINE
                ? as_parse_line(buf, &l, &reason, &detail, &dlen)
                : LSH_EINVAL;
        if (r == LSH_EINVAL) {
            r = lsh__tf_problem_add(&as->probs, fname, rd.lineno, reason,
                                    detail, dlen);
        } else if (r == 0 && l != NULL) {
            l->pub.filename = fname;
            l->pub.line = rd.lineno;
            if ((r = as_push(as, l)) != 0) {
                as_line_free(l);
            }
        }
        if (r != 0) {
            break;
        }
    }
    free(buf);
    if (r == 0 && (flags & LSH_AS_STRICT) && as->probs.n > problems) {
        r = LSH_EINVAL;
    }
    if (r == LSH_EINVAL) {
        while (as->n > first) {
            as_line_free(as->v[--as->n]);
        }
    }
    return r;
}

int
lsh_allowed_signers_parse(const char *data, size_t n, const char *filename,
                          unsigned flags, lsh_allowed_signers **out)
{
    lsh_allowed_signers *as = lsh_allowed_signers_new();
    int r;

    *out = NULL;
    if (as == NULL) {
        return LSH_ENOMEM;
    }
    if ((r = lsh_allowed_signers_add(as, data, n, filename, flags)) != 0) {
        lsh_allowed_signers_free(as);
        return r;
    }
    *out = as;
    return 0;
}

/* Namespace and validity window of a line (principal: see callers). */
static int
line_valid(const struct as_line *l, const char *ns, uint64_t now)
{
    if (l->namespaces != NULL && ns != NULL &&
        lsh_pattern_list_match(ns, l->namespaces, 0) != LSH_PATTERN_MATCH) {
        return 0;
    }
    if (l->pub.valid_after != 0 && now < l->pub.valid_after) {
        return 0;
    }
    if (l->pub.valid_before != 0 && now > l->pub.valid_before) {
        return 0;
    }
    return 1;
}

static int
check(const lsh_allowed_signers *as, const char *principal,
      const lsh_key *key, int want_ca, const char *ns, uint64_t now)
{
    if (principal == NULL || key == NULL) {
        return LSH_ENOTFOUND;
    }
    for (size_t i = 0; i < as->n; i++) {
        const struct as_line *l = as->v[i];
        if (l->pub.cert_authority == want_ca &&
            lsh_pattern_list_match(principal, l->principals, 0) ==
                LSH_PATTERN_MATCH &&
            line_valid(l, ns, now) && lsh_key_equal_public(l->key, key)) {
            return 0;
        }
    }
    return LSH_ENOTFOUND;
}

int
lsh_allowed_signers_check(const lsh_allowed_signers *as,
                          const char *principal, const lsh_key *signer,
                          const char *ns, uint64_t now)
{
    return check(as, principal, signer, 0, ns, now);
}

int
lsh_allowed_signers_check_ca(const lsh_allowed_signers *as,
                             const char *principal, const lsh_key *ca_key,
                             const char *ns, uint64_t now)
{
    return check(as, principal, ca_key, 1, ns, now);
}

int
lsh_allowed_signers_find_principals(const lsh_allowed_signers *as,
                                    const lsh_key *signer, const char *ns,
                                    uint64_t now, lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    int found = 0, r;

    for (size_t i = 0; i < as->n; i++) {
        const struct as_line *l = as->v[i];
        if (l->pub.cert_authority || !line_valid(l, ns, now) ||
            !lsh_key_equal_public(l->key, signer)) {
            continue;
        }
        if ((r = lsh_buf_put(out, l->principals, strlen(l->principals))) !=
                0 ||
            (r = lsh_buf_put_u8(out, '\n')) != 0) {
            rollback(out, start);
            return r;
        }
        found++;
    }
    return found > 0 ? found : LSH_ENOTFOUND;
}
