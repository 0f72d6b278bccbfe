/*
 * Shared by the fuzz targets that drive one core with messages sent by
 * its peer's keys, bypassing the peer's own state machine
 * (fuzz_channel.c, fuzz_client_conn.c).
 */
#ifndef LSH_SPEC_FUZZ_INJECT_H
#define LSH_SPEC_FUZZ_INJECT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../c/pair.h"
#include "ssh/conn_internal.h"
#include "ssh/connection/channel.h"
#include "ssh/connection/session.h"

/* Runs every session parser (RFC 4254 request and open data) on an
 * event's extra data, as the Lua layers do on what a peer sends. */
static inline void
inject_parse_all(const lsh_event *ev)
{
    lsh_pty_req pty;
    lsh_tty_mode modes[64];
    size_t nm;
    lsh_env_req env;
    lsh_x11_req x11;
    lsh_exit_signal es;
    lsh_window_change wc;
    lsh_tcpip_open to;
    lsh_span s;
    uint32_t u;
    int b;
    const uint8_t *p = ev->extra;
    size_t n = ev->extra_len;
    if (lsh_chan_parse_pty_req(p, n, &pty) == 0) {
        (void)lsh_tty_modes_decode(pty.modes.p, pty.modes.n, modes, 64, &nm);
    }
    (void)lsh_chan_parse_env(p, n, &env);
    (void)lsh_chan_parse_x11_req(p, n, &x11);
    (void)lsh_chan_parse_exit_signal(p, n, &es);
    (void)lsh_chan_parse_window_change(p, n, &wc);
    (void)lsh_chan_parse_tcpip_open(p, n, &to);
    (void)lsh_chan_parse_exec(p, n, &s);
    (void)lsh_chan_parse_subsystem(p, n, &s);
    (void)lsh_chan_parse_signal(p, n, &s);
    (void)lsh_chan_parse_break(p, n, &u);
    (void)lsh_chan_parse_x11_open(p, n, &s, &u);
    (void)lsh_chan_parse_direct_streamlocal(p, n, &s);
    (void)lsh_chan_parse_forwarded_streamlocal(p, n, &s);
    (void)lsh_chan_parse_tcpip_forward(p, n, &s, &u);
    (void)lsh_chan_parse_streamlocal_forward(p, n, &s);
    (void)lsh_chan_parse_exit_status(p, n, &u);
    (void)lsh_chan_parse_xon_xoff(p, n, &b);
    (void)lsh_chan_parse_empty(p, n);
}

/* Drops a side's pending output unheard (0: client, 1: server). */
static inline void
inject_discard(pair *p, int side)
{
    const uint8_t *o;
    size_t n;
    lsh_conn *c = side == 0 ? p->c : p->s;
    lsh_conn_out(c, &o, &n);
    lsh_conn_out_ack(c, n);
}

/*
 * Takes the next message of a fuzz input at *off (u16 length mod 4096 +
 * payload, cut at the end of the input), maps its type byte into
 * lo..lo+span-1, sends it from side `from` with that side's keys and
 * delivers it to the other side.  Returns 1 when a message went, 0 for an
 * empty one, -1 at the end of the input or when the core refused it.
 */
static inline int
inject_next(pair *p, int from, const uint8_t *data, size_t size, size_t *off,
            uint8_t lo, uint8_t span)
{
    size_t n;
    uint8_t *msg;
    int r;
    if (*off + 2 > size) {
        return -1;
    }
    n = ((size_t)data[*off] << 8 | data[*off + 1]) % 4096;
    *off += 2;
    if (n > size - *off) {
        n = size - *off;
    }
    if (n == 0) {
        return 0;
    }
    if ((msg = malloc(n)) == NULL) {
        abort();
    }
    memcpy(msg, data + *off, n);
    *off += n;
    msg[0] = (uint8_t)(lo + msg[0] % span);
    r = lsh__conn_send_now(from == 0 ? p->c : p->s, msg, n);
    free(msg);
    if (r != 0) {
        return -1;
    }
    pair_move(p, from, 65536);
    return 1;
}

#endif
