#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

uint8_t lsh__buf_empty[1];

void
lsh_buf_init(lsh_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max ? max : LSH_BUF_DEFAULT_MAX;
}

/* Zeroes data[from .. to) (nothing when to <= from). */
static void
zero_range(lsh_buf *b, size_t from, size_t to)
{
    if (b->data != NULL && to > from) {
        lsh_memzero(b->data + from, to - from);
    }
}

/* The end of the storage that may hold bytes (live or stale). */
static size_t
used_end(const lsh_buf *b)
{
    return b->dirty > b->len ? b->dirty : b->len;
}

/*
 * Gives the storage back, zeroed where it ever held a byte (up to the
 * high-water mark: pages never written are not touched).
 */
static void
drop_storage(lsh_buf *b)
{
    if (b->data == NULL) {
        return;
    }
    lsh_freezero(b->data, used_end(b));
    b->data = NULL;
}

void
lsh_buf_free(lsh_buf *b)
{
    size_t max = b->max;
    int bulk = b->bulk;
    drop_storage(b);
    memset(b, 0, sizeof(*b));
    b->max = max;
    b->bulk = bulk;
}

void
lsh_buf_set_bulk(lsh_buf *b, int on)
{
    if (!on && b->bulk) {
        /* A secret buffer holds nothing but its live bytes. */
        zero_range(b, 0, b->off);
        zero_range(b, b->len, b->dirty);
        b->dirty = b->len;
    }
    b->bulk = on ? 1 : 0;
}

void
lsh_buf_wipe(lsh_buf *b)
{
    zero_range(b, 0, used_end(b));
    b->off = b->len = b->dirty = 0;
}

void
lsh_buf_reset(lsh_buf *b)
{
    if (!b->bulk) {
        zero_range(b, 0, b->len);
    }
    b->off = b->len = 0;
}

void
lsh_buf_release(lsh_buf *b)
{
    if (b->data == NULL || b->len != b->off) {
        return;
    }
    if (b->bulk) {
        zero_range(b, 0, b->dirty);
    }
    /* A secret buffer zeroed every byte as it was dropped. */
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = b->dirty = 0;
}

int
lsh_buf_consume(lsh_buf *b, size_t n)
{
    if (n > lsh_buf_len(b)) {
        return LSH_EINVAL;
    }
    if (n == 0) {
        return 0;
    }
    if (!b->bulk) {
        lsh_memzero(b->data + b->off, n);
    }
    b->off += n;
    if (b->off == b->len) {
        b->off = b->len = 0;
    }
    return 0;
}

int
lsh_buf_truncate(lsh_buf *b, size_t n)
{
    if (n > lsh_buf_len(b)) {
        return LSH_EINVAL;
    }
    if (n == 0) {
        return 0;
    }
    b->len -= n;
    if (!b->bulk) {
        lsh_memzero(b->data + b->len, n);
    }
    return 0;
}

/*
 * Makes room for `need` live bytes (the caller found that they do not
 * fit after len).  Compaction moves the live bytes back to the start,
 * but only when the consumed prefix is at least as long as they are
 * (the move then costs no more than the bytes consumed since the last
 * one: amortised O(1) per byte) or when the storage is at `max` and
 * cannot grow.  Otherwise the storage doubles (amortised O(1) too).
 * Reallocation goes through a fresh block so that the old one can be
 * zeroed: packet buffers hold plaintext.
 */
static int
grow(lsh_buf *b, size_t need)
{
    size_t live = lsh_buf_len(b);
    size_t ncap;
    uint8_t *n;

    if (need > b->max) {
        return LSH_ETOOLARGE;
    }
    if (b->off > 0 && need <= b->cap &&
        (b->off >= live || b->cap >= b->max)) {
        memmove(b->data, b->data + b->off, live);
        if (!b->bulk) {
            /* Stale copies of moved bytes (the prefix is zero already). */
            zero_range(b, live, b->len);
        } else if (b->len > b->dirty) {
            b->dirty = b->len;
        }
        b->off = 0;
        b->len = live;
        return 0;
    }
    if (b->cap < 128) {
        ncap = 256;
    } else if (lsh_mul_overflow(b->cap, (size_t)2, &ncap)) {
        ncap = SIZE_MAX;
    }
    while (ncap < need) {
        if (lsh_mul_overflow(ncap, (size_t)2, &ncap)) {
            return LSH_EOVERFLOW;
        }
    }
    if (ncap > b->max) {
        ncap = b->max;
    }
    n = malloc(ncap);
    if (n == NULL) {
        return LSH_ENOMEM;
    }
    if (live > 0) {
        memcpy(n, b->data + b->off, live);
    }
    drop_storage(b);
    b->data = n;
    b->cap = ncap;
    b->off = 0;
    b->len = live;
    b->dirty = live;
    return 0;
}

int
lsh_buf_reserve(lsh_buf *b, size_t n)
{
    size_t need;
    if (lsh_add_overflow(lsh_buf_len(b), n, &need)) {
        return LSH_EOVERFLOW;
    }
    if (need > b->max) {
        return LSH_ETOOLARGE;
    }
    if (b->len + n <= b->cap) {
        return 0;
    }
    return grow(b, need);
}

int
lsh_buf_append_space(lsh_buf *b, size_t n, uint8_t **out)
{
    int r = lsh_buf_reserve(b, n);
    if (r != 0) {
        return r;
    }
    *out = b->data + b->len;
    b->len += n;
    if (b->len > b->dirty) {
        b->dirty = b->len;
    }
    return 0;
}

int
lsh_buf_space(lsh_buf *b, size_t n, uint8_t **out, size_t *room)
{
    size_t allowed = b->max - lsh_buf_len(b);
    int r;
    if (n > allowed) {
        n = allowed;
    }
    *out = NULL;
    *room = 0;
    if (n == 0) {
        return 0;
    }
    if ((r = lsh_buf_reserve(b, n)) != 0) {
        return r;
    }
    *out = b->data + b->len;
    *room = b->cap - b->len < allowed ? b->cap - b->len : allowed;
    return 0;
}

void
lsh_buf_commit(lsh_buf *b, size_t k)
{
    if (k > b->cap - b->len) {
        k = b->cap - b->len; /* never past the storage */
    }
    b->len += k;
    if (b->len > b->dirty) {
        b->dirty = b->len;
    }
}

int
lsh_buf_put(lsh_buf *b, const void *p, size_t n)
{
    uint8_t *dst;
    int r;
    if (n == 0) {
        return 0;
    }
    if ((r = lsh_buf_append_space(b, n, &dst)) != 0) {
        return r;
    }
    memcpy(dst, p, n);
    return 0;
}

int
lsh_buf_put_u8(lsh_buf *b, uint8_t v)
{
    return lsh_buf_put(b, &v, 1);
}

int
lsh_buf_put_bool(lsh_buf *b, int v)
{
    return lsh_buf_put_u8(b, v ? 1 : 0);
}

int
lsh_buf_put_u32(lsh_buf *b, uint32_t v)
{
    uint8_t tmp[4];
    lsh_poke_u32(tmp, v);
    return lsh_buf_put(b, tmp, sizeof(tmp));
}

int
lsh_buf_put_u64(lsh_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    lsh_poke_u64(tmp, v);
    return lsh_buf_put(b, tmp, sizeof(tmp));
}

int
lsh_buf_put_string(lsh_buf *b, const void *p, size_t n)
{
    uint8_t *dst;
    size_t total;
    int r;
    if (n > UINT32_MAX) {
        return LSH_ETOOLARGE;
    }
    if (lsh_add_overflow(n, (size_t)4, &total)) {
        return LSH_EOVERFLOW;
    }
    if ((r = lsh_buf_append_space(b, total, &dst)) != 0) {
        return r;
    }
    lsh_poke_u32(dst, (uint32_t)n);
    if (n > 0) {
        memcpy(dst + 4, p, n);
    }
    return 0;
}

int
lsh_buf_put_cstring(lsh_buf *b, const char *s)
{
    return lsh_buf_put_string(b, s, s ? strlen(s) : 0);
}

int
lsh_buf_put_stringb(lsh_buf *b, const lsh_buf *v)
{
    return lsh_buf_put_string(b, lsh_buf_ptr(v), lsh_buf_len(v));
}

int
lsh_buf_put_mpint_unsigned(lsh_buf *b, const uint8_t *mag, size_t n)
{
    uint8_t *dst;
    size_t pad, total;
    int r;

    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    pad = (n > 0 && (mag[0] & 0x80)) ? 1 : 0;
    if (n > UINT32_MAX - 1) {
        return LSH_ETOOLARGE;
    }
    total = 4 + pad + n;
    if ((r = lsh_buf_append_space(b, total, &dst)) != 0) {
        return r;
    }
    lsh_poke_u32(dst, (uint32_t)(n + pad));
    if (pad) {
        dst[4] = 0;
    }
    if (n > 0) {
        memcpy(dst + 4 + pad, mag, n);
    }
    return 0;
}

/*
 * Negative values are written in two's complement: invert the magnitude
 * and add one, then sign-extend with 0xff when the top bit is clear, and
 * strip redundant leading 0xff bytes (RFC 4251 §5: "Unnecessary leading
 * bytes with the value 0 or 255 MUST NOT be included").
 */
int
lsh_buf_put_mpint_signed(lsh_buf *b, int negative, const uint8_t *mag,
                         size_t n)
{
    uint8_t *tmp, *dst;
    size_t start = 0, len, total;
    unsigned carry = 1;
    int r;

    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    if (!negative || n == 0) {
        return lsh_buf_put_mpint_unsigned(b, mag, n);
    }
    if (n > UINT32_MAX - 1) {
        return LSH_ETOOLARGE;
    }
    tmp = malloc(n + 1);
    if (tmp == NULL) {
        return LSH_ENOMEM;
    }
    tmp[0] = 0xff;
    for (size_t i = n; i > 0; i--) {
        unsigned v = (unsigned)(uint8_t)~mag[i - 1] + carry;
        tmp[i] = (uint8_t)v;
        carry = v >> 8;
    }
    /* Drop 0xff bytes that the next byte's sign bit makes redundant. */
    while (start < n && tmp[start] == 0xff && (tmp[start + 1] & 0x80)) {
        start++;
    }
    len = n + 1 - start;
    total = 4 + len;
    r = lsh_buf_append_space(b, total, &dst);
    if (r == 0) {
        lsh_poke_u32(dst, (uint32_t)len);
        memcpy(dst + 4, tmp + start, len);
    }
    lsh_freezero(tmp, n + 1);
    return r;
}

static int
name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 * 1024) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ',') {
            return 0;
        }
    }
    return 1;
}

int
lsh_buf_put_namelist(lsh_buf *b, const char *const *names, size_t count)
{
    size_t total = 0, start = lsh_buf_len(b);
    uint8_t *dst;
    int r;

    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(names[i]);
        if (!name_ok(names[i], n)) {
            return LSH_EBADNAMELIST;
        }
        if (lsh_add_overflow(total, n + (i > 0), &total)) {
            return LSH_EOVERFLOW;
        }
    }
    if (total > UINT32_MAX) {
        return LSH_ETOOLARGE;
    }
    if ((r = lsh_buf_append_space(b, 4 + total, &dst)) != 0) {
        return r;
    }
    (void)start;
    lsh_poke_u32(dst, (uint32_t)total);
    dst += 4;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(names[i]);
        if (i > 0) {
            *dst++ = ',';
        }
        memcpy(dst, names[i], n);
        dst += n;
    }
    return 0;
}

int
lsh_buf_poke_u32(lsh_buf *b, size_t pos, uint32_t v)
{
    if (pos > lsh_buf_len(b) || lsh_buf_len(b) - pos < 4) {
        return LSH_EINVAL;
    }
    lsh_poke_u32(lsh_buf_ptr(b) + pos, v);
    return 0;
}
