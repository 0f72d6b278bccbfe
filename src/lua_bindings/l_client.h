/*
 * The SSH client as Lua objects: the C half of lua/luassh/client.lua and
 * lua/luassh/process.lua (doc/api/client.md).
 *
 *   SSHClientConnection  (l_client.c)  one lsh_io_conn with a client core;
 *       decisions (host key, which auth method) go up to Lua as "control
 *       events" that lua/luassh/client.lua answers.
 *   SSHClientChannel     (l_chan.c)    one channel of a connection, with
 *       buffered input per data type, a pending-output queue and the
 *       requests/exit status of a session.
 *
 * Ownership (STYLE.md, "Ownership and lifetime"): the connection's state
 * is a malloc'd llsh_client, reference counted by its Lua object, by the
 * lsh_io_conn while the socket is open, and by each channel.  A channel's
 * state lives in its userdata, which keeps the connection's userdata alive
 * through a user value; the connection only holds channels weakly (a
 * pointer per channel number, cleared by the channel's __gc).
 *
 * Callbacks from the loop (on_event, on_closed) only copy data and wake
 * tasks; they never call Lua.
 */
#ifndef LLSH_L_CLIENT_H
#define LLSH_L_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "lua_bindings/sched.h"
#include "ssh/conn.h"
#include "uvio/tcp.h"

#define LLSH_CLIENT_MT "luassh.SSHClientConnection"
#define LLSH_CHAN_MT "luassh.SSHClientChannel"

typedef struct llsh_client llsh_client;
typedef struct llsh_chan llsh_chan;

/* A growable byte queue: bytes live in p[head..len). */
typedef struct llsh_bytes {
    uint8_t *p;
    size_t head, len, cap;
} llsh_bytes;

size_t llsh_bytes_avail(const llsh_bytes *b);
int llsh_bytes_put(llsh_bytes *b, const uint8_t *p, size_t n);
void llsh_bytes_take(llsh_bytes *b, size_t n);
void llsh_bytes_free(llsh_bytes *b);

enum { LLSH_CL_CONNECTING, LLSH_CL_OPEN, LLSH_CL_CLOSED };

/* One queued control event (copied out of the core's borrowed event). */
typedef struct llsh_ctl {
    struct llsh_ctl *next;
    int type;             /* LSH_EV_* */
    int code;
    uint32_t num;
    int first;
    char *text;           /* NUL-terminated copies or NULL */
    size_t text_len;
    char *name;
    uint8_t *data;
    size_t len;
    uint8_t *extra;
    size_t extra_len;
    lsh_key *key;         /* one reference */
    char *instruction;    /* prompts (kbd-int, password change) */
    size_t nprompts;
    char **prompts;
    int *echo;
    /* Server: an auth request's key algorithm and blob, the channel
     * number of an incoming open / request, a request's reply slot, and
     * where in the channel's input stream a request arrived. */
    char *alg;
    uint8_t *blob;
    size_t blob_len;
    uint8_t *cert;        /* certificate blob of a publickey request */
    size_t cert_len;
    uint32_t chan, id;
    uint64_t at;
} llsh_ctl;

/* Counters a listener shares with its connections (max_startups,
 * max_connections); reference counted by both. */
typedef struct llsh_slots {
    int refs;
    unsigned unauth;      /* connections not yet authenticated */
    unsigned active;      /* all open connections */
    struct llsh_client *oldest, *newest; /* the unauthenticated ones */
} llsh_slots;

void llsh_slots_unref(llsh_slots *s);

/* The oldest unauthenticated connection that has not sent its version
 * line yet (a flood's), or NULL: max_startups evicts it for a newcomer. */
struct llsh_client *llsh_slots_silent(llsh_slots *s);
/* cl authenticated or is closing: it no longer counts as a startup. */
void llsh_slot_done(struct llsh_client *cl);

struct llsh_client {
    int refs;
    lsh_io_conn *ioc;     /* NULL once the socket has closed */
    int state;
    int auth_done;        /* control events stop at authentication */
    int gone;             /* the Lua object was collected */
    /* Why the connection ended (state CLOSED). */
    int err;              /* LSH_E* */
    uint32_t disc_reason; /* RFC 4253 §11.1 code, peer DISCONNECT */
    int at_connect;       /* the TCP connection never came up */
    int by_us;            /* we closed it (close/disconnect/abort) */
    char *detail;         /* why it ended (malloc'd), NULL: nothing said */
    /* The host named by the caller (malloc'd) or, for a server
     * connection, the peer's address (peer_host); never NULL once set
     * up. */
    char *host;
    int port;
    /* Socket addresses: one block (malloc'd), peer NUL local NUL; both
     * NULL until known. */
    char *peer_host, *local_host;
    int peer_port, local_port;
    /* lsh_conn_info values: read from the core while it lives (once
     * info_seen: the first key exchange is done), kept past the close in
     * info: the 11 strings one after the other, each NUL-terminated
     * (malloc'd), or NULL. */
    int info_seen;
    char *info;
    /* Control events for lua/luassh/client.lua, until auth_done. */
    llsh_ctl *ctl_head, *ctl_tail;
    llsh_waiter ctl_wait;
    llsh_waitq closed_q;  /* wait_closed() */
    /* Channels by our number (weak). */
    llsh_chan **chans;
    size_t nchans;
    uint32_t window, max_packet; /* defaults for new channels */
    /* keepalive_interval / keepalive_count_max (OpenSSH's
     * ServerAliveInterval / ServerAliveCountMax). */
    struct lsh_io_timer *ka_timer;
    uint64_t ka_interval_ms, last_rx_ms;
    unsigned ka_count_max;
    /* Server connections (accepted by a listener, l_server.c). */
    int server;
    llsh_slots *slots;    /* one reference, or NULL */
    int counted_unauth;   /* still counted in slots->unauth (and on
                             its oldest..newest list) */
    struct llsh_client *un_prev, *un_next;
    /* What the core's config borrows (strings, see lsh_config) when it
     * belongs to someone else: a listener, or the options block of a
     * reverse connection (l_server.c).  owner_unref(owner) runs when cl
     * is freed.  scfg: the server settings applied once a dialled
     * server connection (connect_reverse) is up; owned by owner. */
    void *owner;
    void (*owner_unref)(void *owner);
    const struct llsh_server_cfg *scfg;
};

enum { LLSH_CH_OPENING, LLSH_CH_OPEN, LLSH_CH_FAILED, LLSH_CH_CLOSED };

struct llsh_chan {
    llsh_client *cl;      /* one reference; NULL after __gc */
    uint32_t id;          /* our channel number */
    int state;
    int linked;           /* cl->chans[id] == this */
    int close_sent, eof_received, eof_wanted, eof_sent;
    uint32_t open_reason; /* OPEN_FAILURE code */
    char *open_text;
    char type[32];
    /* Input: [0] data, [1] extended data type 1 (stderr). */
    llsh_bytes in[2];
    int collect[2];       /* consume at once: buffer without a window */
    llsh_waiter rd_wait[2];
    /* Output waiting for the peer's window. */
    llsh_bytes out;
    llsh_waitq drain_q;
    /* Our want_reply requests: ids from 0, replies in order. */
    uint32_t req_sent, req_replied;
    uint64_t req_ok_bits; /* outcome of reply id, bit id % 64 */
    /* Any change of state: open result, reply, exit, close. */
    llsh_waitq state_q;
    int has_exit_status;
    uint32_t exit_status;
    char *exit_signal, *exit_message, *exit_lang;
    int core_dumped;
    /* Channels the peer opened (server sessions): their requests queue
     * here for Lua (ch:_next_request), each with the position in the
     * data stream where it arrived, so that reads stop there first. */
    int incoming;
    llsh_ctl *req_head, *req_tail;
    llsh_waitq req_q;
    uint64_t in_total, in_taken; /* bytes of stream 0 received / read */
    /* A consumer of stream dt that takes bytes as they arrive, straight
     * from the decrypted message (l_sftp.c, and ch:_sink_file): called
     * from the event dispatch, it returns how many it took; the rest is
     * queued in in[dt] (then the sink is offered in[dt] first) and the
     * reader woken either way.  It may not enter Lua. */
    size_t (*sink[2])(void *ctx, const uint8_t *p, size_t n);
    void *sink_ctx[2];
    llsh_bytes out_err;   /* write(data, 1): extended data (stderr) */
};

/*
 * For core calls whose failure changes nothing we would do next: the
 * channel is already gone, or the connection failed and its CLOSED event
 * says so.
 */
static inline void
llsh_ignore(int r)
{
    (void)r;
}

/* [-0, +0] The client at idx (raises if it is not one). */
llsh_client *llsh_check_client(lua_State *L, int idx);

/* [-0, +1] Pushes the error object that says why cl is unusable. */
void llsh_client_push_error(lua_State *L, const llsh_client *cl);

/* Sends what the core queued (after a call into the core from Lua). */
void llsh_client_flush(llsh_client *cl);

/* The core, or NULL when the connection is no longer usable. */
lsh_conn *llsh_client_core(const llsh_client *cl);

void llsh_client_unref(llsh_client *cl);

/* l_chan.c: events for a channel, the connection's end, the methods. */
void llsh__chan_event(llsh_client *cl, llsh_chan *ch, const lsh_event *ev);
void llsh__chan_conn_lost(llsh_chan *ch);
void llsh__chan_writable(llsh_chan *ch);
int llsh__chan_open(lua_State *L);
int llsh__chan_accept(lua_State *L);
void llsh__chan_free_reqs(llsh_chan *ch);
void llsh__sess_register(lua_State *L, int module_idx);
struct lsh_buf;
/* [-0, +1] Pushes b's bytes (r == 0) or raises "cannot encode what";
 * frees b either way. */
int llsh__push_buf(lua_State *L, struct lsh_buf *b, int r, const char *what);

/* Server connections (l_client.c for l_server.c). */
typedef struct llsh_server_cfg {
    const char *methods;  /* auth methods offered, NULL: all */
    unsigned max_auth_tries;
    uint32_t window, max_packet;
    uint64_t ka_interval_ms;
    unsigned ka_count_max;
} llsh_server_cfg;

/* Adopts an accepted connection: 0 and *out (one reference for the
 * caller, one for the socket) or LSH_ENOMEM (the caller closes ioc). */
int llsh_server_conn_new(lsh_io_conn *ioc, const llsh_server_cfg *cfg,
                         llsh_slots *slots, llsh_client **out);
/*
 * Reverse direction (AsyncSSH's connect_reverse / listen_reverse):
 *
 * llsh_server_conn_dial: dials host:port and runs a server core made
 * from cfg on the socket; scfg is applied once it is up.  [-0, +1]
 * pushes the connection object, or raises as connect does.  owner (with
 * owner_unref) keeps cfg's strings and scfg alive: on success the
 * connection holds the reference the caller gave; on failure it is
 * released before raising.
 */
int llsh_server_conn_dial(lua_State *L, const char *host, int port,
                          const lsh_config *cfg,
                          const struct llsh_server_cfg *scfg,
                          const lsh_io_connect_opts *co, void *owner,
                          void (*owner_unref)(void *owner));
/* Client-side settings of connections accepted by a reverse listener. */
typedef struct llsh_client_cfg {
    uint32_t window, max_packet;
    uint64_t ka_interval_ms;
    unsigned ka_count_max;
} llsh_client_cfg;
/* Adopts an accepted socket whose core has the client role: 0 and *out
 * (one reference for the caller, one for the socket) or LSH_ENOMEM (the
 * caller closes ioc; owner is not taken).  The connection's host is the
 * peer's address (known_hosts looks it up). */
int llsh_client_conn_adopt(lsh_io_conn *ioc, const llsh_client_cfg *cfg,
                           void *owner, void (*owner_unref)(void *owner),
                           llsh_client **out);
/* [-0, +1] The Lua object for cl; takes over one reference. */
void llsh_push_conn(lua_State *L, llsh_client *cl);
/* Option tables: a string field copied into *slot (NULL when absent;
 * the caller frees it), an integer field (raises when negative). */
const char *llsh_keep_str(lua_State *L, int idx, const char *name,
                          char **slot);
lua_Integer llsh_int_field(lua_State *L, int idx, const char *name,
                           lua_Integer def);
/* Frees a control event. */
void llsh_ctl_free(llsh_ctl *e);
void llsh__chan_register(lua_State *L, int module_idx);

int luaopen_luassh_clientcore(lua_State *L);

#endif
