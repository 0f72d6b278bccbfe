/*
 * Tests for src/ssh/sftp/client.c: the request layer and the pipelined
 * transfers, driven in-process two ways:
 *
 *   - against the real server (src/ssh/sftp/server.c over fs_posix on a
 *     throw-away root under /tmp), bytes pumped back and forth;
 *   - against a scripted "server": replies crafted with the codec and fed
 *     in any order, including hostile ones (unknown ids, oversized
 *     frames, wrong reply types, malformed bodies, more DATA than asked).
 */
#include "sftp_pair.h"

#include <errno.h>
#include <unistd.h>

#include "common/buf.h"

typedef sftp_pair T;

static lsh_sftp_str
S(const char *s)
{
    lsh_sftp_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* Moves bytes both ways until nothing moves.  The server emits whole
 * packets, so the client takes all it is given. */
static void
pump(T *t)
{
    for (int moved = 1; moved;) {
        const uint8_t *p;
        size_t n, used;
        moved = 0;
        lsh_sftp_client_out(t->c, &p, &n);
        if (n > 0) {
            assert_int_equal(lsh_sftp_server_feed(t->s, p, n, &used), 0);
            lsh_sftp_client_out_ack(t->c, used);
            moved |= used > 0;
        }
        lsh_sftp_server_out(t->s, &p, &n);
        if (n > 0) {
            (void)lsh_sftp_client_feed(t->c, p, n, &used);
            lsh_sftp_server_out_ack(t->s, used);
            moved |= used > 0;
        }
    }
}

/* The client keeps partial packets unconsumed (but a GET's DATA, which
 * it streams), so small chunks need the caller to offer more: feed the
 * server's output through a buffer.  Returns the most bytes the client
 * ever left in it. */
static size_t
pump_chunked(T *t, size_t chunk)
{
    lsh_buf pend;
    size_t most = 0;
    lsh_buf_init(&pend, 0);
    for (int moved = 1; moved;) {
        const uint8_t *p;
        size_t n, used;
        moved = 0;
        lsh_sftp_client_out(t->c, &p, &n);
        if (n > 0) {
            assert_int_equal(lsh_sftp_server_feed(t->s, p, n, &used), 0);
            lsh_sftp_client_out_ack(t->c, used);
            moved |= used > 0;
        }
        lsh_sftp_server_out(t->s, &p, &n);
        if (n > 0) {
            size_t give = n < chunk ? n : chunk;
            assert_int_equal(lsh_buf_put(&pend, p, give), 0);
            lsh_sftp_server_out_ack(t->s, give);
            moved = 1;
        }
        if (lsh_buf_len(&pend) > 0) {
            (void)lsh_sftp_client_feed(t->c, lsh_buf_ptr(&pend),
                                       lsh_buf_len(&pend), &used);
            assert_int_equal(lsh_buf_consume(&pend, used), 0);
            if (lsh_buf_len(&pend) > most) {
                most = lsh_buf_len(&pend);
            }
        }
    }
    assert_int_equal(lsh_buf_len(&pend), 0);
    lsh_buf_free(&pend);
    return most;
}

static int
setup(void **state)
{
    T *t = calloc(1, sizeof(*t));
    if (t == NULL || sftp_pair_open(t, "tsftpc") != 0) {
        return -1;
    }
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    T *t = *state;
    int r = sftp_pair_close(t);
    free(t);
    return r;
}

static void
ready(T *t)
{
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    pump(t);
    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_READY);
}

static void
write_file(T *t, const char *rel, const uint8_t *p, size_t n)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", t->root, rel);
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A recording callback */

typedef struct rec {
    int calls;
    int err;
    uint8_t type;
    uint32_t code;
    uint64_t arg;
    uint32_t arg2;
    uint8_t str[1024];
    size_t n;
    lsh_sftp_attrs attrs;
    uint32_t count;
} rec;

static void
rec_cb(void *ctx, const lsh_sftp_reply *r)
{
    rec *x = ctx;
    x->calls++;
    x->err = r->err;
    x->arg = r->arg;
    x->arg2 = r->arg2;
    if (r->err != 0) {
        return;
    }
    x->type = r->resp->type;
    x->code = r->resp->code;
    x->attrs = r->resp->attrs;
    x->count = r->resp->count;
    if (r->resp->type == LSH_SFTP_HANDLE) {
        x->n = r->resp->handle.n;
        memcpy(x->str, r->resp->handle.p, x->n);
    } else if (r->resp->type == LSH_SFTP_DATA) {
        x->n = r->resp->data.n < sizeof(x->str) ? r->resp->data.n
                                                 : sizeof(x->str);
        memcpy(x->str, r->resp->data.p, x->n);
    } else if (r->resp->type == LSH_SFTP_EXTENDED_REPLY) {
        x->n = r->resp->ext_data.n;
        memcpy(x->str, r->resp->ext_data.p, x->n);
    }
}

static void
req_path(T *t, uint8_t type, const char *path, rec *out)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = type;
    q.path = S(path);
    memset(out, 0, sizeof(*out));
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, out, 7, 9, NULL),
                     0);
    pump(t);
    assert_int_equal(out->calls, 1);
}

/* Opens path with pflags; returns the handle length (handle in h). */
static size_t
open_file(T *t, const char *path, uint32_t pflags, uint8_t *h)
{
    lsh_sftp_request q;
    rec r;
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.type = LSH_SFTP_OPEN;
    q.path = S(path);
    q.pflags = pflags;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.type, LSH_SFTP_HANDLE);
    memcpy(h, r.str, r.n);
    return r.n;
}

static void
close_handle(T *t, const uint8_t *h, size_t hn)
{
    lsh_sftp_request q;
    rec r;
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.type = LSH_SFTP_CLOSE;
    q.handle.p = h;
    q.handle.n = hn;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.type, LSH_SFTP_STATUS);
    assert_int_equal(r.code, LSH_SFTP_FX_OK);
}

/* Session start (draft-02 §4) */

static void
start_negotiates_version_and_extensions(void **state)
{
    T *t = *state;
    const uint8_t *d;
    size_t dn, i = 0, count = 0;
    lsh_sftp_str name, data;
    int saw_limits = 0;

    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_NEW);
    assert_int_equal(lsh_sftp_client_start(t->c, 4), LSH_EUNSUPPORTED);
    ready(t);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), LSH_ESTATE);
    assert_int_equal(lsh_sftp_client_version(t->c), 3);
    assert_true(lsh_sftp_client_has_ext(t->c, LSH_SFTP_EXT_LIMITS, &d, &dn));
    assert_int_equal(dn, 1);
    assert_memory_equal(d, "1", 1);
    assert_true(lsh_sftp_client_has_ext(t->c, LSH_SFTP_EXT_STATVFS, &d, &dn));
    assert_memory_equal(d, "2", 1);
    assert_true(lsh_sftp_client_has_ext(t->c, LSH_SFTP_EXT_COPY_DATA, NULL,
                                        NULL));
    assert_false(lsh_sftp_client_has_ext(t->c, LSH_SFTP_EXT_UNKNOWN, NULL,
                                         NULL));
    while (lsh_sftp_client_ext_next(t->c, &i, &name, &data)) {
        count++;
        if (name.n == 18 && memcmp(name.p, "limits@openssh.com", 18) == 0) {
            saw_limits = 1;
        }
    }
    assert_true(count >= 8);
    assert_true(saw_limits);
}

static void
requests_before_ready_are_refused(void **state)
{
    T *t = *state;
    lsh_sftp_request q;
    rec r;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_STAT;
    q.path = S("/");
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     LSH_ESTATE);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    /* INIT sent, VERSION not read yet. */
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     LSH_ESTATE);
    pump(t);
    assert_int_equal(lsh_sftp_client_send(t->c, &q, NULL, &r, 0, 0, NULL),
                     LSH_EINVAL);
    q.type = LSH_SFTP_INIT;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     LSH_EINVAL);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
}

/* Requests against the real server */

static void
stat_open_read_close_and_errors(void **state)
{
    T *t = *state;
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    lsh_sftp_request q;
    rec r;

    write_file(t, "hello", (const uint8_t *)"hello world", 11);
    ready(t);
    req_path(t, LSH_SFTP_STAT, "/hello", &r);
    assert_int_equal(r.type, LSH_SFTP_ATTRS);
    assert_int_equal(r.attrs.size, 11);
    assert_int_equal(r.arg, 7); /* args travel with the request */
    assert_int_equal(r.arg2, 9);

    req_path(t, LSH_SFTP_STAT, "/missing", &r);
    assert_int_equal(r.type, LSH_SFTP_STATUS);
    assert_int_equal(r.code, LSH_SFTP_FX_NO_SUCH_FILE);

    req_path(t, LSH_SFTP_REALPATH, ".", &r);
    assert_int_equal(r.type, LSH_SFTP_NAME);
    assert_int_equal(r.count, 1);

    hn = open_file(t, "/hello", LSH_SFTP_FXF_READ, h);
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.type = LSH_SFTP_READ;
    q.handle.p = h;
    q.handle.n = hn;
    q.offset = 6;
    q.len = 100;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.type, LSH_SFTP_DATA);
    assert_int_equal(r.n, 5);
    assert_memory_equal(r.str, "world", 5);
    close_handle(t, h, hn);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
}

static void
many_requests_in_flight_each_get_their_reply(void **state)
{
    T *t = *state;
    enum { N = 300 };
    rec *rs = calloc(N, sizeof(*rs));
    lsh_sftp_request q;
    ready(t);
    write_file(t, "a", (const uint8_t *)"xyz", 3);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_STAT;
    for (int i = 0; i < N; i++) {
        q.path = S(i % 2 ? "/a" : "/nope");
        assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &rs[i],
                                              (uint64_t)i, 0, NULL),
                         0);
    }
    assert_int_equal(lsh_sftp_client_pending(t->c), N);
    pump(t);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].arg, (uint64_t)i);
        if (i % 2) {
            assert_int_equal(rs[i].type, LSH_SFTP_ATTRS);
            assert_int_equal(rs[i].attrs.size, 3);
        } else {
            assert_int_equal(rs[i].code, LSH_SFTP_FX_NO_SUCH_FILE);
        }
    }
    free(rs);
}

static void
extended_requests_reach_the_server(void **state)
{
    T *t = *state;
    lsh_sftp_request q;
    rec r;
    ready(t);
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_LIMITS;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(r.n, 32);
    /* statvfs: EXTENDED_REPLY of 11 uint64 */
    memset(&r, 0, sizeof(r));
    q.ext = LSH_SFTP_EXT_STATVFS;
    q.path = S("/");
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     0);
    pump(t);
    assert_int_equal(r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(r.n, 88);
    /* An extension the codec does not know cannot be sent. */
    q.ext = LSH_SFTP_EXT_UNKNOWN;
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL),
                     LSH_EINVAL);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
}

static void
replies_fed_a_byte_at_a_time(void **state)
{
    T *t = *state;
    lsh_sftp_request q;
    rec r[3];
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    pump_chunked(t, 1);
    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_READY);
    write_file(t, "f", (const uint8_t *)"0123456789", 10);
    memset(&q, 0, sizeof(q));
    memset(r, 0, sizeof(r));
    q.type = LSH_SFTP_LSTAT;
    q.path = S("/f");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, &r[i], 0, 0,
                                              NULL),
                         0);
    }
    pump_chunked(t, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].attrs.size, 10);
    }
}

/* The scripted server */

static void
feed_pkt(T *t, lsh_buf *b, int expect)
{
    size_t used;
    assert_int_equal(lsh_sftp_client_feed(t->c, lsh_buf_ptr(b),
                                          lsh_buf_len(b), &used),
                     expect);
    if (expect == 0) {
        assert_int_equal(used, lsh_buf_len(b));
    }
    lsh_buf_reset(b);
}

static void
fake_ready(T *t, lsh_buf *b)
{
    const char *names[] = {"limits@openssh.com", "x-unknown@example.com"};
    const char *datas[] = {"1", "hello"};
    const uint8_t *p;
    size_t n;
    lsh_buf_init(b, 0);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    lsh_sftp_client_out(t->c, &p, &n);
    /* INIT is 4+1+4 bytes: length 5, type 1, version 3 (draft-02 §4). */
    tu_assert_hex(p, n, "00000005 01 00000003");
    lsh_sftp_client_out_ack(t->c, n);
    assert_int_equal(lsh_sftp_put_version(b, 3, names, datas, 2), 0);
    feed_pkt(t, b, 0);
    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_READY);
}

static uint32_t
send_stat(T *t, rec *r, uint64_t arg)
{
    lsh_sftp_request q;
    uint32_t id;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_STAT;
    q.path = S("/x");
    assert_int_equal(lsh_sftp_client_send(t->c, &q, rec_cb, r, arg, 0, &id),
                     0);
    return id;
}

static int
send_refused(T *t)
{
    lsh_sftp_request q;
    rec r;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_STAT;
    q.path = S("/x");
    return lsh_sftp_client_send(t->c, &q, rec_cb, &r, 0, 0, NULL);
}

static void
replies_in_any_order_and_unknown_extensions(void **state)
{
    T *t = *state;
    lsh_buf b;
    rec r[3];
    uint32_t id[3];
    lsh_sftp_attrs a;
    lsh_sftp_str name, data;
    size_t i = 0;
    int unknown_seen = 0;
    fake_ready(t, &b);
    while (lsh_sftp_client_ext_next(t->c, &i, &name, &data)) {
        if (name.n == 21 && memcmp(data.p, "hello", 5) == 0) {
            unknown_seen = 1;
        }
    }
    assert_true(unknown_seen);
    memset(r, 0, sizeof(r));
    for (int k = 0; k < 3; k++) {
        id[k] = send_stat(t, &r[k], (uint64_t)k + 100);
    }
    assert_int_not_equal(id[0], id[1]);
    memset(&a, 0, sizeof(a));
    a.flags = LSH_SFTP_ATTR_SIZE;
    for (int k = 2; k >= 0; k--) {
        a.size = (uint64_t)k * 10;
        assert_int_equal(lsh_sftp_put_attrs(&b, id[k], &a), 0);
    }
    feed_pkt(t, &b, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(r[k].calls, 1);
        assert_int_equal(r[k].arg, (uint64_t)k + 100);
        assert_int_equal(r[k].attrs.size, (uint64_t)k * 10);
    }
    lsh_buf_free(&b);
}

static void
a_reply_to_no_request_is_fatal_and_fails_the_rest(void **state)
{
    T *t = *state;
    lsh_buf b;
    rec r;
    uint32_t id;
    const char *detail;
    fake_ready(t, &b);
    memset(&r, 0, sizeof(r));
    id = send_stat(t, &r, 0);
    assert_int_equal(lsh_sftp_put_status(&b, id ^ 0x10000u, 0, ""), 0);
    feed_pkt(t, &b, LSH_EPROTOCOL);
    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_FAILED);
    assert_int_equal(lsh_sftp_client_error(t->c, &detail), LSH_EPROTOCOL);
    assert_non_null(strstr(detail, "no request"));
    /* The pending request heard of it. */
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, LSH_EPROTOCOL);
    assert_int_equal(send_refused(t), LSH_ESTATE);
    lsh_buf_free(&b);
}

static void
hostile_framing_is_fatal(void **state)
{
    T *t = *state;
    lsh_buf b;
    size_t used;
    uint8_t big[] = {0x00, 0x10, 0x00, 0x00, 0x67};
    uint8_t empty[] = {0, 0, 0, 0};
    uint8_t shortpkt[] = {0, 0, 0, 2, 0x65, 0x00};
    rec r;

    /* A frame over the cap. */
    fake_ready(t, &b);
    memset(&r, 0, sizeof(r));
    send_stat(t, &r, 0);
    assert_int_equal(lsh_sftp_client_feed(t->c, big, sizeof(big), &used),
                     LSH_ETOOLARGE);
    assert_int_equal(r.err, LSH_ETOOLARGE);
    /* Sticky: later input is refused. */
    assert_int_equal(lsh_sftp_client_feed(t->c, empty, 4, &used),
                     LSH_ETOOLARGE);
    lsh_buf_free(&b);
    lsh_sftp_client_free(t->c);

    /* An empty packet. */
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    fake_ready(t, &b);
    assert_int_equal(lsh_sftp_client_feed(t->c, empty, 4, &used),
                     LSH_EBADPACKET);
    lsh_buf_free(&b);
    lsh_sftp_client_free(t->c);

    /* A reply too short to carry an id. */
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    fake_ready(t, &b);
    assert_int_equal(lsh_sftp_client_feed(t->c, shortpkt, sizeof(shortpkt),
                                          &used),
                     LSH_EPROTOCOL);
    lsh_buf_free(&b);
}

static void
version_rules(void **state)
{
    T *t = *state;
    lsh_buf b;
    size_t used;
    uint8_t status[64];
    const char *none[1] = {NULL};

    lsh_buf_init(&b, 0);
    /* Data before INIT. */
    assert_int_equal(lsh_sftp_put_version(&b, 3, none, none, 0), 0);
    assert_int_equal(lsh_sftp_client_feed(t->c, lsh_buf_ptr(&b),
                                          lsh_buf_len(&b), &used),
                     LSH_ESTATE);
    lsh_sftp_client_free(t->c);

    /* The first packet must be VERSION. */
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    lsh_buf_reset(&b);
    assert_int_equal(lsh_sftp_put_status(&b, 1, 0, "ok"), 0);
    feed_pkt(t, &b, LSH_EPROTOCOL);
    lsh_sftp_client_free(t->c);

    /* Older than 3: refused.  Newer: version 3 is used. */
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    assert_int_equal(lsh_sftp_put_version(&b, 2, none, none, 0), 0);
    feed_pkt(t, &b, LSH_EUNSUPPORTED);
    lsh_sftp_client_free(t->c);
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    assert_int_equal(lsh_sftp_put_version(&b, 6, none, none, 0), 0);
    feed_pkt(t, &b, 0);
    assert_int_equal(lsh_sftp_client_version(t->c), 3);
    /* A second VERSION. */
    assert_int_equal(lsh_sftp_put_version(&b, 3, none, none, 0), 0);
    feed_pkt(t, &b, LSH_EPROTOCOL);
    lsh_sftp_client_free(t->c);

    /* A malformed extension list: a name without its data. */
    assert_int_equal(lsh_sftp_client_new(&t->c), 0);
    assert_int_equal(lsh_sftp_client_start(t->c, 3), 0);
    memcpy(status, "\x00\x00\x00\x0c\x02\x00\x00\x00\x03\x00\x00\x00\x03"
                   "abc", 16);
    assert_int_equal(lsh_sftp_client_feed(t->c, status, 16, &used),
                     LSH_ETRUNCATED);
    lsh_buf_free(&b);
}

static void
bad_replies_fail_only_their_request(void **state)
{
    T *t = *state;
    lsh_buf b;
    rec r1, r2, r3;
    uint32_t id1, id2, id3;
    size_t mark;
    fake_ready(t, &b);
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    memset(&r3, 0, sizeof(r3));
    id1 = send_stat(t, &r1, 0);
    id2 = send_stat(t, &r2, 0);
    id3 = send_stat(t, &r3, 0);
    /* A DATA answering a STAT. */
    assert_int_equal(lsh_sftp_put_data(&b, id1, (const uint8_t *)"x", 1), 0);
    feed_pkt(t, &b, 0);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r1.err, LSH_EUNEXPECTED);
    /* ATTRS with unknown flag bits (draft-02 §5: a protocol error). */
    assert_int_equal(lsh_sftp_begin(&b, LSH_SFTP_ATTRS, &mark), 0);
    assert_int_equal(lsh_buf_put_u32(&b, id2), 0);
    assert_int_equal(lsh_buf_put_u32(&b, 0x40), 0);
    assert_int_equal(lsh_sftp_end(&b, mark, LSH_SFTP_MAX_PACKET), 0);
    feed_pkt(t, &b, 0);
    assert_int_equal(r2.err, LSH_EPROTOCOL);
    assert_int_equal(lsh_sftp_client_state(t->c), LSH_SFTP_CLIENT_READY);
    /* The session goes on. */
    assert_int_equal(lsh_sftp_put_status(&b, id3, LSH_SFTP_FX_FAILURE, "no"),
                     0);
    feed_pkt(t, &b, 0);
    assert_int_equal(r3.err, 0);
    assert_int_equal(r3.code, LSH_SFTP_FX_FAILURE);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    lsh_buf_free(&b);
}

static void
stale_ids_are_rejected(void **state)
{
    T *t = *state;
    lsh_buf b;
    rec r1, r2;
    uint32_t id1, id2;
    fake_ready(t, &b);
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    id1 = send_stat(t, &r1, 0);
    assert_int_equal(lsh_sftp_put_status(&b, id1, 0, ""), 0);
    feed_pkt(t, &b, 0);
    id2 = send_stat(t, &r2, 0);
    /* Same slot, next generation. */
    assert_int_equal(id1 & 0xffff, id2 & 0xffff);
    assert_int_not_equal(id1, id2);
    assert_int_equal(lsh_sftp_put_status(&b, id1, 0, ""), 0);
    feed_pkt(t, &b, LSH_EPROTOCOL);
    assert_int_equal(r2.err, LSH_EPROTOCOL);
    lsh_buf_free(&b);
}

static void
cancel_forget_and_abort(void **state)
{
    T *t = *state;
    lsh_buf b;
    rec r1, r2, r3, r4;
    uint32_t id1, id2, id3;
    fake_ready(t, &b);
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    memset(&r3, 0, sizeof(r3));
    memset(&r4, 0, sizeof(r4));
    id1 = send_stat(t, &r1, 0);
    id2 = send_stat(t, &r2, 0);
    id3 = send_stat(t, &r3, 0);
    (void)send_stat(t, &r4, 0);
    lsh_sftp_client_cancel(t->c, id1);
    lsh_sftp_client_cancel(t->c, 0xdeadbeef); /* not in flight: ignored */
    lsh_sftp_client_forget_ctx(t->c, &r2);
    assert_int_equal(lsh_sftp_client_pending(t->c), 4);
    /* Their replies are read and dropped. */
    assert_int_equal(lsh_sftp_put_status(&b, id1, 0, ""), 0);
    assert_int_equal(lsh_sftp_put_status(&b, id2, 0, ""), 0);
    assert_int_equal(lsh_sftp_put_status(&b, id3, 0, ""), 0);
    feed_pkt(t, &b, 0);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    assert_int_equal(r3.calls, 1);
    assert_int_equal(lsh_sftp_client_pending(t->c), 1);
    /* abort: the rest hear LSH_ECLOSED, new requests are refused. */
    lsh_sftp_client_abort(t->c, 0);
    assert_int_equal(r4.calls, 1);
    assert_int_equal(r4.err, LSH_ECLOSED);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    assert_int_equal(send_refused(t), LSH_ESTATE);
    lsh_buf_free(&b);
}

/* Transfers */

typedef struct mio {
    uint8_t *p;        /* sink */
    size_t n, cap;
    const uint8_t *src; /* source */
    size_t src_n;
    int notifies, finished;
    int fail_write, fail_read; /* fail the nth call (1-based), 0 never */
    int writes, reads;
    int hold;          /* may_send answers 0 */
    size_t max_pending;
    lsh_sftp_client *c;
} mio;

static int
m_write_at(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
    mio *m = ctx;
    if (++m->writes == m->fail_write) {
        return ENOSPC;
    }
    if (off + n > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < off + n) {
            cap *= 2;
        }
        m->p = realloc(m->p, cap);
        memset(m->p + m->cap, 0xee, cap - m->cap);
        m->cap = cap;
    }
    memcpy(m->p + off, p, n);
    if (off + n > m->n) {
        m->n = (size_t)(off + n);
    }
    return 0;
}

static int
m_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
    mio *m = ctx;
    if (++m->reads == m->fail_read) {
        return EIO;
    }
    /* The WRITE being built holds its slot already. */
    if (m->c != NULL && lsh_sftp_client_pending(m->c) > m->max_pending) {
        m->max_pending = lsh_sftp_client_pending(m->c);
    }
    *got = 0;
    if (off < m->src_n) {
        *got = m->src_n - (size_t)off < n ? m->src_n - (size_t)off : n;
        memcpy(buf, m->src + off, *got);
    }
    return 0;
}

static void
m_notify(void *ctx, lsh_sftp_xfer *x)
{
    mio *m = ctx;
    m->notifies++;
    if (lsh_sftp_xfer_finished(x)) {
        m->finished++;
    }
    if (m->c != NULL && lsh_sftp_client_pending(m->c) > m->max_pending) {
        m->max_pending = lsh_sftp_client_pending(m->c);
    }
}

static int
m_may_send(void *ctx)
{
    return !((mio *)ctx)->hold;
}

static void
xcfg(lsh_sftp_xfer_config *cfg, lsh_sftp_xfer_mode mode, mio *m)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = mode;
    cfg->length = UINT64_MAX;
    cfg->size_hint = UINT64_MAX;
    cfg->io.ctx = m;
    cfg->io.write_at = m_write_at;
    cfg->io.read_at = m_read_at;
    cfg->io.notify = m_notify;
    cfg->io.may_send = m_may_send;
}

static const size_t sizes[] = {0,      1,      32767,  32768,  32769,
                               262143, 262144, 262145, 1048583};

static int
run_xfer(T *t, lsh_sftp_xfer_config *cfg, uint64_t *size)
{
    lsh_sftp_xfer *x;
    int r;
    assert_int_equal(lsh_sftp_xfer_start(t->c, cfg, &x), 0);
    pump(t);
    assert_true(lsh_sftp_xfer_finished(x));
    r = lsh_sftp_xfer_result(x, NULL, NULL, NULL);
    if (size != NULL) {
        *size = lsh_sftp_xfer_size(x);
    }
    lsh_sftp_xfer_free(x);
    return r;
}

/* GET of one file: the sink must equal the file. */
static void
get_and_compare(T *t, const uint8_t *data, size_t n, uint32_t block,
                uint64_t hint)
{
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn = open_file(t, "/f", LSH_SFTP_FXF_READ, h);
    lsh_sftp_xfer_config cfg;
    mio m;
    uint64_t size;
    memset(&m, 0, sizeof(m));
    m.c = t->c;
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src.p = h;
    cfg.src.n = hn;
    cfg.block = block;
    cfg.max_requests = 16;
    cfg.size_hint = hint;
    assert_int_equal(run_xfer(t, &cfg, &size), 0);
    assert_int_equal(size, n);
    assert_int_equal(m.n, n);
    if (n > 0) {
        assert_memory_equal(m.p, data, n);
    }
    assert_int_equal(m.finished, 1);
    assert_true(m.max_pending <= 16);
    close_handle(t, h, hn);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    free(m.p);
}

static void
get_size_matrix(void **state)
{
    T *t = *state;
    ready(t);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *data = sftp_pattern(n, (unsigned)i);
        write_file(t, "f", data, n);
        get_and_compare(t, data, n, 32768, n);
        get_and_compare(t, data, n, LSH_SFTP_MAX_BLOCK, n);
        get_and_compare(t, data, n, 32768, UINT64_MAX);
        /* A stale hint either way. */
        get_and_compare(t, data, n, 32768, n / 2);
        get_and_compare(t, data, n, 32768, n * 2 + 5);
        free(data);
    }
}

static void
get_with_short_reads(void **state)
{
    T *t = *state;
    size_t n = 300007;
    uint8_t *data = sftp_pattern(n, 3);
    /* A server that answers at most 1000 bytes per READ. */
    lsh_sftp_server_free(t->s);
    assert_int_equal(sftp_pair_server(t, 1000), 0);
    ready(t);
    write_file(t, "f", data, n);
    get_and_compare(t, data, n, 32768, n);
    get_and_compare(t, data, n, 32768, UINT64_MAX);
    free(data);
}

static void
get_a_range_into_memory(void **state)
{
    T *t = *state;
    size_t n = 100000;
    uint8_t *data = sftp_pattern(n, 5);
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    lsh_sftp_xfer_config cfg;
    mio m;
    uint64_t size;
    ready(t);
    write_file(t, "f", data, n);
    hn = open_file(t, "/f", LSH_SFTP_FXF_READ, h);
    memset(&m, 0, sizeof(m));
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src.p = h;
    cfg.src.n = hn;
    cfg.src_offset = 1234;
    cfg.length = 50000;
    cfg.block = 4096;
    assert_int_equal(run_xfer(t, &cfg, &size), 0);
    assert_int_equal(size, 50000);
    assert_int_equal(m.n, 50000);
    assert_memory_equal(m.p, data + 1234, 50000);
    /* A range past the end stops at EOF. */
    free(m.p);
    memset(&m, 0, sizeof(m));
    cfg.src_offset = n - 10;
    cfg.length = 500;
    assert_int_equal(run_xfer(t, &cfg, &size), 0);
    assert_int_equal(size, 10);
    assert_memory_equal(m.p, data + n - 10, 10);
    free(m.p);
    free(data);
    close_handle(t, h, hn);
}

static void
put_size_matrix(void **state)
{
    T *t = *state;
    ready(t);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int blk = 0; blk < 2; blk++) {
            size_t n = sizes[i];
            uint8_t *data = sftp_pattern(n, (unsigned)i + 50);
            uint8_t h[LSH_SFTP_MAX_HANDLE];
            size_t hn = open_file(t, "/up", LSH_SFTP_FXF_WRITE |
                                                LSH_SFTP_FXF_CREAT |
                                                LSH_SFTP_FXF_TRUNC, h);
            lsh_sftp_xfer_config cfg;
            mio m;
            uint64_t size;
            memset(&m, 0, sizeof(m));
            m.c = t->c;
            m.src = data;
            m.src_n = n;
            xcfg(&cfg, LSH_SFTP_XFER_PUT, &m);
            cfg.dst.p = h;
            cfg.dst.n = hn;
            cfg.block = blk ? LSH_SFTP_MAX_BLOCK : 32768;
            cfg.max_requests = 8;
            /* With and without a known length. */
            cfg.length = blk ? n : UINT64_MAX;
            assert_int_equal(run_xfer(t, &cfg, &size), 0);
            assert_int_equal(size, n);
            assert_true(m.max_pending <= 8);
            close_handle(t, h, hn);
            sftp_pair_assert_file(t, "up", data, n);
            free(data);
        }
    }
}

static void
sparse_transfers_skip_zeros_and_keep_the_size(void **state)
{
    T *t = *state;
    size_t n = 5 * 32768 + 100;
    uint8_t *data = sftp_pattern(n, 9);
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    lsh_sftp_xfer_config cfg;
    mio m;
    uint64_t size;
    lsh_sftp_xfer *x;

    /* Blocks 1 and 3 and the tail are zeros. */
    memset(data + 32768, 0, 32768);
    memset(data + 3 * 32768, 0, n - 3 * 32768);
    ready(t);
    hn = open_file(t, "/sp", LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT |
                                 LSH_SFTP_FXF_TRUNC, h);
    memset(&m, 0, sizeof(m));
    m.src = data;
    m.src_n = n;
    xcfg(&cfg, LSH_SFTP_XFER_PUT, &m);
    cfg.dst.p = h;
    cfg.dst.n = hn;
    cfg.block = 32768;
    cfg.sparse = 1;
    cfg.length = n;
    assert_int_equal(run_xfer(t, &cfg, &size), 0);
    close_handle(t, h, hn);
    sftp_pair_assert_file(t, "sp", data, n);

    /* GET back with sparse: zero blocks are not written, the caller
     * is told to extend. */
    hn = open_file(t, "/sp", LSH_SFTP_FXF_READ, h);
    memset(&m, 0, sizeof(m));
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src.p = h;
    cfg.src.n = hn;
    cfg.block = 32768;
    cfg.sparse = 1;
    cfg.size_hint = n;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    pump(t);
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
    assert_int_equal(lsh_sftp_xfer_size(x), n);
    assert_int_equal(lsh_sftp_xfer_done(x), n);
    assert_true(lsh_sftp_xfer_needs_extend(x));
    assert_int_equal(m.writes, 2); /* blocks 0 and 2 only */
    assert_int_equal(m.n, 3 * 32768);
    assert_memory_equal(m.p, data, 32768);
    assert_memory_equal(m.p + 2 * 32768, data + 2 * 32768, 32768);
    lsh_sftp_xfer_free(x);
    close_handle(t, h, hn);
    free(m.p);
    free(data);
}

static void
copy_through_the_client_and_with_copy_data(void **state)
{
    T *t = *state;
    size_t n = 700001;
    uint8_t *data = sftp_pattern(n, 11);
    uint8_t hs[LSH_SFTP_MAX_HANDLE], hd[LSH_SFTP_MAX_HANDLE];
    size_t hsn, hdn;
    lsh_sftp_xfer_config cfg;
    mio m;
    uint64_t size;
    ready(t);
    write_file(t, "src", data, n);
    for (int mode = 0; mode < 2; mode++) {
        hsn = open_file(t, "/src", LSH_SFTP_FXF_READ, hs);
        hdn = open_file(t, "/dst", LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT |
                                       LSH_SFTP_FXF_TRUNC, hd);
        memset(&m, 0, sizeof(m));
        m.c = t->c;
        xcfg(&cfg, mode ? LSH_SFTP_XFER_COPY_DATA : LSH_SFTP_XFER_COPY, &m);
        cfg.src.p = hs;
        cfg.src.n = hsn;
        cfg.dst.p = hd;
        cfg.dst.n = hdn;
        cfg.block = 65536;
        cfg.max_requests = 6;
        cfg.size_hint = n;
        cfg.length = mode ? n : UINT64_MAX;
        assert_int_equal(run_xfer(t, &cfg, &size), 0);
        assert_int_equal(size, n);
        assert_true(m.max_pending <= 6 + 1);
        close_handle(t, hs, hsn);
        close_handle(t, hd, hdn);
        sftp_pair_assert_file(t, "dst", data, n);
    }
    free(data);
}

static void
transfer_errors(void **state)
{
    T *t = *state;
    size_t n = 200000;
    uint8_t *data = sftp_pattern(n, 13);
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    lsh_sftp_xfer_config cfg;
    mio m;
    uint32_t status;
    const char *msg;
    int local_err;
    lsh_sftp_xfer *x;

    ready(t);
    write_file(t, "f", data, n);
    /* A local write fails. */
    hn = open_file(t, "/f", LSH_SFTP_FXF_READ, h);
    memset(&m, 0, sizeof(m));
    m.fail_write = 2;
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src.p = h;
    cfg.src.n = hn;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    pump(t);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, &status, &msg, &local_err),
                     LSH_EIO);
    assert_int_equal(local_err, ENOSPC);
    lsh_sftp_xfer_free(x);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    free(m.p);

    /* A READ refused by the server: a forged handle. */
    memset(&m, 0, sizeof(m));
    h[0] ^= 0xff;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    pump(t);
    assert_int_equal(lsh_sftp_xfer_result(x, &status, &msg, NULL),
                     LSH_EPROTOCOL);
    assert_int_not_equal(status, LSH_SFTP_FX_OK);
    assert_int_not_equal(status, LSH_SFTP_FX_EOF);
    lsh_sftp_xfer_free(x);
    h[0] ^= 0xff;
    close_handle(t, h, hn);

    /* A local read fails during a PUT. */
    hn = open_file(t, "/g", LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT, h);
    memset(&m, 0, sizeof(m));
    m.src = data;
    m.src_n = n;
    m.fail_read = 3;
    xcfg(&cfg, LSH_SFTP_XFER_PUT, &m);
    cfg.dst.p = h;
    cfg.dst.n = hn;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    pump(t);
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, &local_err),
                     LSH_EIO);
    assert_int_equal(local_err, EIO);
    lsh_sftp_xfer_free(x);
    close_handle(t, h, hn);

    /* Bad configurations. */
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), LSH_EINVAL);
    cfg.src.p = h;
    cfg.src.n = hn;
    cfg.block = LSH_SFTP_MAX_BLOCK + 1;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), LSH_EINVAL);
    free(data);
}

static void
stop_and_backpressure(void **state)
{
    T *t = *state;
    size_t n = 400000;
    uint8_t *data = sftp_pattern(n, 17);
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    lsh_sftp_xfer_config cfg;
    mio m;
    lsh_sftp_xfer *x;
    uint64_t size;

    ready(t);
    write_file(t, "f", data, n);
    hn = open_file(t, "/f", LSH_SFTP_FXF_READ, h);
    /* stop(): in-flight replies are dropped, the result says stopped. */
    memset(&m, 0, sizeof(m));
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src.p = h;
    cfg.src.n = hn;
    cfg.max_requests = 4;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    assert_int_equal(lsh_sftp_client_pending(t->c), 4);
    lsh_sftp_xfer_stop(x);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), LSH_ESTATE);
    pump(t);
    assert_int_equal(m.writes, 0);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    lsh_sftp_xfer_free(x);
    close_handle(t, h, hn);

    /* may_send == 0: one WRITE at a time, and it still completes. */
    hn = open_file(t, "/up", LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT, h);
    memset(&m, 0, sizeof(m));
    m.c = t->c;
    m.src = data;
    m.src_n = n;
    m.hold = 1;
    xcfg(&cfg, LSH_SFTP_XFER_PUT, &m);
    cfg.dst.p = h;
    cfg.dst.n = hn;
    cfg.max_requests = 32;
    cfg.length = n;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    assert_int_equal(lsh_sftp_client_pending(t->c), 1);
    pump(t);
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
    size = lsh_sftp_xfer_size(x);
    assert_int_equal(size, n);
    assert_int_equal(m.max_pending, 1);
    lsh_sftp_xfer_free(x);
    close_handle(t, h, hn);
    free(data);
}

static void
more_data_than_asked_is_a_protocol_error(void **state)
{
    T *t = *state;
    lsh_buf b, req;
    lsh_sftp_xfer_config cfg;
    lsh_sftp_xfer *x;
    mio m;
    const uint8_t *p, *pkt;
    size_t n, plen, used;
    uint8_t big[40000];
    lsh_sftp_request q;
    int id_ok;

    fake_ready(t, &b);
    lsh_buf_init(&req, 0);
    memset(&m, 0, sizeof(m));
    xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
    cfg.src = S("h1");
    cfg.block = 1000;
    cfg.max_requests = 1;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    lsh_sftp_client_out(t->c, &p, &n);
    assert_int_equal(lsh_sftp_frame(p, n, LSH_SFTP_MAX_PACKET, &pkt, &plen,
                                    &used),
                     1);
    assert_int_equal(lsh_sftp_request_decode(pkt, plen, &q, &id_ok), 0);
    assert_int_equal(q.type, LSH_SFTP_READ);
    assert_int_equal(q.len, 1000);
    memset(big, 'a', sizeof(big));
    assert_int_equal(lsh_sftp_put_data(&b, q.id, big, 1001), 0);
    lsh_sftp_client_out_ack(t->c, n);
    feed_pkt(t, &b, 0);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL),
                     LSH_EPROTOCOL);
    assert_int_equal(m.writes, 0);
    lsh_sftp_xfer_free(x);

    /* Session end mid-transfer: the transfer fails with LSH_ECLOSED. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
    lsh_sftp_client_abort(t->c, LSH_ECLOSED);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), LSH_ECLOSED);
    lsh_sftp_xfer_free(x);
    lsh_buf_free(&req);
    lsh_buf_free(&b);
}

/* A GET's DATA is taken as it comes (IMPLEMENTATION NOTES, "Streamed
 * DATA"): however the replies are cut, the client never keeps more than
 * a header or a small STATUS unconsumed, and the file arrives whole. */
static void
get_streams_data_as_it_arrives(void **state)
{
    T *t = *state;
    static const size_t chunks[] = {1, 12, 13, 14, 1000, 32768, 32768 + 13};
    size_t n = 600000;
    uint8_t *data = sftp_pattern(n, 23);
    ready(t);
    write_file(t, "f", data, n);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        uint8_t h[LSH_SFTP_MAX_HANDLE];
        size_t hn = open_file(t, "/f", LSH_SFTP_FXF_READ, h);
        lsh_sftp_xfer_config cfg;
        lsh_sftp_xfer *x;
        mio m;
        memset(&m, 0, sizeof(m));
        xcfg(&cfg, LSH_SFTP_XFER_GET, &m);
        cfg.src.p = h;
        cfg.src.n = hn;
        cfg.block = LSH_SFTP_MAX_BLOCK;
        cfg.max_requests = 4;
        assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, &x), 0);
        assert_true(pump_chunked(t, chunks[i]) < 128);
        assert_true(lsh_sftp_xfer_finished(x));
        assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
        assert_int_equal(m.n, n);
        assert_memory_equal(m.p, data, n);
        /* Pieces, not whole replies, reached write_at. */
        assert_true(chunks[i] > LSH_SFTP_MAX_BLOCK || m.writes > 3);
        lsh_sftp_xfer_free(x);
        close_handle(t, h, hn);
        assert_int_equal(lsh_sftp_client_pending(t->c), 0);
        free(m.p);
    }
    free(data);
}

/* The scripted server's DATA for the one READ in flight, of n bytes
 * (with `extra` bytes after the data that its length counts). */
static void
fake_data(T *t, lsh_buf *b, size_t n, size_t extra)
{
    const uint8_t *p, *pkt;
    size_t on, plen, used;
    lsh_sftp_request q;
    int id_ok;
    uint8_t fill[2000];
    lsh_sftp_client_out(t->c, &p, &on);
    assert_int_equal(lsh_sftp_frame(p, on, LSH_SFTP_MAX_PACKET, &pkt, &plen,
                                    &used),
                     1);
    assert_int_equal(lsh_sftp_request_decode(pkt, plen, &q, &id_ok), 0);
    assert_int_equal(q.type, LSH_SFTP_READ);
    lsh_sftp_client_out_ack(t->c, used);
    for (size_t i = 0; i < sizeof(fill); i++) {
        fill[i] = (uint8_t)(q.offset + i);
    }
    assert_true(n + extra <= sizeof(fill));
    assert_int_equal(lsh_sftp_put_data(b, q.id, fill, n + extra), 0);
    /* Both lengths say n + extra: make the data string n long. */
    lsh_poke_u32(lsh_buf_ptr(b) + 9, (uint32_t)n);
}

/* Feeds [from, to) of b; returns what the client took. */
static size_t
feed_part(T *t, lsh_buf *b, size_t from, size_t to, int expect)
{
    size_t used;
    assert_int_equal(lsh_sftp_client_feed(t->c, lsh_buf_ptr(b) + from,
                                          to - from, &used),
                     expect);
    return used;
}

static void
get_start_1000(T *t, mio *m, lsh_sftp_xfer **x)
{
    lsh_sftp_xfer_config cfg;
    memset(m, 0, sizeof(*m));
    xcfg(&cfg, LSH_SFTP_XFER_GET, m);
    cfg.src = S("h1");
    cfg.block = 1000;
    cfg.max_requests = 1;
    cfg.length = 1000;
    assert_int_equal(lsh_sftp_xfer_start(t->c, &cfg, x), 0);
}

/* A STAT still gets its answer: the session is intact. */
static void
session_goes_on(T *t, lsh_buf *b)
{
    rec r;
    uint32_t id;
    const uint8_t *p;
    size_t n;
    memset(&r, 0, sizeof(r));
    id = send_stat(t, &r, 0);
    lsh_sftp_client_out(t->c, &p, &n);
    lsh_sftp_client_out_ack(t->c, n);
    assert_int_equal(lsh_sftp_put_status(b, id, LSH_SFTP_FX_OK, "ok"), 0);
    feed_pkt(t, b, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, LSH_SFTP_STATUS);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
}

/* The ways a streamed DATA can be cut short: its transfer stopped and
 * freed, its local write failing, the session ending; and a DATA whose
 * framing is not exactly a DATA's, which waits for its whole packet. */
static void
a_streamed_reply_cut_short(void **state)
{
    T *t = *state;
    lsh_buf b;
    lsh_sftp_xfer *x;
    mio m;
    size_t len;

    fake_ready(t, &b);

    /* Stopped and freed after 300 bytes: the rest is read and dropped. */
    get_start_1000(t, &m, &x);
    fake_data(t, &b, 1000, 0);
    len = lsh_buf_len(&b);
    assert_int_equal(feed_part(t, &b, 0, 313, 0), 313);
    assert_int_equal(m.writes, 1);
    assert_int_equal(m.n, 300);
    assert_int_equal(m.p[299], (uint8_t)299);
    lsh_sftp_xfer_stop(x);
    lsh_sftp_xfer_free(x);
    assert_int_equal(feed_part(t, &b, 313, len, 0), len - 313);
    assert_int_equal(m.writes, 1);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    lsh_buf_reset(&b);
    free(m.p);
    session_goes_on(t, &b);

    /* The second piece's write fails: the transfer fails (EIO), the
     * third piece is dropped, the reply still ends its READ. */
    get_start_1000(t, &m, &x);
    m.fail_write = 2;
    fake_data(t, &b, 1000, 0);
    assert_int_equal(feed_part(t, &b, 0, 313, 0), 313);
    assert_int_equal(feed_part(t, &b, 313, 613, 0), 300);
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), LSH_EIO);
    assert_false(lsh_sftp_xfer_finished(x)); /* its READ is in flight */
    assert_int_equal(lsh_sftp_client_pending(t->c), 1);
    assert_int_equal(feed_part(t, &b, 613, len, 0), len - 613);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(m.writes, 2);
    assert_int_equal(m.n, 300);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    lsh_sftp_xfer_free(x);
    lsh_buf_reset(&b);
    free(m.p);
    session_goes_on(t, &b);

    /* Four bytes after the data inside the packet: not a DATA that
     * decodes, so nothing is taken until the packet is whole, and then
     * only its transfer fails. */
    get_start_1000(t, &m, &x);
    fake_data(t, &b, 996, 4);
    len = lsh_buf_len(&b);
    assert_int_equal(feed_part(t, &b, 0, len - 1, 0), 0);
    assert_int_equal(m.writes, 0);
    assert_int_equal(feed_part(t, &b, 0, len, 0), len);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_not_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), 0);
    assert_int_equal(m.writes, 0);
    lsh_sftp_xfer_free(x);
    lsh_buf_reset(&b);
    session_goes_on(t, &b);

    /* The session ends mid-reply: the transfer fails with LSH_ECLOSED
     * and the rest of the reply is refused. */
    get_start_1000(t, &m, &x);
    fake_data(t, &b, 1000, 0);
    assert_int_equal(feed_part(t, &b, 0, 513, 0), 513);
    lsh_sftp_client_abort(t->c, LSH_ECLOSED);
    assert_true(lsh_sftp_xfer_finished(x));
    assert_int_equal(lsh_sftp_xfer_result(x, NULL, NULL, NULL), LSH_ECLOSED);
    assert_int_equal(feed_part(t, &b, 513, len, LSH_ECLOSED), 0);
    assert_int_equal(m.n, 500);
    assert_int_equal(lsh_sftp_client_pending(t->c), 0);
    lsh_sftp_xfer_free(x);
    free(m.p);
    lsh_buf_free(&b);
}

#define TESTS(X)                                                          \
    X(start_negotiates_version_and_extensions)                            \
    X(requests_before_ready_are_refused)                                  \
    X(stat_open_read_close_and_errors)                                    \
    X(many_requests_in_flight_each_get_their_reply)                       \
    X(extended_requests_reach_the_server)                                 \
    X(replies_fed_a_byte_at_a_time)                                       \
    X(replies_in_any_order_and_unknown_extensions)                        \
    X(a_reply_to_no_request_is_fatal_and_fails_the_rest)                  \
    X(hostile_framing_is_fatal)                                           \
    X(version_rules)                                                      \
    X(bad_replies_fail_only_their_request)                                \
    X(stale_ids_are_rejected)                                             \
    X(cancel_forget_and_abort)                                            \
    X(get_size_matrix)                                                    \
    X(get_with_short_reads)                                               \
    X(get_a_range_into_memory)                                            \
    X(put_size_matrix)                                                    \
    X(sparse_transfers_skip_zeros_and_keep_the_size)                      \
    X(copy_through_the_client_and_with_copy_data)                         \
    X(transfer_errors)                                                    \
    X(stop_and_backpressure)                                              \
    X(more_data_than_asked_is_a_protocol_error)                           \
    X(get_streams_data_as_it_arrives)                                     \
    X(a_streamed_reply_cut_short)

#define T_ENTRY(name) cmocka_unit_test_setup_teardown(name, setup, teardown),

int
main(void)
{
    const struct CMUnitTest tests[] = {TESTS(T_ENTRY)};
    return cmocka_run_group_tests_name("sftp_client", tests, NULL, NULL);
}
