/*
 * The SFTP server core driven as l_sftp_server.c drives it with the
 * thread pool: feed on a worker thread, send and drop the output on the
 * loop thread with lsh_sftp_server_out_drop (which must never call the
 * backend), then feed no data to answer the requests the high-water mark
 * held back (lsh_sftp_server_pending).  draft-ietf-secsh-filexfer-02 §3.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "ssh/sftp/server.h"

#define S(s) ((lsh_sftp_str){(const uint8_t *)(s), sizeof(s) - 1})

typedef struct counting {
    lsh_sftp_backend posix;
    int calls;
    pthread_t last_thread;
} counting;

static int
count_realpath(void *ctx, const char *path, int expand, char **out)
{
    counting *c = ctx;
    c->calls++;
    c->last_thread = pthread_self();
    return c->posix.realpath(c->posix.ctx, path, expand, out);
}

typedef struct feed_job {
    lsh_sftp_server *s;
    const uint8_t *p;
    size_t n, used;
    int r;
} feed_job;

static void *
run_feed(void *arg)
{
    feed_job *j = arg;
    j->r = lsh_sftp_server_feed(j->s, j->p, j->n, &j->used);
    return NULL;
}

/* Feeds on a fresh thread, as a thread-pool job would. */
static int
feed_on_thread(lsh_sftp_server *s, const uint8_t *p, size_t n, size_t *used)
{
    pthread_t th;
    feed_job j = {s, p, n, 0, 0};
    assert_int_equal(pthread_create(&th, NULL, run_feed, &j), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    *used = j.used;
    return j.r;
}

static void
drop_held_back_requests_wait_for_an_empty_feed(void **state)
{
    char dir[] = "/tmp/lsh-sftp-async-XXXXXX";
    lsh_sftp_fs *fs;
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s;
    counting c;
    lsh_buf b;
    lsh_sftp_request q;
    size_t used, fed = 0;
    int answered = 0, rounds = 0;
    (void)state;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(lsh_sftp_fs_new(dir, 0, &fs), 0);
    memset(&c, 0, sizeof(c));
    lsh_sftp_fs_backend(fs, &c.posix);
    memset(&cfg, 0, sizeof(cfg));
    /* realpath alone (counted); the rest is unsupported. */
    cfg.backend.ctx = &c;
    cfg.backend.realpath = count_realpath;
    cfg.out_high = 1000;
    assert_int_equal(lsh_sftp_server_new(&cfg, &s), 0);

    lsh_buf_init(&b, 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    q.id = 3;
    assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    for (int i = 0; i < 100; i++) {
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_REALPATH;
        q.id = (uint32_t)i;
        q.path = S("/a/b");
        assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    }
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    while (answered < 100) {
        const uint8_t *o, *pkt;
        size_t on, len, k;
        int before;
        assert_true(++rounds < 1000);
        assert_int_equal(feed_on_thread(s, lsh_buf_ptr(&b) + fed,
                                        lsh_buf_len(&b) - fed, &used),
                         0);
        fed += used;
        assert_false(pthread_equal(c.last_thread, pthread_self()));
        /* The "loop thread": send (here: check) and drop the output. */
        lsh_sftp_server_out(s, &o, &on);
        assert_true(on > 0);
        for (size_t pos = 0; pos < on; pos += k) {
            lsh_sftp_response r;
            assert_int_equal(lsh_sftp_frame(o + pos, on - pos,
                                            LSH_SFTP_MAX_PACKET, &pkt, &len,
                                            &k),
                             1);
            assert_int_equal(lsh_sftp_response_decode(pkt, len, &r), 0);
            if (r.type == LSH_SFTP_NAME) {
                assert_int_equal(r.id, (uint32_t)answered);
                answered++;
            }
        }
        before = c.calls;
        lsh_sftp_server_out_drop(s, on);
        assert_int_equal(c.calls, before); /* no backend call here */
        lsh_sftp_server_out(s, &o, &on);
        assert_int_equal(on, 0);
        /* Held back: whole requests wait while input remains unfed or
         * the high-water mark stopped the core. */
        if (answered < 100) {
            assert_true(lsh_sftp_server_pending(s) || fed < lsh_buf_len(&b));
        }
    }
    assert_int_equal(fed, lsh_buf_len(&b));
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    assert_int_equal(c.calls, 100);
    assert_true(rounds > 2); /* the mark did hold requests back */
    lsh_buf_free(&b);
    lsh_sftp_server_free(s);
    lsh_sftp_fs_free(fs);
    assert_int_equal(rmdir(dir), 0);
}

static void
pending_counts_a_bad_length_and_not_a_partial_packet(void **state)
{
    lsh_sftp_fs *fs;
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s;
    size_t used;
    const uint8_t partial[] = {0, 0, 0, 9, 1, 0};
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1};
    (void)state;
    assert_int_equal(lsh_sftp_fs_new("/", 0, &fs), 0);
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(fs, &cfg.backend);
    assert_int_equal(lsh_sftp_server_new(&cfg, &s), 0);
    assert_int_equal(lsh_sftp_server_feed(s, partial, sizeof(partial), &used),
                     0);
    assert_int_equal(used, sizeof(partial));
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    lsh_sftp_server_free(s);
    assert_int_equal(lsh_sftp_server_new(&cfg, &s), 0);
    /* A bad length is an error at once; pending is 0 after an error. */
    assert_int_not_equal(lsh_sftp_server_feed(s, huge, sizeof(huge), &used),
                         0);
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    lsh_sftp_server_out_drop(s, 1000); /* more than there is: clamped */
    lsh_sftp_server_free(s);
    lsh_sftp_fs_free(fs);
}

/* put_input takes bytes without answering; a feed with no data answers
 * the whole requests; in_max lets several wait for one such feed. */
static void
put_input_gathers_requests_for_one_empty_feed(void **state)
{
    char dir[] = "/tmp/lsh-sftp-async-XXXXXX";
    lsh_sftp_fs *fs;
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s;
    counting c;
    lsh_buf b;
    lsh_sftp_request q;
    size_t used, first, on;
    const uint8_t *o;
    (void)state;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(lsh_sftp_fs_new(dir, 0, &fs), 0);
    memset(&c, 0, sizeof(c));
    lsh_sftp_fs_backend(fs, &c.posix);
    memset(&cfg, 0, sizeof(cfg));
    cfg.backend.ctx = &c;
    cfg.backend.realpath = count_realpath;
    cfg.in_max = 3 * LSH_SFTP_MAX_PACKET;
    assert_int_equal(lsh_sftp_server_new(&cfg, &s), 0);
    lsh_buf_init(&b, 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    q.id = 3;
    assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    first = lsh_buf_len(&b);
    for (int i = 0; i < 10; i++) {
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_REALPATH;
        q.id = (uint32_t)i;
        q.path = S("/x");
        assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    }
    /* Half of INIT: nothing whole yet. */
    assert_int_equal(lsh_sftp_server_put_input(s, lsh_buf_ptr(&b), first / 2,
                                               &used),
                     0);
    assert_int_equal(used, first / 2);
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    /* The rest: all ten wait, none answered, no backend call. */
    assert_int_equal(lsh_sftp_server_put_input(s, lsh_buf_ptr(&b) + first / 2,
                                               lsh_buf_len(&b) - first / 2,
                                               &used),
                     0);
    assert_int_equal(used, lsh_buf_len(&b) - first / 2);
    assert_int_not_equal(lsh_sftp_server_pending(s), 0);
    lsh_sftp_server_out(s, &o, &on);
    assert_int_equal(on, 0);
    assert_int_equal(c.calls, 0);
    /* One empty feed (on a "worker") answers all of them. */
    assert_int_equal(feed_on_thread(s, NULL, 0, &used), 0);
    assert_int_equal(c.calls, 10);
    assert_int_equal(lsh_sftp_server_pending(s), 0);
    lsh_sftp_server_out(s, &o, &on);
    assert_true(on > 0);
    lsh_buf_free(&b);
    lsh_sftp_server_free(s);
    lsh_sftp_fs_free(fs);
    assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drop_held_back_requests_wait_for_an_empty_feed),
        cmocka_unit_test(pending_counts_a_bad_length_and_not_a_partial_packet),
        cmocka_unit_test(put_input_gathers_requests_for_one_empty_feed),
    };
    return cmocka_run_group_tests_name("sftp_server (worker-thread drive)",
                                       tests, NULL, NULL);
}
