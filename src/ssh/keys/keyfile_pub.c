/*
 * Public key files: OpenSSH one-line keys, RFC 4716 blocks and the PEM /
 * DER public key structures (through keyfile_pkcs.c).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "common/rd.h"
#include "ssh/keys/keyfile.h"
#include "ssh/keys/keyfile_internal.h"

#define RFC4716_BEGIN "---- BEGIN SSH2 PUBLIC KEY ----"
#define RFC4716_END "---- END SSH2 PUBLIC KEY ----"
#define RFC4716_LINE 72 /* §3: no line longer than 72 bytes */
#define RFC4716_WRAP 70 /* what ssh-keygen -e writes */
#define RFC4716_TAG_MAX 64

static int
line_is(const char *line, size_t len, const char *lit)
{
    line = lsh__kf_trim(line, &len);
    return len == strlen(lit) && memcmp(line, lit, len) == 0;
}

/* Parses a blob into a public key, with a message that names the line. */
static int
key_from_blob(const lsh_buf *blob, unsigned lineno, lsh_key **out,
              char *errbuf, size_t errlen)
{
    int r = lsh_key_from_blob(lsh_buf_ptr(blob), lsh_buf_len(blob), out);
    const uint8_t *name;
    size_t nl;
    lsh_rd rd;

    if (r == 0 || r == LSH_ENOMEM) {
        return r;
    }
    lsh_rd_init(&rd, lsh_buf_ptr(blob), lsh_buf_len(blob));
    if (r == LSH_EKEYTYPE && lsh_rd_text(&rd, &name, &nl) == 0) {
        int cert = nl > 5 && memmem(name, nl, "-cert", 5) != NULL;
        return lsh__kf_err(errbuf, errlen, LSH_EKEYTYPE,
                           "line %u: %s '%.*s'%s", lineno,
                           cert ? "certificate" : "unsupported key type",
                           (int)(nl > 100 ? 100 : nl), name,
                           cert ? " is not a plain public key" : "");
    }
    return lsh__kf_err(errbuf, errlen, r == LSH_EKEYSIZE ? r : LSH_EBADKEY,
                       "line %u: invalid key data (%s)", lineno,
                       lsh_strerror(r));
}

/* ---- RFC 4716 --------------------------------------------------------- */

struct rfc4716 {
    lsh_buf blob;
    lsh_buf header; /* logical header line being assembled */
    char *comment;
};

/* A complete logical header line "Tag: value": keeps Comment's value. */
static int
rfc4716_header(struct rfc4716 *st, unsigned lineno, char *errbuf,
               size_t errlen)
{
    const char *h = (const char *)lsh_buf_ptr(&st->header);
    size_t n = lsh_buf_len(&st->header), taglen, vl;
    const char *colon = memchr(h, ':', n), *v;

    taglen = (size_t)(colon - h);
    if (taglen == 0 || taglen > RFC4716_TAG_MAX ||
        memchr(h, ' ', taglen) != NULL) {
        return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                           "line %u: bad RFC 4716 header", lineno);
    }
    v = colon + 1;
    vl = n - taglen - 1;
    v = lsh__kf_trim(v, &vl);
    /* §3.3.2: strip matching quotes around the Comment value. */
    if (taglen == 7 && strncasecmp(h, "Comment", 7) == 0) {
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v++;
            vl -= 2;
        }
        free(st->comment);
        if ((st->comment = lsh__kf_strndup(v, vl)) == NULL) {
            return LSH_ENOMEM;
        }
    }
    lsh_buf_reset(&st->header);
    return 0;
}

static int
rfc4716_block(lsh__kf_lines *it, lsh_key **out, char **comment, char *errbuf,
              size_t errlen)
{
    struct rfc4716 st = {.comment = NULL};
    int in_headers = 1, cont = 0, r;
    const char *line;
    lsh__b64dec d;
    size_t len, bad;

    lsh_buf_init(&st.blob, LSH_KEYFILE_MAX_SIZE);
    lsh_buf_init(&st.header, LSH_KEYFILE_MAX_SIZE);
    lsh__b64dec_init(&d);
    while (lsh__kf_lines_next(it, &line, &len)) {
        if (!cont && line_is(line, len, RFC4716_END)) {
            if (lsh__b64dec_final(&d) != 0 || lsh_buf_len(&st.blob) == 0) {
                r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                "line %u: RFC 4716 block without complete "
                                "key data", it->lineno);
                goto out;
            }
            if ((r = key_from_blob(&st.blob, it->lineno, out, errbuf,
                                   errlen)) != 0) {
                goto out;
            }
            *comment = st.comment != NULL ? st.comment
                                          : lsh__kf_strndup("", 0);
            st.comment = NULL;
            r = *comment != NULL ? 0 : LSH_ENOMEM;
            if (r != 0) {
                lsh_key_free(*out);
            }
            goto out;
        }
        if (cont || (in_headers && memchr(line, ':', len) != NULL)) {
            /* §3.3: a trailing '\' continues the header on the next line. */
            int more = len > 0 && line[len - 1] == '\\';
            if ((r = lsh_buf_put(&st.header, line, len - (more ? 1 : 0))) !=
                0) {
                goto out;
            }
            cont = more;
            if (!more &&
                (r = rfc4716_header(&st, it->lineno, errbuf, errlen)) != 0) {
                goto out;
            }
            continue;
        }
        in_headers = 0;
        if ((r = lsh__b64dec_feed(&d, line, len, &st.blob, &bad)) != 0) {
            if (r == LSH_EBADKEY) {
                r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                                "RFC 4716: bad base64 at line %u",
                                it->lineno);
            }
            goto out;
        }
    }
    r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                    "RFC 4716: no END line");
out:
    lsh_buf_free(&st.blob);
    lsh_buf_free(&st.header);
    free(st.comment);
    return r;
}

/* ---- the list --------------------------------------------------------- */

static int
pem_public(lsh__kf_lines *it, const char *line, size_t len, lsh_key **out,
           char *errbuf, size_t errlen)
{
    unsigned first = it->lineno;
    lsh__pem pem;
    int r;

    if ((r = lsh__pem_parse(it, line, len, &pem, errbuf, errlen)) != 0) {
        goto out;
    }
    if (strcmp(pem.label, "PUBLIC KEY") != 0 &&
        strcmp(pem.label, "RSA PUBLIC KEY") != 0) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "line %u: PEM '%s' is not a public key", first,
                        pem.label);
        goto out;
    }
    r = lsh__kf_pkcs_import_public((const uint8_t *)pem.text, pem.textlen, 1,
                                   out, errbuf, errlen);
out:
    lsh_buf_free(&pem.der);
    return r;
}

static int
oneline_public(const char *line, size_t len, unsigned lineno, lsh_key **out,
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
    if ((r = key_from_blob(&blob, lineno, out, errbuf, errlen)) != 0) {
        free(*comment);
        *comment = NULL;
    }
out:
    lsh_buf_free(&blob);
    return r;
}

int
lsh_keyfile_import_public_list(const uint8_t *data, size_t n,
                               lsh_keyfile_public_cb cb, void *ctx,
                               char *errbuf, size_t errlen)
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
                           "key file of %zu bytes exceeds the %zu byte "
                           "limit", n, LSH_KEYFILE_MAX_SIZE);
    }
    if (lsh__kf_is_binary(data, n)) {
        lsh_key *k = NULL;
        if (data[0] != 0x30) {
            return lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                               "binary data is not a DER public key");
        }
        if ((r = lsh__kf_pkcs_import_public(data, n, 0, &k, errbuf,
                                            errlen)) != 0) {
            return r;
        }
        return (r = cb(ctx, k, "")) != 0 ? r : 1;
    }
    lsh__kf_lines_init(&it, data, n);
    while (lsh__kf_lines_next(&it, &line, &len)) {
        const char *t = line;
        size_t tl = len;
        char *comment = NULL;
        lsh_key *k = NULL;

        t = lsh__kf_trim(t, &tl);
        if (tl == 0 || t[0] == '#') {
            continue;
        }
        if (line_is(t, tl, RFC4716_BEGIN)) {
            r = rfc4716_block(&it, &k, &comment, errbuf, errlen);
        } else if (tl >= 11 && memcmp(t, "-----BEGIN ", 11) == 0) {
            r = pem_public(&it, t, tl, &k, errbuf, errlen);
        } else {
            r = oneline_public(t, tl, it.lineno, &k, &comment, errbuf,
                               errlen);
        }
        if (r != 0) {
            return r;
        }
        r = cb(ctx, k, comment != NULL ? comment : "");
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
    lsh_key *k;
    char *comment;
    int extra;
};

/* Keeps the first key; a second one makes the import fail. */
static int
keep_single(void *ctx, lsh_key *k, const char *comment)
{
    struct single *s = ctx;

    if (s->k != NULL) {
        lsh_key_free(k);
        s->extra = 1;
        return LSH_EBADKEY;
    }
    if ((s->comment = lsh__kf_strndup(comment, strlen(comment))) == NULL) {
        lsh_key_free(k);
        return LSH_ENOMEM;
    }
    s->k = k;
    return 0;
}

int
lsh_keyfile_import_public(const uint8_t *data, size_t n, lsh_key **out,
                          char **comment_out, char *errbuf, size_t errlen)
{
    struct single s = {NULL, NULL, 0};
    int r;

    if (out == NULL) {
        return LSH_EINVAL;
    }
    r = lsh_keyfile_import_public_list(data, n, keep_single, &s, errbuf,
                                       errlen);
    if (s.extra) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY,
                        "more than one key in the file");
    } else if (r == 0) {
        r = lsh__kf_err(errbuf, errlen, LSH_EBADKEY, "no key in the file");
    }
    if (r < 0) {
        lsh_key_free(s.k);
        free(s.comment);
        return r;
    }
    *out = s.k;
    if (comment_out != NULL) {
        *comment_out = s.comment;
    } else {
        free(s.comment);
    }
    return 0;
}

/* ---- export ----------------------------------------------------------- */

/* "Comment: "...""  in lines of at most 72 bytes, '\' continuing them. */
static int
rfc4716_comment(const char *comment, lsh_buf *out)
{
    lsh_buf h;
    size_t n, off = 0;
    int r;

    lsh_buf_init(&h, 0);
    if ((r = lsh_buf_put(&h, "Comment: \"", 10)) != 0 ||
        (r = lsh_buf_put(&h, comment, strlen(comment))) != 0 ||
        (r = lsh_buf_put_u8(&h, '"')) != 0) {
        goto out;
    }
    n = lsh_buf_len(&h);
    while (r == 0 && n - off > RFC4716_LINE) {
        if ((r = lsh_buf_put(out, lsh_buf_ptr(&h) + off, RFC4716_LINE - 1)) ==
            0) {
            r = lsh_buf_put(out, "\\\n", 2);
        }
        off += RFC4716_LINE - 1;
    }
    if (r == 0 && (r = lsh_buf_put(out, lsh_buf_ptr(&h) + off, n - off)) ==
                      0) {
        r = lsh_buf_put_u8(out, '\n');
    }
out:
    lsh_buf_free(&h);
    return r;
}

static int
export_rfc4716(const uint8_t *blob, size_t n, const char *comment,
               lsh_buf *out)
{
    int r;

    if ((r = lsh_buf_put(out, RFC4716_BEGIN "\n",
                         sizeof(RFC4716_BEGIN))) != 0) {
        return r;
    }
    if (comment != NULL && comment[0] != '\0' &&
        (r = rfc4716_comment(comment, out)) != 0) {
        return r;
    }
    if ((r = lsh__b64_encode(blob, n, RFC4716_WRAP, out)) != 0) {
        return r;
    }
    return lsh_buf_put(out, RFC4716_END "\n", sizeof(RFC4716_END));
}

int
lsh_keyfile_export_public(const lsh_key *k, const char *comment,
                          const char *format, lsh_buf *out)
{
    size_t start;
    lsh_buf blob;
    int r;

    if (k == NULL || format == NULL || out == NULL) {
        return LSH_EINVAL;
    }
    if (strncmp(format, "pkcs", 4) == 0) {
        int pkcs8;
        if (strcmp(format, "pkcs1-pem") != 0 &&
            strcmp(format, "pkcs1-der") != 0 &&
            strcmp(format, "pkcs8-pem") != 0 &&
            strcmp(format, "pkcs8-der") != 0) {
            return LSH_EINVAL;
        }
        pkcs8 = format[4] == '8';
        return lsh__kf_pkcs_export_public(k, pkcs8, format[6] == 'p', out);
    }
    if (strcmp(format, "openssh") != 0 && strcmp(format, "rfc4716") != 0) {
        return LSH_EINVAL;
    }
    if (comment != NULL && strpbrk(comment, "\r\n") != NULL) {
        return LSH_EINVAL;
    }
    start = lsh_buf_len(out);
    lsh_buf_init(&blob, 0);
    if ((r = lsh_key_to_blob(k, &blob)) != 0) {
        goto out;
    }
    if (format[0] == 'o') {
        r = lsh__kf_write_oneline(lsh_key_type_name(k), lsh_buf_ptr(&blob),
                                  lsh_buf_len(&blob), comment, out);
    } else {
        r = export_rfc4716(lsh_buf_ptr(&blob), lsh_buf_len(&blob), comment,
                           out);
    }
out:
    if (r != 0 && lsh_buf_len(out) > start) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
    }
    lsh_buf_free(&blob);
    return r;
}
