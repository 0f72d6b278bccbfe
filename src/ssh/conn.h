/*
 * lsh_conn: one SSH connection as a sans-I/O state machine (RFC 4253, with
 * the transport extensions of RFC 8308, OpenSSH's strict kex and ping).
 *
 * Bytes in (lsh_conn_feed), events out (lsh_conn_next_event), bytes to
 * send (lsh_conn_out / lsh_conn_out_ack), timers (lsh_conn_tick /
 * lsh_conn_next_deadline).  Time, randomness and logging come from the
 * config; the core never blocks, never reads a clock itself and never
 * calls back up: decisions it cannot make (is this host key trusted?)
 * leave as events and come back as calls (lsh_conn_hostkey_verdict).
 *
 * Messages of the layers above the transport (userauth, connection: 50
 * and up) pass the incoming-message filter and are handed out as
 * LSH_EV_MESSAGE events; upper layers send with lsh_conn_send().
 *
 * Ownership: the caller owns the lsh_conn and frees it with
 * lsh_conn_free.  Host keys and host certificates in the config are
 * referenced (lsh_key_ref / lsh_cert_ref), not copied.  Event payload pointers are borrowed: valid until the next
 * call on the connection.
 */
#ifndef LSH_SSH_CONN_H
#define LSH_SSH_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"

#ifndef LSH_ROLE_CLIENT
#define LSH_ROLE_CLIENT 0
#define LSH_ROLE_SERVER 1
#endif

/* RFC 4250 §4.1 message numbers used across the core. */
enum {
    LSH_MSG_DISCONNECT = 1,
    LSH_MSG_IGNORE = 2,
    LSH_MSG_UNIMPLEMENTED = 3,
    LSH_MSG_DEBUG = 4,
    LSH_MSG_SERVICE_REQUEST = 5,
    LSH_MSG_SERVICE_ACCEPT = 6,
    LSH_MSG_EXT_INFO = 7,
    LSH_MSG_NEWKEYS = 21,
    LSH_MSG_USERAUTH_REQUEST = 50,
    LSH_MSG_USERAUTH_FAILURE = 51,
    LSH_MSG_USERAUTH_SUCCESS = 52,
    LSH_MSG_USERAUTH_BANNER = 53,
    LSH_MSG_GLOBAL_REQUEST = 80,
    LSH_MSG_PING = 192, /* OpenSSH PROTOCOL: ping@openssh.com */
    LSH_MSG_PONG = 193
};

/* RFC 4253 §11.1 disconnect reason codes. */
enum {
    LSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT = 1,
    LSH_DISCONNECT_PROTOCOL_ERROR = 2,
    LSH_DISCONNECT_KEY_EXCHANGE_FAILED = 3,
    LSH_DISCONNECT_RESERVED = 4,
    LSH_DISCONNECT_MAC_ERROR = 5,
    LSH_DISCONNECT_COMPRESSION_ERROR = 6,
    LSH_DISCONNECT_SERVICE_NOT_AVAILABLE = 7,
    LSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED = 8,
    LSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE = 9,
    LSH_DISCONNECT_CONNECTION_LOST = 10,
    LSH_DISCONNECT_BY_APPLICATION = 11,
    LSH_DISCONNECT_TOO_MANY_CONNECTIONS = 12,
    LSH_DISCONNECT_AUTH_CANCELLED_BY_USER = 13,
    LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE = 14,
    LSH_DISCONNECT_ILLEGAL_USER_NAME = 15
};

typedef int (*lsh_conn_rng_fn)(void *ctx, uint8_t *out, size_t n);
typedef uint64_t (*lsh_conn_clock_fn)(void *ctx); /* monotonic ms */
typedef void (*lsh_conn_log_fn)(void *ctx, int level, const char *msg);

enum { LSH_LOG_ERROR = 0, LSH_LOG_INFO = 1, LSH_LOG_DEBUG = 2 };

typedef struct lsh_config {
    int role;
    lsh_conn_rng_fn rng;     /* required */
    void *rng_ctx;
    lsh_conn_clock_fn clock; /* required */
    void *clock_ctx;
    lsh_conn_log_fn log;     /* optional */
    void *log_ctx;
    int log_level;

    /* Software version for the identification string (default
     * "luassh_<version>"); no spaces or '-'. */
    const char *software_version;

    /*
     * Algorithm lists in OpenSSH syntax ("a,b", "+a", "-a*", "^a"); NULL
     * means the defaults (modern OpenSSH's order).  AsyncSSH names:
     * kex_algs, server_host_key_algs, encryption_algs, mac_algs,
     * compression_algs.
     */
    const char *kex_algs;
    const char *host_key_algs;
    const char *encryption_algs;
    const char *mac_algs;
    const char *compression_algs;

    /*
     * Public key signature algorithms (AsyncSSH's signature_algs), a
     * plain comma-separated list; NULL: the defaults (LSH_DEFAULT_SIG_ALGS:
     * no SHA-1 ssh-rsa, no DSA).  Server: advertised in server-sig-algs
     * (RFC 8308 §3.1) and the only ones publickey auth accepts (plus the
     * certificate algorithms of the listed ones).  Client: the RSA hash
     * is picked among these (RFC 8332 §3.3), and a key whose algorithm is
     * not listed is never offered (lsh_auth_client_keyalg: LSH_ENOALG).
     */
    const char *sig_algs;

    uint64_t rekey_bytes;       /* 0: 1 GiB */
    uint64_t rekey_seconds;     /* 0: 3600 */
    uint64_t login_timeout_ms;  /* 0: 120 s; until set_authenticated */
    int disable_strict_kex;     /* testing and interop only */

    /* Server: host keys with private halves (at least one). */
    lsh_key *const *host_keys;
    size_t n_host_keys;

    /*
     * Server: OpenSSH host certificates (PROTOCOL.certkeys) for some of
     * host_keys, referenced like them.  Each must be a host certificate
     * (type 2) whose certified key is one of host_keys with its private
     * half; lsh_conn_new returns LSH_EINVAL otherwise.  A certificate
     * adds the *-cert-v01@openssh.com host key algorithms of its key type
     * to our KEXINIT (those of host_key_algs, whose default for a server
     * lists them first, as OpenSSH does); when one is negotiated, K_S in
     * the reply is the certificate and the exchange hash is signed by the
     * certified key with the plain algorithm ("rsa-sha2-512" for
     * "rsa-sha2-512-cert-v01@openssh.com").  Nothing of the certificate
     * is checked at run time (validity is the client's to judge).
     * Ignored by clients.
     */
    lsh_cert *const *host_certs;
    size_t n_host_certs;
} lsh_config;

typedef struct lsh_conn lsh_conn;

typedef enum lsh_event_type {
    LSH_EV_NONE = 0,
    /* Client: decide on the server's host key, then call
     * lsh_conn_hostkey_verdict.  Input processing pauses until then.
     * key = the server's key (its signature of the exchange hash is
     * verified), data/len = K_S as sent: a certificate blob for the
     * *-cert-v01@openssh.com algorithms (PROTOCOL.certkeys), whose CA
     * and validity the caller checks; text = key's SHA256 fingerprint. */
    LSH_EV_HOSTKEY,
    /* A key exchange completed (first or rekey); `first` tells which. */
    LSH_EV_KEX_DONE,
    /* Client: the server accepted the service we requested. */
    LSH_EV_SERVICE_ACCEPT,
    /* Server: the client requested a service (already accepted if it is
     * one the core knows: ssh-userauth; else refused with DISCONNECT). */
    LSH_EV_SERVICE_REQUEST,
    /* The peer sent EXT_INFO (RFC 8308); server-sig-algs is in `text`. */
    LSH_EV_EXT_INFO,
    /* The peer sent SSH_MSG_DEBUG with always_display and text. */
    LSH_EV_DEBUG,
    /* A reply to lsh_conn_ping. */
    LSH_EV_PONG,
    /* A message for the layers above (type >= 50), already filtered, that
     * no layer of the core handles. */
    LSH_EV_MESSAGE,

    /* Authentication layer (src/ssh/auth/, RFC 4252, RFC 4256); see
     * ssh/auth/auth.h for the calls that answer them. */
    LSH_EV_AUTH_BANNER,         /* client: text */
    LSH_EV_AUTH_RESULT,         /* client: code 0 success, else failure;
                                   name = methods that can continue,
                                   num = partial success */
    LSH_EV_AUTH_SIGN,           /* client: data = the bytes to sign */
    LSH_EV_AUTH_PROMPT,         /* client: kbd-int or password change */
    LSH_EV_AUTH_REQUEST,        /* server: a request to decide on */

    /* Connection layer (src/ssh/connection/, RFC 4254); see
     * ssh/connection/channel.h. */
    LSH_EV_CHAN_OPEN,           /* peer asks to open a channel */
    LSH_EV_CHAN_OPEN_RESULT,    /* our open was confirmed / refused */
    LSH_EV_CHAN_DATA,           /* data (num = extended type, 0: normal) */
    LSH_EV_CHAN_EOF,
    LSH_EV_CHAN_CLOSE,          /* the channel is gone (both closes seen) */
    LSH_EV_CHAN_REQUEST,        /* peer's channel request */
    LSH_EV_CHAN_REQUEST_RESULT, /* reply to our request (code 0: success) */
    LSH_EV_CHAN_WRITABLE,       /* the peer's window opened again */
    LSH_EV_GLOBAL_REQUEST,      /* peer's global request */
    LSH_EV_GLOBAL_RESULT,       /* reply to our global request */
    /* The connection is over: peer DISCONNECT, or a fatal error.  code is
     * an LSH_E* value (LSH_EDISCONNECTED for a peer disconnect),
     * reason the RFC 4253 §11.1 code, text the detail. */
    LSH_EV_CLOSED
} lsh_event_type;

/*
 * Every pointer in an event is borrowed: valid until the next call on the
 * connection.  Which fields an event type fills is said at the type.
 */
typedef struct lsh_event {
    lsh_event_type type;
    int code;
    uint32_t reason;
    int first;
    const char *text;    /* NUL-terminated */
    const uint8_t *data; /* message payload incl. type byte / key blob /
                            channel data / bytes to sign */
    size_t len;
    const lsh_key *key;  /* LSH_EV_HOSTKEY: the server's key */
    uint32_t chan;       /* channel events: our channel number */
    uint32_t num;        /* a number the event type defines */
    const char *name;    /* request type, auth method, user name, ... */
    const uint8_t *extra; /* request-specific bytes, unparsed */
    size_t extra_len;
    uint32_t id;         /* requests and their results (channel.h) */
} lsh_event;

/* Creates a connection; it queues our identification string at once. */
LSH_MUST_CHECK int lsh_conn_new(const lsh_config *cfg, lsh_conn **out);
void lsh_conn_free(lsh_conn *c);

/*
 * Appends received bytes; *used says how many were taken (fewer than n
 * when the input buffer is full: call again after draining events).
 * Returns 0, or the sticky error once the connection has failed.
 */
int lsh_conn_feed(lsh_conn *c, const uint8_t *data, size_t n, size_t *used);

/*
 * lsh_conn_feed without a copy: room in the input buffer for up to n
 * bytes (*room is 0 when it is full or the connection has failed: use
 * lsh_conn_feed then), to be filled in place and handed over with
 * lsh_conn_feed_commit(c, k), k <= *room, before any other call on c.
 */
LSH_MUST_CHECK int lsh_conn_feed_space(lsh_conn *c, size_t n, uint8_t **p,
                                       size_t *room);
void lsh_conn_feed_commit(lsh_conn *c, size_t k);

/* The peer closed its side: pending input is processed, then CLOSED. */
void lsh_conn_feed_eof(lsh_conn *c);

/* Returns 1 and fills *ev with the next event, or 0 when none is ready. */
int lsh_conn_next_event(lsh_conn *c, lsh_event *ev);

/* Bytes waiting to be sent (borrowed), and acknowledging n of them. */
void lsh_conn_out(lsh_conn *c, const uint8_t **p, size_t *n);
void lsh_conn_out_ack(lsh_conn *c, size_t n);

/* Checks timers against the config clock; may queue events and output.
 * Besides the login timeout and re-exchanges, it gives back the big
 * buffers of a bulk stream once the connection has been idle a second. */
void lsh_conn_tick(lsh_conn *c);
/* The next time (config clock, ms) tick has work to do; UINT64_MAX none. */
uint64_t lsh_conn_next_deadline(const lsh_conn *c);

/* Client: the answer to LSH_EV_HOSTKEY. */
int lsh_conn_hostkey_verdict(lsh_conn *c, int accept, const char *why);

/*
 * Sends an upper-layer message (payload with its type byte).  During a
 * key exchange it is queued (bounded: LSH_EAGAIN when full; wait for
 * lsh_conn_can_send).
 */
LSH_MUST_CHECK int lsh_conn_send(lsh_conn *c, const uint8_t *payload,
                                 size_t n);
int lsh_conn_can_send(const lsh_conn *c);

/* Client: SERVICE_REQUEST (after the first kex; queued until then). */
LSH_MUST_CHECK int lsh_conn_request_service(lsh_conn *c, const char *name);

/* Starts a key exchange now (either role). */
LSH_MUST_CHECK int lsh_conn_rekey(lsh_conn *c);

/* Sends SSH_MSG_IGNORE with n random bytes, or a ping (if the peer
 * advertised ping@openssh.com; LSH_EUNSUPPORTED otherwise). */
LSH_MUST_CHECK int lsh_conn_send_ignore(lsh_conn *c, size_t n);
LSH_MUST_CHECK int lsh_conn_ping(lsh_conn *c, const uint8_t *data, size_t n);

/* Sends DISCONNECT and closes; a CLOSED event follows. */
void lsh_conn_disconnect(lsh_conn *c, uint32_t reason, const char *text);

/* Called by the auth layer on success: enables delayed compression and
 * the post-auth message filter. */
void lsh_conn_set_authenticated(lsh_conn *c);

/* The sticky error (0 if none) and its detail text ("" if none; valid
 * until lsh_conn_free). */
int lsh_conn_last_error(const lsh_conn *c, const char **detail);

/* Negotiated names; NULL before the first kex.  Valid until a key
 * re-exchange negotiates other names, or lsh_conn_free (copy them to keep
 * them longer). */
enum lsh_conn_info {
    LSH_INFO_KEX,
    LSH_INFO_HOSTKEY,
    LSH_INFO_CIPHER_C2S,
    LSH_INFO_CIPHER_S2C,
    LSH_INFO_MAC_C2S,
    LSH_INFO_MAC_S2C,
    LSH_INFO_COMP_C2S,
    LSH_INFO_COMP_S2C,
    LSH_INFO_PEER_VERSION, /* identification string without CR LF */
    LSH_INFO_OUR_VERSION,
    LSH_INFO_SERVER_SIG_ALGS
};
const char *lsh_conn_info(const lsh_conn *c, enum lsh_conn_info what);

/* Session identifier (H of the first kex); NULL before it. */
const uint8_t *lsh_conn_session_id(const lsh_conn *c, size_t *len);

/* Statistics: completed key exchanges, and bytes each way. */
typedef struct lsh_conn_stats {
    unsigned kex_count;
    uint64_t bytes_in, bytes_out;
    int strict_kex;
} lsh_conn_stats;
void lsh_conn_get_stats(const lsh_conn *c, lsh_conn_stats *st);

#endif
