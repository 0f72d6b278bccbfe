/*
 * libFuzzer target for the SFTP client (src/ssh/sftp/client.c, and the
 * codec's response decoders it uses).
 *
 * Input: byte 0 chooses the feed chunk size, whether a well-formed
 * VERSION is prepended, and which transfers run; the rest is the
 * server's byte stream.  Before it, the client has sent INIT; once READY
 * it sends one request of every kind (each reply decoded as the Lua
 * binding decodes it: NAME entries, statvfs, limits) and starts a GET, a
 * PUT, a COPY and a COPY_DATA over small blocks.  Request ids are
 * deterministic (slot | generation << 16), so the fuzzer can aim at them.
 *
 * With an odd length, the GET is stopped and freed once half the stream
 * is fed (in the middle of a streamed DATA, as often as not).
 *
 * Invariants: no crash, leak or undefined behaviour; every callback runs
 * at most once (exactly once after the final abort); a failed client has
 * nothing pending; transfers never write outside the range they asked
 * for; the client's output always frames as valid requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssh/sftp/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 16

typedef struct probe {
    int calls;
} probe;

static probe probes[NREQ];

static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}

/* Decodes the reply as fully as the Lua binding would. */
static void
on_reply(void *ctx, const lsh_sftp_reply *r)
{
    probe *p = ctx;
    p->calls++;
    check(p->calls == 1);
    if (r->err != 0) {
        check(r->resp == NULL);
        return;
    }
    if (r->resp->type == LSH_SFTP_NAME) {
        lsh_sftp_response resp = *r->resp;
        lsh_sftp_name nm;
        uint32_t i = 0;
        int k;
        while ((k = lsh_sftp_name_next(&resp, &i, &nm)) == 1) {
        }
        check(k == 0); /* the decoder walked every entry already */
    } else if (r->resp->type == LSH_SFTP_EXTENDED_REPLY) {
        lsh_sftp_statvfs st;
        (void)lsh_sftp_statvfs_decode(r->resp->ext_data.p,
                                      r->resp->ext_data.n, &st);
    }
}

typedef struct sink {
    uint8_t buf[1 << 16];
    size_t limit;
    int finished;
} sink;

static int
s_write(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
    sink *s = ctx;
    if (off > s->limit || n > s->limit - off) {
        return 28; /* ENOSPC: the transfer must fail cleanly */
    }
    memcpy(s->buf + off, p, n);
    return 0;
}

static int
s_read(void *ctx, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
    sink *s = ctx;
    *got = 0;
    if (off < s->limit) {
        *got = s->limit - (size_t)off < n ? s->limit - (size_t)off : n;
        memset(buf, (int)(off & 0xff), *got);
    }
    return 0;
}

static void
s_notify(void *ctx, lsh_sftp_xfer *x)
{
    sink *s = ctx;
    if (lsh_sftp_xfer_finished(x)) {
        s->finished++;
        check(s->finished == 1);
    }
}

static lsh_sftp_str
S(const char *s)
{
    lsh_sftp_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* Every request the client can make, once. */
static void
send_all(lsh_sftp_client *c)
{
    static const uint8_t types[] = {
        LSH_SFTP_OPEN,     LSH_SFTP_CLOSE,   LSH_SFTP_READ,
        LSH_SFTP_WRITE,    LSH_SFTP_LSTAT,   LSH_SFTP_FSTAT,
        LSH_SFTP_SETSTAT,  LSH_SFTP_OPENDIR, LSH_SFTP_READDIR,
        LSH_SFTP_REMOVE,   LSH_SFTP_REALPATH, LSH_SFTP_READLINK};
    static const lsh_sftp_ext exts[] = {
        LSH_SFTP_EXT_STATVFS, LSH_SFTP_EXT_LIMITS, LSH_SFTP_EXT_EXPAND_PATH,
        LSH_SFTP_EXT_USERS_GROUPS};
    lsh_sftp_request q;
    size_t k = 0;
    for (size_t i = 0; i < sizeof(types); i++, k++) {
        memset(&q, 0, sizeof(q));
        q.type = types[i];
        q.path = S("/p");
        q.handle = S("h");
        q.len = 100;
        q.data = S("data");
        check(lsh_sftp_client_send(c, &q, on_reply, &probes[k], 0, 0, NULL) ==
              0);
    }
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++, k++) {
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_EXTENDED;
        q.ext = exts[i];
        q.path = S("~");
        check(lsh_sftp_client_send(c, &q, on_reply, &probes[k], 0, 0, NULL) ==
              0);
    }
}

/* The client's output must always be well-formed requests. */
static void
drain(lsh_sftp_client *c)
{
    const uint8_t *p, *pkt;
    size_t n, plen, used, pos = 0;
    lsh_sftp_client_out(c, &p, &n);
    while (pos < n) {
        lsh_sftp_request q;
        int id_ok;
        check(lsh_sftp_frame(p + pos, n - pos, LSH_SFTP_MAX_PACKET, &pkt,
                             &plen, &used) == 1);
        check(lsh_sftp_request_decode(pkt, plen, &q, &id_ok) == 0);
        pos += used;
    }
    lsh_sftp_client_out_ack(c, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[] = {1, 3, 7, 64, 1000, 1 << 20};
    static sink sinks[4];
    const char *names[] = {"limits@openssh.com", "copy-data"};
    const char *datas[] = {"1", "1"};
    lsh_sftp_client *c;
    lsh_sftp_xfer *xs[4] = {NULL, NULL, NULL, NULL};
    lsh_buf pre;
    size_t chunk, pos = 0;
    uint8_t ctl;
    int started = 0;

    if (size < 1) {
        return 0;
    }
    ctl = data[0];
    data++;
    size--;
    chunk = chunks[(ctl >> 1) % 6];
    memset(probes, 0, sizeof(probes));
    memset(sinks, 0, sizeof(sinks));
    if (lsh_sftp_client_new(&c) != 0) {
        return 0;
    }
    check(lsh_sftp_client_start(c, 3) == 0);
    drain(c);
    lsh_buf_init(&pre, 0);
    if (ctl & 1) {
        size_t used;
        check(lsh_sftp_put_version(&pre, 3, names, datas, 2) == 0);
        (void)lsh_sftp_client_feed(c, lsh_buf_ptr(&pre), lsh_buf_len(&pre),
                                   &used);
    }
    lsh_buf_free(&pre);
    for (;;) {
        size_t n, used = 0;
        if (!started && lsh_sftp_client_state(c) == LSH_SFTP_CLIENT_READY) {
            started = 1;
            send_all(c);
            for (int i = 0; i < 4; i++) {
                lsh_sftp_xfer_config cfg;
                if (!(ctl & (0x10 << i))) {
                    continue;
                }
                memset(&cfg, 0, sizeof(cfg));
                cfg.mode = (lsh_sftp_xfer_mode)i;
                cfg.src = S("src");
                cfg.dst = S("dst");
                cfg.length = i == 0 ? UINT64_MAX : 5000;
                cfg.size_hint = i == 0 ? 3000 : UINT64_MAX;
                cfg.block = 512;
                cfg.max_requests = 4;
                cfg.sparse = (ctl >> 4) & 1;
                sinks[i].limit = sizeof(sinks[i].buf);
                cfg.io.ctx = &sinks[i];
                cfg.io.write_at = s_write;
                cfg.io.read_at = s_read;
                cfg.io.notify = s_notify;
                check(lsh_sftp_xfer_start(c, &cfg, &xs[i]) == 0);
            }
        }
        drain(c);
        if (pos >= size) {
            break;
        }
        n = size - pos < chunk ? size - pos : chunk;
        /* The caller keeps unconsumed bytes: offer them again with more. */
        {
            static uint8_t acc[1 << 17];
            static size_t accn;
            if (pos == 0) {
                accn = 0;
            }
            if (accn + n > sizeof(acc)) {
                break;
            }
            memcpy(acc + accn, data + pos, n);
            accn += n;
            pos += n;
            if (lsh_sftp_client_feed(c, acc, accn, &used) != 0) {
                check(lsh_sftp_client_state(c) == LSH_SFTP_CLIENT_FAILED);
                check(lsh_sftp_client_pending(c) == 0);
                break;
            }
            check(used <= accn);
            memmove(acc, acc + used, accn - used);
            accn -= used;
        }
        if ((size & 1) && xs[0] != NULL && pos >= size / 2) {
            lsh_sftp_xfer_stop(xs[0]);
            check(lsh_sftp_xfer_finished(xs[0]));
            lsh_sftp_xfer_free(xs[0]);
            xs[0] = NULL;
        }
    }
    lsh_sftp_client_abort(c, LSH_ECLOSED);
    check(lsh_sftp_client_pending(c) == 0);
    if (started) {
        for (int i = 0; i < NREQ; i++) {
            check(probes[i].calls == 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        if (xs[i] != NULL) {
            check(lsh_sftp_xfer_finished(xs[i]));
            lsh_sftp_xfer_free(xs[i]);
        }
    }
    lsh_sftp_client_free(c);
    return 0;
}
