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
