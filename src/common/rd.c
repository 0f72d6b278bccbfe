#include "common/rd.h"

#include <string.h>

#include "common/buf.h"

int
lsh_rd_u8(lsh_rd *rd, uint8_t *out)
{
    if (lsh_rd_remaining(rd) < 1) {
        return LSH_ETRUNCATED;
    }
    *out = rd->p[rd->pos++];
    return 0;
}

int
lsh_rd_bool(lsh_rd *rd, int *out)
{
    uint8_t v;
    int r = lsh_rd_u8(rd, &v);
    if (r == 0) {
        *out = v != 0;
    }
    return r;
}

int
lsh_rd_u32(lsh_rd *rd, uint32_t *out)
{
    if (lsh_rd_remaining(rd) < 4) {
        return LSH_ETRUNCATED;
    }
    *out = lsh_peek_u32(rd->p + rd->pos);
    rd->pos += 4;
    return 0;
}

int
lsh_rd_u64(lsh_rd *rd, uint64_t *out)
{
    if (lsh_rd_remaining(rd) < 8) {
        return LSH_ETRUNCATED;
    }
    *out = ((uint64_t)lsh_peek_u32(rd->p + rd->pos) << 32) |
           lsh_peek_u32(rd->p + rd->pos + 4);
    rd->pos += 8;
    return 0;
}

int
lsh_rd_bytes(lsh_rd *rd, size_t n, const uint8_t **out)
{
    if (lsh_rd_remaining(rd) < n) {
        return LSH_ETRUNCATED;
    }
    *out = rd->p + rd->pos;
    rd->pos += n;
    return 0;
}

int
lsh_rd_skip(lsh_rd *rd, size_t n)
{
    const uint8_t *unused;
    return lsh_rd_bytes(rd, n, &unused);
}

int
lsh_rd_string_max(lsh_rd *rd, size_t max, const uint8_t **out,
                  size_t *outlen)
{
    uint32_t n;
    if (lsh_rd_remaining(rd) < 4) {
        return LSH_ETRUNCATED;
    }
    n = lsh_peek_u32(rd->p + rd->pos);
    if (n > max) {
        return LSH_ETOOLARGE;
    }
    if (lsh_rd_remaining(rd) - 4 < n) {
        return LSH_ETRUNCATED;
    }
    *out = rd->p + rd->pos + 4;
    *outlen = n;
    rd->pos += 4 + (size_t)n;
    return 0;
}

int
lsh_rd_string(lsh_rd *rd, const uint8_t **out, size_t *outlen)
{
    return lsh_rd_string_max(rd, LSH_RD_DEFAULT_MAX, out, outlen);
}

int
lsh_rd_text(lsh_rd *rd, const uint8_t **out, size_t *outlen)
{
    lsh_rd save = *rd;
    const uint8_t *p;
    size_t n;
    int r = lsh_rd_string(rd, &p, &n);
    if (r != 0) {
        return r;
    }
    if (n > 0 && memchr(p, 0, n) != NULL) {
        *rd = save;
        return LSH_EBADSTRING;
    }
    *out = p;
    *outlen = n;
    return 0;
}

int
lsh_rd_sub(lsh_rd *rd, lsh_rd *sub)
{
    const uint8_t *p;
    size_t n;
    int r = lsh_rd_string(rd, &p, &n);
    if (r == 0) {
        lsh_rd_init(sub, p, n);
    }
    return r;
}

int
lsh_rd_mpint(lsh_rd *rd, int *neg, const uint8_t **mag, size_t *maglen)
{
    lsh_rd save = *rd;
    const uint8_t *p;
    size_t n;
    int r = lsh_rd_string(rd, &p, &n);
    if (r != 0) {
        return r;
    }
    /* RFC 4251 §5: no unnecessary leading 0x00 or 0xff bytes. */
    if (n >= 2 && ((p[0] == 0x00 && !(p[1] & 0x80)) ||
                   (p[0] == 0xff && (p[1] & 0x80)))) {
        *rd = save;
        return LSH_EBADMPINT;
    }
    if (n == 1 && p[0] == 0x00) {
        /* Zero must be encoded as the empty string. */
        *rd = save;
        return LSH_EBADMPINT;
    }
    *neg = n > 0 && (p[0] & 0x80);
    if (!*neg && n > 0 && p[0] == 0) {
        p++;
        n--;
    }
    *mag = p;
    *maglen = n;
    return 0;
}

int
lsh_rd_mpint_unsigned(lsh_rd *rd, size_t maxbytes, const uint8_t **mag,
                      size_t *maglen)
{
    lsh_rd save = *rd;
    const uint8_t *p;
    size_t n;
    int neg, r;
    if ((r = lsh_rd_mpint(rd, &neg, &p, &n)) != 0) {
        return r;
    }
    if (neg) {
        *rd = save;
        return LSH_EBADMPINT;
    }
    if (n > maxbytes) {
        *rd = save;
        return LSH_ETOOLARGE;
    }
    *mag = p;
    *maglen = n;
    return 0;
}

int
lsh_namelist_check(const char *list, size_t n)
{
    size_t start = 0;
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i == n || list[i] == ',') {
            if (i == start) {
                return LSH_EBADNAMELIST; /* empty name */
            }
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)list[i];
        if (c <= 0x20 || c >= 0x7f) {
            return LSH_EBADNAMELIST;
        }
    }
    return 0;
}

int
lsh_rd_namelist(lsh_rd *rd, const char **out, size_t *outlen)
{
    lsh_rd save = *rd;
    const uint8_t *p;
    size_t n;
    int r = lsh_rd_string(rd, &p, &n);
    if (r != 0) {
        return r;
    }
    if (lsh_namelist_check((const char *)p, n) != 0) {
        *rd = save;
        return LSH_EBADNAMELIST;
    }
    *out = (const char *)p;
    *outlen = n;
    return 0;
}

int
lsh_rd_end(const lsh_rd *rd)
{
    return rd->pos == rd->len ? 0 : LSH_ETRAILING;
}

int
lsh_namelist_next(const char *list, size_t listlen, size_t *pos,
                  const char **name, size_t *namelen)
{
    size_t start = *pos, end;
    if (start >= listlen) {
        return 0;
    }
    end = start;
    while (end < listlen && list[end] != ',') {
        end++;
    }
    *name = list + start;
    *namelen = end - start;
    *pos = end + 1;
    return 1;
}

int
lsh_namelist_contains(const char *list, size_t listlen, const char *want)
{
    size_t pos = 0, n, wl = strlen(want);
    const char *name;
    while (lsh_namelist_next(list, listlen, &pos, &name, &n)) {
        if (n == wl && memcmp(name, want, n) == 0) {
            return 1;
        }
    }
    return 0;
}
