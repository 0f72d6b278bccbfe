/*
 * Thread-pool jobs a Lua call waits for: see l_job.h.
 */
#include "lua_bindings/l_job.h"

#include <string.h>

#include <lauxlib.h>

#include "lua_bindings/sched.h"
#include "uvio/work.h"

#define JOB_BOX_MT "luassh.Job"

struct llsh_job_box {
    llsh_waiter w;
    llsh_job *j;
};
typedef struct llsh_job_box job_box;

static void
job_work(void *data)
{
    llsh_job *j = data;
    j->ops->work(j);
}

/* On the loop thread, once per queued job. */
static void
job_done(void *data, int cancelled)
{
    llsh_job *j = data;
    j->io = NULL;
    j->cancelled = cancelled;
    j->finished = 1;
    if (j->abandoned) {
        j->ops->free(j);
        return;
    }
    llsh_wake(&j->box->w, 0);
}

/* Detaches a queued job from its box: the done callback will free it. */
static void
job_detach(job_box *b)
{
    llsh_job *j = b->j;
    b->j = NULL;
    j->box = NULL;
    j->abandoned = 1;
    if (j->io != NULL) {
        (void)lsh_io_work_cancel(j->io);
    }
}

/* The waiting task was interrupted (cancel, timeout). */
static void
job_cancel(llsh_waiter *w)
{
    job_box *b = w->data;
    if (b->j != NULL && b->j->queued && !b->j->finished) {
        job_detach(b);
    }
}

static int
box_gc(lua_State *L)
{
    job_box *b = luaL_checkudata(L, 1, JOB_BOX_MT);
    llsh_job *j = b->j;
    if (j == NULL) {
        return 0;
    }
    if (j->queued && !j->finished) {
        job_detach(b);
    } else {
        b->j = NULL;
        j->ops->free(j);
    }
    return 0;
}

void
llsh_job_box(lua_State *L, llsh_job *j)
{
    job_box *b;
    if (!lua_checkstack(L, 4)) {
        j->ops->free(j);
        luaL_error(L, "out of memory");
        return;
    }
    b = lua_newuserdatauv(L, sizeof(*b), 0);
    memset(b, 0, sizeof(*b));
    b->j = j;
    if (luaL_newmetatable(L, JOB_BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "private");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

static int
job_k(lua_State *L, int status, lua_KContext ctx)
{
    job_box *b = luaL_checkudata(L, (int)ctx, JOB_BOX_MT);
    llsh_job *j;
    int n;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    j = b->j;
    if (j == NULL || !j->finished) {
        return luaL_error(L, "%s resumed before it finished",
                          j != NULL ? j->ops->what : "job");
    }
    n = j->ops->push(L, j);
    b->j = NULL;
    j->ops->free(j);
    return n < 0 ? lua_error(L) : 1;
}

int
llsh_job_run(lua_State *L, int use_pool)
{
    int idx = lua_gettop(L);
    job_box *b = luaL_checkudata(L, idx, JOB_BOX_MT);
    llsh_job *j = b->j;

    if (use_pool && llsh_current(L) != NULL && lua_isyieldable(L)) {
        b->w.cancel = job_cancel;
        b->w.data = b;
        llsh_wait(L, &b->w); /* may raise: the box still owns the job */
        j->box = b;
        if (lsh_io_work(job_work, job_done, j, &j->io) == 0) {
            j->queued = 1;
        } else {
            /* No thread pool: do it here, then let the wait end. */
            j->ops->work(j);
            j->finished = 1;
            llsh_wake(&b->w, 0);
        }
        return lua_yieldk(L, 0, (lua_KContext)idx, job_k);
    }
    j->ops->work(j);
    j->finished = 1;
    return job_k(L, LUA_OK, (lua_KContext)idx);
}
