/*
 * lsh_buf: an owned, growable, capped byte buffer for output (RFC 4251 §5
 * wire types).
 *
 * IMPLEMENTATION NOTES
 * The live bytes are data[off .. len).  Writers append at len; consumers
 * advance off (lsh_buf_consume).  Growth never exceeds `max`: an append
 * that would cross it fails with LSH_ETOOLARGE and leaves the buffer
 * exactly as it was.
 *
 * Room at the end is made in amortised O(1): the live bytes are moved
 * back to the start of the storage (compaction) only when the consumed
 * prefix is at least as long as they are, or when the storage cannot
 * grow any more (it is at `max`); otherwise the storage doubles.  So a
 * queue that is appended to at the end and consumed at the front moves
 * each byte at most once more than it is written, however much of it
 * stays unsent.
 *
 * Wiping.  A buffer is "secret" by default (lsh_buf_init): every byte it
 * drops is zeroed at once (consume, truncate, reset, the tail a
 * compaction vacates), and so is storage given back, because packet
 * buffers carry plaintext and key material.  A buffer marked bulk
 * (lsh_buf_set_bulk) is for data that may stay in memory while the
 * buffer lives (file contents on their way out, ciphertext): dropped
 * bytes are not zeroed one by one, but all storage that ever held a
 * byte (its high-water mark, `dirty`) is zeroed before it goes back to
 * the allocator (free, release, growth into new storage) or on
 * lsh_buf_wipe.  Either way no byte reaches free() unzeroed.  Key
 * material must stay in secret buffers.
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
    size_t dirty; /* data[0 .. dirty) may hold bytes: high-water mark */
    int bulk;     /* 0: secret (the default), 1: bulk; see above */
} lsh_buf;

/* Initialises an empty secret buffer that will hold at most max bytes
 * (0: default). */
void lsh_buf_init(lsh_buf *b, size_t max);

/*
 * Marks a buffer bulk (on != 0) or secret (0); the mark survives
 * lsh_buf_free.  Turning a bulk buffer secret wipes it first (its live
 * bytes stay), so that a secret buffer never holds stale bytes.
 */
void lsh_buf_set_bulk(lsh_buf *b, int on);

/* Zeroes all storage that held bytes and drops the live ones; the
 * storage is kept. */
void lsh_buf_wipe(lsh_buf *b);

/* Zeroes and frees the storage; the buffer is left empty and reusable. */
void lsh_buf_free(lsh_buf *b);

/* Drops the live bytes (zeroing them unless bulk) but keeps the storage. */
void lsh_buf_reset(lsh_buf *b);

/*
 * Gives the storage of an empty buffer back, so that a buffer that grew
 * for a burst holds nothing while idle; the next append allocates again
 * (at once to the size it needs).  No-op while bytes are live.  A secret
 * buffer's storage is freed without another pass of zeroes (every byte
 * that was ever live was zeroed when it was dropped); a bulk buffer's is
 * zeroed up to its high-water mark first.
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

/* Drops n bytes from the front (zeroed unless bulk); LSH_EINVAL if fewer
 * are live. */
int lsh_buf_consume(lsh_buf *b, size_t n);

/* Drops n bytes from the end (zeroed unless bulk); LSH_EINVAL if fewer
 * are live. */
int lsh_buf_truncate(lsh_buf *b, size_t n);

/* Makes room for n more bytes without appending them. */
LSH_MUST_CHECK int lsh_buf_reserve(lsh_buf *b, size_t n);

/*
 * Appends n uninitialised bytes and returns a pointer to them in *out
 * (borrowed, valid until the next modifying call).
 */
LSH_MUST_CHECK int lsh_buf_append_space(lsh_buf *b, size_t n, uint8_t **out);

/*
 * Room for up to n more bytes after the live ones, made as lsh_buf_reserve
 * makes it (less when max allows less): *out points at it and *room is
 * its size (0 when the buffer is at max).  Nothing is appended until
 * lsh_buf_commit(b, k) makes the first k of them live (k <= *room), with
 * no other modifying call in between.  For a reader that fills the
 * buffer in place (a socket read).
 */
LSH_MUST_CHECK int lsh_buf_space(lsh_buf *b, size_t n, uint8_t **out,
                                 size_t *room);
void lsh_buf_commit(lsh_buf *b, size_t k);

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
