/*
 * The event loop as the rest of luassh sees it: timers, a "run soon" hook,
 * file-descriptor readiness and signals.  This is the only layer that
 * includes uv.h (DESIGN.md, "Layers").
 *
 * Ownership: each handle object below is owned by its creator and is freed
 * only by its *_close function, which releases the memory from libuv's
 * close callback.  After *_close the pointer must not be used.
 */
#ifndef LSH_UVIO_LOOP_H
#define LSH_UVIO_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef void (*lsh_io_cb)(void *data);

/* Creates the process-wide loop on first use; 0 or a negative LSH_E*. */
int lsh_io_init(void);

/* Monotonic clock in milliseconds and in seconds (loop time, cached). */
uint64_t lsh_io_now_ms(void);
double lsh_io_now(void);
/* Updates the cached loop time. */
void lsh_io_update_time(void);

/*
 * Runs one loop iteration, blocking for events unless `nowait`.
 * Returns nonzero while there are active handles.
 */
int lsh_io_run_once(int nowait);

/*
 * Closes every remaining handle and runs the loop until their close
 * callbacks have run.  Used at exit.
 */
void lsh_io_shutdown(void);

/* The "run soon" hook: while armed, the loop does not block and calls cb
 * once per iteration. */
void lsh_io_set_runner(lsh_io_cb cb, void *data);
void lsh_io_arm_runner(int armed);

/* One-shot timers. */
typedef struct lsh_io_timer lsh_io_timer;
lsh_io_timer *lsh_io_timer_new(void);
void lsh_io_timer_start(lsh_io_timer *t, uint64_t ms, lsh_io_cb cb,
                        void *data);
void lsh_io_timer_stop(lsh_io_timer *t);
void lsh_io_timer_close(lsh_io_timer *t);
/* The timer no longer keeps the loop running (uv_unref): for work that
 * only matters while something else goes on. */
void lsh_io_timer_unref(lsh_io_timer *t);

/* Readable notifications for a file descriptor (the REPL's stdin). */
typedef struct lsh_io_fdwatch lsh_io_fdwatch;
lsh_io_fdwatch *lsh_io_fdwatch_new(int fd, lsh_io_cb cb, void *data);
void lsh_io_fdwatch_enable(lsh_io_fdwatch *w, int on);
void lsh_io_fdwatch_close(lsh_io_fdwatch *w);

/* Signal delivery on the loop. */
typedef struct lsh_io_signal lsh_io_signal;
lsh_io_signal *lsh_io_signal_new(int signum, lsh_io_cb cb, void *data);
void lsh_io_signal_close(lsh_io_signal *s);

/* "1.44.2" */
const char *lsh_io_version(void);

#endif
