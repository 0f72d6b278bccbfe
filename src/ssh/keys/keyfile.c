/*
 * Key files: format detection for private keys and the text machinery
 * shared by every format (lines, base64, PEM armour, OpenSSH one-line
 * keys).  The formats themselves live in keyfile_openssh.c (openssh-key-v1),
 * keyfile_pkcs.c (PKCS#1/SEC1/PKCS#8 through OpenSSL) and keyfile_pub.c
 * (public key files).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rd.h"
#include "ssh/keys/keyfile.h"
#include "ssh/keys/keyfile_internal.h"

/* ---- small helpers ---------------------------------------------------- */

int
lsh__kf_err(char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (errbuf != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

void
lsh__kf_err_clear(char *errbuf, size_t errlen)
{
    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
}

char *
lsh__kf_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    return s;
}

void
lsh__kf_lines_init(lsh__kf_lines *it, const uint8_t *p, size_t n)
{
    it->p = (const char *)p;
    it->n = n;
    it->pos = 0;
    it->start = 0;
    it->lineno = 0;
}

int
lsh__kf_lines_next(lsh__kf_lines *it, const char **line, size_t *len)
{
    const char *nl;
    size_t l;

    if (it->pos >= it->n) {
        return 0;
    }
    it->start = it->pos;
    nl = memchr(it->p + it->pos, '\n', it->n - it->pos);
    l = nl != NULL ? (size_t)(nl - (it->p + it->pos)) : it->n - it->pos;
    *line = it->p + it->pos;
    it->pos += l + (nl != NULL ? 1 : 0);
    if (l > 0 && (*line)[l - 1] == '\r') {
        l--;
    }
    *len = l;
    it->lineno++;
    return 1;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

const char *
lsh__kf_trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1])) {
        n--;
    }
    *len = n;
    return s;
}

int
lsh__kf_is_binary(const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = data[i];
        if (c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* ---- base64 (RFC 4648 §4) --------------------------------------------- */

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

void
lsh__b64dec_init(lsh__b64dec *d)
{
    d->acc = 0;
    d->nchars = 0;
    d->npad = 0;
}

/* A group that ended with padding closes the input. */
static int
b64_closed(const lsh__b64dec *d)
{
    return d->npad > 0 && d->nchars == 0;
}

/* Emits the bytes of a complete 4-character group. */
static int
b64_flush(lsh__b64dec *d, lsh_buf *out)
{
    uint8_t b[3];
    size_t nb = 3 - d->npad;

    /* Padding bits must be zero: one encoding per byte string. */
    if ((d->npad == 1 && (d->acc & 0xff) != 0) ||
        (d->npad == 2 && (d->acc & 0xffff) != 0)) {
        return LSH_EBADKEY;
    }
    b[0] = (uint8_t)(d->acc >> 16);
    b[1] = (uint8_t)(d->acc >> 8);
    b[2] = (uint8_t)d->acc;
    d->acc = 0;
    d->nchars = 0;
    return lsh_buf_put(out, b, nb);
}

int
lsh__b64dec_feed(lsh__b64dec *d, const char *s, size_t n, lsh_buf *out,
                 size_t *badpos)
{
    int r;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;

        if (c == ' ' || c == '\t') {
            continue;
        }
        *badpos = i;
        if (b64_closed(d)) {
            return LSH_EBADKEY;
        }
        if (c == '=') {
            /* '=' only in the last one or two places of a group. */
            if (d->nchars < 2) {
                return LSH_EBADKEY;
            }
            d->npad++;
            v = 0;
        } else {
            if ((v = b64_value(c)) < 0 || d->npad > 0) {
                return LSH_EBADKEY;
            }
        }
        d->acc = (d->acc << 6) | (uint32_t)v;
        if (++d->nchars == 4 && (r = b64_flush(d, out)) != 0) {
            return r;
        }
    }
    return 0;
}

int
lsh__b64dec_final(const lsh__b64dec *d)
{
    return d->nchars == 0 ? 0 : LSH_EBADKEY;
}

int
lsh__b64_decode(const char *s, size_t n, lsh_buf *out)
{
    lsh__b64dec d;
    size_t bad, start = lsh_buf_len(out);
    int r;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t') {
            return LSH_EBADKEY;
        }
    }
    lsh__b64dec_init(&d);
    if ((r = lsh__b64dec_feed(&d, s, n, out, &bad)) != 0 ||
        (r = lsh__b64dec_final(&d)) != 0) {
        if (lsh_buf_len(out) > start) {
            (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
        }
        return r;
    }
    return 0;
}

int
lsh__b64_encode(const uint8_t *p, size_t n, size_t wrap, lsh_buf *out)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t start = lsh_buf_len(out), col = 0;
    int r = 0;

    for (size_t i = 0; i < n && r == 0; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = n - i;
        char q[4];

        if (left > 1) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (left > 2) {
            v |= p[i + 2];
        }
        q[0] = alpha[(v >> 18) & 63];
        q[1] = alpha[(v >> 12) & 63];
        q[2] = left > 1 ? alpha[(v >> 6) & 63] : '=';
        q[3] = left > 2 ? alpha[v & 63] : '=';
        for (int j = 0; j < 4 && r == 0; j++) {
            r = lsh_buf_put_u8(out, (uint8_t)q[j]);
            if (wrap > 0 && ++col == wrap) {
                col = 0;
                if (r == 0) {
                    r = lsh_buf_put_u8(out, '\n');
                }
            }
        }
    }
    if (r == 0 && wrap > 0 && col > 0) {
        r = lsh_buf_put_u8(out, '\n');
    }
    if (r != 0) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
    }
    return r;
}

/* ---- PEM armour (RFC 7468 §2, RFC 1421 §4.6 headers) ------------------ */

/* Reads "-----BEGIN label-----" or "-----END label-----"; 1 if it is one. */
static int
pem_boundary(const char *line, size_t len, const char *word, char *label,
             size_t labelmax)
{
    size_t wl = strlen(word), ll;

    line = lsh__kf_trim(line, &len);
    if (len < 5 + wl + 5 || memcmp(line, "-----", 5) != 0 ||
        memcmp(line + 5, word, wl) != 0 ||
        memcmp(line + len - 5, "-----", 5) != 0) {
        return 0;
    }
    ll = len - 10 - wl;
    if (ll >= labelmax || memchr(line + 5 + wl, '\0', ll) != NULL) {
        return 0;
    }
    memcpy(label, line + 5 + wl, ll);
    label[ll] = '\0';
    return 1;
}

int
lsh__pem_parse(lsh__kf_lines *it, const char *line, size_t len,
               lsh__pem *pem, char *errbuf, size_t errlen)
{
    char endlabel[sizeof(pem->label)];
    size_t begin = it->start, bad;
    int in_headers = 1, body = 0, r;
    lsh__b64dec d;

    memset(pem, 0, sizeof(*pem));
    lsh_buf_init(&pem->der, LSH_KEYFILE_MAX_SIZE);
    if (!pem_boundary(line, len, "BEGIN ", pem->label, sizeof(pem->label))) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "PEM: bad BEGIN line at line %u", it->lineno);
    }
    lsh__b64dec_init(&d);
    while (lsh__kf_lines_next(it, &line, &len)) {
        const char *t = line;
        size_t tl = len;

        if (pem_boundary(line, len, "END ", endlabel, sizeof(endlabel))) {
            if (strcmp(endlabel, pem->label) != 0) {
                return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                   "PEM: END label '%s' does not match "
                                   "BEGIN label '%s' at line %u",
                                   endlabel, pem->label, it->lineno);
            }
            if (lsh__b64dec_final(&d) != 0) {
                return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                   "PEM: base64 data ends mid-group before "
                                   "line %u", it->lineno);
            }
            if (!body) {
                return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                   "PEM: empty body");
            }
            pem->text = it->p + begin;
            pem->textlen = it->pos - begin;
            return 0;
        }
        t = lsh__kf_trim(t, &tl);
        if (tl == 0) {
            continue;
        }
        if (in_headers && memchr(t, ':', tl) != NULL) {
            /* RFC 1421 header, e.g. Proc-Type: 4,ENCRYPTED */
            pem->has_headers = 1;
            if (tl >= 10 && memcmp(t, "Proc-Type:", 10) == 0) {
                const char *v = t + 10;
                size_t vl = tl - 10;
                v = lsh__kf_trim(v, &vl);
                if (vl == 11 && memcmp(v, "4,ENCRYPTED", 11) == 0) {
                    pem->encrypted = 1;
                }
            }
            continue;
        }
        if (in_headers && pem->has_headers && is_blank(line[0])) {
            continue; /* RFC 1421 header continuation line */
        }
        in_headers = 0;
        body = 1;
        if ((r = lsh__b64dec_feed(&d, t, tl, &pem->der, &bad)) != 0) {
            if (r == LSH_EBADKEY) {
                return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                   "PEM: bad base64 at line %u", it->lineno);
            }
            return r;
        }
    }
    return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                       "PEM: no END line for '%s'", pem->label);
}

int
lsh__pem_write(const char *label, const uint8_t *der, size_t n, size_t wrap,
               lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    int r;

    if ((r = lsh_buf_put(out, "-----BEGIN ", 11)) != 0 ||
        (r = lsh_buf_put(out, label, strlen(label))) != 0 ||
        (r = lsh_buf_put(out, "-----\n", 6)) != 0 ||
        (r = lsh__b64_encode(der, n, wrap, out)) != 0 ||
        (r = lsh_buf_put(out, "-----END ", 9)) != 0 ||
        (r = lsh_buf_put(out, label, strlen(label))) != 0 ||
        (r = lsh_buf_put(out, "-----\n", 6)) != 0) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
    }
    return r;
}

/* ---- OpenSSH one-line keys ("type base64 comment") -------------------- */

static size_t
word_end(const char *s, size_t n, size_t i)
{
    while (i < n && !is_blank(s[i])) {
        i++;
    }
    return i;
}

static size_t
skip_blanks(const char *s, size_t n, size_t i)
{
    while (i < n && is_blank(s[i])) {
        i++;
    }
    return i;
}

int
lsh__kf_parse_oneline(const char *line, size_t len, unsigned lineno,
                      lsh_buf *blob, const char **type, size_t *typelen,
                      char **comment, char *errbuf, size_t errlen)
{
    size_t te, bs, be, cs, clen, start = lsh_buf_len(blob), nl;
    const uint8_t *name;
    lsh_rd rd;
    char *c;
    int r;

    line = lsh__kf_trim(line, &len);
    te = word_end(line, len, 0);
    bs = skip_blanks(line, len, te);
    be = word_end(line, len, bs);
    if (te == 0 || bs == be) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "line %u: expected 'type base64 [comment]'",
                           lineno);
    }
    if (memchr(line, '\0', len) != NULL) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "line %u: NUL byte in key line", lineno);
    }
    if ((r = lsh__b64_decode(line + bs, be - bs, blob)) != 0) {
        if (r != LSH_EBADKEY) {
            return r;
        }
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "line %u: bad base64 key data", lineno);
    }
    /* The type word must name the type the blob itself starts with. */
    lsh_rd_init(&rd, lsh_buf_ptr(blob) + start, lsh_buf_len(blob) - start);
    if (lsh_rd_text(&rd, &name, &nl) != 0 || nl != te ||
        memcmp(name, line, te) != 0) {
        (void)lsh_buf_truncate(blob, lsh_buf_len(blob) - start);
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "line %u: key type '%.*s' does not match the "
                           "key data",
                           lineno, (int)(te > 64 ? 64 : te), line);
    }
    cs = skip_blanks(line, len, be);
    clen = len - cs;
    if ((c = lsh__kf_strndup(line + cs, clen)) == NULL) {
        (void)lsh_buf_truncate(blob, lsh_buf_len(blob) - start);
        return LSH_ENOMEM;
    }
    *type = line;
    *typelen = te;
    *comment = c;
    return 0;
}

int
lsh__kf_write_oneline(const char *type, const uint8_t *blob, size_t n,
                      const char *comment, lsh_buf *out)
{
    size_t start = lsh_buf_len(out);
    int r;

    if (comment != NULL && strpbrk(comment, "\r\n") != NULL) {
        return LSH_EINVAL;
    }
    if ((r = lsh_buf_put(out, type, strlen(type))) != 0 ||
        (r = lsh_buf_put_u8(out, ' ')) != 0 ||
        (r = lsh__b64_encode(blob, n, 0, out)) != 0) {
        goto out;
    }
    if (comment != NULL && comment[0] != '\0' &&
        ((r = lsh_buf_put_u8(out, ' ')) != 0 ||
         (r = lsh_buf_put(out, comment, strlen(comment))) != 0)) {
        goto out;
    }
    r = lsh_buf_put_u8(out, '\n');
out:
    if (r != 0) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
    }
    return r;
}

/* ---- private keys: detection and dispatch ----------------------------- */

#define OPENSSH_MAGIC "openssh-key-v1"

static int
is_pkcs_private_label(const char *label)
{
    static const char *const labels[] = {
        "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY",
        "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
    };
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        if (strcmp(label, labels[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Only blanks and empty lines may follow the single key of a file. */
static int
rest_is_blank(lsh__kf_lines *it)
{
    const char *line;
    size_t len;

    while (lsh__kf_lines_next(it, &line, &len)) {
        lsh__kf_trim(line, &len);
        if (len > 0) {
            return 0;
        }
    }
    return 1;
}

static int
import_pem_private(const uint8_t *data, size_t n, const char *pass,
                   unsigned max_rounds, lsh_key **out, char **comment,
                   char *errbuf, size_t errlen)
{
    lsh__kf_lines it;
    const char *line = NULL;
    size_t len = 0;
    lsh__pem pem;
    int r;

    lsh__kf_lines_init(&it, data, n);
    while (lsh__kf_lines_next(&it, &line, &len)) {
        lsh__kf_trim(line, &len);
        if (len > 0) {
            break;
        }
    }
    if ((r = lsh__pem_parse(&it, line, len, &pem, errbuf, errlen)) != 0) {
        goto out;
    }
    if (!rest_is_blank(&it)) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "trailing data after the PEM block at line %u",
                        it.lineno);
        goto out;
    }
    if (strcmp(pem.label, "OPENSSH PRIVATE KEY") == 0) {
        if (pem.has_headers) {
            r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                            "openssh-key-v1: unexpected PEM headers");
            goto out;
        }
        r = lsh__kf_openssh_import(lsh_buf_ptr(&pem.der),
                                   lsh_buf_len(&pem.der), pass, max_rounds,
                                   out, comment, errbuf, errlen);
        goto out;
    }
    if (!is_pkcs_private_label(pem.label)) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "PEM: '%s' is not a private key", pem.label);
        goto out;
    }
    if ((pem.encrypted || strcmp(pem.label, "ENCRYPTED PRIVATE KEY") == 0) &&
        (pass == NULL || pass[0] == '\0')) {
        r = lsh__kf_err(errbuf, errlen, LSH_ENEEDPASSPHRASE,
                        "PEM: key is encrypted");
        goto out;
    }
    r = lsh__kf_pkcs_import_private((const uint8_t *)pem.text, pem.textlen,
                                    1, pass, out, errbuf, errlen);
    if (r == 0 && comment != NULL &&
        (*comment = lsh__kf_strndup("", 0)) == NULL) {
        lsh_key_free(*out);
        r = LSH_ENOMEM;
    }
out:
    lsh_buf_free(&pem.der);
    return r;
}

int
lsh_keyfile_import_private_ex(const uint8_t *data, size_t n,
                              const char *passphrase, unsigned max_kdf_rounds,
                              lsh_key **out, char **comment_out,
                              char *errbuf, size_t errlen)
{
    size_t i = 0;
    char *comment = NULL;
    lsh_key *k = NULL;
    int r;

    lsh__kf_err_clear(errbuf, errlen);
    if (data == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    if (n > LSH_KEYFILE_MAX_SIZE) {
        return lsh__kf_err(errbuf, errlen, LSH_ETOOLARGE,
                           "key file of %zu bytes exceeds the %zu byte "
                           "limit", n, LSH_KEYFILE_MAX_SIZE);
    }
    if (max_kdf_rounds == 0) {
        max_kdf_rounds = LSH_KEYFILE_MAX_KDF_ROUNDS;
    }
    if (n >= sizeof(OPENSSH_MAGIC) &&
        memcmp(data, OPENSSH_MAGIC, sizeof(OPENSSH_MAGIC)) == 0) {
        r = lsh__kf_openssh_import(data, n, passphrase, max_kdf_rounds, &k,
                                   &comment, errbuf, errlen);
    } else if (n > 0 && data[0] == 0x30 && lsh__kf_is_binary(data, n)) {
        r = lsh__kf_pkcs_import_private(data, n, 0, passphrase, &k, errbuf,
                                        errlen);
    } else {
        while (i < n && (is_blank((char)data[i]) || data[i] == '\n')) {
            i++;
        }
        if (n - i < 11 || memcmp(data + i, "-----BEGIN ", 11) != 0) {
            return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                               "unrecognised private key format");
        }
        r = import_pem_private(data, n, passphrase, max_kdf_rounds, &k,
                               &comment, errbuf, errlen);
    }
    if (r != 0) {
        return r;
    }
    if (comment == NULL && (comment = lsh__kf_strndup("", 0)) == NULL) {
        lsh_key_free(k);
        return LSH_ENOMEM;
    }
    *out = k;
    if (comment_out != NULL) {
        *comment_out = comment;
    } else {
        free(comment);
    }
    return 0;
}

int
lsh_keyfile_import_private(const uint8_t *data, size_t n,
                           const char *passphrase, lsh_key **out,
                           char **comment_out, char *errbuf, size_t errlen)
{
    return lsh_keyfile_import_private_ex(data, n, passphrase, 0, out,
                                         comment_out, errbuf, errlen);
}

int
lsh_keyfile_export_private(const lsh_key *k, const char *comment,
                           const char *format, const char *passphrase,
                           const char *cipher, unsigned rounds,
                           lsh_keyfile_rng_cb rng, void *rng_ctx,
                           lsh_buf *out)
{
    int encrypt = passphrase != NULL && passphrase[0] != '\0';

    if (k == NULL || format == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    if (!lsh_key_has_private(k)) {
        return LSH_EINVAL;
    }
    if (strcmp(format, "openssh") == 0) {
        return lsh__kf_openssh_export(k, comment, encrypt ? passphrase : NULL,
                                      cipher, rounds, rng, rng_ctx, out);
    }
    if (strcmp(format, "pkcs1-pem") == 0) {
        return lsh__kf_pkcs_export_private(k, 0, 1, encrypt ? passphrase
                                                            : NULL,
                                           cipher, out);
    }
    if (strcmp(format, "pkcs1-der") == 0) {
        return encrypt ? LSH_EINVAL
                       : lsh__kf_pkcs_export_private(k, 0, 0, NULL, NULL,
                                                     out);
    }
    if (strcmp(format, "pkcs8-pem") == 0 || strcmp(format, "pkcs8-der") == 0) {
        return lsh__kf_pkcs_export_private(k, 1, format[6] == 'p',
                                           encrypt ? passphrase : NULL,
                                           cipher, out);
    }
    return LSH_EINVAL;
}
