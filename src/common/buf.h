/*
 * lsh_buf: an owned, growable, capped byte buffer for output (RFC 4251 §5
 * wire types).
 *
 * IMPLEMENTATION NOTES
 * The live bytes are data[off .. len).  Writers append at len; consumers
 * advance off (lsh_buf_consume).  Growth never exceeds `max`: an append
 * that would cross it fails with LSH_ETOOLARGE and leaves the buffer
 * exactly as it was.  Freed and discarded memory is zeroed, because packet
 * buffers carry plaintext and key material.
 *
 * Ownership: the lsh_buf struct is owned by whoever embeds it; the storage
 * is owned by the buffer.  Pointers returned by lsh_buf_ptr() and
 * lsh_buf_append_space() are valid until the next call that modifies it.
 */
#ifndef LSH_COMMON_BUF_H
#define LSH_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Default cap when 0 is given to lsh_buf_init: 16 MiB. */
#define LSH_BUF_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

typedef struct lsh_buf {
    uint8_t *data;
    size_t off; /* first live byte */
    size_t len; /* end of live bytes */
    size_t cap; /* allocated size */
    size_t max; /* never grow past this many live bytes */
} lsh_buf;

/* Initialises an empty buffer that will hold at most max bytes (0: default). */
void lsh_buf_init(lsh_buf *b, size_t max);

/* Zeroes and frees the storage; the buffer is left empty and reusable. */
void lsh_buf_free(lsh_buf *b);

/* Drops the live bytes (zeroing them) but keeps the storage. */
void lsh_buf_reset(lsh_buf *b);

/*
 * Gives the storage of an empty buffer back, so that a buffer that grew
 * for a burst holds nothing while idle; the next append allocates again
 * (at once to the size it needs).  No-op while bytes are live.  The
 * storage is freed without another pass of zeroes: every byte that was
 * ever live was zeroed when it was consumed, reset or truncated.
 */
void lsh_buf_release(lsh_buf *b);

/* Number of live bytes, and a borrowed pointer to the first of them. */
static inline size_t
lsh_buf_len(const lsh_buf *b)
{
    return b->len - b->off;
}

/* Never NULL: an empty buffer without storage gives a pointer to a
 * static empty byte (so that pointer + 0 and memcpy(.., 0) stay defined). */
extern uint8_t lsh__buf_empty[1];

static inline uint8_t *
lsh_buf_ptr(const lsh_buf *b)
{
    return b->data != NULL ? b->data + b->off : lsh__buf_empty;
}

/* Drops n bytes from the front; LSH_EINVAL if fewer are live. */
int lsh_buf_consume(lsh_buf *b, size_t n);

/* Drops n bytes from the end; LSH_EINVAL if fewer are live. */
int lsh_buf_truncate(lsh_buf *b, size_t n);

/* Makes room for n more bytes without appending them. */
LSH_MUST_CHECK int lsh_buf_reserve(lsh_buf *b, size_t n);

/*
 * Appends n uninitialised bytes and returns a pointer to them in *out
 * (borrowed, valid until the next modifying call).
 */
LSH_MUST_CHECK int lsh_buf_append_space(lsh_buf *b, size_t n, uint8_t **out);

/* Raw bytes and the RFC 4251 §5 types.  On failure nothing is appended. */
LSH_MUST_CHECK int lsh_buf_put(lsh_buf *b, const void *p, size_t n);
LSH_MUST_CHECK int lsh_buf_put_u8(lsh_buf *b, uint8_t v);
LSH_MUST_CHECK int lsh_buf_put_bool(lsh_buf *b, int v);
LSH_MUST_CHECK int lsh_buf_put_u32(lsh_buf *b, uint32_t v);
LSH_MUST_CHECK int lsh_buf_put_u64(lsh_buf *b, uint64_t v);
LSH_MUST_CHECK int lsh_buf_put_string(lsh_buf *b, const void *p, size_t n);
LSH_MUST_CHECK int lsh_buf_put_cstring(lsh_buf *b, const char *s);
/* Appends the contents of another buffer as one string. */
LSH_MUST_CHECK int lsh_buf_put_stringb(lsh_buf *b, const lsh_buf *v);

/*
 * Appends an mpint whose value is the unsigned big-endian magnitude
 * mag[0..n) (leading zero bytes are stripped; a 0x00 is prefixed when the
 * top bit is set, RFC 4251 §5).
 */
LSH_MUST_CHECK int lsh_buf_put_mpint_unsigned(lsh_buf *b, const uint8_t *mag,
                                              size_t n);

/*
 * Appends an mpint for a signed value given as a sign and an unsigned
 * big-endian magnitude, in two's complement as RFC 4251 §5 requires.
 */
LSH_MUST_CHECK int lsh_buf_put_mpint_signed(lsh_buf *b, int negative,
                                            const uint8_t *mag, size_t n);

/*
 * Appends a name-list (RFC 4251 §5) built from `count` names.  Each name
 * must be non-empty printable US-ASCII without commas; else LSH_EBADNAMELIST.
 */
LSH_MUST_CHECK int lsh_buf_put_namelist(lsh_buf *b, const char *const *names,
                                        size_t count);

/* Overwrites 4 bytes at offset pos (relative to the live start) with v. */
LSH_MUST_CHECK int lsh_buf_poke_u32(lsh_buf *b, size_t pos, uint32_t v);

/* Big-endian helpers on raw memory. */
static inline uint32_t
lsh_peek_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void
lsh_poke_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint64_t
lsh_peek_u64(const uint8_t *p)
{
    return ((uint64_t)lsh_peek_u32(p) << 32) | lsh_peek_u32(p + 4);
}

static inline void
lsh_poke_u64(uint8_t *p, uint64_t v)
{
    lsh_poke_u32(p, (uint32_t)(v >> 32));
    lsh_poke_u32(p + 4, (uint32_t)v);
}

#endif
