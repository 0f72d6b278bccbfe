/*
 * Pacing an SFTP server's output (src/ssh/sftp/server.h, lsh_sftp_pace)
 * and the two channel calls it stands on (lsh_chan_peer_window,
 * lsh_chan_notify_adjust; RFC 4254 §5.2).
 *
 * The pacer is pure arithmetic, so a simulated peer drives it: it grants
 * back what it received one round trip after it was sent, consuming at
 * most `rate` bytes per second, with a 2 MiB window as OpenSSH's client
 * gives a session.  On loopback (tiny round trip) what is in flight stays
 * at the minimum cap however large the window; on a long path it grows
 * until the window is the limit, so slow links keep their throughput.
 */
#include "testutil.h"

#include "pair.h"
#include "ssh/connection/channel.h"
#include "ssh/sftp/server.h"

#define WINDOW ((uint32_t)2 * 1024 * 1024)

/* A peer: bytes in flight stamped with when they are granted back. */
typedef struct peer {
    uint32_t window;
    double rtt, rate;
    double busy_until;  /* when its consumer is free again */
    uint32_t th, owed;  /* it adjusts once `owed` consumed bytes reach th */
    struct {
        double at;
        uint32_t n;
    } q[4096];
    size_t head, n;
} peer;

static void
peer_recv(peer *pe, uint32_t n, double now)
{
    double start = now + pe->rtt / 2;
    if (start < pe->busy_until) {
        start = pe->busy_until;
    }
    pe->busy_until = start + (double)n / pe->rate;
    assert_true(pe->n < sizeof(pe->q) / sizeof(pe->q[0]));
    pe->q[(pe->head + pe->n) % 4096].at = pe->busy_until + pe->rtt / 2;
    pe->q[(pe->head + pe->n) % 4096].n = n;
    pe->n++;
    assert_true(n <= pe->window);
    pe->window -= n;
}

/* Grants back everything due by now (its WINDOW_ADJUSTs). */
static void
peer_adjust(peer *pe, double now)
{
    while (pe->n > 0 && pe->q[pe->head].at <= now) {
        pe->owed += pe->q[pe->head].n;
        pe->head = (pe->head + 1) % 4096;
        pe->n--;
        if (pe->owed >= pe->th) {
            pe->window += pe->owed;
            pe->owed = 0;
        }
    }
}

/*
 * Sends `total` bytes through the pacer to a peer with this round trip,
 * consuming rate and adjust threshold, in writes of at most 32 KiB (the
 * peer's packet).  Returns the most in flight once the first 8 MiB have
 * gone (before the first adjust the window is the only limit); *secs the
 * simulated time it took.  Fails if the transfer stalls.
 */
static uint64_t
run(double rtt, double rate, uint32_t th, uint64_t total, double *secs)
{
    lsh_sftp_pace p;
    peer pe;
    double now = 0;
    uint64_t done = 0, most = 0;
    memset(&pe, 0, sizeof(pe));
    pe.window = WINDOW;
    pe.rtt = rtt;
    pe.rate = rate;
    pe.th = th;
    lsh_sftp_pace_init(&p);
    while (done < total) {
        size_t room;
        peer_adjust(&pe, now);
        room = lsh_sftp_pace_room(&p, pe.window, now);
        assert_true(room <= pe.window);
        while (room > 0 && done < total) {
            uint32_t n = room < 32768 ? (uint32_t)room : 32768;
            if (n > total - done) {
                n = (uint32_t)(total - done);
            }
            peer_recv(&pe, n, now);
            lsh_sftp_pace_sent(&p, n, now);
            done += n;
            room -= n;
            if (done > (8u << 20) && WINDOW - pe.window > most) {
                most = WINDOW - pe.window;
            }
        }
        /* Wait for the peer, as the server does (WRITABLE): nothing in
         * flight that could bring an adjust would be a stall. */
        assert_true(pe.n > 0 || done == total);
        if (pe.n > 0 && pe.q[pe.head].at > now) {
            now = pe.q[pe.head].at;
        }
    }
    *secs = now;
    return most;
}

static void
pace_starts_at_the_minimum_whatever_the_window(void **state)
{
    lsh_sftp_pace p;
    (void)state;
    lsh_sftp_pace_init(&p);
    /* Before the peer's first adjust: the window is the only limit. */
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW, 1.0), WINDOW);
    lsh_sftp_pace_sent(&p, 65536, 1.0);
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW - 65536, 1.0),
                     WINDOW - 65536);
    /* An adjust of 64 KiB after 1 ms: the cap is the minimum now (twice
     * 64 KiB is less, and so is twice 64 MB/s times 1 ms). */
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW, 1.001),
                     LSH_SFTP_PACE_MIN);
    assert_int_equal(lsh_sftp_pace_cap(&p), LSH_SFTP_PACE_MIN);
    lsh_sftp_pace_sent(&p, LSH_SFTP_PACE_MIN - 1000, 1.001);
    /* 1.5 MiB of window left, but only 1000 bytes of the cap. */
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW - (LSH_SFTP_PACE_MIN -
                                                      1000), 1.001), 1000);
    lsh_sftp_pace_sent(&p, 1000, 1.001);
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW - LSH_SFTP_PACE_MIN,
                                        1.001), 0);
    /* A peer whose adjusts are large is never held below twice them. */
    lsh_sftp_pace_init(&p);
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW, 1.0), WINDOW);
    lsh_sftp_pace_sent(&p, WINDOW, 1.0);
    assert_int_equal(lsh_sftp_pace_room(&p, WINDOW / 2, 1.1), WINDOW / 2);
    assert_int_equal(lsh_sftp_pace_cap(&p), WINDOW);
    /* A window smaller than the cap is the limit. */
    lsh_sftp_pace_init(&p);
    assert_int_equal(lsh_sftp_pace_room(&p, 65536, 1.0), 65536);
    lsh_sftp_pace_sent(&p, 65536, 1.0);
    assert_int_equal(lsh_sftp_pace_room(&p, 0, 1.0), 0);
    /* Granted back: room again, and a round trip measured. */
    assert_int_equal(lsh_sftp_pace_room(&p, 65536, 1.001), 65536);
    assert_true(p.rtt > 0.0009 && p.rtt < 0.0011);
    assert_int_equal(p.adj_min, 65536);
}

static void
loopback_keeps_little_in_flight(void **state)
{
    double secs;
    uint64_t most;
    (void)state;
    /* 50 us round trip, a client taking 400 MB/s and adjusting every
     * 96 KiB (as OpenSSH's does): 256 MiB. */
    most = run(50e-6, 400e6, 98304, (uint64_t)256 << 20, &secs);
    assert_true(most <= LSH_SFTP_PACE_MIN + 32768);
    /* ... at the client's own speed all the same (within 10%). */
    assert_true(secs < 1.1 * (double)((uint64_t)256 << 20) / 400e6);
}

static void
long_path_grows_to_the_window(void **state)
{
    double secs;
    uint64_t most;
    (void)state;
    /* 50 ms round trip, a fast client: the window is what limits, so
     * 64 MiB take about 32 round trips (2 MiB each), not 128 (at the
     * minimum cap). */
    most = run(0.05, 1e9, 98304, (uint64_t)64 << 20, &secs);
    assert_true(most > WINDOW - 65536);
    assert_true(secs < 45 * 0.05);
}

static void
peer_adjusting_at_half_its_window_never_stalls(void **state)
{
    double secs;
    uint64_t most;
    (void)state;
    /* As luassh's own client: nothing comes back before 1 MiB was
     * consumed, so the pacer must let at least that much out. */
    most = run(50e-6, 400e6, WINDOW / 2, (uint64_t)64 << 20, &secs);
    assert_true(most >= WINDOW / 2);
    assert_true(secs < 1.5 * (double)((uint64_t)64 << 20) / 400e6);
}

/* The channel calls (RFC 4254 §5.2) on two cores back to back. */

static lsh_key *host_key;

typedef struct cw {
    pair p;
    int writable[2];
    uint32_t sch; /* the server's number for the channel */
    int opened;
} cw;

static void
cw_event(pair *p, int side, const lsh_event *ev)
{
    cw *w = p->user;
    lsh_conn *self = side == 0 ? p->c : p->s;
    if (ev->type == LSH_EV_CHAN_OPEN) {
        w->sch = ev->chan;
        w->opened = 1;
        assert_int_equal(lsh_chan_accept(self, ev->chan, WINDOW, 32768), 0);
    } else if (ev->type == LSH_EV_CHAN_DATA) {
        /* The client consumes everything: its adjusts follow. */
        assert_int_equal(lsh_chan_consumed(self, ev->chan, ev->len), 0);
    } else if (ev->type == LSH_EV_CHAN_WRITABLE) {
        w->writable[side]++;
    }
}

static void
notify_adjust_hears_the_next_window_adjust(void **state)
{
    pair_opts o = {.host_key = host_key};
    static uint8_t buf[1 << 20];
    uint32_t ch;
    cw w;
    (void)state;
    memset(&w, 0, sizeof(w));
    assert_int_equal(pair_init(&w.p, &o), 0);
    w.p.user = &w;
    w.p.on_event = cw_event;
    pair_pump(&w.p, 65536);
    lsh_conn_set_authenticated(w.p.c);
    lsh_conn_set_authenticated(w.p.s);
    /* The client's window for the server's data: 2 MiB. */
    assert_int_equal(lsh_chan_open(w.p.c, "session", NULL, 0, WINDOW, 32768,
                                   &ch), 0);
    pair_pump(&w.p, 65536);
    assert_true(w.opened);
    assert_int_equal(lsh_chan_peer_window(w.p.s, w.sch), WINDOW);

    /* 1 MiB of the window used: the write was not cut short, so no
     * WRITABLE is owed... */
    assert_int_equal(lsh_chan_write(w.p.s, w.sch, 0, buf, sizeof(buf)),
                     (int)sizeof(buf));
    assert_int_equal(lsh_chan_peer_window(w.p.s, w.sch),
                     WINDOW - sizeof(buf));
    pair_pump(&w.p, 65536);
    assert_int_equal(w.writable[1], 0);
    assert_int_equal(lsh_chan_peer_window(w.p.s, w.sch), WINDOW);

    /* ... unless the sender, holding back on its own, asks for it. */
    assert_int_equal(lsh_chan_write(w.p.s, w.sch, 0, buf, sizeof(buf)),
                     (int)sizeof(buf));
    assert_int_equal(lsh_chan_notify_adjust(w.p.s, w.sch), 0);
    pair_pump(&w.p, 65536);
    assert_int_equal(w.writable[1], 1);
    assert_int_equal(lsh_chan_peer_window(w.p.s, w.sch), WINDOW);

    /* Unknown channels. */
    assert_int_equal(lsh_chan_peer_window(w.p.s, 999), 0);
    assert_int_equal(lsh_chan_notify_adjust(w.p.s, 999), LSH_ENOTFOUND);
    assert_false(w.p.closed[0] || w.p.closed[1]);
    pair_free(&w.p);
}

static int
setup(void **state)
{
    (void)state;
    return lsh_key_generate(LSH_KEY_ED25519, 0, &host_key);
}

static int
teardown(void **state)
{
    (void)state;
    lsh_key_free(host_key);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pace_starts_at_the_minimum_whatever_the_window),
        cmocka_unit_test(loopback_keeps_little_in_flight),
        cmocka_unit_test(long_path_grows_to_the_window),
        cmocka_unit_test(peer_adjusting_at_half_its_window_never_stalls),
        cmocka_unit_test(notify_adjust_hears_the_next_window_adjust),
    };
    return cmocka_run_group_tests_name("sftp_pace", tests, setup, teardown);
}
