/*
 * IMPLEMENTATION NOTES
 *
 * Reads land in one static buffer (the loop is single-threaded) and are
 * fed to the core at once, so an idle connection holds no read buffer;
 * what the core cannot take yet waits in `pending`, and reading pauses
 * until the core's events have been drained.
 *
 * Writes: uv_try_write straight from the core's output buffer, and only
 * the remainder is copied into a write request.
 *
 * Memory: what only connecting needs (the resolver and connect requests,
 * the address list, the config the core is made from, the error text) is
 * a separate block, `cn`, freed once the socket is up, so that an open
 * connection keeps only the handles, the core and a few flags (issue 6:
 * RSS per idle connection).  Accepted sockets never have one.
 *
 * process() is the one place that drains events, flushes and re-arms the
 * timer; it is re-entrancy safe (an on_event callback that calls back into
 * the core sets `again`).  Closing waits for in-flight writes when it is
 * graceful; the memory goes when both handles (tcp, timer) have closed.
 */
#include "uvio/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>

#include "common/error.h"
#include "crypto/rng.h"
#include "uvio/internal.h"
#include "uvio/loop.h"

/* One read takes up to this much: fewer read(2) calls per byte on bulk
 * input; the core takes it all (LSH_CONN_IN_MAX exceeds twice this). */
#define READ_BUF (256 * 1024)

enum { S_RESOLVING, S_CONNECTING, S_OPEN, S_CLOSING };

/* The part of an outgoing connection that only connecting needs. */
typedef struct io_connecting {
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    lsh_config cfg; /* the core is made from it once connected */
    struct addrinfo *ai, *ai_next;
    int last_uverr;
    int numeric; /* ai came from getaddrinfo(3), not uv_getaddrinfo */
    int bind_local; /* bind each socket to `local` before connecting */
    struct sockaddr_storage local;
    uint64_t connect_deadline;
    char detail[256];
} io_connecting;

struct lsh_io_conn {
    lsh_io_base base; /* tcp.data and timer.data point here */
    uv_tcp_t tcp;
    uv_timer_t timer;
    int state;
    int handles; /* open libuv handles still to close */
    lsh_conn *core;
    lsh_io_conn_cbs cbs;
    void *data;
    io_connecting *cn; /* NULL once connected, and for accepted sockets */
    uint8_t *pending;
    size_t pending_len;
    int reading, eof_seen, core_closed;
    int in_process, again;
    int close_after_writes;
    size_t writes_in_flight;
};

struct lsh_io_listener {
    lsh_io_base base;
    uv_tcp_t tcp;
    lsh_config cfg;
    lsh_key **keys;
    lsh_io_accept_cb on_accept;
    void *data;
};

typedef struct write_req {
    uv_write_t req;
    lsh_io_conn *ioc;
    size_t len;
    uint8_t bytes[];
} write_req;

static uint8_t read_buf[READ_BUF];

uint64_t
lsh_io_clock_ms(void *ctx)
{
    (void)ctx;
    return lsh_io_now_ms(); /* refreshed: see loop.c */
}

static void process(lsh_io_conn *ioc);

static void
free_connecting(io_connecting *cn)
{
    if (cn == NULL) {
        return;
    }
    if (cn->ai != NULL && cn->numeric) {
        freeaddrinfo(cn->ai);
    } else if (cn->ai != NULL) {
        uv_freeaddrinfo(cn->ai);
    }
    free(cn);
}
static void start_reading(lsh_io_conn *ioc);
static void flush_out(lsh_io_conn *ioc);

/* Closing */

static void
handle_closed(uv_handle_t *h)
{
    lsh_io_conn *ioc = h->data;
    if (--ioc->handles > 0) {
        return;
    }
    if (ioc->cbs.on_closed) {
        ioc->cbs.on_closed(ioc, ioc->data);
    }
    free_connecting(ioc->cn);
    lsh_conn_free(ioc->core);
    free(ioc->pending);
    free(ioc);
}

static void
close_now(lsh_io_conn *ioc)
{
    if (ioc->state == S_CLOSING && ioc->handles == 0) {
        return;
    }
    if (ioc->state == S_RESOLVING) {
        /* The getaddrinfo callback sees S_CLOSING and finishes the job. */
        ioc->state = S_CLOSING;
        uv_cancel((uv_req_t *)&ioc->cn->gai);
        return;
    }
    ioc->state = S_CLOSING;
    if (!uv_is_closing((uv_handle_t *)&ioc->tcp)) {
        uv_close((uv_handle_t *)&ioc->tcp, handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&ioc->timer)) {
        uv_close((uv_handle_t *)&ioc->timer, handle_closed);
    }
}

void
lsh_io_conn_close(lsh_io_conn *ioc, int graceful)
{
    if (ioc == NULL) {
        return;
    }
    if (graceful && ioc->state == S_OPEN) {
        flush_out(ioc);
        if (ioc->writes_in_flight > 0) {
            ioc->close_after_writes = 1;
            uv_read_stop((uv_stream_t *)&ioc->tcp);
            return;
        }
    }
    close_now(ioc);
}

/* Writing */

static void
on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    lsh_io_conn *ioc = w->ioc;
    free(w);
    ioc->writes_in_flight--;
    if (status < 0 && ioc->state == S_OPEN) {
        /* The core reports the lost connection. */
        lsh_conn_feed_eof(ioc->core);
        ioc->eof_seen = 1;
    }
    if (ioc->close_after_writes && ioc->writes_in_flight == 0) {
        close_now(ioc);
        return;
    }
    if (ioc->state == S_OPEN) {
        process(ioc);
    }
}

static void
flush_out(lsh_io_conn *ioc)
{
    const uint8_t *p;
    size_t n;
    write_req *w;
    uv_buf_t buf;

    if (ioc->state != S_OPEN || ioc->core == NULL) {
        return;
    }
    lsh_conn_out(ioc->core, &p, &n);
    if (n == 0) {
        return;
    }
    if (ioc->writes_in_flight == 0) {
        int r;
        buf = uv_buf_init((char *)p, (unsigned)n);
        r = uv_try_write((uv_stream_t *)&ioc->tcp, &buf, 1);
        if (r > 0) {
            lsh_conn_out_ack(ioc->core, (size_t)r);
            lsh_conn_out(ioc->core, &p, &n);
            if (n == 0) {
                return;
            }
        }
    }
    w = malloc(sizeof(*w) + n);
    if (w == NULL) {
        return; /* retried at the next flush */
    }
    memcpy(w->bytes, p, n);
    w->ioc = ioc;
    w->len = n;
    buf = uv_buf_init((char *)w->bytes, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&ioc->tcp, &buf, 1, on_write) != 0) {
        free(w);
        return;
    }
    ioc->writes_in_flight++;
    lsh_conn_out_ack(ioc->core, n);
}

/* Timers */

static void
on_timer(uv_timer_t *t)
{
    lsh_io_conn *ioc = t->data;
    if (ioc->state == S_CONNECTING || ioc->state == S_RESOLVING) {
        if (ioc->cn != NULL &&
            lsh_io_clock_ms(NULL) >= ioc->cn->connect_deadline) {
            snprintf(ioc->cn->detail, sizeof(ioc->cn->detail),
                     "connection timed out");
            if (ioc->cbs.on_connected) {
                ioc->cbs.on_connected(ioc, LSH_ETIMEOUT, ioc->cn->detail,
                                      ioc->data);
            }
            close_now(ioc);
        }
        return;
    }
    if (ioc->state == S_OPEN) {
        lsh_conn_tick(ioc->core);
        process(ioc);
    }
}

static void
arm_timer(lsh_io_conn *ioc)
{
    uint64_t d = lsh_conn_next_deadline(ioc->core), now;
    if (d == UINT64_MAX) {
        uv_timer_stop(&ioc->timer);
        return;
    }
    now = lsh_io_clock_ms(NULL);
    uv_timer_start(&ioc->timer, on_timer, d > now ? d - now : 0, 0);
}

/* Reading */

static void
feed_pending(lsh_io_conn *ioc)
{
    size_t used = 0;
    if (ioc->pending_len == 0) {
        return;
    }
    (void)lsh_conn_feed(ioc->core, ioc->pending, ioc->pending_len, &used);
    memmove(ioc->pending, ioc->pending + used, ioc->pending_len - used);
    ioc->pending_len -= used;
}

/*
 * Reads go straight into the core's input buffer when it has room (no
 * copy; libuv calls on_read right after, with nothing in between), else
 * into the shared static buffer and through lsh_conn_feed.
 */
static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lsh_io_conn *ioc = h->data;
    uint8_t *p = NULL;
    size_t room = 0;
    (void)suggested;
    if (ioc->core != NULL && !ioc->core_closed && ioc->pending_len == 0 &&
        lsh_conn_feed_space(ioc->core, READ_BUF, &p, &room) == 0 &&
        room >= READ_BUF / 4) {
        *buf = uv_buf_init((char *)p, room > READ_BUF ? READ_BUF
                                                      : (unsigned)room);
        return;
    }
    *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lsh_io_conn *ioc = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        ioc->reading = 0;
        ioc->eof_seen = 1;
        /* The core reports the lost connection (EOF or error alike). */
        lsh_conn_feed_eof(ioc->core);
        process(ioc);
        return;
    }
    if (nread > 0 && buf->base != (char *)read_buf) {
        lsh_conn_feed_commit(ioc->core, (size_t)nread);
        process(ioc);
    } else if (nread > 0) {
        size_t used = 0;
        (void)lsh_conn_feed(ioc->core, (const uint8_t *)buf->base,
                            (size_t)nread, &used);
        if (used < (size_t)nread) {
            size_t rest = (size_t)nread - used;
            uint8_t *p = realloc(ioc->pending, ioc->pending_len + rest);
            if (p == NULL) {
                lsh_conn_disconnect(ioc->core, 0, "out of memory");
            } else {
                ioc->pending = p;
                memcpy(p + ioc->pending_len, buf->base + used, rest);
                ioc->pending_len += rest;
            }
            uv_read_stop(s);
            ioc->reading = 0;
        }
        process(ioc);
    }
}

static void
start_reading(lsh_io_conn *ioc)
{
    if (!ioc->reading && !ioc->eof_seen && ioc->state == S_OPEN &&
        ioc->pending_len == 0 && !ioc->core_closed) {
        if (uv_read_start((uv_stream_t *)&ioc->tcp, alloc_cb, on_read) == 0) {
            ioc->reading = 1;
        }
    }
}

/* The pump */

static void
process(lsh_io_conn *ioc)
{
    lsh_event ev;
    if (ioc->in_process) {
        ioc->again = 1;
        return;
    }
    ioc->in_process = 1;
    do {
        ioc->again = 0;
        feed_pending(ioc);
        while (ioc->state == S_OPEN && lsh_conn_next_event(ioc->core, &ev)) {
            if (ev.type == LSH_EV_CLOSED) {
                ioc->core_closed = 1;
            }
            if (ioc->cbs.on_event) {
                ioc->cbs.on_event(ioc, &ev, ioc->data);
            }
            feed_pending(ioc);
        }
    } while (ioc->again && ioc->state == S_OPEN);
    ioc->in_process = 0;
    if (ioc->state != S_OPEN) {
        return;
    }
    flush_out(ioc);
    if (ioc->core_closed) {
        /* The core is done: let the DISCONNECT go out, then close. */
        lsh_io_conn_close(ioc, 1);
        return;
    }
    arm_timer(ioc);
    start_reading(ioc);
}

void
lsh_io_conn_flush(lsh_io_conn *ioc)
{
    if (ioc != NULL && ioc->state == S_OPEN && !ioc->in_process) {
        process(ioc);
    } else if (ioc != NULL && ioc->in_process) {
        ioc->again = 1;
    }
}

lsh_conn *
lsh_io_conn_core(lsh_io_conn *ioc)
{
    return ioc->core;
}

void
lsh_io_conn_set_data(lsh_io_conn *ioc, const lsh_io_conn_cbs *cbs,
                     void *data)
{
    if (cbs != NULL) {
        ioc->cbs = *cbs;
    } else {
        memset(&ioc->cbs, 0, sizeof(ioc->cbs));
    }
    ioc->data = data;
}

static int
sockname(lsh_io_conn *ioc, int peer, char *host, size_t hostlen, int *port)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss), r;
    r = peer ? uv_tcp_getpeername(&ioc->tcp, (struct sockaddr *)&ss, &len)
             : uv_tcp_getsockname(&ioc->tcp, (struct sockaddr *)&ss, &len);
    if (r != 0) {
        return lsh__io_err(r);
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, host, hostlen);
        *port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, hostlen);
        *port = ntohs(a->sin_port);
    }
    return 0;
}

int
lsh_io_conn_peer(lsh_io_conn *ioc, char *host, size_t hostlen, int *port)
{
    return sockname(ioc, 1, host, hostlen, port);
}

int
lsh_io_conn_local(lsh_io_conn *ioc, char *host, size_t hostlen, int *port)
{
    return sockname(ioc, 0, host, hostlen, port);
}

/* Connecting */

/* cfg with the default rng and clock filled in. */
static void
fill_config(lsh_config *dst, const lsh_config *cfg)
{
    *dst = *cfg;
    if (dst->rng == NULL) {
        dst->rng = lsh_rng_fill;
    }
    if (dst->clock == NULL) {
        dst->clock = lsh_io_clock_ms;
    }
}

static lsh_io_conn *
conn_alloc(const lsh_io_conn_cbs *cbs, void *data)
{
    lsh_io_conn *ioc = calloc(1, sizeof(*ioc));
    if (ioc == NULL) {
        return NULL;
    }
    ioc->base.close_cb = handle_closed;
    if (cbs != NULL) {
        ioc->cbs = *cbs;
    }
    ioc->data = data;
    uv_tcp_init(lsh__io_loop(), &ioc->tcp);
    uv_timer_init(lsh__io_loop(), &ioc->timer);
    ioc->tcp.data = ioc;
    ioc->timer.data = ioc;
    ioc->handles = 2;
    return ioc;
}

/* The socket is connected: make the core (it copies cfg) and start the
 * conversation. */
static int
open_core(lsh_io_conn *ioc, const lsh_config *cfg)
{
    int r = lsh_conn_new(cfg, &ioc->core);
    if (r != 0) {
        return r;
    }
    ioc->state = S_OPEN;
    uv_tcp_nodelay(&ioc->tcp, 1);
    return 0;
}

static void try_next_address(lsh_io_conn *ioc, int last_err);

static void
on_connect(uv_connect_t *req, int status)
{
    lsh_io_conn *ioc = req->data;
    int r;
    if (ioc->state == S_CLOSING) {
        return;
    }
    if (status != 0) {
        /* Next address: a fresh socket. */
        try_next_address(ioc, status);
        return;
    }
    uv_timer_stop(&ioc->timer);
    if ((r = open_core(ioc, &ioc->cn->cfg)) != 0) {
        snprintf(ioc->cn->detail, sizeof(ioc->cn->detail), "%s",
                 lsh_strerror(r));
        if (ioc->cbs.on_connected) {
            ioc->cbs.on_connected(ioc, r, ioc->cn->detail, ioc->data);
        }
        close_now(ioc);
        return;
    }
    /* Up: what connecting needed goes (req is inside it). */
    free_connecting(ioc->cn);
    ioc->cn = NULL;
    if (ioc->cbs.on_connected) {
        ioc->cbs.on_connected(ioc, 0, "", ioc->data);
    }
    process(ioc);
}

static void
reopen_socket(uv_handle_t *h)
{
    lsh_io_conn *ioc = h->data;
    uv_tcp_init(lsh__io_loop(), &ioc->tcp);
    ioc->tcp.data = ioc;
    if (ioc->state == S_CLOSING) {
        /* Closed meanwhile: count this handle closed again. */
        uv_close((uv_handle_t *)&ioc->tcp, handle_closed);
        return;
    }
    try_next_address(ioc, 1);
}

static void
fail_connect(lsh_io_conn *ioc, int uverr)
{
    int code = lsh__io_err(uverr);
    snprintf(ioc->cn->detail, sizeof(ioc->cn->detail), "%s",
             uv_strerror(uverr));
    if (ioc->cbs.on_connected) {
        ioc->cbs.on_connected(ioc, code, ioc->cn->detail, ioc->data);
    }
    close_now(ioc);
}

static void
try_next_address(lsh_io_conn *ioc, int last_err)
{
    io_connecting *cn = ioc->cn;
    struct addrinfo *a = cn->ai_next;
    int r;
    if (last_err < 0) {
        cn->last_uverr = last_err;
    }
    if (last_err < 0 && a != NULL) {
        /* A failed connect leaves the socket unusable: replace it first
         * (reopen_socket comes back here with last_err = 1). */
        uv_close((uv_handle_t *)&ioc->tcp, reopen_socket);
        cn->detail[0] = '\0';
        return;
    }
    if (a == NULL) {
        fail_connect(ioc, cn->last_uverr < 0 ? cn->last_uverr
                                             : UV_EADDRNOTAVAIL);
        return;
    }
    cn->ai_next = a->ai_next;
    ioc->state = S_CONNECTING;
    cn->creq.data = ioc;
    if (cn->bind_local) {
        if (cn->local.ss_family != a->ai_family) {
            try_next_address(ioc, UV_EAFNOSUPPORT);
            return;
        }
        if ((r = uv_tcp_bind(&ioc->tcp, (struct sockaddr *)&cn->local,
                             0)) != 0) {
            try_next_address(ioc, r);
            return;
        }
    }
    r = uv_tcp_connect(&cn->creq, &ioc->tcp, a->ai_addr, on_connect);
    if (r != 0) {
        try_next_address(ioc, r);
    }
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    lsh_io_conn *ioc = req->data;
    if (ioc->state == S_CLOSING) {
        if (res) {
            uv_freeaddrinfo(res);
        }
        ioc->state = S_CONNECTING; /* let close_now close the handles */
        close_now(ioc);
        return;
    }
    if (status != 0) {
        fail_connect(ioc, status);
        return;
    }
    ioc->cn->ai = res;
    ioc->cn->ai_next = res;
    try_next_address(ioc, 1);
}

int
lsh_io_connect(const char *host, int port, const lsh_config *cfg,
               const lsh_io_conn_cbs *cbs, void *data,
               uint64_t connect_timeout_ms, lsh_io_conn **out)
{
    lsh_io_connect_opts o;
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = connect_timeout_ms;
    return lsh_io_connect_ex(host, port, cfg, cbs, data, &o, out);
}

static int
local_address(const lsh_io_connect_opts *o, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(o->local_addr, o->local_port,
                    (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(o->local_addr, o->local_port,
                    (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    return LSH_EINVAL;
}

int
lsh_io_connect_ex(const char *host, int port, const lsh_config *cfg,
                  const lsh_io_conn_cbs *cbs, void *data,
                  const lsh_io_connect_opts *opts, lsh_io_conn **out)
{
    struct addrinfo hints;
    struct sockaddr_storage local;
    char portstr[16];
    lsh_io_conn *ioc;
    io_connecting *cn;
    uint64_t connect_timeout_ms = opts->connect_timeout_ms;
    int r;

    if (port <= 0 || port > 65535 || host == NULL ||
        (opts->family != 0 && opts->family != 4 && opts->family != 6) ||
        opts->local_port < 0 || opts->local_port > 65535 ||
        (opts->local_addr != NULL && local_address(opts, &local) != 0)) {
        return LSH_EINVAL;
    }
    if ((cn = calloc(1, sizeof(*cn))) == NULL) {
        return LSH_ENOMEM;
    }
    ioc = conn_alloc(cbs, data);
    if (ioc == NULL) {
        free(cn);
        return LSH_ENOMEM;
    }
    ioc->cn = cn;
    fill_config(&cn->cfg, cfg);
    if (opts->local_addr != NULL) {
        cn->bind_local = 1;
        cn->local = local;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = opts->family == 4   ? AF_INET
                      : opts->family == 6 ? AF_INET6
                                          : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    ioc->state = S_RESOLVING;
    cn->gai.data = ioc;
    if (connect_timeout_ms > 0) {
        cn->connect_deadline = lsh_io_clock_ms(NULL) + connect_timeout_ms;
        uv_timer_start(&ioc->timer, on_timer, connect_timeout_ms, 0);
    }
    /* An address needs no resolver: connect at once rather than queue
     * behind whatever occupies libuv's thread pool. */
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, portstr, &hints, &cn->ai) == 0) {
        cn->ai_next = cn->ai;
        cn->numeric = 1;
        ioc->state = S_CONNECTING;
        try_next_address(ioc, 1);
        *out = ioc;
        return 0;
    }
    hints.ai_flags = 0;
    r = uv_getaddrinfo(lsh__io_loop(), &cn->gai, on_resolved, host,
                       portstr, &hints);
    if (r != 0) {
        ioc->cbs.on_closed = NULL;
        ioc->state = S_CONNECTING;
        close_now(ioc);
        return lsh__io_err(r);
    }
    *out = ioc;
    return 0;
}

/* Listening */

static void
listener_closed(uv_handle_t *h)
{
    lsh_io_listener *l = h->data;
    for (size_t i = 0; i < l->cfg.n_host_keys; i++) {
        lsh_key_free(l->keys[i]);
    }
    free(l->keys);
    free(l);
}

static void
on_connection(uv_stream_t *server, int status)
{
    lsh_io_listener *l = server->data;
    lsh_io_conn *ioc;
    lsh_config cfg;
    if (status != 0) {
        return;
    }
    ioc = conn_alloc(NULL, NULL);
    if (ioc == NULL) {
        return;
    }
    fill_config(&cfg, &l->cfg);
    if (uv_accept(server, (uv_stream_t *)&ioc->tcp) != 0 ||
        open_core(ioc, &cfg) != 0) {
        ioc->state = S_OPEN;
        close_now(ioc);
        return;
    }
    l->on_accept(l, ioc, l->data);
    if (ioc->state == S_OPEN) {
        process(ioc);
    }
}

int
lsh_io_listen(const char *host, int port, const lsh_config *cfg,
              lsh_io_accept_cb on_accept, void *data, lsh_io_listener **out,
              char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    lsh_io_listener *l;
    int r;

    memset(&ss, 0, sizeof(ss));
    if (host == NULL || host[0] == '\0') {
        host = "0.0.0.0";
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "listen: '%s' is not an IP address", host);
        return LSH_EINVAL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return LSH_ENOMEM;
    }
    l->base.close_cb = listener_closed;
    l->cfg = *cfg;
    l->keys = calloc(cfg->n_host_keys ? cfg->n_host_keys : 1,
                     sizeof(*l->keys));
    if (l->keys == NULL) {
        free(l);
        return LSH_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_host_keys; i++) {
        l->keys[i] = lsh_key_ref(cfg->host_keys[i]);
    }
    l->cfg.host_keys = l->keys;
    l->on_accept = on_accept;
    l->data = data;
    uv_tcp_init(lsh__io_loop(), &l->tcp);
    l->tcp.data = l;
    if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection)) != 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", host, port,
                 uv_strerror(r));
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
        return lsh__io_err(r);
    }
    *out = l;
    return 0;
}

int
lsh_io_listener_port(lsh_io_listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    return ntohs(ss.ss_family == AF_INET6
                     ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
}

void
lsh_io_listener_close(lsh_io_listener *l)
{
    if (l != NULL && !uv_is_closing((uv_handle_t *)&l->tcp)) {
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
    }
}
