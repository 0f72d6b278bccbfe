/*
 * lsh_sftp_client: the client side of SFTP version 3
 * (draft-ietf-secsh-filexfer-02) with OpenSSH's extensions (PROTOCOL §4),
 * as a sans-I/O state machine.
 *
 * Bytes in (lsh_sftp_client_feed: the subsystem channel's data), bytes
 * out (lsh_sftp_client_out / lsh_sftp_client_out_ack).  Every request is
 * sent with a callback; the reply to it (or the end of the session)
 * calls the callback exactly once, unless the request was forgotten
 * (lsh_sftp_client_cancel / lsh_sftp_client_forget_ctx), in which case
 * the reply is read and dropped.  Any number of requests may be in
 * flight (draft-02 §6.1: "the client may send several requests before
 * receiving responses"), up to LSH_SFTP_CLIENT_MAX_PENDING.
 *
 * On top of the request layer, lsh_sftp_xfer moves a byte range with many
 * READ or WRITE requests in flight (pipelining): remote to local (GET),
 * local to remote (PUT), remote to remote through the client (COPY) or
 * inside the server with copy-data (COPY_DATA).  Local bytes go through
 * caller callbacks, so the core itself does no I/O.
 *
 * Ownership: the caller owns the client (lsh_sftp_client_free) and each
 * transfer (lsh_sftp_xfer_free), and frees transfers first (the client
 * lists its live transfers for lsh_sftp_client_kick).
 */
#ifndef LSH_SSH_SFTP_CLIENT_H
#define LSH_SSH_SFTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ssh/sftp/codec.h"

/* Requests in flight at once (ids are slot | generation << 16). */
#define LSH_SFTP_CLIENT_MAX_PENDING 65536u
/* Largest reply packet accepted (length field excluded). */
#define LSH_SFTP_CLIENT_MAX_REPLY (LSH_SFTP_MAX_PACKET + 1024)
/* Largest READ or WRITE a transfer sends: what OpenSSH's sftp-server
 * takes (its SFTP_MAX_MSG_LENGTH less room for the header). */
#define LSH_SFTP_MAX_BLOCK ((uint32_t)(LSH_SFTP_MAX_PACKET - 1024))

typedef struct lsh_sftp_client lsh_sftp_client;

enum {
    LSH_SFTP_CLIENT_NEW = 0,  /* INIT not sent */
    LSH_SFTP_CLIENT_INIT,     /* INIT sent, waiting for VERSION */
    LSH_SFTP_CLIENT_READY,    /* requests may be sent */
    LSH_SFTP_CLIENT_FAILED    /* sticky: see lsh_sftp_client_error */
};

/*
 * What a request's callback receives.  err == 0: `resp` is the decoded
 * reply and pkt[0..n) its bytes (type byte first), both borrowed for the
 * duration of the call.  err < 0: no reply will come or it could not be
 * used: LSH_ECLOSED (the session ended), LSH_EUNEXPECTED (a reply type
 * that does not answer this request), or the decoder's error for a
 * malformed body; resp is then NULL.
 */
typedef struct lsh_sftp_reply {
    int err;
    uint32_t id;
    uint8_t req_type;   /* the request's packet type */
    lsh_sftp_ext req_ext; /* for EXTENDED requests */
    uint64_t arg;       /* as given to lsh_sftp_client_send */
    uint32_t arg2;
    uint64_t sent_us;   /* when sent, by the clock (0: no clock) */
    const lsh_sftp_response *resp;
    const uint8_t *pkt;
    size_t n;
} lsh_sftp_reply;

/* May send new requests; must not free the client. */
typedef void (*lsh_sftp_reply_cb)(void *ctx, const lsh_sftp_reply *r);

/* Creates a client (state NEW); *out is owned by the caller. */
LSH_MUST_CHECK int lsh_sftp_client_new(lsh_sftp_client **out);

/* Frees the client without calling any callback (see _abort). */
void lsh_sftp_client_free(lsh_sftp_client *c);

/* Queues INIT for `version` (only 3 is spoken; draft-02 §4). */
LSH_MUST_CHECK int lsh_sftp_client_start(lsh_sftp_client *c,
                                         uint32_t version);

int lsh_sftp_client_state(const lsh_sftp_client *c);

/* The version the server answered (valid once READY). */
uint32_t lsh_sftp_client_version(const lsh_sftp_client *c);

/*
 * 1 if the server's VERSION offered extension e, with its data string
 * (borrowed, valid as long as the client) in *data and *len; else 0.
 */
int lsh_sftp_client_has_ext(const lsh_sftp_client *c, lsh_sftp_ext e,
                            const uint8_t **data, size_t *len);

/*
 * Iterates every extension pair the server sent (known or not): 1 and the
 * borrowed name and data, or 0 at the end.  *i starts at 0.
 */
int lsh_sftp_client_ext_next(const lsh_sftp_client *c, size_t *i,
                             lsh_sftp_str *name, lsh_sftp_str *data);

/*
 * Takes received bytes: frames every complete packet and dispatches it
 * (VERSION first, then replies to their callbacks).  *used says how many
 * bytes were taken (a trailing partial packet is left for the next call).
 * Returns 0, or the sticky fatal error: a packet over
 * LSH_SFTP_CLIENT_MAX_REPLY, a reply before VERSION, a reply without a
 * readable id, a reply to an id not in flight, a second VERSION.  After
 * a fatal error every pending callback has been called with it.
 */
int lsh_sftp_client_feed(lsh_sftp_client *c, const uint8_t *data, size_t n,
                         size_t *used);

/* Borrowed pointer to the bytes to send (valid until the next call). */
void lsh_sftp_client_out(const lsh_sftp_client *c, const uint8_t **p,
                         size_t *n);
/* Drops n sent bytes from the output. */
void lsh_sftp_client_out_ack(lsh_sftp_client *c, size_t n);

/*
 * Sends a request (req->id is ignored: the client numbers requests).  cb
 * will be called once with ctx, arg and arg2.  Returns 0 and *id, or
 * LSH_ESTATE (not READY), LSH_EAGAIN (too many in flight), an encoder
 * error; on failure nothing is sent and cb is never called.
 */
LSH_MUST_CHECK int lsh_sftp_client_send(lsh_sftp_client *c,
                                        const lsh_sftp_request *req,
                                        lsh_sftp_reply_cb cb, void *ctx,
                                        uint64_t arg, uint32_t arg2,
                                        uint32_t *id);

/* Forgets a request: its reply will be read and dropped. */
void lsh_sftp_client_cancel(lsh_sftp_client *c, uint32_t id);

/* Forgets every request sent with ctx. */
void lsh_sftp_client_forget_ctx(lsh_sftp_client *c, const void *ctx);

/*
 * Ends the session: state FAILED with err (sticky unless one is set) and
 * every pending callback called with err.
 */
void lsh_sftp_client_abort(lsh_sftp_client *c, int err);

/* Requests in flight (forgotten ones included). */
size_t lsh_sftp_client_pending(const lsh_sftp_client *c);

/* The sticky error (0 if none) and a static description. */
int lsh_sftp_client_error(const lsh_sftp_client *c, const char **detail);

/* Transfers */

/*
 * The write window: the WRITE payload bytes that transfers keep in
 * flight, all of them together.  0 (the default): no limit but each
 * transfer's max_requests.  A PUT sends no WRITE that would pass the
 * window unless it has nothing in flight, so it always makes progress.
 *
 * Why: more in flight than the path needs gains nothing and only waits
 * in the server's buffers (OpenSSH's sshd spends CPU in proportion to
 * what its channel buffer holds: at a full channel window it needs four
 * times the CPU per byte and uploads at half the rate on loopback).
 *
 * Without a clock the window is `max`.  With one (set_clock: a monotonic
 * time in microseconds), it starts at `min` and follows the round trip
 * of the WRITEs, as TCP Vegas does (Brakmo and Peterson, 1995): it grows
 * by each acknowledged WRITE while the round trip stays under 5/4 of the
 * shortest seen (little is queued: the path may take more), shrinks by
 * a quarter when it passes 3/2 of it (requests wait at the server),
 * always within [min, max].  A PUT that starts while no WRITE is in
 * flight starts again from `min` and forgets the shortest round trip.
 */
void lsh_sftp_client_set_write_window(lsh_sftp_client *c, uint64_t max,
                                      uint64_t min);
void lsh_sftp_client_set_clock(lsh_sftp_client *c,
                               uint64_t (*now_us)(void *ctx), void *ctx);
/* The window now (0: none). */
uint64_t lsh_sftp_client_write_window(const lsh_sftp_client *c);
/* WRITE payload bytes of transfers in flight now. */
uint64_t lsh_sftp_client_writes_in_flight(const lsh_sftp_client *c);

typedef enum lsh_sftp_xfer_mode {
    LSH_SFTP_XFER_GET,      /* READ src -> io.write_at */
    LSH_SFTP_XFER_PUT,      /* io.read_at -> WRITE dst */
    LSH_SFTP_XFER_COPY,     /* READ src -> WRITE dst */
    LSH_SFTP_XFER_COPY_DATA /* copy-data src -> dst (PROTOCOL §4.10) */
} lsh_sftp_xfer_mode;

typedef struct lsh_sftp_xfer lsh_sftp_xfer;

/*
 * Local side of a transfer.  Offsets are relative to the start of the
 * range.  write_at/read_at return 0 or a nonzero failure (kept as the
 * transfer's local_err); read_at sets *got (0 at end of file).
 * notify is called when bytes_done grows and once when the transfer
 * finishes (lsh_sftp_xfer_finished); it must not free the transfer.
 */
typedef struct lsh_sftp_xfer_io {
    void *ctx;
    int (*write_at)(void *ctx, uint64_t off, const uint8_t *p, size_t n);
    int (*read_at)(void *ctx, uint64_t off, uint8_t *buf, size_t n,
                   size_t *got);
    void (*notify)(void *ctx, lsh_sftp_xfer *x);
    /* Optional: 0 while the transport is backed up (data would only
     * queue).  A transfer then sends no new WRITE (PUT) or READ (COPY)
     * unless it has nothing in flight, so it always makes progress;
     * lsh_sftp_client_kick resumes it without waiting for a reply. */
    int (*may_send)(void *ctx);
} lsh_sftp_xfer_io;

typedef struct lsh_sftp_xfer_config {
    lsh_sftp_xfer_mode mode;
    lsh_sftp_str src, dst;    /* remote handles (copied) as the mode needs */
    uint64_t src_offset;      /* remote offsets of relative offset 0 */
    uint64_t dst_offset;
    uint64_t length;          /* bytes to move; UINT64_MAX: to EOF */
    uint64_t size_hint;       /* expected source size, UINT64_MAX unknown:
                               * reads stop one request past it until the
                               * file proves longer */
    uint32_t block;           /* bytes per request (0: 32768) */
    uint32_t max_requests;    /* in flight (0: 64) */
    int sparse;               /* skip all-zero blocks, extend at the end */
    lsh_sftp_xfer_io io;
} lsh_sftp_xfer_config;

/*
 * Starts a transfer on a READY client: its first requests are queued at
 * once.  *out is owned by the caller.  COPY_DATA with an unknown length
 * copies to EOF in one request.
 */
LSH_MUST_CHECK int lsh_sftp_xfer_start(lsh_sftp_client *c,
                                       const lsh_sftp_xfer_config *cfg,
                                       lsh_sftp_xfer **out);

/*
 * Lets every unfinished transfer of c send what it held back (its
 * io.may_send said 0): call it when the transport has room again.
 * Callbacks may run (notify), as for a reply.
 */
void lsh_sftp_client_kick(lsh_sftp_client *c);

/* Stops issuing requests; those in flight are forgotten.  Finishes it. */
void lsh_sftp_xfer_stop(lsh_sftp_xfer *x);

/* Forgets what is in flight and frees the transfer. */
void lsh_sftp_xfer_free(lsh_sftp_xfer *x);

int lsh_sftp_xfer_finished(const lsh_sftp_xfer *x);
/* Bytes moved so far. */
uint64_t lsh_sftp_xfer_done(const lsh_sftp_xfer *x);
/* The size of the result once finished without error (EOF or length). */
uint64_t lsh_sftp_xfer_size(const lsh_sftp_xfer *x);
/* 1 if the last bytes were skipped as zeros and the local file must be
 * extended to lsh_sftp_xfer_size (GET with sparse). */
int lsh_sftp_xfer_needs_extend(const lsh_sftp_xfer *x);

/*
 * The outcome once finished: 0 for success; else LSH_EIO with *local_err
 * set (an io callback failed), LSH_EPROTOCOL with *status and *msg (the
 * server's STATUS, message borrowed from the transfer), LSH_ECANCELED-like
 * LSH_ESTATE (stopped), or another LSH_E* (session ended, bad reply).
 */
int lsh_sftp_xfer_result(const lsh_sftp_xfer *x, uint32_t *status,
                         const char **msg, int *local_err);

#endif
