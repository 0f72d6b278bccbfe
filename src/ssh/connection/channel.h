/*
 * The SSH connection protocol (RFC 4254): global requests, channels, flow
 * control and channel requests, for both roles, inside lsh_conn.
 *
 * Channel numbers in this API are always ours (the number we gave the
 * channel); the peer's number never leaves the core.  A number is valid
 * from lsh_chan_open (or the LSH_EV_CHAN_OPEN event) until the
 * LSH_EV_CHAN_CLOSE event (or a failed LSH_EV_CHAN_OPEN_RESULT, or
 * lsh_chan_reject); after that it may be reused for another channel, so
 * the caller must forget it.
 *
 * Events of this layer and the lsh_event fields each one fills (fields
 * not listed are 0 / NULL; every pointer is borrowed: valid until the
 * next call on the connection; names are NUL-terminated printable
 * US-ASCII of at most LSH_CHAN_NAME_MAX bytes):
 *
 *   LSH_EV_CHAN_OPEN            the peer asks to open a channel.
 *       chan   the number we reserved for it (answer with lsh_chan_accept
 *              or lsh_chan_reject, now or later)
 *       name   the channel type ("session", "direct-tcpip", ...)
 *       extra  the type-specific data, unparsed (session.h parsers)
 *   LSH_EV_CHAN_OPEN_RESULT     the answer to our lsh_chan_open.
 *       chan   our number; code 0 (open) or LSH_EREFUSED (the number is
 *              free again)
 *       name   the channel type we asked for
 *       num    failure: the reason code (LSH_OPEN_*); success: 0
 *       text   failure: the peer's description (control bytes replaced)
 *       extra  success: type-specific confirmation data (usually empty)
 *   LSH_EV_CHAN_DATA            data arrived.
 *       chan; num 0 for CHANNEL_DATA, else the extended data type code
 *              (LSH_EXTENDED_DATA_STDERR = 1)
 *       data, len  the bytes.  They count against our window until the
 *              caller reports them with lsh_chan_consumed.
 *   LSH_EV_CHAN_EOF             the peer sends no more data.  chan.
 *   LSH_EV_CHAN_CLOSE           both sides have sent CLOSE: the channel
 *              is gone.  chan.  Fires exactly once per opened channel.
 *              Our requests still waiting for a reply get no result.
 *   LSH_EV_CHAN_REQUEST         a channel request from the peer.
 *       chan; name the request type; num want_reply (0 or 1)
 *       id     when want_reply: the reply slot for lsh_chan_request_reply_id
 *       extra  the type-specific data, unparsed (session.h parsers)
 *   LSH_EV_CHAN_REQUEST_RESULT  the reply to our want_reply request.
 *       chan; name our request type; num 1 (SUCCESS) or 0 (FAILURE)
 *       code   0 on SUCCESS, LSH_EREFUSED on FAILURE -- except for
 *              "keepalive@openssh.com", where any reply means alive: 0
 *       id     counts our want_reply requests on this channel from 0
 *   LSH_EV_CHAN_WRITABLE        the peer's window was zero or too small
 *              for a write (or lsh_chan_notify_adjust asked) and grew
 *              again: chan.  chan LSH_CHAN_ALL:
 *              the connection's send backlog (lsh_chan_limits.send_buffer)
 *              drained; retry every channel whose write came up short.
 *   LSH_EV_GLOBAL_REQUEST       a global request from the peer.
 *       name; num want_reply; id the reply slot; extra the data.
 *   LSH_EV_GLOBAL_RESULT        the reply to our want_reply global request.
 *       name; num 1/0; code 0 / LSH_EREFUSED (keepalive: always 0);
 *       id counts our want_reply global requests from 0;
 *       extra  REQUEST_SUCCESS's response data (tcpip-forward with port 0:
 *              lsh_chan_parse_forward_port)
 *
 * When the connection ends (LSH_EV_CLOSED), every channel is gone with it:
 * no LSH_EV_CHAN_CLOSE events follow, and calls return the sticky error.
 *
 * What the core decides by itself (RFC 4254 and OpenSSH PROTOCOL):
 *   - client: refuses "session", "direct-tcpip" and
 *     "direct-streamlocal@openssh.com" opens (§6.1, §7.2), "x11" unless we
 *     sent "x11-req" (§6.3.2), "auth-agent@openssh.com" unless we sent
 *     "auth-agent-req@openssh.com", "forwarded-tcpip" unless we sent
 *     "tcpip-forward" (§7.2; the caller still checks the port) and
 *     "forwarded-streamlocal@openssh.com" unless we sent
 *     "streamlocal-forward@openssh.com"; fails the global requests
 *     "tcpip-forward", "cancel-tcpip-forward" and the streamlocal pair
 *     (§7.1: clients SHOULD reject them);
 *   - server: refuses "forwarded-tcpip", "forwarded-streamlocal@openssh.com",
 *     "x11" and "auth-agent@openssh.com" opens (they only go to clients);
 *     refuses "session" beyond max_sessions with RESOURCE_SHORTAGE; after
 *     "no-more-sessions@openssh.com" a "session" open disconnects;
 *   - both: opens beyond max_channels get RESOURCE_SHORTAGE without an
 *     event and without allocating; "keepalive@openssh.com" requests
 *     (global or channel) are failed at once, as OpenSSH does; types or
 *     request names that are not printable names of at most 64 bytes
 *     (RFC 4251 §6) are refused (UNKNOWN_CHANNEL_TYPE / FAILURE).
 *   These replies still keep the RFC 4254 §4 reply order.
 *
 * Protocol violations disconnect with PROTOCOL_ERROR (reliability-plan
 * P-7): a message for a channel number we did not give the peer; any
 * message but OPEN_CONFIRMATION/OPEN_FAILURE for a channel still opening;
 * a maximum packet size below LSH_CHAN_MIN_PACKET in OPEN or
 * OPEN_CONFIRMATION (sizes above LSH_CHAN_MAX_PACKET are clamped to it);
 * WINDOW_ADJUST taking the window past 2^32-1 (§5.2); data beyond the
 * window we advertised -- any excess, with no grace (OpenSSH allows 10%;
 * we advertise exactly and expect the same); data longer than our maximum
 * packet size; data after the peer's EOF; a reply with no request
 * waiting; more than LSH_CHAN_PENDING_MAX unanswered want_reply requests
 * on one channel or LSH_GLOBAL_PENDING_MAX global ones; a malformed
 * message (every parser is strict and ends with lsh_rd_end).  After the
 * peer's CLOSE the channel is gone, so anything more for it is "unknown".
 *
 * Message numbers 83-89 and 101-127 (unassigned in RFC 4250) are not
 * handled here: they still go up as LSH_EV_MESSAGE.
 */
#ifndef LSH_SSH_CONNECTION_CHANNEL_H
#define LSH_SSH_CONNECTION_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "ssh/conn.h"

/* RFC 4254 §9 message numbers (80, GLOBAL_REQUEST, is in conn.h). */
enum {
    LSH_MSG_REQUEST_SUCCESS = 81,
    LSH_MSG_REQUEST_FAILURE = 82,
    LSH_MSG_CHANNEL_OPEN = 90,
    LSH_MSG_CHANNEL_OPEN_CONFIRMATION = 91,
    LSH_MSG_CHANNEL_OPEN_FAILURE = 92,
    LSH_MSG_CHANNEL_WINDOW_ADJUST = 93,
    LSH_MSG_CHANNEL_DATA = 94,
    LSH_MSG_CHANNEL_EXTENDED_DATA = 95,
    LSH_MSG_CHANNEL_EOF = 96,
    LSH_MSG_CHANNEL_CLOSE = 97,
    LSH_MSG_CHANNEL_REQUEST = 98,
    LSH_MSG_CHANNEL_SUCCESS = 99,
    LSH_MSG_CHANNEL_FAILURE = 100
};

/* RFC 4254 §5.1 CHANNEL_OPEN_FAILURE reason codes. */
enum {
    LSH_OPEN_ADMINISTRATIVELY_PROHIBITED = 1,
    LSH_OPEN_CONNECT_FAILED = 2,
    LSH_OPEN_UNKNOWN_CHANNEL_TYPE = 3,
    LSH_OPEN_RESOURCE_SHORTAGE = 4
};

/* RFC 4254 §5.2 */
#define LSH_EXTENDED_DATA_STDERR 1u

/* LSH_EV_CHAN_WRITABLE's chan when the whole connection drained. */
#define LSH_CHAN_ALL UINT32_MAX

/* RFC 4251 §6: names are at most 64 characters. */
#define LSH_CHAN_NAME_MAX 64

/*
 * Maximum packet sizes (the largest data string of one DATA or
 * EXTENDED_DATA message).  Below the minimum a peer's value is a protocol
 * error: a channel that moves a few bytes per message only wastes the
 * link.  Above the maximum a value is clamped, so that a message always
 * fits our 256 KiB transport packet with its header (RFC 4254 §5.2).
 */
#define LSH_CHAN_MIN_PACKET 64u
#define LSH_CHAN_MAX_PACKET (256u * 1024u - 2048u)

/* Defaults for a window or maximum packet of 0 (AsyncSSH's window and
 * max_pktsize). */
#define LSH_CHAN_DEFAULT_WINDOW (2u * 1024u * 1024u)
#define LSH_CHAN_DEFAULT_PACKET 32768u

/* Unanswered want_reply requests the peer may have in flight. */
#define LSH_CHAN_PENDING_MAX 32u   /* per channel */
#define LSH_GLOBAL_PENDING_MAX 64u /* global requests */
/* Our own requests waiting for replies (LSH_EAGAIN beyond). */
#define LSH_CHAN_OUTSTANDING_MAX 16u
#define LSH_GLOBAL_OUTSTANDING_MAX 64u
/* Largest response data of lsh_global_request_reply. */
#define LSH_GLOBAL_REPLY_DATA_MAX (64u * 1024u)

typedef struct lsh_chan_limits {
    /* Channels at once, in any state, both directions (0: 1024). */
    uint32_t max_channels;
    /* Server: "session" channels the peer may have open at once (0: 10,
     * OpenSSH's MaxSessions; UINT32_MAX: only max_channels applies).  The
     * client refuses session opens anyway. */
    uint32_t max_sessions;
    /* lsh_chan_write queues nothing more while the connection holds this
     * many unsent bytes (0: 2 MiB), whatever the peers' windows allow:
     * a peer advertising a 4 GiB window cannot make us buffer 4 GiB. */
    size_t send_buffer;
} lsh_chan_limits;

/* Sets the limits (fields at 0 keep their defaults).  Lowering
 * max_channels below the channels open now only stops new ones. */
int lsh_chan_set_limits(lsh_conn *c, const lsh_chan_limits *l);

/*
 * Opens a channel of `type` (RFC 4254 §5.1) with type-specific data
 * (session.h builds it; NULL/0 for "session").  window and max_packet are
 * what we let the peer send (0: the defaults; max_packet below
 * LSH_CHAN_MIN_PACKET is LSH_EINVAL, above LSH_CHAN_MAX_PACKET clamped).
 * *chan_out gets our number; LSH_EV_CHAN_OPEN_RESULT follows.
 * Returns 0, LSH_ESTATE before authentication, LSH_EAGAIN when
 * max_channels are in use or the send queue is full, LSH_EINVAL.
 */
LSH_MUST_CHECK int lsh_chan_open(lsh_conn *c, const char *type,
                                 const uint8_t *type_data, size_t n,
                                 uint32_t window, uint32_t max_packet,
                                 uint32_t *chan_out);

/* Answers an LSH_EV_CHAN_OPEN: confirm (window, max_packet as for
 * lsh_chan_open), or refuse with an RFC 4254 §5.1 reason and a text
 * (NULL: none); refusing frees the number.  LSH_ENOTFOUND if chan is not
 * waiting for an answer. */
LSH_MUST_CHECK int lsh_chan_accept(lsh_conn *c, uint32_t chan,
                                   uint32_t window, uint32_t max_packet);
LSH_MUST_CHECK int lsh_chan_reject(lsh_conn *c, uint32_t chan,
                                   uint32_t reason, const char *text);

/*
 * Queues data (ext_type 0) or extended data (e.g. LSH_EXTENDED_DATA_STDERR)
 * for the peer.  Returns how many bytes were queued: at most the peer's
 * window, split into messages of at most its maximum packet size, and
 * nothing while the connection's send backlog is full.  A short count
 * (0 included) means "wait for LSH_EV_CHAN_WRITABLE" for this channel or
 * for LSH_CHAN_ALL.  Negative: LSH_ENOTFOUND, LSH_ESTATE (not open, or
 * after our EOF or CLOSE), the connection's sticky error.  The data is
 * copied.
 */
int lsh_chan_write(lsh_conn *c, uint32_t chan, uint32_t ext_type,
                   const uint8_t *p, size_t n);

/* How many bytes lsh_chan_write would take now (0 for unknown channels). */
size_t lsh_chan_window_out(const lsh_conn *c, uint32_t chan);

/*
 * The peer's window as it stands (RFC 4254 §5.2): how many more bytes of
 * data it has granted, before our own send backlog is counted (0 for
 * unknown channels, or after our EOF or CLOSE).  A sender may use less
 * than the window; one that holds back on its own, with window left,
 * calls lsh_chan_notify_adjust to hear LSH_EV_CHAN_WRITABLE on the
 * peer's next WINDOW_ADJUST all the same, as after a write the window
 * cut short.  LSH_ENOTFOUND, LSH_ESTATE as for lsh_chan_write.
 */
uint32_t lsh_chan_peer_window(const lsh_conn *c, uint32_t chan);
LSH_MUST_CHECK int lsh_chan_notify_adjust(lsh_conn *c, uint32_t chan);

/* Sends EOF (once; LSH_ESTATE after EOF or CLOSE). */
LSH_MUST_CHECK int lsh_chan_send_eof(lsh_conn *c, uint32_t chan);

/*
 * Sends CLOSE once (later calls return 0).  The channel stays until the
 * peer's CLOSE arrives: then LSH_EV_CHAN_CLOSE.  Data that arrives
 * meanwhile is dropped, and requests get no reply.  On a channel still
 * opening, the CLOSE goes out as soon as the peer confirms (if it refuses,
 * the failed LSH_EV_CHAN_OPEN_RESULT ends the channel instead).  An
 * unanswered incoming open is refused with lsh_chan_reject (LSH_ESTATE
 * here).
 */
LSH_MUST_CHECK int lsh_chan_close(lsh_conn *c, uint32_t chan);

/*
 * The caller consumed n bytes of received data: once at least half of our
 * window has been consumed, a WINDOW_ADJUST gives it back to the peer.
 * Flow control is the caller's: data it does not consume stops the peer
 * after one window, so a slow reader never makes memory grow.
 * LSH_EINVAL if n exceeds the bytes received and not yet consumed.
 */
LSH_MUST_CHECK int lsh_chan_consumed(lsh_conn *c, uint32_t chan, size_t n);

/*
 * Sends a channel request (RFC 4254 §5.4) with its type-specific data
 * (session.h).  With want_reply, LSH_EV_CHAN_REQUEST_RESULT follows (in
 * request order).  LSH_EAGAIN when LSH_CHAN_OUTSTANDING_MAX replies are
 * awaited already; LSH_ESTATE after our CLOSE; LSH_EINVAL for a type that
 * is not a name.
 */
LSH_MUST_CHECK int lsh_chan_request(lsh_conn *c, uint32_t chan,
                                    const char *type, int want_reply,
                                    const uint8_t *data, size_t n);

/*
 * Answers an LSH_EV_CHAN_REQUEST that wanted a reply: _id names the
 * request by the event's id, the plain form answers the oldest one not yet
 * answered.  Answers may come in any order; the replies go out in request
 * order (RFC 4254 §4), each as soon as all earlier ones are answered.
 * Returns 0 (also when our CLOSE made the reply moot), LSH_ENOTFOUND when
 * nothing (or not that id) is waiting.
 */
LSH_MUST_CHECK int lsh_chan_request_reply(lsh_conn *c, uint32_t chan,
                                          int ok);
LSH_MUST_CHECK int lsh_chan_request_reply_id(lsh_conn *c, uint32_t chan,
                                             uint32_t id, int ok);

/* Global requests (RFC 4254 §4): the same shapes without a channel.  A
 * successful reply may carry response data (at most
 * LSH_GLOBAL_REPLY_DATA_MAX bytes, copied). */
LSH_MUST_CHECK int lsh_global_request(lsh_conn *c, const char *name,
                                      int want_reply, const uint8_t *data,
                                      size_t n);
LSH_MUST_CHECK int lsh_global_request_reply(lsh_conn *c, int ok,
                                            const uint8_t *data, size_t n);
LSH_MUST_CHECK int lsh_global_request_reply_id(lsh_conn *c, uint32_t id,
                                               int ok, const uint8_t *data,
                                               size_t n);

/*
 * Sends "keepalive@openssh.com" as a global request with want_reply; its
 * reply (SUCCESS or FAILURE: both mean alive) comes as LSH_EV_GLOBAL_RESULT
 * with code 0.  lsh_conn_keepalive_pending counts the keepalives sent and
 * not yet answered: the caller disconnects when it passes its count_max.
 */
LSH_MUST_CHECK int lsh_conn_keepalive(lsh_conn *c);
unsigned lsh_conn_keepalive_pending(const lsh_conn *c);

/* Client: sends "no-more-sessions@openssh.com" (OpenSSH PROTOCOL §2.2). */
LSH_MUST_CHECK int lsh_conn_no_more_sessions(lsh_conn *c);

/* Channels allocated now, in any state (for tests and statistics). */
uint32_t lsh_chan_count(const lsh_conn *c);

#endif
