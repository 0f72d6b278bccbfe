/*
 * Byte streams over Unix-domain sockets (the ssh-agent socket, RFC 9987
 * §6): connect, write, and a callback per chunk read.  No protocol
 * knowledge (DESIGN.md "Layers").
 *
 * Ownership: the owner creates an lsh_io_stream with
 * lsh_io_unix_connect and ends it with lsh_io_stream_close; the memory
 * goes after libuv's close callback, once on_closed has been called.
 */
#ifndef LSH_UVIO_STREAM_H
#define LSH_UVIO_STREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct lsh_io_stream lsh_io_stream;

typedef struct lsh_io_stream_cbs {
    /* Connected (status 0) or not (a negative LSH_E* and a message); on
     * failure on_closed follows. */
    void (*on_connected)(lsh_io_stream *s, int status, const char *detail,
                         void *data);
    /* Bytes read (borrowed for the call); n == 0: the peer closed, or a
     * read failed (detail says which). */
    void (*on_data)(lsh_io_stream *s, const uint8_t *p, size_t n,
                    const char *detail, void *data);
    /* The socket is closed; the stream is freed after this returns. */
    void (*on_closed)(lsh_io_stream *s, void *data);
} lsh_io_stream_cbs;

/*
 * Connects to the socket at path.  Returns 0 and *out (the callbacks
 * follow later), or a negative LSH_E* with no callback.
 */
int lsh_io_unix_connect(const char *path, const lsh_io_stream_cbs *cbs,
                        void *data, lsh_io_stream **out);

/* Queues n bytes (copied).  0, or LSH_ESTATE when not connected. */
int lsh_io_stream_write(lsh_io_stream *s, const uint8_t *p, size_t n);

/* Closes; on_closed comes from the loop later. */
void lsh_io_stream_close(lsh_io_stream *s);

#endif
