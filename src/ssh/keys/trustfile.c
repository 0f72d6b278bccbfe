/*
 * Lexical helpers shared by known_hosts.c, auth_keys.c and sshsig.c: line
 * reading, strict base64, "type base64" keys, option fields and absolute
 * times (sshd(8) AUTHORIZED_KEYS FILE FORMAT, ssh-keygen(1) ALLOWED
 * SIGNERS).
 */
#include "ssh/keys/trustfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/mem.h"

#define CERT_SUFFIX "-cert-v01@openssh.com"

void
lsh__tf_reader_init(lsh__tf_reader *r, const char *data, size_t n)
{
    r->p = data;
    r->n = data != NULL ? n : 0;
    r->pos = 0;
    r->lineno = 0;
}

enum lsh__tf_line
lsh__tf_next_line(lsh__tf_reader *r, char *buf, const char **reason)
{
    const char *start, *nl;
    size_t len;

    if (r->pos >= r->n) {
        return LSH__TF_END;
    }
    start = r->p + r->pos;
    nl = memchr(start, '\n', r->n - r->pos);
    len = nl != NULL ? (size_t)(nl - start) : r->n - r->pos;
    r->pos += len + (nl != NULL);
    r->lineno++;
    while (len > 0 && (start[len - 1] == '\r' || start[len - 1] == ' ' ||
                       start[len - 1] == '\t')) {
        len--;
    }
    if (len > LSH_TRUST_MAX_LINE) {
        *reason = "line too long";
        return LSH__TF_BAD;
    }
    if (memchr(start, '\0', len) != NULL) {
        *reason = "NUL byte in line";
        return LSH__TF_BAD;
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    return LSH__TF_LINE;
}

const char *
lsh__tf_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

size_t
lsh__tf_token_len(const char *s)
{
    return strcspn(s, " \t");
}

/*
 * Base64 (RFC 4648 §4).
 */

static int
b64_value(int c)
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

static int
is_b64_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
lsh__tf_b64_decode(const char *s, size_t n, int skip_ws, uint8_t **out,
                   size_t *outlen)
{
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    size_t o = 0, q = 0, pad = 0;
    uint32_t acc = 0;

    if (buf == NULL) {
        return LSH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i], v;
        if (skip_ws && is_b64_ws(c)) {
            continue;
        }
        if (c == '=') {
            /* Padding only in the last two places of the last quad. */
            if (q < 2) {
                goto bad;
            }
            pad++;
            v = 0;
        } else {
            if (pad > 0 || (v = b64_value(c)) < 0) {
                goto bad;
            }
        }
        acc = acc << 6 | (uint32_t)v;
        if (++q < 4) {
            continue;
        }
        buf[o++] = (uint8_t)(acc >> 16);
        if (pad < 2) {
            buf[o++] = (uint8_t)(acc >> 8);
        }
        if (pad < 1) {
            buf[o++] = (uint8_t)acc;
        }
        /* Bits under the padding must be zero (one encoding per value). */
        if ((pad == 1 && (acc & 0xff) != 0) ||
            (pad == 2 && (acc & 0xffff) != 0)) {
            goto bad;
        }
        q = 0;
        acc = 0;
        if (pad > 0) {
            /* Nothing but (skippable) whitespace may follow padding. */
            for (size_t j = i + 1; j < n; j++) {
                if (!(skip_ws && is_b64_ws((unsigned char)s[j]))) {
                    goto bad;
                }
            }
            break;
        }
    }
    if (q != 0) {
        goto bad;
    }
    *out = buf;
    *outlen = o;
    return 0;
bad:
    free(buf);
    return LSH_EINVAL;
}

int
lsh__tf_b64_encode(const uint8_t *p, size_t n, lsh_buf *out)
{
    size_t enclen;
    uint8_t *dst;
    int r;

    if (n > (size_t)INT32_MAX / 4 * 3 - 3) {
        return LSH_ETOOLARGE;
    }
    enclen = (n + 2) / 3 * 4;
    /* EVP_EncodeBlock writes a NUL after the text: reserve it, drop it. */
    if ((r = lsh_buf_append_space(out, enclen + 1, &dst)) != 0) {
        return r;
    }
    if (EVP_EncodeBlock(dst, p, (int)n) != (int)enclen) {
        r = lsh_buf_truncate(out, enclen + 1);
        (void)r;
        return LSH_ECRYPTO;
    }
    return lsh_buf_truncate(out, 1);
}

/*
 * Keys.
 */

int
lsh__tf_is_key_type(const char *s, size_t n)
{
    char name[64];
    enum lsh_key_type t;
    size_t sl = sizeof(CERT_SUFFIX) - 1;

    if (n == 0 || n >= sizeof(name)) {
        return 0;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    if (n > sl && strcmp(name + n - sl, CERT_SUFFIX) == 0) {
        /* "ssh-ed25519-cert-v01@openssh.com" -> "ssh-ed25519" */
        name[n - sl] = '\0';
    }
    return lsh_key_type_from_name(name, &t) == 0;
}

int
lsh__tf_read_key(const char **cp, lsh_key **out, const char **reason)
{
    const char *s = lsh__tf_skip_ws(*cp), *b;
    size_t tl = lsh__tf_token_len(s), bl;
    char type[64];
    enum lsh_key_type t;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    lsh_key *k = NULL;
    int r;

    if (tl == 0) {
        *reason = "missing key";
        return LSH_EBADKEY;
    }
    if (tl >= sizeof(type)) {
        *reason = "unknown key type";
        return LSH_EKEYTYPE;
    }
    memcpy(type, s, tl);
    type[tl] = '\0';
    if (lsh_key_type_from_name(type, &t) != 0) {
        *reason = lsh__tf_is_key_type(s, tl)
                      ? "certificates are not allowed here"
                      : "unknown key type";
        return LSH_EKEYTYPE;
    }
    b = lsh__tf_skip_ws(s + tl);
    if ((bl = lsh__tf_token_len(b)) == 0) {
        *reason = "missing base64 key";
        return LSH_EBADKEY;
    }
    if ((r = lsh__tf_b64_decode(b, bl, 0, &blob, &bloblen)) != 0) {
        *reason = "invalid base64 key";
        return r == LSH_ENOMEM ? r : LSH_EBADKEY;
    }
    r = lsh_key_from_blob(blob, bloblen, &k);
    free(blob);
    if (r != 0) {
        *reason = r == LSH_EKEYSIZE ? "key size out of range"
                                    : "invalid key blob";
        return r == LSH_ENOMEM || r == LSH_EKEYSIZE ? r : LSH_EBADKEY;
    }
    if (strcmp(lsh_key_type_name(k), type) != 0) {
        lsh_key_free(k);
        *reason = "key type does not match its blob";
        return LSH_EBADKEY;
    }
    *out = k;
    *cp = b + bl;
    return 0;
}

/*
 * Options.
 */

const char *
lsh__tf_skip_options(const char *s)
{
    int quoted = 0;

    for (; *s != '\0' && (quoted || (*s != ' ' && *s != '\t')); s++) {
        if (s[0] == '\\' && s[1] == '"') {
            s++;
        } else if (*s == '"') {
            quoted = !quoted;
        }
    }
    return quoted ? NULL : s;
}

/*
 * ASCII-only case-insensitive prefix comparison: option names must not
 * depend on the process locale (a Turkish locale folds 'I' differently).
 */
static int
ascii_ncaseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') {
            x += 'a' - 'A';
        }
        if (y >= 'A' && y <= 'Z') {
            y += 'a' - 'A';
        }
        if (x != y) {
            return 0;
        }
        if (x == '\0') {
            return 1;
        }
    }
    return 1;
}

static int
opt_end(char c)
{
    return c == '\0' || c == ',' || c == ' ' || c == '\t';
}

int
lsh__tf_opt_flag(const char **opts, const char *name, int allow_negate)
{
    const char *s = *opts;
    size_t len = strlen(name);
    int negated = 0;

    if (allow_negate && ascii_ncaseeq(s, "no-", 3)) {
        s += 3;
        negated = 1;
    }
    if (!ascii_ncaseeq(s, name, len) || !opt_end(s[len])) {
        return -1;
    }
    *opts = s + len;
    return !negated;
}

int
lsh__tf_opt_match(const char **opts, const char *name)
{
    size_t len = strlen(name);

    if (!ascii_ncaseeq(*opts, name, len) || (*opts)[len] != '=') {
        return 0;
    }
    *opts += len + 1;
    return 1;
}

int
lsh__tf_opt_dequote(const char **opts, char **out, const char **reason)
{
    const char *s = *opts;
    char *v;
    size_t i = 0;

    if (*s != '"') {
        *reason = "missing start quote";
        return LSH_EINVAL;
    }
    s++;
    if ((v = malloc(strlen(s) + 1)) == NULL) {
        *reason = "out of memory";
        return LSH_ENOMEM;
    }
    while (*s != '\0' && *s != '"') {
        if (s[0] == '\\' && s[1] == '"') {
            s++;
        }
        v[i++] = *s++;
    }
    if (*s == '\0') {
        free(v);
        *reason = "missing end quote";
        return LSH_EINVAL;
    }
    v[i] = '\0';
    *out = v;
    *opts = s + 1;
    return 0;
}

/*
 * Times.
 */

static int
digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int
leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int y, int m, int d)
{
    /* Shift the year to start in March so that Feb 29 comes last. */
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int
lsh__tf_parse_time(const char *s, uint64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    size_t l = strlen(s);
    int utc = 0, y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t t;

    if (l > 1 && (s[l - 1] == 'Z' || s[l - 1] == 'z')) {
        utc = 1;
        l -= 1;
    } else if (l > 3 && ascii_ncaseeq(s + l - 3, "utc", 4)) {
        utc = 1;
        l -= 3;
    }
    if (l != 8 && l != 12 && l != 14) {
        return LSH_EINVAL;
    }
    if (digits(s, 4, &y) != 0 || digits(s + 4, 2, &mo) != 0 ||
        digits(s + 6, 2, &d) != 0 ||
        (l >= 12 && (digits(s + 8, 2, &h) != 0 ||
                     digits(s + 10, 2, &mi) != 0)) ||
        (l == 14 && digits(s + 12, 2, &sec) != 0)) {
        return LSH_EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 ||
        sec > 59) {
        return LSH_EINVAL;
    }
    if (utc) {
        t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    } else {
        /* The system time zone, daylight saving time as it applies. */
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        tm.tm_isdst = -1;
        t = (int64_t)mktime(&tm);
    }
    if (t < 0) {
        return LSH_EINVAL;
    }
    *out = (uint64_t)t;
    return 0;
}

/*
 * Problems.
 */

const char *
lsh__tf_keep_filename(lsh__tf_problems *pl, const char *filename)
{
    char **v;
    char *copy;

    if (filename == NULL) {
        return "(memory)";
    }
    for (size_t i = 0; i < pl->nfiles; i++) {
        if (strcmp(pl->files[i], filename) == 0) {
            return pl->files[i];
        }
    }
    if ((copy = strdup(filename)) == NULL) {
        return NULL;
    }
    if ((v = realloc(pl->files, (pl->nfiles + 1) * sizeof(*v))) == NULL) {
        free(copy);
        return NULL;
    }
    pl->files = v;
    pl->files[pl->nfiles++] = copy;
    return copy;
}

int
lsh__tf_problem_add(lsh__tf_problems *pl, const char *filename, size_t line,
                    const char *reason, const char *detail, size_t dlen)
{
    char safe[65];
    size_t len;
    char *msg;

    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 8;
        lsh_trust_problem *v = realloc(pl->v, cap * sizeof(*v));
        if (v == NULL) {
            return LSH_ENOMEM;
        }
        pl->v = v;
        pl->cap = cap;
    }
    if (detail != NULL) {
        if (dlen > 64) {
            dlen = 64;
        }
        for (size_t i = 0; i < dlen; i++) {
            unsigned char c = (unsigned char)detail[i];
            safe[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        safe[dlen] = '\0';
        len = strlen(reason) + dlen + 4;
    } else {
        len = strlen(reason) + 1;
    }
    if ((msg = malloc(len)) == NULL) {
        return LSH_ENOMEM;
    }
    if (detail != NULL) {
        snprintf(msg, len, "%s \"%s\"", reason, safe);
    } else {
        memcpy(msg, reason, len);
    }
    pl->v[pl->n].filename = filename;
    pl->v[pl->n].line = line;
    pl->v[pl->n].reason = msg;
    pl->n++;
    return 0;
}

void
lsh__tf_problems_truncate(lsh__tf_problems *pl, size_t keep)
{
    while (pl->n > keep) {
        free((char *)pl->v[--pl->n].reason);
    }
}

void
lsh__tf_problems_free(lsh__tf_problems *pl)
{
    lsh__tf_problems_truncate(pl, 0);
    free(pl->v);
    for (size_t i = 0; i < pl->nfiles; i++) {
        free(pl->files[i]);
    }
    free(pl->files);
    memset(pl, 0, sizeof(*pl));
}
