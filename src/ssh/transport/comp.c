/*
 * zlib compression for the transport (RFC 4253 §6.2).
 *
 * IMPLEMENTATION NOTES
 * zlib's memory comes from alloc_fn/free_fn below, which remember each
 * block's size so that free_fn can zero it: the deflate window and the
 * inflate window hold plaintext.  Output goes straight into the caller's
 * lsh_buf: deflate writes behind the packet header the packet layer has
 * already appended, and inflate appends to the payload buffer, so the
 * payload is copied once.
 */
#include "ssh/transport/comp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/mem.h"

/* Output grows in steps starting here (bytes). */
#define COMP_CHUNK 4096

int
lsh_comp_lookup(const char *name, lsh_comp_type *type)
{
    if (name == NULL || strcmp(name, "none") == 0) {
        *type = LSH_COMP_NONE;
    } else if (strcmp(name, "zlib") == 0) {
        *type = LSH_COMP_ZLIB;
    } else if (strcmp(name, "zlib@openssh.com") == 0) {
        *type = LSH_COMP_ZLIB_DELAYED;
    } else {
        return LSH_ENOALG;
    }
    return 0;
}

/* A size header in front of each block lets free_fn zero it. */
typedef union blk_hdr {
    size_t size;
    max_align_t align;
} blk_hdr;

static voidpf
alloc_fn(voidpf opaque, uInt items, uInt size)
{
    size_t n;
    blk_hdr *h;

    (void)opaque;
    if (lsh_mul_overflow((size_t)items, (size_t)size, &n) ||
        lsh_add_overflow(n, sizeof(blk_hdr), &n)) {
        return Z_NULL;
    }
    if ((h = malloc(n)) == NULL) {
        return Z_NULL;
    }
    h->size = n;
    return h + 1;
}

static void
free_fn(voidpf opaque, voidpf p)
{
    blk_hdr *h;

    (void)opaque;
    if (p == Z_NULL) {
        return;
    }
    h = (blk_hdr *)p - 1;
    lsh_freezero(h, h->size);
}

void
lsh_comp_free(lsh_comp_ctx *c)
{
    if (c->z != NULL) {
        if (c->deflating) {
            deflateEnd(c->z);
        } else {
            inflateEnd(c->z);
        }
        lsh_freezero(c->z, sizeof(*c->z));
    }
    memset(c, 0, sizeof(*c));
}

int
lsh_comp_start(lsh_comp_ctx *c, int compress)
{
    z_stream *z;
    int zr;

    lsh_comp_free(c);
    if ((z = calloc(1, sizeof(*z))) == NULL) {
        return LSH_ENOMEM;
    }
    z->zalloc = alloc_fn;
    z->zfree = free_fn;
    z->opaque = Z_NULL;
    zr = compress ? deflateInit(z, Z_DEFAULT_COMPRESSION) : inflateInit(z);
    if (zr != Z_OK) {
        lsh_freezero(z, sizeof(*z));
        return zr == Z_MEM_ERROR ? LSH_ENOMEM : LSH_ECOMPRESSION;
    }
    c->z = z;
    c->deflating = compress ? 1 : 0;
    return 0;
}

/* Puts `out` back to `len` live bytes after a failure. */
static int
restore(lsh_buf *out, size_t len, int err)
{
    if (lsh_buf_len(out) > len &&
        lsh_buf_truncate(out, lsh_buf_len(out) - len) != 0) {
        return LSH_EINVAL;
    }
    return err;
}

int
lsh_comp_deflate(lsh_comp_ctx *c, const uint8_t *src, size_t n, lsh_buf *out)
{
    size_t start = lsh_buf_len(out), chunk;
    uint8_t *dst;
    int r, zr;

    if (c->z == NULL || !c->deflating || n > UINT_MAX / 2) {
        return LSH_EINVAL;
    }
    c->z->next_in = (Bytef *)(uintptr_t)src;
    c->z->avail_in = (uInt)n;
    /* deflateBound plus room for the flush markers: usually one pass. */
    chunk = deflateBound(c->z, (uLong)n) + 16;
    for (;;) {
        if ((r = lsh_buf_append_space(out, chunk, &dst)) != 0) {
            return restore(out, start, r);
        }
        c->z->next_out = dst;
        c->z->avail_out = (uInt)chunk;
        zr = deflate(c->z, Z_PARTIAL_FLUSH);
        if (lsh_buf_truncate(out, c->z->avail_out) != 0 ||
            (zr != Z_OK && zr != Z_BUF_ERROR)) {
            return restore(out, start, LSH_ECOMPRESSION);
        }
        /* With a flush, spare output space means everything is out. */
        if (c->z->avail_out > 0 && c->z->avail_in == 0) {
            return 0;
        }
        chunk = COMP_CHUNK;
    }
}

int
lsh_comp_inflate(lsh_comp_ctx *c, const uint8_t *src, size_t n, size_t cap,
                 lsh_buf *out)
{
    size_t start = lsh_buf_len(out), produced = 0, chunk = COMP_CHUNK, room;
    uint8_t *dst;
    int r, zr;

    if (c->z == NULL || c->deflating || n > UINT_MAX || cap > UINT_MAX / 2) {
        return LSH_EINVAL;
    }
    c->z->next_in = (Bytef *)(uintptr_t)src;
    c->z->avail_in = (uInt)n;
    for (;;) {
        /* Never offer more than cap + 1 bytes in total: one byte past the
         * cap is enough to know the payload is too large. */
        room = cap + 1 - produced;
        if (chunk > room) {
            chunk = room;
        }
        if ((r = lsh_buf_append_space(out, chunk, &dst)) != 0) {
            return restore(out, start, r);
        }
        c->z->next_out = dst;
        c->z->avail_out = (uInt)chunk;
        zr = inflate(c->z, Z_SYNC_FLUSH);
        produced += chunk - c->z->avail_out;
        if (lsh_buf_truncate(out, c->z->avail_out) != 0 || produced > cap ||
            (zr != Z_OK && zr != Z_BUF_ERROR)) {
            /* Z_STREAM_END too: the SSH stream never ends mid-session. */
            return restore(out, start, LSH_ECOMPRESSION);
        }
        if (c->z->avail_out > 0) {
            /* inflate stops early only when the input is used up. */
            return c->z->avail_in == 0 ? 0
                                       : restore(out, start, LSH_ECOMPRESSION);
        }
        if (chunk < 65536) {
            chunk *= 2;
        }
    }
}
