/*
 * SSHClientConnection: the C half of ssh.connect (l_client.h).
 *
 * IMPLEMENTATION NOTES
 *
 * The connection is driven from two sides.  The loop calls on_event for
 * each core event; channel events go to their channel (l_chan.c), and the
 * events that need a decision before authentication (host key, the auth
 * layer's results, prompts and signing requests, banners) are copied into
 * a queue of "control events".  lua/luassh/client.lua reads that queue
 * with conn:_event() and answers with the _hostkey_verdict / _auth_*
 * calls, so that every policy (known_hosts, the order of auth methods,
 * callbacks that may themselves wait) is Lua code running in the task
 * that called ssh.connect.  After USERAUTH_SUCCESS the queue closes.
 *
 * When the connection ends (the core's LSH_EV_CLOSED, a failed connect,
 * or the socket closing under us) every waiter of the connection and of
 * its channels is woken; each re-checks and raises the error object made
 * by llsh_client_push_error, which names host and port.
 */
#include "lua_bindings/l_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pwd.h>
#include <unistd.h>

#include <lauxlib.h>

#include "common/error.h"
#include "common/mem.h"
#include "lua_bindings/l_error.h"
#include "lua_bindings/l_key.h"
#include "ssh/auth/auth.h"
#include "ssh/connection/channel.h"
#include "ssh/keys/cert.h"
#include "uvio/loop.h"

extern char **environ;

typedef struct clientud {
    llsh_client *cl;
} clientud;

/* Strings the core's config borrows: they live as long as the client. */
typedef struct client_box {
    llsh_client cl;
    char *strs[8];
} client_box;

enum { STR_LOCAL_ADDR = 6 };

#define N_INFO 11
#define INFO_MAX 160 /* a value is cut at INFO_MAX - 1 bytes */
#define DETAIL_MAX 512

static const char *const INFO_KEYS[] = {
    "kex_alg",         "server_host_key_alg", "send_cipher",
    "recv_cipher",     "send_mac",            "recv_mac",
    "send_compression", "recv_compression",   "server_version",
    "client_version",  "server_sig_algs"};

/* Lifetime */

void
llsh_ctl_free(llsh_ctl *e)
{
    if (e == NULL) {
        return;
    }
    if (e->data != NULL) {
        lsh_freezero(e->data, e->len);
    }
    free(e->text);
    free(e->name);
    free(e->extra);
    free(e->instruction);
    for (size_t i = 0; i < e->nprompts; i++) {
        free(e->prompts[i]);
    }
    free(e->prompts);
    free(e->echo);
    free(e->alg);
    free(e->blob);
    free(e->cert);
    lsh_key_free(e->key);
    free(e);
}

void
llsh_slots_unref(llsh_slots *s)
{
    if (s != NULL && --s->refs == 0) {
        free(s);
    }
}

static void
slot_add(llsh_client *cl, llsh_slots *s)
{
    s->refs++;
    s->active++;
    s->unauth++;
    cl->slots = s;
    cl->counted_unauth = 1;
    cl->un_prev = s->newest;
    if (s->newest != NULL) {
        s->newest->un_next = cl;
    } else {
        s->oldest = cl;
    }
    s->newest = cl;
}

/* The connection authenticated or closed: no longer a startup. */
void
llsh_slot_done(llsh_client *cl)
{
    llsh_slots *s = cl->slots;
    if (s == NULL || !cl->counted_unauth) {
        return;
    }
    cl->counted_unauth = 0;
    s->unauth--;
    if (cl->un_prev != NULL) {
        cl->un_prev->un_next = cl->un_next;
    } else {
        s->oldest = cl->un_next;
    }
    if (cl->un_next != NULL) {
        cl->un_next->un_prev = cl->un_prev;
    } else {
        s->newest = cl->un_prev;
    }
    cl->un_prev = cl->un_next = NULL;
}

llsh_client *
llsh_slots_silent(llsh_slots *s)
{
    for (llsh_client *cl = s->oldest; cl != NULL; cl = cl->un_next) {
        lsh_conn *c = cl->ioc != NULL ? lsh_io_conn_core(cl->ioc) : NULL;
        const char *v = c != NULL ? lsh_conn_info(c, LSH_INFO_PEER_VERSION)
                                  : NULL;
        if (c != NULL && (v == NULL || v[0] == '\0')) {
            return cl;
        }
    }
    return NULL;
}

void
llsh_client_unref(llsh_client *cl)
{
    if (--cl->refs > 0) {
        return;
    }
    while (cl->ctl_head != NULL) {
        llsh_ctl *e = cl->ctl_head;
        cl->ctl_head = e->next;
        llsh_ctl_free(e);
    }
    if (!cl->server) {
        /* A client lives in a client_box (l_connect); a server
         * connection is a bare llsh_client (llsh_server_conn_new). */
        client_box *box = (client_box *)cl;
        for (size_t i = 0; i < sizeof(box->strs) / sizeof(box->strs[0]);
             i++) {
            free(box->strs[i]);
        }
    }
    free(cl->detail);
    if (cl->host != cl->peer_host) {
        free(cl->host);
    }
    free(cl->peer_host);
    free(cl->info);
    free(cl->chans);
    llsh_slots_unref(cl->slots);
    if (cl->owner_unref != NULL) {
        /* Last: the core that borrowed from it is gone already. */
        cl->owner_unref(cl->owner);
    }
    free(cl); /* the box's address for a client */
}

lsh_conn *
llsh_client_core(const llsh_client *cl)
{
    if (cl->ioc == NULL || cl->state != LLSH_CL_OPEN) {
        return NULL;
    }
    return lsh_io_conn_core(cl->ioc);
}

void
llsh_client_flush(llsh_client *cl)
{
    if (cl->ioc != NULL) {
        lsh_io_conn_flush(cl->ioc);
    }
}

/* Why it ended; "" when nothing was said. */
static const char *
detail_of(const llsh_client *cl)
{
    return cl->detail != NULL ? cl->detail : "";
}

/* Replaces the detail (cut at DETAIL_MAX - 1 bytes); on allocation
 * failure the detail stays what it was. */
static void set_detail(llsh_client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_detail(llsh_client *cl, const char *fmt, ...)
{
    char text[DETAIL_MAX];
    char *d;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if ((d = strdup(text)) != NULL) {
        free(cl->detail);
        cl->detail = d;
    }
}

/* The i-th lsh_conn_info value: the core's while it lives, else the
 * snapshot taken when it closed; "" when none. */
static const char *
info_of(const llsh_client *cl, int i)
{
    const char *p = cl->info;
    if (cl->ioc != NULL && lsh_io_conn_core(cl->ioc) != NULL) {
        p = cl->info_seen
                ? lsh_conn_info(lsh_io_conn_core(cl->ioc),
                                (enum lsh_conn_info)i)
                : NULL;
        return p != NULL ? p : "";
    }
    if (p == NULL) {
        return "";
    }
    while (i-- > 0) {
        p += strlen(p) + 1;
    }
    return p;
}

/* Learns the socket's addresses: one block for both. */
static void
note_addresses(llsh_client *cl, lsh_io_conn *ioc)
{
    char peer[64] = "", local[64] = "";
    size_t pl, ll;
    (void)lsh_io_conn_peer(ioc, peer, sizeof(peer), &cl->peer_port);
    (void)lsh_io_conn_local(ioc, local, sizeof(local), &cl->local_port);
    pl = strlen(peer);
    ll = strlen(local);
    if (cl->peer_host != NULL || (cl->peer_host = malloc(pl + ll + 2)) ==
                                     NULL) {
        return;
    }
    memcpy(cl->peer_host, peer, pl + 1);
    cl->local_host = cl->peer_host + pl + 1;
    memcpy(cl->local_host, local, ll + 1);
}

/* Errors */

static const char *
kind_of_disconnect(uint32_t reason)
{
    switch (reason) {
    case LSH_DISCONNECT_PROTOCOL_ERROR: return "ProtocolError";
    case LSH_DISCONNECT_KEY_EXCHANGE_FAILED: return "KeyExchangeFailed";
    case LSH_DISCONNECT_MAC_ERROR: return "MACError";
    case LSH_DISCONNECT_COMPRESSION_ERROR: return "CompressionError";
    case LSH_DISCONNECT_SERVICE_NOT_AVAILABLE: return "ServiceNotAvailable";
    case LSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED:
        return "ProtocolNotSupported";
    case LSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE:
        return "HostKeyNotVerifiable";
    case LSH_DISCONNECT_CONNECTION_LOST: return "ConnectionLost";
    case LSH_DISCONNECT_AUTH_CANCELLED_BY_USER:
    case LSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE:
        return "PermissionDenied";
    case LSH_DISCONNECT_ILLEGAL_USER_NAME: return "IllegalUserName";
    default: return "DisconnectError";
    }
}

static const char *const DISC_NAMES[] = {
    NULL, "HOST_NOT_ALLOWED_TO_CONNECT", "PROTOCOL_ERROR",
    "KEY_EXCHANGE_FAILED", "RESERVED", "MAC_ERROR", "COMPRESSION_ERROR",
    "SERVICE_NOT_AVAILABLE", "PROTOCOL_VERSION_NOT_SUPPORTED",
    "HOST_KEY_NOT_VERIFIABLE", "CONNECTION_LOST", "BY_APPLICATION",
    "TOO_MANY_CONNECTIONS", "AUTH_CANCELLED_BY_USER",
    "NO_MORE_AUTH_METHODS_AVAILABLE", "ILLEGAL_USER_NAME"};

/* The peer's own words from the core's "peer disconnected (reason N):
 * text" detail. */
static const char *
peer_words(const char *detail)
{
    const char *p = strstr(detail, "): ");
    if (strncmp(detail, "peer disconnected (", 19) == 0 && p != NULL) {
        return p[3] ? p + 3 : "no reason given";
    }
    return detail[0] ? detail : "no reason given";
}

static const char *
kind_of_code(int code)
{
    switch (code) {
    case LSH_ENOALG:
    case LSH_EBADSIG:
    case LSH_EKEYTYPE: return "KeyExchangeFailed";
    case LSH_EBADMAC: return "MACError";
    case LSH_ECOMPRESSION: return "CompressionError";
    case LSH_EPROTOCOL:
    case LSH_EUNEXPECTED:
    case LSH_EBADPACKET:
    case LSH_ETRUNCATED:
    case LSH_ETOOLARGE:
    case LSH_ETRAILING: return "ProtocolError";
    case LSH_EBADVERSION: return "ProtocolNotSupported";
    case LSH_EHOSTKEY: return "HostKeyNotVerifiable";
    case LSH_ETIMEOUT: return "Timeout";
    case LSH_EAUTH: return "PermissionDenied";
    default: return "ConnectionLost";
    }
}

void
llsh_client_push_error(lua_State *L, const llsh_client *cl)
{
    const char *kind;
    if (cl->state != LLSH_CL_CLOSED) {
        llsh_error_push(L, "ConnectionLost", LSH_ECLOSED,
                        "the connection to %s port %d is not open", cl->host,
                        cl->port);
    } else if (cl->at_connect) {
        switch (cl->err) {
        case LSH_ECONNREFUSED:
            llsh_error_push(L, "ConnectionRefused", cl->err,
                            "connection to %s port %d refused", cl->host,
                            cl->port);
            break;
        case LSH_EHOSTNOTFOUND:
            llsh_error_push(L, "HostNotFound", cl->err,
                            "cannot resolve host name '%s' (port %d): %s",
                            cl->host, cl->port, detail_of(cl));
            break;
        case LSH_ETIMEOUT:
            llsh_error_push(L, "Timeout", cl->err,
                            "connection to %s port %d timed out", cl->host,
                            cl->port);
            break;
        default:
            llsh_error_push(L, "OSError", cl->err,
                            "cannot connect to %s port %d: %s", cl->host,
                            cl->port, detail_of(cl));
            break;
        }
    } else if (cl->by_us) {
        llsh_error_push(L, "ConnectionLost", LSH_ECLOSED,
                        "the connection to %s port %d was closed", cl->host,
                        cl->port);
    } else if (cl->err == LSH_EDISCONNECTED) {
        int named = cl->disc_reason >= 1 && cl->disc_reason < 16;
        kind = kind_of_disconnect(cl->disc_reason);
        llsh_error_push(L, kind, cl->err,
                        "the %s %s port %d disconnected (reason %d%s%s): "
                        "%s", cl->server ? "client" : "server", cl->host,
                        cl->port, (int)cl->disc_reason,
                        named ? ", " : "",
                        named ? DISC_NAMES[cl->disc_reason] : "",
                        peer_words(detail_of(cl)));
    } else {
        kind = kind_of_code(cl->err);
        llsh_error_push(L, kind, cl->err, "connection to %s port %d %s: %s",
                        cl->host, cl->port,
                        cl->auth_done ? "lost" : "failed",
                        detail_of(cl)[0] ? detail_of(cl)
                                         : lsh_strerror(cl->err));
    }
    lua_pushstring(L, cl->host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, cl->port);
    lua_setfield(L, -2, "port");
    if (cl->disc_reason != 0) {
        lua_pushinteger(L, cl->disc_reason);
        lua_setfield(L, -2, "disconnect_reason");
    }
}

static int
raise_client(lua_State *L, const llsh_client *cl)
{
    llsh_client_push_error(L, cl);
    return lua_error(L);
}

/* Wakes everything that waits on the connection or its channels. */
static void
wake_all(llsh_client *cl)
{
    llsh_wake(&cl->ctl_wait, 0);
    for (size_t i = 0; i < cl->nchans; i++) {
        if (cl->chans[i] != NULL) {
            llsh__chan_conn_lost(cl->chans[i]);
        }
    }
}

static void
set_closed(llsh_client *cl, int err, uint32_t reason, const char *detail)
{
    if (cl->state == LLSH_CL_CLOSED) {
        return;
    }
    cl->state = LLSH_CL_CLOSED;
    cl->err = err != 0 ? err : LSH_ECLOSED;
    cl->disc_reason = reason;
    if (detail != NULL && detail_of(cl)[0] == '\0') {
        set_detail(cl, "%s", detail);
    }
    wake_all(cl);
}

/* Control events */

static char *
dupmem(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        if (n > 0) {
            memcpy(d, p, n);
        }
        d[n] = '\0';
    }
    return d;
}

static int
copy_prompts(llsh_ctl *e, lsh_conn *c)
{
    lsh_auth_prompts pr;
    if (lsh_auth_client_prompts(c, &pr) != 0) {
        return 0;
    }
    e->instruction = dupmem(pr.instruction, strlen(pr.instruction));
    if (e->instruction == NULL) {
        return -1;
    }
    if (pr.n == 0) {
        return 0;
    }
    e->prompts = calloc(pr.n, sizeof(*e->prompts));
    e->echo = calloc(pr.n, sizeof(*e->echo));
    if (e->prompts == NULL || e->echo == NULL) {
        return -1;
    }
    e->nprompts = pr.n;
    for (size_t i = 0; i < pr.n; i++) {
        e->echo[i] = pr.prompts[i].echo;
        if ((e->prompts[i] = dupmem(pr.prompts[i].text,
                                    pr.prompts[i].len)) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* Server: the fields of the auth request being decided. */
static int
copy_auth_request(llsh_ctl *e, lsh_conn *c)
{
    lsh_auth_request q;
    if (lsh_auth_server_request(c, &q) != 0) {
        return -1;
    }
    free(e->data);
    free(e->extra);
    e->data = e->extra = NULL;
    free(e->text);
    if ((e->text = dupmem(q.user, q.user_len)) == NULL) {
        return -1;
    }
    e->text_len = q.user_len;
    e->num = (uint32_t)q.phase;
    if (q.password != NULL &&
        (e->data = (uint8_t *)dupmem(q.password, q.password_len)) == NULL) {
        return -1;
    }
    e->len = q.password_len;
    if (q.new_password != NULL &&
        (e->extra = (uint8_t *)dupmem(q.new_password,
                                      q.new_password_len)) == NULL) {
        return -1;
    }
    e->extra_len = q.new_password_len;
    if (q.key_alg != NULL &&
        (e->alg = dupmem(q.key_alg, strlen(q.key_alg))) == NULL) {
        return -1;
    }
    if (q.key_blob != NULL) {
        if ((e->blob = (uint8_t *)dupmem(q.key_blob, q.key_blob_len)) ==
            NULL) {
            return -1;
        }
        e->blob_len = q.key_blob_len;
    }
    if (q.key != NULL && e->key == NULL) {
        e->key = lsh_key_ref((lsh_key *)q.key);
    }
    e->code = q.signature_verified;
    if (q.submethods != NULL &&
        (e->instruction = dupmem(q.submethods, strlen(q.submethods))) ==
            NULL) {
        return -1;
    }
    if (q.n_responses > 0) {
        if ((e->prompts = calloc(q.n_responses, sizeof(char *))) == NULL) {
            return -1;
        }
        e->nprompts = q.n_responses;
        for (size_t i = 0; i < q.n_responses; i++) {
            if ((e->prompts[i] = dupmem(q.responses[i],
                                        q.response_lens[i])) == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static int
queue_ctl(llsh_client *cl, const lsh_event *ev)
{
    llsh_ctl *e = calloc(1, sizeof(*e));
    lsh_conn *c = lsh_io_conn_core(cl->ioc);
    int bad = 0;
    if (e == NULL) {
        return -1;
    }
    e->type = ev->type;
    e->code = ev->code;
    e->num = ev->num;
    e->first = ev->first;
    if (ev->text != NULL) {
        bad |= (e->text = dupmem(ev->text, strlen(ev->text))) == NULL;
        e->text_len = strlen(ev->text);
    }
    if (ev->name != NULL) {
        bad |= (e->name = dupmem(ev->name, strlen(ev->name))) == NULL;
    }
    if (ev->data != NULL) {
        bad |= (e->data = (uint8_t *)dupmem(ev->data, ev->len)) == NULL;
        e->len = ev->len;
    }
    if (ev->extra != NULL) {
        bad |= (e->extra = (uint8_t *)dupmem(ev->extra, ev->extra_len)) ==
               NULL;
        e->extra_len = ev->extra_len;
    }
    if (ev->key != NULL) {
        e->key = lsh_key_ref((lsh_key *)ev->key);
    }
    if (ev->type == LSH_EV_AUTH_PROMPT) {
        bad |= copy_prompts(e, c) != 0;
    } else if (ev->type == LSH_EV_AUTH_REQUEST) {
        bad |= copy_auth_request(e, c) != 0;
    }
    e->chan = ev->chan;
    e->id = ev->id;
    if (bad) {
        llsh_ctl_free(e);
        return -1;
    }
    if (cl->ctl_tail != NULL) {
        cl->ctl_tail->next = e;
    } else {
        cl->ctl_head = e;
    }
    cl->ctl_tail = e;
    llsh_wake(&cl->ctl_wait, 0);
    return 0;
}

/* The core is about to go: copies the lsh_conn_info values (if the
 * first key exchange was done) into one block sized to them, each cut
 * at INFO_MAX - 1 bytes as info_of's readers cut the live ones.  On
 * allocation failure they are lost. */
static void
snapshot_info(llsh_client *cl, lsh_conn *c)
{
    size_t len[N_INFO], total = 0, at = 0;
    const char *v[N_INFO];
    char *block;
    if (c == NULL || !cl->info_seen) {
        return;
    }
    for (int i = 0; i < N_INFO; i++) {
        v[i] = lsh_conn_info(c, (enum lsh_conn_info)i);
        len[i] = v[i] != NULL ? strlen(v[i]) : 0;
        if (len[i] > INFO_MAX - 1) {
            len[i] = INFO_MAX - 1;
        }
        total += len[i] + 1;
    }
    if (cl->info != NULL || (block = malloc(total)) == NULL) {
        return;
    }
    for (int i = 0; i < N_INFO; i++) {
        if (len[i] > 0) {
            memcpy(block + at, v[i], len[i]);
        }
        block[at + len[i]] = '\0';
        at += len[i] + 1;
    }
    free(cl->info);
    cl->info = block;
}

/* The loop side */

static void
on_connected(lsh_io_conn *ioc, int status, const char *detail, void *data)
{
    llsh_client *cl = data;
    if (status != 0) {
        cl->at_connect = 1;
        set_closed(cl, status, 0, detail);
        return;
    }
    cl->state = LLSH_CL_OPEN;
    note_addresses(cl, ioc);
    if (cl->server && cl->scfg != NULL) {
        /* A dialled server (connect_reverse): the core exists now. */
        lsh_conn *c = lsh_io_conn_core(ioc);
        if (c != NULL && cl->scfg->methods != NULL) {
            llsh_ignore(lsh_auth_server_set_methods(c, cl->scfg->methods));
        }
        if (c != NULL && cl->scfg->max_auth_tries > 0) {
            llsh_ignore(lsh_auth_server_set_max_tries(
                c, cl->scfg->max_auth_tries));
        }
    }
}

static llsh_chan *
chan_of(llsh_client *cl, uint32_t id)
{
    return id < cl->nchans ? cl->chans[id] : NULL;
}

static void
orphan_event(lsh_conn *c, const lsh_event *ev)
{
    /* A channel whose Lua object is gone (we closed it) or one we never
     * asked for: refuse what wants an answer. */
    if (ev->type == LSH_EV_CHAN_REQUEST && ev->num) {
        llsh_ignore(lsh_chan_request_reply_id(c, ev->chan, ev->id, 0));
    } else if (ev->type == LSH_EV_CHAN_DATA) {
        llsh_ignore(lsh_chan_consumed(c, ev->chan, ev->len));
    }
}

static void
on_event(lsh_io_conn *ioc, const lsh_event *ev, void *data)
{
    llsh_client *cl = data;
    lsh_conn *c = lsh_io_conn_core(ioc);
    llsh_chan *ch;

    cl->last_rx_ms = lsh_io_now_ms();
    switch (ev->type) {
    case LSH_EV_KEX_DONE:
        cl->info_seen = 1; /* info_of reads the core from now on */
        if (ev->first && !cl->auth_done && !cl->server &&
            queue_ctl(cl, ev) != 0) {
            lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION,
                                "out of memory");
        }
        break;
    case LSH_EV_HOSTKEY:
    case LSH_EV_AUTH_BANNER:
    case LSH_EV_AUTH_RESULT:
    case LSH_EV_AUTH_SIGN:
    case LSH_EV_AUTH_PROMPT:
        if (cl->auth_done) {
            break;
        }
        if (queue_ctl(cl, ev) != 0) {
            lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION,
                                "out of memory");
            break;
        }
        if (ev->type == LSH_EV_AUTH_RESULT && ev->code == 0) {
            cl->auth_done = 1;
        }
        break;
    case LSH_EV_AUTH_REQUEST:
        if (!cl->server || cl->auth_done || queue_ctl(cl, ev) != 0) {
            lsh_conn_disconnect(c, LSH_DISCONNECT_BY_APPLICATION,
                                "cannot handle the auth request");
        }
        break;
    case LSH_EV_CHAN_OPEN:
        /* A server passes them up to Lua; forwarded channels to a client
         * are not supported yet. */
        if (!cl->server || !cl->auth_done || cl->gone) {
            llsh_ignore(lsh_chan_reject(c, ev->chan,
                                        LSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                        "not supported"));
        } else if (queue_ctl(cl, ev) != 0) {
            llsh_ignore(lsh_chan_reject(c, ev->chan,
                                        LSH_OPEN_RESOURCE_SHORTAGE,
                                        "out of memory"));
        }
        break;
    case LSH_EV_CHAN_WRITABLE:
        if (ev->chan == LSH_CHAN_ALL) {
            for (size_t i = 0; i < cl->nchans; i++) {
                if (cl->chans[i] != NULL) {
                    llsh__chan_writable(cl->chans[i]);
                }
            }
            break;
        }
        /* fall through */
    case LSH_EV_CHAN_OPEN_RESULT:
    case LSH_EV_CHAN_DATA:
    case LSH_EV_CHAN_EOF:
    case LSH_EV_CHAN_CLOSE:
    case LSH_EV_CHAN_REQUEST:
    case LSH_EV_CHAN_REQUEST_RESULT:
        if ((ch = chan_of(cl, ev->chan)) != NULL) {
            llsh__chan_event(cl, ch, ev);
        } else {
            orphan_event(c, ev);
        }
        break;
    case LSH_EV_GLOBAL_REQUEST:
        if (ev->num) {
            llsh_ignore(lsh_global_request_reply_id(c, ev->id, 0, NULL, 0));
        }
        break;
    case LSH_EV_CLOSED:
        set_closed(cl, ev->code, ev->reason, ev->text);
        break;
    default:
        break;
    }
}

/*
 * Keepalives (OpenSSH's ServerAliveInterval): after an interval with
 * nothing from the server, a keepalive@openssh.com request; once
 * count_max of them are unanswered, the server is gone.
 */
static void
keepalive_tick(void *data)
{
    llsh_client *cl = data;
    lsh_conn *c = llsh_client_core(cl);
    uint64_t now = lsh_io_now_ms(), idle;
    if (c == NULL) {
        return;
    }
    idle = now - cl->last_rx_ms;
    if (cl->auth_done && idle >= cl->ka_interval_ms) {
        if (lsh_conn_keepalive_pending(c) >= cl->ka_count_max) {
            set_detail(cl, "no answer to %u keepalives in %llu ms",
                       cl->ka_count_max,
                       (unsigned long long)(cl->ka_interval_ms *
                                            cl->ka_count_max));
            lsh_conn_disconnect(c, LSH_DISCONNECT_CONNECTION_LOST,
                                "keepalive timeout");
        } else {
            llsh_ignore(lsh_conn_keepalive(c));
        }
        llsh_client_flush(cl);
        idle = 0;
    }
    if (cl->ioc != NULL && cl->state != LLSH_CL_CLOSED) {
        lsh_io_timer_start(cl->ka_timer,
                           idle < cl->ka_interval_ms
                               ? cl->ka_interval_ms - idle
                               : cl->ka_interval_ms,
                           keepalive_tick, cl);
    }
}

static void
stop_keepalive(llsh_client *cl)
{
    if (cl->ka_timer != NULL) {
        lsh_io_timer_close(cl->ka_timer);
        cl->ka_timer = NULL;
    }
}

static void
on_closed(lsh_io_conn *ioc, void *data)
{
    llsh_client *cl = data;
    stop_keepalive(cl);
    /* The core goes after this callback: keep what c_info shows. */
    snapshot_info(cl, lsh_io_conn_core(ioc));
    cl->ioc = NULL;
    if (cl->slots != NULL) {
        cl->slots->active--;
        llsh_slot_done(cl);
    }
    set_closed(cl, LSH_ECLOSED, 0, "connection closed");
    llsh_waitq_wake_all(&cl->closed_q, 0);
    llsh_client_unref(cl);
}

static const lsh_io_conn_cbs client_cbs = {on_connected, on_event,
                                           on_closed};

/* Lua: construction */

llsh_client *
llsh_check_client(lua_State *L, int idx)
{
    clientud *ud = luaL_checkudata(L, idx, LLSH_CLIENT_MT);
    if (ud->cl == NULL) {
        luaL_argerror(L, idx, "SSHClientConnection without state");
    }
    return ud->cl;
}

const char *
llsh_keep_str(lua_State *L, int idx, const char *name, char **slot)
{
    const char *v;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    v = luaL_checkstring(L, -1);
    *slot = strdup(v);
    lua_pop(L, 1);
    if (*slot == NULL) {
        luaL_error(L, "out of memory");
    }
    return *slot;
}

lua_Integer
llsh_int_field(lua_State *L, int idx, const char *name, lua_Integer def)
{
    lua_Integer v;
    lua_getfield(L, idx, name);
    v = luaL_optinteger(L, -1, def);
    lua_pop(L, 1);
    if (v < 0) {
        luaL_error(L, "%s must not be negative", name);
    }
    return v;
}

#define keep_opt(L, idx, name, box, slot) \
    llsh_keep_str(L, idx, name, &(box)->strs[slot])
#define int_opt llsh_int_field

/* clientcore.connect(host, port, opts) -> SSHClientConnection */
static int
l_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    clientud *ud;
    client_box *box;
    llsh_client *cl;
    lsh_config cfg;
    lsh_io_connect_opts co;
    lua_Integer family;
    int r;

    luaL_checktype(L, 3, LUA_TTABLE);
    if (port <= 0 || port > 65535) {
        return luaL_argerror(L, 2, "port must be in 1..65535");
    }
    /* The object exists "closed" first: errors below leave it sane. */
    ud = lua_newuserdatauv(L, sizeof(*ud), 1);
    ud->cl = NULL;
    luaL_setmetatable(L, LLSH_CLIENT_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    if ((box = calloc(1, sizeof(*box))) == NULL) {
        return luaL_error(L, "out of memory");
    }
    cl = &box->cl;
    if ((cl->host = strdup(host)) == NULL) {
        free(box);
        return luaL_error(L, "out of memory");
    }
    cl->refs = 1;
    cl->state = LLSH_CL_CONNECTING;
    ud->cl = cl;
    cl->port = (int)port;

    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_CLIENT;
    cfg.kex_algs = keep_opt(L, 3, "kex_algs", box, 0);
    cfg.host_key_algs = keep_opt(L, 3, "server_host_key_algs", box, 1);
    cfg.encryption_algs = keep_opt(L, 3, "encryption_algs", box, 2);
    cfg.mac_algs = keep_opt(L, 3, "mac_algs", box, 3);
    cfg.compression_algs = keep_opt(L, 3, "compression_algs", box, 4);
    cfg.software_version = keep_opt(L, 3, "client_version", box, 5);
    cfg.sig_algs = keep_opt(L, 3, "signature_algs", box, 7);
    cfg.rekey_bytes = (uint64_t)int_opt(L, 3, "rekey_bytes", 0);
    cfg.rekey_seconds = (uint64_t)int_opt(L, 3, "rekey_seconds", 0);
    cfg.login_timeout_ms = (uint64_t)int_opt(L, 3, "login_timeout_ms", 0);
    memset(&co, 0, sizeof(co));
    co.connect_timeout_ms = (uint64_t)int_opt(L, 3, "connect_timeout_ms", 0);
    family = int_opt(L, 3, "family", 0);
    co.family = (int)family;
    co.local_addr = keep_opt(L, 3, "local_addr", box, STR_LOCAL_ADDR);
    co.local_port = (int)int_opt(L, 3, "local_port", 0);
    cl->window = (uint32_t)int_opt(L, 3, "window", 0);
    cl->max_packet = (uint32_t)int_opt(L, 3, "max_pktsize", 0);
    cl->ka_interval_ms = (uint64_t)int_opt(L, 3, "keepalive_interval_ms", 0);
    cl->ka_count_max = (unsigned)int_opt(L, 3, "keepalive_count_max", 3);
    if (cl->ka_count_max == 0) {
        cl->ka_count_max = 1;
    }

    r = lsh_io_connect_ex(host, (int)port, &cfg, &client_cbs, cl, &co,
                          &cl->ioc);
    if (r == LSH_EINVAL && (family != 0 || co.local_addr != NULL)) {
        return luaL_error(L, "bad family (4 or 6) or local_addr (a numeric "
                             "address) for %s", host);
    }
    if (r != 0) {
        cl->at_connect = 1;
        cl->state = LLSH_CL_CLOSED;
        cl->err = r;
        set_detail(cl, "%s", lsh_strerror(r));
        return raise_client(L, cl);
    }
    cl->refs++; /* the lsh_io_conn's, dropped in on_closed */
    cl->last_rx_ms = lsh_io_now_ms();
    if (cl->ka_interval_ms > 0 &&
        (cl->ka_timer = lsh_io_timer_new()) != NULL) {
        lsh_io_timer_start(cl->ka_timer, cl->ka_interval_ms, keepalive_tick,
                           cl);
    }
    return 1;
}

/* Lua: control events */

static void
push_prompts(lua_State *L, const llsh_ctl *e)
{
    lua_createtable(L, (int)e->nprompts, 0);
    for (size_t i = 0; i < e->nprompts; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, e->prompts[i]);
        lua_setfield(L, -2, "prompt");
        lua_pushboolean(L, e->echo[i]);
        lua_setfield(L, -2, "echo");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void
setstr(lua_State *L, const char *k, const char *v)
{
    if (v != NULL) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void
setbytes(lua_State *L, const char *k, const uint8_t *v, size_t n)
{
    if (v != NULL) {
        lua_pushlstring(L, (const char *)v, n);
        lua_setfield(L, -2, k);
    }
}

static void
push_hostkey(lua_State *L, const llsh_ctl *e)
{
    lsh_cert *cert = NULL;
    lua_pushliteral(L, "hostkey");
    lua_setfield(L, -2, "type");
    llsh_push_key(L, e->key, NULL);
    lua_setfield(L, -2, "key");
    setstr(L, "fingerprint", e->text);
    /* A host certificate stands where the key blob would. */
    if (e->data != NULL && lsh_cert_from_blob(e->data, e->len, &cert) == 0) {
        llsh_push_cert(L, cert, NULL);
        lsh_cert_free(cert);
        lua_setfield(L, -2, "cert");
    }
}

/* Server: {type="auth_request", user, method, phase, password,
 * new_password, key_alg, key_blob, key, submethods, responses}. */
static void
push_auth_request(lua_State *L, const llsh_ctl *e)
{
    setstr(L, "type", "auth_request");
    setbytes(L, "user", (const uint8_t *)e->text, e->text_len);
    setstr(L, "method", e->name);
    lua_pushinteger(L, e->num);
    lua_setfield(L, -2, "phase");
    setbytes(L, "password", e->data, e->len);
    setbytes(L, "new_password", e->extra, e->extra_len);
    setstr(L, "key_alg", e->alg);
    setbytes(L, "key_blob", e->blob, e->blob_len);
    if (e->key != NULL) {
        llsh_push_key(L, e->key, NULL);
        lua_setfield(L, -2, "key");
    }
    if (e->blob != NULL) {
        lsh_cert *cert = NULL;
        if (lsh_cert_from_blob(e->blob, e->blob_len, &cert) == 0) {
            llsh_push_cert(L, cert, NULL);
            lsh_cert_free(cert);
            lua_setfield(L, -2, "cert");
        }
    }
    setstr(L, "submethods", e->instruction);
    if (e->prompts != NULL) {
        lua_createtable(L, (int)e->nprompts, 0);
        for (size_t i = 0; i < e->nprompts; i++) {
            lua_pushstring(L, e->prompts[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "responses");
    }
}

/* [-0, +1] The event as a table (see lua/luassh/client.lua). */
static void
push_ctl(lua_State *L, const llsh_ctl *e)
{
    lua_createtable(L, 0, 8);
    switch (e->type) {
    case LSH_EV_HOSTKEY:
        push_hostkey(L, e);
        break;
    case LSH_EV_KEX_DONE:
        setstr(L, "type", "kex_done");
        break;
    case LSH_EV_AUTH_BANNER:
        setstr(L, "type", "banner");
        setbytes(L, "text", e->data, e->len);
        break;
    case LSH_EV_AUTH_RESULT:
        setstr(L, "type", "auth_result");
        lua_pushboolean(L, e->code == 0);
        lua_setfield(L, -2, "ok");
        setstr(L, "method", e->text);
        setstr(L, "methods", e->name);
        lua_pushboolean(L, e->num != 0);
        lua_setfield(L, -2, "partial");
        break;
    case LSH_EV_AUTH_SIGN:
        setstr(L, "type", "auth_sign");
        setbytes(L, "data", e->data, e->len);
        setstr(L, "sigalg", e->name);
        setbytes(L, "blob", e->extra, e->extra_len);
        setstr(L, "keyalg", e->text);
        break;
    case LSH_EV_AUTH_PROMPT:
        setstr(L, "type", "auth_prompt");
        setstr(L, "method", e->name);
        setstr(L, "name", e->text);
        setstr(L, "instruction", e->instruction);
        push_prompts(L, e);
        lua_setfield(L, -2, "prompts");
        break;
    case LSH_EV_AUTH_REQUEST:
        push_auth_request(L, e);
        break;
    case LSH_EV_CHAN_OPEN:
        setstr(L, "type", "chan_open");
        setstr(L, "chan_type", e->name);
        lua_pushinteger(L, e->chan);
        lua_setfield(L, -2, "chan");
        setbytes(L, "data", e->extra, e->extra_len);
        break;
    default:
        setstr(L, "type", "unknown");
        break;
    }
}

static int
event_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_client *cl;
    llsh_ctl *e;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    cl = llsh_check_client(L, 1);
    if ((e = cl->ctl_head) != NULL) {
        cl->ctl_head = e->next;
        if (cl->ctl_head == NULL) {
            cl->ctl_tail = NULL;
        }
        push_ctl(L, e);
        llsh_ctl_free(e);
        return 1;
    }
    if (cl->state == LLSH_CL_CLOSED) {
        lua_createtable(L, 0, 2);
        setstr(L, "type", "closed");
        llsh_client_push_error(L, cl);
        lua_setfield(L, -2, "error");
        return 1;
    }
    if (cl->auth_done && !cl->server) {
        return luaL_error(L, "no control events after authentication");
    }
    if (cl->ctl_wait.task != NULL) {
        return luaL_error(L, "another task is reading this connection's "
                             "control events");
    }
    llsh_wait(L, &cl->ctl_wait);
    return lua_yieldk(L, 0, ctx, event_k);
}

/* conn:_event() -> event table (waits) */
static int
c_event(lua_State *L)
{
    llsh_check_client(L, 1);
    return event_k(L, LUA_OK, 0);
}

/* Returns the core for a call, or raises the connection's error. */
static lsh_conn *
core_or_raise(lua_State *L, llsh_client *cl)
{
    lsh_conn *c = llsh_client_core(cl);
    if (c == NULL) {
        raise_client(L, cl);
    }
    return c;
}

/*
 * After a core call: flush; on failure raise the connection's error when
 * it is dead, else return nil, code name, message.
 */
static int
core_result(lua_State *L, llsh_client *cl, int r)
{
    llsh_client_flush(cl);
    if (r == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (cl->state == LLSH_CL_CLOSED ||
        lsh_conn_last_error(lsh_io_conn_core(cl->ioc), NULL) != 0) {
        return raise_client(L, cl);
    }
    lua_pushnil(L);
    lua_pushstring(L, lsh_errname(r));
    lua_pushstring(L, lsh_strerror(r));
    return 3;
}

/* conn:_hostkey_verdict(ok [, why]) */
static int
c_hostkey_verdict(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_conn *c = core_or_raise(L, cl);
    int ok = lua_toboolean(L, 2);
    const char *why = luaL_optstring(L, 3, NULL);
    return core_result(L, cl, lsh_conn_hostkey_verdict(c, ok, why));
}

/* conn:_auth_start(user) */
static int
c_auth_start(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *user = luaL_checkstring(L, 2);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_client_start(c, user, NULL));
}

/* conn:_auth_password(pw) */
static int
c_auth_password(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *pw = luaL_checkstring(L, 2);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_client_password(c, pw));
}

/* conn:_auth_password_change(old, new) */
static int
c_auth_password_change(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *old = luaL_checkstring(L, 2);
    const char *new_pw = luaL_checkstring(L, 3);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl,
                       lsh_auth_client_password_change(c, old, new_pw));
}

/* conn:_auth_publickey(key [, cert [, keyalg]]): signature in the first
 * request, made with key's private half. */
static int
c_auth_publickey(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_key *key = llsh_check_key(L, 2);
    lsh_cert *cert = lua_isnoneornil(L, 3) ? NULL : llsh_check_cert(L, 3);
    const char *keyalg = luaL_optstring(L, 4, NULL);
    const uint8_t *blob = NULL;
    size_t n = 0;
    lsh_conn *c = core_or_raise(L, cl);
    if (cert != NULL) {
        blob = lsh_cert_blob(cert, &n);
    }
    return core_result(L, cl, lsh_auth_client_publickey_sign_now(
                                  c, key, keyalg, blob, n));
}

/* conn:_auth_publickey_query(blob [, keyalg]) */
static int
c_auth_publickey_query(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    size_t n;
    const char *blob = luaL_checklstring(L, 2, &n);
    const char *keyalg = luaL_optstring(L, 3, NULL);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_client_publickey(
                                  c, keyalg, (const uint8_t *)blob, n));
}

/* conn:_auth_signature(sigblob) */
static int
c_auth_signature(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    size_t n;
    const char *sig = luaL_checklstring(L, 2, &n);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_client_signature(
                                  c, (const uint8_t *)sig, n));
}

/* conn:_auth_keyalg(blob) -> name | nil, code, message */
static int
c_auth_keyalg(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    size_t n;
    const char *blob = luaL_checklstring(L, 2, &n);
    lsh_conn *c = core_or_raise(L, cl);
    char alg[80];
    int r = lsh_auth_client_keyalg(c, (const uint8_t *)blob, n, alg,
                                   sizeof(alg));
    if (r != 0) {
        lua_pushnil(L);
        lua_pushstring(L, lsh_errname(r));
        lua_pushstring(L, lsh_strerror(r));
        return 3;
    }
    lua_pushstring(L, alg);
    return 1;
}

/* conn:_auth_kbdint([submethods]) */
static int
c_auth_kbdint(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *sub = luaL_optstring(L, 2, "");
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_client_kbdint(c, sub));
}

/* conn:_auth_responses({answer...}) */
static int
c_auth_responses(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_conn *c;
    const char *answers[LSH_AUTH_PROMPTS_MAX];
    lua_Integer n;
    luaL_checktype(L, 2, LUA_TTABLE);
    n = luaL_len(L, 2);
    if (n < 0 || n > LSH_AUTH_PROMPTS_MAX) {
        return luaL_argerror(L, 2, "too many responses");
    }
    lua_settop(L, 2);
    luaL_checkstack(L, (int)n + 4, NULL);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        answers[i - 1] = luaL_checkstring(L, -1); /* anchored on the stack */
    }
    c = core_or_raise(L, cl);
    return core_result(L, cl,
                       lsh_auth_client_responses(c, answers, (size_t)n));
}

/* conn:_server_sig_algs() -> string | nil */
static int
c_server_sig_algs(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_conn *c = llsh_client_core(cl);
    const char *v = c ? lsh_conn_info(c, LSH_INFO_SERVER_SIG_ALGS) : NULL;
    if (v == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, v);
    }
    return 1;
}

/* Lua: the server's side of authentication (RFC 4252, RFC 4256) */

/* conn:_auth_accept(): USERAUTH_SUCCESS; channels may open from now. */
static int
s_auth_accept(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_conn *c = core_or_raise(L, cl);
    int r = lsh_auth_server_accept(c);
    if (r == 0) {
        cl->auth_done = 1;
        llsh_slot_done(cl);
    }
    return core_result(L, cl, r);
}

/* conn:_auth_reject([methods [, partial]]) */
static int
s_auth_reject(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *methods = luaL_optstring(L, 2, NULL);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_reject(c, methods,
                                                     lua_toboolean(L, 3)));
}

/* conn:_auth_pk_ok() */
static int
s_auth_pk_ok(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_pk_ok(c));
}

/* conn:_auth_info_request(name, instruction, {{prompt, echo}...}) */
static int
s_auth_info_request(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *name = luaL_optstring(L, 2, "");
    const char *instr = luaL_optstring(L, 3, "");
    const char *prompts[LSH_AUTH_PROMPTS_MAX];
    int echo[LSH_AUTH_PROMPTS_MAX];
    lua_Integer n;
    lsh_conn *c;
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 4);
    n = luaL_len(L, 4);
    if (n < 0 || n > LSH_AUTH_PROMPTS_MAX) {
        return luaL_argerror(L, 4, "too many prompts");
    }
    luaL_checkstack(L, (int)n * 2 + 4, NULL);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 4, i);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_rawgeti(L, -1, 1);
        prompts[i - 1] = luaL_checkstring(L, -1); /* anchored below */
        lua_rawgeti(L, -2, 2);
        echo[i - 1] = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_info_request(
                                  c, name, instr, prompts, echo, (size_t)n));
}

/* conn:_auth_changereq(prompt) */
static int
s_auth_changereq(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *prompt = luaL_optstring(L, 2, "");
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_passwd_changereq(c, prompt));
}

/* conn:_auth_banner(text) */
static int
s_auth_banner(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *text = luaL_checkstring(L, 2);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_banner(c, text));
}

/* conn:_auth_methods(name_list) */
static int
s_auth_methods(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    const char *m = luaL_checkstring(L, 2);
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_auth_server_set_methods(c, m));
}

/* conn:_reject_channel(chan, code, text) */
static int
s_reject_channel(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lua_Integer chan = luaL_checkinteger(L, 2);
    lua_Integer code = luaL_optinteger(L, 3,
                                       LSH_OPEN_ADMINISTRATIVELY_PROHIBITED);
    const char *text = luaL_optstring(L, 4, "");
    lsh_conn *c = core_or_raise(L, cl);
    return core_result(L, cl, lsh_chan_reject(c, (uint32_t)chan,
                                              (uint32_t)code, text));
}

/* Lua: server connections */

int
llsh_server_conn_new(lsh_io_conn *ioc, const llsh_server_cfg *cfg,
                     llsh_slots *slots, llsh_client **out)
{
    /* No client_box: the strings it keeps are a client's. */
    llsh_client *cl = calloc(1, sizeof(*cl));
    lsh_conn *c = lsh_io_conn_core(ioc);
    if (cl == NULL) {
        return LSH_ENOMEM;
    }
    note_addresses(cl, ioc);
    if (cl->peer_host == NULL) {
        free(cl);
        return LSH_ENOMEM;
    }
    cl->host = cl->peer_host; /* freed with it */
    cl->refs = 2; /* the caller's and the socket's (dropped in on_closed) */
    cl->server = 1;
    cl->state = LLSH_CL_OPEN;
    cl->ioc = ioc;
    cl->port = cl->peer_port;
    cl->window = cfg->window;
    cl->max_packet = cfg->max_packet;
    cl->ka_interval_ms = cfg->ka_interval_ms;
    cl->ka_count_max = cfg->ka_count_max ? cfg->ka_count_max : 3;
    if (slots != NULL) {
        slot_add(cl, slots);
    }
    if (c != NULL) {
        if (cfg->methods != NULL) {
            llsh_ignore(lsh_auth_server_set_methods(c, cfg->methods));
        }
        if (cfg->max_auth_tries > 0) {
            llsh_ignore(lsh_auth_server_set_max_tries(c,
                                                      cfg->max_auth_tries));
        }
    }
    lsh_io_conn_set_data(ioc, &client_cbs, cl);
    cl->last_rx_ms = lsh_io_now_ms();
    if (cl->ka_interval_ms > 0 &&
        (cl->ka_timer = lsh_io_timer_new()) != NULL) {
        lsh_io_timer_start(cl->ka_timer, cl->ka_interval_ms, keepalive_tick,
                           cl);
    }
    *out = cl;
    return 0;
}

static void
start_keepalive(llsh_client *cl)
{
    cl->last_rx_ms = lsh_io_now_ms();
    if (cl->ka_interval_ms > 0 &&
        (cl->ka_timer = lsh_io_timer_new()) != NULL) {
        lsh_io_timer_start(cl->ka_timer, cl->ka_interval_ms, keepalive_tick,
                           cl);
    }
}

/* Reverse direction: see l_client.h.  The TCP roles are swapped, the SSH
 * protocol is not (AsyncSSH's connect_reverse, RFC 8071 §3.1 "call
 * home"). */
int
llsh_server_conn_dial(lua_State *L, const char *host, int port,
                      const lsh_config *cfg,
                      const struct llsh_server_cfg *scfg,
                      const lsh_io_connect_opts *co, void *owner,
                      void (*owner_unref)(void *owner))
{
    llsh_client *cl;
    int r;
    if (port <= 0 || port > 65535) {
        owner_unref(owner);
        return luaL_argerror(L, 2, "port must be in 1..65535");
    }
    if ((cl = calloc(1, sizeof(*cl))) == NULL ||
        (cl->host = strdup(host)) == NULL) {
        free(cl);
        owner_unref(owner);
        return luaL_error(L, "out of memory");
    }
    /* From here cl owns the reference to owner. */
    cl->owner = owner;
    cl->owner_unref = owner_unref;
    cl->scfg = scfg;
    cl->refs = 1;
    cl->server = 1;
    cl->state = LLSH_CL_CONNECTING;
    cl->port = port;
    cl->window = scfg->window;
    cl->max_packet = scfg->max_packet;
    cl->ka_interval_ms = scfg->ka_interval_ms;
    cl->ka_count_max = scfg->ka_count_max ? scfg->ka_count_max : 3;
    llsh_push_conn(L, cl); /* its __gc releases cl on any error below */
    r = lsh_io_connect_ex(host, port, cfg, &client_cbs, cl, co, &cl->ioc);
    if (r == LSH_EINVAL && (co->family != 0 || co->local_addr != NULL)) {
        return luaL_error(L, "bad family (4 or 6) or local_addr (a numeric "
                             "address) for %s", host);
    }
    if (r != 0) {
        cl->ioc = NULL;
        cl->at_connect = 1;
        cl->state = LLSH_CL_CLOSED;
        cl->err = r;
        set_detail(cl, "%s", lsh_strerror(r));
        return raise_client(L, cl);
    }
    cl->refs++; /* the lsh_io_conn's, dropped in on_closed */
    start_keepalive(cl);
    return 1;
}

int
llsh_client_conn_adopt(lsh_io_conn *ioc, const llsh_client_cfg *cfg,
                       void *owner, void (*owner_unref)(void *owner),
                       llsh_client **out)
{
    /* A client_box, as llsh_client_unref expects of a client (its
     * strings stay NULL: the listener's config holds them). */
    client_box *box = calloc(1, sizeof(*box));
    llsh_client *cl;
    if (box == NULL) {
        return LSH_ENOMEM;
    }
    cl = &box->cl;
    note_addresses(cl, ioc);
    if (cl->peer_host == NULL) {
        free(box);
        return LSH_ENOMEM;
    }
    cl->host = cl->peer_host; /* freed with it */
    cl->port = cl->peer_port;
    cl->refs = 2; /* the caller's and the socket's (dropped in on_closed) */
    cl->state = LLSH_CL_OPEN;
    cl->ioc = ioc;
    cl->window = cfg->window;
    cl->max_packet = cfg->max_packet;
    cl->ka_interval_ms = cfg->ka_interval_ms;
    cl->ka_count_max = cfg->ka_count_max ? cfg->ka_count_max : 3;
    cl->owner = owner;
    cl->owner_unref = owner_unref;
    lsh_io_conn_set_data(ioc, &client_cbs, cl);
    start_keepalive(cl);
    *out = cl;
    return 0;
}

void
llsh_push_conn(lua_State *L, llsh_client *cl)
{
    clientud *ud = lua_newuserdatauv(L, sizeof(*ud), 1);
    ud->cl = cl;
    luaL_setmetatable(L, LLSH_CLIENT_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
}

/* Lua: state and closing */

/* conn:_info() -> table of what C knows (get_extra_info in Lua) */
static int
c_info(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lua_createtable(L, 0, 16);
    if (cl->peer_host != NULL && cl->peer_host[0]) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, cl->peer_host);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, cl->peer_port);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, "peername");
        lua_createtable(L, 2, 0);
        lua_pushstring(L, cl->local_host);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, cl->local_port);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, "sockname");
    }
    for (int i = 0; i < N_INFO; i++) {
        /* The core's pairs (2..9) are client-to-server then
         * server-to-client, the peer's version then ours, which are the
         * keys' order for a client: a server swaps each pair. */
        int swap = cl->server && i >= 2 && i <= 9;
        const char *v = info_of(cl, swap ? i ^ 1 : i);
        size_t n = strlen(v);
        if (n > 0) {
            lua_pushlstring(L, v, n < INFO_MAX - 1 ? n : INFO_MAX - 1);
            lua_setfield(L, -2, INFO_KEYS[i]);
        }
    }
    lua_pushstring(L, cl->host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, cl->port);
    lua_setfield(L, -2, "port");
    return 1;
}

/* conn:_peer_addr() -> the peer's address ("127.0.0.1") | nil: what the
 * host key check needs, without _info's table (issue 6: a connection being
 * set up makes as little garbage as it can). */
static int
c_peer_addr(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    if (cl->peer_host != NULL && cl->peer_host[0]) {
        lua_pushstring(L, cl->peer_host);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

/* conn:_auth_done() -> authenticated? */
static int
c_auth_done(lua_State *L)
{
    lua_pushboolean(L, llsh_check_client(L, 1)->auth_done);
    return 1;
}

/* conn:_error() -> error object | nil (while usable) */
static int
c_error(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    if (cl->state != LLSH_CL_CLOSED) {
        lua_pushnil(L);
        return 1;
    }
    llsh_client_push_error(L, cl);
    return 1;
}

/* conn:is_closed() */
static int
c_is_closed(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lua_pushboolean(L, cl->state == LLSH_CL_CLOSED);
    return 1;
}

static void
do_disconnect(llsh_client *cl, uint32_t code, const char *reason)
{
    lsh_conn *c = llsh_client_core(cl);
    cl->by_us = cl->state != LLSH_CL_CLOSED ? 1 : cl->by_us;
    if (c != NULL) {
        lsh_conn_disconnect(c, code, reason);
        llsh_client_flush(cl);
    } else if (cl->ioc != NULL) {
        lsh_io_conn_close(cl->ioc, 0);
    }
}

/* conn:disconnect(code, reason) */
static int
c_disconnect(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    lua_Integer code = luaL_checkinteger(L, 2);
    const char *reason = luaL_optstring(L, 3, "");
    do_disconnect(cl, (uint32_t)code, reason);
    return 0;
}

/* conn:close(): DISCONNECT by application; wait_closed() waits. */
static int
c_close(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    do_disconnect(cl, LSH_DISCONNECT_BY_APPLICATION,
                  cl->server ? "closed by the server" : "closed by the client");
    return 0;
}

/* conn:abort(): drops the socket at once. */
static int
c_abort(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    if (cl->state != LLSH_CL_CLOSED) {
        cl->by_us = 1;
    }
    if (cl->ioc != NULL) {
        lsh_io_conn_close(cl->ioc, 0);
    }
    return 0;
}

static int
wait_closed_k(lua_State *L, int status, lua_KContext ctx)
{
    llsh_client *cl;
    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    cl = llsh_check_client(L, 1);
    if (cl->ioc == NULL) {
        return 0;
    }
    llsh_waitq_wait(L, &cl->closed_q);
    return lua_yieldk(L, 0, ctx, wait_closed_k);
}

/* conn:wait_closed() */
static int
c_wait_closed(lua_State *L)
{
    llsh_check_client(L, 1);
    return wait_closed_k(L, LUA_OK, 0);
}

/* __close: graceful (and waiting) when the task can yield. */
static int
c_tbc_close(lua_State *L)
{
    llsh_client *cl = llsh_check_client(L, 1);
    do_disconnect(cl, LSH_DISCONNECT_BY_APPLICATION, "closed by the client");
    if (cl->ioc != NULL && lua_isyieldable(L) && llsh_current(L) != NULL) {
        lua_settop(L, 1);
        return wait_closed_k(L, LUA_OK, 0);
    }
    if (cl->ioc != NULL && !lua_isyieldable(L)) {
        lsh_io_conn_close(cl->ioc, 1);
    }
    return 0;
}

/* __gc: abortive; never calls Lua. */
static int
c_gc(lua_State *L)
{
    clientud *ud = luaL_checkudata(L, 1, LLSH_CLIENT_MT);
    llsh_client *cl = ud->cl;
    if (cl == NULL) {
        return 0;
    }
    ud->cl = NULL;
    cl->gone = 1;
    /* Waiters belong to tasks that are gone too. */
    cl->ctl_wait.task = NULL;
    cl->closed_q.head = NULL;
    if (cl->ioc != NULL) {
        if (cl->state != LLSH_CL_CLOSED) {
            cl->by_us = 1;
        }
        lsh_io_conn_close(cl->ioc, 0);
    }
    llsh_client_unref(cl);
    return 0;
}

static int
c_tostring(lua_State *L)
{
    clientud *ud = luaL_checkudata(L, 1, LLSH_CLIENT_MT);
    llsh_client *cl = ud->cl;
    if (cl == NULL) {
        lua_pushliteral(L, "SSHClientConnection (freed)");
        return 1;
    }
    lua_pushfstring(L, "%s %s port %d (%s)",
                    cl->server ? "SSHServerConnection" : "SSHClientConnection",
                    cl->host,
                    cl->port,
                    cl->state == LLSH_CL_CLOSED ? "closed"
                    : cl->auth_done             ? "open"
                                                : "connecting");
    return 1;
}

/* Fields: methods first, then the object's own table (user value 1). */
static int
c_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (!lua_isnil(L, -1)) {
        return 1;
    }
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int
c_newindex(lua_State *L)
{
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

static const luaL_Reg conn_methods[] = {
    {"_event", c_event},
    {"_hostkey_verdict", c_hostkey_verdict},
    {"_auth_start", c_auth_start},
    {"_auth_password", c_auth_password},
    {"_auth_password_change", c_auth_password_change},
    {"_auth_publickey", c_auth_publickey},
    {"_auth_publickey_query", c_auth_publickey_query},
    {"_auth_signature", c_auth_signature},
    {"_auth_keyalg", c_auth_keyalg},
    {"_auth_kbdint", c_auth_kbdint},
    {"_auth_responses", c_auth_responses},
    {"_auth_done", c_auth_done},
    {"_server_sig_algs", c_server_sig_algs},
    {"_info", c_info},
    {"_peer_addr", c_peer_addr},
    {"_error", c_error},
    {"_open_channel", llsh__chan_open},
    {"_accept_channel", llsh__chan_accept},
    {"_reject_channel", s_reject_channel},
    {"_auth_accept", s_auth_accept},
    {"_auth_reject", s_auth_reject},
    {"_auth_pk_ok", s_auth_pk_ok},
    {"_auth_info_request", s_auth_info_request},
    {"_auth_changereq", s_auth_changereq},
    {"_auth_banner", s_auth_banner},
    {"_auth_methods", s_auth_methods},
    {"is_closed", c_is_closed},
    {"disconnect", c_disconnect},
    {"close", c_close},
    {"abort", c_abort},
    {"wait_closed", c_wait_closed},
    {NULL, NULL}};

/* local_user() -> the name of the effective user (getpwuid) | nil */
static int
l_local_user(lua_State *L)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw == NULL || pw->pw_name == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, pw->pw_name);
    }
    return 1;
}

/* environ() -> {name = value} of the local environment (send_env) */
static int
l_environ(lua_State *L)
{
    lua_newtable(L);
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || eq == *e) {
            continue;
        }
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        lua_pushstring(L, eq + 1);
        lua_rawset(L, -3);
    }
    return 1;
}

static const luaL_Reg module_funcs[] = {{"connect", l_connect},
                                        {"local_user", l_local_user},
                                        {"environ", l_environ},
                                        {NULL, NULL}};

int
luaopen_luassh_clientcore(lua_State *L)
{
    luaL_newlib(L, module_funcs);
    if (luaL_newmetatable(L, LLSH_CLIENT_MT)) {
        luaL_newlib(L, conn_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -4, "conn_methods"); /* module.conn_methods */
        lua_pushcclosure(L, c_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, c_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, c_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, c_tbc_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, c_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, LLSH_CLIENT_MT);
        lua_setfield(L, -2, "__name");
    } else {
        lua_getfield(L, -1, "__index");
        lua_getupvalue(L, -1, 1);
        lua_setfield(L, -4, "conn_methods");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    llsh__chan_register(L, lua_gettop(L));
    llsh__sess_register(L, lua_gettop(L));
    return 1;
}
