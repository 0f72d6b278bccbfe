/*
 * Unix-domain byte streams (stream.h).  Reads go into one static buffer
 * (the loop is single-threaded) and are handed over at once; writes are
 * copied into their request.
 */
#include "uvio/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "uvio/internal.h"

#define READ_BUF (64 * 1024)

enum { ST_CONNECTING, ST_OPEN, ST_CLOSING };

struct lsh_io_stream {
    lsh_io_base base; /* pipe.data points here */
    uv_pipe_t pipe;
    uv_connect_t creq;
    int state;
    lsh_io_stream_cbs cbs;
    void *data;
};

typedef struct write_req {
    uv_write_t req;
    size_t len;
    uint8_t bytes[];
} write_req;

static uint8_t read_buf[READ_BUF];

static void
on_close(uv_handle_t *h)
{
    lsh_io_stream *s = h->data;
    if (s->cbs.on_closed != NULL) {
        s->cbs.on_closed(s, s->data);
    }
    free(s);
}

void
lsh_io_stream_close(lsh_io_stream *s)
{
    if (s == NULL || s->state == ST_CLOSING) {
        return;
    }
    s->state = ST_CLOSING;
    if (!uv_is_closing((uv_handle_t *)&s->pipe)) {
        uv_close((uv_handle_t *)&s->pipe, on_close);
    }
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    lsh_io_stream *s = st->data;
    if (nread > 0) {
        s->cbs.on_data(s, (const uint8_t *)buf->base, (size_t)nread, "",
                       s->data);
        return;
    }
    if (nread < 0) {
        uv_read_stop(st);
        s->cbs.on_data(s, NULL, 0,
                       nread == UV_EOF ? "closed by the peer"
                                       : uv_strerror((int)nread),
                       s->data);
    }
}

static void
on_connect(uv_connect_t *req, int status)
{
    lsh_io_stream *s = req->data;
    if (s->state == ST_CLOSING) {
        return;
    }
    if (status != 0) {
        s->cbs.on_connected(s, lsh__io_err(status), uv_strerror(status),
                            s->data);
        lsh_io_stream_close(s);
        return;
    }
    s->state = ST_OPEN;
    if ((status = uv_read_start((uv_stream_t *)&s->pipe, alloc_cb,
                                on_read)) != 0) {
        s->cbs.on_connected(s, lsh__io_err(status), uv_strerror(status),
                            s->data);
        lsh_io_stream_close(s);
        return;
    }
    s->cbs.on_connected(s, 0, "", s->data);
}

int
lsh_io_unix_connect(const char *path, const lsh_io_stream_cbs *cbs,
                    void *data, lsh_io_stream **out)
{
    lsh_io_stream *s;
    if (path == NULL || cbs == NULL || cbs->on_connected == NULL ||
        cbs->on_data == NULL) {
        return LSH_EINVAL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return LSH_ENOMEM;
    }
    s->base.close_cb = on_close;
    s->cbs = *cbs;
    s->data = data;
    s->state = ST_CONNECTING;
    uv_pipe_init(lsh__io_loop(), &s->pipe, 0);
    s->pipe.data = s;
    s->creq.data = s;
    uv_pipe_connect(&s->creq, &s->pipe, path, on_connect);
    *out = s;
    return 0;
}

static void
on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    (void)status; /* a failed write shows up as a failed read */
    /* Requests may carry private keys (agent ADD_IDENTITY). */
    lsh_freezero(w, sizeof(*w) + w->len);
}

int
lsh_io_stream_write(lsh_io_stream *s, const uint8_t *p, size_t n)
{
    write_req *w;
    uv_buf_t buf;
    if (s->state != ST_OPEN) {
        return LSH_ESTATE;
    }
    if ((w = malloc(sizeof(*w) + n)) == NULL) {
        return LSH_ENOMEM;
    }
    memcpy(w->bytes, p, n);
    w->len = n;
    buf = uv_buf_init((char *)w->bytes, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &buf, 1, on_write) != 0) {
        free(w);
        return LSH_EIO;
    }
    return 0;
}
