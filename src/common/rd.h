/*
 * lsh_rd: a borrowed read cursor over wire data (RFC 4251 §5 types).
 *
 * Every getter checks, in this order: the length prefix is readable, the
 * length is under its cap, that many bytes are present.  On failure it
 * returns LSH_ETRUNCATED / LSH_ETOOLARGE / a format error, leaves its
 * outputs untouched and does not advance the cursor.  Pointers it returns
 * borrow the underlying memory: valid as long as that memory is.
 */
#ifndef LSH_COMMON_RD_H
#define LSH_COMMON_RD_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Largest string a getter accepts unless told otherwise (the packet cap). */
#define LSH_RD_DEFAULT_MAX ((size_t)256 * 1024)

typedef struct lsh_rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
} lsh_rd;

static inline void
lsh_rd_init(lsh_rd *rd, const void *p, size_t len)
{
    rd->p = (const uint8_t *)p;
    rd->len = len;
    rd->pos = 0;
}

static inline size_t
lsh_rd_remaining(const lsh_rd *rd)
{
    return rd->len - rd->pos;
}

/* Borrowed pointer to the unread bytes. */
static inline const uint8_t *
lsh_rd_cur(const lsh_rd *rd)
{
    return rd->p + rd->pos;
}

LSH_MUST_CHECK int lsh_rd_u8(lsh_rd *rd, uint8_t *out);
/* RFC 4251 §5: any nonzero byte is TRUE; *out is 0 or 1. */
LSH_MUST_CHECK int lsh_rd_bool(lsh_rd *rd, int *out);
LSH_MUST_CHECK int lsh_rd_u32(lsh_rd *rd, uint32_t *out);
LSH_MUST_CHECK int lsh_rd_u64(lsh_rd *rd, uint64_t *out);
/* n raw bytes (no length prefix). */
LSH_MUST_CHECK int lsh_rd_bytes(lsh_rd *rd, size_t n, const uint8_t **out);
/* Skips n raw bytes. */
LSH_MUST_CHECK int lsh_rd_skip(lsh_rd *rd, size_t n);

/* A string of at most LSH_RD_DEFAULT_MAX bytes. */
LSH_MUST_CHECK int lsh_rd_string(lsh_rd *rd, const uint8_t **out,
                                 size_t *outlen);
/* A string of at most max bytes. */
LSH_MUST_CHECK int lsh_rd_string_max(lsh_rd *rd, size_t max,
                                     const uint8_t **out, size_t *outlen);
/* A string that must not contain NUL bytes (names, text). */
LSH_MUST_CHECK int lsh_rd_text(lsh_rd *rd, const uint8_t **out,
                               size_t *outlen);
/* A string parsed as a nested cursor (e.g. a key blob). */
LSH_MUST_CHECK int lsh_rd_sub(lsh_rd *rd, lsh_rd *sub);

/*
 * An mpint (RFC 4251 §5).  Rejects non-minimal encodings (a leading 0x00
 * not needed for the sign, a leading 0xff not needed for the sign).
 * *neg is set to 1 for negative values; *mag and *maglen give the raw two's
 * complement bytes with the sign padding byte removed for positives.
 * Use lsh_rd_mpint_unsigned for the common case.
 */
LSH_MUST_CHECK int lsh_rd_mpint(lsh_rd *rd, int *neg, const uint8_t **mag,
                                size_t *maglen);

/*
 * A non-negative mpint of at most maxbytes magnitude bytes; *mag is the
 * big-endian magnitude without leading zeros (zero has length 0).
 * Negative values are LSH_EBADMPINT.
 */
LSH_MUST_CHECK int lsh_rd_mpint_unsigned(lsh_rd *rd, size_t maxbytes,
                                         const uint8_t **mag, size_t *maglen);

/*
 * A name-list (RFC 4251 §5): comma-separated, non-empty names of
 * printable US-ASCII.  An empty list is valid.
 */
LSH_MUST_CHECK int lsh_rd_namelist(lsh_rd *rd, const char **out,
                                   size_t *outlen);

/* LSH_ETRAILING unless every byte has been read. */
LSH_MUST_CHECK int lsh_rd_end(const lsh_rd *rd);

/*
 * Iterates a validated name-list: on each call stores the next name in
 * *name and *namelen and returns 1, or returns 0 at the end.  *pos starts at 0.
 */
int lsh_namelist_next(const char *list, size_t listlen, size_t *pos,
                      const char **name, size_t *namelen);

/* 1 if `name` (NUL-terminated) is in the list, else 0. */
int lsh_namelist_contains(const char *list, size_t listlen, const char *name);

/* Validates a name-list held in memory: 0 or LSH_EBADNAMELIST. */
int lsh_namelist_check(const char *list, size_t listlen);

#endif
