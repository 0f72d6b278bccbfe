/*
 * Internals shared by conn.c and the transport files that implement its
 * parts (version.c, filter.c, kex_flow.c).  Not for other layers.
 */
#ifndef LSH_SSH_CONN_INTERNAL_H
#define LSH_SSH_CONN_INTERNAL_H

#include "ssh/conn.h"
#include "ssh/transport/kex.h"
#include "ssh/transport/kex_methods.h"
#include "ssh/transport/packet.h"

#define LSH_CONN_EVQ 16
#define LSH_CONN_TEXT 512
#define LSH_CONN_SERVICE_MAX 63 /* longest service name we request */
/* Buffers: storage up to this size goes as soon as the buffer is empty
 * (cheap to make again); bigger storage (a bulk stream's) stays while
 * the stream flows and goes once the connection was idle for
 * LSH_CONN_TRIM_MS (conn.c, release_idle and lsh_conn_tick). */
#define LSH_CONN_KEEP_SMALL ((size_t)16 * 1024)
#define LSH_CONN_TRIM_MS ((uint64_t)1000)
#define LSH_CONN_IN_MAX ((size_t)2 * LSH_PKT_MAX + 65536)
#define LSH_CONN_OUT_MAX ((size_t)64 * 1024 * 1024)
#define LSH_CONN_HELD_MAX ((size_t)4 * 1024 * 1024)
/* lsh_config.sig_algs: longest list taken, and the default (what OpenSSH
 * advertises in server-sig-algs, RFC 8308 §3.1: no SHA-1 ssh-rsa, no
 * DSA).  Certificates of these key types are taken as well. */
#define LSH_SIG_ALGS_MAX 4096
#define LSH_DEFAULT_SIG_ALGS                                              \
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"                \
    "ecdsa-sha2-nistp521,ssh-ed448,rsa-sha2-512,rsa-sha2-256,"            \
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com"
#define LSH_VERSION_LINE_MAX 255      /* RFC 4253 §4.2, CR LF included */
#define LSH_BANNER_LINE_MAX 8192
#define LSH_BANNER_LINES_MAX 1024
/* A re-exchange the peer does not finish within this long ends the
 * connection (the first one is bounded by the login timeout). */
#define LSH_REKEY_TIMEOUT_MS ((uint64_t)120 * 1000)

/* Steps of the key exchange method flow (who waits for what). */
enum kex_step {
    KS_NONE = 0,
    KS_WAIT_INIT,         /* server: KEXDH_INIT / KEX_ECDH_INIT */
    KS_WAIT_REPLY,        /* client: KEXDH_REPLY / KEX_ECDH_REPLY */
    KS_WAIT_GEX_REQUEST,  /* server */
    KS_WAIT_GEX_GROUP,    /* client */
    KS_WAIT_GEX_INIT,     /* server */
    KS_WAIT_GEX_REPLY,    /* client */
    KS_WAIT_VERDICT,      /* client: host key decision pending */
    KS_WAIT_NEWKEYS       /* keys derived, waiting for the peer's NEWKEYS */
};

/* Filter phases (filter.c). */
enum conn_phase {
    PH_FIRST_KEX = 0, /* before the first NEWKEYS from the peer */
    PH_KEX,           /* a rekey: peer KEXINIT seen, its NEWKEYS not yet */
    PH_PREAUTH,
    PH_AUTHED,
    PH_COUNT
};

enum filter_verdict {
    FV_FATAL = 0,   /* disconnect: not allowed in this state */
    FV_ALLOW,
    FV_UNIMPL       /* unknown here: reply SSH_MSG_UNIMPLEMENTED */
};

typedef struct dir_keys {
    char cipher[LSH_KEX_NAME_MAX + 1];
    char mac[LSH_KEX_NAME_MAX + 1];
    char comp[LSH_KEX_NAME_MAX + 1];
    uint8_t key[64];
    uint8_t iv[32];
    uint8_t mac_key[64];
} dir_keys;

/* An event waiting in the ring or being handed out.  Its text is either
 * owned (a malloc'd copy, freed with the slot) or borrowed from storage
 * that lives as long as the connection (c->detail, static strings);
 * NULL stands for "". */
typedef struct queued_event {
    lsh_event ev;
    char *text;
    int owned;
} queued_event;

/* What only a running key exchange needs (kex_flow.c): allocated when
 * it starts, freed (zeroed) when it ends. */
typedef struct conn_kex {
    const lsh_kex_method *method;
    lsh_kex_state *kst;
    lsh_buf client_pub, server_pub, K, hostkey_blob;
    uint8_t H[64];
    size_t hlen;
    uint32_t gex_min, gex_n, gex_max;
    int gex_old;
} conn_kex;

/* The names negotiated by the last key exchange (lsh_kex_result without
 * its fixed arrays): pointers into one malloc'd block, NULL before it. */
typedef struct conn_neg {
    const char *kex, *hostkey, *cipher_c2s, *cipher_s2c, *mac_c2s, *mac_s2c,
        *comp_c2s, *comp_s2c;
    char *block;
} conn_neg;

struct lsh_conn {
    lsh_config cfg;
    int role;

    /* Failure: sticky.  detail is allocated by the failure (NULL until
     * then, or if that allocation failed). */
    int err;
    char *detail;
    int closed;

    lsh_buf in, out, payload, scratch;
    lsh_pkt_dir tx, rx;
    uint64_t bytes_in, bytes_out;

    /* Version exchange (version.c). */
    int version_done;
    int eof;
    /* Identification strings without CR LF (malloc'd).  peer_version has
     * room for the longest line until the exchange is done, then only for
     * the one received (conn.c). */
    char *our_version;
    char *peer_version;
    unsigned banner_lines;

    /* Algorithm lists, resolved at creation: the static default list of
     * the role when the config names none, else malloc'd (conn.c). */
    const char *kex_list, *hostkey_list, *cipher_list, *mac_list,
        *comp_list;

    /* Key exchange (kex_flow.c).  The KEXINIT buffers hold storage only
     * while an exchange runs (until its hash is computed). */
    lsh_buf my_kexinit, peer_kexinit;
    int kex_sent;          /* we sent KEXINIT for the running exchange */
    uint32_t kexinit_seqnr; /* the sequence number it went out with */
    int peer_kexinit_seen; /* the peer's KEXINIT for it arrived */
    enum kex_step step;
    conn_neg neg;
    int have_neg;
    conn_kex *kx; /* while an exchange runs, else NULL */
    uint8_t session_id[64];
    size_t sid_len;
    int newkeys_sent, newkeys_received;
    dir_keys *pending_rx; /* from our NEWKEYS to the peer's, else NULL */
    int first_kex_done;
    unsigned kex_count;
    int strict;
    int skip_next_kex_packet; /* peer guessed wrong (RFC 4253 §7) */
    unsigned packets_before_kexinit;
    lsh_key *peer_hostkey;    /* client: the key verified at first kex */
    uint64_t last_kex_ms;
    uint64_t kex_started_ms; /* when the running re-exchange began */

    /* Messages the upper layers sent during a key exchange. */
    lsh_buf held;

    /* When big idle buffers go (lsh_conn_tick), 0: none is kept. */
    uint64_t trim_at;

    /* RFC 8308 */
    int peer_ext_info;
    int ext_info_window; /* the next packet may be EXT_INFO */
    char *server_sig_algs;
    char *sig_algs; /* lsh_config.sig_algs, copied; NULL: the defaults */
    int peer_ping;

    /* Services and authentication.  auth_finished: the auth layer is done
     * (client: SUCCESS arrived; server: SUCCESS sent) and has freed its
     * state (auth/auth.c). */
    int authenticated;
    int auth_finished;
    /* The service requested / accepted: the static "ssh-userauth", or
     * another name (malloc'd); NULL before. */
    const char *service;
    int service_requested, service_accepted;

    uint64_t login_deadline;

    /* The layers above the transport (src/ssh/auth, src/ssh/connection);
     * each owns its state and frees it in its *_free hook. */
    struct lsh_auth_state *auth;
    struct lsh_chan_state *chans;

    /* Events: a ring of at most LSH_CONN_EVQ, allocated as it fills and
     * freed when it empties, plus the event being handed out (its owned
     * text is freed by the next lsh_conn_next_event).  closed_spill: the
     * CLOSED event found no slot (allocation failure) and goes out once
     * the ring is empty. */
    queued_event *evq;
    unsigned evcap, evhead, evcount;
    int closed_spill;
    uint32_t spill_reason;
    queued_event current;
};

/* conn.c */
uint64_t lsh__conn_now(lsh_conn *c);
void lsh__conn_log(lsh_conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a fatal error, sends DISCONNECT when possible and queues CLOSED.
 * Returns code, for `return lsh__conn_fail(...)`. */
int lsh__conn_fail(lsh_conn *c, int code, uint32_t reason, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
/* Encodes and queues one packet with the current outgoing keys. */
int lsh__conn_send_now(lsh_conn *c, const uint8_t *payload, size_t n);
/* The same for the payload hdr[0..hn) || data[0..dn) (packet.h,
 * lsh_pkt_encode2): data is copied once, into c->out. */
int lsh__conn_send_now2(lsh_conn *c, const uint8_t *hdr, size_t hn,
                        const uint8_t *data, size_t dn);
/*
 * lsh_conn_send for a two-part payload hdr[0..hn) || data[0..dn) (hn > 0:
 * the header holds the message type): sent at once when possible, else
 * held during a key exchange as one message (a copy, as lsh_conn_send
 * makes).  Same results as lsh_conn_send.  For channel data: the caller
 * need not join header and data in a buffer of its own.
 */
int lsh__conn_send2(lsh_conn *c, const uint8_t *hdr, size_t hn,
                    const uint8_t *data, size_t dn);
/* Queues an event; text is copied (at most LSH_CONN_TEXT - 1 bytes).
 * Returns 0, or LSH_ENOMEM when full or out of memory. */
int lsh__conn_event(lsh_conn *c, const lsh_event *ev, const char *text);
/* Makes ev the event of the message being handled (c->current) with a
 * copy of text[0..n) (at most LSH_CONN_TEXT - 1 bytes; NULL or n == 0:
 * none).  Returns 1, a handler's "event in c->current", or a negative
 * code after lsh__conn_fail when the copy cannot be allocated. */
int lsh__conn_emit(lsh_conn *c, const lsh_event *ev, const char *text,
                   size_t n);
void lsh__conn_flush_held(lsh_conn *c);
/* A layer keeps big storage of a buffer between messages: lsh_conn_tick
 * calls lsh__chan_trim once the connection was idle for a while. */
void lsh__conn_trim_later(lsh_conn *c);

/*
 * The layers above the transport.  conn.c routes messages 50-79 to the
 * auth layer and 80-127 to the connection layer after the filter passed
 * them.  A handler returns 1 when it put an event in c->current (pointers
 * into the message stay valid until the next decode), 0 when it consumed
 * the message (it may have queued events with lsh__conn_event), or a
 * negative code after calling lsh__conn_fail.
 */
int lsh__auth_on_message(lsh_conn *c, const uint8_t *p, size_t n);
void lsh__auth_free(lsh_conn *c);
/* Client: SERVICE_ACCEPT arrived; the auth layer may send its first
 * request.  0, or a negative code after lsh__conn_fail. */
int lsh__auth_on_service_accept(lsh_conn *c);
int lsh__chan_on_message(lsh_conn *c, const uint8_t *p, size_t n);
void lsh__chan_free(lsh_conn *c);
/* Called after output was acknowledged: the connection layer may queue
 * LSH_EV_CHAN_WRITABLE once its send backlog has drained. */
void lsh__chan_on_drain(lsh_conn *c);
/* The connection is idle: storage kept for a stream goes. */
void lsh__chan_trim(lsh_conn *c);

/* version.c: consumes the peer's identification (and banner) lines. */
int lsh__version_process(lsh_conn *c);
int lsh__version_make(lsh_conn *c);

/* filter.c */
enum filter_verdict lsh__filter(const lsh_conn *c, uint8_t type);
enum conn_phase lsh__conn_phase(const lsh_conn *c);

/* kex_flow.c */
int lsh__kex_start(lsh_conn *c);
int lsh__kex_on_kexinit(lsh_conn *c, const uint8_t *p, size_t n);
int lsh__kex_on_method(lsh_conn *c, const uint8_t *p, size_t n);
int lsh__kex_on_newkeys(lsh_conn *c, const uint8_t *p, size_t n);
int lsh__kex_verdict(lsh_conn *c, int accept, const char *why);
int lsh__kex_in_progress(const lsh_conn *c);
void lsh__kex_reset(lsh_conn *c);
int lsh__kex_maybe_rekey(lsh_conn *c);
uint64_t lsh__kex_rekey_deadline(const lsh_conn *c);
/* Server: the private host key that signs for host key algorithm alg and,
 * for a *-cert-v01@openssh.com one, the certificate sent as K_S (cert
 * may be NULL) and the plain signature algorithm (sigalg may be NULL);
 * NULL when we have none. */
lsh_key *lsh__kex_host_key_for(const lsh_conn *c, const char *alg,
                               const lsh_cert **cert, char *sigalg,
                               size_t salen);
/* Server: takes references to the configured host certificates into
 * c->cfg (LSH_EINVAL for one that is not a host certificate of a private
 * host key); drop releases them (also after a failed hold). */
int lsh__kex_hold_host_certs(lsh_conn *c, lsh_cert *const *certs, size_t n);
void lsh__kex_drop_host_certs(lsh_conn *c);

#endif
