/*
 * libFuzzer target: the connection layer (RFC 4254) of a server core.
 *
 * A real client and server complete the key exchange, both are marked
 * authenticated, and the client opens a "session" channel that the server
 * accepts (the server's number 0, the client's number 0).  The input is
 * then a list of messages (u16 length + payload) whose first byte is
 * mapped into 80..127; the client sends each with its keys, bypassing its
 * own state machine, so the server's connection layer sees arbitrary
 * global requests, opens, data, window adjusts, requests and replies.
 *
 * The server's application answers as a busy one would: it accepts or
 * refuses opens, answers requests in a varying order, consumes data and
 * writes some back.  Its replies are discarded unheard (the client's core
 * knows nothing of what was injected).  The server must never crash, leak
 * or grow without bound; disconnecting is fine.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined together with
 * src/ssh, src/common and the key files, as the other targets are.
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
server_app(pair *p, int side, const lsh_event *ev)
{
    app *a = p->user;
    lsh_conn *s = p->s;
    uint8_t k;
    if (side != 1) {
        return;
    }
    k = (uint8_t)(a->knob + a->events++);
    switch (ev->type) {
    case LSH_EV_CHAN_OPEN:
        inject_parse_all(ev);
        if (k & 1) {
            (void)lsh_chan_accept(s, ev->chan, 4096u << (k & 7), 0);
        } else if (k & 2) {
            (void)lsh_chan_reject(s, ev->chan, LSH_OPEN_CONNECT_FAILED, "no");
        }
        /* else: left pending, answered never */
        break;
    case LSH_EV_CHAN_REQUEST:
        inject_parse_all(ev);
        if (ev->num && (k & 3) != 0) {
            (void)lsh_chan_request_reply_id(s, ev->chan, ev->id, k & 4);
        }
        if ((k & 0x30) == 0x30) {
            (void)lsh_chan_request_reply(s, ev->chan, 1);
        }
        break;
    case LSH_EV_GLOBAL_REQUEST:
        inject_parse_all(ev);
        if (ev->num && (k & 1)) {
            (void)lsh_global_request_reply(s, k & 2, (const uint8_t *)"\0\0\0\1",
                                           (k & 4) ? 4 : 0);
        }
        break;
    case LSH_EV_CHAN_DATA:
        if (k & 1) {
            (void)lsh_chan_consumed(s, ev->chan, ev->len);
        }
        if (k & 2) {
            (void)lsh_chan_write(s, ev->chan, k & 4 ? 1 : 0, ev->data,
                                 ev->len);
        }
        if ((k & 0x18) == 0x18) {
            (void)lsh_chan_send_eof(s, ev->chan);
        }
        break;
    case LSH_EV_CHAN_EOF:
        if (k & 1) {
            (void)lsh_chan_close(s, ev->chan);
        }
        break;
    case LSH_EV_CHAN_WRITABLE:
        if (ev->chan != LSH_CHAN_ALL) {
            (void)lsh_chan_write(s, ev->chan, 0, (const uint8_t *)"more", 4);
        }
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pair p;
    pair_opts o;
    app a;
    uint32_t ch;
    size_t off = 1;
    lsh_chan_limits lim = {.max_channels = 64, .max_sessions = 8};

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
    if (p.kex_done[1] != 1) {
        abort(); /* the harness itself must reach the post-kex state */
    }
    lsh_conn_set_authenticated(p.s);
    lsh_conn_set_authenticated(p.c);
    if (lsh_chan_set_limits(p.s, &lim) != 0) {
        abort();
    }
    /* The session channel: accepted by the server as its number 0. */
    if (lsh_chan_open(p.c, "session", NULL, 0, 0, 0, &ch) != 0) {
        abort();
    }
    pair_move(&p, 0, 65536);
    if (lsh_chan_accept(p.s, 0, 0, 0) != 0) {
        abort();
    }
    pair_pump(&p, 65536);
    p.user = &a;
    p.on_event = server_app;

    while (!p.closed[1] && inject_next(&p, 0, data, size, &off, 80, 48) >= 0) {
        inject_discard(&p, 1); /* the server's replies go unheard */
        if (lsh_chan_count(p.s) > lim.max_channels) {
            abort();
        }
    }
    pair_free(&p);
    return 0;
}
