/*
 * libFuzzer target: the connection layer (RFC 4254) of a client core, as
 * a hostile server drives it after key exchange and authentication.
 *
 * A real client and server complete the key exchange and both are marked
 * authenticated.  The client then does what conn:create_process does: it
 * opens a "session" channel (accepted by the server as its number 0),
 * sends a pty-req and an exec with want_reply, opens a second channel
 * (direct-tcpip) that stays pending, and sends a tcpip-forward global
 * request, so that replies of every kind have something to match.  The
 * input is then a list of messages (u16 length + payload) whose first
 * byte is mapped into 80..127; the server sends each with its keys,
 * bypassing its own state machine, so the client's connection layer sees
 * arbitrary global requests and replies, opens and open results, data
 * and extended data, window adjusts, EOFs, closes, channel requests
 * (exit-status, exit-signal, keepalive...) and replies.
 *
 * The client's application answers as the Lua layer would: it runs every
 * session parser on each request's data (exit-status, exit-signal, ...),
 * accepts or refuses server-initiated opens (forwarded-tcpip, x11,
 * auth-agent), answers requests, consumes data in varying amounts, writes
 * some, closes on EOF.  The client must never crash, leak or grow without
 * bound (its channel count stays bounded); disconnecting is fine.
 * Issue 5: "a libFuzzer target for the client's handling of server
 * messages after kex (userauth and connection layer)"; the userauth half
 * is fuzz_auth_client.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lsh_key *host_key;

typedef struct app {
    unsigned events;
    uint8_t knob; /* varies the application's answers */
} app;

static void
client_app(pair *p, int side, const lsh_event *ev)
{
    app *a = p->user;
    lsh_conn *c = p->c;
    uint8_t k;
    if (side != 0) {
        return;
    }
    k = (uint8_t)(a->knob + a->events++);
    switch (ev->type) {
    case LSH_EV_CHAN_OPEN:
        inject_parse_all(ev);
        if (k & 1) {
            (void)lsh_chan_accept(c, ev->chan, 2048u << (k & 7), 0);
        } else if (k & 2) {
            (void)lsh_chan_reject(c, ev->chan, LSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                  "no");
        }
        /* else: left pending */
        break;
    case LSH_EV_CHAN_OPEN_RESULT:
    case LSH_EV_CHAN_REQUEST_RESULT:
    case LSH_EV_GLOBAL_RESULT:
        inject_parse_all(ev);
        if ((k & 0x0c) == 0x0c && ev->chan != LSH_CHAN_ALL) {
            (void)lsh_chan_request(c, ev->chan, "window-change", 0,
                                   (const uint8_t *)"\0\0\0\x50\0\0\0\x18"
                                                    "\0\0\0\0\0\0\0\0",
                                   16);
        }
        break;
    case LSH_EV_CHAN_REQUEST:
        inject_parse_all(ev);
        if (ev->num && (k & 3) != 0) {
            (void)lsh_chan_request_reply_id(c, ev->chan, ev->id, k & 4);
        }
        break;
    case LSH_EV_GLOBAL_REQUEST:
        inject_parse_all(ev);
        if (ev->num && (k & 1)) {
            (void)lsh_global_request_reply(c, k & 2, NULL, 0);
        }
        break;
    case LSH_EV_CHAN_DATA:
        if (k & 1) {
            (void)lsh_chan_consumed(c, ev->chan, ev->len);
        } else if ((k & 6) == 2 && ev->len > 1) {
            (void)lsh_chan_consumed(c, ev->chan, ev->len / 2);
        }
        if ((k & 0x18) == 0x08) {
            (void)lsh_chan_write(c, ev->chan, 0, ev->data,
                                 ev->len > 64 ? 64 : ev->len);
        }
        if ((k & 0x18) == 0x18) {
            (void)lsh_chan_send_eof(c, ev->chan);
        }
        break;
    case LSH_EV_CHAN_EOF:
        if (k & 1) {
            (void)lsh_chan_close(c, ev->chan);
        }
        break;
    case LSH_EV_CHAN_WRITABLE:
        if (ev->chan != LSH_CHAN_ALL && (k & 1)) {
            (void)lsh_chan_write(c, ev->chan, 1, (const uint8_t *)"in", 2);
        }
        break;
    default:
        break;
    }
}

/* The client side of conn:create_process, up to the exec request. */
static void
open_session(pair *p)
{
    static const uint8_t exec[] = "\0\0\0\4true";
    lsh_buf b;
    uint32_t ch, ch2;
    lsh_buf_init(&b, 0);
    if (lsh_chan_open(p->c, "session", NULL, 0, 0, 0, &ch) != 0) {
        abort();
    }
    pair_move(p, 0, 65536);
    if (lsh_chan_accept(p->s, 0, 0, 0) != 0) {
        abort();
    }
    pair_pump(p, 65536);
    /* pty-req: TERM, 80x24, no pixel size, empty modes (RFC 4254 §6.2). */
    if (lsh_buf_put_cstring(&b, "xterm") != 0 || lsh_buf_put_u32(&b, 80) != 0 ||
        lsh_buf_put_u32(&b, 24) != 0 || lsh_buf_put_u32(&b, 0) != 0 ||
        lsh_buf_put_u32(&b, 0) != 0 || lsh_buf_put_string(&b, "\0", 1) != 0) {
        abort();
    }
    if (lsh_chan_request(p->c, ch, "pty-req", 1, lsh_buf_ptr(&b),
                         lsh_buf_len(&b)) != 0 ||
        lsh_chan_request(p->c, ch, "exec", 1, exec, sizeof(exec) - 1) != 0) {
        abort();
    }
    lsh_buf_free(&b);
    /* A second open the server never answers, and a global request. */
    if (lsh_chan_open(p->c, "direct-tcpip", NULL, 0, 0, 0, &ch2) != 0 ||
        lsh_global_request(p->c, "tcpip-forward", 1,
                           (const uint8_t *)"\0\0\0\0\0\0\0\0", 8) != 0) {
        abort();
    }
    inject_discard(p, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pair p;
    pair_opts o;
    app a;
    size_t off = 1;

    if (host_key == NULL &&
        lsh_key_generate(LSH_KEY_ED25519, 0, &host_key) != 0) {
        abort();
    }
    if (size < 1) {
        return 0;
    }
    memset(&o, 0, sizeof(o));
    o.host_key = host_key;
    memset(&a, 0, sizeof(a));
    a.knob = data[0];
    if (pair_init(&p, &o) != 0) {
        abort();
    }
    pair_pump(&p, 65536);
    if (p.kex_done[0] != 1) {
        abort(); /* the harness itself must reach the post-kex state */
    }
    lsh_conn_set_authenticated(p.s);
    lsh_conn_set_authenticated(p.c);
    open_session(&p);
    p.user = &a;
    p.on_event = client_app;

    /* The client's answers go unheard: the server core never sees them,
     * as what the fuzzer injects is not what its own state expects. */
    while (!p.closed[0] && inject_next(&p, 1, data, size, &off, 80, 48) >= 0) {
        inject_discard(&p, 0);
        if (lsh_chan_count(p.c) > 1024) {
            abort();
        }
    }
    pair_free(&p);
    return 0;
}
