/*
 * Transport compression (RFC 4253 §6.2 "zlib",
 * draft-miller-secsh-compression-delayed "zlib@openssh.com").
 *
 * One zlib stream per direction, initialised after each key exchange and
 * carried from packet to packet; every packet ends with a partial flush so
 * that the receiver can inflate it completely on its own.
 */
#ifndef LSH_SSH_TRANSPORT_COMP_H
#define LSH_SSH_TRANSPORT_COMP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum lsh_comp_type {
    LSH_COMP_NONE = 0,
    LSH_COMP_ZLIB,        /* active from NEWKEYS */
    LSH_COMP_ZLIB_DELAYED /* zlib@openssh.com: active after user auth */
} lsh_comp_type;

/* Maps an SSH name to a type: 0 and *type set, or LSH_ENOALG.  NULL is none. */
LSH_MUST_CHECK int lsh_comp_lookup(const char *name, lsh_comp_type *type);

/*
 * One direction's zlib stream.  Zero-initialised means inactive.  Owned
 * by the embedding struct; release with lsh_comp_free().
 */
typedef struct lsh_comp_ctx {
    struct z_stream_s *z; /* NULL while inactive */
    int deflating;        /* 1: compressor, 0: decompressor */
} lsh_comp_ctx;

/*
 * Starts a fresh stream (compress nonzero for sending).  Allocates zlib's
 * state once here; the per-packet calls below do not allocate except to
 * grow the caller's output buffer.  LSH_ENOMEM or LSH_ECOMPRESSION.
 */
LSH_MUST_CHECK int lsh_comp_start(lsh_comp_ctx *c, int compress);

/* 1 when a stream is running. */
static inline int
lsh_comp_active(const lsh_comp_ctx *c)
{
    return c->z != NULL;
}

/* Ends the stream, zeroing zlib's state (it held plaintext). */
void lsh_comp_free(lsh_comp_ctx *c);

/*
 * Compresses src[0..n) with a partial flush and appends the result to out.
 * On failure out is restored to its previous length; the stream is then
 * unusable (the caller treats it as fatal).
 */
LSH_MUST_CHECK int lsh_comp_deflate(lsh_comp_ctx *c, const uint8_t *src,
                                    size_t n, lsh_buf *out);

/*
 * Inflates src[0..n), one packet's payload, and appends the output to out.
 * LSH_ECOMPRESSION for corrupt data, for the end of the zlib stream, or
 * when the output would exceed `cap` bytes (a decompression bomb stops
 * there, having produced at most cap + 1 bytes).  On failure out is
 * restored to its previous length.
 */
LSH_MUST_CHECK int lsh_comp_inflate(lsh_comp_ctx *c, const uint8_t *src,
                                    size_t n, size_t cap, lsh_buf *out);

#endif
