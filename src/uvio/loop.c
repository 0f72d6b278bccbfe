#include "uvio/loop.h"

#include <stdlib.h>

#include <uv.h>

#include "common/error.h"
#include "uvio/internal.h"
#include "uvio/work.h"

/* lsh_io_shutdown: how long jobs still on the thread pool are waited for. */
#define SHUTDOWN_JOBS_MS 2000u

static uv_loop_t *loop;
static uv_idle_t runner;
static lsh_io_cb runner_cb;
static void *runner_data;

struct lsh_io_timer {
    lsh_io_base base;
    uv_timer_t h;
    lsh_io_cb cb;
    void *data;
};

struct lsh_io_fdwatch {
    lsh_io_base base;
    uv_poll_t h;
    lsh_io_cb cb;
    void *data;
};

struct lsh_io_signal {
    lsh_io_base base;
    uv_signal_t h;
    lsh_io_cb cb;
    void *data;
};

static void
free_on_close(uv_handle_t *h)
{
    free(h->data);
}

static void
on_idle(uv_idle_t *h)
{
    (void)h;
    if (runner_cb != NULL) {
        runner_cb(runner_data);
    }
}

int
lsh_io_init(void)
{
    if (loop != NULL) {
        return 0;
    }
    /* Key generation and bcrypt run on libuv's pool; give name lookups
     * (which share it) room beside a few long jobs. */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    loop = uv_default_loop();
    if (loop == NULL) {
        return LSH_ENOMEM;
    }
    /* Active only while tasks are ready, so it keeps the loop from
     * blocking exactly then. */
    uv_idle_init(loop, &runner);
    return 0;
}

/*
 * libuv caches the loop time at the start of each iteration; a script
 * that blocked (os.execute, io.popen) leaves it stale, and a timer armed
 * from a stale time fires early.  Refresh it before every read and arm.
 */
uint64_t
lsh_io_now_ms(void)
{
    uv_update_time(loop);
    return uv_now(loop);
}

double
lsh_io_now(void)
{
    return (double)uv_hrtime() / 1e9;
}

void
lsh_io_update_time(void)
{
    uv_update_time(loop);
}

int
lsh_io_run_once(int nowait)
{
    return uv_run(loop, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h) && h != (uv_handle_t *)&runner) {
        lsh_io_base *b = h->data;
        uv_close(h, b != NULL ? b->close_cb : NULL);
    }
}

uv_loop_t *
lsh__io_loop(void)
{
    return loop;
}

int
lsh__io_err(int e)
{
    switch (e) {
    case 0: return 0;
    case UV_ECONNREFUSED: return LSH_ECONNREFUSED;
    case UV_EAI_NONAME:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_NODATA: return LSH_EHOSTNOTFOUND;
    case UV_ETIMEDOUT: return LSH_ETIMEOUT;
    case UV_ENOMEM: return LSH_ENOMEM;
    case UV_EOF:
    case UV_ECONNRESET:
    case UV_EPIPE: return LSH_ECLOSED;
    default: return LSH_ENETWORK;
    }
}

void
lsh_io_shutdown(void)
{
    if (loop == NULL) {
        return;
    }
    uv_walk(loop, close_walk, NULL);
    if (!uv_is_closing((uv_handle_t *)&runner)) {
        uv_close((uv_handle_t *)&runner, NULL);
    }
    /* Finish closing.  A job stuck on the pool (an SFTP read from a
     * stalled filesystem) must not hold the exit up forever: poll for at
     * most SHUTDOWN_JOBS_MS while jobs are out, then leave the loop as it
     * is (the process is ending; its threads go with it). */
    uint64_t deadline = uv_hrtime() + SHUTDOWN_JOBS_MS * 1000000u;
    while (lsh_io_work_in_flight() > 0 && uv_run(loop, UV_RUN_NOWAIT) != 0) {
        if (uv_hrtime() > deadline) {
            loop = NULL;
            return;
        }
        uv_sleep(2);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    loop = NULL;
}

void
lsh_io_set_runner(lsh_io_cb cb, void *data)
{
    runner_cb = cb;
    runner_data = data;
}

void
lsh_io_arm_runner(int armed)
{
    if (armed) {
        uv_idle_start(&runner, on_idle);
    } else {
        uv_idle_stop(&runner);
    }
}

/* Timers */

static void
on_timer(uv_timer_t *h)
{
    lsh_io_timer *t = h->data;
    t->cb(t->data);
}

lsh_io_timer *
lsh_io_timer_new(void)
{
    lsh_io_timer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    uv_timer_init(loop, &t->h);
    t->base.close_cb = free_on_close;
    t->h.data = t;
    return t;
}

void
lsh_io_timer_start(lsh_io_timer *t, uint64_t ms, lsh_io_cb cb, void *data)
{
    t->cb = cb;
    t->data = data;
    uv_update_time(loop);
    uv_timer_start(&t->h, on_timer, ms, 0);
}

void
lsh_io_timer_stop(lsh_io_timer *t)
{
    uv_timer_stop(&t->h);
}

void
lsh_io_timer_unref(lsh_io_timer *t)
{
    uv_unref((uv_handle_t *)&t->h);
}

void
lsh_io_timer_close(lsh_io_timer *t)
{
    if (t != NULL && !uv_is_closing((uv_handle_t *)&t->h)) {
        uv_close((uv_handle_t *)&t->h, free_on_close);
    }
}

/* File-descriptor readiness */

static void
on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    lsh_io_fdwatch *w = h->data;
    w->cb(w->data);
}

lsh_io_fdwatch *
lsh_io_fdwatch_new(int fd, lsh_io_cb cb, void *data)
{
    lsh_io_fdwatch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    if (uv_poll_init(loop, &w->h, fd) != 0) {
        free(w);
        return NULL;
    }
    w->base.close_cb = free_on_close;
    w->h.data = w;
    w->cb = cb;
    w->data = data;
    return w;
}

void
lsh_io_fdwatch_enable(lsh_io_fdwatch *w, int on)
{
    if (on) {
        uv_poll_start(&w->h, UV_READABLE | UV_DISCONNECT, on_poll);
    } else {
        uv_poll_stop(&w->h);
    }
}

void
lsh_io_fdwatch_close(lsh_io_fdwatch *w)
{
    if (w != NULL && !uv_is_closing((uv_handle_t *)&w->h)) {
        uv_close((uv_handle_t *)&w->h, free_on_close);
    }
}

/* Signals */

static void
on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    lsh_io_signal *s = h->data;
    s->cb(s->data);
}

lsh_io_signal *
lsh_io_signal_new(int signum, lsh_io_cb cb, void *data)
{
    lsh_io_signal *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    uv_signal_init(loop, &s->h);
    s->base.close_cb = free_on_close;
    s->h.data = s;
    s->cb = cb;
    s->data = data;
    uv_signal_start(&s->h, on_signal, signum);
    /* Watching a signal must not keep the process alive. */
    uv_unref((uv_handle_t *)&s->h);
    return s;
}

void
lsh_io_signal_close(lsh_io_signal *s)
{
    if (s != NULL && !uv_is_closing((uv_handle_t *)&s->h)) {
        uv_close((uv_handle_t *)&s->h, free_on_close);
    }
}

const char *
lsh_io_version(void)
{
    return uv_version_string();
}
