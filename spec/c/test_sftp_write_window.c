/*
 * Tests for the SFTP client's write window (src/ssh/sftp/client.c,
 * lsh_sftp_client_set_write_window): the cap on the WRITE bytes that PUT
 * transfers keep in flight, fixed or adapted to the round trip of the
 * WRITEs (TCP Vegas style) with a clock the test drives.
 *
 * The client talks to the real server (src/ssh/sftp/server.c over
 * fs_posix on a throw-away root under /tmp).  Bytes move in rounds: all
 * of the client's output to the server, then the server's replies back
 * one packet at a time, so that the clock can move between two replies
 * (a server that takes time per request) or only between rounds (a path
 * whose delay does not depend on what is in flight).
 */
#include "sftp_pair.h"

#include <errno.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/rd.h"

#define BLK 32768u

typedef struct T {
    sftp_pair p;
    uint64_t now;          /* the fake clock (us) */
    uint64_t per_reply;    /* clock advance before each reply is fed */
    uint64_t per_round;    /* clock advance per round trip */
    size_t max_pending;    /* most requests in flight seen */
    uint64_t max_inflight; /* most WRITE bytes in flight seen */
} T;

static uint64_t
fake_now(void *ctx)
{
    return ((T *)ctx)->now;
}

static void
watch(T *t)
{
    if (lsh_sftp_client_pending(t->p.c) > t->max_pending) {
        t->max_pending = lsh_sftp_client_pending(t->p.c);
    }
    if (lsh_sftp_client_writes_in_flight(t->p.c) > t->max_inflight) {
        t->max_inflight = lsh_sftp_client_writes_in_flight(t->p.c);
    }
}

/* One round: the client's output to the server, then every reply back,
 * one packet at a time.  Returns 1 if anything moved. */
static int
round_trip(T *t)
{
    const uint8_t *p;
    size_t n, used;
    int moved = 0;

    watch(t);
    lsh_sftp_client_out(t->p.c, &p, &n);
    if (n > 0) {
        assert_int_equal(lsh_sftp_server_feed(t->p.s, p, n, &used), 0);
        lsh_sftp_client_out_ack(t->p.c, used);
        moved |= used > 0;
    }
    t->now += t->per_round;
    for (;;) {
        uint32_t len;
        lsh_sftp_server_out(t->p.s, &p, &n);
        if (n < 4) {
            break;
        }
        len = lsh_peek_u32(p);
        assert_true(n >= 4 + (size_t)len);
        t->now += t->per_reply;
        assert_int_equal(lsh_sftp_client_feed(t->p.c, p, 4 + len, &used), 0);
        assert_int_equal(used, 4 + len);
        lsh_sftp_server_out_ack(t->p.s, used);
        moved = 1;
        watch(t);
    }
    return moved;
}

static void
pump(T *t)
{
    while (round_trip(t)) {
    }
}

static int
setup(void **state)
{
    T *t = calloc(1, sizeof(*t));
    if (t == NULL || sftp_pair_open(&t->p, "tsftpw") != 0) {
        return -1;
    }
    t->now = 1000000;
    assert_int_equal(lsh_sftp_client_start(t->p.c, 3), 0);
    pump(t);
    assert_int_equal(lsh_sftp_client_state(t->p.c), LSH_SFTP_CLIENT_READY);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    T *t = *state;
    int r = sftp_pair_close(&t->p);
    free(t);
    return r;
}

typedef struct rec {
    int calls;
    uint8_t type;
    uint32_t code;
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
} rec;

static void
rec_cb(void *ctx, const lsh_sftp_reply *r)
{
    rec *x = ctx;
    x->calls++;
    if (r->err != 0) {
        return;
    }
    x->type = r->resp->type;
    x->code = r->resp->code;
    if (r->resp->type == LSH_SFTP_HANDLE) {
        x->hn = r->resp->handle.n;
        memcpy(x->h, r->resp->handle.p, x->hn);
    }
}

static void
open_w(T *t, const char *path, rec *r)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    memset(r, 0, sizeof(*r));
    q.type = LSH_SFTP_OPEN;
    q.path.p = (const uint8_t *)path;
    q.path.n = strlen(path);
    q.pflags = LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT | LSH_SFTP_FXF_TRUNC;
    assert_int_equal(lsh_sftp_client_send(t->p.c, &q, rec_cb, r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r->type, LSH_SFTP_HANDLE);
}

static void
close_h(T *t, const rec *h)
{
    lsh_sftp_request q;
    rec r;
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.type = LSH_SFTP_CLOSE;
    q.handle.p = h->h;
    q.handle.n = h->hn;
    assert_int_equal(lsh_sftp_client_send(t->p.c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.code, LSH_SFTP_FX_OK);
}

/* The local side: a memory source. */
typedef struct src {
    const uint8_t *p;
    size_t n;
    int fail_read;
    int reads;
} src;

static int
s_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
    src *s = ctx;
    if (++s->reads == s->fail_read) {
        return EIO;
    }
    *got = 0;
    if (off < s->n) {
        *got = s->n - (size_t)off < n ? s->n - (size_t)off : n;
        memcpy(buf, s->p + off, *got);
    }
    return 0;
}

static void
put_cfg(lsh_sftp_xfer_config *cfg, src *s, const rec *h, uint32_t block,
        uint32_t maxreq)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = LSH_SFTP_XFER_PUT;
    cfg->dst.p = h->h;
    cfg->dst.n = h->hn;
    cfg->length = s->n;
    cfg->size_hint = UINT64_MAX;
    cfg->block = block;
    cfg->max_requests = maxreq;
    cfg->io.ctx = s;
    cfg->io.read_at = s_read_at;
}

/* PUT of n bytes to `name` under the current window; checks the copy. */
static void
put_and_check(T *t, const char *name, size_t n, uint32_t block,
              uint32_t maxreq)
{
    uint8_t *data = sftp_pattern(n, (unsigned)n + 3);
    char path[64];
    lsh_sftp_xfer_config cfg;
    lsh_sftp_xfer *x;
    rec h;
    src s = {data, n, 0, 0};

    snprintf(path, sizeof(path), "/%s", name);
    open_w(t, path, &h);
    put_cfg(&cfg, &s, &h, block, maxreq);
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
    pump(t);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
    assert_int_equal(lsh_sftp_xfer_done(x), n);
    lsh_sftp_xfer_free(x);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    close_h(t, &h);
    sftp_pair_assert_file(&t->p, name, data, n);
    free(data);
}

/* Without a window, max_requests alone bounds what is in flight. */
static void
no_window_by_default(void **state)
{
    T *t = *state;
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 0);
    put_and_check(t, "a", 40 * BLK, BLK, 16);
    assert_int_equal(t->max_pending, 16);
    assert_int_equal(t->max_inflight, 16 * BLK);
}

/* A fixed window: never more WRITE bytes in flight than it, whatever
 * max_requests allows, and every size arrives whole. */
static void
fixed_window_caps_what_is_in_flight(void **state)
{
    static const size_t sizes[] = {0, 1, 32767, 32768, 32769, 262145,
                                   1048576 + 7};
    T *t = *state;
    lsh_sftp_client_set_write_window(t->p.c, 3 * BLK, BLK);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 3 * BLK);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "f%zu", i);
        t->max_pending = 0;
        t->max_inflight = 0;
        put_and_check(t, name, sizes[i], BLK, 64);
        assert_true(t->max_inflight <= 3 * BLK);
        if (sizes[i] >= 3 * BLK) {
            assert_int_equal(t->max_pending, 3);
        }
    }
}

/* A window below one block: one WRITE at a time, and it completes. */
static void
window_below_a_block_still_progresses(void **state)
{
    T *t = *state;
    lsh_sftp_client_set_write_window(t->p.c, 1000, 1000);
    put_and_check(t, "small", 10 * BLK + 5, BLK, 64);
    assert_int_equal(t->max_pending, 1);
    assert_int_equal(t->max_inflight, BLK);
}

/* Two PUTs share the window; each may still send its first block. */
static void
transfers_share_the_window(void **state)
{
    T *t = *state;
    size_t n = 20 * BLK;
    uint8_t *d1 = sftp_pattern(n, 1), *d2 = sftp_pattern(n, 2);
    lsh_sftp_xfer_config cfg;
    lsh_sftp_xfer *x1, *x2;
    rec h1, h2;
    src s1 = {d1, n, 0, 0}, s2 = {d2, n, 0, 0};

    lsh_sftp_client_set_write_window(t->p.c, 4 * BLK, 4 * BLK);
    open_w(t, "/s1", &h1);
    open_w(t, "/s2", &h2);
    put_cfg(&cfg, &s1, &h1, BLK, 64);
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x1), 0);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 4 * BLK);
    put_cfg(&cfg, &s2, &h2, BLK, 64);
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x2), 0);
    /* The second one's first block goes although the window is full. */
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 5 * BLK);
    pump(t);
    assert_true(t->max_inflight <= 5 * BLK);
    assert_int_equal(lsh_sftp_xfer_result(x1, NULL, NULL, NULL), 0);
    assert_int_equal(lsh_sftp_xfer_result(x2, NULL, NULL, NULL), 0);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    lsh_sftp_xfer_free(x1);
    lsh_sftp_xfer_free(x2);
    close_h(t, &h1);
    close_h(t, &h2);
    sftp_pair_assert_file(&t->p, "s1", d1, n);
    sftp_pair_assert_file(&t->p, "s2", d2, n);
    free(d1);
    free(d2);
}

/* stop(), free() and a failed transfer give their bytes back. */
static void
stopped_and_failed_transfers_release_the_window(void **state)
{
    T *t = *state;
    size_t n = 20 * BLK;
    uint8_t *data = sftp_pattern(n, 5);
    lsh_sftp_xfer_config cfg;
    lsh_sftp_xfer *x;
    rec h;
    src s = {data, n, 0, 0};

    lsh_sftp_client_set_write_window(t->p.c, 6 * BLK, 6 * BLK);
    open_w(t, "/st", &h);
    put_cfg(&cfg, &s, &h, BLK, 64);
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 6 * BLK);
    lsh_sftp_xfer_stop(x);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    pump(t); /* the forgotten replies are read and dropped */
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    lsh_sftp_xfer_free(x);

    /* Freed with requests in flight. */
    s.reads = 0;
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
    assert_true(lsh_sftp_client_writes_in_flight(t->p.c) > 0);
    lsh_sftp_xfer_free(x);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    pump(t);

    /* A local read error in the middle. */
    s.reads = 0;
    s.fail_read = 9;
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
    pump(t);
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), LSH_EIO);
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    lsh_sftp_xfer_free(x);

    /* The session ends with WRITEs in flight. */
    s.reads = 0;
    s.fail_read = 0;
    assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
    assert_true(lsh_sftp_client_writes_in_flight(t->p.c) > 0);
    lsh_sftp_client_abort(t->p.c, LSH_ECLOSED);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_client_writes_in_flight(t->p.c), 0);
    lsh_sftp_xfer_free(x);
    free(data);
}

/*
 * With a clock: a path whose round trip does not depend on what is in
 * flight (the delay is the path's) lets the window grow to its maximum;
 * a server that takes time per request (the round trip grows with what
 * waits) shrinks it back to its minimum.
 */
static void
clocked_window_follows_the_round_trip(void **state)
{
    T *t = *state;
    lsh_sftp_client_set_clock(t->p.c, fake_now, t);
    lsh_sftp_client_set_write_window(t->p.c, 16 * BLK, 2 * BLK);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 2 * BLK);

    t->per_round = 10000; /* 10 ms each way, nothing per request */
    t->per_reply = 0;
    put_and_check(t, "wan", 200 * BLK, BLK, 64);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 16 * BLK);
    assert_int_equal(t->max_inflight, 16 * BLK);

    /* Now 1 ms per request at the server and no path delay: what is in
     * flight only queues.  The new transfer starts from the minimum and
     * stays near it. */
    t->per_round = 0;
    t->per_reply = 1000;
    t->max_inflight = 0;
    put_and_check(t, "queue", 200 * BLK, BLK, 64);
    assert_true(lsh_sftp_client_write_window(t->p.c) <= 3 * BLK);
    assert_true(t->max_inflight <= 3 * BLK);

    /* Growing while the round trip stays short, shrinking when it grows,
     * inside one transfer: the server turns slow halfway. */
    {
        size_t n = 400 * BLK;
        uint8_t *data = sftp_pattern(n, 77);
        lsh_sftp_xfer_config cfg;
        lsh_sftp_xfer *x;
        rec h;
        src s = {data, n, 0, 0};
        open_w(t, "/turn", &h);
        put_cfg(&cfg, &s, &h, BLK, 64);
        t->per_round = 10000;
        t->per_reply = 0;
        assert_int_equal(lsh_sftp_xfer_start(t->p.c, &cfg, &x), 0);
        while (lsh_sftp_xfer_done(x) < n / 2) {
            assert_true(round_trip(t));
        }
        assert_int_equal(lsh_sftp_client_write_window(t->p.c), 16 * BLK);
        t->per_round = 0;
        t->per_reply = 5000;
        while (lsh_sftp_xfer_done(x) < n - 64 * BLK) {
            assert_true(round_trip(t));
        }
        assert_true(lsh_sftp_client_write_window(t->p.c) <= 4 * BLK);
        pump(t);
        assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
        lsh_sftp_xfer_free(x);
        close_h(t, &h);
        free(data);
    }

    /* Without the clock the window is the maximum again. */
    lsh_sftp_client_set_clock(t->p.c, NULL, NULL);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 16 * BLK);
    /* A minimum above the maximum is the maximum. */
    lsh_sftp_client_set_write_window(t->p.c, BLK, 4 * BLK);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), BLK);
    /* 0 turns the window off. */
    lsh_sftp_client_set_write_window(t->p.c, 0, 0);
    assert_int_equal(lsh_sftp_client_write_window(t->p.c), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_window_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fixed_window_caps_what_is_in_flight,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(window_below_a_block_still_progresses,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(transfers_share_the_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            stopped_and_failed_transfers_release_the_window, setup,
            teardown),
        cmocka_unit_test_setup_teardown(clocked_window_follows_the_round_trip,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
