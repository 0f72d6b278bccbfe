/*
 * Thread-pool jobs: run a CPU-heavy function (RSA key generation, bcrypt
 * key derivation) on libuv's worker threads so that the event loop keeps
 * serving while it runs (DESIGN.md, "Layers": src/uvio holds the thread
 * pool).
 *
 * `work(data)` runs on a worker thread: it must not touch Lua, the loop,
 * or anything else the loop thread uses without a lock; it may use the
 * sans-I/O core on objects it alone holds (keys are reference counted
 * atomically, so a job may hold its own reference).  `done(data,
 * cancelled)` then runs on the loop thread, from the loop, once per
 * accepted job; `cancelled` is 1 when the job was cancelled before it
 * started (work did not run).  done may wake tasks (llsh_wake) and free
 * data.
 *
 * Ownership: the request itself is owned by this layer and freed after
 * done returns; data stays the caller's.  A pending job keeps the loop
 * alive; at exit lsh_io_shutdown() waits for running jobs and runs their
 * done callbacks.
 */
#ifndef LSH_UVIO_WORK_H
#define LSH_UVIO_WORK_H

typedef struct lsh_io_job lsh_io_job;

/*
 * Queues a job.  Returns 0 (done will be called exactly once, later,
 * never from inside this call) or a negative LSH_E* code (LSH_ENOMEM,
 * LSH_EINVAL when the loop is not initialised), in which case neither
 * callback is ever called.  When out is not NULL, *out identifies the
 * job for lsh_io_work_cancel() until done is called.
 */
int lsh_io_work(void (*work)(void *data),
                void (*done)(void *data, int cancelled), void *data,
                lsh_io_job **out);

/*
 * Tries to cancel a job that has not started: 0 if it will not run (done
 * is still called, with cancelled = 1), LSH_EAGAIN if it is already
 * running or finished (done is called as usual).
 */
int lsh_io_work_cancel(lsh_io_job *job);

/*
 * Jobs accepted whose done callback has not run yet (running, queued, or
 * finished and waiting for the loop).  A job may block for ever (an SFTP
 * request on a stalled filesystem): lsh_io_shutdown() would then wait for
 * ever; this lets it decide not to.
 */
unsigned long lsh_io_work_in_flight(void);

#endif
