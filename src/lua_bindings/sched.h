/*
 * The task scheduler: Lua coroutines ("tasks") resumed from the event loop.
 *
 * Every blocking-looking binding follows one shape (STYLE.md, "Yielding
 * bindings"): try; if it would wait, llsh_wait() registers a waiter, then
 * lua_yieldk() with a continuation; the continuation first calls
 * llsh_resumed() (which raises a pending cancellation or timeout) and then
 * re-checks.  Wakers only queue the task (llsh_wake); the scheduler resumes
 * it later from the loop, never from inside a core's event iteration.
 */
#ifndef LLSH_SCHED_H
#define LLSH_SCHED_H

#include <lua.h>

typedef struct llsh_task llsh_task;
typedef struct llsh_waiter llsh_waiter;

/*
 * A waiter is embedded in the object a task waits on (a timer, a channel,
 * another task).  `cancel` (may be NULL) is called when the waiting task is
 * interrupted before the waker fires: it must detach the waiter from the
 * object (unlink it, stop a timer) and must not call Lua.
 */
struct llsh_waiter {
    llsh_task *task;       /* NULL when nobody waits */
    void (*cancel)(llsh_waiter *w);
    void *data;            /* free for the object's use */
    int status;            /* set by llsh_wake */
    llsh_waiter *next;     /* free for the object's lists */
};

/* Opens the scheduler in L (idempotent); called by luaopen_luassh_core. */
void llsh_sched_open(lua_State *L);

/* The task running L, or NULL when L is not a luassh task. */
llsh_task *llsh_current(lua_State *L);

/*
 * Registers the current task as waiting on w.  Raises a Lua error if L is
 * not a task, cannot yield here (metamethod, require, __gc), already waits,
 * or has a pending cancellation or expired timeout.  Follow it with
 * `return lua_yieldk(L, 0, ctx, k)`.
 */
void llsh_wait(lua_State *L, llsh_waiter *w);

/* Queues the task waiting on w (if any) with a status; never calls Lua. */
void llsh_wake(llsh_waiter *w, int status);

/*
 * A condition several tasks may wait on at once (a connection closing, a
 * channel's exit status).  Each waiting task's waiter is a small userdata
 * that llsh_waitq_wait leaves on the task's stack, so that it lives across
 * the yield; the continuation drops it (lua_settop) before re-checking.
 */
typedef struct llsh_waitq {
    llsh_waiter *head;
} llsh_waitq;

/*
 * [-0, +1] Registers the current task as waiting on q (raising as
 * llsh_wait does) and pushes its waiter.  Follow it with lua_yieldk.
 */
void llsh_waitq_wait(lua_State *L, llsh_waitq *q);

/* Wakes and unlinks every waiter of q; never calls Lua. */
void llsh_waitq_wake_all(llsh_waitq *q, int status);

/*
 * First call of every continuation: raises the pending interrupt
 * (Cancelled / Timeout error object) if the task was interrupted.
 */
void llsh_resumed(lua_State *L);

/* [-0, +0] Raises the standard "must be called from a task" error. */
int llsh_require_task(lua_State *L);

/*
 * Spawns fn (at index idx, followed by nargs arguments on top of the stack,
 * which are consumed) as a new task; pushes the task object. [-nargs, +1]
 */
llsh_task *llsh_spawn(lua_State *L, int idx, int nargs);

/*
 * Resumes ready tasks, then runs one loop iteration (blocking for events
 * unless tasks are ready).  Returns 0 when nothing is left that could
 * ever wake a task (no active handles, no ready tasks).
 */
int llsh_loop_step(void);

/* Runs the loop until the task is done; 0 ok, nonzero if it failed. */
int llsh_run_until(lua_State *L, llsh_task *t);

/*
 * Pushes the outcome of a finished task: on success its results (returns
 * their count), on failure its error value (returns -1).
 */
int llsh_task_push_outcome(lua_State *L, llsh_task *t);

/* The task's traceback text after a failure, or NULL. */
const char *llsh_task_traceback(llsh_task *t);

int llsh_task_done(llsh_task *t);

/* Cancels every live task and runs the loop until they have finished. */
void llsh_sched_cancel_all(lua_State *L, llsh_task *except);

/* Closes the loop's remaining handles (at exit). */
void llsh_sched_close(lua_State *L);

#endif
