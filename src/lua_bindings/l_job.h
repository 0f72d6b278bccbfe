/*
 * Thread-pool jobs a Lua call waits for (password hashing, RSA key
 * generation, key file (de)cryption): the Lua side of src/uvio/work.h.
 *
 * A module embeds llsh_job as the first member of its job struct, fills
 * ops, and calls llsh_job_box to push a box (a userdata that owns the job)
 * and llsh_job_run to run it: on libuv's thread pool when the caller is a
 * task that can yield (the task waits; other tasks go on), else inline.
 * When the job is done, ops->push leaves its result on the stack
 * (returns 1) or an error object (returns -1, raised after the job is
 * freed, so its secrets are wiped first).
 *
 * Ownership: the box owns the job until it is queued; a waiting task that
 * is cancelled or a box collected while its job runs hands the job to the
 * done callback, which frees it (ops->free) once the worker is finished.
 */
#ifndef LSH_LUA_BINDINGS_L_JOB_H
#define LSH_LUA_BINDINGS_L_JOB_H

#include <lua.h>

typedef struct llsh_job llsh_job;

typedef struct llsh_job_ops {
    const char *what; /* for messages: "password job", "key job" */
    /* On a worker thread (or inline): touches only the job. */
    void (*work)(llsh_job *j);
    /* On the loop thread: pushes the result (1) or an error object (-1).
     * j->cancelled says the pool dropped the job before it ran. */
    int (*push)(lua_State *L, llsh_job *j);
    void (*free)(llsh_job *j);
} llsh_job_ops;

struct llsh_job {
    const llsh_job_ops *ops;
    int queued;    /* handed to the thread pool */
    int finished;  /* the outputs are ready */
    int abandoned; /* nobody waits: the done callback frees the job */
    int cancelled; /* the pool dropped it before work ran */
    struct llsh_job_box *box;
    struct lsh_io_job *io; /* while queued and not finished */
};

/* [-0, +1] Pushes a box owning j (calloc'd by the caller, ops set).  If
 * the box cannot be made, j is freed and an error raised. */
void llsh_job_box(lua_State *L, llsh_job *j);

/* Runs the job of the box on top of the stack (see above); use_pool 0
 * runs it inline always.  Returns what ops->push pushed, or raises. */
int llsh_job_run(lua_State *L, int use_pool);

#endif
