/*
 * Two lsh_conn cores, client and server, wired back to back in one
 * process with a fake clock and a seeded RNG (STYLE.md "Tests").
 */
#ifndef LSH_SPEC_PAIR_H
#define LSH_SPEC_PAIR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssh/conn.h"
#include "ssh/keys/key.h"

typedef struct pair_rng {
    uint64_t s;
} pair_rng;

/* xorshift64*: deterministic test randomness, never for real keys. */
static inline int
pair_rng_fill(void *ctx, uint8_t *out, size_t n)
{
    pair_rng *r = ctx;
    for (size_t i = 0; i < n; i++) {
        r->s ^= r->s >> 12;
        r->s ^= r->s << 25;
        r->s ^= r->s >> 27;
        out[i] = (uint8_t)((r->s * 2685821657736338717ULL) >> 56);
    }
    return 0;
}

static uint64_t pair_now_ms;

static inline uint64_t
pair_clock(void *ctx)
{
    (void)ctx;
    return pair_now_ms;
}

typedef struct pair {
    lsh_conn *c, *s;
    pair_rng crng, srng;
    int closed[2];
    int close_code[2];
    uint32_t close_reason[2];
    char close_text[2][512];
    int kex_done[2];
    int hostkey_events;
    int ext_info;
    int service_accept, service_request;
    int reject_hostkey;
    /* Upper-layer messages received by each side, concatenated. */
    uint8_t *got[2];
    size_t gotlen[2];
    size_t bytes_moved;
    unsigned long feeds;
    /* Optional tamper hook on bytes in flight (dir 0: c->s, 1: s->c); it
     * may replace the malloc'd chunk (*buf, *n) with another. */
    void (*tamper)(struct pair *p, int dir, uint8_t **buf, size_t *n);
    void *user;
    /* Optional: sees every event before pair_record's own bookkeeping. */
    void (*on_event)(struct pair *p, int side, const lsh_event *ev);
} pair;

typedef struct pair_opts {
    const char *kex, *hostkey, *cipher, *mac, *comp;
    const char *server_kex, *server_cipher; /* default: same as client */
    lsh_key *host_key;
    uint64_t rekey_bytes;
    int disable_strict_kex;
} pair_opts;

static inline int
pair_init(pair *p, const pair_opts *o)
{
    lsh_config cc, sc;
    lsh_key *keys[1];
    int r;
    memset(p, 0, sizeof(*p));
    p->crng.s = 0x1234567887654321ULL;
    p->srng.s = 0x0fedcba987654321ULL;
    memset(&cc, 0, sizeof(cc));
    cc.role = LSH_ROLE_CLIENT;
    cc.rng = pair_rng_fill;
    cc.rng_ctx = &p->crng;
    cc.clock = pair_clock;
    cc.kex_algs = o->kex;
    cc.host_key_algs = o->hostkey;
    cc.encryption_algs = o->cipher;
    cc.mac_algs = o->mac;
    cc.compression_algs = o->comp;
    cc.rekey_bytes = o->rekey_bytes;
    cc.disable_strict_kex = o->disable_strict_kex;
    sc = cc;
    sc.role = LSH_ROLE_SERVER;
    sc.rng_ctx = &p->srng;
    if (o->server_kex) {
        sc.kex_algs = o->server_kex;
    }
    if (o->server_cipher) {
        sc.encryption_algs = o->server_cipher;
    }
    keys[0] = o->host_key;
    sc.host_keys = keys;
    sc.n_host_keys = 1;
    if ((r = lsh_conn_new(&cc, &p->c)) != 0) {
        return r;
    }
    if ((r = lsh_conn_new(&sc, &p->s)) != 0) {
        lsh_conn_free(p->c);
        p->c = NULL;
        return r;
    }
    return 0;
}

static inline void
pair_free(pair *p)
{
    lsh_conn_free(p->c);
    lsh_conn_free(p->s);
    free(p->got[0]);
    free(p->got[1]);
    memset(p, 0, sizeof(*p));
}

static inline void
pair_record(pair *p, int side, const lsh_event *ev)
{
    lsh_conn *self = side == 0 ? p->c : p->s;
    if (p->on_event != NULL) {
        p->on_event(p, side, ev);
    }
    switch (ev->type) {
    case LSH_EV_HOSTKEY:
        p->hostkey_events++;
        (void)lsh_conn_hostkey_verdict(self, !p->reject_hostkey,
                                       "rejected by test");
        break;
    case LSH_EV_KEX_DONE:
        p->kex_done[side]++;
        break;
    case LSH_EV_EXT_INFO:
        p->ext_info++;
        break;
    case LSH_EV_SERVICE_ACCEPT:
        p->service_accept++;
        break;
    case LSH_EV_SERVICE_REQUEST:
        p->service_request++;
        break;
    case LSH_EV_MESSAGE:
        p->got[side] = realloc(p->got[side], p->gotlen[side] + ev->len);
        memcpy(p->got[side] + p->gotlen[side], ev->data, ev->len);
        p->gotlen[side] += ev->len;
        break;
    case LSH_EV_CLOSED:
        p->closed[side] = 1;
        p->close_code[side] = ev->code;
        p->close_reason[side] = ev->reason;
        snprintf(p->close_text[side], sizeof(p->close_text[side]), "%s",
                 ev->text);
        break;
    default:
        break;
    }
}

/* Moves bytes one way in chunks of at most `chunk`; returns bytes moved. */
static inline size_t
pair_move(pair *p, int dir, size_t chunk)
{
    lsh_conn *from = dir == 0 ? p->c : p->s, *to = dir == 0 ? p->s : p->c;
    const uint8_t *data;
    size_t n, used, moved = 0;
    lsh_conn_out(from, &data, &n);
    while (n > 0) {
        size_t take = n < chunk ? n : chunk, len = take, off = 0;
        uint8_t *copy = malloc(take);
        memcpy(copy, data, take);
        if (p->tamper) {
            p->tamper(p, dir, &copy, &len);
        }
        /* The receiver may take less than offered while its input is
         * full: feed the rest after draining its events. */
        while (off < len) {
            lsh_event ev;
            uint8_t *room_at;
            size_t room;
            /* Every other time in place (lsh_conn_feed_space, as the
             * socket reader does), so that both ways are exercised. */
            if ((p->feeds++ & 1) &&
                lsh_conn_feed_space(to, len - off, &room_at, &room) == 0 &&
                room > 0) {
                used = room < len - off ? room : len - off;
                memcpy(room_at, copy + off, used);
                lsh_conn_feed_commit(to, used);
            } else {
                (void)lsh_conn_feed(to, copy + off, len - off, &used);
            }
            off += used;
            while (lsh_conn_next_event(to, &ev)) {
                pair_record(p, dir == 0 ? 1 : 0, &ev);
            }
            if (used == 0) {
                break;
            }
        }
        free(copy);
        lsh_conn_out_ack(from, take);
        moved += take;
        /* Drain events so that input keeps flowing. */
        {
            lsh_event ev;
            while (lsh_conn_next_event(to, &ev)) {
                pair_record(p, dir == 0 ? 1 : 0, &ev);
            }
        }
        lsh_conn_out(from, &data, &n);
    }
    return moved;
}

/* Pumps both ways until nothing moves; returns total bytes moved. */
static inline size_t
pair_pump(pair *p, size_t chunk)
{
    size_t total = 0, moved;
    lsh_event ev;
    do {
        moved = 0;
        while (lsh_conn_next_event(p->c, &ev)) {
            pair_record(p, 0, &ev);
        }
        while (lsh_conn_next_event(p->s, &ev)) {
            pair_record(p, 1, &ev);
        }
        moved += pair_move(p, 0, chunk);
        moved += pair_move(p, 1, chunk);
        total += moved;
    } while (moved > 0);
    p->bytes_moved += total;
    return total;
}

#endif
