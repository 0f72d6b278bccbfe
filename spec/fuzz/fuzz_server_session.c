/*
 * libFuzzer target: a whole server session fed arbitrary input.
 *
 * Byte 0 chooses the mode:
 *   even: the rest is raw bytes from the network, fed in pieces to a fresh
 *         server core (version exchange, framing, the unencrypted kex);
 *   odd:  a real client core first completes the key exchange with the
 *         server; the rest is a list of messages (u16 length + payload)
 *         that the client sends with its keys, so the server's filter and
 *         handlers see arbitrary messages after kex.  Bit 1 marks both
 *         sides authenticated first.
 * The server must never crash, leak or hang; closing is fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../c/pair.h"
#include "ssh/conn_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lsh_key *host_key;

static void
drain(lsh_conn *c)
{
    lsh_event ev;
    const uint8_t *p;
    size_t n;
    while (lsh_conn_next_event(c, &ev)) {
    }
    lsh_conn_out(c, &p, &n);
    lsh_conn_out_ack(c, n);
}

static void
raw_mode(const uint8_t *data, size_t size)
{
    pair_rng rng = {42};
    lsh_config cfg;
    lsh_conn *s;
    lsh_key *keys[1] = {host_key};
    size_t off = 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_SERVER;
    cfg.rng = pair_rng_fill;
    cfg.rng_ctx = &rng;
    cfg.clock = pair_clock;
    cfg.host_keys = keys;
    cfg.n_host_keys = 1;
    if (lsh_conn_new(&cfg, &s) != 0) {
        abort();
    }
    while (off < size) {
        size_t chunk = 1 + (data[off] % 64), used;
        if (chunk > size - off) {
            chunk = size - off;
        }
        (void)lsh_conn_feed(s, data + off, chunk, &used);
        off += used ? used : chunk;
        drain(s);
    }
    lsh_conn_feed_eof(s);
    drain(s);
    lsh_conn_free(s);
}

static void
message_mode(uint8_t flags, const uint8_t *data, size_t size)
{
    pair p;
    pair_opts o = {.host_key = host_key};
    size_t off = 0;
    if (pair_init(&p, &o) != 0) {
        abort();
    }
    pair_pump(&p, 65536);
    if (p.kex_done[1] != 1) {
        abort(); /* the harness itself must reach the post-kex state */
    }
    if (flags & 2) {
        lsh_conn_set_authenticated(p.s);
        lsh_conn_set_authenticated(p.c);
    }
    while (off + 2 <= size && !p.closed[1]) {
        size_t n = ((size_t)data[off] << 8 | data[off + 1]) % 4096;
        off += 2;
        if (n > size - off) {
            n = size - off;
        }
        if (n == 0) {
            continue;
        }
        if (lsh__conn_send_now(p.c, data + off, n) != 0) {
            break;
        }
        off += n;
        pair_pump(&p, 65536);
    }
    pair_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (host_key == NULL && lsh_key_generate(LSH_KEY_ED25519, 0,
                                             &host_key) != 0) {
        abort();
    }
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        message_mode(data[0], data + 1, size - 1);
    } else {
        raw_mode(data + 1, size - 1);
    }
    return 0;
}
