/*
 * TCP for SSH connections: an lsh_io_conn pumps bytes between a libuv TCP
 * handle and an lsh_conn core, runs the core's timers, and hands the
 * core's events to its owner through a callback.  It holds no protocol
 * knowledge (DESIGN.md "Layers").
 *
 * Ownership: the owner creates an lsh_io_conn with lsh_io_connect or gets
 * one from a listener's accept callback, and ends it with
 * lsh_io_conn_close; the memory is freed after libuv's close callback,
 * when on_closed has been called.  The core (lsh_io_conn_core) belongs to
 * the lsh_io_conn.
 */
#ifndef LSH_UVIO_TCP_H
#define LSH_UVIO_TCP_H

#include <stdint.h>

#include "ssh/conn.h"

typedef struct lsh_io_conn lsh_io_conn;
typedef struct lsh_io_listener lsh_io_listener;

typedef struct lsh_io_conn_cbs {
    /* The TCP connection is up (status 0) or failed (negative LSH_E*,
     * with a message in `detail`).  On failure on_closed follows. */
    void (*on_connected)(lsh_io_conn *ioc, int status, const char *detail,
                         void *data);
    /* An event from the core.  The callback may call into the core and
     * into lsh_io_conn_flush / lsh_io_conn_close. */
    void (*on_event)(lsh_io_conn *ioc, const lsh_event *ev, void *data);
    /* The socket is closed; the lsh_io_conn is freed after this returns. */
    void (*on_closed)(lsh_io_conn *ioc, void *data);
} lsh_io_conn_cbs;

/*
 * Resolves host (asynchronously), connects to the first address that
 * answers, and creates the core with cfg (rng and clock are filled in
 * when NULL).  Returns 0 and *out, or a negative LSH_E* with no callback.
 */
int lsh_io_connect(const char *host, int port, const lsh_config *cfg,
                   const lsh_io_conn_cbs *cbs, void *data,
                   uint64_t connect_timeout_ms, lsh_io_conn **out);

/* More ways to connect (AsyncSSH's family and local_addr). */
typedef struct lsh_io_connect_opts {
    uint64_t connect_timeout_ms; /* 0: none (the OS's) */
    int family;                  /* 0 any, 4 IPv4 only, 6 IPv6 only */
    const char *local_addr;      /* numeric address to bind, or NULL */
    int local_port;              /* 0: any */
} lsh_io_connect_opts;

/* lsh_io_connect with options; LSH_EINVAL for a local_addr that is not
 * a numeric address or a family other than 0, 4, 6. */
int lsh_io_connect_ex(const char *host, int port, const lsh_config *cfg,
                      const lsh_io_conn_cbs *cbs, void *data,
                      const lsh_io_connect_opts *opts, lsh_io_conn **out);

/* The core; NULL until connected. */
lsh_conn *lsh_io_conn_core(lsh_io_conn *ioc);

/* Sends what the core has queued and re-arms its timer: call after using
 * the core's API outside an on_event callback. */
void lsh_io_conn_flush(lsh_io_conn *ioc);

/* Closes at once (pending output is flushed first when `graceful`). */
void lsh_io_conn_close(lsh_io_conn *ioc, int graceful);

/* "127.0.0.1" and port of the peer / of our side; 0 or LSH_E*. */
int lsh_io_conn_peer(lsh_io_conn *ioc, char *host, size_t hostlen,
                     int *port);
int lsh_io_conn_local(lsh_io_conn *ioc, char *host, size_t hostlen,
                      int *port);

void lsh_io_conn_set_data(lsh_io_conn *ioc, const lsh_io_conn_cbs *cbs,
                          void *data);

/* Listening: each accepted socket becomes an lsh_io_conn with a server
 * core made from cfg; on_accept gives it to the owner, who must set its
 * callbacks with lsh_io_conn_set_data (or close it). */
typedef void (*lsh_io_accept_cb)(lsh_io_listener *l, lsh_io_conn *ioc,
                                 void *data);

int lsh_io_listen(const char *host, int port, const lsh_config *cfg,
                  lsh_io_accept_cb on_accept, void *data,
                  lsh_io_listener **out, char *err, size_t errlen);
int lsh_io_listener_port(lsh_io_listener *l);
void lsh_io_listener_close(lsh_io_listener *l);

/* A wall clock in milliseconds on the loop (monotonic), for lsh_config. */
uint64_t lsh_io_clock_ms(void *ctx);

#endif
